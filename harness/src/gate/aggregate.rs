//! Pure decisions of the gate: the per-scenario outcomes of a phase become one verdict,
//! and a ROLLBACK is classified as critical (it stands at once) or not (a re-run must
//! confirm it).
//!
//! The phase verdict is the worst of its scenarios, in the order of how much each blocks
//! a migration: any ROLLBACK rolls the phase back; else any INCONCLUSIVE leaves it
//! undecided (a comparison that is not valid proves nothing, so it outranks a NO-GO);
//! else every scenario GO is GO; else NO-GO. A phase without scenarios is INCONCLUSIVE,
//! never GO: a gate must not pass on nothing.

use serde::{Deserialize, Serialize};

use super::outcome::ScenarioOutcome;
use super::plan::CriticalThresholds;
use crate::compare::{Comparison, Metric, Verdict};

/// A scenario behind the phase verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// Scenario name.
    pub scenario: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
    /// The rows behind it.
    pub rows: Vec<String>,
}

/// The verdict of a phase and what caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseDecision {
    /// The phase verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The scenarios whose verdict decided it (none on GO).
    pub causes: Vec<Cause>,
}

/// The phase verdict of `outcomes`.
pub fn aggregate(outcomes: &[ScenarioOutcome]) -> PhaseDecision {
    if outcomes.is_empty() {
        return PhaseDecision {
            verdict: Verdict::Inconclusive,
            reason: "the phase has no scenarios: a gate never passes on nothing; list scenarios under the phase in the plan".into(),
            causes: Vec::new(),
        };
    }
    let has = |v: Verdict| outcomes.iter().any(|o| o.verdict == v);
    let verdict = if has(Verdict::Rollback) {
        Verdict::Rollback
    } else if has(Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else if outcomes.iter().all(|o| o.verdict == Verdict::Go) {
        Verdict::Go
    } else {
        Verdict::NoGo
    };
    let causes: Vec<Cause> = outcomes
        .iter()
        .filter(|o| verdict != Verdict::Go && o.verdict == verdict)
        .map(|o| Cause {
            scenario: o.scenario.clone(),
            verdict: o.verdict,
            reason: o.reason.clone(),
            rows: o.rows.clone(),
        })
        .collect();
    let names = causes
        .iter()
        .map(|c| c.scenario.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let reason = match verdict {
        Verdict::Go => format!("all {} scenario(s) GO", outcomes.len()),
        Verdict::Rollback => format!(
            "{} of {} scenario(s) proven beyond a rollback threshold: {names}",
            causes.len(),
            outcomes.len()
        ),
        Verdict::Inconclusive => format!(
            "{} of {} scenario(s) could not be validly compared: {names}",
            causes.len(),
            outcomes.len()
        ),
        Verdict::NoGo => format!(
            "{} of {} scenario(s) not proven within their go margins (none proven harmful): {names}",
            causes.len(),
            outcomes.len()
        ),
    };
    PhaseDecision {
        verdict,
        reason,
        causes,
    }
}

/// Why a ROLLBACK comparison is critical, or `None` when it is not (or is no ROLLBACK):
/// a step whose candidate error rate is above `error_rate`; a step whose highest latency
/// quantile judged has a ratio above `latency_ratio`, judged on the interval's lower end
/// so that a noisy estimate cannot skip the confirmation; or an unmet critical
/// `[expect]` row.
pub fn critical_rollback(c: &Comparison, thresholds: &CriticalThresholds) -> Option<String> {
    if c.verdict != Verdict::Rollback {
        return None;
    }
    let deciding = || c.rows.iter().filter(|r| r.decides);
    for row in deciding() {
        let errors = matches!(
            row.metric,
            Metric::ErrorRate | Metric::ErrorRateOutsideFaults
        );
        if errors && row.candidate > thresholds.error_rate {
            return Some(format!(
                "{}: candidate error rate {:.1}% is above the critical {:.1}%",
                row.step,
                row.candidate * 100.0,
                thresholds.error_rate * 100.0
            ));
        }
    }
    for row in deciding() {
        let Metric::Latency { quantile } = row.metric else {
            continue;
        };
        let highest = deciding()
            .filter(|r| r.step == row.step)
            .filter_map(|r| match r.metric {
                Metric::Latency { quantile } => Some(quantile),
                Metric::ErrorRate | Metric::ErrorRateOutsideFaults | Metric::Service { .. } => None,
            })
            .fold(f64::MIN, f64::max);
        if quantile < highest {
            continue;
        }
        if let Some(iv) = row.interval
            && iv.low > thresholds.latency_ratio
        {
            return Some(format!(
                "{} {}: latency ratio proven above {} (interval [{:.2}, {:.2}])",
                row.step,
                row.metric.label(),
                thresholds.latency_ratio,
                iv.low,
                iv.high
            ));
        }
    }
    c.expectations
        .iter()
        .find(|e| e.critical && e.verdict == Verdict::Rollback)
        .map(|e| format!("critical resilience expectation unmet: {}", e.reason))
}

/// The rows behind a comparison's verdict, one line each: the rows with that verdict
/// (every row not GO, for NO-GO), or the validity problems of an INCONCLUSIVE one.
pub fn rows_behind(c: &Comparison) -> Vec<String> {
    match c.verdict {
        Verdict::Go => Vec::new(),
        Verdict::Inconclusive => c
            .invalid
            .iter()
            .map(|i| format!("{}: {}", i.check, i.message))
            .chain(
                c.expectations
                    .iter()
                    .filter(|e| e.verdict == Verdict::Inconclusive)
                    .map(|e| format!("resilience {}: {}", e.expectation, e.reason)),
            )
            .collect(),
        verdict => {
            let wanted =
                |v: Verdict| v == verdict || (verdict == Verdict::NoGo && v != Verdict::Go);
            c.rows
                .iter()
                .filter(|r| wanted(r.verdict))
                .map(|r| format!("{} {}: {}", r.step, r.metric.label(), r.reason))
                .chain(
                    c.expectations
                        .iter()
                        .filter(|e| wanted(e.verdict))
                        .map(|e| format!("resilience {}: {}", e.expectation, e.reason)),
                )
                .collect()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::stats::Interval;
    use crate::compare::{ExpectationRow, Method, Row, Side, compare};
    use crate::policy::Policy;

    pub(crate) fn outcome(name: &str, verdict: Verdict) -> ScenarioOutcome {
        ScenarioOutcome::without_compare(
            name,
            &format!("scenarios/{name}.toml"),
            Some("workflow_engine"),
            verdict,
            format!("{name} says {verdict}"),
        )
    }

    fn verdict_of(verdicts: &[Verdict]) -> PhaseDecision {
        let outcomes: Vec<ScenarioOutcome> = verdicts
            .iter()
            .enumerate()
            .map(|(i, v)| outcome(&format!("s{i}"), *v))
            .collect();
        aggregate(&outcomes)
    }

    #[test]
    fn all_go_is_go_with_no_causes() {
        let d = verdict_of(&[Verdict::Go, Verdict::Go, Verdict::Go]);
        assert_eq!(d.verdict, Verdict::Go);
        assert!(d.causes.is_empty());
        assert_eq!(d.reason, "all 3 scenario(s) GO");
    }

    #[test]
    fn one_no_go_holds_the_phase() {
        let d = verdict_of(&[Verdict::Go, Verdict::NoGo, Verdict::Go]);
        assert_eq!(d.verdict, Verdict::NoGo);
        assert_eq!(d.causes.len(), 1);
        assert_eq!(d.causes[0].scenario, "s1");
    }

    #[test]
    fn inconclusive_outranks_no_go() {
        let d = verdict_of(&[Verdict::NoGo, Verdict::Inconclusive, Verdict::Go]);
        assert_eq!(d.verdict, Verdict::Inconclusive);
        assert_eq!(d.causes.len(), 1);
        assert_eq!(d.causes[0].scenario, "s1");
    }

    #[test]
    fn rollback_outranks_inconclusive() {
        let d = verdict_of(&[Verdict::Inconclusive, Verdict::Rollback, Verdict::NoGo]);
        assert_eq!(d.verdict, Verdict::Rollback);
        assert_eq!(d.causes.len(), 1);
        assert_eq!(d.causes[0].verdict, Verdict::Rollback);
        assert!(d.reason.contains("s1"), "{}", d.reason);
    }

    #[test]
    fn an_empty_phase_is_inconclusive_never_go() {
        let d = aggregate(&[]);
        assert_eq!(d.verdict, Verdict::Inconclusive);
        assert!(d.reason.contains("never passes on nothing"));
    }

    /// A ROLLBACK comparison with the given rows and expectations.
    pub(crate) fn rollback(rows: Vec<Row>, expectations: Vec<ExpectationRow>) -> Comparison {
        let empty = Side {
            label: String::new(),
            records: Vec::new(),
            noise: Default::default(),
        };
        let mut c = compare(&empty, &empty, &Policy::default(), Vec::new());
        c.invalid.clear();
        c.rows = rows;
        c.expectations = expectations;
        c.verdict = Verdict::Rollback;
        c
    }

    pub(crate) fn row(metric: Metric, candidate: f64, low: f64, verdict: Verdict) -> Row {
        let reason = format!("{} says {verdict}", metric.label());
        Row {
            step: "wf/execute".into(),
            metric,
            base: 0.01,
            candidate,
            interval: Some(Interval {
                estimate: low + 0.1,
                low,
                high: low + 0.2,
                confidence: 0.95,
            }),
            method: Method::Newcombe,
            go_threshold: 1.1,
            rollback_threshold: 1.5,
            p_rollback: 0.0,
            p_adjusted: 0.0,
            rollback_proven: verdict == Verdict::Rollback,
            verdict,
            reason,
            decides: true,
        }
    }

    const T: CriticalThresholds = CriticalThresholds {
        error_rate: 0.5,
        latency_ratio: 5.0,
    };

    fn p(q: f64) -> Metric {
        Metric::Latency { quantile: q }
    }

    #[test]
    fn an_error_rate_above_half_is_critical() {
        let c = rollback(
            vec![
                row(p(0.5), 9000.0, 1.0, Verdict::Go),
                row(Metric::ErrorRate, 0.6, 0.5, Verdict::Rollback),
            ],
            vec![],
        );
        let why = critical_rollback(&c, &T).expect("critical");
        assert!(why.contains("60.0%"), "{why}");
        let c = rollback(
            vec![row(Metric::ErrorRate, 0.33, 0.3, Verdict::Rollback)],
            vec![],
        );
        assert_eq!(
            critical_rollback(&c, &T),
            None,
            "a third is bad, not critical"
        );
    }

    #[test]
    fn only_the_highest_quantile_judged_counts_and_only_when_proven() {
        // p50 proven 6x slower but p95 only 2x: not critical (the tail decides).
        let c = rollback(
            vec![
                row(p(0.5), 1.0, 6.0, Verdict::Rollback),
                row(p(0.95), 1.0, 2.0, Verdict::Rollback),
            ],
            vec![],
        );
        assert_eq!(critical_rollback(&c, &T), None);
        let c = rollback(
            vec![
                row(p(0.5), 1.0, 2.0, Verdict::Rollback),
                row(p(0.95), 1.0, 5.5, Verdict::Rollback),
            ],
            vec![],
        );
        let why = critical_rollback(&c, &T).expect("critical");
        assert!(why.contains("p95"), "{why}");
        // An estimate above 5 whose interval reaches below it is not proven critical.
        let c = rollback(vec![row(p(0.99), 1.0, 4.95, Verdict::Rollback)], vec![]);
        assert_eq!(critical_rollback(&c, &T), None);
    }

    #[test]
    fn a_critical_expectation_is_critical_and_no_rollback_never_is() {
        let e = ExpectationRow {
            path: "dagger".into(),
            expectation: "circuit_opens_within".into(),
            threshold: "1s".into(),
            critical: true,
            observed: "never".into(),
            other_path: None,
            windows: 1,
            verdict: Verdict::Rollback,
            reason: "dagger: circuit_opens_within not met".into(),
        };
        let c = rollback(vec![], vec![e]);
        let why = critical_rollback(&c, &T).expect("critical");
        assert!(why.contains("circuit_opens_within"), "{why}");
        let mut c = rollback(
            vec![row(Metric::ErrorRate, 0.9, 0.8, Verdict::Rollback)],
            vec![],
        );
        c.verdict = Verdict::NoGo;
        assert_eq!(critical_rollback(&c, &T), None);
    }

    #[test]
    fn the_rows_behind_a_verdict_are_named() {
        let c = rollback(
            vec![
                row(p(0.5), 1.0, 1.0, Verdict::Go),
                row(p(0.95), 1.0, 1.2, Verdict::NoGo),
                row(Metric::ErrorRate, 0.3, 0.2, Verdict::Rollback),
            ],
            vec![],
        );
        assert_eq!(
            rows_behind(&c),
            vec!["wf/execute errors: errors says ROLLBACK"]
        );
        let mut c = c;
        c.verdict = Verdict::NoGo;
        assert_eq!(rows_behind(&c).len(), 2);
    }
}
