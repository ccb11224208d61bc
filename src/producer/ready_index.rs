//! Which partitions of a topic a drain has to look at, so that a drain costs what is ready to
//! send, not the number of partitions.
//!
//! A partition with queued batches is in exactly one of these places (or, briefly, in several:
//! every place is only a hint, and a drain checks the queue again):
//! - a candidate: look at it at the next drain (new or full batch, answer, resend);
//! - a timer: its head lingers or backs off until then;
//! - parked under its leader: the leader had no room in flight;
//! - nowhere: it waits for an answer of its own (one batch in flight, idempotence), and the
//!   answer marks it again. Its `delivery.timeout.ms` is then watched by an expiry timer.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

use tokio::time::Instant;

#[derive(Default)]
pub(crate) struct ReadyIndex {
    /// Sorted and deduplicated when taken: drains visit partitions in the same order as a
    /// full scan. A Vec, not a set: at 10,000 partitions each batch passes through here once,
    /// and a BTreeSet insert per batch cost 3% of the producer's CPU (issue #19).
    candidates: Vec<i32>,
    /// Linger and retry-backoff ends; a flush or close makes them all due at once.
    timers: Timers,
    /// Delivery deadlines of heads that wait outside the candidates; due only by time.
    expiries: Timers,
    /// Leader node -> partitions waiting for room in flight on it.
    parked: HashMap<i32, BTreeSet<i32>>,
}

impl ReadyIndex {
    /// Looks at `partition` at the next drain.
    pub(crate) fn mark(&mut self, partition: i32) {
        self.candidates.push(partition);
    }

    /// Looks at `partition` again at `at` (or at the next forced drain).
    pub(crate) fn at(&mut self, at: Instant, partition: i32) {
        self.timers.push(at, partition);
    }

    /// Looks at `partition` again at `at` whatever happens before: its head expires then.
    pub(crate) fn expiry(&mut self, at: Instant, partition: i32) {
        self.expiries.push(at, partition);
    }

    /// Looks at `partition` again once `node` has room in flight.
    pub(crate) fn park(&mut self, node: i32, partition: i32) {
        self.parked.entry(node).or_default().insert(partition);
    }

    /// Makes candidates of every partition whose timer is due (every timer when `force`), whose
    /// expiry is due, and that is parked under a node `has_room` says can take a request.
    /// Returns the partitions whose expiry timer fired (their head may need a new one).
    pub(crate) fn wake_due(
        &mut self,
        now: Instant,
        force: bool,
        mut has_room: impl FnMut(i32) -> bool,
    ) -> Vec<i32> {
        let until = if force { None } else { Some(now) };
        self.timers.pop_due(until, |p| self.candidates.push(p));
        let mut expired = Vec::new();
        self.expiries.pop_due(Some(now), |p| {
            self.candidates.push(p);
            expired.push(p);
        });
        if !self.parked.is_empty() {
            let free: Vec<i32> = self
                .parked
                .keys()
                .copied()
                .filter(|n| has_room(*n))
                .collect();
            for node in free {
                if let Some(ps) = self.parked.remove(&node) {
                    self.candidates.extend(ps);
                }
            }
        }
        expired
    }

    /// The candidates, in partition order, each once, leaving none.
    pub(crate) fn take_candidates(&mut self) -> Vec<i32> {
        let mut taken = std::mem::take(&mut self.candidates);
        taken.sort_unstable();
        taken.dedup();
        taken
    }

    /// When the earliest timer or expiry is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        match (self.timers.next_due(), self.expiries.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = ReadyIndex::default();
    }

    #[cfg(test)]
    pub(crate) fn is_parked(&self, partition: i32) -> bool {
        self.parked.values().any(|ps| ps.contains(&partition))
    }

    #[cfg(test)]
    pub(crate) fn has_timer(&self, partition: i32) -> bool {
        self.timers.ordered.iter().any(|(_, p)| *p == partition)
            || self
                .timers
                .heap
                .iter()
                .any(|Reverse((_, p))| *p == partition)
    }
}

