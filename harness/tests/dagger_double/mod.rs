//! A contract double of a Dagger engine's session endpoint, for the harness's Dagger paths.
//!
//! A real HTTP/1.1 server on 127.0.0.1 that speaks what dagger-sdk speaks (DESIGN.md §11):
//! `POST /query`, `Authorization: Basic base64(token + ":")` (anything else: 401 with an
//! empty body, as the session answers), a JSON body `{"query": ..., "variables": null}`,
//! and a reply `{"data": ...}` or `{"errors": [...], "data": null}`.
//!
//! It parses each query as gqlparser does and validates it against its schema
//! ([`graphql`]: a query that does not parse or validate is refused with a 422 before
//! anything runs), records it with its `x-harness-request-id`, and evaluates the chain
//! the SDK builds the way the engine would: `container.from.(withEnvVariable|
//! withMountedDirectory|withWorkdir)*.withExec(args, expect).stdout|stderr|exitCode`,
//! `host.directory(path).id`, and a module's functions (`hello(name)` a string,
//! `greeting(name)` an object whose fields are selected, and the object `greeter` with
//! `greet` and `shout`). An exec is simulated ([`exec`]), lazily as in the engine: a
//! `withExec` returns at once and runs when a field needs its output. Results are cached
//! by call key for the double's life, as the engine caches them. A non-zero exit fails the
//! query with an `EXEC_ERROR` unless the exec was given `expect: ANY`.
//!
//! Every evaluated field ends a span ([`telemetry`]), exported like the session CLI does
//! once told where ([`EngineDouble::export_spans`], or `POST /_double/session` from the
//! stand-in CLI of [`stand_in_cli`]).
//!
//! [`Behaviour`] makes the double misbehave, switchable at any time: the engine's own
//! refusals (shutting down, session closing, modules failing to load), a 502 from the
//! session when the engine is gone, slow replies, dropped connections, `{"data": null}`,
//! a reply that is not JSON, a leaf of the wrong type, and the engine going away after
//! some queries. [`stop`] takes it away at once (the listener and every open connection
//! are closed).
//!
//! [`stop`]: EngineDouble::stop

#![allow(dead_code)] // each test binary uses a different part of the double

mod exec;
pub mod graphql;
pub mod telemetry;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use exec::{Container, Exec, PendingExec};
// What tests may name; each test binary uses a different part.
#[allow(unused_imports)]
pub use exec::{MAX_EXEC_ERROR_OUTPUT_BYTES, exec_error_output};
#[allow(unused_imports)]
pub use graphql::{Field, GqlError, Literal, Node, Position, Refusal, chain_of, parse_query};
#[allow(unused_imports)]
pub use telemetry::{AttrValue, ExportConfig, Exported, SpanData, TraceContext};

/// The session token the double accepts unless told otherwise.
pub const TOKEN: &str = "double-session-token-5f1e";

/// The platform the double's engine runs on (what `container.from` resolves for).
pub const PLATFORM: &str = "linux/amd64";

/// How the double answers, switchable per test ([`EngineDouble::set`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// As the engine does.
    Engine,
    /// `502 Bad Gateway` with a `text/plain` body: what the session port answers when the
    /// engine died but the session CLI lives (`engine/client/client.go` ServeHTTP: the
    /// proxied request fails and the CLI writes 502 with `http do: <error>`; see
    /// [`engine_unreachable`]), or what a proxy in front of the engine answers.
    BadGateway(String),
    /// As the engine does, after a delay.
    Slow(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// `200 {"data": null}`: the SDK unwraps the missing data (it panics).
    NullData,
    /// `200` with a body that is not JSON.
    Malformed,
    /// `200` with the leaf a number where the schema has a string.
    WrongType,
    /// Answer this many queries as the engine does, then go away: the next query's
    /// connection is dropped, the listener closes and every open connection with it.
    GoneAfter(usize),
    /// The engine is shutting down: 503, GraphQL errors `engine is shutting down`
    /// (`engine/server/session.go` serveHTTPToClient, errServerShuttingDown).
    ShuttingDown,
    /// The session is closing: 503, `session is closing` (errSessionClosing).
    SessionClosing,
    /// The session's modules failed to load: 500, `loading modules: <message>`.
    ModulesFailed(String),
}

/// The body the session CLI answers with 502 when the engine behind it is unreachable
/// (`engine/client/client.go` ServeHTTP: `"http do: " + err.Error()`, the error being
/// Go's `*url.Error` for the proxied `POST http://dagger/query`).
pub fn engine_unreachable(cause: &str) -> String {
    format!("http do: Post \"http://dagger/query\": {cause}")
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `x-harness-request-id` header, when present and a number.
    pub request_id: Option<u64>,
    /// Whether `Authorization` carried the session token.
    pub authorized: bool,
    /// The GraphQL query (empty when refused before the body was read as JSON).
    pub query: String,
    /// The `variables` member of the body (`null` from the SDK).
    pub variables: Value,
    /// The fields of the query, root first (one per level, as the SDK sends them);
    /// empty when the query did not parse.
    pub chain: Vec<Field>,
    /// The `traceparent` header, as sent.
    pub traceparent: Option<String>,
    /// The `baggage` header, as sent.
    pub baggage: Option<String>,
}

impl Call {
    /// The field names of the chain, root first.
    pub fn names(&self) -> Vec<&str> {
        self.chain.iter().map(|f| f.name.as_str()).collect()
    }

    /// The last field.
    pub fn leaf(&self) -> Option<&Field> {
        self.chain.last()
    }

    /// Every field of the chain called `name`, in order.
    pub fn fields(&self, name: &str) -> Vec<&Field> {
        self.chain.iter().filter(|f| f.name == name).collect()
    }

