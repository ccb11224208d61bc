//! The Apache Kafka Java client as the reference peer: `tests/java/JavaPeer.java` (its header
//! lists the commands and the line formats), compiled with `javac` against the jars of the
//! broker's release ([`kafka_libs`]) and run with `java`.
//!
//! The classes are compiled once into `target/java-peer/<kafka version>-<hash of the sources>/`
//! and reused by every test binary and run. Test binaries compile concurrently without clashing:
//! each compiles into a folder of its own and renames it into place; the first rename wins and
//! the others drop theirs. No JDK is a test failure with what to install, never a skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

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
