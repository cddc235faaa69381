//! Command-line definitions (clap derive) and nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    GO (or, for commands that do not decide, success)
  1    runtime error
  2    bad input or usage (invalid scenario, missing file, bad flag)
  3    NO-GO
  4    ROLLBACK
  5    INCONCLUSIVE (the comparison is not valid)
  130  interrupted by SIGINT (Ctrl-C); what was measured is kept, marked incomplete,
       and the reports are written with it (INCONCLUSIVE); a second signal exits at once
  143  interrupted by SIGTERM (CI runners, docker stop, Kubernetes); as 130";

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
    /// Compare the candidate path with the base path (live, or against a stored baseline,
    /// or offline from files) and decide GO / NO-GO / ROLLBACK.
    Compare(CompareArgs),
    /// Re-render a saved result.json in any format.
    Report(ReportArgs),
    /// Store, list and show baselines.
    Baseline {
        /// What to do.
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// A/A runs of one path: measure its between-run noise, store it in the baseline and
    /// report how often the policy would wrongly say NO-GO or ROLLBACK; or, with
    /// `--synthetic`, the policy's operating characteristics on seeded synthetic runs.
    Calibrate(CalibrateArgs),
    /// Gate a migration phase: every scenario of the phase against its stored baseline
    /// (or saved results) -> one GO / NO-GO / ROLLBACK / INCONCLUSIVE, a rollback signal
    /// for CI, and the plan's hook on ROLLBACK.
    Gate(GateArgs),
    /// Check a scenario file without running anything; prints its hash.
    Validate(ValidateArgs),
    /// Join the records of `harness run --segment I/N` (every segment of one run) into one
    /// record per path and repetition, as one machine would have made it.
    Merge(MergeArgs),
    /// Run fault proxies standalone (127.0.0.1 by default) with a JSON control API that speaks
    /// Toxiproxy's HTTP API (`--toxiproxy`: a drop-in Toxiproxy server on 127.0.0.1:8474).
    Proxy(ProxyArgs),
    /// The embedded reference platform.
    Reference {
        /// What to do with it.
        #[command(subcommand)]
        command: ReferenceCommand,
    },
}

/// Arguments of `harness run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every run finished, 130 interrupted (the records are kept, marked
  incomplete), 2 bad input, 1 runtime error. A run decides nothing, so a run whose
  generator could not keep up (below 98% of its target rate) still exits 0: it says
  `warning: <path> r<K>: the generator could not keep up: achieved X/s of Y/s (N dropped)`
  on standard error (also with --quiet) and in the summary; a compare of its records says
  it again, and is INCONCLUSIVE below the policy's min_achieved_rate."
)]
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
    /// Only the result (standard output) and errors: no progress bars, no notes. Warnings
    /// that bear on the result (the generator could not keep up, a target unreachable)
    /// are still said on standard error, one line each.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only segment I of N of the plan (0 ≤ I < N): open model, every N-th arrival of
    /// the seeded schedule; closed model, every N-th user. The N segments' records
    /// together are the whole plan; `harness merge` joins them.
    #[arg(long, value_name = "I/N", value_parser = parse_segment, conflicts_with = "segment_from_env", help_heading = "Segments (several machines)")]
    pub segment: Option<crate::load::Segment>,
    /// Read the segment index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) and
    /// the count from --segments.
    #[arg(
        long,
        requires = "segments",
        help_heading = "Segments (several machines)"
    )]
    pub segment_from_env: bool,
    /// The segment count for --segment-from-env.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000), help_heading = "Segments (several machines)")]
    pub segments: Option<u32>,
    /// Start the first run at this instant (RFC 3339 in UTC, e.g. 2026-12-03T10:00:00Z), and
    /// each later run of the plan a fixed slot after it, so that segments on several
    /// machines run together; a run that starts late says so and its record keeps the
    /// lateness.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant, help_heading = "Segments (several machines)")]
    pub start_at: Option<std::time::SystemTime>,
    /// Instead of a fixed --start-at: leave DIR/segment-<I>.ready in a folder every segment
    /// shares (fresh for each run), wait until all N segments' files are there, and start
    /// together 5 s after the last one was ready.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "start_at",
        help_heading = "Segments (several machines)"
    )]
    pub start_barrier: Option<PathBuf>,
    /// How long to wait at --start-barrier for the other segments before giving up (exit 1).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_wait, requires = "start_barrier", help_heading = "Segments (several machines)")]
    pub barrier_timeout: std::time::Duration,
    /// Exports of the results.
    #[command(flatten)]
    pub export: ExportArgs,
}

