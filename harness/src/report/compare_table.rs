//! The terminal decision table of `harness compare`: one row per step and metric, then
//! the overall verdict, its reason and the policy in force.

use super::format::fault_line;
use super::reporter::row_cells;
use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::compare::{Comparison, ExpectationRow, Row};
use crate::resilience::describe;
use crate::text::printable_lines;

#[derive(Tabled)]
struct Line {
    #[tabled(rename = "step")]
    step: String,
    #[tabled(rename = "metric")]
    metric: String,
    #[tabled(rename = "base")]
    base: String,
    #[tabled(rename = "candidate")]
    candidate: String,
    #[tabled(rename = "ratio / Δ")]
    effect: String,
    #[tabled(rename = "interval")]
    interval: String,
    #[tabled(rename = "go / rollback")]
    thresholds: String,
    #[tabled(rename = "method")]
    method: String,
    #[tabled(rename = "verdict")]
    verdict: String,
}

/// The decision table, the invalidity reasons, the verdict and the policy; hidden
/// characters (see [`crate::text`]) escaped.
pub fn comparison_table(c: &Comparison) -> String {
    let lines: Vec<Line> = c.rows.iter().map(line).collect();
    let mut out = String::new();
    out.push_str(&format!(
        "{}: {} ({} run(s)) vs {} ({} run(s))\n",
        c.scenario.name, c.candidate.label, c.candidate.runs, c.base.label, c.base.runs
    ));
    for warning in &c.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if lines.is_empty() {
        out.push_str("no step is shared by both sides\n");
    } else {
        let mut table = Table::new(lines);
        table.with(Style::rounded());
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for row in &c.rows {
        out.push_str(&format!("  {} {}: {}\n", row.step, row.verdict, row.reason));
    }
    for fault in &c.faults {
        out.push_str(&format!("{}\n", fault_line(fault)));
    }
    if !c.expectations.is_empty() {
        let lines: Vec<ExpectLine> = c.expectations.iter().map(expect_line).collect();
        let mut table = Table::new(lines);
        table.with(Style::rounded());
        out.push_str("resilience expectations:\n");
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for side in &c.resilience {
        for o in &side.observations {
            out.push_str(&format!(
                "  {} ({}), fault `{}`:\n",
                side.path, side.side, o.window.name
            ));
            for line in describe(o) {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    if let Some(p) = &c.parity {
        parity_section(&mut out, p);
    }
    if let Some(e) = &c.explanation {
        out.push_str(&format!(
            "why it is slower, by the engine's spans ({}):\n",
            e.rows.join("; ")
        ));
        for operation in &e.operations {
            out.push_str(&format!("  {}\n", operation.describe()));
        }
        for caveat in &e.caveats {
            out.push_str(&format!("  ({caveat})\n"));
        }
    }
    if !c.service_checks.is_empty() {
        out.push_str("service counts beside harness's observations:\n");
        for check in &c.service_checks {
            out.push_str(&format!("  {}\n", check.line()));
        }
    }
    if !c.check_failures.is_empty() {
        out.push_str("failed checks (first answers):\n");
        for sample in &c.check_failures {
            out.push_str(&format!("  {sample}\n"));
        }
    }
    for problem in &c.invalid {
        out.push_str(&format!(
            "  not valid ({}): {}\n",
            problem.check, problem.message
        ));
    }
    out.push_str(&format!("\n{}: {}\n", c.verdict, c.reason));
    out.push_str(&format!("policy {}", c.policy.describe()));
    // Names and reasons come from files: nothing hidden reaches the terminal.
    printable_lines(&out).into_owned()
}

#[derive(Tabled)]
struct ParityLine {
    #[tabled(rename = "step")]
    step: String,
    #[tabled(rename = "field")]
    field: String,
    #[tabled(rename = "differing (95%)")]
    rate: String,
    #[tabled(rename = "verdict")]
    verdict: String,
}

/// The parity rows, each differing field's examples, and what was noise.
fn parity_section(out: &mut String, p: &crate::compare::ParityResult) {
    out.push_str(&format!(
        "parity ({} sampled iteration(s){}): the candidate's answers against the base's, beyond the base's own noise\n",
        p.samples,
        if p.complete { "" } else { ", interrupted" }
    ));
    let lines: Vec<ParityLine> = p
        .rows
        .iter()
        .map(|r| ParityLine {
            step: r.step.clone(),
            field: format!("{}{}", r.field, if r.critical { " (critical)" } else { "" }),
            rate: super::parity::rate(r),
            verdict: r.verdict.to_string(),
        })
        .collect();
    let mut table = Table::new(lines);
    table.with(Style::rounded());
    out.push_str(&table.to_string());
    out.push('\n');
    for row in p.rows.iter().filter(|r| r.differing > 0) {
        out.push_str(&format!("  {} {}: {}\n", row.step, row.verdict, row.reason));
        for e in &row.examples {
            out.push_str(&format!("    {}\n", super::parity::example_line(e)));
        }
    }
    for line in p.noise.iter().filter_map(super::parity::noise_line) {
        out.push_str(&format!("  noise (base vs base, not counted): {line}\n"));
    }
}

#[derive(Tabled)]
struct ExpectLine {
    #[tabled(rename = "path")]
    path: String,
    #[tabled(rename = "expectation")]
    expectation: String,
    #[tabled(rename = "threshold")]
    threshold: String,
    #[tabled(rename = "observed")]
    observed: String,
    #[tabled(rename = "other path")]
    other: String,
    #[tabled(rename = "verdict")]
    verdict: String,
}

fn expect_line(e: &ExpectationRow) -> ExpectLine {
    ExpectLine {
        path: e.path.clone(),
        expectation: format!(
            "{}{}",
            e.expectation,
            if e.critical { " (critical)" } else { "" }
        ),
        threshold: e.threshold.clone(),
        observed: e.observed.clone(),
        other: e
            .other_path
            .as_ref()
            .map(|(p, v)| format!("{p}: {v}"))
            .unwrap_or_else(|| "-".into()),
        verdict: e.verdict.to_string(),
    }
}

fn line(row: &Row) -> Line {
    let cells = row_cells(row);
    Line {
        step: row.step.clone(),
        metric: cells.metric,
        base: cells.base,
        candidate: cells.candidate,
        effect: cells.effect,
        interval: cells.interval,
        thresholds: cells.thresholds,
        method: cells.method,
        verdict: row.verdict.to_string(),
    }
}
