//! A one-query check of an engine session before the SDK is handed it.
//!
//! The SDK reads the response body before it looks at the status, so a 401 with an empty
//! body (a wrong `DAGGER_SESSION_TOKEN`) reaches the caller only as "Failed to parse
//! response"; a refused connection looks like any other transport error. This probe
//! sends the SDK's own request shape (`POST /query`, Basic auth, `query{version}`) and
//! tells the cases apart: nothing listening (no engine), wrong token, a connection that
//! breaks, and a reply that is not GraphQL.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;

use crate::engine::SessionEndpoint;

/// The query the probe sends: the engine's version, the cheapest field there is.
pub const PROBE_QUERY: &str = "query{version}";

/// Why a session did not pass the probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Nothing accepts connections on the port, or nothing answered in time.
    #[error("{0}")]
    Unreachable(String),
    /// The engine refused the token.
    #[error("HTTP {0}")]
    Unauthorized(u16),
    /// The connection broke mid-exchange.
    #[error("{0}")]
    Transport(String),
    /// The answer is not a GraphQL reply.
    #[error("{0}")]
    Protocol(String),
}

/// The `Authorization` header value the SDK sends: `Basic base64(token + ":")`.
///
/// The SDK encodes with the URL-safe alphabet; for tokens made of letters, digits, `-`
/// and `:` (every engine token we have seen) it equals the standard one. The probe uses
/// the SDK's alphabet so that it predicts exactly what the SDK's requests will meet.
pub fn basic_auth(token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::URL_SAFE.encode(format!("{token}:"))
    )
}

/// Sends [`PROBE_QUERY`] and returns the engine's version string.
pub async fn probe(endpoint: &SessionEndpoint, within: Duration) -> Result<String, ProbeError> {
    tokio::time::timeout(within, exchange(endpoint))
        .await
        .map_err(|_| {
            ProbeError::Unreachable(format!(
                "{} did not answer within {}",
                endpoint.address(),
                humantime::format_duration(within)
            ))
        })?
}

async fn exchange(endpoint: &SessionEndpoint) -> Result<String, ProbeError> {
    let address = endpoint.address();
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", endpoint.port))
        .await
        .map_err(|e| {
            ProbeError::Unreachable(format!(
                "cannot connect to {address} (DAGGER_SESSION_PORT): {e}"
            ))
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProbeError::Transport(format!("HTTP handshake with {address}: {e}")))?;
    // The connection future drives the socket; it ends when the exchange is over.
    let driver = tokio::spawn(connection);
    let body = serde_json::json!({ "query": PROBE_QUERY, "variables": null }).to_string();
    let request = hyper::Request::post("/query")
        .header(HOST, &address)
        .header(AUTHORIZATION, basic_auth(&endpoint.token))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ProbeError::Protocol(format!("building the probe request: {e}")))?;
    let response = sender.send_request(request).await.map_err(|e| {
        ProbeError::Transport(format!("{address} closed or broke the connection: {e}"))
    })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| ProbeError::Transport(format!("reading the reply from {address}: {e}")))?
        .to_bytes();
    driver.abort();
    if status == hyper::StatusCode::UNAUTHORIZED || status == hyper::StatusCode::FORBIDDEN {
        return Err(ProbeError::Unauthorized(status.as_u16()));
    }
    if !status.is_success() {
        return Err(ProbeError::Protocol(format!(
            "{address} answered HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let reply: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ProbeError::Protocol(format!(
            "{address} answered with something that is not JSON: {e}"
        ))
    })?;
    if let Some(message) = reply
        .pointer("/errors/0/message")
        .and_then(serde_json::Value::as_str)
    {
        return Err(ProbeError::Protocol(format!(
            "{address} refused `{PROBE_QUERY}`: {message}"
        )));
    }
    reply
        .pointer("/data/version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            ProbeError::Protocol(format!(
                "{address} answered `{PROBE_QUERY}` without data.version: {reply}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_the_token_as_user_with_no_password() {
        // base64("tok:") = "dG9rOg=="
        assert_eq!(basic_auth("tok"), "Basic dG9rOg==");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let endpoint = SessionEndpoint {
            port,
            token: "tok".into(),
        };
        let error = probe(&endpoint, Duration::from_secs(5))
            .await
            .expect_err("nothing listens");
        assert!(matches!(error, ProbeError::Unreachable(_)), "{error:?}");
    }
}
