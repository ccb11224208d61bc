//! SASL authentication (KIP-43): SaslHandshake v1, then the mechanism's tokens in
//! SaslAuthenticate requests; at connection setup after ApiVersions, and again on the same
//! connection before the broker's session ends (KIP-368).

use std::time::Duration;

use bytes::Bytes;

use super::oauth::{TokenCache, client_first};
use super::scram::{ScramClient, new_nonce};
use crate::config::{SaslCredentials, SaslMechanism};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::StrBytes;
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// What a client logs in with.
#[derive(Clone)]
pub(super) enum Login {
    Password(SaslCredentials),
    OAuthBearer(std::sync::Arc<TokenCache>),
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Login::Password(c) => f.debug_tuple("Password").field(c).finish(),
            Login::OAuthBearer(_) => f.write_str("OAuthBearer(..)"),
        }
    }
}

/// The two SASL requests, on a new connection or between requests on a live one.
pub(crate) trait SaslChannel {
    async fn handshake(&mut self, req: SaslHandshakeRequest) -> Result<SaslHandshakeResponse>;
    async fn authenticate(
        &mut self,
        req: SaslAuthenticateRequest,
    ) -> Result<SaslAuthenticateResponse>;
}

/// Authenticates the connection `chan` speaks on to the broker at `addr`. Returns the
/// session's lifetime when the broker ends sessions (`connections.max.reauth.ms`).
///
/// Errors: [`Error::UnsupportedSaslMechanism`] naming the broker's mechanisms,
/// [`Error::AuthenticationFailed`] with the broker's message (or the token provider's), or the
/// connection's own errors (each request bounded by `request.timeout.ms`).
pub(super) async fn authenticate<C: SaslChannel>(
    chan: &mut C,
    addr: &str,
    mechanism: SaslMechanism,
    login: &Login,
) -> Result<Option<Duration>> {
    let fail = |message: String| Error::AuthenticationFailed {
        addr: addr.to_owned(),
        mechanism: mechanism.as_str(),
        message,
    };
    // The token first: a provider that fails sends nothing to the broker.
    let token = match login {
        Login::OAuthBearer(cache) => Some(cache.token().await.map_err(fail)?),
        Login::Password(_) => None,
    };
    let handshake = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_static_str(mechanism.as_str()));
    let resp = chan.handshake(handshake).await?;
    match resp.error_code {
        0 => {}
        UNSUPPORTED_SASL_MECHANISM => {
            return Err(Error::UnsupportedSaslMechanism {
                addr: addr.to_owned(),
                mechanism: mechanism.as_str(),
                enabled: resp.mechanisms.iter().map(|m| m.to_string()).collect(),
            });
        }
        code => return Err(failed(addr, mechanism, code, None)),
    }
    let mut ex = Exchange {
        chan,
        addr,
        mechanism,
        session: 0,
    };
    match (login, token) {
        (Login::OAuthBearer(_), Some(token)) => {
            let challenge = ex.round_trip(client_first(&token)).await?;
            if !challenge.is_empty() {
                // RFC 7628 3.2.2: the server's error; a lone 0x01 ends the exchange, and the
                // broker then fails it with its message.
                let why = String::from_utf8_lossy(&challenge).into_owned();
                let _ = ex.round_trip(vec![1]).await;
                return Err(fail(format!("the broker refused the token: {why}")));
            }
        }
        (Login::Password(creds), _) if mechanism == SaslMechanism::Plain => {
            // RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid.
            let mut token = Vec::new();
            token.push(0);
            token.extend_from_slice(creds.username.as_bytes());
            token.push(0);
            token.extend_from_slice(creds.password.expose().as_bytes());
            ex.round_trip(token).await?;
        }
        (Login::Password(creds), _) => {
            let mut scram = ScramClient::new(
                mechanism,
                &creds.username,
                creds.password.clone(),
                new_nonce().map_err(fail)?,
            );
            let first = ex.round_trip(scram.client_first().into_bytes()).await?;
            let first = String::from_utf8(first.to_vec())
                .map_err(|_| fail("the server-first message is not UTF-8".into()))?;
            let last = scram.client_final(&first).map_err(fail)?;
            let last = ex.round_trip(last.into_bytes()).await?;
            let last = String::from_utf8(last.to_vec())
                .map_err(|_| fail("the server-final message is not UTF-8".into()))?;
            scram.verify_server_final(&last).map_err(fail)?;
        }
        (Login::OAuthBearer(_), None) => return Err(fail("no token".into())),
    }
    let session = ex.session;
    tracing::debug!(%addr, mechanism = mechanism.as_str(), session_ms = session, "SASL authentication succeeded");
    Ok((session > 0).then(|| Duration::from_millis(session as u64)))
}

struct Exchange<'a, C> {
    chan: &'a mut C,
    addr: &'a str,
    mechanism: SaslMechanism,
    /// `session_lifetime_ms` of the last response (0: sessions do not end).
    session: i64,
}

impl<C: SaslChannel> Exchange<'_, C> {
    /// One SaslAuthenticate round trip: our token out, the broker's back.
    async fn round_trip(&mut self, token: Vec<u8>) -> Result<Bytes> {
        let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
        let resp = self.chan.authenticate(req).await?;
        if resp.error_code != 0 {
            let message = resp.error_message.as_ref().map(|m| m.to_string());
            return Err(failed(self.addr, self.mechanism, resp.error_code, message));
        }
        self.session = resp.session_lifetime_ms;
        Ok(resp.auth_bytes)
    }
}

fn failed(addr: &str, mechanism: SaslMechanism, code: i16, message: Option<String>) -> Error {
    let code = ErrorCode(code);
    Error::AuthenticationFailed {
        addr: addr.to_owned(),
        mechanism: mechanism.as_str(),
        message: match message {
            Some(m) if !m.is_empty() => format!("{m} ({code})"),
            _ => code.to_string(),
        },
    }
}
