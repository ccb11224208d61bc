//! One function per served API: decode, apply to the cluster data, encode.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Shared;
use super::state::{NONE, PartitionLog};
use crate::error::{Error, Result};
use crate::protocol::frame::{decode_request, encode_response, peek_request_header};
use crate::protocol::messages::api_versions_response::ApiVersion;
use crate::protocol::messages::create_topics_response::CreatableTopicResult;
use crate::protocol::messages::delete_topics_response::DeletableTopicResult;
use crate::protocol::messages::find_coordinator_response::Coordinator;
use crate::protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use crate::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use crate::protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use crate::protocol::messages::*;
use crate::protocol::record_batch::read_batch_header;
use crate::protocol::versions::client_range;
use crate::protocol::{Request, StrBytes, Uuid};

use crate::error::code::NOT_COORDINATOR;
use crate::error::code::NOT_LEADER_OR_FOLLOWER;
use crate::error::code::TOPIC_ALREADY_EXISTS;
use crate::error::code::UNKNOWN_TOPIC_OR_PARTITION;
use crate::error::code::UNSUPPORTED_VERSION;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

pub(crate) enum Outcome {
    Reply(Bytes),
    /// acks=0 Produce.
    NoReply,
    /// A Fetch found no data: wait up to this long for an append, then ask again.
    WaitForData(Duration),
}

/// APIs the mock serves (answered in ApiVersions).
const SERVED: &[i16] = &[0, 1, 2, 3, 8, 9, 10, 18, 19, 20, 22];

