//! Vigil's alerting (issue 6), being built. So far:
//! - [`engine`]: the boundary with the metrics store (PromQL queries, an
//!   appender);
//! - [`evaluation`]: alerting and recording rules and groups evaluated at
//!   an injected instant, and their state in Prometheus' API shapes;
//! - [`config`]: Alertmanager's YAML config, validated as Alertmanager does;
//! - [`dispatch`]: matchers, the routing tree, inhibition, time intervals
//!   and silences;
//! - [`notify`]: the alert store and the webhook payload.
//!
//! Not yet: rule files and templates, scheduling, aggregation groups and
//! their timers, delivery, persistence, the HTTP API and the wiring into
//! `vigil serve`. See ../ARCHITECTURE.md.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod evaluation;
pub mod notify;
pub mod rules;
pub mod service;
pub mod silences;
pub mod template;
