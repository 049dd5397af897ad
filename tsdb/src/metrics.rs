//! The metrics store's own telemetry, exported on `/metrics` as
//! `vigil_tsdb_*`. Emitted per batch, never per sample.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Why samples were not stored.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectReason {
    pub reason: &'static str,
}

pub const REASON_OUT_OF_ORDER: &str = "out_of_order";
pub const REASON_DUPLICATE: &str = "duplicate_timestamp";
pub const REASON_TOO_OLD: &str = "too_old";
pub const REASON_INVALID_SERIES: &str = "invalid_series";
pub const REASON_NATIVE_HISTOGRAM: &str = "native_histogram";

pub struct TsdbMetrics {
    pub samples_appended: Counter,
    pub series_created: Counter,
    pub samples_rejected: Family<RejectReason, Counter>,
    pub wal_size_bytes: Gauge,
    pub wal_fsync_seconds: Histogram,
    pub head_series: Gauge,
    pub head_memory_bytes: Gauge,
    pub head_memory_bytes_per_series: Gauge,
    pub blocks: Gauge,
    pub blocks_size_bytes: Gauge,
    pub compactions: Counter,
    pub compaction_failures: Counter,
    pub blocks_deleted_by_retention: Counter,
}

impl TsdbMetrics {
    pub fn unregistered() -> Arc<TsdbMetrics> {
        Arc::new(TsdbMetrics {
            samples_appended: Counter::default(),
            series_created: Counter::default(),
            samples_rejected: Family::default(),
            wal_size_bytes: Gauge::default(),
            wal_fsync_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            head_series: Gauge::default(),
            head_memory_bytes: Gauge::default(),
            head_memory_bytes_per_series: Gauge::default(),
            blocks: Gauge::default(),
            blocks_size_bytes: Gauge::default(),
            compactions: Counter::default(),
            compaction_failures: Counter::default(),
            blocks_deleted_by_retention: Counter::default(),
        })
    }

    /// Creates the metrics and registers them under `vigil_tsdb_`.
    pub fn register(registry: &mut Registry) -> Arc<TsdbMetrics> {
        let m = TsdbMetrics::unregistered();
        let r = registry.sub_registry_with_prefix("vigil_tsdb");
        r.register(
            "samples_appended",
            "Samples stored",
            m.samples_appended.clone(),
        );
        r.register(
            "series_created",
            "Series created in the head",
            m.series_created.clone(),
        );
        r.register(
            "samples_rejected",
            "Samples refused, by reason",
            m.samples_rejected.clone(),
        );
        r.register_with_unit(
            "wal_size",
            "Bytes of the WAL on disk",
            Unit::Bytes,
            m.wal_size_bytes.clone(),
        );
        r.register_with_unit(
            "wal_fsync",
            "WAL fsync latency",
            Unit::Seconds,
            m.wal_fsync_seconds.clone(),
        );
        r.register(
            "head_series",
            "Series in the in-memory head",
            m.head_series.clone(),
        );
        r.register_with_unit(
            "head_memory",
            "Estimated heap bytes held by the head",
            Unit::Bytes,
            m.head_memory_bytes.clone(),
        );
        r.register_with_unit(
            "head_memory_per_series",
            "Estimated head heap bytes per series",
            Unit::Bytes,
            m.head_memory_bytes_per_series.clone(),
        );
        r.register("blocks", "Persisted blocks loaded", m.blocks.clone());
        r.register_with_unit(
            "blocks_size",
            "Bytes of persisted blocks",
            Unit::Bytes,
            m.blocks_size_bytes.clone(),
        );
        r.register(
            "compactions",
            "Blocks written by head compaction or merges",
            m.compactions.clone(),
        );
        r.register(
            "compaction_failures",
            "Compactions that failed",
            m.compaction_failures.clone(),
        );
        r.register(
            "blocks_deleted_by_retention",
            "Blocks removed by time or size retention",
            m.blocks_deleted_by_retention.clone(),
        );
        // The registry holds clones sharing the same atomics.
        m
    }

    pub fn reject(&self, reason: &'static str, count: u64) {
        if count > 0 {
            self.samples_rejected
                .get_or_create(&RejectReason { reason })
                .inc_by(count);
        }
    }
}
