//! The terminal reporter: the decision table of [`comparison_table`], with the verdict
//! words coloured when (and only when) the caller says the output is a terminal.

use super::compare_table::comparison_table;
use super::document::ReportDocument;
use super::reporter::{Format, ReportError, Reporter};
use crate::compare::Verdict;

/// ANSI reset.
const RESET: &str = "\x1b[0m";

/// The terminal decision table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableReporter {
    color: bool,
}

impl TableReporter {
    /// A table reporter; `color` only when the output is a terminal.
    pub fn new(color: bool) -> Self {
        Self { color }
    }
}

impl Reporter for TableReporter {
    fn format(&self) -> Format {
        Format::Table
    }

    fn file_name(&self) -> &'static str {
        "summary.txt"
    }

    fn render(&self, doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
        let mut text = comparison_table(&doc.comparison);
        if self.color {
            text = colour_verdicts(&text, doc);
        }
        text.push('\n');
        Ok(text.into_bytes())
    }
}

/// The escape sequence of a verdict: green, yellow, red, magenta; bold for the two that
/// block a migration outright.
fn style(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Go => "\x1b[32m",
        Verdict::NoGo => "\x1b[33m",
        Verdict::Rollback => "\x1b[1;31m",
        Verdict::Inconclusive => "\x1b[1;35m",
    }
}

fn paint(verdict: Verdict) -> String {
    format!("{}{verdict}{RESET}", style(verdict))
}

/// Colours the verdict words where the table puts verdicts: the last cell of each table
/// line, the `step VERDICT: reason` lines and the final `VERDICT: reason` line. Only
/// those places, so a scenario or step that happens to be named `GO` stays plain.
fn colour_verdicts(text: &str, doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let lines: Vec<&str> = text.lines().collect();
    let final_prefix = format!("{}: ", c.verdict);
    let verdict_line = lines.iter().rposition(|l| l.starts_with(&final_prefix));
    let mut out = String::with_capacity(text.len() + 256);
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if Some(index) == verdict_line {
            out.push_str(&paint(c.verdict));
            out.push_str(&line[c.verdict.as_str().len()..]);
        } else if let Some(painted) = colour_last_cell(line) {
            out.push_str(&painted);
        } else if let Some(painted) = colour_row_reason(line, doc) {
            out.push_str(&painted);
        } else {
            out.push_str(line);
        }
    }
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `│ … │ GO       │` → the last cell's verdict painted, padding kept.
fn colour_last_cell(line: &str) -> Option<String> {
    let body = line.strip_suffix('│')?;
    let start = body.rfind('│')? + '│'.len_utf8();
    let cell = &body[start..];
    let verdict = parse(cell.trim())?;
    let word = cell.find(verdict.as_str())?;
    Some(format!(
        "{}{}{}│",
        &line[..start + word],
        paint(verdict),
        &cell[word + verdict.as_str().len()..]
    ))
}

/// `  flow/step ROLLBACK: reason` → the verdict painted, for a row of the document.
fn colour_row_reason(line: &str, doc: &ReportDocument) -> Option<String> {
    doc.comparison.rows.iter().find_map(|row| {
        let prefix = format!("  {} ", row.step);
        let rest = line.strip_prefix(&prefix)?;
        let tail = rest.strip_prefix(row.verdict.as_str())?;
        tail.starts_with(": ")
            .then(|| format!("{prefix}{}{tail}", paint(row.verdict)))
    })
}

fn parse(word: &str) -> Option<Verdict> {
    [
        Verdict::Go,
        Verdict::NoGo,
        Verdict::Rollback,
        Verdict::Inconclusive,
    ]
    .into_iter()
    .find(|v| v.as_str() == word)
}
