//! OTLP/HTTP `POST /v1/traces`, answered as the OTLP specification says:
//! 200 with an `ExportTraceServiceResponse` (with `partial_success` when
//! spans were refused for invalid ids), 400 for a body that cannot be read,
//! 413 above the size limit, 415 for another content type, 503 with
//! `Retry-After` while the store cannot keep up. Error bodies are a
//! `google.rpc.Status`, in the request's encoding.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tracing::{error, warn};

use super::TracesApi;
use crate::otlp::{self, Decoded};
use crate::TracesError;

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

fn error_response(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Response {
    let message = message.into();
    // gRPC codes as OTLP/HTTP maps them: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE.
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::INTERNAL_SERVER_ERROR => 13,
        _ => 3,
    };
    let body = match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: message.clone(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
    ) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// What ingest did with a request's spans, for both transports.
pub enum Outcome {
    Stored {
        accepted: usize,
        rejected: usize,
        first_error: Option<String>,
    },
    /// The request could not be decoded at all.
    Invalid(String),
    Overloaded(String),
    Failed(String),
}

/// Decodes (on a blocking thread, as both take milliseconds for a large
/// batch) and stores spans, feeding the observer.
pub async fn store(
    api: &Arc<TracesApi>,
    decode: impl FnOnce() -> Result<Decoded, otlp::DecodeError> + Send + 'static,
) -> Outcome {
    let worker = api.clone();
    let result = tokio::task::spawn_blocking(move || {
        let decoded = decode().map_err(|e| Outcome::Invalid(e.0))?;
        let metrics = worker.store.metrics().clone();
        metrics.spans_refused.inc_by(decoded.rejected as u64);
        let accepted = decoded.spans.len();
        let pushed = worker.store.push_observed(decoded.spans, |spans| {
            if let Some(observer) = &worker.observer {
                observer(spans);
            }
        });
        match pushed {
            Ok(()) => {
                metrics.spans_received.inc_by(accepted as u64);
                if let Some(why) = &decoded.first_error {
                    warn!(rejected = decoded.rejected, accepted, first = %why, "refused spans with invalid ids");
                }
                Ok(Outcome::Stored {
                    accepted,
                    rejected: decoded.rejected,
                    first_error: decoded.first_error,
                })
            }
            Err(TracesError::Overloaded(message)) => Err(Outcome::Overloaded(message)),
            Err(e) => {
                error!(error = %e, "cannot write spans to the WAL");
                Err(Outcome::Failed(format!("cannot store the spans: {e}; retry later")))
            }
        }
    })
    .await;
    match result {
        Ok(Ok(outcome) | Err(outcome)) => outcome,
        Err(e) => Outcome::Failed(format!("ingest worker failed: {e}")),
    }
}

pub fn partial_success(
    rejected: usize,
    first_error: Option<String>,
) -> Option<ExportTracePartialSuccess> {
    (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected as i64,
        error_message: format!(
            "{rejected} spans refused: {}",
            first_error.unwrap_or_default()
        ),
    })
}

pub async fn otlp_traces(
    State(api): State<Arc<TracesApi>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let encoding = match media {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        _ => {
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Encoding::Protobuf,
                format!(
                    "unsupported Content-Type {content_type:?}: OTLP/HTTP takes application/x-protobuf or application/json"
                ),
            )
        }
    };
    let limit = api.limits.max_body_bytes;
    let body = match tsdb::api::read_body(body, limit).await {
        Ok(body) => body,
        Err(tsdb::api::BodyError::TooLarge) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                encoding,
                format!("request body too large: the limit is {limit} bytes"),
            )
        }
        Err(tsdb::api::BodyError::Broken(e)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("error reading the request body: {e}"),
            )
        }
    };
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let content_encoding = content_encoding.map(str::to_string);
    let decode = move || {
        let inflated;
        let body: &[u8] = match content_encoding.as_deref().map(str::trim) {
            None | Some("") | Some("identity") => &body,
            Some(_) => {
                inflated =
                    tsdb::api::decode_content_encoding(content_encoding.as_deref(), &body, limit)
                        .map_err(otlp::DecodeError)?;
                &inflated
            }
        };
        match encoding {
            Encoding::Protobuf => otlp::decode_protobuf(body),
            Encoding::Json => otlp::decode_json(body),
        }
    };
    match store(&api, decode).await {
        Outcome::Stored {
            rejected,
            first_error,
            ..
        } => {
            let response = ExportTraceServiceResponse {
                partial_success: partial_success(rejected, first_error),
            };
            let body = match encoding {
                Encoding::Protobuf => response.encode_to_vec(),
                Encoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, encoding.content_type())],
                body,
            )
                .into_response()
        }
        Outcome::Invalid(message) => error_response(StatusCode::BAD_REQUEST, encoding, message),
        Outcome::Overloaded(message) => {
            error_response(StatusCode::SERVICE_UNAVAILABLE, encoding, message)
        }
        Outcome::Failed(message) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, encoding, message)
        }
    }
}
