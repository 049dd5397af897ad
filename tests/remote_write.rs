//! The remote-write receiver and the read API against a real `vigil serve`:
//! good writes are readable, bad input gets the right 4xx with a reason, the
//! server keeps serving and loses nothing it had accepted.

mod common;

use common::{agent, encode, get_json, post_raw, write, Server};
use model::remote_write::{encode_write_request, Label, TimeSeries, WriteRequest};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn query(agent: &ureq::Agent, server: &Server, expr: &str, time_ms: i64) -> serde_json::Value {
    let url = server.url(&format!(
        "/api/v1/query?query={}&time={}",
        encode(expr),
        time_ms as f64 / 1000.0
    ));
    let (status, body) = get_json(agent, &url);
    assert_eq!(status, 200, "{body}");
    body
}

/// Sends a 200 MB remote-write body over a raw socket, reading the answer
/// while still sending (a server refuses such a body before reading it all).
fn send_huge_body(port: u16, content_length: bool) -> (u16, String) {
    use std::io::{Read, Write};
    const SIZE: usize = 200 << 20;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let framing = if content_length {
        format!("Content-Length: {SIZE}")
    } else {
        "Transfer-Encoding: chunked".to_string()
    };
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n{framing}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..SIZE / chunk.len() {
            let sent = if content_length {
                writer.write_all(&chunk)
            } else {
                write!(writer, "{:x}\r\n", chunk.len())
                    .and_then(|_| writer.write_all(&chunk))
                    .and_then(|_| writer.write_all(b"\r\n"))
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                break;
            }
        }
    }
    drop(stream);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn writes_are_readable_and_bad_input_is_refused_without_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let t = now_ms();

    let (status, body) = write(
        &agent,
        &server,
        vec![
            TimeSeries::new(
                &[("__name__", "up"), ("job", "api"), ("instance", "a:9100")],
                &[(t - 1000, 1.0)],
            ),
            TimeSeries::new(
                &[("__name__", "up"), ("job", "web"), ("instance", "b:9100")],
                &[(t - 1000, 0.0)],
            ),
        ],
    );
    assert_eq!(status, 204, "{body}");

    let result = query(&agent, &server, r#"up{job=~"api|web"}"#, t);
    assert_eq!(result["data"]["resultType"], "vector");
    let vector = result["data"]["result"].as_array().unwrap();
    assert_eq!(vector.len(), 2, "{result}");
    assert_eq!(vector[0]["metric"]["job"], "api");
    assert_eq!(vector[0]["value"][1], "1");

    // Malformed snappy, malformed protobuf.
    let url = server.url("/api/v1/write");
    let (status, body) = post_raw(&agent, &url, b"definitely not snappy");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 32]).unwrap();
    let (status, body) = post_raw(&agent, &url, &garbage);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("protobuf"), "{body}");

    // An invalid label name: the good series of the batch is stored anyway.
    let (status, body) = write(
        &agent,
        &server,
        vec![
            TimeSeries::new(&[("__name__", "good"), ("job", "x")], &[(t - 500, 42.0)]),
            TimeSeries::new(
                &[("__name__", "bad"), ("0-invalid", "x")],
                &[(t - 500, 1.0)],
            ),
        ],
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("0-invalid") && body.contains("bad"),
        "names the bad series: {body}"
    );
    let stored = query(&agent, &server, "good", t);
    assert_eq!(stored["data"]["result"][0]["value"][1], "42", "{stored}");

    // An empty metric name, and invalid UTF-8.
    let (status, body) = write(
        &agent,
        &server,
        vec![TimeSeries::new(
            &[("__name__", ""), ("job", "x")],
            &[(t, 1.0)],
        )],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("metric name"), "{body}");
    let mut bad_utf8 = TimeSeries::new(&[("__name__", "m")], &[(t, 1.0)]);
    bad_utf8.labels.push(Label {
        name: b"job".to_vec(),
        value: vec![0xff, 0xfe],
    });
    let (status, body) = write(&agent, &server, vec![bad_utf8]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("UTF-8"), "{body}");

    // Out of order and duplicate samples: refused with a reason; retries are fine.
    let series = || {
        TimeSeries::new(
            &[("__name__", "up"), ("job", "api"), ("instance", "a:9100")],
            &[(t - 1000, 1.0)],
        )
    };
    assert_eq!(
        write(&agent, &server, vec![series()]).0,
        204,
        "a retried batch is accepted"
    );
    let (status, body) = write(
        &agent,
        &server,
        vec![TimeSeries::new(
            &[("__name__", "up"), ("job", "api"), ("instance", "a:9100")],
            &[(t - 1000, 7.0)],
        )],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("duplicate sample"), "{body}");
    let (status, body) = write(
        &agent,
        &server,
        vec![TimeSeries::new(
            &[("__name__", "up"), ("job", "api"), ("instance", "a:9100")],
            &[(t - 5000, 7.0)],
        )],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("out of order"), "{body}");

    // Native histograms are refused out loud; the floats beside them are kept.
    let mut series = prost::Message::encode_to_vec(&TimeSeries::new(
        &[("__name__", "with_histogram")],
        &[(t, 5.0)],
    ));
    series.extend_from_slice(&[0x22, 0x00]); // field 4 (histograms): one empty histogram
    let mut request = vec![0x0a, series.len() as u8];
    request.extend_from_slice(&series);
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let (status, body) = post_raw(&agent, &url, &body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("native histogram"), "{body}");
    assert_eq!(
        query(&agent, &server, "with_histogram", t)["data"]["result"][0]["value"][1],
        "5"
    );

    // A 200 MB body, announced by Content-Length or streamed chunked: 413.
    let (status, body) = send_huge_body(server.port, true);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit"), "{body}");
    let (status, body) = send_huge_body(server.port, false);
    assert_eq!(status, 413, "{body}");

    // A Remote-Write 2.0 sender is told what to do.
    let mut response = agent
        .post(&url)
        .header(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .header("Content-Encoding", "snappy")
        .send(&encode_write_request(&WriteRequest::default())[..])
        .unwrap();
    assert_eq!(
        response.status(),
        415,
        "{}",
        response.body_mut().read_to_string().unwrap()
    );

    // Still serving, nothing lost.
    let result = query(&agent, &server, r#"{__name__=~"up|good"}"#, t);
    assert_eq!(
        result["data"]["result"].as_array().unwrap().len(),
        3,
        "{result}"
    );
    assert_eq!(
        query(&agent, &server, r#"up{job="api"}"#, t)["data"]["result"][0]["value"][1],
        "1"
    );
}

#[test]
fn series_labels_and_errors_have_prometheus_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let t = now_ms();
    let (status, _) = write(
        &agent,
        &server,
        vec![
            TimeSeries::new(
                &[("__name__", "node_load1"), ("instance", "a")],
                &[(t - 20_000, 0.5), (t - 5_000, 0.25)],
            ),
            TimeSeries::new(
                &[("__name__", "node_load5"), ("instance", "b")],
                &[(t - 5_000, 1.5)],
            ),
        ],
    );
    assert_eq!(status, 204);

    let (status, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/series?match[]={}",
            encode("{__name__=~\"node_load.*\"}")
        )),
    );
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "success", "data": [
            {"__name__": "node_load1", "instance": "a"},
            {"__name__": "node_load5", "instance": "b"}
        ]})
    );
    let (_, body) = get_json(&agent, &server.url("/api/v1/labels"));
    assert_eq!(body["data"], serde_json::json!(["__name__", "instance"]));
    let (_, body) = get_json(&agent, &server.url("/api/v1/label/instance/values"));
    assert_eq!(body["data"], serde_json::json!(["a", "b"]));

    let url = server.url(&format!(
        "/api/v1/query?query={}&time={}",
        encode("node_load1[1m]"),
        t as f64 / 1000.0
    ));
    let (_, body) = get_json(&agent, &url);
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{body}"
    );

    // Absurd ranges and offsets are answered, not a crash.
    for expr in [
        "node_load1[100000000y]",
        "node_load1 offset -100000000y",
        "node_load1[1ms] offset 9999999999s",
    ] {
        let (status, body) = get_json(
            &agent,
            &server.url(&format!("/api/v1/query?query={}", encode(expr))),
        );
        assert!(status == 200 || status == 400, "{expr}: {status} {body}");
    }

    // Prometheus' error envelope.
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/api/v1/query?query={}", encode("up{"))),
    );
    assert_eq!(status, 400);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    let (status, body) = get_json(&agent, &server.url("/api/v1/series"));
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data"))
    );

    // Self-monitoring.
    let mut response = agent.get(&server.url("/metrics")).call().unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    for name in [
        "vigil_tsdb_samples_appended_total 3",
        "vigil_tsdb_head_series 2",
        "vigil_tsdb_wal_fsync_seconds_bucket",
        "vigil_http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }

    // Snapshot: the head is written into a block under snapshots/<name>.
    let mut response = agent
        .post(&server.url("/api/v1/admin/tsdb/snapshot"))
        .send_empty()
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["status"], "success");
    let name = body["data"]["name"].as_str().unwrap();
    let snapshot = server.data_dir.join("tsdb/snapshots").join(name);
    let blocks: Vec<_> = std::fs::read_dir(&snapshot).unwrap().collect();
    assert_eq!(blocks.len(), 1, "{}", snapshot.display());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["tsdb", "inspect"])
        .arg(blocks[0].as_ref().unwrap().path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("samples      3"), "{text}");
    assert!(text.contains("series       2"), "{text}");
}

#[test]
fn sigterm_shuts_down_cleanly_and_data_is_back_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let agent = agent();
    let t = now_ms();
    {
        let mut server = Server::start(&data, &[]);
        assert_eq!(
            write(
                &agent,
                &server,
                vec![TimeSeries::new(&[("__name__", "kept")], &[(t, 3.5)])]
            )
            .0,
            204
        );
        let status = server.terminate();
        assert!(status.success(), "clean exit: {status}\n{}", server.logs());
        assert!(
            server.logs().contains("stopped cleanly"),
            "{}",
            server.logs()
        );
    }
    let server = Server::start(&data, &[]);
    assert_eq!(
        query(&agent, &server, "kept", t)["data"]["result"][0]["value"][1],
        "3.5"
    );
}
