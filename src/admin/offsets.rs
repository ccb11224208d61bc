//! Offsets: a group's committed offsets (OffsetFetch, OffsetCommit, OffsetDelete) and the
//! partitions' own offsets (ListOffsets: earliest, latest, max timestamp, by time).

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::config::IsolationLevel;
use crate::consumer::OffsetAndMetadata;
use crate::consumer::offsets::list_offsets as list_partition_offsets;
use crate::error::code::UNKNOWN_TOPIC_OR_PARTITION;
use crate::error::{Error, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use crate::protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use crate::types::TopicPartition;

use super::groups::group_id;
use super::{AdminClient, ListOffsetsOptions, ListOffsetsResultInfo, OffsetSpec, item_error};

type PerPartition<T> = BTreeMap<TopicPartition, Result<T>>;

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

pub(super) fn fetch_request(
    group: &str,
    partitions: Option<&[TopicPartition]>,
    version: i16,
) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(partitions.map(|ps| {
            super::by_topic(ps)
                .into_iter()
                .map(|(t, parts)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(parts)
                })
                .collect()
        }))
        .with_require_stable(version >= 7)
}

/// The committed offsets in an OffsetFetch response; partitions with nothing committed are
/// left out. A partition error fails the whole answer (as Java's admin does).
pub(super) fn fetch_results(
    group: &str,
    resp: &OffsetFetchResponse,
) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
    item_error(resp.error_code, None, &format!("group {group}"))?;
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
            item_error(p.error_code, None, &format!("group {group}, {tp}"))?;
            if p.committed_offset >= 0 {
                out.insert(
                    tp,
                    OffsetAndMetadata {
                        offset: p.committed_offset,
                        leader_epoch: (p.committed_leader_epoch >= 0)
                            .then_some(p.committed_leader_epoch),
                        metadata: p
                            .metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    },
                );
            }
        }
    }
    Ok(out)
}

pub(super) fn commit_request(
    group: &str,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        topics.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(om.offset)
                .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(StrBytes::from_string(om.metadata.clone()))),
        );
    }
    // Generation -1 and no member id: an admin commit, accepted only while the group is empty.
    OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(
            topics
                .into_iter()
                .map(|(t, parts)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(parts)
                })
                .collect(),
        )
}

/// One entry per requested partition.
pub(super) fn commit_results(
    group: &str,
    requested: &[TopicPartition],
    resp: &OffsetCommitResponse,
) -> PerPartition<()> {
    requested
        .iter()
        .map(|tp| {
            let found = resp
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let outcome = match found {
                None => Err(Error::Protocol(format!("OffsetCommit response lacks {tp}"))),
                Some(p) => item_error(p.error_code, None, &format!("group {group}, {tp}")),
            };
            (tp.clone(), outcome)
        })
        .collect()
}

