//! Consumer groups, group offsets, list_offsets and lag against Apache Kafka, compared with
//! Kafka's own `kafka-consumer-groups` (org.apache.kafka.tools.consumer.group.ConsumerGroupCommand).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::broker::TestBroker;
use common::kafka_tools;
use ferrokafka::admin::{ListGroupsOptions, ListOffsetsOptions, MemberToRemove, OffsetSpec};
use ferrokafka::config::IsolationLevel;
use ferrokafka::consumer::OffsetAndMetadata;
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, KafkaConsumer, TopicPartition};

const GROUP_COMMAND: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

fn group_consumer(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> KafkaConsumer {
    let mut props = vec![
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("client.id", "lag-client"),
    ];
    props.extend_from_slice(extra);
    common::consumer(bootstrap, &props)
}

/// Polls until the consumer has an assignment of `n` partitions; returns the records seen.
async fn poll_until_assigned(c: &mut KafkaConsumer, n: usize) -> usize {
    let mut seen = 0;
    for _ in 0..100 {
        seen += c
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
            .len();
        if c.assignment().len() == n && seen > 0 {
            return seen;
        }
    }
    panic!("no assignment of {n} partitions: {:?}", c.assignment());
}

#[tokio::test]
async fn lag_table_equals_kafka_consumer_groups_and_consumer_lag_matches() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-lag-six";
    let group = "admin-lag-group";
    common::create_topic(&bootstrap, topic, 6).await;
    common::produce_values(&bootstrap, topic, 6, (0..60).map(|i| i.to_string()), "none").await;

    let mut c = group_consumer(&bootstrap, group, &[("max.poll.records", "7")]);
    c.subscribe([topic]).expect("subscribe");
    poll_until_assigned(&mut c, 6).await;

    // Lag on the consumer: log end (10 per partition) minus position, for every partition a
    // fetch has answered for.
    let mut known = 0;
    for tp in c.assignment() {
        if let Some(lag) = c.lag(&tp) {
            let pos = c.position(&tp).await.expect("position");
            assert_eq!(lag, 10 - pos, "{tp}");
            known += 1;
        }
    }
    assert!(known > 0, "no partition has a lag after a poll");

    let tp = |p| TopicPartition::new(topic, p);
    let commits: BTreeMap<TopicPartition, OffsetAndMetadata> = [
        (tp(0), OffsetAndMetadata::new(3)),
        (tp(1), OffsetAndMetadata::new(5)),
        (tp(2), OffsetAndMetadata::new(10)),
        (tp(3), OffsetAndMetadata::new(0)),
    ]
    .into();
    c.commit_offsets_sync(commits.clone())
        .await
        .expect("commit");

    let ours = admin
        .consumer_group_lag(group, IsolationLevel::ReadUncommitted)
        .await
        .expect("lag");
    let out = kafka_tools::run(
        GROUP_COMMAND,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--group",
            group,
        ],
    );
    let theirs = kafka_tools::parse_lag_rows(&out, group);
    assert_eq!(theirs.len(), 6, "{out}");
    assert_eq!(ours.len(), 6, "{ours:?}");
    for row in &theirs {
        let mine = ours
            .iter()
            .find(|l| l.partition == tp(row.partition))
            .unwrap_or_else(|| panic!("no row for partition {}", row.partition));
        assert_eq!(mine.committed, row.current_offset, "{row:?}");
        assert_eq!(mine.log_end_offset, row.log_end_offset, "{row:?}");
        assert_eq!(mine.lag, row.lag, "{row:?}");
        assert_eq!(mine.member_id, row.consumer_id, "{row:?}");
        assert_eq!(mine.host, row.host, "{row:?}");
        assert_eq!(mine.client_id, row.client_id, "{row:?}");
    }
    assert_eq!(ours[0].lag, Some(7));
    assert_eq!(ours[4].committed, None);

    // Read to the end: every partition's lag is 0 on the consumer.
    let mut total = 0;
    for _ in 0..100 {
        total += c
            .poll(Duration::from_millis(100))
            .await
            .expect("poll")
            .len();
        let lags: Vec<Option<i64>> = c.assignment().iter().map(|tp| c.lag(tp)).collect();
        if lags.iter().all(|l| *l == Some(0)) {
            break;
        }
    }
    for tp in c.assignment() {
        assert_eq!(c.lag(&tp), Some(0), "{tp} after reading {total} more");
    }
    c.close().await.expect("close");
}

