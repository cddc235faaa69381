//! Resilience observed from outside: from what the client saw, what reached the fault
//! proxy and when faults were active, infer how a service's circuit breaker and retries
//! behaved (amplification, time to open, fail-fast latency, probe cadence, time to
//! recover), and tell injected failures from the service's own.
//!
//! Everything here is pure: no clock, no I/O. The inputs are the client outcomes and
//! the proxy's attempt log joined by the `x-harness-request-id` header; see
//! [`observe::observe`] for the exact definitions.

pub mod describe;
pub mod events;
pub mod observe;

pub use describe::describe;
pub use events::{ClientEvent, Evidence, FaultWindow, UpstreamEvent};
pub use observe::{Observation, PhaseStats, observe};
