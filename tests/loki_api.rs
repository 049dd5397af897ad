//! Loki's HTTP API as Grafana's Loki data source, Logs Drilldown and logcli
//! call it, against a real `vigil serve`: label browsing, series, index
//! stats and volume, detected labels and fields, patterns, buildinfo,
//! query errors as plain text, and live tail over WebSocket.

mod common;

use std::time::Duration;

use common::{agent, encode, get_json, Server};
use logs::store::now_ns;

fn push(agent: &ureq::Agent, server: &Server, body: serde_json::Value) {
    let mut response = agent
        .post(&server.url("/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    assert_eq!(
        response.status(),
        204,
        "{}",
        response.body_mut().read_to_string().unwrap()
    );
}

fn seed(agent: &ureq::Agent, server: &Server) -> i64 {
    let now = now_ns();
    let values = |lines: &[&str]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                serde_json::json!([
                    (now - 60_000_000_000 + i as i64 * 1_000_000_000).to_string(),
                    l
                ])
            })
            .collect()
    };
    push(
        agent,
        server,
        serde_json::json!({"streams": [
            {"stream": {"app": "api", "namespace": "shop"}, "values": values(&[
                r#"level=info msg="served" duration=12ms status=200 id=1a2b3c4d5e"#,
                r#"level=error msg="failed" duration=1.5s status=500 id=9f8e7d6c5b"#,
                r#"level=info msg="served" duration=20ms status=200 id=0a0b0c0d0e"#,
            ])},
            {"stream": {"app": "web", "namespace": "shop"}, "values": values(&[
                r#"{"level":"info","user":{"id":7},"latency":0.2}"#,
            ])},
            {"stream": {"app": "db", "namespace": "infra"}, "values": values(&["checkpoint complete in 120ms"])},
        ]}),
    );
    now
}

