//! Settings every client shares, embedded as `common` in each client's config.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::security::SecurityConfig;
use super::{Props, millis};
use crate::error::ConfigError;

/// How broker host names are resolved (`client.dns.lookup`, KIP-235 / KIP-302).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientDnsLookup {
    /// `use_all_dns_ips` (default): try every address a name resolves to, in turn.
    #[default]
    UseAllDnsIps,
    /// `resolve_canonical_bootstrap_servers_only`: expand each bootstrap entry to its
    /// canonical host names first (for Kerberos setups behind aliases).
    ResolveCanonicalBootstrapServersOnly,
}

impl ClientDnsLookup {
    /// The property value, e.g. `use_all_dns_ips`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientDnsLookup::UseAllDnsIps => "use_all_dns_ips",
            ClientDnsLookup::ResolveCanonicalBootstrapServersOnly => {
                "resolve_canonical_bootstrap_servers_only"
            }
        }
    }
}

impl FromStr for ClientDnsLookup {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        [
            ClientDnsLookup::UseAllDnsIps,
            ClientDnsLookup::ResolveCanonicalBootstrapServersOnly,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| ConfigError::new("client.dns.lookup", format!("`{s}` is not a lookup mode")))
    }
}

impl fmt::Display for ClientDnsLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport to the brokers (`security.protocol`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// `PLAINTEXT` (default): unauthenticated, unencrypted TCP.
    #[default]
    Plaintext,
    /// `SSL`: TLS, optionally with a client certificate (mutual TLS).
    Ssl,
    /// `SASL_PLAINTEXT`: SASL authentication over unencrypted TCP.
    SaslPlaintext,
    /// `SASL_SSL`: SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// The property value, e.g. `PLAINTEXT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections run over TLS (SSL, SASL_SSL).
    pub const fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL (SASL_PLAINTEXT, SASL_SSL).
    pub const fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

impl FromStr for SecurityProtocol {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let s = s.trim();
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ConfigError::new(
                    "security.protocol",
                    format!("`{s}` is not one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
                )
            })
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings shared by producer, consumer and admin client. Defaults are Java 4.x's for the
/// client the config belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommonConfig {
    /// `bootstrap.servers` (required): brokers to fetch the first metadata from, each
    /// `host:port` or `[ipv6]:port`, trimmed, in the order given.
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default empty): name sent in request headers; empty means the client
    /// generates one when it starts.
    pub client_id: String,
    /// `client.dns.lookup` (default [`ClientDnsLookup::UseAllDnsIps`]).
    pub client_dns_lookup: ClientDnsLookup,
    /// `request.timeout.ms` (default 30 s): wait for one response before failing or retrying.
    pub request_timeout: Duration,
    /// `metadata.max.age.ms` (default 5 min): refresh metadata at least this often.
    pub metadata_max_age: Duration,
    /// `reconnect.backoff.ms` (default 50 ms): first wait before reconnecting to a broker.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1 s): cap on the exponential reconnect wait.
    /// Never below `reconnect_backoff` (a smaller setting is raised to it; Java tolerates it).
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms` (default 100 ms): first wait before retrying a request (KIP-580).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1 s): cap on the exponential retry wait. Never below
    /// `retry_backoff` (a smaller setting is raised to it).
    pub retry_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10 s): first connect timeout (KIP-601).
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms` (default 30 s): cap on the exponential
    /// connect timeout. Never below `socket_connection_setup_timeout`.
    pub socket_connection_setup_timeout_max: Duration,
    /// `connections.max.idle.ms` (default 9 min; admin 5 min): close idle connections.
    pub connections_max_idle: Duration,
    /// `send.buffer.bytes` (default 131072): SO_SNDBUF in bytes; -1 keeps the OS default.
    pub send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (default 65536; producer 32768): SO_RCVBUF in bytes; -1 keeps
    /// the OS default.
    pub receive_buffer_bytes: i32,
    /// `security.protocol` (default PLAINTEXT).
    pub security_protocol: SecurityProtocol,
    /// The `ssl.*` and `sasl.*` settings.
    pub security: SecurityConfig,
    /// `metrics.recording.level` (default INFO): which metrics are recorded.
    pub metrics_recording_level: crate::metrics::RecordingLevel,
    /// `metrics.num.samples` (default 2): samples the windowed metrics cover.
    pub metrics_num_samples: usize,
    /// `metrics.sample.window.ms` (default 30 s): length of one metrics sample.
    pub metrics_sample_window: Duration,
    /// `api.versions.max` (ferrokafka only, default empty): API key -> highest protocol version
    /// to use for it. Written back by [`to_properties`](super::ProducerConfig::to_properties)
    /// with numeric API keys (`1=12`), which parse like names.
    pub api_versions_max: BTreeMap<i16, i16>,
}

