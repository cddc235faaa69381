//! Base drift: when the base path runs live beside a stored baseline, its latency must
//! sit inside the baseline's noise band, or the environment has changed since the
//! baseline was made and comparing the candidate with it would mislead.

use super::noise::Noise;
use super::validity::{Invalidity, InvalidityCheck};
use crate::record::RunRecord;

/// The band never gets narrower than ±10%: a baseline that happened to be very quiet (or
/// whose noise was estimated from two or three runs) must not turn the ordinary jitter of
/// a shared machine into "drift"; a changed environment moves latency by more.
const MIN_BAND: f64 = 0.10;
/// Width of the band in standard deviations of the difference of two means; wider than
/// the usual 3 because a noise estimated from a few runs is itself uncertain.
const SIGMAS: f64 = 4.0;

/// Drift problems of the `live` base runs against the `stored` baseline runs, at each of
/// `quantiles`, using the stored runs' noise; a shift of less than `floor` (the policy's
/// latency floor) is never drift.
pub fn check_drift(
    live: &[RunRecord],
    stored: &[RunRecord],
    noise: &Noise,
    quantiles: &[f64],
    floor: std::time::Duration,
) -> Vec<Invalidity> {
    let mut problems = Vec::new();
    let Some(first) = stored.first() else {
        return problems;
    };
    for step in &first.steps {
        let name = format!("{}/{}", step.flow, step.step);
        for &q in quantiles {
            let (Some(live_mean), Some(stored_mean)) = (
                mean_log(live, &step.flow, &step.step, q),
                mean_log(stored, &step.flow, &step.step, q),
            ) else {
                continue;
            };
            let sd = noise.get(&name, q).map_or(0.0, |n| n.log_sd);
            let (k_live, k_stored) = (live.len().max(1) as f64, stored.len().max(1) as f64);
            let band =
                (SIGMAS * sd * (1.0 / k_live + 1.0 / k_stored).sqrt()).max((1.0 + MIN_BAND).ln());
            let shift = live_mean - stored_mean;
            // A shift of fewer microseconds than the latency floor is timer noise on a
            // fast step (a 15 µs status poll at 25 µs is ×1.6), not a changed machine.
            let moved_us = (live_mean.exp() - stored_mean.exp()).abs();
            if shift.abs() > band && moved_us >= floor.as_secs_f64() * 1e6 {
                problems.push(Invalidity::new(
                    InvalidityCheck::BaseDrift,
                    format!(
                        "the live base {name} p{} is {:.3}× the stored baseline's, outside its noise band ×{:.3}..{:.3}: the environment changed since the baseline was made; re-create it",
                        q * 100.0,
                        shift.exp(),
                        (-band).exp(),
                        band.exp()
                    ),
                ));
            }
        }
    }
    problems
}

/// The live base runs against the stored baseline runs as context, for people: per step
/// the ratio of the live to the stored `q` quantile (geometric mean over runs), e.g.
/// `execute/execute p50 ×1.124`; steps without successes on either side are left out.
pub fn drift_summary(live: &[RunRecord], stored: &[RunRecord], q: f64) -> String {
    let Some(first) = stored.first() else {
        return "no stored runs".to_owned();
    };
    let parts: Vec<String> = first
        .steps
        .iter()
        .filter_map(|step| {
            let live_mean = mean_log(live, &step.flow, &step.step, q)?;
            let stored_mean = mean_log(stored, &step.flow, &step.step, q)?;
            Some(format!(
                "{}/{} p{} ×{:.3}",
                step.flow,
                step.step,
                q * 100.0,
                (live_mean - stored_mean).exp()
            ))
        })
        .collect();
    if parts.is_empty() {
        "no step succeeded on both sides".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Mean over runs of ln(quantile q of the step's successful latencies).
fn mean_log(records: &[RunRecord], flow: &str, step: &str, q: f64) -> Option<f64> {
    let logs: Vec<f64> = records
        .iter()
        .filter_map(|r| r.steps.iter().find(|s| s.flow == flow && s.step == step))
        .filter(|s| s.ok_count() > 0)
        .map(|s| (s.percentile_us(q).max(1) as f64).ln())
        .collect();
    (!logs.is_empty()).then(|| logs.iter().sum::<f64>() / logs.len() as f64)
}
