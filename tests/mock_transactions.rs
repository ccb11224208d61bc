//! The transactional producer against the MockCluster's transaction coordinator, under faults
//! a real broker cannot produce on demand: retriable coordinator errors on every transaction
//! API, a coordinator move mid-transaction, a connection cut after EndTxn was applied. The
//! outcome must be exactly the committed data and offsets, for transactions versions 1 and 2.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka::consumer::{ConsumerGroupMetadata, OffsetAndMetadata, TopicPartition};
use ferrokafka::mock::{ChaosSchedule, Fault, FaultAction, MockCluster};
use ferrokafka::{KafkaProducer, ProducerConfig, ProducerRecord};

const TOPIC: &str = "out";
const PARTITIONS: i32 = 3;
const GROUP: &str = "g";
const INPUT: &str = "in";

const INIT_PRODUCER_ID: i16 = 22;
const ADD_PARTITIONS_TO_TXN: i16 = 24;
const ADD_OFFSETS_TO_TXN: i16 = 25;
const END_TXN: i16 = 26;
const TXN_OFFSET_COMMIT: i16 = 28;
const APIS: [i16; 5] = [
    INIT_PRODUCER_ID,
    ADD_PARTITIONS_TO_TXN,
    ADD_OFFSETS_TO_TXN,
    END_TXN,
    TXN_OFFSET_COMMIT,
];

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const RETRIABLE: [i16; 4] = [
    CONCURRENT_TRANSACTIONS,
    COORDINATOR_LOAD_IN_PROGRESS,
    NOT_COORDINATOR,
    COORDINATOR_NOT_AVAILABLE,
];

async fn cluster(version: i16, seed: u64) -> MockCluster {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let c = MockCluster::builder()
        .brokers(3)
        .seed(seed)
        .transaction_version(version)
        .build()
        .await
        .expect("mock");
    assert!(c.create_topic(TOPIC, PARTITIONS));
    assert!(c.create_topic(INPUT, 1));
    c
}

fn producer(bootstrap: &str, id: &str) -> KafkaProducer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("transactional.id", id)
        .set("retry.backoff.ms", "5")
        .set("retry.backoff.max.ms", "50")
        .set("request.timeout.ms", "2000")
        .set("linger.ms", "1")
        .build()
        .expect("config");
    KafkaProducer::new(config).expect("producer")
}

