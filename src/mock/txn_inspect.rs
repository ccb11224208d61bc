//! Transaction inspection for tests: a transactional id's coordinator state, a partition's
//! batches including control batches, its last stable offset; and knobs on the coordinator.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::txn::MockTxnState;
use super::{MockCluster, MockRecord};
use crate::error::{Error, Result};
use crate::protocol::record_batch::decode_batches;

/// A batch as stored in a partition's log, control batches included, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockBatch {
    /// First offset.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// Producer id (-1 without idempotence).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Written inside a transaction.
    pub is_transactional: bool,
    /// For a control batch, its transaction marker: `Some(true)` COMMIT, `Some(false)` ABORT.
    pub marker: Option<bool>,
    /// Records in the batch.
    pub record_count: usize,
}

impl MockCluster {
    /// What the transaction coordinator holds for `transactional_id` (after writing any
    /// markers that are due and aborting timed-out transactions); `None` for an unknown id.
    pub fn txn_state(&self, transactional_id: &str) -> Option<MockTxnState> {
        self.shared.tick_txns();
        self.shared.data().txns.snapshot(transactional_id)
    }

    /// Moves the transaction coordinator alone to `broker` (by default it is wherever the
    /// group coordinator is, and [`move_coordinator`](Self::move_coordinator) moves both).
    pub fn move_txn_coordinator(&self, broker: i32) {
        self.shared.txn_coordinator.store(broker, Ordering::Release);
    }

    /// How long the coordinator takes to write markers after EndTxn (default zero: before
    /// EndTxn is answered). Meanwhile the transactional id answers CONCURRENT_TRANSACTIONS and
    /// the transaction's partitions keep their last stable offset.
    pub fn set_txn_marker_delay(&self, delay: Duration) {
        self.shared.data().txns.marker_delay = delay;
    }

    /// Every batch of a partition, control batches included, in offset order.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition; [`Error::CorruptRecord`] if
    /// a stored batch does not decode.
    pub fn batches(&self, topic: &str, partition: i32) -> Result<Vec<MockBatch>> {
        self.shared.tick_txns();
        let blob = {
            let data = self.shared.data();
            let p = data
                .partition(topic, partition)
                .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
            p.read(0, usize::MAX)
        };
        Ok(decode_batches(blob, true)?
            .into_iter()
            .map(|b| MockBatch {
                base_offset: b.base_offset,
                last_offset: b.base_offset + i64::from(b.last_offset_delta),
                producer_id: b.producer_id,
                producer_epoch: b.producer_epoch,
                is_transactional: b.is_transactional,
                marker: b.is_control.then(|| {
                    b.records
                        .first()
                        .and_then(|r| r.key.as_ref())
                        .is_some_and(|k| k.len() >= 4 && k[2..4] == [0, 1])
                }),
                record_count: b.records.len(),
            })
            .collect())
    }

    /// A partition's last stable offset: where read_committed consumers stop.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared.tick_txns();
        self.shared
            .data()
            .partition(topic, partition)
            .map(|p| p.lso())
    }

    /// The records a read_committed consumer gets from a partition: data records, without
    /// those of aborted transactions and without those past the last stable offset.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition; [`Error::CorruptRecord`] if a
    /// stored batch does not decode.
    pub fn committed_records(&self, topic: &str, partition: i32) -> Result<Vec<MockRecord>> {
        self.shared.tick_txns();
        let (blob, aborted, lso) = {
            let data = self.shared.data();
            let p = data
                .partition(topic, partition)
                .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
            (p.read(0, usize::MAX), p.aborted.clone(), p.lso())
        };
        let mut out = Vec::new();
        for b in decode_batches(blob, true)? {
            let in_aborted = aborted.iter().any(|a| {
                a.producer_id == b.producer_id
                    && (a.first_offset..=a.last_offset).contains(&b.base_offset)
            });
            if b.is_control || (b.is_transactional && in_aborted) {
                continue;
            }
            out.extend(
                b.records
                    .into_iter()
                    .filter(|r| r.offset < lso)
                    .map(|r| MockRecord {
                        offset: r.offset,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        producer_id: b.producer_id,
                    }),
            );
        }
        Ok(out)
    }
}
