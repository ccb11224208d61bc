//! Connection and network-client tests against a real broker (Apache Kafka).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::{Connection, ConnectionSettings};
use super::*;
use crate::config::AdminConfig;
use crate::protocol::messages::{MetadataRequest, MetadataResponse};

use crate::test_support::broker::TestBroker;

fn settings(request_timeout: Duration) -> ConnectionSettings {
    ConnectionSettings::for_tests("ferrokafka-test", request_timeout, Duration::from_secs(5))
}

fn metadata_for(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(
            TopicName(StrBytes::from_string(topic.to_string())),
        ))]))
        .with_allow_auto_topic_creation(false)
}

fn only_topic(resp: &MetadataResponse) -> String {
    assert_eq!(resp.topics.len(), 1, "{resp:?}");
    resp.topics[0]
        .name
        .as_ref()
        .map(|n| n.0.to_string())
        .unwrap_or_default()
}

async fn connect(b: &TestBroker, timeout: Duration) -> Arc<Connection> {
    Arc::new(
        Connection::connect(&b.bootstrap(), -1, settings(timeout))
            .await
            .expect("connect to test broker"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_requests_on_one_connection() {
    let b = TestBroker::shared();
    let conn = connect(b, Duration::from_secs(30)).await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            if i % 10 == 9 {
                let r = conn.send(super::connection::api_versions_request()).await?;
                assert_eq!(r.error_code, 0);
                assert!(r.api_keys.iter().any(|k| k.api_key == 0), "lists Produce");
                Ok::<_, Error>(None)
            } else {
                let topic = format!("conc-{}", i % 37);
                let r = conn.send(metadata_for(&topic)).await?;
                Ok(Some((topic, only_topic(&r))))
            }
        }));
    }
    let mut metadata_answers = 0;
    for t in tasks {
        if let Some((asked, got)) = t.await.expect("task").expect("request") {
            assert_eq!(asked, got, "response routed to the wrong request");
            metadata_answers += 1;
        }
    }
    assert_eq!(metadata_answers, 900);
    assert!(!conn.is_poisoned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_desynchronise_the_connection() {
    let b = TestBroker::shared();
    let conn = connect(b, Duration::from_secs(30)).await;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut dropped = 0;
    for i in 0..100 {
        let fut = conn.send(metadata_for(&format!("drop-{i}")));
        // Drop at a random point: before the first poll, right after it, or mid-flight.
        match rng.u8(0..3) {
            0 => drop(fut),
            1 => {
                let _ = tokio::time::timeout(Duration::ZERO, fut).await;
            }
            _ => {
                let wait = Duration::from_micros(rng.u64(0..1500));
                let _ = tokio::time::timeout(wait, fut).await;
            }
        }
        dropped += 1;
    }
    assert_eq!(dropped, 100);
    // The same connection still answers every request with its own response.
    for i in 0..100 {
        let topic = format!("after-drop-{}", i % 13);
        let r = conn
            .send(metadata_for(&topic))
            .await
            .expect("request after drops");
        assert_eq!(only_topic(&r), topic);
    }
    assert!(!conn.is_poisoned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_mid_request_fails_every_waiter_fast() {
    let mut b = TestBroker::start();
    let timeout = Duration::from_secs(10);
    let conn = connect(&b, timeout).await;
    b.pause();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            conn.send(metadata_for(&format!("kill-{i}"))).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.kill();
    for t in tasks {
        let err = t.await.expect("task").expect_err("broker is dead");
        assert!(
            matches!(err, Error::Disconnected { .. }),
            "unexpected error: {err}"
        );
    }
    assert!(started.elapsed() < timeout, "took {:?}", started.elapsed());
    assert!(conn.is_poisoned());
    let err = conn
        .send(super::connection::api_versions_request())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Disconnected { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_broker_times_out_within_request_timeout_then_reconnects() {
    let b = TestBroker::start();
    let timeout = Duration::from_millis(800);
    let mut cfg = AdminConfig::builder().bootstrap_servers(b.bootstrap());
    cfg = cfg.set("request.timeout.ms", "800");
    let cfg = cfg.build().expect("config");
    let net = Arc::new(NetworkClient::new(&cfg.common));
    net.send(Target::Any, super::connection::api_versions_request())
        .await
        .expect("healthy broker answers");
    b.pause();
    let started = Instant::now();
    let mut waiters = tokio::task::JoinSet::new();
    for i in 0..20 {
        let net = net.clone();
        waiters.spawn(async move {
            net.send(Target::Any, metadata_for(&format!("pause-{i}")))
                .await
        });
    }
    let results = waiters.join_all().await;
    let elapsed = started.elapsed();
    assert_eq!(results.len(), 20);
    for r in results {
        let err = r.expect_err("paused broker cannot answer");
        assert!(
            matches!(
                err,
                Error::RequestTimeout { .. } | Error::Disconnected { .. }
            ),
            "{err}"
        );
    }
    assert!(
        elapsed < timeout + Duration::from_millis(500),
        "waiters took {elapsed:?}"
    );
    b.resume();
    // The poisoned connection is replaced on next use.
    let r = net
        .send(Target::Any, metadata_for("after-pause"))
        .await
        .expect("reconnects after resume");
    assert_eq!(only_topic(&r), "after-pause");
}

#[tokio::test]
async fn bootstrap_tries_each_server_in_turn() {
    let b = TestBroker::shared();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let cfg = AdminConfig::builder()
        .bootstrap_servers(format!("{dead},{}", b.bootstrap()))
        .build()
        .expect("config");
    let net = NetworkClient::new(&cfg.common);
    let cluster = net
        .refresh()
        .await
        .expect("second bootstrap server answers");
    assert!(!cluster.brokers.is_empty());
    // Concurrent refreshes share one request and agree.
    net.request_update();
    let (a, c) = tokio::join!(net.refresh(), net.refresh());
    assert_eq!(a.expect("a").brokers, c.expect("c").brokers);
}

#[tokio::test]
async fn metadata_refreshes_on_age_and_on_demand() {
    let b = TestBroker::shared();
    let cfg = AdminConfig::builder()
        .bootstrap_servers(b.bootstrap())
        .set("metadata.max.age.ms", "200")
        .build()
        .expect("config");
    let net = NetworkClient::new(&cfg.common);
    net.add_topics(&["meta-age"]);
    let first = net.metadata().await.expect("first fetch");
    assert!(
        first.topic("meta-age").is_some(),
        "asked-about topic is in the snapshot"
    );
    let again = net.metadata().await.expect("fresh snapshot reused");
    assert!(Arc::ptr_eq(&first, &again), "no refresh while fresh");
    net.request_update();
    let on_demand = net.metadata().await.expect("refresh on demand");
    assert!(!Arc::ptr_eq(&first, &on_demand));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let aged = net.metadata().await.expect("refresh on age");
    assert!(!Arc::ptr_eq(&on_demand, &aged));
    assert!(aged.fetched_at > on_demand.fetched_at);
}

#[tokio::test]
async fn api_versions_max_caps_the_version_used() {
    let b = TestBroker::shared();
    let mut s = settings(Duration::from_secs(10));
    let plain = Connection::connect(&b.bootstrap(), -1, s.clone())
        .await
        .expect("connect");
    let (_, broker_max) = plain.versions().range(3).expect("broker has Metadata");
    assert_eq!(
        plain.version_for::<MetadataRequest>().unwrap(),
        broker_max.min(13)
    );
    s.version_caps.insert(3, 4);
    let capped = Connection::connect(&b.bootstrap(), -1, s)
        .await
        .expect("connect");
    assert_eq!(capped.version_for::<MetadataRequest>().unwrap(), 4);
    let r = capped.send(metadata_for("capped")).await.expect("v4 works");
    assert_eq!(only_topic(&r), "capped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_idle_past_max_idle_are_replaced() {
    let b = TestBroker::shared();
    let cfg = AdminConfig::builder()
        .bootstrap_servers(b.bootstrap())
        .set("connections.max.idle.ms", "400")
        .build()
        .expect("config");
    let net = NetworkClient::new(&cfg.common);
    net.metadata().await.expect("metadata");
    let node = net
        .cluster()
        .brokers
        .keys()
        .next()
        .copied()
        .expect("a broker");
    let first = net.connection(Target::Node(node)).await.expect("connect");
    let again = net.connection(Target::Node(node)).await.expect("reuse");
    assert!(Arc::ptr_eq(&first, &again), "busy or fresh: reused");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = net.connection(Target::Node(node)).await.expect("reconnect");
    assert!(
        !Arc::ptr_eq(&first, &later),
        "idle past connections.max.idle.ms: a new connection"
    );
    drop(first);
    drop(again);
    let r = later.send(metadata_for("idle-check")).await.expect("works");
    assert_eq!(only_topic(&r), "idle-check");
}
