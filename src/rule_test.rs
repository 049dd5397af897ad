//! `vigil test rules FILE...`: runs `promtool test rules` files against
//! Vigil's rule evaluator, so a team's existing rule unit tests keep
//! working. The file format and the procedure are promtool's
//! (`cmd/promtool/unittest.go`):
//!
//! - each test group loads its `input_series` (the promqltest expanding
//!   notation, one slot per `interval`) into an empty metrics store;
//! - every rule group is evaluated at `0, evaluation_interval, ...` up to the
//!   largest `eval_time` of the group's tests, the groups in
//!   `group_eval_order` first; input samples are stored up to each instant
//!   before it is evaluated;
//! - an `alert_rule_test` is checked after the evaluation at the last instant
//!   not after its `eval_time`: the *firing* alerts of the rules named
//!   `alertname`, labels and rendered annotations, must be exactly the
//!   expected ones;
//! - a `promql_expr_test` is an instant query at its `eval_time` once all
//!   evaluations are done (so recorded series and `ALERTS` are visible);
//!   samples must match exactly (order aside), or within a relative 1e-6
//!   with `fuzzy_compare: true`.
//!
//! Output and exit status are promtool's: `SUCCESS` or `FAILED:` with what
//! was expected and what came back, per file; 1 when any file failed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alertmanager::engine::{Appender, QueryEngine};
use alertmanager::evaluation::alerting::AlertState;
use alertmanager::evaluation::manager::{RuleManager, TemplateExpander};
use model::Labels;
use serde::Deserialize;
use tsdb::metrics::TsdbMetrics;
use tsdb::promql::script::{parse_series_line, SeriesValues, Slot};
use tsdb::promql::Engine;
use tsdb::wal::{FsyncPolicy, WalOptions};
use tsdb::{Db, Options};

use crate::metrics_store::MetricsStore;

/// A YAML scalar as text, as Go's YAML decoder turns `0`, `1.5` or `true`
/// into a string field.
#[derive(Clone, Debug, Default)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        match serde_yaml::Value::deserialize(d)? {
            serde_yaml::Value::String(s) => Ok(Text(s)),
            serde_yaml::Value::Number(n) => Ok(Text(n.to_string())),
            serde_yaml::Value::Bool(b) => Ok(Text(b.to_string())),
            serde_yaml::Value::Null => Ok(Text(String::new())),
            other => Err(serde::de::Error::custom(format!(
                "expected a scalar, got {other:?}"
            ))),
        }
    }
}

/// A Prometheus duration (`1m`, `1h30m`, `0`), kept in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Millis(i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let Text(text) = Text::deserialize(d)?;
        alertmanager::config::duration::parse_duration(&text)
            .map(|d| Millis(d.0.as_millis().min(i64::MAX as u128) as i64))
            .map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = std::time::Duration::from_millis(self.0.max(0) as u64);
        alertmanager::config::duration::Duration(d).fmt(f)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<Millis>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<Millis>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, Text>,
    #[serde(default)]
    external_url: Text,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: Millis,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, Text>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTest {
    expr: String,
    eval_time: Millis,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// Runs every file; prints promtool's report; whether all passed.
pub fn rules(files: &[impl AsRef<Path>]) -> bool {
    let mut ok = true;
    for path in files {
        let path = path.as_ref();
        println!("Unit Testing:  {}", path.display());
        match run_file(path) {
            Ok(()) => println!("  SUCCESS"),
            Err(errors) => {
                ok = false;
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                    eprintln!();
                }
            }
        }
        println!();
    }
    ok
}

fn run_file(path: &Path) -> Result<(), Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?;
    let file: TestFile = serde_yaml::from_str(&text).map_err(|e| vec![e.to_string()])?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_texts = read_rule_files(base, &file.rule_files)?;
    let mut seen = BTreeSet::new();
    for name in &file.group_eval_order {
        if !seen.insert(name) {
            return Err(vec![format!(
                "group name repeated in evaluation order: {name}"
            )]);
        }
    }
    let eval_interval = file.evaluation_interval.unwrap_or(Millis(60_000));
    if eval_interval.0 <= 0 {
        return Err(vec!["evaluation_interval must be positive".to_string()]);
    }
    let mut errors = Vec::new();
    for group in &file.tests {
        errors.extend(run_group(group, &file, &rule_texts, eval_interval.0));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Resolves `rule_files` against the test file's directory, expands
/// globs, and reads each file.
fn read_rule_files(base: &Path, patterns: &[String]) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full: PathBuf = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let matches: Vec<PathBuf> = glob::glob(&full.to_string_lossy())
            .map_err(|e| vec![format!("{pattern}: {e}")])?
            .filter_map(Result::ok)
            .collect();
        if matches.is_empty() {
            eprintln!("  WARNING: no file match pattern {}", full.display());
        }
        for m in matches {
            let text =
                std::fs::read_to_string(&m).map_err(|e| vec![format!("{}: {e}", m.display())])?;
            files.push((m.display().to_string(), text));
        }
    }
    Ok(files)
}

