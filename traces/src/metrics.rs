//! The trace store's own telemetry, exported on `/metrics` as
//! `vigil_traces_*`. Emitted per push and per flush, never per span.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub struct TracesMetrics {
    pub spans_received: Counter,
    pub spans_refused: Counter,
    pub head_memory_bytes: Gauge,
    pub head_traces: Gauge,
    pub flushes: Counter,
    pub flush_failures: Counter,
    pub flush_seconds: Histogram,
    pub spans_flushed: Counter,
    pub segments: Gauge,
    pub segments_deleted_by_retention: Counter,
}

impl TracesMetrics {
    pub fn unregistered() -> Arc<TracesMetrics> {
        Arc::new(TracesMetrics {
            spans_received: Counter::default(),
            spans_refused: Counter::default(),
            head_memory_bytes: Gauge::default(),
            head_traces: Gauge::default(),
            flushes: Counter::default(),
            flush_failures: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            spans_flushed: Counter::default(),
            segments: Gauge::default(),
            segments_deleted_by_retention: Counter::default(),
        })
    }

    /// Creates the metrics and registers them under `vigil_traces_`.
    pub fn register(registry: &mut Registry) -> Arc<TracesMetrics> {
        let m = TracesMetrics::unregistered();
        let r = registry.sub_registry_with_prefix("vigil_traces");
        r.register(
            "received_spans",
            "Spans accepted by OTLP ingest (HTTP and gRPC)",
            m.spans_received.clone(),
        );
        r.register(
            "refused_spans",
            "Spans refused by OTLP ingest (invalid ids)",
            m.spans_refused.clone(),
        );
        r.register_with_unit(
            "head_memory",
            "Memory held by spans not yet flushed",
            Unit::Bytes,
            m.head_memory_bytes.clone(),
        );
        r.register("head_traces", "Traces in the head", m.head_traces.clone());
        r.register(
            "flushes",
            "Flushes of the head to segments",
            m.flushes.clone(),
        );
        r.register(
            "flush_failures",
            "Flushes that failed (their spans stay in the WAL)",
            m.flush_failures.clone(),
        );
        r.register_with_unit(
            "flush_duration",
            "Time a flush takes",
            Unit::Seconds,
            m.flush_seconds.clone(),
        );
        r.register(
            "flushed_spans",
            "Spans written to segments",
            m.spans_flushed.clone(),
        );
        r.register("segments", "Segment files on disk", m.segments.clone());
        r.register(
            "segments_deleted_by_retention",
            "Segment files deleted by retention",
            m.segments_deleted_by_retention.clone(),
        );
        m
    }
}
