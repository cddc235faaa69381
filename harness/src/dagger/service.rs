//! The engine a scenario's Dagger paths share: found, opened once, closed at the end.

use super::engine::{EngineEnv, PathPolicy, discover};
use super::session::{CliOptions, EngineSession};
use crate::scenario::{DaggerCall, DaggerTarget, Scenario};

/// An open engine session for the runs of a scenario.
#[derive(Debug)]
pub struct DaggerEngine {
    session: EngineSession,
}

impl DaggerEngine {
    /// Finds an engine (never downloading one) and opens a session on it for the Dagger
    /// paths of `scenario`, within the path's `connect_timeout`; the error says what was
    /// looked at.
    pub async fn open(scenario: &Scenario, target: &DaggerTarget) -> Result<Self, String> {
        let route = discover(&EngineEnv::from_process(), PathPolicy::Use).map_err(|e| e.0)?;
        let options = CliOptions {
            env: Vec::new(),
            load_workspace_modules: scenario
                .steps()
                .any(|(_, s)| matches!(s.dagger, Some(DaggerCall::Function { .. }))),
        };
        let session = EngineSession::open(&route, target.connect_timeout, &options)
            .await
            .map_err(|e| e.0)?;
        Ok(Self { session })
    }

    /// `http://127.0.0.1:PORT` of the session.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.session.endpoint.address())
    }

    /// The session token (a credential: never printed).
    pub fn token(&self) -> &str {
        &self.session.endpoint.token
    }

    /// How the engine was reached, for the record.
    pub fn route(&self) -> &str {
        &self.session.route
    }

    /// Ends the session if the harness started it.
    pub async fn close(self) {
        self.session.close().await;
    }
}
