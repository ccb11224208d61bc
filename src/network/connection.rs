//! One TCP connection to one broker, with many requests in flight.
//!
//! Callers encode a whole frame, register a waiter under the connection's correlation id, and hand
//! the frame to a writer task. The writer owns the socket's write half and only ever writes whole
//! frames, so a caller dropping its future can never leave half a frame on the wire; a reader task
//! owns the read half and routes each response to its waiter by correlation id. Any I/O error,
//! undecodable frame, unknown correlation id or request timeout poisons the connection: every
//! waiter fails with the same typed error and the pool makes a new connection on next use.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use crate::protocol::{Request, StrBytes};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::frame_buffers::FrameBuffers;
use super::security::{ReadHalf, Security, WriteHalf};
use crate::error::{Error, Result};
use crate::protocol::frame::{self, MAX_FRAME_BYTES, RequestBody, api_name};
use crate::protocol::versions::BrokerVersions;

#[path = "reauth.rs"]
mod reauth;
use reauth::{Reauth, reauth_due};

type Waiter = oneshot::Sender<Result<Bytes>>;
/// A whole frame for the writer, and whom to tell once it is written.
type Outgoing = (Bytes, Option<oneshot::Sender<()>>);

/// Settings a connection needs, taken from the client config.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSettings {
    pub client_id: StrBytes,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`: the connect timeout grows toward this after
    /// consecutive failures (the pool picks each attempt's timeout).
    pub connect_timeout_max: Duration,
    /// `send.buffer.bytes` / `receive.buffer.bytes` (SO_SNDBUF / SO_RCVBUF); -1: the OS default.
    pub send_buffer_bytes: i32,
    pub receive_buffer_bytes: i32,
    /// `connections.max.idle.ms`: a connection idle this long is closed, not reused.
    pub max_idle: Duration,
    /// User caps per API key (`api.versions.max`).
    pub version_caps: BTreeMap<i16, i16>,
    /// `security.protocol` with its TLS and SASL settings.
    pub security: Arc<Security>,
    /// The client's metrics (per-node request sensors).
    pub metrics: Arc<crate::metrics::Metrics>,
}

#[cfg(test)]
impl ConnectionSettings {
    /// Test settings: Java's defaults except the timeouts given.
    pub(crate) fn for_tests(
        client_id: &'static str,
        request_timeout: Duration,
        connect_timeout: Duration,
    ) -> ConnectionSettings {
        ConnectionSettings {
            client_id: StrBytes::from_static_str(client_id),
            request_timeout,
            connect_timeout,
            connect_timeout_max: Duration::from_secs(30),
            send_buffer_bytes: 131_072,
            receive_buffer_bytes: 65_536,
            max_idle: Duration::from_secs(540),
            version_caps: BTreeMap::new(),
            security: Arc::default(),
            metrics: Arc::default(),
        }
    }
}

struct Pending {
    /// `None` once the connection is poisoned: the error every later caller gets.
    closed: Option<Error>,
    waiters: HashMap<i32, Waiter>,
    /// When a request was last sent or answered (`connections.max.idle.ms`).
    last_active: std::time::Instant,
}

struct Shared {
    addr: String,
    pending: Mutex<Pending>,
    /// Bytes of frames handed to the writer and not yet written to the socket.
    queued: AtomicUsize,
    next_correlation: AtomicI32,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned mutex is still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead and fails every waiter with `err`. Idempotent.
    fn poison(&self, err: Error) {
        let waiters = {
            let mut p = self.lock();
            if p.closed.is_some() {
                return;
            }
            tracing::debug!(addr = %self.addr, error = %err, "connection poisoned");
            p.closed = Some(err.clone());
            std::mem::take(&mut p.waiters)
        };
        for (_, w) in waiters {
            let _ = w.send(Err(err.clone()));
        }
    }

    fn next_correlation_id(&self) -> i32 {
        // Wrapping is fine: ids only need to be unique among requests in flight.
        self.next_correlation.fetch_add(1, Ordering::Relaxed)
    }

    /// Why the connection cannot be used (it was poisoned, or its writer stopped).
    fn closed_error(&self) -> Error {
        self.lock().closed.clone().unwrap_or(Error::Disconnected {
            addr: self.addr.clone(),
            reason: "writer stopped".into(),
        })
    }
}

/// Resolves once a frame queued by [`Connection::send_no_response`] is written whole to the
/// socket.
pub(crate) struct FrameWritten {
    rx: oneshot::Receiver<()>,
    shared: Arc<Shared>,
}

impl FrameWritten {
    /// Waits until the frame is written. Errors: the connection's error when it failed (or was
    /// closed) first; the frame may then have been written in part.
    ///
    /// # Cancel safety
    /// Cancel safe: the frame is written or not regardless.
    pub(crate) async fn wait(self) -> Result<()> {
        self.rx.await.map_err(|_| self.shared.closed_error())
    }
}

/// A live connection to one broker. Cheap to share behind an `Arc`.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    node_id: i32,
    writer: mpsc::UnboundedSender<Outgoing>,
    versions: BrokerVersions,
    settings: ConnectionSettings,
    tasks: [tokio::task::AbortHandle; 2],
    /// `None` below `metrics.recording.level=DEBUG`.
    node_metrics: Option<Arc<crate::metrics::NodeSensors>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared.poison(Error::Disconnected {
            addr: self.shared.addr.clone(),
            reason: "connection closed by client".into(),
        });
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.shared.addr)
            .field("node_id", &self.node_id)
            .finish()
    }
}

/// Our ApiVersions request. From v3 Apache Kafka answers INVALID_REQUEST unless the client
/// software name and version are non-empty and match `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`
/// (KIP-511).
pub(crate) fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("ferrokafka"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")))
}

impl Connection {
    /// Connects to `addr` (over TLS when `security.protocol` says so), negotiates API versions,
    /// then authenticates with SASL when configured. TLS and SASL failures are
    /// [`Error::Tls`], [`Error::AuthenticationFailed`] or [`Error::UnsupportedSaslMechanism`].
    ///
    /// `node_id` is the broker id when known (negative for a bootstrap address).
    pub(crate) async fn connect(
        addr: &str,
        node_id: i32,
        settings: ConnectionSettings,
    ) -> Result<Connection> {
        let connect_err = |reason: String| Error::Connect {
            addr: addr.to_string(),
            reason,
        };
        let stream = open_socket(addr, &settings).await.map_err(connect_err)?;
        stream
            .set_nodelay(true)
            .map_err(|e| connect_err(e.to_string()))?;
        let (rd, wr) = settings
            .security
            .wrap(stream, addr, settings.connect_timeout)
            .await?;
        let shared = Arc::new(Shared {
            addr: addr.to_string(),
            pending: Mutex::new(Pending {
                closed: None,
                waiters: HashMap::new(),
                last_active: std::time::Instant::now(),
            }),
            queued: AtomicUsize::new(0),
            next_correlation: AtomicI32::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (reauth_tx, reauth_rx) = oneshot::channel();
        let reader = tokio::spawn(read_loop(shared.clone(), rd));
        let writer = tokio::spawn(write_loop(shared.clone(), wr, rx, reauth_rx));
        let mut conn = Connection {
            shared,
            node_id,
            writer: tx,
            versions: BrokerVersions::default(),
            node_metrics: settings.metrics.node(node_id),
            settings,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        };
        let security = conn.settings.security.clone();
        conn.versions = conn
            .negotiate_versions()
            .await
            .map_err(|e| security.setup_error(addr, e))?;
        if let Some(session) = security.authenticate(&conn, addr).await? {
            let _ = reauth_tx.send(Reauth {
                security,
                client_id: conn.settings.client_id.clone(),
                handshake_version: conn.version_for::<SaslHandshakeRequest>()?,
                authenticate_version: conn.version_for::<SaslAuthenticateRequest>()?,
                timeout: conn.settings.request_timeout,
                due: reauth_due(session),
            });
        }
        Ok(conn)
    }

    /// ApiVersions at our highest version; a broker that does not know it answers
    /// UNSUPPORTED_VERSION with its own range, and we retry at the version it names (KIP-511).
    async fn negotiate_versions(&self) -> Result<BrokerVersions> {
        let (_, ours) = crate::protocol::versions::client_range(ApiVersionsRequest::KEY)
            .ok_or_else(|| Error::Protocol("ApiVersions unknown to codec".into()))?;
        let mut version = ours;
        for _ in 0..2 {
            let req = api_versions_request();
            let resp: ApiVersionsResponse = self.send_at(req, version, None).await?;
            if resp.error_code == 35 {
                let broker_max = resp
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiVersionsRequest::KEY)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                if broker_max >= version {
                    break;
                }
                version = broker_max;
                continue;
            }
            if resp.error_code != 0 {
                return Err(Error::broker(resp.error_code, "ApiVersions"));
            }
            return Ok(BrokerVersions::from_response(&resp));
        }
        Err(Error::UnsupportedVersion {
            api: "ApiVersions",
            addr: self.shared.addr.clone(),
            broker_min: -1,
            broker_max: -1,
            client_min: 0,
            client_max: ours,
        })
    }

    /// Bytes of frames queued for the socket and not yet written.
    #[cfg(test)]
    pub(crate) fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// Whether the connection has failed; a failed connection is never reused.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// How long nothing was sent or answered, or `None` while requests are in flight.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let p = self.shared.lock();
        p.waiters.is_empty().then(|| p.last_active.elapsed())
    }

    /// What the broker said it supports.
    pub(crate) fn versions(&self) -> &BrokerVersions {
        &self.versions
    }

    /// The version of `R` this connection will use.
    pub(crate) fn version_for<R: Request>(&self) -> Result<i16> {
        self.versions
            .pick(R::KEY, &self.settings.version_caps, &self.shared.addr)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    ///
    /// # Cancel safety
    /// Dropping the future never corrupts the connection: the frame is either handed to the
    /// writer whole or not at all, and a late response is discarded.
    pub(crate) async fn send<R: Request>(&self, req: R) -> Result<R::Response> {
        let version = self.version_for::<R>()?;
        self.send_at(req, version, None).await
    }

    /// Sends a request the broker will not answer (Produce with acks=0). Returns once the frame
    /// is queued for the writer, with a handle that tells when it is written.
    pub(crate) fn send_no_response<B: RequestBody>(
        &self,
        req: B,
        version: i16,
    ) -> Result<FrameWritten> {
        let id = self.next_correlation_id();
        let frame = frame::encode_request(id, &self.settings.client_id, version, &req)?;
        {
            let mut p = self.shared.lock();
            if let Some(err) = p.closed.clone() {
                return Err(err);
            }
            p.last_active = std::time::Instant::now();
        }
        let (tx, rx) = oneshot::channel();
        self.queue(frame, Some(tx))?;
        Ok(FrameWritten {
            rx,
            shared: self.shared.clone(),
        })
    }

    /// Hands a whole frame to the writer.
    fn queue(&self, frame: Bytes, written: Option<oneshot::Sender<()>>) -> Result<()> {
        let len = frame.len();
        if let Some(m) = &self.node_metrics {
            m.requests.record(len as f64);
        }
        self.shared.queued.fetch_add(len, Ordering::AcqRel);
        self.writer.send((frame, written)).map_err(|_| {
            self.shared.queued.fetch_sub(len, Ordering::AcqRel);
            self.closed_error()
        })
    }

    fn next_correlation_id(&self) -> i32 {
        self.shared.next_correlation_id()
    }

    fn closed_error(&self) -> Error {
        self.shared.closed_error()
    }

    /// Sends at an explicit version.
    pub(crate) async fn send_at<R: Request>(
        &self,
        req: R,
        version: i16,
        extra_timeout: Option<Duration>,
    ) -> Result<R::Response> {
        let pending = self.start_request(req, version, extra_timeout)?;
        pending.finish(self).await
    }

    /// Queues `req` for the writer now, without awaiting: requests started one after another
    /// reach the broker in that order (idempotent producers rely on it). Await the answer with
    /// [`PendingRequest::finish`] on the same connection.
    pub(crate) fn start_request<B: RequestBody>(
        &self,
        req: B,
        version: i16,
        extra_timeout: Option<Duration>,
    ) -> Result<PendingRequest<B::Request>> {
        let id = self.next_correlation_id();
        let frame = frame::encode_request(id, &self.settings.client_id, version, &req)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self.shared.lock();
            if let Some(err) = &p.closed {
                return Err(err.clone());
            }
            p.waiters.insert(id, tx);
            p.last_active = std::time::Instant::now();
        }
        // No await between registering the waiter and queueing the whole frame.
        self.queue(frame, None)?;
        Ok(PendingRequest {
            id,
            version,
            rx,
            timeout: self.settings.request_timeout + extra_timeout.unwrap_or_default(),
            started: Instant::now(),
            _request: std::marker::PhantomData,
        })
    }
}

/// A request on the wire, awaiting its response.
pub(crate) struct PendingRequest<R: Request> {
    id: i32,
    version: i16,
    rx: oneshot::Receiver<Result<Bytes>>,
    timeout: Duration,
    started: Instant,
    _request: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> PendingRequest<R> {
    /// Waits for the response (bounded by `request.timeout.ms`) and decodes it.
    ///
    /// # Cancel safety
    /// Cancel safe: a late response is discarded.
    pub(crate) async fn finish(self, conn: &Connection) -> Result<R::Response> {
        let span = tracing::debug_span!(
            "kafka_request",
            api = api_name(R::KEY),
            version = self.version,
            broker = conn.node_id,
            addr = %conn.shared.addr,
            correlation_id = self.id,
            duration_us = tracing::field::Empty,
        );
        let started = self.started;
        let result = self.wait(conn).instrument(span.clone()).await;
        span.record("duration_us", started.elapsed().as_micros() as u64);
        result
    }

    async fn wait(self, conn: &Connection) -> Result<R::Response> {
        let remaining = self.timeout.saturating_sub(self.started.elapsed());
        let body = match tokio::time::timeout(remaining, self.rx).await {
            Ok(Ok(result)) => {
                let body = result?;
                if let Some(m) = &conn.node_metrics {
                    m.responses.record(body.len() as f64);
                    m.latency
                        .record(self.started.elapsed().as_secs_f64() * 1000.0);
                }
                body
            }
            Ok(Err(_)) => return Err(conn.closed_error()),
            Err(_) => {
                let err = Error::RequestTimeout {
                    api: api_name(R::KEY),
                    addr: conn.shared.addr.clone(),
                    timeout_ms: self.timeout.as_millis() as u64,
                };
                // As Java's NetworkClient does: a broker that let one request time out is not
                // trusted with the others; they fail now and the next use reconnects.
                conn.shared.lock().waiters.remove(&self.id);
                conn.shared.poison(Error::Disconnected {
                    addr: conn.shared.addr.clone(),
                    reason: format!("closed after a {} request timed out", api_name(R::KEY)),
                });
                return Err(err);
            }
        };
        frame::decode_response::<R>(body, self.version).inspect_err(|e| {
            // A response we cannot decode means we no longer understand this stream.
            conn.shared.poison(Error::Disconnected {
                addr: conn.shared.addr.clone(),
                reason: format!("undecodable response: {e}"),
            });
        })
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut wr: WriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut reauth_rx: oneshot::Receiver<Reauth>,
) {
    const COALESCE_BYTES: usize = 256 * 1024;
    let mut batch = BytesMut::new();
    let mut written: Vec<oneshot::Sender<()>> = Vec::new();
    let mut reauth: Option<Reauth> = None;
    while let Some((first, notify)) = rx.recv().await {
        if reauth.is_none() {
            reauth = reauth_rx.try_recv().ok();
        }
        // KIP-368: the broker closes a connection whose session has ended on its next request
        // other than SaslHandshake, so the session is renewed here, between two requests; the
        // ones queued meanwhile wait, those in flight get their answers as usual.
        if let Some(plan) = reauth.as_mut().filter(|r| Instant::now() >= r.due) {
            match plan.run(&shared, &mut wr).await {
                Ok(Some(session)) => plan.due = reauth_due(session),
                Ok(None) => reauth = None,
                Err(e) => {
                    shared.poison(e);
                    return;
                }
            }
        }
        written.extend(notify);
        // Coalesce whatever else is queued into one write: one syscall per burst, not per request.
        let (result, len) = if first.len() >= COALESCE_BYTES {
            (wr.write_all(&first).await, first.len())
        } else {
            batch.clear();
            batch.extend_from_slice(&first);
            while batch.len() < COALESCE_BYTES {
                match rx.try_recv() {
                    Ok((f, notify)) => {
                        batch.extend_from_slice(&f);
                        written.extend(notify);
                    }
                    Err(_) => break,
                }
            }
            (wr.write_all(&batch).await, batch.len())
        };
        shared.queued.fetch_sub(len, Ordering::AcqRel);
        // TLS holds records back until flushed (plain TCP: a no-op).
        let result = match result {
            Ok(()) => wr.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Poisoned before the senders drop, so their waits report this error.
            shared.poison(Error::Disconnected {
                addr: shared.addr.clone(),
                reason: format!("write failed: {e}"),
            });
            return;
        }
        for tx in written.drain(..) {
            let _ = tx.send(());
        }
    }
    let _ = wr.shutdown().await;
}

/// Sets SO_SNDBUF / SO_RCVBUF as `send.buffer.bytes` / `receive.buffer.bytes` ask (-1 keeps the
/// OS default, which on Linux also keeps buffer autotuning).
pub(crate) fn configure_socket(
    socket: &tokio::net::TcpSocket,
    settings: &ConnectionSettings,
) -> std::io::Result<()> {
    if let Ok(n) = u32::try_from(settings.send_buffer_bytes) {
        socket.set_send_buffer_size(n)?;
    }
    if let Ok(n) = u32::try_from(settings.receive_buffer_bytes) {
        socket.set_recv_buffer_size(n)?;
    }
    Ok(())
}

/// Resolves `addr` and tries every address it names in turn (`client.dns.lookup` =
/// `use_all_dns_ips`), each within the connect timeout.
async fn open_socket(
    addr: &str,
    settings: &ConnectionSettings,
) -> std::result::Result<TcpStream, String> {
    let timeout = settings.connect_timeout;
    let timed_out = || {
        format!(
            "no connection within socket.connection.setup.timeout.ms ({} ms)",
            timeout.as_millis()
        )
    };
    let addrs: Vec<std::net::SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| format!("cannot resolve: {e}"))?
            .collect();
    let mut last = format!("`{addr}` resolved to no address");
    for a in addrs {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(|e| e.to_string())?;
        configure_socket(&socket, settings).map_err(|e| format!("socket options: {e}"))?;
        match tokio::time::timeout(timeout, socket.connect(a)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{a}: {e}"),
            Err(_) => last = format!("{a}: {}", timed_out()),
        }
    }
    Err(last)
}

/// Reads a frame's `size` bytes. The buffer is reserved, not zeroed: pages are committed only
/// as bytes arrive, so a size header of garbage costs no more memory than the bytes that follow
/// it, and a large fetch response is not written twice (zeroing, then the copy from the socket).
/// A large frame is read into a buffer of an earlier one whose records are gone ([`FrameBuffers`]).
async fn read_frame_body<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    size: usize,
    buffers: &mut FrameBuffers,
) -> std::io::Result<Bytes> {
    let mut buf = buffers.take(size);
    while buf.len() < size {
        let want = (size - buf.len()) as u64;
        if (&mut *rd).take(want).read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buffers.keep(buf))
}

async fn read_loop(shared: Arc<Shared>, rd: ReadHalf) {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut buffers = FrameBuffers::default();
    let reason = loop {
        let size = match rd.read_i32().await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break "broker closed the connection".to_string();
            }
            Err(e) => break format!("read failed: {e}"),
        };
        if size < 4 || size as usize > MAX_FRAME_BYTES {
            break format!("invalid response size {size}");
        }
        let frame = match read_frame_body(&mut rd, size as usize, &mut buffers).await {
            Ok(frame) => frame,
            Err(e) => break format!("read failed mid-frame: {e}"),
        };
        let Some(id) = frame::peek_correlation_id(&frame) else {
            break "response shorter than its header".to_string();
        };
        let waiter = {
            let mut p = shared.lock();
            p.last_active = std::time::Instant::now();
            p.waiters.remove(&id)
        };
        match waiter {
            // The caller may have gone away; its response is simply dropped.
            Some(w) => {
                let _ = w.send(Ok(frame));
            }
            None => {
                if shared.lock().closed.is_some() {
                    return;
                }
                break format!("response for unknown correlation id {id}");
            }
        }
    };
    if shared.lock().closed.is_none() {
        tracing::info!(addr = %shared.addr, %reason, "connection to broker lost");
    }
    shared.poison(Error::Disconnected {
        addr: shared.addr.clone(),
        reason,
    });
}

#[cfg(test)]
mod frame_body_tests {
    use super::read_frame_body;

    #[tokio::test]
    async fn reads_exactly_the_frame_across_reads_and_leaves_the_rest() {
        let (mut tx, rx) = tokio::io::duplex(7);
        let data: Vec<u8> = (0..100u8).collect();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(&data).await.map(|_| tx)
        });
        let mut rx = rx;
        let a = read_frame_body(&mut rx, 60, &mut Default::default())
            .await
            .expect("first frame");
        let b = read_frame_body(&mut rx, 40, &mut Default::default())
            .await
            .expect("second frame");
        assert_eq!(&a[..], &(0..60u8).collect::<Vec<_>>()[..]);
        assert_eq!(&b[..], &(60..100u8).collect::<Vec<_>>()[..]);
        writer.await.expect("writer").expect("write");
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_eof_error() {
        let mut data: &[u8] = &[1, 2, 3];
        let e = read_frame_body(&mut data, 1 << 29, &mut Default::default())
            .await
            .expect_err("cut short");
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
