//! The promqltest script language (Prometheus' `promql/promqltest/testdata/*.test`)
//! and a runner that executes a script against our [`Engine`].
//!
//! [`parse`] turns a script into [`Command`]s; [`run_script`] loads data
//! through a [`Storage`] the caller provides, evaluates every `eval` and
//! reports one [`Outcome`] per eval. Language and comparison rules follow the
//! upstream runner (`promql/promqltest/test.go` and its README in
//! prometheus/prometheus); in short:
//!
//! - lines are trimmed; a `#` comment counts as an empty line, and an empty
//!   line ends a `load` or `eval` block;
//! - `load <interval>` lines are `<series> <values>` in the expanding notation
//!   (`0+10x3`, `1 _x3 stale`, `{{...}}`); slot `i` is at `i * interval`;
//! - `eval instant at <t> <expr>` / `eval range from <a> to <b> step <s> <expr>`
//!   are followed by `expect ...` lines and the expected result: series lines
//!   (an instant eval takes one value each), a bare number for a scalar, or
//!   `expect string "..."`; nothing means an empty result;
//! - results match when they hold exactly the expected label sets (order
//!   ignored unless `expect ordered`), floats within a relative 1e-6
//!   ([`almost_equal`]), and range results at exactly the expected steps;
//!   matrices must be sorted by labels; an error text must equal
//!   `expect fail msg:` / `expected_fail_message` (`PromqlError`'s `Display`)
//!   or match `expect fail regex:` / `expected_fail_regexp`.
//!
//! What the runner does not check, on purpose:
//!
//! - **Native histograms.** An eval is skipped when its expected lines hold a
//!   `{{...}}` histogram, or when native histograms were loaded since the last
//!   `clear` and one of the expression's selectors may match a series holding
//!   them (`load_with_nhcb` counts as loading `X` for every classic `X_bucket`,
//!   `X_count`, `X_sum`). Histogram slots of a load are not stored.
//! - **Start timestamps.** Every eval of a script with `@st` lines is skipped.
//! - **Annotations** (`expect warn`, `expect info`, `expect no_warn`,
//!   `expect no_info`, `eval_warn`, `eval_info`) are parsed but only checked
//!   when [`RunOptions::check_annotations`] is set; values are always checked.
//! - **Syntax `promql-parser` lacks.** When the engine answers
//!   [`PromqlError::Parse`] and `promql_parser::parser::parse` also refuses the
//!   text, the eval is skipped rather than failed (upstream enables experimental
//!   syntax: `anchored`/`smoothed`, `fill()`, duration arithmetic, `info()`...).
//! - **Step invariance** (the upstream runner's second extra check, which
//!   re-runs every instant eval with `@ t` pinned on each selector at several
//!   other evaluation times) is not performed. The first extra check, range-mode
//!   consistency, is: every instant eval that is not `ordered`, `expect string`,
//!   `expect range vector`, or using `start()`/`end()`/`range()`/`step()` is
//!   also run as a range query `t-1m..t+1m` step `1m`, whose point at `t` must
//!   match the expected lines too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use model::sample::STALE_NAN_BITS;
use model::{Label, Labels, MatchOp, Matcher, Sample};

use super::{Engine, PromqlError, Value};
use crate::querier::{Querier, Series};

/// A parsed script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub commands: Vec<Command>,
    /// Whether a `load` block has start-timestamp (`@st`) lines. The runner
    /// skips every eval of such a script.
    pub uses_start_timestamps: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Throw away all stored data.
    Clear {
        line: usize,
    },
    Load(Load),
    Eval(Box<Eval>),
}

/// A `load <interval>` or `load_with_nhcb <interval>` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// 1-based line of the `load` header.
    pub line: usize,
    pub interval_ms: i64,
    /// `load_with_nhcb`: classic histograms are also stored as native
    /// histograms with custom buckets.
    pub with_nhcb: bool,
    /// In label order; a series written twice keeps its last line.
    pub series: Vec<SeriesValues>,
}

/// A series line: a label set and its expanded value slots.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesValues {
    pub labels: Labels,
    pub slots: Vec<Slot>,
}

/// One expanded value slot of a series line.
#[derive(Clone, Copy, Debug)]
pub enum Slot {
    /// `_`: no sample here, but time advances.
    Empty,
    /// A float, possibly the stale marker (`stale`).
    Float(f64),
    /// A native-histogram sample (`{{...}}`), not interpreted.
    Histogram,
}

impl PartialEq for Slot {
    /// Floats compare by bits, so `NaN == NaN` and stale markers are told apart.
    fn eq(&self, other: &Slot) -> bool {
        match (self, other) {
            (Slot::Empty, Slot::Empty) | (Slot::Histogram, Slot::Histogram) => true,
            (Slot::Float(a), Slot::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

/// When an `eval` is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalTime {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// How an error or annotation text is matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextMatch {
    /// No text given: anything matches.
    Any,
    /// The whole text must be equal (after trimming the expectation).
    Exact(String),
    /// An unanchored regular expression must find a match.
    Regex(String),
}

impl TextMatch {
    pub fn matches(&self, text: &str) -> bool {
        match self {
            TextMatch::Any => true,
            TextMatch::Exact(expected) => expected == text,
            TextMatch::Regex(pattern) => unanchored_regex(pattern)
                .map(|m| m.matches(text))
                .unwrap_or(false),
        }
    }
}

impl std::fmt::Display for TextMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextMatch::Any => f.write_str("anything"),
            TextMatch::Exact(text) => write!(f, "{text:?}"),
            TextMatch::Regex(pattern) => write!(f, "regex {pattern:?}"),
        }
    }
}

/// What an eval expects of one kind of annotation (warnings or infos).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnotationExpectation {
    /// `eval_warn` / `eval_info`: at least one annotation of this kind.
    pub required: bool,
    /// `expect no_warn` / `expect no_info`.
    pub forbidden: bool,
    /// `expect warn` / `expect info` lines: each must match an annotation, and
    /// each annotation must match one of them.
    pub patterns: Vec<TextMatch>,
}

/// An `eval` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Eval {
    /// 1-based line of the `eval` header.
    pub line: usize,
    pub expr: String,
    pub time: EvalTime,
    /// `Some` when the query must fail; every element must match the error
    /// (`eval_fail` alone gives `Some(vec![])`).
    pub fail: Option<Vec<TextMatch>>,
    /// `eval_ordered` or `expect ordered`.
    pub ordered: bool,
    pub warnings: AnnotationExpectation,
    pub infos: AnnotationExpectation,
    /// `expect range vector from <a> to <b> step <s>`: the instant query
    /// returns a range vector whose i-th expected value is at `a + i*s`.
    pub range_vector: Option<(i64, i64, i64)>,
    /// `expect string "<text>"`.
    pub string: Option<String>,
    /// A bare-number line: the result must be a scalar.
    pub scalar: Option<f64>,
    /// Expected series lines; none (and no scalar or string) means an empty
    /// result.
    pub series: Vec<SeriesValues>,
}

impl Eval {
    pub fn is_instant(&self) -> bool {
        matches!(self.time, EvalTime::Instant { .. })
    }

    fn expects_histograms(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.slots.contains(&Slot::Histogram))
    }

    /// Whether upstream's range-mode consistency check applies.
    fn checked_in_range_mode(&self) -> bool {
        self.is_instant()
            && self.fail.is_none()
            && self.range_vector.is_none()
            && self.string.is_none()
            && !["start()", "end()", "range()", "step()"]
                .iter()
                .any(|f| self.expr.contains(f))
    }
}

/// A script that does not follow the language.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                ""
            } else {
                line
            }
        })
        .collect();
    let mut script = Script {
        commands: Vec::new(),
        uses_start_timestamps: false,
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.is_empty() {
            i += 1;
            continue;
        }
        let word = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let error = |message: String| ScriptError {
            line: i + 1,
            message,
        };
        if word == "clear" {
            script.commands.push(Command::Clear { line: i + 1 });
            i += 1;
        } else if word.starts_with("load") {
            let (load, next) = parse_load(&lines, i, &mut script.uses_start_timestamps)?;
            script.commands.push(Command::Load(load));
            i = next;
        } else if word.starts_with("eval") {
            let (eval, next) = parse_eval(&lines, i)?;
            script.commands.push(Command::Eval(Box::new(eval)));
            i = next;
        } else {
            return Err(error(format!("invalid command {line:?}")));
        }
    }
    Ok(script)
}

/// The block's lines after the header at `header`: up to the next empty line.
fn block_end(lines: &[&str], header: usize) -> usize {
    lines[header + 1..]
        .iter()
        .position(|l| l.is_empty())
        .map_or(lines.len(), |p| header + 1 + p)
}

