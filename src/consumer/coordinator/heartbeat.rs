//! The heartbeat task: keeps the membership alive every `heartbeat.interval.ms`, learns of
//! rebalances, and leaves the group when the application stops polling for longer than
//! `max.poll.interval.ms` (its next poll rejoins).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::{
    GroupShared, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, is_coordinator_error,
};
use crate::protocol::StrBytes;
use crate::protocol::messages::{GroupId, HeartbeatRequest};

use crate::error::code::FENCED_INSTANCE_ID;

pub(crate) async fn run(shared: Arc<GroupShared>) {
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(shared.heartbeat_interval).await;
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let (stable, generation, member_id, coordinator, joining, joins) = {
            let st = shared.state();
            (
                st.stable,
                st.generation,
                st.member_id.clone(),
                st.coordinator.clone(),
                st.joining,
                st.joins,
            )
        };
        if !stable || joining {
            last_ok = Instant::now();
            continue;
        }
        let idle = shared
            .last_poll
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if idle > shared.max_poll_interval {
            tracing::warn!(group = %shared.group_id, idle_ms = idle.as_millis() as u64,
                "poll not called within max.poll.interval.ms: leaving the group");
            shared
                .leave_group("consumer poll timeout has expired")
                .await;
            shared.lost.store(true, Ordering::Release);
            shared.rejoin.store(true, Ordering::Release);
            shared.wake.notify_waiters();
            continue;
        }
        let node = match coordinator {
            Some(node) => node,
            // The coordinator moved (or its connection failed): find the new one and keep the
            // membership, as Java does; the new coordinator loaded the group with its
            // generation. Only a membership silent past the session timeout rejoins.
            None => match shared.coordinator().await {
                Ok(node) => node,
                Err(e) => {
                    tracing::debug!(group = %shared.group_id, error = %e, "coordinator lookup failed");
                    if last_ok.elapsed() > shared.session_timeout {
                        shared.rejoin.store(true, Ordering::Release);
                        shared.wake.notify_waiters();
                    }
                    continue;
                }
            },
        };
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_group_instance_id(shared.instance_id.clone().map(StrBytes::from_string));
        let result = match shared.net.coordinator_connection(&node).await {
            Ok(conn) => match conn.version_for::<HeartbeatRequest>() {
                Ok(v) => {
                    let req = if v >= 3 {
                        req
                    } else {
                        req.with_group_instance_id(None)
                    };
                    conn.send_at(req, v, None).await.map(|r| r.error_code)
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let outcome = match result {
            Ok(code) => {
                let st = shared.state();
                heartbeat_outcome(
                    code,
                    (generation, &member_id, joins),
                    (st.generation, &st.member_id, st.joins),
                )
            }
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                if last_ok.elapsed() > shared.session_timeout {
                    shared.mark_coordinator_unknown();
                }
                continue;
            }
        };
        match outcome {
            HeartbeatOutcome::Alive => last_ok = Instant::now(),
            HeartbeatOutcome::Stale => {}
            HeartbeatOutcome::Rejoin => {
                last_ok = Instant::now();
                tracing::debug!(group = %shared.group_id, "rebalance in progress");
                // Still a member of this generation until it rejoins: commits made while
                // revoking (listener, auto-commit) must carry it, as Java's do.
                shared.rejoin.store(true, Ordering::Release);
                shared.wake.notify_waiters();
            }
            HeartbeatOutcome::Lost {
                code,
                reset_member_id,
            } => {
                tracing::info!(group = %shared.group_id, code, "membership lost; rejoining");
                {
                    let mut st = shared.state();
                    // Checked again under the lock: a join may have started or finished
                    // meanwhile.
                    if st.generation != generation || st.member_id != member_id || st.joins != joins
                    {
                        continue;
                    }
                    st.stable = false;
                    st.generation = -1;
                    if reset_member_id {
                        st.member_id.clear();
                    }
                }
                shared.lost.store(true, Ordering::Release);
                shared.rejoin.store(true, Ordering::Release);
                shared.wake.notify_waiters();
            }
            HeartbeatOutcome::CoordinatorUnknown => shared.mark_coordinator_unknown(),
            HeartbeatOutcome::Other(code) => tracing::debug!(code, "heartbeat error"),
        }
    }
}

/// What a heartbeat answer means for this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeartbeatOutcome {
    Alive,
    /// The group is rebalancing: rejoin, still a member of the current generation.
    Rejoin,
    /// Fenced or forgotten: owned partitions are lost.
    Lost {
        code: i16,
        reset_member_id: bool,
    },
    CoordinatorUnknown,
    /// The answer speaks for a generation or member id this member has already left behind
    /// (a join started or completed while the heartbeat was in flight): Apache Kafka answers
    /// such a heartbeat ILLEGAL_GENERATION once the join completes, which must not undo the
    /// new membership.
    Stale,
    Other(i16),
}

