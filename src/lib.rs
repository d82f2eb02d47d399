//! headroom: a capacity telemetry collector and Prometheus exporter for private clouds.
//!
//! Data flows one way: `config` → `schedule` → a platform's collector → `http` (behind `budget`)
//! → the vendor API; the collector normalises the answers into a `collect::Batch`, which the
//! `store` encodes into a snapshot that `server` serves. See `ARCHITECTURE.md` for the code map
//! and the invariants.

pub mod budget;
pub mod catalog;
pub mod cli;
pub mod collect;
pub mod config;
pub mod http;
pub mod json;
pub mod lenient;
pub mod logging;
pub mod placement;
pub mod platforms;
pub mod process;
pub mod redact;
pub mod schedule;
pub mod server;
pub mod sim;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod token;
