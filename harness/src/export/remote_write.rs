//! Prometheus remote write 1.0: an export as a `WriteRequest` protobuf, encoded here
//! (three small messages do not need a code generator), snappy block compressed and
//! POSTed with the headers the specification names.
//!
//! A 2xx answer is success. A 5xx answer, a timeout (10 s per attempt) or a connection
//! that failed is tried again twice, after 0.5 s and 1 s; a 4xx answer never is (the
//! receiver refused the data itself, and the same request would be refused again). A
//! failure names the status and the start of the answer's body.
//!
//! The URL may hold secrets: in its userinfo (sent as HTTP basic authentication) or its
//! query, so messages show it as [`RemoteWriteUrl::shown`], without either. An
//! `Authorization` header value comes from [`AUTHORIZATION_ENV`] alone and is never shown.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{HeaderMap, HeaderName, Method, StatusCode, Uri};

use super::Export;
use crate::kinds::http::{HttpClient, OutgoingRequest};
use crate::outcome::OutcomeClass;
use crate::text;

/// The environment variable whose value, when set, is sent as the `Authorization` header.
pub const AUTHORIZATION_ENV: &str = "HARNESS_REMOTE_WRITE_AUTHORIZATION";
/// How long one attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The waits before the second and the third attempt.
pub const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// How much of a refusing answer's body an error shows.
const BODY_SHOWN: usize = 200;

/// A remote-write endpoint, checked before anything runs.
#[derive(Clone)]
pub struct RemoteWriteUrl {
    /// Where the request goes (without userinfo).
    uri: Uri,
    /// For people: without userinfo, query and fragment.
    shown: String,
    /// `Basic …` from the URL's userinfo.
    basic: Option<HeaderValue>,
}

impl fmt::Debug for RemoteWriteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RemoteWriteUrl").field(&self.shown).finish()
    }
}

/// Why a remote-write URL cannot be used; never holds the URL's secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

impl RemoteWriteUrl {
    /// Reads an `http://` or `https://` URL.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let url = url::Url::parse(text).map_err(|e| {
            UrlError(format!(
                "not a URL ({e}); give the receiver's write URL, e.g. http://prometheus:9090/api/v1/write"
            ))
        })?;
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(UrlError(format!(
                "the scheme is `{scheme}`; a remote-write URL starts with http:// or https://"
            )));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(UrlError("the URL names no host".into()));
        };
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let shown = format!("{scheme}://{host}{port}{}", url.path());
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        let uri = Uri::try_from(format!("{shown}{query}"))
            .map_err(|e| UrlError(format!("{shown}: not a request target ({e})")))?;
        let basic = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(url.username()),
                decode(url.password().unwrap_or_default())
            );
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            let mut value = HeaderValue::try_from(value)
                .map_err(|_| UrlError(format!("{shown}: the userinfo cannot be sent")))?;
            value.set_sensitive(true);
            Some(value)
        };
        Ok(Self { uri, shown, basic })
    }

    /// The URL without userinfo, query and fragment: what messages show.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// An `Authorization` header value; its `Debug` never shows it.
#[derive(Clone)]
pub struct Authorization(HeaderValue);

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}

impl Authorization {
    /// `value` as a header value; an error says why without repeating it.
    pub fn new(value: &str) -> Result<Self, String> {
        let mut header = HeaderValue::try_from(value.trim()).map_err(|_| {
            format!(
                "{AUTHORIZATION_ENV} is not a valid header value (a line break or control character?)"
            )
        })?;
        header.set_sensitive(true);
        Ok(Self(header))
    }

    /// The value of [`AUTHORIZATION_ENV`], when set and not empty.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(AUTHORIZATION_ENV) {
            Ok(value) if !value.trim().is_empty() => Self::new(&value).map(Some),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{AUTHORIZATION_ENV} is not UTF-8"))
            }
        }
    }
}

/// What a successful push sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Series sent (one sample each).
    pub series: usize,
    /// Attempts it took.
    pub attempts: u32,
}

/// Why a push failed; shows the URL without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The receiver answered with a status other than 2xx.
    #[error("{url} answered HTTP {status}{} after {attempts} attempt(s): {body}", if *retryable { "" } else { " (not retried: the receiver refused the data)" })]
    Status {
        /// The URL, shown.
        url: String,
        /// `400 Bad Request`.
        status: String,
        /// The start of the answer's body, printable.
        body: String,
        /// Attempts made.
        attempts: u32,
        /// Whether the status was one to retry (5xx).
        retryable: bool,
    },
    /// No answer arrived.
    #[error("{url}: {why} after {attempts} attempt(s)")]
    Transport {
        /// The URL, shown.
        url: String,
        /// What happened.
        why: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The body could not be compressed.
    #[error("cannot compress the write request: {0}")]
    Compress(String),
}

