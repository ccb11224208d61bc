//! Tests of the producer configuration: parsing, defaults, the rules between properties
//! and their errors.

use super::*;
use crate::config::properties_for;

fn producer(extra: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
    let mut props = vec![("bootstrap.servers", "localhost:9092")];
    props.extend_from_slice(extra);
    ProducerConfig::from_properties(props)
}

fn err(extra: &[(&str, &str)]) -> ConfigError {
    producer(extra).unwrap_err()
}

/// Java 4.x's producer defaults, as written by `to_properties`.
const JAVA_DEFAULTS: &[(&str, &str)] = &[
    ("acks", "all"),
    ("api.versions.max", ""),
    ("batch.size", "16384"),
    ("bootstrap.servers", "localhost:9092"),
    ("buffer.memory", "33554432"),
    ("client.dns.lookup", "use_all_dns_ips"),
    ("client.id", ""),
    ("compression.gzip.level", "-1"),
    ("compression.lz4.level", "9"),
    ("compression.type", "none"),
    ("compression.zstd.level", "3"),
    ("connections.max.idle.ms", "540000"),
    ("delivery.timeout.ms", "120000"),
    ("enable.idempotence", "true"),
    ("linger.ms", "5"),
    ("max.block.ms", "60000"),
    ("max.in.flight.requests.per.connection", "5"),
    ("max.request.size", "1048576"),
    ("metadata.max.age.ms", "300000"),
    ("metrics.num.samples", "2"),
    ("metrics.recording.level", "INFO"),
    ("metrics.sample.window.ms", "30000"),
    ("partitioner.adaptive.partitioning.enable", "true"),
    ("partitioner.availability.timeout.ms", "0"),
    ("partitioner.class", ""),
    ("partitioner.ignore.keys", "false"),
    ("receive.buffer.bytes", "32768"),
    ("reconnect.backoff.max.ms", "1000"),
    ("reconnect.backoff.ms", "50"),
    ("request.timeout.ms", "30000"),
    ("retries", "2147483647"),
    ("retry.backoff.max.ms", "1000"),
    ("retry.backoff.ms", "100"),
    ("security.protocol", "PLAINTEXT"),
    ("send.buffer.bytes", "131072"),
    ("socket.connection.setup.timeout.max.ms", "30000"),
    ("socket.connection.setup.timeout.ms", "10000"),
    ("trace.context.propagation", "false"),
    ("transaction.timeout.ms", "60000"),
    ("transactional.id", ""),
];

#[test]
fn defaults_match_java() {
    let cfg = producer(&[]).unwrap();
    let expected: BTreeMap<String, String> = JAVA_DEFAULTS
        .iter()
        .chain(crate::config::security::DEFAULTS)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(cfg.to_properties(), expected);
    assert_eq!(expected.len(), properties_for(Client::Producer).count());
    assert_eq!(cfg.acks, Acks::All);
    assert!(cfg.enable_idempotence);
    assert_eq!(cfg.linger, Duration::from_millis(5));
    assert_eq!(cfg.batch_size, 16384);
    assert_eq!(cfg.buffer_memory, 32 << 20);
    assert_eq!(cfg.delivery_timeout, Duration::from_secs(120));
    assert_eq!(cfg.retries, i32::MAX as u32);
    assert_eq!(cfg.compression_type, "none");
    assert_eq!(cfg.partitioner, PartitionerKind::Default);
    assert_eq!(cfg.transactional_id, None);
}

#[test]
fn round_trip() {
    let cfg = producer(&[("linger.ms", "1")]).unwrap();
    assert_eq!(
        ProducerConfig::from_properties(cfg.to_properties()),
        Ok(cfg)
    );
    let cfg = ProducerConfig::builder()
        .bootstrap_servers("a:1,[::1]:2")
        .client_id("c")
        .acks(Acks::Leader)
        .linger(Duration::from_millis(20))
        .batch_size(1 << 20)
        .compression("zstd")
        .set("compression.zstd.level", "-5")
        .partitioner(PartitionerKind::RoundRobin)
        .set("partitioner.ignore.keys", "TRUE")
        .api_versions_max("Produce=9")
        .delivery_timeout(Duration::from_secs(31))
        .build()
        .unwrap();
    assert!(!cfg.enable_idempotence);
    assert_eq!(cfg.compression_zstd_level, -5);
    assert!(cfg.partitioner_ignore_keys);
    let again = ProducerConfig::from_properties(cfg.to_properties()).unwrap();
    assert_eq!(again, cfg);
    let cfg = producer(&[("delivery.timeout.ms", "30005")]);
    let cfg = cfg.unwrap();
    assert_eq!(
        ProducerConfig::from_properties(cfg.to_properties()),
        Ok(cfg)
    );
}

