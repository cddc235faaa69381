//! The fault proxy against real sockets on 127.0.0.1: a tiny upstream HTTP server, the
//! HTTP and the TCP proxy in front of it, and a pooled client. Timing assertions are
//! lower bounds only; schedule phases are judged by the times the proxy logged.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::fault::{
    DEFAULT_LISTEN, FAULT_HEADER, FaultFile, FaultProxy, FaultSpec, ProxyOptions, UpstreamOutcome,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The size of the `/big` answer.
const BIG: usize = 10_000;

/// A small upstream: `/big` answers 10 000 bytes; everything else echoes the request.
struct Upstream {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        answer(req)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, hits, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/big" {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; BIG]))));
    }
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let echo = format!(
        "{} {} host={} custom={} body={}",
        parts.method,
        parts.uri,
        header("host"),
        header("x-custom"),
        String::from_utf8_lossy(&body)
    );
    let mut response = Response::new(Full::new(Bytes::from(echo)));
    if parts.method == Method::POST {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
        .headers_mut()
        .insert("x-upstream", http::HeaderValue::from_static("yes"));
    Ok(response)
}

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// One exchange: status, headers and the whole body, or the error's description.
async fn send(
    client: &TestClient,
    method: Method,
    url: String,
    id: Option<u64>,
    headers: &[(&str, &str)],
    body: &'static str,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let mut builder = Request::builder().method(method).uri(url);
    if let Some(id) = id {
        builder = builder.header("x-harness-request-id", id);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Full::new(Bytes::from_static(body.as_bytes())));
    let response = client
        .request(request.expect("request"))
        .await
        .map_err(|e| chain(&e))?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| chain(&e))?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

async fn get(client: &TestClient, url: String, id: Option<u64>) -> Result<StatusCode, String> {
    send(client, Method::GET, url, id, &[], "")
        .await
        .map(|(status, _, _)| status)
}

/// An error with its sources, so assertions can look for the root cause.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn faults(text: &str) -> Vec<FaultSpec> {
    FaultFile::from_toml(text)
        .unwrap_or_else(|e| panic!("{e}"))
        .fault
}

fn http_proxy(upstream: &Upstream, text: &str, seed: u64) -> FaultProxy {
    FaultProxy::start_http(DEFAULT_LISTEN, upstream.url(), faults(text), seed).expect("proxy")
}

#[tokio::test]
async fn without_faults_everything_passes_through_unchanged() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(&upstream, "", 1);
    let (status, headers, body) = send(
        &client(),
        Method::POST,
        format!("{}/api/workflows/execute?x=1&y=two", proxy.url()),
        Some(7),
        &[("x-custom", "kept")],
        "{\"workflow\":\"build\"}",
    )
    .await
    .expect("exchange");
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        headers.get("x-upstream").map(|v| v.as_bytes()),
        Some(&b"yes"[..])
    );
    assert_eq!(
        String::from_utf8_lossy(&body),
        format!(
            "POST /api/workflows/execute?x=1&y=two host={} custom=kept body={{\"workflow\":\"build\"}}",
            upstream.addr
        )
    );
    let log = proxy.attempts();
    assert_eq!(log.totals.attempts, 1);
    assert_eq!(log.totals.forwarded, 1);
    assert_eq!(log.totals.injected, 0);
    assert_eq!(log.recent[0].request_id, Some(7));
    assert_eq!(log.recent[0].upstream, UpstreamOutcome::Status(201));
    proxy.shutdown().await;
}

