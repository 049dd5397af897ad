//! Expressions whose value for a series depends on that series alone: an
//! instant selector, or a window function (`rate`, `*_over_time`...) of a
//! range selector. They are evaluated series by series as storage hands the
//! series over, on every core, into one [`Row`] of step values per series:
//! the samples are never held whole, only one batch per thread.
//!
//! An aggregation over such an expression accumulates the rows directly:
//! each series' group is found once, not once per step, and no per-step
//! vectors are built. Values are added in series order, the order the
//! step-by-step path adds them in, so both give the same bits.

use std::collections::BTreeSet;
use std::sync::Arc;

use model::{Labels, Sample, METRIC_NAME};
use promql_parser::parser::token;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Expr, LabelModifier, MatrixSelector, VectorMatchCardinality,
    VectorSelector,
};
use rustc_hash::FxHashMap;

use super::eval::{
    millis, offset_ms, result_labels, scalar_op, selector_matchers, signature, Elem, Evaluator,
    Metric, Operands, Val, Vector,
};
use super::functions::{
    check_counter_name, group_labels, kahan_inc, window_drops_name, window_kernel, WindowKernel,
};
use super::PromqlError;

/// One series' value at every step of the query.
pub(super) struct Row {
    /// The series' labels, or only its aggregation group's (shared by the
    /// rows of the group) when the rows are read for an aggregation.
    pub metric: Metric,
    pub values: Vec<f64>,
    /// Bit `i` is set where the series has a value at step `i`.
    pub present: Vec<u64>,
}

impl Row {
    /// A row of `steps` steps; without `values` it records only where the
    /// series has a value (enough for `count` and `group`), and reads 0.
    fn new(metric: Metric, steps: usize, values: bool) -> Row {
        Row {
            metric,
            values: if values { vec![0.0; steps] } else { Vec::new() },
            present: vec![0; steps.div_ceil(64)],
        }
    }

    fn set(&mut self, step: usize, v: f64) {
        if let Some(slot) = self.values.get_mut(step) {
            *slot = v;
        }
        self.present[step / 64] |= 1 << (step % 64);
    }

    pub fn get(&self, step: usize) -> Option<f64> {
        (self.present[step / 64] & (1 << (step % 64)) != 0)
            .then(|| self.values.get(step).copied().unwrap_or(0.0))
    }

    fn is_empty(&self) -> bool {
        self.present.iter().all(|&w| w == 0)
    }
}

/// A series-local expression.
pub(super) enum Local<'e> {
    /// An instant selector; with `timestamps`, the value is the selected
    /// sample's time in seconds (for `timestamp()`).
    Instant {
        vs: &'e VectorSelector,
        timestamps: bool,
    },
    /// Series chosen by matchers, as an instant selector (for `info()`'s
    /// info series).
    Select {
        matchers: Vec<model::Matcher>,
        timestamps: bool,
        /// `@` time and offset, as an instant selector's.
        at: Option<i64>,
        offset: i64,
    },
    /// `name(ms)` for a window function `name` that takes no other argument.
    Window {
        name: &'e str,
        kernel: WindowKernel,
        ms: &'e MatrixSelector,
        /// The argument as written, for the position annotations quote.
        arg: &'e Expr,
    },
}

impl Local<'_> {
    /// Whether the expression's result loses the metric name.
    pub fn drops_name(&self) -> bool {
        match self {
            Local::Instant { timestamps, .. } | Local::Select { timestamps, .. } => *timestamps,
            Local::Window { name, .. } => window_drops_name(name),
        }
    }
}

fn strip_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    expr
}

/// `expr` as a series-local expression, if it is one.
pub(super) fn local(expr: &Expr) -> Option<Local<'_>> {
    match strip_parens(expr) {
        Expr::VectorSelector(vs) => Some(Local::Instant {
            vs,
            timestamps: false,
        }),
        Expr::Call(call) if call.args.args.len() == 1 => {
            let arg: &Expr = &call.args.args[0];
            let Expr::MatrixSelector(ms) = strip_parens(arg) else {
                return None;
            };
            Some(Local::Window {
                name: call.func.name,
                kernel: window_kernel(call.func.name)?,
                ms,
                arg,
            })
        }
        _ => None,
    }
}

/// What one reading thread collects.
#[derive(Default)]
struct Part {
    rows: Vec<Row>,
    /// Group labels already seen, so that rows of a group share them.
    groups: FxHashMap<Labels, Metric>,
    /// Names of series `rate`/`increase` read that do not look like counters.
    not_counters: BTreeSet<String>,
    /// Live (non-stale) samples of the series being read.
    live: Vec<Sample>,
}

