//! Consumer behaviour under leader moves and fetch errors (MockCluster).

use std::time::{Duration, Instant};

use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{ConsumerConfig, KafkaProducer, ProducerConfig, ProducerRecord};

const FETCH: i16 = 1;

async fn preload(c: &MockCluster, topic: &str, n: u64) {
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .build()
            .expect("config"),
    )
    .expect("producer");
    for i in 0..n {
        drop(
            p.enqueue(ProducerRecord::new(topic, i.to_string()).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    p.close(Duration::from_secs(10)).await;
}

fn consumer(c: &MockCluster) -> KafkaConsumer {
    KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("auto.offset.reset", "earliest")
            .set("max.poll.records", "100")
            .set("retry.backoff.ms", "10")
            .build()
            .expect("config"),
    )
    .expect("consumer")
}

async fn read(c: &mut KafkaConsumer, out: &mut Vec<u64>, until: usize) {
    let start = Instant::now();
    while out.len() < until {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stuck at {} records",
            out.len()
        );
        for r in c.poll(Duration::from_millis(100)).await.expect("poll") {
            out.push(
                std::str::from_utf8(r.value.as_deref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_move_resumes_at_the_same_position() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(1)
        .build()
        .await
        .expect("mock");
    c.create_topic("moving", 1);
    preload(&c, "moving", 2000).await;
    let mut con = consumer(&c);
    con.assign([TopicPartition::new("moving", 0)])
        .expect("assign");
    let mut got = Vec::new();
    read(&mut con, &mut got, 700).await;
    let from = c.leader("moving", 0).unwrap();
    c.move_leader("moving", 0, from % 3 + 1).unwrap();
    read(&mut con, &mut got, 2000).await;
    assert_eq!(
        got,
        (0..2000).collect::<Vec<u64>>(),
        "no gap, no repeat across the move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_fetch_errors_and_out_of_range_recover() {
    let c = MockCluster::builder()
        .brokers(1)
        .seed(2)
        .build()
        .await
        .expect("mock");
    c.create_topic("flaky", 1);
    preload(&c, "flaky", 1000).await;
    c.inject(Fault::new(FETCH, FaultAction::Error(6)).times(3));
    c.inject(Fault::new(FETCH, FaultAction::DropAfter).times(2));
    let mut con = consumer(&c);
    let tp = TopicPartition::new("flaky", 0);
    con.assign([tp.clone()]).expect("assign");
    let mut got = Vec::new();
    read(&mut con, &mut got, 1000).await;
    assert_eq!(got, (0..1000).collect::<Vec<u64>>());
    // A position past the log end is reset by auto.offset.reset (earliest).
    con.seek(&tp, 5000).expect("seek");
    let mut again = Vec::new();
    read(&mut con, &mut again, 10).await;
    assert_eq!(again[0], 0, "reset to the earliest offset");
}

/// The leader dies while it is the consumer's only connection, and the consumer polls with a
/// timeout shorter than the reconnect backoff to the dead broker: the metadata refresh that
/// finds the new leader must survive the polls that time out while it runs, or it starts over
/// at the dead broker every time and never finishes (seen against Apache Kafka in
/// tests/replication.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_polls_find_the_new_leader_when_the_old_one_dies() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(3)
        .build()
        .await
        .expect("mock");
    c.create_topic("dying", 1);
    // The lowest id leads: metadata lists it first among the known brokers.
    c.move_leader("dying", 0, 1).unwrap();
    preload(&c, "dying", 100).await;
    let first = c.bootstrap_servers().split(',').next().unwrap().to_string();
    let mut con = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(first)
            .set("auto.offset.reset", "earliest")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    con.assign([TopicPartition::new("dying", 0)])
        .expect("assign");
    let mut got = Vec::new();
    read(&mut con, &mut got, 100).await;
    c.stop_broker(1);
    c.move_leader("dying", 0, 2).unwrap();
    preload(&c, "dying", 100).await;
    let start = Instant::now();
    while got.len() < 200 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "stuck at {} records: the new leader was never found",
            got.len()
        );
        for r in con.poll(Duration::from_millis(20)).await.expect("poll") {
            got.push(r.offset as u64);
        }
    }
    assert_eq!(got, (0..200).collect::<Vec<u64>>());
}

/// The group coordinator moves (Kafka: the `__consumer_offsets` partition changes leader, and
/// the new coordinator loads the group): the member finds the new coordinator and keeps its
/// generation, as Java's does, instead of forcing a rebalance of the whole group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_move_keeps_the_generation() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(5)
        .build()
        .await
        .expect("mock");
    c.create_topic("moved", 2);
    preload(&c, "moved", 10).await;
    let mut con = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("group.id", "moving")
            .set("auto.offset.reset", "earliest")
            .set("heartbeat.interval.ms", "100")
            .set("session.timeout.ms", "6000")
            .set("retry.backoff.ms", "10")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    con.subscribe(["moved"]).expect("subscribe");
    let mut got = Vec::new();
    read(&mut con, &mut got, 10).await;
    let before = con.group_metadata().expect("group").generation_id;
    assert!(before > 0);
    c.move_coordinator(2);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        con.poll(Duration::from_millis(100)).await.expect("poll");
    }
    let after = con.group_metadata().expect("group").generation_id;
    assert_eq!(after, before, "no rebalance for a coordinator move");
    let (state, generation, members) = c.group_state("moving").expect("group");
    assert_eq!((state.as_str(), generation, members), ("Stable", before, 1));
}

