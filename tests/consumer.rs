//! KafkaConsumer against a real broker (Apache Kafka).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{create_topic, produce_values};
use ferrokafka::Error;
use ferrokafka::consumer::{ConsumerRecord, KafkaConsumer, TopicPartition};

use common::consumer;

/// Polls until `n` records arrived or `limit` passed.
async fn poll_n(c: &mut KafkaConsumer, n: usize, limit: Duration) -> Vec<ConsumerRecord> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < limit {
        out.extend(c.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    out
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_every_codec_exactly_once_in_order() {
    let b = TestBroker::shared();
    let topic = "consume-codecs";
    create_topic(&b.bootstrap(), topic, 6).await;
    const PER_CODEC: usize = 20_000;
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    for (ci, codec) in codecs.iter().enumerate() {
        let values = (0..PER_CODEC).map(move |i| format!("{}", ci * PER_CODEC + i));
        produce_values(&b.bootstrap(), topic, 6, values, codec).await;
    }
    let mut c = consumer(
        &b.bootstrap(),
        &[("group.id", "codecs"), ("max.poll.records", "1000")],
    );
    c.subscribe([topic]).expect("subscribe");
    let total = PER_CODEC * codecs.len();
    let records = poll_n(&mut c, total, Duration::from_secs(60)).await;
    assert_eq!(records.len(), total, "every record, no extra");
    let mut last: HashMap<i32, (i64, usize)> = HashMap::new();
    let mut seen = BTreeSet::new();
    for r in &records {
        let v: usize = value(r).parse().expect("number");
        assert_eq!(
            (v % PER_CODEC) as i32 % 6,
            r.partition,
            "partition of value {v}"
        );
        if let Some((off, prev)) = last.get(&r.partition) {
            assert_eq!(r.offset, off + 1, "consecutive offsets");
            assert!(v > *prev, "send order within the partition");
        }
        last.insert(r.partition, (r.offset, v));
        assert!(seen.insert(v), "record {v} delivered twice");
    }
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_restart_resumes_at_the_committed_offset() {
    let b = TestBroker::shared();
    let topic = "consume-restart";
    create_topic(&b.bootstrap(), topic, 1).await;
    produce_values(
        &b.bootstrap(),
        topic,
        1,
        (0..100).map(|i| i.to_string()),
        "none",
    )
    .await;
    let tp = TopicPartition::new(topic, 0);
    let props = [
        ("group.id", "restart"),
        ("enable.auto.commit", "false"),
        ("max.poll.records", "30"),
    ];
    let mut c = consumer(&b.bootstrap(), &props);
    c.subscribe([topic]).expect("subscribe");
    let first = poll_n(&mut c, 30, Duration::from_secs(20)).await;
    assert_eq!(first.len(), 30);
    assert_eq!(first.last().map(|r| r.offset), Some(29));
    c.commit_sync().await.expect("commit");
    let committed = c
        .committed(std::slice::from_ref(&tp))
        .await
        .expect("committed");
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(30));
    c.close().await.expect("close");

    let mut again = consumer(&b.bootstrap(), &props);
    again.subscribe([topic]).expect("subscribe");
    let next = poll_n(&mut again, 1, Duration::from_secs(20)).await;
    assert_eq!(
        next.first().map(|r| r.offset),
        Some(30),
        "resumes after the commit"
    );
    assert_eq!(next.first().map(value).as_deref(), Some("30"));
    again.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_offsets_for_times_and_pause() {
    let b = TestBroker::shared();
    let topic = "consume-seek";
    create_topic(&b.bootstrap(), topic, 2).await;
    let p = common::producer(&b.bootstrap(), &[]);
    for i in 0..50i64 {
        for part in 0..2 {
            p.send(
                ferrokafka::ProducerRecord::new(topic, format!("{part}-{i}"))
                    .partition(part)
                    .timestamp(1_000_000 + i * 10),
            )
            .await
            .expect("send");
        }
    }
    let p0 = TopicPartition::new(topic, 0);
    let p1 = TopicPartition::new(topic, 1);
    let mut c = consumer(&b.bootstrap(), &[]);
    c.assign([p0.clone(), p1.clone()]).expect("assign");

    let ends = c
        .end_offsets(&[p0.clone(), p1.clone()])
        .await
        .expect("end offsets");
    assert_eq!(ends[&p0], 50);
    let starts = c
        .beginning_offsets(std::slice::from_ref(&p0))
        .await
        .expect("beginning");
    assert_eq!(starts[&p0], 0);

    let found = c
        .offsets_for_times(&BTreeMap::from([
            (p0.clone(), 1_000_205),
            (p1.clone(), 9_999_999),
        ]))
        .await
        .expect("offsets for times");
    let at = found[&p0].expect("a record at or after the time");
    assert_eq!((at.offset, at.timestamp), (21, 1_000_210));
    assert_eq!(found[&p1], None, "nothing that late");

    c.seek(&p0, at.offset).expect("seek");
    c.pause(std::slice::from_ref(&p1)).expect("pause");
    let got = poll_n(&mut c, 29, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 29);
    assert!(
        got.iter().all(|r| r.partition == 0),
        "paused partition stays silent"
    );
    assert_eq!(value(&got[0]), "0-21");
    assert!(
        c.poll(Duration::from_millis(500))
            .await
            .expect("poll")
            .is_empty()
    );
    c.resume(std::slice::from_ref(&p1)).expect("resume");
    let rest = poll_n(&mut c, 50, Duration::from_secs(20)).await;
    assert_eq!(rest.len(), 50);
    assert!(rest.iter().all(|r| r.partition == 1));
    assert_eq!(c.position(&p1).await.expect("position"), 50);
    c.seek_to_beginning(std::slice::from_ref(&p1))
        .expect("seek to beginning");
    assert_eq!(c.position(&p1).await.expect("position"), 0);
}

#[tokio::test]
async fn auto_offset_reset_none_is_a_typed_error() {
    let b = TestBroker::shared();
    let topic = "consume-no-reset";
    create_topic(&b.bootstrap(), topic, 1).await;
    let mut c = consumer(
        &b.bootstrap(),
        &[("group.id", "no-reset"), ("auto.offset.reset", "none")],
    );
    c.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    let err = loop {
        match c.poll(Duration::from_millis(200)).await {
            Err(e) => break e,
            Ok(_) => assert!(start.elapsed() < Duration::from_secs(20), "no error raised"),
        }
    };
    assert!(matches!(err, Error::NoOffsetForPartition { .. }), "{err}");
}

/// Java users write `poll(Long.MAX_VALUE)`: `poll(Duration::MAX)` waits for records, it does
/// not overflow the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_with_duration_max_returns_records() {
    let b = TestBroker::shared();
    let topic = "consume-poll-max";
    create_topic(&b.bootstrap(), topic, 1).await;
    produce_values(
        &b.bootstrap(),
        topic,
        1,
        (0..10).map(|i| i.to_string()),
        "none",
    )
    .await;
    let mut c = consumer(&b.bootstrap(), &[]);
    c.assign([TopicPartition::new(topic, 0)]).expect("assign");
    let records = tokio::time::timeout(Duration::from_secs(30), c.poll(Duration::MAX))
        .await
        .expect("records arrive")
        .expect("poll");
    assert!(!records.is_empty());
    assert_eq!(records.iter().next().map(|r| r.offset), Some(0));
}

/// `poll` is cancel safe: dropped at random points (a `select!` against a short timer), it
/// never loses or repeats a record. Metadata is refreshed on every poll (max age 1 ms), so a
/// poll cancelled in any await it has is exercised, with commits after every batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_cancelled_at_random_points_delivers_every_record_once() {
    const TOTAL: usize = 100_000;
    let b = TestBroker::shared();
    let topic = "consume-cancel";
    create_topic(&b.bootstrap(), topic, 3).await;
    produce_values(
        &b.bootstrap(),
        topic,
        3,
        (0..TOTAL).map(|i| i.to_string()),
        "lz4",
    )
    .await;
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("group.id", "cancel"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "2000"),
            ("metadata.max.age.ms", "1"),
        ],
    );
    c.subscribe([topic]).expect("subscribe");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut seen = vec![0u8; TOTAL];
    let mut delivered = 0usize;
    let (mut cancelled, mut completed) = (0u32, 0u32);
    // Join the group first: these cancellations are aimed at fetching and positions
    // (`a_join_made_of_cancelled_polls_completes` cancels joins).
    while delivered == 0 {
        for r in &c.poll(Duration::from_secs(5)).await.expect("poll") {
            seen[value(r).parse::<usize>().expect("number")] += 1;
            delivered += 1;
        }
    }
    c.commit_sync().await.expect("commit");
    // A lost record is never delivered again (the position moved past it): stop once nothing
    // new arrived for 10 s and report what is missing.
    let mut progress = Instant::now();
    while delivered < TOTAL && progress.elapsed() < Duration::from_secs(10) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Cancel after a random number of scheduler turns, not a time: on a fast machine a
        // timer would rarely beat a poll, on a slow one it would starve it.
        let turns = rng % 64;
        let cancel = async move {
            for _ in 0..turns {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            r = c.poll(Duration::from_millis(500)) => {
                completed += 1;
                let records = r.expect("poll");
                for r in &records {
                    let v: usize = value(r).parse().expect("number");
                    seen[v] += 1;
                    delivered += 1;
                    progress = Instant::now();
                }
                if !records.is_empty() {
                    c.commit_sync().await.expect("commit");
                }
            }
            _ = cancel => cancelled += 1,
        }
    }
    let repeated: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] > 1).take(10).collect();
    let missing: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] == 0).take(10).collect();
    assert!(
        repeated.is_empty() && missing.is_empty(),
        "{delivered} of {TOTAL} delivered: repeated {repeated:?}, missing {missing:?} \
         ({cancelled} polls cancelled, {completed} completed)"
    );
    eprintln!("{cancelled} polls cancelled, {completed} completed");
    assert!(cancelled >= 5, "only {cancelled} polls were cancelled");
    c.close().await.expect("close");
}