fn parse_segment(text: &str) -> Result<crate::load::Segment, String> {
    crate::load::Segment::parse(text)
}

fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    crate::units::HumanDuration::parse(text).map(crate::units::HumanDuration::get)
}

fn parse_instant(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339(text).map_err(|e| {
        format!("`{text}` is not an RFC 3339 instant in UTC ({e}); write e.g. 2026-12-03T10:00:00Z")
    })
}

/// Where a command's results are exported, besides its reports (`--export-*`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Export to monitoring")]
pub struct ExportArgs {
    /// Also write the results as Prometheus series (OpenMetrics text without timestamps)
    /// to FILE, atomically, for node_exporter's textfile collector (which reads
    /// `*.prom` files in its folder).
    #[arg(long, value_name = "FILE")]
    pub export_openmetrics: Option<PathBuf>,
    /// Also push the results to a Prometheus remote-write endpoint (http:// or https://,
    /// e.g. http://prometheus:9090/api/v1/write); a userinfo in the URL is sent as basic
    /// authentication, and the variable HARNESS_REMOTE_WRITE_AUTHORIZATION, when set, as
    /// the Authorization header instead. Messages show the URL without userinfo or query.
    #[arg(
        long,
        value_name = "URL",
        env = "HARNESS_REMOTE_WRITE_URL",
        hide_env_values = true
    )]
    pub export_remote_write: Option<String>,
    /// A failed export (a file not written, a push refused or unanswered after its
    /// retries) makes the command exit 1 where it would have exited 0. Without it, a
    /// failed export is a warning on standard error and the exit code is the result's.
    /// A verdict's or an interruption's exit code (3, 4, 5, 130, 143) is never replaced.
    #[arg(long)]
    pub export_required: bool,
}

