//! The row encoding of spans, shared by the WAL and the segment blocks
//! (layout in FORMAT.md, "Trace records").
//!
//! A *trace record* holds spans of one trace: the trace id once, a table of
//! the distinct resources and scopes its spans use, then the spans, each
//! naming its resource and scope by index. Times are deltas from the
//! record's earliest start, so they take a few bytes each.

use std::sync::Arc;

use tsdb::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Reader};

use crate::otlp::{kind_code, kind_from_code, status_code, status_from_code};
use crate::span::{Attributes, Event, Link, Scope, Span, Value};

const VALUE_STR: u8 = 0;
const VALUE_INT: u8 = 1;
const VALUE_FLOAT: u8 = 2;
const VALUE_BOOL: u8 = 3;
const VALUE_BYTES: u8 = 4;
const VALUE_ARRAY: u8 = 5;
const VALUE_MAP: u8 = 6;

/// Appends one trace record holding `spans` (all of one trace id).
pub fn encode_trace(spans: &[&Span], out: &mut Vec<u8>) {
    let Some(first) = spans.first() else {
        return;
    };
    out.extend_from_slice(&first.trace_id);
    let base = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    put_varint(out, base);
    let mut resources: Vec<&Arc<Attributes>> = Vec::new();
    let mut scopes: Vec<&Arc<Scope>> = Vec::new();
    let mut refs = Vec::with_capacity(spans.len());
    for span in spans {
        let r = position_or_push(&mut resources, &span.resource);
        let s = position_or_push(&mut scopes, &span.scope);
        refs.push((r, s));
    }
    put_uvarint(out, resources.len() as u64);
    for resource in &resources {
        put_attributes(out, resource);
    }
    put_uvarint(out, scopes.len() as u64);
    for scope in &scopes {
        put_bytes(out, scope.name.as_bytes());
        put_bytes(out, scope.version.as_bytes());
        put_attributes(out, &scope.attributes);
    }
    put_uvarint(out, spans.len() as u64);
    for (span, (r, s)) in spans.iter().zip(refs) {
        put_uvarint(out, r as u64);
        put_uvarint(out, s as u64);
        out.extend_from_slice(&span.span_id);
        match span.parent_span_id {
            Some(parent) => {
                out.push(1);
                out.extend_from_slice(&parent);
            }
            None => out.push(0),
        }
        put_bytes(out, span.name.as_bytes());
        out.push((kind_code(span.kind) as u8) << 2 | status_code(span.status) as u8);
        put_bytes(out, span.status_message.as_bytes());
        put_varint(out, span.start_ns.wrapping_sub(base));
        put_varint(out, span.end_ns.wrapping_sub(span.start_ns));
        put_bytes(out, span.trace_state.as_bytes());
        put_uvarint(out, span.flags as u64);
        put_attributes(out, &span.attributes);
        put_uvarint(out, span.events.len() as u64);
        for event in &span.events {
            put_varint(out, event.time_ns.wrapping_sub(span.start_ns));
            put_bytes(out, event.name.as_bytes());
            put_attributes(out, &event.attributes);
        }
        put_uvarint(out, span.links.len() as u64);
        for link in &span.links {
            out.extend_from_slice(&link.trace_id);
            out.extend_from_slice(&link.span_id);
            put_bytes(out, link.trace_state.as_bytes());
            put_uvarint(out, link.flags as u64);
            put_attributes(out, &link.attributes);
        }
    }
}

fn position_or_push<'a, T: PartialEq>(list: &mut Vec<&'a Arc<T>>, item: &'a Arc<T>) -> usize {
    match list
        .iter()
        .position(|x| Arc::ptr_eq(x, item) || ***x == **item)
    {
        Some(i) => i,
        None => {
            list.push(item);
            list.len() - 1
        }
    }
}

fn put_attributes(out: &mut Vec<u8>, attributes: &[(String, Value)]) {
    put_uvarint(out, attributes.len() as u64);
    for (key, value) in attributes {
        put_bytes(out, key.as_bytes());
        put_value(out, value);
    }
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push(VALUE_STR);
            put_bytes(out, s.as_bytes());
        }
        Value::Int(i) => {
            out.push(VALUE_INT);
            put_varint(out, *i);
        }
        Value::Float(f) => {
            out.push(VALUE_FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Bool(b) => {
            out.push(VALUE_BOOL);
            out.push(*b as u8);
        }
        Value::Bytes(b) => {
            out.push(VALUE_BYTES);
            put_bytes(out, b);
        }
        Value::Array(values) => {
            out.push(VALUE_ARRAY);
            put_uvarint(out, values.len() as u64);
            for v in values {
                put_value(out, v);
            }
        }
        Value::Map(pairs) => {
            out.push(VALUE_MAP);
            put_attributes(out, pairs);
        }
    }
}

