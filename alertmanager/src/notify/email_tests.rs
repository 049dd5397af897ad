use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::config::receivers::HostPort;

const NOW: i64 = 1_700_000_100_000;

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
        annotations: set(&[("summary", &format!("{instance} is down"))]),
        starts_at: 1_700_000_000_000,
        ends_at,
        generator_url: "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0".into(),
        updated_at: 0,
    }
}

fn firing(instance: &str) -> Alert {
    alert(instance, NOW + 60_000)
}

fn resolved(instance: &str) -> Alert {
    alert(instance, NOW - 1000)
}

fn config() -> EmailConfig {
    EmailConfig {
        to: "ops@example.com".into(),
        from: "vigil@example.com".into(),
        hello: "vigil.test".into(),
        smarthost: HostPort {
            host: "127.0.0.1".into(),
            port: "25".into(),
        },
        require_tls: Some(false),
        ..EmailConfig::default()
    }
}

fn notification<'a>(alerts: &'a [Alert], group: &'a LabelSet) -> Notification<'a> {
    Notification {
        receiver: "team-x",
        group_key: "{}:{alertname=\"InstanceDown\"}",
        group_labels: group,
        external_url: "http://vigil:9700",
        alerts,
        max_alerts: 0,
        now_ms: NOW,
    }
}

fn rendered(alerts: &[Alert], group: &LabelSet) -> Rendered {
    render(&config(), &notification(alerts, group)).unwrap()
}

#[test]
fn default_subject_as_alertmanager() {
    let group = set(&[("alertname", "InstanceDown")]);
    // Two firing alerts: `job` is common beyond the group labels.
    let r = rendered(&[firing("a"), firing("b")], &group);
    assert_eq!(r.subject, "[FIRING:2] InstanceDown (node)");
    // Mixed: the count is of the firing ones; status is firing.
    let r = rendered(&[firing("a"), resolved("b")], &group);
    assert_eq!(r.subject, "[FIRING:1] InstanceDown (node)");
    // All resolved: no count.
    let r = rendered(&[resolved("a"), resolved("b")], &group);
    assert_eq!(r.subject, "[RESOLVED] InstanceDown (node)");
    // One alert: every label is common, values in SortedPairs order.
    let r = rendered(&[firing("a")], &group);
    assert_eq!(r.subject, "[FIRING:1] InstanceDown (a node)");
    // Nothing common beyond the group labels: Alertmanager's trailing space.
    let group = set(&[("alertname", "InstanceDown"), ("job", "node")]);
    let mut other = firing("b");
    other.labels.remove("instance");
    let r = rendered(&[firing("a"), other], &group);
    assert_eq!(r.subject, "[FIRING:2] InstanceDown node ");
    // alertname first, then by name (KV.SortedPairs).
    let group = set(&[("alertname", "X"), ("a", "1"), ("z", "2")]);
    let mut a = firing("a");
    a.labels = set(&[("alertname", "X"), ("a", "1"), ("z", "2"), ("b", "3")]);
    let r = rendered(&[a], &group);
    assert_eq!(r.subject, "[FIRING:1] X 1 2 (3)");
    // Empty group labels (group_by: []).
    let r = rendered(&[firing("a")], &LabelSet::new());
    assert_eq!(r.subject, "[FIRING:1]  (InstanceDown a node)");
}

