use super::*;

/// Groups in the style of the node-exporter and kubernetes mixins.
const MIXIN: &str = r#"groups:
  - name: node-exporter.rules
    rules:
      - record: instance:node_num_cpu:sum
        expr: |
          count without (cpu, mode) (
            node_cpu_seconds_total{job="node-exporter",mode="idle"}
          )
      - record: instance:node_cpu_utilisation:rate5m
        expr: |
          1 - avg without (cpu) (
            sum without (mode) (rate(node_cpu_seconds_total{job="node-exporter", mode=~"idle|iowait|steal"}[5m]))
          )
      - record: instance:node_load1_per_cpu:ratio
        expr: |
          (
            node_load1{job="node-exporter"}
          /
            instance:node_num_cpu:sum{job="node-exporter"}
          )
  - name: node-exporter
    interval: 1m
    labels:
      team: infra
    rules:
      - alert: NodeFilesystemSpaceFillingUp
        annotations:
          description: Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf "%.2f" $value }}% available space left and is filling up.
          runbook_url: https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemspacefillingup
          summary: Filesystem is predicted to run out of space within the next 24 hours.
        expr: |
          (
            node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_size_bytes{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 15
          and
            predict_linear(node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""}[6h], 24*60*60) < 0
          and
            node_filesystem_readonly{job="node-exporter",fstype!="",mountpoint!=""} == 0
          )
        for: 1h
        labels:
          severity: warning
      - alert: NodeHighNumberConntrackEntriesUsed
        annotations:
          description: '{{ $value | humanizePercentage }} of conntrack entries are used.'
          summary: Number of conntrack are getting close to the limit.
        expr: |
          (node_nf_conntrack_entries{job="node-exporter"} / node_nf_conntrack_entries_limit) > 0.75
        labels:
          severity: warning
  - name: kubernetes-apps
    query_offset: 30s
    limit: 100
    rules:
      - alert: KubePodCrashLooping
        annotations:
          description: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: "CrashLoopBackOff").'
          summary: Pod is crash looping.
        expr: |
          max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics"}[5m]) >= 1
        for: 15m
        keep_firing_for: 5m
        labels:
          severity: warning
      - alert: KubeJobNotCompleted
        annotations:
          description: Job {{ $labels.namespace }}/{{ $labels.job_name }} is taking more than {{ "43200" | humanizeDuration }} to complete.
        expr: |
          time() - max by (namespace, job_name, cluster) (
            kube_job_status_start_time{job="kube-state-metrics"}
            and
            kube_job_status_active{job="kube-state-metrics"} > 0
          ) > 43200
        labels:
          severity: warning
"#;

#[test]
fn parses_mixin_groups() {
    let f = parse(MIXIN, "mixin.yaml").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(f.groups.len(), 3);
    let g0 = &f.groups[0];
    assert_eq!(g0.name, "node-exporter.rules");
    assert_eq!(g0.interval, None);
    assert_eq!(g0.rules.len(), 3);
    assert_eq!(g0.rules[1].name(), "instance:node_cpu_utilisation:rate5m");
    assert!(g0.rules[1].expr.starts_with("1 - avg without (cpu) (\n"));
    assert!(matches!(g0.rules[0].kind, RuleKind::Recording { .. }));

    let g1 = &f.groups[1];
    assert_eq!(g1.interval, Some(Duration::from_secs(60)));
    assert_eq!(g1.labels.get("team").map(String::as_str), Some("infra"));
    let RuleKind::Alerting {
        alert,
        for_duration,
        keep_firing_for,
        annotations,
    } = &g1.rules[0].kind
    else {
        panic!("not an alert")
    };
    assert_eq!(alert, "NodeFilesystemSpaceFillingUp");
    assert_eq!(*for_duration, Duration::from_secs(3600));
    assert_eq!(*keep_firing_for, Duration::ZERO);
    assert!(annotations["description"].contains("{{ $labels.instance }}"));
    assert_eq!(g1.rules[0].labels["severity"], "warning");

    let g2 = &f.groups[2];
    assert_eq!(g2.query_offset, Some(Duration::from_secs(30)));
    assert_eq!(g2.limit, 100);
    let RuleKind::Alerting {
        for_duration,
        keep_firing_for,
        ..
    } = &g2.rules[0].kind
    else {
        panic!("not an alert")
    };
    assert_eq!(*for_duration, Duration::from_secs(15 * 60));
    assert_eq!(*keep_firing_for, Duration::from_secs(5 * 60));
}

#[test]
fn empty_file_is_valid() {
    assert!(parse("", "e.yaml").unwrap().groups.is_empty());
    assert!(parse("groups: []\n", "e.yaml").unwrap().groups.is_empty());
}

