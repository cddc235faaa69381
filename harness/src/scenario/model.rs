//! The validated scenario: plain, typed values that the drivers consume.
//!
//! A [`Scenario`] only exists after the whole file has parsed and validated
//! (see `scenario::parse`), so nothing downstream re-checks what is here.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::expect::ExpectSpec;
use crate::fault::FaultSpec;
use crate::outcome::StepIndex;
use crate::policy::Policy;
use crate::reference::ReferenceConfig;
use crate::tls::TlsConfig;
use crate::units::Rate;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name, used in file names and reports.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Migration phases this scenario belongs to.
    pub phases: Vec<u8>,
    /// Platform component the scenario exercises (ties it to a feature flag).
    pub component: Option<String>,
    /// Every random choice derives from this seed.
    pub seed: u64,
    /// The file the scenario came from.
    pub source: PathBuf,
    /// The paths, base path first, then the candidate (if any), then the rest by name.
    pub paths: Vec<PathSpec>,
    /// Name of the base path (default `legacy`).
    pub base: String,
    /// Name of the candidate path (default `dagger`), when the scenario has one.
    pub candidate: Option<String>,
    /// How load is generated.
    pub load: LoadSpec,
    /// The flows; one iteration runs the steps of one flow, chosen by weight.
    pub flows: Vec<Flow>,
    /// Settings of the embedded reference platform (used when a path targets it).
    pub reference: ReferenceConfig,
    /// Decision thresholds (defaults, or the file's `[policy]`).
    pub policy: Policy,
    /// Faults injected during every run, in order of precedence.
    pub faults: Vec<FaultSpec>,
    /// Resilience expectations judged on what the faults showed.
    pub expect: ExpectSpec,
    /// Where the dependency proxy listens and forwards, for a running service.
    pub dependency: Option<DependencyProxy>,
    /// `[parity]`: compare the base and the candidate path's answers, when given.
    pub parity: Option<super::parity::ParitySpec>,
    /// `prometheus`: where the `[[metric]]` queries go, when given.
    pub prometheus: Option<super::metric_rules::PrometheusSpec>,
    /// Hex SHA-256 of the canonical scenario, secrets excluded.
    pub hash: String,
}

impl Scenario {
    /// The path called `name`.
    pub fn path(&self, name: &str) -> Option<&PathSpec> {
        self.paths.iter().find(|p| p.name == name)
    }

    /// Every step of every flow, in [`StepIndex`] order.
    pub fn steps(&self) -> impl Iterator<Item = (&Flow, &Step)> {
        self.flows
            .iter()
            .flat_map(|f| f.steps.iter().map(move |s| (f, s)))
    }

    /// Number of steps over all flows.
    pub fn step_count(&self) -> usize {
        self.flows.iter().map(|f| f.steps.len()).sum()
    }

    /// What a reader of a run of `path` must not miss (certificates not verified); each
    /// run record carries these, and every report format shows them.
    pub fn warnings(&self, path: &str) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(why) = self.path(path).and_then(|p| p.stand_in.as_ref()) {
            warnings.push(why.clone());
        }
        if self.path(path).is_some_and(PathSpec::skips_verification) {
            warnings.push(format!(
                "path `{path}`: insecure_skip_verify = true: the service's TLS certificate was not verified, so any server could have answered these requests"
            ));
        }
        let dependency_faulted = self
            .faults
            .iter()
            .any(|f| f.at == crate::fault::FaultSite::Dependency);
        let dependency_insecure = self
            .dependency
            .as_ref()
            .and_then(|d| d.tls.as_ref())
            .is_some_and(TlsConfig::is_insecure);
        if dependency_faulted && dependency_insecure {
            warnings.push(
                "[dependency]: insecure_skip_verify = true: the fault proxy did not verify the dependency's TLS certificate".into(),
            );
        }
        warnings
    }

    /// True when some path targets the embedded reference platform.
    pub fn needs_reference(&self) -> bool {
        self.paths.iter().any(|p| p.target.on_reference())
    }
}

