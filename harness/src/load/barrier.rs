//! A start barrier for segments: each of N segment processes leaves a file saying when it
//! was ready in a folder they share (a volume every pod of a Kubernetes Indexed Job
//! mounts), and once all N files are there every segment starts at the same instant: the
//! latest of the N ready times plus [`MARGIN`]. The start is a function of the files'
//! contents only, so segments that see the last file at different moments still agree
//! on it; nobody has to guess beforehand how long the pods take to be scheduled, as a
//! fixed `--start-at` must.
//!
//! A file is `segment-<I>.ready`, one line: the instant in RFC 3339 UTC to the
//! millisecond. It is written to a temporary name and renamed, so a reader never sees
//! half of it. The folder must be fresh for each run: files left from an earlier run
//! would make its start the past.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::segment::Segment;

/// Time from the last segment's ready to the common start: for the other segments to see
/// its file (polled every [`POLL`]; a network file system may show it later still).
pub const MARGIN: Duration = Duration::from_secs(5);

/// How often the folder is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Why the barrier did not give a start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BarrierError {
    /// The folder or this segment's file cannot be written or read.
    #[error("start barrier {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// A ready file that does not hold an instant.
    #[error(
        "start barrier file {} holds `{text}`, not an RFC 3339 instant; give every run a fresh barrier folder",
        path.display()
    )]
    Corrupt { path: PathBuf, text: String },
    /// Not every segment was ready within the timeout.
    #[error(
        "start barrier {}: segment(s) {missing} of {count} not ready after {waited}; start them, or raise --barrier-timeout",
        dir.display()
    )]
    Timeout {
        dir: PathBuf,
        missing: String,
        count: u32,
        waited: String,
    },
    /// A ready file older than any segment waits: left by an earlier run.
    #[error(
        "start barrier file {} says its segment was ready at {at}, longer ago than --barrier-timeout: it is an earlier run's; give every run a fresh barrier folder",
        path.display()
    )]
    Stale { path: PathBuf, at: String },
    /// A signal ended the wait.
    #[error("interrupted while waiting at the start barrier: nothing was run")]
    Interrupted,
}

/// The file segment `index` leaves in `dir`.
pub fn ready_file(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("segment-{index}.ready"))
}

/// The common start given every segment's ready time: the latest plus [`MARGIN`].
pub fn start_from(ready: &[SystemTime]) -> Option<SystemTime> {
    ready.iter().max().map(|latest| *latest + MARGIN)
}

/// Leaves this segment's ready file (ready at `now`) in `dir`, creating the folder.
pub fn arrive(dir: &Path, segment: Segment, now: SystemTime) -> Result<(), BarrierError> {
    let io = |path: &Path, e: std::io::Error| BarrierError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let file = ready_file(dir, segment.index);
    let temporary = dir.join(format!(
        ".segment-{}.ready.{}",
        segment.index,
        std::process::id()
    ));
    let line = format!("{}\n", humantime::format_rfc3339_millis(now));
    std::fs::write(&temporary, line).map_err(|e| io(&temporary, e))?;
    std::fs::rename(&temporary, &file).map_err(|e| io(&file, e))
}

