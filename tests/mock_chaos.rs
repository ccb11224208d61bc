//! The seeded chaos harness: for each seed, an idempotent producer and a 2-member consumer
//! group work while a `ChaosSchedule` from that seed fires faults (errors, drops, cuts,
//! delays, leader and coordinator moves, broker restarts) at the MockCluster.
//!
//! Seeds: `CHAOS_SEED=S` runs one; otherwise `CHAOS_SEEDS=N` (default 50) seeds from
//! `CHAOS_FIRST` (default 1). `scripts/chaos N` runs N seeds from a random start. A failure
//! names the seed and the command that replays its schedule.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::group_member::{Log, assert_commits_monotonic, member_config, spawn_member};
use ferrokafka::mock::{ChaosSchedule, MockCluster};
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};

const TOPIC: &str = "chaos";
const GROUP: &str = "chaos-group";
const PARTITIONS: i32 = 4;
const RECORDS: u64 = 10_000;
/// Seeds run at once (each has its own cluster).
const PARALLEL: usize = 3;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn produce_all(bootstrap: String) -> Vec<String> {
    let p = KafkaProducer::new(
        ProducerConfig::builder()
            .bootstrap_servers(bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("request.timeout.ms", "1500")
            .set("retry.backoff.ms", "10")
            .set("reconnect.backoff.ms", "10")
            .set("delivery.timeout.ms", "60000")
            .build()
            .expect("producer config"),
    )
    .expect("producer");
    let mut futures = Vec::new();
    for i in 0..RECORDS {
        let part = (i % PARTITIONS as u64) as i32;
        futures.push(
            p.enqueue(ProducerRecord::new(TOPIC, i.to_string()).partition(part))
                .await
                .expect("enqueue"),
        );
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut errors = Vec::new();
    for (i, f) in futures.into_iter().enumerate() {
        if let Err(e) = f.await {
            errors.push(format!("record {i}: {e}"));
        }
    }
    p.close(Duration::from_secs(10)).await;
    errors
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            return Err(format!("timed out after {limit:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// One seed's run. Panics (assertions) or returns an error on a broken guarantee.
async fn run_seed(seed: u64) -> Result<String, String> {
    let c = MockCluster::builder()
        .brokers(3)
        .seed(seed)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    c.create_topic(TOPIC, PARTITIONS);
    let boot = c.bootstrap_servers();
    let log = Arc::new(Mutex::new(Log::default()));
    let members: Vec<_> = (1..=2)
        .map(|i| spawn_member(i, member_config(&boot, GROUP), TOPIC, log.clone()))
        .collect();
    let producer = tokio::spawn(produce_all(boot.clone()));

    let seen_all = || {
        let seen: BTreeSet<u64> = log.lock().unwrap().values.iter().copied().collect();
        seen.len() as u64 == RECORDS
    };
    // Chaos runs while records are written and read (at least 20 events, at most 80).
    let mut schedule = ChaosSchedule::new(seed, &c, &[(TOPIC, PARTITIONS)]);
    let mut events = 0;
    while events < 20 || ((!producer.is_finished() || !seen_all()) && events < 80) {
        let (pause, event) = schedule.next_event();
        tokio::time::sleep(pause).await;
        c.apply(&event)
            .await
            .map_err(|e| format!("{event:?}: {e}"))?;
        events += 1;
    }
    c.clear_faults();
    let errors = producer.await.map_err(|e| format!("producer task: {e}"))?;
    if !errors.is_empty() {
        return Err(format!(
            "{} sends failed, first: {}",
            errors.len(),
            errors[0]
        ));
    }
    // Idempotence: every record exactly once, in send order per partition.
    for p in 0..PARTITIONS {
        let got: Vec<u64> = c
            .records(TOPIC, p)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| {
                std::str::from_utf8(r.value.as_deref().unwrap_or_default())
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX)
            })
            .collect();
        let want: Vec<u64> = (0..RECORDS)
            .filter(|i| i % PARTITIONS as u64 == p as u64)
            .collect();
        if got != want {
            let dup = got.len() as i64 - want.len() as i64;
            return Err(format!(
                "partition {p}: log differs from send order ({} records, {dup:+} vs sent)",
                got.len()
            ));
        }
    }
    // The group processed everything at least once and committed the end of every partition.
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| c.end_offset(TOPIC, p).unwrap_or(-1))
        .collect();
    let committed_all = || {
        let mut last = vec![-1i64; PARTITIONS as usize];
        for k in c.commit_log(GROUP) {
            last[k.partition as usize] = k.offset;
        }
        last == ends
    };
    if let Err(e) = wait_for(
        "the group to process and commit everything",
        Duration::from_secs(40),
        || seen_all() && committed_all(),
    )
    .await
    {
        let seen: BTreeSet<u64> = log.lock().unwrap().values.iter().copied().collect();
        let mut last = vec![-1i64; PARTITIONS as usize];
        for k in c.commit_log(GROUP) {
            last[k.partition as usize] = k.offset;
        }
        return Err(format!(
            "{e}: {} of {RECORDS} seen, committed {last:?} of {ends:?}, group {:?}",
            seen.len(),
            c.group_state(GROUP)
        ));
    }
    for m in members {
        m.close().await;
    }
    assert_commits_monotonic(&c.commit_log(GROUP));
    let log = log.lock().unwrap();
    if !log.conflicts.is_empty() {
        return Err(format!("partitions owned twice: {:?}", log.conflicts));
    }
    Ok(format!(
        "{events} events, {} generations, {} repeats",
        log.owners.len(),
        log.values.len() as u64 - RECORDS
    ))
}

fn replay(seed: u64) -> String {
    format!("scripts/chaos --seed {seed}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_seeds() {
    let seeds: Vec<u64> = match env_u64("CHAOS_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env_u64("CHAOS_FIRST").unwrap_or(1);
            (first..first + env_u64("CHAOS_SEEDS").unwrap_or(50)).collect()
        }
    };
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut runs = Vec::new();
    for seed in seeds.iter().copied() {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        runs.push((
            seed,
            tokio::spawn(async move {
                let r =
                    tokio::time::timeout(Duration::from_secs(120), tokio::spawn(run_seed(seed)))
                        .await;
                drop(permit);
                match r {
                    Err(_) => Err("did not finish within 120 s".to_string()),
                    Ok(Err(join)) => Err(format!("panicked: {join}")),
                    Ok(Ok(r)) => r,
                }
            }),
        ));
    }
    let mut failed = Vec::new();
    for (seed, run) in runs {
        match run.await.expect("seed task") {
            Ok(summary) => eprintln!("chaos seed {seed}: ok ({summary})"),
            Err(why) => {
                eprintln!(
                    "chaos seed {seed}: FAILED: {why}\n  replay: {}",
                    replay(seed)
                );
                failed.push(seed);
            }
        }
    }
    eprintln!(
        "{} seeds in {:.1} s, {} failed",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "chaos seeds failed: {failed:?}; replay one with: {}",
        replay(failed[0])
    );
}
