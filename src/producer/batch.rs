//! One producer batch: records for one partition, their completion, and retry bookkeeping.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::buffer_pool::BufferPool;
use super::delivery::{BatchOutcome, BatchShared, Callback, RecordInfo, run_callback};
use crate::error::{Error, Result};
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{RecordBatchBuilder, decode_batches, restamp};

/// Producer id, epoch and base sequence a batch was (or will be) sent with (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SequenceInfo {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

pub(crate) struct ProducerBatch {
    pub shared: Arc<BatchShared>,
    pub builder: RecordBatchBuilder,
    pub callbacks: Vec<(i32, RecordInfo, Callback)>,
    pub created: Instant,
    /// `buffer.memory` bytes this batch holds until it completes: what its builder allocated,
    /// then the size of its wire bytes once built.
    pub reserved: usize,
    /// Times sent so far.
    pub attempts: u32,
    /// Some attempt may have been appended to the log: its request got no answer, or the
    /// answer said the batch was appended before something else failed. Reported by
    /// [`Error::DeliveryTimeout`].
    pub maybe_written: bool,
    pub retry_at: Option<Instant>,
    /// Assigned at first drain when idempotent, kept across retries so the broker can
    /// deduplicate; cleared by an epoch bump.
    pub sequence: Option<SequenceInfo>,
    /// Wire bytes built for `sequence` (compression is done once, not per retry). Once built,
    /// they are the batch's only copy of its records.
    wire: Option<(Option<SequenceInfo>, Vec<u8>)>,
    /// Boxed: set only on a retry, and a batch is moved whole several times on its way
    /// (queue, drain, request, answer), once per batch at 10,000 partitions.
    pub last_error: Option<Box<Error>>,
    /// Set once drained: a sent batch never takes more records (its bytes are fixed for
    /// resends under the same sequence).
    pub closed: bool,
    /// Part of a transaction: the batch header's transactional bit is set, so read_committed
    /// consumers hold it back until its transaction's marker.
    pub transactional: bool,
}

impl std::fmt::Debug for ProducerBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBatch")
            .field("topic", &self.shared.topic)
            .field("partition", &self.shared.partition)
            .field("records", &self.builder.record_count())
            .field("attempts", &self.attempts)
            .field("sequence", &self.sequence)
            .finish()
    }
}

