//! The transactional producer's states and which moves between them are allowed, as Java's
//! TransactionManager. Pure: no I/O, no locks, so the table test covers every pair.

/// Where the transactional producer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// `init_transactions` not called yet (or it failed retriably and may be called again).
    Uninitialized,
    /// InitProducerId with the transactional id is running.
    Initializing,
    /// Between transactions.
    Ready,
    /// `begin_transaction` was called: sends and offsets join the transaction.
    InTransaction,
    /// `commit_transaction` runs (flush, then EndTxn(commit)); a timed-out call may resume.
    CommittingTransaction,
    /// `abort_transaction` runs (drop the queued, wait for the in-flight, then EndTxn(abort)).
    AbortingTransaction,
    /// Something in the transaction failed: only `abort_transaction` is allowed.
    AbortableError,
    /// Fenced or refused for good: every call fails.
    FatalError,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Uninitialized => "UNINITIALIZED",
            State::Initializing => "INITIALIZING",
            State::Ready => "READY",
            State::InTransaction => "IN_TRANSACTION",
            State::CommittingTransaction => "COMMITTING_TRANSACTION",
            State::AbortingTransaction => "ABORTING_TRANSACTION",
            State::AbortableError => "ABORTABLE_ERROR",
            State::FatalError => "FATAL_ERROR",
        }
    }
}

/// Whether the producer may move from `from` to `to`.
pub(crate) fn is_transition_valid(from: State, to: State) -> bool {
    use State::*;
    match to {
        // A retriable failure of InitProducerId (a timeout) lets the caller try again.
        Uninitialized => matches!(from, Initializing),
        Initializing => matches!(from, Uninitialized | Initializing),
        Ready => matches!(
            from,
            Initializing | CommittingTransaction | AbortingTransaction
        ),
        InTransaction => matches!(from, Ready),
        // Committing -> Committing: a commit that timed out is resumed by calling it again.
        CommittingTransaction => matches!(from, InTransaction | CommittingTransaction),
        AbortingTransaction => matches!(from, InTransaction | AbortableError | AbortingTransaction),
        // The error may arrive from a request that ends while an abort is already running: it
        // stays aborting then (the caller keeps the AbortingTransaction state).
        AbortableError => matches!(from, InTransaction | CommittingTransaction | AbortableError),
        FatalError => true,
    }
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    const ALL: [State; 8] = [
        Uninitialized,
        Initializing,
        Ready,
        InTransaction,
        CommittingTransaction,
        AbortingTransaction,
        AbortableError,
        FatalError,
    ];

    /// Every (from, to) pair: the allowed ones, as Java's TransactionManager allows them.
    #[test]
    fn transition_table() {
        let allowed: &[(State, State)] = &[
            (Initializing, Uninitialized),
            (Uninitialized, Initializing),
            (Initializing, Initializing),
            (Initializing, Ready),
            (CommittingTransaction, Ready),
            (AbortingTransaction, Ready),
            (Ready, InTransaction),
            (InTransaction, CommittingTransaction),
            (CommittingTransaction, CommittingTransaction),
            (InTransaction, AbortingTransaction),
            (AbortableError, AbortingTransaction),
            (AbortingTransaction, AbortingTransaction),
            (InTransaction, AbortableError),
            (CommittingTransaction, AbortableError),
            (AbortableError, AbortableError),
        ];
        let mut count = 0;
        for from in ALL {
            for to in ALL {
                let expected = to == FatalError || allowed.contains(&(from, to));
                assert_eq!(
                    is_transition_valid(from, to),
                    expected,
                    "{} -> {}",
                    from.name(),
                    to.name()
                );
                count += usize::from(expected);
            }
        }
        assert_eq!(count, allowed.len() + ALL.len());
        // The moves callers must never make.
        assert!(!is_transition_valid(Ready, CommittingTransaction));
        assert!(!is_transition_valid(FatalError, Ready));
        assert!(!is_transition_valid(AbortableError, CommittingTransaction));
    }
}
