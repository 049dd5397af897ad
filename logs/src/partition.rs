//! One hour of logs on disk: the blocks of every stream that had lines in
//! that hour, and a tantivy index with one document per block. Layout and
//! the reasoning behind it are in FORMAT.md ("Partitions").
//!
//! ```text
//! partitions/<hour since the epoch>/
//!   index/                  tantivy: one document per block
//!   blocks-<seq>.bin        compressed blocks written by flush <seq>
//!   streams-<seq>.bin       label sets of the streams first seen here by flush <seq>
//! ```
//!
//! Durability: a flush writes and fsyncs its block and stream files, then
//! commits the index with the payload `wal_through=<seq>`. Files with a
//! sequence above the committed one are left-overs of a crash and deleted
//! on open; the WAL replays what they held.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::Mmap;
use model::Labels;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use tantivy::collector::DocSetCollector;
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, OwnedValue, Schema, TextFieldIndexing,
    TextOptions, FAST, INDEXED,
};
use tantivy::tokenizer::{LowerCaser, PreTokenizedString, SimpleTokenizer, TextAnalyzer, Token};
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};
use tsdb::encoding::{put_bytes, put_uvarint, Reader};

use crate::block::{self, Block};
use crate::entry::{Entry, StreamId};
use crate::error::{LogsError, Result};
use crate::id_filter;
use crate::stream_labels;
use crate::tokens::{self, TermCondition};

pub const HOUR_NS: i64 = 3_600_000_000_000;
const BLOCKS_MAGIC: &[u8; 8] = b"VLBK\x01\0\0\0";
const STREAMS_MAGIC: &[u8; 8] = b"VLST\x01\0\0\0";
/// The tokenizer of the `line` field, for query parsers: tokens as [`tokens`] makes them.
pub const TOKENIZER: &str = "vigil_tokens";

/// Where a block is and what it holds, as the index stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub stream: StreamId,
    pub min_ts: i64,
    pub max_ts: i64,
    pub file: u64,
    pub offset: u64,
    pub length: u64,
    pub raw_len: u64,
    pub lines: u64,
    /// Bytes of the id filter stored right after the block (0: no ids).
    pub ids_len: u64,
    /// Length of the block's longest id-like token.
    pub max_id_len: u64,
}

#[derive(Clone, Copy)]
pub struct Fields {
    pub stream: Field,
    pub min_ts: Field,
    pub max_ts: Field,
    pub file: Field,
    pub offset: Field,
    pub length: Field,
    pub raw_len: Field,
    pub lines: Field,
    /// The distinct tokens of the block's lines (tokens.rs), no positions.
    pub line: Field,
    /// The stream's labels, for the audit search (`labels.namespace:prod`).
    pub labels: Field,
    pub ids_len: Field,
    pub max_id_len: Field,
}

pub fn schema() -> (Schema, Fields) {
    let (builder, fields) = schema_builder(IndexRecordOption::Basic);
    (builder.build(), fields)
}

/// The block schema's fields, with `line` and `labels` indexed with
/// `record`. The audit search's per-line index starts from this builder
/// (with positions), so both schemas give `line` and `labels` the same
/// field ids and a query parsed for one runs on the other.
pub fn schema_builder(record: IndexRecordOption) -> (tantivy::schema::SchemaBuilder, Fields) {
    let mut builder = Schema::builder();
    let text_indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(record);
    let fields = Fields {
        stream: builder.add_u64_field("stream", INDEXED | FAST),
        min_ts: builder.add_i64_field("min_ts", FAST),
        max_ts: builder.add_i64_field("max_ts", FAST),
        file: builder.add_u64_field("file", FAST),
        offset: builder.add_u64_field("offset", FAST),
        length: builder.add_u64_field("length", FAST),
        raw_len: builder.add_u64_field("raw_len", FAST),
        lines: builder.add_u64_field("lines", FAST),
        line: builder.add_text_field(
            "line",
            TextOptions::default().set_indexing_options(text_indexing.clone()),
        ),
        labels: builder.add_json_field(
            "labels",
            JsonObjectOptions::default().set_indexing_options(text_indexing),
        ),
        ids_len: builder.add_u64_field("ids_len", FAST),
        max_id_len: builder.add_u64_field("max_id_len", FAST),
    };
    (builder, fields)
}