/// Every poll is dropped after a few scheduler turns, from the very first one: the join
/// (JoinGroup, SyncGroup) and the committed-offset lookup must go on in the background across
/// the dropped polls, or the consumer starts them over every time and never reads anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_made_of_cancelled_polls_completes() {
    const TOTAL: usize = 3000;
    let b = TestBroker::shared();
    let topic = "join-cancel";
    create_topic(&b.bootstrap(), topic, 3).await;
    produce_values(
        &b.bootstrap(),
        topic,
        3,
        (0..TOTAL).map(|i| i.to_string()),
        "none",
    )
    .await;
    let props = [("group.id", "join-cancel"), ("enable.auto.commit", "false")];
    // Committed offsets for every partition, so positions come from the group (OffsetFetch)
    // and not from a ListOffsets reset.
    let mut setup = consumer(&b.bootstrap(), &props);
    let start_at: ferrokafka::consumer::Offsets = (0..3)
        .map(|p| {
            (
                TopicPartition::new(topic, p),
                ferrokafka::consumer::OffsetAndMetadata {
                    offset: 0,
                    leader_epoch: None,
                    metadata: String::new(),
                },
            )
        })
        .collect();
    setup.commit_offsets_sync(start_at).await.expect("commit");
    setup.close().await.expect("close");

    let mut c = consumer(&b.bootstrap(), &props);
    c.subscribe([topic]).expect("subscribe");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut seen = vec![0u8; TOTAL];
    let mut delivered = 0usize;
    let (mut cancelled, mut completed) = (0u32, 0u32);
    let mut progress = Instant::now();
    while delivered < TOTAL && progress.elapsed() < Duration::from_secs(20) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let turns = rng % 64;
        let cancel = async move {
            for _ in 0..turns {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            r = c.poll(Duration::from_millis(500)) => {
                completed += 1;
                for r in &r.expect("poll") {
                    seen[value(r).parse::<usize>().expect("number")] += 1;
                    delivered += 1;
                    progress = Instant::now();
                }
            }
            _ = cancel => cancelled += 1,
        }
    }
    let repeated: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] > 1).take(10).collect();
    let missing: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] == 0).take(10).collect();
    assert!(
        repeated.is_empty() && missing.is_empty(),
        "{delivered} of {TOTAL} delivered (assigned {:?}): repeated {repeated:?}, missing \
         {missing:?} ({cancelled} polls cancelled, {completed} completed)",
        c.assignment()
    );
    eprintln!("{cancelled} polls cancelled, {completed} completed");
    c.close().await.expect("close");
}

