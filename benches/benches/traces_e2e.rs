//! The trace store end to end, on this machine, over a realistic corpus
//! (`vigil_benches::trace_corpus`: ten services' OTLP traces of 5–200 spans;
//! 10 million spans over the last 4 hours by default). Reports:
//! - ingest spans/s and MB/s of OTLP protobuf through `POST /v1/traces`
//!   (4 senders, batches of about 1000 spans, retried after 429/503), the
//!   server's CPU seconds and peak RSS; the corpus is generated in a thread
//!   ahead of the senders, through a bounded queue (10M spans are about
//!   4 GB of protobuf), and its time is reported apart; `--pregenerate`
//!   generates everything before the clock starts, where memory allows;
//! - bytes on disk after `POST /flush`, per span and as a share of the
//!   protobuf sent;
//! - trace-by-id latency, `GET /api/traces/<id>`, over 1000 ids sampled
//!   uniformly from everything sent, each checked for its span count;
//! - the TraceQL search `{ resource.service.name = "checkout" && duration >
//!   500ms }` over the last hour, with `limit=20` and `limit=100000`, checked
//!   against the corpus' own count of matching traces (exits 1 if they differ).
//!
//! ```sh
//! cargo build --release && cargo bench -p vigil-benches --bench traces_e2e
//! cargo bench -p vigil-benches --bench traces_e2e -- --spans 1000000   # quicker
//! cargo bench -p vigil-benches --bench traces_e2e -- --spans 2000000 --hours 2 --pregenerate
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use vigil_benches::log_corpus::Rng;
use vigil_benches::process::{agent, cpu_seconds, dir_bytes, median, peak_rss_bytes, start_vigil};
use vigil_benches::trace_corpus::{TraceCorpus, TraceInfo, HOUR_NS, SEARCH_QUERY};

