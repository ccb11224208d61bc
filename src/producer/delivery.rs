//! Delivery results: one shared completion per batch, read by every record's future or callback.
//!
//! A record's handle is the batch's `Arc` plus its index in the batch, so appending a record
//! allocates nothing for its future; the batch completes once and wakes all its waiters.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::Notify;

use super::record::RecordMetadata;
use crate::error::{Error, Result};

/// A user callback, run on the producer's sender task once the record's fate is known.
pub(crate) type Callback = Box<dyn FnOnce(Result<RecordMetadata>) + Send + 'static>;

/// How a batch ended.
#[derive(Debug)]
pub(crate) enum BatchOutcome {
    /// Written; `log_append_time` is -1 unless the topic uses LogAppendTime.
    Done {
        base_offset: i64,
        log_append_time: i64,
    },
    Failed(Error),
    /// Split after MESSAGE_TOO_LARGE: records from index `first` on live in the child batch,
    /// re-numbered from 0. Sorted by `first`.
    Split(Vec<(i32, Arc<BatchShared>)>),
}

/// Per-record facts kept outside the batch bytes, for [`RecordMetadata`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordInfo {
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
}

/// The completion shared by every record of one batch.
#[derive(Debug)]
pub(crate) struct BatchShared {
    pub topic: Arc<str>,
    pub partition: i32,
    outcome: OnceLock<BatchOutcome>,
    /// Set after the outcome and the batch's callbacks: what `wait` (and so `flush`) waits for.
    done: AtomicBool,
    notify: Notify,
}

enum Resolution {
    Ready(Result<RecordMetadata>),
    Follow(Arc<BatchShared>, i32),
    Pending,
}

impl BatchShared {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<BatchShared> {
        Arc::new(BatchShared {
            topic,
            partition,
            outcome: OnceLock::new(),
            done: AtomicBool::new(false),
            notify: Notify::new(),
        })
    }

    /// Sets the outcome once; later calls are ignored. Wakes every waiter.
    pub(crate) fn complete(&self, outcome: BatchOutcome) {
        self.set_outcome(outcome);
        self.notify();
    }

    /// Sets the outcome once without waking anyone yet (callbacks run first).
    pub(crate) fn set_outcome(&self, outcome: BatchOutcome) {
        let _ = self.outcome.set(outcome);
    }

    /// Wakes every waiter (after the outcome is set).
    pub(crate) fn notify(&self) {
        self.done.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until the batch completes (after splits, until every child does too).
    pub(crate) async fn wait(self: &Arc<Self>) {
        let mut stack = vec![self.clone()];
        while let Some(b) = stack.pop() {
            b.wait_own().await;
            if let Some(BatchOutcome::Split(children)) = b.outcome.get() {
                stack.extend(children.iter().map(|(_, c)| c.clone()));
            }
        }
    }

    async fn wait_own(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    fn resolve(&self, index: i32, info: RecordInfo) -> Resolution {
        match self.outcome.get() {
            None => Resolution::Pending,
            Some(BatchOutcome::Failed(e)) => Resolution::Ready(Err(e.clone())),
            Some(BatchOutcome::Done {
                base_offset,
                log_append_time,
            }) => Resolution::Ready(Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: if *base_offset < 0 {
                    -1
                } else {
                    base_offset + i64::from(index)
                },
                timestamp: if *log_append_time >= 0 {
                    *log_append_time
                } else {
                    info.timestamp
                },
                serialized_key_size: info.key_size,
                serialized_value_size: info.value_size,
            })),
            Some(BatchOutcome::Split(children)) => {
                let pos = children.partition_point(|(first, _)| *first <= index);
                match pos.checked_sub(1).and_then(|p| children.get(p)) {
                    Some((first, child)) => Resolution::Follow(child.clone(), index - first),
                    None => Resolution::Ready(Err(Error::Protocol(format!(
                        "record {index} missing from split batch"
                    )))),
                }
            }
        }
    }

