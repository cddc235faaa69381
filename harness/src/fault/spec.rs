//! The fault file format, which is also the runtime type: one `[[fault]]` table per
//! [`FaultSpec`].
//!
//! A fault is one flat table: common keys (`name`, `at`, `kind`, `probability`,
//! `first_attempts`, `first_requests`, `start`, `duration`, `repeat`, `match`) next to the
//! keys of its kind (`status`, `latency`, `rate`, ...). serde's `flatten` would break
//! `deny_unknown_fields`, and an internally tagged enum would repeat the ten common keys
//! in thirteen variants, so the table is read into one private struct (see `table.rs`,
//! which implements `Serialize` and `Deserialize` for [`FaultSpec`] and [`FaultSpec::validate`])
//! that denies unknown keys and is then converted into the typed spec, refusing keys that
//! do not belong to the kind. This file holds the validated types only and knows nothing
//! of the table. Every error is a serde error, so the TOML parser reports it with
//! its line and column: value errors (a probability of 1.3, a status of 700) point at the
//! value, cross-key errors (`status` on a `latency` fault) at the fault's table.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{HeaderName, Method};
use serde::{Deserialize, Serialize};

use super::byte_size::ByteSize;
use super::delay::Delay;
use super::kinds::{FaultKind, Layer};
use super::schedule::Schedule;
use crate::units::Probability;

/// Where the proxy sits: between the service and its dependency, or the harness and the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultSite {
    /// Between the service under test and its dependency (the default).
    #[default]
    Dependency,
    /// Between the load generator and the service.
    Client,
}

/// Which way of a TCP connection a stream fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the upstream back to the client: answers (the default, as in Toxiproxy).
    #[default]
    Downstream,
    /// From the client to the upstream: requests.
    Upstream,
    /// Both ways.
    Both,
}

impl Direction {
    /// Whether the fault acts on the upstream → client half.
    pub fn downstream(self) -> bool {
        matches!(self, Self::Downstream | Self::Both)
    }

    /// Whether the fault acts on the client → upstream half.
    pub fn upstream(self) -> bool {
        matches!(self, Self::Upstream | Self::Both)
    }
}

/// What a fault does, with the parameters of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// Wait, then forward.
    Latency(Delay),
    /// Answer `status` with `body` and `headers`, without forwarding.
    HttpError {
        /// The status, 100..=599.
        status: u16,
        /// The answer body.
        body: String,
        /// Extra answer headers (e.g. `Retry-After`).
        headers: BTreeMap<String, String>,
    },
    /// Drop the client connection with a reset, without an answer.
    Abort,
    /// Hold the request without an answer until the client leaves or the proxy stops.
    Blackhole,
    /// Forward, pass `bytes` of the answer body, then close.
    Truncate {
        /// Body bytes passed before closing.
        bytes: ByteSize,
    },
    /// Forward, then send the answer body in `chunk_size` pieces, waiting `chunk_delay` before each.
    SlowBody {
        /// The wait before each chunk.
        chunk_delay: Duration,
        /// The size of each chunk.
        chunk_size: ByteSize,
    },
    /// Delay every chunk of the connection in `direction`.
    TcpLatency {
        /// The delay per chunk.
        delay: Delay,
        /// Which way.
        direction: Direction,
    },
    /// Pass at most `rate` bytes per second in `direction`.
    Bandwidth {
        /// Bytes per second.
        rate: ByteSize,
        /// Which way.
        direction: Direction,
    },
    /// Reset the connection (RST, SO_LINGER 0): without a `timeout`, as soon as it is
    /// accepted (never forwarded); with one, Toxiproxy's `reset_peer`: forward, and once
    /// the first data (or the close) comes in `direction`, drop it and reset `timeout`
    /// later (0 = at once).
    ResetPeer {
        /// The wait after the first data; `None` = reset on accept.
        timeout: Option<Duration>,
        /// Which way's first data arms the reset.
        direction: Direction,
    },
    /// Accept, read and discard; never connect upstream.
    TcpBlackhole,
    /// Forward, but wait `delay` before passing on a close in `direction`.
    SlowClose {
        /// The wait before the close.
        delay: Duration,
        /// Which way's close is delayed (both by default).
        direction: Direction,
    },
    /// Close the connection once `bytes` have passed in `direction`.
    LimitData {
        /// Bytes passed before the close.
        bytes: ByteSize,
        /// Which way is counted.
        direction: Direction,
    },
    /// Toxiproxy's `timeout`: forward nothing in `direction` (data is dropped), and close
    /// the whole connection `timeout` after it opened; `None` = never close.
    Timeout {
        /// When to close; `None` = never (data is dropped until the fault goes).
        timeout: Option<Duration>,
        /// Which way is dropped.
        direction: Direction,
    },
    /// Toxiproxy's `slicer`: cut every chunk in `direction` into pieces of about
    /// `average_size` (± `size_variation`), waiting `delay` after each.
    Slicer {
        /// The mean piece size, at least 1 byte.
        average_size: ByteSize,
        /// How far a piece may differ from the mean; less than `average_size`.
        size_variation: ByteSize,
        /// The wait after each piece.
        delay: Duration,
        /// Which way.
        direction: Direction,
    },
    /// Refuse connections: the listener is closed while the window is active.
    Down,
}