#[tokio::test]
async fn groups_list_describe_offsets_alter_delete() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-groups-topic";
    let group = "admin-groups-group";
    common::create_topic(&bootstrap, topic, 3).await;
    common::produce_values(&bootstrap, topic, 3, (0..30).map(|i| i.to_string()), "none").await;

    let mut c = group_consumer(&bootstrap, group, &[("group.instance.id", "static-1")]);
    c.subscribe([topic]).expect("subscribe");
    poll_until_assigned(&mut c, 3).await;
    c.commit_sync().await.expect("commit");

    let listed = admin.list_groups().await.expect("list");
    let g = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {listed:?}"));
    assert_eq!(g.protocol_type, "consumer");
    assert_eq!(g.state.as_deref(), Some("Stable"));
    assert_eq!(g.group_type.as_deref(), Some("classic"));
    let stable = admin
        .list_groups_with(ListGroupsOptions {
            states: vec!["Stable".into()],
            types: vec!["classic".into()],
        })
        .await
        .expect("list stable");
    assert!(stable.iter().any(|g| g.group_id == group), "{stable:?}");
    let empty = admin
        .list_groups_with(ListGroupsOptions {
            states: vec!["Empty".into()],
            types: vec![],
        })
        .await
        .expect("list empty");
    assert!(!empty.iter().any(|g| g.group_id == group), "{empty:?}");

    let described = admin
        .describe_consumer_groups(&[group, "admin-groups-no-such-group"])
        .await
        .expect("describe");
    let d = described[group].as_ref().expect("described");
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol_type, "consumer");
    assert!(!d.is_simple);
    assert!(!d.partition_assignor.is_empty());
    assert_eq!(d.members.len(), 1);
    let m = &d.members[0];
    assert_eq!(m.group_instance_id.as_deref(), Some("static-1"));
    assert_eq!(m.client_id, "lag-client");
    let assigned: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(topic, p)).collect();
    assert_eq!(m.assignment, assigned);
    let missing = described["admin-groups-no-such-group"]
        .as_ref()
        .expect_err("no such group");
    assert_eq!(
        missing.code(),
        Some(ErrorCode::GROUP_ID_NOT_FOUND),
        "{missing}"
    );

    let committed = admin
        .list_consumer_group_offsets(group, None)
        .await
        .expect("offsets");
    let positions: BTreeMap<TopicPartition, i64> = {
        let mut m = BTreeMap::new();
        for tp in &assigned {
            m.insert(tp.clone(), c.position(tp).await.expect("position"));
        }
        m
    };
    assert_eq!(
        committed
            .iter()
            .map(|(tp, o)| (tp.clone(), o.offset))
            .collect::<BTreeMap<_, _>>(),
        positions
    );

    // A static member stays after close until removed.
    c.close().await.expect("close");
    let removed = admin
        .remove_members_from_consumer_group(
            group,
            &[
                MemberToRemove::Static("static-1".into()),
                MemberToRemove::Static("nobody".into()),
            ],
        )
        .await
        .expect("remove");
    removed[&MemberToRemove::Static("static-1".into())]
        .as_ref()
        .expect("removed");
    let e = removed[&MemberToRemove::Static("nobody".into())]
        .as_ref()
        .expect_err("unknown member");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_MEMBER_ID), "{e}");
    let d = admin
        .describe_consumer_groups(&[group])
        .await
        .expect("describe")[group]
        .clone()
        .expect("described");
    assert_eq!(d.state, "Empty");
    assert!(d.members.is_empty());

    // Alter offsets of the now empty group and read them back, also with kafka-consumer-groups.
    let new: BTreeMap<TopicPartition, OffsetAndMetadata> = [
        (assigned[0].clone(), OffsetAndMetadata::new(1)),
        (assigned[1].clone(), OffsetAndMetadata::new(2)),
    ]
    .into();
    let altered = admin
        .alter_consumer_group_offsets(group, new.clone())
        .await
        .expect("alter");
    assert!(altered.values().all(|r| r.is_ok()), "{altered:?}");
    let committed = admin
        .list_consumer_group_offsets(group, Some(&assigned[..2]))
        .await
        .expect("offsets");
    assert_eq!(committed[&assigned[0]].offset, 1);
    assert_eq!(committed[&assigned[1]].offset, 2);
    let out = kafka_tools::run(
        GROUP_COMMAND,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--group",
            group,
        ],
    );
    let rows = kafka_tools::parse_lag_rows(&out, group);
    let row0 = rows.iter().find(|r| r.partition == 0).expect("row 0");
    assert_eq!(row0.current_offset, Some(1), "{out}");
    assert_eq!(row0.lag, Some(9), "{out}");

    let deleted = admin
        .delete_consumer_group_offsets(group, &assigned[..1])
        .await
        .expect("delete offsets");
    deleted[&assigned[0]].as_ref().expect("deleted");
    let committed = admin
        .list_consumer_group_offsets(group, None)
        .await
        .expect("offsets");
    assert!(!committed.contains_key(&assigned[0]), "{committed:?}");
    assert_eq!(committed[&assigned[1]].offset, 2);

    let deleted = admin
        .delete_consumer_groups(&[group, "admin-groups-no-such-group"])
        .await
        .expect("delete");
    deleted[group].as_ref().expect("group deleted");
    let e = deleted["admin-groups-no-such-group"]
        .as_ref()
        .expect_err("no such group");
    assert_eq!(e.code(), Some(ErrorCode::GROUP_ID_NOT_FOUND), "{e}");
    let listed = admin.list_groups().await.expect("list");
    assert!(!listed.iter().any(|g| g.group_id == group), "{listed:?}");
}

