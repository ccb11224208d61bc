//! The mock's transaction coordinator over the wire: raw requests through the crate's own
//! connections, assertions on the answers and on the partition logs.

use std::time::Duration;

use bytes::Bytes;

use super::{Fault, FaultAction, MockCluster, TxnState};
use crate::error::code::{
    CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, ILLEGAL_GENERATION,
    INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, NOT_COORDINATOR, PRODUCER_FENCED,
    TRANSACTION_ABORTABLE, UNKNOWN_MEMBER_ID,
};
use crate::network::connection::{Connection, ConnectionSettings};
use crate::protocol::StrBytes;
use crate::protocol::compression::Compression;
use crate::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::protocol::messages::*;
use crate::protocol::record_batch::{RecordBatchBuilder, decode_batches};

pub(super) const TXN: &str = "tx-1";
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub(super) async fn connect(c: &MockCluster, broker: i32) -> Connection {
    let addr = c
        .bootstrap_servers()
        .split(',')
        .nth(usize::try_from(broker - 1).expect("broker id from 1"))
        .expect("broker address")
        .to_string();
    let settings =
        ConnectionSettings::for_tests("txn-test", Duration::from_secs(5), Duration::from_secs(5));
    Connection::connect(&addr, broker, settings)
        .await
        .expect("connect")
}

pub(super) async fn init(conn: &Connection, version: i16, timeout_ms: i32) -> (i16, i64, i16) {
    let r = conn
        .send_at(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN))))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            version,
            None,
        )
        .await
        .expect("InitProducerId");
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

pub(super) async fn add_partitions(
    conn: &Connection,
    pid: i64,
    epoch: i16,
    parts: &[i32],
) -> Vec<i16> {
    let r = conn
        .send_at(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s(TXN)))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(parts.to_vec()),
                ]),
            3,
            None,
        )
        .await
        .expect("AddPartitionsToTxn");
    r.results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
        })
        .collect()
}

pub(super) async fn end(
    conn: &Connection,
    version: i16,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> i16 {
    conn.send_at(
        EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(TXN)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
        version,
        None,
    )
    .await
    .expect("EndTxn")
    .error_code
}

/// Produces `n` records in one transactional batch; returns the partition's error code.
pub(super) async fn produce(
    conn: &Connection,
    partition: i32,
    pid: i64,
    epoch: i16,
    seq: i32,
    n: usize,
) -> i16 {
    produce_at(conn, 12, partition, pid, epoch, seq, n).await
}

async fn produce_at(
    conn: &Connection,
    version: i16,
    partition: i32,
    pid: i64,
    epoch: i16,
    seq: i32,
    n: usize,
) -> i16 {
    let mut b = RecordBatchBuilder::new(Compression::None, None, 0);
    for i in 0..n {
        // Values name the record by its producer sequence: unique per producer and epoch.
        let v = seq + i32::try_from(i).expect("few records");
        b.append(1_000, None, Some(v.to_string().as_bytes()), &[]);
    }
    let batch = b.build(pid, epoch, seq, true).expect("batch");
    let r = conn
        .send_at(
            ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN))))
                .with_acks(-1)
                .with_timeout_ms(5_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(partition)
                                .with_records(Some(batch)),
                        ]),
                ]),
            version,
            None,
        )
        .await
        .expect("Produce");
    r.responses[0].partition_responses[0].error_code
}

pub(super) struct Fetched {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub aborted: Option<Vec<(i64, i64)>>,
    /// Offsets of data records returned (control batches skipped).
    pub offsets: Vec<i64>,
}

