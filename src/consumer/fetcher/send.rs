//! Building fetches: which partitions to fetch from which broker, and when a walk over the
//! assignment to find out can be skipped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::session::{FetchPlan, PartState, SessionPartition};
use super::{Event, Fetcher, request};
use crate::consumer::subscription::SubscriptionState;
use crate::network::metadata::{Cluster, TopicMeta};
use crate::record::TopicPartition;

/// What a walk over the assignment in [`Fetcher::send_fetches`] saw when it sent nothing.
/// While none of it moves, the walk would send nothing again: per poll at 1,000 partitions,
/// repeating it was half of the consumer's CPU. What the fetcher itself changes clears it
/// (a fetch answered, data dropped); partitions whose data was taken to the end are checked
/// one by one instead (see [`Fetcher::still_idle`]).
pub(super) struct IdleWalk {
    /// [`SubscriptionState::version`] then: seeks, pauses, position lookups, validations and
    /// assignment changes move it.
    version: u64,
    /// The metadata then (held, so that a new snapshot cannot reuse its address).
    cluster: Arc<Cluster>,
}

/// What [`Fetcher::fetch_targets`] found to fetch from one broker.
pub(super) struct NodeFetch {
    /// Sorted, as the assignment is.
    pub parts: Vec<(SessionPartition, PartState)>,
    /// Every one of them is at its high watermark: the fetch would wait at the broker.
    pub caught_up: bool,
}

impl Fetcher {
    /// Forgets the last idle walk: the next `send_fetches` walks the assignment.
    pub(super) fn forget_idle(&mut self) {
        self.idle = None;
        self.left_buffer.clear();
    }

    /// Notes that `tp`'s buffered data is gone (taken to its end, or dropped on an error), so
    /// it is a partition to fetch again.
    pub(super) fn left_buffer(&mut self, tp: &TopicPartition) {
        if self.idle.is_some() {
            self.left_buffer.push(tp.clone());
        }
    }

    /// Whether the last walk's "nothing to send" still holds: nothing it depended on moved,
    /// and each partition whose data was taken since is caught up with its leader, which still
    /// has records buffered for the application (so the walk would hold it back as well).
    fn still_idle(&mut self, subs: &SubscriptionState, cluster: &Arc<Cluster>) -> bool {
        let Some(idle) = &self.idle else {
            return false;
        };
        if idle.version != subs.version() || !Arc::ptr_eq(&idle.cluster, cluster) {
            return false;
        }
        let left = std::mem::take(&mut self.left_buffer);
        let holds = left.iter().all(|tp| {
            let Some(s) = subs.assignment().get(tp) else {
                return true;
            };
            let Some(position) = s.position else {
                return true;
            };
            if s.paused || s.pending.is_some() || s.validating {
                return true;
            }
            let Some(node) = leader_of(cluster, tp) else {
                return false;
            };
            let caught_up = s.high_watermark >= 0 && position >= s.high_watermark;
            self.in_flight.contains_key(&node) || (caught_up && self.node_busy(subs, cluster, node))
        });
        if !holds {
            self.left_buffer = left;
        }
        holds
    }

    /// Whether `node` leads a partition with records buffered for the application.
    fn node_busy(&self, subs: &SubscriptionState, cluster: &Cluster, node: i32) -> bool {
        let all_active = self.all_active(subs);
        self.buffered.iter().any(|f| {
            f.has_records()
                && (all_active || subs.assignment().get(&f.tp).is_some_and(|s| !s.paused))
                && leader_of(cluster, &f.tp) == Some(node)
        })
    }

