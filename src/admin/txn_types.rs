//! Value types of the producer-state and transaction calls.

use crate::types::TopicPartition;

/// A producer with state on a partition ([`AdminClient::describe_producers`](super::AdminClient::describe_producers)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerState {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i32,
    /// The sequence number of its last batch on the partition.
    pub last_sequence: i32,
    /// The timestamp (ms) of its last write.
    pub last_timestamp: i64,
    /// The epoch of the transaction coordinator that last wrote a marker, when any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of its open transaction on the partition, when one is open.
    pub current_transaction_start_offset: Option<i64>,
}

/// A transaction in a listing ([`AdminClient::list_transactions`](super::AdminClient::list_transactions)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionListing {
    /// `transactional.id`.
    pub transactional_id: String,
    /// Current producer id.
    pub producer_id: i64,
    /// State, e.g. `Ongoing`, `CompleteCommit`, `CompleteAbort`, `Empty`.
    pub state: String,
}

/// Filters of [`AdminClient::list_transactions_with`](super::AdminClient::list_transactions_with);
/// empty ones match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsOptions {
    /// States to keep.
    pub states: Vec<String>,
    /// Producer ids to keep.
    pub producer_ids: Vec<i64>,
    /// Only transactions running longer than this many ms (ListTransactions v1+; `None`: all).
    pub min_duration_ms: Option<i64>,
}

/// A transaction as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionDescription {
    /// `transactional.id`.
    pub transactional_id: String,
    /// State, e.g. `Ongoing`.
    pub state: String,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// When the current transaction started (ms), `None` when none is open.
    pub start_time_ms: Option<i64>,
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Partitions in the open transaction, sorted.
    pub topic_partitions: Vec<TopicPartition>,
    /// The coordinator's broker id.
    pub coordinator_id: i32,
}

/// A hanging transaction to abort on one partition
/// ([`AdminClient::abort_transaction`](super::AdminClient::abort_transaction)), as
/// [`describe_producers`](super::AdminClient::describe_producers) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortTransactionSpec {
    /// The partition with the open transaction.
    pub partition: TopicPartition,
    /// Its producer id.
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// The coordinator epoch to write the marker with (the producer state's, 0 when none).
    pub coordinator_epoch: i32,
}
