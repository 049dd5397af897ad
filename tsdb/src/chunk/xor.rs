//! The head's appendable chunk: Gorilla compression, bit-compatible in spirit
//! with Prometheus' `tsdb/chunkenc/xor.go`.
//!
//! Timestamps are delta-of-delta coded into Prometheus' bit buckets, values are
//! XORed with their predecessor and only the meaningful bits are written,
//! reusing the previous leading/trailing-zero window when the new XOR fits it.
//!
//! # Layout
//!
//! ```text
//! ┌──────────────┬──────────────────────────────────────────────────────────┐
//! │ count: u16 BE│ bitstream, most significant bit of each byte first        │
//! └──────────────┴──────────────────────────────────────────────────────────┘
//! sample 0:  t0 as zigzag varint (whole bytes)      v0 as 64 raw bits
//! sample 1:  t1 - t0 as uvarint (whole bytes)       XOR(v1, v0)
//! sample n:  dod = (tn - tn-1) - (tn-1 - tn-2)      XOR(vn, vn-1)
//!
//! dod bucket                       value XOR
//!   0                  '0'           == 0                       '0'
//!   [-8191, 8192]      '10'   + 14b  fits previous window       '10' + window bits
//!   [-65535, 65536]    '110'  + 17b  otherwise                  '11' + 5b leading zeros (≤ 31)
//!   [-524287, 524288]  '1110' + 20b                                  + 6b significant bits (64 → 0)
//!   anything else      '1111' + 64b                                  + significant bits
//! ```
//!
//! All timestamp arithmetic wraps modulo 2^64, so any sequence of `i64`
//! timestamps round-trips, including `i64::MIN` followed by `i64::MAX`. The
//! head only appends increasing timestamps; that is its contract, not this
//! codec's. Values round-trip bit for bit (NaN payloads, the stale marker, -0.0).
//!
//! The only deliberate difference from Prometheus is that a chunk refuses a
//! 65536th sample (the count would overflow its `u16`) instead of wrapping.

use model::Sample;

use super::ChunkError;

/// How many samples the head puts in one chunk before cutting a new one
/// (Prometheus' value: about 30 minutes at a 15 s interval).
pub const TARGET_SAMPLES_PER_CHUNK: usize = 120;

/// The most samples one chunk can hold: its count is a `u16`.
pub const MAX_SAMPLES_PER_CHUNK: usize = u16::MAX as usize;

const HEADER_LEN: usize = 2;

/// Initial size of a new chunk's zero-filled buffer: the header, the first
/// sample and a few more before the first reallocation (the buffer doubles).
const INITIAL_BUFFER_LEN: usize = 32;

/// Leading-zero counts are written in 5 bits, so they are clamped to this.
const MAX_LEADING_ZEROS: u32 = 31;

/// An appendable Gorilla chunk that owns its bitstream.
#[derive(Clone, Debug)]
pub struct XorChunk {
    /// Header followed by the bitstream, then zero padding: the chunk's bytes
    /// are `buffer[..bit_len.div_ceil(8)]`, and at least 8 zero bytes follow
    /// the last written bit, so a write is one 8-byte read-modify-write.
    buffer: Vec<u8>,
    /// Bits written so far, header included.
    bit_len: usize,
    count: u16,
    first_t: i64,
    last_t: i64,
    /// `last_t - previous t`, wrapping; meaningful once `count >= 2`.
    last_delta: u64,
    last_v_bits: u64,
    /// The leading/trailing-zero window of the last XOR written with an
    /// explicit window; `None` until the first non-zero XOR.
    window: Option<XorWindow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct XorWindow {
    leading: u32,
    trailing: u32,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk.
    pub fn new() -> Self {
        XorChunk {
            buffer: vec![0; INITIAL_BUFFER_LEN],
            bit_len: HEADER_LEN * 8,
            count: 0,
            first_t: 0,
            last_t: 0,
            last_delta: 0,
            last_v_bits: 0,
            window: None,
        }
    }

    /// Appends one sample. The head guarantees `t` is greater than
    /// [`last_t`](Self::last_t) (checked in debug builds); the encoding itself
    /// round-trips any timestamp.
    ///
    /// # Panics
    ///
    /// When the chunk already holds [`MAX_SAMPLES_PER_CHUNK`] samples. The head
    /// cuts chunks at [`TARGET_SAMPLES_PER_CHUNK`], far below that.
    pub fn append(&mut self, t: i64, v: f64) {
        assert!(
            usize::from(self.count) < MAX_SAMPLES_PER_CHUNK,
            "XorChunk is full ({MAX_SAMPLES_PER_CHUNK} samples); cut a new chunk"
        );
        debug_assert!(
            self.count == 0 || t > self.last_t,
            "XorChunk::append: timestamp {t} not after {}",
            self.last_t
        );
        let v_bits = v.to_bits();
        match self.count {
            0 => {
                self.write_varint(zigzag_encode(t));
                self.write_bits(v_bits, 64);
                self.first_t = t;
            }
            1 => {
                let delta = t.wrapping_sub(self.last_t) as u64;
                self.write_varint(delta);
                self.write_value_xor(v_bits);
                self.last_delta = delta;
            }
            _ => {
                let delta = t.wrapping_sub(self.last_t) as u64;
                let delta_of_delta = delta.wrapping_sub(self.last_delta) as i64;
                self.write_delta_of_delta(delta_of_delta);
                self.write_value_xor(v_bits);
                self.last_delta = delta;
            }
        }
        self.last_t = t;
        self.last_v_bits = v_bits;
        self.count += 1;
        self.buffer[..HEADER_LEN].copy_from_slice(&self.count.to_be_bytes());
    }

    /// Number of samples in the chunk.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn first_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.first_t)
    }

