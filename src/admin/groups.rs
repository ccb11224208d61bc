//! Consumer groups: FindCoordinator, ListGroups, DescribeGroups, DeleteGroups, LeaveGroup.
//!
//! Group requests go to the group's coordinator, looked up afresh on every attempt: a
//! NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS answer is retried
//! (with backoff, inside `default.api.timeout.ms`) against whichever broker coordinates then.

use std::collections::BTreeMap;

use crate::error::code::{
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, GROUP_ID_NOT_FOUND, NOT_COORDINATOR,
};
use crate::error::{Error, Result};
use crate::network::Target;
use crate::network::coordinator::CoordinatorType;
use crate::protocol::consumer_protocol::{Assignment, TopicPartitions};
use crate::protocol::messages::describe_groups_response::DescribedGroup;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::{
    ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest, GroupId,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
};
use crate::protocol::{Request, StrBytes};
use crate::types::{Node, TopicPartition};

use super::{
    AdminClient, ConsumerGroupDescription, GroupListing, ListGroupsOptions, MemberDescription,
    MemberToRemove, item_error,
};

pub(super) fn group_id(g: &str) -> GroupId {
    GroupId(StrBytes::from_string(g.to_string()))
}

/// Whether a group-level code means "ask the coordinator again" (it moved or is loading).
pub(super) fn coordinator_retry(code: i16) -> bool {
    matches!(
        code,
        NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS
    )
}

