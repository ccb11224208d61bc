//! KIP-320: after a leader change, a partition's position is checked with OffsetForLeaderEpoch
//! before it is fetched again. If the new leader's log ends, for the epoch of the last record
//! consumed, below the position, records the consumer read were lost (truncated): the position
//! goes back to where the logs diverge, or, with `auto.offset.reset=none`, the caller gets
//! [`Error::LogTruncation`] (as Java's consumer does).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::KafkaConsumer;
use super::background::Background;
use super::subscription::PositionSource;
use crate::error::{Error, ErrorCode, Result};
use crate::network::metadata::Cluster;
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::protocol::messages::{
    BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};
use crate::record::TopicPartition;

/// A partition to validate: its position, the epoch of the record before it, and the leader's
/// current epoch.
#[derive(Clone)]
struct Check {
    tp: TopicPartition,
    position: i64,
    epoch: i32,
    current_epoch: i32,
}

/// What a leader answered for one check.
enum Answer {
    /// The leader's log has epoch `epoch` (the largest at most the one asked) ending at
    /// `end_offset`.
    EndOffset { epoch: i32, end_offset: i64 },
    /// The check failed; it stays marked and is asked again.
    Failed,
}

/// OffsetForLeaderEpoch requests in flight on a task of their own, so a slow leader cannot hold
/// `poll` past its timeout (KIP-266); a later poll applies the answers.
#[derive(Default)]
pub(super) struct Validation {
    task: Option<Background<Vec<(Check, Answer)>>>,
    /// After a failed check, the next one waits for `retry.backoff.ms` (a leader that is not yet
    /// the leader would otherwise be asked in a tight loop).
    not_before: Option<Instant>,
    /// The metadata and assignment the last walk over every partition looked at: the walk
    /// runs again only when either changed or a partition may be validating, not per poll.
    walked: Option<(Arc<Cluster>, u64)>,
}

