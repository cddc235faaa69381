//! The MCP messages on the wire, without sockets: a step's JSON-RPC request, and the
//! answer of a streamable-HTTP POST (one JSON message, or an SSE stream of them) turned
//! into the step's outcome.

use serde_json::{Value, json};

use crate::outcome::OutcomeClass;
use crate::scenario::McpCall;

/// The protocol version harness asks for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The JSON-RPC request of `call` with id `id`; `None` when a flow variable it uses is
/// unset. `tools/call` asks for progress notifications (they are counted).
pub fn request(call: &McpCall, id: u64, vars: &[Option<String>]) -> Option<Value> {
    let params = match call {
        McpCall::Initialize => json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "harness", "version": env!("CARGO_PKG_VERSION") },
        }),
        McpCall::ListTools => json!({}),
        McpCall::CallTool { tool, arguments } => json!({
            "name": tool,
            "arguments": arguments.render(vars)?,
            "_meta": { "progressToken": id },
        }),
        McpCall::ReadResource { uri } => json!({ "uri": uri.render(vars)? }),
        McpCall::GetPrompt { prompt, arguments } => json!({
            "name": prompt,
            "arguments": arguments.render(vars)?,
        }),
    };
    Some(json!({ "jsonrpc": "2.0", "id": id, "method": call.method(), "params": params }))
}

/// The `notifications/initialized` message that completes a session's setup.
pub fn initialized() -> Value {
    json!({ "jsonrpc": "2.0", "method": "notifications/initialized" })
}

/// What the answer to one request said.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// The `result` (for `tools/call` with `isError` false or absent).
    Result(Value),
    /// A `tools/call` result with `isError: true`, and its joined text content.
    ToolError(Value, String),
    /// A JSON-RPC error object: its code and message.
    RpcError(i64, String),
    /// Not a valid answer to the request: why.
    Protocol(String),
}

impl Reply {
    /// The outcome class of this reply (`None` for a result).
    pub fn class(&self) -> Option<OutcomeClass> {
        match self {
            Reply::Result(_) => None,
            Reply::ToolError(..) => Some(OutcomeClass::ToolError),
            Reply::RpcError(..) => Some(OutcomeClass::RpcError),
            Reply::Protocol(_) => Some(OutcomeClass::Protocol),
        }
    }
}

/// An answer read: the reply to request `id`, and how many progress notifications came
/// before it.
#[derive(Debug, PartialEq)]
pub struct Read {
    /// The reply.
    pub reply: Reply,
    /// `notifications/progress` messages received with it.
    pub progress: u64,
}

/// Reads the body of a POST answer with `content_type` for request `id`: one JSON
/// message (`application/json`) or SSE events carrying JSON-RPC messages
/// (`text/event-stream`), read until the response with our id.
pub fn read(content_type: &str, body: &[u8], id: u64, tool_call: bool) -> Read {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let messages: Vec<Result<Value, String>> = match media.as_str() {
        "application/json" => {
            vec![serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON: {e}"))]
        }
        "text/event-stream" => sse_data(body)
            .into_iter()
            .map(|d| serde_json::from_str(&d).map_err(|e| format!("an SSE event is not JSON: {e}")))
            .collect(),
        other => {
            return Read {
                reply: Reply::Protocol(format!(
                    "the answer's content type `{}` is neither application/json nor text/event-stream",
                    crate::text::printable(other)
                )),
                progress: 0,
            };
        }
    };
    let mut progress = 0;
    for message in messages {
        let message = match message {
            Ok(m) => m,
            Err(why) => {
                return Read {
                    reply: Reply::Protocol(why),
                    progress,
                };
            }
        };
        // A batch answer: look inside.
        let items = match message {
            Value::Array(items) => items,
            single => vec![single],
        };
        for item in items {
            match classify(item, id, tool_call) {
                Message::Progress => progress += 1,
                Message::Other => {}
                Message::Answer(reply) => return Read { reply, progress },
            }
        }
    }
    Read {
        reply: Reply::Protocol(format!(
            "the answer ended without the response to request {id}"
        )),
        progress,
    }
}

/// What one line of a stdio server's output is to request `id`.
pub fn read_line(line: &str, id: u64, tool_call: bool) -> Line {
    match serde_json::from_str(line) {
        Err(e) => Line::Answer(Reply::Protocol(format!("a line is not JSON: {e}"))),
        Ok(message) => match classify(message, id, tool_call) {
            Message::Progress => Line::Progress,
            Message::Other => Line::Other,
            Message::Answer(reply) => Line::Answer(reply),
        },
    }
}

/// A line of a stdio server's output.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// A progress notification.
    Progress,
    /// Another notification or a server request (not answered).
    Other,
    /// The reply to the request.
    Answer(Reply),
}

enum Message {
    Progress,
    /// A notification or a server request harness does not answer.
    Other,
    Answer(Reply),
}

