//! `harness merge`: the records of the N segments of one run (one scenario, path and
//! repetition, from `harness run --segment I/N`) joined into the record the whole plan
//! would have made on one machine. Pure: records in, a record or a refusal out.
//!
//! - Step histograms are added (HDR histograms of one configuration add losslessly), so
//!   every percentile of the merged step is that of all segments' samples together.
//! - Counts (load, classes, statuses, check failures, fault attempts and injections) and
//!   per-second series (timeline, steps' seconds) are summed on a common clock: each
//!   segment's seconds are shifted by how much later than the earliest segment it started
//!   (whole seconds; under `--start-at` the shift is its lateness, normally 0).
//! - A timeline second's p50 and p99 cannot be recomputed from the segments' (they keep
//!   no per-second histogram): the merged p99 is the highest segment's, an upper bound,
//!   and the p50 the count-weighted mean of theirs. The steps' histograms are exact.
//! - Resilience observations are recomputed from the segments' evidence (client
//!   requests, proxy attempts and fault windows, kept in each segment's record): request
//!   ids are unique across segments, so the join is the whole run's.
//! - Refused: records of different scenarios (hash), paths, repetitions, seeds, targets
//!   or segment counts; a record that is no segment; a missing or duplicated segment.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::run::{RunRecord, StepRecord};
use super::timeline::TimelinePoint;
use crate::resilience::{ClientEvent, FaultWindow, UpstreamEvent, observe};

/// A segment this much later than its scheduled start makes the merged record warn.
const LATE_WARNING_MS: f64 = 1000.0;

/// Which segments a merged record was made of.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergedFrom {
    /// How many segments.
    pub segments: u32,
    /// Each segment's environment fingerprint, in segment order.
    pub environments: Vec<String>,
    /// The latest start of any segment after its schedule, ms (with `--start-at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_ms_max: Option<f64>,
}

/// Why segments cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no run records to merge")]
    Empty,
    /// A record that is not a segment.
    #[error(
        "{0} is not a segment (its record has no `segment`): merge the records of `harness run --segment I/N`"
    )]
    NotASegment(String),
    /// Records that are not of one run.
    #[error(
        "{what} differ between the segments ({first} vs {other}): merge only the segments of one run"
    )]
    Different {
        /// What differs.
        what: &'static str,
        /// The first record's value.
        first: String,
        /// Another's.
        other: String,
    },
    /// A segment given twice.
    #[error("segment {index} of {count} is given twice; give each segment's record once")]
    Duplicate {
        /// Its index.
        index: u32,
        /// The count.
        count: u32,
    },
    /// A segment record whose segment facts cannot be (a damaged or edited record).
    #[error("{name}: {what}: the record was damaged or edited; run the segment again")]
    Damaged {
        /// The record.
        name: String,
        /// What cannot be.
        what: String,
    },
    /// Segments whose starts are too far apart to be one run.
    #[error(
        "segments {first} and {last} started {apart} apart: segments of one run start together (or within a day); merge only the segments of one run"
    )]
    Apart {
        /// The earliest segment.
        first: u32,
        /// The latest.
        last: u32,
        /// How far apart.
        apart: String,
    },
    /// Segments missing.
    #[error("segment(s) {missing} of {count} are missing; a merge needs all {count}")]
    Missing {
        /// Which, as `1, 3`.
        missing: String,
        /// The count.
        count: u32,
    },
    /// Histograms that do not add.
    #[error("step `{step}`: its histograms cannot be added ({why})")]
    Histogram {
        /// The step.
        step: String,
        /// Why.
        why: String,
    },
}

