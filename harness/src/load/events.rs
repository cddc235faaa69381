//! A bounded log of first-step requests, kept only when a scenario injects faults, so the
//! resilience observer can join what the client saw with what reached the dependency.

use std::sync::Mutex;
use std::time::Duration;

use crate::outcome::OutcomeClass;

/// Entries kept at most (about 32 MB); later requests are counted but not kept.
pub const EVENT_LOG_CAPACITY: usize = 1_000_000;

/// One request as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestEvent {
    /// The `x-harness-request-id` it carried.
    pub request_id: u64,
    /// Intended start since the run started.
    pub at: Duration,
    /// From the intended start to the end.
    pub latency: Duration,
    /// How it ended.
    pub class: OutcomeClass,
}

/// The log; cheap to append from many tasks.
#[derive(Debug, Default)]
pub struct EventLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    events: Vec<RequestEvent>,
    overflow: u64,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `event`, or counts it as overflow past [`EVENT_LOG_CAPACITY`].
    pub fn push(&self, event: RequestEvent) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.events.len() < EVENT_LOG_CAPACITY {
            inner.events.push(event);
        } else {
            inner.overflow += 1;
        }
    }

    /// The events so far and how many did not fit.
    pub fn take(&self) -> (Vec<RequestEvent>, u64) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (std::mem::take(&mut inner.events), inner.overflow)
    }
}
