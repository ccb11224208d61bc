//! Incremental fetch sessions (KIP-227) against Apache Kafka.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, produce_values};
use ferrokafka::consumer::TopicPartition;

/// 1,000 partitions read with a session: every record exactly once, and once the session is
/// open the requests name only the partitions that changed (the broker remembers the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_partitions_read_through_incremental_fetches() {
    const PARTITIONS: i32 = 1000;
    const RECORDS: usize = 5000;
    let b = TestBroker::shared();
    let topic = "sessions-1000";
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    produce_values(
        &b.bootstrap(),
        topic,
        PARTITIONS,
        (0..RECORDS).map(|i| i.to_string()),
        "none",
    )
    .await;
    let mut c = consumer(
        &b.bootstrap(),
        &[("fetch.max.wait.ms", "100"), ("max.poll.records", "2000")],
    );
    c.assign((0..PARTITIONS).map(|p| TopicPartition::new(topic, p)))
        .expect("assign");
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    while seen.len() < RECORDS {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck at {} records",
            seen.len()
        );
        for r in c.poll(Duration::from_millis(200)).await.expect("poll") {
            let v: usize = std::str::from_utf8(r.value.as_deref().expect("value"))
                .expect("utf8")
                .parse()
                .expect("number");
            assert_eq!(v as i32 % PARTITIONS, r.partition, "value {v}");
            assert!(seen.insert(v), "value {v} read twice");
        }
    }
    // Caught up: idle rounds of the session, each naming no partition at all.
    let idle = Instant::now();
    while c.fetch_stats().requests < 6 {
        assert!(
            idle.elapsed() < Duration::from_secs(20),
            "{:?}",
            c.fetch_stats()
        );
        let extra = c.poll(Duration::from_millis(150)).await.expect("poll");
        assert!(extra.is_empty(), "{} records past the end", extra.len());
    }
    let s = c.fetch_stats();
    let incremental = s.requests - s.full_requests;
    assert!(
        incremental >= 4,
        "most requests are incremental once the session is open: {s:?}"
    );
    // A sessionless consumer names all 1,000 partitions in every request.
    assert!(
        s.partitions_sent < s.requests * PARTITIONS as u64 / 2,
        "requests named {} partitions on average: {s:?}",
        s.partitions_sent / s.requests
    );
    assert_eq!(s.session_errors, 0, "{s:?}");
}

/// A broker restart loses every fetch session: the consumer opens a new one with a full fetch
/// and reads on from its positions, every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_forces_a_full_fetch_and_reading_goes_on() {
    const PARTITIONS: i32 = 100;
    const RECORDS: usize = 2000;
    let mut b = TestBroker::start();
    let topic = "sessions-restart";
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    let values = |r: std::ops::Range<usize>| r.map(|i| i.to_string());
    produce_values(
        &b.bootstrap(),
        topic,
        PARTITIONS,
        values(0..RECORDS / 2),
        "none",
    )
    .await;
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("fetch.max.wait.ms", "100"),
            ("reconnect.backoff.max.ms", "200"),
        ],
    );
    c.assign((0..PARTITIONS).map(|p| TopicPartition::new(topic, p)))
        .expect("assign");
    let mut seen = BTreeSet::new();
    read_until(&mut c, &mut seen, RECORDS / 2, PARTITIONS).await;
    // Some idle rounds, so the session is open and incremental when the broker goes.
    for _ in 0..3 {
        assert!(
            c.poll(Duration::from_millis(150))
                .await
                .expect("poll")
                .is_empty()
        );
    }
    let before = c.fetch_stats();
    assert!(before.requests > before.full_requests, "{before:?}");
    b.restart();
    produce_values(
        &b.bootstrap(),
        topic,
        PARTITIONS,
        values(RECORDS / 2..RECORDS),
        "none",
    )
    .await;
    read_until(&mut c, &mut seen, RECORDS, PARTITIONS).await;
    let after = c.fetch_stats();
    assert!(
        after.full_requests > before.full_requests,
        "a new session was opened with a full fetch: before {before:?}, after {after:?}"
    );
}

/// Polls until `seen` holds `until` values, each read once and from its own partition.
async fn read_until(
    c: &mut ferrokafka::consumer::KafkaConsumer,
    seen: &mut BTreeSet<usize>,
    until: usize,
    partitions: i32,
) {
    let start = Instant::now();
    while seen.len() < until {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "stuck at {} records",
            seen.len()
        );
        // Errors while the broker is away are retried by the next poll.
        let Ok(records) = c.poll(Duration::from_millis(200)).await else {
            continue;
        };
        for r in records {
            let v: usize = std::str::from_utf8(r.value.as_deref().expect("value"))
                .expect("utf8")
                .parse()
                .expect("number");
            assert_eq!(v as i32 % partitions, r.partition, "value {v}");
            assert!(seen.insert(v), "value {v} read twice");
        }
    }
}
