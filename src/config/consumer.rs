//! [`ConsumerConfig`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::group_protocol::GroupProtocol;
use super::{Client, CommonConfig, Props, common_setters, millis};
use crate::error::ConfigError;

/// Where to start when a partition has no committed offset, or it is out of range
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AutoOffsetReset {
    /// `earliest`: the oldest retained record.
    Earliest,
    /// `latest` (default): the next record produced.
    #[default]
    Latest,
    /// `none`: fail the poll.
    None,
}

impl AutoOffsetReset {
    /// The property value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
            AutoOffsetReset::None => "none",
        }
    }
}

impl FromStr for AutoOffsetReset {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        [
            AutoOffsetReset::Earliest,
            AutoOffsetReset::Latest,
            AutoOffsetReset::None,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            ConfigError::new(
                "auto.offset.reset",
                format!("`{s}` is not one of: earliest, latest, none"),
            )
        })
    }
}

impl fmt::Display for AutoOffsetReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which transactional records a fetch returns (`isolation.level`, KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum IsolationLevel {
    /// `read_uncommitted` (default): everything, including open and aborted transactions.
    #[default]
    ReadUncommitted,
    /// `read_committed`: only committed transactional records, up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The property value.
    pub const fn as_str(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "read_uncommitted",
            IsolationLevel::ReadCommitted => "read_committed",
        }
    }

    /// The value sent in a Fetch request: 0 or 1.
    pub const fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl FromStr for IsolationLevel {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        [
            IsolationLevel::ReadUncommitted,
            IsolationLevel::ReadCommitted,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            ConfigError::new(
                "isolation.level",
                format!("`{s}` is not one of: read_uncommitted, read_committed"),
            )
        })
    }
}

impl fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partition assignor offered to the group (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Assignor {
    /// `range` (Java `RangeAssignor`): contiguous ranges of each topic's partitions.
    Range,
    /// `roundrobin` (Java `RoundRobinAssignor`): all partitions dealt out in turn.
    RoundRobin,
    /// `sticky` (Java `StickyAssignor`, KIP-54): balanced, moving as few partitions as
    /// possible; eager rebalancing.
    Sticky,
    /// `cooperative-sticky` (Java `CooperativeStickyAssignor`, KIP-429): sticky with
    /// incremental cooperative rebalancing.
    CooperativeSticky,
}

impl Assignor {
    const ALL: [Assignor; 4] = [
        Assignor::Range,
        Assignor::RoundRobin,
        Assignor::Sticky,
        Assignor::CooperativeSticky,
    ];

    /// The short name, also the protocol name sent in JoinGroup: `range`, `roundrobin`,
    /// `sticky` or `cooperative-sticky`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::Sticky => "sticky",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Java's class name for this assignor.
    pub const fn java_class(self) -> &'static str {
        match self {
            Assignor::Range => "org.apache.kafka.clients.consumer.RangeAssignor",
            Assignor::RoundRobin => "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            Assignor::Sticky => "org.apache.kafka.clients.consumer.StickyAssignor",
            Assignor::CooperativeSticky => {
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            }
        }
    }
}

impl FromStr for Assignor {
    type Err = ConfigError;

    /// Parses a short name or Java class name (case-insensitive).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        Assignor::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s) || a.java_class().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ConfigError::new(
                    "partition.assignment.strategy",
                    format!(
                        "`{s}` is not a supported assignor (range, roundrobin, sticky, \
                         cooperative-sticky)"
                    ),
                )
            })
    }
}

