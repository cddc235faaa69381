//! The phase plan (`ci/phases.toml`): which scenarios gate which migration phase, under
//! which go ratio, what to do on a rollback and which feature flag each component sits
//! behind.
//!
//! Parsing is two stages, as for scenarios: the TOML text becomes the file as typed
//! (unknown keys refused, values keep their byte spans), which is validated into a
//! [`Plan`]. Every problem is reported as a [`Diagnostic`] with the file, line and column
//! and a help line, rendered like a scenario error.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use crate::toml_diagnostics::{Diagnostic, Problem, backticked, check_name, check_text};
use crate::units::HumanDuration;

/// The migration's phases are numbered 1 to 4.
pub const PHASES: std::ops::RangeInclusive<u8> = 1..=4;

/// How long a rollback hook may run before it is killed, unless the plan says otherwise.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// A ROLLBACK this bad stands at once, without a confirming re-run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalThresholds {
    /// A candidate error rate above this (0..1) on any step is critical.
    pub error_rate: f64,
    /// A candidate/base ratio of the highest latency quantile judged above this is critical.
    pub latency_ratio: f64,
}

impl Default for CriticalThresholds {
    fn default() -> Self {
        Self {
            error_rate: 0.5,
            latency_ratio: 5.0,
        }
    }
}

/// A validated phase plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The plan file, as given.
    pub file: PathBuf,
    /// The baselines folder (`baselines/<scenario>/<path>.json`).
    pub baselines: PathBuf,
    /// Re-runs that must also say ROLLBACK before a non-critical ROLLBACK stands.
    pub confirm_rollback: u32,
    /// What makes a ROLLBACK critical (it stands at once).
    pub critical: CriticalThresholds,
    /// How long a hook may run.
    pub hook_timeout: Duration,
    /// Component (a scenario's `component`) → feature flag, plan-wide.
    pub flags: BTreeMap<String, String>,
    /// The phases, in file order.
    pub phases: Vec<Phase>,
}

/// One migration phase of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// 1 to 4.
    pub number: u8,
    /// For people: "Foundation and critical components".
    pub name: String,
    /// Scenario files, resolved against the repository root.
    pub scenarios: Vec<PathBuf>,
    /// Replaces every scenario policy's `go_ratio` (1.10 = equivalent, 1.00 = improved).
    pub go_ratio: Option<f64>,
    /// What to do on ROLLBACK, from the migration plan's rollback procedure.
    pub rollback_action: String,
    /// A command run (with `sh -c`) only when the phase decides ROLLBACK.
    pub hook: Option<String>,
    /// Component → flag entries that replace the plan-wide ones for this phase.
    pub flags: BTreeMap<String, String>,
}

impl Plan {
    /// The phase numbered `number`.
    pub fn phase(&self, number: u8) -> Option<&Phase> {
        self.phases.iter().find(|p| p.number == number)
    }

    /// The component → flag map in force for `phase`: the plan's, overridden by the phase's.
    pub fn flags_for(&self, phase: &Phase) -> BTreeMap<String, String> {
        let mut flags = self.flags.clone();
        flags.extend(phase.flags.iter().map(|(k, v)| (k.clone(), v.clone())));
        flags
    }

