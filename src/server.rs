//! `vigil serve`: open the stores, mount every router on one listener, run
//! background maintenance, shut down cleanly on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::watch;
use tracing::{error, info, warn};
use tsdb::api::{ApiState, QueryLimits, WriteLimits};
use tsdb::wal::FsyncPolicy;
use tsdb::Db;

use crate::telemetry::{self, Telemetry};

/// Everything `serve` needs, resolved from defaults, the config file and flags.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub tsdb: tsdb::Options,
    pub write_limits: WriteLimits,
    pub query_limits: QueryLimits,
    pub logs: logs::StoreOptions,
    pub log_limits: logs::push::limits::Limits,
    pub traces: traces::StoreOptions,
    pub trace_limits: traces::api::IngestLimits,
    /// OTLP/gRPC besides the main port (which serves it too).
    pub otlp_grpc_listen: Option<SocketAddr>,
    /// How often span metrics and the service graph are written.
    pub span_metrics_interval: Duration,
    /// Prometheus rule files (globs), evaluated against the metrics store.
    pub rule_files: Vec<String>,
    /// Prometheus' global `evaluation_interval`.
    pub evaluation_interval: Duration,
    /// Prometheus' `global.external_labels`.
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Where users reach Vigil (`--web.external-url`); `http://<listen>`
    /// when unset.
    pub external_url: Option<String>,
    /// An Alertmanager config; without one, alerts are kept but not sent.
    pub alertmanager_config: Option<PathBuf>,
    /// How often compaction and retention run.
    pub maintenance_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 9700)),
            data_dir: PathBuf::from("data"),
            tsdb: tsdb::Options::default(),
            write_limits: WriteLimits::default(),
            query_limits: QueryLimits::default(),
            logs: logs::StoreOptions::default(),
            log_limits: logs::push::limits::Limits::default(),
            traces: traces::StoreOptions::default(),
            trace_limits: traces::api::IngestLimits::default(),
            otlp_grpc_listen: Some(SocketAddr::from(([127, 0, 0, 1], 4317))),
            span_metrics_interval: Duration::from_secs(15),
            rule_files: Vec::new(),
            evaluation_interval: alertmanager::evaluation::manager::DEFAULT_INTERVAL,
            external_labels: Default::default(),
            external_url: None,
            alertmanager_config: None,
            maintenance_interval: Duration::from_secs(60),
        }
    }
}

/// The signals' route states, besides the metrics store's.
pub struct SignalApis {
    pub logs: Arc<logs::api::LogsApi>,
    pub traces: Arc<traces::api::TracesApi>,
    pub rules: alertmanager::api::SharedRules,
    pub alerts: alertmanager::api::v2::SharedAlertmanager,
    pub reloader: Arc<Reloader>,
}

/// Re-reads the rule files and the Alertmanager config (SIGHUP and
/// `POST /-/reload`). Both are checked before either is applied: a bad
/// file keeps everything as it was and the error is reported.
pub struct Reloader {
    rule_files: Vec<String>,
    evaluation_interval: Duration,
    alertmanager_config: Option<PathBuf>,
    rules: alertmanager::api::SharedRules,
    alerts: alertmanager::api::v2::SharedAlertmanager,
}

impl Reloader {
    pub fn reload(&self) -> anyhow::Result<()> {
        let rules = load_rules(&self.rule_files, self.evaluation_interval)?;
        let config = read_alertmanager_config(self.alertmanager_config.as_deref())?;
        self.rules.lock().reload(rules);
        self.alerts
            .lock()
            .reload(config, traces::store::now_ns() / 1_000_000);
        info!("rule files and Alertmanager config reloaded");
        Ok(())
    }
}

/// `POST /-/reload`, as Prometheus answers it.
async fn reload(State(reloader): State<Arc<Reloader>>) -> (StatusCode, String) {
    match tokio::task::spawn_blocking(move || reloader.reload()).await {
        Ok(Ok(())) => (StatusCode::OK, String::new()),
        Ok(Err(e)) => {
            error!(error = %format!("{e:#}"), "reload failed; keeping the previous rules and config");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("failed to reload config: {e:#}\n"),
            )
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload worker failed: {e}\n"),
        ),
    }
}

