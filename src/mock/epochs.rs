//! OffsetForLeaderEpoch (api 23, KIP-320) and the log truncation a leader change can bring, for
//! the consumer's truncation detection.

use bytes::Bytes;

use super::Shared;
use super::handlers::Outcome;
use super::state::PartitionLog;
use crate::error::Result;
use crate::error::code::{FENCED_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION};
use crate::protocol::frame::{decode_request, encode_response};
use crate::protocol::messages::OffsetForLeaderEpochRequest;
use crate::protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};

pub(super) const SERVED: &[i16] = &[23];

pub(super) fn handle(
    shared: &Shared,
    broker: i32,
    frame: Bytes,
    injected: Option<i16>,
) -> Result<Outcome> {
    let (header, req) = decode_request::<OffsetForLeaderEpochRequest>(frame)?;
    let data = shared.data();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let code = match (injected, data.partition(t.topic.0.as_str(), p.partition)) {
                        (Some(code), _) => code,
                        (None, None) => UNKNOWN_TOPIC_OR_PARTITION,
                        (None, Some(log)) if log.leader != broker => NOT_LEADER_OR_FOLLOWER,
                        (None, Some(log)) if p.current_leader_epoch > log.leader_epoch => {
                            // A newer epoch than this leader's: the metadata it came from is
                            // ahead; the broker answers UNKNOWN_LEADER_EPOCH.
                            crate::error::code::UNKNOWN_LEADER_EPOCH
                        }
                        (None, Some(log))
                            if p.current_leader_epoch >= 0
                                && p.current_leader_epoch < log.leader_epoch =>
                        {
                            FENCED_LEADER_EPOCH
                        }
                        (None, Some(log)) => {
                            let (epoch, end) = end_offset_for(log, p.leader_epoch);
                            return r.with_leader_epoch(epoch).with_end_offset(end);
                        }
                    };
                    r.with_error_code(code)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    let resp = OffsetForLeaderEpochResponse::default().with_topics(topics);
    Ok(Outcome::Reply(encode_response::<
        OffsetForLeaderEpochRequest,
    >(
        header.correlation_id,
        header.request_api_version,
        &resp,
    )?))
}

/// The epoch of a stored batch, from its header (bytes 12..16).
fn batch_epoch(b: &Bytes) -> i32 {
    b.get(12..16)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(-1, i32::from_be_bytes)
}

/// What a broker's leader epoch cache answers for `asked`: the largest epoch at most `asked`
/// that has records (or the current one), and where it ends: the first offset of the next
/// epoch with records, else the log end. (-1, -1) when every record is of a later epoch.
pub(super) fn end_offset_for(log: &PartitionLog, asked: i32) -> (i32, i64) {
    if asked >= log.leader_epoch {
        return (log.leader_epoch, log.next_offset);
    }
    let mut found = -1;
    for b in &log.batches {
        let e = batch_epoch(&b.bytes);
        if e > asked {
            return if found < 0 {
                (-1, -1)
            } else {
                (found, b.base_offset)
            };
        }
        found = e;
    }
    if found < 0 {
        // No records at all up to `asked`: the log end under the current epoch.
        return (log.leader_epoch, log.next_offset);
    }
    (found, log.next_offset)
}

/// Drops the records from `offset` on (a whole batch at a time: `offset` is a batch's base),
/// as a new leader without them truncates its followers.
pub(super) fn truncate(log: &mut PartitionLog, offset: i64) {
    log.batches.retain(|b| b.base_offset < offset);
    log.next_offset = log
        .batches
        .last()
        .map_or(log.log_start, |b| b.last_offset + 1);
}
