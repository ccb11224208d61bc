//! `KafkaConsumer::partition_streams` against Apache Kafka: ordered parallel processing,
//! backpressure, commits of acked records, rebalances and cancel safety.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, producer};
use ferrokafka::consumer::{PartitionStream, TopicPartition};
use ferrokafka::{ConsumerRecord, ProducerRecord};
use tokio::task::JoinSet;

/// Produces `per_partition` records to each of `partitions` partitions; the value of the
/// record with sequence `s` in partition `p` is `"p:s"`, so its offset is `s`.
async fn produce(topic: &str, partitions: i32, per_partition: usize) {
    let b = TestBroker::shared();
    create_topic(&b.bootstrap(), topic, partitions).await;
    let p = producer(&b.bootstrap(), &[("linger.ms", "5")]);
    let n = partitions as usize * per_partition;
    let records = futures_util::stream::iter((0..n).map(|i| {
        let (part, seq) = (i % partitions as usize, i / partitions as usize);
        ProducerRecord::new(topic, format!("{part}:{seq}")).partition(part as i32)
    }));
    let summary = p.send_all(records, 2_000).await;
    assert_eq!((summary.delivered, summary.failed), (n as u64, 0));
    p.close(Duration::from_secs(10)).await;
}

/// The (partition, sequence) a value encodes.
fn decode(r: &ConsumerRecord) -> (i32, i64) {
    let v = std::str::from_utf8(r.value.as_deref().expect("value")).expect("utf8");
    let (p, s) = v.split_once(':').expect("p:s");
    (p.parse().expect("partition"), s.parse().expect("sequence"))
}

/// One record as a task saw it: (partition, offset, encoded partition, encoded sequence,
/// global arrival number).
type Seen = (i32, i64, i32, i64, u64);

/// A stream that ended: its partition and the offsets it returned, in order.
type StreamEnd = (i32, Vec<i64>);

#[derive(Clone, Default)]
struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
    clock: Arc<AtomicU64>,
    count: Arc<AtomicUsize>,
}

