//! Choosing a partition for a record that names none, the way Java's producer does.
//!
//! - Keyed records: `(murmur2(key) & 0x7fffffff) % num_partitions`, seed `0x9747b28c`, so the
//!   same key lands on the same partition as with the Java client and librdkafka's
//!   `murmur2_random` (tested against both).
//! - Records without a key (or all records with `partitioner.ignore.keys`): uniform sticky
//!   partitioning (KIP-480, KIP-794) in [`StickyState`]: stay on one partition until
//!   `batch.size` bytes went to it, then switch, preferring less loaded partitions when
//!   adaptive partitioning is on.
//! - A user [`Partitioner`] (for example [`RoundRobinPartitioner`]) replaces both.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

/// Kafka's murmur2 (seed `0x9747b28c`), as a Java `int`.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    // The murmur2 crate's endianness-neutral variant reads 4-byte blocks little-endian, as Java's
    // Utils.murmur2 does; the vectors below pin that.
    murmur2::murmur2(data, murmur2::KAFKA_SEED) as i32
}

/// The partition Java's default partitioner gives `key`. `num_partitions` must be positive.
pub(crate) fn keyed_partition(key: &[u8], num_partitions: i32) -> i32 {
    // `&` binds looser than `%` in Rust: the parentheses are Java's order of operations.
    (murmur2(key) & 0x7fff_ffff) % num_partitions
}

/// The partition the Java client (and librdkafka's `murmur2_random`) gives a record with this
/// key: `(murmur2(key) & 0x7fffffff) % num_partitions`, murmur2 with seed `0x9747b28c`.
///
/// The producer uses it for every record that has a key and no explicit partition, unless a
/// [`Partitioner`] is configured or `partitioner.ignore.keys` is set. Call it to predict where a
/// key goes, or from your own [`Partitioner`] to keep the default for keyed records. An empty
/// key is a key (it hashes); only a missing key gets sticky partitioning.
///
/// # Panics
///
/// If `num_partitions` is not positive.
pub fn default_partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    assert!(
        num_partitions > 0,
        "num_partitions must be positive, got {num_partitions}"
    );
    keyed_partition(key, num_partitions)
}

/// Chooses the partition of each record sent without an explicit partition.
///
/// Configure one on the producer to replace the built-in choice (keyed records by
/// [`default_partition_for_key`], records without a key by sticky partitioning, KIP-480 and
/// KIP-794).
///
/// `partition` is called once per record, on the task that calls `send`, before the record is
/// appended to its batch; `num_partitions` is the topic's partition count in the producer's
/// current metadata (at least 1). It must return a partition in `0..num_partitions`: the
/// producer fails that record with an error (and sends nothing) for any other value. Keep it
/// quick and non-blocking, since it runs on the sending path.
///
/// A panic in `partition` fails that send with [`Error::UserCode`](crate::Error::UserCode)
/// (logged at error level, the record handed back, nothing enqueued); later sends call it
/// again.
///
/// Implementations are shared by every clone of the producer and called from many tasks at
/// once, hence `Send + Sync`; use atomics or short locks for state.
pub trait Partitioner: Send + Sync + 'static {
    /// The partition for a record of `topic`, in `0..num_partitions`.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        num_partitions: i32,
    ) -> i32;
}

/// Spreads records over the partitions of each topic in turn (0, 1, 2, ... then back to 0),
/// whatever their keys, like Java's `RoundRobinPartitioner`.
///
/// Each topic has its own counter, so interleaving topics does not skip partitions. Records go
/// one per partition in turn, so batches fill slowly: prefer the default sticky partitioning
/// unless an even record count per partition matters more than batching.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    // Read lock + atomic increment per record; the write lock only on a topic's first record.
    counters: RwLock<HashMap<String, Arc<AtomicU32>>>,
}

impl RoundRobinPartitioner {
    /// A partitioner with no topic seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn next(&self, topic: &str) -> u32 {
        // A panic elsewhere while holding the lock leaves the map valid: ignore the poison.
        let counter = self
            .counters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .cloned();
        let counter = counter.unwrap_or_else(|| {
            let mut map = self.counters.write().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(topic.to_owned()).or_default())
        });
        counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// Java's `toPositive(counter) % n`: the counter wraps at 2^32 and loses its sign bit.
