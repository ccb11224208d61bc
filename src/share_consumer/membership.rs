//! Share group membership: a task that sends ShareGroupHeartbeat to the group coordinator and
//! keeps the member's assignment (KIP-932; the coordinator assigns, the member only reports its
//! subscription).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::protocol::{Heartbeat, Tip, heartbeat_request, heartbeat_response};
use crate::error::{Error, Result};
use crate::network::NetworkClient;
use crate::network::coordinator::CoordinatorType;
use crate::types::{Node, TopicId};

/// The epoch that tells the coordinator the member leaves.
const LEAVE_EPOCH: i32 = -1;

#[derive(Debug, Default)]
pub(crate) struct State {
    pub member_id: String,
    pub epoch: i32,
    pub assignment: BTreeSet<Tip>,
    pub subscription: BTreeSet<String>,
    /// The coordinator has not heard of the current subscription yet.
    pub subscription_unsent: bool,
    /// A fatal group error, reported by the next `poll`.
    pub fatal: Option<Error>,
    /// Bumped whenever the assignment changes, so the fetcher can tell.
    pub assignment_version: u64,
}

pub(crate) struct Membership {
    pub state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    task: Option<JoinHandle<()>>,
    network: Arc<NetworkClient>,
    group_id: String,
    rack: String,
}

impl Membership {
    pub(crate) fn new(network: Arc<NetworkClient>, group_id: String, rack: String) -> Membership {
        let member_id = TopicId(fastrand::u128(..).to_be_bytes()).to_string();
        Membership {
            state: Arc::new(Mutex::new(State {
                member_id,
                ..State::default()
            })),
            wake: Arc::new(Notify::new()),
            task: None,
            network,
            group_id,
            rack,
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the topics to subscribe to and starts heartbeating if it has not started yet.
    pub(crate) fn subscribe(&mut self, topics: BTreeSet<String>) {
        {
            let mut s = self.lock();
            s.subscription = topics;
            s.subscription_unsent = true;
        }
        if self.task.is_none() {
            let state = Arc::clone(&self.state);
            let wake = Arc::clone(&self.wake);
            let network = Arc::clone(&self.network);
            let group = self.group_id.clone();
            let rack = self.rack.clone();
            self.task = Some(tokio::spawn(heartbeat_loop(
                network, group, rack, state, wake,
            )));
        }
        self.wake.notify_one();
    }

    /// Stops heartbeating and tells the coordinator the member leaves (its acquired records
    /// are released by the brokers when its share sessions close). Errors: the coordinator's.
    pub(crate) async fn leave(&mut self) -> Result<()> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        task.abort();
        let member_id = self.lock().member_id.clone();
        let coordinator = self
            .network
            .find_coordinator(CoordinatorType::Group, &self.group_id)
            .await?;
        let conn = self.network.coordinator_connection(&coordinator).await?;
        let resp = conn
            .send(heartbeat_request(
                &self.group_id,
                &member_id,
                LEAVE_EPOCH,
                &self.rack,
                None,
            ))
            .await?;
        match resp.error_code {
            0 | super::protocol::FENCED_MEMBER_EPOCH | crate::error::code::UNKNOWN_MEMBER_ID => {
                Ok(())
            }
            c => Err(Error::broker(c, "ShareGroupHeartbeat (leave)")),
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn heartbeat_loop(
    network: Arc<NetworkClient>,
    group: String,
    rack: String,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
) {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let mut coordinator: Option<Node> = None;
    let mut failures = 0u32;
    loop {
        let wait = match beat(&network, &group, &rack, &state, &mut coordinator).await {
            Ok(interval) => {
                failures = 0;
                interval
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(group = %group, error = %e, "share group heartbeat failed");
                coordinator = None;
                if !e.is_retriable() && !matches!(e, Error::Broker { .. }) {
                    lock().fatal = Some(e);
                }
                network.retry_backoff(failures)
            }
        };
        if lock().fatal.is_some() {
            return;
        }
        let _ = tokio::time::timeout(wait, wake.notified()).await;
    }
}

/// One heartbeat; returns when the next is due.
async fn beat(
    network: &NetworkClient,
    group: &str,
    rack: &str,
    state: &Mutex<State>,
    coordinator: &mut Option<Node>,
) -> Result<Duration> {
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let node = match coordinator {
        Some(n) => n.clone(),
        None => {
            let n = network
                .find_coordinator(CoordinatorType::Group, group)
                .await?;
            *coordinator = Some(n.clone());
            n
        }
    };
    let req = {
        let mut s = lock();
        // The full subscription goes with a join and after a change; otherwise null (unchanged).
        let send_topics = s.epoch == 0 || s.subscription_unsent;
        s.subscription_unsent = false;
        let topics = send_topics.then(|| s.subscription.clone());
        heartbeat_request(group, &s.member_id, s.epoch, rack, topics.as_ref())
    };
    let conn = network.coordinator_connection(&node).await?;
    let resp = match conn.send(req).await {
        Ok(r) => r,
        Err(e) => {
            lock().subscription_unsent = true;
            return Err(e);
        }
    };
    match heartbeat_response(&resp) {
        Heartbeat::Member {
            epoch,
            interval_ms,
            assignment,
        } => {
            let mut s = lock();
            s.epoch = epoch;
            if let Some(a) = assignment
                && a != s.assignment
            {
                s.assignment = a;
                s.assignment_version += 1;
            }
            Ok(Duration::from_millis(interval_ms.max(100) as u64))
        }
        Heartbeat::Rejoin(code) => {
            let mut s = lock();
            tracing::info!(group, %code, "share group member fenced: joining again");
            s.epoch = 0;
            s.assignment.clear();
            s.assignment_version += 1;
            Ok(Duration::ZERO)
        }
        Heartbeat::FindCoordinator(code) => {
            lock().subscription_unsent = true;
            Err(Error::Broker {
                code,
                context: format!("ShareGroupHeartbeat {group}"),
            })
        }
        Heartbeat::Fatal(code, message) => {
            let e = Error::Broker {
                code,
                context: format!("ShareGroupHeartbeat {group}: {message}"),
            };
            lock().fatal = Some(Error::Broker {
                code,
                context: format!("ShareGroupHeartbeat {group}: {message}"),
            });
            Err(e)
        }
    }
}
