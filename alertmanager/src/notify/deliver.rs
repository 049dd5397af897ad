//! Delivering a notification: the webhook receiver's HTTP POST (with the
//! `http_config` authorization Alertmanager supports: bearer tokens, other
//! `authorization` types, basic auth; and its `tls_config`: CA, client
//! certificate, `insecure_skip_verify`), and [`retrying`], Alertmanager's
//! retry stage: failed attempts are tried again with exponential backoff
//! while the group's flush lasts; what still fails is sent again at the
//! group's next flush. Blocking; the server's driver calls it on a blocking
//! thread.

use std::time::{Duration, Instant};

use crate::config::receivers::{read_pem, TlsConfig, WebhookConfig};
use crate::notify::pipeline::Outbound;
use crate::notify::webhook::payload;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn read_secret(inline: &str, file: &str) -> Result<String, String> {
    if !inline.is_empty() || file.is_empty() {
        return Ok(inline.to_string());
    }
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("cannot read {file}: {e}"))
}

/// Why an attempt failed, and whether another attempt may succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    /// A failure no retry can fix (bad config, a 4xx answer).
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn transient(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::permanent(message)
    }
}

/// The first wait between attempts; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds, fails permanently, or another wait
/// would pass `budget` (time spent in attempts counts); `sleep` waits.
/// The error says how many attempts were made.
pub fn retrying(
    budget: Duration,
    mut sleep: impl FnMut(Duration),
    mut attempt: impl FnMut() -> Result<(), Failure>,
) -> Result<(), String> {
    let mut spent = Duration::ZERO;
    let mut wait = FIRST_BACKOFF;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let started = Instant::now();
        let outcome = attempt();
        spent += started.elapsed();
        match outcome {
            Ok(()) => return Ok(()),
            Err(f) if !f.retryable => return Err(f.message),
            Err(f) if spent + wait > budget => {
                let s = if attempts == 1 { "" } else { "s" };
                return Err(format!("{} ({attempts} attempt{s})", f.message));
            }
            Err(_) => {
                sleep(wait);
                spent += wait;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// How long a notification is retried: three quarters of its group's
/// interval, so retries end before the group's next flush sends again.
pub fn retry_budget(outbound: &Outbound) -> Duration {
    Duration::from_millis((outbound.group_interval_ms.max(0) as u64) / 4 * 3)
}

/// `tls_config` as ureq's (rustls): `None` when it changes nothing.
/// `server_name` cannot be applied (ureq derives SNI and verification from
/// the URL's host); `min_version`/`max_version` are left to rustls, which
/// speaks TLS 1.2 and 1.3 only.
fn tls(tc: &TlsConfig) -> Result<Option<ureq::tls::TlsConfig>, String> {
    use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts};
    if *tc == TlsConfig::default() {
        return Ok(None);
    }
    let certs = |pem: &[u8], what: &str| -> Result<Vec<Certificate<'static>>, String> {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(format!("tls_config {what}: {e}"))),
            })
            .collect::<Result<_, _>>()?;
        if certs.is_empty() {
            return Err(format!("tls_config {what}: no PEM certificate found"));
        }
        Ok(certs)
    };
    let mut builder = ureq::tls::TlsConfig::builder().disable_verification(tc.insecure_skip_verify);
    if let Some(pem) = read_pem(&tc.ca, &tc.ca_file, "CA")? {
        builder = builder.root_certs(RootCerts::new_with_certs(&certs(&pem, "CA")?));
    }
    let cert = read_pem(&tc.cert, &tc.cert_file, "client certificate")?;
    let key = read_pem(&tc.key, &tc.key_file, "client key")?;
    if let (Some(cert), Some(key)) = (cert, key) {
        let key = PrivateKey::from_pem(&key).map_err(|e| format!("tls_config client key: {e}"))?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(
            &certs(&cert, "client certificate")?,
            key,
        )));
    }
    Ok(Some(builder.build()))
}

