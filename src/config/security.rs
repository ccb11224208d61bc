//! TLS and SASL settings (`ssl.*`, `sasl.*`), shared by every client, and the [`Password`]
//! type that keeps secrets out of `Debug`, `Display`, logs and errors.

use std::collections::BTreeMap;
use std::fmt;
#[cfg(feature = "tls")]
use std::sync::Arc;

use super::Props;
use super::common::SecurityProtocol;
use super::jaas;
use super::oauth::OAuthBearerConfig;
use crate::error::ConfigError;

/// A secret setting (a password, a private key, a JAAS config). `Debug` and `Display` print
/// `[hidden]`, as Java's `Password` does; [`expose`](Password::expose) gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

#[cfg(feature = "tls")]
/// A rustls client config built by the application, used for TLS instead of the `ssl.*`
/// settings (its roots, client certificate, versions and verifier). Host names are checked as
/// its verifier decides. Two are equal when they are the same `Arc`.
#[derive(Clone)]
pub struct RustlsClientConfig(pub Arc<rustls::ClientConfig>);

#[cfg(feature = "tls")]
impl RustlsClientConfig {
    /// Wraps `config`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> RustlsClientConfig {
        RustlsClientConfig(config)
    }
}

#[cfg(feature = "tls")]
impl PartialEq for RustlsClientConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(feature = "tls")]
impl Eq for RustlsClientConfig {}

#[cfg(feature = "tls")]
impl fmt::Debug for RustlsClientConfig {
    // rustls's own Debug is long and may show key material handles: name it only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RustlsClientConfig(..)")
    }
}

/// A SASL mechanism (`sasl.mechanism`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`: user name and password in the clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (KIP-255): an OAuth 2 bearer token (see [`OAuthBearerConfig`]).
    OAuthBearer,
}

impl SaslMechanism {
    /// The name on the wire and in `sasl.mechanism`, e.g. `SCRAM-SHA-256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The JAAS login module class that holds this mechanism's credentials.
    const fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            }
            SaslMechanism::OAuthBearer => OAUTH_LOGIN_MODULE,
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const OAUTH_LOGIN_MODULE: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// The user name and password of a SASL login (from `sasl.jaas.config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// The `username` option.
    pub username: String,
    /// The `password` option.
    pub password: Password,
}

/// The format of a trust store or key store (`ssl.truststore.type`, `ssl.keystore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreType {
    /// PEM: certificates (and, for a key store, a PKCS#8, PKCS#1 or SEC1 key; an encrypted one
    /// must be PKCS#8 with `ssl.key.password`).
    Pem,
    /// PKCS#12 (`.p12`, `.pfx`), protected by the store password.
    Pkcs12,
}

impl StoreType {
    const fn as_str(self) -> &'static str {
        match self {
            StoreType::Pem => "PEM",
            StoreType::Pkcs12 => "PKCS12",
        }
    }
}

