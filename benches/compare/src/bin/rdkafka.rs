//! rust-rdkafka (librdkafka) under the shared benchmark flags (see `src/lib.rs`); mirrors
//! `ferrokafka.rs`.
//!
//! Producer: `ThreadedProducer` with a delivery callback in the context (no per-record
//! future or channel, unlike `FutureProducer`); its polling thread runs the callbacks, which
//! check every result and count acknowledgements. Consumer: `BaseConsumer` polled on the
//! main thread (cheaper per record than `StreamConsumer`'s async wakeups).
//! Both get `set_log_level(Warning)`: without a `log` logger rust-rdkafka asks for errors only.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ferrokafka_compare::*;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Latency runs: the open-loop schedule, set once the producer exists (as in ferrokafka.rs).
struct Timing {
    schedule: Schedule,
    warmup: u64,
    hist: Mutex<Latencies>,
}

/// Client context. Producer: counts acknowledgements and wakes the main thread when `wake_at`
/// is reached. Both: librdkafka warnings and errors to stderr.
struct Ctx {
    acked: AtomicU64,
    wake_at: AtomicU64,
    lock: Mutex<()>,
    cv: Condvar,
    timing: OnceLock<Timing>,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            acked: AtomicU64::new(0),
            wake_at: AtomicU64::new(u64::MAX),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            timing: OnceLock::new(),
        }
    }

    /// Blocks until `n` records have been acknowledged in total. Not `flush()`: rust-rdkafka's
    /// flush re-polls in 100 ms steps, which would add up to 100 ms to the measured time.
    fn wait_acked(&self, n: u64) {
        self.wake_at.store(n, SeqCst);
        let mut g = self.lock.lock().unwrap();
        while self.acked.load(SeqCst) < n {
            g = self.cv.wait(g).unwrap();
        }
        // Disarm, or every later callback would lock and notify (a futex syscall each).
        self.wake_at.store(u64::MAX, SeqCst);
    }
}

impl ClientContext for Ctx {
    // rust-rdkafka's default sends these to the `log` crate, which has no logger here; print
    // them on stderr instead (stdout holds only the RESULT line).
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        eprintln!("librdkafka {level:?} {fac}: {msg}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka error: {error}: {reason}");
    }
}

impl ConsumerContext for Ctx {}

impl ProducerContext for Ctx {
    /// The record's index (only latency runs use it).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, i: usize) {
        if let Err((e, _)) = result {
            fail("delivery", e);
        }
        if let Some(t) = self.timing.get()
            && i as u64 >= t.warmup
        {
            let latency = t.schedule.due(i as u64).elapsed();
            t.hist.lock().unwrap().record(latency);
        }
        let n = self.acked.fetch_add(1, SeqCst) + 1;
        if n >= self.wake_at.load(SeqCst) {
            let _g = self.lock.lock().unwrap();
            self.cv.notify_all();
        }
    }
}

fn producer(c: &Common, p: &ProducerSettings) -> ThreadedProducer<Ctx> {
    ClientConfig::new()
        .set("bootstrap.servers", &c.bootstrap)
        .set("acks", &p.acks)
        .set("enable.idempotence", p.idempotence.to_string())
        .set("compression.type", &p.compression)
        .set("linger.ms", p.linger_ms.to_string())
        .set("batch.size", p.batch_size.to_string())
        // librdkafka's defaults (100k messages queued, 10k per batch) would cap throughput
        // before batch.size does; lift them so batch.size is the limit, as in the Java client.
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("batch.num.messages", "1000000")
        // Java's max.request.size (librdkafka's default, 1,000,000, refuses a 1 MB record of
        // the record-size curve, which Java's 1 MiB takes).
        .set("message.max.bytes", "1048576")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create_with_context(Ctx::new())
        .unwrap_or_else(|e| fail("producer", e))
}

