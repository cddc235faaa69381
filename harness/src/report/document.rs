//! The report document: everything a reporter renders, and what `result.json` holds, so
//! that `harness report result.json --format html` re-renders any format from it alone.

use serde::{Deserialize, Serialize};

use crate::compare::Comparison;
use crate::record::{Environment, RunRecord};

/// Schema name of `result.json`.
pub const RESULT_SCHEMA: &str = "harness-result/v1";

/// A comparison and the runs behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDocument {
    /// Always [`RESULT_SCHEMA`].
    pub schema: String,
    /// RFC 3339 UTC time the report was made.
    pub generated_at: String,
    /// Version of the harness that made it.
    pub harness_version: String,
    /// The command that produced it, as typed (arguments only; never environment values).
    pub command: String,
    /// Where the scenario and runs came from, for people (file names).
    pub sources: Vec<String>,
    /// The decision, rows, expectations and observations.
    pub comparison: Comparison,
    /// The base side's runs (from a stored baseline, or live).
    pub base_runs: Vec<RunRecord>,
    /// The candidate side's runs.
    pub candidate_runs: Vec<RunRecord>,
    /// In a compare against a stored baseline, the base path's live runs (used to check
    /// drift; drawn beside the baseline). Empty otherwise.
    #[serde(default)]
    pub live_base_runs: Vec<RunRecord>,
    /// The machine the candidate ran on.
    pub environment: Option<Environment>,
}

impl ReportDocument {
    /// A document for `comparison` and its runs, stamped now.
    pub fn new(
        comparison: Comparison,
        base_runs: Vec<RunRecord>,
        candidate_runs: Vec<RunRecord>,
        command: String,
        sources: Vec<String>,
    ) -> Self {
        let environment = candidate_runs
            .first()
            .or(base_runs.first())
            .map(|r| r.environment.clone());
        Self {
            schema: RESULT_SCHEMA.to_string(),
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            command,
            sources,
            comparison,
            base_runs,
            candidate_runs,
            live_base_runs: Vec::new(),
            environment,
        }
    }
}
