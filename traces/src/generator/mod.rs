//! Metrics from spans: a port of Tempo's metrics-generator processors
//! `span-metrics` (`modules/generator/processor/spanmetrics`) and
//! `service-graphs` (`modules/generator/processor/servicegraphs`) with their
//! default configuration, emitting Tempo's metric and label names so
//! Grafana's RED and service-graph views work against Vigil's Prometheus API.
//!
//! [`Generator::observe`] is fed every accepted batch of spans;
//! [`Generator::collect`] expires unpaired service-graph edges and returns the
//! cumulative value of every series as [`Sample`]s.
//!
//! Span metrics (details in `spanmetrics.rs`), per
//! `{service, span_name, span_kind, status_code}`:
//! `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_bucket|_sum|_count`
//! (seconds) and `traces_spanmetrics_size_total` (the span's OTLP protobuf
//! size; Tempo enables this "size" subprocessor by default).
//!
//! Service graph (details in `servicegraph.rs`), per
//! `{client, server, connection_type}`: `traces_service_graph_request_total`,
//! `traces_service_graph_request_failed_total` and the
//! `traces_service_graph_request_server_seconds` /
//! `traces_service_graph_request_client_seconds` histograms.
//!
//! Labels follow Tempo's registry: a label whose value is empty is dropped
//! (so a span without `service.name` has no `service` label, and a plain
//! client/server edge has no `connection_type` label); `le` is formatted like
//! Go's `strconv.FormatFloat(v, 'f', -1, 64)` (`0.002`, `16.384`, `+Inf`).
//!
//! Not ported (all off by default in Tempo): extra `dimensions`, span
//! multipliers, filter policies, `target_info`, `status_message`, native
//! histograms, the `virtual_node` label, client/server dimension prefixes
//! and the messaging-system latency histogram. Tempo's registry also drops
//! series not updated for 15 minutes and caps active series; here series
//! live for the life of the [`Generator`].

mod servicegraph;
mod spanmetrics;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::span::{Span, Value};
use tsdb::promql::format_value;

/// Configuration; [`Default`] gives Tempo's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Span-metrics latency buckets in seconds. Tempo:
    /// `prometheus.ExponentialBuckets(0.002, 2, 14)` (0.002 … 16.384).
    pub histogram_buckets: Vec<f64>,
    /// Service-graph latency buckets in seconds. Tempo's service-graphs
    /// processor has its own default, `prometheus.ExponentialBuckets(0.1, 2, 8)`
    /// (0.1 … 12.8).
    pub service_graph_histogram_buckets: Vec<f64>,
    /// How long half an edge waits for its other half (Tempo's `wait`, 10s).
    pub service_graph_wait: Duration,
    /// Most pending (unpaired) edges; further new edges are dropped
    /// (Tempo's `max_items`, 10 000).
    pub max_items: usize,
    /// Span attributes naming an uninstrumented peer, first present wins
    /// (Tempo's `peer_attributes`: `peer.service`, `db.name`, `db.system`).
    pub peer_attributes: Vec<String>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            histogram_buckets: exponential_buckets(0.002, 2.0, 14),
            service_graph_histogram_buckets: exponential_buckets(0.1, 2.0, 8),
            service_graph_wait: Duration::from_secs(10),
            max_items: 10_000,
            peer_attributes: vec!["peer.service".into(), "db.name".into(), "db.system".into()],
        }
    }
}

/// `count` buckets starting at `start`, each `factor` times the previous
/// (Prometheus' `ExponentialBuckets`, computed the same way).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut next = start;
    for _ in 0..count {
        out.push(next);
        next *= factor;
    }
    out
}

/// One series' current value. `labels` include `("__name__", metric)` and
/// are sorted by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The metric name (`__name__`).
    pub fn name(&self) -> &str {
        self.label("__name__").unwrap_or("")
    }
}

/// The generator's own counters, Tempo's `tempo_metrics_generator_processor_service_graphs_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneratorStats {
    /// New edges accepted (`..._edges`): stored, or complete at once.
    pub service_graph_edges: u64,
    /// Edges that expired without a pair and produced no series (`..._expired_edges`).
    pub service_graph_expired_edges: u64,
    /// Spans dropped because `max_items` edges were pending (`..._dropped_spans`).
    pub service_graph_dropped_spans: u64,
    /// Edges currently waiting for their other half.
    pub service_graph_pending_edges: usize,
}

/// The metrics generator. `Send + Sync`; each processor has its own lock.
pub struct Generator {
    span_metrics: Mutex<spanmetrics::SpanMetrics>,
    service_graph: Mutex<servicegraph::ServiceGraph>,
}

impl Generator {
    pub fn new(config: GeneratorConfig) -> Self {
        Generator {
            span_metrics: Mutex::new(spanmetrics::SpanMetrics::new(&config.histogram_buckets)),
            service_graph: Mutex::new(servicegraph::ServiceGraph::new(&config)),
        }
    }

