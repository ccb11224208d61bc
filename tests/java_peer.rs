//! The Apache Kafka Java client (kafka-clients of the broker's own release) as the reference
//! peer, through a real Apache Kafka broker:
//!
//! - keyed partitioning: for 10,000 keys (the empty key, random binary keys, multi-byte UTF-8
//!   keys) and every partition count 1..=64, `default_partition_for_key` gives what Java's
//!   producer code computes, and the partition the Java producer's records really landed on
//!   (for a spread of counts; see [`LANDING_COUNTS`] for why not all);
//! - a mixed consumer group (classic protocol): our consumer and two Java consumers, with
//!   `range` and with `cooperative-sticky`, members joining and leaving while records keep
//!   coming: every record is read exactly once, partitions pass both ways between us and Java
//!   mid-stream, and every rebalance of the final member sets assigned what Java's assignor
//!   computes from the same input (once with our member as the leader, once with a Java one);
//! - records byte for byte both ways, for each codec: the Java producer (idempotent, acks=all)
//!   writes, we read; we write, the Java consumer reads.
//!
//! The Java side is `tests/java/JavaPeer.java`, compiled by `common::java`. Needs a JDK 17+
//! (`javac`, `java`) and the Kafka jars `scripts/kafka install` resolves; fails, never skips,
//! without them. Runs against Apache Kafka only (not under `FERROKAFKA_BROKER=nisshi`).
//!
//! The tests of this file take turns ([`SERIAL`]): on a 2-core machine, the partitioning test's
//! 120,000 records next to the paced group test would decide the group test's timing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::{TestBroker, nisshi_run};
use common::java::{Rec, by_partition, from_ours, parse_record, parse_records, peer, tail, to_hex};
use common::{create_topic, producer};
use ferrokafka::admin::NewTopic;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::producer::default_partition_for_key;
use ferrokafka::record::Header;
use ferrokafka::{AdminClient, AdminConfig, ConsumerConfig, ProducerRecord, RebalanceListener};

/// One test of this file at a time (see the module docs). A tokio mutex: the tests run on
/// runtimes of their own, and a panicking test does not poison it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn bootstrap() -> String {
    assert!(
        !nisshi_run(),
        "java_peer runs against Apache Kafka only: the Java client of the broker's release is \
         the reference, and Nisshi is not (unset FERROKAFKA_BROKER)"
    );
    TestBroker::shared().bootstrap()
}

/// SplitMix64: a small deterministic generator, so the test data is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Creates `topics`, then waits until the broker serves every partition (ListOffsets answers
/// for all): CreateTopics returns once the controller has them, but a single broker brings
/// their logs online one by one afterwards, and a producer writing meanwhile gets
/// NOT_LEADER_OR_FOLLOWER and retries (seen: the Java idempotent producer, retrying through
/// that on an overloaded machine, ends up with OUT_OF_ORDER_SEQUENCE_NUMBER until its batches
/// expire).
async fn admin_create(bootstrap: &str, topics: Vec<NewTopic>) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    );
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| {
            let n = t.num_partitions.expect("partition count");
            (0..n).map(|p| TopicPartition::new(&t.name, p))
        })
        .collect();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let results = admin.create_topics(topics).await.expect("CreateTopics");
    for name in names {
        if let Err(e) = &results[&name] {
            panic!("create topic {name}: {e}");
        }
    }
    let mut c = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("consumer config"),
    )
    .expect("consumer");
    let start = Instant::now();
    loop {
        match c.end_offsets(&partitions).await {
            Ok(ends) if ends.len() == partitions.len() => break,
            Ok(ends) => eprintln!("{} of {} partitions online", ends.len(), partitions.len()),
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(180),
                    "{} partitions not all online after 180 s: {e}",
                    partitions.len()
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    c.close().await.expect("close");
}

/// Reads every partition of `topics` from the beginning until `expected` records arrived,
/// then 300 ms more (to catch extras). Manual assignment, no group.
async fn read_all(bootstrap: &str, topics: &[(String, i32)], expected: usize) -> Vec<Rec> {
    let mut c = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(bootstrap)
            .set("auto.offset.reset", "earliest")
            .build()
            .expect("consumer config"),
    )
    .expect("consumer");
    c.assign(
        topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition::new(t, p))),
    )
    .expect("assign");
    let mut got = Vec::with_capacity(expected);
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    while done_at.is_none_or(|t| t.elapsed() < Duration::from_millis(300)) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "read {} of {expected} records of {} topics in 120 s",
            got.len(),
            topics.len()
        );
        let records = c.poll(Duration::from_millis(100)).await.expect("poll");
        got.extend(records.iter().map(from_ours));
        if done_at.is_none() && got.len() >= expected {
            done_at = Some(Instant::now());
        }
    }
    c.close().await.expect("close");
    got
}

// ---- 1. keyed partitioning ---------------------------------------------------------------

const KEYS: usize = 10_000;
const KEY_SEED: u64 = 0x6b61_666b_615f_6a76;
const MAX_PARTITIONS: i32 = 64;

/// Partition counts whose topics the Java producer really writes to: a spread (1, 2, 3, primes,
/// powers of two and their neighbours, 64), not all of 1..=64, because all of them is too slow.
/// Measured on the single test broker (2 cores, other test binaries running): the 64 topics of
/// 1..=64 partitions (2,080 partitions) took 26 s to create and come online (the broker brings
/// partition logs up one by one after CreateTopics returns), the Java producer's 640,000
/// records 27 s and reading them back 14 s: 67 s for this test alone. These 12 counts (238
/// partitions, 120,000 records) take about 5 + 5 + 1 s. Every count 1..=64 is still checked
/// against what Java's own producer code computes (`BuiltInPartitioner.partitionForKey`), and
/// `default_partition_for_key` is a pure function of (key, count): landing on a spread shows
/// the Java producer uses that function, the comparison covers every count.
const LANDING_COUNTS: [i32; 12] = [1, 2, 3, 5, 6, 7, 8, 16, 31, 32, 63, 64];

