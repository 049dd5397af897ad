//! PromQL answers compared with a real Prometheus (Debian's 2.42): the same
//! samples are remote-written into both, then the same queries go through
//! both HTTP APIs; label sets must be equal and values within 1e-9 relative
//! (or both NaN).
//!
//! Prometheus 2.42 selects left-closed windows `[t-d, t]`, 3.x and Vigil
//! left-open `(t-d, t]`: samples sit 7 ms past each 15 s and evaluation times
//! 3.333 s past, so no sample ever lies on a window boundary and both
//! semantics select the same samples.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{agent, encode, free_port, get_json, peer, write, write_to, Server};
use model::remote_write::TimeSeries;

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const STEP: i64 = 15_000;
const POINTS: i64 = 240;

/// ~150 series over an hour: request counters by job/instance/code, gauges,
/// a classic histogram, and a series that stops (stale) halfway.
fn dataset(t0: i64) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    let at = |k: i64| t0 + k * STEP + 7;
    for (j, job) in ["api", "web", "db"].iter().enumerate() {
        for i in 0..4 {
            let instance = format!("host-{i}:9100");
            for (c, code) in ["200", "404", "500"].iter().enumerate() {
                let rate = ((j + 1) * (i + 1) * (3 - c)) as f64 * 0.7;
                let samples: Vec<(i64, f64)> = (0..POINTS)
                    .map(|k| {
                        // A counter reset at k = 150 for one series.
                        let base = if j == 1 && i == 2 && c == 0 && k >= 150 {
                            (k - 150) as f64
                        } else {
                            k as f64
                        };
                        (at(k), (base * rate * 15.0).round() / 100.0)
                    })
                    .collect();
                out.push(TimeSeries::new(
                    &[
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", &instance),
                        ("code", code),
                    ],
                    &samples,
                ));
            }
            let memory: Vec<(i64, f64)> = (0..POINTS)
                .map(|k| {
                    (
                        at(k),
                        (1_000_000 + ((k * 7919 + (i as i64) * 104_729) % 50_000) * 4096) as f64,
                    )
                })
                .collect();
            out.push(TimeSeries::new(
                &[
                    ("__name__", "memory_bytes"),
                    ("job", job),
                    ("instance", &instance),
                ],
                &memory,
            ));
            let temperature: Vec<(i64, f64)> = (0..POINTS)
                .map(|k| {
                    (
                        at(k),
                        20.0 + ((k + i as i64 * 13) % 17) as f64 * 0.5 - j as f64,
                    )
                })
                .collect();
            out.push(TimeSeries::new(
                &[
                    ("__name__", "temperature_celsius"),
                    ("job", job),
                    ("instance", &instance),
                ],
                &temperature,
            ));
            let mut cumulative = 0.0;
            let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];
            let mut buckets: Vec<Vec<(i64, f64)>> = vec![Vec::new(); bounds.len()];
            for k in 0..POINTS {
                cumulative += 1.0 + (k % 5) as f64;
                for (b, list) in buckets.iter_mut().enumerate() {
                    let share = (b + 1) as f64 / bounds.len() as f64;
                    list.push((at(k), (cumulative * share * (1.0 + i as f64)).floor()));
                }
            }
            for (b, le) in bounds.iter().enumerate() {
                out.push(TimeSeries::new(
                    &[
                        ("__name__", "latency_seconds_bucket"),
                        ("job", job),
                        ("instance", &instance),
                        ("le", le),
                    ],
                    &buckets[b],
                ));
            }
        }
    }
    let mut stopping: Vec<(i64, f64)> = (0..POINTS / 2).map(|k| (at(k), k as f64)).collect();
    stopping.push((
        at(POINTS / 2),
        f64::from_bits(model::sample::STALE_NAN_BITS),
    ));
    out.push(TimeSeries::new(
        &[("__name__", "batch_progress"), ("job", "batch")],
        &stopping,
    ));
    out
}

