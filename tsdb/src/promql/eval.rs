//! Evaluation of a parsed expression over a grid of steps.
//!
//! Every node is evaluated for all steps of the query at once: an instant
//! vector is one [`Vector`] per step, a scalar one float per step. Selectors
//! read storage once for the whole query and slice windows per step. Range
//! arguments of functions (`x[5m]`, subqueries) are loaded once and sliced per
//! step too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use model::{Label, Labels, MatchOp, Matcher, Sample, METRIC_NAME};
use promql_parser::parser::token::{self, TokenType};
use promql_parser::parser::{
    self, AggregateExpr, AtModifier, BinaryExpr, Expr, LabelModifier, Offset,
    VectorMatchCardinality, VectorSelector,
};
use rustc_hash::FxHashMap;

use super::value::{QueryResult, Value, VectorSample};
use super::{EngineOptions, PromqlError};
use crate::querier::{Querier, Series};

pub(super) type Metric = Arc<Labels>;

/// One element of an instant vector at one step.
#[derive(Clone, Debug)]
pub(super) struct Elem {
    pub metric: Metric,
    pub v: f64,
    /// Delayed `__name__` removal: dropped when the query's result is built.
    pub drop_name: bool,
}

pub(super) type Vector = Vec<Elem>;

/// A range-vector argument, loaded once for every step of the query.
pub(super) struct RangeArg {
    pub series: Vec<(Metric, Vec<Sample>, bool)>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

impl RangeArg {
    /// The window `(end - range, end]` ends at this time for step `t`.
    pub fn window_end(&self, t: i64) -> i64 {
        self.at.unwrap_or(t).saturating_sub(self.offset)
    }
}

/// The samples of `samples` in `(end - range, end]`.
pub(super) fn window(samples: &[Sample], end: i64, range: i64) -> &[Sample] {
    let lo = samples.partition_point(|s| s.t <= end.saturating_sub(range));
    let hi = samples.partition_point(|s| s.t <= end);
    &samples[lo..hi.max(lo)]
}

pub(super) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<Vector>),
    /// Only as the whole result of an instant query (`x[5m]`, a subquery).
    Matrix(Vec<(Metric, Vec<Sample>, bool)>),
}

pub struct Engine {
    options: EngineOptions,
}

pub(super) struct Evaluator<'a> {
    pub querier: &'a dyn Querier,
    pub options: &'a EngineOptions,
    /// The query's first and last step (for `@ start()`, `@ end()`).
    pub query_start: i64,
    pub query_end: i64,
    /// The range query's step (0 for an instant query).
    pub query_step: i64,
    /// The timestamps this evaluation produces values for.
    pub steps: Vec<i64>,
    pub samples: &'a std::cell::Cell<usize>,
    pub started: Instant,
    /// The query text, for the positions annotations quote.
    pub query: &'a str,
    pub annotations: &'a std::cell::RefCell<Annotations>,
}

/// Prometheus' annotations: warnings and infos about a query's input that
/// do not stop it, each text once.
#[derive(Default, Debug)]
pub(super) struct Annotations {
    pub warnings: std::collections::BTreeSet<String>,
    pub infos: std::collections::BTreeSet<String>,
}

/// `line:column` (1-based) of the first occurrence of `near` in `query`, as
/// Prometheus quotes an expression's position; the parser keeps no
/// positions, so the expression's text is looked up instead.
fn position(query: &str, near: &str) -> String {
    let at = if near.is_empty() {
        0
    } else {
        query.find(near).unwrap_or(0)
    };
    let before = &query[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}")
}

fn exec(message: impl Into<String>) -> PromqlError {
    PromqlError::Execution(message.into())
}

pub(super) fn millis(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => millis(d),
        Some(Offset::Neg(d)) => -millis(d),
        None => 0,
    }
}

