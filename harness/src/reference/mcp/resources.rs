//! The MCP endpoint's resources: each workflow run a tool started, readable as
//! `workflow://<run_id>` (its status as JSON), and the `summarise` prompt about one.
//!
//! Runs are kept in a bounded store (the oldest forgotten first), like sessions, so a
//! load test cannot grow it without end. `resources/list` lists none: runs are many and
//! short-lived, so they are offered through the `workflow://{run_id}` template.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use super::rpc::{INVALID_PARAMS, RpcError};

/// Runs remembered at once.
pub(crate) const RUNS_CAPACITY: usize = 10_000;
/// MCP's code for a resource that does not exist.
const RESOURCE_NOT_FOUND: i64 = -32002;
const SCHEME: &str = "workflow://";
const SUMMARISE: &str = "summarise";

/// The runs tools started, by run id: each one's status document.
#[derive(Debug)]
pub(crate) struct Runs {
    inner: Mutex<(HashMap<String, Value>, VecDeque<String>)>,
    capacity: usize,
}

impl Runs {
    /// A store of at most `capacity` (at least 1) runs.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `status`, the document of run `run_id`, forgetting the oldest when full.
    pub(crate) fn record(&self, run_id: &str, status: Value) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (by_id, order) = &mut *guard;
        if by_id.insert(run_id.to_owned(), status).is_none() {
            order.push_back(run_id.to_owned());
        }
        while by_id.len() > self.capacity {
            let Some(oldest) = order.pop_front() else {
                break;
            };
            by_id.remove(&oldest);
        }
    }

    /// The status document of run `run_id`.
    fn get(&self, run_id: &str) -> Option<Value> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.get(run_id).cloned()
    }
}

/// The `resources/list` result: no fixed resources.
pub(crate) fn list() -> Value {
    json!({"resources": []})
}

/// The `resources/templates/list` result: runs by id.
pub(crate) fn templates() -> Value {
    json!({"resourceTemplates": [{
        "uriTemplate": "workflow://{run_id}",
        "name": "workflow-run",
        "title": "Workflow run",
        "description": "The status of a workflow run that run_workflow started.",
        "mimeType": "application/json"
    }]})
}

/// The `resources/read` result for `params.uri`.
pub(crate) fn read(runs: &Runs, params: &Value) -> Result<Value, RpcError> {
    let uri = params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::new(INVALID_PARAMS, "resources/read needs a string \"uri\""))?;
    let status = uri
        .strip_prefix(SCHEME)
        .and_then(|id| runs.get(id))
        .ok_or_else(|| RpcError::new(RESOURCE_NOT_FOUND, format!("Resource not found: {uri}")))?;
    Ok(json!({"contents": [{
        "uri": uri,
        "mimeType": "application/json",
        "text": status.to_string()
    }]}))
}

/// The `prompts/list` result.
pub(crate) fn prompts() -> Value {
    json!({"prompts": [{
        "name": SUMMARISE,
        "title": "Summarise a workflow run",
        "description": "Asks for a short summary of a workflow run that run_workflow started.",
        "arguments": [{"name": "run_id", "description": "The run's id.", "required": true}]
    }]})
}

/// The `prompts/get` result for `params`: `summarise` of a known run.
pub(crate) fn prompt(runs: &Runs, params: &Value) -> Result<Value, RpcError> {
    let invalid = |why: String| RpcError::new(INVALID_PARAMS, why);
    match params.get("name").and_then(Value::as_str) {
        Some(SUMMARISE) => {}
        Some(other) => return Err(invalid(format!("Unknown prompt: {other}"))),
        None => return Err(invalid("prompts/get needs a string \"name\"".into())),
    }
    let run_id = params
        .pointer("/arguments/run_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("summarise: missing argument \"run_id\"".into()))?;
    let status = runs
        .get(run_id)
        .ok_or_else(|| invalid(format!("summarise: unknown run {run_id:?}")))?;
    Ok(json!({
        "description": format!("Summary of workflow run {run_id}"),
        "messages": [{
            "role": "user",
            "content": {
                "type": "text",
                "text": format!("Summarise this workflow run in one sentence: {status}")
            }
        }]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_read_and_summarised_and_the_oldest_forgotten() {
        let runs = Runs::new(2);
        runs.record("a", json!({"run_id": "a"}));
        runs.record("b", json!({"run_id": "b"}));
        runs.record("c", json!({"run_id": "c"}));
        let read_code = |uri: &str| read(&runs, &json!({"uri": uri})).map_err(|e| e.code);
        assert_eq!(read_code("workflow://a").err(), Some(RESOURCE_NOT_FOUND));
        assert_eq!(read_code("other://b").err(), Some(RESOURCE_NOT_FOUND));
        let contents = read(&runs, &json!({"uri": "workflow://b"})).expect("known run");
        assert_eq!(contents["contents"][0]["text"], r#"{"run_id":"b"}"#);
        let summary = prompt(
            &runs,
            &json!({"name": "summarise", "arguments": {"run_id": "c"}}),
        )
        .expect("prompt");
        let text = summary["messages"][0]["content"]["text"]
            .as_str()
            .expect("text");
        assert!(text.contains(r#"{"run_id":"c"}"#), "{text}");
        for bad in [
            json!({"name": "summarise", "arguments": {"run_id": "a"}}),
            json!({"name": "summarise"}),
            json!({"name": "other", "arguments": {"run_id": "c"}}),
        ] {
            assert_eq!(
                prompt(&runs, &bad).map_err(|e| e.code).err(),
                Some(INVALID_PARAMS)
            );
        }
    }
}
