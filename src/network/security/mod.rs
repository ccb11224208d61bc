//! What `security.protocol` adds to a connection: TLS under it (rustls) and SASL
//! authentication right after ApiVersions.

mod oauth;
#[cfg(feature = "oauth")]
mod oidc;
mod sasl;
mod scram;
#[cfg(feature = "tls")]
pub(crate) mod tls;
mod transport;

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "tls")]
use rustls::ClientConfig;
use tokio::net::TcpStream;

use crate::config::{SaslMechanism, SecurityConfig, SecurityProtocol};
use crate::error::{ConfigError, Error, Result, TlsFailure};
use crate::network::connection::Connection;
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use sasl::Login;
pub(crate) use sasl::SaslChannel;
pub(crate) use transport::{ReadHalf, WriteHalf};

/// The security settings every connection of one client uses, prepared once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Security {
    #[cfg(feature = "tls")]
    tls: Option<Arc<ClientConfig>>,
    sasl: Option<(SaslMechanism, Login)>,
    /// A setting that failed when the client was made (the config's build checked it, so a
    /// store file changed since): every connect fails with it.
    broken: Option<ConfigError>,
}

impl Security {
    /// Prepares TLS and SASL for `protocol`.
    pub(crate) fn new(protocol: SecurityProtocol, cfg: &SecurityConfig) -> Security {
        let mut s = Security::default();
        let prepared = (|| -> std::result::Result<(), ConfigError> {
            #[cfg(feature = "tls")]
            if protocol.uses_tls() {
                s.tls = Some(match &cfg.rustls_client_config {
                    Some(custom) => custom.0.clone(),
                    None => tls::client_config(cfg)?,
                });
            }
            // A config built by this crate refused TLS already; one assembled by hand may not.
            #[cfg(not(feature = "tls"))]
            if protocol.uses_tls() {
                return Err(ConfigError::new(
                    "security.protocol",
                    "SSL and SASL_SSL need the `tls` cargo feature",
                ));
            }
            if protocol.uses_sasl()
                && let Some(m) = cfg.sasl_mechanism
            {
                s.sasl = Some((m, login(m, cfg)?));
            }
            Ok(())
        })();
        s.broken = prepared.err();
        s
    }

    /// Wraps a connected socket as `security.protocol` says (TLS handshake within `timeout`).
    ///
    /// Errors: [`Error::Tls`] or [`Error::Connect`] (timeout), both naming `addr`.
    pub(crate) async fn wrap(
        &self,
        tcp: TcpStream,
        addr: &str,
        timeout: Duration,
    ) -> Result<(ReadHalf, WriteHalf)> {
        if let Some(e) = &self.broken {
            return Err(Error::Config(e.clone()));
        }
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            return Ok(transport::tls(
                tls::handshake(tcp, addr, config.clone(), timeout).await?,
            ));
        }
        let _ = (addr, timeout);
        Ok(transport::plain(tcp))
    }

    fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The error to report for a failed first request (ApiVersions): a TLS failure the
    /// handshake could not show (TLS 1.3 servers judge client certificates after it), or a
    /// plaintext client talking to a TLS port; else `e` itself.
    pub(crate) fn setup_error(&self, addr: &str, e: Error) -> Error {
        let Error::Disconnected { reason, .. } = &e else {
            return e;
        };
        let tls = |kind, reason: String| Error::Tls {
            addr: addr.to_owned(),
            kind,
            reason,
        };
        if self.uses_tls() {
            if let Some(alert) = reason.split("received fatal alert: ").nth(1) {
                let kind = if [
                    "CertificateRequired",
                    "BadCertificate",
                    "UnsupportedCertificate",
                    "CertificateUnknown",
                    "UnknownCA",
                    "AccessDenied",
                ]
                .iter()
                .any(|a| alert.starts_with(a))
                {
                    TlsFailure::ClientCertificateRejected
                } else {
                    TlsFailure::Handshake
                };
                return tls(kind, reason.clone());
            }
            return e;
        }
        if reason.contains(transport::TLS_ANSWER) {
            return tls(
                TlsFailure::TlsListener,
                "the broker answered with TLS: set security.protocol to SSL or SASL_SSL".into(),
            );
        }
        e
    }

    /// Authenticates a new connection with SASL when `security.protocol` asks for it. Returns
    /// the session's lifetime when the broker ends sessions (KIP-368).
    ///
    /// Errors: see [`sasl::authenticate`].
    pub(crate) async fn authenticate(
        &self,
        conn: &Connection,
        addr: &str,
    ) -> Result<Option<Duration>> {
        self.reauthenticate(&mut Setup(conn), addr).await
    }

    /// Authenticates again over `chan` (the same steps as at setup, with a fresh token).
    ///
    /// Errors: see [`sasl::authenticate`].
    pub(crate) async fn reauthenticate<C: SaslChannel>(
        &self,
        chan: &mut C,
        addr: &str,
    ) -> Result<Option<Duration>> {
        match &self.sasl {
            Some((mechanism, login)) => sasl::authenticate(chan, addr, *mechanism, login).await,
            None => Ok(None),
        }
    }

    /// The SASL mechanism's name, when SASL is on.
    pub(crate) fn mechanism(&self) -> Option<&'static str> {
        self.sasl.as_ref().map(|(m, _)| m.as_str())
    }
}

/// A new connection, before any other request.
struct Setup<'a>(&'a Connection);

impl SaslChannel for Setup<'_> {
    async fn handshake(&mut self, req: SaslHandshakeRequest) -> Result<SaslHandshakeResponse> {
        self.0.send(req).await
    }

    async fn authenticate(
        &mut self,
        req: SaslAuthenticateRequest,
    ) -> Result<SaslAuthenticateResponse> {
        self.0.send(req).await
    }
}

/// What `mechanism` logs in with, as `cfg` says.
fn login(
    mechanism: SaslMechanism,
    cfg: &SecurityConfig,
) -> std::result::Result<Login, ConfigError> {
    Ok(match mechanism {
        SaslMechanism::OAuthBearer => {
            let provider = oauth::Source::from_config(cfg)?.into_provider();
            Login::OAuthBearer(Arc::new(oauth::TokenCache::new(
                provider,
                cfg.oauthbearer.clone(),
            )))
        }
        _ => Login::Password(cfg.sasl_credentials()?),
    })
}

/// Checks the login settings of `sasl.mechanism` (for the config's build).
///
/// Errors: a [`ConfigError`] naming the key at fault.
pub(crate) fn check_login(cfg: &SecurityConfig) -> std::result::Result<(), ConfigError> {
    match cfg.sasl_mechanism {
        // With neither a JAAS config nor an endpoint, the application's token provider is the
        // source, and it can only be set on the built config: each connect checks then.
        Some(SaslMechanism::OAuthBearer)
            if cfg.sasl_jaas_config.is_none() && cfg.oauthbearer.token_endpoint_url.is_none() =>
        {
            Ok(())
        }
        Some(SaslMechanism::OAuthBearer) => oauth::Source::from_config(cfg).map(drop),
        _ => cfg.sasl_credentials().map(drop),
    }
}

/// The error every connect of a client with this config would fail with, if any.
#[cfg(test)]
pub(crate) fn setup_error(protocol: SecurityProtocol, cfg: &SecurityConfig) -> Option<ConfigError> {
    Security::new(protocol, cfg).broken
}
