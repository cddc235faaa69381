//! `summary.md`: the comparison as GitHub-flavoured Markdown that reads well as a
//! pull-request comment: the verdict, why, the decision table, the expectation rows, and
//! the policy and environment folded away in a `<details>` section.
//!
//! Every string that comes from a scenario, a record or the command line goes through
//! [`escape`]: GitHub renders inline HTML, so a step named `<script>` must arrive as text.

use std::fmt::Write as _;

use super::document::ReportDocument;
use super::reporter::{Format, ReportError, Reporter, row_cells};
use crate::compare::{Comparison, SideSummary};
use crate::record::FaultRecord;

/// `summary.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkdownReporter;

impl Reporter for MarkdownReporter {
    fn format(&self) -> Format {
        Format::Markdown
    }

    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
        Ok(render_markdown(doc).into_bytes())
    }
}

/// Text made inert for Markdown (tables included) and for the HTML GitHub lets through:
/// `&`, `<`, `>` become entities; Markdown punctuation and `|` are backslash-escaped;
/// a line break becomes `<br>` so that it cannot end a table row.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '|' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push_str("<br>"),
            // A lone carriage return would also end a table row.
            '\r' => {}
            // Other controls, bidirectional overrides, zero-width characters.
            c if crate::text::is_hidden(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn render_markdown(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "## harness compare: {}\n", c.verdict);
    let _ = writeln!(
        out,
        "**`{}`** · scenario **{}** · candidate {} vs base {} · {}\n",
        c.verdict,
        escape(&c.scenario.name),
        side_brief(&c.candidate),
        side_brief(&c.base),
        escape(&c.policy_version),
    );
    for warning in &c.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", escape(warning));
    }
    let _ = writeln!(out, "**Why:** {}\n", escape(&c.reason));
    decision_table(&mut out, c);
    expectation_table(&mut out, c);
    parity_table(&mut out, c);
    if let Some(e) = &c.explanation {
        let _ = writeln!(
            out,
            "### Why it is slower: the engine's spans\n\nFor {}, the operations whose time or cache-hit share changed most (base → candidate):\n",
            escape(&e.rows.join("; "))
        );
        for operation in &e.operations {
            let _ = writeln!(out, "- {}", escape(&operation.describe()));
        }
        for caveat in &e.caveats {
            let _ = writeln!(out, "- _{}_", escape(caveat));
        }
        out.push('\n');
    }
    if !c.service_checks.is_empty() {
        out.push_str("### Service counts beside harness's observations\n\n");
        for check in &c.service_checks {
            let _ = writeln!(out, "- {}", escape(&check.line()));
        }
        out.push('\n');
    }
    if !c.check_failures.is_empty() {
        out.push_str("### Failed checks (first answers)\n\n");
        for sample in &c.check_failures {
            let _ = writeln!(out, "- {}", escape(sample));
        }
        out.push('\n');
    }
    if !c.invalid.is_empty() {
        out.push_str("### Why the comparison is not valid\n\n");
        for problem in &c.invalid {
            let _ = writeln!(
                out,
                "- **{}**: {}",
                escape(problem.check.as_str()),
                escape(&problem.message)
            );
        }
        out.push('\n');
    }
    details(&mut out, doc);
    out
}

fn side_brief(side: &SideSummary) -> String {
    format!("{} ({} run(s))", escape(&side.label), side.runs)
}

fn decision_table(out: &mut String, c: &Comparison) {
    out.push_str("### Decision\n\n");
    if c.rows.is_empty() {
        out.push_str("No step is shared by both sides.\n\n");
        return;
    }
    out.push_str(
        "| step | metric | base | candidate | ratio / Δ | interval | go / rollback | method | verdict | reason |\n\
         | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | --- |\n",
    );
    for row in &c.rows {
        let cells = row_cells(row);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | **{}** | {} |",
            escape(&row.step),
            escape(&cells.metric),
            escape(&cells.base),
            escape(&cells.candidate),
            escape(&cells.effect),
            escape(&cells.interval),
            escape(&cells.thresholds),
            escape(&cells.method),
            row.verdict,
            escape(&row.reason),
        );
    }
    out.push('\n');
}

