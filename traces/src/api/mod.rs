//! The trace store's HTTP and gRPC surface:
//! - ingest: OTLP/HTTP `POST /v1/traces` ([`ingest`]) and OTLP/gRPC
//!   `TraceService/Export` ([`grpc`]);
//! - Tempo's query API as Grafana's Tempo data source calls it ([`tempo`]);
//! - Jaeger's query API ([`jaeger`]): `/api/services`,
//!   `/api/services/<svc>/operations` and `/api/traces?service=…` at the
//!   root, where they do not clash with Tempo's routes, and all of it under
//!   `/jaeger/api/…` (Jaeger's `--query.base-path`), where
//!   `/jaeger/api/traces/<id>` answers in Jaeger's shape while
//!   `/api/traces/<id>` stays Tempo's.

pub mod grpc;
pub mod ingest;
pub mod jaeger;
pub mod tempo;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::span::Span;
use crate::TraceStore;

/// Called with every accepted batch (span metrics, service graph).
pub type SpanObserver = Arc<dyn Fn(&[Span]) + Send + Sync>;

#[derive(Clone, Debug)]
pub struct IngestLimits {
    /// Largest OTLP body or gRPC message accepted, after decompression.
    pub max_body_bytes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        // The OpenTelemetry Collector's OTLP receiver default.
        IngestLimits {
            max_body_bytes: 20 << 20,
        }
    }
}

pub struct TracesApi {
    pub store: Arc<TraceStore>,
    pub limits: IngestLimits,
    pub observer: Option<SpanObserver>,
}

impl TracesApi {
    pub fn new(
        store: Arc<TraceStore>,
        limits: IngestLimits,
        observer: Option<SpanObserver>,
    ) -> Arc<TracesApi> {
        Arc::new(TracesApi {
            store,
            limits,
            observer,
        })
    }
}

pub fn router(api: Arc<TracesApi>) -> Router {
    let jaeger = Router::new()
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::operations),
        )
        .route("/api/operations", get(jaeger::operations_v2))
        .route("/api/traces", get(jaeger::find_traces))
        .route("/api/traces/{id}", get(jaeger::trace));
    Router::new()
        .route("/v1/traces", post(ingest::otlp_traces))
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/traces/{id}", get(tempo::trace_v1))
        .route("/api/v2/traces/{id}", get(tempo::trace_v2))
        .route("/api/search", get(tempo::search))
        .route("/api/search/tags", get(tempo::tags_v1))
        .route("/api/v2/search/tags", get(tempo::tags_v2))
        .route("/api/search/tag/{tag}/values", get(tempo::tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tempo::tag_values_v2))
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::operations),
        )
        .route("/api/traces", get(jaeger::find_traces))
        .nest("/jaeger", jaeger)
        .with_state(api.clone())
        .merge(grpc::routes(api))
}

/// Parses a trace id as Tempo does: up to 32 hex digits, left-padded with
/// zeros (Jaeger and some SDKs print 64-bit ids as 16 digits).
pub fn parse_trace_id(text: &str) -> Option<[u8; 16]> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{text:0>32}");
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
    }
    (id != [0; 16]).then_some(id)
}

/// A Go duration (`1.2s`, `100ms`, `500us`), as Tempo's and Jaeger's
/// duration parameters take, as a TraceQL duration in nanoseconds.
pub fn go_duration(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: f64 = number.parse().ok()?;
    let ns = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    Some(format!("{}ns", (number * ns) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_padded_and_checked() {
        assert_eq!(
            parse_trace_id("1"),
            Some([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(
            parse_trace_id("5b8efff798038103d269b633813fc60c").map(|id| crate::span::hex(&id)),
            Some("5b8efff798038103d269b633813fc60c".to_string())
        );
        assert_eq!(parse_trace_id("xyz"), None);
        assert_eq!(parse_trace_id(&"1".repeat(33)), None);
        assert_eq!(parse_trace_id("0"), None);
    }
}
