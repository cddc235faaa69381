//! The proxy binary under stream load, measured from outside: clients that half-close
//! after their request, large uploads and downloads in both modes with the proxy's peak
//! resident memory (`VmHWM`) capped, and 1 000 concurrent connections through faults.
//!
//! The transfer size is `HARNESS_STREAM_MB` (default 1 GiB: a debug build moves it in
//! about a second each way); `bench/proxy_stream.sh` runs the same tests against the
//! release binary. The caps are the measured peaks with a wide margin: what
//! they catch is a body buffered whole (the size of the transfer) or memory growing
//! with the number of connections beyond a bounded amount each.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::proxy_process::ProxyProcess;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;

const MIB: u64 = 1 << 20;
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The transfer size of the upload and download tests.
fn transfer_bytes() -> u64 {
    std::env::var("HARNESS_STREAM_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        * MIB
}

/// A body of `left` zero bytes, produced as it is read.
struct Zeros {
    left: u64,
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(ZEROS.len() as u64);
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &ZEROS[..n as usize],
        )))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// The upstream: `POST /upload` reads the whole body and answers its length,
/// `GET /download/N` streams N bytes, `/early` answers 413 without reading the body,
/// anything else answers `hello`.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(answer);
                // A TCP proxy passes a client's half-close on: the upstream must take it.
                let _ = http1::Builder::new()
                    .half_close(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn answer(
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, Infallible>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    if path == "/upload" {
        let mut body = req.into_body();
        let mut count = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                count += data.len() as u64;
            }
        }
        return Ok(Response::new(text(count.to_string())));
    }
    if path == "/early" {
        let mut answer = Response::new(text("too large".into()));
        *answer.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
        return Ok(answer);
    }
    if let Some(n) = path.strip_prefix("/download/") {
        let left = n.parse().unwrap_or(0);
        return Ok(Response::new(Zeros { left }.boxed()));
    }
    Ok(Response::new(text("hello".into())))
}

fn text(body: String) -> BoxBody<Bytes, Infallible> {
    http_body_util::Full::new(Bytes::from(body)).boxed()
}

fn config(dir: &Path, mode: &str, upstream: SocketAddr, faults: &str) -> std::path::PathBuf {
    let target = match mode {
        "http" => format!("http://{upstream}"),
        _ => upstream.to_string(),
    };
    let path = dir.join(format!("{mode}.toml"));
    let text = format!(
        "mode = \"{mode}\"\nupstream = \"{target}\"\nlisten = \"127.0.0.1:0\"\ncontrol = \"127.0.0.1:0\"\n{faults}"
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The status line and body of a `Connection: close` exchange read to its end.
fn split(answer: &[u8]) -> (String, &[u8]) {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..end]);
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, answer.get(end + 4..).unwrap_or(&[]))
}

/// Uploads `bytes` zeros and returns the status line and the upstream's count.
async fn upload(proxy: SocketAddr, bytes: u64) -> (String, String) {
    post(proxy, "/upload", bytes)
        .await
        .expect("the upload passes")
}

/// Posts `bytes` zeros to `path` as a simple client does (the whole body, then the
/// answer) and returns the status line and the body, or the error that ended it.
async fn post(proxy: SocketAddr, path: &str, bytes: u64) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(proxy).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {bytes}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(ZEROS.len() as u64) as usize;
        stream.write_all(&ZEROS[..n]).await?;
        left -= n as u64;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let (status, body) = split(&answer);
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

/// Downloads `bytes` and returns the status line and the number of body bytes read.
async fn download(proxy: SocketAddr, bytes: u64) -> (String, u64) {
    let mut stream = TcpStream::connect(proxy).await.expect("connect");
    let head = format!("GET /download/{bytes} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut buf = vec![0u8; 256 * 1024];
    let mut first = Vec::new();
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        if first.len() < 4096 {
            first.extend_from_slice(&buf[..n.min(4096)]);
        }
        total += n as u64;
    }
    let (status, body) = split(&first);
    let head = (first.len() - body.len()) as u64;
    (status, total.saturating_sub(head))
}

/// One request, then a half-close; the answer read to the end within 5 s.
async fn half_closed(proxy: SocketAddr) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(proxy).await.ok()?;
        stream
            .write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .ok()?;
        stream.shutdown().await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        let (status, body) = split(&answer);
        Some(status.contains(" 200 ") && body == b"hello")
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_closed_clients_get_their_answer_in_both_modes() {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        answered(upstream).await,
        50,
        "the upstream itself answers them all"
    );
    for mode in ["http", "tcp"] {
        let proxy = ProxyProcess::start(&config(dir.path(), mode, upstream, ""));
        let answered = answered(proxy.addr).await;
        eprintln!("{mode} mode: {answered} of 50 half-closed clients answered");
        assert_eq!(answered, 50, "{mode} mode");
    }
}

/// How many of 50 concurrent half-closing clients of `addr` get their answer.
async fn answered(addr: SocketAddr) -> usize {
    let clients: Vec<_> = (0..50).map(|_| tokio::spawn(half_closed(addr))).collect();
    let mut answered = 0;
    for client in clients {
        answered += usize::from(client.await.expect("join"));
    }
    answered
}