#[tokio::test]
async fn http_errors_answer_without_forwarding() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        r#"
        [[fault]]
        kind = "http_error"
        status = 429
        headers = { "Retry-After" = "1" }
        match = { path_prefix = "/busy" }
        [[fault]]
        name = "executor-outage"
        kind = "http_error"
        status = 503
        body = "executor unavailable"
        "#,
        1,
    );
    let client = client();
    let (status, headers, body) = send(
        &client,
        Method::POST,
        format!("{}/execute", proxy.url()),
        None,
        &[],
        "x",
    )
    .await
    .expect("exchange");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "executor unavailable");
    assert_eq!(
        headers.get(FAULT_HEADER).map(|v| v.as_bytes()),
        Some(&b"executor-outage"[..])
    );
    let (status, headers, _) = send(
        &client,
        Method::GET,
        format!("{}/busy/now", proxy.url()),
        None,
        &[],
        "",
    )
    .await
    .expect("exchange");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(upstream.hits(), 0);
    let log = proxy.attempts();
    assert_eq!(log.totals.attempts, 2);
    assert_eq!(log.totals.injected, 2);
    assert_eq!(log.totals.forwarded, 0);
    assert!(
        log.recent
            .iter()
            .all(|a| a.upstream == UpstreamOutcome::NotForwarded)
    );
}

async fn failed_ids(upstream: &Upstream, seed: u64) -> Vec<u64> {
    let proxy = http_proxy(
        upstream,
        "[[fault]]\nkind = \"http_error\"\nstatus = 503\nprobability = 0.3",
        seed,
    );
    let client = client();
    let mut failed = Vec::new();
    for id in 0..300 {
        let status = get(&client, format!("{}/execute", proxy.url()), Some(id))
            .await
            .expect("exchange");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            failed.push(id);
        }
    }
    assert_eq!(proxy.attempts().totals.injected, failed.len() as u64);
    failed
}

#[tokio::test]
async fn probability_hits_a_share_and_replays_with_the_same_seed() {
    let upstream = Upstream::start().await;
    let first = failed_ids(&upstream, 42).await;
    // 0.3 · 300 = 90, standard deviation ≈ 8: a band of ±5 deviations.
    assert!((50..=130).contains(&first.len()), "{} failed", first.len());
    assert_eq!(
        failed_ids(&upstream, 42).await,
        first,
        "same seed, same faults"
    );
    assert_ne!(
        failed_ids(&upstream, 43).await,
        first,
        "another seed, other faults"
    );
}

#[tokio::test]
async fn first_attempts_fail_attempts_one_and_two_of_each_id_and_pass_the_third() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nkind = \"http_error\"\nstatus = 503\nfirst_attempts = 2",
        1,
    );
    let client = client();
    for id in 100..105 {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                get(&client, format!("{}/execute", proxy.url()), Some(id))
                    .await
                    .expect("exchange")
                    .as_u16(),
            );
        }
        assert_eq!(statuses, [503, 503, 200], "request id {id}");
    }
    let log = proxy.attempts();
    let attempts: Vec<u32> = log.recent.iter().map(|a| a.attempt).collect();
    assert_eq!(&attempts[..3], [1, 2, 3]);
    assert_eq!(log.totals.forwarded, 5);
    assert_eq!(upstream.hits(), 5);
}

#[tokio::test]
async fn abort_resets_the_client_connection_without_an_answer() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(&upstream, "[[fault]]\nkind = \"abort\"", 1);
    let error = get(&client(), format!("{}/execute", proxy.url()), Some(1))
        .await
        .expect_err("an aborted request has no answer");
    let lower = error.to_lowercase();
    assert!(
        lower.contains("reset") || lower.contains("incomplete") || lower.contains("closed"),
        "{error}"
    );
    assert_eq!(upstream.hits(), 0);

    // On the wire: a raw client sees the reset itself.
    let mut raw = TcpStream::connect(proxy.addr()).await.expect("connect");
    raw.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let read = raw.read(&mut buf).await;
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
}

#[tokio::test]
async fn truncate_cuts_the_answer_body_short() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(&upstream, "[[fault]]\nkind = \"truncate\"\nbytes = 100", 1);
    let request = Request::get(format!("{}/big", proxy.url()))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = client().request(request).await.expect("head arrives");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-length")
            .map(|v| v.as_bytes()),
        Some(BIG.to_string().as_bytes()),
        "the announced length is the upstream's"
    );
    let mut body = response.into_body();
    let mut received = 0;
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received += frame.data_ref().map_or(0, Bytes::len),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert_eq!(received, 100);
    assert!(failed, "the short body ends in an error, not a clean end");
    assert_eq!(
        proxy.attempts().recent[0].upstream,
        UpstreamOutcome::Status(200)
    );
}

