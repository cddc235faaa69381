//! The single-owner [`Recorder`]: HDR histograms of latency per step (ok and failed apart),
//! counts per outcome class and per HTTP status, totals and the per-second timeline.
//!
//! Latencies are recorded in microseconds into `Histogram<u64>` with bounds 1 µs ..= 1 hour
//! and 3 significant digits; larger values are saturated to the top (never an error). Every
//! buffer is allocated in [`Recorder::new`], so [`Recorder::record`] does not allocate.
//! Warmup is excluded from every statistic: outcomes and sent requests whose intended start
//! lies before the end of warmup are ignored.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::histogram::{add_histogram, latency_histogram, micros};
use super::timeline::{MAX_SECOND, Timeline, TimelinePoint};
use crate::outcome::{Outcome, OutcomeClass, StepIndex};

/// Number of outcome classes (the length of per-class counters).
pub const CLASS_COUNT: usize = OutcomeClass::ALL.len();

/// Distinct HTTP statuses per step that fit without a reallocation.
const STATUS_CAPACITY: usize = 16;

/// Counts per HTTP status: a few distinct values per step, so a flat list beats a map.
#[derive(Debug, Clone)]
pub(crate) struct StatusCounts {
    pub(crate) entries: Vec<(u16, u64)>,
}

impl StatusCounts {
    fn new() -> Self {
        Self {
            entries: Vec::with_capacity(STATUS_CAPACITY),
        }
    }

    #[inline]
    fn add(&mut self, status: u16, n: u64) {
        match self.entries.iter_mut().find(|(s, _)| *s == status) {
            Some((_, count)) => *count += n,
            // Only the 17th distinct status of a step allocates.
            None => self.entries.push((status, n)),
        }
    }
}

/// What one step recorded: latency histograms and counts.
#[derive(Debug, Clone)]
pub struct StepStats {
    pub(crate) ok: Histogram<u64>,
    pub(crate) failed: Histogram<u64>,
    pub(crate) classes: [u64; CLASS_COUNT],
    pub(crate) statuses: StatusCounts,
    /// Per second of intended start since warmup: `[outcomes, failures]` (dropped
    /// arrivals included), so a decision can count what was sent outside fault windows.
    pub(crate) seconds: Vec<[u64; 2]>,
}

impl Default for StepStats {
    fn default() -> Self {
        Self::new()
    }
}

impl StepStats {
    /// Empty statistics with every buffer allocated.
    pub fn new() -> Self {
        Self {
            ok: latency_histogram(),
            failed: latency_histogram(),
            classes: [0; CLASS_COUNT],
            statuses: StatusCounts::new(),
            seconds: Vec::new(),
        }
    }

    /// Counts one outcome started in `second` (since warmup), failed or not.
    #[inline]
    fn count_second(&mut self, second: u32, failed: bool) {
        let index = second as usize;
        if index >= self.seconds.len() {
            self.seconds.resize(index + 1, [0, 0]);
        }
        let slot = &mut self.seconds[index];
        slot[0] += 1;
        slot[1] += u64::from(failed);
    }

    /// Per second of intended start since warmup, `[outcomes, failures]`.
    pub fn seconds(&self) -> &[[u64; 2]] {
        &self.seconds
    }

    /// Latencies of successful outcomes, µs.
    pub fn ok_histogram(&self) -> &Histogram<u64> {
        &self.ok
    }

    /// Latencies of failed outcomes (dropped arrivals excluded: they have none), µs.
    pub fn failed_histogram(&self) -> &Histogram<u64> {
        &self.failed
    }

    /// Outcomes of `class`.
    pub fn class_count(&self, class: OutcomeClass) -> u64 {
        self.classes[class.index()]
    }

    /// Outcomes per class, indexed by [`OutcomeClass::index`].
    pub fn classes(&self) -> &[u64; CLASS_COUNT] {
        &self.classes
    }

