//! The system under test's own metrics as decision rows: one row per `[[metric]]` rule
//! (and, for paths whose metrics are scraped on both sides, the default CPU per request
//! and peak resident memory), for the whole comparison rather than per step. Each run
//! gives one value; the sides are compared as a ratio candidate/base (base/candidate
//! when higher is better) with the interval from the repetitions, like a latency
//! quantile; Holm over the service rows of the comparison.
//!
//! A rule that also `observes` a harness observation (breaker openings, retries) is
//! checked against what harness saw from outside in the same fault windows, and a
//! disagreement beyond the rule's tolerance is flagged ([`cross_checks`]).

use super::{
    DecisionMetric, HolmFamily, Judged, Measured, Metric, RowSpec, RunValues, StepRuns, Thresholds,
    Unit,
};
use crate::compare::noise::Noise;
use crate::compare::verdict::Verdict;
use crate::metrics::rule::{Better, MetricRule, Observed, Per};
use crate::policy::{Policy, RowKind};
use crate::record::RunRecord;

/// What the service rows show in the step column.
pub const SERVICE_STEP: &str = "service";

/// The rows of the system under test's own metrics ([`Metric::Service`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceMetrics;

impl DecisionMetric for ServiceMetrics {
    fn identifies(&self, metric: &Metric) -> bool {
        matches!(metric, Metric::Service { .. })
    }

    fn kind(&self) -> RowKind {
        RowKind::Metrics
    }

    fn label(&self, metric: &Metric) -> String {
        match metric {
            Metric::Service { name } => name.clone(),
            _ => String::new(),
        }
    }

    fn unit(&self) -> Unit {
        Unit::Value
    }

    fn holm_family(&self) -> HolmFamily {
        HolmFamily::Comparison
    }

    fn rows<'a>(
        &self,
        _: &str,
        _: &'a StepRuns<'_>,
        _: &'a StepRuns<'_>,
        _: &Noise,
        _: &Policy,
    ) -> Vec<RowSpec<'a>> {
        Vec::new()
    }

    fn comparison_rows<'a>(
        &self,
        base: &'a [RunRecord],
        candidate: &'a [RunRecord],
        policy: &Policy,
    ) -> Vec<(String, RowSpec<'a>)> {
        rules(base, candidate, policy)
            .into_iter()
            .map(|rule| {
                (
                    SERVICE_STEP.to_string(),
                    row(&rule, base, candidate, policy),
                )
            })
            .collect()
    }

    fn judge(&self, judged: &Judged<'_>, _: &Policy) -> (Verdict, String) {
        let row = judged.row;
        let iv = judged.interval;
        let name = self.label(&row.metric);
        let (go, rollback, proof) = (row.go_threshold, row.rollback_threshold, judged.proof);
        let shown = format!(
            "{name} ratio {:.3} [{:.3}, {:.3}]",
            iv.estimate, iv.low, iv.high
        );
        let critical = judged.critical;
        let proven = judged.test.proven && iv.low > proof;
        if iv.estimate >= rollback && proven {
            let why = format!(
                "{shown}: best estimate ≥ {rollback}, worse than {proof:.3} proven ({})",
                judged.test.describe()
            );
            return if critical {
                (Verdict::Rollback, format!("{why}; critical"))
            } else {
                (
                    Verdict::NoGo,
                    format!(
                        "{why}; not critical, so it holds the phase back rather than rolling back"
                    ),
                )
            };
        }
        if !row.method.noise_measured() {
            return (
                Verdict::NoGo,
                format!(
                    "{shown}: run-to-run noise not measured ({}), so ≤ {go} cannot be proven; run ≥ 2 repetitions a side",
                    row.method.label()
                ),
            );
        }
        if iv.high <= go {
            return (Verdict::Go, format!("{shown}: proven ≤ {go}"));
        }
        let reason = if iv.low > go {
            format!("{shown}: worse than the go margin {go} (whole interval above it): hold")
        } else {
            format!(
                "{shown}: interval reaches past {go}; not proven either way, run more repetitions"
            )
        };
        (Verdict::NoGo, reason)
    }

    fn without_interval(&self, metric: &Metric) -> (Verdict, String) {
        (
            Verdict::NoGo,
            format!(
                "{}: no interval, since a side lacks a value in some run (every run of both sides needs one), so it cannot be judged",
                self.label(metric)
            ),
        )
    }
}

