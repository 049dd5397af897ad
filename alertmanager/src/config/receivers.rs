//! Receivers and their integrations (`config/notifiers.go`), and the HTTP
//! client settings from Prometheus' common config (`http_config`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::duration::Duration;
use super::nullable;

/// A receiver: a name and its integrations. Only webhook and email are
/// modelled; the other integration kinds Alertmanager knows are accepted
/// and kept as raw YAML so that real configs load.
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub email_configs: Vec<EmailConfig>,

    // Integrations that are parsed but not modelled (kept verbatim).
    #[serde(default)]
    pub discord_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub incidentio_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub pagerduty_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub slack_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub opsgenie_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub wechat_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub pushover_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub victorops_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub sns_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub telegram_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub webex_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub msteams_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub msteamsv2_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub jira_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub rocketchat_configs: Option<serde_yaml::Value>,
    #[serde(default)]
    pub mattermost_configs: Option<serde_yaml::Value>,
}

/// `webhook_configs[]`. `http_config` is `None` as parsed when absent and
/// is filled with `global.http_config` by [`super::parse`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub send_resolved: bool,
    pub url: Option<String>,
    pub url_file: Option<String>,
    pub http_config: Option<HttpConfig>,
    /// 0 = no limit.
    pub max_alerts: u64,
    pub timeout: Option<Duration>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            send_resolved: true,
            url: None,
            url_file: None,
            http_config: None,
            max_alerts: 0,
            timeout: None,
        }
    }
}

/// The default HTML body of an email (Alertmanager's `DefaultEmailConfig`).
pub const DEFAULT_EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;

/// `email_configs[]`. Empty strings mean "unset" as in Alertmanager; after
/// [`super::parse`] the global `smtp_*` defaults have been applied.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub send_resolved: bool,
    pub to: String,
    pub from: String,
    pub hello: String,
    pub smarthost: HostPort,
    pub auth_username: String,
    pub auth_password: String,
    pub auth_password_file: String,
    pub auth_secret: String,
    pub auth_secret_file: String,
    pub auth_identity: String,
    /// Header names normalised to title case (`subject` → `Subject`).
    pub headers: BTreeMap<String, String>,
    pub html: String,
    pub text: String,
    pub require_tls: Option<bool>,
    pub force_implicit_tls: Option<bool>,
    pub tls_config: Option<TlsConfig>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            send_resolved: false,
            to: String::new(),
            from: String::new(),
            hello: String::new(),
            smarthost: HostPort::default(),
            auth_username: String::new(),
            auth_password: String::new(),
            auth_password_file: String::new(),
            auth_secret: String::new(),
            auth_secret_file: String::new(),
            auth_identity: String::new(),
            headers: BTreeMap::new(),
            html: DEFAULT_EMAIL_HTML.to_string(),
            text: String::new(),
            require_tls: None,
            force_implicit_tls: None,
            tls_config: None,
        }
    }
}

/// `host:port` (Go's `net.SplitHostPort`, port required). Empty = unset.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HostPort {
    pub host: String,
    pub port: String,
}

impl HostPort {
    pub fn is_empty(&self) -> bool {
        self.host.is_empty() && self.port.is_empty()
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(HostPort::default());
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest
                .split_once(']')
                .ok_or_else(|| format!("address {s}: missing ']' in address"))?;
            let p = p
                .strip_prefix(':')
                .ok_or_else(|| format!("address {s}: missing port in address"))?;
            (h.to_string(), p.to_string())
        } else {
            let (h, p) = s
                .rsplit_once(':')
                .ok_or_else(|| format!("address {s}: missing port in address"))?;
            if h.contains(':') {
                return Err(format!("address {s}: too many colons in address"));
            }
            (h.to_string(), p.to_string())
        };
        if port.is_empty() {
            return Err(format!("address {s:?}: port cannot be empty"));
        }
        Ok(HostPort { host, port })
    }
}