#[tokio::test]
async fn latency_delays_by_at_least_the_configured_time() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nkind = \"latency\"\nlatency = \"150ms\"",
        1,
    );
    let started = Instant::now();
    let status = get(&client(), format!("{}/execute", proxy.url()), None)
        .await
        .expect("exchange");
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(proxy.attempts().recent[0].latency >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_request_abandoned_during_a_delay_is_still_logged() {
    // A service whose own timeout fires during an injected delay drops the connection;
    // that attempt reached the proxy and must count (once), or a slow dependency would
    // look like a breaker that short-circuits everything. The client's close reads as a
    // half-close (the proxy answers half-closed clients), so the request is forwarded
    // after the delay and logged then.
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nname = \"slow\"\nkind = \"latency\"\nlatency = \"300ms\"",
        1,
    );
    let waited = tokio::time::timeout(
        Duration::from_millis(100),
        get(&client(), format!("{}/execute", proxy.url()), Some(42)),
    )
    .await;
    assert!(waited.is_err(), "the client gave up first");
    let mut logged = Vec::new();
    for _ in 0..100 {
        logged = proxy.attempts().recent;
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].request_id, Some(42));
    assert_eq!(logged[0].injected.as_deref(), Some("slow"));
}

#[tokio::test]
async fn slow_body_dribbles_the_whole_answer() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nkind = \"slow_body\"\nchunk_delay = \"20ms\"\nchunk_size = \"4KiB\"",
        1,
    );
    let started = Instant::now();
    let (status, _, body) = send(
        &client(),
        Method::GET,
        format!("{}/big", proxy.url()),
        None,
        &[],
        "",
    )
    .await
    .expect("exchange");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), BIG);
    // 10 000 bytes in 4 KiB pieces: at least 3 pieces, each after 20 ms.
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn an_answer_still_streaming_does_not_hold_up_the_next_request() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nkind = \"slow_body\"\nchunk_delay = \"50ms\"\nchunk_size = \"1KiB\"\n\
         match = { path_prefix = \"/big\" }",
        1,
    );
    let slow_client = client();
    let slow = send(
        &slow_client,
        Method::GET,
        format!("{}/big", proxy.url()),
        None,
        &[],
        "",
    );
    let quick = async {
        // Once the slow answer's head is in, its upstream connection is still busy
        // streaming the body: this request must get a connection of its own.
        tokio::time::sleep(Duration::from_millis(20)).await;
        get(&client(), format!("{}/x", proxy.url()), None).await
    };
    tokio::pin!(slow);
    tokio::select! {
        biased;
        status = quick => assert_eq!(status.expect("exchange"), StatusCode::OK),
        _ = &mut slow => panic!("the quick request waited for the slow answer (10 x 50 ms)"),
    }
    let (status, _, body) = slow.await.expect("exchange");
    assert_eq!((status, body.len()), (StatusCode::OK, BIG));
    assert_eq!(upstream.hits(), 2);
}

#[tokio::test]
async fn blackhole_never_answers_and_does_not_forward() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(&upstream, "[[fault]]\nkind = \"blackhole\"", 1);
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        get(&client(), format!("{}/execute", proxy.url()), None),
    )
    .await;
    assert!(waited.is_err(), "still waiting after 200 ms");
    assert_eq!(upstream.hits(), 0);
    assert_eq!(proxy.attempts().totals.injected, 1);
    // Stopping the proxy releases the held request rather than hanging.
    tokio::time::timeout(Duration::from_secs(5), proxy.shutdown())
        .await
        .expect("shutdown completes");
}