    /// Answers per HTTP status, in no particular order.
    pub fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses.entries.iter().copied()
    }

    /// Every outcome of this step, dropped arrivals included.
    pub fn count(&self) -> u64 {
        self.classes.iter().sum()
    }

    /// Adds another step's statistics.
    pub fn merge(&mut self, other: &StepStats) {
        add_histogram(&mut self.ok, &other.ok);
        add_histogram(&mut self.failed, &other.failed);
        for (mine, theirs) in self.classes.iter_mut().zip(other.classes.iter()) {
            *mine += theirs;
        }
        for &(status, n) in &other.statuses.entries {
            self.statuses.add(status, n);
        }
        if other.seconds.len() > self.seconds.len() {
            self.seconds.resize(other.seconds.len(), [0, 0]);
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(other.seconds.iter()) {
            mine[0] += theirs[0];
            mine[1] += theirs[1];
        }
    }
}

/// Run-wide counts of the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests sent ([`Recorder::record_sent`]).
    pub sent: u64,
    /// Successful outcomes.
    pub ok: u64,
    /// Outcomes with a failure class other than `dropped`.
    pub failed: u64,
    /// Arrivals that never started because too many requests were in flight.
    pub dropped: u64,
}

impl Totals {
    /// Outcomes that completed (ok or failed; dropped arrivals never started).
    pub fn completed(&self) -> u64 {
        self.ok + self.failed
    }

    fn merge(&mut self, other: &Totals) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        self.dropped += other.dropped;
    }
}

/// The merged result of a run: per-step statistics, timeline and totals.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Statistics per step index.
    pub steps: Vec<StepStats>,
    /// One point per second of the measured window, from second 0 to the last.
    pub timeline: Vec<TimelinePoint>,
    /// Run-wide counts.
    pub totals: Totals,
}

/// Records outcomes of one worker (single owner; see `SharedRecorder` for threads).
#[derive(Debug, Clone)]
pub struct Recorder {
    warmup: Duration,
    steps: Vec<StepStats>,
    totals: Totals,
    pub(crate) timeline: Timeline,
}

impl Recorder {
    /// A recorder for `steps` steps that ignores everything intended before `warmup`.
    pub fn new(steps: usize, warmup: Duration) -> Self {
        Self {
            warmup,
            steps: (0..steps).map(|_| StepStats::new()).collect(),
            totals: Totals::default(),
            timeline: Timeline::new(),
        }
    }

    /// The warmup this recorder excludes.
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// Records one outcome (ignored when intended during warmup).
    ///
    /// Dropped arrivals count in their class, in the totals and as failed in the timeline,
    /// but add no latency.
    #[inline]
    pub fn record(&mut self, o: &Outcome) {
        let Some(second) = completion_second(self.warmup, o) else {
            return;
        };
        let started = second_of(o.intended.saturating_sub(self.warmup));
        let latency_us = micros(o.latency);
        let step = self.step_mut(o.step);
        step.classes[o.class.index()] += 1;
        step.count_second(started, o.class != OutcomeClass::Ok);
        if let Some(status) = o.status {
            step.statuses.add(status, 1);
        }
        match o.class {
            OutcomeClass::Ok => {
                step.ok.saturating_record(latency_us);
                self.totals.ok += 1;
                self.timeline.record_ok(second, latency_us);
            }
            OutcomeClass::Dropped => {
                self.totals.dropped += 1;
                self.timeline.record_failed(second);
            }
            _ => {
                step.failed.saturating_record(latency_us);
                self.totals.failed += 1;
                self.timeline.record_failed(second);
            }
        }
    }

    /// Counts one request sent with intended start `intended` (ignored during warmup).
    #[inline]
    pub fn record_sent(&mut self, intended: Duration) {
        let Some(since_warmup) = intended.checked_sub(self.warmup) else {
            return;
        };
        self.totals.sent += 1;
        self.timeline.record_sent(second_of(since_warmup));
    }

    /// Adds everything `other` recorded (see [`Timeline`] notes on closed seconds).
    ///
    /// Histograms and counts merge exactly. Timeline seconds that both recorders had
    /// already closed keep exact counts but approximate percentiles.
    pub fn merge(&mut self, other: &Recorder) {
        if other.steps.len() > self.steps.len() {
            self.steps.resize_with(other.steps.len(), StepStats::new);
        }
        for (mine, theirs) in self.steps.iter_mut().zip(other.steps.iter()) {
            mine.merge(theirs);
        }
        self.totals.merge(&other.totals);
        self.timeline.merge(&other.timeline);
    }

