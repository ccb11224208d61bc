//! A work queue on a share group: workers take jobs, acknowledge each one explicitly, and
//! hand a failed job back with RELEASE so another delivery (maybe another worker) retries it;
//! a job that fails `--max-attempts` times is rejected (archived).
//!
//! `cargo run --example share_consumer -- --bootstrap localhost:9092 --topic jobs --group workers`
//!
//! The group starts at the latest offset unless its `share.auto.offset.reset` is `earliest`
//! (`kafka-configs --alter --entity-type groups ...`, or `AdminClient::incremental_alter_configs`).

use std::time::Duration;

use clap::Parser;
use ferrokafka::share_consumer::{AcknowledgeType, ShareConsumerRecord};
use ferrokafka::{KafkaShareConsumer, ShareConsumerConfig};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "jobs")]
    topic: String,
    #[arg(long, default_value = "workers")]
    group: String,
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Deliveries after which a failing job is rejected instead of released.
    #[arg(long, default_value_t = 3)]
    max_attempts: i16,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

/// The job itself: here, a value ending in '7' fails on its first delivery.
fn process(record: &ShareConsumerRecord) -> Result<(), String> {
    let text = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
    if text.ends_with('7') && record.delivery_count == 1 {
        return Err(format!("job {text} failed"));
    }
    Ok(())
}

async fn worker(id: usize, args: &Args) -> Result<(usize, usize, usize), ferrokafka::Error> {
    let config = ShareConsumerConfig::from_properties([
        ("bootstrap.servers", args.bootstrap.as_str()),
        ("group.id", args.group.as_str()),
        ("share.acknowledgement.mode", "explicit"),
        ("max.poll.records", "100"),
    ])?;
    let mut consumer = KafkaShareConsumer::new(config)?;
    consumer.set_acknowledgement_commit_callback(Box::new(move |tp, offsets, err| {
        if let Some(e) = err {
            eprintln!(
                "worker {id}: {} acknowledgements on {tp} failed: {e}",
                offsets.len()
            );
        }
    }));
    consumer.subscribe([args.topic.clone()])?;
    let (mut done, mut retried, mut rejected) = (0, 0, 0);
    let stop = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    while tokio::time::Instant::now() < stop {
        for record in consumer.poll(Duration::from_millis(500)).await? {
            let kind = match process(&record) {
                Ok(()) => {
                    done += 1;
                    AcknowledgeType::Accept
                }
                Err(why) if record.delivery_count < args.max_attempts => {
                    println!("worker {id}: {why}; released for another try");
                    retried += 1;
                    AcknowledgeType::Release
                }
                Err(why) => {
                    println!("worker {id}: {why}; giving up");
                    rejected += 1;
                    AcknowledgeType::Reject
                }
            };
            consumer.acknowledge(&record, kind)?;
        }
        // Sent with the next poll otherwise; committing now keeps the redelivery prompt.
        consumer.commit_async()?;
    }
    consumer.close().await?;
    Ok((done, retried, rejected))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::sync::Arc::new(Args::parse());
    let mut tasks = Vec::new();
    for id in 0..args.workers {
        let args = std::sync::Arc::clone(&args);
        tasks.push(tokio::spawn(async move { worker(id, &args).await }));
    }
    for (id, t) in tasks.into_iter().enumerate() {
        let (done, retried, rejected) = t.await??;
        println!("worker {id}: {done} done, {retried} released for retry, {rejected} rejected");
    }
    Ok(())
}
