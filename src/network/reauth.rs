//! Re-authentication (KIP-368) on a live connection: the writer task renews the SASL session
//! between two requests before the broker's `connections.max.reauth.ms` ends it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::Shared;
use crate::error::{Error, Result};
use crate::network::security::{SaslChannel, Security, WriteHalf};
use crate::protocol::frame::{self, api_name};
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::protocol::{Request, StrBytes};

/// What the writer needs to re-authenticate, and when it must.
pub(super) struct Reauth {
    pub(super) security: Arc<Security>,
    pub(super) client_id: StrBytes,
    pub(super) handshake_version: i16,
    pub(super) authenticate_version: i16,
    pub(super) timeout: Duration,
    pub(super) due: Instant,
}

/// When to renew a session of `lifetime`: at 85 % to 95 % of it, as Java's clients do, so that
/// the connections of one client do not all renew at once.
pub(super) fn reauth_due(lifetime: Duration) -> Instant {
    Instant::now() + lifetime.mul_f64(0.85 + 0.1 * fastrand::f64())
}

impl Reauth {
    /// Authenticates again, writing straight to the socket. Returns the new session's lifetime.
    pub(super) async fn run(
        &self,
        shared: &Arc<Shared>,
        wr: &mut WriteHalf,
    ) -> Result<Option<Duration>> {
        let mut chan = WriterChannel {
            shared,
            wr,
            plan: self,
        };
        let session = self
            .security
            .reauthenticate(&mut chan, &shared.addr)
            .await?;
        tracing::debug!(
            addr = %shared.addr,
            mechanism = self.security.mechanism().unwrap_or_default(),
            session_ms = session.map_or(0, |s| s.as_millis() as u64),
            "re-authenticated"
        );
        Ok(session)
    }
}

/// The SASL requests of a re-authentication, written by the writer task itself so that no
/// other request goes out until it is done.
struct WriterChannel<'a> {
    shared: &'a Arc<Shared>,
    wr: &'a mut WriteHalf,
    plan: &'a Reauth,
}

impl WriterChannel<'_> {
    async fn round_trip<R: Request>(&mut self, req: R, version: i16) -> Result<R::Response> {
        let id = self.shared.next_correlation_id();
        let frame = frame::encode_request(id, &self.plan.client_id, version, &req)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.lock();
            if let Some(err) = &p.closed {
                return Err(err.clone());
            }
            p.waiters.insert(id, tx);
        }
        let written = match self.wr.write_all(&frame).await {
            Ok(()) => self.wr.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            return Err(Error::Disconnected {
                addr: self.shared.addr.clone(),
                reason: format!("write failed: {e}"),
            });
        }
        let body = match tokio::time::timeout(self.plan.timeout, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(self.shared.closed_error()),
            Err(_) => {
                self.shared.lock().waiters.remove(&id);
                return Err(Error::RequestTimeout {
                    api: api_name(R::KEY),
                    addr: self.shared.addr.clone(),
                    timeout_ms: self.plan.timeout.as_millis() as u64,
                });
            }
        };
        frame::decode_response::<R>(body, version)
    }
}

impl SaslChannel for WriterChannel<'_> {
    async fn handshake(&mut self, req: SaslHandshakeRequest) -> Result<SaslHandshakeResponse> {
        let v = self.plan.handshake_version;
        self.round_trip(req, v).await
    }

    async fn authenticate(
        &mut self,
        req: SaslAuthenticateRequest,
    ) -> Result<SaslAuthenticateResponse> {
        let v = self.plan.authenticate_version;
        self.round_trip(req, v).await
    }
}
