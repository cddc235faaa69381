//! Decision rows: for every step the two sides share and every decision metric, the
//! metric's rows, each with an interval, a rollback test and a verdict.

use std::collections::BTreeMap;

use super::metrics::{
    Counts, DecisionMetric, HolmFamily, Judged, METRICS, Measured, RowSpec, RunValues, StepRuns,
    Thresholds,
};
use super::noise::{Noise, NoiseFrom, NoisePoint};
use super::row::{Method, Row};
use super::stats::{self, Interval, RunNoise};
use super::verdict::{RollbackTest, Verdict};
use crate::policy::Policy;
use crate::record::RunRecord;

/// Repetitions each side needs before the interval comes from the repetitions
/// (Hodges–Lehmann with the exact Mann–Whitney interval) rather than from one merged run.
pub const MIN_REPETITIONS: usize = 5;

/// A row tested but not yet judged: Holm's adjustment needs every row of its family.
struct Draft<'a> {
    row: Row,
    metric: &'static dyn DecisionMetric,
    measured: Measured<'a>,
    proof: f64,
    note: Option<String>,
    critical: bool,
}

/// Builds and judges every row for the steps both sides have, for every metric of
/// [`METRICS`]: each metric's rows of a step in turn, each tested by its test family,
/// Holm-corrected within the family the metric names (its rows of one step, or of the
/// whole comparison), then judged by the metric.
pub fn build_rows(
    base: &[RunRecord],
    candidate: &[RunRecord],
    base_noise: &Noise,
    policy: &Policy,
) -> Vec<Row> {
    let confidence = policy.confidence.get();
    let steps: Vec<(String, StepRuns, StepRuns)> =
        shared_steps(base, candidate, policy.min_samples)
            .into_iter()
            .map(|(flow, step)| {
                (
                    format!("{flow}/{step}"),
                    StepRuns::collect(base, &flow, &step),
                    StepRuns::collect(candidate, &flow, &step),
                )
            })
            .collect();
    let mut drafts: Vec<Draft> = Vec::new();
    // Members of each Holm family in row order, keyed by (metric, step when per step).
    let mut families: BTreeMap<(usize, Option<usize>), Vec<usize>> = BTreeMap::new();
    for (s, (name, b, c)) in steps.iter().enumerate() {
        for (m, &metric) in METRICS.iter().enumerate() {
            let family = match metric.holm_family() {
                HolmFamily::Step => (m, Some(s)),
                HolmFamily::Comparison => (m, None),
            };
            for spec in metric.rows(name, b, c, base_noise, policy) {
                families.entry(family).or_default().push(drafts.len());
                drafts.push(draft(name, metric, spec, policy, confidence));
            }
        }
    }
    for (m, &metric) in METRICS.iter().enumerate() {
        for (step, spec) in metric.comparison_rows(base, candidate, policy) {
            families.entry((m, None)).or_default().push(drafts.len());
            drafts.push(draft(&step, metric, spec, policy, confidence));
        }
    }
    let mut tests = vec![(false, 1.0); drafts.len()];
    for family in families.into_values() {
        let p_values: Vec<f64> = family.iter().map(|&i| drafts[i].row.p_rollback).collect();
        let rejected = stats::holm(&p_values, policy.rollback_alpha.get());
        let adjusted = stats::holm_adjusted(&p_values);
        for (k, &i) in family.iter().enumerate() {
            tests[i] = (rejected[k], adjusted[k]);
        }
    }
    drafts
        .into_iter()
        .zip(tests)
        .map(|(draft, (proven, p_adjusted))| judge(draft, proven, p_adjusted, policy))
        .collect()
}

/// The run-to-run noise behind a few-runs interval: the measured evidence with the most
/// degrees of freedom (the runs themselves, or the base's stored noise), else the
/// policy's assumed value.
fn noise_evidence(
    bq: &[f64],
    cq: &[f64],
    stored: Option<NoisePoint>,
    policy: &Policy,
) -> (RunNoise, NoiseFrom) {
    let pooled = RunNoise::pooled(bq, cq).map(|n| (n, NoiseFrom::Runs));
    let stored = stored.filter(|n| n.runs >= 2).map(|n| {
        let noise = RunNoise {
            log_sd: n.log_sd,
            df: Some(f64::from(n.runs - 1)),
            from_these_runs: false,
        };
        (noise, n.from)
    });
    let best = match (pooled, stored) {
        (Some(p), Some(s)) => Some(if s.0.df > p.0.df { s } else { p }),
        (p, s) => p.or(s),
    };
    best.unwrap_or((
        RunNoise {
            log_sd: policy.assumed_run_noise,
            df: None,
            from_these_runs: false,
        },
        NoiseFrom::Assumed,
    ))
}

/// A row's interval, the one-sided p-value of "the effect is at most `proof`" (1 when
/// there is no interval) and the method.
type Tested = (Option<Interval>, f64, Method);