pub(super) async fn fetch(
    conn: &Connection,
    partition: i32,
    from: i64,
    read_committed: bool,
) -> Fetched {
    let r = conn
        .send(
            FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_isolation_level(i8::from(read_committed))
                .with_session_epoch(-1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(s("t")))
                        .with_partitions(vec![
                            FetchPartition::default()
                                .with_partition(partition)
                                .with_fetch_offset(from)
                                .with_partition_max_bytes(1 << 20),
                        ]),
                ]),
        )
        .await
        .expect("Fetch");
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch error");
    let mut offsets = Vec::new();
    for b in decode_batches(p.records.clone().unwrap_or_default(), true).expect("decode") {
        if !b.is_control {
            offsets.extend(b.records.iter().map(|r| r.offset));
        }
    }
    Fetched {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        aborted: p.aborted_transactions.as_ref().map(|a| {
            a.iter()
                .map(|t| (t.producer_id.0, t.first_offset))
                .collect()
        }),
        offsets,
    }
}

pub(super) async fn list_latest(conn: &Connection, partition: i32, read_committed: bool) -> i64 {
    let r = conn
        .send(
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(i8::from(read_committed))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            ListOffsetsPartition::default()
                                .with_partition_index(partition)
                                .with_timestamp(-1),
                        ]),
                ]),
        )
        .await
        .expect("ListOffsets");
    r.topics[0].partitions[0].offset
}

pub(super) async fn cluster(brokers: usize) -> MockCluster {
    let c = MockCluster::builder()
        .brokers(brokers)
        .build()
        .await
        .expect("mock");
    // Every partition led by broker 1, the coordinator.
    c.create_topic("t", 1);
    c.create_topic("in", 1);
    c
}

#[tokio::test]
async fn find_coordinator_for_a_transactional_id() {
    let c = cluster(2).await;
    let conn = connect(&c, 1).await;
    let ask = || {
        FindCoordinatorRequest::default()
            .with_key(s(TXN))
            .with_key_type(1)
    };
    let r = conn.send_at(ask(), 3, None).await.expect("FindCoordinator");
    assert_eq!((r.error_code, r.node_id.0), (0, 1));
    c.move_txn_coordinator(2);
    let r = conn.send_at(ask(), 3, None).await.expect("FindCoordinator");
    assert_eq!((r.error_code, r.node_id.0), (0, 2));
    let group = conn
        .send_at(
            FindCoordinatorRequest::default()
                .with_key(s("g"))
                .with_key_type(0),
            3,
            None,
        )
        .await
        .expect("FindCoordinator");
    assert_eq!(group.node_id.0, 1, "the group coordinator stays");
    let batched = conn
        .send_at(
            FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s(TXN), s("tx-2")]),
            4,
            None,
        )
        .await
        .expect("FindCoordinator v4");
    let nodes: Vec<(i16, i32)> = batched
        .coordinators
        .iter()
        .map(|k| (k.error_code, k.node_id.0))
        .collect();
    assert_eq!(nodes, vec![(0, 2), (0, 2)]);
    // The old coordinator refuses the transaction APIs.
    let (code, _, _) = init(&conn, 4, 60_000).await;
    assert_eq!(code, NOT_COORDINATOR);
}

#[tokio::test]
async fn transactional_produce_needs_the_partition_in_the_transaction() {
    let c = cluster(1).await;
    c.create_topic("t2", 2);
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    // Kafka 4.x answers Produce v11+ (KIP-890) with the abortable error, older versions with
    // INVALID_TXN_STATE.
    assert_eq!(
        produce_at(&conn, 12, 0, pid, epoch, 0, 1).await,
        TRANSACTION_ABORTABLE
    );
    assert_eq!(
        produce_at(&conn, 10, 0, pid, epoch, 0, 1).await,
        INVALID_TXN_STATE
    );
    assert_eq!(c.end_offset("t", 0), Some(0), "nothing appended");
    // An unknown partition fails alone; the others are not attempted.
    let codes = add_partitions(&conn, pid, epoch, &[0, 7]).await;
    assert_eq!(codes, vec![55, 3]);
    assert_eq!(
        produce(&conn, 0, pid, epoch, 0, 1).await,
        TRANSACTION_ABORTABLE
    );
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 1).await, 0);
}