/// The whole HTTP surface, as a function of the opened stores (tests call
/// this with no socket).
pub fn app(
    db: Arc<Db>,
    write_limits: WriteLimits,
    query_limits: QueryLimits,
    apis: SignalApis,
    telemetry: Arc<Telemetry>,
) -> Router {
    let api = ApiState::new(db, write_limits, query_limits);
    let SignalApis {
        logs: logs_api,
        traces: traces_api,
        rules,
        alerts,
        reloader,
    } = apis;
    let stores = (logs_api.store.clone(), traces_api.store.clone());
    Router::new()
        .route("/-/healthy", get(|| async { "Vigil is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Vigil is Ready.\n" }))
        .route(
            "/metrics",
            get(telemetry::metrics_handler).with_state(telemetry.clone()),
        )
        .merge(tsdb::api::router(api))
        .merge(logs::api::router(logs_api))
        .merge(traces::api::router(traces_api))
        .merge(alertmanager::api::prometheus_router(rules))
        .merge(alertmanager::api::v2::router(alerts))
        .route("/flush", post(flush).with_state(stores))
        .route("/-/reload", post(reload).with_state(reloader))
        .layer(axum::middleware::from_fn_with_state(
            telemetry,
            telemetry::track_requests,
        ))
}

/// `POST /flush`, as on Loki's and Tempo's ingesters: writes everything
/// held in memory by the log and trace stores to their files.
async fn flush(
    State((logs, traces)): State<(Arc<logs::LogStore>, Arc<traces::TraceStore>)>,
) -> (StatusCode, String) {
    let outcome = tokio::task::spawn_blocking(move || {
        logs.flush(true)
            .map_err(|e| format!("log flush failed: {e}"))?;
        traces
            .flush(true)
            .map_err(|e| format!("trace flush failed: {e}"))
    })
    .await;
    match outcome {
        Ok(Ok(())) => (StatusCode::NO_CONTENT, String::new()),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("flush worker failed: {e}"),
        ),
    }
}

pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let mut telemetry = Telemetry::new();
    let tsdb_metrics = tsdb::metrics::TsdbMetrics::register(&mut telemetry.registry);
    let logs_metrics = logs::api::LogsMetrics::register(&mut telemetry.registry);
    let traces_metrics = traces::metrics::TracesMetrics::register(&mut telemetry.registry);
    let telemetry = Arc::new(telemetry);

    std::fs::create_dir_all(&options.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            options.data_dir.display()
        )
    })?;
    let data_dir = options.data_dir.clone();
    let tsdb_options = options.tsdb.clone();
    let db = tokio::task::spawn_blocking(move || {
        Db::open(&data_dir.join("tsdb"), tsdb_options, tsdb_metrics)
    })
    .await?
    .context("cannot open the metrics store")?;
    let db = Arc::new(db);
    let logs_dir = options.data_dir.join("logs");
    let logs_options = options.logs.clone();
    let store_metrics = logs_metrics.clone();
    let log_store = tokio::task::spawn_blocking(move || {
        logs::LogStore::open_with_metrics(&logs_dir, logs_options, store_metrics)
    })
    .await?
    .context("cannot open the log store")?;
    let log_store = Arc::new(log_store);
    let traces_dir = options.data_dir.join("traces");
    let traces_options = options.traces.clone();
    let trace_store = tokio::task::spawn_blocking(move || {
        traces::TraceStore::open(&traces_dir, traces_options, traces_metrics)
    })
    .await?
    .context("cannot open the trace store")?;
    let trace_store = Arc::new(trace_store);

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another process using it? (--listen)",
                options.listen
            )
        })?;
    info!(
        address = %listener.local_addr()?,
        data_dir = %options.data_dir.display(),
        version = env!("CARGO_PKG_VERSION"),
        "Vigil is listening"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let maintenance = tokio::spawn(run_maintenance(
        db.clone(),
        options.maintenance_interval,
        stop_rx.clone(),
    ));
    let log_flusher = tokio::spawn(run_log_flush(
        log_store.clone(),
        options.maintenance_interval,
        stop_rx.clone(),
    ));
    let trace_flusher = tokio::spawn(run_trace_flush(
        trace_store.clone(),
        options.maintenance_interval,
        stop_rx.clone(),
    ));
    let syncer = match options.tsdb.wal.fsync {
        FsyncPolicy::Interval(period) => Some(tokio::spawn(run_wal_sync(
            db.clone(),
            log_store.clone(),
            trace_store.clone(),
            period,
            stop_rx.clone(),
        ))),
        FsyncPolicy::Always | FsyncPolicy::Never => None,
    };

    let metrics_store = Arc::new(crate::metrics_store::MetricsStore {
        db: db.clone(),
        engine: Arc::new(tsdb::promql::Engine::new(
            options.query_limits.engine.clone(),
        )),
    });
    let span_metrics = crate::span_metrics::SpanMetrics::new(metrics_store.clone());
    let rules = Arc::new(parking_lot::Mutex::new(load_rules(
        &options.rule_files,
        options.evaluation_interval,
    )?));
    let alerts = Arc::new(parking_lot::Mutex::new(open_alertmanager(&options)?));
    let rule_evaluator = tokio::spawn(run_rules(
        rules.clone(),
        metrics_store,
        alerts.clone(),
        RuleContext {
            external_labels: options.external_labels.clone(),
            external_url: external_url(&options),
        },
        stop_rx.clone(),
    ));
    let notifier = tokio::spawn(run_notifications(alerts.clone(), stop_rx.clone()));
    let reloader = Arc::new(Reloader {
        rule_files: options.rule_files.clone(),
        evaluation_interval: options.evaluation_interval,
        alertmanager_config: options.alertmanager_config.clone(),
        rules: rules.clone(),
        alerts: alerts.clone(),
    });
    let hangups = tokio::spawn(reload_on_sighup(reloader.clone(), stop_rx.clone()));
    let traces_api = traces::api::TracesApi::new(
        trace_store.clone(),
        options.trace_limits.clone(),
        Some(span_metrics.observer()),
    );
    let span_metrics_writer =
        tokio::spawn(span_metrics.run(options.span_metrics_interval, stop_rx.clone()));
    let grpc = match options.otlp_grpc_listen {
        Some(address) => {
            let grpc_listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen for OTLP/gRPC on {address}: is another process (an OpenTelemetry Collector?) using it? Use --otlp.grpc-listen host:port, or off"
                    )
                })?;
            info!(address = %grpc_listener.local_addr()?, "OTLP/gRPC is listening");
            let routes = traces::api::grpc::routes(traces_api.clone());
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.changed().await;
                };
                if let Err(e) = axum::serve(grpc_listener, routes)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    error!(error = %e, "OTLP/gRPC server failed");
                }
            }))
        }
        None => None,
    };
    let app = app(
        db.clone(),
        options.write_limits.clone(),
        options.query_limits.clone(),
        SignalApis {
            logs: logs::api::LogsApi::new(
                log_store.clone(),
                options.log_limits.clone(),
                logs_metrics,
            ),
            traces: traces_api,
            rules,
            alerts,
            reloader,
        },
        telemetry,
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")?;

    info!("stopped accepting requests; flushing");
    let _ = stop_tx.send(true);
    let _ = maintenance.await;
    let _ = log_flusher.await;
    let _ = trace_flusher.await;
    let _ = span_metrics_writer.await;
    let _ = rule_evaluator.await;
    let _ = notifier.await;
    hangups.abort();
    if let Some(grpc) = grpc {
        let _ = grpc.await;
    }
    if let Some(syncer) = syncer {
        let _ = syncer.await;
    }
    let closing = db.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await?
        .context("flushing the WAL on shutdown")?;
    tokio::task::spawn_blocking(move || log_store.close())
        .await?
        .context("flushing the log store on shutdown")?;
    tokio::task::spawn_blocking(move || trace_store.close())
        .await?
        .context("flushing the trace store on shutdown")?;
    info!("Vigil stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => info!("SIGINT received, shutting down"),
        _ = terminate => info!("SIGTERM received, shutting down"),
    }
}

async fn run_maintenance(db: Arc<Db>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.run_maintenance()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "compaction or retention failed; will retry at the next interval")
            }
            Err(e) => error!(error = %e, "maintenance task panicked"),
        }
    }
}

/// Reads the rule files the globs name; every error of every file is
/// reported, and then the server does not start.
pub fn load_rules(
    globs: &[String],
    interval: Duration,
) -> anyhow::Result<alertmanager::evaluation::manager::RuleManager> {
    let mut files = Vec::new();
    for pattern in globs {
        let paths = glob::glob(pattern)
            .with_context(|| format!("invalid rule file pattern {pattern:?}"))?;
        for path in paths {
            let path = path.with_context(|| format!("cannot read {pattern:?}"))?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read rule file {}", path.display()))?;
            files.push((path.display().to_string(), text));
        }
    }
    let manager = alertmanager::evaluation::manager::RuleManager::load(&files, interval).map_err(
        |errors| {
            let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "invalid rule files (check them with `vigil check rules`):\n{}",
                listed.join("\n")
            )
        },
    )?;
    if !files.is_empty() {
        info!(files = files.len(), "rule files loaded");
    }
    Ok(manager)
}

/// The Alertmanager: its config (checked as `vigil check config` does) and
/// its silences, kept under the data directory.
fn read_alertmanager_config(
    path: Option<&Path>,
) -> anyhow::Result<Option<(alertmanager::config::Config, String)>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the Alertmanager config {}", path.display()))?;
    let config = alertmanager::config::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "invalid Alertmanager config {}:{e} (check it with `vigil check config`)",
            path.display()
        )
    })?;
    Ok(Some((config, text)))
}

