//! Client configuration: [`ProducerConfig`], [`ConsumerConfig`] and [`AdminConfig`].
//!
//! Keys, meanings and defaults follow the Java client of Apache Kafka 4.x, so an existing
//! `.properties` file mostly carries over. Every accepted key is listed in [`PROPERTIES`]
//! with its [`Scope`], [`Kind`], default and documentation.
//!
//! A config is made with its builder (raw `set(key, value)` calls and typed setters, last
//! write wins) or with `from_properties`; `build` parses every value and fails with a
//! [`ConfigError`] naming the key at fault when a key is unknown, belongs to another client,
//! has a malformed or out-of-range value, or conflicts with another key. `to_properties`
//! writes every property back, defaults included, so that `from_properties` of it gives an
//! equal config.
//!
//! Values are trimmed before parsing. Booleans are `true`/`false` (any case); durations are
//! whole milliseconds; sizes are whole bytes; enum names match case-insensitively; lists are
//! comma-separated with no empty entries.
//!
//! ```
//! use std::time::Duration;
//! use ferrokafka::config::{Acks, ConsumerConfig, ProducerConfig};
//!
//! let producer = ProducerConfig::builder()
//!     .bootstrap_servers("broker1:9092,broker2:9092")
//!     .linger(Duration::from_millis(10))
//!     .set("compression.type", "zstd")
//!     .build()?;
//! assert_eq!(producer.acks, Acks::All);
//! assert!(producer.enable_idempotence);
//!
//! let consumer = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "orders"),
//! ])?;
//! assert_eq!(ConsumerConfig::from_properties(consumer.to_properties())?, consumer);
//!
//! let err = ConsumerConfig::from_properties([("bootstrap.servers", "localhost:9092"), ("linger.ms", "5")])
//!     .unwrap_err();
//! assert_eq!(err.key, "linger.ms");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
mod common;
mod consumer;
mod group_protocol;
mod jaas;
mod oauth;
mod producer;
mod security;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::ConfigError;

pub use admin::{AdminConfig, AdminConfigBuilder};
pub use common::{ClientDnsLookup, CommonConfig, SecurityProtocol};
pub use consumer::{
    Assignor, AutoOffsetReset, ConsumerConfig, ConsumerConfigBuilder, IsolationLevel,
};
pub use group_protocol::GroupProtocol;
pub use oauth::{
    OAuthBearerConfig, OAuthBearerToken, OAuthBearerTokenProvider, TokenError, TokenFuture,
    TokenProvider,
};
pub use producer::{Acks, PartitionerKind, ProducerConfig, ProducerConfigBuilder};
#[cfg(feature = "tls")]
pub use security::RustlsClientConfig;
pub use security::{
    Password, SaslCredentials, SaslMechanism, SecurityConfig, StoreType, TlsVersion,
};
pub use table::{DefaultValue, Kind, PROPERTIES, Property, Scope, lookup, properties_for};

/// The kind of client a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Client {
    /// [`ProducerConfig`].
    Producer,
    /// [`ConsumerConfig`].
    Consumer,
    /// [`AdminConfig`].
    Admin,
}

impl Client {
    /// `"producer"`, `"consumer"` or `"admin"`.
    pub const fn name(self) -> &'static str {
        match self {
            Client::Producer => "producer",
            Client::Consumer => "consumer",
            Client::Admin => "admin",
        }
    }
}

/// A parsed property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i64),
    Duration(Duration),
    Size(u64),
    Str(String),
    /// The matching name as the table spells it.
    Choice(&'static str),
    List(Vec<String>),
    ApiVersions(BTreeMap<i16, i16>),
}

impl Kind {
    /// Parses an (already trimmed) value of property `key`.
    pub(crate) fn parse(&self, key: &str, raw: &str) -> Result<Value, ConfigError> {
        Ok(match *self {
            Kind::Bool => Value::Bool(parse_bool(key, raw)?),
            Kind::Int { min, max } => {
                Value::Int(parse_number(key, raw, "an integer", "", min.into(), max.into())? as i64)
            }
            Kind::Duration { min_ms, max_ms } => {
                Value::Duration(Duration::from_millis(parse_number(
                    key,
                    raw,
                    "a duration in whole milliseconds",
                    " ms",
                    min_ms.into(),
                    max_ms.into(),
                )? as u64))
            }
            Kind::Size { min, max } => Value::Size(parse_number(
                key,
                raw,
                "a size in whole bytes",
                " bytes",
                min.into(),
                max.into(),
            )? as u64),
            Kind::String | Kind::Password => Value::Str(raw.to_owned()),
            Kind::Enum(allowed) => Value::Choice(parse_choice(key, raw, allowed)?),
            Kind::EnumList(allowed) => Value::List(
                parse_list(key, raw)?
                    .iter()
                    .map(|e| parse_choice(key, e, allowed).map(str::to_owned))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::HostList => Value::List(parse_hosts(key, raw)?),
            Kind::ApiVersions => Value::ApiVersions(parse_api_versions(key, raw)?),
        })
    }
}

fn parse_bool(key: &str, raw: &str) -> Result<bool, ConfigError> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::new(
            key,
            format!("`{raw}` is not a boolean: expected true or false"),
        ))
    }
}

