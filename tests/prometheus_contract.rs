//! What Prometheus needs of an exporter, over HTTP from the daemon: every counter at 0 before its
//! first event, the `process_*` families, a full `headroom_build_info`, gzip that honours
//! q-values and says `Vary`, and `/sd` with an `instance` per target at the configured address.

mod common;

use std::time::Duration;

use common::*;
use headroom::sim::huawei_esm::EsmSimConfig;

async fn daemon_with(yaml_server: &str, sim: std::net::SocketAddr) -> headroom::cli::Daemon {
    let text = format!(
        "server:\n{yaml_server}defaults:\n  interval: 1h\ntargets:\n{}",
        esm_target("esm", sim, "demo-password", "")
    );
    let cfg = headroom::config::parse(&text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    headroom::cli::Daemon::start(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_what_prometheus_expects() {
    // A simulator that answers nothing for a while: the counters must exist before any event.
    let (sim, _) = esm_sim(EsmSimConfig {
        faults: headroom::sim::Faults {
            latency_ms: 5_000,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let daemon = daemon_with(
        "  listen: 127.0.0.1:0\n  external_address: headroom-1.example.internal:9740\n",
        sim,
    )
    .await;
    let base = format!("http://{}", daemon.addr);
    let body = get_text(&format!("{base}/metrics")).await;
    // The value of the one series of `family` whose labels include `want`; absent: `None`.
    let value = |family: &str, want: &[(&str, &str)]| -> Option<f64> {
        let hits: Vec<f64> = family_series(&body, family)
            .into_iter()
            .filter(|(l, _)| {
                want.iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| v)
            .collect();
        (hits.len() == 1).then(|| hits[0])
    };
    for reason in ["timeout", "auth", "throttled", "http", "parse", "budget"] {
        assert_eq!(
            value(
                "headroom_collector_errors_total",
                &[("collector", "physical_capacity"), ("reason", reason)]
            ),
            Some(0.0),
            "errors_total{{reason={reason}}} exists at 0 before any poll"
        );
    }
    assert_eq!(
        value(
            "headroom_collector_skipped_total",
            &[("collector", "devices")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value("headroom_api_throttled_total", &[("scope", "capacity_api")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            "headroom_api_budget_wait_seconds_total",
            &[("scope", "capacity_api")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            "headroom_auth_token_refreshes_total",
            &[("result", "failure")]
        ),
        Some(0.0)
    );
    // process_* and the build.
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
        "process_max_fds",
    ] {
        let v = family_series(&body, family)
            .first()
            .map(|(_, v)| *v)
            .or_else(|| series_value(&body, &format!("{family} ")))
            .unwrap_or_else(|| panic!("{family} missing"));
        assert!(v >= 0.0, "{family} {v}");
    }
    assert!(series_value(&body, "process_resident_memory_bytes ").unwrap_or(0.0) > 1e6);
    let build = body
        .lines()
        .find(|l| l.starts_with("headroom_build_info{"))
        .unwrap_or_else(|| panic!("no build info"));
    for label in ["version=", "revision=", "rustc=", "os=\"linux\"", "arch="] {
        assert!(build.contains(label), "{build}");
    }
    promtool_check_metrics(body.as_bytes());

    // gzip: q-values decide, and the answer says it varies with Accept-Encoding.
    let client = http();
    for (accept, gzipped) in [
        ("gzip", true),
        ("gzip;q=0", false),
        ("identity", false),
        ("*", true),
    ] {
        let r = client
            .get(format!("{base}/metrics"))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let enc = r
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(
            enc.as_deref() == Some("gzip"),
            gzipped,
            "Accept-Encoding: {accept}"
        );
        assert_eq!(
            r.headers().get("vary").and_then(|v| v.to_str().ok()),
            Some("Accept-Encoding")
        );
    }

    // /sd: the configured address, whatever Host the request names, and an instance per target.
    let sd: serde_json::Value = serde_json::from_str(
        &client
            .get(format!("{base}/sd"))
            .header("host", "evil.example:666")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(
        sd[0]["targets"][0], "headroom-1.example.internal:9740",
        "{sd}"
    );
    assert_eq!(
        sd[0]["labels"]["instance"], "headroom-1.example.internal:9740/esm",
        "{sd}"
    );
    assert_eq!(sd[0]["labels"]["__param_target"], "esm", "{sd}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    daemon.stop().await;
}

#[test]
fn version_names_the_revision_and_compiler() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "headroom {} (revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains(", rustc "), "{text}");
}