impl Engine {
    pub fn new(options: EngineOptions) -> Engine {
        register_compatibility_functions();
        Engine { options }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at time `t` (milliseconds).
    pub fn instant(
        &self,
        querier: &dyn Querier,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, PromqlError> {
        let expr = parser::parse(query).map_err(PromqlError::Parse)?;
        let (val, done) = self.evaluate(querier, query, &expr, (t, t, 0), vec![t])?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar { t, v: v[0] },
            Val::Str(s) => Value::String { t, v: s },
            Val::Vector(mut steps) => {
                Value::Vector(finish_vector(steps.pop().unwrap_or_default(), t)?)
            }
            Val::Matrix(series) => Value::Matrix(finish_matrix(series)?),
        };
        Ok(done.result(value))
    }

    /// Evaluates `query` at every `step` from `start` to `end` (inclusive,
    /// milliseconds). The value is always a matrix.
    pub fn range(
        &self,
        querier: &dyn Querier,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, PromqlError> {
        if step <= 0 {
            return Err(PromqlError::Parse(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end < start {
            return Err(PromqlError::Parse(
                "end timestamp must not be before start time".into(),
            ));
        }
        let expr = parser::parse(query).map_err(PromqlError::Parse)?;
        let count = end.saturating_sub(start) / step + 1;
        if usize::try_from(count).map_or(true, |n| n > self.options.max_samples) {
            return Err(PromqlError::TooManySamples("query preparation"));
        }
        let steps: Vec<i64> = (0..count).map(|i| start + i * step).collect();
        let (val, done) =
            self.evaluate(querier, query, &expr, (start, end, step), steps.clone())?;
        let value = match val {
            Val::Scalar(v) => Value::Matrix(vec![Series {
                labels: Labels::from_sorted_unchecked(Vec::new()),
                samples: steps
                    .iter()
                    .zip(v)
                    .map(|(&t, v)| Sample::new(t, v))
                    .collect(),
            }]),
            Val::Vector(per_step) => Value::Matrix(assemble_matrix(&steps, per_step)?),
            Val::Str(_) | Val::Matrix(_) => {
                return Err(exec(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                expr_type_name(&expr)
            )))
            }
        };
        Ok(done.result(value))
    }

    /// Evaluates `expr` at `steps` of a query over `(start, end, step)`
    /// (step 0 for an instant query).
    fn evaluate(
        &self,
        querier: &dyn Querier,
        query: &str,
        expr: &Expr,
        (start, end, step): (i64, i64, i64),
        steps: Vec<i64>,
    ) -> Result<(Val, Evaluated), PromqlError> {
        let samples = std::cell::Cell::new(0);
        let annotations = std::cell::RefCell::new(Annotations::default());
        let mut ev = Evaluator {
            querier,
            options: &self.options,
            query_start: start,
            query_end: end,
            query_step: step,
            steps,
            samples: &samples,
            started: Instant::now(),
            query,
            annotations: &annotations,
        };
        let val = ev.eval(expr)?;
        Ok((
            val,
            Evaluated {
                annotations: annotations.into_inner(),
                samples: samples.get(),
            },
        ))
    }
}

/// What an evaluation leaves besides its value.
struct Evaluated {
    annotations: Annotations,
    samples: usize,
}

impl Evaluated {
    fn result(self, value: Value) -> QueryResult {
        QueryResult {
            value,
            warnings: self.annotations.warnings.into_iter().collect(),
            infos: self.annotations.infos.into_iter().collect(),
            samples: self.samples,
        }
    }
}

/// Teaches the parser `holt_winters`, Prometheus 2.x's name of
/// `double_exponential_smoothing`, so dashboards written for 2.x keep working.
fn register_compatibility_functions() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use parser::value::ValueType;
        let holt_winters = parser::Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        if let Err(e) = parser::register_extra_functions(vec![holt_winters]) {
            tracing::warn!(error = %e, "holt_winters is not available");
        }
    });
}

fn expr_type_name(expr: &Expr) -> &'static str {
    match expr.value_type() {
        parser::value::ValueType::Vector => "vector",
        parser::value::ValueType::Scalar => "scalar",
        parser::value::ValueType::Matrix => "range vector",
        parser::value::ValueType::String => "string",
    }
}