/// The fault proxy in front of a running service's dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyProxy {
    /// Where the proxy listens (the service must be configured to call this).
    pub listen: std::net::SocketAddr,
    /// The real dependency, `http://host:port` or `https://host:port` (or `host:port`
    /// for TCP faults).
    pub upstream: String,
    /// A further header every request carries its id in, for a service that forwards a
    /// correlation header of its own choosing (see [`crate::correlation`]).
    pub request_id_header: Option<http::HeaderName>,
    /// How the proxy trusts an `https://` upstream (the system roots unless the table's
    /// `tls` says otherwise); `None` for a plain upstream.
    pub tls: Option<TlsConfig>,
}

/// One way to reach the service (legacy, dagger, ...).
#[derive(Debug, Clone)]
pub struct PathSpec {
    /// Path name (`legacy`, `dagger`, ...).
    pub name: String,
    /// Where requests go.
    pub target: Target,
    /// Headers sent with every request of this path (feature flags, auth).
    pub headers: Vec<Header>,
    /// How an `https://` base URL's server is trusted (the system roots unless the path's
    /// `tls` table says otherwise); `None` for plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Why the reference platform stands in for the service `base_url` names (its
    /// environment variables are unset); a warning in every record of the path.
    pub stand_in: Option<String>,
    /// The service's Prometheus/OpenMetrics endpoints, scraped around and during each run.
    pub metrics: Vec<MetricsEndpoint>,
    /// Series to record from them (`process_cpu_seconds_total`); empty records every one.
    pub metrics_series: Vec<String>,
    /// `metric_labels`: what the `[[metric]]` templates fill in for this path
    /// (`{{service}}`), `${ENV}` resolved.
    pub metric_labels: std::collections::BTreeMap<String, String>,
}

/// A Prometheus endpoint of the system under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// `"reference"`: the embedded reference platform's `/metrics`.
    Reference,
    /// A full `http://` or `https://` URL, `${ENV}` resolved.
    Url(Interpolated),
}

impl MetricsEndpoint {
    /// As written in the scenario (safe to record).
    pub fn written(&self) -> &str {
        match self {
            Self::Reference => "reference",
            Self::Url(url) => &url.template,
        }
    }
}

impl PathSpec {
    /// What the path measures, to tell a baseline of one system from a run of another:
    /// `reference`, `command`, `dagger`, or the base URL as written with a digest of the
    /// resolved one (`${ORCH_URL} sha256:1a2b3c4d5e6f`): an interpolated host may be a
    /// secret, so only its digest is kept.
    pub fn target_identity(&self) -> String {
        match &self.target {
            Target::Reference => "reference".into(),
            Target::Command(_) => "command".into(),
            Target::Dagger(_) => "dagger".into(),
            Target::Mcp(target) => match &target.transport {
                McpTransport::Http(url) => format!("mcp {}", url_identity(url)),
                McpTransport::Reference => "mcp reference".into(),
                McpTransport::Stdio { argv, .. } => format!("mcp {}", argv.join(" ")),
            },
            Target::Url(url) => url_identity(url),
        }
    }

    /// True when the path's requests skip certificate verification.
    pub fn skips_verification(&self) -> bool {
        self.tls.as_ref().is_some_and(TlsConfig::is_insecure)
    }
}

/// A URL as written with a digest of the resolved one (`${ORCH_URL} sha256:1a2b3c4d5e6f`).
fn url_identity(url: &Interpolated) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(url.resolved.trim_end_matches('/').as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{} sha256:{hex}", url.template)
}

/// Where a path sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A running service; the URL may carry a path prefix.
    Url(Interpolated),
    /// The embedded reference platform, started by the harness.
    Reference,
    /// Local commands, one per step: the legacy way a pipeline step ran.
    Command(CommandTarget),
    /// Pipelines on a Dagger engine, through dagger-sdk.
    Dagger(DaggerTarget),
    /// An MCP server, spoken to as a client.
    Mcp(McpTarget),
}

impl Target {
    /// Whether the path runs on the embedded reference platform (its HTTP API or its
    /// `/mcp`).
    pub fn on_reference(&self) -> bool {
        matches!(
            self,
            Target::Reference
                | Target::Mcp(McpTarget {
                    transport: McpTransport::Reference,
                    ..
                })
        )
    }

