//! Acknowledged spans survive `kill -9`: a sender pushes OTLP batches to a
//! child `vigil serve` that flushes traces to segments every few hundred
//! milliseconds; it is killed mid-stream, and every span answered 200 is
//! then found, once, in the store reopened on the same directory.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::trace_corpus::{def, request, Def, CLIENT, SERVER};
use common::{agent, Server};
use prost::Message;
use traces::metrics::TracesMetrics;
use traces::{StoreOptions, TraceStore};

const TRACES_PER_BATCH: usize = 20;

fn shape() -> Vec<Def> {
    vec![
        def("frontend", None, SERVER, "GET /", 0, 50),
        def("frontend", Some(0), CLIENT, "GET /cart", 5, 40),
        def("cart", Some(1), SERVER, "GET /cart", 6, 39),
        def("cart", Some(2), CLIENT, "redis GET", 7, 9),
        def("cart", Some(2), CLIENT, "redis SET", 10, 12),
    ]
}

/// Trace ids of batch `b`: the test corpus's ids are one byte; the batch
/// and index go into the rest of the id.
fn ids(batch: usize) -> impl Iterator<Item = (u8, [u8; 16])> {
    (0..TRACES_PER_BATCH).map(move |i| {
        let tag = (i + 1) as u8;
        let mut id = [0xab; 16];
        id[0] = tag;
        id[8..16].copy_from_slice(&(batch as u64).to_be_bytes());
        (tag, id)
    })
}

fn batch_request(
    batch: usize,
    base_ns: u64,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let shape = shape();
    let mut all =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::default();
    for (tag, id) in ids(batch) {
        let mut one = request(
            tag,
            base_ns + batch as u64 * 1_000_000,
            &shape,
            0..shape.len(),
        );
        for resource in &mut one.resource_spans {
            for scope in &mut resource.scope_spans {
                for span in &mut scope.spans {
                    span.trace_id = id.to_vec();
                }
            }
        }
        all.resource_spans.extend(one.resource_spans);
    }
    all
}

#[test]
fn acknowledged_spans_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(
        &data,
        &[
            "--traces.trace-idle",
            "100ms",
            "--traces.max-flush-wait",
            "200ms",
        ],
    );
    let base_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 600_000_000_000;
    let acked = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), server.url("/v1/traces"));
        std::thread::spawn(move || {
            let agent = agent();
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = batch_request(batch, base_ns).encode_to_vec();
                let response = agent
                    .post(&url)
                    .header("Content-Type", "application/x-protobuf")
                    .send(&body[..]);
                match response {
                    Ok(r) if r.status() == 200 => {
                        batch += 1;
                        *acked.lock().unwrap() = batch;
                    }
                    _ => break,
                }
            }
        })
    };
    let segments = data.join("traces/segments");
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = || {
        std::fs::read_dir(&segments).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))
            })
            .count()
        })
    };
    while count() < 2 {
        assert!(
            Instant::now() < deadline,
            "no flush within 60 s:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acked_batches = *acked.lock().unwrap();
    assert!(
        acked_batches > 10,
        "only {acked_batches} batches were acknowledged"
    );

    let store = TraceStore::open(
        &data.join("traces"),
        StoreOptions::default(),
        TracesMetrics::unregistered(),
    )
    .unwrap();
    assert!(!store.segments().is_empty());
    // Every span stored, segments and replayed head, read once.
    let mut stored: HashMap<[u8; 16], Vec<[u8; 8]>> = HashMap::new();
    for segment in store.segments() {
        for b in 0..segment.blocks.len() {
            let summary = segment.summary(b).unwrap();
            let block = segment.read_block(b).unwrap();
            for trace in segment.decode_traces(&block, &summary.traces).unwrap() {
                for span in trace.spans {
                    stored.entry(span.trace_id).or_default().push(span.span_id);
                }
            }
        }
    }
    store.for_each_recent(i64::MIN, i64::MAX, |trace| {
        for span in &trace.spans {
            stored.entry(span.trace_id).or_default().push(span.span_id);
        }
        true
    });
    for batch in 0..acked_batches {
        for (_, id) in ids(batch) {
            let spans = stored
                .get(&id)
                .unwrap_or_else(|| panic!("acknowledged trace of batch {batch} lost"));
            assert_eq!(
                spans.len(),
                5,
                "batch {batch}: a span lost or stored twice: {spans:?}"
            );
        }
    }
    // The batch in flight at the kill may have been stored without its answer.
    assert!(stored.len() <= (acked_batches + 1) * TRACES_PER_BATCH);
}