fn classify(message: Value, id: u64, tool_call: bool) -> Message {
    let Value::Object(mut object) = message else {
        return Message::Answer(Reply::Protocol("a message is not a JSON object".into()));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Message::Answer(Reply::Protocol(
            "a message is not JSON-RPC 2.0 (no `jsonrpc: \"2.0\"`)".into(),
        ));
    }
    if let Some(method) = object.get("method").and_then(Value::as_str) {
        return if method == "notifications/progress" {
            Message::Progress
        } else {
            Message::Other
        };
    }
    match object.get("id") {
        Some(answer_id) if answer_id.as_u64() == Some(id) => {}
        Some(other) => {
            return Message::Answer(Reply::Protocol(format!(
                "a response to another request ({other}) came instead of request {id}'s"
            )));
        }
        None => {
            return Message::Answer(Reply::Protocol(
                "a message with neither `method` nor `id`".into(),
            ));
        }
    }
    if let Some(error) = object.remove("error") {
        let code = error.get("code").and_then(Value::as_i64);
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        return Message::Answer(match code {
            Some(code) => Reply::RpcError(code, message),
            None => Reply::Protocol("an error object without an integer `code`".into()),
        });
    }
    match object.remove("result") {
        Some(result) if tool_call && result.get("isError") == Some(&Value::Bool(true)) => {
            let text = joined_text(&result);
            Message::Answer(Reply::ToolError(result, text))
        }
        Some(result) if result.is_object() => Message::Answer(Reply::Result(result)),
        Some(_) => Message::Answer(Reply::Protocol("the `result` is not an object".into())),
        None => Message::Answer(Reply::Protocol(
            "a response with neither `result` nor `error`".into(),
        )),
    }
}

/// The text items of a tool result's `content`, joined by newlines.
pub fn joined_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The data of each SSE event (its `data:` lines joined by newlines), events without data
/// left out.
fn sse_data(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Some(d) = data.take() {
                events.push(d);
            }
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            }
        }
    }
    if let Some(d) = data {
        events.push(d);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{JsonTemplate, Part, Template};

    #[test]
    fn tool_arguments_render_strings_from_variables_and_keep_other_types() {
        let call = McpCall::CallTool {
            tool: "run_workflow".into(),
            arguments: JsonTemplate::Object(vec![
                (
                    "workflow".into(),
                    JsonTemplate::String(Template {
                        source: "wf-${n}".into(),
                        parts: vec![Part::Literal("wf-".into()), Part::Var(0)],
                    }),
                ),
                ("steps".into(), JsonTemplate::Value(3.into())),
                (
                    "flags".into(),
                    JsonTemplate::Array(vec![JsonTemplate::Value(true.into())]),
                ),
            ]),
        };
        let sent = request(&call, 7, &[Some("a".into())]).expect("variables set");
        assert_eq!(sent["method"], "tools/call");
        assert_eq!(sent["id"], 7);
        assert_eq!(
            sent["params"]["arguments"],
            json!({"workflow": "wf-a", "steps": 3, "flags": [true]})
        );
        assert!(request(&call, 7, &[None]).is_none());
    }

    #[test]
    fn a_json_answer_is_the_result() {
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#;
        let read = read("application/json", body, 3, false);
        assert_eq!(read.reply, Reply::Result(json!({"tools": []})));
    }

    #[test]
    fn an_sse_answer_is_read_until_our_response_counting_progress() {
        let body = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\r\n\r\n: comment\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":9,\ndata: \"result\":{\"content\":[],\"structuredContent\":{\"run_id\":\"r\"}}}\n\n";
        let read = read("text/event-stream; charset=utf-8", body, 9, true);
        assert_eq!(read.progress, 1);
        assert_eq!(
            read.reply,
            Reply::Result(json!({"content": [], "structuredContent": {"run_id": "r"}}))
        );
    }

    #[test]
    fn is_error_is_a_tool_error_with_its_text() {
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"boom"}],"isError":true}}"#;
        let read = read("application/json", body, 1, true);
        assert_eq!(read.reply.class(), Some(OutcomeClass::ToolError));
        assert!(matches!(read.reply, Reply::ToolError(_, ref t) if t == "boom"));
    }

    #[test]
    fn a_json_rpc_error_keeps_its_code() {
        let body = b"data: {\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32602,\"message\":\"Invalid params\"}}\n\n";
        let read = read("text/event-stream", body, 2, true);
        assert_eq!(read.reply, Reply::RpcError(-32602, "Invalid params".into()));
        assert_eq!(read.reply.class(), Some(OutcomeClass::RpcError));
    }

    #[test]
    fn stdio_lines_are_read_one_message_each() {
        assert_eq!(
            read_line(
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
                1,
                true
            ),
            Line::Progress
        );
        assert_eq!(
            read_line(
                r#"{"jsonrpc":"2.0","method":"notifications/message"}"#,
                1,
                true
            ),
            Line::Other
        );
        assert_eq!(
            read_line(
                r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
                1,
                false
            ),
            Line::Answer(Reply::Result(json!({"tools": []})))
        );
        assert!(matches!(
            read_line("garbage", 1, false),
            Line::Answer(Reply::Protocol(_))
        ));
    }

    #[test]
    fn malformed_or_missing_answers_are_protocol_failures() {
        for (content_type, body) in [
            ("application/json", &b"not json"[..]),
            ("application/json", br#"{"id":1,"result":{}}"#),
            (
                "application/json",
                br#"{"jsonrpc":"2.0","id":2,"result":{}}"#,
            ),
            ("application/json", br#"{"jsonrpc":"2.0","id":1}"#),
            (
                "text/event-stream",
                b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n",
            ),
            ("text/event-stream", b""),
            ("text/html", b"<html>"),
        ] {
            let read = read(content_type, body, 1, false);
            assert_eq!(
                read.reply.class(),
                Some(OutcomeClass::Protocol),
                "{content_type} {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
