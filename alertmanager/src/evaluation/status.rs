//! Rule and alert state in the shapes of Prometheus' `/api/v1/rules` and
//! `/api/v1/alerts` (`web/api/v1/api.go`), which Grafana's alerting views
//! read: RFC 3339 times, durations in seconds, values formatted as Go's
//! `strconv.FormatFloat(v, 'e', -1, 64)`.

use serde_json::{json, Map, Value as Json};

use super::alerting::{Alert, AlertState, AlertingRule};
use super::group::{Group, Rule};

/// Go's `%e` with the shortest precision: `1e+00`, `1.5e-03`, `NaN`, `+Inf`.
pub fn go_exponent(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let text = format!("{v:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

fn rfc3339(t_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn pairs(list: &[(String, String)]) -> Json {
    Json::Object(
        list.iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn labels(labels: &model::Labels) -> Json {
    Json::Object(
        labels
            .iter()
            .map(|l| (l.name.clone(), Json::String(l.value.clone())))
            .collect::<Map<_, _>>(),
    )
}

pub fn alert_json(alert: &Alert) -> Json {
    let mut out = json!({
        "labels": labels(&alert.labels),
        "annotations": pairs(&alert.annotations),
        "state": alert.state.as_str(),
        "activeAt": rfc3339(alert.active_at),
        "value": go_exponent(alert.value),
    });
    if let Some(since) = alert.keep_firing_since {
        out["keepFiringSince"] = Json::String(rfc3339(since));
    }
    out
}

fn rule_state(rule: &AlertingRule) -> &'static str {
    let alerts = rule.alerts();
    if alerts.iter().any(|a| a.state == AlertState::Firing) {
        "firing"
    } else if alerts.iter().any(|a| a.state == AlertState::Pending) {
        "pending"
    } else {
        "inactive"
    }
}

/// One group of `/api/v1/rules`.
pub fn group_json(group: &Group, file: &str) -> Json {
    let rules: Vec<Json> = group
        .rules
        .iter()
        .zip(&group.rule_evaluations)
        .map(|(rule, evaluated)| {
            let (last, took) = evaluated.map_or((String::from("0001-01-01T00:00:00Z"), 0.0), |(t, s)| (rfc3339(t), s));
            let health = match (evaluated, rule.last_error()) {
                (None, _) => "unknown",
                (_, Some(_)) => "err",
                _ => "ok",
            };
            let mut out = match rule {
                Rule::Alerting(r) => json!({
                    "state": rule_state(r),
                    "name": r.spec.name,
                    "query": r.spec.expr,
                    "duration": r.spec.for_ms as f64 / 1000.0,
                    "keepFiringFor": r.spec.keep_firing_for_ms as f64 / 1000.0,
                    "labels": pairs(&r.spec.labels),
                    "annotations": pairs(&r.spec.annotations),
                    "alerts": r.alerts().into_iter().filter(|a| a.state != AlertState::Inactive).map(alert_json).collect::<Vec<_>>(),
                    "type": "alerting",
                }),
                Rule::Recording(r) => json!({
                    "name": r.spec.record,
                    "query": r.spec.expr,
                    "labels": pairs(&r.spec.labels),
                    "type": "recording",
                }),
            };
            out["health"] = Json::String(health.into());
            out["lastError"] = Json::String(rule.last_error().unwrap_or("").into());
            out["evaluationTime"] = json!(took);
            out["lastEvaluation"] = Json::String(last);
            out
        })
        .collect();
    let (last, took) = group
        .last_evaluation
        .map_or((String::from("0001-01-01T00:00:00Z"), 0.0), |(t, s)| {
            (rfc3339(t), s)
        });
    json!({
        "name": group.name,
        "file": file,
        "rules": rules,
        "interval": group.interval_ms as f64 / 1000.0,
        "limit": group.limit,
        "evaluationTime": took,
        "lastEvaluation": last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Appender, QueryEngine, QuerySample};
    use crate::evaluation::alerting::{label_set, AlertingRuleSpec, Verbatim};
    use model::{Label, Labels};

    #[test]
    fn go_exponent_formatting() {
        assert_eq!(go_exponent(1.0), "1e+00");
        assert_eq!(go_exponent(0.0015), "1.5e-03");
        assert_eq!(go_exponent(123456.0), "1.23456e+05");
        assert_eq!(go_exponent(-2.5e100), "-2.5e+100");
        assert_eq!(go_exponent(f64::NAN), "NaN");
        assert_eq!(go_exponent(f64::NEG_INFINITY), "-Inf");
    }

    struct Down;

    impl QueryEngine for Down {
        fn instant(&self, _: &str, _: i64) -> Result<Vec<QuerySample>, String> {
            Ok(vec![QuerySample {
                labels: label_set(vec![Label::new("instance", "a")]),
                value: 0.0,
            }])
        }
    }

    struct Discard;

    impl Appender for Discard {
        fn append(&self, _: i64, _: &[(Labels, f64)]) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn rules_json_has_prometheus_fields() {
        let mut group = Group::new(
            "node".into(),
            60_000,
            0,
            0,
            vec![Rule::Alerting(AlertingRule::new(AlertingRuleSpec {
                name: "InstanceDown".into(),
                expr: "up == 0".into(),
                for_ms: 300_000,
                keep_firing_for_ms: 0,
                labels: vec![("severity".into(), "page".into())],
                annotations: vec![("summary".into(), "down".into())],
            }))],
        );
        let before = group_json(&group, "rules/node.yml");
        assert_eq!(before["rules"][0]["health"], "unknown");
        assert_eq!(before["rules"][0]["state"], "inactive");
        group.eval(&Down, &Discard, &Verbatim, 1_700_000_000_000);
        let json = group_json(&group, "rules/node.yml");
        assert_eq!(json["name"], "node");
        assert_eq!(json["file"], "rules/node.yml");
        assert_eq!(json["interval"], 60.0);
        assert_eq!(json["lastEvaluation"], "2023-11-14T22:13:20Z");
        let rule = &json["rules"][0];
        assert_eq!(rule["type"], "alerting");
        assert_eq!(rule["state"], "pending");
        assert_eq!(rule["duration"], 300.0);
        assert_eq!(rule["health"], "ok");
        assert_eq!(rule["lastError"], "");
        let alert = &rule["alerts"][0];
        assert_eq!(alert["state"], "pending");
        assert_eq!(alert["activeAt"], "2023-11-14T22:13:20Z");
        assert_eq!(alert["value"], "0e+00");
        assert_eq!(alert["labels"]["alertname"], "InstanceDown");
        assert_eq!(alert["labels"]["severity"], "page");
        assert_eq!(alert["annotations"]["summary"], "down");
    }
}
