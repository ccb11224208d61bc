//! A member of a KIP-848 consumer group as a pure state machine: what the next
//! ConsumerGroupHeartbeat carries, and what each answer means. The heartbeat task
//! (`kip848.rs`) moves bytes and time around it; the consumer's `poll` reconciles the target
//! assignment it holds.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::error::code::{
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, FENCED_MEMBER_EPOCH, NOT_COORDINATOR,
    UNKNOWN_MEMBER_ID,
};
use crate::error::{Error, ErrorCode};
use crate::types::TopicId;

/// The epoch a member joins with.
pub(crate) const JOIN_EPOCH: i32 = 0;
/// The epoch a dynamic member leaves with.
pub(crate) const LEAVE_EPOCH: i32 = -1;
/// The epoch a static member leaves with: the broker keeps its assignment for its return
/// (within the group's session timeout).
pub(crate) const LEAVE_STATIC_EPOCH: i32 = -2;

/// A partition as the broker names it in KIP-848 assignments: by topic id.
pub(crate) type IdPartition = (TopicId, i32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not subscribed: no heartbeats.
    Idle,
    /// The next heartbeat joins (epoch 0).
    Joining,
    /// A member: heartbeats carry the member epoch.
    Member,
    /// Fenced, or left after the poll timer ran out: the consumer must hand its partitions
    /// over as lost (no commit) before it joins again with epoch 0.
    Lost,
    /// The next heartbeat leaves (epoch -1, or -2 for a static member).
    Leaving,
    /// Left, or a fatal error: no more heartbeats.
    Done,
}

/// What the broker answered to one heartbeat.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    pub code: i16,
    pub message: Option<String>,
    pub member_id: Option<String>,
    pub epoch: i32,
    pub interval_ms: i32,
    /// `None`: unchanged since the last answer.
    pub assignment: Option<BTreeSet<IdPartition>>,
}

/// What the heartbeat task does after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Heartbeat again at the interval.
    Wait,
    /// The assignment to reconcile changed, or partitions were lost: wake the consumer.
    WakeConsumer,
    /// Find the coordinator again, then retry after a backoff.
    FindCoordinator,
    /// Retry after a backoff.
    Backoff,
}

#[derive(Debug)]
pub(crate) struct Membership {
    pub member_id: String,
    pub epoch: i32,
    pub phase: Phase,
    pub static_member: bool,
    pub interval: Duration,
    /// The latest assignment the broker gave (it sends one only when it changes).
    pub target: BTreeSet<IdPartition>,
    /// What the consumer has applied: the partitions heartbeats report as owned.
    pub owned: BTreeSet<IdPartition>,
    /// Send the next heartbeat at once (a join, an acknowledged reconciliation, a leave).
    pub send_now: bool,
    /// A fatal error for `poll` to report (taken once).
    pub fatal: Option<Error>,
    /// The leave under way is the poll timer's: once answered, the partitions are lost and
    /// the next poll joins again (a leave on close or unsubscribe ends the membership).
    leave_then_rejoin: bool,
}

impl Membership {
    pub(crate) fn new(member_id: String, static_member: bool) -> Self {
        Membership {
            member_id,
            epoch: JOIN_EPOCH,
            phase: Phase::Idle,
            static_member,
            interval: Duration::from_secs(5),
            target: BTreeSet::new(),
            owned: BTreeSet::new(),
            send_now: false,
            fatal: None,
            leave_then_rejoin: false,
        }
    }

    /// Subscribed (or subscription changed): join when not a member yet, and tell the broker
    /// at once either way.
    pub(crate) fn subscribe(&mut self) {
        if matches!(self.phase, Phase::Idle | Phase::Done) && self.fatal.is_none() {
            self.phase = Phase::Joining;
            self.epoch = JOIN_EPOCH;
        }
        self.send_now = true;
    }

    /// Whether the consumer has something to reconcile.
    pub(crate) fn reconcile_needed(&self) -> bool {
        self.phase == Phase::Member && self.target != self.owned
    }

    /// The consumer applied `owned` (what it could of the target): report it at once.
    pub(crate) fn reconciled(&mut self, owned: BTreeSet<IdPartition>) {
        if self.owned != owned {
            self.owned = owned;
            self.send_now = true;
        }
    }

    /// The consumer handed its partitions over as lost: join again with epoch 0.
    pub(crate) fn released(&mut self) {
        if self.phase == Phase::Lost {
            self.owned.clear();
            self.target.clear();
            self.epoch = JOIN_EPOCH;
            self.phase = Phase::Joining;
            self.send_now = true;
        }
    }

    /// Leave the group (close, unsubscribe): the next heartbeat says so.
    pub(crate) fn leave(&mut self) {
        self.leave_then_rejoin = false;
        if matches!(self.phase, Phase::Member | Phase::Joining) {
            self.phase = Phase::Leaving;
            self.send_now = true;
        } else if self.phase != Phase::Done {
            self.phase = Phase::Idle;
        }
    }