    /// The kind of path, as written in `kind = "..."`.
    pub fn kind(&self) -> PathKind {
        match self {
            Target::Url(_) | Target::Reference => PathKind::Http,
            Target::Command(_) => PathKind::Command,
            Target::Dagger(_) => PathKind::Dagger,
            Target::Mcp(_) => PathKind::Mcp,
        }
    }
}

/// What a path runs for each step.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// HTTP requests (the default).
    Http,
    /// A local command per step.
    Command,
    /// A Dagger pipeline per step.
    Dagger,
    /// One MCP request per step (the client side of the Model Context Protocol).
    Mcp,
}

impl PathKind {
    /// Every kind, in the order steps list their actions.
    pub const ALL: [PathKind; 4] = [
        PathKind::Http,
        PathKind::Command,
        PathKind::Dagger,
        PathKind::Mcp,
    ];

    /// The name used in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::Http => "http",
            PathKind::Command => "command",
            PathKind::Dagger => "dagger",
            PathKind::Mcp => "mcp",
        }
    }
}

/// How a `kind = "command"` path runs its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTarget {
    /// Working directory (relative paths resolved against the scenario file's folder).
    pub workdir: PathBuf,
    /// Extra environment variables (values may hold secrets).
    pub env: Vec<(String, Interpolated)>,
}

/// How a `kind = "dagger"` path reaches and uses the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaggerTarget {
    /// Longest wait for the engine session to open.
    pub connect_timeout: Duration,
    /// Receive the engine's OpenTelemetry spans (per-step latency, cache hits).
    pub telemetry: bool,
    /// Whether steps may be answered from the engine's cache.
    pub cache: CachePolicy,
}

/// How a `kind = "mcp"` path reaches its server and scopes its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpTarget {
    /// Streamable HTTP at a URL, or a local server over stdio.
    pub transport: McpTransport,
    /// Who shares a session.
    pub session: SessionScope,
}

/// Where an MCP server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// `url = "..."`: streamable HTTP (`${ENV}` resolved).
    Http(Interpolated),
    /// `target = "reference"`: the embedded reference platform's `/mcp`.
    Reference,
    /// `command = [...]`: a child process per session, speaking JSON-RPC on its
    /// stdin/stdout (`${ENV}` resolved).
    Stdio {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Where it runs: the scenario file's folder.
        workdir: PathBuf,
    },
}

/// Who shares one MCP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// One session per virtual user, kept across its iterations (closed model; in the
    /// open model, where there are no users, one per iteration).
    #[default]
    User,
    /// One session per flow iteration, closed when the iteration ends.
    Iteration,
}

/// Whether Dagger steps may hit the engine's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachePolicy {
    /// Let the engine reuse cached results (warm runs).
    #[default]
    Use,
    /// Make every exec unique, so that every iteration runs cold.
    Bust,
}

/// A header name and its (possibly secret) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-case header name.
    pub name: http::HeaderName,
    /// The value, template and resolved.
    pub value: Interpolated,
}

/// A string as written (`template`, safe to show) and with `${ENV}` resolved (`resolved`,
/// which may hold a secret and never reaches a record, report or log).
#[derive(Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// As written in the file, e.g. `Bearer ${API_TOKEN}`.
    pub template: String,
    /// With environment variables substituted.
    pub resolved: String,
}

impl Interpolated {
    /// A value with nothing to interpolate.
    pub fn plain(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            template: text.clone(),
            resolved: text,
        }
    }

    /// True when the template interpolated an environment variable.
    pub fn has_secret(&self) -> bool {
        self.template != self.resolved
    }

    /// What interpolation put in: the resolved value without the text it shares with
    /// the template at either end (`s3cr3t` of `Bearer ${TOKEN}`), for redaction.
    pub fn secret_part(&self) -> String {
        let (t, r) = (self.template.as_bytes(), self.resolved.as_bytes());
        let prefix = t.iter().zip(r).take_while(|(a, b)| a == b).count();
        let suffix = t[prefix..]
            .iter()
            .rev()
            .zip(r[prefix..].iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        String::from_utf8_lossy(&r[prefix..r.len() - suffix]).into_owned()
    }
}

