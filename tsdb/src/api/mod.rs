//! The metrics store's HTTP routes, in Prometheus' shapes: the remote-write
//! receiver, the read API this store already answers, and the admin API.
//! [`router`] is the whole surface; the binary mounts it.

mod params;
mod read;
mod response;
mod status;
mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

use crate::Db;
pub use params::Params;
pub use response::ApiError;
pub use write::{decode_content_encoding, read_body, BodyError};

/// Limits of the remote-write receiver.
#[derive(Clone, Debug)]
pub struct WriteLimits {
    /// Largest compressed body accepted (HTTP 413 above).
    pub max_body_bytes: usize,
    /// Largest decompressed body accepted (HTTP 413 above).
    pub max_decoded_bytes: usize,
    /// Write requests processed at once; more wait up to `queue_timeout`,
    /// then get HTTP 503 with `Retry-After`.
    pub max_concurrent: usize,
    pub queue_timeout: Duration,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 256 << 20,
            max_concurrent: 16,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

pub struct ApiState {
    pub db: Arc<Db>,
    pub started: chrono::DateTime<chrono::Utc>,
    pub engine: Arc<crate::promql::Engine>,
    pub limits: WriteLimits,
    write_slots: Semaphore,
    /// Queries evaluated at once; more wait in line (Prometheus'
    /// `query.max-concurrency`).
    pub(crate) query_slots: Semaphore,
}

/// Limits of the query engine and API.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub engine: crate::promql::EngineOptions,
    pub max_concurrent: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            engine: crate::promql::EngineOptions::default(),
            max_concurrent: 20,
        }
    }
}

impl ApiState {
    pub fn new(db: Arc<Db>, limits: WriteLimits, query: QueryLimits) -> Arc<ApiState> {
        Arc::new(ApiState {
            db,
            started: chrono::Utc::now(),
            engine: Arc::new(crate::promql::Engine::new(query.engine)),
            query_slots: Semaphore::new(query.max_concurrent),
            write_slots: Semaphore::new(limits.max_concurrent),
            limits,
        })
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/query", get(read::query).post(read::query))
        .route(
            "/api/v1/query_range",
            get(read::query_range).post(read::query_range),
        )
        .route("/api/v1/series", get(read::series).post(read::series))
        .route("/api/v1/labels", get(read::labels).post(read::labels))
        .route("/api/v1/label/{name}/values", get(read::label_values))
        .route("/api/v1/metadata", get(read::metadata))
        .route("/federate", get(read::federate))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/tsdb", get(status::tsdb_status))
        .route(
            "/api/v1/format_query",
            get(status::format_query).post(status::format_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(status::query_exemplars).post(status::query_exemplars),
        )
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(read::snapshot).put(read::snapshot),
        )
        .with_state(state)
}