pub(super) fn describe_result(
    g: &DescribedGroup,
    coordinator: &Node,
) -> Result<ConsumerGroupDescription> {
    let what = format!("group {}", g.group_id.0);
    item_error(g.error_code, g.error_message.as_ref(), &what)?;
    // Brokers before DescribeGroups v6 report a group that does not exist as Dead and empty.
    if g.group_state.as_str() == "Dead" && g.members.is_empty() && g.protocol_type.is_empty() {
        return Err(Error::broker(
            GROUP_ID_NOT_FOUND,
            format!("{what}: the group does not exist"),
        ));
    }
    let consumer = g.protocol_type.as_str() == "consumer";
    let members = g
        .members
        .iter()
        .map(|m| {
            let assignment = if consumer && !m.member_assignment.is_empty() {
                let a = Assignment::decode(m.member_assignment.clone())
                    .map_err(|e| Error::Protocol(format!("{what}, member {}: {e}", m.member_id)))?;
                let mut tps: Vec<TopicPartition> = TopicPartitions::flatten(&a.partitions)
                    .into_iter()
                    .map(|(t, p)| TopicPartition::new(t, p))
                    .collect();
                tps.sort();
                tps
            } else {
                Vec::new()
            };
            Ok(MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ConsumerGroupDescription {
        group_id: g.group_id.0.to_string(),
        is_simple: g.protocol_type.is_empty(),
        protocol_type: g.protocol_type.to_string(),
        partition_assignor: g.protocol_data.to_string(),
        state: g.group_state.to_string(),
        members,
        coordinator: coordinator.clone(),
    })
}

pub(super) fn kip848_result(
    g: &crate::protocol::messages::consumer_group_describe_response::DescribedGroup,
    coordinator: &Node,
) -> Result<ConsumerGroupDescription> {
    item_error(
        g.error_code,
        g.error_message.as_ref(),
        &format!("group {}", g.group_id.0),
    )?;
    Ok(ConsumerGroupDescription {
        group_id: g.group_id.0.to_string(),
        is_simple: false,
        protocol_type: "consumer".into(),
        partition_assignor: g.assignor_name.to_string(),
        // KIP-848 spells states in lower case (`stable`); Java's GroupState prints them as the
        // classic ones (`Stable`).
        state: capitalized(g.group_state.as_str()),
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
                MemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.instance_id.as_ref().map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment,
                }
            })
            .collect(),
        coordinator: coordinator.clone(),
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn listings(resp: &ListGroupsResponse, version: i16) -> Result<Vec<GroupListing>> {
    item_error(resp.error_code, None, "ListGroups")?;
    Ok(resp
        .groups
        .iter()
        .map(|g| GroupListing {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            state: (version >= 4).then(|| g.group_state.to_string()),
            group_type: (version >= 5).then(|| g.group_type.to_string()),
        })
        .collect())
}

pub(super) fn leave_results(
    members: &[MemberToRemove],
    resp: &LeaveGroupResponse,
    group: &str,
) -> Result<BTreeMap<MemberToRemove, Result<()>>> {
    item_error(resp.error_code, None, &format!("group {group}"))?;
    Ok(members
        .iter()
        .map(|m| {
            let found = resp.members.iter().find(|r| match m {
                MemberToRemove::Static(id) => r
                    .group_instance_id
                    .as_ref()
                    .is_some_and(|x| x.as_str() == id),
                // Matched on member id alone: the codec's default instance id is not null.
                MemberToRemove::Dynamic(id) => r.member_id.as_str() == id,
            });
            let outcome = match found {
                None => Err(Error::Protocol(format!(
                    "LeaveGroup response has no entry for {m:?}"
                ))),
                Some(r) => item_error(r.error_code, None, &format!("group {group}, {m:?}")),
            };
            (m.clone(), outcome)
        })
        .collect())
}

impl AdminClient {
    /// The coordinator of `group` (FindCoordinator, key type 0).
    pub(super) async fn find_coordinator(&self, group: &str) -> Result<Node> {
        self.net
            .find_coordinator(CoordinatorType::Group, group)
            .await
    }

    /// Sends a request built by `build` (given the version) to `group`'s coordinator, retrying
    /// coordinator moves and retriable failures inside `default.api.timeout.ms`. `code` reads
    /// the response's group-level error code. Returns the coordinator and the response.
    pub(super) async fn on_coordinator<R: Request>(
        &self,
        group: &str,
        build: impl Fn(i16) -> R,
        code: impl Fn(&R::Response) -> i16,
    ) -> Result<(Node, R::Response)> {
        self.retrying(|| async {
            let node = self.find_coordinator(group).await?;
            let conn = self.net.coordinator_connection(&node).await?;
            let version = conn.version_for::<R>()?;
            let resp = conn.send_at(build(version), version, None).await?;
            let c = code(&resp);
            if coordinator_retry(c) {
                return Err(Error::broker(c, format!("group {group}")));
            }
            Ok((node, resp))
        })
        .await
    }

    /// Lists every group of the cluster (asks every broker: each coordinates some groups).
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        self.list_groups_with(ListGroupsOptions::default()).await
    }

    /// Lists groups in the given states and of the given types (`kafka-consumer-groups --list
    /// --state S --type T`), sorted by group id.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when a filter is given and a broker is too old for it (states
    /// need ListGroups v4, types v5).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_groups_with(&self, options: ListGroupsOptions) -> Result<Vec<GroupListing>> {
        let cluster = self.fetch_cluster(Some(&[])).await?;
        let mut out: Vec<GroupListing> = Vec::new();
        for id in cluster.brokers.keys() {
            let (resp, version) = self
                .retrying(|| async {
                    let conn = self.net.connection(Target::Node(*id)).await?;
                    let version = conn.version_for::<ListGroupsRequest>()?;
                    if (!options.states.is_empty() && version < 4)
                        || (!options.types.is_empty() && version < 5)
                    {
                        return Err(Error::InvalidArgument(format!(
                            "broker {id} speaks ListGroups v{version}: too old for state (v4) or \
                             type (v5) filters"
                        )));
                    }
                    let mut req = ListGroupsRequest::default();
                    if version >= 4 {
                        req = req.with_states_filter(
                            options
                                .states
                                .iter()
                                .map(|s| StrBytes::from_string(s.clone()))
                                .collect(),
                        );
                    }
                    if version >= 5 {
                        req = req.with_types_filter(
                            options
                                .types
                                .iter()
                                .map(|s| StrBytes::from_string(s.clone()))
                                .collect(),
                        );
                    }
                    let resp = conn.send_at(req, version, None).await?;
                    if coordinator_retry(resp.error_code) {
                        return Err(Error::broker(
                            resp.error_code,
                            format!("ListGroups broker {id}"),
                        ));
                    }
                    Ok((resp, version))
                })
                .await?;
            out.extend(listings(&resp, version)?);
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// Describes classic consumer groups: state, assignor, members with their client id, host
    /// and assigned partitions. A group that does not exist gets GROUP_ID_NOT_FOUND in its
    /// own entry.
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_consumer_groups<S: AsRef<str>>(
        &self,
        groups: &[S],
    ) -> Result<BTreeMap<String, Result<ConsumerGroupDescription>>> {
        let mut out = BTreeMap::new();
        for g in groups {
            let g = g.as_ref();
            out.insert(g.to_string(), self.describe_group(g).await);
        }
        Ok(out)
    }

    pub(super) async fn describe_group(&self, group: &str) -> Result<ConsumerGroupDescription> {
        match self.describe_classic_group(group).await {
            // A KIP-848 group is "not a classic group" to DescribeGroups.
            Err(e) if e.code().is_some_and(|c| c.0 == GROUP_ID_NOT_FOUND) => {
                match self.describe_kip848_group(group).await {
                    Ok(Some(d)) => Ok(d),
                    Ok(None) => Err(e),
                    Err(e2) if e2.code().is_some_and(|c| c.0 == GROUP_ID_NOT_FOUND) => Err(e),
                    Err(e2) => Err(e2),
                }
            }
            other => other,
        }
    }

    /// ConsumerGroupDescribe (KIP-848); `None` when the broker does not speak it.
    async fn describe_kip848_group(&self, group: &str) -> Result<Option<ConsumerGroupDescription>> {
        let conn = self.retrying(|| self.net.connection(Target::Any)).await?;
        if conn
            .versions()
            .range(<ConsumerGroupDescribeRequest as Request>::KEY)
            .is_none()
        {
            return Ok(None);
        }
        let (node, resp) = self
            .on_coordinator(
                group,
                |_| ConsumerGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]),
                |r| r.groups.first().map_or(0, |g| g.error_code),
            )
            .await?;
        let g = resp
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| {
                Error::Protocol(format!("ConsumerGroupDescribe has no entry for {group}"))
            })?;
        kip848_result(g, &node).map(Some)
    }

    async fn describe_classic_group(&self, group: &str) -> Result<ConsumerGroupDescription> {
        let (node, resp) = self
            .on_coordinator(
                group,
                |_| DescribeGroupsRequest::default().with_groups(vec![group_id(group)]),
                |r| r.groups.first().map_or(0, |g| g.error_code),
            )
            .await?;
        let g = resp
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| Error::Protocol(format!("DescribeGroups has no entry for {group}")))?;
        describe_result(g, &node)
    }

    /// Deletes groups (they must be empty: NON_EMPTY_GROUP otherwise), with their committed
    /// offsets. One entry per group (GROUP_ID_NOT_FOUND for a group that does not exist).
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the coordinator may delete a group whose request's future
    /// was dropped.
    pub async fn delete_consumer_groups<S: AsRef<str>>(
        &self,
        groups: &[S],
    ) -> Result<BTreeMap<String, Result<()>>> {
        let mut out = BTreeMap::new();
        for g in groups {
            let g = g.as_ref();
            let outcome = self
                .on_coordinator(
                    g,
                    |_| DeleteGroupsRequest::default().with_groups_names(vec![group_id(g)]),
                    |r| r.results.first().map_or(0, |x| x.error_code),
                )
                .await
                .and_then(|(_, resp)| match resp.results.first() {
                    Some(r) => item_error(r.error_code, None, &format!("group {g}")),
                    None => Err(Error::Protocol(format!(
                        "DeleteGroups has no entry for {g}"
                    ))),
                });
            out.insert(g.to_string(), outcome);
        }
        Ok(out)
    }

    /// Removes members from a group (LeaveGroup v3+, KIP-345): static members by
    /// `group.instance.id`, dynamic ones by member id. An empty `members` removes every
    /// current member (as Java's `removeMembersFromConsumerGroup` with no members). One entry
    /// per member (UNKNOWN_MEMBER_ID for one that is not in the group).
    ///
    /// Example: [admin guide](crate::guide::admin#groups-committed-offsets-and-lag).
    ///
    /// # Errors
    /// The outer `Result` fails for a group-level error (GROUP_ID_NOT_FOUND, ...) or a broker
    /// older than LeaveGroup v3.
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: members may be removed by a request whose future was dropped.
    pub async fn remove_members_from_consumer_group(
        &self,
        group: &str,
        members: &[MemberToRemove],
    ) -> Result<BTreeMap<MemberToRemove, Result<()>>> {
        let members: Vec<MemberToRemove> = if members.is_empty() {
            self.describe_group(group)
                .await?
                .members
                .into_iter()
                .map(|m| match m.group_instance_id {
                    Some(id) => MemberToRemove::Static(id),
                    None => MemberToRemove::Dynamic(m.member_id),
                })
                .collect()
        } else {
            members.to_vec()
        };
        if members.is_empty() {
            return Ok(BTreeMap::new());
        }
        let (_, resp) = self
            .on_coordinator(
                group,
                |_| {
                    LeaveGroupRequest::default()
                        .with_group_id(group_id(group))
                        .with_members(
                            members
                                .iter()
                                .map(|m| match m {
                                    MemberToRemove::Static(id) => MemberIdentity::default()
                                        .with_member_id(StrBytes::from_static_str(""))
                                        .with_group_instance_id(Some(StrBytes::from_string(
                                            id.clone(),
                                        ))),
                                    MemberToRemove::Dynamic(id) => MemberIdentity::default()
                                        .with_member_id(StrBytes::from_string(id.clone())),
                                })
                                .collect(),
                        )
                },
                |r| r.error_code,
            )
            .await?;
        leave_results(&members, &resp, group)
    }
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
