//! What a share consumer's `poll` returns, and how a record is acknowledged.

use super::protocol::{ACCEPT, REJECT, RELEASE, RENEW};
use crate::consumer::ConsumerRecord;

/// A record acquired by this member of the share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareConsumerRecord {
    /// The record as a classic consumer would see it.
    pub record: ConsumerRecord,
    /// How many times the broker has handed it out, this delivery included (1 the first time).
    pub delivery_count: i16,
}

impl std::ops::Deref for ShareConsumerRecord {
    type Target = ConsumerRecord;

    fn deref(&self) -> &ConsumerRecord {
        &self.record
    }
}

/// How a record is acknowledged (Java's `AcknowledgeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcknowledgeType {
    /// Processed: the broker never delivers it again.
    Accept,
    /// Not processed: the broker delivers it again (counting another delivery).
    Release,
    /// Unprocessable: the broker archives it and never delivers it again.
    Reject,
    /// Still being processed: extend its acquisition lock (KIP-1222, Apache Kafka 4.2+). Not
    /// final: the record stays this member's, to be acknowledged again (it may be renewed again
    /// too) after later polls. Sent in a ShareAcknowledge v2 with the next poll or commit; a
    /// broker without v2 answers it with [`Error::UnsupportedVersion`](crate::Error::UnsupportedVersion)
    /// through the acknowledgement commit callback and `commit_sync`.
    Renew,
}

impl AcknowledgeType {
    pub(crate) fn wire(self) -> i8 {
        match self {
            AcknowledgeType::Accept => ACCEPT,
            AcknowledgeType::Release => RELEASE,
            AcknowledgeType::Reject => REJECT,
            AcknowledgeType::Renew => RENEW,
        }
    }
}
