//! Golden tests. Every expected value below was worked out by hand from
//! Alertmanager's documented semantics (routing tree, inhibition, silences,
//! time intervals), not printed from this code.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};

use crate::config::{self, parse};
use crate::dispatch::inhibit::Inhibitor;
use crate::dispatch::matcher::{ApiMatcher, LabelSet};
use crate::dispatch::route::Route;
use crate::dispatch::silence::{silenced_by, Silence, SilenceError, SilenceState};
use crate::dispatch::timeinterval::contains_any;

fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Alertmanager's documented example (doc/examples/simple.yml, current
/// syntax), extended with a `continue` audit route, `group_by: ['...']`, a
/// multi-matcher line and a muted dev route.
pub(crate) const EXAMPLE: &str = r#"
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'

templates:
  - '/etc/alertmanager/template/*.tmpl'

route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    # Every critical alert is also copied to the audit webhook.
    - matchers: [severity="critical"]
      receiver: audit
      group_by: ['...']
      continue: true
    - match_re:
        service: ^(foo1|foo2|baz)$
      receiver: team-X-mails
      routes:
        - match:
            severity: critical
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails
      routes:
        - matchers: [severity="critical"]
          receiver: team-Y-pager
    - matchers: ['service="database"']
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      repeat_interval: 1h
      routes:
        - matchers: [owner="team-X"]
          receiver: team-X-pager
          continue: true
        - matchers: [owner="team-Y"]
          receiver: team-Y-pager
    - matchers: ['{env=~"dev|staging", team!="core"}']
      receiver: dev-null
      mute_time_intervals: [offhours]

inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]

time_intervals:
  - name: offhours
    time_intervals:
      - times:
          - start_time: '00:00'
            end_time: '08:00'
      # 'saturday:sunday' would be refused: sunday is day 0.
      - weekdays: [saturday, sunday]

receivers:
  - name: team-X-mails
    email_configs:
      - to: 'team-X+alerts@example.org'
  - name: team-X-pager
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - service_key: <team-X-key>
  - name: team-Y-mails
    email_configs:
      - to: 'team-Y+alerts@example.org'
  - name: team-Y-pager
    pagerduty_configs:
      - service_key: <team-Y-key>
  - name: team-DB-pager
    pagerduty_configs:
      - service_key: <team-DB-key>
  - name: audit
    webhook_configs:
      - url: 'http://audit.example.org/hook'
  - name: dev-null
"#;

/// (receiver, group labels) for each route an alert is sent to.
fn route_of(root: &Route, labels: &LabelSet) -> Vec<(String, LabelSet)> {
    root.matching(labels)
        .into_iter()
        .map(|r| (r.receiver.clone(), r.group_labels(labels)))
        .collect()
}

