//! Starts real brokers for tests: Apache Kafka (KRaft, from Maven Central via `scripts/kafka`),
//! or Nisshi 0.8.1 for the optional compatibility run (`FERROKAFKA_BROKER=nisshi`).
//!
//! - [`TestBroker::shared`]: one single-node broker (combined controller+broker) per test binary.
//! - [`TestBroker::start`]: a dedicated one, for tests that kill or pause their broker.
//! - [`TestCluster::start`]: one KRaft controller and N brokers, for replication tests, with
//!   `kill`, `pause`, `resume` and `restart` per broker.
//!
//! Every node is launched through `scripts/kafka node`, so the broker configuration is written in
//! one place. A watchdog per run folder kills the nodes when the test process ends, however it
//! ends. When a test panics, the tail of every live broker's log is printed and the whole log is
//! copied to `target/broker-logs/`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

pub const NISSHI_VERSION: &str = "0.8.1";

/// Which broker the single-node harness runs: Apache Kafka unless `FERROKAFKA_BROKER=nisshi`.
pub fn nisshi_run() -> bool {
    std::env::var("FERROKAFKA_BROKER").is_ok_and(|b| b == "nisshi")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the Nisshi binary is: `$NISSHI_BIN`, else the cache `scripts/broker install` fills.
pub fn nisshi_bin() -> PathBuf {
    if let Ok(p) = std::env::var("NISSHI_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(format!(
        ".cache/ferrokafka/nisshi-{NISSHI_VERSION}/bin/nisshi"
    ))
}

/// The folder of Apache Kafka jars (`scripts/kafka path`: installs them on first use), shared by
/// the broker and the Java reference peer.
pub fn kafka_libs() -> PathBuf {
    static LIBS: OnceLock<PathBuf> = OnceLock::new();
    LIBS.get_or_init(|| {
        if let Some(p) = std::env::var_os("FERROKAFKA_KAFKA_LIBS") {
            return PathBuf::from(p);
        }
        let out = Command::new(repo().join("scripts/kafka"))
            .arg("path")
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/kafka: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = stdout.lines().last().unwrap_or("").trim().to_string();
        assert!(
            out.status.success() && !path.is_empty(),
            "`scripts/kafka path` failed ({}): Apache Kafka could not be installed. It needs \
             Java 17+ and Maven with Maven Central reachable (see its stderr above).",
            out.status
        );
        PathBuf::from(path)
    })
    .clone()
}

/// The Apache Kafka version the harness runs (`$KAFKA_VERSION` or the one scripts/kafka pins).
pub fn kafka_version() -> String {
    let libs = kafka_libs();
    std::fs::read_dir(&libs)
        .ok()
        .and_then(|entries| {
            entries.flatten().find_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("kafka_2.13-")?
                    .strip_suffix(".jar")
                    .map(String::from)
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A fresh run folder under the temp dir, with a watchdog that kills every node whose pid file
/// is in it and removes it once this test process is gone.
pub(crate) fn run_folder(kind: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferrokafka-{kind}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create run folder");
    let _ = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "while kill -0 {me} 2>/dev/null && [ -d '{dir}' ]; do sleep 0.5; done; \
             for f in '{dir}'/*/pid; do [ -f \"$f\" ] && kill -9 \"$(cat \"$f\")\" 2>/dev/null; done; \
             sleep 0.5; rm -rf '{dir}'",
            me = std::process::id(),
            dir = dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    dir
}

/// Logs of live nodes, printed when a test panics.
fn live_logs() -> &'static Mutex<BTreeMap<String, PathBuf>> {
    static LOGS: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                print_broker_logs();
            }));
        });
        Mutex::new(BTreeMap::new())
    })
}

fn print_broker_logs() {
    let Ok(logs) = live_logs().try_lock() else {
        return;
    };
    let keep = repo().join("target/broker-logs");
    let _ = std::fs::create_dir_all(&keep);
    for (name, path) in logs.iter() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let copy = keep.join(format!("{name}.log"));
        let _ = std::fs::write(&copy, &text);
        let lines: Vec<&str> = text.lines().collect();
        eprintln!(
            "---- broker {name}: last lines of its log (whole log: {}) ----\n{}",
            copy.display(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        );
    }
}

