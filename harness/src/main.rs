//! The `harness` binary: parse the command line, run it, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = harness::cli::Cli::parse();
    match harness::app::execute(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("{error}");
            error.exit_status().into()
        }
    }
}
