//! The contract double of a Dagger engine session, tested on its own: driven over raw
//! HTTP/1.1, with an in-test OTLP sink collecting what it exports. Each test proves one
//! behaviour the double takes from the engine (the engine source file is named in the
//! double, next to the behaviour).

mod dagger_double;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use dagger_double::{
    AttrValue, Behaviour, EngineDouble, ExportConfig, MAX_EXEC_ERROR_OUTPUT_BYTES, SpanData, TOKEN,
    engine_unreachable, exec_error_output, normalized_image, stand_in_cli,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.
// ---------------------------------------------------------------------------------------

/// An answer as it came on the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Header names lowercased, in order.
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A POST with a hand-written request; the connection closes after the answer.
async fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut request = format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "a sized body: {headers:?}"
    );
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn auth() -> String {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN}:"));
    format!("Basic {basic}")
}

/// `POST /query` as the SDK sends it, with `extra` headers.
async fn query_with(port: u16, query: &str, extra: &[(&str, &str)]) -> Answer {
    let auth = auth();
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    let body = serde_json::json!({ "query": query, "variables": null }).to_string();
    post(port, "/query", &headers, &body).await
}

async fn query(port: u16, query: &str) -> Answer {
    query_with(port, query, &[]).await
}

/// Repeated telemetry: every call of the request is emitted.
const REPEAT: (&str, &str) = ("baggage", "repeat-telemetry=true");

/// `container.from(alpine).withExec(argv).<leaf>` as the SDK writes it.
fn exec_query(argv: &[&str], leaf: &str) -> String {
    let args: Vec<String> = argv
        .iter()
        .map(|a| Value::String((*a).to_owned()).to_string())
        .collect();
    format!(
        r#"query{{container{{from(address:"alpine:3.20"){{withExec(args:[{}]){{{leaf}}}}}}}}}"#,
        args.join(",")
    )
}

// ---------------------------------------------------------------------------------------
// An OTLP sink.
// ---------------------------------------------------------------------------------------

/// One export the sink received.
#[derive(Debug, Clone)]
struct Export {
    at: Instant,
    content_type: Option<String>,
    body: Value,
}

impl Export {
    fn spans(&self) -> Vec<Value> {
        let mut spans = Vec::new();
        for resource in self.body["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
            }
        }
        spans
    }
}

