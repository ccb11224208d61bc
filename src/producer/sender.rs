//! The Sender task: drain ready batches, send one Produce request per broker, then complete,
//! retry or fail every batch from the answer.
//!
//! The loop itself never waits on a broker. Metadata refreshes and InitProducerId run on tasks
//! of their own, and each broker has a dispatch task that connects and queues its requests in
//! drain order, so a broker that hangs (or drops SYNs) delays only its own partitions. The
//! answer of each request is handled on a task of its own (so response handling uses every
//! core). The loop only drains and schedules, waking on a new/full batch, a finished request,
//! a refresh, the linger or backoff deadline, flush or close.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::accumulator::{Accumulator, Answered};
use super::batch::{ProducerBatch, SequenceInfo};
use super::buffer_pool::BufferPool;
use super::delivery::BatchOutcome;
use super::idempotence::{IdState, IdempotenceManager};
use super::response::{
    BatchFacts, PartitionAction, PartitionAnswer, answers_in_order, partition_action,
};
use super::transaction::TransactionManager;
use crate::error::Error;
use crate::metrics::ProducerSensors;
use crate::network::{NetworkClient, Target};
use crate::protocol::messages::{ProduceRequest, ProduceResponse};
use crate::protocol::produce_request::ProduceBody;

#[derive(Debug, Clone)]
pub(crate) struct SenderConfig {
    pub acks: i16,
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    pub retries: u32,
    pub idempotent: bool,
    pub delivery_timeout: Duration,
    pub batch_size: usize,
    pub transaction_timeout: Duration,
    pub max_block: Duration,
}

/// State shared by the sender loop and its request tasks.
pub(crate) struct SenderShared {
    pub net: Arc<NetworkClient>,
    pub acc: Arc<Accumulator>,
    pub cfg: SenderConfig,
    /// Guards the count of unanswered requests per broker (`max.in.flight.requests.per.connection`).
    in_flight: Mutex<HashMap<i32, usize>>,
    pub(crate) idempotence: IdempotenceManager,
    /// With `transactional.id`: gates which partitions are drained and owns the producer id.
    pub(crate) txn: Option<Arc<TransactionManager>>,
    /// Set by `close` when its timeout ran out: fail what is left and stop.
    pub force_close: AtomicBool,
    pub(crate) metrics: Arc<ProducerSensors>,
}

impl SenderShared {
    pub(crate) fn new(
        net: Arc<NetworkClient>,
        acc: Arc<Accumulator>,
        cfg: SenderConfig,
        txn: Option<Arc<TransactionManager>>,
    ) -> Self {
        SenderShared {
            metrics: net.metrics().producer().clone(),
            net,
            acc,
            cfg,
            in_flight: Mutex::new(HashMap::new()),
            idempotence: IdempotenceManager::default(),
            txn,
            force_close: AtomicBool::new(false),
        }
    }

