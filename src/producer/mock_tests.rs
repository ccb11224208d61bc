//! `buffer.memory` accounting against the MockCluster: what the producer holds for records
//! (batches, their wire copies, request frames) is reserved before it is held, and a broker
//! that stops reading makes senders wait, then time out, instead of queueing without bound.

use std::time::Duration;

use super::*;
use crate::mock::MockCluster;
use crate::network::Target;
use crate::protocol::record_batch::BATCH_HEADER_LEN;

const MEMORY: usize = 1 << 20;

async fn cluster() -> MockCluster {
    let c = MockCluster::builder().build().await.expect("mock");
    assert!(c.create_topic("t", 1));
    c
}

fn producer(bootstrap: &str, props: &[(&str, &str)]) -> KafkaProducer {
    let mut b = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set("buffer.memory", MEMORY.to_string())
        .set("request.timeout.ms", "30000");
    for (k, v) in props {
        b = b.set(*k, *v);
    }
    KafkaProducer::new(b.build().expect("config")).expect("producer")
}

/// Bytes of `buffer.memory` reserved now.
fn in_use(p: &KafkaProducer) -> usize {
    let pool = &p.inner.acc.pool;
    pool.total() - pool.available()
}

/// Bytes of `buffer.memory` reserved once the completions under way have given theirs back
/// (a waiter may wake before the sender releases its batch's bytes).
async fn settled_in_use(p: &KafkaProducer) -> usize {
    for _ in 0..500 {
        if in_use(p) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    in_use(p)
}

/// The exact encoded size of a record with no key or headers: the first record of a batch.
fn record_size(value: &[u8]) -> usize {
    RecordBatchBuilder::estimate_record_size(0, 0, None, Some(value), &[])
}

// Records sent while the partition's first answered batch's successor is still in flight go
// out in batches of their own, not queued behind it: the sender recorded that the broker
// acknowledged the partition's first batch (KIP-98: it checks every later sequence), so later
// batches may pipeline (max.in.flight.requests.per.connection=5).
#[tokio::test(flavor = "current_thread")]
async fn an_acknowledged_partition_pipelines_its_batches() {
    let c = cluster().await;
    let p = producer(
        &c.bootstrap_servers(),
        &[("linger.ms", "0"), ("enable.idempotence", "true")],
    );
    p.send(ProducerRecord::new("t", "r0")).await.expect("r0");
    c.inject(crate::mock::Fault::new(
        0,
        crate::mock::FaultAction::Delay(Duration::from_secs(2)),
    ));
    let mut pending = Vec::new();
    for v in ["r1", "r2", "r3"] {
        pending.push(p.enqueue(ProducerRecord::new("t", v)).await.expect(v));
        // The sender drains the record alone before the next arrives.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for f in pending {
        f.await.expect("delivered");
    }
    let batches: Vec<usize> = c
        .batches("t", 0)
        .expect("batches")
        .iter()
        .map(|b| b.record_count)
        .collect();
    assert_eq!(batches, vec![1, 1, 1, 1], "one request in flight at a time");
}

// One thread, as below.
#[tokio::test(flavor = "current_thread")]
async fn a_completed_batch_leaves_its_buffer_to_the_next_one() {
    let c = cluster().await;
    let p = producer(&c.bootstrap_servers(), &[("linger.ms", "0")]);
    for i in 0..3 {
        p.send(ProducerRecord::new("t", format!("v{i}")))
            .await
            .expect("sent");
    }
    // Each record was a batch of its own in a fresh 1 KiB buffer, kept once it completed.
    for _ in 0..500 {
        if p.inner.acc.pool.free_buffers() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kept = p.inner.acc.pool.free_buffers();
    assert!(kept > 0, "no buffer kept");
    assert_eq!(settled_in_use(&p).await, 0, "kept buffers count as free");
    let f = p.enqueue(ProducerRecord::new("t", "next")).await;
    assert_eq!(
        p.inner.acc.pool.free_buffers(),
        kept - 1,
        "the new batch took a kept buffer"
    );
    assert_eq!(in_use(&p), 1024);
    f.expect("enqueue").await.expect("delivered");
    // The reused buffer's batch holds its own record only, under a header of its own.
    let values: Vec<_> = c
        .records("t", 0)
        .expect("records")
        .into_iter()
        .map(|r| (r.offset, r.value))
        .collect();
    let want: Vec<_> = ["v0", "v1", "v2", "next"]
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, Some(bytes::Bytes::from_static(v.as_bytes()))))
        .collect();
    assert_eq!(values, want);
}

