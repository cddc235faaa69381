//! GitHub Actions workflow commands for a decision, so a failing gate or compare shows
//! where people look: one `::error` per ROLLBACK and one `::warning` per NO-GO or
//! INCONCLUSIVE (per scenario for a gate, per row and expectation for a compare), and one
//! `::warning` per warning (a run whose generator could not keep up, ...). Pure: the
//! binary prints the lines, and only on Actions.
//!
//! Every string is escaped as the runner unescapes it: in the message (data) `%`, `\r`
//! and `\n`; in a property (`title=`) also `:` and `,`, so a scenario name cannot end the
//! title or start another property, and a reason cannot start another command.

use crate::compare::{Comparison, Verdict};
use crate::gate::GateResult;

/// A workflow command's message: `%` → `%25`, `\r` → `%0D`, `\n` → `%0A`.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`escape_data`], and `:` → `%3A`,
/// `,` → `%2C`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::<level> title=<title>::<message>`, escaped.
fn command(level: &str, title: &str, message: &str) -> String {
    format!(
        "::{level} title={}::{}",
        escape_property(title),
        escape_data(message)
    )
}

/// The annotation level of a verdict: ROLLBACK is an error, NO-GO and INCONCLUSIVE
/// warnings, GO nothing.
fn level(verdict: Verdict) -> Option<&'static str> {
    match verdict {
        Verdict::Rollback => Some("error"),
        Verdict::NoGo | Verdict::Inconclusive => Some("warning"),
        Verdict::Go => None,
    }
}

