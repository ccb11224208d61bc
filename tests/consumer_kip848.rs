//! The KIP-848 consumer group protocol (`group.protocol=consumer`) against Apache Kafka: a
//! group of our consumers and Java's, members joining and leaving one at a time.
//!
//! The broker runs with 500 ms group heartbeats (its default is 5 s, and every assignment
//! step waits for a member's next heartbeat), so the test stays short.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::java::peer;
use common::{create_topic, produce_values};
use ferrokafka::consumer::{KafkaConsumer, RebalanceListener, TopicPartition};
use ferrokafka::{ConsumerConfig, ProducerRecord};

#[path = "consumer_kip848/mock.rs"]
#[cfg(feature = "mock")]
mod mock;
#[path = "consumer_kip848/patterns.rs"]
mod patterns;

const PARTITIONS: i32 = 12;

fn broker() -> &'static TestBroker {
    static BROKER: OnceLock<TestBroker> = OnceLock::new();
    BROKER.get_or_init(|| {
        TestBroker::start_with(&[
            "group.consumer.min.heartbeat.interval.ms=500",
            "group.consumer.heartbeat.interval.ms=500",
        ])
    })
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Everything the members of one group did, stamped on one clock.
#[derive(Default)]
struct Timeline {
    /// (member, value, when read)
    records: Vec<(String, u64, Instant)>,
    /// (member, epoch or -1, partitions owned from then on, when)
    owned: Vec<(String, i32, BTreeSet<i32>, Instant)>,
    errors: Vec<String>,
    /// Commits after a poll that failed: (member, error, records of that poll).
    failed_commits: Vec<(String, String, usize)>,
}

type Shared = Arc<Mutex<Timeline>>;

fn number(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .expect("utf8")
        .parse()
        .expect("number")
}

/// Logs what our member owns after each step of a reconciliation; commits before revocation.
struct Logger {
    name: String,
    tl: Shared,
}

impl RebalanceListener for Logger {
    async fn on_partitions_revoked(&mut self, c: &mut KafkaConsumer, tps: &[TopicPartition]) {
        let committed = c.commit_sync().await;
        let epoch = c.group_metadata().map_or(-1, |m| m.generation_id);
        let gone: BTreeSet<i32> = tps.iter().map(|tp| tp.partition).collect();
        let left: BTreeSet<i32> = c
            .assignment()
            .iter()
            .map(|tp| tp.partition)
            .filter(|p| !gone.contains(p))
            .collect();
        let mut tl = self.tl.lock().unwrap();
        if let Err(e) = committed {
            tl.errors
                .push(format!("{}: commit on revoke: {e}", self.name));
        }
        // Stamped after the commit: the partitions are still ours until this returns.
        tl.owned
            .push((self.name.clone(), epoch, left, Instant::now()));
    }

    async fn on_partitions_assigned(&mut self, c: &mut KafkaConsumer, _: &[TopicPartition]) {
        let epoch = c.group_metadata().map_or(-1, |m| m.generation_id);
        let now: BTreeSet<i32> = c.assignment().iter().map(|tp| tp.partition).collect();
        self.tl
            .lock()
            .unwrap()
            .owned
            .push((self.name.clone(), epoch, now, Instant::now()));
    }

    async fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, tps: &[TopicPartition]) {
        self.tl
            .lock()
            .unwrap()
            .errors
            .push(format!("{}: lost {tps:?}", self.name));
    }
}

fn our_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("max.poll.records", "50")
        .build()
        .expect("consumer config")
}

