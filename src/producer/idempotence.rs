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

use crate::error::{Error, ErrorCode, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::messages::{InitProducerIdRequest, ProducerId};

/// The producer's identity as the broker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
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
