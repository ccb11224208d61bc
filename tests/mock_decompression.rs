//! The consumer's memory stays bounded whatever a topic holds: a decompression bomb is an error
//! for its partition alone, and batches that decompress to a lot are decoded a bounded amount
//! at a time (MockCluster; batches stored as hand-made Produce batches).
//!
//! Memory is measured as the growth of the process's peak RSS (VmHWM, reset through
//! /proc/self/clear_refs) over its RSS before consuming. The tests in this file take turns
//! (one lock) so neither sees the other's allocations; no other test shares the process.

#![cfg(feature = "zstd")]

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::mock::MockCluster;
use ferrokafka::{ConsumerConfig, Error};

const MIB: usize = 1 << 20;
const ZSTD: i16 = 4;

static MEMORY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        out.push(u as u8 | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// The encoding of one record without its value bytes (which follow it, `value_len` of them).
fn record_head(offset_delta: i32, value_len: usize) -> Vec<u8> {
    let mut body = vec![0u8]; // attributes
    put_varint(&mut body, 0); // timestamp delta
    put_varint(&mut body, offset_delta.into());
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, value_len as i64);
    let mut out = Vec::new();
    // The header count (one byte, 0) comes after the value.
    put_varint(&mut out, (body.len() + value_len + 1) as i64);
    out.extend_from_slice(&body);
    out
}

/// An uncompressed records section holding `values`.
fn plain_section(values: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        out.extend_from_slice(&record_head(i as i32, v.len()));
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// A record batch (magic 2) around `section`, CRC filled in; the mock sets the base offset.
fn batch(codec: i16, records: i32, section: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(61 + section.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((49 + section.len()) as i32).to_be_bytes()); // batch length
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // CRC, below
    b.extend_from_slice(&codec.to_be_bytes()); // attributes
    b.extend_from_slice(&(records - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&0i64.to_be_bytes()); // base timestamp
    b.extend_from_slice(&0i64.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&records.to_be_bytes());
    b.extend_from_slice(section);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// zstd frames that decompress to `gib` GiB of zeros, built a 64 MiB frame at a time (the
/// frame repeated: a zstd stream may hold any number of frames).
fn zstd_bomb(gib: usize) -> Vec<u8> {
    let zeros = vec![0u8; MIB];
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
    for _ in 0..64 {
        enc.write_all(&zeros).expect("compress");
    }
    let frame = enc.finish().expect("finish");
    frame.repeat(gib * 16)
}

/// A zstd records section of `n` records whose values are `value_len` zero bytes, compressed
/// record by record (the section itself is never in memory).
fn zstd_zero_records(n: i32, value_len: usize) -> Vec<u8> {
    let zeros = vec![0u8; value_len];
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("encoder");
    for i in 0..n {
        enc.write_all(&record_head(i, value_len)).expect("compress");
        enc.write_all(&zeros).expect("compress");
        enc.write_all(&[0]).expect("compress");
    }
    enc.finish().expect("finish")
}

fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("field")
}

/// Resets the peak RSS and returns the RSS now, in bytes.
fn memory_baseline() -> usize {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    status_kib("VmRSS:") * 1024
}

/// How far the peak RSS rose above `baseline`, in bytes.
fn peak_growth(baseline: usize) -> usize {
    (status_kib("VmHWM:") * 1024).saturating_sub(baseline)
}

fn consumer(c: &MockCluster, max_poll_records: usize) -> KafkaConsumer {
    KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("auto.offset.reset", "earliest")
            .set("retry.backoff.ms", "10")
            .set("max.poll.records", max_poll_records.to_string())
            .build()
            .expect("config"),
    )
    .expect("consumer")
}

fn values(tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{tag}-{i}")).collect()
}

fn value(r: &ferrokafka::consumer::ConsumerRecord) -> String {
    String::from_utf8(r.value.as_deref().expect("value").to_vec()).expect("utf-8")
}

/// Partition 1 holds 10 records, a zstd batch of a few hundred KiB that decompresses to 4 GiB,
/// then 10 more; partition 0 holds 1000 records. The consumer gets every record of partition
/// 0, the 10 records before the bomb, then a typed error naming the batch (again each time it
/// reaches it), skips it with a seek, and reads the 10 after it, in bounded memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_bomb_is_an_error_for_its_partition_alone() {
    let _turn = MEMORY.lock().await;
    let c = MockCluster::builder().build().await.expect("mock");
    c.create_topic("bombed", 2);
    for chunk in 0..10 {
        let v = values("p0", chunk * 100..chunk * 100 + 100);
        c.append_batch("bombed", 0, batch(0, 100, &plain_section(&v)))
            .expect("append");
    }
    c.append_batch(
        "bombed",
        1,
        batch(0, 10, &plain_section(&values("p1", 0..10))),
    )
    .expect("append");
    let bomb = zstd_bomb(4);
    assert!(bomb.len() < 512 * 1024, "bomb of {} bytes", bomb.len());
    let at = c
        .append_batch("bombed", 1, batch(ZSTD, 1, &bomb))
        .expect("append bomb");
    assert_eq!(at, 10);
    drop(bomb);
    c.append_batch(
        "bombed",
        1,
        batch(0, 10, &plain_section(&values("p1", 11..21))),
    )
    .expect("append");

    let mut con = consumer(&c, 500);
    let bombed = TopicPartition::new("bombed", 1);
    con.assign([TopicPartition::new("bombed", 0), bombed.clone()])
        .expect("assign");
    let baseline = memory_baseline();
    let (mut p0, mut p1, mut errors) = (Vec::new(), Vec::new(), 0);
    let start = Instant::now();
    while p0.len() < 1000 || p1.len() < 10 || errors < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck: {} + {} records, {errors} errors",
            p0.len(),
            p1.len()
        );
        match con.poll(Duration::from_millis(100)).await {
            Ok(records) => {
                for r in &records {
                    match r.partition {
                        0 => p0.push(value(r)),
                        _ => p1.push(value(r)),
                    }
                }
            }
            Err(Error::BatchTooLarge {
                partition,
                offset,
                next_offset,
                codec,
                limit,
            }) => {
                assert_eq!(
                    (partition.as_str(), offset, next_offset, codec),
                    ("bombed-1", 10, 11, "zstd")
                );
                assert_eq!(limit, 64 * MIB);
                assert_eq!(p1.len(), 10, "the records before the bomb come first");
                errors += 1;
            }
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(p0, values("p0", 0..1000));
    assert_eq!(p1, values("p1", 0..10));
    con.seek(&bombed, 11).expect("seek past the bomb");
    while p1.len() < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck after seek"
        );
        for r in &con.poll(Duration::from_millis(100)).await.expect("poll") {
            p1.push(value(r));
        }
    }
    assert_eq!(p1[10..], values("p1", 11..21));
    let growth = peak_growth(baseline);
    eprintln!("peak RSS growth {} MiB", growth / MIB);
    assert!(
        growth < 256 * MIB,
        "peak RSS grew by {} MiB decoding the bomb",
        growth / MIB
    );
}

