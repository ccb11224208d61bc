//! Client helpers for the tests against [`SecureBroker`]'s listeners.

use std::time::{Duration, Instant};

use ferrokafka::admin::NewTopic;
use ferrokafka::consumer::TopicPartition;
use ferrokafka::{
    AdminClient, AdminConfig, ConsumerConfig, Error, KafkaConsumer, KafkaProducer, ProducerConfig,
    ProducerRecord,
};

use super::secure_broker::SecureBroker;

pub const SCRAM: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
pub const PLAIN: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

pub fn jaas(module: &str, password: &str) -> String {
    format!("{module} required username=\"alice\" password=\"{password}\";")
}

/// Properties to reach `listener` with the test CA trusted, plus `extra` (later wins).
pub fn props(b: &SecureBroker, listener: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let protocol = match listener {
        "MTLS" | "WRONGHOST" | "EXPIRED" | "TLS13" => "SSL",
        "OAUTH" | "REAUTH" => "SASL_SSL",
        other => other,
    };
    let mut p = vec![
        ("bootstrap.servers".to_owned(), b.bootstrap(listener)),
        ("security.protocol".to_owned(), protocol.to_owned()),
        ("request.timeout.ms".to_owned(), "10000".to_owned()),
        (
            "socket.connection.setup.timeout.ms".to_owned(),
            "5000".to_owned(),
        ),
    ];
    if protocol.ends_with("SSL") {
        p.push(("ssl.truststore.location".into(), b.file("ca.pem")));
    }
    p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    p
}

/// `p` without producer-only keys, for admin clients and consumers.
pub fn shared_keys(p: &[(String, String)]) -> Vec<(String, String)> {
    p.iter()
        .filter(|(k, _)| k != "compression.type")
        .cloned()
        .collect()
}

pub fn admin(p: &[(String, String)]) -> AdminClient {
    AdminClient::new(AdminConfig::from_properties(shared_keys(p)).expect("admin config"))
}

/// Creates a topic through `p`'s listener, then produces `n` records and reads them back,
/// checking every value.
pub async fn round_trip(p: &[(String, String)], topic: &str, n: usize) {
    let r = admin(p)
        .create_topics([NewTopic::new(topic, 2, 1)])
        .await
        .expect("create_topics");
    r[topic].as_ref().expect("topic created");
    let mut pc = p.to_vec();
    pc.push(("linger.ms".into(), "5".into()));
    let producer =
        KafkaProducer::new(ProducerConfig::from_properties(pc).expect("producer config"))
            .expect("producer");
    let mut acks = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new(topic, format!("v{i}")).partition(i as i32 % 2);
        acks.push(producer.enqueue(rec).await.expect("enqueue"));
    }
    for a in acks {
        a.await.expect("delivery");
    }
    producer.close(Duration::from_secs(10)).await;
    let mut cc = shared_keys(p);
    cc.push(("auto.offset.reset".into(), "earliest".into()));
    let mut consumer =
        KafkaConsumer::new(ConsumerConfig::from_properties(cc).expect("consumer config"))
            .expect("consumer");
    consumer
        .assign([TopicPartition::new(topic, 0), TopicPartition::new(topic, 1)])
        .expect("assign");
    let mut seen = vec![false; n];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut count = 0;
    while count < n && Instant::now() < deadline {
        for rec in consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let v = String::from_utf8(rec.value.expect("value").to_vec()).expect("utf8");
            let i: usize = v[1..].parse().expect("index");
            assert!(!seen[i], "record {i} read twice");
            seen[i] = true;
            count += 1;
        }
    }
    assert_eq!(count, n, "records read back over {topic}");
}

/// A metadata request through `p`, which must fail: the error and how long it took.
pub async fn failure(p: &[(String, String)]) -> (Error, Duration) {
    let started = Instant::now();
    let e = admin(p)
        .list_topics()
        .await
        .expect_err("a connection that must fail succeeded");
    (e, started.elapsed())
}

/// The error at the bottom of a `NoBrokerReachable`.
pub fn root(e: Error) -> Error {
    match e {
        Error::NoBrokerReachable { last, .. } => root(*last),
        other => other,
    }
}
