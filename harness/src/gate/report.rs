//! Rendering a gate result for people and CI: the terminal table, `summary.md` (which CI
//! publishes as the job summary) and `junit.xml` (one test case per scenario). Nothing
//! here computes a verdict; every string from a scenario or a plan is escaped.

use std::fmt::Write as _;
use std::path::Path;

use tabled::settings::Style;
use tabled::{Table, Tabled};

use super::run::GateResult;
use crate::compare::Verdict;
use crate::report::junit::escape as xml;
use crate::report::markdown::escape as md;

#[derive(Tabled)]
struct Line {
    #[tabled(rename = "scenario")]
    scenario: String,
    #[tabled(rename = "component")]
    component: String,
    #[tabled(rename = "verdict")]
    verdict: String,
    #[tabled(rename = "reason")]
    reason: String,
}

/// The terminal table: one line per scenario, then the decision, flags and action.
pub fn render_table(r: &GateResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "phase {} ({}): {} scenario(s), {}",
        r.phase,
        r.phase_name,
        r.scenarios.len(),
        r.source
    );
    if !r.scenarios.is_empty() {
        let lines: Vec<Line> = r
            .scenarios
            .iter()
            .map(|s| Line {
                scenario: s.scenario.clone(),
                component: s.component.clone().unwrap_or_else(|| "-".into()),
                verdict: s.verdict.to_string(),
                reason: s.reason.clone(),
            })
            .collect();
        let mut table = Table::new(lines);
        table.with(Style::rounded());
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for s in &r.scenarios {
        if let Some(note) = &s.confirmation {
            let _ = writeln!(out, "  {}: {note}", s.scenario);
        }
        if let Some(why) = &s.critical {
            let _ = writeln!(out, "  {}: critical: {why}", s.scenario);
        }
    }
    if !r.flags.is_empty() {
        let _ = writeln!(out, "flags to switch back: {}", r.flags.join(", "));
    }
    if r.decision == Verdict::Rollback {
        let _ = writeln!(out, "rollback action: {}", r.rollback_action);
    }
    if let Some(hook) = &r.hook {
        let _ = writeln!(out, "{}", hook.describe());
    }
    let _ = writeln!(out, "{}: {}", r.decision, r.reason);
    out
}

/// `summary.md`.
pub fn render_summary(r: &GateResult) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "## harness gate: phase {} ({}): {}\n",
        r.phase,
        md(&r.phase_name),
        r.decision
    );
    let _ = writeln!(out, "**Why:** {}\n", md(&r.reason));
    if r.scenarios.is_empty() {
        out.push_str("The phase has no scenarios.\n\n");
    } else {
        out.push_str("| scenario | component | verdict | reason |\n|---|---|---|---|\n");
        for s in &r.scenarios {
            // Linked relative to the gate folder, where summary.md is.
            let report = s
                .report
                .as_ref()
                .map(|p| {
                    let relative = Path::new(p).strip_prefix(&r.folder).unwrap_or(Path::new(p));
                    let link = relative
                        .display()
                        .to_string()
                        .replace(' ', "%20")
                        .replace('(', "%28")
                        .replace(')', "%29");
                    format!(" ([report]({link}/summary.md))")
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {}{} | {} | **{}** | {} |",
                md(&s.scenario),
                report,
                md(s.component.as_deref().unwrap_or("-")),
                s.verdict,
                md(&s.reason)
            );
        }
        out.push('\n');
    }
    let notes: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.confirmation
                .iter()
                .map(move |n| format!("- **{}**: {}", md(&s.scenario), md(n)))
                .chain(
                    s.critical
                        .iter()
                        .map(move |c| format!("- **{}**: critical: {}", md(&s.scenario), md(c))),
                )
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "### Rollback confirmation\n\n{}\n", notes.join("\n"));
    }
    let behind: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.rows
                .iter()
                .map(move |row| format!("- **{}**: {}", md(&s.scenario), md(row)))
        })
        .collect();
    if !behind.is_empty() {
        let _ = writeln!(
            out,
            "### Rows behind the decision\n\n{}\n",
            behind.join("\n")
        );
    }
    out.push_str("### Flags to switch back\n\n");
    if r.flags.is_empty() {
        out.push_str("None.\n\n");
    } else {
        for flag in &r.flags {
            let _ = writeln!(out, "- `{}`", flag.replace('`', "'"));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "### Rollback action{}\n\n{}\n",
        if r.decision == Verdict::Rollback {
            ""
        } else {
            " (not needed: the decision is not ROLLBACK)"
        },
        md(&r.rollback_action)
    );
    if let Some(hook) = &r.hook {
        let _ = writeln!(out, "**Hook:** {}\n", md(&hook.describe()));
    }
    let _ = writeln!(
        out,
        "<details><summary>Gate details</summary>\n\n- plan: {}\n- source: {}\n- go ratio: {}\n- confirm_rollback: {} · critical: error rate > {}, latency ratio > {}\n- command: {}\n- generated: {} by harness {}\n\n</details>",
        md(&r.plan),
        md(&r.source),
        r.go_ratio
            .map_or("each scenario's own".to_string(), |g| g.to_string()),
        r.confirm_rollback,
        r.critical.error_rate,
        r.critical.latency_ratio,
        md(&r.command),
        md(&r.generated_at),
        md(&r.harness_version)
    );
    out
}

