//! The email receiver (Alertmanager's `notify/email`): rendering a
//! notification as Alertmanager's default email, and sending it over SMTP
//! with `lettre`'s blocking client (call [`send`] from a blocking thread).
//!
//! Rendering, as Alertmanager's template data (`template.Data`):
//! - the `Subject` header defaults to `{{ template "email.default.subject" . }}`,
//!   reproduced exactly: `[FIRING:2] InstanceDown (node)`, with label values
//!   in `KV.SortedPairs` order (`alertname` first, then by name) and the
//!   trailing space Alertmanager leaves when no label is common beyond the
//!   group labels (`[RESOLVED] InstanceDown `);
//! - `To` and `From` headers default to the `to` and `from` settings; the
//!   configured `headers` override them;
//! - the HTML body (`{{ template "email.default.html" . }}`, the default) has
//!   the structure and content of Alertmanager's: "N alerts for k=v", a
//!   "View in Alertmanager" link (`<external URL>/#/alerts?receiver=...`), the
//!   firing then the resolved alerts with their labels, annotations and
//!   `Source` link, and "Sent by Alertmanager"; it is not byte-identical to
//!   Alertmanager's styled template. Values are escaped as Go's
//!   `html/template` escapes text (`&<>"'+`), and links pass its URL filter
//!   and normaliser;
//! - as in Alertmanager, there is a `text/plain` part only when `text` is
//!   set ([`default_text`] gives a plain-text body for a driver that wants
//!   one).
//!
//! Custom templates (`to`, `from`, `headers`, `html`, `text`): no template
//! engine yet. Text without `{{` is used as is; actions are limited to simple
//! field substitution: `.Status`, `.Receiver`, `.ExternalURL`,
//! `.GroupLabels.NAME`, `.CommonLabels.NAME`, `.CommonAnnotations.NAME`,
//! `index .X "name"`, `len`/`| len` of `.Alerts`, `.Alerts.Firing`,
//! `.Alerts.Resolved`, the pipes `toUpper`, `toLower`, `urlquery`, `title`,
//! comments, `{{-`/`-}}` trimming, and the templates `email.default.subject`,
//! `email.default.html`, `__subject`, `__alertmanager`,
//! `__alertmanagerURL` and `__text_alert_list` (of `.Alerts`,
//! `.Alerts.Firing` or `.Alerts.Resolved`). Anything else (`range`, `if`,
//! user-defined templates, other functions) makes [`render`] fail with an
//! "unsupported template" error.
//!
//! Sending follows Alertmanager's `Notify`: implicit TLS when the port is
//! 465 or `force_implicit_tls` is true; otherwise plain SMTP, upgraded with
//! STARTTLS when `require_tls` (an error if the server does not offer it);
//! `EHLO <hello>`; AUTH PLAIN or LOGIN with `auth_username` and
//! `auth_password` (or `auth_password_file`) when the server advertises
//! AUTH and a username is set; `MAIL FROM`, `RCPT TO` per address, `DATA`.

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::header::{Date, HeaderName, HeaderValue, Headers};
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    Certificate, CertificateStore, Identity, SmtpConnection, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::commands::{Data as DataCmd, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension};

use super::alert::{Alert, LabelSet};
use super::webhook::{common, Notification};
use crate::config::receivers::{EmailConfig, TlsConfig};

/// Alertmanager's default `Subject` header (`DefaultEmailSubject`).
pub const DEFAULT_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;

/// How long [`send`] waits for the connection and for each SMTP reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A rendered email, ready for [`send`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The `Subject` header's value.
    pub subject: String,
    /// The `text/plain` part (only when `text` is configured).
    pub text: Option<String>,
    /// The `text/html` part (unless `html` is configured empty).
    pub html: Option<String>,
    /// Every header written, `Subject`, `To` and `From` included, by name.
    pub headers: Vec<(String, String)>,
    /// The envelope sender (`MAIL FROM`), as written (`Name <a@b>` or `a@b`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`), one address each.
    pub to: Vec<String>,
}

/// Why [`send`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Bad settings or addresses: retrying will not help.
    #[error("invalid email settings: {0}")]
    Config(String),
    #[error("connecting to SMTP smarthost {addr}: {msg}")]
    Connect { addr: String, msg: String },
    #[error("TLS with SMTP smarthost {addr}: {msg}")]
    Tls { addr: String, msg: String },
    #[error("SMTP authentication as {username:?} failed: {msg}")]
    Auth { username: String, msg: String },
    #[error("sender {from} rejected: {msg}")]
    SenderRejected { from: String, msg: String },
    #[error("recipient {recipient} rejected: {msg}")]
    RecipientRejected { recipient: String, msg: String },
    #[error("message rejected: {msg}")]
    DataRejected { msg: String },
}

