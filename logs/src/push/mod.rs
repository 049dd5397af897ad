//! Ingest: decoding the push formats into streams of entries, and checking
//! them against the limits Loki users know, before the store sees them.
//!
//! Formats: Loki's JSON push (optionally gzip), Loki's snappy-compressed
//! protobuf `PushRequest` (`loki_proto`), and OTLP logs over HTTP in
//! protobuf or JSON (`otlp`).

pub mod levels;
pub mod limits;
pub mod loki_json;
pub mod loki_proto;
pub mod otlp;

use crate::entry::StreamEntries;

/// A push body that could not be read at all: answered with 400 and the
/// reason, and nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl DecodeError {
    pub fn new(reason: impl Into<String>) -> Self {
        DecodeError(reason.into())
    }
}

/// Removes a `Content-Encoding: gzip` (or `deflate`) layer, refusing to
/// inflate beyond `max_bytes`.
pub fn decode_content_encoding(
    encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Vec<u8>, DecodeError> {
    tsdb::api::decode_content_encoding(encoding, body, max_bytes).map_err(DecodeError)
}

/// Decodes a Loki push body by its content type (`application/json` or
/// `application/x-protobuf`, Loki's default when none is given).
pub fn decode_loki(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<StreamEntries>, DecodeError> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("application/x-protobuf");
    match media_type {
        "application/json" => loki_json::decode(body),
        "application/x-protobuf" | "" => loki_proto::decode(body),
        other => Err(DecodeError::new(format!(
            "unsupported Content-Type {other:?}: use application/json or application/x-protobuf"
        ))),
    }
}