    /// The environment an exec of this query sees: `withEnvVariable` in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.fields("withEnvVariable")
            .into_iter()
            .filter_map(|f| {
                Some((
                    f.str_arg("name")?.to_owned(),
                    f.str_arg("value")?.to_owned(),
                ))
            })
            .collect()
    }

    /// The argv of this query's exec, if it has one.
    pub fn exec_args(&self) -> Option<Vec<String>> {
        self.fields("withExec").first()?.strings_arg("args")
    }
}

/// What the engine has computed, by call key (the double's life: the engine's cache
/// outlives sessions).
#[derive(Debug, Default)]
struct Cache {
    /// Calls that succeeded.
    keys: HashSet<String>,
    /// Execs that ran (and did not fail), by the call key of their `withExec`.
    execs: HashMap<String, Exec>,
}

#[derive(Debug)]
struct State {
    token: String,
    behaviour: Mutex<Behaviour>,
    calls: Mutex<Vec<Call>>,
    /// Host folders by directory ID (`Directory:<n>`).
    dirs: Mutex<Vec<PathBuf>>,
    /// Queries answered (or refused) so far, for [`Behaviour::GoneAfter`].
    seen: AtomicUsize,
    stop: watch::Sender<bool>,
    cache: Mutex<Cache>,
    /// Call keys whose telemetry the session has emitted (`dagql/telemetry.go`).
    emitted: Mutex<HashSet<String>>,
    telemetry: telemetry::Telemetry,
    runtime: tokio::runtime::Handle,
    /// [`EngineDouble::set_raw_exec_error_output`].
    raw_exec_errors: AtomicBool,
}

impl State {
    fn behaviour(&self) -> Behaviour {
        self.behaviour.lock().expect("behaviour lock").clone()
    }

    fn record(&self, call: Call) {
        self.calls.lock().expect("calls lock").push(call);
    }

    /// `dagql/telemetry.go` ShouldEmitTelemetry: a call's span is emitted the first time
    /// its key is seen in the session; with repeated telemetry (`request_keys`, fresh per
    /// request) the first time in the request, the session's keys being updated too.
    fn should_emit(&self, key: &str, request_keys: Option<&mut HashSet<String>>) -> bool {
        let mut session = self.emitted.lock().expect("emitted lock");
        match request_keys {
            Some(keys) => {
                if !keys.insert(key.to_owned()) {
                    return false;
                }
                session.insert(key.to_owned());
                true
            }
            None => session.insert(key.to_owned()),
        }
    }
}

/// A running double on `127.0.0.1:port`.
#[derive(Debug)]
pub struct EngineDouble {
    /// The port (what `DAGGER_SESSION_PORT` names).
    pub port: u16,
    state: Arc<State>,
    accept: Option<tokio::task::JoinHandle<()>>,
    /// The runtime it serves on, when started from synchronous code.
    runtime: Option<tokio::runtime::Runtime>,
}

impl EngineDouble {
    /// Starts a double that accepts [`TOKEN`], on the current runtime.
    pub async fn start() -> Self {
        Self::start_with(TOKEN, Behaviour::Engine).await
    }

    /// Starts a double that accepts `token` and behaves as told, on the current runtime.
    pub async fn start_with(token: &str, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let (stop, _) = watch::channel(false);
        let state = Arc::new(State {
            token: token.to_owned(),
            behaviour: Mutex::new(behaviour),
            calls: Mutex::new(Vec::new()),
            dirs: Mutex::new(Vec::new()),
            seen: AtomicUsize::new(0),
            stop,
            cache: Mutex::new(Cache::default()),
            emitted: Mutex::new(HashSet::new()),
            telemetry: telemetry::Telemetry::default(),
            runtime: tokio::runtime::Handle::current(),
            raw_exec_errors: AtomicBool::new(false),
        });
        let accept = tokio::spawn(serve(listener, state.clone()));
        Self {
            port,
            state,
            accept: Some(accept),
            runtime: None,
        }
    }

    /// Starts a double on a runtime of its own, for tests that run the binary (the double
    /// keeps serving while the test thread waits on the child).
    pub fn start_in_background(token: &str, behaviour: Behaviour) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the double");
        let mut double = runtime.block_on(Self::start_with(token, behaviour));
        double.runtime = Some(runtime);
        double
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes how the double answers from the next request on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().expect("behaviour lock") = behaviour;
    }

    /// Takes the engine away: the listener and every open connection close; once this
    /// returns, connecting to the port is refused.
    pub async fn stop(&mut self) {
        self.state.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    /// True once the double has gone away (by [`EngineDouble::stop`] or
    /// [`Behaviour::GoneAfter`]).
    pub fn is_gone(&self) -> bool {
        *self.state.stop.borrow()
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls lock").clone()
    }

    /// The requests that carried `request_id`.
    pub fn calls_for(&self, request_id: u64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.request_id == Some(request_id))
            .collect()
    }

    /// The query texts received so far (for messages, and to see what the SDK sends).
    pub fn queries(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.query).collect()
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        self.state.calls.lock().expect("calls lock").clear();
    }

    /// Exports the engine's spans from now on, as the session CLI does when started with
    /// `config`'s `OTEL_*` environment; a previous export is flushed and replaced.
    pub fn export_spans(&self, config: ExportConfig) {
        self.state.telemetry.configure(config, &self.state.runtime);
    }

    /// The export in force (after the Go SDK's adjustments), if any.
    pub fn export_config(&self) -> Option<ExportConfig> {
        self.state.telemetry.config()
    }

    /// A new session: every call's telemetry is emitted again once (the engine's cache
    /// is kept: it outlives sessions).
    pub fn new_session(&self) {
        self.state.emitted.lock().expect("emitted lock").clear();
    }

    /// `ForceFlush`: every span finished so far is exported before this returns.
    pub async fn flush_spans(&self) {
        self.state.telemetry.flush().await;
    }

    /// The session ends: the batch processor flushes what is queued and stops exporting.
    pub async fn end_session(&self) {
        self.state.telemetry.end().await;
    }

    /// Spans the batch processor dropped because its queue was full.
    pub fn dropped_spans(&self) -> u64 {
        self.state.telemetry.dropped()
    }

    /// Spans and batches exported so far.
    pub fn exported_spans(&self) -> Exported {
        self.state.telemetry.exported()
    }

    /// Every span the engine finished (sampled ones: exported or not), in the order they
    /// ended.
    pub fn spans(&self) -> Vec<SpanData> {
        self.state.telemetry.spans()
    }

    /// Not as the engine: an `EXEC_ERROR` carries the exec's whole output, untrimmed and
    /// untruncated (the double's behaviour before it followed `core/exec_error.go`), for
    /// tests written against that. Off by default.
    pub fn set_raw_exec_error_output(&self, raw: bool) {
        self.state.raw_exec_errors.store(raw, Ordering::SeqCst);
    }

    /// Forgets the spans finished so far (the export counters stay).
    pub fn clear_spans(&self) {
        self.state.telemetry.clear();
    }
}

