//! Connections by broker address: lazy connect, one connect attempt at a time per broker,
//! replacement of poisoned connections, and exponential reconnect backoff with jitter
//! (`reconnect.backoff.ms` .. `reconnect.backoff.max.ms`, as Java's ClusterConnectionStates).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::connection::{Connection, ConnectionSettings};
use crate::error::Result;

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Connection>>,
    failures: u32,
    next_attempt: Option<Instant>,
    /// The last connection broke (not closed for idleness): the next connect is a recovery.
    lost: bool,
}

/// Backoff after `failures` consecutive failed connects: `base * 2^(failures-1)` capped at `max`,
/// with +/-20% jitter so many clients do not reconnect in lockstep.
pub(crate) fn backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = base.saturating_mul(1u32 << (failures - 1).min(20));
    let capped = exp.min(max.max(base));
    capped.mul_f64(0.8 + 0.4 * fastrand::f64())
}

/// The connect timeout after `failures` consecutive failed connects: Java's exponential
/// `socket.connection.setup.timeout.ms` .. `.max.ms` with +/-20% jitter.
pub(crate) fn attempt_timeout(settings: &ConnectionSettings, failures: u32) -> Duration {
    backoff(
        settings.connect_timeout,
        settings.connect_timeout_max,
        failures + 1,
    )
}

pub(crate) struct ConnectionPool {
    settings: ConnectionSettings,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl ConnectionPool {
    pub(crate) fn new(
        settings: ConnectionSettings,
        reconnect_backoff: Duration,
        reconnect_backoff_max: Duration,
    ) -> ConnectionPool {
        ConnectionPool {
            settings,
            reconnect_backoff,
            reconnect_backoff_max,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    fn slot(&self, addr: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(addr.to_string()).or_default().clone()
    }

    /// A healthy connection to `addr` if one exists now, without connecting.
    pub(crate) fn existing(&self, addr: &str) -> Option<Arc<Connection>> {
        let slot = self.slot(addr);
        let guard = slot.try_lock().ok()?;
        guard.conn.clone().filter(|c| !c.is_poisoned())
    }

    /// Returns the connection to `addr`, connecting (after any backoff) if there is none or the
    /// last one was poisoned. Concurrent callers for one address share one connect attempt.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped call leaves the slot as it was or with the finished connection.
    pub(crate) async fn get(&self, addr: &str, node_id: i32) -> Result<Arc<Connection>> {
        self.get_keyed(addr, addr, node_id).await
    }

    /// As [`get`](Self::get), in a slot of its own named `key` (a second connection to the same
    /// broker, e.g. the group coordinator's, so heartbeats never queue behind long-poll fetches).
    pub(crate) async fn get_keyed(
        &self,
        key: &str,
        addr: &str,
        node_id: i32,
    ) -> Result<Arc<Connection>> {
        let slot = self.slot(key);
        let mut s = slot.lock().await;
        if let Some(c) = &s.conn {
            let idle_too_long = c.idle_for().is_some_and(|d| d >= self.settings.max_idle);
            if !c.is_poisoned() && !idle_too_long {
                return Ok(c.clone());
            }
            if idle_too_long {
                tracing::debug!(%addr, "closing a connection idle past connections.max.idle.ms");
            }
            s.lost = !idle_too_long;
            // Dropping the last handle closes the socket.
            s.conn = None;
        }
        if let Some(at) = s.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        // Each consecutive failure lengthens the next attempt's connect timeout, from
        // socket.connection.setup.timeout.ms up to .max.ms, with jitter (as Java's client).
        let mut settings = self.settings.clone();
        settings.connect_timeout = attempt_timeout(&self.settings, s.failures);
        match Connection::connect(addr, node_id, settings).await {
            Ok(c) => {
                if s.lost || s.failures > 0 {
                    tracing::info!(%addr, node_id, failed_attempts = s.failures,
                        "connection to broker recovered");
                }
                s.lost = false;
                let c = Arc::new(c);
                s.conn = Some(c.clone());
                s.failures = 0;
                s.next_attempt = None;
                Ok(c)
            }
            Err(e) => {
                s.failures += 1;
                let wait = backoff(
                    self.reconnect_backoff,
                    self.reconnect_backoff_max,
                    s.failures,
                );
                s.next_attempt = Some(Instant::now() + wait);
                tracing::debug!(%addr, error = %e, backoff_ms = wait.as_millis() as u64, "connect failed");
                Err(e)
            }
        }
    }

    /// Drops every connection (their waiters fail with a "closed" error).
    pub(crate) fn close_all(&self) {
        let slots: Vec<_> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.drain().map(|(_, s)| s).collect()
        };
        for s in slots {
            if let Ok(mut g) = s.try_lock() {
                g.conn = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_grows_with_failures_up_to_the_max() {
        let mut settings =
            ConnectionSettings::for_tests("t", Duration::from_secs(30), Duration::from_secs(10));
        settings.connect_timeout_max = Duration::from_secs(30);
        for _ in 0..100 {
            let first = attempt_timeout(&settings, 0);
            assert!(first >= Duration::from_secs(8) && first <= Duration::from_secs(12));
            let second = attempt_timeout(&settings, 1);
            assert!(second >= Duration::from_secs(16) && second <= Duration::from_secs(24));
            let late = attempt_timeout(&settings, 9);
            assert!(late >= Duration::from_secs(24) && late <= Duration::from_secs(36));
        }
    }

    #[tokio::test]
    async fn socket_buffers_follow_the_settings() {
        use super::super::connection::configure_socket;
        let default_snd = tokio::net::TcpSocket::new_v4()
            .and_then(|s| s.send_buffer_size())
            .expect("socket");
        let mut settings =
            ConnectionSettings::for_tests("t", Duration::from_secs(1), Duration::from_secs(1));
        settings.send_buffer_bytes = 300_000;
        settings.receive_buffer_bytes = 200_000;
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        configure_socket(&s, &settings).expect("configure");
        // Linux doubles the value asked for (bookkeeping overhead); other systems keep it.
        assert!(s.send_buffer_size().expect("get") >= 300_000);
        let rcv = s.recv_buffer_size().expect("get");
        assert!((200_000..=400_000).contains(&rcv), "{rcv}");
        settings.send_buffer_bytes = -1;
        settings.receive_buffer_bytes = -1;
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        configure_socket(&s, &settings).expect("configure");
        assert_eq!(
            s.send_buffer_size().expect("get"),
            default_snd,
            "-1 keeps the OS default"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        let base = Duration::from_millis(50);
        let max = Duration::from_millis(1000);
        assert_eq!(backoff(base, max, 0), Duration::ZERO);
        for _ in 0..100 {
            let b1 = backoff(base, max, 1);
            assert!(b1 >= Duration::from_millis(40) && b1 <= Duration::from_millis(60));
            let b3 = backoff(base, max, 3);
            assert!(b3 >= Duration::from_millis(160) && b3 <= Duration::from_millis(240));
            let b10 = backoff(base, max, 10);
            assert!(b10 >= Duration::from_millis(800) && b10 <= Duration::from_millis(1200));
            let huge = backoff(base, max, 60);
            assert!(huge <= Duration::from_millis(1200));
        }
    }
}
