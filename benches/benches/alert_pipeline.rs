//! The notification pipeline's throughput, end to end: `vigil serve` with an
//! Alertmanager config whose one route groups by `alertname` and `cluster`
//! (100 alert names × 10 clusters = 1000 groups) and sends to a webhook on
//! loopback, served here. Four senders post 100k distinct firing alerts
//! to `POST /api/v2/alerts` in batches of 64, as Prometheus' notifier sends
//! them; the clock stops when the webhook has received every one of them.
//! Then the same alerts are posted again, as Prometheus re-sends firing
//! alerts every minute, and the webhook must receive nothing new over two
//! group intervals (the notification log deduplicates them). Reports
//! alerts/s posted, alerts/s delivered, notifications sent, and the
//! server's CPU seconds and peak RSS. Target: 10k alerts/s.
//!
//! ```sh
//! cargo build --release && cargo bench -p vigil-benches --bench alert_pipeline
//! cargo bench -p vigil-benches --bench alert_pipeline -- --alerts 20000   # quicker
//! ```

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use vigil_benches::process::{agent, arg_usize, cpu_seconds, peak_rss_bytes, start_vigil_with};

const BATCH: usize = 64;
const SENDERS: usize = 4;
const GROUP_INTERVAL_S: u64 = 2;

/// What the webhook has received: distinct alert instances and calls.
#[derive(Default)]
struct Received {
    instances: Mutex<HashSet<String>>,
    calls: AtomicUsize,
    alerts: AtomicUsize,
    /// Requests that could not be read or parsed.
    broken: AtomicUsize,
}

/// A webhook receiver on loopback: a thread per connection, one request
/// per connection, every body parsed as Alertmanager's webhook payload.
fn webhook(received: Arc<Received>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let received = received.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    received.broken.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                match serde_json::from_slice::<Json>(&body) {
                    Ok(payload) => {
                        let alerts = payload["alerts"].as_array().cloned().unwrap_or_default();
                        received.calls.fetch_add(1, Ordering::Relaxed);
                        received.alerts.fetch_add(alerts.len(), Ordering::Relaxed);
                        let mut instances = received.instances.lock().unwrap();
                        for alert in alerts {
                            if let Some(i) = alert["labels"]["instance"].as_str() {
                                instances.insert(i.to_string());
                            }
                        }
                    }
                    Err(_) => {
                        received.broken.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    port
}

fn batch_body(first: usize, count: usize) -> String {
    let alerts: Vec<Json> = (first..first + count)
        .map(|a| {
            serde_json::json!({
                "labels": {
                    "alertname": format!("Alert{}", a % 100),
                    "cluster": format!("c{}", (a / 100) % 10),
                    "instance": format!("host-{a}"),
                    "severity": if a % 3 == 0 { "critical" } else { "warning" },
                },
                "annotations": { "summary": format!("host-{a} needs attention") },
                "generatorURL": "http://prometheus:9090/graph",
            })
        })
        .collect();
    serde_json::to_string(&alerts).unwrap()
}

/// Posts alerts `0..total` from `SENDERS` threads; returns the seconds taken.
fn post_all(url: &str, total: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let next = next.clone();
            let url = url.to_string();
            std::thread::spawn(move || {
                let agent = agent(Duration::from_secs(60));
                loop {
                    let first = next.fetch_add(BATCH, Ordering::Relaxed);
                    if first >= total {
                        return;
                    }
                    let body = batch_body(first, BATCH.min(total - first));
                    let response = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.as_bytes())
                        .expect("the server answers");
                    assert_eq!(response.status(), 200, "POST /api/v2/alerts refused");
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total = arg_usize("--alerts", 100_000);
    let received = Arc::new(Received::default());
    let hook_port = webhook(received.clone());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, cluster]\n  group_wait: 1s\n  group_interval: {GROUP_INTERVAL_S}s\n  repeat_interval: 4h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:{hook_port}/hook\n        max_alerts: 0\n"
        ),
    )
    .unwrap();
    let server = start_vigil_with(
        "alert-pipeline",
        &dir.path().join("data"),
        &["--alertmanager.config", config.to_str().unwrap()],
    );
    let pid = server.child.id();
    let url = format!("http://127.0.0.1:{}/api/v2/alerts", server.port);
    let cpu_before = cpu_seconds(pid);

    let started = Instant::now();
    let posting = post_all(&url, total);
    let deadline = Instant::now() + Duration::from_secs(600);
    while received.instances.lock().unwrap().len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} alerts delivered after 10 minutes",
            received.instances.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = started.elapsed().as_secs_f64();
    let cpu_first = cpu_seconds(pid) - cpu_before;
    let calls_first = received.calls.load(Ordering::Relaxed);
    let alerts_first = received.alerts.load(Ordering::Relaxed);

    // Prometheus re-sends firing alerts: nothing new must go out.
    let reposting = post_all(&url, total);
    std::thread::sleep(Duration::from_secs(2 * GROUP_INTERVAL_S + 1));
    let calls_again = received.calls.load(Ordering::Relaxed) - calls_first;

    println!("\n{total} distinct firing alerts in 1000 groups, {SENDERS} senders × {BATCH} alerts per POST");
    println!(
        "posted:    {posting:.2} s = {:.0} alerts/s",
        total as f64 / posting
    );
    println!(
        "delivered: {delivered:.2} s = {:.0} alerts/s end to end ({calls_first} webhook calls carrying {alerts_first} alerts; group_wait 1s, group_interval {GROUP_INTERVAL_S}s)",
        total as f64 / delivered
    );
    println!(
        "server CPU {cpu_first:.1} s = {:.1} µs per alert; peak RSS {:.0} MiB",
        cpu_first / total as f64 * 1e6,
        peak_rss_bytes(pid) as f64 / (1 << 20) as f64
    );
    println!(
        "re-sent:   {reposting:.2} s = {:.0} alerts/s posted again; {calls_again} notifications after it (deduplicated: expected 0)",
        total as f64 / reposting
    );
    let broken = received.broken.load(Ordering::Relaxed);
    drop(server);
    if calls_again != 0 || broken != 0 {
        eprintln!(
            "FAILED: re-sent alerts were notified again, or {broken} requests were unreadable"
        );
        std::process::exit(1);
    }
}
