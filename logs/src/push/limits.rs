//! The per-tenant limits Loki users know, with Loki's defaults and error
//! texts. A push is checked entry by entry: valid entries are stored, and
//! the response lists what was refused (400, or 429 for stream and rate
//! limits), so a batch is never dropped silently for one bad line.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::entry::{stream_id, StreamEntries, StreamId};
use crate::stream_labels;

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_label_names_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    pub max_line_size: usize,
    /// Streams that received a line in the last `stream_idle` (0: no limit).
    pub max_streams: usize,
    pub stream_idle: Duration,
    /// Sustained ingestion rate in bytes per second (0: no limit), and the burst.
    pub ingestion_rate_bytes: u64,
    pub ingestion_burst_bytes: u64,
    /// Lines older than this are refused (Loki's `reject_old_samples_max_age`).
    pub reject_older_than: Duration,
    /// Lines newer than now plus this are refused (`creation_grace_period`).
    pub creation_grace: Duration,
    /// Largest accepted request body, compressed or not.
    pub max_body_bytes: usize,
    /// Add `detected_level` structured metadata to each line (Loki's
    /// `discover_log_levels`).
    pub discover_log_levels: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_line_size: 256 << 10,
            max_streams: 5000,
            stream_idle: Duration::from_secs(30 * 60),
            // Loki's 4 MB/s would throttle a single busy node; Vigil is one
            // process for one cluster, so the default is generous.
            ingestion_rate_bytes: 128 << 20,
            ingestion_burst_bytes: 256 << 20,
            reject_older_than: Duration::from_secs(7 * 24 * 3600),
            creation_grace: Duration::from_secs(10 * 60),
            max_body_bytes: 64 << 20,
            discover_log_levels: true,
        }
    }
}

/// What checking a push decided.
#[derive(Debug, Default)]
pub struct Checked {
    pub accepted: Vec<StreamEntries>,
    /// One message per refused entry or stream, in Loki's words.
    pub refused: Vec<String>,
    /// Whether a refusal was for a stream or rate limit (429) rather than bad input (400).
    pub too_many: bool,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Validator {
    limits: Limits,
    bucket: Mutex<Bucket>,
    active: Mutex<FxHashMap<StreamId, Instant>>,
}

/// Loki prints times in refusals like this.
fn format_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ns.to_string())
}