/// Partitions to look at again at a time. Most timers arrive in time order (a new batch's
/// linger end is `linger.ms` after its creation, and its head's delivery deadline
/// `delivery.timeout.ms` after it): those go to a queue, O(1) each way; the rest (retry
/// backoffs, a resend's older deadline) to a heap. At 10,000 partitions every batch passes
/// through here, and the heap's pops alone were 3% of the producer's samples.
#[derive(Default)]
struct Timers {
    /// In nondecreasing time order.
    ordered: VecDeque<(Instant, i32)>,
    heap: BinaryHeap<Reverse<(Instant, i32)>>,
}

impl Timers {
    fn push(&mut self, at: Instant, partition: i32) {
        if self.ordered.back().is_none_or(|(last, _)| *last <= at) {
            self.ordered.push_back((at, partition));
        } else {
            self.heap.push(Reverse((at, partition)));
        }
    }

    /// Hands every timer due by `until` (every one when `None`) to `due`, leaving them out.
    fn pop_due(&mut self, until: Option<Instant>, mut due: impl FnMut(i32)) {
        let is_due = |at: Instant| until.is_none_or(|u| at <= u);
        while let Some(&(at, p)) = self.ordered.front()
            && is_due(at)
        {
            self.ordered.pop_front();
            due(p);
        }
        while let Some(&Reverse((at, p))) = self.heap.peek()
            && is_due(at)
        {
            self.heap.pop();
            due(p);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let q = self.ordered.front().map(|(at, _)| *at);
        let h = self.heap.peek().map(|Reverse((at, _))| *at);
        match (q, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn due_timers_and_free_nodes_make_candidates() {
        let now = Instant::now();
        let mut ix = ReadyIndex::default();
        ix.at(now + Duration::from_millis(5), 1);
        ix.at(now + Duration::from_millis(50), 2);
        ix.park(7, 3);
        ix.park(8, 4);
        ix.expiry(now + Duration::from_millis(1), 5);
        assert_eq!(ix.next_due(), Some(now + Duration::from_millis(1)));

        let expired = ix.wake_due(now + Duration::from_millis(10), false, |n| n == 7);
        assert_eq!(expired, vec![5]);
        let got: Vec<i32> = ix.take_candidates().into_iter().collect();
        assert_eq!(
            got,
            vec![1, 3, 5],
            "due timer, parked on a free node, expiry"
        );
        assert!(ix.is_parked(4));
        assert!(ix.has_timer(2));
        assert_eq!(ix.next_due(), Some(now + Duration::from_millis(50)));
        assert!(ix.take_candidates().is_empty(), "taking leaves none");
    }

    #[test]
    fn timers_out_of_order_are_due_in_time_order_all_the_same() {
        let now = Instant::now();
        let ms = |n: u64| now + Duration::from_millis(n);
        let mut t = Timers::default();
        // In order (the queue), then earlier and later ones out of order (the heap).
        for (at, p) in [(10, 1), (20, 2), (30, 3), (5, 4), (25, 5), (40, 6), (15, 7)] {
            t.push(ms(at), p);
        }
        assert_eq!(t.next_due(), Some(ms(5)));
        let mut due = Vec::new();
        t.pop_due(Some(ms(20)), |p| due.push(p));
        due.sort_unstable();
        assert_eq!(
            due,
            vec![1, 2, 4, 7],
            "everything due by 20 ms, nothing after"
        );
        assert_eq!(t.next_due(), Some(ms(25)));
        due.clear();
        t.pop_due(Some(ms(30)), |p| due.push(p));
        due.sort_unstable();
        assert_eq!(due, vec![3, 5]);
        due.clear();
        t.pop_due(None, |p| due.push(p));
        assert_eq!(due, vec![6], "None: every timer, due or not");
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn force_makes_every_timer_due_but_not_expiries() {
        let now = Instant::now();
        let mut ix = ReadyIndex::default();
        ix.at(now + Duration::from_secs(5), 9);
        ix.at(now + Duration::from_secs(6), 2);
        ix.expiry(now + Duration::from_secs(100), 4);
        ix.wake_due(now, true, |_| false);
        let got: Vec<i32> = ix.take_candidates().into_iter().collect();
        assert_eq!(got, vec![2, 9], "in partition order");
        assert_eq!(ix.next_due(), Some(now + Duration::from_secs(100)));
    }
}