fn parse_load(
    lines: &[&str],
    header: usize,
    uses_start_timestamps: &mut bool,
) -> Result<(Load, usize), ScriptError> {
    let error = |line: usize, message: String| ScriptError {
        line: line + 1,
        message,
    };
    let (word, interval) = split_word(lines[header]);
    let with_nhcb = match word {
        "load" => false,
        "load_with_nhcb" => true,
        _ => {
            return Err(error(
                header,
                "invalid load command, want `load[_with_nhcb] <interval>`".into(),
            ))
        }
    };
    let interval_ms = parse_duration_ms(interval.trim())
        .map_err(|e| error(header, format!("invalid load interval: {e}")))?;
    let end = block_end(lines, header);
    let mut series: BTreeMap<Labels, Vec<Slot>> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate().take(end).skip(header + 1) {
        if is_start_timestamp_line(line) {
            *uses_start_timestamps = true;
            continue;
        }
        let parsed = parse_series_line(line).map_err(|e| error(i, e))?;
        series.insert(parsed.labels, parsed.slots);
    }
    let load = Load {
        line: header + 1,
        interval_ms,
        with_nhcb,
        series: series
            .into_iter()
            .map(|(labels, slots)| SeriesValues { labels, slots })
            .collect(),
    };
    Ok((load, end))
}

/// `name{...}@st <offsets>` or a standalone `@st <offsets>`.
fn is_start_timestamp_line(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .is_some_and(|first| first.ends_with("@st"))
}

fn parse_eval(lines: &[&str], header: usize) -> Result<(Eval, usize), ScriptError> {
    let line_error = |line: usize, message: String| ScriptError {
        line: line + 1,
        message,
    };
    let error = |message: String| line_error(header, message);
    let invalid = || {
        error(
            "invalid eval command, want `eval[_fail|_warn|_info|_ordered] instant at <time> <expr>` \
             or `eval[_fail|_warn|_info] range from <start> to <end> step <step> <expr>`"
                .into(),
        )
    };
    let (word, rest) = split_word(lines[header]);
    let (fail, warn, info, ordered) = match word {
        "eval" => (false, false, false, false),
        "eval_fail" => (true, false, false, false),
        "eval_warn" => (false, true, false, false),
        "eval_info" => (false, false, true, false),
        "eval_ordered" => (false, false, false, true),
        _ => return Err(invalid()),
    };
    let duration = |text: &str, what: &str| {
        parse_duration_ms(text).map_err(|e| error(format!("invalid {what} {text:?}: {e}")))
    };
    let (kind, rest) = split_word(rest);
    let (time, expr) = match kind {
        "instant" => {
            let (at, rest) = split_word(rest);
            if at != "at" {
                return Err(error("an instant eval needs `at <time>`".into()));
            }
            let (at, expr) = split_word(rest);
            (
                EvalTime::Instant {
                    at_ms: duration(at, "evaluation time")?,
                },
                expr,
            )
        }
        "range" if !ordered => {
            let mut rest = rest;
            let mut values = [0i64; 3];
            for (keyword, value) in ["from", "to", "step"].into_iter().zip(&mut values) {
                let (found, after) = split_word(rest);
                if found != keyword {
                    return Err(invalid());
                }
                let (text, after) = split_word(after);
                *value = duration(text, keyword)?;
                rest = after;
            }
            let [start_ms, end_ms, step_ms] = values;
            if end_ms < start_ms {
                return Err(error("the range ends before it starts".into()));
            }
            (
                EvalTime::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                },
                rest,
            )
        }
        _ => return Err(invalid()),
    };
    let expr = expr.trim();
    if expr.is_empty() {
        return Err(invalid());
    }
    let mut eval = Eval {
        line: header + 1,
        expr: expr.to_string(),
        time,
        fail: fail.then(Vec::new),
        ordered,
        warnings: AnnotationExpectation {
            required: warn,
            ..Default::default()
        },
        infos: AnnotationExpectation {
            required: info,
            ..Default::default()
        },
        range_vector: None,
        string: None,
        scalar: None,
        series: Vec::new(),
    };

    let end = block_end(lines, header);
    let mut i = header + 1;
    while i < end {
        let line = lines[i];
        let line_index = i;
        let error = |message: String| line_error(line_index, message);
        i += 1;
        if fail {
            if let Some(message) = line.strip_prefix("expected_fail_message") {
                push_fail(&mut eval, TextMatch::Exact(message.trim().to_string()));
                break;
            }
            if let Some(pattern) = line.strip_prefix("expected_fail_regexp") {
                let pattern = pattern.trim().to_string();
                unanchored_regex(&pattern).map_err(error)?;
                push_fail(&mut eval, TextMatch::Regex(pattern));
                break;
            }
        }
        if let Some(rest) = line.strip_prefix("expect range vector") {
            let mut values = [0i64; 3];
            let mut rest = rest;
            for (keyword, value) in ["from", "to", "step"].into_iter().zip(&mut values) {
                let (found, after) = split_word(rest);
                let (text, after) = split_word(after);
                if found != keyword {
                    return Err(error(format!("invalid range vector definition {line:?}")));
                }
                *value = parse_duration_ms(text)
                    .map_err(|e| error(format!("invalid {keyword} {text:?}: {e}")))?;
                rest = after;
            }
            if !rest.trim().is_empty() || values[1] < values[0] {
                return Err(error(format!("invalid range vector definition {line:?}")));
            }
            eval.range_vector = Some((values[0], values[1], values[2]));
            continue;
        }
        if line.starts_with("expect string") {
            let quoted = line
                .strip_prefix("expect string ")
                .map(str::trim)
                .unwrap_or_default();
            let text = go_unquote(quoted).map_err(|e| {
                error(format!(
                    "expected string literal not valid ({e}): a quoted string literal is required"
                ))
            })?;
            eval.string = Some(text);
            continue;
        }
        if line.split_whitespace().next() == Some("expect") {
            parse_expect(line, &mut eval).map_err(error)?;
            continue;
        }
        if let Some(value) = parse_go_number(line) {
            eval.scalar = Some(value);
            break;
        }
        let parsed = parse_series_line(line).map_err(error)?;
        if parsed.slots.len() > 1 && eval.is_instant() && eval.range_vector.is_none() {
            return Err(error(
                "several values in an instant eval: use `expect range vector` for a range vector result"
                    .into(),
            ));
        }
        eval.series.retain(|s| s.labels != parsed.labels);
        eval.series.push(parsed);
    }
    Ok((eval, i))
}

fn push_fail(eval: &mut Eval, matcher: TextMatch) {
    eval.fail.get_or_insert_with(Vec::new).push(matcher);
}

/// `expect <ordered|fail|warn|no_warn|info|no_info> [msg: <text> | regex: <re>]`.
fn parse_expect(line: &str, eval: &mut Eval) -> Result<(), String> {
    let invalid =
        || format!("invalid expect line {line:?}: want `expect <type> [msg|regex: <text>]`");
    let rest = line.strip_prefix("expect").ok_or_else(invalid)?;
    let (kind, rest) = split_word(rest);
    let rest = rest.trim();
    let matcher = if rest.is_empty() {
        TextMatch::Any
    } else if let Some(text) = rest.strip_prefix("msg:").filter(|t| !t.is_empty()) {
        TextMatch::Exact(text.trim().to_string())
    } else if let Some(pattern) = rest.strip_prefix("regex:").filter(|t| !t.is_empty()) {
        let pattern = pattern.trim().to_string();
        unanchored_regex(&pattern)?;
        TextMatch::Regex(pattern)
    } else {
        return Err(invalid());
    };
    match kind {
        "ordered" => eval.ordered = true,
        "fail" => {
            if eval.fail.as_ref().is_some_and(|f| !f.is_empty()) {
                return Err("only one `expect fail` per eval".into());
            }
            push_fail(eval, matcher);
        }
        "warn" => eval.warnings.patterns.push(matcher),
        "info" => eval.infos.patterns.push(matcher),
        "no_warn" => eval.warnings.forbidden = true,
        "no_info" => eval.infos.forbidden = true,
        _ => return Err(invalid()),
    }
    if eval.warnings.forbidden && !eval.warnings.patterns.is_empty() {
        return Err("`expect warn` and `expect no_warn` cannot be used together".into());
    }
    if eval.infos.forbidden && !eval.infos.patterns.is_empty() {
        return Err("`expect info` and `expect no_info` cannot be used together".into());
    }
    Ok(())
}

/// Compiles `pattern` (RE2 syntax) to find a match anywhere in a text. The
/// model's matchers are anchored and dot-all, so the pattern is wrapped back.
fn unanchored_regex(pattern: &str) -> Result<Matcher, String> {
    Matcher::new(
        MatchOp::RegexMatch,
        "text",
        format!("(?s:.*?)(?-s:{pattern})(?s:.*)"),
    )
    .map_err(|e| format!("invalid regular expression {pattern:?}: {}", e.reason))
}