impl fmt::Debug for Interpolated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the template: the resolved value may be a secret.
        write!(f, "{:?}", self.template)
    }
}

/// How load is generated.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// Open (arrival rate) or closed (users).
    pub model: LoadModel,
    /// Measured part of the run (after warmup).
    pub duration: Duration,
    /// Run before measuring; excluded from every statistic.
    pub warmup: Duration,
    /// Runs per path.
    pub repetitions: u32,
    /// Per-request timeout; a request past it is classed `timeout`.
    pub timeout: Duration,
    /// Most requests in flight at once (open model); arrivals beyond it are `dropped`.
    pub max_in_flight: usize,
}

/// Open or closed workload model.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// Arrivals at a rate, independent of how fast the service answers.
    Open {
        /// Starting (and, without stages, constant) arrival rate.
        rate: Rate,
        /// Linear ramps applied one after another from the start of the run.
        stages: Vec<Stage>,
        /// Spacing of arrivals.
        spacing: Spacing,
    },
    /// A fixed number of users looping over flows.
    Closed {
        /// Concurrent users.
        users: u32,
        /// Pause between two iterations of one user.
        think_time: Duration,
        /// Users started per second (all at once when absent).
        ramp_up_rate: Option<Rate>,
    },
}

/// A linear ramp of the arrival rate to `rate` over `over`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Rate reached at the end of the stage.
    pub rate: Rate,
    /// Length of the ramp.
    pub over: Duration,
}

/// Spacing of arrivals in the open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spacing {
    /// Evenly spaced at 1/rate.
    #[default]
    Uniform,
    /// Exponential gaps (a Poisson process) drawn from the seed.
    Poisson,
}

/// A weighted sequence of steps.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Flow name, unique in the scenario.
    pub name: String,
    /// Relative weight when choosing a flow for an iteration.
    pub weight: u32,
    /// The steps, run one after another.
    pub steps: Vec<Step>,
    /// Names of the variables that steps of this flow extract, by slot.
    pub vars: Vec<String>,
}

/// One step of a flow: what it does on each kind of path, and what it extracts.
///
/// A step has the action of every kind of path the scenario has (validated), so that
/// the same flow runs on the legacy path and on the Dagger path and their steps compare
/// row by row.
#[derive(Debug, Clone)]
pub struct Step {
    /// Step name, unique in its flow.
    pub name: String,
    /// Position in the scenario's flattened step list.
    pub index: StepIndex,
    /// What the step does on each kind of path the scenario has, at most one per kind
    /// (see [`Step::action`]).
    pub actions: Vec<StepAction>,
    /// Accepted exit codes of commands and Dagger execs; empty means 0.
    pub expect_exit: Vec<i32>,
    /// Values taken from the answer (a JSON pointer into the HTTP body or stdout, or an
    /// HTTP header) into flow variables.
    pub extract: Vec<Extraction>,
    /// Checks the answer must pass to be `ok` (else `check_failed`, counted by name).
    pub checks: Vec<super::checks::Check>,
    /// Whether the step may be sent twice (idempotent); `safe = false` steps are never
    /// duplicated by parity sampling.
    pub safe: bool,
    /// Keep the whole answer (body and [`Step::keep_headers`]) even when no check or
    /// extraction reads it: set by the parity pass, which compares answers.
    pub keep_answer: bool,
    /// Answer headers to keep besides those checks and extractions read.
    pub keep_headers: Vec<http::HeaderName>,
}

impl Step {
    /// Whether the step only opens a session (an MCP `initialize`): it is not the
    /// iteration's client request that resilience observations join to the dependency's
    /// attempts.
    pub fn is_session(&self) -> bool {
        !self.actions.is_empty()
            && self
                .actions
                .iter()
                .all(|a| matches!(a, StepAction::Mcp(McpCall::Initialize)))
    }

    /// What the step does on a path of `kind`, when the scenario has such a path.
    pub fn action(&self, kind: PathKind) -> Option<&StepAction> {
        self.actions.iter().find(|a| a.kind() == kind)
    }

