//! A small multi-service OTLP trace corpus for the trace store's tests, and
//! helpers to send it.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

pub const MS: u64 = 1_000_000;

pub fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

pub fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// One span as the tests write it: service, parent index, kind, name,
/// start and end in ms after the trace's base, error?, attributes.
pub struct Def {
    pub service: &'static str,
    pub parent: Option<usize>,
    pub kind: i32,
    pub name: &'static str,
    pub start_ms: u64,
    pub end_ms: u64,
    pub error: bool,
    pub attributes: Vec<KeyValue>,
}

pub const SERVER: i32 = 2;
pub const CLIENT: i32 = 3;

pub fn def(
    service: &'static str,
    parent: Option<usize>,
    kind: i32,
    name: &'static str,
    start_ms: u64,
    end_ms: u64,
) -> Def {
    Def {
        service,
        parent,
        kind,
        name,
        start_ms,
        end_ms,
        error: false,
        attributes: Vec::new(),
    }
}

pub fn span_id(trace: u8, index: usize) -> Vec<u8> {
    vec![trace, index as u8 + 1, 0, 0, 0, 0, 0, 7]
}

pub fn trace_id(trace: u8) -> Vec<u8> {
    let mut id = vec![0xab; 16];
    id[0] = trace;
    id
}

pub fn trace_hex(trace: u8) -> String {
    trace_id(trace).iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans `defs[range]` of trace `trace`, grouped by service into
/// ResourceSpans as an SDK sends them.
pub fn request(
    trace: u8,
    base_ns: u64,
    defs: &[Def],
    only: std::ops::Range<usize>,
) -> ExportTraceServiceRequest {
    let mut resource_spans: Vec<ResourceSpans> = Vec::new();
    for i in only {
        let d = &defs[i];
        let span = Span {
            trace_id: trace_id(trace),
            span_id: span_id(trace, i),
            parent_span_id: d.parent.map(|p| span_id(trace, p)).unwrap_or_default(),
            name: d.name.into(),
            kind: d.kind,
            start_time_unix_nano: base_ns + d.start_ms * MS,
            end_time_unix_nano: base_ns + d.end_ms * MS,
            attributes: d.attributes.clone(),
            events: if d.error {
                vec![span::Event {
                    time_unix_nano: base_ns + d.start_ms * MS + MS,
                    name: "exception".into(),
                    attributes: vec![kv("exception.message", s("card declined"))],
                    dropped_attributes_count: 0,
                }]
            } else {
                Vec::new()
            },
            status: d.error.then(|| Status {
                message: "card declined".into(),
                code: 2,
            }),
            ..Default::default()
        };
        match resource_spans.iter_mut().find(|r| {
            r.resource.as_ref().unwrap().attributes[0].value
                == Some(AnyValue {
                    value: Some(s(d.service)),
                })
        }) {
            Some(r) => r.scope_spans[0].spans.push(span),
            None => resource_spans.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s(d.service)),
                        kv("k8s.namespace.name", s("shop")),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "test-instrumentation".into(),
                        version: "1.2.3".into(),
                        ..Default::default()
                    }),
                    spans: vec![span],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }),
        }
    }
    ExportTraceServiceRequest { resource_spans }
}

/// frontend → checkout (error) → postgres, 800 ms.
pub fn checkout_trace() -> Vec<Def> {
    let mut pay = def("checkout", Some(1), SERVER, "POST /pay", 110, 690);
    pay.error = true;
    pay.attributes = vec![kv("http.response.status_code", Value::IntValue(500))];
    let mut db = def("checkout", Some(2), CLIENT, "SELECT orders", 200, 300);
    db.attributes = vec![kv("db.system", s("postgresql"))];
    vec![
        def("frontend", None, SERVER, "GET /checkout", 0, 800),
        def("frontend", Some(0), CLIENT, "POST /pay", 100, 700),
        pay,
        db,
    ]
}

/// frontend → checkout, 20 ms, all fine.
pub fn cart_trace() -> Vec<Def> {
    vec![
        def("frontend", None, SERVER, "GET /", 0, 20),
        def("frontend", Some(0), CLIENT, "GET /cart", 2, 18),
        def("checkout", Some(1), SERVER, "GET /cart", 5, 15),
    ]
}

/// A 2 s trace whose checkout span arrives separately.
pub fn slow_trace() -> Vec<Def> {
    vec![
        def("frontend", None, SERVER, "GET /slow", 0, 2000),
        def("checkout", Some(0), SERVER, "POST /pay", 100, 700),
    ]
}

pub fn post_otlp(
    agent: &ureq::Agent,
    url: &str,
    request: &ExportTraceServiceRequest,
) -> (u16, Vec<u8>) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .send(&request.encode_to_vec()[..])
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().unwrap_or_default();
    (status, body)
}