fn round_robin_index(counter: u32, num_partitions: i32) -> i32 {
    (counter & 0x7fff_ffff) as i32 % num_partitions
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        num_partitions: i32,
    ) -> i32 {
        round_robin_index(self.next(topic), num_partitions)
    }
}

/// Partition availability and load of one topic, computed by the sender from its queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionLoads {
    /// Available partitions: leader known and not excluded by
    /// `partitioner.availability.timeout.ms`.
    pub partitions: Vec<i32>,
    /// Batches queued per partition, in the order of `partitions`.
    pub queue_sizes: Vec<u32>,
}

/// Sticky partitioning for one topic's records without a key (KIP-480, with KIP-794's uniform
/// and adaptive rules).
///
/// Every such record goes to the current sticky partition until `batch.size` bytes went there,
/// then a new partition is drawn: uniformly among the available ones, or with adaptive
/// partitioning weighted towards short queues. Switching by bytes rather than on each new batch
/// keeps the spread even when slow partitions fill batches at different rates (KIP-794).
///
/// No locking inside: the accumulator keeps one per topic under its own per-topic lock and
/// calls [`partition`](Self::partition) then [`on_append`](Self::on_append) once per record.
#[derive(Debug)]
pub(crate) struct StickyState {
    /// Bytes after which to switch partitions (`batch.size`, at least 1).
    batch_size: usize,
    /// `partitioner.adaptive.partitioning.enable`: weight the choice by queue sizes.
    adaptive: bool,
    /// The sticky partition, once one was chosen.
    current: Option<i32>,
    /// Bytes appended to `current` since it was chosen.
    produced: usize,
    loads: Option<PartitionLoads>,
}

impl StickyState {
    pub(crate) fn new(batch_size: usize, adaptive: bool) -> Self {
        StickyState {
            batch_size: batch_size.max(1),
            adaptive,
            current: None,
            produced: 0,
            loads: None,
        }
    }

    /// The partition for the next record without a key: the sticky one, or a newly drawn one
    /// when there is none yet, `batch.size` bytes went to it, it left `0..num_partitions`, or
    /// the last loads showed it unavailable. `num_partitions` must be positive.
    pub(crate) fn partition(&mut self, num_partitions: i32, rng: &mut fastrand::Rng) -> i32 {
        debug_assert!(num_partitions > 0, "num_partitions {num_partitions}");
        if let Some(p) = self.current
            && p < num_partitions
            && self.produced < self.batch_size
        {
            return p;
        }
        let next = self.choose(num_partitions, self.current, rng);
        self.current = Some(next);
        self.produced = 0;
        next
    }

    /// Counts `bytes` (the record's size in its batch) appended to `partition`. Appends to
    /// another partition than the sticky one (stale choice) are not counted.
    pub(crate) fn on_append(&mut self, partition: i32, bytes: usize) {
        if self.current == Some(partition) {
            self.produced = self.produced.saturating_add(bytes);
        }
    }

    /// Whether the loads are worth computing: this partitioner chose a partition, or has no
    /// loads yet for its first choice.
    pub(crate) fn wants_loads(&self) -> bool {
        self.current.is_some() || self.loads.is_none()
    }

    /// Replaces the availability and load figures; `None` means all partitions available and
    /// equally loaded. A sticky partition no longer available is left at the next record
    /// rather than after `batch.size` more bytes, so records do not pile up behind a missing
    /// leader.
    pub(crate) fn set_loads(&mut self, loads: Option<PartitionLoads>) {
        debug_assert!(
            loads
                .as_ref()
                .is_none_or(|l| l.partitions.len() == l.queue_sizes.len()),
            "partitions and queue_sizes differ in length"
        );
        if let (Some(p), Some(l)) = (self.current, &loads)
            && !l.partitions.is_empty()
            && !l.partitions.contains(&p)
        {
            self.produced = self.batch_size;
        }
        self.loads = loads;
    }

