//! Config parsing tests; expectations follow Alertmanager's `config.go`,
//! `notifiers.go` and its documentation.

use super::*;
use crate::dispatch::matcher::MatchType;

const FULL: &str = r#"
global:
  resolve_timeout: 1m
  smtp_smarthost: 'smtp.example.org:587'
  smtp_from: 'am@example.org'
  smtp_auth_username: 'am'
  smtp_auth_password: 'secret'
  smtp_require_tls: false
  slack_api_url: 'https://hooks.slack.com/services/x'

templates: ['/etc/alertmanager/*.tmpl']

route:
  receiver: ops
  group_by: [alertname]
  routes:
    - receiver: hooks
      matchers: ['team=~"a|b"']
      match:
        env: prod
      continue: true

receivers:
  - name: ops
    email_configs:
      - to: 'ops@example.org'
        headers:
          subject: 'Alert!'
          x-priority: '1'
      - to: 'boss@example.org'
        from: 'other@example.org'
        smarthost: '[::1]:25'
        require_tls: true
        send_resolved: true
        auth_password: 'own'
        text: 'plain'
  - name: hooks
    webhook_configs:
      - url: 'https://hooks.example.org/a'
        max_alerts: 10
      - url: 'http://hooks.example.org/b'
        send_resolved: false
        http_config:
          bearer_token: 'tok'
          tls_config:
            ca_file: /etc/ca.pem
            insecure_skip_verify: true
      - url_file: /etc/url
        http_config:
          basic_auth:
            username: u
            password_file: /etc/pw
          follow_redirects: false
    slack_configs:
      - channel: '#ops'
"#;

#[test]
fn parses_full_config_with_defaults() {
    let c = parse(FULL).unwrap();
    assert_eq!(c.global.resolve_timeout.0.as_secs(), 60);
    assert_eq!(c.global.smtp_hello, "localhost");
    assert!(!c.global.smtp_require_tls);
    assert_eq!(c.templates, vec!["/etc/alertmanager/*.tmpl"]);

    let ops = c.receiver("ops").unwrap();
    let e0 = &ops.email_configs[0];
    // Global defaults applied.
    assert_eq!(e0.from, "am@example.org");
    assert_eq!(e0.smarthost.to_string(), "smtp.example.org:587");
    assert_eq!(e0.hello, "localhost");
    assert_eq!(e0.auth_username, "am");
    assert_eq!(e0.auth_password, "secret");
    assert_eq!(e0.require_tls, Some(false));
    assert!(!e0.send_resolved);
    assert_eq!(e0.html, receivers::DEFAULT_EMAIL_HTML);
    // Header names title-cased.
    assert_eq!(
        e0.headers.get("Subject").map(String::as_str),
        Some("Alert!")
    );
    assert_eq!(e0.headers.get("X-Priority").map(String::as_str), Some("1"));
    // Own values win.
    let e1 = &ops.email_configs[1];
    assert_eq!(e1.from, "other@example.org");
    assert_eq!(
        (e1.smarthost.host.as_str(), e1.smarthost.port.as_str()),
        ("::1", "25")
    );
    assert_eq!(e1.require_tls, Some(true));
    assert!(e1.send_resolved);
    assert_eq!(e1.auth_password, "own");
    assert_eq!(e1.text, "plain");

    let hooks = c.receiver("hooks").unwrap();
    let w0 = &hooks.webhook_configs[0];
    assert!(w0.send_resolved);
    assert_eq!(w0.max_alerts, 10);
    // Global http_config (defaults) copied in.
    let h0 = w0.http_config.as_ref().unwrap();
    assert!(h0.follow_redirects && h0.enable_http2);
    let w1 = &hooks.webhook_configs[1];
    assert!(!w1.send_resolved);
    let h1 = w1.http_config.as_ref().unwrap();
    assert_eq!(h1.bearer_token.as_deref(), Some("tok"));
    assert_eq!(h1.tls_config.ca_file, "/etc/ca.pem");
    assert!(h1.tls_config.insecure_skip_verify);
    assert!(h1.follow_redirects);
    let auth = h1.effective_authorization().unwrap();
    assert_eq!(
        (auth.kind.as_str(), auth.credentials.as_str()),
        ("Bearer", "tok")
    );
    let h2 = hooks.webhook_configs[2].http_config.as_ref().unwrap();
    let b = h2.basic_auth.as_ref().unwrap();
    assert_eq!(
        (b.username.as_str(), b.password_file.as_str()),
        ("u", "/etc/pw")
    );
    assert!(!h2.follow_redirects);
    assert!(hooks.slack_configs.is_some());

    let child = &c.route.routes[0];
    let ms = child.all_matchers();
    assert_eq!(ms.len(), 2);
    assert_eq!((ms[0].name.as_str(), ms[0].kind), ("env", MatchType::Equal));
    assert_eq!(
        (ms[1].name.as_str(), ms[1].kind),
        ("team", MatchType::Regexp)
    );
    assert!(child.continue_matching);
}

