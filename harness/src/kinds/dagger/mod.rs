//! Dagger paths: pipelines on a Dagger engine through dagger-sdk, load-tested like HTTP
//! steps (DESIGN.md §4, §11).
//!
//! [`engine`] finds an engine without ever downloading one, [`session`] opens a session
//! on it, [`client`] carries the SDK's queries over the harness's HTTP client (so faults
//! and request ids apply), and [`executor`] runs one step's pipeline and classes how it
//! ended; [`path`] puts them together for the runner.

pub mod client;
pub mod engine;
pub mod executor;
pub mod path;
pub mod service;
pub mod session;

pub use client::EngineLink;
pub use engine::{EngineEnv, EngineRoute, NoEngine, PathPolicy, SessionEndpoint, discover};
pub use executor::DaggerExecutor;
pub use path::{DaggerPath, EngineSlot};
pub use service::DaggerEngine;
pub use session::{CliOptions, EngineSession, HOW_TO_PROVIDE, Unreachable};
