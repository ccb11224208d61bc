//! One join of the group (JoinGroup, then SyncGroup), run as a task of its own: the broker
//! holds JoinGroup until every member has rejoined (up to the rebalance timeout), longer than
//! a `poll` may wait, so the join goes on across polls (KIP-266) and the poll that finds it
//! finished takes its result.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::{
    GroupShared, ILLEGAL_GENERATION, MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID, group_by_topic,
    is_coordinator_error, join_retriable, millis,
};
use crate::config::Assignor;
use crate::consumer::assignor;
use crate::error::{Error, Result};
use crate::protocol::StrBytes;
use crate::protocol::consumer_protocol::{
    Assignment, PROTOCOL_TYPE, SUBSCRIPTION_MAX_VERSION, Subscription,
};
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{GroupId, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest};
use crate::record::TopicPartition;

/// Added to the rebalance timeout for JoinGroup/SyncGroup (Java's JOIN_GROUP_TIMEOUT_LAPSE).
const JOIN_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// What a finished join/sync hands back.
pub(crate) struct Joined {
    pub assignment: Vec<TopicPartition>,
    /// Whether the group runs the cooperative protocol (KIP-429).
    pub cooperative: bool,
    pub generation: i32,
    /// The subscription this member joined with: the partition counts a later poll compares
    /// are taken for it, so a subscription changed while the join ran brings another join.
    pub topics: BTreeSet<String>,
}

/// Marks a JoinGroup in flight ([`GroupState::joining`](super::GroupState::joining)) until
/// dropped: when its answer has been taken in, or when the join fails or its task is aborted.
struct JoinInFlight<'a>(&'a GroupShared);

impl<'a> JoinInFlight<'a> {
    fn start(shared: &'a GroupShared) -> Self {
        let mut st = shared.state();
        st.joining = true;
        st.joins += 1;
        JoinInFlight(shared)
    }
}

impl Drop for JoinInFlight<'_> {
    fn drop(&mut self) {
        self.0.state().joining = false;
    }
}

/// Everything one join needs, owned, so it can run on a task of its own.
pub(crate) struct JoinPlan {
    pub shared: Arc<GroupShared>,
    pub assignors: Vec<Assignor>,
    pub rebalance_timeout: Duration,
    pub rack: Option<String>,
    /// What the last completed generation gave this member (sticky assignors carry it in
    /// their subscription user data).
    pub last_assignment: Vec<(String, i32)>,
    pub last_generation: i32,
    pub topics: BTreeSet<String>,
    /// The partitions this member keeps (cooperative protocol; empty for eager).
    pub owned: Vec<TopicPartition>,
}

impl JoinPlan {
    /// Joins the group and syncs, retrying retriable failures until `deadline`, then wakes a
    /// waiting `poll` to take the result.
    pub(crate) async fn run(self, deadline: Instant) -> Result<Joined> {
        let result = self.join(deadline).await;
        // A permit, not just a wake-up: the poll may be between looks right now.
        self.shared.wake.notify_one();
        result
    }

    async fn join(&self, deadline: Instant) -> Result<Joined> {
        let mut attempt = 0u32;
        loop {
            let err = match self.join_once().await {
                Ok(j) => {
                    // Later looks at partition counts compare against a snapshot taken now.
                    if let Err(e) = self.shared.net.refresh().await {
                        tracing::debug!(error = %e, "metadata refresh after join failed");
                    }
                    return Ok(j);
                }
                Err(e) => e,
            };
            let code = err.code().map(|c| c.0);
            if !join_retriable(&err) {
                return Err(err);
            }
            if code.is_some_and(is_coordinator_error) || code.is_none() {
                self.shared.mark_coordinator_unknown();
            }
            attempt += 1;
            let wait = if code == Some(MEMBER_ID_REQUIRED) {
                Duration::ZERO
            } else {
                self.shared.net.retry_backoff(attempt)
            };
            if Instant::now() + wait >= deadline {
                return Err(err);
            }
            tracing::debug!(group = %self.shared.group_id, error = %err, "join retry");
            tokio::time::sleep(wait).await;
        }
    }

