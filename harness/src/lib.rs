//! harness: load tests the legacy and the Dagger path of a service, injects faults,
//! compares runs against baselines and decides GO / NO-GO / ROLLBACK.
//!
//! The binary is a thin shell over [`app::execute`]; tests call the same library
//! functions in process.

pub mod app;
pub mod atomic_file;
pub mod baseline;
pub mod chaos;
pub mod cli;
pub mod compare;
pub mod correlation;
pub mod exit;
pub mod export;
pub mod fault;
pub mod gate;
pub mod input;
pub mod kinds;
pub mod listener;
pub mod load;
pub mod metrics;
pub mod otlp;
pub mod outcome;
pub mod parity;
pub mod pipeline;
pub mod policy;
pub mod record;
pub mod reference;
pub mod report;
pub mod resilience;
pub mod runner;
pub mod scenario;
pub mod scrape;
pub mod server;
pub mod text;
pub mod tls;
pub mod toml_diagnostics;
pub mod units;

pub use exit::{AppError, ExitStatus};