/// A tiny OTLP/HTTP receiver: it keeps every posted body, and may hold its first answer.
struct Sink {
    endpoint: String,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl Sink {
    async fn start(hold_first: Option<Duration>) -> Self {
        use http_body_util::{BodyExt, Full};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let exports: Arc<Mutex<Vec<Export>>> = Arc::default();
        let kept = exports.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let kept = kept.clone();
                            async move {
                                let content_type = request
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                let body = request.into_body().collect().await?.to_bytes();
                                let first = {
                                    let mut kept = kept.lock().expect("sink lock");
                                    kept.push(Export {
                                        at: Instant::now(),
                                        content_type,
                                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                                    });
                                    kept.len() == 1
                                };
                                if let (true, Some(hold)) = (first, hold_first) {
                                    tokio::time::sleep(hold).await;
                                }
                                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(
                                    bytes::Bytes::from_static(b"{}"),
                                )))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}/v1/traces"),
            exports,
        }
    }

    fn exports(&self) -> Vec<Export> {
        self.exports.lock().expect("sink lock").clone()
    }

    fn spans(&self) -> Vec<Value> {
        self.exports().iter().flat_map(Export::spans).collect()
    }

    /// Waits up to `within` for `n` exports.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Export> {
        let deadline = Instant::now() + within;
        loop {
            let exports = self.exports();
            if exports.len() >= n || Instant::now() >= deadline {
                return exports;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn names(spans: &[SpanData]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a AttrValue> {
    span.attr(key)
}

fn outcome(span: &SpanData) -> &str {
    match attr(span, "dagger.io/cache.outcome") {
        Some(AttrValue::Str(s)) => s,
        other => panic!("no cache outcome on {}: {other:?}", span.name),
    }
}

fn flag(span: &SpanData, key: &str) -> bool {
    attr(span, key) == Some(&AttrValue::Bool(true))
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in {:?}", names(spans)))
}

// ---------------------------------------------------------------------------------------
// Spans per query.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_field_of_the_chain_is_a_span_named_after_its_receiver_with_its_call_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let double = EngineDouble::start().await;
    let path = dir.path().display().to_string();
    let answer = query(
        double.port,
        &format!(r#"query{{host{{directory(path:{path:?}){{id}}}}}}"#),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let id = answer.json()["data"]["host"]["directory"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let chain = format!(
        r#"query{{container{{from(address:"alpine:3.20"){{withEnvVariable(name:"A",value:"1"){{withMountedDirectory(path:"/src",source:{id:?}){{withWorkdir(path:"/src"){{withExec(args:["echo","hi"]){{stdout}}}}}}}}}}}}}}"#
    );
    let answer = query(double.port, &chain).await;
    assert_eq!(
        answer.body,
        r#"{"data":{"container":{"from":{"withEnvVariable":{"withMountedDirectory":{"withWorkdir":{"withExec":{"stdout":"hi\n"}}}}}}}}"#
    );
    let spans = double.spans();
    assert_eq!(
        names(&spans),
        [
            "Query.host",
            "Host.directory",
            "Directory.id",
            "Query.container",
            "Container.from",
            "Container.withEnvVariable",
            "Container.withMountedDirectory",
            "Container.withWorkdir",
            "Container.withExec",
            "Container.stdout",
        ]
    );
    let mut digests = std::collections::BTreeSet::new();
    for s in &spans {
        let Some(AttrValue::Str(digest)) = attr(s, "dagger.io/dag.digest") else {
            panic!("no digest on {}", s.name);
        };
        let hex = digest.strip_prefix("sha256:").expect("sha256:");
        assert_eq!(hex.len(), 64, "{digest}");
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        digests.insert(digest.clone());
        assert_eq!(outcome(s), "executed", "{}", s.name);
        assert_eq!(
            attr(s, "dagger.io/cache.contract"),
            Some(&AttrValue::Str("1".into()))
        );
        assert!(!flag(s, "dagger.io/dag.cached"), "{}", s.name);
    }
    assert_eq!(digests.len(), spans.len(), "one call key per call");
    // The same module call with its default argument written out is the same call.
    let answer = query(double.port, r#"query{greeter{greet(name:"ana")}}"#).await;
    assert_eq!(
        answer.body,
        r#"{"data":{"greeter":{"greet":"Hello, ana!"}}}"#
    );
    let answer = query_with(
        double.port,
        r#"query{greeter{greet(name:"ana",punctuation:"!")}}"#,
        &[REPEAT],
    )
    .await;
    assert_eq!(answer.status, 200);
    let spans = double.spans();
    let greets: Vec<&SpanData> = spans.iter().filter(|s| s.name == "Greeter.greet").collect();
    assert_eq!(greets.len(), 2, "{:?}", names(&spans));
    assert_eq!(
        greets[0].attr("dagger.io/dag.digest"),
        greets[1].attr("dagger.io/dag.digest")
    );
    assert_eq!(outcome(greets[1]), "hit");
}

#[tokio::test]
async fn a_call_is_emitted_once_per_session_unless_the_baggage_asks_for_repeats() {
    let double = EngineDouble::start().await;
    let q = exec_query(&["echo", "once"], "stdout");
    assert_eq!(query(double.port, &q).await.status, 200);
    assert_eq!(double.spans().len(), 4);
    // The same query again: every call key was seen in this session.
    assert_eq!(query(double.port, &q).await.status, 200);
    assert_eq!(double.spans().len(), 4, "{:?}", names(&double.spans()));
    // A new exec: only its own calls are new.
    let other = exec_query(&["echo", "twice"], "stdout");
    assert_eq!(query(double.port, &other).await.status, 200);
    assert_eq!(
        names(&double.spans()[4..]),
        ["Container.withExec", "Container.stdout"]
    );
    // `baggage: repeat-telemetry=...` (non-empty): every call, once per request.
    double.clear_spans();
    for _ in 0..2 {
        assert_eq!(query_with(double.port, &q, &[REPEAT]).await.status, 200);
    }
    assert_eq!(double.spans().len(), 8, "{:?}", names(&double.spans()));
    // An empty value asks for nothing; other members are fine.
    double.clear_spans();
    let empty = ("baggage", "user=ana,repeat-telemetry=");
    assert_eq!(query_with(double.port, &q, &[empty]).await.status, 200);
    assert!(double.spans().is_empty());
    let mixed = ("baggage", "user=ana, repeat-telemetry=1;prop");
    assert_eq!(query_with(double.port, &q, &[mixed]).await.status, 200);
    assert_eq!(double.spans().len(), 4);
    // A new session (what the stand-in CLI registers) emits everything once again.
    double.clear_spans();
    let registered = post(
        double.port,
        "/_double/session",
        &[("content-type", "application/json")],
        r#"{"endpoint":"","protocol":"","schedule_delay_ms":null,"max_queue":null}"#,
    )
    .await;
    assert_eq!(registered.status, 200);
    assert_eq!(query(double.port, &q).await.status, 200);
    assert_eq!(double.spans().len(), 4);
}

#[tokio::test]
async fn the_traceparent_decides_the_trace_and_an_unsampled_request_records_nothing() {
    let double = EngineDouble::start().await;
    // Sampled flag 00: ParentBased(AlwaysSample) records nothing for the request.
    let unsampled = (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    );
    let q = exec_query(&["echo", "a"], "stdout");
    let answer = query_with(double.port, &q, &[unsampled]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(double.spans().is_empty(), "{:?}", names(&double.spans()));
    // Its calls count as seen all the same: the same query sampled emits nothing new...
    let sampled = (
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    assert_eq!(query_with(double.port, &q, &[sampled]).await.status, 200);
    assert!(double.spans().is_empty(), "{:?}", names(&double.spans()));
    // ... unless repeated telemetry is asked for.
    assert_eq!(
        query_with(double.port, &q, &[sampled, REPEAT]).await.status,
        200
    );
    let spans = double.spans();
    assert_eq!(spans.len(), 4, "{:?}", names(&spans));
    let trace: [u8; 16] = [
        0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31,
        0x9c,
    ];
    let caller: [u8; 8] = [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31];
    assert!(spans.iter().all(|s| s.trace_id == trace));
    assert_eq!(spans[0].parent_span_id, Some(caller), "the caller's span");
    for pair in spans.windows(2) {
        assert_eq!(pair[1].parent_span_id, Some(pair[0].span_id), "a chain");
    }
    // No traceparent (or one that does not parse): a fresh trace, sampled, no parent.
    double.clear_spans();
    for header in [
        None,
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"),
    ] {
        let extra: Vec<(&str, &str)> = header.map(|h| ("traceparent", h)).into_iter().collect();
        let mut headers = extra.clone();
        headers.push(REPEAT);
        assert_eq!(query_with(double.port, &q, &headers).await.status, 200);
    }
    let spans = double.spans();
    assert_eq!(spans.len(), 8);
    assert_eq!(spans[0].parent_span_id, None);
    assert_eq!(spans[4].parent_span_id, None);
    assert_ne!(spans[0].trace_id, trace);
    assert_ne!(
        spans[0].trace_id, spans[4].trace_id,
        "one trace per request"
    );
}

#[tokio::test]
async fn a_lazy_exec_span_is_pending_and_short_its_leaf_takes_the_exec_time_then_hits() {
    let double = EngineDouble::start().await;
    let q = exec_query(&["sh", "-c", "sleep 0.3; echo hi"], "stdout");
    let started = Instant::now();
    let answer = query(double.port, &q).await;
    let first = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(first >= Duration::from_millis(300), "{first:?}");
    let spans = double.spans();
    let with_exec = span(&spans, "Container.withExec");
    assert!(flag(with_exec, "dagger.io/dag.pending"));
    assert!(!flag(with_exec, "dagger.io/dag.cached"));
    assert_eq!(outcome(with_exec), "executed");
    assert!(
        with_exec.duration() < Duration::from_millis(50),
        "{:?}",
        with_exec.duration()
    );
    let stdout = span(&spans, "Container.stdout");
    assert!(
        stdout.duration() >= Duration::from_millis(300),
        "{:?}",
        stdout.duration()
    );
    assert_eq!(outcome(stdout), "executed");
    assert!(stdout.start_unix_nanos >= with_exec.end_unix_nanos);

    // The same exec again: every call is a cache hit and nothing runs.
    double.clear_spans();
    let started = Instant::now();
    let answer = query_with(double.port, &q, &[REPEAT]).await;
    assert_eq!(
        answer.json()["data"]["container"]["from"]["withExec"]["stdout"],
        "hi\n"
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let spans = double.spans();
    assert_eq!(spans.len(), 4);
    for s in &spans {
        assert_eq!(outcome(s), "hit", "{}", s.name);
        assert!(flag(s, "dagger.io/dag.cached"), "{}", s.name);
        assert!(
            !flag(s, "dagger.io/dag.pending"),
            "{}: evaluated already",
            s.name
        );
    }
    assert!(span(&spans, "Container.stdout").duration() < Duration::from_millis(50));

    // Another leaf of the same exec: its own call runs, the exec does not.
    let started = Instant::now();
    let answer = query(
        double.port,
        &exec_query(&["sh", "-c", "sleep 0.3; echo hi"], "exitCode"),
    )
    .await;
    assert_eq!(
        answer.json()["data"]["container"]["from"]["withExec"]["exitCode"],
        0
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    // A cache-busting variable changes the key: the exec runs again.
    let busted = r#"query{container{from(address:"alpine:3.20"){withEnvVariable(name:"HARNESS_CACHE_BUST",value:"7f1c"){withExec(args:["sh","-c","sleep 0.3; echo hi"]){stdout}}}}}"#;
    let started = Instant::now();
    assert_eq!(query(double.port, busted).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(outcome(double.spans().last().expect("a span")), "executed");
}

#[tokio::test]
async fn a_failing_exec_is_not_cached_and_its_leaf_span_is_an_error() {
    let double = EngineDouble::start().await;
    let q = exec_query(&["sh", "-c", "sleep 0.2; echo bad >&2; exit 3"], "stdout");
    for round in 0..2 {
        double.clear_spans();
        let started = Instant::now();
        let answer = query_with(double.port, &q, &[REPEAT]).await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "round {round}: the exec ran again ({:?})",
            started.elapsed()
        );
        assert_eq!(answer.status, 200);
        let error = &answer.json()["errors"][0];
        assert_eq!(error["extensions"]["_type"], "EXEC_ERROR");
        assert_eq!(error["extensions"]["exitCode"], 3);
        assert_eq!(error["extensions"]["stderr"], "bad", "trimmed");
        assert_eq!(
            error["path"],
            serde_json::json!(["container", "from", "withExec", "stdout"])
        );
        let spans = double.spans();
        let stdout = span(&spans, "Container.stdout");
        assert_eq!(stdout.error.as_deref(), error["message"].as_str());
        assert_eq!(outcome(stdout), "executed", "round {round}");
        let with_exec = span(&spans, "Container.withExec");
        assert!(with_exec.error.is_none());
        // The lazy shell was cached; its result still pending.
        assert_eq!(
            outcome(with_exec),
            if round == 0 { "executed" } else { "hit" }
        );
        assert!(flag(with_exec, "dagger.io/dag.pending"));
        assert!(!flag(with_exec, "dagger.io/dag.cached"));
    }
}

// ---------------------------------------------------------------------------------------
// The exporter: a Go batch span processor.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn spans_leave_in_otlp_json_every_schedule_delay_and_not_before() {
    let sink = Sink::start(None).await;
    let double = EngineDouble::start().await;
    let delay = Duration::from_millis(400);
    let configured = Instant::now();
    double.export_spans(ExportConfig::new(&sink.endpoint, "http/protobuf").every(delay));
    let sampled = (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let q = exec_query(&["sh", "-c", "echo x; exit 5"], "stdout");
    let answer = query_with(double.port, &q, &[sampled]).await;
    assert_eq!(answer.status, 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        sink.exports().is_empty(),
        "nothing before the schedule delay"
    );
    let exports = sink.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(exports.len(), 1, "one batch");
    let waited = exports[0].at - configured;
    assert!(
        waited >= Duration::from_millis(380) && waited < Duration::from_millis(1200),
        "{waited:?}"
    );
    assert_eq!(exports[0].content_type.as_deref(), Some("application/json"));
    let body = &exports[0].body;
    let resource = &body["resourceSpans"][0];
    assert_eq!(
        resource["resource"]["attributes"][0],
        serde_json::json!({ "key": "service.name", "value": { "stringValue": "dagger-engine" } })
    );
    assert_eq!(
        resource["scopeSpans"][0]["scope"]["name"],
        "dagger.io/engine.server"
    );
    let spans = exports[0].spans();
    let named: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        named,
        [
            "Query.container",
            "Container.from",
            "Container.withExec",
            "Container.stdout"
        ]
    );
    for s in &spans {
        assert_eq!(s["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        let id = s["spanId"].as_str().expect("spanId");
        assert_eq!(id.len(), 16);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        for time in ["startTimeUnixNano", "endTimeUnixNano"] {
            let nanos: u64 = s[time]
                .as_str()
                .expect("a string")
                .parse()
                .expect("decimal");
            assert!(nanos > 1_600_000_000_000_000_000, "{time}: {nanos}");
        }
    }
    assert_eq!(spans[0]["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"]);
    let digest = &spans[1]["attributes"][0];
    assert_eq!(digest["key"], "dagger.io/dag.digest");
    assert!(
        digest["value"]["stringValue"]
            .as_str()
            .expect("a string")
            .starts_with("sha256:")
    );
    let pending = spans[2]["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["key"] == "dagger.io/dag.pending")
        .expect("pending");
    assert_eq!(pending["value"], serde_json::json!({ "boolValue": true }));
    assert_eq!(spans[3]["status"]["code"], 2, "the failing field");
    assert!(
        spans[3]["status"]["message"]
            .as_str()
            .expect("message")
            .contains("exit code: 5")
    );
    assert_eq!(spans[2]["status"], serde_json::json!({}));
    assert_eq!(
        double.exported_spans(),
        dagger_double::Exported {
            spans: 4,
            batches: 1,
            failed_batches: 0
        }
    );
    // The next batch a schedule delay after this export started.
    assert_eq!(
        query_with(
            double.port,
            &exec_query(&["echo", "y"], "stdout"),
            &[sampled]
        )
        .await
        .status,
        200
    );
    let exports = sink.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(exports.len(), 2);
    let between = exports[1].at - exports[0].at;
    assert!(between >= Duration::from_millis(380), "{between:?}");
    assert_eq!(exports[1].spans().len(), 2, "withExec and stdout are new");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_an_export_blocks_the_processor() {
    let sink = Sink::start(Some(Duration::from_millis(800))).await;
    let double = EngineDouble::start().await;
    // A queue of 4: the Go SDK makes the batch 4 too; exports leave as batches fill.
    double.export_spans(
        ExportConfig::new(&sink.endpoint, "http/json")
            .every(Duration::from_secs(10))
            .queue(4),
    );
    assert_eq!(double.export_config().map(|c| c.max_batch), Some(4));
    let q = exec_query(&["echo", "q"], "stdout");
    assert_eq!(query(double.port, &q).await.status, 200);
    // The full batch left at once; the sink holds its answer.
    let exports = sink.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0].spans().len(), 4);
    assert_eq!(exports[0].content_type.as_deref(), Some("application/json"));
    // Eight spans while the processor waits: four fit in the queue.
    for _ in 0..2 {
        assert_eq!(query_with(double.port, &q, &[REPEAT]).await.status, 200);
    }
    assert_eq!(double.dropped_spans(), 4);
    let exports = sink.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(
        exports.len(),
        2,
        "the queued batch, once the first export returned"
    );
    assert_eq!(exports[1].spans().len(), 4);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let exported = double.exported_spans();
    assert_eq!((exported.spans, exported.batches), (8, 2));
    assert_eq!(double.spans().len(), 12, "every span was finished");
}

#[tokio::test]
async fn a_flush_or_the_session_end_exports_what_is_queued_and_grpc_exports_nothing() {
    let sink = Sink::start(None).await;
    let double = EngineDouble::start().await;
    let registered = post(
        double.port,
        "/_double/session",
        &[("content-type", "application/json")],
        &format!(
            r#"{{"endpoint":"{}","protocol":"http/protobuf","schedule_delay_ms":10000,"max_queue":null}}"#,
            sink.endpoint
        ),
    )
    .await;
    assert_eq!((registered.status, registered.body.as_str()), (200, "{}"));
    let config = double.export_config().expect("exporting");
    assert_eq!(config.schedule_delay, Duration::from_secs(10));
    assert_eq!(
        (config.max_queue, config.max_batch),
        (2048, 512),
        "Go SDK defaults"
    );
    assert_eq!(
        query(double.port, &exec_query(&["echo", "1"], "stdout"))
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.exports().is_empty());
    double.flush_spans().await;
    assert_eq!(
        sink.exports().len(),
        1,
        "flushed before flush_spans returned"
    );
    assert_eq!(sink.spans().len(), 4);
    assert_eq!(
        query(double.port, &exec_query(&["echo", "2"], "stdout"))
            .await
            .status,
        200
    );
    let ended = post(double.port, "/_double/session-end", &[], "{}").await;
    assert_eq!(ended.status, 200);
    assert_eq!(
        sink.exports().len(),
        2,
        "flushed before the session end was answered"
    );
    assert_eq!(sink.spans().len(), 6);
    // The session is over: nothing more is exported.
    assert_eq!(
        query(double.port, &exec_query(&["echo", "3"], "stdout"))
            .await
            .status,
        200
    );
    double.flush_spans().await;
    assert_eq!(sink.exports().len(), 2);
    assert_eq!(double.export_config(), None);

    // gRPC: nothing the double could carry is posted.
    double
        .export_spans(ExportConfig::new(&sink.endpoint, "grpc").every(Duration::from_millis(200)));
    assert_eq!(
        query(double.port, &exec_query(&["echo", "4"], "stdout"))
            .await
            .status,
        200
    );
    double.end_session().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.exports().len(), 2);
    assert_eq!(double.exported_spans().batches, 2);
}

#[tokio::test]
async fn the_stand_in_cli_registers_the_session_and_the_double_exports_until_it_ends() {
    if !std::path::Path::new("/bin/bash").exists() {
        eprintln!("skipped: /bin/bash not found (the stand-in CLI is a bash script)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(None).await;
    let double = EngineDouble::start().await;
    let bin = stand_in_cli(dir.path(), double.port, TOKEN);
    let mut cli = tokio::process::Command::new(bin.join("dagger"))
        .arg("session")
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &sink.endpoint)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
        .env("OTEL_BSP_SCHEDULE_DELAY", "5000")
        .env("OTEL_BSP_MAX_QUEUE_SIZE", "64")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run the stand-in CLI");
    let mut stdout = cli.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).await.expect("read") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let connect: Value = serde_json::from_slice(&line).expect("connect parameters");
    assert_eq!(connect["port"], double.port);
    assert_eq!(connect["session_token"], TOKEN);
    let config = double
        .export_config()
        .expect("the CLI registered its exporter");
    assert_eq!(config.endpoint, sink.endpoint);
    assert_eq!(
        config.protocol, "http/protobuf",
        "the traces-specific one wins"
    );
    assert_eq!(config.schedule_delay, Duration::from_millis(5000));
    assert_eq!((config.max_queue, config.max_batch), (64, 64));
    let answer = query(double.port, &exec_query(&["echo", "via", "cli"], "stdout")).await;
    assert_eq!(answer.status, 200);
    assert!(sink.exports().is_empty(), "not before 5 s");
    drop(cli.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(5), cli.wait())
        .await
        .expect("the CLI exits once its stdin closes")
        .expect("wait");
    assert!(status.success());
    assert_eq!(sink.spans().len(), 4, "the session end flushed the batch");
    assert_eq!(double.export_config(), None);
    let args = std::fs::read_to_string(dir.path().join("cli-args")).expect("cli-args");
    assert_eq!(args, "session\n");
    let otel = std::fs::read_to_string(dir.path().join("cli-otel")).expect("cli-otel");
    assert_eq!(
        otel,
        format!("{} http/protobuf every 5000ms\n", sink.endpoint)
    );
}

// ---------------------------------------------------------------------------------------
// Failure replies, byte for byte.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_engine_refusing_before_graphql_answers_as_go_http_error_writes_it() {
    let double = EngineDouble::start().await;
    let q = exec_query(&["echo", "hi"], "stdout");
    for (behaviour, status, body) in [
        (
            Behaviour::ShuttingDown,
            503,
            "{\"errors\":[{\"message\":\"engine is shutting down\"}],\"data\":null}\n",
        ),
        (
            Behaviour::SessionClosing,
            503,
            "{\"errors\":[{\"message\":\"session is closing\"}],\"data\":null}\n",
        ),
        (
            Behaviour::ModulesFailed("module \"ci\" failed: <no go.mod> & more".into()),
            500,
            "{\"errors\":[{\"message\":\"loading modules: module \\\"ci\\\" failed: \\u003cno go.mod\\u003e \\u0026 more\"}],\"data\":null}\n",
        ),
    ] {
        double.set(behaviour.clone());
        let answer = query(double.port, &q).await;
        assert_eq!(answer.status, status, "{behaviour:?}");
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.body, body, "{behaviour:?}");
    }
    assert!(double.spans().is_empty(), "nothing ran");
    // The session CLI in front of a dead engine.
    double.set(Behaviour::BadGateway(engine_unreachable(
        "dial unix /run/dagger/engine.sock: connect: connection refused",
    )));
    let answer = query(double.port, &q).await;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        answer.body,
        "http do: Post \"http://dagger/query\": dial unix /run/dagger/engine.sock: connect: connection refused"
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_401_challenge_and_the_password_is_ignored() {
    let double = EngineDouble::start().await;
    let body = r#"{"query":"query{version}","variables":null}"#;
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("nope:")
    );
    let answer = post(
        double.port,
        "/query",
        &[
            ("authorization", &wrong),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Basic realm=\"Access to the Dagger engine session\"")
    );
    assert_eq!(answer.body, "");
    let with_password = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN}:anything"))
    );
    let answer = post(
        double.port,
        "/query",
        &[
            ("authorization", &with_password),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!(
        answer.body,
        r#"{"data":{"version":"v0.0.0-engine-double"}}"#
    );
}

#[tokio::test]
async fn an_unknown_field_or_argument_is_refused_with_422_before_anything_runs() {
    let double = EngineDouble::start().await;
    let started = Instant::now();
    let answer = query(
        double.port,
        r#"query{container{from(address:"alpine:3.20"){withExec(args:["sh","-c","sleep 1"]){stdot}}}}"#,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "nothing ran"
    );
    assert_eq!(answer.status, 422);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"Cannot query field \"stdot\" on type \"Container\". Did you mean \"stdout\" or \"stderr\"?","locations":[{"line":1,"column":82}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}],"data":null}"#
    );
    // gqlparser's order: children first; per field, unknown arguments, then missing ones.
    let answer = query(
        double.port,
        "query {\n  container {\n    from(adress: \"alpine\") {\n      nope\n    }\n  }\n}",
    )
    .await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.body,
        concat!(
            r#"{"errors":["#,
            r#"{"message":"Cannot query field \"nope\" on type \"Container\".","locations":[{"line":4,"column":7}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}},"#,
            r#"{"message":"Unknown argument \"adress\" on field \"Container.from\". Did you mean \"address\"?","locations":[{"line":3,"column":5}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}},"#,
            r#"{"message":"Field \"from\" argument \"address\" of type \"String!\" is required, but it was not provided.","locations":[{"line":3,"column":5}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}"#,
            r#"],"data":null}"#
        )
    );
    assert!(double.spans().is_empty(), "{:?}", names(&double.spans()));
    // A query that does not parse.
    let answer = query(double.port, "query{a{b}").await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"Expected Name, found \u003cEOF\u003e","locations":[{"line":1,"column":11}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}],"data":null}"#
    );
    let answer = query(double.port, "query{container{from(address:\"alpine){id}}}").await;
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"Unterminated string.","locations":[{"line":1,"column":44}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}],"data":null}"#
    );
    let answer = query(double.port, "query{container}}").await;
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"Unexpected }","locations":[{"line":1,"column":17}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}],"data":null}"#
    );
    let answer = query(double.port, "").await;
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"no operation provided","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}],"data":null}"#
    );
    // Asking for graphql-response+json turns the 422 into a 400.
    let answer = query_with(
        double.port,
        "query{nope}",
        &[("accept", "application/graphql-response+json")],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.header("content-type"),
        Some("application/graphql-response+json")
    );
}

