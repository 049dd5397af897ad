//! Prometheus' JSON envelope: `{"status":"success","data":…}` and
//! `{"status":"error","errorType":…,"error":…}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// An error in Prometheus' format, with its status code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }

    pub fn execution(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error_type: "execution",
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error_type: "internal",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(error = %self.message, "API request failed");
        }
        (
            self.status,
            Json(json!({"status": "error", "errorType": self.error_type, "error": self.message})),
        )
            .into_response()
    }
}

/// A float as Prometheus writes sample values: shortest round-trip decimal,
/// never an exponent, and `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// A millisecond timestamp as Prometheus' API writes it: seconds as a number.
pub fn format_time(t: i64) -> Value {
    let sign = if t < 0 { "-" } else { "" };
    let (seconds, millis) = (t.unsigned_abs() / 1000, t.unsigned_abs() % 1000);
    // Exact decimal text, then a JSON number: no binary rounding surprises.
    let text = if millis == 0 {
        format!("{sign}{seconds}")
    } else {
        format!("{sign}{seconds}.{millis:03}")
            .trim_end_matches('0')
            .to_string()
    };
    serde_json::from_str(&text).expect("a decimal number is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_print_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_time(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(format_time(1_000).to_string(), "1");
        assert_eq!(format_time(1_500).to_string(), "1.5");
        assert_eq!(format_time(-1_500).to_string(), "-1.5");
    }
}