const BATCH_SPANS: usize = 1000;
const SENDERS: usize = 4;
/// Batches generated ahead of the senders (about 0.4 MB each), unless
/// `--pregenerate`.
const QUEUE: usize = 64;
const LOOKUPS: usize = 1000;
const SEARCH_RUNS: usize = 5;
const SEED: u64 = 42;

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn get_json(agent: &ureq::Agent, url: &str) -> (u16, serde_json::Value) {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

/// Spans in a `/api/traces/<id>` answer: `batches[].scopeSpans[].spans`
/// (Tempo's v1 shape; `resourceSpans` and `instrumentationLibrarySpans`
/// are read too).
fn count_spans(trace: &serde_json::Value) -> usize {
    let batches = trace
        .get("batches")
        .or_else(|| trace.get("resourceSpans"))
        .or_else(|| trace.pointer("/trace/resourceSpans"))
        .and_then(|b| b.as_array());
    batches
        .into_iter()
        .flatten()
        .flat_map(|batch| {
            batch
                .get("scopeSpans")
                .or_else(|| batch.get("instrumentationLibrarySpans"))
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
        })
        .map(|scope| scope["spans"].as_array().map_or(0, Vec::len))
        .sum()
}

/// A trace id as Tempo prints it (hex, maybe without leading zeros).
fn parse_trace_id(id: &str) -> Option<u128> {
    u128::from_str_radix(id, 16).ok()
}

/// One batch on its way from the generator to a sender.
struct Job {
    body: Vec<u8>,
    spans: usize,
}

/// What the generator thread hands back when the corpus is complete.
struct Generated {
    corpus: TraceCorpus,
    sample: Vec<TraceInfo>,
    seconds: f64,
}

/// Generates the corpus into `jobs`, keeping a uniform sample of the traces
/// (reservoir sampling); says on `primed` when `queue` batches are waiting.
fn generate(
    corpus: TraceCorpus,
    jobs: std::sync::mpsc::SyncSender<Job>,
    queue: usize,
    primed: std::sync::mpsc::SyncSender<()>,
) -> Generated {
    let mut corpus = corpus;
    let mut rng = Rng::new(SEED ^ 0x5a3_91e5);
    let mut sample: Vec<TraceInfo> = Vec::with_capacity(LOOKUPS);
    let mut seen = 0u64;
    let mut seconds = 0.0;
    let mut sent = 0usize;
    let mut next_report = corpus.total_spans() / 10;
    loop {
        let started = Instant::now();
        let Some(batch) = corpus.next_batch(BATCH_SPANS) else {
            break;
        };
        seconds += started.elapsed().as_secs_f64();
        for trace in &batch.traces {
            seen += 1;
            if sample.len() < LOOKUPS {
                sample.push(*trace);
            } else {
                let slot = rng.below(seen) as usize;
                if slot < LOOKUPS {
                    sample[slot] = *trace;
                }
            }
        }
        let spans = batch.spans;
        jobs.send(Job {
            body: batch.body,
            spans,
        })
        .expect("the senders outlive the generator");
        sent += 1;
        if sent == queue {
            let _ = primed.try_send(());
        }
        if corpus.stats().spans >= next_report {
            eprintln!(
                "generated {} of {} spans",
                corpus.stats().spans,
                corpus.total_spans()
            );
            next_report += corpus.total_spans() / 10;
        }
    }
    let _ = primed.try_send(());
    Generated {
        corpus,
        sample,
        seconds,
    }
}

/// Totals over the senders.
#[derive(Default)]
struct Sent {
    batches: AtomicUsize,
    spans: AtomicUsize,
    bytes: AtomicUsize,
    retries: AtomicUsize,
    rejected: AtomicU64,
    /// Nanoseconds the senders spent waiting for the generator.
    waited_ns: AtomicU64,
}

fn send_all(url: String, jobs: Arc<Mutex<Receiver<Job>>>, sent: Arc<Sent>) {
    let agent = agent(Duration::from_secs(600));
    loop {
        let waiting = Instant::now();
        let job = jobs.lock().unwrap().recv();
        sent.waited_ns
            .fetch_add(waiting.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let Ok(job) = job else { break };
        // As the OpenTelemetry Collector's exporter does: back off and retry
        // the same batch on 429 and 503, respecting Retry-After (up to 1 s).
        let mut backoff = Duration::from_millis(50);
        loop {
            let mut response = agent
                .post(&url)
                .header("Content-Type", "application/x-protobuf")
                .send(&job.body[..])
                .unwrap();
            match response.status().as_u16() {
                200..=299 => {
                    let body = response.body_mut().read_to_vec().unwrap_or_default();
                    if let Ok(answer) = ExportTraceServiceResponse::decode(&body[..]) {
                        if let Some(partial) = answer.partial_success {
                            sent.rejected
                                .fetch_add(partial.rejected_spans as u64, Ordering::Relaxed);
                        }
                    }
                    break;
                }
                429 | 503 => {
                    sent.retries.fetch_add(1, Ordering::Relaxed);
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 1.0)));
                    std::thread::sleep(retry_after.unwrap_or(backoff));
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                status => panic!(
                    "push answered {status}: {}",
                    response.body_mut().read_to_string().unwrap_or_default()
                ),
            }
        }
        sent.batches.fetch_add(1, Ordering::Relaxed);
        sent.spans.fetch_add(job.spans, Ordering::Relaxed);
        sent.bytes.fetch_add(job.body.len(), Ordering::Relaxed);
    }
}