#[test]
fn golden_routing() {
    let cfg = parse(EXAMPLE).unwrap();
    let root = Route::from_config(&cfg.route);

    // (alert, [(receiver, group labels)]) worked out by walking the tree.
    let cases: Vec<(LabelSet, Vec<(&str, LabelSet)>)> = vec![
        // foo1 warning: the audit route needs critical; the regex route
        // matches, its critical child does not, so the parent takes it.
        (
            ls(&[
                ("alertname", "HighLatency"),
                ("service", "foo1"),
                ("severity", "warning"),
                ("cluster", "eu1"),
                ("instance", "a"),
            ]),
            vec![(
                "team-X-mails",
                ls(&[
                    ("alertname", "HighLatency"),
                    ("cluster", "eu1"),
                    ("service", "foo1"),
                ]),
            )],
        ),
        // foo2 critical: audit (continue: true, group by all labels), then
        // team-X-pager which inherits group_by from its parent chain.
        (
            ls(&[
                ("alertname", "HighLatency"),
                ("service", "foo2"),
                ("severity", "critical"),
                ("cluster", "eu1"),
            ]),
            vec![
                (
                    "audit",
                    ls(&[
                        ("alertname", "HighLatency"),
                        ("cluster", "eu1"),
                        ("service", "foo2"),
                        ("severity", "critical"),
                    ]),
                ),
                (
                    "team-X-pager",
                    ls(&[
                        ("alertname", "HighLatency"),
                        ("cluster", "eu1"),
                        ("service", "foo2"),
                    ]),
                ),
            ],
        ),
        // database critical owned by team-X: audit, then the team-X child
        // (continue: true, but team-Y child does not match), grouped by the
        // database route's group_by.
        (
            ls(&[
                ("alertname", "DiskFull"),
                ("service", "database"),
                ("owner", "team-X"),
                ("severity", "critical"),
                ("cluster", "us1"),
                ("database", "users"),
            ]),
            vec![
                (
                    "audit",
                    ls(&[
                        ("alertname", "DiskFull"),
                        ("service", "database"),
                        ("owner", "team-X"),
                        ("severity", "critical"),
                        ("cluster", "us1"),
                        ("database", "users"),
                    ]),
                ),
                (
                    "team-X-pager",
                    ls(&[
                        ("alertname", "DiskFull"),
                        ("cluster", "us1"),
                        ("database", "users"),
                    ]),
                ),
            ],
        ),
        // database warning with an unknown owner: the database route itself;
        // `database` is absent so it is not a group label.
        (
            ls(&[
                ("alertname", "DiskFull"),
                ("service", "database"),
                ("owner", "team-Z"),
                ("severity", "warning"),
                ("cluster", "us1"),
            ]),
            vec![(
                "team-DB-pager",
                ls(&[("alertname", "DiskFull"), ("cluster", "us1")]),
            )],
        ),
        // Both owner children would match only one at a time; team-Y.
        (
            ls(&[
                ("alertname", "DiskFull"),
                ("service", "database"),
                ("owner", "team-Y"),
            ]),
            vec![("team-Y-pager", ls(&[("alertname", "DiskFull")]))],
        ),
        // dev route: env matches the regex and team != core.
        (
            ls(&[
                ("alertname", "Foo"),
                ("service", "other"),
                ("env", "staging"),
                ("team", "web"),
            ]),
            vec![(
                "dev-null",
                ls(&[("alertname", "Foo"), ("service", "other")]),
            )],
        ),
        // team == core fails the dev route: falls back to the root.
        (
            ls(&[
                ("alertname", "Foo"),
                ("service", "other"),
                ("env", "staging"),
                ("team", "core"),
            ]),
            vec![(
                "team-X-mails",
                ls(&[("alertname", "Foo"), ("service", "other")]),
            )],
        ),
        // Missing team label is "", which != "core": dev route.
        (
            ls(&[("alertname", "Foo"), ("env", "dev")]),
            vec![("dev-null", ls(&[("alertname", "Foo")]))],
        ),
        // Regexes are anchored: foo1x is not foo1.
        (
            ls(&[("alertname", "X"), ("service", "foo1x")]),
            vec![(
                "team-X-mails",
                ls(&[("alertname", "X"), ("service", "foo1x")]),
            )],
        ),
        // files critical: audit + team-Y-pager.
        (
            ls(&[
                ("alertname", "Y"),
                ("service", "files"),
                ("severity", "critical"),
            ]),
            vec![
                (
                    "audit",
                    ls(&[
                        ("alertname", "Y"),
                        ("service", "files"),
                        ("severity", "critical"),
                    ]),
                ),
                (
                    "team-Y-pager",
                    ls(&[("alertname", "Y"), ("service", "files")]),
                ),
            ],
        ),
    ];

    for (alert, want) in cases {
        let want: Vec<(String, LabelSet)> =
            want.into_iter().map(|(r, l)| (r.to_string(), l)).collect();
        assert_eq!(route_of(&root, &alert), want, "alert {alert:?}");
    }
}

