//! KIP-848 consumer groups on the mock (ConsumerGroupHeartbeat), enough for fault tests: the
//! coordinator deals the subscribed topics' partitions round robin over the members (sorted
//! by member id), hands a member a partition only once no other member owns it (revocation
//! before assignment), and bumps a member's epoch whenever what it is given changes. No
//! session expiry: members leave with epoch -1 or -2.

use std::collections::{BTreeMap, BTreeSet};

use super::state::{NONE, TopicState};

const UNKNOWN_MEMBER_ID: i16 = 25;
const FENCED_MEMBER_EPOCH: i16 = 110;
const STALE_MEMBER_EPOCH: i16 = 113;
const HEARTBEAT_INTERVAL_MS: i32 = 100;

type Partition = ([u8; 16], i32);

#[derive(Debug, Default)]
struct Member {
    epoch: i32,
    topics: BTreeSet<String>,
    /// What the member last reported owning.
    owned: BTreeSet<Partition>,
    /// What it was last given.
    given: Option<BTreeSet<Partition>>,
}

#[derive(Debug, Default)]
struct Group {
    epoch: i32,
    members: BTreeMap<String, Member>,
}

/// One heartbeat as the coordinator reads it.
pub(crate) struct Beat {
    pub group: String,
    pub member_id: String,
    pub epoch: i32,
    pub topics: Option<Vec<String>>,
    pub owned: Option<Vec<Partition>>,
}

/// The answer: (error, member id, member epoch, interval, assignment when it changed).
pub(crate) type Answer = (i16, String, i32, i32, Option<Vec<Partition>>);

#[derive(Debug, Default)]
pub(crate) struct ConsumerGroups {
    groups: BTreeMap<String, Group>,
}

impl ConsumerGroups {
    pub(crate) fn heartbeat(
        &mut self,
        beat: Beat,
        topics: &BTreeMap<String, TopicState>,
    ) -> Answer {
        let g = self.groups.entry(beat.group.clone()).or_default();
        let member_id = if beat.member_id.is_empty() {
            format!("mock-member-{}", g.members.len() + g.epoch as usize)
        } else {
            beat.member_id.clone()
        };
        let reject = |code| (code, member_id.clone(), -1, HEARTBEAT_INTERVAL_MS, None);
        match beat.epoch {
            e if e < 0 => {
                if g.members.remove(&member_id).is_some() {
                    g.epoch += 1;
                }
                return (NONE, member_id, e, HEARTBEAT_INTERVAL_MS, None);
            }
            0 => {
                // A join, or a rejoin after a fence: the member starts over owning nothing.
                let m = g.members.entry(member_id.clone()).or_default();
                m.owned.clear();
                m.given = None;
                g.epoch += 1;
            }
            e => match g.members.get(&member_id) {
                None => return reject(UNKNOWN_MEMBER_ID),
                Some(m) if m.epoch != e => return reject(FENCED_MEMBER_EPOCH),
                Some(_) => {}
            },
        }
        if let Some(m) = g.members.get_mut(&member_id) {
            if let Some(t) = beat.topics {
                let t: BTreeSet<String> = t.into_iter().collect();
                if t != m.topics {
                    m.topics = t;
                    g.epoch += 1;
                }
            }
            if let Some(owned) = beat.owned {
                m.owned = owned.into_iter().collect();
            }
        }
        let target = g.target(topics);
        let taken: BTreeSet<Partition> = g
            .members
            .iter()
            .filter(|(id, _)| **id != member_id)
            .flat_map(|(_, m)| m.owned.iter().chain(m.given.iter().flatten()))
            .copied()
            .collect();
        let group_epoch = g.epoch;
        let Some(m) = g.members.get_mut(&member_id) else {
            return reject(UNKNOWN_MEMBER_ID);
        };
        let mine: BTreeSet<Partition> = target
            .get(&member_id)
            .map(|t| t.difference(&taken).copied().collect())
            .unwrap_or_default();
        let changed = m.given.as_ref() != Some(&mine);
        if changed {
            m.epoch = group_epoch.max(m.epoch + 1);
            m.given = Some(mine.clone());
        }
        (
            NONE,
            member_id,
            m.epoch,
            HEARTBEAT_INTERVAL_MS,
            changed.then(|| mine.into_iter().collect()),
        )
    }

