//! A broker that hangs costs only its own partitions, and `close(timeout)` keeps its timeout,
//! whatever the brokers do (issue #11, item 10). The MockCluster makes a broker unreachable in
//! the two ways networks do: it accepts connections and never answers, or it drops SYNs.

mod common;

use std::time::Duration;

use common::close_in_time;

use ferrokafka::mock::{MockCluster, Unreachable};
use ferrokafka::{Error, KafkaProducer, ProducerConfig, ProducerRecord};

/// Long enough that a sender waiting on the hung broker inline would stall far past the
/// bounds asserted below.
const HANG: &str = "20000";

fn producer(bootstrap: &str) -> KafkaProducer {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("linger.ms", "1")
        .set("request.timeout.ms", HANG)
        .set("socket.connection.setup.timeout.ms", HANG)
        .set("socket.connection.setup.timeout.max.ms", HANG)
        .set("delivery.timeout.ms", "60000")
        .set("retry.backoff.ms", "10")
        .build()
        .expect("config");
    KafkaProducer::new(config).expect("producer")
}

/// Three brokers, topic `t` with six partitions; the producer is warmed up on every partition
/// (metadata, producer id, a connection per broker).
async fn warm() -> (MockCluster, KafkaProducer) {
    let c = MockCluster::builder()
        .brokers(3)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("t", 6));
    let p = producer(&c.bootstrap_servers());
    for part in 0..6 {
        p.send(ProducerRecord::new("t", "warm").partition(part))
            .await
            .expect("warm up");
    }
    (c, p)
}

/// Sends `n` records to every partition not led by `hung` (and first some to those it leads)
/// and requires the healthy ones delivered within `bound`, then checks the broker stored them.
async fn healthy_partitions_keep_flowing(c: &MockCluster, p: &KafkaProducer, hung: i32) {
    let mut stuck = Vec::new();
    let (hung_parts, healthy): (Vec<i32>, Vec<i32>) =
        (0..6).partition(|part| c.leader("t", *part) == Some(hung));
    assert!(
        !hung_parts.is_empty() && !healthy.is_empty(),
        "leaders spread"
    );
    for part in &hung_parts {
        stuck.push(
            p.enqueue(ProducerRecord::new("t", "stuck").partition(*part))
                .await
                .expect("enqueue"),
        );
    }
    let mut futures = Vec::new();
    for i in 0..3_000 {
        let part = healthy[i % healthy.len()];
        futures.push(
            p.enqueue(ProducerRecord::new("t", i.to_string()).partition(part))
                .await
                .expect("enqueue"),
        );
    }
    let delivered = tokio::time::timeout(Duration::from_secs(5), async {
        for f in futures {
            f.await.expect("delivered");
        }
    })
    .await;
    assert!(
        delivered.is_ok(),
        "records for healthy leaders waited on the hung broker"
    );
    for (i, part) in healthy.iter().enumerate() {
        let sent = (0..3_000).filter(|n| n % healthy.len() == i).count() as i64;
        let end = c.end_offset("t", *part).expect("partition");
        assert_eq!(
            end,
            1 + sent,
            "partition {part}: the warm-up record and every send"
        );
    }
    for f in stuck {
        let r = tokio::time::timeout(Duration::from_millis(1), f).await;
        assert!(r.is_err(), "nothing can reach the hung broker: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_broker_delays_only_its_own_partitions() {
    let (c, p) = warm().await;
    // Its connections drop, so the producer must connect again, and the handshake is never
    // answered.
    c.stop_broker(2);
    c.start_broker(2).await.expect("restart");
    c.make_unreachable(2, Unreachable::Silent)
        .await
        .expect("silence");
    healthy_partitions_keep_flowing(&c, &p, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syn_dropping_broker_delays_only_its_own_partitions() {
    let (c, p) = warm().await;
    c.make_unreachable(2, Unreachable::DropSyns)
        .await
        .expect("blackhole");
    healthy_partitions_keep_flowing(&c, &p, 2).await;
}

/// `close(timeout)` returns within its timeout, and every record it could not deliver
/// completes with a typed error.
async fn close_keeps_its_timeout(p: KafkaProducer) {
    let mut futures = Vec::new();
    for i in 0..100 {
        futures.push(
            p.enqueue(ProducerRecord::new("t", i.to_string()).partition(i % 6))
                .await
                .expect("enqueue"),
        );
    }
    close_in_time("producer with a hung broker", p).await;
    let mut failed = 0;
    for f in futures {
        match tokio::time::timeout(Duration::from_millis(100), f).await {
            Ok(Ok(_)) => {}
            Ok(Err(Error::DeliveryTimeout { .. })) => failed += 1,
            Ok(Err(e)) => panic!("unexpected error {e}"),
            Err(_) => panic!("a record's future did not complete after close"),
        }
    }
    assert!(
        failed > 0,
        "the hung broker's records cannot have been delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_its_timeout_while_connecting_to_a_syn_dropping_broker() {
    let (c, p) = warm().await;
    c.make_unreachable(2, Unreachable::DropSyns)
        .await
        .expect("blackhole");
    close_keeps_its_timeout(p).await;
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_keeps_its_timeout_when_no_broker_ever_answers() {
    let c = MockCluster::builder().build().await.expect("mock");
    assert!(c.create_topic("t", 1));
    c.make_unreachable(1, Unreachable::Silent)
        .await
        .expect("silence");
    let p = producer(&c.bootstrap_servers());
    // No metadata can arrive, so the send gives up after max.block.ms (60 s by default).
    let send = tokio::time::timeout(
        Duration::from_millis(300),
        p.send(ProducerRecord::new("t", "never")),
    )
    .await;
    assert!(send.is_err(), "no broker answers: {send:?}");
    close_in_time("producer without metadata", p).await;
}