// One thread: the sender cannot run between an enqueue and the look at the pool that follows
// it. With two, it could drain the full batches and give their memory back in between.
#[tokio::test(flavor = "current_thread")]
async fn a_new_batch_reserves_1_kib_and_records_with_room_reserve_nothing() {
    let c = cluster().await;
    let p = producer(
        &c.bootstrap_servers(),
        &[("linger.ms", "60000"), ("batch.size", "16384")],
    );
    let warm = p.enqueue(ProducerRecord::new("t", "warm")).await;
    p.flush().await;
    warm.expect("enqueue").await.expect("warm up");
    assert_eq!(
        settled_in_use(&p).await,
        0,
        "everything given back after the flush"
    );

    let mut futures = Vec::new();
    let rec = |v: Vec<u8>| ProducerRecord::new("t", v).partition(0);
    futures.push(p.enqueue(rec(vec![1; 100])).await.expect("enqueue"));
    assert_eq!(
        in_use(&p),
        1024,
        "a new batch after a small one reserves 1 KiB"
    );
    futures.push(p.enqueue(rec(vec![2; 100])).await.expect("enqueue"));
    assert_eq!(in_use(&p), 1024, "a record with room reserves nothing");
    // Larger than batch.size: a batch of its own, reserving the record and a batch header.
    let big = vec![3; 20_000];
    let big_alloc = record_size(&big) + DELTA_SLACK + BATCH_OVERHEAD;
    futures.push(p.enqueue(rec(big)).await.expect("enqueue"));
    assert_eq!(in_use(&p), 1024 + big_alloc);
    p.flush().await;
    for f in futures {
        f.await.expect("delivered");
    }
    assert_eq!(settled_in_use(&p).await, 0, "every reservation given back");
    p.close(Duration::from_secs(5)).await;
}