    /// The phase numbers, for messages: `1, 2, 3, 4`.
    pub fn numbers(&self) -> String {
        self.phases
            .iter()
            .map(|p| p.number.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A phase plan that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file could not be read.
    #[error(
        "cannot read the phase plan {}: {error}; pass the plan with --plan FILE (default ci/phases.toml, relative to the repository root)",
        file.display()
    )]
    Io {
        /// The file, as given.
        file: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file was read but is not a valid plan.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// The file as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    baselines: Option<Spanned<String>>,
    confirm_rollback: Option<Spanned<i64>>,
    critical: Option<Spanned<CriticalThresholds>>,
    hook_timeout: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    flags: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    phase: Vec<Spanned<RawPhase>>,
}

/// One `[[phase]]` as typed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    number: Spanned<i64>,
    name: Spanned<String>,
    scenarios: Vec<Spanned<String>>,
    go_ratio: Option<Spanned<f64>>,
    rollback_action: Spanned<String>,
    hook: Option<Spanned<String>>,
    #[serde(default)]
    flags: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Reads and validates the plan at `file`; scenario paths and the baselines folder are
/// resolved against `root` (the repository root; an empty path means the current folder).
pub fn load(file: &Path, root: &Path) -> Result<Plan, PlanError> {
    let text =
        crate::input::read_text(file, crate::input::PLAN).map_err(|error| PlanError::Io {
            file: file.to_path_buf(),
            error,
        })?;
    parse_str(&text, file, root)
}

/// Parses and validates plan `text` (from `file`, for messages).
pub fn parse_str(text: &str, file: &Path, root: &Path) -> Result<Plan, PlanError> {
    let fail = |p: Problem| PlanError::Invalid(Box::new(Diagnostic::locate(file, text, p)));
    let raw: RawPlan = toml::from_str(text).map_err(|e| fail(toml_problem(&e)))?;
    validate(raw, file, root).map_err(fail)
}

fn validate(raw: RawPlan, file: &Path, root: &Path) -> Result<Plan, Problem> {
    let confirm_rollback = match raw.confirm_rollback {
        None => 1,
        Some(n) => u32::try_from(*n.get_ref())
            .ok()
            .filter(|n| *n <= 10)
            .ok_or_else(|| {
                Problem::new(
                    n.span(),
                    format!("confirm_rollback must lie in 0..=10, got {}", n.get_ref()),
                    "write how many re-runs must also say ROLLBACK, e.g. `confirm_rollback = 1` (0: a ROLLBACK stands at once)",
                )
            })?,
    };
    let critical = match raw.critical {
        None => CriticalThresholds::default(),
        Some(c) => {
            let t = *c.get_ref();
            if !(t.error_rate > 0.0 && t.error_rate <= 1.0) {
                return Err(Problem::new(
                    c.span(),
                    format!("critical.error_rate must lie in 0..1, got {}", t.error_rate),
                    "write a share of failed requests, e.g. `critical = { error_rate = 0.5, latency_ratio = 5.0 }`",
                ));
            }
            if !(t.latency_ratio.is_finite() && t.latency_ratio > 1.0) {
                return Err(Problem::new(
                    c.span(),
                    format!(
                        "critical.latency_ratio must be greater than 1, got {}",
                        t.latency_ratio
                    ),
                    "write a candidate/base ratio, e.g. `critical = { error_rate = 0.5, latency_ratio = 5.0 }`",
                ));
            }
            t
        }
    };
    let hook_timeout = match raw.hook_timeout {
        None => DEFAULT_HOOK_TIMEOUT,
        Some(t) if t.get_ref().get().is_zero() => {
            return Err(Problem::new(
                t.span(),
                "hook_timeout must be longer than zero",
                "write it like `hook_timeout = \"5m\"`",
            ));
        }
        Some(t) => t.get_ref().get(),
    };
    let baselines = match raw.baselines {
        None => root.join("baselines"),
        Some(b) if b.get_ref().trim().is_empty() => {
            return Err(Problem::new(
                b.span(),
                "baselines cannot be empty",
                "name the baselines folder, e.g. `baselines = \"baselines\"`",
            ));
        }
        Some(b) => {
            check_name(b.get_ref(), b.span(), "the baselines folder")?;
            root.join(b.get_ref())
        }
    };
    let flags = flag_map(raw.flags)?;
    if raw.phase.is_empty() {
        return Err(Problem::new(
            0..0,
            "the plan has no phases",
            "add a phase, e.g.\n[[phase]]\nnumber = 1\nname = \"Foundation and critical components\"\nscenarios = [\"scenarios/demo.toml\"]\nrollback_action = \"Switch the flags back\"",
        ));
    }
    let mut phases = Vec::new();
    for raw_phase in raw.phase {
        phases.push(validate_phase(raw_phase.into_inner(), root)?);
    }
    Ok(Plan {
        file: file.to_path_buf(),
        baselines,
        confirm_rollback,
        critical,
        hook_timeout,
        flags,
        phases: dedup_numbers(phases)?,
    })
}

/// Refuses a phase number given twice (reported at the second one).
fn dedup_numbers(phases: Vec<(Phase, Range<usize>)>) -> Result<Vec<Phase>, Problem> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (phase, span) in phases {
        if !seen.insert(phase.number) {
            return Err(Problem::new(
                span,
                format!("phase {} is defined twice", phase.number),
                "give each [[phase]] its own number from 1 to 4",
            ));
        }
        out.push(phase);
    }
    Ok(out)
}