/// The rules judged: the scenario's, then the defaults (CPU per request, peak RSS) when
/// both sides scraped endpoints and the scenario did not name a rule the same.
fn rules(base: &[RunRecord], candidate: &[RunRecord], policy: &Policy) -> Vec<MetricRule> {
    let mut rules = policy.metrics.clone();
    let scraped = |records: &[RunRecord]| {
        records
            .iter()
            .any(|r| r.metrics.as_ref().is_some_and(|m| !m.endpoints.is_empty()))
    };
    if scraped(base) && scraped(candidate) {
        for default in MetricRule::defaults() {
            if !rules.iter().any(|r| r.name == default.name) {
                rules.push(default);
            }
        }
    }
    rules
}

/// One side's values of `rule`, one per run that has one (with what turns it back into
/// the unit it was read in: requests, seconds or 1), and why the others have none.
fn values(rule: &MetricRule, records: &[RunRecord]) -> (Vec<(f64, f64)>, Vec<String>) {
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for r in records {
        match (rule.value(&r.path, r.metrics.as_ref()), r.metrics.as_ref()) {
            (Ok(v), Some(m)) if v.is_finite() && v >= 0.0 => {
                values.push((v, rule.unnormalised(1.0, m)));
            }
            (Ok(v), _) => missing.push(format!(
                "run {}: the value {v} is not a count or a cost",
                r.repetition
            )),
            (Err(why), _) => missing.push(format!("run {}: {why}", r.repetition)),
        }
    }
    (values, missing)
}

/// The log-variance floor of a value that is not a count (a gauge, a query's answer): a
/// 0.1% resolution, so that runs agreeing exactly still give an interval, as counts do.
const RESOLUTION_VARIANCE: f64 = 1e-6;

/// The log-variance of a side's mean value from counting (see
/// [`RunValues::count_variance`]): Poisson, Var(ln N) ≈ 1/N for N events over the runs,
/// values at or above the floor, at least one event; [`RESOLUTION_VARIANCE`] when the
/// values are not counts.
fn count_variance(rule: &MetricRule, values: &[(f64, f64)], floor: f64) -> f64 {
    let Some(quantum) = rule.count_quantum() else {
        return RESOLUTION_VARIANCE;
    };
    let counted: f64 = values
        .iter()
        .map(|(v, unit)| v.max(floor) * unit / quantum)
        .sum();
    1.0 / counted.max(1.0)
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The row of `rule`: each side's per-run values at or above the floor (the rule's, else
/// half the smallest positive value of either side; every value 1 when all are zero, so
/// two zero costs compare as equal), inverted when higher is better.
fn row<'a>(
    rule: &MetricRule,
    base: &[RunRecord],
    candidate: &[RunRecord],
    policy: &Policy,
) -> RowSpec<'a> {
    let (b_runs, b_missing) = values(rule, base);
    let (c_runs, c_missing) = values(rule, candidate);
    // A side with a run whose value is missing has no values at all: GO would otherwise
    // claim equivalence over runs that were not all measured.
    let measured = |runs: &[(f64, f64)], missing: &[String]| -> Vec<f64> {
        if missing.is_empty() {
            runs.iter().map(|(v, _)| *v).collect()
        } else {
            Vec::new()
        }
    };
    let b = measured(&b_runs, &b_missing);
    let c = measured(&c_runs, &c_missing);
    let floor = if rule.floor > 0.0 {
        rule.floor
    } else {
        b.iter()
            .chain(&c)
            .copied()
            .filter(|v| *v > 0.0)
            .reduce(f64::min)
            .map_or(1.0, |v| v / 2.0)
    };
    let shown = |v: f64| match rule.per {
        Per::Request => v * 1000.0,
        Per::Run | Per::Second => v,
    };
    let judged = |values: &[f64]| -> Vec<f64> {
        values
            .iter()
            .map(|v| {
                let v = v.max(floor);
                match rule.better {
                    Better::Lower => v,
                    Better::Higher => 1.0 / v,
                }
            })
            .collect()
    };
    let side = |values: &[f64], count_variance: f64| RunValues {
        per_run: judged(values),
        merged: shown(median(values)),
        quantile_of: None,
        count_variance,
    };
    let go = rule.go_ratio.unwrap_or(policy.go_ratio);
    let rollback = rule.rollback_ratio.unwrap_or(policy.rollback_ratio).max(go);
    let mut notes = Vec::new();
    if rule.per == Per::Request {
        notes.push("values per 1 000 requests".to_string());
    }
    if rule.better == Better::Higher {
        notes.push("higher is better: the ratio is base/candidate".to_string());
    }
    for (label, missing) in [("base", &b_missing), ("candidate", &c_missing)] {
        if let Some(first) = missing.first() {
            notes.push(format!(
                "{label}: {} of {} runs without a value ({first})",
                missing.len(),
                missing.len()
                    + if label == "base" {
                        b_runs.len()
                    } else {
                        c_runs.len()
                    }
            ));
        }
    }
    RowSpec {
        metric: Metric::Service {
            name: rule.name.clone(),
        },
        measured: Measured::Ratio {
            base: side(&b, count_variance(rule, &b_runs, floor)),
            candidate: side(&c, count_variance(rule, &c_runs, floor)),
            stored_noise: None,
        },
        thresholds: Thresholds {
            go,
            rollback,
            proof: (go * rollback).sqrt(),
        },
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        critical: rule.critical,
    }
}

