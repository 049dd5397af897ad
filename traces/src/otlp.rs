//! OTLP traces ⇄ the span model.
//!
//! Ingest: an `ExportTraceServiceRequest` (protobuf, or OTLP JSON with hex
//! ids and integer enums) becomes [`Span`]s. A span whose trace id is not 16
//! non-zero bytes, or whose span id is not 8 non-zero bytes, or whose parent
//! id is neither empty nor 8 bytes, is rejected alone and counted; the rest
//! of its batch is kept (OTLP's `partial_success`).
//!
//! Output: spans grouped back into `ResourceSpans`/`ScopeSpans`, for the
//! Tempo routes (protobuf, or OTLP JSON through `opentelemetry-proto`'s
//! serde support).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as otlp;
use prost::Message;

use crate::span::{Attributes, Event, Link, Scope, Span, SpanKind, Status, Value};

/// Why a whole request could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// The spans of one request, and what was refused.
#[derive(Debug, Default)]
pub struct Decoded {
    pub spans: Vec<Span>,
    /// Spans refused for invalid ids.
    pub rejected: usize,
    /// The first refusal, for the `partial_success` message.
    pub first_error: Option<String>,
}

impl Decoded {
    fn reject(&mut self, why: String) {
        self.rejected += 1;
        self.first_error.get_or_insert(why);
    }
}

pub fn decode_protobuf(body: &[u8]) -> Result<Decoded, DecodeError> {
    let request = ExportTraceServiceRequest::decode(body)
        .map_err(|e| DecodeError(format!("error parsing OTLP protobuf body: {e}")))?;
    Ok(from_request(request))
}

/// OTLP JSON. Spans with ids that are not hex of the right length are
/// removed (and counted) before the typed decoding, which would otherwise
/// fail the whole request on one of them.
pub fn decode_json(body: &[u8]) -> Result<Decoded, DecodeError> {
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DecodeError(format!("error parsing OTLP JSON body: {e}")))?;
    let mut refused = Decoded::default();
    if let Some(resource_spans) = value
        .get_mut("resourceSpans")
        .and_then(|v| v.as_array_mut())
    {
        for resource in resource_spans {
            let Some(scopes) = resource
                .get_mut("scopeSpans")
                .and_then(|v| v.as_array_mut())
            else {
                continue;
            };
            for scope in scopes {
                let Some(spans) = scope.get_mut("spans").and_then(|v| v.as_array_mut()) else {
                    continue;
                };
                spans.retain(|span| match json_ids_error(span) {
                    None => true,
                    Some(why) => {
                        refused.reject(why);
                        false
                    }
                });
            }
        }
    }
    let request: ExportTraceServiceRequest = serde_json::from_value(value)
        .map_err(|e| DecodeError(format!("error parsing OTLP JSON body: {e}")))?;
    let mut decoded = from_request(request);
    decoded.rejected += refused.rejected;
    if let Some(why) = refused.first_error {
        decoded.first_error.get_or_insert(why);
    }
    Ok(decoded)
}

fn json_ids_error(span: &serde_json::Value) -> Option<String> {
    let field = |name: &str| span.get(name).and_then(|v| v.as_str()).unwrap_or("");
    let check = |name: &str, len: usize, required: bool| -> Option<String> {
        let text = field(name);
        if text.is_empty() && !required {
            return None;
        }
        if text.len() != len * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(format!(
                "span {:?}: {name} {text:?} is not {len} bytes of hex",
                field("name")
            ));
        }
        None
    };
    check("traceId", 16, true)
        .or_else(|| check("spanId", 8, true))
        .or_else(|| check("parentSpanId", 8, false))
}

pub fn from_request(request: ExportTraceServiceRequest) -> Decoded {
    let mut decoded = Decoded::default();
    decoded.spans.reserve_exact(
        request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum(),
    );
    for resource_spans in request.resource_spans {
        let resource = Arc::new(
            resource_spans
                .resource
                .map(|r| attributes(r.attributes))
                .unwrap_or_default(),
        );
        for scope_spans in resource_spans.scope_spans {
            let scope = Arc::new(
                scope_spans
                    .scope
                    .map(|s| Scope {
                        name: s.name,
                        version: s.version,
                        attributes: attributes(s.attributes),
                    })
                    .unwrap_or_default(),
            );
            for span in scope_spans.spans {
                match convert_span(span, &resource, &scope) {
                    Ok(span) => decoded.spans.push(span),
                    Err(why) => decoded.reject(why),
                }
            }
        }
    }
    decoded
}

fn id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    let id: [u8; N] = bytes.try_into().ok()?;
    (id != [0; N]).then_some(id)
}

