//! Rebalance time against a broker: three group members read a topic that a producer keeps
//! writing to; a fourth joins. Measures, from the moment the fourth starts, until every member
//! has read a record again (all four consuming), and the longest pause any of the first three
//! had in between. Protocols: classic eager (`range`), classic `cooperative-sticky`, and
//! KIP-848 (`consumer`, the broker's assignor).
//! `cargo run --release --example bench_rebalance -- --bootstrap 127.0.0.1:9092 --protocol consumer`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, KafkaConsumer, KafkaProducer};
use ferrokafka::{ProducerConfig, ProducerRecord};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    #[arg(long, default_value = "consumer", value_parser = ["eager", "cooperative", "consumer"])]
    protocol: String,
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Joins measured (each in a fresh group and topic).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// heartbeat.interval.ms for the classic protocols (the broker sets KIP-848's).
    #[arg(long, default_value_t = 3000)]
    heartbeat_ms: u64,
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

/// When each member last read a record, and the times it read one (member index -> instants).
type Reads = Arc<Mutex<Vec<Vec<Instant>>>>;

fn config(args: &Args, group: &str) -> Result<ConsumerConfig, Box<dyn std::error::Error>> {
    let b = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("max.poll.records", "100");
    let b = match args.protocol.as_str() {
        "consumer" => b.set("group.protocol", "consumer"),
        p => b
            .set(
                "partition.assignment.strategy",
                if p == "eager" {
                    "range"
                } else {
                    "cooperative-sticky"
                },
            )
            .set("heartbeat.interval.ms", args.heartbeat_ms.to_string()),
    };
    Ok(b.build()?)
}

fn spawn_member(
    cfg: ConsumerConfig,
    topic: String,
    index: usize,
    reads: Reads,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut c = KafkaConsumer::new(cfg).expect("consumer");
        c.subscribe([topic]).expect("subscribe");
        while !stop.load(Ordering::Acquire) {
            match c.poll(Duration::from_millis(50)).await {
                Ok(r) if !r.is_empty() => reads.lock().unwrap()[index].push(Instant::now()),
                Ok(_) => {}
                Err(e) => eprintln!("member {index}: {e}"),
            }
        }
        let _ = c.close_with_timeout(Duration::from_secs(5)).await;
    })
}

async fn round(args: &Args, n: usize) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let id = format!(
        "bench-rebalance-{}-{}-{n}",
        args.protocol,
        std::process::id()
    );
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&args.bootstrap)
            .build()?,
    );
    admin
        .create_topics([NewTopic::new(&id, args.partitions, 1)])
        .await?[&id]
        .clone()?;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let p = KafkaProducer::new(
            ProducerConfig::builder()
                .bootstrap_servers(&args.bootstrap)
                .set("linger.ms", "5")
                .build()?,
        )?;
        // The topic is known to the brokers' metadata once a record is in: a consumer that
        // subscribes before that is assigned nothing until its next metadata refresh.
        p.send(ProducerRecord::new(id.as_str(), "first").partition(0))
            .await?;
        let (stop, topic, parts) = (stop.clone(), id.clone(), args.partitions);
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                for _ in 0..parts {
                    let rec = ProducerRecord::new(topic.as_str(), i.to_string())
                        .partition((i % parts as u64) as i32);
                    drop(p.enqueue(rec).await);
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            p.close(Duration::from_secs(5)).await;
        })
    };
    let reads: Reads = Arc::new(Mutex::new(vec![Vec::new(); 4]));
    let mut members = Vec::new();
    for i in 0..3 {
        members.push(spawn_member(
            config(args, &id)?,
            id.clone(),
            i,
            reads.clone(),
            stop.clone(),
        ));
        // One at a time, each settled before the next.
        wait_all_reading(&reads, i + 1, Instant::now(), Duration::from_secs(60)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let joined = Instant::now();
    members.push(spawn_member(
        config(args, &id)?,
        id.clone(),
        3,
        reads.clone(),
        stop.clone(),
    ));
    let until = wait_all_reading(&reads, 4, joined, Duration::from_secs(120)).await?;
    // Let the first three settle, then find their longest pause around the join.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stall = {
        let r = reads.lock().unwrap();
        r[..3]
            .iter()
            .map(|times| {
                times
                    .windows(2)
                    .filter(|w| w[1] >= joined)
                    .map(|w| w[1] - w[0].max(joined))
                    .max()
                    .unwrap_or_default()
            })
            .max()
            .unwrap_or_default()
    };
    stop.store(true, Ordering::Release);
    for m in members {
        let _ = m.await;
    }
    let _ = producer.await;
    let _ = admin.delete_topics(&[&id]).await;
    Ok((until - joined, stall))
}

/// Waits until members `0..n` have each read a record after `since`; returns when the last
/// of them did.
async fn wait_all_reading(
    reads: &Reads,
    n: usize,
    since: Instant,
    limit: Duration,
) -> Result<Instant, Box<dyn std::error::Error>> {
    loop {
        {
            let r = reads.lock().unwrap();
            let firsts: Option<Vec<Instant>> = r[..n]
                .iter()
                .map(|times| times.iter().find(|t| **t >= since).copied())
                .collect();
            if let Some(f) = firsts {
                return Ok(f.into_iter().max().unwrap_or(since));
            }
        }
        if since.elapsed() > limit {
            return Err(format!("members did not all read within {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut all = Vec::new();
    for n in 0..args.rounds {
        let (until, stall) = round(&args, n).await?;
        println!(
            "{} round {n}: all 4 reading {} ms after the join; longest pause of the others {} ms",
            args.protocol,
            until.as_millis(),
            stall.as_millis()
        );
        all.push((until, stall));
    }
    all.sort();
    let median = all[all.len() / 2];
    println!(
        "{}: median of {} rounds: all reading after {} ms, others paused at most {} ms",
        args.protocol,
        all.len(),
        median.0.as_millis(),
        median.1.as_millis()
    );
    Ok(())
}
