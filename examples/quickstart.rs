//! The main job, end to end: describe the cluster, create a topic, produce `--count` records of
//! `--size` bytes, consume them all back in a consumer group, check that exactly `--count`
//! came back, and print the throughput of both sides.
//!
//! `cargo run --release --example quickstart -- --bootstrap localhost:9092`, or on the
//! in-process MockCluster (no broker, no Java):
//! `cargo run --release --features mock --example quickstart -- --mock`

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use ferrokafka::admin::NewTopic;
use ferrokafka::config::Client;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, ErrorCode, KafkaConsumer};
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord, RecordMetadata};

#[path = "support/client_props.rs"]
mod client_props;

#[derive(Parser)]
struct Args {
    /// Broker address(es), comma separated.
    #[arg(long, default_value = "localhost:9092")]
    bootstrap: String,
    /// Records to produce and consume.
    #[arg(long, default_value_t = 1_000_000)]
    count: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Run against an in-process MockCluster instead of `--bootstrap` (needs `--features mock`).
    #[arg(long)]
    mock: bool,
    /// Any client property (-X KEY=VALUE, --config FILE), e.g. for a secured cluster.
    #[command(flatten)]
    client: client_props::ClientProps,
}

const PARTITIONS: i32 = 6;
/// Delivery futures kept before awaiting the oldest (`buffer.memory` bounds the bytes).
const WINDOW: usize = 100_000;

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn run(mut args: Args) -> Result<(), BoxError> {
    // Kept alive until the job ends: dropping it stops the in-process brokers.
    let _mock = if args.mock {
        Some(start_mock(&mut args).await?)
    } else {
        None
    };
    let mut admin = AdminConfig::builder().bootstrap_servers(&args.bootstrap);
    for (k, v) in args.client.for_client(Client::Admin)? {
        admin = admin.set(k, v);
    }
    let admin = AdminClient::new(admin.build()?);
    if args.mock {
        println!("in-process MockCluster at {}", args.bootstrap);
    } else {
        let cluster = admin.describe_cluster().await?;
        let id = cluster.cluster_id.as_deref().unwrap_or("(no id)");
        println!("cluster {id}");
        for n in &cluster.nodes {
            let controller = cluster.controller.as_ref() == Some(n);
            let role = if controller { " (controller)" } else { "" };
            println!("  broker {} at {}{role}", n.id, n.addr());
        }
    }

    let topic = create_topic(&admin).await?;
    println!("topic {topic}: {PARTITIONS} partitions");

    let elapsed = produce(&args, &topic).await?;
    report("produced", &args, elapsed);

    let (elapsed, consumed) = consume(&args, &topic).await?;
    if consumed != args.count {
        return Err(format!("consumed {consumed} records, expected {}", args.count).into());
    }
    report("consumed", &args, elapsed);
    Ok(())
}

#[cfg(feature = "mock")]
async fn start_mock(args: &mut Args) -> Result<ferrokafka::mock::MockCluster, BoxError> {
    let cluster = ferrokafka::mock::MockCluster::builder()
        .brokers(1)
        .build()
        .await?;
    args.bootstrap = cluster.bootstrap_servers();
    Ok(cluster)
}

#[cfg(not(feature = "mock"))]
async fn start_mock(_: &mut Args) -> Result<(), BoxError> {
    Err("--mock needs the MockCluster: build with `--features mock`".into())
}

/// Creates `quickstart`, or, when it exists already, a fresh topic so that counts are exact.
async fn create_topic(admin: &AdminClient) -> Result<String, BoxError> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    for name in ["quickstart".to_string(), format!("quickstart-{ms}")] {
        let created = admin
            .create_topics([NewTopic::new(&name, PARTITIONS, 1)])
            .await?;
        match &created[&name] {
            Ok(()) => return Ok(name),
            Err(e) if e.code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => {
                println!("topic {name} exists already");
            }
            Err(e) => return Err(e.clone().into()),
        }
    }
    Err("no fresh topic name".into())
}

