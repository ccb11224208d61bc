//! The Apache Kafka Java client as the reference peer: `tests/java/JavaPeer.java` (its header
//! lists the commands and the line formats), compiled with `javac` against the jars of the
//! broker's release ([`kafka_libs`]) and run with `java`.
//!
//! The classes are compiled once into `target/java-peer/<kafka version>-<hash of the sources>/`
//! and reused by every test binary and run. Test binaries compile concurrently without clashing:
//! each compiles into a folder of its own and renames it into place; the first rename wins and
//! the others drop theirs. No JDK is a test failure with what to install, never a skip.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use ferrokafka::ConsumerRecord;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::record::TimestampType;

use super::broker::{kafka_libs, kafka_version};

/// The compiled peer: where its classes are, and how to run it.
pub struct JavaPeer {
    /// `target/java-peer/<version>-<hash>`: `classes/` and `log4j2.properties`.
    dir: PathBuf,
    libs: PathBuf,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn sources_dir() -> PathBuf {
    repo().join("tests/java")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => repo().join(d),
        None => repo().join("target"),
    }
}

/// 64-bit FNV-1a: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

/// The files of `tests/java` (sorted by name) with their contents.
fn sources() -> Vec<(String, Vec<u8>)> {
    let dir = sources_dir();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 file name")
                .to_string();
            let text =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            (name, text)
        })
        .collect();
    files.sort();
    files
}

fn check_tool(tool: &str) {
    let out = Command::new(tool).arg("-version").output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`{tool} -version` failed ({}): {}\nThe Java reference peer needs a JDK 17+ \
             (`javac` and `java` on PATH; Debian: apt-get install openjdk-17-jdk-headless).",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{tool}`: {e}\nThe Java reference peer (tests/java) needs a JDK 17+ with \
             `javac` and `java` on PATH (Debian: apt-get install openjdk-17-jdk-headless)."
        ),
    }
}

/// Compiles the sources into `dest` (which must not exist yet) via a private folder.
fn compile(dest: &Path, sources: &[(String, Vec<u8>)], libs: &Path) {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let parent = dest.parent().expect("parent folder");
    std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    let tmp = parent.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("classes")).expect("create compile folder");
    let mut java_files = Vec::new();
    for (name, text) in sources {
        // The copy compiled is the copy hashed, whatever happens to tests/java meanwhile.
        let path = tmp.join(name);
        std::fs::write(&path, text).expect("copy source");
        if name.ends_with(".java") {
            java_files.push(path);
        }
    }
    assert!(
        !java_files.is_empty(),
        "no .java files in {}",
        sources_dir().display()
    );
    let out = Command::new("javac")
        .args(["-encoding", "UTF-8", "--release", "17", "-nowarn", "-d"])
        .arg(tmp.join("classes"))
        .arg("-cp")
        .arg(libs.join("*"))
        .args(&java_files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run javac: {e}"));
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        panic!(
            "javac failed ({}) compiling {} against {}:\n{}{}",
            out.status,
            sources_dir().display(),
            libs.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    match std::fs::rename(&tmp, dest) {
        Ok(()) => {}
        // Another test binary got there first with the same sources: use its copy.
        Err(_) if dest.join("classes/JavaPeer.class").exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            panic!("cannot move {} to {}: {e}", tmp.display(), dest.display());
        }
    }
}

/// The peer, compiled on first use in this process (or found compiled).
pub fn peer() -> &'static JavaPeer {
    static PEER: OnceLock<JavaPeer> = OnceLock::new();
    PEER.get_or_init(|| {
        let libs = kafka_libs();
        let version = kafka_version();
        let sources = sources();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for (name, text) in &sources {
            fnv1a(&mut h, name.as_bytes());
            fnv1a(&mut h, &[0]);
            fnv1a(&mut h, text);
            fnv1a(&mut h, &[0]);
        }
        let dir = target_dir()
            .join("java-peer")
            .join(format!("{version}-{h:016x}"));
        check_tool("java");
        if !dir.join("classes/JavaPeer.class").exists() {
            check_tool("javac");
            let start = std::time::Instant::now();
            compile(&dir, &sources, &libs);
            eprintln!(
                "compiled the Java peer into {} in {:.1?}",
                dir.display(),
                start.elapsed()
            );
        }
        JavaPeer { dir, libs }
    })
}

