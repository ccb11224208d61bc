//! The Sender task: drain ready batches, send one Produce request per broker, then complete,
//! retry or fail every batch from the answer.
//!
//! Each request runs in its own task (so compression and response handling use every core);
//! the loop itself only drains and schedules, waking on a new/full batch, a finished request,
//! the linger or backoff deadline, flush or close.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::accumulator::Accumulator;
use super::batch::ProducerBatch;
use super::delivery::BatchOutcome;
use super::idempotence::{ProducerIdAndEpoch, init_producer_id};
use crate::error::{Error, ErrorCode};
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::produce_response::PartitionProduceResponse;
use crate::protocol::messages::{ProduceRequest, ProduceResponse, TopicName};

use crate::error::code::DUPLICATE_SEQUENCE_NUMBER;
use crate::error::code::INVALID_PRODUCER_EPOCH;
use crate::error::code::MESSAGE_TOO_LARGE;
use crate::error::code::OUT_OF_ORDER_SEQUENCE_NUMBER;
use crate::error::code::RECORD_LIST_TOO_LARGE;
use crate::error::code::UNKNOWN_PRODUCER_ID;

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
    in_flight: Mutex<HashMap<i32, usize>>,
    producer_id: Mutex<Option<ProducerIdAndEpoch>>,
    needs_bump: AtomicBool,
    /// Set by `close` when its timeout ran out: fail what is left and stop.
    pub force_close: AtomicBool,
}

impl SenderShared {
    pub(crate) fn new(net: Arc<NetworkClient>, acc: Arc<Accumulator>, cfg: SenderConfig) -> Self {
        SenderShared {
            net,
            acc,
            cfg,
            in_flight: Mutex::new(HashMap::new()),
            producer_id: Mutex::new(None),
            needs_bump: AtomicBool::new(false),
            force_close: AtomicBool::new(false),
        }
    }

