//! `dagger-gate` against a contract double of the Dagger engine's session endpoint.
//!
//! Each test starts the double on 127.0.0.1:0, runs the real binary with
//! `DAGGER_SESSION_PORT`/`DAGGER_SESSION_TOKEN` pointing at it (or with no engine at
//! all), and checks the pipeline the engine was asked to run, the exit code and the
//! words on stderr. The child's environment is cleared, so no engine or CLI of the
//! machine running the tests can leak in.

mod engine_double;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use engine_double::{
    Behaviour, CONTAINER_ID, EngineDouble, Fault, GATE_STDERR, GATE_STDOUT, SOURCE_ID, cache_id,
};

const TOKEN: &str = "7c0e1a52-3b1d-4c8e-9f20-6d5a4b3c2e1f";
const NO_ENGINE: i32 = 69;

/// A source tree with a plan, an empty HOME and an empty PATH directory.
struct Workspace {
    root: tempfile::TempDir,
}

impl Workspace {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        for dir in ["src/ci", "home", "bin"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("mkdir");
        }
        std::fs::write(root.path().join("src/ci/phases.toml"), "# plan\n").expect("plan");
        Self { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The source directory as the engine is told it (canonical).
    fn source(&self) -> String {
        self.path("src")
            .canonicalize()
            .expect("canonical source")
            .to_str()
            .expect("UTF-8 temp dir")
            .to_owned()
    }

    fn export(&self) -> String {
        self.path("exported")
            .to_str()
            .expect("UTF-8 temp dir")
            .to_owned()
    }

    /// `dagger-gate --phase 2` with nothing in its environment but HOME and PATH.
    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dagger-gate"));
        command
            .env_clear()
            .env("HOME", self.path("home"))
            .env("PATH", self.path("bin"))
            .args(["--phase", "2", "--source"])
            .arg(self.path("src"))
            .arg("--export")
            .arg(self.export())
            .args(["--connect-timeout", "5s", "--timeout", "60s"])
            .kill_on_drop(true);
        command
    }

    fn session(&self, port: u16, token: &str) -> tokio::process::Command {
        let mut command = self.command();
        command
            .env("DAGGER_SESSION_PORT", port.to_string())
            .env("DAGGER_SESSION_TOKEN", token);
        command
    }
}

