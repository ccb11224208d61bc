//! describe_configs / incremental_alter_configs against Apache Kafka, read back with Kafka's own
//! `kafka-configs` (org.apache.kafka.tools.ConfigCommand).

mod common;

use std::collections::BTreeMap;

use common::broker::TestBroker;
use common::kafka_tools::{self, ConfigLine};
use ferrokafka::admin::{AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, NewTopic};
use ferrokafka::{AdminClient, AdminConfig, ErrorCode};

const CONFIG_COMMAND: &str = "org.apache.kafka.tools.ConfigCommand";

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    )
}

/// Our entry in the shape kafka-configs prints.
fn as_line(e: &ConfigEntry) -> ConfigLine {
    ConfigLine {
        name: e.name.clone(),
        value: e.value.clone(),
        sensitive: e.is_sensitive,
        synonyms: e
            .synonyms
            .iter()
            .map(|s| {
                format!(
                    "{}:{}={}",
                    s.source.name(),
                    s.name,
                    s.value.as_deref().unwrap_or("null")
                )
            })
            .collect(),
    }
}

fn describe_with_tool(bootstrap: &str, entity_type: &str, name: &str) -> Vec<ConfigLine> {
    let out = kafka_tools::run(
        CONFIG_COMMAND,
        &[
            "--bootstrap-server",
            bootstrap,
            "--entity-type",
            entity_type,
            "--entity-name",
            name,
            "--describe",
            "--all",
        ],
    );
    let lines = kafka_tools::parse_config_lines(&out);
    assert!(!lines.is_empty(), "no config lines in:\n{out}");
    lines
}

fn assert_same_as_tool(ours: &BTreeMap<String, ConfigEntry>, tool: &[ConfigLine]) {
    for line in tool {
        let entry = ours
            .get(&line.name)
            .unwrap_or_else(|| panic!("kafka-configs shows {} but we do not", line.name));
        assert_eq!(&as_line(entry), line, "config {}", line.name);
    }
    assert_eq!(ours.len(), tool.len(), "config count");
}

#[tokio::test]
async fn topic_configs_set_append_subtract_delete_read_back_with_kafka_configs() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let topic = "admin-configs-topic";
    admin
        .create_topics([NewTopic::new(topic, 1, 1)])
        .await
        .expect("create")[topic]
        .as_ref()
        .expect("created");
    let res = ConfigResource::topic(topic);

    let altered = admin
        .incremental_alter_configs([(
            res.clone(),
            vec![
                AlterConfigOp::set("retention.ms", "123456"),
                AlterConfigOp::Append("cleanup.policy".into(), "compact".into()),
                AlterConfigOp::set("max.message.bytes", "200000"),
            ],
        )])
        .await
        .expect("alter request");
    altered[&res].as_ref().expect("altered");

    let configs = &described_once_set(&admin, &res, "retention.ms", "123456").await;
    let retention = &configs["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("123456"));
    assert_eq!(retention.source, ConfigSource::DynamicTopicConfig);
    assert!(!retention.is_read_only && !retention.is_sensitive);
    assert_eq!(
        retention.synonyms.first().map(|s| s.name.as_str()),
        Some("retention.ms")
    );
    assert_eq!(
        configs["cleanup.policy"].value.as_deref(),
        Some("delete,compact")
    );
    assert_same_as_tool(configs, &describe_with_tool(&bootstrap, "topics", topic));

    let altered = admin
        .incremental_alter_configs([(
            res.clone(),
            vec![
                AlterConfigOp::delete("retention.ms"),
                AlterConfigOp::Subtract("cleanup.policy".into(), "delete".into()),
            ],
        )])
        .await
        .expect("alter request");
    altered[&res].as_ref().expect("altered");
    let configs = &described_once_set(&admin, &res, "cleanup.policy", "compact").await;
    assert_eq!(configs["retention.ms"].source, ConfigSource::DefaultConfig);
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("604800000"));
    assert_eq!(configs["cleanup.policy"].value.as_deref(), Some("compact"));
    assert_same_as_tool(configs, &describe_with_tool(&bootstrap, "topics", topic));
}

