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

/// The broker error codes the client and the MockCluster act on: one table, giving the
/// public [`ErrorCode`] constants and the `i16` values (`code::NAME`) that `match` arms use.
/// Names, descriptions and retriability of every code come from the protocol guide's table
/// (through `kafka-protocol`): [`ErrorCode::name`], [`ErrorCode::is_retriable`].
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        /// The codes of [`ErrorCode`]'s constants as plain `i16`, for `match` patterns.
        #[allow(dead_code)]
        pub(crate) mod code {
            $(pub(crate) const $name: i16 = $code;)*
        }
        impl ErrorCode {
            $($(#[$doc])* pub const $name: ErrorCode = ErrorCode($code);)*
        }
    };
}

error_codes! {
    /// The requested offset is outside the partition's log (code 1).
    OFFSET_OUT_OF_RANGE = 1;
    /// A record batch failed its CRC or is malformed (code 2).
    CORRUPT_MESSAGE = 2;
    /// The broker reported a topic or partition it does not host (code 3).
    UNKNOWN_TOPIC_OR_PARTITION = 3;
    /// The leader is not yet available (code 5).
    LEADER_NOT_AVAILABLE = 5;
    /// The broker is not the leader for the partition (code 6).
    NOT_LEADER_OR_FOLLOWER = 6;
    /// The request timed out on the broker (code 7).
    REQUEST_TIMED_OUT = 7;
    /// A batch is larger than the broker accepts (code 10).
    MESSAGE_TOO_LARGE = 10;
    /// The coordinator is still loading its state (code 14).
    COORDINATOR_LOAD_IN_PROGRESS = 14;
    /// The broker hosting the coordinator is not available (code 15).
    COORDINATOR_NOT_AVAILABLE = 15;
    /// The broker is not the coordinator for this group (code 16).
    NOT_COORDINATOR = 16;
    /// A produce request is larger than the broker accepts (code 18).
    RECORD_LIST_TOO_LARGE = 18;
    /// The batch was appended on the leader, then too few replicas were in sync (code 20).
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20;
    /// The member's generation is not the group's (code 22).
    ILLEGAL_GENERATION = 22;
    /// The member's protocol type or assignors do not match the group's (code 23).
    INCONSISTENT_GROUP_PROTOCOL = 23;
    /// The coordinator does not know this member id (code 25).
    UNKNOWN_MEMBER_ID = 25;
    /// The session timeout is outside the broker's bounds (code 26).
    INVALID_SESSION_TIMEOUT = 26;
    /// The group is rebalancing: rejoin (code 27).
    REBALANCE_IN_PROGRESS = 27;
    /// The requested API version is not supported (code 35).
    UNSUPPORTED_VERSION = 35;
    /// The topic already exists (code 36).
    TOPIC_ALREADY_EXISTS = 36;
    /// The broker is not the active controller (code 41).
    NOT_CONTROLLER = 41;
    /// A produce sequence number is not the next one the broker expects (code 45).
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
    /// The batch was written already (code 46).
    DUPLICATE_SEQUENCE_NUMBER = 46;
    /// The producer epoch is stale (code 47).
    INVALID_PRODUCER_EPOCH = 47;
    /// The request does not fit the transaction's state on the coordinator (code 48).
    INVALID_TXN_STATE = 48;
    /// The producer id is not the transactional id's current one (code 49).
    INVALID_PRODUCER_ID_MAPPING = 49;
    /// `transaction.timeout.ms` exceeds the broker's `transaction.max.timeout.ms` (code 50).
    INVALID_TRANSACTION_TIMEOUT = 50;
    /// The previous transaction of this transactional id is still completing (code 51).
    CONCURRENT_TRANSACTIONS = 51;
    /// The transaction coordinator's epoch is stale (code 52).
    TRANSACTION_COORDINATOR_FENCED = 52;
    /// The principal may not use this transactional id (code 53).
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53;
    /// The broker has no state for this producer id (code 59).
    UNKNOWN_PRODUCER_ID = 59;
    /// The group does not exist (code 69).
    GROUP_ID_NOT_FOUND = 69;
    /// The principal may not use this topic (code 29).
    TOPIC_AUTHORIZATION_FAILED = 29;
    /// The principal may not use this group (code 30).
    GROUP_AUTHORIZATION_FAILED = 30;
    /// The partition's leader epoch is older than the broker's (code 74).
    FENCED_LEADER_EPOCH = 74;
    /// The client's leader epoch is newer than the broker's (code 75).
    UNKNOWN_LEADER_EPOCH = 75;
    /// A first JoinGroup must be repeated with the member id it returns (code 79, KIP-394).
    MEMBER_ID_REQUIRED = 79;
    /// Another member took this static member's `group.instance.id` (code 82).
    FENCED_INSTANCE_ID = 82;
    /// A newer producer with the same `transactional.id` took over (code 90).
    PRODUCER_FENCED = 90;
    /// The member's epoch is fenced: it must give up its partitions and rejoin (code 110,
    /// KIP-848).
    FENCED_MEMBER_EPOCH = 110;
    /// Another member still holds this `group.instance.id` (code 111, KIP-848).
    UNRELEASED_INSTANCE_ID = 111;
    /// The broker has no such `group.remote.assignor` (code 112, KIP-848).
    UNSUPPORTED_ASSIGNOR = 112;
    /// A commit carried an older member epoch: retry with the current one (code 113, KIP-848).
    STALE_MEMBER_EPOCH = 113;
    /// The transaction cannot complete and must be aborted (code 120, KIP-890).
    TRANSACTION_ABORTABLE = 120;
}

