//! The closed model: a fixed number of users looping over flows, run by goose.
//!
//! Goose starts, paces and stops the users; each iteration is timed by the harness
//! itself through the same request path as the open model, so both models record into
//! the same mergeable histograms. Goose's own metrics, controllers and reports are off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::GooseAttack;
use goose::config::GooseConfiguration;
use goose::goose::{GooseUser, Scenario as GooseScenario, Transaction, TransactionFunction};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::drive_common::{Drive, spawn_ticker};
use super::flow::IterationContext;
use super::pick::FlowPicker;
use super::segment;
use crate::outcome::DriverReport;
use crate::units::Rate;

/// Per-user state kept in goose's session data.
#[derive(Clone)]
struct UserState {
    rng: ChaCha8Rng,
    /// The user's index in the whole plan (its segment's users are every N-th).
    user: u64,
    /// Iterations this user started.
    iterations: u64,
}

/// The closed model's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Users {
    /// Concurrent users.
    pub count: u32,
    /// Pause between two iterations of one user.
    pub think_time: Duration,
    /// Users started per second (all within a second when absent).
    pub ramp_up_rate: Option<Rate>,
}

/// Runs the closed model; see the module documentation.
pub async fn run_closed(drive: Drive, users: Users) -> DriverReport {
    let Drive {
        ctx,
        flows,
        load,
        seed,
        stop,
        progress,
        segment,
    } = drive;
    let Users {
        count: plan_users,
        think_time,
        ramp_up_rate,
    } = users;
    // This segment's share; the ramp-up keeps each user's start time of the whole plan.
    let users = segment.users(plan_users);
    let ramp_up_rate =
        ramp_up_rate.and_then(|r| Rate::new(r.per_second() / f64::from(segment.count)).ok());
    if users == 0 {
        return failed_report(
            &ctx,
            format!(
                "segment {segment} has no users: the plan has {plan_users}, fewer than its {} segments",
                segment.count
            ),
        );
    }
    let total = load.warmup + load.duration;
    let deadline = ctx.epoch() + total;
    let ticker = spawn_ticker(ctx.clone(), progress);

    let iteration: TransactionFunction = {
        let ctx = ctx.clone();
        let flows = flows.clone();
        let picker = FlowPicker::new(&flows);
        Arc::new(move |user: &mut GooseUser| {
            if user.get_session_data::<UserState>().is_none() {
                let global = segment.global_user(user.weighted_users_index as u64);
                let user_seed = seed.wrapping_add(global.wrapping_mul(0x9e37_79b9));
                user.set_session_data(UserState {
                    rng: ChaCha8Rng::seed_from_u64(user_seed),
                    user: global,
                    iterations: 0,
                });
            }
            let (flow_index, user_index, iteration) = user
                .get_session_data_mut::<UserState>()
                .map(|s| {
                    let n = s.iterations;
                    s.iterations += 1;
                    (
                        picker.pick(&mut s.rng),
                        s.user,
                        segment::user_iteration(s.user, n),
                    )
                })
                .unwrap_or_default();
            let ctx = ctx.clone();
            let flows = flows.clone();
            Box::pin(async move {
                let now = Instant::now();
                if now >= deadline {
                    // Past the end: idle until goose stops the user rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Ok(());
                }
                if let Some(flow) = flows.get(flow_index) {
                    ctx.run(flow, now, Some(user_index), iteration).await;
                }
                Ok(())
            })
        })
    };

    let scenario = GooseScenario::new("harness")
        .register_transaction(Transaction::new(iteration).set_name("iteration"));
    let scenario = if think_time.is_zero() {
        scenario
    } else {
        match scenario.set_wait_time(think_time, think_time) {
            Ok(with_wait) => with_wait,
            Err(e) => {
                ticker.abort();
                return failed_report(&ctx, format!("goose refused the think time: {e:?}"));
            }
        }
    };

    let config = goose_configuration(
        ctx.target_base(),
        users,
        ramp_up_rate.map(|r| r.per_second()),
        total,
    );
    let attack = match GooseAttack::initialize_with_config(config) {
        Ok(attack) => attack.register_scenario(scenario),
        Err(e) => {
            ticker.abort();
            return failed_report(&ctx, format!("goose could not start: {e}"));
        }
    };

    // Goose stops on its killswitch; pull it at the deadline or on a stop signal.
    let killer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => {}
                _ = stop.triggered() => {}
            }
            goose::trigger_killswitch("harness: run complete or interrupted");
        })
    };
    let result = attack.execute().await;
    killer.abort();
    ticker.abort();

    let elapsed = Instant::now().saturating_duration_since(ctx.epoch());
    let interrupted =
        stop.is_triggered() || result.is_err() || elapsed + Duration::from_millis(100) < total;
    let window = elapsed.saturating_sub(load.warmup).min(load.duration);
    let progress = ctx.recorder().progress();
    let achieved_rate = if window.is_zero() {
        0.0
    } else {
        progress.sent as f64 / window.as_secs_f64()
    };
    DriverReport {
        elapsed,
        interrupted,
        target_rate: None,
        achieved_rate,
        dispatch_lag_p99_us: None,
        dropped: 0,
        notes: result
            .err()
            .map(|e| vec![format!("goose ended with an error: {e:?}")])
            .unwrap_or_default(),
    }
}

fn failed_report(ctx: &IterationContext, why: String) -> DriverReport {
    DriverReport {
        elapsed: Instant::now().saturating_duration_since(ctx.epoch()),
        interrupted: true,
        target_rate: None,
        achieved_rate: 0.0,
        dispatch_lag_p99_us: None,
        dropped: 0,
        notes: vec![why],
    }
}

/// Goose settings: everything of goose's own that listens, prints or writes is off.
fn goose_configuration(
    host: &str,
    users: u32,
    ramp_up_rate: Option<f64>,
    total: Duration,
) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users as usize);
    let rate = ramp_up_rate.unwrap_or(f64::from(users)).max(0.001);
    config.increase_rate = Some(format!("{rate}"));
    // A backstop only: the killswitch ends the run at the exact deadline.
    config.run_time = Some(format!("{}", total.as_secs() + 5));
    config.quiet = 1;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.no_telnet = true;
    // Goose's own metrics are not used (the harness times each request), and letting it
    // reset them once all users run is what keeps its "users launched" line off our stdout.
    config.no_reset_metrics = false;
    config.no_percentiles_over_time = true;
    config
}
