//! The shipped Prometheus rules: valid for promtool, unit-tested (every alert firing and not
//! firing, every recording), reading only catalogue names, and documented (severity, summary,
//! description, a runbook section).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::prom::{self, load_yaml, metric_names, rules, unknown_names};
use common::run;

fn unit_test_files() -> Vec<std::path::PathBuf> {
    prom::files_in("rules/tests", ".test.yml")
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    let promtool = prom::tool("promtool", "PROMTOOL");
    let out = run(Command::new(&promtool)
        .arg("check")
        .arg("rules")
        .args(prom::rule_files()));
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run(Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .args(unit_test_files()));
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn the_alertmanager_example_passes_amtool() {
    let amtool = prom::tool("amtool", "AMTOOL");
    let out = run(Command::new(&amtool)
        .arg("check-config")
        .arg(prom::repo().join("alertmanager/alertmanager.example.yml")));
    assert!(out.contains("SUCCESS"), "{out}");
    // Its routes and inhibitions name alerts that exist.
    let text = std::fs::read_to_string(prom::repo().join("alertmanager/alertmanager.example.yml"))
        .unwrap_or_default();
    let alerts: BTreeSet<String> = rules().into_iter().filter_map(|r| r.alert).collect();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.starts_with("Headroom") {
            assert!(
                alerts.contains(word),
                "the example names {word}, which no rule raises"
            );
        }
    }
    // Every exporter-health alert goes to the monitoring receiver: one left out would page the
    // capacity planners about a broken exporter, or nobody.
    let route = text
        .lines()
        .find(|l| l.contains("alertname=~"))
        .unwrap_or_default();
    let routed: BTreeSet<&str> = route
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.starts_with("Headroom"))
        .collect();
    let health: Vec<String> = rules()
        .into_iter()
        .filter(|r| r.group == "headroom-exporter-alerts")
        .filter_map(|r| r.alert)
        .collect();
    assert!(health.len() >= 8, "{health:?}");
    for alert in &health {
        assert!(
            routed.contains(alert.as_str()),
            "{alert} is not routed to the monitoring receiver: {route}"
        );
    }
}