/// Reads one trace record, appending its spans to `out`.
pub fn decode_trace(reader: &mut Reader<'_>, out: &mut Vec<Span>) -> Result<(), DecodeError> {
    let trace_id: [u8; 16] = reader.bytes(16)?.try_into().expect("16 bytes");
    let base = reader.varint()?;
    let resource_count = bounded(reader.uvarint()?, reader)?;
    let mut resources = Vec::with_capacity(resource_count);
    for _ in 0..resource_count {
        resources.push(Arc::new(read_attributes(reader, 0)?));
    }
    let scope_count = bounded(reader.uvarint()?, reader)?;
    let mut scopes = Vec::with_capacity(scope_count);
    for _ in 0..scope_count {
        scopes.push(Arc::new(Scope {
            name: reader.str()?.to_string(),
            version: reader.str()?.to_string(),
            attributes: read_attributes(reader, 0)?,
        }));
    }
    let span_count = bounded(reader.uvarint()?, reader)?;
    out.reserve(span_count);
    for _ in 0..span_count {
        let resource = resources
            .get(reader.uvarint()? as usize)
            .ok_or(DecodeError(
                "span names a resource that is not in its record",
            ))?
            .clone();
        let scope = scopes
            .get(reader.uvarint()? as usize)
            .ok_or(DecodeError("span names a scope that is not in its record"))?
            .clone();
        let span_id: [u8; 8] = reader.bytes(8)?.try_into().expect("8 bytes");
        let parent_span_id = match reader.u8()? {
            0 => None,
            _ => Some(reader.bytes(8)?.try_into().expect("8 bytes")),
        };
        let name = reader.str()?.to_string();
        let kind_status = reader.u8()?;
        let status_message = reader.str()?.to_string();
        let start_ns = base.wrapping_add(reader.varint()?);
        let end_ns = start_ns.wrapping_add(reader.varint()?);
        let trace_state = reader.str()?.to_string();
        let flags = reader.uvarint()? as u32;
        let attributes = read_attributes(reader, 0)?;
        let event_count = bounded(reader.uvarint()?, reader)?;
        let mut events = Vec::with_capacity(event_count);
        for _ in 0..event_count {
            events.push(Event {
                time_ns: start_ns.wrapping_add(reader.varint()?),
                name: reader.str()?.to_string(),
                attributes: read_attributes(reader, 0)?,
            });
        }
        let link_count = bounded(reader.uvarint()?, reader)?;
        let mut links = Vec::with_capacity(link_count);
        for _ in 0..link_count {
            links.push(Link {
                trace_id: reader.bytes(16)?.try_into().expect("16 bytes"),
                span_id: reader.bytes(8)?.try_into().expect("8 bytes"),
                trace_state: reader.str()?.to_string(),
                flags: reader.uvarint()? as u32,
                attributes: read_attributes(reader, 0)?,
            });
        }
        out.push(Span {
            trace_id,
            span_id,
            parent_span_id,
            name,
            kind: kind_from_code((kind_status >> 2) as i32),
            status: status_from_code((kind_status & 3) as i32),
            status_message,
            start_ns,
            end_ns,
            resource,
            attributes,
            scope,
            trace_state,
            flags,
            events,
            links,
        });
    }
    Ok(())
}

/// Reads only the trace id of the record at the reader, then skips it.
pub fn peek_trace_id(bytes: &[u8]) -> Option<[u8; 16]> {
    bytes.get(..16)?.try_into().ok()
}

/// A count read from the input cannot exceed the bytes left (every element
/// takes at least one), so a corrupt count cannot allocate without bound.
fn bounded(count: u64, reader: &Reader<'_>) -> Result<usize, DecodeError> {
    if count > reader.remaining() as u64 {
        return Err(DecodeError("count larger than the record"));
    }
    Ok(count as usize)
}

const MAX_NESTING: usize = 32;

fn read_attributes(reader: &mut Reader<'_>, depth: usize) -> Result<Attributes, DecodeError> {
    let count = bounded(reader.uvarint()?, reader)?;
    let mut attributes = Vec::with_capacity(count);
    for _ in 0..count {
        let key = reader.str()?.to_string();
        attributes.push((key, read_value(reader, depth)?));
    }
    Ok(attributes)
}

