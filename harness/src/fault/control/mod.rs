//! The control API of `harness proxy`: a small JSON server over a [`Registry`] of
//! proxies, speaking Toxiproxy 2.x's HTTP API (so Toxiproxy clients drive it unchanged)
//! and the harness's own fault dialect, locked down by a [`Guard`].
//!
//! One file per concern: `registry.rs` (the proxies by name), `state.rs` (one proxy:
//! its recipe, its running `FaultProxy` when enabled, its faults), `toxiproxy.rs` and
//! `native.rs` (the two dialects), `toxic.rs` (a toxic as a fault), `routes.rs` (the
//! endpoint table), `metrics.rs` (`/metrics`), `guard.rs` (what is refused before a
//! body is read), `server.rs` (HTTP), `answer.rs` (replies and errors).
//!
//! | method and path                               | what it does                           |
//! |-----------------------------------------------|----------------------------------------|
//! | `GET /proxies`                                | every proxy by name, with its toxics   |
//! | `POST /proxies`                               | creates a TCP proxy (201; 409 if the name exists) |
//! | `POST /populate`                              | creates, keeps or replaces a list (201 `{"proxies": [...]}`) |
//! | `GET /proxies/{p}`                            | one proxy                              |
//! | `POST\|PATCH /proxies/{p}`                    | `enabled`, `listen`, `upstream`        |
//! | `DELETE /proxies/{p}`                         | stops and removes it                   |
//! | `GET\|POST /proxies/{p}/toxics`               | its toxics; adds one                   |
//! | `GET\|POST\|PATCH\|DELETE /proxies/{p}/toxics/{t}` | one toxic                          |
//! | `POST /reset`                                 | enables every proxy, removes every toxic |
//! | `GET /version`                                | `{"version": "2.12.0", ...}`           |
//! | `GET /metrics`                                | Prometheus text                        |
//! | `GET\|POST\|PUT /proxies/{p}/faults`          | native faults (`[[fault]]` tables as JSON) |
//! | `DELETE /proxies/{p}/faults/{f}`              | removes one                            |
//! | `GET /proxies/{p}/attempts`                   | attempt counts since the last enable   |
//! | `/faults`, `/faults/{f}`, `/attempts`         | the same for a `--config` file's proxy |
//! | `GET /healthz`                                | `ok`                                   |
//!
//! A toxic becomes one fault (see `toxic::fault_of_toxic` for the mapping). Toxics and
//! faults share one list and one namespace per proxy: a fault added through `/faults`
//! shows up as a toxic of its own kind, and a toxic shows up in `GET /faults` as the
//! fault it became. `GET /faults` writes each [`FaultSpec`](crate::fault::FaultSpec) in
//! the `[[fault]]` table form, which reads back through `POST`/`PUT` and the TOML file
//! unchanged; toxics keep the JSON they were submitted with.
//!
//! Every change swaps the proxy's whole list at once (`FaultProxy::set_faults`), so the
//! counters of `first_requests` start over on any change. A new fault goes last. Every
//! error is a JSON object `{"error", "help", "status"}` (Toxiproxy's form plus `help`).

mod answer;
mod guard;
mod metrics;
mod native;
mod registry;
mod routes;
mod server;
mod state;
mod toxic;
mod toxiproxy;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{FaultKind, Layer, kind_list};

pub use guard::{Guard, Token, check_exposure};
pub use registry::Registry;
pub use server::{ControlServer, DRAIN_LIMIT};
pub use state::Recipe;
pub use toxiproxy::TOXIPROXY_VERSION;

/// The Toxiproxy toxic types the API understands, in Toxiproxy's documentation order.
pub fn toxic_types() -> Vec<&'static str> {
    toxic::TOXIC_TYPES.iter().map(|t| t.name).collect()
}

/// The largest request body the control API reads (1 MiB); a fault list is a few
/// kilobytes. Larger bodies are answered 413.
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

    /// Whether a proxy in this mode runs `kind`: its own layer's kinds, and on an HTTP
    /// proxy also the TCP kinds (they shape the client connection) except `down`.
    pub fn runs(self, kind: FaultKind) -> bool {
        kind.layer().runs_on(self.layer()) && !(self == Self::Http && kind == FaultKind::Down)
    }

    /// The fault kinds this mode runs, as `` `a`, `b` `` for messages.
    pub fn kinds(self, quote: &str) -> String {
        kind_list(
            [Layer::Http, Layer::Tcp]
                .into_iter()
                .flat_map(FaultKind::of_layer)
                .filter(|kind| self.runs(*kind)),
            quote,
        )
    }
}

impl fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the control API says about a proxy besides the faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyInfo {
    /// The proxy's name in the Toxiproxy-compatible API.
    pub name: String,
    /// Its protocol.
    pub mode: ProxyMode,
    /// Where it forwards to, as written in the file or the API.
    pub upstream: String,
}
