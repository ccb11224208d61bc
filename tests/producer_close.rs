//! `close(timeout)` keeps its timeout against a real broker that stops answering (a paused
//! Apache Kafka process: the kernel still accepts connections, nothing is ever answered).

mod common;

use std::time::Duration;

use common::broker::TestBroker;
use common::{close_in_time, create_topic, producer};
use ferrokafka::{Error, ProducerRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_its_timeout_when_the_broker_is_paused() {
    let b = TestBroker::start();
    create_topic(&b.bootstrap(), "paused", 3).await;
    let warm = producer(&b.bootstrap(), &[]);
    let mut delivered = 0;
    for i in 0..30 {
        warm.send(ProducerRecord::new("paused", i.to_string()))
            .await
            .expect("send before the pause");
        delivered += 1;
    }
    assert_eq!(delivered, 30);
    b.pause();
    // In flight when the broker froze: the warm producer's requests are never answered.
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            warm.enqueue(ProducerRecord::new("paused", i.to_string()))
                .await
                .expect("enqueue"),
        );
    }
    // A fresh producer must connect: the handshake is never answered, so it has no metadata.
    let cold = producer(&b.bootstrap(), &[("max.block.ms", "300")]);
    let send = cold.send(ProducerRecord::new("paused", "cold")).await;
    assert!(
        matches!(send, Err(Error::Timeout(_))),
        "no metadata within max.block.ms: {send:?}"
    );
    close_in_time("producer with requests in flight", warm).await;
    close_in_time("producer still connecting", cold).await;
    let mut failed = 0;
    for f in futures {
        match tokio::time::timeout(Duration::from_millis(100), f).await {
            Ok(Err(Error::DeliveryTimeout { .. })) => failed += 1,
            other => panic!("a record sent to a paused broker: {other:?}"),
        }
    }
    assert_eq!(failed, 100);
    b.resume();
}
