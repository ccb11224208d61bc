//! [`ProducerConfig`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Client, CommonConfig, Props, common_setters, millis};
use crate::error::ConfigError;

/// Acknowledgements a produce request waits for (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Acks {
    /// `0`: none; the request gets no response and sends cannot be retried.
    None,
    /// `1`: the partition leader has written the records.
    Leader,
    /// `all` or `-1` (default): every in-sync replica has the records.
    #[default]
    All,
}

impl Acks {
    /// The property value: `0`, `1` or `all`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }

    /// The value sent in a Produce request: 0, 1 or -1.
    pub const fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl FromStr for Acks {
    type Err = ConfigError;

    /// Parses `all`, `-1`, `1` or `0` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "-1" => Ok(Acks::All),
            s if s.eq_ignore_ascii_case("all") => Ok(Acks::All),
            _ => Err(ConfigError::new(
                "acks",
                format!("`{s}` is not one of: all, -1, 0, 1"),
            )),
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Partitioner for records sent without an explicit partition (`partitioner.class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PartitionerKind {
    /// Empty or `default` (default): murmur2 hash of the key; keyless records stick to one
    /// partition per batch, adaptively (KIP-480, KIP-794).
    #[default]
    Default,
    /// `round_robin` or `org.apache.kafka.clients.producer.RoundRobinPartitioner`: rotate
    /// over the available partitions, record by record.
    RoundRobin,
}

impl PartitionerKind {
    /// The property value: empty for [`PartitionerKind::Default`] (Java's default), else
    /// `round_robin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PartitionerKind::Default => "",
            PartitionerKind::RoundRobin => "round_robin",
        }
    }
}

impl FromStr for PartitionerKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("default") {
            Ok(PartitionerKind::Default)
        } else if s.eq_ignore_ascii_case("round_robin")
            || s.eq_ignore_ascii_case("org.apache.kafka.clients.producer.RoundRobinPartitioner")
        {
            Ok(PartitionerKind::RoundRobin)
        } else {
            Err(ConfigError::new(
                "partitioner.class",
                format!("`{s}` is not a supported partitioner (default or round_robin)"),
            ))
        }
    }
}

/// Codec names accepted by `compression.type`.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// The largest number of in-flight requests the idempotent producer allows (Java's limit).
const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// A validated producer configuration. Fields are named after their Java property; defaults
/// are Java 4.x's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Settings shared with the other clients.
    pub common: CommonConfig,
    /// `acks` (default [`Acks::All`]).
    pub acks: Acks,
    /// `enable.idempotence` (default true, KIP-98/KIP-679). When not set explicitly it is
    /// turned off if `acks` is not all, `retries` is 0 or more than 5 requests may be in
    /// flight; when set to true explicitly those are errors.
    pub enable_idempotence: bool,
    /// `linger.ms` (default 5 ms, KIP-1030): how long a batch waits for more records.
    pub linger: Duration,
    /// `batch.size` (default 16384 bytes): target batch size per partition; 0 disables
    /// batching.
    pub batch_size: usize,
    /// `buffer.memory` (default 32 MiB): bytes the producer may hold for records not yet
    /// delivered. A new batch reserves what its partition's last batch held (at least 1 KiB,
    /// at most `batch.size`, or its one larger record) before it is allocated, and more in
    /// doublings up to `batch.size` as it fills (a batch that cannot grow is sent as it is;
    /// Java reserves `batch.size` up front); a sent batch the size of its (compressed) wire bytes, and a Produce request
    /// its frame until written (acks=0) or answered; a send waits up to `max.block.ms` for
    /// room. `batch.size` is capped at this value.
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60 s): longest a send blocks for metadata or buffer space.
    pub max_block: Duration,
    /// `delivery.timeout.ms` (default 120 s, KIP-91): bound on a send's outcome, retries
    /// included. At least `linger + request_timeout`: an explicit smaller value is an error,
    /// the default is raised to it (as Java does).
    pub delivery_timeout: Duration,
    /// `max.request.size` (default 1 MiB): largest produce request, in bytes.
    pub max_request_size: usize,
    /// `max.in.flight.requests.per.connection` (default 5, at least 1).
    pub max_in_flight_requests_per_connection: usize,
    /// `retries` (default 2147483647): retry bound; `delivery_timeout` bounds the time.
    pub retries: u32,
    /// `compression.type` (default `none`): one of `none`, `gzip`, `snappy`, `lz4`, `zstd`,
    /// lowercase.
    pub compression_type: String,
    /// `compression.gzip.level` (default -1 = codec default; else 1..=9, KIP-390).
    pub compression_gzip_level: i32,
    /// `compression.lz4.level` (default 9; 1..=17, KIP-390).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level` (default 3; -131072..=22, KIP-390).
    pub compression_zstd_level: i32,
    /// `partitioner.class` (default [`PartitionerKind::Default`]).
    pub partitioner: PartitionerKind,
    /// `partitioner.ignore.keys` (default false, KIP-794): the default partitioner places
    /// keyed records as if keyless.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (default true, KIP-794): the default
    /// partitioner favours faster brokers for keyless records.
    pub partitioner_adaptive_partitioning_enable: bool,
    /// `partitioner.availability.timeout.ms` (default 0 = off, KIP-794): the default
    /// partitioner skips partitions whose broker had no ready batch for this long.
    pub partitioner_availability_timeout: Duration,
    /// `trace.context.propagation` (ferrokafka only, default false; `true` needs feature
    /// `otel`): add W3C `traceparent`/`tracestate` headers to records sent (`crate::otel`).
    pub trace_context_propagation: bool,
    /// `transactional.id` (default unset): makes the producer transactional (it needs
    /// idempotence); see `KafkaProducer::init_transactions`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60 s).
    pub transaction_timeout: Duration,
}

