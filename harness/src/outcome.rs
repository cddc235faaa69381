//! The vocabulary between the load generator and the recorder: one [`Outcome`] per
//! request (its [`OutcomeClass`] and [`StepIndex`]) and one [`DriverReport`] per drive.
//!
//! This module sits at the bottom: it imports nothing from `load`, `record` or
//! `scenario`, so all of them can use it without importing each other.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a request ended. Serialised in snake case (`http_5xx`, `check_failed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeClass {
    /// The expected status arrived and every check passed.
    Ok,
    /// A 4xx status that the step did not expect.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// A 5xx status that the step did not expect.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Any other unexpected status, or a failed extraction from the body.
    CheckFailed,
    /// No complete answer within the scenario's per-request timeout.
    Timeout,
    /// The connection could not be established (refused, unreachable).
    Connect,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// Another transport failure (malformed answer, protocol error).
    Transport,
    /// The arrival could not start because `max_in_flight` requests were already running.
    Dropped,
    /// The service refused the credentials (HTTP 401 or 403 from a Dagger engine).
    Auth,
    /// A command or a Dagger exec ended with an exit code the step did not expect (the
    /// code is kept as the outcome's status), or was killed by a signal.
    ExecError,
    /// The Dagger engine answered with something the SDK could not unpack.
    Unpack,
    /// The Dagger SDK panicked while running the step; the panic was contained.
    Panic,
    /// No connection to the Dagger engine could be opened for the step.
    ConnectFailed,
    /// The TLS handshake failed (certificate not trusted, expired or for another name, an
    /// alert from the server, a server that does not speak TLS); the run's notes say which.
    Tls,
    /// The Dagger engine could not serve the query: it is shutting down, the session is
    /// closing, or its modules failed to load (HTTP 503 or 500 with a GraphQL error). The
    /// engine, not the pipeline, failed.
    EngineUnavailable,
    /// The Dagger engine refused the query as invalid GraphQL (HTTP 422, or another 4xx
    /// with a GraphQL error): a field or argument its schema lacks. A harness or scenario
    /// bug, not a failing pipeline; a comparison holding one is INCONCLUSIVE.
    QueryInvalid,
    /// An MCP tool answered with a result whose `isError` is true: the tool ran and
    /// reported a failure.
    ToolError,
    /// An MCP server answered a request with a JSON-RPC error object; its code and message
    /// are in the run's notes (`rpc_error -32602: Invalid params`).
    RpcError,
    /// An MCP exchange broke the protocol: malformed JSON-RPC, an unexpected message, no
    /// session id from `initialize`, or an SSE stream that ended before the answer.
    Protocol,
}

impl OutcomeClass {
    /// Every class, in a stable order (used for fixed-size counters).
    pub const ALL: [OutcomeClass; 20] = [
        OutcomeClass::Ok,
        OutcomeClass::Http4xx,
        OutcomeClass::Http5xx,
        OutcomeClass::CheckFailed,
        OutcomeClass::Timeout,
        OutcomeClass::Connect,
        OutcomeClass::Reset,
        OutcomeClass::Transport,
        OutcomeClass::Dropped,
        OutcomeClass::Auth,
        OutcomeClass::ExecError,
        OutcomeClass::Unpack,
        OutcomeClass::Panic,
        OutcomeClass::ConnectFailed,
        OutcomeClass::Tls,
        OutcomeClass::EngineUnavailable,
        OutcomeClass::QueryInvalid,
        OutcomeClass::ToolError,
        OutcomeClass::RpcError,
        OutcomeClass::Protocol,
    ];

    /// Position in [`OutcomeClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for every class but `ok`.
    pub fn is_failure(self) -> bool {
        self != OutcomeClass::Ok
    }

    /// The snake-case name used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Ok => "ok",
            OutcomeClass::Http4xx => "http_4xx",
            OutcomeClass::Http5xx => "http_5xx",
            OutcomeClass::CheckFailed => "check_failed",
            OutcomeClass::Timeout => "timeout",
            OutcomeClass::Connect => "connect",
            OutcomeClass::Reset => "reset",
            OutcomeClass::Transport => "transport",
            OutcomeClass::Dropped => "dropped",
            OutcomeClass::Auth => "auth",
            OutcomeClass::ExecError => "exec_error",
            OutcomeClass::Unpack => "unpack",
            OutcomeClass::Panic => "panic",
            OutcomeClass::ConnectFailed => "connect_failed",
            OutcomeClass::Tls => "tls",
            OutcomeClass::EngineUnavailable => "engine_unavailable",
            OutcomeClass::QueryInvalid => "query_invalid",
            OutcomeClass::ToolError => "tool_error",
            OutcomeClass::RpcError => "rpc_error",
            OutcomeClass::Protocol => "protocol",
        }
    }

    /// The class of an answer with `status` that the step did not expect.
    pub fn for_unexpected_status(status: u16) -> Self {
        match status {
            400..=499 => OutcomeClass::Http4xx,
            500..=599 => OutcomeClass::Http5xx,
            _ => OutcomeClass::CheckFailed,
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index of a step in the scenario's flattened step list (flow by flow, step by step).
pub type StepIndex = u16;

/// The result of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Which step of which flow this request was.
    pub step: StepIndex,
    /// Intended start, as an offset from the start of the run (warmup included).
    pub intended: Duration,
    /// From the intended start to the end of the answer (or the failure).
    pub latency: Duration,
    /// How the request ended.
    pub class: OutcomeClass,
    /// HTTP status, when an answer arrived; for command and Dagger steps, the exit code.
    pub status: Option<u16>,
    /// The value sent in the `x-harness-request-id` header.
    pub request_id: u64,
}

/// How the driver itself did while driving one path once (the outcomes are in the recorder).
#[derive(Debug)]
pub struct DriverReport {
    /// Wall time from the start of the run (warmup included) to the end.
    pub elapsed: Duration,
    /// True when the stop signal ended the run early.
    pub interrupted: bool,
    /// Arrivals per second this run's schedule asked for in the measured window (open model).
    pub target_rate: Option<f64>,
    /// Iterations started per second in the measured window.
    pub achieved_rate: f64,
    /// 99th percentile of how late the generator started arrivals, in µs (open model).
    pub dispatch_lag_p99_us: Option<u64>,
    /// Arrivals refused because `max_in_flight` were running (measured window).
    pub dropped: u64,
    /// What the driver wants the reader of the record to know.
    pub notes: Vec<String>,
}