#[tokio::test]
async fn header_matching_hits_only_the_dagger_path() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        r#"
        [[fault]]
        kind = "http_error"
        status = 503
        match = { method = "POST", header = { name = "X-Feature-USE_DAGGER_WORKFLOW_ENGINE", value = "true" } }
        "#,
        1,
    );
    let client = client();
    let url = format!("{}/execute", proxy.url());
    let flag = "x-feature-use_dagger_workflow_engine";
    let dagger = send(
        &client,
        Method::POST,
        url.clone(),
        None,
        &[(flag, "true")],
        "",
    )
    .await
    .expect("exchange");
    let legacy = send(
        &client,
        Method::POST,
        url.clone(),
        None,
        &[(flag, "false")],
        "",
    )
    .await
    .expect("exchange");
    let get_dagger = send(&client, Method::GET, url, None, &[(flag, "true")], "")
        .await
        .expect("exchange");
    assert_eq!(dagger.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(legacy.0, StatusCode::CREATED);
    assert_eq!(get_dagger.0, StatusCode::OK);
}

#[tokio::test]
async fn a_schedule_window_injects_only_inside_it() {
    let upstream = Upstream::start().await;
    let proxy = http_proxy(
        &upstream,
        "[[fault]]\nkind = \"http_error\"\nstatus = 503\nstart = \"300ms\"\nduration = \"400ms\"",
        1,
    );
    let client = client();
    let window = Duration::from_millis(300)..Duration::from_millis(700);
    for target in [0u64, 100, 450, 550, 900, 1000] {
        let wait = Duration::from_millis(target).saturating_sub(proxy.elapsed());
        tokio::time::sleep(wait).await;
        get(&client, format!("{}/execute", proxy.url()), None)
            .await
            .expect("exchange");
    }
    let log = proxy.attempts();
    assert_eq!(log.recent.len(), 6);
    // Judged by the proxy's own arrival times, so a slow machine cannot flake it.
    for attempt in &log.recent {
        assert_eq!(
            attempt.injected.is_some(),
            window.contains(&attempt.at),
            "{attempt:?}"
        );
    }
    let inside = log.recent.iter().filter(|a| window.contains(&a.at)).count();
    let before = log.recent.iter().filter(|a| a.at < window.start).count();
    let after = log.recent.iter().filter(|a| a.at >= window.end).count();
    assert!(before >= 1 && after >= 1, "before {before}, after {after}");
    assert!(inside >= 1, "no request landed in the window");
}

#[tokio::test]
async fn the_attempt_log_stays_within_its_ring_bound() {
    let upstream = Upstream::start().await;
    let options = ProxyOptions {
        log_capacity: 10,
        ..ProxyOptions::default()
    };
    let proxy = FaultProxy::start_http_with(
        DEFAULT_LISTEN,
        upstream.url(),
        faults("[[fault]]\nkind = \"http_error\"\nstatus = 503\nfirst_requests = 5"),
        1,
        options,
    )
    .expect("proxy");
    let client = client();
    for id in 0..25 {
        get(&client, format!("{}/x", proxy.url()), Some(id))
            .await
            .expect("exchange");
    }
    let log = proxy.attempts();
    assert_eq!(log.totals.attempts, 25);
    assert_eq!(log.totals.injected, 5);
    assert_eq!(log.totals.forwarded, 20);
    assert_eq!(log.totals.upstream_ok, 20);
    assert_eq!(log.recent.len(), 10);
    assert_eq!(log.evicted, 15);
    assert_eq!(log.recent[0].request_id, Some(15));
    assert_eq!(log.seconds.iter().map(|s| s.attempts).sum::<u64>(), 25);
}