impl ProducerConfig {
    /// A builder with nothing set.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// Parses and validates Java-style properties (later pairs win over earlier ones).
    pub fn from_properties<I, K, V>(props: I) -> Result<ProducerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::from_props(&Props::parse(Client::Producer, props)?)
    }

    /// Every producer property, defaults included; [`from_properties`](Self::from_properties)
    /// of the result gives an equal config. Unset optional properties are written as empty
    /// strings, which parse back as unset.
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        self.common.write(&mut out);
        let pairs = [
            ("acks", self.acks.as_str().to_owned()),
            ("enable.idempotence", self.enable_idempotence.to_string()),
            ("linger.ms", millis(self.linger)),
            ("batch.size", self.batch_size.to_string()),
            ("buffer.memory", self.buffer_memory.to_string()),
            ("max.block.ms", millis(self.max_block)),
            ("delivery.timeout.ms", millis(self.delivery_timeout)),
            ("max.request.size", self.max_request_size.to_string()),
            (
                "max.in.flight.requests.per.connection",
                self.max_in_flight_requests_per_connection.to_string(),
            ),
            ("retries", self.retries.to_string()),
            ("compression.type", self.compression_type.clone()),
            (
                "compression.gzip.level",
                self.compression_gzip_level.to_string(),
            ),
            (
                "compression.lz4.level",
                self.compression_lz4_level.to_string(),
            ),
            (
                "compression.zstd.level",
                self.compression_zstd_level.to_string(),
            ),
            ("partitioner.class", self.partitioner.as_str().to_owned()),
            (
                "trace.context.propagation",
                self.trace_context_propagation.to_string(),
            ),
            (
                "partitioner.ignore.keys",
                self.partitioner_ignore_keys.to_string(),
            ),
            (
                "partitioner.adaptive.partitioning.enable",
                self.partitioner_adaptive_partitioning_enable.to_string(),
            ),
            (
                "partitioner.availability.timeout.ms",
                millis(self.partitioner_availability_timeout),
            ),
            (
                "transactional.id",
                self.transactional_id.clone().unwrap_or_default(),
            ),
            ("transaction.timeout.ms", millis(self.transaction_timeout)),
        ];
        out.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        out
    }

    fn from_props(props: &Props) -> Result<ProducerConfig, ConfigError> {
        let common = CommonConfig::from_props(props)?;
        let acks: Acks = props.choice("acks")?.parse()?;
        let max_in_flight: usize = props.int("max.in.flight.requests.per.connection")?;
        let retries: u32 = props.int("retries")?;

        // Idempotence needs acks=all, retries and at most 5 in-flight requests: an explicit
        // `true` makes a conflict an error, the default quietly yields (Java 3.2+, KIP-679).
        let mut enable_idempotence = props.bool("enable.idempotence")?;
        let mut disabled_by = None;
        if enable_idempotence {
            let conflict = if acks != Acks::All {
                Some(("acks", format!("acks={acks}"), "acks=all"))
            } else if max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT {
                Some((
                    "max.in.flight.requests.per.connection",
                    format!("max.in.flight.requests.per.connection={max_in_flight}"),
                    "at most 5 requests in flight",
                ))
            } else if retries == 0 {
                Some(("retries", "retries=0".to_owned(), "retries > 0"))
            } else {
                None
            };
            if let Some((key, setting, needed)) = conflict {
                if props.is_explicit("enable.idempotence") {
                    return Err(ConfigError::new(
                        key,
                        format!(
                            "{setting} conflicts with enable.idempotence=true: the idempotent \
                             producer needs {needed}"
                        ),
                    ));
                }
                enable_idempotence = false;
                disabled_by = Some(setting);
            }
        }

        let transactional_id = props.opt_string("transactional.id")?;
        if transactional_id.is_some() && !enable_idempotence {
            let cause = disabled_by.map_or_else(String::new, |s| {
                format!(" (idempotence is off because {s})")
            });
            return Err(ConfigError::new(
                "transactional.id",
                format!(
                    "conflicts with enable.idempotence=false: transactions need the idempotent \
                     producer{cause}"
                ),
            ));
        }

        // Settings we do not implement are refused, never silently ignored.
        // lz4_flex compresses at one (fast) level; the default stands for "the codec's level".
        if props.int::<i32>("compression.lz4.level")? != 9 {
            return Err(ConfigError::new(
                "compression.lz4.level",
                "is not supported: lz4 is compressed at a single level (leave the default 9)",
            ));
        }
        if !props
            .duration("partitioner.availability.timeout.ms")?
            .is_zero()
        {
            return Err(ConfigError::new(
                "partitioner.availability.timeout.ms",
                "is not supported yet: only 0 (partitions of slow brokers are not skipped)",
            ));
        }

        // Java's rule: delivery.timeout.ms >= linger.ms + request.timeout.ms. An explicit
        // smaller value is an error; the default is raised to the sum.
        let linger = props.duration("linger.ms")?;
        let floor = linger.saturating_add(common.request_timeout);
        let mut delivery_timeout = props.duration("delivery.timeout.ms")?;
        if delivery_timeout < floor {
            let fits = floor.as_millis() <= i32::MAX as u128;
            if props.is_explicit("delivery.timeout.ms") || !fits {
                return Err(ConfigError::new(
                    "delivery.timeout.ms",
                    format!(
                        "{} ms conflicts with linger.ms + request.timeout.ms ({} ms): it must \
                         be at least their sum",
                        delivery_timeout.as_millis(),
                        floor.as_millis()
                    ),
                ));
            }
            delivery_timeout = floor;
        }

        let compression_gzip_level: i32 = props.int("compression.gzip.level")?;
        if compression_gzip_level == 0 {
            return Err(ConfigError::new(
                "compression.gzip.level",
                "`0` is out of range: must be -1 (codec default) or between 1 and 9",
            ));
        }
        let compression_type = props.choice("compression.type")?;
        debug_assert!(CODECS.contains(&compression_type));

        Ok(ProducerConfig {
            acks,
            enable_idempotence,
            linger,
            batch_size: props.size("batch.size")?,
            buffer_memory: props.size("buffer.memory")?,
            max_block: props.duration("max.block.ms")?,
            delivery_timeout,
            max_request_size: props.size("max.request.size")?,
            max_in_flight_requests_per_connection: max_in_flight,
            retries,
            compression_type: compression_type.to_owned(),
            compression_gzip_level,
            compression_lz4_level: props.int("compression.lz4.level")?,
            compression_zstd_level: props.int("compression.zstd.level")?,
            partitioner: props.choice("partitioner.class")?.parse()?,
            partitioner_ignore_keys: props.bool("partitioner.ignore.keys")?,
            partitioner_adaptive_partitioning_enable: props
                .bool("partitioner.adaptive.partitioning.enable")?,
            partitioner_availability_timeout: props
                .duration("partitioner.availability.timeout.ms")?,
            trace_context_propagation: super::common::trace_context_propagation(props)?,
            transactional_id,
            transaction_timeout: props.duration("transaction.timeout.ms")?,
            common,
        })
    }
}

