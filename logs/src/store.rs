//! The log store: ingest into WAL + head, flush to hourly partitions,
//! retention, and the reads LogQL and the label APIs are built on.
//!
//! Durability sequence (FORMAT.md, "Durability"):
//! 1. a push is framed and written to the WAL, then added to the head, under
//!    one lock; the push is acknowledged after both (fsync per policy);
//! 2. a flush rolls the WAL to a new segment and, under the same lock, takes
//!    the streams that are ready out of the head and writes the rest back
//!    into the new segment as its first record ("carry"): on replay a carry
//!    record replaces what older segments held for its streams, so the old
//!    segments matter only for the streams being flushed;
//! 3. each partition writes and fsyncs its blocks, then commits its index
//!    with `wal_through = <rolled segment>`;
//! 4. only then are the old WAL segments deleted. Replay skips a line of
//!    segment `s` whose hour's partition committed `wal_through >= s`, so a
//!    crash anywhere in 2–4 neither loses nor doubles a line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use model::{Labels, Matcher};
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use tracing::{info, warn};
use tsdb::wal::FsyncPolicy;

use crate::block;
use crate::entry::{stream_id, Entry, StreamEntries, StreamId};
use crate::error::{LogsError, Result};
use crate::head::{Head, HeadStream};
use crate::metrics::LogsMetrics;
use crate::partition::{BlockRef, Partition, HOUR_NS};
use crate::tokens::TermCondition;
use crate::wal::{self, LogWal, RecordKind};

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Partitions whose hour ended longer ago than this are deleted.
    pub retention: Duration,
    pub fsync: FsyncPolicy,
    /// The whole head is flushed when it holds more than this.
    pub head_max_bytes: usize,
    /// A stream is flushed once its oldest unflushed line is this old, even
    /// if it has less than a block's worth.
    pub stream_max_age: Duration,
    /// How often the server looks for streams ready to flush.
    pub flush_check_period: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: Duration::from_secs(7 * 24 * 3600),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            head_max_bytes: 64 << 20,
            stream_max_age: Duration::from_secs(5 * 60),
            flush_check_period: Duration::from_secs(5),
        }
    }
}

