//! Errors returned by every ferrokafka API.
//!
//! [`Error`] is the one error type; [`ErrorCode`] names a broker error code from the
//! [protocol guide's error table](https://kafka.apache.org/protocol#protocol_error_codes).

use std::fmt;

use kafka_protocol::error::ResponseError;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Kafka error code as sent by a broker (`0` is success and never wrapped here).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// The broker reported a topic or partition it does not host (code 3).
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// The broker is not the leader for the partition (code 6).
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    /// The request timed out on the broker (code 7).
    pub const REQUEST_TIMED_OUT: ErrorCode = ErrorCode(7);
    /// The broker hosting the coordinator is not available (code 15).
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    /// The broker is not the coordinator for this group (code 16).
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
    /// The topic already exists (code 36).
    pub const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
    /// The requested API version is not supported (code 35).
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// The leader is not yet available (code 5).
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    /// The partition's leader epoch is older than the broker's (code 74).
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    /// The client's leader epoch is newer than the broker's (code 75).
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);

    /// The error's name as the protocol guide spells it, e.g. `NOT_LEADER_OR_FOLLOWER`.
    pub fn name(&self) -> String {
        match ResponseError::try_from_code(self.0) {
            Some(ResponseError::Unknown(_)) | None => format!("UNKNOWN_CODE_{}", self.0),
            Some(e) => screaming_snake(&format!("{e:?}")),
        }
    }

    /// Whether the protocol guide marks this code retriable (a retry may succeed).
    pub fn is_retriable(&self) -> bool {
        ResponseError::try_from_code(self.0).is_some_and(|e| e.is_retriable())
    }

    /// `None` for code 0 (no error), else the code.
    pub fn from_code(code: i16) -> Option<ErrorCode> {
        (code != 0).then_some(ErrorCode(code))
    }

    /// Whether this error means the client's cached metadata (leaders, partitions) is stale.
    pub fn invalidates_metadata(&self) -> bool {
        matches!(self.0, 3 | 5 | 6 | 74 | 75 | 100 | 103)
    }
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.name(), self.0)
    }
}

/// An invalid configuration, found when a config is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config `{key}`: {reason}")]
pub struct ConfigError {
    /// The property at fault (for a conflict, the first of the conflicting keys).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Every error ferrokafka returns.
///
/// Cheap to clone (a failed connection completes every waiter with the same error).
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A configuration property is missing, unknown, malformed or conflicts with another.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A broker answered with an error code.
    #[error("broker error {code}{}", fmt_context(.context))]
    Broker {
        /// The error code.
        code: ErrorCode,
        /// What was being done (topic, partition, API), for the reader of the message.
        context: String,
    },