/// Merges the segment records of one run; `names` label them in errors.
pub fn merge(records: Vec<(String, RunRecord)>) -> Result<RunRecord, MergeError> {
    let Some((_, first)) = records.first() else {
        return Err(MergeError::Empty);
    };
    let count = first
        .segment
        .as_ref()
        .map(|s| s.count)
        .ok_or_else(|| MergeError::NotASegment(records[0].0.clone()))?;
    let mut by_index: BTreeMap<u32, RunRecord> = BTreeMap::new();
    for (name, record) in &records {
        let segment = record
            .segment
            .as_ref()
            .ok_or_else(|| MergeError::NotASegment(name.clone()))?;
        same(
            "scenario hashes",
            &first.scenario.hash,
            &record.scenario.hash,
        )?;
        same("paths", &first.path, &record.path)?;
        same("repetitions", &first.repetition, &record.repetition)?;
        same("seeds", &first.seed, &record.seed)?;
        same("targets", &first.target, &record.target)?;
        same("segment counts", &count, &segment.count)?;
        check_segment(segment, count).map_err(|what| MergeError::Damaged {
            name: name.clone(),
            what,
        })?;
        same("load models", &first.load.model, &record.load.model)?;
        same("step lists", &step_names(first), &step_names(record))?;
        if by_index.insert(segment.index, record.clone()).is_some() {
            return Err(MergeError::Duplicate {
                index: segment.index,
                count,
            });
        }
    }
    // Every index is below the count, so how many are missing is a difference; only the
    // first few are listed (a damaged count could be four billion).
    let absent = count as usize - by_index.len();
    if absent > 0 {
        let missing = (0..count).filter(|i| !by_index.contains_key(i));
        return Err(MergeError::Missing {
            missing: crate::text::some_of(missing, absent),
            count,
        });
    }
    let segments: Vec<RunRecord> = by_index.into_values().collect();
    check_together(&segments)?;
    join(segments, count)
}

/// How far apart segments of one run may start (or be late) and still be merged: their
/// timelines are laid out on one clock, a second per entry.
const MAX_APART: Duration = Duration::from_secs(86_400);

/// A segment's facts that a run writes and a merge relies on: numbered below the count,
/// late by a finite time within [`MAX_APART`], scheduled at an instant.
fn check_segment(segment: &super::run::SegmentRecord, count: u32) -> Result<(), String> {
    if segment.index >= count {
        return Err(format!(
            "segment {} of {count} cannot be (segments are numbered 0 to count − 1)",
            segment.index
        ));
    }
    if let Some(late) = segment.late_ms
        && !(0.0..=MAX_APART.as_secs_f64() * 1000.0).contains(&late)
    {
        return Err(format!(
            "a lateness of {late:.3e} ms cannot be (0 to a day)"
        ));
    }
    if let Some(at) = &segment.scheduled_start
        && humantime::parse_rfc3339(at).is_err()
    {
        return Err(format!(
            "scheduled start `{}` is not an RFC 3339 instant",
            crate::text::printable(at)
        ));
    }
    Ok(())
}

/// Refuses segments that started more than [`MAX_APART`] apart.
fn check_together(segments: &[RunRecord]) -> Result<(), MergeError> {
    let starts: Vec<(u32, SystemTime)> = segments
        .iter()
        .filter_map(|s| Some((s.segment.as_ref()?.index, start_of(s)?)))
        .collect();
    let first = starts.iter().min_by_key(|(_, at)| *at);
    let last = starts.iter().max_by_key(|(_, at)| *at);
    if let (Some(&(first, from)), Some(&(last, to))) = (first, last)
        && let Ok(apart) = to.duration_since(from)
        && apart > MAX_APART
    {
        return Err(MergeError::Apart {
            first,
            last,
            apart: humantime::format_duration(Duration::from_secs(apart.as_secs())).to_string(),
        });
    }
    Ok(())
}

/// A sum of counts from records, saturating: a damaged record's count never panics.
fn total(counts: impl Iterator<Item = u64>) -> u64 {
    counts.fold(0, u64::saturating_add)
}

/// `*count += n`, saturating.
fn add(count: &mut u64, n: u64) {
    *count = count.saturating_add(n);
}

fn same<T: PartialEq + std::fmt::Debug>(
    what: &'static str,
    first: &T,
    other: &T,
) -> Result<(), MergeError> {
    if first == other {
        Ok(())
    } else {
        Err(MergeError::Different {
            what,
            first: format!("{first:?}"),
            other: format!("{other:?}"),
        })
    }
}

fn step_names(record: &RunRecord) -> Vec<(String, String)> {
    record
        .steps
        .iter()
        .map(|s| (s.flow.clone(), s.step.clone()))
        .collect()
}

