//! Consumer groups against a real broker (Apache Kafka): splitting, takeover, poll timeouts.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{create_topic, produce_values};
use ferrokafka::ConsumerConfig;
use ferrokafka::consumer::{KafkaConsumer, TopicPartition};

#[derive(Default)]
struct Seen {
    /// (member, partition, offset, value)
    records: Vec<(usize, i32, i64, usize)>,
}

struct Member {
    stop: Arc<AtomicBool>,
    stall: Arc<AtomicBool>,
    assignment: Arc<Mutex<BTreeSet<TopicPartition>>>,
    task: tokio::task::JoinHandle<()>,
}

fn config(bootstrap: &str, group: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut b = ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("heartbeat.interval.ms", "200")
        .set("session.timeout.ms", "6000")
        .set("max.poll.records", "200");
    for (k, v) in extra {
        b = b.set(*k, *v);
    }
    b.build().expect("consumer config")
}

/// A member that polls, records what it saw, and commits after every batch.
fn spawn_member(id: usize, cfg: ConsumerConfig, topic: &str, seen: Arc<Mutex<Seen>>) -> Member {
    let stop = Arc::new(AtomicBool::new(false));
    let stall = Arc::new(AtomicBool::new(false));
    let assignment = Arc::new(Mutex::new(BTreeSet::new()));
    let (s, st, a, topic) = (
        stop.clone(),
        stall.clone(),
        assignment.clone(),
        topic.to_string(),
    );
    let task = tokio::spawn(async move {
        let mut c = KafkaConsumer::new(cfg).expect("consumer");
        c.subscribe([topic]).expect("subscribe");
        while !s.load(Ordering::Acquire) {
            if st.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let records = c.poll(Duration::from_millis(100)).await.expect("poll");
            *a.lock().unwrap() = c.assignment();
            if records.is_empty() {
                continue;
            }
            {
                let mut seen = seen.lock().unwrap();
                for r in &records {
                    let v = std::str::from_utf8(r.value.as_deref().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    seen.records.push((id, r.partition, r.offset, v));
                }
            }
            if let Err(e) = c.commit_sync().await {
                eprintln!("member {id}: commit failed: {e}");
            }
        }
        c.close().await.expect("close");
    });
    Member {
        stop,
        stall,
        assignment,
        task,
    }
}

async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sizes(members: &[&Member]) -> Vec<usize> {
    members
        .iter()
        .map(|m| m.assignment.lock().unwrap().len())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_split_six_partitions_and_take_over() {
    let b = TestBroker::shared();
    let topic = "group-three";
    create_topic(&b.bootstrap(), topic, 6).await;
    produce_values(
        &b.bootstrap(),
        topic,
        6,
        (0..6000).map(|i| i.to_string()),
        "lz4",
    )
    .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let members: Vec<Member> = (0..3)
        .map(|i| spawn_member(i, config(&b.bootstrap(), "three", &[]), topic, seen.clone()))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    wait_for("a 2/2/2 split", Duration::from_secs(30), || {
        sizes(&refs) == vec![2, 2, 2]
    })
    .await;
    let all: BTreeSet<TopicPartition> = refs
        .iter()
        .flat_map(|m| m.assignment.lock().unwrap().clone())
        .collect();
    assert_eq!(all.len(), 6, "disjoint and complete");
    wait_for("all 6000 records", Duration::from_secs(30), || {
        let s = seen.lock().unwrap();
        s.records.iter().map(|r| r.3).collect::<BTreeSet<_>>().len() == 6000
    })
    .await;

    // Member 0 leaves (committing as it goes); the others take its partitions over.
    let gone: BTreeSet<TopicPartition> = members[0].assignment.lock().unwrap().clone();
    members[0].stop.store(true, Ordering::Release);
    let mut members = members;
    let first = members.remove(0);
    first.task.await.expect("member 0 closed cleanly");
    let refs: Vec<&Member> = members.iter().collect();
    wait_for("a 3/3 split", Duration::from_secs(30), || {
        sizes(&refs) == vec![3, 3]
    })
    .await;
    produce_values(
        &b.bootstrap(),
        topic,
        6,
        (6000..6600).map(|i| i.to_string()),
        "none",
    )
    .await;
    wait_for("all 6600 records", Duration::from_secs(30), || {
        let s = seen.lock().unwrap();
        s.records.iter().map(|r| r.3).collect::<BTreeSet<_>>().len() == 6600
    })
    .await;
    for m in &members {
        m.stop.store(true, Ordering::Release);
    }
    for m in members {
        m.task.await.expect("closed");
    }
    let s = seen.lock().unwrap();
    // Every record was processed; the departed member's partitions were read by the others
    // from where it committed, so nothing it had processed came round again.
    let mut count: HashMap<usize, usize> = HashMap::new();
    for r in &s.records {
        *count.entry(r.3).or_default() += 1;
    }
    assert_eq!(count.len(), 6600);
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "duplicates after clean commits: {dups:?}");
    let taken_over = s
        .records
        .iter()
        .filter(|r| r.0 != 0 && gone.contains(&TopicPartition::new(topic, r.1)))
        .count();
    assert!(
        taken_over >= 200,
        "others read the departed member's partitions ({taken_over})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_stops_polling_is_removed() {
    let b = TestBroker::shared();
    let topic = "group-stall";
    create_topic(&b.bootstrap(), topic, 4).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let extra = [("max.poll.interval.ms", "1500")];
    let members: Vec<Member> = (0..2)
        .map(|i| {
            spawn_member(
                i,
                config(&b.bootstrap(), "stall", &extra),
                topic,
                seen.clone(),
            )
        })
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    wait_for("a 2/2 split", Duration::from_secs(30), || {
        sizes(&refs) == vec![2, 2]
    })
    .await;
    members[1].stall.store(true, Ordering::Release);
    wait_for("the poller owning all 4", Duration::from_secs(20), || {
        members[0].assignment.lock().unwrap().len() == 4
    })
    .await;
    // Polling again rejoins.
    members[1].stall.store(false, Ordering::Release);
    wait_for("a 2/2 split again", Duration::from_secs(30), || {
        sizes(&refs) == vec![2, 2]
    })
    .await;
    for m in &members {
        m.stop.store(true, Ordering::Release);
    }
    for m in members {
        m.task.await.expect("closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cooperative_sticky_rebalances_incrementally() {
    let b = TestBroker::shared();
    let topic = "group-coop";
    create_topic(&b.bootstrap(), topic, 6).await;
    produce_values(
        &b.bootstrap(),
        topic,
        6,
        (0..3000).map(|i| i.to_string()),
        "none",
    )
    .await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let extra = [("partition.assignment.strategy", "cooperative-sticky")];
    let first = spawn_member(
        0,
        config(&b.bootstrap(), "coop", &extra),
        topic,
        seen.clone(),
    );
    wait_for("one member owning all 6", Duration::from_secs(30), || {
        first.assignment.lock().unwrap().len() == 6
    })
    .await;
    let kept_before: BTreeSet<TopicPartition> = first.assignment.lock().unwrap().clone();
    let second = spawn_member(
        1,
        config(&b.bootstrap(), "coop", &extra),
        topic,
        seen.clone(),
    );
    let refs = [&first, &second];
    wait_for("a 3/3 split", Duration::from_secs(30), || {
        sizes(&refs) == vec![3, 3]
    })
    .await;
    // Sticky: the first member kept 3 of the partitions it had, and gave only the others away.
    let kept: BTreeSet<TopicPartition> = first.assignment.lock().unwrap().clone();
    assert!(kept.is_subset(&kept_before));
    let both: BTreeSet<TopicPartition> = kept
        .union(&second.assignment.lock().unwrap())
        .cloned()
        .collect();
    assert_eq!(both.len(), 6, "disjoint and complete");
    wait_for("all 3000 records", Duration::from_secs(30), || {
        let s = seen.lock().unwrap();
        s.records.iter().map(|r| r.3).collect::<BTreeSet<_>>().len() == 3000
    })
    .await;
    for m in [&first, &second] {
        m.stop.store(true, Ordering::Release);
    }
    first.task.await.expect("closed");
    second.task.await.expect("closed");
}

/// Values of `records`, as numbers.
fn values(records: &ferrokafka::consumer::ConsumerRecords) -> Vec<usize> {
    records
        .iter()
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().expect("value"))
                .expect("utf8")
                .parse()
                .expect("number")
        })
        .collect()
}

/// KIP-266: `poll(t)` returns within `t` while a join is in progress, and the join goes on
/// across polls. Member A owns every partition and polls only every 3 s, so the broker holds
/// B's JoinGroup until A's next poll rejoins; B polls every 100 ms meanwhile. B's join must
/// complete (its JoinGroup kept across its polls) and no poll of B's may wait for A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joining_member_polls_within_its_timeout_while_the_group_waits_for_a_slow_member() {
    const TOTAL: usize = 2000;
    const POLL: Duration = Duration::from_millis(100);
    // Generous: the spec under test is "within the timeout", not a latency figure.
    const SLACK: Duration = Duration::from_millis(500);
    let b = TestBroker::shared();
    let topic = "group-slow-member";
    create_topic(&b.bootstrap(), topic, 4).await;
    produce_values(
        &b.bootstrap(),
        topic,
        4,
        (0..TOTAL).map(|i| i.to_string()),
        "none",
    )
    .await;
    let extra = [
        ("max.poll.records", "50"),
        ("max.poll.interval.ms", "30000"),
    ];
    let seen = Arc::new(Mutex::new(vec![0u32; TOTAL]));
    let b_assigned = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let record = |seen: &Mutex<Vec<u32>>, vs: Vec<usize>| {
        let mut s = seen.lock().unwrap();
        for v in vs {
            s[v] += 1;
        }
    };

    let mut a = KafkaConsumer::new(config(&b.bootstrap(), "slow-member", &extra)).expect("a");
    a.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    while a.assignment().len() < 4 {
        assert!(start.elapsed() < Duration::from_secs(30), "A never joined");
        let records = a.poll(POLL).await.expect("poll A");
        if !records.is_empty() {
            record(&seen, values(&records));
            a.commit_sync().await.expect("commit A");
        }
    }
    let slow = {
        let (seen, b_assigned, done) = (seen.clone(), b_assigned.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Acquire) {
                let records = a.poll(POLL).await.expect("poll A");
                if !records.is_empty() {
                    record(&seen, values(&records));
                    a.commit_sync().await.expect("commit A");
                }
                if !b_assigned.load(Ordering::Acquire) {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            }
            a.close().await.expect("close A");
        })
    };

    let mut c = KafkaConsumer::new(config(&b.bootstrap(), "slow-member", &extra)).expect("b");
    c.subscribe([topic]).expect("subscribe");
    let start = Instant::now();
    let (mut polls, mut slowest) = (0u32, Duration::ZERO);
    loop {
        let total: u32 = seen.lock().unwrap().iter().sum();
        if total as usize >= TOTAL && b_assigned.load(Ordering::Acquire) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck: {total} of {TOTAL} records, B assigned: {}",
            !c.assignment().is_empty()
        );
        let began = Instant::now();
        let records = c.poll(POLL).await.expect("poll B");
        let took = began.elapsed();
        polls += 1;
        slowest = slowest.max(took);
        assert!(
            took <= POLL + SLACK,
            "B's poll #{polls} took {took:?} with a {POLL:?} timeout (assigned: {:?})",
            c.assignment()
        );
        if !c.assignment().is_empty() {
            b_assigned.store(true, Ordering::Release);
        }
        if !records.is_empty() {
            record(&seen, values(&records));
            c.commit_sync().await.expect("commit B");
        }
    }
    done.store(true, Ordering::Release);
    slow.await.expect("A");
    c.close().await.expect("close B");
    eprintln!("B: {polls} polls, slowest {slowest:?}");
    let seen = seen.lock().unwrap();
    let repeated: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] > 1).take(10).collect();
    let missing: Vec<usize> = (0..TOTAL).filter(|v| seen[*v] == 0).take(10).collect();
    assert!(
        repeated.is_empty() && missing.is_empty(),
        "repeated {repeated:?}, missing {missing:?}"
    );
}
