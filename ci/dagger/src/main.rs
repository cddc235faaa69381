//! `dagger-gate`: the harness phase gate as a Dagger pipeline.
//!
//! Parse, validate, describe the pipeline on stderr, run it, mirror the gate's exit code.
//! The gate's stdout is ours; everything else (the pipeline, engine output, errors) goes
//! to stderr. Exit codes: 0 GO, 3 NO-GO, 4 ROLLBACK, 5 INCONCLUSIVE, 1, 2, 130 and 143
//! from the gate as they are; 2 for a bad command line, 1 for a pipeline error, 69 when no
//! Dagger engine is reachable (see `harness_dagger_gate::exit`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use harness_dagger_gate::cli::Args;
use harness_dagger_gate::engine::EngineEnv;
use harness_dagger_gate::pipeline::{PipelineSpec, run_id_now};
use harness_dagger_gate::plan::GatePlan;
use harness_dagger_gate::{GateError, GateRun, exit, run};

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match GatePlan::from_args(&args) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("dagger-gate: {error}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let spec = PipelineSpec::for_gate(&plan, &run_id_now());
    eprintln!("dagger-gate: phase {} pipeline", plan.phase);
    for line in spec.to_string().lines() {
        eprintln!("  {line}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dagger-gate: cannot start the async runtime: {error}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let outcome = runtime.block_on(run(&plan, &spec, &EngineEnv::from_process()));
    // Aborted SDK tasks must not hold the exit.
    runtime.shutdown_background();
    ExitCode::from(present(plan.phase, outcome))
}

/// Prints the outcome and returns the exit code.
fn present(phase: u8, outcome: Result<GateRun, GateError>) -> u8 {
    let run = match outcome {
        Ok(run) => run,
        Err(error) => {
            eprintln!("dagger-gate: {error}");
            return error.exit_code();
        }
    };
    // A closed stdout (`dagger-gate ... | head`) is not a reason to lose the verdict.
    let _ = std::io::stdout().lock().write_all(run.stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(run.stderr.as_bytes());
    if let Some(failure) = &run.late_failure {
        eprintln!("dagger-gate: after the verdict: {failure}");
    }
    let exported = run
        .exported_to
        .as_deref()
        .map(|path| format!("; reports exported to {path}"))
        .unwrap_or_default();
    eprintln!(
        "dagger-gate: harness gate --phase {phase} exited {} ({}){exported}",
        run.gate_exit,
        exit::verdict_name(run.gate_exit)
    );
    run.exit_code()
}
