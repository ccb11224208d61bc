//! SCRAM credentials (a user we create signs in with them), producer state and transactions,
//! against Apache Kafka; read back with Kafka's own tools.

mod common;

use std::time::Duration;

use common::acl_broker::AclBroker;
use common::broker::TestBroker;
use common::kafka_tools;
use ferrokafka::admin::{ScramCredentialInfo, ScramMechanism, UserScramCredentialAlteration};
use ferrokafka::{AdminClient, AdminConfig, ErrorCode, TopicPartition};

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

fn scram_admin(bootstrap: &str, mechanism: &str, user: &str, password: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", mechanism)
            .set(
                "sasl.jaas.config",
                format!(
                    "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"{user}\" password=\"{password}\";"
                ),
            )
            .set("default.api.timeout.ms", "5000")
            .build()
            .expect("admin config"),
    )
}

#[tokio::test]
async fn scram_users_created_here_sign_in_and_read_back() {
    let b = AclBroker::shared();
    let admin = admin(&b.bootstrap());
    let upsert = |mechanism, iterations| UserScramCredentialAlteration::Upsert {
        user: "bob".into(),
        mechanism,
        iterations,
        password: "bob-secret".into(),
    };
    // The broker refuses two changes of one user in one request: one request each.
    for (m, iterations) in [
        (ScramMechanism::ScramSha256, 4096),
        (ScramMechanism::ScramSha512, 8192),
    ] {
        let r = admin
            .alter_user_scram_credentials(vec![upsert(m, iterations)])
            .await
            .expect("alter");
        r["bob"].as_ref().expect("bob created");
    }

    let mut creds = Vec::new();
    for _ in 0..50 {
        let d = admin
            .describe_user_scram_credentials(Some(&["bob"]))
            .await
            .expect("describe");
        creds = d["bob"].as_ref().cloned().unwrap_or_default();
        if creds.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        creds,
        [
            ScramCredentialInfo {
                mechanism: ScramMechanism::ScramSha256,
                iterations: 4096
            },
            ScramCredentialInfo {
                mechanism: ScramMechanism::ScramSha512,
                iterations: 8192
            },
        ]
    );
    let out = kafka_tools::run(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &b.bootstrap(),
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "bob",
        ],
    );
    assert!(
        out.contains("SCRAM-SHA-256=iterations=4096")
            && out.contains("SCRAM-SHA-512=iterations=8192"),
        "{out}"
    );

    // The salted password we computed is what the broker checks a sign-in against.
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let bob = scram_admin(&b.sasl_bootstrap(), m, "bob", "bob-secret");
        bob.list_topics().await.expect("bob signs in");
        let wrong = scram_admin(&b.sasl_bootstrap(), m, "bob", "not-bobs");
        assert!(
            wrong.list_topics().await.is_err(),
            "{m}: wrong password accepted"
        );
    }

    let r = admin
        .alter_user_scram_credentials(vec![UserScramCredentialAlteration::Upsert {
            user: "carol".into(),
            mechanism: ScramMechanism::ScramSha256,
            iterations: 10,
            password: "c".into(),
        }])
        .await
        .expect("alter");
    let e = r["carol"].as_ref().expect_err("too few iterations");
    assert_eq!(
        e.code(),
        Some(ErrorCode(93)),
        "UNACCEPTABLE_CREDENTIAL: {e}"
    );

    for mechanism in [ScramMechanism::ScramSha256, ScramMechanism::ScramSha512] {
        let r = admin
            .alter_user_scram_credentials(vec![UserScramCredentialAlteration::Delete {
                user: "bob".into(),
                mechanism,
            }])
            .await
            .expect("delete");
        r["bob"].as_ref().expect("deleted");
    }
    let mut gone = None;
    for _ in 0..50 {
        let d = admin
            .describe_user_scram_credentials(Some(&["bob"]))
            .await
            .expect("describe");
        if let Err(e) = &d["bob"] {
            gone = e.code();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gone, Some(ErrorCode(91)), "RESOURCE_NOT_FOUND");
}