/// `trace.context.propagation`: needs the `otel` feature to mean anything, so `true`
/// without it is refused rather than silently ignored.
pub(crate) fn trace_context_propagation(props: &Props) -> Result<bool, ConfigError> {
    let on = props.bool("trace.context.propagation")?;
    if on && !cfg!(feature = "otel") {
        return Err(ConfigError::new(
            "trace.context.propagation",
            "needs ferrokafka's `otel` feature",
        ));
    }
    Ok(on)
}

impl CommonConfig {
    pub(crate) fn from_props(props: &Props) -> Result<CommonConfig, ConfigError> {
        let reconnect_backoff = props.duration("reconnect.backoff.ms")?;
        let retry_backoff = props.duration("retry.backoff.ms")?;
        let setup_timeout = props.duration("socket.connection.setup.timeout.ms")?;
        let security_protocol: SecurityProtocol = props.choice("security.protocol")?.parse()?;
        Ok(CommonConfig {
            bootstrap_servers: props.list("bootstrap.servers")?,
            client_id: props.string("client.id")?,
            client_dns_lookup: match props.choice("client.dns.lookup")?.parse()? {
                ClientDnsLookup::UseAllDnsIps => ClientDnsLookup::UseAllDnsIps,
                other => {
                    return Err(ConfigError::new(
                        "client.dns.lookup",
                        format!(
                            "`{other}` is not supported yet (it needs canonical names from \
                             reverse DNS); use use_all_dns_ips"
                        ),
                    ));
                }
            },
            request_timeout: props.duration("request.timeout.ms")?,
            metadata_max_age: props.duration("metadata.max.age.ms")?,
            reconnect_backoff,
            reconnect_backoff_max: props
                .duration("reconnect.backoff.max.ms")?
                .max(reconnect_backoff),
            retry_backoff,
            retry_backoff_max: props.duration("retry.backoff.max.ms")?.max(retry_backoff),
            socket_connection_setup_timeout: setup_timeout,
            socket_connection_setup_timeout_max: props
                .duration("socket.connection.setup.timeout.max.ms")?
                .max(setup_timeout),
            connections_max_idle: props.duration("connections.max.idle.ms")?,
            send_buffer_bytes: props.int("send.buffer.bytes")?,
            receive_buffer_bytes: props.int("receive.buffer.bytes")?,
            security_protocol,
            security: SecurityConfig::from_props(props, security_protocol)?,
            metrics_recording_level: props
                .choice("metrics.recording.level")?
                .parse()
                .map_err(|e: String| ConfigError::new("metrics.recording.level", e))?,
            metrics_num_samples: props.int("metrics.num.samples")?,
            metrics_sample_window: props.duration("metrics.sample.window.ms")?,
            api_versions_max: props.api_versions("api.versions.max")?,
        })
    }