fn group() -> ConsumerGroupMetadata {
    // Without membership (generation -1): the coordinator fences nothing, as for a consumer
    // that assigns partitions itself.
    ConsumerGroupMetadata {
        group_id: GROUP.to_string(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
    }
}

/// Every committed value of the output topic, sorted (partition order is not the point here).
fn committed(c: &MockCluster) -> Vec<String> {
    let mut out: Vec<String> = (0..PARTITIONS)
        .flat_map(|p| c.committed_records(TOPIC, p).expect("committed records"))
        .map(|r| String::from_utf8(r.value.unwrap_or_default().to_vec()).expect("utf8"))
        .collect();
    out.sort();
    out
}

/// The group's offsets for the input partition, in commit order.
fn committed_offsets(c: &MockCluster) -> Vec<i64> {
    c.commit_log(GROUP)
        .iter()
        .filter(|k| k.topic == INPUT)
        .map(|k| k.offset)
        .collect()
}

/// One transaction: `n` records named `{tag}-{i}` over every partition, and the input offset
/// `offset`; committed or aborted. `between` runs after the records are written and before
/// EndTxn (so after AddPartitionsToTxn in the version 1 flow).
async fn transaction(
    p: &KafkaProducer,
    tag: &str,
    n: usize,
    offset: i64,
    commit: bool,
    between: impl FnOnce(),
) {
    p.begin_transaction().expect("begin");
    let mut sends = Vec::new();
    for i in 0..n {
        let r =
            ProducerRecord::new(TOPIC, format!("{tag}-{i:03}")).partition(i as i32 % PARTITIONS);
        sends.push(p.send(r));
    }
    for s in sends {
        s.await.unwrap_or_else(|e| panic!("{tag}: send: {e}"));
    }
    let offsets = BTreeMap::from([(
        TopicPartition::new(INPUT, 0),
        OffsetAndMetadata::new(offset),
    )]);
    p.send_offsets_to_transaction(&offsets, &group())
        .await
        .unwrap_or_else(|e| panic!("{tag}: send offsets: {e}"));
    between();
    let end = if commit {
        p.commit_transaction().await
    } else {
        p.abort_transaction().await
    };
    end.unwrap_or_else(|e| panic!("{tag}: end (commit {commit}): {e}"));
}

fn expected(tags: &[&str], n: usize) -> Vec<String> {
    let mut v: Vec<String> = tags
        .iter()
        .flat_map(|t| (0..n).map(move |i| format!("{t}-{i:03}")))
        .collect();
    v.sort();
    v
}

/// Three transactions (committed, aborted, committed) with `fault` injected after the
/// producer is created; `between` runs before each EndTxn. Exactly the committed records and
/// offsets are visible.
async fn run(version: i16, fault: Option<Fault>, between: impl Fn(&MockCluster, usize)) {
    let c = cluster(version, 11).await;
    if let Some(f) = fault {
        c.inject(f);
    }
    let p = producer(&c.bootstrap_servers(), "tx");
    p.init_transactions().await.expect("init");
    transaction(&p, "a", 12, 5, true, || between(&c, 0)).await;
    transaction(&p, "b", 9, 99, false, || between(&c, 1)).await;
    transaction(&p, "c", 12, 17, true, || between(&c, 2)).await;
    p.close(Duration::from_secs(5)).await;
    c.clear_faults();
    assert_eq!(committed(&c), expected(&["a", "c"], 12), "v{version}");
    assert_eq!(committed_offsets(&c), vec![5, 17], "v{version}");
}

async fn every_retriable_error(times: u32) {
    for version in [1, 2] {
        for api in APIS {
            for code in RETRIABLE {
                eprintln!("v{version} api {api} code {code} x{times}");
                run(
                    version,
                    Some(Fault::new(api, FaultAction::Error(code)).times(times)),
                    |_, _| {},
                )
                .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_coordinator_errors_once() {
    every_retriable_error(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_coordinator_errors_repeated() {
    every_retriable_error(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_moves_between_add_partitions_and_end_txn() {
    for version in [1, 2] {
        // Each transaction moves it to the next broker, so at least two of three are moves.
        run(version, None, |c, i| {
            c.move_txn_coordinator(1 + (i as i32 + 1) % 3)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cut_after_end_txn_applied() {
    for version in [1, 2] {
        for action in [FaultAction::DropAfter, FaultAction::CutResponse] {
            eprintln!("v{version} {action:?}");
            run(
                version,
                Some(Fault::new(END_TXN, action).times(2)),
                |_, _| {},
            )
            .await;
        }
    }
}

/// A seeded chaos run with transaction events: the read_committed content is exactly the
/// committed transactions.
/// (It once ran an event every 5-50 ms for as long as the work lasted: faults then outnumbered
/// requests, a transaction stayed open past transaction.timeout.ms and the coordinator rightly
/// fenced the producer; the debug log showed every error retried, none escaping.)
// Once ignored: a run under load left a transaction open past transaction.timeout.ms and was
// fenced. The sender loop had slept until a batch's delivery timeout (120 s): a partition queued
// while an AddPartitionsToTxn ran was never added, because the woken loop saw the finished
// task's handle not yet ended (fixed; lib test a_partition_queued_during_add_partitions_is_added_next).
// TXN_CHAOS_SEED=1270 replays the schedule that showed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_with_transactions() {
    const TXNS: usize = 30;
    const PER: usize = 20;
    const CHAOS_EVENTS: usize = 80;
    for version in [1, 2] {
        // TXN_CHAOS_SEED=N replays another schedule.
        let base = std::env::var("TXN_CHAOS_SEED").map_or(1000, |s| s.parse().expect("seed"));
        let seed = base + version as u64;
        let c = cluster(version, seed).await;
        let mut schedule =
            ChaosSchedule::new(seed, &c, &[(TOPIC, PARTITIONS)]).with_transactions(true);
        let boot = c.bootstrap_servers();
        let work = tokio::spawn(async move {
            let p = producer(&boot, "chaos");
            p.init_transactions().await.expect("init");
            let mut tags = Vec::new();
            for t in 0..TXNS {
                let tag = format!("t{t:02}");
                let commit = t % 3 != 1;
                transaction(&p, &tag, PER, t as i64, commit, || {}).await;
                if commit {
                    tags.push((tag, t as i64));
                }
            }
            p.close(Duration::from_secs(5)).await;
            tags
        });
        let mut events = 0;
        // As in mock_chaos: a bounded burst of events (faults pile up if they come faster than
        // requests, and a transaction kept open past transaction.timeout.ms is rightly fenced),
        // then the work finishes on a healed cluster.
        while !work.is_finished() && events < CHAOS_EVENTS {
            let (pause, event) = schedule.next_event();
            tokio::time::sleep(pause).await;
            c.apply(&event).await.expect("chaos event");
            events += 1;
        }
        c.clear_faults();
        let tags = work.await.expect("producer task");
        let names: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            committed(&c),
            expected(&names, PER),
            "v{version}, seed {seed}, {events} events"
        );
        let offsets: Vec<i64> = tags.iter().map(|(_, o)| *o).collect();
        assert_eq!(committed_offsets(&c), offsets, "v{version}, seed {seed}");
        assert!(events > 0);
        eprintln!("v{version}, seed {seed}: {events} chaos events");
    }
}
