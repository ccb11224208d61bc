//! Partitions and records: CreatePartitions, DeleteRecords (KIP-107), ElectLeaders,
//! partition reassignments (KIP-455), DescribeLogDirs and the feature flags (KIP-584).
//!
//! Controller requests go to the controller (a KRaft broker forwards them) and are retried on
//! NOT_CONTROLLER; DeleteRecords goes to each partition's leader.

use std::collections::{BTreeMap, HashMap};

use crate::error::code::UNKNOWN_TOPIC_OR_PARTITION;
use crate::error::{Error, ErrorCode, Result};
use crate::network::Target;
use crate::protocol::StrBytes;
use crate::protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use crate::protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use crate::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use crate::protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use crate::protocol::messages::{
    AlterPartitionReassignmentsRequest, ApiVersionsRequest, BrokerId, CreatePartitionsRequest,
    DeleteRecordsRequest, DescribeLogDirsRequest, DescribeLogDirsResponse, ElectLeadersRequest,
    ListPartitionReassignmentsRequest, TopicName, elect_leaders_request,
};
use crate::types::TopicPartition;

use super::{
    AdminClient, ElectionType, FeatureMetadata, LogDirDescription, NewPartitions,
    PartitionReassignment, ReplicaInfo, item_error,
};

type PerPartition<T> = BTreeMap<TopicPartition, Result<T>>;

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().map(|i| BrokerId(*i)).collect()
}

fn ids(bs: &[BrokerId]) -> Vec<i32> {
    bs.iter().map(|b| b.0).collect()
}

pub(super) fn log_dirs(
    resp: &DescribeLogDirsResponse,
    version: i16,
) -> Result<Vec<LogDirDescription>> {
    item_error(resp.error_code, None, "DescribeLogDirs")?;
    Ok(resp
        .results
        .iter()
        .map(|d| LogDirDescription {
            path: d.log_dir.to_string(),
            error: ErrorCode::from_code(d.error_code),
            replicas: d
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            TopicPartition::new(t.name.0.to_string(), p.partition_index),
                            ReplicaInfo {
                                size: p.partition_size,
                                offset_lag: p.offset_lag,
                                is_future: p.is_future_key,
                            },
                        )
                    })
                })
                .collect(),
            total_bytes: (version >= 4 && d.total_bytes >= 0).then_some(d.total_bytes),
            usable_bytes: (version >= 4 && d.usable_bytes >= 0).then_some(d.usable_bytes),
        })
        .collect())
}

impl AdminClient {
    fn timeout_ms(&self) -> i32 {
        self.net.request_timeout().as_millis().min(i32::MAX as u128) as i32
    }

    /// Adds partitions to topics (`kafka-topics --alter --partitions N`), optionally placing
    /// each new partition's replicas. One entry per topic: INVALID_PARTITIONS with the
    /// broker's message when the count does not grow, UNKNOWN_TOPIC_OR_PARTITION, ...
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: partitions may be created by a request whose future was
    /// dropped.
    pub async fn create_partitions(
        &self,
        topics: impl IntoIterator<Item = (String, NewPartitions)>,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let topics: Vec<(String, NewPartitions)> = topics.into_iter().collect();
        let req = CreatePartitionsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(
                topics
                    .iter()
                    .map(|(t, n)| {
                        CreatePartitionsTopic::default()
                            .with_name(topic_name(t))
                            .with_count(n.total_count)
                            .with_assignments(n.assignments.as_ref().map(|a| {
                                a.iter()
                                    .map(|r| {
                                        CreatePartitionsAssignment::default()
                                            .with_broker_ids(broker_ids(r))
                                    })
                                    .collect()
                            }))
                    })
                    .collect(),
            );
        let resp = self
            .retrying(|| async {
                let resp = self.net.send(Target::Controller, req.clone()).await?;
                if let Some(r) = resp.results.iter().find(|r| r.error_code == 41) {
                    return Err(Error::broker(r.error_code, "CreatePartitions"));
                }
                Ok(resp)
            })
            .await?;
        self.net.request_update();
        Ok(topics
            .iter()
            .map(|(t, _)| {
                let outcome = match resp.results.iter().find(|r| r.name.0.as_str() == t) {
                    Some(r) => item_error(
                        r.error_code,
                        r.error_message.as_ref(),
                        &format!("topic {t}"),
                    ),
                    None => Err(Error::Protocol(format!(
                        "CreatePartitions has no entry for {t}"
                    ))),
                };
                (t.clone(), outcome)
            })
            .collect())
    }

