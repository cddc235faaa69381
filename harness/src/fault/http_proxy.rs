//! The HTTP fault proxy: an HTTP/1.1 server (keep-alive) that forwards every request to
//! an upstream base URL through a pooled client, deciding per request whether a fault
//! hits it: `latency` (wait, then forward), `http_error` (answer without forwarding),
//! `abort` (reset the client connection without an answer), `blackhole` (never answer),
//! `truncate` (forward, pass `bytes` of the answer body, close) and `slow_body` (forward,
//! dribble the answer body).
//!
//! Faults compose in two layers, outside in:
//!
//! 1. TCP faults (`tcp_latency`, `bandwidth`, `slicer`, `limit_data`, `slow_close`,
//!    `timeout`, `reset_peer`, `tcp_blackhole`), decided once per client connection when
//!    it is accepted, act on that connection's bytes exactly as on a TCP proxy (the same
//!    chains, see `tcp_proxy`): the HTTP server reads the request through them and writes
//!    the answer through them. Every one that fires acts, in list order. A connection
//!    that had a TCP fault when it opened follows later changes of the faults; one that
//!    had none is served directly (no extra copy) and keeps it that way.
//! 2. Per request: every `latency` that fires adds up and is waited first; then the first
//!    terminal fault in list order (`http_error`, `abort`, `blackhole`, `truncate`,
//!    `slow_body`) applies; later terminal faults are not tried. A `latency` listed before
//!    an `http_error` therefore delays the error, it does not hide it.
//!
//! Method, path, query, headers and body are forwarded as they came (the body streams
//! both ways, never buffered: hyper's body channels carry backpressure from the slower
//! side); only `Host` is set to the upstream's and hop-by-hop headers are dropped, as
//! RFC 9110 §7.6.1 asks of an intermediary. A client that sends its request and then
//! half-closes its side (`shutdown(SHUT_WR)`) still gets its answer.

use crate::listener::accept_until;
use std::convert::Infallible;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::Shared;
use super::attempts::{Attempt, UpstreamOutcome};
use super::decide::{HttpInjection, RequestFacts};
use super::relay::{Live, Resettable, relay_live};
use super::tcp_proxy::{swallow, whole_connection};
use super::upstream::{LingeringBody, UpstreamPool};
use crate::tls::{TlsConfig, server_name};

/// An error that ends a body or a connection.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The body the proxy answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
];

/// The upstream base URL split into what every forwarded request needs.
#[derive(Debug, Clone)]
pub struct Upstream {
    authority: Authority,
    host: HeaderValue,
    /// The base path without a trailing slash ("" for the root).
    base_path: String,
    /// Reached over TLS (`https://`).
    secure: bool,
}

impl Upstream {
    /// Parses an `http://host:port[/base]` or `https://host:port[/base]` URL.
    pub fn parse(url: &str) -> io::Result<Self> {
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("upstream `{url}` {why}; write it like \"http://127.0.0.1:8081\""),
            )
        };
        let uri: Uri = url.parse().map_err(|_| invalid("is not a URL"))?;
        let secure = uri.scheme() == Some(&Scheme::HTTPS);
        if !(secure || uri.scheme() == Some(&Scheme::HTTP)) {
            return Err(invalid(
                "must start with http:// or https:// (the proxy speaks HTTP/1.1)",
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("has no host"))?;
        if uri.query().is_some() {
            return Err(invalid("cannot carry a query"));
        }
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|_| invalid("has a bad host"))?;
        Ok(Self {
            authority,
            host,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            secure,
        })
    }

    /// The connection pool to this upstream; over TLS trusting `tls` (the system roots
    /// when `None`).
    pub(super) fn pool(&self, tls: Option<&TlsConfig>) -> io::Result<UpstreamPool> {
        let host = self.authority.host();
        let port = self
            .authority
            .port_u16()
            .unwrap_or(if self.secure { 443 } else { 80 });
        if !self.secure {
            return Ok(UpstreamPool::new(host, port, None));
        }
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let connector = match tls {
            Some(tls) => tls.connector(),
            None => TlsConfig::system().map_err(invalid)?.connector(),
        };
        let name = server_name(host).map_err(invalid)?;
        Ok(UpstreamPool::new(host, port, Some((connector, name))))
    }

    /// The request target upstream, in origin form (`/base/path?query`, as HTTP/1.1
    /// sends it to a server), for a request to `path_and_query` on the proxy.
    fn target(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let tail = path_and_query.map_or("/", PathAndQuery::as_str);
        if self.base_path.is_empty() {
            return Uri::builder().path_and_query(tail).build();
        }
        Uri::builder()
            .path_and_query(format!("{}{tail}", self.base_path))
            .build()
    }
}