/// The service's count of an observed quantity in the runs' fault windows against
/// harness's own observation of it, for every rule that `observes` one: one line per
/// path and rule, and whether they disagree beyond the rule's tolerance.
pub fn cross_checks(records: &[&RunRecord], policy: &Policy) -> Vec<CrossCheck> {
    let mut out = Vec::new();
    for rule in policy.metrics.iter().filter(|r| r.observes.is_some()) {
        let Some(observed) = rule.observes else {
            continue;
        };
        let mut by_path: Vec<(String, f64, f64, u32)> = Vec::new();
        let Some(selector) = rule_selector(rule) else {
            continue;
        };
        let settle = policy.fault_settle.0.as_secs_f64();
        for r in records {
            let windows: Vec<(f64, f64)> = r
                .faults
                .iter()
                .flat_map(|f| f.windows.iter().copied())
                .collect();
            if windows.is_empty() {
                continue;
            }
            let Some(service) = r
                .metrics
                .as_ref()
                .and_then(|m| m.fault_window_increase(&selector, &r.path, &windows, settle))
            else {
                continue;
            };
            let harness: f64 = r
                .resilience
                .iter()
                .map(|o| match observed {
                    Observed::BreakerOpenings => f64::from(o.breaker_openings),
                    Observed::Retries => o.retries_during.unwrap_or(0) as f64,
                })
                .sum();
            match by_path.iter_mut().find(|(p, ..)| *p == r.path) {
                Some(entry) => {
                    entry.1 += service;
                    entry.2 += harness;
                    entry.3 += 1;
                }
                None => by_path.push((r.path.clone(), service, harness, 1)),
            }
        }
        for (path, service, harness, runs) in by_path {
            let slack = (rule.tolerance * service.max(harness)).max(1.0);
            out.push(CrossCheck {
                path,
                rule: rule.name.clone(),
                observed,
                service,
                harness,
                runs,
                agree: (service - harness).abs() <= slack,
            });
        }
    }
    out
}

/// The scraped selector a rule reads, when it reads one.
fn rule_selector(rule: &MetricRule) -> Option<String> {
    match &rule.source {
        crate::metrics::rule::Source::Series { selector, .. } => Some(selector.clone()),
        _ => None,
    }
}

/// One service count beside harness's observation of the same fault windows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossCheck {
    /// The path.
    pub path: String,
    /// The `[[metric]]` rule.
    pub rule: String,
    /// What harness observed.
    pub observed: Observed,
    /// The service's count over the fault windows (and their settle time), all runs.
    pub service: f64,
    /// Harness's observation from outside over the same windows, all runs.
    pub harness: f64,
    /// Runs counted.
    pub runs: u32,
    /// Whether they agree within the rule's tolerance (at least one event of slack).
    pub agree: bool,
}

