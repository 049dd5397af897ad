//! The functions available in `line_format`/`label_format` templates: Go's
//! template builtins (`eq`, `printf`, `len`, ...), Loki's own (`ToUpper`,
//! `regexReplaceAll`, `unixEpochMillis`, ...) and the Sprig subset Loki
//! enables (`lower`, `default`, `contains`, `add`, `date`, ...), with Go's
//! argument rules: Go-style functions take typed strings, Sprig ones convert
//! loosely.

use std::time::{SystemTime, UNIX_EPOCH};

use regex::{NoExpand, Regex};

use super::go_format::{format_time_layout, format_value, sprint, sprintf, TemplateValue};
use super::regex_compat::compile_go_regex;
use super::units::{parse_go_duration, parse_humanized_bytes, NANOS_PER_SECOND};

use TemplateValue::{Bool, Float, Int, Nil, Str, Time};

const FUNCTIONS: &[&str] = &[
    // Go builtins.
    "and",
    "or",
    "not",
    "len",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "urlquery",
    // Loki.
    "__line__",
    "__timestamp__",
    "ToLower",
    "ToUpper",
    "Title",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urldecode",
    "urlencode",
    "bytes",
    "duration",
    "duration_seconds",
    "unixEpochMillis",
    "unixEpochNanos",
    // Sprig.
    "b64enc",
    "b64dec",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "date",
    "now",
    "unixEpoch",
    "default",
];

pub(crate) fn function_exists(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

type Outcome = Result<TemplateValue, String>;

fn want(name: &str, args: &[TemplateValue], count: usize) -> Result<(), String> {
    if args.len() == count {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {count} got {}",
            args.len()
        ))
    }
}

fn want_at_least(name: &str, args: &[TemplateValue], count: usize) -> Result<(), String> {
    if args.len() >= count {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want at least {count} got {}",
            args.len()
        ))
    }
}

fn wrong_type(expected: &str, value: &TemplateValue) -> String {
    format!(
        "wrong type for value; expected {expected}; got {}",
        value.type_name()
    )
}

fn string_at(args: &[TemplateValue], index: usize) -> Result<&str, String> {
    match args.get(index) {
        Some(Str(s)) => Ok(s),
        Some(other) => Err(wrong_type("string", other)),
        None => Err("missing argument".to_owned()),
    }
}

fn int_at(args: &[TemplateValue], index: usize) -> Result<i64, String> {
    match args.get(index) {
        Some(Int(i)) => Ok(*i),
        Some(other) => Err(wrong_type("int", other)),
        None => Err("missing argument".to_owned()),
    }
}

fn time_at(args: &[TemplateValue], index: usize) -> Result<i64, String> {
    match args.get(index) {
        Some(Time(t)) => Ok(*t),
        Some(other) => Err(wrong_type("time.Time", other)),
        None => Err("missing argument".to_owned()),
    }
}

fn calling(name: &str, message: impl std::fmt::Display) -> String {
    format!("error calling {name}: {message}")
}

/// spf13/cast `ToInt64`, as Sprig uses: unparsable values are 0.
fn loose_int(value: &TemplateValue) -> i64 {
    match value {
        Int(i) => *i,
        Float(f) => *f as i64,
        Bool(b) => i64::from(*b),
        Str(s) => {
            let trimmed = match s.split_once('.') {
                Some((whole, fraction))
                    if !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') =>
                {
                    whole
                }
                _ => s.as_str(),
            };
            let (negative, digits) = match trimmed.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
            };
            let parsed = if let Some(hex) = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                i64::from_str_radix(hex, 16).ok()
            } else {
                digits.parse::<i64>().ok()
            };
            parsed.map_or(0, |v| if negative { -v } else { v })
        }
        _ => 0,
    }
}

