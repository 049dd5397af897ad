//! Vigil's alerting (issue 6, in progress): Prometheus rule evaluation and
//! an Alertmanager-compatible notification pipeline.
//! - [`engine`]: the boundary with the metrics store (PromQL queries, an
//!   appender), implemented by the binary;
//! - [`rules`], [`template`]: rule files as promtool checks them, and alert
//!   templates (Go text/template via `gtmpl`, Prometheus' functions);
//! - [`evaluation`]: alerting and recording rules, groups and the rule
//!   manager, evaluated at injected instants, and their API shapes;
//! - [`config`]: Alertmanager's YAML config, validated as Alertmanager does;
//! - [`dispatch`]: matchers, the routing tree, aggregation groups,
//!   inhibition, time intervals, silences;
//! - [`notify`]: the alert store, the notification log, the pipeline, and
//!   the webhook and email receivers;
//! - [`silences`]: the persisted silence store;
//! - [`service`], [`api`]: the running Alertmanager and its routes
//!   (Prometheus' `/api/v1/rules`/`alerts`, Alertmanager's API v2).
//!
//! Not yet: `promtool test rules` files, receivers other than webhook and
//! email, and the benchmarks. See ../ARCHITECTURE.md.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod evaluation;
pub mod notify;
pub mod persist;
pub mod rules;
pub mod service;
pub mod silences;
pub mod template;
