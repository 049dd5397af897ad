//! What an acknowledged push costs, the two ways the issue names: appending
//! it to the log WAL (with and without an fsync), or indexing its lines in
//! tantivy and committing before the acknowledgement. Pushes of 100 lines
//! (about 27 KB, a typical Promtail batch) of the benchmark corpus.
//!
//! ```sh
//! cargo bench -p vigil-benches --bench log_durability
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logs::entry::Entry;
use logs::stream_labels;
use logs::wal::{self, LogWal};
use tantivy::schema::{Schema, TextFieldIndexing, TextOptions, FAST};
use tantivy::{Index, TantivyDocument};
use tsdb::wal::FsyncPolicy;
use vigil_benches::log_corpus::{self, Kind, Rng};

fn push() -> Vec<Entry> {
    let mut rng = Rng::new(11);
    (0..100)
        .map(|i| {
            let ts = 1_700_000_000_000_000_000 + i;
            Entry::new(ts, log_corpus::line(&mut rng, Kind::Json, ts, false))
        })
        .collect()
}

fn durability(c: &mut Criterion) {
    let entries = push();
    let bytes: usize = entries.iter().map(|e| e.line.len()).sum();
    let labels = stream_labels::parse(r#"{app="api", namespace="shop"}"#).unwrap();
    let mut group = c.benchmark_group("acknowledge_push");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(30);

    for (name, fsync) in [("wal_append", false), ("wal_append_fsync", true)] {
        let dir = tempfile::tempdir().unwrap();
        let log = LogWal::open(dir.path(), FsyncPolicy::Never, |_, _, _| {}).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut framed = Vec::new();
                wal::frame_push(std::iter::once((&labels, &entries[..])), &mut framed);
                log.append(&framed).unwrap();
                if fsync {
                    log.sync().unwrap();
                }
            })
        });
    }

    // One tantivy document per line, text without positions, stored as the
    // line store would need; committed (fsynced) before the acknowledgement.
    let dir = tempfile::tempdir().unwrap();
    let mut schema = Schema::builder();
    let line = schema.add_text_field(
        "line",
        TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_index_option(tantivy::schema::IndexRecordOption::Basic),
            )
            .set_stored(),
    );
    let ts = schema.add_i64_field("ts", FAST);
    let index = Index::create_in_dir(dir.path(), schema.build()).unwrap();
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(1, 32 << 20)
        .unwrap();
    group.bench_function("tantivy_commit", |b| {
        b.iter(|| {
            for entry in &entries {
                let mut document = TantivyDocument::new();
                document.add_text(line, &entry.line);
                document.add_i64(ts, entry.timestamp_ns);
                writer.add_document(document).unwrap();
            }
            writer.commit().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, durability);
criterion_main!(benches);
