//! Evaluation of label filters (`| status >= 400 and level="error"`) with
//! Loki's rules: string matchers compare absent labels as `""` and see the
//! `__error__` state; typed comparisons drop lines whose label is absent, and
//! keep lines whose label does not convert, flagging them with
//! `__error__="LabelFilterErr"` (unless an error is already set).

use super::ast::{ComparisonOp, LabelFilterExpr};
use super::labels_builder::{LabelsBuilder, LABEL_FILTER_ERROR};
use super::units::{go_parse_float, parse_go_duration, parse_humanized_bytes};

/// Whether the line passes `filter`; may set the error labels.
pub(crate) fn evaluate(filter: &LabelFilterExpr, labels: &mut LabelsBuilder<'_>) -> bool {
    match filter {
        LabelFilterExpr::And(left, right) => {
            // Both sides run (they may flag errors), as in Loki.
            let left_passes = evaluate(left, labels);
            let right_passes = evaluate(right, labels);
            left_passes && right_passes
        }
        LabelFilterExpr::Or(left, right) => evaluate(left, labels) || evaluate(right, labels),
        LabelFilterExpr::Matcher(matcher) => {
            matcher.matches(labels.value_for_filter(&matcher.name).unwrap_or_default())
        }
        LabelFilterExpr::Number { label, op, value } => {
            compare(labels, label, *op, *value, go_parse_float)
        }
        LabelFilterExpr::Duration { label, op, nanos } => {
            compare(labels, label, *op, *nanos, parse_go_duration)
        }
        LabelFilterExpr::Bytes { label, op, bytes } => {
            compare(labels, label, *op, *bytes, parse_humanized_bytes)
        }
        LabelFilterExpr::Ip(ip) => {
            if labels.has_error() {
                // Only string matchers filter lines in error.
                return true;
            }
            let Some(value) = labels.get(&ip.label) else {
                return false;
            };
            let Some(matcher) = &ip.matcher else {
                return false;
            };
            matcher.matches_in(value) != ip.negated
        }
    }
}

fn compare<T: PartialOrd>(
    labels: &mut LabelsBuilder<'_>,
    label: &str,
    op: ComparisonOp,
    wanted: T,
    convert: impl Fn(&str) -> Result<T, String>,
) -> bool {
    let Some(text) = labels.get(label) else {
        return false;
    };
    match convert(text) {
        Ok(actual) => op.compare(actual, wanted),
        Err(details) => {
            if !labels.has_error() {
                labels.set_error(LABEL_FILTER_ERROR);
                labels.set_error_details(&details);
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::labels_builder::{sorted_labels, LabelCategory};
    use model::{Label, Labels, MatchOp, Matcher};

    fn stream() -> Labels {
        sorted_labels(vec![Label::new("app", "api")])
    }

    fn with_parsed<'a>(stream: &'a Labels, parsed: &[(&str, &str)]) -> LabelsBuilder<'a> {
        let mut builder = LabelsBuilder::new(stream);
        for (name, value) in parsed {
            builder.set(LabelCategory::Parsed, name, value);
        }
        builder
    }

    fn number(label: &str, op: ComparisonOp, value: f64) -> LabelFilterExpr {
        LabelFilterExpr::Number {
            label: label.to_owned(),
            op,
            value,
        }
    }

    #[test]
    fn numeric_comparisons() {
        let stream = stream();
        let mut labels = with_parsed(&stream, &[("status", "404")]);
        assert!(evaluate(
            &number("status", ComparisonOp::GreaterThanOrEqual, 400.0),
            &mut labels
        ));
        assert!(!evaluate(
            &number("status", ComparisonOp::LessThan, 400.0),
            &mut labels
        ));
        // Absent label: the line is dropped, without error.
        assert!(!evaluate(
            &number("missing", ComparisonOp::Equal, 1.0),
            &mut labels
        ));
        assert!(!labels.has_error());
    }

    #[test]
    fn unconvertible_values_keep_the_line_and_set_an_error() {
        let stream = stream();
        let mut labels = with_parsed(&stream, &[("status", "abc")]);
        assert!(evaluate(
            &number("status", ComparisonOp::Equal, 200.0),
            &mut labels
        ));
        assert_eq!(labels.error(), "LabelFilterErr");
        assert_eq!(
            labels.error_details(),
            r#"strconv.ParseFloat: parsing "abc": invalid syntax"#
        );
    }

    #[test]
    fn durations_bytes_and_string_matchers() {
        let stream = stream();
        let mut labels = with_parsed(&stream, &[("latency", "1.5s"), ("size", "3MB")]);
        let slow = LabelFilterExpr::Duration {
            label: "latency".into(),
            op: ComparisonOp::GreaterThan,
            nanos: 1_000_000_000,
        };
        let big = LabelFilterExpr::Bytes {
            label: "size".into(),
            op: ComparisonOp::GreaterThan,
            bytes: 2_000_000,
        };
        assert!(evaluate(&slow, &mut labels));
        assert!(evaluate(&big, &mut labels));
        let app = LabelFilterExpr::Matcher(Matcher::equal("app", "api"));
        let not_web = LabelFilterExpr::Matcher(
            Matcher::new(MatchOp::NotEqual, "app", "web").unwrap_or_else(|e| panic!("{e}")),
        );
        let both = LabelFilterExpr::And(Box::new(app), Box::new(not_web));
        assert!(evaluate(&both, &mut labels));
        let absent_is_empty = LabelFilterExpr::Matcher(Matcher::equal("nope", ""));
        assert!(evaluate(&absent_is_empty, &mut labels));
    }

    #[test]
    fn error_label_is_visible_to_string_matchers() {
        let stream = stream();
        let mut labels = with_parsed(&stream, &[("status", "abc")]);
        let no_error = LabelFilterExpr::Matcher(Matcher::equal("__error__", ""));
        assert!(evaluate(&no_error, &mut labels));
        evaluate(&number("status", ComparisonOp::Equal, 1.0), &mut labels);
        assert!(!evaluate(&no_error, &mut labels));
    }
}
