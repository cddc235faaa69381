//! What a parity pass saw, per step: how many samples were compared, which fields
//! differed between two base answers (noise) and which between the base and the
//! candidate, with a few examples. Pure accumulation; the record is `parity.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::diff::{DiffKind, Difference};

/// The schema name of a parity record.
pub const PARITY_SCHEMA: &str = "harness-parity/v1";
/// Examples kept per differing field.
pub const EXAMPLES: usize = 3;
/// Differing fields tracked per step (the rest are counted in `untracked`).
pub const MAX_FIELDS: usize = 100;

/// The parity pass of one compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityRecord {
    /// Always [`PARITY_SCHEMA`].
    pub schema: String,
    /// The base path.
    pub base: String,
    /// The candidate path.
    pub candidate: String,
    /// Iterations sampled.
    pub samples: u64,
    /// False when the pass was interrupted.
    pub complete: bool,
    /// Per step, in scenario order.
    pub steps: Vec<StepParity>,
}

/// One step's parity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepParity {
    /// `flow/step`.
    pub step: String,
    /// False for `safe = false` steps: never sent twice; their noise comes from two
    /// base answers of separate iterations with the same inputs.
    pub safe: bool,
    /// Samples where the candidate's answer was compared with the base's.
    pub compared: u64,
    /// Base-against-base comparisons (what noise is learned from).
    pub noise_pairs: u64,
    /// Samples not compared: a side failed (transport, timeout, a failed check or
    /// extraction), so the flow's later steps had no inputs either.
    pub skipped: u64,
    /// Fields that differed between two base answers, with how often: noise.
    pub noise: Vec<FieldCount>,
    /// Fields that differed between the base and the candidate.
    pub fields: Vec<FieldDiff>,
    /// Differences beyond [`MAX_FIELDS`] distinct fields, counted only.
    #[serde(default)]
    pub untracked: u64,
}

/// A field and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCount {
    /// The field (a pointer with positions as `*`, or `(status)`, `(body)`, ...).
    pub field: String,
    /// Samples in which it differed.
    pub count: u64,
    /// Of those, samples in which the second answer lacked it (an optional field).
    #[serde(default)]
    pub missing: u64,
}

/// A field the candidate answered differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// The field.
    pub field: String,
    /// Samples in which it differed.
    pub count: u64,
    /// Of those, samples in which the candidate lacked it.
    pub missing: u64,
    /// The first few, side by side.
    pub examples: Vec<Example>,
}

/// One difference, side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The base request's id (`x-harness-request-id`).
    pub request_id: u64,
    /// The concrete pointer.
    pub at: String,
    /// How it differs.
    pub kind: DiffKind,
    /// The base's value (none: absent).
    pub base: Option<String>,
    /// The candidate's value (none: absent).
    pub candidate: Option<String>,
}

/// Accumulates a pass.
#[derive(Debug)]
pub struct ParityTally {
    record: ParityRecord,
    noise: Vec<BTreeMap<String, (u64, u64)>>,
    fields: Vec<BTreeMap<String, FieldDiff>>,
}

impl ParityTally {
    /// A tally for `steps` (`(flow/step, safe)` in scenario order).
    pub fn new(base: &str, candidate: &str, steps: &[(String, bool)]) -> Self {
        Self {
            record: ParityRecord {
                schema: PARITY_SCHEMA.into(),
                base: base.into(),
                candidate: candidate.into(),
                samples: 0,
                complete: true,
                steps: steps
                    .iter()
                    .map(|(step, safe)| StepParity {
                        step: step.clone(),
                        safe: *safe,
                        compared: 0,
                        noise_pairs: 0,
                        skipped: 0,
                        noise: Vec::new(),
                        fields: Vec::new(),
                        untracked: 0,
                    })
                    .collect(),
            },
            noise: vec![BTreeMap::new(); steps.len()],
            fields: vec![BTreeMap::new(); steps.len()],
        }
    }

    /// One more iteration sampled.
    pub fn sampled(&mut self) {
        self.record.samples += 1;
    }

    /// The pass stopped early.
    pub fn interrupted(&mut self) {
        self.record.complete = false;
    }

    /// Step `step` could not be compared in this sample.
    pub fn skipped(&mut self, step: usize) {
        if let Some(s) = self.record.steps.get_mut(step) {
            s.skipped += 1;
        }
    }

