//! Resilience expectations (`[expect]` in a scenario) judged on what was observed under
//! faults: each unmet expectation is NO-GO, or ROLLBACK when it is marked critical.
//!
//! The worst value over every run and fault window of a path is what is judged: a
//! breaker that opened in time in four windows and never in the fifth did not meet
//! "opens within 1 s".
//!
//! When the fault proxy could not join a window's dependency attempts to client requests
//! (the service does not forward `traceparent` or `x-harness-request-id`), what needs the
//! join (breaker opening, fail-fast, recovery) is INCONCLUSIVE with the reason, never GO;
//! `max_amplification` is judged on the window-level aggregate, labelled "unattributed";
//! the client-side expectations (error rate, p99 during the fault) are judged as always.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::verdict::Verdict;
use crate::record::RunRecord;
use crate::resilience::Observation;
use crate::scenario::ExpectSpec;

/// One judged expectation for one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationRow {
    /// The path judged.
    pub path: String,
    /// The expectation (`circuit_opens_within`, ...).
    pub expectation: String,
    /// The threshold, for people.
    pub threshold: String,
    /// Whether failing it rolls back.
    pub critical: bool,
    /// The worst value observed on this path, for people (`never` when the event did not happen).
    pub observed: String,
    /// The same expectation's worst value on the other path, shown side by side.
    pub other_path: Option<(String, String)>,
    /// Fault windows observed on this path (over all runs).
    pub windows: usize,
    /// GO when met, NO-GO or ROLLBACK (critical) when not.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
}

/// Whether judging `name` needs dependency attempts joined to client requests.
fn needs_join(name: &str) -> bool {
    matches!(
        name,
        "circuit_opens_within" | "fail_fast_p99_below" | "recovers_within"
    )
}

/// The worst observed value of `name` over `observations`; `None` inside means "never
/// happened" (the breaker never opened or never recovered), which fails a time limit.
/// `aggregate` reads amplification from the window-level aggregate (no join).
fn worst(name: &str, observations: &[&Observation], aggregate: bool) -> Option<Option<f64>> {
    if observations.is_empty() {
        return None;
    }
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let values: Vec<Option<f64>> = observations
        .iter()
        .map(|o| match name {
            "circuit_opens_within" => secs(o.time_to_open),
            // No fail-fast latency means nothing failed fast: the expectation is not met.
            "fail_fast_p99_below" => secs(o.fail_fast_p99),
            "recovers_within" => secs(o.time_to_recover),
            "max_amplification" if aggregate => o.amplification_unattributed,
            "max_amplification" => o.amplification,
            "max_error_rate_during" => Some(o.during.error_rate),
            "max_p99_during" => secs(o.during.p99),
            _ => None,
        })
        .collect();
    if values.iter().any(Option::is_none) {
        return Some(None);
    }
    Some(values.into_iter().flatten().reduce(f64::max))
}

/// Observations of every run of `path` in `records`.
fn observations_of<'a>(records: &'a [RunRecord], path: &str) -> Vec<&'a Observation> {
    records
        .iter()
        .filter(|r| r.path == path)
        .flat_map(|r| r.resilience.iter())
        .collect()
}

/// Judges `spec` on the records of both sides. `judged` are the paths to judge (the
/// candidate by default); `other` is shown beside each for comparison.
pub fn judge_expectations(
    spec: &ExpectSpec,
    records: &[RunRecord],
    judged: &[String],
    other: Option<&str>,
) -> Vec<ExpectationRow> {
    let mut rows = Vec::new();
    for path in judged {
        let mine = observations_of(records, path);
        let theirs = other
            .filter(|o| o != path)
            .map(|o| (o, observations_of(records, o)));
        let unattributed: Vec<&&Observation> = mine.iter().filter(|o| !o.attributed()).collect();
        for (name, threshold) in spec.set() {
            let critical = spec.critical.iter().any(|c| c == name);
            let aggregate = !unattributed.is_empty();
            let shown = |w: Option<Option<f64>>| match w {
                None => "no fault window".to_string(),
                Some(None) => "never".to_string(),
                Some(Some(v)) => threshold.show(v),
            };
            let other_path = theirs.as_ref().map(|(o, obs)| {
                let attributed = obs.iter().all(|w| w.attributed());
                let value = match (needs_join(name), attributed) {
                    (true, false) => "unattributed".to_string(),
                    (false, false) if name == "max_amplification" => {
                        format!("{} (unattributed)", shown(worst(name, obs, true)))
                    }
                    _ => shown(worst(name, obs, !attributed)),
                };
                (o.to_string(), value)
            });
            let row = |observed: String, verdict: Verdict, reason: String| ExpectationRow {
                path: path.clone(),
                expectation: name.to_string(),
                threshold: threshold.show(threshold.value()),
                critical,
                observed,
                other_path: other_path.clone(),
                windows: mine.len(),
                verdict,
                reason,
            };
            if aggregate && needs_join(name) {
                let worst_window = unattributed
                    .iter()
                    .max_by_key(|o| o.unattributed_attempts)
                    .map(|o| {
                        format!(
                            "{} of {} dependency attempts during fault `{}` carried no request id the client sent",
                            o.unattributed_attempts, o.attempts_during, o.window.name
                        )
                    })
                    .unwrap_or_default();
                rows.push(row(
                    "unattributed".into(),
                    Verdict::Inconclusive,
                    format!(
                        "{path}: {name} cannot be judged: {worst_window}; the service does not propagate `traceparent` or `x-harness-request-id` to its dependency. Forward either header on the dependency call (OpenTelemetry instrumentation propagates traceparent), or name the header it does forward with request_id_header under [dependency]"
                    ),
                ));
                continue;
            }
            let observed = worst(name, &mine, aggregate);
            let label = if aggregate && name == "max_amplification" {
                " (unattributed: attempts in the fault window per request started in it)"
            } else {
                ""
            };
            let met = matches!(observed, Some(Some(v)) if v <= threshold.value());
            let verdict = match (observed, met) {
                (None, _) => Verdict::NoGo,
                (_, true) => Verdict::Go,
                (_, false) if critical => Verdict::Rollback,
                (_, false) => Verdict::NoGo,
            };
            let reason = match observed {
                None => format!(
                    "{path}: no fault window was observed, so `{name}` could not be checked"
                ),
                Some(_) if met => format!(
                    "{path}: {name} {} ≤ {} over {} window(s){label}",
                    shown(observed),
                    threshold.show(threshold.value()),
                    mine.len()
                ),
                Some(None) => format!(
                    "{path}: {name} not met: it never happened in {} window(s){}",
                    mine.len(),
                    if critical { " (critical)" } else { "" }
                ),
                Some(Some(_)) => format!(
                    "{path}: {name} not met: {} exceeds {}{label}{}",
                    shown(observed),
                    threshold.show(threshold.value()),
                    if critical { " (critical)" } else { "" }
                ),
            };
            let observed = format!(
                "{}{}",
                shown(observed),
                if label.is_empty() {
                    ""
                } else {
                    " (unattributed)"
                }
            );
            rows.push(row(observed, verdict, reason));
        }
    }
    rows
}