#[test]
fn the_api_grafana_calls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    seed(&agent, &server);
    let get = |path: &str| {
        let (status, body) = get_json(&agent, &server.url(path));
        assert_eq!(status, 200, "{path}: {body}");
        body
    };

    assert_eq!(
        get("/loki/api/v1/labels")["data"],
        serde_json::json!(["app", "namespace"])
    );
    assert_eq!(
        get("/loki/api/v1/label/app/values")["data"],
        serde_json::json!(["api", "db", "web"])
    );
    let shop = encode(r#"{namespace="shop"}"#);
    assert_eq!(
        get(&format!("/loki/api/v1/label/app/values?query={shop}"))["data"],
        serde_json::json!(["api", "web"])
    );
    assert_eq!(
        get(&format!("/loki/api/v1/series?match[]={shop}"))["data"],
        serde_json::json!([{"app": "api", "namespace": "shop"}, {"app": "web", "namespace": "shop"}])
    );
    let stats = get(&format!("/loki/api/v1/index/stats?query={shop}"));
    assert_eq!(stats["streams"], 2);
    assert_eq!(stats["entries"], 4);
    let volume = get(&format!(
        "/loki/api/v1/index/volume?query={shop}&targetLabels=app"
    ));
    let result = volume["data"]["result"].as_array().unwrap();
    assert_eq!(
        result[0]["metric"],
        serde_json::json!({"app": "api"}),
        "largest first: {volume}"
    );
    assert_eq!(
        get(&format!("/loki/api/v1/detected_labels?query={shop}"))["detectedLabels"],
        serde_json::json!([
            {"label": "app", "cardinality": 2}, {"label": "namespace", "cardinality": 1}
        ])
    );
    let fields = get(&format!(
        "/loki/api/v1/detected_fields?query={}",
        encode(r#"{app="api"}"#)
    ));
    let duration = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "duration")
        .unwrap();
    assert_eq!(duration["type"], "duration");
    assert_eq!(duration["cardinality"], 3);
    assert_eq!(duration["parsers"], serde_json::json!(["logfmt"]));
    let patterns = get(&format!(
        "/loki/api/v1/patterns?query={}",
        encode(r#"{app="api"}"#)
    ));
    let found: Vec<&str> = patterns["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pattern"].as_str().unwrap())
        .collect();
    assert!(
        found.contains(&r#"level=info msg="served" duration=<_> status=<_> id=<_>"#),
        "{found:?}"
    );
    assert!(get("/loki/api/v1/status/buildinfo")["version"]
        .as_str()
        .unwrap()
        .starts_with('3'));

    // The audit search over HTTP: newest first, terms marked.
    let search = get(&format!(
        "/api/v1/logs/search?q={}&limit=10",
        encode("level=error OR checkpoint")
    ));
    let hits = search["data"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2, "{search}");
    // The error line was pushed a second after the checkpoint line.
    assert!(
        hits[0]["line"].as_str().unwrap().starts_with("level=error"),
        "{search}"
    );
    assert_eq!(hits[1]["line"], "checkpoint complete in 120ms");
    assert_eq!(
        hits[1]["highlighted"],
        "<mark>checkpoint</mark> complete in 120ms"
    );
    assert_eq!(
        hits[1]["labels"],
        serde_json::json!({"app": "db", "namespace": "infra"})
    );
    let (status, body) = get_json(&agent, &server.url("/api/v1/logs/search?q=%28unbalanced"));
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );

    // detected_level, as Loki 3 derives it at ingest, for Logs Drilldown.
    let levels = get(&format!(
        "/loki/api/v1/query?query={}",
        encode(
            r#"sum by (detected_level) (count_over_time({namespace="shop"} | drop __error__ | detected_level != "" [5m]))"#
        )
    ));
    let levels: Vec<(String, String)> = levels["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["metric"]["detected_level"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            ("error".to_string(), "1".to_string()),
            ("info".to_string(), "3".to_string())
        ]
    );

    // Instant metric query, as Grafana's "instant" toggle sends it.
    let instant = get(&format!(
        "/loki/api/v1/query?query={}",
        encode(r#"sum by (app) (count_over_time({namespace="shop"}[5m]))"#)
    ));
    assert_eq!(instant["data"]["resultType"], "vector");
    assert_eq!(
        instant["data"]["result"][0]["metric"],
        serde_json::json!({"app": "api"})
    );
    assert_eq!(instant["data"]["result"][0]["value"][1], "3");
    assert!(
        instant["data"]["stats"]["summary"]["totalLinesProcessed"]
            .as_u64()
            .unwrap()
            >= 4
    );

    // Self-monitoring: what was received, flushed and is held.
    let flushed = agent.post(&server.url("/flush")).send_empty().unwrap();
    assert_eq!(flushed.status(), 204);
    let metrics = agent
        .get(&server.url("/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for expected in [
        "vigil_logs_received_lines_total 5",
        "vigil_logs_flushes_total 1",
        "vigil_logs_flushed_lines_total 5",
        "vigil_logs_head_memory_bytes 0",
        "vigil_logs_partitions ",
    ] {
        assert!(
            metrics.contains(expected),
            "/metrics lacks {expected:?}:\n{metrics}"
        );
    }

    // Errors are plain text, 400, in Loki's words.
    for (query, text) in [
        ("{app=", "parse error"),
        (
            "{}",
            "queries require at least one regexp or equality matcher",
        ),
    ] {
        let mut response = agent
            .get(&server.url(&format!("/loki/api/v1/query_range?query={}", encode(query))))
            .call()
            .unwrap();
        assert_eq!(response.status(), 400);
        let body = response.body_mut().read_to_string().unwrap();
        assert!(body.contains(text), "{query}: {body}");
    }
    // Time ranges at the ends of i64 answer (or are refused), never hang or panic.
    for (start, end) in [
        ("9223372036854775000", "9223372036854775807"),
        ("-9223372036854775808", "9223372036854775807"),
        ("9223372036.5", "9223372037"),
    ] {
        let metric = encode(r#"count_over_time({app="api"}[1m] offset 1h)"#);
        let url = format!("/loki/api/v1/query_range?query={metric}&start={start}&end={end}&step=1");
        let status = agent
            .get(&server.url(&url))
            .call()
            .unwrap()
            .status()
            .as_u16();
        assert!(status == 200 || status == 400, "{url}: {status}");
    }
    // A zero line limit (Drilldown's detected_fields takes one) is an empty answer.
    let fields = get(&format!(
        "/loki/api/v1/detected_fields?line_limit=0&query={shop}"
    ));
    assert_eq!(fields["fields"], serde_json::json!([]));
    assert_eq!(
        agent.get(&server.url("/-/ready")).call().unwrap().status(),
        200
    );

    let mut response = agent
        .get(&server.url(&format!("/loki/api/v1/query_range?limit=6000&query={shop}")))
        .call()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("max entries limit per query exceeded"));
}

#[test]
fn tail_streams_history_then_live_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    seed(&agent, &server);
    let url = format!(
        "ws://127.0.0.1:{}/loki/api/v1/tail?query={}",
        server.port,
        encode(r#"{app="api"} |= "level=error""#)
    );
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
    }
    let next = |socket: &mut tungstenite::WebSocket<_>| -> serde_json::Value {
        loop {
            match socket.read().unwrap() {
                tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                _ => continue,
            }
        }
    };
    let history = next(&mut socket);
    assert_eq!(
        history["streams"][0]["values"].as_array().unwrap().len(),
        1,
        "{history}"
    );
    // detected_level is structured metadata, shown with the labels as Loki does.
    assert_eq!(
        history["streams"][0]["stream"],
        serde_json::json!({"app": "api", "namespace": "shop", "detected_level": "error"})
    );

    let now = now_ns().to_string();
    push(
        &agent,
        &server,
        serde_json::json!({"streams": [
            {"stream": {"app": "api", "namespace": "shop"}, "values": [[now, "level=info msg=ignored"], [now, "level=error msg=live"]]},
            {"stream": {"app": "web", "namespace": "shop"}, "values": [[now, "level=error msg=other-app"]]},
        ]}),
    );
    let live = next(&mut socket);
    let lines: Vec<&str> = live["streams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[1].as_str().unwrap())
        })
        .collect();
    assert_eq!(lines, ["level=error msg=live"], "{live}");
}
