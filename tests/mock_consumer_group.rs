//! Consumer groups on the MockCluster's group coordinator: a 3-member group under churn
//! (members killed and restarted, coordinator moves, REBALANCE_IN_PROGRESS on heartbeats).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::group_member::{Log, Member, assert_commits_monotonic, member_config, spawn_member};
use ferrokafka::mock::{Fault, FaultAction, MockCluster};
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};

const HEARTBEAT: i16 = 12;
const REBALANCE_IN_PROGRESS: i16 = 27;
const TOPIC: &str = "churn";
const GROUP: &str = "churners";
const PARTITIONS: i32 = 6;

async fn produce(bootstrap: String, from: u64, to: u64, pause_every: u64) {
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(bootstrap)
            .set("linger.ms", "2")
            .build()
            .expect("config"),
    )
    .expect("producer");
    for i in from..to {
        let part = (i % PARTITIONS as u64) as i32;
        drop(
            p.enqueue(ProducerRecord::new(TOPIC, i.to_string()).partition(part))
                .await
                .expect("enqueue"),
        );
        if pause_every > 0 && i % pause_every == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    p.flush().await;
    p.close(Duration::from_secs(10)).await;
}

fn member(incarnation: usize, bootstrap: &str, log: &Arc<Mutex<Log>>) -> Member {
    spawn_member(
        incarnation,
        member_config(bootstrap, GROUP),
        TOPIC,
        log.clone(),
    )
}

async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last committed offset of every partition, from the mock's commit log.
fn last_commits(c: &MockCluster) -> BTreeMap<i32, i64> {
    c.commit_log(GROUP)
        .into_iter()
        .map(|k| (k.partition, k.offset))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_under_churn_process_everything_and_never_share_a_partition() {
    let seed = std::env::var("CHURN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7u64);
    eprintln!(
        "churn seed {seed} (replay: CHURN_SEED={seed} cargo test --features mock --test mock_consumer_group)"
    );
    let c = MockCluster::builder()
        .brokers(3)
        .seed(seed)
        .build()
        .await
        .expect("mock");
    c.create_topic(TOPIC, PARTITIONS);
    const PRELOAD: u64 = 18_000;
    const TOTAL: u64 = 30_000;
    produce(c.bootstrap_servers(), 0, PRELOAD, 0).await;

    let log = Arc::new(Mutex::new(Log::default()));
    let boot = c.bootstrap_servers();
    let mut next = 0;
    let mut slots: Vec<Option<Member>> = (0..3)
        .map(|_| {
            next += 1;
            Some(member(next, &boot, &log))
        })
        .collect();
    let live = |log: &Arc<Mutex<Log>>| log.lock().unwrap().values.len();
    wait_for("first records", Duration::from_secs(20), || live(&log) > 0).await;

    // More records arrive while members come and go.
    // About 6 s of production, spanning the churn below.
    let producer = tokio::spawn(produce(boot.clone(), PRELOAD, TOTAL, 40));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut events = Vec::new();
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(rng.u64(300..900))).await;
        let slot = rng.usize(0..slots.len());
        match rng.u8(0..5) {
            // Killed: dropped without leaving the group; the session must expire.
            0 | 1 => {
                if let Some(m) = slots[slot].take() {
                    events.push(format!("kill {}", m.incarnation));
                    m.kill().await;
                } else {
                    next += 1;
                    slots[slot] = Some(member(next, &boot, &log));
                    events.push(format!("start {next}"));
                }
            }
            2 => {
                let to = rng.i32(1..=3);
                c.move_coordinator(to);
                events.push(format!("coordinator -> {to}"));
            }
            3 => {
                c.inject(Fault::new(HEARTBEAT, FaultAction::Error(REBALANCE_IN_PROGRESS)).times(3));
                events.push("heartbeats: REBALANCE_IN_PROGRESS x3".into());
            }
            // A clean restart: leave the group, come back as a new member.
            _ => {
                if let Some(m) = slots[slot].take() {
                    events.push(format!("close {}", m.incarnation));
                    m.close().await;
                }
                next += 1;
                slots[slot] = Some(member(next, &boot, &log));
                events.push(format!("start {next}"));
            }
        }
    }
    eprintln!("churn events: {events:?}");
    for s in slots.iter_mut() {
        if s.is_none() {
            next += 1;
            *s = Some(member(next, &boot, &log));
        }
    }
    producer.await.expect("producer");

    let ends: BTreeMap<i32, i64> = (0..PARTITIONS)
        .map(|p| (p, c.end_offset(TOPIC, p).expect("partition")))
        .collect();
    assert_eq!(ends.values().sum::<i64>(), TOTAL as i64);
    wait_for(
        "every record processed and committed",
        Duration::from_secs(60),
        || {
            let seen: BTreeSet<u64> = log.lock().unwrap().values.iter().copied().collect();
            seen.len() as u64 == TOTAL && last_commits(&c) == ends
        },
    )
    .await;
    wait_for("a stable group of 3", Duration::from_secs(20), || {
        c.group_state(GROUP)
            .is_some_and(|(st, _, n)| st == "Stable" && n == 3)
    })
    .await;

    for m in slots.into_iter().flatten() {
        m.close().await;
    }
    let log = log.lock().unwrap();
    assert!(log.conflicts.is_empty(), "{:?}", log.conflicts);
    assert!(
        log.owners.len() >= 4,
        "churn should have produced several generations: {:?}",
        log.owners.keys()
    );
    assert_commits_monotonic(&c.commit_log(GROUP));
    let processed = log.values.len();
    eprintln!(
        "processed {processed} for {TOTAL} records ({} repeats), {} generations",
        processed as u64 - TOTAL,
        log.owners.len()
    );
}

/// The join runs on in the background across polls; subscribing to other topics meanwhile
/// must bring another join with them once it finishes (Java compares the subscription it
/// joined with), not be forgotten when the finished join clears the request to rejoin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_while_a_join_runs_joins_again_with_the_new_topics() {
    let c = MockCluster::builder()
        .brokers(1)
        .seed(11)
        .build()
        .await
        .expect("mock");
    c.create_topic("first", 2);
    c.create_topic("second", 2);
    let mut con = ferrokafka::KafkaConsumer::new(member_config(&c.bootstrap_servers(), "resub"))
        .expect("consumer");
    con.subscribe(["first"]).expect("subscribe");
    // Starts the join (FindCoordinator, JoinGroup, SyncGroup take several round trips).
    con.poll(Duration::ZERO).await.expect("poll");
    con.subscribe(["first", "second"]).expect("subscribe again");
    let want: BTreeSet<(String, i32)> = ["first", "second"]
        .iter()
        .flat_map(|t| (0..2).map(move |p| (t.to_string(), p)))
        .collect();
    let start = Instant::now();
    loop {
        let got: BTreeSet<(String, i32)> = con
            .assignment()
            .into_iter()
            .map(|tp| (tp.topic, tp.partition))
            .collect();
        if got == want {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "assignment {got:?}, subscribed to both topics"
        );
        con.poll(Duration::from_millis(50)).await.expect("poll");
    }
    con.close().await.expect("close");
}
