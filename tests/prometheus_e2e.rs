//! End to end with the real parts: `headroom demo` (every simulated platform) scraped by a real
//! Prometheus (Debian `prometheus`) with the shipped rules, alerting a real Alertmanager (Debian
//! `prometheus-alertmanager`). The ESM simulator's pressure control drives one pool above the
//! critical threshold: the alert must reach Alertmanager, and clear when the pool is released.
//! Meanwhile every dashboard panel query and template-variable query must return data.
//!
//! The rules are loaded as shipped except that every `for:` is shortened to 0s, so the test
//! takes minutes instead of hours; the `for:` durations themselves are covered by the promtool
//! unit tests in rules/tests.

mod common;

use std::io::BufRead as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::prom;
use serde_json::Value;

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn spawn(cmd: &mut Command, name: &'static str, log: &Path) -> Running {
    let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let child = cmd
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {name} ({cmd:?}); ./scripts/test.sh installs it: {e}")
        });
    Running(child)
}

/// Starts `headroom demo` on an ephemeral port; returns it with the exporter's, the ESM
/// simulator's and the CECSTACK simulator's addresses, read from what it prints.
fn start_demo(dir: &Path) -> (Running, SocketAddr, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["demo", "--listen", "127.0.0.1:0", "--interval", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("demo.log")).unwrap_or_else(|e| panic!("{e}")),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the demo: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let running = Running(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr_after = |line: &str, label: &str| -> Option<SocketAddr> {
        let rest = line.split(label).nth(1)?.trim();
        let url = rest.split_whitespace().next()?;
        let host = url.split("://").nth(1)?.split('/').next()?;
        host.parse().ok()
    };
    let (mut esm, mut cec, mut metrics) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        esm = esm.or_else(|| addr_after(&line, "Huawei ESM simulator:"));
        cec = cec.or_else(|| addr_after(&line, "CECSTACK simulator:"));
        metrics = metrics.or_else(|| addr_after(&line, "metrics:"));
        if metrics.is_some() {
            break;
        }
    }
    // Keep reading so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    match (esm, cec, metrics) {
        (Some(e), Some(c), Some(m)) => (running, m, e, c),
        _ => panic!("the demo did not print its addresses"),
    }
}

/// The shipped rules, with every `for:` shortened to 0s.
fn rules_for_test(dir: &Path) -> Vec<PathBuf> {
    prom::rule_files()
        .into_iter()
        .map(|src| {
            let text = std::fs::read_to_string(&src).unwrap_or_default();
            let short: String = text
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("for:") {
                        let indent = &l[..l.len() - l.trim_start().len()];
                        format!("{indent}for: 0s\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect();
            let dst = dir.join(src.file_name().unwrap_or_default());
            std::fs::write(&dst, short).unwrap_or_else(|e| panic!("{e}"));
            dst
        })
        .collect()
}

struct Apis {
    http: reqwest::Client,
    prometheus: String,
    alertmanager: String,
}

impl Apis {
    async fn get_json(&self, url: reqwest::Url) -> Option<Value> {
        let resp = self.http.get(url).send().await.ok()?;
        serde_json::from_str(&resp.text().await.ok()?).ok()
    }

    /// An instant query's result vector, or the error Prometheus gave.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.prometheus),
            &[("query", expr)],
        )
        .map_err(|e| e.to_string())?;
        let v = self.get_json(url).await.ok_or("no answer")?;
        if v["status"] != "success" {
            return Err(format!("{v}"));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Values of `label` over the series `selector` selects (what Grafana's label_values asks).
    async fn label_values(&self, selector: &str, label: &str) -> Result<Vec<Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/label/{label}/values", self.prometheus),
            &[("match[]", selector)],
        )
        .map_err(|e| e.to_string())?;
        let v = self.get_json(url).await.ok_or("no answer")?;
        if v["status"] != "success" {
            return Err(format!("{v}"));
        }
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// Active alerts Alertmanager holds.
    async fn alertmanager_alerts(&self) -> Vec<Value> {
        let url = reqwest::Url::parse(&format!("{}/api/v2/alerts", self.alertmanager))
            .unwrap_or_else(|e| panic!("{e}"));
        self.get_json(url)
            .await
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    async fn ready(&self, base: &str) -> bool {
        self.http
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    }
}

/// Polls `check` every second until it returns `Some`, or panics naming `what` at `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Is this Alertmanager alert the critical capacity alert of the pressed pool?
fn is_pressed_pool_alert(a: &Value) -> bool {
    let l = &a["labels"];
    l["alertname"] == "HeadroomCapacityHigh"
        && l["severity"] == "critical"
        && l["platform"] == "huawei_esm"
        && l["region"] == "cn-sim-1"
        && l["pool"] == "KVM_POD"
        && l["resource"] == "memory"
}

/// A dashboard query with Grafana's variables as "All" (`.*`) and `$__rate_interval` as 1m.
fn as_grafana_sends_it(expr: &str) -> String {
    with_variables(expr, ".*")
}

/// A dashboard query with every variable set to `value` and `$__rate_interval` as 1m.
fn with_variables(expr: &str, value: &str) -> String {
    let expr = expr.replace("$__rate_interval", "1m");
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == '_')
            {
                chars.next();
            }
            out.push_str(value);
        } else {
            out.push(c);
        }
    }
    out
}

