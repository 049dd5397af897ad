//! The notification pipeline end to end: Vigil's own rules and alerts
//! posted to `/api/v2/alerts` (as a Prometheus sends them) reach a webhook
//! receiver as Alertmanager's version-4 payload, grouped; API v2 lists
//! alerts, receivers and status; and a real `amtool` (Debian's
//! prometheus-alertmanager) adds, queries and expires a silence and lists
//! alerts. Silences survive a SIGKILL.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{agent, free_port, get_json, peer, spawn, Server};
use serde_json::Value as Json;

/// A webhook receiver: every POST body, as JSON, on the channel.
fn webhook() -> (u16, mpsc::Receiver<Json>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
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
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(json) = serde_json::from_slice(&body) {
                    let _ = tx.send(json);
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, rx)
}

fn config(webhook_port: u16) -> String {
    format!(
        r#"route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{webhook_port}/notify
"#
    )
}

const RULES: &str = r#"groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          severity: info
        annotations:
          summary: "value {{ $value }}"
"#;

fn wait_for(rx: &mpsc::Receiver<Json>, what: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(payload) = rx.recv_timeout(left) {
            if what(&payload) {
                return payload;
            }
        }
    }
    panic!("no matching webhook notification within 30 s");
}

#[test]
fn rules_and_posted_alerts_reach_the_webhook_and_api_v2_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let (port, notifications) = webhook();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, config(port)).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--alertmanager.config",
            am_config.to_str().unwrap(),
            "--rules.file",
            rules.to_str().unwrap(),
        ],
    );

    // From Vigil's own rule, in-process.
    let payload = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "AlwaysFiring"
    });
    assert_eq!(payload["version"], "4");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["receiver"], "hook");
    assert_eq!(payload["groupKey"], "{}:{alertname=\"AlwaysFiring\"}");
    assert_eq!(payload["truncatedAlerts"], 0);
    assert_eq!(
        payload["externalURL"],
        format!("http://127.0.0.1:{}", server.port)
    );
    let alert = &payload["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "AlwaysFiring", "severity": "info"})
    );
    assert_eq!(alert["annotations"]["summary"], "value 1");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(payload["commonLabels"]["severity"], "info");

    // Posted as a Prometheus posts them; then resolved.
    let agent = agent();
    let post = |body: &str| {
        let mut r = agent
            .post(&server.url("/api/v2/alerts"))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let (status, _) = post(
        r#"[{"labels": {"alertname": "DiskFull", "instance": "a"}, "annotations": {"summary": "disk"}, "generatorURL": "http://prom/graph"}]"#,
    );
    assert_eq!(status, 200);
    let payload = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "DiskFull"
    });
    assert_eq!(payload["alerts"][0]["generatorURL"], "http://prom/graph");
    let (status, _) = post(
        r#"[{"labels": {"alertname": "DiskFull", "instance": "a"}, "endsAt": "2020-01-01T00:00:00Z", "startsAt": "2019-12-31T00:00:00Z"}]"#,
    );
    assert_eq!(status, 200);
    let resolved = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "DiskFull" && p["status"] == "resolved"
    });
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    let (status, body) = post(r#"[{"labels": {}}]"#);
    assert_eq!(status, 400);
    assert!(body.contains("at least one label pair required"), "{body}");

    let (_, alerts) = get_json(&agent, &server.url("/api/v2/alerts"));
    let names: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["AlwaysFiring"],
        "the resolved one is not listed"
    );
    assert_eq!(alerts[0]["receivers"][0]["name"], "hook");
    assert_eq!(alerts[0]["status"]["state"], "active");
    let (_, receivers) = get_json(&agent, &server.url("/api/v2/receivers"));
    assert_eq!(receivers, serde_json::json!([{"name": "hook"}]));
    let (_, status) = get_json(&agent, &server.url("/api/v2/status"));
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("webhook_configs"));
    let (_, groups) = get_json(&agent, &server.url("/api/v2/alerts/groups"));
    assert_eq!(groups[0]["receiver"]["name"], "hook");
}

