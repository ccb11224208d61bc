//! ACLs on a broker with the StandardAuthorizer, read back with Kafka's own `kafka-acls`
//! (org.apache.kafka.tools.AclCommand); a principal denied Write gets
//! TOPIC_AUTHORIZATION_FAILED from our producer, at once and not retried.

mod common;

use std::time::Duration;

use common::acl_broker::{ALICE_PASSWORD, AclBroker};
use common::broker::TestBroker;
use common::kafka_tools;
use ferrokafka::admin::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, AclResourceType, NewTopic,
};
use ferrokafka::{AdminClient, AdminConfig, Error, ErrorCode, ProducerRecord};

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

fn alice_filter() -> AclBindingFilter {
    AclBindingFilter {
        principal: Some("User:alice".into()),
        ..AclBindingFilter::any()
    }
}

#[tokio::test]
async fn acls_create_describe_delete_and_a_denied_producer() {
    let b = AclBroker::shared();
    let admin = admin(&b.bootstrap());
    let topic = "acl-topic";
    admin
        .create_topics([NewTopic::new(topic, 1, 1)])
        .await
        .expect("create")[topic]
        .as_ref()
        .expect("created");

    let describe = AclBinding::topic(topic, "User:alice", AclOperation::Describe, true);
    let deny_write = AclBinding::topic(topic, "User:alice", AclOperation::Write, false);
    let created = admin
        .create_acls([describe.clone(), deny_write.clone()])
        .await
        .expect("create acls");
    created[&describe].as_ref().expect("created");
    created[&deny_write].as_ref().expect("created");

    let bad = AclBinding::topic(topic, "alice-without-type", AclOperation::Read, true);
    let created = admin.create_acls([bad.clone()]).await.expect("request");
    let e = created[&bad].as_ref().expect_err("invalid principal");
    assert!(e.to_string().contains("alice-without-type"), "{e}");

    // ACLs reach the authorizer through the metadata log: wait until both are described.
    let mut acls = Vec::new();
    for _ in 0..50 {
        acls = admin
            .describe_acls(&alice_filter())
            .await
            .expect("describe");
        if acls.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut want = vec![describe.clone(), deny_write.clone()];
    want.sort();
    assert_eq!(acls, want);
    let topic_only = admin
        .describe_acls(&AclBindingFilter {
            resource_type: AclResourceType::Topic,
            resource_name: Some(topic.into()),
            operation: AclOperation::Write,
            ..AclBindingFilter::any()
        })
        .await
        .expect("describe");
    assert_eq!(topic_only, std::slice::from_ref(&deny_write));

    let out = kafka_tools::run(
        "org.apache.kafka.tools.AclCommand",
        &[
            "--bootstrap-server",
            &b.bootstrap(),
            "--list",
            "--topic",
            topic,
        ],
    );
    let mut theirs: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("(principal="))
        .map(String::from)
        .collect();
    theirs.sort();
    let mut ours: Vec<String> = acls
        .iter()
        .map(|a| {
            format!(
                "(principal={}, host={}, operation={}, permissionType={})",
                a.principal,
                a.host,
                format!("{:?}", a.operation).to_uppercase(),
                format!("{:?}", a.permission).to_uppercase()
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours, theirs, "kafka-acls:\n{out}");

    // alice may see the topic but not write to it: the error is final, not retried until the
    // delivery timeout.
    let p = common::producer(
        &b.sasl_bootstrap(),
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                &format!(
                    "org.apache.kafka.common.security.plain.PlainLoginModule required \
                     username=\"alice\" password=\"{ALICE_PASSWORD}\";"
                ),
            ),
            ("enable.idempotence", "false"),
            ("delivery.timeout.ms", "120000"),
        ],
    );
    let err = p
        .send(ProducerRecord::new(topic, "denied").partition(0))
        .await
        .expect_err("alice may not write");
    assert_eq!(
        err.code(),
        Some(ErrorCode(29)),
        "TOPIC_AUTHORIZATION_FAILED: {err}"
    );
    assert!(!err.is_retriable(), "{err}");
    assert!(!matches!(err, Error::DeliveryTimeout { .. }), "{err}");
    p.close(Duration::from_secs(5)).await;

    let deleted = admin
        .delete_acls([deny_write.to_filter()])
        .await
        .expect("delete");
    assert_eq!(
        deleted[&deny_write.to_filter()].as_ref().expect("deleted"),
        std::slice::from_ref(&deny_write)
    );
    let mut left = Vec::new();
    for _ in 0..50 {
        left = admin
            .describe_acls(&alice_filter())
            .await
            .expect("describe");
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, [describe]);
    assert_eq!(left[0].permission, AclPermissionType::Allow);
}

#[tokio::test]
async fn acls_without_an_authorizer_are_security_disabled() {
    let b = TestBroker::shared();
    let admin = admin(&b.bootstrap());
    let e = admin
        .describe_acls(&AclBindingFilter::any())
        .await
        .expect_err("no authorizer");
    assert_eq!(e.code(), Some(ErrorCode(54)), "SECURITY_DISABLED: {e}");
}
