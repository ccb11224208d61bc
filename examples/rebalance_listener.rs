//! A rebalance listener that commits before partitions are taken away and logs assignments.
//!
//! `cargo run --example rebalance_listener -- --bootstrap localhost:9092 --topic demo`
//! Start a second copy with the same group and watch both revoke and reassign.

use std::time::Duration;

use clap::Parser;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::{ConsumerConfig, KafkaConsumer, RebalanceListener};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "demo")]
    topic: String,
    #[arg(long, default_value = "demo-rebalance")]
    group: String,
}

struct CommitOnRevoke;

impl RebalanceListener for CommitOnRevoke {
    async fn on_partitions_revoked(&mut self, c: &mut KafkaConsumer, tps: &[TopicPartition]) {
        // Runs inside `poll` before the partitions move: what we processed is handed over
        // at a known offset, so the next owner neither skips nor repeats records.
        match c.commit_sync().await {
            Ok(()) => println!("revoked [{}]: positions committed", show(tps)),
            Err(e) => eprintln!("revoked [{}]: commit failed: {e}", show(tps)),
        }
    }

    async fn on_partitions_assigned(&mut self, c: &mut KafkaConsumer, tps: &[TopicPartition]) {
        let own = show(&c.assignment());
        println!("assigned [{}], now own [{own}]", show(tps));
    }

    async fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, tps: &[TopicPartition]) {
        println!(
            "lost [{}] (another member may own them: no commit)",
            show(tps)
        );
    }
}

fn show<'a>(tps: impl IntoIterator<Item = &'a TopicPartition>) -> String {
    tps.into_iter()
        .map(|tp| tp.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false") // commits happen in the listener only
        .build()?;
    let mut consumer = KafkaConsumer::new(config)?;
    consumer.subscribe_with([&args.topic], CommitOnRevoke)?;

    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut total = 0usize;
    loop {
        tokio::select! {
            records = consumer.poll(Duration::from_secs(1)) => total += records?.len(),
            _ = &mut ctrl_c => break,
        }
    }
    println!("read {total} records; closing");
    // `close` runs on_partitions_revoked for what we own (committing it), then leaves the group.
    consumer.close().await?;
    Ok(())
}
