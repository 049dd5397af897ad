//! Every released on-disk format stays readable: the fixtures under
//! `tests/fixtures/v<N>/` were written by format version N and are never
//! regenerated. To add the fixtures of a new version, bump the format
//! version, then run
//! `VIGIL_WRITE_FIXTURES=1 cargo test -p tsdb --test compat -- --ignored`.

use std::path::{Path, PathBuf};

use model::{Labels, MatchOp, Matcher, Sample};
use tsdb::block::{Block, FORMAT_VERSION, OLDEST_READABLE_VERSION};
use tsdb::metrics::TsdbMetrics;
use tsdb::querier::Querier;
use tsdb::{Db, Options};

fn fixtures(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

/// The data every fixture holds: two series, one with awkward floats.
fn expected() -> Vec<(Labels, Vec<Sample>)> {
    let awkward = [
        0.1,
        -0.0,
        f64::INFINITY,
        f64::from_bits(model::sample::STALE_NAN_BITS),
        1e-310,
        123456.789,
    ];
    vec![
        (
            Labels::of(&[("__name__", "fixture_awkward"), ("job", "compat")]).unwrap(),
            awkward
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(1_000 + i as i64 * 15_000, v))
                .collect(),
        ),
        (
            Labels::of(&[("__name__", "fixture_counter"), ("job", "compat")]).unwrap(),
            (0..100)
                .map(|i| Sample::new(1_000 + i * 15_000, i as f64 * 0.25))
                .collect(),
        ),
    ]
}

#[test]
#[ignore = "writes fixtures; run by hand when the format version changes"]
fn write_fixtures() {
    if std::env::var("VIGIL_WRITE_FIXTURES").is_err() {
        return;
    }
    let dir = fixtures(FORMAT_VERSION);
    assert!(
        !dir.exists(),
        "fixtures of version {FORMAT_VERSION} exist and must never change"
    );
    let data = dir.join("data");
    {
        let db = Db::open(&data, Options::default(), TsdbMetrics::unregistered()).unwrap();
        for (labels, samples) in expected() {
            let r = db.head().get_or_create_labels(&labels).unwrap();
            let batch: Vec<_> = samples
                .iter()
                .map(|s| tsdb::wal::record::RefSample {
                    series: r,
                    t: s.t,
                    v: s.v,
                })
                .collect();
            db.head().commit(&batch).unwrap();
        }
        db.snapshot("block", true).unwrap();
        db.close().unwrap();
    }
    let snapshot = data.join("snapshots/block");
    let block = std::fs::read_dir(&snapshot)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::rename(block, dir.join("block")).unwrap();
    std::fs::remove_dir_all(data.join("snapshots")).unwrap();
    std::fs::remove_dir_all(data.join("blocks")).unwrap();
}

fn assert_holds_expected(got: Vec<(Labels, Vec<Sample>)>, what: &str) {
    let want = expected();
    assert_eq!(got.len(), want.len(), "{what}");
    for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
        assert_eq!(gl, wl, "{what}");
        assert_eq!(gs.len(), ws.len(), "{what}: {gl}");
        for (g, w) in gs.iter().zip(ws) {
            assert!(g.bit_eq(w), "{what}: {gl} {g:?} != {w:?}");
        }
    }
}

#[test]
fn every_version_from_the_oldest_readable_opens() {
    for version in OLDEST_READABLE_VERSION..=FORMAT_VERSION {
        let dir = fixtures(version);
        assert!(
            dir.exists(),
            "fixtures of format version {version} are missing: {}",
            dir.display()
        );

        let block =
            Block::open(&dir.join("block")).unwrap_or_else(|e| panic!("v{version} block: {e}"));
        assert_holds_expected(block.all_series().unwrap(), &format!("v{version} block"));

        // The WAL fixture replays into a head (copied: replay repairs in place).
        let copy = tempfile::tempdir().unwrap();
        copy_dir(&dir.join("data"), copy.path());
        let db = Db::open(copy.path(), Options::default(), TsdbMetrics::unregistered()).unwrap();
        let all = Matcher::new(MatchOp::RegexMatch, "__name__", "fixture_.*").unwrap();
        let got = db
            .select(&[all], i64::MIN, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|s| (s.labels, s.samples))
            .collect();
        assert_holds_expected(got, &format!("v{version} WAL"));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