/// Which end of the time range a log query starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// Lines of one stream the store visits: a decompressed block, or head entries.
pub enum Lines<'a> {
    Block(&'a block::Block),
    Head(&'a [Entry]),
}

impl Lines<'_> {
    pub fn len(&self) -> usize {
        match self {
            Lines::Block(b) => b.len(),
            Lines::Head(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn timestamp(&self, i: usize) -> i64 {
        match self {
            Lines::Block(b) => b.timestamp(i),
            Lines::Head(e) => e[i].timestamp_ns,
        }
    }

    pub fn line(&self, i: usize) -> &str {
        match self {
            Lines::Block(b) => b.line(i),
            Lines::Head(e) => &e[i].line,
        }
    }

    pub fn metadata(&self, i: usize) -> &[(String, String)] {
        match self {
            Lines::Block(b) => b.metadata(i),
            Lines::Head(e) => &e[i].metadata,
        }
    }
}

/// What a query reads, planned under the view lock: block references and
/// copies of the head's matching lines, grouped into time slabs.
pub struct ReadPlan {
    pub slabs: Vec<Slab>,
    labels: FxHashMap<StreamId, Labels>,
}

/// A part of the data whose lines all lie in `[min_ts, max_ts]`.
pub struct Slab {
    pub min_ts: i64,
    pub max_ts: i64,
    source: SlabSource,
}

enum SlabSource {
    Partition(Arc<Partition>, Vec<BlockRef>),
    Head(Vec<(StreamId, Vec<Entry>)>),
}

impl Slab {
    /// Blocks of a partition slab, streams of the head slab.
    fn units(&self) -> usize {
        match &self.source {
            SlabSource::Partition(_, blocks) => blocks.len(),
            SlabSource::Head(streams) => streams.len(),
        }
    }
}

/// Called with each line read: its stream's labels, timestamp, text and
/// structured metadata.
pub type LineVisitor<'v> = dyn FnMut(&Labels, i64, &str, &[(String, String)]) + 'v;

/// Statistics of what a query read, for Loki's `stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadStats {
    pub blocks: usize,
    pub compressed_bytes: u64,
    pub decompressed_bytes: u64,
    pub lines: usize,
    pub head_lines: usize,
}

impl ReadStats {
    pub fn add(&mut self, other: &ReadStats) {
        self.blocks += other.blocks;
        self.compressed_bytes += other.compressed_bytes;
        self.decompressed_bytes += other.decompressed_bytes;
        self.lines += other.lines;
        self.head_lines += other.head_lines;
    }
}

impl ReadPlan {
    pub fn labels(&self, id: StreamId) -> &Labels {
        &self.labels[&id]
    }

    /// Visits every line of slab `i` in `[start_ns, end_ns)`.
    pub fn read_slab(
        &self,
        i: usize,
        start_ns: i64,
        end_ns: i64,
        stats: &mut ReadStats,
        visit: &mut LineVisitor,
    ) -> Result<()> {
        for unit in 0..self.slabs[i].units() {
            self.read_unit(i, unit, start_ns, end_ns, stats, visit)?;
        }
        Ok(())
    }

    /// Visits the lines in `[start_ns, end_ns)` of one unit of slab `i`: a
    /// block of a partition, or a stream of the head.
    fn read_unit(
        &self,
        i: usize,
        unit: usize,
        start_ns: i64,
        end_ns: i64,
        stats: &mut ReadStats,
        visit: &mut LineVisitor,
    ) -> Result<()> {
        match &self.slabs[i].source {
            SlabSource::Partition(partition, blocks) => {
                let block_ref = &blocks[unit];
                let block = partition.read_block(block_ref)?;
                stats.blocks += 1;
                stats.compressed_bytes += block_ref.length;
                stats.decompressed_bytes += block_ref.raw_len;
                let labels = &self.labels[&block_ref.stream];
                visit_lines(
                    &Lines::Block(&block),
                    labels,
                    start_ns,
                    end_ns,
                    stats,
                    visit,
                );
            }
            SlabSource::Head(streams) => {
                let (id, entries) = &streams[unit];
                let before = stats.lines;
                visit_lines(
                    &Lines::Head(entries),
                    &self.labels[id],
                    start_ns,
                    end_ns,
                    stats,
                    visit,
                );
                stats.head_lines += stats.lines - before;
            }
        }
        Ok(())
    }
}

impl ReadPlan {
    /// Visits every line in `[start_ns, end_ns)` on `threads` threads, in no
    /// particular order: each thread folds into its own state from `init`.
    /// For metric queries, which read everything in their range.
    pub fn read_parallel<T: Send>(
        &self,
        start_ns: i64,
        end_ns: i64,
        threads: usize,
        init: impl Fn() -> T + Sync,
        visit: impl Fn(&mut T, &Labels, i64, &str, &[(String, String)]) + Sync,
    ) -> Result<(Vec<T>, ReadStats)> {
        // Work units: each block of each partition slab, and each head stream.
        let units: Vec<(usize, usize)> = (0..self.slabs.len())
            .flat_map(|i| (0..self.slabs[i].units()).map(move |unit| (i, unit)))
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = threads.clamp(1, units.len().max(1));
        let outcomes: Vec<Result<(T, ReadStats)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<(T, ReadStats)> {
                        let mut state = init();
                        let mut stats = ReadStats::default();
                        loop {
                            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&(slab, j)) = units.get(n) else {
                                break;
                            };
                            let mut visitor =
                                |labels: &Labels,
                                 ts: i64,
                                 line: &str,
                                 metadata: &[(String, String)]| {
                                    visit(&mut state, labels, ts, line, metadata)
                                };
                            self.read_unit(slab, j, start_ns, end_ns, &mut stats, &mut visitor)?;
                        }
                        Ok((state, stats))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a read worker panicked"))
                .collect()
        });
        let mut states = Vec::with_capacity(threads);
        let mut total = ReadStats::default();
        for outcome in outcomes {
            let (state, stats) = outcome?;
            states.push(state);
            total.add(&stats);
        }
        Ok((states, total))
    }
}

fn visit_lines(
    lines: &Lines,
    labels: &Labels,
    start_ns: i64,
    end_ns: i64,
    stats: &mut ReadStats,
    visit: &mut LineVisitor,
) {
    for i in 0..lines.len() {
        let ts = lines.timestamp(i);
        if ts >= start_ns && ts < end_ns {
            stats.lines += 1;
            visit(labels, ts, lines.line(i), lines.metadata(i));
        }
    }
}