pub(super) fn delete_request(group: &str, partitions: &[TopicPartition]) -> OffsetDeleteRequest {
    OffsetDeleteRequest::default()
        .with_group_id(group_id(group))
        .with_topics(
            super::by_topic(partitions)
                .into_iter()
                .map(|(t, parts)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
}

pub(super) fn delete_results(
    group: &str,
    requested: &[TopicPartition],
    resp: &OffsetDeleteResponse,
) -> Result<PerPartition<()>> {
    item_error(resp.error_code, None, &format!("group {group}"))?;
    Ok(requested
        .iter()
        .map(|tp| {
            let found = resp
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let outcome = match found {
                None => Err(Error::Protocol(format!("OffsetDelete response lacks {tp}"))),
                Some(p) => item_error(p.error_code, None, &format!("group {group}, {tp}")),
            };
            (tp.clone(), outcome)
        })
        .collect())
}

impl AdminClient {
    /// The committed offsets of `group`: for `partitions`, or every partition it has committed
    /// (`None`). Partitions with nothing committed are absent from the map.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// GROUP_ID_NOT_FOUND and other group-level errors, or a partition's error, fail the call.
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_consumer_group_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let (_, resp) = self
            .on_coordinator(
                group,
                |v| fetch_request(group, partitions, v),
                |r| r.error_code,
            )
            .await?;
        fetch_results(group, &resp)
    }

    /// Commits `offsets` for `group` as an administrator (`kafka-consumer-groups
    /// --reset-offsets --execute`). The group must have no active members: a live group
    /// answers UNKNOWN_MEMBER_ID for every partition. One entry per partition.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the commit may land after the future was dropped.
    pub async fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<PerPartition<()>> {
        let requested: Vec<TopicPartition> = offsets.keys().cloned().collect();
        let (_, resp) = self
            .on_coordinator(
                group,
                |_| commit_request(group, &offsets),
                |r| {
                    // Coordinator moves come back per partition in OffsetCommit.
                    r.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter())
                        .map(|p| p.error_code)
                        .find(|c| super::groups::coordinator_retry(*c))
                        .unwrap_or(0)
                },
            )
            .await?;
        Ok(commit_results(group, &requested, &resp))
    }

    /// Deletes `group`'s committed offsets of `partitions` (OffsetDelete, KIP-496). A partition
    /// the group still consumes fails with GROUP_SUBSCRIBED_TO_TOPIC in its entry.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// Group-level errors (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP...) fail the call.
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: offsets may be deleted after the future was dropped.
    pub async fn delete_consumer_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<PerPartition<()>> {
        let (_, resp) = self
            .on_coordinator(
                group,
                |_| delete_request(group, partitions),
                |r| r.error_code,
            )
            .await?;
        delete_results(group, partitions, &resp)
    }

    /// Looks offsets up in partitions' logs (read_uncommitted). See
    /// [`list_offsets_with`](Self::list_offsets_with).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_offsets(
        &self,
        partitions: impl IntoIterator<Item = (TopicPartition, OffsetSpec)>,
    ) -> Result<PerPartition<ListOffsetsResultInfo>> {
        self.list_offsets_with(partitions, ListOffsetsOptions::default())
            .await
    }

    /// Looks offsets up in partitions' logs, each asked of its leader: the log start, the log
    /// end (the last stable offset with read_committed), the record with the largest
    /// timestamp, or the first record at or after a time. One entry per partition; a
    /// partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION, a time after every
    /// record gives offset -1. Leader moves are retried inside `default.api.timeout.ms`.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_offsets_with(
        &self,
        partitions: impl IntoIterator<Item = (TopicPartition, OffsetSpec)>,
        options: ListOffsetsOptions,
    ) -> Result<PerPartition<ListOffsetsResultInfo>> {
        let mut pending: Vec<(TopicPartition, i64)> = partitions
            .into_iter()
            .map(|(tp, spec)| (tp, spec.wire()))
            .collect();
        let read_committed = options.isolation_level == IsolationLevel::ReadCommitted;
        let deadline = Instant::now() + self.api_timeout;
        let mut out = BTreeMap::new();
        let mut attempt = 0;
        while !pending.is_empty() {
            let topics: Vec<String> = pending.iter().map(|(tp, _)| tp.topic.clone()).collect();
            let cluster = self.fetch_cluster(Some(&topics)).await?;
            // Partitions the metadata does not know cannot be asked of any leader.
            pending.retain(|(tp, _)| {
                let known = cluster
                    .topic(&tp.topic)
                    .filter(|t| t.error.is_none())
                    .is_some_and(|t| t.partitions.iter().any(|p| p.id == tp.partition));
                if !known {
                    out.insert(
                        tp.clone(),
                        Err(Error::broker(
                            UNKNOWN_TOPIC_OR_PARTITION,
                            format!("ListOffsets {tp}"),
                        )),
                    );
                }
                known
            });
            let found = list_partition_offsets(&self.net, &pending, read_committed).await?;
            attempt += 1;
            let wait = self.net.retry_backoff(attempt);
            let last_round = Instant::now() + wait >= deadline;
            let mut retry = Vec::new();
            for (tp, ts) in pending.drain(..) {
                match found.get(&tp) {
                    Some(Err(e)) if e.is_retriable() && !last_round => retry.push((tp, ts)),
                    Some(Err(e)) => {
                        out.insert(tp, Err(e.clone()));
                    }
                    Some(Ok(r)) => {
                        let info = r.map_or(
                            ListOffsetsResultInfo {
                                offset: -1,
                                timestamp: -1,
                                leader_epoch: None,
                            },
                            |r| ListOffsetsResultInfo {
                                offset: r.offset,
                                timestamp: r.timestamp,
                                leader_epoch: r.leader_epoch,
                            },
                        );
                        out.insert(tp, Ok(info));
                    }
                    None => {
                        let e = Error::Protocol(format!("ListOffsets gave no answer for {tp}"));
                        out.insert(tp, Err(e));
                    }
                }
            }
            if !retry.is_empty() {
                self.net.request_update();
                tokio::time::sleep(wait).await;
            }
            pending = retry;
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "offsets_tests.rs"]
mod tests;
