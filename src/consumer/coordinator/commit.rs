//! OffsetCommit and OffsetFetch against the group coordinator.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::{
    CommitOrder, GroupShared, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID,
    is_coordinator_error,
};
use crate::consumer::record::{OffsetAndMetadata, Offsets};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use crate::protocol::messages::{GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName};
use crate::record::TopicPartition;

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// Records that a commit of `offsets` is made now: the ticket [`commit_offsets`] takes. Call
/// it where the application commits, before any await, so tickets follow the order of calls.
pub(crate) fn issue_commit(shared: &GroupShared, offsets: &Offsets) -> u64 {
    let mut order = shared.commit_order();
    order.next_ticket += 1;
    let ticket = order.next_ticket;
    for tp in offsets.keys() {
        order.latest.insert(tp.clone(), ticket);
    }
    ticket
}

/// Commits `offsets` (issued as `ticket`) for the group, with the current generation and member
/// id when joined. A consumer whose partitions come from the group (`group_managed`) commits
/// only as a member of a generation; any other commits as a standalone consumer (generation
/// -1, empty member id). Retries
/// coordinator moves until `deadline`. A partition committed again by a later call is left to
/// that call: this one neither sends nor retries it, so commits never go backward; with every
/// partition left to later calls it returns `Ok` at once.
///
/// Errors: [`Error::Broker`] with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID (the group rebalanced:
/// Java's CommitFailedException) or REBALANCE_IN_PROGRESS (also when a group-managed consumer
/// is between generations, as Java's RebalanceInProgressException), or the first partition's
/// error.
pub(crate) async fn commit_offsets(
    shared: &GroupShared,
    offsets: &Offsets,
    ticket: u64,
    group_managed: bool,
    deadline: Instant,
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut attempt = 0;
    loop {
        let err = match commit_once(shared, offsets, ticket, group_managed).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let code = err.code().map(|c| c.0);
        let coordinator_moved = code.is_some_and(is_coordinator_error)
            || matches!(
                err,
                Error::Disconnected { .. } | Error::Connect { .. } | Error::RequestTimeout { .. }
            );
        // KIP-848: the member epoch moved on while the commit was in flight; the next try
        // carries the new one (as Java's commit manager retries).
        let stale_epoch = code == Some(crate::error::code::STALE_MEMBER_EPOCH);
        if !coordinator_moved && !err.is_retriable() && !stale_epoch {
            return Err(err);
        }
        if code == Some(REBALANCE_IN_PROGRESS) {
            return Err(err);
        }
        if coordinator_moved {
            shared.mark_coordinator_unknown();
        }
        attempt += 1;
        let wait = shared.net.retry_backoff(attempt);
        if Instant::now() + wait >= deadline {
            return Err(err);
        }
        tokio::time::sleep(wait).await;
    }
}

/// The request for the partitions of `offsets` whose latest commit is still `ticket`.
fn commit_topics(
    offsets: &Offsets,
    ticket: u64,
    order: &CommitOrder,
) -> Vec<OffsetCommitRequestTopic> {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        if order.latest.get(tp) != Some(&ticket) {
            continue;
        }
        topics.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(om.offset)
                .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(StrBytes::from_string(om.metadata.clone()))),
        );
    }
    topics
        .into_iter()
        .map(|(t, parts)| {
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(t))
                .with_partitions(parts)
        })
        .collect()
}

/// The (generation, member id) a commit carries: the membership when there is one; none for a
/// consumer outside group management. A group-managed consumer between generations gets
/// REBALANCE_IN_PROGRESS: committing without a generation would overwrite the commits of the
/// member the group gave its partitions to (the coordinator accepts such a commit once the
/// group is empty).
fn commit_identity(generation: i32, member_id: &str, group_managed: bool) -> Result<(i32, String)> {
    if generation >= 0 && !member_id.is_empty() {
        Ok((generation, member_id.to_string()))
    } else if group_managed {
        Err(Error::Broker {
            code: ErrorCode(REBALANCE_IN_PROGRESS),
            context: "OffsetCommit: not a member of a generation; poll rejoins the group".into(),
        })
    } else {
        Ok((-1, String::new()))
    }
}

