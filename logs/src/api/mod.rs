//! The log store's HTTP routes: Loki's push and query API as Grafana's Loki
//! data source and `logcli` call it, OTLP logs, and the audit search.
//! [`router`] is the whole surface; the binary mounts it.

mod push;

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::push::limits::{Limits, Validator};
use crate::LogStore;

/// Self-monitoring of the log pipeline.
#[derive(Default)]
pub struct LogsMetrics {
    pub lines_received: Counter,
    pub bytes_received: Counter,
    pub lines_refused: Counter,
}

impl LogsMetrics {
    pub fn register(registry: &mut Registry) -> Arc<LogsMetrics> {
        let metrics = LogsMetrics::default();
        registry.register(
            "vigil_logs_received_lines",
            "Log lines accepted by the push endpoints",
            metrics.lines_received.clone(),
        );
        registry.register(
            "vigil_logs_received_bytes",
            "Bytes of log lines accepted by the push endpoints",
            metrics.bytes_received.clone(),
        );
        registry.register(
            "vigil_logs_refused_lines",
            "Log lines and streams refused by validation or limits",
            metrics.lines_refused.clone(),
        );
        Arc::new(metrics)
    }
}

pub struct LogsApi {
    pub store: Arc<LogStore>,
    pub validator: Validator,
    pub metrics: Arc<LogsMetrics>,
}

impl LogsApi {
    pub fn new(store: Arc<LogStore>, limits: Limits, metrics: Arc<LogsMetrics>) -> Arc<LogsApi> {
        Arc::new(LogsApi {
            store,
            validator: Validator::new(limits),
            metrics,
        })
    }
}

pub fn router(api: Arc<LogsApi>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push::loki_push))
        .route("/v1/logs", post(push::otlp_logs))
        .with_state(api)
}