    /// The record's result if its batch (or the split child holding it) has completed.
    pub(crate) fn result_now(
        self: &Arc<Self>,
        index: i32,
        info: RecordInfo,
    ) -> Option<Result<RecordMetadata>> {
        // The batch itself first, without a clone of its `Arc`: that is a locked increment and
        // decrement per record on a count the sender's completion touched last.
        let (mut batch, mut index) = match self.resolve(index, info) {
            Resolution::Ready(r) => return Some(r),
            Resolution::Pending => return None,
            Resolution::Follow(child, i) => (child, i),
        };
        loop {
            match batch.resolve(index, info) {
                Resolution::Ready(r) => return Some(r),
                Resolution::Pending => return None,
                Resolution::Follow(child, i) => {
                    batch = child;
                    index = i;
                }
            }
        }
    }
}

/// The pending result of one record sent with
/// [`KafkaProducer::enqueue`](super::KafkaProducer::enqueue).
///
/// Resolves to the record's [`RecordMetadata`] once acknowledged, or to the error that ended its
/// delivery. Dropping it does not cancel delivery.
#[must_use = "dropping a DeliveryFuture ignores the delivery result (the record is still sent)"]
pub struct DeliveryFuture {
    batch: Arc<BatchShared>,
    index: i32,
    info: RecordInfo,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic", &self.batch.topic)
            .field("partition", &self.batch.partition)
            .field("complete", &self.batch.is_complete())
            .finish()
    }
}

impl DeliveryFuture {
    pub(crate) fn new(batch: Arc<BatchShared>, index: i32, info: RecordInfo) -> DeliveryFuture {
        DeliveryFuture {
            batch,
            index,
            info,
            waiting: None,
        }
    }

    /// The partition the record was assigned to (it may still be in flight).
    pub fn partition(&self) -> i32 {
        self.batch.partition
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Some(r) = self.batch.result_now(self.index, self.info) {
                return Poll::Ready(r);
            }
            // Box the wait only when the result is not already there (rare on the fast path of
            // flush-then-check; one allocation per awaited pending record otherwise).
            let batch = self.batch.clone();
            let fut = self
                .waiting
                .get_or_insert_with(|| Box::pin(async move { batch.wait().await }));
            match fut.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => self.waiting = None,
            }
        }
    }
}

/// Runs `callback` with the result of record `index` of `batch` (which must be complete).
///
/// A panicking callback is caught and logged at error level: it runs on the sender (or a
/// request's completion task), which still has to run the batch's other callbacks, wake its
/// waiters, give back its `buffer.memory` and its in-flight slot.
pub(crate) fn run_callback(batch: &Arc<BatchShared>, index: i32, info: RecordInfo, cb: Callback) {
    let result = batch.result_now(index, info).unwrap_or_else(|| {
        Err(Error::Protocol(
            "callback run before its batch completed".into(),
        ))
    });
    // The error was logged by `call`; the callback was this record's only consumer.
    let _ = crate::user_code::call("delivery callback", || cb(result));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RecordInfo {
        RecordInfo {
            timestamp: 5,
            key_size: -1,
            value_size: 3,
        }
    }

    #[tokio::test]
    async fn futures_resolve_through_splits() {
        let parent = BatchShared::new("t".into(), 2);
        let a = BatchShared::new("t".into(), 2);
        let b = BatchShared::new("t".into(), 2);
        let f0 = DeliveryFuture::new(parent.clone(), 0, info());
        let f3 = DeliveryFuture::new(parent.clone(), 3, info());
        let waiter = tokio::spawn(f3);
        tokio::task::yield_now().await;
        parent.complete(BatchOutcome::Split(vec![(0, a.clone()), (2, b.clone())]));
        a.complete(BatchOutcome::Done {
            base_offset: 100,
            log_append_time: -1,
        });
        b.complete(BatchOutcome::Done {
            base_offset: 200,
            log_append_time: 77,
        });
        let m0 = f0.await.unwrap();
        assert_eq!((m0.offset, m0.timestamp, m0.partition), (100, 5, 2));
        let m3 = waiter.await.unwrap().unwrap();
        assert_eq!((m3.offset, m3.timestamp), (201, 77));
    }

    #[tokio::test]
    async fn failure_reaches_every_record() {
        let batch = BatchShared::new("t".into(), 0);
        let futs: Vec<_> = (0..3)
            .map(|i| tokio::spawn(DeliveryFuture::new(batch.clone(), i, info())))
            .collect();
        tokio::task::yield_now().await;
        batch.complete(BatchOutcome::Failed(Error::Closed));
        for f in futs {
            assert!(matches!(f.await.unwrap(), Err(Error::Closed)));
        }
    }
}
