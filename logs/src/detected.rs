//! What Grafana's Logs Drilldown asks of recent lines: the fields the json
//! and logfmt parsers find (`detected_fields`), and line patterns with
//! their counts over time (`patterns`, a simple token-shape extraction).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::engine::{self, QueryError, QueryStats, ResultStream};
use crate::logql::ast::Expr;
use crate::logql::logfmt::LogfmtDecoder;
use crate::logql::units;
use crate::store::{Direction, LogStore};
use crate::tokens;

pub struct DetectedField {
    pub name: String,
    /// `string`, `int`, `float`, `boolean`, `duration` or `bytes`, as Loki names them.
    pub kind: &'static str,
    pub cardinality: usize,
    pub parsers: Vec<&'static str>,
}

/// The newest `limit` lines of `[start_ns, end_ns)` that a log query returns.
fn newest_lines(
    store: &LogStore,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
) -> Result<Vec<ResultStream>, QueryError> {
    let log = match engine::parse(query)? {
        Expr::Log(log) => log,
        Expr::Metric(_) => {
            return Err(QueryError::Execution(
                "a log query is required, such as {app=\"api\"}".into(),
            ))
        }
    };
    let mut stats = QueryStats::default();
    engine::select_logs(
        store,
        &log,
        start_ns,
        end_ns,
        limit,
        Direction::Backward,
        &mut stats,
    )
}

fn kind_of(value: &str) -> &'static str {
    if value.parse::<i64>().is_ok() {
        "int"
    } else if value.parse::<f64>().is_ok() {
        "float"
    } else if value == "true" || value == "false" {
        "boolean"
    } else if units::parse_go_duration(value).is_ok() {
        "duration"
    } else if value.bytes().any(|b| b.is_ascii_alphabetic())
        && units::parse_humanized_bytes(value).is_ok()
    {
        "bytes"
    } else {
        "string"
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}_{key}")
                };
                flatten(&name, value, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        serde_json::Value::Array(_) | serde_json::Value::Null => {}
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// Fields of the newest `line_limit` lines matching a log query.
pub fn fields(
    store: &LogStore,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    line_limit: usize,
) -> Result<Vec<DetectedField>, QueryError> {
    let streams = newest_lines(store, query, start_ns, end_ns, line_limit)?;
    let mut values: BTreeMap<String, (BTreeSet<String>, BTreeSet<&'static str>)> = BTreeMap::new();
    for stream in &streams {
        for entry in &stream.entries {
            let mut pairs = Vec::new();
            let parser = if entry.line.trim_start().starts_with('{') {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&entry.line) {
                    flatten("", &value, &mut pairs);
                }
                "json"
            } else {
                let mut decoder = LogfmtDecoder::new(&entry.line);
                while decoder.scan_key_value() {
                    let key = String::from_utf8_lossy(decoder.key()).into_owned();
                    let value = String::from_utf8_lossy(decoder.value()).into_owned();
                    if !key.is_empty() {
                        pairs.push((key, value));
                    }
                }
                "logfmt"
            };
            for (name, value) in pairs {
                let name = crate::push::otlp::sanitize_name(&name);
                let slot = values.entry(name).or_default();
                slot.0.insert(value);
                slot.1.insert(parser);
            }
        }
    }
    Ok(values
        .into_iter()
        .map(|(name, (values, parsers))| {
            let kinds: BTreeSet<&'static str> = values.iter().map(|v| kind_of(v)).collect();
            let kind = if kinds.len() == 1 {
                kinds.into_iter().next().unwrap_or("string")
            } else if kinds.iter().all(|k| *k == "int" || *k == "float") {
                "float"
            } else {
                "string"
            };
            DetectedField {
                name,
                kind,
                cardinality: values.len(),
                parsers: parsers.into_iter().collect(),
            }
        })
        .collect())
}

pub struct Pattern {
    pub pattern: String,
    /// `(step start ns, lines)`.
    pub samples: Vec<(i64, u64)>,
}

/// A line's shape: tokens holding digits (ids, numbers, times, addresses)
/// become `<_>`; the rest is kept.
pub fn shape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    tokens::for_each_token(line, |token| {
        let start = token.as_ptr() as usize - line.as_ptr() as usize;
        out.push_str(&line[at..start]);
        if token.bytes().any(|b| b.is_ascii_digit())
            || tokens::is_id_like(&tokens::lowercase(token))
        {
            if !out.ends_with("<_>") {
                out.push_str("<_>");
            }
        } else {
            out.push_str(token);
        }
        at = start + token.len();
    });
    out.push_str(&line[at..]);
    out
}

/// The 50 most frequent shapes of lines matching a log query, counted per step.
pub fn patterns(
    store: &LogStore,
    query: &str,
    start_ns: i64,
    end_ns: i64,
    step_ns: i64,
) -> Result<Vec<Pattern>, QueryError> {
    let streams = newest_lines(store, query, start_ns, end_ns, 10_000)?;
    let mut counts: HashMap<String, BTreeMap<i64, u64>> = HashMap::new();
    for stream in &streams {
        for entry in &stream.entries {
            let bucket = start_ns + (entry.timestamp_ns - start_ns) / step_ns * step_ns;
            *counts
                .entry(shape(&entry.line))
                .or_default()
                .entry(bucket)
                .or_default() += 1;
        }
    }
    let mut found: Vec<Pattern> = counts
        .into_iter()
        .map(|(pattern, samples)| Pattern {
            pattern,
            samples: samples.into_iter().collect(),
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.samples.iter().map(|s| s.1).sum::<u64>()));
    found.truncate(50);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_hide_variable_tokens() {
        assert_eq!(
            shape("GET /api/v1/users/42 200 12ms id=4bf92f3577b34da6"),
            "GET /api/<_>/users/<_> <_> <_> id=<_>"
        );
        assert_eq!(kind_of("12ms"), "duration");
        assert_eq!(kind_of("3"), "int");
        assert_eq!(kind_of("1.5"), "float");
        assert_eq!(kind_of("20MB"), "bytes");
        assert_eq!(kind_of("hello"), "string");
    }
}
