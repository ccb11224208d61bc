//! `prometheus_metrics`: produces and consumes a few records, then prints the clients' metrics
//! as a Prometheus scrape (text format), rendered in-process by `metrics-exporter-prometheus`
//! through the `metrics` crate facade. A service would serve `handle.render()` on its
//! `/metrics` endpoint instead.
//!
//! `cargo run --example prometheus_metrics --features metrics -- --topic t1`

use std::time::Duration;

use clap::Parser;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::{ConsumerConfig, KafkaConsumer, KafkaProducer, ProducerConfig, ProducerRecord};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    /// Records to produce (to partition 0) and then read back.
    #[arg(long, default_value_t = 1000)]
    records: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Installed before the clients are created: they register their metrics with it then.
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;

    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .client_id("example-producer")
            .build()?,
    )?;
    let mut acks = Vec::with_capacity(args.records);
    for i in 0..args.records {
        let record = ProducerRecord::new(&args.topic, format!("record {i}")).partition(0);
        acks.push(producer.enqueue(record).await.map_err(|e| e.error)?);
    }
    for ack in acks {
        ack.await?;
    }
    producer.close(Duration::from_secs(5)).await;

    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .client_id("example-consumer")
            .set("auto.offset.reset", "earliest")
            .build()?,
    )?;
    let tp = TopicPartition::new(&args.topic, 0);
    let end = consumer.end_offsets(std::slice::from_ref(&tp)).await?[&tp];
    consumer.assign([tp.clone()])?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while consumer.position(&tp).await? < end && tokio::time::Instant::now() < deadline {
        consumer.poll(Duration::from_millis(200)).await?;
    }
    consumer.close().await?;

    print!("{}", handle.render());
    Ok(())
}
