//! Loki's read API as Grafana's Loki data source and `logcli` call it:
//! `query`, `query_range`, `labels`, `label/<name>/values`, `series`,
//! `index/stats`, `index/volume`, `detected_labels`, `detected_fields`,
//! `patterns` and `status/buildinfo`. Errors are plain text with Loki's
//! status codes (400 for a bad query or parameter).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::{Labels, Matcher};
use serde_json::{json, Map, Value};

use super::params::Params;
use super::LogsApi;
use crate::engine::{self, QueryError, QueryRange, QueryResult, QueryStats};
use crate::logql::ast::Expr;
use crate::store::now_ns;
use tsdb::promql::format_value;

/// Loki's `max_entries_limit_per_query`.
pub const MAX_ENTRIES_LIMIT: usize = 5000;

pub(super) fn bad_request(message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn internal(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

fn query_error(e: QueryError) -> Response {
    match e {
        QueryError::Parse(_) | QueryError::Execution(_) => bad_request(e.to_string()),
        QueryError::Store(e) => internal(e),
    }
}

/// Runs `work` on the blocking pool, answering its errors as Loki does.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(query_error(e)),
        Err(e) => Err(internal(e)),
    }
}

fn params_of(query: &Option<String>, form: &Bytes) -> Params {
    Params::parse(query.as_deref(), (!form.is_empty()).then_some(&form[..]))
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect(),
    )
}

/// Seconds as Loki prints sample times: a number, fractional when needed.
fn seconds(ns: i64) -> Value {
    if ns % 1_000_000_000 == 0 {
        json!(ns / 1_000_000_000)
    } else {
        json!(ns as f64 / 1e9)
    }
}

fn stats_json(stats: &QueryStats) -> Value {
    let read = &stats.read;
    let exec = stats.exec_seconds.max(1e-9);
    let chunk = json!({
        "headChunkBytes": 0,
        "headChunkLines": read.head_lines,
        "decompressedBytes": read.decompressed_bytes,
        "decompressedLines": read.lines - read.head_lines,
        "compressedBytes": read.compressed_bytes,
        "totalDuplicates": 0,
        "postFilterLines": stats.post_filter_lines,
        "headChunkStructuredMetadataBytes": 0,
        "decompressedStructuredMetadataBytes": 0,
    });
    json!({
        "summary": {
            "bytesProcessedPerSecond": (read.decompressed_bytes as f64 / exec) as u64,
            "linesProcessedPerSecond": (read.lines as f64 / exec) as u64,
            "totalBytesProcessed": read.decompressed_bytes,
            "totalLinesProcessed": read.lines,
            "totalStructuredMetadataBytesProcessed": 0,
            "totalPostFilterLines": stats.post_filter_lines,
            "execTime": stats.exec_seconds,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": stats.entries_returned,
            "splits": 0,
            "shards": 0,
        },
        "querier": {"store": {
            "totalChunksRef": read.blocks,
            "totalChunksDownloaded": read.blocks,
            "chunksDownloadTime": 0,
            "queryReferencedStructuredMetadata": false,
            "chunk": chunk,
        }},
        "ingester": {"totalReached": 0, "totalChunksMatched": 0, "totalBatches": 0, "totalLinesSent": 0, "store": {
            "totalChunksRef": 0, "totalChunksDownloaded": 0, "chunksDownloadTime": 0, "queryReferencedStructuredMetadata": false,
            "chunk": {"headChunkBytes": 0, "headChunkLines": 0, "decompressedBytes": 0, "decompressedLines": 0, "compressedBytes": 0, "totalDuplicates": 0, "postFilterLines": 0, "headChunkStructuredMetadataBytes": 0, "decompressedStructuredMetadataBytes": 0}
        }},
    })
}