/// What the per-request handler shares.
#[derive(Debug)]
struct Proxy {
    shared: Arc<Shared>,
    client: UpstreamPool,
    upstream: Upstream,
}

/// The error a handler returns to make hyper drop the connection without an answer.
#[derive(Debug)]
struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection aborted by an injected fault")
    }
}

impl StdError for Aborted {}

/// The error that cuts a truncated body.
#[derive(Debug)]
struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("answer body truncated by an injected fault")
    }
}

impl StdError for Truncated {}

/// Serves the HTTP proxy on `listener` until `stopped` fires.
pub(super) async fn accept_loop(
    listener: TcpListener,
    upstream: Upstream,
    client: UpstreamPool,
    shared: Arc<Shared>,
    stopped: oneshot::Receiver<()>,
) {
    let proxy = Arc::new(Proxy {
        shared,
        client,
        upstream,
    });
    let mut builder = http1::Builder::new();
    // Half-close: a client may shut its sending side once the request is out and still
    // wait for the answer, which hyper would otherwise never write.
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .half_close(true);
    accept_until(listener, stopped, move |stream| {
        let reset = Arc::new(AtomicBool::new(false));
        let client = ResettableStream {
            stream,
            reset: Arc::clone(&reset),
        };
        let decision = {
            let shared = &proxy.shared;
            let at = shared.now();
            shared.faults().decide_connection(at)
        };
        let actions: Vec<_> = decision
            .injections
            .iter()
            .map(|i| i.action.clone())
            .collect();
        let shared = Arc::clone(&proxy.shared);
        let handler = Arc::clone(&proxy);
        let service = service_fn(move |req| Arc::clone(&handler).handle(req, Arc::clone(&reset)));
        let builder = builder.clone();
        async move {
            if actions.is_empty() {
                // Aborts and clients leaving mid-exchange end here; nothing to report.
                let _ = builder
                    .serve_connection(TokioIo::new(client), service)
                    .await;
                return;
            }
            match whole_connection(&actions) {
                Some(super::decide::TcpInjection::Blackhole) => swallow(client).await,
                Some(_) => client.reset_on_close(),
                None => {
                    // The client's bytes go through the TCP faults on their way to and
                    // from the HTTP server, which reads the other end of an in-memory pipe.
                    // They follow changes of the faults, as on a TCP proxy.
                    let (near, far) = tokio::io::duplex(PIPE);
                    let (chains, live) = Live::start(&decision, &shared);
                    let serving = builder.serve_connection(TokioIo::new(far), service);
                    let _ = tokio::join!(relay_live(client, near, chains, Some(live)), serving);
                }
            }
        }
    })
    .await;
}

/// The in-memory pipe between a client connection with TCP faults and the HTTP server.
const PIPE: usize = 64 * 1024;

/// An attempt that is logged exactly once: when finished, or as `cancelled` when dropped.
struct PendingAttempt {
    proxy: Arc<Proxy>,
    entry: Option<Attempt>,
    arrived: Instant,
}

impl PendingAttempt {
    fn finish(&mut self, upstream: UpstreamOutcome) {
        if let Some(mut entry) = self.entry.take() {
            entry.upstream = upstream;
            entry.latency = self.arrived.elapsed();
            self.proxy.shared.log.record(entry);
        }
    }
}