/// The first whitespace-separated word and the rest (leading space removed).
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

/// A Prometheus duration (`model.ParseDuration`): `0`, or units in
/// decreasing order from `y w d h m s ms`, e.g. `1h30m`, `10s53ms`.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let invalid = || format!("not a valid duration: {text:?}");
    let mut rest = text;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let count: i64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            6
        } else {
            UNITS[..6]
                .iter()
                .position(|(u, _)| rest.starts_with(u))
                .ok_or_else(invalid)?
        };
        if unit < next_unit {
            return Err(invalid());
        }
        next_unit = unit + 1;
        rest = &rest[UNITS[unit].0.len()..];
        total = count
            .checked_mul(UNITS[unit].1)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("duration out of range: {text:?}"))?;
    }
    Ok(total)
}

/// A bare number as Go's `strconv.ParseInt(s, 0, 64)` then `ParseFloat` read
/// it: `3`, `-0.5`, `1e3`, `0x10`, `Inf`, `NaN`.
fn parse_go_number(text: &str) -> Option<f64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let radix_digits = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| lower.strip_prefix(prefix).map(|d| (d, *radix)))
        .or_else(|| (lower.len() > 1 && lower.starts_with('0')).then(|| (&lower[1..], 8)));
    if let Some((body, radix)) = radix_digits {
        let body = body.replace('_', "");
        if let Ok(n) = i64::from_str_radix(&body, radix) {
            return Some(if negative { -(n as f64) } else { n as f64 });
        }
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let parsed: f64 = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if lower.contains(|c: char| c.is_ascii_alphabetic() && c != 'e') => return None,
        _ => digits.parse().ok()?,
    };
    Some(if negative { -parsed } else { parsed })
}

/// Parses `<series> <values>`: a selector literal with `=` only, then values
/// in the expanding notation. Also what `promtool test rules` files hold
/// (`series:` and `values:`).
pub fn parse_series_line(line: &str) -> Result<SeriesValues, String> {
    let (pairs, rest) = parse_series_labels(line)?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("unexpected {rest:?} after the series in {line:?}"));
    }
    let slots = parse_values(rest).map_err(|e| format!("{e} in {line:?}"))?;
    Ok(SeriesValues {
        labels: labels_from_pairs(pairs),
        slots,
    })
}

/// A label set from pairs in any order: sorted, empty values dropped (an
/// empty value means "absent"), a repeated name keeping its last value.
/// Not validated: result label sets may lack `__name__`.
fn labels_from_pairs(pairs: LabelPairs) -> Labels {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in pairs {
        by_name.insert(name, value);
    }
    Labels::from_sorted_unchecked(
        by_name
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| Label::new(name, value))
            .collect(),
    )
}

/// `name`, `name{l="v", ...}`, `{"name", l="v"}` or `{}`; returns the pairs
/// and what follows the series.
/// Label name/value pairs as written, in any order.
type LabelPairs = Vec<(String, String)>;

fn parse_series_labels(line: &str) -> Result<(LabelPairs, &str), String> {
    let is_name_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut pairs = Vec::new();
    let mut rest = line;
    if rest.starts_with(is_name_start) {
        let end = rest.find(|c| !is_name_char(c)).unwrap_or(rest.len());
        pairs.push((model::METRIC_NAME.to_string(), rest[..end].to_string()));
        rest = &rest[end..];
    } else if !rest.starts_with('{') {
        return Err(format!(
            "a series line must start with a metric name or `{{`: {line:?}"
        ));
    }
    let Some(mut inside) = rest.strip_prefix('{') else {
        return Ok((pairs, rest));
    };
    loop {
        inside = inside.trim_start();
        if let Some(after) = inside.strip_prefix('}') {
            return Ok((pairs, after));
        }
        let (name, after, quoted) = if inside.starts_with(['"', '\'', '`']) {
            let (name, after) = take_quoted(inside)?;
            (name, after, true)
        } else {
            let end = inside
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(inside.len());
            if end == 0 || inside.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(format!("invalid label name in {line:?}"));
            }
            (inside[..end].to_string(), &inside[end..], false)
        };
        inside = after.trim_start();
        if let Some(after) = inside.strip_prefix('=') {
            let (value, after) = take_quoted(after.trim_start())?;
            pairs.push((name, value));
            inside = after.trim_start();
        } else if quoted {
            pairs.push((model::METRIC_NAME.to_string(), name));
        } else {
            return Err(format!("expected `=` after label {name:?} in {line:?}"));
        }
        if let Some(after) = inside.strip_prefix(',') {
            inside = after;
        } else if !inside.starts_with('}') {
            return Err(format!("expected `,` or `}}` in {line:?}"));
        }
    }
}

/// Reads one quoted string (`"..."`, `'...'` with Go escapes; `` `...` ``
/// raw) from the start of `text`; returns its value and what follows.
fn take_quoted(text: &str) -> Result<(String, &str), String> {
    let quote = text
        .chars()
        .next()
        .filter(|c| ['"', '\'', '`'].contains(c))
        .ok_or_else(|| format!("expected a quoted string at {text:?}"))?;
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote != '`' {
            escaped = true;
        } else if c == quote {
            let value = unescape(&text[1..i], quote)?;
            return Ok((value, &text[i + 1..]));
        }
    }
    Err(format!("unterminated string {text:?}"))
}

/// Go's `strconv.Unquote` for a whole literal: `"..."`, `` `...` `` (or a
/// single-quoted string, which PromQL allows).
fn go_unquote(literal: &str) -> Result<String, String> {
    let (value, rest) = take_quoted(literal)?;
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the string"));
    }
    Ok(value)
}

/// Go string escapes: `\n \t \\ \" \xHH \ooo \uHHHH \UHHHHHHHH`... Raw bytes
/// from `\x`/octal escapes that do not form UTF-8 are replaced.
fn unescape(body: &str, quote: char) -> Result<String, String> {
    if quote == '`' {
        return Ok(body.to_string());
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    let invalid = || format!("invalid escape in {body:?}");
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buffer = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        let escape = chars.next().ok_or_else(invalid)?;
        let simple = match escape {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' | '"' | '\'' => Some(escape as u8),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        let mut take_hex = |n: usize| -> Result<u32, String> {
            let digits: String = chars.by_ref().take(n).collect();
            if digits.len() != n {
                return Err(invalid());
            }
            u32::from_str_radix(&digits, 16).map_err(|_| invalid())
        };
        match escape {
            'x' => out.push(take_hex(2)? as u8),
            'u' | 'U' => {
                let code = take_hex(if escape == 'u' { 4 } else { 8 })?;
                let c = char::from_u32(code).ok_or_else(invalid)?;
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let code = u32::from_str_radix(&format!("{escape}{rest}"), 8)
                    .ok()
                    .filter(|code| rest.len() == 2 && *code <= 0xff)
                    .ok_or_else(invalid)?;
                out.push(code as u8);
            }
            _ => return Err(invalid()),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Expands the value list of a series line.
fn parse_values(text: &str) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let consumed = if rest.starts_with("{{") {
            expand_histogram_item(rest, &mut slots)?
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            expand_item(&rest[..end], &mut slots)?;
            end
        };
        let after = &rest[consumed..];
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return Err(format!("unexpected {after:?} after a value"));
        }
        rest = after.trim_start();
    }
    Ok(slots)
}

/// `{{...}}`, `{{...}}xN`, `{{A}}+{{B}}xN` or `{{A}}-{{B}}xN` at the start
/// of `text`; returns the bytes consumed.
fn expand_histogram_item(text: &str, slots: &mut Vec<Slot>) -> Result<usize, String> {
    let histogram_len = |at: &str| {
        at.find("}}")
            .map(|close| close + 2)
            .ok_or_else(|| format!("unterminated histogram {text:?}"))
    };
    let mut end = histogram_len(text)?;
    let mut repeat = 0;
    let rest = &text[end..];
    if rest.starts_with(['+', '-']) && rest[1..].starts_with("{{") {
        end += 1 + histogram_len(&rest[1..])?;
        let (count, digits) = take_repeat(&text[end..])
            .ok_or_else(|| format!("expected `xN` after {:?}", &text[..end]))?;
        repeat = count;
        end += digits;
    } else if let Some((count, digits)) = take_repeat(rest) {
        repeat = count;
        end += digits;
    }
    push_repeated(slots, Slot::Histogram, repeat + 1)?;
    Ok(end)
}

/// `xN` at the start of `text`: N and the bytes it takes.
fn take_repeat(text: &str) -> Option<(u64, usize)> {
    let digits = text.strip_prefix('x')?;
    let len = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let count = digits[..len].parse().ok()?;
    Some((count, 1 + len))
}