#[test]
fn golden_route_options_and_keys() {
    let cfg = parse(EXAMPLE).unwrap();
    let root = Route::from_config(&cfg.route);
    let secs = |d: config::Duration| d.0.as_secs();

    assert_eq!(root.key(), "{}");
    assert_eq!(secs(root.group_wait), 30);
    assert_eq!(secs(root.repeat_interval), 3 * 3600);

    let db = &root.routes[3];
    assert_eq!(db.key(), r#"{}/{service="database"}"#);
    assert_eq!(db.id(), r#"{}/{service="database"}/3"#);
    assert_eq!(secs(db.repeat_interval), 3600);
    // Inherited from the root, since the database route does not set them.
    assert_eq!(secs(db.group_wait), 30);
    assert_eq!(secs(db.group_interval), 300);
    let tx = &db.routes[0];
    assert_eq!(tx.key(), r#"{}/{service="database"}/{owner="team-X"}"#);
    assert_eq!(secs(tx.repeat_interval), 3600);
    assert_eq!(tx.receiver, "team-X-pager");

    // Legacy match_re keeps the pattern as written.
    assert_eq!(root.routes[1].key(), r#"{}/{service=~"^(foo1|foo2|baz)$"}"#);
    // A multi-matcher line, sorted by name.
    assert_eq!(
        root.routes[4].key(),
        r#"{}/{env=~"dev|staging",team!="core"}"#
    );

    let alert = ls(&[
        ("alertname", "DiskFull"),
        ("service", "database"),
        ("owner", "team-Z"),
        ("cluster", "us1"),
    ]);
    assert_eq!(
        db.group_key(&alert),
        r#"{}/{service="database"}:{alertname="DiskFull", cluster="us1"}"#
    );
    // Group by all: every label, in sorted order.
    let audit = &root.routes[0];
    assert!(audit.group_by_all);
    assert_eq!(
        audit.group_key(&ls(&[("severity", "critical"), ("a", "x\"y")])),
        r#"{}/{severity="critical"}:{a="x\"y", severity="critical"}"#
    );
}

#[test]
fn route_defaults_when_unset() {
    let cfg = parse("route:\n  receiver: r\nreceivers:\n  - name: r\n").unwrap();
    let root = Route::from_config(&cfg.route);
    assert_eq!(root.group_wait.0.as_secs(), 30);
    assert_eq!(root.group_interval.0.as_secs(), 300);
    assert_eq!(root.repeat_interval.0.as_secs(), 4 * 3600);
    assert!(root.group_by.is_empty() && !root.group_by_all);
    // No group_by: one group per route.
    assert_eq!(root.group_key(&ls(&[("a", "1")])), "{}:{}");
}

#[test]
fn group_by_inheritance() {
    let cfg = parse(
        r#"
route:
  receiver: r
  group_by: ['...']
  routes:
    - matchers: [a="1"]
      group_by: []
      routes:
        - matchers: [b="1"]
          group_by: [b]
receivers: [{name: r}]
"#,
    )
    .unwrap();
    let root = Route::from_config(&cfg.route);
    // An empty list inherits (group by all) …
    assert!(root.routes[0].group_by_all);
    // … and an explicit list replaces it.
    let leaf = &root.routes[0].routes[0];
    assert!(!leaf.group_by_all);
    assert_eq!(
        leaf.group_labels(&ls(&[("a", "1"), ("b", "1"), ("c", "1")])),
        ls(&[("b", "1")])
    );
}

#[test]
fn golden_route_time_intervals() {
    let cfg = parse(EXAMPLE).unwrap();
    let root = Route::from_config(&cfg.route);
    let named = cfg.named_time_intervals();
    let dev = &root.routes[4];
    // 2024-05-01 is a Wednesday.
    assert!(dev.muted_at(&named, at(2024, 5, 1, 7, 59)));
    assert!(!dev.muted_at(&named, at(2024, 5, 1, 8, 0)));
    assert!(dev.muted_at(&named, at(2024, 5, 4, 12, 0))); // Saturday
    assert!(!root.muted_at(&named, at(2024, 5, 4, 12, 0)));

    let cfg = parse(
        r#"
route:
  receiver: r
  routes:
    - matchers: [a="1"]
      active_time_intervals: [business]
time_intervals:
  - name: business
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
receivers: [{name: r}]
"#,
    )
    .unwrap();
    let root = Route::from_config(&cfg.route);
    let named = cfg.named_time_intervals();
    let r = &root.routes[0];
    assert!(!r.muted_at(&named, at(2024, 5, 1, 10, 0)));
    assert!(r.muted_at(&named, at(2024, 5, 1, 18, 0)));
    assert!(r.muted_at(&named, at(2024, 5, 5, 10, 0))); // Sunday
}

#[test]
fn golden_inhibition() {
    let cfg = parse(
        r#"
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster, alertname]
  - source_match: {alertname: NodeDown}
    target_match_re: {alertname: "Node.+"}
    equal: [instance]
"#,
    )
    .unwrap();
    let inh = Inhibitor::new(&cfg.inhibit_rules);

    let c1 = ls(&[
        ("alertname", "HighLatency"),
        ("cluster", "eu1"),
        ("severity", "critical"),
    ]);
    let w1 = ls(&[
        ("alertname", "HighLatency"),
        ("cluster", "eu1"),
        ("severity", "warning"),
    ]);
    let w2 = ls(&[
        ("alertname", "HighLatency"),
        ("cluster", "us1"),
        ("severity", "warning"),
    ]);
    let w3 = ls(&[
        ("alertname", "ErrorRate"),
        ("cluster", "eu1"),
        ("severity", "warning"),
    ]);
    let c2 = ls(&[("alertname", "Other"), ("severity", "critical")]);
    let w4 = ls(&[("alertname", "Other"), ("severity", "warning")]);
    let i1 = ls(&[
        ("alertname", "HighLatency"),
        ("cluster", "eu1"),
        ("severity", "info"),
    ]);
    let firing = vec![
        c1.clone(),
        w1.clone(),
        w2.clone(),
        w3.clone(),
        c2.clone(),
        w4.clone(),
        i1.clone(),
    ];

    assert!(inh.mutes(&w1, &firing)); // same cluster and alertname as c1
    assert_eq!(inh.inhibited_by(&w1, &firing), vec![0]);
    assert!(!inh.mutes(&w2, &firing)); // other cluster
    assert!(!inh.mutes(&w3, &firing)); // other alertname
    assert!(inh.mutes(&w4, &firing)); // cluster absent on both sides: equal
    assert!(!inh.mutes(&c1, &firing)); // a source is not a target
    assert!(!inh.mutes(&i1, &firing)); // info is not a target
                                       // Once the critical alert stops firing, the warning is let through.
    assert!(!inh.mutes(&w1, &[w1.clone(), w2.clone()]));

    // Rule 2: NodeDown is on both sides. It never inhibits itself, nor
    // another two-sided alert; it inhibits one-sided targets.
    let down_x = ls(&[("alertname", "NodeDown"), ("instance", "a"), ("job", "x")]);
    let down_y = ls(&[("alertname", "NodeDown"), ("instance", "a"), ("job", "y")]);
    let fs_a = ls(&[("alertname", "NodeFilesystemFull"), ("instance", "a")]);
    let fs_b = ls(&[("alertname", "NodeFilesystemFull"), ("instance", "b")]);
    let firing = vec![down_x.clone(), down_y.clone(), fs_a.clone(), fs_b.clone()];
    assert!(!inh.mutes(&down_x, &firing));
    assert!(!inh.mutes(&down_y, &firing));
    assert!(inh.mutes(&fs_a, &firing));
    assert_eq!(inh.inhibited_by(&fs_a, &firing), vec![0, 1]);
    assert!(!inh.mutes(&fs_b, &firing));
}

#[test]
fn golden_inhibition_example_config() {
    // equal: [alertname, cluster, service] from the example.
    let cfg = parse(EXAMPLE).unwrap();
    let inh = Inhibitor::new(&cfg.inhibit_rules);
    let crit = ls(&[
        ("alertname", "A"),
        ("cluster", "c"),
        ("service", "s"),
        ("severity", "critical"),
    ]);
    let warn_same = ls(&[
        ("alertname", "A"),
        ("cluster", "c"),
        ("service", "s"),
        ("severity", "warning"),
    ]);
    let warn_other = ls(&[
        ("alertname", "A"),
        ("cluster", "c"),
        ("service", "t"),
        ("severity", "warning"),
    ]);
    let firing = vec![crit, warn_same.clone(), warn_other.clone()];
    assert!(inh.mutes(&warn_same, &firing));
    assert!(!inh.mutes(&warn_other, &firing));
}

fn api(name: &str, value: &str, is_regex: bool, is_equal: bool) -> ApiMatcher {
    ApiMatcher {
        name: name.into(),
        value: value.into(),
        is_regex,
        is_equal: Some(is_equal),
    }
}

#[test]
fn golden_silences() {
    let t0 = at(2024, 5, 1, 12, 0);
    let h = Span::hours(1);
    let mk = |id: &str, ms: &[ApiMatcher], start, end| {
        Silence::from_api(id, ms, start, end, "ops", "maintenance", t0 - h * 2).unwrap()
    };
    let s_regex = mk(
        "s-regex",
        &[
            api("alertname", "HighLatency", false, true),
            api("instance", "web-.*", true, true),
        ],
        t0 - h,
        t0 + h,
    );
    let s_neg = mk(
        "s-neg",
        &[
            api("alertname", "Foo", false, true),
            api("job", "prod", false, false),
        ],
        t0 - h,
        t0 + h,
    );
    let s_negre = mk(
        "s-negre",
        &[
            api("env", "prod|staging", true, false),
            api("team", "web", false, true),
        ],
        t0 - h,
        t0 + h,
    );
    let s_expired = mk(
        "s-expired",
        &[api("alertname", "Old", false, true)],
        t0 - h * 3,
        t0 - Span::minutes(1),
    );
    let s_pending = mk(
        "s-pending",
        &[api("alertname", "Later", false, true)],
        t0 + h,
        t0 + h * 2,
    );

    assert_eq!(s_regex.state(t0), SilenceState::Active);
    assert_eq!(s_expired.state(t0), SilenceState::Expired);
    assert_eq!(s_pending.state(t0), SilenceState::Pending);
    // Boundaries: active from starts_at inclusive to ends_at exclusive.
    assert_eq!(s_pending.state(t0 + h), SilenceState::Active);
    assert_eq!(s_pending.state(t0 + h * 2), SilenceState::Expired);

    let all = vec![s_regex, s_neg, s_negre, s_expired, s_pending];
    let cases: Vec<(LabelSet, Vec<&str>)> = vec![
        (
            ls(&[("alertname", "HighLatency"), ("instance", "web-1")]),
            vec!["s-regex"],
        ),
        (
            ls(&[("alertname", "HighLatency"), ("instance", "db-1")]),
            vec![],
        ),
        // Anchored regex.
        (
            ls(&[("alertname", "HighLatency"), ("instance", "xweb-1")]),
            vec![],
        ),
        (ls(&[("alertname", "Foo"), ("job", "dev")]), vec!["s-neg"]),
        // job absent = "" which is != "prod".
        (ls(&[("alertname", "Foo")]), vec!["s-neg"]),
        (ls(&[("alertname", "Foo"), ("job", "prod")]), vec![]),
        (ls(&[("env", "dev"), ("team", "web")]), vec!["s-negre"]),
        (ls(&[("env", "staging"), ("team", "web")]), vec![]),
        (ls(&[("team", "web")]), vec!["s-negre"]),
        // Expired and pending silences mute nothing.
        (ls(&[("alertname", "Old")]), vec![]),
        (ls(&[("alertname", "Later")]), vec![]),
    ];
    for (labels, want) in cases {
        assert_eq!(silenced_by(&all, &labels, t0), want, "{labels:?}");
    }
    // The pending one mutes once it starts.
    assert_eq!(
        silenced_by(&all, &ls(&[("alertname", "Later")]), t0 + h),
        vec!["s-pending"]
    );
}

#[test]
fn silence_validation() {
    let t0 = at(2024, 5, 1, 12, 0);
    let h = Span::hours(1);
    let err = |ms: &[ApiMatcher], s, e| Silence::from_api("x", ms, s, e, "", "", t0).unwrap_err();
    assert_eq!(
        err(&[], t0, t0 + h).to_string(),
        "at least one matcher required"
    );
    assert_eq!(
        err(&[api("foo", ".*", true, true)], t0, t0 + h).to_string(),
        "at least one matcher must not match the empty string"
    );
    assert_eq!(
        err(&[api("foo", "bar", false, false)], t0, t0 + h).to_string(),
        "at least one matcher must not match the empty string"
    );
    assert_eq!(
        err(&[api("foo", "bar", false, true)], t0, t0 - h).to_string(),
        "end time must not be before start time"
    );
    assert!(matches!(
        err(
            &[api("a", "b", false, true), api("foo", "(", true, true)],
            t0,
            t0 + h
        ),
        SilenceError::Matcher { index: 1, .. }
    ));
    // isEqual absent defaults to true.
    let m = ApiMatcher {
        name: "a".into(),
        value: "b".into(),
        is_regex: false,
        is_equal: None,
    };
    let s = Silence::from_api("x", &[m], t0, t0 + h, "", "", t0).unwrap();
    assert!(s.mutes(&ls(&[("a", "b")]), t0));
}

const INTERVALS: &str = r#"
route:
  receiver: r
receivers: [{name: r}]
time_intervals:
  - name: business-hours
    time_intervals:
      - weekdays: ['monday:friday']
        times:
          - start_time: '09:00'
            end_time: '17:00'
  - name: weekends
    time_intervals:
      - weekdays: ['Saturday', 'sunday']
  - name: month-end
    time_intervals:
      - days_of_month: ['-3:-1']
  - name: first-and-last
    time_intervals:
      - days_of_month: ['1', '-1']
        months: ['january:march', '12']
        years: ['2024:2025']
  - name: late-evening
    time_intervals:
      - times:
          - start_time: '22:00'
            end_time: '24:00'
        location: UTC
  - name: berlin-office
    time_intervals:
      - times:
          - start_time: '09:00'
            end_time: '17:00'
        weekdays: ['monday:friday']
        location: Europe/Berlin
  - name: late-feb
    time_intervals:
      - days_of_month: ['30:31']
      - days_of_month: ['25:31']
        months: [february]
mute_time_intervals:
  - name: legacy-lunch
    time_intervals:
      - times: [{start_time: '12:00', end_time: '13:00'}]
"#;

#[test]
fn golden_time_intervals() {
    let cfg = parse(INTERVALS).unwrap();
    let named = cfg.named_time_intervals();
    let c = |name: &str, t: DateTime<Utc>| contains_any(&named[name], t);

    // 2024-05-01 is a Wednesday; 05-04 Saturday; 05-05 Sunday; 05-06 Monday.
    assert!(c("business-hours", at(2024, 5, 1, 9, 0)));
    assert!(!c("business-hours", at(2024, 5, 1, 8, 59)));
    assert!(c("business-hours", at(2024, 5, 1, 16, 59)));
    assert!(!c("business-hours", at(2024, 5, 1, 17, 0))); // end is exclusive
    assert!(!c("business-hours", at(2024, 5, 4, 12, 0)));
    assert!(c("business-hours", at(2024, 5, 3, 12, 0))); // Friday

    assert!(c("weekends", at(2024, 5, 4, 0, 0)));
    assert!(c("weekends", at(2024, 5, 5, 23, 59)));
    assert!(!c("weekends", at(2024, 5, 6, 0, 0)));
    assert!(!c("weekends", at(2024, 5, 3, 23, 59)));

    // Last three days of the month, whatever its length.
    assert!(c("month-end", at(2024, 2, 27, 0, 0))); // leap February: 27..29
    assert!(!c("month-end", at(2024, 2, 26, 23, 59)));
    assert!(c("month-end", at(2024, 2, 29, 12, 0)));
    assert!(c("month-end", at(2023, 2, 26, 0, 0))); // 28 days: 26..28
    assert!(!c("month-end", at(2023, 2, 25, 0, 0)));
    assert!(c("month-end", at(2024, 4, 28, 0, 0))); // 30 days: 28..30
    assert!(!c("month-end", at(2024, 4, 27, 0, 0)));
    assert!(c("month-end", at(2024, 5, 31, 0, 0)));
    assert!(!c("month-end", at(2024, 5, 28, 0, 0)));

    // First or last day, in Jan–Mar or December, in 2024–2025.
    assert!(c("first-and-last", at(2024, 3, 31, 6, 0)));
    assert!(!c("first-and-last", at(2024, 3, 30, 6, 0)));
    assert!(!c("first-and-last", at(2024, 4, 1, 6, 0)));
    assert!(c("first-and-last", at(2024, 12, 1, 6, 0)));
    assert!(c("first-and-last", at(2025, 2, 28, 6, 0)));
    assert!(!c("first-and-last", at(2024, 2, 28, 6, 0))); // leap year: 29 is last
    assert!(!c("first-and-last", at(2026, 1, 1, 6, 0)));

    assert!(c("late-evening", at(2024, 5, 1, 22, 0)));
    assert!(c("late-evening", at(2024, 5, 1, 23, 59)));
    assert!(!c("late-evening", at(2024, 5, 2, 0, 0)));
    assert!(!c("late-evening", at(2024, 5, 1, 21, 59)));

    // 30:31 does not exist in February; the second interval (25:31 in
    // February) is clamped to the month's last day.
    assert!(!c("late-feb", at(2023, 2, 24, 0, 0)));
    assert!(c("late-feb", at(2023, 2, 28, 0, 0)));
    assert!(c("late-feb", at(2024, 3, 30, 0, 0)));
    assert!(!c("late-feb", at(2024, 3, 29, 0, 0)));

    // Berlin is UTC+2 in May (summer time) and UTC+1 in January.
    assert!(c("berlin-office", at(2024, 5, 1, 7, 0)));
    assert!(!c("berlin-office", at(2024, 5, 1, 6, 59)));
    assert!(!c("berlin-office", at(2024, 5, 1, 15, 0)));
    assert!(c("berlin-office", at(2024, 1, 15, 15, 59)));
    assert!(!c("berlin-office", at(2024, 1, 15, 7, 30)));
    // Noon on a Saturday in Berlin.
    assert!(!c("berlin-office", at(2024, 5, 4, 10, 0)));

    assert!(c("legacy-lunch", at(2024, 5, 1, 12, 30)));
    assert!(!c("legacy-lunch", at(2024, 5, 1, 13, 0)));
}

#[test]
fn time_interval_parse_errors() {
    let bad = |frag: &str| {
        let text = format!(
            "route: {{receiver: r}}\nreceivers: [{{name: r}}]\ntime_intervals:\n  - name: t\n    time_intervals:\n      - {frag}\n"
        );
        parse(&text).unwrap_err().to_string()
    };
    let e = bad("weekdays: ['friday:monday']");
    assert!(e.contains("start day cannot be before end day"), "{e}");
    assert!(e.starts_with("6:"), "{e}");
    let e = bad("weekdays: ['funday']");
    assert!(e.contains("funday is not a valid weekday"), "{e}");
    let e = bad("days_of_month: ['-1:5']");
    assert!(
        e.contains("end day must be negative if start day is negative"),
        "{e}"
    );
    let e = bad("days_of_month: ['0']");
    assert!(
        e.contains("0 is not a valid day of the month: out of range"),
        "{e}"
    );
    let e = bad("days_of_month: ['10:5']");
    assert!(e.contains("end day 5 is always before start day 10"), "{e}");
    let e = bad("months: ['march:january']");
    assert!(
        e.contains("end month january is before start month march"),
        "{e}"
    );
    let e = bad("years: ['2025:2024']");
    assert!(e.contains("end year 2024 is before start year 2025"), "{e}");
    let e = bad("times: [{start_time: '17:00', end_time: '09:00'}]");
    assert!(
        e.contains("start time cannot be equal or greater than end time"),
        "{e}"
    );
    let e = bad("times: [{start_time: '25:00', end_time: '26:00'}]");
    assert!(
        e.contains("couldn't parse timestamp 25:00, invalid format"),
        "{e}"
    );
    let e = bad("times: [{start_time: '09:00'}]");
    assert!(
        e.contains("both start and end times must be provided"),
        "{e}"
    );
    let e = bad("location: Europe/Atlantis");
    assert!(e.contains("unknown time zone Europe/Atlantis"), "{e}");
    let e = bad("hours: ['1']");
    assert!(e.contains("unknown field `hours`"), "{e}");
}
