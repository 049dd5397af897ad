//! TraceQL evaluator: runs a parsed [`Query`] over one [`Trace`].
//!
//! Follows Tempo's engine (`pkg/traceql/ast_execute.go`): the first stage
//! sees one spanset holding every span of the trace; each stage maps the
//! spansets it receives to new ones and empty spansets are dropped. A trace
//! matches when [`evaluate`] returns at least one spanset.
//!
//! Value semantics:
//! - a missing attribute is `nil`; `nil` equals only `nil` (`{ .x = nil }`
//!   matches spans without `x`, `{ .x != nil }` spans with it); any other
//!   comparison involving a missing value is false (also `!=`);
//! - `.x` looks in span attributes, then resource attributes;
//! - ints, floats and durations compare numerically with each other; strings
//!   compare lexically; bools, statuses and kinds support only `=`/`!=`;
//!   operands of different kinds compare false at run time;
//! - `=~`/`!~` use fully anchored regexes (`^(?:re)$`), as Tempo does;
//! - `span:id` and `trace:id` are lower-case hex strings; `rootName`,
//!   `rootServiceName` come from the first span without a parent and
//!   `traceDuration` is latest end minus earliest start.
//!
//! Before running, the query is type-checked like Tempo's `validate()`:
//! operands whose types are known statically (literals, intrinsics) must be
//! compatible with each other and with the operator, and filters must be
//! boolean; failures are [`EvalError`]s. Attributes have unknown type and
//! never fail validation.

use std::collections::HashMap;
use std::fmt;

use regex::Regex;

use super::ast::*;
use crate::span::{hex, Trace, Value};

/// An evaluation (validation) error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    pub message: String,
}

impl EvalError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

/// The `by(...)` key of a spanset: the field as written and its value
/// (`Static::Nil` for spans lacking the field).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupKey {
    pub field: String,
    pub value: Static,
}

/// A value recorded by `select(...)` for one span.
#[derive(Clone, Debug, PartialEq)]
pub struct Selected {
    /// Index into `trace.spans`.
    pub span: usize,
    /// The field as written, e.g. `span.http.method`, `duration`.
    pub field: String,
    pub value: Static,
}

/// A set of spans of one trace surviving the pipeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spanset {
    /// Indexes into `trace.spans`, ascending, without duplicates.
    pub spans: Vec<usize>,
    /// The value of the last aggregate (`count()`, `avg(...)`, ...).
    pub scalar: Option<f64>,
    /// Set by `by(...)`.
    pub group: Option<GroupKey>,
    /// Fields recorded by `select(...)` (missing values are omitted).
    pub selected: Vec<Selected>,
}

/// Evaluate `query` over `trace`; the trace matches if the result is non-empty.
pub fn evaluate(query: &Query, trace: &Trace) -> Result<Vec<Spanset>, EvalError> {
    prepare(query)?.evaluate(trace)
}

/// A query validated once, with its regexes compiled, for evaluation over
/// many traces.
pub struct Prepared<'q> {
    query: &'q Query,
    regexes: HashMap<String, Regex>,
}

/// Validates `query` (Tempo's type checks) and compiles its regexes.
pub fn prepare(query: &Query) -> Result<Prepared<'_>, EvalError> {
    let mut regexes = HashMap::new();
    validate_pipeline(&query.pipeline, &mut regexes)?;
    Ok(Prepared { query, regexes })
}

impl Prepared<'_> {
    /// The spansets of `trace` that survive the query (none: no match).
    pub fn evaluate(&self, trace: &Trace) -> Result<Vec<Spanset>, EvalError> {
        if trace.spans.is_empty() {
            return Ok(Vec::new());
        }
        let mut ev = Evaluator::new(trace, self.regexes.clone());
        let all = Spanset {
            spans: (0..trace.spans.len()).collect(),
            ..Spanset::default()
        };
        ev.pipeline(&self.query.pipeline, vec![all])
    }
}

// ---------------------------------------------------------------------------
// Validation

/// Static type of an expression; `None` = attribute (unknown until run time).
type Ty = Option<StaticType>;

