//! `KafkaConsumer::partition_streams`: one ordered stream per assigned partition, so that
//! partitions are processed in parallel tasks while each stays in offset order.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::{ConsumerRecord, ConsumerRecords, KafkaConsumer, OffsetAndMetadata, Offsets};
use crate::error::{Error, Result};
use crate::types::TopicPartition;

/// How long one poll under the driver waits: short, so that a commit or a stream that has
/// room again gets the consumer back soon.
const DRIVER_POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// `None`: the poll was cut short (a stream has room again, or the driver is being dropped).
type PollFuture<'a> = Pin<
    Box<dyn Future<Output = (&'a mut KafkaConsumer, Option<Result<ConsumerRecords>>)> + Send + 'a>,
>;

enum State<'a> {
    Idle(&'a mut KafkaConsumer),
    Polling(PollFuture<'a>),
    /// Only while switching between the two above.
    Empty,
}

/// One partition's assignment, shared by the driver, the consumer's revocation hook, the
/// partition's stream and its ackers. A partition assigned again gets a new lane, so acks
/// made for an earlier assignment never count for a later one.
struct Lane {
    state: Mutex<LaneState>,
    /// Wakes the driver (shared by every lane of one driver).
    wake: Arc<Notify>,
    capacity: usize,
}

struct LaneState {
    /// `None` once the partition was revoked or lost, or the driver dropped: the stream ends.
    tx: Option<mpsc::Sender<ConsumerRecord>>,
    /// The offset after the last acked record: what a commit takes.
    acked: Option<OffsetAndMetadata>,
    /// The offset after the last record the stream returned.
    returned: Option<i64>,
    /// The driver holds records for this lane and waits for room in the channel.
    driver_waits: bool,
}

impl Lane {
    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the stream; returns what was acked.
    fn end(&self) -> Option<OffsetAndMetadata> {
        let mut st = self.lock();
        st.tx = None;
        st.acked.clone()
    }
}

/// The live lanes by partition, for the consumer's revocation hook. The consumer holds it
/// weakly: once the driver is dropped the hook does nothing.
#[derive(Default)]
pub(super) struct Registry(Mutex<BTreeMap<TopicPartition, Arc<Lane>>>);

impl Registry {
    fn lanes(&self) -> MutexGuard<'_, BTreeMap<TopicPartition, Arc<Lane>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn acked(&self) -> Offsets {
        self.lanes()
            .iter()
            .filter_map(|(tp, lane)| Some((tp.clone(), lane.lock().acked.clone()?)))
            .collect()
    }
}

impl KafkaConsumer {
    /// One [`PartitionStream`] per assigned partition, driven by the returned
    /// [`PartitionStreams`], which borrows the consumer until dropped.
    ///
    /// `per_partition_capacity` is how many records (at least 1) wait in each partition's
    /// stream. When a stream is full the driver pauses its partition and holds the records it
    /// could not hand over (at most one poll's worth, `max.poll.records`), so a slow partition
    /// never holds up the others and memory stays bounded.
    ///
    /// Commits: the application marks records processed ([`PartitionStream::ack`]); the
    /// driver commits, per partition, the offset after the last acked record, on
    /// [`PartitionStreams::commit_sync`] and before partitions are revoked (never what was
    /// only fetched). Acks made after a partition was revoked or lost are not committed.
    ///
    /// Errors: [`Error::InvalidArgument`] when `per_partition_capacity` is 0, or when
    /// `enable.auto.commit` is true (it would commit records fetched but not processed).
    ///
    /// Example: [consuming guide](crate::guide::consuming#ordered-parallel-processing-partition_streams).
    ///
    /// ```no_run
    /// # async fn run(mut consumer: ferrokafka::KafkaConsumer) -> ferrokafka::Result<()> {
    /// use std::time::Duration;
    ///
    /// consumer.subscribe(["orders"])?; // with enable.auto.commit=false
    /// let mut streams = consumer.partition_streams(100)?;
    /// let mut commit_every = tokio::time::interval(Duration::from_secs(5));
    /// loop {
    ///     tokio::select! {
    ///         stream = streams.next_partition() => {
    ///             let Some(mut stream) = stream.transpose()? else { break };
    ///             tokio::spawn(async move {
    ///                 // Ends when the partition is revoked (None).
    ///                 while let Some(record) = stream.next().await {
    ///                     // ... process `record`, in offset order ...
    ///                     stream.ack(&record);
    ///                 }
    ///             });
    ///         }
    ///         _ = commit_every.tick() => streams.commit_sync().await?,
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn partition_streams(
        &mut self,
        per_partition_capacity: usize,
    ) -> Result<PartitionStreams<'_>> {
        if per_partition_capacity == 0 {
            return Err(Error::InvalidArgument(
                "per_partition_capacity must be at least 1".into(),
            ));
        }
        if self.config.enable_auto_commit {
            return Err(Error::InvalidArgument(
                "partition_streams needs enable.auto.commit=false: it commits acked records".into(),
            ));
        }
        let registry = Arc::new(Registry::default());
        self.partition_lanes = Arc::downgrade(&registry);
        Ok(PartitionStreams {
            state: State::Idle(self),
            d: Dispatch {
                registry,
                lanes: BTreeMap::new(),
                ready: VecDeque::new(),
                capacity: per_partition_capacity,
                wake: Arc::new(Notify::new()),
            },
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Ends the streams of `parts` (called before the rebalance listener); when handed over
    /// cleanly (`commit`), commits what their tasks acked first, so that the next owner starts
    /// after it.
    pub(super) async fn end_partition_streams(&mut self, parts: &[TopicPartition], commit: bool) {
        let Some(registry) = self.partition_lanes.upgrade() else {
            return;
        };
        let acked: Offsets = {
            let mut lanes = registry.lanes();
            parts
                .iter()
                .filter_map(|tp| Some((tp.clone(), lanes.remove(tp)?.end()?)))
                .collect()
        };
        if commit
            && !acked.is_empty()
            && let Err(e) = self.commit_offsets_sync(acked).await
        {
            tracing::warn!(error = %e, "commit of acked records before revocation failed");
        }
    }
}

/// The driver's side of one lane.
struct Local {
    lane: Arc<Lane>,
    /// Records the stream had no room for; the partition is paused while there are any.
    held: VecDeque<ConsumerRecord>,
    /// The offset of the first record handed to this lane.
    first: Option<i64>,
    paused: bool,
}

struct Dispatch {
    registry: Arc<Registry>,
    lanes: BTreeMap<TopicPartition, Local>,
    /// Streams of newly assigned partitions, not yet returned by `next_partition`.
    ready: VecDeque<PartitionStream>,
    capacity: usize,
    wake: Arc<Notify>,
}

impl Dispatch {
    fn open(&mut self, tp: &TopicPartition) -> &mut Local {
        let (tx, rx) = mpsc::channel(self.capacity);
        let lane = Arc::new(Lane {
            state: Mutex::new(LaneState {
                tx: Some(tx),
                acked: None,
                returned: None,
                driver_waits: false,
            }),
            wake: Arc::clone(&self.wake),
            capacity: self.capacity,
        });
        self.registry.lanes().insert(tp.clone(), Arc::clone(&lane));
        self.ready.push_back(PartitionStream {
            tp: tp.clone(),
            rx,
            lane: Arc::clone(&lane),
            ended: false,
        });
        self.lanes.entry(tp.clone()).or_insert(Local {
            lane,
            held: VecDeque::new(),
            first: None,
            paused: false,
        })
    }

    /// Follows the assignment: forgets the lanes that ended (revoked or lost while polling)
    /// and opens one per partition assigned since. `cut_short`: the poll was dropped before
    /// it returned (no records).
    fn sync(&mut self, consumer: &mut KafkaConsumer, cut_short: bool) {
        let assigned = consumer.subs.assigned();
        let mut registry = self.registry.lanes();
        let mut rewind = Vec::new();
        self.lanes.retain(|tp, l| {
            let keep = l.lane.lock().tx.is_some() && assigned.contains(tp);
            if !keep {
                let acked = l.lane.end().map(|a| a.offset);
                if registry.get(tp).is_some_and(|r| Arc::ptr_eq(r, &l.lane)) {
                    registry.remove(tp);
                }
                if cut_short && assigned.contains(tp) {
                    rewind.push((tp.clone(), acked.or(l.first), l.paused));
                }
            }
            keep
        });
        drop(registry);
        // Ended but assigned still, the poll cut short: maybe between the revocation and the
        // new assignment, the position still after the records the old stream held (dropped
        // unprocessed). The new stream starts after the acked ones. A poll that returned went
        // through the new assignment, positioned at the committed offset.
        for (tp, back, paused) in rewind {
            let position = consumer.subs.state(&tp).ok().and_then(|s| s.position);
            if let Some(back) = back
                && position != Some(back)
                && let Err(e) = consumer.seek(&tp, back)
            {
                tracing::warn!(%e, %tp, "partition stream ended: could not seek back");
            }
            if paused {
                let _ = consumer.resume(std::slice::from_ref(&tp));
            }
        }
        for tp in assigned {
            if !self.lanes.contains_key(&tp) {
                self.open(&tp);
            }
        }
    }

    /// Takes in what the driver's poll ended with (`None`: cut short before it returned):
    /// lanes follow the assignment, records go to their lanes; a poll's error is handed back.
    fn take_in(
        &mut self,
        consumer: &mut KafkaConsumer,
        result: Option<Result<ConsumerRecords>>,
    ) -> Option<Error> {
        self.sync(consumer, result.is_none());
        match result {
            Some(Ok(records)) => {
                self.dispatch(consumer, records);
                None
            }
            Some(Err(e)) => Some(e),
            None => None,
        }
    }

    fn dispatch(&mut self, consumer: &mut KafkaConsumer, records: ConsumerRecords) {
        for r in records {
            let tp = r.topic_partition();
            if !self.lanes.contains_key(&tp) {
                self.open(&tp);
            }
            let Some(local) = self.lanes.get_mut(&tp) else {
                continue;
            };
            local.first.get_or_insert(r.offset);
            let mut st = local.lane.lock();
            let r = match (&st.tx, local.held.is_empty()) {
                (Some(tx), true) => match tx.try_send(r) {
                    Ok(()) => continue,
                    Err(e) => e.into_inner(),
                },
                _ => r,
            };
            local.held.push_back(r);
            // Set with the failed send under one lock: the stream then surely wakes the driver.
            st.driver_waits = true;
            drop(st);
            if !local.paused {
                local.paused = true;
                // Stops further fetches' records for it; what it holds is at most this poll's.
                if let Err(e) = consumer.pause(std::slice::from_ref(&tp)) {
                    tracing::debug!(%e, %tp, "could not pause a full partition stream");
                }
            }
        }
    }

    /// Hands held records over to streams that have room again; resumes the partitions whose
    /// held records are all handed over.
    fn flush(&mut self, consumer: &mut KafkaConsumer) {
        for (tp, local) in &mut self.lanes {
            if local.held.is_empty() {
                continue;
            }
            let mut st = local.lane.lock();
            while let Some(r) = local.held.pop_front() {
                let Some(tx) = &st.tx else {
                    local.held.clear();
                    break;
                };
                if let Err(e) = tx.try_send(r) {
                    local.held.push_front(e.into_inner());
                    break;
                }
            }
            st.driver_waits = !local.held.is_empty();
            drop(st);
            if local.held.is_empty() && local.paused {
                local.paused = false;
                if let Err(e) = consumer.resume(std::slice::from_ref(tp)) {
                    tracing::debug!(%e, %tp, "could not resume a partition stream");
                }
            }
        }
    }
}

/// The driver of [`KafkaConsumer::partition_streams`]: polls the consumer, hands each record
/// to its partition's [`PartitionStream`] and returns the stream of each newly assigned
/// partition from [`next_partition`](Self::next_partition) (also a `futures_core::Stream` of
/// them). Records flow only while it is driven: keep calling `next_partition` (e.g. in a
/// `tokio::select!` loop) even when no partition is expected. It polls while the tasks work,
/// so slow processing does not make the member miss `max.poll.interval.ms`.
///
/// A partition revoked or lost in a rebalance, or given up by [`unsubscribe`](Self::unsubscribe),
/// ends its stream: `next()` returns `None` at once; records still waiting in it are dropped
/// (not processed, not committed: the next owner reads them again). A partition assigned again
/// gets a new stream, which starts after the records acked on the old one.
///
/// Dropping the driver ends every stream (the same way) and seeks each partition back to the
/// first record its stream did not return, so the consumer's next poll (or the next driver)
/// reads them again; it resumes the partitions it paused and does not commit.
///
/// # Cancel safety
/// [`next_partition`](Self::next_partition) is cancel safe: a poll in flight lives in the
/// driver, not in the dropped future, and a stream not yet returned stays queued here, so no
/// record or stream is lost or repeated.
pub struct PartitionStreams<'a> {
    state: State<'a>,
    d: Dispatch,
    /// Set when dropped: cuts a poll in flight short so that the consumer comes back.
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PartitionStreams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionStreams")
            .field("partitions", &self.d.lanes.len())
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl PartitionStreams<'_> {
    /// The stream of the next newly assigned partition. Never `None`; a poll error is returned
    /// once as `Some(Err)`, and the next call goes on polling.
    ///
    /// # Cancel safety
    /// Cancel safe (see [`PartitionStreams`]).
    pub async fn next_partition(&mut self) -> Option<Result<PartitionStream>> {
        std::future::poll_fn(|cx| self.poll_next_partition(cx)).await
    }

    /// Records fetched and held by the driver because their stream was full (all partitions).
    /// At most one poll's worth (`max.poll.records`) per partition.
    pub fn held(&self) -> usize {
        self.d.lanes.values().map(|l| l.held.len()).sum()
    }

    /// Commits, for each partition owned now, the offset after the last record acked on its
    /// stream, waiting for the answer. Waits first for a poll in flight (at most about 100 ms
    /// plus a group join); its records are handed over as usual.
    ///
    /// Errors: those of [`KafkaConsumer::commit_offsets_sync`] (e.g. without `group.id`); a
    /// poll error met while waiting is returned here.
    ///
    /// # Cancel safety
    /// The commit may still be applied when the future is dropped; the driver stays usable.
    pub async fn commit_sync(&mut self) -> Result<()> {
        self.idle_consumer().await?;
        let offsets = self.d.registry.acked();
        let consumer = self.idle_consumer().await?;
        if offsets.is_empty() {
            return Ok(());
        }
        consumer.commit_offsets_sync(offsets).await
    }

    /// Leaves the group ([`KafkaConsumer::unsubscribe`]): commits what was acked on every
    /// stream, then ends them all.
    ///
    /// Errors: those of [`KafkaConsumer::unsubscribe`]; a poll error met while waiting for a
    /// poll in flight.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`KafkaConsumer::unsubscribe`].
    pub async fn unsubscribe(&mut self) -> Result<()> {
        let r = self.idle_consumer().await?.unsubscribe().await;
        if let State::Idle(c) = &mut self.state {
            self.d.sync(c, false);
        }
        r
    }

    /// Waits for a poll in flight, hands its records over, and returns the consumer.
    async fn idle_consumer(&mut self) -> Result<&mut KafkaConsumer> {
        if let State::Polling(fut) = &mut self.state {
            let (consumer, result) = fut.as_mut().await;
            let error = self.d.take_in(consumer, result);
            // Idle again before the error goes out: the finished poll must not be polled
            // again (a panic), and the consumer must not be lost with it.
            self.state = State::Idle(consumer);
            if let Some(e) = error {
                return Err(e);
            }
        }
        match &mut self.state {
            State::Idle(c) => Ok(&mut **c),
            _ => Err(Error::Closed),
        }
    }

    fn poll_next_partition(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<PartitionStream>>> {
        loop {
            if let Some(s) = self.d.ready.pop_front() {
                return Poll::Ready(Some(Ok(s)));
            }
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(consumer) => {
                    self.d.flush(consumer);
                    let wake = Arc::clone(&self.d.wake);
                    let stop = Arc::clone(&self.stop);
                    self.state = State::Polling(Box::pin(async move {
                        let r = tokio::select! {
                            biased;
                            () = std::future::poll_fn(|_| match stop.load(Ordering::Acquire) {
                                true => Poll::Ready(()),
                                false => Poll::Pending,
                            }) => None,
                            () = wake.notified() => None,
                            r = consumer.poll(DRIVER_POLL_TIMEOUT) => Some(r),
                        };
                        (consumer, r)
                    }));
                }
                State::Polling(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = State::Polling(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready((consumer, result)) => {
                        let error = self.d.take_in(consumer, result);
                        self.state = State::Idle(consumer);
                        if let Some(e) = error {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                },
                // Unreachable: every arm above leaves a state behind.
                State::Empty => return Poll::Ready(None),
            }
        }
    }
}

impl futures_core::Stream for PartitionStreams<'_> {
    type Item = Result<PartitionStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_partition(cx)
    }
}

impl Drop for PartitionStreams<'_> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let consumer = match std::mem::replace(&mut self.state, State::Empty) {
            State::Idle(c) => c,
            // The stop branch is polled first and is ready: the poll (cancel safe) is dropped
            // and the consumer comes back at once, without a waker.
            State::Polling(mut fut) => {
                match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready((c, _)) => c,
                    Poll::Pending => return,
                }
            }
            State::Empty => return,
        };
        for (tp, local) in std::mem::take(&mut self.d.lanes) {
            let returned = {
                let mut st = local.lane.lock();
                st.tx = None;
                st.returned
            };
            let owned = consumer.subs.state(&tp).ok().map(|s| s.position);
            if let (Some(position), Some(back)) = (owned, returned.or(local.first))
                && position != Some(back)
                && let Err(e) = consumer.seek(&tp, back)
            {
                tracing::warn!(%e, %tp, "partition streams dropped: could not seek back");
            }
            if local.paused {
                let _ = consumer.resume(std::slice::from_ref(&tp));
            }
        }
        self.d.registry.lanes().clear();
    }
}

