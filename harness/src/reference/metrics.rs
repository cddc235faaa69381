//! Counters of one reference platform instance and their Prometheus text exposition.
//!
//! Plain atomics indexed by small enums: recording costs one relaxed increment and no
//! allocation, and each platform instance owns its counters (tests run several at once).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::breaker::{BreakerState, Transitions};

/// Which implementation served a request, chosen by the feature-flag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServicePath {
    /// The legacy orchestration path: one direct dependency call.
    Legacy,
    /// The Dagger path: circuit breaker and retries.
    Dagger,
}

impl ServicePath {
    const ALL: [ServicePath; 2] = [ServicePath::Legacy, ServicePath::Dagger];

    /// The label value (`legacy`, `dagger`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Dagger => "dagger",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Legacy => 0,
            Self::Dagger => 1,
        }
    }
}

/// How one call to the dependency ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx answer, body read in time.
    Ok,
    /// A non-2xx answer or a transport error.
    Error,
    /// No complete answer within `dependency_timeout`.
    Timeout,
}

impl AttemptOutcome {
    const ALL: [AttemptOutcome; 3] = [
        AttemptOutcome::Ok,
        AttemptOutcome::Error,
        AttemptOutcome::Timeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Timeout => 2,
        }
    }
}

/// The JSON-RPC method of a request to the `/mcp` endpoint, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpMethod {
    /// `initialize`.
    Initialize,
    /// `notifications/initialized`.
    Initialized,
    /// `ping`.
    Ping,
    /// `tools/list`.
    ToolsList,
    /// `tools/call`.
    ToolsCall,
    /// `resources/list`.
    ResourcesList,
    /// `resources/templates/list`.
    ResourceTemplatesList,
    /// `resources/read`.
    ResourcesRead,
    /// `prompts/list`.
    PromptsList,
    /// `prompts/get`.
    PromptsGet,
    /// Any other method, a client's response, or a body that is no request at all.
    Other,
}

impl McpMethod {
    const ALL: [McpMethod; 11] = [
        McpMethod::Initialize,
        McpMethod::Initialized,
        McpMethod::Ping,
        McpMethod::ToolsList,
        McpMethod::ToolsCall,
        McpMethod::ResourcesList,
        McpMethod::ResourceTemplatesList,
        McpMethod::ResourcesRead,
        McpMethod::PromptsList,
        McpMethod::PromptsGet,
        McpMethod::Other,
    ];

    /// The method named `name`, [`McpMethod::Other`] when it is none of the known ones.
    pub fn of(name: &str) -> McpMethod {
        Self::ALL
            .into_iter()
            .find(|m| *m != McpMethod::Other && m.label() == name)
            .unwrap_or(McpMethod::Other)
    }

    /// The label value: the method's name, or `other`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Initialized => "notifications/initialized",
            Self::Ping => "ping",
            Self::ToolsList => "tools/list",
            Self::ToolsCall => "tools/call",
            Self::ResourcesList => "resources/list",
            Self::ResourceTemplatesList => "resources/templates/list",
            Self::ResourcesRead => "resources/read",
            Self::PromptsList => "prompts/list",
            Self::PromptsGet => "prompts/get",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a request to the `/mcp` endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpOutcome {
    /// A result (a notification or a client's response accepted).
    Ok,
    /// A tool's result with `isError: true` (the workflow failed, or the `fail` tool).
    ToolError,
    /// A JSON-RPC error answer (parse error, unknown method, bad params).
    RpcError,
    /// Refused at the transport before any method ran: foreign `Origin`, missing or
    /// unknown session, unacceptable `Accept`, unsupported protocol version.
    Refused,
}

impl McpOutcome {
    const ALL: [McpOutcome; 4] = [
        McpOutcome::Ok,
        McpOutcome::ToolError,
        McpOutcome::RpcError,
        McpOutcome::Refused,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::RpcError => "rpc_error",
            Self::Refused => "refused",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const MCP_METHODS: usize = McpMethod::ALL.len();
const MCP_OUTCOMES: usize = McpOutcome::ALL.len();

/// Statuses the execute endpoint answers with; anything else lands in the last slot.
const STATUSES: [u16; 6] = [202, 413, 500, 502, 503, 504];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len())
}

/// The counters of one platform instance.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; STATUS_SLOTS]; 2],
    attempts: [[AtomicU64; 3]; 2],
    retries: AtomicU64,
    /// Thread CPU time spent in each path's handlers, in nanoseconds.
    handler_cpu_ns: [AtomicU64; 2],
    /// Requests to `/mcp` by method, path and outcome.
    mcp_requests: [[[AtomicU64; MCP_OUTCOMES]; 2]; MCP_METHODS],
    /// Live MCP sessions.
    mcp_sessions: AtomicU64,
}

