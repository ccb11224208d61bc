//! Transactions in the partition logs: control batches (COMMIT/ABORT markers), the last stable
//! offset, the aborted-transaction index read_committed fetches get, and applying a completed
//! transaction (markers, then its staged offsets) to the cluster data.

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::state::{ClusterData, PartitionLog};
use super::txn::Completion;
use crate::error::Result;
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::RecordBatchBuilder;

/// Batch attribute bits (record batch format v2).
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;
const ATTRIBUTES_AT: usize = 21;
const CRC_AT: usize = 17;

/// An aborted transaction in one partition: its producer and offset range (the marker is the
/// last offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// One control batch holding a transaction marker, as a coordinator writes it: key
/// (version 0, type 0 = ABORT / 1 = COMMIT), value (version 0, coordinator epoch).
pub(crate) fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Result<Bytes> {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut b = RecordBatchBuilder::new(Compression::None, None, 32);
    b.append(timestamp_ms, Some(&key), Some(&value), &[]);
    let built = b.build(producer_id, producer_epoch, -1, true)?;
    let mut out = BytesMut::from(&built[..]);
    let attrs = i16::from_be_bytes([out[ATTRIBUTES_AT], out[ATTRIBUTES_AT + 1]])
        | TRANSACTIONAL_BIT
        | CONTROL_BIT;
    out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    // The attributes are inside the CRC's range.
    let crc = crc32c::crc32c(&out[ATTRIBUTES_AT..]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(out.freeze())
}

impl PartitionLog {
    /// The last stable offset: the first offset of the oldest open transaction, else the
    /// high watermark.
    pub(crate) fn lso(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
            .min(self.next_offset)
    }

    /// Writes a marker for `producer_id`'s transaction here and closes it. Returns the
    /// marker's offset.
    pub(crate) fn write_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        timestamp_ms: i64,
    ) -> Result<i64> {
        let batch = marker_batch(producer_id, producer_epoch, commit, 0, timestamp_ms)?;
        let at = self.next_offset;
        let mut b = BytesMut::from(&batch[..]);
        b[..8].copy_from_slice(&at.to_be_bytes());
        b[12..16].copy_from_slice(&self.leader_epoch.to_be_bytes());
        self.batches.push(super::state::StoredBatch {
            base_offset: at,
            last_offset: at,
            bytes: b.freeze(),
        });
        self.next_offset += 1;
        if let Some(first) = self.open_txns.remove(&producer_id)
            && !commit
        {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset: first,
                last_offset: at,
            });
        }
        Ok(at)
    }

    /// Aborted transactions overlapping offsets `from..upto`, for a read_committed fetch.
    pub(crate) fn aborted_between(&self, from: i64, upto: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < upto)
            .copied()
            .collect()
    }

    /// Whole batches from `offset` on that end before `end`, up to about `max_bytes` (at
    /// least one batch if one fits under `end`).
    pub(crate) fn read_until(&self, offset: i64, max_bytes: usize, end: i64) -> Bytes {
        let start = self.batches.partition_point(|b| b.last_offset < offset);
        let mut out = BytesMut::new();
        for b in &self.batches[start..] {
            if b.last_offset >= end || (!out.is_empty() && out.len() + b.bytes.len() > max_bytes) {
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        out.freeze()
    }
}

impl ClusterData {
    /// Runs the transaction coordinator's clock: writes the markers of every transaction
    /// that completed (or timed out) by `now`, makes committed offsets visible, and moves the
    /// producers' epochs. True if anything was written (fetches waiting for data may wake).
    pub(crate) fn tick_txns(&mut self, now: Instant) -> bool {
        let done = self.txns.tick(now);
        let any = !done.is_empty();
        for c in done {
            self.apply_completion(c);
        }
        any
    }

    fn apply_completion(&mut self, c: Completion) {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.producer_epochs.insert(c.producer_id, c.producer_epoch);
        for (topic, partition) in &c.partitions {
            if let Some(log) = self.partition_mut(topic, *partition)
                && let Err(e) = log.write_marker(c.producer_id, c.producer_epoch, c.commit, ts)
            {
                tracing::warn!(%topic, partition, error = %e, "mock: marker not written");
            }
        }
        for (group, offsets) in c.offsets {
            let log = self.commit_log.entry(group.clone()).or_default();
            let committed = self.committed.entry(group).or_default();
            for ((topic, partition), o) in offsets {
                log.push(super::MockCommit {
                    topic: topic.clone(),
                    partition,
                    offset: o.offset,
                    member_id: o.member_id,
                    generation: o.generation,
                });
                committed.insert((topic, partition), (o.offset, o.metadata));
            }
        }
    }
}
