//! What a caller hands the producer and what it gets back.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::Error;
use crate::record::Header;

/// A topic name as [`ProducerRecord::new`] takes it: `&str`, `String` or `&String` (copied into
/// a new `Arc<str>` per record), or `Arc<str>` / `&Arc<str>` (shared: no allocation, what a loop
/// sending many records to one topic should pass).
pub trait IntoTopic {
    /// The shared name.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self.clone()
    }
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

/// A record to send.
///
/// `partition: None` lets the partitioner choose (murmur2 of the key, or sticky for a null key).
/// `timestamp: None` takes the producer's clock at send time (CreateTime, ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic name. Shared, not owned: a sending loop that builds its records from one
    /// `Arc<str>` copies a pointer per record instead of allocating a `String` (an eighth of a
    /// 100-byte record's cost in the producer's benchmark). See [`IntoTopic`].
    pub topic: Arc<str>,
    /// Explicit partition; wins over the partitioner.
    pub partition: Option<i32>,
    /// Key bytes (`None` is a null key, distinct from an empty key).
    pub key: Option<Bytes>,
    /// Value bytes (`None` is a null value: a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers (KIP-82), in order; keys may repeat.
    pub headers: Vec<Header>,
    /// CreateTime in ms since the Unix epoch; `None` = now.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and nothing else.
    pub fn new(topic: impl IntoTopic, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with a null value (a tombstone when keyed).
    pub fn tombstone(topic: impl IntoTopic, key: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> ProducerRecord {
        self.partition = Some(partition);
        self
    }

    /// Appends a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the timestamp (ms since the Unix epoch).
    pub fn timestamp(mut self, timestamp_ms: i64) -> ProducerRecord {
        self.timestamp = Some(timestamp_ms);
        self
    }
}

/// Where an acknowledged record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic name (shared by every record of the batch, not copied per record).
    pub topic: std::sync::Arc<str>,
    /// Partition the record was written to.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0` (no acknowledgement to learn it from) and for a
    /// resend the broker reported as DUPLICATE_SEQUENCE_NUMBER without an offset.
    pub offset: i64,
    /// CreateTime sent, or the broker's LogAppendTime when the topic uses it (ms since epoch).
    pub timestamp: i64,
    /// Key size in bytes, -1 for a null key.
    pub serialized_key_size: i32,
    /// Value size in bytes, -1 for a null value.
    pub serialized_value_size: i32,
}

/// A record the producer did not accept, handed back with the reason.
#[derive(Debug, thiserror::Error)]
#[error("record for topic {} not accepted: {error}", record.topic)]
pub struct SendError {
    /// Why it was refused.
    pub error: Error,
    /// The record, untouched (boxed to keep `Result`s small).
    pub record: Box<ProducerRecord>,
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_topic_name_is_taken_without_a_copy() {
        let topic: Arc<str> = Arc::from("orders");
        let by_ref = ProducerRecord::new(&topic, "a");
        let owned = ProducerRecord::tombstone(topic.clone(), "k");
        assert!(Arc::ptr_eq(&by_ref.topic, &topic));
        assert!(Arc::ptr_eq(&owned.topic, &topic));
        assert_eq!(Arc::strong_count(&topic), 3);
    }

    #[test]
    fn every_string_form_names_the_same_topic() {
        let name = String::from("orders");
        let records = [
            ProducerRecord::new("orders", "v"),
            ProducerRecord::new(&name, "v"),
            ProducerRecord::new(name.clone(), "v"),
        ];
        for r in &records {
            assert_eq!(&*r.topic, "orders");
        }
        assert_eq!(records[0], records[1]);
        assert_eq!(records[1], records[2]);
    }
}
