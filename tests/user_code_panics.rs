//! Application code that panics (a delivery callback, a custom partitioner, a rebalance
//! listener) against a real broker: the panic is reported, and the client keeps working with
//! its in-flight counts and `buffer.memory` intact.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, produce_values, producer};
use ferrokafka::consumer::TopicPartition;
use ferrokafka::producer::Partitioner;
use ferrokafka::{
    Error, KafkaConsumer, KafkaProducer, ProducerConfig, ProducerRecord, RebalanceListener,
};

/// Records sent after the panics, each of `VALUE_LEN` bytes: together far more than
/// `BUFFER_MEMORY`, so they only get through if every completed batch gives its bytes back.
const LATER_SENDS: usize = 10_000;
const VALUE_LEN: usize = 100;
const BUFFER_MEMORY: &str = "65536";
/// A send that finds `buffer.memory` leaked fails after this instead of hanging.
const MAX_BLOCK_MS: &str = "10000";
/// Turns a wedged flush into a failure rather than a hung test.
const LIVENESS: Duration = Duration::from_secs(60);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack over `CLOSE_TIMEOUT` for close to return (scheduling on a loaded 2-core machine).
const CLOSE_SLACK: Duration = Duration::from_secs(3);

fn value(i: usize) -> String {
    format!("{i:0width$}", width = VALUE_LEN)
}

fn small_buffer_props() -> Vec<(&'static str, &'static str)> {
    vec![
        ("buffer.memory", BUFFER_MEMORY),
        ("batch.size", "16384"),
        ("max.block.ms", MAX_BLOCK_MS),
        ("linger.ms", "5"),
    ]
}

async fn close_in_time(p: &KafkaProducer) {
    let start = Instant::now();
    p.close(CLOSE_TIMEOUT).await;
    let took = start.elapsed();
    assert!(
        took < CLOSE_TIMEOUT + CLOSE_SLACK,
        "close took {took:?} (timeout {CLOSE_TIMEOUT:?})"
    );
}

/// Every 100th delivery callback of the first 1,000 panics: the other callbacks of the same
/// batches still run with their results, and 10,000 later sends through a 64 KiB
/// `buffer.memory` are all acknowledged at consecutive offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_delivery_callback_neither_wedges_nor_leaks() {
    let b = TestBroker::shared();
    let topic = "panics-callback";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = producer(&b.bootstrap(), &small_buffer_props());

    const FIRST: usize = 1_000;
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..FIRST {
        let ok = ok.clone();
        p.send_with_callback(ProducerRecord::new(topic, value(i)), move |r| {
            if i % 100 == 99 {
                panic!("callback boom {i}");
            }
            if r.is_ok() {
                ok.fetch_add(1, Ordering::Relaxed);
            }
        })
        .await
        .unwrap_or_else(|e| panic!("send {i}: {}", e.error));
    }
    tokio::time::timeout(LIVENESS, p.flush())
        .await
        .expect("flush returns after panicking callbacks");
    assert_eq!(
        ok.load(Ordering::Relaxed),
        FIRST - FIRST / 100,
        "every callback that did not panic ran with its record acknowledged"
    );

    let offsets = Arc::new(Mutex::new(Vec::with_capacity(LATER_SENDS)));
    let failed = Arc::new(Mutex::new(Vec::new()));
    for i in 0..LATER_SENDS {
        let (offsets, failed) = (offsets.clone(), failed.clone());
        p.send_with_callback(
            ProducerRecord::new(topic, value(FIRST + i)),
            move |r| match r {
                Ok(m) => offsets.lock().unwrap().push(m.offset),
                Err(e) => failed.lock().unwrap().push(e.to_string()),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("later send {i}: {}", e.error));
    }
    tokio::time::timeout(LIVENESS, p.flush())
        .await
        .expect("flush of the later sends");
    assert_eq!(failed.lock().unwrap().as_slice(), &[] as &[String]);
    let mut offsets = std::mem::take(&mut *offsets.lock().unwrap());
    offsets.sort_unstable();
    let expected: Vec<i64> = (FIRST as i64..(FIRST + LATER_SENDS) as i64).collect();
    assert!(
        offsets == expected,
        "later records at offsets {FIRST}.. once each: got {} offsets, first {:?}, last {:?}",
        offsets.len(),
        offsets.first(),
        offsets.last()
    );
    close_in_time(&p).await;
}

/// Round robin over the partitions, panicking on every 100th of its first 1,000 calls.
struct FlakyPartitioner {
    calls: AtomicUsize,
}

impl Partitioner for FlakyPartitioner {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, n: i32) -> i32 {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        if call < 1_000 && call % 100 == 99 {
            panic!("partitioner boom {call}");
        }
        (call % n as usize) as i32
    }
}

