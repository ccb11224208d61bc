//! Shared test support.
#![allow(dead_code)]

pub mod broker;

use std::time::Duration;

use ferrokafka::admin::NewTopic;
use ferrokafka::{AdminClient, AdminConfig, KafkaProducer, ProducerConfig, ProducerRecord};

/// Creates `name` with `partitions` partitions (panics on failure).
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin = AdminClient::new(
        AdminConfig::builder()
            .bootstrap_servers(bootstrap)
            .build()
            .expect("admin config"),
    );
    let r = admin
        .create_topics([NewTopic::new(name, partitions, 1)])
        .await
        .expect("create topics");
    r[name].as_ref().expect("topic created");
}

/// A producer with extra properties.
pub fn producer(bootstrap: &str, props: &[(&str, &str)]) -> KafkaProducer {
    let mut b = ProducerConfig::builder().bootstrap_servers(bootstrap);
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    KafkaProducer::new(b.build().expect("producer config")).expect("producer")
}

/// Produces `values` round robin over `partitions` partitions (value i to partition i % n),
/// waits for every acknowledgement.
pub async fn produce_values(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    values: impl IntoIterator<Item = String>,
    codec: &str,
) {
    let p = producer(
        bootstrap,
        &[("compression.type", codec), ("linger.ms", "5")],
    );
    let mut futures = Vec::new();
    for (i, v) in values.into_iter().enumerate() {
        let rec = ProducerRecord::new(topic, v).partition(i as i32 % partitions);
        futures.push(p.enqueue(rec).await.expect("enqueue"));
    }
    for f in futures {
        f.await.expect("delivered");
    }
    p.close(Duration::from_secs(10)).await;
}