impl SendError {
    /// Whether Alertmanager would retry (everything but bad settings).
    pub fn retryable(&self) -> bool {
        !matches!(self, SendError::Config(_))
    }
}

/// `template.Data` as the email templates see it.
struct Data<'a> {
    /// `regexp.QuoteMeta(receiver)`, as Alertmanager passes it.
    receiver: String,
    status: &'static str,
    alerts: Vec<&'a Alert>,
    firing: Vec<&'a Alert>,
    resolved: Vec<&'a Alert>,
    group_labels: &'a LabelSet,
    common_labels: LabelSet,
    common_annotations: LabelSet,
    external_url: &'a str,
}

impl<'a> Data<'a> {
    fn new(n: &Notification<'a>) -> Data<'a> {
        let (firing, resolved): (Vec<&Alert>, Vec<&Alert>) =
            n.alerts.iter().partition(|a| !a.resolved_at(n.now_ms));
        let labels: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.annotations).collect();
        Data {
            receiver: quote_meta(n.receiver),
            status: if firing.is_empty() {
                "resolved"
            } else {
                "firing"
            },
            alerts: n.alerts.iter().collect(),
            firing,
            resolved,
            group_labels: n.group_labels,
            common_labels: common(&labels),
            common_annotations: common(&annotations),
            external_url: n.external_url,
        }
    }
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Go's `url.QueryEscape` (the `urlquery` template function).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Go `html/template`'s escaping of text and quoted attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go `html/template`'s treatment of a value at the start of an `href`:
/// unsafe schemes become `#ZgotmplZ`, the URL is normalised (bytes outside
/// RFC 3986's sets percent-encoded), then attribute-escaped.
fn html_url(s: &str) -> String {
    if let Some((scheme, _)) = s.split_once(':') {
        if !scheme.contains('/')
            && !["http", "https", "mailto"]
                .iter()
                .any(|ok| scheme.eq_ignore_ascii_case(ok))
        {
            return "#ZgotmplZ".to_string();
        }
    }
    let bytes = s.as_bytes();
    let mut norm = String::with_capacity(s.len());
    for (i, &c) in bytes.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' | b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit()
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            norm.push(c as char);
        } else {
            let _ = write!(norm, "%{c:02x}");
        }
    }
    html_escape(&norm)
}

/// `KV.SortedPairs`: `alertname` first, then by name.
fn sorted_pairs(kv: &LabelSet) -> Vec<(&str, &str)> {
    let mut pairs: Vec<(&str, &str)> = kv
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort();
    if let Some(v) = kv.get("alertname") {
        pairs.insert(0, ("alertname", v.as_str()));
    }
    pairs
}

fn values(kv: &LabelSet) -> String {
    sorted_pairs(kv)
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `{{ template "__subject" . }}`.
fn subject(d: &Data<'_>) -> String {
    let mut s = format!("[{}", d.status.to_uppercase());
    if d.status == "firing" {
        let _ = write!(s, ":{}", d.firing.len());
    }
    let _ = write!(s, "] {} ", values(d.group_labels));
    if d.common_labels.len() > d.group_labels.len() {
        let rest: LabelSet = d
            .common_labels
            .iter()
            .filter(|(k, _)| !d.group_labels.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        s.push('(');
        if !rest.is_empty() {
            s.push_str(&values(&rest));
        }
        s.push(')');
    }
    s
}

/// `{{ template "__alertmanagerURL" . }}`.
fn alertmanager_url(d: &Data<'_>) -> String {
    format!(
        "{}/#/alerts?receiver={}",
        d.external_url,
        query_escape(&d.receiver)
    )
}

/// `{{ template "__text_alert_list" . }}`.
fn text_alert_list(alerts: &[&Alert]) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str("Labels:\n");
        for (k, v) in sorted_pairs(&a.labels) {
            let _ = writeln!(s, " - {k} = {v}");
        }
        s.push_str("Annotations:\n");
        for (k, v) in sorted_pairs(&a.annotations) {
            let _ = writeln!(s, " - {k} = {v}");
        }
        let _ = writeln!(s, "Source: {}", a.generator_url);
    }
    s
}

