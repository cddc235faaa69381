//! Scenario files: types, parsing, validation and hashing.
//!
//! [`load`] and [`parse_str`] turn a TOML scenario into a validated [`Scenario`] or a
//! [`ScenarioError`] that names the file, line and column and says how to fix it.

mod actions;
pub mod checks;
mod error;
mod expect;
mod explain;
mod faults;
mod flows;
mod hash;
mod interpolate;
mod mcp;
mod metric_rules;
mod metrics;
pub mod model;
mod parity;
mod parse;
mod paths;
mod raw;
mod replay;
mod tls;
mod validate;

pub use checks::{AnswerView, Check, CheckFailure, CheckKind, ExtractSource, ValueTest};
pub use error::{Diagnostic, ScenarioError};
pub use expect::{EXPECTATIONS, ExpectSpec, Threshold};
pub use hash::scenario_hash;
pub use model::*;
pub use parity::{ParitySpec, PointerGlob, split_pointer};
pub use parse::{load, parse_str};
pub(crate) use raw::RawTls;
pub(crate) use tls::tls_files;
