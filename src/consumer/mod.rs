//! KafkaConsumer: SubscriptionState, fetcher with prefetch, ConsumerCoordinator (classic group
//! protocol with range, roundrobin, sticky and cooperative-sticky assignors), commits and the
//! rebalance listener.

pub(crate) mod assignor;
mod background;
mod coordinator;
pub(crate) mod decode;
mod fetcher;
mod listener;
mod offset_lookup;
pub(crate) mod offsets;
mod partition_stream;
mod pattern;
mod positions;
mod rebalance;
mod reconcile;
mod record;
mod stream;
mod subscription;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{ConsumerConfig, IsolationLevel};
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use coordinator::{ConsumerCoordinator, commit_offsets, fetch_committed, issue_commit};
#[doc(hidden)]
pub use fetcher::FetchStats;
use fetcher::{FetchConfig, Fetcher};
use listener::ListenerSlot;
pub use listener::RebalanceListener;
pub use offsets::OffsetAndTimestamp;
pub use partition_stream::{Acker, PartitionStream, PartitionStreams};
use rebalance::Callback;
pub use record::{
    ConsumerGroupMetadata, ConsumerRecord, ConsumerRecords, OffsetAndMetadata, Offsets,
};
pub use stream::RecordStream;
use subscription::{PositionSource, SubscriptionState};

pub use crate::types::TopicPartition;

/// Java's default close timeout.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Callback for [`KafkaConsumer::commit_async`]: the committed offsets, or why not.
pub type CommitCallback = Box<dyn FnOnce(Result<Offsets>) + Send + 'static>;