/// The analyzer matching [`tokens::for_each_token`] + [`tokens::lowercase`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .build()
}

pub struct Partition {
    /// Hours since the epoch: the partition holds `[hour, hour+1)`.
    pub hour: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Block files, mapped: blocks and id filters are read in place.
    files: Mutex<FxHashMap<u64, Arc<Mmap>>>,
    streams: RwLock<FxHashMap<StreamId, Labels>>,
    wal_through: AtomicU64,
    /// See [`Partition::term_list`].
    term_list: Mutex<Option<Arc<String>>>,
}

fn parse_seq(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(".bin")?
        .parse()
        .ok()
}

impl Partition {
    /// Opens (or creates) the partition of `hour` under `dir`.
    pub fn open(dir: &Path, hour: i64) -> Result<Partition> {
        let index_dir = dir.join("index");
        fs::create_dir_all(&index_dir)?;
        let (schema, fields) = schema();
        let index = if index_dir.join("meta.json").exists() {
            Index::open_in_dir(&index_dir)?
        } else {
            Index::create_in_dir(&index_dir, schema)?
        };
        index.tokenizers().register(TOKENIZER, analyzer());
        let wal_through = committed_wal_through(&index)?;
        let mut streams = FxHashMap::default();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let seq = parse_seq(name, "blocks-").or_else(|| parse_seq(name, "streams-"));
            match seq {
                Some(seq) if seq > wal_through => {
                    // Written by a flush that crashed before its commit.
                    fs::remove_file(entry.path())?;
                }
                Some(_) if name.starts_with("streams-") => {
                    read_streams_file(&entry.path(), &mut streams)?;
                }
                _ => {}
            }
        }
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Partition {
            hour,
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            files: Mutex::new(FxHashMap::default()),
            streams: RwLock::new(streams),
            wal_through: AtomicU64::new(wal_through),
            term_list: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The highest WAL segment whose lines of this hour are all here.
    pub fn wal_through(&self) -> u64 {
        self.wal_through.load(Ordering::Acquire)
    }

    /// Streams with at least one block here.
    pub fn streams(&self) -> Vec<(StreamId, Labels)> {
        self.streams
            .read()
            .iter()
            .map(|(id, labels)| (*id, labels.clone()))
            .collect()
    }

    /// Makes committed blocks visible to [`Partition::find_blocks`]. The
    /// store calls this for the partitions a flush wrote, under its view
    /// lock, as it drops the flushed lines from memory, so no reader sees a
    /// line twice or misses it.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        *self.term_list.lock() = None;
        Ok(())
    }

    /// Builds what the first query after a flush would otherwise build.
    pub fn warm(&self) -> Result<()> {
        self.term_list().map(|_| ())
    }

