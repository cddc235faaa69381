//! The engine a scenario's Dagger paths share: found, opened once, closed at the end;
//! with telemetry, an OTLP receiver the session exports its spans to.

use std::time::Duration;

use super::engine::{EngineEnv, EngineRoute, PathPolicy, discover};
use super::session::{CliOptions, EngineSession};
use crate::otlp::{DEFAULT_BIND, OtlpReceiver, TelemetrySummary};
use crate::scenario::{DaggerCall, DaggerTarget, Scenario, Target};

/// How long a run's spans must have stopped arriving before they count as all there:
/// one export interval of the session's exporter and a margin (a query's spans can
/// straddle two batches).
const TELEMETRY_QUIET: Duration =
    Duration::from_millis(crate::otlp::EXPORT_INTERVAL.as_millis() as u64 + 500);
/// The longest wait for a run's spans after the run: bounded, whatever the exporter does.
const TELEMETRY_DRAIN: Duration = Duration::from_secs(10);
/// How often the wait looks at what arrived.
const TELEMETRY_POLL: Duration = Duration::from_millis(100);

/// An open engine session for the runs of a scenario.
#[derive(Debug)]
pub struct DaggerEngine {
    session: EngineSession,
    telemetry: Option<OtlpReceiver>,
    notes: Vec<String>,
}

impl DaggerEngine {
    /// Finds an engine (never downloading one) and opens a session on it for the Dagger
    /// paths of `scenario`, within the path's `connect_timeout`; the error says what was
    /// looked at.
    pub async fn open(scenario: &Scenario, target: &DaggerTarget) -> Result<Self, String> {
        let route = discover(&EngineEnv::from_process(), PathPolicy::Use).map_err(|e| e.0)?;
        let wants_telemetry = scenario
            .paths
            .iter()
            .any(|p| matches!(&p.target, Target::Dagger(d) if d.telemetry));
        let mut notes = Vec::new();
        let telemetry = match (&route, wants_telemetry) {
            (EngineRoute::Cli(_), true) => Some(
                OtlpReceiver::start(DEFAULT_BIND)
                    .await
                    .map_err(|e| format!("the OTLP receiver for telemetry did not start: {e}"))?,
            ),
            (EngineRoute::Session(_), true) => {
                notes.push(
                    "no telemetry: the engine session was opened outside the harness (DAGGER_SESSION_PORT), so its spans cannot be pointed at the harness; let the harness start `dagger session` (unset DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN, put `dagger` on PATH) to record them".into(),
                );
                None
            }
            (_, false) => None,
        };
        let options = CliOptions {
            env: telemetry
                .as_ref()
                .map(|r| {
                    r.otel_env()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                })
                .unwrap_or_default(),
            load_workspace_modules: scenario
                .steps()
                .any(|(_, s)| matches!(s.dagger(), Some(DaggerCall::Function { .. }))),
        };
        let session = EngineSession::open(&route, target.connect_timeout, &options)
            .await
            .map_err(|e| e.0)?;
        notes.push(format!("Dagger engine session via {}", session.route));
        Ok(Self {
            session,
            telemetry,
            notes,
        })
    }

    /// `http://127.0.0.1:PORT` of the session.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.session.endpoint.address())
    }

    /// The session token (a credential: never printed).
    pub fn token(&self) -> &str {
        &self.session.endpoint.token
    }

    /// What every Dagger run's record should say about the engine.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// A run whose steps' trace ids start with `prefix` begins: spans are routed to it
    /// by trace id (or, lacking one, by time).
    pub fn telemetry_start(&self, prefix: u64) {
        if let Some(receiver) = &self.telemetry {
            receiver.begin_run(prefix);
        }
    }

    /// The spans of the run that just ended, `traced_steps` being the steps the engine
    /// ran (each leaves a trace). Waits, at most [`TELEMETRY_DRAIN`], until every step's
    /// trace has spans and none arrived for [`TELEMETRY_QUIET`] (or, when some never
    /// come, until the deadline); the summary says how long it waited and how many
    /// steps' spans are missing.
    pub async fn telemetry_end(&self, prefix: u64, traced_steps: u64) -> Option<TelemetrySummary> {
        let receiver = self.telemetry.as_ref()?;
        receiver.end_run(prefix);
        let ended = tokio::time::Instant::now();
        let deadline = ended + TELEMETRY_DRAIN;
        loop {
            let now = tokio::time::Instant::now();
            let progress = receiver.run_progress(prefix);
            let since_last = progress
                .last_arrival
                .map_or(now - ended, |at| at.elapsed().min(now - ended));
            let complete = progress.traces >= traced_steps;
            if now >= deadline || (complete && since_last >= TELEMETRY_QUIET) {
                break;
            }
            tokio::time::sleep(TELEMETRY_POLL).await;
        }
        let mut summary = receiver.take_run(prefix);
        summary.traced_steps = Some(traced_steps);
        summary.waited_ms = Some(u64::try_from(ended.elapsed().as_millis()).unwrap_or(u64::MAX));
        Some(summary)
    }

    /// Ends the session if the harness started it, and the telemetry receiver.
    pub async fn close(self) {
        self.session.close().await;
        if let Some(receiver) = self.telemetry {
            receiver.stop().await;
        }
    }
}