impl Log {
    fn record(&self, r: &ConsumerRecord) {
        let (p, s) = decode(r);
        let at = self.clock.fetch_add(1, Ordering::SeqCst);
        self.seen
            .lock()
            .expect("log")
            .push((r.partition, r.offset, p, s, at));
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Per partition, the offsets in the order the tasks saw them.
    fn offsets_by_partition(&self) -> BTreeMap<i32, Vec<i64>> {
        let mut by: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        let mut seen = self.seen.lock().expect("log").clone();
        seen.sort_by_key(|s| s.4);
        for (part, offset, p, s, _) in seen {
            assert_eq!((part, offset), (p, s), "record in the wrong place");
            by.entry(part).or_default().push(offset);
        }
        by
    }
}

/// Reads `stream` to its end, acking every record and sleeping `pause` every `every` records.
async fn process(mut stream: PartitionStream, log: Log, every: i64, pause: Duration) -> usize {
    let mut n = 0;
    while let Some(r) = stream.next().await {
        log.record(&r);
        // False only once the driver is gone (the test's end): nothing to commit then.
        stream.ack(&r);
        n += 1;
        if r.offset % every == every - 1 {
            tokio::time::sleep(pause).await;
        }
    }
    n
}

fn config<'a>(group: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut c = vec![("group.id", group), ("enable.auto.commit", "false")];
    c.extend_from_slice(extra);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_processed_in_parallel_each_in_order_exactly_once() {
    const PER: usize = 5_000;
    let topic = "pstream-order";
    produce(topic, 4, PER).await;
    let b = TestBroker::shared();
    let mut c = consumer(
        &b.bootstrap(),
        &config("pstream-order", &[("max.poll.records", "500")]),
    );
    c.subscribe([topic]).expect("subscribe");
    let mut streams = c.partition_streams(100).expect("partition streams");
    let log = Log::default();
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    while log.count() < 4 * PER && start.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            s = streams.next_partition() => {
                let s = s.expect("never ends").expect("stream");
                // A different, small pause per partition every few hundred records.
                let pause = Duration::from_millis(1 + s.topic_partition().partition as u64 % 3);
                tasks.spawn(process(s, log.clone(), 250, pause));
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    drop(streams);
    let mut per_task = Vec::new();
    while let Some(n) = tasks.join_next().await {
        per_task.push(n.expect("task"));
    }
    let by = log.offsets_by_partition();
    assert_eq!(by.len(), 4);
    for (p, offsets) in &by {
        let want: Vec<i64> = (0..PER as i64).collect();
        assert!(
            offsets == &want,
            "partition {p}: {} records, not every offset once in order",
            offsets.len()
        );
    }
    per_task.sort_unstable();
    assert_eq!(per_task, vec![PER; 4], "one task per partition");
    // Concurrency: in arrival order, the partition changes far more often than the 3 times
    // of partitions processed one after the other.
    let mut seen = log.seen.lock().expect("log").clone();
    seen.sort_by_key(|s| s.4);
    let switches = seen.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(
        switches > 20,
        "partitions were not interleaved: {switches} switches"
    );
    eprintln!("{switches} switches between partitions in arrival order");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_partition_does_not_stall_the_others_and_memory_stays_bounded() {
    const PER: usize = 2_000;
    const MAX_POLL: usize = 100;
    let topic = "pstream-backpressure";
    produce(topic, 4, PER).await;
    let b = TestBroker::shared();
    let mut c = consumer(
        &b.bootstrap(),
        &config("pstream-backpressure", &[("max.poll.records", "100")]),
    );
    c.subscribe([topic]).expect("subscribe");
    let mut streams = c.partition_streams(10).expect("partition streams");
    let log = Log::default();
    let others_done = Arc::new(tokio::sync::Notify::new());
    let others_left = Arc::new(AtomicUsize::new(3));
    let blocked_got_before = Arc::new(AtomicUsize::new(usize::MAX));
    let mut tasks = JoinSet::new();
    let (mut max_held, mut blocked_held) = (0usize, 0usize);
    let start = Instant::now();
    while log.count() < 4 * PER && start.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            s = streams.next_partition() => {
                let s = s.expect("never ends").expect("stream");
                let (log, done, left) = (log.clone(), others_done.clone(), others_left.clone());
                if s.topic_partition().partition == 0 {
                    let got_before = blocked_got_before.clone();
                    tasks.spawn(async move {
                        done.notified().await;
                        got_before.store(log.count(), Ordering::SeqCst);
                        process(s, log, 1_000, Duration::ZERO).await
                    });
                } else {
                    tasks.spawn(async move {
                        let mut s = s;
                        let mut n = 0;
                        while let Some(r) = s.next().await {
                            log.record(&r);
                            s.ack(&r);
                            n += 1;
                            if n == PER && left.fetch_sub(1, Ordering::SeqCst) == 1 {
                                done.notify_one();
                            }
                        }
                        n
                    });
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
        let held = streams.held();
        max_held = max_held.max(held);
        if blocked_got_before.load(Ordering::SeqCst) == usize::MAX {
            blocked_held = blocked_held.max(held);
        }
    }
    drop(streams);
    while let Some(n) = tasks.join_next().await {
        n.expect("task");
    }
    // The three others finished every record while partition 0 took none.
    assert_eq!(
        blocked_got_before.load(Ordering::SeqCst),
        3 * PER,
        "the others did not finish while partition 0 was blocked"
    );
    let by = log.offsets_by_partition();
    for p in 0..4 {
        let want: Vec<i64> = (0..PER as i64).collect();
        assert!(
            by.get(&p) == Some(&want),
            "partition {p}: not every offset once, in order"
        );
    }
    // Partition 0's stream was full (10) and the driver paused it: it held at most one poll's
    // worth for it (and at most one each for the others, briefly).
    assert!(
        blocked_held > 0,
        "the blocked partition was never held back"
    );
    assert!(
        max_held <= 4 * MAX_POLL,
        "driver held {max_held} records: more than one poll per partition"
    );
    eprintln!("held at most {max_held} records ({blocked_held} while partition 0 was blocked)");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_takes_only_acked_records_and_late_acks_do_not_count() {
    const K: i64 = 7;
    let topic = "pstream-commit";
    produce(topic, 1, 200).await;
    let b = TestBroker::shared();
    let group = "pstream-commit";
    let mut c = consumer(
        &b.bootstrap(),
        &config(group, &[("max.poll.records", "50")]),
    );
    c.subscribe([topic]).expect("subscribe");
    let mut streams = c.partition_streams(10).expect("partition streams");
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel(1);
    let go_on = Arc::new(tokio::sync::Notify::new());
    let mut task = None;
    let start = Instant::now();
    let (acker, late, unreturned) = loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no records");
        tokio::select! {
            s = streams.next_partition() => {
                let mut s = s.expect("never ends").expect("stream");
                let (got_tx, go_on) = (got_tx.clone(), go_on.clone());
                task = Some(tokio::spawn(async move {
                    let mut records = Vec::new();
                    while records.len() < 30 {
                        let r = s.next().await.expect("a record");
                        if r.offset < K {
                            assert!(s.ack(&r));
                        }
                        records.push(r);
                    }
                    // A record the stream has not returned yet cannot be acked.
                    let mut unreturned = records[29].clone();
                    unreturned.offset = 150;
                    got_tx.send((s.acker(), records[20].clone(), unreturned)).await.expect("send");
                    go_on.notified().await;
                    // Unsubscribed meanwhile: the stream ended, the records in it are dropped.
                    s.next().await.map(|r| r.offset)
                }));
            }
            got = got_rx.recv() => break got.expect("task"),
        }
    };
    assert!(!acker.ack(&unreturned), "acked a record not returned yet");
    streams.commit_sync().await.expect("commit");
    let tp = TopicPartition::new(topic, 0);
    let mut other = consumer(&b.bootstrap(), &config(group, &[]));
    let committed = other
        .committed(std::slice::from_ref(&tp))
        .await
        .expect("committed");
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(K));

    streams.unsubscribe().await.expect("unsubscribe");
    assert!(!acker.ack(&late), "an ack after revocation counted");
    streams.commit_sync().await.expect("commit");
    go_on.notify_one();
    let after = task.expect("task").await.expect("task");
    assert_eq!(after, None, "the stream went on after unsubscribe");
    drop(streams);
    let committed = other
        .committed(std::slice::from_ref(&tp))
        .await
        .expect("committed");
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(K));
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_ends_the_streams_of_revoked_partitions_and_no_record_is_missed() {
    // Eager: every partition is revoked, and those A keeps get a second stream.
    rebalance_case("pstream-rebalance", "range", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_rebalance_ends_only_the_streams_of_moved_partitions() {
    rebalance_case("pstream-rebalance-coop", "cooperative-sticky", 1).await;
}

/// Member A reads `topic` (4 partitions) through partition streams, slowly; member B (a plain
/// poll loop) joins the group. `kept_streams`: how many streams A had for a partition it kept.
async fn rebalance_case(topic: &str, strategy: &str, kept_streams: usize) {
    const PER: usize = 1_000;
    let group = topic;
    produce(topic, 4, PER).await;
    let b = TestBroker::shared();
    let strategy_config = [("partition.assignment.strategy", strategy)];
    let mut a = consumer(
        &b.bootstrap(),
        &config(
            group,
            // A notices B's join at its next heartbeat: soon, so that A is still far from done.
            &[
                ("max.poll.records", "100"),
                ("heartbeat.interval.ms", "300"),
                strategy_config[0],
            ],
        ),
    );
    a.subscribe([topic]).expect("subscribe");
    let mut streams = a.partition_streams(20).expect("partition streams");
    let log_a = Log::default();
    // Per stream of A: its partition and its offsets in order, sent when it ended.
    let ended: Arc<Mutex<Vec<StreamEnd>>> = Arc::default();
    let seen_b: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let reads_b = Arc::new(AtomicUsize::new(0));
    let b_owns: Arc<Mutex<BTreeSet<i32>>> = Arc::default();
    let stop_b = Arc::new(AtomicBool::new(false));
    let mut member_b = None;
    let mut tasks = JoinSet::new();
    let mut commit_every = tokio::time::interval(Duration::from_millis(200));
    let start = Instant::now();
    let all_seen = |log: &Log, b: &BTreeSet<(i32, i64)>| {
        let mut all: BTreeSet<(i32, i64)> = b.clone();
        all.extend(log.seen.lock().expect("log").iter().map(|s| (s.2, s.3)));
        all.len()
    };
    while start.elapsed() < Duration::from_secs(90) {
        tokio::select! {
            s = streams.next_partition() => {
                let mut s = s.expect("never ends").expect("stream");
                let (log, ended) = (log_a.clone(), ended.clone());
                tasks.spawn(async move {
                    let mut offsets = Vec::new();
                    while let Some(r) = s.next().await {
                        log.record(&r);
                        offsets.push(r.offset);
                        s.ack(&r);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    ended.lock().expect("ended").push((s.topic_partition().partition, offsets));
                });
            }
            _ = commit_every.tick() => {
                if let Err(e) = streams.commit_sync().await {
                    eprintln!("commit: {e}");
                }
            }
        }
        if member_b.is_none() && log_a.count() >= 200 {
            let (seen, owns, stop) = (seen_b.clone(), b_owns.clone(), stop_b.clone());
            let reads = reads_b.clone();
            let mut c = consumer(&b.bootstrap(), &config(group, &strategy_config));
            c.subscribe([topic]).expect("subscribe");
            member_b = Some(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let records = c.poll(Duration::from_millis(100)).await.expect("poll");
                    *owns.lock().expect("owns") =
                        c.assignment().iter().map(|tp| tp.partition).collect();
                    for r in &records {
                        seen.lock().expect("seen").insert(decode(r));
                        reads.fetch_add(1, Ordering::SeqCst);
                    }
                    if !records.is_empty()
                        && let Err(e) = c.commit_sync().await
                    {
                        eprintln!("member B commit: {e}");
                    }
                }
                c.close().await.expect("close");
            }));
        }
        let b_seen = seen_b.lock().expect("seen").clone();
        let b_joined = !b_owns.lock().expect("owns").is_empty();
        if b_joined && all_seen(&log_a, &b_seen) == 4 * PER {
            break;
        }
    }
    let owned_by_b = b_owns.lock().expect("owns").clone();
    stop_b.store(true, Ordering::SeqCst);
    member_b.expect("member B started").await.expect("member B");
    drop(streams);
    while let Some(t) = tasks.join_next().await {
        t.expect("task");
    }
    let b_seen = seen_b.lock().expect("seen").clone();
    assert_eq!(all_seen(&log_a, &b_seen), 4 * PER, "records missed");
    // At-least-once, but the hand-over commits what A's tasks acked and ends their streams at
    // once: a record is read twice only if a task had it in hand, between taking and acking
    // it, when its partition was revoked (at most one per partition).
    let repeated = log_a.count() + reads_b.load(Ordering::SeqCst) - 4 * PER;
    assert!(repeated <= 4, "{repeated} records read twice");
    assert!(!owned_by_b.is_empty(), "member B got no partition");
    assert!(
        !b_seen.is_empty(),
        "B read nothing: A had read everything before the rebalance"
    );
    let ended = ended.lock().expect("ended").clone();
    // Every stream of A, also one that ended in the rebalance, saw its partition in order.
    for (p, offsets) in &ended {
        let jump = offsets.windows(2).find(|w| w[1] != w[0] + 1);
        assert!(
            jump.is_none(),
            "partition {p}: a stream saw offset {jump:?} ({} records from {:?})",
            offsets.len(),
            offsets.first()
        );
    }
    // A's streams of the partitions B took ended (more than one when a commit between
    // generations met ILLEGAL_GENERATION and the group rebalanced again, handing a partition
    // back for a while: seen once in CI; the record checks above hold either way). The
    // partitions A kept had `kept_streams` streams: one with cooperative-sticky (a kept
    // partition keeps its stream).
    let a_streams: BTreeMap<i32, usize> = ended.iter().fold(BTreeMap::new(), |mut m, (p, _)| {
        *m.entry(*p).or_default() += 1;
        m
    });
    for p in 0..4 {
        let got = a_streams.get(&p).copied().unwrap_or(0);
        let ok = if owned_by_b.contains(&p) {
            got >= 1
        } else {
            got == kept_streams
        };
        assert!(
            ok,
            "partition {p}: streams of A {a_streams:?}, B owns {owned_by_b:?}, kept partitions \
             want {kept_streams}"
        );
    }
    eprintln!(
        "A read {} records, B {}; B owns {owned_by_b:?}; A's streams per partition {a_streams:?}",
        log_a.count(),
        b_seen.len()
    );
    a.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_partition_dropped_in_select_and_drivers_dropped_lose_and_repeat_nothing() {
    const PER: usize = 5_000;
    let topic = "pstream-cancel";
    produce(topic, 4, PER).await;
    let b = TestBroker::shared();
    let mut c = consumer(
        &b.bootstrap(),
        &config("pstream-cancel", &[("max.poll.records", "200")]),
    );
    c.subscribe([topic]).expect("subscribe");
    let log = Log::default();
    let (mut cancelled, mut restarts, mut dropped_held) = (0u32, 0u32, 0usize);
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    let start = Instant::now();
    while log.count() < 4 * PER && start.elapsed() < Duration::from_secs(90) {
        let mut streams = c.partition_streams(5).expect("partition streams");
        let mut tasks = JoinSet::new();
        let round = Instant::now();
        while log.count() < 4 * PER && round.elapsed() < Duration::from_millis(400) {
            tokio::select! {
                s = streams.next_partition() => {
                    let s = s.expect("never ends").expect("stream");
                    tasks.spawn(process(s, log.clone(), 20, Duration::from_millis(1)));
                }
                _ = timer.tick() => cancelled += 1,
            }
        }
        // Dropping the driver ends every stream and seeks back to the first record each
        // task did not get: the next driver hands those over.
        dropped_held += streams.held();
        drop(streams);
        while let Some(t) = tasks.join_next().await {
            t.expect("task");
        }
        restarts += 1;
    }
    let by = log.offsets_by_partition();
    for p in 0..4 {
        let offsets = by.get(&p).cloned().unwrap_or_default();
        let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
        for o in &offsets {
            *counts.entry(*o).or_default() += 1;
        }
        let missing = (0..PER as i64).filter(|o| !counts.contains_key(o)).count();
        let repeated: Vec<i64> = counts
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(o, _)| *o)
            .take(5)
            .collect();
        assert!(
            missing == 0 && repeated.is_empty(),
            "partition {p}: {missing} missing, repeated {repeated:?}"
        );
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "partition {p} out of order"
        );
    }
    assert!(
        cancelled > 100,
        "the timer cut next_partition off only {cancelled} times"
    );
    assert!(restarts >= 2, "only {restarts} drivers");
    assert!(dropped_held > 0, "no driver was dropped holding records");
    eprintln!(
        "{cancelled} next_partition futures dropped; {restarts} drivers, {dropped_held} records held at their drop"
    );
    c.close().await.expect("close");
}

/// A poll in flight that ends in an error while `commit_sync` waits for it: the error is
/// returned and the driver stays usable (it kept a finished poll before, and the next call
/// panicked with "resumed after completion").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_of_the_poll_a_commit_waited_for_leaves_the_driver_usable() {
    let topic = "pstream-poll-error";
    produce(topic, 1, 10).await;
    let b = TestBroker::shared();
    // No committed offset and no reset policy: the poll that joins the group fails.
    let mut c = consumer(
        &b.bootstrap(),
        &config("pstream-poll-error", &[("auto.offset.reset", "none")]),
    );
    c.subscribe([topic]).expect("subscribe");
    let mut streams = c.partition_streams(10).expect("partition streams");
    // next_partition cut short leaves its poll in flight, and commit_sync waits for it. Once
    // the group is joined every poll fails (no offset to start from); one of them must fail
    // under commit_sync.
    let start = Instant::now();
    let mut kept = Vec::new();
    let commit = loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no failed poll reached commit_sync"
        );
        match tokio::time::timeout(Duration::from_millis(1), streams.next_partition()).await {
            Err(_) => {}
            // Failed before it was cut short: again.
            Ok(Some(Err(_))) => continue,
            // The assigned partition's stream (it ends when the driver is dropped).
            Ok(Some(Ok(stream))) => kept.push(stream),
            Ok(None) => panic!("the driver ended"),
        }
        if let Err(e) = streams.commit_sync().await {
            break e;
        }
    };
    assert!(
        matches!(commit, ferrokafka::Error::NoOffsetForPartition { .. }),
        "{commit:?}"
    );
    // The driver goes on: streams handed out before, then the next poll's error.
    let next = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match streams.next_partition().await {
                Some(Ok(stream)) => kept.push(stream),
                other => return other.map(|r| r.map(|s| s.topic_partition().clone())),
            }
        }
    })
    .await
    .expect("next_partition returns");
    assert!(
        matches!(
            next,
            Some(Err(ferrokafka::Error::NoOffsetForPartition { .. }))
        ),
        "{next:?}"
    );
    drop(streams);
    c.close().await.expect("close");
}
