//! Runs MCP steps: the session table (one session per virtual user or per iteration),
//! each step one POST of a JSON-RPC request, the answer read by [`super::wire`].
//!
//! The `initialize` step opens the scope's session (`initialize`, then
//! `notifications/initialized`), so its latency is the session's setup cost; for a
//! session already open it is skipped and not recorded. A session is closed (an HTTP
//! DELETE with its `Mcp-Session-Id`) when its iteration ends (`session = "iteration"`, or
//! any session in the open model) or when the drive ends (a user's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::DriveCounts;
use super::stdio::StdioServer;
use super::wire::{self, PROTOCOL_VERSION, Reply};
use crate::kinds::http::{HttpClient, OutgoingRequest, ResolvedTarget};
use crate::kinds::samples::FailureSamples;
use crate::kinds::{PathExecutor, Scope, StepReply};
use crate::outcome::OutcomeClass;
use crate::scenario::{McpCall, SessionScope, Step};

const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const PROTOCOL: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// Longest wait for a session's DELETE.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whose session a step uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SessionKey {
    User(u64),
    Iteration(u64),
}

/// An open session: the id the server gave (none from a stateless server) and the
/// protocol version it agreed to.
#[derive(Debug)]
struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
    /// The session's own server process (stdio); killed when the session is dropped.
    server: Option<StdioServer>,
}

/// The executor of one drive of an MCP path.
#[derive(Debug)]
pub struct McpExecutor {
    client: HttpClient,
    uri: Option<Uri>,
    headers: HeaderMap,
    scope: SessionScope,
    sessions: Mutex<HashMap<SessionKey, Arc<Session>>>,
    samples: FailureSamples,
    counts: Arc<DriveCounts>,
    base: String,
    /// Session closes in flight (`DELETE`s sent when an iteration ends), awaited when the
    /// drive ends.
    closing: Mutex<tokio::task::JoinSet<()>>,
    /// The server's argv and folder, for a stdio path.
    stdio: Option<(Vec<String>, std::path::PathBuf)>,
}

impl McpExecutor {
    /// Sends to `target`'s URL through `client`, sessions scoped as `scope` says.
    pub(super) fn new(
        client: HttpClient,
        target: ResolvedTarget,
        scope: SessionScope,
        counts: Arc<DriveCounts>,
    ) -> Self {
        let mut headers = target.headers().clone();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        Self {
            client,
            uri: target.base().parse().ok(),
            headers,
            scope,
            sessions: Mutex::default(),
            samples: FailureSamples::default(),
            counts,
            base: target.base().to_owned(),
            closing: Mutex::default(),
            stdio: None,
        }
    }

    /// Starts `command` (argv, folder) once per session.
    pub(super) fn stdio(
        command: (Vec<String>, std::path::PathBuf),
        scope: SessionScope,
        counts: Arc<DriveCounts>,
    ) -> Self {
        Self {
            client: HttpClient::new(1),
            uri: None,
            headers: HeaderMap::new(),
            scope,
            sessions: Mutex::default(),
            samples: FailureSamples::default(),
            counts,
            base: String::new(),
            closing: Mutex::default(),
            stdio: Some(command),
        }
    }

    /// Opens the session of `key` on a server process of its own.
    async fn initialize_stdio(
        &self,
        key: SessionKey,
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        let Some((argv, workdir)) = &self.stdio else {
            return StepReply::failed(OutcomeClass::Transport, None);
        };
        let server = match StdioServer::spawn(argv, workdir) {
            Ok(server) => server,
            Err(why) => {
                self.samples.push_distinct(format!("mcp stdio: {why}"));
                return StepReply::failed(OutcomeClass::Connect, None);
            }
        };
        let Some(body) = wire::request(&McpCall::Initialize, request_id, &[]) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let read = match server
            .exchange(&body, Some(request_id), false, timeout)
            .await
        {
            Ok(read) => read,
            Err(class) => return StepReply::failed(class, None),
        };
        let result = match read.reply {
            Reply::Result(result) => result,
            other => return self.failed_reply(other, "initialize", None, None),
        };
        if let Err(class) = server
            .exchange(&wire::initialized(), None, false, timeout)
            .await
        {
            return StepReply::failed(class, None);
        }
        self.counts.session_opened();
        let session = Session {
            id: None,
            version: HeaderValue::from_static(PROTOCOL_VERSION),
            server: Some(server),
        };
        self.sessions().insert(key, Arc::new(session));
        StepReply::ok(None, Bytes::from(result.to_string()))
    }

