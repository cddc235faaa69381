//! When arrivals are due in the open model: a pure, seeded iterator of offsets
//! from the start of the run, following a constant or staged rate.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Spacing, Stage};
use crate::units::Rate;

/// The arrival rate over time: starts at `initial`, then ramps linearly through each
/// stage in turn and holds the last rate.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    initial: f64,
    stages: Vec<(f64, f64)>,
}

impl RateCurve {
    /// A curve from the scenario's `rate` and `stages`.
    pub fn new(initial: Rate, stages: &[Stage]) -> Self {
        Self {
            initial: initial.per_second(),
            stages: stages
                .iter()
                .map(|s| (s.rate.per_second(), s.over.as_secs_f64()))
                .collect(),
        }
    }

    /// Arrivals per second at `t` seconds from the start.
    pub fn rate_at(&self, t: f64) -> f64 {
        let mut from = self.initial;
        let mut start = 0.0;
        for &(to, over) in &self.stages {
            if t < start + over {
                let progress = if over > 0.0 { (t - start) / over } else { 1.0 };
                return from + (to - from) * progress;
            }
            from = to;
            start += over;
        }
        from
    }

    /// Expected number of arrivals in `[from, to)` seconds.
    pub fn expected_arrivals(&self, from: f64, to: f64) -> f64 {
        // Trapezoids over a fine grid are exact for piecewise-linear curves up to the
        // grid error, which is far below one arrival for any realistic run.
        let steps = 1000;
        let dt = (to - from) / f64::from(steps);
        (0..steps)
            .map(|i| {
                let a = from + dt * f64::from(i);
                (self.rate_at(a) + self.rate_at(a + dt)) * 0.5 * dt
            })
            .sum()
    }
}

/// Arrival offsets, seeded; ends at `total`.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    curve: RateCurve,
    spacing: Spacing,
    rng: ChaCha8Rng,
    next: f64,
    total: f64,
}

impl ArrivalSchedule {
    /// Arrivals over `[0, total)` following `curve`.
    pub fn new(curve: RateCurve, spacing: Spacing, seed: u64, total: Duration) -> Self {
        let mut schedule = Self {
            curve,
            spacing,
            rng: ChaCha8Rng::seed_from_u64(seed),
            next: 0.0,
            total: total.as_secs_f64(),
        };
        // The first arrival of a Poisson process is itself a random gap away.
        if spacing == Spacing::Poisson {
            schedule.next = schedule.gap(0.0);
        }
        schedule
    }

    fn gap(&mut self, at: f64) -> f64 {
        // Rates are always > 0 (validated), but guard the division anyway.
        let rate = self.curve.rate_at(at).max(1e-9);
        match self.spacing {
            Spacing::Uniform => 1.0 / rate,
            Spacing::Poisson => {
                let u: f64 = self.rng.random::<f64>();
                -(1.0 - u).ln() / rate
            }
        }
    }
}

impl Iterator for ArrivalSchedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.next >= self.total {
            return None;
        }
        let at = self.next;
        self.next = at + self.gap(at);
        Some(Duration::from_secs_f64(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(r: f64) -> Rate {
        Rate::new(r).expect("valid rate")
    }

    #[test]
    fn uniform_spacing_gives_rate_times_duration_arrivals() {
        let s = ArrivalSchedule::new(
            RateCurve::new(rate(100.0), &[]),
            Spacing::Uniform,
            1,
            Duration::from_secs(2),
        );
        let all: Vec<_> = s.collect();
        assert_eq!(all.len(), 200);
        assert_eq!(all[1] - all[0], Duration::from_millis(10));
    }

    #[test]
    fn stages_ramp_linearly_then_hold() {
        let curve = RateCurve::new(
            rate(100.0),
            &[Stage {
                rate: rate(300.0),
                over: Duration::from_secs(2),
            }],
        );
        assert!((curve.rate_at(0.0) - 100.0).abs() < 1e-9);
        assert!((curve.rate_at(1.0) - 200.0).abs() < 1e-9);
        assert!((curve.rate_at(5.0) - 300.0).abs() < 1e-9);
        // 2 s ramp averaging 200/s, then 1 s at 300/s.
        assert!((curve.expected_arrivals(0.0, 3.0) - 700.0).abs() < 1.0);
    }

    #[test]
    fn the_same_seed_replays_the_same_poisson_arrivals() {
        let make = |seed| {
            ArrivalSchedule::new(
                RateCurve::new(rate(50.0), &[]),
                Spacing::Poisson,
                seed,
                Duration::from_secs(1),
            )
            .collect::<Vec<_>>()
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
    }

    proptest! {
        #[test]
        fn poisson_counts_stay_near_the_expected_count(seed in any::<u64>(), r in 200.0f64..2000.0) {
            let n = ArrivalSchedule::new(RateCurve::new(rate(r), &[]), Spacing::Poisson, seed, Duration::from_secs(5)).count() as f64;
            let expected = r * 5.0;
            // Poisson: sd = sqrt(expected); 6 sd keeps this from failing by chance.
            prop_assert!((n - expected).abs() < 6.0 * expected.sqrt() + 1.0, "n={} expected={}", n, expected);
        }

        #[test]
        fn arrivals_are_ordered_and_inside_the_run(seed in any::<u64>(), r in 1.0f64..500.0, secs in 1u64..4) {
            let all: Vec<_> = ArrivalSchedule::new(RateCurve::new(rate(r), &[]), Spacing::Poisson, seed, Duration::from_secs(secs)).collect();
            prop_assert!(all.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(all.iter().all(|d| *d < Duration::from_secs(secs)));
        }
    }
}
