//! Go's `fmt` and `time` text formatting, as `line_format`/`label_format`
//! templates print values: `%v` of floats (`1e+06`), `printf` verbs, and
//! time layouts (`2006-01-02T15:04:05Z07:00`), all in UTC.

use super::units::go_quote;

/// Upper bound for printf widths and precisions.
const MAX_FORMAT_WIDTH: usize = 4096;

/// A value flowing through a template.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TemplateValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A `time.Time`, as nanoseconds since the Unix epoch (UTC).
    Time(i64),
    /// The template's data: the label map.
    Labels(Vec<(String, String)>),
    Nil,
}

impl TemplateValue {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            TemplateValue::Str(_) => "string",
            TemplateValue::Int(_) => "int",
            TemplateValue::Float(_) => "float64",
            TemplateValue::Bool(_) => "bool",
            TemplateValue::Time(_) => "time.Time",
            TemplateValue::Labels(_) => "map[string]string",
            TemplateValue::Nil => "<nil>",
        }
    }

    /// Go template truthiness.
    pub(crate) fn is_true(&self) -> bool {
        match self {
            TemplateValue::Str(s) => !s.is_empty(),
            TemplateValue::Int(i) => *i != 0,
            TemplateValue::Float(f) => *f != 0.0,
            TemplateValue::Bool(b) => *b,
            TemplateValue::Time(_) => true,
            TemplateValue::Labels(labels) => !labels.is_empty(),
            TemplateValue::Nil => false,
        }
    }
}

/// `fmt.Sprint`-style rendering (`%v`).
pub(crate) fn format_value(value: &TemplateValue) -> String {
    match value {
        TemplateValue::Str(s) => s.clone(),
        TemplateValue::Int(i) => i.to_string(),
        TemplateValue::Float(f) => format_float_shortest(*f),
        TemplateValue::Bool(b) => b.to_string(),
        TemplateValue::Time(nanos) => format_time_default(*nanos),
        TemplateValue::Labels(labels) => {
            let mut sorted = labels.clone();
            sorted.sort();
            let body: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", body.join(" "))
        }
        TemplateValue::Nil => "<nil>".to_owned(),
    }
}

/// Shortest decimal digits and decimal-point position of a finite, positive float.
fn shortest_digits(value: f64) -> (String, i32) {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    (digits, exponent + 1)
}

fn exponent_suffix(exponent: i32) -> String {
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exponent.abs())
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which `%v` uses.
pub(crate) fn format_float_shortest(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let (digits, point) = shortest_digits(value.abs());
    let exponent = point - 1;
    // Go chooses `%e` with the shortest-precision threshold of 6.
    if !(-4..6).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        return format!("{sign}{mantissa}{}", exponent_suffix(exponent));
    }
    format!("{sign}{}", place_point(&digits, point))
}

