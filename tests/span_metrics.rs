//! Span metrics and the service graph reach the metrics store with Tempo's
//! names and labels, and PromQL over `/api/v1/query` returns the values a
//! known corpus implies.

mod common;

use std::time::{Duration, Instant};

use common::trace_corpus::{cart_trace, checkout_trace, post_otlp, request};
use common::{agent, encode, get_json, Server};

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The value of an instant PromQL query that returns one series, waiting
/// for the next collection to have written it.
fn value(agent: &ureq::Agent, server: &Server, query: &str, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get_json(
            agent,
            &server.url(&format!("/api/v1/query?query={}", encode(query))),
        );
        assert_eq!(status, 200, "{body}");
        let result = body["data"]["result"].as_array().unwrap();
        let got = result
            .first()
            .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap());
        if got == Some(want) || Instant::now() > deadline {
            return got.unwrap_or(f64::NAN);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn span_metrics_and_service_graph_are_queryable_with_promql() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--traces.metrics-interval", "1s"],
    );
    let agent = agent();
    let url = server.url("/v1/traces");
    let base = now_ns() - 10_000_000_000;
    // 3 checkout traces (one error each) and 5 cart traces.
    for i in 0..3u8 {
        let defs = checkout_trace();
        assert_eq!(
            post_otlp(&agent, &url, &request(10 + i, base, &defs, 0..defs.len())).0,
            200
        );
    }
    for i in 0..5u8 {
        let defs = cart_trace();
        assert_eq!(
            post_otlp(&agent, &url, &request(20 + i, base, &defs, 0..defs.len())).0,
            200
        );
    }

    let q = |query: &str, want: f64| {
        let got = value(&agent, &server, query, want);
        assert_eq!(got, want, "{query}");
    };
    // Calls by service, name, kind, status.
    q(
        r#"traces_spanmetrics_calls_total{service="checkout",span_name="POST /pay",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_ERROR"}"#,
        3.0,
    );
    q(
        r#"traces_spanmetrics_calls_total{service="frontend",span_name="GET /",span_kind="SPAN_KIND_SERVER",status_code="STATUS_CODE_UNSET"}"#,
        5.0,
    );
    q(
        r#"sum(traces_spanmetrics_calls_total)"#,
        3.0 * 4.0 + 5.0 * 3.0,
    );
    // Latency: POST /pay on checkout takes 580 ms: in le=1.024, not in le=0.512.
    q(
        r#"traces_spanmetrics_latency_bucket{service="checkout",span_name="POST /pay",le="0.512"}"#,
        0.0,
    );
    q(
        r#"traces_spanmetrics_latency_bucket{service="checkout",span_name="POST /pay",le="1.024"}"#,
        3.0,
    );
    q(
        r#"traces_spanmetrics_latency_count{service="checkout",span_name="POST /pay"}"#,
        3.0,
    );
    q(
        r#"round(traces_spanmetrics_latency_sum{service="checkout",span_name="POST /pay"} * 1000)"#,
        3.0 * 580.0,
    );
    // The service graph: frontend calls checkout 8 times, 3 failed.
    q(
        r#"traces_service_graph_request_total{client="frontend",server="checkout"}"#,
        8.0,
    );
    q(
        r#"traces_service_graph_request_failed_total{client="frontend",server="checkout"}"#,
        3.0,
    );
    q(
        r#"traces_service_graph_request_server_seconds_count{client="frontend",server="checkout"}"#,
        8.0,
    );
    // Grafana's service map asks with rate(); the series must be counters over time.
    q(r#"count(traces_service_graph_request_total)"#, 3.0);
}