/// The series of a range query from its per-step vectors: delayed
/// `__name__` removal applied, sorted by labels, a label set at most once
/// per step. Elements of one series share their `Arc<Labels>` across steps,
/// so labels are finished once per distinct `Arc`, not once per element.
fn assemble_matrix(steps: &[i64], per_step: Vec<Vector>) -> Result<Vec<Series>, PromqlError> {
    // (metric address, drop_name) → index into `series`.
    let mut by_metric: FxHashMap<(usize, bool), usize> = FxHashMap::default();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
    // The step each series last got a sample at, to catch duplicates.
    let mut last_step: Vec<usize> = Vec::new();
    let mut keep_alive: Vec<Metric> = Vec::new();
    for (i, (&t, vector)) in steps.iter().zip(per_step).enumerate() {
        for e in vector {
            let key = (Arc::as_ptr(&e.metric) as usize, e.drop_name);
            let at = match by_metric.get(&key) {
                Some(&at) => at,
                None => {
                    let labels = if e.drop_name {
                        without_name(&e.metric)
                    } else {
                        (*e.metric).clone()
                    };
                    let at = *by_labels.entry(labels.clone()).or_insert_with(|| {
                        series.push(Series {
                            labels,
                            samples: Vec::new(),
                        });
                        last_step.push(usize::MAX);
                        series.len() - 1
                    });
                    by_metric.insert(key, at);
                    keep_alive.push(e.metric.clone());
                    at
                }
            };
            if last_step[at] == i {
                return Err(exec("vector cannot contain metrics with the same labelset"));
            }
            last_step[at] = i;
            series[at].samples.push(Sample::new(t, e.v));
        }
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(series)
}

/// Applies delayed `__name__` removal and refuses duplicate label sets.
fn finish_vector(vector: Vector, t: i64) -> Result<Vec<VectorSample>, PromqlError> {
    let mut out: Vec<VectorSample> = vector
        .into_iter()
        .map(|e| VectorSample {
            labels: if e.drop_name {
                without_name(&e.metric)
            } else {
                (*e.metric).clone()
            },
            t,
            v: e.v,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for s in &out {
        if !seen.insert(&s.labels) {
            return Err(exec("vector cannot contain metrics with the same labelset"));
        }
    }
    out.shrink_to_fit();
    Ok(out)
}

fn finish_matrix(series: Vec<(Metric, Vec<Sample>, bool)>) -> Result<Vec<Series>, PromqlError> {
    let mut out: Vec<Series> = series
        .into_iter()
        .filter(|(_, samples, _)| !samples.is_empty())
        .map(|(metric, samples, drop)| Series {
            labels: if drop {
                without_name(&metric)
            } else {
                (*metric).clone()
            },
            samples,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    if out.windows(2).any(|w| w[0].labels == w[1].labels) {
        return Err(exec("vector cannot contain metrics with the same labelset"));
    }
    Ok(out)
}

/// The metric name and the `__type__` and `__unit__` labels describing it,
/// dropped together.
const NAMING_LABELS: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

pub(super) fn without_name(labels: &Labels) -> Labels {
    Labels::from_sorted_unchecked(
        labels
            .iter()
            .filter(|l| !NAMING_LABELS.contains(&l.name.as_str()))
            .cloned()
            .collect(),
    )
}

/// A label set with `name` set to `value` (removed when `value` is empty).
pub(super) fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut out: Vec<Label> = labels.iter().filter(|l| l.name != name).cloned().collect();
    if !value.is_empty() {
        let at = out.partition_point(|l| l.name.as_str() < name);
        out.insert(at, Label::new(name, value));
    }
    Labels::from_sorted_unchecked(out)
}

/// A parsed selector's matchers as the store's: the metric name becomes a
/// `__name__` matcher, regexes are compiled (anchored).
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, PromqlError> {
    let mut out = Vec::new();
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(exec("`or` inside a selector is not supported yet"));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            promql_parser::label::MatchOp::Equal => MatchOp::Equal,
            promql_parser::label::MatchOp::NotEqual => MatchOp::NotEqual,
            promql_parser::label::MatchOp::Re(_) => MatchOp::RegexMatch,
            promql_parser::label::MatchOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        out.push(
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| PromqlError::Parse(e.to_string()))?,
        );
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// Adds `PromQL warning: <message> (<position of near>)`.
    pub(super) fn warn(&self, message: impl std::fmt::Display, near: &str) {
        let text = format!("PromQL warning: {message} ({})", position(self.query, near));
        self.annotations.borrow_mut().warnings.insert(text);
    }

    /// Adds `PromQL info: <message> (<position of near>)`.
    pub(super) fn info(&self, message: impl std::fmt::Display, near: &str) {
        let text = format!("PromQL info: {message} ({})", position(self.query, near));
        self.annotations.borrow_mut().infos.insert(text);
    }

    /// Warns of a quantile outside [0, 1] (the result is ±Inf or NaN).
    pub(super) fn check_quantile(&self, q: f64, param: &Expr) {
        if q.is_nan() || !(0.0..=1.0).contains(&q) {
            self.warn(
                format!(
                    "quantile value should be between 0 and 1, got {}",
                    super::format_value(q)
                ),
                &param.to_string(),
            );
        }
    }

    pub(super) fn check_limits(&self, added: usize) -> Result<(), PromqlError> {
        let total = self.samples.get() + added;
        self.samples.set(total);
        if total > self.options.max_samples {
            return Err(PromqlError::TooManySamples("query execution"));
        }
        if self.started.elapsed() > self.options.timeout {
            return Err(PromqlError::Timeout("query execution"));
        }
        Ok(())
    }

    pub(super) fn resolve_at(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(time)) => Some(match time.duration_since(UNIX_EPOCH) {
                Ok(d) => millis(&d),
                Err(e) => -millis(&e.duration()),
            }),
        }
    }

    /// Where each step's selection window ends (the step or the `@` time,
    /// minus the offset), and the earliest and latest of those ends.
    pub(super) fn selection_ends(&self, at: Option<i64>, offset: i64) -> (Vec<i64>, i64, i64) {
        let ends: Vec<i64> = self
            .steps
            .iter()
            .map(|&t| at.unwrap_or(t).saturating_sub(offset))
            .collect();
        let lo = ends.iter().copied().min().unwrap_or(0);
        let hi = ends.iter().copied().max().unwrap_or(0);
        (ends, lo, hi)
    }

    pub(super) fn eval(&mut self, expr: &Expr) -> Result<Val, PromqlError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps.len()])),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(steps) => Ok(Val::Vector(
                    steps
                        .into_iter()
                        .map(|vector| {
                            vector
                                .into_iter()
                                .map(|e| Elem {
                                    v: -e.v,
                                    drop_name: true,
                                    metric: e.metric,
                                })
                                .collect()
                        })
                        .collect(),
                )),
                _ => Err(exec(
                    "unary minus applies to scalars and instant vectors only",
                )),
            },
            Expr::VectorSelector(vs) => self.vector_selector(vs, false),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                let arg = self.range_arg(expr)?;
                let t = self.steps[0];
                let end = arg.window_end(t);
                Ok(Val::Matrix(
                    arg.series
                        .into_iter()
                        .map(|(m, samples, drop)| {
                            (m, window(&samples, end, arg.range).to_vec(), drop)
                        })
                        .collect(),
                ))
            }
            Expr::Aggregate(agg) => self.aggregate(agg),
            Expr::Binary(b) => self.binary(b),
            Expr::Call(call) => match super::series_local::local(expr) {
                Some(local) => self.local_vector(&local),
                None => super::functions::call(self, call),
            },
            Expr::Extension(_) => Err(exec("extension expressions are not supported")),
        }
    }

    /// An instant-vector selector: the newest sample in `(t' - lookback, t']`
    /// per series, where `t'` is the step (or `@` time) minus the offset;
    /// absent when that sample is a staleness marker.
    /// With `timestamps`, the value is the selected sample's time in seconds
    /// (for `timestamp()`).
    pub(super) fn vector_selector(
        &mut self,
        vs: &VectorSelector,
        timestamps: bool,
    ) -> Result<Val, PromqlError> {
        self.local_vector(&super::series_local::Local::Instant { vs, timestamps })
    }

    /// Reads the series matching `matchers` in `[mint, maxt]` on up to
    /// `parallelism` threads, each a contiguous part of the selection with
    /// its own state from `init`; the states come back in selection order.
    /// `visit` returns the samples it took, counted against the query's
    /// `max_samples`; reading stops once that is exceeded.
    pub(super) fn select_parts<S: Send>(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, Labels, &[Sample]) -> usize + Sync,
    ) -> Result<Vec<S>, PromqlError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let taken = AtomicUsize::new(0);
        let budget = self.options.max_samples.saturating_sub(self.samples.get());
        let selection = self
            .querier
            .selection(matchers, mint, maxt)
            .map_err(|e| PromqlError::Storage(e.to_string()))?;
        let len = selection.len();
        // A thread is worth its start-up only for a few hundred series.
        let count = self.options.parallelism.clamp(1, len.div_ceil(256).max(1));
        let selection = &*selection;
        let read = |index: usize| -> Result<S, PromqlError> {
            let mut state = init();
            selection
                .visit(
                    len * index / count..len * (index + 1) / count,
                    &mut |labels, samples| {
                        let n = visit(&mut state, labels, samples);
                        taken.fetch_add(n, Ordering::Relaxed) + n <= budget
                    },
                )
                .map_err(|e| PromqlError::Storage(e.to_string()))?;
            Ok(state)
        };
        let states: Vec<Result<S, PromqlError>> = if count == 1 {
            vec![read(0)]
        } else {
            std::thread::scope(|scope| {
                let others: Vec<_> = (1..count)
                    .map(|index| scope.spawn(move || read(index)))
                    .collect();
                let mut states = vec![read(0)];
                for handle in others {
                    states.push(
                        handle
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    );
                }
                states
            })
        };
        let states = states.into_iter().collect::<Result<Vec<S>, _>>()?;
        self.check_limits(taken.into_inner())?;
        Ok(states)
    }

    /// Loads a range argument (`x[5m]` or a subquery) for every step.
    pub(super) fn range_arg(&mut self, expr: &Expr) -> Result<RangeArg, PromqlError> {
        match expr {
            Expr::Paren(p) => self.range_arg(&p.expr),
            Expr::MatrixSelector(ms) => {
                let vs = &ms.vs;
                let matchers = selector_matchers(vs)?;
                let offset = offset_ms(&vs.offset);
                let at = self.resolve_at(&vs.at);
                let range = millis(&ms.range);
                let (_, lo, hi) = self.selection_ends(at, offset);
                let parts = self.select_parts(
                    &matchers,
                    lo.saturating_sub(range) + 1,
                    hi,
                    Vec::new,
                    |series: &mut Vec<(Metric, Vec<Sample>, bool)>, labels, samples| {
                        let live: Vec<Sample> = samples
                            .iter()
                            .filter(|x| !model::sample::is_stale_nan(x.v))
                            .copied()
                            .collect();
                        series.push((Arc::new(labels), live, false));
                        samples.len()
                    },
                )?;
                let series = parts.into_iter().flatten().collect();
                Ok(RangeArg {
                    series,
                    range,
                    offset,
                    at,
                })
            }
            Expr::Subquery(sq) => {
                let offset = offset_ms(&sq.offset);
                let at = self.resolve_at(&sq.at);
                let range = millis(&sq.range);
                let step = sq
                    .step
                    .as_ref()
                    .map(millis)
                    .filter(|s| *s > 0)
                    .unwrap_or(self.options.default_subquery_step_ms);
                let (_, lo, hi) = self.selection_ends(at, offset);
                // Inner points: multiples of the step in (lo - range, hi].
                let first = lo
                    .saturating_sub(range)
                    .div_euclid(step)
                    .saturating_mul(step)
                    .saturating_add(step);
                // Counted before they exist: `x[100y:1s]` must fail, not allocate.
                let count = if hi >= first {
                    (hi - first) / step + 1
                } else {
                    0
                };
                self.check_limits(usize::try_from(count).unwrap_or(usize::MAX))?;
                let inner_steps: Vec<i64> = (0..count).map(|i| first + i * step).collect();
                let mut inner = Evaluator {
                    querier: self.querier,
                    options: self.options,
                    query_start: self.query_start,
                    query_end: self.query_end,
                    query_step: self.query_step,
                    steps: inner_steps.clone(),
                    samples: self.samples,
                    started: self.started,
                    query: self.query,
                    annotations: self.annotations,
                };
                let series = match inner.eval(&sq.expr)? {
                    Val::Vector(per_step) => {
                        let mut by_metric: HashMap<(Labels, bool), (Metric, Vec<Sample>)> =
                            HashMap::new();
                        for (&t, vector) in inner_steps.iter().zip(per_step) {
                            for e in vector {
                                by_metric
                                    .entry(((*e.metric).clone(), e.drop_name))
                                    .or_insert_with(|| (e.metric.clone(), Vec::new()))
                                    .1
                                    .push(Sample::new(t, e.v));
                            }
                        }
                        let mut series: Vec<(Metric, Vec<Sample>, bool)> = by_metric
                            .into_iter()
                            .map(|((_, drop), (metric, samples))| (metric, samples, drop))
                            .collect();
                        series.sort_by(|a, b| a.0.cmp(&b.0));
                        series
                    }
                    Val::Scalar(values) => vec![(
                        Arc::new(Labels::from_sorted_unchecked(Vec::new())),
                        inner_steps
                            .iter()
                            .zip(values)
                            .map(|(&t, v)| Sample::new(t, v))
                            .collect(),
                        false,
                    )],
                    _ => return Err(exec("subqueries apply to instant vectors and scalars only")),
                };
                Ok(RangeArg {
                    series,
                    range,
                    offset,
                    at,
                })
            }
            _ => Err(exec(
                "expected a range vector (a range selector or a subquery)",
            )),
        }
    }

    /// Evaluates an expression that must be a scalar (function and
    /// aggregation parameters).
    pub(super) fn scalar(&mut self, expr: &Expr) -> Result<Vec<f64>, PromqlError> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            _ => Err(exec("expected a scalar")),
        }
    }

    pub(super) fn vector(&mut self, expr: &Expr) -> Result<Vec<Vector>, PromqlError> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            _ => Err(exec("expected an instant vector")),
        }
    }

    fn aggregate(&mut self, agg: &AggregateExpr) -> Result<Val, PromqlError> {
        if let Some(value) = self.aggregate_local(agg)? {
            return Ok(value);
        }
        let op = agg.op.id();
        let param: Option<Val> = match &agg.param {
            Some(p) => Some(self.eval(p)?),
            None => None,
        };
        let input = self.vector(&agg.expr)?;
        let mut cache = super::functions::GroupCache::default();
        let mut buckets = super::functions::Buckets::default();
        let mut out = Vec::with_capacity(input.len());
        for (i, vector) in input.into_iter().enumerate() {
            let param_at = |p: &Option<Val>| -> Option<f64> {
                match p {
                    Some(Val::Scalar(v)) => Some(v[i]),
                    _ => None,
                }
            };
            let result = match op {
                token::T_TOPK | token::T_BOTTOMK | token::T_LIMITK => {
                    let k = param_at(&param).ok_or_else(|| exec("expected a scalar parameter"))?;
                    super::functions::top_k(vector, k, op, &agg.modifier, &mut cache)?
                }
                token::T_LIMIT_RATIO => {
                    let r = param_at(&param).ok_or_else(|| exec("expected a scalar parameter"))?;
                    if !r.is_nan() && !(-1.0..=1.0).contains(&r) {
                        let p = agg
                            .param
                            .as_ref()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        self.warn(
                            format!(
                                "ratio value should be between -1 and 1, got {}, capping to {}",
                                super::format_value(r),
                                super::format_value(r.clamp(-1.0, 1.0))
                            ),
                            &p,
                        );
                    }
                    super::functions::limit_ratio(vector, r, &agg.modifier, &mut cache)?
                }
                token::T_COUNT_VALUES => {
                    let label = match &param {
                        Some(Val::Str(s)) => s.clone(),
                        _ => return Err(exec("count_values needs a string parameter")),
                    };
                    super::functions::count_values(vector, &label, &agg.modifier)?
                }
                token::T_QUANTILE => {
                    let q = param_at(&param).ok_or_else(|| exec("expected a scalar parameter"))?;
                    if let Some(p) = &agg.param {
                        self.check_quantile(q, p);
                    }
                    super::functions::aggregate_simple(
                        vector,
                        op,
                        Some(q),
                        &agg.modifier,
                        &mut cache,
                        &mut buckets,
                    )
                }
                _ => super::functions::aggregate_simple(
                    vector,
                    op,
                    None,
                    &agg.modifier,
                    &mut cache,
                    &mut buckets,
                ),
            };
            self.check_limits(result.len())?;
            out.push(result);
        }
        Ok(Val::Vector(out))
    }

    fn binary(&mut self, b: &BinaryExpr) -> Result<Val, PromqlError> {
        if let Some(value) = self.binary_local(b)? {
            return Ok(value);
        }
        let op = b.op;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let values = l
                    .into_iter()
                    .zip(r)
                    .map(|(a, c)| {
                        let (v, keep) = scalar_op(op, a, c);
                        if op.is_comparison_operator() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(values))
            }
            (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(
                l.into_iter()
                    .zip(r)
                    .map(|(vector, s)| vector_scalar(vector, s, op, return_bool, false))
                    .collect(),
            )),
            (Val::Scalar(l), Val::Vector(r)) => Ok(Val::Vector(
                r.into_iter()
                    .zip(l)
                    .map(|(vector, s)| vector_scalar(vector, s, op, return_bool, true))
                    .collect(),
            )),
            (Val::Vector(l), Val::Vector(r)) => {
                let modifier = b.modifier.as_ref();
                let matching = modifier.and_then(|m| m.matching.as_ref());
                let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
                let fill =
                    modifier.map_or((None, None), |m| (m.fill_values.lhs, m.fill_values.rhs));
                let mut out = Vec::with_capacity(l.len());
                let mut cache = MatchCache::default();
                for (lv, rv) in l.into_iter().zip(r) {
                    let result = if op.is_set_operator() {
                        set_op(op, lv, rv, matching, &mut cache)
                    } else {
                        let operands = Operands {
                            op,
                            matching,
                            card,
                            return_bool,
                            fill,
                        };
                        vector_vector(&operands, lv, rv, &mut cache)?
                    };
                    self.check_limits(result.len())?;
                    out.push(result);
                }
                Ok(Val::Vector(out))
            }
            _ => Err(exec(
                "binary operators apply to scalars and instant vectors only",
            )),
        }
    }
}

