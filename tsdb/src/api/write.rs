//! `POST /api/v1/write`: Prometheus Remote-Write 1.0.
//!
//! Answers: 204 once every accepted sample is in the WAL; 400 (not retried by
//! senders) for a malformed body, an invalid series or a refused sample —
//! after storing every valid series of the batch, as Prometheus does — with a
//! reason naming the first bad series; 413 above the body limits; 415 for
//! Remote-Write 2.0 bodies; 503 with `Retry-After` when overloaded or when the
//! WAL cannot be written (senders retry).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use model::remote_write::{self, MetricType, WireError, WriteRequestRef};

use super::ApiState;
use crate::metrics::{REASON_INVALID_SERIES, REASON_NATIVE_HISTOGRAM};
use crate::wal::record::{RefMetadata, RefSample};

fn plain(status: StatusCode, message: impl Into<String>) -> Response {
    (status, message.into()).into_response()
}

fn unavailable(message: String) -> Response {
    tracing::warn!(error = %message, "remote write refused for now");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        message,
    )
        .into_response()
}

pub async fn remote_write(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("io.prometheus.write.v2.Request") {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Remote-Write 2.0 is not supported yet; configure the sender with protobuf_message: prometheus.WriteRequest",
        );
    }
    if let Some(encoding) = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        if !encoding.eq_ignore_ascii_case("snappy") {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {encoding:?}: remote write bodies are snappy-compressed"),
            );
        }
    }
    let limit = state.limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large(limit);
    }
    let permit =
        match tokio::time::timeout(state.limits.queue_timeout, state.write_slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return unavailable("the server is shutting down".into()),
            Err(_) => {
                return unavailable(format!(
                    "too many concurrent remote-write requests (limit {}); retry later",
                    state.limits.max_concurrent
                ))
            }
        };
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(limit),
        Err(BodyError::Broken(e)) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("error reading the request body: {e}"),
            )
        }
    };
    let worker_state = state.clone();
    let outcome = tokio::task::spawn_blocking(move || ingest(&worker_state, &body)).await;
    drop(permit);
    match outcome {
        Ok(response) => response,
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("remote write worker failed: {e}"),
        ),
    }
}

fn too_large(limit: usize) -> Response {
    plain(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the limit of {limit} bytes; lower the sender's max_samples_per_send"),
    )
}

/// Removes a `Content-Encoding: gzip` (or `deflate`) layer from a push
/// body, refusing to inflate beyond `max_bytes`; the error is the reason
/// for a 400.
pub fn decode_content_encoding(
    encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    let limit = max_bytes as u64 + 1;
    let read = match encoding.map(str::trim) {
        None | Some("") | Some("identity") => return Ok(body.to_vec()),
        Some("gzip") => flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        Some("deflate") => flate2::read::ZlibDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        Some(other) => {
            return Err(format!(
                "unsupported Content-Encoding {other:?}: use gzip, deflate or none"
            ))
        }
    };
    read.map_err(|e| format!("cannot decompress the body: {e}"))?;
    if out.len() > max_bytes {
        return Err(format!(
            "decompressed body is larger than the limit of {max_bytes} bytes"
        ));
    }
    Ok(out)
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit: answer 413.
    TooLarge,
    /// The connection failed mid-body: answer 400 with the reason.
    Broken(String),
}

/// How far past the limit an oversized body is read (and dropped) before
/// the connection is given up.
const DRAIN_BYTES: usize = 16 << 20;

/// Reads a request body of at most `limit` bytes. A body a little larger is
/// read on to its end (up to [`DRAIN_BYTES`] past the limit) and dropped, so
/// the client, still sending, reads the 413 instead of a reset connection;
/// a much larger one is cut off there.
pub async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut out = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            if seen > limit.saturating_add(DRAIN_BYTES) {
                return Err(BodyError::TooLarge);
            }
            out = Vec::new();
            continue;
        }
        out.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

thread_local! {
    /// The uncompressed body, reused by each blocking worker thread.
    static BODY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes and stores one request. Runs on a blocking thread: it may fsync.
fn ingest(state: &ApiState, body: &[u8]) -> Response {
    BODY.with_borrow_mut(|raw| {
        let decoded = remote_write::decompress_into(body, state.limits.max_decoded_bytes, raw)
            .and_then(|()| remote_write::decode_write_request_ref(raw));
        match decoded {
            Ok(request) => store(state, &request),
            Err(e @ WireError::TooLarge { .. }) => {
                plain(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            Err(e) => plain(StatusCode::BAD_REQUEST, e.to_string()),
        }
    })
}

fn store(state: &ApiState, request: &WriteRequestRef<'_>) -> Response {
    let head = state.db.head();
    let metrics = state.db.metrics();

    let pairs: Vec<_> = request
        .series
        .iter()
        .map(|s| request.labels(s).iter().copied())
        .collect();
    let refs = match head.get_or_create(&pairs) {
        Ok(refs) => refs,
        Err(e) => return unavailable(format!("cannot write to the WAL: {e}")),
    };
    let mut first_error: Option<String> = None;
    let mut samples = Vec::with_capacity(request.num_samples());
    let mut invalid_samples = 0u64;
    for (series, resolved) in request.series.iter().zip(refs) {
        let series_samples = request.samples(series);
        match resolved {
            Ok(r) => samples.extend(series_samples.iter().map(|s| RefSample {
                series: r,
                t: s.t,
                v: s.v,
            })),
            Err(e) => {
                invalid_samples += series_samples.len() as u64;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    metrics.reject(REASON_INVALID_SERIES, invalid_samples);

    let report = match head.commit(&samples) {
        Ok(report) => report,
        Err(e) => return unavailable(format!("cannot write to the WAL: {e}")),
    };
    if let Some(position) = report.wal_position {
        if let Err(e) = head.wal().sync_to(position) {
            return unavailable(format!("cannot fsync the WAL: {e}"));
        }
    }
    if !request.metadata.is_empty() {
        let entries = request
            .metadata
            .iter()
            .map(|m| RefMetadata {
                metric_family: m.metric_family_name.clone(),
                kind: MetricType::try_from(m.r#type)
                    .unwrap_or(MetricType::Unknown)
                    .api_name()
                    .to_string(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect();
        if let Err(e) = head.set_metadata(entries) {
            return unavailable(format!("cannot write to the WAL: {e}"));
        }
    }
    if first_error.is_none() {
        if let Some((sample, why)) = report.first_rejection {
            let series = head
                .series_labels(sample.series)
                .map(|l| l.to_string())
                .unwrap_or_default();
            first_error = Some(format!(
                "{}: series {series}, timestamp {}; {} of {} samples in this request were refused",
                why.describe(),
                sample.t,
                report.rejected,
                samples.len()
            ));
        }
    }
    if request.native_histograms > 0 {
        metrics.reject(REASON_NATIVE_HISTOGRAM, request.native_histograms as u64);
        first_error.get_or_insert_with(|| {
            format!(
                "{} native histogram samples were refused: Vigil stores float samples only so far",
                request.native_histograms
            )
        });
    }
    match first_error {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(reason) => plain(
            StatusCode::BAD_REQUEST,
            format!("{reason} (the valid series of this request were stored)"),
        ),
    }
}
