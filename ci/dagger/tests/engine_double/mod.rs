//! A contract double of the Dagger engine's session endpoint.
//!
//! It speaks the wire protocol the SDK uses (DESIGN.md §11): `POST /query` on
//! 127.0.0.1, `Authorization: Basic base64(token + ":")`, a JSON body
//! `{"query": ..., "variables": null}`, and a reply `{"data": ...}` or
//! `{"data": null, "errors": [...]}` (exec failures with `extensions._type =
//! "EXEC_ERROR"`). It parses each query into its chain of fields, records it, and
//! answers the leaf as the engine would: IDs for directories, cache volumes and synced
//! containers, the gate's exit code, its output, and the exported path. A [`Fault`]
//! makes it misbehave on one leaf.

#![allow(dead_code)] // each test binary uses a different part of the double

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The ID the double gives the uploaded source directory.
pub const SOURCE_ID: &str = "Directory:source";
/// The ID the double gives the synced gate container.
pub const CONTAINER_ID: &str = "Container:gate";
/// What the gate "printed" on stdout.
pub const GATE_STDOUT: &str = "phase 2: verdict from the contract double\n";
/// What the gate "printed" on stderr.
pub const GATE_STDERR: &str = "gate: a line on stderr\n";

/// The ID of a cache volume: its key is kept visible so tests can follow it.
pub fn cache_id(key: &str) -> String {
    format!("CacheVolume:{key}")
}

/// How the double misbehaves, on the first query whose leaf field is named.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Drop the connection without an answer.
    CloseOn(&'static str),
    /// Answer `{"data": null}`, which the SDK cannot unpack.
    NullDataOn(&'static str),
    /// Fail the `sync` of the pipeline as an exec error of the build step.
    BuildFails { exit_code: i32, stderr: String },
    /// The engine is shutting down: 503, `engine is shutting down`
    /// (`engine/server/session.go` serveHTTPToClient, errServerShuttingDown).
    ShuttingDownOn(&'static str),
    /// The session is closing: 503, `session is closing` (errSessionClosing).
    SessionClosingOn(&'static str),
    /// The session's modules failed to load: 500, `loading modules: <message>`.
    ModulesFailedOn(&'static str, String),
    /// gqlgen refuses the query before running it (a field or argument the schema does
    /// not have): 422, one error with `GRAPHQL_VALIDATION_FAILED` and this message.
    InvalidOn(&'static str, String),
}

/// What the double answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The exit code the gate "returned".
    pub gate_exit: i64,
    /// An optional fault.
    pub fault: Option<Fault>,
}

impl Behaviour {
    /// A well-behaved engine whose gate returns `gate_exit`.
    pub fn gate_exits(gate_exit: i64) -> Self {
        Self {
            gate_exit,
            fault: None,
        }
    }

    /// The same, with a fault.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }
}

/// One step of a query's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sel {
    /// `name(arg:value, ...)`, values kept as GraphQL literals.
    Field {
        name: String,
        args: BTreeMap<String, String>,
    },
    /// `... on Type`.
    Fragment(String),
}

impl Sel {
    /// The field name, or `... on Type`.
    pub fn name(&self) -> String {
        match self {
            Sel::Field { name, .. } => name.clone(),
            Sel::Fragment(ty) => format!("... on {ty}"),
        }
    }

    /// A string argument, decoded.
    pub fn str_arg(&self, arg: &str) -> Option<String> {
        self.raw_arg(arg)
            .and_then(|raw| serde_json::from_str::<String>(&raw).ok())
    }

    /// A list-of-strings argument, decoded.
    pub fn list_arg(&self, arg: &str) -> Option<Vec<String>> {
        self.raw_arg(arg)
            .and_then(|raw| serde_json::from_str::<Vec<String>>(&raw).ok())
    }

    /// An argument as sent (enums such as `ANY` are bare words).
    pub fn raw_arg(&self, arg: &str) -> Option<String> {
        match self {
            Sel::Field { args, .. } => args.get(arg).cloned(),
            Sel::Fragment(_) => None,
        }
    }

    /// The argument names.
    pub fn arg_names(&self) -> Vec<String> {
        match self {
            Sel::Field { args, .. } => args.keys().cloned().collect(),
            Sel::Fragment(_) => Vec::new(),
        }
    }
}

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Whether it carried the right `Authorization`.
    pub authorized: bool,
    /// The GraphQL query text (empty when the request was refused before parsing).
    pub query: String,
    /// The `variables` member of the body.
    pub variables: Value,
    /// The parsed chain.
    pub chain: Vec<Sel>,
}

impl Call {
    /// The field names of the chain, fragments included.
    pub fn names(&self) -> Vec<String> {
        self.chain.iter().map(Sel::name).collect()
    }

    /// The last field of the chain.
    pub fn leaf(&self) -> Option<&Sel> {
        self.chain.last()
    }
}

#[derive(Debug)]
struct State {
    token: String,
    behaviour: Behaviour,
    calls: Mutex<Vec<Call>>,
    faulted: Mutex<bool>,
}

/// A running double on 127.0.0.1:PORT.
#[derive(Debug)]
pub struct EngineDouble {
    /// The port to put in `DAGGER_SESSION_PORT`.
    pub port: u16,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl EngineDouble {
    /// Starts a double that accepts `token` and behaves as told.
    pub async fn start(token: &str, behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(State {
            token: token.into(),
            behaviour,
            calls: Mutex::new(Vec::new()),
            faulted: Mutex::new(false),
        });
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = server_state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { handle(&state, request).await }
                    });
                    // A fault ends a connection with an error: that is the point.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            port,
            state,
            server,
        }
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls lock").clone()
    }

    /// The first call whose leaf field is `leaf`.
    pub fn call_with_leaf(&self, leaf: &str) -> Call {
        self.calls()
            .into_iter()
            .find(|c| c.leaf().is_some_and(|l| l.name() == leaf))
            .unwrap_or_else(|| panic!("no `{leaf}` query among {:#?}", self.queries()))
    }

    /// The query texts, for failure messages and while developing.
    pub fn queries(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.query).collect()
    }
}