impl fmt::Display for Assignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated consumer configuration. Fields are named after their Java property; defaults
/// are Java 4.x's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Settings shared with the other clients.
    pub common: CommonConfig,
    /// `group.id` (default unset): needed for subscribing and committing offsets.
    pub group_id: Option<String>,
    /// `group.instance.id` (default unset): static membership (KIP-345); needs `group_id`.
    pub group_instance_id: Option<String>,
    /// `group.protocol` (default classic; `consumer` is KIP-848).
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor` (default unset: the broker's default): the broker-side assignor
    /// (`uniform` or `range`) with `group.protocol=consumer`.
    pub group_remote_assignor: Option<String>,
    /// `session.timeout.ms` (default 45 s, KIP-735): above `heartbeat_interval`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 s): below `session_timeout`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 5 min, KIP-62): longest gap between polls.
    pub max_poll_interval: Duration,
    /// `max.poll.records` (default 500, at least 1).
    pub max_poll_records: usize,
    /// `enable.auto.commit` (default true; false without `group_id`, where an explicit true
    /// is an error, as in Java).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms` (default 5 s).
    pub auto_commit_interval: Duration,
    /// `auto.offset.reset` (default [`AutoOffsetReset::Latest`]).
    pub auto_offset_reset: AutoOffsetReset,
    /// `fetch.min.bytes` (default 1): at most `fetch_max_bytes`.
    pub fetch_min_bytes: usize,
    /// `fetch.max.bytes` (default 50 MiB, KIP-74).
    pub fetch_max_bytes: usize,
    /// `max.partition.fetch.bytes` (default 1 MiB). Also sets the most one fetched batch may
    /// decompress to: 64 times this, at least 64 MiB, at most 1 GiB
    /// ([`Error::BatchTooLarge`](crate::Error::BatchTooLarge) past it).
    pub max_partition_fetch_bytes: usize,
    /// `fetch.buffer.memory` (default 64 MiB; not a Java setting): the most memory, in bytes,
    /// the consumer holds for fetched data `poll` has not returned yet — responses received
    /// (compressed, as on the wire), the most the fetches in flight may return, and decoded
    /// records. Fetches are not sent while it is full, and shrink their `fetch.max.bytes`
    /// to what is left, so a value below it or `max.partition.fetch.bytes` is
    /// fine. A compressed batch decompresses whole, and one step of progress is always allowed
    /// (else a batch larger than the budget would wait forever), so the worst case is this plus
    /// one batch decompressed (at most 64 times `max.partition.fetch.bytes`, at least 64 MiB)
    /// plus one decode step of records (1 MiB). Zero or negative fails `build()` naming the key.
    pub fetch_buffer_memory: usize,
    /// `fetch.max.wait.ms` (default 500 ms).
    pub fetch_max_wait: Duration,
    /// `check.crcs` (default true): verify fetched batches' CRC32C.
    pub check_crcs: bool,
    /// `trace.context.propagation` (ferrokafka only, default false; `true` needs feature
    /// `otel`): continue the producer's W3C trace context in `process` and `poll` spans
    /// (`crate::otel`).
    pub trace_context_propagation: bool,
    /// `isolation.level` (default [`IsolationLevel::ReadUncommitted`]).
    pub isolation_level: IsolationLevel,
    /// `partition.assignment.strategy` (default `[Range, CooperativeSticky]`, as Java 4.x):
    /// assignors in preference order, never empty.
    pub partition_assignment_strategy: Vec<Assignor>,
    /// `allow.auto.create.topics` (default true).
    pub allow_auto_create_topics: bool,
    /// `exclude.internal.topics` (default true).
    pub exclude_internal_topics: bool,
    /// `client.rack` (default empty = none, KIP-392): sent with every Fetch; a broker with a
    /// rack-aware replica selector then points the consumer at a follower in this rack, used
    /// until it errs or `metadata.max.age.ms` passes.
    pub client_rack: String,
    /// `default.api.timeout.ms` (default 60 s, KIP-266).
    pub default_api_timeout: Duration,
}

