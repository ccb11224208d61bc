//! krafka (pure Rust) under the shared benchmark flags (see `src/lib.rs`); mirrors
//! `ferrokafka.rs`. krafka's batching producer (`enqueue` into its accumulator, one engine
//! task coalescing ready partitions per broker) is its fastest path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use ferrokafka_compare::*;
use krafka::consumer::{AutoOffsetReset, GroupProtocol, PartitionAssignmentStrategy};
use krafka::producer::{Acks, Producer};
use krafka::{CloseOptions, Compression, Kafka, Record};

/// Handles kept before awaiting the oldest (bounds memory, never limits throughput).
const WINDOW: usize = 200_000;
/// Java's fetch.max.bytes default (krafka's too).
const FETCH_MAX_BYTES: usize = 52_428_800;

/// A flag value this client cannot honour: `scripts/bench` writes n/a with the reason.
fn unsupported(reason: &str) -> ! {
    eprintln!("UNSUPPORTED {reason}");
    std::process::exit(3);
}

async fn connect(c: &Common) -> Kafka {
    Kafka::builder(&c.bootstrap)
        .client_id("bench-krafka")
        .connect()
        .await
        .unwrap_or_else(|e| fail("connect", e))
}

async fn producer(kafka: &Kafka, p: &ProducerSettings) -> Producer {
    let acks = match p.acks.as_str() {
        "1" => Acks::Leader,
        "all" | "-1" => Acks::All,
        other => unsupported(&format!("acks={other}")),
    };
    let compression = match p.compression.as_str() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => unsupported(&format!("compression={other}")),
    };
    // buffer_memory stays at its default (32 MiB, as Java's buffer.memory).
    kafka
        .producer()
        .acks(acks)
        .idempotent(p.idempotence)
        .compression(compression)
        .linger(Duration::from_millis(p.linger_ms))
        .batch_size(p.batch_size)
        .build()
        .await
        .unwrap_or_else(|e| fail("producer", e))
}

async fn close(p: &Producer) {
    let _ = p
        .close_with(CloseOptions::new().timeout(Duration::from_secs(10)))
        .await;
}

fn record(c: &Common, values: &[bytes::Bytes], i: u64) -> Record {
    Record::new(&c.topic, values[i as usize % values.len()].clone())
        .partition(partition_of(i, c.partitions))
}

async fn produce(a: ProduceArgs) {
    let c = &a.common;
    let values = value_pool(c.size);
    let n = a.producers.max(1);
    let (mut clients, mut ps) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // Each producer its own client (connections and metadata), as every peer's; the
        // clients live until the end of the run.
        let kafka = connect(c).await;
        ps.push(Arc::new(producer(&kafka, &a.producer).await));
        clients.push(kafka);
    }
    // Warm-up (untimed): metadata, connections, producer id.
    // One record per partition, all in flight at once.
    for p in &ps {
        let mut warm = Vec::with_capacity(c.partitions as usize);
        for i in 0..c.partitions as u64 {
            warm.push(
                p.enqueue(record(c, &values, i))
                    .await
                    .unwrap_or_else(|e| fail("warm-up", e)),
            );
        }
        for h in warm {
            let _ = h.await.unwrap_or_else(|e| fail("warm-up", e));
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
    for p in &ps {
        close(p).await;
    }
}

/// Sends records `share` through `p`, at most `window` unacknowledged, and waits for them all.
async fn send_share(
    p: &Producer,
    c: &Common,
    values: &[bytes::Bytes],
    share: std::ops::Range<u64>,
    window: usize,
) {
    let mut pending = VecDeque::with_capacity(window + 1);
    for i in share {
        pending.push_back(
            p.enqueue(record(c, values, i))
                .await
                .unwrap_or_else(|e| fail("send", e)),
        );
        if pending.len() > window
            && let Some(h) = pending.pop_front()
        {
            let _ = h.await.unwrap_or_else(|e| fail("delivery", e));
        }
    }
    for h in pending {
        let _ = h.await.unwrap_or_else(|e| fail("delivery", e));
    }
}

/// A consumer without a group, every partition assigned from the log start.
async fn consumer(c: &Common) -> krafka::consumer::Consumer {
    let kafka = connect(c).await;
    // No group: manual assignment, start at the log start (offset 0), no commits. Fetch
    // settings are krafka's defaults (Java's: 50 MB fetch.max.bytes, 1 MB per partition,
    // 500 ms fetch.max.wait, 500 max.poll.records), except its 500-record buffer cap: with
    // it a fetch round decodes at most 1000 records and re-fetches the rest of the response
    // (~15x slower at 100 B). Java keeps whole responses, bounded by fetch.max.bytes: the
    // cap becomes that many bytes' worth of records.
    let cap = (FETCH_MAX_BYTES / c.size.max(1)).min(i32::MAX as usize) as i32;
    let consumer = kafka
        .consumer_without_group()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false)
        .max_buffered_records(cap)
        .build()
        .await
        .unwrap_or_else(|e| fail("consumer", e));
    consumer
        .assign(&c.topic, (0..c.partitions).collect())
        .await
        .unwrap_or_else(|e| fail("assign", e));
    consumer
}

