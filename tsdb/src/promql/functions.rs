//! PromQL functions and aggregation operators, with Prometheus' numerics
//! (Kahan-compensated sums, its extrapolation for `rate`, its bucket
//! interpolation for `histogram_quantile`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, Timelike};
use model::{Label, Labels, Sample, METRIC_NAME};
use promql_parser::parser::token;
use promql_parser::parser::{Call, Expr, LabelModifier};
use rustc_hash::FxHashMap;

use super::eval::{window, with_label, Elem, Evaluator, Metric, RangeArg, Val, Vector};
use super::PromqlError;

fn exec(message: impl Into<String>) -> PromqlError {
    PromqlError::Execution(message.into())
}

/// Neumaier's improvement of Kahan summation, as Prometheus' `kahanSumInc`.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// Mean as Prometheus computes it: a compensated sum, switching to an
/// incremental mean if the sum would overflow.
fn mean(values: &[f64]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    let mut incremental: Option<(f64, f64)> = None;
    for (i, &v) in values.iter().enumerate() {
        let count = (i + 1) as f64;
        if let Some((m, mc)) = incremental.as_mut() {
            if m.is_infinite() {
                if v.is_infinite() && (*m > 0.0) != (v > 0.0) {
                    *m = f64::NAN;
                }
                continue;
            }
            let q = (count - 1.0) / count;
            let (nm, nc) = kahan_inc(v / count, q * *m, q * *mc);
            *m = nm;
            *mc = nc;
            continue;
        }
        let (ns, nc) = kahan_inc(v, sum, c);
        if ns.is_infinite() && !v.is_infinite() {
            // Overflow: continue as an incremental mean.
            let prior = (sum + c) / (count - 1.0).max(1.0);
            let start = if i == 0 { (0.0, 0.0) } else { (prior, 0.0) };
            let q = (count - 1.0) / count;
            let (m, mc) = kahan_inc(v / count, q * start.0, q * start.1);
            incremental = Some((m, mc));
            continue;
        }
        sum = ns;
        c = nc;
    }
    match incremental {
        Some((m, mc)) => {
            if m.is_infinite() {
                m
            } else {
                m + mc
            }
        }
        None => {
            let n = values.len() as f64;
            if sum.is_infinite() {
                sum / n
            } else {
                (sum + c) / n
            }
        }
    }
}

fn variance(values: &[f64]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Prometheus' `quantile`: linear interpolation between closest ranks
/// (LogQL's `quantile_over_time` uses it too).
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort.Float64s order, which Prometheus uses: NaN before everything.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// The labels of an aggregation group.
pub(super) fn group_labels(labels: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(by)) => Labels::from_sorted_unchecked(
            labels
                .iter()
                .filter(|l| by.labels.contains(&l.name))
                .cloned()
                .collect(),
        ),
        Some(LabelModifier::Exclude(without)) => Labels::from_sorted_unchecked(
            labels
                .iter()
                .filter(|l| l.name != METRIC_NAME && !without.labels.contains(&l.name))
                .cloned()
                .collect(),
        ),
        None => Labels::from_sorted_unchecked(Vec::new()),
    }
}

/// Remembers each input series' group across the steps of one aggregation:
/// from step to step, the elements of a series share one `Arc<Labels>`, so
/// its group labels are computed and hashed once, not once per step.
#[derive(Default)]
pub(super) struct GroupCache {
    /// Input metric (by address; the `Arc` is kept so the address stays its
    /// own) → group id.
    by_metric: FxHashMap<usize, (Metric, usize)>,
    ids: HashMap<Labels, usize>,
    labels: Vec<Metric>,
    /// Per group id: its position among this step's groups, or `usize::MAX`.
    position: Vec<usize>,
}

/// One step's elements bucketed by group, in order of first appearance;
/// buffers are reused from step to step.
#[derive(Default)]
pub(super) struct Buckets {
    /// Group ids in order of first appearance.
    groups: Vec<usize>,
    /// `values[starts[i]..starts[i + 1]]` are group `i`'s values, in input order.
    starts: Vec<usize>,
    values: Vec<f64>,
    /// Whether any element of group `i` had its name marked for removal.
    drop_name: Vec<bool>,
    slot_of: Vec<usize>,
}

impl GroupCache {
    fn group_of(&mut self, metric: &Metric, modifier: &Option<LabelModifier>) -> usize {
        let address = Arc::as_ptr(metric) as usize;
        if let Some((_, id)) = self.by_metric.get(&address) {
            return *id;
        }
        let labels = group_labels(metric, modifier);
        let next = self.labels.len();
        let id = *self.ids.entry(labels.clone()).or_insert(next);
        if id == next {
            self.labels.push(Arc::new(labels));
            self.position.push(usize::MAX);
        }
        self.by_metric.insert(address, (metric.clone(), id));
        id
    }

