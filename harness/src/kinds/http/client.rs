//! Sending one HTTP request and classing how it ended.
//!
//! Both load models use this one function, so a `timeout`, a `connect` or a
//! `reset` means the same thing whichever driver produced it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::h1::{Connection, Failure, RequestHead};
use super::stream::{OpenError, Stream};
use crate::correlation::Correlation;
use crate::kinds::samples::FailureSamples;
use crate::outcome::OutcomeClass;
use crate::tls::{TlsConfig, TlsConnector, server_name};

/// A pooled HTTP/1.1 client shared by every worker of a run, for `http://` and
/// `https://` alike.
///
/// A request takes the most recently used idle connection to its origin (or opens one),
/// runs the whole exchange in the caller's task (see [`super::h1`]) and gives the
/// connection back when the answer is read, unless the answer or a failure closed it.
/// That is all a load generator needs of a pool, and it costs far less per request than
/// a general-purpose client (BENCHMARKS.md has the measurements). TLS connections are
/// pooled like plain ones, and new ones resume the sessions of earlier ones (one session
/// cache per client).
#[derive(Clone, Debug)]
pub struct HttpClient {
    pool: Arc<Pool>,
    correlation: Arc<Correlation>,
}

#[derive(Debug)]
struct Pool {
    /// Idle connections per origin; a run talks to one or two, so a list beats a map.
    idle: Mutex<Vec<(Origin, Vec<Connection>)>>,
    max_idle: usize,
    /// Opens TLS connections; without a config given, made from the system roots on the
    /// first `https://` request.
    tls: OnceLock<Result<TlsConnector, String>>,
    /// How TLS failed, for the run's notes.
    samples: FailureSamples,
}

/// Where a pooled connection goes: TLS or not, and the authority.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    secure: bool,
    authority: Authority,
}

impl Origin {
    fn is(&self, secure: bool, authority: &Authority) -> bool {
        self.secure == secure && self.authority.as_str() == authority.as_str()
    }
}

impl HttpClient {
    /// A client whose pool keeps up to `max_idle` connections per origin; `https://`
    /// requests trust the system roots.
    pub fn new(max_idle: usize) -> Self {
        Self::build(max_idle, OnceLock::new())
    }

    /// A client whose `https://` requests use `tls` (roots, client certificate), with a
    /// session cache of its own.
    pub fn with_tls(max_idle: usize, tls: &TlsConfig) -> Self {
        Self::build(max_idle, OnceLock::from(Ok(tls.connector())))
    }

    fn build(max_idle: usize, tls: OnceLock<Result<TlsConnector, String>>) -> Self {
        Self {
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                max_idle: max_idle.max(1),
                tls,
                samples: FailureSamples::default(),
            }),
            correlation: Arc::new(Correlation::default()),
        }
    }

    /// The same client, its requests carrying their ids as `correlation` says.
    pub fn with_correlation(self, correlation: Correlation) -> Self {
        Self {
            correlation: Arc::new(correlation),
            ..self
        }
    }

    /// How TLS failed so far (distinct descriptions, the first few); the store is emptied.
    pub fn failure_samples(&self) -> Vec<String> {
        self.pool.samples.take()
    }

    /// Sends `request` and reads the whole answer within `timeout`.
    pub async fn send(&self, request: OutgoingRequest, timeout: Duration) -> Answer {
        let Some(authority) = request.uri.authority() else {
            return Answer::failed(OutcomeClass::Transport);
        };
        let secure = request.uri.scheme_str() == Some("https");
        let target = request.uri.path_and_query().map_or("/", |p| p.as_str());
        let head = RequestHead {
            method: &request.method,
            target: if target.is_empty() { "/" } else { target },
            authority: authority.as_str(),
            headers: &request.headers,
            request_id: request.request_id,
            correlation: &self.correlation,
            body: &request.body,
            keep_body: request.keep_body,
            keep_headers: request.keep_headers.as_deref().unwrap_or_default(),
        };
        match tokio::time::timeout(timeout, self.exchange(secure, authority, head)).await {
            Err(_) => Answer::failed(OutcomeClass::Timeout),
            Ok(Err(class)) => Answer::failed(class),
            Ok(Ok(answer)) => Answer {
                status: Some(answer.status),
                headers: answer.headers,
                body: answer.body,
                failure: None,
            },
        }
    }

    /// One exchange on a pooled (or new) connection. A pooled connection found closed
    /// before the request reached the server (or, for an idempotent method, before any
    /// answer byte came back) is replaced by a new one, once.
    async fn exchange(
        &self,
        secure: bool,
        authority: &Authority,
        request: RequestHead<'_>,
    ) -> Result<super::h1::Answer, OutcomeClass> {
        let mut conn = match self.pool.checkout(secure, authority) {
            Some(conn) => conn,
            None => self.connect(secure, authority).await?,
        };
        let answer = match conn.exchange(request).await {
            Ok(answer) => answer,
            Err(Failure::Stale { unwritten, class }) => {
                if !(unwritten || is_idempotent(request.method)) {
                    return Err(self.failed(&mut conn, class));
                }
                conn = self.connect(secure, authority).await?;
                match conn.exchange(request).await {
                    Ok(answer) => answer,
                    Err(Failure::Stale { class, .. } | Failure::Failed(class)) => {
                        return Err(self.failed(&mut conn, class));
                    }
                }
            }
            Err(Failure::Failed(class)) => return Err(self.failed(&mut conn, class)),
        };
        self.pool.checkin(secure, authority, conn);
        Ok(answer)
    }

    /// `class`, after keeping the description of a TLS failure.
    fn failed(&self, conn: &mut Connection, class: OutcomeClass) -> OutcomeClass {
        if let Some(why) = conn.take_tls_failure() {
            self.pool.samples.push_distinct(format!("tls: {why}"));
        }
        class
    }

    /// Opens a connection to `authority` (port 80, or 443 for TLS, when none is given).
    async fn connect(
        &self,
        secure: bool,
        authority: &Authority,
    ) -> Result<Connection, OutcomeClass> {
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls_failed = |why: String| {
            self.pool.samples.push_distinct(format!("tls: {why}"));
            OutcomeClass::Tls
        };
        let tls = if secure {
            let connector = self
                .pool
                .tls
                .get_or_init(|| TlsConfig::system().map(|c| c.connector()))
                .as_ref()
                .map_err(|why| tls_failed(why.clone()))?;
            Some((connector, server_name(host).map_err(tls_failed)?))
        } else {
            None
        };
        match Stream::open(host, port, tls).await {
            Ok(stream) => Ok(Connection::new(stream)),
            Err(OpenError::Tls(why)) => Err(tls_failed(why)),
            Err(OpenError::Tcp(e)) => {
                Err(match super::h1::classify_io(&e, OutcomeClass::Connect) {
                    // A reset while connecting is still a failure to connect.
                    OutcomeClass::Reset => OutcomeClass::Connect,
                    class => class,
                })
            }
        }
    }
}

