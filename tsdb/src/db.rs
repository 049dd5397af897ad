//! The metrics store as a whole: the head, the blocks on disk, and the
//! background work that moves data from one to the other (head compaction,
//! block merges, retention).
//!
//! Directory layout under the data dir:
//! ```text
//! wal/                     segments and checkpoint (see `wal`)
//! blocks/<id>/             persisted blocks (see `block`)
//! corrupted/<id>/          blocks that failed their checksums, kept for inspection
//! snapshots/<name>/        hard-linked blocks from the snapshot API
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Labels, Matcher, Sample};
use parking_lot::{Mutex, RwLock};
use tracing::{error, info, warn};

use crate::block::writer::{write_block, WriteOptions};
use crate::block::{Block, BlockError};
use crate::head::Head;
use crate::metrics::TsdbMetrics;
use crate::querier::{
    label_names_of, label_values_of, merge_samples, merge_sources, sorted_unique, Querier,
    QueryError, Selection, Series,
};
use crate::selection::DbSelection;
use crate::wal::WalOptions;

#[derive(Clone, Debug)]
pub struct Options {
    /// The span of a block cut from the head, in milliseconds.
    pub block_range: i64,
    /// Blocks whose newest sample is older than this (relative to the newest
    /// block) are deleted.
    pub retention_time: Option<Duration>,
    /// Blocks are deleted oldest first while blocks and WAL exceed this.
    pub retention_bytes: Option<u64>,
    pub wal: WalOptions,
    pub page_bytes: usize,
    pub zstd_level: i32,
    /// Called after a block was written, when the whole block's encoded
    /// chunks were just freed: the binary passes its allocator's purge, so
    /// that burst goes back to the OS at once instead of over the
    /// allocator's decay time.
    pub release_memory: Option<fn()>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_range: 2 * 3_600_000,
            retention_time: Some(Duration::from_secs(15 * 86_400)),
            retention_bytes: None,
            wal: WalOptions::default(),
            page_bytes: WriteOptions::default().page_bytes,
            zstd_level: WriteOptions::default().zstd_level,
            release_memory: None,
        }
    }
}

impl Options {
    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            chunk_range: self.block_range,
            page_bytes: self.page_bytes,
            zstd_level: self.zstd_level,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("invalid snapshot name {0:?}")]
    InvalidSnapshotName(String),
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> DbError {
    let context = context.into();
    move |source| DbError::Io { context, source }
}

pub struct Db {
    dir: PathBuf,
    options: Options,
    head: Head,
    /// Sorted by `min_time`.
    blocks: RwLock<Vec<Arc<Block>>>,
    /// One compaction, retention run or snapshot at a time.
    maintenance: Mutex<()>,
    metrics: Arc<TsdbMetrics>,
}

