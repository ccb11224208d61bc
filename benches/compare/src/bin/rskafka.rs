//! rskafka (pure Rust) under the shared benchmark flags (see `src/lib.rs`); mirrors
//! `ferrokafka.rs` as far as rskafka allows.
//!
//! Produce path: one `PartitionClient` per partition, each behind a `BatchProducer` with a
//! `RecordAggregator` (max batch bytes = --batch-size, linger = --linger-ms): rskafka's own
//! accumulator, which flushes a full batch in the background while the next one fills.
//! `BatchProducer::produce` resolves only on the acknowledgement, so every record is a task
//! (spawned in order) to keep many batches in flight.
//!
//! rskafka has no idempotent producer and always produces with acks=all (its produce
//! request hard-codes acks -1): any other setting exits 3 with `UNSUPPORTED`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use ferrokafka_compare::*;
use rskafka::chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::client::producer::{BatchProducer, BatchProducerBuilder};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

/// Records in flight before awaiting the oldest (bounds memory, as in `ferrokafka.rs`).
const WINDOW: usize = 200_000;
/// Per fetch request. rskafka fetches one partition per request, so each gets Java's
/// max.partition.fetch.bytes (1 MiB): a round over all partitions then carries what one
/// Java fetch would. 50 MB per partition was no faster, overshot `count` by millions of
/// records and took 600 MB RSS.
const FETCH_MAX_BYTES: i32 = 1024 * 1024;
const FETCH_MAX_WAIT_MS: i32 = 500;

type Producers = Arc<Vec<BatchProducer<RecordAggregator>>>;

fn unsupported(reason: &str) -> ! {
    eprintln!("UNSUPPORTED {reason}");
    std::process::exit(3);
}

async fn client(c: &Common) -> Client {
    let brokers = c
        .bootstrap
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect();
    ClientBuilder::new(brokers)
        .client_id("bench-rskafka")
        .build()
        .await
        .unwrap_or_else(|e| fail("connect", e))
}

async fn partition_clients(client: &Client, c: &Common) -> Vec<Arc<PartitionClient>> {
    let mut out = Vec::new();
    for p in 0..c.partitions.max(1) {
        let pc = client
            .partition_client(c.topic.as_str(), p, UnknownTopicHandling::Error)
            .await
            .unwrap_or_else(|e| fail("partition client", e));
        out.push(Arc::new(pc));
    }
    out
}

async fn producers(c: &Common, p: &ProducerSettings) -> Producers {
    if p.acks != "all" && p.acks != "-1" {
        unsupported("rskafka always produces with acks=all");
    }
    if p.idempotence {
        unsupported("rskafka has no idempotent producer");
    }
    let compression = match p.compression.as_str() {
        "none" => Compression::NoCompression,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => unsupported(&format!("compression={other}")),
    };
    let client = client(c).await;
    let producers = partition_clients(&client, c)
        .await
        .into_iter()
        .map(|pc| {
            BatchProducerBuilder::new(pc)
                .with_linger(Duration::from_millis(p.linger_ms))
                .with_compression(compression)
                // rskafka's limit undercounts the encoded batch (1 MiB and 1 MiB less a KiB
                // both passed Apache Kafka's message.max.bytes, 1 MiB + 12, with 100 B records
                // and were refused as MESSAGE_TOO_LARGE): cap it at 900 KiB, or at one record
                // and a KiB when a record is larger (a 900 KiB cap refused every 1,000,000 B
                // record, and a batch of one such record fits message.max.bytes).
                .build(RecordAggregator::new(
                    p.batch_size.min((900 * 1024).max(c.size + 1024)),
                ))
        })
        .collect();
    Arc::new(producers)
}

fn record(values: &[bytes::Bytes], i: u64) -> Record {
    Record {
        key: None,
        value: Some(values[i as usize % values.len()].to_vec()),
        headers: Default::default(),
        timestamp: now(),
    }
}

/// Create time (rskafka's chrono has no clock feature).
fn now() -> DateTime<Utc> {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

async fn produce(a: ProduceArgs) {
    let c = &a.common;
    let values = Arc::new(value_pool(c.size));
    let n = a.producers.max(1);
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(producers(c, &a.producer).await);
    }
    // Warm-up (untimed): one record per partition, all in flight at once.
    for ps in &all {
        let warm: Vec<_> = (0..c.partitions as u64)
            .map(|i| {
                let (ps, r) = (ps.clone(), record(&values, i));
                let p = partition_of(i, c.partitions) as usize;
                tokio::spawn(async move { ps[p].produce(r).await })
            })
            .collect();
        for t in warm {
            check(t.await);
        }
    }
    let start = Instant::now();
    if n == 1 {
        send_share(all[0].clone(), values, c.partitions, 0..a.count, WINDOW).await;
    } else {
        let tasks: Vec<_> = (0..n)
            .map(|k| {
                let (ps, values) = (all[k].clone(), values.clone());
                let share = share_of(a.count, n, k);
                tokio::spawn(send_share(ps, values, c.partitions, share, WINDOW / n))
            })
            .collect();
        for t in tasks {
            t.await.unwrap_or_else(|e| fail("producer task", e));
        }
    }
    let elapsed = start.elapsed();
    report_throughput(a.count, a.count * c.size as u64, elapsed);
}

