//! What `poll` returns.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::record::{Header, TimestampType, TopicPartition};

/// One consumed record. Owns its bytes (`Bytes` slices of the fetch response): nothing borrows
/// from the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic name (shared by every record of the partition).
    pub topic: Arc<str>,
    /// Partition id.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Timestamp in ms since the Unix epoch; see `timestamp_type`.
    pub timestamp: i64,
    /// CreateTime (the producer's) or LogAppendTime (the broker's).
    pub timestamp_type: TimestampType,
    /// Key (`None` is null).
    pub key: Option<Bytes>,
    /// Value (`None` is null).
    pub value: Option<Bytes>,
    /// Headers (KIP-82), in order.
    pub headers: Vec<Header>,
    /// Leader epoch of the batch (KIP-320), when the broker set one.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The record's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}

/// The records one `poll` returned, in fetch order (per partition: offset order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerRecords {
    records: Vec<ConsumerRecord>,
}

impl ConsumerRecords {
    pub(crate) fn new(records: Vec<ConsumerRecord>) -> Self {
        ConsumerRecords { records }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the poll returned nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Iterates over the records.
    pub fn iter(&self) -> std::slice::Iter<'_, ConsumerRecord> {
        self.records.iter()
    }

    /// The partitions that have records in this poll.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> =
            self.records.iter().map(|r| r.topic_partition()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The records of one partition.
    pub fn records<'a>(
        &'a self,
        tp: &'a TopicPartition,
    ) -> impl Iterator<Item = &'a ConsumerRecord> {
        self.records
            .iter()
            .filter(move |r| r.partition == tp.partition && *r.topic == *tp.topic)
    }

    /// Takes the records out.
    pub fn into_vec(self) -> Vec<ConsumerRecord> {
        self.records
    }
}

impl IntoIterator for ConsumerRecords {
    type Item = ConsumerRecord;
    type IntoIter = std::vec::IntoIter<ConsumerRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConsumerRecords {
    type Item = &'a ConsumerRecord;
    type IntoIter = std::slice::Iter<'a, ConsumerRecord>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

/// A committed offset: the offset of the next record to consume, with optional metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetAndMetadata {
    /// The next offset to read (last processed + 1).
    pub offset: i64,
    /// Leader epoch of the last consumed record (KIP-320), if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the commit.
    pub metadata: String,
}

impl OffsetAndMetadata {
    /// An offset with no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// Offsets by partition, as `commit_offsets_sync` takes and `committed` returns.
pub type Offsets = BTreeMap<TopicPartition, OffsetAndMetadata>;

/// This consumer's group membership, as Java's `ConsumerGroupMetadata`: what a transactional
/// producer sends with its offsets, and what tests use to tell generations apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// Generation of the last completed join; -1 before the first join or after leaving.
    pub generation_id: i32,
    /// Member id the coordinator gave; empty before the first join.
    pub member_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
}