async fn run(mut command: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("dagger-gate finished within 60 s")
        .expect("dagger-gate ran")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text goes to a plain file and a child (`install -m 755`) makes the executable, so
/// this process never holds it open for writing: such a descriptor leaks into whatever
/// another test thread forks at that moment, and running the script then fails with
/// ETXTBSY ("Text file busy").
fn write_script(path: &Path, body: &str) {
    let source = path.with_extension("text");
    std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).expect("write script");
    let status = std::process::Command::new("install")
        .args(["-m", "755"])
        .arg(&source)
        .arg(path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {}", path.display());
}

#[tokio::test]
async fn the_engine_is_asked_for_the_designed_pipeline_and_the_gate_code_is_mirrored() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(4)).await;
    let output = run(workspace.session(double.port, TOKEN)).await;
    for query in double.queries() {
        eprintln!("double received: {query}");
    }
    assert_eq!(output.status.code(), Some(4), "stderr: {}", stderr(&output));

    let calls = double.calls();
    assert!(
        calls.iter().all(|c| c.authorized),
        "every request carries the token"
    );
    assert!(
        calls.iter().all(|c| c.variables.is_null()),
        "the SDK's body shape: variables null"
    );
    assert_eq!(
        calls[0].query, "query{version}",
        "the session probe comes first"
    );

    let source = double.call_with_leaf("id");
    assert_eq!(source.names(), ["host", "directory", "id"]);
    assert_eq!(source.chain[1].str_arg("path"), Some(workspace.source()));
    assert_eq!(
        source.chain[1].list_arg("exclude"),
        Some(vec!["target/".into(), "reports/".into(), ".git/".into()])
    );

    let cache_keys: Vec<String> = calls
        .iter()
        .filter(|c| c.names() == ["cacheVolume", "id"])
        .filter_map(|c| c.chain[0].str_arg("key"))
        .collect();
    assert_eq!(
        cache_keys,
        ["harness-cargo-registry", "harness-cargo-target"]
    );

    let pipeline = double.call_with_leaf("sync");
    assert_eq!(
        pipeline.names(),
        [
            "container",
            "from",
            "withMountedDirectory",
            "withMountedCache",
            "withMountedCache",
            "withWorkdir",
            "withEnvVariable",
            "withExec",
            "withExec",
            "withEnvVariable",
            "withExec",
            "sync",
        ]
    );
    let step = |i: usize| &pipeline.chain[i];
    assert_eq!(
        step(1).str_arg("address").as_deref(),
        Some("rust:1-bookworm")
    );
    assert_eq!(step(2).str_arg("path").as_deref(), Some("/src"));
    assert_eq!(step(2).str_arg("source").as_deref(), Some(SOURCE_ID));
    assert_eq!(
        step(3).str_arg("cache"),
        Some(cache_id("harness-cargo-registry"))
    );
    assert_eq!(
        step(3).str_arg("path").as_deref(),
        Some("/usr/local/cargo/registry")
    );
    assert_eq!(
        step(4).str_arg("cache"),
        Some(cache_id("harness-cargo-target"))
    );
    assert_eq!(step(4).str_arg("path").as_deref(), Some("/src/target"));
    assert_eq!(step(5).str_arg("path").as_deref(), Some("/src"));
    assert_eq!(step(6).str_arg("name").as_deref(), Some("CARGO_TERM_COLOR"));
    assert_eq!(
        step(7).list_arg("args"),
        Some(
            ["cargo", "build", "--release", "-p", "harness"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(
        step(7).arg_names(),
        ["args"],
        "the build must succeed: no `expect`"
    );
    assert_eq!(
        step(8).list_arg("args"),
        Some(["mkdir", "-p", "reports"].map(String::from).to_vec())
    );
    assert_eq!(
        step(9).str_arg("name").as_deref(),
        Some("HARNESS_GATE_RUN_ID")
    );
    assert_eq!(
        step(10).list_arg("args"),
        Some(
            [
                "./target/release/harness",
                "gate",
                "--phase",
                "2",
                "--plan",
                "ci/phases.toml",
                "--quiet"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(
        step(10).raw_arg("expect").as_deref(),
        Some("ANY"),
        "a non-zero gate must not fail the pipeline"
    );

    let exit_code = double.call_with_leaf("exitCode");
    assert_eq!(exit_code.names(), ["node", "... on Container", "exitCode"]);
    assert_eq!(
        exit_code.chain[0].str_arg("id").as_deref(),
        Some(CONTAINER_ID)
    );

    let export = double.call_with_leaf("export");
    assert_eq!(
        export.names(),
        ["node", "... on Container", "directory", "export"]
    );
    assert_eq!(
        export.chain[2].str_arg("path").as_deref(),
        Some("/src/reports")
    );
    assert_eq!(export.chain[3].str_arg("path"), Some(workspace.export()));

    assert_eq!(
        stdout(&output),
        GATE_STDOUT,
        "stdout is the gate's, and only the gate's"
    );
    let stderr = stderr(&output);
    assert!(stderr.contains(GATE_STDERR), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "harness gate --phase 2 exited 4 (ROLLBACK); reports exported to {}",
            workspace.export()
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_gate_exit_code_is_mirrored() {
    let workspace = Workspace::new();
    for code in [0, 1, 2, 3, 5] {
        let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(code)).await;
        let output = run(workspace.session(double.port, TOKEN)).await;
        assert_eq!(
            output.status.code(),
            Some(i32::try_from(code).expect("small code")),
            "gate exit {code}; stderr: {}",
            stderr(&output)
        );
    }
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_auth_error_not_a_missing_engine() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(0)).await;
    let output = run(workspace.session(double.port, "not-the-session-token")).await;
    let code = output.status.code();
    assert_ne!(code, Some(0));
    assert_ne!(code, Some(NO_ENGINE));
    assert_eq!(code, Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!(
            "the Dagger engine at 127.0.0.1:{} refused the session token (HTTP 401)",
            double.port
        )),
        "{stderr}"
    );
    let calls = double.calls();
    assert_eq!(calls.len(), 1, "nothing is sent after the refusal");
    assert!(!calls[0].authorized);
}

#[tokio::test]
async fn no_engine_exits_69_with_how_to_start_one() {
    let workspace = Workspace::new();
    let output = run(workspace.command()).await;
    assert_eq!(output.status.code(), Some(NO_ENGINE));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(
            "no Dagger engine: DAGGER_SESSION_PORT is not set, _EXPERIMENTAL_DAGGER_CLI_BIN is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "; start one (dagger CLI: `dagger run cargo run -p harness-dagger-gate -- --phase 2`) \
             or set DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN"
        ),
        "{stderr}"
    );
    assert!(stdout(&output).is_empty());
}

#[tokio::test]
async fn a_dagger_on_path_is_named_but_never_run() {
    let workspace = Workspace::new();
    let marker = workspace.path("dagger-was-run");
    write_script(
        &workspace.path("bin/dagger"),
        &format!("touch '{}'", marker.display()),
    );
    let output = run(workspace.command()).await;
    assert_eq!(output.status.code(), Some(NO_ENGINE));
    assert!(stderr(&output).contains("`dagger` is on PATH at"));
    assert!(
        !marker.exists(),
        "dagger-gate must not start a CLI it was not given"
    );
}

#[tokio::test]
async fn a_session_port_with_nothing_listening_is_no_engine() {
    let workspace = Workspace::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let output = run(workspace.session(port, TOKEN)).await;
    assert_eq!(output.status.code(), Some(NO_ENGINE));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!(
            "no Dagger engine: cannot connect to 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_engine_closing_the_connection_is_a_transport_error() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(
        TOKEN,
        Behaviour::gate_exits(0).with_fault(Fault::CloseOn("exitCode")),
    )
    .await;
    let output = run(workspace.session(double.port, TOKEN)).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("transport error while reading the gate's exit code"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_engine_that_cannot_serve_the_query_is_an_engine_error_never_a_verdict() {
    for (fault, said) in [
        (Fault::ShuttingDownOn("exitCode"), "engine is shutting down"),
        (Fault::SessionClosingOn("exitCode"), "session is closing"),
        (
            Fault::ModulesFailedOn("exitCode", "go build failed".into()),
            "loading modules: go build failed",
        ),
        (
            Fault::InvalidOn(
                "exitCode",
                "Cannot query field \"exitCode\" on type \"Container\".".into(),
            ),
            "refused the query as invalid GraphQL (GRAPHQL_VALIDATION_FAILED: Cannot query field",
        ),
    ] {
        let workspace = Workspace::new();
        let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(0).with_fault(fault)).await;
        let output = run(workspace.session(double.port, TOKEN)).await;
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("the Dagger engine failed while reading the gate's exit code"),
            "{stderr}"
        );
        assert!(stderr.contains(said), "{stderr}");
    }
}

#[tokio::test]
async fn a_probe_cut_off_is_a_transport_error_too() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(
        TOKEN,
        Behaviour::gate_exits(0).with_fault(Fault::CloseOn("version")),
    )
    .await;
    let output = run(workspace.session(double.port, TOKEN)).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!(
            "transport error while probing the session at 127.0.0.1:{}",
            double.port
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failing_build_names_the_command_and_shows_its_stderr() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(
        TOKEN,
        Behaviour::gate_exits(0).with_fault(Fault::BuildFails {
            exit_code: 101,
            stderr: "error[E0425]: cannot find value `x` in this scope".into(),
        }),
    )
    .await;
    let output = run(workspace.session(double.port, TOKEN)).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(
            "`cargo build --release -p harness` failed in the container with exit code 101"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("error[E0425]"), "{stderr}");
}

#[tokio::test]
async fn an_sdk_panic_on_a_malformed_reply_is_contained() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(
        TOKEN,
        Behaviour::gate_exits(0).with_fault(Fault::NullDataOn("exitCode")),
    )
    .await;
    let output = run(workspace.session(double.port, TOKEN)).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "a panic is an error, never a GO"
    );
    assert!(stderr(&output).contains("the Dagger SDK panicked"));
}

#[tokio::test]
async fn a_lost_export_turns_go_into_an_error_but_never_hides_a_rollback() {
    let workspace = Workspace::new();
    for (gate, expected) in [(0, 1), (4, 4)] {
        let double = EngineDouble::start(
            TOKEN,
            Behaviour::gate_exits(gate).with_fault(Fault::CloseOn("export")),
        )
        .await;
        let output = run(workspace.session(double.port, TOKEN)).await;
        assert_eq!(output.status.code(), Some(expected), "gate exit {gate}");
        assert!(stderr(&output).contains("after the verdict: transport error while exporting"));
    }
}

#[tokio::test]
async fn a_bad_plan_is_refused_before_any_request() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(0)).await;
    let mut command = workspace.session(double.port, TOKEN);
    command.args(["--plan", "ci/missing.toml"]);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--plan ci/missing.toml: no such file"));
    assert!(double.calls().is_empty());
}