fn parity_table(out: &mut String, c: &Comparison) {
    let Some(p) = &c.parity else {
        return;
    };
    let _ = writeln!(
        out,
        "### Functional parity\n\n{} sampled iteration(s){}; differences between two base answers are noise and not counted.\n\n| step | field | differing (95%) | verdict | reason |\n| --- | --- | --- | --- | --- |",
        p.samples,
        if p.complete { "" } else { " (interrupted)" }
    );
    for r in &p.rows {
        let _ = writeln!(
            out,
            "| {} | `{}`{} | {} | **{}** | {} |",
            escape(&r.step),
            escape(&r.field),
            if r.critical { " (critical)" } else { "" },
            escape(&super::parity::rate(r)),
            r.verdict,
            escape(&r.reason)
        );
    }
    out.push('\n');
    for r in p.rows.iter().filter(|r| !r.examples.is_empty()) {
        let _ = writeln!(
            out,
            "Examples of `{}` on {}:\n\n| request | at | base | candidate |\n| --- | --- | --- | --- |",
            escape(&r.field),
            escape(&r.step)
        );
        for e in &r.examples {
            let _ = writeln!(
                out,
                "| {} | `{}` | `{}` | `{}` |",
                e.request_id,
                escape(&e.at),
                escape(&super::parity::value(&e.base)),
                escape(&super::parity::value(&e.candidate))
            );
        }
        out.push('\n');
    }
    for line in p.noise.iter().filter_map(super::parity::noise_line) {
        let _ = writeln!(out, "- noise: {}", escape(&line));
    }
    out.push('\n');
}

fn expectation_table(out: &mut String, c: &Comparison) {
    if c.expectations.is_empty() {
        return;
    }
    out.push_str(
        "### Resilience expectations\n\n\
         | path | expectation | threshold | observed | other path | verdict | reason |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for e in &c.expectations {
        let other = e
            .other_path
            .as_ref()
            .map(|(p, v)| format!("{p}: {v}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} | {} | **{}** | {} |",
            escape(&e.path),
            escape(&e.expectation),
            if e.critical { " (critical)" } else { "" },
            escape(&e.threshold),
            escape(&e.observed),
            escape(&other),
            e.verdict,
            escape(&e.reason),
        );
    }
    out.push('\n');
}

fn details(out: &mut String, doc: &ReportDocument) {
    let c = &doc.comparison;
    // The blank line after `<summary>` lets GitHub render the Markdown inside.
    out.push_str("<details>\n<summary>Policy, environment and provenance</summary>\n\n");
    let _ = writeln!(out, "- **Policy:** {}", escape(&c.policy.describe()));
    for (name, side) in [("Base", &c.base), ("Candidate", &c.candidate)] {
        let _ = writeln!(
            out,
            "- **{name}:** {}: path {}, {} run(s), scenario hash {}, environment {}",
            escape(&side.label),
            escape(&side.path),
            side.runs,
            escape(&side.scenario_hash),
            escape(&side.environment),
        );
    }
    for fault in &c.faults {
        let _ = writeln!(out, "- **Fault:** {}", fault_brief(fault));
    }
    match &doc.environment {
        Some(env) => {
            let _ = writeln!(
                out,
                "- **Environment:** {} {}, kernel {}, {}, {} logical core(s), harness {}",
                escape(&env.os),
                escape(&env.arch),
                escape(&env.kernel),
                escape(&env.cpu_model),
                env.logical_cores,
                escape(&env.harness_version),
            );
        }
        None => out.push_str("- **Environment:** unknown (no runs)\n"),
    }
    let _ = writeln!(out, "- **Command:** {}", escape(&doc.command));
    if !doc.sources.is_empty() {
        let sources: Vec<String> = doc.sources.iter().map(|s| escape(s)).collect();
        let _ = writeln!(out, "- **Sources:** {}", sources.join(", "));
    }
    let _ = writeln!(
        out,
        "- **Generated:** {} by harness {} ({})",
        escape(&doc.generated_at),
        escape(&doc.harness_version),
        escape(&doc.schema),
    );
    out.push_str("\n</details>\n");
}

fn fault_brief(f: &FaultRecord) -> String {
    let windows: Vec<String> = f
        .windows
        .iter()
        .map(|(a, b)| format!("{a:.1}–{b:.1} s"))
        .collect();
    format!(
        "{}: {} at the {}, probability {:.2} per {}, active {}; {} of {} attempts injected",
        escape(&f.name),
        escape(f.kind.as_str()),
        escape(f.at.as_str()),
        f.probability,
        escape(f.per.as_str()),
        if windows.is_empty() {
            "never (outside the run)".to_string()
        } else {
            windows.join(", ")
        },
        f.injected,
        f.attempts
    )
}
