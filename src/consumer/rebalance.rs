//! Group rebalances as the consumer lives them: starting and applying joins, handing
//! partitions over (commit before revocation), and running the rebalance listener.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::subscription::PositionSource;
use super::{KafkaConsumer, OffsetAndMetadata, Offsets, TopicPartition, coordinator};
use crate::error::Result;

pub(super) enum Callback {
    Revoked,
    Assigned,
    Lost,
}

impl KafkaConsumer {
    /// Starts a join when one is needed and applies the assignment of a finished one. The join
    /// runs on a task of its own (KIP-266): this only looks whether it has finished, so `poll`
    /// keeps its timeout while the broker holds JoinGroup for slower members.
    ///
    /// # Cancel safety
    /// Cancel safe: a join goes on across dropped polls, and a finished one stays in
    /// `self.joined` until its assignment is applied.
    pub(super) async fn ensure_group(&mut self) -> Result<()> {
        if let Some(k) = self.coordinator.as_mut().and_then(|c| c.kip848()) {
            return self.reconcile_kip848(k).await;
        }
        if self.joined.is_none() {
            let Some(topics) = self.subs.subscribed_topics().cloned() else {
                return Ok(());
            };
            let Some(c) = &self.coordinator else {
                return Ok(());
            };
            if !c.join_running() && !self.prepare_join(&topics).await {
                return Ok(());
            }
            let Some(c) = &mut self.coordinator else {
                return Ok(());
            };
            self.joined = match c.wait_join(Instant::now()).await {
                None => return Ok(()),
                Some(Ok(j)) => Some(j),
                // Not joined yet (coordinator moving or loading, rebalance racing): the next
                // look starts another join, as Java's poll does, instead of failing the
                // application's poll.
                Some(Err(e)) if coordinator::join_retriable(&e) => {
                    tracing::debug!(error = %e, "join not complete; rejoining");
                    self.net
                        .metrics()
                        .coordinator()
                        .failed_rebalances
                        .record(1.0);
                    return Ok(());
                }
                Some(Err(e)) => {
                    tracing::info!(error = %e, "rebalance failed");
                    self.net
                        .metrics()
                        .coordinator()
                        .failed_rebalances
                        .record(1.0);
                    self.rebalance_started = None;
                    return Err(e);
                }
            };
        }
        self.apply_join().await;
        Ok(())
    }

    /// When the group needs (re)joining, hands over what must go first (lost partitions, or
    /// everything with the eager protocols) and starts the join. Returns whether one runs.
    async fn prepare_join(&mut self, topics: &BTreeSet<String>) -> bool {
        let Some(c) = &self.coordinator else {
            return false;
        };
        if !c.needs_join() && self.partition_counts(topics) != self.assigned_counts {
            tracing::info!("subscribed topics changed partition counts: rebalancing");
            c.request_rejoin();
        }
        if !c.needs_join() {
            return false;
        }
        let cooperative = c.prefers_cooperative();
        let lost = c.take_lost();
        let owned: Vec<TopicPartition> = self.subs.assigned().into_iter().collect();
        if lost && !owned.is_empty() {
            // Another member may own these already: no commit, hand them over as lost.
            self.run_listener(Callback::Lost, &owned).await;
            self.subs.set_assignment([], PositionSource::Committed);
        } else if !cooperative && !owned.is_empty() {
            self.revoke_all().await;
        }
        let keep: Vec<TopicPartition> = if cooperative {
            self.subs.assigned().into_iter().collect()
        } else {
            Vec::new()
        };
        match &mut self.coordinator {
            Some(c) => {
                c.start_join(topics, &keep);
                // A retried join belongs to the rebalance that started first.
                self.rebalance_started
                    .get_or_insert_with(std::time::Instant::now);
                true
            }
            None => false,
        }
    }