impl Db {
    pub fn open(dir: &Path, options: Options, metrics: Arc<TsdbMetrics>) -> Result<Db, DbError> {
        let started = Instant::now();
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir)
            .map_err(io_context(format!("creating {}", blocks_dir.display())))?;
        let blocks = open_blocks(dir, &blocks_dir)?;
        let min_valid_time = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let head = Head::open(
            &dir.join("wal"),
            options.wal.clone(),
            options.block_range,
            min_valid_time,
            metrics.clone(),
        )
        .map_err(io_context("opening the WAL"))?;
        let db = Db {
            dir: dir.to_path_buf(),
            options,
            head,
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            metrics,
        };
        db.update_block_metrics();
        info!(
            dir = %dir.display(),
            blocks = db.blocks.read().len(),
            head_series = db.head.num_series(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "metrics store opened"
        );
        Ok(db)
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Retention as Prometheus' runtime info shows it, e.g. `15d or 50GiB`.
    pub fn retention_description(&self) -> String {
        let time = self
            .options
            .retention_time
            .map(|d| format!("{}s", d.as_secs()));
        let size = self.options.retention_bytes.map(|b| format!("{b}B"));
        match (time, size) {
            (Some(t), Some(s)) => format!("{t} or {s}"),
            (Some(t), None) => t,
            (None, Some(s)) => s,
            (None, None) => "unlimited".to_string(),
        }
    }

    pub fn metrics(&self) -> &TsdbMetrics {
        &self.metrics
    }

    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    fn blocks_dir(&self) -> PathBuf {
        self.dir.join("blocks")
    }

    /// Runs the background duties once: cuts blocks from the head while it
    /// spans more than 1.5 block ranges, merges blocks, applies retention.
    pub fn run_maintenance(&self) -> Result<(), DbError> {
        let _guard = self.maintenance.lock();
        while let Some((mint, maxt)) = self.head.time_range() {
            if maxt - mint <= self.options.block_range * 3 / 2 {
                break;
            }
            let start = mint.div_euclid(self.options.block_range) * self.options.block_range;
            self.persist_head_range(start, start + self.options.block_range)?;
        }
        self.merge_blocks()?;
        self.apply_retention()?;
        self.head.memory_bytes();
        Ok(())
    }

    /// Writes the head's samples in `[mint, maxt)` as a block, then drops
    /// them from the head and the WAL.
    fn persist_head_range(&self, mint: i64, maxt: i64) -> Result<(), DbError> {
        let started = Instant::now();
        let written = write_block(
            &self.blocks_dir(),
            self.head.series_for_block(mint, maxt),
            mint,
            maxt,
            1,
            None,
            &self.options.write_options(),
        )
        .map_err(|e| {
            self.metrics.compaction_failures.inc();
            io_context("writing a block from the head")(e)
        })?;
        self.release_memory();
        if let Some(meta) = written {
            let block = Block::open(&self.blocks_dir().join(&meta.id))?;
            self.add_block(block);
            self.metrics.compactions.inc();
            info!(
                id = %meta.id,
                min_time = mint,
                max_time = maxt,
                series = meta.stats.num_series,
                samples = meta.stats.num_samples,
                bytes = meta.stats.num_bytes,
                bytes_per_sample = meta.stats.num_bytes as f64 / meta.stats.num_samples.max(1) as f64,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "head compacted into a block"
            );
        }
        // The block is durable: the head and the WAL may forget the range.
        self.head
            .truncate_before(maxt)
            .map_err(io_context("truncating the WAL"))?;
        Ok(())
    }

    fn add_block(&self, block: Block) {
        let mut blocks = self.blocks.write();
        blocks.push(Arc::new(block));
        blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        drop(blocks);
        self.update_block_metrics();
    }

    /// The ranges blocks are merged into: 3×, 9×, 27× … the block range, up to
    /// a tenth of the retention time (or 31 days).
    fn merge_ranges(&self) -> Vec<i64> {
        let cap = self.options.retention_time.map_or(31 * 86_400_000, |r| {
            (r.as_millis() as i64 / 10).min(31 * 86_400_000)
        });
        let mut ranges = Vec::new();
        let mut range = self.options.block_range * 3;
        while range <= cap {
            ranges.push(range);
            range *= 3;
        }
        ranges
    }

    fn merge_blocks(&self) -> Result<(), DbError> {
        loop {
            let blocks = self.blocks();
            let Some(group) = plan_merge(&blocks, &self.merge_ranges(), self.head.min_valid_time())
            else {
                return Ok(());
            };
            self.merge(&group)?;
        }
    }

    fn merge(&self, group: &[Arc<Block>]) -> Result<(), DbError> {
        let started = Instant::now();
        let mint = group
            .iter()
            .map(|b| b.meta().min_time)
            .min()
            .expect("a group has blocks");
        let maxt = group
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .expect("a group has blocks");
        let decompressed = group
            .iter()
            .map(|b| b.decompress_all())
            .collect::<Result<Vec<_>, _>>()?;
        let failure = std::cell::RefCell::new(None);
        let merged = MergedSeries::new(&decompressed, &failure);
        let level = group
            .iter()
            .map(|b| b.meta().compaction_level)
            .max()
            .unwrap_or(1)
            + 1;
        let mut source_ids: Vec<String> = group
            .iter()
            .flat_map(|b| b.meta().sources.clone())
            .collect();
        source_ids.sort();
        source_ids.dedup();
        let written = write_block(
            &self.blocks_dir(),
            merged,
            mint,
            maxt,
            level,
            Some(source_ids),
            &self.options.write_options(),
        )
        .map_err(|e| {
            self.metrics.compaction_failures.inc();
            io_context("writing a merged block")(e)
        })?;
        self.release_memory();
        if let Some(e) = failure.into_inner() {
            if let Some(meta) = &written {
                remove_block_dir(&self.blocks_dir().join(&meta.id));
            }
            self.metrics.compaction_failures.inc();
            return Err(e.into());
        }
        let merged_block = match &written {
            Some(meta) => Some(Arc::new(Block::open(&self.blocks_dir().join(&meta.id))?)),
            None => None,
        };
        {
            let mut blocks = self.blocks.write();
            blocks.retain(|b| !group.iter().any(|g| Arc::ptr_eq(b, g)));
            blocks.extend(merged_block);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        for old in group {
            remove_block_dir(old.dir());
        }
        self.metrics.compactions.inc();
        self.update_block_metrics();
        info!(
            id = written.as_ref().map_or("none", |m| m.id.as_str()),
            merged = group.len(),
            level,
            bytes = written.as_ref().map_or(0, |m| m.stats.num_bytes),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "blocks merged"
        );
        Ok(())
    }

    fn apply_retention(&self) -> Result<(), DbError> {
        let blocks = self.blocks();
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN);
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        if let Some(retention) = self.options.retention_time {
            let horizon = newest.saturating_sub(retention.as_millis() as i64);
            doomed.extend(
                blocks
                    .iter()
                    .filter(|b| b.meta().max_time <= horizon)
                    .cloned(),
            );
        }
        if let Some(limit) = self.options.retention_bytes {
            let mut total = self.head.wal().size_bytes()
                + blocks.iter().map(|b| b.meta().stats.num_bytes).sum::<u64>();
            for b in &blocks {
                if total <= limit {
                    break;
                }
                total -= b.meta().stats.num_bytes;
                if !doomed.iter().any(|d| Arc::ptr_eq(d, b)) {
                    doomed.push(b.clone());
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        self.blocks
            .write()
            .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(b, d)));
        for b in &doomed {
            info!(id = %b.meta().id, min_time = b.meta().min_time, max_time = b.meta().max_time, "block deleted by retention");
            remove_block_dir(b.dir());
        }
        self.metrics
            .blocks_deleted_by_retention
            .inc_by(doomed.len() as u64);
        self.update_block_metrics();
        Ok(())
    }

    fn update_block_metrics(&self) {
        let blocks = self.blocks.read();
        self.metrics.blocks.set(blocks.len() as i64);
        self.metrics
            .blocks_size_bytes
            .set(blocks.iter().map(|b| b.meta().stats.num_bytes as i64).sum());
    }

    /// Writes the head into a block under `snapshots/<name>/` and hard-links
    /// every block beside it. Returns the snapshot's directory.
    pub fn snapshot(&self, name: &str, with_head: bool) -> Result<PathBuf, DbError> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(DbError::InvalidSnapshotName(name.to_string()));
        }
        let _guard = self.maintenance.lock();
        let target = self.dir.join("snapshots").join(name);
        fs::create_dir_all(&target)
            .map_err(io_context(format!("creating {}", target.display())))?;
        for block in self.blocks() {
            let dest = target.join(&block.meta().id);
            fs::create_dir_all(&dest).map_err(io_context("creating a snapshot block dir"))?;
            for entry in fs::read_dir(block.dir()).map_err(io_context("listing a block"))? {
                let entry = entry.map_err(io_context("listing a block"))?;
                fs::hard_link(entry.path(), dest.join(entry.file_name())).map_err(io_context(
                    format!("hard-linking {}", entry.path().display()),
                ))?;
            }
        }
        if with_head {
            if let Some((mint, maxt)) = self.head.time_range() {
                write_block(
                    &target,
                    self.head.series_for_block(mint, maxt + 1),
                    mint,
                    maxt + 1,
                    1,
                    None,
                    &self.options.write_options(),
                )
                .map_err(io_context("writing the head into the snapshot"))?;
                self.release_memory();
            }
        }
        crate::wal::sync_dir(&target).map_err(io_context("syncing the snapshot"))?;
        info!(snapshot = %target.display(), "snapshot written");
        Ok(target)
    }

