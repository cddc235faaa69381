//! Path kinds: what runs a step on a path (an HTTP request, a local command, a Dagger
//! pipeline), one folder per kind behind one trait.
//!
//! A kind gives a [`ReadyPath`] (made once per scenario, before any drive: where a fault
//! proxy in front of it forwards, what it needs started) that makes a [`PathExecutor`]
//! per drive. The runner and the load drivers know only these two traits; [`ready`] is
//! the one place that maps a path's [`Target`] to its kind, and [`Shared`] starts what
//! the kinds share across paths.

pub mod command;
pub mod dagger;
pub mod http;
pub mod mcp;
pub(crate) mod samples;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::correlation::Correlation;
use crate::otlp::TelemetrySummary;
use crate::outcome::OutcomeClass;
pub use crate::scenario::PathKind;
use crate::scenario::{Flow, PathSpec, Scenario, Step, Target};
use crate::tls::TlsConfig;

/// What a step's action returned: a failure class, or the answer whose body the step's
/// extractions read (the HTTP body, or a command's stdout).
#[derive(Debug, Default)]
pub struct StepReply {
    /// Why the step failed, when it did.
    pub failure: Option<OutcomeClass>,
    /// The HTTP status, or the exit code.
    pub status: Option<u16>,
    /// The answer headers the step asked for (HTTP).
    pub headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
    /// The answer.
    pub body: Bytes,
}