/// Arguments of `harness merge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 merged, 2 refused (records of different runs, a segment missing or given
  twice, a file that is no run record; nothing is written), 1 a record could not be written."
)]
pub struct MergeArgs {
    /// The segments' --out folders (their runs/*.json are read), or record files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Folder for the merged records (`<DIR>/runs/<path>-r<K>.json`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
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

/// Arguments of `harness compare`.
#[derive(Debug, Args)]
#[command(after_help = "Modes:
  compare SCENARIO                                 base and candidate live, interleaved A B A B
  compare SCENARIO --baseline FILE                 candidate live against a stored baseline
                                                   (the base path also runs live, to check drift)
  compare --baseline FILE --candidate FILE...      offline, from run records or baselines

On GitHub Actions (GITHUB_ACTIONS=true): appends summary.md to the file named by
  $GITHUB_STEP_SUMMARY, and prints workflow commands on standard output (unless --json -):
  ::error for each ROLLBACK row, ::warning for each NO-GO row, an INCONCLUSIVE result
  and each warning.")]
pub struct CompareArgs {
    /// The scenario file (live modes).
    pub scenario: Option<PathBuf>,
    /// A stored baseline (or run records) to use as the base side.
    #[arg(long, value_name = "FILE")]
    pub baseline: Vec<PathBuf>,
    /// Run records (or a baseline) to use as the candidate side: offline mode.
    #[arg(long, value_name = "FILE")]
    pub candidate: Vec<PathBuf>,
    /// Take the `[policy]` of this scenario file (offline mode; default: the built-in policy).
    #[arg(long, value_name = "SCENARIO")]
    pub policy: Option<PathBuf>,
    /// Repetitions per path (overrides the scenario's `load.repetitions`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repetitions: Option<u32>,
    /// Seed (overrides the scenario's `seed`).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Folder for the run records and the result (default: reports/<scenario>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the result document (`harness-result/v1`) to this file (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Only the result (standard output) and errors: no progress bars, no notes. Warnings
    /// that bear on the result (the generator could not keep up, a target unreachable)
    /// are still said on standard error, one line each.
    #[arg(long, short)]
    pub quiet: bool,
    /// Exports of the results.
    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `harness gate`.
#[derive(Debug, Args)]
#[command(after_help = "What it does:
  Reads the phase plan (default ci/phases.toml; paths in it are relative to the current
  folder, the repository root), validates it and every scenario of the phase, then judges
  each scenario: live against baselines/<scenario>/<base path>.json (INCONCLUSIVE when
  there is none), or from DIR/<scenario>/result.json (newest DIR/<scenario>/*/result.json)
  with --from. A non-critical ROLLBACK must be confirmed by re-runs (confirm_rollback).
  The phase is ROLLBACK if any scenario is, else INCONCLUSIVE if any is, else GO if all
  are, else NO-GO; no scenarios is INCONCLUSIVE.

Writes (default reports/phase-<N>/<timestamp>/): one compare report folder per scenario,
  gate.json, summary.md, junit.xml and signal.json (harness-signal/v1: decision, reasons,
  feature flags to switch back, rollback action). On ROLLBACK only, runs the phase's hook
  with `sh -c`, HARNESS_SIGNAL=<path of signal.json> in its environment.

On GitHub Actions (GITHUB_ACTIONS=true): appends summary.md to the file named by
  $GITHUB_STEP_SUMMARY, and prints workflow commands on standard output: ::error for
  each ROLLBACK scenario, ::warning for each NO-GO or INCONCLUSIVE one and each warning.

Exit codes: 0 GO, 3 NO-GO, 4 ROLLBACK, 5 INCONCLUSIVE, 2 bad plan, scenario or flag,
  1 runtime error, 130 interrupted (SIGINT), 143 interrupted (SIGTERM): the scenario running
  keeps what it measured, the others are not run, the reports are written, never GO, no hook.")]
pub struct GateArgs {
    /// The migration phase to gate (1 to 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    pub phase: u8,
    /// The phase plan (TOML).
    #[arg(long, value_name = "FILE", default_value = "ci/phases.toml")]
    pub plan: PathBuf,
    /// Judge from saved compare results under DIR instead of running anything.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
    /// The gate's report folder (default: reports/phase-<N>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Decide as usual, but never run the hook: print what would run on ROLLBACK.
    #[arg(long)]
    pub dry_run: bool,
    /// Only the result (standard output) and errors: no progress bars, no notes. Warnings
    /// that bear on the result (the generator could not keep up, a target unreachable)
    /// are still said on standard error, one line each.
    #[arg(long, short)]
    pub quiet: bool,
    /// Exports of the results.
    #[command(flatten)]
    pub export: ExportArgs,
}

/// Arguments of `harness report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A `result.json` written by `harness compare` (schema `harness-result/v1`).
    pub file: PathBuf,
    /// The format to render.
    #[arg(long, value_enum, default_value_t = crate::report::Format::Table)]
    pub format: crate::report::Format,
    /// Write to this file instead of standard output (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `harness baseline ...`
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Merge run records of one (scenario, path) into `baselines/<scenario>/<path>.json`.
    Save {
        /// Run record files (`harness-run/v1`); several paths are saved as several baselines.
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<PathBuf>,
        /// Replace an existing baseline.
        #[arg(long)]
        force: bool,
        /// The baselines folder.
        #[arg(long, default_value = "baselines", value_name = "DIR")]
        root: PathBuf,
    },
    /// Establish the baselines of a phase plan before the migration: every scenario's
    /// base path run K times, its noise calibrated, the baseline saved where `harness
    /// gate` looks (the plan's `baselines` folder). Existing baselines are refused, before
    /// anything runs, unless --force.
    Establish {
        /// The phase plan.
        #[arg(long, default_value = "ci/phases.toml", value_name = "FILE")]
        plan: PathBuf,
        /// Only this phase's scenarios (default: every phase's, each once).
        #[arg(long, value_name = "N")]
        phase: Option<u8>,
        /// Runs per base path (at least 2; 5 or more let the gate use the runs' own noise).
        #[arg(long, default_value_t = crate::pipeline::establish::DEFAULT_REPETITIONS, value_name = "K", value_parser = clap::value_parser!(u32).range(2..=200))]
        repetitions: u32,
        /// Replace baselines that exist.
        #[arg(long)]
        force: bool,
        /// Where the run records go (default: reports/establish/<time>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print only the result (and errors).
        #[arg(long, short)]
        quiet: bool,
    },
    /// A table of the stored baselines.
    List {
        /// The baselines folder.
        #[arg(long, default_value = "baselines", value_name = "DIR")]
        root: PathBuf,
    },
    /// One scenario's baselines in detail.
    Show {
        /// Scenario name.
        scenario: String,
        /// Only this path.
        #[arg(long = "path", value_name = "P")]
        path: Option<String>,
        /// The baselines folder.
        #[arg(long, default_value = "baselines", value_name = "DIR")]
        root: PathBuf,
    },
}

/// Arguments of `harness calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The scenario file (with `--synthetic`: optional, its [policy] is measured).
    #[arg(required_unless_present = "synthetic")]
    pub scenario: Option<PathBuf>,
    /// Measure the decision rules' operating characteristics (false-alarm rate and power
    /// for known true effects) over seeded synthetic runs, and print the table; exit 3
    /// when a target is not met.
    #[arg(long)]
    pub synthetic: bool,
    /// Trials per row of the synthetic table.
    #[arg(long, default_value_t = 1000, value_name = "N", requires = "synthetic", value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub trials: u32,
    /// Seed of the synthetic trials.
    #[arg(long, default_value_t = 1, value_name = "SEED", requires = "synthetic")]
    pub seed: u64,
    /// Also write the synthetic results as JSON to FILE (`-` for standard output, then
    /// the table goes to standard error).
    #[arg(long, value_name = "FILE", requires = "synthetic")]
    pub json: Option<PathBuf>,
    /// The path to calibrate (default: the base path).
    #[arg(long = "path", value_name = "P")]
    pub path: Option<String>,
    /// A/A repetitions (at least 4).
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = clap::value_parser!(u32).range(4..=200))]
    pub repetitions: u32,
    /// The baselines folder.
    #[arg(long, default_value = "baselines", value_name = "DIR")]
    pub root: PathBuf,
    /// Folder for the run records (default: reports/<scenario>/<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only the result (standard output) and errors: no progress bars, no notes. Warnings
    /// that bear on the result (the generator could not keep up, a target unreachable)
    /// are still said on standard error, one line each.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Arguments of `harness proxy`.
#[derive(Debug, Args)]
#[command(after_help = proxy_help())]
pub struct ProxyArgs {
    /// The proxy file (TOML): mode, listen, upstream, seed, control and `[[fault]]` tables.
    #[arg(long, value_name = "FILE", required_unless_present = "toxiproxy")]
    pub config: Option<PathBuf>,
    /// Serve as a Toxiproxy server: the control API on 127.0.0.1:8474 (as
    /// `toxiproxy-server`) unless --control or the file's `control` says otherwise;
    /// Toxiproxy clients create and steer proxies through it.
    #[arg(long)]
    pub toxiproxy: bool,
    /// Where the control API listens (overrides the file's `control`).
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
    /// Require `Authorization: Bearer <token>` on every control API call, the token read
    /// from this environment variable (never printed). Required when the control API
    /// listens beyond loopback.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// A further `Host` name the control API answers to (e.g. a container's service
    /// name); loopback names always are. Repeatable.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Print only the URL lines (and warnings), no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The text after `harness proxy --help`'s options: an example file, the fault kinds and
/// the Toxiproxy toxics (both generated from their one list), the control API.
fn proxy_help() -> String {
    format!(
        r#"Toxiproxy server: `harness proxy --toxiproxy` serves Toxiproxy's HTTP API on
127.0.0.1:8474; clients create TCP proxies (POST /proxies, /populate), add toxics
({toxics}), disable and re-enable proxies, reset. See README "Toxiproxy compatibility".

Proxy file (TOML; unknown keys are refused):
  name = "executor"                    # name in the Toxiproxy API (default "harness")
  mode = "http"                        # http (per request) | tcp (per connection)
  listen = "127.0.0.1:9100"            # default 127.0.0.1:0 (the port is printed)
  upstream = "http://127.0.0.1:9000"   # tcp mode: "127.0.0.1:9000"
  seed = 1
  control = "127.0.0.1:8474"           # control API (default 127.0.0.1:0; 8474 with --toxiproxy)
  [[fault]]                            # zero or more, as in a scenario
  name = "outage"
  kind = "http_error"
  status = 503

Fault kinds (`kind = "..."`), by mode:
{kinds}
Standard output: `proxy: http://ADDR` (with --config) and `control: http://ADDR`.
Control API (JSON): Toxiproxy's GET|POST /proxies, POST /populate,
GET|POST|PATCH|DELETE /proxies/{{name}}, GET|POST /proxies/{{name}}/toxics,
GET|POST|PATCH|DELETE /proxies/{{name}}/toxics/{{toxic}}, POST /reset, GET /version,
GET /metrics; native GET|POST|PUT /proxies/{{name}}/faults, DELETE
/proxies/{{name}}/faults/{{fault}}, GET /proxies/{{name}}/attempts (and /faults,
/attempts for the file's proxy), GET /healthz.
Refused: browsers, a Host other than loopback (or --allow-host), a foreign Origin,
changes with a body that is not Content-Type: application/json, bodies over 1 MiB,
and, with --token-env, calls without the bearer token.
Ctrl-C stops the proxies and exits 0."#,
        kinds = crate::fault::kinds_help(),
        toxics = crate::fault::control::toxic_types().join(", "),
    )
}