fn reply<R: Request>(
    frame: Bytes,
    f: impl FnOnce(&RequestHeader, R, i16) -> R::Response,
) -> Result<Outcome> {
    let (header, req) = decode_request::<R>(frame)?;
    let version = header.request_api_version;
    let resp = f(&header, req, version);
    Ok(Outcome::Reply(encode_response::<R>(
        header.correlation_id,
        version,
        &resp,
    )?))
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// Every API the mock serves with its version range, as ApiVersions lists them.
fn served_versions(shared: &Shared) -> Vec<ApiVersion> {
    SERVED
        .iter()
        .chain(super::group_api::SERVED)
        .chain(super::txn_api::SERVED)
        .chain(super::epochs::SERVED)
        .filter_map(|k| {
            let (min, max) = client_range(*k)?;
            let cap = super::txn_api::max_version(*k, shared.transaction_version);
            let max = cap.map_or(max, |m| m.min(max));
            Some(
                ApiVersion::default()
                    .with_api_key(*k)
                    .with_min_version(min)
                    .with_max_version(max),
            )
        })
        .collect()
}

/// A client opens each connection with its newest ApiVersions (Java 4.x and franz-go: v5),
/// which may be newer than the codec here. As a broker does (KIP-511), that gets a v0 answer
/// with UNSUPPORTED_VERSION and the range served, and the connection stays open for the retry.
fn api_versions(shared: &Shared, frame: Bytes) -> Result<Outcome> {
    let (_, version, correlation) = peek_request_header(&frame)
        .ok_or_else(|| Error::Protocol("request shorter than its header".into()))?;
    if client_range(18).is_some_and(|(_, max)| version > max) {
        let resp = ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(served_versions(shared));
        return Ok(Outcome::Reply(encode_response::<ApiVersionsRequest>(
            correlation,
            0,
            &resp,
        )?));
    }
    reply::<ApiVersionsRequest>(frame, |_, _, _| {
        let (supported, finalized) = super::txn_api::features(shared);
        ApiVersionsResponse::default()
            .with_supported_features(supported)
            .with_finalized_features(finalized)
            .with_api_keys(served_versions(shared))
    })
}

pub(crate) fn handle(
    shared: &Shared,
    broker: i32,
    api_key: i16,
    frame: Bytes,
    injected: Option<i16>,
    allow_wait: bool,
) -> Result<Outcome> {
    // The transaction coordinator's clock: due markers and timeouts before anything is read.
    shared.tick_txns();
    match api_key {
        24 | 25 | 26 | 28 => super::txn_api::handle(shared, broker, api_key, frame, injected),
        23 => super::epochs::handle(shared, broker, frame, injected),
        18 => api_versions(shared, frame),
        3 => reply::<MetadataRequest>(frame, |_, req, _| metadata(shared, req)),
        19 => reply::<CreateTopicsRequest>(frame, |_, req, _| {
            let ids = shared.all_broker_ids();
            let mut data = shared.data();
            CreateTopicsResponse::default().with_topics(
                req.topics
                    .iter()
                    .map(|t| {
                        let n = if t.num_partitions > 0 {
                            t.num_partitions
                        } else {
                            shared.default_partitions
                        };
                        let ok = data.create_topic(t.name.0.as_str(), n, &ids);
                        CreatableTopicResult::default()
                            .with_name(t.name.clone())
                            .with_error_code(if ok { NONE } else { TOPIC_ALREADY_EXISTS })
                            .with_num_partitions(n)
                            .with_replication_factor(1)
                    })
                    .collect(),
            )
        }),
        20 => reply::<DeleteTopicsRequest>(frame, |_, req, _| {
            let mut data = shared.data();
            let mut names: Vec<String> = req.topic_names.iter().map(|n| n.0.to_string()).collect();
            names.extend(
                req.topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())),
            );
            DeleteTopicsResponse::default().with_responses(
                names
                    .iter()
                    .map(|n| {
                        let code = if data.topics.remove(n).is_some() {
                            NONE
                        } else {
                            UNKNOWN_TOPIC_OR_PARTITION
                        };
                        DeletableTopicResult::default()
                            .with_name(Some(name(n)))
                            .with_error_code(code)
                    })
                    .collect(),
            )
        }),
        0 => produce(shared, broker, frame, injected),
        1 => super::fetch::fetch(shared, broker, frame, injected, allow_wait),
        2 => reply::<ListOffsetsRequest>(frame, |_, req, _| {
            let data = shared.data();
            ListOffsetsResponse::default().with_topics(
                req.topics
                    .iter()
                    .map(|t| {
                        ListOffsetsTopicResponse::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        let r = ListOffsetsPartitionResponse::default()
                                            .with_partition_index(p.partition_index)
                                            .with_timestamp(-1)
                                            .with_offset(-1)
                                            .with_leader_epoch(-1);
                                        let Some(log) =
                                            data.partition(t.name.0.as_str(), p.partition_index)
                                        else {
                                            return r.with_error_code(UNKNOWN_TOPIC_OR_PARTITION);
                                        };
                                        if let Some(code) = injected {
                                            return r.with_error_code(code);
                                        }
                                        if log.leader != broker {
                                            return r.with_error_code(NOT_LEADER_OR_FOLLOWER);
                                        }
                                        let r = r.with_leader_epoch(log.leader_epoch);
                                        match p.timestamp {
                                            -2 => r.with_offset(log.log_start),
                                            -1 if req.isolation_level == 1 => {
                                                r.with_offset(log.lso())
                                            }
                                            -1 => r.with_offset(log.next_offset),
                                            ts => match log.offset_for_time(ts) {
                                                Some((o, t)) => r.with_offset(o).with_timestamp(t),
                                                None => r,
                                            },
                                        }
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        }),
        22 => reply::<InitProducerIdRequest>(frame, |_, req, version| {
            if req
                .transactional_id
                .as_ref()
                .is_some_and(|t| !t.0.is_empty())
            {
                return super::txn_api::init_producer_id(shared, broker, &req, version, injected);
            }
            if let Some(code) = injected {
                return InitProducerIdResponse::default().with_error_code(code);
            }
            let mut data = shared.data();
            let pid = req.producer_id.0;
            let (pid, epoch) = match data.producer_epochs.get(&pid) {
                Some(e) if pid >= 0 && req.producer_epoch == *e => (pid, e + 1),
                Some(_) if pid >= 0 => {
                    return InitProducerIdResponse::default().with_error_code(47);
                }
                _ => {
                    data.next_producer_id += 1;
                    (1000 + data.next_producer_id, 0)
                }
            };
            data.producer_epochs.insert(pid, epoch);
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
        }),
        10 => {
            let up = shared.up_brokers();
            reply::<FindCoordinatorRequest>(frame, |_, req, version| {
                // key_type 1: a transactional id.
                let coord = if req.key_type == 1 {
                    shared.txn_coordinator()
                } else {
                    shared.coordinator.load(Ordering::Acquire)
                };
                let addr = up.iter().find(|(id, _)| *id == coord);
                let (code, port) = match (injected, addr) {
                    (Some(c), _) => (c, 0),
                    (None, Some((_, port))) => (NONE, i32::from(*port)),
                    (None, None) => (15, 0),
                };
                let host = StrBytes::from_static_str("127.0.0.1");
                if version >= 4 {
                    FindCoordinatorResponse::default().with_coordinators(
                        req.coordinator_keys
                            .iter()
                            .map(|k| {
                                Coordinator::default()
                                    .with_key(k.clone())
                                    .with_node_id(BrokerId(coord))
                                    .with_host(host.clone())
                                    .with_port(port)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
                } else {
                    FindCoordinatorResponse::default()
                        .with_error_code(code)
                        .with_node_id(BrokerId(coord))
                        .with_host(host)
                        .with_port(port)
                }
            })
        }
        8 => reply::<OffsetCommitRequest>(frame, |_, req, _| {
            let code = injected.unwrap_or_else(|| {
                if shared.is_coordinator(broker) {
                    shared.check_commit(
                        &req.group_id.0,
                        &req.member_id,
                        req.generation_id_or_member_epoch,
                    )
                } else {
                    NOT_COORDINATOR
                }
            });
            let mut data = shared.data();
            let data = &mut *data;
            let group = data
                .committed
                .entry(req.group_id.0.to_string())
                .or_default();
            let log = data
                .commit_log
                .entry(req.group_id.0.to_string())
                .or_default();
            OffsetCommitResponse::default().with_topics(
                req.topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        if code == NONE {
                                            log.push(super::MockCommit {
                                                topic: t.name.0.to_string(),
                                                partition: p.partition_index,
                                                offset: p.committed_offset,
                                                member_id: req.member_id.to_string(),
                                                generation: req.generation_id_or_member_epoch,
                                            });
                                            group.insert(
                                                (t.name.0.to_string(), p.partition_index),
                                                (
                                                    p.committed_offset,
                                                    p.committed_metadata
                                                        .as_ref()
                                                        .map(|m| m.to_string())
                                                        .unwrap_or_default(),
                                                ),
                                            );
                                        }
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        }),
        9 => reply::<OffsetFetchRequest>(frame, |_, req, _| {
            let code =
                injected.unwrap_or(if broker == shared.coordinator.load(Ordering::Acquire) {
                    NONE
                } else {
                    NOT_COORDINATOR
                });
            if code != NONE {
                return OffsetFetchResponse::default().with_error_code(code);
            }
            let data = shared.data();
            let group = data.committed.get(req.group_id.0.as_str());
            OffsetFetchResponse::default().with_topics(
                req.topics
                    .unwrap_or_default()
                    .iter()
                    .map(|t| {
                        OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|p| {
                                        let tp = (t.name.0.to_string(), *p);
                                        let c = group.and_then(|g| g.get(&tp));
                                        let unstable = req.require_stable
                                            && data.txns.has_staged(&req.group_id.0, &tp);
                                        if unstable {
                                            // KIP-447: a transaction may still move it.
                                            return OffsetFetchResponsePartition::default()
                                                .with_partition_index(*p)
                                                .with_committed_offset(-1)
                                                .with_committed_leader_epoch(-1)
                                                .with_error_code(UNSTABLE_OFFSET_COMMIT);
                                        }
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(c.map_or(-1, |c| c.0))
                                            .with_committed_leader_epoch(-1)
                                            .with_metadata(
                                                c.map(|c| StrBytes::from_string(c.1.clone())),
                                            )
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
        }),
        other => Err(Error::Protocol(format!(
            "mock does not serve API key {other}"
        ))),
    }
}

fn metadata(shared: &Shared, req: MetadataRequest) -> MetadataResponse {
    let brokers = shared.up_brokers();
    let ids = shared.all_broker_ids();
    let mut data = shared.data();
    let wanted: Vec<String> = match &req.topics {
        None => data.topics.keys().cloned().collect(),
        Some(ts) => ts
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
    };
    if shared.auto_create && req.allow_auto_topic_creation {
        for t in &wanted {
            data.create_topic(t, shared.default_partitions, &ids);
        }
    }
    let topics = wanted
        .iter()
        .map(|t| match data.topics.get(t) {
            None => MetadataResponseTopic::default()
                .with_name(Some(name(t)))
                .with_error_code(UNKNOWN_TOPIC_OR_PARTITION),
            Some(ts) => MetadataResponseTopic::default()
                .with_name(Some(name(t)))
                .with_topic_id(uuid_from(ts.id))
                .with_partitions(
                    ts.partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| partition_meta(i as i32, p))
                        .collect(),
                ),
        })
        .collect();
    MetadataResponse::default()
        .with_cluster_id(Some(StrBytes::from_static_str("ferrokafka-mock")))
        .with_controller_id(BrokerId(brokers.first().map_or(-1, |b| b.0)))
        .with_brokers(
            brokers
                .iter()
                .map(|(id, port)| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(*id))
                        .with_host(StrBytes::from_static_str("127.0.0.1"))
                        .with_port(i32::from(*port))
                })
                .collect(),
        )
        .with_topics(topics)
}

fn uuid_from(id: [u8; 16]) -> Uuid {
    Uuid::from_bytes(id)
}

fn partition_meta(i: i32, p: &PartitionLog) -> MetadataResponsePartition {
    MetadataResponsePartition::default()
        .with_partition_index(i)
        .with_leader_id(BrokerId(p.leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(vec![BrokerId(p.leader)])
        .with_isr_nodes(vec![BrokerId(p.leader)])
}

fn produce(shared: &Shared, broker: i32, frame: Bytes, injected: Option<i16>) -> Result<Outcome> {
    let (header, req) = decode_request::<ProduceRequest>(frame)?;
    let discard = shared.discard.load(Ordering::Acquire);
    let mut responses = Vec::new();
    {
        let mut data = shared.data();
        let epochs = data.producer_epochs.clone();
        for t in &req.topic_data {
            let mut parts = Vec::new();
            for p in &t.partition_data {
                let mut r = PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                let refused = super::txn_api::produce_check(
                    shared,
                    &mut data,
                    &req,
                    t.name.0.as_str(),
                    p,
                    header.request_api_version,
                    broker,
                );
                let log = data.partition_mut(t.name.0.as_str(), p.index);
                let code = match (injected, refused, log) {
                    (Some(code), _, _) => code,
                    (None, _, None) => UNKNOWN_TOPIC_OR_PARTITION,
                    (None, _, Some(log)) if log.leader != broker => NOT_LEADER_OR_FOLLOWER,
                    (None, Some(code), Some(_)) => code,
                    (None, None, Some(log)) => {
                        let records = p.records.clone().unwrap_or_default();
                        match split_batches(&records) {
                            None => super::state::CORRUPT_MESSAGE,
                            Some(batches) => {
                                let mut first = None;
                                let mut err = NONE;
                                for b in batches {
                                    match log.append(b, &epochs, discard) {
                                        Ok(base) => {
                                            first.get_or_insert(base);
                                        }
                                        Err(code) => {
                                            err = code;
                                            break;
                                        }
                                    }
                                }
                                if let Some(base) = first.filter(|_| err == NONE) {
                                    r = r
                                        .with_base_offset(base)
                                        .with_log_start_offset(log.log_start);
                                }
                                err
                            }
                        }
                    }
                };
                parts.push(r.with_error_code(code));
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(parts),
            );
        }
    }
    shared.appended.notify_waiters();
    if req.acks == 0 {
        return Ok(Outcome::NoReply);
    }
    let resp = ProduceResponse::default().with_responses(responses);
    Ok(Outcome::Reply(encode_response::<ProduceRequest>(
        header.correlation_id,
        header.request_api_version,
        &resp,
    )?))
}

/// Splits a records blob into whole batches; `None` if it does not parse.
fn split_batches(records: &Bytes) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut rest = records.clone();
    while !rest.is_empty() {
        let h = read_batch_header(&rest).ok()??;
        let n = h.total_size();
        if n > rest.len() {
            return None;
        }
        out.push(rest.split_to(n));
    }
    Some(out)
}
