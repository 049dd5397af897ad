//! Segment files: the immutable on-disk unit of the trace store, one per
//! flush (byte layout in FORMAT.md, "Segments").
//!
//! A segment holds whole traces (all the spans of each trace that were in
//! the head when it was flushed) in row-oriented, zstd-compressed blocks of
//! about [`BLOCK_RAW_BYTES`]. Beside the blocks it has:
//! - the *trace index*: every trace id, sorted, with its block and where its
//!   record is inside the decompressed block, so a lookup by id is a binary
//!   search and one block read;
//! - per block, a *search summary*: columns over the block's spans (service,
//!   span name, kind and status, duration) and per-trace time ranges, which
//!   search scans without decoding spans;
//! - a dictionary of the service and span names the summaries refer to, and
//!   of attribute names with their values (up to [`MAX_TAG_VALUES`] per
//!   name), which the tag routes answer from and which prunes segments for
//!   attribute equality.
//!
//! Everything but the blocks and summaries is in the zstd-compressed *meta*
//! section, read into memory on open; blocks and summaries are read from
//! the memory-mapped file on demand.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rustc_hash::FxHashMap;
use tsdb::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Reader};

use crate::codec;
use crate::span::{Span, Trace, Value};

/// Decompressed size a block is cut at.
pub const BLOCK_RAW_BYTES: usize = 256 << 10;
/// Distinct values kept per attribute name in a segment's dictionary.
pub const MAX_TAG_VALUES: usize = 1000;
/// Longer values are not kept in the dictionary.
const MAX_TAG_VALUE_LEN: usize = 256;
const ZSTD_LEVEL: i32 = 3;
const MAGIC: &[u8; 8] = b"VGLTRC01";
const TRAILER_LEN: usize = 8 + 8 + 8;

/// Where an attribute lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagScope {
    Resource = 0,
    Span = 1,
}

