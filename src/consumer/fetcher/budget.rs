//! `fetch.buffer.memory`: what the fetcher holds of fetched data, counted so that fetches and
//! decode steps start only within the budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of fetch responses held (as received), shared with the leases that release them.
#[derive(Debug, Default)]
pub(super) struct RawHeld {
    bytes: AtomicUsize,
}

impl RawHeld {
    pub(super) fn get(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Counts `bytes` of one response until every partition fetch it was split into is
    /// dropped: their records are slices of one frame, which lives until the last of them.
    pub(super) fn lease(self: &Arc<Self>, bytes: usize) -> Arc<RawLease> {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Arc::new(RawLease {
            bytes,
            held: self.clone(),
        })
    }
}

/// One response's bytes, released when the last partition fetch holding it is dropped.
#[derive(Debug)]
pub(super) struct RawLease {
    bytes: usize,
    held: Arc<RawHeld>,
}

impl Drop for RawLease {
    fn drop(&mut self) {
        self.held.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Part of the budget kept for decoding: fetches alone must not fill it, or every decode step
/// would be the minimal one (a record at a time) until a whole partition's fetch is taken.
pub(super) fn decode_headroom(budget: usize) -> usize {
    (budget / 4).min(2 * crate::consumer::decode::STEP_BYTES)
}
