//! What every driver returns, and the choice of driver for a load model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::closed::run_closed;
use super::flow::IterationContext;
use super::open::run_open;
use super::stop::StopSignal;
use crate::scenario::{Flow, LoadModel, LoadSpec};

/// How the driver itself did while driving one path once (the outcomes are in the recorder).
#[derive(Debug)]
pub struct DriverReport {
    /// Wall time from the start of the run (warmup included) to the end.
    pub elapsed: Duration,
    /// True when the stop signal ended the run early.
    pub interrupted: bool,
    /// Target arrival rate averaged over the measured window (open model).
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

/// Called about once a second with the time since the run started.
pub type ProgressHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// Drives `flows` through `ctx` as `load` says, until done or `stop` fires.
pub async fn drive(
    ctx: Arc<IterationContext>,
    flows: Arc<[Flow]>,
    load: &LoadSpec,
    seed: u64,
    stop: StopSignal,
    progress: Option<ProgressHook>,
) -> DriverReport {
    match &load.model {
        LoadModel::Open { .. } => run_open(ctx, flows, load, seed, stop, progress).await,
        LoadModel::Closed { .. } => run_closed(ctx, flows, load, seed, stop, progress).await,
    }
}

/// Calls `recorder.tick` and the progress hook once a second until dropped.
pub(crate) fn spawn_ticker(
    ctx: Arc<IterationContext>,
    progress: Option<ProgressHook>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let elapsed = Instant::now().saturating_duration_since(ctx.epoch());
            ctx.recorder().tick(elapsed);
            if let Some(hook) = &progress {
                hook(elapsed);
            }
        }
    })
}
