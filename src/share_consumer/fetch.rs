//! Share sessions with each partition leader: ShareFetch (acknowledgements riding along),
//! ShareAcknowledge, and what is acquired and still to acknowledge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use uuid::Uuid;

use super::config::ShareConsumerConfig;
use super::protocol::{
    Acks, FetchPlan, GAP, INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_NOT_FOUND, Tip,
    acknowledge_request, acknowledge_response, acquired_records, fetch_request, fetch_response,
    next_epoch,
};
use super::record::ShareConsumerRecord;
use crate::consumer::decode::{DecodeLimits, PartitionDecoder};
use crate::error::{Error, ErrorCode, Result};
use crate::network::metadata::Cluster;
use crate::network::{NetworkClient, Target};
use crate::protocol::messages::ShareAcknowledgeRequest;
use crate::record::TopicPartition;

/// The epoch that closes a share session.
const CLOSE_EPOCH: i32 = -1;

/// What became of the acknowledgements of one partition: the offsets and the error, if any.
pub(crate) type AckOutcome = (TopicPartition, Vec<i64>, Option<Error>);

#[derive(Debug, Default)]
struct Session {
    /// 0 until the broker opened the session.
    epoch: i32,
    partitions: BTreeSet<Tip>,
}

/// What a ShareAcknowledge does besides acknowledging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckRequest {
    Plain,
    /// Closes the share session (epoch -1): the broker releases what is still acquired.
    Close,
    /// Carries RENEW types (v2, IsRenewAck).
    Renew,
}

#[derive(Debug, Default)]
pub(crate) struct Fetcher {
    sessions: BTreeMap<i32, Session>,
    /// Acknowledgements not sent yet.
    pub pending: BTreeMap<Tip, Acks>,
    /// RENEW acknowledgements not sent yet: they go in a ShareAcknowledge of their own (v2,
    /// IsRenewAck), never riding on a ShareFetch (whose v1 has no RENEW).
    pub renewals: BTreeMap<Tip, Acks>,
    /// Topic names by id, as last seen in the metadata.
    names: BTreeMap<Uuid, String>,
    /// Outcomes waiting for the acknowledgement commit callback.
    pub outcomes: Vec<AckOutcome>,
}

/// The leader of every partition of `tips` that the metadata knows.
fn leaders(cluster: &Cluster, tips: impl Iterator<Item = Tip>) -> BTreeMap<Tip, i32> {
    let by_id: BTreeMap<Uuid, &str> = cluster
        .topics
        .values()
        .map(|t| (Uuid::from_bytes(t.id.0), t.name.as_str()))
        .collect();
    tips.filter_map(|tip| {
        let name = by_id.get(&tip.0)?;
        let leader = cluster.topic(name)?.partition(tip.1)?.leader;
        (leader >= 0).then_some((tip, leader))
    })
    .collect()
}

impl Fetcher {
    /// The node whose open session holds `tip`: acknowledgements for it must go there (a
    /// session not yet opened, epoch 0, holds no acquired records).
    fn open_session_of(&self, tip: &Tip) -> Option<i32> {
        self.sessions
            .iter()
            .find(|(_, s)| s.epoch > 0 && s.partitions.contains(tip))
            .map(|(n, _)| *n)
    }

    fn learn_names(&mut self, cluster: &Cluster) {
        for t in cluster.topics.values() {
            self.names.insert(Uuid::from_bytes(t.id.0), t.name.clone());
        }
    }

    fn tp(&self, tip: Tip) -> TopicPartition {
        let name = self
            .names
            .get(&tip.0)
            .cloned()
            .unwrap_or_else(|| tip.0.to_string());
        TopicPartition::new(name, tip.1)
    }

    fn record_outcome(&mut self, tip: Tip, acks: &Acks, error: Option<Error>) {
        let offsets: Vec<i64> = acks
            .iter()
            .filter(|(_, t)| **t != GAP)
            .map(|(o, _)| *o)
            .collect();
        if !offsets.is_empty() {
            let tp = self.tp(tip);
            self.outcomes.push((tp, offsets, error));
        }
    }

