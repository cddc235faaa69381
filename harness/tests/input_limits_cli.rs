//! Input files at the command line (issue 15): names that would not print, files that
//! are not regular files or are too large, and the checks that span faults and the
//! `[reference]` table. Each is refused with exit 2, at once, and a located error
//! where there is a place to point at.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use common::{ScenarioBuilder, harness};

/// Long enough for a loaded machine to start the binary; a read that blocks (a FIFO)
/// or never ends (`/dev/zero`) runs into it and fails the test instead of hanging it.
const PROMPT: Duration = Duration::from_secs(10);

/// Runs `harness <args> <file>` with the [`PROMPT`] timeout; exit code and stderr.
fn run(args: &[&str], file: &Path) -> (Option<i32>, String) {
    let started = Instant::now();
    let output = harness()
        .args(args)
        .arg(file)
        .timeout(PROMPT)
        .output()
        .expect("the binary runs");
    assert!(
        started.elapsed() < PROMPT,
        "harness {args:?} {} did not finish in {PROMPT:?}",
        file.display()
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn validate(file: &Path) -> (Option<i32>, String) {
    run(&["validate"], file)
}

/// A FIFO at `dir/name` (that nothing ever writes to).
fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = StdCommand::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    path
}

/// The line and column (1-based, in characters) where `needle` starts in `text`.
fn place(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in\n{text}"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Writes `builder`'s scenario, runs `harness validate` on it, expects exit 2 with an
/// error at the place of `needle` (in the file's text) that says `says`.
#[track_caller]
fn refused_at(builder: &ScenarioBuilder, needle: &str, says: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = builder.write(dir.path());
    let text = std::fs::read_to_string(&file).expect("read back");
    let (line, column) = place(&text, needle);
    let (code, stderr) = validate(&file);
    assert_eq!(code, Some(2), "{stderr}");
    let located = format!("{}:{line}:{column}: ", file.display());
    assert!(
        stderr.contains(&located),
        "expected {located} in:\n{stderr}"
    );
    assert!(stderr.contains(says), "expected {says:?} in:\n{stderr}");
    stderr
}

#[test]
fn a_flow_name_with_an_ansi_escape_is_refused_at_the_name() {
    let builder = ScenarioBuilder::new("ansi").flow(
        r#"[[flow]]
name = "wf\u001b[31m"
steps = [{ name = "execute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]"#,
    );
    let stderr = refused_at(
        &builder,
        "\"wf\\u001b",
        "flow name `wf\\u{1b}[31m` holds a character that does not print",
    );
    assert!(
        stderr.contains("found U+001B (ESC, a control character) at character 3"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "the ESC itself reached stderr");
}

#[test]
fn a_step_name_with_crlf_and_a_fault_name_with_an_override_are_refused() {
    let builder = ScenarioBuilder::new("crlf").flow(
        r#"[[flow]]
name = "wf"
steps = [{ name = "exec\r\nute", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202] }]"#,
    );
    let stderr = refused_at(&builder, "\"exec\\r", "step name");
    assert!(stderr.contains("U+000D (CR"), "{stderr}");
    assert!(!stderr.contains('\r'), "the CR itself reached stderr");
    // A right-to-left override written as itself in the file: the source line shown
    // under the error has it replaced, so it cannot reorder the terminal line either.
    let builder = ScenarioBuilder::new("rlo")
        .faults("[[fault]]\nname = \"outage\u{202e}txt\"\nkind = \"abort\"\n");
    let stderr = refused_at(&builder, "\"outage", "the fault name");
    assert!(stderr.contains("U+202E (RLO"), "{stderr}");
    assert!(
        !stderr.contains('\u{202e}'),
        "the RLO itself reached stderr"
    );
}

#[test]
fn printable_names_in_any_script_are_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = ScenarioBuilder::new("scripts")
        .flow(
            r#"[[flow]]
name = "déploiement"
steps = [{ name = "ワークフロー", method = "POST", path = "/api/workflows/execute", body = "{}", expect_status = [202], check = [{ name = "état « ok »", pointer = "/task_id", exists = true }] }]"#,
        )
        .write(dir.path());
    let (code, stderr) = validate(&file);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn dev_zero_is_refused_at_once() {
    let (code, stderr) = validate(Path::new("/dev/zero"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read /dev/zero: not a regular file (a character device)"),
        "{stderr}"
    );
}

#[test]
fn a_fifo_is_refused_at_once_by_validate_gate_and_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pipe = fifo(dir.path(), "scenario.toml");
    let (code, stderr) = validate(&pipe);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("not a regular file (a FIFO); give the path of a scenario file"),
        "{stderr}"
    );
    let (code, stderr) = run(&["gate", "--phase", "1", "--plan"], &pipe);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("not a regular file (a FIFO); give the path of a phase plan"),
        "{stderr}"
    );
    let (code, stderr) = run(&["proxy", "--config"], &pipe);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("not a regular file (a FIFO); give the path of a proxy file"),
        "{stderr}"
    );
}

#[test]
fn a_file_past_the_cap_is_refused_naming_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A valid start, then 2 MiB of comment: the size alone is the problem.
    let mut text = ScenarioBuilder::new("huge").text();
    text.push_str(&format!("# {}\n", "x".repeat(2 * 1024 * 1024)));
    let file = dir.path().join("huge.toml");
    std::fs::write(&file, &text).expect("write");
    let (code, stderr) = validate(&file);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("larger than the 1 MiB limit for a scenario file (2.0 MiB)"),
        "{stderr}"
    );
    let (code, stderr) = run(&["gate", "--phase", "1", "--plan"], &file);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("larger than the 1 MiB limit for a phase plan"),
        "{stderr}"
    );
    let (code, stderr) = run(&["proxy", "--config"], &file);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("larger than the 1 MiB limit for a proxy file"),
        "{stderr}"
    );
}