    fn release_memory(&self) {
        if let Some(release) = self.options.release_memory {
            release();
        }
    }

    /// Makes everything written so far durable. Called on shutdown.
    pub fn close(&self) -> Result<(), DbError> {
        self.head
            .wal()
            .sync_now()
            .map_err(io_context("syncing the WAL"))
    }
}

impl Querier for Db {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let mut sources = Vec::new();
        for block in self.blocks().iter().filter(|b| b.overlaps(mint, maxt)) {
            sources.push(block.select(&refs, mint, maxt)?);
        }
        sources.push(self.head.select(&refs, mint, maxt));
        Ok(merge_sources(sources))
    }

    fn selection<'a>(
        &'a self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Selection + 'a>, QueryError> {
        let blocks: Vec<Arc<Block>> = self
            .blocks()
            .into_iter()
            .filter(|b| b.overlaps(mint, maxt))
            .collect();
        Ok(Box::new(DbSelection::new(
            &self.head, blocks, matchers, mint, maxt,
        )?))
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, QueryError> {
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let mut all: Vec<Labels> = self
            .head
            .selected_series(&refs)
            .into_iter()
            .filter(|s| s.has_samples_in(mint, maxt))
            .map(|s| s.labels())
            .collect();
        for block in self.blocks().iter().filter(|b| b.overlaps(mint, maxt)) {
            all.extend(block.series_in(&refs, mint, maxt)?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        if !matchers.is_empty() {
            return Ok(label_names_of(&self.series(matchers, mint, maxt)?));
        }
        let names: Vec<String> = {
            let mut all = self.head.label_names();
            for block in self.blocks().iter().filter(|b| b.overlaps(mint, maxt)) {
                all.extend(block.label_names());
            }
            all
        };
        Ok(sorted_unique(names))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        if !matchers.is_empty() {
            return Ok(label_values_of(&self.series(matchers, mint, maxt)?, name));
        }
        let values: Vec<String> = {
            let mut all = self.head.label_values(name);
            for block in self.blocks().iter().filter(|b| b.overlaps(mint, maxt)) {
                all.extend(block.label_values(name));
            }
            all
        };
        Ok(sorted_unique(values))
    }
}

/// The series of several blocks merged in label order, one series at a time
/// (a k-way merge over the blocks' ordinals, which are in label order). On a
/// read error the iteration stops and the error is left in `failure`.
struct MergedSeries<'a> {
    blocks: &'a [crate::block::DecompressedBlock<'a>],
    /// Per block: the next ordinal and its labels.
    cursors: Vec<(u32, Option<Labels>)>,
    failure: &'a std::cell::RefCell<Option<BlockError>>,
}

