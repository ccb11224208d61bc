//! Transactions version 2 (KIP-890) on the mock: partitions added by Produce v12 itself, groups
//! by TxnOffsetCommit v5, and an epoch bump at every EndTxn v5.

use super::txn_wire_tests::{TXN, connect, init, produce};
use super::{MockCluster, TxnState};
use crate::protocol::StrBytes;
use crate::protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::protocol::messages::*;

use crate::error::code::{INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn cluster(version: i16) -> MockCluster {
    let c = MockCluster::builder()
        .transaction_version(version)
        .build()
        .await
        .expect("mock");
    c.create_topic("t", 1);
    c
}

/// EndTxn v5: (error, producer id, epoch to use next).
async fn end_v5(
    conn: &crate::network::connection::Connection,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> (i16, i64, i16) {
    let r = conn
        .send_at(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit),
            5,
            None,
        )
        .await
        .expect("EndTxn v5");
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

#[tokio::test]
async fn api_versions_tell_which_transactions_version_runs() {
    for (tv, end_max) in [(1i16, 4i16), (2, 5)] {
        let c = cluster(tv).await;
        let conn = connect(&c, 1).await;
        let r = conn
            .send_at(crate::network::connection::api_versions_request(), 3, None)
            .await
            .expect("ApiVersions");
        let end_txn = r
            .api_keys
            .iter()
            .find(|k| k.api_key == 26)
            .map(|k| k.max_version);
        assert_eq!(end_txn, Some(end_max), "transactions version {tv}");
        let finalized: Vec<(String, i16)> = r
            .finalized_features
            .iter()
            .map(|f| (f.name.to_string(), f.max_version_level))
            .collect();
        let expected = if tv == 2 {
            vec![("transaction.version".to_string(), 2)]
        } else {
            vec![]
        };
        assert_eq!(finalized, expected);
    }
}

#[tokio::test]
async fn produce_adds_the_partition_and_every_end_txn_bumps_the_epoch() {
    let c = cluster(2).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e0) = init(&conn, 4, 60_000).await;
    assert_eq!(
        produce(&conn, 0, pid, e0, 0, 3).await,
        0,
        "no AddPartitionsToTxn"
    );
    let st = c.txn_state(TXN).expect("known");
    assert_eq!(st.state, TxnState::Ongoing);
    assert_eq!(st.partitions, vec![("t".to_string(), 0)]);
    assert_eq!(end_v5(&conn, pid, e0, true).await, (0, pid, e0 + 1));
    let marker = c.batches("t", 0).expect("log").pop().expect("marker");
    assert_eq!((marker.marker, marker.producer_epoch), (Some(true), e0 + 1));
    // A retry of the answered EndTxn (the answer was lost) gets the same answer.
    assert_eq!(end_v5(&conn, pid, e0, true).await, (0, pid, e0 + 1));
    assert_eq!(
        end_v5(&conn, pid, e0, false).await.0,
        INVALID_TXN_STATE,
        "not a retry"
    );
    // The next transaction runs under the new epoch, sequences from 0; the old one is fenced.
    assert_eq!(
        produce(&conn, 0, pid, e0, 3, 1).await,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(produce(&conn, 0, pid, e0 + 1, 0, 2).await, 0);
    assert_eq!(end_v5(&conn, pid, e0 + 1, false).await, (0, pid, e0 + 2));
    let values: Vec<String> = c
        .committed_records("t", 0)
        .expect("records")
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(values, ["0", "1", "2"]);
    let st = c.txn_state(TXN).expect("known");
    assert_eq!(
        (st.committed, st.aborted, st.producer_epoch),
        (1, 1, e0 + 2)
    );
}

#[tokio::test]
async fn aborting_an_empty_transaction_bumps_the_epoch() {
    let c = cluster(2).await;
    let conn = connect(&c, 1).await;
    let (_, pid, e0) = init(&conn, 4, 60_000).await;
    assert_eq!(end_v5(&conn, pid, e0, true).await.0, INVALID_TXN_STATE);
    assert_eq!(end_v5(&conn, pid, e0, false).await, (0, pid, e0 + 1));
    assert!(c.batches("t", 0).expect("log").is_empty(), "no markers");
}

#[tokio::test]
async fn txn_offset_commit_v5_adds_the_group() {
    let c = cluster(2).await;
    c.create_topic("in", 1);
    let conn = connect(&c, 1).await;
    let (_, pid, e0) = init(&conn, 4, 60_000).await;
    let r = conn
        .send_at(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(TXN)))
                .with_group_id(GroupId(s("g")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(e0)
                .with_generation_id(-1)
                .with_topics(vec![
                    TxnOffsetCommitRequestTopic::default()
                        .with_name(TopicName(s("in")))
                        .with_partitions(vec![
                            TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(11)
                                .with_committed_leader_epoch(-1),
                        ]),
                ]),
            5,
            None,
        )
        .await
        .expect("TxnOffsetCommit v5");
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(end_v5(&conn, pid, e0, true).await, (0, pid, e0 + 1));
    let log = c.commit_log("g");
    assert_eq!(log.iter().map(|c| c.offset).collect::<Vec<_>>(), vec![11]);
}
