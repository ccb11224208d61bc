//! Races between the sender loop and the transaction's own calls, widened on purpose with the
//! manager's test hook so they happen every run.

use std::sync::mpsc;
use std::time::Duration;

use crate::mock::{Fault, FaultAction, MockCluster};
use crate::{KafkaProducer, ProducerConfig, ProducerRecord};

async fn producer(c: &MockCluster) -> KafkaProducer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(c.bootstrap_servers())
        .set("transactional.id", "race")
        .set("linger.ms", "0")
        .build()
        .expect("config");
    let p = KafkaProducer::new(config).expect("producer");
    p.init_transactions().await.expect("init");
    p
}

/// The sender saw the aborting transaction's error, then stalled before failing what was
/// queued; meanwhile the abort ended and the next transaction queued a record. That record
/// belongs to a healthy transaction: it must be delivered, not failed with the old abort.
/// (Seen in CI as `mock_transactions`' "transaction must be aborted: transaction aborted".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_abort_fails_nothing_of_the_next_transaction() {
    let c = MockCluster::builder().build().await.expect("mock");
    assert!(c.create_topic("t", 1));
    let p = producer(&c).await;
    let tm = p.txn().expect("transactional").clone();
    let (at_check, at_check_rx) = mpsc::channel::<()>();
    let (go, go_rx) = mpsc::channel::<()>();
    *tm.error_check_hook.lock().expect("hook") = Some(Box::new(move || {
        let _ = at_check.send(());
        // Bounded: a fixed manager makes the abort wait for this window to close instead.
        let _ = go_rx.recv_timeout(Duration::from_millis(500));
    }));

    p.begin_transaction().expect("begin a");
    // A delivered record: the abort then needs an EndTxn, a round trip in which the woken
    // sender sees the aborting state.
    p.send(ProducerRecord::new("t", "a-0"))
        .await
        .expect("a-0 delivered");
    // EndTxn answers late, so the woken sender surely sees the aborting state before the
    // abort ends (on a loaded machine it could otherwise first run after the answer: CI).
    const END_TXN: i16 = 26;
    c.inject(Fault::new(
        END_TXN,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    p.abort_transaction().await.expect("abort a");
    // The sender ran the hook for the abort (the window is open, or already closed).
    tokio::task::spawn_blocking(move || at_check_rx.recv_timeout(Duration::from_secs(5)))
        .await
        .expect("join")
        .expect("the sender saw the abort");

    p.begin_transaction().expect("begin b");
    let sent = p.send(ProducerRecord::new("t", "b-0"));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = go.send(());
    let md = tokio::time::timeout(Duration::from_secs(10), sent)
        .await
        .expect("delivered in time")
        .expect("the next transaction's record is delivered");
    assert!(md.offset > 0, "after a-0 and its abort marker");
    p.commit_transaction().await.expect("commit b");
    let committed = c.committed_records("t", 0).expect("records");
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].value.as_deref(), Some(&b"b-0"[..]));
    p.close(Duration::from_secs(5)).await;
}

/// Transactions version 1: a partition's first batch waits for AddPartitionsToTxn. A second
/// partition's batch queued while the first AddPartitionsToTxn runs must get its own as soon
/// as that one answers, even if the task that ran it has not quite ended when the woken
/// sender looks (it slept until the batch expired, 120 s, in a chaos run: #13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_queued_during_add_partitions_is_added_next() {
    let c = MockCluster::builder()
        .transaction_version(1)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic("t", 2));
    let p = producer(&c).await;
    let tm = p.txn().expect("transactional").clone();
    *tm.add_task_linger.lock().expect("linger") = Some(Duration::from_secs(2));
    // The first AddPartitionsToTxn answers late, so the second record queues meanwhile.
    c.inject(Fault::new(24, FaultAction::Delay(Duration::from_millis(300))).times(1));

    p.begin_transaction().expect("begin");
    let first = p.send(ProducerRecord::new("t", "p0").partition(0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = p.send(ProducerRecord::new("t", "p1").partition(1));
    for (name, f) in [("p0", first), ("p1", second)] {
        tokio::time::timeout(Duration::from_secs(1), f)
            .await
            .unwrap_or_else(|_| panic!("{name} not delivered within 1 s"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    p.commit_transaction().await.expect("commit");
    assert_eq!(c.committed_records("t", 0).expect("p0").len(), 1);
    assert_eq!(c.committed_records("t", 1).expect("p1").len(), 1);
    p.close(Duration::from_secs(5)).await;
}
