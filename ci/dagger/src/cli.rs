//! What was typed: the command line of `dagger-gate`, before any validation.
//!
//! [`crate::plan::GatePlan::from_args`] turns it into checked, absolute, UTF-8 values.

use std::path::PathBuf;

/// `dagger-gate --phase N [--plan ci/phases.toml] [--source .] [--export reports] [--timeout 3600s]`
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "dagger-gate",
    version,
    about = "Run `harness gate --phase N` as a Dagger pipeline: build the harness in a container, run the gate, export its reports",
    after_help = "Exit codes: 0 GO, 3 NO-GO, 4 ROLLBACK, 5 INCONCLUSIVE (the gate's own), \
                  2 bad input, 1 error, 130 or 143 the gate interrupted (SIGINT, SIGTERM), \
                  69 no Dagger engine reachable."
)]
pub struct Args {
    /// The migration phase to gate (1 to 4, as `harness gate` accepts).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub phase: u8,
    /// The phase plan, relative to --source (it is read inside the container).
    #[arg(long, default_value = "ci/phases.toml")]
    pub plan: PathBuf,
    /// The repository to build and gate; target/, reports/ and .git/ are not uploaded.
    #[arg(long, default_value = ".")]
    pub source: PathBuf,
    /// Where the container's reports/ is exported to on the host.
    #[arg(long, default_value = "reports")]
    pub export: PathBuf,
    /// The most the whole pipeline (build, gate, export) may take.
    #[arg(long, default_value = "3600s")]
    pub timeout: humantime::Duration,
    /// The most opening an engine session may take.
    #[arg(long, default_value = "30s")]
    pub connect_timeout: humantime::Duration,
}
