//! MockCluster: an in-process, wire-level Kafka cluster for tests that need faults a real
//! broker cannot produce on demand (behind the `mock` cargo feature).
//!
//! Every broker listens on a real 127.0.0.1 port, so any Kafka client can connect. Faults
//! (error codes, delays, dropped connections, cut responses) fire from a seeded random
//! generator: the same seed and workload replay the same run.
//!
//! Served: ApiVersions, Metadata, CreateTopics, DeleteTopics, Produce (idempotent sequence
//! checks as a broker does them), Fetch, ListOffsets, InitProducerId, FindCoordinator,
//! OffsetCommit, OffsetFetch, and a group coordinator: JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups, ListGroups (member ids, generations, session expiry,
//! rebalance timeouts, generation checks on commits), and a transaction coordinator
//! (transactions version 1): InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn, markers, last stable offsets, aborted-transaction
//! lists for read_committed fetches, transaction timeouts.

#[cfg(test)]
mod api_versions_tests;
mod chaos;
mod consumer_group;
mod epochs;
mod faults;
mod fetch;
mod group;
mod group_api;
mod handlers;
mod server;
mod state;
mod txn;
mod txn_api;
mod txn_inspect;
mod txn_log;
#[cfg(test)]
mod txn_read_tests;
#[cfg(test)]
mod txn_v2_tests;
#[cfg(test)]
mod txn_wire_tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

pub use chaos::{ChaosEvent, ChaosSchedule};
pub use faults::{Fault, FaultAction};
pub use txn::{MockTxnState, TxnState};
pub use txn_inspect::MockBatch;

use crate::error::{Error, Result};
use crate::record::Header;
use faults::FaultPlan;
use state::ClusterData;

struct BrokerSlot {
    port: u16,
    up: bool,
    /// Reads requests and never answers them ([`Unreachable::Silent`]).
    silent: bool,
    tasks: Vec<tokio::task::AbortHandle>,
    /// A listener with a full accept queue and the connections filling it
    /// ([`Unreachable::DropSyns`]); dropped when the broker starts again.
    blackhole: Option<server::Blackhole>,
}

/// How [`MockCluster::make_unreachable`] takes a broker away, as the network does to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Connections are accepted and requests read, but nothing is ever answered: a broker
    /// process that hangs, or a proxy in front of a dead one.
    Silent,
    /// Connection attempts get no answer at all (the listen queue is full, so the kernel drops
    /// SYNs): a paused machine, or a firewall that drops packets.
    DropSyns,
}

pub(crate) struct Shared {
    data: Mutex<ClusterData>,
    faults: Mutex<FaultPlan>,
    rng: Mutex<fastrand::Rng>,
    brokers: Mutex<BTreeMap<i32, BrokerSlot>>,
    discard: AtomicBool,
    /// Bytes per second each connection reads; 0: reads paused; `u64::MAX`: unthrottled.
    read_rate: AtomicU64,
    auto_create: bool,
    default_partitions: i32,
    /// 1 or 2 ([`MockClusterBuilder::transaction_version`]).
    transaction_version: i16,
    coordinator: AtomicI32,
    /// The transaction coordinator; -1: the group coordinator's broker.
    txn_coordinator: AtomicI32,
    /// Woken on every append, for long-polling fetches.
    appended: Notify,
    groups: Mutex<group::Groups>,
    /// KIP-848 groups (ConsumerGroupHeartbeat).
    consumer_groups: Mutex<consumer_group::ConsumerGroups>,
    fetch_sessions: Mutex<fetch::FetchSessions>,
    /// Woken on every group change, for parked joins and syncs.
    group_changed: Notify,
    seed: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Handlers never leave the data half-updated across a panic point.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn fetch_sessions(&self) -> MutexGuard<'_, fetch::FetchSessions> {
        lock(&self.fetch_sessions)
    }

    pub(crate) fn data(&self) -> MutexGuard<'_, ClusterData> {
        lock(&self.data)
    }

    pub(crate) fn up_brokers(&self) -> Vec<(i32, u16)> {
        lock(&self.brokers)
            .iter()
            .filter(|(_, b)| b.up)
            .map(|(id, b)| (*id, b.port))
            .collect()
    }

    pub(crate) fn all_broker_ids(&self) -> Vec<i32> {
        lock(&self.brokers).keys().copied().collect()
    }

    pub(crate) fn take_fault(&self, api_key: i16, broker: i32) -> Option<FaultAction> {
        let mut rng = lock(&self.rng);
        lock(&self.faults).take(api_key, broker, &mut rng)
    }
}