fn validate_phase(raw: RawPhase, root: &Path) -> Result<(Phase, Range<usize>), Problem> {
    let number_span = raw.number.span();
    let number = u8::try_from(*raw.number.get_ref())
        .ok()
        .filter(|n| PHASES.contains(n))
        .ok_or_else(|| {
            Problem::new(
                number_span.clone(),
                format!(
                    "phase number {} is not a phase of the migration",
                    raw.number.get_ref()
                ),
                "the migration has phases 1 to 4, e.g. `number = 1`",
            )
        })?;
    check_name(raw.name.get_ref(), raw.name.span(), "the phase name")?;
    let name = non_empty(
        raw.name,
        "name",
        "name = \"Foundation and critical components\"",
    )?;
    check_text(
        raw.rollback_action.get_ref(),
        raw.rollback_action.span(),
        "rollback_action",
    )?;
    let rollback_action = non_empty(
        raw.rollback_action,
        "rollback_action",
        "rollback_action = \"Switch back to the previous orchestration engine using feature flags\"",
    )?;
    if let Some(h) = &raw.hook {
        check_text(h.get_ref(), h.span(), "the hook")?;
    }
    let hook = raw
        .hook
        .map(|h| non_empty(h, "hook", "hook = \"ci/rollback.sh\""))
        .transpose()?;
    let go_ratio = match raw.go_ratio {
        None => None,
        Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
            return Err(Problem::new(
                r.span(),
                format!("go_ratio must be a positive number, got {}", r.get_ref()),
                "write the ratio GO must be proven within, e.g. `go_ratio = 1.10` (equivalent) or `go_ratio = 1.00` (improved)",
            ));
        }
        Some(r) => Some(*r.get_ref()),
    };
    let mut scenarios: Vec<PathBuf> = Vec::new();
    for entry in raw.scenarios {
        let written = entry.get_ref();
        check_name(written, entry.span(), "the scenario path")?;
        let file = root.join(written);
        if scenarios.contains(&file) {
            return Err(Problem::new(
                entry.span(),
                format!("`{written}` is listed twice in phase {number}"),
                "list each scenario once",
            ));
        }
        if !file.is_file() {
            return Err(Problem::new(
                entry.span(),
                if file == Path::new(written) {
                    format!("scenario `{written}` does not exist")
                } else {
                    format!("scenario `{written}` does not exist ({})", file.display())
                },
                "scenario paths are relative to the repository root (the folder `harness gate` runs in), e.g. `\"scenarios/demo.toml\"`",
            ));
        }
        scenarios.push(file);
    }
    let flags = flag_map(raw.flags)?;
    Ok((
        Phase {
            number,
            name,
            scenarios,
            go_ratio,
            rollback_action,
            hook,
            flags,
        },
        number_span,
    ))
}

/// A string that must say something.
fn non_empty(value: Spanned<String>, key: &str, example: &str) -> Result<String, Problem> {
    if value.get_ref().trim().is_empty() {
        return Err(Problem::new(
            value.span(),
            format!("{key} cannot be empty"),
            format!("write it like `{example}`"),
        ));
    }
    Ok(value.into_inner())
}

/// Component → flag entries; a flag is an environment-variable-like name, so a CI job can
/// export it as is.
fn flag_map(
    raw: BTreeMap<Spanned<String>, Spanned<String>>,
) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    for (component, flag) in raw {
        check_name(component.get_ref(), component.span(), "the component")?;
        let name = flag.get_ref();
        let well_formed = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(Problem::new(
                flag.span(),
                format!("`{name}` is not a feature flag name"),
                format!(
                    "write the flag that switches `{}` to Dagger, e.g. `workflow_engine = \"USE_DAGGER_WORKFLOW_ENGINE\"`",
                    component.get_ref()
                ),
            ));
        }
        out.insert(component.into_inner(), flag.into_inner());
    }
    Ok(out)
}

/// Keys allowed in each table, for "did you mean" help.
const TOP_KEYS: &str =
    "`baselines`, `confirm_rollback`, `critical`, `hook_timeout`, `flags`, `phase`";

/// Message and help for a TOML or serde error.
fn toml_problem(error: &toml::de::Error) -> Problem {
    crate::toml_diagnostics::toml_problem(error, |raw, _| explain(raw))
}

