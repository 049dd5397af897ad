//! Prometheus' own PromQL test scripts, run against our engine on both read
//! paths: data in the head (through `Db`), and data persisted as blocks.
//!
//! The scripts under `tests/promql/testdata/` are byte-for-byte copies of
//! `promql/promqltest/testdata/*.test` from github.com/prometheus/prometheus at
//! commit d15adb9ad7e5d9fbde3a9a8f30200593a5a14d86 (Apache-2.0; `LICENSE` and
//! `NOTICE` beside them). Never edit them: list exceptions instead, in
//!
//! - `tests/promql/skipped.txt` (generated): every eval the runner skips by
//!   itself (native histograms, start timestamps, syntax promql-parser cannot
//!   parse), each with its reason;
//! - `tests/promql/skip.txt`: evals not run at all for any other reason;
//! - `tests/promql/known_failures.txt`: evals that fail today. The test fails
//!   on any other failure, and on a listed eval that now passes, so the list
//!   only shrinks. After fixing the engine, regenerate it with
//!   `VIGIL_UPDATE_KNOWN_FAILURES=1 cargo test -p tsdb --test promql_conformance`
//!   and review the diff.
//!
//! `VIGIL_PROMQL_FILES=selectors,staleness` runs only the scripts whose name
//! contains one of those words (the lists are then checked, and updated, for
//! those scripts only). Add `-- --nocapture` to see the per-file summary, and
//! `VIGIL_PROMQL_VERBOSE=1` to print every failed and skipped eval with why.
//! What the runner checks and skips is documented in `tsdb::promql::script`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use model::{Labels, Matcher, Sample};
use tsdb::block::writer::{write_block, WriteOptions};
use tsdb::block::Block;
use tsdb::metrics::TsdbMetrics;
use tsdb::promql::script::{self, EvalReport, Outcome, RunOptions, Storage};
use tsdb::promql::{Engine, EngineOptions};
use tsdb::querier::{merge_sources, Querier, QueryError, Series};
use tsdb::wal::record::RefSample;
use tsdb::wal::{FsyncPolicy, WalOptions};
use tsdb::{Db, Options};

const UPDATE_ENV: &str = "VIGIL_UPDATE_KNOWN_FAILURES";
const FILES_ENV: &str = "VIGIL_PROMQL_FILES";
const VERBOSE_ENV: &str = "VIGIL_PROMQL_VERBOSE";

fn promql_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql")
}

