//! Requests of the share consumer built, and answers read, as pure functions: ShareGroupHeartbeat,
//! ShareFetch (with acknowledgements riding along) and ShareAcknowledge (KIP-932).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use uuid::Uuid;

use crate::consumer::ConsumerRecord;
use crate::error::{ErrorCode, code};
use crate::protocol::StrBytes;
use crate::protocol::messages::share_acknowledge_request::{
    AcknowledgePartition, AcknowledgeTopic, AcknowledgementBatch as AckReqBatch,
};
use crate::protocol::messages::share_fetch_request::{
    AcknowledgementBatch as FetchAckBatch, FetchPartition, FetchTopic, ForgottenTopic,
};
use crate::protocol::messages::{
    GroupId, ShareAcknowledgeRequest, ShareAcknowledgeResponse, ShareFetchRequest,
    ShareFetchResponse, ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse, TopicName,
};

/// Share-group error codes the crate's table does not name (KIP-932).
pub(crate) const FENCED_MEMBER_EPOCH: i16 = 110;
#[cfg(test)]
pub(crate) const INVALID_RECORD_STATE: i16 = 121;
pub(crate) const SHARE_SESSION_NOT_FOUND: i16 = 122;
pub(crate) const INVALID_SHARE_SESSION_EPOCH: i16 = 123;

/// The acknowledgement type codes on the wire.
pub(crate) const GAP: i8 = 0;
pub(crate) const ACCEPT: i8 = 1;
pub(crate) const RELEASE: i8 = 2;
pub(crate) const REJECT: i8 = 3;
/// Extends the acquisition lock, not final (KIP-1222; ShareAcknowledge v2).
pub(crate) const RENEW: i8 = 4;

/// One partition of a share session, by topic id.
pub(crate) type Tip = (Uuid, i32);
/// Acknowledgement type by offset, for one partition.
pub(crate) type Acks = BTreeMap<i64, i8>;

/// A run of consecutive offsets and their types: one type when all are the same (the
/// protocol's short form), else one per offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckBatch {
    pub first: i64,
    pub last: i64,
    pub types: Vec<i8>,
}

/// `acks` as batches of consecutive offsets.
pub(crate) fn ack_batches(acks: &Acks) -> Vec<AckBatch> {
    let mut out: Vec<AckBatch> = Vec::new();
    for (&offset, &kind) in acks {
        match out.last_mut() {
            Some(b) if b.last + 1 == offset => {
                b.last = offset;
                b.types.push(kind);
            }
            _ => out.push(AckBatch {
                first: offset,
                last: offset,
                types: vec![kind],
            }),
        }
    }
    for b in &mut out {
        if b.types.windows(2).all(|w| w[0] == w[1]) {
            b.types.truncate(1);
        }
    }
    out
}

/// The next epoch of a share session after a successful request: it wraps to 1, as 0 opens a
/// session and -1 closes one.
pub(crate) fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

/// What one ShareFetch to one broker carries.
#[derive(Debug, Default)]
pub(crate) struct FetchPlan {
    pub group_id: String,
    pub member_id: String,
    pub epoch: i32,
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub max_records: i32,
    pub partition_max_bytes: i32,
    /// Partitions to add to the session (all of them when it opens).
    pub add: BTreeSet<Tip>,
    /// Acknowledgements for partitions of the session.
    pub acks: BTreeMap<Tip, Acks>,
    /// Partitions to drop from the session.
    pub forget: BTreeSet<Tip>,
}