#[tokio::test]
async fn an_unknown_image_fails_from_with_the_resolver_error_and_no_extensions() {
    let double = EngineDouble::start().await;
    let answer = query(
        double.port,
        &exec_query(&["echo", "hi"], "stdout").replace("alpine:3.20", "nosuch"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(
        answer.body,
        r#"{"errors":[{"message":"failed to resolve image \"docker.io/library/nosuch:latest\" (platform: \"linux/amd64\"): pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed","path":["container","from"]}],"data":null}"#
    );
    let spans = double.spans();
    assert_eq!(names(&spans), ["Query.container", "Container.from"]);
    assert!(
        spans[1]
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("failed to resolve image"))
    );
    let answer = query(
        double.port,
        r#"query{container{from(address:"ghcr.io/acme/does-not-exist:1.2"){id}}}"#,
    )
    .await;
    assert_eq!(
        answer.json()["errors"][0]["message"],
        "failed to resolve image \"ghcr.io/acme/does-not-exist:1.2\" (platform: \"linux/amd64\"): ghcr.io/acme/does-not-exist:1.2: not found"
    );
    assert_eq!(
        normalized_image("alpine"),
        "docker.io/library/alpine:latest"
    );
    assert_eq!(normalized_image("acme/app:1"), "docker.io/acme/app:1");
    assert_eq!(
        normalized_image("localhost:5000/app"),
        "localhost:5000/app:latest"
    );
}

#[tokio::test]
async fn exec_error_output_keeps_the_last_100_kib_behind_the_omission_notice() {
    let double = EngineDouble::start().await;
    let answer = query(
        double.port,
        &exec_query(&["sh", "-c", "seq 40000; exit 3"], "stdout"),
    )
    .await;
    assert_eq!(answer.status, 200);
    let error = &answer.json()["errors"][0];
    let stdout = error["extensions"]["stdout"].as_str().expect("stdout");
    let full: String = (1..=40000).map(|n| format!("{n}\n")).collect();
    let omitted = full.len() - 102_400;
    let notice = format!("[omitting {omitted} bytes]...");
    let tail = &full[omitted..];
    let expected = format!("{notice}{}", &tail[notice.len()..]);
    assert_eq!(
        stdout,
        expected.trim_end(),
        "the last 100 KiB, notice over their start"
    );
    assert_eq!(stdout.len(), 102_400 - 1, "the final newline trimmed");
    assert!(
        stdout.starts_with("[omitting 126494 bytes]..."),
        "{}",
        &stdout[..40]
    );
    // Short output is kept whole (trimmed); exactly 100 KiB gets a notice of 0 bytes.
    assert_eq!(exec_error_output("  a\nb\n"), "a\nb");
    let exact = "x".repeat(MAX_EXEC_ERROR_OUTPUT_BYTES);
    assert!(exec_error_output(&exact).starts_with("[omitting 0 bytes]...xxx"));
    assert_eq!(exec_error_output(&exact).len(), MAX_EXEC_ERROR_OUTPUT_BYTES);
    // What `expect: ANY` reads is the whole output.
    let answer = query(
        double.port,
        r#"query{container{from(address:"alpine:3.20"){withExec(args:["seq","3"],expect:ANY){stdout}}}}"#,
    )
    .await;
    assert_eq!(
        answer.json()["data"]["container"]["from"]["withExec"]["stdout"],
        "1\n2\n3\n"
    );
    // The switch for tests written before: the output as the program printed it.
    double.set_raw_exec_error_output(true);
    let answer = query(
        double.port,
        &exec_query(&["sh", "-c", "echo partial; exit 3"], "stdout"),
    )
    .await;
    assert_eq!(
        answer.json()["errors"][0]["extensions"]["stdout"],
        "partial\n"
    );
}

// ---------------------------------------------------------------------------------------
// Module functions.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_module_object_answers_its_functions_and_refuses_unknown_ones() {
    let double = EngineDouble::start().await;
    for (q, expected) in [
        (
            r#"query{greeter{greet(name:"ana")}}"#,
            r#"{"data":{"greeter":{"greet":"Hello, ana!"}}}"#,
        ),
        (
            r#"query{greeter{greet(name:"ana",punctuation:"?")}}"#,
            r#"{"data":{"greeter":{"greet":"Hello, ana?"}}}"#,
        ),
        (
            r#"query{greeter{shout(name:"ana")}}"#,
            r#"{"data":{"greeter":{"shout":"HELLO, ANA!"}}}"#,
        ),
        (
            r#"query{hello(name:"x")}"#,
            r#"{"data":{"hello":"hello, x"}}"#,
        ),
        (
            r#"query{greeting(name:"ana"){length}}"#,
            r#"{"data":{"greeting":{"length":3}}}"#,
        ),
    ] {
        let answer = query(double.port, q).await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, expected),
            "{q}"
        );
    }
    let spans = double.spans();
    assert_eq!(
        names(&spans)[..4],
        [
            "Query.greeter",
            "Greeter.greet",
            "Greeter.greet",
            "Greeter.shout"
        ]
    );
    for (q, message) in [
        (
            r#"query{greeter{greeet(name:"ana")}}"#,
            r#"Cannot query field \"greeet\" on type \"Greeter\". Did you mean \"greet\"?"#,
        ),
        (
            r#"query{greeter{greet(punctuation:"?")}}"#,
            r#"Field \"greet\" argument \"name\" of type \"String!\" is required, but it was not provided."#,
        ),
        (
            r#"query{greeter{shout(name:"a",loud:true)}}"#,
            r#"Unknown argument \"loud\" on field \"Greeter.shout\"."#,
        ),
        (
            r#"query{nope}"#,
            r#"Cannot query field \"nope\" on type \"Query\"."#,
        ),
    ] {
        let answer = query(double.port, q).await;
        assert_eq!(answer.status, 422, "{q}");
        assert!(
            answer.body.starts_with(&format!(
                r#"{{"errors":[{{"message":"{message}","locations":"#
            )),
            "{q}: {}",
            answer.body
        );
    }
}
