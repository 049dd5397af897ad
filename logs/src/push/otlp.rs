//! OTLP logs over HTTP (`POST /v1/logs`, protobuf or JSON), mapped to
//! streams the way Loki's OTLP endpoint does by default:
//! - the resource attributes in [`INDEX_LABEL_ATTRIBUTES`] become stream
//!   labels, dots turned into underscores (`service.name` → `service_name`;
//!   `unknown_service` when a resource has none);
//! - every other resource attribute, the scope's name and version, the
//!   record's attributes, trace and span ids and severity become structured
//!   metadata;
//! - the body is the line (non-string bodies as JSON).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;

use super::DecodeError;
use crate::entry::{Entry, StreamEntries};
use crate::stream_labels;

/// Loki's default `otlp_config` resource attributes stored as index labels.
pub const INDEX_LABEL_ATTRIBUTES: &[&str] = &[
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "deployment.environment.name",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

pub fn decode_protobuf(body: &[u8]) -> Result<Vec<StreamEntries>, DecodeError> {
    let request = ExportLogsServiceRequest::decode(body)
        .map_err(|e| DecodeError::new(format!("error parsing OTLP protobuf body: {e}")))?;
    Ok(to_streams(request, crate::store::now_ns()))
}

pub fn decode_json(body: &[u8]) -> Result<Vec<StreamEntries>, DecodeError> {
    let request: ExportLogsServiceRequest = serde_json::from_slice(body)
        .map_err(|e| DecodeError::new(format!("error parsing OTLP JSON body: {e}")))?;
    Ok(to_streams(request, crate::store::now_ns()))
}

/// `service.name` → `service_name`: what is not a valid label character becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of an attribute value or body, as Loki renders it.
pub fn any_value_text(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => d.to_string(),
        Some(AnyValueKind::BytesValue(b)) => hex(b),
        Some(_) => any_value_json(value).to_string(),
    }
}

fn any_value_json(value: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &value.value {
        None => J::Null,
        Some(AnyValueKind::StringValue(s)) => J::String(s.clone()),
        Some(AnyValueKind::BoolValue(b)) => J::Bool(*b),
        Some(AnyValueKind::IntValue(i)) => J::from(*i),
        Some(AnyValueKind::DoubleValue(d)) => J::from(*d),
        Some(AnyValueKind::BytesValue(b)) => J::String(hex(b)),
        Some(AnyValueKind::ArrayValue(a)) => {
            J::Array(a.values.iter().map(any_value_json).collect())
        }
        Some(AnyValueKind::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(J::Null, any_value_json),
                    )
                })
                .collect(),
        ),
    }
}

fn push_attributes(attributes: &[KeyValue], prefix: &str, out: &mut Vec<(String, String)>) {
    for kv in attributes {
        let text = kv.value.as_ref().map(any_value_text).unwrap_or_default();
        if !text.is_empty() {
            out.push((sanitize_name(&format!("{prefix}{}", kv.key)), text));
        }
    }
}

