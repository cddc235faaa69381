//! The embedded reference platform: a small, real orchestration service with a legacy
//! path and a Dagger path (circuit breaker, retries), the default target of demos and tests.
//!
//! [`ReferencePlatform::start`] runs two HTTP/1.1 servers on loopback: the service
//! (`POST /api/workflows/execute`, `GET /api/tasks/{id}`, `GET /healthz`, `GET /metrics`,
//! and `/mcp`, an MCP server whose tools run workflows on either path)
//! and the executor it depends on (`POST /execute`). Every random choice derives from the
//! seed. The breaker and the backoff are pure and tested on their own. Both paths answer
//! with the same JSON shape; `[reference] parity_defect` makes the Dagger path's answers
//! differ on purpose, so that functional parity checks have something to catch.

mod answers;
pub mod backoff;
pub mod breaker;
mod clock;
pub mod config;
mod cpu;
mod executor;
mod http;
mod mcp;
pub mod metrics;
mod platform;
mod rng;
mod server;
mod service;
pub mod tasks;

pub use breaker::{Breaker, BreakerState, Permit, Transitions};
pub use config::{BreakerConfig, ParityDefect, ReferenceConfig, RetryConfig};
pub use metrics::{AttemptOutcome, McpMethod, McpOutcome, Metrics, ServicePath};
pub use platform::ReferencePlatform;
