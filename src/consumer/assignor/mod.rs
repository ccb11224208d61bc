//! The built-in partition assignors of the classic group protocol, run by the group leader:
//! `range`, `roundrobin`, `sticky` (KIP-54) and `cooperative-sticky` (KIP-429).
//!
//! Each is a pure function of the members' subscriptions and the partition count of each
//! topic, run by [`assign`] or [`Assignor::assign`] (the `partition.assignment.strategy`
//! enum). Inputs come from the JoinGroup response via [`MemberSubscription::from_subscription`];
//! the output maps every member id (also those that get nothing) to its partitions, sorted by
//! topic then partition, ready for [`TopicPartitions::group`].
//!
//! Rack-aware assignment (KIP-881) needs each partition's replica racks, which this input does
//! not carry; like Java when racks are unknown, every assignor here is rack-oblivious and
//! [`MemberSubscription::rack`] is carried for a later rack-aware variant.
//!
//! Java compares member and instance ids with `String.compareTo` (UTF-16 code units), we with
//! byte order; they agree except for ids mixing characters above U+FFFF with U+E000..U+FFFF.

mod range;
mod roundrobin;
mod sticky;
#[cfg(test)]
mod sticky_tests;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;

use crate::config::Assignor;
use crate::protocol::consumer_protocol::{
    NO_GENERATION, StickyUserData, Subscription, TopicPartitions, decode_cooperative_generation,
    encode_cooperative_generation,
};

/// The leader's result: member id -> `(topic, partition)` pairs, sorted.
pub(crate) type GroupAssignment = BTreeMap<String, Vec<(String, i32)>>;

/// One group member as the assignors see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberSubscription {
    pub(crate) member_id: String,
    /// `group.instance.id` (KIP-345): `range` and `roundrobin` order static members by it.
    pub(crate) group_instance_id: Option<String>,
    pub(crate) topics: Vec<String>,
    /// Partitions the member owned in `generation` (sticky assignors only).
    pub(crate) owned: Vec<(String, i32)>,
    /// The generation `owned` is from; [`NO_GENERATION`] (-1) when unknown.
    pub(crate) generation: i32,
    pub(crate) rack: Option<String>,
}

impl MemberSubscription {
    /// A member with no owned partitions and an unknown generation.
    #[cfg(test)]
    pub(crate) fn new(member_id: impl Into<String>, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: member_id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            owned: Vec::new(),
            generation: NO_GENERATION,
            rack: None,
        }
    }

    /// Builds the assignor input from a member's decoded JoinGroup metadata, taking the
    /// previous ownership from where `assignor`'s members put it:
    /// - `sticky`: the [`StickyUserData`] (an eager member has revoked everything before it
    ///   joins, so `owned_partitions` is empty; Java reads only the user data). Falls back to
    ///   `owned_partitions`/`generation_id` when the user data is absent or unreadable.
    /// - `cooperative-sticky`: `owned_partitions`, with `generation_id` (v2+) or, from v1
    ///   members, the generation in the user data.
    /// - `range`, `roundrobin`: `owned_partitions`/`generation_id` (unused by them).
    pub(crate) fn from_subscription(
        assignor: Assignor,
        member_id: String,
        group_instance_id: Option<String>,
        sub: &Subscription,
    ) -> MemberSubscription {
        let user_data = sub.user_data.clone().filter(|d| !d.is_empty());
        let mut owned = TopicPartitions::flatten(&sub.owned_partitions);
        let mut generation = sub.generation_id;
        match assignor {
            Assignor::Sticky => {
                if let Some(data) = user_data.and_then(|d| StickyUserData::decode(d).ok()) {
                    owned = TopicPartitions::flatten(&data.previous_assignment);
                    generation = data.generation.unwrap_or(NO_GENERATION);
                }
            }
            Assignor::CooperativeSticky if generation == NO_GENERATION => {
                generation = user_data
                    .and_then(|d| decode_cooperative_generation(d).ok())
                    .unwrap_or(NO_GENERATION);
            }
            _ => {}
        }
        MemberSubscription {
            member_id,
            group_instance_id,
            topics: sub.topics.clone(),
            owned,
            generation,
            rack: sub.rack_id.clone(),
        }
    }
}

impl Assignor {
    /// Runs this assignor. `partitions_per_topic` holds the partition count of each subscribed
    /// topic found in metadata (absent topics are skipped). For `cooperative-sticky` the result
    /// already withholds partitions that change owner (see [`sticky::withhold_transfers`]).
    pub(crate) fn assign(
        self,
        members: &[MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> GroupAssignment {
        match self {
            Assignor::Range => range::assign(members, partitions_per_topic),
            Assignor::RoundRobin => roundrobin::assign(members, partitions_per_topic),
            Assignor::Sticky => sticky::assign(members, partitions_per_topic),
            Assignor::CooperativeSticky => {
                sticky::assign_cooperative(members, partitions_per_topic)
            }
        }
    }

    /// Whether the assignor supports the COOPERATIVE rebalance protocol (KIP-429): members
    /// keep their partitions through a rebalance and revoke only what they lose. All others
    /// are EAGER: revoke everything before joining.
    pub(crate) fn is_cooperative(self) -> bool {
        matches!(self, Assignor::CooperativeSticky)
    }

    /// The user data a member puts in its subscription, given the partitions it was assigned
    /// in `generation` (its last completed one, or -1).
    pub(crate) fn subscription_user_data(
        self,
        assigned: &[(String, i32)],
        generation: i32,
    ) -> Option<Bytes> {
        match self {
            Assignor::Sticky if !assigned.is_empty() || generation != NO_GENERATION => Some(
                StickyUserData {
                    previous_assignment: TopicPartitions::group(assigned),
                    generation: Some(generation),
                }
                .encode(),
            ),
            Assignor::CooperativeSticky => Some(encode_cooperative_generation(generation)),
            _ => None,
        }
    }
}

/// Runs `strategy`: the same as [`Assignor::assign`].
pub(crate) fn assign(
    strategy: Assignor,
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    strategy.assign(members, partitions_per_topic)
}

/// A map with every member present and nothing assigned.
fn empty_assignment(members: &[MemberSubscription]) -> GroupAssignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// Sorts every member's partitions.
fn sorted(mut assignment: GroupAssignment) -> GroupAssignment {
    for partitions in assignment.values_mut() {
        partitions.sort_unstable();
    }
    assignment
}

/// Java's `MemberInfo` order, used by `range` and `roundrobin` (KIP-345): static members
/// first, by `group.instance.id`; then dynamic members by member id.
fn member_info_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The partition count of `topic`, 0 when absent or negative.
fn partition_count(partitions_per_topic: &BTreeMap<String, i32>, topic: &str) -> i32 {
    partitions_per_topic.get(topic).copied().unwrap_or(0).max(0)
}