/// Decides what a heartbeat error `code` means, given the (generation, member id, JoinGroup
/// requests sent) it was sent with and the member's now. Java's HeartbeatResponseHandler
/// likewise ignores errors once the generation has changed. A JoinGroup sent after the
/// heartbeat makes its answer stale even before that join's own answer is taken in: the
/// coordinator answers ILLEGAL_GENERATION to the old generation's heartbeat as soon as the
/// join completes (seen against Apache Kafka 4.4 on every cooperative follow-up rebalance).
pub(crate) fn heartbeat_outcome(
    code: i16,
    sent: (i32, &str, u64),
    now: (i32, &str, u64),
) -> HeartbeatOutcome {
    if code == 0 {
        return HeartbeatOutcome::Alive;
    }
    if sent != now {
        return HeartbeatOutcome::Stale;
    }
    match code {
        REBALANCE_IN_PROGRESS => HeartbeatOutcome::Rejoin,
        ILLEGAL_GENERATION => HeartbeatOutcome::Lost {
            code,
            reset_member_id: false,
        },
        UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID => HeartbeatOutcome::Lost {
            code,
            reset_member_id: true,
        },
        c if is_coordinator_error(c) => HeartbeatOutcome::CoordinatorUnknown,
        c => HeartbeatOutcome::Other(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_answers_by_membership() {
        let g5 = (5, "m-1", 1);
        // Generation 5, with a JoinGroup sent since (its answer not taken in yet).
        let g5_joining = (5, "m-1", 2);
        type Membership<'a> = (i32, &'a str, u64);
        let cases: [(i16, Membership, Membership, HeartbeatOutcome); 12] = [
            (0, g5, g5, HeartbeatOutcome::Alive),
            (0, g5, (6, "m-1", 2), HeartbeatOutcome::Alive),
            (REBALANCE_IN_PROGRESS, g5, g5, HeartbeatOutcome::Rejoin),
            (
                ILLEGAL_GENERATION,
                g5,
                g5,
                HeartbeatOutcome::Lost {
                    code: ILLEGAL_GENERATION,
                    reset_member_id: false,
                },
            ),
            // The race Apache Kafka shows: the heartbeat of generation 5 is answered after
            // this member already joined generation 6.
            (
                ILLEGAL_GENERATION,
                g5,
                (6, "m-1", 2),
                HeartbeatOutcome::Stale,
            ),
            // The same race, answered before this member took in its JoinGroup answer (seen
            // in tests/java_peer.rs: the member marked itself lost, and its next cooperative
            // rebalance gave up every partition it owned instead of revoking only what moved).
            (ILLEGAL_GENERATION, g5, g5_joining, HeartbeatOutcome::Stale),
            (UNKNOWN_MEMBER_ID, g5, g5_joining, HeartbeatOutcome::Stale),
            (
                REBALANCE_IN_PROGRESS,
                g5,
                g5_joining,
                HeartbeatOutcome::Stale,
            ),
            (
                REBALANCE_IN_PROGRESS,
                g5,
                (6, "m-1", 2),
                HeartbeatOutcome::Stale,
            ),
            (
                UNKNOWN_MEMBER_ID,
                g5,
                (5, "m-2", 1),
                HeartbeatOutcome::Stale,
            ),
            (
                UNKNOWN_MEMBER_ID,
                g5,
                g5,
                HeartbeatOutcome::Lost {
                    code: UNKNOWN_MEMBER_ID,
                    reset_member_id: true,
                },
            ),
            (16, g5, g5, HeartbeatOutcome::CoordinatorUnknown),
        ];
        for (code, sent, now, want) in cases {
            assert_eq!(
                heartbeat_outcome(code, sent, now),
                want,
                "code {code}, sent {sent:?}, now {now:?}"
            );
        }
    }
}
