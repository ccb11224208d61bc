//! Producer id and epoch for the idempotent producer (KIP-98), and epoch bumps (KIP-360).
//!
//! Sequence numbers live with each partition's queue in the accumulator; this module owns the
//! producer id/epoch and fetches or bumps them with InitProducerId.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorCode, Result};
use crate::network::{NetworkClient, Target};
use crate::protocol::messages::{InitProducerIdRequest, ProducerId};

/// The producer's identity as the broker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// Gets a producer id, or with `current` bumps its epoch (InitProducerId v3+, KIP-360; an older
/// broker hands out a new id instead). Retries retriable errors until `deadline`.
pub(crate) async fn init_producer_id(
    net: &NetworkClient,
    current: Option<ProducerIdAndEpoch>,
    transaction_timeout: Duration,
    deadline: Instant,
) -> Result<ProducerIdAndEpoch> {
    let mut attempt = 0;
    loop {
        let result = net
            .send_fn(Target::Any, |version| {
                let req = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(
                        transaction_timeout.as_millis().min(i32::MAX as u128) as i32,
                    );
                match current {
                    Some(c) if version >= 3 => req
                        .with_producer_id(ProducerId(c.producer_id))
                        .with_producer_epoch(c.epoch),
                    _ => req.with_producer_id(ProducerId(-1)).with_producer_epoch(-1),
                }
            })
            .await
            .and_then(|r| match ErrorCode::from_code(r.error_code) {
                None => Ok(ProducerIdAndEpoch {
                    producer_id: r.producer_id.0,
                    epoch: r.producer_epoch,
                }),
                Some(code) => Err(Error::Broker {
                    code,
                    context: "InitProducerId".into(),
                }),
            });
        match result {
            Ok(id) => {
                tracing::debug!(
                    producer_id = id.producer_id,
                    epoch = id.epoch,
                    "producer id"
                );
                return Ok(id);
            }
            Err(e) => {
                attempt += 1;
                let wait = net.retry_backoff(attempt);
                if !e.is_retriable() || Instant::now() + wait >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}