impl ConsumerConfig {
    /// A builder with nothing set.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder::default()
    }

    /// Parses and validates Java-style properties (later pairs win over earlier ones).
    pub fn from_properties<I, K, V>(props: I) -> Result<ConsumerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::from_props(&Props::parse(Client::Consumer, props)?)
    }

    /// Every consumer property, defaults included; [`from_properties`](Self::from_properties)
    /// of the result gives an equal config. Unset optional properties are written as empty
    /// strings, which parse back as unset; assignors are written by short name.
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        self.common.write(&mut out);
        let assignors: Vec<&str> = self
            .partition_assignment_strategy
            .iter()
            .map(|a| a.as_str())
            .collect();
        let pairs = [
            ("group.id", self.group_id.clone().unwrap_or_default()),
            (
                "group.instance.id",
                self.group_instance_id.clone().unwrap_or_default(),
            ),
            ("group.protocol", self.group_protocol.as_str().to_owned()),
            (
                "group.remote.assignor",
                self.group_remote_assignor.clone().unwrap_or_default(),
            ),
            ("session.timeout.ms", millis(self.session_timeout)),
            ("heartbeat.interval.ms", millis(self.heartbeat_interval)),
            ("max.poll.interval.ms", millis(self.max_poll_interval)),
            ("max.poll.records", self.max_poll_records.to_string()),
            ("enable.auto.commit", self.enable_auto_commit.to_string()),
            ("auto.commit.interval.ms", millis(self.auto_commit_interval)),
            (
                "auto.offset.reset",
                self.auto_offset_reset.as_str().to_owned(),
            ),
            ("fetch.min.bytes", self.fetch_min_bytes.to_string()),
            ("fetch.max.bytes", self.fetch_max_bytes.to_string()),
            (
                "max.partition.fetch.bytes",
                self.max_partition_fetch_bytes.to_string(),
            ),
            ("fetch.max.wait.ms", millis(self.fetch_max_wait)),
            ("fetch.buffer.memory", self.fetch_buffer_memory.to_string()),
            ("check.crcs", self.check_crcs.to_string()),
            (
                "trace.context.propagation",
                self.trace_context_propagation.to_string(),
            ),
            ("isolation.level", self.isolation_level.as_str().to_owned()),
            ("partition.assignment.strategy", assignors.join(",")),
            (
                "allow.auto.create.topics",
                self.allow_auto_create_topics.to_string(),
            ),
            (
                "exclude.internal.topics",
                self.exclude_internal_topics.to_string(),
            ),
            ("client.rack", self.client_rack.clone()),
            ("default.api.timeout.ms", millis(self.default_api_timeout)),
        ];
        out.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        if self.group_protocol == GroupProtocol::Consumer {
            // Refused with the consumer protocol even at their defaults (as Java does).
            for key in super::group_protocol::CLASSIC_ONLY {
                out.remove(*key);
            }
        }
        out
    }

    fn from_props(props: &Props) -> Result<ConsumerConfig, ConfigError> {
        let common = CommonConfig::from_props(props)?;
        let group_id = props.opt_string("group.id")?;
        let group_instance_id = props.opt_string("group.instance.id")?;
        if group_instance_id.is_some() && group_id.is_none() {
            return Err(ConfigError::new(
                "group.instance.id",
                "conflicts with group.id: static membership needs a group.id",
            ));
        }

        // Java: without a group, auto-commit is off; asking for it explicitly is an error.
        let mut enable_auto_commit = props.bool("enable.auto.commit")?;
        if group_id.is_none() && enable_auto_commit {
            if props.is_explicit("enable.auto.commit") {
                return Err(ConfigError::new(
                    "enable.auto.commit",
                    "true conflicts with group.id: auto-commit needs a group.id",
                ));
            }
            enable_auto_commit = false;
        }

        super::group_protocol::check(props)?;
        let session_timeout = props.duration("session.timeout.ms")?;
        let heartbeat_interval = props.duration("heartbeat.interval.ms")?;
        if heartbeat_interval >= session_timeout {
            return Err(ConfigError::new(
                "heartbeat.interval.ms",
                format!(
                    "{} ms conflicts with session.timeout.ms ({} ms): it must be lower",
                    heartbeat_interval.as_millis(),
                    session_timeout.as_millis()
                ),
            ));
        }

        let fetch_min_bytes = props.size("fetch.min.bytes")?;
        let fetch_max_bytes = props.size("fetch.max.bytes")?;
        if fetch_min_bytes > fetch_max_bytes {
            return Err(ConfigError::new(
                "fetch.min.bytes",
                format!(
                    "{fetch_min_bytes} conflicts with fetch.max.bytes ({fetch_max_bytes}): it \
                     must not be larger"
                ),
            ));
        }

        let partition_assignment_strategy = props
            .list("partition.assignment.strategy")?
            .iter()
            .map(|s| s.parse())
            .collect::<Result<Vec<Assignor>, _>>()?;
        if partition_assignment_strategy.is_empty() {
            return Err(ConfigError::new(
                "partition.assignment.strategy",
                "must name at least one assignor",
            ));
        }

        Ok(ConsumerConfig {
            group_id,
            group_instance_id,
            group_protocol: props.choice("group.protocol")?.parse()?,
            group_remote_assignor: props.opt_string("group.remote.assignor")?,
            session_timeout,
            heartbeat_interval,
            max_poll_interval: props.duration("max.poll.interval.ms")?,
            max_poll_records: props.int("max.poll.records")?,
            enable_auto_commit,
            auto_commit_interval: props.duration("auto.commit.interval.ms")?,
            auto_offset_reset: props.choice("auto.offset.reset")?.parse()?,
            fetch_min_bytes,
            fetch_max_bytes,
            max_partition_fetch_bytes: props.size("max.partition.fetch.bytes")?,
            fetch_buffer_memory: props.size("fetch.buffer.memory")?,
            fetch_max_wait: props.duration("fetch.max.wait.ms")?,
            check_crcs: props.bool("check.crcs")?,
            trace_context_propagation: super::common::trace_context_propagation(props)?,
            isolation_level: props.choice("isolation.level")?.parse()?,
            partition_assignment_strategy,
            allow_auto_create_topics: props.bool("allow.auto.create.topics")?,
            exclude_internal_topics: props.bool("exclude.internal.topics")?,
            client_rack: props.string("client.rack")?,
            default_api_timeout: props.duration("default.api.timeout.ms")?,
            common,
        })
    }
}