/// Every panel query and every template-variable query of every dashboard, as
/// (where, kind, text).
fn dashboard_queries() -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for f in prom::files_in("dashboards", ".json") {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for v in d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if let (Some("query"), Some(def)) = (v["type"].as_str(), v["query"].as_str()) {
                out.push((
                    format!("{name} ${}", v["name"].as_str().unwrap_or_default()),
                    "variable",
                    def.to_string(),
                ));
            }
        }
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                out.push((
                    format!(
                        "{name} \"{}\" {}",
                        p["title"].as_str().unwrap_or_default(),
                        t["refId"].as_str().unwrap_or_default()
                    ),
                    "panel",
                    t["expr"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// `label_values(SELECTOR, LABEL)` → (selector, label).
fn parse_label_values(def: &str) -> (String, String) {
    let inner = def
        .trim()
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a label_values query: {def}"));
    let (sel, label) = inner
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("no label in {def}"));
    (as_grafana_sends_it(sel.trim()), label.trim().to_string())
}

/// Runs every dashboard query; returns those that fail or come back empty.
async fn empty_dashboard_queries(
    apis: &Apis,
    queries: &[(String, &'static str, String)],
) -> Vec<String> {
    let mut empty = Vec::new();
    for (at, kind, text) in queries {
        let (kind, text) = (*kind, text.as_str());
        let result = if kind == "variable" {
            let (sel, label) = parse_label_values(text);
            apis.label_values(&sel, &label).await
        } else {
            apis.query(&as_grafana_sends_it(text)).await
        };
        match result {
            Ok(r) if !r.is_empty() => {}
            Ok(_) => empty.push(format!("{at}: no data")),
            Err(e) => empty.push(format!("{at}: {e}")),
        }
        // With several values chosen, Grafana sends a regex alternation: still valid PromQL.
        if kind == "panel" {
            let chosen = with_variables(text, "(huawei_esm|cec-demo|cn-sim-1)");
            if let Err(e) = apis.query(&chosen).await {
                empty.push(format!("{at} with values chosen: {e}"));
            }
        }
    }
    empty
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scraped_by_prometheus_fills_every_dashboard_and_alerts_alertmanager() {
    let dir = std::env::temp_dir().join(format!("headroom-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));

    let (_demo, exporter, esm, cec) = start_demo(&dir);

    // Debian's Alertmanager will not start without its default templates in this place.
    assert!(
        Path::new("/usr/share/prometheus/alertmanager/default.tmpl").exists(),
        "Alertmanager's templates are missing: ./scripts/test.sh installs them"
    );
    let am_port = free_port();
    // The shipped example configuration, as an operator would start from it.
    let _alertmanager = spawn(
        Command::new(prom::tool("prometheus-alertmanager", "ALERTMANAGER"))
            .arg(format!(
                "--config.file={}",
                prom::repo()
                    .join("rules/alertmanager.example.yml")
                    .display()
            ))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
        "alertmanager",
        &dir.join("alertmanager.log"),
    );

    let prom_port = free_port();
    let rule_files: Vec<String> = rules_for_test(&dir)
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 2s, evaluation_interval: 2s}}\n\
             rule_files: [{}]\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n\
             scrape_configs:\n  - job_name: headroom\n    static_configs: [{{targets: ['{exporter}']}}]\n",
            rule_files.join(", ")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let _prometheus = spawn(
        Command::new(prom::tool("prometheus", "PROMETHEUS"))
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        "prometheus",
        &dir.join("prometheus.log"),
    );

    let apis = Apis {
        http: {
            headroom::http::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_else(|e| panic!("{e}"))
        },
        prometheus: format!("http://127.0.0.1:{prom_port}"),
        alertmanager: format!("http://127.0.0.1:{am_port}"),
    };
    let logs = || {
        ["demo.log", "prometheus.log", "alertmanager.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {f} (last lines)\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    wait_for(
        "Prometheus and Alertmanager to be ready",
        Duration::from_secs(60),
        || async {
            (apis.ready(&apis.prometheus).await && apis.ready(&apis.alertmanager).await)
                .then_some(())
        },
    )
    .await;

    // The pool's own data and the recordings over it, before any pressure: no alert for it.
    let pool = r#"pool:headroom_resource_fill:ratio{platform="huawei_esm",region="cn-sim-1",pool="KVM_POD",resource="memory"}"#;
    let before = wait_for(
        "the ESM pool's fill ratio in Prometheus",
        Duration::from_secs(120),
        || async {
            let r = apis.query(pool).await.ok()?;
            r.first()?["value"][1].as_str()?.parse::<f64>().ok()
        },
    )
    .await;
    assert!(
        before < 0.8,
        "the pool starts below the warning threshold: {before}"
    );
    assert!(
        !apis
            .alertmanager_alerts()
            .await
            .iter()
            .any(is_pressed_pool_alert),
        "alert before any pressure"
    );

    // A few 429s from CECSTACK, so the exporter-health panels on throttles have something.
    let http = &apis.http;
    let faults = |body: &'static str| async move {
        http.post(format!("http://{cec}/sim/faults"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map(|r| r.status())
    };
    assert_eq!(
        faults(r#"{"throttle_rate": 1.0}"#).await.ok(),
        Some(reqwest::StatusCode::NO_CONTENT)
    );
    wait_for(
        "a throttle counted by Prometheus",
        Duration::from_secs(120),
        || async {
            let r = apis
                .query(r#"headroom_api_throttled_total{target="cec-demo"}"#)
                .await
                .ok()?;
            (!r.is_empty()).then_some(())
        },
    )
    .await;
    assert_eq!(
        faults("{}").await.ok(),
        Some(reqwest::StatusCode::NO_CONTENT)
    );

    // Drive the pool to 95 % allocated: the critical alert reaches Alertmanager.
    let pressure = format!("http://{esm}/sim/pressure");
    let status = http
        .post(&pressure)
        .header("content-type", "application/json")
        .body(r#"{"region": "cn-sim-1", "pool": "KVM_POD", "allocated_ratio": 0.95}"#)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 204);
    let alert = wait_for(
        "the critical alert in Alertmanager",
        Duration::from_secs(180),
        || async {
            apis.alertmanager_alerts()
                .await
                .into_iter()
                .find(is_pressed_pool_alert)
        },
    )
    .await;
    let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("memory allocated at 9"),
        "{summary}\n{}",
        logs()
    );
    assert!(summary.contains("cn-sim-1/KVM_POD"), "{summary}");
    assert_eq!(alert["labels"]["basis"], "allocated");
    assert_eq!(
        alert["annotations"]["runbook"],
        "rules/README.md#headroomcapacityhigh"
    );

    // Every dashboard query and variable returns data (the forecast needs the pool to have
    // shrunk, which it now has).
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 50,
        "only {} dashboard queries found",
        queries.len()
    );
    let mut empty = Vec::new();
    for _ in 0..30 {
        empty = empty_dashboard_queries(&apis, &queries).await;
        if empty.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}\n{}",
        empty.join("\n"),
        logs()
    );

    // Release the pool: the alert clears in Prometheus and leaves Alertmanager.
    let status = http
        .delete(&pressure)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 204);
    wait_for(
        "the alert to clear in Alertmanager",
        Duration::from_secs(180),
        || async {
            (!apis
                .alertmanager_alerts()
                .await
                .iter()
                .any(is_pressed_pool_alert))
            .then_some(())
        },
    )
    .await;
    let firing = apis
        .query(r#"ALERTS{alertname="HeadroomCapacityHigh",alertstate="firing",region="cn-sim-1",pool="KVM_POD",resource="memory"}"#)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(firing.is_empty(), "still firing in Prometheus: {firing:?}");

    let _ = std::fs::remove_dir_all(&dir);
}
