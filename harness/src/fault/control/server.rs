//! The control API's HTTP server: checks a request ([`Guard`]) before anything else,
//! reads its body (at most [`MAX_BODY`]), decodes the path and answers through the
//! route table with JSON.
//!
//! A refused request that is still sending a body (a 50 MB upload, say) has its body
//! read and discarded, up to [`DRAIN_LIMIT`] and [`DRAIN_TIME`], before the answer, and
//! the connection is closed after it: the client reads a 413 (or 401, 403, 415) instead
//! of a broken pipe. Past those bounds the answer is sent and the connection closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use super::MAX_BODY;
use super::answer::ApiError;
use super::guard::{Guard, has_body, too_large};
use super::registry::Registry;
use super::routes::answer;
use crate::server::{ServerHandle, spawn_http};

/// How much of a refused body is read and discarded so the client can read the refusal.
pub const DRAIN_LIMIT: u64 = 64 << 20;

/// How long a refused body may take to arrive before the connection is closed.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// How long an accepted body may take to arrive.
const BODY_TIME: Duration = Duration::from_secs(30);

/// The path's segments, percent-decoded; empty segments (doubled or trailing `/`) dropped.
pub(super) fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode(s).ok_or_else(|| {
                ApiError::bad_request(
                    format!(
                        "the path segment `{}` is not valid percent-encoded UTF-8",
                        crate::text::printable(s)
                    ),
                    "encode names as UTF-8 and escape bytes as %XX",
                )
            })
        })
        .collect()
}

pub(super) fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let mut rest = segment.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(high * 16 + low).ok()?);
            rest = &tail[2..];
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads and discards `body` up to [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`].
async fn drain(mut body: Incoming) {
    let read = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// The body, at most [`MAX_BODY`] bytes; past that, the rest is drained and the answer
/// is a 413 that closes the connection.
async fn read_body(mut body: Incoming) -> Result<Bytes, ApiError> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(
                format!("the body could not be read: {e}"),
                "send the whole body",
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY {
                drain(body).await;
                let mut error = too_large();
                error.close = true;
                return Err(error);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

/// The answer to a refused request, once its body (if any) is out of the way.
async fn refuse(mut error: ApiError, body: Incoming, with_body: bool) -> Response<Full<Bytes>> {
    if with_body {
        drain(body).await;
        error.close = true;
    }
    error.into_response()
}

/// Checks, reads the body and answers; never fails, never panics.
async fn serve(
    registry: Arc<Registry>,
    guard: Arc<Guard>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let with_body = has_body(&parts.headers);
    if let Err(error) = guard.check(&parts) {
        return refuse(error, body, with_body).await;
    }
    let body = match tokio::time::timeout(BODY_TIME, read_body(body)).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return error.into_response(),
        Err(_) => {
            let mut error = ApiError::new(
                http::StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", BODY_TIME.as_secs()),
                "send the whole body at once",
            );
            error.close = true;
            return error.into_response();
        }
    };
    let answered = match segments(parts.uri.path()) {
        Ok(segments) => {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            answer(&registry, &parts.method, &segments, &body).await
        }
        Err(error) => Err(error),
    };
    match answered {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

/// The control API's HTTP server; [`ControlServer::shutdown`] stops it.
#[derive(Debug)]
pub struct ControlServer {
    server: ServerHandle,
}

impl ControlServer {
    /// Serves the control API for `registry` on `listener` under the checks `guard`
    /// makes; must be called within a Tokio runtime.
    pub fn serve(listener: TcpListener, registry: Arc<Registry>, guard: Guard) -> io::Result<Self> {
        let guard = Arc::new(guard);
        let server = spawn_http(listener, move |request| {
            serve(Arc::clone(&registry), Arc::clone(&guard), request)
        })?;
        Ok(Self { server })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR`, the base URL of the API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Stops accepting, drops every connection and waits until they are gone.
    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}
