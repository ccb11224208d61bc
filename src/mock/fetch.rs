//! Fetch, with incremental fetch sessions (KIP-227) kept as a broker keeps them: a full
//! request (epoch 0) opens a session, later ones (epochs 1, 2, ...) name only changed
//! partitions and the ones to forget, and the answer leaves out partitions with nothing new.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::Shared;
use super::handlers::Outcome;
use super::state::NONE;
use crate::error::Result;
use crate::protocol::StrBytes;
use crate::protocol::frame::{decode_request, encode_response};
use crate::protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use crate::protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};

use crate::error::code::NOT_LEADER_OR_FOLLOWER;
use crate::error::code::OFFSET_OUT_OF_RANGE;
use crate::error::code::UNKNOWN_TOPIC_OR_PARTITION;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;

/// (topic, partition) -> (fetch offset, max bytes).
type Parts = BTreeMap<(String, i32), (i64, i32)>;

#[derive(Debug)]
struct Session {
    broker: i32,
    /// The epoch the next incremental request must carry.
    epoch: i32,
    parts: Parts,
}

/// Every broker's fetch sessions.
#[derive(Debug, Default)]
pub(crate) struct FetchSessions {
    next_id: i32,
    by_id: HashMap<i32, Session>,
}

/// What the request asks for, once read against its session.
enum Context {
    Sessionless(Parts),
    /// Opens a session, closing `close` (non-zero) if the client had one.
    Full {
        close: i32,
        parts: Parts,
    },
    Incremental {
        id: i32,
        parts: Parts,
    },
}

fn context(sessions: &FetchSessions, broker: i32, req: &FetchRequest) -> Result<Context, i16> {
    let mut parts = Parts::new();
    let update = |parts: &mut Parts| {
        for t in &req.topics {
            for p in &t.partitions {
                parts.insert(
                    (t.topic.0.to_string(), p.partition),
                    (p.fetch_offset, p.partition_max_bytes),
                );
            }
        }
    };
    match req.session_epoch {
        -1 => {
            update(&mut parts);
            Ok(Context::Sessionless(parts))
        }
        0 => {
            update(&mut parts);
            Ok(Context::Full {
                close: req.session_id,
                parts,
            })
        }
        epoch => {
            let s = sessions
                .by_id
                .get(&req.session_id)
                .filter(|s| s.broker == broker)
                .ok_or(FETCH_SESSION_ID_NOT_FOUND)?;
            if s.epoch != epoch {
                return Err(INVALID_FETCH_SESSION_EPOCH);
            }
            parts = s.parts.clone();
            for t in &req.forgotten_topics_data {
                for p in &t.partitions {
                    parts.remove(&(t.topic.0.to_string(), *p));
                }
            }
            update(&mut parts);
            Ok(Context::Incremental {
                id: req.session_id,
                parts,
            })
        }
    }
}

fn top_level_error(version: i16, id: i32, code: i16) -> Result<Outcome> {
    let resp = FetchResponse::default().with_error_code(code);
    Ok(Outcome::Reply(encode_response::<FetchRequest>(
        id, version, &resp,
    )?))
}

