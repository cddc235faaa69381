//! The reference platform's MCP endpoint (`/mcp`), driven with plain HTTP through whole
//! sessions: real servers on port 0, assertions on statuses, headers, JSON-RPC bodies and
//! the platform's counters, never on elapsed time.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use harness::reference::{
    AttemptOutcome, BreakerConfig, BreakerState, McpMethod, McpOutcome, ReferenceConfig,
    ReferencePlatform, RetryConfig, ServicePath,
};
use harness::units::{HumanDuration, Probability};

const BOTH: &str = "application/json, text/event-stream";
const LEGACY: (&str, &str) = ("X-Feature-USE_DAGGER_MCP_SERVER", "false");
const DAGGER: (&str, &str) = ("X-Feature-USE_DAGGER_MCP_SERVER", "true");

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `data` of each SSE event, as JSON.
    fn events(&self) -> Vec<Value> {
        assert_eq!(self.content_type(), "text/event-stream", "{}", self.body);
        self.body
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|event| {
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {event}"))
            })
            .collect()
    }
}

/// A client of one platform's `/mcp`, holding the session once it has one.
struct Mcp {
    client: Client<HttpConnector, Full<Bytes>>,
    url: String,
    session: Option<String>,
    next_id: u64,
}

impl Mcp {
    fn new(platform: &ReferencePlatform) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            url: format!("{}/mcp", platform.url()),
            session: None,
            next_id: 1,
        }
    }

    async fn send(&self, method: Method, headers: &[(&str, &str)], body: String) -> Answer {
        let mut builder = Request::builder().method(method).uri(&self.url);
        if let Some(session) = &self.session {
            builder = builder.header("mcp-session-id", session);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Full::new(Bytes::from(body))).expect("request");
        let response = self.client.request(request).await.expect("answer");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).expect("UTF-8"),
        }
    }

    /// POSTs a request of `method` with `params`, accepting both answer forms.
    async fn request(&mut self, headers: &[(&str, &str)], method: &str, params: Value) -> Answer {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut all = vec![("accept", BOTH), ("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Method::POST, &all, body.to_string()).await
    }

    /// `initialize`, keeping the session id it answers with.
    async fn initialize(&mut self) -> Answer {
        let answer = self
            .request(
                &[],
                "initialize",
                json!({
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "1"}
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        self.session = answer
            .headers
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("visible ASCII").to_owned());
        answer
    }

    async fn initialized(&self) -> Answer {
        let body = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.send(
            Method::POST,
            &[("accept", BOTH), ("mcp-protocol-version", "2025-06-18")],
            body.to_string(),
        )
        .await
    }

    /// `tools/call` of `tool`; the JSON-RPC answer.
    async fn call(&mut self, headers: &[(&str, &str)], tool: &str, arguments: Value) -> Value {
        let answer = self
            .request(
                headers,
                "tools/call",
                json!({"name": tool, "arguments": arguments}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()
    }
}

fn ms(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_millis(n))
}

fn fast() -> ReferenceConfig {
    ReferenceConfig {
        executor_latency: ms(1),
        executor_jitter: ms(0),
        ..ReferenceConfig::default()
    }
}

/// The `structuredContent` of a successful `run_workflow`, checked against its text.
fn ran(answer: &Value) -> &Value {
    let result = &answer["result"];
    assert_eq!(result["isError"], false, "{answer}");
    let structured = &result["structuredContent"];
    let text = result["content"][0]["text"].as_str().expect("text content");
    assert_eq!(
        &serde_json::from_str::<Value>(text).expect("JSON text"),
        structured
    );
    assert_eq!(structured["status"], "completed");
    let run_id = structured["run_id"].as_str().expect("run id");
    assert!(
        run_id.len() == 16 && run_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{run_id}"
    );
    structured
}

/// The text of a tool error (a result with `isError: true`, never a JSON-RPC error).
fn tool_error(answer: &Value) -> String {
    assert!(answer.get("error").is_none(), "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    answer["result"]["content"][0]["text"]
        .as_str()
        .expect("text")
        .to_owned()
}

async fn metrics_text(platform: &ReferencePlatform) -> String {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let uri = format!("{}/metrics", platform.url());
    let response = client
        .request(Request::get(uri).body(Full::default()).expect("request"))
        .await
        .expect("metrics");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[tokio::test]
async fn a_session_lists_and_calls_tools_on_both_paths_and_ends_with_delete() {
    let platform = ReferencePlatform::start(fast(), 5).await.expect("start");
    let mut mcp = Mcp::new(&platform);

    // Before any session: 400 without an id, 404 with an unknown one.
    let answer = mcp.request(&[], "tools/list", json!({})).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    mcp.session = Some("0123456789abcdef0123456789abcdef".into());
    let answer = mcp.request(&[], "tools/list", json!({})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    mcp.session = None;

    let answer = mcp.initialize().await;
    assert_eq!(answer.content_type(), "application/json", "JSON by default");
    let init = answer.json();
    assert_eq!(init["id"], 3);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        init["result"]["capabilities"],
        json!({"tools": {}, "resources": {}, "prompts": {}})
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "harness-reference");
    let session = mcp.session.clone().expect("a session id");
    assert!(
        session.len() == 32 && session.bytes().all(|b| b.is_ascii_hexdigit()),
        "{session}"
    );

    let answer = mcp.initialized().await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(answer.body.is_empty());

    let list = mcp.request(&[], "tools/list", json!({})).await.json();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "run_workflow",
            "run_workflow_legacy",
            "run_workflow_dagger",
            "fail"
        ]
    );

    // The header picks the path; the tool's name overrides it.
    let args = json!({"workflow": "build"});
    let legacy = mcp.call(&[LEGACY], "run_workflow", args.clone()).await;
    assert_eq!(ran(&legacy)["engine"], "legacy");
    let dagger = mcp.call(&[DAGGER], "run_workflow", args.clone()).await;
    assert_eq!(ran(&dagger)["engine"], "dagger");
    assert_eq!(ran(&dagger)["attempts"], 1);
    assert_ne!(ran(&legacy)["run_id"], ran(&dagger)["run_id"]);
    let named = mcp
        .call(&[LEGACY], "run_workflow_dagger", args.clone())
        .await;
    assert_eq!(ran(&named)["engine"], "dagger");
    let named = mcp.call(&[DAGGER], "run_workflow_legacy", args).await;
    assert_eq!(ran(&named)["engine"], "legacy");

    // A run is a resource, and the subject of the `summarise` prompt.
    let run_id = ran(&dagger)["run_id"].as_str().expect("run id").to_owned();
    let uri = format!("workflow://{run_id}");
    let read = mcp
        .request(&[], "resources/read", json!({"uri": uri}))
        .await
        .json();
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["uri"], uri.as_str());
    let status: Value =
        serde_json::from_str(contents["text"].as_str().expect("text")).expect("JSON");
    assert_eq!(status["engine"], "dagger");
    assert_eq!(status["workflow"], "build");
    let missing = mcp
        .request(&[], "resources/read", json!({"uri": "workflow://nope"}))
        .await
        .json();
    assert_eq!(missing["error"]["code"], -32002);
    let templates = mcp
        .request(&[], "resources/templates/list", json!({}))
        .await
        .json();
    assert_eq!(
        templates["result"]["resourceTemplates"][0]["uriTemplate"],
        "workflow://{run_id}"
    );
    let prompt = mcp
        .request(
            &[],
            "prompts/get",
            json!({"name": "summarise", "arguments": {"run_id": run_id}}),
        )
        .await
        .json();
    let text = prompt["result"]["messages"][0]["content"]["text"]
        .as_str()
        .expect("prompt text");
    assert!(text.contains(&run_id), "{text}");

    let failed = mcp
        .call(&[], "fail", json!({"message": "on purpose"}))
        .await;
    assert_eq!(tool_error(&failed), "on purpose");

    for (tool, arguments) in [
        ("no_such_tool", json!({})),
        ("run_workflow", json!({"workflow": 7})),
        ("run_workflow", json!({})),
    ] {
        let answer = mcp.call(&[], tool, arguments).await;
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
        assert!(answer.get("result").is_none());
    }
    let answer = mcp.request(&[], "no/such/method", json!({})).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["error"]["code"], -32601);
    let pong = mcp.request(&[], "ping", json!({})).await.json();
    assert_eq!(pong["result"], json!({}));

    let answer = mcp
        .send(Method::POST, &[("accept", BOTH)], "{not json".into())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"]["code"], -32700);
    assert_eq!(answer.json()["id"], Value::Null);
    let answer = mcp
        .request(&[("mcp-protocol-version", "1999-01-01")], "ping", json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    let answer = mcp
        .send(Method::GET, &[("accept", BOTH)], String::new())
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);

    let m = platform.metrics();
    let n = |method, path, outcome| m.mcp_requests(method, path, outcome);
    assert_eq!(
        n(McpMethod::ToolsCall, ServicePath::Legacy, McpOutcome::Ok),
        2
    );
    assert_eq!(
        n(McpMethod::ToolsCall, ServicePath::Dagger, McpOutcome::Ok),
        2
    );
    assert_eq!(
        n(
            McpMethod::ToolsCall,
            ServicePath::Legacy,
            McpOutcome::ToolError
        ),
        1
    );
    assert_eq!(
        n(
            McpMethod::ToolsCall,
            ServicePath::Legacy,
            McpOutcome::RpcError
        ),
        3
    );
    assert_eq!(
        n(McpMethod::Initialize, ServicePath::Legacy, McpOutcome::Ok),
        1
    );
    assert_eq!(
        n(McpMethod::Initialized, ServicePath::Legacy, McpOutcome::Ok),
        1
    );
    assert_eq!(
        n(
            McpMethod::ToolsList,
            ServicePath::Legacy,
            McpOutcome::Refused
        ),
        2
    );
    assert_eq!(
        n(McpMethod::Other, ServicePath::Legacy, McpOutcome::RpcError),
        2,
        "an unknown method and a malformed body"
    );
    // MCP tool calls run the workflow but are not execute requests.
    assert_eq!(m.requests(ServicePath::Dagger, 202), 0);
    assert_eq!(m.attempts(ServicePath::Dagger, AttemptOutcome::Ok), 2);
    let text = metrics_text(&platform).await;
    assert!(
        text.lines().any(|l| l
            == r#"harness_reference_mcp_requests_total{method="tools/call",path="dagger",outcome="ok"} 2"#),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "harness_reference_mcp_sessions 1"),
        "{text}"
    );

    let answer = mcp.send(Method::DELETE, &[], String::new()).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    let answer = mcp.request(&[], "tools/list", json!({})).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "an ended session");
    let answer = mcp.send(Method::DELETE, &[], String::new()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let text = metrics_text(&platform).await;
    assert!(
        text.lines()
            .any(|l| l == "harness_reference_mcp_sessions 0"),
        "{text}"
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn with_mcp_sse_a_call_streams_its_progress_then_its_response() {
    let config = ReferenceConfig {
        mcp_sse: true,
        dagger_cpu_per_call: ms(2),
        ..fast()
    };
    let platform = ReferencePlatform::start(config, 5).await.expect("start");
    let mut mcp = Mcp::new(&platform);
    let answer = mcp.initialize().await;
    let events = answer.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["result"]["protocolVersion"], "2025-06-18");
    assert!(mcp.session.is_some(), "the session header on a stream too");

    let answer = mcp
        .request(
            &[DAGGER],
            "tools/call",
            json!({
                "name": "run_workflow",
                "arguments": {"workflow": "build"},
                "_meta": {"progressToken": "p-1"}
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let events = answer.events();
    assert_eq!(events.len(), 3, "{}", answer.body);
    for (event, progress) in events[..2].iter().zip([0, 1]) {
        assert_eq!(event["method"], "notifications/progress");
        assert_eq!(event["params"]["progressToken"], "p-1");
        assert_eq!(event["params"]["progress"], progress);
        assert_eq!(event["params"]["total"], 1);
    }
    assert_eq!(events[2]["id"], 2);
    assert_eq!(ran(&events[2])["engine"], "dagger");
    // The run's CPU cost counts as the Dagger path's.
    let cpu = |path| platform.metrics().handler_cpu_time(path);
    assert!(cpu(ServicePath::Dagger) >= Duration::from_millis(2));
    assert_eq!(cpu(ServicePath::Legacy), Duration::ZERO);

    // Without a progress token: the response alone.
    let answer = mcp.request(&[], "tools/list", json!({})).await;
    assert_eq!(answer.events().len(), 1);
    // A client that takes only JSON gets JSON.
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}).to_string();
    let answer = mcp
        .send(Method::POST, &[("accept", "application/json")], body)
        .await;
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.json()["id"], 9);
    platform.shutdown().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_a_loopback_one_is_not() {
    let platform = ReferencePlatform::start(fast(), 5).await.expect("start");
    let mut mcp = Mcp::new(&platform);
    let evil = ("origin", "https://evil.example");
    let init = json!({"protocolVersion": "2025-06-18", "capabilities": {}});
    let answer = mcp.request(&[evil], "initialize", init.clone()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.headers.get("mcp-session-id").is_none());
    mcp.initialize().await;
    let answer = mcp.send(Method::DELETE, &[evil], String::new()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "the session survives");
    let local = ("origin", "http://localhost:3000");
    let answer = mcp.request(&[local], "ping", json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        platform
            .metrics()
            .mcp_requests(McpMethod::Other, ServicePath::Legacy, McpOutcome::Refused),
        2
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn an_executor_outage_is_a_tool_error_and_the_dagger_breaker_opens_then_fails_fast() {
    let config = ReferenceConfig {
        executor_error_rate: Probability::new(1.0).expect("probability"),
        breaker: BreakerConfig {
            failure_threshold: 3,
            open_for: HumanDuration(Duration::from_secs(60)),
            half_open_probes: 1,
        },
        retry: RetryConfig {
            max_attempts: 3,
            base_backoff: ms(1),
            max_backoff: ms(2),
        },
        ..fast()
    };
    let platform = ReferencePlatform::start(config, 5).await.expect("start");
    let mut mcp = Mcp::new(&platform);
    mcp.initialize().await;
    let args = json!({"workflow": "build"});

    let legacy = mcp.call(&[LEGACY], "run_workflow", args.clone()).await;
    let text = tool_error(&legacy);
    assert!(
        text.contains("legacy path") && text.contains("HTTP 502"),
        "{text}"
    );
    assert_eq!(legacy["result"]["structuredContent"]["engine"], "legacy");
    let m = platform.metrics();
    assert_eq!(m.attempts(ServicePath::Legacy, AttemptOutcome::Error), 1);

    // The Dagger path retries (three attempts), which opens its breaker...
    let dagger = mcp.call(&[DAGGER], "run_workflow", args.clone()).await;
    let text = tool_error(&dagger);
    assert!(text.contains("dagger path"), "{text}");
    assert_eq!(m.attempts(ServicePath::Dagger, AttemptOutcome::Error), 3);
    assert_eq!(platform.breaker_state(), BreakerState::Open);
    // ... and then fails fast without calling the executor.
    let fast_fail = mcp.call(&[DAGGER], "run_workflow", args).await;
    let text = tool_error(&fast_fail);
    assert!(
        text.contains("circuit breaker open") && text.contains("HTTP 503"),
        "{text}"
    );
    assert_eq!(m.attempts(ServicePath::Dagger, AttemptOutcome::Error), 3);
    assert_eq!(
        m.mcp_requests(
            McpMethod::ToolsCall,
            ServicePath::Dagger,
            McpOutcome::ToolError
        ),
        2
    );
    assert_eq!(
        m.mcp_requests(
            McpMethod::ToolsCall,
            ServicePath::Legacy,
            McpOutcome::ToolError
        ),
        1
    );
    platform.shutdown().await;
}

/// What a scripted dependency saw: each call's request id and attempt headers.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

/// A stand-in executor answering each call with the next scripted status (200 when the
/// script is done), recording what it saw.
async fn scripted_dependency(script: &[u16]) -> (String, Seen) {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
    let seen: Seen = Arc::default();
    let recorded = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (script, seen) = (Arc::clone(&script), Arc::clone(&recorded));
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                seen.lock()
                    .expect("seen")
                    .push((header("x-harness-request-id"), header("x-harness-attempt")));
                let status = script.lock().expect("script").pop_front().unwrap_or(200);
                let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                *response.status_mut() = StatusCode::from_u16(status).expect("status");
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_dagger_tool_call_retries_a_failed_attempt_where_legacy_reports_it() {
    let config = ReferenceConfig {
        retry: RetryConfig {
            max_attempts: 3,
            base_backoff: ms(1),
            max_backoff: ms(2),
        },
        ..fast()
    };
    let (dependency, seen) = scripted_dependency(&[503, 503]).await;
    let platform = ReferencePlatform::start_with(
        config,
        5,
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Some(dependency),
    )
    .await
    .expect("start");
    let mut mcp = Mcp::new(&platform);
    mcp.initialize().await;
    let args = json!({"workflow": "build"});

    let legacy = mcp
        .call(
            &[LEGACY, ("x-harness-request-id", "r-1")],
            "run_workflow",
            args.clone(),
        )
        .await;
    assert!(tool_error(&legacy).contains("HTTP 502"), "{legacy}");
    let dagger = mcp
        .call(
            &[DAGGER, ("x-harness-request-id", "r-2")],
            "run_workflow",
            args,
        )
        .await;
    let structured = ran(&dagger);
    assert_eq!(structured["engine"], "dagger");
    assert_eq!(structured["attempts"], 2, "one retry hid the failure");

    let id = |s: &str| Some(s.to_owned());
    assert_eq!(
        *seen.lock().expect("seen"),
        [
            (id("r-1"), id("1")),
            (id("r-2"), id("1")),
            (id("r-2"), id("2")),
        ],
        "the MCP request's id reaches the dependency on every attempt"
    );
    platform.shutdown().await;
}

#[tokio::test]
async fn an_sse_call_sends_its_first_progress_before_the_workflow_is_done() {
    let config = ReferenceConfig {
        mcp_sse: true,
        executor_latency: ms(300),
        ..fast()
    };
    let platform = ReferencePlatform::start(config, 5).await.expect("start");
    let mut mcp = Mcp::new(&platform);
    mcp.initialize().await;
    let body = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {
            "name": "run_workflow_dagger",
            "arguments": {"workflow": "build"},
            "_meta": {"progressToken": 7}
        }
    });
    let request = Request::post(&mcp.url)
        .header("accept", BOTH)
        .header("mcp-session-id", mcp.session.as_deref().expect("session"))
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = mcp.client.request(request).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let first = body
        .frame()
        .await
        .expect("a first event")
        .expect("readable")
        .into_data()
        .expect("data");
    // The executor takes 300 ms: the workflow is still running.
    assert_eq!(
        platform
            .metrics()
            .attempts(ServicePath::Dagger, AttemptOutcome::Ok),
        0
    );
    let first = String::from_utf8(first.to_vec()).expect("UTF-8");
    assert!(
        first.starts_with("event: message\ndata: ") && first.contains(r#""progress":0"#),
        "{first}"
    );
    let rest = body.collect().await.expect("the rest").to_bytes();
    let rest = String::from_utf8(rest.to_vec()).expect("UTF-8");
    assert!(rest.contains(r#""progress":1"#), "{rest}");
    assert!(rest.contains(r#""engine":"dagger""#), "{rest}");
    assert_eq!(
        platform
            .metrics()
            .attempts(ServicePath::Dagger, AttemptOutcome::Ok),
        1
    );
    platform.shutdown().await;
}
