//! The OTLP/HTTP trace endpoint: HTTP/1.1 on hyper, served by the shared accept loop.
//!
//! `POST /v1/traces` with a protobuf (`application/x-protobuf`) or JSON
//! (`application/json`) `ExportTraceServiceRequest`, optionally `Content-Encoding: gzip`.
//! A request counts all or nothing: it is decoded once to validate it, then again into
//! the aggregate. Answers: 200 (empty protobuf or `{}`), 404 wrong path, 405 wrong method,
//! 413 body (or its decompressed form) over [`MAX_BODY_BYTES`], 415 unknown content type
//! or encoding, 400 undecodable. 400, 413 and 415 count as rejected requests. Nothing is
//! logged: attribute values may hold secrets.

use std::convert::Infallible;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::json::decode_export_request_json;
use super::runs::Router;
use super::wire::{DecodeError, SpanRecord, decode_export_request};
use crate::listener::accept_until;

/// The path the OTLP/HTTP exporters post traces to.
pub const TRACES_PATH: &str = "/v1/traces";
/// The largest request body accepted, before and after gzip decompression.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The router every connection writes into.
pub(crate) type Shared = Arc<Mutex<Router>>;

/// Runs `f` on the aggregate, whether or not a previous holder panicked.
pub(crate) fn with_router<T>(shared: &Shared, f: impl FnOnce(&mut Router) -> T) -> T {
    f(&mut shared.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Serves `listener` until `stopped` fires (or its sender is dropped).
pub(crate) async fn serve(listener: TcpListener, shared: Shared, stopped: oneshot::Receiver<()>) {
    let mut builder = http1::Builder::new();
    // The timer enables hyper's header read timeout: idle half-open clients cannot pin a
    // connection forever.
    builder.timer(TokioTimer::new()).keep_alive(true);
    accept_until(listener, stopped, move |stream| {
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(handle(shared, request).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        async move {
            // Exporters closing mid-exchange end here; nothing to report.
            let _ = connection.await;
        }
    })
    .await;
}

/// The body formats OTLP/HTTP defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

/// The content codings accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
}

/// Why a POST to the traces path was refused.
#[derive(Debug)]
enum Refusal {
    TooLarge,
    Unsupported(&'static str),
    Malformed(DecodeError),
    BadGzip,
    BodyRead,
    Internal,
}

impl Refusal {
    fn response(&self) -> Response<Full<Bytes>> {
        match self {
            Refusal::TooLarge => text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            Refusal::Unsupported(what) => text(StatusCode::UNSUPPORTED_MEDIA_TYPE, what),
            Refusal::Malformed(error) => text(StatusCode::BAD_REQUEST, &error.to_string()),
            Refusal::BadGzip => text(StatusCode::BAD_REQUEST, "invalid gzip body"),
            Refusal::BodyRead => text(StatusCode::BAD_REQUEST, "could not read request body"),
            Refusal::Internal => text(StatusCode::INTERNAL_SERVER_ERROR, "decoder task failed"),
        }
    }
}

async fn handle(shared: Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path() != TRACES_PATH {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    if request.method() != Method::POST {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("POST"));
        return response;
    }
    match accept(Arc::clone(&shared), request).await {
        Ok(format) => success(format),
        Err(refusal) => {
            with_router(&shared, Router::reject);
            refusal.response()
        }
    }
}

/// Reads, decodes and aggregates one export request.
async fn accept(shared: Shared, request: Request<Incoming>) -> Result<Format, Refusal> {
    let format = format_of(request.headers())?;
    let encoding = encoding_of(request.headers())?;
    if declared_length(request.headers()).is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(Refusal::TooLarge);
    }
    let body = read_body(request.into_body()).await?;
    // Decompressing and decoding up to 16 MiB is CPU work: keep it off the runtime.
    tokio::task::spawn_blocking(move || ingest(&shared, format, encoding, &body))
        .await
        .map_err(|_| Refusal::Internal)??;
    Ok(format)
}

async fn read_body(body: Incoming) -> Result<Bytes, Refusal> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::TooLarge),
        Err(_) => Err(Refusal::BodyRead),
    }
}

