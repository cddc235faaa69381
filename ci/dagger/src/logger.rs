//! Where the engine's own output goes: stderr, never our stdout.
//!
//! The SDK's default `StdLogger` prints the `dagger session` child's output to stdout,
//! which would mix engine chatter into the gate's verdict output. The SDK `unwrap`s what
//! a logger returns, so this one never returns an error, even when stderr is gone.

use std::io::Write;

use dagger_sdk::core::logger::Logger;

/// Forwards every engine line to stderr with a `dagger: ` prefix.
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrLogger;

impl StderrLogger {
    fn line(&self, stream: &str, output: &str) {
        // A closed stderr must not become an SDK panic: the line is dropped instead.
        let _ = writeln!(std::io::stderr().lock(), "dagger{stream}: {output}");
    }
}

impl Logger for StderrLogger {
    fn stdout(&self, output: &str) -> eyre::Result<()> {
        self.line("", output);
        Ok(())
    }

    fn stderr(&self, output: &str) -> eyre::Result<()> {
        self.line(" (stderr)", output);
        Ok(())
    }
}
