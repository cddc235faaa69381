//! Parity rows: the candidate's differences beyond noise, judged. Pure.
//!
//! Per step, every field the candidate answered differently from the base — and that
//! did not differ between two base answers (noise) — is a row with the rate of samples
//! in which it differed and its Wilson interval. A field that is noise still counts when
//! the candidate *lacks* it and the base never did. A row is ROLLBACK when the field is
//! `critical`, or the candidate lacked it and `missing_is_critical` (a dropped field is a
//! critical functionality failure); GO when its rate is proven at or below `margin` with
//! at least `min_samples` samples compared; NO-GO otherwise. A step without differences
//! beyond noise gets one row, `(every field)`: GO with `min_samples` compared and none
//! differing (the interval's upper bound says how small the rate is proven), NO-GO with
//! fewer.

use serde::{Deserialize, Serialize};

use super::stats::{Interval, wilson};
use super::verdict::Verdict;
use crate::parity::{Example, FieldCount, ParityRecord};
use crate::scenario::{ParitySpec, split_pointer};

/// The confidence of parity intervals.
pub const CONFIDENCE: f64 = 0.95;
/// The field of a step's row when nothing differed beyond noise.
pub const EVERY_FIELD: &str = "(every field)";

/// The judged parity of a compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityResult {
    /// Iterations sampled.
    pub samples: u64,
    /// False when the pass was interrupted.
    pub complete: bool,
    /// The rows, step by step.
    pub rows: Vec<ParityRow>,
    /// What was learned as noise, per step: fields that differ between two base answers.
    pub noise: Vec<StepNoise>,
}

/// The noise of one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepNoise {
    /// `flow/step`.
    pub step: String,
    /// Base-against-base comparisons.
    pub pairs: u64,
    /// Whether they were of separate iterations (`safe = false`).
    pub separate_iterations: bool,
    /// The noisy fields.
    pub fields: Vec<FieldCount>,
}

/// One parity row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParityRow {
    /// `flow/step`.
    pub step: String,
    /// The field, or [`EVERY_FIELD`].
    pub field: String,
    /// Samples in which it differed beyond noise.
    pub differing: u64,
    /// Samples compared.
    pub compared: u64,
    /// The rate of differing samples with its interval.
    pub interval: Interval,
    /// A critical field (or a missing one under `missing_is_critical`).
    pub critical: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// One line for people.
    pub reason: String,
    /// Up to three examples, side by side (values redacted as configured).
    pub examples: Vec<Example>,
}

/// Judges `record` under `spec`.
pub fn judge_parity(record: &ParityRecord, spec: &ParitySpec) -> ParityResult {
    let mut rows = Vec::new();
    let mut noise = Vec::new();
    for step in &record.steps {
        noise.push(StepNoise {
            step: step.step.clone(),
            pairs: step.noise_pairs,
            separate_iterations: !step.safe,
            fields: step.noise.clone(),
        });
        let n = step.compared;
        let enough = n >= u64::from(spec.min_samples);
        let mut beyond = Vec::new();
        for field in &step.fields {
            // Past the per-pair cap nothing was compared: never noise.
            let noisy = step
                .noise
                .iter()
                .find(|f| f.field == field.field && f.field != crate::parity::diff::MORE_FIELDS);
            let differing = match noisy {
                None => field.count,
                // The base itself sometimes lacks it: an optional field, all noise.
                Some(f) if f.missing > 0 => 0,
                // Its value is noise, but the candidate dropping it is not.
                Some(_) => field.missing,
            };
            if differing == 0 {
                continue;
            }
            let lacked = field.missing > 0 && (noisy.is_none() || differing == field.missing);
            let segments = split_pointer(&field.field);
            let named =
                field.field.starts_with('/') && spec.critical.iter().any(|g| g.covers(&segments));
            let critical = named || (lacked && spec.missing_is_critical);
            let interval = wilson(differing, n, CONFIDENCE);
            let (verdict, why) = if critical {
                (
                    Verdict::Rollback,
                    if named {
                        "a critical field differs: critical functionality failure".to_string()
                    } else {
                        "the candidate drops a field the base always has: critical functionality failure".to_string()
                    },
                )
            } else if spec.margin > 0.0 && enough && interval.high <= spec.margin {
                (
                    Verdict::Go,
                    format!("proven at most {} of answers", pct(spec.margin)),
                )
            } else {
                (
                    Verdict::NoGo,
                    "the candidate answers differently beyond the base's own noise".to_string(),
                )
            };
            beyond.push(ParityRow {
                step: step.step.clone(),
                field: field.field.clone(),
                differing,
                compared: n,
                reason: format!(
                    "{} `{}`: {differing} of {n} samples differ ({} [{}, {}]): {why}",
                    step.step,
                    field.field,
                    pct(interval.estimate),
                    pct(interval.low),
                    pct(interval.high)
                ),
                interval,
                critical,
                verdict,
                examples: field.examples.clone(),
            });
        }
        if beyond.is_empty() {
            let interval = wilson(0, n, CONFIDENCE);
            let (verdict, reason) = if n == 0 {
                (
                    Verdict::NoGo,
                    format!(
                        "{}: no sample compared ({} skipped: a side failed or its check did): parity not shown",
                        step.step, step.skipped
                    ),
                )
            } else if !enough {
                (
                    Verdict::NoGo,
                    format!(
                        "{}: no difference beyond noise in {n} samples, fewer than the {} needed; sample more",
                        step.step, spec.min_samples
                    ),
                )
            } else {
                (
                    Verdict::Go,
                    format!(
                        "{}: no difference beyond noise in {n} samples (rate ≤ {} at 95%)",
                        step.step,
                        pct(interval.high)
                    ),
                )
            };
            rows.push(ParityRow {
                step: step.step.clone(),
                field: EVERY_FIELD.into(),
                differing: 0,
                compared: n,
                interval,
                critical: false,
                verdict,
                reason,
                examples: Vec::new(),
            });
        } else {
            rows.extend(beyond);
        }
    }
    ParityResult {
        samples: record.samples,
        complete: record.complete,
        rows,
        noise,
    }
}