impl<'a> MergedSeries<'a> {
    fn new(
        blocks: &'a [crate::block::DecompressedBlock<'a>],
        failure: &'a std::cell::RefCell<Option<BlockError>>,
    ) -> MergedSeries<'a> {
        let mut merged = MergedSeries {
            blocks,
            cursors: vec![(0, None); blocks.len()],
            failure,
        };
        for i in 0..blocks.len() {
            merged.load(i);
        }
        merged
    }

    fn load(&mut self, i: usize) {
        let (ordinal, _) = self.cursors[i];
        self.cursors[i].1 = if ordinal < self.blocks[i].num_series() {
            match self.blocks[i].labels(ordinal) {
                Ok(labels) => Some(labels),
                Err(e) => {
                    self.failure.borrow_mut().get_or_insert(e);
                    None
                }
            }
        } else {
            None
        };
    }
}

impl Iterator for MergedSeries<'_> {
    type Item = (Labels, Vec<Sample>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.failure.borrow().is_some() {
            return None;
        }
        let smallest = self
            .cursors
            .iter()
            .filter_map(|(_, l)| l.as_ref())
            .min()?
            .clone();
        let mut samples: Vec<Sample> = Vec::new();
        // Blocks are oldest first: on equal timestamps the newer block wins.
        for i in 0..self.blocks.len() {
            if self.cursors[i].1.as_ref() != Some(&smallest) {
                continue;
            }
            match self.blocks[i].series(self.cursors[i].0) {
                Ok((_, more)) => samples = merge_samples(&samples, &more),
                Err(e) => {
                    self.failure.borrow_mut().get_or_insert(e);
                    return None;
                }
            }
            self.cursors[i].0 += 1;
            self.load(i);
        }
        Some((smallest, samples))
    }
}

