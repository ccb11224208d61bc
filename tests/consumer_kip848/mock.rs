//! KIP-848 on the MockCluster: fencing, a membership that cannot work, heartbeat timing.

use super::*;

// ---- fencing on the MockCluster --------------------------------------------------------------

/// Counts partitions handed over as lost.
struct CountLost(Arc<Mutex<Vec<usize>>>);

impl RebalanceListener for CountLost {
    async fn on_partitions_revoked(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {}
    async fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, _: &[TopicPartition]) {}
    async fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, tps: &[TopicPartition]) {
        self.0.lock().unwrap().push(tps.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_member_loses_its_partitions_rejoins_and_reads_everything_once() {
    use ferrokafka::mock::{Fault, FaultAction, MockCluster};
    const CONSUMER_GROUP_HEARTBEAT: i16 = 68;
    const FENCED_MEMBER_EPOCH: i16 = 110;
    init_tracing();
    let cluster = MockCluster::builder().build().await.expect("mock");
    let bootstrap = cluster.bootstrap_servers();
    assert!(cluster.create_topic("fenced", 4));
    produce_values(
        &bootstrap,
        "fenced",
        4,
        (0..400).map(|v| v.to_string()),
        "none",
    )
    .await;
    let lost = Arc::new(Mutex::new(Vec::new()));
    let mut c = common::consumer(
        &bootstrap,
        &[
            ("group.id", "fenced-group"),
            ("group.protocol", "consumer"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "20"),
        ],
    );
    c.subscribe_with(["fenced"], CountLost(lost.clone()))
        .expect("subscribe");
    let mut read: Vec<(String, u64)> = Vec::new();
    poll_until(
        &mut c,
        &mut read,
        Duration::from_secs(10),
        "first reads",
        |_, r| r.len() >= 100,
    )
    .await;
    let epoch_before = c.group_metadata().expect("member").generation_id;
    cluster.inject(Fault::new(
        CONSUMER_GROUP_HEARTBEAT,
        FaultAction::Error(FENCED_MEMBER_EPOCH),
    ));
    let fenced = lost.clone();
    poll_until(
        &mut c,
        &mut read,
        Duration::from_secs(5),
        "fenced",
        move |_, _| !fenced.lock().unwrap().is_empty(),
    )
    .await;
    let more = tokio::spawn({
        let bootstrap = bootstrap.clone();
        async move {
            produce_values(
                &bootstrap,
                "fenced",
                4,
                (400..800).map(|v| v.to_string()),
                "none",
            )
            .await
        }
    });
    poll_until(
        &mut c,
        &mut read,
        Duration::from_secs(20),
        "every record",
        |_, r| read_from(r, "fenced").len() == 800,
    )
    .await;
    more.await.expect("producer");
    assert_eq!(read.len(), 800, "each record once");
    assert_eq!(
        *lost.lock().unwrap(),
        vec![4],
        "all four partitions lost once"
    );
    let epoch_after = c.group_metadata().expect("member").generation_id;
    assert_ne!(
        epoch_after, epoch_before,
        "rejoined with a new member epoch"
    );
    assert_eq!(c.assignment().len(), 4);
    c.close().await.expect("close");
}

/// A membership that cannot work (here: a pattern, which ConsumerGroupHeartbeat v0 cannot
/// carry) is reported by `poll`, not retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_that_cannot_be_sent_fails_poll() {
    use ferrokafka::mock::MockCluster;
    let cluster = MockCluster::builder().build().await.expect("mock");
    assert!(cluster.create_topic("p-1", 1));
    let mut c = common::consumer(
        &cluster.bootstrap_servers(),
        &[
            ("group.id", "v0-group"),
            ("group.protocol", "consumer"),
            ("api.versions.max", "ConsumerGroupHeartbeat=0"),
        ],
    );
    c.subscribe_pattern("p-.*").expect("subscribe");
    let start = Instant::now();
    let err = loop {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "poll never failed"
        );
        if let Err(e) = c.poll(Duration::from_millis(100)).await {
            break e;
        }
    };
    assert!(
        err.to_string().contains("ConsumerGroupHeartbeat v1"),
        "{err}"
    );
    assert!(c.assignment().is_empty());
}

/// Heartbeats follow the interval the broker returns from the first answer on (the mock's is
/// 100 ms): a member that joins while the partitions it gets are still owned learns that they
/// are free on its next heartbeat, not after the 5 s a member assumes before any answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_heartbeats_at_the_broker_s_interval() {
    use ferrokafka::mock::MockCluster;
    let cluster = MockCluster::builder().build().await.expect("mock");
    let bootstrap = cluster.bootstrap_servers();
    assert!(cluster.create_topic("interval", 4));
    let props: &[(&str, &str)] = &[
        ("group.id", "interval-group"),
        ("group.protocol", "consumer"),
        ("enable.auto.commit", "false"),
    ];
    let mut a = common::consumer(&bootstrap, props);
    a.subscribe(["interval"]).expect("subscribe");
    let mut read = Vec::new();
    poll_until(
        &mut a,
        &mut read,
        Duration::from_secs(5),
        "a owns all",
        |c, _| c.assignment().len() == 4,
    )
    .await;
    let mut b = common::consumer(&bootstrap, props);
    b.subscribe(["interval"]).expect("subscribe");
    let start = Instant::now();
    while b.assignment().len() != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "b owns {:?} after {:?}; a owns {:?}",
            b.assignment(),
            start.elapsed(),
            a.assignment()
        );
        a.poll(Duration::from_millis(20)).await.expect("poll a");
        b.poll(Duration::from_millis(20)).await.expect("poll b");
    }
    assert_eq!(a.assignment().len(), 2);
}
