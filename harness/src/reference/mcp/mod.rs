//! The reference platform's MCP server at `/mcp`: the streamable HTTP transport of the
//! MCP specification (revision 2025-06-18), served by the platform's own HTTP server.
//!
//! `POST /mcp` takes one JSON-RPC message. `initialize` opens a session and answers with
//! its id in `Mcp-Session-Id`; every later message must carry it (400 without, 404 for an
//! ended or unknown one), and `DELETE /mcp` with it ends the session. Notifications and
//! a client's responses get 202. Requests are `ping`, `tools/list` and `tools/call`
//! ([`tools`]), and the runs those started as resources with a `summarise` prompt
//! ([`resources`]); a tool runs workflows through the same code as
//! `POST /api/workflows/execute`, on the path the `X-Feature-USE_DAGGER_MCP_SERVER`
//! header (any `X-Feature-USE_DAGGER_*` header, as elsewhere) or the tool's name chooses.
//! `GET /mcp` (a server-initiated stream) is not offered: 405.
//!
//! An answer is one JSON object unless `[reference] mcp_sse = true` and the client's
//! `Accept` lists `text/event-stream` (or the client accepts nothing else): then it is an
//! SSE stream, ended after the response event. A `tools/call` streams as it runs: when
//! it carries `_meta.progressToken`, a `notifications/progress` event (0 of 1) goes out at
//! once and another (1 of 1) when the workflow is done, just before the response; other
//! requests' streams hold the response alone. A config switch, rather than "SSE whenever
//! accepted", keeps both forms testable with spec-compliant clients, which always accept
//! both.
//!
//! A foreign `Origin` gets 403 ([`origin`]). Every request is counted by method, path and
//! outcome in `harness_reference_mcp_requests_total` (a refusal before the body is read
//! as method `other`); a `DELETE` carries no method and is counted only when its `Origin`
//! is refused.

mod origin;
mod resources;
mod rpc;
mod sessions;
mod tools;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use self::resources::{RUNS_CAPACITY, Runs};
use self::rpc::{METHOD_NOT_FOUND, Message, RpcError};
use self::sessions::{DEFAULT_CAPACITY, Sessions};
use super::http::{self, Chunks, DrainError, MAX_BODY, REQUEST_ID, Reply};
use super::metrics::{McpMethod, McpOutcome, ServicePath};
use super::service::{Service, select_path};

/// The endpoint's path.
pub(crate) const ENDPOINT: &str = "/mcp";
/// The session header, set on the `initialize` answer and required afterwards.
const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
/// The protocol version a client names on every request after `initialize`.
const VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The revision this server implements, answered when a client asks for another one.
const PROTOCOL_VERSION: &str = "2025-06-18";
/// Revisions whose messages this server's subset reads alike.
const SUPPORTED_VERSIONS: [&str; 2] = [PROTOCOL_VERSION, "2025-03-26"];
/// JSON-RPC's "server error" code, for refusals of the transport (no or unknown session).
const TRANSPORT_ERROR: i64 = -32000;

/// The endpoint's state: its sessions and answer form.
#[derive(Debug)]
pub(crate) struct McpState {
    sessions: Sessions,
    /// Runs the tools started, for `resources/read` and `prompts/get`.
    runs: Runs,
    sse: bool,
}

impl McpState {
    /// State answering with SSE streams when `sse` and the client accepts them.
    pub(crate) fn new(sse: bool) -> Self {
        Self {
            sessions: Sessions::new(DEFAULT_CAPACITY),
            runs: Runs::new(RUNS_CAPACITY),
            sse,
        }
    }
}

/// How an answer to a request is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Sse,
}

/// What a request came to, for the answer and the metrics.
struct Handled {
    /// The JSON-RPC response.
    message: Value,
    /// Notifications sent before it on an SSE stream.
    before: Vec<Value>,
    method: McpMethod,
    path: ServicePath,
    outcome: McpOutcome,
    /// A session this request opened.
    session: Option<String>,
}

