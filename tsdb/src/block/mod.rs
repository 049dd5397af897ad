//! Persisted blocks: immutable, time-partitioned directories
//! `<data-dir>/blocks/<id>/{meta.json, index, chunks}`, written once by
//! [`writer`], read through `memmap2` by [`Block`]. Byte layouts: FORMAT.md.
//!
//! Invariants:
//! - a block directory exists under its final name only once every file in it
//!   is complete and fsynced (written under `<id>.tmp`, renamed, parent fsynced);
//! - a block covers `[min_time, max_time)`, and holds each series once, with
//!   its samples sorted and unique;
//! - a block whose checksums fail is never read: it is moved aside at open.

pub mod index;
pub mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use model::{Labels, Matcher, Sample};
use serde::{Deserialize, Serialize};

use crate::chunk::packed;
use crate::index::postings_for_matchers;
use index::{ChunkMeta, IndexReader};

pub const META_FILE: &str = "meta.json";
pub const INDEX_FILE: &str = "index";
pub const CHUNKS_FILE: &str = "chunks";

/// The block format this code writes, and the oldest it reads.
pub const FORMAT_VERSION: u32 = 1;
pub const OLDEST_READABLE_VERSION: u32 = 1;

pub const CHUNKS_MAGIC: &[u8; 4] = b"VCHK";
pub const CHUNKS_HEADER_LEN: usize = 8;
/// Each page: compressed_len u32 | raw_len u32 | crc32c(compressed) u32 | bytes.
pub const PAGE_HEADER_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("block {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("block {dir}: corrupt {file}: {reason}")]
    Corrupt {
        dir: PathBuf,
        file: &'static str,
        reason: String,
    },
    #[error("block {dir}: format version {version} is not readable by this Vigil (reads {OLDEST_READABLE_VERSION} to {FORMAT_VERSION})")]
    Incompatible { dir: PathBuf, version: u32 },
}

impl BlockError {
    pub fn is_corruption(&self) -> bool {
        matches!(self, BlockError::Corrupt { .. })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    /// Bytes of the index and chunks files.
    pub num_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub version: u32,
    pub id: String,
    /// Inclusive.
    pub min_time: i64,
    /// Exclusive.
    pub max_time: i64,
    pub stats: BlockStats,
    /// 1 for a block cut from the head, +1 for each merge.
    pub compaction_level: u32,
    /// The level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
}

pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    index: IndexReader,
    chunks: Mmap,
}

