//! Each broker's wanted list patched from its fetch session, instead of a walk over the
//! assignment per fetch (issue #19: a fetch should cost the partitions with data, not the
//! assigned ones).
//!
//! While the subscription's version and the metadata are what they were when a broker's last
//! fetch was planned, a partition's place in that broker's list can only change when its
//! buffered data comes or goes: every other change to a partition's fetch state (seek, pause,
//! assignment, position lookup, validation) moves the version, and the fetcher moves positions
//! only of buffered partitions (`SubscriptionState::fetched_state_mut`). So the fetcher notes
//! each partition that enters or leaves its buffer; the next look gives it to its leader, and a
//! broker's next list is its session's (what its last fetch wanted) with those partitions looked
//! at again. Anything else, or any doubt, walks the assignment; in debug builds every patched
//! list is checked against the walk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Fetcher;
use super::send::NodeFetch;
use super::session::{PartState, SessionPartition};
use crate::consumer::subscription::SubscriptionState;
use crate::network::metadata::Cluster;
use crate::record::TopicPartition;

/// Most partitions remembered as moved between two looks; past it the next look walks (when
/// many move, as when every partition has data, the walk costs less than noting them).
const MAX_MOVED: usize = 1024;
/// A broker's list is patched while fewer than this many partitions and an eighth of its
/// session moved; more, and the walk is cheaper than sorting them.
const MAX_PENDING_BASE: usize = 64;

/// What the patched lists are built on. Owned by the [`Fetcher`], changed only by it.
#[derive(Default)]
pub(super) struct Targets {
    /// Partitions that entered or left the fetcher's buffer since the last look.
    moved: Vec<TopicPartition>,
    /// `moved` ran over [`MAX_MOVED`]: some were not noted.
    overflowed: bool,
    /// Per broker whose last planned fetch was sent: what it was planned under, and what moved
    /// for it since.
    bases: HashMap<i32, NodeBase>,
    /// The last walk sent a fetch to every broker it found partitions for, found a leader for
    /// every partition and read from no follower: every fetchable partition that is not
    /// buffered is in a broker's session or in its pending list, as long as the subscription
    /// and the metadata are the walk's (`walked_under`).
    complete: bool,
    /// [`SubscriptionState::version`] and the metadata of the last walk.
    walked_under: Option<(u64, Arc<Cluster>)>,
}

struct NodeBase {
    /// [`SubscriptionState::version`] when the fetch was planned.
    version: u64,
    /// The metadata then.
    cluster: Arc<Cluster>,
    /// Partitions of this leader that moved since.
    pending: Vec<TopicPartition>,
}

impl Targets {
    /// Notes that `tp` entered or left the buffer.
    pub(super) fn moved(&mut self, tp: &TopicPartition) {
        if self.moved.len() < MAX_MOVED {
            self.moved.push(tp.clone());
        } else {
            self.overflowed = true;
        }
    }

    /// Gives each moved partition to its leader's pending list. Says whether every one found a
    /// base (the others can only be placed by a walk).
    fn route(&mut self, cluster: &Cluster) -> bool {
        let mut all = !self.overflowed;
        if self.overflowed {
            // Some were not noted: no base can be trusted, in flight or not.
            self.bases.clear();
            self.overflowed = false;
        }
        for tp in std::mem::take(&mut self.moved) {
            match leader(cluster, &tp).and_then(|l| self.bases.get_mut(&l)) {
                Some(base) => {
                    base.pending.push(tp);
                    // A broker skipped look after look (caught up and busy) keeps its list:
                    // past the bound, only a walk plans it again.
                    if base.pending.len() > MAX_MOVED {
                        base.pending.sort_unstable();
                        base.pending.dedup();
                        if base.pending.len() > MAX_MOVED / 2 {
                            all = false;
                        }
                    }
                }
                None => all = false,
            }
        }
        all
    }

    /// Records that a fetch planned under `version` and `cluster` was sent to `node`.
    fn planned(&mut self, node: i32, version: u64, cluster: &Arc<Cluster>) {
        self.bases.insert(
            node,
            NodeBase {
                version,
                cluster: cluster.clone(),
                pending: Vec::new(),
            },
        );
    }
}

impl Fetcher {
    /// Gives the moved partitions to their leaders; says whether the lists may be patched (see
    /// [`patched_targets`](Self::patched_targets)). Called once per look, before either.
    pub(super) fn route_moved(&mut self, cluster: &Cluster) -> bool {
        let routed = self.targets.route(cluster);
        self.targets.complete &= routed;
        self.targets.complete && self.cfg.sessions && self.read_replicas.is_empty()
    }