impl ErrorCode {
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
        // 100: UNKNOWN_TOPIC_ID, 103: INCONSISTENT_TOPIC_ID.
        matches!(
            self.0,
            code::UNKNOWN_TOPIC_OR_PARTITION
                | code::LEADER_NOT_AVAILABLE
                | code::NOT_LEADER_OR_FOLLOWER
                | code::FENCED_LEADER_EPOCH
                | code::UNKNOWN_LEADER_EPOCH
                | 100
                | 103
        )
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

    /// A fetched record batch decodes to more than `limit` bytes in memory: its records
    /// decompress to more, or one of its records has more headers than that holds. A
    /// decompression bomb, or a batch far larger than producers write. `poll` returns it for
    /// this partition only (other partitions keep flowing), each time it reaches the batch: the
    /// position stays before it. `seek` to `next_offset` skips the batch; a larger
    /// `max.partition.fetch.bytes` raises the limit (64 times it, at least 64 MiB, at most
    /// 1 GiB).
    #[error(
        "record batch at offset {offset} of {partition} ({codec}) decodes to more than {limit} bytes"
    )]
    BatchTooLarge {
        /// The partition, as `topic-partition`.
        partition: String,
        /// The batch's first offset.
        offset: i64,
        /// The offset after the batch: where to `seek` to skip it.
        next_offset: i64,
        /// The batch's compression codec (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
        codec: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },

    /// A partition has no committed offset and `auto.offset.reset` is `none`, or its position
    /// fell outside the log with that setting.
    #[error("no offset for partition {partition} and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// The partition, as `topic-partition`.
        partition: String,
    },

    /// The log was truncated under the consumer's position (KIP-320: a leader change lost
    /// records the consumer had read) and `auto.offset.reset` is `none`. Seek to
    /// `diverging_offset` (the first offset the logs disagree on) or elsewhere to go on.
    #[error(
        "log truncation detected for {partition}: position {offset} (leader epoch {epoch}) is past \
         the log's end {diverging_offset} for that epoch, and auto.offset.reset is none"
    )]
    LogTruncation {
        /// The partition, as `topic-partition`.
        partition: String,
        /// The consumer's position when the truncation was found.
        offset: i64,
        /// The leader epoch of the last record consumed before `offset`.
        epoch: i32,
        /// The end offset of that epoch in the leader's log (OffsetForLeaderEpoch).
        diverging_offset: i64,
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

    /// The TLS handshake with a broker failed, or one side spoke TLS and the other did not.
    /// Not retriable: the same settings fail the same way (fix the certificates or
    /// `security.protocol`).
    #[error("TLS connection to {addr} failed: {kind}: {reason}")]
    Tls {
        /// The broker address.
        addr: String,
        /// What kind of failure.
        kind: TlsFailure,
        /// The details (from rustls or the connection).
        reason: String,
    },

    /// The broker rejected the SASL credentials (`SASL_AUTHENTICATION_FAILED`). Not retriable.
    #[error("SASL {mechanism} authentication with {addr} failed: {message}")]
    AuthenticationFailed {
        /// The broker address.
        addr: String,
        /// The mechanism used, e.g. `SCRAM-SHA-512`.
        mechanism: &'static str,
        /// The broker's message (it never holds the password), or what the client found wrong
        /// (e.g. a server signature that does not verify).
        message: String,
    },

    /// The broker does not enable the configured `sasl.mechanism`. Not retriable.
    #[error(
        "broker {addr} does not enable SASL mechanism {mechanism}; it enables: {}",
        .enabled.join(", ")
    )]
    UnsupportedSaslMechanism {
        /// The broker address.
        addr: String,
        /// The mechanism asked for.
        mechanism: &'static str,
        /// The mechanisms the broker enables on this listener.
        enabled: Vec<String>,
    },

    /// Another producer with the same `transactional.id` called `init_transactions` (or the
    /// broker saw a newer epoch of this producer): this one is fenced. Fatal: every later
    /// transactional call fails with it; close the producer.
    #[error("producer with transactional.id {transactional_id} fenced: {reason}")]
    ProducerFenced {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// The broker's answer that fenced it.
        reason: String,
    },

    /// The transactional producer hit an error it cannot recover from (for instance
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Every later transactional call fails with it;
    /// close the producer.
    #[error("transactional producer failed fatally: {0}")]
    TransactionFatal(String),

    /// The current transaction cannot commit (a send or an offset commit in it failed): call
    /// `abort_transaction`, then begin a new one.
    #[error("transaction must be aborted: {0}")]
    TransactionAbortable(String),

    /// The call does not fit the transactional producer's state (for instance a send or a
    /// commit outside a transaction, or `begin_transaction` before `init_transactions`).
    #[error("invalid transaction state: {0}")]
    TransactionState(String),

    /// A caller passed an argument that cannot work.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A consumed record's key or value did not deserialize. Only that record is lost: the
    /// consumer's position is past it and the next record is read as usual.
    #[error("cannot deserialize the {part} of {topic}-{partition} at offset {offset}: {message}")]
    Deserialization {
        /// Topic of the record.
        topic: String,
        /// Partition of the record.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// Key or value.
        part: crate::serialization::RecordPart,
        /// The deserializer's message.
        message: String,
    },

    /// A record's key or value did not serialize; nothing was sent.
    #[error("cannot serialize the {part} of a record for {topic}: {message}")]
    Serialization {
        /// Topic of the record.
        topic: String,
        /// Key or value.
        part: crate::serialization::RecordPart,
        /// The serializer's message.
        message: String,
    },

    /// Application code the client calls (a [`Partitioner`](crate::producer::Partitioner), a
    /// delivery callback, a [`RebalanceListener`](crate::RebalanceListener)) panicked. The
    /// client caught the panic, logged it at error level, and keeps working.
    #[error("{what} panicked: {message}")]
    UserCode {
        /// Which code panicked, e.g. `partitioner`.
        what: &'static str,
        /// The panic message (`<non-string panic payload>` when the payload was not a string).
        message: String,
    },
}

