//! Hand-computed expectations over small fixed span corpora.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::span::{Attributes, Event, Link, SpanKind, Status};

const START: i64 = 1_700_000_000_000_000_000;
const WAIT: Duration = Duration::from_secs(10);

/// Span-metrics `le` values, Tempo's defaults.
const SM_LE: [&str; 15] = [
    "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024",
    "2.048", "4.096", "8.192", "16.384", "+Inf",
];
/// Service-graph `le` values, Tempo's defaults.
const SG_LE: [&str; 9] = [
    "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "+Inf",
];

fn resource(service: &str) -> Arc<Attributes> {
    Arc::new(vec![
        ("service.name".into(), Value::Str(service.into())),
        ("host.name".into(), Value::Str("h1".into())),
    ])
}

#[allow(clippy::too_many_arguments)]
fn span(
    res: &Arc<Attributes>,
    trace: u8,
    id: u8,
    parent: Option<u8>,
    kind: SpanKind,
    status: Status,
    name: &str,
    duration_us: i64,
) -> Span {
    Span {
        trace_id: [trace; 16],
        span_id: [id, 0, 0, 0, 0, 0, 0, 1],
        parent_span_id: parent.map(|p| [p, 0, 0, 0, 0, 0, 0, 1]),
        name: name.into(),
        kind,
        status,
        start_ns: START,
        end_ns: START + duration_us * 1_000,
        resource: res.clone(),
        ..Span::default()
    }
}

fn with_attrs(mut s: Span, attrs: &[(&str, Value)]) -> Span {
    s.attributes = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    s
}

fn str_value(s: &str) -> Value {
    Value::Str(s.into())
}

/// frontend(SERVER, root) -> frontend(CLIENT) -> checkout(SERVER, error)
/// -> checkout(CLIENT, db "orders").
fn checkout_trace() -> Vec<Span> {
    let frontend = resource("frontend");
    let checkout = resource("checkout");
    vec![
        span(
            &frontend,
            1,
            1,
            None,
            SpanKind::Server,
            Status::Unset,
            "GET /cart",
            3_000,
        ),
        span(
            &frontend,
            1,
            2,
            Some(1),
            SpanKind::Client,
            Status::Unset,
            "POST /checkout",
            10_000,
        ),
        span(
            &checkout,
            1,
            3,
            Some(2),
            SpanKind::Server,
            Status::Error,
            "POST /checkout",
            7_000,
        ),
        with_attrs(
            span(
                &checkout,
                1,
                4,
                Some(3),
                SpanKind::Client,
                Status::Ok,
                "SELECT orders",
                1_500,
            ),
            &[
                ("db.system", str_value("postgresql")),
                ("db.name", str_value("orders")),
            ],
        ),
    ]
}

/// The value of the sample named `name` whose other labels are exactly `labels`.
fn get(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.push(("__name__".into(), name.into()));
    want.sort();
    let found: Vec<&Sample> = samples.iter().filter(|s| s.labels == want).collect();
    assert!(found.len() <= 1, "duplicate series {want:?}");
    found.first().map(|s| s.value)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    get(samples, name, labels)
        .unwrap_or_else(|| panic!("no series {name}{labels:?} in {samples:#?}"))
}

/// Bucket values of histogram `base` in `le` order, asserting the `le` set.
fn buckets(samples: &[Sample], base: &str, labels: &[(&str, &str)], les: &[&str]) -> Vec<f64> {
    let name = format!("{base}_bucket");
    les.iter()
        .map(|le| {
            let mut l = labels.to_vec();
            l.push(("le", le));
            value(samples, &name, &l)
        })
        .collect()
}

fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
}

fn count_named(samples: &[Sample], prefix: &str) -> usize {
    samples
        .iter()
        .filter(|s| s.name().starts_with(prefix))
        .count()
}

fn sm_labels<'a>(
    service: &'a str,
    name: &'a str,
    kind: &'a str,
    status: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("service", service),
        ("span_name", name),
        ("span_kind", kind),
        ("status_code", status),
    ]
}

#[test]
fn defaults_are_tempos() {
    let c = GeneratorConfig::default();
    assert_eq!(
        c.histogram_buckets,
        vec![
            0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
            8.192, 16.384
        ]
    );
    assert_eq!(
        c.service_graph_histogram_buckets,
        vec![0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]
    );
    assert_eq!(c.service_graph_wait, Duration::from_secs(10));
    assert_eq!(c.max_items, 10_000);
    assert_eq!(c.peer_attributes, ["peer.service", "db.name", "db.system"]);
}

