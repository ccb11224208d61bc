//! The mock's group coordinator state machine (classic protocol): members, generations,
//! join rounds, assignments, session expiry. Plain data under one lock; the handlers in
//! `group_api.rs` wait on it. States and error codes follow the Java broker's
//! GroupCoordinator (Empty -> PreparingRebalance -> CompletingRebalance -> Stable).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::state::NONE;

pub(crate) use crate::error::code::GROUP_ID_NOT_FOUND;
pub(crate) use crate::error::code::ILLEGAL_GENERATION;
pub(crate) use crate::error::code::INCONSISTENT_GROUP_PROTOCOL;
pub(crate) use crate::error::code::INVALID_SESSION_TIMEOUT;
pub(crate) use crate::error::code::MEMBER_ID_REQUIRED;
pub(crate) use crate::error::code::REBALANCE_IN_PROGRESS;
pub(crate) use crate::error::code::UNKNOWN_MEMBER_ID;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a member's JoinGroup is answered with once its round completes.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub error: i16,
    pub generation: i32,
    pub member_id: String,
    pub leader: String,
    pub protocol: Option<String>,
    /// (member id, group instance id, metadata for the chosen protocol): leader only.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    fn error(error: i16, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error,
            generation: -1,
            member_id: member_id.to_string(),
            leader: String::new(),
            protocol: None,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub last_seen: Instant,
    /// Joined the round in progress.
    pub joined: bool,
    /// Set when the round completes; taken by the waiting JoinGroup.
    pub join_response: Option<JoinOutcome>,
    pub assignment: Bytes,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: String,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// BTreeMap: the same joins give the same leader and member order every run.
    pub members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined (KIP-394).
    pending: BTreeSet<String>,
    rebalance_deadline: Option<Instant>,
}

impl Group {
    fn new(protocol_type: &str) -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: protocol_type.to_string(),
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeSet::new(),
            rebalance_deadline: None,
        }
    }

    fn begin_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        self.state = GroupState::PreparingRebalance;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
        for m in self.members.values_mut() {
            m.joined = false;
            m.join_response = None;
        }
    }

    /// Completes the join round when every member has rejoined or the rebalance timeout
    /// passed (members that did not rejoin are removed). True if the state changed.
    fn try_complete_join(&mut self, now: Instant) -> bool {
        if self.state != GroupState::PreparingRebalance {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.joined);
        let expired = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !all_joined && !expired {
            return false;
        }
        self.members.retain(|_, m| m.joined);
        self.generation += 1;
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return true;
        }
        self.protocol = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol.clone();
        let listing: Vec<(String, Option<String>, Bytes)> = self
            .members
            .values()
            .map(|m| {
                let meta = m
                    .protocols
                    .iter()
                    .find(|(n, _)| Some(n) == protocol.as_ref())
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default();
                (m.id.clone(), m.instance_id.clone(), meta)
            })
            .collect();
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
            m.join_response = Some(JoinOutcome {
                error: NONE,
                generation: self.generation,
                member_id: m.id.clone(),
                leader: leader.clone(),
                protocol: protocol.clone(),
                members: if m.id == leader {
                    listing.clone()
                } else {
                    Vec::new()
                },
            });
        }
        self.state = GroupState::CompletingRebalance;
        true
    }

    /// The leader's most preferred protocol that every member supports.
    fn select_protocol(&self) -> Option<String> {
        let leader = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())?;
        leader
            .protocols
            .iter()
            .map(|(n, _)| n)
            .find(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .cloned()
    }

    fn remove_member(&mut self, id: &str, now: Instant) {
        if self.members.remove(id).is_none() {
            return;
        }
        if self.members.is_empty() && self.state != GroupState::PreparingRebalance {
            self.state = GroupState::Empty;
            self.generation += 1;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.begin_rebalance(now);
        self.try_complete_join(now);
    }
}

/// A JoinGroup request, as the state machine needs it.
pub(crate) struct JoinRequest {
    pub group: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// KIP-394: from v4 a new member is first handed an id and asked to rejoin with it.
    pub require_known_member_id: bool,
}

pub(crate) enum Step<T> {
    Reply(T),
    /// Wait for the group to change, then ask again (`sync` again).
    Wait,
}

