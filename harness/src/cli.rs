//! Command-line definitions (clap derive) and nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success (run finished; later: GO)
  1    runtime error
  2    bad input or usage (invalid scenario, missing file, bad flag)
  3    NO-GO
  4    ROLLBACK
  5    INCONCLUSIVE (the comparison is not valid)
  130  interrupted (Ctrl-C); what was measured is kept, marked incomplete";

/// harness: load-test the legacy and the Dagger path of a service, inject faults, and
/// decide GO / NO-GO / ROLLBACK.
#[derive(Debug, Parser)]
#[command(name = "harness", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: every path (or those given) for every repetition, writing run records.
    Run(RunArgs),
    /// Check a scenario file without running anything; prints its hash.
    Validate(ValidateArgs),
    /// The embedded reference platform.
    Reference {
        /// What to do with it.
        #[command(subcommand)]
        command: ReferenceCommand,
    },
}

/// Arguments of `harness run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Only this path (repeatable); default: every path of the scenario.
    #[arg(long = "path", value_name = "P")]
    pub paths: Vec<String>,
    /// Repetitions per path (overrides the scenario's `load.repetitions`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repetitions: Option<u32>,
    /// Seed (overrides the scenario's `seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Folder for the run records (default: reports/<scenario>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `harness validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
}

/// `harness reference ...`
#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Serve the reference platform until Ctrl-C and print its URLs.
    Serve {
        /// Address of the service (the executor dependency always binds 127.0.0.1).
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: SocketAddr,
        /// Take the `[reference]` settings and seed from this scenario.
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<PathBuf>,
    },
}
