//! The transactional producer (KIP-98, KIP-447): Java's TransactionManager.
//!
//! [`TransactionManager`] is the one owner of the transaction's state. The public calls
//! (`init_transactions`, `begin_transaction`, ..., in [`api`]) move it and run the
//! coordinator requests themselves; the sender loop only asks which partitions it may drain
//! ([`TransactionManager::may_drain`]) and starts the AddPartitionsToTxn for the others on a
//! task of its own ([`TransactionManager::poll_add_partitions`]), so it never waits on a broker.
//! The producer id and epoch live in the [`IdempotenceManager`](super::idempotence), which the
//! transaction manager sets instead of the sender.

mod api;
#[cfg(all(test, feature = "mock"))]
mod mock_tests;
pub(crate) mod requests;
pub(crate) mod state;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::idempotence::ProducerIdAndEpoch;
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use requests::{Failure, Requests, Verdict};
use state::{State, is_transition_valid};

type Partition = (Arc<str>, i32);

/// What the state lock guards.
struct TxnState {
    state: State,
    /// The abortable or fatal error the producer is in, returned by the calls it blocks.
    last_error: Option<Error>,
    /// Partitions the coordinator added to the current transaction (drained freely).
    added: BTreeSet<Partition>,
    /// Partitions with data waiting for AddPartitionsToTxn.
    pending: BTreeSet<Partition>,
    /// Partitions of the AddPartitionsToTxn now running.
    adding: BTreeSet<Partition>,
    /// AddOffsetsToTxn succeeded in this transaction (it needs an EndTxn even without data).
    offsets_added: bool,
}

