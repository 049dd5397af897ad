//! Vigil's metrics store.
//!
//! Data flows WAL → head → blocks: a write is framed into the [`wal`], kept in
//! the [`head`] as Gorilla [`chunk::xor`] chunks, and cut into immutable
//! [`block`]s of [`chunk::packed`] series, which compaction merges and retention
//! deletes. [`db::Db`] ties them together; [`querier`] reads across them; [`api`]
//! serves Prometheus' HTTP routes. Byte layouts are in `tsdb/FORMAT.md`.

pub mod api;
pub mod block;
pub mod chunk;
pub mod db;
pub mod encoding;
pub mod head;
pub mod index;
pub mod metrics;
pub mod promql;
pub mod querier;
pub mod selection;
pub mod wal;

pub use db::{Db, Options};
