//! Incremental fetch sessions (KIP-227), one per broker: after a full fetch creates the
//! session, a request names only the partitions whose fetch state changed and the ones to
//! forget; the broker remembers the rest. With a thousand partitions mostly idle this keeps
//! each request (and the broker's work on it) small.
//!
//! Building the next request and applying its answer are pure functions of the session state,
//! so they are tested without a broker.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// The broker's "no session" id.
const NO_SESSION: i32 = 0;
/// Epoch of a full request that (re)creates a session.
const INITIAL_EPOCH: i32 = 0;
/// Epoch of a full request without a session (sessions off, or a broker before Fetch v7).
pub(super) const SESSIONLESS_EPOCH: i32 = -1;

/// A partition as a fetch session names it. The topic's name is shared: a walk over the
/// assignment names every wanted partition per fetch, and a `TopicPartition` each was an
/// allocation (and a free) per partition per fetch at 10,000 partitions. Ordered as
/// `TopicPartition` is: by topic, then partition.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct SessionPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl Ord for SessionPartition {
    fn cmp(&self, other: &Self) -> Ordering {
        // Names of one walk, and of the walk before, are one `Arc` per topic
        // (`Fetcher::fetch_targets`): the address settles most comparisons.
        let topic = if Arc::ptr_eq(&self.topic, &other.topic) {
            Ordering::Equal
        } else {
            self.topic.cmp(&other.topic)
        };
        topic.then(self.partition.cmp(&other.partition))
    }
}

impl PartialOrd for SessionPartition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for SessionPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// What one partition's entry in a Fetch request says (a change of `offset` or `leader_epoch`
/// is sent again), and whether the partition was caught up when the entry was made.
#[derive(Debug, Clone, Copy)]
pub(super) struct PartState {
    pub offset: i64,
    /// -1: unknown.
    pub leader_epoch: i32,
    /// The position was at the partition's known high watermark when this entry was made: the
    /// consumer's own note, never sent and not part of equality. A list patched from the
    /// session (`Fetcher::patched_targets`) reads it to tell whether a fetch would only wait at
    /// the broker, without a lookup per partition.
    pub at_end: bool,
}

impl PartialEq for PartState {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset && self.leader_epoch == other.leader_epoch
    }
}

impl Eq for PartState {}

/// One Fetch request's session part, and what the session becomes if the broker accepts it.
#[derive(Debug, Clone)]
pub(super) struct FetchPlan {
    pub session_id: i32,
    pub epoch: i32,
    /// Partitions written into the request.
    pub send: Vec<(SessionPartition, PartState)>,
    /// Partitions the broker drops from the session (forgotten topics data).
    pub forget: Vec<SessionPartition>,
    /// Every partition this fetch is for: the ones sent and the ones the broker remembers.
    /// Sorted, each once (they come from the assignment's sorted map): the answer's partitions
    /// are looked up here by position.
    pub wanted: Vec<(SessionPartition, PartState)>,
}

impl FetchPlan {
    /// A full fetch of `wanted` outside any session.
    pub(super) fn sessionless(wanted: Vec<(SessionPartition, PartState)>) -> FetchPlan {
        FetchPlan {
            session_id: NO_SESSION,
            epoch: SESSIONLESS_EPOCH,
            send: wanted.clone(),
            forget: Vec::new(),
            wanted,
        }
    }

    /// Whether the request names every wanted partition.
    pub(super) fn is_full(&self) -> bool {
        self.epoch <= INITIAL_EPOCH
    }
}

/// How the broker answered a planned fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Answered, with this session id (0: the broker keeps no session for us).
    Accepted { session_id: i32 },
    /// FETCH_SESSION_ID_NOT_FOUND: the broker evicted the session (or restarted).
    SessionNotFound,
    /// INVALID_FETCH_SESSION_EPOCH, another top-level error, or no answer: whether the broker
    /// applied the request is unknown, so the session is closed and created again.
    Failed,
}

/// The client side of one broker's fetch session.
#[derive(Debug, Clone, Default)]
pub(super) struct FetchSession {
    id: i32,
    /// The epoch of the next request; 0 until the broker creates a session.
    epoch: i32,
    /// What the broker holds for each partition in the session, sorted as `wanted` is.
    ///
    /// A sorted list, not a map: a plan walks it beside the sorted `wanted` in one pass, where
    /// a map cost a cache miss per wanted partition per fetch (most of a fetch's cost at 10,000
    /// partitions), and an answer makes the wanted list the session's.
    parts: Vec<(SessionPartition, PartState)>,
}

impl FetchSession {
    /// Whether the broker holds a session for us that our last request's answer updated: then
    /// `parts` is what that request wanted.
    pub(super) fn is_established(&self) -> bool {
        self.id != NO_SESSION && self.epoch != INITIAL_EPOCH
    }

    /// What the broker holds for each partition in the session, sorted.
    pub(super) fn parts(&self) -> &[(SessionPartition, PartState)] {
        &self.parts
    }

