//! The Dagger path's circuit breaker as a pure state machine with explicit time.
//!
//! Closed, it counts consecutive failed calls and opens at the threshold. Open, it rejects
//! every call until `open_for` has passed. Half-open, it lets a limited number of probes
//! through: that many successes close it, any failure opens it again. Time is an argument,
//! never read from a clock, so every transition is tested without sleeping.
//!
//! Each admitted call carries a [`Permit`] stamped with the breaker's generation (bumped on
//! every transition). A result whose permit predates the current state is ignored: a slow
//! call admitted while closed must not count as a probe after the breaker reopened.

use std::time::{Duration, Instant};

use super::config::BreakerConfig;

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; consecutive failures are counted.
    Closed,
    /// Calls are rejected at once until the open period ends.
    Open,
    /// A limited number of probe calls pass; their results decide.
    HalfOpen,
}

impl BreakerState {
    /// The Prometheus gauge value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }

    /// The label used in metrics (`closed`, `open`, `half_open`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Leave to make one call, to be handed back with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a permit must be handed back through `Breaker::on_result`"]
pub struct Permit {
    generation: u64,
}

/// How many times the breaker entered each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transitions {
    /// Entries into the open state (from closed or half-open).
    pub to_open: u64,
    /// Entries into the half-open state.
    pub to_half_open: u64,
    /// Entries into the closed state (from half-open).
    pub to_closed: u64,
}

/// A circuit breaker; share it behind a `Mutex` held only for `allow` and `on_result`.
#[derive(Debug, Clone)]
pub struct Breaker {
    failure_threshold: u32,
    open_for: Duration,
    half_open_probes: u32,
    state: BreakerState,
    generation: u64,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probes_issued: u32,
    probe_successes: u32,
    transitions: Transitions,
    rejections: u64,
}

impl Breaker {
    /// A closed breaker. A threshold or probe count of 0 is read as 1, since 0 would either
    /// never open or never close.
    pub fn new(config: &BreakerConfig) -> Self {
        Self {
            failure_threshold: config.failure_threshold.max(1),
            open_for: config.open_for.get(),
            half_open_probes: config.half_open_probes.max(1),
            state: BreakerState::Closed,
            generation: 0,
            consecutive_failures: 0,
            opened_at: None,
            probes_issued: 0,
            probe_successes: 0,
            transitions: Transitions::default(),
            rejections: 0,
        }
    }

    /// The current state, as of the last call to `allow` or `on_result`.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// How many times each state was entered.
    pub fn transitions(&self) -> Transitions {
        self.transitions
    }

    /// Calls rejected so far (fail fast).
    pub fn rejections(&self) -> u64 {
        self.rejections
    }

    /// Asks to make a call at `now`: a permit, or `None` when the call must fail fast.
    pub fn allow(&mut self, now: Instant) -> Option<Permit> {
        if self.state == BreakerState::Open {
            let reopen_at = self.opened_at.map(|at| at + self.open_for);
            if reopen_at.is_some_and(|at| now >= at) {
                self.enter(BreakerState::HalfOpen, now);
            }
        }
        match self.state {
            BreakerState::Closed => Some(self.permit()),
            BreakerState::HalfOpen if self.probes_issued < self.half_open_probes => {
                self.probes_issued += 1;
                Some(self.permit())
            }
            BreakerState::HalfOpen | BreakerState::Open => {
                self.rejections += 1;
                None
            }
        }
    }

    /// Reports the result of the call made under `permit`.
    pub fn on_result(&mut self, now: Instant, permit: Permit, ok: bool) {
        if permit.generation != self.generation {
            return;
        }
        match (self.state, ok) {
            (BreakerState::Closed, true) => self.consecutive_failures = 0,
            (BreakerState::Closed, false) => {
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.failure_threshold {
                    self.enter(BreakerState::Open, now);
                }
            }
            (BreakerState::HalfOpen, true) => {
                self.probe_successes += 1;
                if self.probe_successes >= self.half_open_probes {
                    self.enter(BreakerState::Closed, now);
                }
            }
            (BreakerState::HalfOpen, false) => self.enter(BreakerState::Open, now),
            // No permit is issued while open, so a current-generation result cannot arrive.
            (BreakerState::Open, _) => {}
        }
    }

    fn permit(&self) -> Permit {
        Permit {
            generation: self.generation,
        }
    }

