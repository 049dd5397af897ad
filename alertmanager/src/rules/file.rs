//! Prometheus rule files (`groups: [{name, interval, rules: [...]}]`), parsed
//! and validated as `promtool check rules` does it (Prometheus'
//! `model/rulefmt/rulefmt.go`): unknown keys are errors, every rule is either
//! a recording or an alerting rule, expressions must parse as PromQL, names
//! must be valid, alert templates must parse. All errors are collected, each
//! prefixed with `file:line:column` and worded as promtool words them.
//!
//! Positions: the file is read once into a [`serde_yaml::Value`] (which has no
//! spans) and checked from that; when an error needs a position, the text is
//! parsed again with a probe that fails exactly at the node in question, and
//! serde_yaml's error location is the node's line and column (1-based, as
//! Go's yaml.v3 reports them). Only files with errors pay for that.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use model::labels::{is_valid_label_name, is_valid_metric_name};
use model::METRIC_NAME;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

/// One problem in a rule file, as `file:line:column: message`. `line` and
/// `column` are 1-based; 0 when no position is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}

impl std::error::Error for RuleError {}

/// A parsed, valid rule file.
#[derive(Clone, Debug)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

/// A list of rules evaluated in order, every `interval`.
#[derive(Clone, Debug)]
pub struct RuleGroup {
    pub name: String,
    /// `None`: the global evaluation interval applies.
    pub interval: Option<Duration>,
    /// `None`: the global query offset applies.
    pub query_offset: Option<Duration>,
    /// Series limit per rule; 0 (or negative, as Prometheus treats it) is no limit.
    pub limit: i64,
    /// Added to every rule's labels (rule labels win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: RuleKind,
    /// The expression as written.
    pub expr: String,
    /// The expression, parsed.
    pub parsed: promql_parser::parser::Expr,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Recording {
        record: String,
    },
    Alerting {
        alert: String,
        /// `for`: how long the condition must hold before firing (0: at once).
        for_duration: Duration,
        keep_firing_for: Duration,
        annotations: BTreeMap<String, String>,
    },
}

impl Rule {
    /// The recorded metric's name or the alert's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

/// Parses and validates a Prometheus rule file. `file` is the name used in
/// error messages. An empty file is a valid file with no groups.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, Vec<RuleError>> {
    let mut errors: Vec<Pending> = Vec::new();
    let root: Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            return Err(vec![RuleError {
                file: file.to_owned(),
                line,
                column,
                message: strip_location(&e.to_string()),
            }]);
        }
    };

    // Pass 1: structure (what Go's decoder with KnownFields(true) refuses).
    let raw = decode_file(&root, &mut errors);
    // Pass 2: semantics, only on structurally valid files (as promtool).
    let groups = if errors.is_empty() {
        validate(&raw, &mut errors)
    } else {
        Vec::new()
    };
    if errors.is_empty() {
        // Positions are found by parsing again up to the node (`locate`):
        // only errors pay for that, once each.
        return Ok(RuleFile { groups });
    }
    Err(errors
        .into_iter()
        .map(|p| {
            let (line, column) = p
                .path
                .as_ref()
                .and_then(|path| locate(text, path))
                .unwrap_or((0, 0));
            let message = match &p.alt {
                Some(alt) => match locate(text, alt) {
                    Some((l, c)) => format!("{l}:{c}: {}", p.message),
                    None => p.message,
                },
                None => p.message,
            };
            RuleError {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        })
        .collect())
}

/// Parses a Prometheus duration (`model.ParseDuration`): units `y` (365d),
/// `w`, `d`, `h`, `m`, `s`, `ms`, each at most once, largest first, integer
/// counts; `0` alone is allowed.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.is_empty() {
        return Err("empty duration string".to_owned());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while pos < bytes.len() {
        let start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == start {
            return Err(invalid());
        }
        let n: u64 = s[start..pos]
            .parse()
            .map_err(|_| "duration out of range".to_owned())?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &s[unit_start..pos];
        let idx = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .map(|i| i + next_unit)
            .ok_or_else(invalid)?;
        next_unit = idx + 1;
        total_ms = n
            .checked_mul(UNITS[idx].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|ms| *ms <= i64::MAX as u64 / 1_000_000)
            .ok_or_else(|| "duration out of range".to_owned())?;
    }
    Ok(Duration::from_millis(total_ms))
}

