use bytes::Bytes;

use super::*;
use crate::protocol::record_batch::{TestRecord, encode_test_batch};

fn batch(base_offset: i64, tag: &str, n: usize) -> Bytes {
    let records: Vec<TestRecord> = (0..n)
        .map(|i| TestRecord {
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("{tag}-{i}"))),
            headers: vec![Header::new("h", format!("v{i}"))],
        })
        .collect();
    encode_test_batch(Compression::None, base_offset, &records)
}

/// Three batches of 2, 3 and 4 records at offsets 0, 2 and 5, and where each starts.
fn segment() -> (Vec<u8>, [usize; 3]) {
    let (a, b, c) = (batch(0, "a", 2), batch(2, "b", 3), batch(5, "c", 4));
    let starts = [0, a.len(), a.len() + b.len()];
    ([a, b, c].concat(), starts)
}

fn batches(entries: &[SegmentEntry]) -> Vec<&BatchInfo> {
    entries
        .iter()
        .filter_map(|e| match e {
            SegmentEntry::Batch(b) => Some(b),
            SegmentEntry::Corrupt { .. } => None,
        })
        .collect()
}

fn values(b: &BatchInfo) -> Vec<String> {
    b.records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

#[test]
fn a_clean_segment_lists_every_batch_and_record() {
    let (seg, starts) = segment();
    let entries = read_segment(&Bytes::from(seg), true);
    let b = batches(&entries);
    assert_eq!(entries.len(), 3);
    let got: Vec<_> = b
        .iter()
        .map(|b| {
            (
                b.position,
                b.base_offset,
                b.last_offset,
                b.count,
                b.crc_valid,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (starts[0] as u64, 0, 1, 2, true),
            (starts[1] as u64, 2, 4, 3, true),
            (starts[2] as u64, 5, 8, 4, true)
        ]
    );
    assert_eq!(b[1].size, starts[2] - starts[1]);
    assert_eq!(values(b[2]), ["c-0", "c-1", "c-2", "c-3"]);
    assert_eq!(b[2].records[3].offset, 8);
    assert_eq!(b[2].records[3].timestamp, 1_700_000_000_003);
    assert_eq!(b[2].records[3].headers, vec![Header::new("h", "v3")]);
    assert_eq!((b[0].codec.as_str(), b[0].base_sequence), ("none", -1));
}

#[test]
fn a_segment_cut_mid_batch_reports_the_position_of_the_cut_batch() {
    let (mut seg, starts) = segment();
    seg.truncate(starts[2] + 30);
    let entries = read_segment(&Bytes::from(seg), true);
    assert_eq!(batches(&entries).len(), 2);
    match &entries[2] {
        SegmentEntry::Corrupt {
            position,
            message,
            resumed_at,
        } => {
            assert_eq!(*position, starts[2] as u64);
            assert!(message.contains("truncated"), "{message}");
            assert_eq!(*resumed_at, None);
        }
        other => panic!("expected the cut batch reported, got {other:?}"),
    }
}

#[test]
fn a_bad_crc_spoils_only_its_batch() {
    let (mut seg, starts) = segment();
    // The last byte of the middle batch: inside its records, covered by its CRC.
    seg[starts[2] - 1] ^= 0x5a;
    let entries = read_segment(&Bytes::from(seg), true);
    let b = batches(&entries);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        b.iter().map(|b| b.crc_valid).collect::<Vec<_>>(),
        [true, false, true]
    );
    assert_eq!(b[2].position, starts[2] as u64);
    assert_eq!(values(b[2]), ["c-0", "c-1", "c-2", "c-3"]);
}

#[test]
fn a_garbage_length_is_reported_and_the_walk_resumes_at_the_next_good_batch() {
    let (mut seg, starts) = segment();
    seg[starts[1] + 8..starts[1] + 12].copy_from_slice(&0x7fff_fff0_i32.to_be_bytes());
    let entries = read_segment(&Bytes::from(seg), true);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(matches!(
        &entries[1],
        SegmentEntry::Corrupt { position, resumed_at: Some(r), .. }
            if *position == starts[1] as u64 && *r == starts[2] as u64
    ));
    let b = batches(&entries);
    assert_eq!((b[1].base_offset, b[1].position), (5, starts[2] as u64));
    assert_eq!(values(b[1]), ["c-0", "c-1", "c-2", "c-3"]);
}

#[test]
fn a_negative_length_with_nothing_good_after_it_stops_there() {
    let (mut seg, starts) = segment();
    seg[starts[2] + 8..starts[2] + 12].copy_from_slice(&(-5_i32).to_be_bytes());
    let entries = read_segment(&Bytes::from(seg), false);
    assert_eq!(entries.len(), 3);
    assert!(matches!(
        &entries[2],
        SegmentEntry::Corrupt { position, resumed_at: None, message }
            if *position == starts[2] as u64 && message.contains("negative")
    ));
}

#[test]
fn control_markers_are_read() {
    assert_eq!(
        control_marker(Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 7])),
        Some(ControlMarker::EndTxn {
            commit: true,
            coordinator_epoch: Some(7)
        })
    );
    assert_eq!(
        control_marker(Some(&[0, 0, 0, 0]), None),
        Some(ControlMarker::EndTxn {
            commit: false,
            coordinator_epoch: None
        })
    );
    assert_eq!(control_marker(Some(&[0, 0]), None), None);
}
