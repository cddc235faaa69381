//! One proxy under the control API ([`Managed`]): how to start it (a [`Recipe`]), the
//! running [`FaultProxy`] when it is enabled, and the faults in force. The fault list is
//! shared by both API dialects and changed whole (computed on a copy, checked, put in
//! force, then stored), so a failed change leaves the proxy as it was.
//!
//! Disabling stops the `FaultProxy` (its listener closes and every established
//! connection is cut); enabling starts a new one on the same address with the same
//! faults, seed and fault clock. The attempt log starts over at each enable.

use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{Value, json};

use super::answer::ApiError;
use super::toxic::{Toxic, native_toxic};
use super::{ProxyInfo, ProxyMode};
use crate::fault::{AttemptSnapshot, FaultProxy, FaultSpec, ProxyOptions, check_faults};

/// One fault in force, and the toxic it came from when it came through the Toxiproxy API.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) spec: FaultSpec,
    pub(super) toxic: Option<Toxic>,
}

impl Entry {
    pub(super) fn native(spec: FaultSpec) -> Self {
        Self { spec, toxic: None }
    }

    pub(super) fn label(&self) -> String {
        self.spec.label()
    }

    pub(super) fn toxic_json(&self) -> Value {
        match &self.toxic {
            Some(toxic) => serde_json::to_value(toxic).unwrap_or(Value::Null),
            None => native_toxic(&self.spec),
        }
    }
}

/// A fault as `GET /faults` shows it: the `[[fault]]` table form.
pub(super) fn fault_json(spec: &FaultSpec) -> Value {
    serde_json::to_value(spec).unwrap_or(Value::Null)
}

/// The first label that two faults share, if any.
pub(super) fn duplicate_label<'a>(
    specs: impl IntoIterator<Item = &'a FaultSpec>,
) -> Option<String> {
    let mut seen = BTreeSet::new();
    specs
        .into_iter()
        .map(FaultSpec::label)
        .find(|label| !seen.insert(label.clone()))
}

/// Everything needed to start a proxy again after it was disabled.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Name, mode and upstream.
    pub info: ProxyInfo,
    /// Where it listens; port 0 lets the OS pick at the first start, later starts reuse
    /// the port picked.
    pub listen: SocketAddr,
    /// The seed of its fault decisions.
    pub seed: u64,
    /// Options beyond the faults (TLS of an https upstream, log size).
    pub options: ProxyOptions,
}

/// A proxy under the control API: enabled (running) or disabled (no listener).
#[derive(Debug)]
pub(super) struct Managed {
    pub(super) recipe: Recipe,
    running: Option<FaultProxy>,
    entries: Vec<Entry>,
}

impl Managed {
    /// A proxy with `faults` in force, started when `enabled`. Refuses two faults with
    /// one name, faults of the other mode, and a listener that cannot be opened.
    pub(super) fn new(
        mut recipe: Recipe,
        faults: Vec<FaultSpec>,
        enabled: bool,
    ) -> io::Result<Self> {
        if let Some(label) = duplicate_label(&faults) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("two faults are called `{label}`; give each a distinct `name`"),
            ));
        }
        check_faults(&faults, recipe.info.mode.layer())?;
        // One clock for the proxy's whole life, so fault windows survive a disable.
        recipe.options.origin.get_or_insert_with(Instant::now);
        let mut managed = Self {
            recipe,
            running: None,
            entries: faults.into_iter().map(Entry::native).collect(),
        };
        if enabled {
            managed.start()?;
        }
        Ok(managed)
    }

    pub(super) fn info(&self) -> &ProxyInfo {
        &self.recipe.info
    }

    pub(super) fn name(&self) -> &str {
        &self.recipe.info.name
    }

    pub(super) fn enabled(&self) -> bool {
        self.running.is_some()
    }

    /// The address it listens on (the last one, while disabled).
    pub(super) fn listen(&self) -> SocketAddr {
        self.running
            .as_ref()
            .map_or(self.recipe.listen, FaultProxy::addr)
    }

    /// The running proxy, if enabled.
    pub(super) fn running(&self) -> Option<&FaultProxy> {
        self.running.as_ref()
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn specs(&self) -> Vec<FaultSpec> {
        self.entries.iter().map(|e| e.spec.clone()).collect()
    }

    /// Starts the proxy (if it is not running) on its listen address.
    pub(super) fn start(&mut self) -> io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let Recipe {
            info,
            listen,
            seed,
            options,
        } = &self.recipe;
        let (upstream, faults, options) = (info.upstream.clone(), self.specs(), options.clone());
        let proxy = match info.mode {
            ProxyMode::Http => {
                FaultProxy::start_http_with(*listen, upstream, faults, *seed, options)
            }
            ProxyMode::Tcp => FaultProxy::start_tcp_with(*listen, upstream, faults, *seed, options),
        }?;
        // Port 0 is resolved once: a re-enabled proxy comes back where clients expect it.
        self.recipe.listen = proxy.addr();
        self.running = Some(proxy);
        Ok(())
    }

    /// Stops the proxy: closes its listener and cuts its connections; waits until they are gone.
    pub(super) async fn stop(&mut self) {
        if let Some(proxy) = self.running.take() {
            proxy.shutdown().await;
        }
    }

    /// Applies `edit` to a copy of the list, checks it, puts it in force, then stores it.
    pub(super) fn change<T>(
        &mut self,
        edit: impl FnOnce(&mut Vec<Entry>, &ProxyInfo) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut next = self.entries.clone();
        let out = edit(&mut next, &self.recipe.info)?;
        let specs: Vec<FaultSpec> = next.iter().map(|e| e.spec.clone()).collect();
        let refused =
            |e: io::Error| ApiError::bad_request(e.to_string(), "fix the fault and send it again");
        check_faults(&specs, self.recipe.info.mode.layer()).map_err(refused)?;
        if let Some(proxy) = &self.running {
            proxy.set_faults(specs).map_err(refused)?;
        }
        self.entries = next;
        Ok(out)
    }

    /// Removes the fault or toxic called `name`.
    pub(super) fn remove(&mut self, name: &str, what: &str) -> Result<(), ApiError> {
        self.change(|entries, _| {
            let before = entries.len();
            entries.retain(|e| e.label() != name);
            if entries.len() < before {
                return Ok(());
            }
            let names: Vec<String> = entries.iter().map(|e| format!("`{}`", e.label())).collect();
            Err(ApiError::not_found(
                format!("{what} not found: no {what} is called `{name}`"),
                if names.is_empty() {
                    "none is in force".to_owned()
                } else {
                    format!("those in force are {}", names.join(", "))
                },
            ))
        })
    }

    /// Every toxic as Toxiproxy shows them.
    pub(super) fn toxics_json(&self) -> Value {
        Value::Array(self.entries.iter().map(Entry::toxic_json).collect())
    }

    /// The proxy as Toxiproxy shows it.
    pub(super) fn json(&self) -> Value {
        json!({
            "name": self.name(),
            "listen": self.listen().to_string(),
            "upstream": self.recipe.info.upstream,
            "enabled": self.enabled(),
            "toxics": self.toxics_json(),
        })
    }

    /// The attempt log since the last enable (empty while disabled).
    pub(super) fn attempts(&self) -> AttemptSnapshot {
        self.running
            .as_ref()
            .map(FaultProxy::attempts)
            .unwrap_or_default()
    }
}
