//! The write-ahead log: every accepted write is framed, checksummed and
//! written here before it is acknowledged, and replayed into the head on start.
//!
//! Layout under `<data-dir>/wal/`: numbered segments `00000001`, `00000002`, …
//! and at most one `checkpoint.NNNNNNNN`, which stands in for every segment
//! up to and including `NNNNNNNN`. The durability sequence and the fsync policy
//! are described in FORMAT.md ("Durability").
//!
//! Invariants:
//! - a segment is only ever appended to by the process that created it; on
//!   start the writer always opens a new segment, so a torn tail is never
//!   written after;
//! - segments are deleted oldest first, and only once a checkpoint holding
//!   every live series has been made durable;
//! - reading never fails on bad content: a torn or corrupt tail is cut off
//!   with a warning saying how many bytes were dropped.

pub mod record;
pub mod record_log;
pub mod segment;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{info, warn};

use crate::metrics::TsdbMetrics;
use record::Record;
use segment::Tail;

/// When the WAL is fsynced. Every policy writes a batch to the operating
/// system before it is acknowledged, so acknowledged writes survive the
/// process being killed; the policy decides what survives a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before acknowledging (group commit: concurrent batches share one fsync).
    Always,
    /// fsync in the background at this period: a power loss loses at most that much.
    Interval(Duration),
    /// Leave it to the operating system (and to segment and checkpoint completion).
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            other => parse_duration(other).map(FsyncPolicy::Interval).ok_or_else(|| {
                format!("invalid WAL fsync policy {other:?}: use \"always\", \"never\" or a period such as \"1s\"")
            }),
        }
    }
}

/// Parses `500ms`, `1s`, `5m`, `2h`, `15d`, `1w`, `1y`: Prometheus duration syntax
/// (a sequence of number-unit pairs such as `1h30m` is accepted too).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total_ms: u128 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(u64::try_from(total_ms).ok()?))
}

#[derive(Clone, Debug)]
pub struct WalOptions {
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 128 << 20,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}

/// A point in the log: everything before it has been written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What replay found, for the start-up log line.
#[derive(Debug, Default)]
pub struct ReplayStats {
    pub segments: usize,
    pub records: usize,
    pub bytes_dropped: u64,
    pub records_undecodable: usize,
}

struct Writer {
    file: File,
    segment: u64,
    offset: u64,
    /// Newest sample time written to each live segment, oldest segment first.
    segment_maxt: Vec<(u64, i64)>,
}

struct Synced {
    /// A handle on the current segment, so fsync runs outside the writer lock.
    file: File,
    position: Position,
}

pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    writer: Mutex<Writer>,
    synced: Mutex<Synced>,
    /// Set by the first failed write or fsync; see [`Wal::fail`].
    failed: Mutex<Option<String>>,
    metrics: Arc<TsdbMetrics>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn checkpoint_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("checkpoint.{n:08}"))
}

