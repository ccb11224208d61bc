//! Enqueue many records, then await their delivery futures; print where they landed.
//!
//! `cargo run --example producer -- --bootstrap localhost:9092 --topic demo --count 10000`

use std::collections::BTreeMap;
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
    #[arg(long, default_value_t = 10_000)]
    count: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = ProducerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("linger.ms", "5")
        .build()?;
    let producer = KafkaProducer::new(config)?;

    // `enqueue` returns as soon as the record is in its partition's batch (it waits only for
    // metadata or buffer space); the DeliveryFuture resolves when the broker acknowledges it.
    // `producer.send(record).await` does both at once, one record at a time.
    let mut pending = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let record = ProducerRecord::new(&args.topic, format!("value-{i}"))
            .key(format!("key-{}", i % 100))
            .header("source", "examples/producer.rs");
        pending.push(producer.enqueue(record).await?);
    }

    // partition -> (records, lowest offset, highest offset)
    let mut landed: BTreeMap<i32, (usize, i64, i64)> = BTreeMap::new();
    for delivery in pending {
        let meta = delivery.await?;
        let e = landed
            .entry(meta.partition)
            .or_insert((0, meta.offset, meta.offset));
        e.0 += 1;
        e.1 = e.1.min(meta.offset);
        e.2 = e.2.max(meta.offset);
    }
    println!("sent {} records to {}", args.count, args.topic);
    for (partition, (n, lo, hi)) in landed {
        println!("  partition {partition}: {n} records, offsets {lo}..={hi}");
    }
    producer.close(Duration::from_secs(30)).await;
    Ok(())
}
