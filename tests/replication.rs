//! Replication and failover against a real 3-broker Apache Kafka cluster (KRaft, one controller
//! and brokers 1..=3, replication factor 3, min.insync.replicas=2, unclean election off):
//! brokers are SIGKILLed and restarted under an idempotent producer, an acks=all producer with
//! short timeouts, a consumer group whose coordinator dies, and a consumer reading across leader
//! changes.
//!
//! One cluster serves every test of this file, one test at a time. Starting a cluster (four JVMs
//! on two cores) takes ~28 s and restarting one broker ~7 s (measured), so a cluster per test
//! would spend about two of the four minutes this file may take on JVM start-up alone; and two
//! tests running at once would both interfere (each kills brokers) and starve the CI's two
//! cores. So [`env`] takes a lock that every test holds for its whole run, starts the cluster on
//! first use, and *heals* it before handing it out: it restarts any broker an earlier test left
//! dead (also one that panicked half-way) and waits until every broker is registered and every
//! partition of every topic has a leader and its full ISR. Each test uses its own topic and
//! group, so nothing but the brokers carries over.

mod common;
#[path = "replication/env.rs"]
mod env;
#[path = "replication/group.rs"]
mod group;
#[path = "replication/leader.rs"]
mod leader;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrokafka::producer::{DeliveryFuture, default_partition_for_key};
use ferrokafka::{Error, KafkaProducer, ProducerRecord};
use tokio::time::Instant;

