//! ListOffsets: positions from timestamps (earliest = -2, latest = -1, or a time in ms).

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, ErrorCode, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::StrBytes;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use crate::protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};
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
        for (tp, entry) in read_response(parts, &resp) {
            if entry
                .as_ref()
                .err()
                .and_then(Error::code)
                .is_some_and(|c| c.invalidates_metadata())
            {
                net.request_update();
            }
            out.insert(tp, entry);
        }
    }
    Ok(out)
}

/// Each partition of `parts` with its answer in `resp`, looked up through an index of the
/// response (a search per partition was quadratic: 10,000 partitions took 37,000 instructions
/// each).
fn read_response(
    parts: Vec<(TopicPartition, i64, i32)>,
    resp: &ListOffsetsResponse,
) -> Vec<(TopicPartition, Result<Option<OffsetAndTimestamp>>)> {
    let answers: HashMap<(&str, i32), &ListOffsetsPartitionResponse, foldhash::fast::RandomState> =
        resp.topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| ((t.name.0.as_str(), p.partition_index), p))
            })
            .collect();
    parts
        .into_iter()
        .map(|(tp, _, _)| {
            let entry = match answers.get(&(tp.topic.as_str(), tp.partition)) {
                None => Err(Error::Protocol(format!("ListOffsets response lacks {tp}"))),
                Some(p) => match ErrorCode::from_code(p.error_code) {
                    Some(code) => Err(Error::Broker {
                        code,
                        context: format!("ListOffsets {tp}"),
                    }),
                    None if p.offset < 0 => Ok(None),
                    None => Ok(Some(OffsetAndTimestamp {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                    })),
                },
            };
            (tp, entry)
        })
        .collect()
}

/// The request for `parts` (partition, timestamp, leader epoch from metadata): a leader that
/// has moved on answers FENCED_LEADER_EPOCH rather than an offset from a stale log (KIP-320).
fn request(parts: &[(TopicPartition, i64, i32)], read_committed: bool) -> ListOffsetsRequest {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    // Position of each topic in `topics`: a search per partition was quadratic in topics.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (tp, ts, epoch) in parts {
        let p = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_current_leader_epoch(*epoch)
            .with_timestamp(*ts);
        match index.get(tp.topic.as_str()) {
            Some(&i) => topics[i].partitions.push(p),
            None => {
                index.insert(&tp.topic, topics.len());
                topics.push(
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partitions(vec![p]),
                );
            }
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

    /// Each partition gets its own answer, whatever the order of the response; a missing
    /// one is a protocol error, a partition error its broker error, and no offset `None`.
    #[test]
    fn response_answers_each_partition() {
        use crate::protocol::messages::list_offsets_response::ListOffsetsTopicResponse;
        // (partition, offset and leader epoch, or the error code: None for a protocol error)
        type Answer = (
            String,
            std::result::Result<Option<(i64, Option<i32>)>, Option<i16>>,
        );
        let topic = |name: &str, parts: Vec<(i32, i16, i64, i32)>| {
            ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(p, code, offset, epoch)| {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p)
                                .with_error_code(code)
                                .with_offset(offset)
                                .with_timestamp(-1)
                                .with_leader_epoch(epoch)
                        })
                        .collect(),
                )
        };
        let resp = ListOffsetsResponse::default().with_topics(vec![
            topic("b", vec![(0, 0, 7, -1)]),
            topic("a", vec![(1, 6, -1, -1), (0, 0, 42, 3), (2, 0, -1, -1)]),
        ]);
        let parts: Vec<(TopicPartition, i64, i32)> =
            [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 0)]
                .iter()
                .map(|(t, p)| (TopicPartition::new(*t, *p), EARLIEST, -1))
                .collect();
        let got: Vec<Answer> = read_response(parts, &resp)
            .into_iter()
            .map(|(tp, r)| {
                (
                    tp.to_string(),
                    r.map(|o| o.map(|o| (o.offset, o.leader_epoch)))
                        .map_err(|e| e.code().map(|c| c.0)),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a-0".to_string(), Ok(Some((42, Some(3))))),
                ("a-1".to_string(), Err(Some(6))),
                ("a-2".to_string(), Ok(None)),
                ("a-3".to_string(), Err(None)),
                ("b-0".to_string(), Ok(Some((7, None)))),
            ]
        );
    }
}