#[tokio::test]
async fn a_second_init_fences_the_first_producer_and_aborts_its_transaction() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e0) = init(&conn, 4, 60_000).await;
    assert_eq!(add_partitions(&conn, pid, e0, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, e0, 0, 2).await, 0);
    // The new instance: Kafka aborts the open transaction and asks it to retry.
    let (code, _, _) = init(&conn, 4, 60_000).await;
    assert_eq!(code, CONCURRENT_TRANSACTIONS);
    let (code, pid2, e2) = init(&conn, 4, 60_000).await;
    assert_eq!((code, pid2, e2), (0, pid, e0 + 2));
    let log = c.batches("t", 0).expect("log");
    assert_eq!(
        log.last().map(|b| (b.marker, b.producer_epoch)),
        Some((Some(false), e0 + 1))
    );
    // The old instance is fenced, named as each version names it.
    assert_eq!(end(&conn, 1, pid, e0, true).await, INVALID_PRODUCER_EPOCH);
    assert_eq!(end(&conn, 3, pid, e0, true).await, PRODUCER_FENCED);
    assert_eq!(
        add_partitions(&conn, pid, e0, &[0]).await,
        vec![PRODUCER_FENCED]
    );
    assert_eq!(
        produce(&conn, 0, pid, e0, 2, 1).await,
        INVALID_PRODUCER_EPOCH
    );
    // As a broker does, the aborted records are returned with the list that tells a
    // read_committed client to drop them.
    let rc = fetch(&conn, 0, 0, true).await;
    assert_eq!(rc.offsets, vec![0, 1]);
    assert_eq!(
        rc.aborted,
        Some(vec![(pid, 0)]),
        "the fenced transaction is aborted"
    );
    assert_eq!(rc.last_stable_offset, 3);
}

async fn txn_offset_commit(
    conn: &Connection,
    pid: i64,
    epoch: i16,
    member: &str,
    generation: i32,
    offset: i64,
) -> i16 {
    let r = conn
        .send_at(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_group_id(GroupId(s("g")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partitions(vec![
                            TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(-1),
                        ]),
                ]),
            3,
            None,
        )
        .await
        .expect("TxnOffsetCommit");
    r.topics[0].partitions[0].error_code
}

async fn offset_fetch(conn: &Connection, require_stable: bool) -> (i16, i64) {
    let r = conn
        .send_at(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_require_stable(require_stable)
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partition_indexes(vec![0]),
                ])),
            7,
            None,
        )
        .await
        .expect("OffsetFetch");
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[tokio::test]
async fn transactional_offsets_become_visible_when_the_transaction_commits() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    assert_eq!(
        txn_offset_commit(&conn, pid, epoch, "", -1, 5).await,
        INVALID_TXN_STATE,
        "the group was not added"
    );
    let add = conn
        .send_at(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(s("g"))),
            3,
            None,
        )
        .await
        .expect("AddOffsetsToTxn");
    assert_eq!(add.error_code, 0);
    assert_eq!(txn_offset_commit(&conn, pid, epoch, "", -1, 5).await, 0);
    assert_eq!(offset_fetch(&conn, false).await, (0, -1), "not visible yet");
    assert_eq!(offset_fetch(&conn, true).await.0, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(end(&conn, 3, pid, epoch, true).await, 0);
    assert_eq!(offset_fetch(&conn, true).await, (0, 5));
    assert_eq!(c.commit_log("g").len(), 1);

    // An aborted transaction's offsets never show.
    let add = conn
        .send_at(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(s("g"))),
            3,
            None,
        )
        .await
        .expect("AddOffsetsToTxn");
    assert_eq!(add.error_code, 0);
    assert_eq!(txn_offset_commit(&conn, pid, epoch, "", -1, 9).await, 0);
    assert_eq!(end(&conn, 3, pid, epoch, false).await, 0);
    assert_eq!(offset_fetch(&conn, true).await, (0, 5));
}

