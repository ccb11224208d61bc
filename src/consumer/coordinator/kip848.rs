//! The KIP-848 consumer group protocol (`group.protocol=consumer`): a task sends
//! ConsumerGroupHeartbeat at the interval the broker returns (at once after a join, an
//! acknowledged reconciliation or a leave) and hands the target assignment to the consumer,
//! whose `poll` reconciles it (revoke first, then assign) and reports what it owns with the
//! next heartbeat. The decisions live in [`Membership`]; this file moves bytes and time.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::GroupShared;
use super::membership::{Answer, IdPartition, JOIN_EPOCH, Membership, Phase, Step};
use crate::error::{Error, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use crate::protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, GroupId, TopicName,
};
use crate::types::TopicId;

/// What the member subscribes to, as the heartbeat carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subscribed {
    Topics(BTreeSet<String>),
    /// A regular expression in RE2/J syntax, resolved by the broker (ConsumerGroupHeartbeat
    /// v1+).
    Pattern(String),
}

/// The KIP-848 half of the coordinator, shared by the consumer and the heartbeat task.
pub(crate) struct Kip848 {
    pub shared: Arc<GroupShared>,
    member: Mutex<Membership>,
    subscribed: Mutex<Option<Subscribed>>,
    remote_assignor: Option<String>,
    rack: Option<String>,
    rebalance_timeout: Duration,
    /// Wakes the task when a heartbeat is due at once.
    kick: Notify,
}

impl Kip848 {
    pub(crate) fn new(
        shared: Arc<GroupShared>,
        remote_assignor: Option<String>,
        rack: Option<String>,
        rebalance_timeout: Duration,
    ) -> Self {
        let static_member = shared.instance_id.is_some();
        Kip848 {
            shared,
            member: Mutex::new(Membership::new(new_member_id(), static_member)),
            subscribed: Mutex::new(None),
            remote_assignor,
            rack,
            rebalance_timeout,
            kick: Notify::new(),
        }
    }

    pub(crate) fn member(&self) -> MutexGuard<'_, Membership> {
        self.member.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what the member subscribes to; a change joins (when not a member) or tells the
    /// broker with the next heartbeat, sent at once.
    pub(crate) fn set_subscription(&self, sub: Subscribed) {
        {
            let mut current = self.subscribed.lock().unwrap_or_else(|p| p.into_inner());
            // Unchanged: nothing to tell, and a membership that a fatal error ended stays
            // ended until the application subscribes again.
            if current.as_ref() == Some(&sub) && self.member().phase != Phase::Idle {
                return;
            }
            *current = Some(sub);
        }
        self.member().subscribe();
        self.kick.notify_one();
    }

    /// Makes the next [`set_subscription`](Self::set_subscription) count as a change.
    pub(crate) fn forget_subscription(&self) {
        *self.subscribed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Tells the task that the consumer applied `owned`, or handed its partitions over as
    /// lost.
    pub(crate) fn reconciled(&self, owned: BTreeSet<IdPartition>) {
        self.member().reconciled(owned);
        self.kick.notify_one();
    }

    pub(crate) fn released(&self) {
        self.member().released();
        self.kick.notify_one();
    }

    /// The fatal error the membership ended with, taken once.
    pub(crate) fn take_fatal(&self) -> Option<Error> {
        self.member().fatal.take()
    }

    /// Leaves the group with one heartbeat (epoch -1, or -2 for a static member), waiting
    /// for its answer up to the request timeout. The heartbeat task may run on (unsubscribe):
    /// it sees the leaving phase under the same lock, so at worst the leave goes out twice.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped leave is as one that went unanswered (the broker drops the
    /// member after its session timeout).
    pub(crate) async fn leave(&self) {
        self.member().leave();
        *self.subscribed.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let Some(epoch) = self.member().request_epoch() else {
            return;
        };
        match self.heartbeat_once(epoch).await {
            Ok(answer) => {
                self.member().on_answer(epoch, answer);
            }
            Err(e) => {
                tracing::debug!(error = %e, "leave heartbeat failed");
                self.member().on_answer(epoch, Answer::default());
            }
        }
        self.sync_group_state();
        tracing::info!(group = %self.shared.group_id, epoch, "left group");
    }

    /// Mirrors the membership into the group state commits read (member id and epoch).
    fn sync_group_state(&self) {
        let (member_id, epoch, member) = {
            let m = self.member();
            (m.member_id.clone(), m.epoch, m.phase == Phase::Member)
        };
        let mut st = self.shared.state();
        st.member_id = member_id;
        st.generation = if member { epoch } else { -1 };
        st.stable = member;
    }

    fn request(&self, epoch: i32, version: i16) -> ConsumerGroupHeartbeatRequest {
        let m = self.member();
        let sub = self
            .subscribed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Version 0 has the coordinator make the member id (KIP-1082 moved it to the client).
        let member_id = if version == 0 && epoch == JOIN_EPOCH {
            String::new()
        } else {
            m.member_id.clone()
        };
        let mut req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.shared.group_id.clone())))
            .with_member_id(StrBytes::from_string(member_id))
            .with_member_epoch(epoch)
            .with_instance_id(self.shared.instance_id.clone().map(StrBytes::from_string))
            .with_rebalance_timeout_ms(-1);
        if epoch < 0 {
            return req;
        }
        // Every field on every heartbeat: the broker takes a repeated value as unchanged, and
        // a heartbeat whose answer was lost carries nothing stale.
        req = req
            .with_rack_id(self.rack.clone().map(StrBytes::from_string))
            .with_rebalance_timeout_ms(super::millis(self.rebalance_timeout))
            .with_server_assignor(self.remote_assignor.clone().map(StrBytes::from_string))
            .with_topic_partitions(Some(id_partitions(&m.owned)));
        match sub {
            Some(Subscribed::Pattern(p)) if version >= 1 => {
                req = req
                    .with_subscribed_topic_names(Some(Vec::new()))
                    .with_subscribed_topic_regex(Some(StrBytes::from_string(p)));
            }
            Some(Subscribed::Topics(topics)) => {
                req = req.with_subscribed_topic_names(Some(
                    topics
                        .into_iter()
                        .map(|t| TopicName(StrBytes::from_string(t)))
                        .collect(),
                ));
            }
            _ => req = req.with_subscribed_topic_names(Some(Vec::new())),
        }
        req
    }

    async fn heartbeat_once(&self, epoch: i32) -> Result<Answer> {
        let node = self.shared.coordinator().await?;
        let conn = self.shared.net.coordinator_connection(&node).await?;
        let version = conn.version_for::<ConsumerGroupHeartbeatRequest>()?;
        if version < 1
            && matches!(
                *self.subscribed.lock().unwrap_or_else(|p| p.into_inner()),
                Some(Subscribed::Pattern(_))
            )
        {
            return Err(Error::InvalidArgument(
                "a pattern subscription with group.protocol=consumer needs \
                 ConsumerGroupHeartbeat v1 (Apache Kafka 4.0+)"
                    .into(),
            ));
        }
        let req = self.request(epoch, version);
        let resp = conn.send_at(req, version, None).await?;
        Ok(answer_of(resp))
    }
}

