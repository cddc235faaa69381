//! Small HTTP helpers shared by the service and the executor: header names, the answer
//! body (whole, or streamed for SSE), canned responses, body draining without buffering
//! and bounded body reading.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

/// The body of a platform answer: whole, or a stream of chunks as they are produced.
pub(crate) type Reply = Either<Full<Bytes>, Chunks>;

/// A body streamed from a channel: each message one chunk, the end when the sender is
/// dropped.
#[derive(Debug)]
pub(crate) struct Chunks(pub(crate) tokio::sync::mpsc::Receiver<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

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

/// Reads `body` whole, up to `limit` bytes; a body in one frame (the usual case) is not
/// copied.
pub(crate) async fn read<B>(mut body: B, limit: usize) -> Result<Bytes, DrainError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| DrainError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let seen = joined.as_ref().map_or(first.len(), BytesMut::len);
        if seen.saturating_add(data.len()) > limit {
            return Err(DrainError::TooLarge);
        }
        match joined.as_mut() {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body of the given data frames.
    struct Frames(VecDeque<Bytes>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    fn frames(parts: &[&'static str]) -> Frames {
        Frames(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn read_joins_frames_up_to_the_limit() {
        assert_eq!(read(frames(&[]), 4).await, Ok(Bytes::new()));
        assert_eq!(read(frames(&["abcd"]), 4).await, Ok(Bytes::from("abcd")));
        assert_eq!(
            read(frames(&["", "ab", "", "c", "d"]), 4).await,
            Ok(Bytes::from("abcd"))
        );
        assert_eq!(
            read(frames(&["ab", "cde"]), 4).await,
            Err(DrainError::TooLarge)
        );
        assert_eq!(read(frames(&["abcde"]), 4).await, Err(DrainError::TooLarge));
    }
}