/// Collects producer properties; [`build`](Self::build) checks them.
///
/// Every setter stores the raw string (never fails); the last write of a key wins, whether
/// by [`set`](Self::set) or a typed setter. Durations are stored as whole milliseconds.
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug, Clone, Default)]
pub struct ProducerConfigBuilder {
    props: BTreeMap<String, String>,
}

impl ProducerConfigBuilder {
    /// Sets any property by its Java name, e.g. `set("linger.ms", "10")`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    common_setters!();

    /// `acks` (default all).
    pub fn acks(self, acks: Acks) -> Self {
        self.set("acks", acks.as_str())
    }

    /// `enable.idempotence` (default true). Setting it, even to true, makes conflicts errors.
    pub fn enable_idempotence(self, enable: bool) -> Self {
        self.set("enable.idempotence", enable.to_string())
    }

    /// `linger.ms` (default 5 ms).
    pub fn linger(self, linger: Duration) -> Self {
        self.set("linger.ms", millis(linger))
    }

    /// `batch.size` in bytes (default 16384).
    pub fn batch_size(self, bytes: usize) -> Self {
        self.set("batch.size", bytes.to_string())
    }

    /// `buffer.memory` in bytes (default 33554432).
    pub fn buffer_memory(self, bytes: usize) -> Self {
        self.set("buffer.memory", bytes.to_string())
    }

