//! The shared 3-broker cluster (see the crate docs of tests/replication.rs) and helpers.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::common::broker::TestCluster;
use ferrokafka::admin::{ListTopicsOptions, NewTopic, TopicPartitionInfo};
use ferrokafka::consumer::{ConsumerRecord, KafkaConsumer, TopicPartition};
use ferrokafka::{AdminClient, AdminConfig, Error};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// The cluster shared by the tests of this file; holding the lock is holding the cluster.
pub(crate) static CLUSTER: Mutex<Option<TestCluster>> = Mutex::const_new(None);

/// `offsets.topic.num.partitions` as `scripts/kafka node` sets it.
pub(crate) const OFFSETS_PARTITIONS: i32 = 10;

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A healthy cluster, exclusively for the calling test.
pub(crate) struct Env {
    pub(crate) guard: MutexGuard<'static, Option<TestCluster>>,
    pub(crate) bootstrap: String,
    pub(crate) admin: AdminClient,
    pub(crate) started: Instant,
}

impl Env {
    pub(crate) fn cluster(&mut self) -> &mut TestCluster {
        self.guard.as_mut().expect("cluster started")
    }

    pub(crate) fn log(&self, what: impl std::fmt::Display) {
        eprintln!("[{:>6.1}s] {what}", self.started.elapsed().as_secs_f64());
    }

    /// SIGKILL broker `id` (no controlled shutdown).
    pub(crate) fn kill(&mut self, id: i32) {
        self.log(format_args!("SIGKILL broker {id}"));
        let cluster = self.cluster();
        tokio::task::block_in_place(|| cluster.kill(id));
    }

    /// Starts broker `id` again on its port and data; returns once it serves. Blocks this
    /// thread only: clients keep running on the runtime's workers meanwhile.
    pub(crate) fn restart(&mut self, id: i32) {
        self.log(format_args!("restarting broker {id}"));
        let cluster = self.cluster();
        tokio::task::block_in_place(|| cluster.restart(id));
        self.log(format_args!("broker {id} serves again"));
    }

    pub(crate) fn live_brokers(&mut self) -> Vec<i32> {
        let c = self.cluster();
        c.broker_ids()
            .into_iter()
            .filter(|id| c.is_running(*id))
            .collect()
    }
}

/// Takes the shared cluster (starting it on first use) and heals it: see the module docs.
pub(crate) async fn env() -> Env {
    init_tracing();
    let mut guard = CLUSTER.lock().await;
    let started = Instant::now();
    tokio::task::block_in_place(|| {
        let cluster = guard.get_or_insert_with(|| TestCluster::start(3));
        for id in cluster.broker_ids() {
            if !cluster.is_running(id) {
                eprintln!("healing: restarting broker {id}, left dead by an earlier test");
                cluster.restart(id);
            }
        }
    });
    let bootstrap = guard.as_ref().expect("cluster").bootstrap();
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()
            .expect("admin config"),
    );
    wait_fully_replicated(&admin, None).await;
    let env = Env {
        guard,
        bootstrap,
        admin,
        started,
    };
    env.log("cluster healthy");
    env
}

/// Polls `probe` every 200 ms until it yields a value; panics after `limit`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn leader(p: &TopicPartitionInfo) -> Option<i32> {
    p.leader.as_ref().map(|n| n.id)
}

/// The partitions of `topic` as the cluster describes them now.
pub(crate) async fn describe(admin: &AdminClient, topic: &str) -> Vec<TopicPartitionInfo> {
    try_describe(admin, topic)
        .await
        .unwrap_or_else(|e| panic!("describe {topic}: {e}"))
}

pub(crate) async fn try_describe(
    admin: &AdminClient,
    topic: &str,
) -> Result<Vec<TopicPartitionInfo>, Error> {
    let mut d = admin.describe_topics(&[topic]).await?;
    let entry = d.remove(topic).expect("an entry per topic asked");
    Ok(entry?.partitions)
}

