//! The log store end to end, on this machine, over a realistic corpus
//! (`vigil_benches::log_corpus`: JSON and logfmt app logs, nginx access
//! logs, audit events; 1 GB raw by default). Reports:
//! - ingest MB/s and lines/s through `POST /loki/api/v1/push` (snappy
//!   protobuf, 4 senders), and the server's CPU seconds;
//! - bytes on disk after the flush, indexes included, as a fraction of raw
//!   and as a multiple of `zstd -3` over the same raw text;
//! - a rare-token search `|= "<token>"` over the whole corpus beside
//!   `grep -F` over the raw file, in the same run;
//! - `sum by (level) (count_over_time({app="api"} | json [1m]))` over one hour.
//!
//! ```sh
//! cargo build --release && cargo bench -p vigil-benches --bench logs_e2e
//! cargo bench -p vigil-benches --bench logs_e2e -- --mb 200      # quicker
//! ```

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logs::entry::{Entry, StreamEntries};
use logs::push::loki_proto;
use logs::stream_labels;
use vigil_benches::log_corpus::{self, RARE_ID, RARE_LINES, RARE_TOKEN};
use vigil_benches::process::{
    agent, cpu_seconds, dir_bytes, median, peak_rss_bytes, start_vigil, VigilServer as Server,
};

const BATCH_BYTES: usize = 1 << 20;
const SENDERS: usize = 4;
const HOUR_NS: i64 = 3_600_000_000_000;

