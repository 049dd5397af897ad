//! A log of framed records in numbered segment files, for stores whose WAL
//! is replayed whole and truncated by segment (the log and trace stores).
//!
//! Layout: `<dir>/00000001`, `00000002`, …, each a segment header followed
//! by records framed as in [`super::segment`] (length, CRC32C, type). On
//! open every intact record is handed to the caller, oldest first; a torn
//! or corrupt tail is cut off with a warning, and writing continues in a
//! new segment. [`RecordLog::roll`] closes the current segment so that a
//! store can delete everything up to it once it is durable elsewhere.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use tracing::warn;

use super::segment::{self, Tail};
use super::{sync_dir, FsyncPolicy};

struct Writer {
    file: File,
    segment: u64,
}

pub struct RecordLog {
    dir: PathBuf,
    fsync: FsyncPolicy,
    writer: Mutex<Writer>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    segments.sort_unstable();
    Ok(segments)
}

fn create_segment(dir: &Path, n: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, n))?;
    file.write_all(&segment::header())?;
    sync_dir(dir)?;
    Ok(file)
}

impl RecordLog {
    /// Opens the log, calling `replay(segment, record_type, payload)` for
    /// every intact record, oldest first.
    pub fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        mut replay: impl FnMut(u64, u8, &[u8]),
    ) -> io::Result<RecordLog> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        for &n in &segments {
            let path = segment_path(dir, n);
            let contents = segment::read(&path)?;
            for (record_type, payload) in &contents.records {
                replay(n, *record_type, payload);
            }
            if let Tail::Corrupt { valid_len, reason } = contents.tail {
                warn!(
                    wal = %dir.display(),
                    segment = n,
                    reason,
                    bytes_dropped = contents.file_len - valid_len,
                    "WAL segment has a torn or corrupt tail; cutting it off"
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(valid_len)?;
            }
        }
        let next = segments.last().map_or(1, |n| n + 1);
        let file = create_segment(dir, next)?;
        Ok(RecordLog {
            dir: dir.to_path_buf(),
            fsync,
            writer: Mutex::new(Writer {
                file,
                segment: next,
            }),
        })
    }

    /// Writes framed records; with [`FsyncPolicy::Always`] they are synced
    /// before this returns.
    pub fn append(&self, framed: &[u8]) -> io::Result<()> {
        let mut writer = self.writer.lock();
        writer.file.write_all(framed)?;
        if self.fsync == FsyncPolicy::Always {
            writer.file.sync_data()?;
        }
        Ok(())
    }

    /// fsyncs what was written so far (the `Interval` policy's tick).
    pub fn sync(&self) -> io::Result<()> {
        let file = self.writer.lock().file.try_clone()?;
        file.sync_data()
    }

    /// The segment being written.
    pub fn current_segment(&self) -> u64 {
        self.writer.lock().segment
    }

    /// Closes the current segment (synced) and starts the next, writing
    /// `first` (framed records, possibly empty) at its start before any
    /// other append can; returns the number of the closed segment: every
    /// record appended before is in it or in an earlier one.
    pub fn roll(&self, first: &[u8]) -> io::Result<u64> {
        let mut writer = self.writer.lock();
        writer.file.sync_data()?;
        let closed = writer.segment;
        let mut file = create_segment(&self.dir, closed + 1)?;
        if !first.is_empty() {
            file.write_all(first)?;
            file.sync_data()?;
        }
        writer.file = file;
        writer.segment = closed + 1;
        Ok(closed)
    }

    /// Deletes every segment numbered `through` or lower.
    pub fn remove_through(&self, through: u64) -> io::Result<()> {
        for n in list_segments(&self.dir)? {
            if n <= through {
                fs::remove_file(segment_path(&self.dir, n))?;
            }
        }
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_records_cuts_a_torn_tail_and_rolls() {
        let dir = tempfile::tempdir().unwrap();
        let mut framed = Vec::new();
        segment::frame(7, b"hello", &mut framed);
        {
            let log = RecordLog::open(dir.path(), FsyncPolicy::Never, |_, _, _| {}).unwrap();
            log.append(&framed).unwrap();
            log.append(&framed[..framed.len() - 2]).unwrap(); // torn
        }
        let mut seen = Vec::new();
        let log = RecordLog::open(dir.path(), FsyncPolicy::Never, |n, t, p| {
            seen.push((n, t, p.to_vec()))
        })
        .unwrap();
        assert_eq!(seen, vec![(1, 7, b"hello".to_vec())]);
        assert_eq!(log.current_segment(), 2);
        let mut carry = Vec::new();
        segment::frame(8, b"carried", &mut carry);
        assert_eq!(log.roll(&carry).unwrap(), 2);
        log.remove_through(2).unwrap();
        drop(log);
        let mut seen = Vec::new();
        RecordLog::open(dir.path(), FsyncPolicy::Never, |n, t, p| {
            seen.push((n, t, p.to_vec()))
        })
        .unwrap();
        assert_eq!(seen, vec![(3, 8, b"carried".to_vec())]);
    }
}