    fn enter(&mut self, state: BreakerState, now: Instant) {
        self.state = state;
        self.generation += 1;
        self.consecutive_failures = 0;
        self.probes_issued = 0;
        self.probe_successes = 0;
        match state {
            BreakerState::Open => {
                self.opened_at = Some(now);
                self.transitions.to_open += 1;
            }
            BreakerState::HalfOpen => self.transitions.to_half_open += 1,
            BreakerState::Closed => {
                self.opened_at = None;
                self.transitions.to_closed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HumanDuration;

    fn config(threshold: u32, open_ms: u64, probes: u32) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: threshold,
            open_for: HumanDuration(Duration::from_millis(open_ms)),
            half_open_probes: probes,
        }
    }

    fn fail(b: &mut Breaker, now: Instant) {
        let permit = b.allow(now).expect("breaker should admit the call");
        b.on_result(now, permit, false);
    }

    fn succeed(b: &mut Breaker, now: Instant) {
        let permit = b.allow(now).expect("breaker should admit the call");
        b.on_result(now, permit, true);
    }

    fn open_breaker(threshold: u32, probes: u32) -> (Breaker, Instant) {
        let t0 = Instant::now();
        let mut b = Breaker::new(&config(threshold, 1000, probes));
        for _ in 0..threshold {
            fail(&mut b, t0);
        }
        assert_eq!(b.state(), BreakerState::Open);
        (b, t0)
    }

    #[test]
    fn closed_opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(&config(3, 1000, 1));
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.transitions(),
            Transitions {
                to_open: 1,
                to_half_open: 0,
                to_closed: 0
            }
        );
    }

    #[test]
    fn a_success_resets_the_consecutive_failure_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(&config(3, 1000, 1));
        fail(&mut b, t0);
        fail(&mut b, t0);
        succeed(&mut b, t0);
        fail(&mut b, t0);
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn open_rejects_until_open_for_has_passed() {
        let (mut b, t0) = open_breaker(2, 1);
        assert!(b.allow(t0).is_none());
        assert!(b.allow(t0 + Duration::from_millis(999)).is_none());
        assert_eq!(b.rejections(), 2);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.allow(t0 + Duration::from_millis(1000)).is_some());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.transitions().to_half_open, 1);
    }

    #[test]
    fn half_open_admits_only_the_configured_number_of_probes() {
        let (mut b, t0) = open_breaker(1, 2);
        let later = t0 + Duration::from_secs(1);
        let first = b.allow(later).expect("first probe");
        let second = b.allow(later).expect("second probe");
        assert!(
            b.allow(later).is_none(),
            "a third concurrent probe must be rejected"
        );
        b.on_result(later, first, true);
        assert_eq!(
            b.state(),
            BreakerState::HalfOpen,
            "one success of two does not close"
        );
        b.on_result(later, second, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(
            b.transitions(),
            Transitions {
                to_open: 1,
                to_half_open: 1,
                to_closed: 1
            }
        );
    }

    #[test]
    fn half_open_reopens_on_any_probe_failure() {
        let (mut b, t0) = open_breaker(1, 2);
        let later = t0 + Duration::from_secs(1);
        let first = b.allow(later).expect("first probe");
        let second = b.allow(later).expect("second probe");
        b.on_result(later, first, true);
        b.on_result(later, second, false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions().to_open, 2);
        // The new open period starts at the failed probe, not at the first opening.
        assert!(b.allow(later + Duration::from_millis(999)).is_none());
        assert!(b.allow(later + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn results_of_calls_admitted_before_a_transition_are_ignored() {
        let t0 = Instant::now();
        let mut b = Breaker::new(&config(1, 1000, 1));
        let slow = b.allow(t0).expect("closed admits");
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Open);
        let later = t0 + Duration::from_secs(1);
        let probe = b.allow(later).expect("half-open probe");
        // The slow call from the closed period succeeds now: it is not a probe.
        b.on_result(later, slow, true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.on_result(later, probe, false);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn closing_starts_a_fresh_failure_count() {
        let (mut b, t0) = open_breaker(2, 1);
        let later = t0 + Duration::from_secs(1);
        succeed(&mut b, later);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&mut b, later);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "one failure of two after closing"
        );
    }

    #[test]
    fn zero_threshold_and_probes_are_read_as_one() {
        let t0 = Instant::now();
        let mut b = Breaker::new(&config(0, 0, 0));
        fail(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Open);
        succeed(&mut b, t0);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn gauge_values_follow_the_metric_contract() {
        assert_eq!(BreakerState::Closed.gauge(), 0);
        assert_eq!(BreakerState::Open.gauge(), 1);
        assert_eq!(BreakerState::HalfOpen.gauge(), 2);
    }
}