fn result_json(result: &QueryResult, stats: &QueryStats) -> Value {
    let (result_type, result) = match result {
        QueryResult::Streams(streams) => (
            "streams",
            Value::Array(
                streams
                    .iter()
                    .map(|s| {
                        json!({
                            "stream": labels_json(&s.labels),
                            "values": s.entries.iter().map(|e| json!([e.timestamp_ns.to_string(), e.line])).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
        QueryResult::Matrix(series) => (
            "matrix",
            Value::Array(
                series
                    .iter()
                    .map(|s| {
                        json!({
                            "metric": labels_json(&s.labels),
                            "values": s.points.iter().map(|&(t, v)| json!([seconds(t), format_value(v)])).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
        QueryResult::Vector { time, samples } => (
            "vector",
            Value::Array(
                samples
                    .iter()
                    .map(|s| json!({"metric": labels_json(&s.labels), "value": [seconds(*time), format_value(s.value)]}))
                    .collect(),
            ),
        ),
        QueryResult::Scalar { time, value } => ("scalar", json!([seconds(*time), format_value(*value)])),
    };
    json!({
        "status": "success",
        "data": {"resultType": result_type, "result": result, "stats": stats_json(stats)},
    })
}

async fn run(api: Arc<LogsApi>, text: String, range: QueryRange) -> Response {
    let store = api.store.clone();
    let outcome = blocking(move || {
        let expr = engine::parse(&text)?;
        engine::execute(&store, &expr, &range)
    })
    .await;
    match outcome {
        Ok((result, stats)) => Json(result_json(&result, &stats)).into_response(),
        Err(response) => response,
    }
}

fn common(params: &Params) -> Result<(String, usize, crate::store::Direction), String> {
    let query = params.query()?;
    let limit = params.limit(100)?;
    if limit > MAX_ENTRIES_LIMIT {
        return Err(format!("max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_ENTRIES_LIMIT})"));
    }
    Ok((query, limit, params.direction()?))
}

pub async fn query_range(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = common(&params).and_then(|(text, limit, direction)| {
        let (start, end) = params.range()?;
        let step = params.step(start, end)?;
        Ok((
            text,
            QueryRange {
                start_ns: start,
                end_ns: end,
                step_ns: step,
                limit,
                direction,
                instant: false,
            },
        ))
    });
    match prepared {
        Ok((text, range)) => run(api, text, range).await,
        Err(e) => bad_request(e),
    }
}

pub async fn query(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = common(&params).and_then(|(text, limit, direction)| {
        let time = params.time("time", now_ns())?;
        Ok((
            text,
            QueryRange {
                start_ns: time,
                end_ns: time,
                step_ns: 1,
                limit,
                direction,
                instant: true,
            },
        ))
    });
    match prepared {
        Ok((text, range)) => run(api, text, range).await,
        Err(e) => bad_request(e),
    }
}

/// The stream matchers of a `query`/`match[]` parameter: a selector, or any
/// query (its selectors' matchers are used, as Loki does for `labels`).
fn selector_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    match engine::parse(text).map_err(|e| e.to_string())? {
        Expr::Log(log) => Ok(log.matchers),
        Expr::Metric(_) => Err(format!(
            "{text:?} is a metric query: use a stream selector such as {{app=\"api\"}}"
        )),
    }
}

fn streams_for(
    api: &LogsApi,
    params: &Params,
    selector_param: &str,
) -> Result<Vec<Labels>, String> {
    let (start, end) = params.range()?;
    let mut selectors: Vec<Vec<Matcher>> = Vec::new();
    for text in params.all(selector_param) {
        if !text.is_empty() {
            selectors.push(selector_matchers(text)?);
        }
    }
    if selectors.is_empty() {
        selectors.push(Vec::new());
    }
    let mut out: BTreeSet<Labels> = BTreeSet::new();
    for matchers in selectors {
        out.extend(
            api.store
                .streams(&matchers, start, end.saturating_add(1))
                .into_values(),
        );
    }
    Ok(out.into_iter().collect())
}

pub async fn labels(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    match streams_for(&api, &params, "query") {
        Ok(streams) => {
            let names: BTreeSet<&str> = streams
                .iter()
                .flat_map(|l| l.iter().map(|l| l.name.as_str()))
                .collect();
            Json(json!({"status": "success", "data": names})).into_response()
        }
        Err(e) => bad_request(e),
    }
}

pub async fn label_values(
    State(api): State<Arc<LogsApi>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    match streams_for(&api, &params, "query") {
        Ok(streams) => {
            let values: BTreeSet<&str> = streams.iter().filter_map(|l| l.get(&name)).collect();
            Json(json!({"status": "success", "data": values})).into_response()
        }
        Err(e) => bad_request(e),
    }
}

pub async fn series(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let selector = if params.all("match[]").is_empty() {
        "match"
    } else {
        "match[]"
    };
    match streams_for(&api, &params, selector) {
        Ok(streams) => Json(json!({"status": "success", "data": streams.iter().map(labels_json).collect::<Vec<_>>()})).into_response(),
        Err(e) => bad_request(e),
    }
}

/// Streams, blocks ("chunks"), lines and bytes a selector covers.
pub async fn index_stats(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = (|| -> Result<_, String> {
        let matchers = selector_matchers(&params.query()?)?;
        let (start, end) = params.range()?;
        Ok((matchers, start, end.saturating_add(1)))
    })();
    let (matchers, start, end) = match prepared {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let store = api.store.clone();
    let outcome = blocking(move || Ok(store.volume(&matchers, start, end)?)).await;
    match outcome {
        Ok(volumes) => {
            let streams = volumes.len();
            let (chunks, entries, bytes) = volumes.values().fold((0, 0, 0), |(c, e, b), v| {
                (c + v.blocks, e + v.lines, b + v.bytes)
            });
            Json(json!({"streams": streams, "chunks": chunks, "entries": entries, "bytes": bytes}))
                .into_response()
        }
        Err(response) => response,
    }
}

/// Bytes per stream (or per `targetLabels` group), largest first, as an instant vector.
pub async fn index_volume(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = (|| -> Result<_, String> {
        let matchers = selector_matchers(&params.query()?)?;
        let (start, end) = params.range()?;
        let limit = params.limit(100)?;
        Ok((matchers, start, end, limit))
    })();
    let (matchers, start, end, limit) = match prepared {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let target: Vec<String> = params
        .get("targetLabels")
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let by_labels = params.get("aggregateBy") == Some("labels");
    let store = api.store.clone();
    let selector_names: Vec<String> = matchers.iter().map(|m| m.name.clone()).collect();
    let outcome =
        blocking(move || Ok(store.volume(&matchers, start, end.saturating_add(1))?)).await;
    let volumes = match outcome {
        Ok(volumes) => volumes,
        Err(response) => return response,
    };
    // Group as Loki does: by the target labels, else by the selector's labels.
    let group_names: Vec<String> = if !target.is_empty() {
        target
    } else {
        selector_names
    };
    let mut groups: BTreeMap<Vec<(String, String)>, u64> = BTreeMap::new();
    for (labels, volume) in volumes.values().map(|v| (&v.labels, v)) {
        let key: Vec<(String, String)> = if by_labels || !group_names.is_empty() {
            labels
                .iter()
                .filter(|l| group_names.contains(&l.name))
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        } else {
            labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        };
        *groups.entry(key).or_default() += volume.bytes;
    }
    let mut sorted: Vec<(Vec<(String, String)>, u64)> = groups.into_iter().collect();
    sorted.sort_by_key(|group| std::cmp::Reverse(group.1));
    sorted.truncate(limit);
    let result: Vec<Value> = sorted
        .iter()
        .map(|(labels, bytes)| {
            let metric: Map<String, Value> = labels
                .iter()
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect();
            json!({"metric": metric, "value": [seconds(end), bytes.to_string()]})
        })
        .collect();
    Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
        .into_response()
}

/// Stream labels with their number of distinct values.
pub async fn detected_labels(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    match streams_for(&api, &params, "query") {
        Ok(streams) => {
            let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for labels in &streams {
                for label in labels {
                    values.entry(&label.name).or_default().insert(&label.value);
                }
            }
            let detected: Vec<Value> = values
                .iter()
                .map(|(name, values)| json!({"label": name, "cardinality": values.len()}))
                .collect();
            Json(json!({"detectedLabels": detected})).into_response()
        }
        Err(e) => bad_request(e),
    }
}

/// Fields found in recent lines by the json and logfmt parsers and in
/// structured metadata, with their type and cardinality.
pub async fn detected_fields(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = (|| -> Result<_, String> {
        let text = params.query()?;
        let (start, end) = params.range()?;
        let line_limit = params
            .get("line_limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(1000usize);
        let field_limit = params.limit(1000)?;
        Ok((text, start, end, line_limit, field_limit))
    })();
    let (text, start, end, line_limit, field_limit) = match prepared {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let store = api.store.clone();
    let outcome = blocking(move || {
        crate::detected::fields(&store, &text, start, end.saturating_add(1), line_limit)
    })
    .await;
    match outcome {
        Ok(mut fields) => {
            fields.truncate(field_limit);
            let fields: Vec<Value> = fields
                .iter()
                .map(|f| json!({"label": f.name, "type": f.kind, "cardinality": f.cardinality, "parsers": f.parsers}))
                .collect();
            Json(json!({"fields": fields, "limit": field_limit})).into_response()
        }
        Err(response) => response,
    }
}

/// Line patterns (variable tokens replaced by `<_>`) with counts per step.
pub async fn patterns(
    State(api): State<Arc<LogsApi>>,
    RawQuery(query): RawQuery,
    form: Bytes,
) -> Response {
    let params = params_of(&query, &form);
    let prepared = (|| -> Result<_, String> {
        let text = params.query()?;
        let (start, end) = params.range()?;
        let step = params.step(start, end)?;
        Ok((text, start, end, step))
    })();
    let (text, start, end, step) = match prepared {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let store = api.store.clone();
    let outcome = blocking(move || {
        crate::detected::patterns(&store, &text, start, end.saturating_add(1), step)
    })
    .await;
    match outcome {
        Ok(found) => {
            let data: Vec<Value> = found
                .iter()
                .map(|p| {
                    json!({
                        "pattern": p.pattern,
                        "samples": p.samples.iter().map(|&(t, n)| json!([t / 1_000_000_000, n])).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Json(json!({"status": "success", "data": data})).into_response()
        }
        Err(response) => response,
    }
}

/// Grafana reads the version to decide which Loki features to use.
pub async fn buildinfo(_headers: HeaderMap) -> Response {
    Json(json!({
        "version": "3.3.0",
        "revision": concat!("vigil-", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
    .into_response()
}
