//! Acknowledged writes survive `kill -9`: a sender streams remote-write
//! batches into a child `vigil serve`, which is killed mid-stream; after a
//! restart every sample that was answered 2xx is returned, bit for bit.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{agent, encode, get_json, try_write_to, write, Server};
use model::remote_write::TimeSeries;

const SERIES: usize = 50;
const BASE_T: i64 = 1_700_000_000_000;

/// A value whose every bit matters: neither round nor short in decimal.
fn value(series: usize, step: i64) -> f64 {
    let bits = (series as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (step as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let v = f64::from_bits(bits >> 2 | 0x3ff0_0000_0000_0000) * ((step % 7) as f64 - 3.0);
    if v.is_finite() {
        v
    } else {
        0.5
    }
}

fn run_until_killed(data: &std::path::Path, extra_args: &[&str]) -> i64 {
    let mut server = Server::start(data, extra_args);
    let acked = Arc::new(Mutex::new(-1i64));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, url) = (acked.clone(), stop.clone(), server.url("/api/v1/write"));
        std::thread::spawn(move || {
            let agent = agent();
            let mut step = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<TimeSeries> = (0..SERIES)
                    .map(|s| {
                        let instance = format!("host-{s}");
                        TimeSeries::new(
                            &[("__name__", "crash_test"), ("instance", &instance)],
                            &[(BASE_T + step * 1000, value(s, step))],
                        )
                    })
                    .collect();
                match try_write_to(&agent, &url, batch) {
                    Some((204, _)) => {
                        *acked.lock().unwrap() = step;
                        step += 1;
                    }
                    _ => break,
                }
            }
        })
    };
    // Let a few hundred batches through, then kill without warning.
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let last = *acked.lock().unwrap();
    assert!(
        last > 10,
        "the sender got batches through before the kill: {last}\n{}",
        server.logs()
    );
    last
}

fn check_all_acked_samples(data: &std::path::Path, last_acked: i64) {
    let server = Server::start(data, &[]);
    let agent = agent();
    let range_s = last_acked + 10;
    let t = BASE_T + last_acked * 1000;
    let url = server.url(&format!(
        "/api/v1/query?query={}&time={}",
        encode(&format!("crash_test[{range_s}s]")),
        t as f64 / 1000.0
    ));
    let (status, body) = get_json(&agent, &url);
    assert_eq!(status, 200, "{body}");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), SERIES, "every series is back");
    for entry in result {
        let instance = entry["metric"]["instance"].as_str().unwrap();
        let s: usize = instance.trim_start_matches("host-").parse().unwrap();
        let values = entry["values"].as_array().unwrap();
        assert!(
            values.len() as i64 > last_acked,
            "{instance}: {} of {} acked samples",
            values.len(),
            last_acked + 1
        );
        for (step, pair) in values.iter().enumerate().take(last_acked as usize + 1) {
            let got: f64 = pair[1].as_str().unwrap().parse().unwrap();
            let want = value(s, step as i64);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{instance} step {step}: {got} != {want}"
            );
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let last = run_until_killed(&data, &[]);
    check_all_acked_samples(&data, last);
}

#[test]
fn acknowledged_writes_survive_sigkill_with_fsync_always() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let last = run_until_killed(&data, &["--wal.fsync", "always"]);
    check_all_acked_samples(&data, last);
}

#[test]
fn a_corrupt_wal_tail_is_cut_and_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let last = run_until_killed(&data, &[]);
    // Garble the end of the newest non-empty segment: the last records are lost,
    // with a warning; everything before them is served.
    let wal = data.join("tsdb/wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 8)
        .collect();
    segments.sort();
    let segment = segments.last().unwrap();
    let mut bytes = std::fs::read(segment).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 40..n - 20] {
        *b ^= 0x5a;
    }
    std::fs::write(segment, &bytes).unwrap();

    let server = Server::start(&data, &[]);
    let logs = server.logs();
    assert!(
        logs.contains("corrupt tail") && logs.contains("bytes_dropped"),
        "{logs}"
    );
    let agent = agent();
    let t = BASE_T + last * 1000;
    let url = server.url(&format!(
        "/api/v1/query?query={}&time={}",
        encode("crash_test[1h]"),
        t as f64 / 1000.0
    ));
    let (status, body) = get_json(&agent, &url);
    assert_eq!(status, 200);
    let result = body["data"]["result"].as_array().unwrap();
    let kept: usize = result
        .iter()
        .map(|r| r["values"].as_array().unwrap().len())
        .sum();
    assert!(
        kept as i64 >= (last - 5) * SERIES as i64,
        "most samples survive: {kept}"
    );
    // And it accepts new writes after the repair.
    let (status, body) = write(
        &agent,
        &server,
        vec![TimeSeries::new(
            &[("__name__", "after_repair")],
            &[(t + 1, 1.0)],
        )],
    );
    assert_eq!(status, 204, "{body}");
}
