//! Prometheus' status and utility endpoints that Grafana and tools call:
//! build info (Grafana's flavour detection), runtime info, flags, TSDB
//! cardinality statistics, query formatting, and exemplars (none stored yet).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};

use super::params::Params;
use super::response::success;
use super::{ApiError, ApiState};

/// The Prometheus version whose API and PromQL semantics Vigil follows;
/// Grafana enables its features by this number.
pub const PROMETHEUS_COMPATIBLE_VERSION: &str = "3.0.0";

pub async fn buildinfo() -> Response {
    success(json!({
        "version": PROMETHEUS_COMPATIBLE_VERSION,
        "revision": concat!("vigil-", env!("CARGO_PKG_VERSION")),
        "branch": "vigil",
        "buildUser": "vigil",
        "buildDate": "",
        "goVersion": "",
    }))
}

pub async fn runtimeinfo(State(state): State<Arc<ApiState>>) -> Response {
    let head = state.db.head();
    success(json!({
        "startTime": state.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": true,
        "lastConfigTime": state.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": state.db.retention_description(),
        "headSeries": head.num_series(),
    }))
}

pub async fn flags(State(state): State<Arc<ApiState>>) -> Response {
    success(json!({
        "storage.tsdb.path": state.db.dir().display().to_string(),
        "storage.tsdb.retention": state.db.retention_description(),
        "query.lookback-delta": format!("{}s", state.engine.options().lookback_ms / 1000),
        "query.max-samples": state.engine.options().max_samples.to_string(),
        "query.timeout": format!("{}s", state.engine.options().timeout.as_secs()),
    }))
}

/// `/api/v1/status/tsdb`: the head's cardinality, as Prometheus reports it.
pub async fn tsdb_status(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let limit = match params.get("limit") {
        None | Some("") => 10,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                ApiError::bad_data(format!("limit must be a positive number: {text:?}"))
            })?,
    };
    let stats = state.db.head().cardinality(limit);
    let pairs = |list: Vec<(String, u64)>| -> Value {
        Value::Array(
            list.into_iter()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect(),
        )
    };
    let (min_time, max_time) = state.db.head().time_range().unwrap_or((0, 0));
    Ok(success(json!({
        "headStats": {
            "numSeries": stats.num_series,
            "numLabelPairs": stats.num_label_pairs,
            "chunkCount": 0,
            "minTime": min_time,
            "maxTime": max_time,
        },
        "seriesCountByMetricName": pairs(stats.series_by_metric_name),
        "labelValueCountByLabelName": pairs(stats.values_by_label_name),
        "memoryInBytesByLabelName": pairs(stats.bytes_by_label_name),
        "seriesCountByLabelValuePair": pairs(stats.series_by_label_pair),
    })))
}

/// `/api/v1/format_query`: the query pretty-printed, or its syntax error.
pub async fn format_query(params: Params) -> Result<Response, ApiError> {
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing"))?;
    let expr = promql_parser::parser::parse(text)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(success(Value::String(expr.prettify())))
}

/// `/api/v1/query_exemplars`: Vigil stores no exemplars yet, so the answer
/// is an empty list (after validating the query, as Prometheus does).
pub async fn query_exemplars(params: Params) -> Result<Response, ApiError> {
    let text = params
        .get("query")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing"))?;
    promql_parser::parser::parse(text)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(success(json!([])))
}
