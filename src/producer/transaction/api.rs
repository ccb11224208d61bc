//! The transactional calls of [`KafkaProducer`], with Java's names and semantics.

use std::sync::Arc;

use tokio::time::Instant;

use super::TransactionManager;
use super::requests::Verdict;
use super::state::State;
use crate::consumer::{ConsumerGroupMetadata, Offsets};
use crate::error::{Error, Result};
use crate::producer::KafkaProducer;

impl KafkaProducer {
    pub(super) fn txn(&self) -> Result<&Arc<TransactionManager>> {
        self.inner
            .shared
            .txn
            .as_ref()
            .ok_or_else(|| Error::TransactionState("the producer has no transactional.id".into()))
    }

    fn txn_deadline(&self) -> Instant {
        Instant::now() + self.inner.max_block
    }

    /// Registers `transactional.id` with its transaction coordinator: gets the producer id and
    /// a new epoch, which fences every older producer with the same id and aborts a
    /// transaction one left open. Call it once, before the first `begin_transaction`.
    ///
    /// Waits at most `max.block.ms` (default 60 s) for the coordinator.
    ///
    /// Errors: [`Error::Timeout`] when the coordinator did not answer in time (the call may be
    /// repeated); [`Error::ProducerFenced`] or [`Error::TransactionFatal`] (for instance
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED), after which every transactional call fails;
    /// [`Error::TransactionState`] without `transactional.id` or when called twice.
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#commit-and-abort).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped before it completes, the producer stays initializing; call it
    /// again.
    pub async fn init_transactions(&self) -> Result<()> {
        let tm = self.txn()?;
        let deadline = self.txn_deadline();
        tm.transition(State::Initializing, "init_transactions")?;
        match tm
            .requests
            .init_producer_id(None, tm.timeout_ms(), deadline)
            .await
        {
            Ok(id) => {
                // A broker that cannot say keeps the version 1 flow, which every broker takes.
                let v2 = tm.requests.supports_v2().await.unwrap_or(false);
                tm.v2.store(v2, std::sync::atomic::Ordering::Release);
                tracing::info!(
                    transaction_version = if v2 { 2 } else { 1 },
                    transactional_id = tm.transactional_id(),
                    producer_id = id.producer_id,
                    epoch = id.epoch,
                    "transactions initialized"
                );
                self.inner.shared.idempotence.set(id);
                self.inner.acc.reset_sequences();
                tm.transition(State::Ready, "init_transactions")?;
                self.inner.acc.wakeup.notify_one();
                Ok(())
            }
            Err(f) if matches!(f.verdict, Verdict::Retry { .. }) => {
                tm.transition(State::Uninitialized, "init_transactions")?;
                Err(f.error)
            }
            Err(mut f) => {
                if f.verdict != Verdict::Fenced {
                    f.verdict = Verdict::Fatal;
                }
                tm.fail_with(&f);
                Err(tm.error().unwrap_or(f.error))
            }
        }
    }

    /// Starts a transaction: the records sent until `commit_transaction` or
    /// `abort_transaction` become visible to `read_committed` consumers together, or never.
    ///
    /// Errors: [`Error::TransactionState`] before `init_transactions` or inside a transaction;
    /// the producer's fatal error.
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#commit-and-abort).
    pub fn begin_transaction(&self) -> Result<()> {
        self.txn()?
            .transition(State::InTransaction, "begin_transaction")
            .map(|_| ())
    }

    /// Adds a consumer group's offsets to the transaction (KIP-447): they are committed if
    /// and only if the transaction commits. `group` (from
    /// [`KafkaConsumer::group_metadata`](crate::KafkaConsumer::group_metadata)) fences a
    /// zombie: the coordinator refuses offsets of a member or generation no longer current.
    /// Each offset is the next one to read (the last processed one + 1).
    ///
    /// Waits at most `max.block.ms` (default 60 s).
    ///
    /// Errors: [`Error::TransactionAbortable`] when the coordinator refused the offsets (for
    /// instance the group rebalanced: ILLEGAL_GENERATION); abort the transaction.
    /// [`Error::Timeout`], [`Error::TransactionState`] outside a transaction, the fatal errors.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped early, the offsets may or may not be in the transaction;
    /// abort it.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &Offsets,
        group: &ConsumerGroupMetadata,
    ) -> Result<()> {
        let tm = self.txn()?;
        tm.check_send()?;
        let deadline = self.txn_deadline();
        let id = self.producer_id()?;
        let v2 = tm.v2();
        let result = async {
            if !v2 {
                tm.requests
                    .add_offsets(id, &group.group_id, deadline)
                    .await?;
            }
            tm.lock().offsets_added = true;
            tracing::debug!(group = %group.group_id, "offsets added to the transaction");
            tm.requests
                .txn_offset_commit(id, offsets, group, v2, deadline)
                .await
        }
        .await;
        result.map_err(|f| {
            tm.fail_with(&f);
            tm.error().unwrap_or(f.error)
        })
    }

    /// Sends every record of the transaction (as [`flush`](Self::flush)), then commits it
    /// (EndTxn): its records and offsets become visible to `read_committed` consumers.
    ///
    /// Waits at most `max.block.ms` (default 60 s).
    ///
    /// Errors: [`Error::Timeout`]: call it again to resume the commit.
    /// [`Error::TransactionAbortable`] when a record or the offsets failed: call
    /// `abort_transaction`. [`Error::ProducerFenced`] and the other fatal errors.
    /// [`Error::TransactionState`] outside a transaction.
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#commit-and-abort).
    ///
    /// # Cancel safety
    /// Dropped early, the commit may or may not have happened; call it again to resume.
    pub async fn commit_transaction(&self) -> Result<()> {
        let tm = self.txn()?;
        tm.transition(State::CommittingTransaction, "commit_transaction")?;
        let deadline = self.txn_deadline();
        if tokio::time::timeout_at(deadline, self.flush())
            .await
            .is_err()
        {
            return Err(Error::Timeout(format!(
                "the transaction's records were not delivered within max.block.ms ({} ms)",
                self.inner.max_block.as_millis()
            )));
        }
        tm.wait_for_add_partitions().await;
        if let Some(e) = tm.error() {
            return Err(e);
        }
        if tm.started() {
            let id = self.producer_id()?;
            match tm.requests.end_txn(id, true, tm.v2(), deadline).await {
                Ok(next) => self.next_epoch(next),
                Err(f) if matches!(f.verdict, Verdict::Retry { .. }) => return Err(f.error),
                Err(f) => {
                    tm.fail_with(&f);
                    return Err(tm.error().unwrap_or(f.error));
                }
            }
        }
        tm.completed();
        Ok(())
    }

    /// Aborts the transaction: queued records fail with [`Error::TransactionAbortable`],
    /// records in flight are waited for, then EndTxn(abort) makes the transaction's records
    /// and offsets invisible to `read_committed` consumers for good. The producer may then
    /// begin a new transaction. Also the way out of an abortable error.
    ///
    /// Waits at most `max.block.ms` (default 60 s).
    ///
    /// Errors: [`Error::Timeout`]: call it again to resume. [`Error::ProducerFenced`] and
    /// the other fatal errors. [`Error::TransactionState`] outside a transaction.
    ///
    /// Example: [exactly-once guide](crate::guide::exactly_once#commit-and-abort).
    ///
    /// # Cancel safety
    /// Dropped early, the abort may or may not have happened; call it again to resume.
    pub async fn abort_transaction(&self) -> Result<()> {
        let tm = self.txn()?;
        tm.transition(State::AbortingTransaction, "abort_transaction")?;
        let deadline = self.txn_deadline();
        self.inner.shared.fail_queued(&Error::TransactionAbortable(
            "the transaction was aborted".into(),
        ));
        self.inner.acc.wakeup.notify_one();
        if tokio::time::timeout_at(deadline, self.flush())
            .await
            .is_err()
        {
            return Err(Error::Timeout(format!(
                "requests of the transaction did not end within max.block.ms ({} ms)",
                self.inner.max_block.as_millis()
            )));
        }
        tm.wait_for_add_partitions().await;
        if tm.state() == State::FatalError {
            return Err(tm
                .error()
                .unwrap_or(Error::TransactionFatal("fatal".into())));
        }
        let mut id = self.producer_id()?;
        if tm.started() {
            match tm.requests.end_txn(id, false, tm.v2(), deadline).await {
                Ok(Some(next)) => {
                    // The bumped epoch starts every partition over: no bump of our own.
                    self.inner.shared.idempotence.take_bump();
                    self.next_epoch(Some(next));
                    id = next;
                }
                Ok(None) => {}
                Err(f) if matches!(f.verdict, Verdict::Retry { .. }) => {
                    // Still aborting: calling again resumes.
                    return Err(f.error);
                }
                Err(f) => {
                    tm.fail_with(&Verdict::fatal_unless_fenced(f));
                    return Err(tm.error().unwrap_or_else(|| {
                        Error::TransactionFatal("EndTxn(abort) failed".into())
                    }));
                }
            }
        }
        if self.inner.shared.idempotence.take_bump() {
            // A sequence gap: the next transaction starts from sequence 0 under a new epoch
            // (KIP-360).
            match tm
                .requests
                .init_producer_id(Some(id), tm.timeout_ms(), deadline)
                .await
            {
                Ok(bumped) => {
                    id = bumped;
                    self.inner.shared.idempotence.set(id);
                    self.inner.acc.reset_sequences();
                }
                Err(f) => {
                    self.inner.shared.idempotence.request_bump();
                    if !matches!(f.verdict, Verdict::Retry { .. }) {
                        tm.fail_with(&Verdict::fatal_unless_fenced(f.clone()));
                    }
                    return Err(f.error);
                }
            }
        }
        tm.completed();
        Ok(())
    }

    /// Transactions version 2: every EndTxn hands out the epoch (or, when it ran out, the
    /// producer id) of the next transaction, whose sequences start at 0.
    fn next_epoch(&self, next: Option<super::super::idempotence::ProducerIdAndEpoch>) {
        if let Some(next) = next {
            self.inner.shared.idempotence.set(next);
            self.inner.acc.reset_sequences();
        }
    }

    fn producer_id(&self) -> Result<super::super::idempotence::ProducerIdAndEpoch> {
        self.inner
            .shared
            .idempotence
            .current()
            .ok_or_else(|| Error::TransactionState("init_transactions has not completed".into()))
    }
}

impl Verdict {
    /// While aborting, anything but a fence is fatal: the transaction cannot end.
    fn fatal_unless_fenced(mut f: super::requests::Failure) -> super::requests::Failure {
        if f.verdict != Verdict::Fenced {
            f.verdict = Verdict::Fatal;
        }
        f
    }
}
