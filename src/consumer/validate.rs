//! KIP-320: after a leader change, a partition's position is checked with OffsetForLeaderEpoch
//! before it is fetched again. If the new leader's log ends, for the epoch of the last record
//! consumed, below the position, records the consumer read were lost (truncated): the position
//! goes back to where the logs diverge, or, with `auto.offset.reset=none`, the caller gets
//! [`Error::LogTruncation`] (as Java's consumer does).

use std::collections::HashMap;

use super::KafkaConsumer;
use super::subscription::PositionSource;
use crate::error::{Error, ErrorCode, Result};
use crate::network::Target;
use crate::network::metadata::Cluster;
use crate::protocol::StrBytes;
use crate::protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::protocol::messages::{BrokerId, OffsetForLeaderEpochRequest, TopicName};
use crate::record::TopicPartition;

/// A partition to validate: its position, the epoch of the record before it, and the leader's
/// current epoch.
struct Check {
    tp: TopicPartition,
    position: i64,
    epoch: i32,
    current_epoch: i32,
}

impl KafkaConsumer {
    /// Marks partitions whose leader epoch went up in `cluster` for validation, and validates
    /// those marked (here or by a fetch error). A failed request leaves them marked: the next
    /// poll tries again.
    ///
    /// Errors: [`Error::LogTruncation`] or [`Error::NoOffsetForPartition`] with
    /// `auto.offset.reset=none`.
    ///
    /// # Cancel safety
    /// Cancel safe: positions change only after the request's answer is in.
    pub(super) async fn validate_positions(&mut self, cluster: &Cluster) -> Result<()> {
        let mut per_node: HashMap<i32, Vec<Check>> = HashMap::new();
        for (tp, s) in self.subs.assignment.iter_mut() {
            let meta = cluster
                .topic(&tp.topic)
                .and_then(|t| t.partition(tp.partition))
                .filter(|p| p.leader_epoch >= 0);
            let Some(meta) = meta else {
                continue;
            };
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
            if s.validating && s.pending.is_none() && cluster.brokers.contains_key(&meta.leader) {
                per_node.entry(meta.leader).or_default().push(Check {
                    tp: tp.clone(),
                    position,
                    epoch,
                    current_epoch: meta.leader_epoch,
                });
            }
        }
        for (node, checks) in per_node {
            let resp = match self.net.send(Target::Node(node), request(&checks)).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(node, error = %e, "OffsetForLeaderEpoch failed; will retry");
                    self.net.request_update();
                    continue;
                }
            };
            for c in checks {
                let found = resp
                    .topics
                    .iter()
                    .filter(|t| t.topic.0.as_str() == c.tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition == c.tp.partition);
                let Some(p) = found else {
                    continue;
                };
                if let Some(code) = ErrorCode::from_code(p.error_code) {
                    tracing::debug!(tp = %c.tp, %code, "position validation failed; will retry");
                    if code.invalidates_metadata() {
                        self.net.request_update();
                    }
                    continue;
                }
                self.complete(&c, p.leader_epoch, p.end_offset)?;
            }
        }
        Ok(())
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
