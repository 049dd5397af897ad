//! Tempo's query API, in the shapes Grafana's Tempo data source reads:
//! - `GET /api/traces/<id>`: `{"batches": [ResourceSpans…]}` (OTLP JSON:
//!   hex ids, integer enums), or the protobuf `tempopb.Trace` (wire-equal
//!   to OTLP `TracesData`) when `Accept: application/protobuf`;
//! - `GET /api/v2/traces/<id>`: `{"trace": {"resourceSpans": […]}}`, or
//!   the protobuf `TraceByIDResponse`;
//! - `GET /api/search`: TraceQL in `q`, or the legacy `tags` (logfmt),
//!   `minDuration`, `maxDuration`; `limit` (20), `spss` (3), `start`/`end`
//!   in Unix seconds (default: the last hour);
//! - `GET /api/search/tags`, `/api/v2/search/tags` (`scope`),
//!   `/api/search/tag/<tag>/values`, `/api/v2/search/tag/<tag>/values`.
//!
//! Errors are plain text with 400 (bad request) or 404 (no such trace), as
//! Tempo answers.

// Parameter parsing answers with the error response itself; it runs once per
// request, so the size of `Result<_, Response>` does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::{json, Value as Json};

use super::{parse_trace_id, TracesApi};
use crate::otlp;
use crate::search::{self, SearchRequest, SearchResult};
use crate::segment::TagScope;
use crate::span::{hex, Trace, Value};
use crate::store::now_ns;
use crate::traceql;

const DEFAULT_LIMIT: usize = 20;
const DEFAULT_SPSS: usize = 3;
/// Tempo's intrinsics, as `/api/v2/search/tags` lists them.
const INTRINSICS: &[&str] = &[
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
    "span:id",
    "trace:id",
];

/// `tempopb.TraceByIDResponse`: field 1 is the trace.
#[derive(Clone, PartialEq, prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf") || a.contains("application/x-protobuf"))
}

fn seconds_param(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, Response> {
    match params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(|secs| Some(secs.saturating_mul(1_000_000_000)))
            .map_err(|_| {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("invalid {name} {s:?}: expected Unix seconds"),
                )
            }),
    }
}

/// The `start`/`end` range of a request, in nanoseconds; the end of `end`'s
/// second is included.
fn range(params: &HashMap<String, String>) -> Result<Option<(i64, i64)>, Response> {
    let start = seconds_param(params, "start")?;
    let end = seconds_param(params, "end")?;
    Ok(match (start, end) {
        (None, None) => None,
        (s, e) => Some((
            s.unwrap_or(i64::MIN),
            e.map_or(i64::MAX, |e| e.saturating_add(999_999_999)),
        )),
    })
}

