//! The transactional producer and read_committed consumers against Apache Kafka.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::broker::TestBroker;
use common::{consumer, create_topic, producer};
use ferrokafka::consumer::{ConsumerRecord, KafkaConsumer, OffsetAndMetadata, TopicPartition};
use ferrokafka::{Error, KafkaProducer, ProducerRecord};

/// One broker for this file: the broker looks for timed-out transactions every second
/// (default 10 s) so the timeout test does not wait long.
fn broker() -> &'static TestBroker {
    static B: OnceLock<TestBroker> = OnceLock::new();
    B.get_or_init(|| {
        TestBroker::start_with(&[
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=1000",
        ])
    })
}

/// A broker formatted with `transaction.version=1`: the flow before KIP-890
/// (AddPartitionsToTxn, AddOffsetsToTxn, no epoch bump per transaction).
fn broker_v1() -> &'static TestBroker {
    static B: OnceLock<TestBroker> = OnceLock::new();
    B.get_or_init(|| TestBroker::start_formatted(&[], &["transaction.version=1"]))
}

fn txn_producer(bootstrap: &str, id: &str, extra: &[(&str, &str)]) -> KafkaProducer {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut props = vec![("transactional.id", id), ("linger.ms", "5")];
    props.extend_from_slice(extra);
    producer(bootstrap, &props)
}

fn reader(bootstrap: &str, topic: &str, partitions: i32, level: &str) -> KafkaConsumer {
    let mut c = consumer(
        bootstrap,
        &[("isolation.level", level), ("max.poll.records", "2000")],
    );
    c.assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .expect("assign");
    c
}

/// Polls until `n` records came, then `quiet` more to catch any record too many.
async fn read(c: &mut KafkaConsumer, n: usize, quiet: Duration) -> Vec<ConsumerRecord> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < n && start.elapsed() < Duration::from_secs(60) {
        out.extend(c.poll(Duration::from_millis(200)).await.expect("poll"));
    }
    let end = Instant::now() + quiet;
    while Instant::now() < end {
        out.extend(c.poll(Duration::from_millis(100)).await.expect("poll"));
    }
    out
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8(r.value.clone().expect("value").to_vec()).expect("utf8")
}

/// Values by partition, in offset order.
fn by_partition(records: &[ConsumerRecord]) -> BTreeMap<i32, Vec<String>> {
    let mut m: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    for r in records {
        m.entry(r.partition).or_default().push((r.offset, value(r)));
    }
    m.into_iter()
        .map(|(p, mut v)| {
            assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "offsets increase");
            v.sort();
            (p, v.into_iter().map(|(_, s)| s).collect())
        })
        .collect()
}

const PARTITIONS: i32 = 6;