    /// The next request for `wanted`: full when there is no session yet, else the partitions
    /// whose state differs from the broker's copy, and the ones no longer wanted to forget.
    pub(super) fn plan(&self, mut wanted: Vec<(SessionPartition, PartState)>) -> FetchPlan {
        // Built sorted from the assignment; if that ever changed, a merge of unsorted lists
        // would send wrong positions, so it is checked (one sequential pass) and mended.
        if !wanted.is_sorted_by(|a, b| a.0 < b.0) {
            wanted.sort_by(|a, b| a.0.cmp(&b.0));
            wanted.dedup_by(|a, b| a.0 == b.0);
        }
        if self.id == NO_SESSION || self.epoch == INITIAL_EPOCH {
            return FetchPlan {
                session_id: self.id,
                epoch: INITIAL_EPOCH,
                send: wanted.clone(),
                forget: Vec::new(),
                wanted,
            };
        }
        let mut send = Vec::new();
        let mut forget = Vec::new();
        let mut held = self.parts.iter().peekable();
        for entry in &wanted {
            while let Some((tp, _)) = held.next_if(|(tp, _)| *tp < entry.0) {
                forget.push(tp.clone());
            }
            match held.next_if(|(tp, _)| *tp == entry.0) {
                Some((_, state)) if *state == entry.1 => {}
                _ => send.push(entry.clone()),
            }
        }
        forget.extend(held.map(|(tp, _)| tp.clone()));
        FetchPlan {
            session_id: self.id,
            epoch: self.epoch,
            send,
            forget,
            wanted,
        }
    }

    /// Applies the broker's answer to `plan`.
    pub(super) fn answered(&mut self, plan: FetchPlan, answer: Answer) {
        if plan.epoch == SESSIONLESS_EPOCH {
            return;
        }
        match answer {
            Answer::Accepted { session_id } if session_id != NO_SESSION => {
                // A full request made the session what was wanted; an incremental one changed
                // the broker's copy into it.
                self.parts = plan.wanted;
                self.id = session_id;
                self.epoch = next_epoch(plan.epoch);
            }
            // The broker keeps no session (its cache is full): full fetches until it does.
            Answer::Accepted { .. } | Answer::SessionNotFound => *self = FetchSession::default(),
            Answer::Failed => {
                // A full fetch with our id and epoch 0 closes the old session on the broker
                // and opens a new one.
                self.epoch = INITIAL_EPOCH;
                self.parts.clear();
            }
        }
    }
}