#[tokio::test]
async fn txn_offset_commit_is_fenced_by_generation_and_member() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let join = conn
        .send_at(
            JoinGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("range"))
                        .with_metadata(Bytes::new()),
                ]),
            3,
            None,
        )
        .await
        .expect("JoinGroup");
    assert_eq!(join.error_code, 0);
    let (member, generation) = (join.member_id.to_string(), join.generation_id);
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    let add = conn
        .send_at(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(s("g"))),
            3,
            None,
        )
        .await
        .expect("AddOffsetsToTxn");
    assert_eq!(add.error_code, 0);
    assert_eq!(
        txn_offset_commit(&conn, pid, epoch, &member, generation + 1, 5).await,
        ILLEGAL_GENERATION
    );
    assert_eq!(
        txn_offset_commit(&conn, pid, epoch, "zombie", generation, 5).await,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        txn_offset_commit(&conn, pid, epoch, &member, generation, 5).await,
        0
    );
    assert_eq!(end(&conn, 3, pid, epoch, true).await, 0);
    let log = c.commit_log("g");
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].offset, log[0].generation), (5, generation));
}

#[tokio::test]
async fn transaction_left_open_past_its_timeout_is_aborted() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 300).await;
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 4).await, 0);
    assert_eq!(c.last_stable_offset("t", 0), Some(0));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Aborted by the coordinator's own clock, before anything looks.
    assert_eq!(
        c.shared.data().txns.snapshot(TXN).map(|s| s.state),
        Some(TxnState::CompleteAbort)
    );
    let s = c.txn_state(TXN).expect("known");
    assert_eq!(
        (s.state, s.producer_epoch),
        (TxnState::CompleteAbort, epoch + 1)
    );
    let log = c.batches("t", 0).expect("log");
    assert_eq!(log.last().map(|b| b.marker), Some(Some(false)));
    let rc = fetch(&conn, 0, 0, true).await;
    assert_eq!(rc.offsets, vec![0, 1, 2, 3]);
    assert_eq!(rc.aborted, Some(vec![(pid, 0)]));
    assert_eq!(rc.last_stable_offset, 5);
    assert_eq!(end(&conn, 3, pid, epoch, true).await, PRODUCER_FENCED);
}

#[tokio::test]
async fn injected_coordinator_errors_apply_nothing_until_they_are_spent() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    c.inject(Fault::new(
        24,
        FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS),
    ));
    assert_eq!(
        add_partitions(&conn, pid, epoch, &[0]).await,
        vec![COORDINATOR_LOAD_IN_PROGRESS]
    );
    assert_eq!(c.txn_state(TXN).map(|s| s.state), Some(TxnState::Empty));
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 1).await, 0);
    c.inject(Fault::new(26, FaultAction::Error(CONCURRENT_TRANSACTIONS)).times(3));
    for _ in 0..3 {
        assert_eq!(
            end(&conn, 3, pid, epoch, true).await,
            CONCURRENT_TRANSACTIONS
        );
        assert_eq!(c.txn_state(TXN).map(|s| s.state), Some(TxnState::Ongoing));
    }
    assert_eq!(end(&conn, 3, pid, epoch, true).await, 0);
    assert_eq!(c.last_stable_offset("t", 0), Some(2));
}

#[tokio::test]
async fn connection_cut_after_end_txn_was_applied_and_a_retry_succeeds() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 2).await, 0);
    c.inject(Fault::new(26, FaultAction::DropAfter));
    let cut = conn
        .send_at(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(true),
            3,
            None,
        )
        .await;
    assert!(cut.is_err(), "no answer: {cut:?}");
    assert_eq!(
        c.txn_state(TXN).map(|s| s.state),
        Some(TxnState::CompleteCommit)
    );
    let again = connect(&c, 1).await;
    assert_eq!(
        end(&again, 3, pid, epoch, true).await,
        0,
        "the retry is idempotent"
    );
    let markers = c
        .batches("t", 0)
        .expect("log")
        .iter()
        .filter(|b| b.marker.is_some())
        .count();
    assert_eq!(markers, 1, "one marker, however often EndTxn is retried");
    assert_eq!(fetch(&again, 0, 0, true).await.offsets, vec![0, 1]);
}