    /// The poll timer ran out (`max.poll.interval.ms`): leave, and hand the partitions over
    /// as lost; the next poll joins again.
    pub(crate) fn poll_timer_expired(&mut self) {
        if self.phase == Phase::Member {
            self.phase = Phase::Leaving;
            self.leave_then_rejoin = true;
            self.send_now = true;
        }
    }

    /// The epoch the next heartbeat carries, or `None` when none is due in this phase.
    pub(crate) fn request_epoch(&self) -> Option<i32> {
        match self.phase {
            Phase::Joining => Some(JOIN_EPOCH),
            Phase::Member => Some(self.epoch),
            Phase::Leaving if self.static_member => Some(LEAVE_STATIC_EPOCH),
            Phase::Leaving => Some(LEAVE_EPOCH),
            Phase::Idle | Phase::Lost | Phase::Done => None,
        }
    }

    /// Takes in the answer to a heartbeat sent with `sent_epoch`.
    pub(crate) fn on_answer(&mut self, sent_epoch: i32, answer: Answer) -> Step {
        if answer.code == 0 {
            return self.on_success(sent_epoch, answer);
        }
        if sent_epoch < 0 && !matches!(answer.code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE) {
            // A failed leave is not retried, except to a moved coordinator:
            // a member the broker does not know is out already, and any other it drops after
            // its session timeout.
            tracing::debug!(code = answer.code, "leave heartbeat failed");
            return self.finish_leave();
        }
        match answer.code {
            FENCED_MEMBER_EPOCH | UNKNOWN_MEMBER_ID => {
                // Java ignores a fence that answers an epoch the member has already moved past
                // (a heartbeat in flight while a newer answer came in).
                if sent_epoch != self.request_epoch().unwrap_or(sent_epoch)
                    || !matches!(self.phase, Phase::Member | Phase::Joining)
                {
                    return Step::Wait;
                }
                tracing::info!(member = %self.member_id, epoch = self.epoch, code = answer.code,
                    "fenced by the group coordinator: partitions lost, rejoining");
                self.phase = Phase::Lost;
                Step::WakeConsumer
            }
            NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE => Step::FindCoordinator,
            COORDINATOR_LOAD_IN_PROGRESS => Step::Backoff,
            code if ErrorCode(code).is_retriable() => Step::Backoff,
            // UNRELEASED_INSTANCE_ID, FENCED_INSTANCE_ID, UNSUPPORTED_ASSIGNOR,
            // GROUP_AUTHORIZATION_FAILED, INVALID_REQUEST, GROUP_MAX_SIZE_REACHED,
            // UNSUPPORTED_VERSION and the unexpected: fatal, as in Java's heartbeat manager.
            code => {
                let context = match &answer.message {
                    Some(m) => format!("ConsumerGroupHeartbeat: {m}"),
                    None => "ConsumerGroupHeartbeat".to_string(),
                };
                tracing::error!(member = %self.member_id, code, %context, "group membership failed");
                self.fatal = Some(Error::broker(code, context));
                self.phase = Phase::Done;
                Step::WakeConsumer
            }
        }
    }

    fn on_success(&mut self, sent_epoch: i32, answer: Answer) -> Step {
        if sent_epoch < 0 {
            return self.finish_leave();
        }
        if !matches!(self.phase, Phase::Member | Phase::Joining) {
            return Step::Wait;
        }
        if let Some(id) = answer.member_id.filter(|id| !id.is_empty()) {
            self.member_id = id;
        }
        self.epoch = answer.epoch;
        self.phase = Phase::Member;
        if answer.interval_ms > 0 {
            self.interval = Duration::from_millis(answer.interval_ms as u64);
        }
        match answer.assignment {
            Some(target) if target != self.target || target != self.owned => {
                self.target = target;
                Step::WakeConsumer
            }
            _ => Step::Wait,
        }
    }

