//! Producer tests against a real broker (Apache Kafka), reading back through the raw Fetch path.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::admin::{AdminClient, NewTopic};
use crate::config::{AdminConfig, ProducerConfig};
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::{FetchRequest, TopicName};
use crate::protocol::record_batch::{DecodedBatch, decode_batches};

use crate::test_support::broker::TestBroker;

pub(crate) async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    );
    let r = admin
        .create_topics([NewTopic::new(name, partitions, 1)])
        .await
        .expect("create topics");
    r[name].as_ref().expect("topic created");
}

/// Every batch of `topic`/`partition` from offset 0 to the high watermark.
pub(crate) async fn fetch_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<DecodedBatch> {
    let cfg = AdminConfig::builder()
        .bootstrap_servers(bootstrap)
        .build()
        .expect("config");
    let net = NetworkClient::new(&cfg.common);
    let mut out: Vec<DecodedBatch> = Vec::new();
    let mut offset = 0i64;
    loop {
        let req = FetchRequest::default()
            .with_replica_id(crate::protocol::messages::BrokerId(-1))
            .with_session_epoch(-1)
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(8 << 20)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(4 << 20),
                    ]),
            ]);
        let resp = net.send(Target::Any, req).await.expect("fetch");
        let Some(p) = resp.responses.first().and_then(|t| t.partitions.first()) else {
            panic!("empty fetch response: {resp:?}");
        };
        assert_eq!(
            p.error_code, 0,
            "fetch error at {offset} of {topic}-{partition}"
        );
        let batches =
            decode_batches(p.records.clone().unwrap_or_default(), true).expect("decodable batches");
        for b in batches {
            if b.base_offset + i64::from(b.last_offset_delta) >= offset {
                offset = b.base_offset + i64::from(b.last_offset_delta) + 1;
                out.push(b);
            }
        }
        if offset >= p.high_watermark {
            return out;
        }
    }
}