/// When a segment's run started: its scheduled start plus its lateness when it had one,
/// else its `started_at` (to the second).
fn start_of(record: &RunRecord) -> Option<SystemTime> {
    let segment = record.segment.as_ref()?;
    match (&segment.scheduled_start, segment.late_ms) {
        (Some(at), Some(late)) => humantime::parse_rfc3339(at).ok().and_then(|at| {
            at.checked_add(Duration::try_from_secs_f64(late.max(0.0) / 1000.0).ok()?)
        }),
        _ => humantime::parse_rfc3339(&record.started_at).ok(),
    }
}

/// Whole seconds each segment started after the earliest one.
fn shifts(segments: &[RunRecord]) -> Vec<usize> {
    let starts: Vec<Option<SystemTime>> = segments.iter().map(start_of).collect();
    let Some(earliest) = starts.iter().flatten().min().copied() else {
        return vec![0; segments.len()];
    };
    starts
        .iter()
        .map(|s| {
            s.and_then(|s| s.duration_since(earliest).ok())
                .map(|d| d.as_secs_f64().round() as usize)
                .unwrap_or(0)
        })
        .collect()
}

fn join(segments: Vec<RunRecord>, count: u32) -> Result<RunRecord, MergeError> {
    let shifts = shifts(&segments);
    let starts: Vec<Option<SystemTime>> = segments.iter().map(start_of).collect();
    let mut merged = segments[0].clone();
    merged.segment = None;
    merged.started_at = segments
        .iter()
        .map(|s| s.started_at.clone())
        .min()
        .unwrap_or_default();
    merged.complete = segments.iter().all(|s| s.complete);
    merged.load.sent = total(segments.iter().map(|s| s.load.sent));
    merged.load.completed = total(segments.iter().map(|s| s.load.completed));
    merged.load.dropped = total(segments.iter().map(|s| s.load.dropped));
    merged.load.achieved_rate = achieved_rate(&segments, &starts);
    merged.load.target_rate = segments
        .iter()
        .map(|s| s.load.target_rate)
        .sum::<Option<f64>>();
    merged.load.users = segments
        .iter()
        .map(|s| s.load.users)
        .try_fold(0u32, |sum, n| Some(sum.saturating_add(n?)));
    merged.load.max_in_flight = segments
        .iter()
        .map(|s| s.load.max_in_flight)
        .try_fold(0u64, |sum, n| Some(sum.saturating_add(n?)));
    merged.load.duration_s = segments
        .iter()
        .map(|s| s.load.duration_s)
        .fold(0.0, f64::max);
    merged.load.dispatch_lag_p99_us = segments
        .iter()
        .filter_map(|s| s.load.dispatch_lag_p99_us)
        .max();
    for (i, step) in merged.steps.iter_mut().enumerate() {
        *step = join_steps(segments.iter().map(|s| &s.steps[i]), &shifts)?;
    }
    merged.timeline = join_timelines(&segments, &shifts);
    merged.notes = union(segments.iter().flat_map(|s| s.notes.iter()));
    merged.notes.push(format!(
        "merged from {count} segments; a second's p99 in the timeline is the highest segment's (an upper bound), the steps' histograms are exact"
    ));
    merged.warnings = union(segments.iter().flat_map(|s| s.warnings.iter()));
    for (i, fault) in merged.faults.iter_mut().enumerate() {
        let of = |s: &RunRecord| s.faults.get(i).map(|f| (f.attempts, f.injected));
        fault.attempts = total(segments.iter().filter_map(of).map(|(a, _)| a));
        fault.injected = total(segments.iter().filter_map(of).map(|(_, n)| n));
    }
    merged.resilience = rejoin_resilience(&segments, &starts);
    if merged.telemetry.is_some() || segments.iter().any(|s| s.telemetry.is_some()) {
        merged.telemetry = None;
        merged
            .notes
            .push("the segments' engine telemetry is not merged".into());
    }
    if segments.iter().filter(|s| s.metrics.is_some()).count() > 1 {
        merged.notes.push(
            "the service's scraped metrics are segment 0's: every segment scraped the same service"
                .into(),
        );
    }
    let late = segments
        .iter()
        .filter_map(|s| s.segment.as_ref().and_then(|g| g.late_ms))
        .reduce(f64::max);
    if let Some(late) = late.filter(|l| *l > LATE_WARNING_MS) {
        merged.warnings.push(format!(
            "the segments did not start together: one started {:.1} s after its scheduled start, so their load overlapped for less than the whole run",
            late / 1000.0
        ));
    }
    merged.merged = Some(MergedFrom {
        segments: count,
        environments: segments
            .iter()
            .map(|s| s.environment.fingerprint())
            .collect(),
        late_ms_max: late,
    });
    Ok(merged)
}