impl Validator {
    pub fn new(limits: Limits) -> Validator {
        let burst = limits.ingestion_burst_bytes as f64;
        Validator {
            limits,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                at: Instant::now(),
            }),
            active: Mutex::new(FxHashMap::default()),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks a decoded push for `tenant` at `now_ns`.
    pub fn check(&self, tenant: &str, streams: Vec<StreamEntries>, now_ns: i64) -> Checked {
        let limits = &self.limits;
        let mut checked = Checked::default();
        let total_bytes: u64 = streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.line.len() as u64)
            .sum();
        let total_lines: usize = streams.iter().map(|s| s.entries.len()).sum();
        if !self.take_tokens(total_bytes) {
            checked.too_many = true;
            checked.refused.push(format!(
                "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{total_lines}' lines totaling '{total_bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                limits.ingestion_rate_bytes
            ));
            return checked;
        }
        let oldest = now_ns.saturating_sub(limits.reject_older_than.as_nanos() as i64);
        let newest = now_ns.saturating_add(limits.creation_grace.as_nanos() as i64);
        let now = Instant::now();
        for mut stream in streams {
            // Printed only into refusals: not on the path of a clean push.
            let text = || stream_labels::to_string(&stream.labels);
            if stream.labels.len() > limits.max_label_names_per_series {
                checked.refused.push(format!(
                    "entry for stream '{text}' has {} label names; limit {}",
                    stream.labels.len(),
                    limits.max_label_names_per_series,
                    text = text()
                ));
                continue;
            }
            if let Some(label) = stream
                .labels
                .iter()
                .find(|l| l.name.len() > limits.max_label_name_length)
            {
                checked.refused.push(format!(
                    "stream '{text}' has label name too long: '{}'",
                    label.name,
                    text = text()
                ));
                continue;
            }
            if let Some(label) = stream
                .labels
                .iter()
                .find(|l| l.value.len() > limits.max_label_value_length)
            {
                checked.refused.push(format!(
                    "stream '{text}' has label value too long: '{}'",
                    label.value,
                    text = text()
                ));
                continue;
            }
            if !self.admit_stream(stream_id(&stream.labels), now) {
                checked.too_many = true;
                checked.refused.push(format!(
                    "Maximum active stream limit exceeded when trying to create stream {text}, reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'", text = text()));
                continue;
            }
            stream.entries.retain(|entry| {
                let refusal = if entry.line.len() > limits.max_line_size {
                    Some(format!(
                        "Max entry size '{}' bytes exceeded for stream '{text}' while adding an entry with length '{}' bytes",
                        limits.max_line_size,
                        entry.line.len(), text = text()))
                } else if entry.timestamp_ns < oldest {
                    Some(format!(
                        "entry for stream '{text}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                        format_time(entry.timestamp_ns),
                        format_time(oldest), text = text()))
                } else if entry.timestamp_ns > newest {
                    Some(format!(
                        "entry for stream '{text}' has timestamp too new: {}",
                        format_time(entry.timestamp_ns), text = text()))
                } else {
                    None
                };
                match refusal {
                    Some(message) => {
                        checked.refused.push(message);
                        false
                    }
                    None => true,
                }
            });
            if !stream.entries.is_empty() {
                checked.accepted.push(stream);
            }
        }
        checked
    }

    fn take_tokens(&self, bytes: u64) -> bool {
        if self.limits.ingestion_rate_bytes == 0 {
            return true;
        }
        let mut bucket = self.bucket.lock();
        let now = Instant::now();
        let refill =
            now.duration_since(bucket.at).as_secs_f64() * self.limits.ingestion_rate_bytes as f64;
        bucket.tokens = (bucket.tokens + refill).min(self.limits.ingestion_burst_bytes as f64);
        bucket.at = now;
        if bytes as f64 > bucket.tokens {
            return false;
        }
        bucket.tokens -= bytes as f64;
        true
    }

    fn admit_stream(&self, id: StreamId, now: Instant) -> bool {
        let mut active = self.active.lock();
        if let Some(seen) = active.get_mut(&id) {
            *seen = now;
            return true;
        }
        if self.limits.max_streams > 0 && active.len() >= self.limits.max_streams {
            let idle = self.limits.stream_idle;
            active.retain(|_, seen| now.duration_since(*seen) < idle);
            if active.len() >= self.limits.max_streams {
                return false;
            }
        }
        active.insert(id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;

    fn stream(labels: &str, entries: Vec<Entry>) -> StreamEntries {
        StreamEntries {
            labels: stream_labels::parse(labels).unwrap(),
            entries,
        }
    }

    const NOW: i64 = 1_700_000_000_000_000_000;

    #[test]
    fn refuses_bad_entries_and_keeps_the_good_ones() {
        let validator = Validator::new(Limits {
            max_line_size: 10,
            ..Limits::default()
        });
        let checked = validator.check(
            "fake",
            vec![stream(
                r#"{app="api"}"#,
                vec![
                    Entry::new(NOW, "ok"),
                    Entry::new(NOW, "this line is too long"),
                    Entry::new(NOW - 8 * 24 * 3600 * 1_000_000_000, "old"),
                    Entry::new(NOW + 3600 * 1_000_000_000, "future"),
                ],
            )],
            NOW,
        );
        assert_eq!(checked.accepted.len(), 1);
        assert_eq!(checked.accepted[0].entries, vec![Entry::new(NOW, "ok")]);
        assert!(!checked.too_many);
        assert_eq!(checked.refused.len(), 3);
        assert_eq!(
            checked.refused[0],
            "Max entry size '10' bytes exceeded for stream '{app=\"api\"}' while adding an entry with length '21' bytes"
        );
        assert!(
            checked.refused[1].contains("has timestamp too old: 2023-11-06T22:13:20Z"),
            "{}",
            checked.refused[1]
        );
        assert!(
            checked.refused[2].contains("has timestamp too new: 2023-11-14T23:13:20Z"),
            "{}",
            checked.refused[2]
        );
    }

    #[test]
    fn stream_and_rate_limits_answer_too_many() {
        let validator = Validator::new(Limits {
            max_streams: 1,
            max_label_names_per_series: 2,
            ..Limits::default()
        });
        let checked = validator.check(
            "fake",
            vec![
                stream(r#"{app="a"}"#, vec![Entry::new(NOW, "x")]),
                stream(r#"{app="b"}"#, vec![Entry::new(NOW, "y")]),
                stream(r#"{a="1", b="2", c="3"}"#, vec![Entry::new(NOW, "z")]),
            ],
            NOW,
        );
        assert_eq!(checked.accepted.len(), 1);
        assert!(checked.too_many);
        assert!(checked.refused[0].starts_with("Maximum active stream limit exceeded"));
        assert_eq!(
            checked.refused[1],
            "entry for stream '{a=\"1\", b=\"2\", c=\"3\"}' has 3 label names; limit 2"
        );

        let limited = Validator::new(Limits {
            ingestion_rate_bytes: 1,
            ingestion_burst_bytes: 4,
            ..Limits::default()
        });
        let checked = limited.check(
            "t1",
            vec![stream(r#"{app="a"}"#, vec![Entry::new(NOW, "12345")])],
            NOW,
        );
        assert!(checked.accepted.is_empty() && checked.too_many);
        assert!(checked.refused[0].starts_with("Ingestion rate limit exceeded for user t1 (limit: 1 bytes/sec) while attempting to ingest '1' lines totaling '5' bytes"));
    }
}