impl ProducerBatch {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        compression: Compression,
        level: Option<i32>,
        capacity: usize,
        now: Instant,
    ) -> ProducerBatch {
        let builder = RecordBatchBuilder::new(compression, level, capacity);
        Self::with_builder(topic, partition, builder, now)
    }

    /// A batch writing its records into `buffer`, a buffer kept from a completed batch.
    pub(crate) fn in_buffer(
        topic: Arc<str>,
        partition: i32,
        compression: Compression,
        level: Option<i32>,
        buffer: Vec<u8>,
        now: Instant,
    ) -> ProducerBatch {
        let builder = RecordBatchBuilder::in_buffer(compression, level, buffer);
        Self::with_builder(topic, partition, builder, now)
    }

    fn with_builder(
        topic: Arc<str>,
        partition: i32,
        builder: RecordBatchBuilder,
        now: Instant,
    ) -> ProducerBatch {
        ProducerBatch {
            shared: BatchShared::new(topic, partition),
            builder,
            callbacks: Vec::new(),
            created: now,
            reserved: 0,
            attempts: 0,
            maybe_written: false,
            retry_at: None,
            sequence: None,
            wire: None,
            last_error: None,
            closed: false,
            transactional: false,
        }
    }

    pub(crate) fn partition(&self) -> i32 {
        self.shared.partition
    }

    pub(crate) fn record_count(&self) -> i32 {
        self.builder.record_count()
    }

    pub(crate) fn size(&self) -> usize {
        self.builder.uncompressed_size()
    }

    /// Roughly how long building the wire bytes takes, in microseconds: 0 once built (a
    /// renumbering only rewrites the header), else the records' size over the codec's speed (measured on the 2-core CI
    /// machine with `examples`-style timing of drain + encode: gzip 64 KiB 1.7 ms, zstd and
    /// lz4 1 MiB 2.3 ms, snappy 1 MiB 1.3 ms, none 1 MiB 0.12 ms).
    pub(crate) fn encode_cost_us(&self) -> usize {
        if self.wire.is_some() {
            return 0;
        }
        let bytes_per_us = match self.builder.compression() {
            Compression::Gzip => 40,
            Compression::Zstd | Compression::Lz4 => 450,
            Compression::Snappy => 800,
            Compression::None => 8000,
        };
        self.size() / bytes_per_us
    }

    /// The batch as sent on the wire, built (and compressed) once; a new sequence assignment
    /// (an epoch bump) only rewrites its header. Building frees the uncompressed records (an
    /// uncompressed batch becomes them, header written in place), and the batch's reservation
    /// in `pool` becomes what the wire bytes hold allocated.
    pub(crate) fn wire_bytes(&mut self, pool: &BufferPool) -> Result<&[u8]> {
        let (pid, epoch, base) = match self.sequence {
            Some(s) => (s.producer_id, s.epoch, s.base_sequence),
            None => (-1, -1, -1),
        };
        match &mut self.wire {
            // Rewritten in place: a request copies the bytes into its frame when it starts, so
            // no earlier attempt still reads them.
            Some((seq, bytes)) => {
                if *seq != self.sequence {
                    restamp(bytes, pid, epoch, base)?;
                    *seq = self.sequence;
                }
            }
            None => {
                let (bytes, held) =
                    self.builder
                        .take_built(pid, epoch, base, self.transactional)?;
                self.settle(pool, held);
                self.wire = Some((self.sequence, bytes));
            }
        }
        Ok(self.wire())
    }

    /// The wire bytes [`wire_bytes`](Self::wire_bytes) built last (empty before).
    pub(crate) fn wire(&self) -> &[u8] {
        self.wire.as_ref().map_or(&[], |(_, b)| b)
    }

    /// Length of the wire bytes once built (0 before).
    pub(crate) fn wire_len(&self) -> usize {
        self.wire.as_ref().map_or(0, |(_, b)| b.len())
    }

    /// Makes the reservation `held` bytes: the surplus goes back to `pool` at once, a shortfall
    /// is taken from it without waiting.
    fn settle(&mut self, pool: &BufferPool, held: usize) {
        if held < self.reserved {
            pool.release(self.reserved - held);
        } else {
            pool.force_reserve(held - self.reserved);
        }
        self.reserved = held;
    }

    /// The buffer of the batch's wire bytes, emptied, for reuse once the batch is answered
    /// (its request copied them into its frame).
    pub(crate) fn take_buffer(&mut self) -> Option<Vec<u8>> {
        let (_, mut buffer) = self.wire.take()?;
        buffer.clear();
        Some(buffer)
    }

    /// Completes every record of the batch and runs their callbacks. Returns the
    /// `buffer.memory` bytes to give back.
    pub(crate) fn complete(mut self, outcome: BatchOutcome) -> usize {
        // Callbacks run before waiters wake, so `flush` returns only after they ran (as Java).
        self.shared.set_outcome(outcome);
        for (index, info, cb) in self.callbacks.drain(..) {
            run_callback(&self.shared, index, info, cb);
        }
        self.shared.notify();
        self.reserved
    }

    /// Splits a batch the broker refused as too large (MESSAGE_TOO_LARGE) into batches of at
    /// most `batch_size` bytes each (at least one record each). The parent's waiters follow
    /// their records into the children.
    ///
    /// The children's reservations in `pool` are what their builders allocated; the parent's
    /// is traded for them.
    ///
    /// On failure (it cannot happen for a batch this producer built) the batch completes with
    /// the error, so no waiter is left hanging.
    pub(crate) fn split(
        mut self,
        batch_size: usize,
        now: Instant,
        pool: &BufferPool,
    ) -> Result<Vec<ProducerBatch>> {
        // At least halve: the broker refused this size, even when it was under batch.size.
        let target = batch_size.min(self.size() / 2).max(1);
        // The builder's copy of the records is gone once the wire bytes exist. Those live on in
        // the decoded records until the children have copied them.
        let built = match self.wire.take() {
            Some((_, bytes)) => Ok(Bytes::from(bytes)),
            None => self.builder.build(-1, -1, -1, false),
        };
        let decoded = match built.and_then(|b| decode_batches(b, false)) {
            Ok(d) => d,
            Err(e) => {
                pool.release(self.complete(BatchOutcome::Failed(e.clone())));
                return Err(e);
            }
        };
        self.split_records(decoded, target, now, pool)
    }

    fn split_records(
        mut self,
        decoded: Vec<crate::protocol::record_batch::DecodedBatch>,
        batch_size: usize,
        now: Instant,
        pool: &BufferPool,
    ) -> Result<Vec<ProducerBatch>> {
        let topic = self.shared.topic.clone();
        let partition = self.shared.partition;
        let compression = self.builder.compression();
        let level = self.builder.compression_level();
        let mut children: Vec<ProducerBatch> = Vec::new();
        let mut firsts: Vec<i32> = Vec::new();
        let mut index = 0i32;
        for batch in decoded {
            for r in batch.records {
                let size = self.builder_size_for(&r);
                let need_new = match children.last() {
                    None => true,
                    Some(c) => c.record_count() > 0 && c.size() + size > batch_size,
                };
                if need_new {
                    let mut child = ProducerBatch::new(
                        topic.clone(),
                        partition,
                        compression,
                        level,
                        batch_size.min(64 * 1024),
                        self.created,
                    );
                    child.attempts = self.attempts;
                    child.transactional = self.transactional;
                    child.retry_at = Some(now);
                    child.closed = true;
                    children.push(child);
                    firsts.push(index);
                }
                if let Some(c) = children.last_mut() {
                    c.builder.append(
                        r.timestamp,
                        r.key.as_deref(),
                        r.value.as_deref(),
                        &r.headers,
                    );
                }
                index += 1;
            }
        }
        if children.len() < 2 {
            let e = Error::InvalidArgument("a batch of one record cannot be split".into());
            pool.release(self.complete(BatchOutcome::Failed(e.clone())));
            return Err(e);
        }
        let allocated: usize = children.iter().map(|c| c.builder.allocated()).sum();
        self.settle(pool, allocated);
        for c in children.iter_mut() {
            c.reserved = c.builder.allocated();
        }
        self.reserved = 0;
        for (i, cb_index, info, cb) in self
            .callbacks
            .drain(..)
            .map(|(idx, info, cb)| (firsts.partition_point(|f| *f <= idx), idx, info, cb))
        {
            let child_no = i - 1;
            let first = firsts[child_no];
            children[child_no]
                .callbacks
                .push((cb_index - first, info, cb));
        }
        let links = firsts
            .iter()
            .zip(children.iter())
            .map(|(f, c)| (*f, c.shared.clone()))
            .collect();
        self.shared.complete(BatchOutcome::Split(links));
        Ok(children)
    }

    fn builder_size_for(&self, r: &crate::protocol::record_batch::DecodedRecord) -> usize {
        RecordBatchBuilder::estimate_record_size(
            0,
            0,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::delivery::DeliveryFuture;
    use std::sync::Mutex;

    use crate::protocol::record_batch::BATCH_HEADER_LEN;

    fn done() -> BatchOutcome {
        BatchOutcome::Done {
            base_offset: 0,
            log_append_time: -1,
        }
    }

    #[test]
    fn built_wire_bytes_replace_the_records_in_the_reservation() {
        let pool = BufferPool::new(1 << 20);
        for codec in [Compression::None, Compression::Lz4] {
            let now = Instant::now();
            let mut batch =
                ProducerBatch::new("t".into(), 0, codec, None, 16384 - BATCH_HEADER_LEN, now);
            assert!(pool.try_reserve(16384));
            batch.reserved = 16384;
            for i in 0..100 {
                batch
                    .builder
                    .append(1000 + i, None, Some(&[b'a'; 100]), &[]);
            }
            let plain = batch.builder.clone();
            let wire = batch.wire_bytes(&pool).expect("build").to_vec();
            assert_eq!(batch.reserved, wire.len(), "{codec:?}");
            assert_eq!(
                pool.in_use(),
                wire.len(),
                "{codec:?}: the surplus is given back"
            );
            assert_eq!(
                batch.builder.allocated(),
                BATCH_HEADER_LEN,
                "{codec:?}: the uncompressed records are freed"
            );
            assert_eq!(batch.size(), plain.uncompressed_size(), "{codec:?}");
            // An epoch bump renumbers the batch: a new header on the same wire bytes.
            batch.sequence = Some(SequenceInfo {
                producer_id: 5,
                epoch: 1,
                base_sequence: 40,
            });
            let renumbered = batch.wire_bytes(&pool).expect("restamp").to_vec();
            assert_eq!(renumbered, plain.build(5, 1, 40, false).expect("build"));
            assert_eq!(batch.wire(), &renumbered[..], "kept as renumbered");
            assert_eq!(pool.in_use(), wire.len(), "{codec:?}");
            pool.release(batch.complete(done()));
            assert_eq!(pool.in_use(), 0, "{codec:?}");
        }
    }

    #[test]
    fn wire_bytes_larger_than_the_reservation_are_counted() {
        let mut rng = fastrand::Rng::with_seed(3);
        let noise: Vec<u8> = (0..10_000).map(|_| rng.u8(..)).collect();
        let mut batch = ProducerBatch::new(
            "t".into(),
            0,
            Compression::Lz4,
            None,
            10_100,
            Instant::now(),
        );
        batch.builder.append(1000, None, Some(&noise), &[]);
        let records = batch.size();
        let pool = BufferPool::new(records);
        assert!(pool.try_reserve(records));
        batch.reserved = records;
        let wire = batch.wire_bytes(&pool).expect("build").len();
        assert!(wire > records, "lz4 framing makes noise larger");
        assert_eq!(pool.in_use(), wire, "the excess is owed, not ignored");
        pool.release(batch.complete(done()));
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.available(), records);
    }

    #[tokio::test]
    async fn split_keeps_every_record_and_its_waiter() {
        let now = Instant::now();
        let mut batch = ProducerBatch::new("t".into(), 3, Compression::Lz4, None, 1024, now);
        let info = |i: i64| RecordInfo {
            timestamp: 1000 + i,
            key_size: -1,
            value_size: 100,
        };
        let mut futures = Vec::new();
        let seen = Arc::new(Mutex::new(None));
        for i in 0..10 {
            let idx = batch
                .builder
                .append(1000 + i, None, Some(&[i as u8; 100]), &[]);
            if i == 7 {
                let seen = seen.clone();
                batch.callbacks.push((
                    idx,
                    info(i),
                    Box::new(move |r| *seen.lock().unwrap() = Some(r.map(|m| m.offset))),
                ));
            } else {
                futures.push((i, DeliveryFuture::new(batch.shared.clone(), idx, info(i))));
            }
        }
        let pool = BufferPool::new(1 << 20);
        assert!(pool.try_reserve(1234));
        batch.reserved = 1234;
        batch.attempts = 1;
        // As sent: the wire bytes are the only copy of the records.
        batch.wire_bytes(&pool).expect("build");
        let children = batch.split(350, now, &pool).expect("split");
        assert!(children.len() >= 3, "{} children", children.len());
        assert_eq!(children.iter().map(|c| c.record_count()).sum::<i32>(), 10);
        let allocated: usize = children.iter().map(|c| c.builder.allocated()).sum();
        assert_eq!(
            children.iter().map(|c| c.reserved).sum::<usize>(),
            allocated
        );
        assert_eq!(
            pool.in_use(),
            allocated,
            "the parent's reservation went to the children"
        );
        let mut base = 500;
        for c in children {
            assert!(c.size() <= 350 || c.record_count() == 1);
            assert!(c.sequence.is_none());
            let n = i64::from(c.record_count());
            pool.release(c.complete(BatchOutcome::Done {
                base_offset: base,
                log_append_time: -1,
            }));
            base += n;
        }
        assert_eq!(pool.in_use(), 0);
        for (i, f) in futures {
            let md = f.await.expect("delivered");
            assert_eq!(md.offset, 500 + i, "record {i} keeps its place");
            assert_eq!(md.timestamp, 1000 + i);
        }
        assert!(matches!(*seen.lock().unwrap(), Some(Ok(507))));
    }
}