    /// OffsetCommit's checks for a consumer group; `None` when `group` is not one.
    pub(crate) fn check_commit(&self, group: &str, member_id: &str, epoch: i32) -> Option<i16> {
        let g = self.groups.get(group)?;
        if member_id.is_empty() && epoch < 0 {
            return Some(NONE);
        }
        Some(match g.members.get(member_id) {
            None => UNKNOWN_MEMBER_ID,
            Some(m) if m.epoch != epoch => STALE_MEMBER_EPOCH,
            Some(_) => NONE,
        })
    }
}

impl Group {
    /// Member id -> the partitions the group means it to own.
    fn target(
        &self,
        topics: &BTreeMap<String, TopicState>,
    ) -> BTreeMap<String, BTreeSet<Partition>> {
        let wanted: BTreeSet<&String> = self.members.values().flat_map(|m| &m.topics).collect();
        let mut out: BTreeMap<String, BTreeSet<Partition>> = BTreeMap::new();
        let mut i = 0usize;
        for name in wanted {
            let Some(t) = topics.get(name) else { continue };
            for p in 0..t.partitions.len() as i32 {
                let subscribers: Vec<&String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.topics.contains(name))
                    .map(|(id, _)| id)
                    .collect();
                let owner = subscribers[i % subscribers.len()];
                out.entry(owner.clone()).or_default().insert((t.id, p));
                i += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::state::PartitionLog;

    fn topics() -> BTreeMap<String, TopicState> {
        let mut t = BTreeMap::new();
        t.insert(
            "t".to_string(),
            TopicState {
                id: [7; 16],
                partitions: Vec::new(),
            },
        );
        t
    }

    fn beat(member: &str, epoch: i32, owned: &[i32]) -> Beat {
        Beat {
            group: "g".into(),
            member_id: member.into(),
            epoch,
            topics: Some(vec!["t".into()]),
            owned: Some(owned.iter().map(|p| ([7; 16], *p)).collect()),
        }
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_gave_it_up() {
        let mut t = topics();
        t.get_mut("t").unwrap().partitions = (0..2).map(|_| PartitionLog::new(1)).collect();
        let mut g = ConsumerGroups::default();
        let (code, _, e1, _, a) = g.heartbeat(beat("a", 0, &[]), &t);
        assert_eq!((code, a.map(|a| a.len())), (NONE, Some(2)));
        // b joins: the target gives it one of a's partitions, which a still owns.
        let (_, _, eb, _, b) = g.heartbeat(beat("b", 0, &[]), &t);
        assert_eq!(b.map(|b| b.len()), Some(0));
        // a learns it keeps one partition (its epoch moves on), gives the other up...
        let (_, _, e2, _, a) = g.heartbeat(beat("a", e1, &[0, 1]), &t);
        assert!(e2 > e1);
        assert_eq!(a.map(|a| a.len()), Some(1));
        g.heartbeat(beat("a", e2, &[0]), &t);
        // ... then b gets it.
        let (_, _, _, _, b) = g.heartbeat(beat("b", eb, &[]), &t);
        assert_eq!(b, Some(vec![([7; 16], 1)]));
        // An old epoch is fenced; an unknown member is told so.
        assert_eq!(g.heartbeat(beat("a", e1, &[0]), &t).0, FENCED_MEMBER_EPOCH);
        assert_eq!(g.heartbeat(beat("z", 3, &[]), &t).0, UNKNOWN_MEMBER_ID);
        assert_eq!(g.check_commit("g", "a", e2), Some(NONE));
        assert_eq!(g.check_commit("g", "a", e1), Some(STALE_MEMBER_EPOCH));
        assert_eq!(g.check_commit("other", "a", 1), None);
    }
}
