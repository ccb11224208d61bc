use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records as kp;
use proptest::prelude::*;

use super::*;

const ALL: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn available(codec: Compression) -> bool {
    codec != Compression::Zstd || cfg!(feature = "zstd")
}

fn rec(timestamp: i64, key: Option<&str>, value: Option<&str>, headers: Vec<Header>) -> TestRecord {
    TestRecord {
        timestamp,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers,
    }
}

fn sample_records(n: usize, tag: &str) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let key = format!("{tag}-key-{i}");
            let value = format!("{tag}-value-{i}-{}", "x".repeat(i % 50));
            rec(
                1_700_000_000_000 + i as i64,
                Some(key.as_str()),
                (i % 7 != 3).then_some(value.as_str()),
                vec![
                    Header::new("h", Bytes::from(format!("{i}"))),
                    Header::null("n"),
                ],
            )
        })
        .collect()
}

fn builder_with(codec: Compression, records: &[TestRecord]) -> RecordBatchBuilder {
    let mut b = RecordBatchBuilder::new(codec, None, 0);
    for (i, r) in records.iter().enumerate() {
        let d = b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
        assert_eq!(d, i as i32);
    }
    b
}

fn assert_records_match(batch: &DecodedBatch, base_offset: i64, expected: &[TestRecord]) {
    assert_eq!(batch.records.len(), expected.len());
    for (i, (got, want)) in batch.records.iter().zip(expected).enumerate() {
        assert_eq!(got.offset, base_offset + i as i64);
        assert_eq!(got.timestamp, want.timestamp, "record {i}");
        assert_eq!(got.key, want.key, "record {i}");
        assert_eq!(got.value, want.value, "record {i}");
        assert_eq!(got.headers, want.headers, "record {i}");
    }
}

/// Rewrites attributes (which are under the CRC) and refreshes the CRC.
fn set_attribute_bits(batch: &[u8], bits: i16) -> Bytes {
    let mut b = batch.to_vec();
    let attr = i16::from_be_bytes([b[ATTRIBUTES_AT], b[ATTRIBUTES_AT + 1]]) | bits;
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attr.to_be_bytes());
    refresh_crc(&mut b);
    Bytes::from(b)
}

fn refresh_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[ATTRIBUTES_AT..]);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

fn corrupt_message(r: Result<Vec<DecodedBatch>>) -> String {
    match r {
        Err(Error::CorruptRecord(m)) => m,
        other => panic!("expected CorruptRecord, got {other:?}"),
    }
}

#[test]
fn builds_the_documented_header() {
    let records = sample_records(3, "a");
    let b = builder_with(Compression::None, &records);
    let bytes = b.build(77, 3, 1000, true).unwrap();
    assert_eq!(bytes.len(), b.uncompressed_size());
    let h = read_batch_header(&bytes).unwrap().unwrap();
    assert_eq!(h.base_offset, 0);
    assert_eq!(h.total_size(), bytes.len());
    assert_eq!(h.partition_leader_epoch, -1);
    assert_eq!(bytes[MAGIC_AT], 2);
    assert_eq!(h.attributes, TRANSACTIONAL_BIT);
    assert_eq!(h.last_offset_delta, 2);
    assert_eq!(h.base_timestamp, records[0].timestamp);
    assert_eq!(h.max_timestamp, records[2].timestamp);
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (77, 3, 1000)
    );
    assert_eq!(h.record_count, 3);
    assert_eq!(h.crc, crc32c::crc32c(&bytes[ATTRIBUTES_AT..]));
    // A retry rebuilds the same bytes, for every codec.
    for c in ALL.into_iter().filter(|&c| available(c)) {
        let b = builder_with(c, &sample_records(50, "r"));
        assert_eq!(
            b.build(1, 2, 3, false).unwrap(),
            b.build(1, 2, 3, false).unwrap()
        );
    }
}