    /// Writes every common property into `out`.
    pub(crate) fn write(&self, out: &mut BTreeMap<String, String>) {
        let caps: Vec<String> = self
            .api_versions_max
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let pairs = [
            ("bootstrap.servers", self.bootstrap_servers.join(",")),
            ("client.id", self.client_id.clone()),
            ("client.dns.lookup", self.client_dns_lookup.as_str().into()),
            ("request.timeout.ms", millis(self.request_timeout)),
            ("metadata.max.age.ms", millis(self.metadata_max_age)),
            ("reconnect.backoff.ms", millis(self.reconnect_backoff)),
            (
                "reconnect.backoff.max.ms",
                millis(self.reconnect_backoff_max),
            ),
            ("retry.backoff.ms", millis(self.retry_backoff)),
            ("retry.backoff.max.ms", millis(self.retry_backoff_max)),
            (
                "socket.connection.setup.timeout.ms",
                millis(self.socket_connection_setup_timeout),
            ),
            (
                "socket.connection.setup.timeout.max.ms",
                millis(self.socket_connection_setup_timeout_max),
            ),
            ("connections.max.idle.ms", millis(self.connections_max_idle)),
            ("send.buffer.bytes", self.send_buffer_bytes.to_string()),
            (
                "receive.buffer.bytes",
                self.receive_buffer_bytes.to_string(),
            ),
            ("security.protocol", self.security_protocol.as_str().into()),
            (
                "metrics.recording.level",
                self.metrics_recording_level.as_str().into(),
            ),
            ("metrics.num.samples", self.metrics_num_samples.to_string()),
            (
                "metrics.sample.window.ms",
                millis(self.metrics_sample_window),
            ),
            ("api.versions.max", caps.join(",")),
        ];
        out.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self.security.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AdminConfig, Client, ConsumerConfig, ProducerConfig};

    /// Java's `receive.buffer.bytes` default differs per client.
    fn default_receive_buffer(client: Client) -> i32 {
        match client {
            Client::Producer => 32768,
            Client::Consumer | Client::Admin => 65536,
        }
    }

    fn admin(extra: &[(&str, &str)]) -> Result<AdminConfig, ConfigError> {
        let mut props = vec![("bootstrap.servers", "localhost:9092")];
        props.extend_from_slice(extra);
        AdminConfig::from_properties(props)
    }

    #[test]
    fn common_defaults_per_client() {
        let p = ProducerConfig::builder()
            .bootstrap_servers("h:1")
            .build()
            .unwrap();
        let c = ConsumerConfig::builder()
            .bootstrap_servers("h:1")
            .build()
            .unwrap();
        let a = AdminConfig::builder()
            .bootstrap_servers("h:1")
            .build()
            .unwrap();
        for (cfg, client) in [
            (&p.common, Client::Producer),
            (&c.common, Client::Consumer),
            (&a.common, Client::Admin),
        ] {
            assert_eq!(cfg.bootstrap_servers, vec!["h:1".to_owned()]);
            assert_eq!(cfg.client_id, "");
            assert_eq!(cfg.client_dns_lookup, ClientDnsLookup::UseAllDnsIps);
            assert_eq!(cfg.request_timeout, Duration::from_secs(30));
            assert_eq!(cfg.metadata_max_age, Duration::from_secs(300));
            assert_eq!(cfg.reconnect_backoff, Duration::from_millis(50));
            assert_eq!(cfg.reconnect_backoff_max, Duration::from_secs(1));
            assert_eq!(cfg.retry_backoff, Duration::from_millis(100));
            assert_eq!(cfg.retry_backoff_max, Duration::from_secs(1));
            assert_eq!(cfg.socket_connection_setup_timeout, Duration::from_secs(10));
            assert_eq!(
                cfg.socket_connection_setup_timeout_max,
                Duration::from_secs(30)
            );
            assert_eq!(cfg.send_buffer_bytes, 131072);
            assert_eq!(cfg.receive_buffer_bytes, default_receive_buffer(client));
            assert_eq!(cfg.security_protocol, SecurityProtocol::Plaintext);
            assert!(cfg.api_versions_max.is_empty());
        }
        assert_eq!(p.common.connections_max_idle, Duration::from_secs(540));
        assert_eq!(c.common.connections_max_idle, Duration::from_secs(540));
        assert_eq!(a.common.connections_max_idle, Duration::from_secs(300));
    }

    #[test]
    fn missing_bootstrap_servers() {
        let e = AdminConfig::builder().client_id("x").build().unwrap_err();
        assert_eq!(e.key, "bootstrap.servers");
        let e = ProducerConfig::from_properties([("bootstrap.servers", " ")]).unwrap_err();
        assert_eq!(e.key, "bootstrap.servers");
        assert!(e.reason.contains("at least one broker"), "{e}");
    }