#[tokio::test]
async fn list_offsets_earliest_latest_max_timestamp_and_by_time() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-list-offsets";
    common::create_topic(&bootstrap, topic, 1).await;
    let p = common::producer(&bootstrap, &[]);
    let base = common::day_old_timestamp_ms();
    // Timestamps 0..10 seconds after base, the largest at offset 4.
    let stamps = [1, 2, 3, 4, 9, 5, 6, 7];
    for s in stamps {
        let rec = ferrokafka::ProducerRecord::new(topic, format!("{s}"))
            .partition(0)
            .timestamp(base + s * 1000);
        p.send(rec).await.expect("sent");
    }
    p.close(Duration::from_secs(5)).await;
    let tp = TopicPartition::new(topic, 0);
    let missing = TopicPartition::new(topic, 7);
    let ask = |spec| [(tp.clone(), spec), (missing.clone(), spec)];

    let r = admin
        .list_offsets(ask(OffsetSpec::Earliest))
        .await
        .expect("earliest");
    assert_eq!(r[&tp].as_ref().expect("earliest").offset, 0);
    let e = r[&missing].as_ref().expect_err("no partition 7");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");
    let r = admin
        .list_offsets(ask(OffsetSpec::Latest))
        .await
        .expect("latest");
    assert_eq!(r[&tp].as_ref().expect("latest").offset, 8);
    let r = admin
        .list_offsets(ask(OffsetSpec::MaxTimestamp))
        .await
        .expect("max ts");
    let max = r[&tp].as_ref().expect("max timestamp");
    assert_eq!((max.offset, max.timestamp), (4, base + 9000));
    let r = admin
        .list_offsets(ask(OffsetSpec::Timestamp(base + 4500)))
        .await
        .expect("by time");
    let at = r[&tp].as_ref().expect("by time");
    assert_eq!((at.offset, at.timestamp), (4, base + 9000));
    let r = admin
        .list_offsets_with(
            ask(OffsetSpec::Timestamp(base + 60_000)),
            ListOffsetsOptions {
                isolation_level: IsolationLevel::ReadCommitted,
            },
        )
        .await
        .expect("after the end");
    assert_eq!(r[&tp].as_ref().expect("after the end").offset, -1);
}