#[test]
fn minimal_config_defaults() {
    let c = parse("route:\n  receiver: x\nreceivers:\n- name: x\n").unwrap();
    assert_eq!(c.global, GlobalConfig::default());
    assert_eq!(c.global.resolve_timeout.0.as_secs(), 300);
    assert!(c.global.smtp_require_tls);
    // An empty `global:` block still yields the defaults.
    let c = parse("global:\nroute:\n  receiver: x\nreceivers:\n- name: x\n").unwrap();
    assert_eq!(c.global, GlobalConfig::default());
}

fn err(text: &str) -> ConfigError {
    parse(text).unwrap_err()
}

const RCV: &str = "receivers:\n- name: x\n";

#[test]
fn unknown_keys_have_positions() {
    let e = err(&format!("route:\n  receiver: x\n  recever: y\n{RCV}"));
    match &e {
        ConfigError::Syntax {
            line,
            column,
            message,
        } => {
            assert_eq!((*line, *column), (3, 3), "{e}");
            assert!(message.contains("unknown field `recever`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("3:3: "), "{e}");

    let e = err(&format!("route:\n  receiver: x\n{RCV}bogus: 1\n"));
    assert!(matches!(e, ConfigError::Syntax { line: 5, .. }), "{e}");
    let e = err(&format!(
        "route:\n  receiver: x\n{RCV}  webhook_configs:\n  - url: http://a/\n    sendresolved: true\n"
    ));
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                line: 7,
                column: 5,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("unknown field `sendresolved`"),
        "{e}"
    );
}

#[test]
fn value_errors_have_positions() {
    let e = err(&format!("route:\n  receiver: x\n  group_wait: 5x\n{RCV}"));
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                line: 3,
                column: 15,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("route.group_wait"), "{e}");
    assert!(e.to_string().contains("not a valid duration string"), "{e}");

    let e = err(&format!(
        "route:\n  receiver: x\n  routes:\n  - matchers: ['foo']\n{RCV}"
    ));
    assert!(matches!(e, ConfigError::Syntax { line: 4, .. }), "{e}");
    assert!(e.to_string().contains("bad matcher format: foo"), "{e}");

    let e = err(&format!(
        "route:\n  receiver: x\n  routes:\n  - match_re:\n      a: '('\n{RCV}"
    ));
    assert!(matches!(e, ConfigError::Syntax { line: 5, .. }), "{e}");
    assert!(e.to_string().contains("invalid regexp value"), "{e}");

    let e = err(&format!(
        "route:\n  receiver: x\n  group_by: ['...', a]\n{RCV}"
    ));
    assert!(
        e.to_string().contains("cannot have wildcard group_by"),
        "{e}"
    );
    let e = err(&format!("route:\n  receiver: x\n  group_by: [a, a]\n{RCV}"));
    assert!(
        e.to_string().contains("duplicated label \"a\" in group_by"),
        "{e}"
    );
    let e = err(&format!(
        "route:\n  receiver: x\n  group_by: ['a-b']\n{RCV}"
    ));
    assert!(
        e.to_string()
            .contains("invalid label name \"a-b\" in group_by list"),
        "{e}"
    );
    let e = err(&format!(
        "route:\n  receiver: x\n  group_interval: 0s\n{RCV}"
    ));
    assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
    assert!(
        e.to_string().contains("group_interval cannot be zero"),
        "{e}"
    );
    let e = err(&format!(
        "route:\n  receiver: x\n  repeat_interval: 0\n{RCV}"
    ));
    assert!(
        e.to_string().contains("repeat_interval cannot be zero"),
        "{e}"
    );
    let e = err(&format!(
        "route:\n  receiver: x\n{RCV}inhibit_rules:\n- equal: ['a b']\n"
    ));
    assert!(
        e.to_string()
            .contains("invalid label name \"a b\" in equal list"),
        "{e}"
    );
    assert!(matches!(e, ConfigError::Syntax { line: 6, .. }), "{e}");
    // Unquoted numbers are read as their text (yaml.v2 does the same).
    let c = parse(&format!(
        "route:\n  receiver: x\n{RCV}time_intervals:\n- name: t\n  time_intervals:\n  - days_of_month: [1, -1]\n    years: [2024]\n"
    ))
    .unwrap();
    let ti = &c.time_intervals[0].time_intervals[0];
    assert_eq!(ti.days_of_month.as_ref().unwrap().len(), 2);
    assert_eq!(ti.years.as_ref().unwrap()[0].begin, 2024);
    let e = err(&format!(
        "global:\n  smtp_smarthost: 'nohost'\nroute:\n  receiver: x\n{RCV}"
    ));
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
}

#[test]
fn semantic_errors() {
    let msg = |text: &str| err(text).to_string();
    assert_eq!(msg(""), "route: no route provided in config");
    assert_eq!(msg(RCV), "route: no route provided in config");
    assert_eq!(
        msg(&format!("route:\n  receiver: y\n{RCV}")),
        "route.receiver: undefined receiver \"y\" used in route"
    );
    assert_eq!(
        msg(&format!(
            "route:\n  receiver: x\n  routes:\n  - receiver: x\n    routes:\n    - receiver: nope\n{RCV}"
        )),
        "route.routes[0].routes[0].receiver: undefined receiver \"nope\" used in route"
    );
    assert_eq!(
        msg(&format!("route:\n  group_by: [a]\n{RCV}")),
        "route.receiver: root route must specify a default receiver"
    );
    assert_eq!(
        msg(&format!("route:\n  receiver: x\n  matchers: [a=b]\n{RCV}")),
        "route: root route must not have any matchers"
    );
    assert_eq!(
        msg(&format!("route:\n  receiver: x\n  match: {{a: b}}\n{RCV}")),
        "route: root route must not have any matchers"
    );
    assert_eq!(
        msg(&format!("route:\n  receiver: x\n  continue: true\n{RCV}")),
        "route.continue: cannot have continue in root route"
    );
    assert_eq!(
        msg("route:\n  receiver: x\nreceivers:\n- name: x\n- name: x\n"),
        "receivers[1].name: notification config name \"x\" is not unique"
    );
    assert_eq!(
        msg("route:\n  receiver: x\nreceivers:\n- webhook_configs: []\n"),
        "receivers[0].name: missing name in receiver"
    );
    assert_eq!(
        msg(&format!(
            "route:\n  receiver: x\n  routes:\n  - mute_time_intervals: [nope]\n{RCV}"
        )),
        "route.routes[0].mute_time_intervals: undefined time interval \"nope\" used in route"
    );
    assert_eq!(
        msg(&format!(
            "route:\n  receiver: x\n  routes:\n  - active_time_intervals: [nope]\n{RCV}"
        )),
        "route.routes[0].active_time_intervals: undefined time interval \"nope\" used in route"
    );
    assert_eq!(
        msg(&format!(
            "route:\n  receiver: x\n{RCV}time_intervals:\n- name: a\n  time_intervals: []\nmute_time_intervals:\n- name: a\n  time_intervals: []\n"
        )),
        "time_intervals[0].name: time interval \"a\" is not unique"
    );
    assert_eq!(
        msg(&format!(
            "route:\n  receiver: x\n  mute_time_intervals: [a]\n{RCV}time_intervals:\n- name: a\n"
        )),
        "route.mute_time_intervals: root route must not have any mute time intervals"
    );
}

#[test]
fn receiver_errors() {
    let msg = |rcv: &str| {
        err(&format!(
            "route:\n  receiver: x\nreceivers:\n- name: x\n{rcv}"
        ))
        .to_string()
    };
    assert_eq!(
        msg("  email_configs:\n  - to: a@b\n"),
        "receivers[0].email_configs[0]: no global SMTP smarthost set"
    );
    assert_eq!(
        msg("  email_configs:\n  - to: a@b\n    smarthost: h:25\n"),
        "receivers[0].email_configs[0]: no global SMTP from set"
    );
    assert_eq!(
        msg("  email_configs:\n  - from: a@b\n    smarthost: h:25\n"),
        "receivers[0].email_configs[0]: missing to address in email config"
    );
    assert_eq!(
        msg("  email_configs:\n  - to: a@b\n    from: c@d\n    smarthost: h:25\n    headers:\n      Subject: a\n      sUbject: b\n"),
        "receivers[0].email_configs[0]: duplicate header \"Subject\" in email config"
    );
    assert_eq!(
        msg("  webhook_configs:\n  - max_alerts: 1\n"),
        "receivers[0].webhook_configs[0]: one of url or url_file must be configured"
    );
    assert_eq!(
        msg("  webhook_configs:\n  - url: http://a/\n    url_file: /f\n"),
        "receivers[0].webhook_configs[0]: at most one of url & url_file must be configured"
    );
    assert_eq!(
        msg("  webhook_configs:\n  - url: ftp://a/\n"),
        "receivers[0].webhook_configs[0]: unsupported scheme \"ftp\" for URL"
    );
    assert_eq!(
        msg("  webhook_configs:\n  - url: http://a/\n    http_config:\n      bearer_token: t\n      basic_auth: {username: u}\n"),
        "receivers[0].webhook_configs[0]: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
    );
    assert_eq!(
        msg("  webhook_configs:\n  - url: http://a/\n    http_config:\n      tls_config: {cert_file: /c}\n"),
        "receivers[0].webhook_configs[0]: exactly one of key or key_file must be configured when a client certificate is configured"
    );
}

#[test]
fn legacy_inhibit_fields_and_multi_matcher_lines() {
    let c = parse(&format!(
        "route:\n  receiver: x\n{RCV}inhibit_rules:\n- source_match: {{severity: critical}}\n  source_match_re: {{service: 'a|b'}}\n  target_matchers: ['{{severity=\"warning\", team!=core}}']\n  equal: [cluster]\n"
    ))
    .unwrap();
    let r = &c.inhibit_rules[0];
    assert_eq!(r.all_source_matchers().len(), 2);
    let t = r.all_target_matchers();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].to_string(), "severity=\"warning\"");
    assert_eq!(t[1].to_string(), "team!=\"core\"");
}
