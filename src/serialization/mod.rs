//! Serializers and deserializers for record keys and values, as Java's
//! `org.apache.kafka.common.serialization`: [`Raw`] bytes, [`Utf8`] strings, [`BigEndian`]
//! numbers (Java's byte order), and `Json` (serde, feature `json`).
//!
//! They sit beside the untyped API: [`TypedProducerRecord::serialize`] makes a
//! [`ProducerRecord`](crate::ProducerRecord), and
//! [`ConsumerRecord::deserialize`](crate::ConsumerRecord::deserialize) makes a
//! [`TypedConsumerRecord`]; `send` and `poll` stay on bytes.

#[cfg(feature = "json")]
mod json;
mod primitives;
mod typed;

use bytes::Bytes;

#[cfg(feature = "json")]
pub use json::Json;
pub use primitives::{BigEndian, Raw, Utf8};
pub use typed::{TypedConsumerRecord, TypedProducerRecord};

/// Why a value did not (de)serialize: the codec's message. The record helpers wrap it in
/// [`Error::Serialization`](crate::Error::Serialization) or
/// [`Error::Deserialization`](crate::Error::Deserialization) with the record's coordinates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

/// Turns a `T` into the bytes of a key or value.
pub trait Serializer<T: ?Sized> {
    /// The bytes of `data`.
    ///
    /// Errors: [`CodecError`] when `data` cannot be written in this format.
    fn serialize(&self, data: &T) -> Result<Bytes, CodecError>;
}

/// Reads a `T` from the bytes of a key or value (a null key or value never reaches it: the
/// typed record holds `None`).
pub trait Deserializer<T> {
    /// The value the bytes hold. Takes `Bytes` so that [`Raw`] can return them without a copy.
    ///
    /// Errors: [`CodecError`] when the bytes are not a valid `T`.
    fn deserialize(&self, data: &Bytes) -> Result<T, CodecError>;
}

/// Which part of a record a (de)serialization error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPart {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl std::fmt::Display for RecordPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordPart::Key => "key",
            RecordPart::Value => "value",
        })
    }
}

#[cfg(test)]
mod tests;
