//! `sticky` (Java `StickyAssignor`, KIP-54) and `cooperative-sticky` (Java
//! `CooperativeStickyAssignor`, KIP-429): a balanced assignment that leaves as many partitions
//! as balance allows with their previous owner.
//!
//! 1. **Previous owners.** For each partition the claim from the highest generation wins;
//!    claims in one generation by two members cancel out (the partition counts as unowned, as
//!    in Java). Claims on partitions that no longer exist, or whose topic the claimant no
//!    longer subscribes to, are dropped.
//! 2. **Identical subscriptions** (Java's "constrained" case): with `n` partitions and `m`
//!    members each member gets `n / m`, and `n % m` members one more. Members are visited in
//!    the order Java's leader meets them ([`Group::java_order`]: its `HashMap` of member ids).
//!    Each keeps its lowest owned partitions (by partition, then topic) up to its quota: the
//!    larger quota while such slots remain and it owns that many, else the smaller one. The
//!    free partitions, sorted, are dealt in turn (member id order) to members below `n / m`
//!    until all reach it; a leftover larger quota goes first to owners kept at `n / m` (by
//!    member id), then to members in the order the dealing brought them to `n / m`.
//! 3. **Otherwise** (Java's "general" case): every member keeps all it validly owned. Free
//!    partitions, those with the fewest eligible members first, go one by one to the eligible
//!    member with the fewest partitions (ties: member id). Then, topic by topic and in passes
//!    until nothing moves, a partition of the topic moves from its busiest holder to its least
//!    loaded subscriber while they differ by two or more (preferring a partition the giver did
//!    not own before). At the end no member holds two more partitions than another that could
//!    take one of them (Java's balance criterion), so members with identical subscriptions
//!    differ by at most one.
//!
//! `cooperative-sticky` computes the same target and then applies KIP-429's rule
//! ([`withhold_transfers`]): a partition that changes owner is left out of its new owner's
//! assignment this round; the current owner revokes it, rejoins, and the follow-up rebalance
//! hands it over.
//!
//! The results match Java's for its published test cases and, in step 2, wherever Java's choice
//! hangs on `HashMap` iteration order (which owners keep a larger quota): we compute that order
//! (checked against Kafka 4.4's client by `tests/java_peer.rs` and the tables in
//! `sticky_tests.rs`). Not modelled: a `HashMap` bucket holding nine or more member ids, which
//! makes Java grow its table early.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{GroupAssignment, MemberSubscription, partition_count};

/// A partition: (index into [`Group::topics`], partition). Sorts like (topic, partition).
type Tp = (usize, i32);

/// The eager `sticky` assignment (also `cooperative-sticky`'s target).
pub(super) fn assign(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let group = Group::new(members, partitions_per_topic);
    let assigned = if group.subscriptions_equal() {
        group.constrained()
    } else {
        group.general()
    };
    let mut out = super::empty_assignment(members);
    for (member, partitions) in group.members.iter().zip(assigned) {
        if let Some(list) = out.get_mut(&member.member_id) {
            list.extend(
                partitions
                    .into_iter()
                    .map(|(t, p)| (group.topics[t].to_owned(), p)),
            );
        }
    }
    super::sorted(out)
}

/// The `cooperative-sticky` assignment: [`assign`] followed by [`withhold_transfers`].
pub(super) fn assign_cooperative(
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut assignment = assign(members, partitions_per_topic);
    withhold_transfers(members, &mut assignment);
    assignment
}

