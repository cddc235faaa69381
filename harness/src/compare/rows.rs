//! Decision rows: for every step the two sides share, one row per latency quantile and
//! one for the error rate, each with an interval, a rollback test and a verdict.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::noise::{Noise, NoiseFrom, NoisePoint};
use super::stats::{self, Interval, RunNoise};
use super::verdict::{
    LatencyEvidence, LatencyRule, RollbackTest, Verdict, judge_errors, judge_latency,
};
use crate::policy::Policy;
use crate::record::{RunRecord, StepRecord, check_summary, latency_histogram};

/// Repetitions each side needs before the interval comes from the repetitions
/// (Hodges–Lehmann with the exact Mann–Whitney interval) rather than from one merged run.
pub const MIN_REPETITIONS: usize = 5;

/// What a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// Candidate/base ratio of a latency quantile of successful requests.
    Latency {
        /// The quantile, e.g. 0.95.
        quantile: f64,
    },
    /// Candidate − base error rate (every non-ok outcome, dropped arrivals included).
    ErrorRate,
}

impl Metric {
    /// `p95`, `errors`.
    pub fn label(&self) -> String {
        match self {
            Metric::Latency { quantile } => format!("p{}", trim(quantile * 100.0)),
            Metric::ErrorRate => "errors".to_string(),
        }
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How a row's interval was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Method {
    /// From per-repetition quantiles: Hodges–Lehmann, exact Mann–Whitney interval.
    Repetitions {
        /// Repetitions of the base side.
        base: usize,
        /// Repetitions of the candidate side.
        candidate: usize,
    },
    /// Fewer than [`MIN_REPETITIONS`] runs on a side: the difference of mean log
    /// quantiles with Student's t, its standard error from the run-to-run noise.
    /// (`single_run` is its name in results written under `harness-policy/1`.)
    #[serde(alias = "single_run")]
    FewRuns {
        /// Runs of the base side.
        #[serde(default)]
        base: usize,
        /// Runs of the candidate side.
        #[serde(default)]
        candidate: usize,
        /// The run-to-run noise used (sd of ln quantile).
        noise_log_sd: f64,
        /// Its degrees of freedom; absent when assumed (treated as known).
        #[serde(default)]
        noise_df: Option<f64>,
        /// Where it came from.
        #[serde(default)]
        noise_from: NoiseFrom,
    },
    /// Newcombe's hybrid score interval for a difference of proportions.
    Newcombe,
}

impl Method {
    /// Short label for tables: `5v5 runs`, `1v1 runs, σ 0.200 assumed`.
    pub fn label(&self) -> String {
        match self {
            Method::Repetitions { base, candidate } => format!("{base}v{candidate} runs"),
            Method::FewRuns {
                base,
                candidate,
                noise_log_sd,
                noise_from,
                ..
            } => format!(
                "{base}v{candidate} runs, σ {noise_log_sd:.3} {}",
                noise_from.short()
            ),
            Method::Newcombe => "Newcombe".to_string(),
        }
    }

    /// Whether the row's run-to-run noise was measured (not assumed): a latency row can
    /// only be GO when it was.
    pub fn noise_measured(&self) -> bool {
        !matches!(
            self,
            Method::FewRuns {
                noise_from: NoiseFrom::Assumed,
                ..
            }
        )
    }
}

/// One line of the decision table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `flow/step`.
    pub step: String,
    /// What is compared.
    pub metric: Metric,
    /// Base value (latency µs of the merged runs, or error rate).
    pub base: f64,
    /// Candidate value.
    pub candidate: f64,
    /// Ratio (latency) or difference (errors) with its interval; absent when it cannot be
    /// computed (no successful requests on a side).
    pub interval: Option<Interval>,
    /// How the interval was computed.
    pub method: Method,
    /// GO needs the interval at or below this.
    pub go_threshold: f64,
    /// Latency: a best estimate at or above this rolls back when the slowdown is proven.
    /// Errors: an increase proven above this rolls back.
    pub rollback_threshold: f64,
    /// One-sided p-value of the rollback test before Holm's adjustment. Latency: of
    /// "the ratio is at most √(go × rollback)" (or at most the latency floor's ratio,
    /// when that is higher); errors: of "the increase is at most the margin".
    pub p_rollback: f64,
    /// `p_rollback` after Holm's adjustment within its family: the step's latency rows,
    /// or the comparison's error-rate rows.
    #[serde(default = "one")]
    pub p_adjusted: f64,
    /// Whether the rollback test stands after Holm's adjustment within its family.
    pub rollback_proven: bool,
    /// The row's verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
}

fn one() -> f64 {
    1.0
}

/// Latencies below this count as this (µs): the histograms' resolution. A cached answer
/// recorded as 0 µs is a latency, not a missing one, and a ratio needs a positive base.
const RESOLUTION_US: f64 = 1.0;

