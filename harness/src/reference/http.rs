//! Small HTTP helpers shared by the service and the executor: header names, canned
//! responses and body draining without buffering.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

/// The load generator's request-id header, forwarded to the executor.
pub(crate) use crate::correlation::REQUEST_ID;
/// The attempt number (1 = first) of a dependency call, set by the service.
pub(crate) const ATTEMPT: HeaderName = HeaderName::from_static("x-harness-attempt");
/// Marks a request the circuit breaker failed fast.
pub(crate) const BREAKER: HeaderName = HeaderName::from_static("x-breaker");

/// Largest request body the service reads; bigger bodies get 413.
pub(crate) const MAX_BODY: usize = 1 << 20;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// A response with `status`, a JSON content type and `body`.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    with_type(status, JSON, body.into())
}

/// A response with `status`, a plain text content type and `body`.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    with_type(status, TEXT, body.into())
}

/// A response with `status`, `content_type` and `body`.
pub(crate) fn with_type(
    status: StatusCode,
    content_type: HeaderValue,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// Why a body could not be drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrainError {
    /// The body is longer than the limit.
    TooLarge,
    /// The peer broke off or sent malformed framing.
    Broken,
}

/// Reads and discards `body`, so keep-alive connections can be reused without buffering.
pub(crate) async fn drain<B>(mut body: B, limit: usize) -> Result<(), DrainError>
where
    B: Body + Unpin,
{
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| DrainError::Broken)?;
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(bytes::Buf::remaining(data));
            if seen > limit {
                return Err(DrainError::TooLarge);
            }
        }
    }
    Ok(())
}
