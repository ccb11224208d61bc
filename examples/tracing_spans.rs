//! `tracing_spans`: sends and consumes a few records with ferrokafka's OpenTelemetry-style
//! messaging spans (`send`, `poll`, `process`) printed to stdout as each closes, with their
//! attributes (messaging.system, messaging.destination.name, partition, offset, client id,
//! consumer group), and ferrokafka's INFO events (connections lost and recovered,
//! rebalances, fencing). An OpenTelemetry exporter would take the same spans through a
//! `tracing-opentelemetry` layer with the same filter.
//!
//! `cargo run --example tracing_spans -- --topic t1`

use std::time::Duration;

use clap::Parser;
use ferrokafka::{ConsumerConfig, KafkaConsumer, KafkaProducer, ProducerConfig, ProducerRecord};
use tracing_subscriber::fmt::format::FmtSpan;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long)]
    topic: String,
    #[arg(long, default_value = "tracing-example")]
    group: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter("ferrokafka::messaging=debug,ferrokafka=info")
        .with_span_events(FmtSpan::CLOSE)
        .init();

    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .client_id("tracing-producer")
            .build()?,
    )?;
    for i in 0..3 {
        producer
            .send(ProducerRecord::new(&args.topic, format!("value {i}")))
            .await?;
    }
    producer.close(Duration::from_secs(5)).await;

    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .client_id("tracing-consumer")
            .group_id(&args.group)
            .set("auto.offset.reset", "earliest")
            .build()?,
    )?;
    consumer.subscribe([args.topic.as_str()])?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < 3 && tokio::time::Instant::now() < deadline {
        for record in &consumer.poll(Duration::from_millis(500)).await? {
            let _span = consumer.process_span(record).entered();
            seen += 1;
        }
    }
    consumer.close().await?;
    Ok(())
}
