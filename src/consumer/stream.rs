//! `KafkaConsumer::stream`: records one at a time as a `futures_core::Stream`.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{ConsumerRecord, ConsumerRecords, KafkaConsumer, OffsetAndMetadata, Offsets};
use crate::error::{Error, Result};
use crate::types::TopicPartition;

/// How long one poll under the stream waits: short, so that a [`RecordStream::commit_sync`]
/// issued while the stream is idle gets the consumer back soon.
const STREAM_POLL_TIMEOUT: Duration = Duration::from_millis(100);

type PollFuture<'a> =
    Pin<Box<dyn Future<Output = (&'a mut KafkaConsumer, Result<ConsumerRecords>)> + Send + 'a>>;

/// The consumer is either here (idle) or owned by the poll in flight, which hands it back.
enum State<'a> {
    Idle(&'a mut KafkaConsumer),
    Polling(PollFuture<'a>),
    /// Only while switching between the two above.
    Empty,
}

/// Records of a [`KafkaConsumer`] one by one, from [`KafkaConsumer::stream`].
///
/// Implements [`futures_core::Stream`] with `Item = Result<ConsumerRecord>`; it never ends
/// (`None` is never returned). A poll error is yielded as one `Err` item and the stream goes
/// on with the next poll.
///
/// # Cancel safety
/// [`next`](Self::next) (and `StreamExt::next`) are cancel safe: a poll in flight lives in the
/// stream, not in the dropped future, and the records of a poll not yet yielded stay buffered
/// here, so no record is lost or yielded twice. Dropping the stream itself seeks each
/// partition back to its first buffered record, so the consumer's next poll returns them.
pub struct RecordStream<'a> {
    state: State<'a>,
    buffered: VecDeque<ConsumerRecord>,
    /// Offset after the last yielded record, per partition: what `commit_sync` commits.
    yielded: BTreeMap<TopicPartition, OffsetAndMetadata>,
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("buffered", &self.buffered.len())
            .field("polling", &matches!(self.state, State::Polling(_)))
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    /// The records of this consumer as a [`RecordStream`] (a `futures_core::Stream` of
    /// `Result<ConsumerRecord>`), one by one from [`poll`](Self::poll) batches, each poll
    /// waiting up to 100 ms. Borrows the consumer until the stream is dropped; commit through
    /// [`RecordStream::commit_sync`], which commits the offset after the last *yielded*
    /// record (the consumer's own position runs ahead by the records still buffered).
    ///
    /// With `enable.auto.commit=true`, auto-commits run inside polls, and the stream polls
    /// only once every record of the previous poll was yielded: at-least-once, as a poll loop.
    ///
    /// Example: [consuming guide](crate::guide::consuming#records-one-by-one-stream).
    ///
    /// # Cancel safety
    /// See [`RecordStream`]: `next()` may be dropped (e.g. in `tokio::select!`) without losing
    /// or repeating records.
    pub fn stream(&mut self) -> RecordStream<'_> {
        RecordStream {
            state: State::Idle(self),
            buffered: VecDeque::new(),
            yielded: BTreeMap::new(),
        }
    }
}

impl<'a> RecordStream<'a> {
    /// The next record (never `None`). Same as `StreamExt::next` without the trait.
    ///
    /// # Cancel safety
    /// Cancel safe (see [`RecordStream`]).
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next_record(cx)).await
    }

    /// Number of records fetched and not yet yielded.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// Commits, for each partition this stream yielded from, the offset after the last record
    /// it yielded, waiting for the answer. Waits first for a poll in flight (at most about
    /// 100 ms plus a group join) and keeps its records buffered.
    ///
    /// Errors: those of [`KafkaConsumer::commit_offsets_sync`]; a poll error met while
    /// waiting is returned here instead of being yielded.
    ///
    /// # Cancel safety
    /// The commit may still be applied when the future is dropped; the stream stays usable
    /// (a poll in flight goes on at the next call).
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets: Offsets = self.yielded.clone();
        let consumer = self.idle_consumer().await?;
        if offsets.is_empty() {
            return Ok(());
        }
        consumer.commit_offsets_sync(offsets).await
    }

    /// The offsets [`commit_sync`](Self::commit_sync) would commit now.
    pub fn yielded_offsets(&self) -> &Offsets {
        &self.yielded
    }

    async fn idle_consumer(&mut self) -> Result<&mut KafkaConsumer> {
        if let State::Polling(fut) = &mut self.state {
            let (consumer, result) = fut.as_mut().await;
            self.state = State::Idle(consumer);
            self.buffered.extend(result?);
        }
        match &mut self.state {
            State::Idle(c) => Ok(&mut **c),
            _ => Err(Error::Closed),
        }
    }

    fn poll_next_record(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<ConsumerRecord>>> {
        let this = &mut *self;
        loop {
            if let Some(r) = this.buffered.pop_front() {
                this.yielded.insert(
                    r.topic_partition(),
                    OffsetAndMetadata {
                        offset: r.offset + 1,
                        leader_epoch: r.leader_epoch,
                        metadata: String::new(),
                    },
                );
                return Poll::Ready(Some(Ok(r)));
            }
            match std::mem::replace(&mut this.state, State::Empty) {
                State::Idle(consumer) => {
                    this.state = State::Polling(Box::pin(async move {
                        let r = consumer.poll(STREAM_POLL_TIMEOUT).await;
                        (consumer, r)
                    }));
                }
                State::Polling(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.state = State::Polling(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready((consumer, result)) => {
                        this.state = State::Idle(consumer);
                        match result {
                            Ok(records) => this.buffered.extend(records),
                            Err(e) => return Poll::Ready(Some(Err(e))),
                        }
                    }
                },
                // Unreachable: every arm above leaves a state behind.
                State::Empty => return Poll::Ready(None),
            }
        }
    }
}

impl futures_core::Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_record(cx)
    }
}

impl Drop for RecordStream<'_> {
    fn drop(&mut self) {
        // The consumer's position is past the buffered records: move it back so that they
        // are not skipped. A poll in flight has nothing buffered (the stream polls only when
        // empty), and dropping it is as cancel safe as dropping `poll`.
        let State::Idle(consumer) = &mut self.state else {
            return;
        };
        let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for r in &self.buffered {
            first.entry(r.topic_partition()).or_insert(r.offset);
        }
        for (tp, offset) in first {
            if let Err(e) = consumer.seek(&tp, offset) {
                tracing::warn!(%e, topic = %tp.topic, partition = tp.partition,
                    "stream dropped: could not seek back to buffered records");
            }
        }
    }
}