fn push_repeated(slots: &mut Vec<Slot>, slot: Slot, count: u64) -> Result<(), String> {
    const MAX_SLOTS: u64 = 10_000_000;
    if slots.len() as u64 + count > MAX_SLOTS {
        return Err(format!("more than {MAX_SLOTS} values in one series"));
    }
    slots.extend(std::iter::repeat_n(slot, count as usize));
    Ok(())
}

/// One whitespace-free item: `v`, `axN`, `a+bxN`, `a-bxN`, `_`, `_xN`, `stale`.
fn expand_item(item: &str, slots: &mut Vec<Slot>) -> Result<(), String> {
    let invalid = || format!("invalid value {item:?}");
    if item == "_" {
        slots.push(Slot::Empty);
        return Ok(());
    }
    if let Some(rest) = item.strip_prefix('_') {
        let (count, len) = take_repeat(rest).ok_or_else(invalid)?;
        if len != rest.len() {
            return Err(invalid());
        }
        return push_repeated(slots, Slot::Empty, count);
    }
    if item == "stale" {
        slots.push(Slot::Float(f64::from_bits(STALE_NAN_BITS)));
        return Ok(());
    }
    let (first, rest) = take_number(item, true).ok_or_else(invalid)?;
    if rest.is_empty() {
        slots.push(Slot::Float(first));
        return Ok(());
    }
    if let Some((count, len)) = take_repeat(rest) {
        if len != rest.len() {
            return Err(invalid());
        }
        return push_repeated(slots, Slot::Float(first), count + 1);
    }
    let sign = match rest.as_bytes()[0] {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return Err(invalid()),
    };
    let (increment, rest) = take_number(&rest[1..], false).ok_or_else(invalid)?;
    let (count, len) = take_repeat(rest).ok_or_else(invalid)?;
    if len != rest.len() {
        return Err(invalid());
    }
    push_repeated(slots, Slot::Empty, count + 1)?;
    // Accumulated like upstream's parser does, one addition per step.
    let expanded = slots.len() - (count as usize + 1);
    let mut value = first;
    for slot in &mut slots[expanded..] {
        *slot = Slot::Float(value);
        value += sign * increment;
    }
    Ok(())
}

