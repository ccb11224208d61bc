//! The admin client: topics, cluster, configs, consumer groups, offsets and lag.
//!
//! Every call retries retriable failures (lost connections, request timeouts, NOT_CONTROLLER)
//! with backoff until `default.api.timeout.ms` runs out. The outer `Result` is the request as a
//! whole; per-item results (one per topic) are the inner `Result`s.

mod acl_types;
mod acls;
mod config_types;
mod configs;
mod group_types;
mod groups;
mod lag;
mod offsets;
mod partition_types;
mod partitions;
mod quotas;
mod scram;
mod share_groups;
mod transactions;
mod txn_types;
mod types;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use crate::protocol::messages::delete_topics_request::DeleteTopicState;
use crate::protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest, TopicName,
};
use crate::protocol::{Request, StrBytes};
use tokio::time::Instant;

use crate::config::AdminConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::network::metadata::Cluster;
use crate::network::{NetworkClient, Target};
pub use acl_types::*;
pub use config_types::*;
pub use group_types::*;
pub use partition_types::*;
pub use quotas::{ClientQuotaAlteration, QuotaEntity, QuotaFilterComponent};
pub use share_groups::{ShareGroupDescription, ShareMemberDescription};
pub use txn_types::*;
pub use types::*;

use crate::error::code::NOT_CONTROLLER;

/// Administrative operations on a Kafka cluster.
///
/// Cheap to clone; clones share connections. Connects lazily on the first call.
#[derive(Clone, Debug)]
pub struct AdminClient {
    net: Arc<NetworkClient>,
    api_timeout: Duration,
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// `Ok` for code 0, else the error with the broker's message after `what` (e.g. `topic t`).
/// Partitions grouped by topic, topics sorted (the shape of every per-topic request).
fn by_topic<'a>(
    tps: impl IntoIterator<Item = &'a crate::types::TopicPartition>,
) -> std::collections::BTreeMap<&'a str, Vec<i32>> {
    let mut out: std::collections::BTreeMap<&str, Vec<i32>> = std::collections::BTreeMap::new();
    for tp in tps {
        out.entry(&tp.topic).or_default().push(tp.partition);
    }
    out
}

fn item_error(code: i16, message: Option<&StrBytes>, what: &str) -> Result<()> {
    match ErrorCode::from_code(code) {
        None => Ok(()),
        Some(code) => Err(Error::Broker {
            code,
            context: match message {
                Some(m) if !m.is_empty() => format!("{what}: {m}"),
                _ => what.to_string(),
            },
        }),
    }
}

