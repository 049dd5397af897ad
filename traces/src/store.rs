//! The trace store: ingest into WAL + head, flush whole traces to segment
//! files, find traces by id across all of them, retention.
//!
//! Durability (FORMAT.md, "Durability"):
//! 1. a push is framed and written to the WAL, then added to the head, under
//!    one lock; it is acknowledged after both (fsync per policy);
//! 2. a flush takes the traces that are complete (idle for `trace_idle`, or
//!    all), and under the same lock rolls the WAL, writing the traces left
//!    in the head as the first record of the new WAL segment (*carry*);
//! 3. the taken traces are written to a segment file (temporary name, fsync,
//!    rename, directory fsync) that records `wal_through` = the rolled WAL
//!    segment, then `flushed_through` is updated and the WAL segments up to
//!    it are deleted.
//!
//! Replay skips WAL segments up to the largest `wal_through`/
//! `flushed_through` (their spans are in segment files, or were carried
//! forward) and reads the rest; a span id seen twice in a trace is kept
//! once, so a crash between any two steps neither loses nor doubles a span.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};
use tsdb::encoding::{put_uvarint, Reader};
use tsdb::wal::record_log::RecordLog;
use tsdb::wal::{segment as framing, FsyncPolicy};

use crate::codec;
use crate::head::{Head, HeadTrace};
use crate::metrics::TracesMetrics;
use crate::segment::{self, Segment};
use crate::span::{Span, Trace};

const RECORD_SPANS: u8 = 1;
const RECORD_CARRY: u8 = 2;
const FLUSHED_THROUGH: &str = "flushed_through";
/// How long a push waits for a flush to make room before answering 503.
const BACKPRESSURE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error("trace store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Overloaded(String),
}

pub type Result<T> = std::result::Result<T, TracesError>;

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Segments whose newest span ended longer ago than this are deleted.
    pub retention: Duration,
    pub fsync: FsyncPolicy,
    /// A trace with no new span for this long is complete and may be
    /// flushed (Tempo's `trace_idle_period`).
    pub trace_idle: Duration,
    /// Complete traces are flushed once they hold this much memory, or
    /// once the oldest has waited `max_flush_wait`.
    pub flush_bytes: usize,
    pub max_flush_wait: Duration,
    /// Everything is flushed when the head holds more than this; pushes
    /// wait (then get 503) above twice this.
    pub head_max_bytes: usize,
    /// How often the server looks for traces ready to flush.
    pub flush_check_period: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            retention: Duration::from_secs(7 * 24 * 3600),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            trace_idle: Duration::from_secs(10),
            flush_bytes: 32 << 20,
            max_flush_wait: Duration::from_secs(5 * 60),
            head_max_bytes: 64 << 20,
            flush_check_period: Duration::from_secs(1),
        }
    }
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

pub struct TraceStore {
    dir: PathBuf,
    options: StoreOptions,
    metrics: Arc<TracesMetrics>,
    wal: RecordLog,
    head: Mutex<Head>,
    /// Traces taken by the flush in progress: still found by reads.
    flushing: RwLock<Option<Arc<Vec<HeadTrace>>>>,
    segments: RwLock<Vec<Arc<Segment>>>,
    next_seq: AtomicU64,
    flush_lock: Mutex<()>,
    flushed: parking_lot::Condvar,
    flush_requested: AtomicBool,
    /// When complete traces started waiting for a flush.
    oldest_waiting: Mutex<Option<Instant>>,
}

fn frame(record_type: u8, traces: &[Vec<&Span>], out: &mut Vec<u8>) {
    framing::frame_with(record_type, out, |payload| {
        put_uvarint(payload, traces.len() as u64);
        for spans in traces {
            codec::encode_trace(spans, payload);
        }
    });
}

fn decode_record(payload: &[u8]) -> std::result::Result<Vec<Span>, tsdb::encoding::DecodeError> {
    let mut reader = Reader::new(payload);
    let count = reader.uvarint()?;
    let mut spans = Vec::new();
    for _ in 0..count {
        codec::decode_trace(&mut reader, &mut spans)?;
    }
    Ok(spans)
}

