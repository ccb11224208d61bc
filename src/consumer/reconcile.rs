//! KIP-848 reconciliation as the consumer lives it (`group.protocol=consumer`): the broker
//! hands each member its target assignment by topic id; `poll` revokes what left it (commit
//! first with auto-commit, then the listener), assigns what joined it, and reports what it
//! owns so the next heartbeat acknowledges it. No group-wide stop: members keep fetching the
//! partitions they keep throughout.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::coordinator::{IdPartition, Kip848, Subscribed};
use super::rebalance::Callback;
use super::subscription::PositionSource;
use super::{KafkaConsumer, TopicPartition};
use crate::error::Result;
use crate::types::TopicId;

impl KafkaConsumer {
    /// Brings the assignment in line with the broker's target (see the module doc).
    ///
    /// Errors: a fatal membership error (UNRELEASED_INSTANCE_ID, FENCED_INSTANCE_ID,
    /// UNSUPPORTED_ASSIGNOR, ...), reported once.
    ///
    /// # Cancel safety
    /// Cancel safe: what a dropped poll did not apply stays different from the target, and
    /// the next poll reconciles it.
    pub(super) async fn reconcile_kip848(&mut self, k: Arc<Kip848>) -> Result<()> {
        if let Some(e) = k.take_fatal() {
            return Err(e);
        }
        let Some(topics) = self.subs.subscribed_topics() else {
            return Ok(());
        };
        let sub = match &self.pattern {
            Some(p) => Subscribed::Pattern(p.as_str().to_string()),
            None => Subscribed::Topics(topics.clone()),
        };
        k.set_subscription(sub);
        let (lost, reconcile, target) = {
            let m = k.member();
            (
                m.phase == super::coordinator::Phase::Lost,
                m.reconcile_needed(),
                m.target.clone(),
            )
        };
        if lost {
            let owned: Vec<TopicPartition> = self.subs.assigned().into_iter().collect();
            if !owned.is_empty() {
                // Another member may own these already: no commit, hand them over as lost.
                self.run_listener(Callback::Lost, &owned).await;
                self.subs.set_assignment([], PositionSource::Committed);
                self.fetcher.discard_stale(&self.subs);
            }
            k.released();
            return Ok(());
        }
        if !reconcile {
            return Ok(());
        }
        let cluster = self.net.cluster();
        let names: HashMap<TopicId, &str> = cluster
            .topics
            .values()
            .map(|t| (t.id, t.name.as_str()))
            .collect();
        let resolved: BTreeSet<IdPartition> = target
            .iter()
            .filter(|(id, _)| names.contains_key(id))
            .copied()
            .collect();
        if resolved.len() != target.len() {
            // Topics this member has no metadata for yet (a regex matched a new topic): take
            // what is known now, the rest after the next refresh.
            self.net.request_update();
        }
        let new: BTreeSet<TopicPartition> = resolved
            .iter()
            .filter_map(|(id, p)| Some(TopicPartition::new(names.get(id)?.to_string(), *p)))
            .collect();
        let current = self.subs.assigned();
        let revoked: Vec<TopicPartition> = current.difference(&new).cloned().collect();
        if !revoked.is_empty() {
            self.commit_before_revoke(&revoked).await;
            self.run_listener(Callback::Revoked, &revoked).await;
            self.subs.remove_partitions(&revoked);
        }
        let added: Vec<TopicPartition> = new.difference(&current).cloned().collect();
        self.subs.add_partitions(&added, PositionSource::Committed);
        self.fetcher.discard_stale(&self.subs);
        tracing::info!(group = ?self.config.group_id, epoch = k.member().epoch,
            revoked = revoked.len(), added = added.len(), owned = new.len(), "reconciled");
        k.reconciled(resolved);
        self.run_listener(Callback::Assigned, &added).await;
        Ok(())
    }
}