impl FaultAction {
    /// The kind of this action.
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Latency(_) => FaultKind::Latency,
            Self::HttpError { .. } => FaultKind::HttpError,
            Self::Abort => FaultKind::Abort,
            Self::Blackhole => FaultKind::Blackhole,
            Self::Truncate { .. } => FaultKind::Truncate,
            Self::SlowBody { .. } => FaultKind::SlowBody,
            Self::TcpLatency { .. } => FaultKind::TcpLatency,
            Self::Bandwidth { .. } => FaultKind::Bandwidth,
            Self::ResetPeer { .. } => FaultKind::ResetPeer,
            Self::TcpBlackhole => FaultKind::TcpBlackhole,
            Self::SlowClose { .. } => FaultKind::SlowClose,
            Self::LimitData { .. } => FaultKind::LimitData,
            Self::Timeout { .. } => FaultKind::Timeout,
            Self::Slicer { .. } => FaultKind::Slicer,
            Self::Down => FaultKind::Down,
        }
    }
}

/// Which requests an HTTP fault applies to; every given condition must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// The method, compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A prefix of the path (without query), starting with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// A header that must be present (with `value`, if given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
}

/// A header condition: the name (case-insensitive) and, optionally, the exact value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// The header name.
    pub name: String,
    /// The exact value; absent = any value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl RequestMatch {
    /// Whether this matches everything.
    pub fn is_empty(&self) -> bool {
        self.method.is_none() && self.path_prefix.is_none() && self.header.is_none()
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if let Some(method) = &self.method {
            Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("`match.method` = {method:?} is not an HTTP method"))?;
        }
        if let Some(prefix) = &self.path_prefix
            && !prefix.starts_with('/')
        {
            return Err(format!(
                "`match.path_prefix` = {prefix:?} must start with `/`, e.g. \"/execute\""
            ));
        }
        if let Some(header) = &self.header {
            HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
                format!(
                    "`match.header.name` = {:?} is not a header name",
                    header.name
                )
            })?;
        }
        Ok(())
    }
}

/// One fault: what it does, to which requests or connections, when and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// A label for reports; the kind stands in when absent.
    pub name: Option<String>,
    /// Where the proxy sits.
    pub at: FaultSite,
    /// What the fault does.
    pub action: FaultAction,
    /// The chance per request (HTTP) or per connection (TCP) that an eligible one is hit.
    pub probability: Probability,
    /// Hit only attempts `1..=n` of each request id (HTTP); a request without an id is attempt 1.
    pub first_attempts: Option<u32>,
    /// Hit only the first `n` eligible requests (HTTP) or connections (TCP).
    pub first_requests: Option<u64>,
    /// When the fault is active.
    pub schedule: Schedule,
    /// Which requests are eligible (HTTP); empty = all.
    pub matcher: RequestMatch,
}

impl FaultSpec {
    /// A fault doing `action` to every request or connection, always.
    pub fn new(action: FaultAction) -> Self {
        Self {
            name: None,
            at: FaultSite::Dependency,
            action,
            probability: certain(),
            first_attempts: None,
            first_requests: None,
            schedule: Schedule::ALWAYS,
            matcher: RequestMatch::default(),
        }
    }

    /// The kind of the fault.
    pub fn kind(&self) -> FaultKind {
        self.action.kind()
    }

    /// The label used in the attempt log and reports: the name, else the kind.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.kind().as_str().to_owned())
    }

    /// Whether the HTTP or the TCP proxy runs this fault.
    pub fn layer(&self) -> Layer {
        self.kind().layer()
    }
}

