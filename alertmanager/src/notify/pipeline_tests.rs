//! Golden timing tests with a controlled clock. Every expected notification
//! below was worked out by hand from Alertmanager's documented semantics
//! (dispatch.go timers, the notify stages, DedupStage.needsUpdate), not
//! printed from this code.
//!
//! Notation: `5m30s team/0 a+ b-` is a notification at T0 + 5m30s to
//! integration 0 of receiver `team`, with alert `id=a` firing and `id=b`
//! resolved.

use super::*;
use crate::config::parse;
use crate::dispatch::matcher::{MatchType, Matcher};
use crate::notify::webhook::payload;

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
/// Monday 2024-01-01 12:00:00 UTC.
const T0: i64 = 1_704_110_400_000;

const BASE: &str = r#"
route:
  receiver: team
  group_by: [alertname]
receivers:
- name: team
  webhook_configs:
  - url: http://hook.example/team
"#;

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hms(ms: i64) -> String {
    // Go's time.Duration.String for whole seconds.
    let (h, m, s) = (ms / H, ms % H / M, ms % M / S);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn render(o: &Outbound) -> String {
    let alerts: Vec<String> = o
        .alerts
        .iter()
        .map(|a| {
            let id = a.labels.get("id").map_or("?", String::as_str);
            let st = if a.resolved_at(o.at_ms) { "-" } else { "+" };
            format!("{id}{st}")
        })
        .collect();
    format!(
        "{} {}/{} {}",
        hms(o.at_ms - T0),
        o.receiver,
        o.index,
        alerts.join(" ")
    )
}

/// An alert firing from `t`, as a sender posts it.
fn firing(pairs: &[(&str, &str)], t: i64) -> Stored {
    Stored {
        alert: Alert {
            labels: ls(pairs),
            annotations: LabelSet::new(),
            starts_at: t,
            ends_at: t + 24 * H,
            generator_url: String::new(),
            updated_at: t,
        },
        timeout: false,
    }
}

/// A pipeline and a driver that ticks at every deadline, delivering
/// successfully unless `fail` is set.
struct Sim {
    p: Pipeline,
    sent: Vec<String>,
    outbound: Vec<Outbound>,
    fail: bool,
}

impl Sim {
    fn new(yaml: &str) -> Sim {
        let config = parse(yaml).unwrap();
        Sim {
            p: Pipeline::new(&config, T0),
            sent: Vec::new(),
            outbound: Vec::new(),
            fail: false,
        }
    }

    /// Runs every flush due up to T0 + `to`.
    fn advance(&mut self, to: i64) {
        while let Some(d) = self.p.next_deadline().filter(|d| *d <= T0 + to) {
            for o in self.p.tick(d) {
                self.sent.push(render(&o));
                if self.fail {
                    self.p.mark_failed(&o);
                } else {
                    self.p.mark_sent(&o);
                }
                self.outbound.push(o);
            }
        }
    }

    fn fire(&mut self, at: i64, pairs: &[(&str, &str)]) {
        self.advance(at);
        let t = T0 + at;
        self.p.insert(vec![firing(pairs, t)], t);
    }

    fn resolve(&mut self, at: i64, pairs: &[(&str, &str)]) {
        self.advance(at);
        let t = T0 + at;
        self.p.insert(
            vec![Stored {
                alert: Alert {
                    labels: ls(pairs),
                    annotations: LabelSet::new(),
                    starts_at: t,
                    ends_at: t,
                    generator_url: String::new(),
                    updated_at: t,
                },
                timeout: false,
            }],
            t,
        );
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sent)
    }
}

const A: &[(&str, &str)] = &[("alertname", "Down"), ("id", "a")];
const B: &[(&str, &str)] = &[("alertname", "Down"), ("id", "b")];

