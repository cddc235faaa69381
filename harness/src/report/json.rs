//! The machine reporter: `result.json`, the report document pretty-printed. Its shape is
//! `harness-result/v1`, described by `harness/schemas/result.schema.json`, and
//! `harness report` re-renders every other format from it alone.

use super::document::ReportDocument;
use super::reporter::{Format, ReportError, Reporter};

/// `result.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn format(&self) -> Format {
        Format::Json
    }

    fn file_name(&self) -> &'static str {
        "result.json"
    }

    fn render(&self, doc: &ReportDocument) -> Result<Vec<u8>, ReportError> {
        pretty(doc)
    }
}

/// `value` pretty-printed, with a trailing newline that keeps `cat` and diff tools happy.
pub(crate) fn pretty(value: &impl serde::Serialize) -> Result<Vec<u8>, ReportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ReportError::Encode {
        format: Format::Json,
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}