/// Enqueues one record (librdkafka copies the value); waits while the local queue is full.
fn send(p: &ThreadedProducer<Ctx>, topic: &str, value: &[u8], partition: i32, i: u64) {
    let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, i as usize)
        .payload(value)
        .partition(partition);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                thread::sleep(Duration::from_micros(100));
            }
            Err((e, _)) => fail("send", e),
        }
    }
}

fn produce(a: ProduceArgs) {
    let c = &a.common;
    let values = value_pool(c.size);
    let value = |i: u64| &values[i as usize % values.len()][..];
    let n = a.producers.max(1);
    // librdkafka's producers are thread safe and run their own threads: each one here gets an
    // application thread that sends its share.
    let ps: Vec<_> = (0..n).map(|_| producer(c, &a.producer)).collect();
    // Warm-up (untimed): metadata, connections, producer id; one record per partition, all in
    // flight at once, then awaited.
    let warmup = c.partitions.max(1) as u64;
    for p in &ps {
        for i in 0..warmup {
            send(p, &c.topic, value(i), partition_of(i, c.partitions), i);
        }
        p.context().wait_acked(warmup);
    }
    let start = Instant::now();
    thread::scope(|s| {
        for (k, p) in ps.iter().enumerate() {
            let share = share_of(a.count, n, k);
            let value = &value;
            let run = move || {
                let len = share.end - share.start;
                for i in share {
                    send(p, &c.topic, value(i), partition_of(i, c.partitions), i);
                }
                p.context().wait_acked(warmup + len);
            };
            if n == 1 {
                run();
            } else {
                s.spawn(run);
            }
        }
    });
    let elapsed = start.elapsed();
    report_throughput(a.count, a.count * c.size as u64, elapsed);
}

fn consumer(c: &Common) -> BaseConsumer<Ctx> {
    // librdkafka refuses assign() without a group.id; with manual assignment and no commits
    // the group is never joined (only its coordinator is looked up).
    ClientConfig::new()
        .set("bootstrap.servers", &c.bootstrap)
        .set("group.id", "bench-rdkafka")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Default 1000: once a partition's local queue passes its threshold, its next fetch
        // waits a full second even if the application drains it at once (1M records took
        // 3-5 s, stalled in steps of ~1 s). 10 ms keeps fetching without a busy loop.
        .set("fetch.queue.backoff.ms", "10")
        .set_log_level(RDKafkaLogLevel::Warning)
        .create_with_context(Ctx::new())
        .unwrap_or_else(|e| fail("consumer", e))
}

/// Assigns every partition of the topic from the log start.
fn assign_all(consumer: &BaseConsumer<Ctx>, c: &Common) {
    // Without the partition leaders known at assign(), librdkafka retries the offset lookup
    // on a fixed 500 ms timer.
    consumer
        .fetch_metadata(Some(&c.topic), Duration::from_secs(30))
        .unwrap_or_else(|e| fail("metadata", e));
    let mut tpl = TopicPartitionList::new();
    for p in 0..c.partitions {
        tpl.add_partition_offset(&c.topic, p, Offset::Beginning)
            .unwrap_or_else(|e| fail("assign", e));
    }
    consumer.assign(&tpl).unwrap_or_else(|e| fail("assign", e));
}

