//! A block: the lines of one stream over a stretch of time, sorted by
//! timestamp, column by column, compressed with zstd. Byte layout in
//! FORMAT.md ("Blocks").

use tsdb::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Reader};

use crate::entry::Entry;

/// Raw bytes (lines and metadata) at which a stream's block is cut: big
/// enough for zstd to find the stream's repetitions, small enough that a
/// rare-token hit decompresses little.
pub const TARGET_RAW_BYTES: usize = 256 << 10;

/// zstd level of blocks: level 3 compresses logs to about a sixth at over
/// 200 MB/s per core, so compression keeps up with ingest on one core.
pub const ZSTD_LEVEL: i32 = 3;

/// A compressed block and the size it decompresses to.
pub struct Encoded {
    pub compressed: Vec<u8>,
    pub raw_len: usize,
}

/// Encodes entries (sorted by timestamp) and compresses them.
pub fn encode(entries: &[&Entry]) -> Encoded {
    debug_assert!(entries
        .windows(2)
        .all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    let raw_len: usize = entries
        .iter()
        .map(|e| e.line.len() + 12 + e.metadata.len() * 16)
        .sum();
    let mut raw = Vec::with_capacity(raw_len);
    put_uvarint(&mut raw, entries.len() as u64);
    let mut previous = 0i64;
    for entry in entries {
        put_varint(&mut raw, entry.timestamp_ns.wrapping_sub(previous));
        previous = entry.timestamp_ns;
    }
    for entry in entries {
        put_uvarint(&mut raw, entry.line.len() as u64);
    }
    for entry in entries {
        put_uvarint(&mut raw, entry.metadata.len() as u64);
    }
    for entry in entries {
        raw.extend_from_slice(entry.line.as_bytes());
    }
    for entry in entries {
        for (name, value) in &entry.metadata {
            put_bytes(&mut raw, name.as_bytes());
            put_bytes(&mut raw, value.as_bytes());
        }
    }
    Encoded {
        compressed: zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .expect("zstd compression of an in-memory buffer"),
        raw_len: raw.len(),
    }
}

/// A decompressed block, read line by line without copying.
pub struct Block {
    timestamps: Vec<i64>,
    /// Start of each line in `lines`, plus the end.
    line_bounds: Vec<usize>,
    /// Start of each entry's metadata pairs in `metadata`, plus the end.
    metadata_bounds: Vec<usize>,
    lines: String,
    metadata: Vec<(String, String)>,
}

impl Block {
    /// Decompresses and checks a block of `raw_len` bytes decompressed.
    pub fn decode(compressed: &[u8], raw_len: usize) -> Result<Block, DecodeError> {
        let raw = zstd::bulk::decompress(compressed, raw_len)
            .map_err(|_| DecodeError("block does not decompress"))?;
        let mut reader = Reader::new(&raw);
        let count = reader.uvarint()? as usize;
        if count > raw.len() {
            return Err(DecodeError("block line count exceeds its size"));
        }
        let mut timestamps = Vec::with_capacity(count);
        let mut previous = 0i64;
        for _ in 0..count {
            previous = previous.wrapping_add(reader.varint()?);
            timestamps.push(previous);
        }
        let mut line_bounds = Vec::with_capacity(count + 1);
        let mut end = 0usize;
        line_bounds.push(0);
        for _ in 0..count {
            end = end
                .checked_add(reader.uvarint()? as usize)
                .ok_or(DecodeError("line length overflows"))?;
            line_bounds.push(end);
        }
        let mut metadata_bounds = Vec::with_capacity(count + 1);
        let mut pairs = 0usize;
        metadata_bounds.push(0);
        for _ in 0..count {
            pairs = pairs
                .checked_add(reader.uvarint()? as usize)
                .ok_or(DecodeError("metadata count overflows"))?;
            metadata_bounds.push(pairs);
        }
        let lines = std::str::from_utf8(reader.bytes(end)?)
            .map_err(|_| DecodeError("block lines are not UTF-8"))?
            .to_string();
        let mut metadata = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            let name = reader.str()?.to_string();
            let value = reader.str()?.to_string();
            metadata.push((name, value));
        }
        for &bound in &line_bounds {
            if !lines.is_char_boundary(bound) {
                return Err(DecodeError("line boundary inside a character"));
            }
        }
        Ok(Block {
            timestamps,
            line_bounds,
            metadata_bounds,
            lines,
            metadata,
        })
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn timestamp(&self, i: usize) -> i64 {
        self.timestamps[i]
    }

    pub fn line(&self, i: usize) -> &str {
        &self.lines[self.line_bounds[i]..self.line_bounds[i + 1]]
    }

    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        &self.metadata[self.metadata_bounds[i]..self.metadata_bounds[i + 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_lines_timestamps_and_metadata() {
        let entries = [
            Entry::new(-5, "before the epoch"),
            Entry {
                timestamp_ns: 1_700_000_000_000_000_000,
                line: "ünïcode ✓".into(),
                metadata: vec![("trace_id".into(), "abc".into()), ("k".into(), "".into())],
            },
            Entry::new(1_700_000_000_000_000_000, ""),
            Entry::new(i64::MAX, "last"),
        ];
        let refs: Vec<&Entry> = entries.iter().collect();
        let encoded = encode(&refs);
        let block = Block::decode(&encoded.compressed, encoded.raw_len).unwrap();
        assert_eq!(block.len(), 4);
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(block.timestamp(i), entry.timestamp_ns);
            assert_eq!(block.line(i), entry.line);
            assert_eq!(block.metadata(i), &entry.metadata[..]);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let entries = [Entry::new(1, "hello world")];
        let good = encode(&entries.iter().collect::<Vec<_>>());
        let truncated = &good.compressed[..good.compressed.len() - 1];
        assert!(Block::decode(truncated, good.raw_len).is_err());
        assert!(Block::decode(&good.compressed, good.raw_len - 1).is_err());
        assert!(Block::decode(b"not zstd", 100).is_err());
        let raw = [5u8, 1, 1]; // five lines claimed, two bytes follow
        let compressed = zstd::bulk::compress(&raw, 1).unwrap();
        assert!(Block::decode(&compressed, 100).is_err());
    }
}