/// Prometheus' common `HTTPClientConfig` (the fields Alertmanager users set).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub oauth2: Option<OAuth2>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    pub tls_config: TlsConfig,
    pub proxy_url: Option<String>,
    pub no_proxy: Option<String>,
    pub proxy_from_environment: bool,
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    pub username: String,
    pub username_file: String,
    pub password: String,
    pub password_file: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authorization {
    /// Defaults to `Bearer` when empty.
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials: String,
    pub credentials_file: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2 {
    pub client_id: String,
    pub client_secret: String,
    pub client_secret_file: String,
    pub scopes: Vec<String>,
    pub token_url: String,
    pub endpoint_params: BTreeMap<String, String>,
    pub tls_config: TlsConfig,
    pub proxy_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub ca: String,
    pub ca_file: String,
    pub cert: String,
    pub cert_file: String,
    pub key: String,
    pub key_file: String,
    pub server_name: String,
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

/// A PEM given inline (`ca`, `cert`, `key`) or as a file (`*_file`);
/// `None` when neither is set. `what` names it in the error.
pub fn read_pem(inline: &str, file: &str, what: &str) -> Result<Option<Vec<u8>>, String> {
    if !inline.is_empty() {
        return Ok(Some(inline.as_bytes().to_vec()));
    }
    if file.is_empty() {
        return Ok(None);
    }
    std::fs::read(file)
        .map(Some)
        .map_err(|e| format!("reading tls_config {what} {file}: {e}"))
}

impl TlsConfig {
    /// Prometheus common `TLSConfig.Validate`.
    pub fn validate(&self) -> Result<(), String> {
        let one = |a: &str, b: &str, what: &str| {
            if !a.is_empty() && !b.is_empty() {
                Err(format!(
                    "at most one of {what} & {what}_file must be configured"
                ))
            } else {
                Ok(())
            }
        };
        one(&self.ca, &self.ca_file, "ca")?;
        one(&self.cert, &self.cert_file, "cert")?;
        one(&self.key, &self.key_file, "key")?;
        let has_cert = !self.cert.is_empty() || !self.cert_file.is_empty();
        let has_key = !self.key.is_empty() || !self.key_file.is_empty();
        if has_cert && !has_key {
            return Err(
                "exactly one of key or key_file must be configured when a client certificate is configured"
                    .into(),
            );
        }
        if has_key && !has_cert {
            return Err(
                "exactly one of cert or cert_file must be configured when a client key is configured"
                    .into(),
            );
        }
        for v in [&self.min_version, &self.max_version].into_iter().flatten() {
            if !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13") {
                return Err(format!("unknown TLS version: {v}"));
            }
        }
        Ok(())
    }
}

impl HttpConfig {
    /// Prometheus common `HTTPClientConfig.Validate` (the checks that do
    /// not touch the file system).
    pub fn validate(&self) -> Result<(), String> {
        let bearer = self.bearer_token.as_deref().is_some_and(|s| !s.is_empty());
        let bearer_file = self
            .bearer_token_file
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        if bearer && bearer_file {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        let n = [
            self.basic_auth.is_some(),
            self.oauth2.is_some(),
            bearer || bearer_file,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n > 1 {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth {
            if !b.username.is_empty() && !b.username_file.is_empty() {
                return Err(
                    "at most one of basic_auth username & username_file must be configured".into(),
                );
            }
            if !b.password.is_empty() && !b.password_file.is_empty() {
                return Err(
                    "at most one of basic_auth password & password_file must be configured".into(),
                );
            }
        }
        if let Some(a) = &self.authorization {
            if bearer || bearer_file {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        }
        if let Some(o) = &self.oauth2 {
            if o.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if o.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            o.tls_config.validate()?;
        }
        self.tls_config.validate()
    }

    /// The effective `Authorization` header scheme, if any: `bearer_token`
    /// is turned into `Bearer` credentials as Prometheus' client does.
    pub fn effective_authorization(&self) -> Option<Authorization> {
        if let Some(a) = &self.authorization {
            let mut a = a.clone();
            if a.kind.is_empty() {
                a.kind = "Bearer".into();
            }
            return Some(a);
        }
        match (&self.bearer_token, &self.bearer_token_file) {
            (Some(t), _) if !t.is_empty() => Some(Authorization {
                kind: "Bearer".into(),
                credentials: t.clone(),
                credentials_file: String::new(),
            }),
            (_, Some(f)) if !f.is_empty() => Some(Authorization {
                kind: "Bearer".into(),
                credentials: String::new(),
                credentials_file: f.clone(),
            }),
            _ => None,
        }
    }
}

/// Normalises an email header name as Alertmanager (title case per word:
/// `x-mailer` → `X-Mailer`, `sUbject` → `Subject`).
pub fn title_case_header(h: &str) -> String {
    let mut out = String::with_capacity(h.len());
    let mut start = true;
    for c in h.chars() {
        if c.is_alphanumeric() || c == '\'' {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// Alertmanager's URL check for webhook URLs: scheme http or https, and a
/// host.
pub fn validate_http_url(s: &str) -> Result<(), String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| format!("unsupported scheme \"\" for URL {s:?}"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?} for URL"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return Err("missing host for URL".into());
    }
    Ok(())
}

deserialize_from_str!(HostPort, |s| HostPort::try_from(s.to_string()));