    /// Every term of the `line` field, each followed by `\n` (the first
    /// preceded by one): substring conditions search this with `memchr`
    /// instead of walking the term dictionary with a regex automaton, which
    /// cost milliseconds per partition. Built on first use after a reload.
    fn term_list(&self) -> Result<Arc<String>> {
        if let Some(list) = self.term_list.lock().as_ref() {
            return Ok(list.clone());
        }
        let searcher = self.reader.searcher();
        let mut terms = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.line)?;
            let mut stream = inverted.terms().stream()?;
            while stream.advance() {
                if let Ok(term) = std::str::from_utf8(stream.key()) {
                    terms.insert(term.to_string());
                }
            }
        }
        let mut list = String::from("\n");
        for term in terms {
            list.push_str(&term);
            list.push('\n');
        }
        let list = Arc::new(list);
        *self.term_list.lock() = Some(list.clone());
        Ok(list)
    }

    /// Writes the entries of a flush (each stream's sorted by time) as
    /// blocks, indexes them and commits with `wal_through = seq`.
    pub fn append(&self, seq: u64, streams: &[(StreamId, &Labels, Vec<&Entry>)]) -> Result<()> {
        debug_assert!(seq > self.wal_through());
        let blocks_path = self.dir.join(format!("blocks-{seq:08}.bin"));
        let mut blocks_file = File::create(&blocks_path)?;
        blocks_file.write_all(BLOCKS_MAGIC)?;
        let mut offset = BLOCKS_MAGIC.len() as u64;
        let chunks: Vec<(StreamId, &Labels, &[&Entry])> = streams
            .iter()
            .flat_map(|(id, labels, entries)| cut_blocks(entries).map(move |c| (*id, *labels, c)))
            .collect();
        // Compressing and tokenizing are most of a flush: spread them over the cores.
        let prepared = parallel_map(&chunks, |(_, _, chunk)| {
            let (terms, ids) = block_terms(chunk);
            let max_id_len = ids.iter().map(|id| id.len()).max().unwrap_or(0) as u64;
            let filter = id_filter::build(ids.iter().map(String::as_str));
            (block::encode(chunk), terms, filter, max_id_len)
        });
        let mut documents = Vec::with_capacity(chunks.len());
        let mut buffer = Vec::with_capacity(4 << 20);
        for ((stream, labels, chunk), (encoded, terms, filter, max_id_len)) in
            chunks.iter().zip(prepared)
        {
            let block_ref = BlockRef {
                stream: *stream,
                min_ts: chunk[0].timestamp_ns,
                max_ts: chunk[chunk.len() - 1].timestamp_ns,
                file: seq,
                offset,
                length: encoded.compressed.len() as u64,
                raw_len: encoded.raw_len as u64,
                lines: chunk.len() as u64,
                ids_len: filter.len() as u64,
                max_id_len,
            };
            offset += (encoded.compressed.len() + filter.len()) as u64;
            buffer.extend_from_slice(&encoded.compressed);
            buffer.extend_from_slice(&filter);
            if buffer.len() >= 4 << 20 {
                blocks_file.write_all(&buffer)?;
                buffer.clear();
            }
            documents.push(self.document(&block_ref, labels, terms));
        }
        blocks_file.write_all(&buffer)?;
        blocks_file.sync_all()?;

        let new_streams: Vec<(StreamId, &Labels)> = {
            let known = self.streams.read();
            streams
                .iter()
                .filter(|(id, _, _)| !known.contains_key(id))
                .map(|(id, labels, _)| (*id, *labels))
                .collect()
        };
        write_streams_file(
            &self.dir.join(format!("streams-{seq:08}.bin")),
            &new_streams,
        )?;
        tsdb::wal::sync_dir(&self.dir)?;

        let mut writer = self
            .index
            .writer_with_num_threads::<TantivyDocument>(1, 32 << 20)?;
        for document in documents {
            writer.add_document(document)?;
        }
        let mut commit = writer.prepare_commit()?;
        commit.set_payload(&format!("wal_through={seq}"));
        commit.commit()?;
        writer.wait_merging_threads()?;
        let mut known = self.streams.write();
        for (id, labels) in new_streams {
            known.insert(id, labels.clone());
        }
        self.wal_through.store(seq, Ordering::Release);
        Ok(())
    }

    fn document(&self, block: &BlockRef, labels: &Labels, terms: Vec<String>) -> TantivyDocument {
        let f = &self.fields;
        let mut document = TantivyDocument::new();
        document.add_u64(f.stream, block.stream);
        document.add_i64(f.min_ts, block.min_ts);
        document.add_i64(f.max_ts, block.max_ts);
        document.add_u64(f.file, block.file);
        document.add_u64(f.offset, block.offset);
        document.add_u64(f.length, block.length);
        document.add_u64(f.raw_len, block.raw_len);
        document.add_u64(f.lines, block.lines);
        document.add_u64(f.ids_len, block.ids_len);
        document.add_u64(f.max_id_len, block.max_id_len);
        let tokens = terms
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token {
                offset_from: 0,
                offset_to: 0,
                position,
                text,
                position_length: 1,
            })
            .collect();
        document.add_pre_tokenized_text(
            f.line,
            PreTokenizedString {
                text: String::new(),
                tokens,
            },
        );
        document.add_object(f.labels, labels_object(labels));
        document
    }

    /// Blocks of the given streams (all when `None`) overlapping
    /// `[min_ts, max_ts]` whose terms satisfy every condition (and the
    /// query, when given).
    pub fn find_blocks(
        &self,
        streams: Option<&[StreamId]>,
        min_ts: i64,
        max_ts: i64,
        conditions: &[TermCondition],
        query: Option<&dyn Query>,
    ) -> Result<Vec<BlockRef>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(streams) = streams {
            let terms = streams
                .iter()
                .map(|id| Term::from_field_u64(self.fields.stream, *id));
            clauses.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
        }
        // Conditions with an id alternative are checked on each candidate
        // block: their other alternatives by a search, the ids by the filter.
        let mut id_conditions: Vec<(&TermCondition, Option<HashSet<DocAddress>>)> = Vec::new();
        for condition in conditions {
            match condition {
                TermCondition::Id { .. } => id_conditions.push((condition, None)),
                TermCondition::Any(alternatives)
                    if alternatives
                        .iter()
                        .any(|a| matches!(a, TermCondition::Id { .. })) =>
                {
                    let others: Vec<(Occur, Box<dyn Query>)> = alternatives
                        .iter()
                        .filter(|a| !matches!(a, TermCondition::Id { .. }))
                        .map(|a| Ok((Occur::Should, self.condition_query(a)?)))
                        .collect::<Result<_>>()?;
                    let matching = self
                        .reader
                        .searcher()
                        .search(&BooleanQuery::new(others), &DocSetCollector)?;
                    id_conditions.push((condition, Some(matching)));
                }
                _ => clauses.push((Occur::Must, self.condition_query(condition)?)),
            }
        }
        if let Some(query) = query {
            clauses.push((Occur::Must, query.box_clone()));
        }
        let query: Box<dyn Query> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let candidates = self.documents_matching(query.as_ref(), min_ts, max_ts)?;
        let mut blocks = Vec::with_capacity(candidates.len());
        'blocks: for (address, block) in candidates {
            for (condition, other_alternatives) in &id_conditions {
                if other_alternatives
                    .as_ref()
                    .is_some_and(|docs| docs.contains(&address))
                {
                    continue;
                }
                if !self.ids_may_match(&block, condition)? {
                    continue 'blocks;
                }
            }
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Whether the id alternative of `condition` lets `block` through.
    fn ids_may_match(&self, block: &BlockRef, condition: &TermCondition) -> Result<bool> {
        let alternatives = match condition {
            TermCondition::Any(alternatives) => alternatives.as_slice(),
            single => std::slice::from_ref(single),
        };
        for alternative in alternatives {
            if let TermCondition::Id { token, whole } = alternative {
                match id_filter::decided_by_length(block.max_id_len, token, *whole) {
                    Some(true) => return Ok(true),
                    Some(false) => continue,
                    None => {}
                }
                let file = self.file(block.file)?;
                let start = block.offset.saturating_add(block.length) as usize;
                let filter = file
                    .get(start..start.saturating_add(block.ids_len as usize))
                    .ok_or_else(|| LogsError::Corrupt {
                        what: "id filter reference",
                        path: self.dir.display().to_string(),
                        reason: format!("id filter past the end of blocks file {}", block.file),
                    })?;
                if id_filter::block_may_match(filter, block.max_id_len, token, *whole) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The documents (and their blocks) overlapping `[min_ts, max_ts]` that
    /// match a tantivy query.
    fn documents_matching(
        &self,
        query: &dyn Query,
        min_ts: i64,
        max_ts: i64,
    ) -> Result<Vec<(DocAddress, BlockRef)>> {
        let searcher = self.reader.searcher();
        let addresses = searcher.search(query, &DocSetCollector)?;
        let mut by_segment: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        for address in addresses {
            by_segment
                .entry(address.segment_ord)
                .or_default()
                .push(address.doc_id);
        }
        let mut blocks = Vec::new();
        for (segment, docs) in by_segment {
            let fast = searcher.segment_reader(segment).fast_fields();
            let column_u64 = |name: &str| fast.u64(name);
            let stream = column_u64("stream")?;
            let min = fast.i64("min_ts")?;
            let max = fast.i64("max_ts")?;
            let file = column_u64("file")?;
            let offset = column_u64("offset")?;
            let length = column_u64("length")?;
            let raw_len = column_u64("raw_len")?;
            let lines = column_u64("lines")?;
            let ids_len = column_u64("ids_len")?;
            let max_id_len = column_u64("max_id_len")?;
            for doc in docs {
                let block_min = min.first(doc).unwrap_or(i64::MIN);
                let block_max = max.first(doc).unwrap_or(i64::MAX);
                if block_max < min_ts || block_min > max_ts {
                    continue;
                }
                let address = DocAddress::new(segment, doc);
                blocks.push((
                    address,
                    BlockRef {
                        stream: stream.first(doc).unwrap_or(0),
                        min_ts: block_min,
                        max_ts: block_max,
                        file: file.first(doc).unwrap_or(0),
                        offset: offset.first(doc).unwrap_or(0),
                        length: length.first(doc).unwrap_or(0),
                        raw_len: raw_len.first(doc).unwrap_or(0),
                        lines: lines.first(doc).unwrap_or(0),
                        ids_len: ids_len.first(doc).unwrap_or(0),
                        max_id_len: max_id_len.first(doc).unwrap_or(0),
                    },
                ));
            }
        }
        Ok(blocks)
    }

    fn condition_query(&self, condition: &TermCondition) -> Result<Box<dyn Query>> {
        Ok(match condition {
            TermCondition::Term(term) => Box::new(TermQuery::new(
                Term::from_field_text(self.fields.line, term),
                IndexRecordOption::Basic,
            )),
            TermCondition::Substring {
                token,
                at_start,
                at_end,
            } => {
                let terms = self.term_list()?;
                let matching = tokens::terms_with(&terms, token, *at_start, *at_end);
                // A short needle inside thousands of terms narrows nothing.
                const MAX_TERMS: usize = 4096;
                if matching.len() > MAX_TERMS {
                    Box::new(AllQuery)
                } else if matching.is_empty() {
                    Box::new(EmptyQuery)
                } else {
                    Box::new(TermSetQuery::new(
                        matching
                            .into_iter()
                            .map(|t| Term::from_field_text(self.fields.line, t)),
                    ))
                }
            }
            // Not a term query: find_blocks checks ids on each block.
            TermCondition::Id { .. } => Box::new(AllQuery),
            TermCondition::Any(alternatives) => Box::new(BooleanQuery::new(
                alternatives
                    .iter()
                    .map(|c| Ok((Occur::Should, self.condition_query(c)?)))
                    .collect::<Result<Vec<_>>>()?,
            )),
        })
    }

    /// Reads and decompresses one block.
    pub fn read_block(&self, block: &BlockRef) -> Result<Block> {
        // Blocks are cut at 256 KiB (one line may be up to the line limit);
        // anything near this is a damaged index, not a block.
        const MAX_BLOCK_BYTES: u64 = 256 << 20;
        if block.raw_len > MAX_BLOCK_BYTES || block.length > MAX_BLOCK_BYTES {
            return Err(LogsError::Corrupt {
                what: "block reference",
                path: self.dir.display().to_string(),
                reason: format!(
                    "implausible block size {} ({} compressed)",
                    block.raw_len, block.length
                ),
            });
        }
        let file = self.file(block.file)?;
        let start = block.offset as usize;
        let compressed = file
            .get(start..start.saturating_add(block.length as usize))
            .ok_or_else(|| LogsError::Corrupt {
                what: "block reference",
                path: self.dir.display().to_string(),
                reason: format!(
                    "block at {start}+{} is past the end of blocks file {}",
                    block.length, block.file
                ),
            })?;
        Block::decode(compressed, block.raw_len as usize).map_err(|e| LogsError::Corrupt {
            what: "block",
            path: self
                .dir
                .join(format!("blocks-{:08}.bin", block.file))
                .display()
                .to_string(),
            reason: e.to_string(),
        })
    }

    /// Segments of the index (merges keep this small).
    pub fn segment_count(&self) -> Result<usize> {
        Ok(self.index.searchable_segment_metas()?.len())
    }

    /// The mapped blocks file `seq`.
    fn file(&self, seq: u64) -> Result<Arc<Mmap>> {
        let mut files = self.files.lock();
        if let Some(file) = files.get(&seq) {
            return Ok(file.clone());
        }
        let path = self.dir.join(format!("blocks-{seq:08}.bin"));
        let file = File::open(&path)?;
        // SAFETY: a blocks file is never written after its flush fsynced it;
        // retention unlinks it, which leaves this mapping valid.
        let map = Arc::new(unsafe { Mmap::map(&file)? });
        files.insert(seq, map.clone());
        Ok(map)
    }
}

/// The distinct index terms of a block's lines, sorted, and its distinct
/// id-like tokens (for the id filter).
fn block_terms(entries: &[&Entry]) -> (Vec<String>, HashSet<String>) {
    let mut terms: HashSet<String> = HashSet::new();
    let mut ids: HashSet<String> = HashSet::new();
    for entry in entries {
        tokens::for_each_token(&entry.line, |token| {
            let token = tokens::lowercase(token);
            let term = tokens::index_term(&token);
            if term == tokens::HEX_MARKER && !ids.contains(token.as_ref()) {
                ids.insert(token.to_string());
            }
            if !terms.contains(term) {
                terms.insert(term.to_string());
            }
        });
    }
    let mut terms: Vec<String> = terms.into_iter().collect();
    terms.sort_unstable();
    (terms, ids)
}

/// `f` over `items` on every core, results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    let per_thread = items.len().div_ceil(threads);
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(per_thread.max(1))
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("a flush worker panicked"))
            .collect()
    })
}

