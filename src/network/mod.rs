//! Connections, cluster metadata and request routing, shared by producer, consumer and admin.
//!
//! [`NetworkClient::send`] is the one entry point for every API: pick the broker, pick the
//! version, send, decode.

pub(crate) mod connection;
pub(crate) mod coordinator;
mod frame_buffers;
pub(crate) mod metadata;
pub(crate) mod pool;
pub(crate) mod security;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use crate::protocol::{Request, StrBytes};

use crate::config::CommonConfig;
use crate::error::{Error, Result};
use connection::{Connection, ConnectionSettings};
use metadata::Cluster;
use pool::ConnectionPool;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A specific broker by id.
    Node(i32),
    /// The cluster's controller (for admin requests); any broker if none is known.
    Controller,
    /// Any reachable broker (metadata, cluster-wide reads).
    Any,
}

pub(crate) struct NetworkClient {
    pool: ConnectionPool,
    bootstrap: Vec<String>,
    metadata_max_age: Duration,
    pub(crate) retry_backoff: Duration,
    pub(crate) retry_backoff_max: Duration,
    cluster: RwLock<Arc<Cluster>>,
    /// Topics that metadata refreshes ask about (the producer's and consumer's topics).
    interest: Mutex<BTreeSet<String>>,
    /// Refreshes ask about every topic (a consumer's pattern subscription).
    all_topics: AtomicBool,
    refresh_lock: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    needs_update: AtomicBool,
    /// Ask brokers to create unknown topics on Metadata (the producer's default, as Java's).
    allow_auto_topic_creation: AtomicBool,
    /// Set while a refresh started by [`metadata_detached`](Self::metadata_detached) or
    /// [`metadata_nowait`](Self::metadata_nowait) runs.
    detached_refresh: AtomicBool,
}

impl std::fmt::Debug for NetworkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkClient")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

/// Marks a detached refresh as running; clears the mark however its task ends (even aborted).
struct DetachedRefresh(Arc<NetworkClient>);

impl Drop for DetachedRefresh {
    fn drop(&mut self) {
        self.0.detached_refresh.store(false, Ordering::Release);
    }
}

impl NetworkClient {
    #[cfg(test)]
    pub(crate) fn new(config: &CommonConfig) -> NetworkClient {
        NetworkClient::with_kind("client", config)
    }

    /// A client whose metrics name their node group `<kind>-node-metrics` (`producer`,
    /// `consumer`, `admin-client`).
    pub(crate) fn with_kind(kind: &'static str, config: &CommonConfig) -> NetworkClient {
        let client_id = if config.client_id.is_empty() {
            format!("ferrokafka-{}", std::process::id())
        } else {
            config.client_id.clone()
        };
        let metrics = Arc::new(crate::metrics::Metrics::new(
            kind,
            client_id.clone(),
            config.metrics_recording_level,
            crate::metrics::SampleConfig {
                samples: config.metrics_num_samples,
                window_ms: config.metrics_sample_window.as_millis() as u64,
            },
        ));
        let settings = ConnectionSettings {
            metrics,
            client_id: StrBytes::from_string(client_id),
            request_timeout: config.request_timeout,
            connect_timeout: config.socket_connection_setup_timeout,
            connect_timeout_max: config.socket_connection_setup_timeout_max,
            send_buffer_bytes: config.send_buffer_bytes,
            receive_buffer_bytes: config.receive_buffer_bytes,
            max_idle: config.connections_max_idle,
            version_caps: config.api_versions_max.clone(),
            security: Arc::new(security::Security::new(
                config.security_protocol,
                &config.security,
            )),
        };
        NetworkClient {
            pool: ConnectionPool::new(
                settings,
                config.reconnect_backoff,
                config.reconnect_backoff_max,
            ),
            bootstrap: config.bootstrap_servers.clone(),
            metadata_max_age: config.metadata_max_age,
            retry_backoff: config.retry_backoff,
            retry_backoff_max: config.retry_backoff_max,
            cluster: RwLock::new(Arc::new(Cluster::default())),
            interest: Mutex::new(BTreeSet::new()),
            all_topics: AtomicBool::new(false),
            refresh_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            needs_update: AtomicBool::new(true),
            allow_auto_topic_creation: AtomicBool::new(false),
            detached_refresh: AtomicBool::new(false),
        }
    }

    /// Whether Metadata requests let the broker auto-create topics (`auto.create.topics.enable`).
    pub(crate) fn set_allow_auto_topic_creation(&self, allow: bool) {
        self.allow_auto_topic_creation
            .store(allow, Ordering::Relaxed);
    }

