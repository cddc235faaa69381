//! The open model: arrivals at a rate that does not wait for the service.
//!
//! A dedicated thread releases each arrival at its intended time and hands it to the
//! tokio runtime; a request that ends also releases the arrivals already due, so that a
//! freed `max_in_flight` permit is used at once. Latency is measured from the intended
//! time, so a stall of the service (or of the generator) shows in the numbers instead of
//! being omitted.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::drive_common::{Drive, spawn_ticker};
use super::flow::IterationContext;
use super::pick::FlowPicker;
use super::schedule::{ArrivalSchedule, RateCurve};
use super::segment::{self, Segment};
use super::stop::StopSignal;
use crate::outcome::DriverReport;
use crate::scenario::{Flow, Spacing};

/// Longest single sleep, so that a stop is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

/// Shortest sleep of the dispatcher thread while every `max_in_flight` permit is taken.
///
/// Below saturation the dispatcher sleeps exactly until the next arrival. Saturated, the
/// workers release the overdue arrivals themselves as their requests end (see
/// [`Releaser`]), so the thread is only needed to drop the arrivals nobody can take, and
/// waking for each of them would cost the workers two context switches apiece when they
/// share a core with it. So it sleeps at least this long and then drops (or starts)
/// every arrival that fell due meanwhile; a start's lateness is measured and counted in
/// its latency, as always.
const SATURATED_MIN_SLEEP: Duration = Duration::from_millis(1);

/// Counts kept by the dispatcher thread.
#[derive(Debug)]
struct Dispatch {
    started: u64,
    dropped: u64,
    lag_us: Option<Histogram<u64>>,
    ended_at: Instant,
    interrupted: bool,
}

/// Runs the open model along `curve`; see the module documentation.
pub async fn run_open(drive: Drive, curve: RateCurve, spacing: Spacing) -> DriverReport {
    let Drive {
        ctx,
        flows,
        load,
        seed,
        stop,
        progress,
        segment,
    } = drive;
    let warmup = load.warmup;
    let semaphore = Arc::new(Semaphore::new(load.max_in_flight));
    let ticker = spawn_ticker(ctx.clone(), progress);

    let dispatcher = Dispatcher {
        ctx: ctx.clone(),
        flows: flows.clone(),
        curve,
        spacing,
        seed,
        segment,
        total: load.warmup + load.duration,
        warmup,
        semaphore: semaphore.clone(),
        stop: stop.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    let dispatch = tokio::task::spawn_blocking(move || dispatcher.run());
    let dispatch = match dispatch.await {
        Ok(dispatch) => dispatch,
        Err(_) => Dispatch {
            started: 0,
            dropped: 0,
            lag_us: None,
            ended_at: Instant::now(),
            interrupted: true,
        },
    };

    // Let requests in flight finish; each may take up to one timeout per step.
    let longest_flow = flows.iter().map(|f| f.steps.len()).max().unwrap_or(1) as u32;
    let drain = load.timeout * longest_flow + Duration::from_secs(1);
    let all = u32::try_from(load.max_in_flight).unwrap_or(u32::MAX);
    tokio::select! {
        _ = semaphore.acquire_many(all) => {}
        _ = tokio::time::sleep(drain) => {}
        _ = stop.triggered(), if !dispatch.interrupted => {}
    }
    ticker.abort();

    let elapsed = Instant::now().saturating_duration_since(ctx.epoch());
    let measured_end = dispatch.ended_at.saturating_duration_since(ctx.epoch());
    let window = if dispatch.interrupted {
        measured_end.saturating_sub(warmup)
    } else {
        measured_end.saturating_sub(warmup).max(load.duration)
    };
    let window_s = window.as_secs_f64();
    // The target is what this run's schedule asked for in its own window: with Poisson
    // spacing that count is itself random, and judging the generator against the mean
    // rate would flag honest runs. A generator that falls behind stretches `window` and
    // so shows as achieved < target.
    let scheduled = dispatch.started + dispatch.dropped;
    let schedule_window = if dispatch.interrupted {
        window
    } else {
        load.duration
    };
    let target_rate =
        (!schedule_window.is_zero()).then(|| scheduled as f64 / schedule_window.as_secs_f64());
    let achieved_rate = if window_s > 0.0 {
        dispatch.started as f64 / window_s
    } else {
        0.0
    };
    let dispatch_lag_p99_us = dispatch
        .lag_us
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| h.value_at_quantile(0.99));
    DriverReport {
        elapsed,
        interrupted: dispatch.interrupted,
        target_rate,
        achieved_rate,
        dispatch_lag_p99_us,
        dropped: dispatch.dropped,
        notes: Vec::new(),
    }
}

