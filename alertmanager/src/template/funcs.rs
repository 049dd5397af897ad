//! Prometheus' template function map (`template/template.go`), as gtmpl
//! functions. Go's errors from these come out as `error calling NAME: ...`.

use std::collections::HashMap;

use gtmpl::{Func, FuncError, Value};

use super::gofmt::{format_g, time_string_utc};
use super::with_context;

pub(super) const FUNCS: &[(&str, Func)] = &[
    ("query", query as Func),
    ("first", first as Func),
    ("label", label as Func),
    ("value", value as Func),
    ("strvalue", strvalue as Func),
    ("args", args as Func),
    ("reReplaceAll", re_replace_all as Func),
    ("safeHtml", safe_html as Func),
    ("match", match_ as Func),
    ("title", title as Func),
    ("toUpper", to_upper as Func),
    ("toLower", to_lower as Func),
    ("graphLink", graph_link as Func),
    ("tableLink", table_link as Func),
    ("sortByLabel", sort_by_label as Func),
    ("stripPort", strip_port as Func),
    ("stripDomain", strip_domain as Func),
    ("humanize", humanize as Func),
    ("humanize1024", humanize1024 as Func),
    ("humanizeDuration", humanize_duration as Func),
    ("humanizePercentage", humanize_percentage as Func),
    ("humanizeTimestamp", humanize_timestamp as Func),
    ("toTime", to_time as Func),
    ("parseDuration", parse_duration as Func),
];

fn fail(func: &str, msg: impl std::fmt::Display) -> FuncError {
    FuncError::Generic(format!("error calling {func}: {msg}"))
}

fn exactly<'a>(func: &str, args: &'a [Value], n: usize) -> Result<&'a [Value], FuncError> {
    if args.len() != n {
        return Err(FuncError::Generic(format!(
            "wrong number of args for {func}: want {n} got {}",
            args.len()
        )));
    }
    Ok(args)
}

fn string_arg(func: &str, v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        // A missing map entry (gtmpl's "no value") is Go's zero string.
        Value::NoValue | Value::Nil => Ok(String::new()),
        other => Err(FuncError::Generic(format!(
            "wrong type for value; expected string; got {} in call to {func}",
            type_name(other)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::NoValue | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Object(_) => "struct",
        Value::Map(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::Function(_) => "func",
        Value::Number(n) if n.as_f64().is_some() => "float64",
        Value::Number(_) => "int",
    }
}

/// Prometheus' `convertToFloat`: numbers, and strings through
/// `strconv.ParseFloat`.
fn to_float(func: &str, v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Number(n) => Ok(n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64))
            .unwrap_or(0.0)),
        Value::String(s) => parse_float(s).ok_or_else(|| {
            fail(
                func,
                format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"),
            )
        }),
        other => Err(fail(
            func,
            format!("can't convert {} to float", type_name(other)),
        )),
    }
}

/// `strconv.ParseFloat`'s syntax, as far as Rust's parser shares it
/// (decimal and exponent forms, `Inf`/`NaN` in any case, with a sign).
fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

fn one_float(func: &str, args: &[Value]) -> Result<f64, FuncError> {
    let args = exactly(func, args, 1)?;
    to_float(func, &args[0])
}

// --- queries ---------------------------------------------------------------

fn sample(labels: HashMap<String, Value>, v: f64) -> Value {
    let mut s = HashMap::new();
    s.insert("Labels".to_owned(), Value::Map(labels));
    s.insert("Value".to_owned(), super::float_value(v));
    Value::Object(s)
}

fn query(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("query", args, 1)?;
    let q = string_arg("query", &args[0])?;
    with_context(|ctx| {
        let ctx = ctx.ok_or_else(|| fail("query", "no query engine"))?;
        let engine = ctx
            .engine
            .as_ref()
            .ok_or_else(|| fail("query", "no query engine"))?;
        let result = engine.instant(&q, ctx.t_ms).map_err(|e| fail("query", e))?;
        Ok(Value::Array(
            result
                .into_iter()
                .map(|s| {
                    let mut labels: HashMap<String, Value> = s
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), Value::from(l.value.clone())))
                        .collect();
                    for k in &ctx.label_keys {
                        labels.entry(k.clone()).or_insert_with(|| Value::from(""));
                    }
                    sample(labels, s.value)
                })
                .collect(),
        ))
    })
}

