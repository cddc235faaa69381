//! The MCP endpoint's tools: `run_workflow` (and `run_workflow_legacy`,
//! `run_workflow_dagger`, which pick the path by name) and `fail`.
//!
//! `run_workflow` runs a workflow through the service's own execute code path
//! ([`Service::run_workflow`]), so a tool call meets the same overhead, error rate,
//! dependency, breaker and retries as `POST /api/workflows/execute`. A workflow that
//! fails is a tool result with `isError: true` (the model can read why), never a
//! JSON-RPC error: those are for calls that are wrong, not for work that went wrong.

use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use serde_json::{Map, Value, json};

use super::rpc::{INVALID_PARAMS, RpcError};
use crate::reference::metrics::ServicePath;
use crate::reference::service::Service;

/// The tool that runs a workflow on the path the feature-flag header selects.
const RUN: &str = "run_workflow";
const RUN_LEGACY: &str = "run_workflow_legacy";
const RUN_DAGGER: &str = "run_workflow_dagger";
const FAIL: &str = "fail";

/// A validated `tools/call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// Run `workflow`; on `path` when the tool's name chose one, else on the header's.
    Run {
        path: Option<ServicePath>,
        workflow: String,
    },
    /// Fail on purpose with `message`.
    Fail { message: String },
}

impl Call {
    /// The path this call runs on, given the one the request's headers select.
    pub(crate) fn path(&self, from_headers: ServicePath) -> ServicePath {
        match self {
            Call::Run { path: Some(p), .. } => *p,
            _ => from_headers,
        }
    }
}

/// A tool's result: the `CallToolResult` object and whether it is an error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolResult {
    pub(crate) value: Value,
    pub(crate) is_error: bool,
}

/// The `tools/list` result.
pub(crate) fn list() -> Value {
    let workflow = json!({
        "type": "object",
        "properties": {
            "workflow": {"type": "string", "description": "The workflow to run, e.g. \"build\"."}
        },
        "required": ["workflow"],
        "additionalProperties": false
    });
    let output = json!({
        "type": "object",
        "properties": {
            "run_id": {"type": "string"},
            "status": {"type": "string", "enum": ["completed", "failed"]},
            "engine": {"type": "string", "enum": ["legacy", "dagger"]},
            "attempts": {"type": "integer", "minimum": 1},
            "error": {"type": "string"}
        },
        "required": ["status", "engine"]
    });
    let run = |name: &str, description: &str| {
        json!({
            "name": name,
            "description": description,
            "inputSchema": workflow,
            "outputSchema": output,
        })
    };
    json!({"tools": [
        run(RUN, "Runs a workflow on the path the X-Feature-USE_DAGGER_MCP_SERVER header selects (true: the Dagger path, with circuit breaker and retries; else the legacy path)."),
        run(RUN_LEGACY, "Runs a workflow on the legacy path: one direct call to the executor."),
        run(RUN_DAGGER, "Runs a workflow on the Dagger path: circuit breaker and retries with jittered backoff."),
        {
            "name": FAIL,
            "description": "Always fails with the given message, as a tool error (isError: true).",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
                "additionalProperties": false
            }
        }
    ]})
}

/// The call `params` of `tools/call` ask for, or -32602 naming what is wrong.
pub(crate) fn parse_call(params: &Value) -> Result<Call, RpcError> {
    let invalid = |why: String| RpcError::new(INVALID_PARAMS, why);
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("tools/call needs a string \"name\"".into()))?;
    let empty = Map::new();
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(arguments)) => arguments,
        Some(_) => return Err(invalid("\"arguments\" must be an object".into())),
    };
    let path = match name {
        RUN => None,
        RUN_LEGACY => Some(ServicePath::Legacy),
        RUN_DAGGER => Some(ServicePath::Dagger),
        FAIL => {
            return Ok(Call::Fail {
                message: string_argument(arguments, name, "message").map_err(invalid)?,
            });
        }
        other => return Err(invalid(format!("Unknown tool: {other}"))),
    };
    let workflow = string_argument(arguments, name, "workflow").map_err(invalid)?;
    if workflow.is_empty() {
        return Err(invalid(format!("{name}: \"workflow\" must not be empty")));
    }
    Ok(Call::Run { path, workflow })
}

