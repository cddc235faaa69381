//! Verdicts read from saved compare results (`harness gate --from DIR`): for each
//! scenario, `DIR/<scenario>/result.json` or the newest `DIR/<scenario>/*/result.json`
//! (so both a gate's report folder and the `reports/` tree of `harness compare` work).
//!
//! A saved result is only taken when it still fits: the scenario file has not changed
//! since (same scenario hash), and a GO was judged at a go ratio no looser than the
//! phase's. Anything missing, unreadable or stale is INCONCLUSIVE with the reason. The
//! result's report files are copied into the gate's folder, so it stands on its own.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::{Judge, Judgement};
use crate::compare::{Comparison, Verdict};
use crate::pipeline::PipelineError;
use crate::report::RESULT_SCHEMA;
use crate::scenario::Scenario;

/// The report files copied from a saved result (the run records stay where they are).
const COPIED: [&str; 4] = ["result.json", "summary.md", "junit.xml", "report.html"];

/// The parts of a `harness-result/v1` document the gate reads.
#[derive(Debug, Deserialize)]
struct Saved {
    schema: String,
    #[serde(default)]
    generated_at: String,
    comparison: Comparison,
}

/// Judges scenarios from the saved results under a folder.
#[derive(Debug, Clone)]
pub struct SavedResults {
    dir: PathBuf,
    out: PathBuf,
}

impl SavedResults {
    /// Results under `dir`; report files are copied to `out/<scenario>/`.
    pub fn new(dir: &Path, out: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            out: out.to_path_buf(),
        }
    }
}

impl Judge for SavedResults {
    async fn judge(
        &mut self,
        scenario: &Scenario,
        _attempt: u32,
    ) -> Result<Judgement, PipelineError> {
        let folder = self.dir.join(&scenario.name);
        let inconclusive = |why: String| Ok(Judgement::without_compare(Verdict::Inconclusive, why));
        let (file, saved) = match newest(&folder) {
            Newest::None => {
                return inconclusive(format!(
                    "no saved result at {}/result.json (or {}/*/result.json); run `harness compare {}` into it, or gate live without --from",
                    folder.display(),
                    folder.display(),
                    scenario.source.display()
                ));
            }
            Newest::Unreadable(why) => return inconclusive(why),
            Newest::Found(file, saved) => (file, *saved),
        };
        let c = saved.comparison;
        if c.scenario.hash != scenario.hash {
            return inconclusive(format!(
                "{} was made from another version of {} (scenario hash {} ≠ {}); compare again with the current file",
                file.display(),
                scenario.source.display(),
                short(&c.scenario.hash),
                short(&scenario.hash)
            ));
        }
        let wanted = scenario.policy.go_ratio;
        if c.verdict == Verdict::Go && c.policy.go_ratio > wanted {
            return inconclusive(format!(
                "{} is GO at go_ratio {}, looser than this phase's {wanted}; gate live, or compare with `go_ratio = {wanted}` in the scenario's [policy]",
                file.display(),
                c.policy.go_ratio
            ));
        }
        let copy = self.out.join(&scenario.name);
        copy_report(&file, &copy)?;
        Ok(Judgement::of(c, Some(copy)))
    }

    fn can_rerun(&self) -> bool {
        false
    }
}

/// What the search for a saved result found.
enum Newest {
    None,
    Unreadable(String),
    Found(PathBuf, Box<Saved>),
}

/// How recent a saved result is: its `generated_at`, its file's modification time, its path.
type Recency = (String, Option<SystemTime>, PathBuf);

/// The newest readable result in `folder` (by `generated_at`, then path), or why none.
fn newest(folder: &Path) -> Newest {
    let mut candidates = vec![folder.join("result.json")];
    if let Ok(entries) = std::fs::read_dir(folder) {
        candidates.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("result.json")),
        );
    }
    // Newest by the time in the document (seconds), then by the file's modification
    // time (a re-run written within the same second), then by path.
    let mut best: Option<(Recency, Saved)> = None;
    let mut problem = None;
    for file in candidates.into_iter().filter(|f| f.is_file()) {
        match read(&file) {
            Ok(saved) => {
                let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
                let key = (saved.generated_at.clone(), modified, file);
                if best.as_ref().is_none_or(|(k, _)| key > *k) {
                    best = Some((key, saved));
                }
            }
            Err(why) => problem = problem.or(Some(why)),
        }
    }
    match (best, problem) {
        (Some(((_, _, file), saved)), _) => Newest::Found(file, Box::new(saved)),
        (None, Some(why)) => Newest::Unreadable(why),
        (None, None) => Newest::None,
    }
}