    fn in_flight_total(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    /// Fails every queued (undrained) batch with `err`: the transaction they belong to can
    /// only abort.
    pub(crate) fn fail_queued(&self, err: &Error) {
        self.fail_batches(self.acc.take_all(), err);
    }

    /// Completes `batches` (taken from the accumulator) with `err`.
    fn fail_batches(&self, batches: Vec<ProducerBatch>, err: &Error) {
        for b in batches {
            self.release(b, BatchOutcome::Failed(err.clone()));
        }
        self.acc.prune_incomplete();
    }

    fn release(&self, mut batch: ProducerBatch, outcome: BatchOutcome) {
        let buffer = batch.take_buffer();
        let bytes = batch.complete(outcome);
        self.acc.pool.recycle(buffer, bytes);
    }

    /// Ends a batch with `err`, or puts it back for a retry when the error is retriable and
    /// retries and `delivery.timeout.ms` allow.
    fn retry_or_fail(&self, batch: ProducerBatch, err: Error, now: Instant) {
        let retriable = err.is_retriable();
        self.retry_or_fail_as(batch, err, retriable, now);
    }

    /// As [`retry_or_fail`](Self::retry_or_fail), with the retriability decided by the caller
    /// (sequence errors are retriable only in context).
    fn retry_or_fail_as(
        &self,
        mut batch: ProducerBatch,
        err: Error,
        retriable: bool,
        now: Instant,
    ) {
        let deadline = batch.created + self.cfg.delivery_timeout;
        if retriable && batch.attempts <= self.cfg.retries && now < deadline {
            let wait = self.net.retry_backoff(batch.attempts.max(1));
            tracing::debug!(topic = %batch.shared.topic, partition = batch.partition(),
                attempts = batch.attempts, error = %err, "retrying batch");
            batch.retry_at = Some(now + wait);
            batch.last_error = Some(Box::new(err));
            self.metrics.retries.record(f64::from(batch.record_count()));
            self.acc.reenqueue(batch);
            return;
        }
        let err = if retriable && now >= deadline {
            Error::DeliveryTimeout {
                timeout_ms: self.cfg.delivery_timeout.as_millis() as u64,
                may_have_been_written: batch.maybe_written,
                reason: err.to_string(),
            }
        } else {
            err
        };
        self.fail(batch, err);
    }

    /// Fails a batch whose `delivery.timeout.ms` ran out while queued; the reason is its last
    /// error, else `idle_reason`.
    fn expire(&self, batch: ProducerBatch, idle_reason: &str) {
        let err = Error::DeliveryTimeout {
            timeout_ms: self.cfg.delivery_timeout.as_millis() as u64,
            may_have_been_written: batch.maybe_written,
            reason: batch
                .last_error
                .as_ref()
                .map_or_else(|| idle_reason.to_string(), |e| e.to_string()),
        };
        self.fail(batch, err);
    }

    fn fail(&self, batch: ProducerBatch, err: Error) {
        if let Some(tm) = &self.txn {
            // A transaction missing one of its batches must not commit.
            tm.batch_failed(&err);
        } else if self.cfg.idempotent && batch.sequence.is_some() {
            // A sent batch that will never be acknowledged leaves a sequence gap: later batches
            // of its partition can only be accepted under a new epoch.
            self.idempotence.request_bump();
        }
        tracing::debug!(topic = %batch.shared.topic, partition = batch.partition(),
            error = %err, "batch failed");
        self.metrics.errors.record(f64::from(batch.record_count()));
        self.release(batch, BatchOutcome::Failed(err));
    }
}

/// Each broker's dispatch task, fed in drain order.
#[derive(Default)]
struct Dispatchers {
    queues: HashMap<i32, mpsc::UnboundedSender<Vec<ProducerBatch>>>,
    /// Dropped with the loop (also when `close` aborts it): the tasks stop with it.
    tasks: JoinSet<()>,
}

impl Dispatchers {
    /// Hands one request's batches to `node`'s task. The queue holds at most
    /// `max.in.flight.requests.per.connection` requests: drain counts them in flight.
    fn send(&mut self, shared: &Arc<SenderShared>, node: i32, batches: Vec<ProducerBatch>) {
        let queue = self.queues.entry(node).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Vec<ProducerBatch>>();
            let shared = shared.clone();
            self.tasks.spawn(async move {
                while let Some(batches) = rx.recv().await {
                    dispatch(&shared, node, batches).await;
                }
            });
            tx
        });
        if let Err(mpsc::error::SendError(batches)) = queue.send(batches) {
            // The task is gone (it panicked): put the batches back and start a new one.
            self.queues.remove(&node);
            complete_request(
                shared.clone(),
                node,
                batches,
                Err((false, Error::Protocol("dispatch task ended".into()))),
            );
        }
    }
}