/// The ready times of segments `0..count` found in `dir`, or the indexes still missing.
pub fn read(dir: &Path, count: u32) -> Result<Result<Vec<SystemTime>, Vec<u32>>, BarrierError> {
    let mut ready = Vec::with_capacity(count as usize);
    let mut missing = Vec::new();
    for index in 0..count {
        let path = ready_file(dir, index);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let line = text.trim();
                match humantime::parse_rfc3339(line) {
                    Ok(at) => ready.push(at),
                    Err(_) => {
                        let text: String =
                            line.chars().take(40).filter(|c| !c.is_control()).collect();
                        return Err(BarrierError::Corrupt { path, text });
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(index),
            Err(e) => {
                return Err(BarrierError::Io {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(if missing.is_empty() {
        Ok(ready)
    } else {
        Err(missing)
    })
}

/// The first ready time from before `arrived − timeout − MARGIN`: a segment that had
/// waited that long would have given up, so the file is an earlier run's (the margin
/// allows for the clocks of different machines).
pub fn stale(ready: &[SystemTime], arrived: SystemTime, timeout: Duration) -> Option<usize> {
    let oldest = arrived.checked_sub(timeout.saturating_add(MARGIN))?;
    ready.iter().position(|at| *at < oldest)
}

/// Leaves this segment's file, then waits until all segments' files are in `dir` (or
/// `timeout` passes, or `stopped` says a signal came) and returns the common start.
pub fn wait(
    dir: &Path,
    segment: Segment,
    timeout: Duration,
    stopped: &dyn Fn() -> bool,
) -> Result<SystemTime, BarrierError> {
    let arrived = SystemTime::now();
    arrive(dir, segment, arrived)?;
    let began = std::time::Instant::now();
    loop {
        let missing = match read(dir, segment.count)? {
            Ok(ready) => {
                if let Some(index) = stale(&ready, arrived, timeout) {
                    return Err(BarrierError::Stale {
                        path: ready_file(dir, index as u32),
                        at: humantime::format_rfc3339_millis(ready[index]).to_string(),
                    });
                }
                return Ok(start_from(&ready).expect("a segment count is at least 1"));
            }
            Err(missing) => missing,
        };
        if stopped() {
            return Err(BarrierError::Interrupted);
        }
        if began.elapsed() >= timeout {
            return Err(BarrierError::Timeout {
                dir: dir.to_owned(),
                missing: crate::text::some_of(&missing, missing.len()),
                count: segment.count,
                waited: humantime::format_duration(timeout).to_string(),
            });
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).expect("instant")
    }

    #[test]
    fn the_start_is_the_latest_ready_plus_the_margin_whatever_the_order() {
        let ready = [
            at("2026-12-03T10:00:01.250Z"),
            at("2026-12-03T10:00:07.500Z"),
            at("2026-12-03T10:00:00Z"),
        ];
        let mut reversed = ready;
        reversed.reverse();
        assert_eq!(start_from(&ready), Some(at("2026-12-03T10:00:12.500Z")));
        assert_eq!(start_from(&reversed), start_from(&ready));
        assert_eq!(start_from(&[]), None);
    }

    #[test]
    fn segments_arriving_at_different_times_agree_on_one_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let barrier = dir.path().join("barrier");
        let segment = |i| Segment::new(i, 3).expect("segment");
        arrive(&barrier, segment(0), at("2026-12-03T10:00:00Z")).expect("arrive");
        arrive(&barrier, segment(2), at("2026-12-03T10:00:03Z")).expect("arrive");
        assert_eq!(read(&barrier, 3).expect("read"), Err(vec![1]));
        arrive(&barrier, segment(1), at("2026-12-03T10:00:01.5Z")).expect("arrive");
        let ready = read(&barrier, 3).expect("read").expect("all ready");
        assert_eq!(start_from(&ready), Some(at("2026-12-03T10:00:08Z")));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&barrier)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("name"))
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_file_older_than_the_timeout_is_an_earlier_runs() {
        let arrived = at("2026-12-03T10:00:00Z");
        let timeout = Duration::from_secs(600);
        let fresh = [at("2026-12-03T09:50:00Z"), arrived];
        assert_eq!(stale(&fresh, arrived, timeout), None);
        let old = [arrived, at("2026-12-02T10:00:00Z")];
        assert_eq!(stale(&old, arrived, timeout), Some(1));
        // `--barrier-timeout 18446744073709551615s` waits, it does not panic.
        let forever = Duration::from_secs(u64::MAX);
        assert_eq!(stale(&old, arrived, forever), None);

        let dir = tempfile::tempdir().expect("tempdir");
        let yesterday = SystemTime::now() - Duration::from_secs(86_400);
        arrive(dir.path(), Segment::new(1, 2).expect("segment"), yesterday).expect("arrive");
        let error = wait(
            dir.path(),
            Segment::new(0, 2).expect("segment"),
            timeout,
            &|| false,
        )
        .expect_err("stale");
        assert!(matches!(error, BarrierError::Stale { .. }), "{error}");
        assert!(error.to_string().contains("segment-1.ready"), "{error}");
    }

    #[test]
    fn a_file_that_is_no_instant_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(ready_file(dir.path(), 0), "soon\u{1b}[2J\n").expect("write");
        let error = read(dir.path(), 1).expect_err("corrupt");
        let text = error.to_string();
        assert!(text.contains("segment-0.ready holds `soon[2J`"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn a_missing_segment_times_out_naming_it_and_a_signal_ends_the_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segment = Segment::new(0, 3).expect("segment");
        let error = wait(dir.path(), segment, Duration::from_millis(150), &|| false)
            .expect_err("never complete");
        assert!(
            error
                .to_string()
                .contains("segment(s) 1, 2 of 3 not ready after 150ms"),
            "{error}"
        );
        let error =
            wait(dir.path(), segment, Duration::from_secs(60), &|| true).expect_err("interrupted");
        assert_eq!(error, BarrierError::Interrupted);
        // A lone segment is its own barrier.
        let whole = Segment::new(0, 1).expect("segment");
        let start = wait(dir.path(), whole, Duration::ZERO, &|| false).expect("ready");
        let ready = read(dir.path(), 1).expect("read").expect("ready");
        assert_eq!(start, ready[0] + MARGIN);
    }
}