/// KIP-429's rule for cooperative rebalancing: removes from each member's assignment every
/// partition it does not own yet while another member still lists it in `owned` (whatever
/// that claim's generation), so nothing is handed over before its owner has revoked it.
/// Returns the withheld partitions with the member meant to get them (Java's
/// `partitionsTransferringOwnership`); when it is not empty, the owners that revoke rejoin and
/// the next rebalance assigns them. Java skips stale (lower generation) claims here when all
/// subscriptions are equal; we withhold for them too, erring on the side of never sharing.
pub(super) fn withhold_transfers(
    members: &[MemberSubscription],
    assignment: &mut GroupAssignment,
) -> BTreeMap<(String, i32), String> {
    // (topic, partition, claimant), sorted: the claimants of a partition are one run.
    let mut claims: Vec<(&str, i32, &str)> = members
        .iter()
        .flat_map(|m| {
            m.owned
                .iter()
                .map(|(t, p)| (t.as_str(), *p, m.member_id.as_str()))
        })
        .collect();
    claims.sort_unstable();
    let mut withheld = BTreeMap::new();
    for (member_id, partitions) in assignment.iter_mut() {
        partitions.retain(|(topic, partition)| {
            let key = (topic.as_str(), *partition);
            let start = claims.partition_point(|c| (c.0, c.1) < key);
            let run = claims[start..].iter().take_while(|c| (c.0, c.1) == key);
            let mut owners = run.map(|c| c.2).peekable();
            let transferring =
                owners.peek().is_some() && owners.all(|owner| owner != member_id.as_str());
            if transferring {
                withheld.insert((topic.clone(), *partition), member_id.clone());
            }
            !transferring
        });
    }
    withheld
}

/// Partitions per member during the general assignment.
struct Loads {
    /// Everything each member holds.
    all: Vec<BTreeSet<Tp>>,
    /// The part of `all` the member did not own before: moving it costs no stickiness.
    fresh: Vec<BTreeSet<Tp>>,
}

/// The assignment problem with topics and members indexed.
struct Group<'a> {
    /// Subscribed topics that exist (at least one partition), sorted.
    topics: Vec<&'a str>,
    /// Partition count of each topic.
    counts: Vec<i32>,
    /// Members by member id (a repeated id is taken once).
    members: Vec<&'a MemberSubscription>,
    /// Each member's position in the input (the JoinGroup response's order).
    join_index: Vec<usize>,
    /// Each member's subscribed topics (indices), existing ones only.
    subscriptions: Vec<BTreeSet<usize>>,
    /// Each member's valid previous partitions, in the order the member listed them.
    owned: Vec<Vec<Tp>>,
}

impl<'a> Group<'a> {
    fn new(
        members: &'a [MemberSubscription],
        partitions_per_topic: &BTreeMap<String, i32>,
    ) -> Self {
        let mut sorted: Vec<(usize, &MemberSubscription)> = members.iter().enumerate().collect();
        // Stable: of a repeated id, the first in the input stays.
        sorted.sort_by(|a, b| a.1.member_id.cmp(&b.1.member_id));
        sorted.dedup_by(|a, b| a.1.member_id == b.1.member_id);
        let join_index: Vec<usize> = sorted.iter().map(|(i, _)| *i).collect();
        let sorted: Vec<&MemberSubscription> = sorted.into_iter().map(|(_, m)| m).collect();

        let topics: Vec<&str> = sorted
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .filter(|t| partition_count(partitions_per_topic, t) > 0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let counts: Vec<i32> = topics
            .iter()
            .map(|t| partition_count(partitions_per_topic, t))
            .collect();
        let index: BTreeMap<&str, usize> =
            topics.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let subscriptions: Vec<BTreeSet<usize>> = sorted
            .iter()
            .map(|m| {
                m.topics
                    .iter()
                    .filter_map(|t| index.get(t.as_str()).copied())
                    .collect()
            })
            .collect();

        // Each member's claims on existing partitions, deduplicated, in its order.
        let claims: Vec<Vec<Tp>> = sorted
            .iter()
            .map(|m| {
                let mut seen = BTreeSet::new();
                m.owned
                    .iter()
                    .filter_map(|(t, p)| {
                        let ti = *index.get(t.as_str())?;
                        ((0..counts[ti]).contains(p) && seen.insert((ti, *p))).then_some((ti, *p))
                    })
                    .collect()
            })
            .collect();
        // Highest generation wins; a tie leaves the partition without an owner.
        let mut winner: BTreeMap<Tp, (i32, Option<usize>)> = BTreeMap::new();
        for (i, member_claims) in claims.iter().enumerate() {
            let generation = sorted[i].generation;
            for tp in member_claims {
                match winner.entry(*tp) {
                    Entry::Vacant(e) => {
                        e.insert((generation, Some(i)));
                    }
                    Entry::Occupied(mut e) => {
                        let (best, owner) = e.get_mut();
                        if generation > *best {
                            *best = generation;
                            *owner = Some(i);
                        } else if generation == *best {
                            *owner = None;
                        }
                    }
                }
            }
        }
        let owned = claims
            .into_iter()
            .enumerate()
            .map(|(i, member_claims)| {
                member_claims
                    .into_iter()
                    .filter(|tp| {
                        winner.get(tp).is_some_and(|(_, o)| *o == Some(i))
                            && subscriptions[i].contains(&tp.0)
                    })
                    .collect()
            })
            .collect();

        Group {
            topics,
            counts,
            members: sorted,
            join_index,
            subscriptions,
            owned,
        }
    }

    fn subscriptions_equal(&self) -> bool {
        self.subscriptions.windows(2).all(|w| w[0] == w[1])
    }

    /// Every partition of a subscribed topic, sorted.
    fn all_partitions(&self) -> impl Iterator<Item = Tp> + '_ {
        self.counts
            .iter()
            .enumerate()
            .flat_map(|(t, &n)| (0..n).map(move |p| (t, p)))
    }