/// The runs of one step on one side.
struct StepRuns<'a> {
    runs: Vec<&'a StepRecord>,
    merged_ok: Histogram<u64>,
    failed: u64,
    total: u64,
}

impl<'a> StepRuns<'a> {
    fn collect(records: &'a [RunRecord], flow: &str, step: &str) -> Self {
        let runs: Vec<&StepRecord> = records
            .iter()
            .filter_map(|r| r.steps.iter().find(|s| s.flow == flow && s.step == step))
            .collect();
        let mut merged_ok = latency_histogram();
        for s in &runs {
            crate::record::recorder::add_histogram(&mut merged_ok, &s.ok);
        }
        let failed = runs.iter().map(|s| s.failed_count()).sum();
        let total = runs.iter().map(|s| s.count()).sum();
        Self {
            runs,
            merged_ok,
            failed,
            total,
        }
    }

    /// One quantile per run that has successful outcomes, at least the resolution.
    fn quantiles(&self, q: f64) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|s| s.ok_count() > 0)
            .map(|s| (s.percentile_us(q) as f64).max(RESOLUTION_US))
            .collect()
    }

    /// The quantile of the merged runs (0 without successes), at least the resolution.
    fn merged_quantile(&self, q: f64) -> f64 {
        if self.merged_ok.is_empty() {
            0.0
        } else {
            (self.merged_ok.value_at_quantile(q) as f64).max(RESOLUTION_US)
        }
    }

    /// "candidate: 12 of 201 failed `/status equals "done"`" for the checks that failed
    /// over the side's runs; `None` when none did.
    fn check_note(&self, side: &str) -> Option<String> {
        let mut failures = std::collections::BTreeMap::new();
        for run in &self.runs {
            for (name, n) in &run.check_failures {
                *failures.entry(name.clone()).or_insert(0u64) += n;
            }
        }
        let lines = check_summary(&failures, self.total);
        (!lines.is_empty()).then(|| format!("{side}: {}", lines.join(", ")))
    }

    fn error_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.failed as f64 / self.total as f64
        }
    }
}

/// A row before Holm's adjustment and judgement.
struct Draft {
    row: Row,
    candidate_errors: u64,
    /// Error rows: which checks failed on each side, appended to the reason.
    checks: Option<String>,
    /// Latency: the ratio the slowdown must be proven beyond to roll back.
    proof_ratio: f64,
}