/// Runs until the producer is closed and every batch has completed.
pub(crate) async fn run(shared: Arc<SenderShared>) {
    let acc = shared.acc.clone();
    let mut dispatchers = Dispatchers::default();
    loop {
        let now = Instant::now();
        if shared.force_close.load(Ordering::Acquire) {
            force_fail_all(&shared);
            break;
        }
        if acc.is_closed() && !acc.has_incomplete() {
            break;
        }
        let mut sequence = None;
        if let Some(tm) = &shared.txn {
            if let Some((e, queued)) = tm.take_if_failed(|| acc.take_all()) {
                shared.fail_batches(queued, &e);
            }
            // init_transactions sets the id; until then nothing is sendable (sends are
            // refused outside a transaction).
            match shared.idempotence.current() {
                Some(id) => sequence = Some((id.producer_id, id.epoch)),
                None => {
                    expire_only(&shared, now, "init_transactions not done");
                    wait_for_wake(&shared, None).await;
                    continue;
                }
            }
        } else if shared.cfg.idempotent {
            let wake = {
                let acc = acc.clone();
                move || acc.wakeup.notify_one()
            };
            match shared.idempotence.poll(
                &shared.net,
                shared.in_flight_total(),
                shared.cfg.transaction_timeout,
                now + shared.cfg.max_block,
                wake,
                || acc.reset_sequences(),
            ) {
                IdState::Ready(id) => sequence = Some((id.producer_id, id.epoch)),
                IdState::Waiting => {
                    expire_only(&shared, now, "no producer id yet");
                    wait_for_wake(&shared, Some(now + Duration::from_millis(50))).await;
                    continue;
                }
                IdState::Failed(e) => {
                    tracing::warn!(error = %e, "InitProducerId failed");
                    if e.is_retriable() {
                        expire_only(&shared, now, "no producer id");
                    } else {
                        // Without a producer id nothing can be sent: every queued record
                        // fails with the reason instead of waiting for its timeout.
                        for b in acc.take_all() {
                            shared.release(b, BatchOutcome::Failed(e.clone()));
                        }
                        acc.prune_incomplete();
                    }
                    // Not woken by appends: back off for real.
                    tokio::time::sleep(shared.net.retry_backoff(1)).await;
                    continue;
                }
            }
        }
        let cluster = {
            let acc = acc.clone();
            shared.net.metadata_nowait(move || acc.wakeup.notify_one())
        };
        let pass = {
            let in_flight = shared.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let max = shared.cfg.max_in_flight;
            let txn = shared.txn.as_deref();
            acc.drain_filtered(
                &cluster,
                now,
                |node| in_flight.get(&node).copied().unwrap_or(0) < max,
                sequence,
                |topic, partition| txn.is_none_or(|tm| tm.may_drain(topic, partition)),
            )
        };
        if let (Some(tm), Some(id)) = (&shared.txn, shared.idempotence.current()) {
            let wake = {
                let acc = acc.clone();
                move || acc.wakeup.notify_one()
            };
            tm.poll_add_partitions(id, now + shared.cfg.max_block, wake);
        }
        for b in pass.expired {
            shared.expire(b, "still queued");
        }
        for d in pass.drained {
            *shared
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(d.node)
                .or_default() += 1;
            dispatchers.send(&shared, d.node, d.batches);
        }
        acc.prune_incomplete();
        let mut next = pass.next_wake;
        if pass.unknown_leader {
            shared.net.request_update();
            let at = now + shared.net.retry_backoff(1);
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        wait_for_wake(&shared, next).await;
    }
}

async fn wait_for_wake(shared: &SenderShared, until: Option<Instant>) {
    // With nothing scheduled, still wake now and then to expire batches whose leader never
    // shows up.
    let until = until.unwrap_or_else(|| Instant::now() + Duration::from_millis(500));
    shared.acc.sender_sleeps_until(until);
    tokio::select! {
        _ = shared.acc.wakeup.notified() => {}
        _ = tokio::time::sleep_until(until) => {}
    }
    shared.acc.sender_runs();
}

fn expire_only(shared: &SenderShared, now: Instant, idle_reason: &str) {
    let cluster = shared.net.cluster();
    let pass = shared.acc.drain(&cluster, now, |_| false, None);
    for b in pass.expired {
        shared.expire(b, idle_reason);
    }
}

/// `close` ran out of time: every queued batch fails now; batches in flight fail their waiters
/// now and run their callbacks when their request ends.
pub(crate) fn force_fail_all(shared: &SenderShared) {
    for b in shared.acc.take_all() {
        let err = Error::DeliveryTimeout {
            timeout_ms: shared.cfg.delivery_timeout.as_millis() as u64,
            may_have_been_written: b.maybe_written,
            reason: "producer closed before the record was delivered".into(),
        };
        shared.release(b, BatchOutcome::Failed(err));
    }
    for b in shared.acc.incomplete() {
        b.complete(BatchOutcome::Failed(Error::DeliveryTimeout {
            timeout_ms: shared.cfg.delivery_timeout.as_millis() as u64,
            may_have_been_written: true,
            reason: "producer closed while the request was in flight".into(),
        }));
    }
    shared.acc.prune_incomplete();
}

/// Builds every batch's wire bytes (once; a renumbered retry rewrites its header) for the
/// request. Fails with the index of the batch that could not be built.
fn build_batches(
    shared: &SenderShared,
    batches: &mut [ProducerBatch],
) -> Result<(), (usize, Error)> {
    for (i, b) in batches.iter_mut().enumerate() {
        b.wire_bytes(&shared.acc.pool).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// The Produce request for `batches`, built: a topic's batches listed together, in drain order,
/// so that an answer listed in request order is matched by position (`answers_in_order`).
fn request_body<'a>(
    shared: &SenderShared,
    transactional_id: Option<&'a str>,
    batches: &'a [ProducerBatch],
) -> ProduceBody<'a> {
    ProduceBody::new(
        transactional_id,
        shared.cfg.acks,
        shared.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32,
        batches
            .iter()
            .map(|b| (&*b.shared.topic, b.partition(), b.wire())),
    )
}

/// Encoding (compressing) a request's batches longer than this, in microseconds, runs on the
/// blocking pool: an async worker blocked for milliseconds stalls every task queued on it.
const BLOCKING_ENCODE_US: usize = 1_000;

/// Builds and caches every batch's wire bytes on the blocking pool. A panic in a codec leaves
/// the batches to be encoded (and fail) on the caller's thread instead of losing them.
async fn encode_off_runtime(
    mut batches: Vec<ProducerBatch>,
    pool: Arc<BufferPool>,
) -> Vec<ProducerBatch> {
    let encoded = tokio::task::spawn_blocking(move || {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for b in batches.iter_mut() {
                // An error is cached nowhere: build_batches meets it again and reports it.
                let _ = b.wire_bytes(&pool);
            }
        }));
        batches
    })
    .await;
    // An error only when the runtime shuts down: the batches are gone with it.
    encoded.unwrap_or_default()
}