/// `(value, keep)`: the arithmetic result, or for comparisons the left value
/// and whether the comparison holds.
pub(super) fn scalar_op(op: TokenType, a: f64, b: f64) -> (f64, bool) {
    match op.id() {
        token::T_ADD => (a + b, true),
        token::T_SUB => (a - b, true),
        token::T_MUL => (a * b, true),
        token::T_DIV => (a / b, true),
        token::T_MOD => (a % b, true),
        token::T_POW => (a.powf(b), true),
        token::T_ATAN2 => (a.atan2(b), true),
        token::T_EQLC => (a, a == b),
        token::T_NEQ => (a, a != b),
        token::T_GTR => (a, a > b),
        token::T_LSS => (a, a < b),
        token::T_GTE => (a, a >= b),
        token::T_LTE => (a, a <= b),
        _ => (f64::NAN, false),
    }
}

fn vector_scalar(
    vector: Vector,
    s: f64,
    op: TokenType,
    return_bool: bool,
    scalar_left: bool,
) -> Vector {
    let comparison = op.is_comparison_operator();
    vector
        .into_iter()
        .filter_map(|e| {
            let (a, b) = if scalar_left { (s, e.v) } else { (e.v, s) };
            let (mut v, keep) = scalar_op(op, a, b);
            if comparison {
                if return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    return None;
                } else {
                    // A filter keeps the vector's own value.
                    v = e.v;
                }
            }
            Some(Elem {
                v,
                drop_name: e.drop_name || !comparison || return_bool,
                metric: e.metric,
            })
        })
        .collect()
}

