//! Send with a completion callback per record, count outcomes with atomics, then flush.
//!
//! `cargo run --example producer_callback -- --bootstrap localhost:9092 --topic demo`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "demo")]
    topic: String,
    /// Records to send.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
}

#[derive(Default)]
struct Outcomes {
    acked: AtomicUsize,
    failed: AtomicUsize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = ProducerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("compression.type", "lz4")
        .build()?;
    let producer = KafkaProducer::new(config)?;
    let outcomes = Arc::new(Outcomes::default());

    // One shared name for every record: `&args.topic` would copy it per record.
    let topic: Arc<str> = Arc::from(args.topic.as_str());
    for i in 0..args.count {
        let record = ProducerRecord::new(&topic, format!("event {i}"));
        let outcomes = outcomes.clone();
        // The callback runs on the producer's sender task: keep it short, never block in it.
        producer
            .send_with_callback(record, move |result| match result {
                Ok(_) => {
                    outcomes.acked.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if outcomes.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first failure: {e}");
                    }
                }
            })
            .await?;
    }
    // Every record enqueued above has completed (and its callback has run) once flush returns.
    producer.flush().await;
    let acked = outcomes.acked.load(Ordering::Relaxed);
    let failed = outcomes.failed.load(Ordering::Relaxed);
    println!("{acked} acknowledged, {failed} failed, of {}", args.count);
    producer.close(Duration::from_secs(30)).await;
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(())
}