/// Decompresses, validates, then aggregates: a refused request leaves no trace.
fn ingest(shared: &Shared, format: Format, encoding: Encoding, body: &[u8]) -> Result<(), Refusal> {
    let inflated;
    let payload = match encoding {
        Encoding::Identity => body,
        Encoding::Gzip => {
            inflated = gunzip(body, MAX_BODY_BYTES)?;
            inflated.as_slice()
        }
    };
    decode(format, payload, &mut |_: &SpanRecord<'_>| {}).map_err(Refusal::Malformed)?;
    with_router(shared, |router| {
        decode(format, payload, &mut |span: &SpanRecord<'_>| {
            router.record(span)
        })
    })
    .map_err(Refusal::Malformed)
}

fn decode<F>(format: Format, payload: &[u8], sink: &mut F) -> Result<(), DecodeError>
where
    F: FnMut(&SpanRecord<'_>),
{
    match format {
        Format::Protobuf => decode_export_request(payload, sink),
        Format::Json => decode_export_request_json(payload, sink),
    }
}

/// Inflates a gzip body, refusing output over `cap` bytes.
fn gunzip(body: &[u8], cap: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| Refusal::BadGzip)?;
    if out.len() > cap {
        return Err(Refusal::TooLarge);
    }
    Ok(out)
}

/// The body format from `Content-Type`; protobuf when absent, as OTLP/HTTP's default.
fn format_of(headers: &HeaderMap) -> Result<Format, Refusal> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(Format::Protobuf);
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Ok(Format::Protobuf),
        Some("application/json") => Ok(Format::Json),
        _ => Err(Refusal::Unsupported("unsupported content type")),
    }
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    match value
        .to_str()
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Ok("" | "identity") => Ok(Encoding::Identity),
        Ok("gzip" | "x-gzip") => Ok(Encoding::Gzip),
        _ => Err(Refusal::Unsupported("unsupported content encoding")),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// 200 with an empty `ExportTraceServiceResponse` in the request's format.
fn success(format: Format) -> Response<Full<Bytes>> {
    let (content_type, body) = match format {
        Format::Protobuf => ("application/x-protobuf", Bytes::new()),
        Format::Json => ("application/json", Bytes::from_static(b"{}")),
    };
    respond(StatusCode::OK, content_type, body)
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(message.to_owned()),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), http::HeaderValue::from_static(value)))
            .collect()
    }

    fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data)?;
        encoder.finish()
    }

    #[test]
    fn content_type_selects_the_format() {
        assert_eq!(format_of(&HeaderMap::new()).ok(), Some(Format::Protobuf));
        let json = headers(&[(CONTENT_TYPE, "Application/JSON; charset=utf-8")]);
        assert_eq!(format_of(&json).ok(), Some(Format::Json));
        let proto = headers(&[(CONTENT_TYPE, "application/x-protobuf")]);
        assert_eq!(format_of(&proto).ok(), Some(Format::Protobuf));
        let other = headers(&[(CONTENT_TYPE, "text/plain")]);
        assert!(format_of(&other).is_err());
    }

    #[test]
    fn content_encoding_accepts_gzip_and_identity_only() {
        assert_eq!(
            encoding_of(&HeaderMap::new()).ok(),
            Some(Encoding::Identity)
        );
        let gz = headers(&[(CONTENT_ENCODING, "GZIP")]);
        assert_eq!(encoding_of(&gz).ok(), Some(Encoding::Gzip));
        let br = headers(&[(CONTENT_ENCODING, "br")]);
        assert!(encoding_of(&br).is_err());
    }

    #[test]
    fn gunzip_round_trips_and_caps_output() -> std::io::Result<()> {
        let data = vec![7u8; 10_000];
        let packed = gzip(&data)?;
        assert_eq!(gunzip(&packed, 10_000).ok(), Some(data));
        assert!(matches!(gunzip(&packed, 9_999), Err(Refusal::TooLarge)));
        assert!(matches!(gunzip(b"not gzip", 100), Err(Refusal::BadGzip)));
        Ok(())
    }

    #[test]
    fn a_refused_request_aggregates_nothing() {
        use crate::otlp::wire::tests::enc;
        let shared = Shared::default();
        let mut body = enc::request(&[enc::span("ok", 0, 5_000, &[], 0)]);
        body.extend_from_slice(&[0x0a, 0x05]); // A trailing resource_spans cut short.
        let result = ingest(&shared, Format::Protobuf, Encoding::Identity, &body);
        assert!(matches!(
            result,
            Err(Refusal::Malformed(DecodeError::Truncated))
        ));
        assert_eq!(with_router(&shared, |r| r.all.summary().spans), 0);
    }
}