/// The records of one assigned partition, in offset order, from [`PartitionStreams`].
/// `'static` and `Send`: move it into a task of its own.
///
/// Ends (`None`) when the partition is revoked, lost or unsubscribed, or the driver is
/// dropped; records not yet returned then are dropped, to be read again by the next owner.
///
/// # Cancel safety
/// [`next`](Self::next) is cancel safe: a record is taken from the channel only when it is
/// returned.
pub struct PartitionStream {
    tp: TopicPartition,
    rx: mpsc::Receiver<ConsumerRecord>,
    lane: Arc<Lane>,
    ended: bool,
}

impl std::fmt::Debug for PartitionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionStream")
            .field("partition", &self.tp)
            .field("waiting", &self.rx.len())
            .finish_non_exhaustive()
    }
}

impl PartitionStream {
    /// The partition this stream reads.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The next record, or `None` once the stream has ended. Same as `StreamExt::next`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<ConsumerRecord> {
        std::future::poll_fn(|cx| self.poll_record(cx)).await
    }

    /// Marks `record` and every record before it in this stream processed: the driver's next
    /// commit takes the offset after it. Returns false (and counts nothing) when the record
    /// was not returned by this stream, or the partition is no longer owned (revoked, lost,
    /// driver dropped).
    pub fn ack(&self, record: &ConsumerRecord) -> bool {
        ack(&self.tp, &self.lane, record)
    }

    /// A cheap cloneable handle that acks as [`ack`](Self::ack), for records processed by
    /// other tasks.
    pub fn acker(&self) -> Acker {
        Acker {
            tp: self.tp.clone(),
            lane: Arc::clone(&self.lane),
        }
    }

    fn poll_record(&mut self, cx: &mut Context<'_>) -> Poll<Option<ConsumerRecord>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let r = match self.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let mut st = self.lane.lock();
        let Some(r) = r.filter(|_| st.tx.is_some()) else {
            self.ended = true;
            self.rx.close();
            return Poll::Ready(None);
        };
        st.returned = Some(r.offset + 1);
        if st.driver_waits && self.rx.len() < self.lane.capacity.div_ceil(2) {
            st.driver_waits = false;
            self.lane.wake.notify_one();
        }
        Poll::Ready(Some(r))
    }
}

impl futures_core::Stream for PartitionStream {
    type Item = ConsumerRecord;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_record(cx)
    }
}

/// Acks records of one [`PartitionStream`] from anywhere (see [`PartitionStream::ack`]).
#[derive(Clone)]
pub struct Acker {
    tp: TopicPartition,
    lane: Arc<Lane>,
}

impl std::fmt::Debug for Acker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acker")
            .field("partition", &self.tp)
            .finish()
    }
}

impl Acker {
    /// As [`PartitionStream::ack`].
    pub fn ack(&self, record: &ConsumerRecord) -> bool {
        ack(&self.tp, &self.lane, record)
    }
}

fn ack(tp: &TopicPartition, lane: &Lane, record: &ConsumerRecord) -> bool {
    if record.partition != tp.partition || *record.topic != *tp.topic {
        return false;
    }
    let mut st = lane.lock();
    let returned = st.returned.is_some_and(|n| record.offset < n);
    if st.tx.is_none() || !returned {
        return false;
    }
    let next = record.offset + 1;
    if st.acked.as_ref().is_none_or(|a| a.offset < next) {
        st.acked = Some(OffsetAndMetadata {
            offset: next,
            leader_epoch: record.leader_epoch,
            metadata: String::new(),
        });
    }
    true
}