fn queries() -> Vec<String> {
    let mut q: Vec<String> = [
        "http_requests_total",
        r#"http_requests_total{job="api", code!="200"}"#,
        r#"http_requests_total{instance=~"host-[12].*"}"#,
        r#"{__name__=~"memory_.*", job!~"db|web"}"#,
        "http_requests_total offset 10m",
        "memory_bytes[2m]",
        "batch_progress",
        "sum(http_requests_total)",
        "sum by (job) (http_requests_total)",
        "sum without (instance) (http_requests_total)",
        "avg by (job) (memory_bytes)",
        "min by (code) (http_requests_total)",
        "max without (code, instance) (http_requests_total)",
        "count by (job) (http_requests_total)",
        "group by (instance) (http_requests_total)",
        "stddev by (job) (temperature_celsius)",
        "stdvar(temperature_celsius)",
        "topk(3, http_requests_total)",
        "bottomk by (job) (2, memory_bytes)",
        "quantile(0.9, memory_bytes)",
        "quantile by (job) (0.25, temperature_celsius)",
        r#"count_values("temperature", temperature_celsius)"#,
        "http_requests_total + 1",
        "2 * memory_bytes",
        "memory_bytes / 1024 / 1024",
        "temperature_celsius % 3",
        "temperature_celsius ^ 2",
        "-temperature_celsius",
        "temperature_celsius > 21",
        "temperature_celsius >= bool 21",
        "22 < temperature_celsius",
        "temperature_celsius == bool 20",
        "memory_bytes / on(job, instance) group_left sum by (job, instance) (memory_bytes)",
        r#"http_requests_total / ignoring(code) group_left sum without (code) (http_requests_total)"#,
        "temperature_celsius - on(job, instance) memory_bytes / 1e6",
        r#"http_requests_total{code="200"} and on(instance) temperature_celsius > 21"#,
        r#"http_requests_total{code="500"} or on(job) memory_bytes"#,
        "memory_bytes unless on(instance) temperature_celsius > 22",
        "sum by (job) (memory_bytes) > bool 4e9",
        "abs(-temperature_celsius)",
        "ceil(temperature_celsius / 3)",
        "floor(temperature_celsius / 3)",
        "round(temperature_celsius / 3)",
        "round(temperature_celsius, 0.3)",
        "clamp(temperature_celsius, 19, 21)",
        "clamp_min(temperature_celsius, 21)",
        "clamp_max(temperature_celsius, 20)",
        "exp(temperature_celsius / 10)",
        "ln(memory_bytes)",
        "log2(memory_bytes)",
        "log10(memory_bytes)",
        "sqrt(temperature_celsius)",
        "sgn(temperature_celsius - 21)",
        "sin(temperature_celsius)",
        "cos(temperature_celsius)",
        "atan(temperature_celsius)",
        "deg(temperature_celsius)",
        "rad(temperature_celsius)",
        "time()",
        "timestamp(temperature_celsius)",
        "vector(1)",
        "scalar(sum(temperature_celsius))",
        "absent(nonexistent_metric{job=\"x\"})",
        "absent(temperature_celsius)",
        r#"label_replace(memory_bytes, "host", "$1", "instance", "(.*):.*")"#,
        r#"label_join(memory_bytes, "id", "-", "job", "instance")"#,
        "sort(temperature_celsius)",
        "sort_desc(memory_bytes)",
        "day_of_month()",
        "day_of_week()",
        "hour()",
        "minute(timestamp(temperature_celsius))",
        "month()",
        "year()",
        "days_in_month()",
        "histogram_quantile(0.5, latency_seconds_bucket)",
        "histogram_quantile(0.99, sum by (le) (rate(latency_seconds_bucket[5m])))",
        "histogram_quantile(0.9, sum by (job, le) (rate(latency_seconds_bucket[2m])))",
        "max_over_time(temperature_celsius[5m:1m])",
        "rate(http_requests_total[5m])[10m:2m]",
        "sum_over_time(temperature_celsius[30m:5m] offset 5m)",
        "avg_over_time(rate(http_requests_total[1m])[5m:30s])",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for f in [
        "rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
    ] {
        for range in ["1m", "5m", "17m"] {
            q.push(format!("{f}(http_requests_total[{range}])"));
        }
    }
    for f in [
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "last_over_time",
        "present_over_time",
    ] {
        for range in ["1m", "10m"] {
            q.push(format!("{f}(temperature_celsius[{range}])"));
        }
    }
    q.push("quantile_over_time(0.7, temperature_celsius[10m])".into());
    q.push("predict_linear(memory_bytes[10m], 600)".into());
    q.push("holt_winters(temperature_celsius[10m], 0.5, 0.3)".into());
    q.push("absent_over_time(nonexistent[5m])".into());
    q.push("sum by (job) (rate(http_requests_total[5m])) / on(job) group_left count by (job) (memory_bytes)".into());
    q.push("topk by (job) (1, rate(http_requests_total[5m]))".into());
    q.push("changes(batch_progress[1h])".into());
    q
}

fn result_map(body: &serde_json::Value) -> BTreeMap<String, Vec<(i64, f64)>> {
    let parse = |p: &serde_json::Value| -> (i64, f64) {
        let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
        let v = match p[1].as_str().unwrap() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap(),
        };
        (t, v)
    };
    let data = &body["data"];
    let mut out = BTreeMap::new();
    match data["resultType"].as_str() {
        Some("scalar") => {
            out.insert("scalar".into(), vec![parse(&data["result"])]);
        }
        _ => {
            for entry in data["result"].as_array().unwrap() {
                let values = match entry.get("values") {
                    Some(values) => values.as_array().unwrap().iter().map(parse).collect(),
                    None => vec![parse(&entry["value"])],
                };
                out.insert(entry["metric"].to_string(), values);
            }
        }
    }
    out
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || ((a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
}

#[test]
fn promql_answers_match_prometheus() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vigil = Server::start(&dir.path().join("vigil"), &[]);
    let agent = agent();
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prometheus = Peer(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let prom = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent
        .get(&prom("/-/ready"))
        .call()
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "Prometheus did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = (now - POINTS * STEP - 600_000) / 60_000 * 60_000;
    let data = dataset(t0);
    for chunk in data.chunks(20) {
        assert_eq!(write(&agent, &vigil, chunk.to_vec()).0, 204);
        let (status, body) = write_to(&agent, &prom("/api/v1/write"), chunk.to_vec());
        assert!(
            status / 100 == 2,
            "Prometheus refused the data: {status} {body}"
        );
    }

    let times = [t0 + 40 * 60_000 + 3_333, t0 + 55 * 60_000 + 3_333];
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for query in queries() {
        let mut urls: Vec<String> = times
            .iter()
            .map(|t| {
                format!(
                    "/api/v1/query?query={}&time={}.{:03}",
                    encode(&query),
                    t / 1000,
                    t % 1000
                )
            })
            .collect();
        if !query.contains("[10m:2m]") && !query.ends_with("[2m]") {
            urls.push(format!(
                "/api/v1/query_range?query={}&start={}.333&end={}.333&step=60",
                encode(&query),
                (t0 + 30 * 60_000) / 1000,
                (t0 + 50 * 60_000) / 1000
            ));
        }
        for url in urls {
            let (ps, want) = get_json(&agent, &prom(&url));
            let (vs, got) = get_json(&agent, &vigil.url(&url));
            checked += 1;
            if ps != vs {
                mismatches.push(format!(
                    "{query} ({url}): status {ps} vs {vs}: {want} / {got}"
                ));
                continue;
            }
            if ps != 200 {
                continue;
            }
            let (want, got) = (result_map(&want), result_map(&got));
            if want.keys().ne(got.keys()) {
                mismatches.push(format!(
                    "{query}: series differ:\n    prometheus {:?}\n    vigil      {:?}",
                    want.keys().collect::<Vec<_>>(),
                    got.keys().collect::<Vec<_>>()
                ));
                continue;
            }
            for (series, w) in &want {
                let g = &got[series];
                if w.len() != g.len() || w.iter().zip(g).any(|(a, b)| a.0 != b.0 || !same(a.1, b.1))
                {
                    mismatches.push(format!(
                        "{query}: {series}: prometheus {w:?} vs vigil {g:?}"
                    ));
                    break;
                }
            }
        }
    }
    assert!(checked >= 300, "only {checked} comparisons ran");
    assert!(
        mismatches.is_empty(),
        "{} of {checked} answers differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
