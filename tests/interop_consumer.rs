//! The consumer (and the producer's output) against librdkafka (PyPI confluent-kafka 2.16),
//! through a real broker (Apache Kafka):
//!
//! - one of our consumers and two librdkafka consumers join one group (range assignor) one by
//!   one while reading: they end split 2/2/2 in contiguous ranges, partitions pass between us
//!   and librdkafka mid-stream at the committed offsets, and every record is read exactly once;
//! - librdkafka writes with each codec (none, gzip, snappy, lz4, zstd), we read: keys, values,
//!   headers, timestamps and order per partition match exactly;
//! - we write with each codec, librdkafka reads: the same, the other way round. This one also
//!   checks that the offsets our producer reports are the ones the records got.
//!
//! The librdkafka side is `tests/interop/rdkafka_consumer.py` (its docstring has the line
//! formats). Needs a Python with confluent-kafka 2.16.x: `$FERROKAFKA_PYTHON` (set by
//! scripts/test), else the one `scripts/pyenv` creates in `.venv`. Fails, never skips, when
//! neither can be had.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::records::{
    Rec, assert_same_records, by_partition, from_ours, offset_runs, parse_record, parse_records,
};
use common::{create_topic, producer, python, repo};
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::record::Header;
use ferrokafka::{ConsumerConfig, ProducerRecord};

