//! The control API's HTTP server: reads a request body (at most [`MAX_BODY`]), decodes the
//! path, routes to the native or the Toxiproxy dialect, and answers with JSON.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;

use super::MAX_BODY;
use super::answer::{ApiError, Reply};
use super::state::Control;
use crate::server::{ServerHandle, spawn_http};

impl Control {
    /// Answers one request; `segments` are the decoded parts of the path.
    pub(super) fn route(
        &self,
        method: &Method,
        segments: &[&str],
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let method = method.as_str();
        let Some((allow, reply)) = self
            .native(method, segments, body)
            .or_else(|| self.toxiproxy(method, segments, body))
        else {
            return Err(ApiError::not_found(
                format!("no endpoint at /{}", segments.join("/")),
                format!(
                    "the endpoints are GET|POST|PUT /faults, DELETE /faults/{{name}}, GET /attempts, GET /healthz, and Toxiproxy's GET /proxies, GET|POST /proxies/{0}/toxics, DELETE /proxies/{0}/toxics/{{toxic}}, POST /reset",
                    self.info.name
                ),
            ));
        };
        reply.unwrap_or_else(|| {
            Err(ApiError {
                allow: Some(allow),
                ..ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed on /{}", segments.join("/")),
                    format!("this path accepts {allow}"),
                )
            })
        })
    }
}

/// The path's segments, percent-decoded; empty segments (doubled or trailing `/`) dropped.
pub(super) fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_decode(s).ok_or_else(|| {
                ApiError::bad_request(
                    format!("the path segment `{s}` is not valid percent-encoded UTF-8"),
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

/// Reads the body (at most [`MAX_BODY`]) and answers; never fails, never panics.
async fn serve(control: Arc<Control>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
                "send one fault or one list of faults at a time",
            )
            .into_response();
        }
        Err(e) => {
            return ApiError::bad_request(
                format!("the body could not be read: {e}"),
                "send the whole body",
            )
            .into_response();
        }
    };
    let answer = segments(parts.uri.path()).and_then(|segments| {
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        control.route(&parts.method, &segments, &body)
    });
    match answer {
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
    /// Serves the control API for `control` on `listen`; must be called within a Tokio runtime.
    pub async fn start(listen: SocketAddr, control: Arc<Control>) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let server = spawn_http(listener, move |request| {
            serve(Arc::clone(&control), request)
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
