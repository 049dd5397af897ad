//! The metrics store as the other crates need it, through
//! `alertmanager::engine`'s small traits: PromQL instant queries for rule
//! evaluation and templates, and an appender for what rules and span
//! metrics write (recording rules, `ALERTS`, `traces_spanmetrics_*`).

use std::sync::Arc;

use alertmanager::engine::{Appender, QueryEngine, QuerySample};
use model::Labels;
use tsdb::promql::{Engine, Value};
use tsdb::wal::record::RefSample;
use tsdb::Db;

pub struct MetricsStore {
    pub db: Arc<Db>,
    pub engine: Arc<Engine>,
}

impl QueryEngine for MetricsStore {
    fn instant(&self, query: &str, t_ms: i64) -> Result<Vec<QuerySample>, String> {
        let result = self
            .engine
            .instant(&*self.db, query, t_ms)
            .map_err(|e| e.to_string())?;
        match result.value {
            Value::Vector(samples) => Ok(samples
                .into_iter()
                .map(|s| QuerySample {
                    labels: s.labels,
                    value: s.v,
                })
                .collect()),
            Value::Scalar { v, .. } => Ok(vec![QuerySample {
                labels: Labels::from_sorted_unchecked(Vec::new()),
                value: v,
            }]),
            other => Err(format!(
                "rule result is a {}, not an instant vector or scalar",
                other.type_name()
            )),
        }
    }
}

fn pair(label: &model::Label) -> (&[u8], &[u8]) {
    (label.name.as_bytes(), label.value.as_bytes())
}

impl Appender for MetricsStore {
    fn append(&self, t_ms: i64, samples: &[(Labels, f64)]) -> Result<(), String> {
        if samples.is_empty() {
            return Ok(());
        }
        let series: Vec<_> = samples
            .iter()
            .map(|(labels, _)| {
                labels
                    .iter()
                    .map(pair as fn(&model::Label) -> (&[u8], &[u8]))
            })
            .collect();
        let head = self.db.head();
        let refs = head.get_or_create(&series).map_err(|e| e.to_string())?;
        let mut batch = Vec::with_capacity(samples.len());
        let mut batch_labels = Vec::with_capacity(samples.len());
        let mut first_invalid = None;
        for ((labels, value), r) in samples.iter().zip(refs) {
            match r {
                Ok(series) => {
                    batch.push(RefSample {
                        series,
                        t: t_ms,
                        v: *value,
                    });
                    batch_labels.push(labels);
                }
                Err(e) => {
                    first_invalid.get_or_insert(format!("{labels:?}: {e}"));
                }
            }
        }
        let report = head.commit(&batch).map_err(|e| e.to_string())?;
        if let Some(e) = first_invalid {
            return Err(format!("series with invalid labels skipped: {e}"));
        }
        match report.first_rejection {
            None => Ok(()),
            Some((sample, why)) => {
                let labels = batch
                    .iter()
                    .position(|b| b.series == sample.series)
                    .map_or_else(String::new, |i| batch_labels[i].to_string());
                Err(format!(
                    "{} samples refused, the first of {labels} at {}: {}",
                    report.rejected,
                    sample.t,
                    why.describe()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tsdb::metrics::TsdbMetrics;
    use tsdb::Options;

    use super::*;

    #[test]
    fn what_is_appended_is_queryable_and_errors_are_the_engines() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default(), TsdbMetrics::unregistered()).unwrap();
        let store = MetricsStore {
            db: Arc::new(db),
            engine: Arc::new(Engine::new(Default::default())),
        };
        let t = 1_700_000_000_000;
        let series = |job: &str| Labels::of(&[("__name__", "job:up:sum"), ("job", job)]).unwrap();
        store
            .append(t, &[(series("a"), 2.0), (series("b"), 3.0)])
            .unwrap();
        let mut result = store.instant("job:up:sum", t).unwrap();
        result.sort_by(|a, b| a.labels.cmp(&b.labels));
        assert_eq!(
            result,
            vec![
                QuerySample {
                    labels: series("a"),
                    value: 2.0
                },
                QuerySample {
                    labels: series("b"),
                    value: 3.0
                },
            ]
        );
        let scalar = store.instant("sum(job:up:sum) * 2", t).unwrap();
        assert_eq!(scalar[0].value, 10.0);
        assert_eq!(
            store.instant("scalar(sum(job:up:sum))", t).unwrap()[0].value,
            5.0
        );
        // A sample the head refuses (a different value at the same
        // instant) is reported, not dropped in silence.
        let refused = store.append(t, &[(series("a"), 7.0)]).unwrap_err();
        assert!(
            refused.starts_with(
                "1 samples refused, the first of {__name__=\"job:up:sum\", job=\"a\"}"
            ),
            "{refused}"
        );
        let parse_error = store.instant("sum(", t).unwrap_err();
        assert!(
            parse_error.contains("unclosed left parenthesis"),
            "{parse_error}"
        );
        assert!(store
            .instant("job:up:sum[5m]", t)
            .unwrap_err()
            .contains("matrix"));
    }
}