/// `junit.xml`: one test case per scenario; NO-GO and ROLLBACK fail, INCONCLUSIVE is an
/// error (the comparison could not be made), and an empty phase fails one synthetic case
/// so that it never shows green.
pub fn render_junit(r: &GateResult) -> String {
    let suite = xml(&format!("harness gate phase {}", r.phase));
    let failures = r
        .scenarios
        .iter()
        .filter(|s| matches!(s.verdict, Verdict::NoGo | Verdict::Rollback))
        .count();
    let mut errors = r
        .scenarios
        .iter()
        .filter(|s| s.verdict == Verdict::Inconclusive)
        .count();
    let empty = r.scenarios.is_empty();
    if empty {
        errors += 1;
    }
    let tests = r.scenarios.len().max(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">"
    );
    out.push_str("    <properties>\n");
    let flags = r.flags.join(",");
    for (name, value) in [
        ("decision", r.decision.as_str()),
        ("reason", r.reason.as_str()),
        ("phase_name", r.phase_name.as_str()),
        ("flags", flags.as_str()),
        ("rollback_action", r.rollback_action.as_str()),
        ("command", r.command.as_str()),
        ("generated_at", r.generated_at.as_str()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            xml(value)
        );
    }
    out.push_str("    </properties>\n");
    let classname = format!("phase-{}", r.phase);
    for s in &r.scenarios {
        let head = format!(
            "    <testcase classname=\"{classname}\" name=\"{}\"",
            xml(&s.scenario)
        );
        let element = match s.verdict {
            Verdict::Go => {
                let _ = writeln!(out, "{head}/>");
                continue;
            }
            Verdict::Inconclusive => "error",
            Verdict::NoGo | Verdict::Rollback => "failure",
        };
        let mut details = s.rows.clone();
        details.extend(s.confirmation.clone());
        details.extend(s.critical.iter().map(|c| format!("critical: {c}")));
        let _ = writeln!(
            out,
            "{head}>\n      <{element} type=\"{}\" message=\"{}\">{}</{element}>\n    </testcase>",
            s.verdict,
            xml(&format!("{}: {}", s.verdict, s.reason)),
            xml(&details.join("\n"))
        );
    }
    if empty {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{classname}\" name=\"scenarios\">\n      <error type=\"INCONCLUSIVE\" message=\"{}\"/>\n    </testcase>",
            xml(&r.reason)
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
