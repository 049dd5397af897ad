//! Alertmanager's API v2 as amtool, Prometheus and Grafana's Alertmanager
//! data source call it: `POST/GET /api/v2/alerts`, `GET
//! /api/v2/alerts/groups`, `GET/POST /api/v2/silences`, `GET/DELETE
//! /api/v2/silence/<id>`, `GET /api/v2/receivers`, `GET /api/v2/status`.
//! Errors are JSON strings with 400 (bad input) or 404 (no such silence),
//! as Alertmanager's generated server answers them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;
use serde_json::json;

use crate::dispatch::matcher::parse_matchers;
use crate::service::{AlertFilter, Alertmanager};
use crate::silences::{silence_json, PostableSilence, SilencesError};

pub type SharedAlertmanager = Arc<Mutex<Alertmanager>>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!(message.into()))).into_response()
}

fn pairs(query: Option<String>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

async fn post_alerts(State(am): State<SharedAlertmanager>, body: Bytes) -> Response {
    match am.lock().post_alerts(&body, now_ms()) {
        Ok(refused) if refused.is_empty() => StatusCode::OK.into_response(),
        Ok(refused) => error(StatusCode::BAD_REQUEST, refused.join(";")),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_alerts(State(am): State<SharedAlertmanager>, RawQuery(query): RawQuery) -> Response {
    match AlertFilter::from_params(&pairs(query)) {
        Ok(filter) => axum::Json(am.lock().alerts_json(&filter, now_ms())).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_groups(State(am): State<SharedAlertmanager>, RawQuery(query): RawQuery) -> Response {
    match AlertFilter::from_params(&pairs(query)) {
        Ok(filter) => axum::Json(am.lock().groups_json(&filter, now_ms())).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn get_silences(State(am): State<SharedAlertmanager>, RawQuery(query): RawQuery) -> Response {
    let mut matchers = Vec::new();
    for (name, value) in pairs(query) {
        if name == "filter" {
            match parse_matchers(&value) {
                Ok(m) => matchers.extend(m),
                Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
    }
    axum::Json(am.lock().silences_json(&matchers, now_ms())).into_response()
}

async fn post_silence(State(am): State<SharedAlertmanager>, body: Bytes) -> Response {
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid silence: {e}")),
    };
    match am.lock().set_silence(posted, now_ms()) {
        Ok(id) => axum::Json(json!({ "silenceID": id })).into_response(),
        Err(e @ SilencesError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ SilencesError::Io(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn get_silence(State(am): State<SharedAlertmanager>, Path(id): Path<String>) -> Response {
    let am = am.lock();
    match am.silences().get(&id) {
        Some(s) => axum::Json(silence_json(s, chrono::Utc::now())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

async fn delete_silence(State(am): State<SharedAlertmanager>, Path(id): Path<String>) -> Response {
    match am.lock().expire_silence(&id, now_ms()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e @ SilencesError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ SilencesError::AlreadyExpired(_)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn receivers(State(am): State<SharedAlertmanager>) -> Response {
    axum::Json(am.lock().receivers_json()).into_response()
}

async fn status(State(am): State<SharedAlertmanager>) -> Response {
    axum::Json(am.lock().status_json()).into_response()
}

pub fn router(am: SharedAlertmanager) -> Router {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/status", get(status))
        .with_state(am)
}
