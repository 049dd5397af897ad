//! Loki's JSON push body:
//! `{"streams": [{"stream": {"app": "api"}, "values": [["<unix ns>", "line", {"trace_id": "…"}]]}]}`.
//! The third element of a value (structured metadata) is optional.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::DecodeError;
use crate::entry::{Entry, StreamEntries};
use crate::stream_labels;

#[derive(Deserialize)]
struct PushBody<'a> {
    #[serde(borrow)]
    streams: Vec<StreamBody<'a>>,
}

#[derive(Deserialize)]
struct StreamBody<'a> {
    #[serde(default)]
    stream: std::collections::BTreeMap<String, String>,
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Value {
    Plain((String, String)),
    WithMetadata((String, String, std::collections::BTreeMap<String, String>)),
}

pub fn decode(body: &[u8]) -> Result<Vec<StreamEntries>, DecodeError> {
    let push: PushBody = serde_json::from_slice(body)
        .map_err(|e| DecodeError::new(format!("error parsing JSON push body: {e}")))?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for stream in push.streams {
        let labels = stream_labels::from_pairs(stream.stream)
            .map_err(|e| DecodeError::new(e.to_string()))?;
        let mut entries = Vec::with_capacity(stream.values.len());
        for raw in stream.values {
            let value: Value = serde_json::from_str(raw.get()).map_err(|_| {
                DecodeError::new(format!(
                    "error parsing JSON push body: a value must be [\"<unix epoch in nanoseconds>\", \"<log line>\"] or with a third element of structured metadata, got {}",
                    truncate(raw.get(), 100)
                ))
            })?;
            let (timestamp, line, metadata) = match value {
                Value::Plain((t, l)) => (t, l, Vec::new()),
                Value::WithMetadata((t, l, m)) => (t, l, m.into_iter().collect()),
            };
            let timestamp_ns = timestamp.parse::<i64>().map_err(|_| {
                DecodeError::new(format!(
                    "error parsing JSON push body: timestamp {timestamp:?} is not a Unix epoch in nanoseconds"
                ))
            })?;
            entries.push(Entry {
                timestamp_ns,
                line,
                metadata,
            });
        }
        streams.push(StreamEntries { labels, entries });
    }
    Ok(streams)
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values_with_and_without_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"api","env":"prod"},"values":[
            ["1700000000000000001","first"],
            ["1700000000000000002","second",{"trace_id":"abc"}]]}]}"#;
        let streams = decode(body).unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(streams[0].labels.get("app"), Some("api"));
        assert_eq!(
            streams[0].entries[0],
            Entry::new(1_700_000_000_000_000_001, "first")
        );
        assert_eq!(
            streams[0].entries[1].metadata,
            vec![("trace_id".to_string(), "abc".to_string())]
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            &b"{"[..],
            br#"{"streams":[{"stream":{"app":"api"},"values":[["notanumber","x"]]}]}"#,
            br#"{"streams":[{"stream":{"app":"api"},"values":[[1,"x"]]}]}"#,
            br#"{"streams":[{"stream":{"1app":"api"},"values":[]}]}"#,
            br#"{"streams":[{"stream":{},"values":[]}]}"#,
        ] {
            assert!(decode(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }
}
