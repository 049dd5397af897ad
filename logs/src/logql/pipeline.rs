//! Running a log pipeline over lines: [`Pipeline`] applies the stages of a
//! [`LogExpr`](super::LogExpr) to each line and returns the (possibly
//! rewritten) line and its final label set, or `None` when a filter drops it.
//!
//! Like Loki, line filters are moved ahead of the parsers that precede them
//! (up to the previous label filter, `line_format` or `unpack`), which never
//! changes results but skips parsing lines that are filtered out anyway.

use std::borrow::Cow;
use std::sync::OnceLock;

use model::Labels;
use regex::Regex;

use super::ast::{LabelFormat, LabelFormatSource, LabelSelector, LineFormat, Stage};
use super::label_filter;
use super::labels_builder::{
    LabelCategory, LabelsBuilder, ERROR_DETAILS_LABEL, ERROR_LABEL, PRESERVE_ERROR_LABEL,
    TEMPLATE_FORMAT_ERROR,
};
use super::parsers;
use super::template::{TemplateData, TemplateInput};

/// A line that passed the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Processed<'a> {
    /// The line after `line_format`/`decolorize`/`unpack` (borrowed when unchanged).
    pub line: Cow<'a, str>,
    /// Stream labels + structured metadata + extracted labels, sorted.
    /// Labels extracted with an empty value are kept (as Loki does).
    pub labels: Labels,
}

/// An immutable, thread-safe pipeline built once per query.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

/// Stage order in which Loki runs a pipeline: line filters first within each
/// segment bounded by label filters, `line_format` and `unpack`.
pub(crate) fn loki_stage_order(stages: &[Stage]) -> Vec<usize> {
    let mut order = Vec::with_capacity(stages.len());
    let mut line_filters = Vec::new();
    let mut others = Vec::new();
    let flush = |order: &mut Vec<usize>, line_filters: &mut Vec<usize>, others: &mut Vec<usize>| {
        order.append(line_filters);
        order.append(others);
    };
    for (index, stage) in stages.iter().enumerate() {
        match stage {
            Stage::LabelFilter(_) => {
                flush(&mut order, &mut line_filters, &mut others);
                order.push(index);
            }
            Stage::LineFilter(_) => line_filters.push(index),
            Stage::LineFormat(_) | Stage::Unpack => {
                others.push(index);
                flush(&mut order, &mut line_filters, &mut others);
            }
            _ => others.push(index),
        }
    }
    flush(&mut order, &mut line_filters, &mut others);
    order
}

impl Pipeline {
    /// Builds a pipeline from the stages of a parsed log query.
    pub fn new(stages: &[Stage]) -> Pipeline {
        let stages = loki_stage_order(stages)
            .into_iter()
            .filter_map(|index| stages.get(index).cloned())
            .collect();
        Pipeline { stages }
    }

    /// Whether the pipeline leaves every line and label untouched.
    pub fn is_noop(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the pipeline on one line of a stream. `structured_metadata` is the
    /// entry's structured metadata, as name/value pairs.
    pub fn process<'a>(
        &self,
        timestamp_nanos: i64,
        line: &'a str,
        stream: &Labels,
        structured_metadata: &[(String, String)],
    ) -> Option<Processed<'a>> {
        if self.stages.is_empty() && structured_metadata.is_empty() {
            return Some(Processed {
                line: Cow::Borrowed(line),
                labels: stream.clone(),
            });
        }
        let mut labels = LabelsBuilder::new(stream);
        add_structured_metadata(&mut labels, structured_metadata);
        let line = self.run(timestamp_nanos, line, &mut labels)?;
        Some(Processed {
            line,
            labels: labels.labels(),
        })
    }

    /// Runs the stages against a prepared label state.
    pub(crate) fn run<'a>(
        &self,
        timestamp_nanos: i64,
        line: &'a str,
        labels: &mut LabelsBuilder<'_>,
    ) -> Option<Cow<'a, str>> {
        let mut line: Cow<'a, str> = Cow::Borrowed(line);
        for stage in &self.stages {
            match stage {
                Stage::LineFilter(filter) => {
                    if !filter.compiled.matches(&line) {
                        return None;
                    }
                }
                Stage::LabelFilter(filter) => {
                    if !label_filter::evaluate(filter, labels) {
                        return None;
                    }
                }
                Stage::Json(parser) => parsers::apply_json(parser, &line, labels),
                Stage::Logfmt(parser) => parsers::apply_logfmt(parser, &line, labels),
                Stage::Regexp(parser) => parsers::apply_regexp(parser, &line, labels),
                Stage::Pattern(parser) => parsers::apply_pattern(parser, &line, labels),
                Stage::Unpack => {
                    if let Some(entry) = parsers::apply_unpack(&line, labels) {
                        line = Cow::Owned(entry);
                    }
                }
                Stage::LineFormat(format) => {
                    if let Some(formatted) = format_line(format, timestamp_nanos, &line, labels) {
                        line = Cow::Owned(formatted);
                    }
                }
                Stage::LabelFormat(format) => format_labels(format, timestamp_nanos, &line, labels),
                Stage::Drop(selectors) => drop_labels(selectors, labels),
                Stage::Keep(selectors) => keep_labels(selectors, labels),
                Stage::Decolorize => {
                    if let (true, Some(ansi)) = (line.contains(['\u{1b}', '\u{9b}']), ansi_regex())
                    {
                        line = Cow::Owned(ansi.replace_all(&line, "").into_owned());
                    }
                }
            }
        }
        Some(line)
    }
}