impl Drop for EngineDouble {
    fn drop(&mut self) {
        self.state.stop.send_replace(true);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A stand-in `dagger` CLI for `dagger session`, as `dir/fake-bin/dagger` (a bash script);
/// the folder is returned, to put first on `PATH`.
///
/// It records its arguments in `dir/cli-args` and, in `dir/cli-otel`, the OTLP endpoint,
/// protocol and export schedule it was given (`<endpoint> <protocol> every <N>ms`, the
/// traces-specific protocol winning over the generic one as in OpenTelemetry SDKs);
/// registers the session with the double (`POST /_double/session`, with its
/// `OTEL_BSP_SCHEDULE_DELAY` and `OTEL_BSP_MAX_QUEUE_SIZE`), so that the double exports
/// the engine's spans the way that CLI would; prints the connect parameters
/// `{"port": PORT, "session_token": "TOKEN"}`; waits for its stdin to close; then ends
/// the session (`POST /_double/session-end`: the batch processor's final flush, which the
/// double finishes before answering) and exits. It posts no span itself.
pub fn stand_in_cli(dir: &Path, port: u16, token: &str) -> PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).expect("mkdir fake-bin");
    let script = r#"#!/bin/bash
export LC_ALL=C
echo "$@" > "@DIR@/cli-args"
# As OpenTelemetry SDKs do: the traces-specific protocol wins over the generic one.
protocol="${OTEL_EXPORTER_OTLP_TRACES_PROTOCOL:-$OTEL_EXPORTER_OTLP_PROTOCOL}"
echo "$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT $protocol every ${OTEL_BSP_SCHEDULE_DELAY:-5000}ms" > "@DIR@/cli-otel"
esc() { local s="${1//\\/\\\\}"; printf '%s' "${s//\"/\\\"}"; }
num() { if [[ "$1" =~ ^[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }
post() {
  exec 3<>"/dev/tcp/127.0.0.1/@PORT@" || return 1
  printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1:@PORT@\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$1" "${#2}" "$2" >&3
  cat <&3 >/dev/null
  exec 3>&-
}
post /_double/session "{\"endpoint\":\"$(esc "$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")\",\"protocol\":\"$(esc "$protocol")\",\"schedule_delay_ms\":$(num "$OTEL_BSP_SCHEDULE_DELAY"),\"max_queue\":$(num "$OTEL_BSP_MAX_QUEUE_SIZE")}"
echo "engine starting" >&2
echo '{"port": @PORT@, "session_token": "@TOKEN@"}'
cat >/dev/null
post /_double/session-end '{}'
"#
    .replace("@DIR@", &dir.display().to_string())
    .replace("@PORT@", &port.to_string())
    .replace("@TOKEN@", token);
    install_executable(&bin.join("dagger"), &script);
    bin
}

/// Writes an executable without this process ever holding it open for writing: the text
/// goes to a plain file and `install` (a child) copies it with mode 755. A descriptor open
/// for writing in the test process would leak into any child another test thread forks at
/// that moment, and executing the file while that child lives fails with ETXTBSY ("Text
/// file busy").
pub fn install_executable(file: &Path, text: &str) {
    let source = file.with_extension("text");
    std::fs::write(&source, text).expect("write the executable's text");
    let status = std::process::Command::new("install")
        .arg("-m")
        .arg("755")
        .arg(&source)
        .arg(file)
        .status()
        .expect("run install");
    assert!(status.success(), "install {} failed", file.display());
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut stopped = state.stop.subscribe();
    loop {
        let stream = tokio::select! {
            _ = stopped.wait_for(|gone| *gone) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        let mut stopped = state.stop.subscribe();
        tokio::spawn(async move {
            let service = hyper::service::service_fn({
                let state = state.clone();
                move |request| {
                    let state = state.clone();
                    async move { handle(&state, request).await }
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // Going away closes the connection, answered or not.
            tokio::select! {
                _ = connection => {}
                _ = stopped.wait_for(|gone| *gone) => {}
            }
        });
    }
    // The listener is dropped here: connections are refused from now on.
}

/// The error that makes hyper close the connection without an answer.
#[derive(Debug)]
struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("engine double: hanging up")
    }
}

impl std::error::Error for Hangup {}

type Reply = Result<Response<Full<Bytes>>, Hangup>;

async fn handle(state: &State, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    if request.method() == Method::POST && path.starts_with("/_double/") {
        return control(state, &path, request.into_body()).await;
    }
    if request.method() != Method::POST || path != "/query" {
        return Ok(plain(StatusCode::NOT_FOUND, ""));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header("x-harness-request-id").and_then(|v| v.parse::<u64>().ok());
    let authorized =
        header(AUTHORIZATION.as_str()).is_some_and(|v| basic_auth_matches(&v, &state.token));
    let content_type = header(CONTENT_TYPE.as_str());
    let accept = header("accept");
    let traceparent = header("traceparent");
    let baggage = header("baggage");
    let body = request
        .into_body()
        .collect()
        .await
        .map_err(|_| Hangup)?
        .to_bytes();
    let seen = state.seen.fetch_add(1, Ordering::SeqCst);
    let behaviour = state.behaviour();
    let mut call = Call {
        request_id,
        authorized,
        query: String::new(),
        variables: Value::Null,
        chain: Vec::new(),
        traceparent,
        baggage,
    };
    if let Behaviour::GoneAfter(answered) = behaviour
        && seen >= answered
    {
        state.record(call);
        state.stop.send_replace(true);
        return Err(Hangup);
    }
    if !authorized {
        // engine/client/client.go ServeHTTP: the session refuses a wrong or missing
        // token with a 401, a WWW-Authenticate challenge and no body.
        state.record(call);
        let mut response = plain(StatusCode::UNAUTHORIZED, "");
        response.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"Access to the Dagger engine session\""
                .parse()
                .expect("header"),
        );
        return Ok(response);
    }
    // engine/server/session.go serveHTTPToClient: before any GraphQL, the engine may be
    // shutting down (errServerShuttingDown), the session closing (errSessionClosing),
    // or its modules failing to load; each a gqlErr written by Go's http.Error.
    let refusal = match &behaviour {
        Behaviour::ShuttingDown => Some((
            StatusCode::SERVICE_UNAVAILABLE,
            "engine is shutting down".to_owned(),
        )),
        Behaviour::SessionClosing => Some((
            StatusCode::SERVICE_UNAVAILABLE,
            "session is closing".to_owned(),
        )),
        Behaviour::ModulesFailed(message) => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("loading modules: {message}"),
        )),
        _ => None,
    };
    if let Some((code, message)) = refusal {
        call.query = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b["query"].as_str().map(str::to_owned))
            .unwrap_or_default();
        state.record(call);
        return Ok(gql_error(code, &message));
    }
    // gqlgen graphql/handler/server.go: only the POST transport takes a request, and
    // only with `Content-Type: application/json`.
    let json_body = content_type
        .as_deref()
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        state.record(call);
        return Ok(go_sniffed(
            StatusCode::BAD_REQUEST,
            &gql_body(&[GoError::message("transport not supported")]),
        ));
    }
    let reply_type = ReplyType::of(accept.as_deref());
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            // gqlgen transport/http_post.go: 400 and the body quoted back.
            state.record(call);
            let message = format!(
                "json request body could not be decoded: {e} body:{}",
                String::from_utf8_lossy(&body)
            );
            return Ok(reply_type.reply(
                StatusCode::BAD_REQUEST,
                gql_body(&[GoError::message(&message)]),
            ));
        }
    };
    call.query = parsed["query"].as_str().unwrap_or_default().to_owned();
    call.variables = parsed
        .get("variables")
        .cloned()
        .unwrap_or(Value::Bool(false));
    let document = graphql::parse_document(&call.query);
    if let Ok(chain) = document
        .as_ref()
        .map_err(|_| ())
        .and_then(|nodes| chain_of(nodes).map_err(|_| ()))
    {
        call.chain = chain;
    }
    let trace = TraceContext::from_traceparent(call.traceparent.as_deref());
    let repeat = telemetry::repeat_telemetry(call.baggage.as_deref());
    state.record(call);
    match &behaviour {
        Behaviour::BadGateway(text) => {
            return Ok(text_reply(StatusCode::BAD_GATEWAY, text.clone()));
        }
        Behaviour::Drop => return Err(Hangup),
        Behaviour::NullData => return Ok(json_reply(StatusCode::OK, &json!({ "data": null }))),
        Behaviour::Malformed => {
            let mut response =
                text_reply(StatusCode::OK, "{\"data\": {\"container\": <html>".into());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, "application/json".parse().expect("header"));
            return Ok(response);
        }
        Behaviour::Slow(delay) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    // Parse and validation errors: gqlgen refuses the operation before running anything
    // (graphql/executor/executor.go CreateOperationContext), 422 under
    // application/json (transport/http_get.go statusFor).
    let nodes = match document {
        Ok(nodes) => nodes,
        Err(Refusal::Parse(e)) => {
            return Ok(reply_type.refuse(&[GoError::protocol(&e, "GRAPHQL_PARSE_FAILED")]));
        }
        Err(Refusal::Invalid(errors)) => {
            let errors: Vec<GoError> = errors
                .iter()
                .map(|e| GoError::protocol(e, "GRAPHQL_VALIDATION_FAILED"))
                .collect();
            return Ok(reply_type.refuse(&errors));
        }
        Err(Refusal::Unsupported(why)) => return Ok(double_limit(&why)),
    };
    let invalid = graphql::validate(&nodes);
    if !invalid.is_empty() {
        let errors: Vec<GoError> = invalid
            .iter()
            .map(|e| GoError::protocol(e, "GRAPHQL_VALIDATION_FAILED"))
            .collect();
        return Ok(reply_type.refuse(&errors));
    }
    let chain = match chain_of(&nodes) {
        Ok(chain) => chain,
        Err(why) => return Ok(double_limit(&why)),
    };
    let evaluated = evaluate(state, &chain);
    emit_spans(state, &trace, repeat, &evaluated.spans).await;
    let body = match evaluated.result {
        Ok(leaf) => {
            let leaf = if behaviour == Behaviour::WrongType {
                json!(42)
            } else {
                leaf
            };
            go_json(&json!({ "data": nest(&chain, leaf) }))
        }
        Err(error) => gql_body(&[error]),
    };
    Ok(reply_type.reply(StatusCode::OK, body))
}