/// A number at the start of `text`: decimal with optional fraction and
/// exponent, `Inf`, `NaN`, or a duration (read as seconds). `signed` allows
/// a leading `+`/`-`. Hexadecimal is not read: `0x5` is `0` repeated.
fn take_number(text: &str, signed: bool) -> Option<(f64, &str)> {
    let (sign, body) = match text.as_bytes().first()? {
        b'+' if signed => (1.0, &text[1..]),
        b'-' if signed => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    let lower = body.get(..3).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("inf") => return Some((sign * f64::INFINITY, &body[3..])),
        Some("nan") => return Some((f64::NAN, &body[3..])),
        _ => {}
    }
    let bytes = body.as_bytes();
    let mut end = bytes
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(bytes.len());
    if end == 0 {
        return None;
    }
    if bytes.get(end).is_some_and(|b| b"smhdwy".contains(b)) {
        // A duration such as `1m30s`: units until something else.
        let mut duration_end = 0;
        let mut rest = body;
        loop {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = if rest[digits..].starts_with("ms") {
                2
            } else if rest[digits..].starts_with(['s', 'm', 'h', 'd', 'w', 'y']) {
                1
            } else {
                0
            };
            if digits == 0 || unit == 0 {
                break;
            }
            duration_end += digits + unit;
            rest = &rest[digits + unit..];
        }
        let ms = parse_duration_ms(&body[..duration_end]).ok()?;
        return Some((sign * ms as f64 / 1000.0, &body[duration_end..]));
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let mut exponent = end + 1;
        if matches!(bytes.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let digits = bytes[exponent..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 {
            end = exponent + digits;
        }
    }
    let value: f64 = body[..end].parse().ok()?;
    Some((sign * value, &body[end..]))
}

// ---------------------------------------------------------------------------
// Running.

/// Where a script's data lives. The runner starts with an empty store.
pub trait Storage {
    /// Appends one `load` block's float series (each sorted by time; series in
    /// label order, each with at least one sample). Fails when the store
    /// refuses a series or a sample.
    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String>;
    /// Throws all data away.
    fn clear(&mut self);
    fn querier(&self) -> &dyn Querier;
}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Check `expect warn/info/no_warn/no_info` and `eval_warn/eval_info`.
    pub check_annotations: bool,
    /// 1-based lines of evals not to run (reported as skipped).
    pub skip_lines: BTreeSet<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Passed,
    /// Why, with what was expected and what came back.
    Failed(String),
    /// Not run or not checked, and why.
    Skipped(&'static str),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// 1-based line of the `eval` header.
    pub line: usize,
    pub expr: String,
    pub outcome: Outcome,
}

pub const SKIP_LISTED: &str = "listed in the skip list";
pub const SKIP_START_TIMESTAMPS: &str = "the script uses start timestamps (@st)";
pub const SKIP_EXPECTS_HISTOGRAMS: &str = "expects native-histogram values";
pub const SKIP_SELECTS_HISTOGRAMS: &str =
    "may select series holding native histograms (loaded since the last clear)";
pub const SKIP_UNPARSEABLE_WITH_HISTOGRAMS: &str =
    "native histograms loaded since the last clear, and promql-parser cannot parse this expression to tell whether it selects them";
pub const SKIP_PARSER: &str = "promql-parser cannot parse this expression";

/// What the runner knows about the data stored since the last `clear`.
#[derive(Default)]
struct Loaded {
    /// Series holding native histograms (including `load_with_nhcb`'s).
    histogram_series: Vec<Labels>,
    /// Why a `load` failed: every eval until the next `clear` fails with it.
    failure: Option<String>,
}

/// Runs `script`: loads into `storage`, evaluates with `engine`, and reports
/// every eval in file order. See the module docs for what is not checked.
pub fn run_script(
    script: &Script,
    engine: &Engine,
    storage: &mut dyn Storage,
    options: &RunOptions,
) -> Vec<EvalReport> {
    let mut reports = Vec::new();
    let mut loaded = Loaded::default();
    for command in &script.commands {
        match command {
            Command::Clear { .. } => {
                storage.clear();
                loaded = Loaded::default();
            }
            Command::Load(load) => run_load(load, storage, &mut loaded),
            Command::Eval(eval) => {
                let outcome = if options.skip_lines.contains(&eval.line) {
                    Outcome::Skipped(SKIP_LISTED)
                } else if script.uses_start_timestamps {
                    Outcome::Skipped(SKIP_START_TIMESTAMPS)
                } else if eval.expects_histograms() {
                    Outcome::Skipped(SKIP_EXPECTS_HISTOGRAMS)
                } else if let Some(failure) = &loaded.failure {
                    Outcome::Failed(failure.clone())
                } else if let Some(reason) = histogram_skip(&eval.expr, &loaded.histogram_series) {
                    Outcome::Skipped(reason)
                } else {
                    run_eval(eval, engine, storage.querier(), options)
                };
                reports.push(EvalReport {
                    line: eval.line,
                    expr: eval.expr.clone(),
                    outcome,
                });
            }
        }
    }
    reports
}

fn run_load(load: &Load, storage: &mut dyn Storage, loaded: &mut Loaded) {
    let mut batch = Vec::with_capacity(load.series.len());
    for series in &load.series {
        let mut samples = Vec::new();
        let mut t = 0i64;
        for slot in &series.slots {
            match slot {
                Slot::Empty => {}
                Slot::Float(v) => samples.push(Sample::new(t, *v)),
                Slot::Histogram => {
                    if !loaded.histogram_series.contains(&series.labels) {
                        loaded.histogram_series.push(series.labels.clone());
                    }
                }
            }
            t += load.interval_ms;
        }
        if !samples.is_empty() {
            batch.push((series.labels.clone(), samples));
        }
        if load.with_nhcb {
            if let Some(native) = native_histogram_of_classic(&series.labels) {
                if !loaded.histogram_series.contains(&native) {
                    loaded.histogram_series.push(native);
                }
            }
        }
    }
    if let Err(e) = storage.load(batch) {
        loaded
            .failure
            .get_or_insert(format!("the load at line {} failed: {e}", load.line));
    }
}

/// `X` (without `le`) for a classic histogram's `X_bucket`, `X_count` or
/// `X_sum` series: what `load_with_nhcb` also stores as a native histogram.
fn native_histogram_of_classic(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name();
    let base = ["_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))?;
    if name.ends_with("_bucket") && labels.get("le").is_none() {
        return None;
    }
    Some(Labels::from_sorted_unchecked(
        labels
            .iter()
            .filter(|l| l.name != "le")
            .map(|l| {
                if l.name == model::METRIC_NAME {
                    Label::new(&l.name, base)
                } else {
                    l.clone()
                }
            })
            .collect(),
    ))
}

/// Whether an eval must be skipped because `expr` may select one of the
/// series holding native histograms.
fn histogram_skip(expr: &str, histogram_series: &[Labels]) -> Option<&'static str> {
    if histogram_series.is_empty() {
        return None;
    }
    let Ok(ast) = promql_parser::parser::parse(expr) else {
        return Some(SKIP_UNPARSEABLE_WITH_HISTOGRAMS);
    };
    let mut selectors = Vec::new();
    collect_selectors(&ast, &mut selectors);
    let selects_histograms = selectors.iter().any(|selector| {
        histogram_series
            .iter()
            .any(|series| selector_matches(selector, series))
    });
    selects_histograms.then_some(SKIP_SELECTS_HISTOGRAMS)
}

fn collect_selectors<'a>(
    expr: &'a promql_parser::parser::Expr,
    out: &mut Vec<&'a promql_parser::parser::VectorSelector>,
) {
    use promql_parser::parser::Expr;
    match expr {
        Expr::Aggregate(e) => {
            collect_selectors(&e.expr, out);
            if let Some(param) = &e.param {
                collect_selectors(param, out);
            }
        }
        Expr::Unary(e) => collect_selectors(&e.expr, out),
        Expr::Binary(e) => {
            collect_selectors(&e.lhs, out);
            collect_selectors(&e.rhs, out);
        }
        Expr::Paren(e) => collect_selectors(&e.expr, out),
        Expr::Subquery(e) => collect_selectors(&e.expr, out),
        Expr::VectorSelector(selector) => out.push(selector),
        Expr::MatrixSelector(e) => out.push(&e.vs),
        Expr::Call(call) => {
            for arg in &call.args.args {
                collect_selectors(arg, out);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_matches(selector: &promql_parser::parser::VectorSelector, series: &Labels) -> bool {
    let value = |name: &str| series.get(name).unwrap_or("");
    if let Some(name) = &selector.name {
        if value(model::METRIC_NAME) != name {
            return false;
        }
    }
    let all =
        |group: &[promql_parser::label::Matcher]| group.iter().all(|m| m.is_match(value(&m.name)));
    let matchers = &selector.matchers;
    if matchers.or_matchers.is_empty() {
        all(&matchers.matchers)
    } else {
        matchers.or_matchers.iter().any(|group| all(group))
    }
}

const RANGE_MODE_STEP_MS: i64 = 60_000;

fn run_eval(eval: &Eval, engine: &Engine, querier: &dyn Querier, options: &RunOptions) -> Outcome {
    let result = match eval.time {
        EvalTime::Instant { at_ms } => engine.instant(querier, &eval.expr, at_ms),
        EvalTime::Range {
            start_ms,
            end_ms,
            step_ms,
        } => engine.range(querier, &eval.expr, start_ms, end_ms, step_ms),
    };
    let unparseable = |e: &PromqlError| {
        matches!(e, PromqlError::Parse(_)) && promql_parser::parser::parse(&eval.expr).is_err()
    };
    let result = match (result, &eval.fail) {
        (Err(e), Some(expected)) => {
            let message = e.to_string();
            return match expected.iter().find(|m| !m.matches(&message)) {
                None => Outcome::Passed,
                Some(_) if unparseable(&e) => Outcome::Skipped(SKIP_PARSER),
                Some(mismatch) => Outcome::Failed(format!(
                    "expected an error matching {mismatch}, got: {message}"
                )),
            };
        }
        (Err(e), None) if unparseable(&e) => return Outcome::Skipped(SKIP_PARSER),
        (Err(e), None) => return Outcome::Failed(format!("query failed: {e}")),
        (Ok(result), Some(_)) => {
            return Outcome::Failed(format!(
                "expected an error, got {}",
                describe_value(&result.value)
            ))
        }
        (Ok(result), None) => result,
    };
    if options.check_annotations {
        if let Err(why) = check_annotations(eval, &result.warnings, &result.infos) {
            return Outcome::Failed(why);
        }
    }
    if let Err(why) = compare_result(eval, &result.value) {
        return Outcome::Failed(why);
    }
    let EvalTime::Instant { at_ms } = eval.time else {
        return Outcome::Passed;
    };
    if !eval.checked_in_range_mode() {
        return Outcome::Passed;
    }
    match check_range_mode(eval, engine, querier, at_ms, &result.value) {
        Ok(()) => Outcome::Passed,
        Err(why) => Outcome::Failed(format!(
            "range mode ({}..{} step 1m): {why}",
            at_ms - RANGE_MODE_STEP_MS,
            at_ms + RANGE_MODE_STEP_MS
        )),
    }
}

/// Upstream's extra check: the same expression as a range query around `t`
/// must give the expected result at `t`.
fn check_range_mode(
    eval: &Eval,
    engine: &Engine,
    querier: &dyn Querier,
    t: i64,
    instant_value: &Value,
) -> Result<(), String> {
    let result = engine
        .range(
            querier,
            &eval.expr,
            t - RANGE_MODE_STEP_MS,
            t + RANGE_MODE_STEP_MS,
            RANGE_MODE_STEP_MS,
        )
        .map_err(|e| format!("query failed: {e}"))?;
    if eval.ordered {
        return Ok(());
    }
    let Value::Matrix(matrix) = &result.value else {
        return Err(format!(
            "a range query returned a {}, not a matrix",
            result.value.type_name()
        ));
    };
    check_sorted(matrix)?;
    let at_t: Vec<(&Labels, f64)> = matrix
        .iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.t == t)
                .map(|p| (&s.labels, p.v))
        })
        .collect();
    if matches!(instant_value, Value::Scalar { .. }) {
        let (_, v) = at_t
            .first()
            .ok_or_else(|| format!("no point at {t} for the scalar result"))?;
        return compare_scalar(eval, *v);
    }
    compare_vector(eval, &at_t)
}

fn check_annotations(eval: &Eval, warnings: &[String], infos: &[String]) -> Result<(), String> {
    for (kind, expected, actual) in [
        ("warning", &eval.warnings, warnings),
        ("info", &eval.infos, infos),
    ] {
        if (expected.required || !expected.patterns.is_empty()) && actual.is_empty() {
            return Err(format!("expected {kind} annotations, got none"));
        }
        if expected.forbidden && !actual.is_empty() {
            return Err(format!("expected no {kind} annotations, got {actual:?}"));
        }
        for pattern in &expected.patterns {
            if !actual.iter().any(|a| pattern.matches(a)) {
                return Err(format!(
                    "expected a {kind} annotation matching {pattern}, got {actual:?}"
                ));
            }
        }
        if !expected.patterns.is_empty() {
            if let Some(extra) = actual
                .iter()
                .find(|a| !expected.patterns.iter().any(|p| p.matches(a)))
            {
                return Err(format!("unexpected {kind} annotation {extra:?}"));
            }
        }
    }
    Ok(())
}

/// Compares a query's value with the eval's expectation, as upstream does.
fn compare_result(eval: &Eval, value: &Value) -> Result<(), String> {
    if let Some(expected) = &eval.string {
        return match value {
            Value::String { v, .. } if v == expected => Ok(()),
            _ => Err(format!(
                "expected string {expected:?}, got {}",
                describe_value(value)
            )),
        };
    }
    match value {
        Value::Matrix(matrix) => {
            if eval.ordered {
                return Err("expected an ordered result, but the query returned a matrix".into());
            }
            if eval.scalar.is_some() {
                return Err(format!("expected a scalar, got {}", describe_value(value)));
            }
            check_sorted(matrix)?;
            let (start, end, step) = match (eval.time, eval.range_vector) {
                (
                    EvalTime::Range {
                        start_ms,
                        end_ms,
                        step_ms,
                    },
                    _,
                ) => (start_ms, end_ms, step_ms),
                (EvalTime::Instant { .. }, Some(range)) => range,
                // Upstream: no point can be expected from an instant eval
                // without `expect range vector`.
                (EvalTime::Instant { at_ms }, None) => (at_ms, i64::MIN, 0),
            };
            compare_matrix(eval, matrix, start, end, step)
        }
        Value::Vector(vector) => {
            if eval.scalar.is_some() {
                return Err(format!("expected a scalar, got {}", describe_value(value)));
            }
            let samples: Vec<(&Labels, f64)> = vector.iter().map(|s| (&s.labels, s.v)).collect();
            compare_vector(eval, &samples)
        }
        Value::Scalar { v, .. } => compare_scalar(eval, *v),
        Value::String { .. } => Err(format!(
            "expected {}, got {}",
            describe_expectation(eval),
            describe_value(value)
        )),
    }
}

fn compare_scalar(eval: &Eval, got: f64) -> Result<(), String> {
    match eval.scalar {
        None => Err(format!(
            "expected {}, got scalar {}",
            describe_expectation(eval),
            format_float(got)
        )),
        Some(expected) if almost_equal(expected, got) => Ok(()),
        Some(expected) => Err(format!(
            "expected scalar {}, got {}",
            format_float(expected),
            format_float(got)
        )),
    }
}

fn compare_vector(eval: &Eval, got: &[(&Labels, f64)]) -> Result<(), String> {
    let expected: HashMap<&Labels, (usize, &SeriesValues)> = eval
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.labels, (i, s)))
        .collect();
    let mismatch = |why: String| {
        Err(format!(
            "{why}\n    expected: {}\n    got:      {}",
            describe_expected_series(eval),
            describe_samples(got)
        ))
    };
    let mut seen = vec![false; eval.series.len()];
    for (position, (labels, v)) in got.iter().enumerate() {
        let Some((index, series)) = expected.get(labels) else {
            return mismatch(format!("unexpected series {labels} = {}", format_float(*v)));
        };
        if eval.ordered && *index != position {
            return mismatch(format!(
                "expected {labels} at position {}, it is at {}",
                index + 1,
                position + 1
            ));
        }
        match series.slots.first() {
            Some(Slot::Float(want)) if almost_equal(*want, *v) => {}
            Some(Slot::Float(want)) => {
                return mismatch(format!(
                    "expected {} for {labels}, got {}",
                    format_float(*want),
                    format_float(*v)
                ))
            }
            other => return mismatch(format!("expected {other:?} for {labels}, got a float")),
        }
        seen[*index] = true;
    }
    if let Some(missing) = seen.iter().position(|seen| !seen) {
        return mismatch(format!(
            "expected series {} not found",
            eval.series[missing].labels
        ));
    }
    Ok(())
}

