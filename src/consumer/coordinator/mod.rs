//! ConsumerCoordinator: FindCoordinator, JoinGroup/SyncGroup (the classic group protocol),
//! heartbeats, LeaveGroup, and offset commit/fetch.
//!
//! A join (JoinGroup, SyncGroup) runs on a task of its own that `poll` starts and a later
//! `poll` takes the outcome of (then runs the rebalance listener); heartbeats run on a
//! background task that flags a needed rejoin and enforces `max.poll.interval.ms`.

mod commit;
mod heartbeat;
mod join;
mod kip848;
mod membership;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::background::Background;
use crate::config::{Assignor, ConsumerConfig, GroupProtocol};
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use crate::network::coordinator::CoordinatorType;
use crate::network::metadata::Node;
use crate::protocol::StrBytes;
use crate::protocol::consumer_protocol::{NO_GENERATION, TopicPartitions};
use crate::protocol::messages::{GroupId, LeaveGroupRequest};
use crate::record::TopicPartition;

pub(crate) use commit::{commit_offsets, fetch_committed, issue_commit};
use join::JoinPlan;
pub(crate) use join::Joined;
pub(crate) use kip848::{Kip848, Subscribed};
pub(crate) use membership::{IdPartition, Phase};

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
        let node = self
            .net
            .find_coordinator(CoordinatorType::Group, &self.group_id)
            .await?;
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
    /// The join in progress: it goes on across polls until a poll takes its outcome, and is
    /// aborted when dropped (close, unsubscribe, the consumer dropped).
    join: Option<Background<Joined>>,
    rack: Option<String>,
    /// What the last completed generation gave this member (sticky assignors carry it in
    /// their subscription user data).
    last_assignment: Vec<(String, i32)>,
    last_generation: i32,
    /// Set with `group.protocol=consumer`: the heartbeat task of KIP-848 runs instead of
    /// joins and classic heartbeats.
    kip848: Option<Arc<Kip848>>,
}

impl ConsumerCoordinator {
    pub(crate) fn new(net: Arc<NetworkClient>, group_id: String, cfg: &ConsumerConfig) -> Self {
        let shared = Arc::new(GroupShared {
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
        });
        let rack = Some(cfg.client_rack.clone()).filter(|r| !r.is_empty());
        let kip848 = (cfg.group_protocol == GroupProtocol::Consumer).then(|| {
            Arc::new(Kip848::new(
                shared.clone(),
                cfg.group_remote_assignor.clone(),
                rack.clone(),
                cfg.max_poll_interval,
            ))
        });
        ConsumerCoordinator {
            shared,
            assignors: cfg.partition_assignment_strategy.clone(),
            rebalance_timeout: cfg.max_poll_interval,
            heartbeat: None,
            join: None,
            rack,
            last_assignment: Vec::new(),
            last_generation: NO_GENERATION,
            kip848,
        }
    }

    /// The KIP-848 membership, with `group.protocol=consumer`; starts its heartbeat task.
    pub(crate) fn kip848(&mut self) -> Option<Arc<Kip848>> {
        let k = self.kip848.clone()?;
        if self.heartbeat.is_none() {
            self.heartbeat = Some(tokio::spawn(kip848::run(k.clone())));
        }
        Some(k)
    }

    /// Leaves the group (LeaveGroup, or a leaving heartbeat with the consumer protocol).
    pub(crate) async fn leave(&self, reason: &str) {
        match &self.kip848 {
            Some(k) => k.leave().await,
            None => self.shared.leave_group(reason).await,
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
        if let Some(k) = &self.kip848 {
            // The application subscribed (again): the next poll tells the broker, and joins
            // also after a fatal error ended the membership.
            k.forget_subscription();
        }
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

    /// Whether a join runs (or finished and awaits [`wait_join`](Self::wait_join)).
    pub(crate) fn join_running(&self) -> bool {
        self.join.is_some()
    }

    /// Starts joining the group with `topics` on a task of its own; `owned` are the
    /// partitions this member keeps (cooperative protocol; empty for eager). Retriable
    /// failures are retried for up to `max.poll.interval.ms` (the rebalance timeout).
    pub(crate) fn start_join(&mut self, topics: &BTreeSet<String>, owned: &[TopicPartition]) {
        self.ensure_heartbeat();
        let plan = JoinPlan {
            shared: self.shared.clone(),
            assignors: self.assignors.clone(),
            rebalance_timeout: self.rebalance_timeout,
            rack: self.rack.clone(),
            last_assignment: self.last_assignment.clone(),
            last_generation: self.last_generation,
            topics: topics.clone(),
            owned: owned.to_vec(),
        };
        let deadline = Instant::now() + self.rebalance_timeout;
        self.join = Some(Background::spawn(plan.run(deadline)));
    }

    /// The outcome of the running join once it has finished, waiting for it until
    /// `deadline`; `None` while it runs on (or when none runs).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped wait leaves the join running and its outcome for the next call.
    pub(crate) async fn wait_join(&mut self, deadline: Instant) -> Option<Result<Joined>> {
        let outcome = self.join.as_mut()?.wait_until(deadline).await?;
        self.join = None;
        if let Ok(j) = &outcome {
            self.last_assignment = j
                .assignment
                .iter()
                .map(|tp| (tp.topic.clone(), tp.partition))
                .collect();
            self.last_generation = j.generation;
        }
        Some(outcome)
    }

    /// Stops a running join (its JoinGroup or SyncGroup is abandoned).
    pub(crate) fn abort_join(&mut self) {
        self.join = None;
    }

    /// Stops heartbeats and leaves the group.
    pub(crate) async fn close(&mut self) {
        self.abort_join();
        self.shared.stopped.store(true, Ordering::Release);
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.leave("the consumer is being closed").await;
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