    #[test]
    fn malformed_bootstrap_entries() {
        for (bad, why) in [
            ("localhost", "`localhost`: no port"),
            ("host:99999", "`host:99999`: `99999` is not a valid port"),
            ("a:1,,b:2", "empty entry"),
            ("::1:9092", "brackets"),
        ] {
            let e = AdminConfig::from_properties([("bootstrap.servers", bad)]).unwrap_err();
            assert_eq!(e.key, "bootstrap.servers", "{bad}");
            assert!(e.reason.contains(why), "{bad}: {e}");
        }
        let a = admin(&[("bootstrap.servers", " a:1 , [::1]:9092 ")]).unwrap();
        assert_eq!(a.common.bootstrap_servers, ["a:1", "[::1]:9092"]);
    }

    #[test]
    fn unknown_keys_and_suggestions() {
        let e = admin(&[("bootstrap.server", "x:1")]).unwrap_err();
        assert_eq!(e.key, "bootstrap.server");
        assert_eq!(
            e.reason,
            "unknown property (did you mean `bootstrap.servers`?)"
        );
        let e = admin(&[("request.timeout", "1")]).unwrap_err();
        assert!(
            e.reason.contains("did you mean `request.timeout.ms`?"),
            "{e}"
        );
        let e = admin(&[("no.such.thing", "1")]).unwrap_err();
        assert_eq!(e.reason, "unknown property");
        let e = admin(&[("ssl.truststore.locaton", "/x")]).unwrap_err();
        assert!(e.reason.contains("`ssl.truststore.location`"), "{e}");
        let e = admin(&[("linger.ms", "1")]).unwrap_err();
        assert_eq!(e.key, "linger.ms");
        assert_eq!(
            e.reason,
            "is a producer property, not valid for the admin client"
        );
        // The message of the whole error names the key.
        assert!(e.to_string().contains("`linger.ms`"), "{e}");
    }

    #[test]
    fn wrong_types_and_ranges_name_the_key() {
        let e = admin(&[("request.timeout.ms", "30s")]).unwrap_err();
        assert_eq!(e.key, "request.timeout.ms");
        assert!(e.reason.contains("`30s`") && e.reason.contains("milliseconds"));
        let e = admin(&[("send.buffer.bytes", "-2")]).unwrap_err();
        assert_eq!(e.key, "send.buffer.bytes");
        assert!(e.reason.contains("between -1 and 2147483647"), "{e}");
        let e = admin(&[("request.timeout.ms", "2147483648")]).unwrap_err();
        assert!(e.reason.contains("out of range"), "{e}");
        let e = admin(&[("client.dns.lookup", "default")]).unwrap_err();
        assert!(e.reason.contains("use_all_dns_ips"), "{e}");
    }

    #[cfg(feature = "tls")]
    #[test]
    fn security_protocol() {
        let a = admin(&[("security.protocol", "plaintext")]).unwrap();
        assert_eq!(a.common.security_protocol, SecurityProtocol::Plaintext);
        let a = admin(&[("security.protocol", "ssl")]).unwrap();
        assert_eq!(a.common.security_protocol, SecurityProtocol::Ssl);
        // Java's default mechanism (GSSAPI) is not supported: SASL needs one set.
        for p in ["sasl_ssl", "SASL_PLAINTEXT"] {
            let e = admin(&[("security.protocol", p)]).unwrap_err();
            assert_eq!(e.key, "sasl.mechanism");
            assert!(e.reason.contains("`GSSAPI` is not supported"), "{e}");
        }
        let e = admin(&[("security.protocol", "TLS")]).unwrap_err();
        assert!(e.reason.contains("not one of"), "{e}");
    }

