//! ConsumerCoordinator: FindCoordinator, JoinGroup/SyncGroup (the classic group protocol),
//! heartbeats, LeaveGroup, and offset commit/fetch.
//!
//! The join/sync state machine runs inside `poll` (so the rebalance listener runs there too);
//! heartbeats run on a background task that flags a needed rejoin and enforces
//! `max.poll.interval.ms`.

mod commit;
mod heartbeat;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::assignor;
use crate::config::{Assignor, ConsumerConfig};
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use crate::network::metadata::Node;
use crate::protocol::StrBytes;
use crate::protocol::consumer_protocol::{
    Assignment, NO_GENERATION, PROTOCOL_TYPE, SUBSCRIPTION_MAX_VERSION, Subscription,
    TopicPartitions,
};
use crate::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{
    GroupId, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
};
use crate::record::TopicPartition;

pub(crate) use commit::{commit_offsets, fetch_committed, issue_commit};

/// Added to the rebalance timeout for JoinGroup/SyncGroup (Java's JOIN_GROUP_TIMEOUT_LAPSE).
const JOIN_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

pub(crate) use crate::error::code::COORDINATOR_LOAD_IN_PROGRESS;
pub(crate) use crate::error::code::COORDINATOR_NOT_AVAILABLE;
pub(crate) use crate::error::code::ILLEGAL_GENERATION;
pub(crate) use crate::error::code::MEMBER_ID_REQUIRED;
pub(crate) use crate::error::code::NOT_COORDINATOR;
pub(crate) use crate::error::code::REBALANCE_IN_PROGRESS;
pub(crate) use crate::error::code::UNKNOWN_MEMBER_ID;

/// Whether a failed join may succeed when tried again (the next `poll` does): Java's poll
/// keeps rejoining through these instead of throwing.
pub(crate) fn join_retriable(err: &Error) -> bool {
    err.is_retriable()
        || matches!(
            err.code().map(|c| c.0),
            Some(
                MEMBER_ID_REQUIRED | UNKNOWN_MEMBER_ID | ILLEGAL_GENERATION | REBALANCE_IN_PROGRESS
            )
        )
}

/// Marks a JoinGroup in flight ([`GroupState::joining`]) until dropped: when its answer has
/// been taken in, or when the join fails or is cancelled.
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

pub(crate) fn is_coordinator_error(code: i16) -> bool {
    matches!(
        code,
        COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
    )
}

/// Group membership as the coordinator knows it.
#[derive(Debug, Clone)]
pub(crate) struct GroupState {
    pub coordinator: Option<Node>,
    pub generation: i32,
    pub member_id: String,
    pub protocol: Option<String>,
    /// Joined and synced, and no rebalance seen since.
    pub stable: bool,
    /// JoinGroup requests sent so far. A heartbeat's error answer speaks only for the
    /// membership it was sent with: once a JoinGroup went out after it, the group may have
    /// moved to a new generation with this member in it.
    pub joins: u64,
    /// A JoinGroup is in flight: no heartbeats meanwhile (as Java's client), since the
    /// coordinator answers one sent for the old generation with ILLEGAL_GENERATION as soon as
    /// the join completes.
    pub joining: bool,
}

/// State shared with the heartbeat task.
pub(crate) struct GroupShared {
    pub net: Arc<NetworkClient>,
    pub group_id: String,
    pub instance_id: Option<String>,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub max_poll_interval: Duration,
    pub state: Mutex<GroupState>,
    /// Set when membership was lost (poll timeout, fenced, unknown member): owned partitions
    /// are then "lost", not revoked, and committing them is pointless.
    pub lost: AtomicBool,
    /// Set when a heartbeat learns of a rebalance, or on poll timeout.
    pub rejoin: AtomicBool,
    /// Wakes a waiting `poll` when a rebalance is needed.
    pub wake: Notify,
    pub last_poll: Mutex<Instant>,
    pub stopped: AtomicBool,
    /// Guards the commit order: which commit was issued last per partition. A commit sends (or
    /// retries) a partition only while it is that partition's latest, and checks this and
    /// queues its request under the lock, so commits reach the coordinator in the order they
    /// were made and a retry never overtakes a later commit.
    pub commit_order: Mutex<CommitOrder>,
}