#[tokio::test]
async fn producers_and_transactions_are_described() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-txn-topic";
    common::create_topic(&bootstrap, topic, 1).await;
    // Kafka's own perf tool writes 50 records in transactions of its own.
    kafka_tools::run(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            topic,
            "--num-records",
            "50",
            "--record-size",
            "10",
            "--throughput",
            "-1",
            "--transactional-id",
            "admin-tx-1",
            "--transaction-duration-ms",
            "100000",
            "--producer-props",
            &format!("bootstrap.servers={bootstrap}"),
        ],
    );
    let tp = TopicPartition::new(topic, 0);
    let producers = admin
        .describe_producers(&[tp.clone(), TopicPartition::new(topic, 9)])
        .await
        .expect("describe producers");
    let states = producers[&tp].as_ref().expect("partition 0");
    assert_eq!(states.len(), 1, "{states:?}");
    // Committed: no open transaction; the marker was written by a coordinator.
    assert_eq!(
        states[0].current_transaction_start_offset, None,
        "{states:?}"
    );
    assert!(states[0].coordinator_epoch.is_some(), "{states:?}");
    let e = producers[&TopicPartition::new(topic, 9)]
        .as_ref()
        .expect_err("no partition 9");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");

    // Our idempotent producer: 5 records, sequences 0..=4.
    let idem = "admin-idempotent-topic";
    common::create_topic(&bootstrap, idem, 1).await;
    common::produce_values(&bootstrap, idem, 1, (0..5).map(|i| i.to_string()), "none").await;
    let itp = TopicPartition::new(idem, 0);
    let producers = admin
        .describe_producers(std::slice::from_ref(&itp))
        .await
        .expect("describe producers");
    let ours = producers[&itp].as_ref().expect("partition 0");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        (ours[0].last_sequence, ours[0].producer_epoch),
        (4, 0),
        "{ours:?}"
    );
    assert_eq!(ours[0].coordinator_epoch, None, "{ours:?}");

    let listed = admin.list_transactions().await.expect("list");
    let t = listed
        .iter()
        .find(|t| t.transactional_id == "admin-tx-1")
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(t.producer_id, states[0].producer_id);
    assert_eq!(t.state, "CompleteCommit");

    let described = admin
        .describe_transactions(&["admin-tx-1", "admin-tx-none"])
        .await
        .expect("describe");
    let d = described["admin-tx-1"].as_ref().expect("described");
    assert_eq!(d.state, "CompleteCommit");
    assert_eq!(d.producer_id, states[0].producer_id);
    assert!(d.topic_partitions.is_empty(), "{d:?}");
    let e = described["admin-tx-none"]
        .as_ref()
        .expect_err("no such transaction");
    assert_eq!(
        e.code(),
        Some(ErrorCode(105)),
        "TRANSACTIONAL_ID_NOT_FOUND: {e}"
    );
}

