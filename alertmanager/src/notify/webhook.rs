//! The webhook receiver's payload, version "4", field for field as
//! Alertmanager's `notify/webhook` sends it (`template.Data` plus
//! `version`, `groupKey` and `truncatedAlerts`).

use serde_json::{json, Map, Value as Json};

use super::alert::{fingerprint_hex, Alert, LabelSet};

/// Go's zero `time.Time`, which Alertmanager prints for an unset end.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn rfc3339(t_ms: i64) -> String {
    if t_ms <= 0 {
        return ZERO_TIME.to_string();
    }
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ZERO_TIME.to_string())
}

fn map(set: &LabelSet) -> Json {
    Json::Object(
        set.iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// The pairs every map in `sets` has with the same value.
pub fn common(sets: &[&LabelSet]) -> LabelSet {
    let Some((first, rest)) = sets.split_first() else {
        return LabelSet::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|s| s.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a notification is about.
pub struct Notification<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    pub external_url: &'a str,
    pub alerts: &'a [Alert],
    /// 0: no limit (`max_alerts`).
    pub max_alerts: usize,
    pub now_ms: i64,
}

pub fn payload(n: &Notification<'_>) -> Json {
    let firing = n.alerts.iter().any(|a| !a.resolved_at(n.now_ms));
    let labels: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.labels).collect();
    let annotations: Vec<&LabelSet> = n.alerts.iter().map(|a| &a.annotations).collect();
    let kept = if n.max_alerts > 0 {
        n.alerts.len().min(n.max_alerts)
    } else {
        n.alerts.len()
    };
    let alerts: Vec<Json> = n.alerts[..kept]
        .iter()
        .map(|a| {
            let resolved = a.resolved_at(n.now_ms);
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": map(&a.labels),
                "annotations": map(&a.annotations),
                "startsAt": rfc3339(a.starts_at),
                "endsAt": if resolved { rfc3339(a.ends_at) } else { ZERO_TIME.to_string() },
                "generatorURL": a.generator_url,
                "fingerprint": fingerprint_hex(a.fingerprint()),
            })
        })
        .collect();
    json!({
        "receiver": n.receiver,
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts,
        "groupLabels": map(n.group_labels),
        "commonLabels": map(&common(&labels)),
        "commonAnnotations": map(&common(&annotations)),
        "externalURL": n.external_url,
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": n.alerts.len() - kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn alert(instance: &str, ends_at: i64) -> Alert {
        Alert {
            labels: set(&[
                ("alertname", "InstanceDown"),
                ("instance", instance),
                ("job", "node"),
            ]),
            annotations: set(&[("summary", "down"), ("instance", instance)]),
            starts_at: 1_700_000_000_000,
            ends_at,
            generator_url: "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0".into(),
            updated_at: 0,
        }
    }

    #[test]
    fn version_4_payload() {
        let now = 1_700_000_100_000;
        let alerts = [alert("a", now + 60_000), alert("b", now - 1000)];
        let group = set(&[("alertname", "InstanceDown")]);
        let p = payload(&Notification {
            receiver: "team-x",
            group_key: "{}:{alertname=\"InstanceDown\"}",
            group_labels: &group,
            external_url: "http://vigil:9700",
            alerts: &alerts,
            max_alerts: 0,
            now_ms: now,
        });
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing", "one alert still fires");
        assert_eq!(p["receiver"], "team-x");
        assert_eq!(p["groupKey"], "{}:{alertname=\"InstanceDown\"}");
        assert_eq!(p["truncatedAlerts"], 0);
        assert_eq!(p["groupLabels"], json!({"alertname": "InstanceDown"}));
        assert_eq!(
            p["commonLabels"],
            json!({"alertname": "InstanceDown", "job": "node"})
        );
        assert_eq!(p["commonAnnotations"], json!({"summary": "down"}));
        assert_eq!(p["alerts"][0]["status"], "firing");
        assert_eq!(p["alerts"][0]["startsAt"], "2023-11-14T22:13:20Z");
        assert_eq!(p["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(p["alerts"][1]["status"], "resolved");
        assert_eq!(p["alerts"][1]["endsAt"], "2023-11-14T22:14:59Z");
        assert_eq!(p["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
        let truncated = payload(&Notification {
            receiver: "team-x",
            group_key: "k",
            group_labels: &group,
            external_url: "",
            alerts: &alerts,
            max_alerts: 1,
            now_ms: now,
        });
        assert_eq!(truncated["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(truncated["truncatedAlerts"], 1);
    }
}
