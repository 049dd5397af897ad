//! LogQL evaluation over the store: log queries return streams of lines,
//! metric queries a value per step. The store is read through
//! [`LogStore::streams`] and [`LogStore::plan`] only.

pub mod vector;
pub mod window;

use std::collections::HashMap;
use std::time::Instant;

use model::{Label, Labels, MatchOp};

use crate::logql::ast::{
    Expr, Grouping, LabelReplace, LogExpr, MetricExpr, RangeAggregation, RangeOp,
    VectorAggregation, VectorOp,
};
use crate::logql::{self, ParseError, Pipeline, SampleExtractor};
use crate::store::{Direction, LogStore, ReadStats};
use crate::tokens::{self, TermCondition};
use vector::{Sample, Vector};
use window::WindowFunction;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Execution(String),
    #[error(transparent)]
    Store(#[from] crate::LogsError),
}

/// A line of a log query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultEntry {
    pub timestamp_ns: i64,
    pub line: String,
}

/// The lines of one label set (after the pipeline) in a log query's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultStream {
    pub labels: Labels,
    pub entries: Vec<ResultEntry>,
}

/// One series of a metric query: a value at some steps.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSeries {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Streams(Vec<ResultStream>),
    /// A range query's series.
    Matrix(Vec<ResultSeries>),
    /// An instant query's samples, at `time`.
    Vector {
        time: i64,
        samples: Vec<Sample>,
    },
    Scalar {
        time: i64,
        value: f64,
    },
}

/// What a query did, for Loki's `stats`.
#[derive(Clone, Debug, Default)]
pub struct QueryStats {
    pub read: ReadStats,
    /// Lines that passed the pipeline.
    pub post_filter_lines: usize,
    pub entries_returned: usize,
    pub exec_seconds: f64,
}

/// What a query asks for, besides its text.
#[derive(Clone, Copy, Debug)]
pub struct QueryRange {
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
    pub limit: usize,
    pub direction: Direction,
    /// An instant query: metric queries are evaluated at `end_ns` only.
    pub instant: bool,
}

pub fn parse(query: &str) -> Result<Expr, QueryError> {
    Ok(logql::parse(query)?)
}

/// Runs a parsed query.
pub fn execute(
    store: &LogStore,
    expr: &Expr,
    range: &QueryRange,
) -> Result<(QueryResult, QueryStats), QueryError> {
    let started = Instant::now();
    let mut stats = QueryStats::default();
    let result = match expr {
        Expr::Log(log) => {
            if range.instant {
                return Err(QueryError::Execution(
                    "log queries are not supported as an instant query type, please change your query to a range query type".into(),
                ));
            }
            // Loki's range for logs is [start, end].
            let streams = select_logs(
                store,
                log,
                range.start_ns,
                range.end_ns.saturating_add(1),
                range.limit,
                range.direction,
                &mut stats,
            )?;
            stats.entries_returned = streams.iter().map(|s| s.entries.len()).sum();
            QueryResult::Streams(streams)
        }
        Expr::Metric(metric) => {
            let steps: Vec<i64> = if range.instant {
                vec![range.end_ns]
            } else {
                let mut steps = Vec::new();
                let mut t = Some(range.start_ns);
                while let Some(step) = t.filter(|t| *t <= range.end_ns) {
                    steps.push(step);
                    t = step.checked_add(range.step_ns);
                }
                steps
            };
            let value = evaluate(store, metric, &steps, &mut stats)?;
            match (value, range.instant) {
                (Value::Scalar(value), true) => QueryResult::Scalar {
                    time: range.end_ns,
                    value,
                },
                (Value::Scalar(value), false) => QueryResult::Matrix(vec![ResultSeries {
                    labels: Labels::default(),
                    points: steps.iter().map(|&t| (t, value)).collect(),
                }]),
                (Value::Steps(mut vectors), true) => {
                    let mut samples = vectors.pop().unwrap_or_default();
                    samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                    QueryResult::Vector {
                        time: range.end_ns,
                        samples,
                    }
                }
                (Value::Steps(vectors), false) => QueryResult::Matrix(to_matrix(&steps, vectors)),
            }
        }
    };
    stats.exec_seconds = started.elapsed().as_secs_f64();
    Ok((result, stats))
}

