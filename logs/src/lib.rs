//! Vigil's log store (see ARCHITECTURE.md, "logs/"): streams of lines in
//! Loki's model, a WAL and an in-memory head, hourly partitions of
//! compressed per-stream blocks indexed with tantivy, LogQL, and the Loki
//! HTTP API. The byte layouts are in FORMAT.md.

pub mod api;
pub mod block;
pub mod detected;
pub mod engine;
pub mod entry;
pub mod error;
pub mod head;
pub mod id_filter;
pub mod logql;
pub mod metrics;
pub mod partition;
pub mod push;
pub mod search;
pub mod store;
pub mod stream_labels;
pub mod tokens;
pub mod wal;

pub use entry::{Entry, StreamEntries, StreamId};
pub use error::{LogsError, Result};
pub use store::{Direction, LogStore, StoreOptions};
