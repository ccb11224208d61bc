//! Connection faults from the MockCluster: responses cut mid-frame, connections dropped and
//! answers that never come, with five requests in flight on one connection. Every caller
//! must get an error (or a retry must succeed) well within request.timeout.ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{Connection, ConnectionSettings};
use crate::config::AdminConfig;
use crate::error::Error;
use crate::mock::{Fault, FaultAction, MockCluster};
use crate::protocol::messages::MetadataRequest;

const METADATA: i16 = 3;
const TIMEOUT: Duration = Duration::from_millis(1500);

fn settings() -> ConnectionSettings {
    ConnectionSettings::for_tests("fault-test", TIMEOUT, Duration::from_secs(5))
}

async fn five_in_flight(action: FaultAction) -> Vec<(Result<(), Error>, Duration)> {
    let c = MockCluster::builder().build().await.expect("mock");
    c.create_topic("t", 1);
    let conn = Arc::new(
        Connection::connect(&c.bootstrap_servers(), -1, settings())
            .await
            .expect("connect"),
    );
    // The mock answers a connection's requests in order: the fault hits the first, the
    // other four are queued behind it on the same socket.
    c.inject(Fault::new(METADATA, action));
    let start = Instant::now();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let r = conn.send(MetadataRequest::default()).await.map(|_| ());
                (r, start.elapsed())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    assert!(conn.is_poisoned(), "a failed connection is not reused");
    // A fresh connection to the same broker works.
    let again = Connection::connect(&c.bootstrap_servers(), -1, settings())
        .await
        .expect("reconnect");
    again
        .send(MetadataRequest::default())
        .await
        .expect("metadata on a new connection");
    out
}

fn assert_all_failed_fast(results: &[(Result<(), Error>, Duration)], within: Duration) {
    assert_eq!(results.len(), 5);
    for (r, took) in results {
        assert!(r.is_err(), "every caller gets an error: {results:?}");
        assert!(
            *took <= within,
            "answered after {took:?}, later than {within:?}: {results:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_cut_mid_frame_fails_all_five_at_once() {
    let results = five_in_flight(FaultAction::CutResponse).await;
    // The cut closes the socket: no need to wait for the request timeout.
    assert_all_failed_fast(&results, TIMEOUT / 2);
    assert!(
        results
            .iter()
            .all(|(r, _)| matches!(r, Err(Error::Disconnected { .. }))),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_after_apply_fails_all_five() {
    let results = five_in_flight(FaultAction::DropAfter).await;
    assert_all_failed_fast(&results, TIMEOUT / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_before_apply_fails_all_five() {
    let results = five_in_flight(FaultAction::DropBefore).await;
    assert_all_failed_fast(&results, TIMEOUT / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_broker_times_out_all_five_within_request_timeout() {
    // The first answer comes after 10 s: every waiter must give up at request.timeout.ms.
    let results = five_in_flight(FaultAction::Delay(Duration::from_secs(10))).await;
    assert_all_failed_fast(&results, TIMEOUT + Duration::from_millis(500));
    assert!(
        results
            .iter()
            .all(|(_, took)| *took >= TIMEOUT - Duration::from_millis(50)),
        "nobody fails before the timeout: {results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_requests_succeed_after_cuts_and_drops() {
    let c = MockCluster::builder()
        .brokers(2)
        .build()
        .await
        .expect("mock");
    c.create_topic("a", 3);
    c.create_topic("b", 1);
    let admin = crate::AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("request.timeout.ms", "1500")
            .set("retry.backoff.ms", "10")
            .build()
            .expect("config"),
    );
    c.inject(Fault::new(METADATA, FaultAction::CutResponse));
    c.inject(Fault::new(METADATA, FaultAction::DropAfter));
    c.inject(Fault::new(METADATA, FaultAction::DropBefore));
    let start = Instant::now();
    let topics = admin
        .list_topics()
        .await
        .expect("list topics after retries");
    assert_eq!(
        topics.into_keys().collect::<Vec<_>>(),
        ["a".to_string(), "b".to_string()]
    );
    assert!(
        start.elapsed() < TIMEOUT,
        "retries do not wait for timeouts"
    );
}