/// The string argument `key` of tool `tool`; no other argument is allowed.
fn string_argument(
    arguments: &Map<String, Value>,
    tool: &str,
    key: &str,
) -> Result<String, String> {
    if let Some(other) = arguments.keys().find(|k| *k != key) {
        return Err(format!("{tool}: unknown argument \"{other}\""));
    }
    match arguments.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("{tool}: \"{key}\" must be a string")),
        None => Err(format!("{tool}: missing argument \"{key}\"")),
    }
}

/// Runs `call` on `path`: the workflow through the service, or the failure.
pub(crate) async fn call(
    service: &Service,
    call: Call,
    path: ServicePath,
    request_id: Option<&HeaderValue>,
) -> ToolResult {
    match call {
        Call::Fail { message } => ToolResult {
            value: json!({"content": [{"type": "text", "text": message}], "isError": true}),
            is_error: true,
        },
        Call::Run { workflow, .. } => run(service, path, request_id, &workflow).await,
    }
}

async fn run(
    service: &Service,
    path: ServicePath,
    request_id: Option<&HeaderValue>,
    workflow: &str,
) -> ToolResult {
    let response = service.run_workflow(path, request_id, workflow).await;
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status == StatusCode::ACCEPTED {
        let structured = json!({
            "run_id": answer["run_id"],
            "status": "completed",
            "engine": path.label(),
            "attempts": answer["attempts"],
        });
        if let Some(run_id) = answer["run_id"].as_str() {
            let mut status = structured.clone();
            status["workflow"] = json!(workflow);
            service.mcp().runs.record(run_id, status);
        }
        return ToolResult {
            value: json!({
                "content": [{"type": "text", "text": structured.to_string()}],
                "structuredContent": structured,
                "isError": false,
            }),
            is_error: false,
        };
    }
    let why = answer["error"].as_str().unwrap_or("failed");
    let structured = json!({"status": "failed", "engine": path.label(), "error": why});
    let text = format!(
        "workflow {workflow:?} failed on the {} path: {why} (HTTP {})",
        path.label(),
        status.as_u16()
    );
    ToolResult {
        value: json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": structured,
            "isError": true,
        }),
        is_error: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_validated_before_anything_runs() {
        assert_eq!(
            parse_call(&json!({"name": "run_workflow", "arguments": {"workflow": "build"}})),
            Ok(Call::Run {
                path: None,
                workflow: "build".into()
            })
        );
        assert_eq!(
            parse_call(&json!({"name": "run_workflow_dagger", "arguments": {"workflow": "b"}}))
                .map(|c| c.path(ServicePath::Legacy)),
            Ok(ServicePath::Dagger)
        );
        assert_eq!(
            parse_call(&json!({"name": "fail", "arguments": {"message": "no"}})),
            Ok(Call::Fail {
                message: "no".into()
            })
        );
        for bad in [
            json!({}),
            json!({"name": "nope", "arguments": {}}),
            json!({"name": "run_workflow"}),
            json!({"name": "run_workflow", "arguments": {"workflow": 3}}),
            json!({"name": "run_workflow", "arguments": {"workflow": ""}}),
            json!({"name": "run_workflow", "arguments": {"workflow": "b", "x": 1}}),
            json!({"name": "run_workflow", "arguments": ["build"]}),
            json!({"name": "fail", "arguments": {}}),
        ] {
            assert_eq!(
                parse_call(&bad).map_err(|e| e.code).err(),
                Some(INVALID_PARAMS),
                "{bad}"
            );
        }
        let names: Vec<_> = list()["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_owned())
            .collect();
        assert_eq!(names, [RUN, RUN_LEGACY, RUN_DAGGER, FAIL]);
    }
}
