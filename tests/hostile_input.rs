//! Property tests of every platform's response parsing: each simulator serves its data with a
//! tenth of the values made hostile on every answer (numbers as strings, nulls, negative, huge
//! and non-numeric values, keys missing and added, list items repeated or dropped, values buried
//! 100 lists deep; `sim::mutate`), with a new seed per answer. Over many polls no collector
//! panics (reason `internal`), and nothing that cannot be capacity reaches the exposition.

mod common;

use std::time::{Duration, Instant};

use common::*;
use headroom::collect::ErrorReason;

/// Families whose values are amounts or ratios about a resource.
const AMOUNTS: &[&str] = &[
    "headroom_resource_",
    "headroom_host_resource_",
    "headroom_cluster_resource_",
    "headroom_service_",
    "headroom_tenant_resource_",
    "headroom_instance_resource_",
];

/// Polls every task `rounds` times; returns how many polls failed and with which reasons.
async fn poll_rounds(
    tasks: &[headroom::schedule::PollTask],
    rounds: usize,
) -> std::collections::BTreeMap<String, usize> {
    let mut reasons = std::collections::BTreeMap::new();
    for _ in 0..rounds {
        for t in tasks {
            let outcome = t.poll_once().await;
            let reason = match &outcome {
                Ok(_) => "ok".to_string(),
                Err(e) => e.reason.as_str().to_string(),
            };
            if let Err(e) = &outcome {
                assert_ne!(
                    e.reason,
                    ErrorReason::Internal,
                    "{} {}: {e}",
                    t.target,
                    t.collector_name
                );
            }
            *reasons.entry(reason).or_insert(0) += 1;
        }
    }
    reasons
}

/// Every exported amount is a finite number; capacity, allocation and use are never negative.
fn assert_exposition_is_sane(body: &str) -> usize {
    let mut checked = 0;
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or("");
        if !AMOUNTS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        assert!(v.is_finite(), "{line}");
        let signed = name.ends_with("_free") || name.ends_with("_discrepancy");
        assert!(signed || v >= 0.0, "{line}");
        assert!(v.abs() <= 2f64.powi(70), "{line}");
        checked += 1;
    }
    checked
}

const MUTATE: &str = r#"{"mutate_rate": 1.0}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_never_panic_a_collector_nor_reach_the_exposition() {
    let started = Instant::now();
    let mut seen = std::collections::BTreeMap::new();

    // Huawei ESM (its simulator's limits raised, as for SCP below).
    let (esm, _) = esm_sim(headroom::sim::huawei_esm::EsmSimConfig {
        hosts: 6,
        capacity_limit_per_minute: 100_000,
        metric_limit_per_second: 100_000,
        ..Default::default()
    })
    .await;
    set_faults(esm, MUTATE).await;
    let cfg = config(
        "  interval: 300s",
        &[esm_target(
            "esm",
            esm,
            "demo-password",
            "    budgets: {capacity_api: 6000, metric_api: 6000, iam: 6000}\n",
        )],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let t = Instant::now();
    seen.insert("huawei_esm", poll_rounds(&tasks, 20).await);
    eprintln!("huawei_esm: {:?}", t.elapsed());
    assert_exposition_is_sane(&render(&store, &metrics));

    // Sangfor SCP (its simulator's limit raised: the test spends far more than a site would).
    let scp = scp_sim(headroom::sim::sangfor_scp::ScpSimConfig {
        get_limit: 100_000,
        write_limit: 100_000,
        public_key_limit: 100_000,
        ..Default::default()
    })
    .await;
    scp_post(&scp, "/sim/faults", MUTATE).await;
    let cfg = config(
        "  interval: 300s",
        &[scp_target(
            "scp",
            &scp,
            None,
            &format!("{}    budgets: {{get: 6000}}\n", common::slots::SIZES_YAML),
        )],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let t = Instant::now();
    seen.insert("sangfor_scp", poll_rounds(&tasks, 12).await);
    eprintln!("sangfor_scp: {:?}", t.elapsed());
    assert_exposition_is_sane(&render(&store, &metrics));

    // H3C CloudOS.
    let (cos, _) = cloudos_sim(Default::default()).await;
    set_faults(cos, MUTATE).await;
    let cfg = config(
        "  interval: 300s",
        &[cloudos_target(
            "cos",
            cos,
            "demo-password",
            &format!(
                "    budgets: {{api: 6000}}\n    cloudos: {{cpu_allocation_ratio: 4.0}}\n{}",
                common::slots::SIZES_YAML
            ),
        )],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let t = Instant::now();
    seen.insert("h3c_cloudos", poll_rounds(&tasks, 20).await);
    eprintln!("h3c_cloudos: {:?}", t.elapsed());
    assert_exposition_is_sane(&render(&store, &metrics));

    // CECSTACK.
    let (cec, _) = cec_sim(Default::default()).await;
    set_faults(cec, MUTATE).await;
    let cfg = config(
        "  interval: 300s",
        &[cec_target(
            "cec",
            cec,
            "region0",
            "      headers: {Authorization: \"Bearer demo-cec-token\"}\n",
            "    budgets: {api: 6000}\n",
        )],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let t = Instant::now();
    seen.insert("cecstack", poll_rounds(&tasks, 30).await);
    eprintln!("cecstack: {:?}", t.elapsed());
    assert_exposition_is_sane(&render(&store, &metrics));

    // The mutations reached the parsers: some polls failed on them, and some survived them.
    for (platform, reasons) in &seen {
        let ok = reasons.get("ok").copied().unwrap_or(0);
        let total: usize = reasons.values().sum();
        assert!(total > 0 && ok < total, "{platform}: {reasons:?}");
    }
    eprintln!("outcomes per platform: {seen:?} in {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "keep it bounded"
    );
}

/// The config loader on hostile YAML: random bytes, deep nesting and aliases never panic and
/// always end in a config or a list of problems.
#[test]
fn hostile_config_text_never_panics_the_loader() {
    let mut rng = fastrand::Rng::with_seed(20261202);
    let base = "server: {listen: \"127.0.0.1:0\"}\ndefaults: {interval: 5m}\ntargets:\n  - name: a\n    platform: huawei_esm\n    endpoint: https://esm.example\n    auth: {token_url: https://iam.example/v3/auth/tokens, username: r, password: x, domain: d, project: p, apig_appcode: c}\n    collectors: {physical_capacity: {interval: 1m}}\n";
    let alphabet = b"{}[]:,-&*!|>'\"\n #%@`?abc019.";
    for round in 0..2000 {
        let mut text = base.as_bytes().to_vec();
        for _ in 0..rng.usize(1..8) {
            let at = rng.usize(..text.len());
            match rng.u8(..3) {
                0 => text[at] = alphabet[rng.usize(..alphabet.len())],
                1 => {
                    text.remove(at);
                }
                _ => text.insert(at, alphabet[rng.usize(..alphabet.len())]),
            }
        }
        let text = String::from_utf8_lossy(&text).to_string();
        let outcome =
            std::panic::catch_unwind(|| headroom::config::parse(&text, &|_| None).is_ok());
        assert!(outcome.is_ok(), "round {round} panicked on:\n{text}");
    }
}
