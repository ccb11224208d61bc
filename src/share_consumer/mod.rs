//! [`KafkaShareConsumer`]: a member of a share group (KIP-932, "queues for Kafka").
//!
//! Members of a share group read the same partitions together; the brokers hand each record to
//! one member at a time under an acquisition lock (the group's `share.record.lock.duration.ms`)
//! and count its deliveries. A record is acknowledged as accepted, released (delivered again)
//! or rejected (archived); one whose lock expires is delivered again, and one delivered
//! `share.delivery.count.limit` times is archived.
//!
//! Tested against Apache Kafka only (`tests/share_consumer.rs`, with Java's
//! KafkaShareConsumer as a peer), not the MockCluster: acquisition locks, delivery counts,
//! redelivery and archiving are the broker's share-partition state machine, and a mock of it
//! would test this client against our own reading of KIP-932. The faults the tests need come
//! from the real broker on demand: a 1 s lock (`group.share.min.record.lock.duration.ms`) makes
//! expiry and redelivery quick, and closing a member mid-poll drops its locks.

mod config;
mod fetch;
mod membership;
mod protocol;
mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{AcknowledgementMode, ShareConsumerConfig};
pub use record::{AcknowledgeType, ShareConsumerRecord};

use crate::error::{Error, Result};
use crate::network::NetworkClient;
use crate::record::TopicPartition;
use fetch::Fetcher;
use membership::Membership;
use protocol::{ACCEPT, Tip};

/// Called with the outcome of acknowledgements: the partition, the offsets acknowledged and
/// the error, if the broker did not take them (Java's `AcknowledgementCommitCallback`). Runs on
/// the caller's task during `poll`, `commit_sync`, `commit_async`'s next `poll`, or `close`.
pub type AcknowledgementCommitCallback =
    Box<dyn FnMut(&TopicPartition, &[i64], Option<&Error>) + Send>;

/// A share group member. Not `Sync`: use it from one task, as Java's.
pub struct KafkaShareConsumer {
    config: ShareConsumerConfig,
    network: Arc<NetworkClient>,
    membership: Membership,
    fetcher: Fetcher,
    /// Records of the last poll not acknowledged yet, by partition id and offset.
    in_flight: BTreeMap<(TopicPartition, i64), Tip>,
    /// Records renewed (RENEW) and not yet acknowledged for good: they stay this member's
    /// across polls until a final acknowledgement or their lock runs out.
    renewed: BTreeMap<(TopicPartition, i64), Tip>,
    callback: Option<AcknowledgementCommitCallback>,
    closed: bool,
}

impl std::fmt::Debug for KafkaShareConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaShareConsumer")
            .field("group_id", &self.config.group_id)
            .finish()
    }
}

