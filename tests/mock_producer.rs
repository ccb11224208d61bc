//! Producer guarantees under faults a real broker cannot produce on demand (MockCluster).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{Error, KafkaProducer, ProducerConfig, ProducerRecord};

const PRODUCE: i16 = 0;

fn producer(bootstrap: &str, props: &[(&str, &str)]) -> KafkaProducer {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut b = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("retry.backoff.ms", "5")
        .set("retry.backoff.max.ms", "50")
        .set("request.timeout.ms", "2000")
        .set("linger.ms", "1");
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    KafkaProducer::new(b.build().expect("config")).expect("producer")
}

async fn cluster(brokers: usize, topic: &str, partitions: i32) -> MockCluster {
    let c = MockCluster::builder()
        .brokers(brokers)
        .seed(7)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic(topic, partitions));
    c
}

/// Values stored in a partition, parsed as numbers, in offset order.
fn stored(c: &MockCluster, topic: &str, partition: i32) -> Vec<u64> {
    c.records(topic, partition)
        .expect("records")
        .iter()
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

async fn retriable_code_is_retried(code: i16) {
    let c = cluster(1, "t", 1).await;
    let p = producer(&c.bootstrap_servers(), &[]);
    p.send(ProducerRecord::new("t", "0").partition(0))
        .await
        .expect("warm up");
    c.inject(Fault::new(PRODUCE, FaultAction::Error(code)).times(3));
    let mut futures = Vec::new();
    for i in 1..=20 {
        futures.push(
            p.enqueue(ProducerRecord::new("t", i.to_string()).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    for f in futures {
        f.await
            .unwrap_or_else(|e| panic!("code {code} should have been retried: {e}"));
    }
    assert_eq!(
        stored(&c, "t", 0),
        (0..=20).collect::<Vec<u64>>(),
        "once each, in order"
    );
}

async fn fatal_code_is_surfaced(code: i16) {
    let c = cluster(1, "t", 1).await;
    let p = producer(&c.bootstrap_servers(), &[]);
    p.send(ProducerRecord::new("t", "0").partition(0))
        .await
        .expect("warm up");
    c.inject(Fault::new(PRODUCE, FaultAction::Error(code)));
    let started = Instant::now();
    let err = p
        .send(ProducerRecord::new("t", "1").partition(0))
        .await
        .expect_err("fails");
    assert_eq!(err.code().map(|c| c.0), Some(code), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed fast, not at the delivery timeout"
    );
    // The producer goes on: the next record is delivered.
    p.send(ProducerRecord::new("t", "2").partition(0))
        .await
        .expect("later record delivered");
    assert_eq!(stored(&c, "t", 0), vec![0, 2]);
}

/// A record that keeps failing with `code` until `delivery.timeout.ms` ends in DeliveryTimeout
/// saying whether the broker may hold it: only answers that mean "appended, then something
/// went wrong" (or no answer at all) make it so.
async fn delivery_timeout_says_if_written(code: i16, written: bool) {
    let c = cluster(1, "t", 1).await;
    let p = producer(
        &c.bootstrap_servers(),
        &[
            ("delivery.timeout.ms", "600"),
            ("request.timeout.ms", "500"),
        ],
    );
    p.send(ProducerRecord::new("t", "0").partition(0))
        .await
        .expect("warm up");
    c.inject(Fault::new(PRODUCE, FaultAction::Error(code)).forever());
    let err = p
        .send(ProducerRecord::new("t", "1").partition(0))
        .await
        .expect_err("never accepted");
    match err {
        Error::DeliveryTimeout {
            may_have_been_written,
            ref reason,
            ..
        } => assert_eq!(may_have_been_written, written, "code {code}: {reason}"),
        other => panic!("code {code}: want DeliveryTimeout, got {other}"),
    }
}

#[tokio::test]
async fn delivery_timeout_after_not_enough_replicas_was_never_written() {
    delivery_timeout_says_if_written(19, false).await;
}

#[tokio::test]
async fn delivery_timeout_after_not_leader_was_never_written() {
    delivery_timeout_says_if_written(6, false).await;
}

#[tokio::test]
async fn delivery_timeout_after_not_enough_replicas_after_append_may_have_been_written() {
    delivery_timeout_says_if_written(20, true).await;
}

#[tokio::test]
async fn delivery_timeout_after_request_timed_out_may_have_been_written() {
    delivery_timeout_says_if_written(7, true).await;
}

macro_rules! retriable {
    ($($name:ident = $code:expr),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() { retriable_code_is_retried($code).await }
    )*};
}

macro_rules! fatal {
    ($($name:ident = $code:expr),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() { fatal_code_is_surfaced($code).await }
    )*};
}

retriable! {
    retries_corrupt_message = 2,
    retries_unknown_topic_or_partition = 3,
    retries_leader_not_available = 5,
    retries_not_leader_or_follower = 6,
    retries_request_timed_out = 7,
    retries_network_exception = 13,
    retries_not_enough_replicas = 19,
    retries_not_enough_replicas_after_append = 20,
    retries_kafka_storage_error = 56,
    retries_fenced_leader_epoch = 74,
    retries_unknown_leader_epoch = 75,
    retries_out_of_order_sequence_with_epoch_bump = 45,
    retries_unknown_producer_id_with_epoch_bump = 59,
}

fatal! {
    surfaces_invalid_topic = 17,
    surfaces_invalid_required_acks = 21,
    surfaces_topic_authorization_failed = 29,
    surfaces_cluster_authorization_failed = 31,
    surfaces_policy_violation = 44,
    surfaces_invalid_record = 87,
}

#[tokio::test]
async fn surfaces_message_too_large_for_one_record() {
    let c = cluster(1, "t", 1).await;
    let p = producer(&c.bootstrap_servers(), &[]);
    p.send(ProducerRecord::new("t", "0").partition(0))
        .await
        .expect("warm up");
    c.inject(Fault::new(PRODUCE, FaultAction::Error(10)));
    let err = p
        .send(ProducerRecord::new("t", "1").partition(0))
        .await
        .expect_err("too large");
    assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
    p.send(ProducerRecord::new("t", "2").partition(0))
        .await
        .expect("later record delivered");
    assert_eq!(stored(&c, "t", 0), vec![0, 2]);
}

#[tokio::test]
async fn connection_faults_after_append_do_not_duplicate() {
    for action in [
        FaultAction::DropAfter,
        FaultAction::CutResponse,
        FaultAction::DropBefore,
    ] {
        let c = cluster(1, "t", 1).await;
        let p = producer(&c.bootstrap_servers(), &[]);
        p.send(ProducerRecord::new("t", "0").partition(0))
            .await
            .expect("warm up");
        c.inject(Fault::new(PRODUCE, action).times(2));
        let mut futures = Vec::new();
        for i in 1..=50 {
            futures.push(
                p.enqueue(ProducerRecord::new("t", i.to_string()).partition(0))
                    .await
                    .expect("enqueue"),
            );
        }
        for f in futures {
            f.await.unwrap_or_else(|e| panic!("{action:?}: {e}"));
        }
        assert_eq!(
            stored(&c, "t", 0),
            (0..=50).collect::<Vec<u64>>(),
            "{action:?}"
        );
    }
}

#[tokio::test]
async fn oversized_batch_is_split_and_delivered() {
    let c = cluster(1, "t", 1).await;
    let p = producer(
        &c.bootstrap_servers(),
        &[("linger.ms", "50"), ("batch.size", "100000")],
    );
    p.send(ProducerRecord::new("t", "0").partition(0))
        .await
        .expect("warm up");
    c.inject(Fault::new(PRODUCE, FaultAction::Error(10)));
    let mut futures = Vec::new();
    for i in 1..=200 {
        futures.push(
            p.enqueue(ProducerRecord::new("t", i.to_string()).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    for f in futures {
        f.await.expect("split batches delivered");
    }
    assert_eq!(stored(&c, "t", 0), (0..=200).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_moves_and_broker_restart() {
    let c = cluster(3, "t", 6).await;
    let p = producer(&c.bootstrap_servers(), &[]);
    let mut futures = Vec::new();
    for i in 0..30_000u64 {
        if i == 10_000 {
            for part in 0..6 {
                let next = c.leader("t", part).unwrap() % 3 + 1;
                c.move_leader("t", part, next).unwrap();
            }
        }
        if i == 20_000 {
            c.stop_broker(2);
        }
        if i == 22_000 {
            c.start_broker(2).await.expect("restart");
        }
        futures.push(
            p.enqueue(ProducerRecord::new("t", i.to_string()).partition((i % 6) as i32))
                .await
                .expect("enqueue"),
        );
    }
    for f in futures {
        f.await
            .expect("delivered despite leader moves and a restart");
    }
    for part in 0..6 {
        let expected: Vec<u64> = (0..30_000).filter(|i| i % 6 == part as u64).collect();
        assert_eq!(stored(&c, "t", part), expected, "partition {part}");
    }
}

/// The headline guarantee: 1,000,000 records over 6 partitions under a fault mix (retriable
/// errors, connection drops after the broker appended, leader moves, a broker restart): the
/// log has every record exactly once, in send order per partition, and every future is Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_million_records_under_fault_mix_exactly_once() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(42)
        .build()
        .await
        .expect("mock");
    c.create_topic("mix", 6);
    let p = producer(
        &c.bootstrap_servers(),
        &[("batch.size", "65536"), ("linger.ms", "2")],
    );
    c.inject(
        Fault::new(PRODUCE, FaultAction::Error(6))
            .forever()
            .probability(0.01),
    );
    c.inject(
        Fault::new(PRODUCE, FaultAction::Error(19))
            .forever()
            .probability(0.01),
    );
    c.inject(
        Fault::new(PRODUCE, FaultAction::DropAfter)
            .forever()
            .probability(0.005),
    );
    const N: u64 = 1_000_000;
    let mut futures = Vec::with_capacity(N as usize);
    for i in 0..N {
        if i == N / 4 {
            c.move_leader("mix", 0, c.leader("mix", 0).unwrap() % 3 + 1)
                .unwrap();
            c.move_leader("mix", 3, c.leader("mix", 3).unwrap() % 3 + 1)
                .unwrap();
        }
        if i == N / 2 {
            c.stop_broker(3);
        }
        if i == N / 2 + 50_000 {
            c.start_broker(3).await.expect("restart");
        }
        let rec = ProducerRecord::new("mix", i.to_string()).partition((i % 6) as i32);
        futures.push(p.enqueue(rec).await.expect("enqueue"));
    }
    let mut ok = 0;
    for f in futures {
        f.await.expect("every future completes Ok");
        ok += 1;
    }
    assert_eq!(ok, N);
    for part in 0..6u64 {
        let got = stored(&c, "mix", part as i32);
        let expected: Vec<u64> = (0..N).filter(|i| i % 6 == part).collect();
        assert_eq!(got.len(), expected.len(), "partition {part}: count");
        assert!(got == expected, "partition {part}: exactly once, in order");
    }
}

/// Without idempotence, a resend after a dropped response may duplicate, but no acknowledged
/// record is ever lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_idempotent_may_duplicate_but_never_loses() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(43)
        .build()
        .await
        .expect("mock");
    c.create_topic("mix", 6);
    let p = producer(
        &c.bootstrap_servers(),
        &[
            ("enable.idempotence", "false"),
            ("acks", "all"),
            ("max.in.flight.requests.per.connection", "1"),
        ],
    );
    c.inject(
        Fault::new(PRODUCE, FaultAction::Error(6))
            .forever()
            .probability(0.01),
    );
    c.inject(
        Fault::new(PRODUCE, FaultAction::DropAfter)
            .forever()
            .probability(0.01),
    );
    const N: u64 = 100_000;
    let mut futures = Vec::new();
    for i in 0..N {
        if i == N / 2 {
            c.move_leader("mix", 1, c.leader("mix", 1).unwrap() % 3 + 1)
                .unwrap();
        }
        futures.push(
            p.enqueue(ProducerRecord::new("mix", i.to_string()).partition((i % 6) as i32))
                .await
                .expect("enqueue"),
        );
    }
    let mut acked = Vec::new();
    for (i, f) in futures.into_iter().enumerate() {
        if f.await.is_ok() {
            acked.push(i as u64);
        }
    }
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for part in 0..6 {
        for v in stored(&c, "mix", part) {
            *seen.entry(v).or_default() += 1;
        }
    }
    for v in &acked {
        assert!(seen.contains_key(v), "acknowledged record {v} lost");
    }
    assert_eq!(acked.len() as u64, N, "retries got every record through");
}

#[tokio::test]
async fn discard_mode_acknowledges_without_storing() {
    let c = cluster(1, "t", 1).await;
    c.set_discard(true);
    let p = producer(&c.bootstrap_servers(), &[]);
    for i in 0..100 {
        let md = p
            .send(ProducerRecord::new("t", i.to_string()).partition(0))
            .await
            .expect("acked");
        assert_eq!(md.offset, i);
    }
    assert!(c.records("t", 0).expect("records").is_empty());
    assert_eq!(c.end_offset("t", 0), Some(100));
}

/// Apache Kafka accepts any first sequence from a producer a partition has no state for. If the
/// first request fails (NOT_LEADER_OR_FOLLOWER right after a topic is created, as a real broker
/// answers while it becomes leader) and later requests of the same partition are already in
/// flight, the broker takes a later batch as the producer's first and the resend of sequence 0
/// is out of order: the producer must not send a second batch of a partition before the broker
/// has acknowledged one under the current epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_batch_failure_does_not_reorder_a_fresh_producer() {
    let c = cluster(1, "fresh", 3).await;
    c.inject(Fault::new(PRODUCE, FaultAction::Error(6)).times(1));
    let p = producer(
        &c.bootstrap_servers(),
        &[("batch.size", "200"), ("linger.ms", "0")],
    );
    let mut futures = Vec::new();
    for i in 0..3000u64 {
        let rec = ProducerRecord::new("fresh", format!("{i}")).partition((i % 3) as i32);
        futures.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for f in futures {
        f.await.expect("delivered");
    }
    for partition in 0..3 {
        let expected: Vec<u64> = (0..3000).filter(|i| i % 3 == partition as u64).collect();
        assert_eq!(
            stored(&c, "fresh", partition),
            expected,
            "partition {partition}: every record once, in send order"
        );
    }
}

/// Dropping a producer without `close` warns, with how much is still undelivered.
#[test]
fn drop_without_close_warns_with_the_undelivered_count() {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let c = cluster(1, "dropped", 1).await;
            let p = ProducerConfig::builder()
                .bootstrap_servers(c.bootstrap_servers())
                .set("linger.ms", "0")
                .build()
                .expect("config");
            let p = KafkaProducer::new(p).expect("producer");
            p.send(ProducerRecord::new("dropped", "warm"))
                .await
                .expect("warm up");
            c.stop_broker(1);
            for i in 0..10 {
                let _ = p
                    .enqueue(ProducerRecord::new("dropped", format!("{i}")))
                    .await;
            }
            drop(p);
        });
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("dropped without close()") && log.contains("queued records ("),
        "log: {log}"
    );
}