    fn key(&self, scope: Scope) -> SessionKey {
        match (self.scope, scope.user) {
            (SessionScope::User, Some(user)) => SessionKey::User(user),
            _ => SessionKey::Iteration(scope.iteration),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn closing(&self) -> std::sync::MutexGuard<'_, tokio::task::JoinSet<()>> {
        self.closing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a session's `DELETE` without waiting for it; [`PathExecutor::drive_ended`]
    /// waits for every one still in flight. Finished ones are reaped here, so a long run
    /// keeps only the closes in flight.
    fn close_later(&self, request: OutgoingRequest) {
        let client = self.client.clone();
        let mut closing = self.closing();
        while closing.try_join_next().is_some() {}
        closing.spawn(async move {
            let _ = client.send(request, CLOSE_TIMEOUT).await;
        });
    }

    fn session(&self, key: SessionKey) -> Option<Arc<Session>> {
        self.sessions().get(&key).cloned()
    }

    /// One POST of `body` in `session` (none for `initialize`).
    async fn post(
        &self,
        body: &serde_json::Value,
        session: Option<&Session>,
        request_id: u64,
        timeout: Duration,
    ) -> Result<crate::kinds::http::Answer, OutcomeClass> {
        let uri = self.uri.clone().ok_or(OutcomeClass::Transport)?;
        let mut headers = self.headers.clone();
        if let Some(session) = session {
            if let Some(id) = &session.id {
                headers.insert(SESSION_ID, id.clone());
            }
            headers.insert(PROTOCOL, session.version.clone());
        }
        let answer = self
            .client
            .send(
                OutgoingRequest {
                    method: Method::POST,
                    uri,
                    headers,
                    body: Bytes::from(body.to_string()),
                    request_id,
                    keep_body: true,
                    keep_headers: Some(Arc::from(
                        [http::header::CONTENT_TYPE, SESSION_ID].as_slice(),
                    )),
                },
                timeout,
            )
            .await;
        match (answer.failure, answer.status) {
            (Some(class), _) => Err(class),
            _ => Ok(answer),
        }
    }

    /// Opens the session of `key`: `initialize`, then `notifications/initialized`.
    async fn initialize(&self, key: SessionKey, request_id: u64, timeout: Duration) -> StepReply {
        let Some(body) = wire::request(&McpCall::Initialize, request_id, &[]) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let answer = match self.post(&body, None, request_id, timeout).await {
            Ok(answer) => answer,
            Err(class) => return StepReply::failed(class, None),
        };
        let status = answer.status;
        if let Some(failed) = self.unexpected_status(status, "initialize") {
            return failed;
        }
        let read = wire::read(content_type(&answer), &answer.body, request_id, false);
        self.counts.progress(read.progress);
        let result = match read.reply {
            Reply::Result(result) => result,
            other => return self.failed_reply(other, "initialize", status, None),
        };
        let id = header(&answer, &SESSION_ID).cloned();
        let version = result
            .get("protocolVersion")
            .and_then(serde_json::Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok())
            .unwrap_or(HeaderValue::from_static(PROTOCOL_VERSION));
        let session = Session {
            id,
            version,
            server: None,
        };
        let done = match self
            .post(&wire::initialized(), Some(&session), request_id, timeout)
            .await
        {
            Ok(done) => done,
            Err(class) => return StepReply::failed(class, None),
        };
        if let Some(failed) = self.unexpected_status(done.status, "notifications/initialized") {
            return failed;
        }
        self.counts.session_opened();
        self.sessions().insert(key, Arc::new(session));
        StepReply::ok(status, Bytes::from(result.to_string()))
    }

    /// A failure for a non-2xx status, described in the samples.
    fn unexpected_status(&self, status: Option<u16>, method: &str) -> Option<StepReply> {
        let status = status?;
        if (200..300).contains(&status) {
            return None;
        }
        self.samples
            .push_distinct(format!("mcp {method}: HTTP status {status}"));
        Some(StepReply::failed(
            OutcomeClass::for_unexpected_status(status),
            Some(status),
        ))
    }

    /// The failure of a reply that is not a result, described in the samples (the
    /// session id, a bearer-like secret, never appears in them).
    fn failed_reply(
        &self,
        reply: Reply,
        what: &str,
        status: Option<u16>,
        session: Option<&Session>,
    ) -> StepReply {
        let class = reply.class().unwrap_or(OutcomeClass::Protocol);
        let text = match &reply {
            Reply::Result(_) => return StepReply::ok(status, Bytes::new()),
            Reply::ToolError(_, text) => format!("tool_error: {what}: {}", shorten(text)),
            Reply::RpcError(code, message) => {
                self.counts.rpc_code(*code);
                format!("rpc_error {code}: {} ({what})", shorten(message))
            }
            Reply::Protocol(why) => format!("protocol: {what}: {why}"),
        };
        let secret = session
            .and_then(|s| s.id.as_ref())
            .and_then(|id| id.to_str().ok())
            .filter(|id| !id.is_empty());
        let text = match secret {
            Some(id) => text.replace(id, "<session id>"),
            None => text,
        };
        self.samples
            .push_distinct(crate::text::printable(&text).into_owned());
        let body = match reply {
            Reply::ToolError(result, _) => Bytes::from(result.to_string()),
            _ => Bytes::new(),
        };
        StepReply {
            failure: Some(class),
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// The DELETE that closes `session` (a server may answer 405: it keeps sessions
    /// until they expire; that is not an error of the run).
    fn close_request(&self, session: &Session) -> Option<OutgoingRequest> {
        let (uri, id) = (self.uri.clone()?, session.id.clone()?);
        let mut headers = self.headers.clone();
        headers.insert(SESSION_ID, id);
        headers.insert(PROTOCOL, session.version.clone());
        Some(OutgoingRequest {
            method: Method::DELETE,
            uri,
            headers,
            body: Bytes::new(),
            request_id: 0,
            keep_body: false,
            keep_headers: None,
        })
    }
}

#[async_trait::async_trait]
impl PathExecutor for McpExecutor {
    async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        self.run_in(Scope::DETACHED, step, vars, request_id, timeout)
            .await
    }

    async fn run_in(
        &self,
        scope: Scope,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        let Some(call) = step.mcp() else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let key = self.key(scope);
        let session = self.session(key);
        if matches!(call, McpCall::Initialize) {
            return match (session, &self.stdio) {
                (Some(_), _) => StepReply::ok(None, Bytes::new()),
                (None, Some(_)) => self.initialize_stdio(key, request_id, timeout).await,
                (None, None) => self.initialize(key, request_id, timeout).await,
            };
        }
        let Some(session) = session else {
            // Its initialize step failed or was not run: nothing to send in.
            self.samples.push_distinct(format!(
                "protocol: step `{}` has no open session",
                step.name
            ));
            return StepReply::failed(OutcomeClass::Protocol, None);
        };
        let Some(body) = wire::request(call, request_id, vars) else {
            return StepReply::failed(OutcomeClass::CheckFailed, None);
        };
        let tool_call = matches!(call, McpCall::CallTool { .. });
        let what = match call {
            McpCall::CallTool { tool, .. } => format!("tool `{tool}`"),
            McpCall::GetPrompt { prompt, .. } => format!("prompt `{prompt}`"),
            other => other.method().to_string(),
        };
        if let Some(server) = &session.server {
            let read = match server
                .exchange(&body, Some(request_id), tool_call, timeout)
                .await
            {
                Ok(read) => read,
                Err(class) => {
                    // The pipe may be out of step now: the scope starts a new server.
                    self.sessions().remove(&key);
                    return StepReply::failed(class, None);
                }
            };
            self.counts.progress(read.progress);
            return match read.reply {
                Reply::Result(result) => StepReply::ok(None, Bytes::from(result.to_string())),
                other => self.failed_reply(other, &what, None, None),
            };
        }
        let answer = match self.post(&body, Some(&session), request_id, timeout).await {
            Ok(answer) => answer,
            Err(class) => return StepReply::failed(class, None),
        };
        if answer.status == Some(404) {
            // The server forgot the session (expired, restarted): the scope opens a new
            // one at its next iteration.
            self.sessions().remove(&key);
        }
        if let Some(failed) = self.unexpected_status(answer.status, call.method()) {
            return failed;
        }
        let read = wire::read(content_type(&answer), &answer.body, request_id, tool_call);
        self.counts.progress(read.progress);
        match read.reply {
            Reply::Result(result) => StepReply::ok(answer.status, Bytes::from(result.to_string())),
            other => self.failed_reply(other, &what, answer.status, Some(&session)),
        }
    }

    fn skips(&self, scope: Scope, step: &Step) -> bool {
        step.is_session_step() && self.session(self.key(scope)).is_some()
    }

    fn iteration_ended(&self, scope: Scope) {
        let key = self.key(scope);
        if key == SessionKey::Iteration(scope.iteration) {
            let session = self.sessions().remove(&key);
            if let Some(request) = session.and_then(|s| self.close_request(&s)) {
                self.close_later(request);
            }
        }
    }

    async fn drive_ended(&self) {
        let open: Vec<Arc<Session>> = self.sessions().drain().map(|(_, s)| s).collect();
        for request in open.iter().filter_map(|s| self.close_request(s)) {
            self.close_later(request);
        }
        // Taken out of the lock: awaiting holds no guard.
        let mut closing = std::mem::take(&mut *self.closing());
        while closing.join_next().await.is_some() {}
    }

    fn failure_samples(&self) -> Vec<String> {
        let mut samples = self.client.failure_samples();
        samples.extend(self.samples.take());
        samples
    }

    fn base_url(&self) -> Option<&str> {
        // A stdio path sends no HTTP.
        (!self.base.is_empty()).then_some(self.base.as_str())
    }
}

fn header<'a>(
    answer: &'a crate::kinds::http::Answer,
    name: &HeaderName,
) -> Option<&'a HeaderValue> {
    answer
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn content_type(answer: &crate::kinds::http::Answer) -> &str {
    header(answer, &http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// At most 200 characters of `text`.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
