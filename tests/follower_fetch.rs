//! Follower fetching (KIP-392) on a 3-broker Apache Kafka cluster whose brokers sit in racks
//! `rack-1`..`rack-3` with the rack-aware replica selector: a consumer in a follower's rack
//! reads from that follower, and falls back when it dies.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::broker::TestCluster;
use common::{consumer, producer};
use ferrokafka::admin::NewTopic;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};
use ferrokafka::{AdminClient, AdminConfig, ProducerRecord};

const TOPIC: &str = "follower-fetch";

async fn produce(bootstrap: &str, from: u64, to: u64) {
    let p = producer(bootstrap, &[("linger.ms", "5")]);
    let mut acks = Vec::new();
    for i in from..to {
        let rec = ProducerRecord::new(TOPIC, i.to_string()).partition(0);
        acks.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for a in acks {
        a.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}

async fn read(c: &mut KafkaConsumer, seen: &mut BTreeSet<u64>, until: usize, limit: Duration) {
    let start = Instant::now();
    while seen.len() < until {
        assert!(start.elapsed() < limit, "stuck at {} records", seen.len());
        for r in c.poll(Duration::from_millis(200)).await.expect("poll") {
            let v: u64 = std::str::from_utf8(r.value.as_deref().expect("value"))
                .expect("utf8")
                .parse()
                .expect("number");
            assert!(seen.insert(v), "value {v} read twice");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_reads_from_its_racks_follower_and_falls_back_when_it_dies() {
    let mut cluster = TestCluster::start_with(3, true);
    let bootstrap = cluster.bootstrap();
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&bootstrap)
            .build()
            .expect("admin config"),
    );
    let created = admin
        .create_topics([NewTopic::new(TOPIC, 1, 3)])
        .await
        .expect("create");
    created[TOPIC].as_ref().expect("created");
    produce(&bootstrap, 0, 200).await;
    // The follower must be in sync for the leader to send readers to it.
    let start = Instant::now();
    let (leader, follower) = loop {
        let d = admin.describe_topics(&[TOPIC]).await.expect("describe");
        let p = &d[TOPIC].as_ref().expect("topic").partitions[0];
        if let (Some(l), 3) = (p.leader.as_ref(), p.isr.len()) {
            let f = p
                .isr
                .iter()
                .copied()
                .find(|r| *r != l.id)
                .expect("follower");
            break (l.id, f);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ISR: {:?}",
            p.isr
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rack = format!("rack-{follower}");
    let mut c = consumer(&bootstrap, &[("client.rack", rack.as_str())]);
    c.assign([TopicPartition::new(TOPIC, 0)]).expect("assign");
    let mut seen = BTreeSet::new();
    read(&mut c, &mut seen, 200, Duration::from_secs(30)).await;
    let served = c.fetch_stats().served_by;
    assert!(
        served.get(&follower).is_some_and(|n| *n > 0),
        "follower {follower} (leader {leader}) served: {served:?}"
    );
    assert_eq!(served.get(&leader), None, "leader {leader}: {served:?}");

    cluster.kill(follower);
    produce(&bootstrap, 200, 400).await;
    read(&mut c, &mut seen, 400, Duration::from_secs(60)).await;
    let after = c.fetch_stats().served_by;
    let elsewhere: u64 = after
        .iter()
        .filter(|(n, _)| **n != follower)
        .map(|(_, v)| *v)
        .sum();
    assert!(elsewhere > 0, "after follower {follower} died: {after:?}");
    assert_eq!(seen, (0..400).collect::<BTreeSet<u64>>());
}