pub(crate) enum JoinStep {
    Reply(JoinOutcome),
    /// Parked until the round completes: ask `poll_join` for this member.
    Wait {
        member_id: String,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Groups {
    pub groups: BTreeMap<String, Group>,
    next_member: u64,
}

impl Groups {
    /// Session expiry and rebalance deadlines. True if any group changed.
    pub(crate) fn tick(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for g in self.groups.values_mut() {
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| {
                    // A member parked in JoinGroup is alive; the rebalance timeout bounds it.
                    let waiting_in_join = g.state == GroupState::PreparingRebalance && m.joined;
                    !waiting_in_join && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                tracing::debug!(member = %id, "mock: session expired");
                g.remove_member(&id, now);
                changed = true;
            }
            changed |= g.try_complete_join(now);
        }
        changed
    }

    pub(crate) fn join(&mut self, req: JoinRequest, now: Instant) -> JoinStep {
        if req.session_timeout < Duration::from_millis(1) {
            return JoinStep::Reply(JoinOutcome::error(INVALID_SESSION_TIMEOUT, &req.member_id));
        }
        let g = self
            .groups
            .entry(req.group.clone())
            .or_insert_with(|| Group::new(&req.protocol_type));
        if g.state != GroupState::Empty
            && (g.protocol_type != req.protocol_type
                || !req.protocols.iter().any(|(n, _)| {
                    g.members
                        .values()
                        .all(|m| m.protocols.iter().any(|(p, _)| p == n))
                }))
        {
            return JoinStep::Reply(JoinOutcome::error(
                INCONSISTENT_GROUP_PROTOCOL,
                &req.member_id,
            ));
        }
        if g.state == GroupState::Empty {
            g.protocol_type = req.protocol_type.clone();
        }
        let member_id = if req.member_id.is_empty() {
            self.next_member += 1;
            let id = format!("{}-mock-{}", req.client_id, self.next_member);
            // A static member replaces its previous incarnation (KIP-345).
            if let Some(instance) = &req.instance_id
                && let Some(old) = g
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance))
                    .map(|m| m.id.clone())
            {
                g.members.remove(&old);
            }
            if req.require_known_member_id && req.instance_id.is_none() {
                g.pending.insert(id.clone());
                return JoinStep::Reply(JoinOutcome::error(MEMBER_ID_REQUIRED, &id));
            }
            id
        } else {
            if !g.members.contains_key(&req.member_id) && !g.pending.contains(&req.member_id) {
                return JoinStep::Reply(JoinOutcome::error(UNKNOWN_MEMBER_ID, &req.member_id));
            }
            req.member_id.clone()
        };
        g.pending.remove(&member_id);
        let assignment = g
            .members
            .get(&member_id)
            .map(|m| m.assignment.clone())
            .unwrap_or_default();
        g.members.insert(
            member_id.clone(),
            Member {
                id: member_id.clone(),
                instance_id: req.instance_id,
                client_id: req.client_id,
                protocols: req.protocols,
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                last_seen: now,
                joined: false,
                join_response: None,
                assignment,
            },
        );
        g.begin_rebalance(now);
        if let Some(m) = g.members.get_mut(&member_id) {
            m.joined = true;
        }
        g.try_complete_join(now);
        match self.poll_join(&req.group, &member_id) {
            Some(done) => JoinStep::Reply(done),
            None => JoinStep::Wait { member_id },
        }
    }

    /// The member's JoinGroup answer once its round completed (an error if it was removed).
    pub(crate) fn poll_join(&mut self, group: &str, member_id: &str) -> Option<JoinOutcome> {
        let Some(g) = self.groups.get_mut(group) else {
            return Some(JoinOutcome::error(UNKNOWN_MEMBER_ID, member_id));
        };
        match g.members.get_mut(member_id) {
            None => Some(JoinOutcome::error(UNKNOWN_MEMBER_ID, member_id)),
            Some(m) if m.joined || m.join_response.is_some() => m.join_response.take(),
            // Not in this round any more: a later round started without it.
            Some(_) => Some(JoinOutcome::error(REBALANCE_IN_PROGRESS, member_id)),
        }
    }