    async fn join_once(&self) -> Result<Joined> {
        let shared = &self.shared;
        let node = shared.coordinator().await?;
        let conn = shared.net.coordinator_connection(&node).await?;
        let join_version = conn.version_for::<JoinGroupRequest>()?;
        let (member_id, generation) = {
            let st = shared.state();
            (st.member_id.clone(), st.generation)
        };
        let owned_partitions = group_by_topic(&self.owned);
        let protocols: Vec<JoinGroupRequestProtocol> = self
            .assignors
            .iter()
            .map(|a| {
                let metadata = Subscription {
                    topics: self.topics.iter().cloned().collect(),
                    user_data: a
                        .subscription_user_data(&self.last_assignment, self.last_generation),
                    owned_partitions: owned_partitions.clone(),
                    generation_id: generation,
                    rack_id: self.rack.clone(),
                }
                .encode(SUBSCRIPTION_MAX_VERSION);
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str(a.as_str()))
                    .with_metadata(metadata)
            })
            .collect();
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
            .with_session_timeout_ms(millis(shared.session_timeout))
            .with_rebalance_timeout_ms(millis(self.rebalance_timeout))
            .with_member_id(StrBytes::from_string(member_id))
            .with_group_instance_id(
                shared
                    .instance_id
                    .clone()
                    .filter(|_| join_version >= 5)
                    .map(StrBytes::from_string),
            )
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(protocols);
        // The broker holds JoinGroup until every member joined, up to the rebalance timeout;
        // give it that plus a margin, as Java's client does, so the answer is not cut off.
        let join_timeout =
            (self.rebalance_timeout + JOIN_TIMEOUT_MARGIN).max(shared.net.request_timeout());
        let joining = JoinInFlight::start(shared);
        let resp: JoinGroupResponse = conn.send_at(req, join_version, Some(join_timeout)).await?;
        match resp.error_code {
            0 => {}
            MEMBER_ID_REQUIRED => {
                shared.state().member_id = resp.member_id.to_string();
                return Err(Error::broker(MEMBER_ID_REQUIRED, "JoinGroup"));
            }
            UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION => {
                let mut st = shared.state();
                st.member_id.clear();
                st.generation = -1;
                return Err(Error::broker(resp.error_code, "JoinGroup"));
            }
            code => {
                return Err(Error::broker(
                    code,
                    format!("JoinGroup {}", shared.group_id),
                ));
            }
        }
        let member_id = resp.member_id.to_string();
        let protocol = resp
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| {
                self.assignors
                    .first()
                    .map_or("range", |a| a.as_str())
                    .into()
            });
        {
            let mut st = shared.state();
            st.member_id = member_id.clone();
            st.generation = resp.generation_id;
            st.protocol = Some(protocol.clone());
        }
        drop(joining);
        let cooperative = protocol
            .parse::<Assignor>()
            .is_ok_and(|a| a.is_cooperative());
        let assignments = if resp.leader.as_str() == member_id && !resp.skip_assignment {
            self.assign(&protocol, &resp).await?
        } else {
            Vec::new()
        };
        let sync_version = conn.version_for::<SyncGroupRequest>()?;
        let sync = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
            .with_generation_id(resp.generation_id)
            .with_member_id(StrBytes::from_string(member_id))
            .with_group_instance_id(
                shared
                    .instance_id
                    .clone()
                    .filter(|_| sync_version >= 3)
                    .map(StrBytes::from_string),
            )
            .with_protocol_type(
                Some(StrBytes::from_static_str("consumer")).filter(|_| sync_version >= 5),
            )
            .with_protocol_name(
                Some(StrBytes::from_string(protocol.clone())).filter(|_| sync_version >= 5),
            )
            .with_assignments(assignments);
        let sync_resp = conn.send_at(sync, sync_version, Some(join_timeout)).await?;
        if sync_resp.error_code != 0 {
            if matches!(sync_resp.error_code, UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION) {
                let mut st = shared.state();
                st.member_id.clear();
                st.generation = -1;
            }
            return Err(Error::broker(
                sync_resp.error_code,
                format!("SyncGroup {}", shared.group_id),
            ));
        }
        let assignment = if sync_resp.assignment.is_empty() {
            Vec::new()
        } else {
            Assignment::decode(sync_resp.assignment)?
                .partitions
                .into_iter()
                .flat_map(|t| {
                    let topic = t.topic;
                    t.partitions
                        .into_iter()
                        .map(move |p| TopicPartition::new(topic.clone(), p))
                })
                .collect()
        };
        shared.state().stable = true;
        shared.rejoin.store(false, Ordering::Release);
        tracing::info!(group = %shared.group_id, generation = resp.generation_id,
            partitions = assignment.len(), %protocol, "joined group");
        Ok(Joined {
            assignment,
            cooperative,
            generation: resp.generation_id,
            topics: self.topics.clone(),
        })
    }

    /// The leader's job: run the chosen assignor over every member's subscription.
    async fn assign(
        &self,
        protocol: &str,
        resp: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let strategy = protocol
            .parse::<Assignor>()
            .map_err(|_| Error::Protocol(format!("group chose unknown assignor {protocol}")))?;
        let mut members = Vec::with_capacity(resp.members.len());
        let mut all_topics = BTreeSet::new();
        for m in &resp.members {
            let sub = Subscription::decode(m.metadata.clone())?;
            all_topics.extend(sub.topics.iter().cloned());
            members.push(assignor::MemberSubscription::from_subscription(
                strategy,
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
                &sub,
            ));
        }
        let net = &self.shared.net;
        net.add_topics(&all_topics.iter().cloned().collect::<Vec<_>>());
        let cluster = net.refresh().await?;
        let counts: BTreeMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| {
                let meta = cluster.topic(t)?;
                (meta.error.is_none() && !meta.partitions.is_empty())
                    .then(|| (t.clone(), meta.partitions.len() as i32))
            })
            .collect();
        let plan = assignor::assign(strategy, &members, &counts);
        Ok(plan
            .into_iter()
            .map(|(member, parts)| {
                let owned: Vec<TopicPartition> = parts
                    .into_iter()
                    .map(|(t, p)| TopicPartition::new(t, p))
                    .collect();
                let bytes: Bytes = Assignment {
                    partitions: group_by_topic(&owned),
                    user_data: None,
                }
                .encode(1);
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member))
                    .with_assignment(bytes)
            })
            .collect())
    }
}
