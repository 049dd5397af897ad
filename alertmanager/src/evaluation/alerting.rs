//! An alerting rule's state machine, as Prometheus' `rules/alerting.go`:
//! each evaluation's result vector moves alerts inactive → pending →
//! firing (after `for`), keeps firing alerts for `keep_firing_for` after
//! their series vanish, resolves them, and forgets resolved alerts after
//! [`RESOLVED_RETENTION_MS`]. Time is passed in, so tests need no clock.

use std::collections::HashMap;

use model::{Label, Labels};

use crate::engine::{QueryEngine, QuerySample};

/// Prometheus' `resolvedRetention`: a resolved alert is still sent (as
/// resolved) for this long.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Expands templates in labels and annotations (Prometheus' Go-template
/// rendering lives in `crate::template`).
pub trait Expander: Send + Sync {
    fn expand(&self, text: &str, labels: &Labels, value: f64, t_ms: i64) -> Result<String, String>;
}

/// An expander that leaves text as it is.
pub struct Verbatim;

impl Expander for Verbatim {
    fn expand(&self, text: &str, _: &Labels, _: f64, _: i64) -> Result<String, String> {
        Ok(text.to_string())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// Annotation names and their rendered values, in the rule's order.
pub type Annotations = Vec<(String, String)>;

/// One alert of a rule: one label set of its result.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Annotations,
    pub state: AlertState,
    pub value: f64,
    /// When the alert became pending (Unix ms).
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// When the series vanished while `keep_firing_for` holds it firing.
    pub keep_firing_since: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertingRuleSpec {
    pub name: String,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

pub struct AlertingRule {
    pub spec: AlertingRuleSpec,
    /// By the alert's label set.
    active: HashMap<Labels, Alert>,
    pub last_error: Option<String>,
    /// `active_at` of alerts that were pending or firing before a restart
    /// (from `ALERTS_FOR_STATE`), applied by the next evaluation.
    restore: HashMap<Labels, i64>,
}

/// What an evaluation produced for the metrics store.
#[derive(Debug, Default)]
pub struct EvalOutput {
    /// `ALERTS` and `ALERTS_FOR_STATE` samples.
    pub samples: Vec<(Labels, f64)>,
}

/// A label set that need not name a metric (alert labels do not), sorted,
/// each name once (the last value wins).
pub fn label_set(mut labels: Vec<Label>) -> Labels {
    labels.reverse();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels.dedup_by(|a, b| a.name == b.name);
    Labels::from_sorted_unchecked(labels)
}

fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let mut out: Vec<Label> = labels.iter().cloned().collect();
    out.push(Label::new(name, value));
    label_set(out)
}

impl AlertingRule {
    pub fn new(spec: AlertingRuleSpec) -> AlertingRule {
        AlertingRule {
            spec,
            active: HashMap::new(),
            last_error: None,
            restore: HashMap::new(),
        }
    }

    /// Alerts not inactive, and resolved ones still retained.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut alerts: Vec<&Alert> = self.active.values().collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }

    /// After a restart: when the next evaluation finds these alerts again,
    /// their `for` timers resume from these `active_at`s (Unix ms), as
    /// Prometheus restores them from `ALERTS_FOR_STATE`.
    pub fn restore(&mut self, active_at: HashMap<Labels, i64>) {
        self.restore = active_at;
    }

    /// Evaluates the rule at `t_ms`; `limit` (0: none) caps the alerts.
    pub fn eval(
        &mut self,
        engine: &dyn QueryEngine,
        expander: &dyn Expander,
        t_ms: i64,
        limit: usize,
    ) -> Result<EvalOutput, String> {
        let result = engine.instant(&self.spec.expr, t_ms);
        let samples = match result {
            Ok(s) => s,
            Err(e) => {
                self.last_error = Some(e.clone());
                return Err(e);
            }
        };
        let outcome = self.apply(&samples, expander, t_ms, limit);
        self.last_error = outcome.as_ref().err().cloned();
        outcome
    }

    fn apply(
        &mut self,
        samples: &[QuerySample],
        expander: &dyn Expander,
        t_ms: i64,
        limit: usize,
    ) -> Result<EvalOutput, String> {
        let mut seen: HashMap<Labels, (f64, Annotations)> = HashMap::new();
        for sample in samples {
            // The sample's labels without its name, then the rule's labels
            // (templated), then `alertname`.
            let base: Vec<Label> = sample
                .labels
                .iter()
                .filter(|l| l.name != "__name__")
                .cloned()
                .collect();
            let base = label_set(base);
            let mut labels = base.clone();
            for (name, text) in &self.spec.labels {
                // As Prometheus: a template error becomes the value.
                let value = expander
                    .expand(text, &base, sample.value, t_ms)
                    .unwrap_or_else(|e| format!("<error expanding template: {e}>"));
                labels = with_label(&labels, name, &value);
            }
            labels = with_label(&labels, "alertname", &self.spec.name);
            let mut annotations = Vec::with_capacity(self.spec.annotations.len());
            for (name, text) in &self.spec.annotations {
                let value = expander
                    .expand(text, &base, sample.value, t_ms)
                    .unwrap_or_else(|e| format!("<error expanding template: {e}>"));
                annotations.push((name.clone(), value));
            }
            if seen.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .to_string(),
                );
            }
            seen.insert(labels, (sample.value, annotations));
        }

        for (labels, (value, annotations)) in &seen {
            match self.active.get_mut(labels) {
                Some(alert) if alert.state != AlertState::Inactive => {
                    alert.value = *value;
                    alert.annotations = annotations.clone();
                    alert.keep_firing_since = None;
                }
                _ => {
                    let active_at = self
                        .restore
                        .get(labels)
                        .copied()
                        .filter(|&a| a <= t_ms)
                        .unwrap_or(t_ms);
                    self.active.insert(
                        labels.clone(),
                        Alert {
                            labels: labels.clone(),
                            annotations: annotations.clone(),
                            state: AlertState::Pending,
                            value: *value,
                            active_at,
                            fired_at: None,
                            resolved_at: None,
                            keep_firing_since: None,
                        },
                    );
                }
            }
        }

        self.restore.clear();
        let keep_for = self.spec.keep_firing_for_ms;
        self.active.retain(|key, alert| {
            if seen.contains_key(key) {
                return true;
            }
            if keep_for > 0 && alert.state == AlertState::Firing {
                let since = *alert.keep_firing_since.get_or_insert(t_ms);
                if t_ms - since < keep_for {
                    return true;
                }
            }
            // Pending alerts vanish; resolved ones are kept for a while.
            if alert.state == AlertState::Pending
                || alert
                    .resolved_at
                    .is_some_and(|r| t_ms - r > RESOLVED_RETENTION_MS)
            {
                return false;
            }
            if alert.state != AlertState::Inactive {
                alert.state = AlertState::Inactive;
                alert.resolved_at = Some(t_ms);
                alert.keep_firing_since = None;
            }
            true
        });

        let live = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if limit > 0 && live > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {live} alerts"));
        }

