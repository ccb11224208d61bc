//! SASL authentication at connection setup (KIP-43): SaslHandshake v1, then the mechanism's
//! tokens in SaslAuthenticate requests, after ApiVersions and before any other request.

use bytes::Bytes;

use super::scram::{ScramClient, new_nonce};
use crate::config::{SaslCredentials, SaslMechanism};
use crate::error::{Error, ErrorCode, Result};
use crate::network::connection::Connection;
use crate::protocol::StrBytes;
use crate::protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// Authenticates `conn` to the broker at `addr`.
///
/// Errors: [`Error::UnsupportedSaslMechanism`] naming the broker's mechanisms,
/// [`Error::AuthenticationFailed`] with the broker's message, or the connection's own errors
/// (each request bounded by `request.timeout.ms`).
pub(super) async fn authenticate(
    conn: &Connection,
    addr: &str,
    mechanism: SaslMechanism,
    creds: &SaslCredentials,
) -> Result<()> {
    let handshake = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_static_str(mechanism.as_str()));
    let resp = conn.send(handshake).await?;
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
    let fail = |message: String| Error::AuthenticationFailed {
        addr: addr.to_owned(),
        mechanism: mechanism.as_str(),
        message,
    };
    match mechanism {
        SaslMechanism::Plain => {
            // RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid.
            let mut token = Vec::new();
            token.push(0);
            token.extend_from_slice(creds.username.as_bytes());
            token.push(0);
            token.extend_from_slice(creds.password.expose().as_bytes());
            exchange(conn, addr, mechanism, token).await?;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let mut scram = ScramClient::new(
                mechanism,
                &creds.username,
                creds.password.clone(),
                new_nonce().map_err(fail)?,
            );
            let first = exchange(conn, addr, mechanism, scram.client_first().into_bytes()).await?;
            let first = String::from_utf8(first.to_vec())
                .map_err(|_| fail("the server-first message is not UTF-8".into()))?;
            let last = scram.client_final(&first).map_err(fail)?;
            let last = exchange(conn, addr, mechanism, last.into_bytes()).await?;
            let last = String::from_utf8(last.to_vec())
                .map_err(|_| fail("the server-final message is not UTF-8".into()))?;
            scram.verify_server_final(&last).map_err(fail)?;
        }
    }
    tracing::debug!(%addr, mechanism = mechanism.as_str(), "SASL authentication succeeded");
    Ok(())
}

/// One SaslAuthenticate round trip: our token out, the broker's back.
async fn exchange(
    conn: &Connection,
    addr: &str,
    mechanism: SaslMechanism,
    token: Vec<u8>,
) -> Result<Bytes> {
    let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
    let resp = conn.send(req).await?;
    if resp.error_code != 0 {
        let message = resp.error_message.as_ref().map(|m| m.to_string());
        return Err(failed(addr, mechanism, resp.error_code, message));
    }
    Ok(resp.auth_bytes)
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