/// The matching signature of a series under `on(...)` / `ignoring(...)`.
pub(super) fn signature(
    labels: &Labels,
    matching: Option<&LabelModifier>,
) -> Vec<(String, String)> {
    match matching {
        Some(LabelModifier::Include(on)) => labels
            .iter()
            .filter(|l| on.labels.contains(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        Some(LabelModifier::Exclude(ignoring)) => labels
            .iter()
            .filter(|l| l.name != METRIC_NAME && !ignoring.labels.contains(&l.name))
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        None => labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
    }
}

/// What one binary operation between instant vectors learns about its
/// series, kept across its steps: a series keeps its `Arc<Labels>` from step
/// to step, so its match signature and its result labels are computed once.
#[derive(Default)]
struct MatchCache {
    /// Input metric (by address; the `Arc` is kept so the address stays its
    /// own) → signature id.
    signature_of: FxHashMap<usize, (Metric, u32)>,
    signature_ids: HashMap<Vec<(String, String)>, u32>,
    signatures: Vec<Vec<(String, String)>>,
    /// (many-side metric, one-side metric) addresses → result metric and the
    /// id of its final label set (after `__name__` removal).
    results: FxHashMap<(usize, usize, bool), (Metric, u32)>,
    final_ids: HashMap<Labels, u32>,
    /// The stand-in "one" side of `fill_right(v)`/`fill_left(v)`.
    empty: Option<Metric>,
}

impl MatchCache {
    fn signature(&mut self, metric: &Metric, matching: Option<&LabelModifier>) -> u32 {
        let address = Arc::as_ptr(metric) as usize;
        if let Some((_, id)) = self.signature_of.get(&address) {
            return *id;
        }
        let sig = signature(metric, matching);
        let next = self.signatures.len() as u32;
        let id = *self.signature_ids.entry(sig.clone()).or_insert(next);
        if id == next {
            self.signatures.push(sig);
        }
        self.signature_of.insert(address, (metric.clone(), id));
        id
    }

    fn empty(&mut self) -> Metric {
        self.empty
            .get_or_insert_with(|| Arc::new(Labels::from_sorted_unchecked(Vec::new())))
            .clone()
    }
}

fn set_op(
    op: TokenType,
    lhs: Vector,
    rhs: Vector,
    matching: Option<&LabelModifier>,
    cache: &mut MatchCache,
) -> Vector {
    let rhs_sigs: std::collections::HashSet<u32> = rhs
        .iter()
        .map(|e| cache.signature(&e.metric, matching))
        .collect();
    match op.id() {
        token::T_LAND => lhs
            .into_iter()
            .filter(|e| rhs_sigs.contains(&cache.signature(&e.metric, matching)))
            .collect(),
        token::T_LUNLESS => lhs
            .into_iter()
            .filter(|e| !rhs_sigs.contains(&cache.signature(&e.metric, matching)))
            .collect(),
        _ => {
            let lhs_sigs: std::collections::HashSet<u32> = lhs
                .iter()
                .map(|e| cache.signature(&e.metric, matching))
                .collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|e| !lhs_sigs.contains(&cache.signature(&e.metric, matching))),
            );
            out
        }
    }
}