fn convert_span(
    span: otlp::Span,
    resource: &Arc<Attributes>,
    scope: &Arc<Scope>,
) -> Result<Span, String> {
    let invalid = |what: &str, bytes: &[u8]| {
        format!(
            "span {:?}: invalid {what} {:?} ({} bytes)",
            span.name,
            crate::span::hex(bytes),
            bytes.len()
        )
    };
    let trace_id = id::<16>(&span.trace_id).ok_or_else(|| invalid("trace id", &span.trace_id))?;
    let span_id = id::<8>(&span.span_id).ok_or_else(|| invalid("span id", &span.span_id))?;
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 => id::<8>(&span.parent_span_id),
        _ => return Err(invalid("parent span id", &span.parent_span_id)),
    };
    let (status, status_message) = match span.status {
        Some(s) => (status_from_code(s.code), s.message),
        None => (Status::Unset, String::new()),
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: span.name,
        kind: kind_from_code(span.kind),
        status,
        status_message,
        start_ns: clamp_ns(span.start_time_unix_nano),
        end_ns: clamp_ns(span.end_time_unix_nano),
        resource: resource.clone(),
        attributes: attributes(span.attributes),
        scope: scope.clone(),
        trace_state: span.trace_state,
        flags: span.flags,
        events: span
            .events
            .into_iter()
            .map(|e| Event {
                time_ns: clamp_ns(e.time_unix_nano),
                name: e.name,
                attributes: attributes(e.attributes),
            })
            .collect(),
        links: span
            .links
            .into_iter()
            .filter_map(|l| {
                Some(Link {
                    trace_id: l.trace_id.as_slice().try_into().ok()?,
                    span_id: l.span_id.as_slice().try_into().ok()?,
                    trace_state: l.trace_state,
                    flags: l.flags,
                    attributes: attributes(l.attributes),
                })
            })
            .collect(),
    })
}

fn clamp_ns(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}

pub fn kind_from_code(code: i32) -> SpanKind {
    match code {
        1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

pub fn kind_code(kind: SpanKind) -> i32 {
    match kind {
        SpanKind::Unspecified => 0,
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

pub fn status_from_code(code: i32) -> Status {
    match code {
        1 => Status::Ok,
        2 => Status::Error,
        _ => Status::Unset,
    }
}

pub fn status_code(status: Status) -> i32 {
    match status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error => 2,
    }
}

/// OTLP's enum names, as Tempo and Jaeger print them.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Unset => "STATUS_CODE_UNSET",
        Status::Ok => "STATUS_CODE_OK",
        Status::Error => "STATUS_CODE_ERROR",
    }
}

pub fn attributes(list: Vec<KeyValue>) -> Attributes {
    list.into_iter()
        .filter_map(|kv| Some((kv.key, value(kv.value?.value?))))
        .collect()
}

fn value(kind: AnyValueKind) -> Value {
    match kind {
        AnyValueKind::StringValue(s) => Value::Str(s),
        AnyValueKind::BoolValue(b) => Value::Bool(b),
        AnyValueKind::IntValue(i) => Value::Int(i),
        AnyValueKind::DoubleValue(f) => Value::Float(f),
        AnyValueKind::BytesValue(b) => Value::Bytes(b),
        AnyValueKind::ArrayValue(a) => Value::Array(
            a.values
                .into_iter()
                .filter_map(|v| v.value.map(value))
                .collect(),
        ),
        AnyValueKind::KvlistValue(kv) => Value::Map(attributes(kv.values)),
    }
}

pub fn any_value(value: &Value) -> AnyValue {
    let kind = match value {
        Value::Str(s) => AnyValueKind::StringValue(s.clone()),
        Value::Bool(b) => AnyValueKind::BoolValue(*b),
        Value::Int(i) => AnyValueKind::IntValue(*i),
        Value::Float(f) => AnyValueKind::DoubleValue(*f),
        Value::Bytes(b) => AnyValueKind::BytesValue(b.clone()),
        Value::Array(values) => AnyValueKind::ArrayValue(ArrayValue {
            values: values.iter().map(any_value).collect(),
        }),
        Value::Map(pairs) => AnyValueKind::KvlistValue(KeyValueList {
            values: key_values(pairs),
        }),
    };
    AnyValue { value: Some(kind) }
}

pub fn key_values(list: &[(String, Value)]) -> Vec<KeyValue> {
    list.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(any_value(v)),
        })
        .collect()
}

fn to_otlp_span(span: &Span) -> otlp::Span {
    otlp::Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        trace_state: span.trace_state.clone(),
        parent_span_id: span.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags: span.flags,
        name: span.name.clone(),
        kind: kind_code(span.kind),
        start_time_unix_nano: span.start_ns.max(0) as u64,
        end_time_unix_nano: span.end_ns.max(0) as u64,
        attributes: key_values(&span.attributes),
        dropped_attributes_count: 0,
        events: span
            .events
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: e.time_ns.max(0) as u64,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: span
            .links
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: 0,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: 0,
        status: (span.status != Status::Unset || !span.status_message.is_empty()).then(|| {
            otlp::Status {
                message: span.status_message.clone(),
                code: status_code(span.status),
            }
        }),
    }
}