// ---------------------------------------------------------------------------
// Errors waiting for their position.

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// The value under this key.
    Key(String),
    /// The key itself.
    KeyName(String),
    Index(usize),
}

struct Pending {
    path: Option<Vec<Seg>>,
    /// A second node whose position prefixes the message (promtool's
    /// "L:C: L2:C2: ..." for rules with both `record` and `alert`).
    alt: Option<Vec<Seg>>,
    message: String,
}

fn push(errors: &mut Vec<Pending>, path: &[Seg], message: String) {
    errors.push(Pending {
        path: Some(path.to_vec()),
        alt: None,
        message,
    });
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// serde_yaml appends " at line L column C" (and sometimes more context);
/// the position is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Pass 1: structure.

struct RawFile {
    groups: Vec<RawGroup>,
}

struct RawGroup {
    name: String,
    interval: Option<Duration>,
    query_offset: Option<Duration>,
    limit: i64,
    labels: BTreeMap<String, String>,
    rules: Vec<RawRule>,
}

#[derive(Default)]
struct RawRule {
    record: String,
    alert: String,
    expr: String,
    has_record: bool,
    has_alert: bool,
    has_expr: bool,
    for_duration: Duration,
    keep_firing_for: Duration,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

/// How Go's yaml.v3 names a node in "cannot unmarshal X into T".
fn yaml_kind(v: &Value) -> String {
    match untag(v) {
        Value::Null => "!!null".to_owned(),
        Value::Bool(b) => format!("!!bool `{b}`"),
        Value::Number(n) if n.is_f64() => format!("!!float `{n}`"),
        Value::Number(n) => format!("!!int `{n}`"),
        Value::String(s) => format!("!!str `{s}`"),
        Value::Sequence(_) => "!!seq".to_owned(),
        Value::Mapping(_) => "!!map".to_owned(),
        Value::Tagged(_) => unreachable!(),
    }
}

fn type_error(errors: &mut Vec<Pending>, path: &[Seg], v: &Value, into: &str) {
    push(
        errors,
        path,
        format!("cannot unmarshal {} into {into}", yaml_kind(v)),
    );
}

/// A scalar read into a Go string: strings, numbers and booleans by their
/// text, null as "".
fn decode_string(v: &Value, path: &[Seg], errors: &mut Vec<Pending>) -> String {
    match untag(v) {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => {
            type_error(errors, path, other, "string");
            String::new()
        }
    }
}

fn decode_duration(v: &Value, path: &[Seg], errors: &mut Vec<Pending>) -> Option<Duration> {
    let before = errors.len();
    let s = decode_string(v, path, errors);
    if errors.len() > before {
        return None;
    }
    match parse_duration(&s) {
        Ok(d) => Some(d),
        Err(e) => {
            push(errors, path, e);
            None
        }
    }
}

fn decode_string_map(
    v: &Value,
    path: &[Seg],
    errors: &mut Vec<Pending>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match untag(v) {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, val) in m {
                let key = match untag(k) {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        type_error(errors, path, other, "string");
                        continue;
                    }
                };
                let value = decode_string(val, &child(path, Seg::Key(key.clone())), errors);
                out.insert(key, value);
            }
        }
        other => type_error(errors, path, other, "map[string]string"),
    }
    out
}