fn compare_matrix(
    eval: &Eval,
    matrix: &[Series],
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let expected: HashMap<&Labels, &SeriesValues> =
        eval.series.iter().map(|s| (&s.labels, s)).collect();
    let mut seen: BTreeSet<&Labels> = BTreeSet::new();
    for series in matrix {
        let Some(want) = expected.get(&series.labels) else {
            return Err(format!(
                "unexpected series {} = {}",
                series.labels,
                describe_points(&series.samples)
            ));
        };
        seen.insert(&series.labels);
        let mut points = Vec::new();
        for (i, slot) in want.slots.iter().enumerate() {
            let t = start + i as i64 * step;
            if t > end {
                return Err(format!(
                    "expected {} points for {}, but the query's time range cannot return this many",
                    want.slots.len(),
                    series.labels
                ));
            }
            if let Slot::Float(v) = slot {
                points.push(Sample::new(t, *v));
            }
        }
        let matches = points.len() == series.samples.len()
            && points
                .iter()
                .zip(&series.samples)
                .all(|(want, got)| want.t == got.t && almost_equal(want.v, got.v));
        if !matches {
            return Err(format!(
                "points of {} differ: expected {}, got {}",
                series.labels,
                describe_points(&points),
                describe_points(&series.samples)
            ));
        }
    }
    if let Some(missing) = eval.series.iter().find(|s| !seen.contains(&s.labels)) {
        return Err(format!(
            "expected series {} not found; got {}",
            missing.labels,
            describe_matrix(matrix)
        ));
    }
    Ok(())
}

/// Upstream asserts that every matrix is sorted by labels.
fn check_sorted(matrix: &[Series]) -> Result<(), String> {
    match matrix.windows(2).find(|w| w[0].labels > w[1].labels) {
        None => Ok(()),
        Some(w) => Err(format!(
            "a matrix must be sorted by labels: {} comes before {}",
            w[0].labels, w[1].labels
        )),
    }
}

/// Upstream's `almost.Equal` with epsilon 1e-6: equal floats, both NaN, or
/// both stale markers; otherwise a relative difference below epsilon, or an
/// absolute one below `epsilon * MIN_POSITIVE` when a side is 0 or tiny.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    let stale = |x: f64| x.to_bits() == STALE_NAN_BITS;
    if stale(a) || stale(b) {
        return stale(a) && stale(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

// ---------------------------------------------------------------------------
// Descriptions for failure messages.

const MAX_DESCRIBED: usize = 8;

fn format_float(v: f64) -> String {
    if v.to_bits() == STALE_NAN_BITS {
        "stale".into()
    } else {
        format!("{v}")
    }
}

fn describe_list(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    let mut out = String::from("[");
    for (i, item) in items.take(MAX_DESCRIBED).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&item);
    }
    if total > MAX_DESCRIBED {
        let _ = write!(out, ", … {} more", total - MAX_DESCRIBED);
    }
    out.push(']');
    out
}

fn describe_samples(samples: &[(&Labels, f64)]) -> String {
    describe_list(
        samples
            .iter()
            .map(|(labels, v)| format!("{labels} {}", format_float(*v))),
    )
}

fn describe_points(points: &[Sample]) -> String {
    describe_list(
        points
            .iter()
            .map(|p| format!("{} @{}", format_float(p.v), p.t)),
    )
}

fn describe_matrix(matrix: &[Series]) -> String {
    describe_list(
        matrix
            .iter()
            .map(|s| format!("{} {}", s.labels, describe_points(&s.samples))),
    )
}

fn describe_expected_series(eval: &Eval) -> String {
    describe_list(eval.series.iter().map(|s| {
        let value = match s.slots.first() {
            Some(Slot::Float(v)) => format_float(*v),
            other => format!("{other:?}"),
        };
        format!("{} {value}", s.labels)
    }))
}

