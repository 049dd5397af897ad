//! Alertmanager's configuration file, read as Alertmanager reads it
//! (`config/config.go`, `config/notifiers.go`): strict YAML (unknown keys
//! are errors), Alertmanager's defaults, the `global` defaults applied to the
//! receivers, and the same validation rules.
//!
//! Errors found while decoding a value (a bad duration, matcher, regex,
//! label name, time range, unknown key…) carry `line:column`; errors found
//! by the cross-checks afterwards (undefined receiver, duplicate names…)
//! name the field instead.

/// Implements `Deserialize` for a type parsed from a YAML scalar, with the
/// check done inside the visitor so that serde_yaml reports the scalar's
/// own `line:column` and path on error. Numbers are accepted as their text,
/// as Go's yaml.v2 does when decoding into a string.
macro_rules! deserialize_from_str {
    ($t:ty, $parse:expr) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$t, E> {
                        let parse: fn(&str) -> Result<$t, String> = $parse;
                        parse(s).map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$t, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

pub mod duration;
pub mod receivers;
pub mod timeinterval;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer};

use crate::dispatch::matcher::{
    is_valid_label_name, parse_matchers, sort_matchers, MatchType, Matcher,
};

pub use duration::Duration;
pub use receivers::{
    Authorization, BasicAuth, EmailConfig, HostPort, HttpConfig, OAuth2, Receiver, TlsConfig,
    WebhookConfig,
};
pub use timeinterval::{
    DayOfMonthRange, Location, MonthRange, NamedTimeInterval, TimeInterval, TimeRange,
    WeekdayRange, YearRange,
};

/// Default `group_wait` of the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// Default `group_interval` of the root route.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default `repeat_interval` of the root route.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Default `global.resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Found while decoding the YAML; `line` and `column` are 1-based.
    #[error("{line}:{column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A decoding error for which the YAML library gave no position.
    #[error("{message}")]
    Yaml { message: String },
    /// Found by the checks after decoding; `field` names where.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ConfigError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn from_yaml(e: serde_yaml::Error) -> ConfigError {
        let mut message = e.to_string();
        match e.location() {
            Some(loc) => {
                let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_string();
                }
                ConfigError::Syntax {
                    line: loc.line(),
                    column: loc.column(),
                    message,
                }
            }
            None => ConfigError::Yaml { message },
        }
    }
}

/// A parsed, defaulted and validated Alertmanager configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub global: GlobalConfig,
    pub route: RouteConfig,
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    pub receivers: Vec<Receiver>,
    /// Template file globs, kept as written.
    pub templates: Vec<String>,
    /// Legacy top-level `mute_time_intervals` (same shape as `time_intervals`).
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    pub time_intervals: Vec<NamedTimeInterval>,
}

impl Config {
    /// The receiver with this name.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The named time intervals from both `time_intervals` and the legacy
    /// `mute_time_intervals`, by name.
    pub fn named_time_intervals(&self) -> BTreeMap<String, Vec<TimeInterval>> {
        self.mute_time_intervals
            .iter()
            .chain(&self.time_intervals)
            .map(|t| (t.name.clone(), t.time_intervals.clone()))
            .collect()
    }
}

