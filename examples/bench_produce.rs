//! End-to-end produce throughput against a broker: `count` records of `size` bytes (null keys),
//! timed from the first send to the last acknowledgement, after one untimed warm-up record
//! (metadata, connection, producer id).
//!
//! `cargo run --release --example bench_produce -- --bootstrap 127.0.0.1:9092 --count 1000000`

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, KafkaProducer, ProducerConfig};
use ferrokafka::{Error, ProducerRecord};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `enqueue`, keeping each DeliveryFuture and awaiting it later.
    Enqueue,
    /// `send_with_callback`, counting completions.
    Callback,
}

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "bench-produce")]
    topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all"])]
    acks: String,
    /// Default: true with acks=all, false otherwise.
    #[arg(long, action = clap::ArgAction::Set)]
    idempotence: Option<bool>,
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[arg(long, default_value_t = 1_048_576)]
    batch_size: usize,
    #[arg(long, value_enum, default_value_t = Mode::Enqueue)]
    mode: Mode,
}

/// Futures kept before awaiting the oldest (bounds memory; `buffer.memory` bounds more).
const WINDOW: usize = 200_000;

/// (user + system CPU seconds so far, from /proc/self/stat; peak RSS in MB, from VmHWM).
fn usage(ticks_per_s: f64) -> (f64, f64) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let stat = read("/proc/self/stat");
    // After the ')' that closes the command name comes field 3; utime and stime are 14 and 15.
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    let status = read("/proc/self/status");
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB"));
    let hwm_kb: f64 = hwm.and_then(|v| v.trim().parse().ok()).unwrap_or(0.0);
    ((field(11) + field(12)) / ticks_per_s, hwm_kb / 1024.0)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let admin_config = AdminConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .build()?;
    let topic = NewTopic::new(&args.topic, args.partitions, 1);
    let created = AdminClient::new(admin_config)
        .create_topics([topic])
        .await?;
    if let Err(e) = &created[&args.topic]
        && e.code() != Some(ErrorCode::TOPIC_ALREADY_EXISTS)
    {
        return Err(e.clone().into());
    }
    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .set("acks", &args.acks)
            .set(
                "enable.idempotence",
                args.idempotence.unwrap_or(args.acks == "all").to_string(),
            )
            .set("compression.type", &args.compression)
            .set("linger.ms", args.linger_ms.to_string())
            .set("batch.size", args.batch_size.to_string())
            .build()?,
    )?;
    // 1024 distinct values: windows at different offsets of one text of random words.
    let (mut rng, words) = (
        fastrand::Rng::with_seed(7),
        ["kafka ", "event ", "user ", "42 "],
    );
    let mut text = String::new();
    while text.len() < 1024 * 7 + args.size {
        text.push_str(words[rng.usize(..words.len())]);
    }
    let values: Vec<Bytes> = (0..1024)
        .map(|i| Bytes::copy_from_slice(&text.as_bytes()[i * 7..i * 7 + args.size]))
        .collect();
    let record = |i: u64| ProducerRecord::new(&args.topic, values[i as usize % 1024].clone());
    producer.send(record(0)).await?; // warm-up: metadata, connection, producer id

    let ticks = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok();
    let ticks = ticks.and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok());
    let ticks: f64 = ticks.unwrap_or(100.0);
    let (cpu0, start) = (usage(ticks).0, Instant::now());
    let acked = Arc::new(AtomicU64::new(0));
    let failed: Arc<Mutex<Option<Error>>> = Arc::default();
    let mut pending = VecDeque::new();
    for i in 0..args.count {
        if args.mode == Mode::Callback {
            let (acked, failed) = (acked.clone(), failed.clone());
            let callback = move |r: ferrokafka::Result<_>| match r {
                Ok(_) => _ = acked.fetch_add(1, Relaxed),
                Err(e) => _ = failed.lock().unwrap().get_or_insert(e),
            };
            producer.send_with_callback(record(i), callback).await?;
        } else {
            pending.push_back(producer.enqueue(record(i)).await?);
            if pending.len() > WINDOW {
                pending.pop_front().expect("non-empty").await?;
                acked.fetch_add(1, Relaxed);
            }
        }
    }
    producer.flush().await;
    for f in pending {
        f.await?;
        acked.fetch_add(1, Relaxed);
    }
    let (elapsed, cpu) = (start.elapsed().as_secs_f64(), usage(ticks).0 - cpu0);
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e.into());
    }
    if acked.load(Relaxed) != args.count {
        return Err(format!(
            "{} of {} records acknowledged",
            acked.load(Relaxed),
            args.count
        )
        .into());
    }
    producer.close(Duration::from_secs(10)).await;
    let (n, bytes) = (args.count as f64, (args.count * args.size as u64) as f64);
    println!(
        "records {n}  bytes {bytes}  elapsed {elapsed:.3} s  {:.0} msgs/s  {:.1} MB/s\n\
         CPU {cpu:.2} s ({:.2} CPU s per million records)  peak RSS {:.1} MB",
        n / elapsed,
        bytes / elapsed / 1e6,
        cpu / (n / 1e6),
        usage(ticks).1
    );
    Ok(())
}
