//! `POST /loki/api/v1/push` and `POST /v1/logs`: read the body, decode it,
//! check limits, store what is valid, and answer as Loki does (204; 400 or
//! 429 with the refusals, one per line; 413 for an oversized body).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::{error, warn};

use super::LogsApi;
use crate::entry::StreamEntries;
use crate::push::{self, DecodeError};
use crate::store::now_ns;
use crate::LogsError;

/// Loki answers refusals with at most this many of them listed.
const MAX_LISTED_REFUSALS: usize = 10;

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    if !message.ends_with('\n') {
        message.push('\n');
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The tenant of a request: `X-Scope-OrgID`, or Loki's `fake` when auth is off.
pub fn tenant(headers: &HeaderMap) -> String {
    headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("fake")
        .to_string()
}

async fn read_body(api: &LogsApi, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Response> {
    let limit = api.validator.limits().max_body_bytes;
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: the limit is {limit} bytes"),
        )
    };
    let body = match tsdb::api::read_body(body, limit).await {
        Ok(body) => body,
        Err(tsdb::api::BodyError::TooLarge) => return Err(too_large()),
        Err(tsdb::api::BodyError::Broken(e)) => {
            return Err(plain(
                StatusCode::BAD_REQUEST,
                format!("error reading the request body: {e}"),
            ))
        }
    };
    push::decode_content_encoding(header_str(headers, header::CONTENT_ENCODING), &body, limit)
        .map_err(|e| plain(StatusCode::BAD_REQUEST, e.to_string()))
}

pub async fn loki_push(
    State(api): State<Arc<LogsApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&api, &headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let content_type = header_str(&headers, header::CONTENT_TYPE).map(str::to_string);
    ingest(api, tenant(&headers), move || {
        push::decode_loki(content_type.as_deref(), &body)
    })
    .await
}

pub async fn otlp_logs(
    State(api): State<Arc<LogsApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(&api, &headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let json = header_str(&headers, header::CONTENT_TYPE)
        .is_some_and(|c| c.starts_with("application/json"));
    let protobuf = header_str(&headers, header::CONTENT_TYPE).is_none_or(|c| {
        c.starts_with("application/x-protobuf") || c.starts_with("application/protobuf")
    });
    if !json && !protobuf {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported Content-Type: OTLP/HTTP takes application/x-protobuf or application/json",
        );
    }
    let response = ingest(api, tenant(&headers), move || {
        if json {
            push::otlp::decode_json(&body)
        } else {
            push::otlp::decode_protobuf(&body)
        }
    })
    .await;
    if response.status() != StatusCode::NO_CONTENT {
        return response;
    }
    // OTLP/HTTP success: an empty ExportLogsServiceResponse.
    let content_type = if json {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let body: &'static [u8] = if json { b"{}" } else { b"" };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn ingest(
    api: Arc<LogsApi>,
    tenant: String,
    decode: impl FnOnce() -> Result<Vec<StreamEntries>, DecodeError> + Send + 'static,
) -> Response {
    let worker = api.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let streams = decode().map_err(|e| Box::new(plain(StatusCode::BAD_REQUEST, e.to_string())))?;
        let mut checked = worker.validator.check(&tenant, streams, now_ns());
        if worker.validator.limits().discover_log_levels {
            push::levels::annotate(&mut checked.accepted);
        }
        let lines: usize = checked.accepted.iter().map(|s| s.entries.len()).sum();
        let bytes: usize = checked
            .accepted
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len())
            .sum();
        let tailed = (worker.tail.receiver_count() > 0).then(|| Arc::new(checked.accepted.clone()));
        match worker.store.push(checked.accepted) {
            Ok(()) => {}
            Err(LogsError::Overloaded(message)) => {
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                return Err(Box::new(response));
            }
            Err(e) => {
                error!(error = %e, "cannot write pushed logs to the WAL");
                return Err(Box::new(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot store the lines: {e}; retry later"),
                )));
            }
        }
        if let Some(tailed) = tailed {
            let _ = worker.tail.send(tailed);
        }
        worker.metrics.lines_received.inc_by(lines as u64);
        worker.metrics.bytes_received.inc_by(bytes as u64);
        if checked.refused.is_empty() {
            return Ok(());
        }
        worker.metrics.lines_refused.inc_by(checked.refused.len() as u64);
        let status = if checked.too_many {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut message = checked
            .refused
            .iter()
            .take(MAX_LISTED_REFUSALS)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        if checked.refused.len() > MAX_LISTED_REFUSALS {
            message.push_str(&format!(
                "\nand {} more refusals",
                checked.refused.len() - MAX_LISTED_REFUSALS
            ));
        }
        warn!(refused = checked.refused.len(), accepted_lines = lines, first = %checked.refused[0], "refused part of a log push");
        Err(Box::new(plain(status, message)))
    })
    .await;
    match outcome {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(response)) => *response,
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("log push worker failed: {e}"),
        ),
    }
}