impl KafkaConsumer {
    /// Marks partitions whose leader epoch went up in `cluster` for validation, starts the
    /// validation of those marked (here or by a fetch error) when none runs, and applies the
    /// answers of one that finished. A failed request leaves its partitions marked: a later
    /// poll asks again.
    ///
    /// Errors: [`Error::LogTruncation`] or [`Error::NoOffsetForPartition`] with
    /// `auto.offset.reset=none`.
    ///
    /// # Cancel safety
    /// Cancel safe: the requests run on their own task, and positions change only when an
    /// answer is taken, without an await after it.
    pub(super) async fn validate_positions(&mut self, cluster: &Arc<Cluster>) -> Result<()> {
        let unchanged = self
            .validation
            .walked
            .as_ref()
            .is_some_and(|(c, n)| Arc::ptr_eq(c, cluster) && *n == self.subs.changes());
        if unchanged && !self.subs.validation_hint && self.validation.task.is_none() {
            return Ok(());
        }
        self.validation.walked = Some((cluster.clone(), self.subs.changes()));
        let checks = self.mark_for_validation(cluster);
        let now = Instant::now();
        let v = &mut self.validation;
        if v.task.is_none() && !checks.is_empty() && v.not_before.is_none_or(|t| now >= t) {
            let net = self.net.clone();
            let wake = self.coordinator.as_ref().map(|c| c.shared.clone());
            v.task = Some(Background::spawn(async move {
                let answers = ask(&net, cluster_nodes(checks)).await;
                if let Some(shared) = wake {
                    // A permit, not just a wake-up: the poll may be between looks.
                    shared.wake.notify_one();
                }
                Ok(answers)
            }));
        }
        let Some(task) = &mut v.task else {
            return Ok(());
        };
        let Some(done) = task.wait_until(now).await else {
            return Ok(());
        };
        v.task = None;
        let answers = done?;
        v.not_before = answers
            .iter()
            .any(|(_, a)| matches!(a, Answer::Failed))
            .then(|| now + self.net.retry_backoff(1));
        for (c, answer) in answers {
            match answer {
                Answer::EndOffset { epoch, end_offset } if self.still_current(&c) => {
                    self.complete(&c, epoch, end_offset)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Marks partitions whose leader epoch went up and returns every marked partition that can
    /// be checked now, with the leader to ask.
    fn mark_for_validation(&mut self, cluster: &Cluster) -> Vec<(i32, Check)> {
        let mut checks = Vec::new();
        let mut any = false;
        for (tp, s) in self.subs.states_mut() {
            let meta = cluster
                .topic(&tp.topic)
                .and_then(|t| t.partition(tp.partition))
                .filter(|p| p.leader_epoch >= 0);
            // Validating partitions are not fetched, so no fetch error will ask for the
            // metadata that names a reachable leader: ask here.
            let Some(meta) = meta else {
                if s.validating {
                    any = true;
                    self.net.request_update();
                }
                continue;
            };
            if s.validating && !cluster.brokers.contains_key(&meta.leader) {
                self.net.request_update();
            }
            if s.leader_epoch.is_some_and(|seen| meta.leader_epoch > seen) {
                s.validating = true;
            }
            s.leader_epoch = Some(
                s.leader_epoch
                    .map_or(meta.leader_epoch, |e| e.max(meta.leader_epoch)),
            );
            let (Some(position), Some(epoch)) = (s.position, s.position_epoch) else {
                // Nothing consumed under a known epoch: nothing to check.
                s.validating = false;
                continue;
            };
            any |= s.validating;
            if s.validating && s.pending.is_none() && cluster.brokers.contains_key(&meta.leader) {
                checks.push((
                    meta.leader,
                    Check {
                        tp: tp.clone(),
                        position,
                        epoch,
                        current_epoch: meta.leader_epoch,
                    },
                ));
            }
        }
        self.subs.validation_hint = any;
        checks
    }

    /// Whether `c` still describes the partition: a seek, a reset or a new assignment since the
    /// request was made leaves its answer meaningless.
    fn still_current(&self, c: &Check) -> bool {
        self.subs.assignment().get(&c.tp).is_some_and(|s| {
            s.validating && s.position == Some(c.position) && s.position_epoch == Some(c.epoch)
        })
    }

    /// Applies a validation's answer for `c`: the leader's log has epoch `epoch` (the largest
    /// at most the one asked) ending at `end_offset`.
    fn complete(&mut self, c: &Check, epoch: i32, end_offset: i64) -> Result<()> {
        let reset = self.subs.default_reset();
        if epoch < 0 || end_offset < 0 {
            // The leader knows no epoch that old: nothing tells where the logs diverge.
            if reset == PositionSource::NoReset {
                return Err(Error::NoOffsetForPartition {
                    partition: c.tp.to_string(),
                });
            }
            return self.subs.request_position(&c.tp, reset);
        }
        if end_offset < c.position {
            if reset == PositionSource::NoReset {
                // Stays unfetched until the application seeks.
                return Err(Error::LogTruncation {
                    partition: c.tp.to_string(),
                    offset: c.position,
                    epoch: c.epoch,
                    diverging_offset: end_offset,
                });
            }
            // Java resets to the first offset known to diverge, whatever the policy: every
            // record that still exists after it is read.
            tracing::info!(
                tp = %c.tp,
                position = c.position,
                end_offset,
                "log truncation detected; resuming at the diverging offset"
            );
            self.subs.seek(&c.tp, end_offset)?;
            self.subs.state_mut(&c.tp)?.position_epoch = Some(epoch);
            return Ok(());
        }
        self.subs.state_mut(&c.tp)?.validating = false;
        Ok(())
    }
}

/// Groups checks by the leader to ask.
fn cluster_nodes(checks: Vec<(i32, Check)>) -> HashMap<i32, Vec<Check>> {
    let mut per_node: HashMap<i32, Vec<Check>> = HashMap::new();
    for (node, c) in checks {
        per_node.entry(node).or_default().push(c);
    }
    per_node
}

/// Asks every leader at once; a leader that fails costs only its own checks.
async fn ask(net: &Arc<NetworkClient>, per_node: HashMap<i32, Vec<Check>>) -> Vec<(Check, Answer)> {
    // Dropped with the validation, the set aborts what still runs.
    let mut asks = tokio::task::JoinSet::new();
    for (node, checks) in per_node {
        let net = net.clone();
        asks.spawn(async move {
            let resp = match net.send(Target::Node(node), request(&checks)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(node, error = %e, "OffsetForLeaderEpoch failed; will retry");
                    net.request_update();
                    return checks.into_iter().map(|c| (c, Answer::Failed)).collect();
                }
            };
            checks
            .into_iter()
            .map(|c| {
                let answer = answer_for(&resp, &c.tp);
                if let Err(code) = &answer {
                    tracing::debug!(tp = %c.tp, %code, "position validation failed; will retry");
                    if code.invalidates_metadata() {
                        net.request_update();
                    }
                }
                (c, answer.unwrap_or(Answer::Failed))
            })
            .collect::<Vec<_>>()
        });
    }
    asks.join_all().await.into_iter().flatten().collect()
}

/// The answer for `tp` in `resp`: `Err` with the partition's error, or `Failed` when the leader
/// left it out.
fn answer_for(
    resp: &OffsetForLeaderEpochResponse,
    tp: &TopicPartition,
) -> std::result::Result<Answer, ErrorCode> {
    let found = resp
        .topics
        .iter()
        .filter(|t| t.topic.0.as_str() == tp.topic)
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition == tp.partition);
    let Some(p) = found else {
        return Ok(Answer::Failed);
    };
    if let Some(code) = ErrorCode::from_code(p.error_code) {
        return Err(code);
    }
    Ok(Answer::EndOffset {
        epoch: p.leader_epoch,
        end_offset: p.end_offset,
    })
}

fn request(checks: &[Check]) -> OffsetForLeaderEpochRequest {
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for c in checks {
        let p = OffsetForLeaderPartition::default()
            .with_partition(c.tp.partition)
            .with_current_leader_epoch(c.current_epoch)
            .with_leader_epoch(c.epoch);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == c.tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(c.tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics)
}