/// The heartbeat loop; ends when the coordinator stops (close, drop).
pub(crate) async fn run(k: Arc<Kip848>) {
    let mut next = Instant::now();
    let mut attempt = 0u32;
    loop {
        let due = if k.member().send_now {
            Instant::now()
        } else {
            next
        };
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = k.kick.notified() => {}
        }
        if k.shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let idle = k
            .shared
            .last_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if idle > k.shared.max_poll_interval && k.member().phase == Phase::Member {
            tracing::warn!(group = %k.shared.group_id, idle_ms = idle.as_millis() as u64,
                "poll not called within max.poll.interval.ms: leaving the group");
            k.member().poll_timer_expired();
        }
        let epoch = {
            let mut m = k.member();
            let send_now = std::mem::take(&mut m.send_now);
            match m.request_epoch() {
                Some(epoch) if send_now || Instant::now() >= next => epoch,
                _ => {
                    if Instant::now() >= next {
                        next = Instant::now() + m.interval;
                    }
                    continue;
                }
            }
        };
        let sent = Instant::now();
        let step = match k.heartbeat_once(epoch).await {
            Ok(answer) => k.member().on_answer(epoch, answer),
            Err(e) if transient(&e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                Step::FindCoordinator
            }
            Err(e) => {
                tracing::error!(error = %e, "heartbeat failed");
                let mut m = k.member();
                m.fatal = Some(e);
                m.phase = Phase::Done;
                Step::WakeConsumer
            }
        };
        k.sync_group_state();
        // The interval the answer set, counted from the send:
        // the one assumed before the first answer (5 s) would hold a joining member back.
        next = sent + k.member().interval;
        match step {
            Step::Wait => attempt = 0,
            Step::WakeConsumer => {
                attempt = 0;
                k.shared.wake.notify_one();
            }
            Step::FindCoordinator | Step::Backoff => {
                if step == Step::FindCoordinator {
                    k.shared.mark_coordinator_unknown();
                }
                attempt += 1;
                next = Instant::now() + k.shared.net.retry_backoff(attempt);
            }
        }
    }
}

/// Whether a heartbeat that could not be sent or answered may go through later (the
/// connection or the coordinator moved); anything else (no common version, a subscription
/// the broker's version cannot carry) would fail the same way forever.
fn transient(e: &Error) -> bool {
    e.is_retriable()
        || matches!(
            e,
            Error::Connect { .. }
                | Error::Disconnected { .. }
                | Error::RequestTimeout { .. }
                | Error::NoBrokerReachable { .. }
                | Error::Timeout(_)
        )
}

fn answer_of(resp: ConsumerGroupHeartbeatResponse) -> Answer {
    Answer {
        code: resp.error_code,
        message: resp.error_message.map(|m| m.to_string()),
        member_id: resp.member_id.map(|m| m.to_string()),
        epoch: resp.member_epoch,
        interval_ms: resp.heartbeat_interval_ms,
        assignment: resp.assignment.map(|a| {
            a.topic_partitions
                .into_iter()
                .flat_map(|t| {
                    let id = TopicId(*t.topic_id.as_bytes());
                    t.partitions.into_iter().map(move |p| (id, p))
                })
                .collect()
        }),
    }
}

fn id_partitions(parts: &BTreeSet<IdPartition>) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for (id, p) in parts {
        let uuid = uuid::Uuid::from_bytes(id.0);
        match out.last_mut() {
            Some(last) if last.topic_id == uuid => last.partitions.push(*p),
            _ => out.push(
                TopicPartitions::default()
                    .with_topic_id(uuid)
                    .with_partitions(vec![*p]),
            ),
        }
    }
    out
}

/// A member id made by the client (ConsumerGroupHeartbeat v1), kept for the consumer's life:
/// 16 random bytes in URL-safe base64, as Java's `Uuid.randomUuid()` prints.
fn new_member_id() -> String {
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    TopicId(bytes).to_string()
}
