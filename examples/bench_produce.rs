//! Produce throughput against a broker: `count` records of `size` bytes (null keys), timed from
//! the first send to the last acknowledgement, after one untimed warm-up record. Creates the
//! topic when missing.
//! `cargo run --release --example bench_produce -- --bootstrap 127.0.0.1:9092 --count 1000000`

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex, atomic::AtomicU64, atomic::Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, KafkaProducer, ProducerConfig};
use ferrokafka::{Error, ProducerRecord};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "bench-produce")]
    topic: String,
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    #[arg(long, default_value_t = 100, help = "Value size in bytes")]
    size: usize,
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all"])]
    acks: String,
    #[arg(long, action = clap::ArgAction::Set, help = "Default: true with acks=all, else false")]
    idempotence: Option<bool>,
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[arg(long, default_value_t = 1_048_576)]
    batch_size: usize,
    /// `enqueue` (keeping each DeliveryFuture, awaited later) or `send_with_callback`.
    #[arg(long, default_value = "enqueue", value_parser = ["enqueue", "callback"])]
    mode: String,
    /// Records per transaction (`transactional.id` set); 0: no transactions.
    #[arg(long, default_value_t = 0)]
    txn_records: u64,
}

const WINDOW: usize = 200_000; // futures kept before awaiting the oldest (bounds memory)

/// (CPU s so far: utime + stime, fields 14 and 15 of /proc/self/stat; peak RSS MB: VmHWM).
fn usage(ticks_per_s: f64) -> (f64, f64) {
    let num = |v: Option<&str>| -> f64 { v.and_then(|v| v.parse().ok()).unwrap_or(0.0) };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let mut f = stat.rsplit(") ").next().unwrap_or("").split(' ').skip(11);
    let cpu = num(f.next()) + num(f.next());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    let hwm_kb = num(hwm.map(|v| v.trim_end_matches("kB").trim()));
    (cpu / ticks_per_s, hwm_kb / 1024.0)
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (servers, topic) = (&args.bootstrap, &args.topic);
    let admin = AdminClient::new(AdminConfig::builder().bootstrap_servers(servers).build()?);
    let new_topic = NewTopic::new(topic, args.partitions, 1);
    let created = admin.create_topics([new_topic]).await?;
    if let Err(e) = &created[&args.topic]
        && e.code() != Some(ErrorCode::TOPIC_ALREADY_EXISTS)
    {
        return Err(e.clone().into());
    }
    let idempotence = args.idempotence.unwrap_or(args.acks == "all");
    let producer = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .set("acks", &args.acks)
            .set("enable.idempotence", idempotence.to_string())
            .set("compression.type", &args.compression)
            .set("linger.ms", args.linger_ms.to_string())
            .set("batch.size", args.batch_size.to_string())
            .set(
                "transactional.id",
                if args.txn_records > 0 {
                    "bench-produce"
                } else {
                    ""
                },
            )
            .build()?,
    )?;
    let txn = args.txn_records > 0;
    if txn {
        producer.init_transactions().await?;
        producer.begin_transaction()?;
    }
    let words = ["kafka ", "event ", "user ", "42 "];
    let mut rng = fastrand::Rng::with_seed(7);
    let text = std::iter::repeat_with(|| words[rng.usize(..4)]).take(args.size / 2 + 4096);
    let text = Bytes::from(text.collect::<String>()); // >= 3 * (size / 2 + 4096) bytes
    let size = args.size; // 1024 distinct values: windows of one text of random words
    let values: Vec<Bytes> = (0..1024).map(|i| text.slice(i * 7..i * 7 + size)).collect();
    let record = |i: u64| ProducerRecord::new(&args.topic, values[i as usize % 1024].clone());
    producer.send(record(0)).await?; // warm-up: metadata, connection, producer id
    let clk_tck = Command::new("getconf").arg("CLK_TCK").output()?.stdout;
    let ticks: f64 = String::from_utf8_lossy(&clk_tck).trim().parse()?;
    let (cpu0, start) = (usage(ticks).0, Instant::now());
    let done = Arc::new(AtomicU64::new(0)); // callbacks run
    let failed: Arc<Mutex<Option<Error>>> = Arc::default();
    let mut pending = VecDeque::new();
    for i in 0..args.count {
        if txn && i % args.txn_records == 0 {
            producer.commit_transaction().await?; // the first one commits the warm-up record
            producer.begin_transaction()?;
        }
        if args.mode == "callback" {
            let (done, failed) = (done.clone(), failed.clone());
            let callback = move |r: ferrokafka::Result<_>| {
                let _ = r.map_err(|e| failed.lock().unwrap().replace(e));
                done.fetch_add(1, Relaxed);
            };
            producer.send_with_callback(record(i), callback).await?;
        } else {
            pending.push_back(producer.enqueue(record(i)).await?);
            if pending.len() > WINDOW {
                pending.pop_front().expect("non-empty").await?;
            }
        }
    }
    if txn {
        producer.commit_transaction().await?;
    }
    producer.flush().await;
    for f in pending {
        f.await?; // each is Ok or returns its error
    }
    // flush() should return only after every callback has run: wait (bounded) if not, and say so.
    let (count, callbacks) = (args.count, args.mode == "callback");
    let (after_flush, give_up) = (done.load(Relaxed), Instant::now() + Duration::from_secs(10));
    while callbacks && done.load(Relaxed) < count && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (elapsed, cpu) = (start.elapsed().as_secs_f64(), usage(ticks).0 - cpu0);
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e.into());
    }
    if callbacks && after_flush < count {
        let late = count - after_flush;
        eprintln!("note: flush() returned before {late} of the callbacks had run");
    }
    if callbacks && done.load(Relaxed) != count {
        let ran = done.load(Relaxed);
        return Err(format!("only {ran} of {count} callbacks ran").into());
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
