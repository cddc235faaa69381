//! The harness's own dialect of the control API: a proxy's faults (list, add, replace,
//! remove) and attempt counts, at `/proxies/{name}/faults` and `/proxies/{name}/attempts`
//! for any proxy, and at `/faults` and `/attempts` for a `--config` file's proxy; a fault
//! is a `[[fault]]` table as JSON.

use http::StatusCode;
use serde_json::{Value, json};

use super::ProxyMode;
use super::answer::{ApiError, Reply, parse_body};
use super::registry::Registry;
use super::state::{Entry, Managed, duplicate_label, fault_json};
use crate::fault::FaultSpec;

const FAULT_EXAMPLE: &str = r#"{"name": "outage", "kind": "http_error", "status": 503}"#;

impl Registry {
    /// The proxy the root native endpoints act on, or a 404 saying where to look.
    pub(super) fn default_proxy(&self) -> Result<&str, ApiError> {
        self.default_name().ok_or_else(|| {
            ApiError::not_found(
                "no default proxy: this server was started without --config",
                "use the per-proxy endpoints, e.g. GET /proxies/{name}/faults and GET /proxies/{name}/attempts",
            )
        })
    }
}

impl Managed {
    fn check_layer(&self, spec: &FaultSpec, what: &str) -> Result<(), ApiError> {
        let mode = self.info().mode;
        if mode.runs(spec.kind()) {
            return Ok(());
        }
        let other = match mode {
            ProxyMode::Http => ProxyMode::Tcp,
            ProxyMode::Tcp => ProxyMode::Http,
        };
        Err(ApiError::bad_request(
            format!(
                "{what}: kind `{}` needs a {other}-mode proxy; proxy `{}` runs in {mode} mode",
                spec.kind(),
                self.name(),
            ),
            format!(
                "use a kind this proxy runs: {}, or a proxy with mode = \"{other}\"",
                mode.kinds("`")
            ),
        ))
    }

    pub(super) fn faults(&self) -> Value {
        Value::Array(self.entries().iter().map(|e| fault_json(&e.spec)).collect())
    }

    pub(super) fn add_fault(&mut self, body: &[u8]) -> Result<Reply, ApiError> {
        let spec: FaultSpec = parse_body(body, "a fault", FAULT_EXAMPLE)?;
        self.check_layer(&spec, "the fault")?;
        let label = spec.label();
        self.change(|entries, _| {
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

    pub(super) fn replace_faults(&mut self, body: &[u8]) -> Result<Reply, ApiError> {
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
        self.change(|entries, _| {
            *entries = specs.into_iter().map(Entry::native).collect();
            Ok(())
        })?;
        Ok(Reply::ok(self.faults()))
    }

    pub(super) fn attempts_json(&self) -> Value {
        let snapshot = self.attempts();
        let elapsed = self.running().map_or(0, |p| {
            u64::try_from(p.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        json!({
            "enabled": self.enabled(),
            "elapsed_ms": elapsed,
            "totals": snapshot.totals,
            "seconds": snapshot.seconds,
        })
    }
}
