//! Request and result types of the admin client.

use std::collections::BTreeMap;

pub use crate::types::{Node, TopicId};

/// A topic to create ([`AdminClient::create_topics`](super::AdminClient::create_topics)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; `None` takes the broker's `num.partitions`.
    pub num_partitions: Option<i32>,
    /// Replication factor; `None` takes the broker's `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions and `replication_factor` replicas.
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: Some(num_partitions),
            replication_factor: Some(replication_factor),
            configs: BTreeMap::new(),
        }
    }

    /// A topic that takes the broker's default partition count and replication factor.
    pub fn with_defaults(name: impl Into<String>) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: None,
            replication_factor: None,
            configs: BTreeMap::new(),
        }
    }

    /// Adds a topic config, e.g. `("retention.ms", "60000")`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.insert(key.into(), value.into());
        self
    }
}

/// Options for [`AdminClient::list_topics_with`](super::AdminClient::list_topics_with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListTopicsOptions {
    /// Include internal topics such as `__consumer_offsets` (default false, as Java).
    pub list_internal: bool,
}

/// A topic in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicListing {
    /// Topic name.
    pub name: String,
    /// Topic id (KIP-516); all zeros when the broker does not report ids.
    pub topic_id: TopicId,
    /// Whether the topic is internal (e.g. `__consumer_offsets`).
    pub is_internal: bool,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicPartitionInfo {
    /// Partition id.
    pub partition: i32,
    /// The leader, `None` when the partition has no leader now.
    pub leader: Option<Node>,
    /// The leader epoch (KIP-320), -1 when unknown.
    pub leader_epoch: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replica broker ids.
    pub isr: Vec<i32>,
    /// Replicas whose broker is down or whose log directory failed.
    pub offline_replicas: Vec<i32>,
}

/// A topic as [`AdminClient::describe_topics`](super::AdminClient::describe_topics) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Topic id (KIP-516).
    pub topic_id: TopicId,
    /// Whether the topic is internal.
    pub is_internal: bool,
    /// Partitions, sorted by id.
    pub partitions: Vec<TopicPartitionInfo>,
}

/// The cluster as [`AdminClient::describe_cluster`](super::AdminClient::describe_cluster)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterDescription {
    /// The cluster id, when the broker reports one.
    pub cluster_id: Option<String>,
    /// The active controller, when known.
    pub controller: Option<Node>,
    /// Every live broker, sorted by id.
    pub nodes: Vec<Node>,
}