#[test]
fn span_metrics_series_labels_and_values() {
    let g = Generator::new(GeneratorConfig::default());
    let t0 = Instant::now();
    g.observe(&checkout_trace(), t0);
    // A second call of the first series, in another trace and batch: 20ms.
    let frontend = resource("frontend");
    g.observe(
        &[span(
            &frontend,
            2,
            1,
            None,
            SpanKind::Server,
            Status::Unset,
            "GET /cart",
            20_000,
        )],
        t0,
    );
    let s = g.collect(t0);

    // 4 series x (calls + 15 buckets + sum + count + size).
    assert_eq!(count_named(&s, "traces_spanmetrics_"), 4 * 19);

    let cart = sm_labels(
        "frontend",
        "GET /cart",
        "SPAN_KIND_SERVER",
        "STATUS_CODE_UNSET",
    );
    assert_eq!(value(&s, "traces_spanmetrics_calls_total", &cart), 2.0);
    assert_eq!(value(&s, "traces_spanmetrics_latency_count", &cart), 2.0);
    assert_close(value(&s, "traces_spanmetrics_latency_sum", &cart), 0.023);
    // 0.003 s and 0.020 s.
    assert_eq!(
        buckets(&s, "traces_spanmetrics_latency", &cart, &SM_LE),
        [0., 1., 1., 1., 2., 2., 2., 2., 2., 2., 2., 2., 2., 2., 2.]
    );

    let call = sm_labels(
        "frontend",
        "POST /checkout",
        "SPAN_KIND_CLIENT",
        "STATUS_CODE_UNSET",
    );
    assert_eq!(value(&s, "traces_spanmetrics_calls_total", &call), 1.0);
    assert_close(value(&s, "traces_spanmetrics_latency_sum", &call), 0.010);
    assert_eq!(
        buckets(&s, "traces_spanmetrics_latency", &call, &SM_LE),
        [0., 0., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]
    );

    let handler = sm_labels(
        "checkout",
        "POST /checkout",
        "SPAN_KIND_SERVER",
        "STATUS_CODE_ERROR",
    );
    assert_eq!(value(&s, "traces_spanmetrics_calls_total", &handler), 1.0);
    assert_close(value(&s, "traces_spanmetrics_latency_sum", &handler), 0.007);
    assert_eq!(
        buckets(&s, "traces_spanmetrics_latency", &handler, &SM_LE),
        [0., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]
    );

    let db = sm_labels(
        "checkout",
        "SELECT orders",
        "SPAN_KIND_CLIENT",
        "STATUS_CODE_OK",
    );
    assert_eq!(value(&s, "traces_spanmetrics_latency_count", &db), 1.0);
    assert_close(value(&s, "traces_spanmetrics_latency_sum", &db), 0.0015);
    assert_eq!(
        buckets(&s, "traces_spanmetrics_latency", &db, &SM_LE),
        [1.0; 15]
    );

    // The exact label set of one sample, sorted by name.
    let sample = s
        .iter()
        .find(|x| {
            x.name() == "traces_spanmetrics_latency_bucket"
                && x.label("le") == Some("0.004")
                && x.label("span_name") == Some("GET /cart")
        })
        .expect("GET /cart le=0.004 bucket");
    let labels: Vec<(&str, &str)> = sample
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__", "traces_spanmetrics_latency_bucket"),
            ("le", "0.004"),
            ("service", "frontend"),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("span_name", "GET /cart"),
            ("status_code", "STATUS_CODE_UNSET"),
        ]
    );
}

