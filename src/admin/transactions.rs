//! DescribeProducers (KIP-664), ListTransactions and DescribeTransactions.
//!
//! Producer state lives on each partition's leader; transactions on their coordinator
//! (FindCoordinator key type 1); a listing asks every broker.

use std::collections::{BTreeMap, HashMap};

use crate::error::code::UNKNOWN_TOPIC_OR_PARTITION;
use crate::error::{Error, Result};
use crate::network::Target;
use crate::network::coordinator::CoordinatorType;
use crate::protocol::StrBytes;
use crate::protocol::messages::describe_producers_request::TopicRequest;
use crate::protocol::messages::describe_transactions_response::TransactionState;
use crate::protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use crate::protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use crate::types::TopicPartition;

use super::{
    AbortTransactionSpec, AdminClient, ListTransactionsOptions, ProducerState,
    TransactionDescription, TransactionListing, item_error,
};

type PerPartition<T> = BTreeMap<TopicPartition, Result<T>>;

pub(super) fn transaction(
    t: &TransactionState,
    coordinator_id: i32,
) -> Result<TransactionDescription> {
    let id = t.transactional_id.0.to_string();
    item_error(t.error_code, None, &format!("transaction {id}"))?;
    let mut tps: Vec<TopicPartition> = t
        .topics
        .iter()
        .flat_map(|x| {
            x.partitions
                .iter()
                .map(|p| TopicPartition::new(x.topic.0.to_string(), *p))
        })
        .collect();
    tps.sort();
    Ok(TransactionDescription {
        transactional_id: id,
        state: t.transaction_state.to_string(),
        timeout_ms: t.transaction_timeout_ms,
        start_time_ms: (t.transaction_start_time_ms >= 0).then_some(t.transaction_start_time_ms),
        producer_id: t.producer_id.0,
        producer_epoch: t.producer_epoch,
        topic_partitions: tps,
        coordinator_id,
    })
}

