//! A rule group evaluated at one instant, as Prometheus' `rules/group.go`:
//! rules run in order (a recording rule's output is visible to the rules
//! after it once appended), every produced series is appended, series that
//! a rule produced last time and not this time get a staleness marker, and
//! the alerts due to be sent to Alertmanager are returned.

use std::collections::HashSet;

use model::Labels;
use tracing::warn;

use super::alerting::{AlertState, AlertingRule, Expander};
use super::recording::RecordingRule;
use crate::engine::{Appender, QueryEngine};

/// Prometheus' `--rules.alert.resend-delay`.
pub const RESEND_DELAY_MS: i64 = 60_000;

pub enum Rule {
    Recording(RecordingRule),
    Alerting(AlertingRule),
}

impl Rule {
    pub fn alerting_mut(&mut self) -> Option<&mut AlertingRule> {
        match self {
            Rule::Alerting(r) => Some(r),
            Rule::Recording(_) => None,
        }
    }

    /// Same definition (state aside): a reload keeps such a rule's state.
    pub fn same_definition(&self, other: &Rule) -> bool {
        match (self, other) {
            (Rule::Alerting(a), Rule::Alerting(b)) => a.spec == b.spec,
            (Rule::Recording(a), Rule::Recording(b)) => a.spec == b.spec,
            _ => false,
        }
    }

    /// The alert name or the recorded series name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.spec.record,
            Rule::Alerting(r) => &r.spec.name,
        }
    }

    pub fn last_error(&self) -> Option<&str> {
        match self {
            Rule::Recording(r) => r.last_error.as_deref(),
            Rule::Alerting(r) => r.last_error.as_deref(),
        }
    }
}

pub struct Group {
    pub name: String,
    pub interval_ms: i64,
    /// 0: no limit.
    pub limit: usize,
    pub query_offset_ms: i64,
    pub rules: Vec<Rule>,
    /// Series each rule wrote at the last evaluation (for staleness).
    written: Vec<HashSet<Labels>>,
    /// When each rule's alerts were last sent, by label set.
    last_sent: Vec<std::collections::HashMap<Labels, i64>>,
    /// The last evaluation: when (Unix ms) and how long it took (s).
    pub last_evaluation: Option<(i64, f64)>,
    /// The same per rule.
    pub rule_evaluations: Vec<Option<(i64, f64)>>,
}

/// An alert as sent to Alertmanager (Prometheus' `notifier.Alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingAlert {
    pub labels: Labels,
    pub annotations: Vec<(String, String)>,
    pub starts_at: i64,
    /// For a resolved alert, when it resolved; otherwise a time a few
    /// intervals ahead, after which Alertmanager resolves it by itself.
    pub ends_at: i64,
}

impl Group {
    pub fn new(
        name: String,
        interval_ms: i64,
        limit: usize,
        query_offset_ms: i64,
        rules: Vec<Rule>,
    ) -> Group {
        let n = rules.len();
        Group {
            name,
            interval_ms,
            limit,
            query_offset_ms,
            rules,
            written: vec![HashSet::new(); n],
            last_sent: vec![Default::default(); n],
            last_evaluation: None,
            rule_evaluations: vec![None; n],
        }
    }

    /// After a reload: every rule of `old` defined exactly as one of this
    /// group's takes its place, with its alerts, series and timings, as
    /// Prometheus keeps the state of unchanged rules.
    pub fn adopt(&mut self, old: &mut Group) {
        for i in 0..self.rules.len() {
            let Some(j) = old
                .rules
                .iter()
                .position(|r| r.same_definition(&self.rules[i]))
            else {
                continue;
            };
            let kept = old.rules.remove(j);
            self.rules[i] = kept;
            self.written[i] = old.written.remove(j);
            self.last_sent[i] = old.last_sent.remove(j);
            self.rule_evaluations[i] = old.rule_evaluations.remove(j);
        }
        self.last_evaluation = old.last_evaluation;
    }

    /// Evaluates every rule at `t_ms` (queries at `t_ms - query_offset`),
    /// appends what they produce at `t_ms`, and returns the alerts to send.
    /// A rule's error is kept on the rule and does not stop the others.
    pub fn eval(
        &mut self,
        engine: &dyn QueryEngine,
        appender: &dyn Appender,
        expander: &dyn Expander,
        t_ms: i64,
    ) -> Vec<OutgoingAlert> {
        let query_t = t_ms - self.query_offset_ms;
        let mut outgoing = Vec::new();
        let group_started = std::time::Instant::now();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let rule_started = std::time::Instant::now();
            let produced: Vec<(Labels, f64)> = match rule {
                Rule::Recording(r) => r.eval(engine, query_t, self.limit).unwrap_or_default(),
                Rule::Alerting(r) => {
                    let samples = r
                        .eval(engine, expander, query_t, self.limit)
                        .map(|o| o.samples)
                        .unwrap_or_default();
                    outgoing.extend(due(r, &mut self.last_sent[i], t_ms, self.interval_ms));
                    samples
                }
            };
            let now: HashSet<Labels> = produced.iter().map(|(l, _)| l.clone()).collect();
            let mut batch = produced;
            for gone in self.written[i].difference(&now) {
                batch.push((gone.clone(), model::sample::stale_nan()));
            }
            if let Err(e) = appender.append(t_ms, &batch) {
                // The next evaluation writes again; nothing to undo.
                warn!(group = %self.name, error = %e, "cannot append rule results");
            }
            self.written[i] = now;
            self.rule_evaluations[i] = Some((t_ms, rule_started.elapsed().as_secs_f64()));
        }
        self.last_evaluation = Some((t_ms, group_started.elapsed().as_secs_f64()));
        outgoing
    }
}

