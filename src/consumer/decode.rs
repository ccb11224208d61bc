//! Decoding of one partition's fetched records, a bounded step at a time.
//!
//! A fetch response is kept as received; the fetcher decodes it in steps of about
//! [`STEP_BYTES`] on the blocking pool (CRC checks and decompression are too slow for a runtime
//! worker: a 50 MiB response takes far more than a millisecond). Each batch decompresses into at
//! most [`DecodeLimits::batch_bytes`]; a batch that would take more is an error for its
//! partition. So what a fetch holds decoded is bounded whatever the topic holds, and the
//! fetcher bounds the total over partitions (see `fetcher.rs`).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::record::ConsumerRecord;
use crate::error::{Error, Result};
use crate::protocol::compression::MAX_DECOMPRESSED_SIZE;
use crate::protocol::record_batch::{BatchRecords, check_crc, codec_bits_set, read_batch_header};
use crate::record::{Header, TopicPartition};

/// A step takes no further record once it holds this much (decompressed sections and decoded
/// records): about a millisecond of decoding, thousands of small records.
pub(crate) const STEP_BYTES: usize = 1 << 20;
/// The per-batch bound is this multiple of `max.partition.fetch.bytes`...
const BATCH_LIMIT_FACTOR: usize = 64;
/// ...but never below this. A batch is at most the broker's `message.max.bytes` (1 MiB by
/// default) on the wire; 64x leaves room for any real compression ratio (text and JSON compress
/// 5-20x, zeros ~1000x in gzip) while a bomb (10^4x to 10^6x) stops early.
const MIN_BATCH_LIMIT: usize = 64 << 20;

/// The most records one batch's header can make a step reserve room for.
const MAX_RESERVE_RECORDS: usize = 4096;

/// Bounds of decoding, from the consumer's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecodeLimits {
    /// Most bytes one batch's records may decompress to (and one record's headers take decoded).
    pub batch_bytes: usize,
    /// A step takes no further record once it holds this many bytes.
    pub step_bytes: usize,
}

impl DecodeLimits {
    pub(crate) fn new(max_partition_fetch_bytes: usize) -> Self {
        DecodeLimits {
            batch_bytes: max_partition_fetch_bytes
                .saturating_mul(BATCH_LIMIT_FACTOR)
                .clamp(MIN_BATCH_LIMIT, MAX_DECOMPRESSED_SIZE),
            step_bytes: STEP_BYTES,
        }
    }

    /// The most one step can hold: under `step_bytes` before its last record, which may open a
    /// batch (a section of at most `batch_bytes`) and have headers of at most `batch_bytes`.
    #[cfg(test)]
    pub(crate) fn step_max(&self) -> usize {
        self.step_bytes + 2 * self.batch_bytes + std::mem::size_of::<ConsumerRecord>()
    }
}

/// What one [`PartitionDecoder::step`] produced.
#[derive(Debug, Default)]
pub(crate) struct Step {
    pub records: Vec<ConsumerRecord>,
    /// Bytes the records hold: the records themselves, and each decompressed section whose
    /// last record is among them. Steps are taken oldest first, so a section lives until its
    /// last step is taken; until the decoder is done with it, the decoder counts it
    /// ([`PartitionDecoder::held`]). So each section is counted once, where it lives longest.
    pub cost: usize,
    /// Met after `records`: the partition's fetch ends with it.
    pub error: Option<Error>,
}

/// A partition's fetched records blob and how far it is decoded.
#[derive(Debug)]
pub(crate) struct PartitionDecoder {
    tp: TopicPartition,
    topic: Arc<str>,
    data: Bytes,
    /// Start of the next batch in `data`.
    pos: usize,
    /// Records before it are skipped (a fetch returns whole batches).
    fetch_offset: i64,
    check_crcs: bool,
    read_committed: bool,
    /// Aborted transactions (producer id, first offset) not reached yet, by first offset
    /// (KIP-98's aborted-transaction index).
    aborted: VecDeque<(i64, i64)>,
    /// Producers in an aborted transaction: their batches are skipped until the ABORT marker.
    aborting: HashSet<i64>,
    /// The batch being read, with its leader epoch.
    current: Option<(BatchRecords, Option<i32>)>,
    /// The offset after the last batch reached (control batches included).
    end_offset: i64,
    finished: bool,
}

impl PartitionDecoder {
    pub(crate) fn new(
        topic: Arc<str>,
        partition: i32,
        data: Bytes,
        fetch_offset: i64,
        check_crcs: bool,
        read_committed: bool,
        mut aborted: Vec<(i64, i64)>,
    ) -> Self {
        aborted.sort_by_key(|a| a.1);
        PartitionDecoder {
            tp: TopicPartition::new(&*topic, partition),
            topic,
            data,
            pos: 0,
            fetch_offset,
            check_crcs,
            read_committed,
            aborted: aborted.into(),
            aborting: HashSet::new(),
            current: None,
            end_offset: fetch_offset,
            finished: false,
        }
    }

    /// Whether a step may still produce records (or an error).
    pub(crate) fn has_more(&self) -> bool {
        !self.finished
    }

    /// The offset after the last batch reached: where the position goes once every record
    /// before it is taken (past control batches and compacted-away records).
    pub(crate) fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Whether the next batch is compressed: a step that opens it decompresses, too slow for a
    /// runtime worker. One that only parses and checks CRCs costs about 0.3 ms per MiB on this
    /// project's reference machine, less than a blocking-pool round trip saves.
    pub(crate) fn next_batch_is_compressed(&self) -> bool {
        self.current.is_none() && codec_bits_set(&self.data[self.pos..])
    }

