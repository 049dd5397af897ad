//! The store end to end, without HTTP: writes go through the head, are cut
//! into blocks, merged, retained, reopened; every read path must return the
//! same samples, bit for bit.

use std::time::Duration;

use model::{Labels, MatchOp, Matcher};
use tsdb::metrics::TsdbMetrics;
use tsdb::querier::{Querier, Series};
use tsdb::wal::record::RefSample;
use tsdb::{Db, Options};

const HOUR: i64 = 3_600_000;

fn options() -> Options {
    Options {
        block_range: 2 * HOUR,
        retention_time: None,
        ..Options::default()
    }
}

fn open(dir: &std::path::Path, options: Options) -> Db {
    Db::open(dir, options, TsdbMetrics::unregistered()).expect("store opens")
}

fn labels(name: &str, instance: &str) -> Labels {
    Labels::of(&[("__name__", name), ("instance", instance), ("job", "node")]).unwrap()
}

/// Appends one sample per series at each step from `start` to `end`.
fn write(db: &Db, series: &[Labels], start: i64, end: i64, step: i64) {
    let refs: Vec<u64> = series
        .iter()
        .map(|l| db.head().get_or_create_labels(l).unwrap())
        .collect();
    let mut t = start;
    while t < end {
        let batch: Vec<RefSample> = refs
            .iter()
            .enumerate()
            .map(|(i, &r)| RefSample {
                series: r,
                t,
                v: value(i, t),
            })
            .collect();
        let report = db.head().commit(&batch).unwrap();
        assert_eq!(report.rejected, 0);
        t += step;
    }
}

fn value(series: usize, t: i64) -> f64 {
    match series % 4 {
        0 => (t / 15_000) as f64 * 0.01,
        1 => f64::from_bits(model::sample::STALE_NAN_BITS),
        2 => -0.0,
        _ => (t as f64).sqrt() * 1e-300,
    }
}

fn all(db: &Db) -> Vec<Series> {
    let m = [Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap()];
    let selected = db.select(&m, i64::MIN, i64::MAX).unwrap();
    // The label-only path (series, label lookups) sees the same series.
    let labels: Vec<Labels> = selected.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(db.series(&m, i64::MIN, i64::MAX).unwrap(), labels);
    // The engine's read path, range by range, must see the same series.
    for parts in [1, 3] {
        assert_same(
            &selected,
            &read_in_parts(db, &m, i64::MIN, i64::MAX, parts),
            &format!("selection read in {parts} parts"),
        );
    }
    selected
}

/// Reads a selection as the query engine does: in `parts` consecutive ranges.
fn read_in_parts(db: &Db, m: &[Matcher], mint: i64, maxt: i64, parts: usize) -> Vec<Series> {
    let selection = db.selection(m, mint, maxt).unwrap();
    let len = selection.len();
    let mut out = Vec::new();
    for part in 0..parts {
        selection
            .visit(
                len * part / parts..len * (part + 1) / parts,
                &mut |labels, samples| {
                    out.push(Series {
                        labels,
                        samples: samples.to_vec(),
                    });
                    true
                },
            )
            .unwrap();
    }
    out
}

fn assert_same(a: &[Series], b: &[Series], path: &str) {
    assert_eq!(a.len(), b.len(), "{path}: series count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.labels, y.labels, "{path}");
        assert_eq!(x.samples.len(), y.samples.len(), "{path}: {}", x.labels);
        for (s, u) in x.samples.iter().zip(&y.samples) {
            assert!(s.bit_eq(u), "{path}: {} {s:?} != {u:?}", x.labels);
        }
    }
}