fn describe_expectation(eval: &Eval) -> String {
    if let Some(v) = eval.scalar {
        format!("scalar {}", format_float(v))
    } else if let Some(s) = &eval.string {
        format!("string {s:?}")
    } else if eval.series.is_empty() {
        "an empty vector or matrix".into()
    } else {
        format!("series {}", describe_expected_series(eval))
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Scalar { v, .. } => format!("scalar {}", format_float(*v)),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(vector) => {
            let samples: Vec<(&Labels, f64)> = vector.iter().map(|s| (&s.labels, s.v)).collect();
            format!("vector {}", describe_samples(&samples))
        }
        Value::Matrix(matrix) => format!("matrix {}", describe_matrix(matrix)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::VectorSample;

    fn values(text: &str) -> Vec<Slot> {
        parse_values(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn floats(list: &[f64]) -> Vec<Slot> {
        list.iter().map(|v| Slot::Float(*v)).collect()
    }

    fn stale() -> Slot {
        Slot::Float(f64::from_bits(STALE_NAN_BITS))
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        labels_from_pairs(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn only_eval(script: &Script) -> &Eval {
        let evals: Vec<&Eval> = script
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Eval(e) => Some(&**e),
                _ => None,
            })
            .collect();
        assert_eq!(evals.len(), 1, "{script:?}");
        evals[0]
    }

    #[test]
    fn expands_values_as_the_readme_examples() {
        assert_eq!(values("0+10x3"), floats(&[0.0, 10.0, 20.0, 30.0]));
        assert_eq!(values("-2+4x3"), floats(&[-2.0, 2.0, 6.0, 10.0]));
        assert_eq!(values("1-2x4"), floats(&[1.0, -1.0, -3.0, -5.0, -7.0]));
        assert_eq!(
            values("1 _x3 stale"),
            vec![
                Slot::Float(1.0),
                Slot::Empty,
                Slot::Empty,
                Slot::Empty,
                stale()
            ]
        );
        assert_eq!(values("_x3"), vec![Slot::Empty; 3]);
        assert_eq!(values("_"), vec![Slot::Empty]);
        assert_eq!(values("0+10x10").len(), 11);
        assert_eq!(values("5x2"), floats(&[5.0, 5.0, 5.0]));
        // Not hexadecimal: `0x59` is 0 repeated 60 times.
        assert_eq!(values("0x59"), floats(&[0.0; 60]));
    }

    #[test]
    fn reads_special_numbers_and_durations() {
        assert_eq!(
            values("Inf -Inf +Inf inf NaN nan"),
            floats(&[
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::INFINITY,
                f64::NAN,
                f64::NAN
            ])
        );
        // Stale is a NaN, but not the same one.
        assert_ne!(values("stale"), values("NaN"));
        assert_eq!(
            values("1e3 -1e-3 +5 .5 1.5e+2"),
            floats(&[1e3, -1e-3, 5.0, 0.5, 150.0])
        );
        assert_eq!(values("1e-3+1e-3x1"), floats(&[1e-3, 2e-3]));
        assert_eq!(values("Inf-1x1"), floats(&[f64::INFINITY, f64::INFINITY]));
        assert_eq!(values("NaNx1"), floats(&[f64::NAN, f64::NAN]));
        // A duration as a value is its number of seconds.
        assert_eq!(
            values("1m -10s53ms 1m+30sx1"),
            floats(&[60.0, -10.053, 60.0, 90.0])
        );
        assert!(parse_values("abc").is_err());
        assert!(parse_values("1+x3").is_err());
        assert!(parse_values("1+2").is_err());
        assert!(parse_values("_x").is_err());
    }

    #[test]
    fn expands_histograms_without_reading_them() {
        let h = "{{schema:1 sum:-0.3 count:3.1 buckets:[5.1 10 7] offset:-3}}";
        assert_eq!(values(h), vec![Slot::Histogram]);
        assert_eq!(values(&format!("1 {h}x2 _ 3")).len(), 6);
        assert_eq!(
            values("{{sum:2 count:2}}+{{sum:3 count:3}}x5 7"),
            [vec![Slot::Histogram; 6], floats(&[7.0])].concat()
        );
        assert_eq!(values("{{}}-{{count:1}}x1").len(), 2);
        assert!(parse_values("{{sum:1").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("10s53ms"), Ok(10_053));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1ms"), Ok(1));
        assert_eq!(parse_duration_ms("2d"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("1y1w"), Ok((365 + 7) * 86_400_000));
        for bad in ["", "1", "m", "1s1m", "1.5s", "-1s", "1x"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_series_labels() {
        let line = parse_series_line(r#"http{job="api", instance="0", grp="a b,}"}	1"#).unwrap();
        assert_eq!(
            line.labels,
            labels(&[
                ("__name__", "http"),
                ("grp", "a b,}"),
                ("instance", "0"),
                ("job", "api")
            ])
        );
        assert_eq!(line.slots, floats(&[1.0]));
        let no_name = parse_series_line(r#"{job="x",} 2"#).unwrap();
        assert_eq!(no_name.labels, labels(&[("job", "x")]));
        assert_eq!(
            parse_series_line("{} 0x2").unwrap().labels,
            Labels::default()
        );
        let quoted = parse_series_line(r#"{"some.metric", 'l'="v\n\x41"} 1"#).unwrap();
        assert_eq!(
            quoted.labels,
            labels(&[("__name__", "some.metric"), ("l", "v\nA")])
        );
        // Empty values mean "absent".
        assert_eq!(
            parse_series_line(r#"m{a="", b="1"} 1"#).unwrap().labels,
            labels(&[("__name__", "m"), ("b", "1")])
        );
        assert!(parse_series_line(r#"m{a=1} 1"#).is_err());
        assert!(parse_series_line(r#"m{a="1" 1"#).is_err());
        assert!(parse_series_line("m{}1").is_err());
    }

    #[test]
    fn parses_loads_and_clear() {
        let script = parse(
            "# comment\nload 5m\n  a{x=\"1\"} 1 2\n  a{x=\"1\"} 3\n\tb 0+1x2\n\nclear\nload_with_nhcb 10s53ms\n  c 1\n",
        )
        .unwrap();
        assert!(!script.uses_start_timestamps);
        let Command::Load(load) = &script.commands[0] else {
            panic!("{script:?}")
        };
        assert_eq!(
            (load.line, load.interval_ms, load.with_nhcb),
            (2, 300_000, false)
        );
        // A repeated series keeps its last line; series come in label order.
        assert_eq!(load.series.len(), 2);
        assert_eq!(
            load.series[0].labels,
            labels(&[("__name__", "a"), ("x", "1")])
        );
        assert_eq!(load.series[0].slots, floats(&[3.0]));
        assert_eq!(script.commands[1], Command::Clear { line: 7 });
        let Command::Load(nhcb) = &script.commands[2] else {
            panic!("{script:?}")
        };
        assert_eq!((nhcb.interval_ms, nhcb.with_nhcb), (10_053, true));
    }

    #[test]
    fn a_comment_ends_a_block() {
        let script = parse("load 1m\n  a 1\n# note\n  b 2\n").unwrap_err();
        assert_eq!(script.line, 4);
        let script = parse("eval instant at 0 a\n# No results.\n").unwrap();
        let eval = only_eval(&script);
        assert!(eval.series.is_empty() && eval.scalar.is_none());
    }

    #[test]
    fn start_timestamp_lines_mark_the_script() {
        let script = parse("load 1m\n  a@st -1m _ 0\n  a 1 2 3\n").unwrap();
        assert!(script.uses_start_timestamps);
    }

    #[test]
    fn parses_eval_headers() {
        let script =
            parse("eval instant at 1h5m sum by (a) (x{y=\"z w\"})\n  {a=\"1\"} 3\n").unwrap();
        let eval = only_eval(&script);
        assert_eq!(eval.time, EvalTime::Instant { at_ms: 3_900_000 });
        assert_eq!(eval.expr, "sum by (a) (x{y=\"z w\"})");
        assert_eq!(eval.series[0].labels, labels(&[("a", "1")]));

        let script = parse("eval range from 0 to 10m step 5m rate(x[5m])\n  x 1 _ 3\n").unwrap();
        let eval = only_eval(&script);
        assert_eq!(
            eval.time,
            EvalTime::Range {
                start_ms: 0,
                end_ms: 600_000,
                step_ms: 300_000
            }
        );
        assert_eq!(
            eval.series[0].slots,
            vec![Slot::Float(1.0), Slot::Empty, Slot::Float(3.0)]
        );

        assert!(parse("eval range from 10m to 0 step 1m x\n").is_err());
        assert!(parse("eval instant x\n").is_err());
        assert!(parse("eval_ordered range from 0 to 1m step 1m x\n").is_err());
        assert!(parse("eval instant at 0 x\n  x 1 2\n").is_err());
        assert!(parse("bogus\n").is_err());
    }

    #[test]
    fn parses_expect_lines() {
        let script = parse(concat!(
            "eval instant at 0 x\n",
            "  expect warn\n",
            "  expect warn msg: PromQL warning: something (1:2)\n",
            "  expect info regex: fixed .* \\(1:21\\)\n",
            "  expect no_warn_not\n",
        ))
        .unwrap_err();
        assert_eq!(script.line, 5);

        let script = parse(concat!(
            "eval range from 0 to 1m step 1m x\n",
            "  expect warn\n",
            "  expect warn msg: PromQL warning: something (1:2)\n",
            "  expect info regex: fixed .* \\(1:21\\)\n",
            "  expect ordered\n",
            "  expect{} 1 2\n",
        ))
        .unwrap();
        let eval = only_eval(&script);
        assert_eq!(
            eval.warnings.patterns,
            vec![
                TextMatch::Any,
                TextMatch::Exact("PromQL warning: something (1:2)".into())
            ]
        );
        assert!(eval.infos.patterns[0].matches("PromQL info: fixed for x (1:21)"));
        assert!(!eval.infos.patterns[0].matches("PromQL info: fixed for x (1:22)"));
        assert!(eval.ordered);
        assert_eq!(eval.series[0].labels, labels(&[("__name__", "expect")]));

        assert!(parse("eval instant at 0 x\n  expect warn\n  expect no_warn\n").is_err());
        assert!(parse("eval instant at 0 x\n  expect fail\n  expect fail msg: a\n").is_err());
        assert!(parse("eval instant at 0 x\n  expect fail regex: (\n").is_err());

        let script =
            parse("eval instant at 0 x\n  expect fail msg:invalid label name \"a\\xc5z\"\n")
                .unwrap();
        assert_eq!(
            only_eval(&script).fail,
            Some(vec![TextMatch::Exact(
                "invalid label name \"a\\xc5z\"".into()
            )])
        );
    }

    #[test]
    fn parses_eval_fail_and_its_message() {
        let script = parse(concat!(
            "eval_fail instant at 0 label_replace(x, \"a\", \"b\", \"c\", \"(\")\n",
            "  expected_fail_message invalid regular expression in label_replace(): (\n",
            "\n",
            "eval_fail range from 0 to 1m step 1m y\n",
            "  expected_fail_regexp vector cannot contain .* same labelset\n",
            "\n",
            "eval_fail instant at 0 z\n",
        ))
        .unwrap();
        let fails: Vec<_> = script
            .commands
            .iter()
            .map(|c| match c {
                Command::Eval(e) => e.fail.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            fails,
            vec![
                Some(vec![TextMatch::Exact(
                    "invalid regular expression in label_replace(): (".into()
                )]),
                Some(vec![TextMatch::Regex(
                    "vector cannot contain .* same labelset".into()
                )]),
                Some(vec![]),
            ]
        );
        // The message line ends the block.
        assert!(parse("eval_fail instant at 0 z\n  expected_fail_message m\n  z 1\n").is_err());
    }

    #[test]
    fn parses_scalars_strings_and_range_vectors() {
        let eval = |text: &str| only_eval(&parse(text).unwrap()).clone();
        assert_eq!(eval("eval instant at 0 1\n  1\n").scalar, Some(1.0));
        assert_eq!(eval("eval instant at 0 x\n  -0.5\n").scalar, Some(-0.5));
        assert_eq!(eval("eval instant at 0 x\n  0x10\n").scalar, Some(16.0));
        assert_eq!(
            eval("eval instant at 0 x\n  +Inf\n").scalar,
            Some(f64::INFINITY)
        );
        assert!(eval("eval instant at 0 x\n  NaN\n")
            .scalar
            .unwrap()
            .is_nan());
        // A bare number ends the block.
        assert!(parse("eval instant at 0 x\n  1\n  2\n").is_err());

        assert_eq!(
            eval("eval instant at 0 \"a\"\n  expect string `Foo`\n")
                .string
                .as_deref(),
            Some("Foo")
        );
        assert_eq!(
            eval("eval instant at 0 \"a\"\n  expect string \" Foo \"\n")
                .string
                .as_deref(),
            Some(" Foo ")
        );
        assert_eq!(
            eval("eval instant at 0 \"a\"\n  expect string \"\"\n")
                .string
                .as_deref(),
            Some("")
        );
        assert!(parse("eval instant at 0 \"a\"\n  expect string Foo\n").is_err());

        let e = eval("eval instant at 1m x[1m]\n  expect range vector from 10s to 1m step 10s\n  x 1 2 _ 4\n");
        assert_eq!(e.range_vector, Some((10_000, 60_000, 10_000)));
        assert_eq!(e.series[0].slots.len(), 4);
        assert!(!e.checked_in_range_mode());
    }

    #[test]
    fn compares_floats_like_upstream() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.0 + 1e-5));
        assert!(almost_equal(f64::NAN, -f64::NAN));
        assert!(almost_equal(stale, stale));
        assert!(!almost_equal(stale, f64::NAN));
        assert!(almost_equal(0.0, -0.0));
        assert!(!almost_equal(0.0, 1e-300));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY));
        assert!(!almost_equal(f64::INFINITY, 1.0));
    }

    fn vector(samples: &[(Labels, f64)]) -> Value {
        Value::Vector(
            samples
                .iter()
                .map(|(labels, v)| VectorSample {
                    labels: labels.clone(),
                    t: 0,
                    v: *v,
                })
                .collect(),
        )
    }

    #[test]
    fn compares_vectors_by_label_set_and_order_when_asked() {
        let script = "eval instant at 0 x\n  x{a=\"1\"} 1\n  {a=\"2\"} 2\n";
        let eval = only_eval(&parse(script).unwrap()).clone();
        let a1 = labels(&[("__name__", "x"), ("a", "1")]);
        let a2 = labels(&[("a", "2")]);
        assert_eq!(
            compare_result(&eval, &vector(&[(a2.clone(), 2.0), (a1.clone(), 1.0)])),
            Ok(())
        );
        assert!(compare_result(&eval, &vector(&[(a1.clone(), 1.0)])).is_err());
        assert!(compare_result(&eval, &vector(&[(a1.clone(), 1.0), (a2.clone(), 2.1)])).is_err());
        assert!(compare_result(
            &eval,
            &vector(&[
                (a1.clone(), 1.0),
                (a2.clone(), 2.0),
                (labels(&[("a", "3")]), 3.0)
            ])
        )
        .is_err());
        assert!(compare_result(&eval, &Value::Scalar { t: 0, v: 1.0 }).is_err());

        let mut ordered = eval.clone();
        ordered.ordered = true;
        assert!(
            compare_result(&ordered, &vector(&[(a2.clone(), 2.0), (a1.clone(), 1.0)])).is_err()
        );
        assert_eq!(
            compare_result(&ordered, &vector(&[(a1, 1.0), (a2, 2.0)])),
            Ok(())
        );

        let empty = only_eval(&parse("eval instant at 0 x\n").unwrap()).clone();
        assert_eq!(compare_result(&empty, &Value::Vector(vec![])), Ok(()));
        assert_eq!(compare_result(&empty, &Value::Matrix(vec![])), Ok(()));
        assert!(compare_result(&empty, &Value::Scalar { t: 0, v: 1.0 }).is_err());
    }

    #[test]
    fn compares_scalars_and_strings() {
        let scalar = only_eval(&parse("eval instant at 0 1\n  1\n").unwrap()).clone();
        assert_eq!(
            compare_result(&scalar, &Value::Scalar { t: 0, v: 1.0 }),
            Ok(())
        );
        assert!(compare_result(&scalar, &Value::Scalar { t: 0, v: 2.0 }).is_err());
        assert!(compare_result(&scalar, &vector(&[(Labels::default(), 1.0)])).is_err());
        let string =
            only_eval(&parse("eval instant at 0 \"a\"\n  expect string \"a\"\n").unwrap()).clone();
        assert_eq!(
            compare_result(
                &string,
                &Value::String {
                    t: 0,
                    v: "a".into()
                }
            ),
            Ok(())
        );
        assert!(compare_result(
            &string,
            &Value::String {
                t: 0,
                v: "b".into()
            }
        )
        .is_err());
        assert!(compare_result(&string, &Value::Vector(vec![])).is_err());
    }

    #[test]
    fn compares_matrices_point_by_point() {
        let eval = only_eval(
            &parse(
                "eval range from 0 to 2m step 1m x\n  x{a=\"1\"} 1 _ 3\n  x{a=\"2\"} _ 2 stale\n",
            )
            .unwrap(),
        )
        .clone();
        let a1 = labels(&[("__name__", "x"), ("a", "1")]);
        let a2 = labels(&[("__name__", "x"), ("a", "2")]);
        let series = |labels: &Labels, points: &[(i64, f64)]| Series {
            labels: labels.clone(),
            samples: points.iter().map(|(t, v)| Sample::new(*t, *v)).collect(),
        };
        let stale = f64::from_bits(STALE_NAN_BITS);
        let good = vec![
            series(&a1, &[(0, 1.0), (120_000, 3.0)]),
            series(&a2, &[(60_000, 2.0), (120_000, stale)]),
        ];
        assert_eq!(compare_result(&eval, &Value::Matrix(good.clone())), Ok(()));
        let mut unsorted = good.clone();
        unsorted.reverse();
        let why = compare_result(&eval, &Value::Matrix(unsorted)).unwrap_err();
        assert!(why.contains("sorted"), "{why}");
        let mut wrong_time = good.clone();
        wrong_time[0].samples[1].t = 110_000;
        assert!(compare_result(&eval, &Value::Matrix(wrong_time)).is_err());
        let mut extra_point = good.clone();
        extra_point[0].samples.insert(1, Sample::new(60_000, 2.0));
        assert!(compare_result(&eval, &Value::Matrix(extra_point)).is_err());
        assert!(compare_result(&eval, &Value::Matrix(good[..1].to_vec())).is_err());

        // A range vector from an instant eval needs `expect range vector`.
        let instant = only_eval(&parse("eval instant at 0 x[1m]\n  x 1\n").unwrap()).clone();
        assert!(compare_result(
            &instant,
            &Value::Matrix(vec![series(&labels(&[("__name__", "x")]), &[(0, 1.0)])])
        )
        .is_err());
    }

    #[test]
    fn finds_selectors_that_may_touch_histograms() {
        let histograms = vec![
            labels(&[("__name__", "h"), ("job", "a")]),
            native_histogram_of_classic(&labels(&[
                ("__name__", "c_bucket"),
                ("le", "1"),
                ("job", "b"),
            ]))
            .unwrap(),
        ];
        assert_eq!(histograms[1], labels(&[("__name__", "c"), ("job", "b")]));
        let skip = |expr: &str| histogram_skip(expr, &histograms);
        assert_eq!(skip("sum(rate(h[5m]))"), Some(SKIP_SELECTS_HISTOGRAMS));
        assert_eq!(skip("c + 1"), Some(SKIP_SELECTS_HISTOGRAMS));
        assert_eq!(skip("{job=\"a\"}"), Some(SKIP_SELECTS_HISTOGRAMS));
        assert_eq!(skip("{__name__=~\"h|x\"}"), Some(SKIP_SELECTS_HISTOGRAMS));
        assert_eq!(skip("h{job=\"b\"}"), None);
        assert_eq!(skip("c_bucket"), None);
        assert_eq!(skip("x * on() group_left y"), None);
        assert_eq!(skip("sum(x))("), Some(SKIP_UNPARSEABLE_WITH_HISTOGRAMS));
        assert_eq!(histogram_skip("h", &[]), None);
    }

    /// Every upstream script parses.
    #[test]
    fn parses_every_upstream_script() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql/testdata");
        let mut files = 0;
        let (mut instant, mut range) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "test") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let script = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for command in &script.commands {
                if let Command::Eval(eval) = command {
                    if eval.is_instant() {
                        instant += 1;
                    } else {
                        range += 1;
                    }
                }
            }
            let has_st = text.lines().any(is_start_timestamp_line);
            assert_eq!(script.uses_start_timestamps, has_st, "{}", path.display());
        }
        assert_eq!(files, 21);
        // The inventory in the testdata's provenance README.
        assert_eq!((instant, range), (1885, 329));
    }
}
