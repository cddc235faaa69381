//! Delays of latency faults: a fixed delay plus uniform jitter, or a draw from a
//! log-normal or Pareto distribution, sampled from a seeded generator.
//!
//! The distributions are sampled from uniforms here (Box–Muller for the normal behind the
//! log-normal, the inverse CDF for Pareto) rather than through `rand_distr`, which is not
//! a dependency; every draw is capped at [`MAX_DELAY`] so a heavy tail cannot overflow a
//! `Duration` or hold a connection for days.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::units::HumanDuration;

/// The longest delay any draw produces; heavier tails are clipped here.
pub const MAX_DELAY: Duration = Duration::from_secs(3600);

/// A delay distribution as written under `distribution = { kind = ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Distribution {
    /// `median · exp(sigma · Z)` with Z standard normal.
    Lognormal {
        /// The median delay.
        median: HumanDuration,
        /// The standard deviation of the delay's logarithm (0 = always the median).
        sigma: f64,
    },
    /// `scale / U^(1/shape)` with U uniform in (0, 1]: heavy-tailed, never below `scale`.
    Pareto {
        /// The smallest delay (x_m).
        scale: HumanDuration,
        /// The tail index α; smaller means heavier tails.
        shape: f64,
    },
}

impl Distribution {
    /// Checks the parameters: positive scale or median, finite sigma ≥ 0 and shape > 0.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Lognormal { median, sigma } => {
                if median.get().is_zero() {
                    return Err("a lognormal `median` must be greater than zero".into());
                }
                if !(0.0..=10.0).contains(&sigma) {
                    return Err(format!(
                        "a lognormal `sigma` must lie between 0 and 10, got {sigma}; try `sigma = 0.5`"
                    ));
                }
            }
            Self::Pareto { scale, shape } => {
                if scale.get().is_zero() {
                    return Err("a pareto `scale` must be greater than zero".into());
                }
                if !shape.is_finite() || shape <= 0.0 {
                    return Err(format!(
                        "a pareto `shape` must be a number greater than 0, got {shape}; try `shape = 1.5`"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The distribution's median, for reports and tests.
    pub fn median(&self) -> Duration {
        match *self {
            Self::Lognormal { median, .. } => median.get(),
            Self::Pareto { scale, shape } => {
                clamp_secs(scale.get().as_secs_f64() * 2f64.powf(1.0 / shape))
            }
        }
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Self::Lognormal { median, sigma } => {
                clamp_secs(median.get().as_secs_f64() * (sigma * standard_normal(rng)).exp())
            }
            Self::Pareto { scale, shape } => {
                clamp_secs(scale.get().as_secs_f64() / open_unit(rng).powf(1.0 / shape))
            }
        }
    }
}

/// The delay of a latency fault: fixed plus jitter, or a distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// `latency + U[0, jitter]`: never less than `latency`, so it is a lower bound.
    Fixed {
        /// The fixed part.
        latency: Duration,
        /// The width of the uniform part added on top.
        jitter: Duration,
    },
    /// A draw from a distribution.
    Random(Distribution),
}

impl Delay {
    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match self {
            Self::Fixed { latency, jitter } => {
                let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
                let extra = if nanos == 0 {
                    0
                } else {
                    rng.random_range(0..=nanos)
                };
                latency
                    .saturating_add(Duration::from_nanos(extra))
                    .min(MAX_DELAY)
            }
            Self::Random(distribution) => distribution.sample(rng),
        }
    }
}

/// A uniform draw in (0, 1]: never zero, so logarithms and reciprocals stay finite.
fn open_unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    1.0 - rng.random::<f64>()
}

/// A standard normal draw by Box–Muller (one of the pair; the other is not worth keeping).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1 = open_unit(rng);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn clamp_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(MAX_DELAY, |d| d.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ms(n: u64) -> HumanDuration {
        HumanDuration(Duration::from_millis(n))
    }

    fn sampled_median(delay: Delay, n: usize) -> Vec<Duration> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut draws: Vec<Duration> = (0..n).map(|_| delay.sample(&mut rng)).collect();
        draws.sort();
        draws
    }

    #[test]
    fn lognormal_draws_have_the_configured_median() {
        let d = Distribution::Lognormal {
            median: ms(50),
            sigma: 0.5,
        };
        let draws = sampled_median(Delay::Random(d), 20_000);
        let median = draws[draws.len() / 2].as_secs_f64();
        assert!((0.047..0.053).contains(&median), "median {median}");
        // sigma 0.5: the 84th percentile sits near median · e^0.5 ≈ 82 ms.
        let p84 = draws[draws.len() * 84 / 100].as_secs_f64();
        assert!((0.075..0.090).contains(&p84), "p84 {p84}");
    }

    #[test]
    fn pareto_draws_have_the_theoretical_median_and_never_fall_below_scale() {
        let d = Distribution::Pareto {
            scale: ms(10),
            shape: 1.5,
        };
        let draws = sampled_median(Delay::Random(d), 20_000);
        let median = draws[draws.len() / 2].as_secs_f64();
        let expected = d.median().as_secs_f64(); // 10 ms · 2^(1/1.5) ≈ 15.9 ms
        assert!(
            (expected * 0.95..expected * 1.05).contains(&median),
            "median {median}"
        );
        assert!(draws[0] >= Duration::from_millis(10));
        assert!(draws.iter().all(|d| *d <= MAX_DELAY));
    }

    #[test]
    fn fixed_delay_with_jitter_stays_within_latency_and_latency_plus_jitter() {
        let delay = Delay::Fixed {
            latency: Duration::from_millis(100),
            jitter: Duration::from_millis(20),
        };
        let draws = sampled_median(delay, 2_000);
        assert!(draws[0] >= Duration::from_millis(100));
        assert!(draws[draws.len() - 1] <= Duration::from_millis(120));
        assert!(draws[0] < draws[draws.len() - 1], "jitter varies the delay");
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        let bad = [
            Distribution::Lognormal {
                median: ms(0),
                sigma: 0.5,
            },
            Distribution::Lognormal {
                median: ms(5),
                sigma: -1.0,
            },
            Distribution::Pareto {
                scale: ms(5),
                shape: 0.0,
            },
            Distribution::Pareto {
                scale: ms(5),
                shape: f64::NAN,
            },
        ];
        for d in bad {
            assert!(d.validate().is_err(), "{d:?}");
        }
    }
}
