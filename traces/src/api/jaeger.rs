//! Jaeger's query API (the HTTP JSON API Jaeger UI and Grafana's Jaeger data
//! source call): services, operations, trace search and trace by id, in
//! Jaeger's shapes (`{"data": …, "total": …, "errors": …}`; times in
//! microseconds; span kind, status and scope as tags, as Jaeger's OTLP
//! translation writes them). Searches run as TraceQL over the same store.

// Parameter parsing answers with the error response itself; it runs once per
// request, so the size of `Result<_, Response>` does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

use super::tempo::quote;
use super::{go_duration, parse_trace_id, TracesApi};
use crate::search::{self, SearchRequest};
use crate::span::{hex, Span, SpanKind, Status, Trace, Value};
use crate::store::now_ns;
use crate::traceql;

const DEFAULT_LIMIT: usize = 20;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        axum::Json(json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{ "code": status.as_u16(), "msg": message }],
        })),
    )
        .into_response()
}

fn data(list: Json, total: usize) -> Response {
    axum::Json(json!({ "data": list, "total": total, "limit": 0, "offset": 0, "errors": null }))
        .into_response()
}

fn services_and_operations(api: &TracesApi) -> (BTreeSet<String>, BTreeSet<(String, String, i32)>) {
    let mut services = BTreeSet::new();
    let mut operations = BTreeSet::new();
    for segment in api.store.segments() {
        services.extend(segment.services.iter().filter(|s| !s.is_empty()).cloned());
        for (service, name, kind) in &segment.operations {
            let (Some(service), Some(name)) = (
                segment.services.get(*service as usize),
                segment.names.get(*name as usize),
            ) else {
                continue;
            };
            operations.insert((service.clone(), name.clone(), *kind as i32));
        }
    }
    api.store.for_each_recent(i64::MIN, i64::MAX, |trace| {
        for span in &trace.spans {
            let service = span.service_name().unwrap_or("").to_string();
            if !service.is_empty() {
                services.insert(service.clone());
            }
            operations.insert((
                service,
                span.name.clone(),
                crate::otlp::kind_code(span.kind),
            ));
        }
        true
    });
    (services, operations)
}

fn kind_tag(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
        SpanKind::Unspecified => "",
    }
}

pub async fn services(State(api): State<Arc<TracesApi>>) -> Response {
    let services = tokio::task::spawn_blocking(move || services_and_operations(&api).0)
        .await
        .unwrap_or_default();
    let total = services.len();
    data(json!(services), total)
}

pub async fn operations(
    State(api): State<Arc<TracesApi>>,
    Path(service): Path<String>,
) -> Response {
    let operations = tokio::task::spawn_blocking(move || services_and_operations(&api).1)
        .await
        .unwrap_or_default();
    let names: BTreeSet<&String> = operations
        .iter()
        .filter(|(s, _, _)| *s == service)
        .map(|(_, n, _)| n)
        .collect();
    let total = names.len();
    data(json!(names), total)
}

/// `/api/operations?service=…&spanKind=…` (Jaeger's newer form).
pub async fn operations_v2(
    State(api): State<Arc<TracesApi>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(service) = params.get("service").cloned() else {
        return error(StatusCode::BAD_REQUEST, "parameter 'service' is required");
    };
    let kind = params.get("spanKind").cloned().unwrap_or_default();
    let operations = tokio::task::spawn_blocking(move || services_and_operations(&api).1)
        .await
        .unwrap_or_default();
    let list: Vec<Json> = operations
        .iter()
        .filter(|(s, _, k)| *s == service && (kind.is_empty() || kind_tag(crate::otlp::kind_from_code(*k)) == kind))
        .map(|(_, name, k)| json!({ "name": name, "spanKind": kind_tag(crate::otlp::kind_from_code(*k)) }))
        .collect();
    let total = list.len();
    data(Json::Array(list), total)
}