fn to_matrix(steps: &[i64], vectors: Vec<Vector>) -> Vec<ResultSeries> {
    let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    for (&t, vector) in steps.iter().zip(vectors) {
        for sample in vector {
            series
                .entry(sample.labels)
                .or_default()
                .push((t, sample.value));
        }
    }
    let mut out: Vec<ResultSeries> = series
        .into_iter()
        .map(|(labels, points)| ResultSeries { labels, points })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Index conditions implied by the line filters of a log expression.
fn index_conditions(log: &LogExpr) -> Vec<TermCondition> {
    logql::required_substrings(log)
        .iter()
        .flat_map(|needle| tokens::needle_conditions(needle))
        .collect()
}

/// Lines of `[start_ns, end_ns)` through the pipeline: the first `limit`
/// in `direction`, grouped by their labels.
pub fn select_logs(
    store: &LogStore,
    log: &LogExpr,
    start_ns: i64,
    end_ns: i64,
    limit: usize,
    direction: Direction,
    stats: &mut QueryStats,
) -> Result<Vec<ResultStream>, QueryError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let streams = store.streams(&log.matchers, start_ns, end_ns);
    let plan = store.plan(streams, start_ns, end_ns, &index_conditions(log), direction)?;
    let pipeline = Pipeline::new(&log.stages);
    // Kept lines, best first for the direction.
    let mut kept: Vec<(i64, Labels, String)> = Vec::new();
    let better = |a: i64, b: i64| match direction {
        Direction::Backward => a > b,
        Direction::Forward => a < b,
    };
    for slab in 0..plan.slabs.len() {
        if kept.len() >= limit {
            let worst = kept[limit - 1].0;
            let next = &plan.slabs[slab];
            let can_improve = match direction {
                Direction::Backward => next.max_ts >= worst,
                Direction::Forward => next.min_ts <= worst,
            };
            if !can_improve {
                break;
            }
        }
        let mut passed = 0usize;
        plan.read_slab(
            slab,
            start_ns,
            end_ns,
            &mut stats.read,
            &mut |labels, ts, line, metadata| {
                if kept.len() >= limit && !better(ts, kept[limit - 1].0) {
                    return;
                }
                if let Some(processed) = pipeline.process(ts, line, labels, metadata) {
                    passed += 1;
                    kept.push((ts, processed.labels, processed.line.to_string()));
                }
            },
        )?;
        stats.post_filter_lines += passed;
        match direction {
            Direction::Backward => kept.sort_by_key(|kept| std::cmp::Reverse(kept.0)),
            Direction::Forward => kept.sort_by_key(|kept| kept.0),
        }
        kept.truncate(limit);
    }
    let mut by_labels: HashMap<Labels, Vec<ResultEntry>> = HashMap::new();
    for (timestamp_ns, labels, line) in kept {
        by_labels
            .entry(labels)
            .or_default()
            .push(ResultEntry { timestamp_ns, line });
    }
    let mut out: Vec<ResultStream> = by_labels
        .into_iter()
        .map(|(labels, entries)| ResultStream { labels, entries })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// A metric expression's value: one vector per step, or a scalar.
enum Value {
    Steps(Vec<Vector>),
    Scalar(f64),
}

fn evaluate(
    store: &LogStore,
    expr: &MetricExpr,
    steps: &[i64],
    stats: &mut QueryStats,
) -> Result<Value, QueryError> {
    Ok(match expr {
        MetricExpr::Literal(v) => Value::Scalar(*v),
        MetricExpr::Vector(v) => Value::Steps(
            steps
                .iter()
                .map(|_| {
                    vec![Sample {
                        labels: Labels::default(),
                        value: *v,
                    }]
                })
                .collect(),
        ),
        MetricExpr::RangeAggregation(aggregation) => {
            Value::Steps(range_aggregation(store, aggregation, None, steps, stats)?)
        }
        MetricExpr::VectorAggregation(aggregation) => {
            let inner = match pushed_down(aggregation) {
                Some(range) => Value::Steps(range_aggregation(
                    store,
                    range,
                    Some(&aggregation.grouping),
                    steps,
                    stats,
                )?),
                None => evaluate(store, &aggregation.inner, steps, stats)?,
            };
            let inner = match inner {
                Value::Steps(vectors) => vectors,
                Value::Scalar(_) => {
                    return Err(QueryError::Execution(
                        "vector aggregation over a scalar".into(),
                    ));
                }
            };
            let k = aggregation.parameter.unwrap_or(0).max(0) as usize;
            Value::Steps(
                inner
                    .into_iter()
                    .map(|v| vector::aggregate(aggregation.op, k, &aggregation.grouping, v))
                    .collect(),
            )
        }
        MetricExpr::BinaryOperation(operation) => {
            let lhs = evaluate(store, &operation.lhs, steps, stats)?;
            let rhs = evaluate(store, &operation.rhs, steps, stats)?;
            match (lhs, rhs) {
                (Value::Scalar(a), Value::Scalar(b)) => {
                    Value::Scalar(vector::apply(operation.op, a, b))
                }
                (Value::Steps(v), Value::Scalar(s)) => Value::Steps(
                    v.into_iter()
                        .map(|v| {
                            vector::with_scalar(operation.op, v, s, false, operation.return_bool)
                        })
                        .collect(),
                ),
                (Value::Scalar(s), Value::Steps(v)) => Value::Steps(
                    v.into_iter()
                        .map(|v| {
                            vector::with_scalar(operation.op, v, s, true, operation.return_bool)
                        })
                        .collect(),
                ),
                (Value::Steps(l), Value::Steps(r)) => Value::Steps(
                    l.into_iter()
                        .zip(r)
                        .map(|(l, r)| {
                            vector::between_vectors(
                                operation.op,
                                l,
                                r,
                                &operation.matching,
                                operation.return_bool,
                            )
                        })
                        .collect::<Result<_, _>>()
                        .map_err(QueryError::Execution)?,
                ),
            }
        }
        MetricExpr::LabelReplace(replace) => match evaluate(store, &replace.inner, steps, stats)? {
            Value::Scalar(v) => Value::Scalar(v),
            Value::Steps(vectors) => Value::Steps(
                vectors
                    .into_iter()
                    .map(|v| v.into_iter().map(|s| label_replace(replace, s)).collect())
                    .collect(),
            ),
        },
    })
}

fn label_replace(replace: &LabelReplace, mut sample: Sample) -> Sample {
    let source = sample.labels.get(&replace.source).unwrap_or("").to_string();
    let regex = replace.anchored_regex();
    if let Some(captures) = regex.captures(&source) {
        let mut value = String::new();
        captures.expand(&replace.replacement, &mut value);
        let mut labels: Vec<Label> = sample
            .labels
            .iter()
            .filter(|l| l.name != replace.destination)
            .cloned()
            .collect();
        if !value.is_empty() {
            labels.push(Label::new(replace.destination.clone(), value));
        }
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        sample.labels = Labels::from_sorted_unchecked(labels);
    }
    sample
}

/// The range aggregation under `aggregation` when the aggregation's grouping
/// can be applied while extracting samples, as Loki does: the sum of counts
/// (or sums) per series equals the count (or sum) per group, and the max of
/// maxima (min of minima) is the max (min) per group. Extracting straight
/// into groups keeps `sum by (level) (count_over_time({…} | json [1m]))`
/// from holding one series per distinct line.
fn pushed_down(aggregation: &VectorAggregation) -> Option<&RangeAggregation> {
    let MetricExpr::RangeAggregation(range) = aggregation.inner.as_ref() else {
        return None;
    };
    if range.grouping.is_some() {
        return None;
    }
    let additive = matches!(
        range.op,
        RangeOp::CountOverTime
            | RangeOp::Rate
            | RangeOp::BytesOverTime
            | RangeOp::BytesRate
            | RangeOp::SumOverTime
    );
    let fits = match aggregation.op {
        VectorOp::Sum => additive,
        VectorOp::Max => range.op == RangeOp::MaxOverTime,
        VectorOp::Min => range.op == RangeOp::MinOverTime,
        _ => false,
    };
    fits.then_some(range)
}

/// Loki refuses metric results whose samples carry a pipeline error.
fn check_pipeline_errors(series: &HashMap<Labels, Vec<(i64, f64)>>) -> Result<(), QueryError> {
    for labels in series.keys() {
        if let Some(error) = labels.get("__error__") {
            return Err(QueryError::Execution(format!(
                "pipeline error: '{error}' for series: '{}'.\nUse a label filter to intercept this error.\n(e.g `| __error__=\"\"`)\nSee https://grafana.com/docs/loki/latest/query/#pipeline-errors for more information.",
                crate::stream_labels::to_string(labels)
            )));
        }
    }
    Ok(())
}

/// Most series a range aggregation may build before the query is refused
/// (Loki's `max_query_series` is 500 for results; this bounds the memory
/// of intermediate series that an enclosing aggregation would reduce).
pub const MAX_INTERMEDIATE_SERIES: usize = 100_000;

fn too_many_series() -> QueryError {
    QueryError::Execution(format!(
        "maximum number of series ({MAX_INTERMEDIATE_SERIES}) reached for a single query; aggregate with sum by (...) or drop high-cardinality labels (| drop ...)"
    ))
}

fn window_function(aggregation: &RangeAggregation) -> WindowFunction {
    match aggregation.op {
        RangeOp::CountOverTime | RangeOp::AbsentOverTime => WindowFunction::Count,
        RangeOp::Rate | RangeOp::BytesRate => WindowFunction::SumPerSecond,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => WindowFunction::Sum,
        RangeOp::AvgOverTime => WindowFunction::Avg,
        RangeOp::MinOverTime => WindowFunction::Min,
        RangeOp::MaxOverTime => WindowFunction::Max,
        RangeOp::StddevOverTime => WindowFunction::Stddev,
        RangeOp::StdvarOverTime => WindowFunction::Stdvar,
        RangeOp::QuantileOverTime => {
            WindowFunction::Quantile(aggregation.parameter.unwrap_or(f64::NAN))
        }
        RangeOp::FirstOverTime => WindowFunction::First,
        RangeOp::LastOverTime => WindowFunction::Last,
        RangeOp::RateCounter => WindowFunction::RateCounter,
    }
}

fn range_aggregation(
    store: &LogStore,
    aggregation: &RangeAggregation,
    pushdown: Option<&Grouping>,
    steps: &[i64],
    stats: &mut QueryStats,
) -> Result<Vec<Vector>, QueryError> {
    let range = &aggregation.range;
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Vec::new());
    };
    // Windows are (t - range, t], shifted back by the offset.
    let start_ns = first
        .saturating_sub(range.range_nanos)
        .saturating_sub(range.offset_nanos)
        .saturating_add(1);
    let end_ns = last.saturating_sub(range.offset_nanos).saturating_add(1);
    let streams = store.streams(&range.log.matchers, start_ns, end_ns);
    let plan = store.plan(
        streams,
        start_ns,
        end_ns,
        &index_conditions(&range.log),
        Direction::Forward,
    )?;
    let extractor = match pushdown {
        Some(grouping) => SampleExtractor::with_grouping(aggregation, Some(grouping)),
        None => SampleExtractor::new(aggregation),
    };
    let too_many = std::sync::atomic::AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (parts, read) = plan.read_parallel(
        start_ns,
        end_ns,
        threads,
        HashMap::<Labels, Vec<(i64, f64)>>::new,
        |series, labels, ts, line, metadata| {
            if let Some((value, labels)) = extractor.extract(ts, line, labels, metadata) {
                if series.len() >= MAX_INTERMEDIATE_SERIES && !series.contains_key(&labels) {
                    too_many.store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                series
                    .entry(labels)
                    .or_default()
                    .push((ts.saturating_add(range.offset_nanos), value));
            }
        },
    )?;
    if too_many.into_inner() {
        return Err(too_many_series());
    }
    stats.read.add(&read);
    let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    for part in parts {
        for (labels, samples) in part {
            stats.post_filter_lines += samples.len();
            series.entry(labels).or_default().extend(samples);
        }
    }
    check_pipeline_errors(&series)?;
    if series.len() > MAX_INTERMEDIATE_SERIES {
        return Err(too_many_series());
    }
    let function = window_function(aggregation);
    let mut vectors: Vec<Vector> = vec![Vec::new(); steps.len()];
    for (labels, mut samples) in series {
        // Stable: lines of one timestamp keep their order within a thread's part.
        samples.sort_by_key(|s| s.0);
        for (i, value) in window::evaluate(function, &samples, steps, range.range_nanos)
            .into_iter()
            .enumerate()
        {
            if let Some(value) = value {
                vectors[i].push(Sample {
                    labels: labels.clone(),
                    value,
                });
            }
        }
    }
    if aggregation.op == RangeOp::AbsentOverTime {
        // 1 where nothing was there, labelled by the selector's equality matchers.
        let mut labels: Vec<Label> = range
            .log
            .matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal)
            .map(|m| Label::new(m.name.clone(), m.value.clone()))
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        labels.dedup_by(|a, b| a.name == b.name);
        let labels = Labels::from_sorted_unchecked(labels);
        for vector in &mut vectors {
            let absent = vector.is_empty();
            vector.clear();
            if absent {
                vector.push(Sample {
                    labels: labels.clone(),
                    value: 1.0,
                });
            }
        }
    }
    Ok(vectors)
}
