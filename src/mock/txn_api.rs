//! The transaction coordinator's APIs for the mock: InitProducerId with a transactional id,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn. Decode, check the
//! coordinator and injected faults, run the state machine (src/mock/txn.rs), write due markers
//! before answering, encode. Fencing errors are answered per version as Apache Kafka does:
//! PRODUCER_FENCED where the version knows it, INVALID_PRODUCER_EPOCH before.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::time::Instant;

use super::handlers::Outcome;
use super::state::NONE;
use super::state::{ClusterData, PartitionLog};
use super::txn::StagedOffset;
use super::{Shared, lock};
use crate::error::code::{
    FENCED_INSTANCE_ID, ILLEGAL_GENERATION, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE,
    NOT_COORDINATOR, PRODUCER_FENCED, TRANSACTION_ABORTABLE, UNKNOWN_MEMBER_ID,
    UNKNOWN_TOPIC_OR_PARTITION,
};
use crate::error::{Error, Result};
use crate::protocol::Request;
use crate::protocol::StrBytes;
use crate::protocol::frame::{decode_request, encode_response};
use crate::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use crate::protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use crate::protocol::messages::fetch_response::AbortedTransaction;
use crate::protocol::messages::produce_request::PartitionProduceData;
use crate::protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::protocol::messages::*;
use crate::protocol::record_batch::read_batch_header;

/// How often the coordinator looks for timed-out transactions and due markers.
const CLOCK_TICK: std::time::Duration = std::time::Duration::from_millis(10);
const OPERATION_NOT_ATTEMPTED: i16 = 55;

/// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit (InitProducerId stays with
/// the other handlers and calls [`init_producer_id`] for transactional ids).
pub(crate) const SERVED: &[i16] = &[24, 25, 26, 28];

/// Highest versions the mock answers: EndTxn v5 belongs to transactions version 2 (KIP-890)
/// and is only offered when the cluster runs it.
pub(crate) fn max_version(api_key: i16, transaction_version: i16) -> Option<i16> {
    match api_key {
        26 if transaction_version < 2 => Some(4),
        _ => None,
    }
}

/// ApiVersions' feature lists: `transaction.version` supported up to 2, finalized at the
/// cluster's level (absent at level 1, as on a 3.x cluster where clients assume version 1).
pub(crate) fn features(shared: &Shared) -> (Vec<SupportedFeatureKey>, Vec<FinalizedFeatureKey>) {
    let name = StrBytes::from_static_str("transaction.version");
    let supported = vec![
        SupportedFeatureKey::default()
            .with_name(name.clone())
            .with_min_version(0)
            .with_max_version(2),
    ];
    let finalized = if shared.transaction_version >= 2 {
        vec![
            FinalizedFeatureKey::default()
                .with_name(name)
                .with_min_version_level(shared.transaction_version)
                .with_max_version_level(shared.transaction_version),
        ]
    } else {
        Vec::new()
    };
    (supported, finalized)
}

