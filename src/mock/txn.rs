//! The mock's transaction coordinator state machine, as Apache Kafka's TransactionCoordinator
//! runs it with transactions version 1 (explicit AddPartitionsToTxn): producer ids and epochs
//! per transactional id, the partitions and groups of the transaction in progress, offsets
//! staged by TxnOffsetCommit, and the Prepare -> Complete step in which markers are written.
//! Pure state: no I/O, no clock of its own (callers pass `now`), no partition logs; completions
//! are handed back by [`Transactions::tick`] for the cluster to write.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::code::{
    CONCURRENT_TRANSACTIONS, INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING,
    INVALID_TRANSACTION_TIMEOUT, INVALID_TXN_STATE, PRODUCER_FENCED, TRANSACTION_ABORTABLE,
};

/// Kafka's `transaction.max.timeout.ms` default: longer timeouts are refused.
const MAX_TIMEOUT_MS: i32 = 900_000;

/// A transactional id's state, as Kafka's TransactionStateManager names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    /// A producer id is assigned; no transaction is open.
    Empty,
    /// Partitions or offsets were added: a transaction is open.
    Ongoing,
    /// EndTxn(commit) was accepted; markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId was accepted; markers are being
    /// written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// What the mock's transaction coordinator holds for one transactional id, for assertions
/// ([`MockCluster::txn_state`](super::MockCluster::txn_state)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTxnState {
    /// The state.
    pub state: TxnState,
    /// Producer id.
    pub producer_id: i64,
    /// Current producer epoch (a producer with an older one is fenced).
    pub producer_epoch: i16,
    /// Partitions of the open (or completing) transaction, sorted.
    pub partitions: Vec<(String, i32)>,
    /// Consumer groups of the open (or completing) transaction, sorted.
    pub groups: Vec<String>,
    /// Transactions that committed and aborted (by any cause) under this id.
    pub committed: u32,
    /// See `committed`.
    pub aborted: u32,
}

/// An offset staged by TxnOffsetCommit, visible once its transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedOffset {
    pub offset: i64,
    pub metadata: String,
    pub member_id: String,
    pub generation: i32,
}

/// group -> (topic, partition) -> offset.
type Staged = BTreeMap<String, BTreeMap<(String, i32), StagedOffset>>;

/// A transaction whose markers are due: what the cluster writes and makes visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    pub producer_id: i64,
    /// The epoch the markers carry (bumped when the coordinator aborted on its own).
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
    /// Offsets to make visible (empty on abort).
    pub offsets: Staged,
}

#[derive(Debug, Clone)]
struct TxnMeta {
    producer_id: i64,
    epoch: i16,
    /// The epoch an EndTxn v5 bumped from (-1: none), so a retry of it is recognised.
    last_epoch: i16,
    state: TxnState,
    timeout: Duration,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    offsets: Staged,
    /// When the open transaction began (for the timeout).
    started: Instant,
    /// When a Prepare state completes.
    complete_at: Instant,
    committed: u32,
    aborted: u32,
}

impl TxnMeta {
    fn prepare(&mut self, commit: bool, at: Instant) {
        self.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        self.complete_at = at;
    }

    fn preparing(&self) -> bool {
        matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    fn begin_if_idle(&mut self, now: Instant) {
        if self.state != TxnState::Ongoing {
            self.state = TxnState::Ongoing;
            self.started = now;
        }
    }
}

/// Every transactional id the coordinator knows.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    txns: BTreeMap<String, TxnMeta>,
    /// How long markers take to be written after EndTxn (Kafka writes them asynchronously;
    /// meanwhile the id answers CONCURRENT_TRANSACTIONS). Zero: at once.
    pub marker_delay: Duration,
}