    pub fn last_t(&self) -> Option<i64> {
        (self.count > 0).then_some(self.last_t)
    }

    pub fn last_v(&self) -> Option<f64> {
        (self.count > 0).then(|| f64::from_bits(self.last_v_bits))
    }

    /// The chunk's encoding (header included); decode with [`iter_bytes`].
    pub fn bytes(&self) -> &[u8] {
        &self.buffer[..self.bit_len.div_ceil(8)]
    }

    pub fn iter(&self) -> XorIter<'_> {
        iter_bytes(self.bytes())
    }

    /// Heap memory held by this chunk (its buffer's capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buffer.capacity()
    }

    /// Releases spare buffer capacity; for a chunk that will not be appended
    /// to again (appending afterwards still works, it just reallocates).
    pub fn shrink_to_fit(&mut self) {
        self.buffer.truncate(self.bit_len.div_ceil(8));
        self.buffer.shrink_to_fit();
    }

    fn write_delta_of_delta(&mut self, dod: i64) {
        // Bucket bounds as in Prometheus' bitRange: -(2^(n-1) - 1) ..= 2^(n-1).
        if dod == 0 {
            self.write_bits(0b0, 1);
        } else if fits_bucket(dod, 14) {
            self.write_bits(0b10, 2);
            self.write_bits(dod as u64, 14);
        } else if fits_bucket(dod, 17) {
            self.write_bits(0b110, 3);
            self.write_bits(dod as u64, 17);
        } else if fits_bucket(dod, 20) {
            self.write_bits(0b1110, 4);
            self.write_bits(dod as u64, 20);
        } else {
            self.write_bits(0b1111, 4);
            self.write_bits(dod as u64, 64);
        }
    }

    fn write_value_xor(&mut self, v_bits: u64) {
        let xor = v_bits ^ self.last_v_bits;
        if xor == 0 {
            self.write_bits(0b0, 1);
            return;
        }
        let leading = xor.leading_zeros().min(MAX_LEADING_ZEROS);
        let trailing = xor.trailing_zeros();
        if let Some(window) = self.window {
            if leading >= window.leading && trailing >= window.trailing {
                let significant = 64 - window.leading - window.trailing;
                self.write_bits(0b10, 2);
                self.write_bits(xor >> window.trailing, significant);
                return;
            }
        }
        let significant = 64 - leading - trailing;
        self.write_bits(0b11, 2);
        self.write_bits(u64::from(leading), 5);
        // 64 significant bits are written as 0 (6 bits hold 0..=63).
        self.write_bits(u64::from(significant & 63), 6);
        self.write_bits(xor >> trailing, significant);
        self.window = Some(XorWindow { leading, trailing });
    }

    fn write_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.write_bits((value & 0x7f) | 0x80, 8);
            value >>= 7;
        }
        self.write_bits(value, 8);
    }

    /// Writes the low `nbits` bits of `value`, most significant first.
    #[inline]
    fn write_bits(&mut self, value: u64, nbits: u32) {
        debug_assert!(nbits <= 64);
        if nbits > 56 {
            // With up to 7 bits already used in the current byte, more than
            // 57 bits would not fit one 64-bit window: write two halves.
            self.write_window(value >> 32, nbits - 32);
            self.write_window(value & 0xffff_ffff, 32);
        } else {
            self.write_window(value, nbits);
        }
    }

    /// Writes `nbits` (≤ 56) bits by OR-ing them into the 8 bytes starting at
    /// the current byte, which are zero past the bits already written.
    #[inline]
    fn write_window(&mut self, value: u64, nbits: u32) {
        debug_assert!(nbits <= 56);
        if nbits == 0 {
            return;
        }
        let start = self.bit_len / 8;
        let used_in_byte = (self.bit_len % 8) as u32;
        if start + 8 > self.buffer.len() {
            let grown = (self.buffer.len() * 2).max(start + 8);
            self.buffer.resize(grown, 0);
        }
        let bits = value & ((1u64 << nbits) - 1);
        let window = bits << (64 - used_in_byte - nbits);
        let slot: &mut [u8; 8] = (&mut self.buffer[start..start + 8])
            .try_into()
            .expect("slice of 8");
        *slot = (u64::from_be_bytes(*slot) | window).to_be_bytes();
        self.bit_len += nbits as usize;
    }
}