/// The distinct values of one attribute name in a segment.
#[derive(Clone, Debug, Default)]
pub struct TagValues {
    /// Typed values rendered as text, e.g. `("string", "GET")`, `("int", "200")`.
    pub values: Vec<(&'static str, String)>,
    /// More than [`MAX_TAG_VALUES`] values, or values too long to keep.
    pub truncated: bool,
}

/// What the in-memory part of a segment says about one block.
#[derive(Clone, Debug)]
pub struct BlockMeta {
    offset: u64,
    compressed_len: u32,
    raw_len: u32,
    summary_offset: u64,
    summary_len: u32,
    pub min_ns: i64,
    pub max_ns: i64,
    pub spans: u32,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    trace_id: [u8; 16],
    block: u32,
    offset: u32,
    len: u32,
}

/// A decoded search summary of one block.
#[derive(Debug, Default)]
pub struct Summary {
    /// Per trace: record offset and length in the block, time range, span count.
    pub traces: Vec<SummaryTrace>,
    /// Per span, in trace order: index into [`Segment::services`].
    pub service: Vec<u32>,
    /// Per span: index into [`Segment::names`].
    pub name: Vec<u32>,
    /// Per span: `kind << 2 | status` (OTLP codes).
    pub kind_status: Vec<u8>,
    pub duration_ns: Vec<u64>,
}

#[derive(Clone, Copy, Debug)]
pub struct SummaryTrace {
    pub offset: u32,
    pub len: u32,
    pub start_ns: i64,
    pub end_ns: i64,
    pub spans: u32,
}

/// An open segment.
pub struct Segment {
    path: PathBuf,
    mmap: Mmap,
    pub seq: u64,
    /// The WAL segment this flush rolled: every span it holds was logged in
    /// that segment or earlier.
    pub wal_through: u64,
    pub min_ns: i64,
    pub max_ns: i64,
    pub span_count: u64,
    pub blocks: Vec<BlockMeta>,
    index: Vec<IndexEntry>,
    pub services: Vec<String>,
    pub names: Vec<String>,
    /// Span names per service (Jaeger's operations), as indexes.
    pub operations: Vec<(u32, u32, u8)>,
    pub tags: BTreeMap<(TagScope, String), TagValues>,
}

pub fn file_name(seq: u64) -> String {
    format!("{seq:010}.seg")
}

pub fn parse_file_name(name: &str) -> Option<u64> {
    name.strip_suffix(".seg")?.parse().ok()
}

/// Builds a segment from whole traces and writes it durably (temporary
/// file, fsync, rename, directory fsync). Returns the opened segment.
pub fn write(dir: &Path, seq: u64, wal_through: u64, traces: &[&Trace]) -> io::Result<Segment> {
    let mut services: Vec<String> = Vec::new();
    let mut service_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut operations: FxHashMap<(u32, u32, u8), ()> = FxHashMap::default();
    let intern = |ids: &mut FxHashMap<String, u32>, list: &mut Vec<String>, s: &str| -> u32 {
        if let Some(&id) = ids.get(s) {
            return id;
        }
        let id = list.len() as u32;
        list.push(s.to_string());
        ids.insert(s.to_string(), id);
        id
    };
    // Per scope (resource, span): attribute name → its distinct values,
    // with the hashes of those seen so far.
    let mut tag_builders: [FxHashMap<String, (TagValues, rustc_hash::FxHashSet<u64>)>; 2] =
        Default::default();
    let mut note_tags = |scope: TagScope, attributes: &[(String, Value)]| {
        let builders = &mut tag_builders[scope as usize];
        for (key, value) in attributes {
            let (tag, seen) = match builders.get_mut(key.as_str()) {
                Some(entry) => entry,
                None => builders.entry(key.clone()).or_default(),
            };
            if tag.truncated {
                continue;
            }
            let (kind, text): (&'static str, std::borrow::Cow<'_, str>) = match value {
                Value::Str(s) => ("string", s.as_str().into()),
                Value::Int(i) => ("int", i.to_string().into()),
                Value::Float(f) => ("float", f.to_string().into()),
                Value::Bool(b) => ("bool", if *b { "true" } else { "false" }.into()),
                _ => ("", "".into()),
            };
            if kind.is_empty() || text.len() > MAX_TAG_VALUE_LEN {
                tag.truncated = true;
                tag.values.clear();
                continue;
            }
            let hash =
                xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), type_code(kind) as u64);
            if seen.insert(hash) {
                if tag.values.len() >= MAX_TAG_VALUES {
                    tag.truncated = true;
                    tag.values.clear();
                    seen.clear();
                } else {
                    tag.values.push((kind, text.into_owned()));
                }
            }
        }
    };

    let tmp = dir.join(format!("{}.tmp", file_name(seq)));
    let mut file = io::BufWriter::new(File::create(&tmp)?);
    let mut written: u64 = 0;
    let mut blocks: Vec<BlockMeta> = Vec::new();
    let mut index: Vec<IndexEntry> = Vec::new();
    let mut raw = Vec::with_capacity(BLOCK_RAW_BYTES + (64 << 10));
    let mut summary = SummaryBuilder::default();
    let mut span_count = 0u64;
    let (mut seg_min, mut seg_max) = (i64::MAX, i64::MIN);
    // Resources are shared by the spans of a batch: note each one's attributes once.
    let mut seen_resources: rustc_hash::FxHashSet<*const Vec<(String, Value)>> = Default::default();

    let cut = |raw: &mut Vec<u8>,
               summary: &mut SummaryBuilder,
               blocks: &mut Vec<BlockMeta>,
               file: &mut io::BufWriter<File>,
               written: &mut u64|
     -> io::Result<()> {
        if raw.is_empty() {
            return Ok(());
        }
        let compressed = zstd::bulk::compress(raw, ZSTD_LEVEL)?;
        let summary_bytes = zstd::bulk::compress(&summary.encode(), ZSTD_LEVEL)?;
        let offset = *written;
        file.write_all(&compressed)?;
        file.write_all(&summary_bytes)?;
        *written += (compressed.len() + summary_bytes.len()) as u64;
        blocks.push(BlockMeta {
            offset,
            compressed_len: compressed.len() as u32,
            raw_len: raw.len() as u32,
            summary_offset: offset + compressed.len() as u64,
            summary_len: summary_bytes.len() as u32,
            min_ns: summary.min_ns,
            max_ns: summary.max_ns,
            spans: summary.service.len() as u32,
        });
        raw.clear();
        *summary = SummaryBuilder::default();
        Ok(())
    };

    for trace in traces {
        let Some(trace_id) = trace.trace_id() else {
            continue;
        };
        let offset = raw.len();
        codec::encode_trace(&trace.spans.iter().collect::<Vec<_>>(), &mut raw);
        let (start, end) = (
            trace.spans.iter().map(|s| s.start_ns).min().unwrap_or(0),
            trace.spans.iter().map(|s| s.end_ns).max().unwrap_or(0),
        );
        index.push(IndexEntry {
            trace_id,
            block: blocks.len() as u32,
            offset: offset as u32,
            len: (raw.len() - offset) as u32,
        });
        summary.traces.push(SummaryTrace {
            offset: offset as u32,
            len: (raw.len() - offset) as u32,
            start_ns: start,
            end_ns: end,
            spans: trace.spans.len() as u32,
        });
        summary.min_ns = summary.min_ns.min(start);
        summary.max_ns = summary.max_ns.max(end);
        seg_min = seg_min.min(start);
        seg_max = seg_max.max(end);
        for span in &trace.spans {
            let service = intern(
                &mut service_ids,
                &mut services,
                span.service_name().unwrap_or(""),
            );
            let name = intern(&mut name_ids, &mut names, &span.name);
            let kind_status = (crate::otlp::kind_code(span.kind) as u8) << 2
                | crate::otlp::status_code(span.status) as u8;
            operations.insert((service, name, kind_status >> 2), ());
            summary.service.push(service);
            summary.name.push(name);
            summary.kind_status.push(kind_status);
            summary.duration_ns.push(span.duration_ns().max(0) as u64);
            let resource_ptr = std::sync::Arc::as_ptr(&span.resource);
            if seen_resources.insert(resource_ptr) {
                note_tags(TagScope::Resource, &span.resource);
            }
            note_tags(TagScope::Span, &span.attributes);
        }
        span_count += trace.spans.len() as u64;
        if raw.len() >= BLOCK_RAW_BYTES {
            cut(&mut raw, &mut summary, &mut blocks, &mut file, &mut written)?;
        }
    }
    cut(&mut raw, &mut summary, &mut blocks, &mut file, &mut written)?;
    index.sort_unstable_by_key(|e| e.trace_id);
    let [resource_tags, span_tags] = tag_builders;
    let tags: BTreeMap<(TagScope, String), TagValues> = resource_tags
        .into_iter()
        .map(|(k, (t, _))| ((TagScope::Resource, k), t))
        .chain(
            span_tags
                .into_iter()
                .map(|(k, (t, _))| ((TagScope::Span, k), t)),
        )
        .collect();

    let mut meta = Vec::new();
    put_uvarint(&mut meta, seq);
    put_uvarint(&mut meta, wal_through);
    put_varint(&mut meta, seg_min);
    put_varint(&mut meta, seg_max);
    put_uvarint(&mut meta, span_count);
    put_uvarint(&mut meta, blocks.len() as u64);
    for b in &blocks {
        put_uvarint(&mut meta, b.offset);
        put_uvarint(&mut meta, b.compressed_len as u64);
        put_uvarint(&mut meta, b.raw_len as u64);
        put_uvarint(&mut meta, b.summary_offset);
        put_uvarint(&mut meta, b.summary_len as u64);
        put_varint(&mut meta, b.min_ns);
        put_varint(&mut meta, b.max_ns);
        put_uvarint(&mut meta, b.spans as u64);
    }
    put_uvarint(&mut meta, index.len() as u64);
    for e in &index {
        meta.extend_from_slice(&e.trace_id);
        put_uvarint(&mut meta, e.block as u64);
        put_uvarint(&mut meta, e.offset as u64);
        put_uvarint(&mut meta, e.len as u64);
    }
    for list in [&services, &names] {
        put_uvarint(&mut meta, list.len() as u64);
        for s in list {
            put_bytes(&mut meta, s.as_bytes());
        }
    }
    let mut operations: Vec<(u32, u32, u8)> = operations.into_keys().collect();
    operations.sort_unstable();
    put_uvarint(&mut meta, operations.len() as u64);
    for (service, name, kind) in &operations {
        put_uvarint(&mut meta, *service as u64);
        put_uvarint(&mut meta, *name as u64);
        meta.push(*kind);
    }
    put_uvarint(&mut meta, tags.len() as u64);
    for ((scope, key), TagValues { values, truncated }) in &tags {
        meta.push(match scope {
            TagScope::Resource => 0,
            TagScope::Span => 1,
        });
        put_bytes(&mut meta, key.as_bytes());
        meta.push(*truncated as u8);
        put_uvarint(&mut meta, values.len() as u64);
        for (kind, value) in values {
            meta.push(type_code(kind));
            put_bytes(&mut meta, value.as_bytes());
        }
    }
    let meta = zstd::bulk::compress(&meta, ZSTD_LEVEL)?;
    let meta_offset = written;
    file.write_all(&meta)?;
    file.write_all(&meta_offset.to_le_bytes())?;
    file.write_all(&(meta.len() as u64).to_le_bytes())?;
    file.write_all(MAGIC)?;
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    let path = dir.join(file_name(seq));
    fs::rename(&tmp, &path)?;
    tsdb::wal::sync_dir(dir)?;
    Segment::open(&path)
}