/// Epochs after the first run 1..=i32::MAX and wrap to 1 (0 and -1 mean full fetches).
fn next_epoch(epoch: i32) -> i32 {
    if (0..i32::MAX).contains(&epoch) {
        epoch + 1
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> SessionPartition {
        SessionPartition {
            topic: Arc::from("t"),
            partition: p,
        }
    }

    fn at(p: i32, offset: i64) -> (SessionPartition, PartState) {
        (
            tp(p),
            PartState {
                offset,
                leader_epoch: -1,
                at_end: false,
            },
        )
    }

    fn sent(plan: &FetchPlan) -> Vec<(i32, i64)> {
        let mut v: Vec<(i32, i64)> = plan
            .send
            .iter()
            .map(|(tp, s)| (tp.partition, s.offset))
            .collect();
        v.sort();
        v
    }

    fn forgotten(plan: &FetchPlan) -> Vec<i32> {
        plan.forget.iter().map(|tp| tp.partition).collect()
    }

    /// A session the broker has accepted with id 7 for partitions 0..3 at offset 0.
    fn open() -> FetchSession {
        let mut s = FetchSession::default();
        let first = s.plan(vec![at(0, 0), at(1, 0), at(2, 0)]);
        s.answered(first, Answer::Accepted { session_id: 7 });
        s
    }

    #[test]
    fn plans_follow_the_session() {
        struct Case {
            name: &'static str,
            session: FetchSession,
            wanted: Vec<(SessionPartition, PartState)>,
            id_epoch: (i32, i32),
            sent: Vec<(i32, i64)>,
            forgotten: Vec<i32>,
        }
        let cases = [
            Case {
                name: "no session yet: full fetch that creates one",
                session: FetchSession::default(),
                wanted: vec![at(0, 0), at(1, 5)],
                id_epoch: (0, 0),
                sent: vec![(0, 0), (1, 5)],
                forgotten: vec![],
            },
            Case {
                name: "nothing changed: an empty incremental fetch",
                session: open(),
                wanted: vec![at(0, 0), at(1, 0), at(2, 0)],
                id_epoch: (7, 1),
                sent: vec![],
                forgotten: vec![],
            },
            Case {
                name: "one position moved: only that partition",
                session: open(),
                wanted: vec![at(0, 0), at(1, 42), at(2, 0)],
                id_epoch: (7, 1),
                sent: vec![(1, 42)],
                forgotten: vec![],
            },
            Case {
                name: "a partition no longer wanted is forgotten, a new one added",
                session: open(),
                wanted: vec![at(0, 0), at(2, 0), at(3, 9)],
                id_epoch: (7, 1),
                sent: vec![(3, 9)],
                forgotten: vec![1],
            },
            Case {
                name: "wanted out of order (never built so): sorted before the session walk",
                session: open(),
                wanted: vec![at(2, 0), at(3, 9), at(0, 4)],
                id_epoch: (7, 1),
                sent: vec![(0, 4), (3, 9)],
                forgotten: vec![1],
            },
            Case {
                name: "every partition forgotten, from either end",
                session: open(),
                wanted: vec![],
                id_epoch: (7, 1),
                sent: vec![],
                forgotten: vec![0, 1, 2],
            },
            Case {
                name: "a leader epoch change is sent too",
                session: open(),
                wanted: vec![
                    at(0, 0),
                    at(1, 0),
                    (
                        tp(2),
                        PartState {
                            offset: 0,
                            leader_epoch: 3,
                            at_end: false,
                        },
                    ),
                ],
                id_epoch: (7, 1),
                sent: vec![(2, 0)],
                forgotten: vec![],
            },
        ];
        for c in cases {
            let plan = c.session.plan(c.wanted);
            assert_eq!((plan.session_id, plan.epoch), c.id_epoch, "{}", c.name);
            assert_eq!(sent(&plan), c.sent, "{}", c.name);
            assert_eq!(forgotten(&plan), c.forgotten, "{}", c.name);
        }
    }

    #[test]
    fn epochs_advance_and_errors_fall_back_to_a_full_fetch() {
        let mut s = open();
        let p = s.plan(vec![at(0, 1), at(1, 0), at(2, 0)]);
        assert_eq!((p.session_id, p.epoch), (7, 1));
        s.answered(p, Answer::Accepted { session_id: 7 });
        let p = s.plan(vec![at(0, 1), at(1, 0), at(2, 0)]);
        assert_eq!((p.epoch, sent(&p)), (2, vec![]));

        // The broker lost the session: a full fetch with no id.
        s.answered(p, Answer::SessionNotFound);
        let p = s.plan(vec![at(0, 1), at(1, 0)]);
        assert_eq!((p.session_id, p.epoch), (0, 0));
        assert_eq!(sent(&p), vec![(0, 1), (1, 0)]);
        s.answered(p, Answer::Accepted { session_id: 9 });

        // An epoch error (or a lost answer): close and recreate the same session.
        let p = s.plan(vec![at(0, 2), at(1, 0)]);
        assert_eq!((p.session_id, p.epoch, sent(&p)), (9, 1, vec![(0, 2)]));
        s.answered(p, Answer::Failed);
        let p = s.plan(vec![at(0, 2), at(1, 0)]);
        assert_eq!((p.session_id, p.epoch), (9, 0));
        assert_eq!(sent(&p), vec![(0, 2), (1, 0)]);

        // No session granted: full fetches go on.
        s.answered(p, Answer::Accepted { session_id: 0 });
        let p = s.plan(vec![at(0, 2)]);
        assert_eq!((p.session_id, p.epoch, sent(&p)), (0, 0, vec![(0, 2)]));
    }

    /// After each accepted answer the session holds exactly what the request wanted, whether
    /// the answer was to a full request or an incremental one.
    #[test]
    fn an_accepted_answer_leaves_the_session_holding_what_was_wanted() {
        let held = |s: &FetchSession| {
            let mut v: Vec<(i32, i64)> = s
                .parts
                .iter()
                .map(|(tp, st)| (tp.partition, st.offset))
                .collect();
            v.sort();
            v
        };
        let steps = [
            (
                "full request creates the session",
                vec![at(0, 0), at(1, 0), at(2, 0)],
                7,
            ),
            ("positions move", vec![at(0, 5), at(1, 0), at(2, 9)], 7),
            (
                "one buffered, so left out: forgotten",
                vec![at(0, 5), at(2, 9)],
                7,
            ),
            (
                "it comes back, another added",
                vec![at(0, 5), at(1, 3), at(2, 9), at(4, 1)],
                7,
            ),
            (
                "nothing changed",
                vec![at(0, 5), at(1, 3), at(2, 9), at(4, 1)],
                7,
            ),
            (
                "the broker starts a new session",
                vec![at(1, 3), at(4, 2)],
                8,
            ),
        ];
        let mut s = FetchSession::default();
        for (name, wanted, id) in steps {
            let expect: Vec<(i32, i64)> = wanted
                .iter()
                .map(|(tp, st)| (tp.partition, st.offset))
                .collect();
            let plan = s.plan(wanted);
            s.answered(plan, Answer::Accepted { session_id: id });
            assert_eq!(held(&s), expect, "{name}");
            assert_eq!(s.id, id, "{name}");
        }
        let again = s.plan(vec![at(1, 3), at(4, 2)]);
        assert!(again.send.is_empty() && again.forget.is_empty());
    }

    #[test]
    fn epoch_wraps_to_one() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(41), 42);
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    #[test]
    fn sessionless_plans_leave_the_session_alone() {
        let mut s = open();
        let p = FetchPlan::sessionless(vec![at(0, 3)]);
        assert_eq!((p.session_id, p.epoch, sent(&p)), (0, -1, vec![(0, 3)]));
        s.answered(p, Answer::Accepted { session_id: 0 });
        assert_eq!(s.plan(vec![at(0, 0), at(1, 0), at(2, 0)]).epoch, 1);
    }
}
