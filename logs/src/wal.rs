//! The log store's write-ahead log. Every accepted push is encoded, framed
//! and written here (under the same lock that adds it to the head) before it
//! is acknowledged, so acknowledged lines survive `kill -9`.
//!
//! Layout under `<data-dir>/logs/wal/`: numbered segments `00000001`, ….
//! Framing is the metrics WAL's (`tsdb::wal::segment`: length, CRC32C,
//! type); the payload layout is in FORMAT.md ("WAL"). A flush of the head
//! rolls to a new segment, and once every partition the flushed lines went
//! to has committed, the segments up to the roll are deleted.

use std::io;
use std::path::Path;

use model::Labels;
use tracing::warn;
use tsdb::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Reader};
use tsdb::wal::record_log::RecordLog;
use tsdb::wal::segment;
use tsdb::wal::FsyncPolicy;

use crate::entry::{Entry, StreamEntries};
use crate::stream_labels;

const RECORD_PUSH: u8 = 1;
/// The head's remaining streams, written as the first record of a segment
/// by a flush: on replay they replace what earlier segments held for them.
const RECORD_CARRY: u8 = 2;

/// What a replayed record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Push,
    /// Replaces everything earlier segments held for its streams.
    Carry,
}

pub struct LogWal {
    log: RecordLog,
}

impl LogWal {
    /// Opens the WAL, calling `replay(segment, streams)` for every intact
    /// record, oldest first; a torn tail is cut off with a warning. Writing
    /// continues in a new segment.
    pub fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        mut replay: impl FnMut(u64, RecordKind, Vec<StreamEntries>),
    ) -> io::Result<LogWal> {
        let log = RecordLog::open(dir, fsync, |n, record_type, payload| {
            let kind = match record_type {
                RECORD_PUSH => RecordKind::Push,
                RECORD_CARRY => RecordKind::Carry,
                _ => {
                    warn!(
                        segment = n,
                        record_type, "skipping a log WAL record of unknown type"
                    );
                    return;
                }
            };
            match decode_push(payload) {
                Ok(streams) => replay(n, kind, streams),
                Err(e) => {
                    warn!(segment = n, error = %e, "skipping an undecodable log WAL record")
                }
            }
        })?;
        Ok(LogWal { log })
    }

    /// Writes one push. The caller holds the store's ingest lock, so records
    /// reach the WAL in the order they reach the head.
    pub fn append(&self, framed: &[u8]) -> io::Result<()> {
        self.log.append(framed)
    }

    /// fsyncs what was written so far (the `Interval` policy's tick).
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync()
    }

    /// Closes the current segment (synced) and starts the next; returns the
    /// number of the closed one: every record so far is in it or before it.
    pub fn roll(&self) -> io::Result<u64> {
        self.log.roll(&[])
    }

    /// Deletes every segment numbered `through` or lower.
    pub fn remove_through(&self, through: u64) -> io::Result<()> {
        self.log.remove_through(through)
    }
}

/// Encodes and frames one push (streams and their entries) for
/// [`LogWal::append`].
pub fn frame_push<'a>(
    streams: impl ExactSizeIterator<Item = (&'a Labels, &'a [Entry])>,
    out: &mut Vec<u8>,
) {
    frame_streams(RECORD_PUSH, streams, out)
}

/// Frames the streams a flush leaves in the head (see [`RecordKind::Carry`]).
pub fn frame_carry<'a>(
    streams: impl ExactSizeIterator<Item = (&'a Labels, &'a [Entry])>,
    out: &mut Vec<u8>,
) {
    frame_streams(RECORD_CARRY, streams, out)
}

fn frame_streams<'a>(
    record_type: u8,
    streams: impl ExactSizeIterator<Item = (&'a Labels, &'a [Entry])>,
    out: &mut Vec<u8>,
) {
    let mut payload = Vec::new();
    put_uvarint(&mut payload, streams.len() as u64);
    for (labels, entries) in streams {
        put_uvarint(&mut payload, labels.len() as u64);
        for label in labels {
            put_bytes(&mut payload, label.name.as_bytes());
            put_bytes(&mut payload, label.value.as_bytes());
        }
        put_uvarint(&mut payload, entries.len() as u64);
        for entry in entries {
            put_varint(&mut payload, entry.timestamp_ns);
            put_bytes(&mut payload, entry.line.as_bytes());
            put_uvarint(&mut payload, entry.metadata.len() as u64);
            for (name, value) in &entry.metadata {
                put_bytes(&mut payload, name.as_bytes());
                put_bytes(&mut payload, value.as_bytes());
            }
        }
    }
    segment::frame(record_type, &payload, out);
}

fn decode_push(payload: &[u8]) -> Result<Vec<StreamEntries>, DecodeError> {
    let mut reader = Reader::new(payload);
    let stream_count = reader.uvarint()? as usize;
    let mut streams = Vec::with_capacity(stream_count.min(payload.len()));
    for _ in 0..stream_count {
        let label_count = reader.uvarint()? as usize;
        let mut pairs = Vec::with_capacity(label_count.min(payload.len()));
        for _ in 0..label_count {
            pairs.push((reader.str()?.to_string(), reader.str()?.to_string()));
        }
        let labels = stream_labels::from_pairs(pairs)
            .map_err(|_| DecodeError("invalid stream labels in the WAL"))?;
        let entry_count = reader.uvarint()? as usize;
        let mut entries = Vec::with_capacity(entry_count.min(payload.len()));
        for _ in 0..entry_count {
            let timestamp_ns = reader.varint()?;
            let line = reader.str()?.to_string();
            let metadata_count = reader.uvarint()? as usize;
            let mut metadata = Vec::with_capacity(metadata_count.min(payload.len()));
            for _ in 0..metadata_count {
                metadata.push((reader.str()?.to_string(), reader.str()?.to_string()));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_what_was_appended_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let push = vec![StreamEntries {
            labels: stream_labels::parse(r#"{app="api"}"#).unwrap(),
            entries: vec![Entry {
                timestamp_ns: 7,
                line: "hello".into(),
                metadata: vec![("trace_id".into(), "t1".into())],
            }],
        }];
        {
            let wal = LogWal::open(dir.path(), FsyncPolicy::Never, |_, _, _| {}).unwrap();
            let mut framed = Vec::new();
            frame_push(
                push.iter().map(|s| (&s.labels, &s.entries[..])),
                &mut framed,
            );
            wal.append(&framed).unwrap();
            wal.append(&framed[..framed.len() - 3]).unwrap(); // torn
        }
        let mut replayed = Vec::new();
        LogWal::open(dir.path(), FsyncPolicy::Never, |n, kind, s| {
            replayed.push((n, kind, s))
        })
        .unwrap();
        assert_eq!(replayed, vec![(1, RecordKind::Push, push)]);
    }
}