    /// Deletes every record before the given offset of each partition (KIP-107), asking each
    /// partition's leader. One entry per partition: the new log start offset (low
    /// watermark), OFFSET_OUT_OF_RANGE past the high watermark, UNKNOWN_TOPIC_OR_PARTITION.
    /// An offset of -1 means the high watermark.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: records may be deleted by a request whose future was dropped.
    pub async fn delete_records(
        &self,
        before: impl IntoIterator<Item = (TopicPartition, i64)>,
    ) -> Result<PerPartition<i64>> {
        let wanted: Vec<(TopicPartition, i64)> = before.into_iter().collect();
        let topics: Vec<String> = wanted.iter().map(|(tp, _)| tp.topic.clone()).collect();
        let cluster = self.fetch_cluster(Some(&topics)).await?;
        let mut out = BTreeMap::new();
        let mut per_node: HashMap<i32, Vec<(TopicPartition, i64)>> = HashMap::new();
        for (tp, offset) in wanted {
            let leader = cluster
                .topic(&tp.topic)
                .filter(|t| t.error.is_none())
                .and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition))
                .map(|p| p.leader);
            match leader {
                Some(l) if l >= 0 => per_node.entry(l).or_default().push((tp, offset)),
                Some(_) => {
                    out.insert(
                        tp.clone(),
                        Err(Error::broker(5, format!("no leader for {tp}"))),
                    );
                }
                None => {
                    let e =
                        Error::broker(UNKNOWN_TOPIC_OR_PARTITION, format!("DeleteRecords {tp}"));
                    out.insert(tp, Err(e));
                }
            }
        }
        for (node, parts) in per_node {
            let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
            for (tp, offset) in &parts {
                topics.entry(&tp.topic).or_default().push(
                    DeleteRecordsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_offset(*offset),
                );
            }
            let req = DeleteRecordsRequest::default()
                .with_timeout_ms(self.timeout_ms())
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            DeleteRecordsTopic::default()
                                .with_name(topic_name(t))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            let resp = match self
                .retrying(|| self.net.send(Target::Node(node), req.clone()))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    out.extend(parts.into_iter().map(|(tp, _)| (tp, Err(e.clone()))));
                    continue;
                }
            };
            for (tp, _) in parts {
                let found = resp
                    .topics
                    .iter()
                    .filter(|t| t.name.0.as_str() == tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition);
                let outcome = match found {
                    None => Err(Error::Protocol(format!(
                        "DeleteRecords response lacks {tp}"
                    ))),
                    Some(p) => item_error(p.error_code, None, &format!("DeleteRecords {tp}"))
                        .map(|()| p.low_watermark),
                };
                out.insert(tp, outcome);
            }
        }
        Ok(out)
    }

    /// Elects leaders (`kafka-leader-election`): the preferred replica, or any live one
    /// (unclean). `None` elects for every partition that needs it. One entry per partition
    /// (ELECTION_NOT_NEEDED when the wanted leader leads already).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: leaders may change after the future was dropped.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<PerPartition<()>> {
        let resp = self
            .retrying(|| async {
                let resp = self
                    .net
                    .send_fn(Target::Controller, |_| {
                        ElectLeadersRequest::default()
                            .with_election_type(match election {
                                ElectionType::Preferred => 0,
                                ElectionType::Unclean => 1,
                            })
                            .with_timeout_ms(self.timeout_ms())
                            .with_topic_partitions(partitions.map(|ps| {
                                super::by_topic(ps)
                                    .into_iter()
                                    .map(|(t, parts)| {
                                        elect_leaders_request::TopicPartitions::default()
                                            .with_topic(topic_name(t))
                                            .with_partitions(parts)
                                    })
                                    .collect()
                            }))
                    })
                    .await?;
                if resp.error_code == 41 {
                    return Err(Error::broker(41, "ElectLeaders"));
                }
                Ok(resp)
            })
            .await?;
        item_error(resp.error_code, None, "ElectLeaders")?;
        let mut out = BTreeMap::new();
        for t in &resp.replica_election_results {
            for p in &t.partition_result {
                let tp = TopicPartition::new(t.topic.0.to_string(), p.partition_id);
                let what = format!("ElectLeaders {tp}");
                out.insert(
                    tp,
                    item_error(p.error_code, p.error_message.as_ref(), &what),
                );
            }
        }
        Ok(out)
    }

    /// Reassignments in progress, for `partitions` or all (`None`).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, PartitionReassignment>> {
        let req = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(partitions.map(|ps| {
                super::by_topic(ps)
                    .into_iter()
                    .map(|(t, parts)| {
                        ListPartitionReassignmentsTopics::default()
                            .with_name(topic_name(t))
                            .with_partition_indexes(parts)
                    })
                    .collect()
            }));
        let resp = self
            .retrying(|| async {
                let resp = self.net.send(Target::Controller, req.clone()).await?;
                item_error(
                    resp.error_code,
                    resp.error_message.as_ref(),
                    "ListPartitionReassignments",
                )?;
                Ok(resp)
            })
            .await?;
        Ok(resp
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        PartitionReassignment {
                            replicas: ids(&p.replicas),
                            adding_replicas: ids(&p.adding_replicas),
                            removing_replicas: ids(&p.removing_replicas),
                        },
                    )
                })
            })
            .collect())
    }

    /// Moves partitions to new replica sets (`Some(brokers)`) or cancels a move in progress
    /// (`None`). One entry per partition (INVALID_REPLICA_ASSIGNMENT with the broker's message
    /// for a broker that does not exist, NO_REASSIGNMENT_IN_PROGRESS for a cancel with none).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: a move may start after the future was dropped.
    pub async fn alter_partition_reassignments(
        &self,
        moves: impl IntoIterator<Item = (TopicPartition, Option<Vec<i32>>)>,
    ) -> Result<PerPartition<()>> {
        let moves: BTreeMap<TopicPartition, Option<Vec<i32>>> = moves.into_iter().collect();
        let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for (tp, replicas) in &moves {
            topics.entry(&tp.topic).or_default().push(
                ReassignablePartition::default()
                    .with_partition_index(tp.partition)
                    .with_replicas(replicas.as_deref().map(broker_ids)),
            );
        }
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        ReassignableTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let resp = self
            .retrying(|| async {
                let resp = self.net.send(Target::Controller, req.clone()).await?;
                if resp.error_code == 41 {
                    return Err(Error::broker(41, "AlterPartitionReassignments"));
                }
                Ok(resp)
            })
            .await?;
        item_error(
            resp.error_code,
            resp.error_message.as_ref(),
            "AlterPartitionReassignments",
        )?;
        Ok(moves
            .keys()
            .map(|tp| {
                let found = resp
                    .responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition);
                let outcome = match found {
                    None => Err(Error::Protocol(format!(
                        "AlterPartitionReassignments lacks {tp}"
                    ))),
                    Some(p) => item_error(
                        p.error_code,
                        p.error_message.as_ref(),
                        &format!("reassign {tp}"),
                    ),
                };
                (tp.clone(), outcome)
            })
            .collect())
    }

    /// The log directories of each broker in `brokers`, with the partition replicas in them.
    /// A broker not in the cluster gets [`Error::InvalidArgument`] in its entry.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_log_dirs(
        &self,
        brokers: &[i32],
    ) -> Result<BTreeMap<i32, Result<Vec<LogDirDescription>>>> {
        let cluster = self.fetch_cluster(Some(&[])).await?;
        let mut out = BTreeMap::new();
        for &id in brokers {
            if !cluster.brokers.contains_key(&id) {
                out.insert(
                    id,
                    Err(Error::InvalidArgument(format!(
                        "broker {id} is not in the cluster"
                    ))),
                );
                continue;
            }
            let r = self
                .retrying(|| async {
                    let conn = self.net.connection(Target::Node(id)).await?;
                    let version = conn.version_for::<DescribeLogDirsRequest>()?;
                    let resp = conn
                        // None: every partition (the codec's default is an empty list: none).
                        .send_at(
                            DescribeLogDirsRequest::default().with_topics(None),
                            version,
                            None,
                        )
                        .await?;
                    Ok((resp, version))
                })
                .await
                .and_then(|(resp, version)| log_dirs(&resp, version));
            out.insert(id, r);
        }
        Ok(out)
    }

    /// The cluster's feature flags (`kafka-features describe`): finalized levels, as one
    /// broker reports them in ApiVersions (v3+).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_features(&self) -> Result<FeatureMetadata> {
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("ferrokafka"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let resp = self
            .retrying(|| self.net.send(Target::Any, req.clone()))
            .await?;
        item_error(resp.error_code, None, "ApiVersions")?;
        Ok(FeatureMetadata {
            finalized: resp
                .finalized_features
                .iter()
                .map(|f| (f.name.to_string(), f.max_version_level))
                .collect(),
            finalized_epoch: (resp.finalized_features_epoch >= 0)
                .then_some(resp.finalized_features_epoch),
            supported: resp
                .supported_features
                .iter()
                .map(|f| (f.name.to_string(), (f.min_version, f.max_version)))
                .collect(),
        })
    }
}
