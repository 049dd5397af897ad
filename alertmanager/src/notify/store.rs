//! The alerts Alertmanager currently knows, by fingerprint, with
//! Alertmanager's merge rule (`types.Alert.Merge`) for an alert received
//! again, and the parsing and validation of `POST /api/v2/alerts` bodies
//! (`api/v2` `postAlertsHandler`): missing `startsAt` is now, missing
//! `endsAt` is now + `resolve_timeout` (and may be moved by a later
//! explicit end), invalid alerts are refused one by one.

use std::collections::HashMap;

use serde::Deserialize;

use super::alert::{Alert, LabelSet};

/// An alert as stored: the alert and whether its end was defaulted.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub alert: Alert,
    /// `endsAt` was not given: it is `resolve_timeout` after receipt.
    pub timeout: bool,
}

/// Alertmanager's merge of a known alert `a` with a newly received `o`.
fn merge(a: &Stored, o: &Stored) -> Stored {
    // `o` is the younger one.
    if o.alert.updated_at < a.alert.updated_at {
        return merge(o, a);
    }
    let mut res = o.clone();
    if a.alert.starts_at < o.alert.starts_at {
        res.alert.starts_at = a.alert.starts_at;
    }
    let now = o.alert.updated_at;
    if o.alert.resolved_at(now) {
        if a.alert.resolved_at(now) && a.alert.ends_at > o.alert.ends_at {
            res.alert.ends_at = a.alert.ends_at;
        }
    } else if a.alert.ends_at > o.alert.ends_at && !a.timeout {
        res.alert.ends_at = a.alert.ends_at;
    }
    res
}

/// `mem.Alerts.Put`'s merge condition: the new alert ends, or starts,
/// strictly inside the old one's activity range.
pub fn overlaps(old: &Alert, new: &Alert) -> bool {
    (new.ends_at > old.starts_at && new.ends_at < old.ends_at)
        || (new.starts_at > old.starts_at && new.starts_at < old.ends_at)
}

#[derive(Default)]
pub struct AlertStore {
    alerts: HashMap<u64, Stored>,
}

impl AlertStore {
    /// Adds alerts; one already known is merged with it when their
    /// activity ranges overlap (Alertmanager's `mem.Alerts.Put`), and
    /// replaced otherwise (an alert firing again after it resolved starts
    /// anew).
    pub fn put(&mut self, alerts: Vec<Stored>) {
        for new in alerts {
            let fp = new.alert.fingerprint();
            let merged = match self.alerts.get(&fp) {
                Some(old) if overlaps(&old.alert, &new.alert) => merge(old, &new),
                _ => new,
            };
            self.alerts.insert(fp, merged);
        }
    }

    pub fn get(&self, fingerprint: u64) -> Option<&Stored> {
        self.alerts.get(&fingerprint)
    }

