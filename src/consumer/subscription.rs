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
    pub assignment: BTreeMap<TopicPartition, PartitionState>,
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
            assignment: BTreeMap::new(),
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
                .assignment
                .remove(&tp)
                .unwrap_or_else(|| PartitionState::new(source));
            next.insert(tp, state);
        }
        let dropped = std::mem::replace(&mut self.assignment, next);
        self.unassigned.extend(dropped.into_keys());
        self.changes += 1;
    }

    pub(crate) fn add_partitions(&mut self, partitions: &[TopicPartition], source: PositionSource) {
        for tp in partitions {
            self.assignment
                .entry(tp.clone())
                .or_insert_with(|| PartitionState::new(source));
        }
        self.changes += 1;
    }

    pub(crate) fn remove_partitions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if self.assignment.remove(tp).is_some() {
                self.unassigned.push(tp.clone());
            }
        }
        self.changes += 1;
    }

    pub(crate) fn unsubscribe(&mut self) {
        self.subscription = Subscription::None;
        let dropped = std::mem::take(&mut self.assignment);
        self.unassigned.extend(dropped.into_keys());
        self.changes += 1;
    }

    /// A counter that moves whenever partitions are assigned or removed.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Validates `tp`'s position before it is fetched again (KIP-320), when it has a record's
    /// epoch to check against.
    pub(crate) fn start_validating(&mut self, tp: &TopicPartition) {
        if let Some(s) = self.assignment.get_mut(tp) {
            s.validating = s.position_epoch.is_some();
            self.validation_hint |= s.validating;
        }
    }

    /// The partitions unassigned since the last call and not assigned again since.
    pub(crate) fn take_unassigned(&mut self) -> Vec<TopicPartition> {
        let mut gone = std::mem::take(&mut self.unassigned);
        gone.retain(|tp| !self.assignment.contains_key(tp));
        gone.sort_unstable();
        gone.dedup();
        gone
    }

    pub(crate) fn assigned(&self) -> BTreeSet<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    pub(crate) fn state(&self, tp: &TopicPartition) -> Result<&PartitionState> {
        self.assignment
            .get(tp)
            .ok_or_else(|| Error::InvalidArgument(format!("{tp} is not assigned to this consumer")))
    }

    pub(crate) fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut PartitionState> {
        self.assignment
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
    pub(crate) fn pending_positions(&self) -> Vec<(TopicPartition, PositionSource)> {
        self.assignment
            .iter()
            .filter_map(|(tp, s)| s.pending.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Partitions to fetch now, in topic order: assigned, positioned, not paused and not
    /// waiting for a position lookup or a validation.
    pub(crate) fn fetchable(&self) -> impl Iterator<Item = (&TopicPartition, i64)> {
        self.assignment
            .iter()
            .filter(|(_, s)| !s.paused && s.pending.is_none() && !s.validating)
            .filter_map(|(tp, s)| s.position.map(|p| (tp, p)))
    }

    /// Positions of every positioned partition (what auto-commit commits).
    pub(crate) fn positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.assignment
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
        assert_eq!(s.fetchable().collect::<Vec<_>>(), vec![(&a, 42)]);
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
}
