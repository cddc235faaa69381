//! The first failures of a run, described for its record's notes: what failed, the tail
//! of its stderr, secrets redacted. Command and Dagger paths keep them; an HTTP path keeps
//! how TLS failed (which certificate problem, which alert), as a class alone cannot say.

use std::sync::Mutex;

/// Failures described in the record's notes.
const SAMPLES: usize = 5;
/// Lines of stderr repeated per failure sample.
const STDERR_TAIL_LINES: usize = 5;

/// The last lines of `text`, each after a newline and an indent; empty for no text.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| format!("\n    {l}"))
        .collect()
}

/// `text` with every secret value replaced by `***`.
pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |t, secret| {
        t.replace(secret.as_str(), "***")
    })
}

/// The first [`SAMPLES`] failure descriptions of a run.
#[derive(Debug, Default)]
pub(crate) struct FailureSamples {
    kept: Mutex<Vec<String>>,
}

impl FailureSamples {
    /// Keeps the description `describe` makes, while fewer than [`SAMPLES`] are kept.
    pub(crate) fn push(&self, describe: impl FnOnce() -> String) {
        if let Ok(mut kept) = self.kept.lock()
            && kept.len() < SAMPLES
        {
            kept.push(describe());
        }
    }

    /// Keeps `text` unless it is kept already or [`SAMPLES`] are (a failure repeated
    /// thousands of times is one sample).
    pub(crate) fn push_distinct(&self, text: String) {
        if let Ok(mut kept) = self.kept.lock()
            && kept.len() < SAMPLES
            && !kept.contains(&text)
        {
            kept.push(text);
        }
    }

    /// The descriptions kept so far; the store is emptied.
    pub(crate) fn take(&self) -> Vec<String> {
        self.kept
            .lock()
            .map(|mut kept| std::mem::take(&mut *kept))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_lines_and_redaction_hides_secrets() {
        assert_eq!(
            tail("a\nb\nc\nd\ne\nf\n\n"),
            "\n    b\n    c\n    d\n    e\n    f"
        );
        assert_eq!(
            redact("key=abc, again abc", &["abc".into()]),
            "key=***, again ***"
        );
    }

    #[test]
    fn only_the_first_failures_are_kept() {
        let samples = FailureSamples::default();
        for i in 0..8 {
            samples.push(|| format!("failure {i}"));
        }
        assert_eq!(samples.take().len(), SAMPLES);
        assert!(samples.take().is_empty(), "take empties the store");
    }
}