#[tokio::test]
async fn proxies_refuse_faults_of_the_other_layer() {
    let upstream = Upstream::start().await;
    // TCP faults shape an HTTP proxy's client connections, but `down` has no listener
    // window there, and HTTP faults need requests.
    let down = faults("[[fault]]\nkind = \"down\"");
    let err = FaultProxy::start_http(DEFAULT_LISTEN, upstream.url(), down.clone(), 1)
        .expect_err("`down` on an HTTP proxy");
    assert!(err.to_string().contains("TCP proxy"), "{err}");
    let proxy = http_proxy(&upstream, "", 1);
    assert!(proxy.set_faults(down).is_err());
    assert!(
        proxy
            .set_faults(faults("[[fault]]\nkind = \"reset_peer\""))
            .is_ok()
    );
    let err = FaultProxy::start_tcp(
        DEFAULT_LISTEN,
        upstream.addr.to_string(),
        faults("[[fault]]\nkind = \"abort\""),
        1,
    )
    .expect_err("an HTTP fault on a TCP proxy");
    assert!(err.to_string().contains("HTTP proxy"), "{err}");
    let err = FaultProxy::start_http(DEFAULT_LISTEN, "ftp://x:1".into(), vec![], 1)
        .expect_err("neither http nor https");
    assert!(err.to_string().contains("http:// or https://"), "{err}");
}

fn tcp_proxy(upstream: &Upstream, text: &str) -> FaultProxy {
    FaultProxy::start_tcp(DEFAULT_LISTEN, upstream.addr.to_string(), faults(text), 1)
        .expect("proxy")
}

#[tokio::test]
async fn tcp_passes_http_through_and_logs_connections() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(&upstream, "");
    let (status, _, body) = send(
        &client(),
        Method::POST,
        format!("{}/echo?q=1", proxy.url()),
        None,
        &[("x-custom", "tcp")],
        "payload",
    )
    .await
    .expect("exchange");
    assert_eq!(status, StatusCode::CREATED);
    assert!(String::from_utf8_lossy(&body).ends_with("custom=tcp body=payload"));
    let log = proxy.attempts();
    assert_eq!(log.totals.attempts, 1, "one connection");
    assert_eq!(log.recent[0].upstream, UpstreamOutcome::Connected);
}

#[tokio::test]
async fn tcp_reset_peer_resets_the_connection() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(&upstream, "[[fault]]\nkind = \"reset_peer\"");
    let mut raw = TcpStream::connect(proxy.addr()).await.expect("connect");
    let _ = raw.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let read = raw.read(&mut buf).await;
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    assert_eq!(upstream.hits(), 0);
    assert_eq!(proxy.attempts().totals.injected, 1);
}

#[tokio::test]
async fn tcp_limit_data_closes_after_the_limit() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(&upstream, "[[fault]]\nkind = \"limit_data\"\nbytes = 100");
    let mut raw = TcpStream::connect(proxy.addr()).await.expect("connect");
    raw.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut received = Vec::new();
    let _ = raw.read_to_end(&mut received).await;
    assert_eq!(received.len(), 100, "exactly the limit, headers included");
    assert!(received.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn tcp_latency_delays_each_chunk_by_at_least_the_configured_time() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(
        &upstream,
        "[[fault]]\nkind = \"tcp_latency\"\nlatency = \"100ms\"\njitter = \"10ms\"",
    );
    let started = Instant::now();
    let status = get(&client(), format!("{}/slow", proxy.url()), None)
        .await
        .expect("exchange");
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(proxy.attempts().totals.injected, 1);
}

#[tokio::test]
async fn tcp_blackhole_swallows_the_request_and_never_connects_upstream() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(&upstream, "[[fault]]\nkind = \"tcp_blackhole\"");
    let waited = tokio::time::timeout(
        Duration::from_millis(200),
        get(&client(), format!("{}/x", proxy.url()), None),
    )
    .await;
    assert!(waited.is_err(), "still waiting after 200 ms");
    assert_eq!(upstream.hits(), 0);
    assert_eq!(
        proxy.attempts().recent[0].upstream,
        UpstreamOutcome::NotForwarded
    );
}