    fn finish_leave(&mut self) -> Step {
        if std::mem::take(&mut self.leave_then_rejoin) {
            self.phase = Phase::Lost;
            Step::WakeConsumer
        } else {
            self.phase = Phase::Done;
            self.owned.clear();
            self.target.clear();
            Step::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::code::{FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID};

    fn tp(t: u8, p: i32) -> IdPartition {
        (TopicId([t; 16]), p)
    }

    fn ok(epoch: i32, assignment: Option<&[IdPartition]>) -> Answer {
        Answer {
            member_id: Some("m1".into()),
            epoch,
            interval_ms: 1000,
            assignment: assignment.map(|a| a.iter().copied().collect()),
            ..Answer::default()
        }
    }

    fn err(code: i16) -> Answer {
        Answer {
            code,
            ..Answer::default()
        }
    }

    fn joined() -> Membership {
        let mut m = Membership::new("m1".into(), false);
        m.subscribe();
        assert_eq!(m.request_epoch(), Some(JOIN_EPOCH));
        assert_eq!(m.on_answer(0, ok(3, Some(&[tp(1, 0)]))), Step::WakeConsumer);
        m
    }

    #[test]
    fn join_takes_epoch_interval_and_target_then_acks_what_was_applied() {
        let mut m = joined();
        assert_eq!(m.phase, Phase::Member);
        assert_eq!(m.epoch, 3);
        assert_eq!(m.interval, Duration::from_millis(1000));
        assert!(m.reconcile_needed());
        m.send_now = false;
        m.reconciled([tp(1, 0)].into());
        assert!(m.send_now, "the ack goes out at once");
        assert!(!m.reconcile_needed());
        assert_eq!(m.request_epoch(), Some(3));
        // An answer without an assignment leaves the target as it was.
        assert_eq!(m.on_answer(3, ok(4, None)), Step::Wait);
        assert_eq!(m.epoch, 4);
        assert!(!m.reconcile_needed());
        // A new target: revoke p0, assign p1 (the consumer works out which is which).
        assert_eq!(m.on_answer(4, ok(5, Some(&[tp(1, 1)]))), Step::WakeConsumer);
        assert!(m.reconcile_needed());
    }

    #[test]
    fn fencing_loses_partitions_then_rejoins_with_epoch_zero_and_same_member_id() {
        for code in [FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID] {
            let mut m = joined();
            m.reconciled([tp(1, 0)].into());
            assert_eq!(m.on_answer(3, err(code)), Step::WakeConsumer, "code {code}");
            assert_eq!(m.phase, Phase::Lost);
            assert_eq!(m.request_epoch(), None, "no heartbeat until released");
            m.released();
            assert_eq!(m.request_epoch(), Some(JOIN_EPOCH));
            assert!(m.owned.is_empty() && m.target.is_empty());
            assert_eq!(m.member_id, "m1");
        }
    }

    #[test]
    fn a_fence_answering_an_older_epoch_is_ignored() {
        let mut m = joined();
        m.on_answer(3, ok(4, None));
        assert_eq!(m.on_answer(3, err(FENCED_MEMBER_EPOCH)), Step::Wait);
        assert_eq!(m.phase, Phase::Member);
    }

    #[test]
    fn instance_id_errors_are_fatal_as_in_java() {
        for code in [UNRELEASED_INSTANCE_ID, FENCED_INSTANCE_ID, 112] {
            let mut m = Membership::new("m1".into(), true);
            m.subscribe();
            assert_eq!(m.on_answer(0, err(code)), Step::WakeConsumer);
            assert_eq!(m.phase, Phase::Done);
            assert_eq!(m.request_epoch(), None);
            let e = m.fatal.take().expect("fatal error");
            assert_eq!(e.code().map(|c| c.0), Some(code));
        }
    }

    #[test]
    fn coordinator_errors_retry() {
        let mut m = joined();
        assert_eq!(m.on_answer(3, err(NOT_COORDINATOR)), Step::FindCoordinator);
        assert_eq!(
            m.on_answer(3, err(COORDINATOR_NOT_AVAILABLE)),
            Step::FindCoordinator
        );
        assert_eq!(
            m.on_answer(3, err(COORDINATOR_LOAD_IN_PROGRESS)),
            Step::Backoff
        );
        assert_eq!(m.phase, Phase::Member);
        assert_eq!(m.epoch, 3);
    }

    #[test]
    fn leaving_uses_minus_one_or_minus_two_for_static_members() {
        let mut m = joined();
        m.leave();
        assert_eq!(m.request_epoch(), Some(LEAVE_EPOCH));
        assert_eq!(m.on_answer(LEAVE_EPOCH, ok(-1, None)), Step::Wait);
        assert_eq!(m.phase, Phase::Done);
        let mut s = Membership::new("m1".into(), true);
        s.subscribe();
        s.on_answer(0, ok(1, Some(&[])));
        s.leave();
        assert_eq!(s.request_epoch(), Some(LEAVE_STATIC_EPOCH));
    }

    #[test]
    fn a_leave_the_broker_does_not_know_of_still_ends_the_membership() {
        for code in [UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH] {
            let mut m = Membership::new("m1".into(), false);
            m.subscribe();
            m.leave();
            assert_eq!(m.request_epoch(), Some(LEAVE_EPOCH));
            assert_eq!(m.on_answer(LEAVE_EPOCH, err(code)), Step::Wait);
            assert_eq!(m.phase, Phase::Done, "code {code}");
            assert_eq!(m.request_epoch(), None, "no more leave heartbeats");
        }
    }

    #[test]
    fn poll_timeout_leaves_then_loses_partitions_and_rejoins() {
        let mut m = joined();
        m.reconciled([tp(1, 0)].into());
        m.poll_timer_expired();
        assert_eq!(m.request_epoch(), Some(LEAVE_EPOCH));
        assert_eq!(m.on_answer(LEAVE_EPOCH, ok(-1, None)), Step::WakeConsumer);
        assert_eq!(m.phase, Phase::Lost);
        m.released();
        assert_eq!(m.request_epoch(), Some(JOIN_EPOCH));
    }
}