/// Iterates a mapping's string keys, reporting keys outside `known` as Go's
/// decoder does with KnownFields(true).
fn fields<'v>(
    v: &'v Value,
    path: &[Seg],
    known: &[&str],
    go_type: &str,
    errors: &mut Vec<Pending>,
) -> Vec<(String, &'v Value)> {
    let mut out = Vec::new();
    match untag(v) {
        Value::Null => {}
        Value::Mapping(m) => {
            for (k, val) in m {
                let key = match untag(k) {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        type_error(errors, path, other, "string");
                        continue;
                    }
                };
                if known.contains(&key.as_str()) {
                    out.push((key, val));
                } else {
                    push(
                        errors,
                        &child(path, Seg::KeyName(key.clone())),
                        format!("field {key} not found in type {go_type}"),
                    );
                }
            }
        }
        other => type_error(errors, path, other, go_type),
    }
    out
}

fn decode_file(root: &Value, errors: &mut Vec<Pending>) -> RawFile {
    let mut groups = Vec::new();
    for (key, v) in fields(root, &[], &["groups"], "rulefmt.RuleGroups", errors) {
        let path = vec![Seg::Key(key)];
        match untag(v) {
            Value::Null => {}
            Value::Sequence(seq) => {
                for (j, g) in seq.iter().enumerate() {
                    groups.push(decode_group(g, &child(&path, Seg::Index(j)), errors));
                }
            }
            other => type_error(errors, &path, other, "[]rulefmt.RuleGroup"),
        }
    }
    RawFile { groups }
}

fn decode_group(v: &Value, path: &[Seg], errors: &mut Vec<Pending>) -> RawGroup {
    let mut g = RawGroup {
        name: String::new(),
        interval: None,
        query_offset: None,
        limit: 0,
        labels: BTreeMap::new(),
        rules: Vec::new(),
    };
    const KNOWN: &[&str] = &[
        "name",
        "interval",
        "query_offset",
        "limit",
        "rules",
        "labels",
    ];
    for (key, val) in fields(v, path, KNOWN, "rulefmt.RuleGroup", errors) {
        let p = child(path, Seg::Key(key.clone()));
        match key.as_str() {
            "name" => g.name = decode_string(val, &p, errors),
            "interval" => g.interval = decode_duration(val, &p, errors),
            "query_offset" => g.query_offset = decode_duration(val, &p, errors),
            "limit" => match untag(val) {
                Value::Null => {}
                Value::Number(n) if n.as_i64().is_some() => g.limit = n.as_i64().unwrap_or(0),
                other => type_error(errors, &p, other, "int"),
            },
            "labels" => g.labels = decode_string_map(val, &p, errors),
            "rules" => match untag(val) {
                Value::Null => {}
                Value::Sequence(seq) => {
                    for (i, r) in seq.iter().enumerate() {
                        g.rules
                            .push(decode_rule(r, &child(&p, Seg::Index(i)), errors));
                    }
                }
                other => type_error(errors, &p, other, "[]rulefmt.Rule"),
            },
            _ => unreachable!("filtered by fields()"),
        }
    }
    g
}

fn decode_rule(v: &Value, path: &[Seg], errors: &mut Vec<Pending>) -> RawRule {
    let mut r = RawRule::default();
    const KNOWN: &[&str] = &[
        "record",
        "alert",
        "expr",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
    ];
    for (key, val) in fields(v, path, KNOWN, "rulefmt.Rule", errors) {
        let p = child(path, Seg::Key(key.clone()));
        match key.as_str() {
            "record" => {
                r.record = decode_string(val, &p, errors);
                r.has_record = true;
            }
            "alert" => {
                r.alert = decode_string(val, &p, errors);
                r.has_alert = true;
            }
            "expr" => {
                r.expr = decode_string(val, &p, errors);
                r.has_expr = true;
            }
            "for" => r.for_duration = decode_duration(val, &p, errors).unwrap_or_default(),
            "keep_firing_for" => {
                r.keep_firing_for = decode_duration(val, &p, errors).unwrap_or_default()
            }
            "labels" => r.labels = decode_string_map(val, &p, errors),
            "annotations" => r.annotations = decode_string_map(val, &p, errors),
            _ => unreachable!("filtered by fields()"),
        }
    }
    r
}