fn describe_signature(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A binary operation between two instant vectors, as written.
pub(super) struct Operands<'a> {
    pub op: TokenType,
    pub matching: Option<&'a LabelModifier>,
    pub card: &'a VectorMatchCardinality,
    pub return_bool: bool,
    /// `fill_left` / `fill_right` values.
    pub fill: (Option<f64>, Option<f64>),
}

/// The labels of a result element: from the "many" side (the left one for
/// one-to-one), narrowed by `on`/`ignoring` for one-to-one matching, plus
/// the `group_left`/`group_right` labels copied from the "one" side.
pub(super) fn result_labels(operands: &Operands<'_>, many: &Labels, one: &Labels) -> Labels {
    let mut labels: Labels = many.clone();
    if matches!(operands.card, VectorMatchCardinality::OneToOne) {
        labels = match operands.matching {
            Some(LabelModifier::Include(on)) => Labels::from_sorted_unchecked(
                labels
                    .iter()
                    .filter(|x| on.labels.contains(&x.name))
                    .cloned()
                    .collect(),
            ),
            Some(LabelModifier::Exclude(ignoring)) => Labels::from_sorted_unchecked(
                labels
                    .iter()
                    .filter(|x| !ignoring.labels.contains(&x.name))
                    .cloned()
                    .collect(),
            ),
            None => labels,
        };
    }
    let include: &[String] = match operands.card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    for name in include {
        labels = with_label(&labels, name, one.get(name).unwrap_or(""));
    }
    labels
}

