//! The exit-code contract of `dagger-gate`.
//!
//! The gate's own codes pass through unchanged, so CI can treat `dagger-gate` exactly
//! like `harness gate`; the one code of its own is [`NO_ENGINE`], kept distinct so a
//! missing engine can never be mistaken for a verdict.

/// GO: the phase may proceed.
pub const GO: u8 = 0;
/// An error, in the pipeline or in the gate itself; stderr says which.
pub const ERROR: u8 = 1;
/// Bad input: a bad flag, a missing plan, a source that is not a directory.
pub const BAD_INPUT: u8 = 2;
/// NO-GO: the phase must not proceed.
pub const NO_GO: u8 = 3;
/// ROLLBACK: the phase must be rolled back.
pub const ROLLBACK: u8 = 4;
/// INCONCLUSIVE: the evidence does not support a decision.
pub const INCONCLUSIVE: u8 = 5;
/// No Dagger engine reachable (`EX_UNAVAILABLE` from sysexits.h).
pub const NO_ENGINE: u8 = 69;

/// The name of a gate exit code, for the closing line on stderr.
pub fn verdict_name(code: i64) -> &'static str {
    match code {
        0 => "GO",
        1 => "error",
        2 => "bad input",
        3 => "NO-GO",
        4 => "ROLLBACK",
        5 => "INCONCLUSIVE",
        130 => "interrupted (SIGINT)",
        143 => "interrupted (SIGTERM)",
        _ => "unexpected exit code",
    }
}

/// The process exit code that mirrors a gate exit code.
///
/// A code outside 0..=255 cannot be an exit status of a process in the container, so it
/// can only come from a broken engine reply: that is an error, not a verdict.
pub fn mirror(code: i64) -> u8 {
    u8::try_from(code).unwrap_or(ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_pass_through_unchanged() {
        for code in [GO, ERROR, BAD_INPUT, NO_GO, ROLLBACK, INCONCLUSIVE] {
            assert_eq!(mirror(i64::from(code)), code);
        }
    }

    #[test]
    fn impossible_codes_are_errors() {
        assert_eq!(mirror(-1), ERROR);
        assert_eq!(mirror(256), ERROR);
    }

    #[test]
    fn names() {
        assert_eq!(verdict_name(4), "ROLLBACK");
        assert_eq!(verdict_name(3), "NO-GO");
        assert_eq!(verdict_name(130), "interrupted (SIGINT)");
        assert_eq!(verdict_name(143), "interrupted (SIGTERM)");
        assert_eq!(verdict_name(137), "unexpected exit code");
    }
}
