//! The head: lines accepted since their stream's last flush, in memory,
//! per stream, in arrival order (out-of-order lines are accepted; a flush
//! sorts each stream). Every line here is also in the WAL.

use std::time::Instant;

use model::Labels;
use rustc_hash::FxHashMap;

use crate::entry::{Entry, StreamId};

pub struct HeadStream {
    pub labels: Labels,
    pub entries: Vec<Entry>,
    /// Raw bytes of the lines (and metadata) held.
    pub bytes: usize,
    /// When the oldest entry held arrived.
    pub since: Instant,
}

#[derive(Default)]
pub struct Head {
    pub streams: FxHashMap<StreamId, HeadStream>,
    pub bytes: usize,
    pub lines: usize,
}

impl Head {
    pub fn append(&mut self, id: StreamId, labels: &Labels, entries: Vec<Entry>, now: Instant) {
        let stream = self.streams.entry(id).or_insert_with(|| HeadStream {
            labels: labels.clone(),
            entries: Vec::new(),
            bytes: 0,
            since: now,
        });
        let bytes: usize = entries.iter().map(entry_bytes).sum();
        stream.bytes += bytes;
        self.bytes += bytes;
        self.lines += entries.len();
        if stream.entries.is_empty() {
            stream.entries = entries;
        } else {
            stream.entries.extend(entries);
        }
    }

    /// Drops a stream and everything held for it.
    pub fn remove(&mut self, id: StreamId) {
        if let Some(stream) = self.streams.remove(&id) {
            self.bytes -= stream.bytes;
            self.lines -= stream.entries.len();
        }
    }

    /// Takes out the streams `ready` picks, leaving the rest.
    pub fn take(&mut self, mut ready: impl FnMut(&HeadStream) -> bool) -> Head {
        let ids: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| ready(s))
            .map(|(id, _)| *id)
            .collect();
        let mut taken = Head::default();
        for id in ids {
            if let Some(stream) = self.streams.remove(&id) {
                self.bytes -= stream.bytes;
                self.lines -= stream.entries.len();
                taken.bytes += stream.bytes;
                taken.lines += stream.entries.len();
                taken.streams.insert(id, stream);
            }
        }
        taken
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// Memory an entry holds in the head: the struct, its line, and its
/// metadata pairs with their allocations (so the head's limit is a memory
/// limit, not a count of raw bytes).
pub fn entry_bytes(entry: &Entry) -> usize {
    const PAIR: usize = std::mem::size_of::<(String, String)>();
    let metadata: usize = entry
        .metadata
        .iter()
        .map(|(n, v)| PAIR + n.len() + v.len())
        .sum();
    std::mem::size_of::<Entry>() + entry.line.len() + metadata
}
