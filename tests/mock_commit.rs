//! Commit ordering under injected commit errors and delays (MockCluster): a later commit is
//! never overtaken by an earlier one, whatever retries happen.

use std::time::{Duration, Instant};

use ferrokafka::consumer::KafkaConsumer;
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{ConsumerConfig, KafkaProducer, ProducerConfig, ProducerRecord};

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
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .build()
            .expect("config"),
    )
    .expect("producer");
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