        let mut output = EvalOutput::default();
        for alert in self.active.values_mut() {
            if alert.state == AlertState::Pending && t_ms - alert.active_at >= self.spec.for_ms {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(t_ms);
            }
            if alert.state == AlertState::Inactive {
                continue;
            }
            let mut alerts = with_label(&alert.labels, "__name__", "ALERTS");
            alerts = with_label(&alerts, "alertstate", alert.state.as_str());
            output.samples.push((alerts, 1.0));
            let for_state = with_label(&alert.labels, "__name__", "ALERTS_FOR_STATE");
            output
                .samples
                .push((for_state, (alert.active_at / 1000) as f64));
        }
        output.samples.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers every query with the vector set for the current time.
    #[derive(Default)]
    struct Script(Mutex<Vec<QuerySample>>);

    impl Script {
        fn set(&self, series: &[(&str, f64)]) {
            *self.0.lock().unwrap() = series
                .iter()
                .map(|(instance, v)| QuerySample {
                    labels: Labels::of(&[
                        ("__name__", "up"),
                        ("instance", instance),
                        ("job", "node"),
                    ])
                    .unwrap(),
                    value: *v,
                })
                .collect();
        }
    }

    impl QueryEngine for Script {
        fn instant(&self, _: &str, _: i64) -> Result<Vec<QuerySample>, String> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    fn rule(for_ms: i64, keep_firing_for_ms: i64) -> AlertingRule {
        AlertingRule::new(AlertingRuleSpec {
            name: "InstanceDown".into(),
            expr: "up == 0".into(),
            for_ms,
            keep_firing_for_ms,
            labels: vec![("severity".into(), "page".into())],
            annotations: vec![("summary".into(), "down".into())],
        })
    }

    fn states(rule: &AlertingRule) -> Vec<(String, AlertState)> {
        rule.alerts()
            .iter()
            .map(|a| (a.labels.get("instance").unwrap().to_string(), a.state))
            .collect()
    }

    const MIN: i64 = 60_000;

