//! Chunk codec throughput and size on the node-exporter-like workload.
//!
//! `cargo bench -p vigil-benches --bench chunk_codec` first prints bytes per
//! sample of Prometheus-style XOR chunks and of packed series in zstd pages on
//! the full default workload (51 000 series, 2 h, 24.48 M samples), then
//! measures encode and decode throughput in samples/s on every 20th series of
//! it (2 550 series, 1.22 M samples, the same mix of counters, gauges,
//! constants, histograms and floats).
//!
//! Under `cargo test --benches` (no `--bench` argument) the size report uses a
//! small workload and each benchmark runs once, to keep tests fast.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use model::Sample;
use tsdb::chunk::{packed, xor};
use vigil_benches::codec_sizes::{self, EncodedWorkload};
use vigil_benches::workload::{Workload, WorkloadConfig};

/// Every how-many-th series (in label order) the throughput benches use.
const THROUGHPUT_SERIES_STRIDE: usize = 20;

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let config = if benchmarking {
        WorkloadConfig::default()
    } else {
        WorkloadConfig {
            series: 2_000,
            ..WorkloadConfig::default()
        }
    };
    let workload = Workload::new(config);
    let encoded = EncodedWorkload::new(&workload);
    println!("{}", codec_sizes::report(&workload, &encoded));

    let series: Vec<Vec<Sample>> = encoded
        .series
        .iter()
        .step_by(THROUGHPUT_SERIES_STRIDE)
        .cloned()
        .collect();
    drop(encoded);

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    bench_codecs(&mut criterion, &series);
    criterion.final_summary();
}

fn bench_codecs(criterion: &mut Criterion, series: &[Vec<Sample>]) {
    let samples: usize = series.iter().map(Vec::len).sum();
    let mut group = criterion.benchmark_group("chunk_codec");
    group.throughput(Throughput::Elements(samples as u64));

    // Packed: one encoding per whole series.
    group.bench_function("packed/encode", |b| {
        let mut out = Vec::with_capacity(samples * 2);
        b.iter(|| {
            out.clear();
            for samples in series {
                packed::encode(black_box(samples), &mut out);
            }
            black_box(out.len())
        })
    });
    let encodings: Vec<Vec<u8>> = series
        .iter()
        .map(|samples| {
            let mut bytes = Vec::new();
            packed::encode(samples, &mut bytes);
            bytes
        })
        .collect();
    group.bench_function("packed/decode", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let mut sum = 0.0;
            for bytes in &encodings {
                out.clear();
                packed::decode(black_box(bytes), &mut out).expect("decodes");
                sum += out.last().map_or(0.0, |s| s.v);
            }
            black_box(sum)
        })
    });

    // Packed + zstd pages: the block's write and read paths for chunk bytes.
    let pages = paginate(&encodings, 64 << 10);
    group.bench_function("packed+zstd64KiB/encode+compress", |b| {
        let mut page = Vec::with_capacity(128 << 10);
        b.iter(|| {
            let mut compressed = 0;
            page.clear();
            for samples in series {
                packed::encode(samples, &mut page);
                if page.len() >= 64 << 10 {
                    compressed += packed::page_compress(&page, packed::DEFAULT_ZSTD_LEVEL).len();
                    page.clear();
                }
            }
            black_box(compressed)
        })
    });
    let compressed_pages: Vec<(Vec<u8>, usize)> = pages
        .iter()
        .map(|(page, count)| {
            (
                packed::page_compress(page, packed::DEFAULT_ZSTD_LEVEL),
                *count,
            )
        })
        .collect();
    group.bench_function("packed+zstd64KiB/decompress+decode", |b| {
        let mut raw = Vec::with_capacity(128 << 10);
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            let mut decoded = 0;
            for (compressed, count) in &compressed_pages {
                packed::page_decompress(compressed, &mut raw).expect("decompresses");
                let mut offset = 0;
                for _ in 0..*count {
                    out.clear();
                    offset += packed::decode(&raw[offset..], &mut out).expect("decodes");
                    decoded += out.len();
                }
            }
            black_box(decoded)
        })
    });

    // XOR: the head's appendable chunks of 120 samples.
    group.bench_function("xor/append", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for samples in series {
                for chunk in samples.chunks(xor::TARGET_SAMPLES_PER_CHUNK) {
                    let mut encoder = xor::XorChunk::new();
                    for s in chunk {
                        encoder.append(s.t, s.v);
                    }
                    bytes += encoder.bytes().len();
                }
            }
            black_box(bytes)
        })
    });
    let chunks: Vec<xor::XorChunk> = series
        .iter()
        .flat_map(|samples| samples.chunks(xor::TARGET_SAMPLES_PER_CHUNK))
        .map(|chunk| {
            let mut encoder = xor::XorChunk::new();
            chunk.iter().for_each(|s| encoder.append(s.t, s.v));
            encoder
        })
        .collect();
    group.bench_function("xor/iterate", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for chunk in &chunks {
                for sample in xor::iter_bytes(black_box(chunk.bytes())) {
                    sum += sample.v;
                }
            }
            black_box(sum)
        })
    });
    group.finish();
}

/// Lays encodings end to end into pages of at least `page_bytes`; returns
/// each page with the number of encodings in it.
fn paginate(encodings: &[Vec<u8>], page_bytes: usize) -> Vec<(Vec<u8>, usize)> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut count = 0;
    for bytes in encodings {
        page.extend_from_slice(bytes);
        count += 1;
        if page.len() >= page_bytes {
            pages.push((std::mem::take(&mut page), count));
            count = 0;
        }
    }
    if !page.is_empty() {
        pages.push((page, count));
    }
    pages
}