pub(crate) struct TransactionManager {
    pub(crate) requests: Requests,
    transaction_timeout: Duration,
    /// Guards the state machine and the transaction's partitions.
    state: Mutex<TxnState>,
    /// The AddPartitionsToTxn task; only the sender loop starts one, `abort` waits for it.
    add_task: Mutex<Option<JoinHandle<()>>>,
    /// Transactions version 2 (KIP-890), decided by `init_transactions` from the
    /// coordinator's finalized features: partitions join the transaction with their first
    /// Produce (v12), offsets with TxnOffsetCommit (v5), and every EndTxn (v5) bumps the epoch.
    v2: AtomicBool,
    /// Serializes the sender's "the producer is in an error: take what is queued" with the
    /// end of a transaction ([`completed`](Self::completed)), so batches of the next
    /// transaction are never failed for the error of the last. Taken before the state lock
    /// and the accumulator's (never while either is held).
    end_gate: Mutex<()>,
    /// Runs once on the sender task after it found the producer in an error and before it
    /// takes the queued batches: lets a test widen that window.
    /// How long the next AddPartitionsToTxn task stays alive after its wake-up: lets a test
    /// show the sender loop does not wait for the task's end.
    #[cfg(test)]
    pub(crate) add_task_linger: Mutex<Option<Duration>>,
    #[cfg(test)]
    pub(crate) error_check_hook: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl TransactionManager {
    pub(crate) fn new(
        net: Arc<NetworkClient>,
        transactional_id: String,
        transaction_timeout: Duration,
    ) -> TransactionManager {
        TransactionManager {
            requests: Requests::new(net, transactional_id),
            transaction_timeout,
            state: Mutex::new(TxnState {
                state: State::Uninitialized,
                last_error: None,
                added: BTreeSet::new(),
                pending: BTreeSet::new(),
                adding: BTreeSet::new(),
                offsets_added: false,
            }),
            add_task: Mutex::new(None),
            v2: AtomicBool::new(false),
            end_gate: Mutex::new(()),
            #[cfg(test)]
            add_task_linger: Mutex::new(None),
            #[cfg(test)]
            error_check_hook: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TxnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn transactional_id(&self) -> &str {
        &self.requests.transactional_id
    }

    /// Whether this producer runs transactions version 2 (KIP-890).
    pub(crate) fn v2(&self) -> bool {
        self.v2.load(Ordering::Acquire)
    }

    fn timeout_ms(&self) -> i32 {
        self.transaction_timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.lock().state
    }

    /// Moves to `to`, or says why it cannot: the error the producer is in, else the state.
    fn transition(&self, to: State, call: &str) -> Result<State> {
        let mut st = self.lock();
        if st.state == State::FatalError
            || (st.state == State::AbortableError && to != State::AbortingTransaction)
        {
            return Err(st.last_error.clone().unwrap_or_else(|| {
                Error::TransactionState(format!("{call} in state {}", st.state.name()))
            }));
        }
        if !is_transition_valid(st.state, to) {
            return Err(Error::TransactionState(format!(
                "cannot {call} in state {}",
                st.state.name()
            )));
        }
        let from = st.state;
        st.state = to;
        tracing::debug!(from = from.name(), to = to.name(), "transaction state");
        Ok(from)
    }

    /// Whether a record may be appended now (only inside a transaction).
    pub(crate) fn check_send(&self) -> Result<()> {
        let st = self.lock();
        match st.state {
            State::InTransaction => Ok(()),
            State::AbortableError | State::FatalError => Err(st
                .last_error
                .clone()
                .unwrap_or_else(|| Error::TransactionState(st.state.name().into()))),
            s => Err(Error::TransactionState(format!(
                "cannot send in state {}: call begin_transaction first",
                s.name()
            ))),
        }
    }

    /// The error queued batches fail with instead of being sent, if the producer is in one.
    pub(crate) fn error(&self) -> Option<Error> {
        let st = self.lock();
        match st.state {
            State::AbortableError | State::FatalError | State::AbortingTransaction => Some(
                st.last_error
                    .clone()
                    .unwrap_or_else(|| Error::TransactionAbortable("transaction aborted".into())),
            ),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn run_error_check_hook(&self) {
        let hook = self
            .error_check_hook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = hook {
            h();
        }
    }

    /// When the producer is in an error (or aborting), runs `take` (the sender taking every
    /// queued batch) before the transaction can end, and returns the error to fail them with.
    pub(crate) fn take_if_failed<T>(&self, take: impl FnOnce() -> T) -> Option<(Error, T)> {
        let _gate = self.end_gate.lock().unwrap_or_else(|p| p.into_inner());
        let error = self.error()?;
        #[cfg(test)]
        self.run_error_check_hook();
        Some((error, take()))
    }

    /// Puts the producer in the error `failure` stands for (fenced and fatal ones for good).
    pub(crate) fn fail_with(&self, failure: &Failure) {
        let error = match failure.verdict {
            Verdict::Fenced => Error::ProducerFenced {
                transactional_id: self.transactional_id().to_string(),
                reason: failure.error.to_string(),
            },
            Verdict::Fatal => Error::TransactionFatal(failure.error.to_string()),
            Verdict::Abortable | Verdict::Retry { .. } => {
                Error::TransactionAbortable(failure.error.to_string())
            }
        };
        let fatal = matches!(failure.verdict, Verdict::Fenced | Verdict::Fatal);
        let mut st = self.lock();
        if st.state == State::FatalError {
            return;
        }
        if matches!(failure.verdict, Verdict::Fenced) {
            tracing::info!(error = %error,
                "producer fenced: another producer with this transactional.id took over");
        }
        if fatal {
            tracing::warn!(error = %error, "transactional producer failed fatally");
            st.state = State::FatalError;
            st.last_error = Some(error);
        } else if is_transition_valid(st.state, State::AbortableError) {
            tracing::info!(error = %error, "transaction must be aborted");
            st.state = State::AbortableError;
            st.last_error = Some(error);
        }
    }

    /// A batch of the transaction failed with `err`: fenced if the broker says so, else the
    /// transaction can only abort.
    pub(crate) fn batch_failed(&self, err: &Error) {
        let verdict = match err.code() {
            Some(c) => match requests::verdict(c.0) {
                Verdict::Retry { .. } => Verdict::Abortable,
                v => v,
            },
            None => Verdict::Abortable,
        };
        self.fail_with(&Failure {
            error: err.clone(),
            verdict,
        });
    }

    /// Whether the sender may drain `partition` now; otherwise it is queued for
    /// AddPartitionsToTxn.
    pub(crate) fn may_drain(&self, topic: &Arc<str>, partition: i32) -> bool {
        let mut st = self.lock();
        let key = (topic.clone(), partition);
        if st.added.contains(&key) {
            return true;
        }
        if self.v2() {
            // The Produce itself adds the partition (KIP-890); it is only remembered so the
            // transaction is known to need an EndTxn.
            st.added.insert(key);
            return true;
        }
        let open = matches!(
            st.state,
            State::InTransaction | State::CommittingTransaction
        );
        if open && !st.adding.contains(&key) {
            st.pending.insert(key);
        }
        false
    }

    /// Starts AddPartitionsToTxn for the pending partitions when none is running; `wake`
    /// runs when it ends. Called by the sender loop only.
    pub(crate) fn poll_add_partitions(
        self: &Arc<Self>,
        id: ProducerIdAndEpoch,
        deadline: Instant,
        wake: impl FnOnce() + Send + 'static,
    ) {
        let mut task = self.add_task.lock().unwrap_or_else(|p| p.into_inner());
        // Whether one runs is `adding` (emptied before its wake-up), not the task's handle: the
        // woken loop may look before the task has ended, and nothing would wake it again.
        let partitions: Vec<Partition> = {
            let mut st = self.lock();
            if st.pending.is_empty() || !st.adding.is_empty() {
                return;
            }
            let p = std::mem::take(&mut st.pending);
            st.adding = p.clone();
            p.into_iter().collect()
        };
        let tm = self.clone();
        *task = Some(tokio::spawn(async move {
            let result = tm.requests.add_partitions(id, &partitions, deadline).await;
            {
                let mut st = tm.lock();
                let adding = std::mem::take(&mut st.adding);
                if result.is_ok() {
                    st.added.extend(adding);
                }
            }
            if let Err(f) = result {
                tm.fail_with(&f);
            }
            wake();
            #[cfg(test)]
            {
                let linger = tm
                    .add_task_linger
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(d) = linger {
                    tokio::time::sleep(d).await;
                }
            }
        }));
    }

    /// Waits until no AddPartitionsToTxn runs (an EndTxn must not overtake one).
    async fn wait_for_add_partitions(&self) {
        let task = self
            .add_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// The transaction has data or offsets: it needs an EndTxn.
    fn started(&self) -> bool {
        let st = self.lock();
        !st.added.is_empty() || st.offsets_added
    }

    /// A transaction ended (committed or aborted): back to Ready with nothing added.
    fn completed(&self) {
        let _gate = self.end_gate.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = self.lock();
        st.added.clear();
        st.pending.clear();
        st.offsets_added = false;
        st.last_error = None;
        if st.state != State::FatalError {
            st.state = State::Ready;
        }
    }
}

impl Drop for TransactionManager {
    fn drop(&mut self) {
        if let Some(t) = self.add_task.get_mut().ok().and_then(|t| t.take()) {
            t.abort();
        }
    }
}
