//! A recording rule, as Prometheus' `rules/recording.go`: the result
//! vector, renamed to `record` and with the rule's labels set, is written
//! back to the metrics store.

use model::{Label, Labels};

use crate::engine::QueryEngine;

#[derive(Clone, Debug, PartialEq)]
pub struct RecordingRuleSpec {
    pub record: String,
    pub expr: String,
    pub labels: Vec<(String, String)>,
}

pub struct RecordingRule {
    pub spec: RecordingRuleSpec,
    pub last_error: Option<String>,
}

impl RecordingRule {
    pub fn new(spec: RecordingRuleSpec) -> RecordingRule {
        RecordingRule {
            spec,
            last_error: None,
        }
    }

    /// The samples to append at `t_ms`; `limit` (0: none) caps the series.
    pub fn eval(
        &mut self,
        engine: &dyn QueryEngine,
        t_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let outcome = self.compute(engine, t_ms, limit);
        self.last_error = outcome.as_ref().err().cloned();
        outcome
    }

    fn compute(
        &self,
        engine: &dyn QueryEngine,
        t_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let samples = engine.instant(&self.spec.expr, t_ms)?;
        let mut out = Vec::with_capacity(samples.len());
        for sample in samples {
            let mut labels: Vec<Label> = sample
                .labels
                .iter()
                .filter(|l| {
                    l.name != "__name__" && !self.spec.labels.iter().any(|(n, _)| *n == l.name)
                })
                .cloned()
                .collect();
            labels.push(Label::new("__name__", self.spec.record.as_str()));
            labels.extend(
                self.spec
                    .labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| Label::new(n.as_str(), v.as_str())),
            );
            out.push((crate::evaluation::alerting::label_set(labels), sample.value));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if out.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels"
                    .to_string(),
            );
        }
        if limit > 0 && out.len() > limit {
            return Err(format!("exceeded limit {limit} with {} series", out.len()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::QuerySample;

    struct Fixed(Vec<QuerySample>);

    impl QueryEngine for Fixed {
        fn instant(&self, _: &str, _: i64) -> Result<Vec<QuerySample>, String> {
            Ok(self.0.clone())
        }
    }

    fn sample(pairs: &[(&str, &str)], value: f64) -> QuerySample {
        QuerySample {
            labels: crate::evaluation::alerting::label_set(
                pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
            ),
            value,
        }
    }

    #[test]
    fn renames_sets_labels_and_refuses_collisions() {
        let mut rule = RecordingRule::new(RecordingRuleSpec {
            record: "instance:node_cpu:rate5m".into(),
            expr: "rate(node_cpu_seconds_total[5m])".into(),
            labels: vec![("team".into(), "infra".into()), ("mode".into(), "".into())],
        });
        let engine = Fixed(vec![sample(&[("instance", "a"), ("mode", "idle")], 0.5)]);
        let out = rule.eval(&engine, 0, 0).unwrap();
        assert_eq!(
            out,
            vec![(
                Labels::of(&[
                    ("__name__", "instance:node_cpu:rate5m"),
                    ("instance", "a"),
                    ("team", "infra")
                ])
                .unwrap(),
                0.5
            )],
            "an empty rule label removes the label"
        );
        let engine = Fixed(vec![
            sample(&[("__name__", "x"), ("instance", "a")], 1.0),
            sample(&[("__name__", "y"), ("instance", "a")], 2.0),
        ]);
        assert!(rule
            .eval(&engine, 0, 0)
            .unwrap_err()
            .contains("same labelset"));
        assert!(rule.last_error.is_some());
        let engine = Fixed(vec![
            sample(&[("instance", "a")], 1.0),
            sample(&[("instance", "b")], 1.0),
        ]);
        assert_eq!(
            rule.eval(&engine, 0, 1).unwrap_err(),
            "exceeded limit 1 with 2 series"
        );
    }
}