impl Evaluator<'_> {
    /// Evaluates a series-local expression: one row per series that has a
    /// value at some step, in label order. With `group`, a row keeps only
    /// the labels of its aggregation group under that modifier; without
    /// `values`, only where the series has a value.
    pub(super) fn rows(
        &mut self,
        local: &Local<'_>,
        group: Option<&Option<LabelModifier>>,
        values: bool,
    ) -> Result<Vec<Row>, PromqlError> {
        let steps = self.steps.len();
        let metric_of = |part: &mut Part, labels: Labels| -> Metric {
            match group {
                None => Arc::new(labels),
                Some(modifier) => {
                    let key = group_labels(&labels, modifier);
                    part.groups
                        .entry(key)
                        .or_insert_with_key(|key| Arc::new(key.clone()))
                        .clone()
                }
            }
        };
        let parts = match local {
            Local::Instant { .. } | Local::Select { .. } => {
                let (matchers, at, offset, timestamps) = match local {
                    Local::Instant { vs, timestamps } => (
                        selector_matchers(vs)?,
                        self.resolve_at(&vs.at),
                        offset_ms(&vs.offset),
                        *timestamps,
                    ),
                    Local::Select {
                        matchers,
                        timestamps,
                        at,
                        offset,
                    } => (matchers.clone(), *at, *offset, *timestamps),
                    Local::Window { .. } => unreachable!("matched above"),
                };
                let lookback = self.options.lookback_ms;
                let (ends, lo, hi) = self.selection_ends(at, offset);
                self.select_parts(
                    &matchers,
                    lo - lookback + 1,
                    hi,
                    Part::default,
                    |part: &mut Part, labels, samples| {
                        let mut row = Row::new(metric_of(part, labels), steps, values);
                        let mut selected = 0;
                        // Step ends never decrease, so one cursor walks the
                        // samples once for all steps.
                        let mut next = 0;
                        for (i, &end) in ends.iter().enumerate() {
                            while next < samples.len() && samples[next].t <= end {
                                next += 1;
                            }
                            let Some(sample) = next.checked_sub(1).map(|i| samples[i]) else {
                                continue;
                            };
                            if sample.t <= end.saturating_sub(lookback)
                                || model::sample::is_stale_nan(sample.v)
                            {
                                continue;
                            }
                            let v = if timestamps {
                                sample.t as f64 / 1000.0
                            } else {
                                sample.v
                            };
                            row.set(i, v);
                            selected += 1;
                        }
                        if selected > 0 {
                            part.rows.push(row);
                        }
                        // As Prometheus counts: the points selected.
                        selected
                    },
                )?
            }
            Local::Window {
                name, kernel, ms, ..
            } => {
                let vs = &ms.vs;
                let matchers = selector_matchers(vs)?;
                let at = self.resolve_at(&vs.at);
                let range = millis(&ms.range);
                let (ends, lo, hi) = self.selection_ends(at, offset_ms(&vs.offset));
                let counter_function = *name == "rate" || *name == "increase";
                self.select_parts(
                    &matchers,
                    lo.saturating_sub(range) + 1,
                    hi,
                    Part::default,
                    |part: &mut Part, labels, samples| {
                        let mut live = std::mem::take(&mut part.live);
                        live.clear();
                        live.extend(samples.iter().filter(|s| !model::sample::is_stale_nan(s.v)));
                        if counter_function && !live.is_empty() {
                            let name = labels.get(METRIC_NAME).unwrap_or("");
                            if !part.not_counters.contains(name) {
                                part.not_counters.insert(name.to_string());
                            }
                        }
                        let mut row = Row::new(metric_of(part, labels), steps, values);
                        // The window's edges move forward as steps advance.
                        let (mut first, mut last) = (0, 0);
                        for (i, &end) in ends.iter().enumerate() {
                            let start = end.saturating_sub(range);
                            while first < live.len() && live[first].t <= start {
                                first += 1;
                            }
                            last = last.max(first);
                            while last < live.len() && live[last].t <= end {
                                last += 1;
                            }
                            if first < last {
                                if let Some(v) = kernel(&live[first..last], start, end, range) {
                                    row.set(i, v);
                                }
                            }
                        }
                        if !row.is_empty() {
                            part.rows.push(row);
                        }
                        part.live = live;
                        // As Prometheus counts: the samples loaded.
                        samples.len()
                    },
                )?
            }
        };
        let mut rows = Vec::new();
        let mut names = BTreeSet::new();
        for part in parts {
            rows.extend(part.rows);
            names.extend(part.not_counters);
        }
        if let Local::Window { name, arg, .. } = local {
            for metric in names {
                check_counter_name(self, name, &metric, arg);
            }
        }
        Ok(rows)
    }

    /// A series-local expression as per-step vectors.
    pub(super) fn local_vector(&mut self, local: &Local<'_>) -> Result<Val, PromqlError> {
        let rows = self.rows(local, None, true)?;
        let drop_name = local.drops_name();
        let mut out: Vec<Vector> = vec![Vec::new(); self.steps.len()];
        for row in rows {
            for (i, vector) in out.iter_mut().enumerate() {
                if let Some(v) = row.get(i) {
                    vector.push(Elem {
                        metric: row.metric.clone(),
                        v,
                        drop_name,
                    });
                }
            }
        }
        Ok(Val::Vector(out))
    }

    /// `sum`, `avg`, `count`, `group`, `min`, `max`, `stddev` or `stdvar`
    /// of a series-local expression, accumulated row by row. `None` when the
    /// aggregation is not one of those or its argument is not series-local.
    pub(super) fn aggregate_local(
        &mut self,
        agg: &AggregateExpr,
    ) -> Result<Option<Val>, PromqlError> {
        let op = agg.op.id();
        let simple = [
            token::T_SUM,
            token::T_AVG,
            token::T_COUNT,
            token::T_GROUP,
            token::T_MIN,
            token::T_MAX,
            token::T_STDDEV,
            token::T_STDVAR,
        ];
        if !simple.contains(&op) || agg.param.is_some() {
            return Ok(None);
        }
        let Some(local) = local(&agg.expr) else {
            return Ok(None);
        };
        let rows = self.rows(
            &local,
            Some(&agg.modifier),
            op != token::T_COUNT && op != token::T_GROUP,
        )?;
        let steps = self.steps.len();
        let mut groups: FxHashMap<&Labels, usize> = FxHashMap::default();
        let mut group_metrics: Vec<Metric> = Vec::new();
        let mut accumulators: Vec<Accumulator> = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let next = group_metrics.len();
            let group = *groups.entry(&*row.metric).or_insert(next);
            if group == next {
                group_metrics.push(row.metric.clone());
                accumulators.resize(accumulators.len() + steps, Accumulator::default());
            }
            let accumulators = &mut accumulators[group * steps..(group + 1) * steps];
            for (i, acc) in accumulators.iter_mut().enumerate() {
                if let Some(v) = row.get(i) {
                    acc.add(op, v, index as u32);
                }
            }
        }
        drop(groups);
        drop(rows);
        let inner_drops = local.drops_name();
        let mut out = Vec::with_capacity(steps);
        for i in 0..steps {
            // Groups in order of their first series at this step, as the
            // step-by-step path orders them.
            let mut present: Vec<(u32, usize)> = (0..group_metrics.len())
                .filter_map(|g| {
                    let acc = &accumulators[g * steps + i];
                    (acc.n > 0).then_some((acc.first, g))
                })
                .collect();
            present.sort_unstable();
            let vector: Vector = present
                .into_iter()
                .map(|(_, g)| {
                    let metric = group_metrics[g].clone();
                    Elem {
                        v: accumulators[g * steps + i].finish(op),
                        drop_name: inner_drops && metric.get(METRIC_NAME).is_some(),
                        metric,
                    }
                })
                .collect();
            self.check_limits(vector.len())?;
            out.push(vector);
        }
        Ok(Some(Val::Vector(out)))
    }
}