/// The test-only requests of the stand-in CLI: `/_double/session` (a new session,
/// exporting as its body says: `{"endpoint", "protocol", "schedule_delay_ms",
/// "max_queue", "max_batch"}`, numbers or null for the Go SDK's defaults; an empty
/// endpoint exports nothing) and `/_double/session-end` (the final flush, finished
/// before the answer).
async fn control(state: &State, path: &str, body: Incoming) -> Reply {
    let body = body.collect().await.map_err(|_| Hangup)?.to_bytes();
    match path {
        "/_double/session" => {
            let Ok(config) = serde_json::from_slice::<Value>(&body) else {
                return Ok(text_reply(
                    StatusCode::BAD_REQUEST,
                    "a JSON object, please\n".into(),
                ));
            };
            state.emitted.lock().expect("emitted lock").clear();
            let endpoint = config["endpoint"].as_str().unwrap_or_default();
            if endpoint.is_empty() {
                state.telemetry.end().await;
            } else {
                let protocol = match config["protocol"].as_str().unwrap_or_default() {
                    // The OTLP default when no protocol is set.
                    "" => "http/protobuf",
                    other => other,
                };
                let mut export = ExportConfig::new(endpoint, protocol);
                let number = |key: &str| config[key].as_u64();
                if let Some(ms) = number("schedule_delay_ms") {
                    export.schedule_delay = Duration::from_millis(ms);
                }
                if let Some(n) = number("max_queue") {
                    export.max_queue = usize::try_from(n).unwrap_or(usize::MAX);
                }
                if let Some(n) = number("max_batch") {
                    export.max_batch = usize::try_from(n).unwrap_or(usize::MAX);
                }
                state.telemetry.configure(export, &state.runtime);
            }
            Ok(json_reply(StatusCode::OK, &json!({})))
        }
        "/_double/session-end" => {
            state.telemetry.end().await;
            Ok(json_reply(StatusCode::OK, &json!({})))
        }
        _ => Ok(plain(StatusCode::NOT_FOUND, "")),
    }
}

