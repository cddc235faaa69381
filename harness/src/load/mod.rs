//! Load drivers: the open model (arrival rate), the closed model (users, via goose),
//! and the outcome every request produces.

pub mod closed;
pub mod command;
pub mod driver;
pub mod events;
pub mod flow;
mod h1;
pub mod http;
pub mod open;
pub mod outcome;
pub mod pick;
pub(crate) mod samples;
pub mod schedule;
pub mod stop;
mod stream;
mod tally;
pub mod target;

pub use command::CommandExecutor;
pub use driver::{Drive, DriverReport, ProgressHook, drive};
pub use events::{EventLog, RequestEvent};
pub use flow::{Executor, IterationContext, StepReply};
pub use http::HttpClient;
pub use outcome::{Outcome, OutcomeClass, REQUEST_ID_HEADER, StepIndex};
pub use stop::StopSignal;
pub use target::{HttpExecutor, ResolvedTarget, TargetError};