/// Issue #19: a new batch reserves 1 KiB (or what its partition's last batch held) and its
/// reservation doubles as records fill it, up to `batch.size`, so `buffer.memory` holds a batch
/// per partition when partitions outnumber `buffer.memory / batch.size` (before, 32 MiB held
/// 32 batches of 1 MiB, and a producer writing to 100 partitions waited for memory on every
/// 33rd record).
#[tokio::test(flavor = "current_thread")]
async fn a_batch_reserves_as_it_fills() {
    let c = cluster().await;
    assert!(c.create_topic("many", 64));
    let p = producer(
        &c.bootstrap_servers(),
        &[
            ("linger.ms", "60000"),
            ("batch.size", MEMORY.to_string().as_str()),
            ("max.block.ms", "5000"),
        ],
    );
    let warm = p
        .enqueue(ProducerRecord::new("many", "warm").partition(0))
        .await;
    p.flush().await;
    warm.expect("enqueue").await.expect("warm up");
    assert_eq!(settled_in_use(&p).await, 0);

    let rec = |partition: i32, v: Vec<u8>| ProducerRecord::new("many", v).partition(partition);
    let mut futures = Vec::new();
    // 60 partitions x 1 MiB would be 60 times the budget.
    for partition in 0..60 {
        futures.push(
            p.enqueue(rec(partition, vec![1; 100]))
                .await
                .expect("enqueue"),
        );
        assert_eq!(
            in_use(&p),
            (partition as usize + 1) * 1024,
            "a new batch reserves 1 KiB"
        );
    }
    // Partition 0's batch passes 16 KiB: its reservation doubled from 1 KiB to 32 KiB.
    for _ in 0..200 {
        futures.push(p.enqueue(rec(0, vec![2; 100])).await.expect("enqueue"));
    }
    assert_eq!(in_use(&p), 59 * 1024 + 32 * 1024);
    tokio::task::yield_now().await;
    let written: i64 = (0..60).map(|i| c.end_offset("many", i).unwrap_or(0)).sum();
    assert_eq!(
        written, 1,
        "nothing sent but the warm-up: no batch is full, none waited"
    );

    // The budget runs out while partition 0's batch grows (512 KiB to 1 MiB does not fit): it
    // goes as it is, a new batch takes the record once memory is back, and nothing waits past
    // max.block.ms.
    for _ in 0..12_000 {
        futures.push(
            p.enqueue(rec(0, vec![3; 100]))
                .await
                .expect("enqueue within max.block.ms"),
        );
        assert!(
            in_use(&p) <= MEMORY,
            "reservations stay within buffer.memory"
        );
    }
    p.flush().await;
    for f in futures {
        f.await.expect("delivered");
    }
    assert_eq!(settled_in_use(&p).await, 0, "every reservation given back");
    p.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks0_to_a_broker_that_stops_reading_blocks_within_buffer_memory_then_times_out() {
    let c = cluster().await;
    let p = producer(
        &c.bootstrap_servers(),
        &[("acks", "0"), ("linger.ms", "0"), ("max.block.ms", "300")],
    );
    p.send(ProducerRecord::new("t", "warm"))
        .await
        .expect("warm up");
    let conn = p
        .inner
        .net
        .connection(Target::Node(1))
        .await
        .expect("connection");
    c.set_read_rate(Some(0));
    // Far more than buffer.memory plus what the kernel's socket buffers take.
    const LIMIT: usize = 64 * 1024;
    let mut accepted = Vec::new();
    let mut max_queued = 0;
    let refused = loop {
        match p.enqueue(ProducerRecord::new("t", vec![b'x'; 1000])).await {
            Ok(f) => accepted.push(f),
            Err(e) => break Some(e.error),
        }
        max_queued = max_queued.max(conn.queued_bytes());
        if accepted.len() == LIMIT {
            break None;
        }
    };
    assert!(
        max_queued <= MEMORY,
        "{max_queued} bytes queued for a socket the broker does not read, over buffer.memory \
         ({MEMORY}); {} records accepted",
        accepted.len()
    );
    match refused {
        Some(Error::Timeout(_)) => {}
        other => panic!(
            "expected a max.block.ms timeout, got {other:?} after {} records",
            accepted.len()
        ),
    }
    c.set_read_rate(None);
    for f in accepted {
        f.await.expect("written once the broker reads again");
    }
    assert_eq!(settled_in_use(&p).await, 0, "every reservation given back");
    p.close(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_holds_its_batch_and_its_frame() {
    let c = cluster().await;
    let p = producer(&c.bootstrap_servers(), &[("acks", "1"), ("linger.ms", "0")]);
    p.send(ProducerRecord::new("t", "warm"))
        .await
        .expect("warm up");
    c.set_read_rate(Some(0));
    let value = vec![b'y'; 1000];
    let f = p
        .enqueue(ProducerRecord::new("t", value.clone()))
        .await
        .expect("enqueue");
    // An uncompressed batch is built in place: its allocation (the record's size estimate and
    // a header) becomes its wire bytes, and the request frame copies them.
    let wire = BATCH_HEADER_LEN + record_size(&value);
    let allocation = wire + DELTA_SLACK;
    let mut seen = Vec::new();
    for _ in 0..500 {
        let now = in_use(&p);
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if now == allocation + wire {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen.last(),
        Some(&(allocation + wire)),
        "reserved bytes seen while the request is in flight: {seen:?}"
    );
    c.set_read_rate(None);
    f.await.expect("delivered");
    assert_eq!(settled_in_use(&p).await, 0, "every reservation given back");
    p.close(Duration::from_secs(5)).await;
}
