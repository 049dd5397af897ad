//! The running Alertmanager: the config, the notification pipeline, the
//! silences, and what API v2 shows of them (`GettableAlert`,
//! `AlertGroup`, `Receiver`, `AlertmanagerStatus`). Time is passed in; the
//! server's driver ticks it and delivers what [`Alertmanager::tick`]
//! returns.
//!
//! Without a config (no `--alertmanager.config`), alerts are received,
//! kept and shown, and nothing is sent: the pipeline runs with a single
//! receiver that has no integrations.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use crate::config::{self, Config};
use crate::dispatch::inhibit::Inhibitor;
use crate::dispatch::matcher::{parse_matchers, LabelSet, Matcher};
use crate::evaluation::group::OutgoingAlert;
use crate::notify::alert::{fingerprint_hex, Alert};
use crate::notify::nflog::Entry;
use crate::notify::nflog_file::NflogFile;
use crate::notify::pipeline::{Outbound, Pipeline};
use crate::notify::store::{parse_postable, Stored};
use crate::notify::webhook::rfc3339;
use crate::silences::{silence_json, PostableSilence, Silences, SilencesError};

/// What runs without a config: one receiver, no integrations.
const NO_CONFIG: &str = "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n";

/// A delivery's notification log entry, to be put on disk.
pub struct LogWrite(Option<(Arc<Mutex<NflogFile>>, Entry)>);

impl LogWrite {
    /// Appends the entry to the log file and waits for the disk; a no-op
    /// without a log file.
    pub fn commit(self) -> std::io::Result<()> {
        match self.0 {
            Some((file, entry)) => file.lock().append(&entry),
            None => Ok(()),
        }
    }
}

pub struct Alertmanager {
    config: Config,
    /// Where the notification log is kept (none: in memory only).
    nflog_file: Option<Arc<Mutex<NflogFile>>>,
    /// The config file's text, for `/api/v2/status`.
    original: String,
    pipeline: Pipeline,
    silences: Silences,
    inhibitor: Inhibitor,
    external_url: String,
    started_ms: i64,
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn map(set: &LabelSet) -> Json {
    Json::Object(
        set.iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect(),
    )
}

/// `GET /api/v2/alerts` filters.
#[derive(Default)]
pub struct AlertFilter {
    pub matchers: Vec<Matcher>,
    pub active: bool,
    pub silenced: bool,
    pub inhibited: bool,
    pub unprocessed: bool,
    pub receiver: Option<regex::Regex>,
}

impl AlertFilter {
    /// Alertmanager's defaults: everything shown.
    pub fn all() -> AlertFilter {
        AlertFilter {
            matchers: Vec::new(),
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            receiver: None,
        }
    }