fn first(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("first", args, 1)?;
    match &args[0] {
        Value::Array(v) => v
            .first()
            .cloned()
            .ok_or_else(|| fail("first", "first() called on vector with no elements")),
        other => Err(FuncError::Generic(format!(
            "wrong type for value; expected template.queryResult; got {}",
            type_name(other)
        ))),
    }
}

fn sample_field<'a>(func: &str, v: &'a Value, field: &str) -> Result<&'a Value, FuncError> {
    match v {
        Value::Object(o) => o
            .get(field)
            .ok_or_else(|| FuncError::Generic(format!("{func}: not a sample"))),
        other => Err(FuncError::Generic(format!(
            "wrong type for value; expected *template.sample; got {}",
            type_name(other)
        ))),
    }
}

fn sample_label(func: &str, s: &Value, name: &str) -> Result<String, FuncError> {
    match sample_field(func, s, "Labels")? {
        Value::Map(m) | Value::Object(m) => match m.get(name) {
            Some(Value::String(v)) => Ok(v.clone()),
            _ => Ok(String::new()),
        },
        _ => Ok(String::new()),
    }
}

fn label(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("label", args, 2)?;
    let name = string_arg("label", &args[0])?;
    Ok(Value::from(sample_label("label", &args[1], &name)?))
}

fn value(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("value", args, 1)?;
    Ok(sample_field("value", &args[0], "Value")?.clone())
}

fn strvalue(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("strvalue", args, 1)?;
    Ok(Value::from(sample_label(
        "strvalue",
        &args[0],
        "__value__",
    )?))
}

fn sort_by_label(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("sortByLabel", args, 2)?;
    let name = string_arg("sortByLabel", &args[0])?;
    let Value::Array(v) = &args[1] else {
        return Err(FuncError::Generic(format!(
            "wrong type for value; expected template.queryResult; got {}",
            type_name(&args[1])
        )));
    };
    let mut keyed: Vec<(String, Value)> = v
        .iter()
        .map(|s| Ok((sample_label("sortByLabel", s, &name)?, s.clone())))
        .collect::<Result<_, FuncError>>()?;
    keyed.sort_by(|a, b| a.0.cmp(&b.0)); // stable, as sort.Stable
    Ok(Value::Array(keyed.into_iter().map(|(_, s)| s).collect()))
}

fn args(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Map(
        args.iter()
            .enumerate()
            .map(|(i, a)| (format!("arg{i}"), a.clone()))
            .collect(),
    ))
}

// --- strings ---------------------------------------------------------------

fn compile(func: &str, pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::Regex::new(pattern).map_err(|e| {
        fail(
            func,
            format!("regexp: Compile({pattern:?}): error parsing regexp: {e}"),
        )
    })
}

fn re_replace_all(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("reReplaceAll", args, 3)?;
    let pattern = string_arg("reReplaceAll", &args[0])?;
    let repl = string_arg("reReplaceAll", &args[1])?;
    let text = string_arg("reReplaceAll", &args[2])?;
    let re = compile("reReplaceAll", &pattern)?;
    Ok(Value::from(
        re.replace_all(&text, repl.as_str()).into_owned(),
    ))
}

fn match_(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("match", args, 2)?;
    let pattern = string_arg("match", &args[0])?;
    let text = string_arg("match", &args[1])?;
    Ok(Value::from(compile("match", &pattern)?.is_match(&text)))
}

fn safe_html(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("safeHtml", args, 1)?;
    Ok(Value::from(string_arg("safeHtml", &args[0])?))
}

/// Go's `strings.Title`: upper-cases the first letter of each word; word
/// boundaries are anything but letters, digits, `_` and (non-ASCII) marks.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("title", args, 1)?;
    let s = string_arg("title", &args[0])?;
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        };
    }
    Ok(Value::from(out))
}

fn to_upper(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("toUpper", args, 1)?;
    Ok(Value::from(string_arg("toUpper", &args[0])?.to_uppercase()))
}