    /// Buckets one step's values by group (a counting sort: no allocation
    /// per group or step once the buffers have grown).
    fn bucket(&mut self, vector: &Vector, modifier: &Option<LabelModifier>, out: &mut Buckets) {
        out.groups.clear();
        out.slot_of.clear();
        out.drop_name.clear();
        let mut counts: Vec<usize> = std::mem::take(&mut out.starts);
        counts.clear();
        for e in vector {
            let id = self.group_of(&e.metric, modifier);
            let slot = match self.position[id] {
                usize::MAX => {
                    self.position[id] = out.groups.len();
                    out.groups.push(id);
                    counts.push(0);
                    out.drop_name.push(false);
                    out.groups.len() - 1
                }
                slot => slot,
            };
            counts[slot] += 1;
            out.drop_name[slot] |= e.drop_name;
            out.slot_of.push(slot);
        }
        for &id in &out.groups {
            self.position[id] = usize::MAX;
        }
        // Counts to start offsets, then scatter in input order.
        let mut start = 0;
        for count in counts.iter_mut() {
            let n = *count;
            *count = start;
            start += n;
        }
        counts.push(start);
        out.values.clear();
        out.values.resize(start, 0.0);
        let mut next = counts.clone();
        for (e, &slot) in vector.iter().zip(&out.slot_of) {
            out.values[next[slot]] = e.v;
            next[slot] += 1;
        }
        out.starts = counts;
    }
}

/// Groups elements by their aggregation labels, in order of first appearance.
fn groups(
    vector: Vector,
    modifier: &Option<LabelModifier>,
    cache: &mut GroupCache,
) -> Vec<(Metric, Vec<Elem>)> {
    let mut order: Vec<(Metric, Vec<Elem>)> = Vec::new();
    let mut position: FxHashMap<usize, usize> = FxHashMap::default();
    for e in vector {
        let id = cache.group_of(&e.metric, modifier);
        let at = *position.entry(id).or_insert_with(|| {
            order.push((cache.labels[id].clone(), Vec::new()));
            order.len() - 1
        });
        order[at].1.push(e);
    }
    order
}

pub(super) fn aggregate_simple(
    vector: Vector,
    op: u16,
    param: Option<f64>,
    modifier: &Option<LabelModifier>,
    cache: &mut GroupCache,
    buckets: &mut Buckets,
) -> Vector {
    cache.bucket(&vector, modifier, buckets);
    drop(vector);
    let mut out = Vec::with_capacity(buckets.groups.len());
    for (slot, &id) in buckets.groups.iter().enumerate() {
        let values = &mut buckets.values[buckets.starts[slot]..buckets.starts[slot + 1]];
        let v = match op {
            token::T_SUM => kahan_sum(values.iter().copied()),
            token::T_AVG => mean(values),
            token::T_COUNT => values.len() as f64,
            token::T_GROUP => 1.0,
            token::T_MIN => {
                values
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v < m { v } else { m })
            }
            token::T_MAX => {
                values
                    .iter()
                    .copied()
                    .fold(f64::NAN, |m, v| if m.is_nan() || v > m { v } else { m })
            }
            token::T_STDVAR => variance(values),
            token::T_STDDEV => variance(values).sqrt(),
            token::T_QUANTILE => quantile(param.unwrap_or(f64::NAN), values),
            _ => f64::NAN,
        };
        let labels = cache.labels[id].clone();
        // `by (__name__)` keeps a name marked for removal; it still goes
        // at the end unless a later function (label_replace) sets it again.
        let drop_name = labels.get(METRIC_NAME).is_some() && buckets.drop_name[slot];
        out.push(Elem {
            metric: labels,
            v,
            drop_name,
        });
    }
    out
}

pub(super) fn top_k(
    vector: Vector,
    k: f64,
    op: u16,
    modifier: &Option<LabelModifier>,
    cache: &mut GroupCache,
) -> Result<Vector, PromqlError> {
    if k.is_nan() {
        return Err(exec("Parameter value is NaN"));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = if k > 1e18 { usize::MAX } else { k as usize };
    let mut out = Vec::new();
    for (_, elems) in groups(vector, modifier, cache) {
        let order = match op {
            token::T_TOPK => desc_nan_last,
            token::T_BOTTOMK => asc_nan_last,
            _ => {
                out.extend(elems.into_iter().take(k));
                continue;
            }
        };
        // The first k of a stable sort, kept as elements arrive: each goes
        // after the kept ones it does not beat.
        let mut kept: Vec<Elem> = Vec::with_capacity(k.min(elems.len()));
        for e in elems {
            let at = kept.partition_point(|x| order(x.v, e.v) != std::cmp::Ordering::Greater);
            if at < k {
                if kept.len() == k {
                    kept.pop();
                }
                kept.insert(at, e);
            }
        }
        out.extend(kept);
    }
    Ok(out)
}

fn desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
    }
}

fn asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// `name 0xff value 0xff …`: what `limit_ratio` hashes to pick series.
fn label_bytes(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.iter() {
        out.extend_from_slice(l.name.as_bytes());
        out.push(0xff);
        out.extend_from_slice(l.value.as_bytes());
        out.push(0xff);
    }
    out
}

pub(super) fn limit_ratio(
    vector: Vector,
    ratio: f64,
    modifier: &Option<LabelModifier>,
    cache: &mut GroupCache,
) -> Result<Vector, PromqlError> {
    if ratio.is_nan() {
        return Err(exec("Ratio value is NaN"));
    }
    let ratio = ratio.clamp(-1.0, 1.0);
    let mut out = Vec::new();
    for (_, elems) in groups(vector, modifier, cache) {
        for e in elems {
            // Prometheus' sample offset: the series' label hash (XXH64 of
            // `name 0xff value 0xff …`) as a fraction of the largest hash.
            let key = label_bytes(&e.metric);
            let offset = xxhash_rust::xxh64::xxh64(&key, 0) as f64 / u64::MAX as f64;
            let keep = if ratio >= 0.0 {
                offset < ratio
            } else {
                offset >= 1.0 + ratio
            };
            if keep {
                out.push(e);
            }
        }
    }
    Ok(out)
}