pub(super) fn fetch(
    shared: &Shared,
    broker: i32,
    frame: bytes::Bytes,
    injected: Option<i16>,
    allow_wait: bool,
) -> Result<Outcome> {
    let (header, req) = decode_request::<FetchRequest>(frame)?;
    let (id, version) = (header.correlation_id, header.request_api_version);
    if let Some(code @ (FETCH_SESSION_ID_NOT_FOUND | INVALID_FETCH_SESSION_EPOCH)) = injected {
        // What a broker answers for a session it lost: the session is gone for good.
        if req.session_id != 0 {
            shared.fetch_sessions().by_id.remove(&req.session_id);
        }
        return top_level_error(version, id, code);
    }
    let ctx = match context(&shared.fetch_sessions(), broker, &req) {
        Ok(ctx) => ctx,
        Err(code) => return top_level_error(version, id, code),
    };
    let (parts, incremental) = match &ctx {
        Context::Sessionless(p) | Context::Full { parts: p, .. } => (p, false),
        Context::Incremental { parts: p, .. } => (p, true),
    };
    // Partitions named in this request: an incremental answer always includes them.
    let named = |topic: &str, partition: i32| {
        req.topics.iter().any(|t| {
            t.topic.0.as_str() == topic && t.partitions.iter().any(|p| p.partition == partition)
        })
    };
    let read_committed = req.isolation_level == 1;
    let up: Vec<i32> = shared.up_brokers().into_iter().map(|(id, _)| id).collect();
    let mut total = 0usize;
    // An answer that sends the consumer elsewhere goes out at once.
    let mut redirected = false;
    let mut by_topic: BTreeMap<&str, Vec<PartitionData>> = BTreeMap::new();
    {
        let data = shared.data();
        for ((topic, partition), (fetch_offset, max_bytes)) in parts {
            let (fetch_offset, partition) = (*fetch_offset, *partition);
            let mut r = PartitionData::default()
                .with_partition_index(partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1);
            let mut has_data = false;
            let code = match (injected, data.partition(topic, partition)) {
                (Some(code), _) => code,
                (None, None) => UNKNOWN_TOPIC_OR_PARTITION,
                (None, Some(log))
                    if log.leader == broker
                        && version >= 11
                        && log
                            .read_replica
                            .is_some_and(|r| r != broker && up.contains(&r)) =>
                {
                    // KIP-392: no data from the leader, only where to read instead.
                    r = r
                        .with_high_watermark(log.next_offset)
                        .with_last_stable_offset(log.lso())
                        .with_log_start_offset(log.log_start)
                        .with_preferred_read_replica(BrokerId(log.read_replica.unwrap_or(-1)));
                    has_data = true;
                    redirected = true;
                    NONE
                }
                (None, Some(log)) if log.leader != broker && log.read_replica != Some(broker) => {
                    NOT_LEADER_OR_FOLLOWER
                }
                (None, Some(log))
                    if fetch_offset < log.log_start || fetch_offset > log.next_offset =>
                {
                    OFFSET_OUT_OF_RANGE
                }
                (None, Some(log)) => {
                    // KIP-74: the request's bound over all partitions too, past which only the
                    // first batch of the first partition with data is returned.
                    let left = usize::try_from(req.max_bytes)
                        .unwrap_or(0)
                        .saturating_sub(total);
                    let max = usize::try_from(*max_bytes).unwrap_or(0).min(left);
                    let first = total == 0;
                    let lso = log.lso();
                    let (blob, aborted) = if read_committed {
                        (
                            log.read_until(fetch_offset, max, lso),
                            Some(super::txn_api::aborted_list(log, fetch_offset, lso)),
                        )
                    } else {
                        (log.read(fetch_offset, max), None)
                    };
                    // A read always holds one batch: past the first partition, one too large
                    // for what is left is not sent.
                    let blob = if first || blob.len() <= max {
                        blob
                    } else {
                        bytes::Bytes::new()
                    };
                    total += blob.len();
                    has_data = !blob.is_empty();
                    r = r
                        .with_high_watermark(log.next_offset)
                        .with_last_stable_offset(lso)
                        .with_log_start_offset(log.log_start)
                        .with_aborted_transactions(aborted)
                        .with_records(Some(blob));
                    NONE
                }
            };
            if incremental && code == NONE && !has_data && !named(topic, partition) {
                continue;
            }
            by_topic
                .entry(topic.as_str())
                .or_default()
                .push(r.with_error_code(code));
        }
    }
    if total == 0 && !redirected && allow_wait && req.max_wait_ms > 0 && injected.is_none() {
        // Nothing applied yet: the request is served again after the wait.
        return Ok(Outcome::WaitForData(Duration::from_millis(
            req.max_wait_ms as u64,
        )));
    }
    let responses = by_topic
        .into_iter()
        .map(|(topic, parts)| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(parts)
        })
        .collect();
    let session_id = {
        let mut sessions = shared.fetch_sessions();
        match ctx {
            Context::Sessionless(_) => 0,
            Context::Full { close, parts } => {
                sessions.by_id.remove(&close);
                sessions.next_id = sessions.next_id.wrapping_add(1).max(1);
                let id = sessions.next_id;
                sessions.by_id.insert(
                    id,
                    Session {
                        broker,
                        epoch: 1,
                        parts,
                    },
                );
                id
            }
            Context::Incremental { id, parts } => {
                if let Some(s) = sessions.by_id.get_mut(&id) {
                    s.epoch = if s.epoch == i32::MAX { 1 } else { s.epoch + 1 };
                    s.parts = parts;
                }
                id
            }
        }
    };
    let resp = FetchResponse::default()
        .with_session_id(session_id)
        .with_responses(responses);
    Ok(Outcome::Reply(encode_response::<FetchRequest>(
        id, version, &resp,
    )?))
}
