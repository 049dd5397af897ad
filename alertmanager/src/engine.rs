//! What the rule evaluator needs from the metrics store, as two small
//! traits (so this crate does not depend on the TSDB's internals): a PromQL
//! engine for instant queries, and an appender for the series rules write
//! (recording rules, `ALERTS`, `ALERTS_FOR_STATE`).

use model::Labels;

/// One element of an instant query's result. A scalar result comes back
/// as one sample with no labels.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

pub trait QueryEngine: Send + Sync {
    /// Evaluates `query` at `t_ms` (Unix milliseconds). Errors are the
    /// engine's messages (parse errors, timeouts, limits).
    fn instant(&self, query: &str, t_ms: i64) -> Result<Vec<QuerySample>, String>;
}

pub trait Appender: Send + Sync {
    /// Appends one sample per series at `t_ms`; acknowledged samples are as
    /// durable as remote-written ones.
    fn append(&self, t_ms: i64, samples: &[(Labels, f64)]) -> Result<(), String>;
}