    /// From the query string's `filter` (repeated) and boolean params.
    pub fn from_params(params: &[(String, String)]) -> Result<AlertFilter, String> {
        let mut filter = AlertFilter::all();
        for (name, value) in params {
            let flag = || match value.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!("{name} must be true or false")),
            };
            match name.as_str() {
                "filter" => filter
                    .matchers
                    .extend(parse_matchers(value).map_err(|e| e.to_string())?),
                "active" => filter.active = flag()?,
                "silenced" => filter.silenced = flag()?,
                "inhibited" => filter.inhibited = flag()?,
                "unprocessed" => filter.unprocessed = flag()?,
                "receiver" => {
                    filter.receiver = Some(
                        regex::Regex::new(&format!("^(?:{value})$"))
                            .map_err(|e| format!("invalid receiver regex: {e}"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(filter)
    }
}

impl Alertmanager {
    /// `config`: the parsed config and its text, or `None` to keep alerts
    /// without sending them.
    pub fn new(
        config: Option<(Config, String)>,
        silences: Silences,
        external_url: String,
        now_ms: i64,
    ) -> Alertmanager {
        let (config, original) = config.unwrap_or_else(|| {
            (
                config::parse(NO_CONFIG).expect("the built-in config is valid"),
                String::new(),
            )
        });
        let mut pipeline = Pipeline::new(&config, now_ms);
        pipeline.set_silences(silences.all().cloned().collect());
        Alertmanager {
            inhibitor: Inhibitor::new(&config.inhibit_rules),
            nflog_file: None,
            config,
            original,
            pipeline,
            silences,
            external_url,
            started_ms: now_ms,
        }
    }

    /// Keeps the notification log in `path`, loading what an earlier run
    /// wrote there: a restart does not send again what was sent.
    pub fn with_nflog_file(mut self, path: &std::path::Path) -> Result<Alertmanager, String> {
        let (file, entries) = NflogFile::open(path)?;
        let log = crate::notify::nflog::NotificationLog::from_entries(
            crate::notify::nflog::DEFAULT_RETENTION_MS,
            entries,
        );
        let started = self.pipeline.started_ms();
        let silences: Vec<_> = self.silences.all().cloned().collect();
        self.pipeline = Pipeline::new(&self.config, started).with_nflog(log);
        self.pipeline.set_silences(silences);
        self.nflog_file = Some(Arc::new(Mutex::new(file)));
        Ok(self)
    }

    /// Applies a new config (or none), keeping the alerts, the silences
    /// and the notification log; groups are formed anew by the new routes.
    pub fn reload(&mut self, config: Option<(Config, String)>, now_ms: i64) {
        let (config, original) = config.unwrap_or_else(|| {
            (
                config::parse(NO_CONFIG).expect("the built-in config is valid"),
                String::new(),
            )
        });
        let log = crate::notify::nflog::NotificationLog::from_entries(
            crate::notify::nflog::DEFAULT_RETENTION_MS,
            self.pipeline.nflog().entries().cloned(),
        );
        let alerts: Vec<Stored> = self.pipeline.store().all().cloned().collect();
        let mut pipeline = Pipeline::new(&config, self.pipeline.started_ms()).with_nflog(log);
        pipeline.set_silences(self.silences.all().cloned().collect());
        pipeline.insert(alerts, now_ms);
        self.pipeline = pipeline;
        self.inhibitor = Inhibitor::new(&config.inhibit_rules);
        self.config = config;
        self.original = original;
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// `POST /api/v2/alerts`: stores the valid alerts; returns the
    /// refusals (the API answers 400 with them).
    pub fn post_alerts(&mut self, body: &[u8], now_ms: i64) -> Result<Vec<String>, String> {
        let timeout = self.config.global.resolve_timeout.0.as_millis() as i64;
        let (valid, errors) = parse_postable(body, now_ms, timeout)?;
        self.pipeline.insert(valid, now_ms);
        Ok(errors)
    }

    /// Alerts from Vigil's own rules, in-process.
    /// `external_labels` are added where an alert lacks them, as
    /// Prometheus' notifier adds its external labels.
    pub fn receive_rule_alerts(
        &mut self,
        alerts: Vec<OutgoingAlert>,
        generator_url: &str,
        external_labels: &[(String, String)],
        now_ms: i64,
    ) {
        let stored = alerts
            .into_iter()
            .map(|a| Stored {
                alert: Alert {
                    labels: {
                        let mut labels: LabelSet = a
                            .labels
                            .iter()
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect();
                        for (name, value) in external_labels {
                            labels.entry(name.clone()).or_insert_with(|| value.clone());
                        }
                        labels
                    },
                    annotations: a.annotations.into_iter().collect(),
                    starts_at: a.starts_at,
                    ends_at: a.ends_at,
                    generator_url: generator_url.to_string(),
                    updated_at: now_ms,
                },
                timeout: false,
            })
            .collect();
        self.pipeline.insert(stored, now_ms);
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.pipeline.next_deadline()
    }

    pub fn tick(&mut self, now_ms: i64) -> Vec<Outbound> {
        self.pipeline.tick(now_ms)
    }

    /// Records a delivery in the notification log in memory. With a log
    /// file, the delivery is on disk once the returned [`LogWrite`] is
    /// committed: commit it after releasing the lock around this
    /// Alertmanager, so other work does not wait for the fsync.
    #[must_use = "commit the LogWrite to put the delivery on disk"]
    pub fn mark_sent(&mut self, sent: &Outbound) -> LogWrite {
        let entry = self.pipeline.mark_sent(sent);
        LogWrite(self.nflog_file.clone().zip(entry))
    }

    /// Records a delivery that failed after its retries; its alerts go
    /// out again at the group's next flush.
    pub fn mark_failed(&mut self, failed: &Outbound) {
        self.pipeline.mark_failed(failed);
    }

    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// `POST /api/v2/silences`.
    pub fn set_silence(
        &mut self,
        posted: PostableSilence,
        now_ms: i64,
    ) -> Result<String, SilencesError> {
        let id = self.silences.set(posted, instant(now_ms))?;
        self.pipeline
            .set_silences(self.silences.all().cloned().collect());
        Ok(id)
    }

    /// `DELETE /api/v2/silence/<id>`.
    pub fn expire_silence(&mut self, id: &str, now_ms: i64) -> Result<(), SilencesError> {
        self.silences.expire(id, instant(now_ms))?;
        self.pipeline
            .set_silences(self.silences.all().cloned().collect());
        Ok(())
    }

    /// Drops old resolved alerts, old silences and old log entries, and
    /// compacts the log file when it has grown well past what is live.
    pub fn gc(&mut self, now_ms: i64) -> Result<(), SilencesError> {
        self.pipeline.gc(now_ms);
        if let Some(file) = &self.nflog_file {
            let mut file = file.lock();
            let log = self.pipeline.nflog();
            if file.needs_compaction(log.len()) {
                if let Err(e) = file.compact(log.entries()) {
                    tracing::warn!(error = %e, "cannot compact the notification log file; it keeps growing until this succeeds");
                }
            }
        }
        self.silences.gc(instant(now_ms))?;
        self.pipeline
            .set_silences(self.silences.all().cloned().collect());
        Ok(())
    }

    fn receivers_of(&self, labels: &LabelSet) -> Vec<String> {
        let mut names: Vec<String> = self
            .pipeline
            .route()
            .matching(labels)
            .iter()
            .map(|r| r.receiver.clone())
            .collect();
        names.dedup();
        names
    }

    fn firing(&self, now_ms: i64) -> Vec<LabelSet> {
        self.pipeline
            .store()
            .all()
            .filter(|s| !s.alert.resolved_at(now_ms))
            .map(|s| s.alert.labels.clone())
            .collect()
    }

    fn alert_json(&self, alert: &Alert, firing: &[LabelSet], now_ms: i64) -> (Json, &'static str) {
        let silenced_by: Vec<&str> = self.silences.muting(&alert.labels, instant(now_ms));
        let inhibited = self.inhibitor.mutes(&alert.labels, firing);
        let state = if !silenced_by.is_empty() || inhibited {
            "suppressed"
        } else {
            "active"
        };
        let receivers: Vec<Json> = self
            .receivers_of(&alert.labels)
            .into_iter()
            .map(|name| json!({ "name": name }))
            .collect();
        let inhibited_by: Vec<String> = if inhibited {
            // Alertmanager lists the inhibiting alerts' fingerprints.
            firing
                .iter()
                .filter(|source| {
                    *source != &alert.labels
                        && self
                            .inhibitor
                            .mutes(&alert.labels, std::slice::from_ref(source))
                })
                .map(|source| fingerprint_hex(crate::notify::alert::fingerprint(source)))
                .collect()
        } else {
            Vec::new()
        };
        let json = json!({
            "labels": map(&alert.labels),
            "annotations": map(&alert.annotations),
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": rfc3339(alert.ends_at),
            "updatedAt": rfc3339(alert.updated_at),
            "generatorURL": alert.generator_url,
            "fingerprint": fingerprint_hex(alert.fingerprint()),
            "receivers": receivers,
            "status": {
                "state": state,
                "silencedBy": silenced_by,
                "inhibitedBy": inhibited_by,
                "mutedBy": [],
            },
        });
        (json, state)
    }

    /// `GET /api/v2/alerts`: alerts not yet resolved, filtered.
    pub fn alerts_json(&self, filter: &AlertFilter, now_ms: i64) -> Json {
        let firing = self.firing(now_ms);
        let mut alerts: Vec<(&Alert, Json)> = Vec::new();
        for stored in self.pipeline.store().all() {
            let alert = &stored.alert;
            if alert.resolved_at(now_ms)
                || !crate::dispatch::matcher::matches_all(&filter.matchers, &alert.labels)
            {
                continue;
            }
            if let Some(re) = &filter.receiver {
                if !self
                    .receivers_of(&alert.labels)
                    .iter()
                    .any(|r| re.is_match(r))
                {
                    continue;
                }
            }
            let (json, state) = self.alert_json(alert, &firing, now_ms);
            let silenced = !json["status"]["silencedBy"]
                .as_array()
                .is_none_or(Vec::is_empty);
            let inhibited = !json["status"]["inhibitedBy"]
                .as_array()
                .is_none_or(Vec::is_empty);
            let shown = match state {
                "active" => filter.active,
                _ => (silenced && filter.silenced) || (inhibited && filter.inhibited),
            };
            if shown {
                alerts.push((alert, json));
            }
        }
        alerts.sort_by(|a, b| a.0.labels.cmp(&b.0.labels));
        Json::Array(alerts.into_iter().map(|(_, j)| j).collect())
    }

    /// `GET /api/v2/alerts/groups`: alerts by receiver and group labels.
    pub fn groups_json(&self, filter: &AlertFilter, now_ms: i64) -> Json {
        let firing = self.firing(now_ms);
        let mut groups: BTreeMap<(String, LabelSet), Vec<Json>> = BTreeMap::new();
        for stored in self.pipeline.store().all() {
            let alert = &stored.alert;
            if alert.resolved_at(now_ms)
                || !crate::dispatch::matcher::matches_all(&filter.matchers, &alert.labels)
            {
                continue;
            }
            for route in self.pipeline.route().matching(&alert.labels) {
                let labels = route.group_labels(&alert.labels);
                let (json, _) = self.alert_json(alert, &firing, now_ms);
                groups
                    .entry((route.receiver.clone(), labels))
                    .or_default()
                    .push(json);
            }
        }
        Json::Array(
            groups
                .into_iter()
                .map(|((receiver, labels), alerts)| {
                    json!({
                        "labels": map(&labels),
                        "receiver": { "name": receiver },
                        "alerts": alerts,
                    })
                })
                .collect(),
        )
    }

    /// `GET /api/v2/silences`, filtered by matchers on the silences'
    /// matchers as Alertmanager does (a silence is listed when every filter
    /// matcher equals one of its matchers' label values).
    pub fn silences_json(&self, filter: &[Matcher], now_ms: i64) -> Json {
        let now = instant(now_ms);
        Json::Array(
            self.silences
                .all()
                .filter(|s| {
                    let labels: LabelSet = s
                        .matchers
                        .iter()
                        .map(|m| (m.name.clone(), m.value.clone()))
                        .collect();
                    crate::dispatch::matcher::matches_all(filter, &labels)
                })
                .map(|s| silence_json(s, now))
                .collect(),
        )
    }

    pub fn receivers_json(&self) -> Json {
        Json::Array(
            self.config
                .receivers
                .iter()
                .map(|r| json!({ "name": r.name }))
                .collect(),
        )
    }

    pub fn status_json(&self) -> Json {
        json!({
            "cluster": { "status": "disabled", "peers": [], "name": "" },
            "config": { "original": self.original },
            "uptime": rfc3339(self.started_ms),
            "versionInfo": {
                "version": env!("CARGO_PKG_VERSION"),
                "revision": "",
                "branch": "",
                "buildUser": "vigil",
                "buildDate": "",
                "goVersion": "none (Vigil is written in Rust)",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000;

    fn am() -> Alertmanager {
        let text = r#"route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: [severity="page"]
      receiver: pager
inhibit_rules:
  - source_matchers: [severity="page"]
    target_matchers: [severity="ticket"]
    equal: [alertname]
receivers:
  - name: team
  - name: pager
"#;
        Alertmanager::new(
            Some((config::parse(text).unwrap(), text.into())),
            Silences::in_memory(),
            "http://vigil:9700".into(),
            T,
        )
    }

    fn post(am: &mut Alertmanager, body: &str) -> Vec<String> {
        am.post_alerts(body.as_bytes(), T).unwrap()
    }

    #[test]
    fn alerts_receivers_silences_and_inhibition_as_api_v2_shows_them() {
        let mut am = am();
        let refused = post(
            &mut am,
            r#"[{"labels": {"alertname": "Down", "severity": "page", "instance": "a"}},
                {"labels": {"alertname": "Down", "severity": "ticket", "instance": "b"}},
                {"labels": {"alertname": "Disk", "severity": "ticket"}},
                {"labels": {}}]"#,
        );
        assert_eq!(refused.len(), 1);
        let alerts = am.alerts_json(&AlertFilter::all(), T);
        assert_eq!(alerts.as_array().unwrap().len(), 3);
        let by_instance = |i: &str| {
            alerts
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["labels"]["instance"] == i)
                .unwrap()
                .clone()
        };
        assert_eq!(by_instance("a")["receivers"], json!([{"name": "pager"}]));
        assert_eq!(by_instance("a")["status"]["state"], "active");
        assert_eq!(by_instance("b")["status"]["state"], "suppressed");
        assert_eq!(
            by_instance("b")["status"]["inhibitedBy"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // A silence on Disk.
        let silence: PostableSilence = serde_json::from_value(json!({
            "matchers": [{"name": "alertname", "value": "Disk", "isRegex": false}],
            "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-15T22:13:20Z",
            "createdBy": "me", "comment": "known"
        }))
        .unwrap();
        let id = am.set_silence(silence, T).unwrap();
        let filter =
            AlertFilter::from_params(&[("filter".into(), "alertname=Disk".into())]).unwrap();
        let disk = am.alerts_json(&filter, T);
        assert_eq!(disk[0]["status"]["silencedBy"], json!([id]));
        let only_active = AlertFilter::from_params(&[
            ("silenced".into(), "false".into()),
            ("inhibited".into(), "false".into()),
        ])
        .unwrap();
        assert_eq!(am.alerts_json(&only_active, T).as_array().unwrap().len(), 1);
        let silences = am.silences_json(&parse_matchers("alertname=Disk").unwrap(), T);
        assert_eq!(silences[0]["id"], id);
        am.expire_silence(&id, T + 1000).unwrap();
        assert_eq!(
            am.silences_json(&[], T + 1000)[0]["status"]["state"],
            "expired"
        );

        let groups = am.groups_json(&AlertFilter::all(), T);
        assert_eq!(
            groups.as_array().unwrap().len(),
            3,
            "pager/Down, team/Down, team/Disk"
        );
        assert_eq!(
            am.receivers_json(),
            json!([{"name": "team"}, {"name": "pager"}])
        );
        assert!(am.status_json()["config"]["original"]
            .as_str()
            .unwrap()
            .contains("pager"));
        assert!(AlertFilter::from_params(&[("active".into(), "maybe".into())]).is_err());
    }

    #[test]
    fn a_reload_keeps_alerts_and_silences() {
        let mut am = am();
        post(
            &mut am,
            r#"[{"labels": {"alertname": "Down", "severity": "page"}}]"#,
        );
        let text = "route:\n  receiver: other\nreceivers:\n  - name: other\n";
        am.reload(Some((config::parse(text).unwrap(), text.into())), T + 1000);
        let alerts = am.alerts_json(&AlertFilter::all(), T + 1000);
        assert_eq!(alerts[0]["receivers"], json!([{"name": "other"}]));
        assert_eq!(am.receivers_json(), json!([{"name": "other"}]));
    }

    #[test]
    fn without_a_config_alerts_are_kept_and_nothing_is_sent() {
        let mut am = Alertmanager::new(None, Silences::in_memory(), String::new(), T);
        post(&mut am, r#"[{"labels": {"alertname": "X"}}]"#);
        assert_eq!(
            am.alerts_json(&AlertFilter::all(), T)
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let deadline = am.next_deadline().unwrap();
        assert!(am.tick(deadline).is_empty());
    }
}