#[test]
fn two_faults_with_one_name_are_refused_at_the_second_name() {
    let builder = ScenarioBuilder::new("twins").faults(
        "[[fault]]\nname = \"outage\"\nkind = \"abort\"\n\n[[fault]]\nname = \"outage\" # again\nkind = \"http_error\"\nstatus = 503\n",
    );
    let stderr = refused_at(
        &builder,
        "\"outage\" # again",
        "two faults are called `outage`",
    );
    assert!(
        stderr.contains("give each fault its own `name`"),
        "{stderr}"
    );
}

#[test]
fn a_fault_window_after_the_run_is_refused_at_start() {
    // The run is 200 ms warmup + 1 s: a window opening at 1.2 s never opens.
    let builder = ScenarioBuilder::new("late").faults(
        "[[fault]]\nname = \"late\"\nkind = \"abort\"\nstart = \"1200ms\"\nduration = \"1s\"\n",
    );
    let stderr = refused_at(&builder, "\"1200ms\"", "it would never be active");
    assert!(stderr.contains("warmup included"), "{stderr}");
    // One that opens just before the end is fine (it is cut at the end).
    let dir = tempfile::tempdir().expect("tempdir");
    let file = ScenarioBuilder::new("in-time")
        .faults(
            "[[fault]]\nname = \"late\"\nkind = \"abort\"\nstart = \"1100ms\"\nduration = \"1s\"\n",
        )
        .write(dir.path());
    let (code, stderr) = validate(&file);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn zeros_that_make_the_breaker_or_retry_meaningless_are_refused_at_the_value() {
    for (lines, needle, says) in [
        (
            "breaker = { failure_threshold = 0 }",
            "0 }",
            "[reference] breaker.failure_threshold must be at least 1, got 0",
        ),
        (
            "breaker = { half_open_probes = 0 }",
            "0 }",
            "[reference] breaker.half_open_probes must be at least 1",
        ),
        (
            "breaker = { open_for = \"0s\" }",
            "\"0s\"",
            "[reference] breaker.open_for must be greater than 0",
        ),
        (
            "retry = { max_attempts = 0 }",
            "0 }",
            "[reference] retry.max_attempts must be at least 1",
        ),
    ] {
        let builder = ScenarioBuilder::new("zero").reference(lines);
        refused_at(&builder, needle, says);
    }
    // Zero backoffs are a policy (retry at once), not a mistake.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = ScenarioBuilder::new("no-backoff")
        .reference("retry = { max_attempts = 2, base_backoff = \"0s\", max_backoff = \"0s\" }")
        .write(dir.path());
    let (code, stderr) = validate(&file);
    assert_eq!(code, Some(0), "{stderr}");
}