async fn find(
    api: &Arc<TracesApi>,
    id: &str,
    params: &HashMap<String, String>,
) -> Result<Trace, Response> {
    let Some(trace_id) = parse_trace_id(id) else {
        return Err(text(
            StatusCode::BAD_REQUEST,
            format!("invalid trace id {id:?}: expected up to 32 hex digits"),
        ));
    };
    let range = range(params)?;
    let store = api.store.clone();
    match tokio::task::spawn_blocking(move || store.trace(&trace_id, range)).await {
        Ok(Ok(Some(trace))) => Ok(trace),
        Ok(Ok(None)) => Err(text(StatusCode::NOT_FOUND, "trace not found")),
        Ok(Err(e)) => Err(text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// The two versions of the route differ only in the envelope.
#[derive(Clone, Copy)]
enum Version {
    V1,
    V2,
}

async fn trace_by_id(
    api: Arc<TracesApi>,
    id: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
    version: Version,
) -> Response {
    let trace = match find(&api, &id, &params).await {
        Ok(t) => t,
        Err(response) => return response,
    };
    let resource_spans = otlp::to_resource_spans(&trace.spans);
    if wants_protobuf(&headers) {
        let trace = TracesData { resource_spans };
        let body = match version {
            Version::V1 => trace.encode_to_vec(),
            Version::V2 => TraceByIdResponse { trace: Some(trace) }.encode_to_vec(),
        };
        return ([(header::CONTENT_TYPE, "application/protobuf")], body).into_response();
    }
    axum::Json(match version {
        Version::V1 => json!({ "batches": resource_spans }),
        Version::V2 => json!({ "trace": { "resourceSpans": resource_spans } }),
    })
    .into_response()
}

pub async fn trace_v1(
    State(api): State<Arc<TracesApi>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    trace_by_id(api, id, params, headers, Version::V1).await
}

pub async fn trace_v2(
    State(api): State<Arc<TracesApi>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    trace_by_id(api, id, params, headers, Version::V2).await
}

/// Quotes a string as a TraceQL string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The legacy search (`tags=k=v k2="v 2"`, `minDuration`, `maxDuration`)
/// as the TraceQL query it means: one span carrying every tag, in a trace
/// whose duration is within the bounds.
pub fn legacy_query(
    tags: Option<&str>,
    min_duration: Option<&str>,
    max_duration: Option<&str>,
) -> Result<String, String> {
    let mut conditions: Vec<String> = Vec::new();
    if let Some(tags) = tags {
        for (key, value) in logfmt(tags)? {
            conditions.push(match key.as_str() {
                "name" => format!("name = {}", quote(&value)),
                "status.code" | "status" => format!("status = {}", value.to_lowercase()),
                _ => format!(".{} = {}", attribute_name(&key), quote(&value)),
            });
        }
    }
    for (bound, op) in [(min_duration, ">="), (max_duration, "<=")] {
        if let Some(d) = bound.filter(|d| !d.is_empty()) {
            let d = super::go_duration(d).ok_or_else(|| format!("invalid duration {d:?}"))?;
            conditions.push(format!("traceDuration {op} {d}"));
        }
    }
    Ok(if conditions.is_empty() {
        "{ }".to_string()
    } else {
        format!("{{ {} }}", conditions.join(" && "))
    })
}

fn attribute_name(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
    {
        key.to_string()
    } else {
        quote(key)
    }
}

/// `k=v k2="v 2"` pairs.
fn logfmt(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("invalid tags {text:?}: expected key=value pairs"))?;
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("invalid tags {text:?}: unterminated quote"))?;
            value = quoted[..end].to_string();
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = rest[..end].to_string();
            rest = rest[end..].trim_start();
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

pub async fn search(
    State(api): State<Arc<TracesApi>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let q = match params.get("q").filter(|q| !q.trim().is_empty()) {
        Some(q) => q.clone(),
        None => match legacy_query(
            params.get("tags").map(String::as_str),
            params.get("minDuration").map(String::as_str),
            params.get("maxDuration").map(String::as_str),
        ) {
            Ok(q) => q,
            Err(e) => return text(StatusCode::BAD_REQUEST, e),
        },
    };
    let query = match traceql::parse(&q) {
        Ok(query) => query,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("invalid TraceQL query: {e}"),
            )
        }
    };
    let number = |name: &str, default: usize| -> Result<usize, Response> {
        match params.get(name).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => s.parse::<usize>().map_err(|_| {
                text(
                    StatusCode::BAD_REQUEST,
                    format!("invalid {name} {s:?}: expected a whole number"),
                )
            }),
        }
    };
    let limit = match number("limit", DEFAULT_LIMIT) {
        Ok(0) => DEFAULT_LIMIT,
        Ok(n) => n,
        Err(r) => return r,
    };
    let spss = match number("spss", DEFAULT_SPSS) {
        Ok(0) => DEFAULT_SPSS,
        Ok(n) => n,
        Err(r) => return r,
    };
    let (start_ns, end_ns) = match range(&params) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let now = now_ns();
            (now - 3_600_000_000_000, now)
        }
        Err(r) => return r,
    };
    let request = SearchRequest {
        query,
        start_ns,
        end_ns,
        limit,
        spans_per_spanset: spss,
    };
    let store = api.store.clone();
    let outcome = tokio::task::spawn_blocking(move || search::search(&store, &request)).await;
    match outcome {
        Ok(Ok(result)) => axum::Json(search_json(&result)).into_response(),
        Ok(Err(search::SearchError::Query(e))) => text(
            StatusCode::BAD_REQUEST,
            format!("invalid TraceQL query: {e}"),
        ),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn attribute_json(key: &str, value: &Value) -> Json {
    json!({ "key": key, "value": serde_json::to_value(otlp::any_value(value)).unwrap_or(Json::Null) })
}

fn search_json(result: &SearchResult) -> Json {
    let traces: Vec<Json> = result
        .traces
        .iter()
        .map(|t| {
            let spansets: Vec<Json> = t
                .spansets
                .iter()
                .map(|set| {
                    let spans: Vec<Json> = set
                        .spans
                        .iter()
                        .map(|s| {
                            json!({
                                "spanID": hex(&s.span_id),
                                "name": s.name,
                                "startTimeUnixNano": s.start_ns.to_string(),
                                "durationNanos": s.duration_ns.to_string(),
                                "attributes": s.attributes.iter().map(|(k, v)| attribute_json(k, v)).collect::<Vec<_>>(),
                            })
                        })
                        .collect();
                    let mut set_json = json!({ "spans": spans, "matched": set.matched });
                    if !set.attributes.is_empty() {
                        set_json["attributes"] = set
                            .attributes
                            .iter()
                            .map(|(k, v)| attribute_json(k, v))
                            .collect();
                    }
                    set_json
                })
                .collect();
            let mut trace = json!({
                "traceID": hex(&t.trace_id),
                "rootServiceName": t.root_service_name,
                "rootTraceName": t.root_trace_name,
                "startTimeUnixNano": t.start_ns.to_string(),
                "durationMs": t.duration_ns / 1_000_000,
            });
            if let Some(first) = spansets.first() {
                trace["spanSet"] = first.clone();
            }
            trace["spanSets"] = Json::Array(spansets);
            trace
        })
        .collect();
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": result.inspected_traces,
            "inspectedSpans": result.inspected_spans.to_string(),
            "inspectedBytes": result.inspected_bytes.to_string(),
            "completedJobs": 1,
            "totalJobs": 1,
        }
    })
}