pub struct LogStore {
    metrics: Arc<LogsMetrics>,
    dir: PathBuf,
    options: StoreOptions,
    wal: LogWal,
    head: Mutex<Head>,
    /// Streams taken out of the head by the flush in progress.
    flushing: RwLock<Option<Arc<Head>>>,
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// One flush or retention pass at a time.
    flush_lock: Mutex<()>,
    /// Signalled (with the head lock) when a flush takes lines out of the
    /// head and when it ends, for pushes waiting on backpressure.
    flushed: parking_lot::Condvar,
    /// A pusher found the head full and is flushing (or about to).
    flush_requested: AtomicBool,
    /// Readers plan under `read`; a flush swaps head data for partition data under `write`.
    view_lock: RwLock<()>,
}

/// How long a push waits for a flush to make room before it is refused.
const BACKPRESSURE_WAIT: Duration = Duration::from_secs(30);

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn hour_of(ts: i64) -> i64 {
    ts.div_euclid(HOUR_NS)
}

impl LogStore {
    /// Opens the store in `dir` (created if missing), replaying the WAL.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<LogStore> {
        LogStore::open_with_metrics(dir, options, LogsMetrics::unregistered())
    }

    /// [`LogStore::open`], reporting to `metrics`.
    pub fn open_with_metrics(
        dir: &Path,
        options: StoreOptions,
        metrics: Arc<LogsMetrics>,
    ) -> Result<LogStore> {
        let started = Instant::now();
        let partitions_dir = dir.join("partitions");
        fs::create_dir_all(&partitions_dir)?;
        let mut partitions = BTreeMap::new();
        for entry in fs::read_dir(&partitions_dir)? {
            let entry = entry?;
            let Some(hour) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            partitions.insert(hour, Arc::new(Partition::open(&entry.path(), hour)?));
        }
        let oldest_kept = now_ns() - options.retention.as_nanos() as i64;
        let mut head = Head::default();
        let mut replayed = 0usize;
        let replay_started = Instant::now();
        let wal = LogWal::open(&dir.join("wal"), options.fsync, |segment, kind, streams| {
            for stream in streams {
                let id = stream_id(&stream.labels);
                if kind == RecordKind::Carry {
                    // Everything earlier segments held for this stream is in the carry record.
                    head.remove(id);
                }
                let entries: Vec<Entry> = stream
                    .entries
                    .into_iter()
                    .filter(|e| {
                        e.timestamp_ns >= oldest_kept
                            && partitions
                                .get(&hour_of(e.timestamp_ns))
                                .is_none_or(|p: &Arc<Partition>| p.wal_through() < segment)
                    })
                    .collect();
                if !entries.is_empty() {
                    replayed += entries.len();
                    head.append(id, &stream.labels, entries, replay_started);
                }
            }
        })?;
        info!(
            partitions = partitions.len(),
            lines_replayed = replayed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "log store opened"
        );
        metrics.partitions.set(partitions.len() as i64);
        metrics.head_memory_bytes.set(head.bytes as i64);
        Ok(LogStore {
            metrics,
            dir: dir.to_path_buf(),
            options,
            wal,
            head: Mutex::new(head),
            flushing: RwLock::new(None),
            partitions: RwLock::new(partitions),
            flush_lock: Mutex::new(()),
            flushed: parking_lot::Condvar::new(),
            flush_requested: AtomicBool::new(false),
            view_lock: RwLock::new(()),
        })
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Appends validated streams: WAL first, then the head. When this
    /// returns `Ok`, the lines survive a crash of the process.
    pub fn push(&self, streams: Vec<StreamEntries>) -> Result<()> {
        if streams.is_empty() {
            return Ok(());
        }
        let mut framed = Vec::new();
        wal::frame_push(
            streams.iter().map(|s| (&s.labels, &s.entries[..])),
            &mut framed,
        );
        let ids: Vec<StreamId> = streams.iter().map(|s| stream_id(&s.labels)).collect();
        let now = Instant::now();
        let mut head = self.head.lock();
        // Backpressure: while flushes cannot keep up, wait for one to finish.
        let ceiling = self.options.head_max_bytes.saturating_mul(2);
        let deadline = Instant::now() + BACKPRESSURE_WAIT;
        while head.bytes > ceiling {
            if self.flushed.wait_until(&mut head, deadline).timed_out() && head.bytes > ceiling {
                return Err(LogsError::Overloaded(format!(
                    "the log store holds {} MiB not yet flushed (limit {} MiB); retry later",
                    head.bytes >> 20,
                    ceiling >> 20
                )));
            }
        }
        self.wal.append(&framed)?;
        for (stream, id) in streams.into_iter().zip(ids) {
            head.append(id, &stream.labels, stream.entries, now);
        }
        let full = head.bytes > self.options.head_max_bytes;
        self.metrics.head_memory_bytes.set(head.bytes as i64);
        drop(head);
        // The first pusher to find the head full flushes it (after the flush
        // in progress, if any); the others carry on up to the ceiling.
        if full && !self.flush_requested.swap(true, Ordering::AcqRel) {
            self.flush(true)?;
        }
        Ok(())
    }

    /// fsyncs the WAL (the `Interval` fsync policy's tick).
    pub fn sync_wal(&self) -> Result<()> {
        Ok(self.wal.sync()?)
    }

    /// Writes the streams that are ready (a block's worth, or older than
    /// `stream_max_age`; everything when `all` or when the head is over
    /// `head_max_bytes`) to their partitions.
    pub fn flush(&self, all: bool) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock();
        let started = Instant::now();
        let (seq, taken) = {
            let mut head = self.head.lock();
            let all = all || head.bytes > self.options.head_max_bytes;
            let max_age = self.options.stream_max_age;
            let ready = |s: &HeadStream| {
                all || s.bytes >= block::TARGET_RAW_BYTES || s.since.elapsed() >= max_age
            };
            if !head.streams.values().any(ready) {
                return Ok(());
            }
            let seq = self.wal.roll()?;
            let taken = head.take(ready);
            self.metrics.head_memory_bytes.set(head.bytes as i64);
            self.flush_requested.store(false, Ordering::Release);
            // Room was made: pushes waiting on backpressure may go on.
            self.flushed.notify_all();
            if !head.is_empty() {
                let mut carry = Vec::new();
                wal::frame_carry(
                    head.streams.values().map(|s| (&s.labels, &s.entries[..])),
                    &mut carry,
                );
                self.wal.append(&carry)?;
            }
            let taken = Arc::new(taken);
            *self.flushing.write() = Some(taken.clone());
            (seq, taken)
        };
        let mut written = Vec::new();
        let outcome = self.write_partitions(seq, &taken, &mut written);
        let written: Vec<Arc<Partition>> = {
            let partitions = self.partitions.read();
            written
                .iter()
                .filter_map(|h| partitions.get(h).cloned())
                .collect()
        };
        if let Err(e) = outcome {
            self.metrics.flush_failures.inc();
            // The lines of hours that did not commit go back to the head; all
            // stay in the kept WAL segments, and replay skips committed hours.
            warn!(error = %e, "log flush failed; its lines stay in the WAL and the head");
            self.put_back(&taken, &written)?;
            return Err(e);
        }
        {
            let _view = self.view_lock.write();
            for partition in &written {
                partition.reload()?;
            }
            *self.flushing.write() = None;
        }
        self.wal.remove_through(seq)?;
        for partition in &written {
            partition.warm()?;
        }
        {
            // Under the head lock, so a push between its check and its wait
            // cannot miss this.
            let _head = self.head.lock();
            self.flushed.notify_all();
        }
        self.metrics.flushes.inc();
        self.metrics.lines_flushed.inc_by(taken.lines as u64);
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .partitions
            .set(self.partitions.read().len() as i64);
        info!(
            streams = taken.streams.len(),
            lines = taken.lines,
            bytes = taken.bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "flushed logs to partitions"
        );
        Ok(())
    }

    /// After a failed flush, returns its streams to the head so they stay
    /// queryable and are retried (they are still in the kept WAL segments).
    fn put_back(&self, taken: &Head, committed: &[Arc<Partition>]) -> Result<()> {
        let _view = self.view_lock.write();
        // Hours that did commit are in their partitions: show them there.
        for partition in committed {
            partition.reload()?;
        }
        let committed_hours: Vec<i64> = committed.iter().map(|p| p.hour).collect();
        let mut head = self.head.lock();
        *self.flushing.write() = None;
        for (id, stream) in &taken.streams {
            let entries: Vec<Entry> = stream
                .entries
                .iter()
                .filter(|e| !committed_hours.contains(&hour_of(e.timestamp_ns)))
                .cloned()
                .collect();
            if !entries.is_empty() {
                head.append(*id, &stream.labels, entries, stream.since);
            }
        }
        Ok(())
    }

    /// Writes the flushed streams, noting in `written` each hour committed.
    fn write_partitions(&self, seq: u64, taken: &Head, written: &mut Vec<i64>) -> Result<()> {
        // hour → stream → entries
        let mut by_hour: BTreeMap<i64, FxHashMap<StreamId, Vec<&Entry>>> = BTreeMap::new();
        for (id, stream) in &taken.streams {
            for entry in &stream.entries {
                by_hour
                    .entry(hour_of(entry.timestamp_ns))
                    .or_default()
                    .entry(*id)
                    .or_default()
                    .push(entry);
            }
        }
        for (hour, streams) in by_hour {
            let partition = self.partition(hour)?;
            let mut streams: Vec<(StreamId, &Labels, Vec<&Entry>)> = streams
                .into_iter()
                .map(|(id, mut entries)| {
                    entries.sort_by_key(|e| e.timestamp_ns);
                    (id, &taken.streams[&id].labels, entries)
                })
                .collect();
            streams.sort_by_key(|(id, _, _)| *id);
            partition.append(seq, &streams)?;
            written.push(hour);
        }
        Ok(())
    }

    fn partition(&self, hour: i64) -> Result<Arc<Partition>> {
        if let Some(p) = self.partitions.read().get(&hour) {
            return Ok(p.clone());
        }
        let dir = self.dir.join("partitions").join(hour.to_string());
        let partition = Arc::new(Partition::open(&dir, hour)?);
        self.partitions.write().insert(hour, partition.clone());
        Ok(partition)
    }

    /// Deletes partitions whose hour ended more than the retention ago.
    pub fn apply_retention(&self, now_ns: i64) -> Result<usize> {
        let _one_at_a_time = self.flush_lock.lock();
        let cutoff = now_ns - self.options.retention.as_nanos() as i64;
        let expired: Vec<Arc<Partition>> = {
            let _view = self.view_lock.write();
            let mut partitions = self.partitions.write();
            let hours: Vec<i64> = partitions
                .keys()
                .copied()
                .filter(|h| (h + 1) * HOUR_NS <= cutoff)
                .collect();
            hours.iter().filter_map(|h| partitions.remove(h)).collect()
        };
        self.metrics
            .partitions
            .set(self.partitions.read().len() as i64);
        for partition in &expired {
            self.metrics.partitions_deleted_by_retention.inc();
            fs::remove_dir_all(partition.dir())?;
            info!(
                hour = partition.hour,
                "deleted a log partition past retention"
            );
        }
        Ok(expired.len())
    }

    /// Streams with lines in `[start_ns, end_ns)` (at partition
    /// granularity) matching every matcher.
    pub fn streams(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> FxHashMap<StreamId, Labels> {
        let _view = self.view_lock.read();
        let mut out = FxHashMap::default();
        let matches = |labels: &Labels| {
            matchers
                .iter()
                .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
        };
        for partition in self
            .partitions
            .read()
            .range(hour_of(start_ns)..=hour_of(end_ns))
        {
            for (id, labels) in partition.1.streams() {
                if matches(&labels) {
                    out.insert(id, labels);
                }
            }
        }
        let mut add_head = |head: &Head| {
            for (id, stream) in &head.streams {
                if !out.contains_key(id)
                    && matches(&stream.labels)
                    && stream
                        .entries
                        .iter()
                        .any(|e| e.timestamp_ns >= start_ns && e.timestamp_ns < end_ns)
                {
                    out.insert(*id, stream.labels.clone());
                }
            }
        };
        if let Some(flushing) = self.flushing.read().as_ref() {
            add_head(flushing);
        }
        add_head(&self.head.lock());
        out
    }

    /// Plans reading the lines of `streams` in `[start_ns, end_ns)` from
    /// blocks satisfying `conditions`, in slabs ordered for `direction`.
    pub fn plan(
        &self,
        streams: FxHashMap<StreamId, Labels>,
        start_ns: i64,
        end_ns: i64,
        conditions: &[TermCondition],
        direction: Direction,
    ) -> Result<ReadPlan> {
        self.plan_with(streams, start_ns, end_ns, conditions, None, direction)
    }

    /// [`LogStore::plan`], with blocks also filtered by a tantivy query
    /// over the block index (the audit search).
    pub fn plan_with(
        &self,
        streams: FxHashMap<StreamId, Labels>,
        start_ns: i64,
        end_ns: i64,
        conditions: &[TermCondition],
        query: Option<&dyn tantivy::query::Query>,
        direction: Direction,
    ) -> Result<ReadPlan> {
        let _view = self.view_lock.read();
        let ids: Vec<StreamId> = streams.keys().copied().collect();
        let mut slabs = Vec::new();
        if !ids.is_empty() && start_ns < end_ns {
            for (hour, partition) in self
                .partitions
                .read()
                .range(hour_of(start_ns)..=hour_of(end_ns - 1))
            {
                let blocks =
                    partition.find_blocks(Some(&ids), start_ns, end_ns - 1, conditions, query)?;
                if !blocks.is_empty() {
                    slabs.push(Slab {
                        min_ts: hour * HOUR_NS,
                        max_ts: (hour + 1) * HOUR_NS - 1,
                        source: SlabSource::Partition(partition.clone(), blocks),
                    });
                }
            }
            let mut head_lines = Vec::new();
            let mut copy = |head: &Head| {
                for id in &ids {
                    if let Some(stream) = head.streams.get(id) {
                        let entries: Vec<Entry> = stream
                            .entries
                            .iter()
                            .filter(|e| e.timestamp_ns >= start_ns && e.timestamp_ns < end_ns)
                            .cloned()
                            .collect();
                        if !entries.is_empty() {
                            head_lines.push((*id, entries));
                        }
                    }
                }
            };
            if let Some(flushing) = self.flushing.read().as_ref() {
                copy(flushing);
            }
            copy(&self.head.lock());
            if !head_lines.is_empty() {
                let (min_ts, max_ts) = head_lines
                    .iter()
                    .flat_map(|(_, e)| e.iter().map(|e| e.timestamp_ns))
                    .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
                slabs.push(Slab {
                    min_ts,
                    max_ts,
                    source: SlabSource::Head(head_lines),
                });
            }
        }
        match direction {
            Direction::Forward => slabs.sort_by_key(|s| s.min_ts),
            Direction::Backward => slabs.sort_by_key(|s| std::cmp::Reverse(s.max_ts)),
        }
        Ok(ReadPlan {
            slabs,
            labels: streams,
        })
    }

    /// Searchable tantivy segments of each partition, by hour.
    pub fn segment_counts(&self) -> Result<Vec<(i64, usize)>> {
        self.partitions
            .read()
            .values()
            .map(|p| Ok((p.hour, p.segment_count()?)))
            .collect()
    }

    /// Flushes everything (on shutdown).
    pub fn close(&self) -> Result<()> {
        self.flush(true)?;
        self.sync_wal()
    }
}