/// The answer to a Produce request: the response, or `None` once an acks=0 request is written.
type Answer = Pin<Box<dyn Future<Output = Result<Option<ProduceResponse>, Error>> + Send>>;

/// Sends one Produce request for `batches` to `node`. The frame is queued on the connection
/// before this returns, so requests reach the broker in drain order (sequence order for an
/// idempotent producer); the answer is awaited and handled on a task of its own.
async fn dispatch(shared: &Arc<SenderShared>, node: i32, mut batches: Vec<ProducerBatch>) {
    for b in batches.iter_mut() {
        b.attempts += 1;
    }
    let cost: usize = batches.iter().map(ProducerBatch::encode_cost_us).sum();
    if cost >= BLOCKING_ENCODE_US {
        batches = encode_off_runtime(batches, shared.acc.pool.clone()).await;
        if batches.is_empty() {
            complete_request(shared.clone(), node, batches, Ok(None));
            return;
        }
    }
    let started = async {
        let conn = shared.net.connection(Target::Node(node)).await?;
        let mut version = conn.version_for::<ProduceRequest>()?;
        build_batches(shared, &mut batches).map_err(|(_, e)| e)?;
        let mut transactional_id = None;
        if let Some(tm) = &shared.txn {
            if !tm.v2() {
                // Produce v12 means transactions version 2 (KIP-890: the partition joins
                // the transaction implicitly); this producer adds them with AddPartitionsToTxn.
                version = version.min(11);
            }
            transactional_id = Some(tm.transactional_id());
        }
        let req = request_body(shared, transactional_id, &batches);
        // The frame is one more copy of every batch's wire bytes: counted in buffer.memory until
        // written (acks=0) or answered.
        let frame = shared
            .acc
            .pool
            .hold(batches.iter().map(ProducerBatch::wire_len).sum());
        let answer: Answer = if shared.cfg.acks == 0 {
            // Done once written, not once queued: until then the batches keep their memory and
            // the request counts as in flight, so a broker that reads slowly holds senders
            // back instead of frames piling up in the connection's queue.
            let written = conn.send_no_response(req, version)?;
            Box::pin(async move { written.wait().await.map(|()| None) })
        } else {
            let pending = conn.start_request(req, version, None)?;
            let latency = shared.metrics.request_latency.clone();
            Box::pin(async move {
                let sent = Instant::now();
                let resp = pending.finish(&conn).await?;
                latency.record(sent.elapsed().as_secs_f64() * 1000.0);
                Ok(Some(resp))
            })
        };
        // Counted once queued on the connection: an attempt that never left is not a send.
        record_sent(&shared.metrics, &batches);
        Ok((answer, frame))
    }
    .await;
    match started {
        Err(e) => complete_request(shared.clone(), node, batches, Err((false, e))),
        Ok((answer, frame)) => {
            let shared = shared.clone();
            tokio::spawn(async move {
                let result = answer.await.map_err(|e| (true, e));
                drop(frame);
                complete_request(shared, node, batches, result);
            });
        }
    }
}