/// `global:`. Defaults are Alertmanager's `DefaultGlobalConfig`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub resolve_timeout: Duration,
    pub http_config: HttpConfig,
    pub smtp_from: String,
    pub smtp_hello: String,
    pub smtp_smarthost: HostPort,
    pub smtp_auth_username: String,
    pub smtp_auth_password: String,
    pub smtp_auth_password_file: String,
    pub smtp_auth_secret: String,
    pub smtp_auth_secret_file: String,
    pub smtp_auth_identity: String,
    pub smtp_require_tls: bool,
    pub smtp_tls_config: TlsConfig,

    // Defaults for integrations that are not modelled: accepted, kept.
    pub slack_api_url: Option<String>,
    pub slack_api_url_file: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub opsgenie_api_key: Option<String>,
    pub opsgenie_api_key_file: Option<String>,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: Option<String>,
    pub wechat_api_corp_id: Option<String>,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: Option<String>,
    pub victorops_api_key_file: Option<String>,
    pub telegram_api_url: Option<String>,
    pub webex_api_url: Option<String>,
    pub jira_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<String>,
    pub rocketchat_token_file: Option<String>,
    pub rocketchat_token_id: Option<String>,
    pub rocketchat_token_id_file: Option<String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            http_config: HttpConfig::default(),
            smtp_from: String::new(),
            smtp_hello: "localhost".into(),
            smtp_smarthost: HostPort::default(),
            smtp_auth_username: String::new(),
            smtp_auth_password: String::new(),
            smtp_auth_password_file: String::new(),
            smtp_auth_secret: String::new(),
            smtp_auth_secret_file: String::new(),
            smtp_auth_identity: String::new(),
            smtp_require_tls: true,
            smtp_tls_config: TlsConfig::default(),
            slack_api_url: None,
            slack_api_url_file: None,
            pagerduty_url: Some("https://events.pagerduty.com/v2/enqueue".into()),
            opsgenie_api_url: Some("https://api.opsgenie.com/".into()),
            opsgenie_api_key: None,
            opsgenie_api_key_file: None,
            wechat_api_url: Some("https://qyapi.weixin.qq.com/cgi-bin/".into()),
            wechat_api_secret: None,
            wechat_api_corp_id: None,
            victorops_api_url: Some(
                "https://alert.victorops.com/integrations/generic/20131114/alert/".into(),
            ),
            victorops_api_key: None,
            victorops_api_key_file: None,
            telegram_api_url: Some("https://api.telegram.org".into()),
            webex_api_url: Some("https://webexapis.com/v1/messages".into()),
            jira_api_url: None,
            rocketchat_api_url: Some("https://open.rocket.chat/".into()),
            rocketchat_token: None,
            rocketchat_token_file: None,
            rocketchat_token_id: None,
            rocketchat_token_id_file: None,
        }
    }
}

/// A node of the routing tree as written (no inheritance applied; see
/// `dispatch::route::Route` for the resolved tree).
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// `None` (or empty) = inherit the parent's receiver.
    pub receiver: Option<String>,
    /// As written; `["..."]` means group by all labels. Empty = inherit.
    #[serde(deserialize_with = "de_group_by")]
    pub group_by: Vec<String>,
    /// Legacy equality matchers (label name → value).
    #[serde(rename = "match", deserialize_with = "de_label_map")]
    pub match_eq: BTreeMap<String, String>,
    /// Legacy regex matchers (label name → pattern, anchored).
    #[serde(deserialize_with = "de_regex_map")]
    pub match_re: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_matchers")]
    pub matchers: Vec<Matcher>,
    #[serde(deserialize_with = "nullable")]
    pub mute_time_intervals: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub active_time_intervals: Vec<String>,
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    #[serde(deserialize_with = "nullable")]
    pub routes: Vec<RouteConfig>,
    pub group_wait: Option<Duration>,
    #[serde(deserialize_with = "de_group_interval")]
    pub group_interval: Option<Duration>,
    #[serde(deserialize_with = "de_repeat_interval")]
    pub repeat_interval: Option<Duration>,
}

impl RouteConfig {
    /// All matchers of this node (legacy `match`, `match_re`, then
    /// `matchers`), in Alertmanager's canonical order.
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let mut ms = legacy_matchers(&self.match_eq, &self.match_re);
        ms.extend(self.matchers.iter().cloned());
        sort_matchers(&mut ms);
        ms
    }

    fn has_matchers(&self) -> bool {
        !self.match_eq.is_empty() || !self.match_re.is_empty() || !self.matchers.is_empty()
    }
}

/// `inhibit_rules[]`.
#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InhibitRuleConfig {
    pub name: Option<String>,
    #[serde(deserialize_with = "de_label_map")]
    pub source_match: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_regex_map")]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_matchers")]
    pub source_matchers: Vec<Matcher>,
    #[serde(deserialize_with = "de_label_map")]
    pub target_match: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_regex_map")]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_matchers")]
    pub target_matchers: Vec<Matcher>,
    #[serde(deserialize_with = "de_label_names")]
    pub equal: Vec<String>,
}