pub(super) fn count_values(
    vector: Vector,
    label: &str,
    modifier: &Option<LabelModifier>,
) -> Result<Vector, PromqlError> {
    if !model::labels::is_valid_label_name(label) {
        return Err(exec(format!("invalid label name {label:?}")));
    }
    let mut order: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in vector {
        let base = group_labels(&e.metric, modifier);
        let labels = with_label(&base, label, &super::format_value(e.v));
        let at = *index.entry(labels.clone()).or_insert_with(|| {
            order.push((labels, 0.0));
            order.len() - 1
        });
        order[at].1 += 1.0;
    }
    Ok(order
        .into_iter()
        .map(|(labels, count)| Elem {
            metric: Arc::new(labels),
            v: count,
            drop_name: false,
        })
        .collect())
}

/// Prometheus' `extrapolatedRate`, for `rate`, `increase` and `delta`.
fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    range: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.v - first.v;
    if counter {
        let mut previous = 0.0;
        for s in samples {
            if s.v < previous {
                result += previous;
            }
            previous = s.v;
        }
    }
    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    let threshold = average * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average / 2.0;
    }
    if counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.v >= 0.0 {
            duration_to_zero = sampled * (first.v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average / 2.0;
    }
    let mut factor = (sampled + duration_to_start + duration_to_end) / sampled;
    if rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Least-squares slope and intercept of `samples` around `intercept_time`.
fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y, mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1000.0;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn arg(call: &Call, i: usize) -> Result<&Expr, PromqlError> {
    call.args
        .args
        .get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| exec(format!("{}: missing argument {}", call.func.name, i + 1)))
}

fn string_arg(call: &Call, i: usize) -> Result<String, PromqlError> {
    let mut expr = arg(call, i)?;
    while let Expr::Paren(p) = expr {
        expr = &p.expr;
    }
    match expr {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => Err(exec(format!(
            "{}: argument {} must be a string",
            call.func.name,
            i + 1
        ))),
    }
}

/// Applies `f` to each element of an instant vector, dropping the name.
fn map_vector(per_step: Vec<Vector>, f: impl Fn(f64) -> f64) -> Val {
    Val::Vector(
        per_step
            .into_iter()
            .map(|vector| {
                vector
                    .into_iter()
                    .map(|e| Elem {
                        v: f(e.v),
                        drop_name: true,
                        metric: e.metric,
                    })
                    .collect()
            })
            .collect(),
    )
}