    fn drop_session(&mut self, node: i32) {
        self.sessions.remove(&node);
    }

    /// One ShareFetch to the leader of each assigned partition, at the same time; acknowledgements
    /// for partitions that are not fetched go in a ShareAcknowledge. Returns the acquired records.
    /// Errors: only those that end the poll (an unsupported broker); partition and session errors
    /// are handled here (metadata refresh, session reopened) and show as acknowledgement outcomes.
    pub(crate) async fn fetch_round(
        &mut self,
        network: &Arc<NetworkClient>,
        config: &ShareConsumerConfig,
        member: (&str, &BTreeSet<Tip>),
        wait: Duration,
    ) -> Result<Vec<ShareConsumerRecord>> {
        let (member_id, assigned) = member;
        let cluster = network.metadata().await?;
        self.learn_names(&cluster);
        let assigned_leaders = leaders(&cluster, assigned.iter().copied());
        if assigned_leaders.len() < assigned.len() {
            network.request_update();
        }
        let mut plans: BTreeMap<i32, FetchPlan> = BTreeMap::new();
        for (tip, node) in &assigned_leaders {
            let plan = plans.entry(*node).or_insert_with(|| FetchPlan {
                group_id: config.group_id.clone(),
                member_id: member_id.to_string(),
                max_wait_ms: wait.as_millis().min(i32::MAX as u128) as i32,
                min_bytes: config.fetch_min_bytes.min(i32::MAX as usize) as i32,
                max_bytes: config.fetch_max_bytes.min(i32::MAX as usize) as i32,
                max_records: config.max_poll_records.min(i32::MAX as usize) as i32,
                partition_max_bytes: config.max_partition_fetch_bytes.min(i32::MAX as usize) as i32,
                ..FetchPlan::default()
            });
            let session = self.sessions.entry(*node).or_default();
            plan.epoch = session.epoch;
            if session.epoch == 0 || !session.partitions.contains(tip) {
                plan.add.insert(*tip);
            }
        }
        for (node, session) in &self.sessions {
            if let Some(plan) = plans.get_mut(node)
                && session.epoch > 0
            {
                plan.forget = session
                    .partitions
                    .iter()
                    .filter(|t| !assigned_leaders.contains_key(t))
                    .copied()
                    .collect();
            }
        }
        // Acknowledgements ride on the fetch to the partition's session; those of partitions
        // no longer fetched from there go in a ShareAcknowledge; a closed session took its
        // records back, so acknowledging them would fail.
        let mut separate: BTreeMap<i32, BTreeMap<Tip, Acks>> = BTreeMap::new();
        for (tip, acks) in std::mem::take(&mut self.pending) {
            let node = self.open_session_of(&tip);
            match node {
                Some(n) if plans.get(&n).is_some_and(|p| !p.forget.contains(&tip)) => {
                    if let Some(plan) = plans.get_mut(&n) {
                        plan.acks.insert(tip, acks);
                    }
                }
                Some(n) => {
                    separate.entry(n).or_default().insert(tip, acks);
                }
                None => self.record_outcome(
                    tip,
                    &acks,
                    Some(Error::Broker {
                        code: ErrorCode(SHARE_SESSION_NOT_FOUND),
                        context: "acknowledge: the share session that acquired these records \
                                  closed; the broker releases them"
                            .into(),
                    }),
                ),
            }
        }
        for (node, acks) in separate {
            self.acknowledge(network, config, member_id, node, acks, AckRequest::Plain)
                .await;
        }

        let mut tasks = JoinSet::new();
        for (node, plan) in plans {
            let network = Arc::clone(network);
            let req = fetch_request(&plan);
            tasks.spawn(async move {
                let resp = network.send(Target::Node(node), req).await;
                (node, plan, resp)
            });
        }
        let limits = DecodeLimits::new(config.max_partition_fetch_bytes);
        let mut out = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((node, plan, resp)) = joined else {
                continue;
            };
            let parsed = match resp {
                Ok(r) => fetch_response(r).map_err(|code| Error::Broker {
                    code,
                    context: format!("ShareFetch to broker {node}"),
                }),
                Err(e) => Err(e),
            };
            let (parts, _lock_ms) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(node, error = %e, "share fetch failed: the session starts again");
                    if !matches!(
                        e.code().map(|c| c.0),
                        Some(SHARE_SESSION_NOT_FOUND | INVALID_SHARE_SESSION_EPOCH)
                    ) {
                        network.request_update();
                    }
                    self.drop_session(node);
                    for (tip, acks) in &plan.acks {
                        self.record_outcome(*tip, acks, Some(e.clone()));
                    }
                    continue;
                }
            };
            let session = self.sessions.entry(node).or_default();
            session.epoch = next_epoch(session.epoch);
            session.partitions.extend(plan.add.iter().copied());
            session.partitions.retain(|t| !plan.forget.contains(t));
            let mut answered = BTreeSet::new();
            for part in parts {
                answered.insert(part.tip);
                if let Some(acks) = plan.acks.get(&part.tip) {
                    let err = part.ack_error.map(|code| Error::Broker {
                        code,
                        context: format!("acknowledge {}", self.tp(part.tip)),
                    });
                    self.record_outcome(part.tip, acks, err);
                }
                if let Some(code) = part.error {
                    if code.invalidates_metadata() {
                        network.request_update();
                    }
                    tracing::debug!(%code, partition = %self.tp(part.tip), "share fetch partition error");
                    continue;
                }
                if part.acquired.is_empty() {
                    continue;
                }
                let tp = self.tp(part.tip);
                let first = part.acquired.iter().map(|a| a.0).min().unwrap_or(0);
                let mut decoder = PartitionDecoder::new(
                    Arc::from(tp.topic.as_str()),
                    tp.partition,
                    part.records,
                    first,
                    config.check_crcs,
                    false,
                    Vec::new(),
                );
                let mut decoded = Vec::new();
                while decoder.has_more() {
                    let step = decoder.step(&limits);
                    decoded.extend(step.records);
                    if let Some(e) = step.error {
                        tracing::warn!(partition = %tp, error = %e, "share fetch: records not decodable");
                        break;
                    }
                }
                let (records, gaps) = acquired_records(decoded, &part.acquired);
                if !gaps.is_empty() {
                    let acks = self.pending.entry(part.tip).or_default();
                    acks.extend(gaps.into_iter().map(|o| (o, GAP)));
                }
                out.extend(records.into_iter().map(|(record, delivery_count)| {
                    ShareConsumerRecord {
                        record,
                        delivery_count,
                    }
                }));
            }
            for (tip, acks) in &plan.acks {
                if !answered.contains(tip) {
                    self.record_outcome(*tip, acks, None);
                }
            }
        }
        Ok(out)
    }

    /// `acks` grouped by the broker whose open session holds each partition; those of a
    /// partition without one fail now with SHARE_SESSION_NOT_FOUND (`why`).
    fn by_open_session(
        &mut self,
        acks: impl IntoIterator<Item = (Tip, Acks)>,
        why: &str,
    ) -> BTreeMap<i32, BTreeMap<Tip, Acks>> {
        let mut by_node: BTreeMap<i32, BTreeMap<Tip, Acks>> = BTreeMap::new();
        for (tip, acks) in acks {
            match self.open_session_of(&tip) {
                Some(n) => {
                    by_node.entry(n).or_default().insert(tip, acks);
                }
                None => self.record_outcome(
                    tip,
                    &acks,
                    Some(Error::Broker {
                        code: ErrorCode(SHARE_SESSION_NOT_FOUND),
                        context: why.into(),
                    }),
                ),
            }
        }
        by_node
    }

    /// Sends every pending acknowledgement in a ShareAcknowledge to its session's broker;
    /// with `close`, closes every session too (epoch -1), which releases what is still
    /// acquired.
    pub(crate) async fn flush(
        &mut self,
        network: &Arc<NetworkClient>,
        config: &ShareConsumerConfig,
        member_id: &str,
        close: bool,
    ) {
        let pending = std::mem::take(&mut self.pending);
        let mut by_node = self.by_open_session(pending, "acknowledge: no open share session");
        if close {
            for (n, s) in &self.sessions {
                if s.epoch > 0 {
                    by_node.entry(*n).or_default();
                }
            }
        }
        for (node, acks) in by_node {
            if acks.is_empty() && !close {
                continue;
            }
            let kind = if close {
                AckRequest::Close
            } else {
                AckRequest::Plain
            };
            self.acknowledge(network, config, member_id, node, acks, kind)
                .await;
        }
        if close {
            self.sessions.clear();
        }
    }

    /// Sends the RENEW acknowledgements, each partition's to its session's broker.
    pub(crate) async fn send_renewals(
        &mut self,
        network: &Arc<NetworkClient>,
        config: &ShareConsumerConfig,
        member_id: &str,
    ) {
        let renewals = std::mem::take(&mut self.renewals);
        let by_node = self.by_open_session(
            renewals.into_iter().filter(|(_, a)| !a.is_empty()),
            "renew: the share session that acquired these records closed",
        );
        for (node, acks) in by_node {
            self.acknowledge(network, config, member_id, node, acks, AckRequest::Renew)
                .await;
        }
    }

    async fn acknowledge(
        &mut self,
        network: &Arc<NetworkClient>,
        config: &ShareConsumerConfig,
        member_id: &str,
        node: i32,
        acks: BTreeMap<Tip, Acks>,
        kind: AckRequest,
    ) {
        let (close, renew) = (kind == AckRequest::Close, kind == AckRequest::Renew);
        let Some(epoch) = self.sessions.get(&node).map(|s| s.epoch) else {
            return;
        };
        let epoch = if close { CLOSE_EPOCH } else { epoch };
        let req = acknowledge_request(&config.group_id, member_id, epoch, &acks, renew);
        let resp = match network.connection(Target::Node(node)).await {
            Ok(conn) => match conn.version_for::<ShareAcknowledgeRequest>() {
                // v1 has no RENEW: asking would only fail the whole request.
                Ok(v) if renew && v < 2 => Err(Error::UnsupportedVersion {
                    api: "ShareAcknowledge (RENEW, KIP-1222)",
                    addr: format!("broker {node}"),
                    broker_min: 1,
                    broker_max: v,
                    client_min: 2,
                    client_max: 2,
                }),
                Ok(v) => conn.send_at(req, v, None).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if matches!(resp, Err(Error::UnsupportedVersion { .. })) {
            // Nothing was sent: the session and its epoch stand.
            if let Err(e) = resp {
                for (tip, a) in &acks {
                    self.record_outcome(*tip, a, Some(e.clone()));
                }
            }
            return;
        }
        let parsed = match resp {
            Ok(r) => acknowledge_response(&r).map_err(|code| Error::Broker {
                code,
                context: format!("ShareAcknowledge to broker {node}"),
            }),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(by_tip) => {
                if let Some(s) = self.sessions.get_mut(&node) {
                    s.epoch = next_epoch(s.epoch);
                }
                for (tip, a) in &acks {
                    let err = by_tip
                        .get(tip)
                        .copied()
                        .flatten()
                        .map(|code| Error::Broker {
                            code,
                            context: format!("acknowledge {}", self.tp(*tip)),
                        });
                    self.record_outcome(*tip, a, err);
                }
            }
            Err(e) => {
                self.drop_session(node);
                for (tip, a) in &acks {
                    self.record_outcome(*tip, a, Some(e.clone()));
                }
            }
        }
    }
}
