//! Rule files given to `vigil serve --rules.file` are evaluated against the
//! metrics store: recording rules write their series, alerting rules go
//! pending then firing, `ALERTS` is queryable, and `/api/v1/rules` and
//! `/api/v1/alerts` answer in Prometheus' shapes. A broken rule file stops
//! the server at start with file:line:column.

mod common;

use std::time::{Duration, Instant};

use common::{agent, encode, get_json, write, Server};
use model::remote_write::TimeSeries;

const RULES: &str = r#"groups:
  - name: fleet
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} is down"
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn rules_are_evaluated_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("fleet.yml");
    std::fs::write(&rules, RULES).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--rules.file", rules.to_str().unwrap()],
    );
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut firing = false;
    while Instant::now() < deadline && !firing {
        // Fresh samples each round: a is down, b is up.
        let t = now_ms();
        let (status, body) = write(
            &agent,
            &server,
            vec![
                TimeSeries::new(
                    &[("__name__", "up"), ("job", "node"), ("instance", "a")],
                    &[(t, 0.0)],
                ),
                TimeSeries::new(
                    &[("__name__", "up"), ("job", "node"), ("instance", "b")],
                    &[(t, 1.0)],
                ),
            ],
        );
        assert_eq!(status, 204, "{body}");
        let (_, alerts) = get_json(&agent, &server.url("/api/v1/alerts"));
        firing = alerts["data"]["alerts"][0]["state"] == "firing";
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(firing, "InstanceDown never fired:\n{}", server.logs());

    let (_, alerts) = get_json(&agent, &server.url("/api/v1/alerts"));
    let alert = &alerts["data"]["alerts"][0];
    assert_eq!(alerts["data"]["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(alert["labels"]["alertname"], "InstanceDown");
    assert_eq!(alert["labels"]["instance"], "a");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "a is down");
    assert_eq!(alert["value"], "0e+00");

    let (_, rules) = get_json(&agent, &server.url("/api/v1/rules"));
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "fleet");
    assert_eq!(group["interval"], 1.0);
    assert_eq!(group["rules"][0]["type"], "recording");
    assert_eq!(group["rules"][0]["health"], "ok");
    assert_eq!(group["rules"][1]["state"], "firing");

    let query = |q: &str| {
        let (status, body) = get_json(
            &agent,
            &server.url(&format!("/api/v1/query?query={}", encode(q))),
        );
        assert_eq!(status, 200, "{body}");
        body["data"]["result"].clone()
    };
    assert_eq!(query("job:up:sum")[0]["value"][1], "1");
    let alerts_series = query(r#"ALERTS{alertname="InstanceDown",alertstate="firing"}"#);
    assert_eq!(alerts_series[0]["metric"]["instance"], "a");
    assert_eq!(query("ALERTS_FOR_STATE")[0]["metric"]["severity"], "page");
}

#[test]
fn a_broken_rule_file_stops_the_server_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--otlp.grpc-listen",
            "off",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .args(["--rules.file", rules.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:5:", rules.display())),
        "{stderr}"
    );
    assert!(stderr.contains("vigil check rules"), "{stderr}");
}

#[test]
fn a_pending_alert_resumes_its_for_timer_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("slow.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: slow\n    interval: 1s\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 1h\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = ["--rules.file", rules.to_str().unwrap()];
    let agent = agent();
    let active_at = |server: &Server| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, alerts) = get_json(&agent, &server.url("/api/v1/alerts"));
            if let Some(at) = alerts["data"]["alerts"][0]["activeAt"].as_str() {
                assert_eq!(alerts["data"]["alerts"][0]["state"], "pending");
                return at.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no pending alert:\n{}",
                server.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut server = Server::start(&data, &args);
    let before = active_at(&server);
    // Let ALERTS_FOR_STATE reach the WAL's fsync (every second by default).
    std::thread::sleep(Duration::from_secs(3));
    server.kill();
    let server = Server::start(&data, &args);
    // ALERTS_FOR_STATE holds whole seconds, as Prometheus writes it.
    let after = active_at(&server);
    assert_eq!(
        after[..19],
        before[..19],
        "the for timer restarted:\n{}",
        server.logs()
    );
}

#[test]
fn reload_keeps_unchanged_alerts_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    let one = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 1h\n";
    std::fs::write(&rules, one).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--rules.file", rules.to_str().unwrap()],
    );
    let agent = agent();
    let rule_count = || {
        let (_, body) = get_json(&agent, &server.url("/api/v1/rules"));
        body["data"]["groups"][0]["rules"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let active_at = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, alerts) = get_json(&agent, &server.url("/api/v1/alerts"));
            if let Some(at) = alerts["data"]["alerts"][0]["activeAt"].as_str() {
                return at.to_string();
            }
            assert!(Instant::now() < deadline, "no alert:\n{}", server.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let before = active_at();
    let reload = || {
        let mut r = agent.post(&server.url("/-/reload")).send_empty().unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };

    // A rule added: the unchanged alert keeps its timer.
    std::fs::write(
        &rules,
        format!("{one}      - record: one\n        expr: vector(1)\n"),
    )
    .unwrap();
    assert_eq!(reload(), (200, String::new()));
    assert_eq!(rule_count(), 2);
    assert_eq!(active_at(), before);

    // A broken file: 500 with the position, the old rules stay.
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
    )
    .unwrap();
    let (status, body) = reload();
    assert_eq!(status, 500);
    assert!(
        body.contains("failed to reload config") && body.contains(":5:"),
        "{body}"
    );
    assert_eq!(rule_count(), 2);

    // SIGHUP reloads too.
    std::fs::write(&rules, one).unwrap();
    // SAFETY: kill(2) with the child's pid and a signal number.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rule_count() != 1 {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not reload:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(active_at(), before);
}
