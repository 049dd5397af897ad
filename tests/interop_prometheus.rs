//! Interop with a real Prometheus (Debian's `prometheus`): it scrapes itself
//! and `prometheus-node-exporter`, and remote-writes into Vigil. After several
//! scrapes, both APIs return the same series with the same samples.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{agent, encode, free_port, get_json, peer, spawn, Server};

/// `labels → [(t_ms, value)]` of a range-vector query result.
fn samples(body: &serde_json::Value) -> BTreeMap<String, Vec<(i64, f64)>> {
    assert_eq!(body["status"], "success", "{body}");
    let mut out = BTreeMap::new();
    for entry in body["data"]["result"].as_array().unwrap() {
        let values = entry["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = match p[1].as_str().unwrap() {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    other => other.parse().unwrap(),
                };
                (t, v)
            })
            .collect();
        out.insert(entry["metric"].to_string(), values);
    }
    out
}

/// Polls `done` until it holds; false on timeout.
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

#[test]
fn prometheus_remote_writes_the_same_samples_it_stores() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let node_exporter = peer("prometheus-node-exporter", "prometheus-node-exporter");
    let dir = tempfile::tempdir().unwrap();
    let vigil = Server::start(&dir.path().join("vigil"), &[]);
    let agent = agent();

    let prom_port = free_port();
    let mut targets = format!(
        "  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n"
    );
    let _node = node_exporter.map(|binary| {
        let port = free_port();
        targets.push_str(&format!(
            "  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ));
        spawn(
            &binary,
            &[
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--collector.disable-defaults".into(),
                "--collector.cpu".into(),
                "--collector.meminfo".into(),
                "--collector.loadavg".into(),
                "--collector.filesystem".into(),
            ],
            &dir.path().join("node.log"),
        )
    });
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{targets}remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n      max_samples_per_send: 2000\n    metadata_config:\n      send_interval: 2s\n",
        vigil.port
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let _prometheus = spawn(
        &prometheus,
        &[
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &dir.path().join("prometheus.log"),
    );
    let prom_url = |path: &str| format!("http://127.0.0.1:{prom_port}{path}");
    let prom_log =
        || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();

    // Several scrapes, shipped to Vigil: `(fewest samples of an up series, oldest newest sample)`.
    let shipped = || -> (usize, i64) {
        let (_, body) = get_json(
            &agent,
            &vigil.url(&format!("/api/v1/query?query={}", encode("up[1m]"))),
        );
        let result = body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let fewest = result
            .iter()
            .map(|e| e["values"].as_array().map_or(0, Vec::len))
            .min()
            .unwrap_or(0);
        let newest = result
            .iter()
            .filter_map(|e| e["values"].as_array()?.last()?[0].as_f64())
            .reduce(f64::min)
            .map_or(0, |t| (t * 1000.0) as i64);
        (fewest, newest)
    };
    if !wait_for(Duration::from_secs(90), || shipped().0 >= 8) {
        panic!(
            "Prometheus did not remote-write 8 scrapes within 90 s; its log:\n{}\nVigil's log:\n{}",
            prom_log(),
            vigil.logs()
        );
    }
    // An evaluation time off any sample timestamp, safely behind the newest one
    // shipped, so Prometheus' left-closed and our left-open windows agree.
    let t = shipped().1 - 1500;
    let time = format!("{}.{:03}", t / 1000, (t % 1000) | 1);
    std::thread::sleep(Duration::from_secs(3));

    for selector in [
        r#"{job="prometheus"}[5s]"#,
        r#"{job="node"}[5s]"#,
        r#"up[30s]"#,
        r#"{__name__=~"prometheus_tsdb_head_.*"}[10s]"#,
    ] {
        let query = format!("/api/v1/query?query={}&time={time}", encode(selector));
        let (status, from_prometheus) = get_json(&agent, &prom_url(&query));
        assert_eq!(status, 200, "{from_prometheus}");
        let (status, from_vigil) = get_json(&agent, &vigil.url(&query));
        assert_eq!(status, 200, "{from_vigil}");
        let want = samples(&from_prometheus);
        let got = samples(&from_vigil);
        if selector.contains("node") && want.is_empty() {
            continue; // no node exporter on this machine
        }
        if want.is_empty() {
            let (_, recent) = get_json(
                &agent,
                &prom_url(&format!("/api/v1/query?query={}", encode("up[10s]"))),
            );
            panic!("Prometheus has no data for {selector} at {time}: {from_prometheus}\nits recent up samples: {recent}");
        }
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "same series for {selector}"
        );
        for (series, want_samples) in &want {
            let got_samples = &got[series];
            assert_eq!(
                want_samples.len(),
                got_samples.len(),
                "{series}: {want_samples:?} vs {got_samples:?}"
            );
            for (w, g) in want_samples.iter().zip(got_samples) {
                assert_eq!(w.0, g.0, "{series}: timestamps");
                assert!(
                    w.1.to_bits() == g.1.to_bits() || (w.1.is_nan() && g.1.is_nan()),
                    "{series}: {w:?} vs {g:?}"
                );
            }
        }
    }

    // Metadata travelled too.
    let metadata_arrived = wait_for(Duration::from_secs(30), || {
        let (_, body) = get_json(
            &agent,
            &vigil.url("/api/v1/metadata?metric=prometheus_http_requests_total"),
        );
        body["data"]["prometheus_http_requests_total"][0]["type"] == "counter"
    });
    assert!(
        metadata_arrived,
        "Prometheus' metric metadata reached Vigil; its log:\n{}",
        prom_log()
    );
}
