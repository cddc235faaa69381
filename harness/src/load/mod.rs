//! Load drivers: the open model (arrival rate), the closed model (users, via goose),
//! feeding one [`Outcome`](crate::outcome::Outcome) per request to the recorder. What a
//! step does on a path is the business of its kind ([`crate::kinds`]); the drivers see
//! only [`crate::kinds::PathExecutor`].

pub mod barrier;
pub mod closed;
pub mod drive_common;
pub mod driver;
pub mod events;
pub mod flow;
pub mod open;
pub mod pick;
pub mod schedule;
pub mod segment;
pub mod stop;
pub(crate) mod tally;

pub use drive_common::{Drive, ProgressHook};
pub use driver::drive;
pub use events::{EventLog, RequestEvent};
pub use flow::IterationContext;
pub use segment::Segment;
pub use stop::StopSignal;

// Re-exported for the tests and benches that name them here; library code imports
// them from `crate::outcome`.
pub use crate::outcome::{Outcome, OutcomeClass, StepIndex};
