//! The attempt log: every request (HTTP) or connection (TCP) the proxy saw, whether a
//! fault hit it and what the upstream answered, for resilience observations
//! (amplification, time to open, probe cadence, time to recover).
//!
//! Memory is bounded: per-second counts are kept for the whole run (one small entry per
//! second), full entries only for the most recent `capacity` attempts. Recording takes a
//! mutex for a few pushes, which is cheap next to a proxied request.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// How many full entries the log keeps by default.
pub const DEFAULT_LOG_CAPACITY: usize = 100_000;

/// What the upstream made of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum UpstreamOutcome {
    /// Forwarded; the upstream answered with this status.
    Status(u16),
    /// Forwarded (TCP): the upstream accepted the connection.
    Connected,
    /// Forwarding failed; a short class such as `connect` or `io`.
    Error(String),
    /// Not forwarded: answered, dropped or held by a fault, or refused while down.
    NotForwarded,
}

impl UpstreamOutcome {
    /// Whether the attempt reached the upstream.
    pub fn forwarded(&self) -> bool {
        !matches!(self, Self::NotForwarded)
    }

    /// Whether the upstream handled it: a status below 500, or a TCP connection.
    pub fn ok(&self) -> bool {
        match self {
            Self::Status(s) => *s < 500,
            Self::Connected => true,
            Self::Error(_) | Self::NotForwarded => false,
        }
    }

    /// Whether it reached (or tried to reach) the upstream and failed there.
    pub fn failed(&self) -> bool {
        match self {
            Self::Status(s) => *s >= 500,
            Self::Error(_) => true,
            Self::Connected | Self::NotForwarded => false,
        }
    }
}

/// One request or connection seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// When it arrived, since the proxy started.
    pub at: Duration,
    /// Its `x-harness-request-id` (HTTP), if it had one.
    pub request_id: Option<u64>,
    /// Which attempt of that id (1 = first; 1 without an id).
    pub attempt: u32,
    /// The label of the fault that hit it, if any.
    pub injected: Option<String>,
    /// What the upstream made of it.
    pub upstream: UpstreamOutcome,
    /// From arrival until the answer's head was ready (HTTP) or the upstream connected (TCP).
    pub latency: Duration,
}

/// Counts of attempts in one second (or over the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SecondCounts {
    /// Attempts seen.
    pub attempts: u64,
    /// Attempts that reached the upstream.
    pub forwarded: u64,
    /// Attempts a fault hit.
    pub injected: u64,
    /// Forwarded attempts the upstream handled (status < 500, or connected).
    pub upstream_ok: u64,
    /// Attempts that failed at the upstream (status ≥ 500 or a transport error).
    pub upstream_failed: u64,
}

impl SecondCounts {
    fn add(&mut self, attempt: &Attempt) {
        self.attempts += 1;
        self.forwarded += u64::from(attempt.upstream.forwarded());
        self.injected += u64::from(attempt.injected.is_some());
        self.upstream_ok += u64::from(attempt.upstream.ok());
        self.upstream_failed += u64::from(attempt.upstream.failed());
    }
}

/// A copy of the log at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AttemptSnapshot {
    /// Counts per second since the proxy started (index = second).
    pub seconds: Vec<SecondCounts>,
    /// Counts over the whole run.
    pub totals: SecondCounts,
    /// The most recent full entries, oldest first.
    pub recent: Vec<Attempt>,
    /// Full entries dropped from the ring to respect its bound.
    pub evicted: u64,
}

#[derive(Debug)]
struct Inner {
    seconds: Vec<SecondCounts>,
    totals: SecondCounts,
    recent: VecDeque<Attempt>,
    capacity: usize,
    evicted: u64,
}

/// The proxy's attempt log, shared between its connections.
#[derive(Debug)]
pub struct AttemptLog {
    inner: Mutex<Inner>,
}

impl Default for AttemptLog {
    fn default() -> Self {
        Self::new(DEFAULT_LOG_CAPACITY)
    }
}

impl AttemptLog {
    /// A log keeping the last `capacity` full entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                seconds: Vec::new(),
                totals: SecondCounts::default(),
                // Grows as needed: a short run should not pay for a full ring up front.
                recent: VecDeque::new(),
                capacity,
                evicted: 0,
            }),
        }
    }

    /// Records one attempt.
    pub fn record(&self, attempt: Attempt) {
        let second = usize::try_from(attempt.at.as_secs()).unwrap_or(usize::MAX);
        // A poisoned lock only means another recorder panicked mid-push; counts stay usable.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if second >= inner.seconds.len() {
            // One entry per second of run time: bounded by the run's length, not its load.
            let len = second.saturating_add(1).min(MAX_SECONDS);
            inner.seconds.resize(len, SecondCounts::default());
        }
        if let Some(slot) = inner.seconds.get_mut(second) {
            slot.add(&attempt);
        }
        inner.totals.add(&attempt);
        if inner.capacity == 0 {
            inner.evicted += 1;
            return;
        }
        if inner.recent.len() >= inner.capacity {
            inner.recent.pop_front();
            inner.evicted += 1;
        }
        inner.recent.push_back(attempt);
    }

    /// A copy of the counts and the recent entries.
    pub fn snapshot(&self) -> AttemptSnapshot {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        AttemptSnapshot {
            seconds: inner.seconds.clone(),
            totals: inner.totals,
            recent: inner.recent.iter().cloned().collect(),
            evicted: inner.evicted,
        }
    }
}

/// Per-second counts stop growing after 30 days; later attempts count in the totals only.
const MAX_SECONDS: usize = 30 * 24 * 3600;

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at_ms: u64, injected: bool, upstream: UpstreamOutcome) -> Attempt {
        Attempt {
            at: Duration::from_millis(at_ms),
            request_id: Some(at_ms),
            attempt: 1,
            injected: injected.then(|| "fault".to_owned()),
            upstream,
            latency: Duration::from_millis(1),
        }
    }

    #[test]
    fn counts_per_second_and_in_total() {
        let log = AttemptLog::new(10);
        log.record(attempt(100, false, UpstreamOutcome::Status(200)));
        log.record(attempt(900, true, UpstreamOutcome::NotForwarded));
        log.record(attempt(2500, false, UpstreamOutcome::Status(503)));
        log.record(attempt(
            2600,
            false,
            UpstreamOutcome::Error("connect".into()),
        ));
        let snap = log.snapshot();
        assert_eq!(snap.seconds.len(), 3);
        assert_eq!(
            snap.seconds[0],
            SecondCounts {
                attempts: 2,
                forwarded: 1,
                injected: 1,
                upstream_ok: 1,
                upstream_failed: 0
            }
        );
        assert_eq!(snap.seconds[1], SecondCounts::default());
        assert_eq!(snap.seconds[2].upstream_failed, 2);
        assert_eq!(snap.totals.attempts, 4);
        assert_eq!(snap.totals.forwarded, 3);
        assert_eq!(snap.recent.len(), 4);
    }

    #[test]
    fn the_ring_keeps_only_the_most_recent_entries() {
        let log = AttemptLog::new(5);
        for i in 0..12 {
            log.record(attempt(i, false, UpstreamOutcome::Status(200)));
        }
        let snap = log.snapshot();
        assert_eq!(snap.recent.len(), 5);
        assert_eq!(snap.recent[0].at, Duration::from_millis(7));
        assert_eq!(snap.evicted, 7);
        assert_eq!(snap.totals.attempts, 12);
    }
}
