//! `detected_level`: the structured metadata Loki 3 adds to every pushed line
//! (`discover_log_levels`, on by default), which Grafana's Logs Drilldown
//! and the logs volume group by. Where the level comes from, in order:
//! 1. a `detected_level` the client already sent (normalized);
//! 2. a level stream label, then level structured metadata (normalized);
//! 3. OTLP's `severity_number`;
//! 4. the level field of a JSON or logfmt line;
//! 5. keywords in the line (`[ERROR]`, `warn:`, `info`, …), else `unknown`.

use crate::entry::{Entry, StreamEntries};
use crate::logql::logfmt::LogfmtDecoder;

pub const DETECTED_LEVEL: &str = "detected_level";

/// Names a level is read from, in order of preference (Loki's defaults).
const LEVEL_FIELDS: &[&str] = &[
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];

/// Adds `detected_level` to every entry that lacks it.
pub fn annotate(streams: &mut [StreamEntries]) {
    for stream in streams {
        let from_label = LEVEL_FIELDS
            .iter()
            .find_map(|name| stream.labels.get(name))
            .map(normalize);
        for entry in &mut stream.entries {
            if let Some(existing) = entry.metadata.iter_mut().find(|(n, _)| n == DETECTED_LEVEL) {
                existing.1 = normalize(&existing.1);
                continue;
            }
            let level = match &from_label {
                Some(level) => level.clone(),
                None => detect(entry),
            };
            if !level.is_empty() {
                entry.metadata.push((DETECTED_LEVEL.to_string(), level));
            }
        }
    }
}

fn metadata<'e>(entry: &'e Entry, name: &str) -> Option<&'e str> {
    entry
        .metadata
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn detect(entry: &Entry) -> String {
    if let Some(level) = LEVEL_FIELDS.iter().find_map(|name| metadata(entry, name)) {
        return normalize(level);
    }
    if let Some(number) = metadata(entry, "severity_number") {
        return severity_number_level(number).to_string();
    }
    from_line(&entry.line).to_string()
}

/// Known spellings become Loki's names; anything else is kept as it is.
pub fn normalize(level: &str) -> String {
    known_level(level).map_or_else(|| level.to_string(), str::to_string)
}

fn known_level(value: &str) -> Option<&'static str> {
    let is = |word: &str| value.eq_ignore_ascii_case(word);
    Some(if is("trace") || is("trc") {
        "trace"
    } else if is("debug") || is("dbg") {
        "debug"
    } else if is("info") || is("inf") || is("information") {
        "info"
    } else if is("warn") || is("wrn") || is("warning") {
        "warn"
    } else if is("error") || is("err") {
        "error"
    } else if is("critical") {
        "critical"
    } else if is("fatal") {
        "fatal"
    } else {
        return None;
    })
}

/// OpenTelemetry's severity number ranges.
fn severity_number_level(text: &str) -> &'static str {
    match text.parse::<i32>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(1..=4) => "trace",
        Ok(5..=8) => "debug",
        Ok(9..=12) => "info",
        Ok(13..=16) => "warn",
        Ok(17..=20) => "error",
        Ok(21..=24) => "fatal",
        Ok(_) => "unknown",
    }
}

fn from_line(line: &str) -> &'static str {
    let trimmed = line.trim();
    let field = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        json_level(trimmed)
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        None
    };
    field
        .and_then(|value| known_level(&value))
        .unwrap_or_else(|| keyword_level(line))
}

/// The first level field of a JSON object, looking into nested objects,
/// without building the document: a serde visitor skips every other value.
fn json_level(line: &str) -> Option<String> {
    use serde::de::Deserializer;
    let mut deserializer = serde_json::Deserializer::from_str(line);
    deserializer
        .deserialize_map(LevelVisitor { depth: 0 })
        .ok()
        .flatten()
}

struct LevelVisitor {
    depth: usize,
}

/// A nested value: an object is searched, anything else skipped.
struct Nested {
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for Nested {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(LevelVisitor { depth: self.depth })
    }
}

