//! The open model: arrivals at a rate that does not wait for the service.
//!
//! A dedicated thread releases each arrival at its intended time and hands it to the
//! tokio runtime; latency is measured from the intended time, so a stall of the
//! service (or of the generator) shows in the numbers instead of being omitted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Semaphore;

use super::driver::{Drive, DriverReport, spawn_ticker};
use super::flow::IterationContext;
use super::pick::FlowPicker;
use super::schedule::{ArrivalSchedule, RateCurve};
use super::stop::StopSignal;
use crate::scenario::{Flow, Spacing};

/// Longest single sleep, so that a stop is noticed quickly.
const MAX_SLEEP: Duration = Duration::from_millis(20);

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
            total,
            warmup,
            semaphore,
            stop,
            handle,
        } = self;
        let (ctx, flows, semaphore, stop, handle) = (&ctx, &flows, &semaphore, &stop, &handle);
        let picker = FlowPicker::new(flows);
        // Flow choices get their own stream so they do not shift the arrival times.
        let mut flow_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let epoch = ctx.epoch();
        let mut lag = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok();
        let mut out = Dispatch {
            started: 0,
            dropped: 0,
            lag_us: None,
            ended_at: epoch,
            interrupted: false,
        };
        for offset in ArrivalSchedule::new(curve, spacing, seed, total) {
            let due = epoch + offset;
            if !wait_until(due, stop) {
                out.interrupted = true;
                break;
            }
            let flow_index = picker.pick(&mut flow_rng);
            let Some(flow) = flows.get(flow_index) else {
                continue;
            };
            let measured = offset >= warmup;
            if measured {
                let late = Instant::now().saturating_duration_since(due);
                if let Some(h) = lag.as_mut() {
                    h.saturating_record(late.as_micros().try_into().unwrap_or(u64::MAX).max(1));
                }
            }
            match semaphore.clone().try_acquire_owned() {
                Ok(permit) => {
                    if measured {
                        out.started += 1;
                    }
                    let ctx = ctx.clone();
                    let flows = flows.clone();
                    handle.spawn(async move {
                        if let Some(flow) = flows.get(flow_index) {
                            ctx.run(flow, due).await;
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    if measured {
                        out.dropped += 1;
                    }
                    ctx.record_dropped(flow, due);
                }
            }
        }
        out.ended_at = Instant::now();
        out.lag_us = lag;
        out
    }
}

/// Waits until `due`; false when the stop signal fired first.
fn wait_until(due: Instant, stop: &StopSignal) -> bool {
    loop {
        if stop.is_triggered() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        // No spinning: the generator shares the machine with the workers. A sleep may
        // overshoot by the timer slack (~50 µs); that lateness is measured and counted
        // in the latency, never hidden.
        std::thread::sleep((due - now).min(MAX_SLEEP));
    }
}
