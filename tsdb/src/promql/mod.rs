//! The PromQL engine: parses with `promql-parser`, evaluates the AST over a
//! [`Querier`](crate::querier::Querier). It never opens files.
//!
//! Semantics follow Prometheus 3.x: left-open selector windows `(t-d, t]`,
//! lookback 5 m, staleness markers end a series, delayed `__name__` removal.

mod eval;
mod functions;
mod info;
pub mod script;
mod series_local;
mod value;

use std::time::Duration;

pub use eval::{selector_matchers, Engine};
pub use functions::quantile;
pub use value::{format_value, QueryResult, Value, VectorSample};

#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample.
    pub lookback_ms: i64,
    /// Step of a subquery written without one (`x[10m:]`).
    pub default_subquery_step_ms: i64,
    /// Samples a query may hold at once before it fails (Prometheus'
    /// `query.max-samples`).
    pub max_samples: usize,
    pub timeout: Duration,
    /// Threads that read one selection from storage, each a part of it.
    pub parallelism: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_ms: 5 * 60_000,
            default_subquery_step_ms: 60_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Why a query failed, with the API error type it maps to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query text does not parse (HTTP 400 `bad_data`).
    #[error("{0}")]
    Parse(String),
    /// The query parsed but cannot be evaluated (HTTP 422 `execution`).
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    #[error("{0}")]
    Storage(String),
}
