//! The library pipeline called in process, as the binary calls it: a scenario loaded,
//! run or decided, the report folder written. Tests that need a decision (not the exit
//! code or the terminal wording) use these instead of the binary.

use std::path::{Path, PathBuf};

use harness::baseline::Baseline;
use harness::load::StopSignal;
use harness::pipeline::compare::{LiveOptions, decide_live};
use harness::pipeline::run::run;
use harness::pipeline::{Controls, PipelineError};
use harness::policy::POLICY_VERSION;
use harness::record::RunRecord;
use harness::report::Format;
use harness::runner::RunPlan;
use harness::scenario::{self, Scenario};

/// The command line written into in-process reports.
const COMMAND: &str = "harness (in process)";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn load(file: &Path) -> Scenario {
    scenario::load(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `harness compare FILE [--baseline B] [--repetitions K] --out OUT`, in process: the
/// report folder is written; the verdict's exit code is the binary's business.
pub fn compare(
    file: &Path,
    out: &Path,
    baseline: Option<&Path>,
    repetitions: Option<u32>,
) -> Result<(), PipelineError> {
    let scenario = load(file);
    let options = LiveOptions {
        repetitions,
        seed: None,
        formats: &Format::ALL[1..],
    };
    let controls = Controls::silent(StopSignal::new());
    let decided = runtime().block_on(decide_live(&scenario, baseline, out, &options, &controls))?;
    let (doc, reports) = decided.into_report(COMMAND.to_string());
    reports.write(&doc).expect("report written");
    Ok(())
}

/// `harness run FILE --path PATH --out OUT`, in process: the records, also written
/// under `OUT/runs`.
pub fn run_path(file: &Path, path: &str, repetitions: Option<u32>, out: &Path) -> Vec<RunRecord> {
    let scenario = load(file);
    let mut plan = RunPlan::for_scenario(&scenario, out.to_path_buf());
    plan.paths = vec![path.to_string()];
    if let Some(k) = repetitions {
        plan.repetitions = k;
    }
    let controls = Controls::silent(StopSignal::new());
    let results = runtime()
        .block_on(run(&scenario, &plan, &controls))
        .expect("ran");
    results.into_iter().map(|r| r.record).collect()
}

/// Runs `path` of `file` and stores its runs as the baseline under `root`; returns the
/// baseline file.
pub fn save_baseline(file: &Path, path: &str, repetitions: u32, root: &Path) -> PathBuf {
    let out = root.join(format!("runs-{path}"));
    let records = run_path(file, path, Some(repetitions), &out);
    let sources = (1..=records.len())
        .map(|k| format!("{path}-r{k}.json"))
        .collect();
    Baseline::from_records(records, sources, POLICY_VERSION)
        .expect("a baseline")
        .save(root, false)
        .expect("saved")
}