impl TraceStore {
    pub fn open(dir: &Path, options: StoreOptions, metrics: Arc<TracesMetrics>) -> Result<Self> {
        let started = Instant::now();
        let segments_dir = dir.join("segments");
        fs::create_dir_all(&segments_dir)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(&segments_dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                // A flush that did not finish: its spans are still in the WAL.
                fs::remove_file(entry.path())?;
                continue;
            }
            if segment::parse_file_name(&name).is_none() {
                continue;
            }
            match Segment::open(&entry.path()) {
                Ok(s) => segments.push(Arc::new(s)),
                Err(e) => {
                    return Err(TracesError::Io(std::io::Error::new(
                        e.kind(),
                        format!("{e}; move the file away to start without it"),
                    )))
                }
            }
        }
        segments.sort_by_key(|s| s.seq);
        let flushed_through = fs::read_to_string(dir.join(FLUSHED_THROUGH))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .max(segments.iter().map(|s| s.wal_through).max().unwrap_or(0));
        let mut head = Head::default();
        let now = Instant::now();
        let mut replayed = 0usize;
        let wal = RecordLog::open(
            &dir.join("wal"),
            options.fsync,
            |n, record_type, payload| {
                if n <= flushed_through || !matches!(record_type, RECORD_SPANS | RECORD_CARRY) {
                    return;
                }
                match decode_record(payload) {
                    Ok(spans) => replayed += head.append(spans, now),
                    Err(e) => {
                        warn!(segment = n, error = %e, "skipping an undecodable trace WAL record")
                    }
                }
            },
        )?;
        let next_seq = segments.last().map_or(1, |s| s.seq + 1);
        info!(
            segments = segments.len(),
            spans_replayed = replayed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "trace store opened"
        );
        metrics.segments.set(segments.len() as i64);
        metrics.head_memory_bytes.set(head.bytes as i64);
        Ok(TraceStore {
            dir: dir.to_path_buf(),
            options,
            metrics,
            wal,
            head: Mutex::new(head),
            flushing: RwLock::new(None),
            segments: RwLock::new(segments),
            next_seq: AtomicU64::new(next_seq),
            flush_lock: Mutex::new(()),
            flushed: parking_lot::Condvar::new(),
            flush_requested: AtomicBool::new(false),
            oldest_waiting: Mutex::new(None),
        })
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub fn metrics(&self) -> &Arc<TracesMetrics> {
        &self.metrics
    }

    /// Appends spans: WAL first, then the head. When this returns `Ok`, the
    /// spans survive a crash of the process.
    pub fn push(&self, spans: Vec<Span>) -> Result<()> {
        self.push_observed(spans, |_| {})
    }

