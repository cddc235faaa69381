//! The OTLP trace receiver over real HTTP: hand-encoded protobuf and JSON export requests
//! posted on raw TCP, then the summary checked.

use std::io::Write;
use std::net::SocketAddr;

use flate2::Compression;
use flate2::write::GzEncoder;
use harness::otlp::wire::{DAG_CACHED_ATTR, DAG_DIGEST_ATTR, SpanRecord, decode_export_request};
use harness::otlp::{DEFAULT_BIND, OtlpReceiver, TelemetrySummary};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A tiny protobuf encoder: just what OTLP trace requests need.
mod enc {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub fn tag(out: &mut Vec<u8>, number: u32, wire: u8) {
        varint(out, (u64::from(number) << 3) | u64::from(wire));
    }

    pub fn bytes(out: &mut Vec<u8>, number: u32, payload: &[u8]) {
        tag(out, number, 2);
        varint(out, payload.len() as u64);
        out.extend_from_slice(payload);
    }

    pub fn fixed64(out: &mut Vec<u8>, number: u32, v: u64) {
        tag(out, number, 1);
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn uint(out: &mut Vec<u8>, number: u32, v: u64) {
        tag(out, number, 0);
        varint(out, v);
    }

    /// `KeyValue{key, AnyValue{string_value}}`.
    pub fn attr_str(key: &str, value: &str) -> Vec<u8> {
        let mut any = Vec::new();
        bytes(&mut any, 1, value.as_bytes());
        key_value(key, &any)
    }

    /// `KeyValue{key, AnyValue{bool_value}}`.
    pub fn attr_bool(key: &str, value: bool) -> Vec<u8> {
        let mut any = Vec::new();
        uint(&mut any, 2, u64::from(value));
        key_value(key, &any)
    }

    /// `KeyValue{key, AnyValue{int_value}}`.
    pub fn attr_int(key: &str, value: i64) -> Vec<u8> {
        let mut any = Vec::new();
        uint(&mut any, 3, value as u64);
        key_value(key, &any)
    }

    fn key_value(key: &str, any: &[u8]) -> Vec<u8> {
        let mut kv = Vec::new();
        bytes(&mut kv, 1, key.as_bytes());
        bytes(&mut kv, 2, any);
        kv
    }

    /// A `Span` with ids, kind, times, attributes, an event and a status.
    pub fn span(name: &str, start: u64, end: u64, attrs: &[Vec<u8>], code: u64) -> Vec<u8> {
        let mut span = Vec::new();
        bytes(&mut span, 1, &[1; 16]);
        bytes(&mut span, 2, &[2; 8]);
        bytes(&mut span, 4, &[3; 8]);
        bytes(&mut span, 5, name.as_bytes());
        uint(&mut span, 6, 1);
        fixed64(&mut span, 7, start);
        fixed64(&mut span, 8, end);
        for attr in attrs {
            bytes(&mut span, 9, attr);
        }
        let mut event = Vec::new();
        fixed64(&mut event, 1, start);
        bytes(&mut event, 2, b"event");
        bytes(&mut span, 11, &event);
        let mut status = Vec::new();
        uint(&mut status, 3, code);
        bytes(&mut span, 15, &status);
        tag(&mut span, 16, 5);
        span.extend_from_slice(&1u32.to_le_bytes());
        span
    }

    /// An `ExportTraceServiceRequest` with one resource and one scope holding `spans`.
    pub fn request(spans: &[Vec<u8>]) -> Vec<u8> {
        let mut scope = Vec::new();
        let mut scope_info = Vec::new();
        bytes(&mut scope_info, 1, b"dagger.io/dagql");
        bytes(&mut scope, 1, &scope_info);
        for span in spans {
            bytes(&mut scope, 2, span);
        }
        let mut resource = Vec::new();
        bytes(&mut resource, 1, &attr_str("service.name", "dagger-engine"));
        bytes(&mut resource, 2, &scope);
        let mut request = Vec::new();
        bytes(&mut request, 1, &resource);
        request
    }
}

const MS: u64 = 1_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

/// A DAG operation span of `ms` milliseconds.
fn op(name: &str, ms: u64, cached: bool) -> Vec<u8> {
    let mut attrs = vec![
        enc::attr_str(DAG_DIGEST_ATTR, "sha256:0123"),
        enc::attr_int("dagger.io/progress.total", 3),
    ];
    if cached {
        attrs.push(enc::attr_bool(DAG_CACHED_ATTR, true));
    }
    enc::span(name, T0, T0 + ms * MS, &attrs, 0)
}

/// A status code, headers and body from one HTTP/1.1 exchange.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the reply.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = || std::io::Error::other("malformed HTTP reply");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(bad)?;
    Ok(Reply {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    })
}

async fn post(receiver: &OtlpReceiver, content_type: &str, body: &[u8]) -> std::io::Result<Reply> {
    let headers = [("Content-Type", content_type.to_owned())];
    send(receiver.local_addr(), "POST", "/v1/traces", &headers, body).await
}

