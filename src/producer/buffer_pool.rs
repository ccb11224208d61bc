//! `buffer.memory` as a FIFO byte budget shared by every caller of one producer.
//!
//! Each appended record reserves its encoded size; a batch gives its bytes back when it
//! completes. Callers that find the budget spent wait in arrival order (tokio's semaphore is
//! fair) for at most `max.block.ms`.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;
use tokio::time::Instant;

pub(crate) struct BufferPool {
    sem: Semaphore,
    total: usize,
    waiting: AtomicUsize,
}

impl BufferPool {
    pub(crate) fn new(total: usize) -> BufferPool {
        let total = total.min(u32::MAX as usize);
        BufferPool {
            sem: Semaphore::new(total),
            total,
            waiting: AtomicUsize::new(0),
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Bytes not reserved now.
    #[cfg(test)]
    pub(crate) fn available(&self) -> usize {
        self.sem.available_permits()
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

    /// Gives back `n` reserved bytes.
    pub(crate) fn release(&self, n: usize) {
        if n > 0 {
            self.sem.add_permits(n);
        }
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
