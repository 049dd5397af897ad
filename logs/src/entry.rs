//! What the store holds: a stream is a label set, and each of its entries is
//! a timestamped line with optional structured metadata (Loki's model).

use model::Labels;

/// One log line. Timestamps are Unix nanoseconds, as on Loki's wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub timestamp_ns: i64,
    pub line: String,
    /// Structured metadata: name/value pairs attached to this line only,
    /// not part of the stream's identity.
    pub metadata: Vec<(String, String)>,
}

impl Entry {
    pub fn new(timestamp_ns: i64, line: impl Into<String>) -> Entry {
        Entry {
            timestamp_ns,
            line: line.into(),
            metadata: Vec::new(),
        }
    }
}

/// The entries of one stream in one push request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntries {
    pub labels: Labels,
    pub entries: Vec<Entry>,
}

/// A stream's identity inside the store: a 64-bit fingerprint of its labels.
pub type StreamId = u64;

/// The fingerprint of a label set. Labels are sorted, so equal sets hash equal.
/// With a million streams the chance of any collision is about 3e-8.
pub fn stream_id(labels: &Labels) -> StreamId {
    let mut hasher = xxhash_rust::xxh64::Xxh64::new(0x5649_4749_4c4f_4753);
    for label in labels {
        hasher.update(label.name.as_bytes());
        hasher.update(&[0xff]);
        hasher.update(label.value.as_bytes());
        hasher.update(&[0xfe]);
    }
    hasher.digest()
}