    /// Draws the next sticky partition, never `previous` when another one is available.
    fn choose(&self, num_partitions: i32, previous: Option<i32>, rng: &mut fastrand::Rng) -> i32 {
        let in_range = |p: i32| (0..num_partitions).contains(&p);
        if let Some(loads) = &self.loads {
            let available = || {
                loads
                    .partitions
                    .iter()
                    .zip(&loads.queue_sizes)
                    .filter(|&(&p, _)| in_range(p))
            };
            let count = available().count();
            let skip = if count > 1 { previous } else { None };
            let candidates = || available().filter(move |&(&p, _)| Some(p) != skip);
            // Counted after the skip: a partition listed twice (odd metadata) can leave none.
            let n = candidates().count();
            if n > 0 {
                if self.adaptive {
                    // KIP-794: weight max_queue + 1 - queue, so an empty queue weighs most and
                    // the longest still weighs 1.
                    let max = available().map(|(_, &q)| u64::from(q)).max().unwrap_or(0);
                    let weight = |q: u32| max + 1 - u64::from(q);
                    let total: u64 = candidates().map(|(_, &q)| weight(q)).sum();
                    let mut r = rng.u64(..total);
                    for (&p, &q) in candidates() {
                        if r < weight(q) {
                            return p;
                        }
                        r -= weight(q);
                    }
                }
                if let Some((&p, _)) = candidates().nth(rng.usize(..n)) {
                    return p;
                }
            }
            // No partition known available: better any partition than none.
        }
        match previous {
            Some(prev) if num_partitions > 1 && in_range(prev) => {
                let p = rng.i32(0..num_partitions - 1);
                if p >= prev { p + 1 } else { p }
            }
            _ => rng.i32(0..num_partitions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Kafka's own vectors, `UtilsTest.testMurmur2` in apache/kafka
    /// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, as of commit
    /// 8ab0994919752cd4870e771221ba934a6a539a67; quoted with that link by kafka_ex and others).
    /// The empty input is the murmur2 crate's own vector for this seed.
    const JAVA_VECTORS: &[(&[u8], i32)] = &[
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        (b"abc", 479470107),
        (b"", 275646681),
    ];

    /// librdkafka's vectors (src/rdmurmur2.c unit test), as unsigned 32-bit.
    const LIBRDKAFKA_VECTORS: &[(&[u8], u32)] =
        &[(b"kafka", 0xd067cf64), (b"giberish123456789", 0x8f552b0c)];

    #[test]
    fn murmur2_matches_java() {
        for &(input, want) in JAVA_VECTORS {
            assert_eq!(murmur2(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn murmur2_matches_librdkafka() {
        for &(input, want) in LIBRDKAFKA_VECTORS {
            assert_eq!(murmur2(input) as u32, want, "{input:?}");
        }
    }

    #[test]
    fn keyed_partition_masks_the_sign_before_the_modulo() {
        // -973932308 & 0x7fffffff = 1173551340; a sign-losing abs() or `&` after `%` differs.
        assert_eq!(keyed_partition(b"21", 6), 1173551340 % 6);
        assert_eq!(keyed_partition(b"21", 7), 1173551340 % 7);
        assert_eq!(keyed_partition(b"abc", 10), 479470107 % 10);
        assert_eq!(default_partition_for_key(b"foobar", 12), {
            (-790332482i32 & 0x7fff_ffff) % 12
        });
    }

    #[test]
    #[should_panic(expected = "num_partitions must be positive")]
    fn default_partition_for_key_rejects_zero_partitions() {
        default_partition_for_key(b"k", 0);
    }

    proptest! {
        #[test]
        fn keyed_partition_in_range(key in proptest::collection::vec(any::<u8>(), 0..64),
                                    n in 1..100_000i32) {
            let p = keyed_partition(&key, n);
            prop_assert!((0..n).contains(&p));
            prop_assert_eq!(p, default_partition_for_key(&key, n));
            prop_assert_eq!(i64::from(p), i64::from(murmur2(&key) as u32 & 0x7fff_ffff) % i64::from(n));
        }
    }

    #[test]
    fn round_robin_cycles_per_topic() {
        let rr = RoundRobinPartitioner::new();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..8 {
            a.push(rr.partition("a", Some(b"k"), None, 3));
            b.push(rr.partition("b", None, Some(b"v"), 4));
        }
        assert_eq!(a, [0, 1, 2, 0, 1, 2, 0, 1]);
        assert_eq!(b, [0, 1, 2, 3, 0, 1, 2, 3]);
        // A topic whose partition count grows keeps counting.
        assert_eq!(rr.partition("a", None, None, 5), 3);
    }

    #[test]
    fn round_robin_wraps_like_java_to_positive() {
        assert_eq!(round_robin_index(0x7fff_ffff, 10), 0x7fff_ffff % 10);
        // Integer.MIN_VALUE and -1 as Java ints.
        assert_eq!(round_robin_index(0x8000_0000, 10), 0);
        assert_eq!(round_robin_index(u32::MAX, 10), 0x7fff_ffff % 10);
    }

    #[test]
    fn partitioner_is_object_safe() {
        let p: Box<dyn Partitioner> = Box::new(RoundRobinPartitioner::new());
        assert_eq!(p.partition("t", None, None, 1), 0);
    }

    /// Feeds `records` records of `size` bytes and returns the partition of each.
    fn run(
        state: &mut StickyState,
        n: i32,
        records: usize,
        size: usize,
        rng: &mut fastrand::Rng,
    ) -> Vec<i32> {
        (0..records)
            .map(|_| {
                let p = state.partition(n, rng);
                state.on_append(p, size);
                p
            })
            .collect()
    }

    /// The partitions in order, one entry per run of equal values.
    fn switches(parts: &[i32]) -> Vec<i32> {
        let mut s = parts.to_vec();
        s.dedup();
        s
    }

    #[test]
    fn sticky_until_batch_size_bytes_then_switches() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut s = StickyState::new(1000, false);
        // 100-byte records: exactly 10 per partition (the 10th reaches 1000 bytes).
        let parts = run(&mut s, 6, 100, 100, &mut rng);
        for chunk in parts.chunks(10) {
            assert!(chunk.iter().all(|&p| p == chunk[0]), "{parts:?}");
        }
        let runs = switches(&parts);
        assert_eq!(runs.len(), 10, "{parts:?}");
        assert!(runs.windows(2).all(|w| w[0] != w[1]));
        assert!(runs.iter().all(|p| (0..6).contains(p)));
    }

    /// A broker that lists one partition twice must not make a send panic.
    #[test]
    fn duplicate_partitions_in_loads_do_not_panic() {
        for adaptive in [false, true] {
            let mut rng = fastrand::Rng::with_seed(3);
            let mut s = StickyState::new(1, adaptive);
            s.set_loads(Some(PartitionLoads {
                partitions: vec![3, 3],
                queue_sizes: vec![0, 5],
            }));
            for _ in 0..20 {
                let p = s.partition(4, &mut rng);
                assert!((0..4).contains(&p), "{p}");
                s.on_append(p, 10);
            }
        }
    }

    #[test]
    fn sticky_ignores_appends_to_other_partitions() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut s = StickyState::new(100, false);
        let p = s.partition(4, &mut rng);
        s.on_append((p + 1) % 4, 1000);
        assert_eq!(s.partition(4, &mut rng), p);
        s.on_append(p, 100);
        assert_ne!(s.partition(4, &mut rng), p);
    }

    #[test]
    fn sticky_never_repeats_and_spreads_uniformly() {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut s = StickyState::new(1, false);
        let parts = run(&mut s, 6, 60_000, 1, &mut rng);
        assert!(parts.windows(2).all(|w| w[0] != w[1]));
        let mut counts = [0usize; 6];
        for p in parts {
            counts[p as usize] += 1;
        }
        // 10,000 expected each; 5 standard deviations is about 460.
        for c in counts {
            assert!((9_300..=10_700).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn single_partition_is_reused() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut s = StickyState::new(1, true);
        assert_eq!(run(&mut s, 1, 10, 5, &mut rng), [0; 10]);
        s.set_loads(Some(PartitionLoads {
            partitions: vec![2],
            queue_sizes: vec![9],
        }));
        assert_eq!(run(&mut s, 4, 10, 5, &mut rng), [2; 10]);
    }

    #[test]
    fn shrunk_partition_count_moves_off_a_missing_partition() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut s = StickyState::new(1 << 20, false);
        let mut p = s.partition(100, &mut rng);
        while p < 10 {
            s.on_append(p, 1 << 20);
            p = s.partition(100, &mut rng);
        }
        let q = s.partition(10, &mut rng);
        assert!((0..10).contains(&q));
        assert_eq!(s.partition(10, &mut rng), q, "sticky again");
    }

    #[test]
    fn unavailable_partitions_are_never_chosen() {
        for adaptive in [false, true] {
            let mut rng = fastrand::Rng::with_seed(11);
            let mut s = StickyState::new(1, adaptive);
            s.set_loads(Some(PartitionLoads {
                // 7 is out of range (stale metadata): ignored too.
                partitions: vec![1, 3, 5, 7],
                queue_sizes: vec![0, 2, 4, 0],
            }));
            let parts = run(&mut s, 6, 3_000, 1, &mut rng);
            assert!(parts.iter().all(|p| [1, 3, 5].contains(p)), "{parts:?}");
            assert!(parts.windows(2).all(|w| w[0] != w[1]));
            for want in [1, 3, 5] {
                assert!(
                    parts.contains(&want),
                    "adaptive={adaptive}: {want} never chosen"
                );
            }
        }
    }

    #[test]
    fn sticky_partition_left_when_it_becomes_unavailable() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut s = StickyState::new(1 << 20, false);
        let p = s.partition(6, &mut rng);
        let others: Vec<i32> = (0..6).filter(|&q| q != p).collect();
        s.set_loads(Some(PartitionLoads {
            queue_sizes: vec![0; others.len()],
            partitions: others.clone(),
        }));
        let q = s.partition(6, &mut rng);
        assert!(others.contains(&q));
        // Still available: stays sticky.
        s.set_loads(Some(PartitionLoads {
            partitions: (0..6).collect(),
            queue_sizes: vec![0; 6],
        }));
        assert_eq!(s.partition(6, &mut rng), q);
    }

    #[test]
    fn no_available_partition_falls_back_to_all() {
        let mut rng = fastrand::Rng::with_seed(13);
        let mut s = StickyState::new(1, true);
        s.set_loads(Some(PartitionLoads {
            partitions: vec![],
            queue_sizes: vec![],
        }));
        let parts = run(&mut s, 3, 300, 1, &mut rng);
        assert!(parts.windows(2).all(|w| w[0] != w[1]));
        for want in 0..3 {
            assert!(parts.contains(&want), "{want} never chosen");
        }
    }

    /// Each partition's share of 60,000 draws (batch.size 1: one draw per record).
    fn shares(adaptive: bool, queue_sizes: &[u32]) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(2024);
        let mut s = StickyState::new(1, adaptive);
        let n = queue_sizes.len() as i32;
        s.set_loads(Some(PartitionLoads {
            partitions: (0..n).collect(),
            queue_sizes: queue_sizes.to_vec(),
        }));
        let draws = 60_000;
        let mut counts = vec![0usize; queue_sizes.len()];
        for p in run(&mut s, n, draws, 1, &mut rng) {
            counts[p as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn adaptive_avoids_a_loaded_partition() {
        // Weights 51 for each idle partition and 1 for the loaded one; with no immediate repeats
        // the loaded one's long-run share is 1/206 (0.49%) instead of 1/6.
        let s = shares(true, &[0, 0, 0, 0, 0, 50]);
        assert!(s[5] < 0.01, "{s:?}");
        for idle in &s[..5] {
            assert!((0.18..0.22).contains(idle), "{s:?}");
        }
    }

    #[test]
    fn adaptive_prefers_shorter_queues() {
        // Weights 7, 5, 3, 1; the no-repeat rule flattens the long-run shares to
        // 36.6%, 32.0%, 22.7%, 8.7% (stationary distribution of that Markov chain).
        let s = shares(true, &[0, 2, 4, 6]);
        for (share, want) in s.iter().zip([0.366, 0.320, 0.227, 0.087]) {
            assert!((share - want).abs() < 0.02, "{s:?}");
        }
    }

    #[test]
    fn without_adaptive_loads_only_tell_availability() {
        let s = shares(false, &[0, 0, 0, 0, 0, 50]);
        for &share in &s {
            assert!((0.15..0.185).contains(&share), "{s:?}");
        }
    }
}
