//! The optional YAML config file (`--config vigil.yaml`). Every field has a
//! default, so no file is needed; command-line flags override the file.
//! Unknown keys are errors, reported with their line and column.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub remote_write: RemoteWriteConfig,
    #[serde(default)]
    pub otlp: OtlpConfig,
    /// Prometheus rule files (globs), as Prometheus' `rule_files`.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Prometheus' `global.evaluation_interval`, e.g. `30s`.
    pub evaluation_interval: Option<String>,
    /// Prometheus' `global.external_labels`: added to the alerts Vigil's
    /// rules send (where the alert does not have the label) and shown to
    /// templates as `$externalLabels`.
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// The URL Vigil is reached at (`--web.external-url`): in
    /// notifications, alerts' generator URLs and `$externalURL`.
    pub external_url: Option<String>,
    #[serde(default)]
    pub alertmanager: AlertmanagerConfig,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// An Alertmanager YAML config.
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// `host:port` for OTLP/gRPC besides the main port, or `off`.
    pub grpc_listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// e.g. `7d`: trace segments older than this are deleted.
    pub retention: Option<String>,
    /// e.g. `15s`: how often span metrics are written.
    pub metrics_interval: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub tsdb: TsdbConfig,
    #[serde(default)]
    pub logs: LogsConfig,
    #[serde(default)]
    pub traces: TracesConfig,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// e.g. `7d`: log partitions older than this are deleted.
    pub retention: Option<String>,
    /// Loki's `discover_log_levels`: derive `detected_level` for each line.
    pub discover_log_levels: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TsdbConfig {
    /// e.g. `15d`.
    pub retention_time: Option<String>,
    /// e.g. `50GB`, `512MiB`.
    pub retention_size: Option<String>,
    /// e.g. `2h`.
    pub block_range: Option<String>,
    /// `always`, `never`, or a period such as `1s`.
    pub wal_fsync: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub max_body_size: Option<String>,
    pub max_concurrent_requests: Option<usize>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        FileConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
    }

    /// Parses config text; errors read `line:column: reason`.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(loc) => format!("{}:{}: {e}", loc.line(), loc.column()),
            None => e.to_string(),
        })
    }
}

/// Parses `15d`, `2h30m` (Prometheus duration syntax).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    tsdb::wal::parse_duration(text)
        .ok_or_else(|| format!("invalid duration {text:?}: use e.g. 30s, 5m, 2h, 15d"))
}

/// Parses `512MB`, `10GiB`, `1TB` or a plain number of bytes. Like Prometheus'
/// `--storage.tsdb.retention.size`, the units are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(|b| b.is_ascii_digit()).count();
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("invalid size {text:?}: use e.g. 512MB or 10GB"))?;
    let multiplier: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        "PB" | "PiB" => 1 << 50,
        _ => return Err(format!("invalid size {text:?}: use e.g. 512MB or 10GB")),
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_all_defaults() {
        let config = FileConfig::parse("").unwrap();
        assert!(config.listen.is_none());
    }

    #[test]
    fn errors_name_the_line() {
        let err =
            FileConfig::parse("listen: 127.0.0.1:9700\nstorage:\n  tsdb:\n    retention_tme: 1d\n")
                .unwrap_err();
        assert!(err.starts_with("4:"), "{err}");
        assert!(err.contains("retention_tme"), "{err}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("ten").is_err());
        assert_eq!(parse_duration("15d"), Ok(Duration::from_secs(15 * 86400)));
        assert!(parse_duration("forever").is_err());
    }
}
