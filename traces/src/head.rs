//! The head: traces not yet flushed, by trace id. Spans of one trace that
//! arrive in several pushes are gathered here; a span id seen twice in a
//! trace (an exporter's retry) is kept once.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::span::{Span, Trace};

pub struct HeadTrace {
    pub trace: Trace,
    pub start_ns: i64,
    pub end_ns: i64,
    /// When the last span arrived: a trace idle for `trace_idle` is complete.
    pub last_append: Instant,
    /// Estimated memory held.
    pub bytes: usize,
}

#[derive(Default)]
pub struct Head {
    pub traces: FxHashMap<[u8; 16], HeadTrace>,
    pub bytes: usize,
    pub spans: usize,
}

/// What a span holds in memory, roughly: the struct and its heap parts
/// (shared resources and scopes are counted once per batch by the caller).
pub fn span_bytes(span: &Span) -> usize {
    fn attrs(list: &[(String, crate::span::Value)]) -> usize {
        list.iter()
            .map(|(k, v)| {
                k.len()
                    + 48
                    + match v {
                        crate::span::Value::Str(s) => s.len(),
                        crate::span::Value::Bytes(b) => b.len(),
                        _ => 16,
                    }
            })
            .sum()
    }
    std::mem::size_of::<Span>()
        + span.name.len()
        + span.status_message.len()
        + span.trace_state.len()
        + attrs(&span.attributes)
        + span
            .events
            .iter()
            .map(|e| 64 + e.name.len() + attrs(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| 80 + l.trace_state.len() + attrs(&l.attributes))
            .sum::<usize>()
}

impl Head {
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty()
    }

    /// Adds spans; returns how many were new (not duplicates).
    pub fn append(&mut self, spans: Vec<Span>, now: Instant) -> usize {
        let mut added = 0;
        for span in spans {
            let bytes = span_bytes(&span);
            let entry = self
                .traces
                .entry(span.trace_id)
                .or_insert_with(|| HeadTrace {
                    trace: Trace::default(),
                    start_ns: i64::MAX,
                    end_ns: i64::MIN,
                    last_append: now,
                    bytes: 0,
                });
            if entry.trace.spans.iter().any(|s| s.span_id == span.span_id) {
                continue;
            }
            entry.start_ns = entry.start_ns.min(span.start_ns);
            entry.end_ns = entry.end_ns.max(span.end_ns);
            entry.last_append = now;
            entry.bytes += bytes;
            entry.trace.spans.push(span);
            self.bytes += bytes;
            self.spans += 1;
            added += 1;
        }
        added
    }

    /// Removes and returns the traces idle for `idle` (all when `all`),
    /// oldest first.
    pub fn take(&mut self, all: bool, idle: Duration, now: Instant) -> Vec<HeadTrace> {
        let ready: Vec<[u8; 16]> = self
            .traces
            .iter()
            .filter(|(_, t)| all || now.saturating_duration_since(t.last_append) >= idle)
            .map(|(id, _)| *id)
            .collect();
        let mut taken: Vec<HeadTrace> = ready
            .iter()
            .filter_map(|id| self.traces.remove(id))
            .collect();
        for t in &taken {
            self.bytes -= t.bytes;
            self.spans -= t.trace.spans.len();
        }
        taken.sort_unstable_by_key(|t| t.start_ns);
        taken
    }

    /// Puts traces back (a failed flush), merging with spans that arrived since.
    pub fn put_back(&mut self, traces: Vec<HeadTrace>, now: Instant) {
        for t in traces {
            self.append(t.trace.spans, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: u8, id: u8) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [id; 8],
            start_ns: id as i64,
            end_ns: id as i64 + 10,
            ..Span::default()
        }
    }

    #[test]
    fn gathers_traces_dedupes_retries_and_takes_idle_ones() {
        let mut head = Head::default();
        let t0 = Instant::now();
        assert_eq!(head.append(vec![span(1, 1), span(2, 1)], t0), 2);
        let later = t0 + Duration::from_secs(20);
        assert_eq!(
            head.append(vec![span(2, 2), span(2, 1)], later),
            1,
            "retry dropped"
        );
        assert_eq!(head.spans, 3);
        let taken = head.take(false, Duration::from_secs(10), later);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].trace.spans[0].trace_id, [1; 16]);
        assert_eq!(head.spans, 2);
        let rest = head.take(true, Duration::from_secs(10), later);
        assert_eq!(rest[0].trace.spans.len(), 2);
        assert_eq!((head.bytes, head.spans), (0, 0));
    }
}
