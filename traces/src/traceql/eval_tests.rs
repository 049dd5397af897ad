//! Golden tests for the evaluator over a fixed multi-service corpus.
//! Expected results are derived by hand from Tempo's semantics.

use super::*;
use crate::span::{Span, SpanKind, Status as St, Trace, Value};
use crate::traceql::parse;

const MS: i64 = 1_000_000;

struct Def {
    id: u8,
    parent: Option<u8>,
    name: &'static str,
    svc: &'static str,
    kind: SpanKind,
    status: St,
    start_ms: i64,
    end_ms: i64,
    attrs: Vec<(&'static str, Value)>,
}

#[allow(clippy::too_many_arguments)]
fn d(
    id: u8,
    parent: Option<u8>,
    name: &'static str,
    svc: &'static str,
    kind: SpanKind,
    status: St,
    start_ms: i64,
    end_ms: i64,
    attrs: Vec<(&'static str, Value)>,
) -> Def {
    Def {
        id,
        parent,
        name,
        svc,
        kind,
        status,
        start_ms,
        end_ms,
        attrs,
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn build(tag: u8, env: &str, defs: Vec<Def>) -> Trace {
    let sid = |id: u8| [id, 0, 0, 0, 0, 0, 0, 0];
    Trace {
        spans: defs
            .into_iter()
            .map(|x| Span {
                trace_id: [tag; 16],
                span_id: sid(x.id),
                parent_span_id: x.parent.map(sid),
                name: x.name.to_string(),
                kind: x.kind,
                status: x.status,
                status_message: if x.status == St::Error {
                    "card declined".to_string()
                } else {
                    String::new()
                },
                start_ns: 1_700_000_000_000 * MS + x.start_ms * MS,
                end_ns: 1_700_000_000_000 * MS + x.end_ms * MS,
                resource: std::sync::Arc::new(vec![
                    ("service.name".to_string(), s(x.svc)),
                    ("deployment.env".to_string(), s(env)),
                ]),
                attributes: x
                    .attrs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                ..Span::default()
            })
            .collect(),
    }
}

/// Trace A (0xaa…): frontend → checkout → payments (error) → db, depth 4,
/// plus a frontend `render` child of the root. 1200ms.
/// Trace B (0xbb…): frontend → checkout (+ internal, db), fast, no errors.
/// Trace C (0xcc…): checkout consumer root → payments (error, slow), refund.
fn corpus() -> Vec<(char, Trace)> {
    use SpanKind::*;
    let a = build(
        0xaa,
        "prod",
        vec![
            d(
                0xa1,
                None,
                "GET /checkout",
                "frontend",
                Server,
                St::Unset,
                0,
                1200,
                vec![
                    ("http.method", s("GET")),
                    ("http.status_code", Value::Int(500)),
                    ("http.route", s("/checkout")),
                ],
            ),
            d(
                0xa2,
                Some(0xa1),
                "POST /api/checkout",
                "checkout",
                Server,
                St::Unset,
                100,
                1000,
                vec![("http.method", s("POST"))],
            ),
            d(
                0xa3,
                Some(0xa2),
                "charge",
                "payments",
                Client,
                St::Error,
                200,
                800,
                vec![("payment.amount", Value::Float(42.5))],
            ),
            d(
                0xa4,
                Some(0xa3),
                "SELECT orders",
                "db",
                Client,
                St::Ok,
                300,
                350,
                vec![
                    ("db.system", s("postgresql")),
                    ("db.statement", s("SELECT * FROM orders")),
                    ("deployment.env", s("db-local")),
                ],
            ),
            d(
                0xa5,
                Some(0xa1),
                "render",
                "frontend",
                Internal,
                St::Unset,
                1000,
                1150,
                vec![("cache.hit", Value::Bool(true))],
            ),
        ],
    );
    let b = build(
        0xbb,
        "staging",
        vec![
            d(
                0xb1,
                None,
                "GET /cart",
                "frontend",
                Server,
                St::Unset,
                0,
                300,
                vec![
                    ("http.method", s("GET")),
                    ("http.status_code", Value::Int(200)),
                ],
            ),
            d(
                0xb2,
                Some(0xb1),
                "POST /api/checkout",
                "checkout",
                Server,
                St::Ok,
                50,
                250,
                vec![("http.method", s("POST"))],
            ),
            d(
                0xb3,
                Some(0xb2),
                "reserve",
                "checkout",
                Internal,
                St::Unset,
                60,
                120,
                vec![],
            ),
            d(
                0xb4,
                Some(0xb2),
                "SELECT cart",
                "db",
                Client,
                St::Unset,
                130,
                140,
                vec![("db.system", s("redis"))],
            ),
        ],
    );
    let c = build(
        0xcc,
        "prod",
        vec![
            d(
                0xc1,
                None,
                "process-queue",
                "checkout",
                Consumer,
                St::Unset,
                0,
                2000,
                vec![("messaging.system", s("kafka"))],
            ),
            d(
                0xc2,
                Some(0xc1),
                "charge",
                "payments",
                Client,
                St::Error,
                100,
                1900,
                vec![("payment.amount", Value::Int(100))],
            ),
            d(
                0xc3,
                Some(0xc1),
                "refund",
                "payments",
                Internal,
                St::Unset,
                1900,
                1950,
                vec![],
            ),
        ],
    );
    vec![('A', a), ('B', b), ('C', c)]
}

/// Run `q` over the corpus: per matching trace, the names of all spans in
/// the surviving spansets (trace order).
fn run(q: &str) -> Vec<(char, Vec<String>)> {
    let query = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut out = Vec::new();
    for (tag, trace) in corpus() {
        let sets = evaluate(&query, &trace).unwrap_or_else(|e| panic!("{q}: {e}"));
        if sets.is_empty() {
            continue;
        }
        let mut idx: Vec<usize> = sets.iter().flat_map(|s| s.spans.clone()).collect();
        idx.sort_unstable();
        idx.dedup();
        out.push((
            tag,
            idx.iter().map(|&i| trace.spans[i].name.clone()).collect(),
        ));
    }
    out
}

fn want(rows: &[(char, &[&str])]) -> Vec<(char, Vec<String>)> {
    rows.iter()
        .map(|(t, names)| (*t, names.iter().map(|n| n.to_string()).collect()))
        .collect()
}

fn check(q: &str, rows: &[(char, &[&str])]) {
    assert_eq!(run(q), want(rows), "query: {q}");
}

fn eval_err(q: &str) -> EvalError {
    let query = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    evaluate(&query, &corpus()[0].1).expect_err(q)
}

fn trace(tag: char) -> Trace {
    corpus().into_iter().find(|(t, _)| *t == tag).unwrap().1
}

#[test]
fn issue_search_checkout_slow() {
    check(
        r#"{ resource.service.name = "checkout" && duration > 500ms }"#,
        &[('A', &["POST /api/checkout"]), ('C', &["process-queue"])],
    );
}

#[test]
fn empty_filter_matches_all_spans() {
    let r = run("{}");
    assert_eq!(
        r.iter().map(|(_, n)| n.len()).collect::<Vec<_>>(),
        [5, 4, 3]
    );
}

#[test]
fn status_and_kind_enums() {
    check(
        "{ status = error }",
        &[('A', &["charge"]), ('C', &["charge"])],
    );
    check(
        "{ kind = client }",
        &[
            ('A', &["charge", "SELECT orders"]),
            ('B', &["SELECT cart"]),
            ('C', &["charge"]),
        ],
    );
    check(
        "{ status = ok && kind != client }",
        &[('B', &["POST /api/checkout"])],
    );
    check(
        r#"{ statusMessage = "card declined" }"#,
        &[('A', &["charge"]), ('C', &["charge"])],
    );
}

#[test]
fn nil_and_missing_attributes() {
    check(
        "{ span.db.system = nil && kind = client }",
        &[('A', &["charge"]), ('C', &["charge"])],
    );
    check(
        "{ .http.status_code != nil }",
        &[('A', &["GET /checkout"]), ('B', &["GET /cart"])],
    );
    // Missing attributes never satisfy `!=` against a value.
    check(
        r#"{ span.http.method != "GET" }"#,
        &[
            ('A', &["POST /api/checkout"]),
            ('B', &["POST /api/checkout"]),
        ],
    );
    check("{ .nope > 1 || .nope <= 1 }", &[]);
    // Bool attribute as the whole filter; missing is not true.
    check("{ .cache.hit }", &[('A', &["render"])]);
    check("{ !.cache.hit }", &[]);
}

#[test]
fn unscoped_prefers_span_attributes() {
    check(
        r#"{ .deployment.env = "prod" }"#,
        &[
            (
                'A',
                &["GET /checkout", "POST /api/checkout", "charge", "render"],
            ),
            ('C', &["process-queue", "charge", "refund"]),
        ],
    );
    check(
        r#"{ resource.deployment.env = "prod" && resource.service.name = "db" }"#,
        &[('A', &["SELECT orders"])],
    );
    check(
        r#"{ span.deployment.env = "db-local" }"#,
        &[('A', &["SELECT orders"])],
    );
    check(r#"{ span.service.name = "db" }"#, &[]);
}

#[test]
fn int_and_float_compare_numerically() {
    check("{ span.payment.amount > 50 }", &[('C', &["charge"])]);
    check(
        "{ span.payment.amount >= 42.5 }",
        &[('A', &["charge"]), ('C', &["charge"])],
    );
    check(
        "{ .http.status_code = 500.0 }",
        &[('A', &["GET /checkout"])],
    );
    check(
        "{ .http.status_code >= 200 && .http.status_code < 300 }",
        &[('B', &["GET /cart"])],
    );
    // Arithmetic.
    check("{ span.payment.amount * 2 > 150 }", &[('C', &["charge"])]);
    check(
        "{ duration - 100ms > 1s }",
        &[
            ('A', &["GET /checkout"]),
            ('C', &["process-queue", "charge"]),
        ],
    );
}

#[test]
fn durations() {
    check(
        "{ duration >= 600ms && duration < 1s }",
        &[('A', &["POST /api/checkout", "charge"])],
    );
    check(
        "{ traceDuration > 1500ms }",
        &[('C', &["process-queue", "charge", "refund"])],
    );
    check(
        "{ trace:duration = 300ms && kind = client }",
        &[('B', &["SELECT cart"])],
    );
    // A string attribute compared with a duration is simply false.
    check("{ .http.method > 1s || .http.method = 1s }", &[]);
}

#[test]
fn anchored_regexes() {
    check(
        r#"{ name =~ "SELECT.*" }"#,
        &[('A', &["SELECT orders"]), ('B', &["SELECT cart"])],
    );
    check(r#"{ name =~ "SELECT" }"#, &[]);
    check(r#"{ name =~ "orders" || name =~ "charg" }"#, &[]);
    check(
        r#"{ name !~ ".*/.*" }"#,
        &[
            ('A', &["charge", "SELECT orders", "render"]),
            ('B', &["reserve", "SELECT cart"]),
            ('C', &["process-queue", "charge", "refund"]),
        ],
    );
    check(
        r#"{ .db.system =~ "postgres|redis" }"#,
        &[('B', &["SELECT cart"])],
    );
    // Regex against a missing attribute is false for both operators.
    check(r#"{ span.db.system !~ "x" && kind = server }"#, &[]);
}

#[test]
fn trace_level_intrinsics_and_ids() {
    check(
        r#"{ rootName = "GET /checkout" && kind = internal }"#,
        &[('A', &["render"])],
    );
    check(
        r#"{ rootServiceName = "checkout" }"#,
        &[('C', &["process-queue", "charge", "refund"])],
    );
    check(
        r#"{ trace:rootService = "frontend" && status = error }"#,
        &[('A', &["charge"])],
    );
    check(r#"{ span:id = "a300000000000000" }"#, &[('A', &["charge"])]);
    check(
        r#"{ trace:id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" && name = "reserve" }"#,
        &[('B', &["reserve"])],
    );
}

#[test]
fn descendant_operator() {
    check(
        r#"{ resource.service.name = "frontend" } >> { status = error }"#,
        &[('A', &["charge"])],
    );
    check(
        r#"{ name = "GET /checkout" } >> { }"#,
        &[(
            'A',
            &["POST /api/checkout", "charge", "SELECT orders", "render"],
        )],
    );
}

#[test]
fn child_operator() {
    check(
        r#"{ resource.service.name = "checkout" } > { }"#,
        &[
            ('A', &["charge"]),
            ('B', &["reserve", "SELECT cart"]),
            ('C', &["charge", "refund"]),
        ],
    );
    check(
        r#"{ resource.service.name = "frontend" } > { kind = client }"#,
        &[],
    );
}

#[test]
fn parent_and_ancestor_operators() {
    check(
        r#"{ name = "charge" } < { }"#,
        &[('A', &["POST /api/checkout"]), ('C', &["process-queue"])],
    );
    check(
        r#"{ resource.service.name = "db" } << { }"#,
        &[
            ('A', &["GET /checkout", "POST /api/checkout", "charge"]),
            ('B', &["GET /cart", "POST /api/checkout"]),
        ],
    );
    check(r#"{ name = "render" } << { kind = client }"#, &[]);
}

#[test]
fn sibling_operator() {
    check(r#"{ name = "reserve" } ~ { }"#, &[('B', &["SELECT cart"])]);
    check(
        "{ kind = client } ~ { }",
        &[('B', &["reserve"]), ('C', &["refund"])],
    );
    // Roots have no siblings.
    check("{ kind = server } ~ { kind = server }", &[]);
}

#[test]
fn spanset_and_or() {
    check(
        r#"{ status = error } && { resource.service.name = "db" }"#,
        &[('A', &["charge", "SELECT orders"])],
    );
    check(
        r#"{ name = "render" } || { name = "refund" }"#,
        &[('A', &["render"]), ('C', &["refund"])],
    );
    // Precedence: structural binds tighter than `&&`.
    check(
        r#"{ name = "nope" } && { kind = consumer } > { status = error }"#,
        &[],
    );
    check(
        r#"{ kind = consumer } > { status = error } || { name = "reserve" }"#,
        &[('B', &["reserve"]), ('C', &["charge"])],
    );
}

#[test]
fn count_aggregate() {
    check(
        "{ } | count() > 4",
        &[(
            'A',
            &[
                "GET /checkout",
                "POST /api/checkout",
                "charge",
                "SELECT orders",
                "render",
            ],
        )],
    );
    check(
        "{ kind = client } | count() = 1",
        &[('B', &["SELECT cart"]), ('C', &["charge"])],
    );
    let sets = evaluate(&parse("{ } | count() > 4").unwrap(), &trace('A')).unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].scalar, Some(5.0));
}

#[test]
fn avg_min_max_sum_aggregates() {
    // Client spans: A avg(600, 50) = 325ms, B 10ms, C 1800ms.
    check(
        "{ kind = client } | avg(duration) > 500ms",
        &[('C', &["charge"])],
    );
    check(
        "{ } | max(duration) < 1s",
        &[(
            'B',
            &["GET /cart", "POST /api/checkout", "reserve", "SELECT cart"],
        )],
    );
    check(
        "{ } | min(duration) <= 10ms",
        &[(
            'B',
            &["GET /cart", "POST /api/checkout", "reserve", "SELECT cart"],
        )],
    );
    // Spans without the attribute are skipped; B has none and is dropped.
    check(
        "{ } | sum(span.payment.amount) >= 100",
        &[('C', &["process-queue", "charge", "refund"])],
    );
    check(
        "{ } | sum(span.payment.amount) < 100",
        &[(
            'A',
            &[
                "GET /checkout",
                "POST /api/checkout",
                "charge",
                "SELECT orders",
                "render",
            ],
        )],
    );
    let sets = evaluate(
        &parse("{ kind = client } | avg(duration) > 500ms").unwrap(),
        &trace('C'),
    )
    .unwrap();
    assert_eq!(sets[0].scalar, Some(1800.0 * MS as f64));
}

#[test]
fn group_by_then_count() {
    check(
        "{ } | by(resource.service.name) | count() > 1",
        &[
            ('A', &["GET /checkout", "render"]),
            ('B', &["POST /api/checkout", "reserve"]),
            ('C', &["charge", "refund"]),
        ],
    );
    let sets = evaluate(
        &parse("{ } | by(resource.service.name) | count() > 1").unwrap(),
        &trace('B'),
    )
    .unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].group,
        Some(GroupKey {
            field: "resource.service.name".into(),
            value: Static::String("checkout".into()),
        })
    );
    assert_eq!(sets[0].scalar, Some(2.0));
}

#[test]
fn group_by_kind_splits_spansets() {
    let sets = evaluate(&parse("{ } | by(kind)").unwrap(), &trace('A')).unwrap();
    let got: Vec<(Static, Vec<usize>)> = sets
        .iter()
        .map(|s| (s.group.clone().unwrap().value, s.spans.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Static::Kind(Kind::Server), vec![0, 1]),
            (Static::Kind(Kind::Client), vec![2, 3]),
            (Static::Kind(Kind::Internal), vec![4]),
        ]
    );
    check(
        "{ status = error } | by(resource.service.name) | avg(duration) > 1s",
        &[('C', &["charge"])],
    );
}

#[test]
fn select_records_fields() {
    let q =
        parse(r#"{ resource.service.name = "db" } | select(span.db.system, duration, span.nope)"#)
            .unwrap();
    let b = trace('B');
    let sets = evaluate(&q, &b).unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].spans, vec![3]);
    assert_eq!(
        sets[0].selected,
        vec![
            Selected {
                span: 3,
                field: "span.db.system".into(),
                value: Static::String("redis".into()),
            },
            Selected {
                span: 3,
                field: "duration".into(),
                value: Static::Duration(10 * MS),
            },
        ]
    );
    check(
        r#"{ resource.service.name = "db" } | select(span.db.system)"#,
        &[('A', &["SELECT orders"]), ('B', &["SELECT cart"])],
    );
}

#[test]
fn sub_pipeline_operand() {
    check(
        r#"({ } | count() > 4) && { name = "render" }"#,
        &[(
            'A',
            &[
                "GET /checkout",
                "POST /api/checkout",
                "charge",
                "SELECT orders",
                "render",
            ],
        )],
    );
    check(
        r#"({ kind = client } | count() > 1) >> { }"#,
        &[('A', &["SELECT orders"])],
    );
}

#[test]
fn validation_errors() {
    for q in [
        r#"{ 1 = "foo" }"#,
        r#"{ duration > "1s" }"#,
        r#"{ name > 1 }"#,
        "{ status = 1 }",
        "{ 1 }",
        "{ !name }",
        r#"{ name =~ "(" }"#,
        "{ true && 1 }",
        r#"{ "a" + 1 = 2 }"#,
    ] {
        let e = eval_err(q);
        assert!(!e.message.is_empty(), "{q}");
    }
    assert!(eval_err(r#"{ name =~ "(" }"#)
        .message
        .contains("invalid regex"));
    // Attributes have unknown type: no validation error, just no match.
    check(r#"{ .http.status_code = "500" }"#, &[]);
}

#[test]
fn empty_trace_matches_nothing() {
    let sets = evaluate(&parse("{}").unwrap(), &Trace::default()).unwrap();
    assert!(sets.is_empty());
}
