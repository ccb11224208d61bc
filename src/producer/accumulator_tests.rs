//! The drain's index of ready partitions: what a drain looks at, and that it still drains the
//! same batches in the same order as a scan of every partition.

use std::time::Duration;

use tokio::time::Instant;

use super::drain::DrainPass;
use super::*;
use crate::network::metadata::{Cluster, PartitionMeta, TopicMeta};
use crate::types::{Node, TopicId};

const TOPIC: &str = "t";

fn accumulator(linger: Duration, max_request_size: usize) -> Accumulator {
    Accumulator::new(
        AccumulatorConfig {
            batch_size: 1024,
            linger,
            compression: Compression::None,
            compression_level: None,
            delivery_timeout: Duration::from_secs(120),
            max_request_size,
            adaptive: true,
            transactional: false,
        },
        1 << 30,
    )
}

/// `partitions` partitions, partition p led by node `p % nodes`.
fn cluster(partitions: i32, nodes: i32) -> Cluster {
    Cluster {
        cluster_id: None,
        controller_id: 0,
        brokers: (0..nodes)
            .map(|id| {
                let node = Node {
                    id,
                    host: "127.0.0.1".into(),
                    port: 9092,
                    rack: None,
                };
                (id, node)
            })
            .collect(),
        topics: [(
            TOPIC.to_string(),
            TopicMeta {
                name: TOPIC.into(),
                id: TopicId([1; 16]),
                is_internal: false,
                error: None,
                partitions: (0..partitions)
                    .map(|id| PartitionMeta {
                        id,
                        leader: id % nodes,
                        leader_epoch: 0,
                        replicas: vec![id % nodes],
                        isr: vec![id % nodes],
                        offline: Vec::new(),
                        error: None,
                    })
                    .collect(),
            },
        )]
        .into(),
        fetched_at: None,
    }
}

fn append(acc: &Accumulator, partition: i32, bytes: usize) {
    append_wakes(acc, partition, bytes);
}

/// (node, partitions in drain order) of every drained request, by node.
fn drained(pass: &DrainPass) -> Vec<(i32, Vec<i32>)> {
    let mut out: Vec<(i32, Vec<i32>)> = pass
        .drained
        .iter()
        .map(|d| (d.node, d.batches.iter().map(|b| b.partition()).collect()))
        .collect();
    out.sort();
    out
}

#[tokio::test(start_paused = true)]
async fn lingering_partitions_are_not_visited_again_until_ready() {
    let acc = accumulator(Duration::from_millis(5), 1 << 20);
    let c = cluster(10_000, 1);
    acc.topic(TOPIC).set_num_partitions(10_000);
    for p in 0..10_000 {
        append(&acc, p, 10);
    }
    let now = Instant::now();
    let first = acc.drain(&c, now, |_| true, None);
    assert!(first.drained.is_empty(), "every batch lingers");
    assert_eq!(first.next_wake, Some(now + Duration::from_millis(5)));

    let idle = acc.drain(&c, now, |_| true, None);
    assert_eq!(idle.visited, 0, "nothing changed, nothing to look at");
    assert!(idle.drained.is_empty());

    // A batch behind another (this record does not fit the first) is ready before the linger ends.
    append(&acc, 4321, 1000);
    let one = acc.drain(&c, now, |_| true, None);
    assert_eq!(drained(&one), vec![(0, vec![4321])]);
    assert!(one.visited <= 2, "visited {}", one.visited);

    let later = now + Duration::from_millis(5);
    let all = acc.drain(&c, later, |_| true, None);
    assert_eq!(
        all.drained.iter().map(|d| d.batches.len()).sum::<usize>(),
        10_000
    );
    let empty = acc.drain(&c, later, |_| true, None);
    assert_eq!(empty.visited, 0, "drained partitions leave the index");
}