impl InhibitRuleConfig {
    /// Source side: legacy `source_match`, `source_match_re`, then
    /// `source_matchers`.
    pub fn all_source_matchers(&self) -> Vec<Matcher> {
        let mut ms = legacy_matchers(&self.source_match, &self.source_match_re);
        ms.extend(self.source_matchers.iter().cloned());
        ms
    }

    /// Target side, built the same way.
    pub fn all_target_matchers(&self) -> Vec<Matcher> {
        let mut ms = legacy_matchers(&self.target_match, &self.target_match_re);
        ms.extend(self.target_matchers.iter().cloned());
        ms
    }
}

fn legacy_matchers(eq: &BTreeMap<String, String>, re: &BTreeMap<String, String>) -> Vec<Matcher> {
    let mut ms = Vec::new();
    for (k, v) in eq {
        ms.extend(Matcher::new(MatchType::Equal, k, v).ok());
    }
    for (k, v) in re {
        // Validated at parse time, so this cannot fail.
        ms.extend(Matcher::new(MatchType::Regexp, k, v).ok());
    }
    ms
}

// ---- deserialisation helpers (their errors get a line:column) ----

/// A YAML `null` (e.g. `routes:` with nothing after it) reads as the
/// default, as Go's yaml.v2 leaves the field empty.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One `matchers:` list entry (may hold several comma-separated matchers).
struct MatcherLine(Vec<Matcher>);
deserialize_from_str!(MatcherLine, |s| parse_matchers(s)
    .map(MatcherLine)
    .map_err(|e| e.to_string()));

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LabelName(String);
deserialize_from_str!(LabelName, |s| if is_valid_label_name(s) {
    Ok(LabelName(s.to_string()))
} else {
    Err(format!("invalid label name {s:?}"))
});

struct EqualLabel(String);
deserialize_from_str!(EqualLabel, |s| if is_valid_label_name(s) {
    Ok(EqualLabel(s.to_string()))
} else {
    Err(format!("invalid label name {s:?} in equal list"))
});

struct GroupByLabel(String);
deserialize_from_str!(GroupByLabel, |s| if s == "..." || is_valid_label_name(s) {
    Ok(GroupByLabel(s.to_string()))
} else {
    Err(format!("invalid label name {s:?} in group_by list"))
});

struct RegexValue(String);
deserialize_from_str!(RegexValue, |s| Matcher::new(MatchType::Regexp, "", s)
    .map(|_| RegexValue(s.to_string()))
    .map_err(|e| format!("invalid regexp value: {e}")));

struct GroupInterval(Duration);
deserialize_from_str!(GroupInterval, |s| match duration::parse_duration(s)? {
    d if d.is_zero() => Err("group_interval cannot be zero".into()),
    d => Ok(GroupInterval(d)),
});

struct RepeatInterval(Duration);
deserialize_from_str!(RepeatInterval, |s| match duration::parse_duration(s)? {
    d if d.is_zero() => Err("repeat_interval cannot be zero".into()),
    d => Ok(RepeatInterval(d)),
});

fn de_matchers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Matcher>, D::Error> {
    let lines: Vec<MatcherLine> = nullable(d)?;
    let mut out: Vec<Matcher> = lines.into_iter().flat_map(|l| l.0).collect();
    sort_matchers(&mut out);
    Ok(out)
}

fn de_label_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m: BTreeMap<LabelName, String> = nullable(d)?;
    Ok(m.into_iter().map(|(k, v)| (k.0, v)).collect())
}

fn de_regex_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m: BTreeMap<LabelName, RegexValue> = nullable(d)?;
    Ok(m.into_iter().map(|(k, v)| (k.0, v.0)).collect())
}

fn de_label_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v: Vec<EqualLabel> = nullable(d)?;
    Ok(v.into_iter().map(|l| l.0).collect())
}

/// Element checks are exact; the list-level checks (duplicates, `...`
/// mixed with names) are reported at the enclosing route.
fn de_group_by<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let v: Vec<GroupByLabel> = nullable(d)?;
    let v: Vec<String> = v.into_iter().map(|l| l.0).collect();
    let mut seen = BTreeSet::new();
    let mut all = false;
    for l in &v {
        if l == "..." {
            all = true;
        } else if !seen.insert(l.as_str()) {
            return Err(D::Error::custom(format!(
                "duplicated label {l:?} in group_by"
            )));
        }
    }
    if all && !seen.is_empty() {
        return Err(D::Error::custom(
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        ));
    }
    Ok(v)
}

