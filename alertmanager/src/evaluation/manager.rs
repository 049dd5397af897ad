//! The rule manager: rule files loaded into groups, each evaluated at its
//! interval, as Prometheus' `rules.Manager`. Time is passed in: the server
//! asks for [`RuleManager::next_deadline`], sleeps until then, and calls
//! [`RuleManager::eval_due`]; tests call it with any instants.
//!
//! Evaluation instants are aligned as Prometheus aligns them: a group runs
//! at `offset + k × interval`, where the offset is derived from a hash of
//! the group's name and file, so groups spread over their interval instead
//! of all running at once.

use std::sync::Arc;
use std::time::Duration;

use model::Labels;
use serde_json::{json, Value as Json};

use super::alerting::{AlertingRule, AlertingRuleSpec, Expander};
use super::group::{Group, OutgoingAlert, Rule};
use super::recording::{RecordingRule, RecordingRuleSpec};
use super::status::{alert_json, group_json};
use crate::engine::{Appender, QueryEngine};
use crate::rules::{self, RuleError, RuleKind};
use crate::template::{self, TemplateData};

/// Prometheus' default `evaluation_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Renders templates as Prometheus does (`crate::template`).
pub struct TemplateExpander {
    pub engine: Option<Arc<dyn QueryEngine>>,
    pub external_labels: std::collections::BTreeMap<String, String>,
    pub external_url: String,
}

impl Expander for TemplateExpander {
    fn expand(&self, text: &str, labels: &Labels, value: f64, t_ms: i64) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let mut data = TemplateData::new(labels, value);
        data.external_labels = self.external_labels.clone();
        data.external_url = self.external_url.clone();
        template::expand(text, &data, self.engine.clone(), t_ms)
    }
}

struct Loaded {
    file: String,
    group: Group,
    /// Where in each interval the group runs.
    offset_ms: i64,
    next_ms: Option<i64>,
    /// `for` timers were looked up in `ALERTS_FOR_STATE` (once, before the
    /// first evaluation).
    restored: bool,
}

/// Prometheus' `--rules.alert.for-outage-tolerance`: state older than this
/// is not restored.
pub const FOR_OUTAGE_TOLERANCE: &str = "1h";

