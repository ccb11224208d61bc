//! Listeners and connections of the mock brokers: read a frame, apply any fault, answer.
//! Requests on one connection are handled in order, as a Kafka broker does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use super::faults::FaultAction;
use super::{BrokerSlot, Shared, group_api, handlers, lock};
use crate::error::{Error, Result};
use crate::protocol::frame::{MAX_FRAME_BYTES, peek_request_header};

/// Binds broker `id` on `port` (0: any free port) and starts accepting. Returns the port.
pub(crate) async fn start(shared: Arc<Shared>, id: i32, port: u16) -> Result<u16> {
    let listener = bind(port).await?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Connect {
            addr: "127.0.0.1".into(),
            reason: e.to_string(),
        })?
        .port();
    let s = shared.clone();
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let conn = tokio::spawn(connection(s.clone(), id, stream));
            if let Some(b) = lock(&s.brokers).get_mut(&id) {
                b.tasks.retain(|t| !t.is_finished());
                b.tasks.push(conn.abort_handle());
            }
        }
    });
    lock(&shared.brokers).insert(
        id,
        BrokerSlot {
            port,
            up: true,
            silent: false,
            tasks: vec![accept.abort_handle()],
            blackhole: None,
        },
    );
    Ok(port)
}

/// Binds 127.0.0.1:`port`. A restart asks for the port the broker had: the aborted accept task of
/// its previous life drops that listener on a worker thread a moment later, and a client's
/// connect attempt may hold the port briefly (a self-connect when nothing listens), so
/// `AddrInUse` is retried for up to 5 s.
async fn bind(port: u16) -> Result<TcpListener> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e)
                if port != 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => {
                return Err(Error::Connect {
                    addr: format!("127.0.0.1:{port}"),
                    reason: e.to_string(),
                });
            }
        }
    }
}

/// A port that drops connection attempts: a listener whose accept queue is full and never
/// drained. Linux drops a SYN that finds the queue full, so a client's connect hangs until its
/// own timeout, as with a paused host.
pub(crate) struct Blackhole {
    _listener: TcpListener,
    _fill: Vec<TcpStream>,
}

impl Blackhole {
    pub(crate) async fn new(port: u16) -> Result<Blackhole> {
        let err = |e: std::io::Error| Error::Connect {
            addr: format!("127.0.0.1:{port}"),
            reason: e.to_string(),
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            let socket = tokio::net::TcpSocket::new_v4().map_err(err)?;
            socket.set_reuseaddr(true).map_err(err)?;
            match socket.bind(addr) {
                Ok(()) => break socket.listen(0).map_err(err)?,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(err(e)),
            }
        };
        // Fill the accept queue: connect until an attempt no longer completes.
        let mut fill = Vec::new();
        while fill.len() < 16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => fill.push(s),
                _ => break,
            }
        }
        Ok(Blackhole {
            _listener: listener,
            _fill: fill,
        })
    }
}

/// Waits as [`MockCluster::set_read_rate`](super::MockCluster::set_read_rate) asks after a
/// request of `read_bytes` bytes was read, before it is handled and the next one read: a paused
/// broker leaves even a request it was already reading unanswered.
async fn throttle_reads(shared: &Shared, next_read: &mut Instant, read_bytes: usize) {
    let rate = |s: &Shared| s.read_rate.load(Ordering::Acquire);
    while rate(shared) == 0 {
        // Paused: poll, so that resuming needs no wake-up plumbing.
        tokio::time::sleep(Duration::from_millis(5)).await;
        *next_read = Instant::now();
    }
    let rate = rate(shared);
    if rate == u64::MAX {
        return;
    }
    // Sleeps overshoot by up to a timer tick: lagging up to 50 ms behind the schedule is made
    // up by not sleeping, so the rate holds; a connection idle for longer gets no more credit.
    let now = Instant::now();
    let lag = now.checked_sub(Duration::from_millis(50)).unwrap_or(now);
    *next_read = (*next_read).max(lag) + Duration::from_secs_f64(read_bytes as f64 / rate as f64);
    tokio::time::sleep_until(*next_read).await;
}

async fn connection(shared: Arc<Shared>, broker: i32, stream: TcpStream) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut next_read = Instant::now();
    loop {
        let Ok(size) = rd.read_i32().await else {
            return;
        };
        if size < 8 || size as usize > MAX_FRAME_BYTES {
            return;
        }
        let mut buf = BytesMut::zeroed(size as usize);
        if rd.read_exact(&mut buf).await.is_err() {
            return;
        }
        throttle_reads(&shared, &mut next_read, 4 + size as usize).await;
        let frame = buf.freeze();
        let Some((api_key, _, _)) = peek_request_header(&frame) else {
            return;
        };
        if lock(&shared.brokers).get(&broker).is_some_and(|b| b.silent) {
            continue;
        }
        let fault = shared.take_fault(api_key, broker);
        let mut injected = None;
        match fault {
            Some(FaultAction::DropBefore) => return,
            Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
            Some(FaultAction::Error(code)) => injected = Some(code),
            _ => {}
        }
        let mut response = if group_api::SERVED.contains(&api_key) {
            group_api::handle(&shared, broker, api_key, frame.clone(), injected).await
        } else {
            handlers::handle(&shared, broker, api_key, frame.clone(), injected, true)
        };
        if let Ok(handlers::Outcome::WaitForData(wait)) = response {
            let wait = wait.min(Duration::from_secs(30));
            let _ = tokio::time::timeout(wait, shared.appended.notified()).await;
            response = handlers::handle(&shared, broker, api_key, frame, injected, false);
        }
        let bytes = match response {
            Ok(handlers::Outcome::Reply(b)) => b,
            Ok(handlers::Outcome::NoReply) => continue,
            Ok(handlers::Outcome::WaitForData(_)) => continue,
            Err(e) => {
                tracing::debug!(broker, api_key, error = %e, "mock cannot serve request");
                return;
            }
        };
        match fault {
            Some(FaultAction::DropAfter) => return,
            Some(FaultAction::CutResponse) => {
                let _ = wr.write_all(&bytes[..bytes.len() / 2]).await;
                return;
            }
            _ => {}
        }
        if wr.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::mock::MockCluster;

    /// The producer test that restarts a broker failed in CI with "Address already in use": the
    /// listener of the stopped broker is dropped by its aborted task a moment after
    /// `stop_broker` returns. Restarting at once must still succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn restart_right_after_stop_rebinds_the_same_port() {
        let c = MockCluster::builder()
            .brokers(2)
            .build()
            .await
            .expect("mock");
        let before = c.bootstrap_servers();
        for round in 0..200 {
            c.stop_broker(1);
            c.start_broker(1)
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        assert_eq!(c.bootstrap_servers(), before);
    }
}
