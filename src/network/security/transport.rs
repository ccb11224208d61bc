//! The byte stream under a connection: plain TCP, or TLS over TCP. Plain TCP keeps tokio's
//! lock-free owned halves; TLS halves come from `tokio::io::split`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
#[cfg(feature = "tls")]
use tokio_rustls::client::TlsStream;

/// What a plain connection's first read fails with when the broker answered in TLS.
pub(crate) const TLS_ANSWER: &str = "the broker answered with a TLS record";

/// The read half of a connection's transport.
pub(crate) enum ReadHalf {
    /// Plain TCP; the flag is set once the first bytes were checked for a TLS answer.
    Plain(OwnedReadHalf, bool),
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The write half of a connection's transport. Call `flush` after each burst of writes: TLS
/// may hold records back until then.
pub(crate) enum WriteHalf {
    Plain(OwnedWriteHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

/// Splits a plain TCP stream.
pub(crate) fn plain(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    let (rd, wr) = stream.into_split();
    (ReadHalf::Plain(rd, false), WriteHalf::Plain(wr))
}

/// Splits a TLS stream.
#[cfg(feature = "tls")]
pub(crate) fn tls(stream: TlsStream<TcpStream>) -> (ReadHalf, WriteHalf) {
    let (rd, wr) = tokio::io::split(stream);
    (ReadHalf::Tls(rd), WriteHalf::Tls(wr))
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Plain(r, checked) => {
                let before = buf.filled().len();
                let result = Pin::new(r).poll_read(cx, buf);
                let new = &buf.filled()[before..];
                if !*checked && !new.is_empty() {
                    *checked = true;
                    // A TLS port answers a plaintext request with an alert record (type 21,
                    // version 3.x); as a Kafka frame size it would read as ~350 MB.
                    if new.len() >= 2 && matches!(new[0], 21 | 22) && new[1] == 3 {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            TLS_ANSWER,
                        )));
                    }
                }
                result
            }
            #[cfg(feature = "tls")]
            ReadHalf::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_flush(cx),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Plain(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Plain(w) => w.is_write_vectored(),
            #[cfg(feature = "tls")]
            WriteHalf::Tls(w) => w.is_write_vectored(),
        }
    }
}
