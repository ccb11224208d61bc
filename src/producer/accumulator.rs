//! RecordAccumulator: per-partition deques of batches, filled by callers and drained by the
//! sender. No I/O here.
//!
//! One short lock per appended record (the topic's), which also covers the sticky partitioner's
//! state; the sender is woken once per new or full batch, never per record.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::batch::{ProducerBatch, SequenceInfo};
use super::buffer_pool::{BufferPool, POOLED_BYTES};
use super::delivery::{BatchShared, Callback, DeliveryFuture, RecordInfo};
use super::idempotence::{PartitionSequences, sequence_precedes};
use super::partitioner::{PartitionLoads, StickyState};
use super::ready_index::ReadyIndex;
use super::record::ProducerRecord;
use crate::error::{Error, Result};
use crate::network::metadata::{Cluster, TopicMeta};
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::BATCH_HEADER_LEN;

/// The least a new batch reserves and allocates first (unless `batch.size` is smaller). Batches
/// start at what their partition's last batch held and grow in doublings up to `batch.size`:
/// a producer writing to more partitions than `buffer.memory / batch.size` would otherwise run
/// out of memory with every batch nearly empty (issue #19: 32 MiB held 32 batches of the
/// bench's 1 MiB, and 100 partitions waited for memory on every 33rd record; at 10,000
/// partitions even Java's 16 KiB held only 2,048).
const MIN_FIRST_ALLOCATION: usize = POOLED_BYTES;

/// Settings the accumulator needs, from [`ProducerConfig`](crate::ProducerConfig).
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub batch_size: usize,
    pub linger: Duration,
    pub compression: Compression,
    pub compression_level: Option<i32>,
    pub delivery_timeout: Duration,
    pub max_request_size: usize,
    pub adaptive: bool,
    /// Batches are written with the transactional bit (`transactional.id` is set).
    pub transactional: bool,
}

#[derive(Default)]
pub(crate) struct PartitionQueue {
    batches: VecDeque<ProducerBatch>,
    /// Batches of this partition in requests not yet answered.
    pub in_flight: u32,
    /// Sequence numbers (idempotence); the rules live with the producer id in
    /// [`super::idempotence`].
    seq: PartitionSequences,
    /// The delivery deadline of the head an expiry timer is set for: one timer per head.
    expiry_armed: Option<Instant>,
    /// Size of this partition's last batch when it was drained (0 before): what its next
    /// batch allocates first ([`Accumulator::batch_allocation`]).
    last_batch: u32,
}

pub(crate) struct TopicState {
    /// From metadata; 0 while unknown.
    pub num_partitions: i32,
    partitions: Vec<PartitionQueue>,
    /// Which partitions a drain looks at.
    index: ReadyIndex,
    sticky: StickyState,
    rng: fastrand::Rng,
}

pub(crate) struct TopicQueues {
    pub name: Arc<str>,
    /// Mirror of `TopicState::num_partitions`, read without the lock on the append path.
    known_partitions: AtomicI32,
    state: Mutex<TopicState>,
}

impl TopicQueues {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, TopicState> {
        // Appends and drains are single pushes/pops; a panic cannot leave the deque torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Partition count from metadata; 0 while unknown.
    pub(crate) fn num_partitions(&self) -> i32 {
        self.known_partitions.load(Ordering::Acquire)
    }

