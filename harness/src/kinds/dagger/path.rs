//! A Dagger path made ready: the engine it shares with the scenario's other Dagger paths,
//! and per drive an executor whose queries go to the engine (or to the fault proxy in
//! front of it).

use std::sync::{Arc, OnceLock};

use super::client::EngineLink;
use super::executor::DaggerExecutor;
use super::service::DaggerEngine;
use super::session::HOW_TO_PROVIDE;
use crate::kinds::http::HttpClient;
use crate::kinds::{DriveExtras, DriveSetup, PathError, PathExecutor, ReadyPath};
use crate::scenario::{DaggerTarget, Scenario};

/// The engine session the scenario's Dagger paths share, opened once.
#[derive(Debug, Clone, Default)]
pub struct EngineSlot(Arc<OnceLock<DaggerEngine>>);

impl EngineSlot {
    /// Opens the session (once) for `target`; when no engine is reachable the path is
    /// skipped.
    pub async fn open(&self, scenario: &Scenario, target: &DaggerTarget) -> Result<(), PathError> {
        if self.0.get().is_some() {
            return Ok(());
        }
        let engine = DaggerEngine::open(scenario, target)
            .await
            .map_err(no_engine)?;
        let _ = self.0.set(engine);
        Ok(())
    }

    fn get(&self) -> Option<&DaggerEngine> {
        self.0.get()
    }

    /// Closes the session, once every path holding the slot is gone.
    pub async fn close(self) {
        if let Some(engine) = Arc::try_unwrap(self.0).ok().and_then(OnceLock::into_inner) {
            engine.close().await;
        }
    }
}

/// The error of a path that needs an engine and has none.
fn no_engine(why: String) -> PathError {
    PathError::Unavailable(format!("no Dagger engine: {why}; {HOW_TO_PROVIDE}"))
}

/// A `kind = "dagger"` path.
#[derive(Debug)]
pub struct DaggerPath {
    target: DaggerTarget,
    engine: EngineSlot,
}

impl DaggerPath {
    /// A path whose steps run on the engine `engine` will hold.
    pub fn new(target: &DaggerTarget, engine: &EngineSlot) -> Self {
        Self {
            target: target.clone(),
            engine: engine.clone(),
        }
    }
}

#[async_trait::async_trait]
impl ReadyPath for DaggerPath {
    fn upstream(&self) -> Option<String> {
        self.engine.get().map(DaggerEngine::base_url)
    }

    fn executor(&self, drive: &DriveSetup<'_>) -> Result<Arc<dyn PathExecutor>, PathError> {
        let engine = self
            .engine
            .get()
            .ok_or_else(|| no_engine("the engine session was not opened".into()))?;
        let base = drive.proxy_url.clone().unwrap_or_else(|| engine.base_url());
        let client = HttpClient::new(drive.max_idle).with_correlation(drive.correlation.clone());
        let link =
            EngineLink::new(client, &base, engine.token(), drive.timeout).map_err(no_engine)?;
        Ok(Arc::new(DaggerExecutor::new(
            link,
            self.target.cache,
            drive.seed,
        )))
    }

    fn drive_starting(&self) {
        if let Some(engine) = self.engine.get() {
            engine.telemetry_start();
        }
    }

    async fn drive_finished(&self) -> DriveExtras {
        match self.engine.get() {
            Some(engine) => DriveExtras {
                notes: engine.notes().to_vec(),
                telemetry: engine.telemetry_end().await,
            },
            None => DriveExtras::default(),
        }
    }
}