/// Message and help for a raw TOML or serde message, in the words of the plan format.
fn explain(raw: &str) -> (String, String) {
    let ticked = backticked(raw);
    if let Some(rest) = raw.strip_prefix("unknown field ") {
        let key = ticked.first().copied().unwrap_or(rest);
        let allowed = ticked.get(1..).unwrap_or_default();
        let help = if allowed.is_empty() {
            format!("remove it; keys allowed at the top: {TOP_KEYS}")
        } else {
            let list: Vec<String> = allowed.iter().map(|k| format!("`{k}`")).collect();
            format!(
                "remove it or use one of the keys allowed here: {}",
                list.join(", ")
            )
        };
        return (format!("unknown key `{key}`"), help);
    }
    if raw.starts_with("missing field ") {
        let key = ticked.first().copied().unwrap_or("?");
        let example = match key {
            "number" => "number = 1",
            "name" => "name = \"Foundation and critical components\"",
            "scenarios" => "scenarios = [\"scenarios/demo.toml\"]",
            "rollback_action" => "rollback_action = \"Switch the flags back and restart\"",
            "error_rate" => "critical = { error_rate = 0.5, latency_ratio = 5.0 }",
            "latency_ratio" => "critical = { error_rate = 0.5, latency_ratio = 5.0 }",
            _ => "see ci/README.md for the plan format",
        };
        return (format!("missing `{key}`"), format!("add `{example}`"));
    }
    (
        raw.to_string(),
        "fix the TOML here (see ci/README.md for the plan format): strings need quotes, phases are `[[phase]]` tables".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository root with two scenario files.
    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("scenarios")).expect("mkdir");
        for name in ["a", "b"] {
            std::fs::write(dir.path().join(format!("scenarios/{name}.toml")), "").expect("write");
        }
        dir
    }

    const GOOD: &str = r#"baselines = "baselines"
confirm_rollback = 1
critical = { error_rate = 0.5, latency_ratio = 5.0 }

[flags]
workflow_engine = "USE_DAGGER_WORKFLOW_ENGINE"
task_manager = "USE_DAGGER_TASK_MANAGER"

[[phase]]
number = 1
name = "Foundation"
scenarios = ["scenarios/a.toml", "scenarios/b.toml"]
go_ratio = 1.10
rollback_action = "Revert"
hook = "echo rollback"