impl<'de> serde::de::Visitor<'de> for LevelVisitor {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if found.is_some() {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else if LEVEL_FIELDS.contains(&key.as_ref()) {
                // Only a string level counts, as in Loki.
                found = map
                    .next_value::<serde_json::Value>()?
                    .as_str()
                    .map(str::to_string);
            } else if self.depth < 4 {
                found = map.next_value_seed(Nested {
                    depth: self.depth + 1,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_string<E>(self, _: String) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The value of the most preferred level key of a logfmt line.
fn logfmt_level(line: &str) -> Option<String> {
    let mut decoder = LogfmtDecoder::new(line);
    let mut best: Option<(usize, String)> = None;
    while decoder.scan_key_value() {
        let key = String::from_utf8_lossy(decoder.key());
        if let Some(rank) = LEVEL_FIELDS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(&key))
        {
            if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                best = Some((rank, String::from_utf8_lossy(decoder.value()).into_owned()));
                if rank == 0 {
                    break;
                }
            }
        }
    }
    best.map(|(_, value)| value)
}

/// Loki's last resort: level words in the line, checked in this order.
fn keyword_level(line: &str) -> &'static str {
    let any = |words: &[&str]| words.iter().any(|w| line.contains(w));
    if any(&["info:", "INFO:", "[info]", "[INFO]", "info", "INFO"]) {
        "info"
    } else if any(&["err:", "ERR:", "[err]", "[ERR]", "[error]", "[ERROR]"]) {
        "error"
    } else if any(&[
        "warn:",
        "WARN:",
        "[warn]",
        "[WARN]",
        "[warning]",
        "[WARNING]",
        "warning",
        "WARNING",
    ]) {
        "warn"
    } else if any(&["critical:", "CRITICAL:", "[critical]", "[CRITICAL]"]) {
        "critical"
    } else if any(&["debug:", "DEBUG:", "[debug]", "[DEBUG]", "debug", "DEBUG"]) {
        "debug"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_labels;

    fn detected(labels: &str, line: &str, metadata: &[(&str, &str)]) -> String {
        let mut streams = vec![StreamEntries {
            labels: stream_labels::parse(labels).unwrap(),
            entries: vec![Entry {
                timestamp_ns: 1,
                line: line.into(),
                metadata: metadata
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            }],
        }];
        annotate(&mut streams);
        metadata_value(&streams[0].entries[0])
    }

    fn metadata_value(entry: &Entry) -> String {
        metadata(entry, DETECTED_LEVEL).unwrap_or("").to_string()
    }

    #[test]
    fn levels_come_from_labels_metadata_severity_and_lines() {
        assert_eq!(detected(r#"{app="a", level="WARNING"}"#, "x", &[]), "warn");
        assert_eq!(
            detected(r#"{app="a"}"#, "x", &[("severity_text", "ERR")]),
            "error"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, "x", &[("severity_number", "17")]),
            "error"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, "x", &[("severity_number", "0")]),
            "unknown"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, "x", &[(DETECTED_LEVEL, "DBG")]),
            "debug"
        );
        assert_eq!(
            detected(
                r#"{app="a"}"#,
                r#"{"msg":"x","log":{"level":"Fatal"}}"#,
                &[]
            ),
            "fatal"
        );
        assert_eq!(
            detected(
                r#"{app="a"}"#,
                r#"{"a":[1,{"level":"x"}],"n":3,"b":{"c":{"lvl":"WARN"}},"level":7}"#,
                &[]
            ),
            "warn"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, r#"ts=1 lvl=wrn level=error msg="x""#, &[]),
            "error"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, r#"ts=1 lvl=trc msg="x""#, &[]),
            "trace"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, "2024 [ERROR] disk full", &[]),
            "error"
        );
        assert_eq!(
            detected(r#"{app="a"}"#, "GET /index.html 200", &[]),
            "unknown"
        );
        // An unknown level field falls back to keywords, as in Loki.
        assert_eq!(
            detected(r#"{app="a"}"#, r#"level=notice msg="some info""#, &[]),
            "info"
        );
        // A label or metadata level that is not a known word is kept.
        assert_eq!(detected(r#"{app="a", level="notice"}"#, "x", &[]), "notice");
    }
}
