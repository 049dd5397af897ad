//! A block's `index` file: symbols, series with their chunk references,
//! postings lists and the table that finds them. Layout in FORMAT.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use model::{Label, Labels};

use super::BlockError;
use crate::encoding::{put_uvarint, put_varint, Reader};
use crate::index::{PostingsSource, SeriesId};

pub const MAGIC: &[u8; 4] = b"VIDX";
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
const SECTIONS: usize = 5;
const TOC_LEN: usize = SECTIONS * 20 + 4 + 4 + 4;

const SYMBOLS: usize = 0;
const SERIES: usize = 1;
const SERIES_OFFSETS: usize = 2;
const POSTINGS: usize = 3;
const POSTINGS_TABLE: usize = 4;

/// Where one chunk of a series is, and what time it covers (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub page_offset: u64,
    pub offset_in_page: u32,
    pub num_samples: u32,
}

#[derive(Debug)]
pub struct IndexError(pub String);

impl IndexError {
    pub fn into_block_error(self, dir: &Path) -> BlockError {
        BlockError::Corrupt {
            dir: dir.to_path_buf(),
            file: super::INDEX_FILE,
            reason: self.0,
        }
    }
}

impl From<crate::encoding::DecodeError> for IndexError {
    fn from(e: crate::encoding::DecodeError) -> Self {
        IndexError(e.0.to_string())
    }
}

/// Serializes an index for series given in label order.
pub fn write_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    debug_assert!(series.windows(2).all(|w| w[0].0 < w[1].0));
    let mut symbol_set = BTreeSet::new();
    for (labels, _) in series {
        for l in labels.iter() {
            symbol_set.insert(l.name.as_str());
            symbol_set.insert(l.value.as_str());
        }
    }
    let symbol_ids: HashMap<&str, u64> = symbol_set
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u64))
        .collect();

    let mut sections: [Vec<u8>; SECTIONS] = Default::default();
    put_uvarint(&mut sections[SYMBOLS], symbol_set.len() as u64);
    for s in &symbol_set {
        crate::encoding::put_bytes(&mut sections[SYMBOLS], s.as_bytes());
    }

    let mut postings: BTreeMap<(&str, &str), Vec<u32>> = BTreeMap::new();
    for (ordinal, (labels, chunks)) in series.iter().enumerate() {
        let series_offset = sections[SERIES].len() as u64;
        sections[SERIES_OFFSETS].extend_from_slice(&series_offset.to_le_bytes());
        let body = &mut sections[SERIES];
        put_uvarint(body, labels.len() as u64);
        for l in labels.iter() {
            put_uvarint(body, symbol_ids[l.name.as_str()]);
            put_uvarint(body, symbol_ids[l.value.as_str()]);
            postings
                .entry((&l.name, &l.value))
                .or_default()
                .push(ordinal as u32);
        }
        put_uvarint(body, chunks.len() as u64);
        for c in chunks {
            put_varint(body, c.min_time);
            put_uvarint(body, (c.max_time - c.min_time) as u64);
            put_uvarint(body, c.page_offset);
            put_uvarint(body, u64::from(c.offset_in_page));
            put_uvarint(body, u64::from(c.num_samples));
        }
    }

    put_uvarint(&mut sections[POSTINGS_TABLE], postings.len() as u64);
    for ((name, value), ids) in &postings {
        let offset = sections[POSTINGS].len();
        for id in ids {
            sections[POSTINGS].extend_from_slice(&id.to_le_bytes());
        }
        let table = &mut sections[POSTINGS_TABLE];
        put_uvarint(table, symbol_ids[name]);
        put_uvarint(table, symbol_ids[value]);
        put_uvarint(table, offset as u64);
        put_uvarint(table, ids.len() as u64);
    }

    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, 0, 0, 0]);
    let mut toc = Vec::with_capacity(TOC_LEN);
    for section in &sections {
        toc.extend_from_slice(&(out.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(section.len() as u64).to_le_bytes());
        toc.extend_from_slice(&crc32c::crc32c(section).to_le_bytes());
        out.extend_from_slice(section);
    }
    toc.extend_from_slice(&(series.len() as u32).to_le_bytes());
    let toc_crc = crc32c::crc32c(&toc);
    toc.extend_from_slice(&toc_crc.to_le_bytes());
    toc.extend_from_slice(MAGIC);
    out.extend_from_slice(&toc);
    out
}

