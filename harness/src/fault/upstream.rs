//! The HTTP proxy's connections to its upstream: a stack of idle HTTP/1.1 connections,
//! the most recently used taken first, each driven by a task of its own.
//!
//! Bodies stream both ways (a request's body goes up as it arrives, an answer's comes
//! back as the upstream sends it), so a connection is put back as soon as the answer's
//! head is in, and taken again only once it is ready for another request: an answer
//! still streaming (a `slow_body` fault, a large download) never holds up other
//! requests, which open another connection instead. That is all a single-upstream proxy
//! needs of a pool, and per request it costs a fraction of a general-purpose client
//! (BENCHMARKS.md, "the fault proxy"). An `https://` upstream is reached over TLS; its
//! connections resume each other's sessions.
//!
//! A request body the upstream stops reading (it answered early, a 413 say, and closed)
//! is not dropped with the upstream connection: the rest is read and discarded for up
//! to [`LINGER`] ([`LingeringBody`]), so the client, still sending, finishes and reads
//! the answer instead of meeting a reset, as a lingering close in nginx does.

use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::tls::TlsConnector;

/// The most connections kept, idle or streaming an answer.
const MAX_KEPT: usize = 1024;

/// Why a request could not be forwarded, as logged in the attempt and the 502 body.
pub type ForwardError = &'static str;

/// Pooled HTTP/1.1 connections to one upstream.
#[derive(Debug)]
pub struct UpstreamPool {
    host: String,
    port: u16,
    /// TLS to the upstream, with the name its certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    kept: Mutex<Vec<SendRequest<LingeringBody>>>,
}

impl UpstreamPool {
    /// A pool for `host:port` (over TLS when `tls` is given); connects on demand.
    pub fn new(host: &str, port: u16, tls: Option<(TlsConnector, ServerName<'static>)>) -> Self {
        Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// Sends `request` upstream and returns the answer as soon as its head is in.
    ///
    /// A kept connection that closed before it took the request is replaced by a new
    /// one, once; a failure after the request was taken is `upstream_closed`.
    pub async fn send(
        &self,
        mut request: Request<LingeringBody>,
    ) -> Result<Response<Incoming>, ForwardError> {
        let mut conn = match self.take_ready() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let mut retried = false;
        loop {
            match conn.try_send_request(request).await {
                Ok(response) => {
                    self.keep(conn);
                    return Ok(response);
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !retried => {
                        retried = true;
                        request = unsent;
                        conn = self.connect().await?;
                    }
                    _ => return Err("upstream_closed"),
                },
            }
        }
    }

    /// The most recently kept connection that can take a request now; closed ones are
    /// dropped on the way.
    fn take_ready(&self) -> Option<SendRequest<LingeringBody>> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let mut index = kept.len();
        while index > 0 {
            index -= 1;
            if kept[index].is_closed() {
                // The last one moves here, and it was looked at already.
                kept.swap_remove(index);
            } else if kept[index].is_ready() {
                return Some(kept.swap_remove(index));
            }
        }
        None
    }

    fn keep(&self, conn: SendRequest<LingeringBody>) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < MAX_KEPT {
            kept.push(conn);
        }
    }

    async fn connect(&self) -> Result<SendRequest<LingeringBody>, ForwardError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|_| "connect")?;
        // Without it, small requests wait on Nagle's algorithm for the peer's delayed ACK.
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(stream).await,
            Some((connector, name)) => {
                let stream = connector
                    .0
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|_| "tls")?;
                handshake(stream).await
            }
        }
    }
}

/// HTTP/1.1 on `io`, driven by a task of its own.
async fn handshake<T>(io: T) -> Result<SendRequest<LingeringBody>, ForwardError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|_| "connect")?;
    tokio::spawn(async move {
        // A failure reaches the request (or the answer body) using the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// How long the rest of a request body the upstream stopped reading is read and dropped.
pub const LINGER: Duration = Duration::from_secs(30);

/// A client's request body on its way upstream; dropped before its end, it drains the
/// rest in a task of its own for up to [`LINGER`].
#[derive(Debug)]
pub struct LingeringBody {
    inner: Option<Incoming>,
}

impl LingeringBody {
    /// `body`, drained if dropped unfinished.
    pub fn new(body: Incoming) -> Self {
        Self { inner: Some(body) }
    }
}

impl Body for LingeringBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for LingeringBody {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        // Outside a runtime (never, in the proxy) the body is simply dropped.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let drain = async { while let Some(Ok(_)) = body.frame().await {} };
                let _ = tokio::time::timeout(LINGER, drain).await;
            });
        }
    }
}
