//! Keyed partitioning against librdkafka (PyPI confluent-kafka 2.16, `partitioner=murmur2_random`,
//! the Java-compatible choice) through a real broker: every key must land where librdkafka put it.
//!
//! Needs a Python with confluent-kafka 2.16.x: `$FERROKAFKA_PYTHON` (set by scripts/test), else
//! the one `scripts/pyenv` creates in `.venv`. Fails, never skips, when neither can be had.

mod common;

use std::process::Command;

use common::broker::TestBroker;
use common::{python, repo};
use ferrokafka::admin::NewTopic;
use ferrokafka::producer::default_partition_for_key;
use ferrokafka::{AdminClient, AdminConfig};

const PARTITIONS: i32 = 6;
const KEYS: usize = 1000;

fn from_hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

/// Runs the librdkafka producer script; returns (key, partition) per record, in produce order.
fn rdkafka_partitions(bootstrap: &str, topic: &str) -> Vec<(Vec<u8>, i32)> {
    let python = python();
    let script = repo().join("tests/interop/rdkafka_partition.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--bootstrap", bootstrap, "--topic", topic])
        .args(["--count", &KEYS.to_string()])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (from FERROKAFKA_PYTHON or scripts/pyenv): {e}",
                python.display()
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr: Vec<&str> = stderr.lines().collect();
    assert!(
        out.status.success(),
        "{} {} failed ({}):\n{}",
        python.display(),
        script.display(),
        out.status,
        // librdkafka logs a line per failed connect: the tail says what went wrong.
        stderr[stderr.len().saturating_sub(30)..].join("\n")
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|line| {
            let (key, partition) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            let partition = partition
                .parse()
                .unwrap_or_else(|e| panic!("bad partition in {line:?}: {e}"));
            (from_hex(key), partition)
        })
        .collect()
}

#[tokio::test]
async fn keyed_partition_matches_librdkafka_murmur2_random() {
    let bootstrap = TestBroker::shared().bootstrap();
    let topic = "interop-keyed-partitioner";
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()
            .expect("admin config"),
    );
    let created = admin
        .create_topics([NewTopic::new(topic, PARTITIONS, 1)])
        .await
        .expect("CreateTopics request");
    created[topic].as_ref().expect("topic created");

    // The child process blocks: keep it off the runtime's thread.
    let records = tokio::task::spawn_blocking(move || rdkafka_partitions(&bootstrap, topic))
        .await
        .expect("librdkafka run");

    assert!(records.len() > KEYS, "{} records reported", records.len());
    for (i, (key, _)) in records.iter().take(KEYS).enumerate() {
        assert_eq!(*key, format!("key-{i}").into_bytes(), "record {i}");
    }
    let mismatches: Vec<String> = records
        .iter()
        .filter_map(|(key, theirs)| {
            let ours = default_partition_for_key(key, PARTITIONS);
            (ours != *theirs).then(|| {
                format!(
                    "key {:?}: ours {ours}, librdkafka {theirs}",
                    String::from_utf8_lossy(key)
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} keys differ, first: {:#?}",
        mismatches.len(),
        records.len(),
        &mismatches[..mismatches.len().min(10)]
    );
    // A comparison that passes because everything went to one partition proves little.
    let mut used = [0usize; PARTITIONS as usize];
    for (_, p) in &records {
        used[*p as usize] += 1;
    }
    assert!(used.iter().all(|&n| n > KEYS / 12), "{used:?}");
}
