//! `GET /api/v1/logs/search?q=...&start=...&end=...&limit=...`: the audit
//! search. tantivy's query syntax over line text (default) and
//! `labels.<name>`, newest first, with the byte ranges of matched terms and
//! an HTML rendering with `<mark>`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::params::Params;
use super::LogsApi;
use crate::search::{Hit, SearchError};

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        Json(json!({"status": "error", "errorType": kind, "error": message})),
    )
        .into_response()
}

fn highlighted_html(hit: &Hit) -> String {
    let mut out = String::with_capacity(hit.line.len() + 16 * hit.highlights.len());
    let mut at = 0;
    let escape = |text: &str, out: &mut String| {
        for c in text.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                c => out.push(c),
            }
        }
    };
    for &(start, end) in &hit.highlights {
        escape(&hit.line[at..start], &mut out);
        out.push_str("<mark>");
        escape(&hit.line[start..end], &mut out);
        out.push_str("</mark>");
        at = end;
    }
    escape(&hit.line[at..], &mut out);
    out
}

pub async fn search(State(api): State<Arc<LogsApi>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref(), None);
    let Some(q) = params.get("q").map(str::to_string) else {
        return error(StatusCode::BAD_REQUEST, "bad_data", "missing parameter q: a tantivy query such as `delete AND deployments AND labels.namespace:prod`".into());
    };
    let (start, end, limit) = match (params.range(), params.limit(100)) {
        (Ok((start, end)), Ok(limit)) => (start, end, limit),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, "bad_data", e),
    };
    let store = api.store.clone();
    let outcome =
        tokio::task::spawn_blocking(move || store.search(&q, start, end.saturating_add(1), limit))
            .await;
    let result = match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(SearchError::Query(e))) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_data",
                format!("invalid search query: {e}"),
            )
        }
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    let hits: Vec<serde_json::Value> = result
        .hits
        .iter()
        .map(|hit| {
            let labels: serde_json::Map<String, serde_json::Value> = hit
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone().into()))
                .collect();
            json!({
                "timestamp": hit.timestamp_ns.to_string(),
                "labels": labels,
                "line": hit.line,
                "highlights": hit.highlights.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>(),
                "highlighted": highlighted_html(hit),
            })
        })
        .collect();
    Json(json!({
        "status": "success",
        "data": {
            "hits": hits,
            "stats": {
                "blocksRead": result.stats.blocks,
                "linesScanned": result.stats.lines,
                "compressedBytes": result.stats.compressed_bytes,
            }
        }
    }))
    .into_response()
}
