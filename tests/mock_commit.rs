//! Commit ordering under injected commit errors and delays (MockCluster): a later commit is
//! never overtaken by an earlier one, whatever retries happen.

mod common;

use std::time::{Duration, Instant};

use ferrokafka::consumer::KafkaConsumer;
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{ConsumerConfig, ProducerRecord};

const OFFSET_COMMIT: i16 = 8;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const RECORDS: u64 = 3000;

async fn commit_async_never_goes_backward(seed: u64) {
    let c = MockCluster::builder()
        .brokers(1)
        .seed(seed)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("c", 1));
    let p = common::producer(&c.bootstrap_servers(), &[]);
    for i in 0..RECORDS {
        drop(
            p.enqueue(ProducerRecord::new("c", i.to_string()).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    p.close(Duration::from_secs(10)).await;

    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("group.id", "g")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("max.poll.records", "100")
            .set("retry.backoff.ms", "20")
            .set("retry.backoff.max.ms", "200")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    consumer.subscribe(["c"]).expect("subscribe");
    let mut read = 0u64;
    let start = Instant::now();
    let mut polls = 0u32;
    while read < RECORDS {
        assert!(start.elapsed() < Duration::from_secs(30), "stuck at {read}");
        let records = consumer
            .poll(Duration::from_millis(100))
            .await
            .expect("poll");
        read += records.len() as u64;
        if records.is_empty() {
            continue;
        }
        polls += 1;
        // Every few commits, some fail (retriable) or are held back by the broker.
        match polls % 5 {
            1 => c.inject(
                Fault::new(
                    OFFSET_COMMIT,
                    FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS),
                )
                .times(2),
            ),
            3 => c.inject(
                Fault::new(OFFSET_COMMIT, FaultAction::Delay(Duration::from_millis(30))).times(1),
            ),
            _ => {}
        }
        consumer.commit_async(None);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    consumer.close().await.expect("close");
    let log: Vec<i64> = c
        .commit_log("g")
        .iter()
        .filter(|m| m.topic == "c" && m.partition == 0)
        .map(|m| m.offset)
        .collect();
    assert!(!log.is_empty());
    if let Some(w) = log.windows(2).find(|w| w[1] < w[0]) {
        panic!(
            "seed {seed}: commit went backward {} -> {} in {log:?}",
            w[0], w[1]
        );
    }
    assert_eq!(log.last(), Some(&(RECORDS as i64)), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_async_never_goes_backward_under_errors_and_delays() {
    for seed in 1..=5 {
        commit_async_never_goes_backward(seed).await;
    }
}

/// A group member that lost its membership (the coordinator forgot it) and has not rejoined
/// yet must not commit as a standalone consumer (generation -1, no member id): the group may
/// have given its partitions to another member, whose commits this one would overwrite. Java
/// fails such a commit (CommitFailedException or RebalanceInProgressException); so does this
/// consumer, with REBALANCE_IN_PROGRESS, and the next poll rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_between_generations_does_not_commit_as_standalone() {
    const HEARTBEAT: i16 = 12;
    const UNKNOWN_MEMBER_ID: i16 = 25;
    const REBALANCE_IN_PROGRESS: i16 = 27;
    let c = MockCluster::builder()
        .brokers(1)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("m", 1));
    let p = common::producer(&c.bootstrap_servers(), &[]);
    for i in 0..10 {
        p.send(ProducerRecord::new("m", i.to_string()).partition(0))
            .await
            .expect("send");
    }
    p.close(Duration::from_secs(10)).await;
    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("group.id", "between")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("heartbeat.interval.ms", "50")
            // The old member id, which the consumer forgot, holds up the rejoin until its
            // session expires.
            .set("session.timeout.ms", "1000")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    consumer.subscribe(["m"]).expect("subscribe");
    let start = Instant::now();
    let mut read = 0;
    while read < 10 {
        assert!(start.elapsed() < Duration::from_secs(20), "stuck at {read}");
        read += consumer
            .poll(Duration::from_millis(100))
            .await
            .expect("poll")
            .len();
    }
    consumer.commit_sync().await.expect("commit as a member");
    let member = consumer.group_metadata().expect("group");
    assert!(member.generation_id >= 0, "{member:?}");

    c.inject(Fault::new(HEARTBEAT, FaultAction::Error(UNKNOWN_MEMBER_ID)));
    let lost = Instant::now();
    while consumer.group_metadata().expect("group").generation_id >= 0 {
        assert!(
            lost.elapsed() < Duration::from_secs(10),
            "the heartbeat's UNKNOWN_MEMBER_ID was never seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut offsets = ferrokafka::consumer::Offsets::new();
    offsets.insert(
        ferrokafka::TopicPartition::new("m", 0),
        ferrokafka::consumer::OffsetAndMetadata::new(3),
    );
    let err = consumer
        .commit_offsets_sync(offsets)
        .await
        .expect_err("a commit between generations must fail");
    assert_eq!(
        err.code().map(|c| c.0),
        Some(REBALANCE_IN_PROGRESS),
        "{err:?}"
    );
    let standalone: Vec<_> = c
        .commit_log("between")
        .into_iter()
        .filter(|m| m.generation < 0)
        .collect();
    assert!(standalone.is_empty(), "standalone commits: {standalone:?}");

    // The next poll rejoins, and a commit then goes through as a member again.
    let rejoin = Instant::now();
    while consumer.group_metadata().expect("group").generation_id < 0 {
        assert!(rejoin.elapsed() < Duration::from_secs(20), "never rejoined");
        consumer
            .poll(Duration::from_millis(100))
            .await
            .expect("poll");
    }
    consumer
        .commit_sync()
        .await
        .expect("commit after rejoining");
    let log = c.commit_log("between");
    let last = log.last().expect("commits");
    assert!(
        last.generation >= 0 && !last.member_id.is_empty(),
        "{last:?}"
    );
    assert_eq!(last.offset, 10, "{log:?}");
    consumer.close().await.expect("close");
}
