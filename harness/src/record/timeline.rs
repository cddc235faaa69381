//! The per-second timeline of a run: sent, ok, failed, p50 and p99 for every second of the
//! measured window, the data behind the report's rate, error and latency charts.
//!
//! Second 0 starts at the end of warmup. An outcome belongs to the second in which it
//! completed (`intended + latency - warmup`), a sent request to the second in which it was
//! intended to start (`intended - warmup`).
//!
//! Memory stays flat however long the run is: a [`Timeline`] keeps only a small ring of
//! [`RING`] open seconds, each with a low-precision histogram that is reused, never
//! reallocated. When a newer second needs a slot, the oldest open seconds are closed into
//! [`TimelinePoint`]s (a few numbers each) and their histograms are cleared.
//!
//! Late arrivals: a record for a second that is already closed goes to the oldest second
//! that is still open. With outcomes recorded as they complete this moves only the rare
//! stragglers, by a second or two, and it keeps every count.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::histogram::{LATENCY_HIGH_US, LATENCY_LOW_US, add_histogram};

/// Number of open seconds a [`Timeline`] keeps (the ring's slots).
pub(crate) const RING: usize = 4;

/// Significant digits of the per-second histograms: plenty for a chart, 1/7 of the memory.
const TIMELINE_SIGNIFICANT_DIGITS: u8 = 2;

/// Last second the timeline tracks (7 days); later events count in this second, so a
/// nonsensical timestamp cannot make the finished timeline grow without bound.
pub(crate) const MAX_SECOND: u32 = 7 * 24 * 3600;

/// One second of the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the end of warmup (0-based).
    pub second: u32,
    /// Requests sent (by intended start) in this second.
    pub sent: u64,
    /// Successful outcomes completed in this second.
    pub ok: u64,
    /// Outcomes that did not succeed in this second, dropped arrivals included.
    pub failed: u64,
    /// Median latency of this second's successful outcomes, µs (0 without any).
    pub p50_us: u64,
    /// 99th percentile latency of this second's successful outcomes, µs (0 without any).
    pub p99_us: u64,
}

impl TimelinePoint {
    /// A second in which nothing happened.
    pub fn empty(second: u32) -> Self {
        Self {
            second,
            sent: 0,
            ok: 0,
            failed: 0,
            p50_us: 0,
            p99_us: 0,
        }
    }

    /// Folds in another summary of the same second when the histograms are gone.
    ///
    /// Counts add exactly. Percentiles cannot be merged from summaries, so this is an
    /// approximation: p99 becomes the larger of the two (an upper bound of the true p99)
    /// and p50 the ok-weighted mean of the two. Only reached when two recorders closed the
    /// same second separately (see [`Timeline::merge`]).
    pub(crate) fn absorb_approx(&mut self, other: &TimelinePoint) {
        let total_ok = self.ok + other.ok;
        if other.ok > 0 {
            if self.ok == 0 {
                self.p50_us = other.p50_us;
                self.p99_us = other.p99_us;
            } else {
                let weighted = u128::from(self.p50_us) * u128::from(self.ok)
                    + u128::from(other.p50_us) * u128::from(other.ok);
                let mean = weighted / u128::from(total_ok);
                self.p50_us = u64::try_from(mean).unwrap_or(u64::MAX);
                self.p99_us = self.p99_us.max(other.p99_us);
            }
        }
        self.sent += other.sent;
        self.ok = total_ok;
        self.failed += other.failed;
    }
}

/// A low-precision latency histogram for one second.
fn second_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LATENCY_LOW_US, LATENCY_HIGH_US, TIMELINE_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// One second that is still open: its counts and a histogram of its ok latencies.
#[derive(Debug, Clone)]
pub(crate) struct OpenSecond {
    /// Which second this slot holds, when `occupied`.
    pub(crate) second: u32,
    /// False while the slot is free.
    pub(crate) occupied: bool,
    sent: u64,
    ok: u64,
    failed: u64,
    ok_latency: Histogram<u64>,
}

impl OpenSecond {
    /// A free slot with its histogram allocated up front.
    pub(crate) fn new() -> Self {
        Self {
            second: 0,
            occupied: false,
            sent: 0,
            ok: 0,
            failed: 0,
            ok_latency: second_histogram(),
        }
    }

    /// Frees the slot; keeps the histogram's memory for the next second.
    pub(crate) fn clear(&mut self) {
        if self.occupied {
            self.occupied = false;
            self.sent = 0;
            self.ok = 0;
            self.failed = 0;
            self.ok_latency.reset();
        }
    }

    /// Takes the slot for `second` (it must be free).
    pub(crate) fn claim(&mut self, second: u32) {
        self.second = second;
        self.occupied = true;
    }

    /// Adds another open slot's data (exact: histograms merge).
    pub(crate) fn absorb(&mut self, other: &OpenSecond) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        add_histogram(&mut self.ok_latency, &other.ok_latency);
    }

    /// The summary of this second.
    pub(crate) fn to_point(&self) -> TimelinePoint {
        let (p50_us, p99_us) = if self.ok_latency.is_empty() {
            (0, 0)
        } else {
            (
                self.ok_latency.value_at_quantile(0.50),
                self.ok_latency.value_at_quantile(0.99),
            )
        };
        TimelinePoint {
            second: self.second,
            sent: self.sent,
            ok: self.ok,
            failed: self.failed,
            p50_us,
            p99_us,
        }
    }
}