#[test]
fn restamped_batch_equals_one_built_with_the_new_sequence() {
    let records = sample_records(50, "restamp");
    for codec in [Compression::None, Compression::Lz4, Compression::Gzip] {
        let mut b = builder_with(codec, &records);
        let first = b.build(7, 1, 100, false).expect("build");
        let expected = b.build(9, 2, 0, false).expect("build");
        let mut restamped = first.to_vec();
        restamp(&mut restamped, 9, 2, 0).expect("restamp");
        assert_eq!(restamped, expected, "{codec:?}");
        restamp(&mut restamped, -1, -1, -1).expect("restamp");
        assert_eq!(restamped, b.build(-1, -1, -1, false).expect("build"));
        let size = b.uncompressed_size();
        b.release_records();
        assert_eq!(b.uncompressed_size(), size, "sizes survive the release");
        assert_eq!(b.allocated(), BATCH_HEADER_LEN, "records freed");
        assert!(
            b.build(7, 1, 100, false).is_err(),
            "nothing left to build from"
        );
    }
    assert!(restamp(&mut [0; 60], 1, 1, 1).is_err());
}

#[test]
fn empty_builder_does_not_build() {
    let b = RecordBatchBuilder::new(Compression::None, None, 16);
    assert_eq!(b.record_count(), 0);
    assert_eq!(b.uncompressed_size(), BATCH_HEADER_LEN);
    assert!(matches!(
        b.build(-1, -1, -1, false),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn max_timestamp_and_negative_deltas() {
    let records = vec![
        rec(1000, None, Some("a"), vec![]),
        rec(5000, None, Some("b"), vec![]),
        rec(10, None, Some("c"), vec![]),
    ];
    let bytes = encode_test_batch(Compression::None, 40, &records);
    let batches = decode_batches(bytes, true).unwrap();
    let b = &batches[0];
    assert_eq!((b.base_timestamp, b.max_timestamp), (1000, 5000));
    assert_eq!(b.next_offset(), 43);
    assert_eq!(b.timestamp_type, TimestampType::CreateTime);
    assert_records_match(b, 40, &records);
}

#[test]
fn uncompressed_records_are_zero_copy() {
    let bytes = encode_test_batch(Compression::None, 0, &sample_records(5, "z"));
    let range = bytes.as_ptr_range();
    let batches = decode_batches(bytes.clone(), true).unwrap();
    for r in &batches[0].records {
        let v = r.key.as_ref().unwrap();
        assert!(range.contains(&v.as_ptr()));
    }
}

#[test]
fn log_append_time_uses_max_timestamp() {
    let records = sample_records(4, "t");
    let bytes = set_attribute_bits(
        &encode_test_batch(Compression::Lz4, 0, &records),
        TIMESTAMP_TYPE_BIT,
    );
    let b = &decode_batches(bytes, true).unwrap()[0];
    assert_eq!(b.timestamp_type, TimestampType::LogAppendTime);
    assert!(b.records.iter().all(|r| r.timestamp == b.max_timestamp));
}

#[test]
fn control_batches_are_flagged_and_parsed() {
    // A commit marker: key is version 0 + type 1, value is version 0 + coordinator epoch.
    let marker = TestRecord {
        timestamp: 5,
        key: Some(Bytes::from_static(&[0, 0, 0, 1])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 7])),
        headers: vec![],
    };
    let bytes = set_attribute_bits(
        &encode_test_batch(Compression::None, 9, std::slice::from_ref(&marker)),
        CONTROL_BIT | TRANSACTIONAL_BIT,
    );
    let b = &decode_batches(bytes, true).unwrap()[0];
    assert!(b.is_control && b.is_transactional);
    assert_records_match(b, 9, &[marker]);
    assert_eq!(b.next_offset(), 10);
}

#[test]
fn empty_batch_left_by_compaction_decodes() {
    let mut b = encode_test_batch(Compression::None, 100, &sample_records(1, "e")).to_vec();
    b.truncate(BATCH_HEADER_LEN);
    let len = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;
    b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
    b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&5i32.to_be_bytes());
    b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&0i32.to_be_bytes());
    refresh_crc(&mut b);
    let batches = decode_batches(Bytes::from(b), true).unwrap();
    assert!(batches[0].records.is_empty());
    assert_eq!(batches[0].next_offset(), 106);
}

