//! `buffer.memory` as a FIFO byte budget shared by every caller of one producer.
//!
//! A new batch reserves what it allocates (what its partition's last batch held, at least
//! 1 KiB, then more in doublings as it fills up to `batch.size`, or its one record when larger)
//! before allocating it; it trades that for the size of its wire bytes once built, and gives them back
//! when it completes. Request frames, copies of their batches' wire bytes, are reserved until
//! written or answered. Callers that find the budget spent wait in arrival order (tokio's
//! semaphore is fair) for at most `max.block.ms`.
//!
//! The sender must never wait for memory (it is what frees it), so what it allocates is reserved
//! with [`BufferPool::force_reserve`]: past the budget, the excess is a debt that released bytes
//! repay before any caller gets them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use tokio::time::Instant;

pub(crate) struct BufferPool {
    sem: Semaphore,
    total: usize,
    waiting: AtomicUsize,
    /// Bytes reserved beyond the budget by `force_reserve`, not yet repaid.
    debt: AtomicUsize,
}

impl BufferPool {
    pub(crate) fn new(total: usize) -> BufferPool {
        let total = total.min(u32::MAX as usize);
        BufferPool {
            sem: Semaphore::new(total),
            total,
            waiting: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Bytes not reserved now.
    pub(crate) fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Bytes reserved now, debt included.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.total - self.available() + self.debt.load(Ordering::Acquire)
    }

    /// Whether some caller is waiting for memory (the sender then sends without lingering).
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Reserves `n` bytes without waiting.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        match self.sem.try_acquire_many(n as u32) {
            Ok(p) => {
                p.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Reserves `n` bytes (`n <= total`), waiting until `deadline`. False on timeout.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped wait reserves nothing.
    pub(crate) async fn reserve(&self, n: usize, deadline: Instant) -> bool {
        if self.try_reserve(n) {
            return true;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let got = tokio::time::timeout_at(deadline, self.sem.acquire_many(n as u32)).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match got {
            Ok(Ok(p)) => {
                p.forget();
                true
            }
            _ => false,
        }
    }

    /// Reserves `n` bytes without waiting, past the budget if need be, for memory the sender
    /// allocates (it cannot wait for memory: it is what frees it). The budget's shortfall
    /// becomes a debt that [`release`](Self::release) repays first, so callers of
    /// [`reserve`](Self::reserve) wait until the producer is back within `buffer.memory`.
    pub(crate) fn force_reserve(&self, n: usize) {
        let free = self.sem.available_permits().min(n);
        // Racing another reservation only moves more of `n` into the debt.
        let taken = if free > 0 && self.try_reserve(free) {
            free
        } else {
            0
        };
        if n > taken {
            self.debt.fetch_add(n - taken, Ordering::AcqRel);
        }
    }

    /// [`force_reserve`](Self::force_reserve)s `n` bytes, given back when the guard drops.
    pub(crate) fn hold(self: &Arc<Self>, n: usize) -> Held {
        self.force_reserve(n);
        Held {
            pool: self.clone(),
            bytes: n,
        }
    }

    /// Gives back `n` reserved bytes: first to the debt, then to the budget.
    pub(crate) fn release(&self, mut n: usize) {
        let mut debt = self.debt.load(Ordering::Acquire);
        while debt > 0 && n > 0 {
            let repay = debt.min(n);
            match self.debt.compare_exchange_weak(
                debt,
                debt - repay,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    n -= repay;
                    break;
                }
                Err(now) => debt = now,
            }
        }
        if n > 0 {
            self.sem.add_permits(n);
        }
    }
}

/// Bytes reserved with [`BufferPool::hold`], given back on drop.
pub(crate) struct Held {
    pool: Arc<BufferPool>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.pool.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn budget_blocks_then_times_out_then_frees() {
        let pool = BufferPool::new(100);
        assert!(pool.try_reserve(60));
        assert!(!pool.try_reserve(50));
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!pool.reserve(50, deadline).await, "times out");
        assert_eq!(pool.available(), 40);
        pool.release(60);
        assert!(
            pool.reserve(100, Instant::now() + Duration::from_millis(50))
                .await
        );
        assert_eq!(pool.available(), 0);
    }

    #[tokio::test]
    async fn forced_reservations_are_repaid_before_waiters_get_memory() {
        let pool = Arc::new(BufferPool::new(100));
        assert!(pool.try_reserve(70));
        pool.force_reserve(50);
        assert_eq!(pool.available(), 0);
        assert_eq!(pool.in_use(), 120, "20 bytes over the budget");
        let frame = pool.hold(10);
        assert_eq!(pool.in_use(), 130);
        let far = Instant::now() + Duration::from_secs(5);
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.reserve(10, far).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // 30 bytes back: they only repay the debt.
        drop(frame);
        pool.release(20);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "over budget: the waiter keeps waiting"
        );
        assert_eq!(pool.in_use(), 100);
        pool.release(10);
        assert!(waiter.await.unwrap());
        assert_eq!(pool.in_use(), 100);
        pool.release(100);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn waiters_served_in_order() {
        let pool = std::sync::Arc::new(BufferPool::new(10));
        assert!(pool.try_reserve(10));
        let far = Instant::now() + Duration::from_secs(5);
        let p1 = pool.clone();
        let first = tokio::spawn(async move { p1.reserve(8, far).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let p2 = pool.clone();
        let second = tokio::spawn(async move { p2.reserve(2, far).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(pool.has_waiters());
        pool.release(2);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // FIFO: the 2-byte waiter does not overtake the 8-byte one.
        assert!(!second.is_finished());
        pool.release(8);
        assert!(first.await.unwrap());
        assert!(second.await.unwrap());
    }
}