/// Evaluates a function over a range argument, step by step; `f` gets the
/// window's samples, its start and end, and the step's index.
fn over_windows(
    ev: &Evaluator<'_>,
    arg: &RangeArg,
    drop_name: bool,
    f: impl Fn(&[Sample], i64, i64, usize) -> Option<f64>,
) -> Val {
    let mut out: Vec<Vector> = vec![Vec::new(); ev.steps.len()];
    let ends: Vec<i64> = ev.steps.iter().map(|&t| arg.window_end(t)).collect();
    // Series by series, with the window's two edges moving forward through
    // the samples as the steps advance (window ends never decrease): one
    // pass over each series instead of two binary searches per step.
    for (metric, samples, dropped) in &arg.series {
        let (mut lo, mut hi) = (0, 0);
        for (i, &end) in ends.iter().enumerate() {
            let start = end.saturating_sub(arg.range);
            while lo < samples.len() && samples[lo].t <= start {
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < samples.len() && samples[hi].t <= end {
                hi += 1;
            }
            if lo == hi {
                continue;
            }
            if let Some(v) = f(&samples[lo..hi], start, end, i) {
                out[i].push(Elem {
                    metric: metric.clone(),
                    v,
                    drop_name: drop_name || *dropped,
                });
            }
        }
    }
    Val::Vector(out)
}

/// A function of one series' samples in one window (`rate`,
/// `*_over_time`...): `(samples, window start, window end, range)`.
pub(super) type WindowKernel = Box<dyn Fn(&[Sample], i64, i64, i64) -> Option<f64> + Send + Sync>;

/// The kernel of a range-vector function that takes no other argument.
pub(super) fn window_kernel(name: &str) -> Option<WindowKernel> {
    Some(match name {
        "rate" => {
            Box::new(|w, start, end, range| extrapolated_rate(w, start, end, range, true, true))
        }
        "increase" => {
            Box::new(|w, start, end, range| extrapolated_rate(w, start, end, range, true, false))
        }
        "delta" => {
            Box::new(|w, start, end, range| extrapolated_rate(w, start, end, range, false, false))
        }
        "irate" | "idelta" => {
            let irate = name == "irate";
            Box::new(move |w, _, _, _| {
                if w.len() < 2 {
                    return None;
                }
                let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
                let mut dv = last.v - prev.v;
                if irate {
                    if last.v < prev.v {
                        dv = last.v;
                    }
                    let dt = (last.t - prev.t) as f64 / 1000.0;
                    if dt == 0.0 {
                        return None;
                    }
                    dv /= dt;
                }
                Some(dv)
            })
        }
        "deriv" => Box::new(|w, _, _, _| (w.len() >= 2).then(|| linear_regression(w, w[0].t).0)),
        "resets" | "changes" => {
            let resets = name == "resets";
            Box::new(move |w, _, _, _| {
                let count = w
                    .windows(2)
                    .filter(|p| {
                        if resets {
                            p[1].v < p[0].v
                        } else {
                            !(p[1].v == p[0].v || (p[1].v.is_nan() && p[0].v.is_nan()))
                        }
                    })
                    .count();
                Some(count as f64)
            })
        }
        _ if OVER_TIME.contains(&name) => {
            let name: &'static str = OVER_TIME.iter().copied().find(|n| *n == name)?;
            Box::new(move |w, _, _, _| {
                let values: Vec<f64> = w.iter().map(|s| s.v).collect();
                Some(match name {
                    "avg_over_time" => mean(&values),
                    "min_over_time" => values.iter().copied().fold(f64::NAN, |m, v| {
                        if m.is_nan() || v < m {
                            v
                        } else {
                            m
                        }
                    }),
                    "max_over_time" => values.iter().copied().fold(f64::NAN, |m, v| {
                        if m.is_nan() || v > m {
                            v
                        } else {
                            m
                        }
                    }),
                    "sum_over_time" => kahan_sum(values.iter().copied()),
                    "count_over_time" => values.len() as f64,
                    "stddev_over_time" => variance(&values).sqrt(),
                    "stdvar_over_time" => variance(&values),
                    "last_over_time" => values[values.len() - 1],
                    "first_over_time" => values[0],
                    "mad_over_time" if values.iter().any(|v| v.is_nan()) => f64::NAN,
                    "mad_over_time" => {
                        let mut sorted = values.clone();
                        let median = quantile(0.5, &mut sorted);
                        let mut deviations: Vec<f64> =
                            values.iter().map(|v| (v - median).abs()).collect();
                        quantile(0.5, &mut deviations)
                    }
                    "ts_of_last_over_time" => w[w.len() - 1].t as f64 / 1000.0,
                    "ts_of_first_over_time" => w[0].t as f64 / 1000.0,
                    "ts_of_min_over_time" | "ts_of_max_over_time" => {
                        // The latest sample holding the extreme value.
                        let mut best = w[0];
                        for s in w {
                            let better = if name == "ts_of_min_over_time" {
                                s.v <= best.v
                            } else {
                                s.v >= best.v
                            };
                            if better || best.v.is_nan() {
                                best = *s;
                            }
                        }
                        best.t as f64 / 1000.0
                    }
                    _ => 1.0,
                })
            })
        }
        _ => return None,
    })
}

const OVER_TIME: [&str; 15] = [
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "first_over_time",
    "mad_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
];

/// Whether a window function's result loses the metric name (all but the
/// ones that return a sample as it is).
pub(super) fn window_drops_name(name: &str) -> bool {
    name != "last_over_time" && name != "first_over_time"
}

/// `rate` and `increase` of a series whose name does not end like a
/// counter's get Prometheus' "might not be a counter" info.
pub(super) fn check_counter_name(ev: &Evaluator<'_>, function: &str, name: &str, arg: &Expr) {
    if function != "rate" && function != "increase" {
        return;
    }
    if !name.is_empty()
        && !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
    {
        ev.info(
            format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
            ),
            &arg.to_string(),
        );
    }
}

/// Sets label `dst` of every element to what `value` computes from its
/// labels (`None` leaves the element as it is; an empty value removes the
/// label). A `__name__` set this way is no longer marked for removal.
fn relabel(input: Vec<Vector>, dst: &str, value: impl Fn(&Labels) -> Option<String>) -> Val {
    Val::Vector(
        input
            .into_iter()
            .map(|vector| {
                vector
                    .into_iter()
                    .map(|e| match value(&e.metric) {
                        None => e,
                        Some(v) => Elem {
                            metric: Arc::new(with_label(&e.metric, dst, &v)),
                            drop_name: e.drop_name && dst != METRIC_NAME,
                            v: e.v,
                        },
                    })
                    .collect()
            })
            .collect(),
    )
}

/// The labels `absent()` reports: the equality matchers of its selector.
fn absent_labels(expr: &Expr) -> Labels {
    let mut expr = expr;
    loop {
        match expr {
            Expr::Paren(p) => expr = &p.expr,
            Expr::MatrixSelector(m) => return absent_labels(&Expr::VectorSelector(m.vs.clone())),
            Expr::VectorSelector(vs) => {
                let mut labels: Vec<Label> = Vec::new();
                let mut duplicated: Vec<String> = Vec::new();
                let mut seen: Vec<&str> = Vec::new();
                for m in &vs.matchers.matchers {
                    // A label constrained more than once has no single value to report.
                    if seen.contains(&m.name.as_str()) {
                        duplicated.push(m.name.clone());
                    }
                    seen.push(&m.name);
                    if m.name == METRIC_NAME
                        || !matches!(m.op, promql_parser::label::MatchOp::Equal)
                    {
                        continue;
                    }
                    labels.push(Label::new(m.name.clone(), m.value.clone()));
                }
                labels.retain(|l| !duplicated.contains(&l.name));
                labels.sort();
                return Labels::from_sorted_unchecked(labels);
            }
            _ => return Labels::from_sorted_unchecked(Vec::new()),
        }
    }
}