fn open_alertmanager(
    options: &ServeOptions,
) -> anyhow::Result<alertmanager::service::Alertmanager> {
    let config = read_alertmanager_config(options.alertmanager_config.as_deref())?;
    let dir = options.data_dir.join("alertmanager");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let silences = alertmanager::silences::Silences::open(
        &dir.join("silences.json"),
        alertmanager::silences::DEFAULT_RETENTION,
    )
    .context("cannot open the silences")?;
    alertmanager::service::Alertmanager::new(
        config,
        silences,
        external_url(options),
        traces::store::now_ns() / 1_000_000,
    )
    .with_nflog_file(&dir.join("nflog.jsonl"))
    .map_err(anyhow::Error::msg)
}

/// SIGHUP reloads the rule files and the Alertmanager config.
async fn reload_on_sighup(reloader: Arc<Reloader>, mut stop: watch::Receiver<bool>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP; reload with POST /-/reload");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {}
            _ = stop.changed() => return,
        }
        let reloader = reloader.clone();
        match tokio::task::spawn_blocking(move || reloader.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %format!("{e:#}"), "reload on SIGHUP failed; keeping the previous rules and config")
            }
            Err(e) => error!(error = %e, "reload task panicked"),
        }
    }
}

/// Flushes alert groups when due and delivers their notifications; what
/// fails is retried at the group's next flush.
async fn run_notifications(
    alerts: alertmanager::api::v2::SharedAlertmanager,
    mut stop: watch::Receiver<bool>,
) {
    use alertmanager::notify::pipeline::IntegrationKind;
    let mut last_gc = std::time::Instant::now();
    loop {
        let now = traces::store::now_ns() / 1_000_000;
        // New alerts can make a group due sooner: look again at least every second.
        let wait = alerts
            .lock()
            .next_deadline()
            .map_or(1000, |d| d.saturating_sub(now).clamp(0, 1000));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            _ = stop.changed() => return,
        }
        let now = traces::store::now_ns() / 1_000_000;
        let (due, external_url) = {
            let mut am = alerts.lock();
            if last_gc.elapsed() >= Duration::from_secs(60) {
                last_gc = std::time::Instant::now();
                if let Err(e) = am.gc(now) {
                    error!(error = %e, "alertmanager garbage collection failed");
                }
            }
            (am.tick(now), am.external_url().to_string())
        };
        for outbound in due {
            let receiver = alerts.lock().config().receiver(&outbound.receiver).cloned();
            let Some(receiver) = receiver else {
                // Gone with a reload: the flush is over.
                alerts.lock().mark_failed(&outbound);
                continue;
            };
            let alerts = alerts.clone();
            let external_url = external_url.clone();
            tokio::task::spawn_blocking(move || {
                use alertmanager::notify::deliver::{self, Failure};
                let attempt = || -> Result<(), Failure> {
                    match outbound.integration {
                        IntegrationKind::Webhook => {
                            let c = receiver
                                .webhook_configs
                                .get(outbound.index)
                                .ok_or_else(|| Failure::permanent("webhook config gone"))?;
                            deliver::webhook(c, &outbound, &external_url)
                        }
                        IntegrationKind::Email => {
                            let c = receiver
                                .email_configs
                                .get(outbound.index)
                                .ok_or_else(|| Failure::permanent("email config gone"))?;
                            let notification = outbound.notification(&external_url, 0);
                            let rendered = alertmanager::notify::email::render(c, &notification)?;
                            alertmanager::notify::email::send(c, &rendered).map_err(|e| Failure {
                                retryable: e.retryable(),
                                message: e.to_string(),
                            })
                        }
                    }
                };
                let outcome = deliver::retrying(
                    deliver::retry_budget(&outbound),
                    std::thread::sleep,
                    attempt,
                );
                match outcome {
                    Ok(()) => {
                        let logged = alerts.lock().mark_sent(&outbound);
                        if let Err(e) = logged.commit() {
                            error!(error = %e, "cannot write the notification log; a restart may send this again");
                        }
                    }
                    Err(e) => {
                        alerts.lock().mark_failed(&outbound);
                        warn!(
                            receiver = %outbound.receiver,
                            group = %outbound.group_key,
                            error = %e,
                            "notification failed; sending again at the group's next flush"
                        )
                    }
                }
            });
        }
    }
}

/// `--web.external-url`, or where Vigil listens; without a trailing `/`.
fn external_url(options: &ServeOptions) -> String {
    options
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", options.listen))
        .trim_end_matches('/')
        .to_string()
}