#[test]
fn old_magic_is_rejected_by_name() {
    let mut b = encode_test_batch(Compression::None, 0, &sample_records(2, "m")).to_vec();
    b[MAGIC_AT] = 1;
    let msg = corrupt_message(decode_batches(Bytes::from(b), false));
    assert!(msg.contains("magic 1"), "{msg}");
}

#[test]
fn crc_corruption_is_detected() {
    for c in [Compression::None, Compression::Gzip] {
        let good = encode_test_batch(c, 0, &sample_records(10, "c"));
        let mut bad = good.to_vec();
        let i = BATCH_HEADER_LEN + 5;
        bad[i] ^= 0x40;
        let msg = corrupt_message(decode_batches(Bytes::from(bad.clone()), true));
        assert!(msg.contains("CRC"), "{msg}");
        // Without the check the flipped byte gets through (or fails to parse), never panics.
        let _ = decode_batches(Bytes::from(bad), false);
        assert!(decode_batches(good, true).is_ok());
    }
}

#[test]
fn truncated_tail_batch_is_dropped() {
    for c in [Compression::None, Compression::Lz4] {
        let mut all = Vec::new();
        let mut starts = Vec::new();
        for (i, tag) in ["a", "b", "c"].into_iter().enumerate() {
            starts.push(all.len());
            all.extend_from_slice(&encode_test_batch(
                c,
                i as i64 * 100,
                &sample_records(20, tag),
            ));
        }
        let all = Bytes::from(all);
        assert_eq!(decode_batches(all.clone(), true).unwrap().len(), 3);
        for cut in starts[2]..all.len() {
            let batches = decode_batches(all.slice(..cut), true).unwrap();
            assert_eq!(batches.len(), 2, "cut at {cut}");
            assert_eq!(batches[1].base_offset, 100);
        }
        assert!(decode_batches(Bytes::new(), true).unwrap().is_empty());
    }
}

/// Patches the record count (under the CRC) and refreshes the CRC.
fn with_record_count(batch: &Bytes, count: i32) -> Bytes {
    let mut b = batch.to_vec();
    b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
    refresh_crc(&mut b);
    Bytes::from(b)
}

#[test]
fn malformed_batches_are_errors() {
    let good = encode_test_batch(Compression::None, 0, &sample_records(3, "x"));
    for count in [2, 4, -1, i32::MAX] {
        corrupt_message(decode_batches(with_record_count(&good, count), true));
    }
    // Negative and too-small batch lengths.
    for len in [-1i32, 3, 20] {
        let mut b = good.to_vec();
        b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
        corrupt_message(decode_batches(Bytes::from(b), false));
    }
    // Unknown codec id.
    corrupt_message(decode_batches(set_attribute_bits(&good, 6), true));
}

/// A batch holding one hand-encoded record body.
fn batch_with_record_body(body: &[u8]) -> Bytes {
    let mut section = Vec::new();
    put_varlong(&mut section, body.len() as i64);
    section.extend_from_slice(body);
    let mut b = encode_test_batch(Compression::None, 0, &sample_records(1, "h")).to_vec();
    b.truncate(BATCH_HEADER_LEN);
    b.extend_from_slice(&section);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
    refresh_crc(&mut b);
    Bytes::from(b)
}