fn de_group_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<GroupInterval>::deserialize(d)?.map(|v| v.0))
}

fn de_repeat_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<RepeatInterval>::deserialize(d)?.map(|v| v.0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<GlobalConfig>,
    #[serde(default)]
    route: Option<RouteConfig>,
    #[serde(default, deserialize_with = "nullable")]
    inhibit_rules: Vec<InhibitRuleConfig>,
    #[serde(default, deserialize_with = "nullable")]
    receivers: Vec<Receiver>,
    #[serde(default, deserialize_with = "nullable")]
    templates: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    mute_time_intervals: Vec<NamedTimeInterval>,
    #[serde(default, deserialize_with = "nullable")]
    time_intervals: Vec<NamedTimeInterval>,
}

/// Parses, defaults and validates an Alertmanager configuration file.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let is_empty = serde_yaml::from_str::<serde_yaml::Value>(text)
        .map(|v| v.is_null())
        .unwrap_or(false);
    if is_empty {
        return Err(ConfigError::invalid("route", "no route provided in config"));
    }
    let raw: RawConfig = serde_yaml::from_str(text).map_err(ConfigError::from_yaml)?;
    let global = raw.global.unwrap_or_default();
    let route = raw
        .route
        .ok_or_else(|| ConfigError::invalid("route", "no route provided in config"))?;
    if route.continue_matching {
        return Err(ConfigError::invalid(
            "route.continue",
            "cannot have continue in root route",
        ));
    }
    global
        .http_config
        .validate()
        .map_err(|m| ConfigError::invalid("global.http_config", m))?;
    global
        .smtp_tls_config
        .validate()
        .map_err(|m| ConfigError::invalid("global.smtp_tls_config", m))?;

    let mut receivers = raw.receivers;
    let mut names = BTreeSet::new();
    for (i, rcv) in receivers.iter_mut().enumerate() {
        let at = format!("receivers[{i}]");
        if rcv.name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{at}.name"),
                "missing name in receiver",
            ));
        }
        if !names.insert(rcv.name.clone()) {
            return Err(ConfigError::invalid(
                format!("{at}.name"),
                format!("notification config name {:?} is not unique", rcv.name),
            ));
        }
        for (j, wh) in rcv.webhook_configs.iter_mut().enumerate() {
            apply_webhook_defaults(wh, &global)
                .map_err(|m| ConfigError::invalid(format!("{at}.webhook_configs[{j}]"), m))?;
        }
        for (j, ec) in rcv.email_configs.iter_mut().enumerate() {
            apply_email_defaults(ec, &global)
                .map_err(|m| ConfigError::invalid(format!("{at}.email_configs[{j}]"), m))?;
        }
    }

    if route.receiver.as_deref().unwrap_or("").is_empty() {
        return Err(ConfigError::invalid(
            "route.receiver",
            "root route must specify a default receiver",
        ));
    }
    if route.has_matchers() {
        return Err(ConfigError::invalid(
            "route",
            "root route must not have any matchers",
        ));
    }
    if !route.mute_time_intervals.is_empty() {
        return Err(ConfigError::invalid(
            "route.mute_time_intervals",
            "root route must not have any mute time intervals",
        ));
    }
    if !route.active_time_intervals.is_empty() {
        return Err(ConfigError::invalid(
            "route.active_time_intervals",
            "root route must not have any active time intervals",
        ));
    }
    check_receivers(&route, "route", &names)?;

    let mut ti_names = BTreeSet::new();
    for (list, key, what) in [
        (
            &raw.mute_time_intervals,
            "mute_time_intervals",
            "mute time interval",
        ),
        (&raw.time_intervals, "time_intervals", "time interval"),
    ] {
        for (i, ti) in list.iter().enumerate() {
            if ti.name.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}[{i}].name"),
                    format!("missing name in {what}"),
                ));
            }
            if !ti_names.insert(ti.name.clone()) {
                return Err(ConfigError::invalid(
                    format!("{key}[{i}].name"),
                    format!("{what} {:?} is not unique", ti.name),
                ));
            }
        }
    }
    check_time_intervals(&route, "route", &ti_names)?;

    Ok(Config {
        global,
        route,
        inhibit_rules: raw.inhibit_rules,
        receivers,
        templates: raw.templates,
        mute_time_intervals: raw.mute_time_intervals,
        time_intervals: raw.time_intervals,
    })
}

