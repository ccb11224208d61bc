//! ferrokafka under the shared benchmark flags (see `src/lib.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::{
    ConsumerConfig, KafkaProducer, KafkaShareConsumer, ProducerConfig, ProducerRecord,
    ShareConsumerConfig,
};
use ferrokafka_compare::*;

/// Futures kept before awaiting the oldest (bounds memory, never limits throughput).
const WINDOW: usize = 200_000;

fn producer(c: &Common, p: &ProducerSettings) -> KafkaProducer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(&c.bootstrap)
        .set("acks", &p.acks)
        .set("enable.idempotence", p.idempotence.to_string())
        .set("compression.type", &p.compression)
        .set("linger.ms", p.linger_ms.to_string())
        .set("batch.size", p.batch_size.to_string());
    // -X key=value (the security cells' properties) after the bench's own settings.
    let config = c.props.iter().fold(config, |b, (k, v)| b.set(k, v));
    // Experiments only (never set by scripts/bench): FK_PRODUCER_PROPS="key=value,key=value".
    let config = std::env::var("FK_PRODUCER_PROPS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .fold(config, |c, (k, v)| c.set(k, v));
    let config = config
        .build()
        .unwrap_or_else(|e| fail("producer config", e));
    KafkaProducer::new(config).unwrap_or_else(|e| fail("producer", e))
}

/// What records are made of: the topic's name, shared by every record as a user sending to
/// one topic would (an `Arc<str>` clone, no allocation per record; the other clients borrow
/// or share their topic string too), and the value pool.
struct Source {
    topic: Arc<str>,
    values: Vec<bytes::Bytes>,
}

impl Source {
    fn new(c: &Common) -> Source {
        Source {
            topic: Arc::from(c.topic.as_str()),
            values: value_pool(c.size),
        }
    }
}

fn record(c: &Common, src: &Source, i: u64) -> ProducerRecord {
    let values = &src.values;
    ProducerRecord::new(&src.topic, values[i as usize % values.len()].clone())
        .partition(partition_of(i, c.partitions))
}

