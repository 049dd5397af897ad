//! The trace store over HTTP as Grafana's Tempo and Jaeger data sources and
//! OTLP exporters use it: ingest (protobuf, JSON, gzip, pieces of one trace
//! minutes apart), trace by id in every shape, TraceQL and legacy search,
//! tags and tag values, Jaeger's routes, and the statuses bad input gets.

mod common;

use std::io::Write;

use common::trace_corpus::*;
use common::{agent, encode, get_json, Server};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::Value as Json;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn span_count(batches: &Json) -> usize {
    batches
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .map(|s| s["spans"].as_array().unwrap().len())
        .sum()
}

fn search(agent: &ureq::Agent, server: &Server, params: &str) -> Json {
    let now_s = now_ns() / 1_000_000_000;
    let (status, body) = get_json(
        agent,
        &server.url(&format!(
            "/api/search?{params}&start={}&end={}",
            now_s - 3600,
            now_s + 60
        )),
    );
    assert_eq!(status, 200, "{params}: {body}");
    body
}

fn found_ids(body: &Json) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tempo_and_jaeger_routes_over_ingested_traces() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let base = now_ns() - 120_000_000_000;
    let url = server.url("/v1/traces");

    let (checkout, cart, slow) = (checkout_trace(), cart_trace(), slow_trace());
    for (id, defs, offset) in [
        (1u8, &checkout, 0u64),
        (2, &cart, 10_000 * MS),
        (3, &slow, 20_000 * MS),
    ] {
        let only = if id == 3 { 0..1 } else { 0..defs.len() };
        let (status, body) = post_otlp(&agent, &url, &request(id, base + offset, defs, only));
        assert_eq!(status, 200);
        let response = ExportTraceServiceResponse::decode(&body[..]).unwrap();
        assert!(response.partial_success.is_none());
    }
    // Trace 1 and the first piece of trace 3 go to a segment; the second
    // piece of trace 3 arrives later, as OTLP JSON.
    let flushed = agent.post(&server.url("/flush")).send_empty().unwrap();
    assert_eq!(flushed.status(), 204);
    let piece = request(3, base + 20_000 * MS, &slow, 1..2);
    let json = serde_json::to_string(&piece).unwrap();
    assert!(
        json.contains(&trace_hex(3)),
        "OTLP JSON carries hex ids: {json}"
    );
    let response = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(json)
        .unwrap();
    assert_eq!(response.status(), 200);

    // By id, Tempo v1 JSON: every span, OTLP JSON encoding.
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/api/traces/{}", trace_hex(1))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(span_count(&body["batches"]), 4);
    let text = body.to_string();
    assert!(
        text.contains(&trace_hex(1))
            && text.contains("card declined")
            && text.contains("exception"),
        "{text}"
    );
    assert!(text.contains("\"kind\":2"), "integer enums: {text}");
    // The pieces of trace 3, from a segment and from the head, come back whole.
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/api/traces/{}", trace_hex(3))),
    );
    assert_eq!(status, 200);
    assert_eq!(span_count(&body["batches"]), 2);
    // v2 JSON, and protobuf for both versions as Grafana asks for them.
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/api/v2/traces/{}", trace_hex(1))),
    );
    assert_eq!(status, 200);
    assert_eq!(span_count(&body["trace"]["resourceSpans"]), 4);
    let mut response = agent
        .get(&server.url(&format!("/api/traces/{}", trace_hex(2))))
        .header("Accept", "application/protobuf")
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let trace = TracesData::decode(&response.body_mut().read_to_vec().unwrap()[..]).unwrap();
    let spans: usize = trace
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    assert_eq!(spans, 3);
    assert_eq!(
        trace.resource_spans.len(),
        2,
        "one ResourceSpans per service"
    );
    let mut response = agent
        .get(&server.url(&format!("/api/traces/{}", trace_hex(9))))
        .call()
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "trace not found"
    );
    let mut response = agent
        .get(&server.url("/api/traces/not-hex"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("invalid trace id"));

    // TraceQL search.
    let q = |query: &str| format!("q={}", encode(query));
    let body = search(
        &agent,
        &server,
        &q(r#"{ resource.service.name = "checkout" && duration > 500ms }"#),
    );
    assert_eq!(
        found_ids(&body),
        vec![trace_hex(3), trace_hex(1)],
        "newest first: {body}"
    );
    let first = &body["traces"][1];
    assert_eq!(first["rootServiceName"], "frontend");
    assert_eq!(first["rootTraceName"], "GET /checkout");
    assert_eq!(first["durationMs"], 800);
    assert_eq!(first["spanSet"]["matched"], 1);
    assert_eq!(
        first["spanSet"]["spans"][0]["durationNanos"],
        (580 * MS).to_string()
    );
    let attributes = first["spanSet"]["spans"][0]["attributes"].to_string();
    assert!(
        attributes.contains("service.name") && attributes.contains("checkout"),
        "{attributes}"
    );
    let body = search(
        &agent,
        &server,
        &q(r#"{ resource.service.name = "frontend" } >> { status = error }"#),
    );
    assert_eq!(found_ids(&body), vec![trace_hex(1)]);
    let body = search(&agent, &server, &q("{ } | count() > 3"));
    assert_eq!(found_ids(&body), vec![trace_hex(1)]);
    let body = search(
        &agent,
        &server,
        &q(r#"{ span.http.response.status_code = 500 } | select(span.db.system)"#),
    );
    assert_eq!(found_ids(&body), vec![trace_hex(1)]);
    let body = search(
        &agent,
        &server,
        &q(r#"{ name =~ "GET /.*" && kind = server } | by(resource.service.name)"#),
    );
    assert_eq!(found_ids(&body).len(), 3);
    let body = search(&agent, &server, &format!("{}&limit=1", q("{ }")));
    assert_eq!(found_ids(&body), vec![trace_hex(3)]);
    // Legacy search.
    let body = search(&agent, &server, "tags=db.system%3Dpostgresql");
    assert_eq!(found_ids(&body), vec![trace_hex(1)]);
    let body = search(&agent, &server, "minDuration=1s");
    assert_eq!(found_ids(&body), vec![trace_hex(3)]);
    // A query error names its position, as Tempo's do.
    let mut response = agent
        .get(&server.url(&format!("/api/search?{}", q("{ .a = }"))))
        .call()
        .unwrap();
    assert_eq!(response.status(), 400);
    let error = response.body_mut().read_to_string().unwrap();
    assert!(error.contains("parse error at line 1, col"), "{error}");

    // Tags and values.
    let (_, body) = get_json(&agent, &server.url("/api/v2/search/tags"));
    let scopes = body["scopes"].as_array().unwrap();
    let scope = |name: &str| scopes.iter().find(|s| s["name"] == name).unwrap()["tags"].to_string();
    assert!(scope("resource").contains("service.name"));
    assert!(scope("span").contains("http.response.status_code"));
    assert!(scope("intrinsic").contains("rootServiceName"));
    let (_, body) = get_json(&agent, &server.url("/api/search/tags"));
    assert!(body["tagNames"].to_string().contains("db.system"));
    let (_, body) = get_json(
        &agent,
        &server.url("/api/v2/search/tag/resource.service.name/values"),
    );
    assert_eq!(
        body["tagValues"],
        serde_json::json!([{"type": "string", "value": "checkout"}, {"type": "string", "value": "frontend"}])
    );
    let (_, body) = get_json(&agent, &server.url("/api/search/tag/db.system/values"));
    assert_eq!(body["tagValues"], serde_json::json!(["postgresql"]));
    let (_, body) = get_json(&agent, &server.url("/api/v2/search/tag/status/values"));
    assert!(body["tagValues"]
        .to_string()
        .contains(r#"{"type":"keyword","value":"error"}"#));
    let (_, body) = get_json(&agent, &server.url("/api/v2/search/tag/name/values"));
    assert!(body["tagValues"].to_string().contains("SELECT orders"));
    let mut echo = agent.get(&server.url("/api/echo")).call().unwrap();
    assert_eq!(echo.body_mut().read_to_string().unwrap(), "echo");

    // Jaeger.
    let (_, body) = get_json(&agent, &server.url("/api/services"));
    assert_eq!(body["data"], serde_json::json!(["checkout", "frontend"]));
    let (_, body) = get_json(&agent, &server.url("/api/services/checkout/operations"));
    assert_eq!(
        body["data"],
        serde_json::json!(["GET /cart", "POST /pay", "SELECT orders"])
    );
    let (status, body) = get_json(
        &agent,
        &server.url(&format!("/jaeger/api/traces/{}", trace_hex(1))),
    );
    assert_eq!(status, 200);
    let trace = &body["data"][0];
    assert_eq!(trace["spans"].as_array().unwrap().len(), 4);
    assert_eq!(trace["processes"].as_object().unwrap().len(), 2);
    let pay = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["operationName"] == "POST /pay"
                && s["tags"].to_string().contains(r#""value":"server""#)
        })
        .unwrap();
    assert_eq!(pay["duration"], 580_000);
    assert!(pay["tags"]
        .to_string()
        .contains(r#"{"key":"error","type":"bool","value":true}"#));
    assert_eq!(pay["logs"][0]["fields"][0]["value"], "exception");
    let now_us = now_ns() / 1000;
    let (status, body) = get_json(
        &agent,
        &server.url(&format!(
            "/api/traces?service=checkout&tags={}&start={}&end={}",
            encode(r#"{"db.system":"postgresql"}"#),
            now_us - 3_600_000_000,
            now_us
        )),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["data"][0]["traceID"], trace_hex(1));
    let (status, body) = get_json(&agent, &server.url("/api/traces?service="));
    assert_eq!(status, 400);
    assert!(body["errors"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("service"));
}

#[test]
fn bad_input_gets_otlp_statuses_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let url = server.url("/v1/traces");
    let base = now_ns() - 60_000_000_000;
    let cart = cart_trace();
    assert_eq!(
        post_otlp(&agent, &url, &request(1, base, &cart, 0..3)).0,
        200
    );

    // One span with a bad id is refused alone.
    let mut mixed = request(2, base, &cart, 0..3);
    mixed.resource_spans[0].scope_spans[0].spans[0].span_id = vec![1, 2, 3];
    let (status, body) = post_otlp(&agent, &url, &mixed);
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(&body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("invalid span id"),
        "{}",
        partial.error_message
    );

    let send = |content_type: &str, encoding: Option<&str>, body: Vec<u8>| {
        let mut request = agent.post(&url).header("Content-Type", content_type);
        if let Some(e) = encoding {
            request = request.header("Content-Encoding", e);
        }
        let mut response = request.send(&body[..]).unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_vec().unwrap_or_default(),
        )
    };
    let whole = request(3, base, &cart, 0..3).encode_to_vec();
    let (status, _) = send(
        "application/x-protobuf",
        None,
        whole[..whole.len() - 7].to_vec(),
    );
    assert_eq!(status, 400, "truncated protobuf");
    let (status, body) = send("application/json", None, b"{\"resourceSpans\": [".to_vec());
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("error parsing OTLP JSON"));
    let (status, _) = send("text/plain", None, whole.clone());
    assert_eq!(status, 415);
    let (status, _) = send("application/x-protobuf", None, vec![0u8; 21 << 20]);
    assert_eq!(status, 413);
    let (status, _) = send("application/x-protobuf", Some("gzip"), b"not gzip".to_vec());
    assert_eq!(status, 400);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&whole).unwrap();
    let (status, _) = send("application/x-protobuf", Some("gzip"), gz.finish().unwrap());
    assert_eq!(status, 200, "gzip");

    // Everything accepted is there: 3 + 2 + 3 spans.
    for (trace, spans) in [(1u8, 3usize), (2, 2), (3, 3)] {
        let (status, body) = get_json(
            &agent,
            &server.url(&format!("/api/traces/{}", trace_hex(trace))),
        );
        assert_eq!(status, 200);
        assert_eq!(span_count(&body["batches"]), spans, "trace {trace}");
    }
    let (_, metrics) = {
        let mut r = agent.get(&server.url("/metrics")).call().unwrap();
        (r.status(), r.body_mut().read_to_string().unwrap())
    };
    assert!(
        metrics.contains("vigil_traces_received_spans_total 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains("vigil_traces_refused_spans_total 1"),
        "{metrics}"
    );
}
