//! KafkaProducer: partitioner, RecordAccumulator, Sender, idempotence and compression.
//!
//! A send appends the record to its partition's open batch (one short lock, no task wake per
//! record); the sender task sends batches when they are full, after `linger.ms`, or on flush,
//! one Produce request per broker.

pub(crate) mod accumulator; // pub(crate) for `bench_support`
mod batch;
mod buffer_pool;
pub(crate) mod delivery; // pub(crate) for `bench_support`
mod idempotence;
mod partitioner;
mod ready_index;
mod record;
mod response;
mod send_all;
mod sender;
mod transaction;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tracing::Instrument;

use crate::config::PartitionerKind;
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::RecordBatchBuilder;
use accumulator::{Accumulator, AccumulatorConfig, Append, TopicQueues};
use delivery::Callback;
pub use delivery::DeliveryFuture;
pub use partitioner::{Partitioner, RoundRobinPartitioner, default_partition_for_key};
pub use record::{IntoTopic, ProducerRecord, RecordMetadata, SendError};
pub use send_all::SendAllSummary;
use sender::{SenderConfig, SenderShared};

/// Batch header bytes: a record must fit in `max.request.size` together with one.
const BATCH_OVERHEAD: usize = 61;
/// Varint widths of offset/timestamp deltas are unknown before the record lands in a batch.
const DELTA_SLACK: usize = 16;

/// A Kafka producer. Cheap to clone; clones share one accumulator, sender and connections.
///
/// Create it inside a tokio runtime (it spawns its sender task there).
///
/// Call [`close`](Self::close) before the runtime ends. Dropping the last handle without it
/// stops new sends and lets the sender task deliver what is queued in the background; if the
/// runtime shuts down first, those records are lost (their futures and callbacks never
/// complete). The drop logs a warning with the number of records still undelivered.
#[derive(Clone)]
pub struct KafkaProducer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<SenderShared>,
    acc: Arc<Accumulator>,
    net: Arc<NetworkClient>,
    partitioner: Option<Arc<dyn Partitioner>>,
    ignore_keys: bool,
    max_block: Duration,
    max_request_size: usize,
    sender: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// `trace.context.propagation`: add W3C trace headers to each record appended.
    #[cfg(feature = "otel")]
    trace_propagation: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: stop accepting records; the sender delivers what is queued
        // and then exits, if the runtime lives long enough.
        let closed_before = self.acc.is_closed();
        self.acc.close();
        if !closed_before {
            let (records, batches) = self.acc.undelivered();
            if batches > 0 {
                tracing::warn!(
                    queued_records = records,
                    undelivered_batches = batches,
                    "KafkaProducer dropped without close(): {records} queued records ({batches} \
                     batches, queued or in flight) are still being delivered in the background \
                     and are lost if the runtime shuts down first; call close(timeout)"
                );
            }
        }
    }
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer").finish_non_exhaustive()
    }
}

/// Builds a [`KafkaProducer`] with a custom partitioner.
pub struct KafkaProducerBuilder {
    config: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
}

