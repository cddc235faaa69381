//! The faults in force on a running proxy: one list shared by both API dialects, changed
//! whole (computed on a copy, put in force, then stored), so a failed change leaves the
//! proxy as it was.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::ProxyInfo;
use super::answer::{ApiError, Reply};
use super::toxic::{Toxic, native_toxic};
use crate::fault::{FaultProxy, FaultSpec};

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
    let mut seen = std::collections::BTreeSet::new();
    specs
        .into_iter()
        .map(FaultSpec::label)
        .find(|label| !seen.insert(label.clone()))
}

/// A running proxy and the faults in force, as the control API reads and changes them.
#[derive(Debug)]
pub struct Control {
    pub(super) info: ProxyInfo,
    pub(super) proxy: FaultProxy,
    entries: Mutex<Vec<Entry>>,
}

impl Control {
    /// Takes over a running `proxy` and puts `faults` in force; refuses two faults with
    /// one name and faults of the other mode.
    pub fn new(proxy: FaultProxy, info: ProxyInfo, faults: Vec<FaultSpec>) -> io::Result<Self> {
        if let Some(label) = duplicate_label(&faults) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("two faults are called `{label}`; give each a distinct `name`"),
            ));
        }
        proxy.set_faults(faults.clone())?;
        Ok(Self {
            info,
            proxy,
            entries: Mutex::new(faults.into_iter().map(Entry::native).collect()),
        })
    }

    /// The proxy being controlled.
    pub fn proxy(&self) -> &FaultProxy {
        &self.proxy
    }

    /// Stops the proxy once the control server no longer holds this (else dropping the
    /// last handle stops it).
    pub async fn shutdown(self: Arc<Self>) {
        if let Ok(control) = Arc::try_unwrap(self) {
            control.proxy.shutdown().await;
        }
    }

    pub(super) fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        // Every change is computed on a copy and stored whole, so a poisoned list is intact.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `edit` to a copy of the list, puts the result in force, then stores it.
    pub(super) fn change<T>(
        &self,
        edit: impl FnOnce(&mut Vec<Entry>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut entries = self.entries();
        let mut next = entries.clone();
        let out = edit(&mut next)?;
        self.proxy
            .set_faults(next.iter().map(|e| e.spec.clone()).collect())
            .map_err(|e| ApiError::bad_request(e.to_string(), "fix the fault and send it again"))?;
        *entries = next;
        Ok(out)
    }

    pub(super) fn remove(&self, name: &str, what: &str) -> Result<Reply, ApiError> {
        self.change(|entries| {
            let before = entries.len();
            entries.retain(|e| e.label() != name);
            if entries.len() == before {
                let names: Vec<String> =
                    entries.iter().map(|e| format!("`{}`", e.label())).collect();
                return Err(ApiError::not_found(
                    format!("{what} not found: no fault is called `{name}`"),
                    if names.is_empty() {
                        "no fault is in force".to_owned()
                    } else {
                        format!("the faults in force are {}", names.join(", "))
                    },
                ));
            }
            Ok(())
        })?;
        Ok(Reply::NoContent)
    }
}
