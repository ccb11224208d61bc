//! Share groups (KIP-932): ShareGroupDescribe, DescribeShareGroupOffsets,
//! AlterShareGroupOffsets, and DeleteGroups for share groups. Every request goes to the group's
//! coordinator, retried as the consumer group requests are (see `groups.rs`).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use crate::protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use crate::protocol::messages::share_group_describe_response::DescribedGroup;
use crate::protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse,
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, ShareGroupDescribeRequest,
    TopicName,
};
use crate::types::TopicPartition;

use super::groups::group_id;
use super::{AdminClient, item_error};

/// A share group as [`AdminClient::describe_share_groups`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareGroupDescription {
    /// Group id.
    pub group_id: String,
    /// `Empty`, `Stable` or `Dead`.
    pub state: String,
    /// The group epoch.
    pub group_epoch: i32,
    /// The assignor, e.g. `simple`.
    pub assignor: String,
    /// The members, in the coordinator's order.
    pub members: Vec<ShareMemberDescription>,
}

/// A member of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareMemberDescription {
    /// Member id (chosen by the member).
    pub member_id: String,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub host: String,
    /// The member's epoch.
    pub member_epoch: i32,
    /// Subscribed topics.
    pub subscribed_topics: Vec<String>,
    /// Assigned partitions, sorted (other members may be assigned the same ones).
    pub assignment: Vec<TopicPartition>,
}

fn description(g: &DescribedGroup) -> Result<ShareGroupDescription> {
    let name = g.group_id.0.to_string();
    item_error(
        g.error_code,
        g.error_message.as_ref(),
        &format!("share group {name}"),
    )?;
    Ok(ShareGroupDescription {
        group_id: name,
        state: g.group_state.to_string(),
        group_epoch: g.group_epoch,
        assignor: g.assignor_name.to_string(),
        members: g
            .members
            .iter()
            .map(|m| {
                let mut assignment: Vec<TopicPartition> = m
                    .assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| TopicPartition::new(t.topic_name.0.to_string(), *p))
                    })
                    .collect();
                assignment.sort();
                ShareMemberDescription {
                    member_id: m.member_id.to_string(),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    member_epoch: m.member_epoch,
                    subscribed_topics: m
                        .subscribed_topic_names
                        .iter()
                        .map(|t| t.0.to_string())
                        .collect(),
                    assignment,
                }
            })
            .collect(),
    })
}

/// The start offset of each partition (`None`: the group has no state for it yet).
fn start_offsets(
    resp: &DescribeShareGroupOffsetsResponse,
    group: &str,
) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
    let g = resp
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .ok_or_else(|| {
            Error::Protocol(format!(
                "DescribeShareGroupOffsets has no entry for {group}"
            ))
        })?;
    item_error(
        g.error_code,
        g.error_message.as_ref(),
        &format!("share group {group}"),
    )?;
    let mut out = BTreeMap::new();
    for t in &g.topics {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.topic_name.0.to_string(), p.partition_index);
            item_error(p.error_code, p.error_message.as_ref(), &tp.to_string())?;
            out.insert(tp, (p.start_offset >= 0).then_some(p.start_offset));
        }
    }
    Ok(out)
}

fn altered(resp: &AlterShareGroupOffsetsResponse) -> BTreeMap<TopicPartition, Result<()>> {
    resp.responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let tp = TopicPartition::new(t.topic_name.0.to_string(), p.partition_index);
                let r = item_error(p.error_code, p.error_message.as_ref(), &tp.to_string());
                (tp, r)
            })
        })
        .collect()
}

