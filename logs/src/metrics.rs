//! The log store's own telemetry, exported on `/metrics` as `vigil_logs_*`.
//! Emitted per push and per flush, never per line.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub struct LogsMetrics {
    pub lines_received: Counter,
    pub bytes_received: Counter,
    pub lines_refused: Counter,
    pub head_memory_bytes: Gauge,
    pub flushes: Counter,
    pub flush_failures: Counter,
    pub flush_seconds: Histogram,
    pub lines_flushed: Counter,
    pub partitions: Gauge,
    pub partitions_deleted_by_retention: Counter,
}

impl LogsMetrics {
    pub fn unregistered() -> Arc<LogsMetrics> {
        Arc::new(LogsMetrics {
            lines_received: Counter::default(),
            bytes_received: Counter::default(),
            lines_refused: Counter::default(),
            head_memory_bytes: Gauge::default(),
            flushes: Counter::default(),
            flush_failures: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            lines_flushed: Counter::default(),
            partitions: Gauge::default(),
            partitions_deleted_by_retention: Counter::default(),
        })
    }

    /// Creates the metrics and registers them under `vigil_logs_`.
    pub fn register(registry: &mut Registry) -> Arc<LogsMetrics> {
        let m = LogsMetrics::unregistered();
        let r = registry.sub_registry_with_prefix("vigil_logs");
        r.register(
            "received_lines",
            "Log lines accepted by the push endpoints",
            m.lines_received.clone(),
        );
        r.register_with_unit(
            "received",
            "Bytes of log lines accepted by the push endpoints",
            Unit::Bytes,
            m.bytes_received.clone(),
        );
        r.register(
            "refused_lines",
            "Refusals by validation or limits: one per refused line, stream or push",
            m.lines_refused.clone(),
        );
        r.register_with_unit(
            "head_memory",
            "Memory held by lines not yet flushed",
            Unit::Bytes,
            m.head_memory_bytes.clone(),
        );
        r.register(
            "flushes",
            "Flushes of the head to partitions",
            m.flushes.clone(),
        );
        r.register(
            "flush_failures",
            "Flushes that failed (their lines stay in the WAL)",
            m.flush_failures.clone(),
        );
        r.register_with_unit(
            "flush_duration",
            "Time a flush takes",
            Unit::Seconds,
            m.flush_seconds.clone(),
        );
        r.register(
            "flushed_lines",
            "Lines written to partitions",
            m.lines_flushed.clone(),
        );
        r.register(
            "partitions",
            "Hourly partitions on disk",
            m.partitions.clone(),
        );
        r.register(
            "partitions_deleted_by_retention",
            "Hourly partitions deleted by retention",
            m.partitions_deleted_by_retention.clone(),
        );
        m
    }
}
