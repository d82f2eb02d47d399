//! Helpers shared by the integration tests: a simulator on an ephemeral port and configs for it.

#![allow(dead_code)]

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
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| {
        if std::path::Path::new("/opt/headroom-prometheus/usr/bin/promtool").exists() {
            "/opt/headroom-prometheus/usr/bin/promtool".into()
        } else {
            "promtool".into()
        }
    });
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {promtool} (run ./scripts/test.sh, which installs it): {e}")
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