impl Drop for EngineDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The error that makes hyper drop the connection without a response.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("contract double: closing the connection")
    }
}

impl std::error::Error for CloseConnection {}

type Reply = Result<Response<Full<Bytes>>, CloseConnection>;

async fn handle(state: &State, request: Request<Incoming>) -> Reply {
    if request.method() != Method::POST || request.uri().path() != "/query" {
        return Ok(status(StatusCode::NOT_FOUND, ""));
    }
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| basic_auth_matches(v, &state.token));
    let json_body = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Err(CloseConnection),
    };
    let mut call = Call {
        authorized,
        query: String::new(),
        variables: Value::Null,
        chain: Vec::new(),
    };
    if !authorized {
        // The engine refuses a wrong session token with a bare 401.
        record(state, call);
        return Ok(status(StatusCode::UNAUTHORIZED, ""));
    }
    if !json_body {
        record(state, call);
        return Ok(status(StatusCode::UNSUPPORTED_MEDIA_TYPE, ""));
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(parsed) => parsed,
        Err(e) => {
            record(state, call);
            return Ok(errors(
                StatusCode::BAD_REQUEST,
                &format!("body is not JSON: {e}"),
            ));
        }
    };
    call.query = parsed["query"].as_str().unwrap_or_default().to_owned();
    call.variables = parsed
        .get("variables")
        .cloned()
        .unwrap_or(Value::Bool(false));
    let chain = match parse_chain(&call.query) {
        Ok(chain) => chain,
        Err(e) => {
            record(state, call);
            return Ok(errors(
                StatusCode::BAD_REQUEST,
                &format!("cannot parse query: {e}"),
            ));
        }
    };
    call.chain = chain.clone();
    record(state, call);
    answer(state, &chain)
}

fn record(state: &State, call: Call) {
    state.calls.lock().expect("calls lock").push(call);
}

/// `Basic base64(token + ":")`, decoded the way the engine's Go `BasicAuth` does.
fn basic_auth_matches(header: &str, token: &str) -> bool {
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return false;
    };
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .is_ok_and(|decoded| decoded == format!("{token}:").as_bytes())
}