#[test]
fn default_headers_addresses_and_parts() {
    let group = set(&[("alertname", "InstanceDown")]);
    let mut c = config();
    c.to = "ops@example.com, Team B <b@example.com>".into();
    c.from = "Vigil <vigil@example.com>".into();
    c.headers.insert("X-Team".into(), "infra".into());
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    assert_eq!(r.from, "Vigil <vigil@example.com>");
    assert_eq!(r.to, ["ops@example.com", "Team B <b@example.com>"]);
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["From", "Subject", "To", "X-Team"]);
    assert_eq!(r.headers[0].1, "Vigil <vigil@example.com>");
    assert_eq!(r.headers[2].1, "ops@example.com, Team B <b@example.com>");
    // As Alertmanager's default config: HTML only.
    assert!(r.text.is_none());
    assert!(r.html.is_some());
    // Bad addresses are not retryable render errors.
    c.from = "a@example.com, b@example.com".into();
    let e = render(&c, &notification(&[firing("a")], &group)).unwrap_err();
    assert_eq!(e, "must be exactly one from address");
    c.from = "vigil@example.com".into();
    c.to = "not an address".into();
    let e = render(&c, &notification(&[firing("a")], &group)).unwrap_err();
    assert!(e.starts_with("parsing to addresses"), "{e}");
}

#[test]
fn html_body_lists_firing_then_resolved() {
    let group = set(&[("alertname", "InstanceDown")]);
    let mut a = firing("a");
    a.annotations
        .insert("description".into(), "<b>load</b> & \"more\" +1".into());
    let r = rendered(&[a, resolved("b")], &group);
    let html = r.html.unwrap();
    assert!(html.contains("<title>[FIRING:1] InstanceDown (node)</title>"));
    assert!(html.contains("2 alerts for\nalertname=InstanceDown\n"));
    assert!(html.contains("href=\"http://vigil:9700/#/alerts?receiver=team-x\""));
    assert!(html.contains(">View in Alertmanager</a>"));
    let f = html.find("[1] Firing").expect("firing section");
    let rs = html.find("[1] Resolved").expect("resolved section");
    assert!(f < rs);
    assert!(html[f..rs].contains("<hr />"), "separator between sections");
    for (inst, section) in [("a", &html[f..rs]), ("b", &html[rs..])] {
        assert!(section.contains("alertname = InstanceDown<br />"));
        assert!(section.contains(&format!("instance = {inst}<br />")));
        assert!(section.contains("job = node<br />"));
        assert!(section.contains(&format!("summary = {inst} is down<br />")));
        assert!(section.contains(">Annotations</strong>"));
        // The generator URL through html/template's URL normaliser.
        assert!(
            section.contains("href=\"http://prometheus:9090/graph?g0.expr=up&#43;%3D%3D&#43;0\""),
            "{section}"
        );
    }
    // html/template's escaping of values.
    assert!(
        html.contains("description = &lt;b&gt;load&lt;/b&gt; &amp; &#34;more&#34; &#43;1<br />")
    );
    assert!(html.contains(">Sent by Alertmanager</a>"));
    // One alert, firing only: singular, no resolved section.
    let html = rendered(&[firing("a")], &group).html.unwrap();
    assert!(html.contains("1 alert for\n"));
    assert!(!html.contains("Resolved"));
    assert!(!html.contains("<hr />"));
}

#[test]
fn html_escapes_links_as_go() {
    assert_eq!(html_url("javascript:alert(1)"), "#ZgotmplZ");
    assert_eq!(html_url("HTTPS://x/a b\"c"), "HTTPS://x/a%20b%22c");
    assert_eq!(html_url("/graph?x=%zz%41"), "/graph?x=%25zz%41");
    assert_eq!(html_url("http://x/é"), "http://x/%c3%a9");
    assert_eq!(query_escape("team x/\\.+"), "team+x%2F%5C.%2B");
    assert_eq!(quote_meta("a.b(c)"), "a\\.b\\(c\\)");
}

#[test]
fn receiver_is_quoted_and_url_escaped() {
    let group = set(&[("alertname", "InstanceDown")]);
    let mut n = notification(&[], &group);
    let alerts = [firing("a")];
    n.alerts = &alerts;
    n.receiver = "team x.y";
    let html = render(&config(), &n).unwrap().html.unwrap();
    // regexp.QuoteMeta then urlquery: `team+x%5C.y`, '+' escaped in HTML.
    assert!(html.contains("receiver=team&#43;x%5C.y\""), "{html}");
}

