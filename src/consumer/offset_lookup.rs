//! Offset lookups for the application (ListOffsets): by timestamp, the log's start and its end,
//! retried until `default.api.timeout.ms`. Positions the consumer resolves itself are in
//! `positions.rs`.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::{KafkaConsumer, OffsetAndTimestamp, offsets};
use crate::error::{Error, Result};
use crate::record::TopicPartition;

impl KafkaConsumer {
    /// For each partition, the earliest offset whose timestamp is at least the given one
    /// (ms), or `None` when no such record exists (ListOffsets, KIP-79).
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn offsets_for_times(
        &mut self,
        timestamps: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        let wanted: Vec<(TopicPartition, i64)> =
            timestamps.iter().map(|(tp, t)| (tp.clone(), *t)).collect();
        self.lookup(&wanted).await
    }

    /// First offset of each partition.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn beginning_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.edge_offsets(partitions, offsets::EARLIEST).await
    }

    /// End offset (high watermark; last stable offset with read_committed) of each partition.
    ///
    /// Example: [consuming guide](crate::guide::consuming#manual-assignment-seeking-and-offsets).
    ///
    /// # Cancel safety
    /// Cancel safe (read only).
    pub async fn end_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.edge_offsets(partitions, offsets::LATEST).await
    }

    async fn edge_offsets(
        &mut self,
        partitions: &[TopicPartition],
        ts: i64,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        let wanted: Vec<(TopicPartition, i64)> =
            partitions.iter().map(|tp| (tp.clone(), ts)).collect();
        let found = self.lookup(&wanted).await?;
        found
            .into_iter()
            .map(|(tp, o)| {
                let offset = o
                    .map(|o| o.offset)
                    .ok_or_else(|| Error::Protocol(format!("no offset returned for {tp}")))?;
                Ok((tp, offset))
            })
            .collect()
    }

    /// ListOffsets with retries of retriable per-partition errors until the API timeout.
    async fn lookup(
        &mut self,
        wanted: &[(TopicPartition, i64)],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        let deadline = self.api_deadline();
        let mut out = BTreeMap::new();
        let mut todo = wanted.to_vec();
        let mut attempt = 0;
        while !todo.is_empty() {
            let found = offsets::list_offsets(&self.net, &todo, self.read_committed()).await?;
            let mut retry = Vec::new();
            let mut last = None;
            for (tp, ts) in todo {
                match found.get(&tp) {
                    Some(Ok(o)) => {
                        out.insert(tp, *o);
                    }
                    Some(Err(e)) if e.is_retriable() => {
                        last = Some(e.clone());
                        retry.push((tp, ts));
                    }
                    Some(Err(e)) => return Err(e.clone()),
                    None => retry.push((tp, ts)),
                }
            }
            todo = retry;
            if !todo.is_empty() {
                attempt += 1;
                let wait = self.net.retry_backoff(attempt);
                if Instant::now() + wait >= deadline {
                    return Err(last
                        .unwrap_or_else(|| Error::Timeout("offset lookup did not finish".into())));
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(out)
    }
}