    /// The order in which Java's leader meets the members in step 2: it iterates a
    /// `HashMap<String, _>` of member ids (default capacity, load factor 0.75) filled in
    /// JoinGroup order, that is by bucket (the spread `String.hashCode` of the id, modulo the
    /// table size the map grew to), then by insertion order within a bucket.
    fn java_order(&self) -> Vec<usize> {
        let n = self.members.len();
        let mut buckets = 16;
        while n > buckets / 4 * 3 {
            buckets *= 2;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| {
            let h = java_string_hash(&self.members[i].member_id);
            (
                ((h ^ (h >> 16)) as usize) & (buckets - 1),
                self.join_index[i],
            )
        });
        order
    }

    /// Step 2 of the module docs: all members subscribe to the same topics.
    fn constrained(&self) -> Vec<Vec<Tp>> {
        let m = self.members.len();
        if m == 0 {
            return Vec::new();
        }
        let total: usize = self.counts.iter().map(|&n| n as usize).sum();
        let min = total / m;
        let max = total.div_ceil(m);
        // Members to end with `max` partitions, and how many have them so far.
        let max_slots = total % m;
        let mut at_max = 0;

        let mut assigned: Vec<Vec<Tp>> = vec![Vec::new(); m];
        let mut taken = BTreeSet::new();
        // Below `min` after keeping what they own; at `min` and still eligible for `max`.
        let mut under: Vec<usize> = Vec::new();
        let mut at_min: VecDeque<usize> = VecDeque::new();
        for i in self.java_order() {
            let mut owned = self.owned[i].clone();
            owned.sort_unstable_by_key(|&(t, p)| (p, t));
            let keep = if owned.len() < min {
                under.push(i);
                owned.len()
            } else if owned.len() >= max && at_max < max_slots {
                at_max += 1;
                if at_max == max_slots {
                    at_min.clear();
                }
                max
            } else {
                if at_max < max_slots {
                    at_min.push_back(i);
                }
                min
            };
            taken.extend(owned[..keep].iter().copied());
            assigned[i] = owned[..keep].to_vec();
        }
        // Indices are in member id order.
        under.sort_unstable();
        at_min.make_contiguous().sort_unstable();

        // Deal the free partitions round robin to members below `min`, one each per round; a
        // member reaching `min` queues for `max`. Once none is below, the queue takes the rest.
        let mut next = 0;
        for tp in self.all_partitions().filter(|tp| !taken.contains(tp)) {
            if next >= under.len() {
                next = 0;
            }
            let (i, from_under) = match under.get(next) {
                Some(&i) => (i, true),
                None => match at_min.pop_front() {
                    Some(i) => (i, false),
                    // Nothing is left by the counting above; never drop a partition if it were.
                    None => match (0..m).min_by_key(|&i| assigned[i].len()) {
                        Some(i) => (i, false),
                        None => break,
                    },
                },
            };
            assigned[i].push(tp);
            if from_under && assigned[i].len() == min {
                under.remove(next);
                at_min.push_back(i);
            } else if from_under {
                next += 1;
            }
        }
        assigned
    }

