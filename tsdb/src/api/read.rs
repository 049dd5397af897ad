//! The read side of the Prometheus API that the store answers by itself:
//! instant queries of a plain selector, series, labels, label values,
//! metadata, and the snapshot admin endpoint.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use model::{Matcher, METRIC_NAME};
use promql_parser::parser::{self, Expr};
use serde_json::{json, Map, Value};

use super::params::{Params, MAX_TIME, MIN_TIME};
use super::response::{format_value, success, ResultWriter};
use super::{ApiError, ApiState};
use crate::promql::{self, PromqlError};
use crate::querier::Querier;

/// Runs storage work on a blocking thread: a large selection must not stall
/// the async workers that serve every other request.
async fn on_storage<T: Send + 'static>(
    state: &Arc<ApiState>,
    work: impl FnOnce(&crate::Db) -> Result<T, crate::querier::QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A series selector's matchers; like Prometheus, one of them must not
/// match the empty string (a selector must not select everything).
fn selector_matchers(selector: &parser::VectorSelector) -> Result<Vec<Matcher>, ApiError> {
    let out = promql::selector_matchers(selector).map_err(|e| ApiError::bad_data(e.to_string()))?;
    if out.iter().all(Matcher::matches_empty) {
        return Err(ApiError::bad_data(
            "vector selector must contain at least one non-empty matcher",
        ));
    }
    Ok(out)
}

/// Parses a `match[]` value: a series selector.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, ApiError> {
    match parser::parse(text) {
        Ok(Expr::VectorSelector(selector)) => selector_matchers(&selector),
        Ok(_) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {text:?} is not a series selector"
        ))),
        Err(e) => Err(ApiError::bad_data(format!(
            "invalid parameter \"match[]\": {e}"
        ))),
    }
}

fn metric_json(labels: &model::Labels) -> Value {
    let mut map = Map::new();
    for l in labels.iter() {
        map.insert(l.name.clone(), Value::String(l.value.clone()));
    }
    Value::Object(map)
}

impl From<PromqlError> for ApiError {
    fn from(e: PromqlError) -> ApiError {
        match e {
            PromqlError::Parse(message) => {
                ApiError::bad_data(format!("invalid parameter \"query\": {message}"))
            }
            PromqlError::Timeout(_) => ApiError {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                error_type: "timeout",
                message: e.to_string(),
            },
            PromqlError::Storage(message) => ApiError::internal(message),
            PromqlError::Execution(_) | PromqlError::TooManySamples(_) => {
                ApiError::execution(e.to_string())
            }
        }
    }
}

/// Writes an evaluated value in Prometheus' result shape: at most `limit`
/// series (0: all), with statistics when asked for, warnings and infos.
fn value_response(result: promql::QueryResult, limit: usize, stats: Option<Value>) -> Response {
    let promql::QueryResult {
        value,
        mut warnings,
        infos,
        ..
    } = result;
    let mut truncated = |len: usize| {
        let keep = if limit == 0 { len } else { len.min(limit) };
        if keep < len {
            warnings.push("results truncated due to limit".to_string());
        }
        keep
    };
    let result = match value {
        promql::Value::Scalar { t, v } => {
            let mut result = ResultWriter::new("scalar");
            result.scalar(t, v);
            result
        }
        promql::Value::String { t, v } => {
            let mut result = ResultWriter::new("string");
            result.string(t, &v);
            result
        }
        promql::Value::Vector(samples) => {
            let keep = truncated(samples.len());
            let mut result = ResultWriter::new("vector");
            for s in &samples[..keep] {
                result.vector_element(&s.labels, s.t, s.v);
            }
            result
        }
        promql::Value::Matrix(series) => {
            let keep = truncated(series.len());
            let mut result = ResultWriter::new("matrix");
            for s in &series[..keep] {
                result.matrix_series(&s.labels, s.samples.iter().map(|x| (x.t, x.v)));
            }
            result
        }
    };
    result.finish_with(stats.as_ref(), &warnings, &infos)
}

/// `stats`: Prometheus' query statistics, when the request asks for them.
fn stats_json(
    params: &Params,
    result: &promql::QueryResult,
    queued: std::time::Duration,
    evaluated: std::time::Duration,
) -> Option<Value> {
    params.get("stats").filter(|s| !s.is_empty())?;
    let (queue, eval) = (queued.as_secs_f64(), evaluated.as_secs_f64());
    Some(json!({
        "timings": {
            "evalTotalTime": eval,
            "resultSortTime": 0,
            "queryPreparationTime": 0,
            "innerEvalTime": eval,
            "execQueueTime": queue,
            "execTotalTime": queue + eval,
        },
        "samples": {
            "totalQueryableSamples": result.samples,
            "peakSamples": result.samples,
        },
    }))
}

