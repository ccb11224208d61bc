//! Value types of the group, offset and lag calls.

use crate::config::IsolationLevel;
use crate::types::{Node, TopicPartition};

/// Filters of [`AdminClient::list_groups_with`](super::AdminClient::list_groups_with) (KIP-518,
/// KIP-848). Empty filters match everything. Values are the broker's spellings, compared
/// case-insensitively by the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsOptions {
    /// Group states, e.g. `Stable`, `Empty`, `PreparingRebalance`, `Dead` (ListGroups v4+).
    pub states: Vec<String>,
    /// Group types: `classic`, `consumer`, `share`, `streams` (ListGroups v5+).
    pub types: Vec<String>,
}

/// A group in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// The JoinGroup protocol type: `consumer` for consumer groups, empty for groups that only
    /// commit offsets.
    pub protocol_type: String,
    /// The group's state (`None` when the broker is older than ListGroups v4).
    pub state: Option<String>,
    /// The group's type (`None` when the broker is older than ListGroups v5).
    pub group_type: Option<String>,
}

/// A consumer group as
/// [`AdminClient::describe_consumer_groups`](super::AdminClient::describe_consumer_groups)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerGroupDescription {
    /// Group id.
    pub group_id: String,
    /// Whether the group only commits offsets (no JoinGroup protocol type).
    pub is_simple: bool,
    /// The JoinGroup protocol type (`consumer`).
    pub protocol_type: String,
    /// The assignor the group uses, e.g. `range` (empty when not stable).
    pub partition_assignor: String,
    /// The state, e.g. `Stable`, `Empty`, `Dead`.
    pub state: String,
    /// The members, with what they were assigned.
    pub members: Vec<MemberDescription>,
    /// The group's coordinator.
    pub coordinator: Node,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberDescription {
    /// Member id given by the coordinator.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it, e.g. `/127.0.0.1`.
    pub host: String,
    /// The partitions assigned to the member, sorted.
    pub assignment: Vec<TopicPartition>,
}

/// A member to remove from a group
/// ([`AdminClient::remove_members_from_consumer_group`](super::AdminClient::remove_members_from_consumer_group)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberToRemove {
    /// A static member by `group.instance.id`.
    Static(String),
    /// A dynamic member by member id.
    Dynamic(String),
}

/// Which offset [`AdminClient::list_offsets`](super::AdminClient::list_offsets) looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark), or the last stable offset with read_committed.
    Latest,
    /// The offset of the record with the largest timestamp (KIP-734, ListOffsets v7+).
    MaxTimestamp,
    /// The earliest offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    pub(crate) fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// Options of [`AdminClient::list_offsets_with`](super::AdminClient::list_offsets_with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOffsetsOptions {
    /// `ReadCommitted` makes [`OffsetSpec::Latest`] the last stable offset (default
    /// `ReadUncommitted`: the high watermark).
    pub isolation_level: IsolationLevel,
}

/// One offset found by [`AdminClient::list_offsets`](super::AdminClient::list_offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOffsetsResultInfo {
    /// The offset; -1 when no record has a timestamp at or after the one asked for.
    pub offset: i64,
    /// That record's timestamp (ms), -1 for earliest and latest.
    pub timestamp: i64,
    /// The leader epoch of that record, when known.
    pub leader_epoch: Option<i32>,
}

/// One row of [`AdminClient::consumer_group_lag`](super::AdminClient::consumer_group_lag): a
/// partition the group has committed or has assigned, as `kafka-consumer-groups --describe`
/// prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (`CURRENT-OFFSET`), `None` when nothing is committed.
    pub committed: Option<i64>,
    /// The log end offset (high watermark, or LSO for read_committed), `None` when the lookup
    /// failed.
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - committed`, `None` when either is unknown.
    pub lag: Option<i64>,
    /// The member that has the partition assigned (`CONSUMER-ID`).
    pub member_id: Option<String>,
    /// That member's host (`HOST`).
    pub host: Option<String>,
    /// That member's client id (`CLIENT-ID`).
    pub client_id: Option<String>,
}