/// KIP-266: `poll(t)` returns within `t` while the committed offsets of a new assignment are
/// looked up (OffsetFetch held back by the broker), and a later poll uses that lookup's answer:
/// reading starts at the committed offset, with no record skipped or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_returns_within_its_timeout_while_the_committed_offset_lookup_is_slow() {
    const OFFSET_FETCH: i16 = 9;
    const POLL: Duration = Duration::from_millis(100);
    // Generous: the spec under test is "within the timeout", not a latency figure.
    const SLACK: Duration = Duration::from_millis(500);
    let c = MockCluster::builder()
        .brokers(1)
        .seed(6)
        .build()
        .await
        .expect("mock");
    c.create_topic("slow-committed", 1);
    preload(&c, "slow-committed", 1000).await;
    let config = || {
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("group.id", "slow-committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("max.poll.records", "100")
            .set("retry.backoff.ms", "10")
            .build()
            .expect("config")
    };
    let tp = TopicPartition::new("slow-committed", 0);
    let mut first = KafkaConsumer::new(config()).expect("consumer");
    first.assign([tp.clone()]).expect("assign");
    first
        .commit_offsets_sync(
            [(
                tp.clone(),
                ferrokafka::consumer::OffsetAndMetadata {
                    offset: 400,
                    leader_epoch: None,
                    metadata: String::new(),
                },
            )]
            .into_iter()
            .collect(),
        )
        .await
        .expect("commit 400");
    first.close().await.expect("close");

    c.inject(Fault::new(
        OFFSET_FETCH,
        FaultAction::Delay(Duration::from_secs(2)),
    ));
    let mut con = KafkaConsumer::new(config()).expect("consumer");
    con.subscribe(["slow-committed"]).expect("subscribe");
    let start = Instant::now();
    let (mut got, mut polls) = (Vec::new(), 0u32);
    while got.len() < 600 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "stuck at {} records",
            got.len()
        );
        let began = Instant::now();
        let records = con.poll(POLL).await.expect("poll");
        let took = began.elapsed();
        polls += 1;
        assert!(
            took <= POLL + SLACK,
            "poll #{polls} took {took:?} with a {POLL:?} timeout"
        );
        got.extend(records.iter().map(|r| r.offset));
    }
    assert_eq!(got, (400..1000).collect::<Vec<i64>>());
    assert!(polls > 3, "the lookup spanned several polls ({polls})");
}