fn apply_webhook_defaults(wh: &mut WebhookConfig, global: &GlobalConfig) -> Result<(), String> {
    let url = wh.url.as_deref().filter(|s| !s.is_empty());
    let url_file = wh.url_file.as_deref().filter(|s| !s.is_empty());
    match (url, url_file) {
        (None, None) => return Err("one of url or url_file must be configured".into()),
        (Some(_), Some(_)) => return Err("at most one of url & url_file must be configured".into()),
        (Some(u), None) => receivers::validate_http_url(u)?,
        _ => {}
    }
    match &wh.http_config {
        Some(h) => h.validate()?,
        None => wh.http_config = Some(global.http_config.clone()),
    }
    Ok(())
}

fn apply_email_defaults(ec: &mut EmailConfig, g: &GlobalConfig) -> Result<(), String> {
    if ec.to.is_empty() {
        return Err("missing to address in email config".into());
    }
    let mut headers = BTreeMap::new();
    for (h, v) in std::mem::take(&mut ec.headers) {
        let n = receivers::title_case_header(&h);
        if headers.insert(n.clone(), v).is_some() {
            return Err(format!("duplicate header {n:?} in email config"));
        }
    }
    ec.headers = headers;
    if ec.tls_config.is_none() {
        ec.tls_config = Some(g.smtp_tls_config.clone());
    }
    if let Some(t) = &ec.tls_config {
        t.validate()?;
    }
    if ec.smarthost.is_empty() {
        if g.smtp_smarthost.is_empty() {
            return Err("no global SMTP smarthost set".into());
        }
        ec.smarthost = g.smtp_smarthost.clone();
    }
    if ec.from.is_empty() {
        if g.smtp_from.is_empty() {
            return Err("no global SMTP from set".into());
        }
        ec.from = g.smtp_from.clone();
    }
    if ec.hello.is_empty() {
        ec.hello = g.smtp_hello.clone();
    }
    if ec.auth_username.is_empty() {
        ec.auth_username = g.smtp_auth_username.clone();
    }
    if ec.auth_password.is_empty() && ec.auth_password_file.is_empty() {
        ec.auth_password = g.smtp_auth_password.clone();
        ec.auth_password_file = g.smtp_auth_password_file.clone();
    }
    if ec.auth_secret.is_empty() && ec.auth_secret_file.is_empty() {
        ec.auth_secret = g.smtp_auth_secret.clone();
        ec.auth_secret_file = g.smtp_auth_secret_file.clone();
    }
    if ec.auth_identity.is_empty() {
        ec.auth_identity = g.smtp_auth_identity.clone();
    }
    if ec.require_tls.is_none() {
        ec.require_tls = Some(g.smtp_require_tls);
    }
    Ok(())
}

fn check_receivers(r: &RouteConfig, at: &str, names: &BTreeSet<String>) -> Result<(), ConfigError> {
    for (i, child) in r.routes.iter().enumerate() {
        check_receivers(child, &format!("{at}.routes[{i}]"), names)?;
    }
    match r.receiver.as_deref() {
        Some(name) if !name.is_empty() && !names.contains(name) => Err(ConfigError::invalid(
            format!("{at}.receiver"),
            format!("undefined receiver {name:?} used in route"),
        )),
        _ => Ok(()),
    }
}

fn check_time_intervals(
    r: &RouteConfig,
    at: &str,
    names: &BTreeSet<String>,
) -> Result<(), ConfigError> {
    for (i, child) in r.routes.iter().enumerate() {
        check_time_intervals(child, &format!("{at}.routes[{i}]"), names)?;
    }
    for (key, list) in [
        ("active_time_intervals", &r.active_time_intervals),
        ("mute_time_intervals", &r.mute_time_intervals),
    ] {
        if let Some(n) = list.iter().find(|n| !names.contains(*n)) {
            return Err(ConfigError::invalid(
                format!("{at}.{key}"),
                format!("undefined time interval {n:?} used in route"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
