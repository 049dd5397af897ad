//! Span metrics and the service graph into the metrics store: the trace
//! ingest path hands every accepted batch to the generator
//! (`traces::generator`, Tempo's metrics-generator), and every collection
//! interval its cumulative series are appended to the TSDB head, as
//! Tempo's generator remote-writes them to Prometheus. The series are then
//! queryable with PromQL on the same port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{error, warn};
use tsdb::wal::record::RefSample;
use tsdb::Db;

use traces::api::SpanObserver;
use traces::generator::{Generator, GeneratorConfig};

pub struct SpanMetrics {
    db: Arc<Db>,
    generator: Arc<Generator>,
}

fn pair(p: &(String, String)) -> (&[u8], &[u8]) {
    (p.0.as_bytes(), p.1.as_bytes())
}

impl SpanMetrics {
    pub fn new(db: Arc<Db>) -> Arc<SpanMetrics> {
        Arc::new(SpanMetrics {
            db,
            generator: Arc::new(Generator::new(GeneratorConfig::default())),
        })
    }

    /// What the trace ingest path calls with each accepted batch.
    pub fn observer(&self) -> SpanObserver {
        let generator = self.generator.clone();
        Arc::new(move |spans| generator.observe(spans, Instant::now()))
    }

    /// Appends the current value of every series at `t_ms`.
    pub fn write(&self, t_ms: i64) -> std::io::Result<usize> {
        let samples = self.generator.collect(Instant::now());
        if samples.is_empty() {
            return Ok(0);
        }
        let series: Vec<_> = samples
            .iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(pair as fn(&(String, String)) -> (&[u8], &[u8]))
            })
            .collect();
        let head = self.db.head();
        let refs = head.get_or_create(&series)?;
        let mut batch = Vec::with_capacity(samples.len());
        for (sample, r) in samples.iter().zip(refs) {
            match r {
                Ok(series) => batch.push(RefSample {
                    series,
                    t: t_ms,
                    v: sample.value,
                }),
                Err(e) => {
                    warn!(error = %e, labels = ?sample.labels, "span metric with invalid labels skipped")
                }
            }
        }
        let report = head.commit(&batch)?;
        Ok(report.appended)
    }

    /// Writes every `every` until stopped, and once more on the way out.
    pub async fn run(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                _ = stop.changed() => true,
            };
            let this = self.clone();
            let t_ms = traces::store::now_ns() / 1_000_000;
            match tokio::task::spawn_blocking(move || this.write(t_ms)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => error!(error = %e, "cannot write span metrics to the metrics store"),
                Err(e) => error!(error = %e, "span metrics task panicked"),
            }
            if stopping {
                return;
            }
        }
    }
}
