//! The bytes under one client connection: plain TCP or TLS over TCP.
//!
//! An enum rather than a generic, so the pool holds one connection type; the plain arm
//! is what the hot path always was (a match per call costs nothing measurable,
//! BENCHMARKS.md). The TLS stream is boxed: it is large, and a plain connection should
//! not carry its size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::tls::TlsConnector;

/// A connected stream.
#[derive(Debug)]
pub(super) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, handshake done.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    /// TCP failed (refused, unreachable, reset).
    Tcp(io::Error),
    /// The TLS handshake failed; the description says how.
    Tls(String),
}

impl Stream {
    /// Connects to `host:port` (no delay: small requests must not wait for Nagle), then
    /// shakes hands when `tls` is given.
    pub(super) async fn open(
        host: &str,
        port: u16,
        tls: Option<(&TlsConnector, ServerName<'static>)>,
    ) -> Result<Self, OpenError> {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(OpenError::Tcp)?;
        tcp.set_nodelay(true).map_err(OpenError::Tcp)?;
        let Some((connector, name)) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        match connector.0.connect(name, tcp).await {
            Ok(stream) => Ok(Stream::Tls(Box::new(stream))),
            Err(e) => Err(OpenError::Tls(crate::tls::describe_io(&e).unwrap_or_else(
                || match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        "the server closed the connection during the TLS handshake".to_string()
                    }
                    _ => format!("the TLS handshake failed: {e}"),
                },
            ))),
        }
    }

    /// Writes `buf` (or a part of it).
    pub(super) async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf).await,
            Stream::Tls(s) => s.write(buf).await,
        }
    }

    /// Sends what TLS still holds of the written bytes (nothing to do for TCP).
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(s) => s.flush().await,
        }
    }

    /// Reads into `buf`'s spare capacity.
    pub(super) async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }

    /// True when nothing arrived on the idle connection and it is still open.
    ///
    /// TCP: costs no system call unless the socket was left marked readable. TLS: an idle
    /// connection may be readable without closing, because a TLS 1.3 server sends session
    /// tickets after the handshake; a non-blocking read through the TLS layer processes
    /// such records and yields no data (still idle), while `close_notify` or EOF yields
    /// the end (closing), and application data means the server is confused.
    pub(super) fn is_idle(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self {
            Stream::Plain(s) => match s.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                // Readiness may be left over from the last answer's read: look.
                Poll::Ready(Ok(())) => {
                    let mut probe = [0u8; 1];
                    matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
            },
            Stream::Tls(s) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                // Pending: the socket had nothing more, every record read was a
                // handshake message (tickets). The socket's readiness is cleared on the
                // way, so the next look costs no system call either.
                matches!(
                    Pin::new(&mut **s).poll_read(&mut cx, &mut buf),
                    Poll::Pending
                )
            }
        }
    }
}