#[tokio::test]
async fn broker_configs_equal_kafka_configs_and_a_dynamic_set_reads_back() {
    let b = TestBroker::shared();
    let bootstrap = b.bootstrap();
    let admin = admin(&bootstrap);
    let res = ConfigResource::broker(1);
    let altered = admin
        .incremental_alter_configs([(
            res.clone(),
            vec![AlterConfigOp::set("log.cleaner.threads", "2")],
        )])
        .await
        .expect("alter request");
    altered[&res].as_ref().expect("altered");

    let configs = described_once_set(&admin, &res, "log.cleaner.threads", "2").await;
    let configs = &configs;
    let threads = &configs["log.cleaner.threads"];
    assert_eq!(threads.value.as_deref(), Some("2"));
    assert_eq!(threads.source, ConfigSource::DynamicBrokerConfig);
    assert!(
        configs["node.id"].is_read_only,
        "node.id cannot change at runtime"
    );
    assert_same_as_tool(configs, &describe_with_tool(&bootstrap, "brokers", "1"));

    admin
        .incremental_alter_configs([(
            res.clone(),
            vec![AlterConfigOp::delete("log.cleaner.threads")],
        )])
        .await
        .expect("alter request")[&res]
        .as_ref()
        .expect("deleted");
}

/// `res`'s configs once `key` reads `want`, or as last described after 5 s. The controller
/// applies topic, broker and group configs; a broker learns them from the metadata log a moment
/// later (a group config, then a topic config, read straight back gave the old value in CI).
async fn described_once_set(
    admin: &AdminClient,
    res: &ConfigResource,
    key: &str,
    want: &str,
) -> BTreeMap<String, ConfigEntry> {
    let mut configs = BTreeMap::new();
    for _ in 0..50 {
        let described = admin
            .describe_configs([res.clone()])
            .await
            .expect("describe");
        configs = described[res].as_ref().expect("described").clone();
        if configs.get(key).and_then(|e| e.value.as_deref()) == Some(want) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    configs
}

#[tokio::test]
async fn group_config_set_reads_back() {
    let b = TestBroker::shared();
    let admin = admin(&b.bootstrap());
    let res = ConfigResource::group("admin-configs-group");
    admin
        .incremental_alter_configs([(
            res.clone(),
            vec![AlterConfigOp::set("consumer.session.timeout.ms", "50000")],
        )])
        .await
        .expect("alter request")[&res]
        .as_ref()
        .expect("altered");
    let configs = described_once_set(&admin, &res, "consumer.session.timeout.ms", "50000").await;
    let e = &configs["consumer.session.timeout.ms"];
    assert_eq!(e.value.as_deref(), Some("50000"));
    assert_eq!(e.source, ConfigSource::GroupConfig);
}

#[tokio::test]
async fn bad_config_input_fails_per_resource_with_the_brokers_message() {
    let b = TestBroker::shared();
    let admin = admin(&b.bootstrap());
    let topic = "admin-configs-bad-input";
    admin
        .create_topics([NewTopic::new(topic, 1, 1)])
        .await
        .expect("create")[topic]
        .as_ref()
        .expect("created");
    let good = ConfigResource::topic(topic);
    let missing = ConfigResource::topic("admin-configs-no-such-topic");

    let described = admin
        .describe_configs([good.clone(), missing.clone()])
        .await
        .expect("describe");
    assert!(described[&good].is_ok());
    let e = described[&missing].as_ref().expect_err("unknown topic");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");

    let invalid = ConfigResource::topic(topic);
    let altered = admin
        .incremental_alter_configs([
            (
                invalid.clone(),
                vec![AlterConfigOp::set("retention.ms", "not-a-number")],
            ),
            (
                missing.clone(),
                vec![AlterConfigOp::set("retention.ms", "1000")],
            ),
        ])
        .await
        .expect("alter request");
    let e = altered[&invalid].as_ref().expect_err("invalid value");
    assert_eq!(e.code(), Some(ErrorCode(40)), "INVALID_CONFIG: {e}");
    assert!(
        e.to_string().contains("not-a-number"),
        "broker message: {e}"
    );
    let e = altered[&missing].as_ref().expect_err("unknown topic");
    assert_eq!(e.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "{e}");

    let altered = admin
        .incremental_alter_configs([(
            invalid.clone(),
            vec![AlterConfigOp::set("no.such.config", "1")],
        )])
        .await
        .expect("alter request");
    let e = altered[&invalid].as_ref().expect_err("unknown config");
    assert_eq!(e.code(), Some(ErrorCode(40)), "INVALID_CONFIG: {e}");
    assert!(
        e.to_string().contains("no.such.config"),
        "broker message: {e}"
    );

    // Nothing was changed by the failed requests.
    let described = admin
        .describe_configs([good.clone()])
        .await
        .expect("describe");
    let configs = described[&good].as_ref().expect("described");
    assert_eq!(configs["retention.ms"].source, ConfigSource::DefaultConfig);
}