/// Whether `x` fits Prometheus' `nbits` bucket: `-(2^(nbits-1) - 1) ..= 2^(nbits-1)`.
#[inline]
fn fits_bucket(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

#[inline]
fn zigzag_encode(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

#[inline]
fn zigzag_decode(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

/// Decodes a chunk's bytes, as returned by [`XorChunk::bytes`].
///
/// Never panics: on corrupt input the iterator stops early and
/// [`XorIter::err`] says why.
pub fn iter_bytes(bytes: &[u8]) -> XorIter<'_> {
    let (count, error) = match bytes {
        [hi, lo, ..] => (u16::from_be_bytes([*hi, *lo]), None),
        _ => (
            0,
            Some(ChunkError(format!(
                "xor chunk of {} bytes is shorter than its header",
                bytes.len()
            ))),
        ),
    };
    XorIter {
        reader: BitReader {
            bytes,
            bit_pos: HEADER_LEN * 8,
        },
        count,
        produced: 0,
        t: 0,
        delta: 0,
        v_bits: 0,
        window: None,
        error,
    }
}

/// Iterator over the samples of an XOR chunk.
#[derive(Debug)]
pub struct XorIter<'a> {
    reader: BitReader<'a>,
    count: u16,
    produced: u16,
    t: i64,
    delta: u64,
    v_bits: u64,
    window: Option<XorWindow>,
    error: Option<ChunkError>,
}

impl XorIter<'_> {
    /// Why iteration stopped before the chunk's sample count, if it did.
    pub fn err(&self) -> Option<&ChunkError> {
        self.error.as_ref()
    }

    /// The number of samples the chunk's header announces.
    pub fn announced_len(&self) -> usize {
        usize::from(self.count)
    }

    fn fail(&mut self, what: &str) -> Option<Sample> {
        self.error = Some(ChunkError(format!(
            "xor chunk truncated or corrupt at sample {} of {} (bit {}): {what}",
            self.produced, self.count, self.reader.bit_pos
        )));
        None
    }

    fn read_next(&mut self) -> Result<Sample, &'static str> {
        let r = &mut self.reader;
        match self.produced {
            0 => {
                self.t = zigzag_decode(r.read_varint().ok_or("first timestamp")?);
                self.v_bits = r.read_bits(64).ok_or("first value")?;
            }
            1 => {
                self.delta = r.read_varint().ok_or("second timestamp")?;
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value_xor()?;
            }
            _ => {
                let dod = self.read_delta_of_delta().ok_or("timestamp")?;
                self.delta = self.delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.delta as i64);
                self.read_value_xor()?;
            }
        }
        Ok(Sample::new(self.t, f64::from_bits(self.v_bits)))
    }

    #[inline]
    fn read_delta_of_delta(&mut self) -> Option<i64> {
        let r = &mut self.reader;
        // Up to four prefix bits select the bucket: '0', '10', '110', '1110', '1111'.
        let ones = ((r.peek_bits(4) as u8) << 4).leading_ones();
        r.skip_bits(if ones == 4 { 4 } else { ones + 1 })?;
        let width = match ones {
            0 => return Some(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return r.read_bits(64).map(|bits| bits as i64),
        };
        let bits = r.read_bits(width)?;
        // Inverse of the bucket range -(2^(w-1) - 1) ..= 2^(w-1).
        let value = if bits > 1u64 << (width - 1) {
            bits as i64 - (1i64 << width)
        } else {
            bits as i64
        };
        Some(value)
    }

    #[inline]
    fn read_value_xor(&mut self) -> Result<(), &'static str> {
        let r = &mut self.reader;
        // '0': same value; '10': previous window; '11': new window.
        let control = r.peek_bits(2);
        if control < 0b10 {
            r.skip_bits(1).ok_or("value control bit")?;
            return Ok(());
        }
        r.skip_bits(2).ok_or("value control bits")?;
        let window = if control == 0b10 {
            self.window
                .ok_or("value reuses a leading/trailing window before any was written")?
        } else {
            let header = r
                .read_bits(11)
                .ok_or("leading zeros and significant bits")? as u32;
            let leading = header >> 6;
            let significant = match header & 63 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return Err("leading zeros + significant bits exceed 64");
            }
            let window = XorWindow {
                leading,
                trailing: 64 - leading - significant,
            };
            self.window = Some(window);
            window
        };
        let significant = 64 - window.leading - window.trailing;
        let bits = r.read_bits(significant).ok_or("value bits")?;
        // `significant` is at least 1 here, so `trailing` is at most 63.
        self.v_bits ^= bits << window.trailing;
        Ok(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.produced >= self.count || self.error.is_some() {
            return None;
        }
        match self.read_next() {
            Ok(sample) => {
                self.produced += 1;
                Some(sample)
            }
            Err(what) => self.fail(what),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.error.is_some() {
            return (0, Some(0));
        }
        let remaining = usize::from(self.count - self.produced);
        (0, Some(remaining))
    }
}