/// Completes, retries or fails every batch of one request from its outcome (`Err((sent, e))`:
/// the request failed, `sent` saying whether it may have reached the broker).
fn complete_request(
    shared: Arc<SenderShared>,
    node: i32,
    batches: Vec<ProducerBatch>,
    result: Result<Option<ProduceResponse>, (bool, Error)>,
) {
    // Each batch's (topic, partition, sequence) for `done_in_flight_all`, the topic cloned
    // once per run of its batches: a clone per batch was two contended atomic operations on a
    // count the sending threads touch too.
    let mut topics: Vec<Arc<str>> = Vec::new();
    let keys: Vec<(usize, i32, Option<SequenceInfo>)> = batches
        .iter()
        .map(|b| {
            if topics.last() != Some(&b.shared.topic) {
                topics.push(b.shared.topic.clone());
            }
            (topics.len() - 1, b.partition(), b.sequence)
        })
        .collect();
    let mut acknowledged: Vec<bool> = vec![false; keys.len()];
    let now = Instant::now();
    match result {
        Ok(None) => {
            for b in batches {
                shared.release(
                    b,
                    BatchOutcome::Done {
                        base_offset: -1,
                        log_append_time: -1,
                    },
                );
            }
        }
        Ok(Some(resp)) => {
            let answers = answers_in_order(
                &resp,
                batches.iter().map(|b| (&*b.shared.topic, b.partition())),
            );
            for ((b, answer), acked) in batches.into_iter().zip(answers).zip(&mut acknowledged) {
                match answer {
                    Some(p) => {
                        let answer = PartitionAnswer {
                            code: p.error_code,
                            base_offset: p.base_offset,
                            log_append_time: p.log_append_time_ms,
                            message: p.error_message.as_ref().map(|m| m.to_string()),
                        };
                        *acked = handle_partition(&shared, b, &answer, now);
                    }
                    None => {
                        let err = Error::Protocol(format!(
                            "Produce response lacks {}-{}",
                            b.shared.topic,
                            b.partition()
                        ));
                        shared.retry_or_fail(b, err, now);
                    }
                }
            }
        }
        Err((maybe_sent, e)) => {
            if e.is_retriable() {
                shared.net.request_update();
            }
            for mut b in batches {
                if maybe_sent {
                    // Sent and never answered: the broker may have appended it.
                    b.maybe_written = true;
                } else {
                    // Never reached the broker: this attempt does not count.
                    b.attempts -= 1;
                }
                shared.retry_or_fail(b, e.clone(), now);
            }
        }
    }
    shared
        .acc
        .done_in_flight_all(keys.iter().zip(acknowledged).map(
            |(&(t, partition, sequence), acked)| Answered {
                topic: &topics[t],
                partition,
                sequence: sequence.map(|s| s.base_sequence),
                acknowledged: sequence.filter(|_| acked),
            },
        ));
    // Only now, with every batch completed or back in its queue, does the request stop
    // counting as in flight: an epoch bump waits for zero and must not renumber queues while
    // batches of the old epoch are still being put back.
    {
        let mut in_flight = shared.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = in_flight.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
    }
    shared.acc.prune_incomplete();
    shared
        .metrics
        .buffer_available
        .record(shared.acc.pool.available() as f64);
    shared.acc.wakeup.notify_one();
}

/// One request's worth of `producer-metrics`: records sent, and each batch's size,
/// compression and time queued.
fn record_sent(m: &ProducerSensors, batches: &[ProducerBatch]) {
    let records: i32 = batches.iter().map(ProducerBatch::record_count).sum();
    m.records_sent.record(f64::from(records));
    m.batch_size
        .record_all(batches.iter().map(|b| b.wire_len() as f64));
    m.compression_rate.record_all(
        batches
            .iter()
            .filter(|b| b.size() > 0)
            .map(|b| b.wire_len() as f64 / b.size() as f64),
    );
    let now = Instant::now();
    m.queue_time.record_all(
        batches
            .iter()
            .map(|b| now.saturating_duration_since(b.created).as_secs_f64() * 1000.0),
    );
}