    /// What to fetch from each leader with no fetch in flight: the fetchable partitions with
    /// nothing buffered, at their positions, with the leader epoch the metadata gives (KIP-320:
    /// a leader that has moved on answers FENCED_LEADER_EPOCH instead of serving a stale
    /// read). Also says whether a partition had no known leader.
    pub(super) fn fetch_targets(
        &mut self,
        subs: &SubscriptionState,
        cluster: &Cluster,
    ) -> (HashMap<i32, NodeFetch>, bool) {
        let mut per_node: HashMap<i32, NodeFetch> = HashMap::new();
        let mut missing_leader = false;
        if self.buffered.len() >= subs.assignment().len() && self.buffered_cover(subs) {
            // Every partition has data buffered: nothing to fetch, and no walk that hashes
            // each one (per poll, that was most of the CPU at 1,000 partitions).
            return (per_node, missing_leader);
        }
        let buffered: HashSet<&TopicPartition, foldhash::fast::RandomState> =
            self.buffered.iter().map(|f| &f.tp).collect();
        let now = std::time::Instant::now();
        // The assignment is sorted by topic: one metadata lookup and one shared name per topic,
        // not per partition. Names come from the last walk's where they can (both sorted).
        let mut topic: Option<(&str, Option<&TopicMeta>, Arc<str>)> = None;
        let last_names = std::mem::take(&mut self.session_names);
        let mut last_names = last_names.into_iter().peekable();
        for (tp, s, offset) in subs.fetchable() {
            if buffered.contains(tp) {
                continue;
            }
            let (meta, name) = match &topic {
                Some((name, meta, shared)) if *name == tp.topic => (*meta, shared.clone()),
                _ => {
                    let meta = cluster.topic(&tp.topic);
                    while last_names.next_if(|n| **n < *tp.topic).is_some() {}
                    let shared = last_names
                        .next_if(|n| **n == *tp.topic)
                        .unwrap_or_else(|| Arc::from(tp.topic.as_str()));
                    self.session_names.push(shared.clone());
                    topic = Some((&tp.topic, meta, shared.clone()));
                    (meta, shared)
                }
            };
            let replica = if self.read_replicas.is_empty() {
                None
            } else {
                self.read_replicas
                    .get(tp)
                    .filter(|(node, until)| *until > now && cluster.brokers.contains_key(node))
                    .map(|(node, _)| *node)
            };
            let leader = meta
                .and_then(|t| t.partition(tp.partition))
                // The follower gets the leader's epoch too: it refuses reads past its own.
                .map(|p| (replica.unwrap_or(p.leader), p.leader_epoch))
                .filter(|(l, _)| *l >= 0 && cluster.brokers.contains_key(l));
            match leader {
                Some((l, leader_epoch)) if !self.in_flight.contains_key(&l) => {
                    let state = PartState {
                        offset,
                        leader_epoch,
                        at_end: s.high_watermark >= 0 && offset >= s.high_watermark,
                    };
                    let node = per_node.entry(l).or_insert_with(|| NodeFetch {
                        parts: Vec::new(),
                        caught_up: true,
                    });
                    node.caught_up &= state.at_end;
                    let sp = SessionPartition {
                        topic: name,
                        partition: tp.partition,
                    };
                    node.parts.push((sp, state))
                }
                Some(_) => {}
                None => missing_leader = true,
            }
        }
        (per_node, missing_leader)
    }

    /// Whether every assigned partition has an entry in `buffered` (entries of partitions no
    /// longer assigned may be there too, so counting alone does not tell). Sorted walks of
    /// both, without hashing: only called when the counts allow it.
    fn buffered_cover(&self, subs: &SubscriptionState) -> bool {
        let mut held: Vec<&TopicPartition> = self.buffered.iter().map(|f| &f.tp).collect();
        held.sort_unstable();
        let mut held = held.into_iter().peekable();
        subs.assignment().keys().all(|tp| {
            while held.next_if(|h| *h < tp).is_some() {}
            held.next_if(|h| *h == tp).is_some()
        })
    }

