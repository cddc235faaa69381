//! `harness gate --phase N`: validates the phase plan and every scenario of the phase
//! before anything runs, judges each scenario live against its stored baseline (through
//! the same pipeline as `harness compare SCENARIO --baseline FILE`) or from saved
//! results, and prints the gate's table; the decision maps to the exit code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::baseline::baseline_error;
use super::compare::{LiveOptions, decide_live, exit_of, write_report};
use super::default_out;
use crate::baseline::{Baseline, baseline_file};
use crate::cli::GateArgs;
use crate::compare::Verdict;
use crate::exit::{AppError, ExitStatus};
use crate::gate::hook::HookMode;
use crate::gate::report::render_table;
use crate::gate::{
    GateRun, HookReport, Judge, Judgement, Phase, Plan, PlanError, SavedResults, run_gate,
};
use crate::report::Format;
use crate::scenario::{self, Scenario};

/// The per-scenario report formats: the files only; the gate prints its own table.
const FILES: [Format; 4] = [Format::Json, Format::Markdown, Format::Junit, Format::Html];

pub(super) fn gate_command(args: GateArgs) -> Result<ExitStatus, AppError> {
    // Paths in the plan are relative to the folder the gate runs in (the repository root).
    let plan = crate::gate::plan::load(&args.plan, Path::new("")).map_err(plan_error)?;
    let phase = plan.phase(args.phase).ok_or_else(|| {
        AppError::Usage(format!(
            "{} has no phase {}; its phases are {}",
            plan.file.display(),
            args.phase,
            plan.numbers()
        ))
    })?;
    if let Some(dir) = &args.from
        && !dir.is_dir()
    {
        return Err(AppError::Usage(format!(
            "--from {}: no such folder; give the folder that holds <scenario>/result.json",
            dir.display()
        )));
    }
    let (scenarios, stale) = load_scenarios(&plan, phase, args.from.is_none())?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&format!("phase-{}", phase.number)));
    std::fs::create_dir_all(&out).map_err(|e| {
        AppError::Usage(format!(
            "cannot create the report folder {}: {e}; choose another --out",
            out.display()
        ))
    })?;
    let run = GateRun {
        plan: &plan,
        phase,
        out: &out,
        hook_mode: if args.dry_run {
            HookMode::DryRun
        } else {
            HookMode::Run
        },
        source: args.from.as_ref().map_or_else(
            || "live".to_string(),
            |d| format!("saved results in {}", d.display()),
        ),
        command: std::iter::once("harness".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    };
    eprintln!(
        "gate: phase {} ({}): {} scenario(s); report in {}",
        phase.number,
        phase.name,
        scenarios.len(),
        out.display()
    );
    let result = match &args.from {
        Some(dir) => run_gate(&run, &scenarios, &mut SavedResults::new(dir, &out))?,
        None => {
            let mut judge = LiveJudge {
                baselines: &plan.baselines,
                out: &out,
                quiet: args.quiet,
                total: scenarios.len(),
                done: 0,
                stale,
            };
            run_gate(&run, &scenarios, &mut judge)?
        }
    };
    print!("{}", render_table(&result));
    match &result.hook {
        Some(HookReport::DryRun { argv, env, .. }) => {
            let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            eprintln!(
                "dry run: would run {:?} with {}; nothing was run",
                argv,
                env.join(" ")
            );
        }
        Some(hook @ HookReport::Ran { success: false, .. })
        | Some(hook @ HookReport::FailedToStart { .. }) => {
            eprintln!("warning: {} (see gate.json)", hook.describe());
        }
        _ => {}
    }
    eprintln!("gate report: {}", out.display());
    Ok(exit_of(result.decision))
}

fn plan_error(e: PlanError) -> AppError {
    match e {
        PlanError::Io { .. } => AppError::Usage(e.to_string()),
        // The diagnostic renders like a scenario error: `error: file:line:col: ...`.
        PlanError::Invalid(d) => AppError::Usage(d.to_string()),
    }
}