/// See [`GroupShared::commit_order`].
#[derive(Default)]
pub(crate) struct CommitOrder {
    pub next_ticket: u64,
    pub latest: std::collections::HashMap<TopicPartition, u64>,
}

impl GroupShared {
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn commit_order(&self) -> std::sync::MutexGuard<'_, CommitOrder> {
        self.commit_order.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mark_coordinator_unknown(&self) {
        self.state().coordinator = None;
    }

    /// Finds (or returns the known) group coordinator.
    pub(crate) async fn coordinator(&self) -> Result<Node> {
        if let Some(c) = self.state().coordinator.clone() {
            return Ok(c);
        }
        let group = self.group_id.clone();
        let resp = self
            .net
            .send_fn(crate::network::Target::Any, |version| {
                let req = FindCoordinatorRequest::default().with_key_type(0);
                if version >= 4 {
                    req.with_coordinator_keys(vec![StrBytes::from_string(group.clone())])
                } else {
                    req.with_key(StrBytes::from_string(group.clone()))
                }
            })
            .await?;
        let (code, id, host, port) = match resp.coordinators.first() {
            Some(c) => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
            None => (
                resp.error_code,
                resp.node_id.0,
                resp.host.to_string(),
                resp.port,
            ),
        };
        if code != 0 {
            return Err(Error::broker(
                code,
                format!("FindCoordinator {}", self.group_id),
            ));
        }
        let node = Node {
            id,
            host,
            port: u16::try_from(port)
                .map_err(|_| Error::Protocol(format!("coordinator port {port}")))?,
            rack: None,
        };
        tracing::debug!(group = %self.group_id, coordinator = %node.addr(), "found coordinator");
        self.state().coordinator = Some(node.clone());
        Ok(node)
    }

    /// Sends LeaveGroup (dynamic members only: a static member keeps its place until its
    /// session times out, KIP-345) and forgets the member id.
    pub(crate) async fn leave_group(&self, reason: &str) {
        let (member_id, coordinator) = {
            let mut st = self.state();
            st.stable = false;
            st.generation = -1;
            (std::mem::take(&mut st.member_id), st.coordinator.clone())
        };
        if self.instance_id.is_some() || member_id.is_empty() {
            return;
        }
        let Some(node) = coordinator else { return };
        let Ok(conn) = self.net.coordinator_connection(&node).await else {
            return;
        };
        let Ok(version) = conn.version_for::<LeaveGroupRequest>() else {
            return;
        };
        let group = GroupId(StrBytes::from_string(self.group_id.clone()));
        let req = if version >= 3 {
            use crate::protocol::messages::leave_group_request::MemberIdentity;
            let mut m = MemberIdentity::default().with_member_id(StrBytes::from_string(member_id));
            if version >= 5 {
                m = m.with_reason(Some(StrBytes::from_string(reason.to_string())));
            }
            LeaveGroupRequest::default()
                .with_group_id(group)
                .with_members(vec![m])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(group)
                .with_member_id(StrBytes::from_string(member_id))
        };
        match conn.send_at(req, version, None).await {
            Ok(r) if r.error_code == 0 => {
                tracing::debug!(group = %self.group_id, reason, "left group")
            }
            Ok(r) => tracing::debug!(code = r.error_code, "LeaveGroup failed"),
            Err(e) => tracing::debug!(error = %e, "LeaveGroup failed"),
        }
    }
}

/// The coordinator half owned by the consumer.
pub(crate) struct ConsumerCoordinator {
    pub shared: Arc<GroupShared>,
    assignors: Vec<Assignor>,
    rebalance_timeout: Duration,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    rack: Option<String>,
    /// What the last completed generation gave this member (sticky assignors carry it in
    /// their subscription user data).
    last_assignment: Vec<(String, i32)>,
    last_generation: i32,
}

/// What a finished join/sync hands back.
pub(crate) struct Joined {
    pub assignment: Vec<TopicPartition>,
    /// Whether the group runs the cooperative protocol (KIP-429).
    pub cooperative: bool,
}