/// Reads bits most-significant first; every read is bounds-checked.
#[derive(Clone, Debug)]
struct BitReader<'a> {
    bytes: &'a [u8],
    bit_pos: usize,
}

impl BitReader<'_> {
    /// The next `nbits` (0..=56) bits without consuming them; bits past the
    /// end read as zero (callers check with [`skip_bits`](Self::skip_bits)).
    #[inline]
    fn peek_bits(&self, nbits: u32) -> u64 {
        debug_assert!(nbits <= 56);
        if nbits == 0 {
            return 0;
        }
        let byte = self.bit_pos / 8;
        let offset = (self.bit_pos % 8) as u32;
        let word = match self.bytes.get(byte..byte + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().expect("slice of 8")),
            None => {
                let mut padded = [0u8; 8];
                let tail = self.bytes.get(byte..).unwrap_or(&[]);
                padded[..tail.len()].copy_from_slice(tail);
                u64::from_be_bytes(padded)
            }
        };
        // offset ≤ 7 and nbits ≤ 56, so the bits wanted lie within `word`.
        (word << offset) >> (64 - nbits)
    }

    /// Consumes `nbits`, or returns `None` if fewer remain.
    #[inline]
    fn skip_bits(&mut self, nbits: u32) -> Option<()> {
        let end = self.bit_pos.checked_add(nbits as usize)?;
        if end > self.bytes.len() * 8 {
            return None;
        }
        self.bit_pos = end;
        Some(())
    }

    /// Reads `nbits` (0..=64) bits, or `None` past the end.
    #[inline]
    fn read_bits(&mut self, nbits: u32) -> Option<u64> {
        debug_assert!(nbits <= 64);
        if nbits > 56 {
            let high = self.peek_bits(nbits - 32);
            self.skip_bits(nbits - 32)?;
            let low = self.peek_bits(32);
            self.skip_bits(32)?;
            return Some((high << 32) | low);
        }
        let value = self.peek_bits(nbits);
        self.skip_bits(nbits)?;
        Some(value)
    }

    fn read_varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_bits(8)?;
            value |= (byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use model::sample::STALE_NAN_BITS;
    use proptest::prelude::*;

    fn round_trip(samples: &[Sample]) {
        let mut chunk = XorChunk::new();
        for s in samples {
            chunk.append(s.t, s.v);
        }
        assert_eq!(chunk.len(), samples.len());
        assert_eq!(chunk.first_t(), samples.first().map(|s| s.t));
        assert_eq!(chunk.last_t(), samples.last().map(|s| s.t));
        assert_eq!(
            chunk.last_v().map(f64::to_bits),
            samples.last().map(|s| s.v.to_bits())
        );
        let mut iter = chunk.iter();
        let decoded: Vec<Sample> = iter.by_ref().collect();
        assert!(iter.err().is_none(), "{:?}", iter.err());
        assert_eq!(decoded.len(), samples.len());
        for (i, (got, want)) in decoded.iter().zip(samples).enumerate() {
            assert!(got.bit_eq(want), "sample {i}: got {got:?}, want {want:?}");
        }
    }

    /// Floats that break naive codecs.
    pub(crate) fn adversarial_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::from_bits(STALE_NAN_BITS)),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MIN_POSITIVE),
            Just(f64::EPSILON),
            Just(5e-324),
            Just(0.1 + 0.2),
            Just(1e300),
            Just(123456789.123),
            any::<u64>().prop_map(f64::from_bits),
            (0u64..(1 << 52))
                .prop_map(|payload| f64::from_bits(0x7ff0_0000_0000_0000 | payload | 1)),
            (0u64..(1 << 52)).prop_map(f64::from_bits), // subnormals
            (-1_000_000i64..1_000_000).prop_map(|m| m as f64 / 100.0),
            any::<f64>(),
        ]
    }

    /// Increasing timestamps: regular scrapes with jitter, gaps and huge jumps,
    /// starting anywhere (negative, near i64::MIN or i64::MAX).
    pub(crate) fn increasing_timestamps(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
        let step = prop_oneof![
            3 => 14_990i64..=15_010,
            1 => Just(15_000i64),
            1 => 1i64..=3,
            1 => 1i64..=1_000_000_000,
            1 => 1i64..=i64::MAX / 4,
        ];
        let start = prop_oneof![
            Just(1_700_000_000_000i64),
            any::<i64>(),
            Just(i64::MIN),
            Just(-1i64),
        ];
        (start, prop::collection::vec(step, 0..max_len)).prop_map(|(start, steps)| {
            let mut t = start;
            let mut out = vec![t];
            for step in steps {
                match t.checked_add(step) {
                    Some(next) => t = next,
                    None => break,
                }
                out.push(t);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn round_trips_adversarial_samples(
            (ts, vs) in increasing_timestamps(300).prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(adversarial_f64(), n))
            })
        ) {
            let samples: Vec<Sample> = ts.iter().zip(&vs).map(|(&t, &v)| Sample::new(t, v)).collect();
            round_trip(&samples);
        }

        #[test]
        fn round_trips_slowly_changing_values(
            ts in increasing_timestamps(300),
            base in any::<f64>(),
            steps in prop::collection::vec(prop_oneof![Just(0.0), -10.0f64..10.0], 300),
        ) {
            let mut v = base;
            let samples: Vec<Sample> = ts.iter().zip(&steps).map(|(&t, &dv)| { v += dv; Sample::new(t, v) }).collect();
            round_trip(&samples);
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut iter = iter_bytes(&bytes);
            let decoded = iter.by_ref().count();
            prop_assert!(decoded <= iter.announced_len());
            prop_assert!(decoded == iter.announced_len() || iter.err().is_some());
        }

        #[test]
        fn truncation_is_an_error(
            (ts, vs) in increasing_timestamps(50).prop_flat_map(|ts| {
                let n = ts.len();
                (Just(ts), prop::collection::vec(adversarial_f64(), n))
            }),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut chunk = XorChunk::new();
            for (&t, &v) in ts.iter().zip(&vs) { chunk.append(t, v); }
            let bytes = chunk.bytes();
            // Every sample uses at least one bit, and the last byte holds at
            // most 7 padding bits, so dropping a whole byte always loses data.
            let cut = cut.index(bytes.len());
            let mut iter = iter_bytes(&bytes[..cut]);
            let decoded = iter.by_ref().count();
            prop_assert!(decoded < ts.len());
            prop_assert!(iter.err().is_some());
        }
    }

    #[test]
    fn every_timestamp_bucket_boundary_round_trips() {
        let mut deltas = vec![15_000i64];
        for bits in [14u32, 17, 20] {
            let half = 1i64 << (bits - 1);
            for d in [-(half - 1), -half, half, half + 1] {
                deltas.push(15_000 + d);
                deltas.push(15_000);
            }
        }
        deltas.extend([i64::MAX / 2, 1, i64::MAX / 3, 2]);
        let mut t = i64::MIN;
        let mut samples = vec![Sample::new(t, 0.0)];
        for d in deltas {
            // Keep deltas positive so timestamps stay increasing.
            let d = d.max(1);
            t = t.checked_add(d).expect("test deltas stay in range");
            samples.push(Sample::new(t, t as f64));
        }
        round_trip(&samples);
    }

    #[test]
    fn extreme_first_delta_round_trips() {
        round_trip(&[
            Sample::new(i64::MIN, f64::from_bits(STALE_NAN_BITS)),
            Sample::new(i64::MAX, -0.0),
            // Not increasing: allowed by the encoding, forbidden by the head.
        ]);
    }

    #[test]
    fn regular_series_is_compact() {
        // A 15 s counter that never changes costs 2 bits per sample after the
        // first two: one for the zero delta-of-delta, one for the zero XOR.
        let mut chunk = XorChunk::new();
        for i in 0..120 {
            chunk.append(1_700_000_000_000 + i * 15_000, 42.0);
        }
        assert!(
            chunk.bytes().len() <= 2 + 6 + 8 + 3 + 1 + 30 + 1,
            "{}",
            chunk.bytes().len()
        );
    }

    #[test]
    fn matches_prometheus_bit_layout_for_a_known_chunk() {
        // Three samples, hand-encoded from Prometheus' xor.go:
        // header 0x0003; t0 = 1000 zigzag varint = 2000 = d0 0f; v0 = 1.0;
        // delta 10 = 0a; XOR(2.0, 1.0) = 0x7ff0_0000_0000_0000: '11',
        // leading 1 (00001), significant 11 (001011), bits 111 1111 1111;
        // dod 0 ('0'), XOR(2.0, 2.0) = 0 ('0').
        let mut chunk = XorChunk::new();
        chunk.append(1000, 1.0);
        chunk.append(1010, 2.0);
        chunk.append(1020, 2.0);
        let mut expected = vec![0x00, 0x03, 0xd0, 0x0f];
        expected.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        expected.push(0x0a);
        // 11 00001 001011 11111111111 0 0 → 11000010 01011111 11111111 00(pad)
        expected.extend_from_slice(&[0b1100_0010, 0b0101_1111, 0b1111_1111, 0b0000_0000]);
        assert_eq!(chunk.bytes(), &expected[..]);
    }

    #[test]
    fn appending_after_shrink_to_fit_keeps_the_stream_intact() {
        let mut chunk = XorChunk::new();
        let mut samples = Vec::new();
        for i in 0..200i64 {
            let sample = Sample::new(i * 15_000 + (i * 7919) % 11, (i * i) as f64 / 100.0);
            chunk.append(sample.t, sample.v);
            samples.push(sample);
            if i % 37 == 0 {
                chunk.shrink_to_fit();
                assert!(chunk.heap_bytes() < chunk.bytes().len() + 16);
            }
        }
        let decoded: Vec<Sample> = chunk.iter().collect();
        assert_eq!(decoded.len(), samples.len());
        assert!(decoded.iter().zip(&samples).all(|(a, b)| a.bit_eq(b)));
    }

    #[test]
    fn empty_chunk_and_short_bytes() {
        let chunk = XorChunk::new();
        assert!(chunk.is_empty());
        assert_eq!(chunk.first_t(), None);
        assert_eq!(chunk.iter().count(), 0);
        let mut iter = iter_bytes(&[0x01]);
        assert_eq!(iter.next().map(|s| s.t), None);
        assert!(iter.err().is_some());
    }

    #[test]
    #[should_panic(expected = "full")]
    fn refuses_sample_past_u16_count() {
        let mut chunk = XorChunk::new();
        for i in 0..=MAX_SAMPLES_PER_CHUNK as i64 {
            chunk.append(i, 0.0);
        }
    }
}