fn main() {
    let mut total_spans = 10_000_000usize;
    let mut hours = 4i64;
    let mut pregenerate = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--spans" => {
                total_spans = args
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .expect("--spans N")
            }
            "--hours" => {
                hours = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&h| h >= 1)
                    .expect("--hours H (whole hours, at least 1)")
            }
            "--pregenerate" => pregenerate = true,
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    let mut failures: Vec<String> = Vec::new();

    // The corpus: `hours` hours ending now, on whole seconds, so that the
    // last hour is a window of whole seconds the corpus keeps traces off.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end_ns = now_s * 1_000_000_000;
    let start_ns = end_ns - hours * HOUR_NS;
    let corpus = TraceCorpus::new(SEED, start_ns, end_ns, total_spans);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_vigil("traces-e2e", &data);
    let pid = server.child.id();

    // Ingest: a generator thread ahead of 4 senders, through a bounded queue.
    // Every batch but the last has at least BATCH_SPANS spans.
    let queue = if pregenerate {
        total_spans / BATCH_SPANS + 2
    } else {
        QUEUE
    };
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(queue);
    let (primed_tx, primed_rx) = sync_channel::<()>(1);
    let generator = std::thread::spawn(move || generate(corpus, jobs_tx, queue, primed_tx));
    primed_rx.recv().unwrap();
    let jobs = Arc::new(Mutex::new(jobs_rx));
    let sent = Arc::new(Sent::default());
    let url = format!("http://127.0.0.1:{}/v1/traces", server.port);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (url, jobs, sent) = (url.clone(), jobs.clone(), sent.clone());
            std::thread::spawn(move || send_all(url, jobs, sent))
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let acknowledged_seconds = started.elapsed().as_secs_f64();
    let ingest_cpu = cpu_seconds(pid) - cpu_before;
    let Generated {
        corpus,
        sample,
        seconds: generation_seconds,
    } = generator.join().unwrap();
    let stats = corpus.stats().clone();
    let spans = sent.spans.load(Ordering::Relaxed);
    let bytes = sent.bytes.load(Ordering::Relaxed);
    let retries = sent.retries.load(Ordering::Relaxed);
    let rejected = sent.rejected.load(Ordering::Relaxed);
    assert_eq!(spans, stats.spans);
    // Mean time a sender sat idle waiting for the generator.
    let waited_seconds = sent.waited_ns.load(Ordering::Relaxed) as f64 / 1e9 / SENDERS as f64;
    let sending_seconds = (acknowledged_seconds - waited_seconds).max(1e-9);
    if rejected > 0 {
        failures.push(format!(
            "the server rejected {rejected} spans (partial success)"
        ));
    }

    // Flush the head to disk, then measure it.
    let flush_started = Instant::now();
    let mut flushed = agent(Duration::from_secs(3600))
        .post(&format!("http://127.0.0.1:{}/flush", server.port))
        .send_empty()
        .unwrap();
    let flush_status = flushed.status().as_u16();
    assert!(
        (200..300).contains(&flush_status),
        "POST /flush answered {flush_status}: {}",
        flushed.body_mut().read_to_string().unwrap_or_default()
    );
    let flush_seconds = flush_started.elapsed().as_secs_f64();
    let flush_cpu = cpu_seconds(pid) - cpu_before - ingest_cpu;
    let ingest_rss = peak_rss_bytes(pid) as f64 / 1048576.0;
    let traces_dir = data.join("traces");
    let disk = dir_bytes(&traces_dir);
    let mut parts: Vec<(String, u64)> = std::fs::read_dir(&traces_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let size = match e.file_type() {
                        Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                        _ => e.metadata().map_or(0, |m| m.len()),
                    };
                    (e.file_name().to_string_lossy().into_owned(), size)
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort_by_key(|part| std::cmp::Reverse(part.1));

    // Trace by id: the uniform sample of everything sent, then the planted
    // traces (first, last, largest, first failed, first slow order).
    let lookup_agent = agent(Duration::from_secs(60));
    let lookup = |trace: &TraceInfo, failures: &mut Vec<String>| -> f64 {
        let url = format!(
            "http://127.0.0.1:{}/api/traces/{}",
            server.port,
            trace.hex()
        );
        let started = Instant::now();
        let (status, json) = get_json(&lookup_agent, &url);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            failures.push(format!("GET /api/traces/{} answered {status}", trace.hex()));
        } else if count_spans(&json) != trace.spans {
            failures.push(format!(
                "trace {} has {} spans, the answer {}",
                trace.hex(),
                trace.spans,
                count_spans(&json)
            ));
        }
        ms
    };
    let before = failures.len();
    let mut latencies: Vec<f64> = sample.iter().map(|t| lookup(t, &mut failures)).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    for trace in corpus.planted() {
        lookup(&trace, &mut failures);
    }
    let lookup_failures = failures.len() - before;

    // TraceQL over the last hour, whose traces the corpus knows exactly.
    let (from_s, to_s) = (now_s - 3600, now_s);
    let expected = corpus.matching_within(from_s * 1_000_000_000, to_s * 1_000_000_000);
    let known: HashSet<u128> = corpus
        .matching()
        .iter()
        .map(|t| u128::from_be_bytes(t.id))
        .collect();
    let search_agent = agent(Duration::from_secs(600));
    let mut searches = Vec::new();
    for limit in [20usize, 100_000] {
        let url = format!(
            "http://127.0.0.1:{}/api/search?q={}&start={from_s}&end={to_s}&limit={limit}",
            server.port,
            form_urlencoded::byte_serialize(SEARCH_QUERY.as_bytes()).collect::<String>()
        );
        let mut times = Vec::new();
        let mut found = 0;
        let mut matched_spans = 0u64;
        for run in 0..SEARCH_RUNS {
            let started = Instant::now();
            let (status, json) = get_json(&search_agent, &url);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                failures.push(format!(
                    "search with limit {limit} answered {status}: {json}"
                ));
                break;
            }
            let traces = json["traces"].as_array().cloned().unwrap_or_default();
            found = traces.len();
            if run == 0 {
                for trace in &traces {
                    let id = trace["traceID"].as_str().and_then(parse_trace_id);
                    if !id.is_some_and(|id| known.contains(&id)) {
                        failures.push(format!(
                            "search returned {}, which the query does not match",
                            trace["traceID"]
                        ));
                    }
                    matched_spans += trace["spanSets"]
                        .as_array()
                        .map(|sets| sets.iter().filter_map(|s| s["matched"].as_u64()).sum())
                        .or_else(|| trace["spanSet"]["matched"].as_u64())
                        .unwrap_or(0);
                }
            }
        }
        let want = expected.min(limit);
        if found != want {
            failures.push(format!(
                "search with limit {limit} returned {found} traces, the corpus has {want}"
            ));
        }
        eprintln!(
            "search, limit {limit}: {found} traces ({matched_spans} spans matched), corpus: {want}"
        );
        let min = times.iter().copied().fold(f64::INFINITY, f64::min);
        searches.push((limit, found, want, min, median(times)));
    }
    let query_rss = peak_rss_bytes(pid) as f64 / 1048576.0;

    let mb = bytes as f64 / 1e6;
    println!(
        "\n## Trace store, end to end ({spans} spans in {} traces, {mb:.0} MB of OTLP protobuf over {hours} h, 2 cores)\n",
        stats.traces
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    println!(
        "| corpus generation (one thread, {}; not in the ingest rate) | {:.1} s = {:.0} spans/s; senders waited {:.1} s each on average | |",
        if pregenerate {
            "all before the clock started"
        } else {
            "at most 64 batches ahead of the senders"
        },
        generation_seconds,
        spans as f64 / generation_seconds,
        waited_seconds
    );
    println!(
        "| ingest through `POST /v1/traces`, until acknowledged | {:.0} spans/s, {:.1} MB/s ({SENDERS} senders, {} batches, {:.1} s less {:.1} s waiting for the generator; {:.0} spans/s by the wall clock; {retries} retries after 429/503) | |",
        spans as f64 / sending_seconds,
        mb / sending_seconds,
        sent.batches.load(Ordering::Relaxed),
        acknowledged_seconds,
        waited_seconds,
        spans as f64 / acknowledged_seconds
    );
    println!("| `POST /flush` | {flush_seconds:.1} s, {flush_cpu:.1} s CPU | |");
    println!(
        "| server CPU during ingest | {:.1} s ({:.2} µs/span) | |",
        ingest_cpu,
        ingest_cpu * 1e6 / spans as f64
    );
    println!("| peak RSS during ingest and flush | {ingest_rss:.0} MiB | |");
    let breakdown: Vec<String> = parts
        .iter()
        .map(|(name, size)| format!("{name} {:.1} MB", *size as f64 / 1e6))
        .collect();
    println!(
        "| on disk after the flush, `<data>/traces` | {:.1} MB = {:.1} bytes/span = {:.1}% of the OTLP protobuf ({}) | <= 20% |",
        disk as f64 / 1e6,
        disk as f64 / spans as f64,
        disk as f64 * 100.0 / bytes as f64,
        breakdown.join(", ")
    );
    if !latencies.is_empty() {
        println!(
            "| trace by id, {} ids sampled from all sent | p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({lookup_failures} wrong) | p99 < 20 ms |",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1]
        );
    }
    for (limit, found, want, min, median) in &searches {
        println!(
            "| `{SEARCH_QUERY}`, last hour, limit={limit} | min {min:.1} ms, median {median:.1} ms; {found} traces (corpus: {want}) | |"
        );
    }
    println!("| peak RSS of the server, queries included | {query_rss:.0} MiB | |");

    if !failures.is_empty() {
        eprintln!("\n{} checks failed:", failures.len());
        for failure in failures.iter().take(20) {
            eprintln!("- {failure}");
        }
        drop(server);
        drop(dir);
        std::process::exit(1);
    }
}