    /// [`Self::push`], calling `observe` with the spans once they are in the
    /// WAL (so span metrics count each acknowledged span once, and nothing
    /// a refused push held).
    pub fn push_observed(&self, spans: Vec<Span>, observe: impl FnOnce(&[Span])) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let mut framed = Vec::new();
        frame(RECORD_SPANS, &codec::group_by_trace(&spans), &mut framed);
        let mut head = self.head.lock();
        let ceiling = self.options.head_max_bytes.saturating_mul(2);
        let deadline = Instant::now() + BACKPRESSURE_WAIT;
        while head.bytes > ceiling {
            if self.flushed.wait_until(&mut head, deadline).timed_out() && head.bytes > ceiling {
                return Err(TracesError::Overloaded(format!(
                    "the trace store holds {} MiB not yet flushed (limit {} MiB); retry later",
                    head.bytes >> 20,
                    ceiling >> 20
                )));
            }
        }
        self.wal.append(&framed)?;
        observe(&spans);
        head.append(spans, Instant::now());
        let full = head.bytes > self.options.head_max_bytes;
        self.metrics.head_memory_bytes.set(head.bytes as i64);
        self.metrics.head_traces.set(head.traces.len() as i64);
        drop(head);
        if full && !self.flush_requested.swap(true, Ordering::AcqRel) {
            self.flush(true)?;
        }
        Ok(())
    }

    pub fn sync_wal(&self) -> Result<()> {
        Ok(self.wal.sync()?)
    }

    /// Flushes complete traces when enough have gathered or waited long
    /// enough (everything when `all` or when the head is over its limit).
    pub fn flush(&self, all: bool) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock();
        let started = Instant::now();
        let now = Instant::now();
        let (wal_through, taken) = {
            let mut head = self.head.lock();
            self.flush_requested.store(false, Ordering::Release);
            let all = all || head.bytes > self.options.head_max_bytes;
            if head.is_empty() {
                return Ok(());
            }
            if !all {
                let idle = self.options.trace_idle;
                let (ready_bytes, any) = head
                    .traces
                    .values()
                    .filter(|t| now.saturating_duration_since(t.last_append) >= idle)
                    .fold((0usize, false), |(b, _), t| (b + t.bytes, true));
                if !any {
                    return Ok(());
                }
                let mut oldest = self.oldest_waiting.lock();
                let waited = oldest.get_or_insert(now).elapsed();
                if ready_bytes < self.options.flush_bytes && waited < self.options.max_flush_wait {
                    return Ok(());
                }
            }
            *self.oldest_waiting.lock() = None;
            let taken = head.take(all, self.options.trace_idle, now);
            let mut carry = Vec::new();
            if !head.is_empty() {
                let remaining: Vec<Vec<&Span>> = head
                    .traces
                    .values()
                    .map(|t| t.trace.spans.iter().collect())
                    .collect();
                frame(RECORD_CARRY, &remaining, &mut carry);
            }
            let wal_through = self.wal.roll(&carry)?;
            self.metrics.head_memory_bytes.set(head.bytes as i64);
            self.metrics.head_traces.set(head.traces.len() as i64);
            let taken = Arc::new(taken);
            *self.flushing.write() = Some(taken.clone());
            self.flushed.notify_all();
            (wal_through, taken)
        };
        let seq = self.next_seq.fetch_add(1, Ordering::AcqRel);
        let traces: Vec<&Trace> = taken.iter().map(|t| &t.trace).collect();
        let written = segment::write(&self.dir.join("segments"), seq, wal_through, &traces);
        let segment = match written {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.metrics.flush_failures.inc();
                warn!(error = %e, "trace flush failed; its spans stay in the WAL and the head");
                let mut head = self.head.lock();
                *self.flushing.write() = None;
                let taken = Arc::try_unwrap(taken).unwrap_or_else(|shared| {
                    shared
                        .iter()
                        .map(|t| HeadTrace {
                            trace: t.trace.clone(),
                            start_ns: t.start_ns,
                            end_ns: t.end_ns,
                            last_append: t.last_append,
                            bytes: t.bytes,
                        })
                        .collect()
                });
                head.put_back(taken, now);
                return Err(e.into());
            }
        };
        {
            let mut segments = self.segments.write();
            segments.push(segment.clone());
            *self.flushing.write() = None;
            self.metrics.segments.set(segments.len() as i64);
        }
        let tmp = self.dir.join(format!("{FLUSHED_THROUGH}.tmp"));
        fs::write(&tmp, wal_through.to_string())?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, self.dir.join(FLUSHED_THROUGH))?;
        tsdb::wal::sync_dir(&self.dir)?;
        self.wal.remove_through(wal_through)?;
        let spans: usize = taken.iter().map(|t| t.trace.spans.len()).sum();
        self.metrics.flushes.inc();
        self.metrics.spans_flushed.inc_by(spans as u64);
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
        info!(
            segment = seq,
            traces = taken.len(),
            spans,
            bytes = segment.size_bytes(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "flushed traces to a segment"
        );
        Ok(())
    }

    /// Every span stored for `trace_id` (head, flush in progress and every
    /// segment whose time range overlaps the hint), each span once, in start
    /// order. `None` when there is none.
    pub fn trace(&self, trace_id: &[u8; 16], range: Option<(i64, i64)>) -> Result<Option<Trace>> {
        let mut spans: Vec<Span> = Vec::new();
        if let Some(t) = self.head.lock().traces.get(trace_id) {
            spans.extend(t.trace.spans.iter().cloned());
        }
        if let Some(flushing) = self.flushing.read().clone() {
            for t in flushing.iter() {
                if t.trace.trace_id().as_ref() == Some(trace_id) {
                    spans.extend(t.trace.spans.iter().cloned());
                }
            }
        }
        let segments = self.segments.read().clone();
        for segment in segments.iter().rev() {
            if let Some((start, end)) = range {
                if !segment.overlaps(start, end) {
                    continue;
                }
            }
            if let Some(found) = segment.find(trace_id)? {
                spans.extend(found);
            }
        }
        if spans.is_empty() {
            return Ok(None);
        }
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        spans.dedup_by(|a, b| a.span_id == b.span_id);
        Ok(Some(Trace { spans }))
    }

    /// Segments, oldest first.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().clone()
    }

    /// Calls `f` with each head trace (and each trace being flushed) whose
    /// time range overlaps `[start_ns, end_ns]`; `f` returns false to stop.
    pub fn for_each_recent(&self, start_ns: i64, end_ns: i64, mut f: impl FnMut(&Trace) -> bool) {
        let flushing = self.flushing.read().clone();
        let head = self.head.lock();
        let overlapping = |t: &&HeadTrace| t.start_ns <= end_ns && t.end_ns >= start_ns;
        for t in head.traces.values().filter(overlapping) {
            if !f(&t.trace) {
                return;
            }
        }
        drop(head);
        if let Some(flushing) = flushing {
            for t in flushing.iter().filter(overlapping) {
                if !f(&t.trace) {
                    return;
                }
            }
        }
    }

    /// Deletes segments whose newest span ended more than the retention ago.
    pub fn apply_retention(&self, now_ns: i64) -> Result<usize> {
        let _one_at_a_time = self.flush_lock.lock();
        let cutoff = now_ns.saturating_sub(self.options.retention.as_nanos() as i64);
        let expired: Vec<Arc<Segment>> = {
            let mut segments = self.segments.write();
            let (expired, kept) = segments.drain(..).partition(|s| s.max_ns < cutoff);
            *segments = kept;
            self.metrics.segments.set(segments.len() as i64);
            expired
        };
        for segment in &expired {
            fs::remove_file(segment.path())?;
            self.metrics.segments_deleted_by_retention.inc();
            info!(
                segment = segment.seq,
                "deleted a trace segment past retention"
            );
        }
        Ok(expired.len())
    }

    /// Flushes everything (shutdown).
    pub fn close(&self) -> Result<()> {
        self.flush(true)?;
        self.wal.sync()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Value;

    fn spans(trace: u8, ids: std::ops::Range<u8>) -> Vec<Span> {
        let resource = Arc::new(vec![("service.name".to_string(), Value::Str("api".into()))]);
        ids.map(|i| Span {
            trace_id: [trace; 16],
            span_id: [i; 8],
            name: format!("op{i}"),
            start_ns: 1_000 + i as i64,
            end_ns: 2_000 + i as i64,
            resource: resource.clone(),
            ..Span::default()
        })
        .collect()
    }

    fn open(dir: &Path) -> TraceStore {
        TraceStore::open(dir, StoreOptions::default(), TracesMetrics::unregistered()).unwrap()
    }

    #[test]
    fn a_trace_in_pieces_is_found_whole_in_head_segments_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            store.push(spans(1, 1..4)).unwrap();
            store.flush(true).unwrap();
            store.push(spans(1, 4..6)).unwrap(); // later, to the head
            store.push(spans(1, 2..3)).unwrap(); // a retry of a flushed span
            let trace = store.trace(&[1; 16], None).unwrap().unwrap();
            assert_eq!(trace.spans.len(), 5);
            assert!(store.trace(&[2; 16], None).unwrap().is_none());
        }
        // Not closed: the head comes back from the WAL.
        let store = open(dir.path());
        assert_eq!(store.trace(&[1; 16], None).unwrap().unwrap().spans.len(), 5);
        store.flush(true).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.segments().len(), 2);
        assert_eq!(store.trace(&[1; 16], None).unwrap().unwrap().spans.len(), 5);
        assert_eq!(store.head.lock().spans, 0, "flushed spans are not replayed");
    }

    #[test]
    fn spans_left_in_the_head_by_a_flush_are_carried() {
        let dir = tempfile::tempdir().unwrap();
        {
            let options = StoreOptions {
                trace_idle: Duration::from_millis(200),
                max_flush_wait: Duration::ZERO,
                ..StoreOptions::default()
            };
            let store =
                TraceStore::open(dir.path(), options, TracesMetrics::unregistered()).unwrap();
            store.push(spans(1, 1..3)).unwrap();
            store.flush(false).unwrap(); // nothing idle: nothing flushed
            assert!(store.segments().is_empty());
            std::thread::sleep(Duration::from_millis(300));
            store.push(spans(2, 1..3)).unwrap();
            store.flush(false).unwrap(); // trace 1 flushed, trace 2 carried
            assert_eq!(store.segments().len(), 1);
        }
        let store = open(dir.path());
        assert_eq!(
            store.head.lock().spans,
            2,
            "trace 2 replayed from the carry"
        );
        assert_eq!(store.trace(&[1; 16], None).unwrap().unwrap().spans.len(), 2);
        assert_eq!(store.trace(&[2; 16], None).unwrap().unwrap().spans.len(), 2);
    }

    #[test]
    fn retention_deletes_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.push(spans(1, 1..3)).unwrap();
        store.flush(true).unwrap();
        assert_eq!(store.apply_retention(now_ns()).unwrap(), 1);
        assert!(store.trace(&[1; 16], None).unwrap().is_none());
    }
}
