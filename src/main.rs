//! `vigil`: the command line. `vigil serve` runs the stack; `vigil tsdb
//! inspect` looks inside a block.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vigil::config::{parse_duration, parse_size, FileConfig};
use vigil::server::{serve, ServeOptions};

/// jemalloc instead of glibc's malloc: queries allocate and free large
/// buffers on several threads at once, where glibc's arenas spent a quarter
/// of query time in `malloc`/`free` and kept freed memory resident.
/// (mimalloc was as fast but held twice the memory during ingest.)
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Returns the memory jemalloc holds freed to the OS now: the store calls it
/// after writing a block, when a whole block's encoded chunks were freed.
fn release_memory() {
    // MALLCTL_ARENAS_ALL: every arena.
    let name = c"arena.4096.purge";
    // SAFETY: `arena.<i>.purge` reads and writes nothing; the name is a
    // NUL-terminated string that outlives the call.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// jemalloc's settings: a background thread returns freed pages to the OS
/// within a second.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Metrics, logs, traces and alerts behind one port"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (no config needed).
    Serve(ServeArgs),
    /// Validate rule files or Alertmanager configs (as promtool and amtool do).
    Check {
        #[command(subcommand)]
        command: CheckCommand,
    },
    /// Run rule unit tests (as `promtool test rules`).
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },
    /// Tools for the metrics store's files.
    Tsdb {
        #[command(subcommand)]
        command: TsdbCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address of the one HTTP listener [default: 127.0.0.1:9700]
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where data is stored [default: ./data]
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// Optional YAML config file; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Delete metrics blocks older than this [default: 15d]
    #[arg(long = "retention.time")]
    retention_time: Option<String>,
    /// Delete the oldest metrics blocks while storage exceeds this (e.g. 50GB).
    #[arg(long = "retention.size")]
    retention_size: Option<String>,
    /// WAL fsync policy: "always" (before every ack), a period such as "1s", or "never" [default: 1s]
    #[arg(long = "wal.fsync")]
    wal_fsync: Option<String>,
    /// Span of a metrics block cut from the head [default: 2h]
    #[arg(long = "storage.block-range", hide = true)]
    block_range: Option<String>,
    /// How far back an instant selector looks for a sample [default: 5m]
    #[arg(long = "query.lookback-delta")]
    lookback_delta: Option<String>,
    /// Longest a query may run [default: 2m]
    #[arg(long = "query.timeout")]
    query_timeout: Option<String>,
    /// Samples a query may hold in memory before it fails [default: 50000000]
    #[arg(long = "query.max-samples")]
    query_max_samples: Option<usize>,
    /// Queries evaluated at once; more wait in line [default: 20]
    #[arg(long = "query.max-concurrency")]
    query_max_concurrency: Option<usize>,
    /// Delete log partitions older than this [default: 7d]
    #[arg(long = "logs.retention")]
    logs_retention: Option<String>,
    /// Derive `detected_level` structured metadata for each pushed line, as Loki 3 does [default: true]
    #[arg(long = "logs.discover-log-levels")]
    logs_discover_log_levels: Option<bool>,
    /// How often log streams are checked for a flush [default: 5s]
    #[arg(long = "logs.flush-check-period", hide = true)]
    logs_flush_check_period: Option<String>,
    /// Log format: "text" or "json".
    /// e.g. `7d`: trace segments older than this are deleted.
    #[arg(long = "traces.retention")]
    traces_retention: Option<String>,
    /// Seconds a trace must be idle to count as complete and be flushed.
    #[arg(long = "traces.trace-idle", hide = true)]
    traces_trace_idle: Option<String>,
    /// Longest complete traces wait in memory before a flush.
    #[arg(long = "traces.max-flush-wait", hide = true)]
    traces_max_flush_wait: Option<String>,
    /// How often span metrics are written to the metrics store (Tempo's
    /// metrics-generator collection interval).
    #[arg(long = "traces.metrics-interval")]
    traces_metrics_interval: Option<String>,
    /// Prometheus rule files to evaluate (a glob; repeatable).
    #[arg(long = "rules.file")]
    rule_files: Vec<String>,
    /// An Alertmanager config file; without one, alerts are kept, not sent.
    #[arg(long = "alertmanager.config")]
    alertmanager_config: Option<PathBuf>,
    /// The URL users reach Vigil at (behind a proxy, say): used in
    /// notifications' links and `$externalURL` [default: http://<listen>]
    #[arg(long = "web.external-url")]
    external_url: Option<String>,
    /// Where OTLP/gRPC is served besides the main port; `off` disables it.
    #[arg(long = "otlp.grpc-listen")]
    otlp_grpc_listen: Option<String>,
    #[arg(long = "log.format", default_value = "text")]
    log_format: String,
}

