//! Rule evaluation at scale, in process: 1000 rules in 10 groups of 100
//! (a kube-prometheus-like mix: `sum by` rates recorded per job and per
//! instance, threshold alerts on rates and gauges, `avg_over_time` and
//! `quantile` alerts) over 100k series (100 metric families of 1000 series:
//! 10 jobs × 100 instances; half counters, half gauges) holding 30 minutes
//! of 15 s scrapes. Each round appends the interval's two scrapes of every
//! series, then
//! evaluates every group once, as one 30 s evaluation interval would (the
//! server's path: `RuleManager::eval_due`, due groups shared out over the
//! cores), and reports each group's evaluation time (the `evaluationTime`
//! that `/api/v1/rules` shows), the round's wall time and CPU seconds, and
//! both as shares of the interval. Target: within 10% of 30 s.
//!
//! ```sh
//! cargo bench -p vigil-benches --bench rules_eval
//! cargo bench -p vigil-benches --bench rules_eval -- --series 20000 --rounds 3   # quicker
//! ```

use std::time::{Duration, Instant};

use alertmanager::engine::{Appender, QueryEngine};
use alertmanager::evaluation::manager::{RuleManager, TemplateExpander};
use model::{Label, Labels};
use std::sync::Arc;
use tsdb::metrics::TsdbMetrics;
use tsdb::promql::Engine;
use tsdb::wal::record::RefSample;
use tsdb::wal::{FsyncPolicy, WalOptions};
use tsdb::{Db, Options};
use vigil::metrics_store::MetricsStore;
use vigil_benches::log_corpus::Rng;
use vigil_benches::process::{arg_usize, cpu_seconds, median};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const FAMILIES: usize = 100;
const JOBS: usize = 10;
const SCRAPE_MS: i64 = 15_000;
const HISTORY_MS: i64 = 30 * 60_000;
const INTERVAL_MS: i64 = 30_000;

fn family(f: usize) -> String {
    if f < FAMILIES / 2 {
        format!("app_requests_{f}_total")
    } else {
        format!("app_saturation_{f}")
    }
}

/// Rule `r` of the set: five shapes, spread over all families.
fn rule(r: usize) -> String {
    let counter = family((r * 7) % (FAMILIES / 2));
    let gauge = family(FAMILIES / 2 + (r * 3) % (FAMILIES / 2));
    match r % 5 {
        0 => format!(
            "      - record: job:{counter}:rate5m_{r}\n        expr: sum by (job) (rate({counter}[5m]))\n"
        ),
        1 => format!(
            "      - record: instance:{counter}:rate5m_{r}\n        expr: sum by (job, instance) (rate({counter}[5m]))\n"
        ),
        2 => format!(
            "      - alert: HighRate{r}\n        expr: rate({counter}[5m]) > 1450\n        for: 5m\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{{{ $labels.instance }}}} of {{{{ $labels.job }}}} at {{{{ $value | humanize }}}}/s'\n"
        ),
        3 => format!(
            "      - alert: Saturated{r}\n        expr: avg_over_time({gauge}[10m]) > 0.65\n        for: 10m\n        labels:\n          severity: critical\n        annotations:\n          summary: '{{{{ $labels.instance }}}} saturated: {{{{ $value | humanizePercentage }}}}'\n"
        ),
        _ => format!(
            "      - alert: JobTail{r}\n        expr: quantile by (job) (0.99, {gauge}) > 0.995\n        labels:\n          severity: info\n        annotations:\n          summary: 'p99 of {{{{ $labels.job }}}} is {{{{ $value }}}}'\n"
        ),
    }
}

fn rule_file(rules: usize, groups: usize) -> String {
    let mut text = String::from("groups:\n");
    let per_group = rules.div_ceil(groups);
    for g in 0..groups {
        text.push_str(&format!(
            "  - name: group-{g}\n    interval: 30s\n    rules:\n"
        ));
        for r in g * per_group..((g + 1) * per_group).min(rules) {
            text.push_str(&rule(r));
        }
    }
    text
}

struct Workload {
    refs: Vec<tsdb::wal::record::SeriesRef>,
    /// Per series: counter increment per scrape, or 0 for a gauge.
    increments: Vec<f64>,
    totals: Vec<f64>,
    rng: Rng,
}

impl Workload {
    fn create(db: &Db, series: usize) -> Workload {
        let per_family = series / FAMILIES;
        let instances = per_family.div_ceil(JOBS);
        let mut rng = Rng::new(42);
        let mut refs = Vec::with_capacity(series);
        let mut increments = Vec::with_capacity(series);
        for f in 0..FAMILIES {
            for s in 0..per_family {
                let labels = Labels::new(vec![
                    Label::new("__name__", family(f)),
                    Label::new("instance", format!("host-{}:9100", s % instances)),
                    Label::new("job", format!("job-{}", s / instances)),
                ])
                .unwrap();
                refs.push(db.head().get_or_create_labels(&labels).unwrap());
                increments.push(if f < FAMILIES / 2 {
                    // Requests per scrape: up to 100/s.
                    (rng.below(100) as f64 + 1.0) * 15.0
                } else {
                    0.0
                });
            }
        }
        Workload {
            totals: vec![0.0; refs.len()],
            refs,
            increments,
            rng,
        }
    }

