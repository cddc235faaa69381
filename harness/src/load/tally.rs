//! What failed the answers that arrived: per step, how often each check and each
//! extraction failed, and the first failures described (pointer, expected, actual) for
//! the record's notes.
//!
//! Counting takes no lock (one atomic counter per check), so a run in which every
//! answer fails costs no contention; only the first few failures are described.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::kinds::samples::FailureSamples;
use crate::scenario::{AnswerView, CheckFailure, ExtractSource, Flow, Step};

/// Failure counts of every step's checks and extractions.
#[derive(Debug)]
pub(crate) struct CheckTally {
    /// Per step index: one counter per check, then one per extraction.
    counts: Vec<Vec<AtomicU64>>,
    /// The same layout: what each counter counts, for people.
    names: Vec<Vec<String>>,
    /// `flow/step` per step index.
    steps: Vec<String>,
    samples: FailureSamples,
}

/// Why a step's answer was not `ok` although its status was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected;

impl CheckTally {
    /// Counters for every step of `flows`.
    pub(crate) fn new(flows: &[Flow]) -> Self {
        let count = flows
            .iter()
            .flat_map(|f| f.steps.iter())
            .map(|s| usize::from(s.index) + 1)
            .max()
            .unwrap_or(0);
        let mut names = vec![Vec::new(); count];
        let mut steps = vec![String::new(); count];
        for flow in flows {
            for step in &flow.steps {
                let i = usize::from(step.index);
                steps[i] = format!("{}/{}", flow.name, step.name);
                names[i] = step
                    .checks
                    .iter()
                    .map(|c| c.name.clone())
                    .chain(
                        step.extract
                            .iter()
                            .map(|e| format!("extract {} from {}", e.name, e.source)),
                    )
                    .collect();
            }
        }
        let counts = names
            .iter()
            .map(|n| n.iter().map(|_| AtomicU64::new(0)).collect())
            .collect();
        Self {
            counts,
            names,
            steps,
            samples: FailureSamples::default(),
        }
    }

