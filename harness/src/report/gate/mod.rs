//! A gate result rendered for people and CI, through the same [`Reporter`] trait as a
//! comparison: the terminal table, `gate.json`, `summary.md` (which CI publishes as the
//! job summary) and `junit.xml` (one test case per scenario). Nothing here computes a
//! verdict; every string from a scenario or a plan is escaped.

mod junit;
mod markdown;
mod table;

pub use junit::GateJunitReporter;
pub use markdown::GateMarkdownReporter;
pub use table::GateTableReporter;

use crate::gate::GateResult;
use crate::report::reporter::{Format, ReportError, Reporter};

/// The files a gate writes into its report folder, besides `signal.json`.
pub const GATE_FILES: [Format; 3] = [Format::Json, Format::Markdown, Format::Junit];

/// `gate.json`: the gate result itself, pretty-printed (`harness-gate/v1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateJsonReporter;

impl Reporter<GateResult> for GateJsonReporter {
    fn format(&self) -> Format {
        Format::Json
    }

    fn file_name(&self) -> &'static str {
        "gate.json"
    }

    fn render(&self, doc: &GateResult) -> Result<Vec<u8>, ReportError> {
        crate::report::json::pretty(doc)
    }
}

/// A gate has no page of its own: each scenario's `report.html` is the detail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NoGateHtml;

impl Reporter<GateResult> for NoGateHtml {
    fn format(&self) -> Format {
        Format::Html
    }

    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, _: &GateResult) -> Result<Vec<u8>, ReportError> {
        Err(ReportError::Unavailable("gate html"))
    }
}

/// The gate reporter of `format`.
pub fn gate_reporter(format: Format, _color: bool) -> Box<dyn Reporter<GateResult>> {
    match format {
        Format::Table => Box::new(GateTableReporter),
        Format::Json => Box::new(GateJsonReporter),
        Format::Markdown => Box::new(GateMarkdownReporter),
        Format::Junit => Box::new(GateJunitReporter),
        Format::Html => Box::new(NoGateHtml),
    }
}
