//! Series selection over 1M series: postings lookup and intersection for
//! typical dashboard matchers, from the head and from a persisted block.
//!
//! `cargo bench -p vigil-benches --bench select`

use criterion::{criterion_group, criterion_main, Criterion};
use model::{Labels, MatchOp, Matcher};
use tsdb::block::Block;
use tsdb::metrics::TsdbMetrics;
use tsdb::querier::Querier;
use tsdb::wal::record::RefSample;
use tsdb::{Db, Options};

const METRICS: usize = 100;
const INSTANCES: usize = 1000;
const SHARDS: usize = 10;
const JOBS: [&str; 4] = ["api", "web", "db", "cache"];

/// 1M series: 100 metric names × 1000 instances × 10 shards, one sample each.
fn build() -> (tempfile::TempDir, Db, Block) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default(), TsdbMetrics::unregistered()).unwrap();
    let mut batch = Vec::new();
    for metric in 0..METRICS {
        let mut labels = Vec::with_capacity(INSTANCES * SHARDS);
        for instance in 0..INSTANCES {
            for shard in 0..SHARDS {
                labels.push(
                    Labels::of(&[
                        ("__name__", &format!("metric_{metric}")),
                        ("instance", &format!("host-{instance}")),
                        ("job", JOBS[instance % JOBS.len()]),
                        ("shard", &shard.to_string()),
                    ])
                    .unwrap(),
                );
            }
        }
        let pairs: Vec<_> = labels
            .iter()
            .map(|l| l.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes())))
            .collect();
        let refs = db.head().get_or_create(&pairs).unwrap();
        batch.clear();
        batch.extend(refs.into_iter().map(|r| RefSample {
            series: r.unwrap(),
            t: 1_000,
            v: 1.0,
        }));
        db.head().commit(&batch).unwrap();
    }
    let snapshot = db.snapshot("bench", true).unwrap();
    let block_dir = std::fs::read_dir(snapshot)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let block = Block::open(&block_dir).unwrap();
    (dir, db, block)
}

fn matcher_sets() -> Vec<(&'static str, Vec<Matcher>)> {
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    vec![
        (
            "name+instance (10 series)",
            vec![
                m(MatchOp::Equal, "__name__", "metric_7"),
                m(MatchOp::Equal, "instance", "host-42"),
            ],
        ),
        (
            "name+job=~a|b (5k series)",
            vec![
                m(MatchOp::Equal, "__name__", "metric_7"),
                m(MatchOp::RegexMatch, "job", "api|web"),
            ],
        ),
        (
            "name+instance=~host-1.* (1.1k series)",
            vec![
                m(MatchOp::Equal, "__name__", "metric_7"),
                m(MatchOp::RegexMatch, "instance", "host-1.*"),
            ],
        ),
        (
            "job+shard!=0 (225k series)",
            vec![
                m(MatchOp::Equal, "job", "api"),
                m(MatchOp::NotEqual, "shard", "0"),
            ],
        ),
    ]
}

fn select(c: &mut Criterion) {
    let (_dir, db, block) = build();
    let mut group = c.benchmark_group("select_1M_series");
    group.sample_size(10);
    for (name, matchers) in matcher_sets() {
        let refs: Vec<&Matcher> = matchers.iter().collect();
        let expected = db.select(&matchers, 0, 2_000).unwrap().len();
        assert_eq!(
            block.select(&refs, 0, 2_000).unwrap().len(),
            expected,
            "{name}"
        );
        assert_eq!(db.head().series_refs(&refs).len(), expected, "{name}");
        group.bench_function(format!("head postings/{name}"), |b| {
            b.iter(|| db.head().series_refs(&refs).len())
        });
        group.bench_function(format!("block postings/{name}"), |b| {
            b.iter(|| block.series_ids(&refs).len())
        });
        group.bench_function(format!("head/{name}"), |b| {
            b.iter(|| db.head().select(&refs, 0, 2_000).len())
        });
        group.bench_function(format!("block/{name}"), |b| {
            b.iter(|| block.select(&refs, 0, 2_000).unwrap().len())
        });
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