/// Sends records `share` through `ps`, at most `window` unacknowledged, and waits for them all.
async fn send_share(
    ps: Producers,
    values: Arc<Vec<bytes::Bytes>>,
    partitions: i32,
    share: std::ops::Range<u64>,
    window: usize,
) {
    let mut pending = VecDeque::with_capacity(window + 1);
    for i in share {
        let (ps, r) = (ps.clone(), record(&values, i));
        let p = partition_of(i, partitions) as usize;
        pending.push_back(tokio::spawn(async move { ps[p].produce(r).await }));
        if pending.len() > window
            && let Some(t) = pending.pop_front()
        {
            check(t.await);
        }
    }
    for t in pending {
        check(t.await);
    }
}

fn check<T, E: std::fmt::Display>(r: Result<Result<T, E>, tokio::task::JoinError>) {
    match r {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => fail("delivery", e),
        Err(e) => fail("delivery task", e),
    }
}

async fn consume(a: ConsumeArgs) {
    let c = &a.common;
    let client = client(c).await;
    let pcs = partition_clients(&client, c).await;
    let records = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    // One fetch loop per partition, all concurrent, until `count` records in total.
    let tasks: Vec<_> = pcs
        .into_iter()
        .map(|pc| {
            let (records, count) = (records.clone(), a.count);
            tokio::spawn(async move {
                let (mut offset, mut bytes, mut touched) = (0i64, 0u64, 0u64);
                while records.load(Ordering::Relaxed) < count {
                    let (batch, _high_watermark) = pc
                        .fetch_records(offset, 1..FETCH_MAX_BYTES, FETCH_MAX_WAIT_MS)
                        .await
                        .unwrap_or_else(|e| fail("fetch", e));
                    for r in &batch {
                        let v = r.record.value.as_deref().unwrap_or_default();
                        bytes += v.len() as u64;
                        touched = touched.wrapping_add(touch(v));
                        offset = r.offset + 1;
                    }
                    records.fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                (bytes, touched)
            })
        })
        .collect();
    let (mut bytes, mut touched) = (0u64, 0u64);
    for t in tasks {
        let (b, s) = t.await.unwrap_or_else(|e| fail("fetch task", e));
        bytes += b;
        touched = touched.wrapping_add(s);
    }
    let elapsed = start.elapsed();
    std::hint::black_box(touched);
    report_throughput(records.load(Ordering::Relaxed), bytes, elapsed);
}

async fn latency(a: LatencyArgs) {
    let c = &a.common;
    let values = value_pool(c.size);
    let ps = producers(c, &a.producer).await;
    let warmup = a.rate;
    let total = warmup + a.rate * a.seconds;
    let hist = Arc::new(Mutex::new(Latencies::new()));
    let schedule = Schedule::new(a.rate);
    // One task per record: `produce` resolves on the acknowledgement, and a send must not
    // wait for earlier ones.
    let mut acks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(schedule.due(i).into()).await;
        let due = schedule.due(i);
        let (ps, r, h) = (ps.clone(), record(&values, i), hist.clone());
        let p = partition_of(i, c.partitions) as usize;
        acks.push(tokio::spawn(async move {
            if let Err(e) = ps[p].produce(r).await {
                fail("delivery", e);
            }
            if i >= warmup {
                h.lock().unwrap().record(due.elapsed());
            }
        }));
    }
    for t in acks {
        t.await.unwrap_or_else(|e| fail("delivery task", e));
    }
    hist.lock().unwrap().report(c.size);
}

#[tokio::main]
async fn main() {
    let cmd = Cli::parse().cmd;
    cmd.common().no_props();
    match cmd {
        Cmd::Produce(a) => produce(a).await,
        Cmd::Consume(a) => consume(a).await,
        Cmd::Latency(a) => latency(a).await,
        Cmd::Share(_) => cmd_unsupported("share groups"),
        // Its partition clients hold no fetch state: a loop per partition would measure this
        // harness's tasks, not the client.
        Cmd::Idle(_) => cmd_unsupported("idle partitions (no consumer that keeps an assignment)"),
        Cmd::Group(_) => cmd_unsupported("consumer groups"),
    }
}
