//! Typed records: the untyped ones with their key and value (de)serialized.

use std::sync::Arc;

use bytes::Bytes;

use super::{CodecError, Deserializer, RecordPart, Serializer};
use crate::consumer::ConsumerRecord;
use crate::error::{Error, Result};
use crate::producer::{IntoTopic, ProducerRecord};
use crate::record::{Header, TimestampType};

/// A record to send with a typed key and value; [`serialize`](Self::serialize) makes the
/// [`ProducerRecord`] that [`KafkaProducer::send`](crate::KafkaProducer::send) takes.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedProducerRecord<K, V> {
    /// Topic name.
    pub topic: Arc<str>,
    /// Explicit partition; `None` lets the partitioner choose from the serialized key.
    pub partition: Option<i32>,
    /// Key (`None` is a null key).
    pub key: Option<K>,
    /// Value (`None` is a null value, a tombstone).
    pub value: Option<V>,
    /// Headers (KIP-82), in order.
    pub headers: Vec<Header>,
    /// CreateTime in ms since the Unix epoch; `None` = now.
    pub timestamp: Option<i64>,
}

impl<K, V> TypedProducerRecord<K, V> {
    /// A record with a value and nothing else.
    pub fn new(topic: impl IntoTopic, value: V) -> Self {
        TypedProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// A record with a key and a null value (a delete on a compacted topic).
    pub fn tombstone(topic: impl IntoTopic, key: K) -> Self {
        TypedProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: Some(key),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Sets the CreateTime (ms since the Unix epoch).
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// The untyped record, key and value serialized (a `None` stays null).
    ///
    /// Errors: [`Error::Serialization`] with the topic and the part that failed.
    pub fn serialize<KS, VS>(
        self,
        key_serializer: &KS,
        value_serializer: &VS,
    ) -> Result<ProducerRecord>
    where
        KS: Serializer<K> + ?Sized,
        VS: Serializer<V> + ?Sized,
    {
        let fail = |part, e: CodecError| Error::Serialization {
            topic: self.topic.to_string(),
            part,
            message: e.0,
        };
        let key = match &self.key {
            Some(k) => Some(
                key_serializer
                    .serialize(k)
                    .map_err(|e| fail(RecordPart::Key, e))?,
            ),
            None => None,
        };
        let value = match &self.value {
            Some(v) => Some(
                value_serializer
                    .serialize(v)
                    .map_err(|e| fail(RecordPart::Value, e))?,
            ),
            None => None,
        };
        Ok(ProducerRecord {
            topic: self.topic,
            partition: self.partition,
            key,
            value,
            headers: self.headers,
            timestamp: self.timestamp,
        })
    }
}

/// A consumed record with a typed key and value, from
/// [`ConsumerRecord::deserialize`].
#[derive(Debug, Clone, PartialEq)]
pub struct TypedConsumerRecord<K, V> {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition id.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Timestamp in ms since the Unix epoch; see `timestamp_type`.
    pub timestamp: i64,
    /// CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// Key (`None` is null).
    pub key: Option<K>,
    /// Value (`None` is null).
    pub value: Option<V>,
    /// Headers (KIP-82), in order.
    pub headers: Vec<Header>,
    /// Leader epoch of the batch (KIP-320), when the broker set one.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// This record with its key and value deserialized (a null stays `None`; the
    /// deserializers never see it).
    ///
    /// Errors: [`Error::Deserialization`] with the record's topic, partition, offset and the
    /// part that failed. The consumer is not affected: its position is already past this
    /// record, so the next poll (or stream item) is the next record.
    pub fn deserialize<K, V, KD, VD>(
        &self,
        key_deserializer: &KD,
        value_deserializer: &VD,
    ) -> Result<TypedConsumerRecord<K, V>>
    where
        KD: Deserializer<K> + ?Sized,
        VD: Deserializer<V> + ?Sized,
    {
        let fail = |part, e: CodecError| Error::Deserialization {
            topic: self.topic.to_string(),
            partition: self.partition,
            offset: self.offset,
            part,
            message: e.0,
        };
        let key = match &self.key {
            Some(k) => Some(
                key_deserializer
                    .deserialize(k)
                    .map_err(|e| fail(RecordPart::Key, e))?,
            ),
            None => None,
        };
        let value = match &self.value {
            Some(v) => Some(
                value_deserializer
                    .deserialize(v)
                    .map_err(|e| fail(RecordPart::Value, e))?,
            ),
            None => None,
        };
        Ok(TypedConsumerRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            timestamp_type: self.timestamp_type,
            key,
            value,
            headers: self.headers.clone(),
            leader_epoch: self.leader_epoch,
        })
    }
}