/// PRODUCER_FENCED is only known from `since` on; older versions get INVALID_PRODUCER_EPOCH.
fn by_version(code: i16, version: i16, since: i16) -> i16 {
    if code == PRODUCER_FENCED && version < since {
        INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

fn encode<R: Request>(header: &RequestHeader, resp: &R::Response) -> Result<Outcome> {
    Ok(Outcome::Reply(encode_response::<R>(
        header.correlation_id,
        header.request_api_version,
        resp,
    )?))
}

impl Shared {
    /// The broker that coordinates transactions: the group coordinator unless moved apart.
    pub(crate) fn txn_coordinator(&self) -> i32 {
        match self.txn_coordinator.load(Ordering::Acquire) {
            -1 => self.coordinator.load(Ordering::Acquire),
            b => b,
        }
    }

    /// Writes the markers of transactions that completed or timed out by now, waking fetches
    /// that wait for data.
    pub(crate) fn tick_txns(&self) {
        if self.data().tick_txns(Instant::now()) {
            self.appended.notify_waiters();
        }
    }

    /// Runs `f` on the coordinator state, then writes whatever it made due.
    fn with_txns<T>(&self, f: impl FnOnce(&mut super::txn::Transactions, Instant) -> T) -> T {
        let now = Instant::now();
        let (out, wrote) = {
            let mut data = self.data();
            data.tick_txns(now);
            let out = f(&mut data.txns, now);
            (out, data.tick_txns(now))
        };
        if wrote {
            self.appended.notify_waiters();
        }
        out
    }
}

/// InitProducerId for a transactional id (v0-v5).
pub(crate) fn init_producer_id(
    shared: &Shared,
    broker: i32,
    req: &InitProducerIdRequest,
    version: i16,
    injected: Option<i16>,
) -> InitProducerIdResponse {
    let id = req
        .transactional_id
        .as_ref()
        .map(|t| t.0.to_string())
        .unwrap_or_default();
    let fail = |code: i16| {
        InitProducerIdResponse::default()
            .with_error_code(by_version(code, version, 4))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(code) = injected {
        return fail(code);
    }
    if broker != shared.txn_coordinator() {
        return fail(NOT_COORDINATOR);
    }
    let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    let now = Instant::now();
    let result = {
        let mut data = shared.data();
        let data = &mut *data;
        data.tick_txns(now);
        let next = &mut data.next_producer_id;
        let r = data
            .txns
            .init(&id, req.transaction_timeout_ms, expected, now, || {
                *next += 1;
                1000 + *next
            });
        if let Ok((pid, epoch)) = r {
            data.producer_epochs.insert(pid, epoch);
        }
        data.tick_txns(now);
        r
    };
    shared.appended.notify_waiters();
    match result {
        Ok((pid, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(code) => fail(code),
    }
}

pub(crate) fn handle(
    shared: &Shared,
    broker: i32,
    api_key: i16,
    frame: Bytes,
    injected: Option<i16>,
) -> Result<Outcome> {
    let refuse = injected.or((broker != shared.txn_coordinator()).then_some(NOT_COORDINATOR));
    match api_key {
        24 => add_partitions(shared, frame, refuse),
        25 => {
            let (header, req) = decode_request::<AddOffsetsToTxnRequest>(frame)?;
            let code = refuse.unwrap_or_else(|| {
                shared
                    .with_txns(|t, now| {
                        t.add_offsets(
                            &req.transactional_id.0,
                            req.producer_id.0,
                            req.producer_epoch,
                            &req.group_id.0,
                            now,
                        )
                    })
                    .err()
                    .unwrap_or(NONE)
            });
            let code = by_version(code, header.request_api_version, 2);
            encode::<AddOffsetsToTxnRequest>(
                &header,
                &AddOffsetsToTxnResponse::default().with_error_code(code),
            )
        }
        26 => {
            let (header, req) = decode_request::<EndTxnRequest>(frame)?;
            let v2 = header.request_api_version >= 5 && shared.transaction_version >= 2;
            let result = match refuse {
                Some(code) => Err(code),
                None => shared.with_txns(|t, now| {
                    let (id, pid, epoch) = (
                        &req.transactional_id.0,
                        req.producer_id.0,
                        req.producer_epoch,
                    );
                    if v2 {
                        t.end_v2(id, pid, epoch, req.committed, now)
                    } else {
                        t.end(id, pid, epoch, req.committed, now).map(|()| (-1, -1))
                    }
                }),
            };
            let (code, (pid, epoch)) = match result {
                Ok(next) => (NONE, next),
                Err(code) => (by_version(code, header.request_api_version, 2), (-1, -1)),
            };
            encode::<EndTxnRequest>(
                &header,
                &EndTxnResponse::default()
                    .with_error_code(code)
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch),
            )
        }
        28 => txn_offset_commit(shared, broker, frame, injected),
        other => Err(Error::Protocol(format!(
            "mock transaction coordinator does not serve API key {other}"
        ))),
    }
}

fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    code_for: impl Fn(&str, i32) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(*p)
                                .with_partition_error_code(code_for(t.name.0.as_str(), *p))
                        })
                        .collect(),
                )
        })
        .collect()
}