#[test]
fn setters_and_set_last_write_wins() {
    let b = ProducerConfig::builder()
        .bootstrap_servers("a:1")
        .linger(Duration::from_millis(1))
        .set("linger.ms", "7")
        .set("acks", "0")
        .acks(Acks::Leader)
        .set("batch.size", "1")
        .batch_size(2);
    let cfg = b.build().unwrap();
    assert_eq!(cfg.linger, Duration::from_millis(7));
    assert_eq!(cfg.acks, Acks::Leader);
    assert_eq!(cfg.batch_size, 2);
    let cfg = b
        .clone()
        .set("bootstrap.servers", "b:2")
        .enable_idempotence(false)
        .buffer_memory(1000)
        .max_block(Duration::from_secs(2))
        .max_request_size(100)
        .max_in_flight_requests_per_connection(9)
        .retries(0)
        .transactional_id("")
        .build()
        .unwrap();
    assert_eq!(cfg.common.bootstrap_servers, ["b:2"]);
    assert!(!cfg.enable_idempotence);
    assert_eq!(cfg.buffer_memory, 1000);
    assert_eq!(cfg.max_block, Duration::from_secs(2));
    assert_eq!(cfg.max_request_size, 100);
    assert_eq!(cfg.max_in_flight_requests_per_connection, 9);
    assert_eq!(cfg.retries, 0);
    assert_eq!(cfg.transactional_id, None);
}

#[test]
fn bad_values_name_the_key() {
    let e = err(&[("linger.ms", "abc")]);
    assert_eq!(e.key, "linger.ms");
    assert!(e.reason.contains("`abc`"), "{e}");
    let e = err(&[("enable.idempotence", "yes")]);
    assert_eq!(e.key, "enable.idempotence");
    assert!(e.reason.contains("expected true or false"), "{e}");
    let e = err(&[("batch.size", "-1")]);
    assert_eq!(e.key, "batch.size");
    assert!(e.reason.contains("between 0 and 2147483647 bytes"), "{e}");
    let e = err(&[("max.in.flight.requests.per.connection", "0")]);
    assert_eq!(e.key, "max.in.flight.requests.per.connection");
    assert!(e.reason.contains("between 1 and 2147483647"), "{e}");
    let e = err(&[("acks", "2")]);
    assert_eq!(
        (e.key.as_str(), e.reason.as_str()),
        ("acks", "`2` is not one of: all, -1, 0, 1")
    );
    let e = err(&[("compression.type", "brotli")]);
    assert_eq!(e.key, "compression.type");
    let e = err(&[("compression.gzip.level", "0")]);
    assert_eq!(e.key, "compression.gzip.level");
    assert!(
        e.reason.contains("-1 (codec default) or between 1 and 9"),
        "{e}"
    );
    let e = err(&[("compression.lz4.level", "18")]);
    assert!(e.reason.contains("between 1 and 17"), "{e}");
    let e = err(&[("compression.zstd.level", "-131073")]);
    assert!(e.reason.contains("between -131072 and 22"), "{e}");
    let e = err(&[("partitioner.class", "com.example.MyPartitioner")]);
    assert_eq!(e.key, "partitioner.class");
}

#[test]
fn wrong_client_and_refused_keys() {
    let e = err(&[("group.id", "g")]);
    assert_eq!(e.key, "group.id");
    assert_eq!(
        e.reason,
        "is a consumer property, not valid for the producer"
    );
    let e = err(&[("default.api.timeout.ms", "1")]);
    assert!(e.reason.contains("consumer and admin property"), "{e}");
    let e = err(&[(
        "value.serializer",
        "org.apache.kafka.common.serialization.StringSerializer",
    )]);
    assert_eq!(e.key, "value.serializer");
    assert!(e.reason.contains("bytes"), "{e}");
    let e = err(&[("lnger.ms", "1")]);
    assert_eq!(e.reason, "unknown property (did you mean `linger.ms`?)");
}

