//! Vigil's own metrics (`/metrics`) and the HTTP layer that times requests.
//! Names follow `vigil_<subsystem>_<name>_<unit>[_total]`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: String,
    pub code: u16,
}

pub struct Telemetry {
    pub registry: Registry,
    pub http_request_seconds: Family<RouteLabels, Histogram>,
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let mut registry = Registry::default();
        let http_request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry
            .sub_registry_with_prefix("vigil_http")
            .register_with_unit(
                "request_duration",
                "HTTP request latency by route",
                Unit::Seconds,
                http_request_seconds.clone(),
            );
        Telemetry {
            registry,
            http_request_seconds,
        }
    }

    /// The registry in Prometheus' text format, with process metrics.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("writing to a String");
        out.push_str(&process_metrics());
        prometheus_client::encoding::text::encode_eof(&mut out).expect("writing to a String");
        out
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

/// `process_*` metrics as Prometheus' client libraries export them, from /proc.
fn process_metrics() -> String {
    let mut out = String::new();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return out;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return out;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let page = 4096.0;
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (num(11) + num(12)) / ticks;
    let rss = num(21) * page;
    let vsize = num(20);
    out.push_str(&format!(
        "# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total {cpu}\n\
         # HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n\
         # HELP process_virtual_memory_bytes Virtual memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes {vsize}\n"
    ));
    out
}

pub async fn metrics_handler(State(telemetry): State<Arc<Telemetry>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        telemetry.render(),
    )
        .into_response()
}

/// Times every request, labelled by its route pattern (not the raw path, so
/// label cardinality stays bounded).
pub async fn track_requests(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let response = next.run(request).await;
    telemetry
        .http_request_seconds
        .get_or_create(&RouteLabels {
            route,
            method,
            code: response.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    response
}