    /// Run-wide counts so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Statistics per step so far.
    pub fn steps(&self) -> &[StepStats] {
        &self.steps
    }

    /// How many per-second histograms hold data right now (bounded by the ring size).
    #[doc(hidden)]
    pub fn live_second_histograms(&self) -> usize {
        self.timeline.live_histograms()
    }

    /// Closes the timeline and returns the recording.
    pub fn finish(self) -> Recording {
        Recording {
            steps: self.steps,
            timeline: self.timeline.finish(),
            totals: self.totals,
        }
    }

    /// Splits into statistics and totals, leaving the timeline to the caller.
    pub(crate) fn into_parts(self) -> (Vec<StepStats>, Totals, Timeline) {
        (self.steps, self.totals, self.timeline)
    }

    #[inline]
    fn step_mut(&mut self, step: StepIndex) -> &mut StepStats {
        let index = usize::from(step);
        if index >= self.steps.len() {
            // A driver that reports more steps than announced loses nothing; this is the
            // only path that allocates after `new`.
            self.steps.resize_with(index + 1, StepStats::new);
        }
        &mut self.steps[index]
    }
}

/// The timeline second in which `o` completed, or `None` when it was intended in warmup.
#[inline]
pub(crate) fn completion_second(warmup: Duration, o: &Outcome) -> Option<u32> {
    let since_warmup = o.intended.checked_sub(warmup)?;
    // The latency is saturated here too, so an absurd value cannot push the timeline out.
    Some(second_of(
        since_warmup.saturating_add(Duration::from_micros(micros(o.latency))),
    ))
}

