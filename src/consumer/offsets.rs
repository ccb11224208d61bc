//! ListOffsets: positions from timestamps (earliest = -2, latest = -1, or a time in ms).

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, ErrorCode, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use crate::record::TopicPartition;

/// ListOffsets timestamp for the log start.
pub(crate) const EARLIEST: i64 = -2;
/// ListOffsets timestamp for the log end (high watermark, or LSO with read_committed).
pub(crate) const LATEST: i64 = -1;

/// An offset found for a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The earliest offset whose timestamp is >= the one asked for.
    pub offset: i64,
    /// That record's timestamp (ms), -1 for EARLIEST/LATEST lookups.
    pub timestamp: i64,
    /// The leader epoch of that record, when known (KIP-320).
    pub leader_epoch: Option<i32>,
}

/// One ListOffsets round: each partition asked of its leader. Per-partition results; a
/// partition with no record at or after its timestamp maps to `Ok(None)`.
pub(crate) async fn list_offsets(
    net: &NetworkClient,
    wanted: &[(TopicPartition, i64)],
    read_committed: bool,
) -> Result<BTreeMap<TopicPartition, Result<Option<OffsetAndTimestamp>>>> {
    let topics: Vec<String> = wanted.iter().map(|(tp, _)| tp.topic.clone()).collect();
    net.add_topics(&topics);
    let cluster = net.metadata().await?;
    let mut out = BTreeMap::new();
    let mut per_node: HashMap<i32, Vec<(TopicPartition, i64, i32)>> = HashMap::new();
    for (tp, ts) in wanted {
        let leader = cluster
            .topic(&tp.topic)
            .and_then(|t| t.partition(tp.partition))
            .map(|p| (p.leader, p.leader_epoch))
            .filter(|(l, _)| *l >= 0 && cluster.brokers.contains_key(l));
        match leader {
            Some((l, epoch)) => per_node
                .entry(l)
                .or_default()
                .push((tp.clone(), *ts, epoch)),
            None => {
                net.request_update();
                out.insert(
                    tp.clone(),
                    Err(Error::broker(5, format!("no leader for {tp}"))),
                );
            }
        }
    }
    for (node, parts) in per_node {
        let req = request(&parts, read_committed);
        let resp = match net.send(Target::Node(node), req).await {
            Ok(r) => r,
            Err(e) => {
                for (tp, _, _) in parts {
                    out.insert(tp, Err(e.clone()));
                }
                continue;
            }
        };
        for (tp, _, _) in parts {
            let r = resp
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition);
            let entry = match r {
                None => Err(Error::Protocol(format!("ListOffsets response lacks {tp}"))),
                Some(p) => match ErrorCode::from_code(p.error_code) {
                    Some(code) => {
                        if code.invalidates_metadata() {
                            net.request_update();
                        }
                        Err(Error::Broker {
                            code,
                            context: format!("ListOffsets {tp}"),
                        })
                    }
                    None if p.offset < 0 => Ok(None),
                    None => Ok(Some(OffsetAndTimestamp {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    })),
                },
            };
            out.insert(tp, entry);
        }
    }
    Ok(out)
}

/// The request for `parts` (partition, timestamp, leader epoch from metadata): a leader that
/// has moved on answers FENCED_LEADER_EPOCH rather than an offset from a stale log (KIP-320).
fn request(parts: &[(TopicPartition, i64, i32)], read_committed: bool) -> ListOffsetsRequest {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, ts, epoch) in parts {
        let p = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_current_leader_epoch(*epoch)
            .with_timestamp(*ts);
        match topics.iter_mut().find(|t| t.name.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(i8::from(read_committed))
        .with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_each_partitions_leader_epoch() {
        let parts = [
            (TopicPartition::new("a", 0), EARLIEST, 3),
            (TopicPartition::new("a", 1), LATEST, 4),
            (TopicPartition::new("b", 0), 1_700_000_000_000, -1),
        ];
        let req = request(&parts, true);
        assert_eq!(req.isolation_level, 1);
        let got: Vec<(String, i32, i64, i32)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        p.timestamp,
                        p.current_leader_epoch,
                    )
                })
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 0, EARLIEST, 3),
                ("a".to_string(), 1, LATEST, 4),
                ("b".to_string(), 0, 1_700_000_000_000, -1),
            ]
        );
    }
}