/// POSTs the version-4 payload of `outbound` to the webhook once. Network
/// errors, 5xx and 429 answers may succeed when tried again; other
/// answers and configuration errors will not (as Alertmanager's webhook
/// notifier decides).
pub fn webhook(
    config: &WebhookConfig,
    outbound: &Outbound,
    external_url: &str,
) -> Result<(), Failure> {
    let url = match (&config.url, &config.url_file) {
        (Some(url), _) => url.clone(),
        (None, Some(file)) => read_secret("", file)?,
        (None, None) => return Err(Failure::permanent("webhook has no url")),
    };
    let body =
        payload(&outbound.notification(external_url, config.max_alerts as usize)).to_string();
    let timeout = config.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
    let mut agent_config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    if let Some(tls) = config
        .http_config
        .as_ref()
        .map(|h| tls(&h.tls_config))
        .transpose()?
        .flatten()
    {
        agent_config = agent_config.tls_config(tls);
    }
    let agent: ureq::Agent = agent_config.build().into();
    let mut request = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            concat!("Vigil-Alertmanager/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(http) = &config.http_config {
        if let Some(auth) = http.effective_authorization() {
            let credentials = read_secret(&auth.credentials, &auth.credentials_file)?;
            request = request.header("Authorization", format!("{} {credentials}", auth.kind));
        } else if let Some(basic) = &http.basic_auth {
            use base64::Engine;
            let user = read_secret(&basic.username, &basic.username_file)?;
            let password = read_secret(&basic.password, &basic.password_file)?;
            request = request.header(
                "Authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                ),
            );
        }
    }
    let response = request
        .send(body)
        .map_err(|e| Failure::transient(format!("POST {url}: {e}")))?;
    let status = response.status().as_u16();
    let message = || format!("POST {url}: unexpected status {status}");
    match status {
        200..=299 => Ok(()),
        429 | 500..=599 => Err(Failure::transient(message())),
        _ => Err(Failure::permanent(message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn transient_failures_are_tried_again_after_doubling_waits() {
        let mut waits = Vec::new();
        let mut calls = 0;
        let outcome = retrying(
            s(10),
            |d| waits.push(d),
            || {
                calls += 1;
                if calls < 3 {
                    Err(Failure::transient("POST x: unexpected status 503"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(outcome, Ok(()));
        assert_eq!(waits, [s(1), s(2)]);
    }

    #[test]
    fn a_permanent_failure_is_not_tried_again() {
        let mut waits = Vec::new();
        let mut calls = 0;
        let outcome = retrying(
            s(10),
            |d| waits.push(d),
            || {
                calls += 1;
                Err(Failure::permanent("POST x: unexpected status 400"))
            },
        );
        assert_eq!(outcome, Err("POST x: unexpected status 400".to_string()));
        assert_eq!(calls, 1);
        assert!(waits.is_empty());
    }

    #[test]
    fn retries_stop_before_the_budget_is_spent() {
        let mut waits = Vec::new();
        let outcome = retrying(
            s(10),
            |d| waits.push(d),
            || Err(Failure::transient("connection refused")),
        );
        // 1 + 2 + 4 s of waits; another 8 s would pass the 10 s budget.
        assert_eq!(waits, [s(1), s(2), s(4)]);
        assert_eq!(outcome, Err("connection refused (4 attempts)".to_string()));
        let mut waits = Vec::new();
        retrying(
            s(3600),
            |d| waits.push(d),
            || Err(Failure::transient("down")),
        )
        .unwrap_err();
        assert_eq!(waits.iter().max(), Some(&MAX_BACKOFF));
    }

    #[test]
    fn a_missing_ca_file_is_a_configuration_error() {
        let tc = TlsConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            ..TlsConfig::default()
        };
        let err = tls(&tc).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let tc = TlsConfig {
            ca: "not a certificate".into(),
            ..TlsConfig::default()
        };
        assert!(tls(&tc).unwrap_err().contains("no PEM certificate"));
        assert!(tls(&TlsConfig::default()).unwrap().is_none());
    }
}