impl CrossCheck {
    /// One line for reports.
    pub fn line(&self) -> String {
        format!(
            "{}: the service counted {} {} in the fault windows ([[metric]] `{}`), harness saw {} from outside over {} runs: {}",
            self.path,
            self.service,
            self.observed.name().replace('_', " "),
            self.rule,
            self.harness,
            self.runs,
            if self.agree {
                "they agree"
            } else {
                "they DISAGREE beyond the tolerance"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::compare::synthetic::{record, standard_normal};
    use crate::compare::{Side, compare};
    use crate::metrics::rule::Source;
    use crate::metrics::{CounterRecord, EndpointRecord, MetricsRecord, TimelineRecord};

    /// A run whose service spent `cpu_per_request` CPU seconds on each of 1 000 requests
    /// and peaked at `rss` bytes.
    fn run(path: &str, r: usize, cpu_per_request: f64, rss: f64) -> RunRecord {
        let mut record = record(path, r, Vec::new());
        record.metrics = Some(MetricsRecord {
            requests: 1000,
            endpoints: vec![EndpointRecord {
                endpoint: "reference".into(),
                scrapes: 10,
                failed: 0,
                first_failure: None,
                window_s: Some((0.0, 9.0)),
                missing_series: vec![],
                series_over_cap: 0,
                counters: vec![CounterRecord {
                    name: "process_cpu_seconds_total".into(),
                    labels: Default::default(),
                    delta: cpu_per_request * 1000.0,
                    rate_per_s: None,
                    resets: 0,
                }],
                gauges: vec![],
                cpu_seconds_per_1000_requests: Some(cpu_per_request * 1000.0),
                peak_rss_bytes: Some(rss),
                timelines: vec![],
            }],
            measured_s: 10.0,
            labels: Default::default(),
            queries: vec![],
        });
        record
    }

    /// The service row called `name`.
    fn service_row<'a>(c: &'a crate::compare::Comparison, name: &str) -> &'a crate::compare::Row {
        c.rows
            .iter()
            .find(|r| r.metric == Metric::Service { name: name.into() })
            .unwrap_or_else(|| panic!("a `{name}` row"))
    }

    fn side(label: &str, records: Vec<RunRecord>) -> Side {
        Side {
            label: label.into(),
            records,
            noise: Default::default(),
        }
    }

    /// One seeded trial: `runs` runs a side, per-run CPU per request log-normal with
    /// σ `noise`, the candidate's `effect` times the base's; the CPU row's verdict.
    fn trial(seed: u64, runs: usize, effect: f64, noise: f64, critical: bool) -> Verdict {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw = |path: &str, effect: f64| -> Vec<RunRecord> {
            (0..runs)
                .map(|r| {
                    let cpu = 0.0004 * effect * (noise * standard_normal(&mut rng)).exp();
                    run(path, r, cpu, 5e7)
                })
                .collect()
        };
        let base = draw("legacy", 1.0);
        let candidate = draw("dagger", effect);
        let mut policy = Policy::default();
        if critical {
            let mut cpu = MetricRule::defaults().remove(0);
            cpu.critical = true;
            policy.metrics.push(cpu);
        }
        let c = compare(
            &side("legacy", base),
            &side("dagger", candidate),
            &policy,
            Vec::new(),
        );
        service_row(&c, "cpu_per_request").verdict
    }

    fn rates(effect: f64, critical: bool, noise: f64) -> (f64, f64, f64) {
        const TRIALS: u64 = 1000;
        let (mut go, mut no_go, mut rollback) = (0, 0, 0);
        for seed in 0..TRIALS {
            match trial(seed, 5, effect, noise, critical) {
                Verdict::Go => go += 1,
                Verdict::NoGo => no_go += 1,
                Verdict::Rollback => rollback += 1,
                Verdict::Inconclusive => {}
            }
        }
        let t = TRIALS as f64;
        let rates = (go as f64 / t, no_go as f64 / t, rollback as f64 / t);
        eprintln!(
            "effect {effect}, noise {noise}, critical {critical}: GO/NO-GO/ROLLBACK {rates:?}"
        );
        rates
    }

    #[test]
    fn equal_cost_is_go_and_never_held_back_by_a_proven_regression() {
        // 1 000 seeded trials of 5v5 runs, equal CPU per request. At 2% run-to-run noise
        // the go margin 1.10 is proven almost always; at 5% the exact 5v5 interval is
        // too wide as often as not (measured: GO 0.65), never a false rollback.
        let (go, no_go, rollback) = rates(1.0, true, 0.02);
        assert_eq!(rollback, 0.0, "a false rollback at equal cost");
        assert!(go >= 0.95, "GO {go}, NO-GO {no_go}");
        let (go, _, rollback) = rates(1.0, true, 0.05);
        assert_eq!(rollback, 0.0, "a false rollback at equal cost, 5% noise");
        assert!(go >= 0.5, "GO {go} at 5% noise");
    }

    #[test]
    fn a_busy_loop_is_held_back_and_rolled_back_only_when_critical() {
        // Three times the CPU per request: every trial proves it.
        let (go, no_go, rollback) = rates(3.0, false, 0.05);
        assert_eq!((go, no_go, rollback), (0.0, 1.0, 0.0));
        let (go, _, rollback) = rates(3.0, true, 0.05);
        assert_eq!(go, 0.0);
        assert!(rollback >= 0.95, "rollback power {rollback}");
    }

    #[test]
    fn between_the_margins_is_never_go() {
        let (go, _, rollback) = rates(1.3, true, 0.05);
        assert!(go <= 0.01, "GO {go} at 1.3× (go margin 1.10)");
        assert!(
            rollback <= 0.05,
            "rollback {rollback} at 1.3× (rollback ratio 1.5)"
        );
    }

    #[test]
    fn one_run_a_side_cannot_prove_go_and_a_missing_value_is_no_go_with_its_reason() {
        assert_eq!(trial(1, 1, 1.0, 0.05, false), Verdict::NoGo);
        let mut candidate = vec![run("dagger", 0, 0.0004, 5e7), run("dagger", 1, 0.0004, 5e7)];
        for r in &mut candidate {
            r.metrics.as_mut().expect("metrics").endpoints[0]
                .counters
                .clear();
        }
        let base = vec![run("legacy", 0, 0.0004, 5e7), run("legacy", 1, 0.0004, 5e7)];
        let c = compare(
            &side("legacy", base),
            &side("dagger", candidate),
            &Policy::default(),
            Vec::new(),
        );
        let row = service_row(&c, "cpu_per_request");
        assert_eq!(row.verdict, Verdict::NoGo);
        assert!(
            row.reason.contains("lacks a value in some run"),
            "{}",
            row.reason
        );
        assert!(
            row.reason.contains("process_cpu_seconds_total"),
            "{}",
            row.reason
        );
        assert_ne!(c.verdict, Verdict::Go);
    }

    #[test]
    fn a_floor_keeps_a_few_rare_events_from_swinging_the_ratio() {
        // No retries on the base side, a few on the candidate's, 5 runs a side.
        let runs = |path: &str, retries: [f64; 5]| -> Vec<RunRecord> {
            retries
                .iter()
                .enumerate()
                .map(|(r, &delta)| {
                    let mut run = run(path, r, 0.0004, 5e7);
                    let m = run.metrics.as_mut().expect("metrics");
                    m.endpoints[0].counters.push(CounterRecord {
                        name: "retries_total".into(),
                        labels: Default::default(),
                        delta,
                        rate_per_s: None,
                        resets: 0,
                    });
                    run
                })
                .collect()
        };
        let verdict = |floor: f64, candidate: [f64; 5]| {
            let mut policy = Policy::default();
            policy.metrics.push(MetricRule {
                name: "retries".into(),
                source: Source::Series {
                    selector: "retries_total".into(),
                    stat: crate::metrics::rule::Stat::Increase,
                },
                per: Per::Run,
                floor,
                ..MetricRule::defaults().remove(0)
            });
            let base = side("legacy", runs("legacy", [0.0; 5]));
            let c = compare(
                &base,
                &side("dagger", runs("dagger", candidate)),
                &policy,
                Vec::new(),
            );
            service_row(&c, "retries").verdict
        };
        // None on either side: equal, floor or not.
        assert_eq!(verdict(0.0, [0.0; 5]), Verdict::Go);
        // 0 against 1–3 a run: without a floor the ratio to half an event is huge.
        assert_ne!(verdict(0.0, [1.0, 2.0, 1.0, 3.0, 2.0]), Verdict::Go);
        // Under a floor of 5 retries a run, both sides sit at the floor: equal.
        assert_eq!(verdict(5.0, [1.0, 2.0, 1.0, 3.0, 2.0]), Verdict::Go);
        // Beyond the floor it counts again: 20–30 a run against none.
        assert_ne!(verdict(5.0, [20.0, 25.0, 30.0, 22.0, 28.0]), Verdict::Go);
    }

    #[test]
    fn a_run_without_a_value_keeps_the_row_from_go() {
        // Equal CPU, 5 runs a side, but one candidate run's scrape found nothing.
        let base: Vec<RunRecord> = (0..5).map(|r| run("legacy", r, 0.0004, 5e7)).collect();
        let mut candidate: Vec<RunRecord> = (0..5).map(|r| run("dagger", r, 0.0004, 5e7)).collect();
        candidate[3].metrics.as_mut().expect("metrics").endpoints[0]
            .counters
            .clear();
        let c = compare(
            &side("legacy", base.clone()),
            &side("dagger", candidate),
            &Policy::default(),
            Vec::new(),
        );
        let row = service_row(&c, "cpu_per_request");
        assert_eq!(row.verdict, Verdict::NoGo, "{}", row.reason);
        assert!(
            row.reason.contains("1 of 5 runs without a value"),
            "{}",
            row.reason
        );
        // With every run measured, the same values are GO.
        let full: Vec<RunRecord> = (0..5).map(|r| run("dagger", r, 0.0004, 5e7)).collect();
        let c = compare(
            &side("legacy", base),
            &side("dagger", full),
            &Policy::default(),
            Vec::new(),
        );
        let row = service_row(&c, "cpu_per_request");
        assert_eq!(row.verdict, Verdict::Go, "{}", row.reason);
    }

    #[test]
    fn service_counts_are_checked_against_harness_observations_in_the_fault_windows() {
        let mut policy = Policy::default();
        policy.metrics.push(MetricRule {
            name: "retries".into(),
            source: Source::Series {
                selector: "retries_total".into(),
                stat: crate::metrics::rule::Stat::Increase,
            },
            observes: Some(Observed::Retries),
            ..MetricRule::defaults().remove(0)
        });
        let mut r = run("dagger", 0, 0.0004, 5e7);
        // The fault window [3, 5) s; retries counted by the service 10 before, 40 during.
        r.faults = vec![crate::record::FaultRecord {
            name: "dependency-503".into(),
            kind: "http_error".into(),
            at: "dependency".into(),
            probability: 1.0,
            per: "request".into(),
            windows: vec![(3.0, 5.0)],
            attempts: 0,
            injected: 0,
        }];
        let points = vec![
            (0.0, 0.0),
            (1.0, 5.0),
            (2.0, 10.0),
            (3.0, 10.0),
            (4.0, 30.0),
            (5.0, 50.0),
            (6.0, 50.0),
            (7.0, 50.0),
        ];
        r.metrics.as_mut().expect("metrics").endpoints[0].timelines = vec![TimelineRecord {
            name: "retries_total".into(),
            labels: Default::default(),
            points,
        }];
        let phase = crate::resilience::PhaseStats {
            requests: 100,
            errors: 0,
            error_rate: 0.0,
            p50: None,
            p99: None,
        };
        let mut observation = crate::resilience::Observation {
            window: crate::resilience::FaultWindow {
                name: "dependency-503".into(),
                start: std::time::Duration::from_secs(3),
                end: std::time::Duration::from_secs(5),
            },
            before: phase.clone(),
            during: phase.clone(),
            after: phase,
            amplification: None,
            amplification_before: None,
            time_to_open: None,
            fail_fast_p50: None,
            fail_fast_p99: None,
            probe_rate: None,
            time_to_recover: None,
            injected_failures: 0,
            service_failures: 0,
            unattributed_attempts: 0,
            attempts_during: 0,
            amplification_unattributed: None,
            breaker_openings: 0,
            retries_during: Some(38),
        };
        r.resilience = vec![observation.clone()];
        let checks = cross_checks(&[&r], &policy);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].service, 40.0);
        assert!(checks[0].agree, "{}", checks[0].line());
        observation.retries_during = Some(12);
        r.resilience = vec![observation];
        let checks = cross_checks(&[&r], &policy);
        assert!(!checks[0].agree);
        assert!(
            checks[0].line().contains("DISAGREE"),
            "{}",
            checks[0].line()
        );
    }
}