/// One broker process (Kafka node or Nisshi) and how to start it again.
pub(crate) struct Node {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    port: u16,
    /// Apache Kafka (ready at its "Kafka Server started" line) or Nisshi (ready at its listener).
    kafka: bool,
    child: Option<Child>,
    pid: u32,
}

impl Node {
    pub(crate) fn kafka(dir: &Path, name: &str, args: Vec<String>, port: u16) -> Node {
        let mut n = Node {
            name: name.to_string(),
            dir: dir.join(name),
            args,
            port,
            kafka: true,
            child: None,
            pid: 0,
        };
        std::fs::create_dir_all(&n.dir).expect("node dir");
        n.args.splice(
            0..0,
            [
                "node".to_string(),
                "--dir".into(),
                n.dir.display().to_string(),
            ],
        );
        n
    }

    fn log(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("broker log");
        let mut cmd = if self.kafka {
            Command::new(repo().join("scripts/kafka"))
        } else {
            Command::new(nisshi_bin())
        };
        let child = cmd
            .current_dir(&self.dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start broker {}: {e}", self.name));
        // `scripts/kafka node` execs java, so this is the JVM's pid once it runs.
        self.pid = child.id();
        std::fs::write(self.dir.join("pid"), self.pid.to_string()).expect("pid file");
        self.child = Some(child);
        live_logs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.name.clone(), self.log());
    }

    /// Waits for the node's ready line (Kafka) or listener (Nisshi). Counts only lines written
    /// after `from` bytes of the log, so a restart waits for its own start.
    fn wait_ready(&mut self, from: u64, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "{} exited with {status}:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            let ready_line_seen = !self.kafka
                || std::fs::read(self.log()).is_ok_and(|bytes| {
                    let tail = bytes.get(from as usize..).unwrap_or_default();
                    String::from_utf8_lossy(tail).contains("Kafka Server started")
                });
            if ready_line_seen
                && (self.port == 0 || TcpStream::connect(("127.0.0.1", self.port)).is_ok())
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "{} not ready after {limit:?}:\n{}",
            self.name,
            self.log_tail()
        ))
    }

    fn log_len(&self) -> u64 {
        std::fs::metadata(self.log()).map(|m| m.len()).unwrap_or(0)
    }

    pub(crate) fn start(&mut self) -> Result<(), String> {
        let from = self.log_len();
        self.spawn();
        self.wait_ready(from, Duration::from_secs(90))
    }

    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status();
    }

    /// SIGSTOP, returning once the kernel reports the process stopped.
    fn pause(&self) {
        self.signal("-STOP");
        let stat = format!("/proc/{}/stat", self.pid);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // Field 3, after the parenthesised command name: T = stopped.
            if state
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('T'))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let requests already inside the broker settle before the test relies on silence.
        std::thread::sleep(Duration::from_millis(50));
    }

    fn kill(&mut self) {
        // Only a child not yet reaped: once reaped its pid may belong to another process.
        if let Some(mut c) = self.child.take() {
            self.signal("-KILL");
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("pid"));
    }

    pub(crate) fn forget(&mut self) {
        self.kill();
        live_logs()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.name);
    }
}

/// A single-node broker on a free 127.0.0.1 port.
pub struct TestBroker {
    pub port: u16,
    pub pid: u32,
    dir: PathBuf,
    node: Node,
}