#[tokio::test(start_paused = true)]
async fn drain_order_is_partition_order_within_the_request_size() {
    // Each batch is about 600 bytes: two fit a 1,300-byte request.
    let acc = accumulator(Duration::ZERO, 1300);
    let c = cluster(6, 2);
    acc.topic(TOPIC).set_num_partitions(6);
    for p in [5, 3, 1, 0, 2, 4] {
        append(&acc, p, 500);
    }
    let now = Instant::now();
    let pass = acc.drain(&c, now, |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![0, 2]), (1, vec![1, 3])]);
    let pass = acc.drain(&c, now, |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![4]), (1, vec![5])]);
    assert!(acc.drain(&c, now, |_| true, None).drained.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_full_node_holds_its_partitions_until_it_has_room() {
    let acc = accumulator(Duration::ZERO, 1 << 20);
    let c = cluster(4, 2);
    acc.topic(TOPIC).set_num_partitions(4);
    for p in 0..4 {
        append(&acc, p, 10);
    }
    let now = Instant::now();
    let pass = acc.drain(&c, now, |n| n == 1, None);
    assert_eq!(drained(&pass), vec![(1, vec![1, 3])]);
    let pass = acc.drain(&c, now, |n| n == 1, None);
    assert!(pass.drained.is_empty(), "node 0 is still full");
    let pass = acc.drain(&c, now, |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![0, 2])]);
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_partition_waits_for_its_first_ack_then_pipelines() {
    let acc = accumulator(Duration::ZERO, 1 << 20);
    let c = cluster(2, 1);
    acc.topic(TOPIC).set_num_partitions(2);
    let id = Some((7, 0));
    append(&acc, 0, 10);
    let now = Instant::now();
    let mut first = acc.drain(&c, now, |_| true, id);
    assert_eq!(drained(&first), vec![(0, vec![0])]);

    append(&acc, 0, 10);
    append(&acc, 1, 10);
    let pass = acc.drain(&c, now, |_| true, id);
    assert_eq!(
        drained(&pass),
        vec![(0, vec![1])],
        "partition 0 waits for its answer"
    );
    assert!(acc.drain(&c, now, |_| true, id).drained.is_empty());

    // The answer: acknowledged under the current id, so later batches may pipeline.
    let b = first.drained.remove(0).batches.remove(0);
    acc.done_in_flight_all([Answered {
        topic: TOPIC,
        partition: 0,
        sequence: b.sequence.map(|s| s.base_sequence),
        acknowledged: b.sequence,
    }]);
    let pass = acc.drain(&c, now, |_| true, id);
    assert_eq!(drained(&pass), vec![(0, vec![0])]);
    append(&acc, 0, 10);
    let pass = acc.drain(&c, now, |_| true, id);
    assert_eq!(
        drained(&pass),
        vec![(0, vec![0])],
        "pipelined behind one in flight"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_partition_still_expires() {
    let acc = accumulator(Duration::ZERO, 1 << 20);
    let c = cluster(1, 1);
    acc.topic(TOPIC).set_num_partitions(1);
    let id = Some((7, 0));
    append(&acc, 0, 10);
    let now = Instant::now();
    let first = acc.drain(&c, now, |_| true, id);
    assert_eq!(drained(&first), vec![(0, vec![0])]);
    append(&acc, 0, 10);
    let pass = acc.drain(&c, now, |_| true, id);
    assert!(pass.drained.is_empty() && pass.expired.is_empty());
    let deadline = now + Duration::from_secs(120);
    assert!(pass.next_wake.is_none_or(|w| w <= deadline));
    let pass = acc.drain(&c, deadline, |_| true, id);
    assert_eq!(
        pass.expired.len(),
        1,
        "expired while waiting for the first batch's answer"
    );
    assert!(pass.drained.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_resend_is_looked_at_after_its_backoff() {
    let acc = accumulator(Duration::from_secs(60), 1 << 20);
    let c = cluster(1, 1);
    acc.topic(TOPIC).set_num_partitions(1);
    append(&acc, 0, 1000);
    let now = Instant::now();
    let mut pass = acc.drain(&c, now, |_| true, None);
    let mut b = pass.drained.remove(0).batches.remove(0);
    acc.done_in_flight(TOPIC, 0, None);
    b.attempts = 1;
    b.retry_at = Some(now + Duration::from_millis(100));
    acc.reenqueue(b);
    let pass = acc.drain(&c, now, |_| true, None);
    assert!(pass.drained.is_empty());
    assert_eq!(pass.next_wake, Some(now + Duration::from_millis(100)));
    let pass = acc.drain(&c, now + Duration::from_millis(100), |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![0])]);
}

/// Whether appending one record of `bytes` to `partition` asks to wake the sender.
fn append_wakes(acc: &Accumulator, partition: i32, bytes: usize) -> bool {
    let topic = acc.topic(TOPIC);
    let record = ProducerRecord::new(TOPIC, vec![7u8; bytes]);
    match acc.append(
        &topic,
        Some(partition),
        &record,
        0,
        bytes + 64,
        0,
        &mut None,
    ) {
        Ok(Append::Done(a)) => a.wake_sender,
        Ok(Append::NeedsMemory(n)) => panic!("needs {n} bytes"),
        Err(e) => panic!("append: {e}"),
    }
}

/// Issue #19: at 1,000 partitions every new batch woke the sender (a thread wake-up each). A
/// lone new batch that lingers goes into the index's timers instead, and wakes the sender only
/// if it runs (it may have passed the partition) or sleeps past the linger's end.
#[tokio::test(start_paused = true)]
async fn a_lone_lingering_batch_wakes_only_a_sender_that_sleeps_past_its_linger() {
    let acc = accumulator(Duration::from_millis(5), 1 << 20);
    let c = cluster(4, 1);
    acc.topic(TOPIC).set_num_partitions(4);
    let now = Instant::now();
    assert!(append_wakes(&acc, 0, 10), "the sender runs: wake it");

    acc.sender_sleeps_until(now + Duration::from_millis(1));
    assert!(
        !append_wakes(&acc, 1, 10),
        "it wakes before partition 1's linger ends"
    );
    assert!(!append_wakes(&acc, 1, 10), "room in partition 1's batch");
    assert!(
        append_wakes(&acc, 1, 1000),
        "a batch behind a full one is ready now"
    );

    acc.sender_sleeps_until(now + Duration::from_secs(1));
    assert!(append_wakes(&acc, 2, 10), "it sleeps past the linger's end");

    // The sender that woke at 1 ms finds partition 1 full (ready) and the lingering batches
    // due by their timers, without being told.
    acc.sender_runs();
    let pass = acc.drain(&c, now + Duration::from_millis(1), |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![1])]);
    assert_eq!(pass.next_wake, Some(now + Duration::from_millis(5)));
    let pass = acc.drain(&c, now + Duration::from_millis(5), |_| true, None);
    assert_eq!(drained(&pass), vec![(0, vec![0, 1, 2])]);
}