/// Parses a whole number and checks it against `min..=max` (the error names the range).
fn parse_number(
    key: &str,
    raw: &str,
    what: &str,
    unit: &str,
    min: i128,
    max: i128,
) -> Result<i128, ConfigError> {
    let n: i128 = raw
        .parse()
        .map_err(|_| ConfigError::new(key, format!("`{raw}` is not {what}")))?;
    if n < min || n > max {
        return Err(ConfigError::new(
            key,
            format!("`{raw}` is out of range: must be between {min} and {max}{unit}"),
        ));
    }
    Ok(n)
}

fn parse_choice(
    key: &str,
    raw: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str, ConfigError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(raw))
        .copied()
        .ok_or_else(|| {
            let names: Vec<String> = allowed
                .iter()
                .map(|a| {
                    if a.is_empty() {
                        "\"\"".to_owned()
                    } else {
                        (*a).to_owned()
                    }
                })
                .collect();
            ConfigError::new(key, format!("`{raw}` is not one of: {}", names.join(", ")))
        })
}

/// Splits a comma-separated list, trimming entries. A blank value is the empty list; an empty
/// entry (`a,,b`, `a,`) is an error.
fn parse_list(key: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',')
        .map(|e| {
            let e = e.trim();
            if e.is_empty() {
                Err(ConfigError::new(key, format!("`{raw}` has an empty entry")))
            } else {
                Ok(e.to_owned())
            }
        })
        .collect()
}

fn parse_hosts(key: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    let entries = parse_list(key, raw)?;
    if entries.is_empty() {
        return Err(ConfigError::new(
            key,
            "must list at least one broker as host:port",
        ));
    }
    for e in &entries {
        check_host_port(e).map_err(|why| ConfigError::new(key, format!("`{e}`: {why}")))?;
    }
    Ok(entries)
}

/// Checks one `host:port` or `[ipv6]:port` entry.
fn check_host_port(entry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("missing `]` after the IPv6 address")?;
        let port = after
            .strip_prefix(':')
            .ok_or("no port: expected [ipv6]:port")?;
        let ip = addr.split_once('%').map_or(addr, |(ip, _zone)| ip);
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        (None, port)
    } else {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or("no port: expected host:port")?;
        if host.contains(':') {
            return Err("IPv6 addresses go in brackets, e.g. [::1]:9092".to_owned());
        }
        (Some(host), port)
    };
    if let Some(host) = host {
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !ok {
            return Err(format!("`{host}` is not a valid host name"));
        }
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!("`{port}` is not a valid port (1-65535)")),
    }
}

fn parse_api_versions(key: &str, raw: &str) -> Result<BTreeMap<i16, i16>, ConfigError> {
    let err = |why: String| ConfigError::new(key, why);
    let mut caps = BTreeMap::new();
    for entry in parse_list(key, raw)? {
        let (name, version) = entry
            .split_once('=')
            .ok_or_else(|| err(format!("`{entry}`: expected ApiName=version")))?;
        let (name, version) = (name.trim(), version.trim());
        let api = match name.parse::<i16>() {
            Ok(k) if k >= 0 => k,
            Ok(_) => return Err(err(format!("`{name}` is not a valid API key"))),
            Err(_) => crate::protocol::versions::api_key_from_name(name)
                .ok_or_else(|| err(format!("unknown API name `{name}`")))?,
        };
        let v = version
            .parse::<i16>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                err(format!(
                    "`{version}` is not a valid version for {name} (0-32767)"
                ))
            })?;
        if caps.insert(api, v).is_some() {
            return Err(err(format!("`{name}` is listed more than once")));
        }
    }
    Ok(caps)
}

/// A duration as whole milliseconds (sub-millisecond parts are truncated; saturates at the
/// largest Java `long`).
pub(crate) fn millis(d: Duration) -> String {
    d.as_millis().min(i64::MAX as u128).to_string()
}