/// What rule evaluation knows of the installation, as Prometheus' global
/// config and flags give it.
struct RuleContext {
    external_labels: std::collections::BTreeMap<String, String>,
    external_url: String,
}

/// Evaluates rule groups at their instants against the metrics store, and
/// hands the alerts they produce to the Alertmanager in-process.
async fn run_rules(
    rules: alertmanager::api::SharedRules,
    store: Arc<crate::metrics_store::MetricsStore>,
    alerts: alertmanager::api::v2::SharedAlertmanager,
    context: RuleContext,
    mut stop: watch::Receiver<bool>,
) {
    let expander = Arc::new(alertmanager::evaluation::manager::TemplateExpander {
        engine: Some(store.clone()),
        external_labels: context.external_labels.clone(),
        external_url: context.external_url.clone(),
    });
    let generator_url = format!("{}/graph", context.external_url);
    let external_labels: Arc<Vec<(String, String)>> =
        Arc::new(context.external_labels.into_iter().collect());
    loop {
        let now = traces::store::now_ns() / 1_000_000;
        // No rules (yet: a reload may bring some): look again in a second.
        let deadline = rules.lock().next_deadline(now).unwrap_or(now + 1000);
        let wait = Duration::from_millis(deadline.saturating_sub(now).clamp(0, 1000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let (rules, store, expander, alerts, generator_url, external_labels) = (
            rules.clone(),
            store.clone(),
            expander.clone(),
            alerts.clone(),
            generator_url.clone(),
            external_labels.clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || {
            let now = traces::store::now_ns() / 1_000_000;
            let outgoing = rules.lock().eval_due(now, &*store, &*store, &*expander);
            if !outgoing.is_empty() {
                alerts
                    .lock()
                    .receive_rule_alerts(outgoing, &generator_url, &external_labels, now);
            }
        })
        .await;
        if let Err(e) = outcome {
            error!(error = %e, "rule evaluation panicked");
        }
    }
}

/// Every `period`, runs `flush(retention_due)` on a blocking thread, with
/// `retention_due` true once per `retention_every`; errors are logged and
/// retried at the next tick.
async fn run_flush_loop<E: std::fmt::Display + Send + 'static>(
    what: &'static str,
    period: Duration,
    retention_every: Duration,
    mut stop: watch::Receiver<bool>,
    flush: impl Fn(bool) -> Result<(), E> + Send + Sync + Clone + 'static,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_retention = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let retention_due = last_retention.elapsed() >= retention_every;
        if retention_due {
            last_retention = std::time::Instant::now();
        }
        let flush = flush.clone();
        match tokio::task::spawn_blocking(move || flush(retention_due)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(store = what, error = %e, "flush or retention failed; will retry"),
            Err(e) => error!(store = what, error = %e, "flush task panicked"),
        }
    }
}

/// Flushes log streams that are ready every few seconds, and applies log
/// retention at the maintenance interval.
async fn run_log_flush(
    store: Arc<logs::LogStore>,
    retention_every: Duration,
    stop: watch::Receiver<bool>,
) {
    let period = store.options().flush_check_period;
    run_flush_loop(
        "logs",
        period,
        retention_every,
        stop,
        move |retention_due| {
            store.flush(false)?;
            if retention_due {
                store.apply_retention(logs::store::now_ns())?;
            }
            Ok::<_, logs::LogsError>(())
        },
    )
    .await
}

/// Flushes complete traces every second or so, and applies trace retention
/// at the maintenance interval.
async fn run_trace_flush(
    store: Arc<traces::TraceStore>,
    retention_every: Duration,
    stop: watch::Receiver<bool>,
) {
    let period = store.options().flush_check_period;
    run_flush_loop(
        "traces",
        period,
        retention_every,
        stop,
        move |retention_due| {
            store.flush(false)?;
            if retention_due {
                store.apply_retention(traces::store::now_ns())?;
            }
            Ok::<_, traces::TracesError>(())
        },
    )
    .await
}

async fn run_wal_sync(
    db: Arc<Db>,
    log_store: Arc<logs::LogStore>,
    trace_store: Arc<traces::TraceStore>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let db = db.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.head().wal().sync_now()).await {
            error!(error = %e, "WAL fsync failed");
        }
        let log_store = log_store.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || log_store.sync_wal()).await {
            error!(error = %e, "log WAL fsync failed");
        }
        let trace_store = trace_store.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || trace_store.sync_wal()).await {
            error!(error = %e, "trace WAL fsync failed");
        }
    }
}