    /// The request, on HTTP paths.
    pub fn http(&self) -> Option<&HttpCall> {
        match self.action(PathKind::Http)? {
            StepAction::Http(call) => Some(call),
            _ => None,
        }
    }

    /// The argv, on command paths.
    pub fn command(&self) -> Option<&[Template]> {
        match self.action(PathKind::Command)? {
            StepAction::Command(argv) => Some(argv),
            _ => None,
        }
    }

    /// The pipeline, on Dagger paths.
    pub fn dagger(&self) -> Option<&DaggerCall> {
        match self.action(PathKind::Dagger)? {
            StepAction::Dagger(call) => Some(call),
            _ => None,
        }
    }

    /// The request, on MCP paths.
    pub fn mcp(&self) -> Option<&McpCall> {
        match self.action(PathKind::Mcp)? {
            StepAction::Mcp(call) => Some(call),
            _ => None,
        }
    }

    /// True for the `initialize` step validation puts first in the flows of a scenario
    /// with MCP paths (paths of other kinds skip it).
    pub fn is_session_step(&self) -> bool {
        matches!(
            self.actions.as_slice(),
            [StepAction::Mcp(McpCall::Initialize)]
        )
    }

    /// True when `status` passes this step's HTTP status check.
    pub fn accepts(&self, status: u16) -> bool {
        self.http().is_none_or(|h| h.accepts(status))
    }

    /// True when a command or Dagger exec ending with `code` passes.
    pub fn accepts_exit(&self, code: i32) -> bool {
        if self.expect_exit.is_empty() {
            code == 0
        } else {
            self.expect_exit.contains(&code)
        }
    }
}

/// What a step does on one kind of path.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// One HTTP request (`path`, `method`, `body`, `headers`, `expect_status`).
    Http(HttpCall),
    /// One local command: its argv (`command = [...]`).
    Command(Vec<Template>),
    /// One Dagger pipeline (`dagger = { ... }`).
    Dagger(DaggerCall),
    /// One MCP request (`mcp = "tools/call"`, ...).
    Mcp(McpCall),
}

impl StepAction {
    /// The kind of path this action runs on.
    pub fn kind(&self) -> PathKind {
        match self {
            StepAction::Http(_) => PathKind::Http,
            StepAction::Command(_) => PathKind::Command,
            StepAction::Dagger(_) => PathKind::Dagger,
            StepAction::Mcp(_) => PathKind::Mcp,
        }
    }
}

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct HttpCall {
    /// HTTP method.
    pub method: http::Method,
    /// Path and query, appended to the path's base URL.
    pub path: Template,
    /// Request body.
    pub body: Option<Template>,
    /// Step-specific headers.
    pub headers: Vec<(http::HeaderName, Template)>,
    /// Accepted statuses; empty means any 2xx.
    pub expect_status: Vec<u16>,
}

impl HttpCall {
    /// True when `status` passes the status check.
    pub fn accepts(&self, status: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect_status.contains(&status)
        }
    }
}

/// What an MCP step asks of the server.
#[derive(Debug, Clone)]
pub enum McpCall {
    /// `initialize` and `notifications/initialized`: the session's setup, a step of its
    /// own that validation puts first in every flow of a scenario with MCP paths.
    Initialize,
    /// `tools/list`.
    ListTools,
    /// `tools/call` of `tool` with `arguments`.
    CallTool {
        /// The tool's name.
        tool: String,
        /// Its arguments (a JSON object).
        arguments: JsonTemplate,
    },
    /// `resources/read` of `uri`.
    ReadResource {
        /// The resource's URI.
        uri: Template,
    },
    /// `prompts/get` of `prompt` with `arguments`.
    GetPrompt {
        /// The prompt's name.
        prompt: String,
        /// Its arguments (a JSON object of strings).
        arguments: JsonTemplate,
    },
}

impl McpCall {
    /// The JSON-RPC method, as written in `mcp = "..."`.
    pub fn method(&self) -> &'static str {
        match self {
            McpCall::Initialize => "initialize",
            McpCall::ListTools => "tools/list",
            McpCall::CallTool { .. } => "tools/call",
            McpCall::ReadResource { .. } => "resources/read",
            McpCall::GetPrompt { .. } => "prompts/get",
        }
    }
}

