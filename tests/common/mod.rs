//! Helpers shared by the integration tests: a simulator on an ephemeral port and configs for it.

#![allow(dead_code)]

pub mod demo;
pub mod json_schema;
pub mod prom;
pub mod slots;

use std::net::SocketAddr;
use std::sync::Arc;

use headroom::sim::huawei_esm::{EsmSim, EsmSimConfig};

pub async fn esm_sim(cfg: EsmSimConfig) -> (SocketAddr, Arc<EsmSim>) {
    esm_sim_tls(cfg, None).await
}

/// The simulator over HTTPS when `tls` is given.
pub async fn esm_sim_tls(
    cfg: EsmSimConfig,
    tls: Option<&headroom::sim::TlsIdentity>,
) -> (SocketAddr, Arc<EsmSim>) {
    let (addr, sim, _handle) = headroom::cli::start_esm_simulator(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        tls,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (addr, sim)
}

/// One ESM target against `sim`; `extra` is appended inside the target (YAML, 4-space indent).
pub fn esm_target(name: &str, sim: SocketAddr, password: &str, extra: &str) -> String {
    format!(
        r#"  - name: {name}
    platform: huawei_esm
    endpoint: http://{sim}
    auth:
      token_url: http://{sim}/v3/auth/tokens
      username: capacity-reader
      password: {password}
      domain: demo-domain
      project: demo-project
      apig_appcode: demo-appcode
{extra}
"#
    )
}

pub fn config(defaults: &str, targets: &[String]) -> headroom::config::Config {
    let text = format!(
        "server:\n  listen: 127.0.0.1:0\ndefaults:\n{defaults}\ntargets:\n{}",
        targets.join("")
    );
    headroom::config::parse(&text, &|_| None).unwrap_or_else(|p| panic!("{p}\n---\n{text}"))
}

/// An HTTP client for the tests (the crate builds reqwest without a default TLS provider).
pub fn http() -> reqwest::Client {
    headroom::http::install_crypto_provider();
    reqwest::Client::new()
}

/// The body of a GET, or a panic naming the URL.
pub async fn get_text(url: &str) -> String {
    let resp = http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    resp.text().await.unwrap_or_default()
}

pub async fn sim_stats(sim: SocketAddr) -> serde_json::Value {
    let body = get_text(&format!("http://{sim}/sim/stats")).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

pub async fn set_faults(sim: SocketAddr, json: &str) {
    let r = http()
        .post(format!("http://{sim}/sim/faults"))
        .header("content-type", "application/json")
        .body(json.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status().is_success(), "{}", r.status());
}

/// Value of the one series whose line starts with `prefix` (name and labels, as rendered).
pub fn series_value(exposition: &str, prefix: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Runs promtool check metrics on an exposition; panics with its output on problems.
pub fn promtool_check_metrics(body: &[u8]) {
    use std::io::Write as _;
    let promtool = prom::tool("promtool", "PROMTOOL");
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (run ./scripts/test.sh, which installs it): {e}",
                promtool.display()
            )
        });
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running SCP simulator (HTTPS) and the CA file a target pins it with.
pub struct Scp {
    pub addr: SocketAddr,
    pub sim: Arc<headroom::sim::sangfor_scp::ScpSim>,
    pub ca_file: std::path::PathBuf,
}

impl Drop for Scp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

pub async fn scp_sim(cfg: headroom::sim::sangfor_scp::ScpSimConfig) -> Scp {
    let identity = headroom::sim::TlsIdentity::generate().unwrap_or_else(|e| panic!("{e}"));
    let (addr, sim, _handle) = headroom::cli::start_scp_simulator(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        &identity,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ca_file = std::env::temp_dir().join(format!(
        "headroom-test-scp-{}-{}.pem",
        std::process::id(),
        addr.port()
    ));
    std::fs::write(&ca_file, &identity.ca_pem).unwrap_or_else(|e| panic!("{e}"));
    Scp { addr, sim, ca_file }
}

/// One SCP target against the simulator: AK/SK by default; `auth` replaces the auth block
/// (YAML, 6-space indent), `extra` is appended inside the target (4-space indent).
pub fn scp_target(name: &str, scp: &Scp, auth: Option<&str>, extra: &str) -> String {
    let d = headroom::sim::sangfor_scp::ScpSimConfig::default();
    let auth = auth.map(str::to_string).unwrap_or_else(|| {
        format!(
            "      access_key: {}\n      secret_key: {}\n",
            d.access_key, d.secret_key
        )
    });
    format!(
        "  - name: {name}\n    platform: sangfor_scp\n    endpoint: https://{}\n    auth:\n{auth}    tls:\n      ca_file: {}\n{extra}\n",
        scp.addr,
        scp.ca_file.display()
    )
}

/// An HTTPS client that trusts any certificate (only for the simulators' control endpoints).
pub fn https_insecure() -> reqwest::Client {
    headroom::http::install_crypto_provider();
    reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub async fn scp_stats(scp: &Scp) -> serde_json::Value {
    let body = https_insecure()
        .get(format!("https://{}/sim/stats", scp.addr))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

pub async fn scp_post(scp: &Scp, path: &str, json: &str) {
    let r = https_insecure()
        .post(format!("https://{}{path}", scp.addr))
        .header("content-type", "application/json")
        .body(json.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

/// Every series of an exposition uses only a catalogued family and the labels it lists.
pub fn assert_labels_in_catalogue(body: &str) {
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line
            .split_once('{')
            .unwrap_or((line.split(' ').next().unwrap_or(""), ""));
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        let def = headroom::catalog::by_name(name)
            .or_else(|| headroom::catalog::by_name(family))
            .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
        let labels = rest.split_once('}').map(|(l, _)| l).unwrap_or("");
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let key = pair.split('=').next().unwrap_or("");
            assert!(
                key == "le" || def.labels.contains(&key) || def.optional_labels.contains(&key),
                "{name}: label `{key}` is not in the catalogue: {line}"
            );
        }
    }
}

/// Every injected fault, after a good poll: the poll fails with the fault's reason, the last good
/// data (`line`) is still served with the collector marked down, and it is dropped past `max_age`
/// (the task's interval must be 30 s: max_age 90 s). `set_faults` switches the simulator's faults.
pub async fn assert_each_fault_keeps_then_drops<F, Fut>(
    task: &headroom::schedule::PollTask,
    store: &headroom::store::Store,
    metrics: &headroom::telemetry::SelfMetrics,
    line: &str,
    set_faults: F,
) where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use headroom::collect::ErrorReason;
    use std::time::{Duration, SystemTime};
    let up = format!(
        r#"headroom_collector_up{{target="{}",collector="{}",platform="{}"}}"#,
        task.target, task.collector_name, task.platform
    );
    for (fault, reason) in [
        (r#"{"error_rate": 1.0}"#, ErrorReason::Http),
        (r#"{"throttle_rate": 1.0}"#, ErrorReason::Throttled),
        (r#"{"malformed_rate": 1.0}"#, ErrorReason::Parse),
        (r#"{"truncate_rate": 1.0}"#, ErrorReason::Parse),
        (r#"{"latency_ms": 1500}"#, ErrorReason::Timeout),
    ] {
        set_faults("{}").await;
        task.poll_once()
            .await
            .unwrap_or_else(|e| panic!("good poll before {fault}: {e}"));
        set_faults(fault).await;
        let err = task
            .poll_once()
            .await
            .err()
            .unwrap_or_else(|| panic!("{fault}: the poll succeeded"));
        assert_eq!(err.reason, reason, "{fault}: {}", err.message);
        let now = SystemTime::now();
        let body = String::from_utf8(store.render(None, metrics, now)).unwrap_or_default();
        assert!(
            body.contains(line),
            "{fault}: the last good data must still be served"
        );
        assert_eq!(series_value(&body, &up), Some(0.0), "{fault}: {up}");
        let later = String::from_utf8(store.render(None, metrics, now + Duration::from_secs(91)))
            .unwrap_or_default();
        assert!(
            !later.contains(line),
            "{fault}: data older than max_age must be dropped"
        );
    }
    let errors = |r: &str| {
        headroom::telemetry::SelfMetrics::counter_value(
            &metrics.collector_errors,
            &[&task.target, task.collector_name, r],
        )
    };
    assert_eq!(
        (
            errors("http"),
            errors("throttled"),
            errors("parse"),
            errors("timeout")
        ),
        (1, 1, 2, 1)
    );
}

pub async fn cloudos_sim(
    cfg: headroom::sim::h3c_cloudos::CloudosSimConfig,
) -> (SocketAddr, Arc<headroom::sim::h3c_cloudos::CloudosSim>) {
    let (addr, sim, _handle) = headroom::cli::start_cloudos_simulator(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (addr, sim)
}

/// One CloudOS target against the simulator; `extra` is appended inside the target.
pub fn cloudos_target(name: &str, sim: SocketAddr, password: &str, extra: &str) -> String {
    let d = headroom::sim::h3c_cloudos::CloudosSimConfig::default();
    format!(
        "  - name: {name}\n    platform: h3c_cloudos\n    endpoint: http://{sim}\n    auth:\n      username: {}\n      password: {password}\n      project_id: {}\n{extra}\n",
        d.username, d.project_id
    )
}

/// The value of the one series of `family` with exactly these labels (besides platform and
/// target), `None` if there is none; two such series would be a duplicate: that panics.
pub fn series(
    batch: &headroom::collect::Batch,
    family: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let mut want: Vec<(&str, &str)> = labels.to_vec();
    want.sort();
    let hits: Vec<f64> = batch
        .samples()
        .iter()
        .filter(|s| s.def.name == family)
        .filter(|s| {
            let mut got: Vec<(&str, &str)> =
                s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            got.sort();
            got == want
        })
        .map(|s| s.value)
        .collect();
    assert!(
        hits.len() <= 1,
        "{family}{labels:?}: duplicate series {hits:?}"
    );
    hits.first().copied()
}

/// Asserts the one series of `family` with exactly these labels has the value `want`.
pub fn assert_series(
    batch: &headroom::collect::Batch,
    family: &str,
    labels: &[(&str, &str)],
    want: f64,
) {
    let got = series(batch, family, labels).unwrap_or_else(|| {
        let have: Vec<String> = batch
            .samples()
            .iter()
            .filter(|s| s.def.name == family)
            .map(|s| format!("{:?}", s.labels))
            .collect();
        panic!("no {family}{labels:?}; have:\n{}", have.join("\n"))
    });
    assert!(
        (got - want).abs() <= want.abs() * 1e-12,
        "{family}{labels:?}: got {got}, want {want}"
    );
}

pub async fn cec_sim(
    cfg: headroom::sim::cecstack::CecSimConfig,
) -> (SocketAddr, Arc<headroom::sim::cecstack::CecSim>) {
    let (addr, sim, _handle) = headroom::cli::start_cecstack_simulator(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    (addr, sim)
}

/// One CECSTACK target against the simulator; `auth` is the auth block (6-space indent),
/// `extra` is appended inside the target.
pub fn cec_target(name: &str, sim: SocketAddr, region: &str, auth: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    platform: cecstack\n    endpoint: http://{sim}\n    region_id: {region}\n    auth:\n{auth}{extra}\n"
    )
}

/// Poll tasks of every enabled collector of a config, with their store and self-metrics.
pub fn one_shot(
    cfg: &headroom::config::Config,
) -> (
    Arc<headroom::store::Store>,
    Arc<headroom::telemetry::SelfMetrics>,
    Vec<headroom::schedule::PollTask>,
) {
    let store = Arc::new(headroom::store::Store::new());
    let metrics = Arc::new(headroom::telemetry::SelfMetrics::new());
    let t =
        headroom::schedule::one_shot_tasks(cfg, &store, &metrics).unwrap_or_else(|e| panic!("{e}"));
    (store, metrics, t)
}

/// A `collectors:` block enabling `chosen` of `all` (YAML, 4-space indent).
pub fn enable_only(all: &[&str], chosen: &[&str]) -> String {
    let mut s = String::from("    collectors:\n");
    for c in all {
        s.push_str(&format!("      {c}: {{enabled: {}}}\n", chosen.contains(c)));
    }
    s
}

/// The exposition of a store now.
pub fn render(
    store: &headroom::store::Store,
    metrics: &headroom::telemetry::SelfMetrics,
) -> String {
    String::from_utf8(store.render(None, metrics, std::time::SystemTime::now())).unwrap_or_default()
}

/// Values of one family in an exposition, as (labels without platform/target, value).
pub fn family_series(
    body: &str,
    family: &str,
) -> Vec<(std::collections::BTreeMap<String, String>, f64)> {
    body.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter_map(|l| {
            let (labels, value) = l[family.len() + 1..].rsplit_once("} ")?;
            let mut map = std::collections::BTreeMap::new();
            for pair in labels.split("\",") {
                let (k, v) = pair.split_once("=\"")?;
                map.insert(k.to_string(), v.trim_end_matches('"').to_string());
            }
            map.remove("platform");
            map.remove("target");
            Some((map, value.parse().ok()?))
        })
        .collect()
}

/// The sum of the series of `family` whose labels include all of `want`. As in a Prometheus
/// matcher, `("pool", "")` wants the label absent (an empty label is no label).
pub fn sum_where(body: &str, family: &str, want: &[(&str, &str)]) -> f64 {
    family_series(body, family)
        .iter()
        .filter(|(l, _)| {
            want.iter()
                .all(|(k, v)| l.get(*k).map(String::as_str).unwrap_or("") == *v)
        })
        .map(|(_, v)| v)
        .sum()
}

/// The ground truth a simulator serves at `GET /sim/truth` (`base` is its URL).
pub async fn sim_truth(client: &reqwest::Client, base: &str) -> headroom::sim::Truth {
    let url = format!("{base}/sim/truth");
    let body = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_default();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// The pool-view families a truth figure's `family` names.
pub const POOL_FAMILIES: &[&str] = &[
    "capacity",
    "allocatable",
    "allocated",
    "used",
    "free",
    "reserved",
    "unusable",
];

/// Holds the pool view of one target's exposition to a simulator's truth, and returns how many
/// figures it compared:
/// - every figure equals the sum of the series of its family and resource whose labels include
///   its place (so a second source or a parent beside its children shows as a wrong sum);
/// - per (family, resource), the target's total equals the truth's total (so a series outside
///   every figure's place shows too);
/// - every (family, resource) the target exports in the pool view has a truth, except those in
///   `untruthed` (each with the reason the simulator cannot know it).
pub fn assert_pool_view_is_the_truth(
    body: &str,
    truth: &headroom::sim::Truth,
    untruthed: &[(&str, &str, &str)],
) -> usize {
    use std::collections::BTreeSet;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    let mut compared = 0;
    for f in &truth.figures {
        let family = format!("headroom_resource_{}", f.family);
        let mut want: Vec<(&str, &str)> = vec![("resource", f.resource.as_str())];
        want.extend(f.at.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let got = sum_where(body, &family, &want);
        assert!(
            close(got, f.value),
            "{family}{{resource=\"{}\"}} at {:?}: exported {got}, the simulator holds {}",
            f.resource,
            f.at,
            f.value
        );
        compared += 1;
    }
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for family in POOL_FAMILIES {
        for (labels, _) in family_series(body, &format!("headroom_resource_{family}")) {
            if let Some(r) = labels.get("resource") {
                pairs.insert((family.to_string(), r.clone()));
            }
        }
    }
    for f in &truth.figures {
        pairs.insert((f.family.clone(), f.resource.clone()));
    }
    for (family, resource) in pairs {
        if untruthed
            .iter()
            .any(|(f, r, _)| *f == family && *r == resource)
        {
            continue;
        }
        let name = format!("headroom_resource_{family}");
        let exported = sum_where(body, &name, &[("resource", &resource)]);
        let held: f64 = truth
            .figures
            .iter()
            .filter(|f| f.family == family && f.resource == resource)
            .map(|f| f.value)
            .sum();
        let known = truth
            .figures
            .iter()
            .any(|f| f.family == family && f.resource == resource);
        assert!(
            known,
            "{name}{{resource=\"{resource}\"}} is exported but the simulator has no truth for it"
        );
        assert!(
            close(exported, held),
            "{name}{{resource=\"{resource}\"}}: the target sums to {exported}, the simulator holds {held}"
        );
    }
    compared
}

/// Polls every enabled collector of a config once (each must succeed) and returns the
/// exposition.
pub async fn poll_and_render(cfg: &headroom::config::Config) -> String {
    let (store, metrics, tasks) = one_shot(cfg);
    for t in &tasks {
        t.poll_once()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
    }
    render(&store, &metrics)
}

/// Sends a signal (`-HUP`, `-TERM`) to a process with `kill`.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid} failed");
}

/// Runs a command to its end; panics with its output unless it succeeds; returns stdout and
/// stderr together.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} (./scripts/test.sh installs the tools): {e}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// A `headroom run` process: its pid, the address it logged, and its log so far. Killed when
/// dropped, unless it has exited.
pub struct RunningDaemon {
    pub child: std::process::Child,
    pub pid: u32,
    pub addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RunningDaemon {
    /// Starts `headroom run` with `args` and waits for the address it serves on.
    pub fn start(args: &[&std::ffi::OsStr]) -> RunningDaemon {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .arg("run")
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id();
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let writer = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                // The bound address is in the start-up log line.
                if let Some(addr) = line.split("address=").nth(1) {
                    let _ = tx.send(addr.split_whitespace().next().unwrap_or("").to_string());
                }
                if let Ok(mut l) = writer.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no address logged: {e}"));
        RunningDaemon {
            child,
            pid,
            addr,
            log,
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
