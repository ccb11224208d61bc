//! Consume throughput against a broker: preloads `count` records of `size` bytes into a fresh
//! topic (untimed), then times one consumer reading them all from offset 0, touching every
//! value. Prints records/s, MB/s, CPU seconds per million records and peak RSS.
//! `cargo run --release --example bench_consume -- --bootstrap 127.0.0.1:9092 --size 100`
//! (`--partitions 1000 --hot-partitions 10 --max-partition-fetch-bytes 65536
//! --no-fetch-sessions` against the same without the last flag: what KIP-227 sessions save)

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, KafkaConsumer, KafkaProducer};
use ferrokafka::{ProducerConfig, ProducerRecord};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    #[arg(long, default_value_t = 100, help = "Value size in bytes")]
    size: usize,
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression: String,
    /// fetch.max.wait.ms for the consumer.
    #[arg(long, default_value_t = 500)]
    fetch_max_wait_ms: u64,
    /// Full fetches every time (no KIP-227 session), to measure what sessions save.
    #[arg(long)]
    no_fetch_sessions: bool,
    /// Records go to the first N partitions only (0: spread over all): the rest stay idle, as
    /// most partitions of a large assignment are at any moment.
    #[arg(long, default_value_t = 0)]
    hot_partitions: i32,
    /// max.partition.fetch.bytes for the consumer (default 1 MiB).
    #[arg(long, default_value_t = 1 << 20)]
    max_partition_fetch_bytes: usize,
}

/// (CPU s so far: utime + stime from /proc/self/stat; peak RSS MB: VmHWM).
fn usage(ticks_per_s: f64) -> (f64, f64) {
    let num = |v: Option<&str>| -> f64 { v.and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let mut f = stat.rsplit(") ").next().unwrap_or("").split(' ').skip(11);
    let cpu = num(f.next()) + num(f.next());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    (
        cpu / ticks_per_s,
        num(hwm.map(|v| v.trim_end_matches("kB").trim())) / 1024.0,
    )
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let topic = format!("bench-consume-{}", std::process::id());
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .build()?,
    );
    let created = admin
        .create_topics([NewTopic::new(&topic, args.partitions, 1)])
        .await?;
    created[&topic].clone()?;

    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .compression(&args.compression)
            .set("linger.ms", "5")
            .set("batch.size", "1048576")
            .build()?,
    )?;
    let pool: Vec<Bytes> = (0..1024u32)
        .map(|i| Bytes::from(format!("{i:0>width$}", width = args.size).into_bytes()))
        .collect();
    for i in 0..args.count {
        let mut rec = ProducerRecord::new(&*topic, pool[(i % 1024) as usize].clone());
        if args.hot_partitions > 0 {
            rec = rec.partition((i % args.hot_partitions as u64) as i32);
        }
        drop(producer.enqueue(rec).await.map_err(|e| e.error)?);
    }
    producer.close(Duration::from_secs(60)).await;

    let mut consumer = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .set("group.id", topic.as_str())
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("max.poll.records", "10000")
            .set("fetch.max.wait.ms", args.fetch_max_wait_ms.to_string())
            .set(
                "max.partition.fetch.bytes",
                args.max_partition_fetch_bytes.to_string(),
            )
            .build()?,
    )?;
    consumer.subscribe([topic.as_str()])?;
    consumer.set_fetch_sessions(!args.no_fetch_sessions);
    let ticks: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0);
    let (cpu0, _) = usage(ticks);
    let start = Instant::now();
    let (mut n, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    while n < args.count {
        if start.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {n} of {} records arrived", args.count).into());
        }
        for r in consumer.poll(Duration::from_millis(500)).await? {
            let v = r.value.as_deref().unwrap_or_default();
            checksum = checksum.wrapping_add(v.iter().map(|b| u64::from(*b)).sum::<u64>());
            bytes += v.len() as u64;
            n += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let (cpu1, rss) = usage(ticks);
    println!(
        "consumed {n} records of {} B ({}): {:.0} records/s, {:.1} MB/s, {:.2} CPU s per million records, peak RSS {rss:.0} MB (checksum {checksum})",
        args.size,
        args.compression,
        n as f64 / secs,
        bytes as f64 / secs / 1e6,
        (cpu1 - cpu0) / (n as f64 / 1e6),
    );
    let s = consumer.fetch_stats();
    println!(
        "fetch sessions {}: {} requests ({} full), {} partitions named, {} request bytes ({:.1} per record)",
        if args.no_fetch_sessions { "off" } else { "on" },
        s.requests,
        s.full_requests,
        s.partitions_sent,
        s.request_bytes,
        s.request_bytes as f64 / n as f64,
    );
    consumer.close().await?;
    admin.delete_topics(&[&topic]).await?;
    Ok(())
}