/// Methods a client may send again when it cannot tell whether the server saw them
/// (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

impl Pool {
    fn checkout(&self, secure: bool, authority: &Authority) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, stack) = idle
            .iter_mut()
            .find(|(origin, _)| origin.is(secure, authority))?;
        while let Some(mut conn) = stack.pop() {
            if conn.is_reusable() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, secure: bool, authority: &Authority, mut conn: Connection) {
        if !conn.is_reusable() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match idle
            .iter()
            .position(|(origin, _)| origin.is(secure, authority))
        {
            Some(index) => index,
            None => {
                idle.push((
                    Origin {
                        secure,
                        authority: authority.clone(),
                    },
                    Vec::new(),
                ));
                idle.len() - 1
            }
        };
        let stack = &mut idle[index].1;
        if stack.len() < self.max_idle {
            stack.push(conn);
        }
    }
}

/// One request, ready to send.
#[derive(Debug)]
pub struct OutgoingRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URI.
    pub uri: Uri,
    /// Headers of the path and the step.
    pub headers: HeaderMap,
    /// Request body (may be empty).
    pub body: Bytes,
    /// Sent as `x-harness-request-id` and in `traceparent` (see [`crate::correlation`]).
    pub request_id: u64,
    /// False when nobody reads the answer's body: it is then read and dropped as it
    /// arrives, and [`Answer::body`] is empty.
    pub keep_body: bool,
    /// Answer headers the step reads (checks, extractions); `None` for none.
    pub keep_headers: Option<Arc<[HeaderName]>>,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    /// The status, when an answer arrived.
    pub status: Option<u16>,
    /// The headers the request asked to keep.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The whole body (empty on failure, and when the request did not keep it).
    pub body: Bytes,
    /// Set when no complete answer arrived.
    pub failure: Option<OutcomeClass>,
}