pub(super) fn call(ev: &mut Evaluator<'_>, call: &Call) -> Result<Val, PromqlError> {
    let name = call.func.name;
    let steps = ev.steps.clone();
    let step_seconds = |i: usize| steps[i] as f64 / 1000.0;
    match name {
        "time" => Ok(Val::Scalar(
            steps.iter().map(|&t| t as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps.len()])),
        "start" | "end" | "step" | "range" => {
            let v = match name {
                "start" => ev.query_start as f64 / 1000.0,
                "end" => ev.query_end as f64 / 1000.0,
                "step" => ev.query_step as f64 / 1000.0,
                _ => (ev.query_end - ev.query_start) as f64 / 1000.0,
            };
            Ok(Val::Scalar(vec![v; steps.len()]))
        }
        "min_of" | "max_of" => {
            let a = ev.scalar(arg(call, 0)?)?;
            let b = ev.scalar(arg(call, 1)?)?;
            Ok(Val::Scalar(
                a.into_iter()
                    .zip(b)
                    .map(|(a, b)| {
                        if a.is_nan() || b.is_nan() {
                            f64::NAN
                        } else if name == "min_of" {
                            a.min(b)
                        } else {
                            a.max(b)
                        }
                    })
                    .collect(),
            ))
        }
        "vector" => {
            let values = ev.scalar(arg(call, 0)?)?;
            let empty = Arc::new(Labels::from_sorted_unchecked(Vec::new()));
            Ok(Val::Vector(
                values
                    .into_iter()
                    .map(|v| {
                        vec![Elem {
                            metric: empty.clone(),
                            v,
                            drop_name: false,
                        }]
                    })
                    .collect(),
            ))
        }
        "scalar" => {
            let per_step = ev.vector(arg(call, 0)?)?;
            Ok(Val::Scalar(
                per_step
                    .into_iter()
                    .map(|v| if v.len() == 1 { v[0].v } else { f64::NAN })
                    .collect(),
            ))
        }
        "abs" | "ceil" | "floor" | "exp" | "ln" | "log2" | "log10" | "sqrt" | "sgn" | "sin"
        | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
        | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sqrt" => f64::sqrt,
                "sgn" => |v: f64| {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        v
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => f64::to_degrees,
                _ => f64::to_radians,
            };
            let input = ev.vector(arg(call, 0)?)?;
            Ok(map_vector(input, f))
        }
        "round" => {
            let input = ev.vector(arg(call, 0)?)?;
            let to_nearest = match call.args.args.get(1) {
                Some(e) => ev.scalar(e)?,
                None => vec![1.0; steps.len()],
            };
            Ok(Val::Vector(
                input
                    .into_iter()
                    .zip(to_nearest)
                    .map(|(vector, nearest)| {
                        let inverse = 1.0 / nearest;
                        vector
                            .into_iter()
                            .map(|e| Elem {
                                v: (e.v * inverse + 0.5).floor() / inverse,
                                drop_name: true,
                                metric: e.metric,
                            })
                            .collect()
                    })
                    .collect(),
            ))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let input = ev.vector(arg(call, 0)?)?;
            let first = ev.scalar(arg(call, 1)?)?;
            let second = if name == "clamp" {
                Some(ev.scalar(arg(call, 2)?)?)
            } else {
                None
            };
            Ok(Val::Vector(
                input
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| {
                        let (lo, hi) = match name {
                            "clamp" => (first[i], second.as_ref().map_or(f64::NAN, |s| s[i])),
                            "clamp_min" => (first[i], f64::INFINITY),
                            _ => (f64::NEG_INFINITY, first[i]),
                        };
                        if name == "clamp" && hi < lo {
                            return Vec::new();
                        }
                        vector
                            .into_iter()
                            .map(|e| Elem {
                                v: if e.v.is_nan() {
                                    e.v
                                } else {
                                    e.v.max(lo).min(hi)
                                },
                                drop_name: true,
                                metric: e.metric,
                            })
                            .collect()
                    })
                    .collect(),
            ))
        }
        "timestamp" => {
            let mut inner = arg(call, 0)?;
            while let Expr::Paren(p) = inner {
                inner = &p.expr;
            }
            if let Expr::VectorSelector(vs) = inner {
                // The timestamp of the selected sample, not of the step.
                return ev.vector_selector(vs, true);
            }
            let input = ev.vector(inner)?;
            Ok(Val::Vector(
                input
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| {
                        vector
                            .into_iter()
                            .map(|e| Elem {
                                v: step_seconds(i),
                                drop_name: true,
                                metric: e.metric,
                            })
                            .collect()
                    })
                    .collect(),
            ))
        }
        "absent" => {
            let input = ev.vector(arg(call, 0)?)?;
            let labels = Arc::new(absent_labels(arg(call, 0)?));
            Ok(Val::Vector(
                input
                    .into_iter()
                    .map(|v| {
                        if v.is_empty() {
                            vec![Elem {
                                metric: labels.clone(),
                                v: 1.0,
                                drop_name: false,
                            }]
                        } else {
                            Vec::new()
                        }
                    })
                    .collect(),
            ))
        }
        "absent_over_time" => {
            let range = ev.range_arg(arg(call, 0)?)?;
            let labels = Arc::new(absent_labels(arg(call, 0)?));
            let mut out = Vec::new();
            for &t in &steps {
                let end = range.window_end(t);
                let any = range
                    .series
                    .iter()
                    .any(|(_, s, _)| !window(s, end, range.range).is_empty());
                out.push(if any {
                    Vec::new()
                } else {
                    vec![Elem {
                        metric: labels.clone(),
                        v: 1.0,
                        drop_name: false,
                    }]
                });
            }
            Ok(Val::Vector(out))
        }
        // Window functions of a subquery (those of a range selector are
        // evaluated series by series, see `series_local`).
        name if window_kernel(name).is_some() => {
            let range = ev.range_arg(arg(call, 0)?)?;
            for (metric, samples, _) in &range.series {
                if !samples.is_empty() {
                    let metric_name = metric.get(METRIC_NAME).unwrap_or("");
                    check_counter_name(ev, name, metric_name, arg(call, 0)?);
                }
            }
            let kernel = window_kernel(name).expect("a window function");
            let r = range.range;
            Ok(over_windows(
                ev,
                &range,
                window_drops_name(name),
                |w, start, end, _| kernel(w, start, end, r),
            ))
        }
        "predict_linear" => {
            let range = ev.range_arg(arg(call, 0)?)?;
            let horizon = ev.scalar(arg(call, 1)?)?;
            let steps = steps.clone();
            Ok(over_windows(ev, &range, true, |w, _, _, i| {
                if w.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(w, steps[i]);
                Some(slope * horizon[i] + intercept)
            }))
        }
        "quantile_over_time" => {
            let q = ev.scalar(arg(call, 0)?)?;
            let range = ev.range_arg(arg(call, 1)?)?;
            if range
                .series
                .iter()
                .any(|(_, samples, _)| !samples.is_empty())
            {
                for &q in &q {
                    ev.check_quantile(q, arg(call, 0)?);
                }
            }
            Ok(over_windows(ev, &range, true, |w, _, _, i| {
                let mut values: Vec<f64> = w.iter().map(|s| s.v).collect();
                Some(quantile(q[i], &mut values))
            }))
        }
        "holt_winters" | "double_exponential_smoothing" => {
            let range = ev.range_arg(arg(call, 0)?)?;
            let sf = ev.scalar(arg(call, 1)?)?;
            let tf = ev.scalar(arg(call, 2)?)?;
            for i in 0..steps.len() {
                if !(sf[i] > 0.0 && sf[i] < 1.0) {
                    return Err(exec(format!(
                        "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                        sf[i]
                    )));
                }
                if !(tf[i] > 0.0 && tf[i] < 1.0) {
                    return Err(exec(format!(
                        "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                        tf[i]
                    )));
                }
            }
            Ok(over_windows(ev, &range, true, |w, _, _, i| {
                if w.len() < 2 {
                    return None;
                }
                let (sf, tf) = (sf[i], tf[i]);
                let (mut s0, mut s1) = (0.0, w[0].v);
                let mut b = w[1].v - w[0].v;
                for (j, sample) in w.iter().enumerate().skip(1) {
                    if j > 1 {
                        b = tf * (s1 - s0) + (1.0 - tf) * b;
                    }
                    let next = sf * sample.v + (1.0 - sf) * (s1 + b);
                    s0 = s1;
                    s1 = next;
                }
                Some(s1)
            }))
        }
        "label_replace" => {
            let input = ev.vector(arg(call, 0)?)?;
            let dst = string_arg(call, 1)?;
            let replacement = string_arg(call, 2)?;
            let src = string_arg(call, 3)?;
            let pattern = string_arg(call, 4)?;
            let regex = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
                exec(format!(
                    "invalid regular expression in label_replace(): {pattern}: {e}"
                ))
            })?;
            if !model::labels::is_valid_label_name(&dst) {
                return Err(exec(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            Ok(relabel(input, &dst, |labels| {
                let captures = regex.captures(labels.get(&src).unwrap_or(""))?;
                let mut replaced = String::new();
                captures.expand(&replacement, &mut replaced);
                Some(replaced)
            }))
        }
        "label_join" => {
            let input = ev.vector(arg(call, 0)?)?;
            let dst = string_arg(call, 1)?;
            let separator = string_arg(call, 2)?;
            let sources: Vec<String> = (3..call.args.args.len())
                .map(|i| string_arg(call, i))
                .collect::<Result<_, _>>()?;
            if !model::labels::is_valid_label_name(&dst) {
                return Err(exec(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            Ok(relabel(input, &dst, |labels| {
                let joined: Vec<&str> = sources
                    .iter()
                    .map(|s| labels.get(s).unwrap_or(""))
                    .collect();
                Some(joined.join(&separator))
            }))
        }
        "sort" | "sort_desc" => {
            warn_sort_in_range_query(ev, name);
            let mut input = ev.vector(arg(call, 0)?)?;
            for vector in &mut input {
                if name == "sort" {
                    vector.sort_by(|a, b| asc_nan_last(a.v, b.v));
                } else {
                    vector.sort_by(|a, b| desc_nan_last(a.v, b.v));
                }
            }
            Ok(Val::Vector(input))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            warn_sort_in_range_query(ev, name);
            let mut input = ev.vector(arg(call, 0)?)?;
            let labels: Vec<String> = (1..call.args.args.len())
                .map(|i| string_arg(call, i))
                .collect::<Result<_, _>>()?;
            for vector in &mut input {
                vector.sort_by(|a, b| {
                    let mut ordering = std::cmp::Ordering::Equal;
                    for l in &labels {
                        ordering = natural_cmp(
                            a.metric.get(l).unwrap_or(""),
                            b.metric.get(l).unwrap_or(""),
                        );
                        if ordering != std::cmp::Ordering::Equal {
                            break;
                        }
                    }
                    let ordering = ordering.then_with(|| a.metric.cmp(&b.metric));
                    if name == "sort_by_label" {
                        ordering
                    } else {
                        ordering.reverse()
                    }
                });
            }
            Ok(Val::Vector(input))
        }
        "info" => super::info::info(ev, call),
        "histogram_fraction" => {
            let lower = ev.scalar(arg(call, 0)?)?;
            let upper = ev.scalar(arg(call, 1)?)?;
            let input = ev.vector(arg(call, 2)?)?;
            let near = arg(call, 2)?.to_string();
            Ok(Val::Vector(
                input
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| {
                        per_histogram(ev, vector, &near, |buckets| {
                            (bucket_fraction(lower[i], upper[i], buckets), false)
                        })
                    })
                    .collect(),
            ))
        }
        "histogram_quantiles" => {
            let input = ev.vector(arg(call, 0)?)?;
            let label = string_arg(call, 1)?;
            if !model::labels::is_valid_label_name(&label) {
                return Err(exec(format!("invalid label name {label:?}")));
            }
            let mut quantiles = Vec::new();
            for i in 2..call.args.args.len() {
                let q = ev.scalar(arg(call, i)?)?;
                for &q in &q {
                    ev.check_quantile(q, arg(call, 0)?);
                }
                quantiles.push(q);
            }
            let near = arg(call, 0)?.to_string();
            Ok(Val::Vector(
                input
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| {
                        let mut out = Vec::new();
                        for q in &quantiles {
                            let q = q[i];
                            let value = quantile_label(q);
                            for e in per_histogram(ev, vector.clone(), &near, |buckets| {
                                bucket_quantile(q, buckets)
                            }) {
                                out.push(Elem {
                                    metric: Arc::new(with_label(&e.metric, &label, &value)),
                                    ..e
                                });
                            }
                        }
                        out
                    })
                    .collect(),
            ))
        }
        "histogram_quantile" => {
            let q = ev.scalar(arg(call, 0)?)?;
            let input = ev.vector(arg(call, 1)?)?;
            for &q in &q {
                ev.check_quantile(q, arg(call, 0)?);
            }
            let near = arg(call, 1)?.to_string();
            Ok(Val::Vector(
                input
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| {
                        per_histogram(ev, vector, &near, |buckets| bucket_quantile(q[i], buckets))
                    })
                    .collect(),
            ))
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let input = match call.args.args.first() {
                Some(e) => ev.vector(e)?,
                None => {
                    let empty = Arc::new(Labels::from_sorted_unchecked(Vec::new()));
                    steps
                        .iter()
                        .map(|&t| {
                            vec![Elem {
                                metric: empty.clone(),
                                v: t as f64 / 1000.0,
                                drop_name: false,
                            }]
                        })
                        .collect()
                }
            };
            Ok(map_vector(input, |v| {
                if v.is_nan() || v.is_infinite() {
                    return f64::NAN;
                }
                let Some(time) = chrono::DateTime::from_timestamp(v.floor() as i64, 0) else {
                    return f64::NAN;
                };
                f64::from(match name {
                    "day_of_month" => time.day(),
                    "day_of_week" => time.weekday().num_days_from_sunday(),
                    "day_of_year" => time.ordinal(),
                    "days_in_month" => {
                        let (y, m) = (time.year(), time.month());
                        let next = if m == 12 {
                            chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
                        } else {
                            chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
                        };
                        next.and_then(|n| n.pred_opt()).map_or(0, |d| d.day())
                    }
                    "hour" => time.hour(),
                    "minute" => time.minute(),
                    "month" => time.month(),
                    _ => return f64::from(time.year()),
                })
            }))
        }
        other => Err(exec(format!("function {other:?} is not supported yet"))),
    }
}

