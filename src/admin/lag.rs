//! A group's lag per partition, as `kafka-consumer-groups --describe` prints it.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::IsolationLevel;
use crate::error::Result;
use crate::types::TopicPartition;

use super::{AdminClient, ConsumerGroupDescription, ListOffsetsOptions, OffsetSpec, PartitionLag};

/// Joins committed offsets, log ends and the group's members into rows sorted by partition.
/// `group` is `None` for a group with no members (or whose description failed).
pub(super) fn lag_rows(
    group: Option<&ConsumerGroupDescription>,
    committed: &BTreeMap<TopicPartition, i64>,
    log_ends: &BTreeMap<TopicPartition, i64>,
) -> Vec<PartitionLag> {
    let mut owner: BTreeMap<&TopicPartition, (&str, &str, &str)> = BTreeMap::new();
    for m in group.map(|g| g.members.as_slice()).unwrap_or_default() {
        for tp in &m.assignment {
            owner.insert(tp, (&m.member_id, &m.host, &m.client_id));
        }
    }
    let partitions: BTreeSet<&TopicPartition> =
        committed.keys().chain(owner.keys().copied()).collect();
    partitions
        .into_iter()
        .map(|tp| {
            let committed = committed.get(tp).copied();
            let log_end_offset = log_ends.get(tp).copied();
            let who = owner.get(tp);
            PartitionLag {
                partition: tp.clone(),
                committed,
                log_end_offset,
                lag: committed.zip(log_end_offset).map(|(c, e)| e - c),
                member_id: who.map(|w| w.0.to_string()),
                host: who.map(|w| w.1.to_string()),
                client_id: who.map(|w| w.2.to_string()),
            }
        })
        .collect()
}

impl AdminClient {
    /// The lag of `group` per partition: every partition it has committed or has assigned
    /// to a member, with the committed offset, the log end offset (the last stable offset
    /// under [`IsolationLevel::ReadCommitted`]), their difference, and the member that owns
    /// the partition. Sorted by topic and partition: the table `kafka-consumer-groups
    /// --describe --group G` prints.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// GROUP_ID_NOT_FOUND for a group that neither exists nor has committed offsets; a log end
    /// that cannot be looked up leaves `log_end_offset` and `lag` `None` in its row.
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn consumer_group_lag(
        &self,
        group: &str,
        isolation_level: IsolationLevel,
    ) -> Result<Vec<PartitionLag>> {
        let description = self.describe_group(group).await?;
        let committed: BTreeMap<TopicPartition, i64> = self
            .list_consumer_group_offsets(group, None)
            .await?
            .into_iter()
            .map(|(tp, o)| (tp, o.offset))
            .collect();
        let mut wanted: BTreeSet<TopicPartition> = committed.keys().cloned().collect();
        for m in &description.members {
            wanted.extend(m.assignment.iter().cloned());
        }
        let ends = self
            .list_offsets_with(
                wanted.into_iter().map(|tp| (tp, OffsetSpec::Latest)),
                ListOffsetsOptions { isolation_level },
            )
            .await?;
        let log_ends: BTreeMap<TopicPartition, i64> = ends
            .into_iter()
            .filter_map(|(tp, r)| Some((tp, r.ok()?.offset)))
            .collect();
        Ok(lag_rows(Some(&description), &committed, &log_ends))
    }
}

#[cfg(test)]
#[path = "lag_tests.rs"]
mod tests;
