//! One partition's part of a fetch response while it waits in the fetcher's buffer: its
//! decoded steps, the decoder of what is left, and what `poll` takes from it.

use std::collections::VecDeque;
use std::sync::Arc;

use super::budget::RawLease;
use crate::consumer::decode::{PartitionDecoder, Step};
use crate::consumer::record::ConsumerRecord;
use crate::error::Error;
use crate::record::TopicPartition;

/// One partition's part of a fetch response, decoded as `poll` takes its records.
#[derive(Debug)]
pub(super) struct CompletedFetch {
    /// Tells a decoded step which fetch it belongs to (one may be discarded while it runs).
    pub(super) id: u64,
    pub(super) tp: TopicPartition,
    /// The position the fetch was sent for; a position moved since (seek, reset) makes it stale.
    pub(super) fetch_offset: i64,
    /// The decoded steps' records not taken yet, oldest first, each with the bytes it holds
    /// (released once its last record is taken). A step's records stay in the deque it was
    /// decoded into: moving them into one queue cost a copy of every record.
    pub(super) steps: VecDeque<(VecDeque<ConsumerRecord>, usize)>,
    /// The data not decoded yet; `None` once decoded to the end or failed, and while a step
    /// runs (`decoding`).
    pub(super) decoder: Option<Box<PartitionDecoder>>,
    pub(super) decoding: bool,
    /// Bytes the decoder holds between steps (a batch read partway).
    pub(super) decoder_held: usize,
    /// Offset after the last batch decoded (control batches included): where to go once drained.
    pub(super) end_offset: i64,
    pub(super) high_watermark: i64,
    /// -1 when the broker did not say (Fetch v3 and older).
    pub(super) last_stable_offset: i64,
    /// The follower the leader says to read from instead (KIP-392); -1: none.
    pub(super) preferred_read_replica: i32,
    /// -1 when the broker did not say (Fetch v4 and older).
    pub(super) log_start_offset: i64,
    /// Comes after `records`.
    pub(super) error: Option<Error>,
    /// The response this came in, counted in the budget until its last partition is dropped.
    pub(super) lease: Option<Arc<RawLease>>,
}

impl CompletedFetch {
    pub(super) fn new(tp: TopicPartition, fetch_offset: i64, high_watermark: i64) -> Self {
        CompletedFetch {
            id: 0,
            tp,
            fetch_offset,
            steps: VecDeque::new(),
            decoder: None,
            decoding: false,
            decoder_held: 0,
            end_offset: fetch_offset,
            high_watermark,
            last_stable_offset: -1,
            preferred_read_replica: -1,
            log_start_offset: -1,
            error: None,
            lease: None,
        }
    }

    /// Decoded bytes this fetch holds.
    pub(super) fn held(&self) -> usize {
        self.decoder_held + self.steps.iter().map(|s| s.1).sum::<usize>()
    }

    /// What this fetch adds to the fetcher's running totals.
    pub(super) fn tally(&self) -> Tally {
        Tally {
            held: self.held(),
            partway: usize::from(self.decoder_held > 0),
        }
    }

    /// Records decoded and not taken yet.
    pub(super) fn buffered_records(&self) -> usize {
        self.steps.iter().map(|s| s.0.len()).sum()
    }

    /// Records are buffered, or may still be decoded.
    pub(super) fn has_records(&self) -> bool {
        !self.steps.is_empty() || self.decoding || self.decoder.is_some()
    }

    /// Whether nothing more can come from this fetch but its error (if any).
    pub(super) fn is_drained(&self) -> bool {
        self.steps.is_empty() && !self.decoding && self.decoder.is_none()
    }

    /// Moves up to `n` records to `out`, oldest first.
    pub(super) fn take(&mut self, n: usize, out: &mut Vec<ConsumerRecord>) {
        let mut left = n;
        while left > 0 {
            let Some(front) = self.steps.front_mut() else {
                break;
            };
            if out.is_empty() && front.0.len() <= left {
                // A whole step into an empty batch: the deque becomes the Vec, no copy when
                // nothing was taken from it before.
                let (records, _) = self.steps.pop_front().unwrap_or_default();
                left -= records.len();
                *out = Vec::from(records);
                continue;
            }
            let t = left.min(front.0.len());
            out.extend(front.0.drain(..t));
            left -= t;
            if front.0.is_empty() {
                self.steps.pop_front();
            }
        }
    }

    pub(super) fn apply(
        &mut self,
        decoder: Option<Box<PartitionDecoder>>,
        end_offset: i64,
        step: Step,
    ) {
        self.decoding = false;
        self.decoder_held = decoder.as_ref().map_or(0, |d| d.held());
        self.decoder = decoder;
        self.end_offset = self.end_offset.max(end_offset);
        if !step.records.is_empty() {
            self.steps.push_back((step.records.into(), step.cost));
        }
        if step.error.is_some() {
            self.error = step.error;
        }
    }
}

/// A buffered fetch's share of the fetcher's `decoded_held` and `partway` totals.
#[derive(Clone, Copy)]
pub(super) struct Tally {
    pub(super) held: usize,
    pub(super) partway: usize,
}
