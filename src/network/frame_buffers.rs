//! Reuse of large response buffers on one connection.
//!
//! A fetch response at many partitions reaches `fetch.max.bytes` (50 MB by default). An
//! allocation that large is above glibc's largest mmap threshold (32 MiB), so each one was mapped,
//! faulted in page by page as the socket filled it, and unmapped when its last record was dropped.
//! The reader keeps the buffers of its last two large frames and reads the next frame into one
//! whose records are all gone, so its pages are already there. Measured (bench-ferrokafka consume,
//! 1,000,000 x 100 B from 10,000 partitions on the mock): page faults 54,000 -> 29,000, CPU
//! 0.51 s -> 0.44 s.
//!
//! Owned by the connection's read task alone (no lock). Memory held: at most [`KEPT`] buffers of
//! the largest frames recently read, released once [`RELEASE_AFTER`] frames in a row were much
//! smaller than them (an idle consumer's empty fetch answers arrive every `fetch.max.wait.ms`, so
//! a burst's buffers go within seconds of it), or when the connection closes.

use bytes::{Bytes, BytesMut};

/// Frames below this size are plain allocations: glibc raises its mmap threshold up to 32 MiB
/// as such blocks are freed, and then serves them from its heap, whose pages stay resident
/// (measured: keeping 64 KiB frames and up added page faults at 8 partitions, where responses
/// are a few MB).
const MIN_KEPT_BYTES: usize = 32 * 1024 * 1024;
/// Two, because the consumer still holds the last response's records while the next arrives.
const KEPT: usize = 2;
/// Frames in a row at most a quarter of the kept buffers' size before those are let go.
const RELEASE_AFTER: u32 = 16;

pub(crate) struct FrameBuffers {
    /// [`MIN_KEPT_BYTES`] but in tests.
    min_kept: usize,
    /// Clones of recent large frames with their buffers' capacity, oldest first; reusable once
    /// this is their only reference.
    kept: Vec<(Bytes, usize)>,
    /// Frames in a row much smaller than every kept buffer.
    small_streak: u32,
}

impl Default for FrameBuffers {
    fn default() -> Self {
        FrameBuffers {
            min_kept: MIN_KEPT_BYTES,
            kept: Vec::new(),
            small_streak: 0,
        }
    }
}

impl FrameBuffers {
    /// An empty buffer with room for `size` bytes: a kept one whose frame is no longer
    /// referenced when there is one large enough, else a new allocation.
    pub(crate) fn take(&mut self, size: usize) -> BytesMut {
        let largest = self.kept.iter().map(|k| k.1).max().unwrap_or(0);
        if largest > 0 && size.saturating_mul(4) < largest {
            self.small_streak += 1;
            if self.small_streak >= RELEASE_AFTER {
                self.kept.clear();
                self.small_streak = 0;
            }
        } else {
            self.small_streak = 0;
        }
        if size < self.min_kept {
            return BytesMut::with_capacity(size);
        }
        // A buffer at most four times the frame's size, so that a small frame whose records a
        // user keeps does not pin a large buffer.
        let fits = |(frame, capacity): &(Bytes, usize)| {
            *capacity >= size && *capacity / 4 <= size && frame.is_unique()
        };
        if let Some(i) = self.kept.iter().position(fits) {
            let (frame, _) = self.kept.remove(i);
            // Unique a moment ago and only this task could clone it since, so this succeeds.
            if let Ok(mut buf) = frame.try_into_mut() {
                buf.clear();
                return buf;
            }
        }
        BytesMut::with_capacity(size)
    }

    /// The frame read into `buf`, whose buffer is remembered for [`take`](Self::take) to reuse
    /// once the frame's records are gone.
    pub(crate) fn keep(&mut self, buf: BytesMut) -> Bytes {
        let capacity = buf.capacity();
        let frame = buf.freeze();
        if capacity >= self.min_kept {
            if self.kept.len() == KEPT {
                self.kept.remove(0);
            }
            self.kept.push((frame.clone(), capacity));
        }
        frame
    }

    #[cfg(test)]
    fn kept(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps frames from 64 KiB, so that the tests' frames are small.
    fn buffers() -> FrameBuffers {
        FrameBuffers {
            min_kept: 64 * 1024,
            ..FrameBuffers::default()
        }
    }

    fn frame(buffers: &mut FrameBuffers, size: usize, fill: u8) -> Bytes {
        let mut buf = buffers.take(size);
        buf.resize(size, fill);
        buffers.keep(buf)
    }

    #[test]
    fn a_large_frame_is_read_into_the_buffer_of_one_no_longer_referenced() {
        let mut b = buffers();
        let first = frame(&mut b, 100_000, 1);
        let first_ptr = first.as_ptr();
        // Still referenced by a record: the next frame gets its own buffer.
        let record = first.slice(10..20);
        drop(first);
        let second = frame(&mut b, 100_000, 2);
        assert_ne!(second.as_ptr(), first_ptr);
        assert_eq!(&record[..], &[1u8; 10][..]);
        drop(record);
        // Now the first buffer is free again; a frame no larger than it reuses it.
        let third = frame(&mut b, 90_000, 3);
        assert_eq!(third.as_ptr(), first_ptr);
        assert_eq!(third.len(), 90_000);
        assert!(third.iter().all(|&x| x == 3));
        assert_eq!(b.kept(), 2);
    }

    #[test]
    fn a_frame_larger_than_the_free_buffer_gets_a_new_one() {
        let mut b = buffers();
        let first = frame(&mut b, 100_000, 1);
        let first_ptr = first.as_ptr();
        drop(first);
        let bigger = frame(&mut b, 200_000, 2);
        assert_ne!(bigger.as_ptr(), first_ptr);
        assert_eq!(bigger.len(), 200_000);
        assert_eq!(b.kept(), 2);
    }

    #[test]
    fn a_much_smaller_frame_does_not_take_a_large_buffer() {
        let mut b = buffers();
        let first = frame(&mut b, 1_000_000, 1);
        let first_ptr = first.as_ptr();
        drop(first);
        // A user could keep this frame's records for long: it must not pin a megabyte.
        let small = frame(&mut b, 100_000, 2);
        assert_ne!(small.as_ptr(), first_ptr);
        drop(small);
        let similar = frame(&mut b, 800_000, 3);
        assert_eq!(similar.as_ptr(), first_ptr);
    }

    #[test]
    fn small_frames_are_not_kept() {
        let mut b = buffers();
        let small = frame(&mut b, 1_000, 1);
        drop(small);
        assert_eq!(b.kept(), 0);
    }

    #[test]
    fn buffers_are_let_go_after_a_run_of_much_smaller_frames() {
        let mut b = buffers();
        drop(frame(&mut b, 1_000_000, 1));
        for _ in 0..RELEASE_AFTER - 1 {
            drop(frame(&mut b, 1_000, 2));
        }
        assert_eq!(b.kept(), 1);
        // A large frame in between resets the count.
        drop(frame(&mut b, 900_000, 3));
        for _ in 0..RELEASE_AFTER - 1 {
            drop(frame(&mut b, 1_000, 2));
        }
        assert_eq!(b.kept(), 1);
        drop(frame(&mut b, 1_000, 2));
        assert_eq!(b.kept(), 0);
    }
}