/// The timeline second of an offset from the end of warmup.
#[inline]
pub(crate) fn second_of(since_warmup: Duration) -> u32 {
    u32::try_from(since_warmup.as_secs())
        .unwrap_or(u32::MAX)
        .min(MAX_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::histogram::LATENCY_HIGH_US;

    fn outcome(step: StepIndex, intended_ms: u64, latency_us: u64, class: OutcomeClass) -> Outcome {
        Outcome {
            step,
            intended: Duration::from_millis(intended_ms),
            latency: Duration::from_micros(latency_us),
            class,
            status: match class {
                OutcomeClass::Ok => Some(200),
                OutcomeClass::Http5xx => Some(503),
                _ => None,
            },
            request_id: intended_ms,
        }
    }

    fn sample(i: u64) -> Outcome {
        let class = OutcomeClass::ALL[(i % 11 % CLASS_COUNT as u64) as usize];
        let class = if i.is_multiple_of(3) {
            OutcomeClass::Ok
        } else {
            class
        };
        outcome(
            (i % 3) as StepIndex,
            1_000 + i * 7,
            100 + (i * 7919) % 50_000,
            class,
        )
    }

    #[test]
    fn warmup_is_excluded_from_every_statistic() {
        let mut r = Recorder::new(1, Duration::from_secs(1));
        r.record(&outcome(0, 999, 10, OutcomeClass::Ok));
        r.record(&outcome(0, 500, 10, OutcomeClass::Http5xx));
        r.record(&outcome(0, 999, 10, OutcomeClass::Dropped));
        r.record_sent(Duration::from_millis(999));
        assert_eq!(r.totals(), Totals::default());
        assert_eq!(r.steps()[0].count(), 0);
        assert_eq!(r.steps()[0].statuses().count(), 0);
        assert!(r.clone().finish().timeline.is_empty());

        r.record(&outcome(0, 1_000, 10, OutcomeClass::Ok));
        r.record_sent(Duration::from_millis(1_000));
        assert_eq!(
            r.totals(),
            Totals {
                sent: 1,
                ok: 1,
                failed: 0,
                dropped: 0
            }
        );
        assert_eq!(r.steps()[0].ok_histogram().len(), 1);
    }

    #[test]
    fn dropped_counts_in_classes_but_adds_no_latency() {
        let mut r = Recorder::new(1, Duration::ZERO);
        r.record(&outcome(0, 10, 0, OutcomeClass::Dropped));
        r.record(&outcome(0, 20, 0, OutcomeClass::Dropped));
        let step = &r.steps()[0];
        assert_eq!(step.class_count(OutcomeClass::Dropped), 2);
        assert_eq!(step.count(), 2);
        assert!(step.ok_histogram().is_empty());
        assert!(step.failed_histogram().is_empty());
        assert_eq!(
            r.totals(),
            Totals {
                sent: 0,
                ok: 0,
                failed: 0,
                dropped: 2
            }
        );
        let timeline = r.finish().timeline;
        assert_eq!(
            timeline,
            vec![TimelinePoint {
                failed: 2,
                ..TimelinePoint::empty(0)
            }]
        );
    }

    #[test]
    fn failures_go_to_the_failed_histogram_with_their_status() {
        let mut r = Recorder::new(2, Duration::ZERO);
        r.record(&outcome(1, 0, 700, OutcomeClass::Http5xx));
        r.record(&outcome(1, 0, 300, OutcomeClass::Ok));
        let step = &r.steps()[1];
        assert_eq!(step.failed_histogram().len(), 1);
        assert_eq!(step.ok_histogram().len(), 1);
        let mut statuses: Vec<_> = step.statuses().collect();
        statuses.sort_unstable();
        assert_eq!(statuses, vec![(200, 1), (503, 1)]);
        assert_eq!(
            r.totals(),
            Totals {
                sent: 0,
                ok: 1,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[test]
    fn latencies_above_one_hour_saturate_instead_of_failing() {
        let mut r = Recorder::new(1, Duration::ZERO);
        let mut o = outcome(0, 0, 0, OutcomeClass::Ok);
        o.latency = Duration::from_secs(10 * 3600);
        r.record(&o);
        o.latency = Duration::MAX;
        r.record(&o);
        let h = r.steps()[0].ok_histogram();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= LATENCY_HIGH_US && h.max() <= h.highest_equivalent(LATENCY_HIGH_US));
        // The timeline places them at most an hour after their start, not in year 500 billion.
        let timeline = r.finish().timeline;
        assert_eq!(timeline.len(), 3601);
        assert_eq!(timeline[3600].ok, 2);
    }

    #[test]
    fn steps_beyond_the_announced_count_are_kept() {
        let mut r = Recorder::new(1, Duration::ZERO);
        r.record(&outcome(4, 0, 10, OutcomeClass::Ok));
        assert_eq!(r.steps().len(), 5);
        assert_eq!(r.steps()[4].count(), 1);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut all = Recorder::new(3, Duration::from_secs(1));
        let mut left = Recorder::new(3, Duration::from_secs(1));
        let mut right = Recorder::new(2, Duration::from_secs(1));
        for i in 0..400 {
            let o = sample(i);
            all.record(&o);
            all.record_sent(o.intended);
            let part = if i % 2 == 0 { &mut left } else { &mut right };
            part.record(&o);
            part.record_sent(o.intended);
        }
        left.merge(&right);
        assert_eq!(left.totals(), all.totals());
        for (a, b) in left.steps().iter().zip(all.steps()) {
            assert_eq!(a.ok_histogram(), b.ok_histogram());
            assert_eq!(a.failed_histogram(), b.failed_histogram());
            assert_eq!(a.classes(), b.classes());
            let (mut sa, mut sb): (Vec<_>, Vec<_>) =
                (a.statuses().collect(), b.statuses().collect());
            sa.sort_unstable();
            sb.sort_unstable();
            assert_eq!(sa, sb);
        }
        // 400 outcomes 7 ms apart span under 3 s: every second is still open, so the
        // merged timeline is exact, percentiles included.
        assert_eq!(left.finish().timeline, all.finish().timeline);
    }

    #[test]
    fn merge_of_closed_seconds_keeps_every_count() {
        let mut all = Recorder::new(1, Duration::ZERO);
        let mut left = Recorder::new(1, Duration::ZERO);
        let mut right = Recorder::new(1, Duration::ZERO);
        for i in 0..2_000u64 {
            let o = outcome(0, i * 10, 1_000 + i, OutcomeClass::Ok);
            all.record(&o);
            if i % 2 == 0 {
                left.record(&o)
            } else {
                right.record(&o)
            }
        }
        left.merge(&right);
        let (merged, single) = (left.finish().timeline, all.finish().timeline);
        assert_eq!(merged.len(), single.len());
        for (m, s) in merged.iter().zip(&single) {
            assert_eq!(
                (m.second, m.sent, m.ok, m.failed),
                (s.second, s.sent, s.ok, s.failed)
            );
            assert!(
                m.p99_us >= s.p99_us,
                "p99 of merged closed seconds is an upper bound"
            );
        }
    }

    #[test]
    fn timeline_places_outcomes_at_completion_and_sends_at_intended_start() {
        let mut r = Recorder::new(1, Duration::from_secs(2));
        // Intended at 2.5 s (second 0), completes at 4.7 s (second 2).
        r.record(&outcome(0, 2_500, 2_200_000, OutcomeClass::Ok));
        r.record_sent(Duration::from_millis(2_500));
        // Intended at 7.1 s: second 5; fails quickly.
        r.record(&outcome(0, 7_100, 50, OutcomeClass::Timeout));
        r.record_sent(Duration::from_millis(7_100));
        let t = r.finish().timeline;
        assert_eq!(t.len(), 6);
        assert_eq!(
            t.iter().map(|p| p.second).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5]
        );
        assert_eq!(
            t[0],
            TimelinePoint {
                sent: 1,
                ..TimelinePoint::empty(0)
            }
        );
        assert_eq!((t[2].ok, t[2].failed), (1, 0));
        assert!(t[2].p50_us >= 2_200_000 && t[2].p50_us <= 2_200_000 * 101 / 100);
        assert_eq!(t[2].p99_us, t[2].p50_us);
        assert_eq!(t[1], TimelinePoint::empty(1));
        assert_eq!((t[5].sent, t[5].failed), (1, 1));
    }

    #[test]
    fn timeline_sums_match_the_totals() {
        let mut r = Recorder::new(3, Duration::from_secs(1));
        for i in 0..5_000 {
            let o = sample(i);
            r.record(&o);
            r.record_sent(o.intended);
        }
        let rec = r.finish();
        let sum = |f: fn(&TimelinePoint) -> u64| rec.timeline.iter().map(f).sum::<u64>();
        assert_eq!(sum(|p| p.sent), rec.totals.sent);
        assert_eq!(sum(|p| p.ok), rec.totals.ok);
        assert_eq!(sum(|p| p.failed), rec.totals.failed + rec.totals.dropped);
        assert!(
            rec.timeline
                .windows(2)
                .all(|w| w[1].second == w[0].second + 1)
        );
    }

    #[test]
    fn late_arrivals_go_to_the_oldest_open_second() {
        let mut r = Recorder::new(1, Duration::ZERO);
        r.record(&outcome(0, 0, 10, OutcomeClass::Ok));
        r.record(&outcome(0, 10_000, 10, OutcomeClass::Ok)); // second 10 closes second 0
        r.record(&outcome(0, 1_000, 10, OutcomeClass::Ok)); // second 1 is closed: goes to 7
        let t = r.finish().timeline;
        assert_eq!(t.len(), 11);
        assert_eq!(t[0].ok, 1);
        assert_eq!(t[1].ok, 0);
        assert_eq!(t[7].ok, 1);
        assert_eq!(t[10].ok, 1);
    }

    #[test]
    fn timeline_memory_stays_bounded_over_ten_thousand_seconds() {
        let mut r = Recorder::new(2, Duration::from_secs(1));
        let mut peak = 0;
        for ms in (0..10_000_000u64).step_by(250) {
            let o = outcome(
                (ms % 2) as StepIndex,
                1_000 + ms,
                500 + ms % 9_000,
                OutcomeClass::Ok,
            );
            r.record(&o);
            r.record_sent(o.intended);
            peak = peak.max(r.live_second_histograms());
        }
        assert!(
            peak <= super::super::timeline::RING,
            "peak {peak} live per-second histograms"
        );
        let rec = r.finish();
        assert_eq!(rec.timeline.len(), 10_000);
        assert_eq!(rec.timeline[5_000].ok, 4);
        assert_eq!(rec.timeline[5_000].sent, 4);
    }
}
