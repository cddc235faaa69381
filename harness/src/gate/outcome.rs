//! What the gate decided for one scenario of a phase: the decisive verdict, why, which
//! rows caused it, and every compare that was made on the way (a ROLLBACK and its
//! confirming re-runs).

use serde::{Deserialize, Serialize};

use crate::compare::Verdict;

/// One compare made for a scenario (the first, or a re-run confirming a ROLLBACK).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// Its compare report folder, when one was written or read.
    pub report: Option<String>,
}

/// The gate's outcome for one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    /// Scenario name.
    pub scenario: String,
    /// The scenario file.
    pub file: String,
    /// The platform component it exercises (ties it to a feature flag).
    pub component: Option<String>,
    /// The decisive verdict.
    pub verdict: Verdict,
    /// One line saying why.
    pub reason: String,
    /// The rows (or validity problems) behind a verdict other than GO.
    pub rows: Vec<String>,
    /// Why a ROLLBACK was critical and stood at once; `None` otherwise.
    pub critical: Option<String>,
    /// What the confirming re-runs showed, for people; `None` when none was needed.
    pub confirmation: Option<String>,
    /// Every compare made, first to last; the last is the decisive one.
    pub attempts: Vec<Attempt>,
    /// The decisive compare report folder.
    pub report: Option<String>,
    /// What a reader must not miss about how the decisive compare's runs were made (a
    /// run whose generator could not keep up, a path that did not verify TLS), from its
    /// comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ScenarioOutcome {
    /// An outcome decided without any compare (no baseline, no saved result, an error).
    pub fn without_compare(
        scenario: &str,
        file: &str,
        component: Option<&str>,
        verdict: Verdict,
        reason: impl Into<String>,
    ) -> Self {
        let reason = reason.into();
        Self {
            scenario: scenario.to_string(),
            file: file.to_string(),
            component: component.map(str::to_string),
            verdict,
            rows: Vec::new(),
            critical: None,
            confirmation: None,
            attempts: vec![Attempt {
                verdict,
                reason: reason.clone(),
                report: None,
            }],
            report: None,
            warnings: Vec::new(),
            reason,
        }
    }
}
