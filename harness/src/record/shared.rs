//! [`SharedRecorder`]: a recorder that many threads (tokio workers) record into at once.
//!
//! It holds one [`Recorder`] per shard behind its own mutex. Each thread is given a shard
//! index once (cached in a thread-local), so a worker thread mostly locks its own,
//! uncontended shard. Histograms and counts of the shards are merged once, in
//! [`SharedRecorder::finish`].
//!
//! The timeline needs more care: a second's p50 and p99 must come from the merge of every
//! shard's histogram of that second. So seconds are closed across all shards at once, by
//! whichever comes first: [`SharedRecorder::tick`] (the driver calls it about once per
//! second), or the first record of a new second. Seconds older than [`GRACE`] seconds are
//! moved out of every shard, merged into one summary point, and their histograms cleared.
//! This assumes outcomes are recorded as they complete, which is what drivers do.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use super::recorder::{Recorder, Recording, completion_second, second_of};
use super::timeline::{OpenSecond, TimelinePoint, densify, insert_point};
use crate::outcome::Outcome;

/// Seconds a second stays open after it ends, for outcomes recorded a little late.
pub const GRACE: u32 = 2;

/// Counts for a progress bar (measured window only: warmup is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests sent.
    pub sent: u64,
    /// Successful outcomes.
    pub ok: u64,
    /// Outcomes that did not succeed, dropped arrivals included.
    pub failed: u64,
}

/// Where closed seconds of all shards are merged.
#[derive(Debug, Default)]
struct Closer {
    /// Every second below this has been closed in every shard.
    closed_below: u32,
    /// Seconds being merged in the current pass.
    pending: Vec<OpenSecond>,
    /// Cleared per-second histograms kept for the next pass (no reallocation).
    spare: Vec<OpenSecond>,
    /// Closed seconds, sorted, sparse.
    points: Vec<TimelinePoint>,
}

impl Closer {
    fn absorb(&mut self, slot: &OpenSecond) {
        let index = match self.pending.iter().position(|p| p.second == slot.second) {
            Some(index) => index,
            None => {
                let mut fresh = self.spare.pop().unwrap_or_else(OpenSecond::new);
                fresh.claim(slot.second);
                self.pending.push(fresh);
                self.pending.len() - 1
            }
        };
        self.pending[index].absorb(slot);
    }

    fn flush(&mut self) {
        self.pending.sort_by_key(|p| p.second);
        for mut second in self.pending.drain(..) {
            insert_point(&mut self.points, second.to_point());
            second.clear();
            self.spare.push(second);
        }
    }
}

/// A recorder shared by many threads: per-thread shards, merged at the end.
#[derive(Debug)]
pub struct SharedRecorder {
    warmup: Duration,
    shards: Vec<Mutex<Recorder>>,
    closer: Mutex<Closer>,
    /// Copy of `Closer::closed_below`, read without a lock on the hot path.
    closed_below: AtomicU32,
}

/// Hands out shard indexes to threads in order of first use.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

fn thread_index() -> usize {
    THREAD_INDEX.with(|cell| match cell.get() {
        Some(index) => index,
        None => {
            let index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            cell.set(Some(index));
            index
        }
    })
}

