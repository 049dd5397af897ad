//! Loki push and OTLP logs over HTTP against a real `vigil serve`: the
//! formats clients send, and bad input answered with Loki's status codes
//! and texts without losing what was accepted before.

mod common;

use common::{agent, Server};
use logs::entry::{Entry, StreamEntries};
use logs::push::loki_proto;
use logs::store::now_ns;
use logs::stream_labels;

fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut request = agent.post(url).header("Content-Type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("Content-Encoding", encoding);
    }
    let mut response = request.send(body).expect("the request reaches the server");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn push_formats_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let push = server.url("/loki/api/v1/push");
    let now = now_ns();

    let json =
        format!(r#"{{"streams":[{{"stream":{{"app":"api"}},"values":[["{now}","json line"]]}}]}}"#);
    assert_eq!(
        post(&agent, &push, "application/json", None, json.as_bytes()),
        (204, String::new())
    );
    assert_eq!(
        post(
            &agent,
            &push,
            "application/json",
            Some("gzip"),
            &gzip(json.as_bytes())
        )
        .0,
        204
    );
    let proto = loki_proto::encode(&[StreamEntries {
        labels: stream_labels::parse(r#"{app="api", env="prod"}"#).unwrap(),
        entries: vec![Entry {
            timestamp_ns: now,
            line: "protobuf line".into(),
            metadata: vec![("trace_id".into(), "abc".into())],
        }],
    }]);
    assert_eq!(
        post(&agent, &push, "application/x-protobuf", None, &proto).0,
        204
    );

    let cases: &[(&str, &[u8], u16, &str)] = &[
        (
            "application/json",
            b"{not json",
            400,
            "error parsing JSON push body",
        ),
        (
            "application/x-protobuf",
            b"not snappy",
            400,
            "error decompressing snappy body",
        ),
        (
            "application/json",
            br#"{"streams":[{"stream":{"1bad":"x"},"values":[]}]}"#,
            400,
            "invalid label name '1bad'",
        ),
        (
            "application/json",
            br#"{"streams":[{"stream":{},"values":[]}]}"#,
            400,
            "at least one label pair is required",
        ),
        ("text/plain", b"hello", 400, "unsupported Content-Type"),
    ];
    for (content_type, body, status, text) in cases {
        let (got_status, got_text) = post(&agent, &push, content_type, None, body);
        assert_eq!(got_status, *status, "{got_text}");
        assert!(got_text.contains(text), "{got_text:?} lacks {text:?}");
    }
    let long_line = "x".repeat(300 << 10);
    let far_future = now + 3_600_000_000_000;
    let mixed = format!(
        r#"{{"streams":[{{"stream":{{"app":"mixed"}},"values":[["{now}","kept"],["{now}","{long_line}"],["{far_future}","future"],["1","ancient"]]}}]}}"#
    );
    let (status, text) = post(&agent, &push, "application/json", None, mixed.as_bytes());
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Max entry size '262144' bytes exceeded for stream '{app=\"mixed\"}' while adding an entry with length '307200' bytes"), "{text}");
    assert!(text.contains("has timestamp too new"), "{text}");
    assert!(text.contains("has timestamp too old"), "{text}");
    let big = vec![b' '; 65 << 20];
    assert_eq!(post(&agent, &push, "application/json", None, &big).0, 413);

    // The server is healthy and kept every accepted line.
    let series =
        server.url("/loki/api/v1/query_range?query=%7Bapp%3D~%22api%7Cmixed%22%7D&limit=100");
    let mut response = agent.get(&series).call().unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let mut lines: Vec<String> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[1].as_str().unwrap().to_string())
        })
        .collect();
    lines.sort();
    assert_eq!(lines, ["json line", "json line", "kept", "protobuf line"]);
}