/// Stream labels as the `labels` JSON field holds them.
pub fn labels_object(labels: &Labels) -> BTreeMap<String, OwnedValue> {
    labels
        .iter()
        .map(|l| (l.name.clone(), OwnedValue::Str(l.value.clone())))
        .collect()
}

fn committed_wal_through(index: &Index) -> Result<u64> {
    let payload = index.load_metas()?.payload.unwrap_or_default();
    Ok(payload
        .strip_prefix("wal_through=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Cuts a stream's sorted entries into blocks of about
/// [`block::TARGET_RAW_BYTES`].
fn cut_blocks<'e, 'a>(entries: &'e [&'a Entry]) -> impl Iterator<Item = &'e [&'a Entry]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= entries.len() {
            return None;
        }
        let mut bytes = 0;
        let mut end = start;
        while end < entries.len() && (end == start || bytes < block::TARGET_RAW_BYTES) {
            bytes += entries[end].line.len() + 16;
            end += 1;
        }
        let chunk = &entries[start..end];
        start = end;
        Some(chunk)
    })
}

fn write_streams_file(path: &Path, streams: &[(StreamId, &Labels)]) -> Result<()> {
    let mut body = STREAMS_MAGIC.to_vec();
    put_uvarint(&mut body, streams.len() as u64);
    for (id, labels) in streams {
        body.extend_from_slice(&id.to_le_bytes());
        put_uvarint(&mut body, labels.len() as u64);
        for label in *labels {
            put_bytes(&mut body, label.name.as_bytes());
            put_bytes(&mut body, label.value.as_bytes());
        }
    }
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let mut file = File::create(path)?;
    file.write_all(&body)?;
    file.sync_all()?;
    Ok(())
}

fn read_streams_file(path: &Path, into: &mut FxHashMap<StreamId, Labels>) -> Result<()> {
    let corrupt = |reason: &str| LogsError::Corrupt {
        what: "stream list",
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let data = fs::read(path)?;
    if data.len() < STREAMS_MAGIC.len() + 4 || &data[..8] != STREAMS_MAGIC {
        return Err(corrupt("bad header"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(corrupt("checksum mismatch"));
    }
    let mut reader = Reader::new(&body[8..]);
    let mut decode = |reader: &mut Reader| -> Result<(), tsdb::encoding::DecodeError> {
        let count = reader.uvarint()?;
        for _ in 0..count {
            let id = reader.u64_le()?;
            let label_count = reader.uvarint()?;
            let mut pairs = Vec::new();
            for _ in 0..label_count {
                pairs.push((reader.str()?.to_string(), reader.str()?.to_string()));
            }
            let labels = stream_labels::from_pairs(pairs)
                .map_err(|_| tsdb::encoding::DecodeError("invalid labels"))?;
            into.insert(id, labels);
        }
        Ok(())
    };
    decode(&mut reader).map_err(|e| corrupt(e.0))
}