fn add_partitions(shared: &Shared, frame: Bytes, refuse: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<AddPartitionsToTxnRequest>(frame)?;
    let version = header.request_api_version;
    if version >= 4 {
        // The broker-to-coordinator flavour: verify (or add) per transaction.
        let results = req
            .transactions
            .iter()
            .map(|tx| {
                let id = tx.transactional_id.0.to_string();
                let tps: Vec<(String, i32)> = tx
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
                    .collect();
                let (pid, epoch) = (tx.producer_id.0, tx.producer_epoch);
                let whole = refuse.or_else(|| {
                    if tx.verify_only {
                        None
                    } else {
                        shared
                            .with_txns(|t, now| t.add_partitions(&id, pid, epoch, &tps, now))
                            .err()
                    }
                });
                let data = shared.data();
                AddPartitionsToTxnResult::default()
                    .with_transactional_id(tx.transactional_id.clone())
                    .with_topic_results(topic_results(&tx.topics, |t, p| {
                        whole.unwrap_or_else(|| {
                            if tx.verify_only {
                                data.txns.verify(&id, pid, epoch, &(t.to_string(), p))
                            } else {
                                NONE
                            }
                        })
                    }))
            })
            .collect();
        return encode::<AddPartitionsToTxnRequest>(
            &header,
            &AddPartitionsToTxnResponse::default().with_results_by_transaction(results),
        );
    }
    let topics = &req.v3_and_below_topics;
    let unknown: Vec<(String, i32)> = {
        let data = shared.data();
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
            .filter(|(t, p)| data.partition(t, *p).is_none())
            .collect()
    };
    let code = refuse.unwrap_or_else(|| {
        if !unknown.is_empty() {
            return OPERATION_NOT_ATTEMPTED;
        }
        let tps: Vec<(String, i32)> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
            .collect();
        shared
            .with_txns(|t, now| {
                t.add_partitions(
                    &req.v3_and_below_transactional_id.0,
                    req.v3_and_below_producer_id.0,
                    req.v3_and_below_producer_epoch,
                    &tps,
                    now,
                )
            })
            .err()
            .unwrap_or(NONE)
    });
    let code = by_version(code, version, 2);
    let results = topic_results(topics, |t, p| {
        if refuse.is_none() && unknown.contains(&(t.to_string(), p)) {
            UNKNOWN_TOPIC_OR_PARTITION
        } else {
            code
        }
    });
    encode::<AddPartitionsToTxnRequest>(
        &header,
        &AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results),
    )
}

/// KIP-447: a TxnOffsetCommit naming a member or generation must come from a current member
/// of the current generation, as a plain OffsetCommit must.
fn group_check(shared: &Shared, req: &TxnOffsetCommitRequest) -> i16 {
    let groups = lock(&shared.groups);
    let Some(g) = groups.describe(&req.group_id.0) else {
        return NONE;
    };
    let member = (!req.member_id.is_empty()).then(|| g.members.get(req.member_id.as_str()));
    if let (Some(instance), Some(Some(m))) = (&req.group_instance_id, &member)
        && m.instance_id.as_deref() != Some(instance.as_str())
    {
        return FENCED_INSTANCE_ID;
    }
    if matches!(member, Some(None)) {
        return UNKNOWN_MEMBER_ID;
    }
    if req.generation_id >= 0 && req.generation_id != g.generation {
        return ILLEGAL_GENERATION;
    }
    NONE
}