/// The arrival loop, on its own thread: releases each arrival at its intended time.
struct Dispatcher {
    ctx: Arc<IterationContext>,
    flows: Arc<[Flow]>,
    curve: RateCurve,
    spacing: Spacing,
    seed: u64,
    segment: Segment,
    total: Duration,
    warmup: Duration,
    semaphore: Arc<Semaphore>,
    stop: StopSignal,
    handle: tokio::runtime::Handle,
}

impl Dispatcher {
    fn run(self) -> Dispatch {
        let Dispatcher {
            ctx,
            flows,
            curve,
            spacing,
            seed,
            segment,
            total,
            warmup,
            semaphore,
            stop,
            handle,
        } = self;
        let _precise = PreciseSleeps::start();
        let mut state = ReleaseState {
            schedule: ArrivalSchedule::new(curve, spacing, seed, total),
            segment,
            arrivals: 0,
            next: None,
            picker: FlowPicker::new(&flows),
            // Flow choices get their own stream so they do not shift the arrival times.
            flow_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
            lag: Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok(),
            started: 0,
            dropped: 0,
            saturated: false,
            ended_at: None,
        };
        state.next = state.next_owned();
        let releaser = Arc::new(Releaser {
            ctx,
            flows,
            warmup,
            semaphore,
            handle,
            state: Mutex::new(state),
        });
        let mut woke = Instant::now();
        let interrupted = loop {
            let (next_due, saturated) = releaser.release_due();
            let Some(due) = next_due else {
                break false;
            };
            // Saturated: the workers release arrivals as permits free up, and this thread
            // only needs to drop the arrivals nobody can take, in batches.
            let batch = saturated.then(|| woke + SATURATED_MIN_SLEEP);
            if !wait_until(due, batch, &stop, &mut woke) {
                break true;
            }
        };
        let mut state = releaser.lock();
        // Workers release nothing more, whether the schedule ended or the run was stopped.
        state.next = None;
        Dispatch {
            started: state.started,
            dropped: state.dropped,
            lag_us: state.lag.take(),
            ended_at: state.ended_at.unwrap_or_else(Instant::now),
            interrupted,
        }
    }
}

/// Releases arrivals that are due: the dispatcher thread at each arrival's intended time,
/// and every request as it ends, so that a permit freed while arrivals are overdue is
/// taken at once instead of at the dispatcher's next wake. Nothing is released before
/// its intended time; any lateness is measured and counted in the latency.
struct Releaser {
    ctx: Arc<IterationContext>,
    flows: Arc<[Flow]>,
    warmup: Duration,
    semaphore: Arc<Semaphore>,
    handle: tokio::runtime::Handle,
    state: Mutex<ReleaseState>,
}

/// The schedule and the counts, shared by the dispatcher thread and the workers.
struct ReleaseState {
    schedule: ArrivalSchedule,
    /// Which arrivals are this process's (all, unless the run is a segment).
    segment: Segment,
    /// Arrivals taken off the schedule so far, this segment's or not.
    arrivals: u64,
    /// This segment's next arrival; `None` once the schedule ended or the run stopped.
    next: Option<Pending>,
    picker: FlowPicker,
    flow_rng: ChaCha8Rng,
    lag: Option<Histogram<u64>>,
    started: u64,
    dropped: u64,
    /// True while the last arrival found every permit taken.
    saturated: bool,
    /// When the last arrival of the schedule was released.
    ended_at: Option<Instant>,
}

/// An arrival of this segment not yet due.
#[derive(Debug, Clone, Copy)]
struct Pending {
    offset: Duration,
    flow: usize,
    iteration: u64,
}