/// Enqueues every record, then waits for all acknowledgements. Returns the time taken.
async fn produce(args: &Args, topic: &str) -> Result<Duration, BoxError> {
    let mut config = ProducerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("linger.ms", "5")
        .set("batch.size", "1048576");
    for (k, v) in args.client.for_client(Client::Producer)? {
        config = config.set(k, v);
    }
    let config = config.build()?;
    let producer = KafkaProducer::new(config)?;
    // Values made up front, so the timing is the client's: 64 distinct ones, shared (a clone
    // of `Bytes` is a reference count).
    let values: Vec<Bytes> = (0..64u8)
        .map(|i| Bytes::from(vec![b'a' + i % 26; args.size]))
        .collect();

    // Highest acknowledged offset per partition: on a new topic, exactly `count` distinct
    // acknowledgements make the partitions hold offsets 0..=highest, `count` records in all.
    let mut highest: BTreeMap<i32, i64> = BTreeMap::new();
    let mut acknowledged = |meta: RecordMetadata| {
        let h = highest.entry(meta.partition).or_insert(-1);
        *h = (*h).max(meta.offset);
    };
    let start = Instant::now();
    let mut pending = VecDeque::with_capacity(WINDOW);
    for i in 0..args.count {
        let record = ProducerRecord::new(topic, values[i % values.len()].clone());
        pending.push_back(producer.enqueue(record).await?);
        if pending.len() == WINDOW {
            acknowledged(pending.pop_front().expect("window is full").await?);
        }
    }
    for delivery in pending {
        acknowledged(delivery.await?);
    }
    let elapsed = start.elapsed();
    producer.close(Duration::from_secs(30)).await;
    let stored: i64 = highest.values().map(|h| h + 1).sum();
    if stored != args.count as i64 {
        let n = args.count;
        return Err(format!("{n} records acknowledged, at offsets that hold only {stored}").into());
    }
    Ok(elapsed)
}

/// Reads the topic from the start in a fresh group until `count` records came, then checks
/// that no more follow. Returns the time taken and the number of records read.
async fn consume(args: &Args, topic: &str) -> Result<(Duration, usize), BoxError> {
    let mut config = ConsumerConfig::builder()
        .bootstrap_servers(&args.bootstrap)
        .set("group.id", format!("{topic}-group"))
        .set("auto.offset.reset", "earliest")
        .set("max.poll.records", "5000");
    for (k, v) in args.client.for_client(Client::Consumer)? {
        config = config.set(k, v);
    }
    let config = config.build()?;
    let mut consumer = KafkaConsumer::new(config)?;
    consumer.subscribe([topic])?;

    let start = Instant::now();
    let (mut count, mut bytes, mut last_data, mut first) = (0, 0, start, None);
    while count < args.count && last_data.elapsed() < Duration::from_secs(30) {
        let records = consumer.poll(Duration::from_secs(1)).await?;
        if !records.is_empty() {
            last_data = Instant::now();
            first.get_or_insert(start.elapsed());
        }
        for r in &records {
            count += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len());
        }
    }
    let elapsed = start.elapsed();
    if let Some(first) = first {
        println!("joined group {topic}-group, first records after {first:.2?}");
    }
    if bytes != count * args.size {
        return Err(format!(
            "consumed {bytes} value bytes, expected {}",
            count * args.size
        )
        .into());
    }
    // Anything beyond `count` would be a duplicate: give it a moment to show up.
    count += consumer.poll(Duration::from_millis(500)).await?.len();
    consumer.commit_sync().await?;
    consumer.close().await?;
    Ok((elapsed, count))
}

fn report(what: &str, args: &Args, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let mb = (args.count * args.size) as f64 / 1e6;
    println!(
        "{what} {} records of {} bytes in {secs:.2} s: {:.0} records/s, {:.1} MB/s",
        args.count,
        args.size,
        args.count as f64 / secs,
        mb / secs
    );
}