/// Structured metadata enters as its own category; a name colliding with a
/// stream label becomes `name_extracted`.
pub(crate) fn add_structured_metadata(
    labels: &mut LabelsBuilder<'_>,
    structured_metadata: &[(String, String)],
) {
    for (name, value) in structured_metadata {
        labels.add(LabelCategory::StructuredMetadata, name, value);
    }
}

impl TemplateData for LabelsBuilder<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.value_for_template(name)
    }

    fn all_labels(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        self.for_each_label(|name, value| all.push((name.to_owned(), value.to_owned())));
        all
    }
}

/// A frozen copy of the labels, which `label_format` templates read.
struct LabelSnapshot(Vec<(String, String)>);

impl TemplateData for LabelSnapshot {
    fn label(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }

    fn all_labels(&self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

/// `line_format`: a failing template keeps the line and sets `TemplateFormatErr`.
fn format_line(
    format: &LineFormat,
    timestamp_nanos: i64,
    line: &str,
    labels: &mut LabelsBuilder<'_>,
) -> Option<String> {
    let result = format.compiled.execute(&TemplateInput {
        data: &*labels,
        line,
        timestamp_nanos,
    });
    match result {
        Ok(formatted) => Some(formatted),
        Err(details) => {
            labels.set_error_with_details(TEMPLATE_FORMAT_ERROR, Some(&details));
            None
        }
    }
}

/// `label_format`: renames move a label (keeping its category); templates
/// all read the labels as they were when the first template ran.
fn format_labels(
    format: &LabelFormat,
    timestamp_nanos: i64,
    line: &str,
    labels: &mut LabelsBuilder<'_>,
) {
    let mut snapshot: Option<LabelSnapshot> = None;
    for item in &format.items {
        match &item.source {
            LabelFormatSource::Rename(source) => {
                if let Some((value, category)) = labels
                    .get_with_category(source)
                    .map(|(value, category)| (value.to_owned(), category))
                {
                    labels.set(category, &item.target, &value);
                    labels.delete(source);
                }
            }
            LabelFormatSource::Template(template) => {
                let snapshot = snapshot.get_or_insert_with(|| LabelSnapshot(labels.all_labels()));
                let result = template.compiled.execute(&TemplateInput {
                    data: &*snapshot,
                    line,
                    timestamp_nanos,
                });
                match result {
                    Ok(value) => labels.set(LabelCategory::Parsed, &item.target, &value),
                    Err(details) => {
                        labels.set_error_with_details(TEMPLATE_FORMAT_ERROR, Some(&details));
                    }
                }
            }
        }
    }
}

/// `drop`: names or matchers; `__error__`/`__error_details__` reset the error.
fn drop_labels(selectors: &[LabelSelector], labels: &mut LabelsBuilder<'_>) {
    for selector in selectors {
        match selector {
            LabelSelector::Name(name) => match name.as_str() {
                ERROR_LABEL => labels.reset_error(),
                ERROR_DETAILS_LABEL => labels.reset_error_details(),
                _ => {
                    if labels.get(name).is_some() {
                        labels.delete(name);
                    }
                }
            },
            LabelSelector::Matcher(matcher) => match matcher.name.as_str() {
                ERROR_LABEL => {
                    if matcher.matches(labels.error()) {
                        labels.reset_error();
                    }
                }
                ERROR_DETAILS_LABEL => {
                    if matcher.matches(labels.error_details()) {
                        labels.reset_error_details();
                    }
                }
                name => {
                    let value = labels.get(name).unwrap_or_default();
                    if matcher.matches(value) {
                        labels.delete(name);
                    }
                }
            },
        }
    }
}

/// `keep`: deletes every label not listed; error labels are always kept.
fn keep_labels(selectors: &[LabelSelector], labels: &mut LabelsBuilder<'_>) {
    if selectors.is_empty() {
        return;
    }
    let mut to_delete = Vec::new();
    labels.for_each_label(|name, value| {
        if matches!(
            name,
            ERROR_LABEL | ERROR_DETAILS_LABEL | PRESERVE_ERROR_LABEL
        ) {
            return;
        }
        let keep = selectors.iter().any(|selector| match selector {
            LabelSelector::Name(kept) => kept == name,
            LabelSelector::Matcher(matcher) => matcher.name == name && matcher.matches(value),
        });
        if !keep {
            to_delete.push(name.to_owned());
        }
    });
    for name in to_delete {
        labels.delete(&name);
    }
}

/// ANSI escape sequences, as Loki's `decolorize` removes them.
fn ansi_regex() -> Option<&'static Regex> {
    static ANSI: OnceLock<Option<Regex>> = OnceLock::new();
    ANSI.get_or_init(|| {
        Regex::new(
            r"[\x{1b}\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x{07})|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))",
        )
        .ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{parse, Expr, LogExpr};
    use model::{Label, Labels};

    fn log_expr(query: &str) -> LogExpr {
        match parse(query) {
            Ok(Expr::Log(log)) => log,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn stream(pairs: &[(&str, &str)]) -> Labels {
        crate::logql::labels_builder::sorted_labels(
            pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        )
    }

    fn run(query: &str, line: &str, stream_labels: &[(&str, &str)]) -> Option<(String, String)> {
        let pipeline = Pipeline::new(&log_expr(query).stages);
        pipeline
            .process(1_700_000_000_000_000_000, line, &stream(stream_labels), &[])
            .map(|p| (p.line.into_owned(), p.labels.to_string()))
    }

    #[test]
    fn line_filters_chain_and_alternate() {
        let query = r#"{app="a"} |= "error" != "timeout" |~ "code=\\d+" or "fatal""#;
        assert!(run(query, "error code=5", &[("app", "a")]).is_some());
        assert!(run(query, "error fatal", &[("app", "a")]).is_some());
        assert!(run(query, "error timeout code=5", &[("app", "a")]).is_none());
        assert!(run(query, "warning code=5", &[("app", "a")]).is_none());
        let negated_or = r#"{app="a"} != "debug" or "trace""#;
        assert!(run(negated_or, "info msg", &[("app", "a")]).is_some());
        assert!(run(negated_or, "trace msg", &[("app", "a")]).is_none());
    }

    #[test]
    fn unchanged_lines_are_borrowed() {
        let pipeline = Pipeline::new(&log_expr(r#"{app="a"} |= "x" | logfmt"#).stages);
        let labels = stream(&[("app", "a")]);
        let processed = pipeline.process(0, "x=1", &labels, &[]);
        assert!(matches!(
            processed.map(|p| p.line),
            Some(Cow::Borrowed("x=1"))
        ));
    }

    #[test]
    fn parsers_and_label_filters() {
        let query = r#"{app="a"} | logfmt | level="error" and status >= 500"#;
        let kept = run(query, "level=error status=503 msg=boom", &[("app", "a")]);
        assert_eq!(
            kept.map(|(_, labels)| labels),
            Some(r#"{app="a", level="error", msg="boom", status="503"}"#.to_owned())
        );
        assert!(run(query, "level=error status=404", &[("app", "a")]).is_none());
        assert!(run(query, "level=info status=503", &[("app", "a")]).is_none());
    }

    #[test]
    fn numeric_filter_on_non_numeric_value_flags_the_line() {
        let query = r#"{app="a"} | logfmt | status > 400"#;
        let kept = run(query, "status=oops", &[("app", "a")]);
        assert_eq!(
            kept.map(|(_, labels)| labels),
            Some(r#"{__error__="LabelFilterErr", __error_details__="strconv.ParseFloat: parsing \"oops\": invalid syntax", app="a", status="oops"}"#.to_owned())
        );
        let filtered = r#"{app="a"} | logfmt | status > 400 | __error__="""#;
        assert!(run(filtered, "status=oops", &[("app", "a")]).is_none());
    }

    #[test]
    fn formatting_stages() {
        let query = r#"{app="a"} | logfmt | line_format "{{.level | ToUpper}}: {{.msg}}" | label_format lvl=level, who="{{.app}}-{{.msg}}""#;
        let (line, labels) =
            run(query, r#"level=warn msg="disk full""#, &[("app", "a")]).expect("line kept");
        assert_eq!(line, "WARN: disk full");
        assert_eq!(
            labels,
            r#"{app="a", lvl="warn", msg="disk full", who="a-disk full"}"#
        );
    }

    #[test]
    fn label_format_templates_read_the_labels_before_the_stage() {
        // `b` sees `a` as it was before this label_format, as in Loki.
        let query =
            r#"{app="a"} | logfmt | label_format a="new-{{.x}}", b="{{.a}}|{{ __line__ }}""#;
        let (_, labels) = run(query, "a=old x=1", &[("app", "a")]).expect("line kept");
        assert_eq!(labels, r#"{a="new-1", app="a", b="old|a=old x=1", x="1"}"#);
        // A rename moves the value; renaming a missing label does nothing.
        let rename = r#"{app="a"} | logfmt | label_format service=app, gone=missing"#;
        let (_, labels) = run(rename, "x=1", &[("app", "a")]).expect("line kept");
        assert_eq!(labels, r#"{service="a", x="1"}"#);
    }

    #[test]
    fn template_errors_keep_the_line() {
        let query = r#"{app="a"} | line_format "{{ ToUpper 1 }}""#;
        let (line, labels) = run(query, "original", &[("app", "a")]).expect("line kept");
        assert_eq!(line, "original");
        assert!(
            labels.contains(r#"__error__="TemplateFormatErr""#),
            "{labels}"
        );
    }

    #[test]
    fn drop_keep_and_decolorize() {
        let query = r#"{app="a"} | logfmt | drop level, msg="x" | decolorize"#;
        let (line, labels) = run(
            query,
            "level=info msg=x other=1 \u{1b}[31mred\u{1b}[0m",
            &[("app", "a")],
        )
        .expect("kept");
        assert_eq!(line, "level=info msg=x other=1 red");
        assert_eq!(labels, r#"{app="a", other="1"}"#);
        let keep = r#"{app="a", env="prod"} | logfmt | keep app, level="info""#;
        let (_, labels) =
            run(keep, "level=info x=1", &[("app", "a"), ("env", "prod")]).expect("kept");
        assert_eq!(labels, r#"{app="a", level="info"}"#);
        let drop_error = r#"{app="a"} | json | drop __error__, __error_details__"#;
        let (_, labels) = run(drop_error, "not json", &[("app", "a")]).expect("kept");
        assert_eq!(labels, r#"{app="a"}"#);
    }

    #[test]
    fn structured_metadata_joins_the_labels() {
        let pipeline = Pipeline::new(&log_expr(r#"{app="a"} | trace_id="t1""#).stages);
        let labels = stream(&[("app", "a")]);
        let metadata = vec![
            ("trace_id".to_owned(), "t1".to_owned()),
            ("app".to_owned(), "sm".to_owned()),
        ];
        let processed = pipeline
            .process(0, "line", &labels, &metadata)
            .expect("kept");
        assert_eq!(
            processed.labels.to_string(),
            r#"{app="a", app_extracted="sm", trace_id="t1"}"#
        );
        assert!(pipeline.process(0, "line", &labels, &[]).is_none());
    }

    #[test]
    fn unpack_then_filter_on_the_unpacked_line() {
        let query = r#"{app="a"} | unpack |= "inner""#;
        let (line, labels) = run(
            query,
            r#"{"_entry":"inner text","pod":"p"}"#,
            &[("app", "a")],
        )
        .expect("kept");
        assert_eq!(line, "inner text");
        assert_eq!(labels, r#"{app="a", pod="p"}"#);
        assert!(run(query, r#"{"_entry":"other","pod":"p"}"#, &[("app", "a")]).is_none());
    }

    #[test]
    fn stage_order_moves_line_filters_before_parsers() {
        let stages =
            log_expr(r#"{a="b"} | json |= "x" | level="e" |= "y" | line_format "z" |= "w""#).stages;
        assert_eq!(loki_stage_order(&stages), vec![1, 0, 2, 3, 4, 5]);
    }

    #[test]
    fn pipeline_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pipeline>();
    }
}