/// Locks `m`, carrying on after a panic elsewhere: the data are counters, still valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SharedRecorder {
    /// A recorder with `shards` shards (at least one; use the number of worker threads).
    pub fn new(steps: usize, warmup: Duration, shards: usize) -> Self {
        Self {
            warmup,
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Recorder::new(steps, warmup)))
                .collect(),
            closer: Mutex::new(Closer::default()),
            closed_below: AtomicU32::new(0),
        }
    }

    /// The warmup: outcomes intended before it are left out of every statistic.
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// Records one outcome (ignored when intended during warmup).
    #[inline]
    pub fn record(&self, o: &Outcome) {
        if let Some(second) = completion_second(self.warmup, o) {
            self.close_if_due(second);
        }
        self.with_shard(|r| r.record(o));
    }

    /// Counts one request sent with intended start `intended` (ignored during warmup).
    #[inline]
    pub fn record_sent(&self, intended: Duration) {
        if let Some(since_warmup) = intended.checked_sub(self.warmup) {
            self.close_if_due(second_of(since_warmup));
        }
        self.with_shard(|r| r.record_sent(intended));
    }

    /// Closes the timeline's seconds that ended more than [`GRACE`] s before
    /// `elapsed_since_start` (warmup included); call it about once per second.
    pub fn tick(&self, elapsed_since_start: Duration) {
        if let Some(since_warmup) = elapsed_since_start.checked_sub(self.warmup) {
            let before = second_of(since_warmup).saturating_sub(GRACE);
            self.close_before(before, true);
        }
    }

    /// Counts so far, for a progress bar.
    pub fn progress(&self) -> Progress {
        let mut progress = Progress::default();
        for shard in &self.shards {
            let totals = lock(shard).totals();
            progress.sent += totals.sent;
            progress.ok += totals.ok;
            progress.failed += totals.failed + totals.dropped;
        }
        progress
    }

    /// Merges the shards into the final recording.
    pub fn finish(self) -> Recording {
        let closer = self
            .closer
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let shards = self
            .shards
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner));
        merge_all(self.warmup, closer, shards)
    }

    /// The recording so far, leaving this recorder untouched (for when another owner still
    /// holds it, e.g. a request that outlived the run; costs a copy of every shard).
    pub fn snapshot(&self) -> Recording {
        let closer = lock(&self.closer);
        let copy = Closer {
            closed_below: closer.closed_below,
            points: closer.points.clone(),
            ..Closer::default()
        };
        let shards: Vec<Recorder> = self.shards.iter().map(|s| lock(s).clone()).collect();
        drop(closer);
        merge_all(self.warmup, copy, shards.into_iter())
    }

    /// How many per-second histograms are allocated right now (bounded by shards × ring).
    #[doc(hidden)]
    pub fn live_second_histograms(&self) -> usize {
        let closer = lock(&self.closer);
        let in_shards: usize = self
            .shards
            .iter()
            .map(|s| lock(s).live_second_histograms())
            .sum();
        in_shards + closer.pending.len() + closer.spare.len()
    }

    /// Runs `f` on this thread's shard, or on a free neighbour when it is busy.
    #[inline]
    fn with_shard<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> R {
        let n = self.shards.len();
        let home = thread_index() % n;
        for candidate in [home, (home + 1) % n] {
            match self.shards[candidate].try_lock() {
                Ok(mut guard) => return f(&mut guard),
                Err(TryLockError::Poisoned(poisoned)) => return f(&mut poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        f(&mut lock(&self.shards[home]))
    }

    /// Starts a closing pass when a record for `second` shows that older seconds are done.
    #[inline]
    fn close_if_due(&self, second: u32) {
        let before = second.saturating_sub(GRACE);
        if before > self.closed_below.load(Ordering::Relaxed) {
            // Another thread closing at the same moment does the work; do not queue up.
            self.close_before(before, false);
        }
    }

    /// Moves every second below `before` out of all shards into merged summary points.
    fn close_before(&self, before: u32, wait: bool) {
        let mut closer = if wait {
            lock(&self.closer)
        } else {
            match self.closer.try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            }
        };
        if before <= closer.closed_below {
            return;
        }
        // Lock order is always closer, then one shard at a time: never two shards at once.
        for shard in &self.shards {
            lock(shard)
                .timeline
                .drain_before(before, |slot| closer.absorb(slot));
        }
        closer.flush();
        closer.closed_below = before;
        self.closed_below.store(before, Ordering::Relaxed);
    }
}

/// Closes every open second of `shards` into `closer` and merges everything.
fn merge_all(
    warmup: Duration,
    mut closer: Closer,
    shards: impl Iterator<Item = Recorder>,
) -> Recording {
    let mut all = Recorder::new(0, warmup);
    for mut recorder in shards {
        recorder
            .timeline
            .drain_before(u32::MAX, |slot| closer.absorb(slot));
        // Only seconds a shard had to close on its own (no tick, no new-second trigger in
        // time) remain in its timeline; they merge with approximate percentiles.
        all.merge(&recorder);
    }
    closer.flush();
    let (steps, totals, mut timeline) = all.into_parts();
    let mut points = closer.points;
    for point in timeline.take_closed() {
        insert_point(&mut points, point);
    }
    Recording {
        steps,
        timeline: densify(points),
        totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{OutcomeClass, StepIndex};
    use crate::record::timeline::RING;
    use std::sync::Arc;

    fn outcome(step: StepIndex, intended_ms: u64, latency_us: u64, class: OutcomeClass) -> Outcome {
        Outcome {
            step,
            intended: Duration::from_millis(intended_ms),
            latency: Duration::from_micros(latency_us),
            class,
            status: Some(200),
            request_id: 0,
        }
    }

    #[test]
    fn shards_merge_into_the_same_recording_as_one_recorder() {
        let shared = Arc::new(SharedRecorder::new(2, Duration::from_secs(1), 4));
        let mut single = Recorder::new(2, Duration::from_secs(1));
        let outcomes: Vec<Outcome> = (0..4_000u64)
            .map(|i| {
                let class = if i % 5 == 0 {
                    OutcomeClass::Http5xx
                } else {
                    OutcomeClass::Ok
                };
                outcome((i % 2) as StepIndex, i * 3, 200 + i % 5_000, class)
            })
            .collect();
        for o in &outcomes {
            single.record(o);
            single.record_sent(o.intended);
        }
        // Four threads, each with its own slice in time order, as drivers produce them.
        std::thread::scope(|scope| {
            for part in outcomes.chunks(1_000) {
                let shared = Arc::clone(&shared);
                scope.spawn(move || {
                    for o in part {
                        shared.record_sent(o.intended);
                        shared.record(o);
                    }
                });
            }
        });
        let progress = shared.progress();
        let snapshot = shared.snapshot();
        let shared = Arc::into_inner(shared).expect("threads are done");
        let (a, b) = (shared.finish(), single.finish());
        assert_eq!(snapshot.totals, a.totals);
        assert_eq!(snapshot.timeline, a.timeline);
        assert_eq!(a.totals, b.totals);
        assert_eq!(
            progress,
            Progress {
                sent: b.totals.sent,
                ok: b.totals.ok,
                failed: b.totals.failed
            }
        );
        for (x, y) in a.steps.iter().zip(&b.steps) {
            assert_eq!(x.ok_histogram(), y.ok_histogram());
            assert_eq!(x.failed_histogram(), y.failed_histogram());
            assert_eq!(x.classes(), y.classes());
        }
        let counts = |t: &[TimelinePoint]| t.iter().map(|p| p.sent + p.ok + p.failed).sum::<u64>();
        assert_eq!(counts(&a.timeline), counts(&b.timeline));
    }

    #[test]
    fn ticks_close_seconds_across_shards_exactly() {
        let shared = SharedRecorder::new(1, Duration::ZERO, 3);
        let mut single = Recorder::new(1, Duration::ZERO);
        for second in 0..50u64 {
            for i in 0..30u64 {
                let o = outcome(
                    0,
                    second * 1_000 + i * 30,
                    100 + i * 97 + second,
                    OutcomeClass::Ok,
                );
                // Spread one second over all shards, as several workers would.
                let shard = (i % 3) as usize;
                lock(&shared.shards[shard]).record(&o);
                single.record(&o);
            }
            shared.tick(Duration::from_secs(second + 1));
            assert!(shared.live_second_histograms() <= 3 * RING + RING);
        }
        let (a, b) = (shared.finish(), single.finish());
        // Every second closed from all shards at once: percentiles equal one recorder's.
        assert_eq!(a.timeline, b.timeline);
    }

    #[test]
    fn a_new_second_closes_old_ones_without_tick() {
        let shared = SharedRecorder::new(1, Duration::ZERO, 2);
        for ms in (0..600_000u64).step_by(100) {
            shared.record(&outcome(0, ms, 1_000, OutcomeClass::Ok));
            assert!(shared.live_second_histograms() <= 2 * RING + RING);
        }
        let recording = shared.finish();
        assert_eq!(recording.timeline.len(), 600);
        assert!(recording.timeline.iter().all(|p| p.ok == 10));
    }
}