/// A Kafka consumer. One owner: every method takes `&mut self` (as Java's consumer is not
/// thread safe); run it in one task and hand records to others.
///
/// Create it inside a tokio runtime.
pub struct KafkaConsumer {
    net: Arc<NetworkClient>,
    config: ConsumerConfig,
    subs: SubscriptionState,
    fetcher: Fetcher,
    coordinator: Option<ConsumerCoordinator>,
    listener: ListenerSlot,
    /// The first listener panic not yet reported: `poll` returns it once the rebalance that
    /// ran the listener has completed (Java's KafkaException from a listener).
    listener_error: Option<Error>,
    next_auto_commit: Instant,
    async_commits: tokio::task::JoinSet<()>,
    /// Partition counts of the subscribed topics when the group last assigned; a change
    /// (partitions added, a topic created) triggers a rebalance, as Java's coordinator does.
    assigned_counts: BTreeMap<String, usize>,
    /// A finished join whose assignment is not fully applied yet (a poll dropped during the
    /// cooperative revocation runs it again).
    joined: Option<coordinator::Joined>,
    committed_lookup: Option<positions::CommittedLookup>,
    /// KIP-320 position checks in flight, if any.
    validation: validate::Validation,
    /// The pattern of [`subscribe_pattern`](Self::subscribe_pattern), if that is how this
    /// consumer subscribed.
    pattern: Option<pattern::TopicPattern>,
    /// When the rebalance in progress started (`rebalance-latency`).
    rebalance_started: Option<std::time::Instant>,
    /// The lanes of a live `partition_streams` driver, ended on revocation.
    partition_lanes: std::sync::Weak<partition_stream::Registry>,
    closed: bool,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConsumer")
            .field("group_id", &self.config.group_id)
            .field("assignment", &self.subs.assigned())
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    /// Creates a consumer. Connects lazily (on the first poll or lookup).
    ///
    /// Errors: [`Error::InvalidArgument`] outside a tokio runtime.
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    pub fn new(config: ConsumerConfig) -> Result<KafkaConsumer> {
        tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidArgument("KafkaConsumer must be created inside a tokio runtime".into())
        })?;
        let net = Arc::new(NetworkClient::with_kind("consumer", &config.common));
        // Listed from the start, so that a snapshot shows every consumer metric.
        net.metrics().fetch();
        if config.group_id.is_some() {
            net.metrics().coordinator();
        }
        net.set_allow_auto_topic_creation(config.allow_auto_create_topics);
        let coordinator = config
            .group_id
            .clone()
            .map(|g| ConsumerCoordinator::new(net.clone(), g, &config));
        Ok(KafkaConsumer {
            fetcher: Fetcher::new(net.clone(), FetchConfig::from_config(&config)),
            subs: SubscriptionState::new(config.auto_offset_reset),
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            net,
            coordinator,
            listener: ListenerSlot::default(),
            listener_error: None,
            async_commits: tokio::task::JoinSet::new(),
            assigned_counts: BTreeMap::new(),
            joined: None,
            committed_lookup: None,
            validation: validate::Validation::default(),
            pattern: None,
            rebalance_started: None,
            partition_lanes: std::sync::Weak::new(),
            closed: false,
            config,
        })
    }

    /// A snapshot of this client's metrics, with Java's names, groups and tags (see
    /// [`crate::metrics`] for the list and units). Reads atomically per sensor; no request is
    /// made.
    ///
    /// Example: [observability guide](crate::guide::observability#metrics).
    pub fn metrics(&self) -> Vec<crate::metrics::Metric> {
        self.net.metrics().snapshot()
    }

    /// A `process` span for `record`, following OpenTelemetry's messaging conventions
    /// (destination, partition, offset, consumer group, client id); enter it (or instrument
    /// a future with it) while the application handles the record. Target
    /// `ferrokafka::messaging`, level DEBUG: a disabled span when that is filtered out.
    ///
    /// With `trace.context.propagation` (feature `otel`) the span is a child of the producer's
    /// context carried by the record's `traceparent` header (see `ferrokafka::otel`); set no
    /// other parent on it before entering it.
    ///
    /// Example: [observability guide](crate::guide::observability#tracing-spans-and-events).
    pub fn process_span(&self, record: &ConsumerRecord) -> tracing::Span {
        let span = crate::spans::process(
            record,
            self.net.metrics().client_id(),
            self.config.group_id.as_deref(),
        );
        #[cfg(feature = "otel")]
        if self.config.trace_context_propagation && !span.is_disabled() {
            crate::otel::set_parent(&span, record);
        }
        span
    }

    fn group(&self) -> Result<&ConsumerCoordinator> {
        self.coordinator
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("this needs group.id to be set".into()))
    }

    fn api_deadline(&self) -> Instant {
        Instant::now() + self.config.default_api_timeout
    }

    /// Subscribes to `topics` as a member of `group.id` (replacing any earlier subscription);
    /// partitions are assigned by the group at the next `poll`.
    ///
    /// Errors: [`Error::InvalidArgument`] without `group.id`, or after [`assign`](Self::assign).
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.group()?;
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.iter().any(|t| t.is_empty()) {
            return Err(Error::InvalidArgument("empty topic name".into()));
        }
        self.net
            .add_topics(&topics.iter().cloned().collect::<Vec<_>>());
        self.subs.subscribe(topics)?;
        self.pattern = None;
        self.net.set_all_topics(false);
        if let Some(c) = &self.coordinator {
            c.request_rejoin();
        }
        Ok(())
    }

    /// As [`subscribe`](Self::subscribe), with a listener run inside `poll` on every rebalance.
    ///
    /// Example: [groups guide](crate::guide::groups#the-rebalance-listener).
    pub fn subscribe_with<I, S, L>(&mut self, topics: I, listener: L) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        L: RebalanceListener,
    {
        self.subscribe(topics)?;
        self.listener.set(Box::new(listener));
        Ok(())
    }

    /// Reads exactly `partitions`, outside any group rebalancing. New partitions start at the
    /// group's committed offset when `group.id` is set, else per `auto.offset.reset`.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn assign<I: IntoIterator<Item = TopicPartition>>(&mut self, partitions: I) -> Result<()> {
        let source = if self.coordinator.is_some() {
            PositionSource::Committed
        } else {
            self.subs.default_reset()
        };
        let parts: Vec<TopicPartition> = partitions.into_iter().collect();
        self.net
            .add_topics(&parts.iter().map(|tp| tp.topic.clone()).collect::<Vec<_>>());
        let assigned = self.subs.assign_manual(parts, source);
        self.forget_unassigned();
        assigned
    }

    /// Drops the per-partition metrics of partitions no longer assigned (as Java does).
    fn forget_unassigned(&mut self) {
        let gone = self.subs.take_unassigned();
        let m = self.net.metrics();
        if let Some(fetch) = m.fetch_if_created() {
            fetch.remove_partitions(&gone);
        }
    }

    /// Stops reading: revokes the assignment (listener, auto-commit) and leaves the group.
    ///
    /// Errors: [`Error::UserCode`] when the listener panicked (the group was left anyway).
    ///
    /// Example: [groups guide](crate::guide::groups#group-state-from-outside).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped midway, the group may not have been left.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.revoke_all().await;
        self.subs.unsubscribe();
        self.forget_unassigned();
        self.pattern = None;
        self.net.set_all_topics(false);
        self.joined = None;
        self.committed_lookup = None;
        if let Some(c) = &mut self.coordinator {
            c.abort_join();
            c.leave("the consumer unsubscribed").await;
        }
        self.listener_error.take().map_or(Ok(()), Err)
    }

    /// The partitions assigned now.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.subs.assigned()
    }

    /// The group membership (generation, member id), or `None` without a `group.id`. With
    /// `group.protocol=consumer` the generation is the member epoch (-1 while not a member).
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#consume-transform-produce).
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let c = self.coordinator.as_ref()?;
        let st = c.shared.state();
        Some(ConsumerGroupMetadata {
            group_id: c.shared.group_id.clone(),
            generation_id: st.generation,
            member_id: st.member_id.clone(),
            group_instance_id: c.shared.instance_id.clone(),
        })
    }

    /// The subscribed topics (empty with a manual assignment).
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn subscription(&self) -> BTreeSet<String> {
        self.subs.subscribed_topics().cloned().unwrap_or_default()
    }

    /// Fetches records: joins or rejoins the group when needed (running the rebalance
    /// listener), looks up positions, and returns what has arrived, at most
    /// `max.poll.records`, waiting up to `timeout` for some.
    ///
    /// Errors: [`Error::NoOffsetForPartition`] with `auto.offset.reset=none`, group errors
    /// that retries could not clear, corrupt record data, [`Error::BatchTooLarge`] for a batch
    /// that decodes to more than the consumer holds for one (a decompression bomb). A
    /// partition's error comes after the records before it, and only once those are returned;
    /// other partitions keep flowing. [`Error::UserCode`] when the rebalance listener panicked:
    /// the rebalance still completes (the new assignment holds and the listener stays
    /// installed), that poll returns the error instead of records, and the next poll goes on
    /// as usual.
    ///
    /// Memory: fetched data is decoded a step (about 1 MiB) at a time off the runtime's worker
    /// threads, as `poll` takes records; what is decoded and not yet returned stays under 258
    /// MiB with the default `max.partition.fetch.bytes` (two steps' worth at most, each at most
    /// 1 MiB plus twice the per-batch limit of [`Error::BatchTooLarge`]).
    ///
    /// `timeout` saturates: `Duration::MAX` waits until records arrive. A group join
    /// (JoinGroup, which the broker holds until every member rejoined, up to their
    /// `max.poll.interval.ms`, then SyncGroup) and the lookup of committed offsets run in the
    /// background (KIP-266): `poll` returns (empty) when `timeout` passes while they run, and a
    /// later `poll` takes their outcome. Only the rebalance listener, a commit before
    /// revocation and a ListOffsets reset may hold it past `timeout`.
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    ///
    /// # Cancel safety
    /// Cancel safe: records are taken from the buffer (and positions advanced) only after the
    /// last await, and returned at once, so a dropped poll loses nothing; a join or offset
    /// lookup in progress goes on and the next call takes its outcome. Tested by
    /// `tests/consumer.rs::poll_cancelled_at_random_points_delivers_every_record_once` and
    /// `a_join_made_of_cancelled_polls_completes`.
    pub async fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        let span = crate::spans::receive(
            self.net.metrics().client_id(),
            self.config.group_id.as_deref(),
        );
        let records = self.poll_records(timeout).instrument(span.clone()).await;
        // Rebalances happen inside the poll.
        self.forget_unassigned();
        if let (Ok(r), false) = (&records, span.is_disabled()) {
            span.record("messaging.batch.message_count", r.len());
            #[cfg(feature = "otel")]
            if self.config.trace_context_propagation {
                crate::otel::add_links(&span, r.iter());
            }
        }
        records
    }

    async fn poll_records(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        if self.closed {
            return Err(Error::Closed);
        }
        let deadline = deadline_after(timeout);
        if let Some(c) = &self.coordinator {
            c.record_poll();
        }
        loop {
            // Joins and committed-offset lookups run on tasks of their own: these only look
            // whether they finished (KIP-266), and the wait below wakes when one does.
            self.rematch_pattern();
            self.ensure_group().await?;
            if let Some(e) = self.listener_error.take() {
                return Err(e);
            }
            self.update_positions(Instant::now()).await?;
            // The last await of an iteration: a metadata refresh (when due) happens before any
            // record is taken, so a poll dropped anywhere loses nothing.
            let cluster =
                match tokio::time::timeout_at(deadline, self.net.metadata_detached()).await {
                    Ok(Ok(c)) => c,
                    _ => self.net.cluster(),
                };
            self.validate_positions(&cluster).await?;
            self.maybe_auto_commit();
            self.fetcher.drain_responses(&self.subs);
            let records = self.fetcher.collect(&mut self.subs)?;
            self.fetcher.send_fetches(&self.subs, &cluster);
            // Decodes ahead what this poll took, for the next one.
            self.fetcher.start_decoding(&self.subs);
            if !records.is_empty() {
                self.net
                    .metrics()
                    .fetch()
                    .records
                    .record(records.len() as f64);
                return Ok(ConsumerRecords::new(records));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(ConsumerRecords::default());
            }
            // Wake for data, a rebalance, or to look again at positions and commits.
            let until = deadline.min(now + Duration::from_millis(100));
            match &self.coordinator {
                Some(c) => {
                    let shared = c.shared.clone();
                    tokio::select! {
                        _ = self.fetcher.wait(&self.subs, until) => {}
                        _ = shared.wake.notified() => {}
                    }
                }
                None => self.fetcher.wait(&self.subs, until).await,
            }
        }
    }

    fn read_committed(&self) -> bool {
        self.config.isolation_level == crate::config::IsolationLevel::ReadCommitted
    }

    fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || self.coordinator.is_none() {
            return;
        }
        let now = Instant::now();
        if now < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = now + self.config.auto_commit_interval;
        self.commit_async(None);
    }

    fn consumed_offsets(&self) -> Offsets {
        self.subs
            .positions()
            .into_iter()
            .map(|(tp, (offset, epoch))| {
                (
                    tp,
                    OffsetAndMetadata {
                        offset,
                        leader_epoch: epoch,
                        metadata: String::new(),
                    },
                )
            })
            .collect()
    }

    /// Commits the position of every assigned partition (the offset after the last record
    /// `poll` returned), waiting for the answer.
    ///
    /// Errors: [`Error::Broker`] with ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID when the group
    /// rebalanced (Java's CommitFailedException), a timeout after `default.api.timeout.ms`.
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    ///
    /// # Cancel safety
    /// The commit may still be applied when the future is dropped.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.consumed_offsets();
        self.commit_offsets_sync(offsets).await
    }

    /// Commits `offsets` (each the next offset to read), waiting for the answer.
    ///
    /// Errors as [`commit_sync`](Self::commit_sync).
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#consume-transform-produce).
    ///
    /// # Cancel safety
    /// As [`commit_sync`](Self::commit_sync).
    pub async fn commit_offsets_sync(&mut self, offsets: Offsets) -> Result<()> {
        let deadline = self.api_deadline();
        let shared = self.group()?.shared.clone();
        let ticket = issue_commit(&shared, &offsets);
        let managed = self.subs.subscribed_topics().is_some();
        commit_offsets(&shared, &offsets, ticket, managed, deadline).await
    }

    /// Commits every position in the background; `callback` (if any) gets the outcome.
    /// Commits made this way finish before `close` returns.
    ///
    /// Commits (async and sync) reach the coordinator in the order they are made, and a
    /// retried commit never overtakes a later one: a partition committed again by a later call
    /// is left to that call, so committed offsets never go backward. A retriable error is
    /// retried within `default.api.timeout.ms` (Java does not retry async commits).
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    pub fn commit_async(&mut self, callback: Option<CommitCallback>) {
        let offsets = self.consumed_offsets();
        let Some(c) = &self.coordinator else {
            if let Some(cb) = callback {
                let err = Error::InvalidArgument("commit needs group.id".into());
                let _ = crate::user_code::call("commit callback", || cb(Err(err)));
            }
            return;
        };
        let shared = c.shared.clone();
        let deadline = self.api_deadline();
        // Issued now, in call order: a later commit (async or sync) is never overtaken.
        let ticket = issue_commit(&shared, &offsets);
        let managed = self.subs.subscribed_topics().is_some();
        while self.async_commits.try_join_next().is_some() {}
        self.async_commits.spawn(async move {
            let r = commit_offsets(&shared, &offsets, ticket, managed, deadline).await;
            if let Err(e) = &r {
                tracing::debug!(error = %e, "async commit failed");
            }
            if let Some(cb) = callback {
                // Logged at error level if it panics; the commit itself is done.
                let _ = crate::user_code::call("commit callback", || cb(r.map(|()| offsets)));
            }
        });
    }

    /// The committed offsets of `partitions` for this group (`None`: nothing committed).
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let deadline = self.api_deadline();
        let shared = self.group()?.shared.clone();
        fetch_committed(&shared, partitions, deadline).await
    }

    /// How many records `partition` is behind its log end: the high watermark (the last stable
    /// offset with `isolation.level=read_committed`) its last fetch reported, minus the
    /// position. No request is made (Java's `currentLag`).
    ///
    /// `None` when the partition is not assigned, has no position yet, or no fetch has
    /// answered for it since it was assigned.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn lag(&self, partition: &TopicPartition) -> Option<i64> {
        let state = self.subs.assignment().get(partition)?;
        let end = match self.config.isolation_level {
            IsolationLevel::ReadCommitted => state.last_stable_offset,
            IsolationLevel::ReadUncommitted => state.high_watermark,
        };
        let position = state.position?;
        (end >= 0).then_some(end - position)
    }

    /// Counters of the Fetch requests sent so far. Not a stable API: for tests and benchmarks.
    #[doc(hidden)]
    pub fn fetch_stats(&self) -> FetchStats {
        self.fetcher.stats()
    }

    /// Turns incremental fetch sessions (KIP-227, on by default) off or back on. Not a stable
    /// API: it exists to measure what sessions save; Java has no such setting.
    #[doc(hidden)]
    pub fn set_fetch_sessions(&mut self, on: bool) {
        self.fetcher.set_sessions(on);
    }

    /// Makes the next poll read `partition` from `offset`.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        self.subs.seek(partition, offset)?;
        self.fetcher.discard_stale(&self.subs);
        Ok(())
    }

    /// Makes the next poll read these partitions from their first offset.
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#commit-and-abort).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.request_position(tp, PositionSource::Earliest)?;
        }
        self.fetcher.discard_stale(&self.subs);
        Ok(())
    }

    /// Makes the next poll read these partitions from their end (new records only).
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.request_position(tp, PositionSource::Latest)?;
        }
        self.fetcher.discard_stale(&self.subs);
        Ok(())
    }

    /// The offset of the next record `poll` will return for `partition`, looking it up first
    /// if needed.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn position(&mut self, partition: &TopicPartition) -> Result<i64> {
        let deadline = self.api_deadline();
        loop {
            if let Some(p) = self.subs.state(partition)?.position {
                return Ok(p);
            }
            self.update_positions(deadline).await?;
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!(
                    "position of {partition} not found within default.api.timeout.ms"
                )));
            }
            if self.subs.state(partition)?.position.is_none() {
                tokio::time::sleep(self.net.retry_backoff(1)).await;
            }
        }
    }

    /// Stops returning records of these partitions until [`resume`](Self::resume).
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.state_mut(tp)?.paused = true;
        }
        Ok(())
    }

    /// Undoes [`pause`](Self::pause).
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.state_mut(tp)?.paused = false;
        }
        Ok(())
    }

    /// The paused partitions.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    pub fn paused(&self) -> BTreeSet<TopicPartition> {
        self.subs
            .assignment()
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Closes with Java's default timeout (30 s): see [`close_with_timeout`](Self::close_with_timeout).
    ///
    /// Example: [consuming guide](crate::guide::consuming#subscribing-in-a-group).
    ///
    /// # Cancel safety
    /// As [`close_with_timeout`](Self::close_with_timeout).
    pub async fn close(&mut self) -> Result<()> {
        self.close_with_timeout(DEFAULT_CLOSE_TIMEOUT).await
    }

    /// Commits positions (with auto-commit on), runs the listener's revocation, waits for
    /// pending async commits and leaves the group, all within `timeout`.
    ///
    /// Errors: [`Error::Timeout`] when `timeout` ran out, else the commit's error, else
    /// [`Error::UserCode`] for a listener panic not yet reported (the consumer closes anyway).
    ///
    /// Example: [groups guide](crate::guide::groups#group-state-from-outside).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped midway, the group may not have been left (the coordinator
    /// then removes this member after `session.timeout.ms`).
    pub async fn close_with_timeout(&mut self, timeout: Duration) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let work = async {
            let result = if self.config.enable_auto_commit && self.coordinator.is_some() {
                let offsets = self.consumed_offsets();
                self.commit_offsets_sync(offsets).await
            } else {
                Ok(())
            };
            if self.subs.subscribed_topics().is_some() {
                let owned: Vec<TopicPartition> = self.subs.assigned().into_iter().collect();
                if !owned.is_empty() {
                    self.run_listener(Callback::Revoked, &owned).await;
                }
            }
            while self.async_commits.join_next().await.is_some() {}
            if let Some(c) = &mut self.coordinator {
                c.close().await;
            }
            let listener_error = self.listener_error.take();
            result.and(listener_error.map_or(Ok(()), Err))
        };
        let r = tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout("close did not finish in time".into())));
        self.net.close();
        r
    }
}

/// `now + timeout`, saturated: `poll(Duration::MAX)` (Java's `poll(Long.MAX_VALUE)`) waits
/// as long as it takes instead of overflowing the clock.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        // About 30 years: later than any process lives, and representable on every platform.
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

#[cfg(test)]
mod tests;
