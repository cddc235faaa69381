//! Everything that can stop the pipeline before it yields a gate verdict.
//!
//! Each variant says what failed and how to fix it; [`GateError::exit_code`] maps it onto
//! the contract in [`crate::exit`].

use crate::exit;

/// Why the pipeline produced no gate verdict.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// No engine is reachable; the SDK was not allowed to download a CLI.
    #[error(
        "no Dagger engine: {why}; start one (dagger CLI: `dagger run cargo run -p harness-dagger-gate -- --phase {phase}`) or set DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN"
    )]
    NoEngine {
        /// What was looked at and not found.
        why: String,
        /// The phase asked for, so the hint can be pasted as is.
        phase: u8,
    },
    /// The engine answered, but not to our session token.
    #[error(
        "the Dagger engine at {endpoint} refused the session token (HTTP {status}): DAGGER_SESSION_TOKEN does not belong to the session on DAGGER_SESSION_PORT; take both from the same `dagger run`"
    )]
    Unauthorized {
        /// `127.0.0.1:PORT`.
        endpoint: String,
        /// 401 or 403.
        status: u16,
    },
    /// The connection to the engine broke (closed, reset, unreadable HTTP).
    #[error("transport error while {what}: {detail}")]
    Transport {
        /// What the pipeline was doing, as a gerund phrase ("reading the gate's exit code").
        what: String,
        /// What the HTTP layer said.
        detail: String,
    },
    /// The engine answered with something the SDK could not unpack.
    #[error("unreadable engine reply while {what}: {detail}")]
    Protocol {
        /// The step of the pipeline.
        what: String,
        /// What did not parse.
        detail: String,
    },
    /// A build step (not the gate) exited non-zero in the container.
    #[error("`{command}` failed in the container with exit code {exit_code}{stderr_tail}")]
    StepFailed {
        /// The command line as the engine reported it.
        command: String,
        /// Its exit code.
        exit_code: i32,
        /// The last lines of its stderr, preceded by a newline, or empty.
        stderr_tail: String,
    },
    /// The engine rejected a query (a GraphQL error that is not an exec failure).
    #[error("the Dagger engine failed while {what}: {message}")]
    Engine {
        /// The step of the pipeline.
        what: String,
        /// The engine's message.
        message: String,
    },
    /// A step did not finish before the deadline set by `--timeout`.
    #[error(
        "timed out while {what}: --timeout {limit} reached; raise --timeout if the build is just slow"
    )]
    TimedOut {
        /// The step that was still running.
        what: String,
        /// The `--timeout` in force, human-readable.
        limit: String,
    },
    /// The SDK panicked (it unwraps some malformed replies); the panic is contained.
    #[error(
        "the Dagger SDK panicked on a reply it could not handle (is DAGGER_SESSION_PORT a Dagger engine?): {message}"
    )]
    SdkPanic {
        /// The panic payload.
        message: String,
    },
    /// A failure of this program rather than of the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GateError {
    /// The process exit code for this error: [`exit::NO_ENGINE`] or [`exit::ERROR`].
    pub fn exit_code(&self) -> u8 {
        match self {
            GateError::NoEngine { .. } => exit::NO_ENGINE,
            _ => exit::ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_engine_is_69_and_says_how_to_start_one() {
        let error = GateError::NoEngine {
            why: "DAGGER_SESSION_PORT is not set".into(),
            phase: 2,
        };
        assert_eq!(error.exit_code(), 69);
        assert_eq!(
            error.to_string(),
            "no Dagger engine: DAGGER_SESSION_PORT is not set; start one (dagger CLI: \
             `dagger run cargo run -p harness-dagger-gate -- --phase 2`) or set \
             DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN"
        );
    }

    #[test]
    fn every_other_failure_is_an_error_not_a_verdict() {
        let error = GateError::Unauthorized {
            endpoint: "127.0.0.1:1".into(),
            status: 401,
        };
        assert_eq!(error.exit_code(), exit::ERROR);
    }
}