fn read_value(reader: &mut Reader<'_>, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_NESTING {
        return Err(DecodeError("attribute values nested too deep"));
    }
    Ok(match reader.u8()? {
        VALUE_STR => Value::Str(reader.str()?.to_string()),
        VALUE_INT => Value::Int(reader.varint()?),
        VALUE_FLOAT => Value::Float(f64::from_le_bytes(
            reader.bytes(8)?.try_into().expect("8 bytes"),
        )),
        VALUE_BOOL => Value::Bool(reader.u8()? != 0),
        VALUE_BYTES => Value::Bytes(reader.len_prefixed()?.to_vec()),
        VALUE_ARRAY => {
            let count = bounded(reader.uvarint()?, reader)?;
            let mut values = Vec::with_capacity(count);
            for _ in 0..count {
                values.push(read_value(reader, depth + 1)?);
            }
            Value::Array(values)
        }
        VALUE_MAP => Value::Map(read_attributes(reader, depth + 1)?),
        _ => return Err(DecodeError("unknown attribute value type")),
    })
}

/// Groups spans by trace id, in first-seen order.
pub fn group_by_trace(spans: &[Span]) -> Vec<Vec<&Span>> {
    let mut index: rustc_hash::FxHashMap<[u8; 16], usize> = Default::default();
    let mut groups: Vec<Vec<&Span>> = Vec::new();
    for span in spans {
        let i = *index.entry(span.trace_id).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(span);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanKind, Status};

    fn sample() -> Vec<Span> {
        let resource = Arc::new(vec![("service.name".to_string(), Value::Str("api".into()))]);
        let scope = Arc::new(Scope {
            name: "lib".into(),
            version: "2".into(),
            attributes: vec![],
        });
        vec![
            Span {
                trace_id: [9; 16],
                span_id: [1; 8],
                name: "root".into(),
                kind: SpanKind::Server,
                status: Status::Error,
                status_message: "bad".into(),
                start_ns: 1_700_000_000_000_000_000,
                end_ns: 1_700_000_000_500_000_000,
                resource: resource.clone(),
                scope: scope.clone(),
                attributes: vec![
                    ("n".into(), Value::Int(-3)),
                    ("f".into(), Value::Float(0.5)),
                    ("b".into(), Value::Bool(true)),
                    ("raw".into(), Value::Bytes(vec![0, 255])),
                    (
                        "m".into(),
                        Value::Map(vec![(
                            "a".into(),
                            Value::Array(vec![Value::Str("x".into()), Value::Int(1)]),
                        )]),
                    ),
                ],
                events: vec![Event {
                    time_ns: 1_700_000_000_100_000_000,
                    name: "exception".into(),
                    attributes: vec![("exception.type".into(), Value::Str("E".into()))],
                }],
                links: vec![Link {
                    trace_id: [3; 16],
                    span_id: [4; 8],
                    trace_state: "k=v".into(),
                    flags: 1,
                    attributes: vec![],
                }],
                trace_state: "a=b".into(),
                flags: 257,
                ..Span::default()
            },
            Span {
                trace_id: [9; 16],
                span_id: [2; 8],
                parent_span_id: Some([1; 8]),
                name: "child".into(),
                kind: SpanKind::Client,
                start_ns: 1_700_000_000_010_000_000,
                end_ns: 1_700_000_000_020_000_000,
                resource,
                scope,
                ..Span::default()
            },
        ]
    }

    #[test]
    fn round_trip() {
        let spans = sample();
        let mut bytes = Vec::new();
        encode_trace(&spans.iter().collect::<Vec<_>>(), &mut bytes);
        let mut reader = Reader::new(&bytes);
        let mut back = Vec::new();
        decode_trace(&mut reader, &mut back).unwrap();
        assert!(reader.is_empty());
        assert_eq!(back, spans);
        assert!(Arc::ptr_eq(&back[0].resource, &back[1].resource));
        assert_eq!(peek_trace_id(&bytes), Some([9; 16]));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let spans = sample();
        let mut bytes = Vec::new();
        encode_trace(&spans.iter().collect::<Vec<_>>(), &mut bytes);
        for cut in 0..bytes.len() {
            let mut reader = Reader::new(&bytes[..cut]);
            assert!(
                decode_trace(&mut reader, &mut Vec::new()).is_err(),
                "cut at {cut}"
            );
        }
    }
}