fn consume(a: ConsumeArgs) {
    let c = &a.common;
    let consumer = consumer(c);
    // Timed, like ferrokafka's first poll: the metadata request and the assignment.
    let start = Instant::now();
    assign_all(&consumer, c);
    let (mut records, mut bytes, mut touched) = (0u64, 0u64, 0u64);
    while records < a.count {
        let Some(m) = consumer.poll(Duration::from_secs(1)) else {
            continue;
        };
        let m = m.unwrap_or_else(|e| fail("poll", e));
        let v = m.payload().unwrap_or_default();
        bytes += v.len() as u64;
        touched = touched.wrapping_add(touch(v));
        records += 1;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(touched);
    report_throughput(records, bytes, elapsed);
}

fn idle(a: IdleArgs) {
    let c = &a.common;
    let consumer = consumer(c);
    let start = Instant::now();
    assign_all(&consumer, c);
    let until = start + Duration::from_secs(a.seconds);
    while Instant::now() < until {
        if let Some(m) = consumer.poll(until.saturating_duration_since(Instant::now())) {
            // End-of-partition events are off by default: anything here is a record or an error.
            m.unwrap_or_else(|e| fail("poll", e));
            fail("idle", "the topic is not empty");
        }
    }
    report_idle(c.partitions, start.elapsed());
}

/// Group members on their own threads (librdkafka consumers are polled by their owner);
/// each publishes its assignment after every poll. See `Cmd::Group`.
fn group(a: GroupArgs) {
    let c = &a.common;
    let n = a.members;
    let run = GroupRun::new(&a);
    let member = |id: usize| {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &c.bootstrap)
            .set("group.id", &a.group)
            .set("client.id", format!("bench-group-{id}"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        match a.protocol.as_str() {
            "consumer" => cfg.set("group.protocol", "consumer"),
            "eager" => cfg.set("partition.assignment.strategy", "range"),
            "cooperative" => cfg.set("partition.assignment.strategy", "cooperative-sticky"),
            other => fail(
                "protocol",
                format!("{other}: eager, cooperative or consumer"),
            ),
        };
        let consumer: BaseConsumer<Ctx> = cfg
            .set_log_level(RDKafkaLogLevel::Warning)
            .create_with_context(Ctx::new())
            .unwrap_or_else(|e| fail("consumer", e));
        consumer
            .subscribe(&[c.topic.as_str()])
            .unwrap_or_else(|e| fail("subscribe", e));
        let run = run.clone();
        move || {
            while !run.stopped() {
                if let Some(m) = consumer.poll(Duration::from_millis(50)) {
                    m.unwrap_or_else(|e| fail("poll", e));
                }
                let mine = consumer
                    .assignment()
                    .unwrap_or_else(|e| fail("assignment", e));
                run.publish(id, mine.elements().iter().map(|e| e.partition()).collect());
            }
            drop(consumer);
        }
    };
    let settle = |k: usize| {
        while !run.settled(k) {
            thread::sleep(Duration::from_millis(2));
        }
    };
    thread::scope(|s| {
        let start = Instant::now();
        for id in 0..n {
            s.spawn(member(id));
        }
        settle(n);
        let form = start.elapsed();
        let start = Instant::now();
        s.spawn(member(n));
        settle(n + 1);
        report_group(start.elapsed(), form, n);
        run.stop();
    });
}

fn latency(a: LatencyArgs) {
    let c = &a.common;
    let values = value_pool(c.size);
    let p = producer(c, &a.producer);
    let ctx = p.context().clone();
    let warmup = a.rate;
    let total = warmup + a.rate * a.seconds;
    let timing = ctx.timing.get_or_init(|| Timing {
        schedule: Schedule::new(a.rate),
        warmup,
        hist: Mutex::new(Latencies::new()),
    });
    for i in 0..total {
        // Open loop: sleep until record i is due, never waiting for acknowledgements.
        let due = timing.schedule.due(i);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let value = &values[i as usize % values.len()][..];
        send(&p, &c.topic, value, partition_of(i, c.partitions), i);
    }
    ctx.wait_acked(total);
    timing.hist.lock().unwrap().report(c.size);
}

fn main() {
    let cmd = Cli::parse().cmd;
    cmd.common().no_props();
    match cmd {
        Cmd::Produce(a) => produce(a),
        Cmd::Consume(a) => consume(a),
        Cmd::Latency(a) => latency(a),
        Cmd::Share(_) => cmd_unsupported("share groups"),
        Cmd::Idle(a) => idle(a),
        Cmd::Group(a) => group(a),
    }
}