impl KafkaProducerBuilder {
    /// Uses `partitioner` for every record without an explicit partition (keyed or not).
    pub fn partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(partitioner);
        self
    }

    /// Starts the producer. Errors: [`Error::InvalidArgument`] outside a tokio runtime or for a
    /// `compression.type` this build lacks.
    pub fn build(self) -> Result<KafkaProducer> {
        KafkaProducer::start(self.config, self.partitioner)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn level_for(config: &ProducerConfig, codec: Compression) -> Option<i32> {
    match codec {
        Compression::Gzip if config.compression_gzip_level >= 0 => {
            Some(config.compression_gzip_level)
        }
        Compression::Zstd => Some(config.compression_zstd_level),
        _ => None,
    }
}

impl KafkaProducer {
    /// Starts a producer with `config`'s partitioner (`partitioner.class`).
    ///
    /// Connects lazily: the first send fetches metadata. Errors as
    /// [`KafkaProducerBuilder::build`].
    ///
    /// Example: [producing guide](crate::guide::producing#sending-one-record).
    pub fn new(config: ProducerConfig) -> Result<KafkaProducer> {
        KafkaProducer::builder(config).build()
    }

    /// A builder, to plug in a custom [`Partitioner`].
    ///
    /// Example: [producing guide](crate::guide::producing#configuring-and-starting).
    pub fn builder(config: ProducerConfig) -> KafkaProducerBuilder {
        KafkaProducerBuilder {
            config,
            partitioner: None,
        }
    }

    fn start(
        config: ProducerConfig,
        partitioner: Option<Arc<dyn Partitioner>>,
    ) -> Result<KafkaProducer> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidArgument("KafkaProducer must be created inside a tokio runtime".into())
        })?;
        let compression = Compression::from_str(&config.compression_type)
            .map_err(|e| Error::InvalidArgument(format!("compression.type: {e}")))?;
        let partitioner = partitioner.or_else(|| match config.partitioner {
            PartitionerKind::RoundRobin => {
                Some(Arc::new(RoundRobinPartitioner::new()) as Arc<dyn Partitioner>)
            }
            _ => None,
        });
        let net = Arc::new(NetworkClient::with_kind("producer", &config.common));
        // Listed from the start, so that a snapshot shows every producer metric.
        let sensors = net.metrics().producer().clone();
        sensors
            .buffer_available
            .record(config.buffer_memory.min(u32::MAX as usize) as f64);
        net.set_allow_auto_topic_creation(true);
        let acc = Arc::new(Accumulator::new(
            AccumulatorConfig {
                batch_size: config.batch_size.max(1),
                linger: config.linger,
                compression,
                compression_level: level_for(&config, compression),
                delivery_timeout: config.delivery_timeout,
                max_request_size: config.max_request_size,
                adaptive: config.partitioner_adaptive_partitioning_enable,
                transactional: config.transactional_id.is_some(),
            },
            config.buffer_memory,
        ));
        let pool = acc.pool.clone();
        crate::metrics::ProducerSensors::list_buffer_available(net.metrics(), move || {
            pool.available() as f64
        });
        let txn = config.transactional_id.clone().map(|id| {
            Arc::new(transaction::TransactionManager::new(
                net.clone(),
                id,
                config.transaction_timeout,
            ))
        });
        let shared = Arc::new(SenderShared::new(
            net.clone(),
            acc.clone(),
            SenderConfig {
                acks: config.acks.as_i16(),
                request_timeout: config.common.request_timeout,
                max_in_flight: config.max_in_flight_requests_per_connection.max(1),
                retries: config.retries,
                idempotent: config.enable_idempotence,
                delivery_timeout: config.delivery_timeout,
                batch_size: config.batch_size.max(1),
                transaction_timeout: config.transaction_timeout,
                max_block: config.max_block,
            },
            txn,
        ));
        let sender = runtime.spawn(sender::run(shared.clone()));
        Ok(KafkaProducer {
            inner: Arc::new(Inner {
                shared,
                acc,
                net,
                partitioner,
                ignore_keys: config.partitioner_ignore_keys,
                max_block: config.max_block,
                max_request_size: config.max_request_size,
                sender: std::sync::Mutex::new(Some(sender)),
                #[cfg(feature = "otel")]
                trace_propagation: config.trace_context_propagation,
            }),
        })
    }

    /// A snapshot of this client's metrics, with Java's names, groups and tags (see
    /// [`crate::metrics`] for the list and units). Reads atomically per sensor; no request is
    /// made.
    ///
    /// Example: [observability guide](crate::guide::observability#metrics).
    pub fn metrics(&self) -> Vec<crate::metrics::Metric> {
        self.inner.net.metrics().snapshot()
    }

    /// Sends `record` and waits for its acknowledgement (per `acks`).
    ///
    /// Errors: those of [`enqueue`](Self::enqueue) (the record is dropped; use `enqueue` to get
    /// it back), then the delivery error: [`Error::DeliveryTimeout`] after
    /// `delivery.timeout.ms`, or the broker's non-retriable error.
    ///
    /// Example: [producing guide](crate::guide::producing#sending-one-record).
    ///
    /// # Cancel safety
    /// Once the record is enqueued, dropping this future does not cancel delivery.
    pub async fn send(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        let span = match crate::spans::maybe_enabled() {
            true => self.send_span(&record),
            false => tracing::Span::none(),
        };
        if span.is_disabled() {
            return self.enqueue(record).await?.await;
        }
        let sent = async {
            let fut = self.append(record, None).await?;
            fut.expect("an append without a callback always yields a future")
                .await
        }
        .instrument(span.clone())
        .await;
        if let Ok(md) = &sent {
            span.record("messaging.destination.partition.id", md.partition);
            span.record("messaging.kafka.offset", md.offset);
        }
        sent
    }

    fn send_span(&self, record: &ProducerRecord) -> tracing::Span {
        crate::spans::send(
            &record.topic,
            record.partition,
            self.inner.net.metrics().client_id(),
        )
    }

    /// Appends `record` to its batch and returns a future for its delivery. Waits at most
    /// `max.block.ms` for the topic's metadata and for `buffer.memory` space.
    ///
    /// Errors (with the record handed back): [`Error::Timeout`] when metadata or memory did not
    /// come in time, [`Error::RecordTooLarge`] for a record over `max.request.size` or
    /// `buffer.memory`, [`Error::InvalidArgument`] for a partition that does not exist,
    /// [`Error::UserCode`] when the custom [`Partitioner`] panicked (nothing is enqueued; the
    /// producer keeps working), [`Error::Closed`] after `close`.
    ///
    /// Example: [producing guide](crate::guide::producing#many-records-in-flight).
    ///
    /// # Cancel safety
    /// Cancel safe: dropped before it completes, the record was not enqueued (and is lost
    /// with the future). The returned [`DeliveryFuture`] may be dropped without cancelling
    /// delivery.
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture, SendError> {
        // Spans off (the usual case), the append future is awaited bare, in place: a disabled
        // span, its `Instrumented` wrapper or one more async layer cost 6-10% of a 100 B
        // record's instructions (BENCHMARKS.md). The traced path is boxed so that this
        // future holds no `Span` when spans are off.
        let fut = if crate::spans::maybe_enabled() {
            Box::pin(self.append_traced(record, None)).await?
        } else {
            self.append(record, None).await?
        };
        Ok(fut.expect("an append without a callback always yields a future"))
    }

    /// `append` inside a `send` span (when a subscriber enables it).
    async fn append_traced(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<Option<DeliveryFuture>, SendError> {
        let span = self.send_span(&record);
        if span.is_disabled() {
            self.append(record, callback).await
        } else {
            self.append(record, callback).instrument(span).await
        }
    }

    /// Appends `record` and runs `callback` with its delivery result. The callback runs on the
    /// producer's sender task: keep it short and never block in it.
    ///
    /// A panic in the callback is caught and logged at error level; the other records of its
    /// batch, their callbacks, and the producer are not affected.
    ///
    /// Errors as [`enqueue`](Self::enqueue), in which case the callback is not called.
    ///
    /// Example: [producing guide](crate::guide::producing#many-records-in-flight).
    ///
    /// # Cancel safety
    /// As [`enqueue`](Self::enqueue).
    pub async fn send_with_callback<F>(
        &self,
        record: ProducerRecord,
        callback: F,
    ) -> Result<(), SendError>
    where
        F: FnOnce(Result<RecordMetadata>) + Send + 'static,
    {
        let callback: Callback = Box::new(callback);
        if crate::spans::maybe_enabled() {
            return Box::pin(self.append_traced(record, Some(callback)))
                .await
                .map(|_| ());
        }
        self.append(record, Some(callback)).await.map(|_| ())
    }

    async fn append(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<Option<DeliveryFuture>, SendError> {
        let inner = &*self.inner;
        let fail = |error: Error, record: ProducerRecord| {
            Err(SendError {
                error,
                record: Box::new(record),
            })
        };
        if inner.acc.is_closed() {
            return fail(Error::Closed, record);
        }
        if let Some(tm) = &inner.shared.txn
            && let Err(e) = tm.check_send()
        {
            return fail(e, record);
        }
        // max.block.ms runs from the first wait: the fast path (metadata known, buffer free)
        // reads no clock.
        let mut deadline = None;
        let mut deadline = || *deadline.get_or_insert_with(|| Instant::now() + inner.max_block);
        let topic = inner.acc.topic(&record.topic);
        let mut num_partitions = topic.num_partitions();
        if num_partitions == 0 {
            match self.wait_for_topic(&topic, deadline()).await {
                Ok(n) => num_partitions = n,
                Err(e) => return fail(e, record),
            }
        }
        // Here, not in `send`: inside the `send` span when it is on, so that the receiver's
        // spans hang under it, and before the size is taken, which the headers are part of.
        #[cfg(feature = "otel")]
        let record = if inner.trace_propagation {
            let mut record = record;
            crate::otel::inject(&mut record.headers);
            record
        } else {
            record
        };
        let size = RecordBatchBuilder::estimate_record_size(
            0,
            0,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        ) + DELTA_SLACK;
        if size + BATCH_OVERHEAD > inner.max_request_size {
            return fail(
                Error::RecordTooLarge {
                    size: size + BATCH_OVERHEAD,
                    limit: inner.max_request_size,
                    setting: "max.request.size",
                },
                record,
            );
        }
        // A record's batch holds a batch header too, and must fit in buffer.memory.
        if size + BATCH_OVERHEAD > inner.acc.pool.total() {
            return fail(
                Error::RecordTooLarge {
                    size: size + BATCH_OVERHEAD,
                    limit: inner.acc.pool.total(),
                    setting: "buffer.memory",
                },
                record,
            );
        }
        let partition = match self.choose_partition(&record, num_partitions) {
            Ok(p) => p,
            Err(e) => return fail(e, record),
        };
        let mut callback = callback;
        let mut reserved = 0;
        let mut timestamp = record.timestamp.unwrap_or_else(now_ms);
        loop {
            match inner.acc.append(
                &topic,
                partition,
                &record,
                timestamp,
                size,
                reserved,
                &mut callback,
            ) {
                Ok(Append::Done(appended)) => {
                    if appended.wake_sender {
                        inner.acc.wakeup.notify_one();
                    }
                    return Ok(appended.future);
                }
                Ok(Append::NeedsMemory(n)) => {
                    // Wait outside every lock; the append then takes these bytes (or gives them
                    // back if another caller opened a batch with room meanwhile).
                    let waited = Instant::now();
                    let reserved_in_time = inner.acc.pool.reserve(n, deadline()).await;
                    inner
                        .shared
                        .metrics
                        .buffer_wait
                        .record(waited.elapsed().as_secs_f64());
                    if !reserved_in_time {
                        return fail(
                            Error::Timeout(format!(
                                "no {n} bytes of buffer.memory ({} bytes) free within \
                                 max.block.ms ({} ms)",
                                inner.acc.pool.total(),
                                inner.max_block.as_millis()
                            )),
                            record,
                        );
                    }
                    reserved = n;
                    // Stamped when appended, not before the wait.
                    timestamp = record.timestamp.unwrap_or_else(now_ms);
                }
                Err(e) => return fail(e, record),
            }
        }
    }

    fn choose_partition(&self, record: &ProducerRecord, n: i32) -> Result<Option<i32>> {
        let p = match (record.partition, &self.inner.partitioner, &record.key) {
            (Some(p), _, _) => p,
            // Before any `buffer.memory` is reserved: a panic fails this send and holds nothing.
            (None, Some(user), key) => crate::user_code::call("partitioner", || {
                user.partition(&record.topic, key.as_deref(), record.value.as_deref(), n)
            })?,
            (None, None, Some(key)) if !self.inner.ignore_keys => {
                partitioner::keyed_partition(key, n)
            }
            (None, None, _) => return Ok(None),
        };
        if p < 0 || p >= n {
            return Err(Error::InvalidArgument(format!(
                "partition {p} of topic {} does not exist ({n} partitions)",
                record.topic
            )));
        }
        Ok(Some(p))
    }

    /// Waits for the topic to appear in metadata (auto-created if the broker allows it).
    async fn wait_for_topic(&self, topic: &TopicQueues, deadline: Instant) -> Result<i32> {
        let net = &self.inner.net;
        net.add_topics(&[&*topic.name]);
        let mut attempt = 0;
        loop {
            let last = match tokio::time::timeout_at(deadline, net.metadata()).await {
                Ok(Ok(cluster)) => match cluster.topic(&topic.name) {
                    Some(t) if t.error.is_none() && !t.partitions.is_empty() => {
                        let n = t.partitions.len() as i32;
                        topic.set_num_partitions(n);
                        return Ok(n);
                    }
                    Some(t) => t.error.map(|c| c.to_string()).unwrap_or_default(),
                    None => "not in metadata".into(),
                },
                Ok(Err(e)) if e.is_security_failure() => return Err(e),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "metadata request did not finish".into(),
            };
            attempt += 1;
            let wait = net.retry_backoff(attempt);
            if Instant::now() + wait >= deadline {
                return Err(Error::Timeout(format!(
                    "topic {} not present in metadata after max.block.ms ({} ms): {last}",
                    topic.name,
                    self.inner.max_block.as_millis()
                )));
            }
            net.request_update();
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends every record enqueued before this call without waiting for `linger.ms`, and waits
    /// until each has completed (acknowledged or failed).
    ///
    /// Example: [producing guide](crate::guide::producing#many-records-in-flight).
    ///
    /// # Cancel safety
    /// Cancel safe: records keep being delivered.
    pub async fn flush(&self) {
        let acc = &self.inner.acc;
        acc.begin_flush();
        struct EndFlush<'a>(&'a Accumulator);
        impl Drop for EndFlush<'_> {
            fn drop(&mut self) {
                self.0.end_flush();
            }
        }
        let _guard = EndFlush(acc);
        for batch in acc.incomplete() {
            batch.wait().await;
        }
    }

    /// Stops accepting records, delivers what is queued, and stops the sender. Whatever is
    /// not delivered within `timeout` completes with [`Error::DeliveryTimeout`] (saying
    /// whether it may have been written). Later sends fail with [`Error::Closed`].
    ///
    /// Returns within `timeout` plus a few milliseconds whatever the brokers do (a broker
    /// that never answers, or a connection attempt that hangs, is abandoned).
    ///
    /// Example: [producing guide](crate::guide::producing#sending-one-record).
    ///
    /// # Cancel safety
    /// Dropped early, delivery goes on in the background (bounded by `delivery.timeout.ms`).
    pub async fn close(&self, timeout: Duration) {
        let inner = &*self.inner;
        let deadline = tokio::time::Instant::now() + timeout;
        inner.acc.close();
        let flushed = tokio::time::timeout_at(deadline, self.flush())
            .await
            .is_ok();
        if !flushed {
            inner.shared.force_close.store(true, Ordering::Release);
            inner.acc.wakeup.notify_one();
        }
        let handle = inner
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut h) = handle {
            // The sender loop never waits on a broker, so it ends at once when told to; the
            // bound only guards against a loop that cannot be scheduled.
            let grace = deadline.max(tokio::time::Instant::now()) + Duration::from_millis(20);
            if tokio::time::timeout_at(grace, &mut h).await.is_err() {
                h.abort();
                sender::force_fail_all(&inner.shared);
            }
        }
        inner.net.close();
    }
}

#[cfg(all(test, feature = "mock"))]
mod mock_tests;
#[cfg(test)]
mod tests;