#[test]
fn span_metrics_without_service_name_have_no_service_label() {
    let g = Generator::new(GeneratorConfig::default());
    let no_service: Arc<Attributes> = Arc::new(vec![("host.name".into(), str_value("h1"))]);
    let numeric: Arc<Attributes> = Arc::new(vec![("service.name".into(), Value::Int(42))]);
    let t0 = Instant::now();
    g.observe(
        &[
            span(
                &no_service,
                1,
                1,
                None,
                SpanKind::Internal,
                Status::Unset,
                "work",
                100,
            ),
            span(
                &numeric,
                1,
                2,
                None,
                SpanKind::Unspecified,
                Status::Unset,
                "",
                100,
            ),
        ],
        t0,
    );
    let s = g.collect(t0);
    assert_eq!(
        value(
            &s,
            "traces_spanmetrics_calls_total",
            &[
                ("span_name", "work"),
                ("span_kind", "SPAN_KIND_INTERNAL"),
                ("status_code", "STATUS_CODE_UNSET"),
            ],
        ),
        1.0
    );
    // Non-string service.name is stringified; an empty span name drops the label.
    assert_eq!(
        value(
            &s,
            "traces_spanmetrics_calls_total",
            &[
                ("service", "42"),
                ("span_kind", "SPAN_KIND_UNSPECIFIED"),
                ("status_code", "STATUS_CODE_UNSET"),
            ],
        ),
        1.0
    );
    // Neither span is a service-graph edge half.
    assert_eq!(count_named(&s, "traces_service_graph_"), 0);
    assert_eq!(g.stats(), GeneratorStats::default());
}

