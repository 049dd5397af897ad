//! The span model: what OTLP ingest produces, the store keeps and the
//! TraceQL evaluator reads.
//!
//! A [`Trace`] is a flat list of [`Span`]s; parent/child links are carried by
//! `parent_span_id`. Status and kind reuse the TraceQL AST enums so filters
//! compare them directly. Resource and scope are shared between the spans
//! of one OTLP batch (`Arc`), as they are on the wire.

use std::sync::Arc;

pub use crate::traceql::ast::{Kind as SpanKind, Status};

/// Attributes in wire order.
pub type Attributes = Vec<(String, Value)>;

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

/// The instrumentation scope (OTLP `InstrumentationScope`, without its
/// attributes' dropped count).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Attributes,
}

/// A span event (OTLP `Span.Event`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    pub time_ns: i64,
    pub name: String,
    pub attributes: Attributes,
}

/// A link to another span (OTLP `Span.Link`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub trace_state: String,
    pub flags: u32,
    pub attributes: Attributes,
}

/// One span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// `None` for a root span.
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub status: Status,
    pub status_message: String,
    /// Start time, Unix nanoseconds.
    pub start_ns: i64,
    /// End time, Unix nanoseconds.
    pub end_ns: i64,
    /// Resource attributes (e.g. `service.name`), shared by a batch's spans.
    pub resource: Arc<Attributes>,
    /// Span attributes.
    pub attributes: Attributes,
    pub scope: Arc<Scope>,
    /// W3C `tracestate`.
    pub trace_state: String,
    /// OTLP span flags (W3C trace flags in the low byte).
    pub flags: u32,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
}

impl Span {
    /// `end_ns - start_ns`, in nanoseconds.
    pub fn duration_ns(&self) -> i64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// A span attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        lookup(&self.attributes, name)
    }

    /// A resource attribute by name.
    pub fn resource_attribute(&self, name: &str) -> Option<&Value> {
        lookup(&self.resource, name)
    }

    /// The `service.name` resource attribute, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        match self.resource_attribute("service.name") {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

fn lookup<'a>(list: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    list.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// All spans of one trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    pub spans: Vec<Span>,
}

impl Trace {
    /// The first span without a parent.
    pub fn root_span(&self) -> Option<&Span> {
        self.spans.iter().find(|s| s.parent_span_id.is_none())
    }

    /// Latest end minus earliest start, in nanoseconds (0 when empty).
    pub fn duration_ns(&self) -> i64 {
        let start = self.spans.iter().map(|s| s.start_ns).min();
        let end = self.spans.iter().map(|s| s.end_ns).max();
        match (start, end) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => 0,
        }
    }

    /// The root span's name.
    pub fn root_name(&self) -> Option<&str> {
        self.root_span().map(|s| s.name.as_str())
    }

    /// The root span's `service.name` resource attribute.
    pub fn root_service_name(&self) -> Option<&str> {
        self.root_span().and_then(Span::service_name)
    }

    /// The trace id (of the first span).
    pub fn trace_id(&self) -> Option<[u8; 16]> {
        self.spans.first().map(|s| s.trace_id)
    }
}

/// Lower-case hex encoding of an id.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, parent: Option<u8>, start: i64, end: i64, svc: &str) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [id, 0, 0, 0, 0, 0, 0, 0],
            parent_span_id: parent.map(|p| [p, 0, 0, 0, 0, 0, 0, 0]),
            name: format!("s{id}"),
            kind: SpanKind::Server,
            status: Status::Unset,
            status_message: String::new(),
            start_ns: start,
            end_ns: end,
            resource: Arc::new(vec![("service.name".into(), Value::Str(svc.into()))]),
            ..Span::default()
        }
    }

    #[test]
    fn trace_helpers() {
        let t = Trace {
            spans: vec![span(2, Some(1), 5, 30, "b"), span(1, None, 10, 20, "a")],
        };
        assert_eq!(t.root_name(), Some("s1"));
        assert_eq!(t.root_service_name(), Some("a"));
        assert_eq!(t.duration_ns(), 25);
        assert_eq!(t.spans[0].duration_ns(), 25);
        assert_eq!(hex(&t.spans[1].span_id), "0100000000000000");
        assert_eq!(Trace::default().duration_ns(), 0);
    }
}