/// Emits the spans of one query as their fields end: a span whose call key the session
/// (or, with repeated telemetry, the request) has seen is not emitted, and nothing is
/// recorded for an unsampled request (the keys are marked seen all the same: dagql
/// decides before the span starts). The first emitted span's parent is the caller's
/// span; each later one's the previous emitted one. A field that ran an exec takes its
/// time before ending.
async fn emit_spans(state: &State, trace: &TraceContext, repeat: bool, spans: &[FieldSpan]) {
    let mut request_keys = repeat.then(HashSet::new);
    let mut parent = trace.parent;
    for field in spans {
        let emit = state.should_emit(&field.digest, request_keys.as_mut()) && trace.sampled;
        let start = telemetry::now_nanos();
        if !field.took.is_zero() {
            tokio::time::sleep(field.took).await;
        }
        let end = telemetry::now_nanos().max(start + 1_000);
        if !emit {
            continue;
        }
        let span_id = telemetry::random_nonzero();
        state.telemetry.finished(vec![SpanData {
            trace_id: trace.trace_id,
            span_id,
            parent_span_id: parent,
            name: field.name.clone(),
            start_unix_nanos: start,
            end_unix_nanos: end,
            attributes: field.attributes(),
            error: field.error.clone(),
        }]);
        parent = Some(span_id);
    }
}

/// Go's `BasicAuth` as the session reads it (`engine/client/client.go` ServeHTTP): the
/// user name is the token, the password is ignored.
fn basic_auth_matches(header: &str, token: &str) -> bool {
    let Some(prefix) = header.get(..6) else {
        return false;
    };
    if !prefix.eq_ignore_ascii_case("Basic ") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(&header[6..]) else {
        return false;
    };
    let Ok(decoded) = std::str::from_utf8(&decoded) else {
        return false;
    };
    decoded
        .split_once(':')
        .is_some_and(|(user, _password)| user == token)
}

// ---------------------------------------------------------------------------------------
// Replies, byte for byte.
// ---------------------------------------------------------------------------------------

/// A bare status with a body and no content type (what the session sends with a 401).
fn plain(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = code;
    response
}

/// A `text/plain` answer, as a proxy's error page.
fn text_reply(code: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("header"),
    );
    response
}

fn json_reply(code: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    with_type(code, go_json(body), "application/json")
}

fn with_type(code: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, content_type.parse().expect("header"));
    response
}

/// Go's `http.Error`: `text/plain; charset=utf-8`, `X-Content-Type-Options: nosniff`,
/// the text and a newline.
fn go_http_error(code: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = text_reply(code, format!("{text}\n"));
    response
        .headers_mut()
        .insert("x-content-type-options", "nosniff".parse().expect("header"));
    response
}

/// `engine/server/session.go` gqlError.WriteTo: a gqlgen `graphql.Response` with one
/// error, marshalled, written by `http.Error`.
fn gql_error(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    go_http_error(code, &gql_body(&[GoError::message(message)]))
}

/// A body gqlgen wrote without a content type: Go's `net/http` sniffs it as text.
fn go_sniffed(code: StatusCode, body: &str) -> Response<Full<Bytes>> {
    text_reply(code, body.to_owned())
}

/// What the double cannot answer (valid GraphQL no client of the harness sends).
fn double_limit(why: &str) -> Response<Full<Bytes>> {
    with_type(
        StatusCode::BAD_REQUEST,
        gql_body(&[GoError::message(&format!("engine double: {why}"))]),
        "application/json",
    )
}

/// gqlgen's answer type (`transport/headers.go` determineResponseContentType): JSON
/// unless the client asks for `application/graphql-response+json` (or only for types
/// gqlgen does not know), which also turns a 422 into a 400.
#[derive(Debug, Clone, Copy)]
enum ReplyType {
    Json,
    GraphqlResponse,
}