fn txn_offset_commit(
    shared: &Shared,
    broker: i32,
    frame: Bytes,
    injected: Option<i16>,
) -> Result<Outcome> {
    let (header, req) = decode_request::<TxnOffsetCommitRequest>(frame)?;
    let code = injected
        .or((!shared.is_coordinator(broker)).then_some(NOT_COORDINATOR))
        .unwrap_or_else(|| group_check(shared, &req));
    let code = if code != NONE {
        code
    } else {
        let offsets = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        (t.name.0.to_string(), p.partition_index),
                        StagedOffset {
                            offset: p.committed_offset,
                            metadata: p
                                .committed_metadata
                                .as_ref()
                                .map(|m| m.to_string())
                                .unwrap_or_default(),
                            member_id: req.member_id.to_string(),
                            generation: req.generation_id,
                        },
                    )
                })
            })
            .collect();
        let v2 = header.request_api_version >= 5 && shared.transaction_version >= 2;
        shared
            .with_txns(|t, now| {
                if v2 {
                    // KIP-890: the group joins the transaction with its first offsets.
                    t.add_offsets(
                        &req.transactional_id.0,
                        req.producer_id.0,
                        req.producer_epoch,
                        &req.group_id.0,
                        now,
                    )
                    .map_err(|e| {
                        if e == PRODUCER_FENCED {
                            INVALID_PRODUCER_EPOCH
                        } else {
                            e
                        }
                    })?;
                }
                t.stage_offsets(
                    &req.transactional_id.0,
                    req.producer_id.0,
                    req.producer_epoch,
                    &req.group_id.0,
                    offsets,
                )
            })
            .err()
            .unwrap_or(NONE)
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    encode::<TxnOffsetCommitRequest>(
        &header,
        &TxnOffsetCommitResponse::default().with_topics(topics),
    )
}

/// A transactional batch may only go to a partition of its producer's open transaction. As
/// Kafka 4.x's verification answers: TRANSACTION_ABORTABLE to Produce v11+ (KIP-890),
/// INVALID_TXN_STATE before. Under transactions version 2, Produce v12+ adds the partition
/// itself instead. The stale-epoch case is left to the append's epoch check. Only the leader
/// checks (another broker answers NOT_LEADER_OR_FOLLOWER first).
pub(crate) fn produce_check(
    shared: &Shared,
    data: &mut ClusterData,
    req: &ProduceRequest,
    topic: &str,
    p: &PartitionProduceData,
    version: i16,
    broker: i32,
) -> Option<i16> {
    if data.partition(topic, p.index)?.leader != broker {
        return None;
    }
    let records = p.records.as_ref()?;
    let h = read_batch_header(records).ok()??;
    if !h.is_transactional() || h.producer_id < 0 {
        return None;
    }
    let current = data.producer_epochs.get(&h.producer_id).copied()?;
    if h.producer_epoch < current {
        return None;
    }
    let tp = (topic.to_string(), p.index);
    let txn_id = req.transactional_id.as_ref().map(|t| t.0.as_str());
    if let Some(id) = txn_id.filter(|_| version >= 12 && shared.transaction_version >= 2) {
        let added = data.txns.add_partitions(
            id,
            h.producer_id,
            h.producer_epoch,
            std::slice::from_ref(&tp),
            Instant::now(),
        );
        return added.err();
    }
    let code = if version >= 11 {
        TRANSACTION_ABORTABLE
    } else {
        INVALID_TXN_STATE
    };
    (!data.txns.in_open_txn(h.producer_id, &tp)).then_some(code)
}

/// The aborted transactions a read_committed fetch from `from` needs, up to the LSO.
pub(crate) fn aborted_list(log: &PartitionLog, from: i64, lso: i64) -> Vec<AbortedTransaction> {
    log.aborted_between(from, lso)
        .into_iter()
        .map(|a| {
            AbortedTransaction::default()
                .with_producer_id(ProducerId(a.producer_id))
                .with_first_offset(a.first_offset)
        })
        .collect()
}

/// Runs the transaction coordinator's clock while the cluster lives, so a transaction left
/// open times out (and delayed markers land) with no request arriving, as on a broker.
pub(crate) fn start_clock(shared: &std::sync::Arc<Shared>) {
    let weak = std::sync::Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CLOCK_TICK).await;
            match weak.upgrade() {
                Some(shared) => shared.tick_txns(),
                None => return,
            }
        }
    });
}
