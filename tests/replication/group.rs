//! A consumer group whose coordinator is SIGKILLed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use ferrokafka::consumer::{KafkaConsumer, OffsetAndMetadata, TopicPartition};
use ferrokafka::{ConsumerConfig, ProducerRecord};
use tokio::time::Instant;

use crate::env::*;

/// When the observer read the group's committed offsets, and what they were per partition.
pub(crate) type Observation = (Instant, BTreeMap<i32, i64>);

#[derive(Default)]
pub(crate) struct GroupLog {
    /// (member, partition, offset, value) of every record processed, repeats included.
    processed: Vec<(usize, i32, i64, u64)>,
    /// Successful commits in completion order: (when, member, partition, offset).
    commits: Vec<(Instant, usize, i32, i64)>,
    commit_errors: Vec<String>,
    poll_errors: Vec<String>,
    /// member -> (generation, partitions) after its last poll.
    assignments: BTreeMap<usize, (i32, BTreeSet<i32>)>,
    /// member -> every generation it polled in.
    generations: BTreeMap<usize, BTreeSet<i32>>,
}

pub(crate) fn group_member(
    id: usize,
    config: ConsumerConfig,
    topic: &'static str,
    log: Arc<StdMutex<GroupLog>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut c = KafkaConsumer::new(config).expect("consumer");
        c.subscribe([topic]).expect("subscribe");
        // Processed but not yet committed, with the generation they were read in.
        let mut pending: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
        let mut pending_generation = -1;
        while !stop.load(Ordering::Acquire) {
            let records = match c.poll(Duration::from_millis(100)).await {
                Ok(r) => r,
                Err(e) => {
                    log.lock().unwrap().poll_errors.push(format!("{id}: {e}"));
                    continue;
                }
            };
            let generation = c.group_metadata().map_or(-1, |m| m.generation_id);
            if generation != pending_generation {
                // Partitions of an earlier generation may be someone else's now.
                pending.clear();
                pending_generation = generation;
            }
            {
                let mut log = log.lock().unwrap();
                let parts = c.assignment().iter().map(|tp| tp.partition).collect();
                log.assignments.insert(id, (generation, parts));
                log.generations.entry(id).or_default().insert(generation);
                for r in &records {
                    log.processed.push((id, r.partition, r.offset, value_of(r)));
                    pending.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
                }
            }
            if pending.is_empty() {
                continue;
            }
            match c.commit_offsets_sync(pending.clone()).await {
                Ok(()) => {
                    let now = Instant::now();
                    let mut log = log.lock().unwrap();
                    for (tp, om) in std::mem::take(&mut pending) {
                        log.commits.push((now, id, tp.partition, om.offset));
                    }
                }
                Err(e) => log.lock().unwrap().commit_errors.push(format!("{id}: {e}")),
            }
        }
        c.close_with_timeout(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("member {id} close: {e}"));
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn consumer_group_moves_to_a_new_coordinator() {
    let mut env = env().await;
    const TOPIC: &str = "repl-group";
    const GROUP: &str = "repl-group-g1";
    const PARTITIONS: i32 = 6;
    const RATE: f64 = 1500.0;
    create_topic(&env.admin, TOPIC, PARTITIONS).await;
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();

    // A producer writing value i to partition i % 6 until told to stop.
    let producer = crate::common::producer(&env.bootstrap, &[("acks", "all")]);
    let stop_producing = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(0));
    let producing = {
        let (producer, stop, produced) =
            (producer.clone(), stop_producing.clone(), produced.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            let mut futures = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                if i.is_multiple_of(50) {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / RATE))
                        .await;
                }
                let record = ProducerRecord::new(TOPIC, i.to_string())
                    .partition((i % PARTITIONS as u64) as i32);
                futures.push(producer.enqueue(record).await.expect("enqueue"));
                i += 1;
                produced.store(i as usize, Ordering::Release);
            }
            futures
        })
    };

    let log = Arc::new(StdMutex::new(GroupLog::default()));
    let stop_members = Arc::new(AtomicBool::new(false));
    let config = || {
        ConsumerConfig::builder()
            .bootstrap_servers(&env.bootstrap)
            .set("group.id", GROUP)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("max.poll.interval.ms", "30000")
            .set("max.poll.records", "300")
            .build()
            .expect("consumer config")
    };
    let members: Vec<_> = (0..3)
        .map(|id| group_member(id, config(), TOPIC, log.clone(), stop_members.clone()))
        .collect();

    // An observer with the group's id that never joins: reads the committed offsets now and
    // then (OffsetFetch goes to the coordinator, so it follows the move too).
    let observed: Arc<StdMutex<Vec<Observation>>> = Arc::default();
    let stop_observer = Arc::new(AtomicBool::new(false));
    let observer = {
        let (observed, stop, tps) = (observed.clone(), stop_observer.clone(), tps.clone());
        let mut c = KafkaConsumer::new(config()).expect("observer");
        tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Acquire) {
                match c.committed(&tps).await {
                    Ok(m) => {
                        let offsets = m
                            .into_iter()
                            .filter_map(|(tp, o)| Some((tp.partition, o?.offset)))
                            .collect();
                        observed.lock().unwrap().push((Instant::now(), offsets));
                    }
                    Err(e) => errors.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            c.close().await.expect("observer close");
            errors
        })
    };

    let split = || {
        let log = log.lock().unwrap();
        let mut sizes: Vec<usize> = log.assignments.values().map(|a| a.1.len()).collect();
        sizes.sort_unstable();
        let all: BTreeSet<i32> = log
            .assignments
            .values()
            .flat_map(|a| &a.1)
            .copied()
            .collect();
        let generations: BTreeSet<i32> = log.assignments.values().map(|a| a.0).collect();
        (sizes, all.len(), generations.len() == 1)
    };
    eventually("a 2/2/2 split", Duration::from_secs(60), || {
        let s = split();
        async move { (s == (vec![2, 2, 2], 6, true)).then_some(()) }
    })
    .await;
    let processed = || log.lock().unwrap().processed.len();
    eventually("3000 records processed", Duration::from_secs(60), || {
        let n = processed();
        async move { (n >= 3000).then_some(()) }
    })
    .await;

    // The coordinator: the leader of the group's __consumer_offsets partition.
    let offsets_partition = offsets_partition_for(GROUP);
    let offsets_parts = describe(&env.admin, "__consumer_offsets").await;
    let coordinator = leader(&offsets_parts[offsets_partition as usize]).expect("a coordinator");
    env.log(format_args!(
        "group {GROUP}: __consumer_offsets-{offsets_partition}, coordinator broker {coordinator}; \
         {TOPIC}: {}",
        summary(&describe(&env.admin, TOPIC).await)
    ));
    let processed_at_kill = processed();
    env.kill(coordinator);
    let killed_at = Instant::now();

    // The group carries on with a new coordinator: commits succeed again, the members process
    // plenty of records more, and they stay in the group well past session.timeout.ms (6 s),
    // heartbeating to the new coordinator.
    let new_coordinator = eventually(
        "a new leader of the group's offsets partition",
        Duration::from_secs(30),
        || async {
            let parts = try_describe(&env.admin, "__consumer_offsets").await.ok()?;
            leader(&parts[offsets_partition as usize]).filter(|l| *l != coordinator)
        },
    )
    .await;
    env.log(format_args!("new coordinator: broker {new_coordinator}"));
    eventually(
        "commits after the kill and 6000 more records processed",
        Duration::from_secs(60),
        || {
            let log = log.lock().unwrap();
            let ok = log.commits.iter().any(|c| c.0 > killed_at)
                && log.processed.len() >= processed_at_kill + 6000
                && killed_at.elapsed() > Duration::from_secs(12);
            async move { ok.then_some(()) }
        },
    )
    .await;
    env.log(format_args!(
        "after the kill: {} records processed, {} commits",
        processed(),
        log.lock().unwrap().commits.len()
    ));
    eventually(
        "a 2/2/2 split in one generation again",
        Duration::from_secs(60),
        || {
            let s = split();
            async move { (s == (vec![2, 2, 2], 6, true)).then_some(()) }
        },
    )
    .await;

    // Stop producing; every produced record acknowledged...
    stop_producing.store(true, Ordering::Release);
    let futures = producing.await.expect("producer task");
    let n = futures.len();
    for (i, f) in futures.into_iter().enumerate() {
        f.await
            .unwrap_or_else(|e| panic!("record {i} not delivered: {e}"));
    }
    producer.close(Duration::from_secs(10)).await;
    env.log(format_args!("{n} records produced and acknowledged"));

    // ... and processed at least once, and the group's committed offsets reach the ends.
    let mut ends = consumer(&env.bootstrap, &[]);
    let end_offsets = crate::env::end_offsets(&mut ends, &tps).await;
    ends.close().await.expect("close");
    assert_eq!(end_offsets.values().sum::<i64>(), n as i64);
    eventually("every record processed", Duration::from_secs(60), || {
        let log = log.lock().unwrap();
        let distinct: BTreeSet<u64> = log.processed.iter().map(|r| r.3).collect();
        let ok = distinct.len() == n;
        async move { ok.then_some(()) }
    })
    .await;
    eventually(
        "committed offsets at the end offsets",
        Duration::from_secs(30),
        || {
            let last = observed.lock().unwrap().last().map(|o| o.1.clone());
            let want = end_offsets.clone();
            async move { (last == Some(want)).then_some(()) }
        },
    )
    .await;
    stop_members.store(true, Ordering::Release);
    for m in members {
        m.await.expect("member task");
    }
    stop_observer.store(true, Ordering::Release);
    let observer_errors = observer.await.expect("observer task");

    let log = log.lock().unwrap();
    // Every processed record is the one produced at its offset (value i at offset i / 6).
    for (member, p, o, v) in &log.processed {
        assert_eq!(
            (*p, *o),
            (
                (v % PARTITIONS as u64) as i32,
                (v / PARTITIONS as u64) as i64
            ),
            "member {member} processed value {v} at p{p} offset {o}"
        );
    }
    // Committed offsets never went backward: neither in the order the members' commits
    // completed, nor as the coordinator reported them.
    let mut last: HashMap<i32, (i64, usize)> = HashMap::new();
    for (_, member, p, o) in &log.commits {
        if let Some((prev, by)) = last.get(p) {
            assert!(
                o >= prev,
                "p{p}: member {member} committed {o} after member {by} committed {prev}"
            );
        }
        last.insert(*p, (*o, *member));
    }
    let observed = observed.lock().unwrap();
    let mut seen: HashMap<i32, i64> = HashMap::new();
    for (_, offsets) in observed.iter() {
        for p in 0..PARTITIONS {
            match (seen.get(&p), offsets.get(&p)) {
                (Some(prev), None) => panic!("p{p}: committed offset {prev} vanished"),
                (Some(prev), Some(o)) => assert!(o >= prev, "p{p}: committed {prev} then {o}"),
                _ => {}
            }
            if let Some(o) = offsets.get(&p) {
                seen.insert(p, *o);
            }
        }
    }
    let duplicates = log.processed.len() - n;
    env.log(format_args!(
        "{} records processed ({duplicates} more than once), {} commits, {} observations; \
         generations per member: {:?}; commit errors: {:?}; observer errors: {observer_errors:?}",
        log.processed.len(),
        log.commits.len(),
        observed.len(),
        log.generations,
        log.commit_errors
    ));
    assert!(
        log.poll_errors.is_empty(),
        "poll failed: {:?}",
        log.poll_errors
    );
}

// ------------------------------------------------------------------------------------------
// 4. A consumer reading one partition while its leader changes twice.
// ------------------------------------------------------------------------------------------
//
// This test found a consumer that never left a dead leader: its only connection was to that
// broker, and each `poll(100 ms)` dropped the metadata refresh while it waited out the dead
// broker's reconnect backoff. Refreshes in `poll` now run detached
// (`NetworkClient::metadata_detached`); tests/mock_consumer.rs
// `short_polls_find_the_new_leader_when_the_old_one_dies` reproduces it on the MockCluster.