fn to_lower(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("toLower", args, 1)?;
    Ok(Value::from(string_arg("toLower", &args[0])?.to_lowercase()))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn graph_link(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("graphLink", args, 1)?;
    let expr = string_arg("graphLink", &args[0])?;
    Ok(Value::from(format!(
        "/graph?g0.expr={}&g0.tab=0",
        query_escape(&expr)
    )))
}

fn table_link(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("tableLink", args, 1)?;
    let expr = string_arg("tableLink", &args[0])?;
    Ok(Value::from(format!(
        "/graph?g0.expr={}&g0.tab=1",
        query_escape(&expr)
    )))
}

/// Go's `net.SplitHostPort`, `None` where it errors.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, j, k);
    if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != i {
            return None;
        }
        host = &s[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &s[..i];
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if s[j..].contains('[') || s[k..].contains(']') {
        return None;
    }
    Some((host, &s[i + 1..]))
}

fn strip_port(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("stripPort", args, 1)?;
    let hp = string_arg("stripPort", &args[0])?;
    Ok(Value::from(match split_host_port(&hp) {
        Some((host, _)) => host.to_owned(),
        None => hp,
    }))
}

fn strip_domain(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("stripDomain", args, 1)?;
    let hp = string_arg("stripDomain", &args[0])?;
    let (host, port) = split_host_port(&hp).unwrap_or((hp.as_str(), ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Value::from(hp.clone()));
    }
    let host = host.split('.').next().unwrap_or("");
    Ok(Value::from(if port.is_empty() {
        host.to_owned()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }))
}

// --- numbers ---------------------------------------------------------------

fn g4(v: f64) -> String {
    format_g(v, Some(4))
}

fn humanize(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one_float("humanize", args)?;
    if v == 0.0 || !v.is_finite() {
        return Ok(Value::from(g4(v)));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(Value::from(format!("{}{prefix}", g4(v))))
}

fn humanize1024(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one_float("humanize1024", args)?;
    if v.abs() <= 1.0 || !v.is_finite() {
        return Ok(Value::from(g4(v)));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(Value::from(format!("{}{prefix}", g4(v))))
}

fn humanize_duration(args: &[Value]) -> Result<Value, FuncError> {
    let mut v = one_float("humanizeDuration", args)?;
    if !v.is_finite() {
        return Ok(Value::from(g4(v)));
    }
    if v == 0.0 {
        return Ok(Value::from(format!("{}s", g4(v))));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = v as i64;
        let (seconds, minutes, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        let s = if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
        return Ok(Value::from(s));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(Value::from(format!("{}{prefix}s", g4(v))))
}

fn humanize_percentage(args: &[Value]) -> Result<Value, FuncError> {
    let v = one_float("humanizePercentage", args)?;
    Ok(Value::from(format!("{}%", g4(v * 100.0))))
}

/// Prometheus' `floatToTime`, to Unix milliseconds (model.Time's precision).
/// `Ok(None)` for NaN and infinities.
fn float_to_ms(func: &str, v: f64) -> Result<Option<i64>, FuncError> {
    if !v.is_finite() {
        return Ok(None);
    }
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(fail(
            func,
            format!(
                "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
                super::gofmt::format_v(v)
            ),
        ));
    }
    Ok(Some((ns as i64) / 1_000_000))
}

fn humanize_timestamp(args: &[Value]) -> Result<Value, FuncError> {
    let v = one_float("humanizeTimestamp", args)?;
    match float_to_ms("humanizeTimestamp", v)? {
        None => Ok(Value::from(g4(v))),
        Some(ms) => time_string_utc(ms)
            .map(Value::from)
            .ok_or_else(|| fail("humanizeTimestamp", "time out of range")),
    }
}

/// Prometheus returns a `*time.Time`; gtmpl cannot call its methods, so this
/// gives what printing it gives (`time.Time.String()`).
fn to_time(args: &[Value]) -> Result<Value, FuncError> {
    let v = one_float("toTime", args)?;
    match float_to_ms("toTime", v)? {
        None => Err(fail("toTime", "value is NaN or Inf")),
        Some(ms) => time_string_utc(ms)
            .map(Value::from)
            .ok_or_else(|| fail("toTime", "time out of range")),
    }
}

fn parse_duration(args: &[Value]) -> Result<Value, FuncError> {
    let args = exactly("parseDuration", args, 1)?;
    let s = string_arg("parseDuration", &args[0])?;
    let d = crate::rules::file::parse_duration(&s).map_err(|e| fail("parseDuration", e))?;
    Ok(super::float_value(d.as_secs_f64()))
}
