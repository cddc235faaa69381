//! What every driver returns, and the choice of driver for a load model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::closed::{Users, run_closed};
use super::flow::IterationContext;
use super::open::run_open;
use super::schedule::RateCurve;
use super::stop::StopSignal;
use crate::outcome::DriverReport;
use crate::scenario::{Flow, LoadModel, LoadSpec};

/// Called about once a second with the time since the run started.
pub type ProgressHook = Arc<dyn Fn(Duration) + Send + Sync>;

/// One drive of one path: what every driver needs.
pub struct Drive {
    /// Where requests go and where outcomes are recorded.
    pub ctx: Arc<IterationContext>,
    /// The scenario's flows.
    pub flows: Arc<[Flow]>,
    /// Duration, warmup, timeout and limits (the model's parameters are passed apart).
    pub load: LoadSpec,
    /// Seed of this repetition.
    pub seed: u64,
    /// Ends the drive early.
    pub stop: StopSignal,
    /// Called about once a second.
    pub progress: Option<ProgressHook>,
}

impl std::fmt::Debug for Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive")
            .field("load", &self.load)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Drives the flows as the load model says, until done or the stop signal fires.
pub async fn drive(drive: Drive) -> DriverReport {
    match drive.load.model.clone() {
        LoadModel::Open {
            rate,
            stages,
            spacing,
        } => run_open(drive, RateCurve::new(rate, &stages), spacing).await,
        LoadModel::Closed {
            users,
            think_time,
            ramp_up_rate,
        } => {
            run_closed(
                drive,
                Users {
                    count: users,
                    think_time,
                    ramp_up_rate,
                },
            )
            .await
        }
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
