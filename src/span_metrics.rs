//! Span metrics and the service graph into the metrics store: the trace
//! ingest path hands every accepted batch to the generator
//! (`traces::generator`, Tempo's metrics-generator), and every collection
//! interval its cumulative series are appended to the TSDB head, as
//! Tempo's generator remote-writes them to Prometheus. The series are then
//! queryable with PromQL on the same port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertmanager::engine::Appender;
use tokio::sync::watch;
use tracing::{error, warn};

use crate::metrics_store::MetricsStore;

use traces::api::SpanObserver;
use traces::generator::{Generator, GeneratorConfig};

pub struct SpanMetrics {
    store: Arc<MetricsStore>,
    generator: Arc<Generator>,
}

impl SpanMetrics {
    pub fn new(store: Arc<MetricsStore>) -> Arc<SpanMetrics> {
        Arc::new(SpanMetrics {
            store,
            generator: Arc::new(Generator::new(GeneratorConfig::default())),
        })
    }

    /// What the trace ingest path calls with each accepted batch.
    pub fn observer(&self) -> SpanObserver {
        let generator = self.generator.clone();
        Arc::new(move |spans| generator.observe(spans, Instant::now()))
    }

    /// Appends the current value of every series at `t_ms`.
    pub fn write(&self, t_ms: i64) -> Result<usize, String> {
        let samples = self.generator.collect(Instant::now());
        let mut batch = Vec::with_capacity(samples.len());
        for sample in &samples {
            let labels: Vec<model::Label> = sample
                .labels
                .iter()
                .map(|(n, v)| model::Label::new(n.as_str(), v.as_str()))
                .collect();
            match model::Labels::new(labels) {
                Ok(labels) => batch.push((labels, sample.value)),
                Err(e) => {
                    warn!(error = %e, labels = ?sample.labels, "span metric with invalid labels skipped")
                }
            }
        }
        self.store.append(t_ms, &batch)?;
        Ok(batch.len())
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
