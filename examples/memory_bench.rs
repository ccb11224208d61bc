//! Peak memory of a producer whose broker reads slowly: `--records` records of `--size` bytes
//! to an in-process MockCluster in discard mode that reads at most `--read-mb-per-s` per
//! connection, so the producer spends most of the run with `buffer.memory` full and senders
//! blocked. Prints the process's peak RSS (VmHWM) against `buffer.memory` + 32 MiB.
//!
//! `cargo run --release --features mock --example memory_bench -- --acks 1 --records 1000000`
//! (`scripts/bench-memory` runs acks=0, 1 and all). Exit status 2 when the peak is over the
//! bound.
//!
//! Consumer mode, against Apache Kafka: `--consume-from HOST:PORT --fill` creates topic
//! `--topic` with `--partitions` partitions and writes `--records` records of `--size` bytes
//! (a process of its own); then `--consume-from HOST:PORT` (same flags) reads them all with an
//! application taking `--work-ms` per poll, and checks the peak RSS against
//! `--fetch-buffer-memory` + 32 MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use ferrokafka::mock::MockCluster;
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};

#[path = "support/consumer_memory.rs"]
mod consumer_memory;

/// What the peak RSS may exceed `buffer.memory` by: runtime, code, allocator slack and the
/// MockCluster itself.
const SLACK_MB: f64 = 32.0;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    #[arg(long, default_value_t = 1000, help = "Value size in bytes")]
    size: usize,
    #[arg(long, default_value = "1", value_parser = ["0", "1", "all"])]
    acks: String,
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// How fast each broker connection reads requests, in MB (10^6 bytes) per second; 0: as
    /// fast as requests come.
    #[arg(long, default_value_t = 100.0)]
    read_mb_per_s: f64,
    /// `buffer.memory` in bytes (the producer's default: 32 MiB).
    #[arg(long, default_value_t = 32 << 20)]
    buffer_memory: usize,
    /// Extra producer settings, as key=value (repeatable).
    #[arg(long = "set")]
    props: Vec<String>,
    /// Consumer mode: the Apache Kafka to read from (and `--fill`).
    #[arg(long)]
    consume_from: Option<String>,
    /// Consumer mode: only create and fill the topic.
    #[arg(long)]
    fill: bool,
    #[arg(long, default_value = "memory-consume")]
    topic: String,
    /// Consumer mode: `fetch.buffer.memory` in bytes (the consumer's default: 64 MiB).
    #[arg(long, default_value_t = 64 << 20)]
    fetch_buffer_memory: usize,
    /// Consumer mode: the application's time per poll, in ms.
    #[arg(long, default_value_t = 5)]
    work_ms: u64,
}

/// A line of /proc/self/status, in MiB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let result = match &args.consume_from {
        Some(bootstrap) => consumer_mode(&args, bootstrap).await,
        None => run(&args).await,
    };
    match result {
        Ok(over) if over => std::process::exit(2),
        Ok(_) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// The consumer mode; true when the peak RSS is over the bound.
async fn consumer_mode(args: &Args, bootstrap: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let a = consumer_memory::ConsumeArgs {
        bootstrap,
        topic: &args.topic,
        partitions: args.partitions,
        records: args.records,
        size: args.size,
        fetch_buffer_memory: args.fetch_buffer_memory,
        work: Duration::from_millis(args.work_ms),
    };
    if args.fill {
        consumer_memory::fill(&a).await?;
        return Ok(false);
    }
    let peak = consumer_memory::consume(&a, status_mb).await?;
    let bound = args.fetch_buffer_memory as f64 / f64::from(1 << 20) + SLACK_MB;
    let over = peak > bound;
    println!(
        "peak RSS {peak:.1} MiB, bound {bound:.1} MiB: {}",
        if over { "OVER" } else { "within" }
    );
    Ok(over)
}

/// Runs the benchmark; true when the peak RSS is over the bound.
async fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let cluster = MockCluster::builder().build().await?;
    cluster.set_discard(true);
    cluster.create_topic("memory", args.partitions);
    let mut config = ProducerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .set("acks", &args.acks)
        .set("buffer.memory", args.buffer_memory.to_string())
        .set("max.block.ms", "600000")
        .set("delivery.timeout.ms", "600000");
    for kv in &args.props {
        let (k, v) = kv.split_once('=').ok_or("--set takes key=value")?;
        config = config.set(k, v);
    }
    let producer = KafkaProducer::new(config.build()?)?;
    // 1024 distinct values of `size` bytes: windows of one random text.
    let mut rng = fastrand::Rng::with_seed(7);
    let text: Bytes = (0..args.size + 1024 * 7)
        .map(|_| rng.alphanumeric() as u8)
        .collect::<Vec<u8>>()
        .into();
    let values: Vec<Bytes> = (0..1024)
        .map(|i| text.slice(i * 7..i * 7 + args.size))
        .collect();
    let partitions = args.partitions.max(1) as u64;
    let record = |i: u64| {
        ProducerRecord::new("memory", values[i as usize % values.len()].clone())
            .partition((i % partitions) as i32)
    };
    for i in 0..partitions {
        producer.send(record(i)).await?; // warm-up: metadata, connection, producer id
    }
    let baseline = status_mb("VmRSS:");
    cluster.set_read_rate((args.read_mb_per_s > 0.0).then_some((args.read_mb_per_s * 1e6) as u64));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    for i in 0..args.records {
        let (ok, failed) = (ok.clone(), failed.clone());
        let callback = move |r: ferrokafka::Result<_>| {
            let n = if r.is_ok() { ok } else { failed };
            n.fetch_add(1, Relaxed);
        };
        producer
            .send_with_callback(record(i), callback)
            .await
            .map_err(|e| e.error)?;
    }
    producer.flush().await;
    let elapsed = start.elapsed().as_secs_f64();
    producer.close(Duration::from_secs(10)).await;
    let peak = status_mb("VmHWM:");
    let memory = args.buffer_memory as f64 / f64::from(1 << 20);
    let over = peak > memory + SLACK_MB;
    println!(
        "acks={} records={} size={} partitions={} read={} MB/s: {:.1} s, {:.0} records/s, \
         delivered {} failed {}; RSS after warm-up {:.1} MiB, peak RSS {:.1} MiB, \
         buffer.memory {:.1} MiB, bound {:.1} MiB: {}",
        args.acks,
        args.records,
        args.size,
        args.partitions,
        args.read_mb_per_s,
        elapsed,
        args.records as f64 / elapsed,
        ok.load(Relaxed),
        failed.load(Relaxed),
        baseline,
        peak,
        memory,
        memory + SLACK_MB,
        if over { "OVER" } else { "within" },
    );
    Ok(over)
}