#[tokio::test]
async fn a_kip848_consumer_group_is_described_and_its_lag_equals_kafka_consumer_groups() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-kip848-topic";
    let group = "admin-kip848-group";
    common::create_topic(&bootstrap, topic, 3).await;
    common::produce_values(&bootstrap, topic, 3, (0..30).map(|i| i.to_string()), "none").await;
    // Kafka's console consumer in the `consumer` group protocol (KIP-848), not committing.
    let cp = format!("{}/*", common::broker::kafka_libs().display());
    let mut child = std::process::Command::new("java")
        .args([
            "-Xmx256m",
            "-cp",
            &cp,
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
        ])
        .args([
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            topic,
            "--group",
            group,
        ])
        .args(["--from-beginning", "--timeout-ms", "60000"])
        .args(["--consumer-property", "group.protocol=consumer"])
        .args(["--consumer-property", "enable.auto.commit=false"])
        .args(["--consumer-property", "client.id=kip848-client"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("console consumer");
    let mut described = None;
    for _ in 0..300 {
        if let Ok(d) = admin
            .describe_consumer_groups(&[group])
            .await
            .expect("describe")[group]
            .clone()
            && d.members.len() == 1
            && d.members[0].assignment.len() == 3
        {
            described = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = described.expect("the KIP-848 member with its 3 partitions");
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol_type, "consumer");
    assert!(!d.partition_assignor.is_empty(), "{d:?}");
    assert_eq!(d.members[0].client_id, "kip848-client");
    let listed = admin
        .list_groups_with(ListGroupsOptions {
            states: vec![],
            types: vec!["consumer".into()],
        })
        .await
        .expect("list");
    assert!(listed.iter().any(|g| g.group_id == group), "{listed:?}");

    let ours = admin
        .consumer_group_lag(group, IsolationLevel::ReadUncommitted)
        .await
        .expect("lag");
    let out = kafka_tools::run(
        GROUP_COMMAND,
        &[
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--group",
            group,
        ],
    );
    let _ = child.kill();
    let _ = child.wait();
    let theirs = kafka_tools::parse_lag_rows(&out, group);
    assert_eq!(theirs.len(), 3, "{out}");
    for row in &theirs {
        let mine = ours
            .iter()
            .find(|l| l.partition == TopicPartition::new(topic, row.partition))
            .unwrap_or_else(|| panic!("no row for partition {}", row.partition));
        assert_eq!(mine.committed, row.current_offset, "{row:?}");
        assert_eq!(mine.log_end_offset, row.log_end_offset, "{row:?}");
        assert_eq!(mine.lag, row.lag, "{row:?}");
        assert_eq!(mine.member_id, row.consumer_id, "{row:?}");
        assert_eq!(mine.host, row.host, "{row:?}");
        assert_eq!(mine.client_id, row.client_id, "{row:?}");
    }
}

#[tokio::test]
async fn consumer_lag_ends_at_the_last_stable_offset_under_read_committed() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let topic = "admin-lag-lso";
    common::create_topic(&bootstrap, topic, 1).await;
    common::produce_values(&bootstrap, topic, 1, (0..5).map(|i| i.to_string()), "none").await;
    // Kafka's perf tool opens a transaction after them and is killed with it open: the last
    // stable offset stays at 5 while the high watermark grows.
    let cp = format!("{}/*", common::broker::kafka_libs().display());
    let mut child = std::process::Command::new("java")
        .args([
            "-Xmx256m",
            "-cp",
            &cp,
            "org.apache.kafka.tools.ProducerPerformance",
        ])
        .args([
            "--topic",
            topic,
            "--num-records",
            "100000",
            "--record-size",
            "10",
        ])
        .args(["--throughput", "50", "--transactional-id", "admin-lag-lso"])
        .args(["--transaction-duration-ms", "600000", "--producer-props"])
        .arg(format!("bootstrap.servers={bootstrap}"))
        .arg("transaction.timeout.ms=600000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("perf tool");
    let admin = admin(&bootstrap);
    let tp = TopicPartition::new(topic, 0);
    let mut hw = 0;
    for _ in 0..300 {
        hw = admin
            .list_offsets([(tp.clone(), OffsetSpec::Latest)])
            .await
            .expect("hw")[&tp]
            .as_ref()
            .expect("hw")
            .offset;
        if hw > 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(hw > 10, "the transaction wrote records");

    for (level, committed) in [("read_committed", true), ("read_uncommitted", false)] {
        let mut c = common::consumer(&bootstrap, &[("isolation.level", level)]);
        c.assign([tp.clone()]).expect("assign");
        let mut read = 0;
        for _ in 0..100 {
            read += c
                .poll(Duration::from_millis(100))
                .await
                .expect("poll")
                .len();
            if read >= 5 {
                break;
            }
        }
        let pos = c.position(&tp).await.expect("position");
        let lag = c.lag(&tp).expect("a fetch answered");
        if committed {
            assert_eq!(pos, 5, "read_committed stops at the open transaction");
            assert_eq!(lag, 0, "{level}: LSO 5 - position 5");
        } else {
            let hw_now = admin
                .list_offsets([(tp.clone(), OffsetSpec::Latest)])
                .await
                .expect("hw")[&tp]
                .as_ref()
                .expect("hw")
                .offset;
            assert_eq!(lag, hw_now - pos, "{level}: high watermark - position");
            assert!(lag > 0 || pos == hw_now, "{level}: {lag}");
        }
        c.close().await.expect("close");
    }
}
