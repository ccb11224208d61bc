//! The order `Fetcher::start_decoding` looks at buffered fetches in, worked out as it goes.
//!
//! Fetches whose decoder holds a batch read partway come first (their section is counted in
//! the budget already, and finishing it lets it go once its records are taken), then the rest
//! from the front. A fetch that took a step inline goes again: first if it is now read
//! partway, else last. Worked out lazily, a call that stops at the first fetch the budget has
//! no room for costs nothing for the fetches after it: building the whole order up front was
//! a walk of every buffered fetch per call, a sixth of the consumer's CPU at 10,000
//! partitions.

use std::collections::{HashSet, VecDeque};

use super::CompletedFetch;

pub(super) struct DecodeOrder {
    /// Looked at again before any other (read partway after an inline step).
    front: VecDeque<usize>,
    /// Fetches read partway the scan for them has not met yet: none, no scan.
    partway_left: usize,
    partway_cursor: usize,
    /// Handed out by the scan for fetches read partway: the scan for the rest passes over
    /// them (one that finished its batch is queued again, last, as any other).
    from_partway: HashSet<usize>,
    cursor: usize,
    /// Looked at again after every other (took an inline step, not read partway).
    back: VecDeque<usize>,
}

impl DecodeOrder {
    /// `partway`: how many buffered fetches are read partway (`Fetcher::partway`); `settled`:
    /// how many at the front can take no step (`Fetcher::settled`), passed over unlooked at.
    pub(super) fn new(partway: usize, settled: usize) -> Self {
        DecodeOrder {
            front: VecDeque::new(),
            partway_left: partway,
            partway_cursor: settled,
            from_partway: HashSet::new(),
            cursor: settled,
            back: VecDeque::new(),
        }
    }

    /// The next buffered fetch to look at, `None` when every one was. A fetch comes again
    /// only when queued again; it may have changed since the scan met it, so the caller checks
    /// it still can take a step. `buffered` must keep its entries in place between calls.
    pub(super) fn next(
        &mut self,
        buffered: &VecDeque<CompletedFetch>,
        decodable: impl Fn(&CompletedFetch) -> bool,
    ) -> Option<usize> {
        if let Some(i) = self.front.pop_front() {
            return Some(i);
        }
        while self.partway_left > 0 && self.partway_cursor < buffered.len() {
            let i = self.partway_cursor;
            self.partway_cursor += 1;
            let f = &buffered[i];
            if f.decoder_held > 0 {
                self.partway_left -= 1;
                if decodable(f) {
                    self.from_partway.insert(i);
                    return Some(i);
                }
            }
        }
        while self.cursor < buffered.len() {
            let i = self.cursor;
            self.cursor += 1;
            let f = &buffered[i];
            if f.decoder_held == 0 && decodable(f) && !self.from_partway.contains(&i) {
                return Some(i);
            }
        }
        self.back.pop_front()
    }

    /// Queues `i` again after an inline step.
    pub(super) fn again(&mut self, i: usize, read_partway: bool) {
        if read_partway {
            self.front.push_back(i);
        } else {
            self.back.push_back(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicPartition;

    /// Fetches of partitions 0..n; `partway` ones hold a batch read partway; a fetch is
    /// decodable while its fetch_offset is 0.
    fn buffered(n: i32, partway: &[i32]) -> VecDeque<CompletedFetch> {
        (0..n)
            .map(|p| {
                let mut f = CompletedFetch::new(TopicPartition::new("t", p), 0, 0);
                f.decoder_held = if partway.contains(&p) { 100 } else { 0 };
                f
            })
            .collect()
    }

    fn decodable(f: &CompletedFetch) -> bool {
        f.fetch_offset == 0
    }

    fn walk(order: &mut DecodeOrder, b: &VecDeque<CompletedFetch>) -> Vec<usize> {
        std::iter::from_fn(|| order.next(b, decodable)).collect()
    }

    #[test]
    fn partway_fetches_come_first_then_the_rest_in_buffer_order() {
        let cases: &[(i32, &[i32], &[usize])] = &[
            (4, &[], &[0, 1, 2, 3]),
            (4, &[2], &[2, 0, 1, 3]),
            (5, &[1, 4], &[1, 4, 0, 2, 3]),
            (0, &[], &[]),
        ];
        for (n, partway, want) in cases {
            let b = buffered(*n, partway);
            let mut order = DecodeOrder::new(partway.len(), 0);
            assert_eq!(
                walk(&mut order, &b),
                *want,
                "{n} fetches, partway {partway:?}"
            );
        }
    }

    #[test]
    fn fetches_that_cannot_step_are_passed_over() {
        let mut b = buffered(4, &[3]);
        b[0].fetch_offset = 1;
        b[3].fetch_offset = 1;
        let mut order = DecodeOrder::new(1, 0);
        assert_eq!(walk(&mut order, &b), vec![1, 2]);
    }

    #[test]
    fn a_fetch_queued_again_goes_first_if_read_partway_else_last() {
        let b = buffered(3, &[]);
        let mut order = DecodeOrder::new(0, 0);
        assert_eq!(order.next(&b, decodable), Some(0));
        order.again(0, false);
        assert_eq!(order.next(&b, decodable), Some(1));
        order.again(1, true);
        assert_eq!(walk(&mut order, &b), vec![1, 2, 0]);
    }

    #[test]
    fn a_partway_fetch_that_finished_its_batch_goes_after_the_rest() {
        let mut b = buffered(2, &[0]);
        let mut order = DecodeOrder::new(1, 0);
        assert_eq!(order.next(&b, decodable), Some(0));
        // Its step ended the batch it was reading: not read partway any more.
        b[0].decoder_held = 0;
        order.again(0, false);
        assert_eq!(walk(&mut order, &b), vec![1, 0]);
    }

    #[test]
    fn stopping_early_leaves_the_rest_unlooked_at() {
        // With no fetch read partway, the first decodable fetch comes without a look at the
        // others: a call that stops there costs one look, not one per buffered fetch.
        let b = buffered(10_000, &[]);
        let looks = std::cell::Cell::new(0);
        let mut order = DecodeOrder::new(0, 0);
        let first = order.next(&b, |f| {
            looks.set(looks.get() + 1);
            decodable(f)
        });
        assert_eq!((first, looks.get()), (Some(0), 1));
    }

    #[test]
    fn settled_fetches_at_the_front_are_not_looked_at() {
        // The first 9,990 are decoded to the end (the fetcher's `settled`): the first look is
        // at the one after them, and a walk looks at the 10 left.
        let b = buffered(10_000, &[]);
        let looks = std::cell::Cell::new(0);
        let mut order = DecodeOrder::new(0, 9_990);
        let seen: Vec<usize> = std::iter::from_fn(|| {
            order.next(&b, |f| {
                looks.set(looks.get() + 1);
                decodable(f)
            })
        })
        .collect();
        assert_eq!(seen, (9_990..10_000).collect::<Vec<_>>());
        assert_eq!(looks.get(), 10);
    }
}
