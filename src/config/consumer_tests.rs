//! Tests of the consumer configuration: parsing, defaults, the rules between properties
//! and their errors.

use super::*;
use crate::config::properties_for;

fn consumer(extra: &[(&str, &str)]) -> Result<ConsumerConfig, ConfigError> {
    let mut props = vec![("bootstrap.servers", "localhost:9092"), ("group.id", "g")];
    props.extend_from_slice(extra);
    ConsumerConfig::from_properties(props)
}

fn err(extra: &[(&str, &str)]) -> ConfigError {
    consumer(extra).unwrap_err()
}

#[test]
fn exclude_internal_topics_false_is_accepted() {
    let cfg = consumer(&[("exclude.internal.topics", "false")]).expect("config");
    assert!(!cfg.exclude_internal_topics);
}

/// Java 4.x's consumer defaults (plus group.id=g), as written by `to_properties`.
const JAVA_DEFAULTS: &[(&str, &str)] = &[
    ("allow.auto.create.topics", "true"),
    ("api.versions.max", ""),
    ("auto.commit.interval.ms", "5000"),
    ("auto.offset.reset", "latest"),
    ("bootstrap.servers", "localhost:9092"),
    ("check.crcs", "true"),
    ("client.dns.lookup", "use_all_dns_ips"),
    ("client.id", ""),
    ("client.rack", ""),
    ("connections.max.idle.ms", "540000"),
    ("default.api.timeout.ms", "60000"),
    ("enable.auto.commit", "true"),
    ("exclude.internal.topics", "true"),
    ("fetch.buffer.memory", "67108864"),
    ("fetch.max.bytes", "52428800"),
    ("fetch.max.wait.ms", "500"),
    ("fetch.min.bytes", "1"),
    ("group.id", "g"),
    ("group.instance.id", ""),
    ("group.protocol", "classic"),
    ("group.remote.assignor", ""),
    ("heartbeat.interval.ms", "3000"),
    ("isolation.level", "read_uncommitted"),
    ("max.partition.fetch.bytes", "1048576"),
    ("max.poll.interval.ms", "300000"),
    ("max.poll.records", "500"),
    ("metadata.max.age.ms", "300000"),
    ("metrics.num.samples", "2"),
    ("metrics.recording.level", "INFO"),
    ("metrics.sample.window.ms", "30000"),
    ("partition.assignment.strategy", "range,cooperative-sticky"),
    ("receive.buffer.bytes", "65536"),
    ("reconnect.backoff.max.ms", "1000"),
    ("reconnect.backoff.ms", "50"),
    ("request.timeout.ms", "30000"),
    ("retry.backoff.max.ms", "1000"),
    ("retry.backoff.ms", "100"),
    ("security.protocol", "PLAINTEXT"),
    ("send.buffer.bytes", "131072"),
    ("session.timeout.ms", "45000"),
    ("socket.connection.setup.timeout.max.ms", "30000"),
    ("socket.connection.setup.timeout.ms", "10000"),
    ("trace.context.propagation", "false"),
];

#[test]
fn defaults_match_java() {
    let cfg = consumer(&[]).unwrap();
    let expected: BTreeMap<String, String> = JAVA_DEFAULTS
        .iter()
        .chain(crate::config::security::DEFAULTS)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(cfg.to_properties(), expected);
    assert_eq!(expected.len(), properties_for(Client::Consumer).count());
    assert_eq!(cfg.group_id.as_deref(), Some("g"));
    assert_eq!(cfg.session_timeout, Duration::from_secs(45));
    assert_eq!(cfg.heartbeat_interval, Duration::from_secs(3));
    assert!(cfg.enable_auto_commit);
    assert_eq!(cfg.auto_offset_reset, AutoOffsetReset::Latest);
    assert_eq!(cfg.isolation_level, IsolationLevel::ReadUncommitted);
    assert_eq!(
        cfg.partition_assignment_strategy,
        [Assignor::Range, Assignor::CooperativeSticky]
    );
    assert_eq!(cfg.fetch_max_bytes, 50 << 20);
    assert_eq!(cfg.default_api_timeout, Duration::from_secs(60));
}

