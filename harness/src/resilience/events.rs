//! The inputs of a resilience observation: client requests, upstream attempts and fault
//! windows, all timed from the start of the run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::OutcomeClass;

/// One client request as the harness saw it (the first step of each iteration is enough).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEvent {
    /// The value of the `x-harness-request-id` header it carried.
    pub request_id: u64,
    /// Intended start, since run start (the schedule's time, free of coordinated omission).
    pub at: Duration,
    /// From intended start to the end of the answer (or of the failure).
    pub latency: Duration,
    /// How it ended.
    pub class: OutcomeClass,
}

/// One attempt that reached the fault proxy (placed between the service and its dependency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamEvent {
    /// The request id the attempt carried; `None` when the service did not propagate it.
    pub request_id: Option<u64>,
    /// 1 = first time this id was seen, 2 = first retry, ...
    pub attempt: u32,
    /// When the attempt arrived at the proxy, since run start.
    pub at: Duration,
    /// The proxy injected a fault into this attempt.
    pub injected: bool,
    /// The attempt reached the real dependency.
    pub forwarded: bool,
}

/// Everything a run's resilience observations were computed from, kept in a segment's
/// record so that `harness merge` recomputes them over all segments' requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The fault windows.
    pub windows: Vec<FaultWindow>,
    /// The client requests (each iteration's first real step).
    pub client: Vec<ClientEvent>,
    /// The attempts the proxy saw.
    pub upstream: Vec<UpstreamEvent>,
    /// When the run ended, since its start.
    pub run_end: Duration,
}

/// A fault window (start inclusive, end exclusive), since run start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The fault's name in the scenario (for reports).
    pub name: String,
    /// When the fault became active.
    pub start: Duration,
    /// When the fault stopped (exclusive).
    pub end: Duration,
}

impl FaultWindow {
    /// The window's length; zero when `end` is not after `start`.
    pub fn length(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}
