//! TLS to the platform: verification is on by default, a target's `ca_file` is trusted, and
//! `insecure_skip_verify` turns verification off only when asked for (and says so).

mod common;

use std::sync::Arc;

use common::*;
use headroom::collect::ErrorReason;
use headroom::schedule::one_shot_tasks;
use headroom::sim::TlsIdentity;
use headroom::store::Store;
use headroom::telemetry::SelfMetrics;

fn https_target(sim: std::net::SocketAddr, tls: &str) -> String {
    let collectors = "    collectors:\n      physical_capacity: {enabled: false}\n      service_capacity: {enabled: false}\n      cloud_service_alarms: {enabled: false}\n      hardware_alarms: {enabled: false}\n      host_metrics: {enabled: false}\n      tenant_resources: {enabled: false}\n";
    esm_target("esm", sim, "demo-password", &format!("{tls}{collectors}"))
        .replace("http://", "https://")
}

async fn poll(
    cfg: &headroom::config::Config,
) -> (
    Result<usize, headroom::collect::PollError>,
    Arc<SelfMetrics>,
) {
    let store = Arc::new(Store::new());
    let metrics = Arc::new(SelfMetrics::new());
    let tasks = one_shot_tasks(cfg, &store, &metrics).unwrap_or_else(|e| panic!("{e}"));
    (tasks[0].poll_once().await, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_is_on_a_ca_file_is_trusted_and_skipping_is_explicit() {
    let identity = TlsIdentity::generate().unwrap_or_else(|e| panic!("{e}"));
    let (sim, _) = esm_sim_tls(Default::default(), Some(&identity)).await;
    let dir = std::env::temp_dir().join(format!("headroom-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &identity.ca_pem).unwrap_or_else(|e| panic!("{e}"));

    // Default: the simulator's certificate is not trusted.
    let cfg = config("  interval: 60s", &[https_target(sim, "")]);
    let (result, _) = poll(&cfg).await;
    let err = result
        .err()
        .unwrap_or_else(|| panic!("an untrusted certificate was accepted"));
    // A reason of its own (it once was `http`, told apart by the message's words), and not
    // retried: the same certificate is rejected again.
    assert_eq!(err.reason, ErrorReason::Tls, "{}", err.message);
    assert!(
        err.message.contains("UnknownIssuer") && err.message.contains("tls.ca_file"),
        "{}",
        err.message
    );

    // The CA file makes it trusted.
    let cfg = config(
        "  interval: 60s",
        &[https_target(
            sim,
            &format!("    tls: {{ca_file: {}}}\n", ca.display()),
        )],
    );
    let (result, metrics) = poll(&cfg).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(metrics.tls_insecure.with_label_values(&["esm"]).get(), 0);

    // Skipping verification works only when asked, is warned about, and shows in a metric.
    let cfg = config(
        "  interval: 60s",
        &[https_target(sim, "    tls: {insecure_skip_verify: true}\n")],
    );
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("TLS certificate verification is OFF")),
        "{:?}",
        cfg.warnings
    );
    let (result, metrics) = poll(&cfg).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(metrics.tls_insecure.with_label_values(&["esm"]).get(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
