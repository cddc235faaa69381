//! The SDK's GraphQL seam, implemented over the harness's own HTTP client.
//!
//! dagger-sdk builds every query and unpacks every reply; this client only carries them:
//! `POST <engine>/query` with `Authorization: Basic base64(token + ":")` and the body
//! `{"query": ..., "variables": null}`. Going through the harness's client gives every
//! query the `x-harness-request-id` header (so the fault proxy can sit between SDK and
//! engine and join its attempts to steps), the per-request timeout, and — unlike the SDK's
//! client, which parses the body before it looks at the status — an exact class for what
//! went wrong: the class is left in the step's slot for [`super::classify`] to read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use dagger_sdk::core::gql_client::GraphQLErrorMessage;
use dagger_sdk::core::graphql_client::{GraphQLClient, GraphQLError};
use http::{HeaderMap, HeaderValue, Method, Uri};

use crate::kinds::http::{HttpClient, OutgoingRequest};
use crate::outcome::OutcomeClass;

/// Where the engine's `/query` is and how to authenticate (shared by every step).
pub struct EngineLink {
    client: HttpClient,
    uri: Uri,
    auth: HeaderValue,
    timeout: Duration,
    baggage: Option<HeaderValue>,
}

impl std::fmt::Debug for EngineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization value is the session token: never shown.
        f.debug_struct("EngineLink")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl EngineLink {
    /// A link to the engine (or a proxy in front of it) at `base` (`http://host:port`).
    pub fn new(
        client: HttpClient,
        base: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = format!("{}/query", base.trim_end_matches('/'))
            .parse()
            .map_err(|_| format!("`{base}` is not a URL"))?;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{token}:"));
        let mut auth = HeaderValue::from_str(&format!("Basic {basic}"))
            .map_err(|_| "the session token cannot be sent in a header".to_string())?;
        auth.set_sensitive(true);
        Ok(Self {
            client,
            uri,
            auth,
            timeout,
            baggage: None,
        })
    }

    /// Asks the engine to record every query's spans, not only the first occurrence of
    /// each call in the session: the engine emits a call's span once per session unless
    /// the request's W3C baggage carries `repeat-telemetry` (engine/server/session.go),
    /// and a load test repeats the same calls in every run.
    pub fn with_repeated_telemetry(mut self) -> Self {
        self.baggage = Some(HeaderValue::from_static(REPEAT_TELEMETRY));
        self
    }
}

/// The W3C baggage that makes the engine emit spans for calls it has already seen.
pub const REPEAT_TELEMETRY: &str = "repeat-telemetry=true";

