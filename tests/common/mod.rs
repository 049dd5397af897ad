//! Shared harness of the end-to-end tests: a real `vigil serve` child process
//! on a free loopback port, an HTTP client, and peer discovery that skips on a
//! laptop and fails in CI.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod trace_corpus;

use model::remote_write::{encode_write_request, TimeSeries, WriteRequest};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `vigil serve`. Killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// OTLP/gRPC's own listener.
    pub grpc_port: u16,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Server {
        let port = free_port();
        let grpc_port = free_port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--otlp.grpc-listen")
            .arg(format!("127.0.0.1:{grpc_port}"))
            .args(extra_args)
            .env("RUST_LOG", "info,tantivy=warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the vigil binary starts");
        let mut server = Server {
            child,
            port,
            grpc_port,
            data_dir: data_dir.to_path_buf(),
            log,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "vigil exited with {status} before becoming ready:\n{}",
                    self.logs()
                );
            }
            if let Ok(response) = ureq::get(&self.url("/-/ready")).call() {
                if response.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vigil did not become ready within 60 s:\n{}", self.logs());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs a remote-write body; returns (status, body text).
pub fn post_raw(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, String) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(body)
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

pub fn write(agent: &ureq::Agent, server: &Server, series: Vec<TimeSeries>) -> (u16, String) {
    write_to(agent, &server.url("/api/v1/write"), series)
}

/// Remote-writes `series` to `url`; `None` when the server could not be reached.
pub fn try_write_to(
    agent: &ureq::Agent,
    url: &str,
    series: Vec<TimeSeries>,
) -> Option<(u16, String)> {
    let body = encode_write_request(&WriteRequest {
        timeseries: series,
        metadata: vec![],
    });
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&body[..])
        .ok()?;
    let status = response.status().as_u16();
    Some((
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    ))
}

pub fn write_to(agent: &ureq::Agent, url: &str, series: Vec<TimeSeries>) -> (u16, String) {
    try_write_to(agent, url, series).expect("the request reaches the server")
}

/// GETs a Prometheus API path and returns the parsed JSON.
pub fn get_json(agent: &ureq::Agent, url: &str) -> (u16, serde_json::Value) {
    let mut response = agent
        .get(url)
        .call()
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Finds a peer binary. Missing: skip with a message on a laptop, fail in CI.
pub fn peer(binary: &str, package: &str) -> Option<PathBuf> {
    let candidates = [
        format!("/usr/bin/{binary}"),
        format!("/usr/local/bin/{binary}"),
    ];
    for candidate in candidates {
        if Path::new(&candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    let message =
        format!("interop peer `{binary}` is missing: install it with `apt-get install {package}`");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (CI=true: peers are required)");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// `python3` if it can import `modules` (comma-separated); otherwise skips
/// (`None`) with a message naming `install`, or fails when `CI=true`.
pub fn python_with(modules: &str, install: &str) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return Some("python3".into());
    }
    let message = format!("interop peer missing: {install}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (CI=true: peers are required)");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// A peer process (a real Prometheus, node exporter, ...), killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a peer with its stderr in `log`.
pub fn spawn(binary: &Path, args: &[String], log: &Path) -> Peer {
    let log = std::fs::File::create(log).unwrap();
    Peer(
        Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display())),
    )
}