#[test]
fn span_metrics_size_is_the_otlp_protobuf_size() {
    let g = Generator::new(GeneratorConfig::default());
    let res = resource("svc");
    // trace_id 18 + span_id 10 + name "GET /" 7 + kind 2 + start 9 + end 9
    // + attribute {key "http.method" 13, value {string "GET" 5} 7} 22
    // + empty status 2 = 79 bytes.
    let mut simple = span(
        &res,
        1,
        1,
        None,
        SpanKind::Server,
        Status::Unset,
        "GET /",
        2_000,
    );
    simple.start_ns = 1_000_000_000;
    simple.end_ns = 1_002_000_000;
    simple.attributes = vec![("http.method".into(), str_value("GET"))];
    // trace_id 18 + span_id 10 + parent 10 + name "x" 3 + kind 2 + times 18
    // + attribute {key "n" 3, value {int -1: 1 + 10} 13} 18
    // + event {time 9, name "e" 3} 14 + link {trace_id 18, span_id 10} 30
    // + status {message "boom" 6, code 2} 10 + flags 6 = 139 bytes.
    let mut full = span(
        &res,
        1,
        2,
        Some(1),
        SpanKind::Client,
        Status::Error,
        "x",
        1_000,
    );
    full.attributes = vec![("n".into(), Value::Int(-1))];
    full.events = vec![Event {
        time_ns: 5,
        name: "e".into(),
        attributes: vec![],
    }];
    full.links = vec![Link {
        trace_id: [2; 16],
        span_id: [3; 8],
        ..Link::default()
    }];
    full.status_message = "boom".into();
    full.flags = 0x100;
    // trace_id 18 + span_id 10 + trace_state "a=b" 5
    // + attribute "a" [bool 4, double 11, empty string 4]: 28
    // + attribute "m" {k: bytes(3)}: 21 + attribute "big" int 300: 12
    // + status {code 1} 4 = 98 bytes.
    let mut mixed = span(&res, 1, 3, None, SpanKind::Unspecified, Status::Ok, "", 0);
    mixed.start_ns = 0;
    mixed.end_ns = 0;
    mixed.trace_state = "a=b".into();
    mixed.attributes = vec![
        (
            "a".into(),
            Value::Array(vec![Value::Bool(true), Value::Float(1.5), str_value("")]),
        ),
        (
            "m".into(),
            Value::Map(vec![("k".into(), Value::Bytes(vec![1, 2, 3]))]),
        ),
        ("big".into(), Value::Int(300)),
    ];
    g.observe(&[simple.clone(), full, simple, mixed], Instant::now());
    let s = g.collect(Instant::now());
    let simple_labels = sm_labels("svc", "GET /", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET");
    assert_eq!(
        value(&s, "traces_spanmetrics_size_total", &simple_labels),
        158.0
    );
    let full_labels = sm_labels("svc", "x", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR");
    assert_eq!(
        value(&s, "traces_spanmetrics_size_total", &full_labels),
        139.0
    );
}

#[test]
fn service_graph_edges_database_and_root_virtual_node() {
    let g = Generator::new(GeneratorConfig::default());
    let t0 = Instant::now();
    g.observe(&checkout_trace(), t0);

    let s = g.collect(t0);
    // frontend -> checkout: plain edge, no connection_type label.
    let edge = [("client", "frontend"), ("server", "checkout")];
    assert_eq!(value(&s, "traces_service_graph_request_total", &edge), 1.0);
    // The checkout SERVER span failed.
    assert_eq!(
        value(&s, "traces_service_graph_request_failed_total", &edge),
        1.0
    );
    let server = "traces_service_graph_request_server_seconds";
    let client = "traces_service_graph_request_client_seconds";
    assert_eq!(buckets(&s, server, &edge, &SG_LE), [1.0; 9]);
    assert_close(value(&s, &format!("{server}_sum"), &edge), 0.007);
    assert_eq!(value(&s, &format!("{server}_count"), &edge), 1.0);
    assert_close(value(&s, &format!("{client}_sum"), &edge), 0.010);
    assert_eq!(value(&s, &format!("{client}_count"), &edge), 1.0);

    // checkout -> orders: the db client span alone, named by db.name;
    // server latency is the client span's. No failure, so no failed series.
    let db = [
        ("client", "checkout"),
        ("server", "orders"),
        ("connection_type", "database"),
    ];
    assert_eq!(value(&s, "traces_service_graph_request_total", &db), 1.0);
    assert_eq!(
        get(&s, "traces_service_graph_request_failed_total", &db),
        None
    );
    assert_close(value(&s, &format!("{server}_sum"), &db), 0.0015);
    assert_close(value(&s, &format!("{client}_sum"), &db), 0.0015);

    // 2 edges x (total + 2 x (9 buckets + sum + count)) + 1 failed.
    assert_eq!(count_named(&s, "traces_service_graph_"), 2 * 23 + 1);
    assert_eq!(
        g.stats(),
        GeneratorStats {
            service_graph_edges: 3,
            service_graph_expired_edges: 0,
            service_graph_dropped_spans: 0,
            service_graph_pending_edges: 1,
        }
    );

    // The root SERVER span has no client: after `wait` it becomes an edge
    // from the virtual node "user".
    let s = g.collect(t0 + WAIT);
    let user = [
        ("client", "user"),
        ("server", "frontend"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(value(&s, "traces_service_graph_request_total", &user), 1.0);
    assert_close(value(&s, &format!("{server}_sum"), &user), 0.003);
    assert_eq!(value(&s, &format!("{client}_sum"), &user), 0.0);
    assert_eq!(value(&s, &format!("{client}_count"), &user), 1.0);
    assert_eq!(value(&s, "traces_service_graph_request_total", &edge), 1.0);
    assert_eq!(count_named(&s, "traces_service_graph_"), 3 * 23 + 1);
    assert_eq!(g.stats().service_graph_pending_edges, 0);
    assert_eq!(g.stats().service_graph_expired_edges, 0);
}

/// Client 300ms in `web`, server 150ms in `api`, fed in the given order in
/// two `observe` calls a few seconds apart.
fn pair_in_order(server_first: bool) -> Vec<Sample> {
    let g = Generator::new(GeneratorConfig::default());
    let web = resource("web");
    let api = resource("api");
    let client = span(
        &web,
        7,
        1,
        None,
        SpanKind::Client,
        Status::Unset,
        "GET /api",
        300_000,
    );
    let server = span(
        &api,
        7,
        2,
        Some(1),
        SpanKind::Server,
        Status::Unset,
        "GET /api",
        150_000,
    );
    let t0 = Instant::now();
    let (first, second) = if server_first {
        (server, client)
    } else {
        (client, server)
    };
    g.observe(&[first], t0);
    assert_eq!(count_named(&g.collect(t0), "traces_service_graph_"), 0);
    g.observe(&[second], t0 + Duration::from_secs(9));
    let s = g.collect(t0 + Duration::from_secs(9));
    assert_eq!(g.stats().service_graph_edges, 1);
    assert_eq!(g.stats().service_graph_pending_edges, 0);
    s.into_iter()
        .filter(|x| x.name().starts_with("traces_service_graph_"))
        .collect()
}

#[test]
fn service_graph_pairs_halves_in_either_order_across_batches() {
    for server_first in [false, true] {
        let s = pair_in_order(server_first);
        let edge = [("client", "web"), ("server", "api")];
        assert_eq!(value(&s, "traces_service_graph_request_total", &edge), 1.0);
        assert_eq!(
            get(&s, "traces_service_graph_request_failed_total", &edge),
            None
        );
        let server = "traces_service_graph_request_server_seconds";
        let client = "traces_service_graph_request_client_seconds";
        assert_eq!(
            buckets(&s, server, &edge, &SG_LE),
            [0., 1., 1., 1., 1., 1., 1., 1., 1.]
        );
        assert_close(value(&s, &format!("{server}_sum"), &edge), 0.15);
        assert_eq!(value(&s, &format!("{server}_count"), &edge), 1.0);
        assert_eq!(
            buckets(&s, client, &edge, &SG_LE),
            [0., 0., 1., 1., 1., 1., 1., 1., 1.]
        );
        assert_close(value(&s, &format!("{client}_sum"), &edge), 0.3);
        assert_eq!(value(&s, &format!("{client}_count"), &edge), 1.0);
        assert_eq!(s.len(), 23);
    }
    assert_eq!(pair_in_order(false), pair_in_order(true));
}

#[test]
fn service_graph_unpaired_halves_expire_without_series() {
    let g = Generator::new(GeneratorConfig::default());
    let web = resource("web");
    let api = resource("api");
    let t0 = Instant::now();
    g.observe(
        &[span(
            &web,
            3,
            1,
            Some(9),
            SpanKind::Client,
            Status::Unset,
            "call",
            1_000,
        )],
        t0,
    );
    // Still waiting just before `wait`.
    let s = g.collect(t0 + WAIT - Duration::from_nanos(1));
    assert_eq!(count_named(&s, "traces_service_graph_"), 0);
    assert_eq!(g.stats().service_graph_pending_edges, 1);
    // Expired at `wait`: no request_total, one expired edge.
    let s = g.collect(t0 + WAIT);
    assert_eq!(count_named(&s, "traces_service_graph_"), 0);
    assert_eq!(
        g.stats(),
        GeneratorStats {
            service_graph_edges: 1,
            service_graph_expired_edges: 1,
            service_graph_dropped_spans: 0,
            service_graph_pending_edges: 0,
        }
    );
    // The late server half starts a new edge, which expires on its own
    // (a non-root server span without client is not a virtual node).
    let t1 = t0 + Duration::from_secs(11);
    g.observe(
        &[span(
            &api,
            3,
            2,
            Some(1),
            SpanKind::Server,
            Status::Error,
            "call",
            1_000,
        )],
        t1,
    );
    let s = g.collect(t1 + WAIT);
    assert_eq!(count_named(&s, "traces_service_graph_"), 0);
    assert_eq!(g.stats().service_graph_expired_edges, 2);
    assert_eq!(g.stats().service_graph_edges, 2);
}

#[test]
fn service_graph_client_with_peer_attribute_becomes_virtual_server() {
    let g = Generator::new(GeneratorConfig::default());
    let web = resource("web");
    let t0 = Instant::now();
    let pay = with_attrs(
        span(
            &web,
            4,
            1,
            Some(9),
            SpanKind::Client,
            Status::Error,
            "charge",
            500_000,
        ),
        &[("peer.service", str_value("payments-api"))],
    );
    g.observe(&[pay], t0);
    assert_eq!(count_named(&g.collect(t0), "traces_service_graph_"), 0);
    let s = g.collect(t0 + WAIT);
    let edge = [
        ("client", "web"),
        ("server", "payments-api"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(value(&s, "traces_service_graph_request_total", &edge), 1.0);
    assert_eq!(
        value(&s, "traces_service_graph_request_failed_total", &edge),
        1.0
    );
    assert_close(
        value(&s, "traces_service_graph_request_client_seconds_sum", &edge),
        0.5,
    );
    assert_eq!(
        buckets(
            &s,
            "traces_service_graph_request_client_seconds",
            &edge,
            &SG_LE
        ),
        [0., 0., 0., 1., 1., 1., 1., 1., 1.]
    );
    // No server span: server latency 0.
    assert_eq!(
        value(&s, "traces_service_graph_request_server_seconds_sum", &edge),
        0.0
    );
    assert_eq!(g.stats().service_graph_expired_edges, 0);
}

#[test]
fn service_graph_messaging_and_connection_type_from_last_half() {
    let g = Generator::new(GeneratorConfig::default());
    let orders = resource("orders");
    let billing = resource("billing");
    let t0 = Instant::now();
    g.observe(
        &[
            span(
                &orders,
                5,
                1,
                None,
                SpanKind::Producer,
                Status::Unset,
                "publish",
                1_000,
            ),
            span(
                &billing,
                5,
                2,
                Some(1),
                SpanKind::Consumer,
                Status::Unset,
                "process",
                2_000,
            ),
            // PRODUCER answered by a SERVER span: the server half, last,
            // resets connection_type to unset.
            span(
                &orders,
                6,
                1,
                None,
                SpanKind::Producer,
                Status::Unset,
                "publish",
                1_000,
            ),
            span(
                &billing,
                6,
                2,
                Some(1),
                SpanKind::Server,
                Status::Unset,
                "process",
                2_000,
            ),
        ],
        t0,
    );
    let s = g.collect(t0);
    let messaging = [
        ("client", "orders"),
        ("server", "billing"),
        ("connection_type", "messaging_system"),
    ];
    assert_eq!(
        value(&s, "traces_service_graph_request_total", &messaging),
        1.0
    );
    let plain = [("client", "orders"), ("server", "billing")];
    assert_eq!(value(&s, "traces_service_graph_request_total", &plain), 1.0);
}

#[test]
fn service_graph_database_server_name_precedence() {
    let g = Generator::new(GeneratorConfig::default());
    let app = resource("app");
    let db = |id: u8, attrs: &[(&str, Value)]| {
        with_attrs(
            span(
                &app,
                8,
                id,
                Some(9),
                SpanKind::Client,
                Status::Unset,
                "query",
                1_000,
            ),
            attrs,
        )
    };
    let t0 = Instant::now();
    g.observe(
        &[
            db(
                1,
                &[
                    ("db.system", str_value("redis")),
                    ("server.address", str_value("cache-1")),
                    ("peer.service", str_value("session-cache")),
                ],
            ),
            db(
                2,
                &[
                    ("db.system", str_value("redis")),
                    ("server.address", str_value("cache-1")),
                ],
            ),
            db(
                3,
                &[
                    ("db.system", str_value("redis")),
                    ("network.peer.address", str_value("10.0.0.5")),
                    ("network.peer.port", Value::Int(6379)),
                ],
            ),
            db(4, &[("db.system", str_value("redis"))]),
            db(
                5,
                &[
                    ("db.system", str_value("postgresql")),
                    ("db.name", str_value("legacy")),
                    ("db.namespace", str_value("shop")),
                ],
            ),
        ],
        t0,
    );
    let s = g.collect(t0);
    for server in ["session-cache", "cache-1", "10.0.0.5:6379", "redis", "shop"] {
        let labels = [
            ("client", "app"),
            ("server", server),
            ("connection_type", "database"),
        ];
        assert_eq!(
            value(&s, "traces_service_graph_request_total", &labels),
            1.0,
            "{server}"
        );
    }
    assert_eq!(g.stats().service_graph_pending_edges, 0);
    assert_eq!(g.stats().service_graph_edges, 5);
}

#[test]
fn service_graph_ignores_spans_without_service_name() {
    let g = Generator::new(GeneratorConfig::default());
    let anonymous: Arc<Attributes> = Arc::new(vec![]);
    let api = resource("api");
    let t0 = Instant::now();
    g.observe(
        &[
            span(
                &anonymous,
                1,
                1,
                None,
                SpanKind::Client,
                Status::Unset,
                "call",
                1_000,
            ),
            span(
                &api,
                1,
                2,
                Some(1),
                SpanKind::Server,
                Status::Unset,
                "call",
                1_000,
            ),
        ],
        t0,
    );
    // Only the server half is stored; it expires unpaired.
    assert_eq!(g.stats().service_graph_edges, 1);
    let s = g.collect(t0 + WAIT);
    assert_eq!(count_named(&s, "traces_service_graph_"), 0);
    assert_eq!(g.stats().service_graph_expired_edges, 1);
}

#[test]
fn service_graph_drops_new_edges_beyond_max_items() {
    let g = Generator::new(GeneratorConfig {
        max_items: 1,
        ..GeneratorConfig::default()
    });
    let web = resource("web");
    let api = resource("api");
    let t0 = Instant::now();
    g.observe(
        &[
            span(
                &web,
                1,
                1,
                Some(9),
                SpanKind::Client,
                Status::Unset,
                "a",
                1_000,
            ),
            // Store full: dropped.
            span(
                &web,
                1,
                2,
                Some(9),
                SpanKind::Client,
                Status::Unset,
                "b",
                1_000,
            ),
            // Complete at once: not limited.
            with_attrs(
                span(
                    &web,
                    1,
                    3,
                    Some(9),
                    SpanKind::Client,
                    Status::Unset,
                    "db",
                    1_000,
                ),
                &[("db.name", str_value("main"))],
            ),
            // The other half of "b" would start a new edge: dropped too.
            span(
                &api,
                1,
                4,
                Some(2),
                SpanKind::Server,
                Status::Unset,
                "b",
                1_000,
            ),
            // The other half of "a" completes the stored edge.
            span(
                &api,
                1,
                5,
                Some(1),
                SpanKind::Server,
                Status::Unset,
                "a",
                1_000,
            ),
        ],
        t0,
    );
    let s = g.collect(t0);
    assert_eq!(
        value(
            &s,
            "traces_service_graph_request_total",
            &[("client", "web"), ("server", "api")]
        ),
        1.0
    );
    assert_eq!(
        g.stats(),
        GeneratorStats {
            service_graph_edges: 2,
            service_graph_expired_edges: 0,
            service_graph_dropped_spans: 2,
            service_graph_pending_edges: 0,
        }
    );
}

#[test]
fn le_labels_use_go_float_formatting() {
    assert_eq!(
        le_labels(&exponential_buckets(0.002, 2.0, 14)).to_vec(),
        SM_LE
    );
    assert_eq!(le_labels(&exponential_buckets(0.1, 2.0, 8)).to_vec(), SG_LE);
    assert_eq!(format_value(1.0), "1");
    assert_eq!(format_value(0.25), "0.25");
    assert_eq!(format_value(1e21), "1000000000000000000000");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    // Unsorted, duplicate and non-finite bounds are normalized.
    assert_eq!(
        normalize_buckets(&[0.5, f64::NAN, 0.1, 0.5, f64::INFINITY]).to_vec(),
        [0.1, 0.5]
    );
}

#[test]
fn stringify_follows_tempo() {
    let v = Value::Array(vec![Value::Int(1), Value::Bool(true), Value::Float(2.5)]);
    assert_eq!(stringify(&v), "[1true2.5]");
    let m = Value::Map(vec![
        ("a".into(), Value::Str("x".into())),
        ("b".into(), Value::Int(-3)),
    ]);
    assert_eq!(stringify(&m), "{a:xb:-3}");
    assert_eq!(stringify(&Value::Bytes(vec![1, 2])), "");
    assert_eq!(stringify(&Value::Float(f64::INFINITY)), "+Inf");
}

#[test]
fn generator_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Generator>();

    let g = Arc::new(Generator::new(GeneratorConfig::default()));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let g = Arc::clone(&g);
            std::thread::spawn(move || {
                let web = resource("web");
                let api = resource("api");
                for i in 0..250u8 {
                    // Client and server of one edge in separate batches.
                    let trace = [t, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    let mut client = span(
                        &web,
                        0,
                        1,
                        None,
                        SpanKind::Client,
                        Status::Unset,
                        "c",
                        1_000,
                    );
                    client.trace_id = trace;
                    let mut server = span(
                        &api,
                        0,
                        2,
                        Some(1),
                        SpanKind::Server,
                        Status::Unset,
                        "s",
                        2_000,
                    );
                    server.trace_id = trace;
                    g.observe(&[client], t0);
                    g.observe(&[server], t0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("observer thread panicked");
    }
    let s = g.collect(t0);
    let c = sm_labels("web", "c", "SPAN_KIND_CLIENT", "STATUS_CODE_UNSET");
    assert_eq!(value(&s, "traces_spanmetrics_calls_total", &c), 1000.0);
    let edge = [("client", "web"), ("server", "api")];
    assert_eq!(
        value(&s, "traces_service_graph_request_total", &edge),
        1000.0
    );
    assert_close(
        value(&s, "traces_service_graph_request_server_seconds_sum", &edge),
        2.0,
    );
    assert_eq!(g.stats().service_graph_pending_edges, 0);
}
