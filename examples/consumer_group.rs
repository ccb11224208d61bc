//! A consumer group member: subscribe, poll, process, commit each batch; ctrl-c leaves cleanly.
//!
//! `cargo run --example consumer_group -- --bootstrap localhost:9092 --topic demo --group demo`
//! Start it twice with the same group to watch the partitions split between the two.

use std::time::Duration;

use clap::Parser;
use ferrokafka::{ConsumerConfig, KafkaConsumer};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "demo")]
    topic: String,
    #[arg(long, default_value = "demo-group")]
    group: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest") // where to start when the group has no commit
        .set("enable.auto.commit", "false") // we commit after processing each batch
        .build()?;
    let mut consumer = KafkaConsumer::new(config)?;
    consumer.subscribe([&args.topic])?;

    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut total = 0u64;
    loop {
        // `poll` is cancel safe: when ctrl-c wins the race no record is lost.
        let records = tokio::select! {
            records = consumer.poll(Duration::from_secs(1)) => records?,
            _ = &mut ctrl_c => break,
        };
        if records.is_empty() {
            continue;
        }
        for record in &records {
            // "Processing": a real application does its work here.
            let value = record.value.as_deref().unwrap_or_default();
            total += 1;
            if total % 10_000 == 1 {
                println!(
                    "{}-{}@{}: {}",
                    record.topic,
                    record.partition,
                    record.offset,
                    String::from_utf8_lossy(value)
                );
            }
        }
        println!("batch of {} (total {total})", records.len());
        // Commit what this batch processed, in the background; `close` waits for it.
        consumer.commit_async(Some(Box::new(|result| {
            if let Err(e) = result {
                eprintln!("commit failed: {e}");
            }
        })));
    }
    println!("ctrl-c: closing after {total} records");
    consumer.close().await?; // finishes pending commits and leaves the group
    Ok(())
}
