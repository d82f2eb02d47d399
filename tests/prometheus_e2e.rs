//! End to end with the real parts: `headroom demo` (every simulated platform) scraped by a real
//! Prometheus (Debian `prometheus`) with the shipped rules, alerting a real Alertmanager (Debian
//! `prometheus-alertmanager`). The ESM simulator's pressure control drives one pool above the
//! critical threshold: the alert must reach Alertmanager, and clear when the pool is released.
//! Meanwhile every dashboard panel query and template-variable query must return data, and every
//! series of every Capacity overview and GPU panel (its own query, the variables at "All") must
//! equal what the simulators hold, from their ground truth (`/sim/truth`).
//!
//! The rules are loaded as shipped except that every `for:` is shortened to 0s, so the test
//! takes minutes instead of hours; the `for:` durations themselves are covered by the promtool
//! unit tests in rules/tests.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::demo::{start_demo, truths, Running};
use common::prom;
use headroom::sim::Truth;
use serde_json::Value;

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

/// The level labels a dashboard series may be grouped by (a truth figure's place uses them).
const PLACES: &[&str] = &[
    "region",
    "az",
    "pool",
    "cluster",
    "datastore",
    "eip_pool",
    "direction",
    "gpu_model",
];

/// What the simulators hold for one series of a Capacity overview or GPU panel: the panel's
/// query, the series' labels; `None` when the query is not one that truth can answer.
fn expected(
    expr: &str,
    labels: &serde_json::Map<String, Value>,
    truths: &BTreeMap<String, Truth>,
) -> Option<f64> {
    let label = |k: &str| labels.get(k).and_then(Value::as_str).unwrap_or("");
    let truth = truths.get(label("target"))?;
    if expr.contains("headroom_flavor_free_slots") {
        // Free slots: counted from the simulator's hosts and flavors (and the demo's configured
        // sizes) with the tests' own arithmetic, or the platform's own count.
        let place: BTreeMap<String, String> = ["region", "az", "pool"]
            .iter()
            .filter(|k| !label(k).is_empty())
            .map(|k| (k.to_string(), label(k).to_string()))
            .collect();
        if label("origin") == "platform" {
            let mut at = place.clone();
            at.insert("flavor".into(), label("flavor").into());
            return truth
                .platform_slots
                .iter()
                .find(|f| f.at == at)
                .map(|f| f.value);
        }
        let slots = common::slots::truth_slots(truth, &common::slots::sizes());
        let (free, n1) = slots.get(&(label("flavor").to_string(), place))?;
        return Some(if expr.contains("n_minus_one") {
            *n1
        } else {
            *free
        });
    }
    // The resource: the series' label, else the one the query selects.
    let resource = match label("resource") {
        "" => expr
            .split("resource=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())?
            .to_string(),
        r => r.to_string(),
    };
    // The series' place, in the labels the truth places this resource by (a series may carry
    // more, such as a datastore's cluster).
    let at = |family: &str| -> Vec<(&str, &str)> {
        PLACES
            .iter()
            .filter(|k| {
                truth
                    .figures
                    .iter()
                    .any(|f| f.family == family && f.resource == resource && f.at.contains_key(**k))
            })
            // "" (the series' group where the label is empty) matches figures without it.
            .filter_map(|k| Some((*k, labels.get(*k)?.as_str()?)))
            .collect()
    };
    let has = |family: &str| {
        truth
            .figures
            .iter()
            .any(|f| f.family == family && f.resource == resource)
    };
    let total = |family: &str| has(family).then(|| truth.total(family, &resource, &at(family)));
    let free = || {
        total("free")
            .or_else(|| Some(total("allocatable")? - total("allocated")?))
            .or_else(|| Some(total("capacity")? - total("allocated")?))
    };
    let allocation = || {
        let a = total("allocated")?;
        total("allocatable")
            .or_else(|| total("capacity"))
            .or_else(|| Some(a + total("free")?))
            .map(|d| a / d)
    };
    let usage = || Some(total("used")? / total("capacity").or_else(|| total("allocatable"))?);
    if expr.contains("exhaustion") {
        return None;
    }
    if expr.contains("headroom_resource_fill:ratio") {
        return match label("basis") {
            "allocated" => allocation(),
            "used" => usage(),
            _ => None,
        };
    }
    if expr.contains("target:headroom_resource_allocation:ratio") {
        return allocation();
    }
    match label("kind") {
        "free" => free(),
        "" if expr.contains("free:effective") => free(),
        "" => None,
        family => total(family),
    }
}

/// Compares every series of the Capacity overview and GPU dashboards with the truth; returns the
/// mismatches, and how many series were compared per panel.
async fn compare_with_truth(
    apis: &Apis,
    truths: &BTreeMap<String, Truth>,
) -> (Vec<String>, BTreeMap<String, usize>) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let mut wrong = Vec::new();
    let mut compared = BTreeMap::new();
    for file in ["headroom-overview.json", "headroom-gpu.json"] {
        let d: Value = serde_json::from_str(
            &std::fs::read_to_string(prom::repo().join("dashboards").join(file))
                .unwrap_or_default(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            let title = format!("{file} \"{}\"", p["title"].as_str().unwrap_or_default());
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                let expr = t["expr"].as_str().unwrap_or_default();
                let result = apis
                    .query(&as_grafana_sends_it(expr))
                    .await
                    .unwrap_or_default();
                // Host tables: the hosts' sum per target and kind is the target's amount.
                let by_host = expr.contains("headroom_host_resource_");
                let mut sums: BTreeMap<(String, String), (f64, serde_json::Map<String, Value>)> =
                    BTreeMap::new();
                // The place labels a target's series of this query are grouped by: a series
                // without one of them is the group where it is empty (a host in no pool), not
                // the sum over it.
                let mut grouped: BTreeMap<String, std::collections::BTreeSet<String>> =
                    BTreeMap::new();
                for series in &result {
                    let m = &series["metric"];
                    let target = m["target"].as_str().unwrap_or("").to_string();
                    for k in PLACES {
                        if m.get(*k).is_some() {
                            grouped
                                .entry(target.clone())
                                .or_default()
                                .insert(k.to_string());
                        }
                    }
                }
                for series in &result {
                    let mut labels = series["metric"].as_object().cloned().unwrap_or_default();
                    let target = labels.get("target").and_then(Value::as_str).unwrap_or("");
                    for k in grouped.get(target).into_iter().flatten() {
                        labels.entry(k.clone()).or_insert_with(|| Value::from(""));
                    }
                    let got: f64 = series["value"][1]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(f64::NAN);
                    if by_host {
                        let key = (
                            labels
                                .get("target")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            labels
                                .get("kind")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                        );
                        let mut kept = serde_json::Map::new();
                        for k in ["target", "kind", "resource"] {
                            if let Some(v) = labels.get(k) {
                                kept.insert(k.to_string(), v.clone());
                            }
                        }
                        let e = sums.entry(key).or_insert((0.0, kept));
                        e.0 += got;
                        continue;
                    }
                    let Some(want) = expected(expr, &labels, truths) else {
                        continue;
                    };
                    *compared.entry(title.clone()).or_insert(0) += 1;
                    if !close(got, want) {
                        wrong.push(format!(
                            "{title}: {labels:?} is {got}, the simulators hold {want}"
                        ));
                    }
                }
                for ((_, _), (got, labels)) in sums {
                    let Some(want) = expected(expr, &labels, truths) else {
                        continue;
                    };
                    *compared.entry(title.clone()).or_insert(0) += 1;
                    if !close(got, want) {
                        wrong.push(format!("{title}: {labels:?} sums to {got} over the hosts, the simulators hold {want}"));
                    }
                }
            }
        }
    }
    (wrong, compared)
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

/// A dashboard query with every variable set to `value` and `$__rate_interval` as 1m. `$1` in
/// a `label_replace` is the regex's group, which Grafana leaves alone (no variable is named
/// with a digit), and so does this.
fn with_variables(expr: &str, value: &str) -> String {
    let expr = expr.replace("$__rate_interval", "1m");
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$'
            && chars
                .peek()
                .is_some_and(|d| d.is_ascii_alphabetic() || *d == '_')
        {
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

/// Every shipped dashboard, as (file name, JSON).
fn dashboards() -> Vec<(String, Value)> {
    prom::files_in("dashboards", ".json")
        .into_iter()
        .map(|f| {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, d)
        })
        .collect()
}

/// Every panel query and every template-variable query of every dashboard, as
/// (where, kind, text).
fn dashboard_queries() -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for (name, d) in dashboards() {
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

/// A legend as Grafana renders it for one series: each `{{label}}` replaced by its value, or
/// by nothing where the series has no such label.
fn render_legend(legend: &str, labels: &serde_json::Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = legend;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let tail = &rest[open + 2..];
        let Some(close) = tail.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = tail[..close].trim();
        out.push_str(labels.get(name).and_then(Value::as_str).unwrap_or(""));
        rest = &tail[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Runs every graph and gauge query of every dashboard and renders its legends: two series of
/// one query with the same legend cannot be told apart (a replica shown twice, a label missing
/// from the legend), and a separator with nothing on one side is a label the series lacks.
async fn legend_problems(apis: &Apis) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, d) in dashboards() {
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                let legend = t["legendFormat"].as_str().unwrap_or_default();
                if t["format"] == "table" || !legend.contains("{{") {
                    continue;
                }
                let at = format!("{name} \"{}\"", p["title"].as_str().unwrap_or_default());
                let expr = t["expr"].as_str().unwrap_or_default();
                let result = apis
                    .query(&as_grafana_sends_it(expr))
                    .await
                    .unwrap_or_default();
                let mut seen = BTreeMap::new();
                for series in &result {
                    let labels = series["metric"].as_object().cloned().unwrap_or_default();
                    let shown = render_legend(legend, &labels);
                    let dangling = shown.starts_with([' ', '/', '·'])
                        || shown.ends_with([' ', '/', '·'])
                        || shown.contains("  ")
                        || shown.contains("/ /")
                        || shown.contains("· ·")
                        || shown.contains("()");
                    if dangling {
                        problems.push(format!("{at}: legend {shown:?} from {labels:?}"));
                    }
                    if let Some(other) = seen.insert(shown.clone(), labels.clone()) {
                        problems.push(format!(
                            "{at}: two series show as {shown:?}: {other:?} and {labels:?}"
                        ));
                    }
                }
            }
        }
    }
    problems
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

    let (_demo, demo) = start_demo(&dir);
    let (exporter, esm, cec) = (demo.exporter, demo.esm, demo.cec);

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
                    .join("alertmanager/alertmanager.example.yml")
                    .display()
            ))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address="),
        "alertmanager",
        &dir.join("alertmanager.log"),
    );

    let prom_port = free_port();
    // The exporter is scraped twice under one job, as an HA pair of replicas would be (two
    // instances with the same targets): every panel must still show what the sites hold, once.
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
             scrape_configs:\n  - job_name: headroom\n    static_configs:\n\
             \x20     - {{targets: ['{exporter}'], labels: {{instance: replica-a}}}}\n\
             \x20     - {{targets: ['{exporter}'], labels: {{instance: replica-b}}}}\n",
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

    // Every Capacity overview and GPU panel shows what the simulated sites hold.
    // (Until every collector has polled and Prometheus has evaluated the rules, some panels
    // are partial: compare until they agree, then say what differs.)
    let truths = truths(&demo).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let (wrong, compared) = loop {
        let (wrong, compared) = compare_with_truth(&apis, &truths).await;
        // ESM's service capacity (its own free slots) takes the longest first poll.
        let slots = compared
            .get("headroom-overview.json \"Free slots per instance size\"")
            .copied()
            .unwrap_or(0);
        if (wrong.is_empty() && compared.len() >= 13 && slots >= 32) || Instant::now() > deadline {
            break (wrong, compared);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    assert!(
        wrong.is_empty(),
        "panels that differ from the truth:\n{}\n{compared:?}",
        wrong.join("\n")
    );
    // Each panel but the forecast was compared, most of them on every platform.
    assert!(compared.values().sum::<usize>() >= 100, "{compared:?}");
    // Free slots: CloudOS' flavors and both platforms' configured sizes per AZ or pool, and
    // ESM's own per-flavor count.
    for (panel, at_least) in [
        (
            "headroom-overview.json \"Free slots per instance size\"",
            32,
        ),
        (
            "headroom-overview.json \"Free slots after losing a host (N-1)\"",
            20,
        ),
    ] {
        let n = compared.get(panel).copied().unwrap_or(0);
        assert!(n >= at_least, "{panel}: {n} series compared: {compared:?}");
    }
    // N-1 margin of vCPU and memory per SCP pool and CloudOS AZ, from the simulators' hosts:
    // what the usable hosts may allocate, less the largest of them, less everything allocated.
    // A CloudOS VMware cluster's ESXi hosts (their series name the cluster, not the AZ) are a
    // group of their own, their allocation the VMs on each (Nova knows only the cluster's).
    let mut checked = 0;
    for target in ["scp-demo", "cloudos-demo"] {
        let truth = &truths[target];
        for (resource, of) in [
            (
                "vcpu",
                (|h: &headroom::sim::HostTruth| (h.vcpu_allocatable, h.vcpu_allocated))
                    as fn(&headroom::sim::HostTruth) -> (f64, f64),
            ),
            ("memory", |h| (h.memory_allocatable, h.memory_allocated)),
        ] {
            let result = apis
                .query(&format!(
                    r#"pool:headroom_n_minus_one:margin{{target="{target}",resource="{resource}"}}"#
                ))
                .await
                .unwrap_or_default();
            assert!(
                !result.is_empty(),
                "no N-1 margin of {resource} for {target}"
            );
            for series in &result {
                let az = series["metric"]["az"].as_str();
                let got: f64 = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                let hosts: Vec<&headroom::sim::HostTruth> = truth
                    .hosts
                    .iter()
                    .filter(|h| match az {
                        Some(az) => {
                            h.at.get("az").map(String::as_str) == Some(az)
                                && !h.host.starts_with("esx-")
                        }
                        None => h.host.starts_with("esx-"),
                    })
                    .collect();
                assert!(!hosts.is_empty(), "{target} {az:?}: no hosts");
                let usable = hosts.iter().filter(|h| h.usable).map(|h| of(h).0);
                let want = usable.clone().sum::<f64>()
                    - usable.fold(0.0, f64::max)
                    - hosts.iter().map(|h| of(h).1).sum::<f64>();
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "N-1 margin of {resource} in {target} {az:?}: {got}, the simulator's hosts give {want}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        (2 + 3) * 2 * 2,
        "vCPU and memory in both SCP pools, both CloudOS AZs and its VMware cluster, from each of the two replicas"
    );
    // Quota oversubscription: the tenants' limits (an unlimited one adds nothing) over what may
    // be allocated, per target, and per pool where quotas are per pool (SCP).
    let mut checked = 0;
    for (target, rule, place) in [
        ("scp-demo", "target", None),
        ("cloudos-demo", "target", None),
        ("scp-demo", "pool", Some("pool-1")),
        ("scp-demo", "pool", Some("pool-2")),
    ] {
        let truth = &truths[target];
        for resource in ["vcpu", "memory"] {
            let at: Vec<(&str, &str)> = place.map(|p| vec![("az", p)]).unwrap_or_default();
            let promised: f64 = truth
                .quota_limits
                .iter()
                .filter(|f| f.resource == resource)
                .filter(|f| {
                    at.iter()
                        .all(|(k, v)| f.at.get(*k).map(String::as_str) == Some(*v))
                })
                .map(|f| f.value)
                .sum();
            let want = promised / truth.total("allocatable", resource, &at);
            let selector = match place {
                Some(p) => format!(r#"target="{target}",resource="{resource}",az="{p}""#),
                None => format!(r#"target="{target}",resource="{resource}""#),
            };
            let result = apis
                .query(&format!(
                    "{rule}:headroom_quota_oversubscription:ratio{{{selector}}}"
                ))
                .await
                .unwrap_or_default();
            assert!(!result.is_empty(), "{rule} oversubscription of {selector}");
            for series in &result {
                let got: f64 = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                assert!(
                    (got - want).abs() <= 1e-9 * want.max(1.0),
                    "{rule} oversubscription of {selector}: {got}, the simulator's quotas give {want}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16, "4 places x 2 resources x 2 replicas");
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
        alert["annotations"]["runbook_url"],
        "file:///usr/share/doc/headroom/rules/README.md#headroomcapacityhigh"
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

    // Every legend names its series uniquely and reads cleanly, replicas included.
    let problems = legend_problems(&apis).await;
    assert!(problems.is_empty(), "legends:\n{}", problems.join("\n"));

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