[[phase]]
number = 4
name = "Complete"
scenarios = ["scenarios/a.toml"]
go_ratio = 1.00
rollback_action = "Reactivate legacy"
flags = { task_manager = "USE_LEGACY_OFF" }
"#;

    fn parse(text: &str, root: &Path) -> Result<Plan, PlanError> {
        parse_str(text, Path::new("ci/phases.toml"), root)
    }

    /// The rendered error, `file:line:column: message` first.
    fn error(text: &str, root: &Path) -> String {
        match parse(text, root) {
            Ok(plan) => panic!("expected an error, got {plan:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_good_plan_parses_with_overrides() {
        let dir = root();
        let plan = parse(GOOD, dir.path()).expect("valid");
        assert_eq!(plan.phases.len(), 2);
        assert_eq!(plan.confirm_rollback, 1);
        assert_eq!(plan.critical, CriticalThresholds::default());
        assert_eq!(plan.hook_timeout, DEFAULT_HOOK_TIMEOUT);
        let one = plan.phase(1).expect("phase 1");
        assert_eq!(one.scenarios[1], dir.path().join("scenarios/b.toml"));
        assert_eq!(one.hook.as_deref(), Some("echo rollback"));
        let four = plan.phase(4).expect("phase 4");
        assert_eq!(four.go_ratio, Some(1.0));
        let flags = plan.flags_for(four);
        assert_eq!(flags["task_manager"], "USE_LEGACY_OFF");
        assert_eq!(flags["workflow_engine"], "USE_DAGGER_WORKFLOW_ENGINE");
        assert_eq!(
            plan.flags_for(one)["task_manager"],
            "USE_DAGGER_TASK_MANAGER"
        );
        assert_eq!(plan.baselines, dir.path().join("baselines"));
    }

    #[test]
    fn an_unknown_key_is_located_and_explained() {
        let dir = root();
        let text = GOOD.replace("go_ratio = 1.10", "go_ration = 1.10");
        let e = error(&text, dir.path());
        assert!(
            e.starts_with("ci/phases.toml:13:1: unknown key `go_ration`"),
            "{e}"
        );
        assert!(
            e.contains("help: remove it or use one of the keys allowed here"),
            "{e}"
        );
        assert!(e.contains("`go_ratio`"), "{e}");
        let e = error(&format!("confirm = 2\n{GOOD}"), dir.path());
        assert!(
            e.starts_with("ci/phases.toml:1:1: unknown key `confirm`"),
            "{e}"
        );
    }

    #[test]
    fn names_must_print_and_free_text_may_break_lines() {
        let dir = root();
        let e = error(
            &GOOD.replace("name = \"Foundation\"", "name = \"Found\\u001bation\""),
            dir.path(),
        );
        assert!(
            e.starts_with(
                "ci/phases.toml:11:8: the phase name `Found\\u{1b}ation` holds a character"
            ),
            "{e}"
        );
        let e = error(
            &GOOD.replace("workflow_engine = \"USE", "\"work\\u202eflow\" = \"USE"),
            dir.path(),
        );
        assert!(e.starts_with("ci/phases.toml:6:1: the component"), "{e}");
        let text = GOOD.replace(
            "rollback_action = \"Revert\"",
            "rollback_action = \"\"\"Revert:\n\tswitch the flags back\"\"\"",
        );
        let plan = parse(&text, dir.path()).expect("line breaks and tabs are fine");
        assert!(plan.phases[0].rollback_action.contains('\n'));
        let e = error(
            &GOOD.replace(
                "rollback_action = \"Revert\"",
                "rollback_action = \"Re\\rvert\"",
            ),
            dir.path(),
        );
        assert!(
            e.contains("rollback_action holds a character that does not print"),
            "{e}"
        );
    }

    #[test]
    fn phase_numbers_are_one_to_four_and_unique() {
        let dir = root();
        let e = error(&GOOD.replace("number = 4", "number = 5"), dir.path());
        assert!(e.starts_with("ci/phases.toml:18:10: phase number 5"), "{e}");
        assert!(e.contains("phases 1 to 4"), "{e}");
        let e = error(&GOOD.replace("number = 4", "number = 1"), dir.path());
        assert!(
            e.starts_with("ci/phases.toml:18:10: phase 1 is defined twice"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_scenario_is_pointed_at() {
        let dir = root();
        let e = error(
            &GOOD.replace("scenarios/b.toml", "scenarios/c.toml"),
            dir.path(),
        );
        assert!(
            e.starts_with("ci/phases.toml:12:34: scenario `scenarios/c.toml` does not exist"),
            "{e}"
        );
        assert!(e.contains("relative to the repository root"), "{e}");
        assert!(
            e.contains("^^^^^^^^^^^^^^^^^^"),
            "the caret covers the string: {e}"
        );
        let e = error(
            &GOOD.replace("scenarios/b.toml", "scenarios/a.toml"),
            dir.path(),
        );
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn bad_values_say_how_to_fix_them() {
        let dir = root();
        let e = error(
            &GOOD.replace("confirm_rollback = 1", "confirm_rollback = -1"),
            dir.path(),
        );
        assert!(
            e.starts_with("ci/phases.toml:2:20: confirm_rollback must lie in 0..=10"),
            "{e}"
        );
        let e = error(
            &GOOD.replace("error_rate = 0.5", "error_rate = 2"),
            dir.path(),
        );
        assert!(e.contains("critical.error_rate"), "{e}");
        let e = error(
            &GOOD.replace("\"USE_DAGGER_TASK_MANAGER\"", "\"use dagger\""),
            dir.path(),
        );
        assert!(
            e.starts_with("ci/phases.toml:7:16: `use dagger` is not a feature flag name"),
            "{e}"
        );
        let e = error(&GOOD.replace("go_ratio = 1.00", "go_ratio = 0"), dir.path());
        assert!(e.contains("go_ratio must be a positive number"), "{e}");
        let e = error(
            &GOOD.replace("rollback_action = \"Revert\"\n", ""),
            dir.path(),
        );
        assert!(e.contains("missing `rollback_action`"), "{e}");
        assert!(e.contains("help: add `rollback_action = "), "{e}");
        let e = error("baselines = \"b\"\n", dir.path());
        assert!(e.contains("the plan has no phases"), "{e}");
        let e = error("[[phase]\n", dir.path());
        assert!(e.starts_with("ci/phases.toml:1:"), "{e}");
    }

    #[test]
    fn the_repository_plan_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let file = root.join("ci/phases.toml");
        let plan = load(&file, &root).unwrap_or_else(|e| panic!("{e}"));
        let numbers: Vec<u8> = plan.phases.iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4]);
        for phase in &plan.phases {
            let expected = if phase.number == 4 { 1.00 } else { 1.10 };
            assert_eq!(phase.go_ratio, Some(expected), "phase {}", phase.number);
            assert!(
                phase
                    .scenarios
                    .iter()
                    .any(|s| s.ends_with("chaos-dependency-outage.toml")),
                "the circuit-breaker scenario gates phase {}",
                phase.number
            );
        }
        assert_eq!(plan.flags["mcp_server"], "USE_DAGGER_MCP_SERVER");
    }
}