#[test]
fn simple_custom_templates() {
    let group = set(&[("alertname", "InstanceDown")]);
    let mut c = config();
    c.headers.insert(
        "Subject".into(),
        "{{ .Status | toUpper }}: {{ .GroupLabels.alertname }} on {{ .CommonLabels.job }}{{ .CommonLabels.nope }} ({{ len .Alerts.Firing }}/{{ .Alerts | len }})".into(),
    );
    c.to = "{{ .CommonLabels.job }}@example.com".into();
    c.text = "{{/* a comment */}}Firing:\n{{- template \"__text_alert_list\" .Alerts.Firing -}}\n\n{{ template \"__alertmanagerURL\" . }}".into();
    c.html = "<p>{{ index .CommonAnnotations \"summary\" }} {{ .Receiver | title }}</p>{{ template \"email.default.subject\" . }}".into();
    let mut a = firing("a");
    a.annotations.insert("summary".into(), "<x>".into());
    let r = render(&c, &notification(&[a, resolved("b")], &group)).unwrap();
    assert_eq!(r.subject, "FIRING: InstanceDown on node (1/2)");
    assert_eq!(r.to, ["node@example.com"]);
    assert_eq!(
        r.text.unwrap(),
        "Firing:Labels:\n - alertname = InstanceDown\n - instance = a\n - job = node\n\
         Annotations:\n - summary = <x>\nSource: http://prometheus:9090/graph?g0.expr=up+%3D%3D+0\n\
         http://vigil:9700/#/alerts?receiver=team-x"
    );
    // The summary is not common (b's differs): "" as missingkey=zero.
    assert_eq!(
        r.html.unwrap(),
        "<p> Team-X</p>[FIRING:1] InstanceDown (node)"
    );
    // Anything beyond simple substitution is refused, naming the action.
    for t in [
        "{{ range .Alerts }}x{{ end }}",
        "{{ .Alerts }}",
        "{{ template \"mine\" . }}",
        "{{ .CommonLabels.job | reReplaceAll \"a\" \"b\" }}",
        "{{ .Status",
    ] {
        let mut c = config();
        c.html = t.into();
        let e = render(&c, &notification(&[firing("a")], &group)).unwrap_err();
        assert!(e.starts_with("executing email html template: "), "{t}: {e}");
    }
    // No actions: as is.
    let mut c = config();
    c.headers.insert("Subject".into(), "static".into());
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    assert_eq!(r.subject, "static");
}

#[test]
fn default_text_lists_alerts() {
    let group = set(&[("alertname", "InstanceDown")]);
    let alerts = [firing("a"), resolved("b")];
    let t = default_text(&notification(&alerts, &group));
    assert!(
        t.starts_with("2 alerts for alertname=InstanceDown\n"),
        "{t}"
    );
    let f = t.find("[1] Firing\nLabels:\n - alertname = InstanceDown\n - instance = a\n");
    let r = t.find("[1] Resolved\nLabels:\n - alertname = InstanceDown\n - instance = b\n");
    assert!(f.unwrap() < r.unwrap());
    assert!(t.contains(" - summary = b is down\nSource: http://prometheus:9090/graph"));
}

#[test]
fn message_has_headers_and_alternative_parts() {
    let group = set(&[("alertname", "InstanceDown")]);
    let mut c = config();
    c.text = "plain {{ .Status }}".into();
    c.headers.insert("Subject".into(), "Ünïcode".into());
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    let m = String::from_utf8(message_bytes(&r, "vigil.test").unwrap()).unwrap();
    assert!(m.is_ascii(), "headers are encoded");
    assert!(m.contains("Subject: =?utf-8?"), "{m}");
    assert!(m.contains("From: vigil@example.com\r\n"));
    assert!(m.contains("To: ops@example.com\r\n"));
    assert!(m.contains("MIME-Version: 1.0\r\n"));
    assert!(m.contains("Date: "));
    assert!(m.contains("@vigil.test>\r\n"), "Message-Id");
    assert!(m.contains("Content-Type: multipart/alternative;"));
    let text = m.find("Content-Type: text/plain").unwrap();
    let html = m.find("Content-Type: text/html").unwrap();
    assert!(text < html, "HTML last, as RFC 2046 prefers");
}

