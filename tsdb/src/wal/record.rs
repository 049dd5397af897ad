//! WAL record payloads. The framing (length, checksum, type) is in
//! [`super::segment`]; the byte layout of each payload is in FORMAT.md.

use model::{Label, Labels};

use crate::encoding::{put_bytes, put_uvarint, put_varint, DecodeError, Reader};

/// A series' identity in the head and the WAL. Never reused while the WAL
/// that mentions it exists.
pub type SeriesRef = u64;

pub const TYPE_SERIES: u8 = 1;
pub const TYPE_SAMPLES: u8 = 2;
pub const TYPE_METADATA: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series: SeriesRef,
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMetadata {
    pub metric_family: String,
    pub kind: String,
    pub help: String,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(SeriesRef, Labels)>),
    Samples(Vec<RefSample>),
    Metadata(Vec<RefMetadata>),
}

pub fn encode_series(series: &[(SeriesRef, &Labels)], out: &mut Vec<u8>) {
    put_uvarint(out, series.len() as u64);
    for (series_ref, labels) in series {
        put_uvarint(out, *series_ref);
        put_uvarint(out, labels.len() as u64);
        for label in labels.iter() {
            put_bytes(out, label.name.as_bytes());
            put_bytes(out, label.value.as_bytes());
        }
    }
}

/// Samples are delta-coded against the first one: `(ref, t)` pairs of one
/// scrape are close together, so most deltas take one or two bytes.
pub fn encode_samples(samples: &[RefSample], out: &mut Vec<u8>) {
    put_uvarint(out, samples.len() as u64);
    let Some(first) = samples.first() else { return };
    put_uvarint(out, first.series);
    put_varint(out, first.t);
    for s in samples {
        put_varint(out, s.series.wrapping_sub(first.series) as i64);
        put_varint(out, s.t.wrapping_sub(first.t));
        out.extend_from_slice(&s.v.to_bits().to_le_bytes());
    }
}

pub fn encode_metadata(metadata: &[RefMetadata], out: &mut Vec<u8>) {
    put_uvarint(out, metadata.len() as u64);
    for m in metadata {
        for field in [&m.metric_family, &m.kind, &m.help, &m.unit] {
            put_bytes(out, field.as_bytes());
        }
    }
}

pub fn decode(record_type: u8, payload: &[u8]) -> Result<Record, DecodeError> {
    let mut r = Reader::new(payload);
    let count = r.uvarint()? as usize;
    // Every entry takes at least one byte: a count beyond the payload is garbage,
    // and must not drive a huge allocation.
    if count > payload.len() {
        return Err(DecodeError("record count exceeds record size"));
    }
    let record = match record_type {
        TYPE_SERIES => {
            let mut series = Vec::with_capacity(count);
            for _ in 0..count {
                let series_ref = r.uvarint()?;
                let n = r.uvarint()? as usize;
                if n > r.remaining() {
                    return Err(DecodeError("label count exceeds record size"));
                }
                let mut labels = Vec::with_capacity(n);
                for _ in 0..n {
                    labels.push(Label::new(r.str()?, r.str()?));
                }
                if !labels.windows(2).all(|w| w[0].name < w[1].name) {
                    return Err(DecodeError("series labels are not sorted"));
                }
                series.push((series_ref, Labels::from_sorted_unchecked(labels)));
            }
            Record::Series(series)
        }
        TYPE_SAMPLES => {
            let mut samples = Vec::with_capacity(count);
            if count > 0 {
                let base_ref = r.uvarint()?;
                let base_t = r.varint()?;
                for _ in 0..count {
                    let series = base_ref.wrapping_add(r.varint()? as u64);
                    let t = base_t.wrapping_add(r.varint()?);
                    let v = f64::from_bits(r.u64_le()?);
                    samples.push(RefSample { series, t, v });
                }
            }
            Record::Samples(samples)
        }
        TYPE_METADATA => {
            let mut metadata = Vec::with_capacity(count);
            for _ in 0..count {
                metadata.push(RefMetadata {
                    metric_family: r.str()?.to_owned(),
                    kind: r.str()?.to_owned(),
                    help: r.str()?.to_owned(),
                    unit: r.str()?.to_owned(),
                });
            }
            Record::Metadata(metadata)
        }
        _ => return Err(DecodeError("unknown record type")),
    };
    if !r.is_empty() {
        return Err(DecodeError("trailing bytes after record"));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let labels = Labels::of(&[("__name__", "up"), ("job", "a")]).unwrap();
        let mut buf = Vec::new();
        encode_series(&[(7, &labels)], &mut buf);
        assert_eq!(
            decode(TYPE_SERIES, &buf).unwrap(),
            Record::Series(vec![(7, labels)])
        );

        let samples = vec![
            RefSample {
                series: 9,
                t: 1000,
                v: 1.5,
            },
            RefSample {
                series: 3,
                t: -5,
                v: f64::from_bits(model::sample::STALE_NAN_BITS),
            },
            RefSample {
                series: u64::MAX,
                t: i64::MAX,
                v: -0.0,
            },
        ];
        buf.clear();
        encode_samples(&samples, &mut buf);
        let Record::Samples(back) = decode(TYPE_SAMPLES, &buf).unwrap() else {
            panic!()
        };
        assert_eq!(back.len(), 3);
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!(
                (a.series, a.t, a.v.to_bits()),
                (b.series, b.t, b.v.to_bits())
            );
        }
        assert!(decode(TYPE_SAMPLES, &buf[..buf.len() - 1]).is_err());
        assert!(decode(9, &buf).is_err());
    }
}