async fn commit_once(
    shared: &GroupShared,
    offsets: &Offsets,
    ticket: u64,
    group_managed: bool,
) -> Result<()> {
    let node = shared.coordinator().await?;
    let conn = shared.net.coordinator_connection(&node).await?;
    let version = conn.version_for::<OffsetCommitRequest>()?;
    let (generation, member_id) = {
        let st = shared.state();
        commit_identity(st.generation, &st.member_id, group_managed)?
    };
    let pending = {
        // Checked and queued under the lock: a later commit cannot slip in between.
        let order = shared.commit_order();
        let topics = commit_topics(offsets, ticket, &order);
        if topics.is_empty() {
            return Ok(());
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(StrBytes::from_string(member_id))
            .with_group_instance_id(
                shared
                    .instance_id
                    .clone()
                    .filter(|_| version >= 7 && generation >= 0)
                    .map(StrBytes::from_string),
            )
            .with_retention_time_ms(-1)
            .with_topics(topics);
        conn.start_request(req, version, None)?
    };
    let sent = std::time::Instant::now();
    let resp = pending.finish(&conn).await?;
    shared
        .net
        .metrics()
        .coordinator()
        .commit_latency
        .record(sent.elapsed().as_secs_f64() * 1000.0);
    for t in &resp.topics {
        for p in &t.partitions {
            if let Some(code) = ErrorCode::from_code(p.error_code) {
                if matches!(code.0, ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID) {
                    shared
                        .rejoin
                        .store(true, std::sync::atomic::Ordering::Release);
                }
                return Err(Error::Broker {
                    code,
                    context: format!("OffsetCommit {}-{}", t.name.0, p.partition_index),
                });
            }
        }
    }
    Ok(())
}

/// The group's committed offsets for `partitions` (`None`: nothing committed).
pub(crate) async fn fetch_committed(
    shared: &GroupShared,
    partitions: &[TopicPartition],
    deadline: Instant,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
    let mut attempt = 0;
    loop {
        let err = match fetch_once(shared, partitions).await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        if err.code().is_some_and(|c| is_coordinator_error(c.0)) || err.is_retriable() {
            shared.mark_coordinator_unknown();
        } else {
            return Err(err);
        }
        attempt += 1;
        let wait = shared.net.retry_backoff(attempt);
        if Instant::now() + wait >= deadline {
            return Err(err);
        }
        tokio::time::sleep(wait).await;
    }
}

async fn fetch_once(
    shared: &GroupShared,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
    let node = shared.coordinator().await?;
    let conn = shared.net.coordinator_connection(&node).await?;
    let version = conn.version_for::<OffsetFetchRequest>()?;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
        .with_topics(Some(
            topics
                .into_iter()
                .map(|(t, parts)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(parts)
                })
                .collect(),
        ))
        .with_require_stable(version >= 7);
    let resp = conn.send_at(req, version, None).await?;
    if resp.error_code != 0 {
        return Err(Error::broker(resp.error_code, "OffsetFetch"));
    }
    let mut out: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
        partitions.iter().map(|tp| (tp.clone(), None)).collect();
    for t in &resp.topics {
        for p in &t.partitions {
            if p.error_code != 0 {
                return Err(Error::broker(
                    p.error_code,
                    format!("OffsetFetch {}-{}", t.name.0, p.partition_index),
                ));
            }
            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
            if p.committed_offset >= 0 {
                out.insert(
                    tp,
                    Some(OffsetAndMetadata {
                        offset: p.committed_offset,
                        leader_epoch: (p.committed_leader_epoch >= 0)
                            .then_some(p.committed_leader_epoch),
                        metadata: p
                            .metadata
                            .as_ref()
                            .map(|m| m.to_string())
                            .unwrap_or_default(),
                    }),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_identity_by_membership_and_management() {
        // (generation, member id, group-managed, the identity sent or None: refused)
        type Case = (i32, &'static str, bool, Option<(i32, &'static str)>);
        let table: [Case; 6] = [
            (3, "m-1", true, Some((3, "m-1"))),
            (3, "m-1", false, Some((3, "m-1"))),
            (-1, "", false, Some((-1, ""))),
            (-1, "m-1", false, Some((-1, ""))),
            (-1, "", true, None),
            (-1, "m-1", true, None),
        ];
        for (generation, member, managed, want) in table {
            let got = commit_identity(generation, member, managed);
            match want {
                Some((g, m)) => {
                    let (gg, mm) = got.expect("identity");
                    assert_eq!((gg, mm.as_str()), (g, m), "{generation} {member} {managed}");
                }
                None => assert_eq!(
                    got.expect_err("refused").code().map(|c| c.0),
                    Some(REBALANCE_IN_PROGRESS),
                    "{generation} {member} {managed}"
                ),
            }
        }
    }
}