impl KafkaShareConsumer {
    /// A consumer for `config`'s share group. Connects lazily: nothing is sent before
    /// [`subscribe`](Self::subscribe). Must be called within a Tokio runtime.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn new(config: ShareConsumerConfig) -> Result<KafkaShareConsumer> {
        let network = Arc::new(NetworkClient::with_kind("share-consumer", &config.common));
        let membership = Membership::new(
            Arc::clone(&network),
            config.group_id.clone(),
            config.client_rack.clone(),
        );
        Ok(KafkaShareConsumer {
            config,
            network,
            membership,
            fetcher: Fetcher::default(),
            in_flight: BTreeMap::new(),
            renewed: BTreeMap::new(),
            callback: None,
            closed: false,
        })
    }

    /// Joins the share group with these topics (replacing any earlier subscription). The group
    /// coordinator assigns partitions; several members may share each partition. Errors:
    /// [`Error::InvalidArgument`] for an empty topic name, [`Error::Closed`] after `close`.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ensure_open()?;
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.iter().any(|t| t.trim().is_empty()) {
            return Err(Error::InvalidArgument("empty topic name".into()));
        }
        let list: Vec<&String> = topics.iter().collect();
        self.network.add_topics(&list);
        self.membership.subscribe(topics);
        Ok(())
    }

    /// The topics subscribed to.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn subscription(&self) -> BTreeSet<String> {
        self.membership.lock().subscription.clone()
    }

    /// Sets the callback told of every acknowledgement's outcome.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn set_acknowledgement_commit_callback(&mut self, callback: AcknowledgementCommitCallback) {
        self.callback = Some(callback);
    }

    /// Records acquired for this member, waiting up to `timeout` for some. In implicit mode
    /// every record of the previous poll is accepted first; in explicit mode the
    /// acknowledgements given since are sent (a record left unacknowledged stays acquired until
    /// its lock expires). Acknowledgements ride on the ShareFetch requests.
    ///
    /// Errors: a fatal group error (authorization, group full) as [`Error::Broker`], a broker
    /// without share groups, [`Error::Closed`]. Partition and session errors are retried.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    ///
    /// # Cancel safety
    /// Not cancel safe: records acquired by a dropped poll are lost to this member until their
    /// lock expires, then delivered again.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ShareConsumerRecord>> {
        self.ensure_open()?;
        self.settle_previous_poll();
        self.send_renewals().await;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.membership.lock().fatal.clone() {
                return Err(e);
            }
            let (member_id, assigned) = {
                let s = self.membership.lock();
                (s.member_id.clone(), s.assignment.clone())
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let records = if assigned.is_empty() && self.fetcher.pending.is_empty() {
                tokio::time::sleep(left.min(Duration::from_millis(50))).await;
                Vec::new()
            } else {
                let wait = left.min(self.config.fetch_max_wait);
                match self
                    .fetcher
                    .fetch_round(&self.network, &self.config, (&member_id, &assigned), wait)
                    .await
                {
                    Ok(r) => r,
                    Err(e) if e.is_retriable() => {
                        tracing::debug!(error = %e, "share fetch round failed");
                        tokio::time::sleep(left.min(self.network.retry_backoff(1))).await;
                        Vec::new()
                    }
                    Err(e) => return Err(e),
                }
            };
            self.run_callbacks();
            if !records.is_empty() || Instant::now() >= deadline {
                for r in &records {
                    let tip = self.tip_of(r);
                    self.in_flight.insert((r.topic_partition(), r.offset), tip);
                }
                return Ok(records);
            }
        }
    }

    /// Acknowledges one record of the last poll, or one renewed since (explicit mode). Sent
    /// with the next poll or commit. [`AcknowledgeType::Renew`] extends the record's lock and
    /// keeps it this member's: acknowledge it again later (KIP-1222).
    ///
    /// Errors: [`Error::InvalidArgument`] in implicit mode, and for a record neither of the
    /// last poll nor renewed, or already acknowledged for good.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn acknowledge(
        &mut self,
        record: &ShareConsumerRecord,
        kind: AcknowledgeType,
    ) -> Result<()> {
        self.ensure_open()?;
        if self.config.acknowledgement_mode != AcknowledgementMode::Explicit {
            return Err(Error::InvalidArgument(
                "acknowledge needs share.acknowledgement.mode=explicit".into(),
            ));
        }
        let key = (record.topic_partition(), record.offset);
        let tip = self
            .in_flight
            .remove(&key)
            .or_else(|| self.renewed.remove(&key))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{}@{} is not a record of the last poll or a renewed one awaiting \
                     acknowledgement",
                    key.0, key.1
                ))
            })?;
        if kind == AcknowledgeType::Renew {
            self.renewed.insert(key, tip);
            self.fetcher
                .renewals
                .entry(tip)
                .or_default()
                .insert(record.offset, kind.wire());
            return Ok(());
        }
        // A final acknowledgement supersedes a renewal not sent yet.
        if let Some(r) = self.fetcher.renewals.get_mut(&tip) {
            r.remove(&record.offset);
        }
        self.fetcher
            .pending
            .entry(tip)
            .or_default()
            .insert(record.offset, kind.wire());
        Ok(())
    }

    /// Sends the acknowledgements now (in implicit mode, every record of the last poll is
    /// accepted) and waits for the brokers, up to `default.api.timeout.ms`. Returns the
    /// outcome by partition; the callback is told too.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    ///
    /// # Cancel safety
    /// Not cancel safe: the brokers may have applied acknowledgements whose answer was lost.
    pub async fn commit_sync(&mut self) -> Result<BTreeMap<TopicPartition, Option<Error>>> {
        self.ensure_open()?;
        self.settle_previous_poll();
        let member_id = self.membership.lock().member_id.clone();
        let flush = async {
            self.fetcher
                .send_renewals(&self.network, &self.config, &member_id)
                .await;
            self.fetcher
                .flush(&self.network, &self.config, &member_id, false)
                .await
        };
        tokio::time::timeout(self.config.default_api_timeout, flush)
            .await
            .map_err(|_| Error::Timeout("commit_sync".into()))?;
        let mut out = BTreeMap::new();
        for (tp, _, err) in &self.fetcher.outcomes {
            let slot = out.entry(tp.clone()).or_insert(None);
            if slot.is_none() {
                *slot = err.clone();
            }
        }
        self.run_callbacks();
        Ok(out)
    }

    /// As [`commit_sync`](Self::commit_sync) without waiting: the acknowledgements ride on the
    /// next poll, and the callback hears of them there.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    pub fn commit_async(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.settle_previous_poll();
        Ok(())
    }

    /// Acknowledges as a commit does, closes the share sessions (the brokers release what this
    /// member still holds) and leaves the group. Bounded by `default.api.timeout.ms`. Errors:
    /// the leave's, or [`Error::Timeout`]; the consumer is closed either way.
    ///
    /// Example: [consuming guide](crate::guide::consuming#share-groups-kip-932).
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped close may leave the member in the group until its session
    /// times out on the coordinator.
    pub async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.settle_previous_poll();
        self.closed = true;
        let member_id = self.membership.lock().member_id.clone();
        let work = async {
            self.fetcher
                .flush(&self.network, &self.config, &member_id, true)
                .await;
            self.membership.leave().await
        };
        let result = tokio::time::timeout(self.config.default_api_timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout("close".into())));
        self.run_callbacks();
        self.network.close();
        result
    }

    async fn send_renewals(&mut self) {
        if self.fetcher.renewals.values().all(|acks| acks.is_empty()) {
            return;
        }
        let member_id = self.membership.lock().member_id.clone();
        self.fetcher
            .send_renewals(&self.network, &self.config, &member_id)
            .await;
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Implicit mode: the records of the last poll are accepted. Explicit mode: those not
    /// acknowledged are left to their lock.
    fn settle_previous_poll(&mut self) {
        let in_flight = std::mem::take(&mut self.in_flight);
        if self.config.acknowledgement_mode == AcknowledgementMode::Implicit {
            for ((_, offset), tip) in in_flight {
                self.fetcher
                    .pending
                    .entry(tip)
                    .or_default()
                    .insert(offset, ACCEPT);
            }
        }
    }

    fn tip_of(&self, r: &ShareConsumerRecord) -> Tip {
        let cluster = self.network.cluster();
        let id = cluster
            .topic(&r.topic)
            .map(|t| uuid::Uuid::from_bytes(t.id.0))
            .unwrap_or_default();
        (id, r.partition)
    }

    fn run_callbacks(&mut self) {
        let outcomes = std::mem::take(&mut self.fetcher.outcomes);
        if let Some(cb) = self.callback.as_mut() {
            for (tp, offsets, err) in &outcomes {
                if let Err(e) = crate::user_code::call("acknowledgement commit callback", || {
                    cb(tp, offsets, err.as_ref())
                }) {
                    tracing::warn!(error = %e, "acknowledgement commit callback failed");
                }
            }
        }
    }
}