fn errors(text: &str) -> Vec<String> {
    match parse(text, "r.yaml") {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn bad_promql_names_the_expression() {
    let e = errors("groups:\n- name: g\n  rules:\n  - alert: Foo\n    expr: rate(up[5m]\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("r.yaml:5:11: group \"g\", rule 1, \"Foo\": could not parse expression: "),
        "{e:?}"
    );
}

#[test]
fn both_record_and_alert() {
    let e = errors("groups:\n- name: g\n  rules:\n  - record: a:b\n    alert: Foo\n    expr: up\n");
    assert_eq!(
        e,
        vec!["r.yaml:4:13: 5:12: group \"g\", rule 1, \"Foo\": only one of 'record' and 'alert' must be set"]
    );
}

#[test]
fn neither_record_nor_alert_and_missing_expr() {
    let e = errors("groups:\n- name: g\n  rules:\n  - labels:\n      a: b\n");
    assert_eq!(
        e,
        vec![
            "r.yaml:4:5: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set",
            "r.yaml:4:5: group \"g\", rule 1, \"\": field 'expr' must be set in rule",
        ]
    );
}

#[test]
fn bad_label_and_annotation_names() {
    let e = errors(
        "groups:\n- name: g\n  rules:\n  - alert: Foo\n    expr: up == 0\n    labels:\n      bad-name: x\n      __name__: y\n    annotations:\n      ok: fine\n      0bad: z\n",
    );
    assert_eq!(
        e,
        vec![
            "r.yaml:8:7: group \"g\", rule 1, \"Foo\": invalid label name: __name__",
            "r.yaml:7:7: group \"g\", rule 1, \"Foo\": invalid label name: bad-name",
            "r.yaml:11:7: group \"g\", rule 1, \"Foo\": invalid annotation name: 0bad",
        ]
    );
}

#[test]
fn unknown_keys_name_line_and_column() {
    let e = errors(
        "groups:\n- name: g\n  evaluation: 1m\n  rules:\n  - alert: Foo\n    expr: up\n    severity: page\n",
    );
    assert_eq!(
        e,
        vec![
            "r.yaml:3:3: field evaluation not found in type rulefmt.RuleGroup",
            "r.yaml:7:5: field severity not found in type rulefmt.Rule",
        ]
    );
    let e = errors("group:\n- name: g\n");
    assert_eq!(
        e,
        vec!["r.yaml:1:1: field group not found in type rulefmt.RuleGroups"]
    );
}

#[test]
fn recording_rule_restrictions() {
    let e = errors(
        "groups:\n- name: g\n  rules:\n  - record: 'job:up{x}'\n    expr: sum(up)\n    for: 5m\n    keep_firing_for: 1m\n    annotations:\n      a: b\n",
    );
    let p = "r.yaml:4:13: group \"g\", rule 1, \"job:up{x}\": ";
    assert_eq!(
        e,
        vec![
            format!("{p}invalid field 'annotations' in recording rule"),
            format!("{p}invalid field 'for' in recording rule"),
            format!("{p}invalid field 'keep_firing_for' in recording rule"),
            format!("{p}invalid recording rule name: job:up{{x}}"),
            format!(
                "{p}braces present in the recording rule name; should it be in expr?: job:up{{x}}"
            ),
        ]
    );
}

#[test]
fn duplicate_and_empty_group_names() {
    let e = errors("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n- rules: []\n");
    assert_eq!(
        e,
        vec![
            "r.yaml:4:3: groupname: \"g\" is repeated in the same file",
            "r.yaml:6:3: Groupname must not be empty",
        ]
    );
}

#[test]
fn bad_template_in_annotation() {
    let e = errors(
        "groups:\n- name: g\n  rules:\n  - alert: Foo\n    expr: up == 0\n    annotations:\n      summary: '{{ $value | humanise }}'\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("r.yaml:7:16: group \"g\", rule 1, \"Foo\": annotation \"summary\": template: __alert_Foo:"),
        "{e:?}"
    );
}

#[test]
fn bad_durations_and_types() {
    let e = errors(
        "groups:\n- name: g\n  interval: 5x\n  rules:\n  - alert: A\n    expr: up\n    for: 10\n",
    );
    assert_eq!(
        e,
        vec![
            "r.yaml:3:13: not a valid duration string: \"5x\"",
            "r.yaml:7:10: not a valid duration string: \"10\"",
        ]
    );
    let e = errors("groups:\n- name: g\n  rules: nope\n");
    assert_eq!(
        e,
        vec!["r.yaml:3:10: cannot unmarshal !!str `nope` into []rulefmt.Rule"]
    );
}

#[test]
fn yaml_syntax_error_has_position() {
    let e = parse("groups:\n- name: g\n  rules: [\n", "r.yaml").unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].line >= 3, "{e:?}");
}

#[test]
fn durations() {
    let ok = |s: &str| parse_duration(s).unwrap();
    assert_eq!(ok("0"), Duration::ZERO);
    assert_eq!(ok("30s"), Duration::from_secs(30));
    assert_eq!(ok("5m"), Duration::from_secs(300));
    assert_eq!(ok("1h30m"), Duration::from_secs(5400));
    assert_eq!(ok("1d"), Duration::from_secs(86400));
    assert_eq!(ok("2w"), Duration::from_secs(14 * 86400));
    assert_eq!(ok("1y"), Duration::from_secs(365 * 86400));
    assert_eq!(ok("1h2m10ms"), Duration::from_millis(3_720_010));
    assert_eq!(ok("100ms"), Duration::from_millis(100));
    assert_eq!(parse_duration("").unwrap_err(), "empty duration string");
    for bad in ["30m1h", "1.5h", "5", "1hh", "h", "-1m", "1m1m"] {
        assert_eq!(
            parse_duration(bad).unwrap_err(),
            format!("not a valid duration string: {bad:?}")
        );
    }
    assert_eq!(
        parse_duration("999999999999y").unwrap_err(),
        "duration out of range"
    );
}