fn pct(p: f64) -> String {
    let v = p * 100.0;
    if v == 0.0 || v >= 10.0 {
        format!("{v:.0}%")
    } else {
        format!("{v:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parity::{DiffKind, FieldDiff, StepParity};
    use crate::scenario::PointerGlob;

    fn step(compared: u64, noise: Vec<FieldCount>, fields: Vec<FieldDiff>) -> StepParity {
        StepParity {
            step: "f/s".into(),
            safe: true,
            compared,
            noise_pairs: compared,
            skipped: 0,
            noise,
            fields,
            untracked: 0,
        }
    }

    fn field(name: &str, count: u64, missing: u64) -> FieldDiff {
        FieldDiff {
            field: name.into(),
            count,
            missing,
            examples: vec![Example {
                request_id: 1,
                at: name.into(),
                kind: if missing > 0 {
                    DiffKind::Missing
                } else {
                    DiffKind::Changed
                },
                base: Some("1".into()),
                candidate: None,
            }],
        }
    }

    fn record(steps: Vec<StepParity>) -> ParityRecord {
        ParityRecord {
            schema: crate::parity::PARITY_SCHEMA.into(),
            base: "legacy".into(),
            candidate: "dagger".into(),
            samples: 100,
            complete: true,
            steps,
        }
    }

    fn noise(name: &str, missing: u64) -> FieldCount {
        FieldCount {
            field: name.into(),
            count: 50,
            missing,
        }
    }

    #[test]
    fn noise_is_never_reported_and_a_clean_step_is_go_with_its_bound() {
        let r = record(vec![step(
            100,
            vec![noise("/run_id", 0)],
            vec![field("/run_id", 100, 0)],
        )]);
        let result = judge_parity(&r, &ParitySpec::default());
        assert_eq!(result.rows.len(), 1);
        let row = &result.rows[0];
        assert_eq!(
            (row.field.as_str(), row.verdict),
            (EVERY_FIELD, Verdict::Go)
        );
        assert!(row.interval.high < 0.04, "{row:?}");
        assert_eq!(result.noise[0].fields[0].field, "/run_id");
    }

    #[test]
    fn a_dropped_field_rolls_back_a_changed_one_holds_a_critical_one_rolls_back() {
        let r = record(vec![step(
            60,
            vec![noise("/created_at", 0)],
            vec![
                field("/artifacts", 60, 60),
                field("/status", 60, 0),
                // A noisy value the candidate drops is still a dropped field.
                field("/created_at", 60, 2),
            ],
        )]);
        let result = judge_parity(&r, &ParitySpec::default());
        let verdict = |f: &str| {
            result
                .rows
                .iter()
                .find(|r| r.field == f)
                .map(|r| (r.verdict, r.differing))
        };
        assert_eq!(verdict("/artifacts"), Some((Verdict::Rollback, 60)));
        assert_eq!(verdict("/status"), Some((Verdict::NoGo, 60)));
        assert_eq!(verdict("/created_at"), Some((Verdict::Rollback, 2)));
        let critical = ParitySpec {
            critical: vec![PointerGlob::parse("/status").expect("glob")],
            missing_is_critical: false,
            ..ParitySpec::default()
        };
        let result = judge_parity(&r, &critical);
        assert_eq!(
            result.rows.iter().map(|r| r.verdict).collect::<Vec<_>>(),
            [Verdict::NoGo, Verdict::Rollback, Verdict::NoGo]
        );
    }

    #[test]
    fn too_few_samples_or_none_is_no_go_and_a_margin_can_prove_a_rare_difference() {
        let few = judge_parity(
            &record(vec![step(10, vec![], vec![])]),
            &ParitySpec::default(),
        );
        assert_eq!(few.rows[0].verdict, Verdict::NoGo);
        let none = judge_parity(
            &record(vec![step(0, vec![], vec![])]),
            &ParitySpec::default(),
        );
        assert!(none.rows[0].reason.contains("no sample compared"));
        let rare = record(vec![step(2000, vec![], vec![field("/x", 2, 0)])]);
        let margin = ParitySpec {
            margin: 0.01,
            ..ParitySpec::default()
        };
        assert_eq!(judge_parity(&rare, &margin).rows[0].verdict, Verdict::Go);
        assert_eq!(
            judge_parity(&rare, &ParitySpec::default()).rows[0].verdict,
            Verdict::NoGo
        );
    }

    #[test]
    fn an_optional_field_the_base_itself_sometimes_lacks_is_noise() {
        let r = record(vec![step(
            100,
            vec![noise("/hint", 3)],
            vec![field("/hint", 40, 40)],
        )]);
        assert_eq!(
            judge_parity(&r, &ParitySpec::default()).rows[0].verdict,
            Verdict::Go
        );
    }

    /// Operating characteristic: answers whose `id` is random per answer (and whose
    /// `flag` is a coin toss) on both paths, 1 000 seeded trials of 40 samples: the
    /// noise is learned every time, so no trial reports either field (false-alarm rate
    /// 0 of 1 000), while a candidate that drops `name` is caught in every trial.
    #[test]
    fn random_fields_are_never_reported_over_a_thousand_seeded_trials() {
        use crate::parity::{Answer, ParityTally, differences};
        use rand::{Rng, SeedableRng};
        let spec = ParitySpec::default();
        let answer = |rng: &mut rand_chacha::ChaCha8Rng, with_name: bool| {
            let id: u64 = rng.random();
            let flag: bool = rng.random();
            let name = if with_name { r#","name":"x""# } else { "" };
            Answer {
                status: Some(200),
                headers: Vec::new(),
                body: format!(r#"{{"id":"{id:x}","flag":{flag}{name}}}"#).into_bytes(),
            }
        };
        let (mut false_alarms, mut caught) = (0, 0);
        for trial in 0..1_000u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(trial);
            let mut equal = ParityTally::new("a", "b", &[("f/s".into(), true)]);
            let mut dropped = ParityTally::new("a", "b", &[("f/s".into(), true)]);
            for sample in 0..40 {
                let (a, b) = (answer(&mut rng, true), answer(&mut rng, true));
                let (c, d) = (answer(&mut rng, true), answer(&mut rng, false));
                equal.noise(0, &differences(&a, &b, &spec));
                equal.compared(0, sample, &differences(&a, &c, &spec));
                dropped.noise(0, &differences(&a, &b, &spec));
                dropped.compared(0, sample, &differences(&a, &d, &spec));
            }
            let judged = judge_parity(&record_of(equal), &spec);
            false_alarms += usize::from(judged.rows.iter().any(|r| r.differing > 0));
            let judged = judge_parity(&record_of(dropped), &spec);
            caught += usize::from(
                judged
                    .rows
                    .iter()
                    .any(|r| r.field == "/name" && r.verdict == Verdict::Rollback),
            );
        }
        assert_eq!((false_alarms, caught), (0, 1_000));
    }

    fn record_of(tally: crate::parity::ParityTally) -> ParityRecord {
        tally.finish()
    }
}