fn text_body(d: &Data<'_>) -> String {
    let mut s = format!(
        "{} alert{} for {}\n",
        d.alerts.len(),
        if d.alerts.len() > 1 { "s" } else { "" },
        sorted_pairs(d.group_labels)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(s, "View in Alertmanager: {}", alertmanager_url(d));
    if !d.firing.is_empty() {
        let _ = write!(
            s,
            "\n[{}] Firing\n{}",
            d.firing.len(),
            text_alert_list(&d.firing)
        );
    }
    if !d.resolved.is_empty() {
        let _ = write!(
            s,
            "\n[{}] Resolved\n{}",
            d.resolved.len(),
            text_alert_list(&d.resolved)
        );
    }
    let _ = write!(s, "\nSent by Alertmanager {}\n", d.external_url);
    s
}

/// A plain-text counterpart of the default HTML body (Alertmanager has
/// none; for a driver that wants a `text/plain` part).
pub fn default_text(n: &Notification<'_>) -> String {
    text_body(&Data::new(n))
}

const FONT: &str = "font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; box-sizing: border-box; font-size: 14px; margin: 0;";
const CELL: &str = "font-family: 'Helvetica Neue', Helvetica, Arial, sans-serif; box-sizing: border-box; font-size: 14px; vertical-align: top; margin: 0; padding: 0 0 20px;";

fn html_alerts(out: &mut String, alerts: &[&Alert]) {
    for a in alerts {
        let _ = write!(
            out,
            "<tr style=\"{FONT}\"><td style=\"{CELL}\" valign=\"top\">\n<strong style=\"{FONT}\">Labels</strong><br />\n"
        );
        for (k, v) in sorted_pairs(&a.labels) {
            let _ = writeln!(out, "{} = {}<br />", html_escape(k), html_escape(v));
        }
        if !a.annotations.is_empty() {
            let _ = writeln!(out, "<strong style=\"{FONT}\">Annotations</strong><br />");
        }
        for (k, v) in sorted_pairs(&a.annotations) {
            let _ = writeln!(out, "{} = {}<br />", html_escape(k), html_escape(v));
        }
        let _ = writeln!(
            out,
            "<a href=\"{}\" style=\"{FONT} color: #348eda; text-decoration: underline;\">Source</a><br />\n</td></tr>",
            html_url(&a.generator_url)
        );
    }
}

/// `{{ template "email.default.html" . }}`: Alertmanager's content and
/// structure, a simpler style.
fn default_html(d: &Data<'_>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\n<head>\n\
         <meta name=\"viewport\" content=\"width=device-width\" />\n\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
         <title>{}</title>\n</head>\n\
         <body style=\"{FONT} background-color: #f6f6f6; line-height: 1.6em;\" bgcolor=\"#f6f6f6\">\n\
         <table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"{FONT} max-width: 600px; margin: 0 auto; background-color: #fff; border: 1px solid #e9e9e9; border-radius: 3px;\" bgcolor=\"#fff\">\n\
         <tr style=\"{FONT}\"><td style=\"{FONT} font-size: 16px; color: #fff; font-weight: 500; text-align: center; background-color: #E6522C; padding: 20px;\" align=\"center\" bgcolor=\"#E6522C\" valign=\"top\">\n",
        html_escape(&subject(d))
    );
    let _ = write!(
        s,
        "{} alert{} for",
        d.alerts.len(),
        if d.alerts.len() > 1 { "s" } else { "" }
    );
    for (k, v) in sorted_pairs(d.group_labels) {
        let _ = write!(s, "\n{}={}", html_escape(k), html_escape(v));
    }
    let _ = write!(
        s,
        "\n</td></tr>\n<tr style=\"{FONT}\"><td style=\"{FONT} padding: 10px;\" valign=\"top\">\n\
         <table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"{FONT}\">\n\
         <tr style=\"{FONT}\"><td style=\"{CELL}\" valign=\"top\">\
         <a href=\"{}/#/alerts?receiver={}\" style=\"{FONT} color: #FFF; text-decoration: none; line-height: 2em; font-weight: bold; text-align: center; display: inline-block; border-radius: 5px; background-color: #348eda; border-color: #348eda; border-style: solid; border-width: 10px 20px;\">View in Alertmanager</a>\
         </td></tr>\n",
        html_url(d.external_url),
        html_escape(&query_escape(&d.receiver))
    );
    if !d.firing.is_empty() {
        let _ = writeln!(
            s,
            "<tr style=\"{FONT}\"><td style=\"{CELL}\" valign=\"top\"><strong style=\"{FONT}\">[{}] Firing</strong></td></tr>",
            d.firing.len()
        );
    }
    html_alerts(&mut s, &d.firing);
    if !d.resolved.is_empty() {
        if !d.firing.is_empty() {
            let _ = writeln!(
                s,
                "<tr style=\"{FONT}\"><td style=\"{CELL}\" valign=\"top\"><br /><hr /><br /></td></tr>"
            );
        }
        let _ = writeln!(
            s,
            "<tr style=\"{FONT}\"><td style=\"{CELL}\" valign=\"top\"><strong style=\"{FONT}\">[{}] Resolved</strong></td></tr>",
            d.resolved.len()
        );
    }
    html_alerts(&mut s, &d.resolved);
    let _ = write!(
        s,
        "</table>\n</td></tr>\n</table>\n\
         <div style=\"{FONT} width: 100%; color: #999; padding: 20px; text-align: center;\">\
         <a href=\"{}\" style=\"{FONT} font-size: 12px; color: #999; text-decoration: underline;\">Sent by Alertmanager</a></div>\n\
         </body>\n</html>\n",
        html_url(d.external_url)
    );
    s
}