/// Opens every block under `blocks_dir`, removing unfinished writes and moving
/// corrupt blocks to `corrupted/` with a warning: the store always starts.
fn open_blocks(data_dir: &Path, blocks_dir: &Path) -> Result<Vec<Arc<Block>>, DbError> {
    let mut blocks = Vec::new();
    let entries = fs::read_dir(blocks_dir)
        .map_err(io_context(format!("listing {}", blocks_dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_context("listing blocks"))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            warn!(dir = %path.display(), "removing an unfinished block write or deletion");
            remove_block_dir(&path);
            continue;
        }
        if !path.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(block) => blocks.push(Arc::new(block)),
            Err(e) if e.is_corruption() || matches!(e, BlockError::Io { .. }) => {
                let quarantine = data_dir.join("corrupted");
                let _ = fs::create_dir_all(&quarantine);
                let dest = quarantine.join(&name);
                error!(
                    block = %name,
                    error = %e,
                    moved_to = %dest.display(),
                    "block is unreadable; its data is left out and the block moved aside for inspection"
                );
                if let Err(move_error) = fs::rename(&path, &dest) {
                    error!(error = %move_error, "could not move the unreadable block; skipping it in place");
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(blocks)
}

/// Deletes a block directory: renamed first, so a crash mid-way leaves a
/// `.deleted` directory that the next start removes, never a half block.
fn remove_block_dir(path: &Path) {
    let doomed = if path
        .extension()
        .is_some_and(|e| e == "deleted" || e == "tmp")
    {
        path.to_path_buf()
    } else {
        let doomed = path.with_extension("deleted");
        if let Err(e) = fs::rename(path, &doomed) {
            warn!(dir = %path.display(), error = %e, "could not rename a block for deletion");
            return;
        }
        doomed
    };
    if let Err(e) = fs::remove_dir_all(&doomed) {
        warn!(dir = %doomed.display(), error = %e, "could not delete a block directory");
    }
}

/// Picks blocks to merge: first any blocks that overlap in time, then, for
/// each merge range from the smallest, two or more blocks inside one aligned
/// window that lies wholly before `head_min` (no new data can arrive there).
fn plan_merge(blocks: &[Arc<Block>], ranges: &[i64], head_min: i64) -> Option<Vec<Arc<Block>>> {
    for pair in blocks.windows(2) {
        if pair[1].meta().min_time < pair[0].meta().max_time {
            let (lo, hi) = (
                pair[0].meta().min_time,
                pair[0].meta().max_time.max(pair[1].meta().max_time),
            );
            return Some(
                blocks
                    .iter()
                    .filter(|b| b.meta().min_time < hi && b.meta().max_time > lo)
                    .cloned()
                    .collect(),
            );
        }
    }
    for &range in ranges {
        let mut i = 0;
        while i < blocks.len() {
            let window = blocks[i].meta().min_time.div_euclid(range);
            let window_end = (window + 1) * range;
            let group: Vec<Arc<Block>> = blocks[i..]
                .iter()
                .take_while(|b| {
                    b.meta().min_time.div_euclid(range) == window && b.meta().max_time <= window_end
                })
                .cloned()
                .collect();
            if group.len() >= 2 && window_end <= head_min {
                return Some(group);
            }
            i += group.len().max(1);
        }
    }
    None
}
