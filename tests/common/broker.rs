//! Starts a real Kafka-compatible broker (Nisshi 0.8.1, see ../shared/BROKERS.md) for tests.
//!
//! One shared broker per test binary ([`TestBroker::shared`]), plus dedicated ones for tests
//! that kill or pause their broker ([`TestBroker::start`]). Each broker gets a watchdog that
//! kills it when the test process exits, so none outlive the run.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const NISSHI_VERSION: &str = "0.8.1";

/// Where the broker binary is: `$NISSHI_BIN`, else the cache `scripts/broker install` fills.
pub fn nisshi_bin() -> PathBuf {
    if let Ok(p) = std::env::var("NISSHI_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(format!(
        ".cache/ferrokafka/nisshi-{NISSHI_VERSION}/bin/nisshi"
    ))
}

pub struct TestBroker {
    pub port: u16,
    pub pid: u32,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

impl TestBroker {
    /// The broker shared by every test in this binary.
    pub fn shared() -> &'static TestBroker {
        static SHARED: OnceLock<TestBroker> = OnceLock::new();
        SHARED.get_or_init(TestBroker::start)
    }

    /// Starts a dedicated broker on a free port (memory engine). Panics with install
    /// instructions when the binary is missing: tests never skip silently.
    pub fn start() -> TestBroker {
        let bin = nisshi_bin();
        if !bin.exists() {
            panic!(
                "Nisshi {NISSHI_VERSION} (the test broker) is not installed at {}.\n\
                 Install it with `scripts/broker install` (about 30 minutes the first time), \
                 or point NISSHI_BIN at a nisshi binary.",
                bin.display()
            );
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferrokafka-broker-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create broker dir");
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let log = std::fs::File::create(dir.join("broker.log")).expect("broker log");
            let child = Command::new(&bin)
                .current_dir(&dir)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://nisshi/"])
                .args(["--group-initial-rebalance-delay", "0s"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let pid = child.id();
            // Watchdog: kill the broker once this test process is gone.
            let _ = Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
                     kill -9 {pid} 2>/dev/null; sleep 0.5; rm -rf '{dir}'",
                    me = std::process::id(),
                    dir = dir.display()
                ))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut b = TestBroker {
                port,
                pid,
                dir: dir.clone(),
                child: Some(child),
            };
            match b.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return b,
                Err(e) => {
                    last_err = e;
                    b.kill();
                }
            }
        }
        panic!("test broker did not start: {last_err}");
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("broker exited with {status}: {}", self.log_tail()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no listener on port {} after {limit:?}: {}",
            self.port,
            self.log_tail()
        ))
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status();
    }

    /// Freezes the broker (SIGSTOP): connections stay open but nothing is answered. Returns
    /// once the kernel reports the process stopped (signals are delivered asynchronously).
    pub fn pause(&self) {
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

    /// Undoes [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the broker (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
