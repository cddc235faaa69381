//! Load drivers: the open model (arrival rate), the closed model (users, via goose),
//! and the outcome every request produces.

pub mod closed;
pub mod driver;
pub mod events;
pub mod flow;
pub mod http;
pub mod open;
pub mod outcome;
pub mod pick;
pub mod schedule;
pub mod stop;

pub use driver::{Drive, DriverReport, ProgressHook, drive};
pub use events::{EventLog, RequestEvent};
pub use flow::{IterationContext, ResolvedTarget, TargetError};
pub use http::HttpClient;
pub use outcome::{Outcome, OutcomeClass, REQUEST_ID_HEADER, StepIndex};
pub use stop::StopSignal;