impl ReplyType {
    fn of(accept: Option<&str>) -> Self {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return ReplyType::Json;
        };
        for part in accept.split(',') {
            let media = part.split(';').next().unwrap_or("").trim();
            match media {
                "*/*" | "application/*" | "application/json" => return ReplyType::Json,
                "application/graphql-response+json" => return ReplyType::GraphqlResponse,
                _ => {}
            }
        }
        ReplyType::GraphqlResponse
    }

    fn content_type(self) -> &'static str {
        match self {
            ReplyType::Json => "application/json",
            ReplyType::GraphqlResponse => "application/graphql-response+json",
        }
    }

    fn reply(self, code: StatusCode, body: String) -> Response<Full<Bytes>> {
        with_type(code, body, self.content_type())
    }

    /// A refusal before execution: 422 (400 for graphql-response+json).
    fn refuse(self, errors: &[GoError]) -> Response<Full<Bytes>> {
        let code = match self {
            ReplyType::Json => StatusCode::UNPROCESSABLE_ENTITY,
            ReplyType::GraphqlResponse => StatusCode::BAD_REQUEST,
        };
        self.reply(code, gql_body(errors))
    }
}

/// A gqlparser error as Go marshals it: `message`, `path`, `locations`, `extensions`,
/// in that order, the empty ones left out.
#[derive(Debug, Clone)]
struct GoError {
    message: String,
    path: Option<Value>,
    at: Option<Position>,
    extensions: Option<Value>,
}

impl GoError {
    fn message(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            path: None,
            at: None,
            extensions: None,
        }
    }

    fn protocol(error: &GqlError, code: &str) -> Self {
        Self {
            message: error.message.clone(),
            path: None,
            at: error.at,
            extensions: Some(json!({ "code": code })),
        }
    }

    fn to_json(&self) -> String {
        let mut out = format!("{{\"message\":{}", go_json(&json!(self.message)));
        if let Some(path) = &self.path {
            out.push_str(&format!(",\"path\":{}", go_json(path)));
        }
        if let Some(at) = self.at {
            out.push_str(&format!(
                ",\"locations\":[{{\"line\":{},\"column\":{}}}]",
                at.line, at.column
            ));
        }
        if let Some(extensions) = &self.extensions {
            // Go marshals a map with its keys sorted, as serde_json's map is.
            out.push_str(&format!(",\"extensions\":{}", go_json(extensions)));
        }
        out.push('}');
        out
    }
}

/// gqlgen's `graphql.Response` with errors: `{"errors":[...],"data":null}`.
fn gql_body(errors: &[GoError]) -> String {
    let errors: Vec<String> = errors.iter().map(GoError::to_json).collect();
    format!("{{\"errors\":[{}],\"data\":null}}", errors.join(","))
}

/// JSON as Go's `encoding/json` writes it: HTML-safe (`<`, `>`, `&`, U+2028 and U+2029
/// escaped; they only occur inside strings).
fn go_json(value: &Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps the leaf in one object per field of the chain, keyed by alias or name.
fn nest(chain: &[Field], leaf: Value) -> Value {
    chain.iter().rev().fold(leaf, |inner, field| {
        let mut object = Map::new();
        object.insert(field.key().to_owned(), inner);
        Value::Object(object)
    })
}

// ---------------------------------------------------------------------------------------
// Evaluation: what the engine would answer.
// ---------------------------------------------------------------------------------------

/// What a field evaluates to.
#[derive(Debug, Clone)]
enum Object {
    Query,
    Container(Box<Container>),
    Host,
    Directory(PathBuf),
    Greeting(String),
    Greeter,
    Leaf(Value),
}

impl Object {
    /// The GraphQL type: the receiver type of the next field's span name.
    fn type_name(&self) -> &'static str {
        match self {
            Object::Query => "Query",
            Object::Container(_) => "Container",
            Object::Host => "Host",
            Object::Directory(_) => "Directory",
            Object::Greeting(_) => "Greeting",
            Object::Greeter => "Greeter",
            Object::Leaf(_) => "String",
        }
    }
}

/// One evaluated field, for its span (`core/telemetry.go` AroundFunc).
#[derive(Debug, Clone)]
struct FieldSpan {
    /// `<ReceiverType>.<field>`.
    name: String,
    /// `sha256:<hex>` of the call key: the chain up to this field, with its arguments.
    digest: String,
    /// The cache had the call (`dagger.io/cache.outcome` hit, else executed).
    hit: bool,
    /// A lazy result not evaluated yet (`dagger.io/dag.pending`).
    pending: bool,
    /// The field failed: the span's status is ERROR with this message.
    error: Option<String>,
    /// How long the field took (an exec it ran).
    took: Duration,
}

impl FieldSpan {
    /// The attributes `core/telemetry.go` sets: the digest; `dag.cached` only for a cache
    /// hit whose result is not a pending lazy one (recordStatus); `dag.pending` for a
    /// pending one (recordPending); the cache contract and outcome (recordCacheEvidence).
    fn attributes(&self) -> Vec<(String, AttrValue)> {
        let mut attributes = vec![(
            "dagger.io/dag.digest".to_owned(),
            AttrValue::Str(self.digest.clone()),
        )];
        if self.hit && !self.pending {
            attributes.push(("dagger.io/dag.cached".into(), AttrValue::Bool(true)));
        }
        if self.pending {
            attributes.push(("dagger.io/dag.pending".into(), AttrValue::Bool(true)));
        }
        attributes.push((
            "dagger.io/cache.contract".into(),
            AttrValue::Str("1".into()),
        ));
        let outcome = if self.hit { "hit" } else { "executed" };
        attributes.push((
            "dagger.io/cache.outcome".into(),
            AttrValue::Str(outcome.into()),
        ));
        attributes
    }
}

struct Evaluated {
    result: Result<Value, GoError>,
    spans: Vec<FieldSpan>,
}

