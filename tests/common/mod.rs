//! Shared test support.
#![allow(dead_code)]

pub mod acl_broker;
pub mod broker;
#[cfg(feature = "mock")]
pub mod group_member;
pub mod java;
pub mod kafka_tools;
pub mod records;
#[cfg(feature = "tls")]
pub mod secure_broker;
#[cfg(feature = "tls")]
pub mod secure_client;

use std::time::Duration;

use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, KafkaProducer, ProducerConfig, ProducerRecord};

/// A CreateTime to build a test's record timestamps on: a day ago, in ms since the Unix epoch.
/// A fixed date long past is outside the broker's 7-day retention, and its retention check
/// (30 s after it starts, then every 5 minutes) deletes such records while a test reads them
/// back (seen: a fetch at offset 0 answered OFFSET_OUT_OF_RANGE).
pub fn day_old_timestamp_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    now.as_millis() as i64 - 86_400_000
}

/// Creates `name` with `partitions` partitions (panics on failure).
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    );
    let r = admin
        .create_topics([NewTopic::new(name, partitions, 1)])
        .await
        .expect("create topics");
    r[name].as_ref().expect("topic created");
}

/// A consumer reading from the earliest offset, with extra properties.
pub fn consumer(bootstrap: &str, props: &[(&str, &str)]) -> ferrokafka::KafkaConsumer {
    let mut b = ferrokafka::ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("auto.offset.reset", "earliest");
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    ferrokafka::KafkaConsumer::new(b.build().expect("consumer config")).expect("consumer")
}

/// Closes `p` with a 500 ms timeout and asserts it returned in time: the design bound is the
/// timeout plus 100 ms, and 200 ms more is slack for a loaded test machine.
pub async fn close_in_time(what: &str, p: KafkaProducer) {
    let timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    p.close(timeout).await;
    let took = started.elapsed();
    assert!(
        took < timeout + Duration::from_millis(300),
        "{what}: close({timeout:?}) took {took:?}"
    );
}

/// A producer with extra properties.
pub fn producer(bootstrap: &str, props: &[(&str, &str)]) -> KafkaProducer {
    let mut b = ProducerConfig::builder().bootstrap_servers(bootstrap);
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    KafkaProducer::new(b.build().expect("producer config")).expect("producer")
}

/// Produces `values` round robin over `partitions` partitions (value i to partition i % n),
/// waits for every acknowledgement.
pub async fn produce_values(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    values: impl IntoIterator<Item = String>,
    codec: &str,
) {
    let p = producer(
        bootstrap,
        &[("compression.type", codec), ("linger.ms", "5")],
    );
    let mut futures = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let rec = ProducerRecord::new(topic, v).partition(i as i32 % partitions);
        futures.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for f in futures {
        f.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}

/// The repository root.
pub fn repo() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has confluent-kafka 2.16.x (librdkafka 2.16): `$FERROKAFKA_PYTHON`, else
/// what `scripts/pyenv` sets up. Looked up once per test binary; panics (never skips) with how
/// to get it when it is missing.
pub fn python() -> std::path::PathBuf {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("FERROKAFKA_PYTHON") {
                return std::path::PathBuf::from(p);
            }
            let script = repo().join("scripts/pyenv");
            let out = std::process::Command::new(&script)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let path = stdout.lines().last().unwrap_or("").trim();
            assert!(
                out.status.success() && !path.is_empty(),
                "{} failed ({}), so librdkafka (PyPI confluent-kafka 2.16.x) is not available.\n\
                 It needs python3 with venv and pip, and PyPI; or set FERROKAFKA_PYTHON to a \
                 python that has confluent-kafka 2.16.x.\nstderr:\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::path::PathBuf::from(path)
        })
        .clone()
}

/// Polls `c` (200 ms at a time) until it returned `n` records or `limit` passed; returns what
/// it got, for the caller to assert on.
pub async fn poll_records(
    c: &mut ferrokafka::KafkaConsumer,
    n: usize,
    limit: Duration,
) -> Vec<ferrokafka::ConsumerRecord> {
    let mut records = Vec::new();
    let start = std::time::Instant::now();
    while records.len() < n && start.elapsed() < limit {
        records.extend(c.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    records
}
