//! Prometheus' alert templating: Go text/template (through the `gtmpl`
//! crate) with Prometheus' data and function map (`template/template.go`,
//! `rules/alerting.go`).
//!
//! The text is prefixed with
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! and executed with `{Labels, ExternalLabels, ExternalURL, Value}` under
//! the name `__alert_<alertname>`, as Prometheus does.
//!
//! Where `gtmpl` 0.7 differs from Go, and what is done about it:
//! - A missing label (`{{ $labels.nope }}`) would print `<no value>` in
//!   gtmpl but "" in Prometheus (`missingkey=zero` on a `map[string]string`).
//!   Every label name the template names through `$labels.x`, `.Labels.x`,
//!   `$externalLabels.x` or `.ExternalLabels.x` is added as an empty entry
//!   (to query results' `.Labels` too); label values are never empty, so
//!   only `range`/`len` over a label map can tell.
//! - gtmpl_value turns negative fractional floats into integers and
//!   saturates past `u64::MAX`: such values travel as their Go `%v` text
//!   (see `float_value`); negative float *literals* in a template
//!   (`{{ -0.5 }}`) are still truncated by gtmpl's parser.
//!
//! Not worked around: a float printed directly (`{{ $value }}`) uses Rust's
//! formatting (`1234567`; Go `1.234567e+06`); `range` over a map is in hash
//! order (Go: sorted keys); `{{ if $value }}` is true for 0.0 (Go: false);
//! parse errors carry gtmpl's line numbers (not Go's) and execution errors
//! lack Go's `template: name:L:C: executing ... at <...>:` context;
//! `toTime` yields the time's string (gtmpl cannot call `.Format`).

mod funcs;
pub mod gofmt;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use gtmpl::{Context, Template, Value};

use std::sync::Arc;

use crate::engine::QueryEngine;

/// What an alert template sees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

impl TemplateData {
    /// Data for an alert with these labels and value.
    pub fn new(labels: &model::Labels, value: f64) -> TemplateData {
        TemplateData {
            labels: labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            value,
            ..TemplateData::default()
        }
    }
}

/// The variable definitions Prometheus puts before every alert template.
pub const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands an alert label or annotation template. `engine` serves the
/// `query` function (without one, `query` fails); `t_ms` is the evaluation
/// time queries run at. Errors are worded as Prometheus' expander words them
/// (`error parsing template __alert_X: ...`, `error executing template
/// __alert_X: ...`); Prometheus puts them in the annotation as
/// `<error expanding template: ...>`, see [`expand_or_error`].
pub fn expand(
    text: &str,
    data: &TemplateData,
    engine: Option<Arc<dyn QueryEngine>>,
    t_ms: i64,
) -> Result<String, String> {
    let name = format!(
        "__alert_{}",
        data.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    );
    let full = format!("{DEFS}{text}");
    let keys = referenced_label_names(&full);
    let with_keys = |m: &BTreeMap<String, String>| {
        let mut out: HashMap<String, Value> = m
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        for k in &keys {
            out.entry(k.clone()).or_insert_with(|| Value::from(""));
        }
        Value::Map(out)
    };
    let mut dot = HashMap::new();
    dot.insert("Labels".to_owned(), with_keys(&data.labels));
    dot.insert(
        "ExternalLabels".to_owned(),
        with_keys(&data.external_labels),
    );
    dot.insert(
        "ExternalURL".to_owned(),
        Value::from(data.external_url.clone()),
    );
    dot.insert("Value".to_owned(), float_value(data.value));
    render(&name, &full, Value::Object(dot), engine, t_ms, keys)
}

/// [`expand`], with an error turned into the text Prometheus stores in the
/// annotation instead: `<error expanding template: ...>`.
pub fn expand_or_error(
    text: &str,
    data: &TemplateData,
    engine: Option<Arc<dyn QueryEngine>>,
    t_ms: i64,
) -> String {
    expand(text, data, engine, t_ms).unwrap_or_else(|e| format!("<error expanding template: {e}>"))
}