/// The default piece size of `slow_body`: small enough that a short JSON answer still
/// comes in several pieces.
pub const DEFAULT_CHUNK_SIZE: ByteSize = ByteSize(64);

/// Probability 1, the default: every eligible request or connection is hit.
pub(super) fn certain() -> Probability {
    Probability::new(1.0).unwrap_or_else(|_| unreachable!("1 lies in 0..=1"))
}

/// A file of faults: `[[fault]]` tables and nothing else.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// The faults, in list order: the order in which they compose (see
    /// [`crate::fault::COMPOSITION`]).
    #[serde(default)]
    pub fault: Vec<FaultSpec>,
}

impl FaultFile {
    /// Parses a TOML fault file; errors carry line and column.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::delay::Distribution;

    fn parse(text: &str) -> Result<Vec<FaultSpec>, String> {
        FaultFile::from_toml(text)
            .map(|f| f.fault)
            .map_err(|e| e.to_string())
    }

    fn one(text: &str) -> FaultSpec {
        let mut faults = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(faults.len(), 1);
        faults.remove(0)
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("the fault should be refused")
    }

    #[test]
    fn the_documented_example_parses() {
        let spec = one(r#"
            [[fault]]
            name = "executor-outage"
            at = "dependency"
            kind = "http_error"
            status = 429
            body = "slow down"
            headers = { "Retry-After" = "1" }
            probability = 0.3
            first_attempts = 2
            first_requests = 100
            start = "2s"
            duration = "2s"
            repeat = "10s"
            match = { method = "POST", path_prefix = "/execute", header = { name = "x-feature-use_dagger_workflow_engine", value = "true" } }
        "#);
        assert_eq!(spec.label(), "executor-outage");
        assert_eq!(spec.layer(), Layer::Http);
        assert_eq!(
            spec.action,
            FaultAction::HttpError {
                status: 429,
                body: "slow down".into(),
                headers: BTreeMap::from([("Retry-After".into(), "1".into())]),
            }
        );
        assert_eq!(spec.probability.get(), 0.3);
        assert_eq!(spec.first_attempts, Some(2));
        assert_eq!(spec.first_requests, Some(100));
        assert_eq!(
            spec.schedule,
            Schedule {
                start: Duration::from_secs(2),
                duration: Some(Duration::from_secs(2)),
                repeat: Some(Duration::from_secs(10)),
            }
        );
        assert_eq!(spec.matcher.method.as_deref(), Some("POST"));
    }

    #[test]
    fn every_kind_parses_with_its_keys_and_defaults() {
        let spec = one("[[fault]]\nkind = \"latency\"\nlatency = \"100ms\"\njitter = \"20ms\"");
        assert_eq!(spec.at, FaultSite::Dependency);
        assert_eq!(spec.probability.get(), 1.0);
        assert_eq!(spec.schedule, Schedule::ALWAYS);
        assert_eq!(
            spec.action,
            FaultAction::Latency(Delay::Fixed {
                latency: Duration::from_millis(100),
                jitter: Duration::from_millis(20),
            })
        );
        let spec = one(
            "[[fault]]\nkind = \"tcp_latency\"\ndirection = \"both\"\ndistribution = { kind = \"pareto\", scale = \"10ms\", shape = 1.5 }",
        );
        assert!(matches!(
            spec.action,
            FaultAction::TcpLatency {
                delay: Delay::Random(Distribution::Pareto { .. }),
                direction: Direction::Both
            }
        ));
        let spec = one("[[fault]]\nkind = \"bandwidth\"\nrate = \"64KiB\"");
        assert_eq!(
            spec.action,
            FaultAction::Bandwidth {
                rate: ByteSize(65_536),
                direction: Direction::Downstream
            }
        );
        let spec = one("[[fault]]\nkind = \"slow_body\"\nchunk_delay = \"10ms\"");
        assert_eq!(
            spec.action,
            FaultAction::SlowBody {
                chunk_delay: Duration::from_millis(10),
                chunk_size: DEFAULT_CHUNK_SIZE
            }
        );
        for (kind, extra) in [
            ("abort", ""),
            ("blackhole", ""),
            ("truncate", "bytes = 10"),
            ("reset_peer", ""),
            (
                "reset_peer",
                "timeout = \"300ms\"\ndirection = \"upstream\"",
            ),
            ("timeout", ""),
            ("timeout", "timeout = \"500ms\""),
            (
                "slicer",
                "average_size = 64\nsize_variation = 32\ndelay = \"10us\"",
            ),
            ("tcp_blackhole", ""),
            ("slow_close", "delay = \"1s\""),
            ("limit_data", "bytes = \"1KiB\""),
            ("down", "start = \"1s\"\nduration = \"1s\""),
        ] {
            let spec = one(&format!("[[fault]]\nkind = \"{kind}\"\n{extra}"));
            assert_eq!(spec.kind().as_str(), kind);
        }
    }

    #[test]
    fn specs_round_trip_through_toml() {
        let text = r#"
            [[fault]]
            name = "a"
            kind = "http_error"
            status = 503
            headers = { "Retry-After" = "1" }
            probability = 0.25
            start = "1s"
            duration = "2s"
            repeat = "5s"
            match = { path_prefix = "/x" }

            [[fault]]
            kind = "tcp_latency"
            latency = "5ms"
            jitter = "1ms"
            direction = "upstream"

            [[fault]]
            kind = "latency"
            distribution = { kind = "lognormal", median = "50ms", sigma = 0.5 }

            [[fault]]
            kind = "slicer"
            average_size = 64
            size_variation = 8
            delay = "1ms"
            direction = "both"

            [[fault]]
            kind = "timeout"
            timeout = "2s"

            [[fault]]
            name = "rst"
            kind = "reset_peer"
            timeout = "0s"

            [[fault]]
            name = "close"
            kind = "slow_close"
            delay = "1s"
            direction = "downstream"
        "#;
        let file = FaultFile::from_toml(text).expect("parses");
        let written = toml::to_string(&file).expect("serialises");
        let again = FaultFile::from_toml(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(file, again);
        for spec in &file.fault {
            assert_eq!(spec.validate(), Ok(()));
        }
    }

    #[test]
    fn probability_outside_zero_one_is_refused_at_the_value() {
        let e = error("[[fault]]\nkind = \"abort\"\nprobability = 1.3\n");
        assert!(e.contains("between 0 and 1"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn status_outside_100_599_is_refused() {
        for bad in ["700", "99", "-1", "70000"] {
            let e = error(&format!(
                "[[fault]]\nkind = \"http_error\"\nstatus = {bad}\n"
            ));
            assert!(e.contains("between 100 and 599"), "{e}");
            assert!(e.contains("line 3"), "{e}");
        }
    }

    #[test]
    fn status_on_another_kind_is_refused_naming_the_right_kind() {
        let e = error("[[fault]]\nkind = \"latency\"\nlatency = \"1s\"\nstatus = 503\n");
        assert!(
            e.contains("`status` does not apply to kind `latency`"),
            "{e}"
        );
        assert!(e.contains("`http_error`"), "{e}");
    }

    #[test]
    fn missing_required_keys_are_named_with_an_example() {
        for (text, needle) in [
            ("[[fault]]\nstatus = 503", "needs `kind`"),
            ("[[fault]]\nkind = \"http_error\"", "needs `status`"),
            ("[[fault]]\nkind = \"latency\"", "needs `latency`"),
            ("[[fault]]\nkind = \"bandwidth\"", "needs `rate`"),
            ("[[fault]]\nkind = \"limit_data\"", "needs `bytes`"),
            ("[[fault]]\nkind = \"truncate\"", "needs `bytes`"),
            ("[[fault]]\nkind = \"slow_body\"", "needs `chunk_delay`"),
            ("[[fault]]\nkind = \"slow_close\"", "needs `delay`"),
        ] {
            let e = error(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn toxiproxy_kinds_take_their_attributes_and_defaults() {
        let spec = one("[[fault]]\nkind = \"timeout\"\ntimeout = \"0s\"");
        assert_eq!(
            spec.action,
            FaultAction::Timeout {
                timeout: None,
                direction: Direction::Downstream
            },
            "0 never closes"
        );
        let spec = one("[[fault]]\nkind = \"reset_peer\"");
        assert_eq!(
            spec.action,
            FaultAction::ResetPeer {
                timeout: None,
                direction: Direction::Downstream
            },
            "without a timeout: on accept"
        );
        let spec = one("[[fault]]\nkind = \"slow_close\"\ndelay = \"1s\"");
        assert!(matches!(
            spec.action,
            FaultAction::SlowClose {
                direction: Direction::Both,
                ..
            }
        ));
        let e = error("[[fault]]\nkind = \"slicer\"\ndelay = \"1ms\"\n");
        assert!(e.contains("needs `average_size`"), "{e}");
        let e = error("[[fault]]\nkind = \"slicer\"\naverage_size = 8\nsize_variation = 8\n");
        assert!(e.contains("smaller than `average_size`"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = error("[[fault]]\nkind = \"slicer\"\naverage_size = 0\n");
        assert!(e.contains("at least 1 byte"), "{e}");
        let e = error("[[fault]]\nkind = \"bandwidth\"\nrate = 1\ntimeout = \"1s\"\n");
        assert!(
            e.contains("`timeout` does not apply to kind `bandwidth`"),
            "{e}"
        );
        assert!(e.contains("`reset_peer`, `timeout`"), "{e}");
    }

    #[test]
    fn zero_repeat_and_other_bad_schedules_are_refused() {
        let e = error("[[fault]]\nkind = \"abort\"\nduration = \"1s\"\nrepeat = \"0s\"\n");
        assert!(e.contains("greater than zero"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let e = error("[[fault]]\nkind = \"abort\"\nrepeat = \"5s\"\n");
        assert!(e.contains("`repeat` needs a `duration`"), "{e}");
        let e = error("[[fault]]\nkind = \"abort\"\nduration = \"5s\"\nrepeat = \"5s\"\n");
        assert!(e.contains("never closes"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_everywhere() {
        let e = error("[[fault]]\nkind = \"abort\"\nprobabilty = 0.3\n");
        assert!(e.contains("unknown field `probabilty`"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        let e = error("[[fault]]\nkind = \"abort\"\nmatch = { methd = \"GET\" }\n");
        assert!(e.contains("unknown field `methd`"), "{e}");
        let e = error(
            "[[fault]]\nkind = \"latency\"\ndistribution = { kind = \"lognormal\", median = \"1ms\", sigma = 1, mean = 2 }\n",
        );
        assert!(e.contains("unknown field `mean`"), "{e}");
        let e = error("[[fault]]\nkind = \"teleport\"\n");
        assert!(e.contains("unknown variant `teleport`"), "{e}");
        let e = error("[[faults]]\nkind = \"abort\"\n");
        assert!(e.contains("unknown field `faults`"), "{e}");
    }

    #[test]
    fn http_only_keys_are_refused_on_tcp_faults() {
        let e = error("[[fault]]\nkind = \"reset_peer\"\nmatch = { method = \"GET\" }\n");
        assert!(e.contains("HTTP faults only"), "{e}");
        let e = error("[[fault]]\nkind = \"reset_peer\"\nfirst_attempts = 2\n");
        assert!(e.contains("request ids"), "{e}");
        let e = error("[[fault]]\nkind = \"down\"\nprobability = 0.5\n");
        assert!(e.contains("no `probability`"), "{e}");
    }

    #[test]
    fn inconsistent_values_are_refused() {
        for (text, needle) in [
            (
                "[[fault]]\nkind = \"latency\"\nlatency = \"1s\"\ndistribution = { kind = \"pareto\", scale = \"1ms\", shape = 2 }",
                "not both",
            ),
            (
                "[[fault]]\nkind = \"latency\"\njitter = \"1s\"\ndistribution = { kind = \"pareto\", scale = \"1ms\", shape = 2 }",
                "`jitter` goes with",
            ),
            (
                "[[fault]]\nkind = \"latency\"\ndistribution = { kind = \"pareto\", scale = \"1ms\", shape = 0 }",
                "shape",
            ),
            (
                "[[fault]]\nkind = \"abort\"\nfirst_attempts = 0",
                "at least 1",
            ),
            (
                "[[fault]]\nkind = \"bandwidth\"\nrate = 0",
                "at least 1 byte",
            ),
            (
                "[[fault]]\nkind = \"bandwidth\"\nrate = \"fast\"",
                "not a byte size",
            ),
            (
                "[[fault]]\nkind = \"abort\"\nmatch = { path_prefix = \"execute\" }",
                "must start with `/`",
            ),
            (
                "[[fault]]\nkind = \"http_error\"\nstatus = 503\nheaders = { \"Bad Name\" = \"1\" }",
                "not a header name",
            ),
        ] {
            let e = error(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn layers_split_http_and_tcp_kinds() {
        let http: Vec<_> = FaultKind::ALL
            .iter()
            .filter(|k| k.layer() == Layer::Http)
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            http,
            [
                "latency",
                "http_error",
                "abort",
                "blackhole",
                "truncate",
                "slow_body"
            ]
        );
    }
}
