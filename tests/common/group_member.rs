//! A consumer-group member for churn and chaos tests: polls, logs what it processed and which
//! partitions it owned in which generation, commits after every batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka::ConsumerConfig;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};

#[derive(Default)]
pub struct Log {
    /// Every value processed (with repeats).
    pub values: Vec<u64>,
    /// generation -> partition -> incarnation that owned it in that generation.
    pub owners: BTreeMap<i32, HashMap<TopicPartition, usize>>,
    /// Two incarnations claimed one partition in one generation.
    pub conflicts: Vec<String>,
}

pub struct Member {
    pub incarnation: usize,
    pub stop: Arc<AtomicBool>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Member {
    /// Leaves the group cleanly and waits for the task.
    pub async fn close(self) {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("member task");
    }

    /// Drops the consumer without leaving: the coordinator must expire the session.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Group member config with fast heartbeats and short sessions.
pub fn member_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("heartbeat.interval.ms", "100")
        .set("session.timeout.ms", "1000")
        .set("max.poll.interval.ms", "5000")
        .set("max.poll.records", "200")
        .set("request.timeout.ms", "3000")
        .set("retry.backoff.ms", "20")
        .set("reconnect.backoff.ms", "20")
        .build()
        .expect("consumer config")
}

/// Starts a member subscribed to `topic`. Values must be decimal numbers.
pub fn spawn_member(
    incarnation: usize,
    config: ConsumerConfig,
    topic: &str,
    log: Arc<Mutex<Log>>,
) -> Member {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let topic = topic.to_string();
    let task = tokio::spawn(async move {
        let mut c = KafkaConsumer::new(config).expect("consumer");
        c.subscribe([topic]).expect("subscribe");
        let mut dirty = false;
        while !s.load(Ordering::Acquire) {
            let records = match c.poll(Duration::from_millis(100)).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("member {incarnation}: poll: {e}");
                    continue;
                }
            };
            let meta = c.group_metadata().expect("group member");
            let assignment = c.assignment();
            {
                let mut log = log.lock().unwrap();
                if meta.generation_id >= 0 {
                    let owners = log.owners.entry(meta.generation_id).or_default();
                    let mut clash = Vec::new();
                    for tp in assignment {
                        let owner = *owners.entry(tp.clone()).or_insert(incarnation);
                        if owner != incarnation {
                            clash.push(format!(
                                "generation {}: {tp:?} owned by {owner} and {incarnation}",
                                meta.generation_id
                            ));
                        }
                    }
                    log.conflicts.extend(clash);
                }
                for r in &records {
                    let v = std::str::from_utf8(r.value.as_deref().expect("value"))
                        .expect("utf8")
                        .parse()
                        .expect("number");
                    log.values.push(v);
                }
            }
            if records.is_empty() && !dirty {
                continue;
            }
            dirty = true;
            // "Processing": a kill can land between handling records and committing them.
            tokio::time::sleep(Duration::from_millis(5)).await;
            // A failed commit is retried on the next poll, records or not.
            match c.commit_sync().await {
                Ok(()) => dirty = false,
                Err(e) => eprintln!("member {incarnation}: commit: {e}"),
            }
        }
        let _ = c.close_with_timeout(Duration::from_secs(5)).await;
    });
    Member {
        incarnation,
        stop,
        task,
    }
}

/// Committed offsets per partition, in commit order, must never decrease.
pub fn assert_commits_monotonic(log: &[ferrokafka::mock::MockCommit]) {
    let mut by_partition: BTreeMap<(String, i32), Vec<&ferrokafka::mock::MockCommit>> =
        BTreeMap::new();
    for k in log {
        by_partition
            .entry((k.topic.clone(), k.partition))
            .or_default()
            .push(k);
    }
    for (tp, commits) in &by_partition {
        if let Some(i) = commits.windows(2).position(|w| w[0].offset > w[1].offset) {
            let around: Vec<String> = commits[i.saturating_sub(3)..(i + 2).min(commits.len())]
                .iter()
                .map(|k| {
                    format!(
                        "{} by {} in generation {}",
                        k.offset, k.member_id, k.generation
                    )
                })
                .collect();
            panic!("{tp:?}: committed offsets went backward: {around:?}");
        }
    }
}