/// Answers one request to [`ENDPOINT`].
pub(crate) async fn serve(service: Arc<Service>, req: Request<Incoming>) -> Response<Reply> {
    if req.method() == Method::POST {
        return post(service, req).await;
    }
    answer_other(&service, &req).map(Reply::Left)
}

/// Answers a `DELETE` or any other method but `POST`.
fn answer_other(service: &Service, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let flagged = select_path(req.headers());
    if !origin::allowed(req.headers()) {
        service
            .metrics()
            .mcp_request(McpMethod::Other, flagged, McpOutcome::Refused);
        return plain_error(StatusCode::FORBIDDEN, "Forbidden: foreign Origin");
    }
    match *req.method() {
        Method::DELETE => delete(service, req.headers()),
        _ => {
            let mut response = plain_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed: POST a JSON-RPC message, or DELETE a session",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
            response
        }
    }
}

async fn post(service: Arc<Service>, req: Request<Incoming>) -> Response<Reply> {
    let flagged = select_path(req.headers());
    let refuse = |status: StatusCode, why: &str| {
        service
            .metrics()
            .mcp_request(McpMethod::Other, flagged, McpOutcome::Refused);
        plain_error(status, why).map(Reply::Left)
    };
    if !origin::allowed(req.headers()) {
        return refuse(StatusCode::FORBIDDEN, "Forbidden: foreign Origin");
    }
    let Some(form) = answer_form(req.headers(), service.mcp().sse) else {
        return refuse(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: accept application/json and text/event-stream",
        );
    };
    if let Some(kind) = req.headers().get(CONTENT_TYPE)
        && !kind
            .as_bytes()
            .to_ascii_lowercase()
            .starts_with(b"application/json")
    {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type: send application/json",
        );
    }
    let headers = req.headers().clone();
    let body = match http::read(req.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(DrainError::TooLarge) => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(DrainError::Broken) => {
            return refuse(StatusCode::BAD_REQUEST, "unreadable request body");
        }
    };
    let message = match rpc::parse(&body) {
        Ok(message) => message,
        Err(e) => {
            service
                .metrics()
                .mcp_request(McpMethod::Other, flagged, McpOutcome::RpcError);
            return http::json(
                StatusCode::BAD_REQUEST,
                rpc::error(&Value::Null, &e).to_string(),
            )
            .map(Reply::Left);
        }
    };
    let (kind, id) = match &message {
        Message::Request { method, id, .. } => (McpMethod::of(method), id.clone()),
        Message::Notification { method } => (McpMethod::of(method), Value::Null),
        Message::Response => (McpMethod::Other, Value::Null),
    };
    let opens_session = kind == McpMethod::Initialize && matches!(message, Message::Request { .. });
    if !opens_session && let Err((status, why)) = admit(&service, &headers) {
        service
            .metrics()
            .mcp_request(kind, flagged, McpOutcome::Refused);
        let error = RpcError::new(TRANSPORT_ERROR, why);
        return http::json(status, rpc::error(&id, &error).to_string()).map(Reply::Left);
    }
    let Message::Request { id, method, params } = message else {
        // Notifications (`notifications/initialized` among them) and responses.
        service.metrics().mcp_request(kind, flagged, McpOutcome::Ok);
        return empty(StatusCode::ACCEPTED).map(Reply::Left);
    };
    if form == Form::Sse && kind == McpMethod::ToolsCall {
        return stream(service, headers, flagged, id, method, params);
    }
    let reply = request(&service, &headers, flagged, form, id, &method, params).await;
    service
        .metrics()
        .mcp_request(reply.method, reply.path, reply.outcome);
    answer(form, reply).map(Reply::Left)
}