/// The keys: the empty key first, then random binary keys (every length 1..=64, so murmur2's
/// 1-, 2- and 3-byte tails all occur), multi-byte UTF-8 keys and plain ASCII ones.
fn test_keys() -> Vec<Vec<u8>> {
    const CHARS: [&str; 14] = [
        "a",
        "Z",
        "7",
        "-",
        "é",
        "ß",
        "ж",
        "Я",
        "ع",
        "中",
        "鍵",
        "😀",
        "🔑",
        "\u{10ffff}",
    ];
    let mut rng = SplitMix(KEY_SEED);
    let mut keys = vec![Vec::new()];
    for i in 1..KEYS {
        let key = match i % 4 {
            0 | 1 => {
                let n = rng.range(1, 64);
                rng.bytes(n)
            }
            2 => {
                let n = rng.range(1, 24);
                (0..n)
                    .map(|_| CHARS[rng.range(0, CHARS.len() - 1)])
                    .collect::<String>()
                    .into_bytes()
            }
            _ => format!("key-{i}").into_bytes(),
        };
        keys.push(key);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_partitioning_matches_the_java_producer() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let keys = test_keys();
    assert!(keys[0].is_empty());
    assert!(keys.iter().any(|k| std::str::from_utf8(k).is_err()));
    assert!(
        keys.iter()
            .any(|k| std::str::from_utf8(k).is_ok_and(|s| s.chars().any(|c| c.len_utf8() == 4)))
    );
    let stdin: String = keys.iter().map(|k| to_hex(k) + "\n").collect();

    // 1. What Java's producer code computes (BuiltInPartitioner.partitionForKey), every count.
    let counts: Vec<String> = (1..=MAX_PARTITIONS).map(|n| n.to_string()).collect();
    let counts = counts.join(",");
    let (input, arg) = (stdin.clone(), counts.clone());
    let out = tokio::task::spawn_blocking(move || {
        peer().run("partition-for-key", &["--counts", &arg], input.as_bytes())
    })
    .await
    .expect("java partition-for-key");
    let java_computed: Vec<Vec<i32>> = out
        .lines()
        .map(|l| {
            l.split(',')
                .map(|p| p.parse().expect("partition"))
                .collect()
        })
        .collect();
    assert_eq!(java_computed.len(), KEYS, "lines from partition-for-key");
    let mut mismatches = Vec::new();
    for (i, (key, java)) in keys.iter().zip(&java_computed).enumerate() {
        assert_eq!(java.len(), MAX_PARTITIONS as usize, "key {i}");
        for n in 1..=MAX_PARTITIONS {
            let ours = default_partition_for_key(key, n);
            let theirs = java[(n - 1) as usize];
            if ours != theirs {
                mismatches.push(format!(
                    "key {i} 0x{} n={n}: ours {ours}, Java {theirs}",
                    to_hex(key)
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} (key, count) pairs differ from Java's partitionForKey, first: {:#?}",
        mismatches.len(),
        KEYS * MAX_PARTITIONS as usize,
        &mismatches[..mismatches.len().min(10)]
    );

    // 2. Where the Java producer's records land.
    let prefix = "java-keyed-";
    let landing: Vec<i32> = LANDING_COUNTS.to_vec();
    let start = Instant::now();
    admin_create(
        &bootstrap,
        landing
            .iter()
            .map(|n| NewTopic::new(format!("{prefix}{n}"), *n, 1))
            .collect(),
    )
    .await;
    let created = start.elapsed();
    let start = Instant::now();
    let (b, input) = (bootstrap.clone(), stdin.clone());
    let arg: Vec<String> = landing.iter().map(|n| n.to_string()).collect();
    let arg = arg.join(",");
    let out = tokio::task::spawn_blocking(move || {
        peer().run(
            "produce-keys",
            &[
                "--bootstrap",
                &b,
                "--topic-prefix",
                prefix,
                "--counts",
                &arg,
            ],
            input.as_bytes(),
        )
    })
    .await
    .expect("java produce-keys");
    let produced = start.elapsed();
    // count -> partition per key index, as the Java producer's RecordMetadata said.
    let mut reported: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() == 3 && f[0] == "P", "bad line {line:?}");
        let parts: Vec<i32> = f[2]
            .split(',')
            .map(|p| p.parse().expect("partition"))
            .collect();
        assert_eq!(parts.len(), KEYS, "{line:.40}");
        reported.insert(f[1].parse().expect("count"), parts);
    }
    assert_eq!(reported.keys().copied().collect::<Vec<_>>(), landing);

    // Read everything back: the partition a record is in is where it landed.
    let start = Instant::now();
    let topics: Vec<(String, i32)> = landing
        .iter()
        .map(|n| (format!("{prefix}{n}"), *n))
        .collect();
    let got = read_all(&bootstrap, &topics, KEYS * landing.len()).await;
    let read = start.elapsed();
    let mut seen: BTreeMap<i32, Vec<Option<i32>>> =
        landing.iter().map(|n| (*n, vec![None; KEYS])).collect();
    let mut wrong = Vec::new();
    for r in &got {
        let n: i32 = r.topic[prefix.len()..]
            .parse()
            .expect("count in topic name");
        let idx: usize = std::str::from_utf8(r.value.as_deref().expect("value"))
            .expect("utf-8 value")
            .parse()
            .expect("key index");
        assert_eq!(
            r.key.as_deref(),
            Some(keys[idx].as_slice()),
            "{}: key of record {idx}",
            r.topic
        );
        let slot = &mut seen.get_mut(&n).expect("count")[idx];
        assert!(slot.is_none(), "{}: key {idx} read twice", r.topic);
        *slot = Some(r.partition);
        let ours = default_partition_for_key(&keys[idx], n);
        let java = reported[&n][idx];
        if r.partition != ours || r.partition != java {
            wrong.push(format!(
                "key {idx} 0x{} n={n}: landed on {}, ours {ours}, Java's RecordMetadata {java}",
                to_hex(&keys[idx]),
                r.partition
            ));
        }
    }
    for (n, slots) in &seen {
        let missing: Vec<usize> = (0..KEYS).filter(|i| slots[*i].is_none()).collect();
        assert!(
            missing.is_empty(),
            "n={n}: {} keys not read back, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} records landed elsewhere than we compute, first: {:#?}",
        wrong.len(),
        got.len(),
        &wrong[..wrong.len().min(10)]
    );
    // A comparison that passes because every key went to one partition proves little.
    for n in [7, MAX_PARTITIONS] {
        if let Some(slots) = seen.get(&n) {
            let mut used = vec![0usize; n as usize];
            for p in slots.iter().flatten() {
                used[*p as usize] += 1;
            }
            assert!(
                used.iter().all(|&c| c > KEYS / n as usize / 2),
                "n={n}: {used:?}"
            );
        }
    }
    eprintln!(
        "{} topics ({} partitions) created in {created:.1?}; Java produced {} records in \
         {produced:.1?}; read back in {read:.1?}",
        landing.len(),
        landing.iter().sum::<i32>(),
        got.len()
    );
}

// ---- 2. mixed consumer group -------------------------------------------------------------

const GROUP_PARTITIONS: i32 = 7;
const PRELOADED: usize = 5000;
/// Records written per tick of the background producer (a tick is 100 ms), round robin.
const TRICKLE: usize = 21;
/// Every member reads at most BATCH records per poll, then pauses PAUSE_MS: partitions change
/// hands while they still have records to read.
const BATCH: usize = 100;
const PAUSE_MS: u64 = 100;

/// What one member (ours or Java) did.
#[derive(Default)]
struct MemberState {
    member_id: String,
    /// Owned now (changes on every rebalance callback).
    assignment: BTreeSet<i32>,
    /// generation -> the whole assignment right after that rebalance (callbacks done).
    generations: BTreeMap<i32, BTreeSet<i32>>,
    /// Every line but the records, for diagnostics.
    events: Vec<String>,
    records: Vec<Rec>,
    commit_errors: Vec<String>,
    done: Option<usize>,
    /// Java members: the member ids of each rebalance this member led (ran the assignor for).
    led: Vec<BTreeSet<String>>,
}

type Shared = Arc<Mutex<MemberState>>;

fn ids(s: &str) -> BTreeSet<i32> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().expect("partition id"))
        .collect()
}

fn show(parts: &BTreeSet<i32>) -> String {
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A Java group member (`JavaPeer group`), its output read by two threads. Killed when dropped
/// (a failing test leaves nothing behind).
struct JavaMember {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    state: Shared,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl JavaMember {
    fn spawn(bootstrap: &str, topic: &str, group: &str, name: &str, strategy: &str) -> JavaMember {
        let mut child = peer()
            .command("group")
            .args(["--bootstrap", bootstrap, "--topic", topic, "--group", group])
            .args(["--client-id", name, "--strategy", strategy])
            .args([
                "--batch",
                &BATCH.to_string(),
                "--pause-ms",
                &PAUSE_MS.to_string(),
            ])
            .args(["--max-seconds", "240"])
            .args([
                "--session-timeout-ms",
                "6000",
                "--heartbeat-interval-ms",
                "300",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run java: {e}"));
        let state = Shared::default();
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (st, se) = (state.clone(), stderr.clone());
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let f: Vec<&str> = line.split('\t').collect();
                    let mut s = st.lock().unwrap();
                    match f[0] {
                        "R" => {
                            let r = parse_record(&f[1..], &line);
                            s.records.push(r);
                            continue;
                        }
                        "ASSIGN" => {
                            let generation: i32 = f[1].parse().expect("generation");
                            let parts = ids(f.get(3).copied().unwrap_or(""));
                            s.member_id = f[2].to_string();
                            s.generations.insert(generation, parts.clone());
                            s.assignment = parts;
                        }
                        "REVOKE" | "LOST" => {
                            for p in ids(f.get(2).copied().unwrap_or("")) {
                                s.assignment.remove(&p);
                            }
                        }
                        "LEAD" => {
                            let members = f.get(1).copied().unwrap_or("");
                            s.led.push(members.split(',').map(String::from).collect());
                        }
                        "COMMIT_ERROR" => s.commit_errors.push(line.clone()),
                        "DONE" => s.done = Some(f[1].parse().expect("count")),
                        _ => {}
                    }
                    s.events.push(line);
                }
            }),
            std::thread::spawn(move || {
                // Kept as it comes, so a test that times out can show it.
                let mut err = BufReader::new(err);
                let mut buf = String::new();
                while matches!(err.read_line(&mut buf), Ok(n) if n > 0) {
                    se.lock().unwrap().push_str(&buf);
                    buf.clear();
                }
            }),
        ];
        let stdin = child.stdin.take();
        JavaMember {
            name: name.to_string(),
            child,
            stdin,
            state,
            stderr,
            readers,
        }
    }

    /// Closes stdin (the stop signal) and waits for the process to leave the group and exit.
    fn stop(&mut self, limit: Duration) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for java") {
                for r in self.readers.drain(..) {
                    r.join().expect("reader thread");
                }
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {limit:?} of its stop signal\n{}",
                    self.name,
                    describe(&self.name, &self.state, Some(&self.stderr.lock().unwrap()))
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for JavaMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn describe(name: &str, state: &Shared, stderr: Option<&str>) -> String {
    let s = state.lock().unwrap();
    let mut out = format!(
        "--- {name} ({}): owns [{}], {} records, generations {:?}, led {:?}, commit errors \
         {:?}\n  events: {:?}\n",
        s.member_id,
        show(&s.assignment),
        s.records.len(),
        s.generations,
        s.led,
        s.commit_errors,
        s.events
    );
    if let Some(e) = stderr {
        out.push_str(&format!("  stderr:\n{}\n", tail(e, 30)));
    }
    out
}

/// Our member's rebalance listener: commits what was processed before partitions go (as the
/// Java members do), and records each rebalance's outcome.
struct OurListener(Shared);

impl RebalanceListener for OurListener {
    async fn on_partitions_revoked(&mut self, c: &mut KafkaConsumer, tps: &[TopicPartition]) {
        let committed = c.commit_sync().await;
        let mut s = self.0.lock().unwrap();
        if let Err(e) = committed {
            s.commit_errors.push(format!("on revoke: {e}"));
        }
        let revoked: BTreeSet<i32> = tps.iter().map(|tp| tp.partition).collect();
        for p in &revoked {
            s.assignment.remove(p);
        }
        s.events.push(format!("REVOKE {}", show(&revoked)));
    }

    async fn on_partitions_assigned(&mut self, c: &mut KafkaConsumer, _: &[TopicPartition]) {
        let meta = c.group_metadata().expect("a group member");
        let parts: BTreeSet<i32> = c.assignment().iter().map(|tp| tp.partition).collect();
        let mut s = self.0.lock().unwrap();
        s.events.push(format!(
            "ASSIGN {} {} {}",
            meta.generation_id,
            meta.member_id,
            show(&parts)
        ));
        s.member_id = meta.member_id;
        s.generations.insert(meta.generation_id, parts.clone());
        s.assignment = parts;
    }

    async fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, tps: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap();
        for tp in tps {
            s.assignment.remove(&tp.partition);
        }
        s.events.push(format!("LOST {tps:?}"));
    }
}

fn our_config(bootstrap: &str, group: &str, strategy: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("client.id", "ferrokafka")
        .set("partition.assignment.strategy", strategy)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("heartbeat.interval.ms", "300")
        .set("session.timeout.ms", "6000")
        .set("max.poll.records", BATCH.to_string())
        .build()
        .expect("consumer config")
}

/// Our member: polls until `stop`, commits synchronously after every non-empty poll, pauses,
/// then closes (leaving the group).
async fn our_member(
    cfg: ConsumerConfig,
    topic: String,
    state: Shared,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut c = KafkaConsumer::new(cfg).map_err(|e| format!("new: {e}"))?;
    c.subscribe_with([topic], OurListener(state.clone()))
        .map_err(|e| format!("subscribe: {e}"))?;
    while !stop.load(Ordering::Acquire) {
        let records = c
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| format!("poll: {e}"))?;
        if records.is_empty() {
            continue;
        }
        state
            .lock()
            .unwrap()
            .records
            .extend(records.iter().map(from_ours));
        if let Err(e) = c.commit_sync().await {
            state
                .lock()
                .unwrap()
                .commit_errors
                .push(format!("after poll: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(PAUSE_MS)).await;
    }
    c.close().await.map_err(|e| format!("close: {e}"))
}

struct OurMember {
    name: String,
    state: Shared,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl OurMember {
    fn spawn(bootstrap: &str, topic: &str, group: &str, strategy: &str, name: &str) -> OurMember {
        let state = Shared::default();
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(our_member(
            our_config(bootstrap, group, strategy),
            topic.to_string(),
            state.clone(),
            stop.clone(),
        ));
        OurMember {
            name: name.to_string(),
            state,
            stop,
            task,
        }
    }

    async fn stop(self) -> (String, Shared, Result<(), String>) {
        self.stop.store(true, Ordering::Release);
        let r = match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(r) => r.unwrap_or_else(|e| Err(format!("task: {e}"))),
            Err(_) => Err("did not close within 30 s".into()),
        };
        (self.name, self.state, r)
    }
}

/// Writes values `from..` (value v to partition v % GROUP_PARTITIONS), TRICKLE per 100 ms,
/// until `stop`; returns the first value not written.
async fn trickle(bootstrap: String, topic: String, from: usize, stop: Arc<AtomicBool>) -> usize {
    let p = producer(&bootstrap, &[("linger.ms", "5")]);
    let mut v = from;
    while !stop.load(Ordering::Acquire) {
        let mut pending = Vec::new();
        for _ in 0..TRICKLE {
            let rec = ProducerRecord::new(&topic, v.to_string())
                .partition((v % GROUP_PARTITIONS as usize) as i32);
            pending.push(p.enqueue(rec).await.expect("enqueue"));
            v += 1;
        }
        for f in pending {
            f.await.expect("delivered");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.close(Duration::from_secs(10)).await;
    v
}

async fn preload(bootstrap: &str, topic: &str, values: std::ops::Range<usize>) {
    let p = producer(
        bootstrap,
        &[("compression.type", "lz4"), ("linger.ms", "5")],
    );
    let mut pending = Vec::new();
    for v in values {
        let rec = ProducerRecord::new(topic, v.to_string())
            .partition((v % GROUP_PARTITIONS as usize) as i32);
        pending.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for f in pending {
        f.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}

fn value_number(r: &Rec) -> usize {
    let v = r
        .value
        .as_deref()
        .unwrap_or_else(|| panic!("null value: {r:?}"));
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("value is not a number: {r:?}"))
}

/// The group as the test sees it: who is in it now, and everyone who ever was.
struct Group {
    bootstrap: String,
    topic: String,
    group: String,
    strategy: String,
    ours: Option<OurMember>,
    java: Vec<JavaMember>,
    /// Members that left: (name, state).
    gone: Vec<(String, Shared)>,
    /// Our members' results (close).
    our_results: Vec<(String, Result<(), String>)>,
    /// Member names in the order they joined.
    joined: Vec<String>,
}

impl Group {
    /// The current members, in the order they joined.
    fn current(&self) -> Vec<(String, Shared)> {
        let mut v: Vec<(String, Shared)> = self
            .ours
            .iter()
            .map(|o| (o.name.clone(), o.state.clone()))
            .collect();
        v.extend(self.java.iter().map(|j| (j.name.clone(), j.state.clone())));
        v.sort_by_key(|(name, _)| self.joined.iter().position(|n| n == name));
        v
    }

    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for (name, state) in &self.gone {
            out.push_str(&describe(&format!("{name} (gone)"), state, None));
        }
        if let Some(o) = &self.ours {
            out.push_str(&describe(&o.name, &o.state, None));
        }
        for j in &self.java {
            out.push_str(&describe(
                &j.name,
                &j.state,
                Some(&j.stderr.lock().unwrap()),
            ));
        }
        out
    }

    /// The current members' records read so far.
    fn records_read(&self) -> usize {
        self.current()
            .iter()
            .map(|(_, s)| s.lock().unwrap().records.len())
            .sum()
    }

    /// When every current member has completed the same latest generation, still owns what it
    /// got then, and together they own every partition once: that generation.
    fn steady_generation(&self) -> Option<i32> {
        let members = self.current();
        let mut generation = None;
        let mut all = BTreeSet::new();
        let mut count = 0;
        for (_, s) in &members {
            let s = s.lock().unwrap();
            let (g, parts) = s.generations.last_key_value()?;
            if *parts != s.assignment || generation.is_some_and(|x| x != *g) {
                return None;
            }
            generation = Some(*g);
            count += parts.len();
            all.extend(parts.iter().copied());
        }
        (count == GROUP_PARTITIONS as usize && all == (0..GROUP_PARTITIONS).collect())
            .then_some(generation)
            .flatten()
    }

    /// Waits for a steady generation that holds for a second; panics after `limit`.
    async fn wait_steady(&self, what: &str, limit: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(g) = self.steady_generation() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if self.steady_generation() == Some(g) {
                    return g;
                }
            }
            assert!(
                start.elapsed() < limit,
                "{what}: no steady assignment within {limit:?}\n{}",
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current members read `n` more records than `since`.
    async fn wait_reading(&self, what: &str, since: usize, n: usize) {
        let start = Instant::now();
        while self.records_read() < since + n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: the group read {} records in 30 s, wanted {n}\n{}",
                self.records_read() - since,
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn join_java(&mut self, name: &str) {
        self.joined.push(name.to_string());
        self.java.push(JavaMember::spawn(
            &self.bootstrap,
            &self.topic,
            &self.group,
            name,
            &self.strategy,
        ));
    }

    fn join_ours(&mut self, name: &str) {
        assert!(self.ours.is_none());
        self.joined.push(name.to_string());
        self.ours = Some(OurMember::spawn(
            &self.bootstrap,
            &self.topic,
            &self.group,
            &self.strategy,
            name,
        ));
    }

    async fn leave_ours(&mut self) {
        let o = self.ours.take().expect("our member");
        let (name, state, result) = o.stop().await;
        self.gone.push((name.clone(), state));
        self.our_results.push((name, result));
    }

    /// Every rebalance after `after` up to `steady` that all current members completed: what
    /// they got must be what Java's assignor computes from their input (member ids, and each
    /// one's previous assignment and generation; given in join order, which is the order Java's
    /// leader meets members that share a HashMap bucket). `java_leads`: whether a Java member ran the
    /// rebalances of this member set (else our member did). Returns how many were checked.
    async fn assert_rebalances_as_java(
        &self,
        what: &str,
        after: i32,
        steady: i32,
        java_leads: bool,
    ) -> usize {
        let members: Vec<(String, String, BTreeMap<i32, BTreeSet<i32>>)> = self
            .current()
            .into_iter()
            .map(|(name, s)| {
                let s = s.lock().unwrap();
                (name, s.member_id.clone(), s.generations.clone())
            })
            .collect();
        // Who led: the Java members say when their assignor runs, and for which members.
        let member_ids: BTreeSet<String> = members.iter().map(|(_, id, _)| id.clone()).collect();
        let java_led = self
            .java
            .iter()
            .map(|j| {
                j.state
                    .lock()
                    .unwrap()
                    .led
                    .iter()
                    .filter(|m| **m == member_ids)
                    .count()
            })
            .sum::<usize>();
        let mut checked = 0;
        for generation in after + 1..=steady {
            if !members.iter().all(|(_, _, g)| g.contains_key(&generation)) {
                continue;
            }
            let input: String = members
                .iter()
                .map(|(_, id, g)| {
                    let (prev, owned) = g
                        .range(..generation)
                        .next_back()
                        .map(|(p, o)| (*p, show(o)))
                        .unwrap_or((-1, String::new()));
                    format!("{id}\t{prev}\t{owned}\n")
                })
                .collect();
            let args = [
                "--strategy".to_string(),
                self.strategy.clone(),
                "--topic".into(),
                self.topic.clone(),
                "--partitions".into(),
                GROUP_PARTITIONS.to_string(),
            ];
            let stdin = input.clone();
            let out = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                peer().run("assign", &args, stdin.as_bytes())
            })
            .await
            .expect("java assign");
            let java: BTreeMap<String, BTreeSet<i32>> = out
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    assert!(f.len() == 3 && f[0] == "A", "bad line {l:?}");
                    (f[1].to_string(), ids(f[2]))
                })
                .collect();
            let got: BTreeMap<String, BTreeSet<i32>> = members
                .iter()
                .map(|(_, id, g)| (id.clone(), g[&generation].clone()))
                .collect();
            assert_eq!(
                got,
                java,
                "{what}: generation {generation} differs from what Java's {} assignor computes \
                 from the same input (member id, generation, owned):\n{input}\n{}",
                self.strategy,
                self.diagnostics()
            );
            checked += 1;
        }
        if java_leads {
            assert!(
                java_led >= checked,
                "{what}: a Java member led {java_led} rebalances of {member_ids:?}, {checked} checked\n{}",
                self.diagnostics()
            );
        } else {
            assert_eq!(
                java_led,
                0,
                "{what}: a Java member led a rebalance of {member_ids:?}; our member should have\n{}",
                self.diagnostics()
            );
        }
        assert!(
            checked > 0,
            "{what}: no generation in {}..={steady} that every member completed\n{}",
            after + 1,
            self.diagnostics()
        );
        checked
    }

    /// The steady assignment of `generation`, by member name.
    fn assignment_at(&self, generation: i32) -> BTreeMap<String, (String, BTreeSet<i32>)> {
        self.current()
            .into_iter()
            .map(|(name, s)| {
                let s = s.lock().unwrap();
                (
                    name,
                    (s.member_id.clone(), s.generations[&generation].clone()),
                )
            })
            .collect()
    }
}

/// The shape Java's assignors give 7 partitions: `range` hands members sorted by member id
/// contiguous runs, the first ones one more; `cooperative-sticky` balances within one, and
/// (`previous`: the steady assignment before one member joined or left) moves only what must
/// move.
fn assert_shape(
    strategy: &str,
    what: &str,
    now: &BTreeMap<String, (String, BTreeSet<i32>)>,
    previous: &BTreeMap<String, (String, BTreeSet<i32>)>,
) {
    let n = now.len();
    let total = GROUP_PARTITIONS as usize;
    let mut sizes: Vec<usize> = now.values().map(|(_, p)| p.len()).collect();
    sizes.sort_unstable();
    let want: Vec<usize> = (0..n)
        .map(|i| total / n + usize::from(i >= n - total % n))
        .collect();
    assert_eq!(
        sizes, want,
        "{what}: balanced split of {total} over {n}: {now:?}"
    );
    match strategy {
        "range" => {
            let mut by_id: Vec<&(String, BTreeSet<i32>)> = now.values().collect();
            by_id.sort();
            let mut next = 0;
            for (i, (id, parts)) in by_id.iter().enumerate() {
                let len = total / n + usize::from(i < total % n);
                let run: BTreeSet<i32> = (next..next + len as i32).collect();
                assert_eq!(
                    *parts, run,
                    "{what}: member {i} by id ({id}) should get a contiguous run: {now:?}"
                );
                next += len as i32;
            }
        }
        "cooperative-sticky" => {
            let joined = now.len() > previous.len();
            for (name, (_, parts)) in now {
                let Some((_, before)) = previous.get(name) else {
                    continue;
                };
                if joined {
                    assert!(
                        parts.is_subset(before),
                        "{what}: {name} got partitions although one joined: {before:?} -> \
                         {parts:?}\nnow {now:?}\nbefore {previous:?}"
                    );
                } else {
                    assert!(
                        before.is_subset(parts),
                        "{what}: {name} lost partitions although one left: {before:?} -> \
                         {parts:?}\nnow {now:?}\nbefore {previous:?}"
                    );
                }
            }
        }
        _ => unreachable!(),
    }
}

/// One of ours and two Java members, joining and leaving while records keep coming:
///
/// 1. ours alone (the group leader, as the first member, for as long as it stays);
/// 2. Java `a-java` joins: partitions pass from us to Java;
/// 3. Java `b-java` joins: steady state 1, assigned by our leader;
/// 4. ours leaves: its partitions pass to Java, a Java member becomes the leader;
/// 5. ours joins again (a new member): partitions pass from Java to us; steady state 2,
///    assigned by a Java leader.
///
/// Each steady state's rebalances are checked against Java's assignor, and its shape against
/// the strategy's; at the end every record must have been read exactly once.
async fn mixed_group(strategy: &str) {
    let bootstrap = bootstrap();
    // Compiled (if need be) before any member runs, off the runtime's workers.
    tokio::task::block_in_place(|| {
        peer();
    });
    let topic = format!("java-mixed-{strategy}");
    create_topic(&bootstrap, &topic, GROUP_PARTITIONS).await;
    preload(&bootstrap, &topic, 0..PRELOADED).await;
    let stop_producer = Arc::new(AtomicBool::new(false));
    let trickler = tokio::spawn(trickle(
        bootstrap.clone(),
        topic.clone(),
        PRELOADED,
        stop_producer.clone(),
    ));
    let mut g = Group {
        bootstrap: bootstrap.clone(),
        topic: topic.clone(),
        group: format!("java-mixed-{strategy}"),
        strategy: strategy.to_string(),
        ours: None,
        java: Vec::new(),
        gone: Vec::new(),
        our_results: Vec::new(),
        joined: Vec::new(),
    };
    let limit = Duration::from_secs(45);

    // 1.
    g.join_ours("ours-1");
    let g1 = g.wait_steady("ours alone", limit).await;
    g.wait_reading("ours alone", 0, 300).await;
    // 2.
    g.join_java("a-java");
    let g2 = g.wait_steady("ours + a-java", limit).await;
    let s2 = g.assignment_at(g2);
    let n = g.records_read();
    g.wait_reading("ours + a-java", n, 300).await;
    // 3.
    g.join_java("b-java");
    let g3 = g.wait_steady("ours + a-java + b-java", limit).await;
    let checked_ours = g
        .assert_rebalances_as_java("b-java joined (our leader)", g2, g3, false)
        .await;
    let s3 = g.assignment_at(g3);
    assert_shape(strategy, "ours + a + b", &s3, &s2);
    let n = g.records_read();
    g.wait_reading("ours + a-java + b-java", n, 300).await;
    // 4.
    g.leave_ours().await;
    let g4 = g.wait_steady("a-java + b-java", limit).await;
    let s4 = g.assignment_at(g4);
    assert_shape(strategy, "a + b after ours left", &s4, &s3);
    let n = g.records_read();
    g.wait_reading("a-java + b-java", n, 300).await;
    // 5.
    g.join_ours("ours-2");
    let g5 = g.wait_steady("a-java + b-java + ours again", limit).await;
    let checked_java = g
        .assert_rebalances_as_java("ours joined again (a Java leader)", g4, g5, true)
        .await;
    let s5 = g.assignment_at(g5);
    assert_shape(strategy, "a + b + ours again", &s5, &s4);
    let n = g.records_read();
    g.wait_reading("a-java + b-java + ours again", n, 300).await;

    // Stop writing, let everything be read, stop everyone, then judge.
    stop_producer.store(true, Ordering::Release);
    let total = trickler.await.expect("producer task");
    let start = Instant::now();
    let all_read = loop {
        let mut seen = BTreeSet::new();
        for (_, s) in g.gone.iter().cloned().chain(g.current()) {
            seen.extend(s.lock().unwrap().records.iter().map(value_number));
        }
        if seen.len() >= total {
            break true;
        }
        if start.elapsed() > Duration::from_secs(60) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Everyone leaves, one at a time, each from a steady group: a Java consumer that closes
    // while its group rebalances cannot commit and reports its partitions lost (Kafka's
    // behaviour), and the next owner reads its last records again.
    g.leave_ours().await;
    let mut stopped: Vec<(JavaMember, std::process::ExitStatus)> = Vec::new();
    while !g.java.is_empty() {
        let name = g.java[0].name.clone();
        g.wait_steady(&format!("before {name} leaves"), limit).await;
        let mut m = g.java.remove(0);
        let status = tokio::task::block_in_place(|| m.stop(Duration::from_secs(30)));
        stopped.push((m, status));
    }
    let statuses: Vec<std::process::ExitStatus> = stopped.iter().map(|(_, s)| *s).collect();
    g.java = stopped.into_iter().map(|(m, _)| m).collect();
    let mut members: Vec<(String, Shared)> = g.gone.clone();
    members.extend(g.java.iter().map(|j| (j.name.clone(), j.state.clone())));
    let diag = g.diagnostics();
    assert!(all_read, "not all {total} records read within 60 s\n{diag}");
    for (name, r) in &g.our_results {
        assert_eq!(r, &Ok(()), "our member {name}\n{diag}");
    }
    for (m, status) in g.java.iter().zip(&statuses) {
        let s = m.state.lock().unwrap();
        assert!(status.success(), "{} exited {status}\n{diag}", m.name);
        assert_eq!(
            s.done,
            Some(s.records.len()),
            "{} DONE count\n{diag}",
            m.name
        );
    }

    // Every member left cleanly and stayed within its session: nobody may have lost partitions
    // (as opposed to revoking them). Seen before the fix: our member took a heartbeat's
    // ILLEGAL_GENERATION, answered as its own rejoin completed, for a lost membership, and
    // dropped everything it owned at the next cooperative rebalance.
    let lost: Vec<String> = members
        .iter()
        .flat_map(|(n, s)| {
            let s = s.lock().unwrap();
            s.events
                .iter()
                .filter(|e| e.starts_with("LOST"))
                .map(|e| format!("{n}: {e}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(lost.is_empty(), "partitions lost: {lost:?}\n{diag}");

    // Exactly once: each value read by one member, once, from partition value % 7.
    let mut by_value: BTreeMap<usize, Vec<(String, i32, i64)>> = BTreeMap::new();
    for (name, s) in &members {
        for r in &s.lock().unwrap().records {
            assert_eq!(r.topic, topic);
            by_value.entry(value_number(r)).or_default().push((
                name.clone(),
                r.partition,
                r.offset,
            ));
        }
    }
    let missing: Vec<usize> = (0..total).filter(|v| !by_value.contains_key(v)).collect();
    let dups: Vec<_> = by_value.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        missing.is_empty() && dups.is_empty() && by_value.len() == total,
        "{total} records written, {} distinct read: missing {:?}, read more than once (value: \
         [(member, partition, offset)]) {:?}\n{diag}",
        by_value.len(),
        &missing[..missing.len().min(20)],
        &dups[..dups.len().min(20)]
    );
    for (v, r) in &by_value {
        assert_eq!(r[0].1 as usize, v % GROUP_PARTITIONS as usize, "value {v}");
    }

    // Partitions that changed hands while being read, in offset order: both ways between us
    // and Java.
    let mut by_offset: BTreeMap<i32, BTreeMap<i64, &str>> = BTreeMap::new();
    for r in by_value.values() {
        let (name, p, o) = &r[0];
        by_offset.entry(*p).or_default().insert(*o, name);
    }
    let mut handovers: BTreeSet<(i32, &str, &str)> = BTreeSet::new();
    for (p, readers) in &by_offset {
        let readers: Vec<&str> = readers.values().copied().collect();
        for w in readers.windows(2).filter(|w| w[0] != w[1]) {
            handovers.insert((*p, w[0], w[1]));
        }
    }
    let ours = |name: &str| name.starts_with("ours");
    assert!(
        handovers.iter().any(|(_, a, b)| ours(a) && !ours(b)),
        "no partition passed from us to Java mid-stream: {handovers:?}\n{diag}"
    );
    assert!(
        handovers.iter().any(|(_, a, b)| !ours(a) && ours(b)),
        "no partition passed from Java to us mid-stream: {handovers:?}\n{diag}"
    );
    let per_member: Vec<(String, usize)> = members
        .iter()
        .map(|(n, s)| (n.clone(), s.lock().unwrap().records.len()))
        .collect();
    // Failed commits are no error by themselves (Java refuses a commit while it rebalances);
    // the exactly-once check above is what counts.
    let commit_errors: Vec<(String, usize, Option<String>)> = members
        .iter()
        .map(|(n, s)| {
            let s = s.lock().unwrap();
            (
                n.clone(),
                s.commit_errors.len(),
                s.commit_errors
                    .first()
                    .map(|e| e.chars().take(120).collect()),
            )
        })
        .filter(|(_, n, _)| *n > 0)
        .collect();
    eprintln!(
        "{strategy}: {total} records; generations {g1} {g2} {g3} {g4} {g5}; rebalances checked \
         against Java's assignor: {checked_ours} (our leader) + {checked_java} (Java leader); \
         steady states: {s3:?} / {s4:?} / {s5:?}; read per member {per_member:?}; handovers \
         {handovers:?}; commit errors {commit_errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_java_range() {
    let _serial = SERIAL.lock().await;
    mixed_group("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_java_cooperative_sticky() {
    let _serial = SERIAL.lock().await;
    mixed_group("cooperative-sticky").await;
}

// ---- 3. records byte for byte ------------------------------------------------------------

const PER_TOPIC: usize = 2000;
const RECORD_PARTITIONS: i32 = 3;

/// The topics of a direction: one per codec (CreateTime), and one lz4 topic with
/// `message.timestamp.type=LogAppendTime`. Returns (topic, codec, log_append_time).
fn record_topics(prefix: &str) -> Vec<(String, &'static str, bool)> {
    let mut v: Vec<(String, &'static str, bool)> = CODECS
        .iter()
        .map(|c| (format!("{prefix}{c}"), *c, false))
        .collect();
    v.push((format!("{prefix}lz4-append"), "lz4", true));
    v
}

async fn create_record_topics(bootstrap: &str, topics: &[(String, &str, bool)]) {
    admin_create(
        bootstrap,
        topics
            .iter()
            .map(|(t, _, append)| {
                let nt = NewTopic::new(t.clone(), RECORD_PARTITIONS, 1);
                if *append {
                    nt.config("message.timestamp.type", "LogAppendTime")
                } else {
                    nt
                }
            })
            .collect(),
    )
    .await;
}

/// Checks a written set covers the odd cases, so the comparison means something.
fn assert_varied(what: &str, written: &[Rec]) {
    let has = |f: &dyn Fn(&Rec) -> bool| written.iter().any(f);
    assert!(has(&|r| r.key.is_none()), "{what}: no null key");
    assert!(
        has(&|r| r.key.as_ref().is_some_and(Vec::is_empty)),
        "{what}: no empty key"
    );
    assert!(
        has(&|r| r
            .key
            .as_ref()
            .is_some_and(|k| std::str::from_utf8(k).is_err())),
        "{what}: no binary key"
    );
    assert!(has(&|r| r.value.is_none()), "{what}: no null value");
    assert!(
        has(&|r| r.value.as_ref().is_some_and(Vec::is_empty)),
        "{what}: no empty value"
    );
    assert!(
        has(&|r| r
            .value
            .as_ref()
            .is_some_and(|v| std::str::from_utf8(v).is_err())),
        "{what}: no binary value"
    );
    assert!(
        has(&|r| r.headers.iter().any(|h| h.1.is_none())),
        "{what}: no null header value"
    );
    assert!(
        has(&|r| r.headers.iter().filter(|h| h.0 == b"dup").count() == 2),
        "{what}: no repeated header key"
    );
    assert!(
        has(&|r| r
            .headers
            .iter()
            .any(|h| std::str::from_utf8(&h.0).is_ok_and(|k| !k.is_ascii()))),
        "{what}: no multi-byte header key"
    );
    let parts: BTreeSet<i32> = written.iter().map(|r| r.partition).collect();
    assert_eq!(
        parts.len(),
        RECORD_PARTITIONS as usize,
        "{what}: partitions used"
    );
}

/// For each record read (in order), the offset the writer reported for the same content, as
/// runs `a..=b`: shows reordering, loss or duplication at a glance.
fn written_offsets(want: &[Rec], got: &[Rec]) -> String {
    let content = |r: &Rec| {
        (
            r.key.clone(),
            r.value.clone(),
            r.headers.clone(),
            r.timestamp,
        )
    };
    let at: BTreeMap<_, i64> = want.iter().map(|r| (content(r), r.offset)).collect();
    let mut runs: Vec<(Option<i64>, Option<i64>)> = Vec::new();
    for r in got {
        let o = at.get(&content(r)).copied();
        match runs.last_mut() {
            Some((_, Some(end))) if o == Some(*end + 1) => *end += 1,
            _ => runs.push((o, o)),
        }
    }
    let show = |o: Option<i64>| o.map_or("?".to_string(), |o| o.to_string());
    runs.iter()
        .map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if a != b => format!("{a}..={b}"),
            _ => show(*a),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `got` (in the order read) must equal `want` (any order) partition by partition, in offset
/// order, with nothing missing or extra.
fn assert_same_records(what: &str, want: Vec<Rec>, got: Vec<Rec>) {
    let mut want = by_partition(want);
    for recs in want.values_mut() {
        recs.sort_by_key(|r| r.offset);
    }
    let got = by_partition(got);
    let want_parts: BTreeSet<_> = want.keys().collect();
    let got_parts: BTreeSet<_> = got.keys().collect();
    assert_eq!(got_parts, want_parts, "{what}: partitions read");
    for (tp, want) in &want {
        let got = &got[tp];
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "{what}: {tp} read out of order or twice: {:?}",
            &offsets[..offsets.len().min(50)]
        );
        if let Some(i) = (0..want.len().min(got.len())).find(|&i| want[i] != got[i]) {
            panic!(
                "{what}: {tp}: record {i} differs:\n  written: {:?}\n  read:    {:?}\n\
                 the partition as read, by the offset each record was written at \
                 (`?` = not written):\n  {}",
                want[i],
                got[i],
                written_offsets(want, got)
            );
        }
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: {tp}: {} records written, {} read",
            want.len(),
            got.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_read_what_the_java_producer_wrote() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let topics = record_topics("java2us-");
    create_record_topics(&bootstrap, &topics).await;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let spec: Vec<String> = topics.iter().map(|(t, c, _)| format!("{t}={c}")).collect();
    let (b, spec) = (bootstrap.clone(), spec.join(","));
    let stdout = tokio::task::spawn_blocking(move || {
        peer().run(
            "produce",
            &[
                "--bootstrap",
                &b,
                "--topics",
                &spec,
                "--count",
                &PER_TOPIC.to_string(),
                "--seed",
                "7",
            ],
            b"",
        )
    })
    .await
    .expect("java producer");
    let mut written = parse_records(&stdout);
    for (topic, _, append) in &topics {
        let recs: Vec<&mut Rec> = written.iter_mut().filter(|r| &r.topic == topic).collect();
        assert_eq!(
            recs.len(),
            PER_TOPIC,
            "records Java acknowledged on {topic}"
        );
        for r in recs {
            if *append {
                // The broker's time, which Java's RecordMetadata reports for such a topic.
                r.ts_type = "append".into();
                assert!(
                    r.timestamp >= started_ms - 60_000,
                    "{topic}: LogAppendTime {} from before the test started: {r:?}",
                    r.timestamp
                );
            }
        }
        let recs: Vec<Rec> = written
            .iter()
            .filter(|r| &r.topic == topic)
            .cloned()
            .collect();
        assert_varied(topic, &recs);
    }
    let names: Vec<(String, i32)> = topics
        .iter()
        .map(|(t, _, _)| (t.clone(), RECORD_PARTITIONS))
        .collect();
    let got = read_all(&bootstrap, &names, written.len()).await;
    assert_same_records("the Java producer wrote, we read", written, got);
}

/// Record `i` of a topic written by us: the shapes JavaPeer's `produce` writes.
fn our_record(
    topic: &str,
    codec: &str,
    i: usize,
    base_ts: i64,
    rng: &mut SplitMix,
) -> ProducerRecord {
    let key: Option<Vec<u8>> = if i.is_multiple_of(97) {
        None
    } else if i % 5 == 1 {
        let n = rng.range(0, 32);
        Some(rng.bytes(n))
    } else if i % 5 == 2 {
        Some(format!("ключ-鍵-🔑-{i}").into_bytes())
    } else {
        Some(format!("key-{codec}-{i}").into_bytes())
    };
    let value: Option<Vec<u8>> = match i % 250 {
        3 => None,
        5 => Some(Vec::new()),
        _ if i.is_multiple_of(3) => {
            let n = rng.range(1, 1999);
            Some(rng.bytes(n))
        }
        _ => Some(
            [
                format!("{codec}-{i:06}-").into_bytes(),
                b"the quick brown fox ".repeat(1 + i % 5),
            ]
            .concat(),
        ),
    };
    let timestamp = if i % 500 == 9 { 0 } else { base_ts + i as i64 };
    let mut r = ProducerRecord::new(topic, Vec::new())
        .timestamp(timestamp)
        .header("idx", i.to_string())
        .header("codec", codec.to_string());
    r.key = key.map(Into::into);
    r.value = value.map(Into::into);
    if i.is_multiple_of(7) {
        r = r.header("dup", "a").header("dup", "b");
    }
    if i.is_multiple_of(11) {
        r.headers.push(Header::null("null"));
    }
    if i.is_multiple_of(13) {
        r = r.header("empty", Vec::new());
    }
    if i.is_multiple_of(17) {
        let n = rng.range(1, 39);
        r = r.header("ключ-🔑", rng.bytes(n));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_consumer_reads_what_we_wrote() {
    let _serial = SERIAL.lock().await;
    let bootstrap = bootstrap();
    let topics = record_topics("us2java-");
    create_record_topics(&bootstrap, &topics).await;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let mut written: Vec<Rec> = Vec::new();
    for (n, (topic, codec, append)) in topics.iter().enumerate() {
        let p = producer(
            &bootstrap,
            &[
                ("compression.type", codec),
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
            ],
        );
        let mut rng = SplitMix(1000 + n as u64);
        let base = 1_700_000_000_000 + n as i64 * 1_000_000;
        let mut pending = Vec::new();
        for i in 0..PER_TOPIC {
            let rec = our_record(topic, codec, i, base, &mut rng);
            let sent = rec.clone();
            pending.push((sent, p.enqueue(rec).await.expect("enqueue")));
        }
        for (sent, delivery) in pending {
            let md = delivery
                .await
                .unwrap_or_else(|e| panic!("{topic}: not delivered: {e}"));
            if *append {
                assert!(
                    md.timestamp >= started_ms - 60_000,
                    "{topic}: the LogAppendTime our producer reported, {}, is from before the \
                     test started",
                    md.timestamp
                );
            } else {
                assert_eq!(Some(md.timestamp), sent.timestamp, "{topic}: timestamp");
            }
            written.push(Rec {
                topic: topic.clone(),
                partition: md.partition,
                offset: md.offset,
                ts_type: if *append { "append" } else { "create" }.into(),
                timestamp: md.timestamp,
                key: sent.key.map(|b| b.to_vec()),
                value: sent.value.map(|b| b.to_vec()),
                headers: sent
                    .headers
                    .into_iter()
                    .map(|h| (h.key.into_bytes(), h.value.map(|b| b.to_vec())))
                    .collect(),
            });
        }
        p.close(Duration::from_secs(10)).await;
        assert_varied(topic, &written[written.len() - PER_TOPIC..]);
    }
    // Our producer placed every keyed record by `default_partition_for_key` (which the
    // partitioning test holds to Java's).
    for r in &written {
        if let Some(k) = &r.key {
            assert_eq!(
                r.partition,
                default_partition_for_key(k, RECORD_PARTITIONS),
                "{r:?}"
            );
        }
    }

    let names: Vec<String> = topics.iter().map(|(t, _, _)| t.clone()).collect();
    let (b, names) = (bootstrap.clone(), names.join(","));
    let stdout = tokio::task::spawn_blocking(move || {
        peer().run("read", &["--bootstrap", &b, "--topics", &names], b"")
    })
    .await
    .expect("java consumer");
    assert_same_records(
        "we wrote, the Java consumer read",
        written,
        parse_records(&stdout),
    );
}