fn producer(bootstrap: &str, props: &[(&str, &str)]) -> KafkaProducer {
    let mut b = ProducerConfig::builder().bootstrap_servers(bootstrap);
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    KafkaProducer::new(b.build().expect("producer config")).expect("producer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_every_codec_read_back_intact() {
    let b = TestBroker::shared();
    const N: usize = 100_000;
    // A day ago: a fixed date long past is outside the broker's 7-day retention, and its
    // retention check deleted the records while this test read them back (OFFSET_OUT_OF_RANGE
    // at offset 0).
    let base = super::now_ms() - 86_400_000;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("keyed-{codec}");
        create_topic(&b.bootstrap(), &topic, 6).await;
        let p = producer(&b.bootstrap(), &[("compression.type", codec)]);
        let mut futures = Vec::with_capacity(N);
        for i in 0..N {
            let key = format!("key-{}", i % 997);
            let rec = ProducerRecord::new(&*topic, format!("value-{i}"))
                .key(key)
                .header("seq", i.to_string())
                .timestamp(base + i as i64);
            futures.push(p.enqueue(rec).await.expect("enqueue"));
        }
        p.flush().await;
        let mut acked: HashMap<(i32, i64), usize> = HashMap::new();
        for (i, f) in futures.into_iter().enumerate() {
            let md = f.await.expect("delivered");
            assert_eq!(md.timestamp, base + i as i64);
            assert!(
                acked.insert((md.partition, md.offset), i).is_none(),
                "offset reused"
            );
        }
        let mut seen = 0;
        for partition in 0..6 {
            let mut last: Option<usize> = None;
            for batch in fetch_all(&b.bootstrap(), &topic, partition).await {
                assert_eq!(batch.compression.name(), codec);
                assert!(batch.producer_id >= 0, "idempotent by default");
                for r in batch.records {
                    let key = r.key.expect("key");
                    assert_eq!(
                        default_partition_for_key(&key, 6),
                        partition,
                        "key on the partition murmur2 picks"
                    );
                    let i: usize = std::str::from_utf8(&r.headers[0].value.clone().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
                    assert_eq!(&key[..], format!("key-{}", i % 997).as_bytes());
                    assert_eq!(r.timestamp, base + i as i64);
                    assert_eq!(
                        acked.get(&(partition, r.offset)),
                        Some(&i),
                        "ack matches log"
                    );
                    assert!(last.is_none_or(|l| l < i), "send order kept in partition");
                    last = Some(i);
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, N, "every record present once ({codec})");
        p.close(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn acks_zero_one_all() {
    let b = TestBroker::shared();
    create_topic(&b.bootstrap(), "acks", 1).await;
    // acks=1 goes first: Kafka answers a Produce for a partition it does not lead yet (the
    // metadata can name the leader a moment before the replica takes the lead) by closing the
    // connection when acks=0, which loses those records by design. An acknowledged record
    // proves the partition is led before the acks=0 sends.
    let one = producer(&b.bootstrap(), &[("acks", "1")]);
    let md1 = one
        .send(ProducerRecord::new("acks", "a1"))
        .await
        .expect("acks=1");
    let zero = producer(
        &b.bootstrap(),
        &[("acks", "0"), ("enable.idempotence", "false")],
    );
    for _ in 0..10 {
        let md = zero
            .send(ProducerRecord::new("acks", "a0"))
            .await
            .expect("acks=0");
        assert_eq!(md.offset, -1);
    }
    zero.close(Duration::from_secs(5)).await;
    let all = producer(&b.bootstrap(), &[("acks", "all")]);
    let md2 = all
        .send(ProducerRecord::new("acks", "a2"))
        .await
        .expect("acks=all");
    assert!(md1.offset >= 0);
    assert!(md2.offset > md1.offset, "{md1:?} then {md2:?}");
    // The acks=0 records are written even though nobody waited for it. Apache Kafka serves
    // connections concurrently, so they may land after the acks=all record sent later on
    // another connection: wait for them instead of assuming an order.
    let deadline = Instant::now() + Duration::from_secs(10);
    let values = loop {
        let values: Vec<Bytes> = fetch_all(&b.bootstrap(), "acks", 0)
            .await
            .into_iter()
            .flat_map(|b| b.records)
            .filter_map(|r| r.value)
            .collect();
        if values.len() >= 12 || Instant::now() > deadline {
            break values;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(values.iter().filter(|v| &v[..] == b"a0").count(), 10);
    assert_eq!(values.len(), 12);
}

#[tokio::test]
async fn callbacks_report_every_record() {
    let b = TestBroker::shared();
    create_topic(&b.bootstrap(), "callbacks", 3).await;
    let p = producer(&b.bootstrap(), &[("linger.ms", "20")]);
    let ok = Arc::new(AtomicUsize::new(0));
    for i in 0..3000 {
        let ok = ok.clone();
        p.send_with_callback(
            ProducerRecord::new("callbacks", format!("v{i}")).partition(i % 3),
            move |r| {
                if r.is_ok_and(|m| m.offset >= 0) {
                    ok.fetch_add(1, AtomicOrdering::Relaxed);
                }
            },
        )
        .await
        .expect("enqueue");
    }
    p.flush().await;
    assert_eq!(ok.load(AtomicOrdering::Relaxed), 3000);
}

#[tokio::test]
async fn oversized_and_bad_partition_records_are_handed_back() {
    let b = TestBroker::shared();
    create_topic(&b.bootstrap(), "refusals", 2).await;
    let p = producer(&b.bootstrap(), &[("max.request.size", "1000")]);
    let big = ProducerRecord::new("refusals", vec![7u8; 2000]);
    let err = p.enqueue(big.clone()).await.expect_err("too large");
    assert!(matches!(
        err.error,
        Error::RecordTooLarge {
            setting: "max.request.size",
            ..
        }
    ));
    assert_eq!(*err.record, big);
    let bad = ProducerRecord::new("refusals", "x").partition(5);
    let err = p.enqueue(bad.clone()).await.expect_err("no partition 5");
    assert!(
        matches!(err.error, Error::InvalidArgument(_)),
        "{}",
        err.error
    );
    assert_eq!(*err.record, bad);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_buffer_blocks_then_hands_the_record_back() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "full", 1).await;
    let p = producer(
        &broker.bootstrap(),
        &[
            ("buffer.memory", "65536"),
            ("max.block.ms", "800"),
            ("linger.ms", "0"),
            ("request.timeout.ms", "20000"),
        ],
    );
    // Warm up: metadata and producer id are known before the broker stops.
    p.send(ProducerRecord::new("full", "warm"))
        .await
        .expect("warm up");
    broker.pause();
    let mut accepted = Vec::new();
    let started = Instant::now();
    let refused = loop {
        let rec =
            ProducerRecord::new("full", vec![b'x'; 1000]).header("n", accepted.len().to_string());
        match p.enqueue(rec.clone()).await {
            Ok(f) => accepted.push(f),
            Err(e) => {
                assert_eq!(*e.record, rec, "the refused record comes back untouched");
                break e.error;
            }
        }
        assert!(accepted.len() < 1000, "buffer.memory never filled");
    };
    let waited = started.elapsed();
    assert!(matches!(refused, Error::Timeout(_)), "{refused}");
    assert!(waited >= Duration::from_millis(800), "blocked {waited:?}");
    // Each new batch reserves batch.size (16 KiB), a sent one its wire bytes and its request
    // frame as many again: at least one batch of records fits, never more than 64 KiB of them.
    assert!(
        (15..=64).contains(&accepted.len()),
        "{} records of 1 KB accepted in 64 KiB",
        accepted.len()
    );
    broker.resume();
    let n = accepted.len();
    for f in accepted {
        f.await
            .expect("accepted records are delivered after the broker resumes");
    }
    let stored: usize = fetch_all(&broker.bootstrap(), "full", 0)
        .await
        .iter()
        .map(|b| b.records.len())
        .sum();
    assert_eq!(stored, n + 1, "nothing accepted was lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_timeout_completes_every_pending_future() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "expire", 2).await;
    let p = producer(
        &broker.bootstrap(),
        &[
            ("delivery.timeout.ms", "1500"),
            ("request.timeout.ms", "1000"),
            ("linger.ms", "0"),
        ],
    );
    p.send(ProducerRecord::new("expire", "warm"))
        .await
        .expect("warm up");
    broker.pause();
    let started = Instant::now();
    let mut futures = Vec::new();
    for i in 0..200 {
        futures.push(
            p.enqueue(ProducerRecord::new("expire", format!("r{i}")))
                .await
                .expect("enqueue"),
        );
    }
    let mut maybe_written = 0;
    for f in futures {
        match f.await {
            Err(Error::DeliveryTimeout {
                may_have_been_written,
                ..
            }) => maybe_written += usize::from(may_have_been_written),
            other => panic!("expected a delivery timeout, got {other:?}"),
        }
    }
    assert!(
        maybe_written > 0,
        "the first batches were sent before the timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    broker.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_paused_broker_answers_everything() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "closing", 1).await;
    let p = producer(&broker.bootstrap(), &[("linger.ms", "0")]);
    p.send(ProducerRecord::new("closing", "warm"))
        .await
        .expect("warm up");
    broker.pause();
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            p.enqueue(ProducerRecord::new("closing", format!("c{i}")))
                .await
                .expect("enqueue"),
        );
    }
    let started = Instant::now();
    p.close(Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    for f in futures {
        let e = tokio::time::timeout(Duration::from_secs(1), f)
            .await
            .expect("answered, not left hanging")
            .expect_err("not delivered");
        assert!(matches!(e, Error::DeliveryTimeout { .. }), "{e}");
    }
    let e = p
        .enqueue(ProducerRecord::new("closing", "late"))
        .await
        .expect_err("closed");
    assert!(matches!(e.error, Error::Closed));
    broker.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_after_request_timeouts_write_each_record_once() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "retry-once", 3).await;
    let p = producer(
        &broker.bootstrap(),
        &[
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "30000"),
            ("linger.ms", "2"),
            ("batch.size", "2000"),
        ],
    );
    p.send(ProducerRecord::new("retry-once", "warm").partition(0))
        .await
        .expect("warm up");
    let mut futures = Vec::new();
    for i in 0..3000 {
        if i == 1000 {
            // Requests already written time out while the broker is frozen; the broker then
            // processes them when it wakes, and the resends must be recognised as duplicates.
            broker.pause();
            let resume = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("sleep 2.5; kill -CONT {}", broker.pid))
                .spawn()
                .expect("resume timer");
            std::mem::forget(resume);
        }
        let rec = ProducerRecord::new("retry-once", format!("{i}")).partition(i % 3);
        futures.push(p.enqueue(rec).await.expect("enqueue"));
    }
    p.flush().await;
    for f in futures {
        f.await.expect("every record delivered");
    }
    for partition in 0..3 {
        let values: Vec<i32> = fetch_all(&broker.bootstrap(), "retry-once", partition)
            .await
            .into_iter()
            .flat_map(|b| b.records)
            .filter_map(|r| std::str::from_utf8(&r.value?).ok()?.parse().ok())
            .collect();
        let expected: Vec<i32> = (0..3000).filter(|i| i % 3 == partition).collect();
        assert_eq!(
            values, expected,
            "partition {partition}: once each, in order"
        );
    }
}
