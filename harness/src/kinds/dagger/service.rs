//! The engine a scenario's Dagger paths share: found, opened once, closed at the end;
//! with telemetry, an OTLP receiver the session exports its spans to.

use std::time::Duration;

use super::engine::{EngineEnv, EngineRoute, PathPolicy, discover};
use super::session::{CliOptions, EngineSession};
use crate::otlp::{DEFAULT_BIND, OtlpReceiver, TelemetrySummary};
use crate::scenario::{DaggerCall, DaggerTarget, Scenario, Target};

/// How long the exporter may stay quiet before a run's spans count as all received (the
/// OpenTelemetry batch exporter flushes every few seconds).
const TELEMETRY_QUIET: Duration = Duration::from_secs(2);
/// The longest wait for a run's spans after the run.
const TELEMETRY_DRAIN: Duration = Duration::from_secs(12);

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

    /// Forgets the spans received so far (call when a Dagger run starts).
    pub fn telemetry_start(&self) {
        if let Some(receiver) = &self.telemetry {
            receiver.take();
        }
    }

    /// The spans of the run that just ended: waits until the exporter has been quiet for
    /// a moment (it sends in batches), then takes what arrived since
    /// [`telemetry_start`](Self::telemetry_start), warmup included.
    pub async fn telemetry_end(&self) -> Option<TelemetrySummary> {
        let receiver = self.telemetry.as_ref()?;
        let deadline = tokio::time::Instant::now() + TELEMETRY_DRAIN;
        let mut seen = receiver.summary().spans;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(TELEMETRY_QUIET).await;
            let now = receiver.summary().spans;
            if now == seen {
                break;
            }
            seen = now;
        }
        Some(receiver.take())
    }

    /// Ends the session if the harness started it, and the telemetry receiver.
    pub async fn close(self) {
        self.session.close().await;
        if let Some(receiver) = self.telemetry {
            receiver.stop().await;
        }
    }
}
