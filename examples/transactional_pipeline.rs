//! Exactly-once consume-transform-produce: records of `--input` are upper-cased into
//! `--output`, and the consumed offsets are committed in the same transaction, so every input
//! record shows up in the output exactly once for read_committed readers, across crashes.
//!
//! `cargo run --example transactional_pipeline -- --bootstrap localhost:9092 --input in --output out`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrokafka::consumer::{OffsetAndMetadata, TopicPartition};
use ferrokafka::{
    ConsumerConfig, Error, KafkaConsumer, KafkaProducer, ProducerConfig, ProducerRecord,
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "pipeline-in")]
    input: String,
    #[arg(long, default_value = "pipeline-out")]
    output: String,
    /// One id per pipeline instance: a restarted instance fences its previous incarnation.
    #[arg(long, default_value = "pipeline-1")]
    transactional_id: String,
    /// Stop after this many ms without input (0: run forever).
    #[arg(long, default_value_t = 0)]
    idle_exit_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .set("group.id", "transactional-pipeline")
            .set("enable.auto.commit", "false") // offsets go into the transaction instead
            .set("isolation.level", "read_committed") // never read another one's aborted data
            .set("auto.offset.reset", "earliest")
            .build()?,
    )?;
    consumer.subscribe([&args.input])?;
    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .set("transactional.id", &args.transactional_id)
            .build()?,
    )?;
    producer.init_transactions().await?;

    let mut last_input = Instant::now();
    loop {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        if records.is_empty() {
            if args.idle_exit_ms > 0
                && last_input.elapsed() > Duration::from_millis(args.idle_exit_ms)
            {
                break;
            }
            continue;
        }
        last_input = Instant::now();
        producer.begin_transaction()?;
        let mut offsets = BTreeMap::new();
        for r in &records {
            let value = r.value.as_deref().unwrap_or_default().to_ascii_uppercase();
            let out =
                ProducerRecord::new(&args.output, value).key(r.key.clone().unwrap_or_default());
            producer.send_with_callback(out, |_| {}).await?; // outcome checked by the commit
            offsets.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
        }
        let group = consumer.group_metadata().ok_or("no group")?;
        let done = match producer.send_offsets_to_transaction(&offsets, &group).await {
            Ok(()) => producer.commit_transaction().await,
            refused => refused,
        };
        match done {
            Ok(()) => {}
            Err(Error::TransactionAbortable(reason)) => {
                // Undo, and read the batch again from the last committed offsets.
                eprintln!("aborting: {reason}");
                producer.abort_transaction().await?;
                let parts: Vec<TopicPartition> = offsets.keys().cloned().collect();
                for (tp, committed) in consumer.committed(&parts).await? {
                    match committed {
                        Some(o) => consumer.seek(&tp, o.offset)?,
                        None => consumer.seek_to_beginning(std::slice::from_ref(&tp))?,
                    }
                }
            }
            // Fenced (a newer instance took over) or fatal: this instance must stop.
            Err(e) => return Err(e.into()),
        }
    }
    producer.close(Duration::from_secs(10)).await;
    Ok(consumer.close().await?)
}