#[test]
fn malformed_records_are_errors() {
    let v = |xs: &[i64]| {
        let mut out = vec![0u8]; // attributes
        for &x in xs {
            put_varlong(&mut out, x);
        }
        out
    };
    // ts delta, offset delta, key len, value len, header count
    assert!(decode_batches(batch_with_record_body(&v(&[0, 0, -1, -1, 0])), true).is_ok());
    let bad = [
        v(&[0, 0, -2, -1, 0]),         // key length -2
        v(&[0, 0, 50, -1, 0]),         // key past the record
        v(&[0, 0, -1, -1, -3]),        // negative header count
        v(&[0, 0, -1, -1, 1_000_000]), // more headers than bytes
        v(&[0, 0, -1, -1, 1, -1, -1]), // null header key
        v(&[0, 0, -1, -1, 0, 0]),      // trailing byte inside the record
        v(&[0, 1 << 40, -1, -1, 0]),   // offset delta over 32 bits
        [
            v(&[0, 0, -1, -1, 1, 2]),
            vec![0xff, 0xfe],
            v(&[-1])[1..].to_vec(),
        ]
        .concat(), // bad UTF-8
        vec![
            0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0,
        ], // 11-byte varlong
    ];
    for body in bad {
        corrupt_message(decode_batches(batch_with_record_body(&body), true));
    }
    // A record length longer than the section.
    let mut b = batch_with_record_body(&v(&[0, 0, -1, -1, 0])).to_vec();
    b[BATCH_HEADER_LEN] = 40; // zigzag 20
    refresh_crc(&mut b);
    corrupt_message(decode_batches(Bytes::from(b), true));
}

#[test]
fn estimate_matches_known_sizes() {
    // Smallest record: 7 bytes (length byte + 6-byte body).
    assert_eq!(
        RecordBatchBuilder::estimate_record_size(0, 0, None, None, &[]),
        7
    );
    assert_eq!(varlong_len(0), 1);
    assert_eq!(varlong_len(-64), 1);
    assert_eq!(varlong_len(64), 2);
    assert_eq!(varlong_len(i64::MIN), 10);
    assert_eq!(varlong_len(i32::MAX.into()), 5);
}

// ---- cross-checks against kafka-protocol -------------------------------------------------

fn kp_codec(c: Compression) -> kp::Compression {
    match c {
        Compression::None => kp::Compression::None,
        Compression::Gzip => kp::Compression::Gzip,
        Compression::Snappy => kp::Compression::Snappy,
        Compression::Lz4 => kp::Compression::Lz4,
        Compression::Zstd => kp::Compression::Zstd,
    }
}

fn our_codec(c: kp::Compression) -> Compression {
    match c {
        kp::Compression::None => Compression::None,
        kp::Compression::Gzip => Compression::Gzip,
        kp::Compression::Snappy => Compression::Snappy,
        kp::Compression::Lz4 => Compression::Lz4,
        kp::Compression::Zstd => Compression::Zstd,
    }
}

fn kp_decode(mut bytes: Bytes) -> Vec<kp::Record> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let set = kp::RecordBatchDecoder::decode_with_custom_compression(
            &mut bytes,
            Some(|section: &mut Bytes, c| {
                let limit = compression::MAX_DECOMPRESSED_SIZE;
                let out = compression::decompress(our_codec(c), section, limit)?;
                Ok(Bytes::from(out.expect("our batches fit the limit")))
            }),
        )
        .expect("kafka-protocol decodes our batch");
        out.extend(set.records);
    }
    out
}

/// Encodes `records` with kafka-protocol's encoder and our compressor.
fn kp_encode(
    codec: Compression,
    base_offset: i64,
    pid: i64,
    epoch: i16,
    seq: i32,
    records: &[TestRecord],
) -> Bytes {
    let kp_records: Vec<kp::Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| kp::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 7,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: kp::TimestampType::Creation,
            offset: base_offset + i as i64,
            sequence: seq.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    kp::RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        &kp_records,
        &kp::RecordEncodeOptions {
            version: 2,
            compression: kp_codec(codec),
        },
        Some(|section: &mut BytesMut, out: &mut BytesMut, c| {
            let mut v = Vec::new();
            compression::compress(our_codec(c), None, section, &mut v)?;
            out.extend_from_slice(&v);
            Ok(())
        }),
    )
    .expect("kafka-protocol encodes");
    buf.freeze()
}

// ---- property tests ------------------------------------------------------------------------

fn nullable_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Bytes::new())),
        3 => proptest::collection::vec(any::<u8>(), 1..max).prop_map(|v| Some(Bytes::from(v))),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    ("\\PC{0,6}", nullable_bytes(12)).prop_map(|(key, value)| Header { key, value })
}