    fn producer_id(&self) -> Option<ProducerIdAndEpoch> {
        *self.producer_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn in_flight_total(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    fn release(&self, batch: ProducerBatch, outcome: BatchOutcome) {
        let bytes = batch.complete(outcome);
        self.acc.pool.release(bytes);
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
            batch.last_error = Some(err);
            self.acc.reenqueue(batch);
            return;
        }
        let err = if retriable && now >= deadline {
            Error::DeliveryTimeout {
                timeout_ms: self.cfg.delivery_timeout.as_millis() as u64,
                may_have_been_written: batch.attempts > 0,
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
            may_have_been_written: batch.attempts > 0,
            reason: batch
                .last_error
                .as_ref()
                .map_or_else(|| idle_reason.to_string(), |e| e.to_string()),
        };
        self.fail(batch, err);
    }

    fn fail(&self, batch: ProducerBatch, err: Error) {
        if self.cfg.idempotent && batch.sequence.is_some() {
            // A sent batch that will never be acknowledged leaves a sequence gap: later batches
            // of its partition can only be accepted under a new epoch.
            self.needs_bump.store(true, Ordering::Release);
        }
        tracing::debug!(topic = %batch.shared.topic, partition = batch.partition(),
            error = %err, "batch failed");
        self.release(batch, BatchOutcome::Failed(err));
    }
}

/// Runs until the producer is closed and every batch has completed.
pub(crate) async fn run(shared: Arc<SenderShared>) {
    let acc = shared.acc.clone();
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
        if shared.cfg.idempotent {
            let needs_bump = shared.needs_bump.load(Ordering::Acquire);
            let current = shared.producer_id();
            if current.is_none() || needs_bump {
                if shared.in_flight_total() > 0 {
                    // Bump only once nothing of the old epoch is in flight.
                    wait_for_wake(&shared, Some(now + Duration::from_millis(50))).await;
                    continue;
                }
                let deadline = now + shared.cfg.max_block;
                match init_producer_id(
                    &shared.net,
                    current.filter(|_| needs_bump),
                    shared.cfg.transaction_timeout,
                    deadline,
                )
                .await
                {
                    Ok(id) => {
                        *shared.producer_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
                        if needs_bump {
                            acc.reset_sequences();
                            shared.needs_bump.store(false, Ordering::Release);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "InitProducerId failed");
                        if e.is_retriable() {
                            expire_only(&shared, now);
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
            sequence = shared.producer_id().map(|id| (id.producer_id, id.epoch));
        }
        let cluster = match shared.net.metadata().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "metadata refresh failed");
                shared.net.cluster()
            }
        };
        let pass = {
            let in_flight = shared.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let max = shared.cfg.max_in_flight;
            acc.drain(
                &cluster,
                now,
                |node| in_flight.get(&node).copied().unwrap_or(0) < max,
                sequence,
            )
        };
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
            dispatch(&shared, d.node, d.batches).await;
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
    tokio::select! {
        _ = shared.acc.wakeup.notified() => {}
        _ = tokio::time::sleep_until(until) => {}
    }
}

fn expire_only(shared: &SenderShared, now: Instant) {
    let cluster = shared.net.cluster();
    let pass = shared.acc.drain(&cluster, now, |_| false, None);
    for b in pass.expired {
        shared.expire(b, "no producer id");
    }
}

/// `close` ran out of time: every queued batch fails now; batches in flight fail their waiters
/// now and run their callbacks when their request ends.
fn force_fail_all(shared: &SenderShared) {
    for b in shared.acc.take_all() {
        let err = Error::DeliveryTimeout {
            timeout_ms: shared.cfg.delivery_timeout.as_millis() as u64,
            may_have_been_written: b.attempts > 0,
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

fn build_request(
    shared: &SenderShared,
    batches: &mut [ProducerBatch],
) -> Result<ProduceRequest, (usize, Error)> {
    let mut topics: BTreeMap<Arc<str>, Vec<PartitionProduceData>> = BTreeMap::new();
    for (i, b) in batches.iter_mut().enumerate() {
        let bytes: Bytes = b.wire_bytes(&shared.acc.pool).map_err(|e| (i, e))?;
        topics.entry(b.shared.topic.clone()).or_default().push(
            PartitionProduceData::default()
                .with_index(b.partition())
                .with_records(Some(bytes)),
        );
    }
    Ok(ProduceRequest::default()
        .with_acks(shared.cfg.acks)
        .with_timeout_ms(shared.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_topic_data(
            topics
                .into_iter()
                .map(|(name, parts)| {
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(name.to_string())))
                        .with_partition_data(parts)
                })
                .collect(),
        ))
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
    let started = async {
        let conn = shared.net.connection(Target::Node(node)).await?;
        let version = conn.version_for::<ProduceRequest>()?;
        let req = build_request(shared, &mut batches).map_err(|(_, e)| e)?;
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
            Box::pin(async move { pending.finish(&conn).await.map(Some) })
        };
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
    let keys: Vec<(Arc<str>, i32, Option<i32>)> = batches
        .iter()
        .map(|b| {
            (
                b.shared.topic.clone(),
                b.partition(),
                b.sequence.map(|s| s.base_sequence),
            )
        })
        .collect();
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
            let mut by_partition: HashMap<(&str, i32), &PartitionProduceResponse> = HashMap::new();
            for t in &resp.responses {
                for p in &t.partition_responses {
                    by_partition.insert((t.name.0.as_str(), p.index), p);
                }
            }
            let mut outcomes = Vec::with_capacity(batches.len());
            for b in batches {
                let key = (&*b.shared.topic, b.partition());
                let r = by_partition.get(&key).map(|p| {
                    (
                        p.error_code,
                        p.base_offset,
                        p.log_append_time_ms,
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                });
                outcomes.push((b, r));
            }
            for (b, r) in outcomes {
                match r {
                    Some((code, base, lat, msg)) => {
                        handle_partition(&shared, b, code, base, lat, msg, now)
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
                if !maybe_sent {
                    // Never reached the broker: this attempt does not count as a write.
                    b.attempts -= 1;
                }
                shared.retry_or_fail(b, e.clone(), now);
            }
        }
    }
    for (topic, partition, sequence) in keys {
        shared.acc.done_in_flight(&topic, partition, sequence);
    }
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
    shared.acc.wakeup.notify_one();
}

fn handle_partition(
    shared: &SenderShared,
    batch: ProducerBatch,
    code: i16,
    base_offset: i64,
    log_append_time: i64,
    message: Option<String>,
    now: Instant,
) {
    let context = || {
        let mut c = format!("{}-{}", batch.shared.topic, batch.partition());
        if let Some(m) = &message {
            c.push_str(": ");
            c.push_str(m);
        }
        c
    };
    match code {
        0 | DUPLICATE_SEQUENCE_NUMBER => {
            let base_offset = if code == 0 { base_offset } else { -1 };
            shared.acc.acknowledged(&batch);
            shared.release(
                batch,
                BatchOutcome::Done {
                    base_offset,
                    log_append_time,
                },
            );
        }
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE if batch.record_count() > 1 => {
            let had_sequence = batch.sequence.is_some();
            match batch.split(shared.cfg.batch_size, now, &shared.acc.pool) {
                Ok(children) => {
                    if had_sequence {
                        // The split batches need fresh sequences: renumber under a new epoch.
                        shared.needs_bump.store(true, Ordering::Release);
                    }
                    for c in children.into_iter().rev() {
                        shared.acc.reenqueue(c);
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not split an oversized batch"),
            }
        }
        MESSAGE_TOO_LARGE | RECORD_LIST_TOO_LARGE => {
            let size = batch.size();
            shared.fail(
                batch,
                Error::RecordTooLarge {
                    size,
                    limit: size.saturating_sub(1),
                    setting: "the broker's message.max.bytes",
                },
            );
        }
        OUT_OF_ORDER_SEQUENCE_NUMBER | UNKNOWN_PRODUCER_ID if shared.cfg.idempotent => {
            let current = shared.producer_id();
            let stale = batch.sequence.map(|s| s.epoch) != current.map(|c| c.epoch);
            if !stale && !shared.acc.has_pending_predecessor(&batch) {
                // The broker lost (or never saw) the batches before this one: a new epoch lets
                // the partition start over at sequence 0 (KIP-360).
                tracing::info!(context = %context(), code, sequence = ?batch.sequence,
                    attempts = batch.attempts, "sequence gap: bumping producer epoch");
                shared.needs_bump.store(true, Ordering::Release);
            }
            let err = Error::Broker {
                code: ErrorCode(code),
                context: context(),
            };
            shared.retry_or_fail_as(batch, err, true, now);
        }
        INVALID_PRODUCER_EPOCH
            if batch.sequence.map(|s| s.epoch) != shared.producer_id().map(|c| c.epoch) =>
        {
            // Sent under an epoch we have since bumped: resend under the new one.
            let err = Error::broker(code, context());
            shared.retry_or_fail_as(batch, err, true, now);
        }
        _ => {
            let code = ErrorCode(code);
            if code.invalidates_metadata() {
                shared.net.request_update();
            }
            let err = Error::Broker {
                code,
                context: context(),
            };
            if code.is_retriable() {
                shared.retry_or_fail(batch, err, now);
            } else {
                shared.fail(batch, err);
            }
        }
    }
}
