//! Time interval definitions (`timeinterval` package in Alertmanager): the
//! parsed, validated form. Evaluation lives in `dispatch::timeinterval`.

use serde::Deserialize;

use super::nullable;

/// A named list of intervals (`time_intervals[]` / legacy
/// `mute_time_intervals[]` at the top level of the config).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub time_intervals: Vec<TimeInterval>,
}

/// One interval. A field that is absent places no restriction; a field that
/// is present (even as an empty list, as in Alertmanager where the list is
/// then non-nil) must match at least one of its ranges.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    #[serde(default)]
    pub times: Option<Vec<TimeRange>>,
    #[serde(default)]
    pub weekdays: Option<Vec<WeekdayRange>>,
    #[serde(default)]
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    #[serde(default)]
    pub months: Option<Vec<MonthRange>>,
    #[serde(default)]
    pub years: Option<Vec<YearRange>>,
    #[serde(default)]
    pub location: Option<Location>,
}

/// `[start_minute, end_minute)` within a day; `end` may be 1440 (`24:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawTimeRange")]
pub struct TimeRange {
    pub start_minute: u32,
    pub end_minute: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    #[serde(default)]
    start_time: String,
    #[serde(default)]
    end_time: String,
}

impl TryFrom<RawTimeRange> for TimeRange {
    type Error = String;
    fn try_from(r: RawTimeRange) -> Result<Self, String> {
        if r.start_time.is_empty() || r.end_time.is_empty() {
            return Err("both start and end times must be provided".into());
        }
        let start = parse_hhmm(&r.start_time)?;
        let end = parse_hhmm(&r.end_time)?;
        if start >= end {
            return Err("start time cannot be equal or greater than end time".into());
        }
        Ok(TimeRange {
            start_minute: start,
            end_minute: end,
        })
    }
}

/// `HH:MM` with `00:00`..`23:59`, or `24:00`.
fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    if s == "24:00" {
        return Ok(1440);
    }
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let h: u32 = s[..2].parse().map_err(|_| bad())?;
    let m: u32 = s[3..].parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Inclusive range of weekdays, 0 = Sunday … 6 = Saturday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeekdayRange {
    pub begin: u32,
    pub end: u32,
}

/// Inclusive range of days of the month; negative values count from the end
/// of the month (-1 = last day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayOfMonthRange {
    pub begin: i32,
    pub end: i32,
}

/// Inclusive range of months, 1 = January.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthRange {
    pub begin: u32,
    pub end: u32,
}

/// Inclusive range of years.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearRange {
    pub begin: i32,
    pub end: i32,
}

/// The zone an interval is evaluated in: any IANA name, as Go's
/// `time.LoadLocation` takes it (from `chrono-tz`'s copy of the time zone
/// database), `UTC`, or `Local` (the machine's zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Utc,
    Local,
    Zone(chrono_tz::Tz),
}

impl TryFrom<String> for Location {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            // Go's LoadLocation: "" and "UTC" are UTC, "Local" is the local zone.
            "" | "UTC" => Ok(Location::Utc),
            "Local" => Ok(Location::Local),
            name => name
                .parse::<chrono_tz::Tz>()
                .map(Location::Zone)
                .map_err(|_| format!("unknown time zone {name}")),
        }
    }
}

/// Splits `a:b` or `a` into (begin, end) after lower-casing, as
/// Alertmanager's `stringableRangeFromString`.
fn split_range<T>(
    input: &str,
    member: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, T), String> {
    let s = input.to_lowercase();
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 2 {
            return Err(format!("couldn't parse range {s:?}, invalid format"));
        }
        Ok((member(parts[0])?, member(parts[1])?))
    } else {
        let a = member(&s)?;
        let b = member(&s)?;
        Ok((a, b))
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TryFrom<String> for WeekdayRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (begin, end) = split_range(&s, |m| {
            WEEKDAYS
                .iter()
                .position(|d| *d == m)
                .map(|p| p as u32)
                .ok_or_else(|| format!("{m} is not a valid weekday"))
        })?;
        if begin > end {
            return Err("start day cannot be before end day".into());
        }
        Ok(WeekdayRange { begin, end })
    }
}

impl TryFrom<String> for DayOfMonthRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (b, e) = split_range(&s, parse_int)?;
        for v in [b, e] {
            if v == 0 || !(-31..=31).contains(&v) {
                return Err(format!("{v} is not a valid day of the month: out of range"));
            }
        }
        let (b, e) = (b as i32, e as i32);
        if b < 0 && e > 0 {
            return Err("end day must be negative if start day is negative".into());
        }
        let cb = if b < 0 { 28 + b } else { b };
        let ce = if e < 0 { 28 + e } else { e };
        if cb > ce {
            return Err(format!("end day {e} is always before start day {b}"));
        }
        Ok(DayOfMonthRange { begin: b, end: e })
    }
}

impl TryFrom<String> for MonthRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (begin, end) = split_range(&s, |m| {
            if let Some(p) = MONTHS.iter().position(|n| *n == m) {
                return Ok(p as u32 + 1);
            }
            match m.parse::<i64>() {
                Ok(n) if (1..=12).contains(&n) => Ok(n as u32),
                Ok(_) => Err(format!("{m} is not a valid month: out of range")),
                Err(_) => Err(format!("{m} is not a valid month")),
            }
        })?;
        if begin > end {
            return Err(format!(
                "end month {} is before start month {}",
                MONTHS[end as usize - 1],
                MONTHS[begin as usize - 1]
            ));
        }
        Ok(MonthRange { begin, end })
    }
}

impl TryFrom<String> for YearRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (b, e) = split_range(&s, parse_int)?;
        let conv = |v: i64| i32::try_from(v).map_err(|_| format!("year {v} out of range"));
        let (b, e) = (conv(b)?, conv(e)?);
        if b > e {
            return Err(format!("end year {e} is before start year {b}"));
        }
        Ok(YearRange { begin: b, end: e })
    }
}

deserialize_from_str!(WeekdayRange, |s| WeekdayRange::try_from(s.to_string()));

deserialize_from_str!(DayOfMonthRange, |s| DayOfMonthRange::try_from(
    s.to_string()
));

deserialize_from_str!(MonthRange, |s| MonthRange::try_from(s.to_string()));

deserialize_from_str!(YearRange, |s| YearRange::try_from(s.to_string()));

deserialize_from_str!(Location, |s| Location::try_from(s.to_string()));