/// Sends `export` to `url` (with `authorization`, else the URL's userinfo, when given),
/// retrying as the module says.
pub async fn push(
    url: &RemoteWriteUrl,
    export: &Export,
    authorization: Option<&Authorization>,
) -> Result<Pushed, PushError> {
    let body = Bytes::from(compress(&encode(export))?);
    let headers = headers(url, authorization);
    let client = HttpClient::new(1);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let request = OutgoingRequest {
            method: Method::POST,
            uri: url.uri.clone(),
            headers: headers.clone(),
            body: body.clone(),
            request_id: 0,
            keep_body: true,
            keep_headers: None,
        };
        let answer = client.send(request, TIMEOUT).await;
        let failure = match (answer.failure, answer.status) {
            (None, Some(status)) if (200..300).contains(&status) => {
                return Ok(Pushed {
                    series: export.samples.len(),
                    attempts,
                });
            }
            (None, Some(status)) => PushError::Status {
                url: url.shown.clone(),
                status: status_text(status),
                body: body_text(&answer.body),
                attempts,
                retryable: status >= 500,
            },
            (class, _) => PushError::Transport {
                url: url.shown.clone(),
                why: transport_text(class.unwrap_or(OutcomeClass::Transport)),
                attempts,
            },
        };
        let retry = match &failure {
            PushError::Status { retryable, .. } => *retryable,
            _ => true,
        };
        match BACKOFF.get(attempts as usize - 1) {
            Some(wait) if retry => tokio::time::sleep(*wait).await,
            _ => return Err(failure),
        }
    }
}