/// Groups spans by resource, then scope, in first-seen order (spans that
/// shared a resource on ingest share it here).
pub fn to_resource_spans(spans: &[Span]) -> Vec<otlp::ResourceSpans> {
    type ByScope = Vec<(Arc<Scope>, Vec<otlp::Span>)>;
    let mut out: Vec<(Arc<Attributes>, ByScope)> = Vec::new();
    for span in spans {
        let resource = match out
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &span.resource) || **r == *span.resource)
        {
            Some(i) => i,
            None => {
                out.push((span.resource.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let scopes = &mut out[resource].1;
        let scope = match scopes
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, &span.scope) || **s == *span.scope)
        {
            Some(i) => i,
            None => {
                scopes.push((span.scope.clone(), Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[scope].1.push(to_otlp_span(span));
    }
    out.into_iter()
        .map(|(resource, scopes)| otlp::ResourceSpans {
            resource: Some(Resource {
                attributes: key_values(&resource),
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: scopes
                .into_iter()
                .map(|(scope, spans)| otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope.name.clone(),
                        version: scope.version.clone(),
                        attributes: key_values(&scope.attributes),
                        dropped_attributes_count: 0,
                    }),
                    spans,
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(trace_id: Vec<u8>, span_ids: &[Vec<u8>]) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![otlp::ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(any_value(&Value::Str("api".into()))),
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.0".into(),
                        ..Default::default()
                    }),
                    spans: span_ids
                        .iter()
                        .map(|id| otlp::Span {
                            trace_id: trace_id.clone(),
                            span_id: id.clone(),
                            name: "GET /".into(),
                            kind: 2,
                            start_time_unix_nano: 10,
                            end_time_unix_nano: 25,
                            status: Some(otlp::Status {
                                message: "boom".into(),
                                code: 2,
                            }),
                            events: vec![otlp::span::Event {
                                time_unix_nano: 12,
                                name: "exception".into(),
                                attributes: vec![KeyValue {
                                    key: "exception.type".into(),
                                    value: Some(any_value(&Value::Str("E".into()))),
                                }],
                                dropped_attributes_count: 0,
                            }],
                            attributes: vec![KeyValue {
                                key: "list".into(),
                                value: Some(any_value(&Value::Array(vec![
                                    Value::Int(1),
                                    Value::Str("x".into()),
                                ]))),
                            }],
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn a_span_with_a_bad_id_is_refused_alone() {
        let decoded = from_request(request(vec![7; 16], &[vec![1; 8], vec![2; 5], vec![0; 8]]));
        assert_eq!(decoded.spans.len(), 1);
        assert_eq!(decoded.rejected, 2);
        assert!(decoded.first_error.unwrap().contains("invalid span id"));
        let span = &decoded.spans[0];
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.status, Status::Error);
        assert_eq!(span.status_message, "boom");
        assert_eq!(span.service_name(), Some("api"));
        assert_eq!(span.scope.name, "lib");
        assert_eq!(span.events[0].name, "exception");
        assert_eq!(span.duration_ns(), 15);
    }

    #[test]
    fn round_trips_through_resource_spans() {
        let decoded = from_request(request(vec![7; 16], &[vec![1; 8], vec![3; 8]]));
        let again = from_request(ExportTraceServiceRequest {
            resource_spans: to_resource_spans(&decoded.spans),
        });
        assert_eq!(again.spans, decoded.spans);
        assert_eq!(to_resource_spans(&decoded.spans).len(), 1, "one resource");
    }

    #[test]
    fn json_with_hex_ids_and_one_bad_span() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
          "scopeSpans":[{"scope":{"name":"s"},"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"ok","kind":3,
             "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
             "attributes":[{"key":"n","value":{"intValue":"42"}}]},
            {"traceId":"zz","spanId":"eee19b7ec3c1b174","name":"bad"}]}]}]}"#;
        let decoded = decode_json(body).unwrap();
        assert_eq!(decoded.rejected, 1);
        assert_eq!(decoded.spans.len(), 1);
        let span = &decoded.spans[0];
        assert_eq!(
            crate::span::hex(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(span.kind, SpanKind::Client);
        assert_eq!(span.attribute("n"), Some(&Value::Int(42)));
        assert_eq!(span.duration_ns(), 1_000_000_000);
        assert!(decode_json(b"{not json").is_err());
        assert!(decode_protobuf(b"\x0a\xff\xff").is_err());
    }
}