/// The call key of `field` on `receiver` after the chain whose key is `previous`:
/// `sha256:<hex>` over the previous key, the receiver, the field and its arguments (the
/// defaults of the schema filled in, as dagql puts them into the call).
fn call_key(previous: &str, receiver: &str, field: &Field) -> String {
    let args = graphql::args_with_defaults(receiver, field);
    let material = format!(
        "{previous}\n{receiver}.{}{}",
        field.name,
        serde_json::to_string(&args).unwrap_or_default()
    );
    let hash = Sha256::digest(material.as_bytes());
    format!("sha256:{}", telemetry::hex(&hash))
}

fn evaluate(state: &State, chain: &[Field]) -> Evaluated {
    let mut cache = state.cache.lock().expect("cache lock");
    // gqlgen puts the path of the failing field on its error (response keys, root first).
    let path_to = |last: usize| -> Vec<&str> { chain[..=last].iter().map(|f| f.key()).collect() };
    let error = |message: String, last: usize| GoError {
        message,
        path: Some(json!(path_to(last))),
        at: None,
        extensions: None,
    };
    let mut spans = Vec::new();
    let mut key = String::new();
    let mut object = Object::Query;
    for (index, field) in chain.iter().enumerate() {
        let receiver = object.type_name();
        key = call_key(&key, receiver, field);
        let mut span = FieldSpan {
            name: format!("{receiver}.{}", field.name),
            digest: key.clone(),
            hit: cache.keys.contains(&key),
            pending: false,
            error: None,
            took: Duration::ZERO,
        };
        let stepped = step(state, &mut cache, object, field, &key, &mut span.took);
        let failure = match stepped {
            Ok((next, pending)) => {
                span.pending = pending;
                cache.keys.insert(key.clone());
                spans.push(span);
                object = next;
                continue;
            }
            Err(failure) => failure,
        };
        // A failed call is not cached.
        let reply = match failure {
            Failure::Message(message) => error(message, index),
            Failure::Exec(exec) => exec_error(
                &exec,
                &path_to(index),
                state.raw_exec_errors.load(Ordering::SeqCst),
            ),
        };
        span.error = Some(reply.message.clone());
        spans.push(span);
        return Evaluated {
            result: Err(reply),
            spans,
        };
    }
    let result = match object {
        Object::Leaf(value) => Ok(value),
        other => Err(error(
            format!(
                "field `{}` of type `{}` must have a selection of subfields",
                chain.last().map_or("", |f| f.name.as_str()),
                other.type_name()
            ),
            chain.len().saturating_sub(1),
        )),
    };
    Evaluated { result, spans }
}

enum Failure {
    Message(String),
    Exec(Exec),
}

/// Evaluates `field` on `object`: the next object, and whether it is a pending lazy
/// result. `took` grows by the time execs take.
fn step(
    state: &State,
    cache: &mut Cache,
    object: Object,
    field: &Field,
    key: &str,
    took: &mut Duration,
) -> Result<(Object, bool), Failure> {
    let missing =
        |arg: &str| Failure::Message(format!("argument `{arg}` of `{}` is required", field.name));
    let name = field.name.as_str();
    let leaf = |value: Value| Ok((Object::Leaf(value), false));
    let next = match object {
        Object::Query => match name {
            "container" => Object::Container(Box::default()),
            "host" => Object::Host,
            "version" => Object::Leaf(json!("v0.0.0-engine-double")),
            "hello" => {
                let who = field.str_arg("name").unwrap_or("world");
                Object::Leaf(json!(format!("hello, {who}")))
            }
            "greeting" => Object::Greeting(
                field
                    .str_arg("name")
                    .ok_or_else(|| missing("name"))?
                    .to_owned(),
            ),
            "greeter" => Object::Greeter,
            _ => return Err(no_field(name, "Query")),
        },
        Object::Host => match name {
            "directory" => {
                let path = field.str_arg("path").ok_or_else(|| missing("path"))?;
                Object::Directory(PathBuf::from(path))
            }
            _ => return Err(no_field(name, "Host")),
        },
        Object::Directory(path) => match name {
            "id" => {
                if !path.is_dir() {
                    return Err(Failure::Message(format!(
                        "lstat {}: no such file or directory",
                        path.display()
                    )));
                }
                // The same folder has the same ID (the engine's IDs follow content).
                let mut dirs = state.dirs.lock().expect("dirs lock");
                let index = match dirs.iter().position(|d| *d == path) {
                    Some(index) => index,
                    None => {
                        dirs.push(path);
                        dirs.len() - 1
                    }
                };
                Object::Leaf(json!(format!("Directory:{index}")))
            }
            _ => return Err(no_field(name, "Directory")),
        },
        Object::Greeting(who) => match name {
            "message" => Object::Leaf(json!(format!("hello, {who}"))),
            "length" => Object::Leaf(json!(who.chars().count())),
            "json" => Object::Leaf(json!(json!({ "name": who }).to_string())),
            _ => return Err(no_field(name, "Greeting")),
        },
        Object::Greeter => {
            let who = field.str_arg("name").ok_or_else(|| missing("name"))?;
            match name {
                "greet" => {
                    let punctuation = field.str_arg("punctuation").unwrap_or("!");
                    Object::Leaf(json!(format!("Hello, {who}{punctuation}")))
                }
                "shout" => Object::Leaf(json!(format!("Hello, {who}!").to_uppercase())),
                _ => return Err(no_field(name, "Greeter")),
            }
        }
        Object::Container(mut c) => {
            match name {
                "from" => {
                    let address = field.str_arg("address").ok_or_else(|| missing("address"))?;
                    if let Some(message) = unknown_image(address) {
                        return Err(Failure::Message(message));
                    }
                    c.image = Some(address.to_owned());
                }
                "withEnvVariable" => {
                    let var = field.str_arg("name").ok_or_else(|| missing("name"))?;
                    let value = field.str_arg("value").ok_or_else(|| missing("value"))?;
                    c.env.push((var.to_owned(), value.to_owned()));
                }
                "withWorkdir" => {
                    c.workdir = Some(
                        field
                            .str_arg("path")
                            .ok_or_else(|| missing("path"))?
                            .to_owned(),
                    );
                }
                "withMountedDirectory" => {
                    let at = field.str_arg("path").ok_or_else(|| missing("path"))?;
                    let id = field.str_arg("source").ok_or_else(|| missing("source"))?;
                    let host = id
                        .strip_prefix("Directory:")
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| state.dirs.lock().expect("dirs lock").get(n).cloned())
                        .ok_or_else(|| Failure::Message(format!("invalid ID `{id}`")))?;
                    c.mounts.push((at.trim_end_matches('/').to_owned(), host));
                }
                "withExec" => {
                    let argv = field.strings_arg("args").ok_or_else(|| missing("args"))?;
                    if c.image.is_none() {
                        return Err(Failure::Message(
                            "no command can run in a container without an image: call `from` first"
                                .into(),
                        ));
                    }
                    // Lazy (core/telemetry.go recordPending, dagql/cache.go
                    // HasPendingLazyEvaluation): nothing runs here; the result is pending
                    // until an exec under this key has run.
                    let context = Box::new(Container {
                        execs: Vec::new(),
                        ..(*c).clone()
                    });
                    c.execs.push(PendingExec {
                        digest: key.to_owned(),
                        argv,
                        expect_any: field.str_arg("expect") == Some("ANY"),
                        context,
                    });
                    let pending = !cache.execs.contains_key(key);
                    return Ok((Object::Container(c), pending));
                }
                "stdout" | "stderr" | "exitCode" => {
                    let last = force(cache, &c, took)?;
                    return leaf(match name {
                        "stdout" => json!(last.stdout),
                        "stderr" => json!(last.stderr),
                        _ => json!(last.code),
                    });
                }
                "sync" => {
                    force(cache, &c, took)?;
                    return leaf(json!("Container:double"));
                }
                "id" => return leaf(json!("Container:double")),
                _ => return Err(no_field(name, "Container")),
            }
            Object::Container(c)
        }
        Object::Leaf(_) => {
            return Err(Failure::Message(format!(
                "field `{name}` cannot be selected on a scalar"
            )));
        }
    };
    Ok((next, false))
}

