//! SubscriptionState: what the consumer reads (subscribed topics or a manual assignment) and,
//! per assigned partition, where it reads from.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::AutoOffsetReset;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// Where a partition's position comes from when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PositionSource {
    /// The group's committed offset, then `auto.offset.reset`.
    Committed,
    /// The log start.
    Earliest,
    /// The log end.
    Latest,
    /// `auto.offset.reset=none`: an error for the caller.
    NoReset,
}

#[derive(Debug, Clone)]
pub(crate) struct PartitionState {
    /// Offset of the next record to return.
    pub position: Option<i64>,
    /// Leader epoch of the last record returned (KIP-320).
    pub position_epoch: Option<i32>,
    /// Set while the position must be looked up.
    pub pending: Option<PositionSource>,
    pub paused: bool,
    pub high_watermark: i64,
    /// From the last fetch, as `high_watermark`; -1 until then.
    pub last_stable_offset: i64,
    /// The leader epoch the metadata gave when the partition was last looked at: a higher
    /// one means a leader change, after which the position is validated (KIP-320).
    pub leader_epoch: Option<i32>,
    /// Not fetched until OffsetForLeaderEpoch confirms the position (KIP-320).
    pub validating: bool,
}

impl PartitionState {
    fn new(source: PositionSource) -> Self {
        PartitionState {
            position: None,
            position_epoch: None,
            pending: Some(source),
            paused: false,
            high_watermark: -1,
            last_stable_offset: -1,
            leader_epoch: None,
            validating: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subscription {
    None,
    Topics(BTreeSet<String>),
    Manual,
}

#[derive(Debug)]
pub(crate) struct SubscriptionState {
    pub subscription: Subscription,
    /// The assigned partitions and their state. Changed only through the methods below, each
    /// of which moves `version`; the one exception, [`fetched_state_mut`](Self::fetched_state_mut),
    /// is for partitions whose data the fetcher holds and tracks itself.
    parts: BTreeMap<TopicPartition, PartitionState>,
    /// Moves on every change of the assignment or of a partition's state outside the
    /// fetcher's taking of records (seek, pause, resume, position lookups, validation), so
    /// that work which depends only on those can be skipped while it stands still.
    version: u64,
    /// `version` when [`pending_positions`](Self::pending_positions) last found none.
    no_pending_at: Option<u64>,
    /// What [`any_paused`](Self::any_paused) last found, with the `version` it found it at:
    /// `version << 1 | any`, or `u64::MAX` before the first look. Atomic only so that a look
    /// through `&self` can keep it.
    paused_seen: std::sync::atomic::AtomicU64,
    reset: AutoOffsetReset,
    /// Bumped by every change of the assignment, so per-poll work over all partitions can run
    /// only when something changed.
    changes: u64,
    /// Set when a partition may have started validating outside a full walk (a fetch error);
    /// cleared by the walk that finds none validating.
    pub validation_hint: bool,
    /// Partitions removed from the assignment since [`take_unassigned`](Self::take_unassigned)
    /// last ran: their per-partition metrics go with them, as in Java.
    unassigned: Vec<TopicPartition>,
}

impl SubscriptionState {
    pub(crate) fn new(reset: AutoOffsetReset) -> Self {
        SubscriptionState {
            subscription: Subscription::None,
            parts: BTreeMap::new(),
            version: 0,
            no_pending_at: None,
            paused_seen: std::sync::atomic::AtomicU64::new(u64::MAX),
            reset,
            changes: 0,
            validation_hint: false,
            unassigned: Vec::new(),
        }
    }

    /// The `auto.offset.reset` policy as a position source.
    pub(crate) fn default_reset(&self) -> PositionSource {
        match self.reset {
            AutoOffsetReset::Earliest => PositionSource::Earliest,
            AutoOffsetReset::Latest => PositionSource::Latest,
            AutoOffsetReset::None => PositionSource::NoReset,
        }
    }

    pub(crate) fn subscribe(&mut self, topics: BTreeSet<String>) -> Result<()> {
        if self.subscription == Subscription::Manual {
            return Err(Error::InvalidArgument(
                "subscribe after assign: call unsubscribe first (as Java)".into(),
            ));
        }
        self.subscription = Subscription::Topics(topics);
        Ok(())
    }

    pub(crate) fn subscribed_topics(&self) -> Option<&BTreeSet<String>> {
        match &self.subscription {
            Subscription::Topics(t) => Some(t),
            _ => None,
        }
    }

    /// Manual assignment: partitions kept keep their state; new ones start from the committed
    /// offset (if a group is configured) or the reset policy.
    pub(crate) fn assign_manual(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        source: PositionSource,
    ) -> Result<()> {
        if matches!(self.subscription, Subscription::Topics(_)) {
            return Err(Error::InvalidArgument(
                "assign after subscribe: call unsubscribe first (as Java)".into(),
            ));
        }
        self.subscription = Subscription::Manual;
        self.set_assignment(partitions, source);
        Ok(())
    }

    /// Replaces the assignment (from the group or `assign`), keeping state for kept partitions.
    pub(crate) fn set_assignment(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        source: PositionSource,
    ) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let state = self
                .parts
                .remove(&tp)
                .unwrap_or_else(|| PartitionState::new(source));
            next.insert(tp, state);
        }
        let dropped = std::mem::replace(&mut self.parts, next);
        self.unassigned.extend(dropped.into_keys());
        self.changes += 1;
        self.version += 1;
    }

    pub(crate) fn add_partitions(&mut self, partitions: &[TopicPartition], source: PositionSource) {
        for tp in partitions {
            self.parts
                .entry(tp.clone())
                .or_insert_with(|| PartitionState::new(source));
        }
        self.changes += 1;
        self.version += 1;
    }

    pub(crate) fn remove_partitions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if self.parts.remove(tp).is_some() {
                self.unassigned.push(tp.clone());
            }
        }
        self.changes += 1;
        self.version += 1;
    }

    pub(crate) fn unsubscribe(&mut self) {
        self.subscription = Subscription::None;
        let dropped = std::mem::take(&mut self.parts);
        self.unassigned.extend(dropped.into_keys());
        self.changes += 1;
        self.version += 1;
    }

    /// A counter that moves whenever partitions are assigned or removed.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Validates `tp`'s position before it is fetched again (KIP-320), when it has a record's
    /// epoch to check against.
    pub(crate) fn start_validating(&mut self, tp: &TopicPartition) {
        self.version += 1;
        if let Some(s) = self.parts.get_mut(tp) {
            s.validating = s.position_epoch.is_some();
            self.validation_hint |= s.validating;
        }
    }

    /// The partitions unassigned since the last call and not assigned again since.
    pub(crate) fn take_unassigned(&mut self) -> Vec<TopicPartition> {
        let mut gone = std::mem::take(&mut self.unassigned);
        gone.retain(|tp| !self.parts.contains_key(tp));
        gone.sort_unstable();
        gone.dedup();
        gone
    }

    /// The assigned partitions and their state.
    pub(crate) fn assignment(&self) -> &BTreeMap<TopicPartition, PartitionState> {
        &self.parts
    }

    /// Every partition's state, to change (counts as a change of each).
    pub(crate) fn states_mut(
        &mut self,
    ) -> impl Iterator<Item = (&TopicPartition, &mut PartitionState)> {
        self.version += 1;
        self.parts.iter_mut()
    }

    /// `tp`'s state for the fetcher taking records of data it holds, without moving
    /// [`version`](Self::version): the fetcher knows which partitions it holds data for, and
    /// a position that moves by taking records is not news to it. Anything else goes through
    /// [`state_mut`](Self::state_mut).
    pub(crate) fn fetched_state_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionState> {
        self.parts.get_mut(tp)
    }

    /// Whether any assigned partition is paused: a walk only when something changed since the
    /// last look (the fetcher asks per buffered fetch, and most consumers pause nothing).
    pub(crate) fn any_paused(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let seen = self.paused_seen.load(Relaxed);
        if seen != u64::MAX && seen >> 1 == self.version {
            return seen & 1 == 1;
        }
        let any = self.parts.values().any(|s| s.paused);
        self.paused_seen
            .store(self.version << 1 | u64::from(any), Relaxed);
        any
    }

    /// A counter that moves on every change of the assignment or of a partition's state other
    /// than the fetcher's taking of records.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn assigned(&self) -> BTreeSet<TopicPartition> {
        self.parts.keys().cloned().collect()
    }

    pub(crate) fn state(&self, tp: &TopicPartition) -> Result<&PartitionState> {
        self.parts
            .get(tp)
            .ok_or_else(|| Error::InvalidArgument(format!("{tp} is not assigned to this consumer")))
    }

    pub(crate) fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.version += 1;
        self.parts
            .get_mut(tp)
            .ok_or_else(|| Error::InvalidArgument(format!("{tp} is not assigned to this consumer")))
    }

    pub(crate) fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "seek to negative offset {offset}"
            )));
        }
        let s = self.state_mut(tp)?;
        s.position = Some(offset);
        s.position_epoch = None;
        s.pending = None;
        s.validating = false;
        Ok(())
    }

    pub(crate) fn request_position(
        &mut self,
        tp: &TopicPartition,
        source: PositionSource,
    ) -> Result<()> {
        let s = self.state_mut(tp)?;
        s.position = None;
        s.pending = Some(source);
        Ok(())
    }

    /// Partitions whose position must be looked up, with where from.
    /// Without a change since the last call found none, none (no walk: this runs every poll).
    pub(crate) fn pending_positions(&mut self) -> Vec<(TopicPartition, PositionSource)> {
        if self.no_pending_at == Some(self.version) {
            return Vec::new();
        }
        let pending: Vec<_> = self
            .parts
            .iter()
            .filter_map(|(tp, s)| s.pending.map(|p| (tp.clone(), p)))
            .collect();
        self.no_pending_at = pending.is_empty().then_some(self.version);
        pending
    }

    /// Partitions to fetch now, in topic order, with their positions: assigned, positioned, not
    /// paused and not waiting for a position lookup or a validation.
    pub(crate) fn fetchable(
        &self,
    ) -> impl Iterator<Item = (&TopicPartition, &PartitionState, i64)> {
        self.parts
            .iter()
            .filter(|(_, s)| !s.paused && s.pending.is_none() && !s.validating)
            .filter_map(|(tp, s)| s.position.map(|p| (tp, s, p)))
    }

    /// Positions of every positioned partition (what auto-commit commits).
    pub(crate) fn positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.parts
            .iter()
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), (p, s.position_epoch))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_keeps_state_of_kept_partitions() {
        let mut s = SubscriptionState::new(AutoOffsetReset::Earliest);
        s.subscribe(BTreeSet::from(["t".to_string()])).unwrap();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        s.set_assignment([a.clone(), b.clone()], PositionSource::Committed);
        s.seek(&a, 42).unwrap();
        s.state_mut(&b).unwrap().paused = true;
        let fetchable: Vec<(&TopicPartition, i64)> =
            s.fetchable().map(|(tp, _, p)| (tp, p)).collect();
        assert_eq!(fetchable, vec![(&a, 42)]);
        assert_eq!(
            s.pending_positions(),
            vec![(b.clone(), PositionSource::Committed)]
        );
        s.set_assignment([a.clone()], PositionSource::Committed);
        assert_eq!(s.positions().get(&a), Some(&(42, None)));
        assert!(s.state(&b).is_err());
        assert!(s.assign_manual([b], PositionSource::Earliest).is_err());
        assert!(s.seek(&a, -1).is_err());
    }

    /// `any_paused` keeps its answer only while nothing changes: a pause and a resume
    /// (through `state_mut`) are seen at once, and so is a partition leaving the assignment.
    #[test]
    fn any_paused_follows_pause_resume_and_assignment() {
        let mut s = SubscriptionState::new(AutoOffsetReset::Earliest);
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        s.assign_manual([a.clone(), b.clone()], PositionSource::Earliest)
            .expect("assign");
        assert!(!s.any_paused());
        s.state_mut(&b).expect("b").paused = true;
        assert!(s.any_paused());
        assert!(s.any_paused(), "asked again, unchanged");
        s.state_mut(&b).expect("b").paused = false;
        assert!(!s.any_paused());
        s.state_mut(&b).expect("b").paused = true;
        assert!(s.any_paused());
        s.assign_manual([a.clone()], PositionSource::Earliest)
            .expect("assign");
        assert!(!s.any_paused(), "the paused partition left");
    }

    /// `pending_positions` skips its walk only while nothing changed since it found none.
    #[test]
    fn pending_positions_follow_position_requests() {
        let mut s = SubscriptionState::new(AutoOffsetReset::Earliest);
        let a = TopicPartition::new("t", 0);
        s.assign_manual([a.clone()], PositionSource::Earliest)
            .expect("assign");
        assert_eq!(
            s.pending_positions(),
            vec![(a.clone(), PositionSource::Earliest)]
        );
        s.seek(&a, 5).expect("seek");
        assert!(s.pending_positions().is_empty());
        assert!(s.pending_positions().is_empty());
        s.request_position(&a, PositionSource::Latest)
            .expect("request");
        assert_eq!(s.pending_positions(), vec![(a, PositionSource::Latest)]);
    }
}