// --- Against a real SMTP server (aiosmtpd). ---

/// The Python that has aiosmtpd: Debian's (`python3-aiosmtpd`, the peer
/// CI installs) first, then whatever `python3` is on the PATH.
fn smtp_python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn have_aiosmtpd() -> bool {
    let ok = smtp_python().is_some();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with aiosmtpd is required when CI=true (apt-get install python3-aiosmtpd)"
        );
        eprintln!("SKIPPED: python3 -m aiosmtpd is not available (apt-get install python3-aiosmtpd, or pip install aiosmtpd)");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An aiosmtpd child, killed (by its handle) on drop.
struct Smtpd {
    child: Child,
    port: u16,
}

impl Smtpd {
    fn start(args: &[&str], pythonpath: Option<&std::path::Path>) -> Smtpd {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(smtp_python().expect("checked by have_aiosmtpd"));
        cmd.args(["-m", "aiosmtpd", "-n", "-l", &listen])
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = pythonpath {
            cmd.env("PYTHONPATH", p);
        }
        let mut child = cmd.spawn().expect("spawning python3 -m aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("aiosmtpd exited ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Smtpd { child, port }
    }

    fn config(&self) -> EmailConfig {
        let mut c = config();
        c.smarthost.port = self.port.to_string();
        c
    }

    /// Stops the server and returns what it printed.
    fn output(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut out = String::new();
        let _ = self.child.stdout.take().unwrap().read_to_string(&mut out);
        out
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sends_to_aiosmtpd() {
    if !have_aiosmtpd() {
        return;
    }
    let server = Smtpd::start(&[], None);
    let group = set(&[("alertname", "InstanceDown")]);
    let mut c = server.config();
    c.to = "ops@example.com, oncall@example.com".into();
    c.text = "{{ template \"__text_alert_list\" .Alerts }}".into();
    let r = render(&c, &notification(&[firing("a"), resolved("b")], &group)).unwrap();
    send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap();
    let out = server.output();
    assert!(
        out.contains("Subject: [FIRING:1] InstanceDown (node)"),
        "{out}"
    );
    assert!(out.contains("From: vigil@example.com"), "{out}");
    assert!(
        out.contains("To: ops@example.com, oncall@example.com"),
        "{out}"
    );
    assert!(out.contains("instance = a"), "{out}");
    assert!(out.contains("summary = b is down"), "{out}");
    assert!(out.contains(" - instance = b\n") || out.contains(" - instance = b\r\n"));
    assert!(
        out.contains("Source: http://prometheus:9090/graph"),
        "{out}"
    );
    // The HTML part, quoted-printable.
    let html = qp_decode(&out);
    assert!(html.contains("<title>[FIRING:1] InstanceDown (node)</title>"));
    assert!(html.contains("[1] Firing"), "{html}");
    assert!(html.contains("[1] Resolved"), "{html}");
    assert!(html.contains("instance = b<br />"), "{html}");
    assert!(html.contains("summary = a is down<br />"), "{html}");
    assert!(html.contains(">Source</a>"), "{html}");
}

/// Quoted-printable decoding (soft line breaks and `=XX`), for assertions.
fn qp_decode(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'=' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn require_tls_without_starttls_fails() {
    if !have_aiosmtpd() {
        return;
    }
    let server = Smtpd::start(&[], None);
    let mut c = server.config();
    c.require_tls = Some(true);
    let group = set(&[("alertname", "InstanceDown")]);
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    let e = send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap_err();
    assert!(matches!(e, SendError::Tls { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("does not advertise the STARTTLS extension"),
        "{e}"
    );
    assert!(e.retryable());
    assert!(!server.output().contains("Subject:"));
}

#[test]
fn starttls_with_self_signed_certificate() {
    if !have_aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let (ca, ca_key, cert, key) = (
        path("ca.pem"),
        path("ca.key"),
        path("cert.pem"),
        path("key.pem"),
    );
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // A CA, and a certificate for localhost it signs.
    let made = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Vigil test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]) && openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-keyout",
        &key,
        "-out",
        &cert,
    ]);
    if !made {
        eprintln!("SKIPPED: openssl (3.x) is not available to make certificates");
        return;
    }
    let server = Smtpd::start(&["--tlscert", &cert, "--tlskey", &key], None);
    let group = set(&[("alertname", "InstanceDown")]);
    let mut c = server.config();
    c.require_tls = Some(true);
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    // Not trusted: a TLS error.
    let e = send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap_err();
    assert!(matches!(e, SendError::Tls { .. }), "{e}");
    assert!(e.to_string().contains("starttls failed"), "{e}");
    // insecure_skip_verify: delivered over TLS.
    c.tls_config = Some(TlsConfig {
        insecure_skip_verify: true,
        ..TlsConfig::default()
    });
    send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap();
    // Trusting the CA; the certificate's name is localhost.
    c.tls_config = Some(TlsConfig {
        ca_file: ca.clone(),
        server_name: "localhost".into(),
        ..TlsConfig::default()
    });
    send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap();
    let out = server.output();
    assert_eq!(
        out.matches("Subject: [FIRING:1] InstanceDown").count(),
        2,
        "{out}"
    );
}

const REJECTING: &str = r#"
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        print(envelope.content.decode("utf8", "replace"), flush=True)
        return "250 OK"
"#;

#[test]
fn rejected_recipient_is_reported() {
    if !have_aiosmtpd() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vigil_rejecting.py"), REJECTING).unwrap();
    let server = Smtpd::start(&["-c", "vigil_rejecting.Handler"], Some(dir.path()));
    let mut c = server.config();
    c.to = "ops@example.com, nobody@example.com".into();
    let group = set(&[("alertname", "InstanceDown")]);
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    let e = send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap_err();
    match &e {
        SendError::RecipientRejected { recipient, msg } => {
            assert_eq!(recipient, "nobody@example.com");
            assert!(msg.contains("no such user"), "{msg}");
        }
        other => panic!("{other}"),
    }
    assert!(e.retryable(), "Alertmanager retries");
    // The good recipient alone goes through.
    c.to = "ops@example.com".into();
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    send_with_timeout(&c, &r, Duration::from_secs(10)).unwrap();
    assert!(server.output().contains("Subject: [FIRING:1]"));
}

#[test]
fn unreachable_smarthost_is_a_connect_error() {
    let group = set(&[("alertname", "InstanceDown")]);
    // Nothing listens there.
    let mut c = config();
    c.smarthost.port = free_port().to_string();
    let r = render(&c, &notification(&[firing("a")], &group)).unwrap();
    let started = Instant::now();
    let e = send_with_timeout(&c, &r, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(e, SendError::Connect { .. }), "{e}");
    assert!(e
        .to_string()
        .starts_with("connecting to SMTP smarthost 127.0.0.1:"));
    assert!(e.retryable());
    // A blackholed address (TEST-NET-1): the timeout bounds it.
    c.smarthost.host = "192.0.2.1".into();
    c.smarthost.port = "25".into();
    let e = send_with_timeout(&c, &r, Duration::from_secs(1)).unwrap_err();
    assert!(matches!(e, SendError::Connect { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Bad settings are not retryable.
    c.smarthost.port = "smtp".into();
    let e = send(&c, &r).unwrap_err();
    assert!(matches!(e, SendError::Config(_)) && !e.retryable(), "{e}");
}