/// Timestamps near a random base with positive and negative deltas; `wide` adds extremes.
fn records(max: usize, wide: bool) -> impl Strategy<Value = Vec<TestRecord>> {
    let base = -(1i64 << 42)..(1i64 << 42);
    (
        base,
        proptest::collection::vec(
            (
                prop_oneof![
                    4 => -100_000_000i64..100_000_000,
                    1 => if wide { any::<i64>().boxed() } else { Just(0i64).boxed() },
                ],
                nullable_bytes(24),
                nullable_bytes(64),
                proptest::collection::vec(header(), 0..4),
            ),
            1..max,
        ),
    )
        .prop_map(|(base, rs)| {
            rs.into_iter()
                .map(|(d, key, value, headers)| TestRecord {
                    timestamp: base.wrapping_add(d),
                    key,
                    value,
                    headers,
                })
                .collect()
        })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(
        ALL.iter()
            .copied()
            .filter(|&c| available(c))
            .collect::<Vec<_>>(),
    )
}

fn check_round_trip(
    codec: Compression,
    records: &[TestRecord],
    (pid, epoch, seq, txn): (i64, i16, i32, bool),
) -> std::result::Result<(), TestCaseError> {
    let b = builder_with(codec, records);
    prop_assert_eq!(b.record_count(), records.len() as i32);
    let bytes = b.build(pid, epoch, seq, txn).unwrap();
    if codec == Compression::None {
        prop_assert_eq!(bytes.len(), b.uncompressed_size());
    }
    let batches = decode_batches(bytes, true).unwrap();
    prop_assert_eq!(batches.len(), 1);
    let d = &batches[0];
    prop_assert_eq!(
        (d.producer_id, d.producer_epoch, d.base_sequence),
        (pid, epoch, seq)
    );
    prop_assert_eq!(d.is_transactional, txn);
    prop_assert!(!d.is_control);
    prop_assert_eq!(d.compression, codec);
    prop_assert_eq!(d.base_offset, 0);
    prop_assert_eq!(d.partition_leader_epoch, -1);
    prop_assert_eq!(d.last_offset_delta, records.len() as i32 - 1);
    prop_assert_eq!(d.base_timestamp, records[0].timestamp);
    prop_assert_eq!(
        d.max_timestamp,
        records.iter().map(|r| r.timestamp).max().unwrap()
    );
    assert_records_match(d, 0, records);
    Ok(())
}