/// Counts its calls; `on_partitions_assigned` takes a second, longer than the polls that run it.
#[derive(Clone, Default)]
struct SlowListener {
    assigned: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    revoked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ferrokafka::RebalanceListener for SlowListener {
    async fn on_partitions_revoked(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {
        self.revoked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {
        self.assigned
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// A poll dropped while the rebalance listener runs keeps the listener installed: it runs on
/// the next rebalance (here, the revocation on close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_dropped_inside_the_listener_keeps_the_listener() {
    use std::sync::atomic::Ordering;
    let b = TestBroker::shared();
    create_topic(&b.bootstrap(), "listener-cancel", 2).await;
    let listener = SlowListener::default();
    let mut c = consumer(&b.bootstrap(), &[("group.id", "listener-cancel")]);
    c.subscribe_with(["listener-cancel"], listener.clone())
        .expect("subscribe");
    let start = Instant::now();
    while listener.assigned.load(Ordering::Relaxed) == 0 {
        // Dropped after 100 ms: the poll that runs the listener is dropped inside its sleep.
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            c.poll(Duration::from_millis(100)),
        )
        .await;
        assert!(start.elapsed() < Duration::from_secs(30), "never assigned");
    }
    c.close().await.expect("close");
    assert_eq!(
        listener.revoked.load(Ordering::Relaxed),
        1,
        "the listener survived the dropped poll and ran on close"
    );
}