fn validate_pipeline(p: &Pipeline, re: &mut HashMap<String, Regex>) -> Result<(), EvalError> {
    for stage in &p.stages {
        match stage {
            Stage::Spanset(e) => validate_spanset(e, re)?,
            Stage::ScalarFilter(f) => {
                if let Some(e) = aggregate_arg(&f.aggregate) {
                    let t = type_of(e, re)?;
                    if !t.is_none_or(StaticType::is_numeric) {
                        return Err(EvalError::new(format!(
                            "aggregate argument must be numeric: {e:?}"
                        )));
                    }
                }
                if !f.value.value_type().is_numeric() {
                    return Err(EvalError::new("scalar filter value must be numeric"));
                }
            }
            Stage::GroupBy(e) => {
                type_of(e, re)?;
            }
            Stage::Select(_) => {}
        }
    }
    Ok(())
}

fn validate_spanset(e: &SpansetExpr, re: &mut HashMap<String, Regex>) -> Result<(), EvalError> {
    match e {
        SpansetExpr::Filter(f) => {
            let t = type_of(f, re)?;
            if t.is_some_and(|t| t != StaticType::Bool) {
                return Err(EvalError::new(
                    "span filter field expressions must resolve to a boolean",
                ));
            }
            Ok(())
        }
        SpansetExpr::Binary { lhs, rhs, .. } => {
            validate_spanset(lhs, re)?;
            validate_spanset(rhs, re)
        }
        SpansetExpr::Pipeline(p) => validate_pipeline(p, re),
    }
}

fn compile(pattern: &str, re: &mut HashMap<String, Regex>) -> Result<(), EvalError> {
    if !re.contains_key(pattern) {
        let r = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| EvalError::new(format!("invalid regex {pattern:?}: {e}")))?;
        re.insert(pattern.to_string(), r);
    }
    Ok(())
}

fn type_of(e: &FieldExpr, re: &mut HashMap<String, Regex>) -> Result<Ty, EvalError> {
    use StaticType as T;
    Ok(match e {
        FieldExpr::Static(s) => Some(s.value_type()),
        FieldExpr::Intrinsic(i) => Some(i.value_type()),
        FieldExpr::Attribute(_) => None,
        FieldExpr::Unary { op, expr } => {
            let t = type_of(expr, re)?;
            match op {
                UnaryOp::Not if t.is_none_or(|t| t == T::Bool) => Some(T::Bool),
                UnaryOp::Neg if t.is_none_or(T::is_numeric) => t,
                _ => {
                    return Err(EvalError::new(format!(
                        "illegal unary operation {op:?} on {t:?}"
                    )))
                }
            }
        }
        FieldExpr::Binary { op, lhs, rhs } => {
            let (lt, rt) = (type_of(lhs, re)?, type_of(rhs, re)?);
            if let (Some(l), Some(r)) = (lt, rt) {
                let matching =
                    l == r || (l.is_numeric() && r.is_numeric()) || l == T::Nil || r == T::Nil;
                if !matching {
                    return Err(EvalError::new(format!(
                        "binary operations must operate on the same type: {l:?} {op:?} {r:?}"
                    )));
                }
            }
            let ok = |t: Ty, f: &dyn Fn(StaticType) -> bool| t.is_none_or(f);
            let (valid, result) = match op {
                BinaryOp::And | BinaryOp::Or => (
                    ok(lt, &|t| t == T::Bool) && ok(rt, &|t| t == T::Bool),
                    Some(T::Bool),
                ),
                BinaryOp::Eq | BinaryOp::Neq => (true, Some(T::Bool)),
                BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte => {
                    let f = |t: StaticType| t.is_numeric() || t == T::String;
                    (ok(lt, &f) && ok(rt, &f), Some(T::Bool))
                }
                BinaryOp::Regex | BinaryOp::NotRegex => {
                    let f = |t: StaticType| t == T::String;
                    if let FieldExpr::Static(Static::String(p)) = rhs.as_ref() {
                        compile(p, re)?;
                    }
                    (ok(lt, &f) && ok(rt, &f), Some(T::Bool))
                }
                _ => {
                    let result = match (lt, rt) {
                        (Some(T::Int), Some(T::Int)) => Some(T::Int),
                        (Some(T::Duration), _) | (_, Some(T::Duration)) => Some(T::Duration),
                        (Some(_), Some(_)) => Some(T::Float),
                        _ => None,
                    };
                    (ok(lt, &T::is_numeric) && ok(rt, &T::is_numeric), result)
                }
            };
            if !valid {
                return Err(EvalError::new(format!(
                    "illegal operation for the given types: {lt:?} {op:?} {rt:?}"
                )));
            }
            result
        }
    })
}

