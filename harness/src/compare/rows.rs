//! Decision rows: for every step the two sides share, one row per latency quantile and
//! one for the error rate, each with an interval, a rollback test and a verdict.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::stats::{self, Interval};
use super::verdict::{LatencyRule, Verdict, judge_errors, judge_latency};
use crate::policy::Policy;
use crate::record::{RunRecord, StepRecord, latency_histogram};

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
    /// From the merged histograms' order statistics, widened by the base's between-run
    /// noise: a single-run estimate.
    SingleRun {
        /// The between-run noise (sd of log quantile) used to widen it; 0 when unknown.
        noise_log_sd: f64,
    },
    /// Newcombe's hybrid score interval for a difference of proportions.
    Newcombe,
}

impl Method {
    /// Short label for tables.
    pub fn label(&self) -> String {
        match self {
            Method::Repetitions { base, candidate } => format!("{base}v{candidate} runs"),
            Method::SingleRun { .. } => "single run".to_string(),
            Method::Newcombe => "Newcombe".to_string(),
        }
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
    /// A proven value at or above this rolls back.
    pub rollback_threshold: f64,
    /// One-sided p-value of "beyond the rollback threshold" before Holm's adjustment.
    pub p_rollback: f64,
    /// Whether the rollback test stands after Holm–Bonferroni across all rows.
    pub rollback_proven: bool,
    /// The row's verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
}

/// Between-run noise of the base side, per step and quantile (sd of ln quantile).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Noise {
    by_step: BTreeMap<String, Vec<(f64, f64)>>,
}

impl Noise {
    /// Adds the noise of `step` at quantile `q`.
    pub fn insert(&mut self, step: &str, q: f64, log_sd: f64) {
        self.by_step
            .entry(step.to_string())
            .or_default()
            .push((q, log_sd));
    }

    /// The noise of `step` at the quantile nearest `q`, when known.
    pub fn get(&self, step: &str, q: f64) -> Option<f64> {
        self.by_step
            .get(step)?
            .iter()
            .min_by(|a, b| (a.0 - q).abs().total_cmp(&(b.0 - q).abs()))
            .map(|(_, sd)| *sd)
    }
}

/// The runs of one step on one side.
struct StepRuns<'a> {
    runs: Vec<&'a StepRecord>,
    merged_ok: Histogram<u64>,
    ok: u64,
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
        let ok = runs.iter().map(|s| s.ok_count()).sum();
        let failed = runs.iter().map(|s| s.failed_count()).sum();
        let total = runs.iter().map(|s| s.count()).sum();
        Self {
            runs,
            merged_ok,
            ok,
            failed,
            total,
        }
    }

    fn quantiles(&self, q: f64) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|s| s.ok_count() > 0)
            .map(|s| s.percentile_us(q) as f64)
            .filter(|v| *v > 0.0)
            .collect()
    }

    fn merged_quantile(&self, q: f64) -> f64 {
        if self.merged_ok.is_empty() {
            0.0
        } else {
            self.merged_ok.value_at_quantile(q) as f64
        }
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
}

/// Builds and judges every row for the steps both sides have.
pub fn build_rows(
    base: &[RunRecord],
    candidate: &[RunRecord],
    base_noise: &Noise,
    policy: &Policy,
) -> Vec<Row> {
    let confidence = policy.confidence.get();
    let mut drafts = Vec::new();
    for (flow, step) in shared_steps(base, candidate) {
        let name = format!("{flow}/{step}");
        let b = StepRuns::collect(base, &flow, &step);
        let c = StepRuns::collect(candidate, &flow, &step);
        let mut quantiles: Vec<f64> = policy.quantiles.iter().map(|q| q.get()).collect();
        if b.ok.min(c.ok) >= policy.tail_min_samples {
            quantiles.push(policy.tail_quantile.get());
        }
        for q in quantiles {
            drafts.push(latency_draft(
                &name, q, &b, &c, base_noise, policy, confidence,
            ));
        }
        drafts.push(error_draft(&name, &b, &c, policy, confidence));
    }
    let p_values: Vec<f64> = drafts.iter().map(|d| d.row.p_rollback).collect();
    let rejected = stats::holm(&p_values, policy.rollback_alpha.get());
    drafts
        .into_iter()
        .zip(rejected)
        .map(|(draft, proven)| judge(draft, proven, policy))
        .collect()
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
    let repetitions = bq.len() >= MIN_REPETITIONS && cq.len() >= MIN_REPETITIONS;
    let noise_log_sd = noise.get(name, q).unwrap_or(0.0);
    let interval_at = |conf: f64| -> Option<Interval> {
        if repetitions {
            stats::ratio_from_repetitions(&bq, &cq, conf)
        } else {
            stats::ratio_from_histograms(&b.merged_ok, &c.merged_ok, q, conf, noise_log_sd)
        }
    };
    let interval = interval_at(confidence);
    let p_rollback = if interval.is_some() {
        stats::p_value_above(policy.rollback_ratio, interval_at)
    } else {
        1.0
    };
    let method = if repetitions {
        Method::Repetitions {
            base: bq.len(),
            candidate: cq.len(),
        }
    } else {
        Method::SingleRun { noise_log_sd }
    };
    Draft {
        row: Row {
            step: name.to_string(),
            metric: Metric::Latency { quantile: q },
            base: b.merged_quantile(q),
            candidate: c.merged_quantile(q),
            interval,
            method,
            go_threshold: policy.go_ratio,
            rollback_threshold: policy.rollback_ratio,
            p_rollback,
            rollback_proven: false,
            verdict: Verdict::NoGo,
            reason: String::new(),
        },
        candidate_errors: 0,
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
            rollback_proven: false,
            verdict: Verdict::NoGo,
            reason: String::new(),
        },
        candidate_errors: c.failed,
    }
}

fn judge(draft: Draft, proven: bool, policy: &Policy) -> Row {
    let Draft {
        mut row,
        candidate_errors,
    } = draft;
    row.rollback_proven = proven;
    let label = row.metric.label();
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
            judge_latency(&label, iv, proven, row.base, rule)
        }
        (Metric::ErrorRate, Some(iv)) => judge_errors(
            &label,
            iv,
            row.go_threshold,
            proven,
            candidate_errors,
            policy,
        ),
    };
    row.verdict = verdict;
    row.reason = reason;
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