/// The client one step's queries go through: its request id, and the class of the
/// first transport-level failure it saw.
pub struct StepClient {
    link: Arc<EngineLink>,
    request_id: u64,
    failure: Mutex<Option<OutcomeClass>>,
    answered: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for StepClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepClient")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl StepClient {
    /// A client for the step whose request id is `request_id`.
    pub fn new(link: Arc<EngineLink>, request_id: u64) -> Self {
        Self {
            link,
            request_id,
            failure: Mutex::new(None),
            answered: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the engine ran at least one of the step's queries (a 2xx GraphQL reply,
    /// data or errors): such a step leaves spans in the engine's telemetry.
    pub fn answered(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The class of the first failure below GraphQL (transport, status, unreadable reply).
    pub fn failure(&self) -> Option<OutcomeClass> {
        self.failure.lock().ok().and_then(|f| *f)
    }

    fn fail(&self, class: OutcomeClass, message: String) -> GraphQLError {
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert(class);
        }
        GraphQLError::HttpError(message)
    }
}

/// The engine's reply. Errors are read loosely: an error whose `extensions` the SDK's
/// type does not know (it needs a `_type`) keeps its message, not its extensions.
#[derive(serde::Deserialize)]
struct Reply {
    data: Option<serde_json::Value>,
    errors: Option<Vec<serde_json::Value>>,
}

/// One GraphQL error as the SDK types it.
fn error_message(mut raw: serde_json::Value) -> GraphQLErrorMessage {
    if let Ok(typed) = serde_json::from_value::<GraphQLErrorMessage>(raw.clone()) {
        return typed;
    }
    if let Some(object) = raw.as_object_mut() {
        object.remove("extensions");
        object.remove("locations");
        object.remove("path");
    }
    serde_json::from_value(raw.clone()).unwrap_or_else(|_| GraphQLErrorMessage {
        message: raw
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("an engine error without a message")
            .to_string(),
        locations: None,
        extensions: None,
        path: None,
    })
}

#[async_trait::async_trait]
impl GraphQLClient for StepClient {
    async fn query(&self, query: &str) -> Result<Option<serde_json::Value>, GraphQLError> {
        let body = serde_json::json!({ "query": query, "variables": null });
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, self.link.auth.clone());
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(baggage) = &self.link.baggage {
            headers.insert(http::HeaderName::from_static("baggage"), baggage.clone());
        }
        let request = OutgoingRequest {
            method: Method::POST,
            uri: self.link.uri.clone(),
            headers,
            body: Bytes::from(body.to_string()),
            request_id: self.request_id,
            keep_body: true,
            keep_headers: None,
        };
        let answer = self.link.client.send(request, self.link.timeout).await;
        let status = match (answer.failure, answer.status) {
            (Some(class), _) => {
                let class = match class {
                    OutcomeClass::Connect => OutcomeClass::ConnectFailed,
                    OutcomeClass::Timeout => OutcomeClass::Timeout,
                    _ => OutcomeClass::Transport,
                };
                return Err(self.fail(class, format!("no answer from the engine ({class})")));
            }
            (None, status) => status.unwrap_or(0),
        };
        if status == 401 || status == 403 {
            return Err(self.fail(
                OutcomeClass::Auth,
                format!("the engine refused the session token (HTTP {status})"),
            ));
        }
        let reply = match serde_json::from_slice::<Reply>(&answer.body) {
            Ok(reply) => reply,
            Err(e) => {
                // A proxy's error page (502 with text) is the way there; a 200 that is not
                // GraphQL is an answer nobody can unpack.
                let class = if (200..300).contains(&status) {
                    OutcomeClass::Unpack
                } else {
                    OutcomeClass::Transport
                };
                return Err(self.fail(
                    class,
                    format!("HTTP {status} from the engine, not a GraphQL reply ({e})"),
                ));
            }
        };
        if (200..300).contains(&status) {
            self.answered
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        match reply.errors {
            // The engine refused the query before running anything: 422 (or another 4xx)
            // is a validation failure, 503/500 an engine that cannot serve it now
            // (shutting down, session closing, modules that failed to load).
            Some(errors) if !errors.is_empty() && !(200..300).contains(&status) => {
                let message = errors
                    .into_iter()
                    .next()
                    .map(|e| error_message(e).message)
                    .unwrap_or_default();
                let class = if (400..500).contains(&status) {
                    OutcomeClass::QueryInvalid
                } else {
                    OutcomeClass::EngineUnavailable
                };
                Err(self.fail(class, format!("HTTP {status} from the engine: {message}")))
            }
            Some(errors) if !errors.is_empty() => {
                let errors: Vec<GraphQLErrorMessage> =
                    errors.into_iter().map(error_message).collect();
                let message = errors
                    .first()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                Err(GraphQLError::DomainError {
                    message,
                    fields: errors,
                })
            }
            _ if !(200..300).contains(&status) => Err(self.fail(
                OutcomeClass::Transport,
                format!("HTTP {status} from the engine"),
            )),
            _ => Ok(reply.data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_message_when_their_extensions_are_unknown() {
        let exec = error_message(serde_json::json!({
            "message": "exit code: 3",
            "extensions": { "_type": "EXEC_ERROR", "cmd": ["sh"], "exitCode": 3, "stdout": "", "stderr": "boom" }
        }));
        assert!(matches!(
            exec.extensions,
            Some(dagger_sdk::core::gql_client::GraphQlExtension::ExecError { exit_code: 3, .. })
        ));
        let other = error_message(serde_json::json!({
            "message": "no such image",
            "extensions": { "code": "NOT_FOUND" },
            "path": [{ "weird": true }]
        }));
        assert_eq!(other.message, "no such image");
        assert!(other.extensions.is_none());
        let bare = error_message(serde_json::json!({ "unexpected": 1 }));
        assert_eq!(bare.message, "an engine error without a message");
    }
}