/// Lists `(number, is_checkpoint)` of the WAL files in `dir`, oldest first.
fn list(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut segments = Vec::new();
    let mut checkpoints = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix("checkpoint.")
            .and_then(|n| n.parse().ok())
        {
            checkpoints.push(n);
        } else if let Ok(n) = name.parse::<u64>() {
            segments.push(n);
        }
    }
    segments.sort_unstable();
    checkpoints.sort_unstable();
    Ok((segments, checkpoints))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Wal {
    /// Opens the log in `dir`, replaying the newest checkpoint and every later
    /// segment into `apply`, repairing corrupt tails, then starts a new segment.
    pub fn open(
        dir: &Path,
        options: WalOptions,
        metrics: Arc<TsdbMetrics>,
        mut apply: impl FnMut(Record),
    ) -> io::Result<(Wal, ReplayStats)> {
        fs::create_dir_all(dir)?;
        let (segments, checkpoints) = list(dir)?;
        let mut stats = ReplayStats::default();
        let mut segment_maxt = Vec::new();
        let checkpoint = checkpoints.last().copied();
        let mut replay_file = |path: &Path, stats: &mut ReplayStats| -> io::Result<i64> {
            let contents = segment::read(path)?;
            let mut maxt = i64::MIN;
            for (record_type, payload) in &contents.records {
                match record::decode(*record_type, payload) {
                    Ok(record) => {
                        if let Record::Samples(samples) = &record {
                            maxt = samples.iter().fold(maxt, |m, s| m.max(s.t));
                        }
                        apply(record);
                        stats.records += 1;
                    }
                    Err(e) => {
                        stats.records_undecodable += 1;
                        warn!(file = %path.display(), error = %e, "dropped a WAL record that passed its checksum but did not decode");
                    }
                }
            }
            if let Tail::Corrupt { valid_len, reason } = contents.tail {
                let dropped = contents.file_len - valid_len;
                stats.bytes_dropped += dropped;
                warn!(
                    file = %path.display(),
                    reason,
                    bytes_dropped = dropped,
                    records_kept = contents.records.len(),
                    "WAL segment has a corrupt tail; cutting it off and keeping every record before it"
                );
                let file = OpenOptions::new().write(true).open(path)?;
                file.set_len(
                    valid_len
                        .max(segment::HEADER_LEN as u64)
                        .min(contents.file_len),
                )?;
                if valid_len < segment::HEADER_LEN as u64 {
                    // Nothing of this file is readable; rewrite a valid header.
                    (&file).write_all(&segment::header())?;
                    file.set_len(segment::HEADER_LEN as u64)?;
                }
                file.sync_all()?;
            }
            stats.segments += 1;
            Ok(maxt)
        };
        if let Some(n) = checkpoint {
            replay_file(&checkpoint_path(dir, n), &mut stats)?;
        }
        for &n in segments
            .iter()
            .filter(|&&n| checkpoint.is_none_or(|c| n > c))
        {
            let maxt = replay_file(&segment_path(dir, n), &mut stats)?;
            segment_maxt.push((n, maxt));
        }
        let next = segments.last().copied().max(checkpoint).unwrap_or(0) + 1;
        let file = create_segment(dir, next)?;
        segment_maxt.push((next, i64::MIN));
        let synced = Synced {
            file: file.try_clone()?,
            position: Position {
                segment: next,
                offset: segment::HEADER_LEN as u64,
            },
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            options,
            writer: Mutex::new(Writer {
                file,
                segment: next,
                offset: segment::HEADER_LEN as u64,
                segment_maxt,
            }),
            synced: Mutex::new(synced),
            failed: Mutex::new(None),
            metrics,
        };
        wal.metrics.wal_size_bytes.set(wal.size_bytes() as i64);
        Ok((wal, stats))
    }

    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.options.fsync
    }

    /// Writes already-framed records (see [`segment::frame`]) whose newest
    /// sample is `maxt`. Returns the position after them; with
    /// [`FsyncPolicy::Always`] the caller must [`Wal::sync_to`] it before acking.
    pub fn append(&self, framed: &[u8], maxt: i64) -> io::Result<Position> {
        self.check_failed()?;
        let mut writer = self.writer.lock();
        if writer.offset > segment::HEADER_LEN as u64
            && writer.offset + framed.len() as u64 > self.options.segment_bytes
        {
            self.roll(&mut writer)
                .map_err(|e| self.fail("closing a WAL segment", e))?;
        }
        writer
            .file
            .write_all(framed)
            .map_err(|e| self.fail("writing to the WAL", e))?;
        writer.offset += framed.len() as u64;
        if let Some(last) = writer.segment_maxt.last_mut() {
            last.1 = last.1.max(maxt);
        }
        self.metrics.wal_size_bytes.inc_by(framed.len() as i64);
        Ok(Position {
            segment: writer.segment,
            offset: writer.offset,
        })
    }

    /// Refuses further writes after a failed write or fsync. After a failed
    /// write the segment may hold a torn record, and after a failed fsync the
    /// kernel may have dropped dirty pages: the memory of the head and the WAL
    /// can no longer be trusted to agree, so writes stop until a restart
    /// replays what did reach the disk.
    fn fail(&self, what: &str, error: io::Error) -> io::Error {
        let message = format!(
            "{what} failed ({error}); the WAL refuses writes until Vigil is restarted, \
             which replays everything that reached the disk"
        );
        tracing::error!(error = %error, "{what} failed; refusing writes until restart");
        *self.failed.lock() = Some(message.clone());
        io::Error::new(error.kind(), message)
    }

    fn check_failed(&self) -> io::Result<()> {
        match &*self.failed.lock() {
            Some(message) => Err(io::Error::other(message.clone())),
            None => Ok(()),
        }
    }

    /// Closes the current segment (fsynced) and starts the next one.
    fn roll(&self, writer: &mut Writer) -> io::Result<()> {
        writer.file.sync_data()?;
        let next = writer.segment + 1;
        let file = create_segment(&self.dir, next)?;
        let mut synced = self.synced.lock();
        synced.file = file.try_clone()?;
        synced.position = Position {
            segment: next,
            offset: segment::HEADER_LEN as u64,
        };
        drop(synced);
        writer.file = file;
        writer.segment = next;
        writer.offset = segment::HEADER_LEN as u64;
        writer.segment_maxt.push((next, i64::MIN));
        Ok(())
    }

    /// fsyncs the log if `position` is not yet durable. Batches that arrive
    /// while one fsync runs are covered by the next, so they share its cost.
    pub fn sync_to(&self, position: Position) -> io::Result<()> {
        let mut synced = self.synced.lock();
        if synced.position >= position {
            return Ok(());
        }
        // Read the writer's position before the fsync: all of it is covered.
        let target = {
            let writer = self.writer.lock();
            Position {
                segment: writer.segment,
                offset: writer.offset,
            }
        };
        self.check_failed()?;
        let started = Instant::now();
        synced
            .file
            .sync_data()
            .map_err(|e| self.fail("fsyncing the WAL", e))?;
        self.metrics
            .wal_fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        if target.segment == synced.position.segment {
            synced.position = target;
        }
        Ok(())
    }

    /// fsyncs whatever has been written so far.
    pub fn sync_now(&self) -> io::Result<()> {
        let target = {
            let writer = self.writer.lock();
            Position {
                segment: writer.segment,
                offset: writer.offset,
            }
        };
        self.sync_to(target)
    }

    /// Drops every segment whose samples are all older than `cut` (they are
    /// now in blocks). `live_records` is called after the current segment was
    /// closed, and must frame every series (and metadata) the head still holds;
    /// they go into a checkpoint that replaces the dropped segments.
    pub fn truncate_before(
        &self,
        cut: i64,
        live_records: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<()> {
        let droppable = {
            let mut writer = self.writer.lock();
            self.roll(&mut writer)?;
            let count = writer
                .segment_maxt
                .iter()
                .take(writer.segment_maxt.len() - 1)
                .take_while(|(_, maxt)| *maxt < cut)
                .count();
            writer.segment_maxt[..count]
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
        };
        let Some(&last_dropped) = droppable.last() else {
            return Ok(());
        };
        let mut body = segment::header().to_vec();
        live_records(&mut body);
        let final_path = checkpoint_path(&self.dir, last_dropped);
        let tmp_path = final_path.with_extension("tmp");
        {
            let mut file = File::create(&tmp_path)?;
            file.write_all(&body)?;
            file.sync_all()?;
        }
        fs::rename(&tmp_path, &final_path)?;
        sync_dir(&self.dir)?;
        // The checkpoint is durable: older checkpoints and the segments it covers can go.
        let (segments, checkpoints) = list(&self.dir)?;
        for n in checkpoints.into_iter().filter(|&n| n < last_dropped) {
            fs::remove_file(checkpoint_path(&self.dir, n))?;
        }
        for n in segments.into_iter().filter(|&n| n <= last_dropped) {
            fs::remove_file(segment_path(&self.dir, n))?;
        }
        self.writer
            .lock()
            .segment_maxt
            .retain(|(n, _)| *n > last_dropped);
        let size = self.size_bytes();
        self.metrics.wal_size_bytes.set(size as i64);
        info!(
            checkpoint = last_dropped,
            segments_dropped = droppable.len(),
            wal_bytes = size,
            "WAL truncated after head compaction"
        );
        Ok(())
    }

    /// Bytes on disk of every WAL file.
    pub fn size_bytes(&self) -> u64 {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn create_segment(dir: &Path, n: u64) -> io::Result<File> {
    let path = segment_path(dir, n);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    file.write_all(&segment::header())?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::record::{encode_samples, encode_series, RefSample, TYPE_SAMPLES, TYPE_SERIES};
    use super::*;
    use model::Labels;

    fn framed_batch(series_ref: u64, labels: Option<&Labels>, t: i64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut payload = Vec::new();
        if let Some(labels) = labels {
            encode_series(&[(series_ref, labels)], &mut payload);
            segment::frame(TYPE_SERIES, &payload, &mut out);
            payload.clear();
        }
        encode_samples(
            &[RefSample {
                series: series_ref,
                t,
                v: t as f64,
            }],
            &mut payload,
        );
        segment::frame(TYPE_SAMPLES, &payload, &mut out);
        out
    }

    fn replay(dir: &Path) -> (Vec<Record>, ReplayStats) {
        let mut records = Vec::new();
        let (_wal, stats) = Wal::open(
            dir,
            WalOptions::default(),
            TsdbMetrics::unregistered(),
            |r| records.push(r),
        )
        .unwrap();
        (records, stats)
    }

    #[test]
    fn replays_what_was_written_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::of(&[("__name__", "up")]).unwrap();
        {
            let (wal, _) = Wal::open(
                dir.path(),
                WalOptions::default(),
                TsdbMetrics::unregistered(),
                |_| {},
            )
            .unwrap();
            wal.append(&framed_batch(1, Some(&labels), 10), 10).unwrap();
            wal.append(&framed_batch(1, None, 20), 20).unwrap();
            wal.sync_now().unwrap();
        }
        // Tear the last record in half.
        let seg = segment_path(dir.path(), 1);
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let (records, stats) = replay(dir.path());
        assert_eq!(records.len(), 2, "series and first samples survive");
        assert!(stats.bytes_dropped > 0);
        // The repair is durable and idempotent: a second open drops nothing more.
        let (records, stats) = replay(dir.path());
        assert_eq!(records.len(), 2);
        assert_eq!(stats.bytes_dropped, 0);
    }

    #[test]
    fn truncation_keeps_live_series_in_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let labels = Labels::of(&[("__name__", "up")]).unwrap();
        {
            let (wal, _) = Wal::open(
                dir.path(),
                WalOptions::default(),
                TsdbMetrics::unregistered(),
                |_| {},
            )
            .unwrap();
            wal.append(&framed_batch(1, Some(&labels), 10), 10).unwrap();
            wal.truncate_before(100, |out| {
                let mut payload = Vec::new();
                encode_series(&[(1, &labels)], &mut payload);
                segment::frame(TYPE_SERIES, &payload, out);
            })
            .unwrap();
            wal.append(&framed_batch(1, None, 200), 200).unwrap();
        }
        let (segments, checkpoints) = list(dir.path()).unwrap();
        assert_eq!(checkpoints, vec![1]);
        assert!(!segments.contains(&1));
        let (records, _) = replay(dir.path());
        assert_eq!(
            records.len(),
            2,
            "checkpointed series, then the new samples: {records:?}"
        );
        assert!(matches!(&records[0], Record::Series(s) if s[0].1 == labels));
        assert!(matches!(&records[1], Record::Samples(s) if s[0].t == 200));
    }

    #[test]
    fn durations_parse_like_prometheus() {
        assert_eq!(parse_duration("15d"), Some(Duration::from_secs(15 * 86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!("always".parse::<FsyncPolicy>(), Ok(FsyncPolicy::Always));
        assert!("sometimes".parse::<FsyncPolicy>().is_err());
    }
}
