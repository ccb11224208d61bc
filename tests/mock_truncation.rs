//! KIP-320 on the MockCluster: a leader change that truncates the log under the consumer's
//! position is detected with OffsetForLeaderEpoch.

use std::time::{Duration, Instant};

use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{ConsumerConfig, Error, KafkaProducer, ProducerConfig, ProducerRecord};

/// One batch per record, so any offset is a batch boundary to truncate at.
async fn produce(c: &MockCluster, values: impl Iterator<Item = u64>) {
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .build()
            .expect("config"),
    )
    .expect("producer");
    for v in values {
        p.send(ProducerRecord::new("trunc", v.to_string()).partition(0))
            .await
            .expect("send");
    }
    p.close(Duration::from_secs(10)).await;
}

/// A two-broker cluster whose partition `trunc-0` is led by broker 1 and holds the values
/// `0..n`, and a consumer assigned to it (not yet positioned).
async fn led_by_1(seed: u64, n: u64, reset: &str) -> (MockCluster, KafkaConsumer) {
    let c = MockCluster::builder()
        .brokers(2)
        .seed(seed)
        .build()
        .await
        .expect("mock");
    c.create_topic("trunc", 1);
    c.move_leader("trunc", 0, 1).expect("leader 1");
    produce(&c, 0..n).await;
    let mut con = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("auto.offset.reset", reset)
            .set("retry.backoff.ms", "10")
            .set("reconnect.backoff.ms", "10")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    con.assign([TopicPartition::new("trunc", 0)])
        .expect("assign");
    (c, con)
}

/// 100 records read at leader epoch 1; then a new leader whose log ends at 60, and 20 records
/// (values 1000..1020) appended under its epoch at offsets 60..80.
async fn truncated_under(reset: &str) -> (MockCluster, KafkaConsumer, Vec<(i64, u64)>) {
    let (c, mut con) = led_by_1(320, 100, reset).await;
    let tp = TopicPartition::new("trunc", 0);
    con.seek(&tp, 0).expect("seek");
    let mut got = Vec::new();
    read(&mut con, &mut got, 100).await.expect("first 100");
    assert_eq!(con.position(&tp).await.expect("position"), 100);
    c.truncate_and_move_leader("trunc", 0, 60, 2)
        .expect("truncate");
    produce(&c, 1000..1020).await;
    (c, con, got)
}

async fn read(
    con: &mut KafkaConsumer,
    out: &mut Vec<(i64, u64)>,
    until: usize,
) -> Result<(), Error> {
    let start = Instant::now();
    while out.len() < until {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stuck at {out:?}"
        );
        for r in con.poll(Duration::from_millis(100)).await? {
            let v = std::str::from_utf8(r.value.as_deref().expect("value")).expect("utf-8");
            out.push((r.offset, v.parse().expect("number")));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_with_a_reset_policy_resumes_at_the_diverging_offset() {
    let (_c, mut con, mut got) = truncated_under("earliest").await;
    read(&mut con, &mut got, 120)
        .await
        .expect("after the truncation");
    let expected: Vec<(i64, u64)> = (0..100)
        .map(|o| (o, o as u64))
        .chain((60..80).map(|o| (o, 940 + o as u64)))
        .collect();
    assert_eq!(got, expected, "no record that exists lost, none read twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_with_reset_none_is_a_typed_error() {
    let (_c, mut con, mut got) = truncated_under("none").await;
    let err = read(&mut con, &mut got, 101)
        .await
        .expect_err("the truncation is reported");
    match err {
        Error::LogTruncation {
            partition,
            offset,
            epoch,
            diverging_offset,
        } => {
            assert_eq!(partition, "trunc-0");
            // Epoch 1: the records were written after move_leader bumped the epoch from 0.
            assert_eq!((offset, epoch, diverging_offset), (100, 1, 60));
        }
        e => panic!("not a LogTruncation: {e:?}"),
    }
    assert_eq!(got.len(), 100, "nothing read past the truncation");
    // Seeking to the diverging offset goes on from there.
    con.seek(&TopicPartition::new("trunc", 0), 60)
        .expect("seek");
    read(&mut con, &mut got, 120).await.expect("after the seek");
    assert_eq!(got[100..].first(), Some(&(60, 1000)));
    assert_eq!(got.last(), Some(&(79, 1019)));
}

/// KIP-266 for validation: `poll(t)` returns within `t` while the new leader holds back its
/// OffsetForLeaderEpoch answer, and a later poll applies that answer (no record lost or read
/// twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_keeps_its_timeout_while_the_validation_is_slow() {
    const OFFSET_FOR_LEADER_EPOCH: i16 = 23;
    const POLL: Duration = Duration::from_millis(100);
    // Generous: the spec under test is "within the timeout", not a latency figure.
    const SLACK: Duration = Duration::from_millis(500);
    let (c, mut con, mut got) = truncated_under("earliest").await;
    c.inject(Fault::new(
        OFFSET_FOR_LEADER_EPOCH,
        FaultAction::Delay(Duration::from_secs(2)),
    ));
    let start = Instant::now();
    let mut polls = 0u32;
    while got.len() < 120 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stuck at {got:?}"
        );
        let began = Instant::now();
        let records = con.poll(POLL).await.expect("poll");
        let took = began.elapsed();
        polls += 1;
        assert!(
            took <= POLL + SLACK,
            "poll #{polls} took {took:?} with a {POLL:?} timeout"
        );
        for r in records.iter() {
            let v = std::str::from_utf8(r.value.as_deref().expect("value")).expect("utf-8");
            got.push((r.offset, v.parse().expect("number")));
        }
    }
    let expected: Vec<(i64, u64)> = (0..100)
        .map(|o| (o, o as u64))
        .chain((60..80).map(|o| (o, 940 + o as u64)))
        .collect();
    assert_eq!(got, expected);
    assert!(polls > 3, "the validation spanned several polls ({polls})");
}

/// A partition awaiting validation is not fetched, so no fetch error asks for fresh metadata:
/// when its new leader is missing from the metadata (down at the refresh), validation itself
/// asks, and reading goes on once the leader is back (not after `metadata.max.age.ms`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_waits_out_a_leader_missing_from_the_metadata() {
    let (c, mut con) = led_by_1(321, 50, "earliest").await;
    let mut got = Vec::new();
    read(&mut con, &mut got, 50).await.expect("first 50");
    // The new leader is down when the consumer learns of the move.
    c.stop_broker(2);
    c.move_leader("trunc", 0, 2).expect("leader 2");
    for _ in 0..20 {
        let more = con.poll(Duration::from_millis(100)).await.expect("poll");
        assert!(more.is_empty(), "no records while the leader is away");
    }
    c.start_broker(2).await.expect("broker 2 back");
    produce(&c, 50..100).await;
    read(&mut con, &mut got, 100)
        .await
        .expect("after the leader is back");
    let expected: Vec<(i64, u64)> = (0..100).map(|o| (o, o as u64)).collect();
    assert_eq!(got, expected);
}
