//! One series in the head: its labels and its chunks.

use model::{Labels, Sample};
use parking_lot::Mutex;

use super::Rejection;
use crate::chunk::xor::{self, XorChunk, TARGET_SAMPLES_PER_CHUNK};

#[derive(Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended,
    /// A sample with this timestamp and these value bits is already stored.
    DuplicateIgnored,
    Rejected(Rejection),
}

pub struct MemSeries {
    /// The labels in [`super::label_key`] form.
    key: Box<[u8]>,
    chunk_range: i64,
    chunks: Mutex<Chunks>,
}

struct Chunks {
    /// Full chunks, oldest first. No chunk straddles a multiple of `chunk_range`.
    closed: Vec<XorChunk>,
    open: XorChunk,
    /// The open chunk is closed before a sample at or after this time.
    open_window_end: i64,
    last_t: i64,
    last_v_bits: u64,
}

impl Chunks {
    fn all(&self) -> impl Iterator<Item = &XorChunk> {
        self.closed
            .iter()
            .chain((!self.open.is_empty()).then_some(&self.open))
    }
}

impl MemSeries {
    pub fn new(key: Box<[u8]>, chunk_range: i64) -> MemSeries {
        debug_assert!(chunk_range > 0);
        MemSeries {
            key,
            chunk_range,
            chunks: Mutex::new(Chunks {
                closed: Vec::new(),
                open: XorChunk::new(),
                open_window_end: i64::MIN,
                last_t: i64::MIN,
                last_v_bits: 0,
            }),
        }
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn labels(&self) -> Labels {
        super::label_key::decode(&self.key)
    }

    pub fn append(&self, t: i64, v: f64) -> AppendOutcome {
        let mut c = self.chunks.lock();
        if t <= c.last_t {
            if t == c.last_t {
                return if c.last_v_bits == v.to_bits() {
                    AppendOutcome::DuplicateIgnored
                } else {
                    AppendOutcome::Rejected(Rejection::Duplicate)
                };
            }
            // A retried batch re-sends samples we already have: accept those.
            return match find(&c, t) {
                Some(stored) if stored.to_bits() == v.to_bits() => AppendOutcome::DuplicateIgnored,
                Some(_) => AppendOutcome::Rejected(Rejection::Duplicate),
                None => AppendOutcome::Rejected(Rejection::OutOfOrder),
            };
        }
        if t >= c.open_window_end || c.open.len() >= TARGET_SAMPLES_PER_CHUNK {
            if !c.open.is_empty() {
                let mut full = std::mem::take(&mut c.open);
                full.shrink_to_fit();
                c.closed.push(full);
            }
            c.open_window_end = window_end(t, self.chunk_range);
        }
        c.open.append(t, v);
        c.last_t = t;
        c.last_v_bits = v.to_bits();
        AppendOutcome::Appended
    }

    /// Whether the series has a sample with `mint <= t <= maxt`, judged by
    /// its chunks' time ranges (nothing is decoded).
    pub fn has_samples_in(&self, mint: i64, maxt: i64) -> bool {
        let c = self.chunks.lock();
        let overlaps = c.all().any(|chunk| {
            matches!((chunk.first_t(), chunk.last_t()), (Some(first), Some(last)) if first <= maxt && last >= mint)
        });
        overlaps
    }

    /// Samples with `mint <= t <= maxt`.
    pub fn samples_in(&self, mint: i64, maxt: i64) -> Vec<Sample> {
        let mut out = Vec::new();
        self.samples_into(mint, maxt, &mut out);
        out
    }

    /// Appends the samples with `mint <= t <= maxt` to `out`.
    pub fn samples_into(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let c = self.chunks.lock();
        for chunk in c.all() {
            let (Some(first), Some(last)) = (chunk.first_t(), chunk.last_t()) else {
                continue;
            };
            if last < mint || first > maxt {
                continue;
            }
            out.extend(chunk.iter().filter(|s| s.t >= mint && s.t <= maxt));
        }
    }

    /// Drops chunks older than `cut`. Returns whether the series is now empty.
    pub fn truncate_before(&self, cut: i64) -> bool {
        let mut c = self.chunks.lock();
        c.closed
            .retain(|chunk| chunk.last_t().is_some_and(|t| t >= cut));
        if c.open.last_t().is_some_and(|t| t < cut) {
            c.open = XorChunk::new();
        }
        c.closed.is_empty() && c.open.is_empty()
    }

    pub fn heap_bytes(&self) -> usize {
        let c = self.chunks.lock();
        std::mem::size_of::<Self>()
            + self.key.len()
            + c.closed.capacity() * std::mem::size_of::<XorChunk>()
            + c.all().map(XorChunk::heap_bytes).sum::<usize>()
    }
}

/// The first multiple of `range` after `t`.
fn window_end(t: i64, range: i64) -> i64 {
    (t.div_euclid(range) + 1).saturating_mul(range)
}

fn find(c: &Chunks, t: i64) -> Option<f64> {
    let chunk = c.all().find(|chunk| {
        chunk.first_t().is_some_and(|f| f <= t) && chunk.last_t().is_some_and(|l| l >= t)
    })?;
    xor::iter_bytes(chunk.bytes())
        .find(|s| s.t == t)
        .map(|s| s.v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> MemSeries {
        let mut key = Vec::new();
        super::super::label_key::of_labels(&Labels::of(&[("__name__", "up")]).unwrap(), &mut key);
        MemSeries::new(key.into_boxed_slice(), 1000)
    }

    #[test]
    fn order_duplicates_and_retries() {
        let s = series();
        assert_eq!(s.append(10, 1.0), AppendOutcome::Appended);
        assert_eq!(s.append(20, 2.0), AppendOutcome::Appended);
        assert_eq!(s.append(20, 2.0), AppendOutcome::DuplicateIgnored);
        assert_eq!(
            s.append(20, 3.0),
            AppendOutcome::Rejected(Rejection::Duplicate)
        );
        assert_eq!(
            s.append(10, 1.0),
            AppendOutcome::DuplicateIgnored,
            "retried older sample"
        );
        assert_eq!(
            s.append(10, 9.0),
            AppendOutcome::Rejected(Rejection::Duplicate)
        );
        assert_eq!(
            s.append(15, 1.0),
            AppendOutcome::Rejected(Rejection::OutOfOrder)
        );
        let stale = f64::from_bits(model::sample::STALE_NAN_BITS);
        assert_eq!(s.append(30, stale), AppendOutcome::Appended);
        assert_eq!(s.append(30, stale), AppendOutcome::DuplicateIgnored);
        let got = s.samples_in(0, 100);
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].v.to_bits(), model::sample::STALE_NAN_BITS);
    }

    #[test]
    fn chunks_never_straddle_the_block_range() {
        let s = series();
        for t in (0..5000).step_by(7) {
            assert_eq!(s.append(t, t as f64), AppendOutcome::Appended);
        }
        {
            let c = s.chunks.lock();
            for chunk in c.all() {
                let (first, last) = (chunk.first_t().unwrap(), chunk.last_t().unwrap());
                assert_eq!(
                    first.div_euclid(1000),
                    last.div_euclid(1000),
                    "{first}..{last}"
                );
                assert!(chunk.len() <= TARGET_SAMPLES_PER_CHUNK);
            }
        }
        assert!(!s.truncate_before(3000));
        assert!(s.samples_in(0, 2999).is_empty());
        assert_eq!(s.samples_in(3000, 3006).len(), 1);
        assert!(s.truncate_before(6000));
    }
}