fn time_it(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn query(server: &Server, path: &str, params: &[(&str, String)]) -> serde_json::Value {
    let mut url = format!("http://127.0.0.1:{}{path}?", server.port);
    for (name, value) in params {
        url.push_str(name);
        url.push('=');
        url.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        url.push('&');
    }
    let mut response = agent(Duration::from_secs(600)).get(&url).call().unwrap();
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn main() {
    let mut megabytes = 1024usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mb" => megabytes = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("corpus.txt");

    // The corpus: 4 hours ending 10 minutes ago, as snappy protobuf pushes.
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let span = 4 * HOUR_NS;
    let start_ns = (now_ns - 10 * 60_000_000_000 - span) / 1_000_000_000 * 1_000_000_000;
    let streams = log_corpus::streams();
    let labels: Vec<model::Labels> = streams
        .iter()
        .map(|s| stream_labels::from_pairs(s.labels.clone()).unwrap())
        .collect();
    let mut raw_file = std::io::BufWriter::new(std::fs::File::create(&raw_path).unwrap());
    let mut pending: Vec<Vec<Entry>> = vec![Vec::new(); streams.len()];
    let mut pending_bytes = 0usize;
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let (mut raw_bytes, mut lines) = (0usize, 0usize);
    let generated = Instant::now();
    let flush_batch = |pending: &mut Vec<Vec<Entry>>, bodies: &mut Vec<Vec<u8>>| {
        let batch: Vec<StreamEntries> = pending
            .iter_mut()
            .enumerate()
            .filter(|(_, e)| !e.is_empty())
            .map(|(i, e)| StreamEntries {
                labels: labels[i].clone(),
                entries: std::mem::take(e),
            })
            .collect();
        bodies.push(loki_proto::encode(&batch));
    };
    log_corpus::generate(42, start_ns, span, megabytes << 20, |stream, ns, line| {
        raw_file.write_all(line.as_bytes()).unwrap();
        raw_file.write_all(b"\n").unwrap();
        raw_bytes += line.len() + 1;
        lines += 1;
        pending_bytes += line.len();
        pending[stream].push(Entry::new(ns, line));
        if pending_bytes >= BATCH_BYTES {
            flush_batch(&mut pending, &mut bodies);
            pending_bytes = 0;
        }
    });
    flush_batch(&mut pending, &mut bodies);
    raw_file.flush().unwrap();
    drop(raw_file);
    eprintln!(
        "corpus: {lines} lines, {:.1} MB raw, {} pushes, generated in {:.1}s",
        raw_bytes as f64 / 1e6,
        bodies.len(),
        generated.elapsed().as_secs_f64()
    );

    // Ingest.
    let data = dir.path().join("data");
    let server = start_vigil("logs-e2e", &data);
    let pid = server.child.id();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let url = format!("http://127.0.0.1:{}/loki/api/v1/push", server.port);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (bodies, next, url, retries) =
                (bodies.clone(), next.clone(), url.clone(), retries.clone());
            std::thread::spawn(move || {
                let agent = agent(Duration::from_secs(600));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    // As Promtail and Alloy do: back off and retry on 429 and 503.
                    let mut backoff = Duration::from_millis(50);
                    loop {
                        let mut response = agent
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .send(&body[..])
                            .unwrap();
                        match response.status().as_u16() {
                            204 => break,
                            429 | 503 => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(backoff);
                                backoff = (backoff * 2).min(Duration::from_secs(2));
                            }
                            status => panic!(
                                "push answered {status}: {}",
                                response.body_mut().read_to_string().unwrap_or_default()
                            ),
                        }
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged_seconds = started.elapsed().as_secs_f64();
    // Ingest is done when the lines are in partitions, indexed: flush the head.
    let flushed = agent(Duration::from_secs(600))
        .post(&format!("http://127.0.0.1:{}/flush", server.port))
        .send_empty()
        .unwrap();
    assert_eq!(flushed.status(), 204);
    let ingest_seconds = started.elapsed().as_secs_f64();
    let ingest_cpu = cpu_seconds(pid) - cpu_before;
    let ingest_rss = peak_rss_bytes(pid) as f64 / 1048576.0;
    drop(bodies);

    // Flush everything (SIGTERM flushes the head), then measure the disk.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let mut server = server;
    let _ = server.child.wait();
    let disk = dir_bytes(&data.join("logs"));
    let (mut block_files, mut index_files) = (0u64, 0u64);
    for partition in std::fs::read_dir(data.join("logs/partitions"))
        .unwrap()
        .flatten()
    {
        index_files += dir_bytes(&partition.path().join("index"));
        for file in std::fs::read_dir(partition.path()).unwrap().flatten() {
            if file.file_name().to_string_lossy().starts_with("blocks-") {
                block_files += file.metadata().unwrap().len();
            }
        }
    }

    // zstd -3 of the same raw text, in process, one thread.
    let zstd_started = Instant::now();
    let mut zstd_size = CountingSink(0);
    zstd::stream::copy_encode(std::fs::File::open(&raw_path).unwrap(), &mut zstd_size, 3).unwrap();
    let zstd_seconds = zstd_started.elapsed().as_secs_f64();

    // Queries, on a restarted server.
    let server = start_vigil("logs-e2e", &data);
    let whole = [
        ("start", start_ns.to_string()),
        ("end", (start_ns + span).to_string()),
    ];
    // A rare word and a rare trace id, each in RARE_LINES lines, beside grep -F.
    let mut needles = Vec::new();
    for needle in [RARE_TOKEN, RARE_ID] {
        let rare_query = format!(r#"{{cluster="prod-eu-1"}} |= "{needle}""#);
        let search = || {
            let mut params = whole.to_vec();
            params.push(("query", rare_query.clone()));
            params.push(("limit", "100".into()));
            query(&server, "/loki/api/v1/query_range", &params)
        };
        let first = search();
        let stats = &first["data"]["stats"];
        eprintln!(
            "{needle}: {} blocks read, {} lines scanned, server exec {:.1} ms",
            stats["querier"]["store"]["totalChunksRef"],
            stats["summary"]["totalLinesProcessed"],
            stats["summary"]["execTime"].as_f64().unwrap_or(0.0) * 1000.0
        );
        let found: usize = first["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum();
        assert_eq!(
            found, RARE_LINES,
            "the search for {needle} must find every planted line"
        );
        let search_ms = time_it(5, || {
            search();
        });
        let grep_ms = time_it(5, || {
            let output = Command::new("grep")
                .args(["-F", "-c", needle])
                .arg(&raw_path)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                RARE_LINES.to_string()
            );
        });
        needles.push((needle, search_ms, grep_ms));
    }

    let last_hour = [
        ("start", (start_ns + span - HOUR_NS).to_string()),
        ("end", (start_ns + span).to_string()),
        ("step", "60".to_string()),
    ];
    let count_query = r#"sum by (level) (count_over_time({app="api"} | json [1m]))"#;
    let count = || {
        let mut params = last_hour.to_vec();
        params.push(("query", count_query.to_string()));
        query(&server, "/loki/api/v1/query_range", &params)
    };
    let levels = count()["data"]["result"].as_array().unwrap().len();
    let count_ms = time_it(3, || {
        count();
    });
    let query_rss = peak_rss_bytes(server.child.id()) as f64 / 1048576.0;

    let mb = raw_bytes as f64 / 1e6;
    println!("\n## Log store, end to end ({lines} lines, {mb:.0} MB raw, 2 cores)\n");
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!("| ingest through the push API, until flushed and indexed | {:.1} MB/s, {:.0} lines/s ({SENDERS} senders, {:.1} s; all acknowledged after {:.1} s, {} pushes retried after 429/503) | >= 60 MB/s |", mb / ingest_seconds, lines as f64 / ingest_seconds, ingest_seconds, acknowledged_seconds, retries.load(Ordering::Relaxed));
    println!(
        "| server CPU during ingest | {:.1} s ({:.2} µs/line) | |",
        ingest_cpu,
        ingest_cpu * 1e6 / lines as f64
    );
    println!("| peak RSS during ingest | {:.0} MiB | |", ingest_rss);
    println!("| on disk, indexes included | {:.1} MB = {:.1}% of raw = {:.2}x zstd -3 ({:.1} MB, {:.1}% of raw, {:.1} s) | <= 1.5x zstd -3 |", disk as f64 / 1e6, disk as f64 * 100.0 / raw_bytes as f64, disk as f64 / zstd_size.0 as f64, zstd_size.0 as f64 / 1e6, zstd_size.0 as f64 * 100.0 / raw_bytes as f64, zstd_seconds);
    println!(
        "| of which block files (blocks and id filters) / tantivy indexes | {:.1} MB ({:.1}% of raw) / {:.1} MB ({:.1}%) | |",
        block_files as f64 / 1e6,
        block_files as f64 * 100.0 / raw_bytes as f64,
        index_files as f64 / 1e6,
        index_files as f64 * 100.0 / raw_bytes as f64
    );
    for (needle, search_ms, grep_ms) in &needles {
        println!("| rare token `|= \"{needle}\"`, whole corpus | {search_ms:.1} ms vs grep -F {grep_ms:.1} ms = {:.0}x faster | >= 50x |", grep_ms / search_ms);
    }
    println!("| `{count_query}`, 1 h, step 60s | {count_ms:.0} ms ({levels} series) | < 1 s |");
    println!("| peak RSS of the query server | {query_rss:.0} MiB | |");
}

struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