/// A TLS protocol version (`ssl.enabled.protocols`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    const fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// TLS and SASL settings. Only read when `security.protocol` asks for TLS (SSL, SASL_SSL) or
/// SASL (SASL_PLAINTEXT, SASL_SSL); `build` checks them then, loading every store so that a
/// missing file or a wrong store password fails at build, naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// `ssl.protocol` (default TLSv1.3): the highest version; `Tls12` turns TLSv1.3 off.
    pub ssl_protocol: TlsVersion,
    /// `ssl.enabled.protocols` (default TLSv1.2, TLSv1.3).
    pub ssl_enabled_protocols: Vec<TlsVersion>,
    /// `ssl.endpoint.identification.algorithm` (default `https`: true): check that the broker's
    /// certificate names the host connected to. Empty: false (the chain is still verified).
    pub ssl_endpoint_identification: bool,
    /// `ssl.truststore.type` (default: PEM for `ssl.truststore.certificates`, else guessed from
    /// the file: PEM if it holds `-----BEGIN`, else PKCS12).
    pub ssl_truststore_type: Option<StoreType>,
    /// `ssl.truststore.location`: file of trusted CA certificates. With neither this nor
    /// `ssl.truststore.certificates`, the system's root certificates are trusted.
    pub ssl_truststore_location: Option<String>,
    /// `ssl.truststore.password`: PKCS12 trust store password.
    pub ssl_truststore_password: Option<Password>,
    /// `ssl.truststore.certificates`: trusted CA certificates as inline PEM.
    pub ssl_truststore_certificates: Option<Password>,
    /// `ssl.keystore.type` (default guessed as for the trust store).
    pub ssl_keystore_type: Option<StoreType>,
    /// `ssl.keystore.location`: file with the client's certificate chain and key (mutual TLS).
    pub ssl_keystore_location: Option<String>,
    /// `ssl.keystore.password`: PKCS12 key store password.
    pub ssl_keystore_password: Option<Password>,
    /// `ssl.keystore.certificate.chain`: the client's certificate chain as inline PEM.
    pub ssl_keystore_certificate_chain: Option<Password>,
    /// `ssl.keystore.key`: the client's private key as inline PEM.
    pub ssl_keystore_key: Option<Password>,
    /// `ssl.key.password`: password of an encrypted PEM key (PKCS#8, PBES2), or of the key
    /// inside a PKCS12 key store (default: the store password).
    pub ssl_key_password: Option<Password>,
    /// `sasl.mechanism` (Java's default GSSAPI is not supported: set one when using SASL).
    pub sasl_mechanism: Option<SaslMechanism>,
    /// `sasl.jaas.config`: the login module and its credentials, in Java's syntax.
    pub sasl_jaas_config: Option<Password>,
    /// OAUTHBEARER: where tokens come from and when they are refreshed.
    pub oauthbearer: OAuthBearerConfig,
    /// Not a property (default `None`): a rustls config to use instead of the `ssl.*`
    /// settings when `security.protocol` is SSL or SASL_SSL. Set it on the built config;
    /// `to_properties` does not carry it. Needs the `tls` cargo feature.
    #[cfg(feature = "tls")]
    pub rustls_client_config: Option<RustlsClientConfig>,
}

/// The `sasl.mechanism` names the table accepts.
pub(crate) const SASL_MECHANISMS: &[&str] = &[
    "GSSAPI",
    "PLAIN",
    "SCRAM-SHA-256",
    "SCRAM-SHA-512",
    "OAUTHBEARER",
];

