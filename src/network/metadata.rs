//! The cluster snapshot: brokers, topics, partitions, leaders and leader epochs.
//!
//! A snapshot is immutable and shared as `Arc<Cluster>`; a refresh builds a new one and swaps it
//! in, so readers never see half an update.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::protocol::messages::MetadataResponse;

use crate::error::ErrorCode;

pub use crate::types::{Node, TopicId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionMeta {
    pub id: i32,
    /// -1 when the partition has no leader.
    pub leader: i32,
    /// -1 when the broker does not report leader epochs.
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline: Vec<i32>,
    pub error: Option<ErrorCode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMeta {
    pub name: String,
    pub id: TopicId,
    pub is_internal: bool,
    pub error: Option<ErrorCode>,
    /// Sorted by partition id.
    pub partitions: Vec<PartitionMeta>,
}

impl TopicMeta {
    /// The partition `id`. Callers look up every partition of topics with thousands of them:
    /// ids are dense from 0 (a topic's partitions are numbered so), so the id is its position,
    /// one cache line read where bisection cost a miss per step (4% of the sender's samples at
    /// 10,000 partitions, issue #19); bisection (`partitions` is sorted) when a response left
    /// some out.
    pub(crate) fn partition(&self, id: i32) -> Option<&PartitionMeta> {
        if let Some(p) = usize::try_from(id)
            .ok()
            .and_then(|i| self.partitions.get(i))
            && p.id == id
        {
            return Some(p);
        }
        self.partitions
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.partitions[i])
    }
}

/// One immutable view of the cluster.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, Node>,
    pub topics: HashMap<String, TopicMeta>,
    /// When the response this snapshot came from arrived (`None`: never fetched).
    pub fetched_at: Option<Instant>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            cluster_id: None,
            controller_id: -1,
            brokers: BTreeMap::new(),
            topics: HashMap::new(),
            fetched_at: None,
        }
    }
}

impl Cluster {
    /// Builds a snapshot from a Metadata response. Brokers with an out-of-range port are skipped.
    pub(crate) fn from_response(resp: &MetadataResponse) -> Cluster {
        let brokers = resp
            .brokers
            .iter()
            .filter_map(|b| {
                Some((
                    b.node_id.0,
                    Node {
                        id: b.node_id.0,
                        host: b.host.to_string(),
                        port: u16::try_from(b.port).ok()?,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    },
                ))
            })
            .collect();
        let topics = resp
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionMeta> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMeta {
                        id: p.partition_index,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                        error: ErrorCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.id);
                // A partition listed twice (a misbehaving broker) counts once: the first entry.
                partitions.dedup_by_key(|p| p.id);
                Some((
                    name.clone(),
                    TopicMeta {
                        name,
                        id: TopicId(*t.topic_id.as_bytes()),
                        is_internal: t.is_internal,
                        error: ErrorCode::from_code(t.error_code),
                        partitions,
                    },
                ))
            })
            .collect();
        Cluster {
            cluster_id: resp.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: resp.controller_id.0,
            brokers,
            topics,
            fetched_at: Some(Instant::now()),
        }
    }

    /// Folds a newer response into this snapshot: topics in `newer` replace ours, except that a
    /// partition whose leader epoch went backwards keeps our entry (a stale broker answered;
    /// KIP-320). Topics `newer` did not ask about are kept only when `keep_others`.
    pub(crate) fn merged(&self, mut newer: Cluster, keep_others: bool) -> Cluster {
        for (name, topic) in newer.topics.iter_mut() {
            let Some(old) = self.topics.get(name) else {
                continue;
            };
            if old.id != topic.id && !old.id.is_nil() && !topic.id.is_nil() {
                continue; // Recreated topic: epochs restart, take the new one as is.
            }
            for p in topic.partitions.iter_mut() {
                if let Some(op) = old.partition(p.id)
                    && p.leader_epoch >= 0
                    && op.leader_epoch > p.leader_epoch
                {
                    *p = op.clone();
                }
            }
        }
        if keep_others {
            for (name, topic) in &self.topics {
                newer
                    .topics
                    .entry(name.clone())
                    .or_insert_with(|| topic.clone());
            }
        }
        newer
    }

    pub(crate) fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    /// The leader of `topic`/`partition`, if known and present among the brokers.
    #[cfg(test)]
    pub(crate) fn leader_for(&self, topic: &str, partition: i32) -> Option<&Node> {
        let p = self
            .topic(topic)?
            .partitions
            .iter()
            .find(|p| p.id == partition)?;
        self.brokers.get(&p.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StrBytes;
    use crate::protocol::messages::BrokerId;
    use crate::protocol::messages::TopicName;
    use crate::protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn resp(epoch: i32, leader: i32) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("h1"))
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(2))
                    .with_host(StrBytes::from_static_str("h2"))
                    .with_port(9093),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                    .with_partitions(vec![
                        MetadataResponsePartition::default()
                            .with_partition_index(1)
                            .with_leader_id(BrokerId(leader))
                            .with_leader_epoch(epoch),
                        MetadataResponsePartition::default()
                            .with_partition_index(0)
                            .with_leader_id(BrokerId(1))
                            .with_leader_epoch(epoch),
                    ]),
            ])
    }

    #[test]
    fn snapshot_and_stale_epochs() {
        let c = Cluster::from_response(&resp(5, 2));
        assert_eq!(c.topic("t").unwrap().partitions[0].id, 0);
        assert_eq!(c.leader_for("t", 1).unwrap().addr(), "h2:9093");
        // A response with an older epoch does not move the leader back.
        let stale = c.merged(Cluster::from_response(&resp(4, 1)), false);
        assert_eq!(stale.leader_for("t", 1).unwrap().id, 2);
        let newer = c.merged(Cluster::from_response(&resp(6, 1)), false);
        assert_eq!(newer.leader_for("t", 1).unwrap().id, 1);
    }

    #[test]
    fn duplicate_partitions_count_once() {
        let mut r = resp(5, 2);
        let first = r.topics[0].partitions[0].clone();
        r.topics[0]
            .partitions
            .push(first.with_leader_id(BrokerId(1)));
        let c = Cluster::from_response(&r);
        let ids: Vec<i32> = c
            .topic("t")
            .unwrap()
            .partitions
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [0, 1]);
    }
    /// Partition lookup by id, for dense ids (the position) and for responses that left ids out
    /// (the position then holds another partition).
    #[test]
    fn partition_lookup_dense_and_with_gaps() {
        let meta = |ids: &[i32]| TopicMeta {
            name: "t".into(),
            id: TopicId::default(),
            is_internal: false,
            error: None,
            partitions: ids
                .iter()
                .map(|&id| PartitionMeta {
                    id,
                    leader: id + 100,
                    leader_epoch: 0,
                    replicas: Vec::new(),
                    isr: Vec::new(),
                    offline: Vec::new(),
                    error: None,
                })
                .collect(),
        };
        let cases: [(&[i32], i32, Option<i32>); 8] = [
            (&[0, 1, 2], 0, Some(100)),
            (&[0, 1, 2], 2, Some(102)),
            (&[0, 1, 2], 3, None),
            (&[0, 1, 2], -1, None),
            (&[0, 2, 5], 2, Some(102)),
            (&[0, 2, 5], 5, Some(105)),
            (&[0, 2, 5], 1, None),
            (&[3], 0, None),
        ];
        for (ids, id, leader) in cases {
            let m = meta(ids);
            assert_eq!(m.partition(id).map(|p| p.leader), leader, "{ids:?} {id}");
        }
    }
}