/// Runs one query through the engine and writes its response.
async fn run_query(
    state: &Arc<ApiState>,
    params: &Params,
    work: impl FnOnce(&promql::Engine, &crate::Db) -> Result<promql::QueryResult, PromqlError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let limit = limit_or_all(params)?;
    let engine = engine_for(state, params)?;
    let asked = std::time::Instant::now();
    let (result, queued, evaluated) = on_engine(state, move |db| {
        let queued = asked.elapsed();
        let started = std::time::Instant::now();
        work(&engine, db).map(|r| (r, queued, started.elapsed()))
    })
    .await?;
    let stats = stats_json(params, &result, queued, evaluated);
    Ok(value_response(result, limit, stats))
}

fn query_text(params: &Params) -> Result<String, ApiError> {
    params
        .get("query")
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing"))
}

/// `/api/v1/query`: an instant query.
pub async fn query(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let text = query_text(&params)?;
    let time = params.time("time", now_ms())?;
    run_query(&state, &params, move |engine, db| {
        engine.instant(db, &text, time)
    })
    .await
}

/// `/api/v1/query_range`: a range query.
pub async fn query_range(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let text = query_text(&params)?;
    let start = params
        .get("start")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"start\": missing"))
        .and_then(|_| params.time("start", 0))?;
    let end = params
        .get("end")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"end\": missing"))
        .and_then(|_| params.time("end", 0))?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step = params
        .get("step")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"step\": missing"))
        .and_then(|text| {
            parse_step(text).ok_or_else(|| {
                ApiError::bad_data(format!(
                    "invalid parameter \"step\": cannot parse {text:?} to a valid duration"
                ))
            })
        })?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus' guard against a huge range with a tiny step.
    if (end - start) / step > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    run_query(&state, &params, move |engine, db| {
        engine.range(db, &text, start, end, step)
    })
    .await
}

/// The engine for one request: the server's, or one with a shorter
/// `timeout` when the request asks for it (never a longer one).
fn engine_for(state: &Arc<ApiState>, params: &Params) -> Result<Arc<promql::Engine>, ApiError> {
    let Some(text) = params.get("timeout").filter(|t| !t.is_empty()) else {
        return Ok(state.engine.clone());
    };
    let millis = parse_step(text).filter(|ms| *ms > 0).ok_or_else(|| {
        ApiError::bad_data(format!(
            "invalid parameter \"timeout\": cannot parse {text:?} to a valid duration"
        ))
    })?;
    let mut options = state.engine.options().clone();
    options.timeout = options
        .timeout
        .min(std::time::Duration::from_millis(millis as u64));
    Ok(Arc::new(promql::Engine::new(options)))
}

/// A step: float seconds or a Prometheus duration, in milliseconds.
fn parse_step(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds.abs() < 1e15)
            .then(|| (seconds * 1000.0).round() as i64);
    }
    crate::wal::parse_duration(text).and_then(|d| i64::try_from(d.as_millis()).ok())
}

/// Runs an engine evaluation on a blocking thread, once a query slot is
/// free (queries beyond the concurrency limit wait in line).
async fn on_engine<T: Send + 'static>(
    state: &Arc<ApiState>,
    work: impl FnOnce(&crate::Db) -> Result<T, PromqlError> + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = state
        .query_slots
        .acquire()
        .await
        .map_err(|_| ApiError::internal("the server is shutting down"))?;
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || work(&db))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::from)
}

fn time_range(params: &Params) -> Result<(i64, i64), ApiError> {
    let start = params.time("start", MIN_TIME)?;
    let end = params.time("end", MAX_TIME)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

/// `limit` of the query endpoints: 0 or absent means no limit.
fn limit_or_all(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") | Some("0") => Ok(0),
        Some(_) => limit(params),
    }
}

fn limit(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") | Some("0") => Ok(usize::MAX),
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": {text:?} is not a non-negative integer"
            ))
        }),
    }
}

/// `/api/v1/series`: label sets of series matching any `match[]`.
pub async fn series(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = required_matchers(&params)?;
    let (start, end) = time_range(&params)?;
    let limit = limit(&params)?;
    let mut all = std::collections::BTreeSet::new();
    for matchers in sets {
        all.extend(on_storage(&state, move |db| db.series(&matchers, start, end)).await?);
    }
    let data: Vec<Value> = all.iter().take(limit).map(metric_json).collect();
    Ok(success(Value::Array(data)))
}

fn matchers_of(params: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    params
        .get_all("match[]")
        .into_iter()
        .map(parse_selector)
        .collect()
}

