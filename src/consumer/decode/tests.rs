//! Decoder tests: records and positions as before, bombs refused, steps bounded.

use super::*;
use crate::protocol::compression::{Compression, bombs};
use crate::protocol::record_batch::RecordBatchBuilder;

const MIB: usize = 1 << 20;

/// A batch at `base` from producer `pid`; `control` makes it a transaction marker
/// (key: version 0, type 0 = ABORT / 1 = COMMIT).
fn batch(base: i64, pid: i64, values: &[&str], transactional: bool, control: Option<i16>) -> Bytes {
    let mut b = RecordBatchBuilder::new(Compression::None, None, 1024);
    match control {
        Some(kind) => {
            let key = [0u8, 0, (kind >> 8) as u8, kind as u8];
            b.append(0, Some(&key), Some(b""), &[]);
        }
        None => {
            for v in values {
                b.append(0, None, Some(v.as_bytes()), &[]);
            }
        }
    }
    let mut bytes = b.build(pid, 0, 0, transactional).unwrap().to_vec();
    bytes[..8].copy_from_slice(&base.to_be_bytes());
    if control.is_some() {
        // Attribute bit 5 marks a control batch; the CRC covers the attributes.
        bytes[22] |= 0x20;
        refresh_crc(&mut bytes);
    }
    Bytes::from(bytes)
}

fn refresh_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A batch of one record at `base` whose records section is `section` compressed with `codec`
/// (attribute bits 0-2), whatever it decompresses to.
fn raw_batch(base: i64, codec: Compression, section: &[u8]) -> Bytes {
    let mut b = batch(base, -1, &["x"], false, None).to_vec();
    b.truncate(61);
    b.extend_from_slice(section);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[22] = (b[22] & !0x07) | codec.attribute_bits() as u8;
    refresh_crc(&mut b);
    Bytes::from(b)
}

fn decoder(data: Bytes, fetch_offset: i64) -> PartitionDecoder {
    PartitionDecoder::new(
        Arc::from("t"),
        0,
        data,
        fetch_offset,
        true,
        false,
        Vec::new(),
    )
}

/// Steps to the end: every record, the error if any, and the largest step's cost.
fn run(
    d: &mut PartitionDecoder,
    limits: &DecodeLimits,
) -> (Vec<ConsumerRecord>, Option<Error>, usize) {
    let (mut records, mut largest) = (Vec::new(), 0);
    while d.has_more() {
        let step = d.step(limits);
        largest = largest.max(step.cost);
        records.extend(step.records);
        if step.error.is_some() {
            assert!(!d.has_more(), "an error ends the fetch");
            return (records, step.error, largest);
        }
    }
    (records, None, largest)
}

fn text(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()
}

fn values(read_committed: bool, fetch_offset: i64, aborted: Vec<(i64, i64)>) -> (Vec<String>, i64) {
    let mut blob = Vec::new();
    blob.extend_from_slice(&batch(0, 7, &["a0", "a1"], true, None)); // txn of pid 7, aborted
    blob.extend_from_slice(&batch(2, 9, &["b2"], false, None)); // plain
    blob.extend_from_slice(&batch(3, 7, &[], true, Some(0))); // ABORT marker for pid 7
    blob.extend_from_slice(&batch(4, 8, &["c4", "c5"], true, None)); // txn of pid 8, committed
    blob.extend_from_slice(&batch(6, 8, &[], true, Some(1))); // COMMIT marker
    let mut d = PartitionDecoder::new(
        Arc::from("t"),
        0,
        Bytes::from(blob),
        fetch_offset,
        true,
        read_committed,
        aborted,
    );
    let (records, error, _) = run(&mut d, &DecodeLimits::new(MIB));
    assert!(error.is_none(), "{error:?}");
    (records.iter().map(text).collect(), d.end_offset())
}

#[test]
fn read_committed_drops_aborted_transactions_and_markers() {
    let (all, end) = values(false, 0, vec![]);
    assert_eq!(
        all,
        ["a0", "a1", "b2", "c4", "c5"],
        "read_uncommitted skips only markers"
    );
    assert_eq!(end, 7, "position moves past the trailing marker");
    let (committed, _) = values(true, 0, vec![(7, 0)]);
    assert_eq!(committed, ["b2", "c4", "c5"]);
    // Records before the fetch offset (inside the first returned batch) are skipped.
    let (from_b, _) = values(false, 1, vec![]);
    assert_eq!(from_b, ["a1", "b2", "c4", "c5"]);
}

#[test]
fn limits_follow_max_partition_fetch_bytes() {
    assert_eq!(DecodeLimits::new(MIB).batch_bytes, 64 * MIB);
    assert_eq!(DecodeLimits::new(1024).batch_bytes, 64 * MIB);
    assert_eq!(DecodeLimits::new(4 * MIB).batch_bytes, 256 * MIB);
    assert_eq!(DecodeLimits::new(usize::MAX).batch_bytes, 1 << 30);
    let l = DecodeLimits::new(MIB);
    assert!(l.step_max() > 2 * l.batch_bytes);
}

