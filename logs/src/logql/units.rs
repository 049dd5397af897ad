//! Number, duration and byte-size parsing with the exact rules and error
//! wording of the Go functions Loki relies on, so values and `__error_details__`
//! match Loki byte for byte:
//! - Prometheus `model.ParseDuration` (query ranges, `offset`, label filters);
//! - Go `time.ParseDuration` (label filters, `unwrap duration()`);
//! - go-humanize `ParseBytes` (label filters, `unwrap bytes()`);
//! - Go `strconv.ParseFloat` (numeric label filters, plain `unwrap`);
//! - Go `strconv.Quote`, used when rendering values inside messages.

pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Prometheus `model.ParseDuration`: integer components with units
/// `y w d h m s ms`, biggest first, each at most once; `"0"` needs no unit.
pub fn parse_prometheus_duration(text: &str) -> Result<i64, String> {
    const DAY: u64 = 24 * 3600 * 1_000_000_000;
    // (unit, position, nanoseconds); a unit must come after every unit with a lower position.
    const UNITS: [(&str, u8, u64); 7] = [
        ("y", 1, 365 * DAY),
        ("w", 2, 7 * DAY),
        ("d", 3, DAY),
        ("h", 4, 3600 * 1_000_000_000),
        ("m", 5, 60 * 1_000_000_000),
        ("s", 6, 1_000_000_000),
        ("ms", 7, 1_000_000),
    ];
    match text {
        "0" => return Ok(0),
        "" => return Err("empty duration string".to_owned()),
        _ => {}
    }
    let not_valid = || format!("not a valid duration string: {}", go_quote(text));
    let bytes = text.as_bytes();
    let mut index = 0;
    let mut total: u64 = 0;
    let mut last_position = 0;
    while index < bytes.len() {
        let digits_start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        if index == digits_start {
            return Err(not_valid());
        }
        let amount: u64 = text[digits_start..index].parse().map_err(|_| not_valid())?;
        let unit_start = index;
        while index < bytes.len() && !bytes[index].is_ascii_digit() {
            index += 1;
        }
        if index == unit_start {
            return Err(not_valid());
        }
        let unit = &text[unit_start..index];
        let Some(&(_, position, nanos)) = UNITS.iter().find(|(name, _, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {} in duration {}",
                go_quote(unit),
                go_quote(text)
            ));
        };
        if position <= last_position {
            return Err(not_valid());
        }
        last_position = position;
        let component = amount
            .checked_mul(nanos)
            .ok_or_else(|| "duration out of range".to_owned())?;
        total = total
            .checked_add(component)
            .filter(|sum| *sum <= i64::MAX as u64)
            .ok_or_else(|| "duration out of range".to_owned())?;
    }
    Ok(total as i64)
}

/// Go `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
/// `ns us µs ms s m h`, in any order, fractions allowed.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(text));
    let mut rest = text;
    let mut negative = false;
    if let Some(first) = rest.chars().next() {
        if first == '-' || first == '+' {
            negative = first == '-';
            rest = &rest[1..];
        }
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let bytes = rest.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let mut index = 0;
        let mut whole: u64 = 0;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            whole = whole
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(bytes[index] - b'0')))
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(invalid)?;
            index += 1;
        }
        let had_whole = index > 0;
        // Fraction part.
        let mut fraction: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut had_fraction = false;
        if index < bytes.len() && bytes[index] == b'.' {
            index += 1;
            let mut overflowed = false;
            let fraction_start = index;
            while index < bytes.len() && bytes[index].is_ascii_digit() {
                if !overflowed {
                    match fraction
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(bytes[index] - b'0')))
                        .filter(|v| *v <= 1 << 63)
                    {
                        Some(value) => {
                            fraction = value;
                            scale *= 10.0;
                        }
                        None => overflowed = true,
                    }
                }
                index += 1;
            }
            had_fraction = index > fraction_start;
        }
        if !had_whole && !had_fraction {
            return Err(invalid());
        }
        let unit_start = index;
        while index < bytes.len() && bytes[index] != b'.' && !bytes[index].is_ascii_digit() {
            index += 1;
        }
        if index == unit_start {
            return Err(format!("time: missing unit in duration {}", go_quote(text)));
        }
        let unit = &rest[unit_start..index];
        let unit_nanos: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(text)
                ))
            }
        };
        if whole > (1u64 << 63) / unit_nanos {
            return Err(invalid());
        }
        let mut component = whole * unit_nanos;
        if fraction > 0 {
            component += (fraction as f64 * (unit_nanos as f64 / scale)) as u64;
            if component > 1 << 63 {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(component)
            .filter(|v| *v <= 1 << 63)
            .ok_or_else(invalid)?;
        rest = &rest[index..];
    }
    if negative {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// The duration syntax the LogQL lexer accepts after a number: Prometheus
/// first, then Go's.
pub fn parse_logql_duration(text: &str) -> Option<i64> {
    parse_prometheus_duration(text)
        .or_else(|_| parse_go_duration(text))
        .ok()
}

/// go-humanize `ParseBytes`: a decimal number (commas allowed) and an
/// optional SI or IEC unit, case-insensitive: `20MB`, `1.5KiB`, `3 k`, `42`.
pub fn parse_humanized_bytes(text: &str) -> Result<u64, String> {
    let number_end = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(text.len(), |(index, _)| index);
    let number = text[..number_end].replace(',', "");
    let value = go_parse_float(&number)?;
    let unit = text[number_end..].trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "b" | "" => 1,
        "kib" | "ki" => 1 << 10,
        "kb" | "k" => 1_000,
        "mib" | "mi" => 1 << 20,
        "mb" | "m" => 1_000_000,
        "gib" | "gi" => 1 << 30,
        "gb" | "g" => 1_000_000_000,
        "tib" | "ti" => 1 << 40,
        "tb" | "t" => 1_000_000_000_000,
        "pib" | "pi" => 1 << 50,
        "pb" | "p" => 1_000_000_000_000_000,
        "eib" | "ei" => 1 << 60,
        "eb" | "e" => 1_000_000_000_000_000_000,
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    let bytes = value * multiplier as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("too large: {text}"));
    }
    // Go converts with truncation; negative values cannot occur (no sign accepted).
    Ok(bytes as u64)
}

