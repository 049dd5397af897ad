//! Vigil against its peers, in one run on one machine: Debian's `prometheus`
//! and `victoria-metrics` receive the same pre-encoded remote-write requests
//! of the realistic workload; the runner reports ingest throughput, server
//! CPU time per sample, peak RSS, and bytes per sample on disk once the data
//! is persisted, and checks how many values each returns bit for bit.
//!
//! ```sh
//! cargo bench -p vigil-benches --bench vs_peers                      # 51k series, 2 h
//! cargo bench -p vigil-benches --bench vs_peers -- --series 5000     # quicker
//! cargo bench -p vigil-benches --bench vs_peers -- --only vigil
//! ```
//!
//! A peer that is not installed is reported as skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::remote_write::{
    encode_write_request, Label, Sample as WireSample, TimeSeries, WriteRequest,
};
use vigil_benches::process::{agent, cpu_seconds, dir_bytes, free_port, peak_rss_bytes, rss_bytes};
use vigil_benches::workload::{Workload, WorkloadConfig};

const SAMPLES_PER_REQUEST: usize = 2000;
const SENDERS: usize = 4;

struct Args {
    series: usize,
    hours: f64,
    only: Option<String>,
    skip_promtool: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        series: 51_000,
        hours: 2.0,
        only: None,
        skip_promtool: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--series" => args.series = it.next().and_then(|v| v.parse().ok()).expect("--series N"),
            "--hours" => args.hours = it.next().and_then(|v| v.parse().ok()).expect("--hours H"),
            "--only" => args.only = it.next(),
            "--skip-promtool" => args.skip_promtool = true,
            "--bench" => {}
            other => eprintln!("ignoring argument {other:?}"),
        }
    }
    args
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Remote-write bodies as Prometheus sends them: series are spread over
/// `SENDERS` shards by series (so each series' samples stay in order, as
/// Prometheus' queue manager keeps them), each shard sends requests of about
/// 2000 samples, one sample per series per request, in scrape order.
fn encode_requests(workload: &Workload) -> Vec<Vec<Vec<u8>>> {
    let wire_labels: Vec<Vec<Label>> = (0..workload.series_count())
        .map(|s| {
            workload
                .labels(s)
                .iter()
                .map(|l| Label {
                    name: l.name.as_bytes().to_vec(),
                    value: l.value.as_bytes().to_vec(),
                })
                .collect()
        })
        .collect();
    let mut shards: Vec<Vec<Vec<u8>>> = vec![Vec::new(); SENDERS];
    let mut pending: Vec<Vec<TimeSeries>> = (0..SENDERS)
        .map(|_| Vec::with_capacity(SAMPLES_PER_REQUEST))
        .collect();
    let flush = |shard: &mut Vec<Vec<u8>>, pending: &mut Vec<TimeSeries>| {
        if !pending.is_empty() {
            shard.push(encode_write_request(&WriteRequest {
                timeseries: std::mem::take(pending),
                metadata: vec![],
            }));
        }
    };
    for scrape in workload.scrapes() {
        for (series, value) in scrape.series.clone().zip(scrape.values) {
            let shard = series % SENDERS;
            pending[shard].push(TimeSeries {
                labels: wire_labels[series].clone(),
                samples: vec![WireSample {
                    value,
                    timestamp: scrape.t,
                }],
                exemplars: vec![],
            });
            if pending[shard].len() == SAMPLES_PER_REQUEST {
                flush(&mut shards[shard], &mut pending[shard]);
            }
        }
    }
    for (shard, pending) in shards.iter_mut().zip(pending.iter_mut()) {
        flush(shard, pending);
    }
    shards
}

struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    data: PathBuf,
    write_path: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    name: &'static str,
    binary: &str,
    args: Vec<String>,
    port: u16,
    data: PathBuf,
    write_path: &'static str,
) -> Option<Server> {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let child = match Command::new(binary)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!(
                "| {name} | skipped: cannot start `{binary}` ({e}); install it with apt-get |"
            );
            return None;
        }
    };
    let server = Server {
        name,
        child,
        port,
        data,
        write_path,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let agent = agent(Duration::from_secs(120));
    while Instant::now() < deadline {
        for probe in ["/-/ready", "/health"] {
            if let Ok(r) = agent.get(&format!("http://127.0.0.1:{port}{probe}")).call() {
                if r.status() == 200 {
                    return Some(server);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name} did not become ready");
}

struct IngestResult {
    seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
    failed_requests: usize,
}

fn ingest(server: &Server, shards: &Arc<Vec<Vec<Vec<u8>>>>) -> IngestResult {
    let cpu_before = cpu_seconds(server.child.id());
    let failed = Arc::new(AtomicUsize::new(0));
    let url = format!("http://127.0.0.1:{}{}", server.port, server.write_path);
    let started = Instant::now();
    let senders: Vec<_> = (0..shards.len())
        .map(|shard| {
            let (shards, failed, url) = (shards.clone(), failed.clone(), url.clone());
            std::thread::spawn(move || {
                let agent = agent(Duration::from_secs(120));
                for body in &shards[shard] {
                    if !send(&agent, &url, body) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_after, peak_rss) = (
        cpu_seconds(server.child.id()),
        peak_rss_bytes(server.child.id()),
    );
    IngestResult {
        seconds,
        cpu_seconds: cpu_after - cpu_before,
        peak_rss,
        failed_requests: failed.load(Ordering::Relaxed),
    }
}

/// Sends one request, retrying 5xx and 429 as Prometheus does. False if the
/// server refused it for good.
fn send(agent: &ureq::Agent, url: &str, body: &[u8]) -> bool {
    for _ in 0..20 {
        let sent = agent
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .send(body);
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) if r.status().as_u16() < 500 && r.status().as_u16() != 429 => return false,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

/// Bytes of persisted data once the server has written it out.
fn persisted_bytes(server: &Server) -> (u64, String) {
    let agent = agent(Duration::from_secs(120));
    match server.name {
        "vigil" => {
            let mut r = agent
                .post(&format!(
                    "http://127.0.0.1:{}/api/v1/admin/tsdb/snapshot",
                    server.port
                ))
                .send_empty()
                .unwrap();
            let body: serde_json::Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            let name = body["data"]["name"].as_str().unwrap().to_string();
            let snapshot = server.data.join("tsdb/snapshots").join(&name);
            let mut bytes = 0;
            for block in std::fs::read_dir(&snapshot).unwrap() {
                let block = block.unwrap().path();
                bytes += std::fs::metadata(block.join("index")).unwrap().len();
                bytes += std::fs::metadata(block.join("chunks")).unwrap().len();
            }
            (bytes, "head written as a block (index + chunks)".into())
        }
        "victoria-metrics" => {
            let _ = agent
                .get(&format!(
                    "http://127.0.0.1:{}/internal/force_flush",
                    server.port
                ))
                .call();
            // Let background merges settle, as they would in production.
            std::thread::sleep(Duration::from_secs(15));
            let _ = agent
                .get(&format!(
                    "http://127.0.0.1:{}/internal/force_flush",
                    server.port
                ))
                .call();
            (
                dir_bytes(&server.data),
                "whole storageDataPath after force_flush".into(),
            )
        }
        _ => (0, String::new()),
    }
}

/// Counts samples a server returns bit for bit, over the first target's series.
fn lossless_check(server: &Server, workload: &Workload, end_ms: i64) -> (usize, usize) {
    let agent = agent(Duration::from_secs(120));
    let series = workload.target_series(0);
    let instance = workload
        .labels(series.start)
        .get("instance")
        .unwrap()
        .to_string();
    let selector = format!("{{instance=\"{instance}\"}}");
    let mut exact = 0;
    let mut total = 0;
    let wanted: std::collections::HashMap<String, Vec<model::Sample>> = series
        .clone()
        .map(|s| (workload.labels(s).to_string(), workload.series_samples(s)))
        .collect();
    let encode = |s: &str| -> String { s.bytes().map(|b| format!("%{b:02X}")).collect() };
    let url = if server.name == "victoria-metrics" {
        format!(
            "http://127.0.0.1:{}/api/v1/export?match[]={}",
            server.port,
            encode(&selector)
        )
    } else {
        let range_s = (workload.config().duration_ms / 1000) + 3600;
        format!(
            "http://127.0.0.1:{}/api/v1/query?query={}&time={}",
            server.port,
            encode(&format!("{selector}[{range_s}s]")),
            end_ms as f64 / 1000.0
        )
    };
    let mut response = agent.get(&url).call().unwrap();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    let mut rows: Vec<(serde_json::Value, Vec<(i64, f64)>)> = Vec::new();
    if server.name == "victoria-metrics" {
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let values = row["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN));
            let times = row["timestamps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap());
            rows.push((row["metric"].clone(), times.zip(values).collect()));
        }
    } else {
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        for entry in body["data"]["result"].as_array().unwrap() {
            let pairs = entry["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        (p[0].as_f64().unwrap() * 1000.0).round() as i64,
                        p[1].as_str().unwrap().parse::<f64>().unwrap_or(f64::NAN),
                    )
                })
                .collect();
            rows.push((entry["metric"].clone(), pairs));
        }
    }
    for (metric, pairs) in rows {
        let mut labels: Vec<model::Label> = metric
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| model::Label::new(k.clone(), v.as_str().unwrap()))
            .collect();
        labels.sort();
        let Ok(labels) = model::Labels::new(labels) else {
            continue;
        };
        let Some(want) = wanted.get(&labels.to_string()) else {
            continue;
        };
        for (t, v) in pairs {
            if let Some(w) = want.iter().find(|w| w.t == t) {
                total += 1;
                if w.v.to_bits() == v.to_bits() || (w.v.is_nan() && v.is_nan()) {
                    exact += 1;
                }
            }
        }
    }
    (exact, total)
}

fn promtool_bytes(workload: &Workload, dir: &Path) -> Option<u64> {
    let text_path = dir.join("workload.om");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&text_path).ok()?);
        // OpenMetrics wants each metric family's samples together, in time order.
        let mut by_name: std::collections::BTreeMap<String, Vec<usize>> =
            std::collections::BTreeMap::new();
        for s in 0..workload.series_count() {
            by_name
                .entry(workload.labels(s).metric_name().to_string())
                .or_default()
                .push(s);
        }
        for (name, series) in by_name {
            writeln!(out, "# TYPE {name} unknown").ok()?;
            for s in series {
                let labels = workload.labels(s);
                let rendered: Vec<String> = labels
                    .iter()
                    .filter(|l| l.name != "__name__")
                    .map(|l| {
                        format!(
                            "{}=\"{}\"",
                            l.name,
                            l.value.replace('\\', "\\\\").replace('"', "\\\"")
                        )
                    })
                    .collect();
                for sample in workload.series_samples(s) {
                    writeln!(
                        out,
                        "{name}{{{}}} {} {}.{:03}",
                        rendered.join(","),
                        sample.v,
                        sample.t / 1000,
                        sample.t % 1000
                    )
                    .ok()?;
                }
            }
        }
        writeln!(out, "# EOF").ok()?;
    }
    let blocks = dir.join("promtool-blocks");
    let status = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&text_path)
        .arg(&blocks)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    let _ = std::fs::remove_file(&text_path);
    status.success().then(|| dir_bytes(&blocks))
}

/// Dashboard queries timed as `query_range` over the whole workload at step 60 s.
const DASHBOARD_QUERIES: &[&str] = &[
    r#"count({__name__=~"node_.+"})"#,
    "sum by (instance) (rate(node_cpu_seconds_total[5m]))",
    "topk(5, rate(node_network_receive_bytes_total[5m]))",
    r#"node_filesystem_avail_bytes{mountpoint=~"/|/var.*"} / node_filesystem_size_bytes"#,
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
];

/// Median wall time in ms of each dashboard query (3 runs after a warm-up),
/// and the peak RSS afterwards.
fn time_queries(server: &Server, start_ms: i64, end_ms: i64) -> Vec<Option<f64>> {
    let agent = agent(Duration::from_secs(120));
    let encode = |s: &str| -> String { s.bytes().map(|b| format!("%{b:02X}")).collect() };
    DASHBOARD_QUERIES
        .iter()
        .map(|query| {
            let url = format!(
                "http://127.0.0.1:{}/api/v1/query_range?query={}&start={}&end={}&step=60",
                server.port,
                encode(query),
                start_ms / 1000,
                end_ms / 1000
            );
            let mut times = Vec::new();
            for run in 0..4 {
                let started = Instant::now();
                let mut response = agent.get(&url).call().ok()?;
                let ok = response.status().is_success();
                let _ = response
                    .body_mut()
                    .with_config()
                    .limit(1 << 30)
                    .read_to_vec();
                if !ok {
                    return None;
                }
                if run > 0 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times.sort_by(|a, b| a.total_cmp(b));
            Some(times[times.len() / 2])
        })
        .collect()
}

fn main() {
    let args = parse_args();
    let duration_ms = (args.hours * 3_600_000.0) as i64;
    let start_ms = (now_ms() - duration_ms - 600_000) / 1000 * 1000;
    let workload = Workload::new(WorkloadConfig {
        series: args.series,
        duration_ms,
        start_ms,
        ..WorkloadConfig::default()
    });
    let samples = workload.sample_count();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    println!(
        "# Vigil vs peers — {} series, {samples} samples over {} h; {} cores ({cpu_model})\n",
        workload.series_count(),
        args.hours,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let encode_started = Instant::now();
    let requests = Arc::new(encode_requests(&workload));
    eprintln!(
        "encoded {} requests ({} MiB) in {:.1} s",
        requests.iter().map(Vec::len).sum::<usize>(),
        requests.iter().flatten().map(Vec::len).sum::<usize>() >> 20,
        encode_started.elapsed().as_secs_f64()
    );
    let tmp = tempfile::tempdir().unwrap();
    let vigil_binary = env!("CARGO_MANIFEST_DIR").to_string() + "/../target/release/vigil";
    if !Path::new(&vigil_binary).exists() {
        panic!("build the server first: cargo build --release (looked for {vigil_binary})");
    }
    println!("| server | ingest samples/s | server CPU µs/sample | peak RSS during ingest MiB | bytes/sample on disk | values returned bit for bit | notes |");
    println!("|---|---|---|---|---|---|---|");
    let mut query_times: Vec<(&str, Vec<Option<f64>>, u64)> = Vec::new();
    let systems: [(&str, &str); 3] = [
        ("vigil", "vigil"),
        ("victoria-metrics", "victoria-metrics"),
        ("prometheus", "prometheus"),
    ];
    for (name, _) in systems {
        if args.only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let port = free_port();
        let data = tmp.path().join(name);
        std::fs::create_dir_all(&data).unwrap();
        let server = match name {
            "vigil" => spawn(
                "vigil",
                &vigil_binary,
                vec![
                    "serve".into(),
                    "--otlp.grpc-listen=off".into(),
                    format!("--listen=127.0.0.1:{port}"),
                    format!("--data-dir={}", data.display()),
                ],
                port,
                data.clone(),
                "/api/v1/write",
            ),
            "victoria-metrics" => spawn(
                "victoria-metrics",
                "victoria-metrics",
                vec![
                    format!("-storageDataPath={}", data.display()),
                    format!("-httpListenAddr=127.0.0.1:{port}"),
                    "-retentionPeriod=100y".into(),
                    "-search.disableCache".into(),
                ],
                port,
                data.clone(),
                "/api/v1/write",
            ),
            _ => spawn(
                "prometheus",
                "prometheus",
                vec![
                    format!("--config.file={}", write_empty_config(tmp.path()).display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--web.enable-remote-write-receiver".into(),
                ],
                port,
                data.clone(),
                "/api/v1/write",
            ),
        };
        let Some(server) = server else { continue };
        let result = ingest(&server, &requests);
        let rss_after_ingest = rss_bytes(server.child.id()) as f64 / 1048576.0;
        let end_ms = start_ms + duration_ms + 60_000;
        let (bytes, how) = if name == "prometheus" {
            if args.skip_promtool {
                (0, "promtool skipped".to_string())
            } else {
                (
                    promtool_bytes(&workload, tmp.path()).unwrap_or(0),
                    "promtool create-blocks-from openmetrics".to_string(),
                )
            }
        } else {
            persisted_bytes(&server)
        };
        let rss_after_persist = rss_bytes(server.child.id()) as f64 / 1048576.0;
        let peak_after_persist = peak_rss_bytes(server.child.id()) >> 20;
        let (exact, checked) = lossless_check(&server, &workload, end_ms);
        let peak_after_read_back = peak_rss_bytes(server.child.id()) >> 20;
        let timings = time_queries(&server, start_ms + 600_000, start_ms + duration_ms);
        query_times.push((name, timings, peak_rss_bytes(server.child.id()) >> 20));
        // VmHWM only grows: each phase's figure is the peak up to its end.
        eprintln!(
            "{name}: RSS after ingest {rss_after_ingest:.0} MiB, after persisting {rss_after_persist:.0} MiB, after reading back and the queries {:.0} MiB; peak up to persisting {peak_after_persist} MiB, up to reading back {peak_after_read_back} MiB, up to the queries {} MiB",
            (rss_bytes(server.child.id()) as f64 / 1048576.0),
            peak_rss_bytes(server.child.id()) >> 20
        );
        let peak_after = peak_rss_bytes(server.child.id());
        println!(
            "| {name} | {:.0} | {:.3} | {:.0} | {} | {exact}/{checked} ({:.1}%) | {how}; peak RSS incl. persisting and reading back {:.0} MiB{} |",
            samples as f64 / result.seconds,
            result.cpu_seconds * 1e6 / samples as f64,
            result.peak_rss as f64 / (1 << 20) as f64,
            if bytes > 0 {
                format!("{:.3}", bytes as f64 / samples as f64)
            } else {
                "–".into()
            },
            100.0 * exact as f64 / checked.max(1) as f64,
            result.peak_rss.max(peak_after) as f64 / (1 << 20) as f64,
            if result.failed_requests > 0 {
                format!("; {} requests failed", result.failed_requests)
            } else {
                String::new()
            },
        );
    }
    println!(
        "\n## Dashboard queries: query_range over the workload, step 60 s (median of 3, ms)\n"
    );
    let header: Vec<&str> = query_times.iter().map(|(name, _, _)| *name).collect();
    println!("| query | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    for (i, query) in DASHBOARD_QUERIES.iter().enumerate() {
        let cells: Vec<String> = query_times
            .iter()
            .map(|(_, times, _)| times[i].map_or("failed".into(), |ms| format!("{ms:.1}")))
            .collect();
        println!(
            "| `{}` | {} |",
            query.replace('|', "\\|"),
            cells.join(" | ")
        );
    }
    let peaks: Vec<String> = query_times
        .iter()
        .map(|(_, _, rss)| format!("{rss} MiB"))
        .collect();
    println!("| peak RSS of the whole run | {} |", peaks.join(" | "));
}

fn write_empty_config(dir: &Path) -> PathBuf {
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, "global:\n  scrape_interval: 1h\n").unwrap();
    path
}
