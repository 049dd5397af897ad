//! Acknowledged log lines survive `kill -9`: a sender pushes batches to a
//! child `vigil serve` (with flushes to partitions happening meanwhile),
//! which is killed mid-stream; every line answered 204 is then read back
//! exactly once, from the store reopened on the same directory.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{agent, Server};
use logs::store::{now_ns, Direction, ReadStats};
use logs::{LogStore, StoreOptions};

const STREAMS: usize = 20;

fn push_body(batch: usize, base_ns: i64) -> String {
    let streams: Vec<serde_json::Value> = (0..STREAMS)
        .map(|s| {
            let values: Vec<serde_json::Value> = (0..50)
                .map(|i| {
                    let ts = base_ns + (batch * 50 + i) as i64 * 1000;
                    serde_json::json!([ts.to_string(), format!("batch={batch} stream={s} line={i} level=info")])
                })
                .collect();
            serde_json::json!({"stream": {"app": "crash", "pod": format!("pod-{s}")}, "values": values})
        })
        .collect();
    serde_json::json!({ "streams": streams }).to_string()
}

#[test]
fn acknowledged_lines_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Flush often so the kill can land in the middle of a flush too.
    let mut server = Server::start(&data, &["--logs.flush-check-period", "100ms"]);
    let base_ns = now_ns() - 60_000_000_000;
    let acked = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), server.url("/loki/api/v1/push"));
        std::thread::spawn(move || {
            let agent = agent();
            let mut batch = 0;
            while !stop.load(Ordering::Relaxed) {
                let response = agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(push_body(batch, base_ns));
                match response {
                    Ok(r) if r.status() == 204 => {
                        batch += 1;
                        *acked.lock().unwrap() = batch;
                    }
                    _ => break,
                }
            }
        })
    };
    // Kill once flushes are happening (a partition exists), so the kill can
    // land in a flush as well as between pushes.
    let partitions = data.join("logs/partitions");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&partitions).map_or(0, |d| d.count()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no flush within 60 s:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let acked_batches = *acked.lock().unwrap();
    assert!(
        acked_batches > 10,
        "only {acked_batches} batches were acknowledged"
    );

    let partitions = std::fs::read_dir(data.join("logs/partitions"))
        .unwrap()
        .count();
    assert!(
        partitions > 0,
        "no flush happened before the kill:\n{}",
        server.logs()
    );

    let store = LogStore::open(&data.join("logs"), StoreOptions::default()).unwrap();
    let end = now_ns() + 1;
    let streams = store.streams(&[], 0, end);
    let plan = store
        .plan(streams, 0, end, &[], Direction::Forward)
        .unwrap();
    let mut seen = Vec::new();
    let mut stats = ReadStats::default();
    for i in 0..plan.slabs.len() {
        plan.read_slab(i, 0, end, &mut stats, &mut |_, _, line, _| {
            seen.push(line.to_string())
        })
        .unwrap();
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a line was stored twice");
    for batch in 0..acked_batches {
        for s in 0..STREAMS {
            for i in [0, 49] {
                let line = format!("batch={batch} stream={s} line={i} level=info");
                assert!(unique.contains(&line), "acknowledged line lost: {line}");
            }
        }
    }
    assert!(seen.len() >= acked_batches * STREAMS * 50);
}
