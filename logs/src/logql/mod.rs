//! LogQL, Loki's query language: parsing, log pipelines and sample
//! extraction, behaving like Grafana Loki so Vigil's log store is a drop-in.
//!
//! - [`parse`] turns a query into an [`Expr`]: a [`LogExpr`] (stream
//!   selector + pipeline) or a [`MetricExpr`]. Errors are [`ParseError`]s
//!   worded exactly like Loki's.
//! - [`Pipeline`] runs the stages of a log query over lines, producing the
//!   final line and labels (stream labels + structured metadata + extracted
//!   labels, with Loki's `_extracted` collision rule and `__error__` labels).
//! - [`SampleExtractor`] turns lines into samples for a range aggregation.
//! - [`required_substrings`] gives literal substrings every matching line must
//!   contain, for block-skipping indexes.
//!
//! Files: `lexer` (tokens), `parser` (grammar and checks), `ast` (the tree),
//! `line_filter`, `label_filter`, `parsers` (json/logfmt/regexp/pattern/
//! unpack, built on `json`, `logfmt`, `pattern`), `template` and
//! `template_functions` (line_format/label_format, printing via `go_format`),
//! `labels_builder` (per-line label state), `pipeline`, `extract`, `ip`,
//! `units` (durations, byte sizes, floats) and `regex_compat` (Go-worded
//! regex errors). `ast`, `logfmt` (the decoder) and `units` are public for
//! reuse; the AST types are also re-exported here.

pub mod ast;
mod error;
mod extract;
mod go_format;
mod ip;
mod json;
mod label_filter;
mod labels_builder;
mod lexer;
mod line_filter;
pub mod logfmt;
mod parser;
#[cfg(test)]
mod parser_tests;
mod parsers;
mod pattern;
mod pipeline;
mod regex_compat;
mod template;
mod template_functions;
pub mod units;

pub use ast::{
    BinaryOp, BinaryOperation, Cardinality, ComparisonOp, Expr, Grouping, IpLabelFilter,
    JsonParser, LabelExtraction, LabelFilterExpr, LabelFormat, LabelFormatItem, LabelFormatSource,
    LabelReplace, LabelSelector, LabelTemplate, LineFilter, LineFilterOp, LineFilterValue,
    LineFormat, LogExpr, LogRange, LogfmtParser, MetricExpr, PatternParser, RangeAggregation,
    RangeOp, RegexpParser, Stage, Unwrap, UnwrapConversion, VectorAggregation, VectorMatching,
    VectorOp,
};
pub use error::ParseError;
pub use extract::SampleExtractor;
pub use pipeline::{Pipeline, Processed};

/// Parses a LogQL query, with Loki's syntax, checks and error wording.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    parser::parse_query(query)
}

/// Literal, case-sensitive substrings that every line passing `expr`'s
/// pipeline contains: the `|= "..."` filters (without `or` alternatives)
/// that run before any stage rewriting the line (`line_format`,
/// `decolorize`, `unpack`). Empty strings are left out; duplicates removed.
pub fn required_substrings(expr: &LogExpr) -> Vec<String> {
    let mut substrings: Vec<String> = Vec::new();
    for stage in &expr.stages {
        match stage {
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => break,
            Stage::LineFilter(filter) if filter.op == LineFilterOp::Contains => {
                if let [LineFilterValue::Text(text)] = filter.values.as_slice() {
                    if !text.is_empty() && !substrings.contains(text) {
                        substrings.push(text.clone());
                    }
                }
            }
            _ => {}
        }
    }
    substrings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn substrings(query: &str) -> Vec<String> {
        match parse(query) {
            Ok(Expr::Log(log)) => required_substrings(&log),
            other => panic!("{query}: {other:?}"),
        }
    }

    #[test]
    fn required_substrings_come_from_plain_contains_filters() {
        assert_eq!(
            substrings(r#"{app="a"} |= "error" != "debug" |~ "x.y" |= "code" |= "error""#),
            ["error", "code"]
        );
        assert!(substrings(r#"{app="a"} |= "a" or "b""#).is_empty());
        assert!(substrings(r#"{app="a"} |= """#).is_empty());
        assert!(substrings(r#"{app="a"} |= ip("10.0.0.1")"#).is_empty());
    }

    #[test]
    fn required_substrings_stop_at_line_rewrites() {
        assert_eq!(
            substrings(
                r#"{app="a"} |= "a" | json | level="x" |= "b" | line_format "{{.x}}" |= "c""#
            ),
            ["a", "b"]
        );
        assert_eq!(
            substrings(r#"{app="a"} | decolorize |= "c""#),
            Vec::<String>::new()
        );
        assert_eq!(substrings(r#"{app="a"} |= "a" | unpack |= "c""#), ["a"]);
    }

    #[test]
    fn public_types_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Expr>();
        assert_send_sync::<Pipeline>();
        assert_send_sync::<SampleExtractor>();
    }
}