impl SecurityConfig {
    pub(crate) fn from_props(
        props: &Props,
        protocol: SecurityProtocol,
    ) -> Result<SecurityConfig, ConfigError> {
        let store_type = |key: &str| -> Result<Option<StoreType>, ConfigError> {
            match props.choice(key)? {
                "" => Ok(None),
                "PEM" => Ok(Some(StoreType::Pem)),
                "PKCS12" => Ok(Some(StoreType::Pkcs12)),
                other => Err(ConfigError::new(
                    key,
                    format!(
                        "`{other}` is not supported: use PEM or PKCS12 (convert a JKS store with \
                         `keytool -importkeystore -deststoretype PKCS12`)"
                    ),
                )),
            }
        };
        let mut versions = Vec::new();
        for v in props.list("ssl.enabled.protocols")? {
            let v = if v.eq_ignore_ascii_case("TLSv1.2") {
                TlsVersion::Tls12
            } else {
                TlsVersion::Tls13
            };
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
        if versions.is_empty() {
            return Err(ConfigError::new(
                "ssl.enabled.protocols",
                "must list TLSv1.2, TLSv1.3 or both",
            ));
        }
        let ssl_protocol = match props.choice("ssl.protocol")? {
            "TLSv1.2" => TlsVersion::Tls12,
            _ => TlsVersion::Tls13,
        };
        let sasl_mechanism = match props.choice("sasl.mechanism")? {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        };
        let cfg = SecurityConfig {
            ssl_protocol,
            ssl_enabled_protocols: versions,
            ssl_endpoint_identification: !props
                .choice("ssl.endpoint.identification.algorithm")?
                .is_empty(),
            ssl_truststore_type: store_type("ssl.truststore.type")?,
            ssl_truststore_location: props.opt_string("ssl.truststore.location")?,
            ssl_truststore_password: props.password("ssl.truststore.password")?,
            ssl_truststore_certificates: props.password("ssl.truststore.certificates")?,
            ssl_keystore_type: store_type("ssl.keystore.type")?,
            ssl_keystore_location: props.opt_string("ssl.keystore.location")?,
            ssl_keystore_password: props.password("ssl.keystore.password")?,
            ssl_keystore_certificate_chain: props.password("ssl.keystore.certificate.chain")?,
            ssl_keystore_key: props.password("ssl.keystore.key")?,
            ssl_key_password: props.password("ssl.key.password")?,
            sasl_mechanism,
            sasl_jaas_config: props.password("sasl.jaas.config")?,
            oauthbearer: OAuthBearerConfig::from_props(props)?,
            #[cfg(feature = "tls")]
            rustls_client_config: None,
        };
        if protocol.uses_sasl() {
            let name = props.choice("sasl.mechanism")?;
            if cfg.sasl_mechanism.is_none() {
                return Err(ConfigError::new(
                    "sasl.mechanism",
                    format!(
                        "`{name}` is not supported: use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or \
                         OAUTHBEARER"
                    ),
                ));
            }
            cfg.sasl_login_options()?;
        }
        if protocol.uses_tls() {
            #[cfg(feature = "tls")]
            crate::network::security::tls::client_config(&cfg)?;
            #[cfg(not(feature = "tls"))]
            return Err(ConfigError::new(
                "security.protocol",
                "SSL and SASL_SSL need TLS, and this build of ferrokafka has no TLS: enable the \
                 `tls` cargo feature (on by default)",
            ));
        }
        Ok(cfg)
    }

    /// The credentials `sasl.jaas.config` gives for `sasl.mechanism` (PLAIN and SCRAM).
    ///
    /// Errors: a [`ConfigError`] on `sasl.jaas.config` when it is missing, malformed, names
    /// another login module than the mechanism's, or lacks `username` or `password`; on
    /// `sasl.mechanism` for OAUTHBEARER, which has no password. The message never quotes the
    /// config (it holds the password).
    pub fn sasl_credentials(&self) -> Result<SaslCredentials, ConfigError> {
        let key = "sasl.jaas.config";
        let mechanism = self.mechanism()?;
        if mechanism == SaslMechanism::OAuthBearer {
            return Err(ConfigError::new(
                "sasl.mechanism",
                "OAUTHBEARER logs in with tokens, not a user name and password",
            ));
        }
        let mut options = self.jaas_options(mechanism)?.ok_or_else(|| {
            ConfigError::new(
                key,
                format!(
                    "required for SASL: e.g. `{} required username=\"...\" password=\"...\";`",
                    mechanism.login_module()
                ),
            )
        })?;
        let mut take = |name: &str| {
            options.remove(name).ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!("{} has no `{name}` option", mechanism.login_module()),
                )
            })
        };
        let username = take("username")?;
        let password = Password(take("password")?);
        Ok(SaslCredentials { username, password })
    }

    fn mechanism(&self) -> Result<SaslMechanism, ConfigError> {
        self.sasl_mechanism.ok_or_else(|| {
            ConfigError::new(
                "sasl.mechanism",
                "set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            )
        })
    }

    /// The options of `sasl.jaas.config`'s login module, checked to be `mechanism`'s; `None`
    /// when unset.
    pub(crate) fn jaas_options(
        &self,
        mechanism: SaslMechanism,
    ) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
        let key = "sasl.jaas.config";
        let Some(jaas) = &self.sasl_jaas_config else {
            return Ok(None);
        };
        let module = jaas::parse(jaas.expose()).map_err(|why| ConfigError::new(key, why))?;
        if module.class != mechanism.login_module() {
            return Err(ConfigError::new(
                key,
                format!(
                    "sasl.mechanism {mechanism} needs {}, not {}",
                    mechanism.login_module(),
                    module.class
                ),
            ));
        }
        Ok(Some(module.options))
    }

    /// Checks the login `sasl.mechanism` and `sasl.jaas.config` describe (the token source
    /// for OAUTHBEARER).
    fn sasl_login_options(&self) -> Result<(), ConfigError> {
        crate::network::security::check_login(self)
    }

    /// Writes every security property into `out` (secrets in the clear: the map is the config).
    pub(crate) fn write(&self, out: &mut BTreeMap<String, String>) {
        let secret = |p: &Option<Password>| p.as_ref().map(|p| p.0.clone()).unwrap_or_default();
        let store = |t: Option<StoreType>| t.map(StoreType::as_str).unwrap_or_default().to_owned();
        let versions: Vec<&str> = self
            .ssl_enabled_protocols
            .iter()
            .map(|v| v.as_str())
            .collect();
        let pairs = [
            ("ssl.protocol", self.ssl_protocol.as_str().to_owned()),
            ("ssl.enabled.protocols", versions.join(",")),
            (
                "ssl.endpoint.identification.algorithm",
                if self.ssl_endpoint_identification {
                    "https".into()
                } else {
                    String::new()
                },
            ),
            ("ssl.truststore.type", store(self.ssl_truststore_type)),
            (
                "ssl.truststore.location",
                self.ssl_truststore_location.clone().unwrap_or_default(),
            ),
            (
                "ssl.truststore.password",
                secret(&self.ssl_truststore_password),
            ),
            (
                "ssl.truststore.certificates",
                secret(&self.ssl_truststore_certificates),
            ),
            ("ssl.keystore.type", store(self.ssl_keystore_type)),
            (
                "ssl.keystore.location",
                self.ssl_keystore_location.clone().unwrap_or_default(),
            ),
            ("ssl.keystore.password", secret(&self.ssl_keystore_password)),
            (
                "ssl.keystore.certificate.chain",
                secret(&self.ssl_keystore_certificate_chain),
            ),
            ("ssl.keystore.key", secret(&self.ssl_keystore_key)),
            ("ssl.key.password", secret(&self.ssl_key_password)),
            (
                "sasl.mechanism",
                self.sasl_mechanism
                    .map_or("GSSAPI", SaslMechanism::as_str)
                    .to_owned(),
            ),
            ("sasl.jaas.config", secret(&self.sasl_jaas_config)),
        ];
        out.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self.oauthbearer.write(out);
    }
}

