//! Producer id and epoch for the idempotent producer (KIP-98), and epoch bumps (KIP-360).
//!
//! [`IdempotenceManager`] owns the producer id and epoch and the decision to bump the epoch
//! (Java's TransactionManager role for the idempotent producer). Sequence numbers are stored
//! with each partition's queue in the accumulator, under that topic's lock, so a drain assigns
//! them without a second lock; they restart at 0 when the epoch changes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use std::future::Future;

use super::batch::SequenceInfo;
use crate::error::{Error, ErrorCode, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::messages::{InitProducerIdRequest, ProducerId};

/// The producer's identity as the broker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// One partition's sequence numbers (KIP-98). Stored with the partition's queue, under its
/// topic's lock, so a drain numbers batches without a second lock.
#[derive(Debug, Default)]
pub(crate) struct PartitionSequences {
    /// Next sequence number to assign.
    next: i32,
    /// Base sequences of this partition's batches in flight.
    in_flight: Vec<i32>,
    /// The (producer id, epoch) under which the broker last acknowledged a batch of this
    /// partition. Until it matches the current one, one batch at a time: Apache Kafka accepts
    /// any first sequence from a producer the partition has no state for, so a second batch
    /// overtaking a failed first one would be written ahead of it.
    acked_under: Option<(i64, i16)>,
}

impl PartitionSequences {
    /// Numbers a batch of `records` records under `current` (producer id, epoch). Sequences
    /// wrap at i32::MAX, as the broker expects.
    pub(crate) fn assign(&mut self, current: (i64, i16), records: i32) -> SequenceInfo {
        let info = SequenceInfo {
            producer_id: current.0,
            epoch: current.1,
            base_sequence: self.next,
        };
        self.next = self
            .next
            .checked_add(records)
            .unwrap_or(records - (i32::MAX - self.next) - 1);
        info
    }

    /// Whether another batch may be sent while `in_flight` are unanswered.
    pub(crate) fn may_pipeline(&self, current: (i64, i16), in_flight: u32) -> bool {
        in_flight == 0 || self.acked_under == Some(current)
    }

    /// A batch with this base sequence went out.
    pub(crate) fn sent(&mut self, base: i32) {
        self.in_flight.push(base);
    }

    /// The request of the batch with this base sequence has ended (however it ended).
    pub(crate) fn answered(&mut self, base: i32) {
        if let Some(i) = self.in_flight.iter().position(|x| *x == base) {
            self.in_flight.swap_remove(i);
        }
    }

    /// The broker acknowledged a batch sent under `s`: it now has state for this producer and
    /// epoch and checks every later sequence.
    pub(crate) fn acknowledged(&mut self, s: SequenceInfo) {
        self.acked_under = Some((s.producer_id, s.epoch));
    }

    /// Whether a batch numbered before `mine` is in flight.
    pub(crate) fn has_lower_in_flight(&self, mine: SequenceInfo) -> bool {
        self.in_flight
            .iter()
            .any(|s| sequence_precedes(*s, mine.base_sequence))
    }

    /// Whether `a` comes before `b` in sequence order (wrapping).
    pub(crate) fn precedes(a: SequenceInfo, b: SequenceInfo) -> bool {
        sequence_precedes(a.base_sequence, b.base_sequence)
    }

    /// After an epoch bump (KIP-360) the partition starts over at sequence 0.
    pub(crate) fn reset(&mut self) {
        self.next = 0;
    }
}

/// Whether sequence `a` comes before `b`. Sequences run from 0 to i32::MAX and then start
/// at 0 again (not at i32::MIN, so two's-complement wrapping arithmetic does not order them):
/// `a` precedes `b` when `b` lies less than half the space ahead of it.
pub(crate) fn sequence_precedes(a: i32, b: i32) -> bool {
    const SPACE: i64 = i32::MAX as i64 + 1;
    let ahead = (i64::from(b) - i64::from(a)).rem_euclid(SPACE);
    ahead != 0 && ahead < SPACE / 2
}

/// What the sender may do about the producer id this turn.
#[derive(Debug)]
pub(crate) enum IdState {
    /// Send under this producer id and epoch.
    Ready(ProducerIdAndEpoch),
    /// Nothing can be sent yet: an InitProducerId is running, or a bump waits for the
    /// requests of the old epoch to end.
    Waiting,
    /// InitProducerId failed with this error (after its own retries); fatal when not
    /// retriable. A new attempt starts on the next turn.
    Failed(Error),
}

/// The idempotent producer's identity and its epoch-bump decision. Only the sender loop calls
/// [`poll`](Self::poll); request tasks read the id and ask for bumps.
#[derive(Debug, Default)]
pub(crate) struct IdempotenceManager {
    /// Guards the current id; `None` until the first InitProducerId answers.
    current: Mutex<Option<ProducerIdAndEpoch>>,
    /// A sent batch will never be acknowledged (a sequence gap), or split batches need fresh
    /// sequences: bump the epoch once nothing of the current one is in flight.
    needs_bump: AtomicBool,
    /// The InitProducerId in progress, on a task of its own so the sender loop never waits on
    /// a broker. Only the sender loop touches it; the mutex makes the type shareable.
    init: Mutex<Option<JoinHandle<Result<ProducerIdAndEpoch>>>>,
}

impl IdempotenceManager {
    /// The current producer id and epoch, if any.
    pub(crate) fn current(&self) -> Option<ProducerIdAndEpoch> {
        *self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the id the transaction manager got (InitProducerId with the transactional id):
    /// a transactional producer's sender never runs InitProducerId itself.
    pub(crate) fn set(&self, id: ProducerIdAndEpoch) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    /// Whether a bump was asked for since the last call (the transaction manager bumps the
    /// epoch itself, when the transaction aborts).
    pub(crate) fn take_bump(&self) -> bool {
        self.needs_bump.swap(false, Ordering::AcqRel)
    }

    /// Asks for an epoch bump before anything more is sent.
    pub(crate) fn request_bump(&self) {
        self.needs_bump.store(true, Ordering::Release);
    }

    /// One turn of the sender: returns the id to send under, starting InitProducerId (or an
    /// epoch bump once `in_flight` is zero) on a task that calls `wake` when it ends.
    /// `reset_sequences` runs when a bump completed, before anything is sent under the new
    /// epoch.
    pub(crate) fn poll(
        &self,
        net: &std::sync::Arc<NetworkClient>,
        in_flight: usize,
        transaction_timeout: Duration,
        deadline: Instant,
        wake: impl FnOnce() + Send + 'static,
        reset_sequences: impl FnOnce(),
    ) -> IdState {
        let mut init = self.init.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = init.as_mut() {
            if !task.is_finished() {
                return IdState::Waiting;
            }
            let finished = init.take();
            let result = finished.and_then(futures_ready);
            match result {
                Some(Ok(id)) => {
                    let bumped = self.current().is_some();
                    *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
                    if bumped {
                        reset_sequences();
                    }
                    self.needs_bump.store(false, Ordering::Release);
                    return IdState::Ready(id);
                }
                Some(Err(e)) => return IdState::Failed(e),
                None => return IdState::Waiting,
            }
        }
        let current = self.current();
        let needs_bump = self.needs_bump.load(Ordering::Acquire);
        match current {
            Some(id) if !needs_bump => return IdState::Ready(id),
            // Bump only once nothing of the old epoch is in flight.
            Some(_) if in_flight > 0 => return IdState::Waiting,
            _ => {}
        }
        let net = std::sync::Arc::clone(net);
        let bump_from = current.filter(|_| needs_bump);
        *init = Some(tokio::spawn(async move {
            let r = init_producer_id(&net, bump_from, transaction_timeout, deadline).await;
            wake();
            r
        }));
        IdState::Waiting
    }
}

impl Drop for IdempotenceManager {
    fn drop(&mut self) {
        if let Some(t) = self.init.get_mut().ok().and_then(|i| i.take()) {
            t.abort();
        }
    }
}

/// The output of a task known to be finished.
fn futures_ready<T>(mut task: JoinHandle<T>) -> Option<T> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match std::pin::Pin::new(&mut task).poll(&mut cx) {
        std::task::Poll::Ready(Ok(v)) => Some(v),
        _ => None,
    }
}

/// Gets a producer id, or with `current` bumps its epoch (InitProducerId v3+, KIP-360; an older
/// broker hands out a new id instead). Retries retriable errors until `deadline`.
pub(crate) async fn init_producer_id(
    net: &NetworkClient,
    current: Option<ProducerIdAndEpoch>,
    transaction_timeout: Duration,
    deadline: Instant,
) -> Result<ProducerIdAndEpoch> {
    let mut attempt = 0;
    loop {
        let result = net
            .send_fn(Target::Any, |version| {
                let req = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(
                        transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
                    );
                match current {
                    Some(c) if version >= 3 => req
                        .with_producer_id(ProducerId(c.producer_id))
                        .with_producer_epoch(c.epoch),
                    _ => req.with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
                }
            })
            .await
            .and_then(|r| match ErrorCode::from_code(r.error_code) {
                None => Ok(ProducerIdAndEpoch {
                    producer_id: r.producer_id.0,
                    epoch: r.producer_epoch,
                }),
                Some(code) => Err(Error::Broker {
                    code,
                    context: "InitProducerId".into(),
                }),
            });
        match result {
            Ok(id) => {
                tracing::debug!(
                    producer_id = id.producer_id,
                    epoch = id.epoch,
                    "producer id"
                );
                return Ok(id);
            }
            Err(e) => {
                attempt += 1;
                let wait = net.retry_backoff(attempt);
                if !e.is_retriable() || Instant::now() + wait >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: (i64, i16) = (7, 0);

    #[test]
    fn sequences_count_records_and_wrap_at_i32_max() {
        let mut s = PartitionSequences::default();
        assert_eq!(s.assign(ID, 5).base_sequence, 0);
        assert_eq!(s.assign(ID, 3).base_sequence, 5);
        assert_eq!(s.assign(ID, 1).base_sequence, 8);
        s.next = i32::MAX - 1;
        assert_eq!(s.assign(ID, 4).base_sequence, i32::MAX - 1);
        // i32::MAX - 1, i32::MAX, 0, 1: the next batch starts at 2.
        assert_eq!(s.assign(ID, 1).base_sequence, 2);
        s.reset();
        assert_eq!(s.assign(ID, 1).base_sequence, 0);
    }

    #[test]
    fn one_batch_at_a_time_until_acknowledged_under_the_current_epoch() {
        let mut s = PartitionSequences::default();
        assert!(s.may_pipeline(ID, 0));
        assert!(!s.may_pipeline(ID, 1), "nothing acknowledged yet");
        let first = s.assign(ID, 1);
        s.acknowledged(first);
        assert!(s.may_pipeline(ID, 3));
        assert!(!s.may_pipeline((7, 1), 1), "a bumped epoch starts over");
    }

    #[test]
    fn lower_sequences_in_flight_are_predecessors_also_across_the_wrap() {
        let mut s = PartitionSequences::default();
        let at = |base| SequenceInfo {
            producer_id: 7,
            epoch: 0,
            base_sequence: base,
        };
        s.sent(i32::MAX - 2);
        assert!(
            s.has_lower_in_flight(at(3)),
            "3 follows i32::MAX - 2 after the wrap"
        );
        assert!(
            !s.has_lower_in_flight(at(i32::MAX - 2)),
            "not its own predecessor"
        );
        s.answered(i32::MAX - 2);
        assert!(!s.has_lower_in_flight(at(3)));
        assert!(PartitionSequences::precedes(at(10), at(20)));
        assert!(!PartitionSequences::precedes(at(20), at(10)));
    }
}