use env::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_exactly_once_across_leader_kill_and_restart() {
    let mut env = env().await;
    const TOPIC: &str = "repl-idempotent";
    const PARTITIONS: i32 = 6;
    const N: usize = 200_000;
    const KEYS: usize = 1000;
    /// Records per second: the run takes ~20 s, so the kill (at 1/3) and the restart (at 2/3,
    /// ~7 s of JVM start) both land while records are still being produced.
    const RATE: f64 = 10_000.0;
    create_topic(&env.admin, TOPIC, PARTITIONS).await;
    let before = describe(&env.admin, TOPIC).await;
    env.log(format_args!("{TOPIC}: {}", summary(&before)));
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &before {
        *led.entry(leader(p).expect("a leader")).or_default() += 1;
    }
    let victim = *led
        .iter()
        .max_by_key(|(id, n)| (**n, -**id))
        .expect("some leader")
        .0;
    env.log(format_args!(
        "leaders: {led:?}; broker {victim} leads the most partitions"
    ));

    // Key i % KEYS; the keyed partition of each key is fixed (murmur2, as Java's).
    let key_partition: Vec<i32> = (0..KEYS)
        .map(|k| default_partition_for_key(format!("k{k}").as_bytes(), PARTITIONS))
        .collect();
    let expected_partition = |i: usize| key_partition[i % KEYS];

    let producer = common::producer(
        &env.bootstrap,
        &[("acks", "all"), ("enable.idempotence", "true")],
    );
    let enqueued = Arc::new(AtomicUsize::new(0));
    let task = {
        let (producer, enqueued) = (producer.clone(), enqueued.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut futures: Vec<DeliveryFuture> = Vec::with_capacity(N);
            for i in 0..N {
                if i.is_multiple_of(500) {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / RATE))
                        .await;
                }
                let record =
                    ProducerRecord::new(TOPIC, i.to_string()).key(format!("k{}", i % KEYS));
                match producer.enqueue(record).await {
                    Ok(f) => futures.push(f),
                    Err(e) => panic!("enqueue of record {i} failed: {}", e.error),
                }
                enqueued.store(i + 1, Ordering::Release);
            }
            futures
        })
    };
    let count = enqueued.clone();
    eventually(
        "a third of the records enqueued",
        Duration::from_secs(60),
        || {
            let n = count.load(Ordering::Acquire);
            async move { (n >= N / 3).then_some(()) }
        },
    )
    .await;
    env.kill(victim);
    eventually(
        "two thirds of the records enqueued",
        Duration::from_secs(60),
        || {
            let n = count.load(Ordering::Acquire);
            async move { (n >= 2 * N / 3).then_some(()) }
        },
    )
    .await;
    let during = describe(&env.admin, TOPIC).await;
    env.log(format_args!("before the restart: {}", summary(&during)));
    assert!(
        during.iter().all(|p| leader(p) != Some(victim)),
        "broker {victim} was killed but still leads: {}",
        summary(&during)
    );
    env.restart(victim);
    let futures = task.await.expect("producer task");
    env.log("every record enqueued; awaiting deliveries");

    // Every delivery succeeds, where its key says, at an offset of its own; per partition the
    // offsets grow in send order.
    let mut acked: Vec<(i32, i64)> = Vec::with_capacity(N);
    let mut failures = Vec::new();
    for (i, f) in futures.into_iter().enumerate() {
        match f.await {
            Ok(m) => acked.push((m.partition, m.offset)),
            Err(e) => {
                acked.push((-1, -1));
                failures.push(format!("record {i}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {N} deliveries failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    env.log("every delivery acknowledged");
    producer.close(Duration::from_secs(10)).await;
    let mut last_offset: HashMap<i32, (usize, i64)> = HashMap::new();
    for (i, (p, o)) in acked.iter().enumerate() {
        assert_eq!(*p, expected_partition(i), "partition of record {i}");
        assert!(*o >= 0, "record {i} acknowledged without an offset ({o})");
        if let Some((prev_i, prev_o)) = last_offset.get(p) {
            assert!(
                o > prev_o,
                "partition {p}: record {i} acknowledged at {o}, not after record {prev_i} at {prev_o}"
            );
        }
        last_offset.insert(*p, (i, *o));
    }

    // The log holds every record exactly once, in send order per partition, at the offset its
    // acknowledgement gave.
    let (log, ends) = read_all(&env.bootstrap, TOPIC, PARTITIONS).await;
    let total: i64 = ends.values().sum();
    assert_eq!(
        total, N as i64,
        "end offsets {ends:?} sum to the record count"
    );
    let mut seen = vec![false; N];
    for (p, records) in &log {
        let mut prev: Option<(i64, u64)> = None;
        for r in records {
            let i = value_of(r) as usize;
            assert!(
                i < N,
                "partition {p} offset {}: unknown value {i}",
                r.offset
            );
            assert!(
                !seen[i],
                "record {i} is in the log twice (offset {})",
                r.offset
            );
            seen[i] = true;
            assert_eq!(
                *p,
                expected_partition(i),
                "record {i} in the wrong partition"
            );
            assert_eq!(
                (r.partition, r.offset),
                acked[i],
                "record {i} is not where its acknowledgement said"
            );
            if let Some((po, pi)) = prev {
                assert_eq!(r.offset, po + 1, "partition {p}: offsets not consecutive");
                assert!(
                    i as u64 > pi,
                    "partition {p}: record {i} after {pi}: send order broken"
                );
            }
            prev = Some((r.offset, i as u64));
        }
        assert_eq!(
            records.first().map(|r| r.offset),
            Some(0),
            "partition {p} starts at 0"
        );
    }
    let missing: Vec<usize> = (0..N).filter(|i| !seen[*i]).take(10).collect();
    assert!(
        missing.is_empty(),
        "records missing from the log: {missing:?}..."
    );
    let after = describe(&env.admin, TOPIC).await;
    env.log(format_args!("after: {}", summary(&after)));
    env.log("test 1 done");
}

// ------------------------------------------------------------------------------------------
// 2. acks=all with one and with two brokers down.
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Outcome {
    value: u64,
    partition: i32,
    result: Result<i64, Error>,
    took: Duration,
}

/// Sends one record per value (value v to partition v % partitions), all at once, and waits
/// for every outcome.
async fn send_round(
    producer: &KafkaProducer,
    topic: &str,
    partitions: i32,
    values: std::ops::Range<u64>,
) -> Vec<Outcome> {
    let start = Instant::now();
    let mut pending = Vec::new();
    for v in values {
        let partition = (v % partitions as u64) as i32;
        let record = ProducerRecord::new(topic, v.to_string()).partition(partition);
        let f = producer
            .enqueue(record)
            .await
            .unwrap_or_else(|e| panic!("enqueue {v}: {}", e.error));
        pending.push((v, partition, f));
    }
    let mut out = Vec::new();
    for (value, partition, f) in pending {
        let result = f.await.map(|m| {
            assert_eq!(m.partition, partition);
            m.offset
        });
        out.push(Outcome {
            value,
            partition,
            result,
            took: start.elapsed(),
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_with_one_and_two_brokers_down() {
    let mut env = env().await;
    const TOPIC: &str = "repl-acks-all";
    const PARTITIONS: i32 = 3;
    const PER_ROUND: u64 = 30;
    const DELIVERY_TIMEOUT: Duration = Duration::from_millis(6000);
    create_topic(&env.admin, TOPIC, PARTITIONS).await;
    let producer = common::producer(
        &env.bootstrap,
        &[
            ("acks", "all"),
            ("delivery.timeout.ms", "6000"),
            ("request.timeout.ms", "3000"),
            ("linger.ms", "5"),
        ],
    );
    let mut acked: Vec<(u64, i32, i64)> = Vec::new();
    let mut next = 0u64;
    let round = |label: &str, outcomes: Vec<Outcome>, acked: &mut Vec<(u64, i32, i64)>| {
        let mut failed = Vec::new();
        for o in outcomes {
            match o.result {
                Ok(offset) => acked.push((o.value, o.partition, offset)),
                Err(e) => failed.push(format!("{} (p{}): {e}", o.value, o.partition)),
            }
        }
        assert!(failed.is_empty(), "{label}: sends failed: {failed:?}");
    };

    // All three up.
    let outcomes = send_round(&producer, TOPIC, PARTITIONS, next..next + PER_ROUND).await;
    next += PER_ROUND;
    round("all brokers up", outcomes, &mut acked);
    let parts = describe(&env.admin, TOPIC).await;
    env.log(format_args!("all up: {}", summary(&parts)));

    // One broker down: once the controller fenced it (broker.session.timeout.ms=3000) and
    // dropped it from every ISR, produce succeeds as before.
    let first = leader(&parts[0]).expect("a leader");
    env.kill(first);
    let parts = eventually(
        "the killed broker out of every leadership and ISR",
        Duration::from_secs(30),
        || async {
            let parts = try_describe(&env.admin, TOPIC).await.ok()?;
            parts
                .iter()
                .all(|p| leader(p).is_some_and(|l| l != first) && !p.isr.contains(&first))
                .then_some(parts)
        },
    )
    .await;
    env.log(format_args!("broker {first} down: {}", summary(&parts)));
    let outcomes = send_round(&producer, TOPIC, PARTITIONS, next..next + PER_ROUND).await;
    next += PER_ROUND;
    let slowest = outcomes.iter().map(|o| o.took).max().unwrap_or_default();
    round("one broker down", outcomes, &mut acked);
    env.log(format_args!(
        "one broker down: {PER_ROUND} sends acknowledged in {slowest:?}"
    ));

    // Two brokers down: what the last broker leads answers NOT_ENOUGH_REPLICAS (ISR 1 <
    // min.insync.replicas 2), retried until delivery.timeout.ms ends the records with
    // DeliveryTimeout; a partition the last broker cannot lead (not in its ISR, unclean
    // election off) has no leader at all.
    let survivors = env.live_brokers();
    let second = *survivors
        .iter()
        .find(|b| **b != first)
        .expect("a second broker");
    let last = *survivors
        .iter()
        .find(|b| **b != first && **b != second)
        .expect("a third broker");
    env.kill(second);
    let parts = eventually(
        "the second killed broker out of every leadership",
        Duration::from_secs(30),
        || async {
            let nodes = env.admin.describe_cluster().await.ok()?.nodes;
            let parts = try_describe(&env.admin, TOPIC).await.ok()?;
            (nodes.iter().map(|n| n.id).collect::<Vec<_>>() == vec![last]
                && parts.iter().all(|p| leader(p) != Some(second)))
            .then_some(parts)
        },
    )
    .await;
    env.log(format_args!(
        "brokers {first} and {second} down, {last} alone: {}",
        summary(&parts)
    ));
    let led_by_last: BTreeSet<i32> = parts
        .iter()
        .filter(|p| leader(p) == Some(last))
        .map(|p| p.partition)
        .collect();
    let failed_from = next;
    let outcomes = send_round(&producer, TOPIC, PARTITIONS, next..next + PER_ROUND).await;
    next += PER_ROUND;
    let mut reasons: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
    let mut may_have_been_written_flags = BTreeSet::new();
    // Records whose error says they may have been written: an attempt reached the leader while
    // it still counted the killed broker in the ISR (its view can trail the controller's), was
    // appended, and then timed out waiting for that follower. They may be in the log later.
    let mut maybe_written: BTreeSet<u64> = BTreeSet::new();
    for o in &outcomes {
        match &o.result {
            Err(Error::DeliveryTimeout {
                timeout_ms,
                reason,
                may_have_been_written,
            }) => {
                assert_eq!(*timeout_ms, DELIVERY_TIMEOUT.as_millis() as u64);
                may_have_been_written_flags.insert(*may_have_been_written);
                if *may_have_been_written {
                    maybe_written.insert(o.value);
                }
                reasons
                    .entry(o.partition)
                    .or_default()
                    .insert(reason.clone());
            }
            other => panic!(
                "record {} (p{}) with two brokers down: want DeliveryTimeout, got {other:?}",
                o.value, o.partition
            ),
        }
        // The timeout runs from when the record's batch was created, close to the send.
        assert!(
            o.took >= DELIVERY_TIMEOUT - Duration::from_millis(500)
                && o.took <= DELIVERY_TIMEOUT + Duration::from_secs(5),
            "record {} failed after {:?}, delivery.timeout.ms is {DELIVERY_TIMEOUT:?}",
            o.value,
            o.took
        );
    }
    let took: Vec<Duration> = outcomes.iter().map(|o| o.took).collect();
    env.log(format_args!(
        "two brokers down: every send ended in DeliveryTimeout after {:?}..{:?} \
         (may_have_been_written: {may_have_been_written_flags:?}); partitions led by {last}: \
         {led_by_last:?}; last errors per partition: {reasons:?}",
        took.iter().min(),
        took.iter().max()
    ));
    for (p, rs) in &reasons {
        if led_by_last.contains(p) {
            assert!(
                rs.iter().all(|r| r.contains("NOT_ENOUGH_REPLICAS")),
                "p{p} (led by {last}, ISR below min.insync.replicas): {rs:?}"
            );
        }
    }

    // Both back: new sends succeed (the producer, which saw its batches fail, has bumped its
    // epoch meanwhile), and nothing that was acknowledged is missing.
    env.restart(second);
    env.restart(first);
    wait_fully_replicated(&env.admin, Some(TOPIC)).await;
    env.log(format_args!(
        "all back: {}",
        summary(&describe(&env.admin, TOPIC).await)
    ));
    let outcomes = send_round(&producer, TOPIC, PARTITIONS, next..next + PER_ROUND).await;
    next += PER_ROUND;
    round("brokers back", outcomes, &mut acked);
    producer.close(Duration::from_secs(10)).await;

    let (log, ends) = read_all(&env.bootstrap, TOPIC, PARTITIONS).await;
    let mut at: HashMap<(i32, i64), u64> = HashMap::new();
    let mut count: HashMap<u64, usize> = HashMap::new();
    for (p, records) in &log {
        for r in records {
            let v = value_of(r);
            at.insert((*p, r.offset), v);
            *count.entry(v).or_default() += 1;
        }
    }
    for (v, p, o) in &acked {
        assert_eq!(
            at.get(&(*p, *o)),
            Some(v),
            "acknowledged record {v} is not at p{p} offset {o}"
        );
    }
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "records written twice: {twice:?}");
    // NOT_ENOUGH_REPLICAS is checked before the append, and no attempt went anywhere else: a
    // failed record that the producer reported as not written is not in the log.
    let (written_maybe, written_failed): (Vec<u64>, Vec<u64>) = (failed_from
        ..failed_from + PER_ROUND)
        .filter(|v| count.contains_key(v))
        .partition(|v| maybe_written.contains(v));
    assert!(
        written_failed.is_empty(),
        "records that failed with two brokers down, reported as not written, are in the log: \
         {written_failed:?}"
    );
    assert_eq!(
        ends.values().sum::<i64>(),
        (acked.len() + written_maybe.len()) as i64,
        "the log holds exactly the acknowledged records and those reported as maybe written \
         ({written_maybe:?})"
    );
    env.log(format_args!(
        "{} acknowledged records all in place; {next} sent",
        acked.len()
    ));
}

// ------------------------------------------------------------------------------------------
// 3. A consumer group of three while its coordinator is SIGKILLed.
// ------------------------------------------------------------------------------------------