/// The raw properties of one client after key checks, with defaults filled in.
#[derive(Debug)]
pub(crate) struct Props {
    client: Client,
    values: BTreeMap<&'static str, String>,
    explicit: BTreeSet<&'static str>,
}

impl Props {
    /// Checks every key and value (in key order, so the first error is deterministic) and
    /// fills in defaults. Later pairs override earlier ones with the same key.
    pub(crate) fn parse<I, K, V>(client: Client, raw: I) -> Result<Props, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut given = BTreeMap::new();
        for (k, v) in raw {
            given.insert(k.as_ref().to_owned(), v.as_ref().trim().to_owned());
        }
        let mut values = BTreeMap::new();
        let mut explicit = BTreeSet::new();
        for (key, value) in given {
            let prop = table::resolve(client, &key).map_err(|why| ConfigError::new(&key, why))?;
            prop.kind.parse(prop.name, &value)?;
            explicit.insert(prop.name);
            values.insert(prop.name, value);
        }
        for prop in properties_for(client) {
            if values.contains_key(prop.name) {
                continue;
            }
            match prop.default {
                DefaultValue::Value(v) => {
                    values.insert(prop.name, v.to_owned());
                }
                DefaultValue::Unset => {}
                DefaultValue::Required => {
                    return Err(ConfigError::new(prop.name, "required property is missing"));
                }
            }
        }
        Ok(Props {
            client,
            values,
            explicit,
        })
    }

    /// Whether the user gave `key` (rather than it taking its default).
    pub(crate) fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains(key)
    }

    /// The parsed value of `key`, or `None` when it is unset.
    fn value(&self, key: &str) -> Result<Option<Value>, ConfigError> {
        let prop = lookup(self.client, key).ok_or_else(|| internal(key))?;
        self.values
            .get(key)
            .map(|raw| prop.kind.parse(key, raw))
            .transpose()
    }

    fn get(&self, key: &str) -> Result<Value, ConfigError> {
        self.value(key)?.ok_or_else(|| internal(key))
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match self.get(key)? {
            Value::Bool(b) => Ok(b),
            _ => Err(internal(key)),
        }
    }

    /// An `Int` property, narrowed to `T` (the table's range guarantees it fits).
    pub(crate) fn int<T: TryFrom<i64>>(&self, key: &str) -> Result<T, ConfigError> {
        match self.get(key)? {
            Value::Int(n) => T::try_from(n).map_err(|_| internal(key)),
            _ => Err(internal(key)),
        }
    }

    pub(crate) fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        match self.get(key)? {
            Value::Duration(d) => Ok(d),
            _ => Err(internal(key)),
        }
    }

    pub(crate) fn size(&self, key: &str) -> Result<usize, ConfigError> {
        match self.get(key)? {
            Value::Size(n) => usize::try_from(n)
                .map_err(|_| ConfigError::new(key, format!("{n} is too large for this platform"))),
            _ => Err(internal(key)),
        }
    }

    /// A `String` property; unset reads as empty.
    pub(crate) fn string(&self, key: &str) -> Result<String, ConfigError> {
        Ok(self.opt_string(key)?.unwrap_or_default())
    }

    /// A `String` property; unset or empty reads as `None`.
    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key)? {
            None => Ok(None),
            Some(Value::Str(s)) => Ok((!s.is_empty()).then_some(s)),
            Some(_) => Err(internal(key)),
        }
    }

    /// A `Password` property; unset or empty reads as `None`.
    pub(crate) fn password(&self, key: &str) -> Result<Option<security::Password>, ConfigError> {
        Ok(self.opt_string(key)?.map(security::Password::new))
    }

    /// An `Enum` property: the matching name as the table spells it.
    pub(crate) fn choice(&self, key: &str) -> Result<&'static str, ConfigError> {
        match self.get(key)? {
            Value::Choice(c) => Ok(c),
            _ => Err(internal(key)),
        }
    }

    pub(crate) fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        match self.get(key)? {
            Value::List(l) => Ok(l),
            _ => Err(internal(key)),
        }
    }

    pub(crate) fn api_versions(&self, key: &str) -> Result<BTreeMap<i16, i16>, ConfigError> {
        match self.get(key)? {
            Value::ApiVersions(m) => Ok(m),
            _ => Err(internal(key)),
        }
    }
}

/// A getter that does not match the table: a bug in this module, not in the user's input.
fn internal(key: &str) -> ConfigError {
    ConfigError::new(
        key,
        "internal error: property read with the wrong kind (please report)",
    )
}