    #[test]
    fn pending_then_firing_after_for_then_resolved_then_forgotten() {
        let engine = Script::default();
        let mut r = rule(5 * MIN, 0);
        engine.set(&[("a", 0.0)]);
        let out = r.eval(&engine, &Verbatim, 0, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Pending)]);
        let alerts = &out.samples[0].0;
        assert_eq!(alerts.get("__name__"), Some("ALERTS"));
        assert_eq!(alerts.get("alertstate"), Some("pending"));
        assert_eq!(alerts.get("severity"), Some("page"));
        assert_eq!(alerts.get("alertname"), Some("InstanceDown"));
        r.eval(&engine, &Verbatim, 4 * MIN, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Pending)]);
        let out = r.eval(&engine, &Verbatim, 5 * MIN, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Firing)]);
        assert_eq!(r.alerts()[0].fired_at, Some(5 * MIN));
        assert_eq!(out.samples[0].0.get("alertstate"), Some("firing"));
        assert_eq!(
            out.samples[1].1, 0.0,
            "ALERTS_FOR_STATE holds active_at in seconds"
        );
        engine.set(&[]);
        let out = r.eval(&engine, &Verbatim, 6 * MIN, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Inactive)]);
        assert_eq!(r.alerts()[0].resolved_at, Some(6 * MIN));
        assert!(out.samples.is_empty());
        r.eval(&engine, &Verbatim, 6 * MIN + RESOLVED_RETENTION_MS, 0)
            .unwrap();
        assert_eq!(r.alerts().len(), 1, "kept for the retention");
        r.eval(&engine, &Verbatim, 6 * MIN + RESOLVED_RETENTION_MS + 1, 0)
            .unwrap();
        assert!(r.alerts().is_empty());
    }

    #[test]
    fn a_pending_alert_that_vanishes_is_dropped_and_starts_over() {
        let engine = Script::default();
        let mut r = rule(5 * MIN, 0);
        engine.set(&[("a", 0.0)]);
        r.eval(&engine, &Verbatim, 0, 0).unwrap();
        engine.set(&[]);
        r.eval(&engine, &Verbatim, MIN, 0).unwrap();
        assert!(r.alerts().is_empty());
        engine.set(&[("a", 0.0)]);
        r.eval(&engine, &Verbatim, 2 * MIN, 0).unwrap();
        assert_eq!(r.alerts()[0].active_at, 2 * MIN);
    }

    #[test]
    fn a_restored_for_timer_resumes() {
        let engine = Script::default();
        let mut r = rule(5 * MIN, 0);
        engine.set(&[("a", 0.0)]);
        let labels = label_set(vec![
            Label::new("alertname", "InstanceDown"),
            Label::new("instance", "a"),
            Label::new("job", "node"),
            Label::new("severity", "page"),
        ]);
        r.restore(HashMap::from([(labels, 0)]));
        r.eval(&engine, &Verbatim, 3 * MIN, 0).unwrap();
        assert_eq!(r.alerts()[0].active_at, 0, "resumed");
        assert_eq!(states(&r), vec![("a".into(), AlertState::Pending)]);
        r.eval(&engine, &Verbatim, 5 * MIN, 0).unwrap();
        assert_eq!(
            states(&r),
            vec![("a".into(), AlertState::Firing)],
            "fires 5m after the original start"
        );
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let engine = Script::default();
        let mut r = rule(0, 10 * MIN);
        engine.set(&[("a", 0.0)]);
        r.eval(&engine, &Verbatim, 0, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Firing)]);
        engine.set(&[]);
        r.eval(&engine, &Verbatim, MIN, 0).unwrap();
        r.eval(&engine, &Verbatim, 10 * MIN, 0).unwrap();
        assert_eq!(
            states(&r),
            vec![("a".into(), AlertState::Firing)],
            "held for 10m from 1m"
        );
        r.eval(&engine, &Verbatim, 11 * MIN, 0).unwrap();
        assert_eq!(states(&r), vec![("a".into(), AlertState::Inactive)]);
    }

    #[test]
    fn limit_and_duplicate_label_sets_are_errors() {
        let engine = Script::default();
        let mut r = rule(0, 0);
        engine.set(&[("a", 0.0), ("b", 0.0)]);
        let err = r.eval(&engine, &Verbatim, 0, 1).unwrap_err();
        assert_eq!(err, "exceeded limit of 1 with 2 alerts");
        assert!(r.alerts().is_empty());
        assert_eq!(r.last_error.as_deref(), Some(err.as_str()));
        // Two series that differ only in the name collide once it is dropped.
        let both = vec![
            QuerySample {
                labels: Labels::of(&[("__name__", "x"), ("i", "1")]).unwrap(),
                value: 1.0,
            },
            QuerySample {
                labels: Labels::of(&[("__name__", "y"), ("i", "1")]).unwrap(),
                value: 1.0,
            },
        ];
        *engine.0.lock().unwrap() = both;
        let err = r.eval(&engine, &Verbatim, 0, 0).unwrap_err();
        assert!(err.contains("same labelset"), "{err}");
    }
}
