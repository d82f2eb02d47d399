//! The demo (`headroom demo`: every simulator and the exporter) as a test runs it, and the
//! ground truth of each of its targets.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use headroom::sim::Truth;

/// A child process killed when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo's addresses, read from what it prints.
pub struct Demo {
    pub exporter: SocketAddr,
    pub esm: SocketAddr,
    pub scp: SocketAddr,
    pub cloudos: SocketAddr,
    pub cec: SocketAddr,
}

/// Starts `headroom demo` on an ephemeral port, its ESM site not growing (so the truth does not
/// move between a scrape and the comparison).
pub fn start_demo(dir: &Path) -> (Running, Demo) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "30s",
            "--growth-per-hour",
            "0",
        ])
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
    let (mut esm, mut scp, mut cloudos, mut cec, mut metrics) = (None, None, None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        esm = esm.or_else(|| addr_after(&line, "Huawei ESM simulator:"));
        scp = scp.or_else(|| addr_after(&line, "Sangfor SCP simulator:"));
        cloudos = cloudos.or_else(|| addr_after(&line, "H3C CloudOS simulator:"));
        cec = cec.or_else(|| addr_after(&line, "CECSTACK simulator:"));
        metrics = metrics.or_else(|| addr_after(&line, "metrics:"));
        if metrics.is_some() {
            break;
        }
    }
    // Keep reading so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    match (esm, scp, cloudos, cec, metrics) {
        (Some(esm), Some(scp), Some(cloudos), Some(cec), Some(exporter)) => (
            running,
            Demo {
                exporter,
                esm,
                scp,
                cloudos,
                cec,
            },
        ),
        _ => panic!("the demo did not print its addresses"),
    }
}

/// Each demo target's simulator truth.
pub async fn truths(demo: &Demo) -> BTreeMap<String, Truth> {
    headroom::http::install_crypto_provider();
    let http = reqwest::Client::new();
    // The SCP simulator serves HTTPS with a certificate made at start.
    let https = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = BTreeMap::new();
    for (target, client, base) in [
        ("esm-demo", &http, format!("http://{}", demo.esm)),
        ("scp-demo", &https, format!("https://{}", demo.scp)),
        ("cloudos-demo", &http, format!("http://{}", demo.cloudos)),
        ("cec-demo", &http, format!("http://{}", demo.cec)),
    ] {
        out.insert(target.to_string(), super::sim_truth(client, &base).await);
    }
    out
}
