//! Recording outcomes: HDR histograms per step, the per-second timeline, run records.
//!
//! Drivers feed [`Outcome`](crate::outcome::Outcome)s into a [`Recorder`] (one worker) or a
//! [`SharedRecorder`] (many threads), finish it into a [`Recording`], and turn that into a
//! [`RunRecord`] (`harness-run/v1`) with the run's metadata. Histograms travel in files as
//! base64 of the HdrHistogram V2 + DEFLATE encoding ([`codec`]).

pub mod codec;
pub mod env;
pub mod histogram;
pub mod merge;
pub mod meta;
pub mod recorder;
pub mod run;
pub mod shared;
pub mod timeline;

pub use codec::CodecError;
pub use env::{Environment, EnvironmentChange};
pub use histogram::{
    LATENCY_HIGH_US, LATENCY_LOW_US, LATENCY_SIGNIFICANT_DIGITS, add_histogram, latency_histogram,
    micros,
};
pub use meta::{LoadModelKind, LoadPlan, RunMeta, ScenarioRef};
pub use recorder::{Recorder, Recording, StepStats, Totals};
pub use run::{
    FaultRecord, KEEP_UP_SHARE, LoadSummary, RUN_SCHEMA, RecordError, RecordName, Recorded,
    RunRecord, SegmentRecord, StepRecord, check_summary,
};
pub use shared::{Progress, SharedRecorder};
pub use timeline::TimelinePoint;