/// Builds a [`MockCluster`].
#[derive(Debug, Clone)]
pub struct MockClusterBuilder {
    brokers: usize,
    seed: u64,
    auto_create: bool,
    default_partitions: i32,
    transaction_version: i16,
}

impl MockClusterBuilder {
    /// The transactions version the coordinator runs (the `transaction.version` feature):
    /// 1 (default) as Apache Kafka 3.x, every partition and group added explicitly; 2 as
    /// Kafka 4.x (KIP-890), partitions added by Produce v12+, groups by TxnOffsetCommit v5+,
    /// the epoch bumped by every EndTxn v5+. Values are clamped to 1..=2.
    pub fn transaction_version(mut self, version: i16) -> Self {
        self.transaction_version = version.clamp(1, 2);
        self
    }

    /// Number of brokers (ids 1..=n). Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n.max(1);
        self
    }

    /// Seed of the fault generator. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Create unknown topics on Metadata when the client allows it (default false).
    pub fn auto_create_topics(mut self, on: bool, partitions: i32) -> Self {
        self.auto_create = on;
        self.default_partitions = partitions.max(1);
        self
    }

    /// Starts the brokers.
    ///
    /// Errors: [`Error::Connect`] when a listener cannot bind.
    pub async fn build(self) -> Result<MockCluster> {
        let shared = Arc::new(Shared {
            data: Mutex::new(ClusterData::default()),
            faults: Mutex::new(FaultPlan::default()),
            rng: Mutex::new(fastrand::Rng::with_seed(self.seed)),
            brokers: Mutex::new(BTreeMap::new()),
            discard: AtomicBool::new(false),
            read_rate: AtomicU64::new(u64::MAX),
            auto_create: self.auto_create,
            default_partitions: self.default_partitions,
            transaction_version: self.transaction_version,
            coordinator: AtomicI32::new(1),
            txn_coordinator: AtomicI32::new(-1),
            appended: Notify::new(),
            groups: Mutex::new(group::Groups::default()),
            consumer_groups: Mutex::new(consumer_group::ConsumerGroups::default()),
            fetch_sessions: Mutex::default(),
            group_changed: Notify::new(),
            seed: self.seed,
        });
        for id in 1..=self.brokers as i32 {
            let port = server::start(shared.clone(), id, 0).await?;
            let _ = port;
        }
        txn_api::start_clock(&shared);
        Ok(MockCluster { shared })
    }
}

/// An offset commit the mock accepted, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockCommit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset (the next record to read).
    pub offset: i64,
    /// Member that committed (empty for a consumer without group membership).
    pub member_id: String,
    /// Generation the commit was made in (-1 without group membership).
    pub generation: i32,
}

/// A record as stored by the mock, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockRecord {
    /// Offset in the partition.
    pub offset: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Producer id of its batch (-1 without idempotence).
    pub producer_id: i64,
}

/// An in-process Kafka cluster. Dropping it stops every broker.
pub struct MockCluster {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MockCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCluster")
            .field("bootstrap", &self.bootstrap_servers())
            .field("seed", &self.shared.seed)
            .finish()
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        for (_, b) in lock(&self.shared.brokers).iter_mut() {
            for t in b.tasks.drain(..) {
                t.abort();
            }
        }
    }
}

impl MockCluster {
    /// A builder: one broker, seed 0.
    pub fn builder() -> MockClusterBuilder {
        MockClusterBuilder {
            brokers: 1,
            seed: 0,
            auto_create: false,
            default_partitions: 4,
            transaction_version: 1,
        }
    }