/// The timeline of one recorder: a ring of open seconds plus the closed summaries.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    /// Every second below `base` is closed; open seconds lie in `base..base + RING`.
    base: u32,
    /// Slot `s % RING` holds second `s`.
    slots: Vec<OpenSecond>,
    /// Closed seconds, sorted by second, without gaps filled in.
    closed: Vec<TimelinePoint>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// An empty timeline with its ring allocated.
    pub(crate) fn new() -> Self {
        Self {
            base: 0,
            slots: (0..RING).map(|_| OpenSecond::new()).collect(),
            closed: Vec::new(),
        }
    }

    /// Counts one request sent in `second`.
    #[inline]
    pub(crate) fn record_sent(&mut self, second: u32) {
        self.slot(second).sent += 1;
    }

    /// Counts one successful outcome completed in `second` with `latency_us`.
    #[inline]
    pub(crate) fn record_ok(&mut self, second: u32, latency_us: u64) {
        let slot = self.slot(second);
        slot.ok += 1;
        slot.ok_latency.saturating_record(latency_us);
    }

    /// Counts one outcome that did not succeed in `second`.
    #[inline]
    pub(crate) fn record_failed(&mut self, second: u32) {
        self.slot(second).failed += 1;
    }

    /// The open slot for `second`, closing older seconds when the ring must move on.
    #[inline]
    fn slot(&mut self, second: u32) -> &mut OpenSecond {
        // Late arrivals go to the oldest open second (see the module docs).
        let second = second.max(self.base).min(MAX_SECOND);
        if u64::from(second) >= u64::from(self.base) + RING as u64 {
            self.advance(second - (RING as u32 - 1));
        }
        let index = second as usize % RING;
        if self.slots[index].occupied && self.slots[index].second != second {
            // Cannot happen while open seconds stay within the window; if it ever did,
            // closing the old second beats mixing two seconds in one point.
            insert_point(&mut self.closed, self.slots[index].to_point());
            self.slots[index].clear();
        }
        let slot = &mut self.slots[index];
        if !slot.occupied {
            slot.claim(second);
        }
        slot
    }

    /// Closes every open second below `new_base` into a summary point.
    fn advance(&mut self, new_base: u32) {
        let closed = &mut self.closed;
        close_below(&mut self.slots, new_base, |slot| {
            insert_point(closed, slot.to_point())
        });
        self.base = self.base.max(new_base);
    }

    /// Hands every open second below `before` to `sink` (oldest first) and frees it; later
    /// records for those seconds go to `before` or newer.
    pub(crate) fn drain_before(&mut self, before: u32, sink: impl FnMut(&OpenSecond)) {
        close_below(&mut self.slots, before, sink);
        self.base = self.base.max(before.min(MAX_SECOND));
    }

    /// Adds another timeline.
    ///
    /// Open seconds merge exactly. Seconds that either side had already closed keep exact
    /// counts but approximate percentiles ([`TimelinePoint::absorb_approx`]); a
    /// `SharedRecorder` avoids this by closing seconds across all of its shards at once.
    pub(crate) fn merge(&mut self, other: &Timeline) {
        let mut open: Vec<&OpenSecond> = other.slots.iter().filter(|s| s.occupied).collect();
        open.sort_by_key(|s| s.second);
        for theirs in open {
            if theirs.second < self.base {
                insert_point(&mut self.closed, theirs.to_point());
            } else {
                self.slot(theirs.second).absorb(theirs);
            }
        }
        for point in &other.closed {
            insert_point(&mut self.closed, *point);
        }
    }

    /// Closes every second and returns the dense timeline (see [`densify`]).
    pub(crate) fn finish(mut self) -> Vec<TimelinePoint> {
        self.advance(u32::MAX);
        densify(self.closed)
    }

    /// Takes the closed summaries collected so far (sorted, sparse).
    pub(crate) fn take_closed(&mut self) -> Vec<TimelinePoint> {
        std::mem::take(&mut self.closed)
    }

    /// How many per-second histograms currently hold data (never more than [`RING`]).
    #[doc(hidden)]
    pub(crate) fn live_histograms(&self) -> usize {
        self.slots.iter().filter(|s| s.occupied).count()
    }
}

/// Hands the occupied slots below `before` to `sink`, oldest first, and frees them.
fn close_below(slots: &mut [OpenSecond], before: u32, mut sink: impl FnMut(&OpenSecond)) {
    // The ring is tiny: repeated minimum search beats sorting and allocates nothing.
    while let Some(slot) = slots
        .iter_mut()
        .filter(|s| s.occupied && s.second < before)
        .min_by_key(|s| s.second)
    {
        sink(slot);
        slot.clear();
    }
}

/// Inserts `point` into sorted `points`, folding it into an existing point of its second.
pub(crate) fn insert_point(points: &mut Vec<TimelinePoint>, point: TimelinePoint) {
    // Seconds close in ascending order, so the common case is a push at the end.
    match points.last_mut() {
        None => points.push(point),
        Some(last) if last.second < point.second => points.push(point),
        Some(last) if last.second == point.second => last.absorb_approx(&point),
        Some(_) => match points.binary_search_by_key(&point.second, |p| p.second) {
            Ok(i) => points[i].absorb_approx(&point),
            Err(i) => points.insert(i, point),
        },
    }
}

/// Turns sorted, sparse points into one point per second from 0 up to the last second.
pub(crate) fn densify(points: Vec<TimelinePoint>) -> Vec<TimelinePoint> {
    let Some(last) = points.last() else {
        return Vec::new();
    };
    let mut dense = Vec::with_capacity(last.second as usize + 1);
    for point in points {
        while (dense.len() as u64) < u64::from(point.second) {
            dense.push(TimelinePoint::empty(dense.len() as u32));
        }
        dense.push(point);
    }
    dense
}
