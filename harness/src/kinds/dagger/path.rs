//! A Dagger path made ready: the engine it shares with the scenario's other Dagger paths,
//! and per drive an executor whose queries go to the engine (or to the fault proxy in
//! front of it).

use std::sync::{Arc, Mutex, OnceLock};

use super::client::EngineLink;
use super::executor::DaggerExecutor;
use super::service::DaggerEngine;
use super::session::HOW_TO_PROVIDE;
use crate::kinds::http::HttpClient;
use crate::kinds::{DriveExtras, DriveSetup, PathError, PathExecutor, ReadyPath};
use crate::scenario::{DaggerTarget, Scenario};

/// The engine session the scenario's Dagger paths share: asked for by the first Dagger
/// path (its connection settings are used), opened once.
#[derive(Debug, Clone, Default)]
pub struct EngineSlot(Arc<Slot>);

#[derive(Debug, Default)]
struct Slot {
    wanted: OnceLock<DaggerTarget>,
    engine: OnceLock<DaggerEngine>,
}

impl EngineSlot {
    /// Asks for an engine with `target`'s settings, unless a path asked first.
    fn want(&self, target: &DaggerTarget) {
        let _ = self.0.wanted.set(target.clone());
    }

    /// Opens the session, when a path asked for one; when no engine is reachable the
    /// Dagger paths are skipped.
    pub async fn open(&self, scenario: &Scenario) -> Result<(), PathError> {
        let Some(target) = self.0.wanted.get() else {
            return Ok(());
        };
        if self.0.engine.get().is_some() {
            return Ok(());
        }
        let engine = DaggerEngine::open(scenario, target)
            .await
            .map_err(no_engine)?;
        let _ = self.0.engine.set(engine);
        Ok(())
    }

    fn get(&self) -> Option<&DaggerEngine> {
        self.0.engine.get()
    }

    /// Closes the session, once every path holding the slot is gone.
    pub async fn close(self) {
        let slot = Arc::try_unwrap(self.0).ok();
        if let Some(engine) = slot.and_then(|s| s.engine.into_inner()) {
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
    /// The executor of the drive under way and its runs' trace prefix, to count the
    /// steps whose spans the telemetry should hold.
    drive: Mutex<Option<(Arc<DaggerExecutor>, u64)>>,
}

impl DaggerPath {
    /// A path whose steps run on the engine `engine` will hold.
    pub fn new(target: &DaggerTarget, engine: &EngineSlot) -> Self {
        engine.want(target);
        Self {
            target: target.clone(),
            engine: engine.clone(),
            drive: Mutex::new(None),
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
        // Sampled, so that the engine records the query's spans in the step's trace as
        // it would for any SDK client (an unsampled parent silences them all).
        let correlation = drive.correlation.clone().sampled();
        let client = HttpClient::new(drive.max_idle).with_correlation(correlation);
        let mut link =
            EngineLink::new(client, &base, engine.token(), drive.timeout).map_err(no_engine)?;
        if self.target.telemetry {
            link = link.with_repeated_telemetry();
        }
        let executor = Arc::new(DaggerExecutor::new(link, self.target.cache, drive.seed));
        if let Ok(mut slot) = self.drive.lock() {
            *slot = Some((executor.clone(), drive.correlation.trace_prefix));
        }
        Ok(executor)
    }

    fn drive_starting(&self, drive: &DriveSetup<'_>) {
        if let Some(engine) = self.engine.get() {
            engine.telemetry_start(drive.correlation.trace_prefix);
        }
    }

    async fn drive_finished(&self) -> DriveExtras {
        let Some(engine) = self.engine.get() else {
            return DriveExtras::default();
        };
        let drive = self.drive.lock().ok().and_then(|mut d| d.take());
        let telemetry = match drive {
            Some((executor, prefix)) => engine.telemetry_end(prefix, executor.traced_steps()).await,
            None => None,
        };
        DriveExtras {
            notes: engine.notes().to_vec(),
            warnings: telemetry
                .as_ref()
                .and_then(crate::otlp::TelemetrySummary::loss_warning)
                .into_iter()
                .collect(),
            telemetry,
        }
    }
}