/// An empty metrics store for one test group, in a directory that is
/// removed with it.
struct Store {
    _dir: tempfile::TempDir,
    metrics: Arc<MetricsStore>,
}

impl Store {
    fn open() -> Result<Store, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary store: {e}"))?;
        let options = Options {
            retention_time: None,
            wal: WalOptions {
                segment_bytes: 1 << 20,
                fsync: FsyncPolicy::Never,
            },
            ..Options::default()
        };
        let db = Db::open(dir.path(), options, TsdbMetrics::unregistered())
            .map_err(|e| format!("cannot open a temporary store: {e}"))?;
        Ok(Store {
            _dir: dir,
            metrics: Arc::new(MetricsStore {
                db: Arc::new(db),
                engine: Arc::new(Engine::new(Default::default())),
            }),
        })
    }

    /// Stores the input's slots `*next..` that fall at or before
    /// `until_ms` (slot `k` is at `k × interval_ms`), through the appender
    /// rules write with, one instant at a time.
    fn load_until(
        &self,
        input: &[SeriesValues],
        interval_ms: i64,
        next: &mut usize,
        until_ms: i64,
    ) -> Result<(), String> {
        let slots = input.iter().map(|s| s.slots.len()).max().unwrap_or(0);
        while *next < slots {
            let t = *next as i64 * interval_ms;
            if t > until_ms {
                break;
            }
            let batch: Vec<(Labels, f64)> = input
                .iter()
                .filter_map(|s| match s.slots.get(*next) {
                    Some(Slot::Float(v)) => Some((s.labels.clone(), *v)),
                    _ => None,
                })
                .collect();
            self.metrics.append(t, &batch)?;
            *next += 1;
        }
        Ok(())
    }
}

/// The input series, parsed; native-histogram values are refused.
fn input_series(group: &TestGroup) -> Result<Vec<SeriesValues>, String> {
    group
        .input_series
        .iter()
        .map(|input| {
            let line = format!("{} {}", input.series, input.values.0);
            let parsed = parse_series_line(&line)
                .map_err(|e| format!("input series {}: {e}", input.series))?;
            if parsed.slots.contains(&Slot::Histogram) {
                return Err(format!(
                    "{}: native histogram values are not supported",
                    input.series
                ));
            }
            Ok(parsed)
        })
        .collect()
}

/// A label set as Prometheus prints it: `{a="1", b="2"}`.
fn format_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = pairs
        .into_iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

type AlertShape = (BTreeMap<String, String>, BTreeMap<String, String>);