#[tokio::test]
async fn client_quotas_set_read_back_with_kafka_configs_and_removed() {
    use ferrokafka::admin::{ClientQuotaAlteration, QuotaEntity, QuotaFilterComponent};
    let b = TestBroker::shared();
    let admin = admin(&b.bootstrap());
    let entity: QuotaEntity = [("user".to_string(), Some("quota-user".to_string()))].into();
    let r = admin
        .alter_client_quotas(vec![ClientQuotaAlteration {
            entity: entity.clone(),
            ops: vec![
                ("producer_byte_rate".into(), Some(1024.0)),
                ("consumer_byte_rate".into(), Some(2048.0)),
            ],
        }])
        .await
        .expect("alter");
    r[&entity].as_ref().expect("set");
    let filter = [QuotaFilterComponent::Exact(
        "user".into(),
        "quota-user".into(),
    )];
    let mut quotas = std::collections::BTreeMap::new();
    for _ in 0..50 {
        quotas = admin
            .describe_client_quotas(&filter, true)
            .await
            .expect("describe");
        if quotas.get(&entity).is_some_and(|q| q.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let q = &quotas[&entity];
    assert_eq!(q["producer_byte_rate"], 1024.0);
    assert_eq!(q["consumer_byte_rate"], 2048.0);
    let out = kafka_tools::run(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &b.bootstrap(),
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "quota-user",
        ],
    );
    assert!(
        out.contains("producer_byte_rate=1024.0") && out.contains("consumer_byte_rate=2048.0"),
        "{out}"
    );

    let bad: QuotaEntity = [("user".to_string(), Some("quota-user".to_string()))].into();
    let r = admin
        .alter_client_quotas(vec![ClientQuotaAlteration {
            entity: bad.clone(),
            ops: vec![("no_such_quota".into(), Some(1.0))],
        }])
        .await
        .expect("alter");
    let e = r[&bad].as_ref().expect_err("unknown key");
    assert!(e.to_string().contains("no_such_quota"), "{e}");

    let r = admin
        .alter_client_quotas(vec![ClientQuotaAlteration {
            entity: entity.clone(),
            ops: vec![
                ("producer_byte_rate".into(), None),
                ("consumer_byte_rate".into(), None),
            ],
        }])
        .await
        .expect("alter");
    r[&entity].as_ref().expect("removed");
    let mut gone = false;
    for _ in 0..50 {
        let q = admin
            .describe_client_quotas(&filter, true)
            .await
            .expect("describe");
        if !q.contains_key(&entity) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "quotas still there");
}

#[tokio::test]
async fn a_hanging_transaction_is_found_and_aborted() {
    use ferrokafka::admin::{AbortTransactionSpec, ListOffsetsOptions, OffsetSpec};
    use ferrokafka::config::IsolationLevel;
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-hanging-txn";
    common::create_topic(&bootstrap, topic, 1).await;
    // Kafka's perf tool in one long transaction, killed while it is open: the transaction
    // hangs until the coordinator's timeout (here 10 minutes).
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
        .args(["--throughput", "20", "--transactional-id", "admin-hanging"])
        .args(["--transaction-duration-ms", "600000", "--producer-props"])
        .arg(format!("bootstrap.servers={bootstrap}"))
        .arg("transaction.timeout.ms=600000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("perf tool");
    let tp = TopicPartition::new(topic, 0);
    let mut open = None;
    for _ in 0..300 {
        let p = admin
            .describe_producers(std::slice::from_ref(&tp))
            .await
            .expect("describe producers");
        open = p[&tp].as_ref().ok().and_then(|s| {
            s.iter()
                .find(|s| s.current_transaction_start_offset.is_some())
                .copied()
        });
        if open.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().expect("kill the producer");
    let _ = child.wait();
    let state = open.expect("an open transaction on the partition");
    assert_eq!(state.current_transaction_start_offset, Some(0));

    let listed = admin.list_transactions().await.expect("list");
    let t = listed
        .iter()
        .find(|t| t.transactional_id == "admin-hanging")
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(t.state, "Ongoing");
    let d = admin
        .describe_transactions(&["admin-hanging"])
        .await
        .expect("describe")["admin-hanging"]
        .clone()
        .expect("described");
    assert_eq!(d.topic_partitions, std::slice::from_ref(&tp));

    // The open transaction holds the last stable offset at its first record.
    let committed_end = |admin: AdminClient, tp: TopicPartition| async move {
        admin
            .list_offsets_with(
                [(tp.clone(), OffsetSpec::Latest)],
                ListOffsetsOptions {
                    isolation_level: IsolationLevel::ReadCommitted,
                },
            )
            .await
            .expect("list offsets")[&tp]
            .as_ref()
            .expect("lso")
            .offset
    };
    assert_eq!(committed_end(admin.clone(), tp.clone()).await, 0);

    admin
        .abort_transaction(AbortTransactionSpec {
            partition: tp.clone(),
            producer_id: state.producer_id,
            producer_epoch: i16::try_from(state.producer_epoch).expect("epoch"),
            coordinator_epoch: state.coordinator_epoch.unwrap_or(0),
        })
        .await
        .expect("aborted");
    let p = admin
        .describe_producers(std::slice::from_ref(&tp))
        .await
        .expect("describe producers");
    let after = p[&tp].as_ref().expect("partition 0");
    assert!(
        after
            .iter()
            .all(|s| s.current_transaction_start_offset.is_none()),
        "{after:?}"
    );
    let hw = admin
        .list_offsets([(tp.clone(), OffsetSpec::Latest)])
        .await
        .expect("hw")[&tp]
        .as_ref()
        .expect("hw")
        .offset;
    assert!(hw > 0);
    assert_eq!(
        committed_end(admin.clone(), tp.clone()).await,
        hw,
        "LSO moved to the end"
    );
}