struct Ours {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn spawn_ours(name: &str, cfg: ConsumerConfig, topic: &str, tl: Shared) -> Ours {
    let stop = Arc::new(AtomicBool::new(false));
    let (s, name, topic) = (stop.clone(), name.to_string(), topic.to_string());
    let task = tokio::spawn(async move {
        let mut c = KafkaConsumer::new(cfg).expect("consumer");
        let logger = Logger {
            name: name.clone(),
            tl: tl.clone(),
        };
        c.subscribe_with([topic], logger).expect("subscribe");
        while !s.load(Ordering::Acquire) {
            let records = match c.poll(Duration::from_millis(100)).await {
                Ok(r) => r,
                Err(e) => {
                    tl.lock().unwrap().errors.push(format!("{name}: poll: {e}"));
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            let now = Instant::now();
            tl.lock().unwrap().records.extend(records.iter().map(|r| {
                (
                    name.clone(),
                    number(r.value.as_deref().expect("value")),
                    now,
                )
            }));
            if let Err(e) = c.commit_sync().await {
                tl.lock().unwrap().failed_commits.push((
                    name.clone(),
                    e.to_string(),
                    records.len(),
                ));
            }
            // A slow member: partitions move while they still have records to read.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(e) = c.close().await {
            tl.lock()
                .unwrap()
                .errors
                .push(format!("{name}: close: {e}"));
        }
        tl.lock()
            .unwrap()
            .owned
            .push((name, -1, BTreeSet::new(), Instant::now()));
    });
    Ours { stop, task }
}

impl Ours {
    async fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("member task");
    }
}

/// A Java member (`JavaPeer group --strategy consumer`); killed when dropped.
struct Java {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn ids(s: &str) -> BTreeSet<i32> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().expect("partition"))
        .collect()
}

fn spawn_java(name: &str, bootstrap: &str, topic: &str, group: &str, tl: Shared) -> Java {
    let mut child = peer()
        .command("group")
        .args(["--bootstrap", bootstrap, "--topic", topic, "--group", group])
        .args(["--client-id", name, "--strategy", "consumer"])
        .args(["--batch", "50", "--pause-ms", "20", "--max-seconds", "120"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run java: {e}"));
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (se, name) = (stderr.clone(), name.to_string());
    let readers = vec![
        std::thread::spawn(move || {
            let mut owned = BTreeSet::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                let f: Vec<&str> = line.split('\t').collect();
                let mut t = tl.lock().unwrap();
                match f[0] {
                    // R topic partition offset ts_type ts key value headers (hex value)
                    "R" => {
                        let value = common::records::from_hex(f[7]);
                        t.records.push((name.clone(), number(&value), now));
                    }
                    "ASSIGN" => {
                        owned = ids(f.get(3).copied().unwrap_or(""));
                        let epoch = f[1].parse().expect("epoch");
                        t.owned.push((name.clone(), epoch, owned.clone(), now));
                    }
                    "REVOKE" | "LOST" => {
                        for p in ids(f.get(2).copied().unwrap_or("")) {
                            owned.remove(&p);
                        }
                        let epoch = f[1].parse().expect("epoch");
                        t.owned.push((name.clone(), epoch, owned.clone(), now));
                        if f[0] == "LOST" {
                            t.errors.push(format!("{name}: {line}"));
                        }
                    }
                    "COMMIT_ERROR" => t.errors.push(format!("{name}: {line}")),
                    "DONE" => t.owned.push((name.clone(), -1, BTreeSet::new(), now)),
                    _ => {}
                }
            }
        }),
        std::thread::spawn(move || {
            let mut err = BufReader::new(err);
            let mut buf = String::new();
            while matches!(err.read_line(&mut buf), Ok(n) if n > 0) {
                se.lock().unwrap().push_str(&buf);
                buf.clear();
            }
        }),
    ];
    Java {
        stdin: child.stdin.take(),
        child,
        stderr,
        readers,
    }
}

impl Java {
    /// Closes stdin (the stop signal) and waits for it to leave the group and exit.
    fn stop(&mut self) {
        drop(self.stdin.take());
        let start = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "java member did not exit: {}",
                common::java::tail(&self.stderr.lock().unwrap(), 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for r in self.readers.drain(..) {
            r.join().expect("reader");
        }
    }
}

impl Drop for Java {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `cond` holds, for at most `limit`.
async fn wait_for(limit: Duration, what: &str, tl: &Shared, cond: impl Fn(&Timeline) -> bool) {
    let start = Instant::now();
    while !cond(&tl.lock().unwrap()) {
        if start.elapsed() > limit {
            let t = tl.lock().unwrap();
            panic!(
                "{what}: not within {limit:?}; {} records read; errors {:?}; ownership {:?}",
                t.records.len(),
                t.errors,
                t.owned
                    .iter()
                    .map(|(m, e, o, _)| format!("{m}@{e}:{o:?}"))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which members owned each partition at which time: no partition may have two owners at
/// once. Each member's ownership holds from one entry of `owned` to its next.
fn overlaps(t: &Timeline) -> Vec<String> {
    type Steps<'a> = Vec<(Instant, i32, &'a BTreeSet<i32>)>;
    let mut by_member: BTreeMap<&str, Steps> = BTreeMap::new();
    for (m, e, o, at) in &t.owned {
        by_member.entry(m).or_default().push((*at, *e, o));
    }
    let end = Instant::now();
    // (partition) -> [(from, to, member, epoch)]
    let mut spans: BTreeMap<i32, Vec<(Instant, Instant, &str, i32)>> = BTreeMap::new();
    for (m, steps) in &by_member {
        for (i, (from, epoch, parts)) in steps.iter().enumerate() {
            let to = steps.get(i + 1).map_or(end, |s| s.0);
            for p in parts.iter() {
                spans.entry(*p).or_default().push((*from, to, m, *epoch));
            }
        }
    }
    let mut out = Vec::new();
    for (p, mut s) in spans {
        s.sort();
        for w in s.windows(2) {
            let ((_, to_a, m_a, e_a), (from_b, _, m_b, e_b)) = (w[0], w[1]);
            if m_a != m_b && from_b < to_a {
                out.push(format!(
                    "partition {p}: {m_a} (epoch {e_a}) until {:?} after {m_b} (epoch {e_b}) took it",
                    to_a - from_b
                ));
            }
        }
    }
    out
}

/// Records the members other than `joiner` read between `from` and `to`.
fn read_by_others(t: &Timeline, joiner: &str, from: Instant, to: Instant) -> usize {
    t.records
        .iter()
        .filter(|(m, _, at)| m != joiner && *at >= from && *at <= to)
        .count()
}

fn owns_something(t: &Timeline, member: &str) -> Option<Instant> {
    t.owned
        .iter()
        .find(|(m, _, o, _)| m == member && !o.is_empty())
        .map(|(_, _, _, at)| *at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_ours_and_two_java_members_share_a_kip848_group_each_record_read_once() {
    init_tracing();
    let bootstrap = broker().bootstrap();
    let topic = "kip848-mixed";
    let group = "kip848-mixed-group";
    create_topic(&bootstrap, topic, PARTITIONS).await;
    const PRELOADED: u64 = 3000;
    produce_values(
        &bootstrap,
        topic,
        PARTITIONS,
        (0..PRELOADED).map(|v| v.to_string()),
        "none",
    )
    .await;
    // Records keep coming while members join and leave: there is always something to read.
    let producing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (go, bootstrap) = (producing.clone(), bootstrap.clone());
        tokio::spawn(async move {
            let p = common::producer(&bootstrap, &[("linger.ms", "5")]);
            let mut next = PRELOADED;
            while go.load(Ordering::Acquire) {
                let mut acks = Vec::new();
                for _ in 0..60 {
                    let rec = ProducerRecord::new(topic, next.to_string())
                        .partition((next % PARTITIONS as u64) as i32);
                    acks.push(p.enqueue(rec).await.expect("enqueue"));
                    next += 1;
                }
                for a in acks {
                    a.await.expect("delivered");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            p.close(Duration::from_secs(10)).await;
            next
        })
    };
    let tl = Shared::default();
    let mut ours = Vec::new();
    let mut java = Vec::new();
    let mut joins = Vec::new();
    // Members join one at a time, each once the one before it owns partitions.
    for (i, name) in ["ours-a", "java-a", "ours-b", "java-b", "ours-c"]
        .iter()
        .enumerate()
    {
        let started = Instant::now();
        if name.starts_with("java") {
            java.push(spawn_java(name, &bootstrap, topic, group, tl.clone()));
        } else {
            ours.push(spawn_ours(
                name,
                our_config(&bootstrap, group),
                topic,
                tl.clone(),
            ));
        }
        wait_for(Duration::from_secs(20), name, &tl, |t| {
            owns_something(t, name).is_some()
        })
        .await;
        let owned_at = owns_something(&tl.lock().unwrap(), name).expect("owner");
        if i > 0 {
            joins.push((name.to_string(), started, owned_at));
        }
    }
    // Then members leave one at a time: one of ours, one Java, each after the group read more.
    let read_now = |tl: &Shared| tl.lock().unwrap().records.len();
    let before = read_now(&tl);
    wait_for(Duration::from_secs(10), "reading", &tl, |t| {
        t.records.len() > before + 500
    })
    .await;
    ours.remove(0).stop().await;
    let before = read_now(&tl);
    wait_for(Duration::from_secs(10), "reading after a leave", &tl, |t| {
        t.records.len() > before + 500
    })
    .await;
    java[0].stop();
    let before = read_now(&tl);
    wait_for(
        Duration::from_secs(10),
        "reading after a Java leave",
        &tl,
        |t| t.records.len() > before + 500,
    )
    .await;
    producing.store(false, Ordering::Release);
    let written = writer.await.expect("writer");
    // The rest read everything.
    wait_for(Duration::from_secs(30), "every record read", &tl, |t| {
        t.records.iter().map(|r| r.1).collect::<BTreeSet<_>>().len() == written as usize
    })
    .await;
    for o in ours {
        o.stop().await;
    }
    java[1].stop();

    let t = tl.lock().unwrap();
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, v, _) in &t.records {
        *count.entry(*v).or_default() += 1;
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(twice.is_empty(), "read more than once: {twice:?}");
    assert_eq!(count.len() as u64, written, "every record read");
    assert!(t.errors.is_empty(), "errors: {:?}", t.errors);
    assert!(t.failed_commits.is_empty(), "{:?}", t.failed_commits);
    let clash = overlaps(&t);
    assert!(clash.is_empty(), "two owners at once: {clash:?}");
    for (joiner, from, to) in &joins {
        let others = read_by_others(&t, joiner, *from, *to);
        assert!(
            others > 0,
            "nobody read while {joiner} joined ({:?})",
            *to - *from
        );
    }
    let epochs: BTreeSet<i32> = t.owned.iter().map(|o| o.1).collect();
    assert!(
        epochs.iter().any(|e| *e > 1),
        "member epochs logged: {epochs:?}"
    );
}

// ---- helpers for one consumer at a time ---------------------------------------------------

/// Polls `c` until `done` holds of what it read (topic, value), for at most `limit`; returns
/// how long it took.
async fn poll_until(
    c: &mut KafkaConsumer,
    read: &mut Vec<(String, u64)>,
    limit: Duration,
    what: &str,
    done: impl Fn(&KafkaConsumer, &[(String, u64)]) -> bool,
) -> Duration {
    let start = Instant::now();
    while !done(c, read) {
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; assignment {:?}, read {} records",
            c.assignment(),
            read.len()
        );
        let records = c.poll(Duration::from_millis(100)).await.expect("poll");
        read.extend(records.iter().map(|r| {
            (
                r.topic.to_string(),
                number(r.value.as_deref().expect("value")),
            )
        }));
        if !records.is_empty() {
            c.commit_sync().await.expect("commit");
        }
    }
    start.elapsed()
}

fn read_from(read: &[(String, u64)], topic: &str) -> BTreeSet<u64> {
    read.iter()
        .filter(|(t, _)| t == topic)
        .map(|(_, v)| *v)
        .collect()
}

// ---- static membership -------------------------------------------------------------------

/// A second member with the same `group.instance.id` is refused while the first holds it
/// (UNRELEASED_INSTANCE_ID, fatal as in Java); once the first leaves (epoch -2, its assignment
/// kept), the second subscribes again and takes its place with the same partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_s_instance_id_is_taken_over_only_after_it_leaves() {
    init_tracing();
    let bootstrap = broker().bootstrap();
    let topic = "kip848-static";
    create_topic(&bootstrap, topic, 3).await;
    let props: &[(&str, &str)] = &[
        ("group.id", "kip848-static-group"),
        ("group.protocol", "consumer"),
        ("group.instance.id", "static-1"),
        ("enable.auto.commit", "false"),
    ];
    let mut first = common::consumer(&bootstrap, props);
    first.subscribe([topic]).expect("subscribe");
    let mut read = Vec::new();
    poll_until(
        &mut first,
        &mut read,
        Duration::from_secs(20),
        "first assigned",
        |c, _| c.assignment().len() == 3,
    )
    .await;
    let mut second = common::consumer(&bootstrap, props);
    second.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    let err = loop {
        assert!(start.elapsed() < Duration::from_secs(10), "no error");
        match second.poll(Duration::from_millis(100)).await {
            Err(e) => break e,
            Ok(_) => first
                .poll(Duration::from_millis(10))
                .await
                .map(drop)
                .expect("poll"),
        }
    };
    assert_eq!(err.code().map(|c| c.0), Some(111), "{err}");
    // Ended by the fatal error: polling again does not rejoin.
    second.poll(Duration::from_millis(300)).await.expect("poll");
    assert!(second.assignment().is_empty());
    first.close().await.expect("close");
    second.subscribe([topic]).expect("subscribe again");
    poll_until(
        &mut second,
        &mut read,
        Duration::from_secs(20),
        "taken over",
        |c, _| c.assignment().len() == 3,
    )
    .await;
    second.close().await.expect("close");
}

// ---- online migration --------------------------------------------------------------------

/// A classic group moves to the consumer protocol member by member (KIP-848 online
/// migration: the broker converts the group when the first consumer-protocol member joins and
/// keeps serving the classic members through JoinGroup/SyncGroup): every record is read, and
/// none twice (members commit after every poll and before giving partitions up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_group_moves_to_the_consumer_protocol_member_by_member() {
    init_tracing();
    let bootstrap = broker().bootstrap();
    let topic = "kip848-migration";
    let group = "kip848-migration-group";
    create_topic(&bootstrap, topic, 6).await;
    let producing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (go, bootstrap) = (producing.clone(), bootstrap.clone());
        tokio::spawn(async move {
            let p = common::producer(&bootstrap, &[("linger.ms", "5")]);
            let mut next = 0u64;
            while go.load(Ordering::Acquire) {
                let mut acks = Vec::new();
                for _ in 0..30 {
                    let rec =
                        ProducerRecord::new(topic, next.to_string()).partition((next % 6) as i32);
                    acks.push(p.enqueue(rec).await.expect("enqueue"));
                    next += 1;
                }
                for a in acks {
                    a.await.expect("delivered");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            p.close(Duration::from_secs(10)).await;
            next
        })
    };
    let classic = |name: &str| {
        ConsumerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .set("group.id", group)
            .set("client.id", name)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("heartbeat.interval.ms", "300")
            .set("max.poll.records", "50")
            .build()
            .expect("classic config")
    };
    let tl = Shared::default();
    let read_now = |tl: &Shared| tl.lock().unwrap().records.len();
    let mut members = Vec::new();
    for name in ["classic-a", "classic-b"] {
        members.push(spawn_ours(name, classic(name), topic, tl.clone()));
        wait_for(Duration::from_secs(20), name, &tl, |t| {
            owns_something(t, name).is_some()
        })
        .await;
    }
    // Each classic member in turn makes way for a consumer-protocol one.
    for name in ["consumer-a", "consumer-b"] {
        let before = read_now(&tl);
        wait_for(Duration::from_secs(10), "reading", &tl, |t| {
            t.records.len() > before + 300
        })
        .await;
        members.remove(0).stop().await;
        members.push(spawn_ours(
            name,
            our_config(&bootstrap, group),
            topic,
            tl.clone(),
        ));
        wait_for(Duration::from_secs(20), name, &tl, |t| {
            owns_something(t, name).is_some()
        })
        .await;
    }
    let before = read_now(&tl);
    wait_for(Duration::from_secs(10), "reading after", &tl, |t| {
        t.records.len() > before + 300
    })
    .await;
    producing.store(false, Ordering::Release);
    let written = writer.await.expect("writer");
    wait_for(Duration::from_secs(30), "every record read", &tl, |t| {
        t.records.iter().map(|r| r.1).collect::<BTreeSet<_>>().len() == written as usize
    })
    .await;
    for m in members {
        m.stop().await;
    }
    let t = tl.lock().unwrap();
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for (_, v, _) in &t.records {
        *count.entry(*v).or_default() += 1;
    }
    assert_eq!(count.len() as u64, written, "every record read");
    // A classic member's commit fails while its group moves to a new generation (Java's
    // CommitFailedException); what it read then may be read again by the next owner.
    for (member, e, _) in &t.failed_commits {
        assert!(
            member.starts_with("classic") && e.contains("ILLEGAL_GENERATION")
                || e.contains("REBALANCE_IN_PROGRESS"),
            "{member}: {e}"
        );
    }
    let uncommitted: usize = t.failed_commits.iter().map(|f| f.2).sum();
    let again: usize = count.values().map(|n| n - 1).sum();
    assert!(
        again <= uncommitted,
        "{again} records read again, {uncommitted} read by polls whose commit failed"
    );
    assert!(t.errors.is_empty(), "errors: {:?}", t.errors);
    let clash = overlaps(&t);
    assert!(clash.is_empty(), "two owners at once: {clash:?}");
}