#[test]
fn explicit_idempotence_conflicts_are_errors() {
    let on = ("enable.idempotence", "true");
    let e = err(&[on, ("acks", "1")]);
    assert_eq!(e.key, "acks");
    assert!(
        e.reason.contains("conflicts with enable.idempotence=true"),
        "{e}"
    );
    let e = err(&[on, ("max.in.flight.requests.per.connection", "6")]);
    assert_eq!(e.key, "max.in.flight.requests.per.connection");
    assert!(e.reason.contains("enable.idempotence"), "{e}");
    let e = err(&[on, ("retries", "0")]);
    assert_eq!(e.key, "retries");
    assert!(e.reason.contains("enable.idempotence"), "{e}");
    let cfg = producer(&[
        on,
        ("acks", "-1"),
        ("max.in.flight.requests.per.connection", "5"),
    ]);
    assert!(cfg.unwrap().enable_idempotence);
}

#[test]
fn default_idempotence_yields_quietly() {
    for conflict in [
        ("acks", "1"),
        ("acks", "0"),
        ("max.in.flight.requests.per.connection", "6"),
        ("retries", "0"),
    ] {
        let cfg = producer(&[conflict]).unwrap();
        assert!(!cfg.enable_idempotence, "{conflict:?}");
        // The resolved config is consistent once everything is explicit.
        assert_eq!(
            ProducerConfig::from_properties(cfg.to_properties()),
            Ok(cfg)
        );
    }
}

#[test]
fn settings_without_effect_are_refused() {
    for (key, value) in [
        ("compression.lz4.level", "5"),
        ("partitioner.availability.timeout.ms", "1000"),
    ] {
        let e = err(&[(key, value)]);
        assert_eq!(e.key, key);
        assert!(e.reason.contains("not supported"), "{e}");
    }
    let cfg = producer(&[
        ("compression.lz4.level", "9"),
        ("partitioner.availability.timeout.ms", "0"),
    ])
    .unwrap();
    assert_eq!(cfg.compression_lz4_level, 9);
}

#[test]
fn transactional_id_needs_idempotence() {
    let e = err(&[("transactional.id", "tx"), ("enable.idempotence", "false")]);
    assert_eq!(e.key, "transactional.id");
    assert!(e.reason.contains("enable.idempotence=false"), "{e}");
    let e = err(&[("transactional.id", "tx"), ("acks", "1")]);
    assert_eq!(e.key, "transactional.id");
    assert!(e.reason.contains("because acks=1"), "{e}");
}

#[test]
fn delivery_timeout_floor() {
    let e = err(&[("delivery.timeout.ms", "30000"), ("linger.ms", "5")]);
    assert_eq!(e.key, "delivery.timeout.ms");
    assert!(
        e.reason
            .contains("linger.ms + request.timeout.ms (30005 ms)"),
        "{e}"
    );
    let cfg = producer(&[("delivery.timeout.ms", "30005")]).unwrap();
    assert_eq!(cfg.delivery_timeout, Duration::from_millis(30005));
    // The default is raised instead (Java logs a warning and does the same).
    let cfg = producer(&[("linger.ms", "100000"), ("request.timeout.ms", "50000")]).unwrap();
    assert_eq!(cfg.delivery_timeout, Duration::from_millis(150000));
    let e = err(&[("linger.ms", "9223372036854775807")]);
    assert_eq!(e.key, "delivery.timeout.ms");
}

#[test]
fn enum_parsing() {
    assert_eq!("ALL".parse(), Ok(Acks::All));
    assert_eq!("-1".parse(), Ok(Acks::All));
    assert_eq!(Acks::All.as_i16(), -1);
    assert_eq!(Acks::None.to_string(), "0");
    let cfg = producer(&[("acks", "-1")]).unwrap();
    assert_eq!(cfg.to_properties()["acks"], "all");
    for (s, p) in [
        ("", PartitionerKind::Default),
        ("Default", PartitionerKind::Default),
        ("round_robin", PartitionerKind::RoundRobin),
        (
            "org.apache.kafka.clients.producer.RoundRobinPartitioner",
            PartitionerKind::RoundRobin,
        ),
    ] {
        assert_eq!(
            producer(&[("partitioner.class", s)]).unwrap().partitioner,
            p
        );
    }
    let cfg = producer(&[("compression.type", "LZ4")]).unwrap();
    assert_eq!(cfg.compression_type, "lz4");
    for codec in CODECS {
        assert_eq!(
            producer(&[("compression.type", codec)])
                .unwrap()
                .compression_type,
            codec
        );
    }
}
