//! An email notification reaches a real SMTP server (aiosmtpd, Debian's
//! `python3-aiosmtpd`) with Alertmanager's default subject and body.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{agent, free_port, Server};

fn smtp_python() -> Option<&'static str> {
    let found = ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        let message =
            "interop peer missing: aiosmtpd; install it with `apt-get install python3-aiosmtpd`";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message} (CI=true: peers are required)");
        }
        eprintln!("SKIPPED: {message}");
    }
    found
}

#[test]
fn an_alert_arrives_by_email() {
    let Some(python) = smtp_python() else {
        return;
    };
    let smtp_port = free_port();
    let mut smtpd = Command::new(python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{smtp_port}"),
        ])
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = smtpd.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            r#"global:
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_from: vigil@example.org
  smtp_require_tls: false
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: oncall
    email_configs:
      - to: oncall@example.org
"#
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--alertmanager.config", config.to_str().unwrap()],
    );
    let response = agent()
        .post(&server.url("/api/v2/alerts"))
        .header("Content-Type", "application/json")
        .send(r#"[{"labels": {"alertname": "DiskFull", "instance": "db-1"}, "annotations": {"summary": "disk 95% full"}}]"#)
        .unwrap();
    assert_eq!(response.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut message = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("END MESSAGE");
                message.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = smtpd.kill();
    let _ = smtpd.wait();
    let text = message.join("\n");
    assert!(
        text.contains("Subject: [FIRING:1] DiskFull (db-1)"),
        "{text}\n{}",
        server.logs()
    );
    assert!(text.contains("From: vigil@example.org"), "{text}");
    assert!(text.contains("To: oncall@example.org"), "{text}");
    assert!(text.contains("disk 95% full"), "{text}");
}
