//! Tempo's `span-metrics` processor with its defaults: intrinsic dimensions
//! `service`, `span_name`, `span_kind`, `status_code` and the three default
//! subprocessors, `count` (`traces_spanmetrics_calls_total`), `latency`
//! (`traces_spanmetrics_latency`, seconds, `end - start` or 0 when negative)
//! and `size` (`traces_spanmetrics_size_total`, adding Tempo's `span.Size()`,
//! the span's protobuf-encoded size).
//!
//! `service` is the resource's `service.name` stringified as Tempo does; a
//! span without one gets no `service` label (Tempo has no fallback name: its
//! label builder drops the empty value). `span_kind` and `status_code` are
//! the OTLP enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`, ...).
//!
//! Series are found through a two-level map, service then span name, whose
//! leaf holds the series index for each (kind, status) pair: a span of a
//! known series costs two borrowed-key lookups and no allocation.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    duration_seconds, find_attribute, le_labels, normalize_buckets, sample, Histogram, Sample,
};
use crate::otlp::{kind_code, kind_name, status_code, status_name};
use crate::span::{Attributes, Span, SpanKind, Status, Value};

const NO_SERIES: u32 = u32::MAX;
/// Six kinds times three statuses.
const SLOTS: usize = 18;

/// Per-span measurements taken before locking: latency in seconds and
/// protobuf size in bytes.
pub(super) fn measure(spans: &[Span]) -> Vec<(f64, u64)> {
    spans
        .iter()
        .map(|s| (duration_seconds(s), span_proto_size(s)))
        .collect()
}

pub(super) struct SpanMetrics {
    bounds: Box<[f64]>,
    le: Box<[String]>,
    /// service (empty when absent) -> index in `by_service`.
    services: HashMap<Arc<str>, usize>,
    by_service: Vec<ServiceSeries>,
    series: Vec<Series>,
}

struct ServiceSeries {
    service: Arc<str>,
    /// span name -> series index per `kind_index * 3 + status_index`.
    names: HashMap<Box<str>, [u32; SLOTS]>,
}

struct Series {
    service: Arc<str>,
    name: Box<str>,
    kind: SpanKind,
    status: Status,
    calls: u64,
    size: u64,
    latency: Histogram,
}

impl SpanMetrics {
    pub(super) fn new(buckets: &[f64]) -> Self {
        let bounds = normalize_buckets(buckets);
        SpanMetrics {
            le: le_labels(&bounds),
            bounds,
            services: HashMap::new(),
            by_service: Vec::new(),
            series: Vec::new(),
        }
    }

    /// `measured` is [`measure`]`(spans)`.
    pub(super) fn observe(&mut self, spans: &[Span], measured: &[(f64, u64)]) {
        // Spans of one OTLP resource share its `Arc`: resolve the service
        // once per run of spans with the same resource.
        let mut current: Option<(*const Attributes, usize)> = None;
        for (span, &(latency, size)) in spans.iter().zip(measured) {
            let resource = Arc::as_ptr(&span.resource);
            let service = match current {
                Some((ptr, service)) if ptr == resource => service,
                _ => self.service_index(span),
            };
            current = Some((resource, service));
            let SpanMetrics {
                bounds,
                by_service,
                series,
                ..
            } = self;
            let Some(entry) = by_service.get_mut(service) else {
                continue;
            };
            let slots = match entry.names.get_mut(span.name.as_str()) {
                Some(slots) => slots,
                None => entry
                    .names
                    .entry(span.name.as_str().into())
                    .or_insert([NO_SERIES; SLOTS]),
            };
            let slot = kind_code(span.kind) as usize * 3 + status_code(span.status) as usize;
            let index = match slots[slot] {
                NO_SERIES => {
                    let Ok(index) = u32::try_from(series.len()) else {
                        continue;
                    };
                    series.push(Series {
                        service: entry.service.clone(),
                        name: span.name.as_str().into(),
                        kind: span.kind,
                        status: span.status,
                        calls: 0,
                        size: 0,
                        latency: Histogram::new(bounds),
                    });
                    slots[slot] = index;
                    index
                }
                index => index,
            };
            if let Some(s) = series.get_mut(index as usize) {
                s.calls += 1;
                s.size += size;
                s.latency.observe(bounds, latency);
            }
        }
    }