/// Collects consumer properties; [`build`](Self::build) checks them.
///
/// Every setter stores the raw string (never fails); the last write of a key wins, whether
/// by [`set`](Self::set) or a typed setter. Durations are stored as whole milliseconds.
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug, Clone, Default)]
pub struct ConsumerConfigBuilder {
    props: BTreeMap<String, String>,
}

impl ConsumerConfigBuilder {
    /// Sets any property by its Java name, e.g. `set("fetch.max.wait.ms", "100")`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    common_setters!();

    /// `group.id` (default unset).
    pub fn group_id(self, group: impl Into<String>) -> Self {
        self.set("group.id", group)
    }

    /// `group.instance.id` (default unset; needs a group id).
    pub fn group_instance_id(self, id: impl Into<String>) -> Self {
        self.set("group.instance.id", id)
    }

    /// `group.protocol` (default classic).
    pub fn group_protocol(self, protocol: GroupProtocol) -> Self {
        self.set("group.protocol", protocol.as_str())
    }

    /// `group.remote.assignor` (default unset): `uniform` or `range`, with
    /// `group.protocol=consumer` only.
    pub fn group_remote_assignor(self, assignor: impl Into<String>) -> Self {
        self.set("group.remote.assignor", assignor)
    }

    /// `session.timeout.ms` (default 45 s).
    pub fn session_timeout(self, timeout: Duration) -> Self {
        self.set("session.timeout.ms", millis(timeout))
    }

    /// `heartbeat.interval.ms` (default 3 s).
    pub fn heartbeat_interval(self, interval: Duration) -> Self {
        self.set("heartbeat.interval.ms", millis(interval))
    }

    /// `max.poll.interval.ms` (default 5 min).
    pub fn max_poll_interval(self, interval: Duration) -> Self {
        self.set("max.poll.interval.ms", millis(interval))
    }

    /// `max.poll.records` (default 500).
    pub fn max_poll_records(self, records: usize) -> Self {
        self.set("max.poll.records", records.to_string())
    }

    /// `enable.auto.commit` (default true when a group id is set).
    pub fn enable_auto_commit(self, enable: bool) -> Self {
        self.set("enable.auto.commit", enable.to_string())
    }

    /// `auto.commit.interval.ms` (default 5 s).
    pub fn auto_commit_interval(self, interval: Duration) -> Self {
        self.set("auto.commit.interval.ms", millis(interval))
    }

    /// `auto.offset.reset` (default latest).
    pub fn auto_offset_reset(self, reset: AutoOffsetReset) -> Self {
        self.set("auto.offset.reset", reset.as_str())
    }

    /// `fetch.min.bytes` (default 1).
    pub fn fetch_min_bytes(self, bytes: usize) -> Self {
        self.set("fetch.min.bytes", bytes.to_string())
    }

    /// `fetch.max.bytes` (default 52428800).
    pub fn fetch_max_bytes(self, bytes: usize) -> Self {
        self.set("fetch.max.bytes", bytes.to_string())
    }

    /// `max.partition.fetch.bytes` (default 1048576).
    pub fn max_partition_fetch_bytes(self, bytes: usize) -> Self {
        self.set("max.partition.fetch.bytes", bytes.to_string())
    }

    /// `fetch.buffer.memory` in bytes (default 64 MiB): see
    /// [`ConsumerConfig::fetch_buffer_memory`].
    pub fn fetch_buffer_memory(self, bytes: usize) -> Self {
        self.set("fetch.buffer.memory", bytes.to_string())
    }

    /// `fetch.max.wait.ms` (default 500 ms).
    pub fn fetch_max_wait(self, wait: Duration) -> Self {
        self.set("fetch.max.wait.ms", millis(wait))
    }

    /// `isolation.level` (default read_uncommitted).
    pub fn isolation_level(self, level: IsolationLevel) -> Self {
        self.set("isolation.level", level.as_str())
    }

    /// `partition.assignment.strategy` (default range, cooperative-sticky).
    pub fn partition_assignment_strategy(self, assignors: &[Assignor]) -> Self {
        let names: Vec<&str> = assignors.iter().map(|a| a.as_str()).collect();
        self.set("partition.assignment.strategy", names.join(","))
    }

    /// `client.rack` (default none).
    pub fn client_rack(self, rack: impl Into<String>) -> Self {
        self.set("client.rack", rack)
    }

    /// `default.api.timeout.ms` (default 60 s).
    pub fn default_api_timeout(self, timeout: Duration) -> Self {
        self.set("default.api.timeout.ms", millis(timeout))
    }

    /// Parses every value, applies defaults and checks conflicts.
    pub fn build(&self) -> Result<ConsumerConfig, ConfigError> {
        ConsumerConfig::from_properties(&self.props)
    }
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