/// The thread's last topic (`LAST_TOPIC`) answers only for its own accumulator and name, and
/// does not keep a dropped accumulator's queues alive.
#[test]
fn topic_lookups_through_the_thread_cache() {
    let a = accumulator(Duration::ZERO, 1 << 20);
    let b = accumulator(Duration::ZERO, 1 << 20);
    let ax = a.topic("x");
    assert!(Arc::ptr_eq(&a.topic("x"), &ax), "a hit is the same queues");
    let bx = b.topic("x");
    assert!(
        !Arc::ptr_eq(&bx, &ax),
        "another accumulator's topic of the same name"
    );
    assert!(Arc::ptr_eq(&a.topic("x"), &ax));
    let ay = a.topic("y");
    assert_eq!(&*ay.name, "y");
    assert!(!Arc::ptr_eq(&ay, &ax));
    assert!(Arc::ptr_eq(&a.topic("x"), &ax), "the map still holds x");
    assert!(Arc::ptr_eq(&b.topic("x"), &bx));
    // A topic the thread looked up last, of an accumulator dropped since, is freed.
    let gone = Arc::downgrade(&bx);
    drop((b, bx));
    assert!(
        gone.upgrade().is_none(),
        "the thread's cache kept dropped queues alive"
    );
}

/// A partition's next batch allocates what its last one held and a quarter more, so that a
/// batch like the last never grows (growing copies every record it holds, issue #19).
#[tokio::test(start_paused = true)]
async fn a_batch_like_the_last_one_does_not_grow() {
    let acc = Accumulator::new(
        AccumulatorConfig {
            batch_size: 64 * 1024,
            ..accumulator(Duration::ZERO, 1 << 20).cfg
        },
        1 << 30,
    );
    let c = cluster(1, 1);
    acc.topic(TOPIC).set_num_partitions(1);
    let in_use = || acc.pool.total() - acc.pool.available();
    for _ in 0..40 {
        append(&acc, 0, 100);
    }
    let pass = acc.drain(&c, Instant::now(), |_| true, None);
    let last = pass.drained[0].batches[0].size();
    assert!(last > 4000, "the first batch holds {last} bytes");
    let before = in_use();
    append(&acc, 0, 100);
    assert_eq!(
        in_use() - before,
        last + last / 4,
        "the next batch's allocation"
    );
    for _ in 1..40 {
        append(&acc, 0, 100);
    }
    assert_eq!(in_use() - before, last + last / 4, "the batch grew");
}

/// A topic looked up from another thread-local's destructor, after the thread's topic cache is
/// gone (destructors run in reverse order of registration), is still found.
#[test]
fn topic_lookup_from_a_thread_local_destructor() {
    use std::sync::atomic::AtomicBool;
    struct LookUpOnDrop(Arc<Accumulator>, Arc<AtomicBool>);
    impl Drop for LookUpOnDrop {
        fn drop(&mut self) {
            let found = &*self.0.topic("x").name == "x";
            self.1.store(found, Ordering::SeqCst);
        }
    }
    thread_local! {
        static GUARD: RefCell<Option<LookUpOnDrop>> = const { RefCell::new(None) };
    }
    let acc = Arc::new(accumulator(Duration::ZERO, 1 << 20));
    let found = Arc::new(AtomicBool::new(false));
    let (a, f) = (acc.clone(), found.clone());
    std::thread::spawn(move || {
        GUARD.with_borrow_mut(|g| *g = Some(LookUpOnDrop(a.clone(), f)));
        // The cache's destructor registers after GUARD's, so it runs first.
        a.topic("x");
    })
    .join()
    .expect("the thread ends");
    assert!(found.load(Ordering::SeqCst), "the destructor's lookup");
}