fn type_code(kind: &str) -> u8 {
    match kind {
        "string" => 0,
        "int" => 1,
        "float" => 2,
        _ => 3,
    }
}

fn type_of_code(code: u8) -> &'static str {
    match code {
        0 => "string",
        1 => "int",
        2 => "float",
        _ => "bool",
    }
}

#[derive(Default)]
struct SummaryBuilder {
    traces: Vec<SummaryTrace>,
    service: Vec<u32>,
    name: Vec<u32>,
    kind_status: Vec<u8>,
    duration_ns: Vec<u64>,
    min_ns: i64,
    max_ns: i64,
}

impl SummaryBuilder {
    /// Columns one after another, so each compresses with its kind.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uvarint(&mut out, self.traces.len() as u64);
        let mut previous_start = 0i64;
        for t in &self.traces {
            put_uvarint(&mut out, t.offset as u64);
            put_uvarint(&mut out, t.len as u64);
            put_varint(&mut out, t.start_ns.wrapping_sub(previous_start));
            put_varint(&mut out, t.end_ns.wrapping_sub(t.start_ns));
            put_uvarint(&mut out, t.spans as u64);
            previous_start = t.start_ns;
        }
        put_uvarint(&mut out, self.service.len() as u64);
        for &s in &self.service {
            put_uvarint(&mut out, s as u64);
        }
        for &n in &self.name {
            put_uvarint(&mut out, n as u64);
        }
        out.extend_from_slice(&self.kind_status);
        for &d in &self.duration_ns {
            put_uvarint(&mut out, d);
        }
        out
    }
}

