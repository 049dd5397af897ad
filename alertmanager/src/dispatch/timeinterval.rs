//! Whether an instant falls in a time interval (`TimeInterval.ContainsTime`
//! in Alertmanager's `timeinterval.go`).

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveDateTime, Timelike, Utc};

use crate::config::{Location, TimeInterval};

/// True when `instant` is inside `interval`: every field that is present
/// must match one of its ranges. `times` are `[start, end)` minutes of the
/// day; weekday, day-of-month, month and year ranges are inclusive;
/// negative days of the month count from the month's end.
pub fn contains(interval: &TimeInterval, instant: DateTime<Utc>) -> bool {
    let t: NaiveDateTime = match interval.location {
        None | Some(Location::Utc) => instant.naive_utc(),
        Some(Location::Local) => instant.with_timezone(&Local).naive_local(),
        Some(Location::Zone(zone)) => instant.with_timezone(&zone).naive_local(),
    };
    if let Some(times) = &interval.times {
        let minute = t.hour() * 60 + t.minute();
        if !times
            .iter()
            .any(|r| minute >= r.start_minute && minute < r.end_minute)
        {
            return false;
        }
    }
    if let Some(days) = &interval.days_of_month {
        let dim = days_in_month(t.year(), t.month()) as i32;
        let day = t.day() as i32;
        let inside = days.iter().any(|r| {
            let begin = if r.begin < 0 {
                dim + r.begin + 1
            } else {
                r.begin
            };
            let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
            // A range starting past the end of this month does not apply.
            if begin > dim {
                return false;
            }
            let begin = begin.clamp(-dim, dim);
            let end = end.clamp(-dim, dim);
            day >= begin && day <= end
        });
        if !inside {
            return false;
        }
    }
    if let Some(months) = &interval.months {
        let m = t.month();
        if !months.iter().any(|r| m >= r.begin && m <= r.end) {
            return false;
        }
    }
    if let Some(weekdays) = &interval.weekdays {
        let wd = t.weekday().num_days_from_sunday();
        if !weekdays.iter().any(|r| wd >= r.begin && wd <= r.end) {
            return false;
        }
    }
    if let Some(years) = &interval.years {
        let y = t.year();
        if !years.iter().any(|r| y >= r.begin && y <= r.end) {
            return false;
        }
    }
    true
}

/// True when any of the intervals contains `instant` (a named time
/// interval is a list of intervals).
pub fn contains_any(intervals: &[TimeInterval], instant: DateTime<Utc>) -> bool {
    intervals.iter().any(|i| contains(i, instant))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}