// ---------------------------------------------------------------------------
// Pass 2: semantics (rulefmt's RuleGroups.Validate and Rule.Validate).

fn validate(raw: &RawFile, errors: &mut Vec<Pending>) -> Vec<RuleGroup> {
    let mut seen = std::collections::HashSet::new();
    let mut groups = Vec::new();
    for (j, g) in raw.groups.iter().enumerate() {
        let gpath = vec![Seg::Key("groups".into()), Seg::Index(j)];
        if g.name.is_empty() {
            push(errors, &gpath, "Groupname must not be empty".to_owned());
        }
        if !seen.insert(g.name.as_str()) {
            push(
                errors,
                &gpath,
                format!("groupname: \"{}\" is repeated in the same file", g.name),
            );
        }
        for k in g.labels.keys() {
            if !is_valid_label_name(k) || k == METRIC_NAME {
                let p = child(
                    &child(&gpath, Seg::Key("labels".into())),
                    Seg::KeyName(k.clone()),
                );
                push(errors, &p, format!("invalid label name: {k}"));
            }
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.iter().enumerate() {
            let rpath = child(&child(&gpath, Seg::Key("rules".into())), Seg::Index(i));
            if let Some(rule) = validate_rule(&g.name, i, r, &rpath, errors) {
                rules.push(rule);
            }
        }
        groups.push(RuleGroup {
            name: g.name.clone(),
            interval: g.interval,
            query_offset: g.query_offset,
            limit: g.limit,
            labels: g.labels.clone(),
            rules,
        });
    }
    groups
}

fn validate_rule(
    group: &str,
    index: usize,
    r: &RawRule,
    rpath: &[Seg],
    errors: &mut Vec<Pending>,
) -> Option<Rule> {
    let name = if !r.alert.is_empty() {
        &r.alert
    } else {
        &r.record
    };
    let prefix = format!("group {group:?}, rule {}, {name:?}: ", index + 1);
    let before = errors.len();
    let node = |key: &str, present: bool| -> Vec<Seg> {
        if present {
            child(rpath, Seg::Key(key.to_owned()))
        } else {
            rpath.to_vec()
        }
    };
    let mut err = |path: Vec<Seg>, alt: Option<Vec<Seg>>, msg: String| {
        errors.push(Pending {
            path: Some(path),
            alt,
            message: format!("{prefix}{msg}"),
        });
    };
    let record_node = node("record", r.has_record);
    let alert_node = node("alert", r.has_alert);

    if !r.record.is_empty() && !r.alert.is_empty() {
        err(
            record_node.clone(),
            Some(alert_node.clone()),
            "only one of 'record' and 'alert' must be set".to_owned(),
        );
    }
    if r.record.is_empty() && r.alert.is_empty() {
        err(
            rpath.to_vec(),
            None,
            "one of 'record' or 'alert' must be set".to_owned(),
        );
    }
    let mut parsed = None;
    if r.expr.is_empty() {
        err(
            node("expr", r.has_expr),
            None,
            "field 'expr' must be set in rule".to_owned(),
        );
    } else {
        match promql_parser::parser::parse(&r.expr) {
            Ok(e) => parsed = Some(e),
            Err(e) => err(
                node("expr", true),
                None,
                format!("could not parse expression: {e}"),
            ),
        }
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            err(
                record_node.clone(),
                None,
                "invalid field 'annotations' in recording rule".to_owned(),
            );
        }
        if !r.for_duration.is_zero() {
            err(
                record_node.clone(),
                None,
                "invalid field 'for' in recording rule".to_owned(),
            );
        }
        if !r.keep_firing_for.is_zero() {
            err(
                record_node.clone(),
                None,
                "invalid field 'keep_firing_for' in recording rule".to_owned(),
            );
        }
        if !is_valid_metric_name(&r.record) {
            err(
                record_node.clone(),
                None,
                format!("invalid recording rule name: {}", r.record),
            );
        }
        if r.record.contains('{') || r.record.contains('}') {
            err(
                record_node.clone(),
                None,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    r.record
                ),
            );
        }
    }
    let labels_path = child(rpath, Seg::Key("labels".into()));
    for k in r.labels.keys() {
        if !is_valid_label_name(k) || k == METRIC_NAME {
            err(
                child(&labels_path, Seg::KeyName(k.clone())),
                None,
                format!("invalid label name: {k}"),
            );
        }
    }
    let ann_path = child(rpath, Seg::Key("annotations".into()));
    for k in r.annotations.keys() {
        if !is_valid_label_name(k) {
            err(
                child(&ann_path, Seg::KeyName(k.clone())),
                None,
                format!("invalid annotation name: {k}"),
            );
        }
    }
    // Templates are only expanded for alerting rules.
    if !r.alert.is_empty() {
        let tmpl_name = format!("__alert_{}", r.alert);
        for (k, v) in &r.labels {
            if let Err(e) = crate::template::check_named(&tmpl_name, v) {
                err(
                    child(&labels_path, Seg::Key(k.clone())),
                    None,
                    format!("label {k:?}: {e}"),
                );
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = crate::template::check_named(&tmpl_name, v) {
                err(
                    child(&ann_path, Seg::Key(k.clone())),
                    None,
                    format!("annotation {k:?}: {e}"),
                );
            }
        }
    }
    if errors.len() > before {
        return None;
    }
    let kind = if !r.record.is_empty() {
        RuleKind::Recording {
            record: r.record.clone(),
        }
    } else {
        RuleKind::Alerting {
            alert: r.alert.clone(),
            for_duration: r.for_duration,
            keep_firing_for: r.keep_firing_for,
            annotations: r.annotations.clone(),
        }
    };
    Some(Rule {
        kind,
        expr: r.expr.clone(),
        parsed: parsed?,
        labels: r.labels.clone(),
    })
}

