//! `junit.xml`: the comparison as a JUnit test suite, so CI systems show each decision
//! where they show test results. One `<testcase>` per decision row (classname
//! `scenario/flow/step`, name = metric) and per expectation row (classname
//! `scenario/resilience/path`, name = expectation); NO-GO and ROLLBACK rows fail with
//! their reason. A synthetic `validity` test case fails when the comparison is
//! INCONCLUSIVE, so an invalid comparison never shows green even if every row would be.

use std::fmt::Write as _;

use super::document::ReportDocument;
use super::reporter::{Format, ReportError, Reporter, row_cells};
use crate::compare::{Comparison, ExpectationRow, Row, Verdict};

/// `junit.xml`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JunitReporter;

impl Reporter for JunitReporter {
    fn format(&self) -> Format {
        Format::Junit
    }

    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
        Ok(render_junit(doc).into_bytes())
    }
}

/// Text made safe for XML attribute values and character data: the five predefined
/// entities, line breaks as character references (so attribute values keep them), and
/// the control characters XML 1.0 forbids replaced by U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (the `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// One `<testcase>`.
struct Case {
    classname: String,
    name: String,
    /// `(type, message, details)` when it failed.
    failure: Option<(Verdict, String, String)>,
}

fn render_junit(doc: &ReportDocument) -> String {
    let c = &doc.comparison;
    let mut cases: Vec<Case> = c.rows.iter().map(|r| row_case(c, r)).collect();
    cases.extend(c.expectations.iter().map(|e| expectation_case(c, e)));
    if let Some(p) = &c.parity {
        cases.extend(p.rows.iter().map(|r| parity_case(c, r)));
    }
    cases.push(validity_case(c));
    let tests = cases.len();
    let failures = cases.iter().filter(|k| k.failure.is_some()).count();
    let suite = escape(&format!("harness compare {}", c.scenario.name));

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        out,
        "<testsuites name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">"
    );
    out.push_str("    <properties>\n");
    let policy = c.policy.describe();
    for (name, value) in [
        ("verdict", c.verdict.as_str()),
        ("reason", c.reason.as_str()),
        ("policy", policy.as_str()),
        ("base", c.base.label.as_str()),
        ("candidate", c.candidate.label.as_str()),
        ("command", doc.command.as_str()),
        ("generated_at", doc.generated_at.as_str()),
        ("harness_version", doc.harness_version.as_str()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape(value)
        );
    }
    for warning in &c.warnings {
        let _ = writeln!(
            out,
            "      <property name=\"warning\" value=\"{}\"/>",
            escape(warning)
        );
    }
    out.push_str("    </properties>\n");
    for case in &cases {
        let head = format!(
            "    <testcase classname=\"{}\" name=\"{}\"",
            escape(&case.classname),
            escape(&case.name)
        );
        match &case.failure {
            None => {
                let _ = writeln!(out, "{head}/>");
            }
            Some((verdict, message, details)) => {
                let _ = writeln!(
                    out,
                    "{head}>\n      <failure type=\"{verdict}\" message=\"{}\">{}</failure>\n    </testcase>",
                    escape(message),
                    escape(details)
                );
            }
        }
    }
    // The answers behind failed checks: CI views show a suite's stdout with its results.
    if !c.check_failures.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            escape(&format!("failed checks:\n{}", c.check_failures.join("\n")))
        );
    }
    // CI views show a suite's stderr beside its results, where properties stay hidden.
    if !c.warnings.is_empty() {
        let lines: Vec<String> = c.warnings.iter().map(|w| format!("warning: {w}")).collect();
        let _ = writeln!(
            out,
            "    <system-err>{}</system-err>",
            escape(&lines.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn row_case(c: &Comparison, row: &Row) -> Case {
    let cells = row_cells(row);
    let failure = (row.verdict != Verdict::Go).then(|| {
        (
            row.verdict,
            format!("{}: {}", row.verdict, row.reason),
            format!(
                "base {}, candidate {}, ratio / Δ {}, interval {}, go / rollback {}, method {}",
                cells.base,
                cells.candidate,
                cells.effect,
                cells.interval,
                cells.thresholds,
                cells.method
            ),
        )
    });
    Case {
        classname: format!("{}/{}", c.scenario.name, row.step),
        name: cells.metric,
        failure,
    }
}

fn expectation_case(c: &Comparison, e: &ExpectationRow) -> Case {
    let failure = (e.verdict != Verdict::Go).then(|| {
        (
            e.verdict,
            format!("{}: {}", e.verdict, e.reason),
            format!(
                "threshold {}, observed {}{}{}",
                e.threshold,
                e.observed,
                e.other_path
                    .as_ref()
                    .map(|(p, v)| format!(", {p}: {v}"))
                    .unwrap_or_default(),
                if e.critical { " (critical)" } else { "" }
            ),
        )
    });
    Case {
        classname: format!("{}/resilience/{}", c.scenario.name, e.path),
        name: e.expectation.clone(),
        failure,
    }
}

/// One case per parity row: a failing test case per differing field.
fn parity_case(c: &Comparison, r: &crate::compare::ParityRow) -> Case {
    let failure = (r.verdict != Verdict::Go).then(|| {
        let examples: Vec<String> = r.examples.iter().map(super::parity::example_line).collect();
        (
            r.verdict,
            format!("{}: {}", r.verdict, r.reason),
            format!(
                "differing {}{}\n{}",
                super::parity::rate(r),
                if r.critical { " (critical)" } else { "" },
                examples.join("\n")
            ),
        )
    });
    Case {
        classname: format!("{}/parity/{}", c.scenario.name, r.step),
        name: r.field.clone(),
        failure,
    }
}

/// Passes when the comparison is valid (an expectation that could not be judged fails
/// its own case); fails with every reason when it is not.
fn validity_case(c: &Comparison) -> Case {
    let failure = (!c.invalid.is_empty()).then(|| {
        let details: Vec<String> = c
            .invalid
            .iter()
            .map(|i| format!("{}: {}", i.check, i.message))
            .collect();
        (
            Verdict::Inconclusive,
            format!("{}: {}", c.verdict, c.reason),
            details.join("\n"),
        )
    });
    Case {
        classname: c.scenario.name.clone(),
        name: "validity".to_string(),
        failure,
    }
}