/// Answers a `tools/call` as an SSE stream written as the call goes: a first progress
/// event at once (when the call carries a progress token), the last one and the response
/// when the workflow is done, then the end of the stream. The call runs to its end even
/// if the client goes away: a disconnection is no cancellation.
fn stream(
    service: Arc<Service>,
    headers: HeaderMap,
    flagged: ServicePath,
    id: Value,
    method: String,
    params: Value,
) -> Response<Reply> {
    let (events, chunks) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        if let Some(token) = params.pointer("/_meta/progressToken") {
            let started = progress(token, 0, "workflow started");
            // A send fails only when the client went away; the call still runs.
            let _ = events.send(sse_event(&started)).await;
        }
        let reply = request(&service, &headers, flagged, Form::Sse, id, &method, params).await;
        service
            .metrics()
            .mcp_request(reply.method, reply.path, reply.outcome);
        for event in reply.before.iter().chain([&reply.message]) {
            let _ = events.send(sse_event(event)).await;
        }
    });
    let mut response = Response::new(Reply::Right(Chunks(chunks)));
    sse_headers(&mut response);
    response
}

/// One SSE event carrying a JSON-RPC message.
fn sse_event(message: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {message}\n\n"))
}

/// The headers of an SSE answer.
fn sse_headers<B>(response: &mut Response<B>) {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// Whether a message after `initialize` may go on: its session is live and its protocol
/// version (when named) is one this server speaks; else the status and why.
fn admit(service: &Service, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let Some(id) = headers.get(SESSION) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "Bad Request: no Mcp-Session-Id header; send initialize first",
        ));
    };
    let known = id
        .to_str()
        .is_ok_and(|id| service.mcp().sessions.contains(id));
    if !known {
        return Err((
            StatusCode::NOT_FOUND,
            "Not Found: unknown or ended session; send initialize again",
        ));
    }
    if let Some(version) = headers.get(VERSION_HEADER)
        && !SUPPORTED_VERSIONS
            .iter()
            .any(|v| v.as_bytes() == version.as_bytes())
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "Bad Request: unsupported MCP-Protocol-Version",
        ));
    }
    Ok(())
}

/// Runs request `method` and builds its reply.
async fn request(
    service: &Service,
    headers: &HeaderMap,
    flagged: ServicePath,
    form: Form,
    id: Value,
    method: &str,
    params: Value,
) -> Handled {
    let mut reply = Handled {
        message: Value::Null,
        before: Vec::new(),
        method: McpMethod::of(method),
        path: flagged,
        outcome: McpOutcome::Ok,
        session: None,
    };
    let result = match reply.method {
        McpMethod::Initialize => {
            let session = service.mcp().sessions.open();
            service.metrics().mcp_sessions(service.mcp().sessions.len());
            reply.session = Some(session);
            Ok(initialize_result(&params))
        }
        McpMethod::Ping => Ok(json!({})),
        McpMethod::ToolsList => Ok(tools::list()),
        McpMethod::ToolsCall => match tools::parse_call(&params) {
            Ok(call) => {
                reply.path = call.path(flagged);
                let request_id = headers.get(REQUEST_ID);
                let result = tools::call(service, call, reply.path, request_id).await;
                if result.is_error {
                    reply.outcome = McpOutcome::ToolError;
                }
                if form == Form::Sse
                    && let Some(token) = params.pointer("/_meta/progressToken")
                {
                    let message = format!(
                        "workflow {} on the {} path",
                        if result.is_error {
                            "failed"
                        } else {
                            "finished"
                        },
                        reply.path.label()
                    );
                    reply.before.push(progress(token, 1, &message));
                }
                Ok(result.value)
            }
            Err(e) => Err(e),
        },
        McpMethod::ResourcesList => Ok(resources::list()),
        McpMethod::ResourceTemplatesList => Ok(resources::templates()),
        McpMethod::ResourcesRead => resources::read(&service.mcp().runs, &params),
        McpMethod::PromptsList => Ok(resources::prompts()),
        McpMethod::PromptsGet => resources::prompt(&service.mcp().runs, &params),
        McpMethod::Initialized | McpMethod::Other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("Method not found: {method}"),
        )),
    };
    reply.message = match result {
        Ok(result) => rpc::result(&id, result),
        Err(e) => {
            reply.outcome = McpOutcome::RpcError;
            rpc::error(&id, &e)
        }
    };
    reply
}

