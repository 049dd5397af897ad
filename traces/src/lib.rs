//! Vigil's trace store: OTLP ingest, the head and WAL, segment files with a
//! trace-id index and search summaries, TraceQL search, the Tempo and
//! Jaeger query routes, and span metrics (see FORMAT.md and
//! ../ARCHITECTURE.md).

pub mod api;
pub mod codec;
pub mod generator;
pub mod head;
pub mod metrics;
pub mod otlp;
pub mod search;
pub mod segment;
pub mod span;
pub mod store;
pub mod traceql;

pub use store::{StoreOptions, TraceStore, TracesError};
