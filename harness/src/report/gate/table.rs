//! The gate's terminal table: one line per scenario, then the confirmations, the flags,
//! the action, the hook and the decision.

use std::fmt::Write as _;

use tabled::settings::Style;
use tabled::{Table, Tabled};

use crate::compare::Verdict;
use crate::gate::GateResult;
use crate::report::reporter::{Format, ReportError, Reporter};
use crate::text::printable_lines;

/// The gate's table, printed on standard output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateTableReporter;

impl Reporter<GateResult> for GateTableReporter {
    fn format(&self) -> Format {
        Format::Table
    }

    fn file_name(&self) -> &'static str {
        "summary.txt"
    }

    fn render(&self, doc: &GateResult) -> Result<Vec<u8>, ReportError> {
        // Names come from the plan and scenarios: nothing hidden reaches the terminal.
        Ok(printable_lines(&render_table(doc))
            .into_owned()
            .into_bytes())
    }
}

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
fn render_table(r: &GateResult) -> String {
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
        for warning in &s.warnings {
            let _ = writeln!(out, "  {}: warning: {warning}", s.scenario);
        }
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