impl AdminClient {
    /// Describes share groups: state, epoch, assignor, members with their assignments. A group
    /// that does not exist (or is not a share group) gets GROUP_ID_NOT_FOUND in its own entry.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_share_groups<S: AsRef<str>>(
        &self,
        groups: &[S],
    ) -> Result<BTreeMap<String, Result<ShareGroupDescription>>> {
        let mut out = BTreeMap::new();
        for g in groups {
            let g = g.as_ref();
            let outcome = self
                .on_coordinator(
                    g,
                    |_| ShareGroupDescribeRequest::default().with_group_ids(vec![group_id(g)]),
                    |r| r.groups.first().map_or(0, |x| x.error_code),
                )
                .await
                .and_then(|(_, resp)| match resp.groups.first() {
                    Some(d) => description(d),
                    None => Err(Error::Protocol(format!(
                        "ShareGroupDescribe has no entry for {g}"
                    ))),
                });
            out.insert(g.to_string(), outcome);
        }
        Ok(out)
    }

    /// The start offset of every partition `group` has state for: records before it are done
    /// (accepted, rejected or archived). `None` for a partition whose state is not set up yet.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// The group's error (GROUP_ID_NOT_FOUND, ...) or the first partition error.
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_share_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let (_, resp) = self
            .on_coordinator(
                group,
                |_| {
                    DescribeShareGroupOffsetsRequest::default().with_groups(vec![
                        DescribeShareGroupOffsetsRequestGroup::default()
                            .with_group_id(group_id(group))
                            .with_topics(None),
                    ])
                },
                |r| r.groups.first().map_or(0, |g| g.error_code),
            )
            .await?;
        start_offsets(&resp, group)
    }

    /// Sets the start offset of partitions of an empty share group (members must be gone:
    /// NON_EMPTY_GROUP otherwise): the group delivers from there. One entry per partition.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// The outer `Result` fails for a group-level error.
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the coordinator may apply a request whose future was dropped.
    pub async fn alter_share_group_offsets(
        &self,
        group: &str,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let mut by_topic: BTreeMap<String, Vec<AlterShareGroupOffsetsRequestPartition>> =
            BTreeMap::new();
        for (tp, offset) in &offsets {
            by_topic.entry(tp.topic.to_string()).or_default().push(
                AlterShareGroupOffsetsRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_start_offset(*offset),
            );
        }
        let topics: Vec<AlterShareGroupOffsetsRequestTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                AlterShareGroupOffsetsRequestTopic::default()
                    .with_topic_name(TopicName(StrBytes::from_string(t)))
                    .with_partitions(ps)
            })
            .collect();
        let (_, resp) = self
            .on_coordinator(
                group,
                |_| {
                    AlterShareGroupOffsetsRequest::default()
                        .with_group_id(group_id(group))
                        .with_topics(topics.clone())
                },
                |r| r.error_code,
            )
            .await?;
        item_error(
            resp.error_code,
            resp.error_message.as_ref(),
            &format!("share group {group}"),
        )?;
        Ok(altered(&resp))
    }

    /// Deletes empty share groups with their state (DeleteGroups, as for consumer groups). One
    /// entry per group (GROUP_ID_NOT_FOUND for one that does not exist, NON_EMPTY_GROUP for
    /// one with members).
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the coordinator may delete a group whose request's future
    /// was dropped.
    pub async fn delete_share_groups<S: AsRef<str>>(
        &self,
        groups: &[S],
    ) -> Result<BTreeMap<String, Result<()>>> {
        self.delete_consumer_groups(groups).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::GroupId;
    use crate::protocol::messages::describe_share_group_offsets_response::{
        DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
        DescribeShareGroupOffsetsResponseTopic,
    };

    fn offsets_answer(
        parts: Vec<(i32, i64, i16)>,
        group_error: i16,
    ) -> DescribeShareGroupOffsetsResponse {
        DescribeShareGroupOffsetsResponse::default().with_groups(vec![
            DescribeShareGroupOffsetsResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_error_code(group_error)
                .with_topics(vec![
                    DescribeShareGroupOffsetsResponseTopic::default()
                        .with_topic_name(TopicName(StrBytes::from_static_str("t")))
                        .with_partitions(
                            parts
                                .into_iter()
                                .map(|(p, o, e)| {
                                    DescribeShareGroupOffsetsResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_start_offset(o)
                                        .with_error_code(e)
                                })
                                .collect(),
                        ),
                ]),
        ])
    }

    #[test]
    fn start_offsets_by_partition_and_errors() {
        let ok =
            start_offsets(&offsets_answer(vec![(0, 10, 0), (1, -1, 0)], 0), "g").expect("offsets");
        assert_eq!(ok[&TopicPartition::new("t", 0)], Some(10));
        assert_eq!(ok[&TopicPartition::new("t", 1)], None);
        let group_err = start_offsets(&offsets_answer(vec![], 69), "g").expect_err("group");
        assert_eq!(group_err.code().map(|c| c.0), Some(69));
        let part_err =
            start_offsets(&offsets_answer(vec![(0, 0, 3)], 0), "g").expect_err("partition");
        assert_eq!(part_err.code().map(|c| c.0), Some(3));
        assert!(matches!(
            start_offsets(&offsets_answer(vec![], 0), "other"),
            Err(Error::Protocol(_))
        ));
    }
}