fn tag(key: &str, value: &Value) -> Json {
    match value {
        Value::Str(s) => json!({ "key": key, "type": "string", "value": s }),
        Value::Bool(b) => json!({ "key": key, "type": "bool", "value": b }),
        Value::Int(i) => json!({ "key": key, "type": "int64", "value": i }),
        Value::Float(f) => json!({ "key": key, "type": "float64", "value": f }),
        Value::Bytes(b) => json!({ "key": key, "type": "binary", "value": hex(b) }),
        other => json!({
            "key": key, "type": "string",
            "value": serde_json::to_value(crate::otlp::any_value(other)).unwrap_or(Json::Null).to_string(),
        }),
    }
}

fn span_json(span: &Span, process_id: &str) -> Json {
    let trace_id = hex(&span.trace_id);
    let mut tags: Vec<Json> = span.attributes.iter().map(|(k, v)| tag(k, v)).collect();
    let kind = kind_tag(span.kind);
    if !kind.is_empty() {
        tags.push(json!({ "key": "span.kind", "type": "string", "value": kind }));
    }
    if !span.scope.name.is_empty() {
        tags.push(json!({ "key": "otel.scope.name", "type": "string", "value": span.scope.name }));
    }
    if !span.scope.version.is_empty() {
        tags.push(
            json!({ "key": "otel.scope.version", "type": "string", "value": span.scope.version }),
        );
    }
    match span.status {
        Status::Error => {
            tags.push(json!({ "key": "error", "type": "bool", "value": true }));
            tags.push(json!({ "key": "otel.status_code", "type": "string", "value": "ERROR" }));
        }
        Status::Ok => {
            tags.push(json!({ "key": "otel.status_code", "type": "string", "value": "OK" }))
        }
        Status::Unset => {}
    }
    if !span.status_message.is_empty() {
        tags.push(json!({ "key": "otel.status_description", "type": "string", "value": span.status_message }));
    }
    let mut references: Vec<Json> = Vec::new();
    if let Some(parent) = span.parent_span_id {
        references
            .push(json!({ "refType": "CHILD_OF", "traceID": trace_id, "spanID": hex(&parent) }));
    }
    for link in &span.links {
        references.push(json!({ "refType": "FOLLOWS_FROM", "traceID": hex(&link.trace_id), "spanID": hex(&link.span_id) }));
    }
    let logs: Vec<Json> = span
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![json!({ "key": "event", "type": "string", "value": e.name })];
            fields.extend(e.attributes.iter().map(|(k, v)| tag(k, v)));
            json!({ "timestamp": e.time_ns / 1000, "fields": fields })
        })
        .collect();
    json!({
        "traceID": trace_id,
        "spanID": hex(&span.span_id),
        "operationName": span.name,
        "references": references,
        "startTime": span.start_ns / 1000,
        "duration": span.duration_ns() / 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": null,
        "flags": span.flags & 0xff,
    })
}

