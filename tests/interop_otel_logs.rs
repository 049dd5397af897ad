//! A real OTLP client: the OpenTelemetry Python SDK's OTLP/HTTP log exporter
//! sends records through Python's `logging` to `/v1/logs`; LogQL then finds
//! them with Loki's label mapping (resource attributes → `service_name`,
//! `k8s_namespace_name`; the rest, record attributes and trace context as
//! structured metadata).

mod common;

use std::process::Command;

use common::{agent, encode, get_json, Server};

const SCRIPT: &str = r#"
import logging, sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

endpoint = sys.argv[1]
resource = Resource.create({"service.name": "checkout", "k8s.namespace.name": "shop", "host.name": "node-7"})
trace.set_tracer_provider(TracerProvider(resource=resource))
provider = LoggerProvider(resource=resource)
set_logger_provider(provider)
provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint)))
logger = logging.getLogger("shop.checkout")
logger.setLevel(logging.INFO)
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
with trace.get_tracer("interop").start_as_current_span("pay") as span:
    ctx = span.get_span_context()
    print(format(ctx.trace_id, "032x"))
    logger.error("payment failed for order 42", extra={"order_id": "42", "amount": 99.5})
for i in range(20):
    logger.info("cart updated %d", i, extra={"order_id": str(100 + i)})
provider.shutdown()
"#;

fn python_with_otel() -> Option<String> {
    common::python_with(
        "opentelemetry.sdk._logs, opentelemetry.exporter.otlp.proto.http._log_exporter",
        "the OpenTelemetry Python SDK; install it with `pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http`",
    )
}

#[test]
fn opentelemetry_python_sdk_logs_are_found_by_logql() {
    let Some(python) = python_with_otel() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let output = Command::new(python)
        .args(["-c", SCRIPT, &server.url("/v1/logs")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let trace_id = String::from_utf8(output.stdout).unwrap().trim().to_string();

    let agent = agent();
    let query = |q: &str| {
        let (status, body) = get_json(
            &agent,
            &server.url(&format!(
                "/loki/api/v1/query_range?limit=100&query={}",
                encode(q)
            )),
        );
        assert_eq!(status, 200, "{body}");
        body["data"]["result"].as_array().unwrap().clone()
    };
    let all = query(r#"{service_name="checkout", k8s_namespace_name="shop"}"#);
    let lines: usize = all
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(lines, 21, "{all:?}");

    let failed = query(r#"{service_name="checkout"} |= "payment failed" | severity_text="ERROR""#);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let stream = &failed[0]["stream"];
    assert_eq!(stream["order_id"], "42");
    assert_eq!(stream["amount"], "99.5");
    assert_eq!(stream["host_name"], "node-7");
    assert_eq!(stream["trace_id"], trace_id.as_str());
    assert_eq!(stream["scope_name"], "shop.checkout");
    assert_eq!(failed[0]["values"][0][1], "payment failed for order 42");

    let counted = query(r#"sum(count_over_time({service_name="checkout"} | order_id > 110 [1h]))"#);
    let values = counted[0]["values"].as_array().unwrap();
    assert_eq!(values.last().unwrap()[1], "9");
}