fn producer() -> impl Strategy<Value = (i64, i16, i32, bool)> {
    (any::<i64>(), any::<i16>(), any::<i32>(), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn round_trip_none(rs in records(200, true), p in producer()) {
        check_round_trip(Compression::None, &rs, p)?;
    }

    #[test]
    fn round_trip_gzip(rs in records(200, true), p in producer()) {
        check_round_trip(Compression::Gzip, &rs, p)?;
    }

    #[test]
    fn round_trip_snappy(rs in records(200, true), p in producer()) {
        check_round_trip(Compression::Snappy, &rs, p)?;
    }

    #[test]
    fn round_trip_lz4(rs in records(200, true), p in producer()) {
        check_round_trip(Compression::Lz4, &rs, p)?;
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn round_trip_zstd(rs in records(200, true), p in producer()) {
        check_round_trip(Compression::Zstd, &rs, p)?;
    }

    #[test]
    fn concatenated_batches_decode_in_order(
        batches in proptest::collection::vec((codec(), records(20, true), 0i64..1000), 1..6),
    ) {
        let mut all = Vec::new();
        let mut base = 1i64 << 40;
        let mut expected = Vec::new();
        for (c, rs, gap) in &batches {
            all.extend_from_slice(&encode_test_batch(*c, base, rs));
            expected.push((base, *c, rs));
            base += rs.len() as i64 + gap;
        }
        let decoded = decode_batches(Bytes::from(all), true).unwrap();
        prop_assert_eq!(decoded.len(), expected.len());
        for (d, (base, c, rs)) in decoded.iter().zip(expected) {
            prop_assert_eq!(d.base_offset, base);
            prop_assert_eq!(d.compression, c);
            prop_assert_eq!(d.next_offset(), base + rs.len() as i64);
            assert_records_match(d, base, rs);
        }
    }

    #[test]
    fn estimate_equals_appended_bytes(rs in records(30, true)) {
        let mut b = RecordBatchBuilder::new(Compression::None, None, 0);
        for r in &rs {
            let (key, value) = (r.key.as_deref(), r.value.as_deref());
            let predicted = b.next_record_size(r.timestamp, key, value, &r.headers);
            let before = b.uncompressed_size();
            b.append(r.timestamp, key, value, &r.headers);
            prop_assert_eq!(b.uncompressed_size() - before, predicted);
        }
    }

    #[test]
    fn ours_decode_with_kafka_protocol(c in codec(), rs in records(60, false), p in producer()) {
        // kafka-protocol keeps headers in a map: give them distinct keys.
        let rs: Vec<TestRecord> = rs.into_iter().map(|mut r| {
            for (i, h) in r.headers.iter_mut().enumerate() {
                h.key = format!("{i}{}", h.key);
            }
            r
        }).collect();
        let (pid, epoch, seq, txn) = p;
        let bytes = builder_with(c, &rs).build(pid, epoch, seq, txn).unwrap();
        let got = kp_decode(bytes);
        prop_assert_eq!(got.len(), rs.len());
        for (i, (g, want)) in got.iter().zip(&rs).enumerate() {
            prop_assert_eq!(g.offset, i as i64);
            prop_assert_eq!(g.sequence, seq.wrapping_add(i as i32));
            prop_assert_eq!((g.producer_id, g.producer_epoch, g.transactional), (pid, epoch, txn));
            prop_assert_eq!(g.timestamp, want.timestamp);
            prop_assert_eq!(&g.key, &want.key);
            prop_assert_eq!(&g.value, &want.value);
            let headers: Vec<Header> = g.headers.iter()
                .map(|(k, v)| Header { key: k.to_string(), value: v.clone() })
                .collect();
            prop_assert_eq!(&headers, &want.headers);
        }
    }

    #[test]
    fn kafka_protocol_batches_decode_with_ours(
        c in codec(), rs in records(60, false), p in producer(), base in 0i64..(1 << 50),
    ) {
        let rs: Vec<TestRecord> = rs.into_iter().map(|mut r| {
            for (i, h) in r.headers.iter_mut().enumerate() {
                h.key = format!("{i}{}", h.key);
            }
            r
        }).collect();
        let (pid, epoch, seq, _) = p;
        let bytes = kp_encode(c, base, pid, epoch, seq, &rs);
        let decoded = decode_batches(bytes, true).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        let d = &decoded[0];
        prop_assert_eq!(d.base_offset, base);
        prop_assert_eq!(d.compression, c);
        prop_assert_eq!(d.partition_leader_epoch, 7);
        prop_assert_eq!((d.producer_id, d.producer_epoch, d.base_sequence), (pid, epoch, seq));
        prop_assert_eq!(d.max_timestamp, rs.iter().map(|r| r.timestamp).max().unwrap());
        prop_assert_eq!(d.next_offset(), base + rs.len() as i64);
        assert_records_match(d, base, &rs);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600), check in any::<bool>()) {
        let _ = decode_batches(Bytes::from(data), check);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        c in 0i16..8, count in any::<i32>(), body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut b = encode_test_batch(Compression::None, 0, &sample_records(1, "f")).to_vec();
        b.truncate(BATCH_HEADER_LEN);
        b.extend_from_slice(&body);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&len.to_be_bytes());
        b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&c.to_be_bytes());
        b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&count.to_be_bytes());
        let _ = decode_batches(Bytes::from(b), false);
    }

    #[test]
    fn mutated_batches_never_panic(
        c in codec(),
        rs in records(10, true),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut b = encode_test_batch(c, 0, &rs).to_vec();
        for (at, x) in flips {
            let i = at.index(b.len());
            b[i] ^= x;
        }
        let _ = decode_batches(Bytes::from(b), false);
    }
}
