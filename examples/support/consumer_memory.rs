//! The consumer mode of `memory_bench`: peak RSS while a slow application reads many
//! partitions from Apache Kafka, against `fetch.buffer.memory` + 32 MiB.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka::admin::NewTopic;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::{
    AdminClient, AdminConfig, ConsumerConfig, KafkaProducer, ProducerConfig, ProducerRecord,
};

pub struct ConsumeArgs<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub records: u64,
    pub size: usize,
    pub fetch_buffer_memory: usize,
    /// The application's time per polled batch.
    pub work: Duration,
}

/// Creates the topic and writes `records` records of `size` bytes, record i to partition
/// i % partitions. Run in a process of its own: the producer's memory is not the consumer's.
pub async fn fill(a: &ConsumeArgs<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(a.bootstrap)
            .build()?,
    );
    let created = admin
        .create_topics([NewTopic::new(a.topic, a.partitions, 1)])
        .await?;
    created[a.topic].clone()?;
    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(a.bootstrap)
            .set("linger.ms", "20")
            .build()?,
    )?;
    let value = Bytes::from(vec![b'x'; a.size]);
    let partitions = a.partitions.max(1) as u64;
    for i in 0..a.records {
        let record = ProducerRecord::new(a.topic, value.clone()).partition((i % partitions) as i32);
        drop(producer.enqueue(record).await.map_err(|e| e.error)?);
    }
    producer.flush().await;
    producer.close(Duration::from_secs(60)).await;
    println!("filled {} with {} records", a.topic, a.records);
    Ok(())
}

/// Reads every record of the topic, the application taking `work` per poll. Returns the peak
/// RSS in MiB, or an error when records are missing.
pub async fn consume(
    a: &ConsumeArgs<'_>,
    status_mb: fn(&str) -> f64,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(a.bootstrap)
            .set("auto.offset.reset", "earliest")
            .fetch_buffer_memory(a.fetch_buffer_memory)
            .build()?,
    )?;
    consumer.assign((0..a.partitions).map(|p| TopicPartition::new(a.topic, p)))?;
    let baseline = status_mb("VmRSS:");
    let start = Instant::now();
    let mut read = 0u64;
    let mut bytes = 0usize;
    while read < a.records {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(format!("stuck at {read} of {} records", a.records).into());
        }
        let records = consumer.poll(Duration::from_millis(500)).await?;
        for r in &records {
            bytes += r.value.as_ref().map_or(0, |v| v.len());
        }
        read += records.len() as u64;
        drop(records);
        tokio::time::sleep(a.work).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let peak = status_mb("VmHWM:");
    let stats = consumer.fetch_stats();
    println!(
        "consumer: {} partitions, {read} records ({:.0} MB) in {elapsed:.1} s ({:.0} records/s, \
         {} ms of work per poll); RSS after start {baseline:.1} MiB, peak RSS {peak:.1} MiB; \
         peak held by the fetcher {:.1} MiB; fetch.buffer.memory {:.1} MiB",
        a.partitions,
        bytes as f64 / 1e6,
        read as f64 / elapsed,
        a.work.as_millis(),
        stats.peak_buffered_bytes as f64 / f64::from(1 << 20),
        a.fetch_buffer_memory as f64 / f64::from(1 << 20),
    );
    consumer.close().await?;
    Ok(peak)
}