    /// What [`fetch_targets`](Self::fetch_targets) would find, from each broker's session and the
    /// partitions moved for it, when every broker without a fetch in flight was last planned
    /// under the current subscription and metadata and its session holds that plan's list.
    /// `None`: walk instead.
    pub(super) fn patched_targets(
        &self,
        subs: &SubscriptionState,
        cluster: &Arc<Cluster>,
    ) -> Option<HashMap<i32, NodeFetch>> {
        let version = subs.version();
        // A broker with no base now may have partitions to fetch once either moved.
        let (walk_version, walk_cluster) = self.targets.walked_under.as_ref()?;
        if *walk_version != version || !Arc::ptr_eq(walk_cluster, cluster) {
            return None;
        }
        let mut open = Vec::new();
        for (node, base) in &self.targets.bases {
            if self.in_flight.contains_key(node) {
                continue;
            }
            let established = self.sessions.get(node).is_some_and(|s| s.is_established());
            if base.version != version || !Arc::ptr_eq(&base.cluster, cluster) || !established {
                return None;
            }
            open.push((*node, base));
        }
        for (node, base) in &open {
            let session = self.sessions.get(node)?.parts();
            if base.pending.len() > MAX_PENDING_BASE + session.len() / 8 {
                // Most of the list moved: sorting the moved ones costs more than the walk.
                return None;
            }
        }
        let buffered: HashSet<&TopicPartition, foldhash::fast::RandomState> =
            self.buffered.iter().map(|f| &f.tp).collect();
        let mut per_node = HashMap::new();
        for (node, base) in open {
            let session = self.sessions.get(&node)?.parts();
            let mut pending: Vec<&TopicPartition> = base.pending.iter().collect();
            pending.sort_unstable();
            pending.dedup();
            let mut parts = Vec::with_capacity(session.len() + pending.len());
            let mut held = session.iter().peekable();
            for tp in pending {
                let key = (tp.topic.as_str(), tp.partition);
                while let Some(e) = held.next_if(|(sp, _)| (&*sp.topic, sp.partition) < key) {
                    parts.push(e.clone());
                }
                let before = held.next_if(|(sp, _)| (&*sp.topic, sp.partition) == key);
                if buffered.contains(tp) {
                    continue;
                }
                if let Some(state) = fetch_state(subs, cluster, tp) {
                    let topic = before
                        .map(|(sp, _)| sp.topic.clone())
                        .or_else(|| self.session_name(&tp.topic))
                        .unwrap_or_else(|| Arc::from(tp.topic.as_str()));
                    let sp = SessionPartition {
                        topic,
                        partition: tp.partition,
                    };
                    parts.push((sp, state));
                }
            }
            parts.extend(held.cloned());
            if !parts.is_empty() {
                let caught_up = parts.iter().all(|(_, s)| s.at_end);
                per_node.insert(node, NodeFetch { parts, caught_up });
            }
        }
        Some(per_node)
    }

    /// After a look: `sent` brokers were sent a fetch planned under `version` and `cluster`.
    /// After a walk (`walked`), `complete` says whether it placed every fetchable partition
    /// (see [`Targets::complete`]); brokers it planned for but did not send to, and brokers
    /// with nothing to fetch, lose their bases: only a walk can plan them again.
    pub(super) fn after_look(
        &mut self,
        sent: &[i32],
        version: u64,
        cluster: &Arc<Cluster>,
        walked: Option<bool>,
    ) {
        for node in sent {
            self.targets.planned(*node, version, cluster);
        }
        if let Some(complete) = walked {
            self.targets.walked_under = Some((version, cluster.clone()));
            let in_flight = &self.in_flight;
            self.targets.bases.retain(|n, _| in_flight.contains_key(n));
            let bases = &self.targets.bases;
            self.targets.complete =
                complete && self.in_flight.keys().all(|n| bases.contains_key(n));
        }
    }

    /// The name the last walk gave `topic`, so that patched entries share it.
    fn session_name(&self, topic: &str) -> Option<Arc<str>> {
        let at = self
            .session_names
            .binary_search_by(|n| (**n).cmp(topic))
            .ok()?;
        self.session_names.get(at).cloned()
    }

    /// Debug builds: a patched list is what a walk finds.
    #[cfg(debug_assertions)]
    pub(super) fn check_patched(
        &mut self,
        patched: &HashMap<i32, NodeFetch>,
        subs: &SubscriptionState,
        cluster: &Cluster,
    ) {
        type Seen = Vec<(i32, bool, Vec<(String, i32, i64, i32, bool)>)>;
        let flat = |m: &HashMap<i32, NodeFetch>| -> Seen {
            let mut v: Seen = m
                .iter()
                .map(|(n, f)| {
                    let parts = f
                        .parts
                        .iter()
                        .map(|(sp, s)| {
                            let topic = sp.topic.to_string();
                            (topic, sp.partition, s.offset, s.leader_epoch, s.at_end)
                        })
                        .collect();
                    (*n, f.caught_up, parts)
                })
                .collect();
            v.sort();
            v
        };
        let (walked, missing_leader) = self.fetch_targets(subs, cluster);
        assert!(!missing_leader, "patched while a partition has no leader");
        assert_eq!(
            flat(patched),
            flat(&walked),
            "a patched list differs from the walk"
        );
    }
}

/// `tp`'s entry in a wanted list if it is fetchable now (assigned, positioned, not paused and
/// not waiting for a lookup or validation), with its leader's epoch.
fn fetch_state(
    subs: &SubscriptionState,
    cluster: &Cluster,
    tp: &TopicPartition,
) -> Option<PartState> {
    let s = subs.assignment().get(tp)?;
    if s.paused || s.pending.is_some() || s.validating {
        return None;
    }
    let offset = s.position?;
    let p = cluster.topic(&tp.topic)?.partition(tp.partition)?;
    Some(PartState {
        offset,
        leader_epoch: p.leader_epoch,
        at_end: s.high_watermark >= 0 && offset >= s.high_watermark,
    })
}

/// The broker that leads `tp`, if the metadata knows it.
fn leader(cluster: &Cluster, tp: &TopicPartition) -> Option<i32> {
    let leader = cluster.topic(&tp.topic)?.partition(tp.partition)?.leader;
    (leader >= 0 && cluster.brokers.contains_key(&leader)).then_some(leader)
}