/// A float as a template value. gtmpl_value 0.5 turns every negative float
/// into an integer (`-0.5` becomes `0`), positive ones below `f64::EPSILON`
/// into 0 and ones past `u64::MAX` into `u64::MAX`; those values travel as
/// their Go `%v` text instead, which prints right and which the humanize
/// functions parse back exactly (Prometheus' functions take strings too),
/// but which `printf "%f"` and `lt`/`gt` cannot use as numbers.
pub(crate) fn float_value(v: f64) -> Value {
    let exact = !v.is_finite()
        || (v.fract() == 0.0 && v.abs() < 9.0e18)
        || (v > 0.0 && v.fract() >= f64::EPSILON && v < 9.0e18);
    if exact {
        Value::from(v)
    } else {
        Value::from(gofmt::format_v(v))
    }
}

/// Checks that an alert template parses (as `promtool check rules` does).
pub fn check(text: &str) -> Result<(), String> {
    check_named("__alert_", text)
}

/// [`check`] under a template name (`__alert_<alertname>` in rule files),
/// which Go puts in its messages.
pub fn check_named(name: &str, text: &str) -> Result<(), String> {
    new_template(name)
        .parse(format!("{DEFS}{text}"))
        .map_err(|e| go_parse_error(&e.to_string()))
}

fn new_template(name: &str) -> Template {
    let mut t = Template::with_name(name);
    t.add_funcs(funcs::FUNCS);
    t
}

/// gtmpl words a parse error `template: name:1:msg`; Go `template: name:1: msg`.
fn go_parse_error(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("template: ") {
        // name:line:msg
        let mut parts = rest.splitn(3, ':');
        if let (Some(name), Some(line), Some(m)) = (parts.next(), parts.next(), parts.next()) {
            if line.chars().all(|c| c.is_ascii_digit()) && !m.starts_with(' ') {
                return format!("template: {name}:{line}: {m}");
            }
        }
    }
    msg.to_owned()
}

/// Label names a template reads by field syntax from the label maps (and
/// from query results' `.Labels`).
fn referenced_label_names(text: &str) -> Vec<String> {
    use std::sync::OnceLock;
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"(?:\$labels|\$externalLabels|\.Labels|\.ExternalLabels)\.([A-Za-z_][A-Za-z0-9_]*)",
        )
        .expect("static regex")
    });
    let mut out: Vec<String> = re.captures_iter(text).map(|c| c[1].to_owned()).collect();
    out.sort();
    out.dedup();
    out
}

/// What the functions of one expansion need: gtmpl functions are plain
/// `fn` pointers, so this travels through a thread-local for the duration
/// of one render.
pub(crate) struct ExpandContext {
    pub engine: Option<Arc<dyn QueryEngine>>,
    pub t_ms: i64,
    pub label_keys: Vec<String>,
}

thread_local! {
    static CONTEXT: RefCell<Option<ExpandContext>> = const { RefCell::new(None) };
}

pub(crate) fn with_context<R>(f: impl FnOnce(Option<&ExpandContext>) -> R) -> R {
    CONTEXT.with(|c| f(c.borrow().as_ref()))
}

struct ContextGuard {
    previous: Option<ExpandContext>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let prev = self.previous.take();
        CONTEXT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Parses and executes `text` (already prefixed as needed) with `dot`.
fn render(
    name: &str,
    text: &str,
    dot: Value,
    engine: Option<Arc<dyn QueryEngine>>,
    t_ms: i64,
    label_keys: Vec<String>,
) -> Result<String, String> {
    let mut tmpl = new_template(name);
    tmpl.parse(text).map_err(|e| {
        format!(
            "error parsing template {name}: {}",
            go_parse_error(&e.to_string())
        )
    })?;
    let previous = CONTEXT.with(|c| {
        c.borrow_mut().replace(ExpandContext {
            engine,
            t_ms,
            label_keys,
        })
    });
    let _guard = ContextGuard { previous };
    tmpl.render(&Context::from(dot))
        .map_err(|e| format!("error executing template {name}: {e}"))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
