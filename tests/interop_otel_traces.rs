//! A real OTLP client: the OpenTelemetry Python SDK exports nested spans
//! with attributes, an event and a recorded exception through its OTLP/HTTP
//! exporter and its OTLP/gRPC exporter (to the gRPC port, and to the main
//! port, which serves gRPC too). Each trace is then returned whole by id and
//! found by TraceQL, structural queries included.

mod common;

use std::process::Command;

use common::{agent, encode, get_json, Server};
use serde_json::Value as Json;

const SCRIPT: &str = r#"
import sys, time
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

transport, endpoint, service = sys.argv[1], sys.argv[2], sys.argv[3]
if transport == "http":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    exporter = OTLPSpanExporter(endpoint=endpoint)
else:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True)
provider = TracerProvider(resource=Resource.create({"service.name": service, "k8s.namespace.name": "shop"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("shop.instrumentation", "0.9")
with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER, attributes={"http.request.method": "POST", "order.id": "42"}) as root:
    print(format(root.get_span_context().trace_id, "032x"))
    with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT, attributes={"amount": 99.5}) as charge:
        charge.add_event("retrying", {"attempt": 2})
        with tracer.start_as_current_span("SELECT payments", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}):
            time.sleep(0.01)
        try:
            raise ValueError("card declined")
        except ValueError as e:
            charge.record_exception(e)
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
provider.shutdown()
"#;

fn python_with_otel() -> Option<String> {
    common::python_with(
        "opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter, opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "the OpenTelemetry Python SDK with its OTLP exporters; install them with `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http opentelemetry-exporter-otlp-proto-grpc`",
    )
}

fn spans(body: &Json) -> Vec<&Json> {
    body["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"].as_array().unwrap())
        .flat_map(|s| s["spans"].as_array().unwrap())
        .collect()
}

#[test]
fn opentelemetry_python_sdk_traces_over_http_and_grpc() {
    let Some(python) = python_with_otel() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let agent = agent();
    let exports = [
        ("http", server.url("/v1/traces"), "py-shop-http"),
        (
            "grpc",
            format!("http://127.0.0.1:{}", server.grpc_port),
            "py-shop-grpc",
        ),
        (
            "grpc",
            format!("http://127.0.0.1:{}", server.port),
            "py-shop-grpc-main-port",
        ),
    ];
    for (transport, endpoint, service) in exports {
        let output = Command::new(&python)
            .args(["-c", SCRIPT, transport, &endpoint, service])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{transport} {endpoint}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("Failed to export"),
            "{service}: {stderr}\n{}",
            server.logs()
        );
        let trace_id = String::from_utf8(output.stdout).unwrap().trim().to_string();

        let (status, body) = get_json(&agent, &server.url(&format!("/api/traces/{trace_id}")));
        assert_eq!(status, 200, "{service}: {body}");
        let spans = spans(&body);
        assert_eq!(spans.len(), 3, "{service}: {body}");
        let text = body.to_string();
        for needle in [
            service,
            "order.id",
            "postgresql",
            "retrying",
            "exception",
            "card declined",
            "shop.instrumentation",
            "ValueError",
        ] {
            assert!(
                text.contains(needle),
                "{service}: {needle} missing from {text}"
            );
        }
        let root = spans
            .iter()
            .find(|s| s["name"] == "POST /checkout")
            .unwrap();
        let charge = spans.iter().find(|s| s["name"] == "charge card").unwrap();
        let select = spans
            .iter()
            .find(|s| s["name"] == "SELECT payments")
            .unwrap();
        assert_eq!(charge["parentSpanId"], root["spanId"]);
        assert_eq!(select["parentSpanId"], charge["spanId"]);
        assert_eq!(root["kind"], 2);
        assert_eq!(charge["status"]["code"], 2);

        for query in [
            format!(r#"{{ resource.service.name = "{service}" && span.order.id = "42" }}"#),
            format!(
                r#"{{ resource.service.name = "{service}" && name = "POST /checkout" }} >> {{ span.db.system = "postgresql" }}"#
            ),
            format!(
                r#"{{ rootServiceName = "{service}" && status = error && kind = client }} | count() = 1"#
            ),
        ] {
            let (status, body) = get_json(
                &agent,
                &server.url(&format!("/api/search?q={}", encode(&query))),
            );
            assert_eq!(status, 200, "{query}: {body}");
            let ids: Vec<&str> = body["traces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["traceID"].as_str().unwrap())
                .collect();
            assert_eq!(ids, vec![trace_id.as_str()], "{query}: {body}");
            assert_eq!(body["traces"][0]["rootTraceName"], "POST /checkout");
        }
    }
}