impl Block {
    /// Opens a block and verifies every checksum of its files.
    pub fn open(dir: &Path) -> Result<Block, BlockError> {
        let io = |source| BlockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        let corrupt = |file, reason: String| BlockError::Corrupt {
            dir: dir.to_path_buf(),
            file,
            reason,
        };
        let meta_bytes = fs::read(dir.join(META_FILE)).map_err(io)?;
        let meta: BlockMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(META_FILE, e.to_string()))?;
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&meta.version) {
            return Err(BlockError::Incompatible {
                dir: dir.to_path_buf(),
                version: meta.version,
            });
        }
        let index =
            IndexReader::open(&dir.join(INDEX_FILE)).map_err(|e| e.into_block_error(dir))?;
        let chunks = map(&dir.join(CHUNKS_FILE)).map_err(io)?;
        verify_chunks(&chunks).map_err(|reason| corrupt(CHUNKS_FILE, reason))?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.min_time <= maxt && mint < self.meta.max_time
    }

    /// Ordinals of the series matching `matchers`, sorted: the postings step
    /// of a selection, without reading chunks.
    pub fn series_ids(&self, matchers: &[&Matcher]) -> Vec<crate::index::SeriesId> {
        postings_for_matchers(&self.index, matchers)
    }

    /// Series matching `matchers` with their samples in `[mint, maxt]`.
    pub fn select(
        &self,
        matchers: &[&Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, BlockError> {
        let ids: Vec<u32> = self
            .series_ids(matchers)
            .into_iter()
            .map(|id| id as u32)
            .collect();
        self.read_series(&ids, mint, maxt)
    }

    /// Labels of the series matching `matchers` that have a chunk in
    /// `[mint, maxt]`, in label order, read from the index alone.
    pub fn series_in(
        &self,
        matchers: &[&Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, BlockError> {
        let mut metas = Vec::new();
        let mut out = Vec::new();
        for id in self.series_ids(matchers) {
            metas.clear();
            let labels = self
                .index
                .series(id as u32, &mut metas)
                .map_err(|e| e.into_block_error(&self.dir))?;
            if metas
                .iter()
                .any(|m| m.max_time >= mint && m.min_time <= maxt)
            {
                out.push(labels);
            }
        }
        Ok(out)
    }

    /// The labels of the series with `ordinal`.
    pub fn series_labels(&self, ordinal: u32) -> Result<Labels, BlockError> {
        self.index
            .series(ordinal, &mut Vec::new())
            .map_err(|e| e.into_block_error(&self.dir))
    }

    /// Every series with all its samples, in label order (compaction, inspect).
    pub fn all_series(&self) -> Result<Vec<(Labels, Vec<Sample>)>, BlockError> {
        let all: Vec<u32> = (0..self.index.num_series()).collect();
        self.read_series(&all, i64::MIN, i64::MAX)
    }

    /// Decompresses every page once, for reading all series in label order
    /// (compaction). Holds the block's raw packed bytes, about 2 bytes per
    /// sample, instead of its decoded samples at 16.
    pub fn decompress_all(&self) -> Result<DecompressedBlock<'_>, BlockError> {
        let mut pages = std::collections::HashMap::new();
        let mut pos = CHUNKS_HEADER_LEN;
        while pos < self.chunks.len() {
            let (body, next) =
                page_at(&self.chunks, pos as u64).map_err(|r| self.corrupt(CHUNKS_FILE, r))?;
            let mut raw = Vec::new();
            packed::page_decompress(body, &mut raw)
                .map_err(|e| self.corrupt(CHUNKS_FILE, e.to_string()))?;
            pages.insert(pos as u64, raw);
            pos = next;
        }
        Ok(DecompressedBlock { block: self, pages })
    }

    pub fn num_series(&self) -> u32 {
        self.index.num_series()
    }

    /// The series with `ordinals` and their samples in `[mint, maxt]`,
    /// without those that have none there.
    fn read_series(
        &self,
        ordinals: &[u32],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, BlockError> {
        // Every page is read once: chunks are gathered and read in file order.
        let mut pages = PageCache::new(0);
        let mut series = self.read_ordinals(ordinals, mint, maxt, &mut pages)?;
        series.retain(|(_, samples)| !samples.is_empty());
        Ok(series)
    }

    /// The series with `ordinals` and their samples in `[mint, maxt]`, one
    /// entry per ordinal (with no samples where the series has none there).
    pub fn read_ordinals(
        &self,
        ordinals: &[u32],
        mint: i64,
        maxt: i64,
        pages: &mut PageCache,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, BlockError> {
        // Gather every wanted chunk, then decode them in file order: chunks
        // are laid out by time, not by series, and each page should be
        // decompressed once per query.
        let mut series: Vec<(Labels, Vec<Vec<Sample>>)> = Vec::new();
        let mut wanted: Vec<(ChunkMeta, usize, usize)> = Vec::new();
        let mut metas: Vec<ChunkMeta> = Vec::new();
        for &ordinal in ordinals {
            metas.clear();
            let labels = self
                .index
                .series(ordinal, &mut metas)
                .map_err(|e| e.into_block_error(&self.dir))?;
            let overlapping: Vec<ChunkMeta> = metas
                .iter()
                .copied()
                .filter(|m| m.max_time >= mint && m.min_time <= maxt)
                .collect();
            let index = series.len();
            for (i, meta) in overlapping.iter().enumerate() {
                wanted.push((*meta, index, i));
            }
            series.push((labels, vec![Vec::new(); overlapping.len()]));
        }
        wanted.sort_unstable_by_key(|(meta, _, _)| (meta.page_offset, meta.offset_in_page));
        for (meta, index, i) in wanted {
            let page = pages
                .get(&self.chunks, meta.page_offset)
                .map_err(|reason| self.corrupt(CHUNKS_FILE, reason))?;
            let chunk = page
                .get(meta.offset_in_page as usize..)
                .ok_or_else(|| self.corrupt(CHUNKS_FILE, "chunk offset beyond its page".into()))?;
            let samples = &mut series[index].1[i];
            packed::decode(chunk, samples).map_err(|e| self.corrupt(CHUNKS_FILE, e.to_string()))?;
            if meta.min_time < mint || meta.max_time > maxt {
                samples.retain(|s| s.t >= mint && s.t <= maxt);
            }
        }
        Ok(series
            .into_iter()
            .map(|(labels, chunks)| (labels, chunks.concat()))
            .collect())
    }

    fn corrupt(&self, file: &'static str, reason: String) -> BlockError {
        BlockError::Corrupt {
            dir: self.dir.clone(),
            file,
            reason,
        }
    }

    pub fn label_names(&self) -> Vec<String> {
        self.index.label_names()
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.index.label_values(name)
    }
}

/// A block with every page decompressed: reads any series without touching
/// the compressor again.
pub struct DecompressedBlock<'a> {
    block: &'a Block,
    pages: std::collections::HashMap<u64, Vec<u8>>,
}

impl DecompressedBlock<'_> {
    pub fn num_series(&self) -> u32 {
        self.block.num_series()
    }

    pub fn labels(&self, ordinal: u32) -> Result<Labels, BlockError> {
        let mut metas = Vec::new();
        self.block
            .index
            .series(ordinal, &mut metas)
            .map_err(|e| e.into_block_error(&self.block.dir))
    }

    /// The labels and every sample of series `ordinal`.
    pub fn series(&self, ordinal: u32) -> Result<(Labels, Vec<Sample>), BlockError> {
        let mut metas = Vec::new();
        let labels = self
            .block
            .index
            .series(ordinal, &mut metas)
            .map_err(|e| e.into_block_error(&self.block.dir))?;
        let mut samples = Vec::new();
        for meta in metas {
            let chunk = self
                .pages
                .get(&meta.page_offset)
                .and_then(|page| page.get(meta.offset_in_page as usize..))
                .ok_or_else(|| {
                    self.block
                        .corrupt(CHUNKS_FILE, "chunk reference outside every page".into())
                })?;
            packed::decode(chunk, &mut samples)
                .map_err(|e| self.block.corrupt(CHUNKS_FILE, e.to_string()))?;
        }
        Ok((labels, samples))
    }
}

fn map(path: &Path) -> std::io::Result<Mmap> {
    let file = File::open(path)?;
    // SAFETY: block files are immutable once renamed into place, and only
    // deleted after every reader has dropped its `Arc<Block>`.
    unsafe { Mmap::map(&file) }
}

/// Walks every page of a chunks file, checking its frame and checksum.
fn verify_chunks(data: &[u8]) -> Result<(), String> {
    if data.len() < CHUNKS_HEADER_LEN || &data[..4] != CHUNKS_MAGIC {
        return Err("missing chunks file header".into());
    }
    let mut pos = CHUNKS_HEADER_LEN;
    while pos < data.len() {
        let (_, next) = page_at(data, pos as u64)?;
        pos = next;
    }
    Ok(())
}

/// The compressed bytes of the page at `offset`, checksum verified, and the
/// offset after it.
fn page_at(data: &[u8], offset: u64) -> Result<(&[u8], usize), String> {
    let pos = usize::try_from(offset).map_err(|_| "page offset overflows")?;
    let header = data
        .get(pos..pos + PAGE_HEADER_LEN)
        .ok_or_else(|| format!("page header at {pos} is past the end of the file"))?;
    let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[8..12].try_into().unwrap());
    let start = pos + PAGE_HEADER_LEN;
    let body = data
        .get(start..start + len)
        .ok_or_else(|| format!("page at {pos} is truncated"))?;
    if crc32c::crc32c(body) != crc {
        return Err(format!("page at {pos} fails its checksum"));
    }
    Ok((body, start + len))
}

/// Keeps the last decompressed page: chunks are read in file order, so each
/// page is decompressed once per query.
#[derive(Default)]
pub struct PageCache {
    pages: std::collections::HashMap<u64, Vec<u8>>,
    bytes: usize,
    limit: usize,
    /// The last page read that did not fit, and where it is from.
    scratch: Vec<u8>,
    scratch_offset: Option<u64>,
}

impl PageCache {
    /// A cache of decompressed pages of one block: the pages read first, up
    /// to `limit` bytes, stay; later ones pass through one scratch buffer. A
    /// reader that visits a selection in batches keeps what the batches
    /// share (chunks are laid out by time, so the series of one metric are
    /// spread over every page of a time slot). Keeping the first pages
    /// rather than the latest means a scan that cycles over more pages than
    /// fit still finds those resident, instead of evicting each before its
    /// next use.
    pub fn new(limit: usize) -> PageCache {
        PageCache {
            pages: std::collections::HashMap::new(),
            bytes: 0,
            limit,
            scratch: Vec::new(),
            scratch_offset: None,
        }
    }

    fn get(&mut self, data: &[u8], offset: u64) -> Result<&[u8], String> {
        if self.pages.contains_key(&offset) {
            return Ok(&self.pages[&offset]);
        }
        if self.scratch_offset != Some(offset) {
            let (body, _) = page_at(data, offset)?;
            self.scratch_offset = None;
            self.scratch.clear();
            packed::page_decompress(body, &mut self.scratch).map_err(|e| e.to_string())?;
            if self.bytes + self.scratch.len() <= self.limit {
                self.bytes += self.scratch.len();
                self.pages.insert(offset, std::mem::take(&mut self.scratch));
                return Ok(&self.pages[&offset]);
            }
            self.scratch_offset = Some(offset);
        }
        Ok(&self.scratch)
    }
}