    /// Sends a Fetch to every leader that has fetchable partitions, nothing buffered for them,
    /// and no fetch in flight, while `fetch.buffer.memory` has room for its answer.
    /// Never awaits (`poll` calls it after taking records): a leader missing from `cluster`
    /// flags a metadata refresh for the next poll.
    pub(crate) fn send_fetches(&mut self, subs: &SubscriptionState, cluster: &Arc<Cluster>) {
        if !self.in_flight.is_empty()
            && cluster
                .brokers
                .keys()
                .all(|n| self.in_flight.contains_key(n))
        {
            // Every broker has a fetch out: no partition can be fetched, so do not walk them.
            return;
        }
        if self.still_idle(subs, cluster) {
            return;
        }
        self.forget_idle();
        if self.fetch_room(subs).is_none() {
            // The budget has no room for an answer: the walk could send nothing.
            return;
        }
        let version = subs.version();
        let patched = if self.route_moved(cluster) {
            self.patched_targets(subs, cluster)
        } else {
            None
        };
        let walked = patched.is_none();
        let (per_node, missing_leader) = match patched {
            Some(per_node) => {
                #[cfg(debug_assertions)]
                self.check_patched(&per_node, subs, cluster);
                (per_node, false)
            }
            None => self.fetch_targets(subs, cluster),
        };
        let mut sent_to = Vec::new();
        let mut skipped = false;
        let mut sent = false;
        let mut budget_cut = false;
        let idle = |fetcher: &mut Fetcher, sent: bool, budget_cut: bool| {
            // Whether the walk's "nothing to send" can be reused: not when it depended on
            // the budget, a missing leader or a follower lease (which runs out by itself).
            if !sent && !budget_cut && !missing_leader && fetcher.read_replicas.is_empty() {
                fetcher.idle = Some(IdleWalk {
                    version: subs.version(),
                    cluster: cluster.clone(),
                });
            }
        };
        if missing_leader {
            self.net.add_topics(
                &subs
                    .assignment()
                    .keys()
                    .map(|tp| tp.topic.clone())
                    .collect::<Vec<_>>(),
            );
            self.net.request_update();
        }
        if per_node.is_empty() {
            let complete = !missing_leader && self.read_replicas.is_empty();
            self.after_look(&[], version, cluster, walked.then_some(complete));
            idle(self, sent, budget_cut);
            return;
        }
        // Nodes that still have records buffered for the application.
        let busy: HashSet<i32> = self
            .buffered
            .iter()
            // Paused partitions keep their records until resumed: they must not hold others back.
            .filter(|f| f.has_records() && subs.assignment().get(&f.tp).is_some_and(|s| !s.paused))
            .filter_map(|f| {
                let t = cluster.topic(&f.tp.topic)?;
                t.partition(f.tp.partition).map(|p| p.leader)
            })
            .collect();
        for (node, NodeFetch { parts, caught_up }) in per_node {
            // A fetch for caught-up partitions only would sit at the broker for
            // fetch.max.wait.ms and hold back the next fetch of partitions that do have data:
            // wait until this node's buffered records are taken, then fetch them all together.
            if caught_up && busy.contains(&node) {
                skipped = true;
                continue;
            }
            let Some(max_bytes) = self.fetch_room(subs) else {
                budget_cut = true;
                break;
            };
            sent = true;
            sent_to.push(node);
            let wanted = parts;
            let plan = if self.cfg.sessions {
                self.sessions.entry(node).or_default().plan(wanted)
            } else {
                FetchPlan::sessionless(wanted)
            };
            self.in_flight.insert(node, max_bytes);
            let net = self.net.clone();
            let mut cfg = self.cfg.clone();
            // Only the request's bound shrinks: a session keeps each partition's bound, and a
            // changed one would be sent again in every incremental request.
            cfg.max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
            cfg.min_bytes = cfg.min_bytes.min(cfg.max_bytes);
            let counters = self.counters.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let fetched = request::fetch(&net, &cfg, &counters, node, plan).await;
                let _ = tx.send(Event::Fetched { node, fetched });
            });
        }
        let complete = !missing_leader && !skipped && !budget_cut && self.read_replicas.is_empty();
        self.after_look(&sent_to, version, cluster, walked.then_some(complete));
        idle(self, sent, budget_cut);
    }
}

/// The broker that leads `tp`, if the metadata knows it.
fn leader_of(cluster: &Cluster, tp: &TopicPartition) -> Option<i32> {
    let leader = cluster.topic(&tp.topic)?.partition(tp.partition)?.leader;
    (leader >= 0 && cluster.brokers.contains_key(&leader)).then_some(leader)
}