#[test]
fn amtool_manages_silences_that_survive_a_sigkill() {
    let Some(amtool) = peer("amtool", "prometheus-alertmanager") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let url = format!("--alertmanager.url=http://127.0.0.1:{}", server.port);
    let amtool_run = |args: &[&str]| {
        let output = Command::new(&amtool).arg(&url).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "amtool {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let agent = agent();
    let response = agent
        .post(&server.url("/api/v2/alerts"))
        .header("Content-Type", "application/json")
        .send(r#"[{"labels": {"alertname": "Maintenance", "instance": "db-1", "severity": "warning"}}]"#)
        .unwrap();
    assert_eq!(response.status(), 200);

    let id = amtool_run(&[
        "silence",
        "add",
        "alertname=Maintenance",
        "instance=~db-.*",
        "--comment=planned",
        "--author=ops",
        "--duration=1h",
    ])
    .trim()
    .to_string();
    assert_eq!(id.len(), 36, "a silence id: {id}");
    let listed = amtool_run(&["silence", "query", "-o", "json"]);
    let silences: Json = serde_json::from_str(&listed).unwrap();
    assert_eq!(silences[0]["id"], id);
    assert_eq!(silences[0]["createdBy"], "ops");
    assert_eq!(silences[0]["status"]["state"], "active");
    let alerts: Json =
        serde_json::from_str(&amtool_run(&["alert", "query", "-o", "json", "--silenced"])).unwrap();
    assert_eq!(alerts[0]["labels"]["alertname"], "Maintenance");
    assert_eq!(alerts[0]["status"]["silencedBy"][0], id);
    let active_only: Json =
        serde_json::from_str(&amtool_run(&["alert", "query", "-o", "json"])).unwrap();
    assert!(
        active_only.as_array().unwrap().is_empty(),
        "silenced alerts are hidden by default: {active_only}"
    );

    // The silence is on disk before amtool gets its id.
    server.kill();
    let mut server = Server::start(&data, &[]);
    let url = format!("--alertmanager.url=http://127.0.0.1:{}", server.port);
    let run = |args: &[&str]| {
        let output = Command::new(&amtool).arg(&url).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "amtool {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let listed: Json = serde_json::from_str(&run(&["silence", "query", "-o", "json"])).unwrap();
    assert_eq!(listed[0]["id"], id, "the silence survived the SIGKILL");
    run(&["silence", "expire", &id]);
    let listed: Json =
        serde_json::from_str(&run(&["silence", "query", "-o", "json", "--expired"])).unwrap();
    assert_eq!(listed[0]["status"]["state"], "expired");
    server.kill();
}

#[test]
fn a_restart_does_not_send_again_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (port, notifications) = webhook();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, config(port)).unwrap();
    let data = dir.path().join("data");
    let args = ["--alertmanager.config", am_config.to_str().unwrap()];
    let alert = r#"[{"labels": {"alertname": "Once", "instance": "a"}, "startsAt": "2026-01-01T00:00:00Z"}]"#;
    let post = |server: &Server| {
        let response = agent()
            .post(&server.url("/api/v2/alerts"))
            .header("Content-Type", "application/json")
            .send(alert)
            .unwrap();
        assert_eq!(response.status(), 200);
    };
    let mut server = Server::start(&data, &args);
    post(&server);
    wait_for(&notifications, |p| p["groupLabels"]["alertname"] == "Once");
    // The delivery is recorded once the receiver has answered: wait for the
    // log on disk (a kill before it means at-least-once, as in Alertmanager).
    let log = data.join("alertmanager/nflog.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read(&log).map_or(true, |b| b.len() < 10) {
        assert!(
            Instant::now() < deadline,
            "the notification log was not written"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();

    // The sender keeps sending the same alert, as Prometheus does.
    let server = Server::start(&data, &args);
    post(&server);
    // group_wait 1s and group_interval 2s: three flushes would have sent it.
    match notifications.recv_timeout(Duration::from_secs(6)) {
        Err(_) => {}
        Ok(payload) => panic!("sent again after the restart: {payload}\n{}", server.logs()),
    }
}

#[test]
fn a_real_prometheus_delivers_firing_and_resolved_alerts_through_vigil() {
    let Some(prometheus) = peer("prometheus", "prometheus") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (port, notifications) = webhook();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, config(port)).unwrap();
    let vigil = Server::start(
        &dir.path().join("data"),
        &["--alertmanager.config", am_config.to_str().unwrap()],
    );
    // Fires in the first 6 s of every 12 s, so it resolves too.
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: flapping\n    rules:\n      - alert: Flapping\n        expr: vector(time()) % 12 < 6\n        labels:\n          severity: warning\n        annotations:\n          summary: flapping\n",
    )
    .unwrap();
    let prom_port = free_port();
    let config = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - api_version: v2\n      static_configs:\n        - targets: ['127.0.0.1:{}']\n",
        dir.path().join("rules.yml").display(),
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
    let firing = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "Flapping" && p["status"] == "firing"
    });
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["annotations"]["summary"], "flapping");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .contains(&format!(":{prom_port}/")),
        "the URL Prometheus gave: {alert}"
    );
    let resolved = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "Flapping" && p["status"] == "resolved"
    });
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
}

/// A webhook receiver over TLS (Python's `ssl` with a certificate from a
/// private CA made with `openssl`) that answers 503 to the first delivery:
/// the notification arrives, verified against `tls_config.ca_file`, on a
/// retry seconds later, not at the group's next flush a minute later.
#[test]
fn a_tls_webhook_that_fails_once_gets_the_notification_on_a_retry() {
    let Some(openssl) = peer("openssl", "openssl") else {
        return;
    };
    let Some(python) = common::python_with("ssl, http.server", "python3 (with ssl)") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(&openssl).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &[
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=vigil-test-ca",
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.pem"),
        ][..],
        &ec,
    ]
    .concat());
    run(&[
        &[
            "req",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &path("leaf.key"),
            "-out",
            &path("leaf.csr"),
        ][..],
        &ec,
    ]
    .concat());
    std::fs::write(
        dir.path().join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &path("leaf.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &path("leaf.ext"),
        "-out",
        &path("leaf.pem"),
    ]);
    let server_script = r#"
