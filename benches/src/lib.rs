//! Benchmarks for Vigil's hot paths, and the workloads that drive them.
//!
//! - [`workload`]: a deterministic node-exporter-like fleet (labels and
//!   samples), usable by codec benches, ingest benches and load tests.
//! - [`log_corpus`]: deterministic container logs (JSON, logfmt, nginx,
//!   Kubernetes audit) for the log store's benchmarks.
//! - [`trace_corpus`]: deterministic OTLP traces of ten services (HTTP, DB
//!   and exception spans, 5–200 spans a trace) for the trace store's runner.
//! - [`process`]: ports, clients and /proc readings for the end-to-end runners.
//! - [`codec_sizes`]: bytes per sample of the chunk codecs on a workload, laid
//!   out in pages the way the block writer does.
//!
//! The criterion benches live in `benches/benches/`; run one with
//! `cargo bench -p vigil-benches --bench chunk_codec`.

pub mod codec_sizes;
pub mod log_corpus;
pub mod process;
pub mod trace_corpus;
pub mod workload;
