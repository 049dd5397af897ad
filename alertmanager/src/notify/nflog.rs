//! The notification log (Alertmanager's `nflog`): for each (receiver
//! integration, aggregation group) the fingerprints of the alerts that were
//! firing and resolved in the last notification sent, and when it was sent;
//! plus the dedup decision of `notify.DedupStage.needsUpdate` made against
//! it.
//!
//! Plain data (serde-serializable entries) so that it can be persisted and
//! reloaded later; no clock: every function takes the instant.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Alertmanager's default `--data.retention` (120h), the longest an entry
/// is kept.
pub const DEFAULT_RETENTION_MS: i64 = 120 * 3_600_000;

/// Which integration of which receiver (Alertmanager's `nflogpb.Receiver`:
/// group name, integration name, index among that receiver's integrations
/// of the same kind).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReceiverKey {
    pub receiver: String,
    /// `webhook`, `email`, … (Alertmanager's integration name).
    pub integration: String,
    pub index: usize,
}

/// One log entry (`nflogpb.Entry` with its `MeshEntry.ExpiresAt`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub receiver: ReceiverKey,
    pub group_key: String,
    /// When the notification was logged (Unix ms).
    pub timestamp_ms: i64,
    pub firing: BTreeSet<u64>,
    pub resolved: BTreeSet<u64>,
    pub expires_at_ms: i64,
}

impl Entry {
    /// `Entry.IsFiringSubset`: every alert of `subset` was firing in the
    /// last notification.
    pub fn is_firing_subset(&self, subset: &BTreeSet<u64>) -> bool {
        subset.is_subset(&self.firing)
    }

    /// `Entry.IsResolvedSubset`: every alert of `subset` was already
    /// notified as resolved.
    pub fn is_resolved_subset(&self, subset: &BTreeSet<u64>) -> bool {
        subset.is_subset(&self.resolved)
    }
}

/// The log, keyed by (group key, receiver integration).
#[derive(Clone, Debug)]
pub struct NotificationLog {
    retention_ms: i64,
    entries: BTreeMap<(String, ReceiverKey), Entry>,
}

impl Default for NotificationLog {
    fn default() -> Self {
        NotificationLog::new(DEFAULT_RETENTION_MS)
    }
}

impl NotificationLog {
    pub fn new(retention_ms: i64) -> NotificationLog {
        NotificationLog {
            retention_ms,
            entries: BTreeMap::new(),
        }
    }

    /// Rebuilds a log from saved entries (`nflog_file`).
    pub fn from_entries(retention_ms: i64, entries: impl IntoIterator<Item = Entry>) -> Self {
        NotificationLog {
            retention_ms,
            entries: entries
                .into_iter()
                .map(|e| ((e.group_key.clone(), e.receiver.clone()), e))
                .collect(),
        }
    }

    /// Every entry, for saving.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for this integration and group, unless it has expired at
    /// `now_ms` (Alertmanager drops expired entries at its next GC; here
    /// they are ignored at once, which is the same as a GC just before).
    pub fn query(&self, receiver: &ReceiverKey, group_key: &str, now_ms: i64) -> Option<&Entry> {
        self.entries
            .get(&(group_key.to_string(), receiver.clone()))
            .filter(|e| e.expires_at_ms > now_ms)
    }

    /// `Log.Log`: records a notification sent at `now_ms`. The entry
    /// expires after the retention, or after `expiry_ms` when that is
    /// shorter and positive (the pipeline passes twice the repeat
    /// interval, as `SetNotifiesStage` does). An existing entry with a
    /// later timestamp is kept.
    pub fn log(
        &mut self,
        receiver: &ReceiverKey,
        group_key: &str,
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
        expiry_ms: i64,
        now_ms: i64,
    ) -> Option<&Entry> {
        let key = (group_key.to_string(), receiver.clone());
        if self
            .entries
            .get(&key)
            .is_some_and(|prev| prev.timestamp_ms > now_ms)
        {
            return None;
        }
        let keep = if expiry_ms > 0 && self.retention_ms > expiry_ms {
            expiry_ms
        } else {
            self.retention_ms
        };
        self.entries.insert(
            key.clone(),
            Entry {
                receiver: receiver.clone(),
                group_key: group_key.to_string(),
                timestamp_ms: now_ms,
                firing,
                resolved,
                expires_at_ms: now_ms.saturating_add(keep),
            },
        );
        self.entries.get(&key)
    }

    /// Drops the entries expired at `now_ms`; returns how many.
    pub fn gc(&mut self, now_ms: i64) -> usize {
        let n = self.entries.len();
        self.entries.retain(|_, e| e.expires_at_ms > now_ms);
        n - self.entries.len()
    }
}