fn vector_vector(
    operands: &Operands<'_>,
    lhs: Vector,
    rhs: Vector,
    cache: &mut MatchCache,
) -> Result<Vector, PromqlError> {
    let Operands {
        op,
        matching,
        card,
        return_bool,
        fill,
    } = *operands;
    let comparison = op.is_comparison_operator();
    // The "one" side is indexed by signature; the other side is iterated.
    let (many, one, one_is_rhs) = match card {
        VectorMatchCardinality::OneToMany(_) => (rhs, lhs, false),
        _ => (lhs, rhs, true),
    };
    // `fill_left(v)` fills a missing "many"-side element and `fill_right(v)`
    // a missing "one"-side element. For group_right upstream swaps the
    // operands before applying them, so this holds for both directions.
    let (fill_many, fill_one) = fill;
    let mut index: FxHashMap<u32, Elem> =
        FxHashMap::with_capacity_and_hasher(one.len(), Default::default());
    let mut one_order: Vec<u32> = Vec::new();
    let mut duplicates: HashMap<u32, Vec<Metric>> = HashMap::new();
    for e in one {
        let sig = cache.signature(&e.metric, matching);
        if let Some(first) = index.get(&sig) {
            duplicates
                .entry(sig)
                .or_insert_with(|| vec![first.metric.clone()])
                .push(e.metric.clone());
            continue;
        }
        one_order.push(sig);
        index.insert(sig, e);
    }
    if let Some(sig) = one_order.iter().find(|sig| duplicates.contains_key(*sig)) {
        let side = if one_is_rhs { "right" } else { "left" };
        let listed: Vec<String> = duplicates[sig].iter().map(|m| m.to_string()).collect();
        return Err(exec(format!(
            "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}];many-to-many matching not allowed: matching labels must be unique on one side",
            describe_signature(&cache.signatures[*sig as usize]),
            listed.join(", ")
        )));
    }
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let mut out = Vec::new();
    let mut seen_one_to_one: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut seen_results: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut matched: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let filled = fill_one.map(|v| Elem {
        metric: cache.empty(),
        v,
        drop_name: false,
    });
    for e in many {
        let sig = cache.signature(&e.metric, matching);
        let other = match index.get(&sig) {
            Some(other) => {
                matched.insert(sig);
                other
            }
            None => match &filled {
                Some(filled) => filled,
                None => continue,
            },
        };
        if one_to_one && !seen_one_to_one.insert(sig) {
            return Err(exec(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ));
        }
        let (l, r) = if one_is_rhs { (&e, other) } else { (other, &e) };
        let (mut v, keep) = scalar_op(op, l.v, r.v);
        if comparison {
            if return_bool {
                v = if keep { 1.0 } else { 0.0 };
            } else if !keep {
                continue;
            }
        }
        let drop_name = !comparison || return_bool || e.drop_name;
        let key = (
            Arc::as_ptr(&e.metric) as usize,
            Arc::as_ptr(&other.metric) as usize,
            drop_name,
        );
        let (metric, final_id) = match cache.results.get(&key) {
            Some(found) => found.clone(),
            None => {
                let labels = result_labels(operands, &e.metric, &other.metric);
                let final_labels = if drop_name {
                    without_name(&labels)
                } else {
                    labels.clone()
                };
                let next = cache.final_ids.len() as u32;
                let final_id = *cache.final_ids.entry(final_labels).or_insert(next);
                let found = (Arc::new(labels), final_id);
                cache.results.insert(key, found.clone());
                found
            }
        };
        if !one_to_one && !seen_results.insert(final_id) {
            return Err(exec(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        out.push(Elem {
            metric,
            v: if comparison && !return_bool { l.v } else { v },
            drop_name,
        });
    }
    // Match groups with no "many" side element at all: filled, labelled by
    // the match group.
    if let Some(fill) = fill_many {
        for sig in one_order.iter().filter(|sig| !matched.contains(*sig)) {
            let one = &index[sig];
            let (l, r) = if one_is_rhs {
                (fill, one.v)
            } else {
                (one.v, fill)
            };
            let (mut v, keep) = scalar_op(op, l, r);
            if comparison {
                if return_bool {
                    v = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    continue;
                } else {
                    v = l;
                }
            }
            let labels = cache.signatures[*sig as usize]
                .iter()
                .map(|(n, value)| Label::new(n.clone(), value.clone()))
                .collect();
            out.push(Elem {
                metric: Arc::new(Labels::from_sorted_unchecked(labels)),
                v,
                drop_name: false,
            });
        }
    }
    Ok(out)
}