impl TestBroker {
    /// The broker shared by every test in this binary.
    pub fn shared() -> &'static TestBroker {
        static SHARED: OnceLock<TestBroker> = OnceLock::new();
        SHARED.get_or_init(TestBroker::start)
    }

    /// Starts a dedicated broker: Apache Kafka (combined controller+broker, KRaft), or Nisshi
    /// (memory engine) under `FERROKAFKA_BROKER=nisshi`. Panics with what is missing: tests
    /// never skip silently.
    pub fn start() -> TestBroker {
        TestBroker::start_with(&[])
    }

    /// As [`start`](Self::start), with extra `server.properties` lines (`key=value`) for an
    /// Apache Kafka broker (ignored under Nisshi).
    pub fn start_with(props: &[&str]) -> TestBroker {
        TestBroker::start_formatted(props, &[])
    }

    /// As [`start_with`](Self::start_with), formatted with these feature levels
    /// (`name=level`, e.g. `transaction.version=1`).
    pub fn start_formatted(props: &[&str], features: &[&str]) -> TestBroker {
        let nisshi = nisshi_run();
        if nisshi && !nisshi_bin().exists() {
            panic!(
                "FERROKAFKA_BROKER=nisshi but Nisshi {NISSHI_VERSION} is not installed at {}.\n\
                 Install it with `scripts/broker install` (needs a nightly toolchain, about 30 \
                 minutes), or point NISSHI_BIN at a nisshi binary.",
                nisshi_bin().display()
            );
        }
        if !nisshi {
            kafka_libs();
        }
        let dir = run_folder(if nisshi { "nisshi" } else { "kafka" });
        let mut last_err = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let name = format!(
                "{}-{}",
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("broker"),
                attempt
            );
            let mut node = if nisshi {
                let url = format!("tcp://127.0.0.1:{port}");
                let node_dir = dir.join(&name);
                std::fs::create_dir_all(&node_dir).expect("node dir");
                Node {
                    name,
                    dir: node_dir,
                    args: [
                        "broker",
                        "--listener-url",
                        &url,
                        "--advertised-listener-url",
                        &url,
                        "--storage-engine",
                        "memory://nisshi/",
                        "--group-initial-rebalance-delay",
                        "0s",
                    ]
                    .map(String::from)
                    .to_vec(),
                    port,
                    kafka: false,
                    child: None,
                    pid: 0,
                }
            } else {
                let cport = free_port();
                let args = [
                    "--node-id".to_string(),
                    "1".into(),
                    "--port".into(),
                    port.to_string(),
                    "--controller-port".into(),
                    cport.to_string(),
                    "--voters".into(),
                    format!("1@127.0.0.1:{cport}"),
                ]
                .to_vec();
                let mut args = args;
                for p in props {
                    args.push("--prop".into());
                    args.push(p.to_string());
                }
                for f in features {
                    args.push("--feature".into());
                    args.push(f.to_string());
                }
                Node::kafka(&dir, &name, args, port)
            };
            match node.start() {
                Ok(()) => {
                    return TestBroker {
                        port,
                        pid: node.pid,
                        dir,
                        node,
                    };
                }
                Err(e) => {
                    last_err = e;
                    node.forget();
                }
            }
        }
        panic!("test broker did not start: {last_err}");
    }

    pub fn log_tail(&self) -> String {
        self.node.log_tail()
    }

    /// The broker's `log.dirs` (Apache Kafka only): one folder per partition, `topic-N`.
    pub fn data_dir(&self) -> PathBuf {
        self.node.dir.join("data")
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is answered.
    pub fn pause(&self) {
        self.node.pause();
    }

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&self) {
        self.node.signal("-CONT");
    }

    /// Kills the broker (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.node.kill();
    }

    /// SIGKILLs the broker and starts it again on its port and data; returns once it serves.
    /// Not for [`shared`](Self::shared) brokers: other tests use them.
    pub fn restart(&mut self) {
        self.node.kill();
        if let Err(e) = self.node.start() {
            panic!("the broker did not restart: {e}");
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.node.forget();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One KRaft controller and `n` brokers (node ids 1..=n) on free 127.0.0.1 ports, with
/// replication defaults for failover tests: default.replication.factor = min(3, n),
/// min.insync.replicas = 2 (when n >= 3), internal topics replicated the same way, and fast
/// failure detection (a silent broker is fenced after 3 s).
pub struct TestCluster {
    dir: PathBuf,
    controller: Node,
    brokers: Vec<Node>,
}

impl TestCluster {
    pub fn start(n: usize) -> TestCluster {
        TestCluster::start_with(n, false)
    }

    /// As [`start`](Self::start), and with `racks`, broker `id` in rack `rack-{id}` and the
    /// brokers' replica selector rack-aware (KIP-392 follower fetching).
    pub fn start_with(n: usize, racks: bool) -> TestCluster {
        assert!(
            !nisshi_run(),
            "TestCluster needs Apache Kafka: Nisshi cannot replicate (every Nisshi broker leads \
             every partition); run without FERROKAFKA_BROKER=nisshi"
        );
        kafka_libs();
        let dir = run_folder("cluster");
        let cport = free_port();
        let voters = format!("100@127.0.0.1:{cport}");
        // A Kafka Uuid: 16 bytes in URL-safe base64 without padding.
        let cluster_id = "MkU3OEVBNTcwNTJENDM2Qg".to_string();
        let rf = n.min(3);
        let min_isr = if n >= 3 { 2 } else { 1 };
        let mut common = vec![
            "--voters".to_string(),
            voters.clone(),
            "--cluster-id".into(),
            cluster_id,
        ];
        for p in [
            format!("default.replication.factor={rf}"),
            format!("min.insync.replicas={min_isr}"),
            format!("offsets.topic.replication.factor={rf}"),
            format!("transaction.state.log.replication.factor={rf}"),
            format!("transaction.state.log.min.isr={min_isr}"),
            format!("share.coordinator.state.topic.replication.factor={rf}"),
            format!("share.coordinator.state.topic.min.isr={min_isr}"),
            "broker.heartbeat.interval.ms=500".into(),
            "broker.session.timeout.ms=3000".into(),
            "replica.lag.time.max.ms=5000".into(),
            "unclean.leader.election.enable=false".into(),
        ] {
            common.push("--prop".into());
            common.push(p);
        }
        let mut cargs = vec![
            "--node-id".to_string(),
            "100".into(),
            "--controller-port".into(),
            cport.to_string(),
            "--roles".into(),
            "controller".into(),
        ];
        cargs.extend(common.iter().cloned());
        let tag = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("cluster")
            .to_string();
        let mut controller = Node::kafka(&dir, &format!("{tag}-controller"), cargs, 0);
        controller.spawn();
        let mut brokers = Vec::new();
        for id in 1..=n {
            let port = free_port();
            let mut args = vec![
                "--node-id".to_string(),
                id.to_string(),
                "--port".into(),
                port.to_string(),
                "--roles".into(),
                "broker".into(),
            ];
            args.extend(common.iter().cloned());
            if racks {
                args.extend([
                    "--prop".to_string(),
                    format!("broker.rack=rack-{id}"),
                    "--prop".into(),
                    "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"
                        .into(),
                ]);
            }
            let mut b = Node::kafka(&dir, &format!("{tag}-broker{id}"), args, port);
            b.spawn();
            brokers.push(b);
        }
        let mut cluster = TestCluster {
            dir,
            controller,
            brokers,
        };
        let limit = Duration::from_secs(120);
        if let Err(e) = cluster.controller.wait_ready(0, limit) {
            panic!("controller did not start: {e}");
        }
        for b in &mut cluster.brokers {
            if let Err(e) = b.wait_ready(0, limit) {
                panic!("broker did not start: {e}");
            }
        }
        cluster
    }

    /// Every broker's address, comma separated.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(|b| format!("127.0.0.1:{}", b.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Broker `id`'s address (ids are 1..=n).
    pub fn address(&self, id: i32) -> String {
        format!("127.0.0.1:{}", self.broker(id).port)
    }

    pub fn broker_ids(&self) -> Vec<i32> {
        (1..=self.brokers.len() as i32).collect()
    }

    fn broker(&self, id: i32) -> &Node {
        &self.brokers[(id - 1) as usize]
    }

    fn broker_mut(&mut self, id: i32) -> &mut Node {
        &mut self.brokers[(id - 1) as usize]
    }

    /// SIGKILL broker `id`: no controlled shutdown, its data stays for [`restart`](Self::restart).
    pub fn kill(&mut self, id: i32) {
        self.broker_mut(id).kill();
    }

    /// SIGSTOP broker `id`.
    pub fn pause(&self, id: i32) {
        self.broker(id).pause();
    }

    /// SIGCONT broker `id`.
    pub fn resume(&self, id: i32) {
        self.broker(id).signal("-CONT");
    }

    /// Starts a killed broker `id` again on its old port and data; returns once it is serving.
    pub fn restart(&mut self, id: i32) {
        let b = self.broker_mut(id);
        b.kill();
        if let Err(e) = b.start() {
            panic!("broker {id} did not restart: {e}");
        }
    }

    pub fn is_running(&self, id: i32) -> bool {
        self.broker(id).child.is_some()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for b in &mut self.brokers {
            b.forget();
        }
        self.controller.forget();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