/// Attribute names and values by scope, from the segments overlapping the
/// request's range and from the head.
fn collect_tags(
    api: &TracesApi,
    range: Option<(i64, i64)>,
) -> BTreeMap<(TagScope, String), BTreeSet<(&'static str, String)>> {
    let (start, end) = range.unwrap_or((i64::MIN, i64::MAX));
    let mut tags: BTreeMap<(TagScope, String), BTreeSet<(&'static str, String)>> = BTreeMap::new();
    for segment in api.store.segments() {
        if !segment.overlaps(start, end) {
            continue;
        }
        for (key, values) in &segment.tags {
            tags.entry(key.clone())
                .or_default()
                .extend(values.values.iter().cloned());
        }
    }
    let mut note = |scope: TagScope, attributes: &[(String, Value)]| {
        for (key, value) in attributes {
            let entry = tags.entry((scope, key.clone())).or_default();
            if entry.len() >= crate::segment::MAX_TAG_VALUES {
                continue;
            }
            let typed = match value {
                Value::Str(s) => ("string", s.clone()),
                Value::Int(i) => ("int", i.to_string()),
                Value::Float(f) => ("float", f.to_string()),
                Value::Bool(b) => ("bool", b.to_string()),
                _ => continue,
            };
            entry.insert(typed);
        }
    };
    api.store.for_each_recent(start, end, |trace| {
        for span in &trace.spans {
            note(TagScope::Resource, &span.resource);
            note(TagScope::Span, &span.attributes);
        }
        true
    });
    tags
}

pub async fn tags_v1(
    State(api): State<Arc<TracesApi>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let range = match range(&params) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let names: BTreeSet<String> = tokio::task::spawn_blocking(move || {
        collect_tags(&api, range)
            .into_keys()
            .map(|(_, name)| name)
            .collect()
    })
    .await
    .unwrap_or_default();
    axum::Json(json!({ "tagNames": names })).into_response()
}

pub async fn tags_v2(
    State(api): State<Arc<TracesApi>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let range = match range(&params) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let scope = params.get("scope").cloned().unwrap_or_default();
    if !matches!(
        scope.as_str(),
        "" | "none" | "all" | "resource" | "span" | "intrinsic"
    ) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("invalid scope {scope:?}: use resource, span, intrinsic or none"),
        );
    }
    let tags = tokio::task::spawn_blocking(move || collect_tags(&api, range))
        .await
        .unwrap_or_default();
    let names = |wanted: TagScope| -> Vec<&String> {
        tags.keys()
            .filter(|(s, _)| *s == wanted)
            .map(|(_, n)| n)
            .collect()
    };
    let mut scopes = Vec::new();
    let all = matches!(scope.as_str(), "" | "none" | "all");
    if all || scope == "resource" {
        scopes.push(json!({ "name": "resource", "tags": names(TagScope::Resource) }));
    }
    if all || scope == "span" {
        scopes.push(json!({ "name": "span", "tags": names(TagScope::Span) }));
    }
    if all || scope == "intrinsic" {
        scopes.push(json!({ "name": "intrinsic", "tags": INTRINSICS }));
    }
    axum::Json(json!({ "scopes": scopes })).into_response()
}

