//! The `ferrokat` binary (a kcat-style tool) against Apache Kafka: each flag checked against
//! what kcat documents (its usage text and README) and does.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::broker::TestBroker;
use common::create_topic;

/// What a run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "ferrokat failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `ferrokat args`, feeding `stdin`; kills it (and fails) after 60 s so that a run that
/// never exits shows as a failure, not as a hung suite.
fn kat(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrokat");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        // A mode that reads no stdin may exit first: a broken pipe is no failure here.
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        out.read_to_end(&mut s).expect("read stdout");
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        err.read_to_end(&mut s).expect("read stderr");
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&err_t.join().expect("stderr thread")).into_owned();
            panic!("ferrokat {args:?} did not exit within 60 s; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().expect("stdin thread");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out_t.join().expect("stdout thread")).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().expect("stderr thread")).into_owned(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// A topic of its own for each test.
async fn topic(name: &str, partitions: i32) -> (String, String) {
    let bootstrap = TestBroker::shared().bootstrap();
    let topic = format!("ferrokat-{name}-{}", now_ms());
    create_topic(&bootstrap, &topic, partitions).await;
    (bootstrap, topic)
}

fn produce(bootstrap: &str, topic: &str, extra: &[&str], input: &str) {
    let mut args = vec!["-P", "-b", bootstrap, "-t", topic];
    args.extend_from_slice(extra);
    kat(&args, input).ok();
}

fn consume(bootstrap: &str, topic: &str, extra: &[&str]) -> String {
    let mut args = vec!["-C", "-b", bootstrap, "-t", topic, "-q"];
    args.extend_from_slice(extra);
    kat(&args, "").ok().stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_keys_and_headers_come_back_in_kcats_json_envelope() {
    let (b, t) = topic("json", 1).await;
    let before = now_ms();
    produce(
        &b,
        &t,
        &[
            "-K", ":", "-H", "h1=a", "-H", "h2", "-H", "h3=", "-H", "h1=dup",
        ],
        "k0:v0\nk1:v1\n\nnokey\n",
    );
    let after = now_ms();
    let out = consume(&b, &t, &["-e", "-J"]);
    let lines: Vec<&str> = out.lines().collect();
    // The empty input line is skipped, as kcat does.
    assert_eq!(lines.len(), 3, "{out}");
    let expected = [(Some("k0"), "v0"), (Some("k1"), "v1"), (None, "nokey")];
    for (i, (line, (key, payload))) in lines.iter().zip(expected).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object a line");
        let obj = v.as_object().expect("object");
        let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
        names.sort_by_key(|n| line.find(&format!("\"{n}\":")).expect("field in line"));
        assert_eq!(
            names,
            [
                "topic",
                "partition",
                "offset",
                "tstype",
                "ts",
                "broker",
                "headers",
                "key",
                "payload"
            ],
            "kcat's fields in kcat's order: {line}"
        );
        assert_eq!(v["topic"], t.as_str());
        assert_eq!(v["partition"], 0);
        assert_eq!(v["offset"], i as i64);
        assert_eq!(v["tstype"], "create");
        let ts = v["ts"].as_i64().expect("ts");
        assert!(
            (before..=after).contains(&ts),
            "ts {ts} not in [{before}, {after}]"
        );
        assert!(v["broker"].is_i64());
        // kcat writes headers as a flat [name, value, ...] array, null for a header without a
        // value; duplicates kept in order.
        assert_eq!(
            v["headers"],
            serde_json::json!(["h1", "a", "h2", null, "h3", "", "h1", "dup"])
        );
        match key {
            Some(k) => assert_eq!(v["key"], k),
            None => assert!(v["key"].is_null(), "{line}"),
        }
        assert_eq!(v["payload"], payload);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_minus_n_absolute_end_and_count() {
    let (b, t) = topic("offsets", 1).await;
    produce(&b, &t, &[], "m0\nm1\nm2\nm3\nm4\n");
    // -o -2: the last two of the partition.
    assert_eq!(consume(&b, &t, &["-o", "-2", "-e"]), "m3\nm4\n");
    // -o -N past the beginning starts at the beginning.
    assert_eq!(consume(&b, &t, &["-o", "-9", "-e"]), "m0\nm1\nm2\nm3\nm4\n");
    // An absolute offset.
    assert_eq!(consume(&b, &t, &["-o", "3", "-e"]), "m3\nm4\n");
    // The default is the beginning.
    assert_eq!(consume(&b, &t, &["-e"]), "m0\nm1\nm2\nm3\nm4\n");
    assert_eq!(consume(&b, &t, &["-o", "beginning", "-c", "2"]), "m0\nm1\n");
    // -o end -e: nothing new, exits at once.
    assert_eq!(consume(&b, &t, &["-o", "end", "-e"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_by_timestamp_starts_at_the_first_record_at_or_after_it() {
    let (b, t) = topic("timestamp", 2).await;
    produce(&b, &t, &["-p", "0"], "old0\n");
    produce(&b, &t, &["-p", "1"], "old1\n");
    std::thread::sleep(Duration::from_millis(20));
    let ts = now_ms();
    std::thread::sleep(Duration::from_millis(20));
    produce(&b, &t, &["-p", "0"], "new0\n");
    produce(&b, &t, &["-p", "1"], "new1\n");
    let at = format!("s@{ts}");
    let out = consume(&b, &t, &["-o", &at, "-e", "-f", "%p:%s\n"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, ["0:new0", "1:new1"]);
    // A timestamp after every record: nothing.
    let later = format!("s@{}", now_ms() + 60_000);
    assert_eq!(consume(&b, &t, &["-o", &later, "-e"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_tokens_and_delimiters() {
    let (b, t) = topic("format", 1).await;
    produce(
        &b,
        &t,
        &["-K", "\\t", "-H", "a=1", "-H", "b=two"],
        "key\tvalue\n",
    );
    produce(&b, &t, &[], "plain\n");
    let json = consume(&b, &t, &["-e", "-J"]);
    let ts: Vec<i64> = json
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["ts"].as_i64().expect("ts")
        })
        .collect();
    let out = consume(
        &b,
        &t,
        &[
            "-e",
            "-f",
            "Topic %t [%p] at offset %o: key %k (%K) payload %s (%S) ts %T headers %h 100%%\\n",
        ],
    );
    assert_eq!(
        out,
        format!(
            "Topic {t} [0] at offset 0: key key (3) payload value (5) ts {} headers a=1,b=two 100%\n\
             Topic {t} [0] at offset 1: key  (-1) payload plain (5) ts {} headers  100%\n",
            ts[0], ts[1]
        )
    );
    // \t and \xNN escapes in -f; %R is the payload length as a big-endian i32.
    let out = consume(&b, &t, &["-e", "-c", "1", "-f", "%k\\t%s\\x21%R"]);
    assert_eq!(out.as_bytes(), b"key\tvalue!\x00\x00\x00\x05");
    // Without -f: -K prints the key before the payload, -D ends each message.
    assert_eq!(
        consume(&b, &t, &["-e", "-K", "=", "-D", "|"]),
        "key=value|=plain|"
    );
    // -Z prints NULL for a null key.
    assert_eq!(
        consume(&b, &t, &["-e", "-Z", "-K", "="]),
        "key=value\nNULL=plain\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_splits_input_on_the_delimiter_and_honours_count() {
    let (b, t) = topic("delim", 1).await;
    produce(&b, &t, &["-D", ";"], "a;b;c");
    assert_eq!(consume(&b, &t, &["-e"]), "a\nb\nc\n");
    produce(&b, &t, &["-c", "2"], "d\ne\nf\n");
    assert_eq!(consume(&b, &t, &["-e", "-o", "3"]), "d\ne\n");
    // -k: a fixed key; -Z: an empty value is produced as null.
    produce(
        &b,
        &t,
        &["-k", "fixed", "-K", ":", "-Z"],
        "own:x\nnokeyhere\nk:\n",
    );
    let out = consume(&b, &t, &["-e", "-o", "5", "-J"]);
    let got: Vec<(serde_json::Value, serde_json::Value)> = out
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            (v["key"].clone(), v["payload"].clone())
        })
        .collect();
    assert_eq!(
        got,
        [
            (serde_json::json!("own"), serde_json::json!("x")),
            (serde_json::json!("fixed"), serde_json::json!("nokeyhere")),
            (serde_json::json!("k"), serde_json::Value::Null),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_flag_on_produce_and_consume() {
    let (b, t) = topic("partition", 3).await;
    produce(&b, &t, &["-p", "2"], "x\ny\n");
    produce(&b, &t, &["-p", "0"], "z\n");
    assert_eq!(
        consume(&b, &t, &["-e", "-p", "2", "-f", "%p/%o/%s\n"]),
        "2/0/x\n2/1/y\n"
    );
    assert_eq!(consume(&b, &t, &["-e", "-p", "1"]), "");
    // Without -q, -e says where each partition ended, as kcat does; consumer-only -X
    // properties are accepted in -C mode.
    let r = kat(
        &[
            "-C",
            "-b",
            &b,
            "-t",
            &t,
            "-e",
            "-X",
            "fetch.max.wait.ms=50",
            "-X",
            "client.id=kat",
        ],
        "",
    )
    .ok();
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    for (p, end) in [(0, 1), (1, 0), (2, 2)] {
        let line = format!("% Reached end of topic {t} [{p}] at offset {end}");
        assert!(r.stderr.contains(&line), "no {line:?} in\n{}", r.stderr);
    }
    // A partition the topic does not have: a non-zero exit naming the failure.
    let r = kat(&["-P", "-b", &b, "-t", &t, "-p", "7"], "lost\n");
    assert_ne!(r.code, Some(0), "stdout {} stderr {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("partition"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_listing_shows_the_topic_and_its_partitions() {
    let (b, t) = topic("metadata", 3).await;
    let out = kat(&["-L", "-b", &b, "-t", &t], "").ok().stdout;
    assert!(out.contains(" 1 brokers:\n"), "{out}");
    assert!(
        out.contains(&format!("  topic \"{t}\" with 3 partitions:\n")),
        "{out}"
    );
    for p in 0..3 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("    partition {p}, leader ")))
            .unwrap_or_else(|| panic!("no partition {p} in\n{out}"));
        assert!(line.ends_with(", replicas: 1, isrs: 1"), "{line}");
    }
    // Without -t: every topic, ours among them.
    let all = kat(&["-L", "-b", &b], "").ok().stdout;
    assert!(all.starts_with("Metadata for all topics"), "{all}");
    assert!(
        all.contains(&format!("  topic \"{t}\" with 3 partitions:\n")),
        "{all}"
    );
    // -J: kcat's JSON layout.
    let json = kat(&["-L", "-J", "-b", &b, "-t", &t], "").ok().stdout;
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    assert_eq!(v["query"]["topic"], t.as_str());
    assert_eq!(v["brokers"].as_array().expect("brokers").len(), 1);
    let topics = v["topics"].as_array().expect("topics");
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0]["topic"], t.as_str());
    let parts = topics[0]["partitions"].as_array().expect("partitions");
    let ids: Vec<i64> = parts
        .iter()
        .map(|p| p["partition"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(parts[0]["replicas"], serde_json::json!([{"id": 1}]));
    assert_eq!(parts[0]["isrs"], serde_json::json!([{"id": 1}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_consumer_continues_where_the_last_run_stopped() {
    let (b, t) = topic("group", 2).await;
    produce(&b, &t, &["-p", "0"], "a0\na1\na2\n");
    produce(&b, &t, &["-p", "1"], "b0\nb1\n");
    let group = format!("{t}-g");
    let run = |extra: &[&str]| {
        let mut args = vec!["-b", b.as_str(), "-G", group.as_str(), "-q"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-X", "auto.offset.reset=earliest", t.as_str()]);
        kat(&args, "").ok().stdout
    };
    let first = run(&["-c", "3"]);
    // -C -o stored reads from the group's committed offsets (without committing here).
    let gid = format!("group.id={group}");
    let stored = consume(
        &b,
        &t,
        &[
            "-o",
            "stored",
            "-e",
            "-X",
            &gid,
            "-X",
            "enable.auto.commit=false",
            "-X",
            "auto.offset.reset=earliest",
        ],
    );
    let r = kat(&["-C", "-b", &b, "-t", &t, "-o", "stored"], "");
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("group.id"), "{}", r.stderr);
    let second = run(&["-e"]);
    let mut stored: Vec<&str> = stored.lines().collect();
    let mut rest: Vec<&str> = second.lines().collect();
    stored.sort();
    rest.sort();
    assert_eq!(stored, rest, "-o stored starts where the group stopped");
    let third = run(&["-e"]);
    let mut seen: Vec<&str> = first.lines().chain(second.lines()).collect();
    assert_eq!(first.lines().count(), 3, "{first}");
    assert_eq!(second.lines().count(), 2, "{second}");
    seen.sort();
    assert_eq!(
        seen,
        ["a0", "a1", "a2", "b0", "b1"],
        "nothing lost or repeated"
    );
    assert_eq!(third, "", "everything was committed");
    // -o beginning overrides the committed offsets, as kcat's -G does.
    let again = run(&["-e", "-o", "beginning"]);
    assert_eq!(again.lines().count(), 5, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_config_key_fails_with_the_key_named() {
    let b = TestBroker::shared().bootstrap();
    for mode in [
        &["-P", "-t", "x"][..],
        &["-C", "-t", "x"][..],
        &["-L"][..],
        &["-G", "g", "x"][..],
    ] {
        let mut args = vec!["-b", b.as_str(), "-X", "no.such.key=1"];
        args.extend_from_slice(mode);
        let r = kat(&args, "");
        assert_eq!(r.code, Some(1), "{mode:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("no.such.key"),
            "{mode:?}: stderr {}",
            r.stderr
        );
    }
    // Not key=value at all.
    let r = kat(&["-b", &b, "-L", "-X", "novalue"], "");
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("novalue"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_group_consumer_cleanly_and_it_leaves_the_group() {
    use std::io::BufRead;
    let (b, t) = topic("sigint", 1).await;
    produce(&b, &t, &[], "m0\nm1\n");
    let group = format!("{t}-g");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokat"))
        .args([
            "-b",
            &b,
            "-G",
            &group,
            "-q",
            "-X",
            "auto.offset.reset=earliest",
            &t,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrokat");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    for want in ["m0", "m1"] {
        let got = lines.next().expect("a line").expect("read");
        assert_eq!(got, want);
    }
    let status = interrupt(&mut child, "ferrokat");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    // Killed by the signal, the process has no exit code; stopped cleanly, it exits 0.
    assert_eq!(status.code(), Some(0), "{status:?}; stderr:\n{err}");
    let admin = ferrokafka::AdminClient::new(
        ferrokafka::AdminConfig::builder()
            .bootstrap_servers(&b)
            .build()
            .expect("admin config"),
    );
    let described = admin
        .describe_consumer_groups(&[&group])
        .await
        .expect("describe");
    let g = described[&group].as_ref().expect("group");
    assert!(g.members.is_empty(), "still a member: {:?}", g.members);
    assert_eq!(g.state, "Empty");
    // What it printed was committed: a new run has nothing left.
    let rest = kat(
        &[
            "-b",
            &b,
            "-G",
            &group,
            "-q",
            "-e",
            "-X",
            "auto.offset.reset=earliest",
            &t,
        ],
        "",
    )
    .ok()
    .stdout;
    assert_eq!(rest, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_producer_whose_stdin_is_still_open_with_exit_0() {
    let (b, t) = topic("sigint-produce", 1).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokat"))
        .args(["-P", "-b", &b, "-t", &t])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferrokat");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(b"a\nb\n").expect("write");
    input.flush().expect("flush");
    // Sent while stdin stays open (a `tail -f | ferrokat -P` pipeline).
    let started = Instant::now();
    while consume(&b, &t, &["-e"]) != "a\nb\n" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a, b never arrived"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = interrupt(&mut child, "ferrokat -P");
    drop(input);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    assert_eq!(status.code(), Some(0), "{status:?}; stderr:\n{err}");
}

/// Sends SIGINT to `child` and waits up to 30 s for it to exit.
fn interrupt(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("{what} did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