/// Five records, a bomb of several GiB at offset 5, five more: the five before it, then a
/// typed error naming the partition and the batch; no step holds more than the bound.
#[test]
fn bombs_are_an_error_after_the_records_before_them() {
    let limits = DecodeLimits::new(MIB);
    let bombs = bombs::every_codec();
    for (codec, bomb) in bombs {
        let mut blob = batch(0, -1, &["0", "1", "2", "3", "4"], false, None).to_vec();
        blob.extend_from_slice(&raw_batch(5, codec, &bomb));
        blob.extend_from_slice(&batch(6, -1, &["6", "7"], false, None));
        let (records, error, largest) = run(&mut decoder(Bytes::from(blob), 0), &limits);
        assert_eq!(
            records.iter().map(text).collect::<Vec<_>>(),
            ["0", "1", "2", "3", "4"],
            "{codec}"
        );
        match error {
            Some(Error::BatchTooLarge {
                partition,
                offset,
                next_offset,
                codec: name,
                limit,
            }) => {
                assert_eq!(
                    (partition.as_str(), offset, next_offset, name, limit),
                    ("t-0", 5, 6, codec.name(), 64 * MIB)
                );
            }
            other => panic!("{codec}: {other:?}"),
        }
        assert!(largest <= limits.step_max(), "{codec}: step of {largest}");
    }
}

/// A record of 2-byte headers (empty key, null value) takes ~28x its size decoded: past the
/// batch limit it is the same typed error, before anything is allocated for it.
#[test]
fn header_bombs_are_refused() {
    let limits = DecodeLimits {
        batch_bytes: MIB,
        step_bytes: 64 * 1024,
    };
    let headers = vec![Header::null(""); 20_000];
    for (n, refused) in [(10_000, false), (20_000, true)] {
        let mut b = RecordBatchBuilder::new(Compression::Lz4, None, 0);
        b.append(0, None, Some(b"v"), &headers[..n]);
        let (records, error, _) = run(
            &mut decoder(b.build(-1, -1, -1, false).unwrap(), 0),
            &limits,
        );
        assert_eq!(records.len(), usize::from(!refused), "{n} headers");
        assert_eq!(
            matches!(error, Some(Error::BatchTooLarge { offset: 0, .. })),
            refused,
            "{n} headers: {error:?}"
        );
    }
}

