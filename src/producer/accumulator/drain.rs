//! The sender's side of the accumulator: a drain pass over the partitions the ready index
//! names, what an answered request gives back (in-flight counts, sequences), and putting a
//! batch back for a retry. Appends are in the parent module; both sides share its topic locks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{Accumulator, PartitionQueue};
use crate::network::metadata::{Cluster, TopicMeta};
use crate::producer::batch::{ProducerBatch, SequenceInfo};
use crate::producer::idempotence::{PartitionSequences, sequence_precedes};
use crate::producer::partitioner::PartitionLoads;
use crate::producer::ready_index::ReadyIndex;

/// Batches drained for one broker.
pub(crate) struct Drained {
    pub node: i32,
    pub batches: Vec<ProducerBatch>,
}

/// A drained batch whose request has answered, for [`Accumulator::done_in_flight_all`].
pub(crate) struct Answered<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// Its base sequence, when idempotent.
    pub sequence: Option<i32>,
    /// Its sequence when the broker acknowledged it (written or a duplicate).
    pub acknowledged: Option<SequenceInfo>,
}

/// Result of one pass over the queues.
#[derive(Default)]
pub(crate) struct DrainPass {
    pub drained: Vec<Drained>,
    /// Batches whose `delivery.timeout.ms` ran out while queued.
    pub expired: Vec<ProducerBatch>,
    /// Earliest time something becomes sendable (linger or backoff end).
    pub next_wake: Option<Instant>,
    /// Some partition with queued data has no known leader: refresh metadata.
    pub unknown_leader: bool,
    /// Partition queues this pass looked at (its cost).
    pub visited: usize,
}

fn set_wake(next: &mut Option<Instant>, at: Instant) {
    *next = Some(next.map_or(at, |n| n.min(at)));
}

/// Watches the delivery deadline of a head that waits outside the drain's candidates, once per
/// head.
fn arm_expiry(index: &mut ReadyIndex, q: &mut PartitionQueue, partition: i32, expires: Instant) {
    if q.expiry_armed != Some(expires) {
        q.expiry_armed = Some(expires);
        index.expiry(expires, partition);
    }
}

/// Which partitions of `meta` have a usable leader, and their queue lengths (KIP-794).
fn loads(meta: &TopicMeta, cluster: &Cluster, queues: &[PartitionQueue]) -> PartitionLoads {
    let partitions: Vec<i32> = meta
        .partitions
        .iter()
        .filter(|p| p.leader >= 0 && cluster.brokers.contains_key(&p.leader))
        .map(|p| p.id)
        .collect();
    let queue_sizes = partitions
        .iter()
        .map(|p| {
            queues
                .get(*p as usize)
                .map_or(0, |q| q.batches.len() as u32)
        })
        .collect();
    PartitionLoads {
        partitions,
        queue_sizes,
    }
}

impl Accumulator {
    /// One pass over the partitions the index says may be sendable: expire what is past
    /// `delivery.timeout.ms`, and drain, per leader, the head batch of each sendable partition
    /// (at most `max_request_size` bytes per broker, at least one batch), in partition order.
    /// `can_send(node)` says whether the broker has room in flight. With `sequence`
    /// (idempotence), drained batches get their sequence numbers here.
    pub(crate) fn drain(
        &self,
        cluster: &Cluster,
        now: Instant,
        can_send: impl FnMut(i32) -> bool,
        sequence: Option<(i64, i16)>,
    ) -> DrainPass {
        self.drain_filtered(cluster, now, can_send, sequence, |_, _| true)
    }