/// Why a TLS connection failed ([`Error::Tls`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The broker's certificate is not signed by a trusted CA (`ssl.truststore.*`).
    UntrustedCertificate,
    /// The broker's certificate does not name the host connected to
    /// (`ssl.endpoint.identification.algorithm`).
    HostnameMismatch,
    /// The broker's certificate has expired or is not valid yet.
    ExpiredCertificate,
    /// The broker rejected this client's certificate, or needs one and got none
    /// (`ssl.keystore.*`).
    ClientCertificateRejected,
    /// The broker's port does not speak TLS (a PLAINTEXT or SASL_PLAINTEXT listener).
    NotTlsListener,
    /// The client does not use TLS but the broker's port does (set `security.protocol` to SSL
    /// or SASL_SSL).
    TlsListener,
    /// Any other handshake failure.
    Handshake,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::UntrustedCertificate => "broker certificate not trusted",
            TlsFailure::HostnameMismatch => "broker certificate does not match the host name",
            TlsFailure::ExpiredCertificate => "broker certificate expired or not yet valid",
            TlsFailure::ClientCertificateRejected => "client certificate missing or rejected",
            TlsFailure::NotTlsListener => "the broker port does not speak TLS",
            TlsFailure::TlsListener => "the broker port expects TLS",
            TlsFailure::Handshake => "handshake failed",
        })
    }
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
            // Bad credentials or certificates at every bootstrap server: retrying cannot help.
            Error::NoBrokerReachable { last, .. } => last.is_retriable(),
            Error::Connect { .. }
            | Error::Disconnected { .. }
            | Error::RequestTimeout { .. }
            | Error::Timeout(_)
            | Error::DeliveryTimeout { .. } => true,
            _ => false,
        }
    }

    /// Whether this is a TLS or SASL failure (bad certificate, wrong password, ...), also at
    /// the bottom of a [`Error::NoBrokerReachable`]: retrying with the same settings cannot
    /// help, so callers waiting for metadata give up at once (as Java's clients do).
    pub(crate) fn is_security_failure(&self) -> bool {
        match self {
            Error::Tls { .. }
            | Error::AuthenticationFailed { .. }
            | Error::UnsupportedSaslMechanism { .. } => true,
            Error::NoBrokerReachable { last, .. } => last.is_security_failure(),
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
