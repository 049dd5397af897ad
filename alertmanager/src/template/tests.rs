//! Cases from Prometheus' `template/template_test.go` (those that apply to
//! text-mode alert templates), plus end-to-end mixin annotations.

use super::*;
use crate::engine::QuerySample;

struct FixedEngine(Vec<QuerySample>);

impl QueryEngine for FixedEngine {
    fn instant(&self, _query: &str, _t_ms: i64) -> Result<Vec<QuerySample>, String> {
        Ok(self.0.clone())
    }
}

fn sample(pairs: &[(&str, &str)], v: f64) -> QuerySample {
    QuerySample {
        labels: model::Labels::of(pairs).unwrap(),
        value: v,
    }
}

/// Renders `text` as Prometheus' tests do: name "test", `dot` as data.
fn run(text: &str, dot: Value, result: Vec<QuerySample>) -> Result<String, String> {
    let engine = FixedEngine(result);
    let keys = referenced_label_names(text);
    render(
        "test",
        text,
        dot,
        Some(std::sync::Arc::new(engine)),
        0,
        keys,
    )
}

fn ok(text: &str) -> String {
    run(text, Value::Nil, vec![]).unwrap()
}

fn floats(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|f| Value::from(*f)).collect())
}

fn strings(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::from(*s)).collect())
}

fn ints(v: &[i64]) -> Value {
    Value::Array(v.iter().map(|i| Value::from(*i)).collect())
}

#[test]
fn plain_and_literals() {
    assert_eq!(ok("plain text"), "plain text");
    assert_eq!(ok("{{ 1 }}"), "1");
    assert_eq!(ok("{{ \"<b>\" }}"), "<b>");
    assert_eq!(ok("{{ \"<b>\" | safeHtml }}"), "<b>");
}

#[test]
fn args_to_templates() {
    assert_eq!(
        ok("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}"),
        "1 2"
    );
}