impl ConsumerCoordinator {
    pub(crate) fn new(net: Arc<NetworkClient>, group_id: String, cfg: &ConsumerConfig) -> Self {
        ConsumerCoordinator {
            shared: Arc::new(GroupShared {
                net,
                group_id,
                instance_id: cfg.group_instance_id.clone(),
                session_timeout: cfg.session_timeout,
                heartbeat_interval: cfg.heartbeat_interval,
                max_poll_interval: cfg.max_poll_interval,
                state: Mutex::new(GroupState {
                    coordinator: None,
                    generation: -1,
                    member_id: String::new(),
                    protocol: None,
                    stable: false,
                    joins: 0,
                    joining: false,
                }),
                rejoin: AtomicBool::new(true),
                lost: AtomicBool::new(false),
                wake: Notify::new(),
                last_poll: Mutex::new(Instant::now()),
                stopped: AtomicBool::new(false),
                commit_order: Mutex::new(CommitOrder::default()),
            }),
            assignors: cfg.partition_assignment_strategy.clone(),
            rebalance_timeout: cfg.max_poll_interval,
            heartbeat: None,
            rack: Some(cfg.client_rack.clone()).filter(|r| !r.is_empty()),
            last_assignment: Vec::new(),
            last_generation: NO_GENERATION,
        }
    }

    /// Whether the group protocol this member prefers is cooperative (decides whether the
    /// consumer revokes everything before joining).
    pub(crate) fn prefers_cooperative(&self) -> bool {
        let chosen = self.shared.state().protocol.clone();
        match chosen {
            Some(p) => p == Assignor::CooperativeSticky.as_str(),
            None => self
                .assignors
                .iter()
                .all(|a| *a == Assignor::CooperativeSticky),
        }
    }

    pub(crate) fn needs_join(&self) -> bool {
        self.shared.rejoin.load(Ordering::Acquire) || !self.shared.state().stable
    }

    /// Whether membership was lost since the last join (takes the flag).
    pub(crate) fn take_lost(&self) -> bool {
        self.shared.lost.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn request_rejoin(&self) {
        self.shared.rejoin.store(true, Ordering::Release);
    }

    pub(crate) fn record_poll(&self) {
        *self
            .shared
            .last_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn ensure_heartbeat(&mut self) {
        if self.heartbeat.is_none() {
            self.heartbeat = Some(tokio::spawn(heartbeat::run(self.shared.clone())));
        }
    }

    /// Joins the group and syncs, retrying retriable failures until `deadline`. `owned` are the
    /// partitions this member keeps (cooperative protocol; empty for eager).
    pub(crate) async fn join_group(
        &mut self,
        topics: &BTreeSet<String>,
        owned: &[TopicPartition],
        deadline: Instant,
    ) -> Result<Joined> {
        self.ensure_heartbeat();
        let mut attempt = 0u32;
        loop {
            let err = match self.join_once(topics, owned).await {
                Ok(j) => return Ok(j),
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

    async fn join_once(
        &mut self,
        topics: &BTreeSet<String>,
        owned: &[TopicPartition],
    ) -> Result<Joined> {
        let shared = self.shared.clone();
        let node = shared.coordinator().await?;
        let conn = shared.net.coordinator_connection(&node).await?;
        let join_version = conn.version_for::<JoinGroupRequest>()?;
        let (member_id, generation) = {
            let st = shared.state();
            (st.member_id.clone(), st.generation)
        };
        let owned_partitions = group_by_topic(owned);
        let protocols: Vec<JoinGroupRequestProtocol> = self
            .assignors
            .iter()
            .map(|a| {
                let metadata = Subscription {
                    topics: topics.iter().cloned().collect(),
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
        let joining = JoinInFlight::start(&shared);
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
        self.last_assignment = assignment
            .iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        self.last_generation = resp.generation_id;
        tracing::info!(group = %shared.group_id, generation = resp.generation_id,
            partitions = assignment.len(), %protocol, "joined group");
        Ok(Joined {
            assignment,
            cooperative,
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

    /// Stops heartbeats and leaves the group.
    pub(crate) async fn close(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.shared
            .leave_group("the consumer is being closed")
            .await;
    }
}

impl Drop for ConsumerCoordinator {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

pub(crate) fn group_by_topic(parts: &[TopicPartition]) -> Vec<TopicPartitions> {
    let mut by: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in parts {
        by.entry(&tp.topic).or_default().push(tp.partition);
    }
    by.into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            TopicPartitions {
                topic: topic.to_string(),
                partitions,
            }
        })
        .collect()
}