async fn post_proto(receiver: &OtlpReceiver, body: &[u8]) -> std::io::Result<Reply> {
    post(receiver, "application/x-protobuf", body).await
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn group<'a>(summary: &'a TelemetrySummary, name: &str) -> Option<&'a harness::otlp::SpanGroup> {
    summary.groups.iter().find(|g| g.name == name)
}

#[tokio::test]
async fn counts_operations_cache_hits_and_percentiles() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    assert!(receiver.traces_endpoint().starts_with("http://127.0.0.1:"));
    assert!(receiver.traces_endpoint().ends_with("/v1/traces"));

    // 100 "withExec" operations of 1..=100 ms, every fourth one cached, in two requests.
    let execs: Vec<Vec<u8>> = (1..=100)
        .map(|ms| op("Container.withExec", ms, ms % 4 == 0))
        .collect();
    for half in execs.chunks(50) {
        let reply = post_proto(&receiver, &enc::request(half)).await?;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.body.is_empty());
        assert!(
            reply
                .head
                .to_ascii_lowercase()
                .contains("content-type: application/x-protobuf")
        );
    }
    // A plain span (no digest) that failed, and one still open (live export).
    let plain = enc::span("connect", T0, T0 + 7 * MS, &[], 2);
    let open = enc::span(
        "Container.withExec",
        T0,
        0,
        &[enc::attr_str(DAG_DIGEST_ATTR, "x")],
        0,
    );
    assert_eq!(
        post_proto(&receiver, &enc::request(&[plain, open]))
            .await?
            .status,
        200
    );

    let summary = receiver.summary();
    assert_eq!(summary.spans, 101);
    assert_eq!(summary.operations, 100);
    assert_eq!(summary.cached, 25);
    assert_eq!(summary.cache_hit_ratio, Some(0.25));
    assert_eq!(summary.rejected_requests, 0);
    assert_eq!(summary.groups[0].name, "Container.withExec");
    let exec = group(&summary, "Container.withExec").ok_or("no exec group")?;
    assert_eq!((exec.count, exec.cached, exec.errors), (100, 25, 0));
    let near = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
    assert!(near(exec.p50_us, 50_000), "{exec:?}");
    assert!(near(exec.p95_us, 95_000), "{exec:?}");
    assert!(near(exec.p99_us, 99_000), "{exec:?}");
    assert_eq!(exec.max_us, 100_000);
    let connect = group(&summary, "connect").ok_or("no connect group")?;
    assert_eq!(
        (connect.count, connect.errors, connect.max_us),
        (1, 1, 7_000)
    );

    let last = receiver.stop().await;
    assert_eq!(last, summary);
    Ok(())
}

#[tokio::test]
async fn gzip_bodies_are_inflated() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let body = gzip(&enc::request(&[op("a", 3, true), op("a", 5, false)]))?;
    let headers = [
        ("Content-Type", "application/x-protobuf".to_owned()),
        ("Content-Encoding", "gzip".to_owned()),
    ];
    let reply = send(receiver.local_addr(), "POST", "/v1/traces", &headers, &body).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let summary = receiver.stop().await;
    assert_eq!(
        (summary.spans, summary.operations, summary.cached),
        (2, 2, 1)
    );
    assert_eq!(summary.cache_hit_ratio, Some(0.5));
    Ok(())
}

#[tokio::test]
async fn json_bodies_are_accepted() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"dagger"}}}}]}},
            "scopeSpans":[{{"scope":{{"name":"dagql"}},"spans":[
              {{"traceId":"0102","spanId":"03","name":"Container.from","kind":1,
                "startTimeUnixNano":"{T0}","endTimeUnixNano":"{end}",
                "attributes":[{{"key":"{DAG_DIGEST_ATTR}","value":{{"stringValue":"sha256:1"}}}},
                              {{"key":"{DAG_CACHED_ATTR}","value":{{"boolValue":true}}}}],
                "status":{{}}}},
              {{"name":"Container.from","startTimeUnixNano":"{T0}","endTimeUnixNano":"{end}",
                "attributes":[{{"key":"{DAG_DIGEST_ATTR}","value":{{"stringValue":"sha256:2"}}}}],
                "status":{{"code":2}}}}]}}]}}]}}"#,
        end = T0 + 12 * MS
    );
    let reply = post(&receiver, "application/json", body.as_bytes()).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, b"{}");
    let summary = receiver.stop().await;
    assert_eq!(
        (summary.spans, summary.operations, summary.cached),
        (2, 2, 1)
    );
    let from = group(&summary, "Container.from").ok_or("no group")?;
    assert_eq!(
        (from.count, from.cached, from.errors, from.max_us),
        (2, 1, 1, 12_000)
    );
    Ok(())
}

#[tokio::test]
async fn wrong_path_and_method_are_refused_but_not_counted() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let addr = receiver.local_addr();
    let body = enc::request(&[op("a", 1, false)]);
    let proto = [("Content-Type", "application/x-protobuf".to_owned())];
    assert_eq!(
        send(addr, "POST", "/v1/metrics", &proto, &body)
            .await?
            .status,
        404
    );
    assert_eq!(send(addr, "GET", "/", &[], &[]).await?.status, 404);
    let reply = send(addr, "GET", "/v1/traces", &[], &[]).await?;
    assert_eq!(reply.status, 405);
    assert!(reply.head.to_ascii_lowercase().contains("allow: post"));
    assert_eq!(
        send(addr, "PUT", "/v1/traces", &proto, &body).await?.status,
        405
    );
    let summary = receiver.stop().await;
    assert_eq!((summary.spans, summary.rejected_requests), (0, 0));
    Ok(())
}

