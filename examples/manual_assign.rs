//! Read every partition of a topic from its beginning to its current end, without a group.
//!
//! `cargo run --example manual_assign -- --bootstrap localhost:9092 --topic demo`

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, KafkaConsumer};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "demo")]
    topic: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .build()?,
    );
    let described = admin.describe_topics(&[&args.topic]).await?;
    let topic = described[&args.topic].as_ref().map_err(Clone::clone)?;
    let partitions: Vec<TopicPartition> = topic
        .partitions
        .iter()
        .map(|p| TopicPartition::new(&args.topic, p.partition))
        .collect();

    // No group.id: nothing is committed and no group rebalances these partitions.
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .build()?;
    let mut consumer = KafkaConsumer::new(config)?;
    consumer.assign(partitions.clone())?;
    consumer.seek_to_beginning(&partitions)?;
    let start = consumer.beginning_offsets(&partitions).await?;
    let end = consumer.end_offsets(&partitions).await?;

    // Read until every partition's position has reached the end offset taken above.
    let mut count: BTreeMap<i32, u64> = BTreeMap::new();
    let mut remaining: Vec<&TopicPartition> =
        partitions.iter().filter(|tp| end[tp] > start[tp]).collect();
    while !remaining.is_empty() {
        for record in &consumer.poll(Duration::from_secs(1)).await? {
            *count.entry(record.partition).or_default() += 1;
            if record.offset + 1 == end[&record.topic_partition()] {
                let value = record.value.as_deref().unwrap_or_default();
                let value = String::from_utf8_lossy(value);
                println!("last record of partition {}: {value}", record.partition);
            }
        }
        let mut still = Vec::new();
        for tp in remaining {
            if consumer.position(tp).await? < end[tp] {
                still.push(tp);
            }
        }
        remaining = still;
    }
    for tp in &partitions {
        let n = count.get(&tp.partition).copied().unwrap_or(0);
        println!("{tp}: offsets {}..{}, read {n} records", start[tp], end[tp]);
    }
    consumer.close().await?;
    Ok(())
}
