//! The notification log on disk: an append-only file of JSON lines, one
//! [`Entry`] per delivery, fsynced before the delivery counts as logged, so
//! a restart does not send again what was sent. Writing the whole log on
//! every delivery (as a snapshot would) costs O(groups) per delivery and
//! O(groups²) per round of notifications; appending costs one line.
//!
//! On open the lines are replayed, each key keeping its newest entry; a
//! torn last line (a crash mid-append) is cut off. When the file holds many
//! more lines than the log has live entries, [`NflogFile::compact`]
//! rewrites it with the live ones (temporary file, fsync, rename).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::nflog::Entry;

pub struct NflogFile {
    path: PathBuf,
    file: File,
    /// Lines in the file.
    lines: usize,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl NflogFile {
    /// Opens (or creates) the file and returns the entries it holds, the
    /// newest per (group, receiver integration).
    pub fn open(path: &Path) -> Result<(NflogFile, Vec<Entry>), String> {
        let corrupt = |line: usize, e: &dyn std::fmt::Display| {
            format!(
                "{} is corrupt at line {line}: {e}; move it away to start with an empty notification log",
                path.display()
            )
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        // Only whole lines count: a last line without its newline was cut
        // short by a crash before its fsync returned.
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            file.set_len(whole as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
        }
        let mut newest: BTreeMap<(String, super::nflog::ReceiverKey), Entry> = BTreeMap::new();
        let mut lines = 0;
        for (i, line) in bytes[..whole].split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            lines += 1;
            let entry: Entry = serde_json::from_slice(line).map_err(|e| corrupt(i + 1, &e))?;
            let key = (entry.group_key.clone(), entry.receiver.clone());
            match newest.get(&key) {
                Some(kept) if kept.timestamp_ms > entry.timestamp_ms => {}
                _ => {
                    newest.insert(key, entry);
                }
            }
        }
        let file = open_append(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok((
            NflogFile {
                path: path.to_path_buf(),
                file,
                lines,
            },
            newest.into_values().collect(),
        ))
    }

    /// Appends `entry` and waits until it is on disk.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.lines += 1;
        Ok(())
    }

    /// Whether the file holds so many superseded or expired lines that
    /// rewriting it with the `live` entries is worth it.
    pub fn needs_compaction(&self, live: usize) -> bool {
        self.lines > 2 * live + 64
    }

    /// Rewrites the file with exactly `entries`.
    pub fn compact<'a>(&mut self, entries: impl Iterator<Item = &'a Entry>) -> io::Result<()> {
        let mut bytes = Vec::new();
        let mut lines = 0;
        for entry in entries {
            serde_json::to_writer(&mut bytes, entry).map_err(io::Error::other)?;
            bytes.push(b'\n');
            lines += 1;
        }
        crate::persist::write_atomically(&self.path, &bytes)?;
        self.file = open_append(&self.path)?;
        self.lines = lines;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::notify::nflog::ReceiverKey;

    fn entry(group: &str, t: i64, firing: &[u64]) -> Entry {
        Entry {
            receiver: ReceiverKey {
                receiver: "hook".into(),
                integration: "webhook".into(),
                index: 0,
            },
            group_key: group.into(),
            timestamp_ms: t,
            firing: firing.iter().copied().collect(),
            resolved: BTreeSet::new(),
            expires_at_ms: t + 1000,
        }
    }

    #[test]
    fn replay_keeps_the_newest_entry_per_group_and_compaction_keeps_the_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nflog.jsonl");
        let (mut file, entries) = NflogFile::open(&path).unwrap();
        assert!(entries.is_empty());
        file.append(&entry("a", 10, &[1])).unwrap();
        file.append(&entry("b", 10, &[2])).unwrap();
        file.append(&entry("a", 20, &[1, 3])).unwrap();
        // Appended out of order by two deliveries: the newer one wins.
        file.append(&entry("b", 5, &[9])).unwrap();
        drop(file);
        let (mut file, entries) = NflogFile::open(&path).unwrap();
        assert_eq!(entries, vec![entry("a", 20, &[1, 3]), entry("b", 10, &[2])]);
        assert!(!file.needs_compaction(entries.len()));
        file.compact(entries.iter().take(1)).unwrap();
        file.append(&entry("c", 30, &[4])).unwrap();
        drop(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let (_, entries) = NflogFile::open(&path).unwrap();
        assert_eq!(entries, vec![entry("a", 20, &[1, 3]), entry("c", 30, &[4])]);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_a_corrupt_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nflog.jsonl");
        let (mut file, _) = NflogFile::open(&path).unwrap();
        file.append(&entry("a", 10, &[1])).unwrap();
        drop(file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"receiver":{"rece"#);
        std::fs::write(&path, &bytes).unwrap();
        let (mut file, entries) = NflogFile::open(&path).unwrap();
        assert_eq!(entries, vec![entry("a", 10, &[1])]);
        file.append(&entry("b", 11, &[2])).unwrap();
        drop(file);
        let (_, entries) = NflogFile::open(&path).unwrap();
        assert_eq!(entries.len(), 2, "the append after the cut is readable");

        std::fs::write(&path, "{\"not\": \"an entry\"}\n").unwrap();
        let err = NflogFile::open(&path).err().unwrap();
        assert!(err.contains("corrupt at line 1"), "{err}");
        assert!(err.contains("move it away"), "{err}");
    }
}