impl Default for BlockMeta {
    fn default() -> Self {
        BlockMeta {
            offset: 0,
            compressed_len: 0,
            raw_len: 0,
            summary_offset: 0,
            summary_len: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
            spans: 0,
        }
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("trace segment {} is corrupt: {e}", path.display()),
    )
}

impl Segment {
    pub fn open(path: &Path) -> io::Result<Segment> {
        let file = File::open(path)?;
        // SAFETY: segments are immutable once renamed into place; the store
        // deletes them only after dropping every reader (Arc).
        let mmap = unsafe { Mmap::map(&file)? };
        if mmap.len() < TRAILER_LEN || &mmap[mmap.len() - 8..] != MAGIC {
            return Err(corrupt(path, "no trailer (torn write?)"));
        }
        let trailer = &mmap[mmap.len() - TRAILER_LEN..];
        let meta_offset = u64::from_le_bytes(trailer[..8].try_into().expect("8")) as usize;
        let meta_len = u64::from_le_bytes(trailer[8..16].try_into().expect("8")) as usize;
        let meta = mmap
            .get(meta_offset..meta_offset.saturating_add(meta_len))
            .ok_or_else(|| corrupt(path, "meta section out of bounds"))?;
        let meta = zstd::stream::decode_all(meta).map_err(|e| corrupt(path, e))?;
        Self::parse_meta(path, mmap, &meta).map_err(|e| corrupt(path, e))
    }