/// `sasl.jaas.config` for `mechanism` with these credentials, quoted so that any characters
/// survive (for the builders' typed setter).
pub(crate) fn jaas_config(mechanism: SaslMechanism, username: &str, password: &str) -> String {
    format!(
        "{} required username={} password={};",
        mechanism.login_module(),
        jaas::quote(username),
        jaas::quote(password)
    )
}

/// What `to_properties` writes for the security keys when none is set (Java's defaults, with
/// empty for unset and for the guessed store types).
#[cfg(test)]
pub(crate) const DEFAULTS: &[(&str, &str)] = &[
    ("sasl.jaas.config", ""),
    ("sasl.login.callback.handler.class", ""),
    ("sasl.login.refresh.buffer.seconds", "300"),
    ("sasl.login.refresh.min.period.seconds", "60"),
    ("sasl.login.refresh.window.factor", "0.8"),
    ("sasl.login.refresh.window.jitter", "0.05"),
    ("sasl.mechanism", "GSSAPI"),
    ("sasl.oauthbearer.scope.claim.name", "scope"),
    ("sasl.oauthbearer.sub.claim.name", "sub"),
    ("sasl.oauthbearer.token.endpoint.url", ""),
    ("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
    ("ssl.endpoint.identification.algorithm", "https"),
    ("ssl.key.password", ""),
    ("ssl.keystore.certificate.chain", ""),
    ("ssl.keystore.key", ""),
    ("ssl.keystore.location", ""),
    ("ssl.keystore.password", ""),
    ("ssl.keystore.type", ""),
    ("ssl.protocol", "TLSv1.3"),
    ("ssl.truststore.certificates", ""),
    ("ssl.truststore.location", ""),
    ("ssl.truststore.password", ""),
    ("ssl.truststore.type", ""),
];

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