    /// Applies the assignment of the finished join in `self.joined`: the partition state
    /// changes with no await between them and taking `self.joined`, so a dropped poll either
    /// applied all of it or runs it again (only the cooperative revocation, commit and
    /// listener, runs before them).
    async fn apply_join(&mut self) {
        let Some(joined) = &self.joined else {
            return;
        };
        // Counted for the topics joined with: a subscription changed while the join ran
        // differs from them, and the next look joins again.
        self.assigned_counts = self.partition_counts(&joined.topics);
        let new: BTreeSet<TopicPartition> = joined.assignment.iter().cloned().collect();
        let assigned: Vec<TopicPartition> = if joined.cooperative {
            let current = self.subs.assigned();
            let revoked: Vec<TopicPartition> = current.difference(&new).cloned().collect();
            if !revoked.is_empty() {
                self.commit_before_revoke(&revoked).await;
                self.run_listener(Callback::Revoked, &revoked).await;
                self.subs.remove_partitions(&revoked);
                if let Some(c) = &self.coordinator {
                    // KIP-429: the revoked partitions go to their new owners in a follow-up round.
                    c.request_rejoin();
                }
            }
            let added: Vec<TopicPartition> = new.difference(&current).cloned().collect();
            self.subs.add_partitions(&added, PositionSource::Committed);
            added
        } else {
            let parts: Vec<TopicPartition> = new.into_iter().collect();
            self.subs
                .set_assignment(parts.iter().cloned(), PositionSource::Committed);
            parts
        };
        self.joined = None;
        self.fetcher.discard_stale(&self.subs);
        self.run_listener(Callback::Assigned, &assigned).await;
        if let Some(started) = self.rebalance_started.take() {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            self.net
                .metrics()
                .coordinator()
                .rebalance_latency
                .record(ms);
            tracing::info!(group = ?self.config.group_id, assigned = assigned.len(),
                latency_ms = ms as u64, "rebalance completed");
        }
    }

    fn partition_counts(&self, topics: &BTreeSet<String>) -> BTreeMap<String, usize> {
        let cluster = self.net.cluster();
        topics
            .iter()
            .filter_map(|t| {
                let m = cluster.topic(t)?;
                (m.error.is_none()).then(|| (t.clone(), m.partitions.len()))
            })
            .collect()
    }

    pub(super) async fn revoke_all(&mut self) {
        let owned: Vec<TopicPartition> = self.subs.assigned().into_iter().collect();
        if owned.is_empty() || self.subs.subscribed_topics().is_none() {
            return;
        }
        self.commit_before_revoke(&owned).await;
        self.run_listener(Callback::Revoked, &owned).await;
        self.subs.set_assignment([], PositionSource::Committed);
    }

    /// Runs the listener. A panic in it is caught (its rebalance step goes on) and kept in
    /// `listener_error` for `poll` to report, the first one winning, as Java keeps the first
    /// listener exception.
    ///
    /// # Cancel safety
    /// The listener is lent out while it runs (it gets the consumer itself); the loan puts it
    /// back when dropped, also when the poll running it is dropped.
    pub(super) async fn run_listener(&mut self, which: Callback, parts: &[TopicPartition]) {
        if !matches!(which, Callback::Assigned) {
            self.end_partition_streams(parts, matches!(which, Callback::Revoked))
                .await;
        }
        let Some(mut loan) = self.listener.lend() else {
            return;
        };
        let Some(l) = loan.listener() else {
            return;
        };
        // Building the future runs application code too (a listener may do work before
        // returning its future): do it inside the caught poll.
        let run = async {
            match which {
                Callback::Revoked => l.revoked(self, parts).await,
                Callback::Assigned => l.assigned(self, parts).await,
                Callback::Lost => l.lost(self, parts).await,
            }
        };
        let result = crate::user_code::call_async("rebalance listener", run).await;
        drop(loan);
        if let Err(e) = result {
            self.listener_error.get_or_insert(e);
        }
    }

    /// With auto-commit on, commits the positions of partitions about to be given up so the
    /// next owner starts where this one stopped.
    pub(super) async fn commit_before_revoke(&mut self, parts: &[TopicPartition]) {
        if !self.config.enable_auto_commit {
            return;
        }
        let positions = self.subs.positions();
        let offsets: Offsets = parts
            .iter()
            .filter_map(|tp| {
                positions.get(tp).map(|(o, e)| {
                    (
                        tp.clone(),
                        OffsetAndMetadata {
                            offset: *o,
                            leader_epoch: *e,
                            metadata: String::new(),
                        },
                    )
                })
            })
            .collect();
        if let Err(e) = self.commit_offsets_sync(offsets).await {
            tracing::warn!(error = %e, "commit before revocation failed");
        }
    }
}