fn to_streams(request: ExportLogsServiceRequest, now_ns: i64) -> Vec<StreamEntries> {
    let mut streams: Vec<StreamEntries> = Vec::new();
    for resource_logs in request.resource_logs {
        let attributes = resource_logs
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let mut label_pairs = Vec::new();
        let mut resource_metadata = Vec::new();
        for kv in &attributes {
            let text = kv.value.as_ref().map(any_value_text).unwrap_or_default();
            if text.is_empty() {
                continue;
            }
            if INDEX_LABEL_ATTRIBUTES.contains(&kv.key.as_str()) {
                label_pairs.push((sanitize_name(&kv.key), text));
            } else {
                resource_metadata.push((sanitize_name(&kv.key), text));
            }
        }
        if !label_pairs.iter().any(|(n, _)| n == "service_name") {
            label_pairs.push(("service_name".to_string(), "unknown_service".to_string()));
        }
        let Ok(labels) = stream_labels::from_pairs(label_pairs) else {
            continue; // unreachable: names are sanitized and non-empty
        };
        let mut entries = Vec::new();
        for scope_logs in resource_logs.scope_logs {
            let mut scope_metadata = Vec::new();
            if let Some(scope) = &scope_logs.scope {
                if !scope.name.is_empty() {
                    scope_metadata.push(("scope_name".to_string(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_metadata.push(("scope_version".to_string(), scope.version.clone()));
                }
                push_attributes(&scope.attributes, "", &mut scope_metadata);
            }
            for record in scope_logs.log_records {
                let timestamp_ns = [record.time_unix_nano, record.observed_time_unix_nano]
                    .into_iter()
                    .find(|t| *t != 0)
                    .map_or(now_ns, |t| t as i64);
                let mut metadata = resource_metadata.clone();
                metadata.extend(scope_metadata.iter().cloned());
                push_attributes(&record.attributes, "", &mut metadata);
                if !record.trace_id.is_empty() {
                    metadata.push(("trace_id".into(), hex(&record.trace_id)));
                }
                if !record.span_id.is_empty() {
                    metadata.push(("span_id".into(), hex(&record.span_id)));
                }
                if !record.severity_text.is_empty() {
                    metadata.push(("severity_text".into(), record.severity_text.clone()));
                }
                if record.severity_number != 0 {
                    metadata.push(("severity_number".into(), record.severity_number.to_string()));
                }
                if record.observed_time_unix_nano != 0 {
                    metadata.push((
                        "observed_timestamp".into(),
                        record.observed_time_unix_nano.to_string(),
                    ));
                }
                entries.push(Entry {
                    timestamp_ns,
                    line: record.body.as_ref().map(any_value_text).unwrap_or_default(),
                    metadata,
                });
            }
        }
        match streams.iter_mut().find(|s| s.labels == labels) {
            Some(stream) => stream.entries.extend(entries),
            None => streams.push(StreamEntries { labels, entries }),
        }
    }
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_resource_attributes_like_loki() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}},
            {"key":"k8s.namespace.name","value":{"stringValue":"shop"}},
            {"key":"host.name","value":{"stringValue":"node-1"}}]},
          "scopeLogs":[{"scope":{"name":"app.logger"},"logRecords":[
            {"timeUnixNano":"1700000000000000000","severityText":"ERROR","severityNumber":17,
             "body":{"stringValue":"payment failed"},
             "attributes":[{"key":"order.id","value":{"intValue":"42"}}],
             "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}]}]}]}"#;
        let streams = decode_json(body).unwrap();
        assert_eq!(streams.len(), 1);
        let labels = &streams[0].labels;
        assert_eq!(
            stream_labels::to_string(labels),
            r#"{k8s_namespace_name="shop", service_name="checkout"}"#
        );
        let entry = &streams[0].entries[0];
        assert_eq!(entry.timestamp_ns, 1_700_000_000_000_000_000);
        assert_eq!(entry.line, "payment failed");
        let get = |name: &str| {
            entry
                .metadata
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("host_name"), Some("node-1"));
        assert_eq!(get("order_id"), Some("42"));
        assert_eq!(get("scope_name"), Some("app.logger"));
        assert_eq!(get("severity_text"), Some("ERROR"));
        assert_eq!(get("severity_number"), Some("17"));
        assert_eq!(get("trace_id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(get("span_id"), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn a_resource_without_service_name_is_unknown_service() {
        let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}}]}}}]}]}]}"#;
        let streams = decode_json(body).unwrap();
        assert_eq!(
            streams[0].labels.get("service_name"),
            Some("unknown_service")
        );
        assert_eq!(streams[0].entries[0].line, r#"{"a":1}"#);
        assert!(decode_protobuf(b"\xff\xff").is_err());
        assert!(decode_json(b"{").is_err());
    }
}