    /// Feeds one accepted batch of spans (may be called from several threads).
    /// `now` timestamps new service-graph edges for expiry.
    pub fn observe(&self, spans: &[Span], now: Instant) {
        if spans.is_empty() {
            return;
        }
        // Per-span work that needs no lock (latency, protobuf size) first.
        let measured = spanmetrics::measure(spans);
        self.span_metrics.lock().observe(spans, &measured);
        self.service_graph.lock().observe(spans, now);
    }

    /// Expires service-graph edges that waited `service_graph_wait` (turning
    /// them into virtual-node edges where Tempo does) and returns every
    /// series' cumulative value.
    pub fn collect(&self, now: Instant) -> Vec<Sample> {
        let mut out = Vec::new();
        self.span_metrics.lock().collect(&mut out);
        let mut graph = self.service_graph.lock();
        graph.expire(now);
        graph.collect(&mut out);
        out
    }

    /// The generator's own counters.
    pub fn stats(&self) -> GeneratorStats {
        self.service_graph.lock().stats()
    }
}

/// Sorted, finite, deduplicated bucket bounds (without `+Inf`).
fn normalize_buckets(buckets: &[f64]) -> Box<[f64]> {
    let mut b: Vec<f64> = buckets.iter().copied().filter(|v| v.is_finite()).collect();
    b.sort_by(f64::total_cmp);
    b.dedup();
    b.into_boxed_slice()
}

/// A classic histogram: per-bucket counts (the last is `+Inf`), made
/// cumulative when collected.
#[derive(Clone, Debug)]
struct Histogram {
    counts: Box<[u64]>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram {
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        }
    }

    /// Counts `v` in the first bucket with `v <= le`, as Prometheus does.
    fn observe(&mut self, bounds: &[f64], v: f64) {
        let i = bounds.partition_point(|b| *b < v);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// Appends `<base>_bucket` (one per `le`), `<base>_sum` and `<base>_count`.
    fn samples(&self, out: &mut Vec<Sample>, base: &str, labels: &[(&str, &str)], le: &[String]) {
        let bucket = format!("{base}_bucket");
        let mut cumulative = 0u64;
        for (c, le) in self.counts.iter().zip(le) {
            cumulative += c;
            out.push(sample_with_le(&bucket, labels, le, cumulative as f64));
        }
        out.push(sample(&format!("{base}_sum"), labels, self.sum));
        out.push(sample(&format!("{base}_count"), labels, self.count as f64));
    }
}

/// `le` label values for `bounds` plus `+Inf`.
fn le_labels(bounds: &[f64]) -> Box<[String]> {
    bounds
        .iter()
        .map(|b| format_value(*b))
        .chain(std::iter::once("+Inf".to_string()))
        .collect()
}

/// A sample named `name` with `labels`; empty values are dropped (Tempo's
/// label builder deletes them) and labels are sorted by name.
fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
    let mut out = Vec::with_capacity(labels.len() + 2);
    out.push(("__name__".to_string(), name.to_string()));
    for (k, v) in labels {
        if !v.is_empty() {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Sample { labels: out, value }
}

fn sample_with_le(name: &str, labels: &[(&str, &str)], le: &str, value: f64) -> Sample {
    let mut s = sample(name, labels, value);
    let at = s.labels.partition_point(|(k, _)| k.as_str() < "le");
    s.labels.insert(at, ("le".to_string(), le.to_string()));
    s
}

/// The first attribute named `key` in each list in turn (Tempo's
/// `FindAttributeValue`), as a string.
fn find_attribute<'a>(key: &str, lists: &[&'a [(String, Value)]]) -> Option<Cow<'a, str>> {
    lists
        .iter()
        .find_map(|list| list.iter().find(|(k, _)| k == key))
        .map(|(_, v)| stringify(v))
}

/// Tempo's `StringifyAnyValue`: strings as is, bools `true`/`false`, ints
/// in decimal, floats as `FormatFloat(v, 'f', -1, 64)`, arrays `[` + items
/// concatenated + `]`, maps `{` + `k:v` concatenated + `}`, bytes empty.
fn stringify(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::Int(i) => Cow::Owned(i.to_string()),
        Value::Float(f) => Cow::Owned(format_value(*f)),
        Value::Bytes(_) => Cow::Borrowed(""),
        Value::Array(items) => {
            let mut s = String::from("[");
            for item in items {
                s.push_str(&stringify(item));
            }
            s.push(']');
            Cow::Owned(s)
        }
        Value::Map(kvs) => {
            let mut s = String::from("{");
            for (k, item) in kvs {
                s.push_str(k);
                s.push(':');
                s.push_str(&stringify(item));
            }
            s.push('}');
            Cow::Owned(s)
        }
    }
}

/// A span's duration in seconds; 0 when it ends before it starts (Tempo
/// treats negative latencies as zero in both processors).
fn duration_seconds(span: &Span) -> f64 {
    span.duration_ns().max(0) as f64 / 1e9
}