/// Uploads then downloads `transfer_bytes()` through a proxy in `mode`, asserting the
/// proxy's peak memory stays under `cap`.
async fn large_bodies_stream_through(mode: &str, cap: u64) {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = ProxyProcess::start(&config(dir.path(), mode, upstream, ""));
    let bytes = transfer_bytes();
    let started = Instant::now();
    let (status, count) = upload(proxy.addr, bytes).await;
    let up = started.elapsed();
    assert!(status.contains(" 200 "), "{mode}: {status}");
    assert_eq!(
        count,
        bytes.to_string(),
        "{mode}: the upstream got every byte"
    );
    let started = Instant::now();
    let (status, got) = download(proxy.addr, bytes).await;
    let down = started.elapsed();
    assert!(status.contains(" 200 "), "{mode}: {status}");
    assert_eq!(got, bytes, "{mode}: the client got every byte");
    let memory = proxy.memory();
    eprintln!(
        "{mode} mode, {} MiB: upload {up:.2?}, download {down:.2?}, proxy VmHWM {} MiB, VmRSS {} MiB",
        bytes / MIB,
        memory.peak / MIB,
        memory.now / MIB
    );
    assert!(
        memory.peak < cap,
        "{mode}: the proxy peaked at {} MiB (cap {} MiB): bodies are being buffered",
        memory.peak / MIB,
        cap / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_upstream_answers_early_still_gets_the_answer() {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = ProxyProcess::start(&config(dir.path(), "http", upstream, ""));
    // The upstream answers 413 at once and stops reading; the proxy drains the rest so
    // the client, which reads only once its 100 MiB are out, gets an answer, not a
    // reset: the 413, or a 502 when the upstream's own reset (it closed with our bytes
    // unread) destroyed its answer before the proxy read it.
    let (status, _) = post(proxy.addr, "/early", 100 * MIB)
        .await
        .expect("the client finishes sending and reads the answer");
    assert!(
        status.contains(" 413 ") || status.contains(" 502 "),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_and_downloads_stream_through_the_http_proxy() {
    large_bodies_stream_through("http", 64 * MIB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_and_downloads_stream_through_the_tcp_proxy() {
    large_bodies_stream_through("tcp", 64 * MIB).await;
}

/// Opens `n` connections at once, then has each send a request and read its answer;
/// returns how many were answered.
async fn concurrent_exchanges(proxy: SocketAddr, n: usize) -> usize {
    let barrier = Arc::new(Barrier::new(n));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let stream = TcpStream::connect(proxy).await;
                // Every connection is open before any request goes.
                barrier.wait().await;
                let mut stream = stream.ok()?;
                stream
                    .write_all(b"GET /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .await
                    .ok()?;
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).await.ok()?;
                Some(split(&answer).1 == b"hello")
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        answered += usize::from(matches!(client.await, Ok(Some(true))));
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_through_http_mode_toxics_keep_memory_bounded() {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy = ProxyProcess::start(&config(dir.path(), "http", upstream, ""));
    // Toxiproxy's toxics through its API: latency per request, bandwidth on the client
    // connection's bytes.
    for toxic in [
        r#"{"name": "lat", "type": "latency", "attributes": {"latency": 50, "jitter": 20}}"#,
        r#"{"name": "bw", "type": "bandwidth", "attributes": {"rate": 100}}"#,
    ] {
        let status = control_post(&proxy.control, "/proxies/harness/toxics", toxic).await;
        assert!(status.contains(" 200 "), "{toxic}: {status}");
    }
    thousand_connections_bounded(&proxy, "http mode, latency + bandwidth toxics").await;
}

/// 1 000 connections at once through `proxy`: all answered, its peak memory under
/// 128 MiB (printed with `what`).
async fn thousand_connections_bounded(proxy: &ProxyProcess, what: &str) {
    let started = Instant::now();
    let answered = concurrent_exchanges(proxy.addr, 1000).await;
    let memory = proxy.memory();
    eprintln!(
        "{what}, 1000 connections: {answered} answered in {:.2?}, proxy VmHWM {} MiB",
        started.elapsed(),
        memory.peak / MIB
    );
    assert_eq!(answered, 1000);
    assert!(
        memory.peak < 128 * MIB,
        "peak {} MiB for 1000 connections",
        memory.peak / MIB
    );
}

/// POSTs `body` to the control API at `path`; the status line.
async fn control_post(control: &str, path: &str, body: &str) -> String {
    let addr = control.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).await.expect("control");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer");
    split(&answer).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_through_latency_and_bandwidth_keep_memory_bounded() {
    let upstream = upstream().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = "[[fault]]\nkind = \"tcp_latency\"\nlatency = \"50ms\"\njitter = \"20ms\"\ndirection = \"both\"\n\
                  [[fault]]\nkind = \"bandwidth\"\nrate = \"100kB\"\ndirection = \"both\"\n";
    let proxy = ProxyProcess::start(&config(dir.path(), "tcp", upstream, faults));
    thousand_connections_bounded(&proxy, "tcp mode, tcp_latency + bandwidth").await;
}
