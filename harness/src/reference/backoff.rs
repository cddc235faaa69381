//! Jittered exponential backoff between retries of the Dagger path ("full jitter").
//!
//! The delay before retry `n` (1 = the first retry) is drawn uniformly from
//! `0..min(max_backoff, base_backoff * 2^(n-1))`. Full jitter spreads retries of many
//! clients over the whole window, so a failing dependency is not hit by synchronised waves.
//! The random draw is an argument, which keeps the function pure and testable.

use std::time::Duration;

use super::config::RetryConfig;

/// The backoff ceiling before retry `retry` (1 = first retry): `min(max, base * 2^(retry-1))`.
pub fn ceiling(retry: u32, config: &RetryConfig) -> Duration {
    let base = config.base_backoff.get();
    let max = config.max_backoff.get();
    // 2^31 times any useful base is far beyond any max; saturate instead of overflowing.
    let factor = 1u32
        .checked_shl(retry.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

/// The delay before retry `retry`, given a uniform `draw` in `0..1` (clamped into it).
pub fn backoff(retry: u32, config: &RetryConfig, draw: f64) -> Duration {
    let draw = if draw.is_finite() {
        draw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ceiling(retry, config).mul_f64(draw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HumanDuration;

    fn config(base_ms: u64, max_ms: u64) -> RetryConfig {
        RetryConfig {
            max_attempts: 5,
            base_backoff: HumanDuration(Duration::from_millis(base_ms)),
            max_backoff: HumanDuration(Duration::from_millis(max_ms)),
        }
    }

    #[test]
    fn ceiling_doubles_each_retry() {
        let c = config(10, 10_000);
        assert_eq!(ceiling(1, &c), Duration::from_millis(10));
        assert_eq!(ceiling(2, &c), Duration::from_millis(20));
        assert_eq!(ceiling(3, &c), Duration::from_millis(40));
        assert_eq!(ceiling(4, &c), Duration::from_millis(80));
    }

    #[test]
    fn ceiling_is_capped_by_max_backoff() {
        let c = config(10, 200);
        assert_eq!(ceiling(5, &c), Duration::from_millis(160));
        assert_eq!(ceiling(6, &c), Duration::from_millis(200));
        assert_eq!(ceiling(60, &c), Duration::from_millis(200));
        assert_eq!(ceiling(u32::MAX, &c), Duration::from_millis(200));
    }

    #[test]
    fn backoff_scales_the_ceiling_by_the_draw() {
        let c = config(10, 200);
        assert_eq!(backoff(3, &c, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, &c, 0.5), Duration::from_millis(20));
        assert_eq!(backoff(3, &c, 1.0), Duration::from_millis(40));
    }

    #[test]
    fn backoff_stays_within_bounds_for_any_draw() {
        let c = config(7, 100);
        for retry in 0..40 {
            for draw in [
                -1.0,
                0.0,
                0.25,
                0.999_999,
                1.0,
                2.0,
                f64::NAN,
                f64::INFINITY,
            ] {
                let d = backoff(retry, &c, draw);
                assert!(d <= ceiling(retry, &c), "retry {retry} draw {draw}: {d:?}");
                assert!(d <= Duration::from_millis(100));
            }
        }
    }

    #[test]
    fn retry_zero_is_treated_as_the_first_retry() {
        let c = config(10, 200);
        assert_eq!(ceiling(0, &c), ceiling(1, &c));
    }
}
