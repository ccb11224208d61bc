//! [`AdminConfig`] and its builder.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Client, CommonConfig, Props, common_setters, millis};
use crate::error::ConfigError;

/// A validated admin client configuration. Defaults are Java 4.x's `AdminClientConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Settings shared with the other clients (`connections.max.idle.ms` defaults to 5 min
    /// here, as in Java).
    pub common: CommonConfig,
    /// `default.api.timeout.ms` (default 60 s, KIP-266): deadline of an admin call given no
    /// explicit timeout.
    pub default_api_timeout: Duration,
}

impl AdminConfig {
    /// A builder with nothing set.
    pub fn builder() -> AdminConfigBuilder {
        AdminConfigBuilder::default()
    }

    /// Parses and validates Java-style properties (later pairs win over earlier ones).
    pub fn from_properties<I, K, V>(props: I) -> Result<AdminConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let props = Props::parse(Client::Admin, props)?;
        Ok(AdminConfig {
            common: CommonConfig::from_props(&props)?,
            default_api_timeout: props.duration("default.api.timeout.ms")?,
        })
    }

    /// Every admin property, defaults included; [`from_properties`](Self::from_properties) of
    /// the result gives an equal config.
    pub fn to_properties(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        self.common.write(&mut out);
        out.insert(
            "default.api.timeout.ms".to_owned(),
            millis(self.default_api_timeout),
        );
        out
    }
}

/// Collects admin client properties; [`build`](Self::build) checks them.
///
/// Every setter stores the raw string (never fails); the last write of a key wins, whether
/// by [`set`](Self::set) or a typed setter. Durations are stored as whole milliseconds.
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug, Clone, Default)]
pub struct AdminConfigBuilder {
    props: BTreeMap<String, String>,
}

impl AdminConfigBuilder {
    /// Sets any property by its Java name, e.g. `set("request.timeout.ms", "5000")`.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.insert(key.into(), value.into());
        self
    }

    common_setters!();

    /// `default.api.timeout.ms` (default 60 s).
    pub fn default_api_timeout(self, timeout: Duration) -> Self {
        self.set("default.api.timeout.ms", millis(timeout))
    }

    /// Parses every value and applies defaults.
    pub fn build(&self) -> Result<AdminConfig, ConfigError> {
        AdminConfig::from_properties(&self.props)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties_for;

    /// Java 4.x's admin client defaults, as written by `to_properties`.
    const JAVA_DEFAULTS: &[(&str, &str)] = &[
        ("api.versions.max", ""),
        ("bootstrap.servers", "localhost:9092"),
        ("client.dns.lookup", "use_all_dns_ips"),
        ("client.id", ""),
        ("connections.max.idle.ms", "300000"),
        ("default.api.timeout.ms", "60000"),
        ("metadata.max.age.ms", "300000"),
        ("metrics.num.samples", "2"),
        ("metrics.recording.level", "INFO"),
        ("metrics.sample.window.ms", "30000"),
        ("receive.buffer.bytes", "65536"),
        ("reconnect.backoff.max.ms", "1000"),
        ("reconnect.backoff.ms", "50"),
        ("request.timeout.ms", "30000"),
        ("retry.backoff.max.ms", "1000"),
        ("retry.backoff.ms", "100"),
        ("security.protocol", "PLAINTEXT"),
        ("send.buffer.bytes", "131072"),
        ("socket.connection.setup.timeout.max.ms", "30000"),
        ("socket.connection.setup.timeout.ms", "10000"),
    ];

    #[test]
    fn defaults_match_java() {
        let cfg = AdminConfig::from_properties([("bootstrap.servers", "localhost:9092")]).unwrap();
        let expected: BTreeMap<String, String> = JAVA_DEFAULTS
            .iter()
            .chain(crate::config::security::DEFAULTS)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(cfg.to_properties(), expected);
        assert_eq!(expected.len(), properties_for(Client::Admin).count());
        assert_eq!(cfg.default_api_timeout, Duration::from_secs(60));
    }

    #[test]
    fn round_trip_and_setters() {
        let cfg = AdminConfig::builder()
            .bootstrap_servers("b1:9092,b2:9093")
            .default_api_timeout(Duration::from_secs(1))
            .set("default.api.timeout.ms", "2500")
            .set("client.id", "x")
            .client_id("admin-1")
            .build()
            .unwrap();
        assert_eq!(cfg.default_api_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.common.client_id, "admin-1");
        assert_eq!(AdminConfig::from_properties(cfg.to_properties()), Ok(cfg));
    }

    #[test]
    fn wrong_client_keys() {
        let b = AdminConfig::builder().bootstrap_servers("a:1");
        let e = b.clone().set("group.id", "g").build().unwrap_err();
        assert_eq!(
            e.reason,
            "is a consumer property, not valid for the admin client"
        );
        let e = b.set("acks", "all").build().unwrap_err();
        assert_eq!(
            e.reason,
            "is a producer property, not valid for the admin client"
        );
    }
}
