//! RecordAccumulator: per-partition deques of batches, filled by callers and drained by the
//! sender. No I/O here. This module holds the state and the callers' side (append, flush,
//! close); `drain` holds the sender's side (drain passes, answers, retries).
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

use super::batch::ProducerBatch;
use super::buffer_pool::{BufferPool, POOLED_BYTES};
use super::delivery::{BatchShared, Callback, DeliveryFuture, RecordInfo};
use super::idempotence::PartitionSequences;
use super::partitioner::StickyState;
use super::ready_index::ReadyIndex;
use super::record::ProducerRecord;
use crate::error::{Error, Result};
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::BATCH_HEADER_LEN;

mod drain;
pub(crate) use drain::Answered;

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