    fn member_check(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> Result<&mut Group, i16> {
        let g = self.groups.get_mut(group).ok_or(UNKNOWN_MEMBER_ID)?;
        let m = g.members.get_mut(member_id).ok_or(UNKNOWN_MEMBER_ID)?;
        m.last_seen = now;
        if generation != g.generation {
            return Err(ILLEGAL_GENERATION);
        }
        Ok(g)
    }

    /// SyncGroup: the leader's call stores every assignment; others wait for it.
    pub(crate) fn sync(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        assignments: Option<Vec<(String, Bytes)>>,
        now: Instant,
    ) -> Step<(i16, Bytes)> {
        let g = match self.member_check(group, member_id, generation, now) {
            Ok(g) => g,
            Err(code) => return Step::Reply((code, Bytes::new())),
        };
        match g.state {
            GroupState::Empty => Step::Reply((UNKNOWN_MEMBER_ID, Bytes::new())),
            GroupState::PreparingRebalance => Step::Reply((REBALANCE_IN_PROGRESS, Bytes::new())),
            GroupState::Stable => Step::Reply((NONE, member_assignment(g, member_id))),
            GroupState::CompletingRebalance => {
                if g.leader.as_deref() != Some(member_id) {
                    return Step::Wait;
                }
                let mut given: BTreeMap<String, Bytes> =
                    assignments.unwrap_or_default().into_iter().collect();
                for m in g.members.values_mut() {
                    m.assignment = given.remove(&m.id).unwrap_or_default();
                }
                g.state = GroupState::Stable;
                Step::Reply((NONE, member_assignment(g, member_id)))
            }
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> i16 {
        match self.member_check(group, member_id, generation, now) {
            Err(code) => code,
            Ok(g) if g.state == GroupState::PreparingRebalance => REBALANCE_IN_PROGRESS,
            Ok(_) => NONE,
        }
    }

    /// LeaveGroup for one member (by id, or by group instance id when the id is empty).
    pub(crate) fn leave(
        &mut self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> i16 {
        let Some(g) = self.groups.get_mut(group) else {
            return UNKNOWN_MEMBER_ID;
        };
        let id = if member_id.is_empty() {
            instance_id.and_then(|i| {
                g.members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(i))
                    .map(|m| m.id.clone())
            })
        } else {
            Some(member_id.to_string())
        };
        match id {
            Some(id) if g.members.contains_key(&id) => {
                g.remove_member(&id, now);
                NONE
            }
            _ => UNKNOWN_MEMBER_ID,
        }
    }

    /// OffsetCommit's group checks: a commit with a member id must come from a current member
    /// of the current generation (a fenced zombie cannot move offsets).
    pub(crate) fn check_commit(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> i16 {
        if member_id.is_empty() && generation < 0 {
            // Simple (manually assigned) consumers.
            return match self.groups.get(group) {
                Some(g) if g.state != GroupState::Empty => ILLEGAL_GENERATION,
                _ => NONE,
            };
        }
        match self.member_check(group, member_id, generation, now) {
            Err(code) => code,
            Ok(g) if g.state == GroupState::CompletingRebalance => REBALANCE_IN_PROGRESS,
            Ok(_) => NONE,
        }
    }

    /// (state, protocol type, protocol, members) for DescribeGroups; `None` if unknown.
    pub(crate) fn describe(&self, group: &str) -> Option<&Group> {
        self.groups.get(group)
    }

    /// Every group with its state, for ListGroups.
    pub(crate) fn list(&self) -> Vec<(String, String, GroupState)> {
        self.groups
            .iter()
            .map(|(id, g)| (id.clone(), g.protocol_type.clone(), g.state))
            .collect()
    }
}

fn member_assignment(g: &Group, member_id: &str) -> Bytes {
    g.members
        .get(member_id)
        .map(|m| m.assignment.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(member: &str, client: &str) -> JoinRequest {
        JoinRequest {
            group: "g".into(),
            member_id: member.into(),
            instance_id: None,
            client_id: client.into(),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            session_timeout: Duration::from_millis(1000),
            rebalance_timeout: Duration::from_millis(2000),
            require_known_member_id: true,
        }
    }

    fn joined(g: &mut Groups, client: &str, now: Instant) -> String {
        let JoinStep::Reply(first) = g.join(req("", client), now) else {
            panic!("member id required expected");
        };
        assert_eq!(first.error, MEMBER_ID_REQUIRED);
        first.member_id
    }

    #[test]
    fn two_members_one_generation_and_sync() {
        let now = Instant::now();
        let mut g = Groups::default();
        let a = joined(&mut g, "a", now);
        // Alone in the group: the round completes at once.
        let JoinStep::Reply(ja) = g.join(req(&a, "a"), now) else {
            panic!()
        };
        assert_eq!(
            (ja.error, ja.generation, ja.leader.as_str()),
            (0, 1, a.as_str())
        );
        let Step::Reply((0, _)) = g.sync("g", &a, 1, Some(vec![(a.clone(), "A".into())]), now)
        else {
            panic!()
        };
        // b joins: a must rejoin; heartbeats tell it so.
        let b = joined(&mut g, "b", now);
        assert!(matches!(g.join(req(&b, "b"), now), JoinStep::Wait { .. }));
        assert_eq!(g.heartbeat("g", &a, 1, now), REBALANCE_IN_PROGRESS);
        let JoinStep::Reply(ja) = g.join(req(&a, "a"), now) else {
            panic!()
        };
        assert_eq!(ja.generation, 2);
        assert_eq!(ja.members.len(), 2, "leader gets the member list");
        let jb = g.poll_join("g", &b).expect("b's round completed");
        assert_eq!((jb.generation, jb.members.len()), (2, 0));
        // Follower waits for the leader's assignment.
        assert!(matches!(g.sync("g", &b, 2, None, now), Step::Wait));
        let plan = vec![(a.clone(), "A".into()), (b.clone(), "B".into())];
        let Step::Reply((0, got)) = g.sync("g", &a, 2, Some(plan), now) else {
            panic!()
        };
        assert_eq!(&got[..], b"A");
        let Step::Reply((0, got)) = g.sync("g", &b, 2, None, now) else {
            panic!()
        };
        assert_eq!(&got[..], b"B");
        assert_eq!(g.heartbeat("g", &b, 1, now), ILLEGAL_GENERATION);
        assert_eq!(g.check_commit("g", &b, 1, now), ILLEGAL_GENERATION);
        assert_eq!(g.check_commit("g", &b, 2, now), NONE);
    }

    #[test]
    fn silent_member_expires_and_group_rebalances() {
        let t0 = Instant::now();
        let mut g = Groups::default();
        let a = joined(&mut g, "a", t0);
        let _ = g.join(req(&a, "a"), t0);
        let b = joined(&mut g, "b", t0);
        assert!(matches!(g.join(req(&b, "b"), t0), JoinStep::Wait { .. }));
        let _ = g.join(req(&a, "a"), t0);
        let _ = g.poll_join("g", &b);
        let _ = g.sync("g", &a, 2, Some(vec![]), t0);
        // b heartbeats, a goes silent past its session timeout.
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(g.heartbeat("g", &b, 2, t1), NONE);
        assert!(g.tick(t1));
        assert!(!g.groups["g"].members.contains_key(&a));
        assert_eq!(g.heartbeat("g", &b, 2, t1), REBALANCE_IN_PROGRESS);
        let JoinStep::Reply(jb) = g.join(req(&b, "b"), t1) else {
            panic!()
        };
        assert_eq!((jb.generation, jb.leader.as_str()), (3, b.as_str()));
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let t0 = Instant::now();
        let mut g = Groups::default();
        let a = joined(&mut g, "a", t0);
        let _ = g.join(req(&a, "a"), t0);
        let _ = g.sync("g", &a, 1, Some(vec![]), t0);
        let b = joined(&mut g, "b", t0);
        assert!(matches!(g.join(req(&b, "b"), t0), JoinStep::Wait { .. }));
        // a keeps heartbeating but never rejoins.
        let t1 = t0 + Duration::from_millis(900);
        assert_eq!(g.heartbeat("g", &a, 1, t1), REBALANCE_IN_PROGRESS);
        assert!(g.poll_join("g", &b).is_none());
        let t2 = t0 + Duration::from_millis(2001);
        assert!(g.tick(t2));
        let jb = g
            .poll_join("g", &b)
            .expect("round completed at the deadline");
        assert_eq!((jb.generation, jb.members.len()), (2, 1));
        assert_eq!(g.heartbeat("g", &a, 1, t2), UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn leave_and_unknown_members() {
        let now = Instant::now();
        let mut g = Groups::default();
        let JoinStep::Reply(r) = g.join(req("bogus", "x"), now) else {
            panic!()
        };
        assert_eq!(r.error, UNKNOWN_MEMBER_ID);
        let a = joined(&mut g, "a", now);
        let _ = g.join(req(&a, "a"), now);
        assert_eq!(g.leave("g", &a, None, now), NONE);
        assert_eq!(g.groups["g"].state, GroupState::Empty);
        assert_eq!(g.leave("g", &a, None, now), UNKNOWN_MEMBER_ID);
    }
}