#[tokio::test]
async fn a_cli_session_keeps_the_engine_output_off_stdout() {
    let workspace = Workspace::new();
    let double = EngineDouble::start(TOKEN, Behaviour::gate_exits(3)).await;
    // A stand-in for `dagger session`: chatter, then the connect params, then it waits
    // for stdin to close, as the real CLI does (only shell builtins: PATH is empty).
    let cli = workspace.path("fake-dagger");
    let args_file = workspace.path("cli-args");
    write_script(
        &cli,
        &format!(
            "echo \"$@\" > '{}'\necho 'engine chatter on stdout'\necho 'engine chatter on stderr' >&2\n\
             echo '{{\"port\":{},\"session_token\":\"{TOKEN}\"}}'\n\
             while read -r _; do :; done",
            args_file.display(),
            double.port
        ),
    );
    let mut command = workspace.command();
    command.env("_EXPERIMENTAL_DAGGER_CLI_BIN", &cli);
    let started = std::time::Instant::now();
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the session ends when its stdin closes, not at the shutdown grace"
    );
    assert_eq!(stdout(&output), GATE_STDOUT);
    let stderr = stderr(&output);
    assert!(
        stderr.contains("dagger: engine chatter on stdout"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dagger (stderr): engine chatter on stderr"),
        "{stderr}"
    );
    let cli_args = std::fs::read_to_string(&args_file).expect("the CLI was started");
    assert!(cli_args.starts_with("session"), "{cli_args}");
    assert!(double.calls().iter().all(|c| c.authorized));
}
