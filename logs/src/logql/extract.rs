//! Sample extraction for range aggregations: turns each log line into a
//! `(value, series labels)` pair, as Loki's sample extractors do.
//! - `count_over_time`, `rate`, `absent_over_time`: 1 per line;
//! - `bytes_over_time`, `bytes_rate`: the line's length in bytes (after the pipeline);
//! - with `| unwrap`: the label converted to a float (`duration()` → seconds,
//!   `bytes()` → bytes). A line without the label yields no sample; a value
//!   that does not convert yields 0 with `__error__="SampleExtractionErr"`.
//!
//! Series labels drop the unwrapped label and apply the aggregation's
//! `by`/`without`; a sample carrying `__error__` keeps all its labels so the
//! error is not lost.

use model::Labels;

use super::ast::{Grouping, LabelFilterExpr, RangeAggregation, RangeOp, UnwrapConversion};
use super::label_filter;
use super::labels_builder::{LabelsBuilder, SeriesGrouping, SAMPLE_EXTRACTION_ERROR};
use super::pipeline::{add_structured_metadata, Pipeline};
use super::units::{go_parse_float, parse_go_duration, parse_humanized_bytes, NANOS_PER_SECOND};

#[derive(Clone, Debug)]
enum SampleValue {
    LineCount,
    LineBytes,
    Label {
        name: String,
        conversion: UnwrapConversion,
        post_filters: Vec<LabelFilterExpr>,
    },
}

/// Extracts samples for one range aggregation. Immutable and thread-safe.
#[derive(Clone, Debug)]
pub struct SampleExtractor {
    pipeline: Pipeline,
    value: SampleValue,
    grouping: SeriesGrouping,
}

impl SampleExtractor {
    /// The extractor for a range aggregation, with its own grouping.
    pub fn new(aggregation: &RangeAggregation) -> SampleExtractor {
        SampleExtractor::with_grouping(aggregation, aggregation.grouping.as_ref())
    }

    /// The extractor with `grouping` instead of the aggregation's own: lets a
    /// caller push down the grouping of an enclosing `sum by (...)`, as Loki
    /// does when the range aggregation has none.
    pub fn with_grouping(
        aggregation: &RangeAggregation,
        grouping: Option<&Grouping>,
    ) -> SampleExtractor {
        let mut groups: Vec<String> = grouping.map(|g| g.labels.clone()).unwrap_or_default();
        let mut without = grouping.is_some_and(|g| g.without);
        let mut no_labels = grouping.is_some_and(|g| g.labels.is_empty());
        if aggregation.op == RangeOp::AbsentOverTime {
            no_labels = true;
        }
        groups.sort();
        let value = match &aggregation.range.unwrap {
            Some(unwrap) => {
                if groups.is_empty() || without {
                    without = true;
                    groups.push(unwrap.label.clone());
                    groups.sort();
                }
                SampleValue::Label {
                    name: unwrap.label.clone(),
                    conversion: unwrap.conversion,
                    post_filters: unwrap.post_filters.clone(),
                }
            }
            None => match aggregation.op {
                RangeOp::BytesOverTime | RangeOp::BytesRate => SampleValue::LineBytes,
                _ => SampleValue::LineCount,
            },
        };
        let grouping = if no_labels {
            SeriesGrouping::Nothing
        } else if groups.is_empty() {
            SeriesGrouping::All
        } else if without {
            SeriesGrouping::Without(groups)
        } else {
            SeriesGrouping::By(groups)
        };
        SampleExtractor {
            pipeline: Pipeline::new(&aggregation.range.log.stages),
            value,
            grouping,
        }
    }

    /// The sample for one line, or `None` when the line is filtered out or
    /// lacks the unwrapped label.
    pub fn extract(
        &self,
        timestamp_nanos: i64,
        line: &str,
        stream: &Labels,
        structured_metadata: &[(String, String)],
    ) -> Option<(f64, Labels)> {
        let mut labels = LabelsBuilder::new(stream);
        add_structured_metadata(&mut labels, structured_metadata);
        let line = self.pipeline.run(timestamp_nanos, line, &mut labels)?;
        let value = match &self.value {
            SampleValue::LineCount => 1.0,
            SampleValue::LineBytes => line.len() as f64,
            SampleValue::Label {
                name,
                conversion,
                post_filters,
            } => {
                let text = labels.get(name).unwrap_or_default();
                if text.is_empty() {
                    return None;
                }
                let value = match convert(text, *conversion) {
                    Ok(value) => value,
                    Err(details) => {
                        labels.set_error_with_details(SAMPLE_EXTRACTION_ERROR, Some(&details));
                        0.0
                    }
                };
                for filter in post_filters {
                    if !label_filter::evaluate(filter, &mut labels) {
                        return None;
                    }
                }
                value
            }
        };
        Some((value, labels.grouped_labels(&self.grouping)))
    }
}