    /// `bootstrap.servers` for clients: every broker, comma separated.
    pub fn bootstrap_servers(&self) -> String {
        lock(&self.shared.brokers)
            .values()
            .map(|b| format!("127.0.0.1:{}", b.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The fault generator's seed.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    /// Broker ids, ascending.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.shared.all_broker_ids()
    }

    /// Creates a topic with leaders spread over the brokers. False if it exists.
    pub fn create_topic(&self, name: &str, partitions: i32) -> bool {
        let ids = self.shared.all_broker_ids();
        self.shared.data().create_topic(name, partitions, &ids)
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Discard mode for Produce: acknowledge and drop the data (sequences still checked), for
    /// benchmarks that measure the client alone.
    pub fn set_discard(&self, on: bool) {
        self.shared.discard.store(on, Ordering::Release);
    }

    /// Throttles how fast every broker reads requests, to play a slow broker: after reading a
    /// request of n bytes, a connection waits n / `bytes_per_sec` seconds before handling it and
    /// reading the next, so each connection takes in at most `bytes_per_sec` bytes of requests
    /// per second. `Some(0)` stops brokers: a request read from now on waits unanswered (in the
    /// kernel's socket buffers, then the client's writes block) until the rate is raised. `None`
    /// (the default) reads as fast as requests come.
    pub fn set_read_rate(&self, bytes_per_sec: Option<u64>) {
        self.shared
            .read_rate
            .store(bytes_per_sec.unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Moves a partition's leadership to `broker`, bumping its leader epoch.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition or broker.
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<()> {
        if !self.shared.all_broker_ids().contains(&broker) {
            return Err(Error::Unknown(format!("broker {broker}")));
        }
        let mut data = self.shared.data();
        let p = data
            .partition_mut(topic, partition)
            .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
        p.leader = broker;
        p.leader_epoch += 1;
        Ok(())
    }

    /// A leader change that loses records (KIP-320's unclean case): the records from `offset`
    /// on are dropped (`offset` must be a batch's first offset, or the log end) and leadership
    /// moves to `broker` with a new leader epoch. Records appended later are of that epoch.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition or broker.
    pub fn truncate_and_move_leader(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        broker: i32,
    ) -> Result<()> {
        self.move_leader(topic, partition, broker)?;
        let mut data = self.shared.data();
        let p = data
            .partition_mut(topic, partition)
            .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
        epochs::truncate(p, offset);
        Ok(())
    }

    /// Makes the leader of a partition send consumers to follower `broker` (KIP-392's
    /// preferred read replica, Fetch v11+) while that broker is up, and that broker serve
    /// them; `None`: the leader serves every fetch.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition or broker.
    pub fn set_preferred_read_replica(
        &self,
        topic: &str,
        partition: i32,
        broker: Option<i32>,
    ) -> Result<()> {
        if broker.is_some_and(|b| !self.shared.all_broker_ids().contains(&b)) {
            return Err(Error::Unknown(format!("broker {broker:?}")));
        }
        let mut data = self.shared.data();
        let p = data
            .partition_mut(topic, partition)
            .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
        p.read_replica = broker;
        Ok(())
    }

    /// The current leader of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.shared
            .data()
            .partition(topic, partition)
            .map(|p| p.leader)
    }

    /// Every offset commit accepted for `group`, in the order the mock applied them.
    pub fn commit_log(&self, group: &str) -> Vec<MockCommit> {
        self.shared
            .data()
            .commit_log
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// The group's state as DescribeGroups names it ("Stable", "PreparingRebalance", ...), its
    /// generation and member count; `None` for a group the mock has not seen.
    pub fn group_state(&self, group: &str) -> Option<(String, i32, usize)> {
        let groups = lock(&self.shared.groups);
        let g = groups.describe(group)?;
        Some((g.state.as_str().to_string(), g.generation, g.members.len()))
    }

    /// Moves the group coordinator to `broker`.
    pub fn move_coordinator(&self, broker: i32) {
        self.shared.coordinator.store(broker, Ordering::Release);
    }

    /// Takes a broker down: its listener and every connection close.
    pub fn stop_broker(&self, id: i32) {
        let mut brokers = lock(&self.shared.brokers);
        if let Some(b) = brokers.get_mut(&id) {
            b.up = false;
            for t in b.tasks.drain(..) {
                t.abort();
            }
        }
    }

    /// Makes broker `id` unreachable in the way `how` says, until
    /// [`start_broker`](Self::start_broker) brings it back. It stays in the metadata and keeps its partitions.
    ///
    /// Errors: [`Error::Connect`] when the port cannot be taken over.
    pub async fn make_unreachable(&self, id: i32, how: Unreachable) -> Result<()> {
        match how {
            Unreachable::Silent => {
                if let Some(b) = lock(&self.shared.brokers).get_mut(&id) {
                    b.silent = true;
                }
                Ok(())
            }
            Unreachable::DropSyns => {
                self.stop_broker(id);
                let port = lock(&self.shared.brokers).get(&id).map(|b| b.port);
                let Some(port) = port else {
                    return Ok(());
                };
                let hole = server::Blackhole::new(port).await?;
                if let Some(b) = lock(&self.shared.brokers).get_mut(&id) {
                    b.blackhole = Some(hole);
                }
                Ok(())
            }
        }
    }

    /// Brings a stopped or unreachable broker back on its old port.
    ///
    /// Errors: [`Error::Connect`] when the port cannot be bound again.
    pub async fn start_broker(&self, id: i32) -> Result<()> {
        let port = {
            let mut brokers = lock(&self.shared.brokers);
            let slot = brokers.get_mut(&id);
            slot.and_then(|b| {
                b.silent = false;
                b.blackhole = None;
                (!b.up).then_some(b.port)
            })
        };
        match port {
            Some(port) => server::start(self.shared.clone(), id, port)
                .await
                .map(|_| ()),
            None => Ok(()),
        }
    }

    /// Every data record of a partition, in offset order, aborted and open transactions
    /// included, transaction markers not (empty in discard mode).
    pub fn records(&self, topic: &str, partition: i32) -> Result<Vec<MockRecord>> {
        let blob = {
            let data = self.shared.data();
            let p = data
                .partition(topic, partition)
                .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
            p.read(0, usize::MAX)
        };
        let mut out = Vec::new();
        for b in crate::protocol::record_batch::decode_batches(blob, true)? {
            if b.is_control {
                // Transaction markers are not records ([`Self::batches`] shows them).
                continue;
            }
            for r in b.records {
                out.push(MockRecord {
                    offset: r.offset,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    producer_id: b.producer_id,
                });
            }
        }
        Ok(out)
    }

    /// Appends `batch`, one encoded record batch (magic 2), to a partition's log as a Produce
    /// request holding it would (same checks; base offset and leader epoch rewritten), for
    /// tests that need batches no producer writes: hand-made, corrupt, decompression bombs.
    /// Returns the batch's base offset.
    ///
    /// Errors: [`Error::Unknown`] for an unknown partition, [`Error::Broker`] with the code a
    /// broker would answer (e.g. CORRUPT_MESSAGE for a batch that does not parse).
    pub fn append_batch(&self, topic: &str, partition: i32, batch: Bytes) -> Result<i64> {
        let base = {
            let mut data = self.shared.data();
            let epochs = data.producer_epochs.clone();
            let log = data
                .partition_mut(topic, partition)
                .ok_or_else(|| Error::Unknown(format!("{topic}-{partition}")))?;
            log.append(batch, &epochs, false)
                .map_err(|code| Error::broker(code, format!("append to {topic}-{partition}")))?
        };
        self.shared.appended.notify_waiters();
        Ok(base)
    }

    /// The next offset of a partition (its high watermark).
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared
            .data()
            .partition(topic, partition)
            .map(|p| p.next_offset)
    }
}