/// Compares strings with runs of digits ordered by their number ("2" < "10"),
/// as `sort_by_label` does.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let xn = x.iter().take_while(|b| b.is_ascii_digit()).count();
                let yn = y.iter().take_while(|b| b.is_ascii_digit()).count();
                let (xd, yd) = (&x[..xn], &y[..yn]);
                let trim = |d: &[u8]| -> usize { d.iter().take_while(|&&b| b == b'0').count() };
                let (xs, ys) = (&xd[trim(xd)..], &yd[trim(yd)..]);
                let ordering = xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys));
                if ordering != std::cmp::Ordering::Equal {
                    return ordering;
                }
                x = &x[xn..];
                y = &y[yn..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// Sorting a range query's steps changes nothing: its series are always
/// returned in label order.
fn warn_sort_in_range_query(ev: &Evaluator<'_>, name: &str) {
    if ev.query_step > 0 {
        ev.warn(
            "sort is ineffective for range queries since results are always ordered by labels",
            &format!("{name}("),
        );
    }
}

/// Applies `f` to each classic histogram of a vector: its `(le, count)`
/// buckets, grouped by the labels other than `le` and the name. `f` answers
/// the value and whether the counts had to be made monotonic. `near` is the
/// buckets argument, for the position annotations quote.
fn per_histogram(
    ev: &Evaluator<'_>,
    vector: Vector,
    near: &str,
    f: impl Fn(Vec<(f64, f64)>) -> (f64, bool),
) -> Vector {
    // Per group: its labels, its `(le, count)` buckets, the metric name.
    type Group = (Labels, Vec<(f64, f64)>, String);
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in vector {
        let metric_name = e.metric.get(METRIC_NAME).unwrap_or("");
        let upper = e.metric.get("le").map(parse_le);
        let Some(Ok(upper)) = upper else {
            ev.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {:?} for metric name {metric_name:?}",
                    e.metric.get("le").unwrap_or("")
                ),
                near,
            );
            continue;
        };
        // The name stays in the key and is dropped with the result, so
        // that two histograms differing only by name collide as upstream.
        let key = Labels::from_sorted_unchecked(
            e.metric
                .iter()
                .filter(|l| l.name != "le")
                .cloned()
                .collect(),
        );
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new(), metric_name.to_string()));
            groups.len() - 1
        });
        groups[at].1.push((upper, e.v));
    }
    groups
        .into_iter()
        .map(|(labels, buckets, metric_name)| {
            let (v, fixed) = f(buckets);
            if fixed {
                ev.info(
                    format!(
                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {metric_name:?}"
                    ),
                    near,
                );
            }
            Elem {
                metric: Arc::new(labels),
                v,
                drop_name: true,
            }
        })
        .collect()
}