    #[test]
    fn backoff_max_below_base_is_raised() {
        let a = admin(&[
            ("reconnect.backoff.ms", "500"),
            ("reconnect.backoff.max.ms", "100"),
            ("retry.backoff.ms", "2000"),
            ("socket.connection.setup.timeout.ms", "40000"),
        ])
        .unwrap();
        assert_eq!(a.common.reconnect_backoff_max, Duration::from_millis(500));
        assert_eq!(a.common.retry_backoff_max, Duration::from_secs(2));
        assert_eq!(
            a.common.socket_connection_setup_timeout_max,
            Duration::from_secs(40)
        );
        assert_eq!(AdminConfig::from_properties(a.to_properties()), Ok(a));
    }

    #[test]
    fn trace_context_propagation_needs_the_otel_feature() {
        let on = [
            ("bootstrap.servers", "h:1"),
            ("trace.context.propagation", "true"),
        ];
        let producer = ProducerConfig::from_properties(on).map(|c| c.trace_context_propagation);
        let consumer = ConsumerConfig::from_properties(on.into_iter().chain([("group.id", "g")]))
            .map(|c| c.trace_context_propagation);
        for built in [producer, consumer] {
            let otel = cfg!(feature = "otel");
            match built {
                Ok(on) => assert!(on && otel),
                Err(e) => {
                    assert!(!otel, "{e}");
                    assert_eq!(e.key, "trace.context.propagation");
                }
            }
        }
    }

    #[test]
    fn api_versions_max() {
        let a = admin(&[("api.versions.max", "Fetch=12,Produce=9")]).unwrap();
        assert_eq!(a.common.api_versions_max, BTreeMap::from([(0, 9), (1, 12)]));
        assert_eq!(a.to_properties()["api.versions.max"], "0=9,1=12");
        assert_eq!(AdminConfig::from_properties(a.to_properties()), Ok(a));
        for bad in ["Fetc=12", "Fetch=v12", "Fetch"] {
            let e = admin(&[("api.versions.max", bad)]).unwrap_err();
            assert_eq!(e.key, "api.versions.max", "{bad}");
        }
        let e = admin(&[("api.versions.max", "Nope=1")]).unwrap_err();
        assert!(e.reason.contains("unknown API name `Nope`"), "{e}");
        let e = admin(&[("api.versions.max", "Fetch=99999")]).unwrap_err();
        assert!(e.reason.contains("not a valid version"), "{e}");
    }

    #[test]
    fn common_typed_setters() {
        let a = AdminConfig::builder()
            .bootstrap_servers("a:1")
            .client_id("me")
            .request_timeout(Duration::from_secs(5))
            .metadata_max_age(Duration::from_secs(60))
            .retry_backoff(Duration::from_millis(10))
            .retry_backoff_max(Duration::from_millis(20))
            .reconnect_backoff(Duration::from_millis(30))
            .reconnect_backoff_max(Duration::from_millis(40))
            .socket_connection_setup_timeout(Duration::from_millis(50))
            .connections_max_idle(Duration::from_secs(70))
            .api_versions_max("metadata=9")
            .build()
            .unwrap();
        let c = &a.common;
        assert_eq!(c.client_id, "me");
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.metadata_max_age, Duration::from_secs(60));
        assert_eq!(c.retry_backoff, Duration::from_millis(10));
        assert_eq!(c.retry_backoff_max, Duration::from_millis(20));
        assert_eq!(c.reconnect_backoff, Duration::from_millis(30));
        assert_eq!(c.reconnect_backoff_max, Duration::from_millis(40));
        assert_eq!(c.socket_connection_setup_timeout, Duration::from_millis(50));
        assert_eq!(c.connections_max_idle, Duration::from_secs(70));
        assert_eq!(c.api_versions_max, BTreeMap::from([(3, 9)]));
    }

    #[test]
    fn enum_from_str() {
        assert_eq!(
            "RESOLVE_CANONICAL_BOOTSTRAP_SERVERS_ONLY".parse(),
            Ok(ClientDnsLookup::ResolveCanonicalBootstrapServersOnly)
        );
        assert!("x".parse::<ClientDnsLookup>().is_err());
        assert_eq!(SecurityProtocol::Plaintext.to_string(), "PLAINTEXT");
    }
}