fn read(file: &Path) -> Result<Saved, String> {
    let bytes = crate::input::read(file, crate::input::RESULT)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} is not a result written by `harness compare` ({e}); compare again",
            file.display()
        )
    })?;
    if saved.schema != RESULT_SCHEMA {
        return Err(format!(
            "{} has schema `{}`, not `{RESULT_SCHEMA}`; compare again with this harness",
            file.display(),
            saved.schema
        ));
    }
    Ok(saved)
}

/// Copies the report files next to `result` into `to`.
fn copy_report(result: &Path, to: &Path) -> Result<(), PipelineError> {
    let from = result.parent().unwrap_or(Path::new("."));
    if from == to {
        return Ok(());
    }
    std::fs::create_dir_all(to)
        .map_err(|e| PipelineError::Runtime(format!("cannot create {}: {e}", to.display())))?;
    for name in COPIED {
        let source = from.join(name);
        if source.is_file() {
            std::fs::copy(&source, to.join(name)).map_err(|e| {
                PipelineError::Runtime(format!(
                    "cannot copy {} to {}: {e}",
                    source.display(),
                    to.display()
                ))
            })?;
        }
    }
    Ok(())
}

/// The first 12 hex digits of a hash, for messages.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Metric;
    use crate::gate::aggregate::tests::{rollback, row};
    use crate::pipeline::gate::tests::{block_on, scenario};

    /// Writes a result for `s` with `verdict`, judged at `go_ratio`, into `dir`.
    fn save(dir: &Path, s: &Scenario, verdict: Verdict, go_ratio: f64, at: &str, hash: &str) {
        let mut c = rollback(vec![row(Metric::ErrorRate, 0.0, 0.0, verdict)], vec![]);
        c.verdict = verdict;
        c.reason = format!("saved {verdict}");
        c.policy.go_ratio = go_ratio;
        c.scenario.name = s.name.clone();
        c.scenario.hash = hash.to_string();
        let doc = serde_json::json!({
            "schema": RESULT_SCHEMA,
            "generated_at": at,
            "comparison": c,
        });
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("result.json"), doc.to_string()).expect("write");
        std::fs::write(dir.join("summary.md"), "saved").expect("write");
    }

    fn judge(from: &Path, out: &Path, s: &Scenario) -> Judgement {
        block_on(SavedResults::new(from, out).judge(s, 0)).expect("judged")
    }

    #[test]
    fn the_newest_fitting_result_is_taken_and_copied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (from, out) = (dir.path().join("from"), dir.path().join("out"));
        let s = scenario();
        let folder = from.join(&s.name);
        let day = |d: u32| format!("2025-01-0{d}T00:00:00Z");
        save(&folder.join("a"), &s, Verdict::NoGo, 1.1, &day(2), &s.hash);
        save(&folder.join("b"), &s, Verdict::Go, 1.1, &day(3), &s.hash);
        save(&folder, &s, Verdict::Rollback, 1.1, &day(1), &s.hash);
        let j = judge(&from, &out, &s);
        assert_eq!(j.verdict, Verdict::Go, "{}", j.reason);
        assert_eq!(j.report.as_deref(), Some(out.join(&s.name).as_path()));
        assert!(out.join(&s.name).join("summary.md").is_file(), "copied");
        assert!(!SavedResults::new(&from, &out).can_rerun());
    }

    #[test]
    fn a_stale_or_looser_result_is_inconclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (from, out) = (dir.path().join("from"), dir.path().join("out"));
        let mut s = scenario();
        let at = "2025-01-01T00:00:00Z";
        save(
            &from.join(&s.name),
            &s,
            Verdict::Go,
            1.1,
            at,
            "0123456789abcdef",
        );
        let j = judge(&from, &out, &s);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.contains("another version"), "{}", j.reason);
        // Phase 4 asks for improvement: a GO at 1.10 does not count; a ROLLBACK does.
        save(&from.join(&s.name), &s, Verdict::Go, 1.1, at, &s.hash);
        s.policy.go_ratio = 1.0;
        let j = judge(&from, &out, &s);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.contains("looser"), "{}", j.reason);
        save(&from.join(&s.name), &s, Verdict::Rollback, 1.1, at, &s.hash);
        assert_eq!(judge(&from, &out, &s).verdict, Verdict::Rollback);
    }

    #[test]
    fn missing_and_unreadable_results_are_inconclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (from, out) = (dir.path().join("from"), dir.path().join("out"));
        let s = scenario();
        let j = judge(&from, &out, &s);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.contains("no saved result"), "{}", j.reason);
        std::fs::create_dir_all(from.join(&s.name)).expect("mkdir");
        std::fs::write(from.join(&s.name).join("result.json"), "{").expect("write");
        let j = judge(&from, &out, &s);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        assert!(j.reason.contains("not a result written by"), "{}", j.reason);
    }
}