pub(crate) fn summary(parts: &[TopicPartitionInfo]) -> String {
    parts
        .iter()
        .map(|p| {
            format!(
                "p{}: leader {:?} epoch {} isr {:?}",
                p.partition,
                leader(p),
                p.leader_epoch,
                p.isr
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits until all three brokers are registered and every partition (of `topic`, or of every
/// topic including internal ones) has a leader and all its replicas in sync.
pub(crate) async fn wait_fully_replicated(admin: &AdminClient, topic: Option<&str>) {
    eventually(
        "every broker registered and every partition with a leader and a full ISR",
        Duration::from_secs(90),
        || async {
            let cluster = admin.describe_cluster().await.ok()?;
            if cluster.nodes.len() != 3 {
                return None;
            }
            let names: Vec<String> = match topic {
                Some(t) => vec![t.to_string()],
                None => admin
                    .list_topics_with(ListTopicsOptions {
                        list_internal: true,
                    })
                    .await
                    .ok()?
                    .into_keys()
                    .collect(),
            };
            let described = admin.describe_topics(&names).await.ok()?;
            for t in described.into_values() {
                for p in t.ok()?.partitions {
                    if leader(&p).is_none() || p.isr.len() != p.replicas.len() {
                        return None;
                    }
                }
            }
            Some(())
        },
    )
    .await
}

/// Creates `topic` with replication factor 3 and waits until it is fully replicated.
pub(crate) async fn create_topic(admin: &AdminClient, topic: &str, partitions: i32) {
    let r = admin
        .create_topics([NewTopic::new(topic, partitions, 3)])
        .await
        .expect("create topics");
    r[topic].as_ref().expect("topic created");
    wait_fully_replicated(admin, Some(topic)).await;
}

pub(crate) use crate::common::consumer;

pub(crate) fn value_of(r: &ConsumerRecord) -> u64 {
    let v = r.value.as_deref().expect("a value");
    std::str::from_utf8(v)
        .expect("utf8")
        .parse()
        .expect("a decimal number")
}

/// Reads every partition of `topic` from its start to its end offset now (no group). Returns
/// the records per partition and the end offsets.
pub(crate) async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> (BTreeMap<i32, Vec<ConsumerRecord>>, BTreeMap<i32, i64>) {
    let mut c = consumer(bootstrap, &[("max.poll.records", "5000")]);
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    c.assign(tps.clone()).expect("assign");
    c.seek_to_beginning(&tps).expect("seek");
    let ends = end_offsets(&mut c, &tps).await;
    let mut out: BTreeMap<i32, Vec<ConsumerRecord>> = BTreeMap::new();
    let start = Instant::now();
    loop {
        let done = ends.iter().all(|(p, end)| {
            out.get(p)
                .and_then(|v| v.last())
                .map_or(*end == 0, |r| r.offset + 1 >= *end)
        });
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "reading {topic} back did not reach the end offsets {ends:?}"
        );
        for r in c.poll(Duration::from_millis(200)).await.expect("poll") {
            out.entry(r.partition).or_default().push(r);
        }
    }
    c.close().await.expect("close");
    (out, ends)
}

/// Java's `String.hashCode`.
pub(crate) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of `group`: Kafka's
/// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`; its leader is the group's
/// coordinator.
pub(crate) fn offsets_partition_for(group: &str) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % OFFSETS_PARTITIONS
}

#[test]
fn java_string_hash_matches_java() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(offsets_partition_for("polygenelubricants"), 0);
    assert_eq!(java_string_hash("ferrokafka"), 1_753_915_414);
    assert_eq!(offsets_partition_for("repl-group-g1"), 2);
}

// ------------------------------------------------------------------------------------------
// 1. Idempotent producer across the SIGKILL and restart of the busiest leader.
// ------------------------------------------------------------------------------------------

/// The end offsets of `tps`, by partition.
pub(crate) async fn end_offsets(
    c: &mut KafkaConsumer,
    tps: &[TopicPartition],
) -> BTreeMap<i32, i64> {
    c.end_offsets(tps)
        .await
        .expect("end offsets")
        .into_iter()
        .map(|(tp, o)| (tp.partition, o))
        .collect()
}
