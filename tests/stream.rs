//! `KafkaConsumer::stream`, `KafkaProducer::send_all` and the serializers against Apache Kafka.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, producer};
use ferrokafka::consumer::TopicPartition;
use ferrokafka::serialization::{BigEndian, RecordPart, Serializer, TypedProducerRecord, Utf8};
use ferrokafka::{Error, ProducerRecord};

/// Checks one yielded record against what came before in its partition: offsets contiguous
/// from 0, values `partition + 3 * k` in order. Returns the value.
fn check_in_order(next_offset: &mut BTreeMap<i32, i64>, r: &ferrokafka::ConsumerRecord) -> usize {
    let expected = next_offset.entry(r.partition).or_insert(0);
    assert_eq!(
        r.offset, *expected,
        "partition {} out of order",
        r.partition
    );
    *expected += 1;
    let v: usize = std::str::from_utf8(r.value.as_deref().expect("value"))
        .expect("utf8")
        .parse()
        .expect("number");
    assert_eq!(v, r.partition as usize + 3 * r.offset as usize);
    v
}

/// The offsets after the last record seen, for the partitions in `of`.
fn next_offset_by_tp(
    topic: &str,
    next_offset: &BTreeMap<i32, i64>,
    of: &BTreeMap<TopicPartition, i64>,
) -> BTreeMap<TopicPartition, i64> {
    of.keys()
        .map(|tp| (tp.clone(), next_offset[&tp.partition]))
        .filter(|(tp, _)| tp.topic == topic)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_next_dropped_in_select_yields_every_record_once_in_order() {
    const TOTAL: usize = 100_000;
    let b = TestBroker::shared();
    let topic = "stream-cancel";
    create_topic(&b.bootstrap(), topic, 3).await;
    let p = producer(
        &b.bootstrap(),
        &[("linger.ms", "5"), ("compression.type", "lz4")],
    );
    let records = futures_util::stream::iter(
        (0..TOTAL).map(|i| ProducerRecord::new(topic, i.to_string()).partition((i % 3) as i32)),
    );
    let summary = p.send_all(records, 5_000).await;
    assert_eq!((summary.delivered, summary.failed), (TOTAL as u64, 0));
    assert!(summary.first_error.is_none());
    p.close(Duration::from_secs(10)).await;

    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("group.id", "stream-cancel"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "2000"),
        ],
    );
    c.subscribe([topic]).expect("subscribe");
    let mut seen = vec![0u8; TOTAL];
    let mut next_offset = BTreeMap::new();
    let (mut delivered, mut cancelled, mut restarts) = (0usize, 0u32, 0u32);
    let mut dropped_buffered = 0usize;
    // Every tick of this timer drops the pending next(): a poll in flight is cut off often.
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    let start = Instant::now();
    while delivered < TOTAL && start.elapsed() < Duration::from_secs(60) {
        let mut stream = c.stream();
        // Drop the stream (with records still buffered) every 30,000 records: its Drop must
        // seek back so that the next stream yields them.
        let stop_at = delivered + 30_000;
        while delivered < TOTAL.min(stop_at) && start.elapsed() < Duration::from_secs(60) {
            tokio::select! {
                r = stream.next() => {
                    let r = r.expect("the stream never ends").expect("record");
                    let v = check_in_order(&mut next_offset, &r);
                    seen[v] += 1;
                    delivered += 1;
                }
                _ = timer.tick() => cancelled += 1,
            }
        }
        // Commits what this stream yielded (not the consumer's position, which runs ahead
        // by the buffered records), then drops it.
        stream.commit_sync().await.expect("commit");
        let want: BTreeMap<TopicPartition, i64> = stream
            .yielded_offsets()
            .iter()
            .map(|(tp, o)| (tp.clone(), o.offset))
            .collect();
        assert_eq!(want, next_offset_by_tp(topic, &next_offset, &want));
        if delivered < TOTAL {
            dropped_buffered += stream.buffered();
            restarts += 1;
        }
        drop(stream);
        let tps: Vec<TopicPartition> = want.keys().cloned().collect();
        let got: BTreeMap<TopicPartition, i64> = c
            .committed(&tps)
            .await
            .expect("committed")
            .into_iter()
            .map(|(tp, o)| (tp, o.expect("a committed offset").offset))
            .collect();
        assert_eq!(got, want);
    }
    let missing: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] == 0).take(10).collect();
    let repeated: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] > 1).take(10).collect();
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "missing {missing:?}, repeated {repeated:?} ({delivered} delivered)"
    );
    assert_eq!(delivered, TOTAL);
    let tps: Vec<TopicPartition> = (0..3).map(|i| TopicPartition::new(topic, i)).collect();
    let committed: i64 = c
        .committed(&tps)
        .await
        .expect("committed")
        .into_values()
        .map(|o| o.expect("a committed offset").offset)
        .sum();
    assert_eq!(committed, TOTAL as i64);
    assert!(cancelled > 0, "the timer never cut a next() off");
    assert_eq!(restarts, 3);
    assert!(
        dropped_buffered > 0,
        "no stream was dropped with records buffered"
    );
    eprintln!(
        "{cancelled} next() futures dropped; {restarts} streams dropped midway with \
         {dropped_buffered} records buffered"
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_does_not_deserialize_is_an_error_and_the_next_ones_arrive() {
    let b = TestBroker::shared();
    let topic = "stream-deserialize";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = producer(&b.bootstrap(), &[]);
    for i in 0..10i32 {
        let mut r = TypedProducerRecord::new(topic, i)
            .key(format!("k{i}"))
            .serialize(&Utf8, &BigEndian)
            .expect("serialize");
        if i == 5 {
            // Three bytes: not an i32.
            r.value = Some(bytes_of(&[1, 2, 3]));
        }
        p.send(r).await.expect("send");
    }
    p.close(Duration::from_secs(10)).await;

    let mut c = consumer(&b.bootstrap(), &[]);
    c.assign([TopicPartition::new(topic, 0)]).expect("assign");
    let mut stream = c.stream();
    let mut values = Vec::new();
    let mut errors = Vec::new();
    let start = Instant::now();
    while values.len() + errors.len() < 10 && start.elapsed() < Duration::from_secs(30) {
        let r = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
        let Ok(Some(r)) = r else { continue };
        match r
            .expect("record")
            .deserialize::<String, i32, _, _>(&Utf8, &BigEndian)
        {
            Ok(t) => values.push((t.offset, t.key.expect("key"), t.value.expect("value"))),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        Error::Deserialization {
            topic: t,
            partition,
            offset,
            part,
            message,
        } => {
            assert_eq!(
                (t.as_str(), *partition, *offset, *part),
                (topic, 0, 5, RecordPart::Value)
            );
            assert!(message.contains("4 bytes"), "{message}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let want: Vec<(i64, String, i32)> = (0..10)
        .filter(|i| *i != 5)
        .map(|i| (i as i64, format!("k{i}"), i))
        .collect();
    assert_eq!(values, want);
}

fn bytes_of(b: &[u8]) -> bytes::Bytes {
    Serializer::<[u8]>::serialize(&ferrokafka::serialization::Raw, b).expect("raw")
}