impl ReleaseState {
    /// This segment's next arrival: every arrival before it (another segment's) is taken
    /// off the schedule with its flow choice, so arrival `k` runs the flow it would run
    /// unsegmented.
    fn next_owned(&mut self) -> Option<Pending> {
        loop {
            let offset = self.schedule.next()?;
            let flow = self.picker.pick(&mut self.flow_rng);
            let k = self.arrivals;
            self.arrivals += 1;
            if self.segment.owns_arrival(k) {
                return Some(Pending {
                    offset,
                    flow,
                    iteration: segment::arrival_iteration(k),
                });
            }
        }
    }
}

impl Releaser {
    fn lock(&self) -> MutexGuard<'_, ReleaseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (or drops) every arrival due by now; returns when the next one is due and
    /// whether the last one found every permit taken.
    fn release_due(self: &Arc<Self>) -> (Option<Instant>, bool) {
        let mut state = self.lock();
        while let Some(arrival) = self.pop_due(&mut state, Instant::now()) {
            match self.semaphore.clone().try_acquire_owned() {
                Ok(permit) => {
                    state.saturated = false;
                    if arrival.measured {
                        state.started += 1;
                    }
                    self.handle.spawn(Arc::clone(self).work(permit, arrival));
                }
                Err(_) => {
                    state.saturated = true;
                    if arrival.measured {
                        state.dropped += 1;
                    }
                    if let Some(flow) = self.flows.get(arrival.flow) {
                        self.ctx.record_dropped(flow, arrival.due);
                    }
                }
            }
        }
        let epoch = self.ctx.epoch();
        (state.next.map(|p| epoch + p.offset), state.saturated)
    }

    /// The next arrival, when it is due by `now`: taken off the schedule, its flow
    /// picked and its lateness recorded.
    fn pop_due(&self, state: &mut ReleaseState, now: Instant) -> Option<Arrival> {
        let epoch = self.ctx.epoch();
        loop {
            let Pending {
                offset,
                flow,
                iteration,
            } = state.next?;
            let due = epoch + offset;
            if due > now {
                return None;
            }
            state.next = state.next_owned();
            if state.next.is_none() {
                state.ended_at = Some(now);
            }
            if self.flows.get(flow).is_none() {
                continue;
            }
            let measured = offset >= self.warmup;
            if measured {
                let late = now.saturating_duration_since(due);
                if let Some(h) = state.lag.as_mut() {
                    h.saturating_record(late.as_micros().try_into().unwrap_or(u64::MAX).max(1));
                }
            }
            return Some(Arrival {
                flow,
                due,
                measured,
                iteration,
            });
        }
    }

    /// Runs `arrival` on `permit`'s slot, then, while arrivals are overdue, the next one
    /// on the same slot: a saturated run spawns no task per request.
    async fn work(self: Arc<Self>, permit: OwnedSemaphorePermit, mut arrival: Arrival) {
        loop {
            if let Some(flow) = self.flows.get(arrival.flow) {
                self.ctx
                    .run(flow, arrival.due, None, arrival.iteration)
                    .await;
            }
            let mut state = self.lock();
            match self.pop_due(&mut state, Instant::now()) {
                Some(next) => {
                    state.saturated = false;
                    if next.measured {
                        state.started += 1;
                    }
                    arrival = next;
                }
                None => break,
            }
        }
        drop(permit);
    }
}

/// One arrival taken off the schedule.
struct Arrival {
    /// Index of its flow.
    flow: usize,
    /// Its iteration key: its index in the whole schedule.
    iteration: u64,
    /// Its intended start.
    due: Instant,
    /// False during warmup.
    measured: bool,
}

/// While alive, the current thread's sleeps end when asked, not up to the kernel's
/// default timer slack (50 µs) later: that lateness would be added to every latency the
/// open model measures from its schedule. Restores the default when dropped.
struct PreciseSleeps;

impl PreciseSleeps {
    fn start() -> Self {
        set_timer_slack(1);
        Self
    }
}

impl Drop for PreciseSleeps {
    fn drop(&mut self) {
        // 0 restores the thread's default (this thread returns to tokio's blocking pool).
        set_timer_slack(0);
    }
}

