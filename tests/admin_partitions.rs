//! Partitions, records, log dirs and features against Apache Kafka, read back with the admin
//! client and Kafka's own `kafka-topics` (org.apache.kafka.tools.TopicCommand).

mod common;

use std::time::Duration;

use common::broker::TestBroker;
use common::kafka_tools;
use ferrokafka::admin::{ElectionType, NewPartitions, NewTopic, OffsetSpec};
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, TopicPartition};

const TOPIC_COMMAND: &str = "org.apache.kafka.tools.TopicCommand";

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

/// `PartitionCount` and `TopicId` as kafka-topics --describe prints them.
fn kafka_topics_describe(bootstrap: &str, topic: &str) -> (i32, String) {
    let out = kafka_tools::run(
        TOPIC_COMMAND,
        &[
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--topic",
            topic,
        ],
    );
    let field = |name: &str| {
        out.split_whitespace()
            .skip_while(|w| *w != name)
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .to_string()
    };
    (
        field("PartitionCount:").parse().expect("count"),
        field("TopicId:"),
    )
}

#[tokio::test]
async fn create_partitions_with_assignments_and_bad_input() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-partitions-grow";
    common::create_topic(&bootstrap, topic, 2).await;

    let r = admin
        .create_partitions([(
            topic.to_string(),
            NewPartitions {
                total_count: 4,
                assignments: Some(vec![vec![1], vec![1]]),
            },
        )])
        .await
        .expect("request");
    r[topic].as_ref().expect("grown");

    // Metadata reaches the broker's cache a moment after the controller answers.
    let mut count = 0;
    for _ in 0..50 {
        let d = admin.describe_topics(&[topic]).await.expect("describe");
        // Until the broker's cache has the topic, it may not know it at all.
        count = d[topic].as_ref().map_or(0, |t| t.partitions.len());
        if count == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count, 4);
    let d = admin.describe_topics(&[topic]).await.expect("describe");
    let d = d[topic].as_ref().expect("described");
    let (tool_count, tool_id) = kafka_topics_describe(&bootstrap, topic);
    assert_eq!(tool_count, 4);
    assert_eq!(d.topic_id.to_string(), tool_id);
    for p in &d.partitions {
        assert_eq!(p.replicas, [1]);
        assert_eq!(p.isr, [1]);
        assert!(p.offline_replicas.is_empty());
        assert!(p.leader_epoch >= 0);
    }

    let r = admin
        .create_partitions([
            (topic.to_string(), NewPartitions::increase_to(3)),
            (
                "admin-partitions-no-such-topic".to_string(),
                NewPartitions::increase_to(3),
            ),
        ])
        .await
        .expect("request");
    let e = r[topic].as_ref().expect_err("decrease");
    assert_eq!(e.code(), Some(ErrorCode(37)), "INVALID_PARTITIONS: {e}");
    assert!(e.to_string().contains("4"), "the broker's message: {e}");
    let e = r["admin-partitions-no-such-topic"]
        .as_ref()
        .expect_err("unknown");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");
}

#[tokio::test]
async fn delete_records_moves_the_log_start() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-delete-records";
    common::create_topic(&bootstrap, topic, 1).await;
    common::produce_values(&bootstrap, topic, 1, (0..10).map(|i| i.to_string()), "none").await;
    let tp = TopicPartition::new(topic, 0);
    let beyond = TopicPartition::new(topic, 5);

    let r = admin
        .delete_records([(tp.clone(), 4), (beyond.clone(), 1)])
        .await
        .expect("request");
    assert_eq!(*r[&tp].as_ref().expect("deleted"), 4, "low watermark");
    let e = r[&beyond].as_ref().expect_err("no partition 5");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");
    let earliest = admin
        .list_offsets([(tp.clone(), OffsetSpec::Earliest)])
        .await
        .expect("list");
    assert_eq!(earliest[&tp].as_ref().expect("earliest").offset, 4);

    let r = admin
        .delete_records([(tp.clone(), 99)])
        .await
        .expect("request");
    let e = r[&tp].as_ref().expect_err("past the end");
    assert_eq!(e.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE), "{e}");
}

#[tokio::test]
async fn elect_reassign_log_dirs_features() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-elect-reassign";
    admin
        .create_topics([NewTopic::new(topic, 2, 1)])
        .await
        .expect("create")[topic]
        .as_ref()
        .expect("created");
    common::produce_values(&bootstrap, topic, 2, (0..20).map(|i| i.to_string()), "none").await;
    let tp0 = TopicPartition::new(topic, 0);
    let tp1 = TopicPartition::new(topic, 1);

    // One broker: the preferred leader leads already.
    let r = admin
        .elect_leaders(ElectionType::Preferred, Some(std::slice::from_ref(&tp0)))
        .await
        .expect("elect");
    let e = r[&tp0].as_ref().expect_err("not needed");
    assert_eq!(e.code(), Some(ErrorCode(84)), "ELECTION_NOT_NEEDED: {e}");

    let ongoing = admin
        .list_partition_reassignments(None)
        .await
        .expect("list");
    assert!(ongoing.is_empty(), "{ongoing:?}");
    let r = admin
        .alter_partition_reassignments([(tp0.clone(), Some(vec![1])), (tp1.clone(), Some(vec![7]))])
        .await
        .expect("alter");
    r[&tp0].as_ref().expect("same replicas: done at once");
    let e = r[&tp1].as_ref().expect_err("no broker 7");
    assert_eq!(
        e.code(),
        Some(ErrorCode(39)),
        "INVALID_REPLICA_ASSIGNMENT: {e}"
    );
    assert!(e.to_string().contains('7'), "the broker's message: {e}");

    let dirs = admin.describe_log_dirs(&[1]).await.expect("log dirs");
    let dirs = dirs[&1].as_ref().expect("broker 1");
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    assert!(dir.path.ends_with("/data"), "{}", dir.path);
    assert_eq!(dir.error, None);
    assert!(dir.total_bytes.is_some_and(|t| t > 0));
    let r0 = dir.replicas[&tp0];
    assert!(r0.size > 0, "{r0:?}");
    assert_eq!(r0.offset_lag, 0);
    assert!(!r0.is_future);
    let e = admin.describe_log_dirs(&[42]).await.expect("request")[&42]
        .clone()
        .expect_err("no broker 42");
    assert!(e.is_retriable() || e.to_string().contains("42"), "{e}");

    let f = admin.describe_features().await.expect("features");
    let level = f.finalized["metadata.version"];
    assert!(level > 0, "{f:?}");
    let (min, max) = f.supported["metadata.version"];
    assert!(min <= level && level <= max, "{f:?}");
    assert!(f.finalized_epoch.is_some_and(|e| e >= 0), "{f:?}");

    let c = admin.describe_cluster().await.expect("cluster");
    assert_eq!(c.controller.as_ref().map(|n| n.id), Some(1), "{c:?}");
    assert!(c.cluster_id.is_some_and(|id| id.len() == 22));
}
