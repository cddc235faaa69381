//! Load drivers: the open model (arrival rate), the closed model (users, via goose),
//! feeding one [`Outcome`](crate::outcome::Outcome) per request to the recorder.

pub mod closed;
pub mod command;
pub mod driver;
pub mod events;
pub mod flow;
mod h1;
pub mod http;
pub mod open;
pub mod pick;
pub(crate) mod samples;
pub mod schedule;
pub mod stop;
mod stream;
mod tally;
pub mod target;

pub use command::CommandExecutor;
pub use driver::{Drive, ProgressHook, drive};
pub use events::{EventLog, RequestEvent};
pub use flow::{Executor, IterationContext, StepReply};
pub use http::HttpClient;
// Re-exported for the tests and benches that name them here; library code imports
// them from `crate::outcome`.
pub use crate::outcome::{DriverReport, Outcome, OutcomeClass, StepIndex};
pub use stop::StopSignal;
pub use target::{HttpExecutor, ResolvedTarget, TargetError};