/// A panicking partitioner fails that send with `Error::UserCode` and the record back, enqueues
/// nothing, and leaves the producer working: 10,000 later sends all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_partitioner_fails_only_that_send() {
    let b = TestBroker::shared();
    let topic = "panics-partitioner";
    const PARTITIONS: i32 = 3;
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    let mut config = ProducerConfig::builder().bootstrap_servers(b.bootstrap());
    for (k, v) in small_buffer_props() {
        config = config.set(k, v);
    }
    let p = KafkaProducer::builder(config.build().expect("config"))
        .partitioner(Arc::new(FlakyPartitioner {
            calls: AtomicUsize::new(0),
        }))
        .build()
        .expect("producer");

    const FIRST: usize = 1_000;
    let mut futures = Vec::new();
    let mut refused = Vec::new();
    for i in 0..FIRST + LATER_SENDS {
        match p.enqueue(ProducerRecord::new(topic, value(i))).await {
            Ok(f) => futures.push(f),
            Err(e) => {
                match &e.error {
                    Error::UserCode { what, message } => {
                        assert_eq!(*what, "partitioner");
                        assert_eq!(message, &format!("partitioner boom {i}"));
                    }
                    other => panic!("send {i}: expected a UserCode error, got {other}"),
                }
                assert_eq!(e.record.value.as_deref(), Some(value(i).as_bytes()));
                refused.push(i);
            }
        }
    }
    let expected_refused: Vec<usize> = (0..FIRST).filter(|i| i % 100 == 99).collect();
    assert_eq!(refused, expected_refused);

    let mut per_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (n, f) in futures.into_iter().enumerate() {
        let m = tokio::time::timeout(LIVENESS, f)
            .await
            .expect("delivery completes")
            .unwrap_or_else(|e| panic!("record {n} not delivered: {e}"));
        per_partition.entry(m.partition).or_default().push(m.offset);
    }
    let delivered: usize = per_partition.values().map(Vec::len).sum();
    assert_eq!(delivered, FIRST + LATER_SENDS - refused.len());
    for (partition, mut offsets) in per_partition {
        offsets.sort_unstable();
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert!(
            offsets == expected,
            "partition {partition}: offsets not 0..{} once each",
            offsets.len()
        );
    }
    close_in_time(&p).await;
}

/// Panics in its first `on_partitions_assigned`; counts every call.
#[derive(Clone, Default)]
struct PanickyListener {
    assigned: Arc<AtomicUsize>,
    revoked: Arc<AtomicUsize>,
}

impl RebalanceListener for PanickyListener {
    async fn on_partitions_revoked(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {
        self.revoked.fetch_add(1, Ordering::Relaxed);
    }

    async fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {
        if self.assigned.fetch_add(1, Ordering::Relaxed) == 0 {
            panic!("listener boom");
        }
    }
}

/// As Java's consumer does with a listener exception: the rebalance completes, one poll
/// reports the panic, later polls return every record, commits work, and the listener stays
/// installed (it runs on close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_rebalance_listener_fails_one_poll_then_consumes() {
    let b = TestBroker::shared();
    let topic = "panics-listener";
    const PARTITIONS: i32 = 3;
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    produce_values(
        &b.bootstrap(),
        topic,
        PARTITIONS,
        (0..LATER_SENDS).map(value),
        "none",
    )
    .await;

    let listener = PanickyListener::default();
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("group.id", "panics-listener"),
            ("enable.auto.commit", "false"),
        ],
    );
    c.subscribe_with([topic], listener.clone())
        .expect("subscribe");
    let all: BTreeSet<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();

    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    let start = Instant::now();
    while seen.len() < LATER_SENDS && start.elapsed() < LIVENESS {
        match c.poll(Duration::from_millis(200)).await {
            Ok(records) => {
                for r in records {
                    let v =
                        String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8");
                    assert!(
                        seen.insert(v),
                        "record at {}:{} twice",
                        r.partition,
                        r.offset
                    );
                }
            }
            Err(e) => {
                // The rebalance completed despite the panic.
                assert_eq!(c.assignment(), all, "assignment after the failed poll");
                errors.push(e);
            }
        }
    }
    assert_eq!(errors.len(), 1, "one poll reports the panic: {errors:?}");
    match &errors[0] {
        Error::UserCode { what, message } => {
            assert_eq!(*what, "rebalance listener");
            assert_eq!(message, "listener boom");
        }
        other => panic!("expected a UserCode error, got {other}"),
    }
    assert_eq!(seen.len(), LATER_SENDS, "every record after the panic");

    c.commit_sync().await.expect("commit after the panic");
    let parts: Vec<TopicPartition> = all.iter().cloned().collect();
    let ends = c.end_offsets(&parts).await.expect("end offsets");
    let committed = c.committed(&parts).await.expect("committed");
    for tp in &parts {
        let got = committed[tp].as_ref().map(|o| o.offset);
        assert_eq!(got, Some(ends[tp]), "committed offset of {tp:?}");
    }
    assert_eq!(ends.values().sum::<i64>(), LATER_SENDS as i64);

    let start = Instant::now();
    c.close_with_timeout(CLOSE_TIMEOUT)
        .await
        .expect("close after the panic");
    assert!(start.elapsed() < CLOSE_TIMEOUT + CLOSE_SLACK);
    assert_eq!(
        listener.revoked.load(Ordering::Relaxed),
        1,
        "the listener stayed installed and ran on close"
    );
}