#[derive(Subcommand)]
enum CheckCommand {
    /// Prometheus rule files, like `promtool check rules`.
    Rules {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Alertmanager configs, like `amtool check-config`.
    Config {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TestCommand {
    /// `promtool test rules` files: input series, evaluation times,
    /// expected alerts and query results.
    Rules {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TsdbCommand {
    /// Print a block's series, samples, bytes per sample and time range.
    Inspect {
        /// A block directory (data/tsdb/blocks/<id>).
        block: PathBuf,
        /// Also list the series with their sample counts.
        #[arg(long)]
        series: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args),
        Command::Check { command } => {
            let passed = match command {
                CheckCommand::Rules { files } => vigil::check::rules(&files),
                CheckCommand::Config { files } => vigil::check::config(&files),
            };
            return if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Test {
            command: TestCommand::Rules { files },
        } => {
            return if vigil::rule_test::rules(&files) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Tsdb {
            command: TsdbCommand::Inspect { block, series },
        } => inspect(&block, series),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tantivy=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn resolve(args: &ServeArgs) -> anyhow::Result<ServeOptions> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut options = ServeOptions::default();
    options.tsdb.release_memory = Some(release_memory);
    if let Some(listen) = args.listen.or(file.listen) {
        options.listen = listen;
    }
    // OTLP/gRPC on the main port's host, at OTLP's port, unless told otherwise.
    options.otlp_grpc_listen = Some(SocketAddr::new(options.listen.ip(), 4317));
    if let Some(dir) = args.data_dir.clone().or(file.data_dir) {
        options.data_dir = dir;
    }
    let tsdb_file = file.storage.tsdb;
    if let Some(text) = args.retention_time.clone().or(tsdb_file.retention_time) {
        options.tsdb.retention_time = Some(parse_duration(&text).map_err(anyhow::Error::msg)?);
    }
    if let Some(text) = args.retention_size.clone().or(tsdb_file.retention_size) {
        options.tsdb.retention_bytes = Some(parse_size(&text).map_err(anyhow::Error::msg)?);
    }
    if let Some(text) = args.wal_fsync.clone().or(tsdb_file.wal_fsync) {
        options.tsdb.wal.fsync = text.parse().map_err(anyhow::Error::msg)?;
    }
    if let Some(text) = args.block_range.clone().or(tsdb_file.block_range) {
        options.tsdb.block_range = parse_duration(&text)
            .map_err(anyhow::Error::msg)?
            .as_millis() as i64;
        anyhow::ensure!(
            options.tsdb.block_range > 0,
            "the block range must be positive"
        );
    }
    if let Some(text) = args.logs_retention.clone().or(file.storage.logs.retention) {
        let retention = parse_duration(&text).map_err(anyhow::Error::msg)?;
        options.logs.retention = retention;
        options.log_limits.reject_older_than = retention;
    }
    options.logs.fsync = options.tsdb.wal.fsync;
    if let Some(discover) = args
        .logs_discover_log_levels
        .or(file.storage.logs.discover_log_levels)
    {
        options.log_limits.discover_log_levels = discover;
    }
    if let Some(text) = &args.logs_flush_check_period {
        options.logs.flush_check_period = parse_duration(text).map_err(anyhow::Error::msg)?;
    }
    let traces_file = file.storage.traces;
    if let Some(text) = args.traces_retention.clone().or(traces_file.retention) {
        options.traces.retention = parse_duration(&text).map_err(anyhow::Error::msg)?;
    }
    options.traces.fsync = options.tsdb.wal.fsync;
    if let Some(text) = &args.traces_trace_idle {
        options.traces.trace_idle = parse_duration(text).map_err(anyhow::Error::msg)?;
    }
    if let Some(text) = &args.traces_max_flush_wait {
        options.traces.max_flush_wait = parse_duration(text).map_err(anyhow::Error::msg)?;
    }
    if let Some(text) = args
        .traces_metrics_interval
        .clone()
        .or(traces_file.metrics_interval)
    {
        options.span_metrics_interval = parse_duration(&text).map_err(anyhow::Error::msg)?;
    }
    if let Some(text) = args.otlp_grpc_listen.clone().or(file.otlp.grpc_listen) {
        options.otlp_grpc_listen = match text.as_str() {
            "off" | "" => None,
            addr => Some(addr.parse().map_err(|e| {
                anyhow::anyhow!("invalid --otlp.grpc-listen {addr:?}: {e} (use host:port or off)")
            })?),
        };
    }
    options.alertmanager_config = args
        .alertmanager_config
        .clone()
        .or(file.alertmanager.config_file.clone());
    options.external_labels = file.external_labels.clone();
    options.external_url = args.external_url.clone().or(file.external_url.clone());
    options.rule_files = file.rule_files.clone();
    options.rule_files.extend(args.rule_files.iter().cloned());
    if let Some(text) = &file.evaluation_interval {
        options.evaluation_interval = parse_duration(text).map_err(anyhow::Error::msg)?;
    }
    let engine = &mut options.query_limits.engine;
    if let Some(text) = &args.lookback_delta {
        engine.lookback_ms = parse_duration(text)
            .map_err(anyhow::Error::msg)?
            .as_millis() as i64;
    }
    if let Some(text) = &args.query_timeout {
        engine.timeout = parse_duration(text).map_err(anyhow::Error::msg)?;
    }
    if let Some(n) = args.query_max_samples {
        engine.max_samples = n;
    }
    if let Some(n) = args.query_max_concurrency {
        options.query_limits.max_concurrent = n.max(1);
    }
    if let Some(text) = file.remote_write.max_body_size {
        options.write_limits.max_body_bytes =
            parse_size(&text).map_err(anyhow::Error::msg)? as usize;
    }
    if let Some(n) = file.remote_write.max_concurrent_requests {
        options.write_limits.max_concurrent = n.max(1);
    }
    Ok(options)
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let options = resolve(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vigil")
        .build()?;
    let result = runtime.block_on(serve(options));
    // The stores are flushed by now. What still runs on blocking threads
    // is notification deliveries (retrying for minutes when a receiver is
    // down): they are not waited for, and being unlogged they are sent
    // again after the next start.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn inspect(dir: &std::path::Path, list_series: bool) -> anyhow::Result<()> {
    let block = tsdb::block::Block::open(dir)?;
    let meta = block.meta();
    let fmt_time = |t: i64| {
        chrono::DateTime::from_timestamp_millis(t).map_or_else(|| t.to_string(), |d| d.to_rfc3339())
    };
    println!("block        {}", meta.id);
    println!(
        "time range   {} .. {} ({} ms)",
        fmt_time(meta.min_time),
        fmt_time(meta.max_time),
        meta.max_time - meta.min_time
    );
    println!("level        {}", meta.compaction_level);
    println!("series       {}", meta.stats.num_series);
    println!("chunks       {}", meta.stats.num_chunks);
    println!("samples      {}", meta.stats.num_samples);
    println!("bytes        {}", meta.stats.num_bytes);
    println!(
        "bytes/sample {:.3}",
        meta.stats.num_bytes as f64 / meta.stats.num_samples.max(1) as f64
    );
    if list_series {
        for (labels, samples) in block.all_series()? {
            println!("{labels} {}", samples.len());
        }
    }
    Ok(())
}