/// Per-run values as a ratio: Hodges–Lehmann with the exact Mann–Whitney interval from
/// [`MIN_REPETITIONS`] runs a side, else the difference of mean logs with Student's t.
fn ratio_test(
    b: &RunValues,
    c: &RunValues,
    stored_noise: Option<NoisePoint>,
    proof: f64,
    policy: &Policy,
    confidence: f64,
) -> Tested {
    let (bq, cq) = (&b.per_run, &c.per_run);
    let repetitions = bq.len() >= MIN_REPETITIONS && cq.len() >= MIN_REPETITIONS;
    let (interval, p_rollback, method) = if repetitions {
        let interval = stats::ratio_from_repetitions(bq, cq, confidence);
        let p = stats::mann_whitney_p_above(bq, cq, proof);
        let method = Method::Repetitions {
            base: bq.len(),
            candidate: cq.len(),
        };
        (interval, p, method)
    } else {
        let (run_noise, from) = noise_evidence(bq, cq, stored_noise, policy);
        let shift = match (b.quantile_of, c.quantile_of) {
            (Some(bd), Some(cd)) => stats::ratio_from_few_runs(
                bq,
                cq,
                bd.distribution,
                cd.distribution,
                bd.quantile,
                run_noise,
            ),
            _ => stats::shift_from_few_runs(bq, cq, b.count_variance + c.count_variance, run_noise),
        };
        let method = Method::FewRuns {
            base: bq.len(),
            candidate: cq.len(),
            noise_log_sd: run_noise.log_sd,
            noise_df: run_noise.df,
            noise_from: from,
        };
        (
            shift.and_then(|s| s.interval(confidence)),
            shift.map(|s| s.p_above(proof)),
            method,
        )
    };
    let p_rollback = match (&interval, p_rollback) {
        (Some(_), Some(p)) if p.is_finite() => p,
        _ => 1.0,
    };
    (interval, p_rollback, method)
}

/// Proportions as a difference: Newcombe's interval, its p-value by inversion.
fn proportion_test(b: Counts, c: Counts, proof: f64, confidence: f64) -> Tested {
    let interval_at = |conf: f64| {
        Some(stats::newcombe_difference(
            b.events, b.trials, c.events, c.trials, conf,
        ))
    };
    let interval = if b.trials > 0 && c.trials > 0 {
        interval_at(confidence)
    } else {
        None
    };
    let p_rollback = if interval.is_some() {
        stats::p_value_above(proof, interval_at)
    } else {
        1.0
    };
    (interval, p_rollback, Method::Newcombe)
}

fn draft<'a>(
    step: &str,
    metric: &'static dyn DecisionMetric,
    spec: RowSpec<'a>,
    policy: &Policy,
    confidence: f64,
) -> Draft<'a> {
    let Thresholds {
        go,
        rollback,
        proof,
    } = spec.thresholds;
    let (base, candidate, (interval, p_rollback, method)) = match &spec.measured {
        Measured::Ratio {
            base,
            candidate,
            stored_noise,
        } => (
            base.merged,
            candidate.merged,
            ratio_test(base, candidate, *stored_noise, proof, policy, confidence),
        ),
        Measured::Proportion { base, candidate } => (
            base.rate(),
            candidate.rate(),
            proportion_test(*base, *candidate, proof, confidence),
        ),
    };
    Draft {
        row: Row {
            step: step.to_string(),
            metric: spec.metric,
            base,
            candidate,
            interval,
            method,
            go_threshold: go,
            rollback_threshold: rollback,
            p_rollback,
            p_adjusted: 1.0,
            rollback_proven: false,
            verdict: Verdict::NoGo,
            reason: String::new(),
            decides: policy.decides(metric.kind()),
        },
        metric,
        measured: spec.measured,
        proof,
        note: spec.note,
        critical: spec.critical,
    }
}

fn judge(draft: Draft, proven: bool, p_adjusted: f64, policy: &Policy) -> Row {
    let Draft {
        mut row,
        metric,
        measured,
        proof,
        note,
        critical,
    } = draft;
    row.rollback_proven = proven;
    row.p_adjusted = p_adjusted;
    let test = RollbackTest {
        p: row.p_rollback,
        p_adjusted,
        alpha: policy.rollback_alpha.get(),
        proven,
    };
    let (verdict, reason) = match &row.interval {
        None => metric.without_interval(&row.metric),
        Some(interval) => metric.judge(
            &Judged {
                row: &row,
                interval,
                measured: &measured,
                proof,
                test,
                critical,
            },
            policy,
        ),
    };
    row.verdict = verdict;
    row.reason = match note {
        Some(note) => format!("{reason} ({note})"),
        None => reason,
    };
    if !row.decides {
        row.reason = format!("shown only, [policy] decide leaves it out: {}", row.reason);
    }
    row
}

/// (flow, step) pairs present on both sides, in the candidate's order.
fn shared_steps(
    base: &[RunRecord],
    candidate: &[RunRecord],
    min_samples: u64,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in candidate {
        for s in &r.steps {
            let key = (s.flow.clone(), s.step.clone());
            let in_base = base
                .iter()
                .any(|b| b.steps.iter().any(|t| t.flow == s.flow && t.step == s.step));
            // A session step with too few sessions on a side is not judged (validity
            // leaves it out too): its count is the number of sessions, by design.
            let few = super::validity::is_session_step(base, candidate, &s.flow, &s.step)
                && [base, candidate].iter().any(|side| {
                    super::validity::step_requests(side, &s.flow, &s.step) < min_samples
                });
            if in_base && !few && !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}