fn aggregate_arg(a: &Aggregate) -> Option<&FieldExpr> {
    match a {
        Aggregate::Count => None,
        Aggregate::Avg(e) | Aggregate::Max(e) | Aggregate::Min(e) | Aggregate::Sum(e) => Some(e),
    }
}

// ---------------------------------------------------------------------------
// Evaluation

struct Evaluator<'t> {
    trace: &'t Trace,
    /// Index of each span's parent within the trace.
    parent: Vec<Option<usize>>,
    regexes: HashMap<String, Regex>,
}

impl<'t> Evaluator<'t> {
    fn new(trace: &'t Trace, regexes: HashMap<String, Regex>) -> Self {
        let by_id: HashMap<[u8; 8], usize> = trace
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let parent = trace
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parent_span_id
                    .and_then(|p| by_id.get(&p).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        Self {
            trace,
            parent,
            regexes,
        }
    }

    fn pipeline(
        &mut self,
        p: &Pipeline,
        mut sets: Vec<Spanset>,
    ) -> Result<Vec<Spanset>, EvalError> {
        for stage in &p.stages {
            sets = match stage {
                Stage::Spanset(e) => self.spanset_stage(e, sets)?,
                Stage::ScalarFilter(f) => self.scalar_filter(f, sets)?,
                Stage::GroupBy(e) => self.group_by(e, sets)?,
                Stage::Select(fields) => self.select(fields, sets)?,
            };
            if sets.is_empty() {
                break;
            }
        }
        Ok(sets)
    }

    fn spanset_stage(
        &mut self,
        e: &SpansetExpr,
        input: Vec<Spanset>,
    ) -> Result<Vec<Spanset>, EvalError> {
        let mut out = Vec::new();
        for set in input {
            out.extend(self.spanset_expr(e, &set)?);
        }
        Ok(out)
    }

    /// Evaluate a spanset expression against one input spanset.
    fn spanset_expr(
        &mut self,
        e: &SpansetExpr,
        input: &Spanset,
    ) -> Result<Vec<Spanset>, EvalError> {
        match e {
            SpansetExpr::Filter(f) => {
                let mut spans = Vec::new();
                for &i in &input.spans {
                    if self.execute(f, i)? == Static::Bool(true) {
                        spans.push(i);
                    }
                }
                Ok(self.derive(input, spans))
            }
            SpansetExpr::Pipeline(p) => self.pipeline(p, vec![input.clone()]),
            SpansetExpr::Binary { op, lhs, rhs } => {
                let l = union(&self.spanset_expr(lhs, input)?);
                let r = union(&self.spanset_expr(rhs, input)?);
                let spans = match op {
                    SpansetOp::And if !l.is_empty() && !r.is_empty() => merge(&l, &r),
                    SpansetOp::And => Vec::new(),
                    SpansetOp::Union => merge(&l, &r),
                    _ => self.structural(*op, &l, &r),
                };
                Ok(self.derive(input, spans))
            }
        }
    }

    /// A copy of `input` with other spans (dropped when empty).
    fn derive(&self, input: &Spanset, spans: Vec<usize>) -> Vec<Spanset> {
        if spans.is_empty() {
            return Vec::new();
        }
        let selected = input
            .selected
            .iter()
            .filter(|s| spans.binary_search(&s.span).is_ok())
            .cloned()
            .collect();
        vec![Spanset {
            spans,
            scalar: input.scalar,
            group: input.group.clone(),
            selected,
        }]
    }

    fn is_ancestor(&self, anc: usize, mut span: usize) -> bool {
        for _ in 0..self.parent.len() {
            match self.parent[span] {
                Some(p) if p == anc => return true,
                Some(p) => span = p,
                None => return false,
            }
        }
        false
    }

    /// Spans of `r` related to some span of `l`.
    fn structural(&self, op: SpansetOp, l: &[usize], r: &[usize]) -> Vec<usize> {
        let parent = &self.parent;
        r.iter()
            .copied()
            .filter(|&s| {
                l.iter().any(|&x| match op {
                    SpansetOp::Child => parent[s] == Some(x),
                    SpansetOp::Parent => parent[x] == Some(s),
                    SpansetOp::Descendant => self.is_ancestor(x, s),
                    SpansetOp::Ancestor => self.is_ancestor(s, x),
                    SpansetOp::Sibling => x != s && parent[s].is_some() && parent[s] == parent[x],
                    SpansetOp::And | SpansetOp::Union => false,
                })
            })
            .collect()
    }

    fn scalar_filter(
        &mut self,
        f: &ScalarFilter,
        input: Vec<Spanset>,
    ) -> Result<Vec<Spanset>, EvalError> {
        let rhs = as_f64(&f.value)
            .ok_or_else(|| EvalError::new("scalar filter value must be numeric"))?;
        let mut out = Vec::new();
        for mut set in input {
            let Some(v) = self.aggregate(&f.aggregate, &set)? else {
                continue;
            };
            let keep = match f.op {
                CompareOp::Eq => v == rhs,
                CompareOp::Neq => v != rhs,
                CompareOp::Lt => v < rhs,
                CompareOp::Lte => v <= rhs,
                CompareOp::Gt => v > rhs,
                CompareOp::Gte => v >= rhs,
            };
            if keep {
                set.scalar = Some(v);
                out.push(set);
            }
        }
        Ok(out)
    }

    /// The aggregate over one spanset; `None` when no span has a numeric value.
    fn aggregate(&mut self, a: &Aggregate, set: &Spanset) -> Result<Option<f64>, EvalError> {
        let Some(e) = aggregate_arg(a) else {
            return Ok(Some(set.spans.len() as f64));
        };
        let mut values = Vec::with_capacity(set.spans.len());
        for &i in &set.spans {
            if let Some(v) = as_f64(&self.execute(e, i)?) {
                values.push(v);
            }
        }
        if values.is_empty() {
            return Ok(None);
        }
        let sum: f64 = values.iter().sum();
        Ok(Some(match a {
            Aggregate::Avg(_) => sum / values.len() as f64,
            Aggregate::Max(_) => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::Min(_) => values.iter().copied().fold(f64::INFINITY, f64::min),
            _ => sum,
        }))
    }

    fn group_by(&mut self, e: &FieldExpr, input: Vec<Spanset>) -> Result<Vec<Spanset>, EvalError> {
        let field = field_expr_name(e);
        let mut out = Vec::new();
        for set in input {
            let mut groups: Vec<(Static, Vec<usize>)> = Vec::new();
            for &i in &set.spans {
                let v = self.execute(e, i)?;
                match groups.iter_mut().find(|(k, _)| same_key(k, &v)) {
                    Some((_, spans)) => spans.push(i),
                    None => groups.push((v, vec![i])),
                }
            }
            for (value, spans) in groups {
                let mut g = self.derive(&set, spans);
                for s in &mut g {
                    s.scalar = None;
                    s.group = Some(GroupKey {
                        field: field.clone(),
                        value: value.clone(),
                    });
                }
                out.extend(g);
            }
        }
        Ok(out)
    }

    fn select(&mut self, fields: &[Field], input: Vec<Spanset>) -> Result<Vec<Spanset>, EvalError> {
        let mut out = Vec::with_capacity(input.len());
        for mut set in input {
            for &i in &set.spans {
                for f in fields {
                    let (expr, name) = match f {
                        Field::Attribute(a) => (FieldExpr::Attribute(a.clone()), attribute_name(a)),
                        Field::Intrinsic(x) => (FieldExpr::Intrinsic(*x), intrinsic_name(*x)),
                    };
                    let value = self.execute(&expr, i)?;
                    let exists = set.selected.iter().any(|s| s.span == i && s.field == name);
                    if value != Static::Nil && !exists {
                        set.selected.push(Selected {
                            span: i,
                            field: name,
                            value,
                        });
                    }
                }
            }
            out.push(set);
        }
        Ok(out)
    }

    // -- field expressions --------------------------------------------------

    fn execute(&mut self, e: &FieldExpr, i: usize) -> Result<Static, EvalError> {
        Ok(match e {
            FieldExpr::Static(s) => s.clone(),
            FieldExpr::Intrinsic(x) => self.intrinsic(*x, i),
            FieldExpr::Attribute(a) => self.attribute(a, i),
            FieldExpr::Unary { op, expr } => match (op, self.execute(expr, i)?) {
                (UnaryOp::Not, Static::Bool(b)) => Static::Bool(!b),
                (UnaryOp::Neg, Static::Int(n)) => Static::Int(n.wrapping_neg()),
                (UnaryOp::Neg, Static::Float(f)) => Static::Float(-f),
                (UnaryOp::Neg, Static::Duration(d)) => Static::Duration(d.wrapping_neg()),
                _ => Static::Nil,
            },
            FieldExpr::Binary { op, lhs, rhs } => {
                match op {
                    BinaryOp::And => {
                        return Ok(Static::Bool(
                            self.execute(lhs, i)? == Static::Bool(true)
                                && self.execute(rhs, i)? == Static::Bool(true),
                        ))
                    }
                    BinaryOp::Or => {
                        return Ok(Static::Bool(
                            self.execute(lhs, i)? == Static::Bool(true)
                                || self.execute(rhs, i)? == Static::Bool(true),
                        ))
                    }
                    _ => {}
                }
                let l = self.execute(lhs, i)?;
                let r = self.execute(rhs, i)?;
                self.binary(*op, &l, &r, is_nil_literal(lhs) || is_nil_literal(rhs))?
            }
        })
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        l: &Static,
        r: &Static,
        nil_literal: bool,
    ) -> Result<Static, EvalError> {
        use Static as S;
        if matches!(l, S::Nil) || matches!(r, S::Nil) {
            let both = matches!(l, S::Nil) && matches!(r, S::Nil);
            return Ok(match op {
                BinaryOp::Eq => S::Bool(both),
                // `.x != nil` holds when x exists; `.x != "a"` is false when x is missing.
                BinaryOp::Neq => S::Bool(!both && nil_literal),
                BinaryOp::Lt
                | BinaryOp::Lte
                | BinaryOp::Gt
                | BinaryOp::Gte
                | BinaryOp::Regex
                | BinaryOp::NotRegex => S::Bool(false),
                _ => S::Nil,
            });
        }
        let ord = match (l, r) {
            (S::Int(a), S::Int(b)) => Some(a.cmp(b)),
            (S::Duration(a), S::Duration(b)) => Some(a.cmp(b)),
            (S::String(a), S::String(b)) => Some(a.cmp(b)),
            _ => match (as_f64(l), as_f64(r)) {
                (Some(a), Some(b)) => a.partial_cmp(&b),
                _ => None,
            },
        };
        let eq = match (l, r) {
            (S::Bool(a), S::Bool(b)) => Some(a == b),
            (S::Status(a), S::Status(b)) => Some(a == b),
            (S::Kind(a), S::Kind(b)) => Some(a == b),
            _ => ord.map(|o| o.is_eq()),
        };
        Ok(match op {
            BinaryOp::Eq => S::Bool(eq == Some(true)),
            BinaryOp::Neq => S::Bool(eq == Some(false)),
            BinaryOp::Lt => S::Bool(ord.is_some_and(|o| o.is_lt())),
            BinaryOp::Lte => S::Bool(ord.is_some_and(|o| o.is_le())),
            BinaryOp::Gt => S::Bool(ord.is_some_and(|o| o.is_gt())),
            BinaryOp::Gte => S::Bool(ord.is_some_and(|o| o.is_ge())),
            BinaryOp::Regex | BinaryOp::NotRegex => match (l, r) {
                (S::String(s), S::String(p)) => {
                    compile(p, &mut self.regexes)?;
                    let m = self.regexes[p.as_str()].is_match(s);
                    S::Bool(m == (op == BinaryOp::Regex))
                }
                _ => S::Bool(false),
            },
            BinaryOp::And | BinaryOp::Or => S::Nil, // handled by the caller
            _ => arithmetic(op, l, r),
        })
    }

    fn intrinsic(&self, x: Intrinsic, i: usize) -> Static {
        let span = &self.trace.spans[i];
        let opt = |s: Option<&str>| s.map_or(Static::Nil, |s| Static::String(s.to_string()));
        match x {
            Intrinsic::Name => Static::String(span.name.clone()),
            Intrinsic::Status => Static::Status(span.status),
            Intrinsic::StatusMessage => Static::String(span.status_message.clone()),
            Intrinsic::Kind => Static::Kind(span.kind),
            Intrinsic::Duration => Static::Duration(span.duration_ns()),
            Intrinsic::SpanId => Static::String(hex(&span.span_id)),
            Intrinsic::TraceId => Static::String(hex(&span.trace_id)),
            Intrinsic::RootName => opt(self.trace.root_name()),
            Intrinsic::RootServiceName => opt(self.trace.root_service_name()),
            Intrinsic::TraceDuration => Static::Duration(self.trace.duration_ns()),
        }
    }

    fn attribute(&self, a: &Attribute, i: usize) -> Static {
        let span = &self.trace.spans[i];
        let v = match a.scope {
            AttributeScope::Span => span.attribute(&a.name),
            AttributeScope::Resource => span.resource_attribute(&a.name),
            AttributeScope::Unscoped => span
                .attribute(&a.name)
                .or_else(|| span.resource_attribute(&a.name)),
        };
        match v {
            None => Static::Nil,
            Some(Value::Str(s)) => Static::String(s.clone()),
            Some(Value::Int(n)) => Static::Int(*n),
            Some(Value::Float(f)) => Static::Float(*f),
            Some(Value::Bool(b)) => Static::Bool(*b),
            // TraceQL has no literals for these; like Tempo, they match nothing.
            Some(Value::Bytes(_) | Value::Array(_) | Value::Map(_)) => Static::Nil,
        }
    }
}

fn is_nil_literal(e: &FieldExpr) -> bool {
    matches!(e, FieldExpr::Static(Static::Nil))
}

fn as_f64(s: &Static) -> Option<f64> {
    match s {
        Static::Int(n) => Some(*n as f64),
        Static::Float(f) => Some(*f),
        Static::Duration(d) => Some(*d as f64),
        _ => None,
    }
}

/// `+ - * / % ^`; non-numeric operands give `nil`.
fn arithmetic(op: BinaryOp, l: &Static, r: &Static) -> Static {
    use Static as S;
    if let (S::Int(a), S::Int(b)) = (l, r) {
        let v = match op {
            BinaryOp::Add => a.checked_add(*b),
            BinaryOp::Sub => a.checked_sub(*b),
            BinaryOp::Mul => a.checked_mul(*b),
            BinaryOp::Mod => a.checked_rem(*b),
            _ => None,
        };
        if let Some(v) = v {
            return S::Int(v);
        }
    }
    let (Some(a), Some(b)) = (as_f64(l), as_f64(r)) else {
        return S::Nil;
    };
    let v = match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        _ => return S::Nil,
    };
    let duration = matches!(l, S::Duration(_)) || matches!(r, S::Duration(_));
    if duration && op != BinaryOp::Pow && v.is_finite() {
        S::Duration(v as i64)
    } else {
        S::Float(v)
    }
}

