//! The fault kinds, listed once: each kind's name in files, the proxy that runs it and a
//! one-line description, in documentation order.
//!
//! Every list of kinds a person reads (the scenario errors, the proxy file's errors, the
//! control API's help lines, `harness proxy --help`) is generated from [`KINDS`], so a new
//! kind is added in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The protocol level a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Decided per HTTP request by the HTTP proxy.
    Http,
    /// Decided per TCP connection by the TCP proxy.
    Tcp,
}

impl Layer {
    /// Whether a fault of this layer runs on a proxy of layer `proxy`: HTTP faults need
    /// an HTTP proxy; TCP faults run on both (on an HTTP proxy they shape the bytes of
    /// the client connection).
    pub fn runs_on(self, proxy: Layer) -> bool {
        self == proxy || self == Self::Tcp
    }

    /// What a fault's probability applies to on this layer.
    pub fn unit(self) -> FaultUnit {
        match self {
            Self::Http => FaultUnit::Request,
            Self::Tcp => FaultUnit::Connection,
        }
    }
}

/// What a fault's probability applies to: each request (HTTP) or each connection (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultUnit {
    /// Per HTTP request.
    Request,
    /// Per TCP connection.
    Connection,
}

impl FaultUnit {
    /// The name used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Connection => "connection",
        }
    }
}

impl fmt::Display for FaultUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a fault's kind, as written in `kind = "..."`.
///
/// The variants are in the order of [`KINDS`], which holds their names and descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Delay the request before forwarding it.
    Latency,
    /// Answer with a status without forwarding.
    HttpError,
    /// Drop the client connection without an answer.
    Abort,
    /// Never answer.
    Blackhole,
    /// Forward, then cut the answer body after `bytes`.
    Truncate,
    /// Forward, then dribble the answer body in chunks.
    SlowBody,
    /// Delay every chunk of a connection.
    TcpLatency,
    /// Cap a connection's throughput.
    Bandwidth,
    /// Reset the connection (RST).
    ResetPeer,
    /// Accept and swallow everything, forward nothing.
    TcpBlackhole,
    /// Delay the close of a connection.
    SlowClose,
    /// Close a connection after `bytes`.
    LimitData,
    /// Drop all data, then close the connection after `timeout` (never when 0).
    Timeout,
    /// Slice data into small pieces with a delay between them.
    Slicer,
    /// Close the listener: connections are refused.
    Down,
}

/// One fault kind, as people read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// The kind.
    pub kind: FaultKind,
    /// Its name in files (`kind = "..."`).
    pub name: &'static str,
    /// The proxy that runs it.
    pub layer: Layer,
    /// What it does, in one line.
    pub description: &'static str,
}

const fn info(
    kind: FaultKind,
    name: &'static str,
    layer: Layer,
    description: &'static str,
) -> KindInfo {
    KindInfo {
        kind,
        name,
        layer,
        description,
    }
}

/// Every fault kind, in documentation order (the order of [`FaultKind`]'s variants).
pub const KINDS: [KindInfo; 15] = {
    use FaultKind::*;
    use Layer::{Http, Tcp};
    [
        info(
            Latency,
            "latency",
            Http,
            "delay the request before forwarding it",
        ),
        info(
            HttpError,
            "http_error",
            Http,
            "answer with a status without forwarding",
        ),
        info(
            Abort,
            "abort",
            Http,
            "drop the client connection without an answer",
        ),
        info(Blackhole, "blackhole", Http, "never answer"),
        info(
            Truncate,
            "truncate",
            Http,
            "forward, then cut the answer body after `bytes`",
        ),
        info(
            SlowBody,
            "slow_body",
            Http,
            "forward, then dribble the answer body in chunks",
        ),
        info(
            TcpLatency,
            "tcp_latency",
            Tcp,
            "delay every chunk of a connection",
        ),
        info(Bandwidth, "bandwidth", Tcp, "cap a connection's throughput"),
        info(
            ResetPeer,
            "reset_peer",
            Tcp,
            "reset the connection (RST): at once, or `timeout` after the first data",
        ),
        info(
            TcpBlackhole,
            "tcp_blackhole",
            Tcp,
            "accept and swallow everything, forward nothing",
        ),
        info(
            SlowClose,
            "slow_close",
            Tcp,
            "delay the close of a connection",
        ),
        info(
            LimitData,
            "limit_data",
            Tcp,
            "close a connection after `bytes`",
        ),
        info(
            Timeout,
            "timeout",
            Tcp,
            "drop all data; close the connection after `timeout` (\"0s\": never)",
        ),
        info(
            Slicer,
            "slicer",
            Tcp,
            "cut data into pieces of about `average_size`, `delay` apart",
        ),
        info(
            Down,
            "down",
            Tcp,
            "close the listener: connections are refused (tcp mode only)",
        ),
    ]
};