impl Evaluator<'_> {
    /// A one-to-one arithmetic or comparison operation between two
    /// series-local expressions, matched once per series pair instead of
    /// once per step. `None` when the operation needs the general path:
    /// group modifiers, fill values, set operators, or a signature held by
    /// two series of one side (whether that is an error depends on the
    /// steps they share).
    pub(super) fn binary_local(&mut self, b: &BinaryExpr) -> Result<Option<Val>, PromqlError> {
        let modifier = b.modifier.as_ref();
        if b.op.is_set_operator()
            || modifier.is_some_and(|m| {
                !matches!(m.card, VectorMatchCardinality::OneToOne)
                    || m.fill_values.lhs.is_some()
                    || m.fill_values.rhs.is_some()
            })
        {
            return Ok(None);
        }
        let (Some(lhs), Some(rhs)) = (local(&b.lhs), local(&b.rhs)) else {
            return Ok(None);
        };
        let matching = modifier.and_then(|m| m.matching.as_ref());
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        let comparison = b.op.is_comparison_operator();
        let left = self.rows(&lhs, None, true)?;
        let right = self.rows(&rhs, None, true)?;
        let mut by_signature: FxHashMap<Vec<(String, String)>, usize> = FxHashMap::default();
        for (i, row) in right.iter().enumerate() {
            if by_signature
                .insert(signature(&row.metric, matching), i)
                .is_some()
            {
                return Ok(None);
            }
        }
        let mut pairs = Vec::new();
        let mut matched_left: FxHashMap<usize, ()> = FxHashMap::default();
        for row in &left {
            if let Some(&r) = by_signature.get(&signature(&row.metric, matching)) {
                if matched_left.insert(r, ()).is_some() {
                    return Ok(None);
                }
                pairs.push((row, &right[r]));
            }
        }
        let operands = Operands {
            op: b.op,
            matching,
            card: &VectorMatchCardinality::OneToOne,
            return_bool,
            fill: (None, None),
        };
        let drop_name = !comparison || return_bool || lhs.drops_name();
        let mut out: Vec<Vector> = vec![Vec::new(); self.steps.len()];
        for (l, r) in pairs {
            let metric: Metric = Arc::new(result_labels(&operands, &l.metric, &r.metric));
            for (i, vector) in out.iter_mut().enumerate() {
                let (Some(a), Some(c)) = (l.get(i), r.get(i)) else {
                    continue;
                };
                let (mut v, keep) = scalar_op(b.op, a, c);
                if comparison {
                    if return_bool {
                        v = if keep { 1.0 } else { 0.0 };
                    } else if keep {
                        v = a;
                    } else {
                        continue;
                    }
                }
                vector.push(Elem {
                    metric: metric.clone(),
                    v,
                    drop_name,
                });
            }
        }
        for vector in &out {
            self.check_limits(vector.len())?;
        }
        Ok(Some(Val::Vector(out)))
    }
}