#[test]
fn second_alert_within_group_wait_is_in_first_notification() {
    let mut s = Sim::new(BASE);
    s.fire(0, A);
    // group_wait defaults to 30s.
    assert_eq!(s.p.next_deadline(), Some(T0 + 30 * S));
    s.fire(10 * S, B);
    assert_eq!(
        s.p.next_deadline(),
        Some(T0 + 30 * S),
        "a join keeps the timer"
    );
    s.advance(29 * S);
    assert!(s.take().is_empty());
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s team/0 a+ b+"]);
    let o = &s.outbound[0];
    assert_eq!(o.group_key, r#"{}:{alertname="Down"}"#);
    assert_eq!(o.group_labels, ls(&[("alertname", "Down")]));
    assert_eq!(o.integration, IntegrationKind::Webhook);
    // Then every group_interval (5m): nothing changed, nothing sent.
    assert_eq!(s.p.next_deadline(), Some(T0 + 5 * M + 30 * S));
    s.advance(10 * M + 31 * S);
    assert!(s.take().is_empty());
    assert_eq!(s.p.next_deadline(), Some(T0 + 15 * M + 30 * S));
}

#[test]
fn alert_joining_after_first_flush_waits_for_group_interval() {
    let mut s = Sim::new(BASE);
    s.fire(0, A);
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s team/0 a+"]);
    s.fire(40 * S, B);
    s.advance(5 * M + 29 * S);
    assert!(s.take().is_empty());
    assert_eq!(s.p.next_deadline(), Some(T0 + 5 * M + 30 * S));
    s.advance(5 * M + 30 * S);
    assert_eq!(s.take(), ["5m30s team/0 a+ b+"]);
}

#[test]
fn repeat_interval_resends_at_first_flush_strictly_after_it() {
    // repeat_interval 4h: the flush at 4h0m30s has `last send == now - 4h`,
    // which is not before it (strict), so the resend is one group_interval
    // later, at 4h5m30s; the next one likewise at 8h10m30s.
    let mut s = Sim::new(BASE);
    s.fire(0, A);
    s.advance(9 * H);
    assert_eq!(
        s.take(),
        ["30s team/0 a+", "4h5m30s team/0 a+", "8h10m30s team/0 a+"]
    );
}

#[test]
fn resolved_notifications_and_send_resolved_false() {
    let mut s = Sim::new(
        r#"
route:
  receiver: team
  group_by: [alertname]
receivers:
- name: team
  webhook_configs:
  - url: http://hook.example/all
  - url: http://hook.example/firing-only
    send_resolved: false
"#,
    );
    s.fire(0, A);
    s.fire(0, B);
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s team/0 a+ b+", "30s team/1 a+ b+"]);
    // b resolves: the send_resolved integration hears of it at the next
    // flush; the other has nothing new.
    s.resolve(2 * M, B);
    s.advance(5 * M + 30 * S);
    assert_eq!(s.take(), ["5m30s team/0 a+ b-"]);
    // b was flushed and delivered: it is gone from the group.
    s.advance(10 * M + 30 * S);
    assert!(s.take().is_empty());
    let g = s.p.groups().groups().next().unwrap();
    assert_eq!(g.len(), 1);
    // a resolves: all resolved. The firing-only integration sends nothing
    // but its log entry is cleared of firing alerts.
    s.resolve(12 * M, A);
    s.advance(15 * M + 30 * S);
    assert_eq!(s.take(), ["15m30s team/0 a-"]);
    assert!(s.p.groups().is_empty(), "empty group deleted");
    assert_eq!(s.p.next_deadline(), None);
    let rk = ReceiverKey {
        receiver: "team".into(),
        integration: "webhook".into(),
        index: 1,
    };
    let e =
        s.p.nflog()
            .query(&rk, r#"{}:{alertname="Down"}"#, T0 + 16 * M)
            .unwrap();
    assert!(e.firing.is_empty());
    assert_eq!(e.resolved.len(), 1);
    assert_eq!(e.timestamp_ms, T0 + 15 * M + 30 * S);
    // a fires again: a new group, and both integrations are told.
    s.fire(20 * M, A);
    s.advance(21 * M);
    assert_eq!(s.take(), ["20m30s team/0 a+", "20m30s team/1 a+"]);
}

#[test]
fn silenced_alert_is_sent_after_the_silence_expires() {
    let mut s = Sim::new(BASE);
    s.p.set_silences(vec![Silence {
        id: "s1".into(),
        matchers: vec![Matcher::new(MatchType::Equal, "id", "b").unwrap()],
        starts_at: instant(T0 - M),
        ends_at: instant(T0 + 7 * M),
        created_by: "me".into(),
        comment: "maintenance".into(),
        updated_at: instant(T0 - M),
    }]);
    s.fire(0, A);
    s.fire(0, B);
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s team/0 a+"]);
    s.advance(5 * M + 30 * S);
    assert!(s.take().is_empty(), "b still silenced, a already sent");
    // The silence ended at 7m: b is new to the receiver at 10m30s.
    s.advance(10 * M + 30 * S);
    assert_eq!(s.take(), ["10m30s team/0 a+ b+"]);
}

#[test]
fn critical_inhibits_warning_with_equal_cluster() {
    let mut s = Sim::new(&format!(
        "{BASE}inhibit_rules:\n- source_matchers: [severity=\"critical\"]\n  target_matchers: [severity=\"warning\"]\n  equal: [cluster]\n"
    ));
    let w1 = &[
        ("alertname", "Latency"),
        ("severity", "warning"),
        ("cluster", "eu"),
        ("id", "w1"),
    ];
    let w2 = &[
        ("alertname", "Latency"),
        ("severity", "warning"),
        ("cluster", "us"),
        ("id", "w2"),
    ];
    let c = &[
        ("alertname", "Down"),
        ("severity", "critical"),
        ("cluster", "eu"),
        ("id", "c"),
    ];
    s.fire(0, w1);
    s.fire(0, w2);
    s.fire(0, c);
    s.advance(30 * S);
    // w1 shares cluster=eu with the critical c: inhibited.
    assert_eq!(s.take(), ["30s team/0 c+", "30s team/0 w2+"]);
    // c resolves: no longer a source, so w1 is new at the next flush.
    s.resolve(3 * M, c);
    s.advance(5 * M + 30 * S);
    assert_eq!(s.take(), ["5m30s team/0 c-", "5m30s team/0 w1+ w2+"]);
}

#[test]
fn muted_route_sends_nothing_during_the_interval() {
    let mut s = Sim::new(
        r#"
route:
  receiver: team
  group_by: [alertname]
  routes:
  - matchers: [team="db"]
    receiver: db
    mute_time_intervals: [lunch]
receivers:
- name: team
  webhook_configs:
  - url: http://hook.example/team
- name: db
  webhook_configs:
  - url: http://hook.example/db
time_intervals:
- name: lunch
  time_intervals:
  - times:
    - start_time: '12:00'
      end_time: '13:00'
"#,
    );
    // T0 is 12:00 UTC: the db route is muted until 13:00.
    s.fire(
        10 * M,
        &[("alertname", "Slow"), ("team", "db"), ("id", "a")],
    );
    s.fire(
        10 * M,
        &[("alertname", "Slow"), ("team", "db"), ("id", "b")],
    );
    s.fire(
        10 * M,
        &[("alertname", "Slow"), ("team", "web"), ("id", "c")],
    );
    // b resolves while muted: the muted flush counts as done, so b leaves
    // its group unsent (as in Alertmanager).
    s.resolve(
        20 * M,
        &[("alertname", "Slow"), ("team", "db"), ("id", "b")],
    );
    s.advance(H);
    assert_eq!(s.take(), ["10m30s team/0 c+"]);
    // First flush after 13:00 (flushes at 12:10:30 + k*5m).
    s.advance(H + 30 * S);
    assert_eq!(s.take(), ["1h0m30s db/0 a+"]);
}

#[test]
fn continue_sends_to_two_receivers() {
    let mut s = Sim::new(
        r#"
route:
  receiver: team
  group_by: [alertname]
  routes:
  - matchers: [severity="critical"]
    receiver: audit
    continue: true
  - matchers: [service="api"]
    receiver: api
receivers:
- name: team
  webhook_configs:
  - url: http://hook.example/team
- name: audit
  webhook_configs:
  - url: http://hook.example/audit
- name: api
  webhook_configs:
  - url: http://hook.example/api
"#,
    );
    s.fire(
        0,
        &[
            ("alertname", "Down"),
            ("severity", "critical"),
            ("service", "api"),
            ("id", "a"),
        ],
    );
    s.fire(
        0,
        &[
            ("alertname", "Down"),
            ("severity", "warning"),
            ("service", "api"),
            ("id", "b"),
        ],
    );
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s audit/0 a+", "30s api/0 a+ b+"]);
    let keys: Vec<&str> = s.outbound.iter().map(|o| o.group_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            r#"{}/{severity="critical"}:{alertname="Down"}"#,
            r#"{}/{service="api"}:{alertname="Down"}"#,
        ]
    );
}

#[test]
fn failed_delivery_is_retried_at_the_next_flush() {
    let mut s = Sim::new(BASE);
    s.fail = true;
    s.fire(0, A);
    s.advance(30 * S);
    assert_eq!(s.take(), ["30s team/0 a+"]);
    s.fail = false;
    s.advance(5 * M + 30 * S);
    assert_eq!(s.take(), ["5m30s team/0 a+"]);
    s.advance(10 * M + 30 * S);
    assert!(s.take().is_empty());
    // A failed resolved notification keeps the resolved alert (and its
    // group) for the next flush.
    s.resolve(12 * M, A);
    s.fail = true;
    s.advance(15 * M + 30 * S);
    assert_eq!(s.take(), ["15m30s team/0 a-"]);
    assert_eq!(s.p.next_deadline(), Some(T0 + 20 * M + 30 * S));
    s.fail = false;
    s.advance(20 * M + 30 * S);
    assert_eq!(s.take(), ["20m30s team/0 a-"]);
    assert_eq!(s.p.next_deadline(), None);
}

#[test]
fn old_alert_flushes_at_once_and_payload_uses_flush_instant() {
    let mut s = Sim::new(BASE);
    // Started an hour ago (e.g. received after a restart): older than
    // group_wait, so the new group flushes immediately.
    let old = Stored {
        alert: Alert {
            labels: ls(A),
            annotations: LabelSet::new(),
            starts_at: T0 - H,
            ends_at: T0 + 40 * S,
            generator_url: String::new(),
            updated_at: T0,
        },
        timeout: true,
    };
    s.p.insert(vec![old], T0);
    assert_eq!(s.p.next_deadline(), Some(T0));
    s.advance(0);
    assert_eq!(s.take(), ["0s team/0 a+"]);
    // Rendered with the flush instant, the alert is firing even if the
    // delivery happens after its endsAt.
    let p = payload(&s.outbound[0].notification("http://vigil", 0));
    assert_eq!(p["status"], "firing");
    assert_eq!(p["groupKey"], r#"{}:{alertname="Down"}"#);
    assert_eq!(p["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    // Not received again: it resolves by its timeout at 40s, notified at
    // the next flush (5m).
    s.advance(5 * M);
    assert_eq!(s.take(), ["5m0s team/0 a-"]);
    let p = payload(&s.outbound[1].notification("", 0));
    assert_eq!(p["status"], "resolved");
}

#[test]
fn a_slow_delivery_of_an_older_flush_does_not_replace_a_newer_ones_log_entry() {
    // Deliveries are completed by hand: the first flush's takes longer
    // than the group may wait for it (abandoned after 10 minutes).
    let mut p = Pipeline::new(&parse(BASE).unwrap(), T0);
    p.insert(vec![firing(A, T0)], T0);
    let first = p.tick(T0 + 30 * S);
    assert_eq!(first.len(), 1);
    p.insert(vec![firing(B, T0 + M)], T0 + M);
    // Still delivering: the flushes at 5m30s and 10m30s wait.
    assert!(p.tick(T0 + 5 * M + 30 * S).is_empty());
    assert!(p.tick(T0 + 10 * M + 29 * S).is_empty());
    let second = p.tick(T0 + 10 * M + 30 * S);
    assert_eq!(
        second.iter().map(render).collect::<Vec<_>>(),
        ["10m30s team/0 a+ b+"]
    );
    // The second flush's delivery ends first; the first one's ends later.
    p.mark_sent(&second[0]);
    p.mark_sent(&first[0]);
    let mut later = Vec::new();
    while let Some(d) = p.next_deadline().filter(|d| *d <= T0 + H) {
        later.extend(p.tick(d).iter().map(render));
    }
    assert!(later.is_empty(), "a+ b+ was logged as sent: {later:?}");
}

#[test]
fn a_group_waits_for_its_previous_notification_before_flushing_again() {
    let mut p = Pipeline::new(&parse(BASE).unwrap(), T0);
    p.insert(vec![firing(A, T0)], T0);
    let first = p.tick(T0 + 30 * S);
    p.insert(vec![firing(B, T0 + M)], T0 + M);
    assert!(
        p.tick(T0 + 5 * M + 30 * S).is_empty(),
        "a+ is still being delivered"
    );
    p.mark_sent(&first[0]);
    let next: Vec<String> = p.tick(T0 + 5 * M + 31 * S).iter().map(render).collect();
    assert_eq!(
        next,
        ["5m31s team/0 a+ b+"],
        "flushed a second later, once delivered"
    );
}