/// Go `strconv.ParseFloat(text, 64)` with its error wording.
pub fn go_parse_float(text: &str) -> Result<f64, String> {
    let syntax_error = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(text)
        )
    };
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    let is_special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if is_special {
        if lower == "nan" && unsigned.len() != text.len() {
            return Err(syntax_error());
        }
        let value = if lower == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        };
        return Ok(if text.starts_with('-') { -value } else { value });
    }
    // Rust accepts exactly Go's decimal forms; refuse anything else up front
    // (hex floats and underscores are not used in log data).
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(syntax_error());
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_infinite() => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(text)
        )),
        Ok(value) => Ok(value),
        Err(_) => Err(syntax_error()),
    }
}

/// Go `strconv.Quote`: double-quoted with Go escapes for quotes, backslashes
/// and non-printable characters.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%f` rendering (six decimals, `+Inf`, `-Inf`, `NaN`).
pub(crate) fn go_format_fixed6(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value:.6}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60 * NANOS_PER_SECOND;
    const NANOS_PER_MILLISECOND: i64 = 1_000_000;

    #[test]
    fn prometheus_durations_follow_the_unit_order() {
        assert_eq!(parse_prometheus_duration("5m"), Ok(5 * MINUTE));
        assert_eq!(parse_prometheus_duration("1h30m"), Ok(90 * MINUTE));
        assert_eq!(parse_prometheus_duration("1w"), Ok(7 * 24 * 60 * MINUTE));
        assert_eq!(parse_prometheus_duration("1y"), Ok(365 * 24 * 60 * MINUTE));
        assert_eq!(
            parse_prometheus_duration("250ms"),
            Ok(250 * NANOS_PER_MILLISECOND)
        );
        assert_eq!(parse_prometheus_duration("0"), Ok(0));
        assert_eq!(
            parse_prometheus_duration("5minutes"),
            Err(r#"unknown unit "minutes" in duration "5minutes""#.to_owned())
        );
        assert_eq!(
            parse_prometheus_duration("1m1h"),
            Err(r#"not a valid duration string: "1m1h""#.to_owned())
        );
        assert_eq!(
            parse_prometheus_duration("1.5h"),
            Err(r#"unknown unit "." in duration "1.5h""#.to_owned())
        );
        assert_eq!(
            parse_prometheus_duration(""),
            Err("empty duration string".to_owned())
        );
        assert_eq!(
            parse_prometheus_duration("99999999999y"),
            Err("duration out of range".to_owned())
        );
    }

    #[test]
    fn go_durations_allow_fractions_signs_and_any_order() {
        assert_eq!(parse_go_duration("1.5h"), Ok(90 * MINUTE));
        assert_eq!(parse_go_duration("-5m"), Ok(-5 * MINUTE));
        assert_eq!(parse_go_duration("1m1h"), Ok(61 * MINUTE));
        assert_eq!(parse_go_duration("300us"), Ok(300_000));
        assert_eq!(parse_go_duration("300µs"), Ok(300_000));
        assert_eq!(parse_go_duration(".5s"), Ok(NANOS_PER_SECOND / 2));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("abc"),
            Err(r#"time: invalid duration "abc""#.to_owned())
        );
        assert_eq!(
            parse_go_duration("12"),
            Err(r#"time: missing unit in duration "12""#.to_owned())
        );
        assert_eq!(
            parse_go_duration("5d"),
            Err(r#"time: unknown unit "d" in duration "5d""#.to_owned())
        );
    }

    #[test]
    fn humanized_bytes_accept_si_and_iec_units() {
        assert_eq!(parse_humanized_bytes("20MB"), Ok(20_000_000));
        assert_eq!(parse_humanized_bytes("2.5KiB"), Ok(2560));
        assert_eq!(parse_humanized_bytes("1 kb"), Ok(1000));
        assert_eq!(parse_humanized_bytes("42"), Ok(42));
        assert_eq!(parse_humanized_bytes("1,024B"), Ok(1024));
        assert_eq!(
            parse_humanized_bytes("12 parsecs"),
            Err("unhandled size name: parsecs".to_owned())
        );
        assert_eq!(
            parse_humanized_bytes("abc"),
            Err(r#"strconv.ParseFloat: parsing "": invalid syntax"#.to_owned())
        );
    }

    #[test]
    fn go_float_parsing_matches_strconv() {
        assert_eq!(go_parse_float("1.5"), Ok(1.5));
        assert_eq!(go_parse_float("-2e3"), Ok(-2000.0));
        assert_eq!(go_parse_float("+Inf"), Ok(f64::INFINITY));
        assert!(go_parse_float("NaN").is_ok_and(f64::is_nan));
        assert_eq!(
            go_parse_float("12ms"),
            Err(r#"strconv.ParseFloat: parsing "12ms": invalid syntax"#.to_owned())
        );
        assert_eq!(
            go_parse_float("1e400"),
            Err(r#"strconv.ParseFloat: parsing "1e400": value out of range"#.to_owned())
        );
        assert!(go_parse_float("").is_err());
    }

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
        assert_eq!(go_format_fixed6(1.0), "1.000000");
        assert_eq!(go_format_fixed6(f64::INFINITY), "+Inf");
    }
}
