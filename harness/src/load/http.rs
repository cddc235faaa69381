//! Sending one HTTP request and classing how it ended.
//!
//! Both load models use this one function, so a `timeout`, a `connect` or a
//! `reset` means the same thing whichever driver produced it.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::outcome::{OutcomeClass, REQUEST_ID_HEADER};

/// A pooled HTTP/1.1 client shared by every worker of a run.
///
/// Each connection is a hyper HTTP/1 connection of its own, kept in a per-host stack of
/// idle senders: a request takes the most recently used idle connection (or opens one),
/// and gives it back when the answer is read. That is all a load generator needs of a
/// pool, and it costs less per request than a general-purpose client's bookkeeping
/// (measured: 105k → 112k requests/s on one core; see BENCHMARKS.md).
#[derive(Clone, Debug)]
pub struct HttpClient {
    pool: Arc<Pool>,
}

type Conn = SendRequest<Full<Bytes>>;

#[derive(Debug)]
struct Pool {
    idle: Mutex<HashMap<Authority, Vec<Conn>>>,
    max_idle: usize,
}

impl HttpClient {
    /// A client whose pool keeps up to `max_idle` connections per host.
    pub fn new(max_idle: usize) -> Self {
        Self {
            pool: Arc::new(Pool {
                idle: Mutex::new(HashMap::new()),
                max_idle: max_idle.max(1),
            }),
        }
    }

    /// Sends `request` and reads the whole answer within `timeout`.
    pub async fn send(&self, request: OutgoingRequest, timeout: Duration) -> Answer {
        let OutgoingRequest {
            method,
            uri,
            headers,
            body,
            request_id,
        } = request;
        let Some(authority) = uri.authority().cloned() else {
            return Answer::failed(OutcomeClass::Transport);
        };
        let Some(request) = origin_form(method, &uri, &authority, headers, body, request_id) else {
            return Answer::failed(OutcomeClass::Transport);
        };
        match tokio::time::timeout(timeout, self.exchange(&authority, request)).await {
            Err(_) => Answer::failed(OutcomeClass::Timeout),
            Ok(Err(class)) => Answer::failed(class),
            Ok(Ok((status, body))) => Answer {
                status: Some(status),
                body,
                failure: None,
            },
        }
    }

    /// One request on a pooled (or new) connection; a pooled connection that closed
    /// before the request was written is replaced by a new one, once.
    async fn exchange(
        &self,
        authority: &Authority,
        request: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), OutcomeClass> {
        let mut conn = match self.pool.checkout(authority) {
            Some(conn) => conn,
            None => connect(authority).await?,
        };
        match drive(&mut conn, request).await {
            Ok(answer) => {
                self.pool.checkin(authority, conn);
                Ok(answer)
            }
            Err(Unsent(request)) => {
                let mut fresh = connect(authority).await?;
                let answer = drive(&mut fresh, *request).await.map_err(|f| match f {
                    // A new connection that takes no request has gone away at once.
                    Unsent(_) => OutcomeClass::Reset,
                    Failed(class) => class,
                })?;
                self.pool.checkin(authority, fresh);
                Ok(answer)
            }
            Err(Failed(class)) => Err(class),
        }
    }
}

/// Why an exchange gave no answer.
enum Failure {
    /// The connection took no request (it had closed): the request, to send elsewhere.
    Unsent(Box<Request<Full<Bytes>>>),
    /// It failed after it was written.
    Failed(OutcomeClass),
}
use Failure::{Failed, Unsent};

/// Sends `request` on `sender` and reads the whole answer.
async fn drive(sender: &mut Conn, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), Failure> {
    // A pooled connection may not have taken up its next request yet; one that closed
    // meanwhile gives the request back.
    if sender.ready().await.is_err() {
        return Err(Unsent(Box::new(request)));
    }
    let response =
        sender
            .try_send_request(request)
            .await
            .map_err(|mut e| match e.take_message() {
                Some(message) => Unsent(Box::new(message)),
                None => Failed(classify_io_chain(e.error(), OutcomeClass::Reset)),
            })?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failed(classify_io_chain(&e, OutcomeClass::Reset)))?
        .to_bytes();
    Ok((status, body))
}

impl Pool {
    fn checkout(&self, authority: &Authority) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = idle.get_mut(authority)?;
        while let Some(conn) = stack.pop() {
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, authority: &Authority, conn: Conn) {
        if conn.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = idle.entry(authority.clone()).or_default();
        if stack.len() < self.max_idle {
            stack.push(conn);
        }
    }
}

/// Opens a connection to `authority` (port 80 when none is given) and starts driving it.
async fn connect(authority: &Authority) -> Result<Conn, OutcomeClass> {
    let port = authority.port_u16().unwrap_or(80);
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| classify_io_chain(&e, OutcomeClass::Connect))?;
    // Without it, small requests wait on Nagle's algorithm for the peer's delayed ACK.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| {
        match classify_io_chain(&e, OutcomeClass::Connect) {
            // A reset while connecting is still a failure to connect.
            OutcomeClass::Reset => OutcomeClass::Connect,
            class => class,
        }
    })?;
    tokio::spawn(async move {
        // The connection's own error reaches the request that was using it.
        let _ = connection.await;
    });
    Ok(sender)
}

/// The request in origin form (`/path?query`, the `Host` header set), as HTTP/1.1 sends it.
fn origin_form(
    method: Method,
    uri: &Uri,
    authority: &Authority,
    headers: HeaderMap,
    body: Bytes,
    request_id: u64,
) -> Option<Request<Full<Bytes>>> {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut builder = Request::builder().method(method).uri(Uri::from(path));
    let map = builder.headers_mut()?;
    map.extend(headers);
    if !map.contains_key(http::header::HOST) {
        map.insert(
            http::header::HOST,
            HeaderValue::from_str(authority.as_str()).ok()?,
        );
    }
    map.insert(REQUEST_ID_HEADER, HeaderValue::from(request_id));
    builder.body(Full::new(body)).ok()
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
    /// Sent as `x-harness-request-id`.
    pub request_id: u64,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    /// The status, when an answer arrived.
    pub status: Option<u16>,
    /// The whole body (empty on failure).
    pub body: Bytes,
    /// Set when no complete answer arrived.
    pub failure: Option<OutcomeClass>,
}

impl Answer {
    fn failed(class: OutcomeClass) -> Self {
        Self {
            status: None,
            body: Bytes::new(),
            failure: Some(class),
        }
    }
}

/// Walks the error's sources for the I/O error or hyper condition that explains it.
fn classify_io_chain(
    error: &(dyn std::error::Error + 'static),
    fallback: OutcomeClass,
) -> OutcomeClass {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::AddrNotAvailable
                | io::ErrorKind::NotFound => OutcomeClass::Connect,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => OutcomeClass::Reset,
                io::ErrorKind::TimedOut => OutcomeClass::Timeout,
                _ => OutcomeClass::Transport,
            };
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() {
                // The peer closed the connection before the answer was complete.
                return OutcomeClass::Reset;
            }
            if h.is_timeout() {
                return OutcomeClass::Timeout;
            }
        }
        current = e.source();
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classed_by_kind() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(
            classify_io_chain(&reset, OutcomeClass::Transport),
            OutcomeClass::Reset
        );
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            classify_io_chain(&refused, OutcomeClass::Transport),
            OutcomeClass::Connect
        );
        let other = io::Error::other("odd");
        assert_eq!(
            classify_io_chain(&other, OutcomeClass::Reset),
            OutcomeClass::Transport
        );
    }
}