const SCRIPT: &str = "tests/interop/rdkafka_consumer.py";
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn script_command(bootstrap: &str) -> Command {
    let python = python();
    let mut cmd = Command::new(&python);
    cmd.arg(repo().join(SCRIPT))
        .args(["--bootstrap", bootstrap]);
    cmd
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs the script to completion; returns its stdout, panics with its stderr on failure.
fn run_script(bootstrap: &str, args: &[&str]) -> String {
    let out = script_command(bootstrap)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (from FERROKAFKA_PYTHON or scripts/pyenv): {e}",
                python().display()
            )
        });
    assert!(
        out.status.success(),
        "{SCRIPT} {args:?} failed ({}):\n{}",
        out.status,
        // librdkafka logs a line per failed connect: the tail says what went wrong.
        tail(&String::from_utf8_lossy(&out.stderr), 30)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

// ---- 1. mixed group ----------------------------------------------------------------------

#[derive(Default)]
struct MemberState {
    assignment: BTreeSet<i32>,
    /// Every line but the records, for diagnostics.
    events: Vec<String>,
    records: Vec<Rec>,
    commit_errors: Vec<String>,
    done: Option<usize>,
}

/// A librdkafka group member (`rdkafka_consumer.py group`), read by two threads. Killed when
/// dropped (a failing test leaves nothing behind).
struct PyMember {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    state: Arc<Mutex<MemberState>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl PyMember {
    fn spawn(bootstrap: &str, topic: &str, group: &str, name: &str) -> PyMember {
        let mut child = script_command(bootstrap)
            .args(["group", "--topic", topic, "--group", group])
            .args(["--client-id", name, "--max-seconds", "90"])
            .args([
                "--batch",
                &BATCH.to_string(),
                "--pause-ms",
                &PAUSE_MS.to_string(),
            ])
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
            .unwrap_or_else(|e| panic!("cannot run {} ({SCRIPT}): {e}", python().display()));
        let state = Arc::new(Mutex::new(MemberState::default()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (st, se) = (state.clone(), stderr.clone());
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let fields: Vec<&str> = line.split('\t').collect();
                    let mut s = st.lock().unwrap();
                    let ids = || -> BTreeSet<i32> {
                        fields
                            .get(1)
                            .map(|f| f.split(',').filter(|p| !p.is_empty()))
                            .into_iter()
                            .flatten()
                            .map(|p| p.parse().expect("partition id"))
                            .collect()
                    };
                    match fields[0] {
                        "R" => {
                            let r = parse_record(&fields[1..], &line);
                            s.records.push(r);
                            continue;
                        }
                        // Eager (range) rebalancing: a revocation takes everything back.
                        "ASSIGN" => s.assignment = ids(),
                        "REVOKE" => s.assignment.clear(),
                        "COMMIT_ERROR" => s.commit_errors.push(line.clone()),
                        "DONE" => s.done = Some(fields[1].parse().expect("count")),
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
        PyMember {
            name: name.to_string(),
            child,
            stdin,
            state,
            stderr,
            readers,
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.state.lock().unwrap().assignment.clone()
    }

    fn diagnostics(&self) -> String {
        let s = self.state.lock().unwrap();
        format!(
            "--- {} ({} records; events {:?})\nstderr:\n{}",
            self.name,
            s.records.len(),
            s.events,
            tail(&self.stderr.lock().unwrap(), 40)
        )
    }

    /// Closes stdin (the stop signal) and waits for the process to leave the group and exit.
    fn stop(&mut self, limit: Duration) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for python") {
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
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PyMember {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What our group member saw.
#[derive(Default)]
struct OurState {
    assignment: BTreeSet<i32>,
    records: Vec<Rec>,
    commit_errors: Vec<String>,
}

fn group_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("client.id", "ferrokafka-member")
        .set("partition.assignment.strategy", "range")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("heartbeat.interval.ms", "300")
        .set("session.timeout.ms", "6000")
        .set("max.poll.records", BATCH.to_string())
        .build()
        .expect("consumer config")
}

/// Polls until `stop`, committing after every non-empty poll (as the librdkafka members do),
/// then closes (leaving the group).
async fn our_member(
    cfg: ConsumerConfig,
    topic: String,
    state: Arc<Mutex<OurState>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut c = KafkaConsumer::new(cfg).map_err(|e| format!("new: {e}"))?;
    c.subscribe([topic])
        .map_err(|e| format!("subscribe: {e}"))?;
    while !stop.load(Ordering::Acquire) {
        let records = c
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| format!("poll: {e}"))?;
        {
            let mut s = state.lock().unwrap();
            s.assignment = c.assignment().iter().map(|tp| tp.partition).collect();
            s.records.extend(records.iter().map(from_ours));
        }
        if !records.is_empty() {
            if let Err(e) = c.commit_sync().await {
                state.lock().unwrap().commit_errors.push(e.to_string());
            }
            tokio::time::sleep(Duration::from_millis(PAUSE_MS)).await;
        }
    }
    c.close().await.map_err(|e| format!("close: {e}"))
}

async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
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

const PRELOADED: usize = 6000;
const AFTER_SPLIT: usize = 1200;
/// Every member reads at most BATCH records, then pauses PAUSE_MS (about 1,000 records/s): the
/// preloaded records outlast the joins, so partitions change hands mid-stream, both ways.
const BATCH: usize = 100;
const PAUSE_MS: u64 = 100;

/// Writes `values` (value i to partition i % 6) and waits for every acknowledgement.
///
/// One request in flight: with several, Nisshi (which serves a connection's requests
/// concurrently) can see idempotent batches out of order and make the producer retry, and a
/// retried batch of ours can take new records that are then acknowledged but never written
/// (see `librdkafka_reads_what_we_wrote_with_each_codec`). This test is about the consumer.
async fn preload(bootstrap: &str, topic: &str, values: std::ops::Range<usize>, codec: &str) {
    let p = producer(
        bootstrap,
        &[
            ("compression.type", codec),
            ("linger.ms", "5"),
            ("max.in.flight.requests.per.connection", "1"),
        ],
    );
    let mut pending = Vec::new();
    for v in values {
        let rec = ProducerRecord::new(topic, v.to_string()).partition((v % 6) as i32);
        pending.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for f in pending {
        f.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_librdkafka_splits_by_range_and_reads_each_record_once() {
    let bootstrap = TestBroker::shared().bootstrap();
    let topic = "interop-mixed-range";
    let group = "interop-mixed-range";
    create_topic(&bootstrap, topic, 6).await;
    preload(&bootstrap, topic, 0..PRELOADED, "snappy").await;

    let ours = Arc::new(Mutex::new(OurState::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut py: Vec<PyMember> = Vec::new();
    let diagnostics = |py: &[PyMember]| -> String {
        let o = ours.lock().unwrap();
        let mut out = format!(
            "--- ferrokafka: assignment {:?}, {} records, commit errors {:?}\n",
            o.assignment,
            o.records.len(),
            o.commit_errors
        );
        for m in py {
            out.push_str(&m.diagnostics());
            out.push('\n');
        }
        out
    };
    // Member 0 is ours, 1 and 2 the librdkafka ones.
    let assignments = |py: &[PyMember]| -> Vec<BTreeSet<i32>> {
        let mut v = vec![ours.lock().unwrap().assignment.clone()];
        v.extend(py.iter().map(PyMember::assignment));
        v
    };

    // Members join one by one, each once the group has read some records, so partitions
    // change hands mid-stream: from librdkafka to us when we join, and again when the third
    // member joins. (Every join needs the members already in the group to keep polling.)
    // Range sorts members by id, which starts with the client id: a-rdkafka, b-rdkafka, then
    // ferrokafka-member, so we get the last partitions (those librdkafka reads first).
    py.push(PyMember::spawn(&bootstrap, topic, group, "a-rdkafka"));
    let reading = wait_until(Duration::from_secs(20), || {
        py[0].state.lock().unwrap().records.len() >= 300
    })
    .await;
    assert!(
        reading,
        "a-rdkafka alone read < 300 records in 20 s\n{}",
        diagnostics(&py)
    );
    let task = tokio::spawn(our_member(
        group_config(&bootstrap, group),
        topic.to_string(),
        ours.clone(),
        stop.clone(),
    ));
    let reading = wait_until(Duration::from_secs(20), || {
        ours.lock().unwrap().records.len() >= 300
    })
    .await;
    assert!(
        reading,
        "we read < 300 records in 20 s after joining\n{}",
        diagnostics(&py)
    );
    py.push(PyMember::spawn(&bootstrap, topic, group, "b-rdkafka"));

    let split = wait_until(Duration::from_secs(30), || {
        let a = assignments(&py);
        let all: BTreeSet<i32> = a.iter().flatten().copied().collect();
        a.iter().all(|s| s.len() == 2) && all.len() == 6
    })
    .await;
    assert!(
        split,
        "no 2/2/2 split of 6 partitions within 30 s: {:?}\n{}",
        assignments(&py),
        diagnostics(&py)
    );
    let split = assignments(&py);
    // Range hands each member a contiguous run: {0,1}, {2,3}, {4,5} (round robin would
    // give {0,3}, {1,4}, {2,5}).
    for (m, parts) in split.iter().enumerate() {
        let first = *parts.first().unwrap();
        assert!(
            first % 2 == 0 && parts.contains(&(first + 1)),
            "member {m} got {parts:?}, not a range assignment: {split:?}"
        );
    }
    let owner: BTreeMap<i32, usize> = split
        .iter()
        .enumerate()
        .flat_map(|(m, parts)| parts.iter().map(move |p| (*p, m)))
        .collect();

    // Records written after the split must go to their partition's owner.
    preload(
        &bootstrap,
        topic,
        PRELOADED..PRELOADED + AFTER_SPLIT,
        "none",
    )
    .await;
    let total = PRELOADED + AFTER_SPLIT;
    let all_read = wait_until(Duration::from_secs(30), || {
        let mut seen: BTreeSet<usize> = ours
            .lock()
            .unwrap()
            .records
            .iter()
            .map(value_number)
            .collect();
        for m in &py {
            seen.extend(m.state.lock().unwrap().records.iter().map(value_number));
        }
        seen.len() == total
    })
    .await;

    // Stop everyone, then judge.
    stop.store(true, Ordering::Release);
    let ours_result = task.await.expect("our member task");
    let statuses: Vec<_> = tokio::task::block_in_place(|| {
        py.iter_mut()
            .map(|m| m.stop(Duration::from_secs(15)))
            .collect()
    });
    let diag = diagnostics(&py);
    assert!(all_read, "not all {total} records read within 30 s\n{diag}");
    assert_eq!(ours_result, Ok(()), "our member failed\n{diag}");
    for (m, status) in py.iter().zip(&statuses) {
        let s = m.state.lock().unwrap();
        assert!(status.success(), "{} exited {status}\n{diag}", m.name);
        assert_eq!(
            s.done,
            Some(s.records.len()),
            "{} DONE count\n{diag}",
            m.name
        );
    }

    // Exactly once: each value read by one member, once, from partition value % 6.
    let mut reads: Vec<(usize, Rec)> = ours
        .lock()
        .unwrap()
        .records
        .iter()
        .map(|r| (0, r.clone()))
        .collect();
    for (i, m) in py.iter().enumerate() {
        reads.extend(
            m.state
                .lock()
                .unwrap()
                .records
                .iter()
                .map(|r| (i + 1, r.clone())),
        );
    }
    let mut by_value: BTreeMap<usize, Vec<(usize, i32, i64)>> = BTreeMap::new();
    for (m, r) in &reads {
        assert_eq!(r.topic, topic);
        by_value
            .entry(value_number(r))
            .or_default()
            .push((*m, r.partition, r.offset));
    }
    let missing: Vec<usize> = (0..total).filter(|v| !by_value.contains_key(v)).collect();
    let dups: Vec<_> = by_value.iter().filter(|(_, r)| r.len() > 1).collect();
    assert!(
        missing.is_empty() && dups.is_empty() && by_value.len() == total,
        "{} records, {} read: missing {:?}, read more than once (value: [(member, partition, \
         offset)]) {:?}\n{diag}",
        total,
        reads.len(),
        &missing[..missing.len().min(20)],
        &dups[..dups.len().min(20)]
    );
    for (v, r) in &by_value {
        let (m, p, _) = r[0];
        assert_eq!(p as usize, v % 6, "value {v} on partition {p}");
        if *v >= PRELOADED {
            assert_eq!(
                m, owner[&p],
                "value {v} (written after the split) read by member {m}, not by partition \
                 {p}'s owner {}\n{diag}",
                owner[&p]
            );
        }
    }
    let per_member: Vec<usize> = (0..3)
        .map(|m| reads.iter().filter(|(x, _)| *x == m).count())
        .collect();
    assert!(
        per_member.iter().all(|&n| n >= AFTER_SPLIT / 3),
        "each member reads its share: {per_member:?}"
    );
    // Partitions that changed hands while being read (seamlessly: nothing missing or doubled
    // above), as `partition: member -> member` in offset order.
    let names = ["ours", "a", "b"];
    let mut by_offset: BTreeMap<i32, BTreeMap<i64, usize>> = BTreeMap::new();
    for (m, r) in &reads {
        by_offset
            .entry(r.partition)
            .or_default()
            .insert(r.offset, *m);
    }
    let mut handovers: Vec<(i32, usize, usize)> = Vec::new();
    for (p, offsets) in &by_offset {
        let members: Vec<usize> = offsets.values().copied().collect();
        for w in members.windows(2).filter(|w| w[0] != w[1]) {
            handovers.push((*p, w[0], w[1]));
        }
    }
    let shown: Vec<String> = handovers
        .iter()
        .map(|(p, from, to)| format!("{p}: {} -> {}", names[*from], names[*to]))
        .collect();
    assert!(
        handovers.iter().any(|(_, from, to)| *from == 0 || *to == 0),
        "no partition passed between us and librdkafka mid-stream: {shown:?}\n{diag}"
    );
    let preloaded: Vec<usize> = (0..3)
        .map(|m| {
            reads
                .iter()
                .filter(|(x, r)| *x == m && value_number(r) < PRELOADED)
                .count()
        })
        .collect();
    eprintln!(
        "split {split:?}; records read (ours, a, b): {per_member:?}, of them preloaded \
         {preloaded:?}; handovers {shown:?}; commit errors: ours {:?}",
        ours.lock().unwrap().commit_errors
    );
}

// ---- 2. librdkafka writes, we read --------------------------------------------------------

const PER_CODEC: usize = 2000;
const CODEC_PARTITIONS: i32 = 3;

/// Checks a written set covers the odd cases (null key, null and empty values, null, empty and
/// repeated header values), so the comparison means something.
fn assert_varied(what: &str, written: &[Rec]) {
    let has = |f: &dyn Fn(&Rec) -> bool| written.iter().any(f);
    assert!(has(&|r| r.key.is_none()), "{what}: no null key");
    assert!(has(&|r| r.value.is_none()), "{what}: no null value");
    assert!(
        has(&|r| r.value.as_ref().is_some_and(Vec::is_empty)),
        "{what}: no empty value"
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
        written.iter().all(|r| r.ts_type == "create"),
        "{what}: CreateTime expected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_what_librdkafka_wrote_with_each_codec() {
    let bootstrap = TestBroker::shared().bootstrap();
    let prefix = "interop-rd2us-";
    for codec in CODECS {
        create_topic(&bootstrap, &format!("{prefix}{codec}"), CODEC_PARTITIONS).await;
    }
    let b = bootstrap.clone();
    let stdout = tokio::task::spawn_blocking(move || {
        run_script(
            &b,
            &[
                "produce",
                "--topic-prefix",
                prefix,
                "--codecs",
                &CODECS.join(","),
                "--count",
                &PER_CODEC.to_string(),
                "--partitions",
                &CODEC_PARTITIONS.to_string(),
            ],
        )
    })
    .await
    .expect("librdkafka producer");
    let written = parse_records(&stdout);
    for codec in CODECS {
        let topic = format!("{prefix}{codec}");
        let recs: Vec<Rec> = written
            .iter()
            .filter(|r| r.topic == topic)
            .cloned()
            .collect();
        assert_eq!(recs.len(), PER_CODEC, "librdkafka acknowledged, {topic}");
        assert_varied(&topic, &recs);
    }
    let want: BTreeMap<TopicPartition, usize> = by_partition(written.iter().cloned())
        .into_iter()
        .map(|(tp, r)| (tp, r.len()))
        .collect();

    let mut c = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(&bootstrap)
            .set("auto.offset.reset", "earliest")
            .build()
            .expect("consumer config"),
    )
    .expect("consumer");
    c.assign(want.keys().cloned()).expect("assign");
    let mut got: Vec<Rec> = Vec::new();
    let mut counts: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    let start = Instant::now();
    let mut done_at: Option<Instant> = None;
    // Read until every partition has its count, then a little longer to catch extras.
    while done_at.is_none_or(|t| t.elapsed() < Duration::from_millis(300)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "read {} of {} records in 30 s; per partition {counts:?}, wanted {want:?}",
            got.len(),
            written.len()
        );
        let records = c.poll(Duration::from_millis(100)).await.expect("poll");
        for r in records.iter() {
            *counts.entry(r.topic_partition()).or_default() += 1;
            got.push(from_ours(r));
        }
        if done_at.is_none() && want.iter().all(|(tp, n)| counts.get(tp) >= Some(n)) {
            done_at = Some(Instant::now());
        }
    }
    c.close().await.expect("close");
    assert_same_records("librdkafka wrote, ferrokafka read", written, got);
}

// ---- 3. we write, librdkafka reads --------------------------------------------------------

/// Record `i` of `codec`'s topic (the same shapes the script's producer writes).
fn our_record(topic: &str, codec: &str, i: usize, timestamp: i64) -> ProducerRecord {
    let value: Option<Vec<u8>> = match i % 250 {
        3 => None,
        5 => Some(Vec::new()),
        _ => Some(
            [
                format!("{codec}-{i:06}-").into_bytes(),
                b"the quick brown fox ".repeat(1 + i % 5),
            ]
            .concat(),
        ),
    };
    let mut r = ProducerRecord::new(topic, Vec::new())
        .partition(i as i32 % CODEC_PARTITIONS)
        .timestamp(timestamp)
        .header("idx", i.to_string())
        .header("codec", codec.to_string());
    r.value = value.map(Into::into);
    if !i.is_multiple_of(97) {
        r = r.key(format!("key-{codec}-{i}"));
    }
    if i.is_multiple_of(7) {
        r = r.header("dup", "a").header("dup", "b");
    }
    if i.is_multiple_of(11) {
        r.headers.push(Header::null("null"));
    }
    if i.is_multiple_of(13) {
        r = r.header("empty", Vec::new());
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_what_we_wrote_with_each_codec() {
    let bootstrap = TestBroker::shared().bootstrap();
    let mut written: Vec<Rec> = Vec::new();
    let mut topics = Vec::new();
    for (n, codec) in CODECS.iter().enumerate() {
        let topic = format!("interop-us2rd-{codec}");
        create_topic(&bootstrap, &topic, CODEC_PARTITIONS).await;
        let p = producer(
            &bootstrap,
            &[("compression.type", codec), ("linger.ms", "5")],
        );
        let base = common::day_old_timestamp_ms() + n as i64 * 1_000_000;
        let mut pending = Vec::new();
        for i in 0..PER_CODEC {
            let rec = our_record(&topic, codec, i, base + i as i64);
            let sent = rec.clone();
            pending.push((sent, p.enqueue(rec).await.expect("enqueue")));
        }
        for (sent, delivery) in pending {
            let md = delivery
                .await
                .unwrap_or_else(|e| panic!("{topic}: not delivered: {e}"));
            assert_eq!(md.partition, sent.partition.unwrap());
            assert_eq!(Some(md.timestamp), sent.timestamp, "{topic}: timestamp");
            written.push(Rec {
                topic: topic.clone(),
                partition: md.partition,
                offset: md.offset,
                ts_type: "create".into(),
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
        assert_varied(&topic, &written[written.len() - PER_CODEC..]);
        topics.push(topic);
    }

    // One producer, one partition, acknowledged in send order: the offsets it reported must
    // climb one by one, else the broker cannot hold what the producer says it wrote. (Seen
    // failing: Nisshi answers some pipelined idempotent batches OUT_OF_ORDER_SEQUENCE_NUMBER; a
    // batch put back for its retry at the tail of its partition's queue took new records, the
    // retry sent the batch's cached bytes without them, and they were acknowledged at the
    // offsets of the records after the batch, and never written.)
    for (tp, recs) in by_partition(written.iter().cloned()) {
        if let Some(w) = recs.windows(2).find(|w| w[1].offset != w[0].offset + 1) {
            panic!(
                "our producer reported offset {} for {:?}\n  right after offset {} for {:?}\n\
                 ({tp}: offsets reported in send order: {})",
                w[1].offset,
                w[1],
                w[0].offset,
                w[0],
                offset_runs(recs.iter().map(|r| r.offset))
            );
        }
    }

    let b = bootstrap.clone();
    let topics = topics.join(",");
    let stdout =
        tokio::task::spawn_blocking(move || run_script(&b, &["read", "--topics", &topics]))
            .await
            .expect("librdkafka reader");
    assert_same_records(
        "ferrokafka wrote, librdkafka read",
        written,
        parse_records(&stdout),
    );
}
