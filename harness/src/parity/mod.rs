//! Functional parity: the candidate path's answers against the base path's, field by
//! field, with the noise filtered out.
//!
//! A parity pass ([`pass`]) samples iterations of the scenario's flows, after the
//! measured runs so it cannot disturb their figures: each step is sent to the base path
//! twice and to the candidate once, with the same inputs (each side's later steps use
//! the variables its own answers gave). [`diff`] compares two answers as structured
//! data; the differences between the two base answers are noise (timestamps, ids), and
//! only the candidate's differences on other fields count. [`tally`] accumulates them
//! into a [`ParityRecord`]; `compare::parity` judges it.

pub mod diff;
pub mod pass;
pub mod tally;

pub use diff::{Answer, DiffKind, Difference, differences};
pub use pass::{ParityError, run_parity};
pub use tally::{
    Example, FieldCount, FieldDiff, PARITY_SCHEMA, ParityRecord, ParityTally, StepParity,
};