    fn scrape(&mut self, db: &Db, t: i64) {
        let mut batch = Vec::with_capacity(self.refs.len());
        for i in 0..self.refs.len() {
            let v = if self.increments[i] > 0.0 {
                self.totals[i] += self.increments[i];
                self.totals[i]
            } else {
                self.rng.below(1_000_000) as f64 / 1_000_000.0
            };
            batch.push(RefSample {
                series: self.refs[i],
                t,
                v,
            });
        }
        db.head().commit(&batch).unwrap();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let series = arg_usize("--series", 100_000);
    let rules = arg_usize("--rules", 1000);
    let groups = arg_usize("--groups", 10);
    let rounds = arg_usize("--rounds", 5);

    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        retention_time: None,
        wal: WalOptions {
            segment_bytes: 128 << 20,
            fsync: FsyncPolicy::Never,
        },
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), options, TsdbMetrics::unregistered()).unwrap());
    let store = Arc::new(MetricsStore {
        db: db.clone(),
        engine: Arc::new(Engine::new(Default::default())),
    });

    let started = Instant::now();
    let mut workload = Workload::create(&db, series);
    let end = 1_700_000_000_000i64;
    let mut t = end - HISTORY_MS;
    while t <= end {
        workload.scrape(&db, t);
        t += SCRAPE_MS;
    }
    eprintln!(
        "loaded {} series × {} scrapes in {:.1} s",
        workload.refs.len(),
        HISTORY_MS / SCRAPE_MS + 1,
        started.elapsed().as_secs_f64()
    );

    let text = rule_file(rules, groups);
    let loading = Instant::now();
    let mut manager = RuleManager::load(
        &[("bench.rules.yml".to_string(), text)],
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("the generated rules do not load: {e:?}"));
    eprintln!(
        "{rules} rules parsed and checked in {:.2} s",
        loading.elapsed().as_secs_f64()
    );
    let engine: Arc<dyn QueryEngine> = store.clone();
    let appender: &dyn Appender = &*store;
    let expander = TemplateExpander {
        engine: Some(engine.clone()),
        external_labels: Default::default(),
        external_url: String::new(),
    };

    let mut per_group: Vec<Vec<f64>> = vec![Vec::new(); groups];
    let mut totals = Vec::new();
    let mut alerts = 0;
    let mut cpu = Vec::new();
    // Every group is scheduled at its own instant within each 30 s (as
    // the server spreads them); asking at the end of an interval finds
    // them all due, and they run on all cores, as in the server.
    manager.next_deadline(end);
    let mut now = end;
    for round in 0..rounds {
        now += INTERVAL_MS;
        workload.scrape(&db, now - SCRAPE_MS);
        workload.scrape(&db, now);
        let cpu_before = cpu_seconds(std::process::id());
        let started = Instant::now();
        manager.eval_due(now, &*engine, appender, &expander);
        let took = started.elapsed().as_secs_f64();
        cpu.push(cpu_seconds(std::process::id()) - cpu_before);
        let status = manager.rules_json();
        let failing: Vec<&serde_json::Value> = status["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .filter(|r| r["health"] != "ok")
            .collect();
        assert!(failing.is_empty(), "rules failed: {failing:?}");
        totals.push(took);
        for (g, group) in status["groups"].as_array().unwrap().iter().enumerate() {
            per_group[g].push(group["evaluationTime"].as_f64().unwrap());
        }
        alerts = manager.alerts_json()["alerts"].as_array().unwrap().len();
        eprintln!("round {round}: {took:.2} s, {alerts} pending or firing alerts");
    }

    println!(
        "\n{} rules in {groups} groups over {} series, {rounds} rounds",
        rules,
        workload.refs.len()
    );
    println!("{:<10} {:>12} {:>12}", "group", "median (s)", "max (s)");
    for (g, times) in per_group.iter().enumerate() {
        let max = times.iter().cloned().fold(0.0, f64::max);
        println!(
            "{:<10} {:>12.3} {:>12.3}",
            format!("group-{g}"),
            median(times.clone()),
            max
        );
    }
    let total = median(totals.clone());
    let cpu = median(cpu);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "all groups: median {total:.2} s of wall time per interval = {:.1}% of 30 s (max {:.2} s) on {cores} cores; \
         {cpu:.2} CPU seconds = {:.1}% of the machine's {cores} × 30 s; {alerts} alerts pending or firing",
        total / 30.0 * 100.0,
        totals.iter().cloned().fold(0.0, f64::max),
        cpu / (30.0 * cores as f64) * 100.0
    );
}