/// Builds and judges every row for the steps both sides have.
///
/// Two kinds of Holm family: the latency rows of one step (a latency rollback also
/// needs its best estimate beyond the rollback ratio, which is what keeps many steps
/// from adding up false alarms, and a rank test on 5 v 5 runs cannot give p below
/// 1/252, so a family spanning every step could never roll back), and the error-rate
/// rows of the whole comparison (no such condition, continuous p-values).
pub fn build_rows(
    base: &[RunRecord],
    candidate: &[RunRecord],
    base_noise: &Noise,
    policy: &Policy,
) -> Vec<Row> {
    let confidence = policy.confidence.get();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut families: Vec<Vec<usize>> = Vec::new();
    let mut errors_family = Vec::new();
    for (flow, step) in shared_steps(base, candidate) {
        let name = format!("{flow}/{step}");
        let b = StepRuns::collect(base, &flow, &step);
        let c = StepRuns::collect(candidate, &flow, &step);
        let ok = |s: &StepRuns| s.runs.iter().map(|r| r.ok_count()).sum::<u64>();
        let mut quantiles: Vec<f64> = policy.quantiles.iter().map(|q| q.get()).collect();
        if ok(&b).min(ok(&c)) >= policy.tail_min_samples {
            quantiles.push(policy.tail_quantile.get());
        }
        let mut family = Vec::new();
        for q in quantiles {
            family.push(drafts.len());
            drafts.push(latency_draft(
                &name, q, &b, &c, base_noise, policy, confidence,
            ));
        }
        families.push(family);
        errors_family.push(drafts.len());
        drafts.push(error_draft(&name, &b, &c, policy, confidence));
    }
    families.push(errors_family);
    let mut tests = vec![(false, 1.0); drafts.len()];
    for family in families {
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

fn latency_draft(
    name: &str,
    q: f64,
    b: &StepRuns,
    c: &StepRuns,
    noise: &Noise,
    policy: &Policy,
    confidence: f64,
) -> Draft {
    let (bq, cq) = (b.quantiles(q), c.quantiles(q));
    let base_us = b.merged_quantile(q);
    let floor_us = policy.latency_floor.get().as_secs_f64() * 1e6;
    let proof_ratio = if base_us > 0.0 {
        policy.rollback_proof_ratio().max(1.0 + floor_us / base_us)
    } else {
        f64::INFINITY
    };
    let repetitions = bq.len() >= MIN_REPETITIONS && cq.len() >= MIN_REPETITIONS;
    let (interval, p_rollback, method) = if repetitions {
        let interval = stats::ratio_from_repetitions(&bq, &cq, confidence);
        let p = stats::mann_whitney_p_above(&bq, &cq, proof_ratio);
        let method = Method::Repetitions {
            base: bq.len(),
            candidate: cq.len(),
        };
        (interval, p, method)
    } else {
        let (run_noise, from) = noise_evidence(&bq, &cq, noise.get(name, q), policy);
        let shift = stats::ratio_from_few_runs(&bq, &cq, &b.merged_ok, &c.merged_ok, q, run_noise);
        let method = Method::FewRuns {
            base: bq.len(),
            candidate: cq.len(),
            noise_log_sd: run_noise.log_sd,
            noise_df: run_noise.df,
            noise_from: from,
        };
        (
            shift.and_then(|s| s.interval(confidence)),
            shift.map(|s| s.p_above(proof_ratio)),
            method,
        )
    };
    let p_rollback = match (&interval, p_rollback) {
        (Some(_), Some(p)) if p.is_finite() => p,
        _ => 1.0,
    };
    Draft {
        row: Row {
            step: name.to_string(),
            metric: Metric::Latency { quantile: q },
            base: base_us,
            candidate: c.merged_quantile(q),
            interval,
            method,
            go_threshold: policy.go_ratio,
            rollback_threshold: policy.rollback_ratio,
            p_rollback,
            p_adjusted: 1.0,
            rollback_proven: false,
            verdict: Verdict::NoGo,
            reason: String::new(),
        },
        candidate_errors: 0,
        checks: None,
        proof_ratio,
    }
}

fn error_draft(name: &str, b: &StepRuns, c: &StepRuns, policy: &Policy, confidence: f64) -> Draft {
    let margin = policy.error_margin(b.error_rate());
    let interval_at = |conf: f64| {
        Some(stats::newcombe_difference(
            b.failed, b.total, c.failed, c.total, conf,
        ))
    };
    let interval = if b.total > 0 && c.total > 0 {
        interval_at(confidence)
    } else {
        None
    };
    let p_rollback = if interval.is_some() {
        stats::p_value_above(margin, interval_at)
    } else {
        1.0
    };
    Draft {
        row: Row {
            step: name.to_string(),
            metric: Metric::ErrorRate,
            base: b.error_rate(),
            candidate: c.error_rate(),
            interval,
            method: Method::Newcombe,
            go_threshold: margin,
            rollback_threshold: margin,
            p_rollback,
            p_adjusted: 1.0,
            rollback_proven: false,
            verdict: Verdict::NoGo,
            reason: String::new(),
        },
        candidate_errors: c.failed,
        checks: {
            let notes: Vec<String> = [c.check_note("candidate"), b.check_note("base")]
                .into_iter()
                .flatten()
                .collect();
            (!notes.is_empty()).then(|| notes.join("; "))
        },
        proof_ratio: margin,
    }
}

fn judge(draft: Draft, proven: bool, p_adjusted: f64, policy: &Policy) -> Row {
    let Draft {
        mut row,
        candidate_errors,
        checks,
        proof_ratio,
    } = draft;
    row.rollback_proven = proven;
    row.p_adjusted = p_adjusted;
    let label = row.metric.label();
    let test = RollbackTest {
        p: row.p_rollback,
        p_adjusted,
        alpha: policy.rollback_alpha.get(),
        proven,
    };
    let (verdict, reason) = match (&row.metric, &row.interval) {
        (_, None) => (
            Verdict::NoGo,
            format!("{label}: no interval (no successful requests on a side)"),
        ),
        (Metric::Latency { .. }, Some(iv)) => {
            let rule = LatencyRule {
                go_ratio: row.go_threshold,
                rollback_ratio: row.rollback_threshold,
                floor_us: policy.latency_floor.get().as_secs_f64() * 1e6,
            };
            let evidence = LatencyEvidence {
                label: &label,
                interval: iv,
                base_us: row.base,
                proof_ratio,
                test,
                noise: (!row.method.noise_measured()).then(|| row.method.label()),
            };
            judge_latency(&evidence, rule)
        }
        (Metric::ErrorRate, Some(iv)) => {
            judge_errors(&label, iv, row.go_threshold, test, candidate_errors, policy)
        }
    };
    row.verdict = verdict;
    row.reason = match checks {
        Some(checks) => format!("{reason} ({checks})"),
        None => reason,
    };
    row
}

/// (flow, step) pairs present on both sides, in the candidate's order.
fn shared_steps(base: &[RunRecord], candidate: &[RunRecord]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in candidate {
        for s in &r.steps {
            let key = (s.flow.clone(), s.step.clone());
            let in_base = base
                .iter()
                .any(|b| b.steps.iter().any(|t| t.flow == s.flow && t.step == s.step));
            if in_base && !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out
}
