//! The `vigil` binary's library half: configuration, the one HTTP listener
//! that composes every signal crate's router, and process lifecycle.
//!
//! `src/` composes, it does not implement: storage and query logic live in
//! the signal crates (`tsdb/`, later `logs/`, `traces/`, `alertmanager/`).

pub mod check;
pub mod config;
pub mod metrics_store;
pub mod rule_test;
pub mod server;
pub mod span_metrics;
pub mod telemetry;
