//! `buffer.memory` as a FIFO byte budget shared by every caller of one producer.
//!
//! A new batch reserves what it allocates (what its partition's last batch held, at least
//! 1 KiB, then more in doublings as it fills up to `batch.size`, or its one record when larger)
//! before allocating it; it trades that for the size of its wire bytes once built, and gives them back
//! when it completes. Request frames, copies of their batches' wire bytes, are reserved until
//! written or answered. Callers that find the budget spent wait in arrival order (tokio's
//! semaphore is fair) for at most `max.block.ms`.
//!
//! Record buffers of [`POOLED_BYTES`], the size most batches start at, are kept for reuse as
//! their batches complete, with their bytes still reserved (as Java's BufferPool keeps a free
//! list of `batch.size` buffers): at 10,000 partitions a batch holds a record or two, and its
//! buffer was allocated on the sending thread and freed on the sender's, through glibc's arena
//! locks, for every batch (malloc and free were 15% of the producer's samples). A caller that
//! finds the budget spent gets the free buffers' bytes first.
//!
//! The sender must never wait for memory (it is what frees it), so what it allocates is reserved
//! with [`BufferPool::force_reserve`]: past the budget, the excess is a debt that released bytes
//! repay before any caller gets them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The capacity of the record buffers kept for reuse: the least a new batch allocates.
pub(crate) const POOLED_BYTES: usize = 1024;

pub(crate) struct BufferPool {
    sem: Semaphore,
    total: usize,
    waiting: AtomicUsize,
    /// Bytes reserved beyond the budget by `force_reserve`, not yet repaid.
    debt: AtomicUsize,
    /// Guards the free record buffers, each of capacity [`POOLED_BYTES`] and still holding its
    /// reservation, at most half of `buffer.memory` (`max_free` buffers): taken by callers
    /// opening a batch, given back by the sender as batches complete, emptied (their bytes
    /// released) for a caller the budget cannot serve.
    free: Mutex<Vec<Vec<u8>>>,
    max_free: usize,
}

