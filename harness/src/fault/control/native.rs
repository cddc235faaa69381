//! The harness's own dialect of the control API: `/faults` (list, add, replace, remove),
//! `/attempts` and `/healthz`; a fault is a `[[fault]]` table as JSON.

use http::StatusCode;
use serde_json::{Value, json};

use super::ProxyMode;
use super::answer::{ApiError, Endpoint, Reply, parse_body};
use super::state::{Control, Entry, duplicate_label, fault_json};
use crate::fault::FaultSpec;

const FAULT_EXAMPLE: &str = r#"{"name": "outage", "kind": "http_error", "status": 503}"#;

impl Control {
    pub(super) fn check_layer(&self, spec: &FaultSpec, what: &str) -> Result<(), ApiError> {
        if spec.layer() == self.info.mode.layer() {
            return Ok(());
        }
        let other = match self.info.mode {
            ProxyMode::Http => ProxyMode::Tcp,
            ProxyMode::Tcp => ProxyMode::Http,
        };
        Err(ApiError::bad_request(
            format!(
                "{what}: kind `{}` needs a {other}-mode proxy; proxy `{}` runs in {} mode",
                spec.kind(),
                self.info.name,
                self.info.mode
            ),
            format!(
                "use a kind this proxy runs: {}, or a proxy with mode = \"{other}\"",
                self.info.mode.kinds()
            ),
        ))
    }

    pub(super) fn faults(&self) -> Value {
        Value::Array(self.entries().iter().map(|e| fault_json(&e.spec)).collect())
    }

    pub(super) fn add_fault(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let spec: FaultSpec = parse_body(body, "a fault", FAULT_EXAMPLE)?;
        self.check_layer(&spec, "the fault")?;
        let label = spec.label();
        self.change(|entries| {
            if entries.iter().any(|e| e.label() == label) {
                return Err(ApiError::conflict(
                    format!("a fault called `{label}` is in force already"),
                    format!(
                        "remove it first (DELETE /faults/{label}), or give the new one another `name`"
                    ),
                ));
            }
            entries.push(Entry::native(spec.clone()));
            Ok(())
        })?;
        Ok(Reply::Json(StatusCode::CREATED, fault_json(&spec)))
    }

    pub(super) fn replace_faults(&self, body: &[u8]) -> Result<Reply, ApiError> {
        let example = format!("[{FAULT_EXAMPLE}] (or [] to remove every fault)");
        let specs: Vec<FaultSpec> = parse_body(body, "a list of faults", &example)?;
        for (i, spec) in specs.iter().enumerate() {
            self.check_layer(spec, &format!("fault {} (`{}`)", i + 1, spec.label()))?;
        }
        if let Some(label) = duplicate_label(&specs) {
            return Err(ApiError::bad_request(
                format!("two faults are called `{label}`"),
                "give each fault a distinct `name`",
            ));
        }
        self.change(|entries| {
            *entries = specs.into_iter().map(Entry::native).collect();
            Ok(())
        })?;
        Ok(Reply::ok(self.faults()))
    }

    pub(super) fn attempts(&self) -> Value {
        let snapshot = self.proxy.attempts();
        json!({
            "elapsed_ms": u64::try_from(self.proxy.elapsed().as_millis()).unwrap_or(u64::MAX),
            "totals": snapshot.totals,
            "seconds": snapshot.seconds,
        })
    }

    /// The native endpoints: `None` if the path is not one of them.
    pub(super) fn native(&self, method: &str, segments: &[&str], body: &[u8]) -> Option<Endpoint> {
        let get = method == "GET";
        Some(match segments {
            ["healthz"] => ("GET", get.then_some(Ok(Reply::Text("ok")))),
            ["faults"] => (
                "GET, POST, PUT",
                match method {
                    "GET" => Some(Ok(Reply::ok(self.faults()))),
                    "POST" => Some(self.add_fault(body)),
                    "PUT" => Some(self.replace_faults(body)),
                    _ => None,
                },
            ),
            ["faults", name] => (
                "DELETE",
                (method == "DELETE").then(|| self.remove(name, "fault")),
            ),
            ["attempts"] => ("GET", get.then(|| Ok(Reply::ok(self.attempts())))),
            _ => return None,
        })
    }
}
