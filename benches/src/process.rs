//! What the end-to-end runners need of the servers they start: a free
//! loopback port, an HTTP client that reports statuses instead of failing,
//! and a process's CPU time and memory from /proc, and a directory's size.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a loopback port")
        .local_addr()
        .expect("a bound address")
        .port()
}

/// An HTTP client whose non-2xx answers are responses, not errors.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory now, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:") * 1024
}

/// The most resident memory the process has had, in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:") * 1024
}

/// Bytes of every file under `path`.
pub fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// A `vigil serve` started by a runner; killed when dropped.
pub struct VigilServer {
    pub child: Child,
    pub port: u16,
}

impl Drop for VigilServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/release/vigil`, which the runners measure.
pub fn vigil_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let binary = root.join("target/release/vigil");
    assert!(
        binary.exists(),
        "build the server first: cargo build --release"
    );
    binary
}

/// Starts `vigil serve` on a free port over `data` (OTLP/gRPC's own
/// listener off), logging to `vigil-<name>-<port>.log` in the temporary
/// directory (outside `data`, so it outlives a failed run), and waits until
/// it is ready.
pub fn start_vigil(name: &str, data: &Path) -> VigilServer {
    start_vigil_with(name, data, &[])
}

/// [`start_vigil`] with more `serve` flags.
pub fn start_vigil_with(name: &str, data: &Path, extra_args: &[&str]) -> VigilServer {
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("vigil-{name}-{port}.log"));
    eprintln!("server log: {}", log_path.display());
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(vigil_binary())
        .args([
            "serve",
            "--otlp.grpc-listen",
            "off",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = VigilServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if agent(Duration::from_secs(600))
            .get(&format!("http://127.0.0.1:{port}/-/ready"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return server;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("vigil did not become ready");
}

/// The median of `values` (the upper one for an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The number after `name` on the command line (`--spans 1000000`), or
/// `default`.
pub fn arg_usize(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}"))
        })
        .unwrap_or(default)
}