impl Transactions {
    /// InitProducerId with a transactional id: a producer id and a new epoch, fencing every
    /// older one. An open transaction is aborted (with a bumped epoch) and the caller is told
    /// CONCURRENT_TRANSACTIONS to retry, as Kafka does. `expected` is the (producer id, epoch)
    /// a v3+ request names (KIP-360), `None` for -1/-1.
    pub(crate) fn init(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now: Instant,
        alloc: impl FnOnce() -> i64,
    ) -> Result<(i64, i16), i16> {
        if timeout_ms <= 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(INVALID_TRANSACTION_TIMEOUT);
        }
        let timeout = Duration::from_millis(timeout_ms as u64);
        let delay = self.marker_delay;
        let Some(m) = self.txns.get_mut(id) else {
            if expected.is_some() {
                return Err(INVALID_PRODUCER_ID_MAPPING);
            }
            let pid = alloc();
            self.txns.insert(
                id.to_string(),
                TxnMeta {
                    producer_id: pid,
                    epoch: 0,
                    last_epoch: -1,
                    state: TxnState::Empty,
                    timeout,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    offsets: Staged::new(),
                    started: now,
                    complete_at: now,
                    committed: 0,
                    aborted: 0,
                },
            );
            return Ok((pid, 0));
        };
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => {
                // Fence the producer of the open transaction, then abort it.
                m.epoch = m.epoch.saturating_add(1);
                m.last_epoch = -1;
                m.prepare(false, now + delay);
                Err(CONCURRENT_TRANSACTIONS)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if expected.is_some_and(|e| e != (m.producer_id, m.epoch)) {
                    return Err(PRODUCER_FENCED);
                }
                if m.epoch >= i16::MAX - 1 {
                    m.producer_id = alloc();
                    m.epoch = 0;
                } else {
                    m.epoch += 1;
                }
                m.last_epoch = -1;
                m.timeout = timeout;
                m.state = TxnState::Empty;
                m.partitions.clear();
                m.groups.clear();
                Ok((m.producer_id, m.epoch))
            }
        }
    }

    fn current(&mut self, id: &str, pid: i64, epoch: i16) -> Result<&mut TxnMeta, i16> {
        let m = self.txns.get_mut(id).ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != pid {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if m.epoch != epoch {
            return Err(PRODUCER_FENCED);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (v0-v3): opens the transaction if none is.
    pub(crate) fn add_partitions(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now: Instant,
    ) -> Result<(), i16> {
        let m = self.current(id, pid, epoch)?;
        if m.preparing() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        m.begin_if_idle(now);
        m.partitions.extend(partitions.iter().cloned());
        Ok(())
    }

    /// AddPartitionsToTxn v4+ with verifyOnly: whether the partition is in the transaction
    /// of this producer (the broker's check before a transactional append), answered as
    /// Kafka 4.x's coordinator does: TRANSACTION_ABORTABLE when it is not.
    pub(crate) fn verify(&self, id: &str, pid: i64, epoch: i16, tp: &(String, i32)) -> i16 {
        match self.txns.get(id) {
            None => INVALID_PRODUCER_ID_MAPPING,
            Some(m) if m.producer_id != pid => INVALID_PRODUCER_ID_MAPPING,
            Some(m) if m.epoch != epoch => PRODUCER_FENCED,
            Some(m) if m.preparing() => CONCURRENT_TRANSACTIONS,
            Some(m) if m.partitions.contains(tp) => 0,
            Some(_) => TRANSACTION_ABORTABLE,
        }
    }

    /// Whether producer `pid` (any transactional id) has `tp` in an open transaction, for a
    /// transactional Produce.
    pub(crate) fn in_open_txn(&self, pid: i64, tp: &(String, i32)) -> bool {
        self.txns.values().any(|m| {
            m.producer_id == pid && m.state == TxnState::Ongoing && m.partitions.contains(tp)
        })
    }

    /// AddOffsetsToTxn: the group's offsets will be part of the transaction.
    pub(crate) fn add_offsets(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        now: Instant,
    ) -> Result<(), i16> {
        let m = self.current(id, pid, epoch)?;
        if m.preparing() {
            return Err(CONCURRENT_TRANSACTIONS);
        }
        m.begin_if_idle(now);
        m.groups.insert(group.to_string());
        Ok(())
    }

    /// TxnOffsetCommit: stages offsets for a group added by AddOffsetsToTxn.
    pub(crate) fn stage_offsets(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<((String, i32), StagedOffset)>,
    ) -> Result<(), i16> {
        let m = self.current(id, pid, epoch).map_err(|e| {
            // The group coordinator learns of fencing from the epoch check on append.
            if e == PRODUCER_FENCED {
                INVALID_PRODUCER_EPOCH
            } else {
                e
            }
        })?;
        if m.state != TxnState::Ongoing || !m.groups.contains(group) {
            return Err(INVALID_TXN_STATE);
        }
        m.offsets
            .entry(group.to_string())
            .or_default()
            .extend(offsets);
        Ok(())
    }

    /// EndTxn (v0-v4). A retry of a completed EndTxn with the same result succeeds again.
    pub(crate) fn end(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
    ) -> Result<(), i16> {
        let delay = self.marker_delay;
        let m = self.current(id, pid, epoch)?;
        match (m.state, commit) {
            (TxnState::Ongoing, _) => {
                m.prepare(commit, now + delay);
                Ok(())
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(()),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(CONCURRENT_TRANSACTIONS)
            }
            _ => Err(INVALID_TXN_STATE),
        }
    }

    /// EndTxn v5 under transactions version 2 (KIP-890): every end bumps the epoch (the
    /// markers carry the new one) and the answer names the producer id and epoch to use next.
    /// An abort with nothing in the transaction is accepted (the producer cannot know whether
    /// a Produce added a partition). A retry of an answered EndTxn, under the epoch it was
    /// sent with, gets the same answer. Epoch exhaustion is not modelled (the epoch saturates).
    pub(crate) fn end_v2(
        &mut self,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
        now: Instant,
    ) -> Result<(i64, i16), i16> {
        let delay = self.marker_delay;
        let m = self.txns.get_mut(id).ok_or(INVALID_PRODUCER_ID_MAPPING)?;
        if m.producer_id != pid {
            return Err(INVALID_PRODUCER_ID_MAPPING);
        }
        if m.last_epoch >= 0 && epoch == m.last_epoch {
            return match (m.state, commit) {
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                    Ok((pid, m.epoch))
                }
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                    Err(CONCURRENT_TRANSACTIONS)
                }
                _ => Err(INVALID_TXN_STATE),
            };
        }
        if m.epoch != epoch {
            return Err(PRODUCER_FENCED);
        }
        match (m.state, commit) {
            (TxnState::Ongoing, _)
            | (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) => {
                m.last_epoch = m.epoch;
                m.epoch = m.epoch.saturating_add(1);
                m.prepare(commit, now + delay);
                Ok((pid, m.epoch))
            }
            (TxnState::PrepareCommit | TxnState::PrepareAbort, _) => Err(CONCURRENT_TRANSACTIONS),
            _ => Err(INVALID_TXN_STATE),
        }
    }

    /// Completes due Prepare states and aborts transactions open longer than their timeout
    /// (bumping the epoch first, so the producer that left it open is fenced). Returns the
    /// transactions whose markers are now to be written.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Completion> {
        let delay = self.marker_delay;
        let mut out = Vec::new();
        for (id, m) in self.txns.iter_mut() {
            if m.state == TxnState::Ongoing && now >= m.started + m.timeout {
                tracing::debug!(transactional_id = %id, "mock: transaction timed out, aborting");
                m.epoch = m.epoch.saturating_add(1);
                m.last_epoch = -1;
                m.prepare(false, now + delay);
            }
            if m.preparing() && now >= m.complete_at {
                let commit = m.state == TxnState::PrepareCommit;
                let offsets = std::mem::take(&mut m.offsets);
                out.push(Completion {
                    producer_id: m.producer_id,
                    producer_epoch: m.epoch,
                    commit,
                    partitions: std::mem::take(&mut m.partitions).into_iter().collect(),
                    offsets: if commit { offsets } else { Staged::new() },
                });
                m.groups.clear();
                if commit {
                    m.state = TxnState::CompleteCommit;
                    m.committed += 1;
                } else {
                    m.state = TxnState::CompleteAbort;
                    m.aborted += 1;
                }
            }
        }
        out
    }

    /// Whether `group` has offsets for `tp` staged by an unfinished transaction (OffsetFetch
    /// with require_stable answers UNSTABLE_OFFSET_COMMIT for those).
    pub(crate) fn has_staged(&self, group: &str, tp: &(String, i32)) -> bool {
        self.txns
            .values()
            .any(|m| m.offsets.get(group).is_some_and(|g| g.contains_key(tp)))
    }

    pub(crate) fn snapshot(&self, id: &str) -> Option<MockTxnState> {
        self.txns.get(id).map(|m| MockTxnState {
            state: m.state,
            producer_id: m.producer_id,
            producer_epoch: m.epoch,
            partitions: m.partitions.iter().cloned().collect(),
            groups: m.groups.iter().cloned().collect(),
            committed: m.committed,
            aborted: m.aborted,
        })
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