/// Loads and checks every scenario of `phase` before anything runs, with the phase's
/// go ratio applied; in a live gate, the stored baselines that exist must load too.
/// Returns the scenarios, and why a baseline does not fit its scenario (by name).
fn load_scenarios(
    plan: &Plan,
    phase: &Phase,
    live: bool,
) -> Result<(Vec<Scenario>, BTreeMap<String, String>), AppError> {
    let flags = plan.flags_for(phase);
    let mut names = BTreeSet::new();
    let mut stale = BTreeMap::new();
    let mut out = Vec::new();
    for file in &phase.scenarios {
        let mut s = scenario::load(file)?;
        if s.candidate.is_none() {
            return Err(AppError::Usage(format!(
                "{}: the scenario has no candidate path, so it cannot gate a phase; add [paths.dagger] or set `candidate = \"...\"`",
                file.display()
            )));
        }
        if !names.insert(s.name.clone()) {
            return Err(AppError::Usage(format!(
                "{}: phase {} has two scenarios named `{}`; their reports would collide, rename one",
                plan.file.display(),
                phase.number,
                s.name
            )));
        }
        if let Some(component) = &s.component
            && !flags.contains_key(component)
        {
            return Err(AppError::Usage(format!(
                "{}: component `{component}` of {} has no feature flag, so a rollback could not name it; add `{component} = \"USE_DAGGER_...\"` to [flags]",
                plan.file.display(),
                file.display()
            )));
        }
        if let Some(ratio) = phase.go_ratio {
            s.policy.go_ratio = ratio;
            s.policy.validate().map_err(|e| {
                AppError::Usage(format!(
                    "{}: phase {}'s go_ratio {ratio} does not fit the [policy] of {}: {e}; change one of them",
                    plan.file.display(),
                    phase.number,
                    file.display()
                ))
            })?;
        }
        if !s.phases.is_empty() && !s.phases.contains(&phase.number) {
            eprintln!(
                "warning: {} lists phases {:?}, not {}; the plan gates it in phase {} anyway",
                file.display(),
                s.phases,
                phase.number,
                phase.number
            );
        }
        if live {
            let stored = baseline_file(&plan.baselines, &s.name, &s.base);
            if stored.is_file() {
                let b = Baseline::load(&stored).map_err(baseline_error)?;
                // Known now, so the scenario is not run only to be found INCONCLUSIVE.
                if b.scenario.hash != s.hash {
                    stale.insert(
                        s.name.clone(),
                        format!(
                            "{} was saved from another version of {} (scenario hash {} ≠ {}); save a new one with `harness baseline save --force`",
                            stored.display(),
                            file.display(),
                            b.scenario.hash.get(..12).unwrap_or(&b.scenario.hash),
                            s.hash.get(..12).unwrap_or(&s.hash)
                        ),
                    );
                }
            }
        }
        out.push(s);
    }
    Ok((out, stale))
}

/// Judges a scenario live: the candidate against the stored baseline of the base path,
/// the base path run live beside it to check drift.
struct LiveJudge<'a> {
    baselines: &'a Path,
    out: &'a Path,
    quiet: bool,
    total: usize,
    done: usize,
    /// Why a scenario's baseline does not fit it, by scenario name.
    stale: BTreeMap<String, String>,
}

impl Judge for LiveJudge<'_> {
    fn judge(&mut self, scenario: &Scenario, attempt: u32) -> Result<Judgement, AppError> {
        let stored = baseline_file(self.baselines, &scenario.name, &scenario.base);
        if attempt == 0 {
            self.done += 1;
        }
        if let Some(why) = self.stale.get(&scenario.name) {
            eprintln!(
                "gate: [{}/{}] {}: stale baseline, INCONCLUSIVE",
                self.done, self.total, scenario.name
            );
            return Ok(Judgement::without_compare(
                Verdict::Inconclusive,
                why.clone(),
            ));
        }
        if !stored.is_file() {
            eprintln!(
                "gate: [{}/{}] {}: no stored baseline, INCONCLUSIVE",
                self.done, self.total, scenario.name
            );
            return Ok(Judgement::without_compare(
                Verdict::Inconclusive,
                format!(
                    "no stored baseline at {}; save one with `harness baseline save`",
                    stored.display()
                ),
            ));
        }
        let dir: PathBuf = match attempt {
            0 => self.out.join(&scenario.name),
            k => self.out.join(&scenario.name).join(format!("confirm-{k}")),
        };
        if attempt == 0 {
            eprintln!(
                "gate: [{}/{}] {} against {}",
                self.done,
                self.total,
                scenario.name,
                stored.display()
            );
        } else {
            eprintln!(
                "gate: {} said ROLLBACK; re-run {attempt} to confirm it",
                scenario.name
            );
        }
        let options = LiveOptions {
            repetitions: None,
            seed: None,
            quiet: self.quiet,
            formats: &FILES,
        };
        let decided = decide_live(scenario, Some(&stored), &dir, &options)?;
        let (doc, reports) = decided.into_report();
        write_report(&doc, &reports)?;
        Ok(Judgement::of(doc.comparison, Some(dir)))
    }

    fn can_rerun(&self) -> bool {
        true
    }
}