impl StepReply {
    /// A failure of `class`, with the status or exit code when one is known.
    pub fn failed(class: OutcomeClass, status: Option<u16>) -> Self {
        Self {
            failure: Some(class),
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A success whose answer is `body`.
    pub fn ok(status: Option<u16>, body: Bytes) -> Self {
        Self {
            failure: None,
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// Who a step runs for: the virtual user (closed model) and the flow iteration, so that a
/// stateful kind (MCP sessions) can keep its state per user or per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The virtual user, in the closed model; `None` in the open model.
    pub user: Option<u64>,
    /// The iteration, unique within the drive.
    pub iteration: u64,
}

impl Scope {
    /// The scope of calls made outside any iteration (a parity pass): its own.
    pub const DETACHED: Scope = Scope {
        user: None,
        iteration: u64::MAX,
    };
}

/// Runs the steps of one path of one kind, during one drive.
///
/// `run` costs one boxed future per step (`async_trait`); everything else a kind needs
/// per request is its own business. A stateful kind also overrides the scoped hooks
/// ([`PathExecutor::run_in`], [`PathExecutor::skips`], [`PathExecutor::iteration_ended`],
/// [`PathExecutor::drive_ended`]); the load drivers always call those.
#[async_trait::async_trait]
pub trait PathExecutor: Send + Sync + fmt::Debug {
    /// Runs the action of `step` for this kind once, with the flow's variables `vars`,
    /// tagged with `request_id`, within `timeout`. A step without this kind's action, or
    /// whose variables are unset, is `check_failed`.
    async fn run(
        &self,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply;

    /// [`PathExecutor::run`] for `scope` (a user's or an iteration's state).
    async fn run_in(
        &self,
        scope: Scope,
        step: &Step,
        vars: &[Option<String>],
        request_id: u64,
        timeout: Duration,
    ) -> StepReply {
        let _ = scope;
        self.run(step, vars, request_id, timeout).await
    }

    /// True when `step` has nothing to do for `scope` and is not recorded: the session
    /// step of a session already open, or on a path of another kind.
    fn skips(&self, scope: Scope, step: &Step) -> bool {
        let _ = scope;
        step.is_session_step()
    }

    /// The iteration of `scope` ended (whatever its outcome). Synchronous, so a kind
    /// without per-iteration state costs the load driver nothing here; a kind that must
    /// send something (an MCP session's `DELETE`) spawns it and awaits it in
    /// [`PathExecutor::drive_ended`].
    fn iteration_ended(&self, scope: Scope) {
        let _ = scope;
    }

    /// The drive ended: no step runs any more (close what users kept open).
    async fn drive_ended(&self) {}

    /// Descriptions of the first failures, for the record's notes; the store is emptied.
    fn failure_samples(&self) -> Vec<String>;

    /// The base URL requests go to, for kinds that send HTTP to the service.
    fn base_url(&self) -> Option<&str> {
        None
    }
}

/// What one drive gives the kind to build its executor.
#[derive(Debug, Clone)]
pub struct DriveSetup<'a> {
    /// The scenario's flows.
    pub flows: &'a [Flow],
    /// The fault proxy's URL, when one stands between the client and the path's upstream.
    pub proxy_url: Option<String>,
    /// Request ids and trace context of this drive.
    pub correlation: Correlation,
    /// Connections kept idle per client.
    pub max_idle: usize,
    /// Seed of this repetition.
    pub seed: u64,
    /// The per-request timeout.
    pub timeout: Duration,
}

/// What a kind adds to a drive's record.
#[derive(Debug, Default)]
pub struct DriveExtras {
    /// Notes for the record.
    pub notes: Vec<String>,
    /// What a reader of the record must not miss (spans that did not arrive).
    pub warnings: Vec<String>,
    /// Telemetry received during the drive.
    pub telemetry: Option<TelemetrySummary>,
}

/// A path made ready once per scenario: it makes the executor of each of its drives.
#[async_trait::async_trait]
pub trait ReadyPath: Send + Sync + fmt::Debug {
    /// Where a fault proxy at the client forwards this path's traffic (none for kinds
    /// that send nothing over the network).
    fn upstream(&self) -> Option<String>;

    /// How the proxy trusts [`ReadyPath::upstream`] when it is `https://`.
    fn upstream_tls(&self) -> Option<&TlsConfig> {
        None
    }

    /// The executor of one drive.
    fn executor(&self, drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError>;

    /// A drive of this path is about to start, with the executor made from `drive`.
    fn drive_starting(&self, drive: &DriveSetup<'_>) {
        let _ = drive;
    }

    /// A drive of this path ended: what its record should add.
    async fn drive_finished(&self) -> DriveExtras {
        DriveExtras::default()
    }
}

/// Why a path cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The path's target cannot be prepared (a bad base URL, a header that cannot be sent).
    #[error("{0}")]
    Target(Box<dyn std::error::Error + Send + Sync>),
    /// A service the path needs cannot be reached: the path is skipped, never passed.
    #[error("{0}")]
    Unavailable(String),
}

/// What the scenario's paths share (the Dagger engine): asked for by [`ready`], started
/// once by [`Shared::start`] after every path's target was checked.
#[derive(Debug, Default)]
pub struct Shared {
    engine: dagger::EngineSlot,
}

impl Shared {
    /// Starts what the paths made ready so far asked for.
    pub async fn start(&self, scenario: &Scenario) -> Result<(), PathError> {
        self.engine.open(scenario).await
    }

    /// Stops what was started, once every path made ready with it is gone.
    pub async fn close(self) {
        self.engine.close().await;
    }
}

/// Makes `path` ready to drive: the one place a path's [`Target`] picks its kind
/// (`reference` is the embedded reference platform's URL, when it runs). What the path
/// needs started is asked of `shared`.
pub fn ready(
    path: &PathSpec,
    shared: &Shared,
    reference: Option<&str>,
) -> Result<Box<dyn ReadyPath>, PathError> {
    Ok(match &path.target {
        Target::Url(url) => Box::new(http::HttpPath::new(path, &url.resolved)?),
        Target::Reference => Box::new(http::HttpPath::new(path, reference.unwrap_or_default())?),
        Target::Command(target) => Box::new(command::CommandPath::new(target)),
        Target::Dagger(target) => Box::new(dagger::DaggerPath::new(target, &shared.engine)),
        Target::Mcp(target) => Box::new(mcp::McpPath::new(path, target, reference)?),
    })
}