#[test]
fn no_group_turns_auto_commit_off() {
    let cfg = ConsumerConfig::builder()
        .bootstrap_servers("a:1")
        .build()
        .unwrap();
    assert_eq!(cfg.group_id, None);
    assert!(!cfg.enable_auto_commit);
    assert_eq!(
        ConsumerConfig::from_properties(cfg.to_properties()),
        Ok(cfg)
    );
    let e = ConsumerConfig::builder()
        .bootstrap_servers("a:1")
        .enable_auto_commit(true)
        .build()
        .unwrap_err();
    assert_eq!(e.key, "enable.auto.commit");
    assert!(e.reason.contains("group.id"), "{e}");
    // An empty group.id is unset.
    let e = err(&[("group.id", ""), ("enable.auto.commit", "true")]);
    assert_eq!(e.key, "enable.auto.commit");
}

#[test]
fn fetch_buffer_memory_below_fetch_sizes_is_fine_but_zero_or_negative_is_not() {
    let cfg = consumer(&[("fetch.buffer.memory", "1000")]).expect("config");
    assert_eq!(cfg.fetch_buffer_memory, 1000);
    assert_eq!(consumer(&[]).expect("config").fetch_buffer_memory, 64 << 20);
    for bad in ["0", "-1"] {
        let e = err(&[("fetch.buffer.memory", bad)]);
        assert_eq!(e.key, "fetch.buffer.memory", "{bad}: {e}");
    }
}

#[test]
fn conflicts() {
    let e = err(&[("heartbeat.interval.ms", "45000")]);
    assert_eq!(e.key, "heartbeat.interval.ms");
    assert!(e.reason.contains("session.timeout.ms (45000 ms)"), "{e}");
    let e = err(&[("session.timeout.ms", "2000")]);
    assert_eq!(e.key, "heartbeat.interval.ms");
    let e = err(&[("fetch.min.bytes", "100"), ("fetch.max.bytes", "99")]);
    assert_eq!(e.key, "fetch.min.bytes");
    assert!(e.reason.contains("fetch.max.bytes (99)"), "{e}");
    let e = ConsumerConfig::from_properties([
        ("bootstrap.servers", "a:1"),
        ("group.instance.id", "i"),
        ("enable.auto.commit", "false"),
    ])
    .unwrap_err();
    assert_eq!(e.key, "group.instance.id");
    assert!(e.reason.contains("group.id"), "{e}");
}

#[test]
fn bad_values_name_the_key() {
    let e = err(&[("max.poll.records", "0")]);
    assert_eq!(e.key, "max.poll.records");
    assert!(e.reason.contains("between 1 and 2147483647"), "{e}");
    let e = err(&[("check.crcs", "1")]);
    assert_eq!(e.key, "check.crcs");
    let e = err(&[("auto.offset.reset", "smallest")]);
    assert_eq!(e.reason, "`smallest` is not one of: earliest, latest, none");
    let e = err(&[("isolation.level", "serializable")]);
    assert_eq!(e.key, "isolation.level");
    let e = err(&[("group.protocol", "generic")]);
    assert_eq!(e.key, "group.protocol");
    let e = err(&[("partition.assignment.strategy", "range,,sticky")]);
    assert!(e.reason.contains("empty entry"), "{e}");
    let e = err(&[("partition.assignment.strategy", "")]);
    assert!(e.reason.contains("at least one assignor"), "{e}");
    let e = err(&[("partition.assignment.strategy", "com.example.Mine")]);
    assert_eq!(e.key, "partition.assignment.strategy");
    let e = err(&[("max.poll.interval.ms", "0")]);
    assert!(e.reason.contains("between 1 and 2147483647 ms"), "{e}");
}