impl AdminClient {
    /// Creates a client. No connection is made until the first call.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    pub fn new(config: AdminConfig) -> AdminClient {
        AdminClient {
            net: Arc::new(NetworkClient::with_kind("admin-client", &config.common)),
            api_timeout: config.default_api_timeout,
        }
    }

    /// A snapshot of this client's metrics: the per-node request metrics
    /// (`admin-client-node-metrics`), listed with `metrics.recording.level=DEBUG` (see
    /// [`crate::metrics`]). No request is made.
    ///
    /// Example: [observability guide](crate::guide::observability#metrics).
    pub fn metrics(&self) -> Vec<crate::metrics::Metric> {
        self.net.metrics().snapshot()
    }

    /// Runs `op` until it succeeds, fails with a non-retriable error, or `default.api.timeout.ms`
    /// passes (then the last error is returned).
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.api_timeout;
        let mut attempt = 0;
        let mut last: Option<Error> = None;
        loop {
            let err = match tokio::time::timeout_at(deadline, op()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => {
                    return Err(Error::Timeout(format!(
                        "admin call did not finish within default.api.timeout.ms ({} ms){}",
                        self.api_timeout.as_millis(),
                        last.map(|e| format!("; last error: {e}"))
                            .unwrap_or_default()
                    )));
                }
            };
            attempt += 1;
            let wait = self.net.retry_backoff(attempt);
            if !err.is_retriable() || Instant::now() + wait >= deadline {
                return Err(err);
            }
            if err
                .code()
                .is_some_and(|c| c.invalidates_metadata() || c.0 == NOT_CONTROLLER)
            {
                self.net.request_update();
            }
            tracing::debug!(error = %err, attempt, "admin call retrying");
            last = Some(err);
            tokio::time::sleep(wait).await;
        }
    }

    /// Metadata for `topics` (`None`: all topics) straight from a broker.
    async fn fetch_cluster(&self, topics: Option<&[String]>) -> Result<Cluster> {
        let resp = self.retrying(|| self.net.fetch_metadata(topics)).await?;
        Ok(Cluster::from_response(&resp))
    }

    /// Creates topics. A topic that already exists fails with TOPIC_ALREADY_EXISTS in its own
    /// entry; the others are unaffected.
    ///
    /// Returns one entry per requested topic name.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the broker may create topics from a request whose future was
    /// dropped.
    pub async fn create_topics(
        &self,
        topics: impl IntoIterator<Item = NewTopic>,
    ) -> Result<BTreeMap<String, Result<()>>> {
        let mut pending: Vec<NewTopic> = topics.into_iter().collect();
        let mut results = BTreeMap::new();
        let timeout_ms = self.net.request_timeout().as_millis().min(i32::MAX as u128) as i32;
        let deadline = Instant::now() + self.api_timeout;
        let mut attempt = 0;
        while !pending.is_empty() {
            let req = CreateTopicsRequest::default()
                .with_timeout_ms(timeout_ms)
                .with_topics(
                    pending
                        .iter()
                        .map(|t| {
                            CreatableTopic::default()
                                .with_name(topic_name(&t.name))
                                .with_num_partitions(t.num_partitions.unwrap_or(-1))
                                .with_replication_factor(t.replication_factor.unwrap_or(-1))
                                .with_configs(
                                    t.configs
                                        .iter()
                                        .map(|(k, v)| {
                                            CreatableTopicConfig::default()
                                                .with_name(StrBytes::from_string(k.clone()))
                                                .with_value(Some(StrBytes::from_string(v.clone())))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp = self
                .retrying(|| self.net.send(Target::Controller, req.clone()))
                .await?;
            let mut retry = Vec::new();
            for t in pending.drain(..) {
                match resp.topics.iter().find(|r| r.name.0.as_str() == t.name) {
                    Some(r) if r.error_code == NOT_CONTROLLER => retry.push(t),
                    Some(r) => {
                        results.insert(
                            t.name.clone(),
                            item_error(
                                r.error_code,
                                r.error_message.as_ref(),
                                &format!("topic {}", t.name),
                            ),
                        );
                    }
                    None => {
                        results.insert(
                            t.name.clone(),
                            Err(Error::Protocol(format!(
                                "CreateTopics response has no entry for topic {}",
                                t.name
                            ))),
                        );
                    }
                }
            }
            if !retry.is_empty() {
                attempt += 1;
                let wait = self.net.retry_backoff(attempt);
                if Instant::now() + wait >= deadline {
                    for t in retry {
                        results.insert(
                            t.name.clone(),
                            Err(Error::broker(NOT_CONTROLLER, format!("topic {}", t.name))),
                        );
                    }
                    break;
                }
                self.net.request_update();
                let _ = self.net.refresh().await;
                tokio::time::sleep(wait).await;
                pending = retry;
            }
        }
        self.net.request_update();
        Ok(results)
    }

    /// Deletes topics by name. Returns one entry per requested name (UNKNOWN_TOPIC_OR_PARTITION
    /// for a topic that does not exist).
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Not cancel safe in effect: the broker may delete topics from a request whose future was
    /// dropped.
    pub async fn delete_topics<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<BTreeMap<String, Result<()>>> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        let timeout_ms = self.net.request_timeout().as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .retrying(|| {
                self.net.send_fn(Target::Controller, |version| {
                    let req = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
                    if version >= 6 {
                        req.with_topics(
                            names
                                .iter()
                                .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                                .collect(),
                        )
                    } else {
                        req.with_topic_names(names.iter().map(|n| topic_name(n)).collect())
                    }
                })
            })
            .await?;
        let mut results = BTreeMap::new();
        for n in &names {
            let r = resp
                .responses
                .iter()
                .find(|r| r.name.as_ref().is_some_and(|x| x.0.as_str() == n));
            let outcome = match r {
                Some(r) => item_error(
                    r.error_code,
                    r.error_message.as_ref(),
                    &format!("topic {n}"),
                ),
                None => Err(Error::Protocol(format!(
                    "DeleteTopics response has no entry for topic {n}"
                ))),
            };
            results.insert(n.clone(), outcome);
        }
        self.net.request_update();
        Ok(results)
    }

    /// Lists the cluster's non-internal topics, by name.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_topics(&self) -> Result<BTreeMap<String, TopicListing>> {
        self.list_topics_with(ListTopicsOptions::default()).await
    }

    /// Lists topics, by name.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn list_topics_with(
        &self,
        options: ListTopicsOptions,
    ) -> Result<BTreeMap<String, TopicListing>> {
        let cluster = self.fetch_cluster(None).await?;
        Ok(cluster
            .topics
            .into_values()
            .filter(|t| t.error.is_none() && (options.list_internal || !t.is_internal))
            .map(|t| {
                (
                    t.name.clone(),
                    TopicListing {
                        name: t.name,
                        topic_id: t.id,
                        is_internal: t.is_internal,
                    },
                )
            })
            .collect())
    }

    /// Describes topics: partitions, leaders, replicas, ISR. A topic that does not exist gets
    /// UNKNOWN_TOPIC_OR_PARTITION in its own entry.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_topics<S: AsRef<str>>(
        &self,
        names: &[S],
    ) -> Result<BTreeMap<String, Result<TopicDescription>>> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        let cluster = self.fetch_cluster(Some(&names)).await?;
        let mut out = BTreeMap::new();
        for n in names {
            let entry = match cluster.topic(&n) {
                None => Err(Error::broker(3, format!("topic {n}"))),
                Some(t) => match t.error {
                    Some(code) => Err(Error::Broker {
                        code,
                        context: format!("topic {n}"),
                    }),
                    None => Ok(TopicDescription {
                        name: t.name.clone(),
                        topic_id: t.id,
                        is_internal: t.is_internal,
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| TopicPartitionInfo {
                                partition: p.id,
                                leader: cluster.brokers.get(&p.leader).cloned(),
                                leader_epoch: p.leader_epoch,
                                replicas: p.replicas.clone(),
                                isr: p.isr.clone(),
                                offline_replicas: p.offline.clone(),
                            })
                            .collect(),
                    }),
                },
            };
            out.insert(n, entry);
        }
        Ok(out)
    }

    /// Describes the cluster: id, controller and brokers. Uses DescribeCluster (KIP-700) when the
    /// broker supports it, else Metadata.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let conn = self.retrying(|| self.net.connection(Target::Any)).await?;
        if conn
            .versions()
            .range(<DescribeClusterRequest as Request>::KEY)
            .is_some()
        {
            let resp = self
                .retrying(|| {
                    self.net
                        .send(Target::Any, DescribeClusterRequest::default())
                })
                .await?;
            if resp.error_code != 0 {
                return Err(Error::Broker {
                    code: ErrorCode(resp.error_code),
                    context: resp
                        .error_message
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| "DescribeCluster".into()),
                });
            }
            let mut nodes: Vec<Node> = resp
                .brokers
                .iter()
                .filter_map(|b| {
                    Some(Node {
                        id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: u16::try_from(b.port).ok()?,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    })
                })
                .collect();
            nodes.sort_by_key(|n| n.id);
            let controller = nodes.iter().find(|n| n.id == resp.controller_id.0).cloned();
            return Ok(ClusterDescription {
                cluster_id: Some(resp.cluster_id.to_string()).filter(|c| !c.is_empty()),
                controller,
                nodes,
            });
        }
        let cluster = self.fetch_cluster(Some(&[])).await?;
        Ok(ClusterDescription {
            cluster_id: cluster.cluster_id.clone(),
            controller: cluster.brokers.get(&cluster.controller_id).cloned(),
            nodes: cluster.brokers.values().cloned().collect(),
        })
    }

    /// Closes every connection. Calls made afterwards reconnect.
    ///
    /// Example: [admin guide](crate::guide::admin#topics-and-offsets).
    pub fn close(&self) {
        self.net.close();
    }
}