/// How much of a stream a time range covers, for `index/stats` and `index/volume`.
#[derive(Clone, Debug)]
pub struct StreamVolume {
    pub labels: Labels,
    pub blocks: u64,
    pub lines: u64,
    pub bytes: u64,
}

impl LogStore {
    /// Blocks, lines and bytes of the streams matching `matchers` in
    /// `[start_ns, end_ns)`: whole blocks overlapping the range (as Loki
    /// counts whole chunks), exact lines for the head.
    pub fn volume(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<FxHashMap<StreamId, StreamVolume>> {
        let streams = self.streams(matchers, start_ns, end_ns);
        let plan = self.plan(streams, start_ns, end_ns, &[], Direction::Forward)?;
        let mut out: FxHashMap<StreamId, StreamVolume> = FxHashMap::default();
        for slab in &plan.slabs {
            let mut add = |id: StreamId, blocks: u64, lines: u64, bytes: u64| {
                let volume = out.entry(id).or_insert_with(|| StreamVolume {
                    labels: plan.labels[&id].clone(),
                    blocks: 0,
                    lines: 0,
                    bytes: 0,
                });
                volume.blocks += blocks;
                volume.lines += lines;
                volume.bytes += bytes;
            };
            match &slab.source {
                SlabSource::Partition(_, blocks) => {
                    for block in blocks {
                        add(block.stream, 1, block.lines, block.raw_len);
                    }
                }
                SlabSource::Head(streams) => {
                    for (id, entries) in streams {
                        add(
                            *id,
                            0,
                            entries.len() as u64,
                            entries.iter().map(|e| e.line.len() as u64).sum(),
                        );
                    }
                }
            }
        }
        Ok(out)
    }
}