    /// The client's metrics.
    pub(crate) fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.pool.settings().metrics
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        self.pool.settings().request_timeout
    }

    /// The current snapshot, without refreshing.
    pub(crate) fn cluster(&self) -> Arc<Cluster> {
        self.cluster
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Marks metadata stale (after NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, ...): the
    /// next [`metadata`](Self::metadata) call refreshes.
    pub(crate) fn request_update(&self) {
        self.needs_update.store(true, Ordering::Release);
    }

    /// Makes refreshes cover every topic (`true`) or only the topics of interest.
    pub(crate) fn set_all_topics(&self, all: bool) {
        if self.all_topics.swap(all, Ordering::AcqRel) != all {
            self.request_update();
        }
    }

    /// Adds topics that refreshes should cover.
    pub(crate) fn add_topics<S: AsRef<str>>(&self, topics: &[S]) {
        let mut set = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let before = set.len();
        set.extend(topics.iter().map(|t| t.as_ref().to_string()));
        if set.len() != before {
            self.request_update();
        }
    }

    /// The snapshot, refreshed first if it is older than `metadata.max.age.ms` or was marked
    /// stale.
    pub(crate) async fn metadata(&self) -> Result<Arc<Cluster>> {
        if self.refresh_due() {
            return self.refresh().await;
        }
        Ok(self.cluster())
    }

    /// Whether the snapshot is older than `metadata.max.age.ms` or was marked stale.
    fn refresh_due(&self) -> bool {
        let stale = self
            .cluster()
            .fetched_at
            .is_none_or(|t| t.elapsed() >= self.metadata_max_age);
        stale || self.needs_update.load(Ordering::Acquire)
    }

    /// As [`metadata`](Self::metadata), but the refresh runs on a task of its own, so a caller
    /// that stops waiting (a `poll` whose timeout ran out) does not abandon it halfway: a
    /// refresh can take longer than a short poll (it may first wait out the reconnect backoff
    /// of a dead broker), and one restarted by every poll would never finish. While such a
    /// refresh runs, callers get the current snapshot.
    ///
    /// # Cancel safety
    /// Cancel safe: the refresh goes on without the caller.
    pub(crate) async fn metadata_detached(self: &Arc<Self>) -> Result<Arc<Cluster>> {
        if !self.refresh_due() || self.detached_refresh.swap(true, Ordering::AcqRel) {
            return Ok(self.cluster());
        }
        let running = DetachedRefresh(Arc::clone(self));
        tokio::spawn(async move { running.0.metadata().await })
            .await
            .unwrap_or_else(|e| Err(Error::Protocol(format!("metadata refresh task: {e}"))))
    }

    /// The current snapshot, at once. When a refresh is due and none started here is running,
    /// one starts on a task of its own and `done` runs when it ends (whatever its outcome): for
    /// loops that must never wait on a broker, like the producer's sender, which would
    /// otherwise stall every partition behind one broker that does not answer.
    pub(crate) fn metadata_nowait(
        self: &Arc<Self>,
        done: impl FnOnce() + Send + 'static,
    ) -> Arc<Cluster> {
        if self.refresh_due() && !self.detached_refresh.swap(true, Ordering::AcqRel) {
            let running = DetachedRefresh(Arc::clone(self));
            tokio::spawn(async move {
                if let Err(e) = running.0.metadata().await {
                    tracing::debug!(error = %e, "metadata refresh failed");
                }
                drop(running);
                done();
            });
        }
        self.cluster()
    }

    /// Fetches metadata for the topics of interest now. Concurrent callers share one request:
    /// whoever waits while another refresh completes takes that result.
    ///
    /// # Cancel safety
    /// Cancel safe; a dropped refresh leaves the previous snapshot in place.
    pub(crate) async fn refresh(&self) -> Result<Arc<Cluster>> {
        let seen = self.generation.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return Ok(self.cluster());
        }
        let topics: Vec<String> = {
            let set = self.interest.lock().unwrap_or_else(|p| p.into_inner());
            set.iter().cloned().collect()
        };
        self.needs_update.store(false, Ordering::Release);
        let all = self.all_topics.load(Ordering::Acquire);
        let resp = match self.fetch_metadata((!all).then_some(&topics[..])).await {
            Ok(r) => r,
            Err(e) => {
                self.needs_update.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let next = Arc::new(self.cluster().merged(Cluster::from_response(&resp), false));
        *self.cluster.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(next)
    }

    /// One Metadata request for `topics` (`None`: every topic), to any reachable broker. The
    /// broker list in the answer updates the snapshot's brokers.
    pub(crate) async fn fetch_metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse> {
        let req = MetadataRequest::default()
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(
                topics.is_some() && self.allow_auto_topic_creation.load(Ordering::Relaxed),
            );
        // Straight to any broker: routing by node id itself may need this metadata.
        let resp = self.any_connection().await?.send(req).await?;
        if resp.error_code != 0 {
            return Err(Error::broker(resp.error_code, "Metadata"));
        }
        Ok(resp)
    }

    /// A connection to `target`, connecting if needed.
    pub(crate) async fn connection(&self, target: Target) -> Result<Arc<Connection>> {
        match target {
            Target::Node(id) => self.node_connection(id).await,
            Target::Controller => {
                let id = self.cluster().controller_id;
                if id >= 0 && self.cluster().brokers.contains_key(&id) {
                    self.node_connection(id).await
                } else {
                    self.any_connection().await
                }
            }
            Target::Any => self.any_connection().await,
        }
    }

    async fn node_connection(&self, id: i32) -> Result<Arc<Connection>> {
        let mut cluster = self.cluster();
        if !cluster.brokers.contains_key(&id) {
            cluster = self.refresh().await?;
        }
        let node = cluster
            .brokers
            .get(&id)
            // Retriable: a restarting broker leaves the metadata for a while and comes back.
            .ok_or_else(|| Error::Connect {
                addr: format!("broker {id}"),
                reason: "not in the cluster metadata".into(),
            })?;
        self.pool.get(&node.addr(), id).await
    }

    /// A live connection to any broker: an existing one if there is one, else the known brokers
    /// and then each of `bootstrap.servers` in turn.
    async fn any_connection(&self) -> Result<Arc<Connection>> {
        let cluster = self.cluster();
        let known: Vec<(String, i32)> =
            cluster.brokers.values().map(|n| (n.addr(), n.id)).collect();
        for (addr, _) in &known {
            if let Some(c) = self.pool.existing(addr) {
                return Ok(c);
            }
        }
        for addr in &self.bootstrap {
            if let Some(c) = self.pool.existing(addr) {
                return Ok(c);
            }
        }
        let mut candidates = known;
        for (i, addr) in self.bootstrap.iter().enumerate() {
            if !candidates.iter().any(|(a, _)| a == addr) {
                candidates.push((addr.clone(), -(i as i32) - 1));
            }
        }
        let mut last = None;
        for (addr, id) in &candidates {
            match self.pool.get(addr, *id).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        let tried = candidates
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::NoBrokerReachable {
            tried,
            last: Box::new(
                last.unwrap_or(Error::InvalidArgument("bootstrap.servers is empty".into())),
            ),
        })
    }

    /// The dedicated connection to a group coordinator (as Java's NetworkClient keeps one apart
    /// from data traffic to the same broker).
    pub(crate) async fn coordinator_connection(
        &self,
        node: &metadata::Node,
    ) -> Result<Arc<Connection>> {
        let addr = node.addr();
        self.pool
            .get_keyed(&format!("coordinator@{addr}"), &addr, node.id)
            .await
    }

    /// Sends `req` to `target` at the negotiated version and returns the decoded response.
    ///
    /// # Cancel safety
    /// Cancel safe: see [`Connection::send`].
    pub(crate) async fn send<R: Request>(&self, target: Target, req: R) -> Result<R::Response> {
        let conn = self.connection(target).await?;
        conn.send(req).await
    }

    /// As [`send`](Self::send), building the request once the version is known (fields differ
    /// between versions).
    pub(crate) async fn send_fn<R: Request>(
        &self,
        target: Target,
        build: impl FnOnce(i16) -> R,
    ) -> Result<R::Response> {
        let conn = self.connection(target).await?;
        let version = conn.version_for::<R>()?;
        conn.send_at(build(version), version, None).await
    }

    /// Backoff before retry number `attempt` (1-based): `retry.backoff.ms * 2^(attempt-1)`
    /// up to `retry.backoff.max.ms`, with jitter (KIP-580).
    pub(crate) fn retry_backoff(&self, attempt: u32) -> Duration {
        pool::backoff(self.retry_backoff, self.retry_backoff_max, attempt)
    }

    /// Closes every connection.
    pub(crate) fn close(&self) {
        self.pool.close_all();
    }
}

#[cfg(all(test, feature = "mock"))]
mod mock_tests;
#[cfg(test)]
mod tests;