#[tokio::test]
async fn tcp_down_refuses_connections_during_its_window_then_recovers() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(
        &upstream,
        "[[fault]]\nkind = \"down\"\nstart = \"200ms\"\nduration = \"500ms\"",
    );
    let addr = proxy.addr();
    assert!(
        TcpStream::connect(addr).await.is_ok(),
        "up before the window"
    );
    tokio::time::sleep(Duration::from_millis(350).saturating_sub(proxy.elapsed())).await;
    let refused = TcpStream::connect(addr).await;
    // Only judged if the attempt really fell inside the window.
    if proxy.elapsed() < Duration::from_millis(700) {
        let kind = refused.as_ref().err().map(std::io::Error::kind);
        assert_eq!(
            kind,
            Some(std::io::ErrorKind::ConnectionRefused),
            "{refused:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(750).saturating_sub(proxy.elapsed())).await;
    // Recovery: the listener is back on the same port; allow it a generous moment.
    let deadline = Instant::now() + Duration::from_secs(3);
    let status = loop {
        match get(&client(), format!("http://{addr}/after"), None).await {
            Ok(status) => break status,
            Err(e) if Instant::now() > deadline => panic!("did not recover: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn tcp_down_set_at_runtime_takes_effect_and_lifts() {
    let upstream = Upstream::start().await;
    let proxy = tcp_proxy(&upstream, "");
    let addr = proxy.addr();
    proxy
        .set_faults(faults("[[fault]]\nkind = \"down\""))
        .expect("valid");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ if Instant::now() > deadline => panic!("still accepting after set_faults(down)"),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    proxy.set_faults(Vec::new()).expect("valid");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match get(&client(), format!("http://{addr}/"), None).await {
            Ok(status) => {
                assert_eq!(status, StatusCode::OK);
                break;
            }
            Err(e) if Instant::now() > deadline => panic!("did not come back: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

#[test]
fn fault_file_errors_name_the_line_and_the_fix() {
    let err =
        FaultFile::from_toml("[[fault]]\nkind = \"latency\"\nlatency = \"1s\"\nstatus = 503\n")
            .expect_err("status on latency");
    let text = err.to_string();
    assert!(text.contains("line 1"), "{text}");
    assert!(
        text.contains("`status` does not apply to kind `latency`"),
        "{text}"
    );
    let err = FaultFile::from_toml("[[fault]]\nkind = \"abort\"\nprobability = 2\n")
        .expect_err("probability 2");
    assert!(err.to_string().contains("line 3"), "{err}");
}

/// A service that forwards only W3C `traceparent` (continuing the trace with its own
/// span id), or only a correlation header the scenario names, is still joined: the proxy
/// reads the request id from either.
#[tokio::test]
async fn request_ids_are_read_from_traceparent_and_a_named_header() {
    use harness::correlation::Correlation;
    let upstream = Upstream::start().await;
    let options = ProxyOptions {
        request_id_header: Some(http::HeaderName::from_static("x-correlation-id")),
        ..ProxyOptions::default()
    };
    let proxy = FaultProxy::start_http_with(DEFAULT_LISTEN, upstream.url(), vec![], 1, options)
        .expect("proxy");
    let mut trace = Correlation::for_run(9, "dagger", None).traceparent(41);
    // The service's own span id and the sampled flag: only the trace id is kept.
    trace[36..52].copy_from_slice(b"00f067aa0ba902b7");
    trace[53..55].copy_from_slice(b"01");
    let trace = String::from_utf8(trace.to_vec()).expect("ascii");
    let c = client();
    for headers in [
        vec![("traceparent", trace.as_str())],
        vec![("x-correlation-id", "42")],
        vec![("traceparent", "00-garbage")],
        vec![],
    ] {
        send(
            &c,
            Method::GET,
            format!("{}/x", proxy.url()),
            None,
            &headers,
            "",
        )
        .await
        .expect("exchange");
    }
    let ids: Vec<Option<u64>> = proxy
        .attempts()
        .recent
        .iter()
        .map(|a| a.request_id)
        .collect();
    assert_eq!(ids, vec![Some(41), Some(42), None, None]);
}
