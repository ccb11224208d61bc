//! [`ShareConsumerConfig`]: the share consumer's properties, named as Java's
//! `ShareConsumerConfig` (KIP-932).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{Client, CommonConfig, Props, Scope, lookup};
use crate::error::ConfigError;

/// How records are acknowledged (`share.acknowledgement.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AcknowledgementMode {
    /// `implicit` (default): every record of a poll is accepted by the next `poll`,
    /// `commit_sync`, `commit_async` or `close`.
    #[default]
    Implicit,
    /// `explicit`: each record is acknowledged with
    /// [`acknowledge`](super::KafkaShareConsumer::acknowledge); one left unacknowledged stays
    /// acquired until its lock expires, then the broker delivers it again.
    Explicit,
}

/// Keys of Java's consumer that a share consumer refuses (the broker's group config decides).
const REFUSED: &[&str] = &[
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "group.instance.id",
    "group.protocol",
    "group.remote.assignor",
    "heartbeat.interval.ms",
    "isolation.level",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "session.timeout.ms",
];

/// Settings of a [`KafkaShareConsumer`](super::KafkaShareConsumer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareConsumerConfig {
    /// Connection settings shared with the other clients.
    pub common: CommonConfig,
    /// `group.id` (required): the share group.
    pub group_id: String,
    /// `share.acknowledgement.mode` (default `implicit`).
    pub acknowledgement_mode: AcknowledgementMode,
    /// `max.poll.records` (default 500): most records one ShareFetch asks a broker for.
    pub max_poll_records: usize,
    /// `fetch.min.bytes` (default 1).
    pub fetch_min_bytes: usize,
    /// `fetch.max.bytes` (default 52428800 = 50 MiB).
    pub fetch_max_bytes: usize,
    /// `max.partition.fetch.bytes` (default 1048576 = 1 MiB).
    pub max_partition_fetch_bytes: usize,
    /// `fetch.max.wait.ms` (default 500 ms): longest a broker holds a ShareFetch for data.
    pub fetch_max_wait: Duration,
    /// `check.crcs` (default true).
    pub check_crcs: bool,
    /// `client.rack` (default empty).
    pub client_rack: String,
    /// `default.api.timeout.ms` (default 60 s): bound of `commit_sync` and `close`.
    pub default_api_timeout: Duration,
}

impl ShareConsumerConfig {
    /// Builds from `key=value` properties. Errors: a missing `group.id` or `bootstrap.servers`,
    /// a malformed value, a key the share consumer does not take (the classic consumer's
    /// `auto.offset.reset`, `session.timeout.ms`, ... or a producer key) or an unknown one.
    pub fn from_properties<I, K, V>(props: I) -> Result<ShareConsumerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut own = BTreeMap::new();
        let mut common = Vec::new();
        for (k, v) in props {
            let (k, v) = (k.as_ref().trim(), v.as_ref().trim());
            if REFUSED.contains(&k) {
                return Err(ConfigError::new(
                    k,
                    "not a share consumer property (a share group's broker-side config decides it)",
                ));
            }
            match k {
                "group.id"
                | "share.acknowledgement.mode"
                | "max.poll.records"
                | "fetch.min.bytes"
                | "fetch.max.bytes"
                | "max.partition.fetch.bytes"
                | "fetch.max.wait.ms"
                | "check.crcs"
                | "client.rack"
                | "default.api.timeout.ms" => {
                    own.insert(k.to_string(), v.to_string());
                }
                _ => match lookup(Client::Consumer, k) {
                    Some(p) if p.scope == Scope::COMMON || p.scope == Scope::CONSUMER_ADMIN => {
                        common.push((k.to_string(), v.to_string()));
                    }
                    _ => return Err(ConfigError::new(k, "unknown share consumer property")),
                },
            }
        }
        // The consumer's rows check the values and fill the defaults Java's share consumer has.
        let mut all = common;
        all.extend(
            own.iter()
                .filter(|(k, _)| k.as_str() != "share.acknowledgement.mode")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let parsed = Props::parse(Client::Consumer, all)?;
        let group_id = parsed.opt_string("group.id")?.unwrap_or_default();
        if group_id.trim().is_empty() {
            return Err(ConfigError::new("group.id", "required property is missing"));
        }
        let acknowledgement_mode = match own.get("share.acknowledgement.mode").map(String::as_str) {
            None => AcknowledgementMode::Implicit,
            Some(m) if m.eq_ignore_ascii_case("implicit") => AcknowledgementMode::Implicit,
            Some(m) if m.eq_ignore_ascii_case("explicit") => AcknowledgementMode::Explicit,
            Some(m) => {
                return Err(ConfigError::new(
                    "share.acknowledgement.mode",
                    format!("`{m}` is not one of: implicit, explicit"),
                ));
            }
        };
        Ok(ShareConsumerConfig {
            common: CommonConfig::from_props(&parsed)?,
            group_id,
            acknowledgement_mode,
            max_poll_records: parsed.int("max.poll.records")?,
            fetch_min_bytes: parsed.size("fetch.min.bytes")?,
            fetch_max_bytes: parsed.size("fetch.max.bytes")?,
            max_partition_fetch_bytes: parsed.size("max.partition.fetch.bytes")?,
            fetch_max_wait: parsed.duration("fetch.max.wait.ms")?,
            check_crcs: parsed.bool("check.crcs")?,
            client_rack: parsed.string("client.rack")?,
            default_api_timeout: parsed.duration("default.api.timeout.ms")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(extra: &[(&str, &str)]) -> Result<ShareConsumerConfig, ConfigError> {
        let mut props = vec![("bootstrap.servers", "127.0.0.1:9092"), ("group.id", "g")];
        props.extend_from_slice(extra);
        ShareConsumerConfig::from_properties(props)
    }

    #[test]
    fn defaults_and_refused_keys() {
        let c = build(&[]).expect("defaults");
        assert_eq!(c.acknowledgement_mode, AcknowledgementMode::Implicit);
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        let c = build(&[("share.acknowledgement.mode", "EXPLICIT")]).expect("explicit");
        assert_eq!(c.acknowledgement_mode, AcknowledgementMode::Explicit);

        for (key, value) in [
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("share.acknowledgement.mode", "sometimes"),
            ("acks", "all"),
            ("no.such.key", "1"),
            ("max.poll.records", "-1"),
        ] {
            let err = build(&[(key, value)]).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
        let err = ShareConsumerConfig::from_properties([("bootstrap.servers", "h:1")])
            .expect_err("no group");
        assert_eq!(err.key, "group.id");
    }
}