/// A value in the minimal template evaluator.
enum Val {
    Str(String),
    Alerts(usize),
    /// Already escaped for the output (a template's expansion).
    Raw(String),
}

fn unsupported(action: &str) -> String {
    format!(
        "unsupported template action {{{{{action}}}}}: only simple field substitution \
         is supported in email templates for now"
    )
}

/// Go's `strings.Title` (deprecated, but in Alertmanager's function map).
fn go_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn field(d: &Data<'_>, path: &str) -> Option<Val> {
    let kv = |set: &LabelSet, name: &str| Val::Str(set.get(name).cloned().unwrap_or_default());
    Some(match path {
        ".Status" => Val::Str(d.status.to_string()),
        ".Receiver" => Val::Str(d.receiver.clone()),
        ".ExternalURL" => Val::Str(d.external_url.to_string()),
        ".Alerts" => Val::Alerts(d.alerts.len()),
        ".Alerts.Firing" => Val::Alerts(d.firing.len()),
        ".Alerts.Resolved" => Val::Alerts(d.resolved.len()),
        _ => {
            let (map, name) = path.strip_prefix('.')?.split_once('.')?;
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            match map {
                "GroupLabels" => kv(d.group_labels, name),
                "CommonLabels" => kv(&d.common_labels, name),
                "CommonAnnotations" => kv(&d.common_annotations, name),
                _ => return None,
            }
        }
    })
}

fn alert_list<'d, 'a>(d: &'d Data<'a>, arg: &str) -> Option<&'d [&'a Alert]> {
    match arg {
        ".Alerts" => Some(&d.alerts),
        ".Alerts.Firing" => Some(&d.firing),
        ".Alerts.Resolved" => Some(&d.resolved),
        _ => None,
    }
}