impl Drop for PendingAttempt {
    fn drop(&mut self) {
        self.finish(UpstreamOutcome::Error("cancelled".to_owned()));
    }
}

impl Proxy {
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        reset: Arc<AtomicBool>,
    ) -> Result<Response<ProxyBody>, Aborted> {
        let arrived = Instant::now();
        let at = self.shared.now();
        let request_id =
            crate::correlation::request_id(req.headers(), self.shared.request_id_header.as_ref());
        let decision = {
            let facts = RequestFacts {
                method: req.method(),
                path: req.uri().path(),
                headers: req.headers(),
                request_id,
            };
            self.shared.faults().decide(at, &facts)
        };
        let label = decision.label().map(str::to_owned);
        let delay = decision.delay();
        let action = decision.terminal().map(|i| i.action.clone());
        // Logged when the exchange ends, or when it is dropped half-way (the client gave up
        // during an injected delay): a request that reached the proxy is always counted.
        let mut attempt = PendingAttempt {
            proxy: Arc::clone(&self),
            entry: Some(Attempt {
                at,
                request_id,
                attempt: decision.attempt,
                injected: label.clone(),
                upstream: UpstreamOutcome::NotForwarded,
                latency: Duration::ZERO,
            }),
            arrived,
        };
        let mut log = |upstream: UpstreamOutcome| attempt.finish(upstream);
        // Every delay first, then the terminal fault (see the module comment).
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match action {
            Some(HttpInjection::Respond {
                status,
                body,
                headers,
            }) => {
                log(UpstreamOutcome::NotForwarded);
                let mut response = Response::new(full(body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                return Ok(response);
            }
            Some(HttpInjection::Abort) => {
                log(UpstreamOutcome::NotForwarded);
                // hyper closes the connection when the service fails; the flag turns that
                // close into an RST, as a crashed or firewalled peer would send.
                reset.store(true, Ordering::Relaxed);
                return Err(Aborted);
            }
            Some(HttpInjection::Blackhole) => {
                log(UpstreamOutcome::NotForwarded);
                // Held until hyper sees the client leave or the proxy stops; both drop this.
                return std::future::pending().await;
            }
            _ => {}
        }
        let response = match self.forward(req).await {
            Ok(response) => response,
            Err(class) => {
                log(UpstreamOutcome::Error(class.to_owned()));
                return Ok(bad_gateway(class));
            }
        };
        log(UpstreamOutcome::Status(response.status().as_u16()));
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let body = match action {
            Some(HttpInjection::Truncate { bytes }) => TruncatedBody::new(body, bytes).boxed(),
            Some(HttpInjection::SlowBody {
                chunk_delay,
                chunk_size,
            }) => SlowBody::new(body, chunk_delay, chunk_size).boxed(),
            _ => body.map_err(BoxError::from).boxed(),
        };
        Ok(Response::from_parts(parts, body))
    }

    /// Sends `req` upstream; on failure, a short class of what went wrong.
    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Incoming>, &'static str> {
        let (mut parts, body) = req.into_parts();
        parts.uri = self
            .upstream
            .target(parts.uri.path_and_query())
            .map_err(|_| "bad_uri")?;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(HOST, self.upstream.host.clone());
        self.client
            .send(Request::from_parts(parts, LingeringBody::new(body)))
            .await
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn full(body: Bytes) -> ProxyBody {
    Full::new(body)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn bad_gateway(class: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::from(format!(
        "fault proxy: the upstream failed ({class})"
    ))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A client connection that closes with an RST instead of a FIN once `reset` is set.
#[derive(Debug)]
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Resettable for ResettableStream {
    fn reset_on_close(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // If SO_LINGER cannot be set the close is an ordinary FIN: still no answer.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// An answer body cut after `remaining` bytes: the cut is an error, so hyper closes the
/// connection and the client sees fewer bytes than the answer announced.
#[derive(Debug)]
pub struct TruncatedBody<B> {
    inner: B,
    remaining: u64,
    /// Whether the server has had its chance to flush what passed before the cut.
    yielded: bool,
}

impl<B> TruncatedBody<B> {
    /// `inner`, cut after `bytes`.
    pub fn new(inner: B, bytes: u64) -> Self {
        Self {
            inner,
            remaining: bytes,
            yielded: false,
        }
    }
}

impl<B> Body for TruncatedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            if !this.yielded {
                // hyper drops its write buffer when a body fails; pausing once makes it
                // flush the head and the passed prefix first, so the client gets them.
                this.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(Box::new(Truncated))));
        }
        let Some(frame) = ready!(Pin::new(&mut this.inner).poll_frame(cx)) else {
            return Poll::Ready(None);
        };
        let frame = frame.map_err(Into::into)?;
        match frame.into_data() {
            Ok(mut data) => {
                let len = data.len() as u64;
                if len > this.remaining {
                    data.truncate(usize::try_from(this.remaining).unwrap_or(usize::MAX));
                }
                this.remaining = this.remaining.saturating_sub(len);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Err(other) => Poll::Ready(Some(Ok(other))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        // The announced length stays as the upstream sent it: the shortfall is the fault.
        self.inner.size_hint()
    }
}

/// An answer body sent in `chunk_size` pieces, each after `chunk_delay`.
#[derive(Debug)]
pub struct SlowBody<B> {
    inner: B,
    pending: Bytes,
    chunk_delay: Duration,
    chunk_size: usize,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> SlowBody<B> {
    /// `inner`, re-chunked and slowed.
    pub fn new(inner: B, chunk_delay: Duration, chunk_size: usize) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            chunk_delay,
            chunk_size: chunk_size.max(1),
            sleep: None,
        }
    }
}

impl<B> Body for SlowBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let delay = this.chunk_delay;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
                let take = this.chunk_size.min(this.pending.len());
                return Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(take)))));
            }
            let Some(frame) = ready!(Pin::new(&mut this.inner).poll_frame(cx)) else {
                return Poll::Ready(None);
            };
            match frame.map_err(Into::into)?.into_data() {
                Ok(data) => this.pending = data,
                Err(other) => return Poll::Ready(Some(Ok(other))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut hint = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        hint.set_lower(hint.lower().saturating_add(pending));
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(pending));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_their_base_path_and_take_tls() {
        let up = Upstream::parse("http://127.0.0.1:9/api/").expect("valid");
        let pq: PathAndQuery = "/execute?x=1".parse().expect("valid");
        assert_eq!(
            up.target(Some(&pq)).expect("uri").to_string(),
            "/api/execute?x=1"
        );
        let root = Upstream::parse("http://localhost:8080").expect("valid");
        assert_eq!(root.target(None).expect("uri").to_string(), "/");
        assert_eq!(root.host, "localhost:8080");
        let tls = Upstream::parse("https://x:1/base").expect("valid");
        assert!(tls.secure && !root.secure);
        for bad in ["ftp://x:1", "127.0.0.1:80", "http://x:1/?q=1", "not a url"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hop_by_hop_headers_are_dropped_including_those_named_by_connection() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-keep", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-keep"]);
    }

    #[tokio::test]
    async fn a_truncated_body_passes_the_prefix_then_fails() {
        let body = TruncatedBody::new(Full::new(Bytes::from_static(b"0123456789")), 4);
        let mut body = std::pin::pin!(body);
        let first = body.frame().await.expect("frame").expect("data");
        assert_eq!(
            first.into_data().expect("data"),
            Bytes::from_static(b"0123")
        );
        assert!(body.frame().await.expect("end").is_err());
    }

    #[tokio::test]
    async fn a_slow_body_comes_in_pieces_after_the_delay() {
        let body = SlowBody::new(
            Full::new(Bytes::from_static(b"0123456789")),
            Duration::from_millis(5),
            4,
        );
        let started = Instant::now();
        let mut pieces = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            pieces.push(frame.expect("frame").into_data().expect("data"));
        }
        assert_eq!(pieces, ["0123", "4567", "89"]);
        assert!(started.elapsed() >= Duration::from_millis(15));
    }
}