// ---------------------------------------------------------------------------
// Positions: parse again, failing at the node named by a path.

const PROBE: &str = "__vigil_rulefmt_probe__";

fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Probe { path }).deserialize(de) {
        Err(e) if e.to_string().contains(PROBE) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Probe<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ProbeVisitor { path: self.path })
    }
}

struct ProbeVisitor<'p> {
    path: &'p [Seg],
}

impl ProbeVisitor<'_> {
    fn scalar<E: de::Error>(&self) -> Result<(), E> {
        if self.path.is_empty() {
            Err(E::custom(PROBE))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for ProbeVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Probe { path: self.path }.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(first) = self.path.first() else {
            return Err(de::Error::custom(PROBE));
        };
        let Seg::Index(target) = *first else {
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == target {
                return seq
                    .next_element_seed(Probe {
                        path: &self.path[1..],
                    })
                    .map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = self.path.first() else {
            return Err(de::Error::custom(PROBE));
        };
        let (target, key_itself) = match first {
            Seg::Key(k) => (k.as_str(), false),
            Seg::KeyName(k) => (k.as_str(), true),
            Seg::Index(_) => return Ok(()),
        };
        let fail_on = if key_itself { Some(target) } else { None };
        while let Some(key) = map.next_key_seed(KeySeed { fail_on })? {
            if !key_itself && key.as_deref() == Some(target) {
                return map.next_value_seed(Probe {
                    path: &self.path[1..],
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Reads a mapping key as a string (None for non-scalar keys), failing on
/// the key `fail_on`.
struct KeySeed<'a> {
    fail_on: Option<&'a str>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeySeed<'_> {
    fn check<E: de::Error>(&self, s: String) -> Result<Option<String>, E> {
        if self.fail_on == Some(s.as_str()) {
            Err(E::custom(PROBE))
        } else {
            Ok(Some(s))
        }
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
        self.check(s.to_owned())
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Option<String>, E> {
        self.check(b.to_string())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Option<String>, E> {
        self.check(n.to_string())
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Option<String>, E> {
        self.check(n.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
