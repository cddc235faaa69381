//! When a fault is active: a window from `start` lasting `duration` (or to the end),
//! optionally recurring every `repeat`, on the proxy's clock (time since it started).
//!
//! Pure functions of the elapsed time, so tests drive them with explicit instants.

use std::time::Duration;

/// The activity window of a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schedule {
    /// When the first window opens, from the proxy's start.
    pub start: Duration,
    /// How long each window lasts; `None` = until the proxy stops.
    pub duration: Option<Duration>,
    /// The period after which the window opens again; `None` = once.
    pub repeat: Option<Duration>,
}

impl Schedule {
    /// Always active from the start.
    pub const ALWAYS: Self = Self {
        start: Duration::ZERO,
        duration: None,
        repeat: None,
    };

    /// Checks that a repeating window has a duration shorter than its period.
    pub fn validate(&self) -> Result<(), String> {
        match (self.duration, self.repeat) {
            (_, Some(r)) if r.is_zero() => Err("`repeat` must be greater than zero".into()),
            (Some(d), _) if d.is_zero() => Err("`duration` must be greater than zero".into()),
            (None, Some(_)) => Err(
                "`repeat` needs a `duration`: a window lasting to the end never recurs; add e.g. `duration = \"2s\"`"
                    .into(),
            ),
            (Some(d), Some(r)) if d >= r => Err(format!(
                "`duration` ({}) must be shorter than `repeat` ({}), or the window never closes",
                humantime::format_duration(d),
                humantime::format_duration(r)
            )),
            _ => Ok(()),
        }
    }

    /// Whether the fault is active `now` (time since the proxy started).
    pub fn active(&self, now: Duration) -> bool {
        let Some(since) = now.checked_sub(self.start) else {
            return false;
        };
        match (self.duration, self.repeat) {
            (None, _) => true,
            (Some(d), None) => since < d,
            (Some(d), Some(r)) => phase(since, r) < d,
        }
    }

    /// The first instant after `now` at which [`Schedule::active`] changes, if any.
    pub fn next_change(&self, now: Duration) -> Option<Duration> {
        let Some(since) = now.checked_sub(self.start) else {
            return Some(self.start);
        };
        match (self.duration, self.repeat) {
            (None, _) => None,
            (Some(d), None) => (since < d).then(|| self.start + d),
            (Some(d), Some(r)) => {
                let p = phase(since, r);
                let period_start = now - p;
                Some(if p < d {
                    period_start + d
                } else {
                    period_start + r
                })
            }
        }
    }

    /// The active windows `[from, to)` that begin before `horizon`, for reports and charts.
    pub fn windows(&self, horizon: Duration) -> Vec<(Duration, Duration)> {
        let mut out = Vec::new();
        let mut open = self.start;
        while open < horizon {
            let Some(d) = self.duration else {
                out.push((open, horizon));
                break;
            };
            out.push((open, open + d));
            match self.repeat {
                Some(r) if !r.is_zero() => open += r,
                _ => break,
            }
        }
        out
    }
}

/// `since mod period`, exact to the nanosecond.
fn phase(since: Duration, period: Duration) -> Duration {
    let period = period.as_nanos().max(1);
    let rem = since.as_nanos() % period;
    // The remainder is below the period, itself a Duration, so it fits in u64 nanoseconds
    // for every period below ~584 years.
    Duration::from_nanos(u64::try_from(rem).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_single_window_opens_at_start_and_closes_after_duration() {
        let s = Schedule {
            start: ms(2000),
            duration: Some(ms(2000)),
            repeat: None,
        };
        assert!(!s.active(ms(0)));
        assert!(!s.active(ms(1999)));
        assert!(s.active(ms(2000)));
        assert!(s.active(ms(3999)));
        assert!(!s.active(ms(4000)));
        assert!(!s.active(ms(100_000)));
        assert_eq!(s.next_change(ms(0)), Some(ms(2000)));
        assert_eq!(s.next_change(ms(2500)), Some(ms(4000)));
        assert_eq!(s.next_change(ms(4000)), None);
    }

    #[test]
    fn a_window_without_duration_lasts_to_the_end() {
        let s = Schedule {
            start: ms(500),
            duration: None,
            repeat: None,
        };
        assert!(!s.active(ms(499)));
        assert!(s.active(ms(500)));
        assert!(s.active(Duration::from_secs(1_000_000)));
        assert_eq!(s.next_change(ms(600)), None);
        assert!(Schedule::ALWAYS.active(Duration::ZERO));
    }

    #[test]
    fn a_repeating_window_recurs_every_period() {
        let s = Schedule {
            start: ms(1000),
            duration: Some(ms(2000)),
            repeat: Some(ms(10_000)),
        };
        for (t, expected) in [
            (999, false),
            (1000, true),
            (2999, true),
            (3000, false),
            (10_999, false),
            (11_000, true),
            (12_999, true),
            (13_000, false),
            (101_500, true),
        ] {
            assert_eq!(s.active(ms(t)), expected, "at {t} ms");
        }
        assert_eq!(s.next_change(ms(1500)), Some(ms(3000)));
        assert_eq!(s.next_change(ms(3000)), Some(ms(11_000)));
        assert_eq!(
            s.windows(ms(25_000)),
            vec![
                (ms(1000), ms(3000)),
                (ms(11_000), ms(13_000)),
                (ms(21_000), ms(23_000))
            ]
        );
    }

    #[test]
    fn impossible_schedules_are_refused() {
        let zero_repeat = Schedule {
            start: ms(0),
            duration: Some(ms(1)),
            repeat: Some(ms(0)),
        };
        let repeat_without_duration = Schedule {
            repeat: Some(ms(1000)),
            ..Schedule::ALWAYS
        };
        let never_closes = Schedule {
            start: ms(0),
            duration: Some(ms(1000)),
            repeat: Some(ms(1000)),
        };
        for s in [zero_repeat, repeat_without_duration, never_closes] {
            assert!(s.validate().is_err(), "{s:?}");
        }
        assert!(Schedule::ALWAYS.validate().is_ok());
    }
}
