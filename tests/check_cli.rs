//! `vigil check rules` and `vigil check config` as promtool and amtool
//! answer: a summary for good files, `file:line:column` and exit 1 for bad
//! ones.

use std::process::Command;

fn vigil(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

const GOOD_RULES: &str = r#"groups:
  - name: node
    interval: 30s
    rules:
      - record: instance:node_cpu_utilisation:rate5m
        expr: 1 - avg without (cpu) (sum without (mode) (rate(node_cpu_seconds_total{mode=~"idle|iowait|steal"}[5m])))
      - alert: NodeFilesystemAlmostFull
        expr: |
          node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < 5
        for: 30m
        keep_firing_for: 5m
        labels:
          severity: critical
        annotations:
          summary: Filesystem on {{ $labels.device }} at {{ $labels.instance }} has {{ printf "%.2f" $value }}% left.
"#;

const BAD_RULES: &str = r#"groups:
  - name: node
    rules:
      - alert: Broken
        expr: sum(rate(x[5m])
"#;

const GOOD_CONFIG: &str = r#"route:
  receiver: team
  group_by: [alertname, cluster]
  routes:
    - matchers: ['severity="page"']
      receiver: pager
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
receivers:
  - name: team
    webhook_configs:
      - url: http://127.0.0.1:5001/
  - name: pager
"#;

#[test]
fn rules_and_configs_are_checked_like_promtool_and_amtool() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    let bad = dir.path().join("bad.yml");
    std::fs::write(&good, GOOD_RULES).unwrap();
    std::fs::write(&bad, BAD_RULES).unwrap();
    let (ok, out) = vigil(&["check", "rules", good.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 2 rules found"), "{out}");
    let (ok, out) = vigil(&[
        "check",
        "rules",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(out.contains("SUCCESS: 2 rules found"), "{out}");
    assert!(out.contains("FAILED:"), "{out}");
    assert!(
        out.contains(&format!("{}:5:", bad.display())),
        "file:line: {out}"
    );
    assert!(out.contains("could not parse expression"), "{out}");

    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, GOOD_CONFIG).unwrap();
    let (ok, out) = vigil(&["check", "config", config.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(
        out.contains(" - 1 inhibit rules") && out.contains(" - 2 receivers"),
        "{out}"
    );
    std::fs::write(&config, GOOD_CONFIG.replace("group_by", "group_bye")).unwrap();
    let (ok, out) = vigil(&["check", "config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains(&format!("{}:3:", config.display())), "{out}");
    assert!(out.contains("group_bye"), "{out}");
}
