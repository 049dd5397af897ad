//! Loki's protobuf push (`pkg/push/push.proto`), snappy block-compressed as
//! Promtail, Alloy and the Loki clients send it.

use prost::Message;

use super::DecodeError;
use crate::entry::{Entry, StreamEntries};
use crate::stream_labels;

#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// `{app="api", env="prod"}`
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

pub fn decode(body: &[u8]) -> Result<Vec<StreamEntries>, DecodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::new(format!("error decompressing snappy body: {e}")))?;
    let request = PushRequest::decode(&raw[..])
        .map_err(|e| DecodeError::new(format!("error parsing protobuf push body: {e}")))?;
    let mut streams = Vec::with_capacity(request.streams.len());
    for stream in request.streams {
        let labels =
            stream_labels::parse(&stream.labels).map_err(|e| DecodeError::new(e.to_string()))?;
        let entries = stream
            .entries
            .into_iter()
            .map(|e| {
                let ts = e.timestamp.unwrap_or_default();
                Entry {
                    timestamp_ns: ts
                        .seconds
                        .saturating_mul(1_000_000_000)
                        .saturating_add(ts.nanos as i64),
                    line: e.line,
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                }
            })
            .collect();
        streams.push(StreamEntries { labels, entries });
    }
    Ok(streams)
}

/// Encodes a push as clients do (tests and benchmarks use this).
pub fn encode(streams: &[StreamEntries]) -> Vec<u8> {
    let request = PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: stream_labels::to_string(&s.labels),
                entries: s
                    .entries
                    .iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp {
                            seconds: e.timestamp_ns.div_euclid(1_000_000_000),
                            nanos: e.timestamp_ns.rem_euclid(1_000_000_000) as i32,
                        }),
                        line: e.line.clone(),
                        structured_metadata: e
                            .metadata
                            .iter()
                            .map(|(n, v)| LabelPairAdapter {
                                name: n.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy compression of an in-memory buffer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_snappy_protobuf() {
        let streams = vec![StreamEntries {
            labels: stream_labels::parse(r#"{app="api"}"#).unwrap(),
            entries: vec![Entry {
                timestamp_ns: -1_500_000_000,
                line: "x".into(),
                metadata: vec![("trace_id".into(), "abc".into())],
            }],
        }];
        assert_eq!(decode(&encode(&streams)).unwrap(), streams);
    }

    #[test]
    fn refuses_garbage_and_bad_labels() {
        assert!(decode(b"garbage").is_err());
        let bad = PushRequest {
            streams: vec![StreamAdapter {
                labels: "{app=api}".into(),
                entries: vec![],
                hash: 0,
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&bad.encode_to_vec())
            .unwrap();
        let err = decode(&body).unwrap_err().to_string();
        assert!(err.starts_with("error parsing labels '{app=api}'"), "{err}");
    }
}