/// The merged run's achieved rate: every request sent over the span from the first
/// segment's start to the last one's end, on the common clock. Segments that ran together
/// give the sum of their rates; a segment that started late stretches the span, so the
/// merged run shows that the target never had the planned rate at once, and the
/// achieved-rate check of a compare holds it back (INCONCLUSIVE) instead of judging it at
/// a load it did not see.
fn achieved_rate(segments: &[RunRecord], starts: &[Option<SystemTime>]) -> f64 {
    let sent = total(segments.iter().map(|s| s.load.sent));
    let earliest = starts.iter().flatten().min().copied();
    let span = segments
        .iter()
        .zip(starts)
        .map(|(s, start)| {
            // The segment's own window: what it sent over its achieved rate.
            let window = if s.load.achieved_rate > 0.0 {
                s.load.sent as f64 / s.load.achieved_rate
            } else {
                s.load.duration_s
            };
            let offset = match (earliest, start) {
                (Some(e), Some(s)) => s.duration_since(e).unwrap_or_default().as_secs_f64(),
                _ => 0.0,
            };
            offset + window
        })
        .fold(0.0, f64::max);
    if span > 0.0 {
        sent as f64 / span
    } else {
        segments.iter().map(|s| s.load.achieved_rate).sum()
    }
}

fn union<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    lines.filter(|l| seen.insert(l.as_str())).cloned().collect()
}

fn join_steps<'a>(
    steps: impl Iterator<Item = &'a StepRecord>,
    shifts: &[usize],
) -> Result<StepRecord, MergeError> {
    let mut merged: Option<StepRecord> = None;
    for (step, &shift) in steps.zip(shifts) {
        let Some(m) = merged.as_mut() else {
            let mut first = step.clone();
            first.seconds = shifted(&step.seconds, shift, [0, 0]);
            merged = Some(first);
            continue;
        };
        let why = |e: hdrhistogram::AdditionError| MergeError::Histogram {
            step: format!("{}/{}", step.flow, step.step),
            why: e.to_string(),
        };
        m.ok.add(&step.ok).map_err(why)?;
        m.failed.add(&step.failed).map_err(why)?;
        for (class, n) in &step.classes {
            add(m.classes.entry(*class).or_default(), *n);
        }
        for (status, n) in &step.statuses {
            add(m.statuses.entry(*status).or_default(), *n);
        }
        for (check, n) in &step.check_failures {
            add(m.check_failures.entry(check.clone()).or_default(), *n);
        }
        let seconds = shifted(&step.seconds, shift, [0, 0]);
        if m.seconds.len() < seconds.len() {
            m.seconds.resize(seconds.len(), [0, 0]);
        }
        for (total, [n, failed]) in m.seconds.iter_mut().zip(seconds) {
            add(&mut total[0], n);
            add(&mut total[1], failed);
        }
    }
    Ok(merged.unwrap_or_else(|| StepRecord::from_stats("?", "?", Default::default())))
}

/// `series` moved `shift` places later, the gap filled with `empty`.
fn shifted<T: Clone>(series: &[T], shift: usize, empty: T) -> Vec<T> {
    let mut out = vec![empty; shift];
    out.extend_from_slice(series);
    out
}