#[test]
fn wrong_client_and_refused_keys() {
    let e = err(&[("linger.ms", "5")]);
    assert_eq!(
        e.reason,
        "is a producer property, not valid for the consumer"
    );
    let e = err(&[("key.deserializer", "x")]);
    assert!(e.reason.contains("bytes"), "{e}");
    let e = err(&[("group.idd", "x")]);
    assert_eq!(e.reason, "unknown property (did you mean `group.id`?)");
}

#[test]
fn assignor_names_are_normalised() {
    let cfg = consumer(&[(
        "partition.assignment.strategy",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor, RoundRobin,\
         org.apache.kafka.clients.consumer.StickyAssignor,\
         org.apache.kafka.clients.consumer.RangeAssignor",
    )])
    .unwrap();
    assert_eq!(
        cfg.partition_assignment_strategy,
        [
            Assignor::CooperativeSticky,
            Assignor::RoundRobin,
            Assignor::Sticky,
            Assignor::Range
        ]
    );
    assert_eq!(
        cfg.to_properties()["partition.assignment.strategy"],
        "cooperative-sticky,roundrobin,sticky,range"
    );
    for a in Assignor::ALL {
        assert_eq!(a.java_class().parse(), Ok(a));
        assert_eq!(a.as_str().parse(), Ok(a));
    }
}

#[test]
fn setters_round_trip_and_last_write_wins() {
    let cfg = ConsumerConfig::builder()
        .bootstrap_servers("a:1")
        .group_id("first")
        .set("group.id", "second")
        .set("auto.offset.reset", "none")
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .group_instance_id("inst")
        .session_timeout(Duration::from_secs(10))
        .heartbeat_interval(Duration::from_secs(1))
        .max_poll_interval(Duration::from_secs(20))
        .max_poll_records(10)
        .enable_auto_commit(false)
        .auto_commit_interval(Duration::from_secs(2))
        .fetch_min_bytes(10)
        .fetch_max_bytes(1000)
        .max_partition_fetch_bytes(500)
        .fetch_max_wait(Duration::from_millis(50))
        .isolation_level(IsolationLevel::ReadCommitted)
        .partition_assignment_strategy(&[Assignor::Sticky])
        .client_rack("r1")
        .default_api_timeout(Duration::from_secs(9))
        .set("check.crcs", "False")
        .build()
        .unwrap();
    assert_eq!(cfg.group_id.as_deref(), Some("second"));
    assert_eq!(cfg.auto_offset_reset, AutoOffsetReset::Earliest);
    assert_eq!(cfg.group_instance_id.as_deref(), Some("inst"));
    assert_eq!(cfg.session_timeout, Duration::from_secs(10));
    assert_eq!(cfg.heartbeat_interval, Duration::from_secs(1));
    assert_eq!(cfg.max_poll_interval, Duration::from_secs(20));
    assert_eq!(cfg.max_poll_records, 10);
    assert!(!cfg.enable_auto_commit);
    assert_eq!(cfg.auto_commit_interval, Duration::from_secs(2));
    assert_eq!((cfg.fetch_min_bytes, cfg.fetch_max_bytes), (10, 1000));
    assert_eq!(cfg.max_partition_fetch_bytes, 500);
    assert_eq!(cfg.fetch_max_wait, Duration::from_millis(50));
    assert_eq!(cfg.isolation_level, IsolationLevel::ReadCommitted);
    assert_eq!(cfg.isolation_level.as_i8(), 1);
    assert_eq!(cfg.partition_assignment_strategy, [Assignor::Sticky]);
    assert_eq!(cfg.client_rack, "r1");
    assert_eq!(cfg.default_api_timeout, Duration::from_secs(9));
    assert!(!cfg.check_crcs);
    assert_eq!(
        ConsumerConfig::from_properties(cfg.to_properties()),
        Ok(cfg)
    );
}
