//! The admin client's retries at the edges (MockCluster): a moved coordinator
//! (NOT_COORDINATOR), a loading one, a moved leader and lost connections are retried inside
//! default.api.timeout.ms; a final error is not.

use std::collections::BTreeMap;

use ferrokafka::admin::OffsetSpec;
use ferrokafka::consumer::OffsetAndMetadata;
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, TopicPartition};

const OFFSET_FETCH: i16 = 9;
const LIST_OFFSETS: i16 = 2;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;

fn admin(c: &MockCluster) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(c.bootstrap_servers())
            .set("retry.backoff.ms", "10")
            .set("retry.backoff.max.ms", "50")
            .set("default.api.timeout.ms", "10000")
            .build()
            .expect("config"),
    )
}

#[tokio::test]
async fn group_offsets_follow_a_moved_and_loading_coordinator() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(7)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("t", 2));
    let admin = admin(&c);
    let tp = |p| TopicPartition::new("t", p);
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = [
        (tp(0), OffsetAndMetadata::new(5)),
        (tp(1), OffsetAndMetadata::new(7)),
    ]
    .into();
    let r = admin
        .alter_consumer_group_offsets("g", offsets)
        .await
        .expect("alter");
    assert!(r.values().all(|r| r.is_ok()), "{r:?}");

    // The mock answers OffsetFetch for named partitions only.
    let both = [tp(0), tp(1)];
    let ids = c.broker_ids();
    for id in ids.iter().rev() {
        c.move_coordinator(*id);
        c.inject(
            Fault::new(
                OFFSET_FETCH,
                FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS),
            )
            .times(2),
        );
        c.inject(Fault::new(OFFSET_FETCH, FaultAction::DropBefore));
        let got = admin
            .list_consumer_group_offsets("g", Some(&both))
            .await
            .expect("offsets after the coordinator moved");
        let got: Vec<(i32, i64)> = got.iter().map(|(tp, o)| (tp.partition, o.offset)).collect();
        assert_eq!(got, [(0, 5), (1, 7)], "coordinator {id}");
    }

    // A final error is returned at once, not retried until the timeout.
    c.inject(Fault::new(
        OFFSET_FETCH,
        FaultAction::Error(GROUP_AUTHORIZATION_FAILED),
    ));
    let e = admin
        .list_consumer_group_offsets("g", Some(&both))
        .await
        .expect_err("not authorized");
    assert_eq!(e.code(), Some(ErrorCode(GROUP_AUTHORIZATION_FAILED)), "{e}");
    let got = admin
        .list_consumer_group_offsets("g", Some(&both))
        .await
        .expect("the fault is spent");
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn list_offsets_follows_a_moved_leader() {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(11)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("l", 1));
    let admin = admin(&c);
    let tp = TopicPartition::new("l", 0);
    let first = admin
        .list_offsets([(tp.clone(), OffsetSpec::Latest)])
        .await
        .expect("latest");
    assert_eq!(first[&tp].as_ref().expect("latest").offset, 0);

    let leader = c.leader("l", 0).expect("leader");
    let other = c
        .broker_ids()
        .into_iter()
        .find(|b| *b != leader)
        .expect("another broker");
    c.move_leader("l", 0, other).expect("move");
    c.inject(Fault::new(LIST_OFFSETS, FaultAction::Error(NOT_LEADER_OR_FOLLOWER)).times(2));
    let r = admin
        .list_offsets([(tp.clone(), OffsetSpec::Earliest)])
        .await
        .expect("earliest");
    assert_eq!(r[&tp].as_ref().expect("after the move").offset, 0);
}