/// The alerts of `rule` that are due to be sent at `t_ms` (Prometheus'
/// `sendAlerts` with `needsSending`): firing ones every resend delay, and
/// resolved ones once they resolve and then while they are retained.
fn due(
    rule: &AlertingRule,
    last_sent: &mut std::collections::HashMap<Labels, i64>,
    t_ms: i64,
    interval_ms: i64,
) -> Vec<OutgoingAlert> {
    let mut out = Vec::new();
    let mut kept = std::collections::HashMap::new();
    for alert in rule.alerts() {
        if alert.state == AlertState::Pending {
            continue;
        }
        let sent = last_sent.get(&alert.labels).copied();
        let needs = match (alert.resolved_at, sent) {
            (_, None) => true,
            (Some(resolved), Some(sent)) if resolved > sent => true,
            (_, Some(sent)) => sent + RESEND_DELAY_MS <= t_ms,
        };
        let mut stamp = sent;
        if needs {
            let ends_at = alert
                .resolved_at
                .unwrap_or(t_ms + 4 * RESEND_DELAY_MS.max(interval_ms));
            out.push(OutgoingAlert {
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at: alert.fired_at.unwrap_or(alert.active_at),
                ends_at,
            });
            stamp = Some(t_ms);
        }
        if let Some(stamp) = stamp {
            kept.insert(alert.labels.clone(), stamp);
        }
    }
    *last_sent = kept;
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use model::Label;

    use super::*;
    use crate::engine::QuerySample;
    use crate::evaluation::alerting::{label_set, AlertingRuleSpec, Verbatim};
    use crate::evaluation::recording::RecordingRuleSpec;

    /// `up == 0` answers with the down instances; the recording rule's
    /// query with a constant.
    #[derive(Default)]
    struct Fake {
        down: Mutex<Vec<String>>,
    }

    impl QueryEngine for Fake {
        fn instant(&self, query: &str, _: i64) -> Result<Vec<QuerySample>, String> {
            if query == "up == 0" {
                return Ok(self
                    .down
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|i| QuerySample {
                        labels: label_set(vec![
                            Label::new("__name__", "up"),
                            Label::new("instance", i.as_str()),
                        ]),
                        value: 0.0,
                    })
                    .collect());
            }
            Ok(vec![QuerySample {
                labels: label_set(vec![Label::new("job", "node")]),
                value: 3.0,
            }])
        }
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(i64, Labels, f64)>>);

    impl Appender for Recorder {
        fn append(&self, t_ms: i64, samples: &[(Labels, f64)]) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .extend(samples.iter().map(|(l, v)| (t_ms, l.clone(), *v)));
            Ok(())
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn writes_series_marks_vanished_ones_stale_and_sends_alerts_when_due() {
        let engine = Fake::default();
        let appender = Recorder::default();
        let mut group = Group::new(
            "node".into(),
            MIN,
            0,
            0,
            vec![
                Rule::Recording(RecordingRule::new(RecordingRuleSpec {
                    record: "job:up:count".into(),
                    expr: "count by (job) (up)".into(),
                    labels: vec![],
                })),
                Rule::Alerting(AlertingRule::new(AlertingRuleSpec {
                    name: "InstanceDown".into(),
                    expr: "up == 0".into(),
                    for_ms: 0,
                    keep_firing_for_ms: 0,
                    labels: vec![],
                    annotations: vec![],
                })),
            ],
        );
        *engine.down.lock().unwrap() = vec!["a".into()];
        let sent = group.eval(&engine, &appender, &Verbatim, 0);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].starts_at, 0);
        assert_eq!(sent[0].ends_at, 4 * MIN);
        let written = appender.0.lock().unwrap().clone();
        let names: Vec<&str> = written.iter().map(|(_, l, _)| l.metric_name()).collect();
        assert_eq!(names, vec!["job:up:count", "ALERTS", "ALERTS_FOR_STATE"]);

        // Not resent before the resend delay; resent after it.
        assert!(group.eval(&engine, &appender, &Verbatim, 30_000).is_empty());
        assert_eq!(group.eval(&engine, &appender, &Verbatim, MIN).len(), 1);

        // Resolved: sent at once with ends_at = resolution; ALERTS goes stale.
        engine.down.lock().unwrap().clear();
        appender.0.lock().unwrap().clear();
        let sent = group.eval(&engine, &appender, &Verbatim, 2 * MIN);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ends_at, 2 * MIN);
        let written = appender.0.lock().unwrap().clone();
        let stale: Vec<&str> = written
            .iter()
            .filter(|(_, _, v)| model::sample::is_stale_nan(*v))
            .map(|(_, l, _)| l.metric_name())
            .collect();
        assert_eq!(stale.len(), 2, "ALERTS and ALERTS_FOR_STATE: {stale:?}");
    }
}
