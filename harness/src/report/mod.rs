//! Rendering for people and machines. Reporters only present what was computed.

pub mod baseline_table;
pub mod compare_table;
pub mod document;
pub mod format;
pub mod gate;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod manager;
pub mod markdown;
pub mod operating;
pub(crate) mod parity;
pub mod reporter;
pub mod run_table;
pub mod table;

pub use baseline_table::{baseline_list_table, baseline_show};
pub use compare_table::comparison_table;
pub use document::{RESULT_SCHEMA, ReportDocument};
pub use gate::{GATE_FILES, gate_reporter};
pub use manager::{ReportManager, ReporterFactory, reporter};
pub use reporter::{Format, ReportError, Reporter};
pub use run_table::run_summary_table;