impl Answer {
    fn failed(class: OutcomeClass) -> Self {
        Self {
            status: None,
            headers: Vec::new(),
            body: Bytes::new(),
            failure: Some(class),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// What the raw server does with the next request it reads.
    enum Reply {
        /// Writes these pieces, pausing between them, and keeps the connection.
        Pieces(Vec<&'static [u8]>),
        /// Writes this, then closes the connection.
        ThenClose(&'static [u8]),
        /// Never answers.
        Silence,
    }

    /// A server that answers requests with scripted bytes, in order, whatever the
    /// connection; returns its base URL and the count of connections it accepted.
    async fn raw_server(replies: Vec<Reply>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let replies = Arc::clone(&replies);
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        seen.clear();
                        let reply = replies.lock().expect("replies").pop_front();
                        match reply {
                            Some(Reply::Pieces(pieces)) => {
                                for piece in pieces {
                                    let _ = stream.write_all(piece).await;
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                            }
                            Some(Reply::ThenClose(bytes)) => {
                                let _ = stream.write_all(bytes).await;
                                return;
                            }
                            Some(Reply::Silence) => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                            }
                            None => return,
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn get(url: &str, id: u64) -> OutgoingRequest {
        OutgoingRequest {
            method: Method::GET,
            uri: format!("{url}/x").parse().expect("uri"),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            request_id: id,
            keep_body: true,
            keep_headers: None,
        }
    }

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn keep_alive_answers_of_every_framing_reuse_one_connection() {
        let (url, accepted) = raw_server(vec![
            Reply::Pieces(vec![OK]),
            Reply::Pieces(vec![
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwi",
                b"ki\r\n5;x=y\r\npedia\r\n0\r\n\r\n",
            ]),
            Reply::Pieces(vec![
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
            ]),
            Reply::Pieces(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]),
            Reply::Pieces(vec![b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n"]),
        ])
        .await;
        let client = HttpClient::new(4);
        let mut got = Vec::new();
        for id in 0..5 {
            let answer = client.send(get(&url, id), SECOND).await;
            assert_eq!(answer.failure, None, "request {id}");
            got.push((answer.status.expect("status"), answer.body));
        }
        assert_eq!(
            got,
            vec![
                (200, Bytes::from_static(b"hello")),
                (200, Bytes::from_static(b"wikipedia")),
                (201, Bytes::from_static(b"ok")),
                (204, Bytes::new()),
                (503, Bytes::new()),
            ]
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn closed_connections_are_replaced_and_close_delimited_bodies_read_to_the_end() {
        let (url, accepted) = raw_server(vec![
            Reply::Pieces(vec![
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
            ]),
            Reply::ThenClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"),
            // Keep-alive as far as the answer says, but the server closes it anyway: the
            // next request finds it closed and takes a new connection.
            Reply::ThenClose(OK),
            Reply::Pieces(vec![OK]),
        ])
        .await;
        let client = HttpClient::new(4);
        let first = client.send(get(&url, 1), SECOND).await;
        assert_eq!(first.body, Bytes::from_static(b"a"));
        let second = client.send(get(&url, 2), SECOND).await;
        assert_eq!(second.body, Bytes::from_static(b"until the end"));
        let third = client.send(get(&url, 3), SECOND).await;
        assert_eq!(third.status, Some(200));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fourth = client.send(get(&url, 4), SECOND).await;
        assert_eq!((fourth.failure, fourth.status), (None, Some(200)));
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    /// An answer with a body of `size` bytes, framed by length or chunked.
    fn big_answer(size: usize, chunked: bool) -> &'static [u8] {
        let body = vec![b'x'; size];
        let mut wire = Vec::new();
        if chunked {
            wire.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            for piece in body.chunks(10_000) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            wire.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").as_bytes(),
            );
            wire.extend_from_slice(&body);
        }
        Vec::leak(wire)
    }

    #[tokio::test]
    async fn bodies_nobody_reads_are_dropped_as_they_arrive_and_the_connection_stays() {
        const SIZE: usize = 1 << 20;
        let (url, accepted) = raw_server(vec![
            Reply::Pieces(vec![big_answer(SIZE, false)]),
            Reply::Pieces(vec![big_answer(SIZE, true)]),
            Reply::Pieces(vec![big_answer(SIZE, false)]),
            Reply::ThenClose(b"HTTP/1.1 200 OK\r\n\r\nto the end"),
        ])
        .await;
        let client = HttpClient::new(4);
        let dropped = |id| OutgoingRequest {
            keep_body: false,
            keep_headers: None,
            ..get(&url, id)
        };
        for id in 0..2 {
            let answer = client.send(dropped(id), SECOND).await;
            assert_eq!(
                (answer.failure, answer.status),
                (None, Some(200)),
                "request {id}"
            );
            assert!(answer.body.is_empty(), "request {id}: the body was kept");
        }
        let kept = client.send(get(&url, 2), SECOND).await;
        assert_eq!(kept.body.len(), SIZE);
        let until_close = client.send(dropped(3), SECOND).await;
        assert_eq!((until_close.status, until_close.body.len()), (Some(200), 0));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn broken_answers_are_classed() {
        let (url, _) = raw_server(vec![
            Reply::ThenClose(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"),
            Reply::ThenClose(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab"),
            Reply::ThenClose(b"this is not http\r\n\r\n"),
            Reply::ThenClose(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"),
            Reply::Silence,
        ])
        .await;
        let client = HttpClient::new(4);
        let mut classes = Vec::new();
        for id in 0..5 {
            let timeout = Duration::from_millis(if id == 4 { 200 } else { 1000 });
            classes.push(client.send(get(&url, id), timeout).await.failure);
        }
        assert_eq!(
            classes,
            vec![
                Some(OutcomeClass::Reset),
                Some(OutcomeClass::Reset),
                Some(OutcomeClass::Transport),
                Some(OutcomeClass::Transport),
                Some(OutcomeClass::Timeout),
            ]
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let answer = HttpClient::new(1).send(get(&url, 1), SECOND).await;
        assert_eq!(answer.failure, Some(OutcomeClass::Connect));
    }
}
