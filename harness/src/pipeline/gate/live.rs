//! A live gate: the phase's scenarios loaded and checked before anything runs, and the
//! judge that decides each one through the compare pipeline, against the stored
//! baseline of its base path with the base run live beside it for drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Judge, Judgement};
use crate::baseline::{Baseline, baseline_file};
use crate::compare::Verdict;
use crate::gate::{Phase, Plan};
use crate::pipeline::compare::{LiveOptions, decide_live};
use crate::pipeline::{Controls, PipelineError};
use crate::report::Format;
use crate::scenario::{self, Scenario};

/// The per-scenario report formats: the files only; the gate prints its own table.
const FILES: [Format; 4] = [Format::Json, Format::Markdown, Format::Junit, Format::Html];

/// Loads and checks every scenario of `phase` before anything runs, with the phase's
/// go ratio applied; in a `live` gate, the stored baselines that exist must load too.
/// Returns the scenarios, and why a baseline does not fit its scenario (by name).
pub fn load_scenarios(
    plan: &Plan,
    phase: &Phase,
    live: bool,
    controls: &Controls,
) -> Result<(Vec<Scenario>, BTreeMap<String, String>), PipelineError> {
    let flags = plan.flags_for(phase);
    let mut names = BTreeSet::new();
    let mut stale = BTreeMap::new();
    let mut out = Vec::new();
    for file in &phase.scenarios {
        let mut s = scenario::load(file)?;
        if s.candidate.is_none() {
            return Err(PipelineError::Input(format!(
                "{}: the scenario has no candidate path, so it cannot gate a phase; add [paths.dagger] or set `candidate = \"...\"`",
                file.display()
            )));
        }
        if !names.insert(s.name.clone()) {
            return Err(PipelineError::Input(format!(
                "{}: phase {} has two scenarios named `{}`; their reports would collide, rename one",
                plan.file.display(),
                phase.number,
                s.name
            )));
        }
        if let Some(component) = &s.component
            && !flags.contains_key(component)
        {
            return Err(PipelineError::Input(format!(
                "{}: component `{component}` of {} has no feature flag, so a rollback could not name it; add `{component} = \"USE_DAGGER_...\"` to [flags]",
                plan.file.display(),
                file.display()
            )));
        }
        if let Some(ratio) = phase.go_ratio {
            s.policy.go_ratio = ratio;
            s.policy.validate().map_err(|e| {
                PipelineError::Input(format!(
                    "{}: phase {}'s go_ratio {ratio} does not fit the [policy] of {}: {e}; change one of them",
                    plan.file.display(),
                    phase.number,
                    file.display()
                ))
            })?;
        }
        if !s.phases.is_empty() && !s.phases.contains(&phase.number) {
            controls.warn(&format!(
                "{} lists phases {:?}, not {}; the plan gates it in phase {} anyway",
                file.display(),
                s.phases,
                phase.number,
                phase.number
            ));
        }
        if live && let Some(why) = stale_baseline(plan, &s, file)? {
            stale.insert(s.name.clone(), why);
        }
        out.push(s);
    }
    Ok((out, stale))
}

/// Why the stored baseline of `s` was saved from another version of its file; known
/// before anything runs, so the scenario is not run only to be found INCONCLUSIVE.
fn stale_baseline(plan: &Plan, s: &Scenario, file: &Path) -> Result<Option<String>, PipelineError> {
    let stored = baseline_file(&plan.baselines, &s.name, &s.base);
    if !stored.is_file() {
        return Ok(None);
    }
    let b = Baseline::load(&stored)?;
    if b.scenario.hash == s.hash {
        return Ok(None);
    }
    Ok(Some(format!(
        "{} was saved from another version of {} (scenario hash {} ≠ {}); measure a new one with `harness baseline establish --plan {} --force` (or `harness baseline save --force`)",
        stored.display(),
        file.display(),
        b.scenario.hash.get(..12).unwrap_or(&b.scenario.hash),
        s.hash.get(..12).unwrap_or(&s.hash),
        plan.file.display()
    )))
}

/// Judges a scenario live: the candidate against the stored baseline of the base path,
/// the base path run live beside it to check drift; each compare's report folder is
/// written under the gate's.
#[derive(Debug)]
pub struct LiveJudge<'a> {
    /// The baselines folder.
    pub baselines: &'a Path,
    /// The plan file, for the messages that say how to establish baselines.
    pub plan_file: &'a Path,
    /// The gate's report folder.
    pub out: &'a Path,
    /// The command as typed, for each scenario's report.
    pub command: String,
    /// Progress and the stop signal.
    pub controls: &'a Controls,
    /// How many scenarios the phase has.
    pub total: usize,
    /// How many have started.
    pub done: usize,
    /// Why a scenario's baseline does not fit it, by scenario name.
    pub stale: BTreeMap<String, String>,
}

impl Judge for LiveJudge<'_> {
    async fn judge(
        &mut self,
        scenario: &Scenario,
        attempt: u32,
    ) -> Result<Judgement, PipelineError> {
        let stored = baseline_file(self.baselines, &scenario.name, &scenario.base);
        if attempt == 0 {
            self.done += 1;
        }
        let (done, total) = (self.done, self.total);
        if let Some(why) = self.stale.get(&scenario.name) {
            self.controls.note(&format!(
                "gate: [{done}/{total}] {}: stale baseline, INCONCLUSIVE",
                scenario.name
            ));
            return Ok(Judgement::without_compare(
                Verdict::Inconclusive,
                why.clone(),
            ));
        }
        if !stored.is_file() {
            self.controls.note(&format!(
                "gate: [{done}/{total}] {}: no stored baseline, INCONCLUSIVE",
                scenario.name
            ));
            return Ok(Judgement::without_compare(
                Verdict::Inconclusive,
                format!(
                    "no stored baseline at {}; establish the plan's baselines before the migration with `harness baseline establish --plan {}` (or save runs with `harness baseline save`)",
                    stored.display(),
                    self.plan_file.display()
                ),
            ));
        }
        let dir: PathBuf = match attempt {
            0 => self.out.join(&scenario.name),
            k => self.out.join(&scenario.name).join(format!("confirm-{k}")),
        };
        if attempt == 0 {
            self.controls.note(&format!(
                "gate: [{done}/{total}] {} against {}",
                scenario.name,
                stored.display()
            ));
        } else {
            self.controls.note(&format!(
                "gate: {} said ROLLBACK; re-run {attempt} to confirm it",
                scenario.name
            ));
        }
        let options = LiveOptions {
            repetitions: None,
            seed: None,
            formats: &FILES,
        };
        let decided = decide_live(scenario, Some(&stored), &dir, &options, self.controls).await?;
        let (doc, reports) = decided.into_report(self.command.clone());
        reports
            .write(&doc)
            .map_err(|e| PipelineError::Runtime(e.to_string()))?;
        Ok(Judgement::of(doc.comparison, Some(dir)))
    }

    fn can_rerun(&self) -> bool {
        true
    }
}
