//! What every driver shares: the [`Drive`] it is given and the once-a-second ticker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::flow::IterationContext;
use super::stop::StopSignal;
use crate::scenario::{Flow, LoadSpec};

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
    /// The share of the plan this process runs ([`super::Segment::WHOLE`] unsegmented).
    pub segment: super::Segment,
}

impl std::fmt::Debug for Drive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drive")
            .field("load", &self.load)
            .field("seed", &self.seed)
            .field("segment", &self.segment)
            .finish_non_exhaustive()
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
