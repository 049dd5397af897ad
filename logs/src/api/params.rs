//! Query parameters as Loki reads them: timestamps (Unix nanoseconds,
//! seconds, fractional seconds or RFC 3339), steps (a duration or seconds),
//! limits and directions, from the query string or a form body.

use std::collections::HashMap;

use crate::store::{now_ns, Direction};

/// Parameters of a request, the first value of each name (`match[]` keeps all).
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, Vec<String>>,
}

impl Params {
    pub fn parse(query: Option<&str>, form: Option<&[u8]>) -> Params {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut add = |bytes: &[u8]| {
            for (name, value) in form_urlencoded::parse(bytes) {
                values
                    .entry(name.into_owned())
                    .or_default()
                    .push(value.into_owned());
            }
        };
        if let Some(query) = query {
            add(query.as_bytes());
        }
        if let Some(form) = form {
            add(form);
        }
        Params { values }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)?
            .first()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The required `query` parameter.
    pub fn query(&self) -> Result<String, String> {
        self.get("query")
            .map(str::to_string)
            .ok_or_else(|| "query parameter is required".to_string())
    }

    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// A timestamp in Unix nanoseconds; `default` when absent.
    pub fn time(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => parse_time(text).ok_or_else(|| {
                format!("invalid {name} parameter {text:?}: use a Unix timestamp or RFC 3339")
            }),
        }
    }

    /// `start`/`end` with Loki's defaults: the hour before now (or `since` before end).
    pub fn range(&self) -> Result<(i64, i64), String> {
        let end = self.time("end", now_ns())?;
        let since = match self.get("since") {
            Some(text) => parse_duration_ns(text)
                .ok_or_else(|| format!("invalid since parameter {text:?}"))?,
            None => 3_600_000_000_000,
        };
        let start = self.time("start", end.saturating_sub(since))?;
        if end < start {
            return Err("end timestamp must not be before or equal to start time".into());
        }
        Ok((start, end))
    }

    pub fn limit(&self, default: usize) -> Result<usize, String> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => match text.parse::<usize>() {
                Ok(0) => Err("limit must be a positive value".into()),
                Ok(n) => Ok(n),
                Err(_) => Err(format!(
                    "invalid limit parameter {text:?}: use a positive integer"
                )),
            },
        }
    }

    pub fn direction(&self) -> Result<Direction, String> {
        match self
            .get("direction")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("backward") => Ok(Direction::Backward),
            Some("forward") => Ok(Direction::Forward),
            Some(other) => Err(format!("invalid direction '{other}'")),
        }
    }

    /// The step of a range query in nanoseconds, with Loki's default of
    /// about 250 points over the range (at least one second).
    pub fn step(&self, start: i64, end: i64) -> Result<i64, String> {
        let step = match self.get("step") {
            Some(text) => parse_duration_ns(text)
                .ok_or_else(|| format!("invalid step parameter {text:?}: use a duration such as 30s or a number of seconds"))?,
            None => {
                let seconds = (end.saturating_sub(start) as f64 / 1e9 / 250.0).ceil().max(1.0);
                (seconds * 1e9) as i64
            }
        };
        if step <= 0 {
            return Err("zero or negative query resolution step widths are not accepted. Try a positive integer".into());
        }
        if end.saturating_sub(start) / step > 11_000 {
            return Err("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into());
        }
        Ok(step)
    }
}

/// Loki's timestamp parsing: fractional seconds if it has a dot; an integer
/// of up to 10 digits is seconds, longer is nanoseconds; else RFC 3339.
pub fn parse_time(text: &str) -> Option<i64> {
    if text.contains('.') {
        if let Ok(seconds) = text.parse::<f64>() {
            let whole = seconds.trunc();
            let fraction = ((seconds - whole) * 1000.0).round() / 1000.0;
            return Some(
                (whole as i64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add((fraction * 1e9) as i64),
            );
        }
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(if text.trim_start_matches('-').len() <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// `5m`, `1h30m`, `500ms`, or a number of seconds.
pub fn parse_duration_ns(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some((seconds * 1e9) as i64);
    }
    tsdb::wal::parse_duration(text).map(|d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_loki_reads_them() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(
            parse_time("1700000000000000001"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration_ns("15"), Some(15_000_000_000));
    }

    #[test]
    fn default_step_is_about_250_points() {
        let params = Params::parse(Some(""), None);
        assert_eq!(params.step(0, 3_600_000_000_000), Ok(15_000_000_000));
        assert_eq!(params.step(0, 1_000_000_000), Ok(1_000_000_000));
        let params = Params::parse(Some("step=0"), None);
        assert!(params.step(0, 10).is_err());
    }
}