import http.server, ssl, sys
calls = 0
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global calls
        calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 503 if calls == 1 else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print(status, body.decode(), flush=True)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut hook = Command::new(python)
        .args(["-c", server_script, &path("leaf.pem"), &path("leaf.key")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(hook.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });

    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: hook\n  group_wait: 1s\n  group_interval: 1m\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: https://localhost:{port}/hook\n        http_config:\n          tls_config:\n            ca_file: {}\n",
            path("ca.pem")
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--alertmanager.config", am_config.to_str().unwrap()],
    );
    let mut response = agent()
        .post(&server.url("/api/v2/alerts"))
        .header("Content-Type", "application/json")
        .send(r#"[{"labels":{"alertname":"DiskFull","instance":"db-1"}}]"#)
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.body_mut().read_to_string().unwrap()
    );

    let receive = || {
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no delivery within 30 s:\n{}", server.logs()))
    };
    let (first_at, first) = receive();
    assert!(first.starts_with("503 "), "{first}");
    let (second_at, second) = receive();
    assert!(second.starts_with("200 "), "{second}");
    let payload: serde_json::Value = serde_json::from_str(&second[4..]).unwrap();
    assert_eq!(payload["alerts"][0]["labels"]["instance"], "db-1");
    let gap = second_at - first_at;
    assert!(
        gap < Duration::from_secs(30),
        "the retry came {gap:?} after the failure, not within the first backoff steps"
    );
    // Delivered once: nothing more within the backoff's next steps.
    assert!(rx.recv_timeout(Duration::from_secs(3)).is_err());
    let _ = hook.kill();
    let _ = hook.wait();
}

/// Prometheus' `global.external_labels` (in Vigil's config file) and
/// `--web.external-url`: templates see them, rule alerts carry the labels
/// they lack, and notifications link to the external URL.
#[test]
fn external_labels_and_url_reach_templates_and_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let (port, notifications) = webhook();
    let am_config = dir.path().join("alertmanager.yml");
    std::fs::write(&am_config, config(port)).unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        r#"groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels:
          region: rule-wins
        annotations:
          where: "{{ $externalLabels.cluster }} at {{ $externalURL }}"
"#,
    )
    .unwrap();
    let config_file = dir.path().join("vigil.yml");
    std::fs::write(
        &config_file,
        "external_labels:\n  cluster: eu-1\n  region: eu\nexternal_url: https://file.example.com\n",
    )
    .unwrap();
    let _server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config_file.to_str().unwrap(),
            "--web.external-url",
            "https://vigil.example.com/",
            "--alertmanager.config",
            am_config.to_str().unwrap(),
            "--rules.file",
            rules.to_str().unwrap(),
        ],
    );
    let payload = wait_for(&notifications, |p| {
        p["groupLabels"]["alertname"] == "AlwaysFiring"
    });
    assert_eq!(payload["externalURL"], "https://vigil.example.com");
    let alert = &payload["alerts"][0];
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "AlwaysFiring", "cluster": "eu-1", "region": "rule-wins"})
    );
    assert_eq!(
        alert["annotations"]["where"],
        "eu-1 at https://vigil.example.com"
    );
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("https://vigil.example.com/graph"),
        "{alert}"
    );
}

/// Bad input to API v2 gets 400 with Alertmanager's reason, and what was
/// accepted before is still there.
#[test]
fn bad_alerts_silences_and_filters_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let post = |path: &str, body: &str| {
        let mut r = agent
            .post(&server.url(path))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    let (status, _) = post(
        "/api/v2/alerts",
        r#"[{"labels": {"alertname": "Kept", "instance": "a"}}]"#,
    );
    assert_eq!(status, 200);
    for body in [
        r#"[{"labels": {"alertname": "X"}"#,
        r#"{"labels": {"alertname": "X"}}"#,
        r#"[{"labels": {"alertname": "X"}, "startsAt": "yesterday"}]"#,
    ] {
        let (status, text) = post("/api/v2/alerts", body);
        assert_eq!(status, 400, "{body}: {text}");
        assert!(!text.is_empty(), "{body}: a reason");
    }
    let silence = |matcher: &str| {
        format!(
            r#"{{"matchers": [{matcher}], "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2030-01-02T00:00:00Z", "createdBy": "me", "comment": "c"}}"#
        )
    };
    let (status, text) = post(
        "/api/v2/silences",
        &silence(r#"{"name": "job", "value": "(", "isRegex": true}"#),
    );
    assert_eq!(status, 400, "{text}");
    let (status, text) = post("/api/v2/silences", &silence(""));
    assert_eq!(status, 400, "{text}");
    let (status, _) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v2/alerts?filter={}",
            common::encode("job=~(")
        )),
    );
    assert_eq!(status, 400);
    let (_, alerts) = get_json(&agent, &server.url("/api/v2/alerts"));
    assert_eq!(alerts[0]["labels"]["alertname"], "Kept");
    let ready = agent.get(&server.url("/-/ready")).call().unwrap();
    assert_eq!(ready.status(), 200);
}
