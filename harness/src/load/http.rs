//! Sending one HTTP request and classing how it ended.
//!
//! Both load models use this one function, so a `timeout`, a `connect` or a
//! `reset` means the same thing whichever driver produced it.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::outcome::{OutcomeClass, REQUEST_ID_HEADER};

/// A pooled HTTP/1.1 client shared by every worker of a run.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl HttpClient {
    /// A client whose pool keeps up to `max_idle` connections per host.
    pub fn new(max_idle: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(None);
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { inner }
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
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(map) = builder.headers_mut() {
            map.extend(headers);
            map.insert(REQUEST_ID_HEADER, HeaderValue::from(request_id));
        }
        let request = match builder.body(Full::new(body)) {
            Ok(request) => request,
            Err(_) => return Answer::failed(OutcomeClass::Transport),
        };
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| classify_client_error(&e))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| classify_io_chain(&e, OutcomeClass::Reset))?
                .to_bytes();
            Ok::<_, OutcomeClass>((status, body))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Answer::failed(OutcomeClass::Timeout),
            Ok(Err(class)) => Answer::failed(class),
            Ok(Ok((status, body))) => Answer {
                status: Some(status),
                body,
                failure: None,
            },
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

fn classify_client_error(error: &hyper_util::client::legacy::Error) -> OutcomeClass {
    if error.is_connect() {
        // A reset while connecting is still a failure to connect.
        return OutcomeClass::Connect;
    }
    classify_io_chain(error, OutcomeClass::Transport)
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