async fn consume(a: ConsumeArgs) {
    let c = &a.common;
    let consumer = consumer(c).await;
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
    let consumer = consumer(c).await;
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

/// One group member as its own task: polls every 50 ms and publishes its assignment after
/// every poll, as the other clients' members do; its own client (connections), as a member in
/// its own process would have. See `Cmd::Group`.
async fn spawn_member(a: &GroupArgs, id: usize, run: GroupRun) -> tokio::task::JoinHandle<()> {
    let kafka = connect(&a.common).await;
    let builder = kafka
        .consumer(a.group.clone())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(false);
    let builder = match a.protocol.as_str() {
        "consumer" => builder.group_protocol(GroupProtocol::Consumer),
        "eager" => builder.partition_assignment_strategy(PartitionAssignmentStrategy::Range),
        "cooperative" => {
            builder.partition_assignment_strategy(PartitionAssignmentStrategy::CooperativeSticky)
        }
        other => fail(
            "protocol",
            format!("{other}: eager, cooperative or consumer"),
        ),
    };
    let consumer = builder
        .build()
        .await
        .unwrap_or_else(|e| fail("consumer", e));
    consumer
        .subscribe([a.common.topic.as_str()])
        .await
        .unwrap_or_else(|e| fail("subscribe", e));
    tokio::spawn(async move {
        while !run.stopped() {
            consumer
                .poll(Duration::from_millis(50))
                .await
                .unwrap_or_else(|e| fail("poll", e));
            let mine = consumer
                .assignment()
                .await
                .into_values()
                .flatten()
                .collect();
            run.publish(id, mine);
        }
        let _ = consumer.close().await;
    })
}

async fn group(a: GroupArgs) {
    GroupRun::time(&a, |id, run| spawn_member(&a, id, run)).await;
}

async fn latency(a: LatencyArgs) {
    let c = &a.common;
    let values = value_pool(c.size);
    let kafka = connect(c).await;
    let p = producer(&kafka, &a.producer).await;
    let warmup = a.rate;
    let total = warmup + a.rate * a.seconds;
    let hist = Arc::new(Mutex::new(Latencies::new()));
    let schedule = Schedule::new(a.rate);
    // krafka has no delivery callback: one task per record awaits its handle, so a send
    // never waits for an earlier acknowledgement.
    let mut acks = Vec::with_capacity(total as usize);
    for i in 0..total {
        tokio::time::sleep_until(schedule.due(i).into()).await;
        let due = schedule.due(i);
        let record = Record::new(&c.topic, values[i as usize % values.len()].clone())
            .partition(partition_of(i, c.partitions));
        let handle = p.enqueue(record).await.unwrap_or_else(|e| fail("send", e));
        let h = hist.clone();
        acks.push(tokio::spawn(async move {
            if let Err(e) = handle.await {
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
    close(&p).await;
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
        Cmd::Idle(a) => idle(a).await,
        Cmd::Group(a) => group(a).await,
    }
}