/// spf13/cast `ToFloat64`: unparsable values are 0.
fn loose_float(value: &TemplateValue) -> f64 {
    match value {
        Int(i) => *i as f64,
        Float(f) => *f,
        Bool(b) => f64::from(u8::from(*b)),
        Str(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `empty`.
fn is_empty(value: &TemplateValue) -> bool {
    match value {
        Nil => true,
        Str(s) => s.is_empty(),
        Int(i) => *i == 0,
        Float(f) => *f == 0.0,
        Bool(b) => !b,
        TemplateValue::Labels(labels) => labels.is_empty(),
        Time(_) => false,
    }
}

#[derive(PartialEq)]
enum BasicKind {
    Bool,
    Int,
    Float,
    Str,
    Time,
    Invalid,
}

fn basic_kind(value: &TemplateValue) -> BasicKind {
    match value {
        Bool(_) => BasicKind::Bool,
        Int(_) => BasicKind::Int,
        Float(_) => BasicKind::Float,
        Str(_) => BasicKind::Str,
        Time(_) => BasicKind::Time,
        _ => BasicKind::Invalid,
    }
}

fn go_equal(left: &TemplateValue, right: &TemplateValue) -> Result<bool, String> {
    let (left_kind, right_kind) = (basic_kind(left), basic_kind(right));
    if left_kind != right_kind {
        if left_kind != BasicKind::Invalid && right_kind != BasicKind::Invalid {
            return Err("incompatible types for comparison".to_owned());
        }
        return Ok(false);
    }
    Ok(match (left, right) {
        (Bool(a), Bool(b)) => a == b,
        (Int(a), Int(b)) => a == b,
        (Float(a), Float(b)) => a == b,
        (Str(a), Str(b)) => a == b,
        (Time(a), Time(b)) => a == b,
        _ => false,
    })
}

fn go_less(left: &TemplateValue, right: &TemplateValue) -> Result<bool, String> {
    match (left, right) {
        (Int(a), Int(b)) => Ok(a < b),
        (Float(a), Float(b)) => Ok(a < b),
        (Str(a), Str(b)) => Ok(a < b),
        _ if basic_kind(left) != basic_kind(right) => {
            Err("incompatible types for comparison".to_owned())
        }
        _ => Err("invalid type for comparison".to_owned()),
    }
}

fn comparison(name: &str, args: &[TemplateValue]) -> Outcome {
    if name == "eq" {
        want_at_least(name, args, 1)?;
        if args.len() < 2 {
            return Err(calling(name, "missing argument for comparison"));
        }
        for other in &args[1..] {
            if go_equal(&args[0], other).map_err(|e| calling(name, e))? {
                return Ok(Bool(true));
            }
        }
        return Ok(Bool(false));
    }
    want(name, args, 2)?;
    let (a, b) = (&args[0], &args[1]);
    let result = match name {
        "ne" => go_equal(a, b).map(|eq| !eq),
        "lt" => go_less(a, b),
        "le" => go_less(a, b).and_then(|lt| Ok(lt || go_equal(a, b)?)),
        "gt" => go_less(a, b).and_then(|lt| Ok(!lt && !go_equal(a, b)?)),
        _ => go_less(a, b).map(|lt| !lt),
    };
    result.map(Bool).map_err(|e| calling(name, e))
}

/// Go's `strings.Title`.
fn title_case(text: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphabetic() || c.is_numeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut previous = ' ';
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_separator(previous) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous = c;
    }
    out
}

/// Rune-based `trunc` as Loki defines it.
fn truncate(count: i64, text: &str) -> String {
    let runes: Vec<char> = text.chars().collect();
    let length = runes.len() as i64;
    if count < 0 && length + count > 0 {
        return runes[(length + count) as usize..].iter().collect();
    }
    if count >= 0 && length > count {
        return runes[..count as usize].iter().collect();
    }
    text.to_owned()
}

/// Rune-based `substr` as Loki defines it.
fn substring(start: i64, end: i64, text: &str) -> String {
    let runes: Vec<char> = text.chars().collect();
    let length = runes.len() as i64;
    let end = end.min(length);
    let start = start.min(length);
    if start < 0 {
        if end < 0 {
            return String::new();
        }
        return runes[..end as usize].iter().collect();
    }
    if end < 0 {
        return runes[start as usize..].iter().collect();
    }
    if start > end {
        return String::new();
    }
    runes[start as usize..end as usize].iter().collect()
}

fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn query_unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(value) = hex else {
                    let shown: String = text[index..].chars().take(3).collect();
                    return Err(format!("invalid URL escape {shown:?}"));
                };
                out.push(value);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            other => {
                out.push(other);
                index += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for position in 0..4 {
            if position <= chunk.len() {
                out.push(BASE64_ALPHABET[(group >> (18 - 6 * position) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if bytes.len() & 3 != 0 {
        return Err(format!(
            "illegal base64 data at input byte {}",
            bytes.len() / 4 * 4
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (chunk_index, chunk) in bytes.chunks(4).enumerate() {
        let mut group = 0u32;
        let mut padding = 0;
        for (offset, byte) in chunk.iter().enumerate() {
            let value = match byte {
                b'=' if offset >= 2 && chunk_index == bytes.len() / 4 - 1 => {
                    padding += 1;
                    0
                }
                _ if padding > 0 => {
                    return Err(format!(
                        "illegal base64 data at input byte {}",
                        chunk_index * 4 + offset
                    ))
                }
                other => BASE64_ALPHABET
                    .iter()
                    .position(|a| a == other)
                    .ok_or_else(|| {
                        format!(
                            "illegal base64 data at input byte {}",
                            chunk_index * 4 + offset
                        )
                    })? as u32,
            };
            group = (group << 6) | value;
        }
        let decoded = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Ok(out)
}

fn compile(name: &str, pattern: &str) -> Result<Regex, String> {
    compile_go_regex(pattern).map_err(|e| calling(name, e))
}

/// Calls a template function; errors are worded as Go's template engine does.
pub(crate) fn call_function(name: &str, args: Vec<TemplateValue>) -> Outcome {
    let a = args.as_slice();
    let text = |index: usize| string_at(a, index);
    Ok(match name {
        "and" => {
            want_at_least(name, a, 1)?;
            a.iter()
                .find(|v| !v.is_true())
                .unwrap_or(&a[a.len() - 1])
                .clone()
        }
        "or" => {
            want_at_least(name, a, 1)?;
            a.iter()
                .find(|v| v.is_true())
                .unwrap_or(&a[a.len() - 1])
                .clone()
        }
        "not" => {
            want(name, a, 1)?;
            Bool(!a[0].is_true())
        }
        "len" => {
            want(name, a, 1)?;
            match &a[0] {
                Str(s) => Int(s.len() as i64),
                TemplateValue::Labels(labels) => Int(labels.len() as i64),
                other => return Err(calling(name, format!("len of type {}", other.type_name()))),
            }
        }
        "print" => Str(sprint(a)),
        "println" => {
            let parts: Vec<String> = a.iter().map(format_value).collect();
            Str(format!("{}\n", parts.join(" ")))
        }
        "printf" => {
            want_at_least(name, a, 1)?;
            Str(sprintf(text(0)?, &a[1..]))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => comparison(name, a)?,
        "html" => Str(html_escape(&sprint(a))),
        "urlquery" => Str(query_escape(&sprint(a))),
        "ToLower" | "lower" => {
            want(name, a, 1)?;
            Str(text(0)?.chars().flat_map(char::to_lowercase).collect())
        }
        "ToUpper" | "upper" => {
            want(name, a, 1)?;
            Str(text(0)?.chars().flat_map(char::to_uppercase).collect())
        }
        "Title" | "title" => {
            want(name, a, 1)?;
            Str(title_case(text(0)?))
        }
        "TrimSpace" | "trim" => {
            want(name, a, 1)?;
            Str(text(0)?.trim().to_owned())
        }
        "Trim" | "TrimLeft" | "TrimRight" => {
            want(name, a, 2)?;
            let (subject, cutset) = (text(0)?, text(1)?);
            let in_set = |c: char| cutset.contains(c);
            Str(match name {
                "Trim" => subject.trim_matches(in_set),
                "TrimLeft" => subject.trim_start_matches(in_set),
                _ => subject.trim_end_matches(in_set),
            }
            .to_owned())
        }
        "trimAll" => {
            want(name, a, 2)?;
            let (cutset, subject) = (text(0)?, text(1)?);
            Str(subject
                .trim_matches(|c: char| cutset.contains(c))
                .to_owned())
        }
        "TrimPrefix" => {
            want(name, a, 2)?;
            let (subject, prefix) = (text(0)?, text(1)?);
            Str(subject.strip_prefix(prefix).unwrap_or(subject).to_owned())
        }
        "TrimSuffix" => {
            want(name, a, 2)?;
            let (subject, suffix) = (text(0)?, text(1)?);
            Str(subject.strip_suffix(suffix).unwrap_or(subject).to_owned())
        }
        "trimPrefix" => {
            want(name, a, 2)?;
            let (prefix, subject) = (text(0)?, text(1)?);
            Str(subject.strip_prefix(prefix).unwrap_or(subject).to_owned())
        }
        "trimSuffix" => {
            want(name, a, 2)?;
            let (suffix, subject) = (text(0)?, text(1)?);
            Str(subject.strip_suffix(suffix).unwrap_or(subject).to_owned())
        }
        "Replace" => {
            want(name, a, 4)?;
            let (subject, old, new, count) = (text(0)?, text(1)?, text(2)?, int_at(a, 3)?);
            Str(if count < 0 {
                subject.replace(old, new)
            } else {
                subject.replacen(old, new, count as usize)
            })
        }
        "replace" => {
            want(name, a, 3)?;
            Str(text(2)?.replace(text(0)?, text(1)?))
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            want(name, a, 2)?;
            let (needle, subject) = (text(0)?, text(1)?);
            Bool(match name {
                "contains" => subject.contains(needle),
                "hasPrefix" => subject.starts_with(needle),
                _ => subject.ends_with(needle),
            })
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, a, 3)?;
            let regex = compile(name, text(0)?)?;
            let (subject, replacement) = (text(1)?, text(2)?);
            Str(if name == "regexReplaceAll" {
                regex.replace_all(subject, replacement).into_owned()
            } else {
                regex
                    .replace_all(subject, NoExpand(replacement))
                    .into_owned()
            })
        }
        "count" => {
            want(name, a, 2)?;
            let regex = compile(name, text(0)?)?;
            Int(regex.find_iter(text(1)?).count() as i64)
        }
        "urlencode" => {
            want(name, a, 1)?;
            Str(query_escape(text(0)?))
        }
        "urldecode" => {
            want(name, a, 1)?;
            Str(query_unescape(text(0)?).map_err(|e| calling(name, e))?)
        }
        "bytes" => {
            want(name, a, 1)?;
            Float(parse_humanized_bytes(text(0)?).map_err(|e| calling(name, e))? as f64)
        }
        "duration" | "duration_seconds" => {
            want(name, a, 1)?;
            let nanos = parse_go_duration(text(0)?).map_err(|e| calling(name, e))?;
            Float(nanos as f64 / NANOS_PER_SECOND as f64)
        }
        "unixEpochMillis" => {
            want(name, a, 1)?;
            Str(time_at(a, 0)?.div_euclid(1_000_000).to_string())
        }
        "unixEpochNanos" => {
            want(name, a, 1)?;
            Str(time_at(a, 0)?.to_string())
        }
        "unixEpoch" => {
            want(name, a, 1)?;
            Str(time_at(a, 0)?.div_euclid(NANOS_PER_SECOND).to_string())
        }
        "date" => {
            want(name, a, 2)?;
            let nanos = match &a[1] {
                Time(t) => *t,
                Int(seconds) => seconds.saturating_mul(NANOS_PER_SECOND),
                _ => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64),
            };
            Str(format_time_layout(nanos, text(0)?))
        }
        "now" => {
            want(name, a, 0)?;
            Time(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64),
            )
        }
        "b64enc" => {
            want(name, a, 1)?;
            Str(base64_encode(text(0)?.as_bytes()))
        }
        "b64dec" => {
            want(name, a, 1)?;
            Str(match base64_decode(text(0)?) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(message) => message,
            })
        }
        "trunc" => {
            want(name, a, 2)?;
            Str(truncate(int_at(a, 0)?, text(1)?))
        }
        "substr" => {
            want(name, a, 3)?;
            Str(substring(int_at(a, 0)?, int_at(a, 1)?, text(2)?))
        }
        "repeat" => {
            want(name, a, 2)?;
            let count = usize::try_from(int_at(a, 0)?)
                .map_err(|_| calling(name, "strings: negative Repeat count"))?;
            let subject = text(1)?;
            if subject.len().saturating_mul(count) > 1 << 20 {
                return Err(calling(name, "strings: Repeat output length overflow"));
            }
            Str(subject.repeat(count))
        }
        "indent" | "nindent" => {
            want(name, a, 2)?;
            let padding = " ".repeat(usize::try_from(int_at(a, 0)?).unwrap_or(0).min(1 << 10));
            let indented = format!(
                "{padding}{}",
                text(1)?.replace('\n', &format!("\n{padding}"))
            );
            Str(if name == "nindent" {
                format!("\n{indented}")
            } else {
                indented
            })
        }
        "int" => {
            want(name, a, 1)?;
            Int(loose_int(&a[0]))
        }
        "float64" => {
            want(name, a, 1)?;
            Float(loose_float(&a[0]))
        }
        "add" => Int(a.iter().map(loose_int).fold(0i64, i64::wrapping_add)),
        "sub" => {
            want(name, a, 2)?;
            Int(loose_int(&a[0]).wrapping_sub(loose_int(&a[1])))
        }
        "mul" => {
            want_at_least(name, a, 1)?;
            Int(a.iter().map(loose_int).fold(1i64, i64::wrapping_mul))
        }
        "div" | "mod" => {
            want(name, a, 2)?;
            let (left, right) = (loose_int(&a[0]), loose_int(&a[1]));
            if right == 0 {
                return Err(calling(name, "runtime error: integer divide by zero"));
            }
            Int(if name == "div" {
                left.wrapping_div(right)
            } else {
                left.wrapping_rem(right)
            })
        }
        "addf" => Float(a.iter().map(loose_float).sum()),
        "subf" | "mulf" | "divf" => {
            want_at_least(name, a, 1)?;
            let mut result = loose_float(&a[0]);
            for value in a[1..].iter().map(loose_float) {
                result = match name {
                    "subf" => result - value,
                    "mulf" => result * value,
                    _ if value == 0.0 => return Err(calling(name, "decimal division by 0")),
                    _ => result / value,
                };
            }
            Float(result)
        }
        "max" | "min" => {
            want_at_least(name, a, 1)?;
            let values = a.iter().map(loose_int);
            Int(if name == "max" {
                values.max()
            } else {
                values.min()
            }
            .unwrap_or(0))
        }
        "maxf" | "minf" => {
            want_at_least(name, a, 1)?;
            let mut result = loose_float(&a[0]);
            for value in a[1..].iter().map(loose_float) {
                result = if name == "maxf" {
                    result.max(value)
                } else {
                    result.min(value)
                };
            }
            Float(result)
        }
        "ceil" => {
            want(name, a, 1)?;
            Float(loose_float(&a[0]).ceil())
        }
        "floor" => {
            want(name, a, 1)?;
            Float(loose_float(&a[0]).floor())
        }
        "round" => {
            want_at_least(name, a, 2)?;
            let round_on = a.get(2).map_or(0.5, loose_float);
            let power = 10f64.powf(loose_float(&a[1]));
            let digit = power * loose_float(&a[0]);
            let fraction = digit.fract();
            let rounded = if fraction >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Float(rounded / power)
        }
        "default" => {
            want_at_least(name, a, 1)?;
            match a.get(1) {
                Some(given) if !is_empty(given) => given.clone(),
                _ => a[0].clone(),
            }
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[TemplateValue]) -> Outcome {
        call_function(name, args.to_vec())
    }

    fn s(text: &str) -> TemplateValue {
        Str(text.to_owned())
    }

    #[test]
    fn string_functions() {
        assert_eq!(call("ToUpper", &[s("abc")]), Ok(s("ABC")));
        assert_eq!(
            call("Title", &[s("hello wide-world")]),
            Ok(s("Hello Wide-World"))
        );
        assert_eq!(
            call("Replace", &[s("aaa"), s("a"), s("b"), Int(2)]),
            Ok(s("bba"))
        );
        assert_eq!(call("Trim", &[s("xxhixx"), s("x")]), Ok(s("hi")));
        assert_eq!(
            call("TrimPrefix", &[s("prefix-rest"), s("prefix-")]),
            Ok(s("rest"))
        );
        assert_eq!(
            call("trimPrefix", &[s("prefix-"), s("prefix-rest")]),
            Ok(s("rest"))
        );
        assert_eq!(
            call("replace", &[s("-"), s("_"), s("a-b-c")]),
            Ok(s("a_b_c"))
        );
        assert_eq!(call("contains", &[s("b"), s("abc")]), Ok(Bool(true)));
        assert_eq!(call("hasSuffix", &[s("z"), s("abc")]), Ok(Bool(false)));
        assert_eq!(call("trunc", &[Int(-2), s("hello")]), Ok(s("lo")));
        assert_eq!(call("substr", &[Int(1), Int(3), s("hello")]), Ok(s("el")));
        assert_eq!(call("b64enc", &[s("hi!")]), Ok(s("aGkh")));
        assert_eq!(call("b64dec", &[s("aGkh")]), Ok(s("hi!")));
        assert_eq!(call("urlencode", &[s("a b&c")]), Ok(s("a+b%26c")));
        assert_eq!(call("urldecode", &[s("a+b%26c")]), Ok(s("a b&c")));
        assert_eq!(call("default", &[s("d"), s("")]), Ok(s("d")));
        assert_eq!(call("default", &[s("d"), s("given")]), Ok(s("given")));
        assert_eq!(
            call("regexReplaceAllLiteral", &[s("a"), s("banana"), s("$1")]),
            Ok(s("b$1n$1n$1"))
        );
        assert_eq!(call("count", &[s("a"), s("banana")]), Ok(Int(3)));
    }

    #[test]
    fn numbers_and_conversions() {
        assert_eq!(call("add", &[Int(1), s("2"), Float(3.9)]), Ok(Int(6)));
        assert_eq!(call("div", &[Int(7), Int(2)]), Ok(Int(3)));
        assert_eq!(call("divf", &[Int(7), Int(2)]), Ok(Float(3.5)));
        assert_eq!(call("max", &[Int(1), Int(5), Int(3)]), Ok(Int(5)));
        assert_eq!(call("round", &[Float(2.34567), Int(2)]), Ok(Float(2.35)));
        assert_eq!(call("bytes", &[s("2KiB")]), Ok(Float(2048.0)));
        assert_eq!(call("duration", &[s("1m30s")]), Ok(Float(90.0)));
        assert_eq!(call("int", &[s("12.00")]), Ok(Int(12)));
        assert_eq!(
            call("div", &[Int(1), Int(0)]),
            Err("error calling div: runtime error: integer divide by zero".to_owned())
        );
    }

    #[test]
    fn comparisons_follow_go_rules() {
        assert_eq!(call("eq", &[s("a"), s("b"), s("a")]), Ok(Bool(true)));
        assert_eq!(call("ne", &[Int(1), Int(2)]), Ok(Bool(true)));
        assert_eq!(call("lt", &[s("a"), s("b")]), Ok(Bool(true)));
        assert_eq!(call("ge", &[Int(2), Int(2)]), Ok(Bool(true)));
        assert_eq!(
            call("eq", &[s("1"), Int(1)]),
            Err("error calling eq: incompatible types for comparison".to_owned())
        );
        assert_eq!(
            call("ToUpper", &[s("a"), s("b")]),
            Err("wrong number of args for ToUpper: want 1 got 2".to_owned())
        );
        assert_eq!(call("and", &[s("x"), s("")]), Ok(s("")));
        assert_eq!(call("or", &[s(""), s("y")]), Ok(s("y")));
        assert_eq!(call("len", &[s("héllo")]), Ok(Int(6)));
    }

    #[test]
    fn time_functions() {
        let t = Time(1_234_567_890_123_456_789);
        assert_eq!(
            call("unixEpoch", std::slice::from_ref(&t)),
            Ok(s("1234567890"))
        );
        assert_eq!(
            call("unixEpochMillis", std::slice::from_ref(&t)),
            Ok(s("1234567890123"))
        );
        assert_eq!(call("date", &[s("2006-01-02"), t]), Ok(s("2009-02-13")));
    }
}
