//! Typical dashboard queries, evaluated by the PromQL engine over a
//! node-exporter-like fleet of 100k series and one hour of 15 s scrapes
//! (24 M samples), as `query_range` at step 60 s: with the data in the head,
//! with the same data persisted to a block, and split between blocks and the
//! head.
//!
//! `cargo bench -p vigil-benches --bench dashboard`
//! (`VIGIL_BENCH_SERIES=20000` for a quicker, smaller run.)

use criterion::{criterion_group, criterion_main, Criterion};

/// The server's allocator, so that the engine is measured as it runs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use tsdb::metrics::TsdbMetrics;
use tsdb::promql::{Engine, EngineOptions, Value};
use tsdb::wal::record::RefSample;
use tsdb::{Db, Options};
use vigil_benches::workload::{Workload, WorkloadConfig};

/// The queries of the end-to-end comparison (`vs_peers`), and two more
/// dashboard staples.
const QUERIES: &[(&str, &str)] = &[
    ("count_all_node", r#"count({__name__=~"node_.+"})"#),
    (
        "rate_by_instance",
        "sum by (instance) (rate(node_cpu_seconds_total[5m]))",
    ),
    (
        "topk",
        "topk(5, rate(node_network_receive_bytes_total[5m]))",
    ),
    (
        "regex_ratio",
        r#"node_filesystem_avail_bytes{mountpoint=~"/|/var.*"} / node_filesystem_size_bytes"#,
    ),
    (
        "histogram_quantile",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "cpu_busy_ratio",
        r#"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))"#,
    ),
    ("memory_gauge", "node_memory_MemAvailable_bytes"),
];

fn load(db: &Db, workload: &Workload) {
    let head = db.head();
    let refs: Vec<_> = {
        let pairs: Vec<_> = (0..workload.series_count())
            .map(|i| {
                workload
                    .labels(i)
                    .iter()
                    .map(|l| (l.name.as_bytes(), l.value.as_bytes()))
            })
            .collect();
        head.get_or_create(&pairs)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect()
    };
    let mut batch = Vec::new();
    for scrape in workload.scrapes() {
        batch.clear();
        batch.extend(
            scrape
                .series
                .clone()
                .zip(&scrape.values)
                .map(|(i, &v)| RefSample {
                    series: refs[i],
                    t: scrape.t,
                    v,
                }),
        );
        head.commit(&batch).unwrap();
    }
}

fn dashboard(c: &mut Criterion) {
    let series = std::env::var("VIGIL_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let config = WorkloadConfig {
        series,
        duration_ms: 3600 * 1000,
        ..WorkloadConfig::default()
    };
    let workload = Workload::new(config.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::default();
    options.wal.fsync = tsdb::wal::FsyncPolicy::Never;
    let db = Db::open(
        &dir.path().join("head"),
        options.clone(),
        TsdbMetrics::unregistered(),
    )
    .unwrap();
    load(&db, &workload);
    // The same data as a block: a snapshot's block, opened as a database.
    let snapshot = db.snapshot("bench", true).unwrap();
    let block_db_dir = dir.path().join("block");
    std::fs::create_dir_all(&block_db_dir).unwrap();
    std::fs::rename(&snapshot, block_db_dir.join("blocks")).unwrap();
    let block_db = Db::open(&block_db_dir, options.clone(), TsdbMetrics::unregistered()).unwrap();
    // What a dashboard over recent hours reads: older data in blocks (cut
    // every 20 minutes here), the newest in the head.
    let mixed_db = Db::open(
        &dir.path().join("mixed"),
        Options {
            block_range: 20 * 60_000,
            retention_time: None,
            ..options
        },
        TsdbMetrics::unregistered(),
    )
    .unwrap();
    load(&mixed_db, &workload);
    mixed_db.run_maintenance().unwrap();
    assert!(!mixed_db.blocks().is_empty() && mixed_db.head().num_series() > 0);

    let engine = Engine::new(EngineOptions::default());
    let start = config.start_ms + 60_000;
    let end = config.start_ms + config.duration_ms;
    let mut group = c.benchmark_group(format!("dashboard_{}k_series_1h_step60s", series / 1000));
    group.sample_size(10);
    for (name, query) in QUERIES {
        let head_result = engine.range(&db, query, start, end, 60_000).unwrap();
        for (source, db) in [("block", &block_db), ("mixed", &mixed_db)] {
            let result = engine.range(db, query, start, end, 60_000).unwrap();
            assert_eq!(
                format!("{:?}", head_result.value),
                format!("{:?}", result.value),
                "{name}: the head and the {source} answer differently"
            );
        }
        assert!(
            matches!(&head_result.value, Value::Matrix(m) if !m.is_empty()),
            "{name}: empty result"
        );
        for (source, db) in [("head", &db), ("block", &block_db), ("mixed", &mixed_db)] {
            group.bench_function(format!("{source}/{name}"), |b| {
                b.iter(|| engine.range(db, query, start, end, 60_000).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, dashboard);
criterion_main!(benches);