/// Runs the container's execs that have not run yet (a cached one is reused at once);
/// the last exec's result. A failing exec is not cached: it runs again next time.
fn force(cache: &mut Cache, c: &Container, took: &mut Duration) -> Result<Exec, Failure> {
    let mut last = None;
    for pending in &c.execs {
        if let Some(done) = cache.execs.get(&pending.digest) {
            last = Some(done.clone());
            continue;
        }
        let (exec, slept) = exec::run(&pending.context, pending.argv.clone());
        *took += slept;
        if exec.code != 0 && !pending.expect_any {
            return Err(Failure::Exec(exec));
        }
        cache.execs.insert(pending.digest.clone(), exec.clone());
        last = Some(exec);
    }
    last.ok_or_else(|| Failure::Message("no command has been set".into()))
}

fn no_field(name: &str, on: &str) -> Failure {
    Failure::Message(format!("Cannot query field \"{name}\" on type \"{on}\"."))
}

/// The engine's error for an exec that exited with a code nobody accepted; its output
/// as `core/exec_error.go` carries it (the last 100 KiB, trimmed: see
/// [`exec_error_output`]) unless `raw`.
fn exec_error(exec: &Exec, path: &[&str], raw: bool) -> GoError {
    let output = |text: &str| {
        if raw {
            text.to_owned()
        } else {
            exec_error_output(text)
        }
    };
    GoError {
        message: format!(
            "process \"{}\" did not complete successfully: exit code: {}",
            exec.argv.join(" "),
            exec.code
        ),
        path: Some(json!(path)),
        at: None,
        extensions: Some(json!({
            "_type": "EXEC_ERROR",
            "cmd": exec.argv,
            "exitCode": exec.code,
            "stdout": output(&exec.stdout),
            "stderr": output(&exec.stderr),
        })),
    }
}

/// The image reference as the engine resolves it: docker's ParseNormalizedNamed and
/// TagNameOnly (`alpine` is `docker.io/library/alpine:latest`).
pub fn normalized_image(address: &str) -> String {
    let (name, digest) = match address.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (address, None),
    };
    let (name, tag) = match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => (&name[..colon], Some(&name[colon + 1..])),
        _ => (name, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), rest.to_owned())
        }
        Some(_) => ("docker.io".to_owned(), name.to_owned()),
        None => ("docker.io".to_owned(), format!("library/{name}")),
    };
    match (tag, digest) {
        (_, Some(digest)) => format!("{domain}/{path}@{digest}"),
        (Some(tag), None) => format!("{domain}/{path}:{tag}"),
        (None, None) => format!("{domain}/{path}:latest"),
    }
}

/// The double's unknown images: a repository whose last part starts with `nosuch`, or an
/// address containing `does-not-exist`. The error is the engine's
/// (`core/schema/container.go` from: `failed to resolve image %q (platform: %q): %w`)
/// around containerd's resolver error: Docker Hub answers an unknown repository with an
/// authorization failure, other registries with not found.
fn unknown_image(address: &str) -> Option<String> {
    let reference = normalized_image(address);
    let repository = address
        .split('@')
        .next()
        .unwrap_or(address)
        .rsplit('/')
        .next()
        .unwrap_or("");
    if !(repository.starts_with("nosuch") || address.contains("does-not-exist")) {
        return None;
    }
    let cause = if reference.starts_with("docker.io/") {
        "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed".to_owned()
    } else {
        format!("{reference}: not found")
    };
    Some(format!(
        "failed to resolve image \"{reference}\" (platform: \"{PLATFORM}\"): {cause}"
    ))
}