/// What `txns` transactions of `per_txn` records (value `t-i` to partition i % 6) leave per
/// partition, keeping the transactions `keep` says.
fn expected(
    txns: usize,
    per_txn: usize,
    keep: impl Fn(usize) -> bool,
) -> BTreeMap<i32, Vec<String>> {
    let mut m: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for t in (0..txns).filter(|t| keep(*t)) {
        for i in 0..per_txn {
            m.entry(i as i32 % PARTITIONS)
                .or_default()
                .push(format!("{t}-{i}"));
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_read_committed_sees_only_the_committed() {
    alternate(broker(), "txn-alternate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_with_transactions_version_1() {
    alternate(broker_v1(), "txn-alternate-v1").await;
}

/// 20 transactions of 500 records over 6 partitions, alternately committed and aborted; read
/// back by our consumer (read_committed and read_uncommitted) and Java's (read_committed).
async fn alternate(b: &TestBroker, topic: &str) {
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    const TXNS: usize = 20;
    const PER_TXN: usize = 500;
    let p = txn_producer(&b.bootstrap(), topic, &[]);
    p.init_transactions().await.expect("init_transactions");
    for t in 0..TXNS {
        p.begin_transaction().expect("begin");
        let mut futures = Vec::new();
        for i in 0..PER_TXN {
            let rec =
                ProducerRecord::new(topic, format!("{t}-{i}")).partition(i as i32 % PARTITIONS);
            futures.push(p.enqueue(rec).await.expect("enqueue"));
        }
        if t % 2 == 0 {
            p.commit_transaction().await.expect("commit");
            for f in futures {
                f.await.expect("a committed record was delivered");
            }
        } else {
            p.flush().await;
            p.abort_transaction().await.expect("abort");
        }
    }
    p.close(Duration::from_secs(5)).await;

    let committed = expected(TXNS, PER_TXN, |t| t % 2 == 0);
    let mut c = reader(&b.bootstrap(), topic, PARTITIONS, "read_committed");
    let got = read(&mut c, TXNS / 2 * PER_TXN, Duration::from_secs(1)).await;
    assert_eq!(
        got.len(),
        TXNS / 2 * PER_TXN,
        "exactly the committed records"
    );
    assert_eq!(by_partition(&got), committed, "committed records, in order");

    // The reference client reads the same.
    let out = common::java::peer().run(
        "read",
        &[
            "--bootstrap",
            &b.bootstrap(),
            "--topics",
            topic,
            "--isolation",
            "read_committed",
        ],
        b"",
    );
    let java = common::records::parse_records(&out);
    assert_eq!(
        java.len(),
        TXNS / 2 * PER_TXN,
        "Java read_committed: the committed records"
    );
    let mut java_by: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for r in &java {
        java_by
            .entry(r.partition)
            .or_default()
            .push(String::from_utf8(r.value.clone().expect("value")).expect("utf8"));
    }
    assert_eq!(java_by, committed, "Java read_committed: in the same order");

    let all = expected(TXNS, PER_TXN, |_| true);
    let mut c = reader(&b.bootstrap(), topic, PARTITIONS, "read_uncommitted");
    let got = read(&mut c, TXNS * PER_TXN, Duration::from_secs(1)).await;
    assert_eq!(
        got.len(),
        TXNS * PER_TXN,
        "read_uncommitted returns every record"
    );
    assert_eq!(by_partition(&got), all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_producers_transactions_read_committed_exact() {
    let b = broker();
    let topic = "txn-java";
    create_topic(&b.bootstrap(), topic, PARTITIONS).await;
    const TXNS: usize = 10;
    const PER_TXN: usize = 300;
    let bootstrap = b.bootstrap();
    let (txns, per) = (TXNS.to_string(), PER_TXN.to_string());
    let out = tokio::task::spawn_blocking(move || {
        common::java::peer().run(
            "txn-produce",
            &[
                "--bootstrap",
                &bootstrap,
                "--topic",
                "txn-java",
                "--transactional-id",
                "txn-java",
                "--txns",
                &txns,
                "--per-txn",
                &per,
                "--partitions",
                "6",
            ],
            b"",
        )
    })
    .await
    .expect("java");
    assert!(out.contains("DONE 10"), "{out}");
    let mut c = reader(&b.bootstrap(), topic, PARTITIONS, "read_committed");
    let got = read(&mut c, TXNS / 2 * PER_TXN, Duration::from_secs(1)).await;
    assert_eq!(
        got.len(),
        TXNS / 2 * PER_TXN,
        "exactly the committed records"
    );
    assert_eq!(by_partition(&got), expected(TXNS, PER_TXN, |t| t % 2 == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    fence(broker(), "txn-fence").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fencing_with_transactions_version_1() {
    fence(broker_v1(), "txn-fence-v1").await;
}

async fn fence(b: &TestBroker, topic: &str) {
    create_topic(&b.bootstrap(), topic, 1).await;
    let first = txn_producer(&b.bootstrap(), topic, &[]);
    first.init_transactions().await.expect("init first");
    first.begin_transaction().expect("begin");
    first
        .send(ProducerRecord::new(topic, "first-0").partition(0))
        .await
        .expect("sent before the fence");
    first
        .commit_transaction()
        .await
        .expect("commit before the fence");

    let second = txn_producer(&b.bootstrap(), topic, &[]);
    second.init_transactions().await.expect("init second");

    first.begin_transaction().expect("begin is local");
    let sent = first
        .send(ProducerRecord::new(topic, "first-1").partition(0))
        .await;
    let commit = first.commit_transaction().await;
    assert!(
        matches!(commit, Err(Error::ProducerFenced { .. })),
        "fenced on commit: {commit:?} (send: {sent:?})"
    );
    assert!(
        sent.is_err(),
        "a fenced producer's record is not acknowledged"
    );
    // Fatal: every later call fails with the fence.
    assert!(matches!(
        first.begin_transaction(),
        Err(Error::ProducerFenced { .. })
    ));
    assert!(matches!(
        first.abort_transaction().await,
        Err(Error::ProducerFenced { .. })
    ));

    second.begin_transaction().expect("begin second");
    second
        .send(ProducerRecord::new(topic, "second-0").partition(0))
        .await
        .expect("second sends");
    second.commit_transaction().await.expect("second commits");
    first.close(Duration::from_secs(2)).await;
    second.close(Duration::from_secs(2)).await;

    let mut c = reader(&b.bootstrap(), topic, 1, "read_committed");
    let got = read(&mut c, 2, Duration::from_secs(1)).await;
    let values: Vec<String> = got.iter().map(value).collect();
    assert_eq!(
        values,
        ["first-0", "second-0"],
        "nothing of the fenced producer after the fence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_to_a_transaction_commit_only_with_it() {
    offsets(broker(), "txn-offsets").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_with_transactions_version_1() {
    offsets(broker_v1(), "txn-offsets-v1").await;
}

async fn offsets(b: &TestBroker, name: &str) {
    let input = &format!("{name}-in");
    let output = &format!("{name}-out");
    create_topic(&b.bootstrap(), input, 1).await;
    create_topic(&b.bootstrap(), output, 1).await;
    common::produce_values(
        &b.bootstrap(),
        input,
        1,
        (0..10).map(|i| i.to_string()),
        "none",
    )
    .await;
    let group = &format!("{name}-group");
    let mut c = consumer(
        &b.bootstrap(),
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
            // committed() retries UNSTABLE_OFFSET_COMMIT until this runs out (as Java's).
            ("default.api.timeout.ms", "3000"),
        ],
    );
    c.subscribe([input]).expect("subscribe");
    let got = read(&mut c, 10, Duration::ZERO).await;
    assert_eq!(got.len(), 10);
    let meta = c.group_metadata().expect("group metadata");
    let tp = TopicPartition::new(input, 0);
    let p = txn_producer(&b.bootstrap(), name, &[]);
    p.init_transactions().await.expect("init");

    // Aborted: offset 4 is never committed.
    p.begin_transaction().expect("begin");
    p.send(ProducerRecord::new(output, "x").partition(0))
        .await
        .expect("send");
    let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(4))]);
    p.send_offsets_to_transaction(&offsets, &meta)
        .await
        .expect("send offsets");
    p.abort_transaction().await.expect("abort");
    let committed = c
        .committed(std::slice::from_ref(&tp))
        .await
        .expect("committed");
    assert_eq!(
        committed[&tp], None,
        "an aborted transaction commits no offset"
    );

    // Committed: offset 10 is.
    p.begin_transaction().expect("begin");
    p.send(ProducerRecord::new(output, "y").partition(0))
        .await
        .expect("send");
    let offsets = BTreeMap::from([(tp.clone(), OffsetAndMetadata::new(10))]);
    p.send_offsets_to_transaction(&offsets, &meta)
        .await
        .expect("send offsets");
    // read_committed asks for stable offsets (KIP-447): pending ones are refused until the
    // transaction ends.
    // read_committed asks for stable offsets (KIP-447): pending ones are refused.
    let before = c.committed(std::slice::from_ref(&tp)).await;
    assert_eq!(
        before.as_ref().err().and_then(|e| e.code()).map(|c| c.0),
        Some(88),
        "UNSTABLE_OFFSET_COMMIT while the transaction is open: {before:?}"
    );
    p.commit_transaction().await.expect("commit");
    let after = c
        .committed(std::slice::from_ref(&tp))
        .await
        .expect("committed");
    assert_eq!(after[&tp].as_ref().map(|o| o.offset), Some(10));

    // A generation the group never had is refused: the transaction must abort.
    p.begin_transaction().expect("begin");
    let mut stale = meta.clone();
    stale.generation_id += 100;
    let e = p.send_offsets_to_transaction(&offsets, &stale).await;
    assert!(matches!(e, Err(Error::TransactionAbortable(_))), "{e:?}");
    assert!(matches!(
        p.commit_transaction().await,
        Err(Error::TransactionAbortable(_))
    ));
    p.abort_transaction()
        .await
        .expect("abort after the refusal");
    p.close(Duration::from_secs(2)).await;
    c.close().await.expect("close");

    let mut out = reader(&b.bootstrap(), output, 1, "read_committed");
    let got = read(&mut out, 1, Duration::from_secs(1)).await;
    assert_eq!(got.iter().map(value).collect::<Vec<_>>(), ["y"]);
}

/// Under transactions version 2 the first Produce of a transaction adds its partition, and is
/// answered CONCURRENT_TRANSACTIONS while the previous transaction still writes its markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_begun_right_after_an_abort_sends() {
    let b = broker();
    let topic = "txn-back-to-back";
    create_topic(&b.bootstrap(), topic, 1).await;
    let p = txn_producer(&b.bootstrap(), topic, &[]);
    p.init_transactions().await.expect("init");
    for t in 0..6 {
        p.begin_transaction().expect("begin");
        p.send(ProducerRecord::new(topic, format!("{t}")).partition(0))
            .await
            .unwrap_or_else(|e| panic!("send in transaction {t}: {e}"));
        if t % 2 == 0 {
            p.abort_transaction().await.expect("abort");
        } else {
            p.commit_transaction().await.expect("commit");
        }
    }
    p.close(Duration::from_secs(2)).await;
    let mut c = reader(&b.bootstrap(), topic, 1, "read_committed");
    let got = read(&mut c, 3, Duration::from_millis(500)).await;
    assert_eq!(got.iter().map(value).collect::<Vec<_>>(), ["1", "3", "5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_read_committed_at_the_lso_until_the_broker_aborts_it() {
    let b = broker();
    let topic = "txn-timeout";
    create_topic(&b.bootstrap(), topic, 1).await;
    let tp = TopicPartition::new(topic, 0);
    let p = txn_producer(
        &b.bootstrap(),
        "txn-timeout",
        &[("transaction.timeout.ms", "3000")],
    );
    p.init_transactions().await.expect("init");
    p.begin_transaction().expect("begin");
    for i in 0..100 {
        // Delivery is checked by what the consumers read.
        drop(
            p.enqueue(ProducerRecord::new(topic, format!("c-{i}")).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    p.commit_transaction().await.expect("commit");
    p.begin_transaction().expect("begin");
    for i in 0..50 {
        // Delivery is checked by what the consumers read.
        drop(
            p.enqueue(ProducerRecord::new(topic, format!("open-{i}")).partition(0))
                .await
                .expect("enqueue"),
        );
    }
    p.flush().await;
    // The producer goes away without ending its transaction.
    drop(p);

    let mut rc = reader(&b.bootstrap(), topic, 1, "read_committed");
    let mut ru = reader(&b.bootstrap(), topic, 1, "read_uncommitted");
    let lso = rc
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("end offsets")[&tp];
    let hw = ru
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("end offsets")[&tp];
    assert_eq!(
        (lso, hw),
        (101, 151),
        "LSO before the open transaction (100 records + 1 marker)"
    );
    let got = read(&mut rc, 100, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 100, "read_committed stops at the LSO");

    // The broker aborts it after transaction.timeout.ms (3 s) plus its 1 s check interval.
    let start = Instant::now();
    loop {
        let lso = rc
            .end_offsets(std::slice::from_ref(&tp))
            .await
            .expect("end offsets")[&tp];
        if lso > 151 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the open transaction was never aborted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing is expected: read for 2 s rather than wait for a record.
    let more = read(&mut rc, 0, Duration::from_secs(2)).await;
    assert!(
        more.is_empty(),
        "the timed-out transaction never becomes visible: {:?}",
        more.iter().map(value).collect::<Vec<_>>()
    );
    let all = read(&mut ru, 150, Duration::ZERO).await;
    assert_eq!(all.len(), 150, "read_uncommitted sees the aborted records");
}