#[tokio::test]
async fn coordinator_moves_between_add_partitions_and_end_txn() {
    let c = cluster(2).await;
    let one = connect(&c, 1).await;
    let (_, pid, epoch) = init(&one, 4, 60_000).await;
    assert_eq!(add_partitions(&one, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&one, 0, pid, epoch, 0, 1).await, 0);
    c.move_coordinator(2);
    assert_eq!(end(&one, 3, pid, epoch, true).await, NOT_COORDINATOR);
    let two = connect(&c, 2).await;
    assert_eq!(end(&two, 3, pid, epoch, true).await, 0);
    assert_eq!(fetch(&one, 0, 0, true).await.offsets, vec![0]);
}

#[tokio::test]
async fn markers_written_late_keep_the_lso_and_answer_concurrent_transactions() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    assert_eq!(produce(&conn, 0, pid, epoch, 0, 2).await, 0);
    c.set_txn_marker_delay(Duration::from_millis(200));
    assert_eq!(end(&conn, 3, pid, epoch, true).await, 0);
    assert_eq!(c.last_stable_offset("t", 0), Some(0));
    assert_eq!(init(&conn, 4, 60_000).await.0, CONCURRENT_TRANSACTIONS);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(fetch(&conn, 0, 0, true).await.offsets, vec![0, 1]);
    assert_eq!(init(&conn, 4, 60_000).await, (0, pid, epoch + 1));
}

#[tokio::test]
async fn init_producer_id_names_fencing_by_version_and_takes_injected_errors() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e0) = init(&conn, 4, 60_000).await;
    let (_, _, e1) = init(&conn, 4, 60_000).await;
    assert_eq!(e1, e0 + 1);
    // KIP-360: the fenced instance asks to bump the epoch it had.
    let bump = |version: i16| {
        conn.send_at(
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(TXN))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(e0),
            version,
            None,
        )
    };
    assert_eq!(
        bump(3).await.expect("v3").error_code,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(bump(4).await.expect("v4").error_code, PRODUCER_FENCED);
    c.inject(Fault::new(22, FaultAction::Error(COORDINATOR_LOAD_IN_PROGRESS)).times(2));
    assert_eq!(init(&conn, 4, 60_000).await.0, COORDINATOR_LOAD_IN_PROGRESS);
    assert_eq!(init(&conn, 4, 60_000).await.0, COORDINATOR_LOAD_IN_PROGRESS);
    assert_eq!(
        c.txn_state(TXN).map(|s| s.producer_epoch),
        Some(e1),
        "refused requests change nothing"
    );
    assert_eq!(init(&conn, 4, 60_000).await, (0, pid, e1 + 1));
}

#[tokio::test]
async fn verify_only_add_partitions_answers_per_partition() {
    let c = cluster(1).await;
    let conn = connect(&c, 1).await;
    let (_, pid, epoch) = init(&conn, 4, 60_000).await;
    assert_eq!(add_partitions(&conn, pid, epoch, &[0]).await, vec![0]);
    let verify = |epoch: i16| {
        AddPartitionsToTxnRequest::default().with_transactions(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_verify_only(true)
                .with_topics(vec![
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![0, 1]),
                ]),
        ])
    };
    let codes = |r: AddPartitionsToTxnResponse| -> Vec<i16> {
        r.results_by_transaction[0].topic_results[0]
            .results_by_partition
            .iter()
            .map(|p| p.partition_error_code)
            .collect()
    };
    let r = conn.send_at(verify(epoch), 4, None).await.expect("verify");
    assert_eq!(codes(r), vec![0, TRANSACTION_ABORTABLE]);
    let r = conn
        .send_at(verify(epoch - 1), 4, None)
        .await
        .expect("verify");
    assert_eq!(codes(r), vec![PRODUCER_FENCED, PRODUCER_FENCED]);
    assert_eq!(
        c.txn_state(TXN).map(|s| s.partitions),
        Some(vec![("t".to_string(), 0)]),
        "verifying adds nothing"
    );
}
