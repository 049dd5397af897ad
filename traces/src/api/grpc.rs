//! OTLP/gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export`,
//! served by tonic on the main port (beside HTTP/1.1, by protocol
//! detection) and on the OTLP gRPC port (4317 by default). gzip-compressed
//! requests are accepted. Refused spans are reported in `partial_success`;
//! a full store answers `UNAVAILABLE`, which OTLP exporters retry.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::ingest::{partial_success, store, Outcome};
use super::TracesApi;
use crate::otlp;

struct Service {
    api: Arc<TracesApi>,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request = request.into_inner();
        match store(&self.api, move || Ok(otlp::from_request(request))).await {
            Outcome::Stored {
                rejected,
                first_error,
                ..
            } => Ok(Response::new(ExportTraceServiceResponse {
                partial_success: partial_success(rejected, first_error),
            })),
            Outcome::Invalid(message) => Err(Status::invalid_argument(message)),
            Outcome::Overloaded(message) => Err(Status::unavailable(message)),
            Outcome::Failed(message) => Err(Status::internal(message)),
        }
    }
}

/// The gRPC routes, to merge into an axum router.
pub fn routes(api: Arc<TracesApi>) -> axum::Router {
    let limit = api.limits.max_body_bytes;
    let service = TraceServiceServer::new(Service { api })
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    tonic::service::Routes::new(service).into_axum_router()
}