/// 16 partitions each hold one zstd batch of 48 records of 1 MiB (zeros): 768 MiB decompressed,
/// all of it within one fetch response. The consumer reads every record while holding only a
/// bounded part of that decompressed at a time: at most its budget (258 MiB) not yet returned,
/// plus the sections of the 16 records a poll returns (at most two, 96 MiB), which the test
/// holds while it checks them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_decompressed_fetches_are_decoded_within_a_budget() {
    let _turn = MEMORY.lock().await;
    let c = MockCluster::builder().build().await.expect("mock");
    c.create_topic("large", 16);
    let section = zstd_zero_records(48, MIB);
    for p in 0..16 {
        c.append_batch("large", p, batch(ZSTD, 48, &section))
            .expect("append");
    }
    drop(section);
    let mut con = consumer(&c, 16);
    con.assign((0..16).map(|p| TopicPartition::new("large", p)))
        .expect("assign");
    let baseline = memory_baseline();
    let mut next = vec![0i64; 16];
    let start = Instant::now();
    while next.iter().any(|n| *n < 48) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck at {next:?}"
        );
        for r in &con.poll(Duration::from_millis(100)).await.expect("poll") {
            let p = r.partition as usize;
            assert_eq!(r.offset, next[p], "partition {p}");
            let v = r.value.as_deref().expect("value");
            assert!(v.len() == MIB && v.iter().all(|b| *b == 0));
            next[p] += 1;
        }
    }
    let growth = peak_growth(baseline);
    eprintln!("peak RSS growth {} MiB", growth / MIB);
    assert!(
        growth < 480 * MIB,
        "peak RSS grew by {} MiB for 768 MiB decompressed",
        growth / MIB
    );
}
