//! Prometheus Remote-Write 1.0: a protobuf `WriteRequest` in snappy's block
//! format (not the framed stream format).
//!
//! The messages mirror `prometheus/prompb/{remote,types}.proto`. Label names and
//! values are kept as bytes so that a series with invalid UTF-8 is rejected on
//! its own, with a reason naming it, instead of failing the whole request.
//! Native histograms (field 4 of `TimeSeries`) are skipped by the decoder.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

impl MetricType {
    /// The name Prometheus' `/api/v1/metadata` uses.
    pub fn api_name(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Gaugehistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
        }
    }
}

/// Why a request body could not be read. Each is the sender's fault (HTTP 400),
/// except [`WireError::TooLarge`] (HTTP 413).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("snappy decode error: {0}")]
    Snappy(String),
    #[error("decompressed body is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("protobuf decode error: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Decodes a snappy-compressed `WriteRequest`, refusing bodies that would
/// decompress to more than `max_decoded_bytes`.
pub fn decode_write_request(
    body: &[u8],
    max_decoded_bytes: usize,
) -> Result<WriteRequest, WireError> {
    let size = snap::raw::decompress_len(body).map_err(|e| WireError::Snappy(e.to_string()))?;
    if size > max_decoded_bytes {
        return Err(WireError::TooLarge {
            size,
            limit: max_decoded_bytes,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| WireError::Snappy(e.to_string()))?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

/// Encodes a `WriteRequest` the way Prometheus sends it.
pub fn encode_write_request(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compression of an in-memory buffer cannot fail")
}

impl TimeSeries {
    /// Builds a series from string pairs; for senders and tests.
    pub fn new(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: n.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            exemplars: Vec::new(),
        }
    }

    pub fn label_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        self.labels
            .iter()
            .map(|l| (l.name.as_slice(), l.value.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries::new(&[("__name__", "up")], &[(1000, 1.0)])],
            metadata: vec![],
        };
        let body = encode_write_request(&request);
        assert_eq!(decode_write_request(&body, 1 << 20).unwrap(), request);
        assert!(matches!(
            decode_write_request(b"not snappy at all", 1 << 20),
            Err(WireError::Snappy(_))
        ));
        assert!(matches!(
            decode_write_request(&body, 4),
            Err(WireError::TooLarge { .. })
        ));
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff\xff")
            .unwrap();
        assert!(matches!(
            decode_write_request(&not_proto, 1 << 20),
            Err(WireError::Protobuf(_))
        ));
    }
}