impl JavaPeer {
    /// `java ... JavaPeer <command>`; add flags and run it.
    pub fn command(&self, command: &str) -> Command {
        let mut classpath = self.dir.join("classes").into_os_string();
        classpath.push(":");
        classpath.push(self.libs.join("*"));
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath)
            .arg("JavaPeer")
            .arg(command);
        cmd
    }

    /// Runs `command` to completion with `stdin`; returns its stdout, panics with the tail of
    /// its stderr when it fails.
    pub fn run(&self, command: &str, args: &[&str], stdin: &[u8]) -> String {
        let mut child = self
            .command(command)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run java: {e}"));
        let mut input = child.stdin.take().expect("stdin");
        let stdin = stdin.to_vec();
        // Fed from a thread: a large input must not block against a full stdout pipe.
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let out = child.wait_with_output().expect("wait for java");
        feeder.join().expect("stdin feeder");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "JavaPeer {command} {args:?} failed ({}):\n{}",
            out.status,
            tail(&stderr, 40)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---- the peer's record lines -----------------------------------------------------------------

pub fn to_hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 0xf)] as char);
    }
    s
}

pub fn from_hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

fn opt_hex(s: &str) -> Option<Vec<u8>> {
    (s != "-").then(|| from_hex(s))
}

/// A record as either client sees it, in the peer's terms.
#[derive(Clone, PartialEq, Eq)]
pub struct Rec {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// `create`, `append` or `none`.
    pub ts_type: String,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Key bytes (UTF-8 of the Java `String`) and value, in order.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Text when it is printable UTF-8, else hex.
        let b = |v: Option<&[u8]>| match v {
            None => "null".to_string(),
            Some(v) => match std::str::from_utf8(v) {
                Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}"),
                _ => format!("0x{}", to_hex(v)),
            },
        };
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{}={}", b(Some(k)), b(v.as_deref())))
            .collect();
        write!(
            f,
            "{}-{}@{} {}:{} key={} value={} headers=[{}]",
            self.topic,
            self.partition,
            self.offset,
            self.ts_type,
            self.timestamp,
            b(self.key.as_deref()),
            b(self.value.as_deref()),
            headers.join(", ")
        )
    }
}

impl Rec {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&self.topic, self.partition)
    }
}

/// Parses the fields after `R` of a record line.
pub fn parse_record(fields: &[&str], line: &str) -> Rec {
    assert_eq!(fields.len(), 8, "bad record line {line:?}");
    let num = |s: &str| -> i64 { s.parse().unwrap_or_else(|e| panic!("{line:?}: {e}")) };
    let headers = if fields[7].is_empty() {
        Vec::new()
    } else {
        fields[7]
            .split(',')
            .map(|h| {
                let (k, v) = h
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header {h:?} in {line:?}"));
                (from_hex(k), opt_hex(v))
            })
            .collect()
    };
    Rec {
        topic: fields[0].to_string(),
        partition: num(fields[1]) as i32,
        offset: num(fields[2]),
        ts_type: fields[3].to_string(),
        timestamp: num(fields[4]),
        key: opt_hex(fields[5]),
        value: opt_hex(fields[6]),
        headers,
    }
}

/// The `R` lines of the peer's output (any other line is an error).
pub fn parse_records(stdout: &str) -> Vec<Rec> {
    stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields[0], "R", "unexpected line {line:?}");
            parse_record(&fields[1..], line)
        })
        .collect()
}

pub fn ts_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "create",
        TimestampType::LogAppendTime => "append",
    }
}

/// A record our consumer returned, in the peer's terms.
pub fn from_ours(r: &ConsumerRecord) -> Rec {
    Rec {
        topic: r.topic.to_string(),
        partition: r.partition,
        offset: r.offset,
        ts_type: ts_type_name(r.timestamp_type).to_string(),
        timestamp: r.timestamp,
        key: r.key.as_ref().map(|b| b.to_vec()),
        value: r.value.as_ref().map(|b| b.to_vec()),
        headers: r
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.as_bytes().to_vec(),
                    h.value.as_ref().map(|b| b.to_vec()),
                )
            })
            .collect(),
    }
}

pub fn by_partition(records: impl IntoIterator<Item = Rec>) -> BTreeMap<TopicPartition, Vec<Rec>> {
    let mut out: BTreeMap<TopicPartition, Vec<Rec>> = BTreeMap::new();
    for r in records {
        out.entry(r.topic_partition()).or_default().push(r);
    }
    out
}