#[test]
fn head_blocks_merges_and_reopen_return_the_same_samples() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..8)
        .map(|i| labels(&format!("m{}", i % 3), &format!("host{i}")))
        .collect();
    let expected;
    {
        let db = open(dir.path(), options());
        write(&db, &series, 0, 10 * HOUR, 15_000);
        expected = all(&db);
        assert_eq!(expected.len(), 8);
        assert_eq!(expected[0].samples.len(), 2400);
        db.run_maintenance().unwrap();
        assert!(!db.blocks().is_empty(), "the head was cut into blocks");
        assert_same(&expected, &all(&db), "blocks + head");
    }
    let db = open(dir.path(), options());
    assert_same(&expected, &all(&db), "after reopen");
    // 2h blocks within a 6h window older than the head were merged.
    let levels: Vec<u32> = db
        .blocks()
        .iter()
        .map(|b| b.meta().compaction_level)
        .collect();
    assert!(levels.contains(&2), "some blocks were merged: {levels:?}");

    // Narrow time ranges and matchers read only what they ask for.
    let m = [
        Matcher::equal("__name__", "m1"),
        Matcher::new(MatchOp::NotEqual, "instance", "host1").unwrap(),
    ];
    let got = db.select(&m, 3 * HOUR, 3 * HOUR + 60_000).unwrap();
    assert_same(
        &got,
        &read_in_parts(&db, &m, 3 * HOUR, 3 * HOUR + 60_000, 2),
        "narrow selection in parts",
    );
    let instances: Vec<&str> = got
        .iter()
        .map(|s| s.labels.get("instance").unwrap())
        .collect();
    assert_eq!(instances, vec!["host4", "host7"]);
    assert!(got
        .iter()
        .all(|s| s.samples.len() == 5 && s.samples[0].t == 3 * HOUR));
}

#[test]
fn time_retention_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        Options {
            retention_time: Some(Duration::from_millis(4 * HOUR as u64)),
            ..options()
        },
    );
    write(&db, &[labels("up", "a")], 0, 12 * HOUR, 60_000);
    db.run_maintenance().unwrap();
    let oldest = db.blocks().iter().map(|b| b.meta().min_time).min().unwrap();
    let newest = db.blocks().iter().map(|b| b.meta().max_time).max().unwrap();
    assert!(
        newest - oldest <= 6 * HOUR,
        "blocks beyond 4h of retention are gone: {oldest}..{newest}"
    );
    let first = &all(&db)[0].samples[0];
    assert!(first.t >= 4 * HOUR, "{first:?}");
}

#[test]
fn size_retention_deletes_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        dir.path(),
        Options {
            retention_bytes: Some(1),
            ..options()
        },
    );
    write(&db, &[labels("up", "a")], 0, 8 * HOUR, 60_000);
    db.run_maintenance().unwrap();
    assert!(db.blocks().is_empty(), "every block exceeds a 1-byte limit");
    assert!(
        !all(&db).is_empty(),
        "the head is never deleted by retention"
    );
}

#[test]
fn samples_older_than_the_head_are_refused_and_retries_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options());
    let l = labels("up", "a");
    write(&db, std::slice::from_ref(&l), 0, 6 * HOUR, 60_000);
    db.run_maintenance().unwrap();
    let r = db.head().get_or_create_labels(&l).unwrap();
    let old = db
        .head()
        .commit(&[RefSample {
            series: r,
            t: 1000,
            v: 1.0,
        }])
        .unwrap();
    assert_eq!(old.rejected, 1);
    assert_eq!(
        old.first_rejection.unwrap().1,
        tsdb::head::Rejection::TooOld
    );
    let last_t = 6 * HOUR - 60_000;
    let retry = db
        .head()
        .commit(&[RefSample {
            series: r,
            t: last_t,
            v: value(0, last_t),
        }])
        .unwrap();
    assert_eq!(
        (retry.appended, retry.duplicates_ignored, retry.rejected),
        (0, 1, 0)
    );
}

#[test]
fn a_damaged_block_is_moved_aside_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let l = labels("up", "a");
    let (blocks_before, samples_before) = {
        let db = open(
            dir.path(),
            Options {
                block_range: HOUR,
                ..options()
            },
        );
        write(&db, std::slice::from_ref(&l), 0, 3 * HOUR, 60_000);
        db.run_maintenance().unwrap();
        (db.blocks().len(), all(&db)[0].samples.len())
    };
    assert!(blocks_before >= 2);
    let mut block_dirs: Vec<_> = std::fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    block_dirs.sort();
    let damaged = tsdb::block::Block::open(&block_dirs[0])
        .unwrap()
        .meta()
        .clone();
    let chunks = block_dirs[0].join("chunks");
    let mut bytes = std::fs::read(&chunks).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&chunks, bytes).unwrap();

    let db = open(
        dir.path(),
        Options {
            block_range: HOUR,
            ..options()
        },
    );
    assert_eq!(
        db.blocks().len(),
        blocks_before - 1,
        "the damaged block is not served"
    );
    assert_eq!(
        dir.path().join("corrupted").read_dir().unwrap().count(),
        1,
        "it was kept for inspection"
    );
    let series = all(&db);
    assert_eq!(
        series.len(),
        1,
        "the other blocks and the head are still served"
    );
    assert_eq!(
        series[0].samples.len() as u64,
        samples_before as u64 - damaged.stats.num_samples
    );
    assert!(series[0]
        .samples
        .iter()
        .all(|s| s.t < damaged.min_time || s.t >= damaged.max_time));
}