    pub fn all(&self) -> impl Iterator<Item = &Stored> {
        self.alerts.values()
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Drops alerts resolved before `before_ms` (Alertmanager's GC).
    pub fn gc(&mut self, before_ms: i64) -> usize {
        let n = self.alerts.len();
        self.alerts.retain(|_, s| s.alert.ends_at >= before_ms);
        n - self.alerts.len()
    }
}

/// One element of a `POST /api/v2/alerts` body (`PostableAlert`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert {
    #[serde(default)]
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
}

fn parse_time(text: &Option<String>) -> Result<Option<i64>, String> {
    match text.as_deref().map(str::trim) {
        None | Some("") | Some("0001-01-01T00:00:00Z") => Ok(None),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| Some(d.timestamp_millis()))
            .map_err(|e| format!("invalid time {t:?}: {e}")),
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a body, returning the valid alerts and one message per refused
/// alert (the API answers 400 with them, after storing the valid ones).
pub fn parse_postable(
    body: &[u8],
    now_ms: i64,
    resolve_timeout_ms: i64,
) -> Result<(Vec<Stored>, Vec<String>), String> {
    let posted: Vec<PostableAlert> =
        serde_json::from_slice(body).map_err(|e| format!("invalid alerts body: {e}"))?;
    let mut valid = Vec::with_capacity(posted.len());
    let mut errors = Vec::new();
    for (i, p) in posted.into_iter().enumerate() {
        let checked = (|| {
            if p.labels.is_empty() {
                return Err("at least one label pair required".to_string());
            }
            if let Some(bad) = p.labels.keys().find(|k| !valid_label_name(k)) {
                return Err(format!("invalid label name {bad:?}"));
            }
            if let Some((k, _)) = p.labels.iter().find(|(_, v)| v.is_empty()) {
                return Err(format!("empty value for label {k:?}"));
            }
            let starts = parse_time(&p.starts_at)?;
            let ends = parse_time(&p.ends_at)?;
            // As Alertmanager: no start is the end if one was given, else now.
            let starts_at = starts.unwrap_or(ends.unwrap_or(now_ms));
            let (ends_at, timeout) = match ends {
                Some(e) => (e, false),
                None => (now_ms + resolve_timeout_ms, true),
            };
            if ends_at < starts_at {
                return Err("start time must be before end time".to_string());
            }
            Ok(Stored {
                alert: Alert {
                    labels: p.labels,
                    annotations: p.annotations,
                    starts_at,
                    ends_at,
                    generator_url: p.generator_url,
                    updated_at: now_ms,
                },
                timeout,
            })
        })();
        match checked {
            Ok(s) => valid.push(s),
            Err(e) => errors.push(format!("alert {i}: {e}")),
        }
    }
    Ok((valid, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn defaults_validation_and_merge() {
        let body = br#"[
            {"labels": {"alertname": "Down", "instance": "a"}, "startsAt": "2023-11-14T22:10:00Z"},
            {"labels": {}},
            {"labels": {"bad-name": "x"}},
            {"labels": {"alertname": "Late"}, "startsAt": "2023-11-14T22:20:00Z", "endsAt": "2023-11-14T22:00:00Z"}
        ]"#;
        let (valid, errors) = parse_postable(body, NOW, 5 * MIN).unwrap();
        assert_eq!(valid.len(), 1);
        assert_eq!(
            errors,
            vec![
                "alert 1: at least one label pair required",
                "alert 2: invalid label name \"bad-name\"",
                "alert 3: start time must be before end time",
            ]
        );
        let first = &valid[0];
        assert_eq!(first.alert.starts_at, NOW - 200_000);
        assert_eq!(first.alert.ends_at, NOW + 5 * MIN);
        assert!(first.timeout);
        assert!(parse_postable(b"{", NOW, 0).is_err());

        let mut store = AlertStore::default();
        store.put(valid);
        // Received again a minute later: the earliest start stays, the
        // defaulted end moves on.
        let (again, _) = parse_postable(
            br#"[{"labels": {"alertname": "Down", "instance": "a"}, "startsAt": "2023-11-14T22:12:00Z"}]"#,
            NOW + MIN,
            5 * MIN,
        )
        .unwrap();
        store.put(again);
        assert_eq!(store.len(), 1);
        let s = store.all().next().unwrap();
        assert_eq!(s.alert.starts_at, NOW - 200_000);
        assert_eq!(s.alert.ends_at, NOW + 6 * MIN);
        // Resolved explicitly: the explicit end wins over the timeout.
        let (resolved, _) = parse_postable(
            br#"[{"labels": {"alertname": "Down", "instance": "a"}, "endsAt": "2023-11-14T22:14:00Z"}]"#,
            NOW + 2 * MIN,
            5 * MIN,
        )
        .unwrap();
        store.put(resolved);
        let s = store.all().next().unwrap();
        assert_eq!(s.alert.ends_at, NOW + 40_000);
        assert!(s.alert.resolved_at(NOW + 2 * MIN));
        assert_eq!(store.gc(NOW + 41_000), 1);
        assert!(store.is_empty());
    }
}
