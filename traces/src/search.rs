//! TraceQL search over the store: plan, prune, evaluate.
//!
//! 1. From the query, [`requirements`] derives what any matching trace must
//!    contain: for each spanset operand that must match (both sides of `&&`
//!    and of the structural operators, every stage's filter), a conjunction
//!    of simple conditions one span has to meet: resource `service.name`,
//!    `name`, `kind`, `status` and `duration` comparisons, and attribute
//!    equalities.
//! 2. A segment is skipped when its time range misses the request, or when
//!    its attribute dictionary shows a required attribute value cannot be in
//!    it.
//! 3. Per block, the search summary's columns are scanned for traces that
//!    meet every requirement; only those trace records are decoded.
//! 4. The full query runs on each candidate with the TraceQL evaluator.
//!
//! Blocks are visited newest first on every core; the search stops once
//! `limit` traces matched, as Tempo's does, and results are ordered by
//! start time, newest first. The head is searched the same way, without
//! the summary step.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;

use crate::otlp::{kind_code, status_code};
use crate::segment::{Segment, Summary, TagScope};
use crate::span::{Span, Trace, Value};
use crate::traceql::ast::*;
use crate::traceql::eval::{self, EvalError, Spanset};

/// Tempo's placeholder when a trace's root span has not arrived.
pub const ROOT_SPAN_NOT_RECEIVED: &str = "<root span not yet received>";