/// The running aggregate of one group at one step, fed in series order.
/// The fields mean what the operator needs: a compensated sum (`sum`, and
/// `avg` until it overflows), an incremental mean (`avg` after overflow,
/// `stddev`/`stdvar`), the extreme so far (`min`, `max`).
#[derive(Clone, Copy, Default)]
struct Accumulator {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    n: u32,
    /// The first series (by index) added.
    first: u32,
    /// `avg`: switched to an incremental mean after the sum overflowed.
    incremental: bool,
}

impl Accumulator {
    fn add(&mut self, op: u16, v: f64, series: u32) {
        if self.n == 0 {
            self.first = series;
            if op == token::T_MIN || op == token::T_MAX {
                self.a = f64::NAN;
            }
        }
        self.n += 1;
        match op {
            token::T_SUM => (self.a, self.b) = kahan_inc(v, self.a, self.b),
            token::T_MIN if self.a.is_nan() || v < self.a => self.a = v,
            token::T_MAX if self.a.is_nan() || v > self.a => self.a = v,
            token::T_AVG => self.add_to_mean(v),
            token::T_STDDEV | token::T_STDVAR => {
                // Welford with compensated sums, as `variance`: a = mean,
                // b = its compensation, c = aux, d = its compensation.
                let count = f64::from(self.n);
                let delta = v - (self.a + self.b);
                (self.a, self.b) = kahan_inc(delta / count, self.a, self.b);
                (self.c, self.d) = kahan_inc(delta * (v - (self.a + self.b)), self.c, self.d);
            }
            _ => {}
        }
    }

    /// One step of `mean`: a = sum, b = its compensation; after overflow,
    /// c = the incremental mean, d = its compensation.
    fn add_to_mean(&mut self, v: f64) {
        let count = f64::from(self.n);
        if self.incremental {
            if self.c.is_infinite() {
                if v.is_infinite() && (self.c > 0.0) != (v > 0.0) {
                    self.c = f64::NAN;
                }
                return;
            }
            let q = (count - 1.0) / count;
            (self.c, self.d) = kahan_inc(v / count, q * self.c, q * self.d);
            return;
        }
        let (sum, c) = kahan_inc(v, self.a, self.b);
        if sum.is_infinite() && !v.is_infinite() {
            // Overflow: continue as an incremental mean.
            let prior = (self.a + self.b) / (count - 1.0).max(1.0);
            let start = if self.n == 1 { 0.0 } else { prior };
            let q = (count - 1.0) / count;
            (self.c, self.d) = kahan_inc(v / count, q * start, 0.0);
            self.incremental = true;
            return;
        }
        (self.a, self.b) = (sum, c);
    }

    fn finish(&self, op: u16) -> f64 {
        let count = f64::from(self.n);
        match op {
            token::T_SUM => {
                if self.a.is_infinite() {
                    self.a
                } else {
                    self.a + self.b
                }
            }
            token::T_COUNT => count,
            token::T_GROUP => 1.0,
            token::T_MIN | token::T_MAX => self.a,
            token::T_AVG if self.incremental => {
                if self.c.is_infinite() {
                    self.c
                } else {
                    self.c + self.d
                }
            }
            token::T_AVG => {
                if self.a.is_infinite() {
                    self.a / count
                } else {
                    (self.a + self.b) / count
                }
            }
            token::T_STDVAR => (self.c + self.d) / count,
            token::T_STDDEV => ((self.c + self.d) / count).sqrt(),
            _ => f64::NAN,
        }
    }
}
