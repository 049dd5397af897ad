//! The PromQL engine through `/api/v1/query` and `/api/v1/query_range`, as
//! Grafana calls them: form POSTs, the `1+1` health check, errors.

mod common;

use common::{agent, encode, get_json, write, Server};
use model::remote_write::TimeSeries;

const T0: i64 = 1_700_000_000_000;

fn post_form(agent: &ureq::Agent, url: &str, form: &str) -> (u16, serde_json::Value) {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

/// GETs `url`, asserts Prometheus' error shape with `status` and
/// `error_type`, and returns the body.
fn expect_error(
    agent: &ureq::Agent,
    url: &str,
    status: u16,
    error_type: &str,
) -> serde_json::Value {
    let (got, body) = get_json(agent, url);
    assert_eq!(
        (got, body["status"].as_str(), body["errorType"].as_str()),
        (status, Some("error"), Some(error_type)),
        "{url}: {body}"
    );
    body
}

#[test]
fn dashboard_queries_answer_in_prometheus_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    // Two counters growing 1/s and 2/s, scraped every 15 s for 10 minutes.
    let series: Vec<TimeSeries> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, instance)| {
            let samples: Vec<(i64, f64)> = (0..=40)
                .map(|k| (T0 + k * 15_000, (k * 15 * (i as i64 + 1)) as f64))
                .collect();
            TimeSeries::new(
                &[
                    ("__name__", "requests_total"),
                    ("job", "api"),
                    ("instance", instance),
                ],
                &samples,
            )
        })
        .collect();
    assert_eq!(write(&agent, &server, series).0, 204);
    let at = (T0 + 600_000) as f64 / 1000.0;

    // Grafana's health check, as a form POST.
    let (status, body) = post_form(
        &agent,
        &server.url("/api/v1/query"),
        &format!("query=1%2B1&time={at}"),
    );
    assert_eq!(status, 200);
    let seconds = (T0 + 600_000) / 1000;
    assert_eq!(
        body["data"],
        serde_json::json!({"resultType": "scalar", "result": [seconds, "2"]})
    );

    let query = |expr: &str| {
        let (status, body) = get_json(
            &agent,
            &server.url(&format!("/api/v1/query?query={}&time={at}", encode(expr))),
        );
        assert_eq!(status, 200, "{expr}: {body}");
        body["data"].clone()
    };
    let rate = query("sum by (job) (rate(requests_total[5m]))");
    assert_eq!(rate["resultType"], "vector");
    assert_eq!(
        rate["result"][0]["metric"],
        serde_json::json!({"job": "api"})
    );
    let value: f64 = rate["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((value - 3.0).abs() < 1e-9, "1/s + 2/s: {value}");
    let top = query("topk(1, requests_total)");
    assert_eq!(top["result"][0]["metric"]["instance"], "b");
    let ratio =
        query("requests_total{instance=\"b\"} / ignoring(instance) requests_total{instance=\"a\"}");
    assert_eq!(ratio["result"][0]["value"][1], "2");

    let (status, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/query_range?query={}&start={}&end={at}&step=60",
            encode("rate(requests_total[1m])"),
            at - 300.0
        )),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["values"].as_array().unwrap().len(), 6);
    assert!(
        result[0]["metric"].get("__name__").is_none(),
        "rate drops the metric name"
    );

    // What Grafana asks besides queries.
    let (_, body) = get_json(&agent, &server.url("/api/v1/status/buildinfo"));
    assert!(
        body["data"]["version"].as_str().unwrap().starts_with('3'),
        "{body}"
    );
    let (_, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/label/instance/values?match[]={}&limit=1",
            encode("requests_total")
        )),
    );
    assert_eq!(body["data"], serde_json::json!(["a"]));
    let (_, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/format_query?query={}",
            encode("sum(rate(x[5m]))by(job)")
        )),
    );
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (_, body) = get_json(
        &agent,
        &server.url(&format!("/api/v1/query_exemplars?query={}", encode("up"))),
    );
    assert_eq!(body["data"], serde_json::json!([]));
    let (_, body) = get_json(&agent, &server.url("/api/v1/status/tsdb"));
    assert_eq!(body["data"]["headStats"]["numSeries"], 2);
    assert_eq!(
        body["data"]["seriesCountByMetricName"],
        serde_json::json!([{"name": "requests_total", "value": 2}])
    );
    let (status, _) = get_json(&agent, &server.url("/api/v1/status/runtimeinfo"));
    assert_eq!(status, 200);
    let (status, _) = get_json(&agent, &server.url("/api/v1/status/flags"));
    assert_eq!(status, 200);

    // Federation: a text exposition of the newest samples. These samples are
    // older than the lookback from now, so a fresh one is written first.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(
        write(
            &agent,
            &server,
            vec![TimeSeries::new(
                &[("__name__", "fresh"), ("job", "x\"y")],
                &[(now - 1000, 2.5)]
            )]
        )
        .0,
        204
    );
    let mut response = agent
        .get(&server.url(&format!("/federate?match[]={}", encode("{job=~\"x.*\"}"))))
        .call()
        .unwrap();
    let text = response.body_mut().read_to_string().unwrap();
    assert_eq!(
        text,
        format!(
            "# TYPE fresh untyped\nfresh{{job=\"x\\\"y\"}} 2.5 {}\n",
            now - 1000
        )
    );

    // A subquery of billions of points is refused before it is built.
    expect_error(
        &agent,
        &server.url(&format!(
            "/api/v1/query?query={}&time={at}",
            encode("max_over_time(requests_total[100y:1s])")
        )),
        422,
        "execution",
    );

    // Errors: syntax (400 bad_data), execution (422), a tiny step over a huge range (400).
    expect_error(
        &agent,
        &server.url(&format!(
            "/api/v1/query?query={}",
            encode("sum(rate(x[5m])")
        )),
        400,
        "bad_data",
    );
    expect_error(
        &agent,
        &server.url(&format!(
            "/api/v1/query?query={}&time={at}",
            encode("requests_total + on(job) requests_total")
        )),
        422,
        "execution",
    );
    let body = expect_error(
        &agent,
        &server.url(&format!(
            "/api/v1/query_range?query=up&start=0&end={at}&step=0.001"
        )),
        400,
        "bad_data",
    );
    assert!(body["error"].as_str().unwrap().contains("11,000"), "{body}");

    // `limit` truncates with a warning, `stats` reports samples, and
    // annotations arrive beside the data.
    let (status, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/query_range?query=requests_total&start={}&end={at}&step=60&limit=1&stats=all",
            T0 / 1000
        )),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    assert_eq!(
        body["warnings"],
        serde_json::json!(["results truncated due to limit"])
    );
    assert_eq!(
        body["data"]["stats"]["samples"]["totalQueryableSamples"],
        serde_json::json!(22),
        "11 steps x 2 series: {body}"
    );
    let (status, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/v1/query?query={}&time={at}",
            encode("rate(requests_total[5m]) + quantile(2, requests_total)")
        )),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["warnings"],
        serde_json::json!([
            "PromQL warning: quantile value should be between 0 and 1, got 2 (1:37)"
        ]),
        "{body}"
    );
    assert!(body.get("infos").is_none(), "a _total counter: {body}");
}

#[test]
fn a_query_over_max_samples_fails_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--query.max-samples", "100"]);
    let agent = agent();
    let samples: Vec<(i64, f64)> = (0..500).map(|k| (T0 + k * 1_000, k as f64)).collect();
    assert_eq!(
        write(
            &agent,
            &server,
            vec![TimeSeries::new(&[("__name__", "busy")], &samples)]
        )
        .0,
        204
    );
    let at = (T0 + 500_000) as f64 / 1000.0;
    let body = expect_error(
        &agent,
        &server.url(&format!(
            "/api/v1/query?query={}&time={at}",
            encode("sum_over_time(busy[10m])")
        )),
        422,
        "execution",
    );
    assert!(
        body["error"].as_str().unwrap().contains("too many samples"),
        "{body}"
    );
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/api/v1/query?query={}&time={at}", encode("busy"))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "499");
}
