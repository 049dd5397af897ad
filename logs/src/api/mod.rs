//! The log store's HTTP routes: Loki's push and query API as Grafana's Loki
//! data source and `logcli` call it, OTLP logs, and the audit search.
//! [`router`] is the whole surface; the binary mounts it.

mod params;
mod push;
mod query;
mod search;
mod tail;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

pub use crate::metrics::LogsMetrics;
use crate::push::limits::{Limits, Validator};
use crate::LogStore;

pub struct LogsApi {
    pub store: Arc<LogStore>,
    pub validator: Validator,
    pub metrics: Arc<LogsMetrics>,
    /// Accepted pushes, for `/loki/api/v1/tail` (sent only while someone listens).
    pub tail: tokio::sync::broadcast::Sender<Arc<Vec<crate::StreamEntries>>>,
}

impl LogsApi {
    pub fn new(store: Arc<LogStore>, limits: Limits, metrics: Arc<LogsMetrics>) -> Arc<LogsApi> {
        Arc::new(LogsApi {
            store,
            validator: Validator::new(limits),
            metrics,
            tail: tokio::sync::broadcast::channel(256).0,
        })
    }
}

pub fn router(api: Arc<LogsApi>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push::loki_push))
        .route("/v1/logs", post(push::otlp_logs))
        .route("/api/v1/logs/search", get(search::search))
        .route("/loki/api/v1/query", get(query::query).post(query::query))
        .route(
            "/loki/api/v1/query_range",
            get(query::query_range).post(query::query_range),
        )
        .route(
            "/loki/api/v1/labels",
            get(query::labels).post(query::labels),
        )
        .route("/loki/api/v1/label", get(query::labels))
        .route(
            "/loki/api/v1/label/{name}/values",
            get(query::label_values).post(query::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(query::series).post(query::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(query::index_stats).post(query::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(query::index_volume).post(query::index_volume),
        )
        .route("/loki/api/v1/detected_labels", get(query::detected_labels))
        .route("/loki/api/v1/detected_fields", get(query::detected_fields))
        .route("/loki/api/v1/patterns", get(query::patterns))
        .route("/loki/api/v1/status/buildinfo", get(query::buildinfo))
        .route("/loki/api/v1/tail", get(tail::tail))
        .with_state(api)
}