impl Metrics {
    /// Counts one answered execute request.
    pub fn request(&self, path: ServicePath, status: u16) {
        self.requests[path.index()][status_index(status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one call to the dependency.
    pub fn attempt(&self, path: ServicePath, outcome: AttemptOutcome) {
        self.attempts[path.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one retry (an attempt after the first) of the Dagger path, the only path
    /// that retries.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the thread CPU time one request's handler spent on `path`.
    pub fn handler_cpu(&self, path: ServicePath, cpu: Duration) {
        let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.handler_cpu_ns[path.index()].fetch_add(ns, Ordering::Relaxed);
    }

    /// Thread CPU time spent so far in `path`'s handlers.
    pub fn handler_cpu_time(&self, path: ServicePath) -> Duration {
        Duration::from_nanos(self.handler_cpu_ns[path.index()].load(Ordering::Relaxed))
    }

    /// Counts one request to `/mcp`.
    pub fn mcp_request(&self, method: McpMethod, path: ServicePath, outcome: McpOutcome) {
        self.mcp_requests[method.index()][path.index()][outcome.index()]
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Requests to `/mcp` so far of `method` on `path` that ended with `outcome`.
    pub fn mcp_requests(&self, method: McpMethod, path: ServicePath, outcome: McpOutcome) -> u64 {
        self.mcp_requests[method.index()][path.index()][outcome.index()].load(Ordering::Relaxed)
    }

    /// Sets the number of live MCP sessions.
    pub fn mcp_sessions(&self, live: usize) {
        self.mcp_sessions
            .store(u64::try_from(live).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Execute requests answered so far on `path` with `status`.
    pub fn requests(&self, path: ServicePath, status: u16) -> u64 {
        self.requests[path.index()][status_index(status)].load(Ordering::Relaxed)
    }

    /// Dependency calls so far on `path` that ended with `outcome`.
    pub fn attempts(&self, path: ServicePath, outcome: AttemptOutcome) -> u64 {
        self.attempts[path.index()][outcome.index()].load(Ordering::Relaxed)
    }

    /// Renders the Prometheus text exposition, with the Dagger path's breaker's view at
    /// scrape time.
    pub fn render(
        &self,
        breaker: BreakerState,
        transitions: Transitions,
        rejections: u64,
    ) -> String {
        let mut out = String::with_capacity(2048);
        // Writing into a String cannot fail, hence the ignored results below.
        out.push_str("# HELP harness_reference_requests_total Workflow execute requests answered, by path and status.\n");
        out.push_str("# TYPE harness_reference_requests_total counter\n");
        for path in ServicePath::ALL {
            for (i, status) in STATUSES.iter().enumerate() {
                let n = self.requests[path.index()][i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "harness_reference_requests_total{{path=\"{}\",status=\"{status}\"}} {n}",
                    path.label()
                );
            }
            let other = self.requests[path.index()][STATUSES.len()].load(Ordering::Relaxed);
            if other > 0 {
                let _ = writeln!(
                    out,
                    "harness_reference_requests_total{{path=\"{}\",status=\"other\"}} {other}",
                    path.label()
                );
            }
        }
        out.push_str("# HELP harness_reference_dependency_attempts_total Calls from the service to its dependency, by path and outcome.\n");
        out.push_str("# TYPE harness_reference_dependency_attempts_total counter\n");
        for path in ServicePath::ALL {
            for outcome in AttemptOutcome::ALL {
                let n = self.attempts(path, outcome);
                let _ = writeln!(
                    out,
                    "harness_reference_dependency_attempts_total{{path=\"{}\",outcome=\"{}\"}} {n}",
                    path.label(),
                    outcome.label()
                );
            }
        }
        out.push_str("# HELP harness_reference_handler_cpu_seconds_total Thread CPU time of every poll of the path's execute and task request handlers and of the workflow runs of its MCP tool calls, its CPU cost per call included; not the HTTP parsing and writing around them, the dependency's connection or the executor.\n");
        out.push_str("# TYPE harness_reference_handler_cpu_seconds_total counter\n");
        for path in ServicePath::ALL {
            let _ = writeln!(
                out,
                "harness_reference_handler_cpu_seconds_total{{path=\"{}\"}} {}",
                path.label(),
                self.handler_cpu_time(path).as_secs_f64()
            );
        }
        // Only the Dagger path retries and has a breaker; the legacy path's series are
        // exported as constant zeros so that a query templated per path finds one.
        out.push_str("# HELP harness_reference_retries_total Dependency attempts after a request's first, by path; only the Dagger path retries, the legacy path's series is always 0 so that a query per path finds a series.\n");
        out.push_str("# TYPE harness_reference_retries_total counter\n");
        for path in ServicePath::ALL {
            let n = match path {
                ServicePath::Legacy => 0,
                ServicePath::Dagger => self.retries.load(Ordering::Relaxed),
            };
            let _ = writeln!(
                out,
                "harness_reference_retries_total{{path=\"{}\"}} {n}",
                path.label()
            );
        }
        out.push_str("# HELP harness_reference_breaker_state Circuit breaker by path: 0 closed, 1 open, 2 half-open; only the Dagger path has one, the legacy path's series is always 0 so that a query per path finds a series.\n");
        out.push_str("# TYPE harness_reference_breaker_state gauge\n");
        for path in ServicePath::ALL {
            let gauge = match path {
                ServicePath::Legacy => 0,
                ServicePath::Dagger => breaker.gauge(),
            };
            let _ = writeln!(
                out,
                "harness_reference_breaker_state{{path=\"{}\"}} {gauge}",
                path.label()
            );
        }
        out.push_str("# HELP harness_reference_breaker_transitions_total Times a path's circuit breaker entered each state; only the Dagger path has one, the legacy path's series are always 0 so that a query per path finds a series.\n");
        out.push_str("# TYPE harness_reference_breaker_transitions_total counter\n");
        for path in ServicePath::ALL {
            for (to, n) in [
                (BreakerState::Open, transitions.to_open),
                (BreakerState::HalfOpen, transitions.to_half_open),
                (BreakerState::Closed, transitions.to_closed),
            ] {
                let n = match path {
                    ServicePath::Legacy => 0,
                    ServicePath::Dagger => n,
                };
                let _ = writeln!(
                    out,
                    "harness_reference_breaker_transitions_total{{path=\"{}\",to=\"{}\"}} {n}",
                    path.label(),
                    to.label()
                );
            }
        }
        out.push_str("# HELP harness_reference_breaker_rejections_total Requests failed fast by a path's open circuit breaker; only the Dagger path has one, the legacy path's series is always 0 so that a query per path finds a series.\n");
        out.push_str("# TYPE harness_reference_breaker_rejections_total counter\n");
        for path in ServicePath::ALL {
            let n = match path {
                ServicePath::Legacy => 0,
                ServicePath::Dagger => rejections,
            };
            let _ = writeln!(
                out,
                "harness_reference_breaker_rejections_total{{path=\"{}\"}} {n}",
                path.label()
            );
        }
        self.render_mcp(&mut out);
        process_metrics(&mut out);
        out
    }

    /// The `/mcp` endpoint's series.
    fn render_mcp(&self, out: &mut String) {
        out.push_str("# HELP harness_reference_mcp_requests_total Requests to the MCP endpoint, by JSON-RPC method, path (from the feature-flag header, or the tool's name) and outcome (ok, tool_error, rpc_error, refused).\n");
        out.push_str("# TYPE harness_reference_mcp_requests_total counter\n");
        for method in McpMethod::ALL {
            for path in ServicePath::ALL {
                for outcome in McpOutcome::ALL {
                    let _ = writeln!(
                        out,
                        "harness_reference_mcp_requests_total{{method=\"{}\",path=\"{}\",outcome=\"{}\"}} {}",
                        method.label(),
                        path.label(),
                        outcome.label(),
                        self.mcp_requests(method, path, outcome)
                    );
                }
            }
        }
        out.push_str("# HELP harness_reference_mcp_sessions Live MCP sessions (at most 10000; the oldest is ended to make room).\n");
        out.push_str("# TYPE harness_reference_mcp_sessions gauge\n");
        let _ = writeln!(
            out,
            "harness_reference_mcp_sessions {}",
            self.mcp_sessions.load(Ordering::Relaxed)
        );
    }
}

/// The harness process's CPU time and resident memory, as the official clients name
/// them, so that a direct scrape of the reference platform has process metrics to read.
/// Linux only (from `/proc/self`); elsewhere nothing is added.
fn process_metrics(out: &mut String) {
    #[cfg(target_os = "linux")]
    {
        if let Some(cpu) = proc_cpu_seconds() {
            out.push_str("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n");
            out.push_str("# TYPE process_cpu_seconds_total counter\n");
            let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
        }
        if let Some(rss) = proc_resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

/// User plus system time from `/proc/self/stat` (fields 14 and 15, in clock ticks).
#[cfg(target_os = "linux")]
fn proc_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_of(&stat, USER_HZ)
}

/// The unit of `/proc` CPU times: USER_HZ, which the kernel fixes at 100 per second on
/// every architecture harness builds for (what `sysconf(_SC_CLK_TCK)` answers there;
/// the crate forbids the `unsafe` a call would need).
#[cfg(target_os = "linux")]
const USER_HZ: f64 = 100.0;

/// The CPU seconds of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing one.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn cpu_seconds_of(stat: &str, ticks: f64) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: state (3), ..., utime (14), stime (15).
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// `VmRSS` from `/proc/self/status`, in bytes.
#[cfg(target_os = "linux")]
fn proc_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    resident_bytes_of(&status)
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status` text, in bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn resident_bytes_of(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_help_type_and_every_series() {
        let m = Metrics::default();
        m.request(ServicePath::Dagger, 503);
        m.request(ServicePath::Legacy, 418);
        m.attempt(ServicePath::Legacy, AttemptOutcome::Timeout);
        m.retry();
        m.handler_cpu(ServicePath::Dagger, Duration::from_micros(2_500));
        m.handler_cpu(ServicePath::Dagger, Duration::from_micros(500));
        m.mcp_request(
            McpMethod::of("tools/call"),
            ServicePath::Dagger,
            McpOutcome::ToolError,
        );
        m.mcp_request(
            McpMethod::of("resources/subscribe"),
            ServicePath::Legacy,
            McpOutcome::RpcError,
        );
        m.mcp_sessions(3);
        let text = m.render(
            BreakerState::HalfOpen,
            Transitions {
                to_open: 2,
                to_half_open: 1,
                to_closed: 0,
            },
            7,
        );
        for line in [
            "harness_reference_requests_total{path=\"dagger\",status=\"503\"} 1",
            "harness_reference_requests_total{path=\"legacy\",status=\"other\"} 1",
            "harness_reference_requests_total{path=\"legacy\",status=\"202\"} 0",
            "harness_reference_dependency_attempts_total{path=\"legacy\",outcome=\"timeout\"} 1",
            "harness_reference_handler_cpu_seconds_total{path=\"legacy\"} 0",
            "harness_reference_handler_cpu_seconds_total{path=\"dagger\"} 0.003",
            "# TYPE harness_reference_handler_cpu_seconds_total counter",
            "harness_reference_retries_total{path=\"dagger\"} 1",
            "harness_reference_retries_total{path=\"legacy\"} 0",
            "harness_reference_breaker_state{path=\"dagger\"} 2",
            "harness_reference_breaker_state{path=\"legacy\"} 0",
            "harness_reference_breaker_transitions_total{path=\"dagger\",to=\"open\"} 2",
            "harness_reference_breaker_transitions_total{path=\"dagger\",to=\"half_open\"} 1",
            "harness_reference_breaker_transitions_total{path=\"dagger\",to=\"closed\"} 0",
            "harness_reference_breaker_transitions_total{path=\"legacy\",to=\"open\"} 0",
            "harness_reference_breaker_transitions_total{path=\"legacy\",to=\"half_open\"} 0",
            "harness_reference_breaker_transitions_total{path=\"legacy\",to=\"closed\"} 0",
            "harness_reference_breaker_rejections_total{path=\"dagger\"} 7",
            "harness_reference_breaker_rejections_total{path=\"legacy\"} 0",
            "# TYPE harness_reference_breaker_state gauge",
            "harness_reference_mcp_requests_total{method=\"tools/call\",path=\"dagger\",outcome=\"tool_error\"} 1",
            "harness_reference_mcp_requests_total{method=\"tools/call\",path=\"legacy\",outcome=\"ok\"} 0",
            "harness_reference_mcp_requests_total{method=\"other\",path=\"legacy\",outcome=\"rpc_error\"} 1",
            "harness_reference_mcp_sessions 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        // Nine of the service, and the process's CPU and memory on Linux.
        let process = if cfg!(target_os = "linux") { 2 } else { 0 };
        assert_eq!((helps, types), (9 + process, 9 + process));
        let parsed = crate::metrics::exposition::Exposition::parse(&text).expect("parses");
        // Every series of the service names its path, so a query templated per path
        // (`{path="legacy"}`) finds each family on either path; MCP sessions are not
        // of a path (each request of a session names its own).
        for sample in parsed.samples.iter().filter(|s| {
            s.name.starts_with("harness_reference_") && s.name != "harness_reference_mcp_sessions"
        }) {
            let path = sample.labels.iter().find(|(name, _)| name == "path");
            assert!(
                path.is_some_and(|(_, v)| v == "legacy" || v == "dagger"),
                "{sample:?}"
            );
        }
        for family in [
            "harness_reference_retries_total",
            "harness_reference_breaker_state",
            "harness_reference_breaker_transitions_total",
            "harness_reference_breaker_rejections_total",
        ] {
            let help = text
                .lines()
                .find(|l| l.starts_with(&format!("# HELP {family} ")))
                .expect("HELP");
            assert!(
                help.contains("the legacy path's series"),
                "the zeros are explained: {help}"
            );
        }
        if cfg!(target_os = "linux") {
            for name in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
                let value = parsed
                    .samples
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| s.value);
                assert!(
                    value.is_some_and(|v| v > 0.0 || name.starts_with("process_cpu")),
                    "{name}: {value:?}"
                );
            }
        }
    }

    #[test]
    fn proc_fields_are_read_past_a_name_with_spaces() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 8 0 100 1000 300";
        assert_eq!(cpu_seconds_of(stat, 100.0), Some(3.0));
        assert_eq!(cpu_seconds_of("garbage", 100.0), None);
        let status = "Name:\tharness\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads: 8\n";
        assert_eq!(resident_bytes_of(status), Some(2048 * 1024));
        assert_eq!(resident_bytes_of("Name: x\n"), None);
    }
}