/// A quantile as `histogram_quantiles` labels it: always with a decimal
/// point (`0.0`, `0.25`, `1.0`).
fn quantile_label(q: f64) -> String {
    let text = super::format_value(q);
    if text.contains(['.', 'e', 'N', 'I']) {
        text
    } else {
        format!("{text}.0")
    }
}

/// Prometheus' `BucketFraction`: the fraction of observations between
/// `lower` and `upper`, interpolating linearly inside buckets (the lowest
/// bucket starts at 0 when its bound is positive; observations of a bucket
/// with an infinite bound sit at its infinite end).
fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    let mut coalesced: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match coalesced.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => coalesced.push((bound, count)),
        }
    }
    let buckets = coalesced;
    let total = buckets[buckets.len() - 1].1;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
    for (i, &(bound, cumulative)) in buckets.iter().enumerate() {
        let (b_lower, previous) = match i {
            0 if bound > 0.0 => (0.0, 0.0),
            0 => (f64::NEG_INFINITY, 0.0),
            _ => buckets[i - 1],
        };
        let count = cumulative - previous;
        // No interpolation in a bucket of infinite width: its
        // observations sit at its infinite end.
        let at = |v: f64| {
            if b_lower.is_infinite() {
                rank + count
            } else if bound.is_infinite() {
                rank
            } else {
                rank + count * (v - b_lower) / (bound - b_lower)
            }
        };
        if lower_rank.is_none() && b_lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b_lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b_lower < lower && bound > lower {
            lower_rank = Some(at(lower));
        }
        if upper_rank.is_none() && b_lower < upper && bound > upper {
            upper_rank = Some(at(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += count;
    }
    let lower_rank = lower_rank.filter(|r| *r <= total).unwrap_or(total);
    let upper_rank = upper_rank.filter(|r| *r <= total).unwrap_or(total);
    (upper_rank - lower_rank) / total
}

fn parse_le(text: &str) -> Result<f64, std::num::ParseFloatError> {
    match text {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        other => other.parse(),
    }
}

/// The `q` quantile of cumulative `(upper bound, count)` buckets, and
/// whether counts had to be raised to make them monotonic.
fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> (f64, bool) {
    let mut fixed = false;
    let v = bucket_quantile_inner(q, &mut buckets, &mut fixed);
    (v, fixed)
}

fn bucket_quantile_inner(q: f64, buckets: &mut Vec<(f64, f64)>, fixed: &mut bool) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same upper bound.
    let mut coalesced: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (upper, count) in buckets.drain(..) {
        match coalesced.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => coalesced.push((upper, count)),
        }
    }
    let mut buckets = coalesced;
    // Counts must not decrease; tiny deltas are floating-point noise.
    let mut previous = buckets[0].1;
    for bucket in buckets.iter_mut().skip(1) {
        let current = bucket.1;
        if current == previous {
            continue;
        }
        let almost_equal = (current - previous).abs() <= 1e-12 * current.abs().max(previous.abs());
        if almost_equal || current < previous {
            *fixed |= !almost_equal;
            bucket.1 = previous;
            continue;
        }
        previous = current;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|bucket| bucket.1 < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut start = 0.0;
    let end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_buckets() {
        assert_eq!(quantile(0.5, &mut [1.0, 3.0, 2.0]), 2.0);
        assert_eq!(quantile(0.75, &mut [1.0, 2.0, 3.0, 4.0]), 3.25);
        let buckets = vec![
            (0.1, 10.0),
            (0.5, 50.0),
            (1.0, 90.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((bucket_quantile(0.5, buckets.clone()).0 - 0.5).abs() < 1e-12);
        assert_eq!(bucket_quantile(0.99, buckets).0, 1.0);
        assert!(bucket_quantile(0.5, vec![(1.0, 1.0)]).0.is_nan());
    }

    #[test]
    fn kahan_summation_recovers_lost_digits() {
        assert_eq!(kahan_sum([1.0, 1e100, 1.0, -1e100].into_iter()), 2.0);
        assert_eq!(mean(&[f64::MAX, f64::MAX]), f64::MAX);
    }

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter at 1/s sampled every 10s over a 60s window.
        let samples: Vec<Sample> = (1..=6)
            .map(|i| Sample::new(i * 10_000, (i * 10) as f64))
            .collect();
        let rate = extrapolated_rate(&samples, 0, 60_000, 60_000, true, true).unwrap();
        assert!((rate - 1.0).abs() < 1e-9, "{rate}");
    }
}