fn answer(state: &State, chain: &[Sel]) -> Reply {
    let leaf = chain.last().map(Sel::name).unwrap_or_default();
    if let Some(fault) = &state.behaviour.fault {
        let mut faulted = state.faulted.lock().expect("fault lock");
        let hits = match fault {
            Fault::CloseOn(name)
            | Fault::NullDataOn(name)
            | Fault::ShuttingDownOn(name)
            | Fault::SessionClosingOn(name)
            | Fault::ModulesFailedOn(name, _)
            | Fault::InvalidOn(name, _) => leaf == *name,
            Fault::BuildFails { .. } => leaf == "sync",
        };
        if hits && !*faulted {
            *faulted = true;
            return match fault {
                Fault::CloseOn(_) => Err(CloseConnection),
                Fault::NullDataOn(_) => Ok(ok(json!({ "data": null }))),
                Fault::BuildFails { exit_code, stderr } => Ok(ok(json!({
                    "data": null,
                    "errors": [{
                        "message": format!(
                            "process \"cargo build --release -p harness\" did not complete successfully: exit code: {exit_code}"
                        ),
                        "path": ["container", "from", "sync"],
                        "extensions": {
                            "_type": "EXEC_ERROR",
                            "cmd": ["cargo", "build", "--release", "-p", "harness"],
                            "exitCode": exit_code,
                            "stdout": "",
                            "stderr": stderr,
                        }
                    }]
                }))),
                Fault::ShuttingDownOn(_) => Ok(go_http_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "engine is shutting down",
                )),
                Fault::SessionClosingOn(_) => Ok(go_http_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "session is closing",
                )),
                Fault::ModulesFailedOn(_, message) => Ok(go_http_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("loading modules: {message}"),
                )),
                Fault::InvalidOn(_, message) => {
                    // gqlgen's POST transport (graphql/handler/transport/http_post.go):
                    // errors first, `data` null; the double leaves out the `locations`
                    // gqlparser would add (it does not track positions).
                    let mut response = ok_text(format!(
                        "{{\"errors\":[{{\"message\":{},\"extensions\":{{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}}}],\"data\":null}}",
                        go_json_string(message)
                    ));
                    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                    Ok(response)
                }
            };
        }
    }
    let Some(value) = leaf_value(&state.behaviour, chain) else {
        return Ok(errors(
            StatusCode::OK,
            &format!("contract double: no answer for leaf `{leaf}`"),
        ));
    };
    Ok(ok(json!({ "data": nest(chain, value) })))
}

/// The leaf's value, as the engine computes it.
fn leaf_value(behaviour: &Behaviour, chain: &[Sel]) -> Option<Value> {
    let fields: Vec<&Sel> = chain
        .iter()
        .filter(|s| matches!(s, Sel::Field { .. }))
        .collect();
    let (leaf, parents) = fields.split_last()?;
    let parent = parents.last();
    match leaf.name().as_str() {
        "version" => Some(json!("v0.0.0-contract-double")),
        "id" => match parent.map(|p| p.name()).as_deref() {
            Some("directory") => Some(json!(SOURCE_ID)),
            Some("cacheVolume") => {
                let key = parent.and_then(|p| p.str_arg("key"))?;
                Some(json!(cache_id(&key)))
            }
            _ => None,
        },
        "sync" => Some(json!(CONTAINER_ID)),
        "exitCode" => Some(json!(behaviour.gate_exit)),
        "stdout" => Some(json!(GATE_STDOUT)),
        "stderr" => Some(json!(GATE_STDERR)),
        "export" => leaf.str_arg("path").map(Value::String),
        _ => None,
    }
}

/// Wraps `value` in one object per field of the chain; fragments add no level.
fn nest(chain: &[Sel], value: Value) -> Value {
    chain.iter().rev().fold(value, |inner, sel| match sel {
        Sel::Field { name, .. } => json!({ name.clone(): inner }),
        Sel::Fragment(_) => inner,
    })
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
}

/// A JSON body given as text (to keep gqlgen's member order).
fn ok_text(body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
}

