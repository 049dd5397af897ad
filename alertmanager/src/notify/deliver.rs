//! Delivering a notification: the webhook receiver's HTTP POST (with the
//! `http_config` authorization Alertmanager supports: bearer tokens, other
//! `authorization` types, basic auth). Blocking; the server's driver calls
//! it on a blocking thread and retries what fails at the group's next
//! flush, as Alertmanager does.

use std::time::Duration;

use crate::config::receivers::WebhookConfig;
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

/// POSTs the version-4 payload of `outbound` to the webhook.
pub fn webhook(
    config: &WebhookConfig,
    outbound: &Outbound,
    external_url: &str,
) -> Result<(), String> {
    let url = match (&config.url, &config.url_file) {
        (Some(url), _) => url.clone(),
        (None, Some(file)) => read_secret("", file)?,
        (None, None) => return Err("webhook has no url".into()),
    };
    let body =
        payload(&outbound.notification(external_url, config.max_alerts as usize)).to_string();
    let timeout = config.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
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
    let response = request.send(body).map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("POST {url}: unexpected status {status}"))
    }
}