impl FaultKind {
    /// Every kind, in documentation order.
    pub const ALL: [Self; 15] = {
        let mut all = [Self::Latency; 15];
        let mut i = 0;
        while i < KINDS.len() {
            all[i] = KINDS[i].kind;
            i += 1;
        }
        all
    };

    /// The kind's entry in [`KINDS`].
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    /// The kind called `name` in files, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.kind)
    }

    /// Whether the HTTP or the TCP proxy runs this kind.
    pub fn layer(self) -> Layer {
        self.info().layer
    }

    /// What the kind does, in one line.
    pub fn description(self) -> &'static str {
        self.info().description
    }

    /// The kinds `layer` runs, in documentation order.
    pub fn of_layer(layer: Layer) -> impl Iterator<Item = Self> {
        Self::ALL.into_iter().filter(move |k| k.layer() == layer)
    }

    /// The kind-specific keys this kind accepts (the common keys are accepted by all).
    pub(super) fn own_keys(self) -> &'static [&'static str] {
        match self {
            Self::Latency => &["latency", "jitter", "distribution"],
            Self::HttpError => &["status", "body", "headers"],
            Self::Truncate => &["bytes"],
            Self::SlowBody => &["chunk_delay", "chunk_size"],
            Self::TcpLatency => &["latency", "jitter", "distribution", "direction"],
            Self::Bandwidth => &["rate", "direction"],
            Self::SlowClose => &["delay", "direction"],
            Self::LimitData => &["bytes", "direction"],
            Self::ResetPeer | Self::Timeout => &["timeout", "direction"],
            Self::Slicer => &["average_size", "size_variation", "delay", "direction"],
            Self::Abort | Self::Blackhole | Self::TcpBlackhole | Self::Down => &[],
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names of `kinds` for messages, joined by `, `, each wrapped in `quote` (`""` for
/// plain names, `` "`" `` for code).
pub fn kind_list(kinds: impl IntoIterator<Item = FaultKind>, quote: &str) -> String {
    kinds
        .into_iter()
        .map(|k| format!("{quote}{k}{quote}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fault kinds for `--help`: one line per kind, HTTP kinds first, then the order in
/// which several faults compose.
pub fn kinds_help() -> String {
    let mut out = String::new();
    for (layer, title) in [
        (Layer::Http, "per request, mode = \"http\""),
        (
            Layer::Tcp,
            "per connection, mode = \"tcp\" (and the client connection of mode = \"http\")",
        ),
    ] {
        out.push_str(&format!("  {title}:\n"));
        for kind in FaultKind::of_layer(layer) {
            out.push_str(&format!(
                "    {:<14} {}\n",
                kind.as_str(),
                kind.description()
            ));
        }
    }
    out.push_str(COMPOSITION);
    out
}

/// How several faults that fire together compose, for `--help` and the module docs.
pub const COMPOSITION: &str =
    "  Several faults compose: per connection, every TCP fault that fires acts on its
  direction's bytes in list order (a chain, as Toxiproxy chains toxics); per request,
  every `latency` that fires adds up, then the first terminal fault in list order
  (http_error, abort, blackhole, truncate, slow_body) applies. On an HTTP proxy the TCP
  faults shape the client connection's bytes around the per-request ones.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_variants_and_their_serde_names() {
        for (i, info) in KINDS.iter().enumerate() {
            assert_eq!(info.kind as usize, i, "{} is out of order", info.name);
            let json = serde_json::to_value(info.kind).expect("serialises");
            assert_eq!(json, info.name);
            assert_eq!(FaultKind::from_name(info.name), Some(info.kind));
        }
        assert_eq!(FaultKind::from_name("nope"), None);
        assert_eq!(
            kind_list(FaultKind::of_layer(Layer::Http), ""),
            "latency, http_error, abort, blackhole, truncate, slow_body"
        );
    }
}
