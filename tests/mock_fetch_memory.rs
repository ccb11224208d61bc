//! `fetch.buffer.memory` on the MockCluster: a slow application reading many partitions keeps
//! what the consumer holds within the budget plus one batch, and still reads everything.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::mock::MockCluster;
use ferrokafka::{ConsumerConfig, KafkaProducer, ProducerConfig, ProducerRecord};

const PARTITIONS: i32 = 120;
const PER_PARTITION: u64 = 100;
const BUDGET: usize = 256 << 10;
/// The largest batch the producer below makes (batch.size 16 KiB of 1 KB records, plus the
/// batch header): the one step of progress allowed past a full budget.
const ONE_BATCH: usize = 20 << 10;

/// `PER_PARTITION` records of 1 KB in each partition, values "partition/sequence" padded.
async fn preload(c: &MockCluster, topic: &str) {
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("linger.ms", "5")
            .build()
            .expect("config"),
    )
    .expect("producer");
    let mut acks = Vec::new();
    for i in 0..PER_PARTITION {
        for part in 0..PARTITIONS {
            let value = format!("{part}/{i:>1000}");
            let record = ProducerRecord::new(topic, value).partition(part);
            acks.push(p.enqueue(record).await.expect("enqueue"));
        }
    }
    for a in acks {
        a.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_application_keeps_the_consumer_within_its_memory_budget() {
    let c = MockCluster::builder()
        .brokers(2)
        .seed(15)
        .build()
        .await
        .expect("mock");
    c.create_topic("mem", PARTITIONS);
    preload(&c, "mem").await;
    let mut con = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("auto.offset.reset", "earliest")
            .set("max.poll.records", "50")
            .fetch_buffer_memory(BUDGET)
            .build()
            .expect("config"),
    )
    .expect("consumer");
    con.assign((0..PARTITIONS).map(|p| TopicPartition::new("mem", p)))
        .expect("assign");
    let total = PARTITIONS as usize * PER_PARTITION as usize;
    let mut next: BTreeMap<i32, u64> = BTreeMap::new();
    let mut read = 0;
    let mut sampled_max = 0u64;
    let start = Instant::now();
    while read < total {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck at {read} of {total} records"
        );
        for r in con.poll(Duration::from_millis(100)).await.expect("poll") {
            let value = std::str::from_utf8(r.value.as_deref().expect("value")).expect("utf-8");
            let (part, seq) = value.split_once('/').expect("partition/sequence");
            assert_eq!(part.parse::<i32>().expect("partition"), r.partition);
            let want = next.entry(r.partition).or_default();
            assert_eq!(
                seq.trim().parse::<u64>().expect("sequence"),
                *want,
                "partition {}: in order, each once",
                r.partition
            );
            assert_eq!(r.offset, *want as i64);
            *want += 1;
            read += 1;
        }
        sampled_max = sampled_max.max(con.fetch_stats().buffered_bytes);
        // The application's work: the consumer's buffers fill meanwhile, up to the budget.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(next.len(), PARTITIONS as usize);
    assert!(next.values().all(|n| *n == PER_PARTITION), "{next:?}");
    let peak = con.fetch_stats().peak_buffered_bytes as usize;
    assert!(
        peak <= BUDGET + ONE_BATCH,
        "held up to {peak} bytes (sampled after polls: {sampled_max}); budget {BUDGET} + one \
         batch {ONE_BATCH}"
    );
    assert!(peak > BUDGET / 2, "the budget was used: peak {peak}");
}