/// Builder methods shared by every client's builder; expands inside an `impl` that has
/// `fn set(self, key, value) -> Self`.
macro_rules! common_setters {
    () => {
        /// `bootstrap.servers`: comma-separated `host:port` list (required).
        pub fn bootstrap_servers(self, servers: impl Into<String>) -> Self {
            self.set("bootstrap.servers", servers)
        }

        /// `client.id`: name sent to brokers (default: generated).
        pub fn client_id(self, id: impl Into<String>) -> Self {
            self.set("client.id", id)
        }

        /// `request.timeout.ms` (default 30 s). Whole milliseconds; finer parts are dropped.
        pub fn request_timeout(self, timeout: ::std::time::Duration) -> Self {
            self.set("request.timeout.ms", $crate::config::millis(timeout))
        }

        /// `metadata.max.age.ms` (default 5 min).
        pub fn metadata_max_age(self, age: ::std::time::Duration) -> Self {
            self.set("metadata.max.age.ms", $crate::config::millis(age))
        }

        /// `retry.backoff.ms` (default 100 ms).
        pub fn retry_backoff(self, backoff: ::std::time::Duration) -> Self {
            self.set("retry.backoff.ms", $crate::config::millis(backoff))
        }

        /// `retry.backoff.max.ms` (default 1 s).
        pub fn retry_backoff_max(self, backoff: ::std::time::Duration) -> Self {
            self.set("retry.backoff.max.ms", $crate::config::millis(backoff))
        }

        /// `reconnect.backoff.ms` (default 50 ms).
        pub fn reconnect_backoff(self, backoff: ::std::time::Duration) -> Self {
            self.set("reconnect.backoff.ms", $crate::config::millis(backoff))
        }

        /// `reconnect.backoff.max.ms` (default 1 s).
        pub fn reconnect_backoff_max(self, backoff: ::std::time::Duration) -> Self {
            self.set("reconnect.backoff.max.ms", $crate::config::millis(backoff))
        }

        /// `socket.connection.setup.timeout.ms` (default 10 s).
        pub fn socket_connection_setup_timeout(self, timeout: ::std::time::Duration) -> Self {
            self.set(
                "socket.connection.setup.timeout.ms",
                $crate::config::millis(timeout),
            )
        }

        /// `connections.max.idle.ms` (default 9 min; admin 5 min).
        pub fn connections_max_idle(self, idle: ::std::time::Duration) -> Self {
            self.set("connections.max.idle.ms", $crate::config::millis(idle))
        }

        /// `security.protocol`: PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.
        pub fn security_protocol(self, protocol: $crate::config::SecurityProtocol) -> Self {
            self.set("security.protocol", protocol.as_str())
        }

        /// `sasl.mechanism` and `sasl.jaas.config` for a user name and password (any
        /// characters; they are quoted as JAAS needs).
        pub fn sasl_credentials(
            self,
            mechanism: $crate::config::SaslMechanism,
            username: &str,
            password: &str,
        ) -> Self {
            self.set("sasl.mechanism", mechanism.as_str()).set(
                "sasl.jaas.config",
                $crate::config::security::jaas_config(mechanism, username, password),
            )
        }

        /// `api.versions.max` (ferrokafka only): caps per API, e.g. `"Fetch=12,Produce=9"`.
        pub fn api_versions_max(self, caps: impl Into<String>) -> Self {
            self.set("api.versions.max", caps)
        }
    };
}
pub(crate) use common_setters;

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Kind {
        lookup(Client::Producer, name)
            .or_else(|| lookup(Client::Consumer, name))
            .unwrap()
            .kind
    }

    #[test]
    fn bool_values() {
        assert_eq!(parse_bool("k", "TRUE"), Ok(true));
        assert_eq!(parse_bool("k", "False"), Ok(false));
        let e = parse_bool("k", "yes").unwrap_err();
        assert_eq!(e.key, "k");
        assert!(
            e.reason.contains("`yes`") && e.reason.contains("boolean"),
            "{e}"
        );
    }

    #[test]
    fn numbers_and_ranges() {
        let k = kind("linger.ms");
        assert_eq!(
            k.parse("linger.ms", "7"),
            Ok(Value::Duration(Duration::from_millis(7)))
        );
        let e = k.parse("linger.ms", "abc").unwrap_err();
        assert_eq!(e.key, "linger.ms");
        assert!(e.reason.contains("`abc`") && e.reason.contains("milliseconds"));
        let e = k.parse("linger.ms", "-1").unwrap_err();
        assert!(
            e.reason.contains("between 0 and 9223372036854775807 ms"),
            "{e}"
        );
        let e = k.parse("linger.ms", "1.5").unwrap_err();
        assert!(e.reason.contains("not a duration"), "{e}");
        let e = kind("batch.size")
            .parse("batch.size", "99999999999")
            .unwrap_err();
        assert!(e.reason.contains("between 0 and 2147483647 bytes"), "{e}");
        let e = kind("retries").parse("retries", "1e3").unwrap_err();
        assert!(e.reason.contains("not an integer"), "{e}");
    }

    #[test]
    fn choices_and_lists() {
        let k = kind("compression.type");
        assert_eq!(k.parse("c", "ZSTD"), Ok(Value::Choice("zstd")));
        let e = k.parse("compression.type", "brotli").unwrap_err();
        assert!(e.reason.contains("none, gzip, snappy, lz4, zstd"), "{e}");
        let e = kind("partitioner.class").parse("p", "x").unwrap_err();
        assert!(
            e.reason.starts_with("`x` is not one of: \"\", default"),
            "{e}"
        );
        assert_eq!(parse_list("k", " a , b "), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(parse_list("k", "  "), Ok(vec![]));
        assert!(
            parse_list("k", "a,,b")
                .unwrap_err()
                .reason
                .contains("empty entry")
        );
        assert!(parse_list("k", "a,").is_err());
    }

    #[test]
    fn host_entries() {
        for ok in [
            "localhost:9092",
            "[::1]:9092",
            "[fe80::1%eth0]:1",
            "a-b.c_d:65535",
        ] {
            assert_eq!(check_host_port(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("localhost", "no port"),
            ("host:99999", "not a valid port"),
            ("host:0", "not a valid port"),
            ("host:", "not a valid port"),
            (":9092", "not a valid host"),
            ("::1:9092", "brackets"),
            ("[::1]", "no port"),
            ("[::1:9092", "missing `]`"),
            ("[zz]:9092", "not an IPv6"),
            ("ho st:1", "not a valid host"),
        ] {
            let e = check_host_port(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn api_version_caps() {
        let m = parse_api_versions("api.versions.max", "Fetch=12, produce = 9,18=3").unwrap();
        assert_eq!(m, BTreeMap::from([(0, 9), (1, 12), (18, 3)]));
        assert_eq!(parse_api_versions("k", ""), Ok(BTreeMap::new()));
        for (bad, why) in [
            ("Fetc=12", "unknown API name `Fetc`"),
            ("Fetch=x", "`x` is not a valid version for Fetch"),
            ("Fetch=-1", "not a valid version"),
            ("Fetch", "expected ApiName=version"),
            ("Fetch=1,fetch=2", "more than once"),
            ("-3=1", "not a valid API key"),
        ] {
            let e = parse_api_versions("api.versions.max", bad).unwrap_err();
            assert_eq!(e.key, "api.versions.max");
            assert!(e.reason.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn millis_truncates_and_saturates() {
        assert_eq!(millis(Duration::from_micros(1500)), "1");
        assert_eq!(millis(Duration::MAX), i64::MAX.to_string());
    }

    #[test]
    fn props_last_write_wins_and_defaults() {
        let p = Props::parse(
            Client::Producer,
            [
                ("bootstrap.servers", "a:1"),
                ("linger.ms", "1"),
                ("linger.ms", " 2 "),
            ],
        )
        .unwrap();
        assert_eq!(p.duration("linger.ms"), Ok(Duration::from_millis(2)));
        assert!(p.is_explicit("linger.ms"));
        assert!(!p.is_explicit("acks"));
        assert_eq!(p.choice("acks"), Ok("all"));
        assert_eq!(p.opt_string("transactional.id"), Ok(None));
        // Reading with the wrong getter is an internal error, not a panic.
        assert!(p.bool("linger.ms").unwrap_err().reason.contains("internal"));
        assert!(p.bool("group.id").is_err());
    }

    #[test]
    fn props_errors_come_in_key_order() {
        let e = Props::parse(
            Client::Producer,
            [
                ("zzz.unknown", "1"),
                ("batch.size", "x"),
                ("bootstrap.servers", "a:1"),
            ],
        )
        .unwrap_err();
        assert_eq!(e.key, "batch.size");
        let e = Props::parse(Client::Consumer, [("group.id", "g")]).unwrap_err();
        assert_eq!(
            e,
            ConfigError::new("bootstrap.servers", "required property is missing")
        );
    }
}