#[test]
fn queries() {
    let m = vec![sample(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    assert_eq!(
        run(
            "{{ query \"metric{instance='a'}\" | first | value }}",
            Value::Nil,
            m.clone()
        )
        .unwrap(),
        "11"
    );
    assert_eq!(
        run(
            "{{ query \"x\" | first | label \"instance\" }}",
            Value::Nil,
            m.clone()
        )
        .unwrap(),
        "a"
    );
    assert_eq!(
        run(
            "{{ query \"x\" | first | label \"foo\" }}",
            Value::Nil,
            m.clone()
        )
        .unwrap(),
        ""
    );
    // Missing label is empty when not using label function.
    assert_eq!(
        run(
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            Value::Nil,
            m
        )
        .unwrap(),
        ""
    );
    let v = vec![sample(&[("__name__", "metric"), ("__value__", "a")], 11.0)];
    assert_eq!(
        run("{{ query \"x\" | first | strvalue }}", Value::Nil, v).unwrap(),
        "a"
    );
    let scalar = vec![QuerySample {
        labels: model::Labels::default(),
        value: 1.5,
    }];
    assert_eq!(
        run("{{ query \"1.5\" | first | value }}", Value::Nil, scalar).unwrap(),
        "1.5"
    );
}

#[test]
fn sort_by_label() {
    let m = vec![
        sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
        sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
    ];
    assert_eq!(
        run(
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            Value::Nil,
            m
        )
        .unwrap(),
        "a:11: b:21: "
    );
}

#[test]
fn first_of_empty_fails() {
    let err = run("{{ query \"missing\" | first }}", Value::Nil, vec![]).unwrap_err();
    assert!(
        err.starts_with("error executing template test: ")
            && err.ends_with("error calling first: first() called on vector with no elements"),
        "{err}"
    );
}

#[test]
fn query_without_engine_fails() {
    let err = render("test", "{{ query \"up\" }}", Value::Nil, None, 0, vec![]).unwrap_err();
    assert!(err.contains("no query engine"), "{err}");
}

#[test]
fn parse_errors() {
    let err = run("{{", Value::Nil, vec![]).unwrap_err();
    assert!(err.starts_with("error parsing template test: "), "{err}");
    assert!(check("{{ humanise $value }}").is_err());
    assert!(check("{{ $value | humanize }}").is_ok());
    assert!(check("{{ if }}").is_err());
}

#[test]
fn strip_port_and_domain() {
    for (input, port, domain) in [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ] {
        assert_eq!(
            ok(&format!("{{{{ {input:?} | stripPort }}}}")),
            port,
            "{input}"
        );
        assert_eq!(
            ok(&format!("{{{{ {input:?} | stripDomain }}}}")),
            domain,
            "{input}"
        );
    }
}

#[test]
fn missing_label_is_empty() {
    let mut data = TemplateData::default();
    data.labels.insert("instance".into(), "a:9100".into());
    assert_eq!(
        expand(
            "[{{ $labels.nope }}][{{ .Labels.instance }}]",
            &data,
            None,
            0
        )
        .unwrap(),
        "[][a:9100]"
    );
}

#[test]
fn regex_functions() {
    assert_eq!(ok("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}"), "xa");
    assert_eq!(
        ok("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}"),
        "true false"
    );
    assert!(run("{{ match \"(\" \"a\" }}", Value::Nil, vec![]).is_err());
}

#[test]
fn humanize() {
    let t = "{{ range . }}{{ humanize . }}:{{ end }}";
    assert_eq!(
        run(t, floats(&[0.0, 1.0, 1234567.0, 0.12]), vec![]).unwrap(),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        run(t, strings(&["0.0", "1.0", "1234567.0", ".12"]), vec![]).unwrap(),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        run(t, ints(&[0, -1, 1, 1234567, i64::MAX]), vec![]).unwrap(),
        "0:-1:1:1.235M:9.223E:"
    );
    assert_eq!(
        run(t, Value::Array(vec![Value::from(u64::MAX)]), vec![]).unwrap(),
        "18.45E:"
    );
    let err = run("{{ humanize \"one\" }}", Value::Nil, vec![]).unwrap_err();
    assert!(
        err.ends_with(
            "error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax"
        ),
        "{err}"
    );
}

#[test]
fn humanize1024() {
    let t = "{{ range . }}{{ humanize1024 . }}:{{ end }}";
    assert_eq!(
        run(t, floats(&[0.0, 1.0, 1048576.0, 0.12]), vec![]).unwrap(),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        run(t, strings(&["0.0", "1.0", "1048576.0", ".12"]), vec![]).unwrap(),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        run(t, ints(&[0, -1, 1, 1234567, i64::MAX]), vec![]).unwrap(),
        "0:-1:1:1.177Mi:8Ei:"
    );
    assert_eq!(
        run(t, Value::Array(vec![Value::from(u64::MAX)]), vec![]).unwrap(),
        "16Ei:"
    );
}

#[test]
fn humanize_duration() {
    let t = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
    let input = [
        0.0,
        1.0,
        60.0,
        3600.0,
        86400.0,
        86400.0 + 3600.0,
        -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
        899.99,
    ];
    assert_eq!(
        run(t, floats(&input), vec![]).unwrap(),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        run(t, strings(&["0", "1", "60", "3600", "86400"]), vec![]).unwrap(),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
    );
    assert_eq!(
        run(
            t,
            floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
            vec![]
        )
        .unwrap(),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
    assert_eq!(
        run(t, ints(&[0, -1, 1, 1234567]), vec![]).unwrap(),
        "0s:-1s:1s:14d 6h 56m 7s:"
    );
}

#[test]
fn humanize_inf_and_nan() {
    let t = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let want = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    assert_eq!(
        run(
            t,
            floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
            vec![]
        )
        .unwrap(),
        want
    );
    assert_eq!(
        run(t, strings(&["+Inf", "-Inf", "NaN"]), vec![]).unwrap(),
        want
    );
}

#[test]
fn humanize_percentage() {
    // Prometheus' case is the literal `{{ -0.22222 | humanizePercentage }}`;
    // gtmpl truncates negative float literals (to 0 here), so the negative
    // value comes in as data instead.
    assert_eq!(
        ok("{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"),
        "0%:12.35%:123.5%"
    );
    assert_eq!(
        run(
            "{{ range . }}{{ humanizePercentage . }}{{ end }}",
            Value::Array(vec![float_value(-0.22222)]),
            vec![]
        )
        .unwrap(),
        "-22.22%"
    );
    assert_eq!(
        run(
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, i64::MAX]),
            vec![]
        )
        .unwrap(),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:"
    );
    assert_eq!(
        ok(
            r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#
        ),
        "-22.22%:0%:12.35%:123.5%"
    );
}

#[test]
fn humanize_timestamp() {
    let t = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    assert_eq!(
        run(t, ints(&[0, -1, 1, 1234567, 9223372036]), vec![]).unwrap(),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    );
    let err = run(t, ints(&[i64::MIN, i64::MAX]), vec![]).unwrap_err();
    assert!(
        err.ends_with("error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"),
        "{err}"
    );
    assert_eq!(
        ok("{{ 1435065584.128 | humanizeTimestamp }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        ok(r#"{{ "1435065584.128" | humanizeTimestamp }}"#),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        ok("{{ 1657155181 | toTime }}"),
        "2022-07-07 00:53:01 +0000 UTC"
    );
}

#[test]
fn string_functions() {
    assert_eq!(ok("{{ \"aa bb CC\" | title }}"), "Aa Bb CC");
    assert_eq!(ok("{{ \"aa bb CC\" | toUpper }}"), "AA BB CC");
    assert_eq!(ok("{{ \"aA bB CC\" | toLower }}"), "aa bb cc");
    assert_eq!(ok("{{ graphLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=0");
    assert_eq!(ok("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
    assert_eq!(
        ok("{{ graphLink \"rate(x[5m]) > 0\" }}"),
        "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+0&g0.tab=0"
    );
}

#[test]
fn values_gtmpl_cannot_hold_print_as_go_does() {
    let t = "{{ range . }}{{ . }}|{{ humanize . }};{{ end }}";
    let dot = Value::Array(
        [-0.5, 1e-20, 2e19, 1.5, -3.0]
            .iter()
            .map(|v| float_value(*v))
            .collect(),
    );
    assert_eq!(
        run(t, dot, vec![]).unwrap(),
        "-0.5|-500m;1e-20|10z;2e+19|20E;1.5|1.5;-3|-3;"
    );
    let data = TemplateData {
        value: -0.25,
        ..TemplateData::default()
    };
    assert_eq!(
        expand(
            "{{ $value }} {{ $value | humanizePercentage }}",
            &data,
            None,
            0
        )
        .unwrap(),
        "-0.25 -25%"
    );
}

#[test]
fn parse_duration_function() {
    assert_eq!(
        ok("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}"),
        "3720.01"
    );
}

fn alert_data(pairs: &[(&str, &str)], value: f64) -> TemplateData {
    let mut d = TemplateData {
        value,
        external_url: "http://prom.example:9090".into(),
        ..TemplateData::default()
    };
    for (k, v) in pairs {
        d.labels.insert((*k).into(), (*v).into());
    }
    d.external_labels.insert("cluster".into(), "eu1".into());
    d
}

#[test]
fn mixin_annotations_end_to_end() {
    let data = alert_data(
        &[
            ("alertname", "NodeFilesystemSpaceFillingUp"),
            ("instance", "node-1:9100"),
            ("device", "/dev/sda1"),
            ("mountpoint", "/"),
        ],
        0.1234,
    );
    let description = "Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf \"%.2f\" $value }}% available space left and is filling up.";
    assert_eq!(
        expand(description, &data, None, 0).unwrap(),
        "Filesystem on /dev/sda1, mounted on /, at node-1:9100 has only 0.12% available space left and is filling up."
    );
    assert_eq!(
        expand(
            "{{ $labels.instance }} ({{ $labels.instance | stripPort }}) is at {{ $value | humanizePercentage }} in {{ $externalLabels.cluster }}, see {{ $externalURL }}{{ graphLink \"up\" }}",
            &data,
            None,
            0
        )
        .unwrap(),
        "node-1:9100 (node-1) is at 12.34% in eu1, see http://prom.example:9090/graph?g0.expr=up&g0.tab=0"
    );

    let crash = alert_data(
        &[
            ("alertname", "KubePodCrashLooping"),
            ("namespace", "default"),
            ("pod", "web-0"),
            ("container", "app"),
        ],
        3.0,
    );
    assert_eq!(
        expand(
            "Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: \"CrashLoopBackOff\"){{ with $labels.cluster -}} on cluster {{ . }}{{- end }}.",
            &crash,
            None,
            0
        )
        .unwrap(),
        "Pod default/web-0 (app) is in waiting state (reason: \"CrashLoopBackOff\")."
    );
}

#[test]
fn query_in_annotation() {
    let engine = FixedEngine(vec![sample(
        &[
            ("__name__", "node_memory_MemTotal_bytes"),
            ("instance", "n1"),
        ],
        8.0 * 1024.0 * 1024.0 * 1024.0,
    )]);
    let data = alert_data(&[("alertname", "X"), ("instance", "n1")], 1.0);
    assert_eq!(
        expand(
            "{{ with printf \"node_memory_MemTotal_bytes{instance='%s'}\" $labels.instance | query }}{{ . | first | value | humanize1024 }}B{{ end }}",
            &data,
            Some(std::sync::Arc::new(engine)),
            1_000
        )
        .unwrap(),
        "8GiB"
    );
}

#[test]
fn errors_as_prometheus_reports_them() {
    let data = alert_data(&[("alertname", "Foo")], 1.0);
    let err = expand("{{ humanize \"x\" }}", &data, None, 0).unwrap_err();
    assert!(
        err.starts_with("error executing template __alert_Foo: "),
        "{err}"
    );
    let text = expand_or_error("{{", &data, None, 0);
    assert!(
        text.starts_with("<error expanding template: error parsing template __alert_Foo: "),
        "{text}"
    );
}