#[tokio::test]
async fn oversized_bodies_get_413() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let addr = receiver.local_addr();
    // Declared too large: refused before the body is read.
    let headers = [
        ("Content-Type", "application/x-protobuf".to_owned()),
        ("Content-Length", (16 * 1024 * 1024 + 1).to_string()),
    ];
    assert_eq!(
        send(addr, "POST", "/v1/traces", &headers, &[])
            .await?
            .status,
        413
    );
    // A small gzip body that inflates past the cap.
    let bomb = gzip(&vec![0u8; 16 * 1024 * 1024 + 1])?;
    assert!(bomb.len() < 1024 * 1024);
    let headers = [
        ("Content-Type", "application/x-protobuf".to_owned()),
        ("Content-Encoding", "gzip".to_owned()),
    ];
    assert_eq!(
        send(addr, "POST", "/v1/traces", &headers, &bomb)
            .await?
            .status,
        413
    );
    let summary = receiver.stop().await;
    assert_eq!((summary.spans, summary.rejected_requests), (0, 2));
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_get_400_and_count_nothing() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let good = enc::request(&[op("a", 1, true), op("b", 2, false)]);
    // Every strict prefix of a one-resource request is cut inside a field.
    for cut in [1, 2, good.len() / 2, good.len() - 1] {
        let reply = post_proto(&receiver, &good[..cut]).await?;
        assert_eq!(reply.status, 400, "prefix {cut}: {reply:?}");
    }
    // A huge length prefix, a group wire type, invalid gzip, invalid JSON.
    assert_eq!(
        post_proto(&receiver, &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .await?
            .status,
        400
    );
    assert_eq!(post_proto(&receiver, &[0x0b, 0x0c]).await?.status, 400);
    let gz = [
        ("Content-Type", "application/x-protobuf".to_owned()),
        ("Content-Encoding", "gzip".to_owned()),
    ];
    let reply = send(
        receiver.local_addr(),
        "POST",
        "/v1/traces",
        &gz,
        b"not gzip at all",
    )
    .await?;
    assert_eq!(reply.status, 400);
    assert_eq!(
        post(&receiver, "application/json", b"{\"resourceSpans\":[")
            .await?
            .status,
        400
    );
    // An unknown content type is refused too (415).
    assert_eq!(post(&receiver, "text/plain", &good).await?.status, 415);

    // The receiver still works afterwards.
    assert_eq!(post_proto(&receiver, &good).await?.status, 200);
    let summary = receiver.stop().await;
    assert_eq!(
        (summary.spans, summary.operations, summary.cached),
        (2, 2, 1)
    );
    assert_eq!(summary.rejected_requests, 9);
    Ok(())
}

#[tokio::test]
async fn keep_alive_connections_carry_several_exports() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let mut stream = TcpStream::connect(receiver.local_addr()).await?;
    let body = enc::request(&[op("k", 1, false)]);
    for _ in 0..3 {
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await?;
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    // Stopping ends the idle keep-alive connection too.
    let summary = receiver.stop().await;
    assert_eq!(summary.spans, 3);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    Ok(())
}

#[tokio::test]
async fn hostile_names_stay_bounded() -> TestResult {
    let receiver = OtlpReceiver::start(DEFAULT_BIND).await?;
    let long = "x".repeat(10_000);
    let mut spans = vec![enc::span(&long, T0, T0 + MS, &[], 0)];
    spans.extend((0..1_200).map(|i| enc::span(&format!("step {i}"), T0, T0 + MS, &[], 0)));
    assert_eq!(
        post_proto(&receiver, &enc::request(&spans)).await?.status,
        200
    );
    let summary = receiver.stop().await;
    assert_eq!(summary.spans, 1_201);
    assert_eq!(summary.groups.len(), 100);
    assert!(summary.groups.iter().all(|g| g.name.chars().count() <= 200));
    assert_eq!(
        summary.groups.last().map(|g| g.name.as_str()),
        Some("(other)")
    );
    assert_eq!(summary.groups.iter().map(|g| g.count).sum::<u64>(), 1_201);
    Ok(())
}

proptest! {
    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut spans = 0u64;
        let _ = decode_export_request(&buf, &mut |_: &SpanRecord<'_>| spans += 1);
    }

    #[test]
    fn decoder_never_panics_on_corrupted_requests(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let mut buf = enc::request(&[op("a", 1, true), op("b", 2, false)]);
        for (index, byte) in flips {
            let at = index.index(buf.len());
            buf[at] = byte;
        }
        buf.truncate(cut.index(buf.len() + 1));
        let _ = decode_export_request(&buf, &mut |_: &SpanRecord<'_>| {});
    }
}