    /// No connection could be made to a broker.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// The `host:port` that was tried.
        addr: String,
        /// Why it failed.
        reason: String,
    },

    /// None of `bootstrap.servers` could be reached.
    #[error("no bootstrap server reachable (tried {tried}): {last}")]
    NoBrokerReachable {
        /// The addresses tried, comma separated.
        tried: String,
        /// The last failure.
        last: Box<Error>,
    },

    /// The connection failed (I/O error, broker closed it, or undecodable data) while a request
    /// was outstanding. The request may or may not have been processed by the broker.
    #[error("connection to {addr} failed: {reason}")]
    Disconnected {
        /// The broker address.
        addr: String,
        /// What went wrong.
        reason: String,
    },

    /// No response within `request.timeout.ms`. The broker may still have processed the request.
    #[error("{api} request to {addr} timed out after {timeout_ms} ms")]
    RequestTimeout {
        /// The API name, e.g. `Metadata`.
        api: &'static str,
        /// The broker address.
        addr: String,
        /// The timeout that ran out, in milliseconds.
        timeout_ms: u64,
    },

    /// An operation did not finish within its deadline.
    #[error("timed out: {0}")]
    Timeout(String),

    /// Neither side supports a common version of an API.
    #[error(
        "broker {addr} supports {api} versions {broker_min}..={broker_max}, we support {client_min}..={client_max}: no overlap"
    )]
    UnsupportedVersion {
        /// The API name.
        api: &'static str,
        /// The broker address.
        addr: String,
        /// Lowest version the broker supports (-1 when it does not support the API at all).
        broker_min: i16,
        /// Highest version the broker supports (-1 when it does not support the API at all).
        broker_max: i16,
        /// Lowest version this client supports (after user caps).
        client_min: i16,
        /// Highest version this client supports (after user caps).
        client_max: i16,
    },

    /// Bytes from the network could not be decoded, or a response broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),

    /// Record data failed a check (CRC, length, compression) while decoding.
    #[error("corrupt record data: {0}")]
    CorruptRecord(String),

    /// Compression or decompression failed.
    #[error("{codec} compression error: {reason}")]
    Compression {
        /// The codec name.
        codec: &'static str,
        /// What failed.
        reason: String,
    },

    /// A topic, partition or broker the operation needs is not in the cluster metadata.
    #[error("unknown: {0}")]
    Unknown(String),

    /// The client was closed.
    #[error("client closed")]
    Closed,

    /// A record is larger than a limit allows (`max.request.size`, `buffer.memory`, or the
    /// broker's `message.max.bytes` for a batch holding one record).
    #[error("record of {size} bytes exceeds {setting} ({limit} bytes)")]
    RecordTooLarge {
        /// The record's serialized size in a batch, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
        /// The setting that sets the limit.
        setting: &'static str,
    },

    /// A partition has no committed offset and `auto.offset.reset` is `none`, or its position
    /// fell outside the log with that setting.
    #[error("no offset for partition {partition} and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// The partition, as `topic-partition`.
        partition: String,
    },

    /// A record was not acknowledged within `delivery.timeout.ms` (or before `close` gave up).
    #[error(
        "record not delivered within {timeout_ms} ms ({}): {reason}",
        if *.may_have_been_written { "it may have been written" } else { "it was never sent" }
    )]
    DeliveryTimeout {
        /// The timeout that expired, in milliseconds.
        timeout_ms: u64,
        /// Whether the record was sent at least once, so the broker may hold it.
        may_have_been_written: bool,
        /// The last error seen, or why the record was still queued.
        reason: String,
    },

    /// A caller passed an argument that cannot work.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn fmt_context(ctx: &str) -> String {
    if ctx.is_empty() {
        String::new()
    } else {
        format!(" ({ctx})")
    }
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Broker { code, .. } => code.is_retriable(),
            Error::Connect { .. }
            | Error::NoBrokerReachable { .. }
            | Error::Disconnected { .. }
            | Error::RequestTimeout { .. }
            | Error::Timeout(_)
            | Error::DeliveryTimeout { .. } => true,
            _ => false,
        }
    }

    /// The broker error code, when the error came from a broker.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn broker(code: i16, context: impl Into<String>) -> Error {
        Error::Broker {
            code: ErrorCode(code),
            context: context.into(),
        }
    }

    /// Converts a `kafka-protocol` codec error (an `anyhow::Error`) so it never leaks out.
    pub(crate) fn protocol(what: &str, e: impl fmt::Display) -> Error {
        Error::Protocol(format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_retriable() {
        assert_eq!(ErrorCode(6).name(), "NOT_LEADER_OR_FOLLOWER");
        assert!(ErrorCode(6).is_retriable());
        assert_eq!(ErrorCode(36).name(), "TOPIC_ALREADY_EXISTS");
        assert!(!ErrorCode(36).is_retriable());
        assert_eq!(ErrorCode(-999).name(), "UNKNOWN_CODE_-999");
        let e = Error::broker(36, "topic t");
        assert_eq!(
            e.to_string(),
            "broker error TOPIC_ALREADY_EXISTS (code 36) (topic t)"
        );
        assert_eq!(e.code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS));
    }
}