    /// Runs `step`'s checks on an answer whose status was accepted, then its
    /// extractions into `vars`. The first that fails rejects the answer, and is counted
    /// (and described while few are) when `measured` (not in the warmup), so the counts
    /// add up to the record's `check_failed`.
    pub(crate) fn judge(
        &self,
        step: &Step,
        headers: &[(http::HeaderName, http::HeaderValue)],
        body: &[u8],
        vars: &mut [Option<String>],
        measured: bool,
    ) -> Result<(), Rejected> {
        if step.checks.is_empty() && step.extract.is_empty() {
            return Ok(());
        }
        let needs_json = step.checks.iter().any(|c| c.needs_json())
            || step
                .extract
                .iter()
                .any(|e| matches!(e.source, ExtractSource::Pointer(_)));
        let json = needs_json
            .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
            .flatten();
        let view = AnswerView {
            headers,
            body,
            json: json.as_ref(),
        };
        for (i, check) in step.checks.iter().enumerate() {
            if let Err(failure) = check.evaluate(&view) {
                if measured {
                    self.fail(step, i, &failure);
                }
                return Err(Rejected);
            }
        }
        for (k, extraction) in step.extract.iter().enumerate() {
            let value = match &extraction.source {
                ExtractSource::Pointer(pointer) => json
                    .as_ref()
                    .and_then(|j| j.pointer(pointer))
                    .and_then(|v| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Null => None,
                        other => Some(other.to_string()),
                    }),
                ExtractSource::Header(name) => headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.to_str().ok().map(str::to_owned)),
            };
            match (value, vars.get_mut(extraction.slot)) {
                (Some(value), Some(slot)) => *slot = Some(value),
                _ => {
                    let failure = CheckFailure {
                        expected: format!("a value at {}", extraction.source),
                        actual: if json.is_none() && needs_json {
                            "no JSON body".into()
                        } else {
                            "absent".into()
                        },
                    };
                    if measured {
                        self.fail(step, step.checks.len() + k, &failure);
                    }
                    return Err(Rejected);
                }
            }
        }
        Ok(())
    }

    fn fail(&self, step: &Step, slot: usize, failure: &CheckFailure) {
        let i = usize::from(step.index);
        if let Some(counter) = self.counts.get(i).and_then(|c| c.get(slot)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.samples.push(|| {
            format!(
                "check failed: {} `{}`: expected {}, got {}",
                self.steps.get(i).map_or("?", String::as_str),
                self.names
                    .get(i)
                    .and_then(|n| n.get(slot))
                    .map_or("?", String::as_str),
                failure.expected,
                failure.actual
            )
        });
    }

    /// Failure counts per step index: (check or extraction name, failures), non-zero
    /// only.
    pub(crate) fn counts(&self) -> Vec<Vec<(String, u64)>> {
        self.counts
            .iter()
            .zip(&self.names)
            .map(|(counts, names)| {
                counts
                    .iter()
                    .zip(names)
                    .map(|(c, n)| (n.clone(), c.load(Ordering::Relaxed)))
                    .filter(|(_, c)| *c > 0)
                    .collect()
            })
            .collect()
    }

    /// The first failures, described; the store is emptied.
    pub(crate) fn samples(&self) -> Vec<String> {
        self.samples.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Check, CheckKind, Extraction, ValueTest};

    fn step(extract: Vec<Extraction>, checks: Vec<Check>) -> Step {
        Step {
            name: "s".into(),
            index: 0,
            actions: vec![],
            expect_exit: vec![],
            extract,
            checks,
            safe: true,
            keep_answer: false,
            keep_headers: Vec::new(),
        }
    }

    fn pointer(var: &str, pointer: &str) -> Extraction {
        Extraction {
            slot: 0,
            name: var.into(),
            source: ExtractSource::Pointer(pointer.into()),
        }
    }

    fn tally_of(step: &Step) -> CheckTally {
        CheckTally::new(&[Flow {
            name: "f".into(),
            weight: 1,
            steps: vec![step.clone()],
            vars: vec!["v".into()],
        }])
    }

    #[test]
    fn extraction_takes_strings_and_numbers_and_fails_on_missing_values() {
        let mut vars = vec![None];
        let judge = |s: &Step, body: &[u8], vars: &mut Vec<Option<String>>| {
            tally_of(s).judge(s, &[], body, vars, true).is_ok()
        };
        assert!(judge(
            &step(vec![pointer("v", "/id")], vec![]),
            br#"{"id":"t-1"}"#,
            &mut vars
        ));
        assert_eq!(vars[0].as_deref(), Some("t-1"));
        assert!(judge(
            &step(vec![pointer("v", "/n")], vec![]),
            br#"{"n":7}"#,
            &mut vars
        ));
        assert_eq!(vars[0].as_deref(), Some("7"));
        assert!(!judge(
            &step(vec![pointer("v", "/missing")], vec![]),
            br#"{"n":7}"#,
            &mut vars
        ));
        assert!(!judge(
            &step(vec![pointer("v", "/n")], vec![]),
            b"not json",
            &mut vars
        ));
    }

    #[test]
    fn headers_are_extracted_and_failures_counted_by_name() {
        let name = http::HeaderName::from_static("mcp-session-id");
        let s = step(
            vec![Extraction {
                slot: 0,
                name: "session".into(),
                source: ExtractSource::Header(name.clone()),
            }],
            vec![Check {
                name: "/status equals \"done\"".into(),
                kind: CheckKind::Pointer {
                    pointer: "/status".into(),
                    test: ValueTest::Equals(serde_json::Value::from("done")),
                },
            }],
        );
        let tally = tally_of(&s);
        let headers = [(name, http::HeaderValue::from_static("abc"))];
        let mut vars = vec![None];
        let done = br#"{"status":"done"}"#;
        assert!(tally.judge(&s, &headers, done, &mut vars, true).is_ok());
        assert_eq!(vars[0].as_deref(), Some("abc"));
        for _ in 0..3 {
            assert_eq!(
                tally.judge(&s, &headers, br#"{"status":"failed"}"#, &mut vars, true),
                Err(Rejected)
            );
        }
        assert!(tally.judge(&s, &[], done, &mut vars, true).is_err());
        // In the warmup a failure rejects the answer but is not counted.
        assert!(tally.judge(&s, &[], done, &mut vars, false).is_err());
        assert_eq!(
            tally.counts()[0],
            vec![
                ("/status equals \"done\"".to_string(), 3),
                ("extract session from header:mcp-session-id".to_string(), 1)
            ]
        );
        let samples = tally.samples();
        assert_eq!(samples.len(), 4);
        assert!(
            samples[0].contains(
                "f/s `/status equals \"done\"`: expected equals \"done\", got \"failed\""
            ),
            "{}",
            samples[0]
        );
    }
}
