//! The control API of a standalone fault proxy (`harness proxy`): a small JSON server
//! that lists, adds, replaces and removes the faults in force, reports the attempt
//! counts, and speaks enough of Toxiproxy's HTTP API for existing Toxiproxy clients.
//!
//! Native endpoints:
//!
//! | method and path         | what it does                                                 |
//! |-------------------------|--------------------------------------------------------------|
//! | `GET /faults`           | the faults in force, in order of precedence                  |
//! | `POST /faults`          | adds one fault (a `[[fault]]` table as JSON); 409 if its name exists |
//! | `PUT /faults`           | replaces every fault with a JSON list                        |
//! | `DELETE /faults/{name}` | removes the fault with that name (or, unnamed, that kind)    |
//! | `GET /attempts`         | totals and per-second counts of the attempt log              |
//! | `GET /healthz`          | `ok`                                                         |
//!
//! Toxiproxy-compatible endpoints (the proxy is the only "proxy", named by the file's
//! `name`): `GET /proxies`, `GET /proxies/{p}`, `GET|POST /proxies/{p}/toxics`,
//! `GET|POST|PATCH|DELETE /proxies/{p}/toxics/{t}`, `POST /reset` and `GET /version`.
//! A toxic becomes one fault (see `toxic::fault_of_toxic` for the mapping and where it is only
//! an approximation). Toxics and faults share one list and one namespace: a fault added
//! through `/faults` shows up as a toxic of its own kind, and a toxic shows up in
//! `GET /faults` as the fault it became.
//!
//! `GET /faults` serialises each [`FaultSpec`] through its own `Serialize`, which writes
//! the `[[fault]]` table form (durations as strings, defaults left out); that form reads
//! back through `POST`/`PUT` and the TOML file unchanged. Toxics keep the JSON they were
//! submitted with, so a Toxiproxy client reads back what it wrote.
//!
//! Every change swaps the whole list into the proxy at once (`FaultProxy::set_faults`),
//! so the counters of `first_requests` start over on any change. A new fault goes last:
//! when several could fire, the first in the list wins. Every error is a JSON object
//! `{"error", "help", "status"}` with a 4xx status (`status` as in Toxiproxy's errors).

mod answer;
mod native;
mod server;
mod state;
mod toxic;
mod toxiproxy;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FaultKind, Layer, kind_list};

pub use server::ControlServer;
pub use state::Control;

/// The Toxiproxy toxic types the API understands, in Toxiproxy's documentation order.
pub fn toxic_types() -> Vec<&'static str> {
    toxic::TOXIC_TYPES.iter().map(|t| t.name).collect()
}

/// The largest request body the control API reads; a fault list is a few kilobytes.
pub const MAX_BODY: usize = 1 << 20;

/// Which protocol a standalone proxy speaks, as written in `mode = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Per-request faults on HTTP/1.1 (`FaultProxy::start_http`).
    Http,
    /// Per-connection faults on raw TCP (`FaultProxy::start_tcp`).
    Tcp,
}

impl ProxyMode {
    /// The fault layer this mode runs.
    pub fn layer(self) -> Layer {
        match self {
            Self::Http => Layer::Http,
            Self::Tcp => Layer::Tcp,
        }
    }

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
        }
    }

    /// The fault kinds this mode runs, as `` `a`, `b` `` for messages.
    pub(super) fn kinds(self) -> String {
        kind_list(FaultKind::of_layer(self.layer()), "`")
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the control API says about its proxy besides the faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// The proxy's name in the Toxiproxy-compatible API.
    pub name: String,
    /// Its protocol.
    pub mode: ProxyMode,
    /// Where it forwards to, as written in the file.
    pub upstream: String,
}