fn format_alerts(alerts: &[AlertShape]) -> String {
    if alerts.is_empty() {
        return "[]".to_string();
    }
    let items: Vec<String> = alerts
        .iter()
        .enumerate()
        .map(|(i, (labels, annotations))| {
            format!(
                "{i}:\n              Labels:{}\n              Annotations:{}",
                format_labels(labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
                format_labels(annotations.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            )
        })
        .collect();
    format!(
        "[\n            {}\n            ]",
        items.join(",\n            ")
    )
}

fn run_group(
    group: &TestGroup,
    file: &TestFile,
    rule_texts: &[(String, String)],
    eval_interval_ms: i64,
) -> Vec<String> {
    let name_note = if group.name.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", group.name)
    };
    let interval_ms = group.interval.map_or(eval_interval_ms, |m| m.0);
    if interval_ms <= 0 {
        return vec![format!("{name_note}    interval must be positive")];
    }
    for test in &group.alert_rule_test {
        if test.alertname.is_empty() {
            let within = if group.name.is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", group.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{within}",
                test.eval_time
            )];
        }
    }
    let series = match input_series(group) {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let store = match Store::open() {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut manager = match RuleManager::load(
        rule_texts,
        std::time::Duration::from_millis(interval_ms as u64),
    ) {
        Ok(m) => m,
        Err(errors) => return errors.iter().map(ToString::to_string).collect(),
    };
    let engine: Arc<dyn QueryEngine> = store.metrics.clone();
    let appender: &dyn Appender = &*store.metrics;
    let expander = TemplateExpander {
        engine: Some(engine.clone()),
        external_labels: group
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        external_url: group.external_url.0.clone(),
    };

    let max_eval = group
        .alert_rule_test
        .iter()
        .map(|t| t.eval_time)
        .chain(group.promql_expr_test.iter().map(|t| t.eval_time))
        .max()
        .unwrap_or_default()
        .0;
    let mut alert_tests: Vec<&AlertTest> = group.alert_rule_test.iter().collect();
    alert_tests.sort_by_key(|t| t.eval_time);
    let mut next_test = 0;
    let mut next_slot = 0;
    let mut errors = Vec::new();

    let mut ts = 0i64;
    while ts <= max_eval {
        if let Err(e) = store.load_until(&series, interval_ms, &mut next_slot, ts) {
            errors.push(e);
            return errors;
        }
        let rule_errors =
            manager.eval_all_at(ts, &file.group_eval_order, &*engine, appender, &expander);
        if !rule_errors.is_empty() {
            errors.extend(
                rule_errors
                    .into_iter()
                    .map(|(rule, e)| format!("    rule: {rule}, time: {}, err: {e}", Millis(ts))),
            );
            return errors;
        }
        while next_test < alert_tests.len()
            && alert_tests[next_test].eval_time.0 < ts + eval_interval_ms
        {
            let test = alert_tests[next_test];
            next_test += 1;
            let mut got: Vec<AlertShape> = manager
                .alerts_named(&test.alertname)
                .into_iter()
                .filter(|a| a.state == AlertState::Firing)
                .map(|a| {
                    (
                        a.labels
                            .iter()
                            .map(|l| (l.name.to_string(), l.value.to_string()))
                            .collect(),
                        a.annotations.iter().cloned().collect(),
                    )
                })
                .collect();
            let mut expected: Vec<AlertShape> = test
                .exp_alerts
                .iter()
                .map(|a| {
                    let mut labels: BTreeMap<String, String> = a
                        .exp_labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0.clone()))
                        .collect();
                    labels.insert("alertname".to_string(), test.alertname.clone());
                    let annotations = a
                        .exp_annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0.clone()))
                        .collect();
                    (labels, annotations)
                })
                .collect();
            got.sort();
            expected.sort();
            if got != expected {
                errors.push(format!(
                    "{name_note}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    test.alertname,
                    test.eval_time,
                    format_alerts(&expected),
                    format_alerts(&got)
                ));
            }
        }
        ts += eval_interval_ms;
    }
    // Queries with `@` or a negative offset may look past the last
    // evaluation.
    if let Err(e) = store.load_until(&series, interval_ms, &mut next_slot, i64::MAX) {
        errors.push(e);
        return errors;
    }

    for test in &group.promql_expr_test {
        let context = format!("    expr: {:?}, time: {}", test.expr, test.eval_time);
        let mut got: Vec<(Labels, f64)> = match engine.instant(&test.expr, test.eval_time.0) {
            Ok(samples) => samples.into_iter().map(|s| (s.labels, s.value)).collect(),
            Err(e) => {
                errors.push(format!("{context}, err: {e}"));
                continue;
            }
        };
        let mut expected = Vec::with_capacity(test.exp_samples.len());
        for sample in &test.exp_samples {
            let labels = if sample.labels.trim().is_empty() {
                Labels::from_sorted_unchecked(Vec::new())
            } else {
                match parse_series_line(&format!("{} 0", sample.labels.trim())) {
                    Ok(parsed) => parsed.labels,
                    Err(e) => {
                        errors.push(format!("{context}, err: labels {:?}: {e}", sample.labels));
                        continue;
                    }
                }
            };
            expected.push((labels, sample.value));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let same_value = |a: f64, b: f64| {
            a == b
                || (a.is_nan() && b.is_nan())
                || (file.fuzzy_compare && tsdb::promql::script::almost_equal(a, b))
        };
        let equal = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.0 == e.0 && same_value(g.1, e.1));
        if !equal {
            errors.push(format!(
                "{context},\n        exp: {}\n        got: {}",
                format_samples(&expected),
                format_samples(&got)
            ));
        }
    }
    errors
}

fn format_samples(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".to_string();
    }
    samples
        .iter()
        .map(|(labels, v)| {
            format!(
                "{} {}",
                format_labels(labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))),
                go_exponent_upper(*v)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`, as promtool prints values.
fn go_exponent_upper(v: f64) -> String {
    let text = alertmanager::evaluation::status::go_exponent(v);
    if v.is_finite() {
        text.to_uppercase()
    } else {
        text
    }
}