/// Digits with the decimal point at `point` (may be outside the digits).
fn place_point(digits: &str, point: i32) -> String {
    if point <= 0 {
        format!("0.{}{}", "0".repeat(point.unsigned_abs() as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    }
}

/// `%e` with a precision.
fn format_exponent(value: f64, precision: usize, upper: bool) -> String {
    let text = format!("{value:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut out = format!("{mantissa}{}", exponent_suffix(exponent));
    if upper {
        out = out.to_uppercase();
    }
    out
}

/// `%g` with an explicit precision.
fn format_general(value: f64, precision: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return format_float_shortest(value);
    }
    let precision = precision.max(1);
    let rounded = format!("{:.*e}", precision - 1, value.abs());
    let (mantissa, exponent) = rounded.split_once('e').unwrap_or((&rounded, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .trim_end_matches('0')
        .to_owned();
    let digits = if digits.is_empty() {
        "0".to_owned()
    } else {
        digits
    };
    let sign = if value < 0.0 { "-" } else { "" };
    if exponent < -4 || exponent >= precision as i32 {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        format!("{sign}{mantissa}{}", exponent_suffix(exponent))
    } else {
        format!("{sign}{}", place_point(&digits, exponent + 1))
    }
}

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

fn pad(text: String, spec: &Spec, numeric: bool) -> String {
    let Some(width) = spec.width else {
        return text;
    };
    let length = text.chars().count();
    if length >= width {
        return text;
    }
    let fill = width - length;
    if spec.minus {
        format!("{text}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match text.strip_prefix(['-', '+']) {
            Some(rest) => (&text[..1], rest),
            None => ("", text.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{text}", " ".repeat(fill))
    }
}

fn bad_verb(verb: char, value: &TemplateValue) -> String {
    format!("%!{verb}({}={})", value.type_name(), format_value(value))
}

fn signed(text: String, negative: bool, spec: &Spec) -> String {
    if negative {
        text
    } else if spec.plus {
        format!("+{text}")
    } else if spec.space {
        format!(" {text}")
    } else {
        text
    }
}

fn format_one(verb: char, spec: &Spec, value: &TemplateValue) -> String {
    use TemplateValue::*;
    let text = match (verb, value) {
        ('v', Float(f)) | ('g', Float(f)) => {
            let text = match spec.precision {
                Some(p) => format_general(*f, p),
                None => format_float_shortest(*f),
            };
            return pad(signed(text, *f < 0.0, spec), spec, true);
        }
        ('v', Int(i)) | ('d', Int(i)) => {
            return pad(signed(i.to_string(), *i < 0, spec), spec, true)
        }
        ('v' | 's', _) => {
            let text = format_value(value);
            match spec.precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            }
        }
        ('q', Str(s)) => go_quote(s),
        ('q', Int(i)) => format!("'{}'", char::from_u32(*i as u32).unwrap_or('\u{fffd}')),
        ('t', Bool(b)) => b.to_string(),
        ('f' | 'F', Float(f)) => {
            let text = format!("{:.*}", spec.precision.unwrap_or(6), f);
            return pad(signed(text, *f < 0.0, spec), spec, true);
        }
        ('e' | 'E', Float(f)) => {
            let text = format_exponent(*f, spec.precision.unwrap_or(6), verb == 'E');
            return pad(signed(text, *f < 0.0, spec), spec, true);
        }
        ('G', Float(f)) => format_float_shortest(*f).to_uppercase(),
        ('x', Int(i)) => {
            let text = if *i < 0 {
                format!("-{:x}", i.unsigned_abs())
            } else {
                format!("{i:x}")
            };
            if spec.sharp {
                format!("0x{text}")
            } else {
                text
            }
        }
        ('X', Int(i)) => {
            if *i < 0 {
                format!("-{:X}", i.unsigned_abs())
            } else {
                format!("{i:X}")
            }
        }
        ('x', Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('X', Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
        ('o', Int(i)) => format!("{i:o}"),
        ('b', Int(i)) => format!("{i:b}"),
        ('c', Int(i)) => char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
        _ => return bad_verb(verb, value),
    };
    pad(text, spec, false)
}

/// Go's `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[TemplateValue]) -> String {
    let mut out = String::with_capacity(format.len());
    let chars: Vec<char> = format.chars().collect();
    let mut index = 0;
    let mut next_arg = 0;
    while index < chars.len() {
        let c = chars[index];
        index += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec {
            minus: false,
            plus: false,
            zero: false,
            space: false,
            sharp: false,
            width: None,
            precision: None,
        };
        while let Some(flag) = chars.get(index) {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            index += 1;
        }
        let read_number = |index: &mut usize, next_arg: &mut usize| -> Option<usize> {
            if chars.get(*index) == Some(&'*') {
                *index += 1;
                let value = match args.get(*next_arg) {
                    Some(TemplateValue::Int(i)) => usize::try_from(*i).ok(),
                    _ => None,
                };
                *next_arg += 1;
                return value;
            }
            let start = *index;
            while chars.get(*index).is_some_and(char::is_ascii_digit) {
                *index += 1;
            }
            (start != *index)
                .then(|| chars[start..*index].iter().collect::<String>().parse().ok())
                .flatten()
        };
        // Bounded so a template cannot make a line allocate gigabytes.
        spec.width = read_number(&mut index, &mut next_arg).map(|w| w.min(MAX_FORMAT_WIDTH));
        if chars.get(index) == Some(&'.') {
            index += 1;
            spec.precision = Some(
                read_number(&mut index, &mut next_arg)
                    .unwrap_or(0)
                    .min(MAX_FORMAT_WIDTH),
            );
        }
        let Some(&verb) = chars.get(index) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        index += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next_arg) {
            Some(value) => out.push_str(&format_one(verb, &spec, value)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        next_arg += 1;
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|v| format!("{}={}", v.type_name(), format_value(v)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[TemplateValue]) -> String {
    let mut out = String::new();
    for (index, value) in args.iter().enumerate() {
        let is_string = matches!(value, TemplateValue::Str(_));
        let previous_is_string = index > 0 && matches!(args[index - 1], TemplateValue::Str(_));
        if index > 0 && !is_string && !previous_is_string {
            out.push(' ');
        }
        out.push_str(&format_value(value));
    }
    out
}

/// Civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanosecond: u32,
    weekday: usize,
    year_day: u32,
}

fn civil(nanos: i64) -> Civil {
    let seconds = nanos.div_euclid(1_000_000_000);
    let nanosecond = nanos.rem_euclid(1_000_000_000) as u32;
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    let is_leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let year_day = CUMULATIVE[(month - 1) as usize] + day + u32::from(is_leap && month > 2);
    Civil {
        year,
        month,
        day,
        hour: second_of_day / 3600,
        minute: second_of_day / 60 % 60,
        second: second_of_day % 60,
        nanosecond,
        weekday: (days + 4).rem_euclid(7) as usize,
        year_day,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Time.String()` for a UTC time.
pub(crate) fn format_time_default(nanos: i64) -> String {
    format_time_layout(nanos, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `time.Time.Format(layout)` in UTC.
pub(crate) fn format_time_layout(nanos: i64, layout: &str) -> String {
    let t = civil(nanos);
    let mut out = String::with_capacity(layout.len() + 8);
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        let starts = |prefix: &str| rest.starts_with(prefix);
        let (text, consumed): (String, usize) = if starts("January") {
            (MONTHS[(t.month - 1) as usize].to_owned(), 7)
        } else if starts("Jan") {
            (MONTHS[(t.month - 1) as usize][..3].to_owned(), 3)
        } else if starts("Monday") {
            (WEEKDAYS[t.weekday].to_owned(), 6)
        } else if starts("Mon") {
            (WEEKDAYS[t.weekday][..3].to_owned(), 3)
        } else if starts("MST") {
            ("UTC".to_owned(), 3)
        } else if starts("2006") {
            (format!("{:04}", t.year), 4)
        } else if starts("002") {
            (format!("{:03}", t.year_day), 3)
        } else if starts("01") {
            (format!("{:02}", t.month), 2)
        } else if starts("02") {
            (format!("{:02}", t.day), 2)
        } else if starts("03") {
            (format!("{:02}", (t.hour + 11) % 12 + 1), 2)
        } else if starts("04") {
            (format!("{:02}", t.minute), 2)
        } else if starts("05") {
            (format!("{:02}", t.second), 2)
        } else if starts("06") {
            (format!("{:02}", t.year.rem_euclid(100)), 2)
        } else if starts("15") {
            (format!("{:02}", t.hour), 2)
        } else if starts("__2") {
            (format!("{:>3}", t.year_day), 3)
        } else if starts("_2") {
            (format!("{:>2}", t.day), 2)
        } else if starts("1") {
            (t.month.to_string(), 1)
        } else if starts("2") {
            (t.day.to_string(), 1)
        } else if starts("3") {
            (((t.hour + 11) % 12 + 1).to_string(), 1)
        } else if starts("4") {
            (t.minute.to_string(), 1)
        } else if starts("5") {
            (t.second.to_string(), 1)
        } else if starts("PM") {
            (if t.hour >= 12 { "PM" } else { "AM" }.to_owned(), 2)
        } else if starts("pm") {
            (if t.hour >= 12 { "pm" } else { "am" }.to_owned(), 2)
        } else if let Some(zone) = ["Z07:00:00", "Z070000", "Z07:00", "Z0700", "Z07"]
            .iter()
            .find(|z| starts(z))
        {
            ("Z".to_owned(), zone.len())
        } else if let Some(zone) = ["-07:00:00", "-070000", "-07:00", "-0700", "-07"]
            .iter()
            .find(|z| starts(z))
        {
            let text = match *zone {
                "-07:00:00" => "+00:00:00",
                "-070000" => "+000000",
                "-07:00" => "+00:00",
                "-0700" => "+0000",
                _ => "+00",
            };
            (text.to_owned(), zone.len())
        } else if (c == '.' || c == ',') && rest[1..].starts_with(['0', '9']) && {
            let digit = rest.as_bytes()[1];
            let run = rest[1..].bytes().take_while(|b| *b == digit).count();
            !rest[1 + run..].starts_with(|d: char| d.is_ascii_digit())
        } {
            let digit = rest.as_bytes()[1];
            let run = rest[1..].bytes().take_while(|b| *b == digit).count();
            let fraction = format!("{:09}", t.nanosecond);
            let shown = &fraction[..run.min(9)];
            let text = if digit == b'9' {
                let trimmed = shown.trim_end_matches('0');
                if trimmed.is_empty() {
                    String::new()
                } else {
                    format!("{c}{trimmed}")
                }
            } else {
                format!("{c}{shown}")
            };
            (text, 1 + run)
        } else {
            (c.to_string(), c.len_utf8())
        };
        out.push_str(&text);
        rest = &rest[consumed..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use TemplateValue::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_shortest(1.5), "1.5");
        assert_eq!(format_float_shortest(100000.0), "100000");
        assert_eq!(format_float_shortest(1_000_000.0), "1e+06");
        assert_eq!(format_float_shortest(1_234_567.0), "1.234567e+06");
        assert_eq!(format_float_shortest(0.0001), "0.0001");
        assert_eq!(format_float_shortest(0.00001), "1e-05");
        assert_eq!(format_float_shortest(-2.0), "-2");
        assert_eq!(format_float_shortest(f64::INFINITY), "+Inf");
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(sprintf("%s=%d", &[Str("a".into()), Int(5)]), "a=5");
        assert_eq!(
            sprintf("%.2f|%5s|%-4d|", &[Float(2.34567), Str("x".into()), Int(7)]),
            "2.35|    x|7   |"
        );
        assert_eq!(
            sprintf("%05d %x %q", &[Int(42), Int(255), Str("a\"b".into())]),
            "00042 ff \"a\\\"b\""
        );
        assert_eq!(sprintf("%d", &[Str("x".into())]), "%!d(string=x)");
        assert_eq!(sprintf("%s %s", &[Str("x".into())]), "x %!s(MISSING)");
        assert_eq!(sprintf("%v", &[Float(2.5), Int(1)]), "2.5%!(EXTRA int=1)");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprint(&[Int(1), Int(2), Str("a".into()), Int(3)]), "1 2a3");
    }

    #[test]
    fn time_layouts_in_utc() {
        // 2009-02-13T23:31:30.123456789Z
        let nanos = 1_234_567_890_123_456_789;
        assert_eq!(
            format_time_default(nanos),
            "2009-02-13 23:31:30.123456789 +0000 UTC"
        );
        assert_eq!(
            format_time_layout(nanos, "2006-01-02T15:04:05Z07:00"),
            "2009-02-13T23:31:30Z"
        );
        assert_eq!(
            format_time_layout(nanos, "Mon Jan _2 3:04PM .000"),
            "Fri Feb 13 11:31PM .123"
        );
        assert_eq!(
            format_time_layout(0, "2006-01-02 15:04:05.999"),
            "1970-01-01 00:00:00"
        );
        assert_eq!(format_time_layout(nanos, "002 January"), "044 February");
    }
}