    /// As [`drain`](Self::drain), draining only partitions `may_drain(topic, partition)`
    /// allows (a transaction's partitions once AddPartitionsToTxn added them); it is asked
    /// about every partition with a queued batch.
    pub(crate) fn drain_filtered(
        &self,
        cluster: &Cluster,
        now: Instant,
        mut can_send: impl FnMut(i32) -> bool,
        sequence: Option<(i64, i16)>,
        mut may_drain: impl FnMut(&Arc<str>, i32) -> bool,
    ) -> DrainPass {
        let mut pass = DrainPass::default();
        let force = self.flushing.load(Ordering::Acquire) > 0
            || self.is_closed()
            || self.pool.has_waiters();
        let new_id = sequence.is_some() && {
            let mut under = self.drained_under.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *under, sequence) != sequence
        };
        let mut per_node: HashMap<i32, (usize, Vec<ProducerBatch>)> = HashMap::new();
        let mut node_full: HashMap<i32, bool> = HashMap::new();
        let mut full = |node: i32| *node_full.entry(node).or_insert_with(|| !can_send(node));
        for topic in self.all_topics() {
            let meta = cluster.topic(&topic.name);
            let mut st = topic.lock();
            let st = &mut *st;
            if let Some(m) = meta
                && m.error.is_none()
                && !m.partitions.is_empty()
            {
                let n = m.partitions.len() as i32;
                if n > st.num_partitions {
                    st.num_partitions = n;
                    topic.known_partitions.store(n, Ordering::Release);
                }
            }
            // Only the sticky partitioner reads the loads: records with explicit or keyed
            // partitions do not pay for a walk over every partition per drain.
            if self.cfg.adaptive && st.sticky.wants_loads() {
                st.sticky
                    .set_loads(meta.map(|m| loads(m, cluster, &st.partitions)));
            }
            if new_id {
                // Partitions held back for an answer under the old id may go now.
                for (p, q) in st.partitions.iter().enumerate() {
                    if !q.batches.is_empty() {
                        st.index.mark(p as i32);
                    }
                }
            }
            let expired = st.index.wake_due(now, force, |node| !full(node));
            for p in expired {
                if let Some(q) = st.partitions.get_mut(p as usize) {
                    q.expiry_armed = None;
                }
            }
            for pid in st.index.take_candidates() {
                let Some(q) = st.partitions.get_mut(pid as usize) else {
                    continue;
                };
                pass.visited += 1;
                // Expire from the front: the oldest batches are there.
                while let Some(b) = q.batches.front() {
                    if b.created + self.cfg.delivery_timeout > now {
                        break;
                    }
                    if let Some(b) = q.batches.pop_front() {
                        pass.expired.push(b);
                    }
                }
                let Some(head) = q.batches.front() else {
                    continue;
                };
                let expires = head.created + self.cfg.delivery_timeout;
                if !may_drain(&topic.name, pid) {
                    // Not in the transaction yet: a candidate again, so the pass after
                    // AddPartitionsToTxn answers (its completion wakes the sender) sends it.
                    st.index.mark(pid);
                    arm_expiry(&mut st.index, q, pid, expires);
                    continue;
                }
                let leader = meta
                    .and_then(|m| m.partition(pid))
                    .map(|p| p.leader)
                    .filter(|l| *l >= 0 && cluster.brokers.contains_key(l));
                let Some(leader) = leader else {
                    pass.unknown_leader = true;
                    st.index.mark(pid);
                    continue;
                };
                if let Some(at) = head.retry_at
                    && at > now
                {
                    set_wake(&mut pass.next_wake, at);
                    st.index.at(at.min(expires), pid);
                    continue;
                }
                // A resend goes alone, after everything before it has answered, so sequences
                // reach the broker in order. The answer marks the partition again.
                let waits_for_answer = (head.sequence.is_some() && q.in_flight > 0)
                    || sequence.is_some_and(|id| !q.seq.may_pipeline(id, q.in_flight));
                if waits_for_answer {
                    arm_expiry(&mut st.index, q, pid, expires);
                    continue;
                }
                let ready = force
                    || head.attempts > 0
                    || q.batches.len() > 1
                    || head.size() >= self.cfg.batch_size
                    // linger.ms=0 sends now: a batch created after `now` was read must not wait
                    // for the next millisecond timer tick.
                    || self.cfg.linger.is_zero()
                    || head.created + self.cfg.linger <= now;
                if !ready {
                    let at = head.created + self.cfg.linger;
                    set_wake(&mut pass.next_wake, at);
                    st.index.at(at.min(expires), pid);
                    continue;
                }
                if full(leader) {
                    st.index.park(leader, pid);
                    arm_expiry(&mut st.index, q, pid, expires);
                    continue;
                }
                let entry = per_node.entry(leader).or_default();
                if !entry.1.is_empty() && entry.0 + head.size() > self.cfg.max_request_size {
                    st.index.mark(pid);
                    continue;
                }
                let Some(mut batch) = q.batches.pop_front() else {
                    continue;
                };
                if let Some(current) = sequence
                    && batch.sequence.is_none()
                {
                    batch.sequence = Some(q.seq.assign(current, batch.record_count()));
                }
                batch.closed = true;
                q.last_batch = u32::try_from(batch.size()).unwrap_or(u32::MAX);
                q.in_flight += 1;
                if let Some(s) = batch.sequence {
                    q.seq.sent(s.base_sequence);
                }
                entry.0 += batch.size();
                entry.1.push(batch);
                if !q.batches.is_empty() {
                    st.index.mark(pid);
                }
            }
            if let Some(at) = st.index.next_due() {
                set_wake(&mut pass.next_wake, at);
            }
        }
        pass.drained = per_node
            .into_iter()
            .map(|(node, (_, batches))| Drained { node, batches })
            .collect();
        pass
    }

    /// Called once a drained batch's request has answered and the batch has been completed or
    /// put back (so a knock-on sequence error of a later batch always finds it somewhere).
    /// Records that a drained batch's request answered: the partition may send again.
    #[cfg(any(test, feature = "bench-internals"))]
    pub(crate) fn done_in_flight(&self, topic: &str, partition: i32, sequence: Option<i32>) {
        self.done_in_flight_all([Answered {
            topic,
            partition,
            sequence,
            acknowledged: None,
        }]);
    }

    /// `done_in_flight` for every batch of an answered request, with
    /// the acknowledgements among them: one topic lookup and lock per run of one topic's
    /// batches (a request holds them topic by topic), not one per batch (a lock per batch was
    /// contended with the sending threads' appends at 10,000 partitions).
    pub(crate) fn done_in_flight_all<'a>(&self, batches: impl IntoIterator<Item = Answered<'a>>) {
        let mut batches = batches.into_iter().peekable();
        while let Some(&Answered { topic: name, .. }) = batches.peek() {
            let t = self.topic(name);
            let mut st = t.lock();
            let st = &mut *st;
            while let Some(b) = batches.next_if(|b| b.topic == name) {
                if let Some(q) = st.partitions.get_mut(b.partition as usize) {
                    q.in_flight = q.in_flight.saturating_sub(1);
                    if let Some(s) = b.sequence {
                        q.seq.answered(s);
                    }
                    // The broker now has state for this producer and epoch on the partition
                    // and checks every later sequence.
                    if let Some(s) = b.acknowledged {
                        q.seq.acknowledged(s);
                    }
                    if !q.batches.is_empty() {
                        st.index.mark(b.partition);
                    }
                }
            }
        }
    }

    /// Whether a batch of the same partition with a lower sequence is still in flight or queued
    /// for a resend: then OUT_OF_ORDER_SEQUENCE_NUMBER for `batch` is a knock-on effect of that
    /// batch's failure, not lost data.
    pub(crate) fn has_pending_predecessor(&self, batch: &ProducerBatch) -> bool {
        let Some(mine) = batch.sequence else {
            return false;
        };
        let t = self.topic(&batch.shared.topic);
        let st = t.lock();
        let Some(q) = st.partitions.get(batch.partition() as usize) else {
            return false;
        };
        q.seq.has_lower_in_flight(mine)
            || q.batches
                .iter()
                .filter_map(|b| b.sequence)
                .any(|s| s.epoch == mine.epoch && PartitionSequences::precedes(s, mine))
    }

    /// Puts a batch back for another attempt, ahead of unsent batches and in sequence order
    /// among other resends.
    pub(crate) fn reenqueue(&self, batch: ProducerBatch) {
        let t = self.topic(&batch.shared.topic);
        let mut st = t.lock();
        let p = batch.partition() as usize;
        if st.partitions.len() <= p {
            st.partitions.resize_with(p + 1, PartitionQueue::default);
        }
        let q = &mut st.partitions[p];
        let seq = batch.sequence.map(|s| s.base_sequence);
        let pos = q
            .batches
            .iter()
            .position(|b| match (b.sequence, seq) {
                (None, _) => true,
                (Some(other), Some(mine)) => sequence_precedes(mine, other.base_sequence),
                (Some(_), None) => false,
            })
            .unwrap_or(q.batches.len());
        q.batches.insert(pos, batch);
        st.index.mark(p as i32);
        drop(st);
        self.wakeup.notify_one();
    }

    /// After an epoch bump (KIP-360): every partition restarts at sequence 0 and every queued
    /// batch is renumbered when next drained. Only called with nothing in flight.
    pub(crate) fn reset_sequences(&self) {
        for t in self.all_topics() {
            let mut st = t.lock();
            let st = &mut *st;
            for (p, q) in st.partitions.iter_mut().enumerate() {
                q.seq.reset();
                for b in q.batches.iter_mut() {
                    b.sequence = None;
                }
                if !q.batches.is_empty() {
                    st.index.mark(p as i32);
                }
            }
        }
    }
}