    /// Records a (possibly grown) partition count; partitions never shrink in Kafka.
    pub(crate) fn set_num_partitions(&self, n: i32) {
        let mut st = self.lock();
        if n > st.num_partitions {
            st.num_partitions = n;
            self.known_partitions.store(n, Ordering::Release);
        }
    }
}

/// What an append did, so the caller knows whether to wake the sender.
pub(crate) struct Appended {
    pub future: Option<DeliveryFuture>,
    pub wake_sender: bool,
}

/// The outcome of [`Accumulator::append`].
pub(crate) enum Append {
    Done(Appended),
    /// The record needs a new batch and `buffer.memory` lacks the bytes for it right now: the
    /// caller waits for this many, then appends again with them reserved.
    NeedsMemory(usize),
}

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

pub(crate) struct Accumulator {
    pub cfg: AccumulatorConfig,
    /// This accumulator's number, for [`LAST_TOPIC`].
    id: u64,
    topics: RwLock<HashMap<Arc<str>, Arc<TopicQueues>, foldhash::fast::RandomState>>,
    pub pool: Arc<BufferPool>,
    /// Woken on a full batch, on a new one the sender would otherwise find late (see
    /// `sender_wake`), on flush and on close.
    pub wakeup: Notify,
    /// Guards every batch not known to be complete, in creation order (what `flush` waits
    /// for). A list, not a map: a push per new batch and an amortized walk to prune, where a
    /// hash map's insert and retain cost 4% of the producer's samples at 10,000 partitions
    /// (a batch per record or two there, issue #19).
    incomplete: Mutex<Vec<Arc<BatchShared>>>,
    /// `incomplete`'s length at which the next prune walks it: twice what the last one kept, so
    /// pruning after every request costs O(1) amortized, not O(batches queued).
    prune_at: AtomicUsize,
    flushing: AtomicUsize,
    closed: AtomicBool,
    /// The producer id and epoch of the last drain: a new one can unblock every partition.
    drained_under: Mutex<Option<(i64, i16)>>,
    /// When the sender wakes on its own next, in ns since `epoch`; [`SENDER_AWAKE`] while it
    /// runs a pass. A new batch that lingers past it needs no wake-up (one per new batch cost
    /// a thread wake-up each at 1,000 partitions, issue #19): its timer is in the index, and
    /// the sender's next pass finds it. Written only by the sender.
    sender_wake: AtomicU64,
    epoch: Instant,
}

/// Numbers accumulators for [`LAST_TOPIC`].
static NEXT_ACCUMULATOR: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The topic this thread looked up last, with its accumulator's number. A sending loop
    /// mostly writes one topic: the map's lock, hash and compare per record cost 6-8% of a
    /// sending task's samples at 1,000 partitions (issue #19), and the lock's count is shared
    /// with the sender's threads. Weak, so that a thread does not keep a dropped producer's
    /// queues alive; topics are never removed from an accumulator, so a hit is always current.
    static LAST_TOPIC: RefCell<Option<(u64, Weak<TopicQueues>)>> = const { RefCell::new(None) };
}