fn eval(action: &str, d: &Data<'_>, html: bool) -> Result<Val, String> {
    let words: Vec<&str> = action.split_whitespace().collect();
    if words.first() == Some(&"template") {
        let [_, name, arg] = words[..] else {
            return Err(unsupported(action));
        };
        let name = name.trim_matches('"');
        let text = |s: String| {
            if html {
                Val::Raw(html_escape(&s))
            } else {
                Val::Raw(s)
            }
        };
        return match (name, arg) {
            ("email.default.subject" | "__subject", ".") => Ok(text(subject(d))),
            ("__alertmanager", _) => Ok(Val::Raw("Alertmanager".into())),
            ("__alertmanagerURL", ".") => Ok(text(alertmanager_url(d))),
            ("email.default.html", ".") => Ok(Val::Raw(default_html(d))),
            ("__text_alert_list", list) => match alert_list(d, list) {
                Some(alerts) => Ok(text(text_alert_list(alerts))),
                None => Err(unsupported(action)),
            },
            _ => Err(unsupported(action)),
        };
    }
    let mut stages = action.split('|').map(str::trim);
    let first: Vec<&str> = stages.next().unwrap_or("").split_whitespace().collect();
    let mut val = match first[..] {
        [path] => field(d, path),
        ["len", path] => match field(d, path) {
            Some(Val::Alerts(n)) => Some(Val::Str(n.to_string())),
            Some(Val::Str(s)) => Some(Val::Str(s.len().to_string())),
            _ => None,
        },
        ["index", map @ (".GroupLabels" | ".CommonLabels" | ".CommonAnnotations"), key]
            if key.len() >= 2 && key.starts_with('"') && key.ends_with('"') =>
        {
            field(d, &format!("{map}.{}", &key[1..key.len() - 1]))
        }
        _ => None,
    }
    .ok_or_else(|| unsupported(action))?;
    for f in stages {
        val = match (f, val) {
            ("len", Val::Alerts(n)) => Val::Str(n.to_string()),
            ("len", Val::Str(s)) => Val::Str(s.len().to_string()),
            ("toUpper", Val::Str(s)) => Val::Str(s.to_uppercase()),
            ("toLower", Val::Str(s)) => Val::Str(s.to_lowercase()),
            ("title", Val::Str(s)) => Val::Str(go_title(&s)),
            ("urlquery", Val::Str(s)) => Val::Str(query_escape(&s)),
            _ => return Err(unsupported(action)),
        };
    }
    match val {
        Val::Alerts(_) => Err(unsupported(action)),
        v => Ok(v),
    }
}

/// Expands `tmpl` with the supported subset of Go's template syntax.
fn expand(tmpl: &str, d: &Data<'_>, html: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tmpl;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_prev = after.len() >= 2
            && after.as_bytes()[0] == b'-'
            && after.as_bytes()[1].is_ascii_whitespace();
        if trim_prev {
            text = text.trim_end();
        }
        out.push_str(text);
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed action in template {tmpl:?}"))?;
        let mut action = &after[..end];
        if trim_prev {
            action = &action[1..];
        }
        trim_next = action.len() >= 2
            && action.ends_with('-')
            && action.as_bytes()[action.len() - 2].is_ascii_whitespace();
        if trim_next {
            action = &action[..action.len() - 1];
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            match eval(action, d, html)? {
                Val::Str(s) if html => out.push_str(&html_escape(&s)),
                Val::Str(s) | Val::Raw(s) => out.push_str(&s),
                Val::Alerts(_) => return Err(unsupported(action)),
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(if trim_next { rest.trim_start() } else { rest });
    Ok(out)
}

/// Renders `n` as the email `config` describes (see the module docs for
/// what templates are supported). Errors are not worth retrying: bad
/// templates or addresses.
pub fn render(config: &EmailConfig, n: &Notification<'_>) -> Result<Rendered, String> {
    let d = Data::new(n);
    let from = expand(&config.from, &d, false)
        .map_err(|e| format!("failed to template 'from' or 'to': {e}"))?;
    let to = expand(&config.to, &d, false)
        .map_err(|e| format!("failed to template 'from' or 'to': {e}"))?;
    let from_list =
        Mailboxes::from_str(&from).map_err(|e| format!("parsing from addresses: {e}"))?;
    let from = match from_list.iter().collect::<Vec<_>>()[..] {
        [one] => one.to_string(),
        _ => return Err("must be exactly one from address".into()),
    };
    let to: Vec<String> = Mailboxes::from_str(&to)
        .map_err(|e| format!("parsing to addresses: {e}"))?
        .iter()
        .map(Mailbox::to_string)
        .collect();
    let mut templates = config.headers.clone();
    templates
        .entry("Subject".into())
        .or_insert_with(|| DEFAULT_SUBJECT.into());
    templates
        .entry("To".into())
        .or_insert_with(|| config.to.clone());
    templates
        .entry("From".into())
        .or_insert_with(|| config.from.clone());
    let mut headers = Vec::with_capacity(templates.len());
    for (name, t) in &templates {
        let value =
            expand(t, &d, false).map_err(|e| format!("executing {name:?} header template: {e}"))?;
        headers.push((name.clone(), value));
    }
    let subject = headers
        .iter()
        .find(|(k, _)| k == "Subject")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let text = if config.text.is_empty() {
        None
    } else {
        Some(
            expand(&config.text, &d, false)
                .map_err(|e| format!("executing email text template: {e}"))?,
        )
    };
    let html = if config.html.is_empty() {
        None
    } else {
        Some(
            expand(&config.html, &d, true)
                .map_err(|e| format!("executing email html template: {e}"))?,
        )
    };
    Ok(Rendered {
        subject,
        text,
        html,
        headers,
        from,
        to,
    })
}

static MESSAGE_SEQ: AtomicU64 = AtomicU64::new(0);

/// The message as written after `DATA`: the headers, `Date`, `Message-Id`,
/// `MIME-Version`, then a `multipart/alternative` body (text first, HTML
/// last, as Alertmanager).
fn message_bytes(r: &Rendered, hello: &str) -> Result<Vec<u8>, SendError> {
    let mut headers = Headers::new();
    for (name, value) in &r.headers {
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|e| SendError::Config(format!("header {name:?}: {e}")))?;
        headers.insert_raw(HeaderValue::new(name, value.clone()));
    }
    headers.set(Date::now());
    if headers.get_raw("Message-Id").is_none() && headers.get_raw("Message-ID").is_none() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seq = MESSAGE_SEQ.fetch_add(1, Ordering::Relaxed);
        let host = if hello.is_empty() { "localhost" } else { hello };
        let name = HeaderName::new_from_ascii("Message-Id".into())
            .map_err(|e| SendError::Config(e.to_string()))?;
        headers.insert_raw(HeaderValue::new(
            name,
            format!("<{nanos}.{}.{seq}@{host}>", std::process::id()),
        ));
    }
    let name = HeaderName::new_from_ascii("MIME-Version".into())
        .map_err(|e| SendError::Config(e.to_string()))?;
    headers.insert_raw(HeaderValue::new(name, "1.0".into()));
    let mut body = MultiPart::alternative().build();
    if let Some(text) = &r.text {
        body = body.singlepart(SinglePart::plain(text.clone()));
    }
    if let Some(html) = &r.html {
        body = body.singlepart(SinglePart::html(html.clone()));
    }
    let mut out = headers.to_string().into_bytes();
    out.extend_from_slice(&body.formatted());
    Ok(out)
}