fn join_timelines(segments: &[RunRecord], shifts: &[usize]) -> Vec<TimelinePoint> {
    let len = segments
        .iter()
        .zip(shifts)
        .map(|(s, shift)| s.timeline.len() + shift)
        .max()
        .unwrap_or(0);
    let mut merged: Vec<TimelinePoint> = (0..len)
        .map(|i| TimelinePoint::empty(u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let mut p50_weight = vec![0.0_f64; len];
    for (segment, &shift) in segments.iter().zip(shifts) {
        for point in &segment.timeline {
            let i = point.second as usize + shift;
            let Some(m) = merged.get_mut(i) else {
                continue;
            };
            add(&mut m.sent, point.sent);
            add(&mut m.ok, point.ok);
            add(&mut m.failed, point.failed);
            m.p99_us = m.p99_us.max(point.p99_us);
            p50_weight[i] += point.p50_us as f64 * point.ok as f64;
        }
    }
    for (m, weight) in merged.iter_mut().zip(p50_weight) {
        if m.ok > 0 {
            m.p50_us = (weight / m.ok as f64).round() as u64;
        }
    }
    merged
}

/// The observations recomputed over every segment's requests and attempts, on the
/// earliest segment's clock; the first segment's (unchanged) when any lacks evidence.
fn rejoin_resilience(
    segments: &[RunRecord],
    starts: &[Option<SystemTime>],
) -> Vec<crate::resilience::Observation> {
    let evidence: Option<Vec<&crate::resilience::Evidence>> = segments
        .iter()
        .map(|s| s.segment.as_ref().and_then(|g| g.evidence.as_ref()))
        .collect();
    let Some(evidence) = evidence else {
        return segments[0].resilience.clone();
    };
    let earliest = starts.iter().flatten().min().copied();
    let offset = |i: usize| -> Duration {
        match (earliest, starts.get(i).copied().flatten()) {
            (Some(e), Some(s)) => s.duration_since(e).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    };
    let windows: Vec<FaultWindow> = evidence[0].windows.clone();
    let mut client: Vec<ClientEvent> = Vec::new();
    let mut upstream: Vec<UpstreamEvent> = Vec::new();
    let mut run_end = Duration::ZERO;
    for (i, e) in evidence.iter().enumerate() {
        let shift = offset(i);
        client.extend(e.client.iter().cloned().map(|mut c| {
            c.at += shift;
            c
        }));
        upstream.extend(e.upstream.iter().cloned().map(|mut u| {
            u.at += shift;
            u
        }));
        run_end = run_end.max(e.run_end + shift);
    }
    client.sort_by_key(|c| c.at);
    upstream.sort_by_key(|u| u.at);
    observe(&windows, &client, &upstream, run_end)
}

/// The segment facts of a record, for tests.
#[cfg(test)]
fn segment(index: u32, count: u32) -> super::run::SegmentRecord {
    super::run::SegmentRecord {
        index,
        count,
        scheduled_start: None,
        late_ms: None,
        evidence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::OutcomeClass;
    use hdrhistogram::Histogram;
    use rand::{Rng, SeedableRng};

    fn histogram(samples: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for &s in samples {
            h.record(s).expect("in range");
        }
        h
    }

    fn record_of(index: u32, count: u32, samples: &[u64]) -> RunRecord {
        let mut record = super::super::run::tests::record();
        let mut step = StepRecord::from_stats("f", "s", Default::default());
        step.ok = histogram(samples);
        step.classes.insert(OutcomeClass::Ok, samples.len() as u64);
        step.seconds = vec![[samples.len() as u64, 0]];
        record.steps = vec![step];
        record.load.sent = samples.len() as u64;
        record.segment = Some(segment(index, count));
        record
    }

    #[test]
    fn merged_percentiles_are_those_of_the_concatenated_samples() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let parts: Vec<Vec<u64>> = (0..4)
            .map(|_| {
                (0..5000)
                    .map(|_| (rng.random::<f64>().powi(3) * 2e6) as u64 + 1)
                    .collect()
            })
            .collect();
        let records = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("s{i}"), record_of(i as u32, 4, p)))
            .collect();
        let merged = merge(records).expect("merges");
        let all: Vec<u64> = parts.concat();
        let whole = histogram(&all);
        for q in [0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.steps[0].ok.value_at_quantile(q),
                whole.value_at_quantile(q),
                "q {q}"
            );
        }
        assert_eq!(merged.load.sent, 20_000);
        assert_eq!(merged.steps[0].seconds, vec![[20_000, 0]]);
        assert!(merged.segment.is_none());
        assert_eq!(merged.merged.as_ref().map(|m| m.segments), Some(4));
    }

    #[test]
    fn a_late_segment_stretches_the_span_so_the_merged_rate_falls_short() {
        let together: Vec<(String, RunRecord)> = (0..2)
            .map(|i| {
                let mut r = record_of(i, 2, &[5; 1000]);
                r.load.achieved_rate = 100.0;
                let g = r.segment.as_mut().expect("segment");
                g.scheduled_start = Some("2026-12-03T10:00:00.000Z".into());
                g.late_ms = Some(1.0);
                (format!("s{i}"), r)
            })
            .collect();
        let merged = merge(together.clone()).expect("merges");
        assert!(
            (merged.load.achieved_rate - 200.0).abs() < 0.1,
            "{}",
            merged.load.achieved_rate
        );
        // One segment 5 s late on a 10 s run: 2 000 requests over 15 s.
        let mut late = together;
        late[1].1.segment.as_mut().expect("segment").late_ms = Some(5_001.0);
        let merged = merge(late).expect("merges");
        assert!(
            (merged.load.achieved_rate - 2000.0 / 15.0).abs() < 0.1,
            "{}",
            merged.load.achieved_rate
        );
        assert!(
            merged
                .warnings
                .iter()
                .any(|w| w.contains("did not start together"))
        );
    }

    #[test]
    fn missing_duplicated_and_foreign_segments_are_refused() {
        let r = |i, n| (format!("s{i}"), record_of(i, n, &[5, 6]));
        assert_eq!(
            merge(vec![r(0, 3), r(2, 3)]),
            Err(MergeError::Missing {
                missing: "1".into(),
                count: 3
            })
        );
        // A damaged record: numbered past its count, or a count of four billion (answered
        // at once, listing only the first few missing).
        assert!(matches!(
            merge(vec![r(0, 2), r(7, 2)]),
            Err(MergeError::Damaged { ref name, ref what }) if name == "s7" && what.contains("segment 7 of 2")
        ));
        assert!(matches!(
            merge(vec![r(0, 0)]),
            Err(MergeError::Damaged { .. })
        ));
        // Lateness and starts a run cannot write: refused, never a panic or a timeline of
        // years.
        let with = |i, late: Option<f64>, at: &str| {
            let (name, mut record) = r(i, 2);
            let segment = record.segment.as_mut().expect("segment");
            segment.late_ms = late;
            segment.scheduled_start = Some(at.to_owned());
            (name, record)
        };
        let now = "2026-12-03T10:00:00Z";
        for (late, at) in [(Some(1e308), now), (Some(-1.0), now), (None, "yesterday")] {
            let refused = merge(vec![with(0, None, now), with(1, late, at)]);
            assert!(
                matches!(refused, Err(MergeError::Damaged { .. })),
                "{refused:?}"
            );
        }
        let far = merge(vec![
            with(0, None, now),
            with(1, Some(0.0), "9999-12-31T23:59:59Z"),
        ]);
        assert!(
            matches!(
                far,
                Err(MergeError::Apart {
                    first: 0,
                    last: 1,
                    ..
                })
            ),
            "{far:?}"
        );
        let late_but_merged = merge(vec![with(0, Some(0.0), now), with(1, Some(90_000.0), now)])
            .expect("a segment 90 s late is merged");
        // The late segment's three seconds laid out 90 s after the other's.
        assert_eq!(late_but_merged.timeline.len(), 90 + 3);
        assert_eq!(late_but_merged.timeline[90].sent, 100);
        assert_eq!(
            merge(vec![r(0, u32::MAX), r(3, u32::MAX)]),
            Err(MergeError::Missing {
                missing: format!("1, 2, 4, 5, 6, 7, 8, 9, 10, 11 and {} more", u32::MAX - 12),
                count: u32::MAX
            })
        );
        assert!(matches!(
            merge(vec![r(0, 2), r(0, 2), r(1, 2)]),
            Err(MergeError::Duplicate { index: 0, count: 2 })
        ));
        assert!(matches!(
            merge(vec![r(0, 2), r(1, 3)]),
            Err(MergeError::Different {
                what: "segment counts",
                ..
            })
        ));
        let mut other = r(1, 2);
        other.1.scenario.hash = "00".repeat(32);
        assert!(matches!(
            merge(vec![r(0, 2), other]),
            Err(MergeError::Different {
                what: "scenario hashes",
                ..
            })
        ));
        let mut other = r(1, 2);
        other.1.repetition = 2;
        assert!(matches!(
            merge(vec![r(0, 2), other]),
            Err(MergeError::Different {
                what: "repetitions",
                ..
            })
        ));
        let mut whole = r(1, 2);
        whole.1.segment = None;
        assert!(matches!(
            merge(vec![r(0, 2), whole]),
            Err(MergeError::NotASegment(_))
        ));
        assert_eq!(merge(Vec::new()), Err(MergeError::Empty));
    }
}