#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub query: Query,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Traces to return (Tempo's `limit`, default 20).
    pub limit: usize,
    /// Spans per spanset (Tempo's `spss`, default 3).
    pub spans_per_spanset: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanHit {
    pub span_id: [u8; 8],
    pub name: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub attributes: Vec<(String, Value)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpansetHit {
    pub spans: Vec<SpanHit>,
    /// Spans in the spanset (`spans` holds at most `spss` of them).
    pub matched: usize,
    /// `by(...)` and aggregate values, as Tempo returns them.
    pub attributes: Vec<(String, Value)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TraceHit {
    pub trace_id: [u8; 16],
    pub root_service_name: String,
    pub root_trace_name: String,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub spansets: Vec<SpansetHit>,
}

#[derive(Debug, Default)]
pub struct SearchResult {
    pub traces: Vec<TraceHit>,
    pub inspected_traces: u64,
    pub inspected_spans: u64,
    pub inspected_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Query(#[from] EvalError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] crate::TracesError),
}

/// A string condition on the summary's service or name column.
#[derive(Clone, Debug)]
pub enum StrCond {
    Eq(String),
    Regex(Regex),
}

impl StrCond {
    fn matches(&self, s: &str) -> bool {
        match self {
            StrCond::Eq(v) => v == s,
            StrCond::Regex(r) => r.is_match(s),
        }
    }
}

/// A simple condition one span must meet.
#[derive(Clone, Debug)]
pub enum Cond {
    Service(StrCond),
    Name(StrCond),
    Kind(u8),
    Status(u8),
    Duration(BinaryOp, i64),
    /// Checked against a segment's attribute dictionary only.
    Attribute(AttributeScope, String, String),
}

/// Conditions one span must meet together.
pub type Requirement = Vec<Cond>;

fn anchored(pattern: &str) -> Option<Regex> {
    Regex::new(&format!("^(?:{pattern})$")).ok()
}

fn simple(op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr) -> Option<Cond> {
    let (field, value, op) = match (lhs, rhs) {
        (FieldExpr::Static(v), f) if !matches!(f, FieldExpr::Static(_)) => {
            let flipped = match op {
                BinaryOp::Lt => BinaryOp::Gt,
                BinaryOp::Lte => BinaryOp::Gte,
                BinaryOp::Gt => BinaryOp::Lt,
                BinaryOp::Gte => BinaryOp::Lte,
                BinaryOp::Eq => BinaryOp::Eq,
                _ => return None,
            };
            (f, v, flipped)
        }
        (f, FieldExpr::Static(v)) => (f, v, op),
        _ => return None,
    };
    match (field, op, value) {
        (FieldExpr::Attribute(a), BinaryOp::Eq, Static::String(s))
            if a.scope == AttributeScope::Resource && a.name == "service.name" =>
        {
            Some(Cond::Service(StrCond::Eq(s.clone())))
        }
        (FieldExpr::Attribute(a), BinaryOp::Regex, Static::String(s))
            if a.scope == AttributeScope::Resource && a.name == "service.name" =>
        {
            Some(Cond::Service(StrCond::Regex(anchored(s)?)))
        }
        (FieldExpr::Attribute(a), BinaryOp::Eq, v) => {
            let text = match v {
                Static::String(s) => s.clone(),
                Static::Int(i) => i.to_string(),
                Static::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some(Cond::Attribute(a.scope, a.name.clone(), text))
        }
        (FieldExpr::Intrinsic(Intrinsic::Name), BinaryOp::Eq, Static::String(s)) => {
            Some(Cond::Name(StrCond::Eq(s.clone())))
        }
        (FieldExpr::Intrinsic(Intrinsic::Name), BinaryOp::Regex, Static::String(s)) => {
            Some(Cond::Name(StrCond::Regex(anchored(s)?)))
        }
        (FieldExpr::Intrinsic(Intrinsic::Kind), BinaryOp::Eq, Static::Kind(k)) => {
            Some(Cond::Kind(kind_code(*k) as u8))
        }
        (FieldExpr::Intrinsic(Intrinsic::Status), BinaryOp::Eq, Static::Status(s)) => {
            Some(Cond::Status(status_code(*s) as u8))
        }
        (
            FieldExpr::Intrinsic(Intrinsic::Duration),
            BinaryOp::Eq | BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte,
            Static::Duration(d),
        ) => Some(Cond::Duration(op, *d)),
        _ => None,
    }
}

fn conjunction(e: &FieldExpr, out: &mut Requirement) {
    if let FieldExpr::Binary { op, lhs, rhs } = e {
        if *op == BinaryOp::And {
            conjunction(lhs, out);
            conjunction(rhs, out);
        } else if let Some(c) = simple(*op, lhs, rhs) {
            out.push(c);
        }
    }
}

fn spanset_requirements(e: &SpansetExpr, out: &mut Vec<Requirement>) {
    match e {
        SpansetExpr::Filter(f) => {
            let mut conj = Vec::new();
            conjunction(f, &mut conj);
            if !conj.is_empty() {
                out.push(conj);
            }
        }
        SpansetExpr::Binary { op, lhs, rhs } => {
            if *op != SpansetOp::Union {
                spanset_requirements(lhs, out);
                spanset_requirements(rhs, out);
            }
        }
        SpansetExpr::Pipeline(p) => pipeline_requirements(p, out),
    }
}

fn pipeline_requirements(p: &Pipeline, out: &mut Vec<Requirement>) {
    for stage in &p.stages {
        if let Stage::Spanset(e) = stage {
            spanset_requirements(e, out);
        }
    }
}

/// What a trace must contain to match `query` (an empty list: anything).
pub fn requirements(query: &Query) -> Vec<Requirement> {
    let mut out = Vec::new();
    pipeline_requirements(&query.pipeline, &mut out);
    out
}

/// The attributes a query's filters name, returned with matching spans as
/// Tempo does.
fn named_attributes(query: &Query) -> Vec<Attribute> {
    fn field(e: &FieldExpr, out: &mut Vec<Attribute>) {
        match e {
            FieldExpr::Attribute(a) if !out.contains(a) => out.push(a.clone()),
            FieldExpr::Unary { expr, .. } => field(expr, out),
            FieldExpr::Binary { lhs, rhs, .. } => {
                field(lhs, out);
                field(rhs, out);
            }
            _ => {}
        }
    }
    fn spanset(e: &SpansetExpr, out: &mut Vec<Attribute>) {
        match e {
            SpansetExpr::Filter(f) => field(f, out),
            SpansetExpr::Binary { lhs, rhs, .. } => {
                spanset(lhs, out);
                spanset(rhs, out);
            }
            SpansetExpr::Pipeline(p) => pipeline(p, out),
        }
    }
    fn pipeline(p: &Pipeline, out: &mut Vec<Attribute>) {
        for stage in &p.stages {
            if let Stage::Spanset(e) = stage {
                spanset(e, out);
            }
        }
    }
    let mut out = Vec::new();
    pipeline(&query.pipeline, &mut out);
    out
}

/// A requirement resolved against one segment's dictionaries.
struct SegmentTest {
    services: Option<Vec<bool>>,
    names: Option<Vec<bool>>,
    kind: Option<u8>,
    status: Option<u8>,
    durations: Vec<(BinaryOp, u64)>,
}

impl SegmentTest {
    fn span_matches(&self, summary: &Summary, i: usize) -> bool {
        if let Some(allowed) = &self.services {
            if !allowed
                .get(summary.service[i] as usize)
                .copied()
                .unwrap_or(false)
            {
                return false;
            }
        }
        if let Some(allowed) = &self.names {
            if !allowed
                .get(summary.name[i] as usize)
                .copied()
                .unwrap_or(false)
            {
                return false;
            }
        }
        let ks = summary.kind_status[i];
        if self.kind.is_some_and(|k| k != ks >> 2) || self.status.is_some_and(|s| s != ks & 3) {
            return false;
        }
        let d = summary.duration_ns[i];
        self.durations.iter().all(|&(op, v)| match op {
            BinaryOp::Eq => d == v,
            BinaryOp::Lt => d < v,
            BinaryOp::Lte => d <= v,
            BinaryOp::Gt => d > v,
            BinaryOp::Gte => d >= v,
            _ => true,
        })
    }
}

/// Resolves the requirements for `segment`; `None` when the segment cannot
/// hold a match.
fn resolve(requirements: &[Requirement], segment: &Segment) -> Option<Vec<SegmentTest>> {
    let mut tests = Vec::with_capacity(requirements.len());
    for requirement in requirements {
        let mut test = SegmentTest {
            services: None,
            names: None,
            kind: None,
            status: None,
            durations: Vec::new(),
        };
        for cond in requirement {
            match cond {
                Cond::Service(c) => {
                    let allowed: Vec<bool> =
                        segment.services.iter().map(|s| c.matches(s)).collect();
                    if !allowed.contains(&true) {
                        return None;
                    }
                    narrow(&mut test.services, allowed);
                }
                Cond::Name(c) => {
                    let allowed: Vec<bool> = segment.names.iter().map(|s| c.matches(s)).collect();
                    if !allowed.contains(&true) {
                        return None;
                    }
                    narrow(&mut test.names, allowed);
                }
                Cond::Kind(k) => test.kind = Some(*k),
                Cond::Status(s) => test.status = Some(*s),
                Cond::Duration(op, d) => test.durations.push((*op, (*d).max(0) as u64)),
                Cond::Attribute(scope, key, value) => {
                    let scopes: &[TagScope] = match scope {
                        AttributeScope::Resource => &[TagScope::Resource],
                        AttributeScope::Span => &[TagScope::Span],
                        AttributeScope::Unscoped => &[TagScope::Span, TagScope::Resource],
                    };
                    let possible = scopes.iter().any(|s| {
                        segment.tags.get(&(*s, key.clone())).is_some_and(|t| {
                            t.truncated || t.values.iter().any(|(_, v)| v == value)
                        })
                    });
                    if !possible {
                        return None;
                    }
                }
            }
        }
        tests.push(test);
    }
    Some(tests)
}

fn narrow(slot: &mut Option<Vec<bool>>, allowed: Vec<bool>) {
    *slot = Some(match slot.take() {
        None => allowed,
        Some(prev) => prev.iter().zip(&allowed).map(|(a, b)| *a && *b).collect(),
    });
}

/// Whether an in-memory trace meets every requirement (the head's prefilter).
fn trace_may_match(requirements: &[Requirement], trace: &Trace) -> bool {
    requirements.iter().all(|requirement| {
        trace
            .spans
            .iter()
            .any(|span| requirement.iter().all(|c| span_meets(c, span)))
    })
}

fn span_meets(cond: &Cond, span: &Span) -> bool {
    match cond {
        Cond::Service(c) => span.service_name().is_some_and(|s| c.matches(s)),
        Cond::Name(c) => c.matches(&span.name),
        Cond::Kind(k) => kind_code(span.kind) as u8 == *k,
        Cond::Status(s) => status_code(span.status) as u8 == *s,
        Cond::Duration(op, v) => {
            let d = span.duration_ns();
            match op {
                BinaryOp::Eq => d == *v,
                BinaryOp::Lt => d < *v,
                BinaryOp::Lte => d <= *v,
                BinaryOp::Gt => d > *v,
                BinaryOp::Gte => d >= *v,
                _ => true,
            }
        }
        // The evaluator decides; the dictionary only prunes segments.
        Cond::Attribute(..) => true,
    }
}

/// Builds the response entry for a matching trace.
fn hit(
    trace: &Trace,
    spansets: Vec<Spanset>,
    named: &[Attribute],
    spans_per_spanset: usize,
) -> Option<TraceHit> {
    let trace_id = trace.trace_id()?;
    let root = trace.root_span();
    let start_ns = trace.spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let spansets = spansets
        .into_iter()
        .map(|set| {
            let spans = set
                .spans
                .iter()
                .take(spans_per_spanset)
                .map(|&i| {
                    let span = &trace.spans[i];
                    let mut attributes: Vec<(String, Value)> = Vec::new();
                    for a in named {
                        let value = match a.scope {
                            AttributeScope::Span => span.attribute(&a.name),
                            AttributeScope::Resource => span.resource_attribute(&a.name),
                            AttributeScope::Unscoped => span
                                .attribute(&a.name)
                                .or_else(|| span.resource_attribute(&a.name)),
                        };
                        if let Some(v) = value {
                            attributes.push((a.name.clone(), v.clone()));
                        }
                    }
                    for selected in set.selected.iter().filter(|s| s.span == i) {
                        if let Some(v) = static_value(&selected.value) {
                            attributes.push((selected.field.clone(), v));
                        }
                    }
                    SpanHit {
                        span_id: span.span_id,
                        name: span.name.clone(),
                        start_ns: span.start_ns,
                        duration_ns: span.duration_ns(),
                        attributes,
                    }
                })
                .collect();
            let mut attributes = Vec::new();
            if let Some(group) = &set.group {
                if let Some(v) = static_value(&group.value) {
                    attributes.push((format!("by({})", group.field), v));
                }
            }
            if let Some(scalar) = set.scalar {
                attributes.push(("aggregate".to_string(), Value::Float(scalar)));
            }
            SpansetHit {
                matched: set.spans.len(),
                spans,
                attributes,
            }
        })
        .collect();
    Some(TraceHit {
        trace_id,
        root_service_name: root
            .and_then(Span::service_name)
            .unwrap_or(ROOT_SPAN_NOT_RECEIVED)
            .to_string(),
        root_trace_name: root
            .map(|s| s.name.clone())
            .unwrap_or_else(|| ROOT_SPAN_NOT_RECEIVED.to_string()),
        start_ns,
        duration_ns: trace.duration_ns(),
        spansets,
    })
}

fn static_value(s: &Static) -> Option<Value> {
    Some(match s {
        Static::String(v) => Value::Str(v.clone()),
        Static::Int(i) => Value::Int(*i),
        Static::Float(f) => Value::Float(*f),
        Static::Bool(b) => Value::Bool(*b),
        Static::Duration(d) => Value::Int(*d),
        Static::Status(st) => Value::Str(
            match st {
                Status::Ok => "ok",
                Status::Error => "error",
                Status::Unset => "unset",
            }
            .into(),
        ),
        Static::Kind(k) => Value::Str(crate::otlp::kind_name(*k).to_string()),
        Static::Nil => return None,
    })
}

struct Collector {
    hits: Mutex<Vec<TraceHit>>,
    seen: Mutex<HashSet<[u8; 16]>>,
    found: AtomicUsize,
    done: AtomicBool,
    limit: usize,
    inspected_traces: AtomicU64,
    inspected_spans: AtomicU64,
    inspected_bytes: AtomicU64,
}

impl Collector {
    fn offer(&self, hit: TraceHit) {
        if !self.seen.lock().insert(hit.trace_id) {
            return;
        }
        self.hits.lock().push(hit);
        if self.found.fetch_add(1, Ordering::AcqRel) + 1 >= self.limit {
            self.done.store(true, Ordering::Release);
        }
    }
}

/// Runs a search over the head and the segments.
pub fn search(
    store: &crate::TraceStore,
    request: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    let prepared = eval::prepare(&request.query)?;
    let requirements = requirements(&request.query);
    let named = named_attributes(&request.query);
    let limit = request.limit.max(1);
    let collector = Collector {
        hits: Mutex::new(Vec::new()),
        seen: Mutex::new(HashSet::new()),
        found: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        limit,
        inspected_traces: AtomicU64::new(0),
        inspected_spans: AtomicU64::new(0),
        inspected_bytes: AtomicU64::new(0),
    };
    let (start, end) = (request.start_ns, request.end_ns);

    let mut first_error: Option<EvalError> = None;
    store.for_each_recent(start, end, |trace| {
        collector.inspected_traces.fetch_add(1, Ordering::Relaxed);
        collector
            .inspected_spans
            .fetch_add(trace.spans.len() as u64, Ordering::Relaxed);
        if !trace_may_match(&requirements, trace) {
            return true;
        }
        match prepared.evaluate(trace) {
            Ok(sets) if !sets.is_empty() => {
                if let Some(h) = hit(trace, sets, &named, request.spans_per_spanset) {
                    collector.offer(h);
                }
            }
            Ok(_) => {}
            Err(e) => {
                first_error = Some(e);
                return false;
            }
        }
        !collector.done.load(Ordering::Acquire)
    });
    if let Some(e) = first_error {
        return Err(e.into());
    }

    // Work: (segment, block, its tests), newest blocks first.
    let mut work: Vec<(Arc<Segment>, usize, Arc<Vec<SegmentTest>>)> = Vec::new();
    for segment in store.segments().into_iter().rev() {
        if !segment.overlaps(start, end) {
            continue;
        }
        let Some(tests) = resolve(&requirements, &segment) else {
            continue;
        };
        let tests = Arc::new(tests);
        for b in (0..segment.blocks.len()).rev() {
            let meta = &segment.blocks[b];
            if meta.min_ns <= end && meta.max_ns >= start {
                work.push((segment.clone(), b, tests.clone()));
            }
        }
    }
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<SearchError>> = Mutex::new(None);
    let worker = || {
        while !collector.done.load(Ordering::Acquire) {
            let i = next.fetch_add(1, Ordering::AcqRel);
            let Some((segment, b, tests)) = work.get(i) else {
                return;
            };
            if let Err(e) = search_block(
                segment,
                *b,
                tests,
                (start, end),
                &prepared,
                &named,
                request.spans_per_spanset,
                &collector,
            ) {
                *failure.lock() = Some(e);
                collector.done.store(true, Ordering::Release);
                return;
            }
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    let mut traces = collector.hits.into_inner();
    traces.sort_by_key(|t| std::cmp::Reverse(t.start_ns));
    traces.truncate(limit);
    Ok(SearchResult {
        traces,
        inspected_traces: collector.inspected_traces.into_inner(),
        inspected_spans: collector.inspected_spans.into_inner(),
        inspected_bytes: collector.inspected_bytes.into_inner(),
    })
}

#[allow(clippy::too_many_arguments)]
fn search_block(
    segment: &Segment,
    b: usize,
    tests: &[SegmentTest],
    (start, end): (i64, i64),
    prepared: &eval::Prepared<'_>,
    named: &[Attribute],
    spans_per_spanset: usize,
    collector: &Collector,
) -> Result<(), SearchError> {
    let summary = segment.summary(b)?;
    let meta = &segment.blocks[b];
    collector
        .inspected_spans
        .fetch_add(meta.spans as u64, Ordering::Relaxed);
    collector
        .inspected_traces
        .fetch_add(summary.traces.len() as u64, Ordering::Relaxed);
    let mut candidates = Vec::new();
    let mut first_span = 0usize;
    for t in &summary.traces {
        let spans = first_span..first_span + t.spans as usize;
        first_span = spans.end;
        if t.start_ns > end || t.end_ns < start {
            continue;
        }
        if tests
            .iter()
            .all(|test| spans.clone().any(|i| test.span_matches(&summary, i)))
        {
            candidates.push(*t);
        }
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let block = segment.read_block(b)?;
    collector
        .inspected_bytes
        .fetch_add(block.len() as u64, Ordering::Relaxed);
    for trace in segment.decode_traces(&block, &candidates)? {
        if collector.done.load(Ordering::Acquire) {
            break;
        }
        let sets = prepared.evaluate(&trace)?;
        if !sets.is_empty() {
            if let Some(h) = hit(&trace, sets, named, spans_per_spanset) {
                collector.offer(h);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::parse;

    #[test]
    fn requirements_follow_the_operators() {
        let r = requirements(
            &parse(r#"{ resource.service.name = "checkout" && duration > 500ms }"#).unwrap(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].len(), 2);
        let r = requirements(
            &parse(r#"{ name = "a" } >> { kind = server && status = error }"#).unwrap(),
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].len(), 2);
        let r = requirements(&parse(r#"{ name = "a" } || { name = "b" }"#).unwrap());
        assert!(r.is_empty(), "either side may match");
        let r = requirements(&parse(r#"{ name = "a" || duration > 1s }"#).unwrap());
        assert!(r.is_empty());
        let r = requirements(&parse(r#"{ 500ms < duration && .http.status_code = 500 }"#).unwrap());
        assert!(matches!(r[0][0], Cond::Duration(BinaryOp::Gt, 500_000_000)));
        assert!(
            matches!(&r[0][1], Cond::Attribute(AttributeScope::Unscoped, k, v) if k == "http.status_code" && v == "500")
        );
    }
}
