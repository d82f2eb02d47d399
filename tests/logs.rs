//! Logs operators can use: a strict level, logfmt and JSON lines, journald priorities under
//! systemd, and a quiet log when polls keep succeeding.

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::process::Command;

/// Runs `headroom ARGS once` on a config with stderr to a file; `journal` sets `JOURNAL_STREAM`
/// to that file, as systemd does for the stream it connected. Returns (exit code, stderr).
fn once(args: &[&str], config: &str, journal: bool) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!(
        "headroom-logs-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap_or_else(|e| panic!("{e}"));
    let err_path = dir.join("stderr");
    let err = std::fs::File::create(&err_path).unwrap_or_else(|e| panic!("{e}"));
    let meta = err.metadata().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
    cmd.args(args)
        .args(["once", "--config"])
        .arg(&path)
        .stderr(err)
        .stdout(std::process::Stdio::null());
    cmd.env_remove("JOURNAL_STREAM");
    if journal {
        cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (status.code(), text)
}

async fn config() -> String {
    let (sim, _) = common::esm_sim(Default::default()).await;
    let only = "    collectors:\n      service_capacity: {enabled: false}\n      devices: {enabled: false}\n      cloud_service_alarms: {enabled: false}\n      hardware_alarms: {enabled: false}\n      host_metrics: {enabled: false}\n      tenant_resources: {enabled: false}\n";
    // A second target with a wrong password fails: one warning.
    format!(
        "targets:\n{}{}",
        common::esm_target("good", sim, "demo-password", only),
        common::esm_target("bad", sim, "wrong", only)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_in_each_format() {
    let cfg = config().await;
    // logfmt: ts, level, msg first, then the fields.
    let (code, text) = once(&["--log-format", "logfmt"], &cfg, false);
    assert_eq!(code, Some(1), "{text}");
    let first = text
        .lines()
        .find(|l| l.contains("target_name=good") && l.contains("msg=\"First poll succeeded.\""))
        .unwrap_or_else(|| panic!("no first-success line:\n{text}"));
    assert!(
        first.starts_with("ts=") && first.contains(" level=info "),
        "{first}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("level=warn") && l.contains("target_name=bad")),
        "{text}"
    );
    // JSON: every line an object with a level and the event's fields.
    let (_, text) = once(&["--log-format", "json"], &cfg, false);
    let mut levels = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        levels.push(v["level"].as_str().unwrap_or("").to_string());
    }
    assert!(
        levels.iter().any(|l| l == "INFO") && levels.iter().any(|l| l == "WARN"),
        "{levels:?}"
    );
    // Under systemd, a syslog priority before each line: warning 4, info 6.
    let (_, text) = once(&[], &cfg, true);
    assert!(text.lines().all(|l| l.starts_with('<')), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("<4>") && l.contains("bad")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("<6>")), "{text}");
    // Not under systemd (stderr is not the stream JOURNAL_STREAM names): no prefix.
    let (_, text) = once(&[], &cfg, false);
    assert!(text.lines().all(|l| !l.starts_with('<')), "{text}");
}

#[test]
fn an_unknown_level_or_format_is_an_error() {
    for args in [["--log-level", "verbose"], ["--log-format", "xml"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(args)
            .args(["check-config", "--config", "/nonexistent"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown log"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_collector_logs_its_successes_at_debug() {
    use headroom::schedule::PollTask;
    let (sim, _) = common::esm_sim(Default::default()).await;
    let cfg = common::config(
        "  interval: 60s",
        &[common::esm_target(
            "esm",
            sim,
            "demo-password",
            "    collectors:\n      devices: {enabled: true}\n",
        )],
    );
    let (_s, _m, tasks) = common::one_shot(&cfg);
    let task: &PollTask = tasks
        .iter()
        .find(|t| t.collector_name == "devices")
        .unwrap_or_else(|| panic!("no task"));
    // The first success and each recovery are news; the rest is debug (checked through the
    // state the task keeps: a second success is "up" again).
    assert!(task.poll_once().await.is_ok());
    assert!(task.poll_once().await.is_ok());
    assert_eq!(format!("{:?}", task.health), "Health(1)");
}