fn read_pem(inline: &str, file: &str, what: &str) -> Result<Option<Vec<u8>>, SendError> {
    crate::config::receivers::read_pem(inline, file, what).map_err(SendError::Config)
}

/// `tls_config` as `lettre` TLS parameters (rustls). Without `ca`, the
/// Mozilla roots of `webpki-roots` are trusted; with it, only that CA.
fn tls_parameters(tc: &TlsConfig, host: &str) -> Result<TlsParameters, SendError> {
    let domain = if tc.server_name.is_empty() {
        host
    } else {
        &tc.server_name
    };
    let mut b = TlsParameters::builder(domain.to_string());
    if tc.insecure_skip_verify {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    if let Some(pem) = read_pem(&tc.ca, &tc.ca_file, "CA file")? {
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| SendError::Config(format!("tls_config CA: {e}")))?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    let cert = read_pem(&tc.cert, &tc.cert_file, "client certificate")?;
    let key = read_pem(&tc.key, &tc.key_file, "client key")?;
    if let (Some(cert), Some(key)) = (cert, key) {
        let id = Identity::from_pem(&cert, &key)
            .map_err(|e| SendError::Config(format!("tls_config client certificate: {e}")))?;
        b = b.identify_with(id);
    }
    match tc.min_version.as_deref() {
        None | Some("") | Some("TLS12") => {}
        Some("TLS13") => b = b.set_min_tls_version(TlsVersion::Tlsv13),
        Some(v) => {
            return Err(SendError::Config(format!(
                "tls_config min_version {v} is not supported (TLS12, TLS13)"
            )))
        }
    }
    b.build_rustls()
        .map_err(|e| SendError::Config(format!("tls_config: {e}")))
}

fn address(mailbox: &str) -> Result<lettre::Address, SendError> {
    Mailbox::from_str(mailbox)
        .map(|m| m.email)
        .map_err(|e| SendError::Config(format!("address {mailbox:?}: {e}")))
}

fn password(config: &EmailConfig) -> Result<String, SendError> {
    if !config.auth_password.is_empty() || config.auth_password_file.is_empty() {
        return Ok(config.auth_password.clone());
    }
    std::fs::read_to_string(&config.auth_password_file)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
        .map_err(|e| {
            SendError::Config(format!(
                "reading auth_password_file {}: {e}",
                config.auth_password_file
            ))
        })
}

/// [`send_with_timeout`] with [`DEFAULT_TIMEOUT`].
pub fn send(config: &EmailConfig, rendered: &Rendered) -> Result<(), SendError> {
    send_with_timeout(config, rendered, DEFAULT_TIMEOUT)
}

/// Sends `rendered` through `config.smarthost`; `timeout` bounds the TCP
/// connection and each read and write. Blocking.
pub fn send_with_timeout(
    config: &EmailConfig,
    rendered: &Rendered,
    timeout: Duration,
) -> Result<(), SendError> {
    let addr = config.smarthost.to_string();
    let host = config.smarthost.host.as_str();
    let port: u16 = config
        .smarthost
        .port
        .parse()
        .map_err(|_| SendError::Config(format!("invalid smarthost port in {addr:?}")))?;
    let from = address(&rendered.from)?;
    let to = rendered
        .to
        .iter()
        .map(|t| address(t).map(|a| (t, a)))
        .collect::<Result<Vec<_>, _>>()?;
    let message = message_bytes(rendered, &config.hello)?;
    let tls_config = config.tls_config.clone().unwrap_or_default();
    let hello = ClientId::Domain(if config.hello.is_empty() {
        "localhost".to_string()
    } else {
        config.hello.clone()
    });
    let implicit_tls = config.force_implicit_tls.unwrap_or(port == 465);
    let implicit = if implicit_tls {
        Some(tls_parameters(&tls_config, host)?)
    } else {
        None
    };
    let mut conn =
        SmtpConnection::connect((host, port), Some(timeout), &hello, implicit.as_ref(), None)
            .map_err(|e| {
                if e.is_tls() {
                    SendError::Tls {
                        addr: addr.clone(),
                        msg: e.to_string(),
                    }
                } else {
                    SendError::Connect {
                        addr: addr.clone(),
                        msg: e.to_string(),
                    }
                }
            })?;
    let result = deliver(
        &mut conn,
        config,
        &addr,
        host,
        &tls_config,
        &hello,
        &from,
        &to,
        &message,
    );
    if result.is_ok() {
        let _ = conn.quit();
    } else {
        conn.abort();
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    conn: &mut SmtpConnection,
    config: &EmailConfig,
    addr: &str,
    host: &str,
    tls_config: &TlsConfig,
    hello: &ClientId,
    from: &lettre::Address,
    to: &[(&String, lettre::Address)],
    message: &[u8],
) -> Result<(), SendError> {
    if config.require_tls.unwrap_or(true) && !conn.is_encrypted() {
        if !conn.server_info().supports_feature(Extension::StartTls) {
            return Err(SendError::Tls {
                addr: addr.to_string(),
                msg: format!(
                    "require_tls: true (default), but {addr:?} does not advertise the STARTTLS extension"
                ),
            });
        }
        let params = tls_parameters(tls_config, host)?;
        conn.starttls(&params, hello).map_err(|e| SendError::Tls {
            addr: addr.to_string(),
            msg: format!("starttls failed: {e}"),
        })?;
    }
    let info = conn.server_info();
    let offered: Vec<Mechanism> = [Mechanism::Plain, Mechanism::Login]
        .into_iter()
        .filter(|m| info.supports_auth_mechanism(*m))
        .collect();
    if !config.auth_username.is_empty() && !offered.is_empty() {
        let password = password(config)?;
        if password.is_empty() {
            return Err(SendError::Auth {
                username: config.auth_username.clone(),
                msg: format!("missing password for {} auth mechanism", offered[0]),
            });
        }
        let creds = Credentials::new(config.auth_username.clone(), password);
        conn.auth(&offered, &creds).map_err(|e| SendError::Auth {
            username: config.auth_username.clone(),
            msg: e.to_string(),
        })?;
    }
    conn.command(Mail::new(Some(from.clone()), vec![]))
        .map_err(|e| SendError::SenderRejected {
            from: from.to_string(),
            msg: e.to_string(),
        })?;
    for (written, address) in to {
        conn.command(Rcpt::new(address.clone(), vec![]))
            .map_err(|e| SendError::RecipientRejected {
                recipient: written.to_string(),
                msg: e.to_string(),
            })?;
    }
    conn.command(DataCmd)
        .map_err(|e| SendError::DataRejected { msg: e.to_string() })?;
    conn.message(message)
        .map_err(|e| SendError::DataRejected { msg: e.to_string() })?;
    Ok(())
}

#[cfg(test)]
#[path = "email_tests.rs"]
mod tests;
