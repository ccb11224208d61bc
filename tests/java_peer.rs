//! The Apache Kafka Java client (kafka-clients of the broker's own release) as the reference
//! peer, through a real Apache Kafka broker:
//!
//! - keyed partitioning: for 10,000 keys (the empty key, random binary keys, multi-byte UTF-8
//!   keys) and every partition count 1..=64, `default_partition_for_key` gives what Java's
//!   producer code computes, and the partition the Java producer's records really landed on
//!   (for a spread of counts; see [`LANDING_COUNTS`] for why not all);
//! - a mixed consumer group (classic protocol): our consumer and two Java consumers, with
//!   `range` and with `cooperative-sticky`, members joining and leaving while records keep
//!   coming: every record is read exactly once, partitions pass both ways between us and Java
//!   mid-stream, and every rebalance of the final member sets assigned what Java's assignor
//!   computes from the same input (once with our member as the leader, once with a Java one);
//! - records byte for byte both ways, for each codec: the Java producer (idempotent, acks=all)
//!   writes, we read; we write, the Java consumer reads.
//!
//! The Java side is `tests/java/JavaPeer.java`, compiled by `common::java`. Needs a JDK 17+
//! (`javac`, `java`) and the Kafka jars `scripts/kafka install` resolves; fails, never skips,
//! without them. Runs against Apache Kafka only (not under `FERROKAFKA_BROKER=nisshi`).
//!
//! The tests of this file take turns ([`SERIAL`]): on a 2-core machine, the partitioning test's
//! 120,000 records next to the paced group test would decide the group test's timing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::{TestBroker, nisshi_run};
use common::java::{peer, tail};
use common::records::{Rec, from_ours, parse_record, parse_records, to_hex};
use common::{create_topic, producer};
use ferrokafka::admin::NewTopic;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::producer::default_partition_for_key;
use ferrokafka::record::Header;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, ProducerRecord, RebalanceListener};

/// One test of this file at a time (see the module docs). A tokio mutex: the tests run on
/// runtimes of their own, and a panicking test does not poison it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn bootstrap() -> String {
    assert!(
        !nisshi_run(),
        "java_peer runs against Apache Kafka only: the Java client of the broker's release is \
         the reference, and Nisshi is not (unset FERROKAFKA_BROKER)"
    );
    TestBroker::shared().bootstrap()
}

/// SplitMix64: a small deterministic generator, so the test data is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Creates `topics`, then waits until the broker serves every partition (ListOffsets answers
/// for all): CreateTopics returns once the controller has them, but a single broker brings
/// their logs online one by one afterwards, and a producer writing meanwhile gets
/// NOT_LEADER_OR_FOLLOWER and retries (seen: the Java idempotent producer, retrying through
/// that on an overloaded machine, ends up with OUT_OF_ORDER_SEQUENCE_NUMBER until its batches
/// expire).
async fn admin_create(bootstrap: &str, topics: Vec<NewTopic>) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    );
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| {
            let n = t.num_partitions.expect("partition count");
            (0..n).map(|p| TopicPartition::new(&t.name, p))
        })
        .collect();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let results = admin.create_topics(topics).await.expect("CreateTopics");
    for name in names {
        if let Err(e) = &results[&name] {
            panic!("create topic {name}: {e}");
        }
    }
    let mut c = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("consumer config"),
    )
    .expect("consumer");
    let start = Instant::now();
    loop {
        match c.end_offsets(&partitions).await {
            Ok(ends) if ends.len() == partitions.len() => break,
            Ok(ends) => eprintln!("{} of {} partitions online", ends.len(), partitions.len()),
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(180),
                    "{} partitions not all online after 180 s: {e}",
                    partitions.len()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    c.close().await.expect("close");
}

/// Reads every partition of `topics` from the beginning until `expected` records arrived,
/// then 300 ms more (to catch extras). Manual assignment, no group.
async fn read_all(bootstrap: &str, topics: &[(String, i32)], expected: usize) -> Vec<Rec> {
    let mut c = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(bootstrap)
            .set("auto.offset.reset", "earliest")
            .build()
            .expect("consumer config"),
    )
    .expect("consumer");
    c.assign(
        topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition::new(t, p))),
    )
    .expect("assign");
    let mut got = Vec::with_capacity(expected);
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    while done_at.is_none_or(|t| t.elapsed() < Duration::from_millis(300)) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "read {} of {expected} records of {} topics in 120 s",
            got.len(),
            topics.len()
        );
        let records = c.poll(Duration::from_millis(100)).await.expect("poll");
        got.extend(records.iter().map(from_ours));
        if done_at.is_none() && got.len() >= expected {
            done_at = Some(Instant::now());
        }
    }
    c.close().await.expect("close");
    got
}

#[path = "java_peer/group.rs"]
mod group;
#[path = "java_peer/partitioning.rs"]
mod partitioning;
#[path = "java_peer/records.rs"]
mod records;
