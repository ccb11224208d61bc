//! Value types of the partition, record, log-dir and feature calls.

use std::collections::BTreeMap;

/// New partitions for a topic ([`AdminClient::create_partitions`](super::AdminClient::create_partitions)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The topic's partition count afterwards (must be larger than now).
    pub total_count: i32,
    /// Replica broker ids of each new partition, first the preferred leader; `None` lets the
    /// controller place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grow to `total_count` partitions, placed by the controller.
    pub fn increase_to(total_count: i32) -> NewPartitions {
        NewPartitions {
            total_count,
            assignments: None,
        }
    }
}

/// Which leader [`AdminClient::elect_leaders`](super::AdminClient::elect_leaders) elects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The preferred (first) replica, when it is in sync.
    Preferred,
    /// Any live replica, even out of sync (may lose data).
    Unclean,
}

/// A reassignment in progress ([`AdminClient::list_partition_reassignments`](super::AdminClient::list_partition_reassignments)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionReassignment {
    /// Every replica now (old and new).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed.
    pub removing_replicas: Vec<i32>,
}

/// One log directory of a broker ([`AdminClient::describe_log_dirs`](super::AdminClient::describe_log_dirs)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogDirDescription {
    /// Path of the directory on the broker.
    pub path: String,
    /// The directory's error (KAFKA_STORAGE_ERROR when it is offline), as a broker error.
    pub error: Option<crate::ErrorCode>,
    /// Partition replicas in it, keyed by `(topic, partition)`.
    pub replicas: BTreeMap<crate::TopicPartition, ReplicaInfo>,
    /// Size of the volume in bytes (`None` before DescribeLogDirs v4).
    pub total_bytes: Option<i64>,
    /// Free bytes of the volume (`None` before DescribeLogDirs v4).
    pub usable_bytes: Option<i64>,
}

/// One partition replica in a log directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaInfo {
    /// Bytes on disk.
    pub size: i64,
    /// How far the replica is behind its leader's log end (0 on the leader), in offsets.
    pub offset_lag: i64,
    /// Whether this is the future replica of an in-progress move between directories.
    pub is_future: bool,
}

/// The cluster's feature flags ([`AdminClient::describe_features`](super::AdminClient::describe_features)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureMetadata {
    /// Finalized features and their level, e.g. `metadata.version`.
    pub finalized: BTreeMap<String, i16>,
    /// The epoch of the finalized features, `None` when the broker did not say.
    pub finalized_epoch: Option<i64>,
    /// Features the answering broker supports, as `(min, max)` levels.
    pub supported: BTreeMap<String, (i16, i16)>,
}