/// The gate's annotations: per scenario that is not GO, `<scenario>: <VERDICT>` with its
/// reason (and the rows behind it, one a line); then each scenario's warnings.
pub fn gate_annotations(r: &GateResult) -> Vec<String> {
    let mut lines = Vec::new();
    for s in &r.scenarios {
        if let Some(level) = level(s.verdict) {
            let message = std::iter::once(s.reason.as_str())
                .chain(s.rows.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join("\n");
            lines.push(command(
                level,
                &format!("{}: {}", s.scenario, s.verdict),
                &message,
            ));
        }
        for warning in &s.warnings {
            lines.push(command(
                "warning",
                &format!("{}: warning", s.scenario),
                warning,
            ));
        }
    }
    lines
}

/// A comparison's annotations: per row and expectation that is ROLLBACK or NO-GO,
/// `<scenario> <step> <metric>: <VERDICT>` with its reason, or for an INCONCLUSIVE
/// comparison (its rows decide nothing) one line with its reason; then its warnings.
pub fn compare_annotations(c: &Comparison) -> Vec<String> {
    let scenario = &c.scenario.name;
    let mut lines = Vec::new();
    let inconclusive = c.verdict == Verdict::Inconclusive;
    if inconclusive {
        lines.push(command(
            "warning",
            &format!("{scenario}: {}", c.verdict),
            &c.reason,
        ));
    }
    let (rows, expectations) = if inconclusive {
        (&[][..], &[][..])
    } else {
        (&c.rows[..], &c.expectations[..])
    };
    for row in rows {
        if let Some(level) = level(row.verdict).filter(|_| row.verdict != Verdict::Inconclusive) {
            lines.push(command(
                level,
                &format!(
                    "{scenario} {} {}: {}",
                    row.step,
                    row.metric.label(),
                    row.verdict
                ),
                &row.reason,
            ));
        }
    }
    for e in expectations {
        if let Some(level) = level(e.verdict).filter(|_| e.verdict != Verdict::Inconclusive) {
            lines.push(command(
                level,
                &format!("{scenario} {} {}: {}", e.path, e.expectation, e.verdict),
                &e.reason,
            ));
        }
    }
    for warning in &c.warnings {
        lines.push(command("warning", &format!("{scenario}: warning"), warning));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::ScenarioOutcome;

    /// Carriage returns, newlines, percent signs, colons, commas and a forged command.
    const HOSTILE: &str = "a%0A:b,c\r\n::error title=x::forged 100%";

    #[test]
    fn data_and_properties_are_escaped_as_the_runner_unescapes_them() {
        assert_eq!(
            escape_data(HOSTILE),
            "a%250A:b,c%0D%0A::error title=x::forged 100%25"
        );
        assert_eq!(
            escape_property(HOSTILE),
            "a%250A%3Ab%2Cc%0D%0A%3A%3Aerror title=x%3A%3Aforged 100%25"
        );
        assert_eq!(escape_data("plain text"), "plain text");
    }

    fn outcome(name: &str, verdict: Verdict, reason: &str) -> ScenarioOutcome {
        ScenarioOutcome::without_compare(name, "s.toml", None, verdict, reason)
    }

    fn gate(scenarios: Vec<ScenarioOutcome>) -> GateResult {
        let mut r: GateResult = serde_json::from_value(serde_json::json!({
            "schema": "harness-gate/v1", "generated_at": "", "harness_version": "",
            "command": "", "plan": "", "folder": "", "phase": 1, "phase_name": "p",
            "source": "live", "go_ratio": null, "confirm_rollback": 0,
            "critical": {"error_rate": 0.5, "latency_ratio": 5.0},
            "decision": "ROLLBACK", "reason": "", "causes": [], "scenarios": [],
            "flags": [], "rollback_action": "", "signal": "", "hook": null, "dry_run": false
        }))
        .expect("a gate result");
        r.scenarios = scenarios;
        r
    }

    #[test]
    fn a_gate_says_each_scenario_that_is_not_go_one_line_each_escaped() {
        let mut rollback = outcome(HOSTILE, Verdict::Rollback, HOSTILE);
        rollback.rows = vec!["wf/execute p95: 1.62× ≥ 1.5×".into()];
        let mut go = outcome("fine", Verdict::Go, "all proven");
        go.warnings = vec!["legacy r1: the generator could not keep up: achieved 19827.0/s of 1000000.0/s (12 dropped)".into()];
        let lines = gate_annotations(&gate(vec![
            rollback,
            outcome("slow", Verdict::NoGo, "p50 1.2×, 100% sure"),
            outcome("unsure", Verdict::Inconclusive, "no stored baseline"),
            go,
        ]));
        assert_eq!(
            lines,
            [
                "::error title=a%250A%3Ab%2Cc%0D%0A%3A%3Aerror title=x%3A%3Aforged 100%25%3A ROLLBACK::a%250A:b,c%0D%0A::error title=x::forged 100%25%0Awf/execute p95: 1.62× ≥ 1.5×",
                "::warning title=slow%3A NO-GO::p50 1.2×, 100%25 sure",
                "::warning title=unsure%3A INCONCLUSIVE::no stored baseline",
                "::warning title=fine%3A warning::legacy r1: the generator could not keep up: achieved 19827.0/s of 1000000.0/s (12 dropped)",
            ]
        );
        for line in &lines {
            assert_eq!(line.lines().count(), 1, "one line each: {line}");
        }
    }

    #[test]
    fn a_comparison_says_each_row_that_is_not_go_and_why_it_is_inconclusive() {
        use crate::compare::{Metric, Verdict};
        use crate::gate::aggregate::tests::{rollback, row};

        let mut c = rollback(
            vec![
                row(Metric::ErrorRate, 0.3, 0.2, Verdict::Rollback),
                row(Metric::ErrorRate, 0.0, 0.0, Verdict::Go),
                row(Metric::ErrorRate, 0.1, 0.05, Verdict::NoGo),
            ],
            vec![],
        );
        c.scenario.name = "demo, v2".into();
        let lines = compare_annotations(&c);
        assert_eq!(
            lines,
            [
                "::error title=demo%2C v2 wf/execute errors%3A ROLLBACK::errors says ROLLBACK",
                "::warning title=demo%2C v2 wf/execute errors%3A NO-GO::errors says NO-GO",
            ]
        );
        // Not valid: its rows decide nothing, so only the verdict and the warnings.
        c.verdict = Verdict::Inconclusive;
        c.reason = "the comparison is not valid: legacy r1 achieved 10.0/s of a 100.0/s target (10.0% < 98%)".into();
        c.warnings = vec![
            "legacy r1: the generator could not keep up: achieved 10.0/s of 100.0/s (0 dropped)"
                .into(),
        ];
        let lines = compare_annotations(&c);
        assert_eq!(
            lines,
            [
                "::warning title=demo%2C v2%3A INCONCLUSIVE::the comparison is not valid: legacy r1 achieved 10.0/s of a 100.0/s target (10.0%25 < 98%25)",
                "::warning title=demo%2C v2%3A warning::legacy r1: the generator could not keep up: achieved 10.0/s of 100.0/s (0 dropped)",
            ]
        );
    }
}
