//! Rendering for people and machines. Reporters only present what was computed.

pub mod run_table;

pub use run_table::run_summary_table;
