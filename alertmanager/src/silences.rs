//! The silence store, as Alertmanager's `silence` package and API v2 treat
//! silences: create, update (in place when only the end, comment or author
//! change on a silence not yet expired; otherwise the old one is expired
//! and a new one made), expire, list with their state, and keep expired
//! silences for a retention period. Every change is written to a snapshot
//! (temporary file, fsync, rename) before it is acknowledged, so a restart
//! forgets nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use crate::dispatch::matcher::{ApiMatcher, LabelSet, MatchType};
use crate::dispatch::silence::{Silence, SilenceError, SilenceState};

/// Alertmanager's `--data.retention` default: expired silences are kept
/// (and listed) this long.
pub const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::hours(120);

#[derive(Debug, thiserror::Error)]
pub enum SilencesError {
    #[error("silence {0} not found")]
    NotFound(String),
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
    #[error("{0}")]
    Invalid(#[from] SilenceError),
    #[error("cannot persist silences: {0}")]
    Io(#[from] std::io::Error),
}

/// `PostableSilence`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableSilence {
    #[serde(default)]
    pub id: String,
    pub matchers: Vec<ApiMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// The snapshot's form of a silence.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    id: String,
    matchers: Vec<StoredMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: String,
    comment: String,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMatcher {
    name: String,
    value: String,
    is_regex: bool,
    is_equal: bool,
}

fn api_matchers(silence: &Silence) -> Vec<StoredMatcher> {
    silence
        .matchers
        .iter()
        .map(|m| StoredMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.kind, MatchType::Regexp | MatchType::NotRegexp),
            is_equal: matches!(m.kind, MatchType::Equal | MatchType::Regexp),
        })
        .collect()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new silence id in UUID form (random enough to be unique: the time,
/// the process and a counter, hashed).
fn new_id() -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{nanos}/{}/{n}", std::process::id());
    let a = xxhash_rust::xxh3::xxh3_64_with_seed(seed.as_bytes(), 1);
    let b = xxhash_rust::xxh3::xxh3_64_with_seed(seed.as_bytes(), 2);
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub struct Silences {
    by_id: BTreeMap<String, Silence>,
    snapshot: Option<PathBuf>,
    retention: chrono::Duration,
}

impl Silences {
    /// In memory only (tests).
    pub fn in_memory() -> Silences {
        Silences {
            by_id: BTreeMap::new(),
            snapshot: None,
            retention: DEFAULT_RETENTION,
        }
    }

    /// Opens the store kept in `path` (created on the first change).
    pub fn open(path: &Path, retention: chrono::Duration) -> Result<Silences, SilencesError> {
        let mut by_id = BTreeMap::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                let stored: Vec<Stored> = serde_json::from_slice(&bytes).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "{} is corrupt: {e}; move it away to start without silences",
                            path.display()
                        ),
                    )
                })?;
                for s in stored {
                    let matchers: Vec<ApiMatcher> = s
                        .matchers
                        .into_iter()
                        .map(|m| ApiMatcher {
                            name: m.name,
                            value: m.value,
                            is_regex: m.is_regex,
                            is_equal: Some(m.is_equal),
                        })
                        .collect();
                    let silence = Silence::from_api(
                        s.id.clone(),
                        &matchers,
                        s.starts_at,
                        s.ends_at,
                        s.created_by,
                        s.comment,
                        s.updated_at,
                    )?;
                    by_id.insert(s.id, silence);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Silences {
            by_id,
            snapshot: Some(path.to_path_buf()),
            retention,
        })
    }

    fn persist(&self) -> Result<(), SilencesError> {
        let Some(path) = &self.snapshot else {
            return Ok(());
        };
        let stored: Vec<Stored> = self
            .by_id
            .values()
            .map(|s| Stored {
                id: s.id.clone(),
                matchers: api_matchers(s),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                created_by: s.created_by.clone(),
                comment: s.comment.clone(),
                updated_at: s.updated_at,
            })
            .collect();
        let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
        Ok(crate::persist::write_atomically(path, &bytes)?)
    }

    /// `POST /api/v2/silences`: creates, or updates the silence `id` names;
    /// returns the id the silence has now.
    pub fn set(
        &mut self,
        posted: PostableSilence,
        now: DateTime<Utc>,
    ) -> Result<String, SilencesError> {
        let candidate = Silence::from_api(
            posted.id.clone(),
            &posted.matchers,
            posted.starts_at,
            posted.ends_at,
            posted.created_by,
            posted.comment,
            now,
        )?;
        if candidate.ends_at <= now {
            return Err(SilenceError::Invalid("end time can't be in the past".into()).into());
        }
        if !posted.id.is_empty() {
            let Some(old) = self.by_id.get(&posted.id) else {
                return Err(SilencesError::NotFound(posted.id));
            };
            if can_update(old, &candidate, now) {
                let mut updated = candidate;
                // A running silence keeps its start.
                if old.state(now) == SilenceState::Active {
                    updated.starts_at = old.starts_at;
                }
                self.by_id.insert(posted.id.clone(), updated);
                self.persist()?;
                return Ok(posted.id);
            }
            // Otherwise the old one ends now and a new one takes over.
            if old.state(now) != SilenceState::Expired {
                self.expire_at(&posted.id, now);
            }
        }
        let mut fresh = candidate;
        fresh.id = new_id();
        if fresh.starts_at < now {
            fresh.starts_at = now;
        }
        let id = fresh.id.clone();
        self.by_id.insert(id.clone(), fresh);
        self.persist()?;
        Ok(id)
    }

    fn expire_at(&mut self, id: &str, now: DateTime<Utc>) {
        if let Some(s) = self.by_id.get_mut(id) {
            if s.state(now) == SilenceState::Pending {
                s.starts_at = now;
            }
            s.ends_at = now;
            s.updated_at = now;
        }
    }

    /// `DELETE /api/v2/silence/<id>`.
    pub fn expire(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), SilencesError> {
        match self.by_id.get(id) {
            None => Err(SilencesError::NotFound(id.to_string())),
            Some(s) if s.state(now) == SilenceState::Expired => {
                Err(SilencesError::AlreadyExpired(id.to_string()))
            }
            Some(_) => {
                self.expire_at(id, now);
                self.persist()
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    /// Every silence (expired ones within the retention).
    pub fn all(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values()
    }

    /// The silences muting `labels` now.
    pub fn muting(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<&str> {
        self.by_id
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.as_str())
            .collect()
    }

    /// Drops silences expired longer than the retention ago.
    pub fn gc(&mut self, now: DateTime<Utc>) -> Result<usize, SilencesError> {
        let before = self.by_id.len();
        let cutoff = now - self.retention;
        self.by_id.retain(|_, s| s.ends_at >= cutoff);
        let removed = before - self.by_id.len();
        if removed > 0 {
            self.persist()?;
        }
        Ok(removed)
    }
}

/// Alertmanager's `canUpdate`: a pending silence may change anything but
/// must not start in the past; an active one may only change its end (not
/// into the past), comment and author; an expired one cannot change.
fn can_update(old: &Silence, new: &Silence, now: DateTime<Utc>) -> bool {
    let same_matchers = old.matchers.len() == new.matchers.len()
        && old
            .matchers
            .iter()
            .zip(&new.matchers)
            .all(|(a, b)| a.name == b.name && a.kind == b.kind && a.value == b.value);
    match old.state(now) {
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Active => {
            same_matchers && new.starts_at == old.starts_at && new.ends_at >= now
        }
        SilenceState::Expired => false,
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `GettableSilence`.
pub fn silence_json(s: &Silence, now: DateTime<Utc>) -> Json {
    json!({
        "id": s.id,
        "status": { "state": s.state(now).as_str() },
        "updatedAt": rfc3339(s.updated_at),
        "matchers": api_matchers(s),
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn post(id: &str, value: &str, starts: &str, ends: &str) -> PostableSilence {
        serde_json::from_value(json!({
            "id": id,
            "matchers": [{"name": "alertname", "value": value, "isRegex": true, "isEqual": true}],
            "startsAt": starts,
            "endsAt": ends,
            "createdBy": "ops",
            "comment": "maintenance",
        }))
        .unwrap()
    }

    #[test]
    fn create_update_expire_persist_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silences.json");
        let now = at("2026-01-01T10:00:00Z");
        let mut store = Silences::open(&path, DEFAULT_RETENTION).unwrap();
        let id = store
            .set(
                post("", "Disk.*", "2026-01-01T09:00:00Z", "2026-01-01T12:00:00Z"),
                now,
            )
            .unwrap();
        assert_eq!(id.len(), 36);
        let labels: LabelSet = [("alertname".to_string(), "DiskFull".to_string())].into();
        assert_eq!(store.muting(&labels, now), vec![id.as_str()]);
        assert_eq!(
            store.get(&id).unwrap().starts_at,
            now,
            "a start in the past becomes now"
        );

        // Extending an active silence keeps its id.
        let same = store
            .set(
                post(&id, "Disk.*", &rfc3339(now), "2026-01-01T14:00:00Z"),
                now,
            )
            .unwrap();
        assert_eq!(same, id);
        assert_eq!(store.get(&id).unwrap().ends_at, at("2026-01-01T14:00:00Z"));
        // Changing its matchers expires it and makes a new one.
        let other = store
            .set(
                post(&id, "Cpu.*", &rfc3339(now), "2026-01-01T14:00:00Z"),
                now,
            )
            .unwrap();
        assert_ne!(other, id);
        assert_eq!(store.get(&id).unwrap().state(now), SilenceState::Expired);

        // Survives a restart.
        drop(store);
        let mut store = Silences::open(&path, DEFAULT_RETENTION).unwrap();
        assert_eq!(store.all().count(), 2);
        assert_eq!(store.get(&other).unwrap().state(now), SilenceState::Active);
        let json = silence_json(store.get(&other).unwrap(), now);
        assert_eq!(json["status"]["state"], "active");
        assert_eq!(json["matchers"][0]["isRegex"], true);
        assert_eq!(json["createdBy"], "ops");

        store.expire(&other, now).unwrap();
        assert!(matches!(
            store.expire(&other, now),
            Err(SilencesError::AlreadyExpired(_))
        ));
        assert!(matches!(
            store.expire("nope", now),
            Err(SilencesError::NotFound(_))
        ));
        assert!(matches!(
            store.set(
                post("nope", "x", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"),
                now
            ),
            Err(SilencesError::NotFound(_))
        ));
        assert!(
            store
                .set(
                    post("", "x", "2026-01-01T08:00:00Z", "2026-01-01T09:00:00Z"),
                    now
                )
                .is_err(),
            "an end in the past is refused"
        );
        assert_eq!(store.gc(now + DEFAULT_RETENTION).unwrap(), 0);
        assert_eq!(
            store
                .gc(now + DEFAULT_RETENTION + chrono::Duration::seconds(1))
                .unwrap(),
            2
        );
    }
}