pub(crate) fn fetch_request(plan: &FetchPlan) -> ShareFetchRequest {
    let mut topics: BTreeMap<Uuid, Vec<FetchPartition>> = BTreeMap::new();
    let listed: BTreeSet<Tip> = plan.add.iter().chain(plan.acks.keys()).copied().collect();
    for tip in listed {
        let batches = plan
            .acks
            .get(&tip)
            .map(|a| {
                ack_batches(a)
                    .into_iter()
                    .map(|b| {
                        FetchAckBatch::default()
                            .with_first_offset(b.first)
                            .with_last_offset(b.last)
                            .with_acknowledge_types(b.types)
                    })
                    .collect()
            })
            .unwrap_or_default();
        topics.entry(tip.0).or_default().push(
            FetchPartition::default()
                .with_partition_index(tip.1)
                .with_partition_max_bytes(plan.partition_max_bytes)
                .with_acknowledgement_batches(batches),
        );
    }
    let mut forgotten: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (id, p) in &plan.forget {
        forgotten.entry(*id).or_default().push(*p);
    }
    ShareFetchRequest::default()
        .with_group_id(Some(GroupId(StrBytes::from_string(plan.group_id.clone()))))
        .with_member_id(Some(StrBytes::from_string(plan.member_id.clone())))
        .with_share_session_epoch(plan.epoch)
        .with_max_wait_ms(plan.max_wait_ms)
        .with_min_bytes(plan.min_bytes)
        .with_max_bytes(plan.max_bytes)
        .with_max_records(plan.max_records)
        .with_batch_size(plan.max_records)
        .with_topics(
            topics
                .into_iter()
                .map(|(id, ps)| FetchTopic::default().with_topic_id(id).with_partitions(ps))
                .collect(),
        )
        .with_forgotten_topics_data(
            forgotten
                .into_iter()
                .map(|(id, ps)| {
                    ForgottenTopic::default()
                        .with_topic_id(id)
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// A ShareAcknowledge; `renew` when `acks` hold RENEW types (its IsRenewAck, v2).
pub(crate) fn acknowledge_request(
    group_id: &str,
    member_id: &str,
    epoch: i32,
    acks: &BTreeMap<Tip, Acks>,
    renew: bool,
) -> ShareAcknowledgeRequest {
    let mut topics: BTreeMap<Uuid, Vec<AcknowledgePartition>> = BTreeMap::new();
    for (tip, a) in acks {
        let batches = ack_batches(a)
            .into_iter()
            .map(|b| {
                AckReqBatch::default()
                    .with_first_offset(b.first)
                    .with_last_offset(b.last)
                    .with_acknowledge_types(b.types)
            })
            .collect();
        topics.entry(tip.0).or_default().push(
            AcknowledgePartition::default()
                .with_partition_index(tip.1)
                .with_acknowledgement_batches(batches),
        );
    }
    ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(StrBytes::from_string(group_id.to_string()))))
        .with_member_id(Some(StrBytes::from_string(member_id.to_string())))
        .with_share_session_epoch(epoch)
        .with_is_renew_ack(renew)
        .with_topics(
            topics
                .into_iter()
                .map(|(id, ps)| {
                    AcknowledgeTopic::default()
                        .with_topic_id(id)
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// One partition of a ShareFetch answer.
#[derive(Debug, Default)]
pub(crate) struct FetchedPartition {
    pub tip: Tip,
    pub error: Option<ErrorCode>,
    /// The outcome of the acknowledgements this partition carried.
    pub ack_error: Option<ErrorCode>,
    pub records: Bytes,
    /// (first offset, last offset, delivery count) of the records acquired for this member.
    pub acquired: Vec<(i64, i64, i16)>,
}

/// The partitions of a ShareFetch answer, or its request-level error.
pub(crate) fn fetch_response(
    resp: ShareFetchResponse,
) -> Result<(Vec<FetchedPartition>, i32), ErrorCode> {
    if let Some(e) = ErrorCode::from_code(resp.error_code) {
        return Err(e);
    }
    let mut out = Vec::new();
    for topic in resp.responses {
        for p in topic.partitions {
            out.push(FetchedPartition {
                tip: (topic.topic_id, p.partition_index),
                error: ErrorCode::from_code(p.error_code),
                ack_error: ErrorCode::from_code(p.acknowledge_error_code),
                records: p.records.unwrap_or_default(),
                acquired: p
                    .acquired_records
                    .iter()
                    .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
                    .collect(),
            });
        }
    }
    Ok((out, resp.acquisition_lock_timeout_ms))
}

/// The outcome by partition of a ShareAcknowledge, or its request-level error.
pub(crate) fn acknowledge_response(
    resp: &ShareAcknowledgeResponse,
) -> Result<BTreeMap<Tip, Option<ErrorCode>>, ErrorCode> {
    if let Some(e) = ErrorCode::from_code(resp.error_code) {
        return Err(e);
    }
    Ok(resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    (t.topic_id, p.partition_index),
                    ErrorCode::from_code(p.error_code),
                )
            })
        })
        .collect())
}

/// The decoded records that were acquired, each with its delivery count, and the acquired
/// offsets that have no record (compacted away, or transaction markers): those are acknowledged
/// as gaps so the broker does not hand them out again.
pub(crate) fn acquired_records(
    records: Vec<ConsumerRecord>,
    acquired: &[(i64, i64, i16)],
) -> (Vec<(ConsumerRecord, i16)>, Vec<i64>) {
    let count_of = |offset: i64| {
        acquired
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&offset))
            .map(|a| a.2)
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in records {
        if let Some(count) = count_of(r.offset)
            && seen.insert(r.offset)
        {
            out.push((r, count));
        }
    }
    let gaps = acquired
        .iter()
        .flat_map(|(first, last, _)| *first..=*last)
        .filter(|o| !seen.contains(o))
        .collect();
    (out, gaps)
}

/// What the share consumer does after a ShareGroupHeartbeat answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// In the group: epoch, next heartbeat in ms, and the assignment when it changed.
    Member {
        epoch: i32,
        interval_ms: i32,
        assignment: Option<BTreeSet<Tip>>,
    },
    /// Fenced or forgotten: give up every partition and join again with epoch 0.
    Rejoin(ErrorCode),
    /// The coordinator moved or is loading: find it again, then retry.
    FindCoordinator(ErrorCode),
    /// Anything else: the group cannot be used (authorization, group full, bad request).
    Fatal(ErrorCode, String),
}

pub(crate) fn heartbeat_request(
    group_id: &str,
    member_id: &str,
    epoch: i32,
    rack: &str,
    subscription: Option<&BTreeSet<String>>,
) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id.to_string())))
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_member_epoch(epoch)
        .with_rack_id((!rack.is_empty()).then(|| StrBytes::from_string(rack.to_string())))
        .with_subscribed_topic_names(subscription.map(|s| {
            s.iter()
                .map(|t| TopicName(StrBytes::from_string(t.clone())))
                .collect()
        }))
}

pub(crate) fn heartbeat_response(resp: &ShareGroupHeartbeatResponse) -> Heartbeat {
    match resp.error_code {
        0 => Heartbeat::Member {
            epoch: resp.member_epoch,
            interval_ms: resp.heartbeat_interval_ms,
            assignment: resp.assignment.as_ref().map(|a| {
                a.topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, *p)))
                    .collect()
            }),
        },
        FENCED_MEMBER_EPOCH | code::UNKNOWN_MEMBER_ID => {
            Heartbeat::Rejoin(ErrorCode(resp.error_code))
        }
        code::NOT_COORDINATOR
        | code::COORDINATOR_NOT_AVAILABLE
        | code::COORDINATOR_LOAD_IN_PROGRESS => {
            Heartbeat::FindCoordinator(ErrorCode(resp.error_code))
        }
        other => Heartbeat::Fatal(
            ErrorCode(other),
            resp.error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