fn convert(text: &str, conversion: UnwrapConversion) -> Result<f64, String> {
    match conversion {
        UnwrapConversion::Float => go_parse_float(text),
        UnwrapConversion::Duration | UnwrapConversion::DurationSeconds => {
            parse_go_duration(text).map(|nanos| nanos as f64 / NANOS_PER_SECOND as f64)
        }
        UnwrapConversion::Bytes => parse_humanized_bytes(text).map(|bytes| bytes as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::labels_builder::sorted_labels;
    use crate::logql::{parse, Expr, MetricExpr};
    use model::Label;

    fn aggregation(query: &str) -> RangeAggregation {
        match parse(query) {
            Ok(Expr::Metric(MetricExpr::RangeAggregation(aggregation))) => aggregation,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn stream() -> Labels {
        sorted_labels(vec![Label::new("app", "api"), Label::new("env", "prod")])
    }

    fn extract(query: &str, line: &str) -> Option<(f64, String)> {
        SampleExtractor::new(&aggregation(query))
            .extract(0, line, &stream(), &[])
            .map(|(value, labels)| (value, labels.to_string()))
    }

    #[test]
    fn counting_and_bytes() {
        assert_eq!(
            extract(r#"count_over_time({app="api"} |= "x" [5m])"#, "has x"),
            Some((1.0, r#"{app="api", env="prod"}"#.to_owned()))
        );
        assert_eq!(extract(r#"rate({app="api"} |= "x" [5m])"#, "no"), None);
        assert_eq!(
            extract(r#"bytes_over_time({app="api"}[5m])"#, "héllo"),
            Some((6.0, r#"{app="api", env="prod"}"#.to_owned()))
        );
        assert_eq!(
            extract(
                r#"bytes_rate({app="api"} | line_format "ab" [5m])"#,
                "a much longer line"
            ),
            Some((2.0, r#"{app="api", env="prod"}"#.to_owned()))
        );
        assert_eq!(
            extract(r#"absent_over_time({app="api"}[5m])"#, "x"),
            Some((1.0, "{}".to_owned()))
        );
    }

    #[test]
    fn unwrap_conversions_and_label_removal() {
        assert_eq!(
            extract(
                r#"sum_over_time({app="api"} | logfmt | unwrap latency [1m])"#,
                "latency=2.5 path=/a"
            ),
            Some((2.5, r#"{app="api", env="prod", path="/a"}"#.to_owned()))
        );
        assert_eq!(
            extract(
                r#"avg_over_time({app="api"} | logfmt | unwrap duration(took) [1m])"#,
                "took=1m30s"
            ),
            Some((90.0, r#"{app="api", env="prod"}"#.to_owned()))
        );
        assert_eq!(
            extract(
                r#"max_over_time({app="api"} | logfmt | unwrap bytes(size) [1m])"#,
                "size=2KiB"
            ),
            Some((2048.0, r#"{app="api", env="prod"}"#.to_owned()))
        );
        // No value: no sample.
        assert_eq!(
            extract(
                r#"sum_over_time({app="api"} | logfmt | unwrap latency [1m])"#,
                "other=1"
            ),
            None
        );
    }

    #[test]
    fn conversion_errors_are_flagged_and_can_be_filtered() {
        assert_eq!(
            extract(r#"sum_over_time({app="api"} | logfmt | unwrap latency [1m])"#, "latency=fast"),
            Some((
                0.0,
                r#"{__error__="SampleExtractionErr", __error_details__="strconv.ParseFloat: parsing \"fast\": invalid syntax", app="api", env="prod", latency="fast"}"#
                    .to_owned()
            ))
        );
        assert_eq!(
            extract(
                r#"sum_over_time({app="api"} | logfmt | unwrap latency | __error__="" [1m])"#,
                "latency=fast"
            ),
            None
        );
        assert_eq!(
            extract(r#"sum_over_time({app="api"} | logfmt | unwrap duration(d) [1m])"#, "d=12"),
            Some((
                0.0,
                r#"{__error__="SampleExtractionErr", __error_details__="time: missing unit in duration \"12\"", app="api", d="12", env="prod"}"#
                    .to_owned()
            ))
        );
    }

    #[test]
    fn grouping_is_applied() {
        assert_eq!(
            extract(
                r#"max_over_time({app="api"} | logfmt | unwrap v [1m]) by (path)"#,
                "v=3 path=/x other=1"
            ),
            Some((3.0, r#"{path="/x"}"#.to_owned()))
        );
        assert_eq!(
            extract(
                r#"max_over_time({app="api"} | logfmt | unwrap v [1m]) without (env)"#,
                "v=3 path=/x"
            ),
            Some((3.0, r#"{app="api", path="/x"}"#.to_owned()))
        );
        assert_eq!(
            extract(
                r#"max_over_time({app="api"} | logfmt | unwrap v [1m]) by ()"#,
                "v=3 path=/x"
            ),
            Some((3.0, "{}".to_owned()))
        );
        let pushed_down = SampleExtractor::with_grouping(
            &aggregation(r#"count_over_time({app="api"} | logfmt [1m])"#),
            Some(&Grouping {
                without: false,
                labels: vec!["level".into()],
            }),
        );
        let sample = pushed_down.extract(0, "level=warn x=1", &stream(), &[]);
        assert_eq!(
            sample.map(|(v, l)| (v, l.to_string())),
            Some((1.0, r#"{level="warn"}"#.to_owned()))
        );
    }

    #[test]
    fn post_unwrap_filters() {
        let query = r#"sum_over_time({app="api"} | logfmt | unwrap v | v > 10 [1m])"#;
        assert_eq!(extract(query, "v=5"), None);
        assert_eq!(extract(query, "v=50").map(|(v, _)| v), Some(50.0));
    }

    #[test]
    fn structured_metadata_is_a_series_label() {
        let extractor = SampleExtractor::new(&aggregation(r#"count_over_time({app="api"}[1m])"#));
        let metadata = vec![("trace_id".to_owned(), "abc".to_owned())];
        let sample = extractor.extract(0, "line", &stream(), &metadata);
        assert_eq!(
            sample.map(|(_, labels)| labels.to_string()),
            Some(r#"{app="api", env="prod", trace_id="abc"}"#.to_owned())
        );
    }
}