    /// `max.block.ms` (default 60 s).
    pub fn max_block(self, max: Duration) -> Self {
        self.set("max.block.ms", millis(max))
    }

    /// `delivery.timeout.ms` (default 120 s).
    pub fn delivery_timeout(self, timeout: Duration) -> Self {
        self.set("delivery.timeout.ms", millis(timeout))
    }

    /// `max.request.size` in bytes (default 1048576).
    pub fn max_request_size(self, bytes: usize) -> Self {
        self.set("max.request.size", bytes.to_string())
    }

    /// `max.in.flight.requests.per.connection` (default 5).
    pub fn max_in_flight_requests_per_connection(self, n: usize) -> Self {
        self.set("max.in.flight.requests.per.connection", n.to_string())
    }

    /// `retries` (default 2147483647).
    pub fn retries(self, retries: u32) -> Self {
        self.set("retries", retries.to_string())
    }

    /// `compression.type`: `none`, `gzip`, `snappy`, `lz4` or `zstd` (default none). Takes
    /// any value that displays as a codec name.
    pub fn compression(self, codec: impl fmt::Display) -> Self {
        self.set("compression.type", codec.to_string())
    }

    /// `partitioner.class` (default [`PartitionerKind::Default`]).
    pub fn partitioner(self, partitioner: PartitionerKind) -> Self {
        self.set("partitioner.class", partitioner.as_str())
    }

    /// `transactional.id` (default unset): the producer's identity across restarts for
    /// transactions; a new producer with the same id fences the old one.
    pub fn transactional_id(self, id: impl Into<String>) -> Self {
        self.set("transactional.id", id)
    }

    /// Parses every value, applies defaults and checks conflicts.
    pub fn build(&self) -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::from_properties(&self.props)
    }
}

#[cfg(test)]
#[path = "producer_tests.rs"]
mod tests;
