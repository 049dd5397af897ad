//! Search through the store finds exactly what evaluating the query on every
//! trace finds: summary and dictionary pruning never drop a match, whether
//! the trace is in the head or in segments.

use std::collections::BTreeSet;
use std::sync::Arc;

use traces::metrics::TracesMetrics;
use traces::search::{search, SearchRequest};
use traces::span::{Span, SpanKind, Status, Trace, Value};
use traces::traceql::{self, eval};
use traces::{StoreOptions, TraceStore};

const SERVICES: &[&str] = &["frontend", "checkout", "cart", "payment", "db"];
const NAMES: &[&str] = &["GET /", "POST /pay", "SELECT", "redis GET", "charge"];

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn corpus(traces: usize) -> Vec<Trace> {
    let mut rng = Rng(7);
    let resources: Vec<Arc<Vec<(String, Value)>>> = SERVICES
        .iter()
        .map(|s| {
            Arc::new(vec![
                ("service.name".to_string(), Value::Str(s.to_string())),
                ("k8s.namespace.name".to_string(), Value::Str("shop".into())),
            ])
        })
        .collect();
    let base = 1_700_000_000_000_000_000i64;
    (0..traces)
        .map(|t| {
            let spans = 1 + rng.below(12) as usize;
            let start = base + t as i64 * 1_000_000_000;
            let mut trace_id = [0u8; 16];
            trace_id[..8].copy_from_slice(&(t as u64 + 1).to_be_bytes());
            Trace {
                spans: (0..spans)
                    .map(|i| {
                        let duration = (rng.below(1000) * rng.below(1000) * 1000) as i64;
                        let mut attributes = vec![(
                            "http.status_code".to_string(),
                            Value::Int([200, 200, 200, 404, 500][rng.below(5) as usize]),
                        )];
                        if rng.below(3) == 0 {
                            attributes.push(("db.system".into(), Value::Str("postgresql".into())));
                        }
                        Span {
                            trace_id,
                            span_id: (i as u64 + 1).to_be_bytes(),
                            parent_span_id: (i > 0)
                                .then(|| (rng.below(i as u64) + 1).to_be_bytes()),
                            name: NAMES[rng.below(NAMES.len() as u64) as usize].to_string(),
                            kind: [SpanKind::Server, SpanKind::Client, SpanKind::Internal]
                                [rng.below(3) as usize],
                            status: [Status::Unset, Status::Unset, Status::Ok, Status::Error]
                                [rng.below(4) as usize],
                            start_ns: start + i as i64 * 1000,
                            end_ns: start + i as i64 * 1000 + duration,
                            resource: resources[rng.below(SERVICES.len() as u64) as usize].clone(),
                            attributes,
                            ..Span::default()
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

const QUERIES: &[&str] = &[
    r#"{ resource.service.name = "checkout" && duration > 500ms }"#,
    r#"{ resource.service.name =~ "c.*" && status = error }"#,
    r#"{ name = "POST /pay" && kind = server }"#,
    r#"{ name =~ "redis.*|SELECT" } >> { status = error }"#,
    r#"{ .http.status_code = 500 && span.db.system = "postgresql" }"#,
    r#"{ duration >= 100ms && duration < 200ms }"#,
    r#"{ resource.service.name = "db" } > { resource.service.name = "cart" }"#,
    r#"{ status = error } && { kind = internal }"#,
    r#"{ status = error } || { name = "charge" && duration > 900ms }"#,
    r#"{ resource.service.name = "payment" } | count() > 2"#,
    r#"{ 500ms < duration && resource.k8s.namespace.name = "shop" }"#,
    r#"{ resource.service.name = "nope" }"#,
    r#"{ .http.status_code = 418 }"#,
    "{ }",
];

fn brute_force(traces: &[Trace], query: &str) -> BTreeSet<[u8; 16]> {
    let query = traceql::parse(query).unwrap();
    let prepared = eval::prepare(&query).unwrap();
    traces
        .iter()
        .filter(|t| !prepared.evaluate(t).unwrap().is_empty())
        .map(|t| t.trace_id().unwrap())
        .collect()
}

fn searched(store: &TraceStore, query: &str) -> BTreeSet<[u8; 16]> {
    let request = SearchRequest {
        query: traceql::parse(query).unwrap(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        limit: 100_000,
        spans_per_spanset: 3,
    };
    let result = search(store, &request).unwrap();
    let ids: BTreeSet<[u8; 16]> = result.traces.iter().map(|t| t.trace_id).collect();
    assert_eq!(
        ids.len(),
        result.traces.len(),
        "{query}: a trace returned twice"
    );
    ids
}

#[test]
fn search_matches_brute_force_in_head_and_segments() {
    let traces = corpus(600);
    let dir = tempfile::tempdir().unwrap();
    let store = TraceStore::open(
        dir.path(),
        StoreOptions::default(),
        TracesMetrics::unregistered(),
    )
    .unwrap();
    // A third in each of two segments, a third in the head.
    for (i, chunk) in traces.chunks(200).enumerate() {
        store
            .push(chunk.iter().flat_map(|t| t.spans.iter().cloned()).collect())
            .unwrap();
        if i < 2 {
            store.flush(true).unwrap();
        }
    }
    assert_eq!(store.segments().len(), 2);
    for query in QUERIES {
        let expected = brute_force(&traces, query);
        assert_eq!(searched(&store, query), expected, "{query}");
    }
    // Something matched, and something was pruned, for most queries.
    assert!(brute_force(&traces, QUERIES[0]).len() > 5);
    assert!(brute_force(&traces, QUERIES[4]).len() > 5);
    assert!(brute_force(&traces, QUERIES[11]).is_empty());

    // The time range and the limit.
    let request = SearchRequest {
        query: traceql::parse("{ }").unwrap(),
        start_ns: traces[100].spans[0].start_ns,
        end_ns: traces[109].spans[0].start_ns,
        limit: 5,
        spans_per_spanset: 3,
    };
    let result = search(&store, &request).unwrap();
    assert_eq!(result.traces.len(), 5);
    for hit in &result.traces {
        let n = u64::from_be_bytes(hit.trace_id[..8].try_into().unwrap());
        assert!((101..=110).contains(&n), "trace {n} is outside the range");
    }
    // Invalid queries are errors, not empty results.
    let request = SearchRequest {
        query: traceql::parse(r#"{ .a =~ "(" }"#).unwrap(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        limit: 20,
        spans_per_spanset: 3,
    };
    assert!(search(&store, &request).is_err());
}
