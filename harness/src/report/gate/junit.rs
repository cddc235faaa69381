//! The gate's `junit.xml`: one test case per scenario; every string is escaped.

use std::fmt::Write as _;

use crate::compare::Verdict;
use crate::gate::GateResult;
use crate::report::junit::escape as xml;
use crate::report::reporter::{Format, ReportError, Reporter};

/// `junit.xml` of a gate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateJunitReporter;

impl Reporter<GateResult> for GateJunitReporter {
    fn format(&self) -> Format {
        Format::Junit
    }

    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, doc: &GateResult) -> Result<Vec<u8>, ReportError> {
        Ok(render_junit(doc).into_bytes())
    }
}

/// `junit.xml`: one test case per scenario; NO-GO and ROLLBACK fail, INCONCLUSIVE is an
/// error (the comparison could not be made), and an empty phase fails one synthetic case
/// so that it never shows green.
fn render_junit(r: &GateResult) -> String {
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
    // CI views show a suite's stderr beside its results.
    let warnings: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.warnings
                .iter()
                .map(move |w| format!("{}: warning: {w}", s.scenario))
        })
        .collect();
    if empty {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{classname}\" name=\"scenarios\">\n      <error type=\"INCONCLUSIVE\" message=\"{}\"/>\n    </testcase>",
            xml(&r.reason)
        );
    }
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "    <system-err>{}</system-err>",
            xml(&warnings.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
