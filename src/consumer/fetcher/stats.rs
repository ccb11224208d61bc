//! Counters of the Fetch requests a consumer sent, for tests and benchmarks
//! ([`KafkaConsumer::fetch_stats`](crate::consumer::KafkaConsumer::fetch_stats)).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since the consumer was created. Not a stable API: for tests and benchmarks only.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchStats {
    /// Fetch requests sent.
    pub requests: u64,
    /// Of which full (every wanted partition named: no session, or one being created).
    pub full_requests: u64,
    /// Partitions named in all requests together.
    pub partitions_sent: u64,
    /// Encoded size of all requests' bodies, in bytes.
    pub request_bytes: u64,
    /// Answers that said the session was lost or out of step (FETCH_SESSION_ID_NOT_FOUND,
    /// INVALID_FETCH_SESSION_EPOCH).
    pub session_errors: u64,
    /// Per broker id: partitions it answered with records (the leader, or a preferred read
    /// replica).
    pub served_by: BTreeMap<i32, u64>,
    /// Bytes held now for fetched data not returned by `poll` (`fetch.buffer.memory`):
    /// responses as received and records decoded from them.
    pub buffered_bytes: u64,
    /// The most `buffered_bytes` has been.
    pub peak_buffered_bytes: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    requests: AtomicU64,
    full_requests: AtomicU64,
    partitions_sent: AtomicU64,
    request_bytes: AtomicU64,
    session_errors: AtomicU64,
    served_by: Mutex<BTreeMap<i32, u64>>,
}

impl Counters {
    pub(super) fn sent(&self, full: bool, partitions: usize, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.full_requests
            .fetch_add(u64::from(full), Ordering::Relaxed);
        self.partitions_sent
            .fetch_add(partitions as u64, Ordering::Relaxed);
        self.request_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(super) fn session_error(&self) {
        self.session_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn served(&self, node: i32, partitions: u64) {
        if partitions > 0 {
            let mut m = self.served_by.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry(node).or_default() += partitions;
        }
    }

    pub(super) fn snapshot(&self) -> FetchStats {
        FetchStats {
            requests: self.requests.load(Ordering::Relaxed),
            full_requests: self.full_requests.load(Ordering::Relaxed),
            partitions_sent: self.partitions_sent.load(Ordering::Relaxed),
            request_bytes: self.request_bytes.load(Ordering::Relaxed),
            session_errors: self.session_errors.load(Ordering::Relaxed),
            served_by: self
                .served_by
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            ..FetchStats::default()
        }
    }
}