/// The upstream test engine's settings (`promqltest.NewTestEngine`).
fn engine() -> Engine {
    Engine::new(EngineOptions {
        lookback_ms: 5 * 60_000,
        default_subquery_step_ms: 60_000,
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        // Two readers, so that selections split into parts are checked too.
        parallelism: 2,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ReadPath {
    Head,
    Block,
}

impl ReadPath {
    const ALL: [ReadPath; 2] = [ReadPath::Head, ReadPath::Block];

    fn name(self) -> &'static str {
        match self {
            ReadPath::Head => "head",
            ReadPath::Block => "block",
        }
    }

    fn storage(self) -> Box<dyn Storage> {
        match self {
            ReadPath::Head => Box::new(HeadStorage::new()),
            ReadPath::Block => Box::new(BlockStorage::new()),
        }
    }
}

/// Series the head would refuse are refused on both paths alike.
fn validate(labels: &Labels) -> Result<(), String> {
    Labels::new(labels.as_slice().to_vec())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Every `load` appended to one `Db`'s head; a `clear` opens a new `Db`.
struct HeadStorage {
    root: tempfile::TempDir,
    generation: u32,
    db: Db,
}

impl HeadStorage {
    fn new() -> HeadStorage {
        let root = tempfile::tempdir().expect("temp dir");
        let db = HeadStorage::open(&root.path().join("0"));
        HeadStorage {
            root,
            generation: 0,
            db,
        }
    }

    fn open(dir: &Path) -> Db {
        let options = Options {
            retention_time: None,
            wal: WalOptions {
                segment_bytes: 1 << 20,
                fsync: FsyncPolicy::Never,
            },
            ..Options::default()
        };
        Db::open(dir, options, TsdbMetrics::unregistered()).expect("store opens")
    }
}

impl Storage for HeadStorage {
    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
        let head = self.db.head();
        for (labels, samples) in series {
            validate(&labels)?;
            let series_ref = head
                .get_or_create_labels(&labels)
                .map_err(|e| format!("{labels}: {e}"))?;
            let batch: Vec<RefSample> = samples
                .iter()
                .map(|s| RefSample {
                    series: series_ref,
                    t: s.t,
                    v: s.v,
                })
                .collect();
            let report = head.commit(&batch).map_err(|e| format!("{labels}: {e}"))?;
            if let Some((sample, why)) = report.first_rejection {
                return Err(format!(
                    "{labels}: {} samples refused, the first at {}: {}",
                    report.rejected,
                    sample.t,
                    why.describe()
                ));
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        let old = self.root.path().join(self.generation.to_string());
        self.generation += 1;
        self.db = HeadStorage::open(&self.root.path().join(self.generation.to_string()));
        std::fs::remove_dir_all(old).expect("old store removed");
    }

    fn querier(&self) -> &dyn Querier {
        &self.db
    }
}

/// Every `load` written as one block; queries merge the blocks.
struct BlockStorage {
    root: tempfile::TempDir,
    generation: u32,
    blocks: Blocks,
}

impl BlockStorage {
    fn new() -> BlockStorage {
        BlockStorage {
            root: tempfile::tempdir().expect("temp dir"),
            generation: 0,
            blocks: Blocks(Vec::new()),
        }
    }
}

impl Storage for BlockStorage {
    fn load(&mut self, series: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
        for (labels, _) in &series {
            validate(labels)?;
        }
        let samples = series.iter().flat_map(|(_, samples)| samples);
        let (Some(min_time), Some(max_time)) = (
            samples.clone().map(|s| s.t).min(),
            samples.map(|s| s.t).max(),
        ) else {
            return Ok(());
        };
        let dir = self.root.path().join(self.generation.to_string());
        let meta = write_block(
            &dir,
            series,
            min_time,
            max_time + 1,
            1,
            None,
            &WriteOptions::default(),
        )
        .map_err(|e| format!("writing a block: {e}"))?
        .expect("a load with samples writes a block");
        let block = Block::open(&dir.join(&meta.id)).map_err(|e| e.to_string())?;
        self.blocks.0.push(block);
        Ok(())
    }

    fn clear(&mut self) {
        self.blocks.0.clear();
        let old = self.root.path().join(self.generation.to_string());
        if old.exists() {
            std::fs::remove_dir_all(old).expect("old blocks removed");
        }
        self.generation += 1;
    }

    fn querier(&self) -> &dyn Querier {
        &self.blocks
    }
}

/// Blocks in load order; where two overlap on a sample, the later wins.
struct Blocks(Vec<Block>);

impl Querier for Blocks {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Series>, QueryError> {
        let matchers: Vec<&Matcher> = matchers.iter().collect();
        let mut sources = Vec::new();
        for block in self.0.iter().filter(|b| b.overlaps(mint, maxt)) {
            sources.push(block.select(&matchers, mint, maxt)?);
        }
        Ok(merge_sources(sources))
    }
}

/// An eval: script file name and the 1-based line of its `eval` header.
type EvalKey = (String, usize);

/// `file.test:LINE` at the start of a list line.
fn parse_key(text: &str) -> Option<EvalKey> {
    let (file, line) = text.rsplit_once(':')?;
    Some((file.to_string(), line.parse().ok()?))
}

/// Lines of a list file without comments and blank lines, numbered.
fn list_lines(path: &Path) -> Vec<(usize, String)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

const SKIPPED_HEADER: &str = "\
# PromQL conformance evals the runner skips by itself, and why: native
# histograms, start timestamps (@st), and syntax promql-parser cannot parse
# (see the module docs of tsdb::promql::script). Generated; the test fails
# when the runner skips an eval not listed here or runs one that is. Rewrite
# it with
#   VIGIL_UPDATE_KNOWN_FAILURES=1 cargo test -p tsdb --test promql_conformance
# and review the diff.
#
# Format: `<file>.test:<line> <reason>`.
";

/// `skipped.txt`: `file.test:LINE reason`, generated.
fn read_skipped() -> BTreeMap<EvalKey, String> {
    let path = promql_dir().join("skipped.txt");
    if !path.exists() {
        return BTreeMap::new();
    }
    list_lines(&path)
        .into_iter()
        .map(|(n, line)| {
            let (key, reason) = line
                .split_once(char::is_whitespace)
                .and_then(|(k, r)| Some((parse_key(k)?, r.trim().to_string())))
                .unwrap_or_else(|| panic!("skipped.txt:{n}: want `file.test:LINE reason`"));
            (key, reason)
        })
        .collect()
}

fn write_skipped(skipped: &BTreeMap<EvalKey, String>) {
    let mut out = String::from(SKIPPED_HEADER);
    for ((file, line), reason) in skipped {
        let _ = writeln!(out, "{file}:{line} {reason}");
    }
    let path = promql_dir().join("skipped.txt");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// `skip.txt`: `file.test:LINE reason`.
fn read_skip_list() -> BTreeMap<EvalKey, String> {
    let path = promql_dir().join("skip.txt");
    list_lines(&path)
        .into_iter()
        .map(|(n, line)| {
            let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let key = parse_key(key)
                .unwrap_or_else(|| panic!("skip.txt:{n}: want `file.test:LINE reason`"));
            assert!(!reason.trim().is_empty(), "skip.txt:{n}: give a reason");
            (key, reason.trim().to_string())
        })
        .collect()
}

/// `known_failures.txt`: `file.test:LINE both|head|block reason`.
fn read_known_failures() -> BTreeSet<(EvalKey, ReadPath)> {
    let path = promql_dir().join("known_failures.txt");
    let mut known = BTreeSet::new();
    for (n, line) in list_lines(&path) {
        let mut words = line.split_whitespace();
        let key = words.next().and_then(parse_key);
        let paths: &[ReadPath] = match words.next() {
            Some("both") => &ReadPath::ALL,
            Some("head") => &[ReadPath::Head],
            Some("block") => &[ReadPath::Block],
            _ => &[],
        };
        let Some(key) = key.filter(|_| !paths.is_empty()) else {
            panic!("known_failures.txt:{n}: want `file.test:LINE both|head|block reason`");
        };
        for path in paths {
            known.insert((key.clone(), *path));
        }
    }
    known
}

const KNOWN_FAILURES_HEADER: &str = "\
# PromQL conformance evals that fail today, because the engine is incomplete.
# Read by tsdb/tests/promql_conformance.rs; see its module docs.
#
# Format: `<file>.test:<line> <paths> <reason>`. <line> is the line of the
# eval's header in tests/promql/testdata/<file>.test; <paths> is `both`,
# `head` or `block`: the read paths on which it fails. Only the key and the
# paths are compared; the reason (the first line of the failure) is for humans.
#
# The test fails when an eval fails that is not listed here, and when a listed
# eval passes: remove it, the list only shrinks. Regenerate it from the
# current results (then review the diff) with:
#   VIGIL_UPDATE_KNOWN_FAILURES=1 cargo test -p tsdb --test promql_conformance
";

fn write_known_failures(failures: &BTreeMap<EvalKey, (BTreeSet<ReadPath>, String)>) {
    let mut out = String::from(KNOWN_FAILURES_HEADER);
    // Sorted by file, then line.
    for ((file, line), (paths, reason)) in failures {
        let paths = if paths.len() == ReadPath::ALL.len() {
            "both"
        } else {
            paths.first().expect("a failure has a path").name()
        };
        let _ = writeln!(out, "{file}:{line} {paths} {reason}");
    }
    let path = promql_dir().join("known_failures.txt");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// One line, short enough for a list file.
fn summarize(why: &str) -> String {
    const MAX_CHARS: usize = 160;
    let first = why.lines().next().unwrap_or_default().trim();
    if first.chars().count() <= MAX_CHARS {
        return first.to_string();
    }
    let mut short: String = first.chars().take(MAX_CHARS).collect();
    short.push('…');
    short
}

#[derive(Default, Clone, Copy)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>5} {:>5} {:>5}",
            self.passed, self.failed, self.skipped
        )
    }
}

#[test]
fn upstream_promql_scripts() {
    let update = std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1");
    let selected: Option<Vec<String>> = std::env::var(FILES_ENV)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let verbose = std::env::var(VERBOSE_ENV).is_ok_and(|v| v == "1");
    let skip_list = read_skip_list();
    let known = read_known_failures();
    let engine = engine();

    let mut files: Vec<PathBuf> = std::fs::read_dir(promql_dir().join("testdata"))
        .expect("testdata")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 21, "the 21 upstream scripts");

    let mut ran_files: BTreeSet<String> = BTreeSet::new();
    let mut eval_lines: BTreeSet<EvalKey> = BTreeSet::new();
    // Failures by eval: the paths it fails on, and the reason (first path's).
    let mut failures: BTreeMap<EvalKey, (BTreeSet<ReadPath>, String)> = BTreeMap::new();
    let mut details: BTreeMap<(EvalKey, ReadPath), String> = BTreeMap::new();
    let mut totals = [Counts::default(); 2];
    let mut skip_reasons: BTreeMap<&'static str, [usize; 2]> = BTreeMap::new();
    // Evals the runner skips by itself, with why (the head path's reason).
    let mut skipped: BTreeMap<EvalKey, String> = BTreeMap::new();
    let mut summary = format!(
        "{:<26} {:>23} {:>23} {:>8}\n{:<26} {:>23} {:>23}\n",
        "PromQL conformance", "head", "block", "time", "", "pass  fail  skip", "pass  fail  skip"
    );
    let started = Instant::now();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if selected
            .as_ref()
            .is_some_and(|words| !words.iter().any(|w| file.contains(w.as_str())))
        {
            continue;
        }
        ran_files.insert(file.clone());
        let text = std::fs::read_to_string(path).expect("script");
        let script = script::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let options = RunOptions {
            check_annotations: true,
            skip_lines: skip_list
                .keys()
                .filter(|(f, _)| *f == file)
                .map(|(_, line)| *line)
                .collect(),
        };
        let file_started = Instant::now();
        let mut counts = [Counts::default(); 2];
        for (i, read_path) in ReadPath::ALL.into_iter().enumerate() {
            let mut storage = read_path.storage();
            let reports: Vec<EvalReport> =
                script::run_script(&script, &engine, storage.as_mut(), &options);
            for report in reports {
                let key = (file.clone(), report.line);
                eval_lines.insert(key.clone());
                match report.outcome {
                    Outcome::Passed => counts[i].passed += 1,
                    Outcome::Skipped(reason) => {
                        if verbose {
                            println!(
                                "SKIP {file}:{} [{}] {}: {reason}",
                                report.line,
                                read_path.name(),
                                report.expr
                            );
                        }
                        counts[i].skipped += 1;
                        skip_reasons.entry(reason).or_default()[i] += 1;
                        if !skip_list.contains_key(&key) {
                            skipped
                                .entry(key.clone())
                                .or_insert_with(|| reason.to_string());
                        }
                    }
                    Outcome::Failed(why) => {
                        if verbose {
                            println!(
                                "FAIL {file}:{} [{}] {}\n      {}",
                                report.line,
                                read_path.name(),
                                report.expr,
                                why.replace('\n', "\n      ")
                            );
                        }
                        counts[i].failed += 1;
                        let entry = failures
                            .entry(key.clone())
                            .or_insert_with(|| (BTreeSet::new(), summarize(&why)));
                        entry.0.insert(read_path);
                        details.insert(
                            (key, read_path),
                            format!("{}\n      {}", report.expr, why.replace('\n', "\n      ")),
                        );
                    }
                }
            }
        }
        totals[0].add(counts[0]);
        totals[1].add(counts[1]);
        let _ = writeln!(
            summary,
            "{file:<26} {:>23} {:>23} {:>7.1}s",
            counts[0].to_string(),
            counts[1].to_string(),
            file_started.elapsed().as_secs_f64()
        );
    }
    let _ = writeln!(
        summary,
        "{:<26} {:>23} {:>23} {:>7.1}s",
        "total",
        totals[0].to_string(),
        totals[1].to_string(),
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(summary, "skipped (head, block):");
    for (reason, [head, block]) in &skip_reasons {
        let _ = writeln!(summary, "{head:>6} {block:>5}  {reason}");
    }
    println!("{summary}");

    // Every skip-list entry names an eval.
    let stale_skips: Vec<String> = skip_list
        .keys()
        .filter(|key| ran_files.contains(&key.0) && !eval_lines.contains(*key))
        .map(|(file, line)| format!("{file}:{line}"))
        .collect();
    assert!(
        stale_skips.is_empty(),
        "skip.txt names lines that are not evals: {stale_skips:?}"
    );

    // Every eval the runner skips by itself is listed, with its reason, in
    // `skipped.txt`: what is not checked is written down and reviewed.
    let listed_skips = read_skipped();
    if update {
        let mut merged: BTreeMap<EvalKey, String> = listed_skips
            .iter()
            .filter(|(key, _)| !ran_files.contains(&key.0))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        merged.extend(skipped.clone());
        write_skipped(&merged);
    } else {
        let listed_here: BTreeMap<&EvalKey, &String> = listed_skips
            .iter()
            .filter(|(key, _)| ran_files.contains(&key.0))
            .collect();
        let now: BTreeMap<&EvalKey, &String> = skipped.iter().collect();
        let newly: Vec<String> = now
            .iter()
            .filter(|(key, _)| !listed_here.contains_key(*key))
            .map(|((file, line), why)| format!("{file}:{line} {why}"))
            .collect();
        let no_longer: Vec<String> = listed_here
            .keys()
            .filter(|key| !now.contains_key(*key))
            .map(|(file, line)| format!("{file}:{line}"))
            .collect();
        assert!(
            newly.is_empty() && no_longer.is_empty(),
            "tests/promql/skipped.txt is out of date (rerun with {UPDATE_ENV}=1 and review \
             the diff); {} skipped but not listed, e.g. {:?}; {} listed but run, e.g. {:?}",
            newly.len(),
            &newly[..newly.len().min(10)],
            no_longer.len(),
            &no_longer[..no_longer.len().min(10)]
        );
    }

    if update {
        // Keep the entries of the scripts that did not run.
        let mut merged = failures.clone();
        let path = promql_dir().join("known_failures.txt");
        for (n, line) in list_lines(&path) {
            let mut words = line.splitn(3, char::is_whitespace);
            let key = words.next().and_then(parse_key).expect("checked when read");
            if ran_files.contains(&key.0) {
                continue;
            }
            let paths: BTreeSet<ReadPath> = known
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, p)| *p)
                .collect();
            let reason = words.nth(1).unwrap_or_default().to_string();
            assert!(!paths.is_empty(), "known_failures.txt:{n}");
            merged.insert(key, (paths, reason));
        }
        write_known_failures(&merged);
        println!(
            "rewrote {} ({} evals fail on some path)",
            path.display(),
            failures.len()
        );
        return;
    }

    let current: BTreeSet<(EvalKey, ReadPath)> = failures
        .iter()
        .flat_map(|(key, (paths, _))| paths.iter().map(move |p| (key.clone(), *p)))
        .collect();
    let known_here: BTreeSet<(EvalKey, ReadPath)> = known
        .into_iter()
        .filter(|((file, _), _)| ran_files.contains(file))
        .collect();
    let mut report = String::new();
    let unexpected: Vec<_> = current.difference(&known_here).collect();
    for ((file, line), path) in &unexpected {
        let detail = &details[&((file.clone(), *line), *path)];
        let _ = writeln!(report, "  {file}:{line} [{}] {detail}", path.name());
    }
    let fixed: Vec<_> = known_here.difference(&current).collect();
    if !fixed.is_empty() {
        let _ = writeln!(
            report,
            "these evals now pass: remove them from tests/promql/known_failures.txt \
             (or rerun with {UPDATE_ENV}=1):"
        );
        for ((file, line), path) in &fixed {
            let _ = writeln!(report, "  {file}:{line} [{}]", path.name());
        }
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} new failures, {} known failures now passing:\n{report}",
        unexpected.len(),
        fixed.len()
    );
}