/// One batch of 3 MiB decompressed, read in steps of 64 KiB: every record in order, each step
/// bounded, the end offset once done.
#[test]
fn a_large_batch_is_read_in_bounded_steps() {
    let limits = DecodeLimits {
        batch_bytes: 4 * MIB,
        step_bytes: 64 * 1024,
    };
    let value = vec![b'v'; 1000];
    let mut b = RecordBatchBuilder::new(Compression::Gzip, None, 0);
    for _ in 0..3000 {
        b.append(0, None, Some(&value), &[]);
    }
    let mut blob = b.build(-1, -1, -1, false).unwrap().to_vec();
    blob[..8].copy_from_slice(&100i64.to_be_bytes());
    let mut d = decoder(Bytes::from(blob), 100);
    let (mut offsets, mut steps) = (Vec::new(), 0);
    while d.has_more() {
        let step = d.step(&limits);
        assert!(step.error.is_none(), "{:?}", step.error);
        assert!(step.cost <= limits.step_max(), "step of {}", step.cost);
        offsets.extend(step.records.iter().map(|r| r.offset));
        steps += 1;
    }
    assert_eq!(offsets, (100..3100).collect::<Vec<i64>>());
    assert!(steps > 5, "{steps} steps");
    assert_eq!(d.end_offset(), 3100);
    assert_eq!(d.held(), 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Corrupted batches of every codec, read without CRC checks so the damage reaches the
    /// decoders: no panic, every step within its bound, an end.
    #[test]
    fn corrupted_fetches_never_panic(
        codec in proptest::sample::select(vec![
            Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4,
        ]),
        flips in proptest::collection::vec(
            (proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()),
            1..8,
        ),
        read_committed in proptest::prelude::any::<bool>(),
    ) {
        let limits = DecodeLimits { batch_bytes: 64 * 1024, step_bytes: 1024 };
        let mut blob = Vec::new();
        for base in [0i64, 40, 80] {
            let mut b = RecordBatchBuilder::new(codec, None, 0);
            for i in 0..40 {
                let h = [Header::new(format!("h{i}"), format!("{base}"))];
                b.append(i, Some(b"k"), Some(format!("v{i}").as_bytes()), &h);
            }
            let mut built = b.build(3, 0, 0, true).unwrap().to_vec();
            built[..8].copy_from_slice(&base.to_be_bytes());
            blob.extend_from_slice(&built);
        }
        for (at, byte) in flips {
            let i = at.index(blob.len());
            blob[i] ^= byte;
        }
        let mut d = PartitionDecoder::new(
            Arc::from("t"), 0, Bytes::from(blob), 0, false, read_committed, vec![(3, 40)],
        );
        let mut steps = 0;
        while d.has_more() {
            let step = d.step(&limits);
            proptest::prop_assert!(step.cost <= limits.step_max());
            steps += 1;
            proptest::prop_assert!(steps < 10_000);
        }
    }
}

/// How long one step, and all of a 50 MiB fetch response, take to decode (CRC, decompression,
/// records), per codec. Prints; asserts nothing about time.
/// `cargo test --release --lib decode_time_of_a_50_mib_fetch -- --ignored --nocapture`
#[test]
#[ignore]
fn decode_time_of_a_50_mib_fetch() {
    let limits = DecodeLimits::new(MIB);
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Snappy,
        Compression::Gzip,
        #[cfg(feature = "zstd")]
        Compression::Zstd,
    ];
    for codec in codecs {
        // 1 KiB records of random words and numbers (lz4 packs them ~2x, zstd ~3x), in batches
        // of 1 MiB, as a producer with batch.size=1048576 writes them.
        const WORDS: [&str; 16] = [
            "order",
            "user",
            "id",
            "amount",
            "currency",
            "EUR",
            "status",
            "shipped",
            "item",
            "price",
            "quantity",
            "warehouse",
            "created",
            "updated",
            "true",
            "false",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut blob = Vec::new();
        let mut offset = 0i64;
        while blob.len() < 50 * MIB {
            let mut b = RecordBatchBuilder::new(codec, None, MIB);
            for _ in 0..1024 {
                let mut v = String::with_capacity(1100);
                while v.len() < 1024 {
                    v.push_str(WORDS[rng.usize(..WORDS.len())]);
                    v.push_str(&format!("={} ", rng.u32(..100_000)));
                }
                b.append(0, None, Some(v.as_bytes()), &[]);
                offset += 1;
            }
            let mut built = b.build(-1, -1, -1, false).unwrap().to_vec();
            built[..8].copy_from_slice(&(offset - 1024).to_be_bytes());
            blob.extend_from_slice(&built);
        }
        let data = Bytes::from(blob);
        let mut d = decoder(data.clone(), 0);
        let (mut records, mut longest, start) =
            (0, std::time::Duration::ZERO, std::time::Instant::now());
        while d.has_more() {
            let t = std::time::Instant::now();
            let step = d.step(&limits);
            longest = longest.max(t.elapsed());
            assert!(step.error.is_none());
            records += step.records.len();
        }
        println!(
            "{codec:>6}: {:.1} MiB fetch, {records} records: all {:?}, longest step {longest:?}",
            data.len() as f64 / MIB as f64,
            start.elapsed()
        );
    }
}

#[test]
fn an_inline_step_stops_before_a_compressed_batch() {
    let limits = DecodeLimits {
        batch_bytes: 64 * MIB,
        step_bytes: 4096,
    };
    let plain = |base| batch(base, -1, &["a", "b"], false, None);
    let mut zipped = RecordBatchBuilder::new(Compression::Lz4, None, 1024);
    for v in ["c", "d"] {
        zipped.append(0, None, Some(v.as_bytes()), &[]);
    }
    let mut zipped = zipped.build(-1, 0, 0, false).unwrap().to_vec();
    zipped[..8].copy_from_slice(&4i64.to_be_bytes());
    let data = Bytes::from([plain(0), plain(2), Bytes::from(zipped)].concat());
    let values =
        |s: &Step| -> Vec<Bytes> { s.records.iter().filter_map(|r| r.value.clone()).collect() };

    let mut d = decoder(data.clone(), 0);
    assert!(!d.next_batch_is_compressed());
    let first = d.step_within(&limits, false, true);
    assert_eq!(values(&first), ["a", "b", "a", "b"]);
    assert!(first.error.is_none() && d.has_more() && d.next_batch_is_compressed());
    // Inline again: nothing, and nothing moved.
    let none = d.step_within(&limits, false, true);
    assert!(none.records.is_empty() && none.error.is_none() && d.next_batch_is_compressed());
    // On the blocking pool: the compressed batch is opened.
    let rest = d.step_within(&limits, false, false);
    assert_eq!(values(&rest), ["c", "d"]);
    assert!(rest.error.is_none() && !d.has_more());
    assert_eq!(d.end_offset(), 6);

    // Not inline, one step reads through.
    let mut d = decoder(data, 0);
    assert_eq!(values(&d.step(&limits)), ["a", "b", "a", "b", "c", "d"]);
}