/// Reads the `for` state an earlier run wrote for `rule`.
fn restore(rule: &mut AlertingRule, engine: &dyn QueryEngine, t_ms: i64) {
    if rule.spec.for_ms <= 0 {
        return;
    }
    let name = rule.spec.name.replace('\\', "\\\\").replace('"', "\\\"");
    let query =
        format!("last_over_time(ALERTS_FOR_STATE{{alertname=\"{name}\"}}[{FOR_OUTAGE_TOLERANCE}])");
    match engine.instant(&query, t_ms) {
        Ok(samples) => rule.restore(
            samples
                .into_iter()
                .filter(|s| s.value.is_finite())
                .map(|s| {
                    let labels = super::alerting::label_set(
                        s.labels
                            .iter()
                            .filter(|l| l.name != "__name__")
                            .cloned()
                            .collect(),
                    );
                    (labels, (s.value * 1000.0) as i64)
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(rule = %rule.spec.name, error = %e, "cannot restore the for state")
        }
    }
}

/// The cores rule groups may use. Asked once: on Linux each call reads
/// the cgroup's CPU quota from /proc and /sys.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl Loaded {
    /// Evaluates the group at its last aligned instant not after `now_ms`
    /// (it must be due; an instant missed by more than an interval is
    /// skipped, as Prometheus counts missed iterations), restoring `for`
    /// state first if it has not been.
    fn eval_due(
        &mut self,
        now_ms: i64,
        engine: &dyn QueryEngine,
        appender: &dyn Appender,
        expander: &dyn Expander,
    ) -> Vec<OutgoingAlert> {
        let due = self.next_ms.unwrap_or(now_ms);
        let interval = self.group.interval_ms.max(1);
        let missed = (now_ms - due) / interval;
        let at = due + missed * interval;
        if !self.restored {
            self.restored = true;
            for rule in self.group.rules.iter_mut().filter_map(Rule::alerting_mut) {
                restore(rule, engine, at);
            }
        }
        let outgoing = self.group.eval(engine, appender, expander, at);
        self.next_ms = Some(at + interval);
        outgoing
    }
}

#[derive(Default)]
pub struct RuleManager {
    groups: Vec<Loaded>,
}

fn offset(file: &str, name: &str, interval_ms: i64) -> i64 {
    if interval_ms <= 0 {
        return 0;
    }
    let hash = xxhash_rust::xxh64::xxh64(format!("{file}\u{ff}{name}").as_bytes(), 0);
    (hash % interval_ms as u64) as i64
}

fn group_from(g: rules::RuleGroup, default_interval: Duration) -> Group {
    let interval_ms = ms(g.interval.unwrap_or(default_interval));
    let rules = g
        .rules
        .into_iter()
        .map(|rule| {
            // Group labels first; a rule's own labels win.
            let mut labels = g.labels.clone();
            labels.extend(rule.labels);
            let labels: Vec<(String, String)> = labels.into_iter().collect();
            match rule.kind {
                RuleKind::Recording { record } => {
                    Rule::Recording(RecordingRule::new(RecordingRuleSpec {
                        record,
                        expr: rule.expr,
                        labels,
                    }))
                }
                RuleKind::Alerting {
                    alert,
                    for_duration,
                    keep_firing_for,
                    annotations,
                } => Rule::Alerting(AlertingRule::new(AlertingRuleSpec {
                    name: alert,
                    expr: rule.expr,
                    for_ms: ms(for_duration),
                    keep_firing_for_ms: ms(keep_firing_for),
                    labels,
                    annotations: annotations.into_iter().collect(),
                })),
            }
        })
        .collect();
    Group::new(
        g.name,
        interval_ms,
        g.limit.max(0) as usize,
        ms(g.query_offset.unwrap_or_default()),
        rules,
    )
}

impl RuleManager {
    /// Parses every file (name, text); all errors of all files are
    /// returned together, and then nothing is loaded.
    pub fn load(
        files: &[(String, String)],
        default_interval: Duration,
    ) -> Result<RuleManager, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut groups = Vec::new();
        for (name, text) in files {
            match rules::parse(text, name) {
                Ok(file) => {
                    for g in file.groups {
                        let group = group_from(g, default_interval);
                        groups.push(Loaded {
                            offset_ms: offset(name, &group.name, group.interval_ms),
                            file: name.clone(),
                            group,
                            next_ms: None,
                            restored: false,
                        });
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleManager { groups })
        } else {
            Err(errors)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Replaces the rules with `new`'s, keeping the state (alerts and their
    /// timers, written series, schedule) of every group that is still there
    /// and every rule in it that did not change.
    pub fn reload(&mut self, mut new: RuleManager) {
        for group in &mut new.groups {
            let Some(old) = self
                .groups
                .iter_mut()
                .find(|o| o.file == group.file && o.group.name == group.group.name)
            else {
                continue;
            };
            group.group.adopt(&mut old.group);
            group.restored = old.restored;
            if old.group.interval_ms == group.group.interval_ms {
                group.next_ms = old.next_ms;
            }
        }
        *self = new;
    }

    /// The first evaluation instant of each group at or after `now_ms`.
    fn schedule(&mut self, now_ms: i64) {
        for g in &mut self.groups {
            if g.next_ms.is_none() {
                let interval = g.group.interval_ms.max(1);
                let base = now_ms - (now_ms - g.offset_ms).rem_euclid(interval);
                g.next_ms = Some(if base < now_ms { base + interval } else { base });
            }
        }
    }

    /// When the next group is due (Unix ms).
    pub fn next_deadline(&mut self, now_ms: i64) -> Option<i64> {
        self.schedule(now_ms);
        self.groups.iter().filter_map(|g| g.next_ms).min()
    }

    /// Evaluates every group due at `now_ms` (each at its own aligned
    /// instant; an instant missed by more than an interval is skipped, as
    /// Prometheus counts missed iterations), on all cores when several are
    /// due, and returns the alerts to send.
    pub fn eval_due(
        &mut self,
        now_ms: i64,
        engine: &dyn QueryEngine,
        appender: &dyn Appender,
        expander: &dyn Expander,
    ) -> Vec<OutgoingAlert> {
        self.schedule(now_ms);
        let due: Vec<&mut Loaded> = self
            .groups
            .iter_mut()
            .filter(|g| g.next_ms.is_some_and(|due| due <= now_ms))
            .collect();
        let workers = cores().min(due.len());
        if workers <= 1 {
            let mut outgoing = Vec::new();
            for g in due {
                outgoing.extend(g.eval_due(now_ms, engine, appender, expander));
            }
            return outgoing;
        }
        // Groups are independent (as Prometheus runs each in its own
        // goroutine): the due ones are shared out over the cores.
        let queue = parking_lot::Mutex::new(due.into_iter());
        let outgoing = parking_lot::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let Some(g) = queue.lock().next() else { return };
                    let sent = g.eval_due(now_ms, engine, appender, expander);
                    outgoing.lock().extend(sent);
                });
            }
        });
        outgoing.into_inner()
    }

    /// Evaluates every group at `t_ms`, whatever its interval and schedule,
    /// as `promtool test rules` does: groups named in `order` first, in
    /// that order, then the others in file order. No `for` state is
    /// restored. Returns each failing rule's name and error.
    pub fn eval_all_at(
        &mut self,
        t_ms: i64,
        order: &[String],
        engine: &dyn QueryEngine,
        appender: &dyn Appender,
        expander: &dyn Expander,
    ) -> Vec<(String, String)> {
        let rank = |g: &Loaded| {
            order
                .iter()
                .position(|name| *name == g.group.name)
                .unwrap_or(order.len())
        };
        let mut indices: Vec<usize> = (0..self.groups.len()).collect();
        indices.sort_by_key(|&i| rank(&self.groups[i]));
        let mut errors = Vec::new();
        for i in indices {
            let g = &mut self.groups[i];
            g.restored = true;
            g.group.eval(engine, appender, expander, t_ms);
            for rule in &g.group.rules {
                if let Some(e) = rule.last_error() {
                    errors.push((rule.name().to_string(), e.to_string()));
                }
            }
        }
        errors
    }

    /// The alerts of every alerting rule named `alertname`, in all groups.
    pub fn alerts_named(&self, alertname: &str) -> Vec<&super::alerting::Alert> {
        self.groups
            .iter()
            .flat_map(|g| &g.group.rules)
            .filter_map(|r| match r {
                Rule::Alerting(a) if a.spec.name == alertname => Some(a),
                _ => None,
            })
            .flat_map(|r| r.alerts())
            .collect()
    }

    /// `/api/v1/rules`'s `data`.
    pub fn rules_json(&self) -> Json {
        let groups: Vec<Json> = self
            .groups
            .iter()
            .map(|g| group_json(&g.group, &g.file))
            .collect();
        json!({ "groups": groups })
    }

    /// `/api/v1/alerts`'s `data`: pending and firing alerts of every rule.
    pub fn alerts_json(&self) -> Json {
        let alerts: Vec<Json> = self
            .groups
            .iter()
            .flat_map(|g| &g.group.rules)
            .filter_map(|r| match r {
                Rule::Alerting(a) => Some(a),
                Rule::Recording(_) => None,
            })
            .flat_map(|r| r.alerts())
            .filter(|a| a.state != super::alerting::AlertState::Inactive)
            .map(alert_json)
            .collect();
        json!({ "alerts": alerts })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use model::Label;

    use super::*;
    use crate::engine::QuerySample;
    use crate::evaluation::alerting::label_set;

    const FILE: &str = r#"groups:
  - name: node
    interval: 1m
    labels:
      team: infra
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down ({{ $value }})"
"#;

    #[derive(Default)]
    struct Engine(Mutex<Vec<(String, i64)>>);

    impl QueryEngine for Engine {
        fn instant(&self, query: &str, t_ms: i64) -> Result<Vec<QuerySample>, String> {
            self.0.lock().unwrap().push((query.to_string(), t_ms));
            Ok(vec![QuerySample {
                labels: label_set(vec![
                    Label::new("__name__", "up"),
                    Label::new("instance", "a:9100"),
                    Label::new("job", "node"),
                ]),
                value: 0.0,
            }])
        }
    }

    struct Discard;

    impl Appender for Discard {
        fn append(&self, _: i64, _: &[(Labels, f64)]) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn loads_schedules_evaluates_and_renders() {
        let mut manager =
            RuleManager::load(&[("node.yml".into(), FILE.into())], DEFAULT_INTERVAL).unwrap();
        let engine = Engine::default();
        let expander = TemplateExpander {
            engine: None,
            external_labels: Default::default(),
            external_url: String::new(),
        };
        let start = 1_700_000_000_000;
        let first = manager.next_deadline(start).unwrap();
        assert!(
            (start..start + 60_000).contains(&first),
            "aligned within one interval"
        );
        assert!(manager
            .eval_due(first - 1, &engine, &Discard, &expander)
            .is_empty());
        assert!(engine.0.lock().unwrap().is_empty(), "nothing due yet");
        manager.eval_due(first, &engine, &Discard, &expander);
        assert_eq!(
            engine.0.lock().unwrap().clone(),
            vec![
                (
                    r#"last_over_time(ALERTS_FOR_STATE{alertname="InstanceDown"}[1h])"#.to_string(),
                    first
                ),
                ("sum by (job) (up)".to_string(), first),
                ("up == 0".to_string(), first)
            ],
            "the for state is looked up once, before the first evaluation"
        );
        assert_eq!(manager.next_deadline(first), Some(first + 60_000));
        // Pending after the first evaluation, firing after `for`.
        let alerts = manager.alerts_json();
        assert_eq!(alerts["alerts"][0]["state"], "pending");
        assert_eq!(
            alerts["alerts"][0]["labels"]["team"], "infra",
            "group labels"
        );
        assert_eq!(alerts["alerts"][0]["labels"]["severity"], "page");
        assert_eq!(
            alerts["alerts"][0]["annotations"]["summary"],
            "a:9100 of node is down (0)"
        );
        manager.eval_due(first + 60_000, &engine, &Discard, &expander);
        let sent = manager.eval_due(first + 120_000, &engine, &Discard, &expander);
        assert_eq!(manager.alerts_json()["alerts"][0]["state"], "firing");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].starts_at, first + 120_000);
        // A late call evaluates once, at the latest aligned instant.
        engine.0.lock().unwrap().clear();
        manager.eval_due(first + 60_000 * 10 + 5, &engine, &Discard, &expander);
        assert_eq!(engine.0.lock().unwrap()[0].1, first + 600_000);
        let rules = manager.rules_json();
        assert_eq!(rules["groups"][0]["file"], "node.yml");
        assert_eq!(rules["groups"][0]["rules"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn groups_due_together_are_all_evaluated_each_at_its_own_instant() {
        let files: Vec<(String, String)> = (0..8)
            .map(|i| {
                (
                    format!("node-{i}.yml"),
                    FILE.replace("name: node", &format!("name: node-{i}")),
                )
            })
            .collect();
        let mut manager = RuleManager::load(&files, DEFAULT_INTERVAL).unwrap();
        let engine = Engine::default();
        let expander = TemplateExpander {
            engine: None,
            external_labels: Default::default(),
            external_url: String::new(),
        };
        let start = 1_700_000_000_000;
        manager.next_deadline(start);
        let end = start + 60_000;
        assert!(manager
            .eval_due(end, &engine, &Discard, &expander)
            .is_empty());
        let mut instants: Vec<i64> = engine
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(q, _)| q == "up == 0")
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(instants.len(), 8, "every group ran once");
        instants.sort();
        instants.dedup();
        assert!(instants.len() > 1, "groups keep their own offsets");
        assert!(instants.iter().all(|t| (start..=end).contains(t)));
        // Two intervals later every group's alert has fired and is sent.
        manager.eval_due(end + 60_000, &engine, &Discard, &expander);
        let sent = manager.eval_due(end + 120_000, &engine, &Discard, &expander);
        assert_eq!(sent.len(), 8);
        assert_eq!(
            manager
                .next_deadline(end + 120_000)
                .map(|d| d > end + 120_000),
            Some(true)
        );
    }

    #[test]
    fn a_reload_keeps_the_state_of_unchanged_rules() {
        let mut manager =
            RuleManager::load(&[("node.yml".into(), FILE.into())], DEFAULT_INTERVAL).unwrap();
        let engine = Engine::default();
        let expander = TemplateExpander {
            engine: None,
            external_labels: Default::default(),
            external_url: String::new(),
        };
        let first = manager.next_deadline(0).unwrap();
        manager.eval_due(first, &engine, &Discard, &expander);
        let active_at = manager.alerts_json()["alerts"][0]["activeAt"].clone();
        // Same file with an extra rule: the alert keeps its timer.
        let changed = FILE.replace(
            "      - alert: InstanceDown",
            "      - record: job:up:count\n        expr: count by (job) (up)\n      - alert: InstanceDown",
        );
        let reloaded =
            RuleManager::load(&[("node.yml".into(), changed)], DEFAULT_INTERVAL).unwrap();
        manager.reload(reloaded);
        assert_eq!(
            manager.rules_json()["groups"][0]["rules"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(manager.alerts_json()["alerts"][0]["activeAt"], active_at);
        // A changed alert starts over.
        let edited = FILE.replace("for: 2m", "for: 3m");
        manager
            .reload(RuleManager::load(&[("node.yml".into(), edited)], DEFAULT_INTERVAL).unwrap());
        assert!(manager.alerts_json()["alerts"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn errors_of_every_file_are_reported_together() {
        let bad = "groups:\n  - name: x\n    rules:\n      - record: a\n";
        let errors = RuleManager::load(
            &[("a.yml".into(), bad.into()), ("b.yml".into(), bad.into())],
            DEFAULT_INTERVAL,
        )
        .err()
        .unwrap();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|e| e.starts_with("a.yml:")), "{text:?}");
        assert!(text.iter().any(|e| e.starts_with("b.yml:")), "{text:?}");
    }
}
