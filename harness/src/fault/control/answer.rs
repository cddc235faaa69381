//! The control API's answers, shared by both dialects: a success ([`Reply`]) or an error
//! ([`ApiError`]: a status, what is wrong and how to fix it), as JSON responses. An error
//! body is Toxiproxy's `{"error", "status"}` plus the project's `help` line.

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An error answer: a status (4xx; 500 only where Toxiproxy answers 500, e.g. a listen
/// address in use), what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) error: String,
    pub(super) help: String,
    /// Methods the path accepts, for the `Allow` header of a 405.
    pub(super) allow: Option<&'static str>,
    /// Close the connection after answering (a refused body may still be arriving).
    pub(super) close: bool,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        error: impl Into<String>,
        help: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error: error.into(),
            help: help.into(),
            allow: None,
            close: false,
        }
    }

    pub(super) fn bad_request(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, help)
    }

    pub(super) fn not_found(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error, help)
    }

    pub(super) fn conflict(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, help)
    }

    pub(super) fn forbidden(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error, help)
    }

    /// A failure Toxiproxy reports as 500 (a listener that cannot be opened).
    pub(super) fn internal(error: impl Into<String>, help: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, error, help)
    }

    pub(super) fn into_response(self) -> Response<Full<Bytes>> {
        let body = json!({
            "error": self.error,
            "help": self.help,
            "status": self.status.as_u16(),
        });
        let mut response = json_response(self.status, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.close {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    Json(StatusCode, Value),
    Text(&'static str),
    /// Prometheus' text exposition format.
    Metrics(String),
    NoContent,
}

impl Reply {
    pub(super) fn ok(value: Value) -> Self {
        Self::Json(StatusCode::OK, value)
    }

    pub(super) fn into_response(self) -> Response<Full<Bytes>> {
        match self {
            Self::Json(status, value) => json_response(status, &value),
            Self::Text(text) => {
                let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Self::Metrics(text) => {
                let mut response = Response::new(Full::new(Bytes::from(text)));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
            Self::NoContent => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
        }
    }
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    // A `Value` always serialises (its map keys are strings), so the default never shows.
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `T` from a JSON body, or a 400 naming what was expected with an example.
pub(super) fn parse_body<T: DeserializeOwned>(
    body: &[u8],
    what: &str,
    example: &str,
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            format!("the body is empty; expected {what} as JSON"),
            format!("send e.g. {example}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            format!("the body is not {what}: {e}"),
            format!("send JSON like {example}"),
        )
    })
}
