//! Resolving the positions of partitions that have none: the group's committed offset
//! (OffsetFetch, run on a task of its own so `poll` keeps its timeout), else the reset policy
//! (ListOffsets).

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::background::Background;
use super::coordinator::fetch_committed;
use super::record::OffsetAndMetadata;
use super::subscription::PositionSource;
use super::{KafkaConsumer, offsets};
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// An OffsetFetch going on across polls (KIP-266), for the partitions awaiting their committed
/// offset in one generation. A later call whose partitions or generation differ drops it
/// (which aborts it) and starts another, as Java's consumer discards a pending lookup that no
/// longer matches.
pub(super) struct CommittedLookup {
    partitions: Vec<TopicPartition>,
    generation: i32,
    task: Background<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>>,
}

impl KafkaConsumer {
    /// Resolves positions of partitions that have none: the committed offset, else the reset
    /// policy via ListOffsets. Waits for the committed offsets only until `wait` (the lookup
    /// goes on, and a later call uses its answer); `poll` passes the present, and wakes when
    /// the lookup finishes.
    ///
    /// # Cancel safety
    /// Cancel safe: positions change only after the awaits they depend on.
    pub(super) async fn update_positions(&mut self, wait: Instant) -> Result<()> {
        let committed: Vec<TopicPartition> = self
            .subs
            .pending_positions()
            .into_iter()
            .filter(|(_, s)| *s == PositionSource::Committed)
            .map(|(tp, _)| tp)
            .collect();
        if committed.is_empty() {
            self.committed_lookup = None;
        } else if let Some(found) = self.committed_offsets(committed.clone(), wait).await {
            let found = found?;
            let reset = self.subs.default_reset();
            for tp in committed {
                match found.get(&tp).cloned().flatten() {
                    Some(om) => {
                        self.subs.seek(&tp, om.offset)?;
                        self.subs.state_mut(&tp)?.position_epoch = om.leader_epoch;
                    }
                    None => self.subs.request_position(&tp, reset)?,
                }
            }
        }
        let mut lookups = Vec::new();
        for (tp, source) in self.subs.pending_positions() {
            match source {
                PositionSource::Earliest => lookups.push((tp, offsets::EARLIEST)),
                PositionSource::Latest => lookups.push((tp, offsets::LATEST)),
                PositionSource::NoReset => {
                    return Err(Error::NoOffsetForPartition {
                        partition: tp.to_string(),
                    });
                }
                PositionSource::Committed => {}
            }
        }
        if lookups.is_empty() {
            return Ok(());
        }
        let read_committed = self.read_committed();
        let found = offsets::list_offsets(&self.net, &lookups, read_committed).await?;
        for (tp, r) in found {
            match r {
                Ok(Some(o)) => {
                    self.subs.seek(&tp, o.offset)?;
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(%tp, error = %e, "offset lookup failed; will retry"),
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` once the lookup for them has finished, waiting
    /// for it until `wait`; `None` while it runs on. Without a group nothing is committed.
    async fn committed_offsets(
        &mut self,
        partitions: Vec<TopicPartition>,
        wait: Instant,
    ) -> Option<Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>>> {
        let Some(c) = &self.coordinator else {
            return Some(Ok(BTreeMap::new()));
        };
        let generation = c.shared.state().generation;
        if self
            .committed_lookup
            .as_ref()
            .is_some_and(|l| l.partitions != partitions || l.generation != generation)
        {
            self.committed_lookup = None;
        }
        let lookup = match &mut self.committed_lookup {
            Some(l) => l,
            None => {
                let shared = c.shared.clone();
                let wanted = partitions.clone();
                let deadline = self.api_deadline();
                self.committed_lookup.insert(CommittedLookup {
                    partitions,
                    generation,
                    task: Background::spawn(async move {
                        let found = fetch_committed(&shared, &wanted, deadline).await;
                        // A permit, not just a wake-up: the poll may be between looks.
                        shared.wake.notify_one();
                        found
                    }),
                })
            }
        };
        let found = lookup.task.wait_until(wait).await?;
        self.committed_lookup = None;
        Some(found)
    }
}