struct PostingsEntry {
    value_sym: u32,
    offset: u64,
    count: u32,
}

pub struct IndexReader {
    data: Mmap,
    symbols: Vec<String>,
    sections: [(usize, usize); SECTIONS],
    num_series: u32,
    /// Label name → its values' postings, in value order (symbol ids are sorted).
    table: BTreeMap<String, Vec<PostingsEntry>>,
}

impl IndexReader {
    pub fn open(path: &Path) -> Result<IndexReader, IndexFileError> {
        let file =
            std::fs::File::open(path).map_err(|e| IndexFileError::Io(path.to_path_buf(), e))?;
        // SAFETY: see `block::map`: block files are immutable while mapped.
        let data =
            unsafe { Mmap::map(&file) }.map_err(|e| IndexFileError::Io(path.to_path_buf(), e))?;
        Self::parse(data).map_err(IndexFileError::Corrupt)
    }

    fn parse(data: Mmap) -> Result<IndexReader, IndexError> {
        let bad = |s: &str| IndexError(s.to_string());
        if data.len() < HEADER_LEN + TOC_LEN || &data[..4] != MAGIC {
            return Err(bad("missing index header"));
        }
        if data[4] != VERSION {
            return Err(IndexError(format!("unknown index version {}", data[4])));
        }
        let toc = &data[data.len() - TOC_LEN..];
        if &toc[TOC_LEN - 4..] != MAGIC {
            return Err(bad("missing index footer (truncated file?)"));
        }
        let toc_crc = u32::from_le_bytes(toc[TOC_LEN - 8..TOC_LEN - 4].try_into().unwrap());
        if crc32c::crc32c(&toc[..TOC_LEN - 8]) != toc_crc {
            return Err(bad("table of contents fails its checksum"));
        }
        let mut r = Reader::new(toc);
        let mut sections = [(0usize, 0usize); SECTIONS];
        for (i, section) in sections.iter_mut().enumerate() {
            let offset = r.u64_le()? as usize;
            let len = r.u64_le()? as usize;
            let crc = r.u32_le()?;
            let bytes = offset
                .checked_add(len)
                .and_then(|end| data.get(offset..end))
                .ok_or_else(|| IndexError(format!("section {i} lies outside the file")))?;
            if crc32c::crc32c(bytes) != crc {
                return Err(IndexError(format!("section {i} fails its checksum")));
            }
            *section = (offset, len);
        }
        let num_series = r.u32_le()?;

        let section = |i: usize| &data[sections[i].0..sections[i].0 + sections[i].1];
        let mut r = Reader::new(section(SYMBOLS));
        let count = r.uvarint()? as usize;
        let mut symbols = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            symbols.push(r.str()?.to_owned());
        }
        if section(SERIES_OFFSETS).len() != num_series as usize * 8 {
            return Err(bad("series offset table does not match the series count"));
        }
        let mut table: BTreeMap<String, Vec<PostingsEntry>> = BTreeMap::new();
        let mut r = Reader::new(section(POSTINGS_TABLE));
        let count = r.uvarint()?;
        let postings_len = sections[POSTINGS].1 as u64;
        for _ in 0..count {
            let name_sym = r.uvarint()? as usize;
            let value_sym = r.uvarint()? as u32;
            let offset = r.uvarint()?;
            let count = r.uvarint()? as u32;
            let name = symbols
                .get(name_sym)
                .ok_or_else(|| bad("postings table names an unknown symbol"))?;
            if value_sym as usize >= symbols.len() || offset + u64::from(count) * 4 > postings_len {
                return Err(bad("postings table entry out of range"));
            }
            table.entry(name.clone()).or_default().push(PostingsEntry {
                value_sym,
                offset,
                count,
            });
        }
        Ok(IndexReader {
            data,
            symbols,
            sections,
            num_series,
            table,
        })
    }

    pub fn num_series(&self) -> u32 {
        self.num_series
    }

    fn section(&self, i: usize) -> &[u8] {
        let (offset, len) = self.sections[i];
        &self.data[offset..offset + len]
    }

    fn symbol(&self, id: u64) -> Result<&str, IndexError> {
        self.symbols
            .get(id as usize)
            .map(String::as_str)
            .ok_or_else(|| IndexError(format!("unknown symbol {id}")))
    }

    /// The labels of series `ordinal`, and its chunks appended to `chunks`.
    pub fn series(&self, ordinal: u32, chunks: &mut Vec<ChunkMeta>) -> Result<Labels, IndexError> {
        let offsets = self.section(SERIES_OFFSETS);
        let at = ordinal as usize * 8;
        let offset = offsets
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
            .ok_or_else(|| IndexError(format!("no series {ordinal}")))?;
        let body = self.section(SERIES);
        let mut r = Reader::new(
            body.get(offset..)
                .ok_or_else(|| IndexError("series offset out of range".into()))?,
        );
        let n = r.uvarint()? as usize;
        let mut labels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = self.symbol(r.uvarint()?)?;
            let value = self.symbol(r.uvarint()?)?;
            labels.push(Label::new(name, value));
        }
        let n = r.uvarint()? as usize;
        for _ in 0..n {
            let min_time = r.varint()?;
            let max_time = min_time.wrapping_add(r.uvarint()? as i64);
            chunks.push(ChunkMeta {
                min_time,
                max_time,
                page_offset: r.uvarint()?,
                offset_in_page: r.uvarint()? as u32,
                num_samples: r.uvarint()? as u32,
            });
        }
        Ok(Labels::from_sorted_unchecked(labels))
    }

    fn read_postings(&self, entry: &PostingsEntry) -> Vec<SeriesId> {
        let bytes = &self.section(POSTINGS)[entry.offset as usize..][..entry.count as usize * 4];
        bytes
            .chunks_exact(4)
            .map(|b| u64::from(u32::from_le_bytes(b.try_into().unwrap())))
            .collect()
    }

    pub fn label_names(&self) -> Vec<String> {
        self.table.keys().cloned().collect()
    }

    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.table
            .get(name)
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| self.symbols[e.value_sym as usize].clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl PostingsSource for IndexReader {
    fn all_postings(&self) -> Vec<SeriesId> {
        (0..u64::from(self.num_series)).collect()
    }

    fn postings_where(&self, name: &str, keep: &dyn Fn(&str) -> bool) -> Vec<SeriesId> {
        let Some(entries) = self.table.get(name) else {
            return Vec::new();
        };
        let lists = entries
            .iter()
            .filter(|e| keep(&self.symbols[e.value_sym as usize]))
            .map(|e| self.read_postings(e))
            .collect();
        crate::index::union(lists)
    }

    fn postings(&self, name: &str, value: &str) -> Vec<SeriesId> {
        let Some(entries) = self.table.get(name) else {
            return Vec::new();
        };
        match entries.binary_search_by(|e| self.symbols[e.value_sym as usize].as_str().cmp(value)) {
            Ok(i) => self.read_postings(&entries[i]),
            Err(_) => Vec::new(),
        }
    }
}

#[derive(Debug)]
pub enum IndexFileError {
    Io(PathBuf, std::io::Error),
    Corrupt(IndexError),
}

impl IndexFileError {
    pub fn into_block_error(self, dir: &Path) -> BlockError {
        match self {
            IndexFileError::Io(_, source) => BlockError::Io {
                dir: dir.to_path_buf(),
                source,
            },
            IndexFileError::Corrupt(e) => e.into_block_error(dir),
        }
    }
}