    /// Two base answers of step `step` compared: their differences are noise.
    pub fn noise(&mut self, step: usize, differences: &[Difference]) {
        let (Some(s), Some(noise)) = (self.record.steps.get_mut(step), self.noise.get_mut(step))
        else {
            return;
        };
        s.noise_pairs += 1;
        for field in distinct(differences) {
            let entry = noise.entry(field.to_string()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(
                differences
                    .iter()
                    .any(|d| d.field == field && d.kind != DiffKind::Changed),
            );
        }
    }

    /// The candidate's answer of step `step` compared with the base's (request
    /// `request_id`).
    pub fn compared(&mut self, step: usize, request_id: u64, differences: &[Difference]) {
        let (Some(s), Some(fields)) = (self.record.steps.get_mut(step), self.fields.get_mut(step))
        else {
            return;
        };
        s.compared += 1;
        for field in distinct(differences) {
            if !fields.contains_key(field) && fields.len() >= MAX_FIELDS {
                s.untracked += 1;
                continue;
            }
            let entry = fields
                .entry(field.to_string())
                .or_insert_with(|| FieldDiff {
                    field: field.to_string(),
                    count: 0,
                    missing: 0,
                    examples: Vec::new(),
                });
            entry.count += 1;
            let of_field: Vec<&Difference> =
                differences.iter().filter(|d| d.field == field).collect();
            if of_field.iter().any(|d| d.kind == DiffKind::Missing) {
                entry.missing += 1;
            }
            if entry.examples.len() < EXAMPLES
                && let Some(d) = of_field.first()
            {
                entry.examples.push(Example {
                    request_id,
                    at: d.at.clone(),
                    kind: d.kind,
                    base: d.first.clone(),
                    candidate: d.other.clone(),
                });
            }
        }
    }

    /// The record, fields most frequent first.
    pub fn finish(mut self) -> ParityRecord {
        for ((step, noise), fields) in self
            .record
            .steps
            .iter_mut()
            .zip(self.noise)
            .zip(self.fields)
        {
            step.noise = noise
                .into_iter()
                .map(|(field, (count, missing))| FieldCount {
                    field,
                    count,
                    missing,
                })
                .collect();
            step.noise
                .sort_by(|a, b| b.count.cmp(&a.count).then(a.field.cmp(&b.field)));
            step.fields = fields.into_values().collect();
            step.fields
                .sort_by(|a, b| b.count.cmp(&a.count).then(a.field.cmp(&b.field)));
        }
        self.record
    }
}

/// The distinct fields of `differences`, in order.
fn distinct(differences: &[Difference]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for d in differences {
        if !seen.contains(&d.field.as_str()) {
            seen.push(&d.field);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(field: &str, kind: DiffKind) -> Difference {
        Difference {
            field: field.into(),
            at: field.replace('*', "0"),
            kind,
            first: Some("1".into()),
            other: (kind != DiffKind::Missing).then(|| "2".into()),
        }
    }

    #[test]
    fn fields_count_once_per_sample_and_keep_three_examples() {
        let mut t = ParityTally::new("legacy", "dagger", &[("f/s".into(), true)]);
        for id in 0..5 {
            t.sampled();
            t.noise(0, &[d("/run_id", DiffKind::Changed)]);
            t.compared(
                0,
                id,
                &[
                    d("/items/*/id", DiffKind::Changed),
                    d("/items/*/id", DiffKind::Changed),
                    d("/artifacts", DiffKind::Missing),
                ],
            );
        }
        t.skipped(0);
        let r = t.finish();
        let s = &r.steps[0];
        assert_eq!(
            (r.samples, s.compared, s.noise_pairs, s.skipped),
            (5, 5, 5, 1)
        );
        assert_eq!(
            s.noise,
            [FieldCount {
                field: "/run_id".into(),
                count: 5,
                missing: 0
            }]
        );
        let artifacts = &s.fields[0];
        assert_eq!(
            (artifacts.field.as_str(), artifacts.count, artifacts.missing),
            ("/artifacts", 5, 5)
        );
        assert_eq!(artifacts.examples.len(), EXAMPLES);
        assert_eq!(
            s.fields[1].count, 5,
            "two positions in one sample count once"
        );
    }
}
