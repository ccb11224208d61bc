//! `KafkaProducer::send_all`: producing every record of a Stream with a bound on the records
//! awaiting acknowledgement.

use std::collections::VecDeque;
use std::pin::Pin;

use super::{DeliveryFuture, KafkaProducer, ProducerRecord};
use crate::error::Error;

/// What [`KafkaProducer::send_all`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SendAllSummary {
    /// Records acknowledged by the broker.
    pub delivered: u64,
    /// Records refused at enqueue or whose delivery failed.
    pub failed: u64,
    /// The first error met (in the order records were taken from the stream), if any.
    pub first_error: Option<Error>,
}

impl SendAllSummary {
    fn record(&mut self, result: crate::error::Result<()>) {
        match result {
            Ok(()) => self.delivered += 1,
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

impl KafkaProducer {
    /// Sends every record of `records` until the stream ends, with at most `max_in_flight`
    /// records (at least 1) enqueued and not yet acknowledged; then waits for the rest.
    /// Records go out in stream order (per partition, the producer's usual ordering holds).
    ///
    /// A failed record does not stop the others: the summary counts delivered and failed
    /// records and keeps the first error. Waiting on a full window waits for the oldest
    /// record, so a bound well above a batch's records (e.g. 10,000 at 100 B) keeps batches
    /// full.
    ///
    /// Example: [producing guide](crate::guide::producing#many-records-in-flight).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped midway, records already enqueued are still delivered, but the
    /// counts are lost, and so is the record taken from the stream and not yet enqueued.
    pub async fn send_all<S>(&self, records: S, max_in_flight: usize) -> SendAllSummary
    where
        S: futures_core::Stream<Item = ProducerRecord>,
    {
        let max_in_flight = max_in_flight.max(1);
        let mut records = std::pin::pin!(records);
        let mut window: VecDeque<DeliveryFuture> = VecDeque::with_capacity(max_in_flight);
        let mut summary = SendAllSummary::default();
        while let Some(record) =
            std::future::poll_fn(|cx| Pin::as_mut(&mut records).poll_next(cx)).await
        {
            if window.len() >= max_in_flight
                && let Some(oldest) = window.pop_front()
            {
                summary.record(oldest.await.map(|_| ()));
            }
            match self.enqueue(record).await {
                Ok(fut) => window.push_back(fut),
                Err(e) => summary.record(Err(e.error)),
            }
        }
        for fut in window {
            summary.record(fut.await.map(|_| ()));
        }
        summary
    }
}
