//! Record-level types shared by the producer and the consumer.
//!
//! Field meanings follow the "Record Batch" section of the Kafka protocol guide
//! (<https://kafka.apache.org/documentation/#recordbatch>).

use bytes::Bytes;

/// One record header, as added to the record format by KIP-82.
///
/// Keys need not be unique: a record may carry several headers with the same key, and their
/// order is kept on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header key (UTF-8 on the wire).
    pub key: String,
    /// The header value; `None` is a null value, distinct from an empty one.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a (non-null) value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A header whose value is null.
    pub fn null(key: impl Into<String>) -> Self {
        Header {
            key: key.into(),
            value: None,
        }
    }
}

/// What a record's timestamp means (attribute bit 3 of a record batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer, in milliseconds since the Unix epoch.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch to the log (topic config
    /// `message.timestamp.type=LogAppendTime`), in milliseconds since the Unix epoch.
    LogAppendTime,
}

pub use crate::types::TopicPartition;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constructors() {
        let h = Header::new("k", &b"v"[..]);
        assert_eq!(h.key, "k");
        assert_eq!(h.value.as_deref(), Some(&b"v"[..]));
        let h = Header::new(String::from("k"), Vec::new());
        assert_eq!(h.value, Some(Bytes::new()));
        assert_eq!(Header::null("k").value, None);
        assert_eq!(TimestampType::default(), TimestampType::CreateTime);
    }
}
