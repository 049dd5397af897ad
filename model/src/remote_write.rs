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
    #[error("protobuf decode error: {0}")]
    Malformed(String),
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

/// A `WriteRequest` decoded without copying: label names and values borrow
/// from the uncompressed body, and all series share two flat arrays. This is
/// the ingest path's decoder (a request of 2000 series costs a handful of
/// allocations instead of tens of thousands); [`WriteRequest`] stays for
/// senders and tests.
#[derive(Debug, Default)]
pub struct WriteRequestRef<'a> {
    pub series: Vec<SeriesRef>,
    labels: Vec<(&'a [u8], &'a [u8])>,
    samples: Vec<crate::Sample>,
    pub metadata: Vec<MetricMetadata>,
    /// Native histogram samples (field 4 of `TimeSeries`), which are not
    /// stored yet: counted so the receiver can say so instead of dropping
    /// them silently.
    pub native_histograms: usize,
}

/// One series of a [`WriteRequestRef`]: ranges into its flat arrays.
#[derive(Clone, Debug)]
pub struct SeriesRef {
    labels: std::ops::Range<u32>,
    samples: std::ops::Range<u32>,
}

impl<'a> WriteRequestRef<'a> {
    pub fn labels(&self, series: &SeriesRef) -> &[(&'a [u8], &'a [u8])] {
        &self.labels[series.labels.start as usize..series.labels.end as usize]
    }

    pub fn samples(&self, series: &SeriesRef) -> &[crate::Sample] {
        &self.samples[series.samples.start as usize..series.samples.end as usize]
    }

    pub fn num_samples(&self) -> usize {
        self.samples.len()
    }
}

/// Decompresses a snappy body into `buffer` (reused across requests),
/// refusing bodies that would decompress to more than `max_decoded_bytes`.
pub fn decompress_into(
    body: &[u8],
    max_decoded_bytes: usize,
    buffer: &mut Vec<u8>,
) -> Result<(), WireError> {
    let size = snap::raw::decompress_len(body).map_err(|e| WireError::Snappy(e.to_string()))?;
    if size > max_decoded_bytes {
        return Err(WireError::TooLarge {
            size,
            limit: max_decoded_bytes,
        });
    }
    buffer.clear();
    buffer.resize(size, 0);
    let written = snap::raw::Decoder::new()
        .decompress(body, buffer)
        .map_err(|e| WireError::Snappy(e.to_string()))?;
    buffer.truncate(written);
    Ok(())
}

/// Decodes an uncompressed `WriteRequest` without copying its strings.
pub fn decode_write_request_ref(raw: &[u8]) -> Result<WriteRequestRef<'_>, WireError> {
    let mut request = WriteRequestRef::default();
    let mut fields = Fields::new(raw);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, Value::Bytes(series)) => decode_series(series, &mut request)?,
            (3, Value::Bytes(metadata)) => request.metadata.push(MetricMetadata::decode(metadata)?),
            _ => {}
        }
    }
    Ok(request)
}

fn decode_series<'a>(raw: &'a [u8], request: &mut WriteRequestRef<'a>) -> Result<(), WireError> {
    let labels_start = request.labels.len() as u32;
    let samples_start = request.samples.len() as u32;
    let mut fields = Fields::new(raw);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, Value::Bytes(label)) => {
                let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
                let mut label_fields = Fields::new(label);
                while let Some((field, v)) = label_fields.next_field()? {
                    match (field, v) {
                        (1, Value::Bytes(b)) => name = b,
                        (2, Value::Bytes(b)) => value = b,
                        _ => {}
                    }
                }
                request.labels.push((name, value));
            }
            (2, Value::Bytes(sample)) => {
                let (mut v, mut t) = (0.0, 0i64);
                let mut sample_fields = Fields::new(sample);
                while let Some((field, x)) = sample_fields.next_field()? {
                    match (field, x) {
                        (1, Value::Fixed64(bits)) => v = f64::from_bits(bits),
                        (2, Value::Varint(n)) => t = n as i64,
                        _ => {}
                    }
                }
                request.samples.push(crate::Sample::new(t, v));
            }
            (4, Value::Bytes(_)) => request.native_histograms += 1,
            _ => {}
        }
    }
    request.series.push(SeriesRef {
        labels: labels_start..request.labels.len() as u32,
        samples: samples_start..request.samples.len() as u32,
    });
    Ok(())
}

enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

/// A protobuf field reader over one message's bytes.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| truncated("varint"))?;
            self.pos += 1;
            result |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(result);
            }
        }
        Err(WireError::Malformed("invalid varint".into()))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| truncated("field"))?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| truncated("length"))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed32
            }
            wire_type => {
                return Err(WireError::Malformed(format!(
                    "unsupported wire type {wire_type} for field {field}"
                )))
            }
        };
        Ok(Some((field, value)))
    }
}

fn truncated(what: &str) -> WireError {
    WireError::Malformed(format!("buffer underflow reading a {what}"))
}

#[cfg(test)]
mod zero_copy_tests {
    use super::*;
    use proptest::prelude::*;

    fn request_strategy() -> impl Strategy<Value = WriteRequest> {
        let label = (
            proptest::collection::vec(any::<u8>(), 0..12),
            proptest::collection::vec(any::<u8>(), 0..12),
        )
            .prop_map(|(name, value)| Label { name, value });
        let sample =
            (any::<f64>(), any::<i64>()).prop_map(|(value, timestamp)| Sample { value, timestamp });
        let series = (
            proptest::collection::vec(label, 0..6),
            proptest::collection::vec(sample, 0..4),
        )
            .prop_map(|(labels, samples)| TimeSeries {
                labels,
                samples,
                exemplars: vec![],
            });
        proptest::collection::vec(series, 0..8).prop_map(|timeseries| WriteRequest {
            timeseries,
            metadata: vec![],
        })
    }

    proptest! {
        #[test]
        fn agrees_with_prost(request in request_strategy()) {
            // Compare with what prost decodes: proto3 does not encode a -0.0
            // value (it equals the default), in Go's encoder either.
            let raw = request.encode_to_vec();
            let request = WriteRequest::decode(raw.as_slice()).unwrap();
            let view = decode_write_request_ref(&raw).unwrap();
            prop_assert_eq!(view.series.len(), request.timeseries.len());
            for (s, ts) in view.series.iter().zip(&request.timeseries) {
                let labels: Vec<(&[u8], &[u8])> = ts.label_pairs().collect();
                prop_assert_eq!(view.labels(s), &labels[..]);
                let samples = view.samples(s);
                prop_assert_eq!(samples.len(), ts.samples.len());
                for (a, b) in samples.iter().zip(&ts.samples) {
                    prop_assert_eq!((a.t, a.v.to_bits()), (b.timestamp, b.value.to_bits()));
                }
            }
        }

        #[test]
        fn garbage_is_an_error_or_agrees_with_prost(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let ours = decode_write_request_ref(&raw);
            let theirs = WriteRequest::decode(raw.as_slice());
            if let (Ok(view), Ok(request)) = (&ours, &theirs) {
                prop_assert_eq!(view.series.len(), request.timeseries.len());
            }
        }
    }

    #[test]
    fn truncated_bodies_are_errors() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries::new(&[("__name__", "up")], &[(1, 1.0)])],
            metadata: vec![],
        };
        let raw = request.encode_to_vec();
        for cut in 1..raw.len() {
            assert!(
                decode_write_request_ref(&raw[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
}