/// [`matchers_of`] for the endpoints that need at least one `match[]`.
fn required_matchers(params: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let sets = matchers_of(params)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    Ok(sets)
}

/// `/api/v1/labels`
pub async fn labels(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    names_over_selectors(&state, &params, |db, matchers, start, end| {
        db.label_names(matchers, start, end)
    })
    .await
}

/// `/api/v1/label/<name>/values`
pub async fn label_values(
    State(state): State<Arc<ApiState>>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    names_over_selectors(&state, &params, move |db, matchers, start, end| {
        db.label_values(&name, matchers, start, end)
    })
    .await
}

/// Runs `lookup` for each `match[]` selector (or once, unrestricted, when
/// there is none) within `start`/`end`, and answers the sorted union cut to
/// `limit`: the shared body of the labels and label-values endpoints.
async fn names_over_selectors(
    state: &Arc<ApiState>,
    params: &Params,
    lookup: impl Fn(&crate::Db, &[Matcher], i64, i64) -> Result<Vec<String>, crate::querier::QueryError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let (start, end) = time_range(params)?;
    let limit = limit(params)?;
    let selectors = matchers_of(params)?;
    let sets = if selectors.is_empty() {
        vec![Vec::new()]
    } else {
        selectors
    };
    let found = on_storage(state, move |db| {
        let mut all = std::collections::BTreeSet::new();
        for matchers in &sets {
            all.extend(lookup(db, matchers, start, end)?);
        }
        Ok(all)
    })
    .await?;
    Ok(success(json!(found
        .into_iter()
        .take(limit)
        .collect::<Vec<_>>())))
}

/// `/api/v1/metadata`, from the metadata remote-write senders ship.
pub async fn metadata(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let metric = params.get("metric");
    let limit = limit(&params)?;
    let mut data = Map::new();
    for m in state.db.head().metadata() {
        if metric.is_some_and(|name| name != m.metric_family) || data.len() >= limit {
            continue;
        }
        data.insert(
            m.metric_family.clone(),
            json!([{"type": m.kind, "help": m.help, "unit": m.unit}]),
        );
    }
    Ok(success(Value::Object(data)))
}

/// `POST /api/v1/admin/tsdb/snapshot[?skip_head=true]`
pub async fn snapshot(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let skip_head = params
        .get("skip_head")
        .is_some_and(|v| v == "true" || v == "1");
    let now = chrono::Utc::now();
    let name = format!(
        "{}-{:016x}",
        now.format("%Y%m%dT%H%M%SZ"),
        now.timestamp_nanos_opt().unwrap_or(0) as u64 ^ 0x9e37_79b9_7f4a_7c15
    );
    let db = state.db.clone();
    let snapshot_name = name.clone();
    tokio::task::spawn_blocking(move || db.snapshot(&snapshot_name, !skip_head))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("create snapshot: {e}")))?;
    Ok(success(json!({"name": name})))
}

/// `/federate`: the newest sample of every series matching any `match[]`,
/// in Prometheus' text exposition format with timestamps, grouped by metric
/// name (as `# TYPE <name> untyped`).
pub async fn federate(
    State(state): State<Arc<ApiState>>,
    params: Params,
) -> Result<Response, ApiError> {
    let sets = required_matchers(&params)?;
    let now = now_ms();
    let lookback = state.engine.options().lookback_ms;
    let newest = on_storage(&state, move |db| {
        let mut newest: std::collections::BTreeMap<model::Labels, model::Sample> =
            std::collections::BTreeMap::new();
        for matchers in &sets {
            for series in db.select(matchers, now - lookback + 1, now)? {
                if let Some(last) = series
                    .samples
                    .last()
                    .filter(|s| !model::sample::is_stale_nan(s.v))
                {
                    newest.insert(series.labels, *last);
                }
            }
        }
        Ok(newest)
    })
    .await?;
    let mut by_name: std::collections::BTreeMap<String, Vec<(model::Labels, model::Sample)>> =
        std::collections::BTreeMap::new();
    for (labels, sample) in newest {
        by_name
            .entry(labels.metric_name().to_string())
            .or_default()
            .push((labels, sample));
    }
    let mut out = String::new();
    for (name, series) in by_name {
        out.push_str(&format!("# TYPE {name} untyped\n"));
        for (labels, sample) in series {
            out.push_str(&name);
            let rest: Vec<String> = labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| {
                    let escaped = l
                        .value
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{}=\"{escaped}\"", l.name)
                })
                .collect();
            if !rest.is_empty() {
                out.push('{');
                out.push_str(&rest.join(","));
                out.push('}');
            }
            out.push_str(&format!(" {} {}\n", format_value(sample.v), sample.t));
        }
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
