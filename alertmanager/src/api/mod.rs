//! The alerting routes: Prometheus' `/api/v1/rules` and `/api/v1/alerts`
//! (what Grafana's alerting views and the Prometheus UI read), answered
//! from the rule manager, and Alertmanager's API v2 ([`v2`]).

pub mod v2;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use serde_json::json;

use crate::evaluation::manager::RuleManager;

pub type SharedRules = Arc<Mutex<RuleManager>>;

async fn rules(State(manager): State<SharedRules>) -> Response {
    let data = manager.lock().rules_json();
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

async fn alerts(State(manager): State<SharedRules>) -> Response {
    let data = manager.lock().alerts_json();
    axum::Json(json!({ "status": "success", "data": data })).into_response()
}

pub fn prometheus_router(manager: SharedRules) -> Router {
    Router::new()
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(manager)
}