/// Applies [`partition_action`] to the batch. Returns whether the broker acknowledged it
/// (for [`Accumulator::done_in_flight_all`]).
fn handle_partition(
    shared: &SenderShared,
    batch: ProducerBatch,
    answer: &PartitionAnswer,
    now: Instant,
) -> bool {
    let facts = BatchFacts {
        topic: &batch.shared.topic,
        partition: batch.partition(),
        record_count: batch.record_count(),
        size: batch.size(),
        epoch: batch.sequence.map(|s| s.epoch),
        idempotent: shared.cfg.idempotent,
        current_epoch: shared.idempotence.current().map(|c| c.epoch),
    };
    let action = partition_action(answer, facts, || shared.acc.has_pending_predecessor(&batch));
    match action {
        PartitionAction::Complete {
            base_offset,
            log_append_time,
        } => {
            shared.release(
                batch,
                BatchOutcome::Done {
                    base_offset,
                    log_append_time,
                },
            );
            return true;
        }
        PartitionAction::Split { bump_epoch } => {
            match batch.split(shared.cfg.batch_size, now, &shared.acc.pool) {
                Ok(children) => {
                    if bump_epoch {
                        shared.idempotence.request_bump();
                    }
                    for c in children.into_iter().rev() {
                        shared.acc.reenqueue(c);
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not split an oversized batch"),
            }
        }
        PartitionAction::Retry {
            error,
            bump_epoch,
            refresh_metadata,
            maybe_written,
        } => {
            let mut batch = batch;
            batch.maybe_written |= maybe_written;
            if bump_epoch && shared.txn.is_some() {
                // In a transaction a sequence gap cannot be bridged by a bump mid-transaction:
                // the transaction aborts (and the abort bumps the epoch).
                shared.idempotence.request_bump();
                shared.fail(batch, error);
                return false;
            }
            if bump_epoch {
                tracing::info!(error = %error, sequence = ?batch.sequence,
                    attempts = batch.attempts, "sequence gap: bumping producer epoch");
                shared.idempotence.request_bump();
            }
            if refresh_metadata {
                shared.net.request_update();
            }
            shared.retry_or_fail_as(batch, error, true, now);
        }
        PartitionAction::Fail {
            error,
            refresh_metadata,
        } => {
            if refresh_metadata {
                shared.net.request_update();
            }
            shared.fail(batch, error);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::protocol::compression::Compression;

    /// `records` records of 100 random alphanumeric bytes (gzip cannot shrink them much).
    fn batch(codec: Compression, records: usize) -> ProducerBatch {
        let mut b = ProducerBatch::new("t".into(), 0, codec, None, 1 << 20, Instant::now());
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..records {
            let v: Vec<u8> = (0..100).map(|_| rng.alphanumeric() as u8).collect();
            b.builder.append(i as i64, None, Some(&v), &[]);
        }
        b
    }

    #[test]
    fn only_costly_encodings_leave_the_runtime() {
        assert!(batch(Compression::Gzip, 10_000).encode_cost_us() >= BLOCKING_ENCODE_US);
        assert!(batch(Compression::Zstd, 10_000).encode_cost_us() >= BLOCKING_ENCODE_US);
        assert!(batch(Compression::Lz4, 150).encode_cost_us() < BLOCKING_ENCODE_US);
        assert!(batch(Compression::None, 10_000).encode_cost_us() < BLOCKING_ENCODE_US);
        let mut cached = batch(Compression::Gzip, 10_000);
        cached
            .wire_bytes(&BufferPool::new(64 << 20))
            .expect("encode");
        assert_eq!(cached.encode_cost_us(), 0, "encoded once, resent as is");
    }

    /// On a single-threaded runtime another task can run during the encoding only if the
    /// encoding is off the runtime's thread.
    #[tokio::test(flavor = "current_thread")]
    async fn encoding_off_the_runtime_lets_other_tasks_run() {
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                t.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        });
        tokio::task::yield_now().await;
        let before = ticks.load(Ordering::Relaxed);
        let pool = Arc::new(BufferPool::new(64 << 20));
        let batches = encode_off_runtime(vec![batch(Compression::Gzip, 10_000)], pool).await;
        let during = ticks.load(Ordering::Relaxed) - before;
        ticker.abort();
        assert!(
            during > 0,
            "the runtime's thread was blocked while compressing"
        );
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].encode_cost_us(), 0, "wire bytes cached");
    }
}