/// `DedupStage.needsUpdate`: whether a group whose (unmuted) alerts are
/// `firing` and `resolved` must be notified to an integration whose last
/// notification is `entry`.
///
/// - never notified: only if something fires;
/// - a firing alert that was not firing in the last notification: yes;
/// - nothing fires any more: yes if the last notification had firing
///   alerts (whatever `send_resolved`: the log must be cleared), else no;
/// - `send_resolved` and an alert resolved since: yes;
/// - otherwise only once `repeat_ms` has passed since the last one
///   (strictly: `timestamp < now - repeat`).
pub fn needs_update(
    entry: Option<&Entry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_ms: i64,
    now_ms: i64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !entry.is_firing_subset(firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !entry.is_resolved_subset(resolved) {
        return true;
    }
    entry.timestamp_ms < now_ms - repeat_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    fn rk() -> ReceiverKey {
        ReceiverKey {
            receiver: "team".into(),
            integration: "webhook".into(),
            index: 0,
        }
    }

    #[test]
    fn dedup_decisions_as_alertmanager() {
        // Never notified: only firing alerts open a notification.
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, 4 * H, 0));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, 4 * H, 0));

        let mut log = NotificationLog::default();
        log.log(&rk(), "g", set(&[1, 2]), set(&[]), 8 * H, 0);
        let e = log.query(&rk(), "g", 1).cloned();
        let e = e.as_ref();
        // Same or fewer firing alerts: nothing new before the repeat.
        assert!(!needs_update(e, &set(&[1, 2]), &set(&[]), true, 4 * H, H));
        assert!(!needs_update(e, &set(&[1]), &set(&[]), false, 4 * H, H));
        // A new firing alert.
        assert!(needs_update(e, &set(&[1, 3]), &set(&[]), false, 4 * H, H));
        // A newly resolved alert: only with send_resolved.
        assert!(needs_update(e, &set(&[1]), &set(&[2]), true, 4 * H, H));
        assert!(!needs_update(e, &set(&[1]), &set(&[2]), false, 4 * H, H));
        // All resolved: always (the log must be cleared).
        assert!(needs_update(e, &set(&[]), &set(&[1, 2]), false, 4 * H, H));
        // Repeat: strictly after the interval.
        assert!(!needs_update(
            e,
            &set(&[1, 2]),
            &set(&[]),
            true,
            4 * H,
            4 * H
        ));
        assert!(needs_update(
            e,
            &set(&[1, 2]),
            &set(&[]),
            true,
            4 * H,
            4 * H + 1
        ));

        // After an all-resolved notification nothing is firing in the log:
        // alerts that fired and resolved between two flushes are not sent.
        log.log(&rk(), "g", set(&[]), set(&[1, 2]), 8 * H, 2 * H);
        let e = log.query(&rk(), "g", 2 * H).cloned();
        assert!(!needs_update(
            e.as_ref(),
            &set(&[]),
            &set(&[5]),
            true,
            4 * H,
            3 * H
        ));
        assert!(needs_update(
            e.as_ref(),
            &set(&[5]),
            &set(&[]),
            true,
            4 * H,
            3 * H
        ));
    }

    #[test]
    fn expiry_retention_and_older_writes() {
        let mut log = NotificationLog::new(120 * H);
        // Expiry of twice a 4h repeat interval is shorter than the retention.
        log.log(&rk(), "g", set(&[1]), set(&[]), 8 * H, 0);
        assert_eq!(log.query(&rk(), "g", 0).unwrap().expires_at_ms, 8 * H);
        assert!(log.query(&rk(), "g", 8 * H - 1).is_some());
        assert!(log.query(&rk(), "g", 8 * H).is_none());
        // A longer expiry is capped by the retention.
        log.log(&rk(), "h", set(&[1]), set(&[]), 300 * H, 0);
        assert_eq!(log.query(&rk(), "h", 0).unwrap().expires_at_ms, 120 * H);
        // A write older than the entry is ignored.
        log.log(&rk(), "h", set(&[9]), set(&[]), 8 * H, -5);
        assert_eq!(log.query(&rk(), "h", 0).unwrap().firing, set(&[1]));
        assert_eq!(log.gc(8 * H), 1);
        assert_eq!(log.len(), 1);
        // Entries round-trip through JSON.
        let saved: Vec<Entry> = log.entries().cloned().collect();
        let json = serde_json::to_string(&saved).unwrap();
        let back: Vec<Entry> = serde_json::from_str(&json).unwrap();
        let reloaded = NotificationLog::from_entries(120 * H, back);
        assert_eq!(reloaded.query(&rk(), "h", 0), log.query(&rk(), "h", 0));
    }
}