#[test]
fn every_name_the_rules_read_is_in_the_catalogue_or_recorded() {
    let mut problems = Vec::new();
    for r in rules() {
        let name = r.record.clone().or(r.alert.clone()).unwrap_or_default();
        assert!(!metric_names(&r.expr).is_empty(), "{name}: reads no metric");
        for n in unknown_names(&r.expr) {
            problems.push(format!("{name} reads {n}"));
        }
    }
    assert!(
        problems.is_empty(),
        "names in neither METRICS.md nor a recording:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_alert_fires_and_stays_quiet_in_a_unit_test_and_every_recording_is_checked() {
    let mut fired = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut exprs = String::new();
    for file in unit_test_files() {
        let doc = load_yaml(&file);
        for t in doc["tests"].as_vec().cloned().unwrap_or_default() {
            for a in t["alert_rule_test"].as_vec().cloned().unwrap_or_default() {
                let name = a["alertname"].as_str().unwrap_or_default().to_string();
                let n = a["exp_alerts"].as_vec().map_or(0, Vec::len);
                if n > 0 {
                    fired.insert(name);
                } else {
                    quiet.insert(name);
                }
            }
            for e in t["promql_expr_test"].as_vec().cloned().unwrap_or_default() {
                assert!(
                    e["exp_samples"].as_vec().is_some_and(|v| !v.is_empty()),
                    "{}: a recording test expecting nothing cannot fail",
                    e["expr"].as_str().unwrap_or_default()
                );
                exprs.push_str(e["expr"].as_str().unwrap_or_default());
                exprs.push('\n');
            }
        }
    }
    let checked = metric_names(&exprs);
    let mut missing = Vec::new();
    for r in rules() {
        if let Some(alert) = &r.alert {
            if !fired.contains(alert) {
                missing.push(format!("{alert}: no unit test where it fires"));
            }
            if !quiet.contains(alert) {
                missing.push(format!("{alert}: no unit test where it stays quiet"));
            }
        }
        if let Some(record) = &r.record {
            if !checked.contains(record) {
                missing.push(format!("{record}: no promql_expr_test reads it"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() {
    let readme = std::fs::read_to_string(prom::repo().join("rules/README.md")).unwrap_or_default();
    let alerts: Vec<_> = rules().into_iter().filter(|r| r.alert.is_some()).collect();
    assert!(alerts.len() >= 10, "{} alerts", alerts.len());
    for r in alerts {
        let name = r.alert.clone().unwrap_or_default();
        let severity = r.labels["severity"].as_str().unwrap_or_default();
        assert!(
            severity == "warning" || severity == "critical",
            "{name}: severity {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = r.annotations[key].as_str().unwrap_or_default();
            assert!(
                text.contains("{{"),
                "{name}: {key} names no label or value: {text:?}"
            );
        }
        // An absolute URL from the one base `scripts/install-rules.sh --runbook-base` replaces.
        let anchor = format!("{RUNBOOK_BASE}#{}", name.to_lowercase());
        assert_eq!(
            r.annotations["runbook_url"].as_str(),
            Some(anchor.as_str()),
            "{name}"
        );
        assert!(
            readme.contains(&format!("\n### {name}\n")),
            "rules/README.md has no runbook section for {name}"
        );
    }
}

/// Where the shipped rules point their runbooks: the README the packages install.
const RUNBOOK_BASE: &str = "file:///usr/share/doc/headroom/rules/README.md";

#[test]
fn the_forecast_window_appears_in_the_forecast_group_only() {
    // README.md tells operators to change the window with one `sed` over `[7d]`: that is safe
    // only while the window appears nowhere else.
    let mut in_forecast = 0;
    for r in rules() {
        let n = r.expr.matches("[7d]").count();
        if r.group == "headroom-forecast" {
            in_forecast += n;
        } else {
            assert_eq!(n, 0, "{:?} in group {} uses [7d]", r.record, r.group);
        }
    }
    assert!(in_forecast > 0);
}

#[test]
fn the_name_scanner_finds_metrics_and_recordings_but_not_labels_or_strings() {
    let names = metric_names(
        r#"sum by (target) (rate(headroom_api_requests_total{code=~"4..|headroom_x"}[5m])) / on (target) pool:headroom_resource_fill:ratio"#,
    );
    let want: BTreeSet<String> = [
        "headroom_api_requests_total",
        "pool:headroom_resource_fill:ratio",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, want);
    assert_eq!(
        unknown_names("headroom_no_such_family + headroom_api_request_duration_seconds_bucket"),
        vec!["headroom_no_such_family".to_string()]
    );
}

#[test]
fn install_rules_points_every_runbook_url_at_the_given_base_and_changes_nothing_else() {
    let dest = std::env::temp_dir().join(format!("headroom-install-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let script = prom::repo().join("scripts/install-rules.sh");
    let base = "https://git.example.com/ops/headroom/blob/main/rules/README.md?plain=1&x=a/b";
    let out = run(Command::new(&script)
        .arg(&dest)
        .arg("--runbook-base")
        .arg(base)
        .env("PATH", prom::path_with_tools()));
    assert!(out.contains("installed"), "{out}");
    for file in ["headroom.rules.yml", "headroom.alerts.yml"] {
        let shipped =
            std::fs::read_to_string(prom::repo().join("rules").join(file)).unwrap_or_default();
        let installed = std::fs::read_to_string(dest.join(file)).unwrap_or_default();
        assert_eq!(
            installed,
            shipped.replace(&format!("{RUNBOOK_BASE}#"), &format!("{base}#")),
            "{file}"
        );
        let doc = load_yaml(&dest.join(file));
        for g in doc["groups"].as_vec().cloned().unwrap_or_default() {
            for r in g["rules"].as_vec().cloned().unwrap_or_default() {
                if let Some(alert) = r["alert"].as_str() {
                    assert_eq!(
                        r["annotations"]["runbook_url"].as_str(),
                        Some(format!("{base}#{}", alert.to_lowercase()).as_str())
                    );
                }
            }
        }
    }
    assert!(!dest.join(".headroom.rules.yml.tmp").exists());
    // A base that is not an absolute URL, or carries an anchor, is refused with exit 2.
    for bad in ["wiki/headroom", "https://x.example/a#b"] {
        let status = Command::new(&script)
            .arg(&dest)
            .arg("--runbook-base")
            .arg(bad)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.code(), Some(2), "{bad}");
    }
    let _ = std::fs::remove_dir_all(&dest);
}