#[test]
fn snapshot_holds_blocks_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options());
    write(&db, &[labels("up", "a")], 0, 5 * HOUR, 60_000);
    db.run_maintenance().unwrap();
    let snapshot = db.snapshot("s1", true).unwrap();
    let mut samples = 0;
    for entry in std::fs::read_dir(&snapshot).unwrap() {
        let block = tsdb::block::Block::open(&entry.unwrap().path()).unwrap();
        samples += block.meta().stats.num_samples;
    }
    assert_eq!(samples, 300, "every sample is in the snapshot once");
    assert!(db.snapshot("../escape", true).is_err());
}

#[test]
fn wal_replay_restores_the_head_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..4).map(|i| labels("m", &format!("h{i}"))).collect();
    let expected = {
        let db = open(dir.path(), options());
        write(&db, &series, 0, HOUR, 15_000);
        all(&db)
        // Dropped without close(): like a killed process, the OS has the writes.
    };
    let db = open(dir.path(), options());
    assert_same(&expected, &all(&db), "replayed");
    // New series after replay get fresh refs and do not collide.
    let fresh = db.head().get_or_create_labels(&labels("new", "x")).unwrap();
    let existing = db.head().get_or_create_labels(&series[0]).unwrap();
    assert_ne!(fresh, existing);
}

#[test]
fn overlapping_blocks_are_merged_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<Labels> = (0..6).map(|i| labels("m", &format!("h{i}"))).collect();
    let expected = {
        let db = open(dir.path(), options());
        write(&db, &series, 0, 5 * HOUR, 15_000);
        db.run_maintenance().unwrap();
        all(&db)
    };
    // A restored backup or a second copy of a block: the same data twice.
    let blocks_dir = dir.path().join("blocks");
    let original = std::fs::read_dir(&blocks_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let copy = blocks_dir.join("0000000000000copy00000000");
    std::fs::create_dir(&copy).unwrap();
    for file in ["meta.json", "index", "chunks"] {
        std::fs::copy(original.join(file), copy.join(file)).unwrap();
    }
    let db = open(dir.path(), options());
    let before = db.blocks().len();
    assert_same(
        &expected,
        &all(&db),
        "overlapping blocks are de-duplicated on read",
    );
    db.run_maintenance().unwrap();
    assert!(db.blocks().len() < before, "the overlap was merged");
    assert_same(&expected, &all(&db), "after the merge");
}

#[test]
fn large_selections_read_in_batches_match_select() {
    // More series than one reading batch (1024), so parts span several
    // batches that share decompressed pages.
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), options());
    let series: Vec<Labels> = (0..3000)
        .map(|i| labels(&format!("m{}", i % 2), &format!("host{i:04}")))
        .collect();
    write(&db, &series, 0, 5 * HOUR, 60_000);
    db.run_maintenance().unwrap();
    assert!(!db.blocks().is_empty() && db.head().num_series() > 0);
    let m = [Matcher::new(MatchOp::RegexMatch, "__name__", "m.").unwrap()];
    for (mint, maxt) in [(i64::MIN, i64::MAX), (HOUR, 4 * HOUR)] {
        let expected = db.select(&m, mint, maxt).unwrap();
        assert_eq!(expected.len(), 3000);
        let labels: Vec<Labels> = expected.iter().map(|s| s.labels.clone()).collect();
        assert_eq!(db.series(&m, mint, maxt).unwrap(), labels);
        for parts in [1, 2] {
            assert_same(
                &expected,
                &read_in_parts(&db, &m, mint, maxt, parts),
                &format!("{parts} parts over [{mint}, {maxt}]"),
            );
        }
    }
}
