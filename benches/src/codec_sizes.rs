//! How many bytes a sample costs in each chunk codec, on a [`Workload`].
//!
//! Series are encoded whole (one packed encoding per series, as the block
//! writer does for a 2 h block) and laid end to end into pages that are cut
//! once they hold at least `page_bytes`, each compressed with zstd — the
//! layout of `tsdb/FORMAT.md`, "Block: chunks". Only chunk bytes are counted:
//! no page headers, index or labels.

use std::time::{Duration, Instant};

use model::Sample;
use tsdb::chunk::{packed, xor};

use crate::workload::Workload;

/// Every series of a workload, generated once, in label-set order (the
/// order in which the block writer lays them out).
pub struct EncodedWorkload {
    pub samples: usize,
    /// Per series, in label-set order.
    pub series: Vec<Vec<Sample>>,
    /// The packed encoding of each entry of `series`.
    pub packed: Vec<Vec<u8>>,
    pub packed_encode_time: Duration,
}

impl EncodedWorkload {
    pub fn new(workload: &Workload) -> Self {
        let mut order: Vec<usize> = (0..workload.series_count()).collect();
        order.sort_by(|&a, &b| workload.labels(a).cmp(workload.labels(b)));
        let series: Vec<Vec<Sample>> = order.iter().map(|&s| workload.series_samples(s)).collect();
        let samples = series.iter().map(Vec::len).sum();
        let start = Instant::now();
        let packed = series
            .iter()
            .map(|samples| {
                let mut bytes = Vec::new();
                packed::encode(samples, &mut bytes);
                bytes
            })
            .collect();
        EncodedWorkload {
            samples,
            series,
            packed,
            packed_encode_time: start.elapsed(),
        }
    }

    /// Bytes of the packed encodings before page compression.
    pub fn packed_raw_bytes(&self) -> usize {
        self.packed.iter().map(Vec::len).sum()
    }

    /// Bytes of all series as Gorilla XOR chunks of
    /// [`xor::TARGET_SAMPLES_PER_CHUNK`] samples (what Prometheus stores).
    pub fn xor_bytes(&self) -> usize {
        self.series
            .iter()
            .flat_map(|samples| samples.chunks(xor::TARGET_SAMPLES_PER_CHUNK))
            .map(|chunk| {
                let mut encoder = xor::XorChunk::new();
                chunk.iter().for_each(|s| encoder.append(s.t, s.v));
                encoder.bytes().len()
            })
            .sum()
    }

    /// Total compressed page bytes with encodings laid out in `order`
    /// (indexes into `packed`), pages cut at `page_bytes`, zstd at `level`.
    pub fn paged_bytes(&self, order: &[usize], page_bytes: usize, level: i32) -> PagedSize {
        let start = Instant::now();
        let mut page = Vec::with_capacity(page_bytes * 2);
        let mut compressed = 0;
        let mut pages = 0;
        for &index in order {
            page.extend_from_slice(&self.packed[index]);
            if page.len() >= page_bytes {
                compressed += packed::page_compress(&page, level).len();
                pages += 1;
                page.clear();
            }
        }
        if !page.is_empty() {
            compressed += packed::page_compress(&page, level).len();
            pages += 1;
        }
        PagedSize {
            compressed,
            pages,
            compress_time: start.elapsed(),
        }
    }

    /// Label-set order: `0..series`.
    pub fn label_order(&self) -> Vec<usize> {
        (0..self.series.len()).collect()
    }

    /// Encodings ordered by (first timestamp, label order): series scraped
    /// together (same target) share timestamps and end up side by side.
    pub fn first_timestamp_order(&self) -> Vec<usize> {
        let mut order = self.label_order();
        order.sort_by_key(|&i| (self.series[i].first().map(|s| s.t), i));
        order
    }
}

/// The result of [`EncodedWorkload::paged_bytes`].
#[derive(Clone, Copy, Debug)]
pub struct PagedSize {
    pub compressed: usize,
    pub pages: usize,
    pub compress_time: Duration,
}

/// A printable report: Prometheus' XOR chunks against packed + zstd pages.
/// `encoded` is `EncodedWorkload::new(workload)`.
pub fn report(workload: &Workload, encoded: &EncodedWorkload) -> String {
    use std::fmt::Write;
    let n = encoded.samples as f64;
    let mut out = String::new();
    let config = workload.config();
    let _ = writeln!(
        out,
        "workload: {} series, {} targets, {} samples ({} min at {} ms ± {} ms, seed {:#x})",
        workload.series_count(),
        workload.target_count(),
        encoded.samples,
        config.duration_ms / 60_000,
        config.interval_ms,
        config.jitter_ms,
        config.seed
    );
    let _ = writeln!(
        out,
        "  xor chunks of 120 (Prometheus)       {:.3} bytes/sample",
        encoded.xor_bytes() as f64 / n
    );
    let _ = writeln!(
        out,
        "  packed, before page compression      {:.3} bytes/sample",
        encoded.packed_raw_bytes() as f64 / n
    );
    let label_order = encoded.label_order();
    let by_first_t = encoded.first_timestamp_order();
    for (what, order, page_bytes, level) in [
        (
            "label order   ",
            &label_order,
            16 << 10,
            packed::DEFAULT_ZSTD_LEVEL,
        ),
        ("label order   ", &label_order, 64 << 10, 1),
        (
            "label order   ",
            &label_order,
            64 << 10,
            packed::DEFAULT_ZSTD_LEVEL,
        ),
        ("label order   ", &label_order, 64 << 10, 9),
        (
            "label order   ",
            &label_order,
            256 << 10,
            packed::DEFAULT_ZSTD_LEVEL,
        ),
        (
            "by first t    ",
            &by_first_t,
            64 << 10,
            packed::DEFAULT_ZSTD_LEVEL,
        ),
    ] {
        let size = encoded.paged_bytes(order, page_bytes, level);
        let _ = writeln!(
            out,
            "  packed + zstd, {what} {:>4} KiB pages, level {level}: {:.3} bytes/sample ({} pages, compressed in {:.0?})",
            page_bytes >> 10,
            size.compressed as f64 / n,
            size.pages,
            size.compress_time,
        );
    }
    let _ = writeln!(
        out,
        "  packed encode of the whole workload: {:.0?} ({:.1} M samples/s)",
        encoded.packed_encode_time,
        n / encoded.packed_encode_time.as_secs_f64() / 1e6
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadConfig;

    #[test]
    fn packed_pages_beat_xor_on_a_small_workload() {
        let workload = Workload::new(WorkloadConfig {
            series: 2_000,
            duration_ms: 30 * 60 * 1000,
            ..WorkloadConfig::default()
        });
        let encoded = EncodedWorkload::new(&workload);
        let paged =
            encoded.paged_bytes(&encoded.label_order(), 64 << 10, packed::DEFAULT_ZSTD_LEVEL);
        assert!(paged.compressed * 2 < encoded.xor_bytes());
        // Every encoding decodes back bit for bit.
        let mut decoded = Vec::new();
        for (bytes, samples) in encoded.packed.iter().zip(&encoded.series) {
            decoded.clear();
            assert_eq!(
                packed::decode(bytes, &mut decoded).expect("decodes"),
                bytes.len()
            );
            assert!(decoded.iter().zip(samples).all(|(a, b)| a.bit_eq(b)));
        }
    }
}
