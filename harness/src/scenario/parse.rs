//! Entry points: read a scenario file, parse it, validate it, hash it.
//!
//! Parsing is two stages, as in ripgrep's flags: the TOML text becomes the file as typed
//! (`raw`), which becomes a validated [`Scenario`] (`validate`). Nothing is started
//! before both have succeeded, and the first problem is reported with its place.

use std::path::Path;

use super::error::{Problem, ScenarioError};
use super::explain::toml_problem;
use super::hash::scenario_hash;
use super::model::Scenario;
use super::raw::RawScenario;
use super::validate::validate;
use crate::input;

/// Reads, parses and validates the scenario at `path`, with the process environment.
///
/// Only a regular file of at most [`input::TEXT_CAP`] bytes is read: a FIFO or a device
/// is refused before it is opened.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let bytes = input::read(path, input::SCENARIO).map_err(|error| ScenarioError::Io {
        file: path.to_path_buf(),
        error,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            // Locate the first bad byte in the valid part, so the line and column are right.
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let at = prefix.len();
            return Err(ScenarioError::invalid(
                path,
                &prefix,
                Problem::new(
                    at..at,
                    "the file is not valid UTF-8",
                    "save the scenario as UTF-8 text",
                ),
            ));
        }
    };
    parse_str(&text, path, &|name| std::env::var(name).ok())
}

/// Parses and validates scenario `text` (from `file`, for messages), looking environment
/// variables up through `env`.
pub fn parse_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    let fail = |problem: Problem| ScenarioError::invalid(file, text, problem);
    if text.trim().is_empty() {
        return Err(fail(Problem::new(
            0..0,
            "the scenario file is empty",
            "a scenario needs a name, at least one path, a [load] table and a [[flow]], e.g.\nname = \"demo\"\n[paths.legacy]\ntarget = \"reference\"\n[load]\nmodel = \"open\"\nrate = 200\nduration = \"5s\"\n[[flow]]\nname = \"get\"\nsteps = [{ name = \"health\", path = \"/healthz\" }]",
        )));
    }
    let raw: RawScenario = toml::from_str(text).map_err(|e| fail(toml_problem(&e, text)))?;
    let mut scenario = validate(raw, text, file, env).map_err(fail)?;
    scenario.hash = scenario_hash(&scenario);
    Ok(scenario)
}
