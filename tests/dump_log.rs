//! `tools::dump_log` on segment files of Apache Kafka's own data directory, compared field by
//! field with what Kafka's `kafka-dump-log --deep-iteration --print-data-log` prints.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use common::broker::TestBroker;
use common::kafka_tools;
use ferrokafka::record::TimestampType;
use ferrokafka::tools::dump_log::{
    BatchInfo, ControlMarker, RecordInfo, SegmentEntry, read_segment,
};

type Fields = BTreeMap<String, String>;

/// The `name: value` pairs of one line of Kafka's tool (values hold no spaces in these tests).
fn kafka_fields(line: &str) -> Fields {
    let tokens: Vec<&str> = line.trim_start_matches('|').split_whitespace().collect();
    let mut out = Fields::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(name) = tokens[i].strip_suffix(':') {
            let value = tokens.get(i + 1).copied().unwrap_or("");
            out.insert(name.to_string(), value.to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

fn ts_name(t: TimestampType) -> &'static str {
    if t == TimestampType::LogAppendTime {
        "LogAppendTime"
    } else {
        "CreateTime"
    }
}

fn batch_fields(b: &BatchInfo) -> Fields {
    let mut f = Fields::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put("baseOffset", b.base_offset.to_string());
    put("lastOffset", b.last_offset.to_string());
    put("count", b.count.to_string());
    put("baseSequence", b.base_sequence.to_string());
    put("lastSequence", b.last_sequence().to_string());
    put("producerId", b.producer_id.to_string());
    put("producerEpoch", b.producer_epoch.to_string());
    put("partitionLeaderEpoch", b.partition_leader_epoch.to_string());
    put("isTransactional", b.is_transactional.to_string());
    put("isControl", b.is_control.to_string());
    put("deleteHorizonMs", "OptionalLong.empty".into());
    put("position", b.position.to_string());
    put(ts_name(b.timestamp_type), b.max_timestamp.to_string());
    put("size", b.size.to_string());
    put("magic", b.magic.to_string());
    put("compresscodec", b.codec.clone());
    put("crc", b.crc.to_string());
    put("isvalid", b.crc_valid.to_string());
    f
}

fn record_fields(r: &RecordInfo, t: TimestampType) -> Fields {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(-1, |b| b.len() as i64).to_string();
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let mut f = Fields::new();
    f.insert("offset".into(), r.offset.to_string());
    f.insert(ts_name(t).into(), r.timestamp.to_string());
    f.insert("keySize".into(), len(&r.key));
    f.insert("valueSize".into(), len(&r.value));
    f.insert("sequence".into(), r.sequence.to_string());
    let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
    f.insert("headerKeys".into(), format!("[{}]", keys.join(",")));
    match &r.control {
        Some(ControlMarker::EndTxn {
            commit,
            coordinator_epoch,
        }) => {
            let kind = if *commit { "COMMIT" } else { "ABORT" };
            f.insert("endTxnMarker".into(), kind.into());
            f.insert(
                "coordinatorEpoch".into(),
                coordinator_epoch.map_or("?".into(), |e| e.to_string()),
            );
        }
        Some(other) => panic!("unexpected control record {other:?}"),
        None => {
            if let Some(k) = &r.key {
                f.insert("key".into(), text(k));
            }
            if let Some(v) = &r.value {
                f.insert("payload".into(), text(v));
            }
        }
    }
    f
}

/// Dumps `segment` with both tools; asserts they agree on every field of every batch and
/// record; returns our batches.
fn compare(segment: &Path) -> Vec<BatchInfo> {
    let path = segment.to_str().expect("utf-8 path");
    let kafka = kafka_tools::run(
        "org.apache.kafka.tools.DumpLogSegments",
        &["--files", path, "--deep-iteration", "--print-data-log"],
    );
    let kafka: Vec<Fields> = kafka
        .lines()
        .filter(|l| l.starts_with("baseOffset:") || l.starts_with("| offset:"))
        .map(kafka_fields)
        .collect();
    let data = Bytes::from(std::fs::read(segment).expect("read segment"));
    let mut ours = Vec::new();
    let mut batches = Vec::new();
    for e in read_segment(&data, true) {
        match e {
            SegmentEntry::Batch(b) => {
                ours.push(batch_fields(&b));
                assert_eq!(b.records_error, None, "{b:?}");
                ours.extend(b.records.iter().map(|r| record_fields(r, b.timestamp_type)));
                batches.push(b);
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(ours.len(), kafka.len(), "{path}: lines");
    for (i, (o, k)) in ours.iter().zip(&kafka).enumerate() {
        assert_eq!(o, k, "{path}: line {i}");
    }
    batches
}

fn segment_of(b: &TestBroker, topic: &str) -> std::path::PathBuf {
    b.data_dir()
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log")
}

#[tokio::test]
async fn each_codec_dumps_as_kafka_dumps_it() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("dump-{codec}");
        common::create_topic(&bootstrap, &topic, 1).await;
        let p = common::producer(
            &bootstrap,
            &[
                ("compression.type", codec),
                ("enable.idempotence", "true"),
                ("linger.ms", "20"),
            ],
        );
        let mut acks = Vec::new();
        for i in 0..30 {
            let rec = ferrokafka::ProducerRecord::new(topic.as_str(), format!("v{i}"))
                .key(format!("k{i}"))
                .partition(0);
            acks.push(p.enqueue(rec).await.expect("enqueue"));
        }
        for a in acks {
            a.await.expect("delivered");
        }
        p.close(std::time::Duration::from_secs(10)).await;
        let batches = compare(&segment_of(b, &topic));
        assert_eq!(batches.iter().map(|b| b.count).sum::<i32>(), 30, "{codec}");
        assert!(
            batches.iter().all(|b| b.codec == codec && b.crc_valid),
            "{codec}"
        );
        // Idempotent: a producer id and sequences from 0.
        assert!(batches[0].producer_id >= 0, "{codec}");
        assert_eq!(batches[0].base_sequence, 0, "{codec}");
    }
}

#[tokio::test]
async fn committed_and_aborted_transactions_dump_as_kafka_dumps_them() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let topic = "dump-txn";
    common::create_topic(&bootstrap, topic, 1).await;
    let p = common::producer(
        &bootstrap,
        &[("transactional.id", "dump-tx"), ("linger.ms", "5")],
    );
    p.init_transactions().await.expect("init_transactions");
    for (txn, commit) in [(0, true), (1, false)] {
        p.begin_transaction().expect("begin");
        for i in 0..20 {
            let rec = ferrokafka::ProducerRecord::new(topic, format!("t{txn}-{i}"))
                .key(format!("k{i}"))
                .partition(0);
            p.send(rec).await.expect("sent");
        }
        if commit {
            p.commit_transaction().await.expect("commit");
        } else {
            p.abort_transaction().await.expect("abort");
        }
    }
    p.close(std::time::Duration::from_secs(10)).await;
    let batches = compare(&segment_of(b, topic));
    let data: i32 = batches
        .iter()
        .filter(|b| !b.is_control)
        .map(|b| b.count)
        .sum();
    assert_eq!(data, 40);
    let markers: Vec<bool> = batches
        .iter()
        .filter(|b| b.is_control)
        .map(|b| {
            assert!(b.is_transactional);
            match b.records[0].control {
                Some(ControlMarker::EndTxn { commit, .. }) => commit,
                ref other => panic!("not an end-of-transaction marker: {other:?}"),
            }
        })
        .collect();
    assert_eq!(markers, [true, false], "a COMMIT then an ABORT marker");
}