impl AdminClient {
    /// The producers with state on each partition (`kafka-transactions describe-producers`),
    /// asked of the partition's leader. One entry per partition.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<PerPartition<Vec<ProducerState>>> {
        let topics: Vec<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
        let cluster = self.fetch_cluster(Some(&topics)).await?;
        let mut out = BTreeMap::new();
        let mut per_node: HashMap<i32, Vec<TopicPartition>> = HashMap::new();
        for tp in partitions {
            let leader = cluster
                .topic(&tp.topic)
                .filter(|t| t.error.is_none())
                .and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition))
                .map(|p| p.leader);
            match leader {
                Some(l) if l >= 0 => per_node.entry(l).or_default().push(tp.clone()),
                Some(_) => {
                    out.insert(
                        tp.clone(),
                        Err(Error::broker(5, format!("no leader for {tp}"))),
                    );
                }
                None => {
                    let e = Error::broker(
                        UNKNOWN_TOPIC_OR_PARTITION,
                        format!("DescribeProducers {tp}"),
                    );
                    out.insert(tp.clone(), Err(e));
                }
            }
        }
        for (node, parts) in per_node {
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in &parts {
                topics.entry(&tp.topic).or_default().push(tp.partition);
            }
            let req = DescribeProducersRequest::default().with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicRequest::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            );
            let resp = match self
                .retrying(|| self.net.send(Target::Node(node), req.clone()))
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    out.extend(parts.into_iter().map(|tp| (tp, Err(e.clone()))));
                    continue;
                }
            };
            for tp in parts {
                let found = resp
                    .topics
                    .iter()
                    .filter(|t| t.name.0.as_str() == tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition);
                let outcome = match found {
                    None => Err(Error::Protocol(format!("DescribeProducers lacks {tp}"))),
                    Some(p) => item_error(
                        p.error_code,
                        p.error_message.as_ref(),
                        &format!("DescribeProducers {tp}"),
                    )
                    .map(|()| {
                        p.active_producers
                            .iter()
                            .map(|s| ProducerState {
                                producer_id: s.producer_id.0,
                                producer_epoch: s.producer_epoch,
                                last_sequence: s.last_sequence,
                                last_timestamp: s.last_timestamp,
                                coordinator_epoch: (s.coordinator_epoch >= 0)
                                    .then_some(s.coordinator_epoch),
                                current_transaction_start_offset: (s.current_txn_start_offset >= 0)
                                    .then_some(s.current_txn_start_offset),
                            })
                            .collect()
                    }),
                };
                out.insert(tp, outcome);
            }
        }
        Ok(out)
    }

    /// Every transactional id the cluster's coordinators know, sorted.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_transactions(&self) -> Result<Vec<TransactionListing>> {
        self.list_transactions_with(ListTransactionsOptions::default())
            .await
    }

    /// As [`list_transactions`](Self::list_transactions), filtered by state, producer id and
    /// duration.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_transactions_with(
        &self,
        options: ListTransactionsOptions,
    ) -> Result<Vec<TransactionListing>> {
        let cluster = self.fetch_cluster(Some(&[])).await?;
        let mut out = Vec::new();
        for id in cluster.brokers.keys() {
            let resp = self
                .retrying(|| {
                    self.net.send_fn(Target::Node(*id), |version| {
                        let req = ListTransactionsRequest::default()
                            .with_state_filters(
                                options
                                    .states
                                    .iter()
                                    .map(|s| StrBytes::from_string(s.clone()))
                                    .collect(),
                            )
                            .with_producer_id_filters(
                                options
                                    .producer_ids
                                    .iter()
                                    .map(|p| ProducerId(*p))
                                    .collect(),
                            );
                        if version >= 1 {
                            req.with_duration_filter(options.min_duration_ms.unwrap_or(-1))
                        } else {
                            req
                        }
                    })
                })
                .await?;
            item_error(
                resp.error_code,
                None,
                &format!("ListTransactions broker {id}"),
            )?;
            out.extend(resp.transaction_states.iter().map(|t| TransactionListing {
                transactional_id: t.transactional_id.0.to_string(),
                producer_id: t.producer_id.0,
                state: t.transaction_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// Describes transactions by `transactional.id`, each asked of its coordinator. One entry
    /// per id (TRANSACTIONAL_ID_NOT_FOUND for one the coordinator does not know).
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_transactions(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, Result<TransactionDescription>>> {
        let mut out = BTreeMap::new();
        for id in ids {
            let r = self
                .retrying(|| async {
                    let node = self
                        .net
                        .find_coordinator(CoordinatorType::Transaction, id)
                        .await?
                        .id;
                    let resp = self
                        .net
                        .send(
                            Target::Node(node),
                            DescribeTransactionsRequest::default().with_transactional_ids(vec![
                                TransactionalId(StrBytes::from_string(id.to_string())),
                            ]),
                        )
                        .await?;
                    let t = resp.transaction_states.into_iter().next().ok_or_else(|| {
                        Error::Protocol(format!("DescribeTransactions lacks {id}"))
                    })?;
                    if super::groups::coordinator_retry(t.error_code) {
                        return Err(Error::broker(t.error_code, format!("transaction {id}")));
                    }
                    Ok((t, node))
                })
                .await
                .and_then(|(t, node)| transaction(&t, node));
            out.insert(id.to_string(), r);
        }
        Ok(out)
    }

    /// Aborts a hanging transaction on one partition (`kafka-transactions abort`): writes an
    /// abort marker there, on the partition's leader, so the last stable offset can move on.
    /// Only for transactions whose producer is gone; a live producer's transaction belongs to
    /// its coordinator.
    ///
    /// Example: [admin guide](crate::guide::admin#acls-scram-users-quotas-transactions).
    ///
    /// # Errors
    /// The partition's error (NOT_LEADER_OR_FOLLOWER is retried; TRANSACTION_COORDINATOR_FENCED
    /// for a stale coordinator epoch; CLUSTER_AUTHORIZATION_FAILED without ClusterAction).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the marker may be written after the future was dropped.
    pub async fn abort_transaction(&self, spec: AbortTransactionSpec) -> Result<()> {
        let tp = spec.partition.clone();
        let req = WriteTxnMarkersRequest::default().with_markers(vec![
            WritableTxnMarker::default()
                .with_producer_id(ProducerId(spec.producer_id))
                .with_producer_epoch(spec.producer_epoch)
                .with_transaction_result(false)
                .with_coordinator_epoch(spec.coordinator_epoch)
                .with_topics(vec![
                    WritableTxnMarkerTopic::default()
                        .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                        .with_partition_indexes(vec![tp.partition]),
                ]),
        ]);
        self.retrying(|| async {
            let cluster = self
                .fetch_cluster(Some(std::slice::from_ref(&tp.topic)))
                .await?;
            let leader = cluster
                .topic(&tp.topic)
                .and_then(|t| t.partitions.iter().find(|p| p.id == tp.partition))
                .map(|p| p.leader)
                .filter(|l| *l >= 0)
                .ok_or_else(|| Error::broker(UNKNOWN_TOPIC_OR_PARTITION, format!("abort {tp}")))?;
            let resp = self.net.send(Target::Node(leader), req.clone()).await?;
            let code = resp
                .markers
                .iter()
                .flat_map(|m| m.topics.iter())
                .filter(|t| t.name.0.as_str() == tp.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == tp.partition)
                .map(|p| p.error_code)
                .ok_or_else(|| Error::Protocol(format!("WriteTxnMarkers lacks {tp}")))?;
            item_error(code, None, &format!("abort transaction on {tp}"))
        })
        .await
    }
}
