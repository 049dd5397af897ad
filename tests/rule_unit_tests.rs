//! `vigil test rules` runs `promtool test rules` files against Vigil's
//! evaluator. Every `tests/rule-tests/*.test.yml` passes with Vigil, and
//! with Debian's promtool as well when it is installed (always in CI), so
//! the expected alerts, annotations and samples are Prometheus' answers,
//! not Vigil's. The files under `failing/` fail in both, with the same
//! report.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn rule_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rule-tests")
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run(program: &Path, args: &[&str], file: &Path) -> Run {
    let output = Command::new(program)
        .args(args)
        .arg(file.file_name().unwrap())
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn vigil(file: &Path) -> Run {
    run(
        Path::new(env!("CARGO_BIN_EXE_vigil")),
        &["test", "rules"],
        file,
    )
}

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test files in {}", dir.display());
    files
}

#[test]
fn rule_test_files_pass_with_vigil_and_with_promtool() {
    let promtool = common::peer("promtool", "prometheus");
    for file in test_files(&rule_tests()) {
        let ours = vigil(&file);
        assert!(
            ours.success,
            "vigil test rules {}:\n{}{}",
            file.display(),
            ours.stdout,
            ours.stderr
        );
        assert!(ours.stdout.contains("SUCCESS"), "{}", ours.stdout);
        if let Some(promtool) = &promtool {
            let theirs = run(promtool, &["test", "rules"], &file);
            assert!(
                theirs.success,
                "promtool test rules {} disagrees with the expectations:\n{}{}",
                file.display(),
                theirs.stdout,
                theirs.stderr
            );
        }
    }
}

#[test]
fn wrong_expectations_fail_with_what_was_expected_and_what_came_back() {
    let file = rule_tests().join("failing/wrong-expectations.test.yml");
    let ours = vigil(&file);
    assert!(!ours.success, "{}", ours.stdout);
    assert!(ours.stderr.contains("FAILED:"), "{}", ours.stderr);
    // The alert is still pending at 3m: expected one, got none.
    assert!(
        ours.stderr.contains(
            "alertname: InstanceDown, time: 3m, \n        exp:[\n            0:\n              \
             Labels:{alertname=\"InstanceDown\", instance=\"localhost:9090\", job=\"prometheus\", severity=\"page\"}\n              \
             Annotations:{}\n            ], \n        got:[]"
        ),
        "{}",
        ours.stderr
    );
    assert!(
        ours.stderr.contains(
            "expr: \"up\", time: 1m,\n        \
             exp: {__name__=\"up\", instance=\"localhost:9090\", job=\"prometheus\"} 1E+00\n        \
             got: {__name__=\"up\", instance=\"localhost:9090\", job=\"prometheus\"} 0E+00"
        ),
        "{}",
        ours.stderr
    );
    if let Some(promtool) = common::peer("promtool", "prometheus") {
        let theirs = run(&promtool, &["test", "rules"], &file);
        assert!(!theirs.success, "{}", theirs.stdout);
    }
}

#[test]
fn broken_test_files_are_refused_with_the_reason() {
    let dir = rule_tests().join("failing");
    let unknown = vigil(&dir.join("unknown-field.test.yml"));
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("unknown field `valeus`") && unknown.stderr.contains("line 7"),
        "{}",
        unknown.stderr
    );
    let series = vigil(&dir.join("bad-series.test.yml"));
    assert!(!series.success);
    assert!(
        series
            .stderr
            .contains("input series up{job=\"a\": expected `,` or `}`"),
        "{}",
        series.stderr
    );

    let tmp = tempfile::tempdir().unwrap();
    let no_name = tmp.path().join("no-alertname.test.yml");
    std::fs::write(
        &no_name,
        "tests:\n  - alert_rule_test:\n      - eval_time: 5m\n        exp_alerts: []\n",
    )
    .unwrap();
    let missing = vigil(&no_name);
    assert!(!missing.success);
    assert!(
        missing.stderr.contains(
            "an item under alert_rule_test misses required attribute alertname at eval_time 5m"
        ),
        "{}",
        missing.stderr
    );
    let bad_rules = tmp.path().join("bad-rules.test.yml");
    std::fs::write(
        tmp.path().join("bad.rules.yml"),
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n",
    )
    .unwrap();
    std::fs::write(
        &bad_rules,
        "rule_files: [bad.rules.yml]\ntests:\n  - input_series: []\n",
    )
    .unwrap();
    let broken = vigil(&bad_rules);
    assert!(!broken.success);
    assert!(
        broken.stderr.contains("bad.rules.yml:5:"),
        "{}",
        broken.stderr
    );
}