    /// Bytes held between steps: the decompressed section of a batch read partway.
    pub(crate) fn held(&self) -> usize {
        self.current
            .as_ref()
            .map_or(0, |(b, _)| b.decompressed_len())
    }

    /// Decodes records until the step has decoded `limits.step_bytes` (and at least one
    /// record), the data ends, or an error is met. What it adds to what the fetch holds (its
    /// cost, and the decoder's [`held`](Self::held) after it less before) is under
    /// `step_bytes` before its last move, plus that move (opening a batch or taking a record,
    /// each at most `batch_bytes`); its cost alone is at most `DecodeLimits::step_max` (tested there).
    pub(crate) fn step(&mut self, limits: &DecodeLimits) -> Step {
        self.step_within(limits, false, false)
    }

    /// [`step`](Self::step), and with `one_batch` it also stops where a batch ends: the
    /// fetcher's step of progress past a full budget opens at most one section. With `inline`
    /// (a step on a runtime worker) it stops before a compressed batch, records or not: the
    /// next step, on the blocking pool, opens it.
    pub(crate) fn step_within(
        &mut self,
        limits: &DecodeLimits,
        one_batch: bool,
        inline: bool,
    ) -> Step {
        let mut step = Step::default();
        let mut decoded = 0;
        let mut batch_ended = false;
        // At least one record, however little room the step has: the fetcher's progress.
        while (decoded < limits.step_bytes || step.records.is_empty())
            && !self.finished
            && !(one_batch && batch_ended)
            && !(inline && self.next_batch_is_compressed())
        {
            let reading = self.current.is_some();
            let (cost, held) = (step.cost, self.held());
            if let Err(e) = self.advance(limits, &mut step) {
                step.error = Some(self.in_partition(e));
                self.finished = true;
                // Records of this step may be slices of the section dropped here.
                step.cost += self.held();
                self.current = None;
            }
            // What this move added: a record, or a section opened (the decoder's until it
            // hands it to the step with its last record, which adds nothing).
            decoded += (step.cost + self.held()).saturating_sub(cost + held);
            batch_ended = reading && self.current.is_none();
        }
        step
    }

    fn in_partition(&self, e: Error) -> Error {
        match e {
            Error::BatchTooLarge {
                offset,
                next_offset,
                codec,
                limit,
                ..
            } => Error::BatchTooLarge {
                partition: self.tp.to_string(),
                offset,
                next_offset,
                codec,
                limit,
            },
            e => e,
        }
    }

    /// Takes one record of the current batch, or moves to the next batch.
    fn advance(&mut self, limits: &DecodeLimits, step: &mut Step) -> Result<()> {
        let Some((batch, epoch)) = &mut self.current else {
            return self.open_next(limits, step);
        };
        let Some(r) = batch.next_record()? else {
            // The section moves from the decoder to this step, whose records are its last.
            step.cost += batch.decompressed_len();
            self.current = None;
            return Ok(());
        };
        if r.offset < self.fetch_offset {
            return Ok(());
        }
        let record = ConsumerRecord {
            topic: self.topic.clone(),
            partition: self.tp.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: batch.header().timestamp_type(),
            key: r.key,
            value: r.value,
            headers: r.headers,
            leader_epoch: *epoch,
        };
        step.cost += record_cost(&record);
        step.records.push(record);
        Ok(())
    }

    /// Reads the next batch's header, checks its CRC, and either skips it (control batch,
    /// aborted transaction, wholly before the fetch offset) or opens it.
    fn open_next(&mut self, limits: &DecodeLimits, step: &mut Step) -> Result<()> {
        let Some(h) = read_batch_header(&self.data[self.pos..])? else {
            self.finished = true;
            return Ok(());
        };
        let start = self.pos;
        self.pos += h.total_size();
        self.end_offset = self.end_offset.max(h.next_offset());
        if self.check_crcs {
            check_crc(&self.data, start, &h)?;
        }
        if self.read_committed {
            let last = h.next_offset().wrapping_sub(1);
            while let Some((pid, _)) = self.aborted.front().filter(|a| a.1 <= last).copied() {
                self.aborted.pop_front();
                self.aborting.insert(pid);
            }
        }
        if h.is_control() {
            if self.read_committed {
                // A control record's key is (version i16, type i16); type 0 is ABORT.
                let mut marker = BatchRecords::open(&self.data, start, h, limits.batch_bytes)?;
                let abort = marker
                    .next_record()?
                    .and_then(|r| r.key)
                    .is_some_and(|k| k.len() >= 4 && i16::from_be_bytes([k[2], k[3]]) == 0);
                if abort {
                    self.aborting.remove(&h.producer_id);
                }
            }
            return Ok(());
        }
        let aborted =
            self.read_committed && h.is_transactional() && self.aborting.contains(&h.producer_id);
        if aborted || h.next_offset() <= self.fetch_offset {
            return Ok(());
        }
        let batch = BatchRecords::open(&self.data, start, h, limits.batch_bytes)?;
        // The count is the batch's claim, so it only sizes a reservation, and a bounded one.
        let claimed = usize::try_from(h.record_count).unwrap_or(0);
        step.records.reserve(claimed.min(MAX_RESERVE_RECORDS));
        let epoch = (h.partition_leader_epoch >= 0).then_some(h.partition_leader_epoch);
        self.current = Some((batch, epoch));
        Ok(())
    }
}

/// What a record holds beyond the section its key and value are slices of.
fn record_cost(r: &ConsumerRecord) -> usize {
    std::mem::size_of::<ConsumerRecord>()
        + r.headers.capacity() * std::mem::size_of::<Header>()
        + r.headers.iter().map(|h| h.key.capacity()).sum::<usize>()
}

#[cfg(test)]
mod tests;