async fn produce(a: ProduceArgs) {
    let c = &a.common;
    let values = Source::new(c);
    let n = a.producers.max(1);
    let ps: Vec<_> = (0..n).map(|_| Arc::new(producer(c, &a.producer))).collect();
    // Warm-up (untimed): metadata, connections, producer id; one record per partition, all
    // in flight at once (one after the other took over a minute at 10,000 partitions).
    for p in &ps {
        let mut warm = Vec::with_capacity(c.partitions as usize);
        for i in 0..c.partitions as u64 {
            warm.push(
                p.enqueue(record(c, &values, i))
                    .await
                    .unwrap_or_else(|e| fail("warm-up", e.error)),
            );
        }
        for f in warm {
            f.await.unwrap_or_else(|e| fail("warm-up", e));
        }
    }
    let start = Instant::now();
    if n == 1 {
        send_share(&ps[0], c, &values, 0..a.count, WINDOW).await;
    } else {
        let (c, values) = (Arc::new(c.clone()), Arc::new(values));
        let tasks: Vec<_> = (0..n)
            .map(|k| {
                let (p, c, values) = (ps[k].clone(), c.clone(), values.clone());
                let share = share_of(a.count, n, k);
                tokio::spawn(async move { send_share(&p, &c, &values, share, WINDOW / n).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap_or_else(|e| fail("producer task", e));
        }
    }
    let elapsed = start.elapsed();
    report_throughput(a.count, a.count * c.size as u64, elapsed);
    // Experiments only (never set by scripts/bench): the producer's batching metrics.
    if std::env::var_os("FK_METRICS").is_some() {
        for m in ps[0].metrics() {
            if m.group == "producer-metrics"
                && [
                    "batch-size-avg",
                    "records-per-request-avg",
                    "request-total",
                    "record-send-total",
                    "record-retry-total",
                    "record-error-total",
                    "request-latency-avg",
                    "request-latency-max",
                ]
                .contains(&m.name.as_str())
            {
                eprintln!("METRIC {} {:?}", m.name, m.value);
            }
        }
    }
    for p in ps {
        p.close(Duration::from_secs(10)).await;
    }
}

/// Sends records `share` through `p`, at most `window` unacknowledged, and waits for them all.
async fn send_share(
    p: &KafkaProducer,
    c: &Common,
    values: &Source,
    share: std::ops::Range<u64>,
    window: usize,
) {
    let mut pending = VecDeque::with_capacity(window + 1);
    for i in share {
        pending.push_back(
            p.enqueue(record(c, values, i))
                .await
                .unwrap_or_else(|e| fail("send", e.error)),
        );
        if pending.len() > window
            && let Some(f) = pending.pop_front()
        {
            f.await.unwrap_or_else(|e| fail("delivery", e));
        }
    }
    for f in pending {
        f.await.unwrap_or_else(|e| fail("delivery", e));
    }
}

/// A consumer from the log start without auto-commit, with `extra` settings, then the `-X`
/// properties.
fn new_consumer(c: &Common, extra: &[(&str, String)]) -> KafkaConsumer {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(&c.bootstrap)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    let config = (extra.iter().map(|(k, v)| (*k, v.as_str())))
        .chain(c.props.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .fold(config, |b, (k, v)| b.set(k, v))
        .build()
        .unwrap_or_else(|e| fail("consumer config", e));
    KafkaConsumer::new(config).unwrap_or_else(|e| fail("consumer", e))
}

fn consumer(c: &Common) -> KafkaConsumer {
    let mut consumer = new_consumer(c, &[]);
    consumer
        .assign((0..c.partitions).map(|p| TopicPartition::new(&c.topic, p)))
        .unwrap_or_else(|e| fail("assign", e));
    consumer
}

async fn consume(a: ConsumeArgs) {
    let c = &a.common;
    let mut consumer = consumer(c);
    let start = Instant::now();
    let (mut records, mut bytes, mut touched) = (0u64, 0u64, 0u64);
    while records < a.count {
        let batch = consumer
            .poll(Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| fail("poll", e));
        for r in &batch {
            let v = r.value.as_deref().unwrap_or_default();
            bytes += v.len() as u64;
            touched = touched.wrapping_add(touch(v));
            records += 1;
        }
    }
    let elapsed = start.elapsed();
    std::hint::black_box(touched);
    report_throughput(records, bytes, elapsed);
    let _ = consumer.close().await;
}

async fn idle(a: IdleArgs) {
    let c = &a.common;
    let mut consumer = consumer(c);
    let start = Instant::now();
    let until = start + Duration::from_secs(a.seconds);
    while Instant::now() < until {
        let batch = consumer
            .poll(until.saturating_duration_since(Instant::now()))
            .await
            .unwrap_or_else(|e| fail("poll", e));
        if !batch.is_empty() {
            fail("idle", "the topic is not empty");
        }
    }
    report_idle(c.partitions, start.elapsed());
    let _ = consumer.close().await;
}

/// `consumers` share group members in this process reading `count` records together.
async fn share(a: ShareArgs) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let c = &a.common;
    let total = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut members = Vec::new();
    for id in 0..a.consumers {
        let props = [
            ("bootstrap.servers".to_string(), c.bootstrap.clone()),
            ("group.id".to_string(), a.group.clone()),
            ("client.id".to_string(), format!("bench-share-{id}")),
        ];
        let config = ShareConsumerConfig::from_properties(props.into_iter().chain(c.props.clone()))
            .unwrap_or_else(|e| fail("share consumer config", e));
        let mut consumer =
            KafkaShareConsumer::new(config).unwrap_or_else(|e| fail("share consumer", e));
        consumer
            .subscribe([c.topic.as_str()])
            .unwrap_or_else(|e| fail("subscribe", e));
        let (total, bytes, first, count) = (total.clone(), bytes.clone(), first.clone(), a.count);
        members.push(tokio::spawn(async move {
            let mut touched = 0u64;
            let mut last = None;
            while total.load(Ordering::Acquire) < count {
                let batch = consumer
                    .poll(Duration::from_millis(200))
                    .await
                    .unwrap_or_else(|e| fail("poll", e));
                if batch.is_empty() {
                    continue;
                }
                first.lock().unwrap().get_or_insert_with(Instant::now);
                let mut b = 0;
                for r in &batch {
                    let v = r.value.as_deref().unwrap_or_default();
                    b += v.len() as u64;
                    touched = touched.wrapping_add(touch(v));
                }
                bytes.fetch_add(b, Ordering::AcqRel);
                total.fetch_add(batch.len() as u64, Ordering::AcqRel);
                last = Some(Instant::now());
            }
            std::hint::black_box(touched);
            // Acknowledges the last poll's records (implicit mode) before leaving.
            let _ = consumer.close().await;
            last
        }));
    }
    let mut last: Option<Instant> = None;
    for m in members {
        let l = m.await.unwrap_or_else(|e| fail("member task", e));
        last = last.max(l);
    }
    let first = first.lock().unwrap().unwrap_or_else(Instant::now);
    let elapsed = last.map_or(Duration::ZERO, |l| l.saturating_duration_since(first));
    report_throughput(
        total.load(Ordering::Acquire),
        bytes.load(Ordering::Acquire),
        elapsed,
    );
}

/// A group member: subscribes, polls until the run stops, and publishes its assignment
/// (partition ids) after every poll.
fn spawn_member(a: &GroupArgs, id: usize, run: GroupRun) -> tokio::task::JoinHandle<()> {
    let c = &a.common;
    let protocol = match a.protocol.as_str() {
        "consumer" => ("group.protocol", "consumer"),
        "eager" => ("partition.assignment.strategy", "range"),
        "cooperative" => ("partition.assignment.strategy", "cooperative-sticky"),
        other => fail(
            "protocol",
            format!("{other}: eager, cooperative or consumer"),
        ),
    };
    let mut consumer = new_consumer(
        c,
        &[
            ("group.id", a.group.clone()),
            ("client.id", format!("bench-group-{id}")),
            (protocol.0, protocol.1.to_string()),
        ],
    );
    consumer
        .subscribe([c.topic.as_str()])
        .unwrap_or_else(|e| fail("subscribe", e));
    tokio::spawn(async move {
        while !run.stopped() {
            consumer
                .poll(Duration::from_millis(50))
                .await
                .unwrap_or_else(|e| fail("poll", e));
            run.publish(
                id,
                consumer
                    .assignment()
                    .iter()
                    .map(|tp| tp.partition)
                    .collect(),
            );
        }
        let _ = consumer.close().await;
    })
}

async fn group(a: GroupArgs) {
    GroupRun::time(&a, |id, run| std::future::ready(spawn_member(&a, id, run))).await;
}

async fn latency(a: LatencyArgs) {
    let c = &a.common;
    let Source { topic, values } = Source::new(c);
    let p = producer(c, &a.producer);
    let warmup = a.rate;
    let total = warmup + a.rate * a.seconds;
    let hist = Arc::new(Mutex::new(Latencies::new()));
    let mut ticks = pace(a.rate, total);
    while let Some((i, due)) = ticks.recv().await {
        let record = ProducerRecord::new(&topic, values[i as usize % values.len()].clone())
            .partition(partition_of(i, c.partitions));
        let h = hist.clone();
        p.send_with_callback(record, move |r| {
            if let Err(e) = r {
                fail("delivery", e);
            }
            if i >= warmup {
                h.lock().unwrap().record(due.elapsed());
            }
        })
        .await
        .unwrap_or_else(|e| fail("send", e.error));
    }
    p.flush().await;
    hist.lock().unwrap().report(c.size);
    p.close(Duration::from_secs(10)).await;
}

fn main() {
    let cmd = Cli::parse().cmd;
    // Throughput runs use both cores; a latency run at a few thousand records/s is better
    // served by one thread: no wake-up hops between workers on every record.
    let mut rt = match cmd {
        Cmd::Latency(_) if std::env::var_os("FK_MULTI_THREAD").is_none() => {
            tokio::runtime::Builder::new_current_thread()
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let rt = rt
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail("runtime", e));
    rt.block_on(async {
        match cmd {
            Cmd::Produce(a) => produce(a).await,
            Cmd::Consume(a) => consume(a).await,
            Cmd::Latency(a) => latency(a).await,
            Cmd::Share(a) => share(a).await,
            Cmd::Idle(a) => idle(a).await,
            Cmd::Group(a) => group(a).await,
        }
    });
}