impl BufferPool {
    pub(crate) fn new(total: usize) -> BufferPool {
        let total = total.min(u32::MAX as usize);
        BufferPool {
            sem: Semaphore::new(total),
            total,
            waiting: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
            // Half the budget: a request's answer completes a batch of every partition it
            // carried at once (10,000 at 10,000 partitions, before callers open the next ones);
            // capped at 4,096 buffers, a quarter of the 1 KiB batches there were freed and
            // allocated again.
            max_free: total / 2 / POOLED_BYTES,
        }
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Bytes not reserved now, the free buffers' included.
    pub(crate) fn available(&self) -> usize {
        self.sem.available_permits() + self.free().len() * POOLED_BYTES
    }

    fn free(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn free_buffers(&self) -> usize {
        self.free().len()
    }

    /// A free record buffer of [`POOLED_BYTES`] whose bytes are already reserved for the caller.
    pub(crate) fn take_free(&self) -> Option<Vec<u8>> {
        if self.max_free == 0 {
            return None;
        }
        self.free().pop()
    }

    /// Gives back the `reserved` bytes of a completed batch and its record buffer, if it got it
    /// back: a buffer of [`POOLED_BYTES`] is kept for reuse with its bytes, unless a caller waits
    /// for memory, the sender owes some, or enough are kept.
    pub(crate) fn recycle(&self, buffer: Option<Vec<u8>>, reserved: usize) {
        if let Some(mut buffer) = buffer
            && reserved == POOLED_BYTES
            && buffer.capacity() == POOLED_BYTES
            && self.debt.load(Ordering::Acquire) == 0
        {
            let mut free = self.free();
            // Checked under the lock: a caller that starts waiting then empties the list
            // (`release_free`) after this push, or this sees it waiting.
            if free.len() < self.max_free && !self.has_waiters() {
                buffer.clear();
                free.push(buffer);
                return;
            }
        }
        self.release(reserved);
    }

    /// Releases every free buffer's bytes to the budget. Returns whether there were any.
    fn release_free(&self) -> bool {
        let n = std::mem::take(&mut *self.free()).len();
        if n > 0 {
            self.release(n * POOLED_BYTES);
        }
        n > 0
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

    /// Reserves `n` bytes without waiting, from the free buffers' bytes when the budget has too
    /// few.
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.try_acquire(n) || (self.release_free() && self.try_acquire(n))
    }

    fn try_acquire(&self, n: usize) -> bool {
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
        // Buffers kept between the attempt above and the count going up are let go now; any
        // completing later sees the waiter and releases its bytes instead of keeping them.
        self.release_free();
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
        let taken = if free > 0 && self.try_acquire(free) {
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

    fn buffer() -> Option<Vec<u8>> {
        Some(Vec::with_capacity(POOLED_BYTES))
    }

    #[test]
    fn a_kept_buffer_keeps_its_bytes_for_the_next_batch() {
        // Half of 8 KiB: four buffers kept at most.
        let pool = BufferPool::new(8 * POOLED_BYTES);
        for _ in 0..5 {
            assert!(pool.try_reserve(POOLED_BYTES));
        }
        let mut used = vec![7u8; 100];
        used.reserve_exact(POOLED_BYTES - 100);
        let ptr = used.as_ptr();
        pool.recycle(Some(used), POOLED_BYTES);
        for _ in 0..3 {
            pool.recycle(buffer(), POOLED_BYTES);
        }
        // The fifth is one too many: its bytes go back.
        pool.recycle(buffer(), POOLED_BYTES);
        assert_eq!(pool.free().len(), 4);
        assert_eq!(pool.in_use(), 0, "kept buffers count as available");
        assert_eq!(pool.sem.available_permits(), 4 * POOLED_BYTES);
        for _ in 0..3 {
            let b = pool.take_free().expect("a kept buffer");
            assert!(b.is_empty());
            assert_eq!(b.capacity(), POOLED_BYTES);
        }
        let a = pool.take_free().expect("a kept buffer");
        assert_eq!(a.as_ptr(), ptr, "the same allocation, emptied");
        assert!(a.is_empty());
        assert!(pool.take_free().is_none());
        assert_eq!(pool.in_use(), 4 * POOLED_BYTES);
    }

    #[test]
    fn buffers_of_other_sizes_are_not_kept() {
        let pool = BufferPool::new(8 * POOLED_BYTES);
        assert!(pool.try_reserve(3 * POOLED_BYTES));
        pool.recycle(Some(Vec::with_capacity(2 * POOLED_BYTES)), 2 * POOLED_BYTES);
        // A buffer that grew past its reservation, or no buffer at all (still in a request).
        pool.recycle(Some(Vec::with_capacity(2 * POOLED_BYTES)), POOLED_BYTES);
        assert!(pool.take_free().is_none());
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn kept_buffers_give_their_bytes_to_a_reservation_the_budget_cannot_serve() {
        let pool = BufferPool::new(8 * POOLED_BYTES);
        assert!(pool.try_reserve(8 * POOLED_BYTES));
        pool.recycle(buffer(), POOLED_BYTES);
        pool.recycle(buffer(), POOLED_BYTES);
        assert!(pool.try_reserve(2 * POOLED_BYTES));
        assert!(pool.free().is_empty());
        assert_eq!(pool.in_use(), 8 * POOLED_BYTES);
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_the_bytes_of_buffers_completing_while_it_waits() {
        let pool = Arc::new(BufferPool::new(8 * POOLED_BYTES));
        assert!(pool.try_reserve(8 * POOLED_BYTES));
        pool.recycle(buffer(), POOLED_BYTES);
        let p = pool.clone();
        let far = Instant::now() + Duration::from_secs(5);
        let waiter = tokio::spawn(async move { p.reserve(3 * POOLED_BYTES, far).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "1 KiB free, 3 KiB wanted");
        assert!(pool.free().is_empty(), "the kept buffer went to the waiter");
        pool.recycle(buffer(), POOLED_BYTES);
        pool.recycle(buffer(), POOLED_BYTES);
        assert!(waiter.await.unwrap());
        assert!(pool.free().is_empty());
    }
}
