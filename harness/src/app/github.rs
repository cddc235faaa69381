//! GitHub Actions at the binary's edge: when `GITHUB_ACTIONS=true`, a decision's
//! workflow commands ([`crate::report::github`]) go to standard output, and its
//! `summary.md` is appended to the file named by `$GITHUB_STEP_SUMMARY`.

use std::io::Write as _;
use std::path::Path;

use crate::pipeline::Controls;

/// Whether this process runs as a GitHub Actions step.
pub(crate) fn on_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true")
}

/// Prints the workflow commands, one a line, on standard output (where the runner reads
/// them).
pub(crate) fn annotate(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

/// Appends `summary` (a report's `summary.md`) to the file named by
/// `$GITHUB_STEP_SUMMARY`, creating it if missing. Nothing when the variable is unset;
/// a failure is a warning, never a failed command: the summary is still in its folder.
pub(crate) fn append_step_summary(summary: &Path, controls: &Controls) {
    let Some(target) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|t| !t.is_empty()) else {
        return;
    };
    let target = Path::new(&target);
    let appended = std::fs::read(summary).and_then(|mut text| {
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(target)?
            .write_all(&text)
    });
    if let Err(e) = appended {
        controls.warn(&format!(
            "cannot append {} to $GITHUB_STEP_SUMMARY ({}): {e}; the job summary lacks it",
            summary.display(),
            target.display()
        ));
    }
}
