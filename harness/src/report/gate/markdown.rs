//! The gate's `summary.md`, which CI publishes as the job summary; every string from a
//! scenario or a plan is escaped.

use std::fmt::Write as _;
use std::path::Path;

use crate::compare::Verdict;
use crate::gate::GateResult;
use crate::report::markdown::escape as md;
use crate::report::reporter::{Format, ReportError, Reporter};

/// `summary.md` of a gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateMarkdownReporter;

impl Reporter<GateResult> for GateMarkdownReporter {
    fn format(&self) -> Format {
        Format::Markdown
    }

    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, doc: &GateResult) -> Result<Vec<u8>, ReportError> {
        Ok(render_summary(doc).into_bytes())
    }
}

/// `summary.md`.
fn render_summary(r: &GateResult) -> String {
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
    let warnings: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.warnings
                .iter()
                .map(move |w| format!("> **Warning:** **{}**: {}", md(&s.scenario), md(w)))
        })
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "{}
",
            warnings.join(
                "
>
"
            )
        );
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
    if r.flags.is_empty() && matches!(r.decision, Verdict::NoGo | Verdict::Inconclusive) {
        out.push_str(
            "None: the decision is to hold (stay in the phase, fix or measure again).\n\n",
        );
    } else if r.flags.is_empty() {
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
