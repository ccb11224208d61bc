//! A mixed consumer group: our consumer and Java consumers; the members and their plumbing
//! here, the group runs in [`mixed`].

use super::*;

#[path = "group/mixed.rs"]
mod mixed;

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