/// `sender_wake` while the sender runs: it may have passed a topic already, so wake it.
const SENDER_AWAKE: u64 = 0;

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
    pub(crate) fn new(mut cfg: AccumulatorConfig, buffer_memory: usize) -> Accumulator {
        let pool = Arc::new(BufferPool::new(buffer_memory));
        // A batch reserves its whole allocation, which can never be more than the budget.
        cfg.batch_size = cfg.batch_size.min(pool.total()).max(1);
        Accumulator {
            cfg,
            id: NEXT_ACCUMULATOR.fetch_add(1, Ordering::Relaxed),
            topics: RwLock::new(HashMap::default()),
            pool,
            wakeup: Notify::new(),
            incomplete: Mutex::new(Vec::new()),
            prune_at: AtomicUsize::new(0),
            flushing: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            drained_under: Mutex::new(None),
            sender_wake: AtomicU64::new(SENDER_AWAKE),
            epoch: Instant::now(),
        }
    }

    /// The sender is about to sleep until `until` unless woken ([`Self::wakeup`]).
    pub(crate) fn sender_sleeps_until(&self, until: Instant) {
        let at = until.saturating_duration_since(self.epoch).as_nanos();
        let at = u64::try_from(at).unwrap_or(u64::MAX).max(SENDER_AWAKE + 1);
        self.sender_wake.store(at, Ordering::SeqCst);
    }

    /// The sender woke and runs a pass: every new batch wakes it until it sleeps again.
    pub(crate) fn sender_runs(&self) {
        self.sender_wake.store(SENDER_AWAKE, Ordering::SeqCst);
    }

    /// Whether something sendable at `at` must wake the sender: it runs now (it may have
    /// passed the partition), or sleeps past `at`. Called after `at` was put in the index,
    /// under its topic's lock: a sender that sleeps until before `at` finds it on waking.
    fn sender_sleeps_past(&self, at: Instant) -> bool {
        let at = at.saturating_duration_since(self.epoch).as_nanos();
        let at = u64::try_from(at).unwrap_or(u64::MAX);
        let wake = self.sender_wake.load(Ordering::SeqCst);
        wake == SENDER_AWAKE || wake > at
    }

    /// The topic's queues, created on first use.
    pub(crate) fn topic(&self, name: &str) -> Arc<TopicQueues> {
        // `try_with`: during a thread's exit (a producer dropped by another thread-local's
        // destructor) the cache may be gone; the map still answers.
        let last = LAST_TOPIC
            .try_with(|last| match &*last.borrow() {
                Some((id, t)) if *id == self.id => t.upgrade().filter(|t| *t.name == *name),
                _ => None,
            })
            .ok()
            .flatten();
        if let Some(t) = last {
            return t;
        }
        let t = self.lookup_topic(name);
        let _ =
            LAST_TOPIC.try_with(|last| *last.borrow_mut() = Some((self.id, Arc::downgrade(&t))));
        t
    }

    fn lookup_topic(&self, name: &str) -> Arc<TopicQueues> {
        if let Some(t) = self
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return t.clone();
        }
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        topics
            .entry(Arc::from(name))
            .or_insert_with(|| {
                Arc::new(TopicQueues {
                    name: Arc::from(name),
                    known_partitions: AtomicI32::new(0),
                    state: Mutex::new(TopicState {
                        num_partitions: 0,
                        partitions: Vec::new(),
                        index: ReadyIndex::default(),
                        sticky: StickyState::new(self.cfg.batch_size, self.cfg.adaptive),
                        rng: fastrand::Rng::new(),
                    }),
                })
            })
            .clone()
    }

    fn all_topics(&self) -> Vec<Arc<TopicQueues>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wakeup.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn begin_flush(&self) {
        self.flushing.fetch_add(1, Ordering::AcqRel);
        self.wakeup.notify_one();
    }

    pub(crate) fn end_flush(&self) {
        self.flushing.fetch_sub(1, Ordering::AcqRel);
    }

    /// Every batch not yet completed, for `flush`.
    pub(crate) fn incomplete(&self) -> Vec<Arc<BatchShared>> {
        self.incomplete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Forgets completed batches (called by the sender after completing some), once enough
    /// may have completed for the walk to pay.
    pub(crate) fn prune_incomplete(&self) {
        let mut incomplete = self.incomplete.lock().unwrap_or_else(|p| p.into_inner());
        if incomplete.len() < self.prune_at.load(Ordering::Relaxed) {
            return;
        }
        incomplete.retain(|b| !b.is_complete());
        self.prune_at
            .store((incomplete.len() * 2).max(64), Ordering::Relaxed);
    }

    pub(crate) fn has_incomplete(&self) -> bool {
        self.incomplete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|b| !b.is_complete())
    }

    /// `buffer.memory` bytes a new batch whose first record takes `size` bytes reserves: what it
    /// allocates. What the partition's last batch held (`last`) and a quarter more, at least
    /// [`MIN_FIRST_ALLOCATION`] and at most `batch.size` (the batch grows as it fills:
    /// [`Self::grow`]), or the record and a batch header when larger.
    ///
    /// The quarter: a partition's batches vary around one size, and a batch that outgrows its
    /// allocation copies every record it holds, long out of cache (with exactly `last`, half the
    /// batches did, issue #19). No more: building a batch in place keeps its spare room until
    /// it is answered.
    fn batch_allocation(&self, size: usize, last: usize) -> usize {
        (last + last / 4)
            .max(MIN_FIRST_ALLOCATION)
            .min(self.cfg.batch_size)
            .max(size + BATCH_HEADER_LEN)
    }

    /// Makes room in the open batch `b` for `size` more bytes (`b.size() + size <= batch.size`):
    /// its reservation doubles (at least to what it needs, at most to `batch.size`) with bytes
    /// from the pool, taken without waiting. False when the pool has too few: the batch is then
    /// as full as memory lets it be.
    fn grow(&self, b: &mut ProducerBatch, size: usize) -> bool {
        let need = b.size() + size;
        if need <= b.reserved {
            return true;
        }
        let want = (b.reserved * 2).min(self.cfg.batch_size).max(need);
        if !self.pool.try_reserve(want - b.reserved) {
            return false;
        }
        b.reserved = want;
        b.builder.reserve_total(want - BATCH_HEADER_LEN);
        true
    }

    /// Appends one record of at most `size` encoded bytes. `partition` is the explicit or keyed
    /// choice; `None` uses the sticky partitioner. The caller has checked that
    /// `num_partitions > 0` and that `size` fits a batch in `buffer.memory`.
    ///
    /// A record that needs a new batch reserves the batch's allocation first: from `reserved`,
    /// bytes the caller reserved after an earlier [`Append::NeedsMemory`] (0 otherwise), else
    /// from the pool without waiting. `reserved` is always used or given back; `callback` is
    /// taken only when the record is appended.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &self,
        topic: &TopicQueues,
        partition: Option<i32>,
        record: &ProducerRecord,
        timestamp: i64,
        size: usize,
        reserved: usize,
        callback: &mut Option<Callback>,
    ) -> Result<Append> {
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        let mut st = topic.lock();
        let st = &mut *st;
        let n = st.num_partitions;
        let partition = match partition {
            Some(p) => p,
            None => st.sticky.partition(n, &mut st.rng),
        };
        if partition < 0 || partition >= n {
            self.pool.release(reserved);
            return Err(Error::InvalidArgument(format!(
                "partition {partition} of topic {} does not exist ({n} partitions)",
                topic.name
            )));
        }
        if st.partitions.len() < n as usize {
            st.partitions
                .resize_with(n as usize, PartitionQueue::default);
        }
        let q = &mut st.partitions[partition as usize];
        let batch_size = self.cfg.batch_size;
        // `size` is the caller's upper bound of the record's encoded size (as Java's
        // estimate): exact enough for the fit, and not computed again.
        let fits = q.batches.back_mut().is_some_and(|b| {
            !b.closed
                && b.builder.record_count() > 0
                && b.size() + size <= batch_size
                && self.grow(b, size)
        });
        let mut wake = false;
        // A lone new batch lingers: the index gets its linger timer instead of a candidate.
        let mut lingers_until = None;
        if fits {
            // Another caller opened a batch with room while this one waited for memory.
            self.pool.release(reserved);
        } else {
            // The batch before, if still queued, is full: it is the better estimate.
            let last = q.batches.back().map_or(q.last_batch as usize, |b| b.size());
            let allocation = self.batch_allocation(size, last);
            let mut kept = None;
            let held = if reserved >= allocation {
                reserved
            } else if reserved == 0
                && allocation == POOLED_BYTES
                && let Some(buffer) = self.pool.take_free()
            {
                kept = Some(buffer);
                POOLED_BYTES
            } else {
                self.pool.release(reserved);
                if !self.pool.try_reserve(allocation) {
                    return Ok(Append::NeedsMemory(allocation));
                }
                allocation
            };
            // A kept buffer, or a new allocation of what the batch reserved.
            let buffer = kept.unwrap_or_else(|| Vec::with_capacity(held));
            let mut batch = ProducerBatch::in_buffer(
                topic.name.clone(),
                partition,
                self.cfg.compression,
                self.cfg.compression_level,
                buffer,
                Instant::now(),
            );
            batch.reserved = held;
            batch.transactional = self.cfg.transactional;
            self.incomplete
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(batch.shared.clone());
            // A new batch behind another means the one before is full: the sender can send it.
            // A transaction's first batch of a partition wakes it too, to add the partition
            // while the batch lingers.
            if q.batches.is_empty() && !self.cfg.linger.is_zero() && !self.cfg.transactional {
                lingers_until = Some(batch.created + self.cfg.linger);
            } else {
                wake = true;
            }
            q.batches.push_back(batch);
        }
        let Some(batch) = q.batches.back_mut() else {
            return Err(Error::Protocol("batch vanished while appending".into()));
        };
        let index = batch.builder.append(timestamp, key, value, &record.headers);
        if batch.size() >= batch_size {
            wake = true;
        }
        let info = RecordInfo {
            timestamp,
            key_size: key.map_or(-1, |k| k.len() as i32),
            value_size: value.map_or(-1, |v| v.len() as i32),
        };
        let future = match callback.take() {
            Some(cb) => {
                batch.callbacks.push((index, info, cb));
                None
            }
            None => Some(DeliveryFuture::new(batch.shared.clone(), index, info)),
        };
        let mut wake_sender = wake;
        if wake {
            st.index.mark(partition);
        } else if let Some(at) = lingers_until {
            st.index.at(at, partition);
            wake_sender = self.sender_sleeps_past(at);
        }
        st.sticky.on_append(partition, size);
        Ok(Append::Done(Appended {
            future,
            wake_sender,
        }))
    }

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

    /// [`done_in_flight`](Self::done_in_flight) for every batch of an answered request, with
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

    /// Records in queued (not in-flight) batches, and batches not yet completed (queued or in
    /// flight): what a producer dropped without `close` may still lose.
    pub(crate) fn undelivered(&self) -> (usize, usize) {
        let mut queued = 0;
        for t in self.all_topics() {
            let st = t.lock();
            for q in st.partitions.iter() {
                queued += q
                    .batches
                    .iter()
                    .map(|b| b.record_count() as usize)
                    .sum::<usize>();
            }
        }
        let batches = self
            .incomplete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|b| !b.is_complete())
            .count();
        (queued, batches)
    }

    /// Takes every queued batch out (close after its timeout).
    pub(crate) fn take_all(&self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for t in self.all_topics() {
            let mut st = t.lock();
            st.index.clear();
            for q in st.partitions.iter_mut() {
                out.extend(q.batches.drain(..));
                q.expiry_armed = None;
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "accumulator_tests.rs"]
mod tests;
