//! One trait for every output format of a comparison. A reporter turns a
//! [`ReportDocument`] into bytes and nothing else: it never computes a number or a
//! verdict, never touches a file. The [`ReportManager`](super::manager::ReportManager)
//! owns the writing.

use std::path::PathBuf;

use super::document::ReportDocument;
use super::format::{ms, percent};
use crate::compare::{Row, Unit};

/// An output format of `harness compare` and `harness report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// The terminal decision table (printed, never written by `compare`).
    Table,
    /// `result.json`: the report document itself.
    Json,
    /// `summary.md`: GitHub-flavoured Markdown for a pull-request comment.
    Markdown,
    /// `junit.xml`: one test case per decision and expectation row, for CI.
    Junit,
    /// `report.html`: one self-contained page.
    Html,
}

impl Format {
    /// Every format, in the order `compare` produces them.
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Html,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Html => "html",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Renders a document in one format: a comparison's [`ReportDocument`] (the default),
/// or a gate's result.
pub trait Reporter<D: ?Sized = ReportDocument> {
    /// The format this reporter produces.
    fn format(&self) -> Format;
    /// The file it is written to inside a report folder (`result.json`, ...).
    fn file_name(&self) -> &'static str;
    /// The document in this format.
    fn render(&self, doc: &D) -> Result<Vec<u8>, ReportError>;
}

/// Why a report could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// This build cannot render the format yet.
    #[error("the {0} format is not available in this build; choose another --format")]
    Unavailable(&'static str),
    /// The document could not be encoded.
    #[error("cannot encode the report as {format}: {source}")]
    Encode {
        /// The format being rendered.
        format: Format,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// The report folder could not be created.
    #[error("cannot create the report folder {path}: {source}; choose another --out")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A report file could not be opened for writing.
    #[error("cannot write the report file {path}: {source}; choose another --out")]
    Target {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A report could not be written out.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file (or `-` for standard output).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The presented values of one decision row, shared by the text formats so they agree
/// with each other and with the terminal table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowCells {
    /// `p50`, `errors`.
    pub metric: String,
    /// Base value with its unit.
    pub base: String,
    /// Candidate value with its unit.
    pub candidate: String,
    /// Ratio (latency, `×`) or difference (errors, percentage points).
    pub effect: String,
    /// The interval.
    pub interval: String,
    /// Go / rollback thresholds.
    pub thresholds: String,
    /// How the interval was computed.
    pub method: String,
}

/// A quantity of the system under test in three significant digits with an SI prefix:
/// `50.0M` (bytes), `350m` (CPU seconds per 1 000 requests), `12.0`.
pub(crate) fn quantity(v: f64) -> String {
    const PREFIXES: [(f64, &str); 7] = [
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
        (1.0, ""),
        (1e-3, "m"),
        (1e-6, "µ"),
    ];
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let (scale, prefix) = PREFIXES
        .iter()
        .copied()
        .find(|(scale, _)| v.abs() >= *scale)
        .unwrap_or((1e-9, "n"));
    let scaled = v / scale;
    let decimals = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.decimals$}{prefix}")
}

/// Formats a row the way the terminal table does.
pub(crate) fn row_cells(row: &Row) -> RowCells {
    let (base, candidate, effect, interval, thresholds) = match row.metric.unit() {
        Unit::Microseconds => (
            format!("{} ms", ms(row.base as u64)),
            format!("{} ms", ms(row.candidate as u64)),
            row.interval
                .map(|i| format!("{:.3}×", i.estimate))
                .unwrap_or_else(|| "-".into()),
            row.interval
                .map(|i| format!("[{:.3}, {:.3}]×", i.low, i.high))
                .unwrap_or_else(|| "-".into()),
            format!("≤{}× / ≥{}×", row.go_threshold, row.rollback_threshold),
        ),
        Unit::Share => (
            percent(row.base),
            percent(row.candidate),
            row.interval
                .map(|i| format!("{:+.3}pp", i.estimate * 100.0))
                .unwrap_or_else(|| "-".into()),
            row.interval
                .map(|i| format!("[{:+.3}, {:+.3}]pp", i.low * 100.0, i.high * 100.0))
                .unwrap_or_else(|| "-".into()),
            format!("≤{:+.3}pp", row.go_threshold * 100.0),
        ),
        Unit::Value => (
            quantity(row.base),
            quantity(row.candidate),
            row.interval
                .map(|i| format!("{:.3}×", i.estimate))
                .unwrap_or_else(|| "-".into()),
            row.interval
                .map(|i| format!("[{:.3}, {:.3}]×", i.low, i.high))
                .unwrap_or_else(|| "-".into()),
            format!("≤{}× / ≥{}×", row.go_threshold, row.rollback_threshold),
        ),
    };
    RowCells {
        metric: row.metric.label(),
        base,
        candidate,
        effect,
        interval,
        thresholds,
        method: row.method.label(),
    }
}