/// Values of a tag as `(type, value)`: a scoped attribute
/// (`resource.x`, `span.x`, `.x`), or an intrinsic.
fn tag_values(
    api: &TracesApi,
    tag: &str,
    range: Option<(i64, i64)>,
) -> Vec<(&'static str, String)> {
    let keyword = |values: &[&str]| values.iter().map(|v| ("keyword", v.to_string())).collect();
    match tag {
        "status" | "span:status" => return keyword(&["error", "ok", "unset"]),
        "kind" | "span:kind" => {
            return keyword(&[
                "client",
                "consumer",
                "internal",
                "producer",
                "server",
                "unspecified",
            ])
        }
        "name" | "span:name" | "rootServiceName" | "trace:rootService" | "rootName" => {
            let (start, end) = range.unwrap_or((i64::MIN, i64::MAX));
            let services = matches!(tag, "rootServiceName" | "trace:rootService");
            let mut values = BTreeSet::new();
            for segment in api.store.segments() {
                if segment.overlaps(start, end) {
                    let list = if services {
                        &segment.services
                    } else {
                        &segment.names
                    };
                    values.extend(list.iter().filter(|v| !v.is_empty()).cloned());
                }
            }
            api.store.for_each_recent(start, end, |trace| {
                for span in &trace.spans {
                    let value = if services {
                        span.service_name().unwrap_or("")
                    } else {
                        &span.name
                    };
                    if !value.is_empty() && values.len() < crate::segment::MAX_TAG_VALUES {
                        values.insert(value.to_string());
                    }
                }
                true
            });
            return values.into_iter().map(|v| ("string", v)).collect();
        }
        _ => {}
    }
    let (scopes, name): (&[TagScope], &str) = if let Some(n) = tag.strip_prefix("resource.") {
        (&[TagScope::Resource], n)
    } else if let Some(n) = tag.strip_prefix("span.") {
        (&[TagScope::Span], n)
    } else {
        (
            &[TagScope::Resource, TagScope::Span],
            tag.strip_prefix('.').unwrap_or(tag),
        )
    };
    let tags = collect_tags(api, range);
    let mut values = BTreeSet::new();
    for scope in scopes {
        if let Some(v) = tags.get(&(*scope, name.to_string())) {
            values.extend(v.iter().cloned());
        }
    }
    values.into_iter().collect()
}

pub async fn tag_values_v1(
    State(api): State<Arc<TracesApi>>,
    Path(tag): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let range = match range(&params) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let values = tokio::task::spawn_blocking(move || {
        let tag = tag.strip_prefix('.').unwrap_or(&tag).to_string();
        tag_values(&api, &format!(".{tag}"), range)
    })
    .await
    .unwrap_or_default();
    let values: BTreeSet<String> = values.into_iter().map(|(_, v)| v).collect();
    axum::Json(json!({ "tagValues": values })).into_response()
}

pub async fn tag_values_v2(
    State(api): State<Arc<TracesApi>>,
    Path(tag): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let range = match range(&params) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let values = tokio::task::spawn_blocking(move || tag_values(&api, &tag, range))
        .await
        .unwrap_or_default();
    let values: Vec<Json> = values
        .into_iter()
        .map(|(kind, value)| json!({ "type": kind, "value": value }))
        .collect();
    axum::Json(json!({ "tagValues": values })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_search_becomes_traceql() {
        assert_eq!(
            legacy_query(
                Some(r#"service.name=api http.url="/a b" name=GET"#),
                Some("100ms"),
                None
            )
            .unwrap(),
            r#"{ .service.name = "api" && .http.url = "/a b" && name = "GET" && traceDuration >= 100000000ns }"#
        );
        assert_eq!(legacy_query(None, None, None).unwrap(), "{ }");
        assert!(legacy_query(Some("novalue"), None, None).is_err());
        assert!(legacy_query(None, Some("soon"), None).is_err());
        for q in [
            legacy_query(Some(r#"k="a b" x=1"#), None, Some("1.5s")).unwrap(),
            legacy_query(Some("status.code=error"), None, None).unwrap(),
        ] {
            assert!(traceql::parse(&q).is_ok(), "{q}");
        }
    }
}
