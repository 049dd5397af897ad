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

pub use crate::promql::format_value;

/// Writes a millisecond timestamp as exact decimal seconds (no binary
/// rounding): `1435781451.781`, `1.5`, `-2`.
fn write_time(out: &mut Vec<u8>, t: i64) {
    use std::io::Write;
    if t < 0 {
        out.push(b'-');
    }
    let (seconds, millis) = (t.unsigned_abs() / 1000, t.unsigned_abs() % 1000);
    let _ = write!(out, "{seconds}");
    if millis != 0 {
        let _ = write!(out, ".{millis:03}");
        while out.last() == Some(&b'0') {
            out.pop();
        }
    }
}

/// Writes a query result straight into the response body in Prometheus'
/// shape, without building a JSON tree first: a query's memory is its
/// samples plus its output.
pub struct ResultWriter {
    out: Vec<u8>,
    empty: bool,
}

impl ResultWriter {
    pub fn new(result_type: &str) -> ResultWriter {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(br#"{"status":"success","data":{"resultType":""#);
        out.extend_from_slice(result_type.as_bytes());
        out.extend_from_slice(br#"","result":["#);
        ResultWriter { out, empty: true }
    }

    fn begin_series(&mut self, labels: &model::Labels) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.extend_from_slice(br#"{"metric":{"#);
        for (i, label) in labels.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            serde_json::to_writer(&mut self.out, &label.name).expect("writing to a Vec");
            self.out.push(b':');
            serde_json::to_writer(&mut self.out, &label.value).expect("writing to a Vec");
        }
        self.out.push(b'}');
    }

    fn point(&mut self, t: i64, v: f64) {
        self.out.push(b'[');
        write_time(&mut self.out, t);
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(format_value(v).as_bytes());
        self.out.extend_from_slice(b"\"]");
    }

    /// A scalar result: the point itself is the result (`[t, "v"]`).
    pub fn scalar(&mut self, t: i64, v: f64) {
        write_time(&mut self.out, t);
        self.out.extend_from_slice(b",\"");
        self.out.extend_from_slice(format_value(v).as_bytes());
        self.out.push(b'"');
    }

    /// A string result (`[t, "text"]`).
    pub fn string(&mut self, t: i64, v: &str) {
        write_time(&mut self.out, t);
        self.out.push(b',');
        serde_json::to_writer(&mut self.out, v).expect("writing to a Vec");
    }

    /// One element of an instant vector.
    pub fn vector_element(&mut self, labels: &model::Labels, t: i64, v: f64) {
        self.begin_series(labels);
        self.out.extend_from_slice(br#","value":"#);
        self.point(t, v);
        self.out.push(b'}');
    }

    /// One series of a range vector; `points` must not be empty.
    pub fn matrix_series(
        &mut self,
        labels: &model::Labels,
        points: impl Iterator<Item = (i64, f64)>,
    ) {
        self.begin_series(labels);
        self.out.extend_from_slice(br#","values":["#);
        for (i, (t, v)) in points.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.point(t, v);
        }
        self.out.extend_from_slice(b"]}");
    }

    /// Ends the result, with query statistics inside `data` and warnings
    /// and infos beside it (each left out when there are none).
    pub fn finish_with(
        self,
        stats: Option<&Value>,
        warnings: &[String],
        infos: &[String],
    ) -> Response {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.into_body(stats, warnings, infos),
        )
            .into_response()
    }

    fn into_body(
        mut self,
        stats: Option<&Value>,
        warnings: &[String],
        infos: &[String],
    ) -> Vec<u8> {
        self.out.push(b']');
        if let Some(stats) = stats {
            self.out.extend_from_slice(br#","stats":"#);
            serde_json::to_writer(&mut self.out, stats).expect("writing to a Vec");
        }
        self.out.push(b'}');
        for (key, list) in [("warnings", warnings), ("infos", infos)] {
            if !list.is_empty() {
                self.out
                    .extend_from_slice(format!(",\"{key}\":").as_bytes());
                serde_json::to_writer(&mut self.out, list).expect("writing to a Vec");
            }
        }
        self.out.push(b'}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_writer_produces_prometheus_json() {
        let labels = model::Labels::of(&[("__name__", "up"), ("job", "a\"b")]).unwrap();
        let mut w = ResultWriter::new("matrix");
        w.matrix_series(&labels, [(1_000, 1.0), (2_500, f64::NAN)].into_iter());
        w.matrix_series(&labels, [(3_000, -0.5)].into_iter());
        let body = w.out.clone();
        let parsed: Value = serde_json::from_slice(&[body, b"]}}".to_vec()].concat()).unwrap();
        assert_eq!(
            parsed,
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "job": "a\"b"}, "values": [[1, "1"], [2.5, "NaN"]]},
                {"metric": {"__name__": "up", "job": "a\"b"}, "values": [[3, "-0.5"]]}
            ]}})
        );
    }

    #[test]
    fn values_and_times_print_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        let time = |t| {
            let mut out = Vec::new();
            write_time(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(time(1_435_781_451_781), "1435781451.781");
        assert_eq!(time(1_000), "1");
        assert_eq!(time(1_500), "1.5");
        assert_eq!(time(-1_500), "-1.5");
        assert_eq!(time(-2_000), "-2");
        assert_eq!(time(10), "0.01");
    }

    #[test]
    fn scalars_strings_stats_and_annotations_are_placed_like_prometheus() {
        let mut w = ResultWriter::new("scalar");
        w.scalar(1_500, 2.0);
        let stats = json!({"samples": {"totalQueryableSamples": 3}});
        let body = w.into_body(Some(&stats), &["PromQL warning: w (1:1)".into()], &[]);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"status": "success",
                "data": {"resultType": "scalar", "result": [1.5, "2"], "stats": stats},
                "warnings": ["PromQL warning: w (1:1)"]})
        );
        let mut w = ResultWriter::new("string");
        w.string(0, "a\"b");
        let body = w.into_body(None, &[], &["PromQL info: i (1:6)".into()]);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"status": "success", "data": {"resultType": "string", "result": [0, "a\"b"]},
                "infos": ["PromQL info: i (1:6)"]})
        );
    }
}
