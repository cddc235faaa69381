//! JSON-RPC 2.0 as the MCP transport carries it: one message per POST body (the
//! 2025-06-18 revision has no batches), classified, and the answers built.

use serde_json::{Value, json};

/// Invalid JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// JSON that is no JSON-RPC message.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// A method the server does not have.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// A known method with wrong parameters (an unknown tool among them, as MCP says).
pub(crate) const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error: its code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
}

impl RpcError {
    /// An error of `code` saying `message`.
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One message a client sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    /// A request, answered with a result or an error carrying `id`.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification: no answer.
    Notification { method: String },
    /// The client's answer to a request of the server's (this server sends none).
    Response,
}

/// The message in `body`, or the error to answer it with (id `null`).
pub(crate) fn parse(body: &[u8]) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(PARSE_ERROR, format!("Parse error: {e}")))?;
    let invalid = |why: &str| RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}"));
    let Value::Object(mut object) = value else {
        return Err(invalid(
            "expected one JSON-RPC message object (batches are not part of MCP 2025-06-18)",
        ));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    let id = object.remove("id");
    if let Some(id) = &id
        && !(id.is_string() || id.is_number())
    {
        return Err(invalid("\"id\" must be a string or a number"));
    }
    match (object.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) => Ok(Message::Request {
            id,
            method,
            params: object.remove("params").unwrap_or(Value::Null),
        }),
        (Some(Value::String(method)), None) => Ok(Message::Notification { method }),
        (Some(_), _) => Err(invalid("\"method\" must be a string")),
        (None, Some(_)) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Message::Response)
        }
        (None, _) => Err(invalid("no \"method\"")),
    }
}

/// A success answer to request `id`.
pub(crate) fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error answer to request `id` (`null` when it could not be read).
pub(crate) fn error(id: &Value, error: &RpcError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": error.code, "message": error.message},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified_and_bad_ones_get_their_code() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#),
            Ok(Message::Request {
                id: json!(7),
                method: "tools/list".into(),
                params: Value::Null
            })
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification {
                method: "notifications/initialized".into()
            })
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response)
        );
        let code = |body: &[u8]| parse(body).map_err(|e| e.code).err();
        assert_eq!(code(b"{not json"), Some(PARSE_ERROR));
        assert_eq!(code(b""), Some(PARSE_ERROR));
        for invalid in [
            &br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#[..],
            br#"{"id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":3}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            assert_eq!(
                code(invalid),
                Some(INVALID_REQUEST),
                "{}",
                String::from_utf8_lossy(invalid)
            );
        }
    }
}