/// Group keys: numerics by value, everything else structurally.
fn same_key(a: &Static, b: &Static) -> bool {
    match (as_f64(a), as_f64(b)) {
        (Some(x), Some(y)) => x == y && std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => a == b,
    }
}

/// Sorted, de-duplicated spans of all spansets.
fn union(sets: &[Spanset]) -> Vec<usize> {
    let mut v: Vec<usize> = sets.iter().flat_map(|s| s.spans.iter().copied()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn merge(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut v = [a, b].concat();
    v.sort_unstable();
    v.dedup();
    v
}

fn attribute_name(a: &Attribute) -> String {
    match a.scope {
        AttributeScope::Unscoped => format!(".{}", a.name),
        AttributeScope::Span => format!("span.{}", a.name),
        AttributeScope::Resource => format!("resource.{}", a.name),
    }
}

fn intrinsic_name(x: Intrinsic) -> String {
    match x {
        Intrinsic::Name => "name",
        Intrinsic::Status => "status",
        Intrinsic::StatusMessage => "statusMessage",
        Intrinsic::Kind => "kind",
        Intrinsic::Duration => "duration",
        Intrinsic::SpanId => "span:id",
        Intrinsic::RootName => "rootName",
        Intrinsic::RootServiceName => "rootServiceName",
        Intrinsic::TraceDuration => "traceDuration",
        Intrinsic::TraceId => "trace:id",
    }
    .to_string()
}

/// The `by(...)` label: the field as written for attributes and intrinsics.
fn field_expr_name(e: &FieldExpr) -> String {
    match e {
        FieldExpr::Attribute(a) => attribute_name(a),
        FieldExpr::Intrinsic(x) => intrinsic_name(*x),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