/// The `initialize` result: the client's protocol version when this server speaks it,
/// else this server's own (the client then decides whether to go on).
fn initialize_result(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
        "serverInfo": {
            "name": "harness-reference",
            "title": "harness reference platform",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "run_workflow runs a workflow on the legacy or the Dagger path (header X-Feature-USE_DAGGER_MCP_SERVER); fail always fails.",
    })
}

/// A progress notification of a tool call: `done` of 1 step.
fn progress(token: &Value, done: u8, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": token, "progress": done, "total": 1, "message": message},
    })
}

/// How to answer, from the client's `Accept` and the configuration; `None` when the
/// client accepts neither JSON nor an event stream.
fn answer_form(headers: &HeaderMap, sse: bool) -> Option<Form> {
    let Some(accept) = headers.get(ACCEPT) else {
        return Some(Form::Json);
    };
    let accept = String::from_utf8_lossy(accept.as_bytes()).to_ascii_lowercase();
    let ranges: Vec<&str> = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .collect();
    let json = ranges
        .iter()
        .any(|r| matches!(*r, "application/json" | "application/*" | "*/*"));
    let stream = ranges.contains(&"text/event-stream");
    if stream && (sse || !json) {
        Some(Form::Sse)
    } else if json {
        Some(Form::Json)
    } else {
        None
    }
}

/// The HTTP answer to a request.
fn answer(form: Form, reply: Handled) -> Response<Full<Bytes>> {
    let mut response = match form {
        Form::Json => http::json(StatusCode::OK, reply.message.to_string()),
        Form::Sse => {
            let mut stream = Vec::new();
            for event in reply.before.iter().chain([&reply.message]) {
                stream.extend_from_slice(&sse_event(event));
            }
            let mut response = Response::new(Full::new(Bytes::from(stream)));
            sse_headers(&mut response);
            response
        }
    };
    if let Some(session) = reply.session
        && let Ok(value) = HeaderValue::from_str(&session)
    {
        response.headers_mut().insert(SESSION, value);
    }
    response
}

/// `DELETE /mcp`: ends the session named in the header.
fn delete(service: &Service, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let Some(id) = headers.get(SESSION) else {
        return plain_error(
            StatusCode::BAD_REQUEST,
            "Bad Request: no Mcp-Session-Id header",
        );
    };
    let sessions = &service.mcp().sessions;
    if !id.to_str().is_ok_and(|id| sessions.close(id)) {
        return plain_error(StatusCode::NOT_FOUND, "Not Found: unknown or ended session");
    }
    service.metrics().mcp_sessions(sessions.len());
    empty(StatusCode::NO_CONTENT)
}

/// An answer without a body.
fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A JSON-RPC error without an id, for refusals of the transport.
fn plain_error(status: StatusCode, why: &str) -> Response<Full<Bytes>> {
    let error = RpcError::new(TRANSPORT_ERROR, why);
    http::json(status, rpc::error(&Value::Null, &error).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: Option<&'static str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(value) = value {
            map.insert(ACCEPT, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_form_follows_the_config_when_the_client_accepts_both() {
        let both = Some("application/json, text/event-stream");
        assert_eq!(answer_form(&accept(both), false), Some(Form::Json));
        assert_eq!(answer_form(&accept(both), true), Some(Form::Sse));
        assert_eq!(answer_form(&accept(None), true), Some(Form::Json));
        assert_eq!(
            answer_form(&accept(Some("text/event-stream")), false),
            Some(Form::Sse),
            "a client that takes only a stream gets one"
        );
        assert_eq!(
            answer_form(&accept(Some("*/*;q=0.8")), true),
            Some(Form::Json)
        );
        assert_eq!(answer_form(&accept(Some("text/html")), false), None);
    }
}