/// The request's headers: the specification's, ours, and the authorization.
fn headers(url: &RemoteWriteUrl, authorization: Option<&Authorization>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    headers.insert(
        HeaderName::from_static("x-prometheus-remote-write-version"),
        HeaderValue::from_static("0.1.0"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("harness/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(value) = authorization.map(|a| &a.0).or(url.basic.as_ref()) {
        headers.insert(AUTHORIZATION, value.clone());
    }
    headers
}

/// `400 Bad Request`.
fn status_text(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// The first [`BODY_SHOWN`] bytes of a body, printable, on one line.
fn body_text(body: &[u8]) -> String {
    let start = &body[..body.len().min(BODY_SHOWN)];
    let text = String::from_utf8_lossy(start);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".to_string()
    } else {
        text::printable(text).into_owned()
    }
}

fn transport_text(class: OutcomeClass) -> String {
    match class {
        OutcomeClass::Timeout => format!("no answer within {} s", TIMEOUT.as_secs()),
        OutcomeClass::Connect => "connection refused or unreachable".to_string(),
        OutcomeClass::Tls => "TLS handshake failed".to_string(),
        other => format!("transport failure ({})", other.as_str()),
    }
}

/// Snappy's block format (not its framing format), as remote write requires.
pub fn compress(bytes: &[u8]) -> Result<Vec<u8>, PushError> {
    snap::raw::Encoder::new()
        .compress_vec(bytes)
        .map_err(|e| PushError::Compress(e.to_string()))
}

/// `export` as a `WriteRequest`: one `TimeSeries` per sample, its labels sorted by name
/// (`__name__` first: every other label name is lower case, and `_` sorts before the
/// lower-case letters), one `Sample` at the export's time.
pub fn encode(export: &Export) -> Vec<u8> {
    let mut out = Vec::new();
    let mut series = Vec::new();
    let mut message = Vec::new();
    for sample in &export.samples {
        series.clear();
        let mut labels: Vec<(&str, &str)> = sample
            .labels
            .iter()
            .filter(|(k, _)| k != "__name__")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.push(("__name__", &sample.name));
        labels.sort_unstable();
        for (name, value) in labels {
            message.clear();
            bytes_field(&mut message, 1, name.as_bytes());
            bytes_field(&mut message, 2, value.as_bytes());
            bytes_field(&mut series, 1, &message);
        }
        message.clear();
        // Any NaN is sent as the ordinary one: another payload could read as Prometheus's
        // staleness marker.
        let value = if sample.value.is_nan() {
            f64::NAN
        } else {
            sample.value
        };
        tag(&mut message, 1, 1);
        message.extend_from_slice(&value.to_le_bytes());
        tag(&mut message, 2, 0);
        // int64 is a varint of the two's complement.
        varint(&mut message, export.timestamp_ms as u64);
        bytes_field(&mut series, 2, &message);
        bytes_field(&mut out, 1, &series);
    }
    out
}

/// A field's key: its number and wire type (0 varint, 1 64-bit, 2 length-delimited).
fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    tag(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::export::Sample;

    /// One decoded `TimeSeries`: labels in wire order, value, timestamp.
    type Decoded = (Vec<(String, String)>, f64, i64);

    /// Protobuf fields of `bytes`: (number, wire type, varint or payload).
    fn fields(mut bytes: &[u8]) -> Vec<(u64, u8, u64, Vec<u8>)> {
        fn read_varint(bytes: &mut &[u8]) -> u64 {
            let mut n = 0u64;
            let mut shift = 0;
            loop {
                let b = bytes[0];
                *bytes = &bytes[1..];
                n |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    return n;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let key = read_varint(&mut bytes);
            let (number, wire) = (key >> 3, (key & 7) as u8);
            match wire {
                0 => out.push((number, wire, read_varint(&mut bytes), Vec::new())),
                1 => {
                    out.push((number, wire, 0, bytes[..8].to_vec()));
                    bytes = &bytes[8..];
                }
                2 => {
                    let len = read_varint(&mut bytes) as usize;
                    out.push((number, wire, 0, bytes[..len].to_vec()));
                    bytes = &bytes[len..];
                }
                other => panic!("unexpected wire type {other}"),
            }
        }
        out
    }

    /// A `WriteRequest` decoded by the field numbers of the specification.
    fn decode(bytes: &[u8]) -> Vec<Decoded> {
        fields(bytes)
            .into_iter()
            .map(|(number, wire, _, series)| {
                assert_eq!((number, wire), (1, 2), "WriteRequest.timeseries = 1");
                let mut labels = Vec::new();
                let mut sample = None;
                for (number, wire, _, payload) in fields(&series) {
                    match (number, wire) {
                        (1, 2) => {
                            let label = fields(&payload);
                            assert_eq!((label[0].0, label[1].0), (1, 2), "Label.name, value");
                            let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("UTF-8");
                            labels.push((text(&label[0].3), text(&label[1].3)));
                        }
                        (2, 2) => {
                            let s = fields(&payload);
                            assert_eq!((s[0].0, s[0].1), (1, 1), "Sample.value = 1, double");
                            assert_eq!((s[1].0, s[1].1), (2, 0), "Sample.timestamp = 2, int64");
                            let value = f64::from_le_bytes(s[0].3[..].try_into().expect("8"));
                            sample = Some((value, s[1].2 as i64));
                        }
                        other => panic!("unexpected TimeSeries field {other:?}"),
                    }
                }
                let (value, ts) = sample.expect("a sample");
                (labels, value, ts)
            })
            .collect()
    }

    fn export(timestamp_ms: i64) -> Export {
        Export {
            timestamp_ms,
            samples: vec![
                Sample {
                    name: "harness_row_estimate".into(),
                    labels: vec![
                        ("metric".into(), "p95".into()),
                        ("scenario".into(), "démo \"x\"".into()),
                        ("unit".into(), "ratio".into()),
                    ],
                    value: 1.0625,
                },
                Sample {
                    name: "harness_row_low".into(),
                    labels: vec![],
                    value: f64::from_bits(0x7ff0_0000_0000_0002),
                },
            ],
        }
    }

    #[test]
    fn the_write_request_decodes_back_with_sorted_labels_name_first() {
        let decoded = decode(&encode(&export(1_700_000_000_123)));
        assert_eq!(decoded.len(), 2);
        let (labels, value, ts) = &decoded[0];
        let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["__name__", "metric", "scenario", "unit"]);
        assert_eq!(labels[0].1, "harness_row_estimate");
        assert_eq!(labels[2].1, "démo \"x\"");
        assert_eq!((*value, *ts), (1.0625, 1_700_000_000_123));
        let (labels, value, _) = &decoded[1];
        assert_eq!(labels.len(), 1);
        assert_eq!(
            value.to_bits(),
            f64::NAN.to_bits(),
            "never the staleness marker"
        );
        // int64 as the two's complement varint.
        assert_eq!(decode(&encode(&export(-5)))[0].2, -5);
    }

    #[test]
    fn snappy_block_format_round_trips() {
        let body = encode(&export(1));
        let compressed = compress(&body).expect("compressed");
        assert!(
            !compressed.starts_with(&[0xff, 0x06, 0x00, 0x00]),
            "the block format, not the framing format"
        );
        let back = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .expect("decompressed");
        assert_eq!(back, body);
    }

    #[test]
    fn urls_are_shown_without_userinfo_or_query() {
        let url = RemoteWriteUrl::parse(
            "https://team:s3cr%40t@mimir.example:8443/api/v1/push?token=abc#x",
        )
        .expect("valid");
        assert_eq!(url.shown(), "https://mimir.example:8443/api/v1/push");
        assert_eq!(
            url.uri.to_string(),
            "https://mimir.example:8443/api/v1/push?token=abc"
        );
        let basic = url.basic.as_ref().expect("basic authentication");
        assert_eq!(basic.to_str().expect("ASCII"), "Basic dGVhbTpzM2NyQHQ=");
        let debug = format!("{url:?}");
        assert!(!debug.contains("s3cr") && !debug.contains("abc"), "{debug}");
        for bad in ["ftp://host/x", "not a url", "http://"] {
            let e = RemoteWriteUrl::parse(bad).expect_err(bad);
            assert!(!e.to_string().is_empty());
        }
    }

    /// What the scripted receiver saw of each request.
    #[derive(Debug, Default, Clone)]
    struct Seen {
        heads: Vec<String>,
        bodies: Vec<Vec<u8>>,
    }

    /// A receiver answering request `i` with `statuses[i]` (the last one after that).
    async fn receiver(statuses: Vec<u16>) -> (RemoteWriteUrl, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let read = stream.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        break (String::new(), Vec::new());
                    }
                    buf.extend_from_slice(&chunk[..read]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break (head, buf[end + 4..end + 4 + length].to_vec());
                    }
                };
                if let Ok(mut seen) = log.lock() {
                    seen.heads.push(head);
                    seen.bodies.push(body);
                }
                let status = statuses[n.min(statuses.len() - 1)];
                n += 1;
                let body = "out of \"order";
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        let url = RemoteWriteUrl::parse(&format!("http://127.0.0.1:{}/api/v1/write", addr.port()))
            .expect("url");
        (url, seen)
    }

    #[tokio::test]
    async fn a_push_sends_the_specifications_headers_and_a_decodable_body() {
        let (url, seen) = receiver(vec![204]).await;
        let secret = Authorization::new("Bearer top-secret-token").expect("valid");
        let pushed = push(&url, &export(42), Some(&secret))
            .await
            .expect("pushed");
        assert_eq!(
            pushed,
            Pushed {
                series: 2,
                attempts: 1
            }
        );
        let seen = seen.lock().expect("lock").clone();
        let head = seen.heads[0].to_ascii_lowercase();
        assert!(head.starts_with("post /api/v1/write http/1.1"), "{head}");
        for header in [
            "content-encoding: snappy",
            "content-type: application/x-protobuf",
            "x-prometheus-remote-write-version: 0.1.0",
            concat!("user-agent: harness/", env!("CARGO_PKG_VERSION")),
            "authorization: bearer top-secret-token",
        ] {
            assert!(head.contains(header), "{header} missing from {head}");
        }
        let body = snap::raw::Decoder::new()
            .decompress_vec(&seen.bodies[0])
            .expect("snappy");
        assert_eq!(decode(&body).len(), 2);
        assert!(!format!("{secret:?}").contains("top-secret"));
    }

    #[tokio::test]
    async fn a_4xx_is_not_retried_and_named_with_its_body() {
        let (url, seen) = receiver(vec![400]).await;
        let secret = Authorization::new("Bearer top-secret-token").expect("valid");
        let e = push(&url, &export(1), Some(&secret))
            .await
            .expect_err("refused");
        assert_eq!(seen.lock().expect("lock").heads.len(), 1, "never retried");
        let message = e.to_string();
        assert!(message.contains("HTTP 400 Bad Request"), "{message}");
        assert!(message.contains("after 1 attempt(s)"), "{message}");
        assert!(message.contains("out of \"order"), "{message}");
        assert!(!message.contains("top-secret"), "{message}");
    }

    #[tokio::test]
    async fn a_5xx_is_retried_twice() {
        let (url, seen) = receiver(vec![503, 503, 200]).await;
        let pushed = push(&url, &export(1), None).await.expect("third attempt");
        assert_eq!(pushed.attempts, 3);
        assert_eq!(seen.lock().expect("lock").heads.len(), 3);
        let (url, seen) = receiver(vec![503]).await;
        let e = push(&url, &export(1), None).await.expect_err("always 503");
        assert_eq!(
            seen.lock().expect("lock").heads.len(),
            3,
            "two retries, no more"
        );
        assert!(
            e.to_string()
                .contains("HTTP 503 Service Unavailable after 3 attempt(s)"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let url =
            RemoteWriteUrl::parse(&format!("http://user:pw@127.0.0.1:{port}/w?k=v")).expect("url");
        let e = push(&url, &export(1), None)
            .await
            .expect_err("nothing listens");
        let message = e.to_string();
        assert!(
            message.contains("connection refused or unreachable after 3 attempt(s)"),
            "{message}"
        );
        assert!(
            !message.contains("pw") && !message.contains("k=v"),
            "{message}"
        );
    }
}