    pub(super) fn collect(&self, out: &mut Vec<Sample>) {
        out.reserve(self.series.len() * (self.le.len() + 4));
        for s in &self.series {
            let labels = [
                ("service", &*s.service),
                ("span_name", &*s.name),
                ("span_kind", kind_name(s.kind)),
                ("status_code", status_name(s.status)),
            ];
            out.push(sample(
                "traces_spanmetrics_calls_total",
                &labels,
                s.calls as f64,
            ));
            s.latency
                .samples(out, "traces_spanmetrics_latency", &labels, &self.le);
            out.push(sample(
                "traces_spanmetrics_size_total",
                &labels,
                s.size as f64,
            ));
        }
    }

    /// The index in `by_service` of `span`'s service, created on first sight.
    fn service_index(&mut self, span: &Span) -> usize {
        let service = find_attribute("service.name", &[&span.resource[..]]).unwrap_or_default();
        if let Some(&index) = self.services.get(&*service) {
            return index;
        }
        let key: Arc<str> = Arc::from(&*service);
        let index = self.by_service.len();
        self.by_service.push(ServiceSeries {
            service: key.clone(),
            names: HashMap::new(),
        });
        self.services.insert(key, index);
        index
    }
}

/// The size of `span` encoded as an OTLP `Span` message, i.e. gogo-proto's
/// `Span.Size()` that Tempo adds to `traces_spanmetrics_size_total`.
/// Dropped counts are not in the model and count as 0 (not encoded). The
/// `status` field is counted as present (2 bytes even when empty), as every
/// OpenTelemetry SDK and the Collector send it.
pub(super) fn span_proto_size(span: &Span) -> u64 {
    let mut n = bytes_field(16) + bytes_field(8); // trace_id, span_id
    n += string_field(&span.trace_state);
    if span.parent_span_id.is_some() {
        n += bytes_field(8);
    }
    n += string_field(&span.name);
    let kind = kind_code(span.kind) as u64;
    if kind != 0 {
        n += 1 + varint_len(kind);
    }
    if span.start_ns != 0 {
        n += 9;
    }
    if span.end_ns != 0 {
        n += 9;
    }
    n += attributes_size(&span.attributes);
    for event in &span.events {
        let mut e = 0;
        if event.time_ns != 0 {
            e += 9;
        }
        e += string_field(&event.name);
        e += attributes_size(&event.attributes);
        n += message_field(e);
    }
    for link in &span.links {
        let mut l = bytes_field(16) + bytes_field(8);
        l += string_field(&link.trace_state);
        l += attributes_size(&link.attributes);
        if link.flags != 0 {
            l += 5;
        }
        n += message_field(l);
    }
    let mut status = string_field(&span.status_message);
    let code = match span.status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error => 2,
    };
    if code != 0 {
        status += 2;
    }
    n += message_field(status);
    if span.flags != 0 {
        n += 6; // fixed32, field 16: two-byte tag
    }
    n
}

/// Length-delimited field with a one-byte tag, of `len` bytes.
fn message_field(len: u64) -> u64 {
    1 + varint_len(len) + len
}

/// A proto3 `bytes` field of `len` bytes (omitted when empty).
fn bytes_field(len: u64) -> u64 {
    if len == 0 {
        0
    } else {
        message_field(len)
    }
}

fn string_field(s: &str) -> u64 {
    bytes_field(s.len() as u64)
}

fn attributes_size(attrs: &[(String, Value)]) -> u64 {
    attrs
        .iter()
        .map(|(k, v)| message_field(key_value_size(k, v)))
        .sum()
}

fn key_value_size(key: &str, value: &Value) -> u64 {
    string_field(key) + message_field(any_value_size(value))
}

/// `AnyValue`: a oneof, so the chosen member is encoded even when empty.
fn any_value_size(value: &Value) -> u64 {
    match value {
        Value::Str(s) => message_field(s.len() as u64),
        Value::Bool(_) => 2,
        Value::Int(i) => 1 + varint_len(*i as u64),
        Value::Float(_) => 9,
        Value::Bytes(b) => message_field(b.len() as u64),
        Value::Array(items) => {
            message_field(items.iter().map(|v| message_field(any_value_size(v))).sum())
        }
        Value::Map(kvs) => message_field(attributes_size(kvs)),
    }
}

fn varint_len(v: u64) -> u64 {
    let bits = 64 - (v | 1).leading_zeros() as u64;
    bits.div_ceil(7)
}