/// Sets the calling thread's timer slack (0: back to its default). Linux only; where it
/// cannot be set, sleeps keep the default slack, which is only less precise.
fn set_timer_slack(nanos: u64) {
    #[cfg(target_os = "linux")]
    {
        // A thread may change its own slack without privileges (proc(5)). The file is
        // /proc/TID/timerslack_ns; /proc/thread-self links to PID/task/TID.
        if let Some(path) = timer_slack_file() {
            let _ = std::fs::write(path, nanos.to_string());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nanos;
}

/// The calling thread's `/proc/TID/timerslack_ns` (`/proc/thread-self` links to
/// `PID/task/TID`, whose folder has no such file).
#[cfg(target_os = "linux")]
fn timer_slack_file() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    let tid: u64 = link.file_name()?.to_str()?.parse().ok()?;
    Some(format!("/proc/{tid}/timerslack_ns"))
}

/// Waits until `due`, or when `due` has not passed yet, until the later of `due` and
/// `batch`; false when the stop signal fired first. When it had to sleep, sets `woke` to
/// when it woke.
fn wait_until(due: Instant, batch: Option<Instant>, stop: &StopSignal, woke: &mut Instant) -> bool {
    if Instant::now() < due
        && let Some(batch) = batch
    {
        return wait_until(due.max(batch), None, stop, woke);
    }
    let mut slept = false;
    loop {
        if stop.is_triggered() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            if slept {
                *woke = now;
            }
            return true;
        }
        slept = true;
        // No spinning: the generator shares the machine with the workers. A sleep may
        // still overshoot by the time the kernel takes to wake this thread; that
        // lateness is measured and counted in the latency, never hidden.
        std::thread::sleep((due - now).min(MAX_SLEEP));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn slack() -> Option<u64> {
        std::fs::read_to_string(timer_slack_file()?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    #[test]
    fn the_dispatcher_thread_sleeps_precisely_and_gives_the_default_back() {
        std::thread::spawn(|| {
            // Linux has had the file since 4.6.
            let default = slack().expect("/proc/TID/timerslack_ns");
            let precise = PreciseSleeps::start();
            assert_eq!(slack(), Some(1));
            drop(precise);
            assert_eq!(slack(), Some(default));
        })
        .join()
        .expect("thread");
    }

    /// Every arrival (offset, flow, iteration key) of one segment's schedule.
    fn arrivals(
        curve: &RateCurve,
        spacing: Spacing,
        seed: u64,
        segment: Segment,
    ) -> Vec<(Duration, usize, u64)> {
        let flows: Vec<Flow> = (0..3)
            .map(|i| Flow {
                name: format!("f{i}"),
                weight: i + 1,
                steps: Vec::new(),
                vars: Vec::new(),
            })
            .collect();
        let mut state = ReleaseState {
            schedule: ArrivalSchedule::new(curve.clone(), spacing, seed, Duration::from_secs(3)),
            segment,
            arrivals: 0,
            next: None,
            picker: FlowPicker::new(&flows),
            flow_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
            lag: None,
            started: 0,
            dropped: 0,
            saturated: false,
            ended_at: None,
        };
        std::iter::from_fn(|| state.next_owned())
            .map(|p| (p.offset, p.flow, p.iteration))
            .collect()
    }

    #[test]
    fn the_segments_arrivals_together_are_the_whole_schedule_with_the_same_flows() {
        let rate = |r| crate::units::Rate::new(r).expect("rate");
        let curves = [
            RateCurve::new(rate(300.0), &[]),
            RateCurve::new(
                rate(50.0),
                &[crate::scenario::Stage {
                    rate: rate(400.0),
                    over: Duration::from_secs(2),
                }],
            ),
        ];
        for curve in &curves {
            for spacing in [Spacing::Uniform, Spacing::Poisson] {
                for seed in [1, 7, 99] {
                    let whole = arrivals(curve, spacing, seed, Segment::WHOLE);
                    for count in [2, 3, 4, 7] {
                        let mut union: Vec<_> = (0..count)
                            .flat_map(|i| {
                                arrivals(
                                    curve,
                                    spacing,
                                    seed,
                                    Segment::new(i, count).expect("segment"),
                                )
                            })
                            .collect();
                        union.sort_by_key(|a| a.2);
                        assert_eq!(union, whole, "{spacing:?} seed {seed}, {count} segments");
                    }
                }
            }
        }
    }
}
