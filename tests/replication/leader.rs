//! A consumer reading across leader changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use ferrokafka::ProducerRecord;
use ferrokafka::consumer::TopicPartition;
use tokio::time::Instant;

use crate::env::*;

/// (offset, value, leader epoch) of a record the consumer received.
pub(crate) type Received = (i64, u64, Option<i32>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn consumer_continues_across_leader_changes() {
    let mut env = env().await;
    const TOPIC: &str = "repl-leader";
    const BACKLOG: u64 = 30_000;
    const RATE: f64 = 1000.0;
    create_topic(&env.admin, TOPIC, 1).await;
    let tp = TopicPartition::new(TOPIC, 0);

    // What the producer had acknowledged at each offset.
    let acked: Arc<StdMutex<BTreeMap<i64, u64>>> = Arc::default();
    let producer = crate::common::producer(&env.bootstrap, &[("acks", "all")]);
    let record = |v: u64| ProducerRecord::new(TOPIC, v.to_string()).partition(0);
    let mut backlog = Vec::new();
    for v in 0..BACKLOG {
        backlog.push((v, producer.enqueue(record(v)).await.expect("enqueue")));
    }
    for (v, f) in backlog {
        let m = f.await.expect("backlog delivered");
        acked.lock().unwrap().insert(m.offset, v);
    }
    let stop_producing = Arc::new(AtomicBool::new(false));
    let producing = {
        let (producer, stop, acked) = (producer.clone(), stop_producing.clone(), acked.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut futures = Vec::new();
            let mut v = BACKLOG;
            while !stop.load(Ordering::Acquire) {
                tokio::time::sleep_until(
                    start + Duration::from_secs_f64((v - BACKLOG) as f64 / RATE),
                )
                .await;
                let f = producer.enqueue(record(v)).await.expect("enqueue");
                futures.push((v, f));
                v += 1;
            }
            for (v, f) in futures {
                let m = f
                    .await
                    .unwrap_or_else(|e| panic!("record {v} not delivered: {e}"));
                acked.lock().unwrap().insert(m.offset, v);
            }
        })
    };

    // The consumer: manual assignment, from offset 0, throttled so the first leader change
    // lands while it is still reading the backlog.
    let received: Arc<StdMutex<Vec<Received>>> = Arc::default();
    let errors: Arc<StdMutex<Vec<String>>> = Arc::default();
    let stop_consuming = Arc::new(AtomicBool::new(false));
    let consuming = {
        let (received, errors, stop) = (received.clone(), errors.clone(), stop_consuming.clone());
        let mut c = consumer(
            &env.bootstrap,
            &[("max.poll.records", "200"), ("fetch.max.wait.ms", "200")],
        );
        c.assign([tp.clone()]).expect("assign");
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                match c.poll(Duration::from_millis(100)).await {
                    Ok(records) => {
                        let mut got = received.lock().unwrap();
                        got.extend(
                            records
                                .iter()
                                .map(|r| (r.offset, value_of(r), r.leader_epoch)),
                        );
                    }
                    Err(e) => errors.lock().unwrap().push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c.close().await.expect("close");
        })
    };
    let count = || received.lock().unwrap().len();
    let max_epoch = || {
        received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.2)
            .max()
            .unwrap_or(-1)
    };

    // First change: kill the leader while the consumer is mid-backlog.
    let parts = describe(&env.admin, TOPIC).await;
    env.log(format_args!("{TOPIC}: {}", summary(&parts)));
    let first = leader(&parts[0]).expect("a leader");
    let epoch0 = parts[0].leader_epoch;
    eventually("10000 records received", Duration::from_secs(60), || {
        let n = count();
        async move { (n >= 10_000).then_some(()) }
    })
    .await;
    let at_kill = count();
    env.kill(first);
    eventually(
        "records of the new leader's epoch",
        Duration::from_secs(60),
        || {
            let e = max_epoch();
            async move { (e > epoch0).then_some(()) }
        },
    )
    .await;
    env.log(format_args!(
        "consumer was at {at_kill} at the kill, now {}; {}",
        count(),
        summary(&describe(&env.admin, TOPIC).await)
    ));
    assert!(
        (at_kill as u64) < BACKLOG,
        "the kill landed mid-backlog ({at_kill} of {BACKLOG} read)"
    );
    env.restart(first);
    wait_fully_replicated(&env.admin, Some(TOPIC)).await;

    // Second change: the consumer is now tailing the log when its leader dies.
    let parts = describe(&env.admin, TOPIC).await;
    let second = leader(&parts[0]).expect("a leader");
    let epoch1 = parts[0].leader_epoch;
    env.log(format_args!("before the second kill: {}", summary(&parts)));
    eventually(
        "the consumer at the log end",
        Duration::from_secs(60),
        || {
            let n = count() as u64;
            async move { (n >= BACKLOG).then_some(()) }
        },
    )
    .await;
    env.kill(second);
    eventually(
        "records of the third leader's epoch",
        Duration::from_secs(60),
        || {
            let e = max_epoch();
            async move { (e > epoch1).then_some(()) }
        },
    )
    .await;
    let parts = describe(&env.admin, TOPIC).await;
    env.log(format_args!("after the second kill: {}", summary(&parts)));
    tokio::time::sleep(Duration::from_secs(1)).await;

    stop_producing.store(true, Ordering::Release);
    producing.await.expect("producer task");
    producer.close(Duration::from_secs(10)).await;
    let acked = acked.lock().unwrap().clone();
    let end = acked.keys().next_back().map_or(0, |o| o + 1);
    eventually("the consumer at the end", Duration::from_secs(60), || {
        let last = received.lock().unwrap().last().map(|r| r.0);
        async move { (last == Some(end - 1)).then_some(()) }
    })
    .await;
    stop_consuming.store(true, Ordering::Release);
    consuming.await.expect("consumer task");

    let received = received.lock().unwrap();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "poll errors: {errors:?}");
    assert_eq!(acked.len() as i64, end, "the producer's offsets are dense");
    // Exactly offsets 0..end, each once, in order, with the value acknowledged there.
    for (i, (offset, value, _)) in received.iter().enumerate() {
        assert_eq!(
            *offset, i as i64,
            "record {i} received at offset {offset}: a gap or a rewind"
        );
        assert_eq!(Some(value), acked.get(offset), "value at offset {offset}");
    }
    assert_eq!(received.len() as i64, end, "every record received once");
    // Leader epochs in the batches only grow, and three leaders wrote.
    let epochs: Vec<i32> = received.iter().filter_map(|r| r.2).collect();
    assert_eq!(
        epochs.len(),
        received.len(),
        "every record has a leader epoch"
    );
    assert!(
        epochs.windows(2).all(|w| w[0] <= w[1]),
        "leader epochs went backward"
    );
    let distinct: BTreeSet<i32> = epochs.iter().copied().collect();
    assert!(
        distinct.len() >= 3,
        "records of three leader epochs, got {distinct:?}"
    );
    env.log(format_args!(
        "{end} records received in order across leader epochs {distinct:?}"
    ));
}