    fn parse_meta(path: &Path, mmap: Mmap, meta: &[u8]) -> Result<Segment, DecodeError> {
        let mut r = Reader::new(meta);
        let seq = r.uvarint()?;
        let wal_through = r.uvarint()?;
        let min_ns = r.varint()?;
        let max_ns = r.varint()?;
        let span_count = r.uvarint()?;
        let count = r.uvarint()? as usize;
        let mut blocks = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            let b = BlockMeta {
                offset: r.uvarint()?,
                compressed_len: r.uvarint()? as u32,
                raw_len: r.uvarint()? as u32,
                summary_offset: r.uvarint()?,
                summary_len: r.uvarint()? as u32,
                min_ns: r.varint()?,
                max_ns: r.varint()?,
                spans: r.uvarint()? as u32,
            };
            if b.summary_offset + b.summary_len as u64 > mmap.len() as u64 {
                return Err(DecodeError("block out of bounds"));
            }
            blocks.push(b);
        }
        let count = r.uvarint()? as usize;
        let mut index = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            index.push(IndexEntry {
                trace_id: r.bytes(16)?.try_into().expect("16"),
                block: r.uvarint()? as u32,
                offset: r.uvarint()? as u32,
                len: r.uvarint()? as u32,
            });
        }
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let count = r.uvarint()? as usize;
            for _ in 0..count {
                list.push(r.str()?.to_string());
            }
        }
        let [services, names] = lists;
        let count = r.uvarint()? as usize;
        let mut operations = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            operations.push((r.uvarint()? as u32, r.uvarint()? as u32, r.u8()?));
        }
        let count = r.uvarint()? as usize;
        let mut tags = BTreeMap::new();
        for _ in 0..count {
            let scope = if r.u8()? == 0 {
                TagScope::Resource
            } else {
                TagScope::Span
            };
            let key = r.str()?.to_string();
            let truncated = r.u8()? != 0;
            let n = r.uvarint()? as usize;
            let mut values = Vec::with_capacity(n.min(r.remaining()));
            for _ in 0..n {
                let kind = type_of_code(r.u8()?);
                values.push((kind, r.str()?.to_string()));
            }
            tags.insert((scope, key), TagValues { values, truncated });
        }
        Ok(Segment {
            path: path.to_path_buf(),
            mmap,
            seq,
            wal_through,
            min_ns,
            max_ns,
            span_count,
            blocks,
            index,
            services,
            names,
            operations,
            tags,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> u64 {
        self.mmap.len() as u64
    }

    pub fn trace_count(&self) -> usize {
        self.index.len()
    }

    pub fn overlaps(&self, start_ns: i64, end_ns: i64) -> bool {
        self.min_ns <= end_ns && self.max_ns >= start_ns
    }

    /// Decompresses block `b`.
    pub fn read_block(&self, b: usize) -> io::Result<Vec<u8>> {
        let meta = &self.blocks[b];
        let bytes = &self.mmap[meta.offset as usize..][..meta.compressed_len as usize];
        let raw = zstd::bulk::decompress(bytes, meta.raw_len as usize)
            .map_err(|e| corrupt(&self.path, e))?;
        if raw.len() != meta.raw_len as usize {
            return Err(corrupt(&self.path, "block shorter than recorded"));
        }
        Ok(raw)
    }

    /// The spans this segment holds for `trace_id`.
    pub fn find(&self, trace_id: &[u8; 16]) -> io::Result<Option<Vec<Span>>> {
        let Ok(i) = self.index.binary_search_by(|e| e.trace_id.cmp(trace_id)) else {
            return Ok(None);
        };
        let entry = self.index[i];
        let block = self.read_block(entry.block as usize)?;
        let record = block
            .get(entry.offset as usize..(entry.offset + entry.len) as usize)
            .ok_or_else(|| corrupt(&self.path, "trace record out of its block"))?;
        let mut spans = Vec::new();
        codec::decode_trace(&mut Reader::new(record), &mut spans)
            .map_err(|e| corrupt(&self.path, e))?;
        Ok(Some(spans))
    }

    /// Whether the trace index holds `trace_id` (no block is read).
    pub fn contains(&self, trace_id: &[u8; 16]) -> bool {
        self.index
            .binary_search_by(|e| e.trace_id.cmp(trace_id))
            .is_ok()
    }

    pub fn summary(&self, b: usize) -> io::Result<Summary> {
        let meta = &self.blocks[b];
        let bytes = &self.mmap[meta.summary_offset as usize..][..meta.summary_len as usize];
        let raw = zstd::stream::decode_all(bytes).map_err(|e| corrupt(&self.path, e))?;
        decode_summary(&raw).map_err(|e| corrupt(&self.path, e))
    }

    /// Decodes the trace records at `entries` of a decompressed block.
    pub fn decode_traces(&self, block: &[u8], entries: &[SummaryTrace]) -> io::Result<Vec<Trace>> {
        entries
            .iter()
            .map(|t| {
                let record = block
                    .get(t.offset as usize..(t.offset + t.len) as usize)
                    .ok_or_else(|| corrupt(&self.path, "trace record out of its block"))?;
                let mut spans = Vec::with_capacity(t.spans as usize);
                codec::decode_trace(&mut Reader::new(record), &mut spans)
                    .map_err(|e| corrupt(&self.path, e))?;
                Ok(Trace { spans })
            })
            .collect()
    }
}

fn decode_summary(raw: &[u8]) -> Result<Summary, DecodeError> {
    let mut r = Reader::new(raw);
    let count = r.uvarint()? as usize;
    let mut summary = Summary {
        traces: Vec::with_capacity(count.min(raw.len())),
        ..Summary::default()
    };
    let mut previous_start = 0i64;
    for _ in 0..count {
        let offset = r.uvarint()? as u32;
        let len = r.uvarint()? as u32;
        let start_ns = previous_start.wrapping_add(r.varint()?);
        let end_ns = start_ns.wrapping_add(r.varint()?);
        let spans = r.uvarint()? as u32;
        previous_start = start_ns;
        summary.traces.push(SummaryTrace {
            offset,
            len,
            start_ns,
            end_ns,
            spans,
        });
    }
    let spans = r.uvarint()? as usize;
    if spans > raw.len() {
        return Err(DecodeError("span count larger than the summary"));
    }
    summary.service.reserve(spans);
    for _ in 0..spans {
        summary.service.push(r.uvarint()? as u32);
    }
    summary.name.reserve(spans);
    for _ in 0..spans {
        summary.name.push(r.uvarint()? as u32);
    }
    summary.kind_status = r.bytes(spans)?.to_vec();
    summary.duration_ns.reserve(spans);
    for _ in 0..spans {
        summary.duration_ns.push(r.uvarint()?);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::span::{SpanKind, Status};

    fn trace(id: u8, spans: usize, start: i64) -> Trace {
        let resource = Arc::new(vec![(
            "service.name".to_string(),
            Value::Str(format!("svc{}", id % 3)),
        )]);
        Trace {
            spans: (0..spans)
                .map(|i| Span {
                    trace_id: [id; 16],
                    span_id: [i as u8 + 1; 8],
                    parent_span_id: (i > 0).then_some([1; 8]),
                    name: format!("op{}", i % 4),
                    kind: SpanKind::Server,
                    status: if i == 2 { Status::Error } else { Status::Unset },
                    start_ns: start + i as i64,
                    end_ns: start + 1000 * i as i64 + 5,
                    resource: resource.clone(),
                    attributes: vec![("http.url".into(), Value::Str(format!("/x/{i}")))],
                    ..Span::default()
                })
                .collect(),
        }
    }

    #[test]
    fn writes_finds_and_summarizes() {
        let dir = tempfile::tempdir().unwrap();
        let traces: Vec<Trace> = (1..=200u8)
            .map(|i| trace(i, 1 + i as usize % 7, i as i64 * 1_000_000))
            .collect();
        let refs: Vec<&Trace> = traces.iter().collect();
        let segment = write(dir.path(), 7, 3, &refs).unwrap();
        assert_eq!(segment.seq, 7);
        assert_eq!(segment.wal_through, 3);
        assert_eq!(segment.trace_count(), 200);
        let reopened = Segment::open(&dir.path().join(file_name(7))).unwrap();
        for t in &traces {
            let id = t.trace_id().unwrap();
            assert_eq!(reopened.find(&id).unwrap().unwrap(), t.spans);
        }
        assert!(reopened.find(&[0; 16]).unwrap().is_none());
        let summary = reopened.summary(0).unwrap();
        assert_eq!(summary.traces.len(), 200);
        let total: u32 = summary.traces.iter().map(|t| t.spans).sum();
        assert_eq!(summary.service.len(), total as usize);
        assert_eq!(reopened.services.len(), 3);
        let url = &reopened.tags[&(TagScope::Span, "http.url".to_string())];
        assert_eq!(url.values.len(), 7);
        assert!(!url.truncated);
        assert!(reopened
            .tags
            .contains_key(&(TagScope::Resource, "service.name".to_string())));
    }

    #[test]
    fn a_torn_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let traces = [trace(1, 3, 0)];
        let segment = write(dir.path(), 1, 1, &traces.iter().collect::<Vec<_>>()).unwrap();
        let path = segment.path().to_path_buf();
        drop(segment);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        assert!(Segment::open(&path).is_err());
    }
}