/// A JSON value whose strings may hold `${var}` flow variables; other values keep their
/// JSON type.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A string, rendered from flow variables.
    String(Template),
    /// A number, boolean or null, sent as is.
    Value(serde_json::Value),
    /// An array.
    Array(Vec<JsonTemplate>),
    /// An object, keys in file order.
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Renders with the current variable values; `None` when a variable is unset.
    pub fn render(&self, vars: &[Option<String>]) -> Option<serde_json::Value> {
        Some(match self {
            JsonTemplate::String(t) => serde_json::Value::String(t.render(vars)?),
            JsonTemplate::Value(v) => v.clone(),
            JsonTemplate::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|i| i.render(vars))
                    .collect::<Option<_>>()?,
            ),
            JsonTemplate::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.clone(), v.render(vars)?)))
                    .collect::<Option<_>>()?,
            ),
        })
    }

    /// The JSON as written (templates as their source), for the scenario's hash.
    pub fn written(&self) -> serde_json::Value {
        match self {
            JsonTemplate::String(t) => serde_json::Value::String(t.source.clone()),
            JsonTemplate::Value(v) => v.clone(),
            JsonTemplate::Array(items) => items.iter().map(JsonTemplate::written).collect(),
            JsonTemplate::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.written()))
                    .collect(),
            ),
        }
    }
}

/// What a Dagger step asks of the engine.
#[derive(Debug, Clone)]
pub enum DaggerCall {
    /// A container from an image, with variables and mounts, running one exec.
    Exec(DaggerExec),
    /// A module function called by name, then fields selected down to a leaf.
    Function {
        /// The function's path from the query root as written: `hello` (the entrypoint
        /// module's), or `myMod.fn` (a function of another module, through its field);
        /// the arguments go to the last segment.
        name: String,
        /// String arguments of the function.
        args: Vec<(String, Template)>,
        /// Fields selected on the result, in order, down to a leaf value.
        select: Vec<String>,
    },
}

/// `container().from(image)...withExec(args)` and the leaf read from it.
#[derive(Debug, Clone)]
pub struct DaggerExec {
    /// Image reference.
    pub from: Template,
    /// Environment variables of the container.
    pub env: Vec<(String, Template)>,
    /// Host directories mounted into the container: (container path, host path).
    pub mounts: Vec<(String, PathBuf)>,
    /// Working directory in the container.
    pub workdir: Option<String>,
    /// The exec's argv.
    pub exec: Vec<Template>,
    /// What the step reads back (the awaited leaf).
    pub output: DaggerOutput,
}

/// The leaf a Dagger exec step awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaggerOutput {
    /// The exec's stdout; a non-zero exit is an exec error.
    #[default]
    Stdout,
    /// The exec's stderr; a non-zero exit is an exec error.
    Stderr,
    /// The exec's exit code, checked against `expect_exit` (any code is a reply).
    ExitCode,
}

/// A value taken from a JSON answer by JSON pointer into a flow variable slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// Slot in [`Flow::vars`].
    pub slot: usize,
    /// The variable's name.
    pub name: String,
    /// Where the value comes from.
    pub source: super::checks::ExtractSource,
}

/// A string with `${var}` flow variables, pre-split so that rendering is cheap.
/// Environment variables are already substituted (so the parts may hold secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    /// As written in the file (safe to show).
    pub source: String,
    /// Literal text and variable slots, in order.
    pub parts: Vec<Part>,
}

/// A piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text sent as is.
    Literal(String),
    /// The value of a flow variable slot.
    Var(usize),
}

impl Template {
    /// A template that is only literal text.
    pub fn literal(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            source: text.clone(),
            parts: vec![Part::Literal(text)],
        }
    }

    /// True when the template needs no variables.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Renders with the current variable values; `None` when a variable is unset
    /// (its extraction failed earlier in the iteration).
    pub fn render(&self, vars: &[Option<String>]) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(slot) => out.push_str(vars.get(*slot)?.as_deref()?),
            }
        }
        Some(out)
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}