fn trace_json(trace: &Trace) -> Json {
    let mut processes: Vec<&Arc<Vec<(String, Value)>>> = Vec::new();
    let mut spans = Vec::with_capacity(trace.spans.len());
    for span in &trace.spans {
        let index = match processes
            .iter()
            .position(|p| Arc::ptr_eq(p, &span.resource) || ***p == *span.resource)
        {
            Some(i) => i,
            None => {
                processes.push(&span.resource);
                processes.len() - 1
            }
        };
        spans.push(span_json(span, &format!("p{}", index + 1)));
    }
    let processes: serde_json::Map<String, Json> = processes
        .iter()
        .enumerate()
        .map(|(i, resource)| {
            let service = resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .and_then(|(_, v)| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let tags: Vec<Json> = resource
                .iter()
                .filter(|(k, _)| k != "service.name")
                .map(|(k, v)| tag(k, v))
                .collect();
            (
                format!("p{}", i + 1),
                json!({ "serviceName": service, "tags": tags }),
            )
        })
        .collect();
    json!({
        "traceID": trace.trace_id().map(|id| hex(&id)).unwrap_or_default(),
        "spans": spans,
        "processes": processes,
        "warnings": null,
    })
}

pub async fn trace(State(api): State<Arc<TracesApi>>, Path(id): Path<String>) -> Response {
    let Some(trace_id) = parse_trace_id(&id) else {
        return error(StatusCode::BAD_REQUEST, format!("invalid trace id {id:?}"));
    };
    let store = api.store.clone();
    match tokio::task::spawn_blocking(move || store.trace(&trace_id, None)).await {
        Ok(Ok(Some(trace))) => data(json!([trace_json(&trace)]), 1),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, "trace not found"),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The TraceQL query a Jaeger search means.
fn jaeger_query(params: &HashMap<String, String>) -> Result<String, String> {
    let mut conditions = Vec::new();
    let service = params
        .get("service")
        .filter(|s| !s.is_empty())
        .ok_or("parameter 'service' is required")?;
    conditions.push(format!("resource.service.name = {}", quote(service)));
    if let Some(op) = params.get("operation").filter(|s| !s.is_empty()) {
        conditions.push(format!("name = {}", quote(op)));
    }
    if let Some(tags) = params.get("tags").filter(|s| !s.is_empty()) {
        let tags: HashMap<String, String> =
            serde_json::from_str(tags).map_err(|e| format!("malformed 'tags' parameter: {e}"))?;
        let mut tags: Vec<_> = tags.into_iter().collect();
        tags.sort();
        for (k, v) in tags {
            conditions.push(format!(".{} = {}", quote(&k), quote(&v)));
        }
    }
    for (name, op) in [("minDuration", ">="), ("maxDuration", "<=")] {
        if let Some(d) = params.get(name).filter(|s| !s.is_empty()) {
            let d = go_duration(d).ok_or_else(|| format!("cannot parse {name} {d:?}"))?;
            conditions.push(format!("duration {op} {d}"));
        }
    }
    Ok(format!("{{ {} }}", conditions.join(" && ")))
}

pub async fn find_traces(
    State(api): State<Arc<TracesApi>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let q = match jaeger_query(&params) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let query = match traceql::parse(&q) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let micros = |name: &str| -> Result<Option<i64>, Response> {
        match params.get(name).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(|us| Some(us.saturating_mul(1000)))
                .map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("cannot parse {name} {s:?}: expected microseconds"),
                    )
                }),
        }
    };
    let now = now_ns();
    let start_ns = match micros("start") {
        Ok(v) => v.unwrap_or(now - 3_600_000_000_000),
        Err(r) => return r,
    };
    let end_ns = match micros("end") {
        Ok(v) => v.unwrap_or(now),
        Err(r) => return r,
    };
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|&l: &usize| l > 0)
        .unwrap_or(DEFAULT_LIMIT);
    let request = SearchRequest {
        query,
        start_ns,
        end_ns,
        limit,
        spans_per_spanset: 1,
    };
    let store = api.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        let found = search::search(&store, &request)?;
        let mut traces = Vec::new();
        for hit in found.traces {
            if let Some(trace) = store.trace(&hit.trace_id, None)? {
                traces.push(trace_json(&trace));
            }
        }
        Ok::<_, search::SearchError>(traces)
    })
    .await;
    match result {
        Ok(Ok(traces)) => {
            let total = traces.len();
            data(Json::Array(traces), total)
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_become_traceql() {
        let params: HashMap<String, String> = [
            ("service", "checkout"),
            ("operation", "GET /cart"),
            ("tags", r#"{"http.status_code":"500"}"#),
            ("minDuration", "1.5ms"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let q = jaeger_query(&params).unwrap();
        assert_eq!(
            q,
            r#"{ resource.service.name = "checkout" && name = "GET /cart" && ."http.status_code" = "500" && duration >= 1500000ns }"#
        );
        assert!(traceql::parse(&q).is_ok());
        assert!(jaeger_query(&HashMap::new()).is_err());
    }
}