/// KIP-227: the consumer fetches 20 partitions through an incremental fetch session; the
/// broker loses the session once (FETCH_SESSION_ID_NOT_FOUND): the consumer opens a new one
/// with a full fetch and reads every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_fetch_session_recovers_with_a_full_fetch() {
    const PARTITIONS: i32 = 20;
    const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
    let c = MockCluster::builder()
        .brokers(1)
        .seed(7)
        .build()
        .await
        .expect("mock");
    c.create_topic("sessions", PARTITIONS);
    let produce = |from: u64, to: u64| {
        let servers = c.bootstrap_servers();
        async move {
            let p = KafkaProducer::new(
                ProducerConfig::builder()
                    .bootstrap_servers(servers)
                    .build()
                    .expect("config"),
            )
            .expect("producer");
            for i in from..to {
                let partition = (i % PARTITIONS as u64) as i32;
                drop(
                    p.enqueue(ProducerRecord::new("sessions", i.to_string()).partition(partition))
                        .await
                        .expect("enqueue"),
                );
            }
            p.close(Duration::from_secs(10)).await;
        }
    };
    produce(0, 400).await;
    let mut con = consumer(&c);
    con.assign((0..PARTITIONS).map(|p| TopicPartition::new("sessions", p)))
        .expect("assign");
    let mut got = Vec::new();
    read(&mut con, &mut got, 400).await;
    // Caught up: idle polls are incremental fetches of nothing.
    for _ in 0..3 {
        assert!(
            con.poll(Duration::from_millis(100))
                .await
                .expect("poll")
                .is_empty()
        );
    }
    let before = con.fetch_stats();
    assert!(
        before.requests > before.full_requests,
        "incremental fetches once the session is open: {before:?}"
    );
    c.inject(Fault::new(
        FETCH,
        FaultAction::Error(FETCH_SESSION_ID_NOT_FOUND),
    ));
    let start = Instant::now();
    while con.fetch_stats().session_errors == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no fetch met the fault"
        );
        assert!(
            con.poll(Duration::from_millis(50))
                .await
                .expect("poll")
                .is_empty()
        );
    }
    produce(400, 800).await;
    read(&mut con, &mut got, 800).await;
    let after = con.fetch_stats();
    assert_eq!(after.session_errors, 1, "{after:?}");
    assert!(
        after.full_requests > before.full_requests,
        "a full fetch reopened the session: {before:?} -> {after:?}"
    );
    got.sort_unstable();
    assert_eq!(got, (0..800).collect::<Vec<u64>>(), "none lost, none twice");
}

/// KIP-392: the leader names a preferred read replica; the consumer reads from that follower,
/// and when the follower dies it falls back to the leader, every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_from_the_preferred_replica_and_falls_back_to_the_leader() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(8)
        .build()
        .await
        .expect("mock");
    c.create_topic("racks", 1);
    c.move_leader("racks", 0, 1).unwrap();
    c.set_preferred_read_replica("racks", 0, Some(2)).unwrap();
    preload(&c, "racks", 300).await;
    let mut con = KafkaConsumer::new(
        ConsumerConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("auto.offset.reset", "earliest")
            .set("client.rack", "rack-2")
            .set("retry.backoff.ms", "10")
            .build()
            .expect("config"),
    )
    .expect("consumer");
    con.assign([TopicPartition::new("racks", 0)])
        .expect("assign");
    let mut got = Vec::new();
    read(&mut con, &mut got, 300).await;
    let served = con.fetch_stats().served_by;
    assert!(served.get(&2).is_some_and(|n| *n > 0), "{served:?}");
    assert_eq!(
        served.get(&1),
        None,
        "the leader served no data: {served:?}"
    );

    c.stop_broker(2);
    preload(&c, "racks", 300).await;
    read(&mut con, &mut got, 600).await;
    let served = con.fetch_stats().served_by;
    assert!(served.get(&1).is_some_and(|n| *n > 0), "{served:?}");
    assert_eq!(got, (0..300).chain(0..300).collect::<Vec<u64>>());
}
