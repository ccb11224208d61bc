//! AdminClient against a real broker (Apache Kafka).

mod common;

use std::time::Duration;

use common::broker::TestBroker;
use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, Error, ErrorCode};

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

#[tokio::test]
async fn create_list_describe_delete_topic() {
    let b = TestBroker::shared();
    let admin = admin(&b.bootstrap());
    let name = "admin-three-partitions";

    let created = admin
        .create_topics([NewTopic::new(name, 3, 1)])
        .await
        .expect("CreateTopics request");
    assert_eq!(created.len(), 1);
    created[name].as_ref().expect("topic created");

    let listed = admin.list_topics().await.expect("list");
    assert!(listed.contains_key(name), "{listed:?}");

    let described = admin.describe_topics(&[name]).await.expect("describe");
    let d = described[name].as_ref().expect("described");
    assert_eq!(d.name, name);
    assert_eq!(d.partitions.len(), 3);
    let cluster = admin.describe_cluster().await.expect("cluster");
    for (i, p) in d.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        let leader = p.leader.as_ref().expect("every partition has a leader");
        assert!(
            cluster.nodes.contains(leader),
            "{leader:?} not in {cluster:?}"
        );
    }

    // Creating it again fails for that topic only.
    let again = admin
        .create_topics([
            NewTopic::new(name, 3, 1),
            NewTopic::new("admin-other", 1, 1),
        ])
        .await
        .expect("CreateTopics request");
    let err = again[name].as_ref().expect_err("already exists");
    assert_eq!(err.code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS), "{err}");
    again["admin-other"]
        .as_ref()
        .expect("the other topic is created");

    let deleted = admin
        .delete_topics(&[name, "admin-other"])
        .await
        .expect("DeleteTopics request");
    deleted[name].as_ref().expect("deleted");
    deleted["admin-other"].as_ref().expect("deleted");

    // DeleteTopics answers once the controller has deleted them; a broker's metadata cache
    // learns it a moment later (KRaft propagates it asynchronously), as Java's admin sees too.
    let started = std::time::Instant::now();
    loop {
        let listed = admin.list_topics().await.expect("list");
        if !listed.contains_key(name) && !listed.contains_key("admin-other") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still listed 10 s after deletion: {listed:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn describe_cluster_reports_the_broker() {
    let b = TestBroker::shared();
    let cluster = admin(&b.bootstrap())
        .describe_cluster()
        .await
        .expect("cluster");
    assert_eq!(cluster.nodes.len(), 1, "{cluster:?}");
    assert_eq!(cluster.nodes[0].port, b.port);
    assert_eq!(cluster.nodes[0].host, "127.0.0.1");
}

#[tokio::test]
async fn unreachable_bootstrap_names_the_address() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(&dead)
            .set("default.api.timeout.ms", "1500")
            .build()
            .expect("config"),
    );
    let started = std::time::Instant::now();
    let err = admin
        .list_topics()
        .await
        .expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(5));
    let msg = err.to_string();
    assert!(msg.contains(&dead), "error does not name {dead}: {msg}");
    assert!(
        matches!(err, Error::NoBrokerReachable { .. } | Error::Timeout(_)),
        "{err:?}"
    );
}