/// `engine/server/session.go` gqlError.WriteTo: gqlgen's `{"errors":[{"message":...}],
/// "data":null}` written by Go's `http.Error` (`text/plain; charset=utf-8`,
/// `X-Content-Type-Options: nosniff`, a final newline).
fn go_http_error(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "{{\"errors\":[{{\"message\":{}}}],\"data\":null}}\n",
        go_json_string(message)
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("static header"),
    );
    headers.insert(
        "x-content-type-options",
        "nosniff".parse().expect("static header"),
    );
    response
}

/// A JSON string as Go's `encoding/json` writes it (`<`, `>`, `&` escaped).
fn go_json_string(text: &str) -> String {
    json!(text)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn errors(code: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = ok(json!({ "data": null, "errors": [{ "message": message }] }));
    *response.status_mut() = code;
    response
}

fn status(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = code;
    response
}

/// Parses the SDK's query shape: `query{a(x:1){... on T{b{c}}}}`, one field per level.
pub fn parse_chain(query: &str) -> Result<Vec<Sel>, String> {
    let body = query
        .strip_prefix("query{")
        .ok_or_else(|| format!("does not start with `query{{`: {query}"))?;
    let text: Vec<char> = body.chars().collect();
    let mut at = 0;
    let mut chain = Vec::new();
    let mut depth = 1;
    loop {
        skip_spaces(&text, &mut at);
        if starts_with(&text, at, "... on ") {
            at += "... on ".len();
            let ty = ident(&text, &mut at)?;
            chain.push(Sel::Fragment(ty));
        } else {
            let name = ident(&text, &mut at)?;
            let mut args = BTreeMap::new();
            if text.get(at) == Some(&'(') {
                at += 1;
                parse_args(&text, &mut at, &mut args)?;
            }
            chain.push(Sel::Field { name, args });
        }
        skip_spaces(&text, &mut at);
        match text.get(at) {
            Some('{') => {
                at += 1;
                depth += 1;
            }
            Some('}') => break,
            other => return Err(format!("expected `{{` or `}}` at {at}, found {other:?}")),
        }
    }
    let closing: String = text[at..].iter().collect();
    if closing != "}".repeat(depth) {
        return Err(format!("unbalanced tail `{closing}`"));
    }
    Ok(chain)
}

fn parse_args(
    text: &[char],
    at: &mut usize,
    args: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    loop {
        skip_spaces(text, at);
        match text.get(*at) {
            Some(')') => {
                *at += 1;
                return Ok(());
            }
            Some(',') => {
                *at += 1;
                continue;
            }
            None => return Err("unterminated arguments".into()),
            _ => {}
        }
        let name = ident(text, at)?;
        skip_spaces(text, at);
        if text.get(*at) != Some(&':') {
            return Err(format!("argument `{name}` without `:`"));
        }
        *at += 1;
        skip_spaces(text, at);
        let start = *at;
        let mut brackets = 0usize;
        let mut in_string = false;
        while let Some(&c) = text.get(*at) {
            if in_string {
                match c {
                    '\\' => *at += 1,
                    '"' => in_string = false,
                    _ => {}
                }
            } else {
                match c {
                    '"' => in_string = true,
                    '[' | '{' => brackets += 1,
                    ']' | '}' => brackets = brackets.saturating_sub(1),
                    ',' | ')' if brackets == 0 => break,
                    _ => {}
                }
            }
            *at += 1;
        }
        let value: String = text[start..*at].iter().collect();
        args.insert(name, value.trim().to_owned());
    }
}

fn ident(text: &[char], at: &mut usize) -> Result<String, String> {
    let start = *at;
    while text
        .get(*at)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
    {
        *at += 1;
    }
    if start == *at {
        return Err(format!("expected a name at {start}"));
    }
    Ok(text[start..*at].iter().collect())
}

fn skip_spaces(text: &[char], at: &mut usize) {
    while text.get(*at).is_some_and(|c| c.is_whitespace()) {
        *at += 1;
    }
}

fn starts_with(text: &[char], at: usize, prefix: &str) -> bool {
    prefix
        .chars()
        .enumerate()
        .all(|(i, c)| text.get(at + i) == Some(&c))
}
