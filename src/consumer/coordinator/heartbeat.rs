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

/// FENCED_INSTANCE_ID: another member took this static member's `group.instance.id`.
const FENCED_INSTANCE_ID: i16 = 82;

pub(crate) async fn run(shared: Arc<GroupShared>) {
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(shared.heartbeat_interval).await;
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let (stable, generation, member_id, coordinator) = {
            let st = shared.state();
            (
                st.stable,
                st.generation,
                st.member_id.clone(),
                st.coordinator.clone(),
            )
        };
        if !stable {
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
        let Some(node) = coordinator else {
            // The poll side rediscovers the coordinator when it rejoins.
            shared.rejoin.store(true, Ordering::Release);
            shared.wake.notify_waiters();
            continue;
        };
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(shared.group_id.clone())))
            .with_generation_id(generation)
            .with_member_id(StrBytes::from_string(member_id))
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
        match result {
            Ok(0) => last_ok = Instant::now(),
            Ok(REBALANCE_IN_PROGRESS) => {
                last_ok = Instant::now();
                tracing::debug!(group = %shared.group_id, "rebalance in progress");
                // Still a member of this generation until it rejoins: commits made while
                // revoking (listener, auto-commit) must carry it, as Java's do.
                shared.rejoin.store(true, Ordering::Release);
                shared.wake.notify_waiters();
            }
            Ok(code @ (ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID)) => {
                tracing::info!(group = %shared.group_id, code, "membership lost; rejoining");
                {
                    let mut st = shared.state();
                    st.stable = false;
                    st.generation = -1;
                    if code != ILLEGAL_GENERATION {
                        st.member_id.clear();
                    }
                }
                shared.lost.store(true, Ordering::Release);
                shared.rejoin.store(true, Ordering::Release);
                shared.wake.notify_waiters();
            }
            Ok(code) if is_coordinator_error(code) => shared.mark_coordinator_unknown(),
            Ok(code) => tracing::debug!(code, "heartbeat error"),
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat failed");
                if last_ok.elapsed() > shared.session_timeout {
                    shared.mark_coordinator_unknown();
                }
            }
        }
    }
}