    /// Step 3 of the module docs: subscriptions differ.
    fn general(&self) -> Vec<Vec<Tp>> {
        let m = self.members.len();
        let mut state = Loads {
            all: self
                .owned
                .iter()
                .map(|o| o.iter().copied().collect())
                .collect(),
            fresh: vec![BTreeSet::new(); m],
        };
        let taken: BTreeSet<Tp> = state.all.iter().flatten().copied().collect();
        let eligible: Vec<Vec<usize>> = (0..self.topics.len())
            .map(|t| {
                (0..m)
                    .filter(|&i| self.subscriptions[i].contains(&t))
                    .collect()
            })
            .collect();

        let mut free: Vec<Tp> = self
            .all_partitions()
            .filter(|tp| !taken.contains(tp))
            .collect();
        free.sort_by_key(|&(t, p)| (eligible[t].len(), t, p));
        // A topic's partitions are contiguous in `free`: deal each run to its eligible
        // members, least loaded first (ties: member id).
        for run in free.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(topic, _)) = run.first() else {
                continue;
            };
            let mut by_load: BTreeSet<(usize, usize)> = eligible[topic]
                .iter()
                .map(|&i| (state.all[i].len(), i))
                .collect();
            for tp in run {
                // Every topic in `topics` has at least one subscriber.
                if let Some((load, i)) = by_load.pop_first() {
                    state.all[i].insert(*tp);
                    state.fresh[i].insert(*tp);
                    by_load.insert((load + 1, i));
                }
            }
        }

        // Rebalance topic by topic until a whole pass moves nothing.
        let mut moved = true;
        while moved {
            moved = false;
            for (topic, members) in eligible.iter().enumerate() {
                moved |= state.level(topic, members);
            }
        }
        state
            .all
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect()
    }
}

impl Loads {
    /// Moves partitions of `topic` from its busiest holder to the least loaded of `eligible`
    /// (the topic's subscribers) while they differ by two or more. Only those two members'
    /// loads change, so the orderings stay valid. Returns whether anything moved.
    fn level(&mut self, topic: usize, eligible: &[usize]) -> bool {
        let of_topic = |set: &BTreeSet<Tp>| {
            set.range((topic, i32::MIN)..=(topic, i32::MAX))
                .next_back()
                .copied()
        };
        let mut by_load: BTreeSet<(usize, usize)> =
            eligible.iter().map(|&i| (self.all[i].len(), i)).collect();
        let mut holders: BTreeSet<(usize, usize)> = by_load
            .iter()
            .filter(|&&(_, i)| of_topic(&self.all[i]).is_some())
            .copied()
            .collect();
        let mut moved = false;
        while let (Some(&(to_load, to)), Some(&(from_load, from))) =
            (by_load.first(), holders.last())
        {
            if from_load < to_load + 2 {
                break;
            }
            // Prefer a partition the giver did not own before: moving it costs no stickiness.
            let tp = of_topic(&self.fresh[from]).or_else(|| of_topic(&self.all[from]));
            let Some(tp) = tp else {
                break;
            };
            self.all[from].remove(&tp);
            self.fresh[from].remove(&tp);
            self.all[to].insert(tp);
            self.fresh[to].insert(tp);
            moved = true;
            by_load.remove(&(to_load, to));
            by_load.remove(&(from_load, from));
            holders.remove(&(to_load, to));
            holders.remove(&(from_load, from));
            by_load.insert((to_load + 1, to));
            by_load.insert((from_load - 1, from));
            holders.insert((to_load + 1, to));
            if of_topic(&self.all[from]).is_some() {
                holders.insert((from_load - 1, from));
            }
        }
        moved
    }
}

/// Java's `String.hashCode` (over UTF-16 code units), as the unsigned bits of the `int`.
fn java_string_hash(s: &str) -> u32 {
    s.encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)))
}
