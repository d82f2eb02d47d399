//! CECSTACK end to end over real HTTP against the simulator: a full poll whose sums equal the
//! simulated instances, `x-regionid`, the paging schemes, both ways of authenticating, token
//! renewal, and every injected fault.

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use common::*;
use headroom::collect::ErrorReason;
use headroom::sim::cecstack::CecSimConfig;
use headroom::telemetry::SelfMetrics;

const STATIC: &str = "      headers: {Authorization: \"Bearer demo-cec-token\"}\n";
const ALL: &[&str] = &["capacity", "vm_counts", "overcommit", "hosts", "instances"];

/// Pool-view figures the simulator has no truth for, and why.
const CEC_UNTRUTHED: &[(&str, &str, &str)] = &[];

fn only(collectors: &[&str]) -> String {
    format!(
        "    budgets: {{api: 6000}}\n{}",
        enable_only(ALL, collectors)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_poll_sums_the_simulated_instances_and_passes_promtool() {
    let (sim, state) = cec_sim(CecSimConfig {
        instances: 130,
        ..Default::default()
    })
    .await;
    // Pages of 10: 130 instances are 13 full pages; the announced total ends the list there.
    let extra = format!("    cecstack: {{page_size: 10}}\n{}", only(ALL));
    let cfg = config(
        "  interval: 300s",
        &[cec_target("cec", sim, "region0", STATIC, &extra)],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    for t in &tasks {
        t.poll_once()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
    }
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    promtool_check_metrics(body.as_bytes());
    assert_labels_in_catalogue(&body);
    for line in body
        .lines()
        .filter(|l| l.starts_with("headroom_collector_dropped_values{"))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }
    let live: Vec<&serde_json::Value> = state
        .fleet()
        .instances
        .iter()
        .filter(|v| v["status"] != "softDeleted")
        .collect();
    let vcpus: f64 = live
        .iter()
        .map(|v| v["vCpus"].as_f64().unwrap_or(0.0))
        .sum();
    let ram: f64 = live.iter().map(|v| v["ram"].as_f64().unwrap_or(0.0)).sum();
    let gpus: f64 = live
        .iter()
        .map(|v| v["flavorInfo"]["gpu"].as_f64().unwrap_or(0.0))
        .sum();
    // The pool view is what the simulated region holds: vCPU and memory per region, instances,
    // GPUs, volumes and local disks per AZ and pool.
    let truth = sim_truth(&http(), &format!("http://{sim}")).await;
    assert!(assert_pool_view_is_the_truth(&body, &truth, CEC_UNTRUTHED) >= 20);
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_allocated",
            &[("resource", "vcpu")]
        ),
        vcpus
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_allocated",
            &[("resource", "memory")]
        ),
        ram
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_allocated",
            &[("resource", "instances")]
        ),
        live.len() as f64
    );
    // The ECS service's per-pool drill-down sums to the same.
    assert_eq!(
        sum_where(
            &body,
            "headroom_service_allocated",
            &[("service", "ecs"), ("resource", "vcpu")]
        ),
        vcpus
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_host_resource_allocated",
            &[("resource", "vcpu")]
        ),
        vcpus,
        "every VM is on a host"
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_tenant_resource_allocated",
            &[("resource", "vcpu")]
        ),
        vcpus
    );
    // GPUs in use on the hosts = the GPUs of the GPU instances.
    assert!(gpus > 0.0);
    assert_eq!(
        sum_where(&body, "headroom_resource_allocated", &[("resource", "gpu")]),
        gpus
    );
    assert_eq!(
        sum_where(&body, "headroom_host_resource_used", &[("resource", "gpu")]),
        gpus
    );
    // The simulated region is consistent: no disagreement; memory used = the instances' GiB.
    assert_eq!(
        sum_where(&body, "headroom_resource_free_discrepancy", &[]),
        0.0
    );
    assert_eq!(
        sum_where(&body, "headroom_resource_used", &[("resource", "memory")]),
        ram
    );
    // VM counts by state agree with the list (soft-deleted excluded).
    assert_eq!(
        sum_where(
            &body,
            "headroom_platform_objects",
            &[("kind", "vm"), ("state", "total")]
        ),
        live.len() as f64
    );
    // Every host is placed in its pool, but the spare host, which is in no pool: its AZ comes
    // from `resource-pool/host-list?az=` alone.
    let hosts = state.fleet().nodes.len();
    let info = |l: &&str| l.starts_with("headroom_host_info{");
    assert_eq!(
        body.lines()
            .filter(info)
            .filter(|l| l.contains("pool=\"pool-"))
            .count(),
        hosts - 1
    );
    let spare: Vec<&str> = body
        .lines()
        .filter(info)
        .filter(|l| l.contains("host=\"compute-spare-1\""))
        .collect();
    assert_eq!(spare.len(), 1, "{spare:?}");
    assert!(
        spare[0].contains("az=\"AZ1\"") && !spare[0].contains("pool="),
        "{spare:?}"
    );
    let stats = sim_stats(sim).await;
    assert_eq!(stats["calls"]["/api/ecs/v1/instances"], 13, "{stats}");
    assert_eq!(stats["missing_region"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_region_or_credential_is_reported_with_its_code() {
    let (sim, _) = cec_sim(CecSimConfig::default()).await;
    let cfg = config(
        "  interval: 300s",
        &[
            cec_target("region", sim, "region9", STATIC, &only(&["capacity"])),
            cec_target(
                "token",
                sim,
                "region0",
                "      headers: {Authorization: \"Bearer wrong\"}\n",
                &only(&["capacity"]),
            ),
        ],
    );
    let (_s, _m, tasks) = one_shot(&cfg);
    for t in &tasks {
        let e = t
            .poll_once()
            .await
            .err()
            .unwrap_or_else(|| panic!("{} must fail", t.target));
        match t.target.as_str() {
            "region" => assert!(
                e.reason == ErrorReason::Http && e.message.contains("ECS.InvalidParameter"),
                "{e}"
            ),
            _ => assert!(
                e.reason == ErrorReason::Auth
                    && e.message.contains("AuthFail")
                    && !e.message.contains("wrong"),
                "{e}"
            ),
        }
    }
    assert_eq!(sim_stats(sim).await["missing_region"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_token_is_renewed_after_the_platform_rejects_it() {
    let (sim, _) = cec_sim(CecSimConfig::default()).await;
    let auth = format!("      token_url: http://{sim}/v3/auth/tokens\n      username: admin\n      password: demo-password\n");
    let cfg = config(
        "  interval: 300s",
        &[cec_target(
            "cec",
            sim,
            "region0",
            &auth,
            &only(&["capacity"]),
        )],
    );
    let (_s, metrics, tasks) = one_shot(&cfg);
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    http()
        .post(format!("http://{sim}/sim/expire-tokens"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    tasks[0]
        .poll_once()
        .await
        .unwrap_or_else(|e| panic!("after expiry: {e}"));
    let stats = sim_stats(sim).await;
    assert_eq!(
        (
            stats["tokens_issued"].as_u64(),
            stats["auth_failures"].as_u64()
        ),
        (Some(2), Some(1)),
        "{stats}"
    );
    assert_eq!(
        SelfMetrics::counter_value(&metrics.token_refreshes, &["cec", "success"]),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_reports_its_reason_keeps_then_drops_the_last_good_data() {
    let (sim, _) = cec_sim(CecSimConfig::default()).await;
    let extra = format!(
        "    timeout: 1s\n    retries: 0\n    throttle_pause: 1s\n{}",
        only(&["capacity"])
    );
    let cfg = config(
        "  interval: 30s",
        &[cec_target("cec", sim, "region0", STATIC, &extra)],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let line = r#"headroom_resource_allocatable{platform="cecstack",target="cec",resource="vcpu""#;
    assert_each_fault_keeps_then_drops(&tasks[0], &store, &metrics, line, |f| set_faults(sim, f))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corrected_vendor_examples_give_the_documented_values() {
    let (sim, _) = cec_sim(CecSimConfig {
        dataset: headroom::sim::cecstack::Dataset::Examples,
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 300s",
        &[cec_target("cec", sim, "region0", STATIC, &only(ALL))],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    for t in &tasks {
        t.poll_once()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
    }
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    promtool_check_metrics(body.as_bytes());
    // The document's own example disagrees with itself by 8 GiB of memory.
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_free_discrepancy",
            &[("resource", "memory")]
        ),
        8.0 * 1_073_741_824.0
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_allocated",
            &[("resource", "vcpu")]
        ),
        8.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_third_paging_scheme_reads_every_page() {
    use headroom::platforms::cecstack::api::{Base, CecApi, Paging};
    use headroom::platforms::PlatformTarget;
    let (sim, state) = cec_sim(CecSimConfig::default()).await;
    let cfg = config(
        "  interval: 300s",
        &[cec_target(
            "cec",
            sim,
            "region0",
            STATIC,
            "    cecstack: {page_size: 10}\n    budgets: {api: 6000}\n",
        )],
    );
    let target = &cfg.targets[0];
    let PlatformTarget::Cecstack(settings) = &target.settings else {
        panic!("not cecstack")
    };
    let budgets = Arc::new(headroom::budget::Budgets::new(
        target.platform.limit_scopes(),
        &target.budgets,
        None,
    ));
    let client = headroom::http::ApiClient::new(target, budgets, Arc::new(SelfMetrics::new()))
        .unwrap_or_else(|e| panic!("{e}"));
    let api = CecApi::new(target.endpoint.clone(), settings.clone(), Arc::new(client));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let (keys, dropped) = api
        .list::<serde_json::Value>(
            "ssh_keys",
            Base::Operator,
            "/api/ecs/v1/ssh-key",
            Paging::C("SSHKeys"),
            deadline,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((keys.len(), dropped), (state.fleet().ssh_keys.len(), 0));
    assert_eq!(
        sim_stats(sim).await["calls"]["/api/ecs/v1/ssh-key"],
        3,
        "23 keys in pages of 10"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_view_is_the_truth_on_a_second_seed() {
    let (sim, _) = cec_sim(CecSimConfig {
        seed: 20261201,
        pools: 3,
        hosts: 13,
        instances: 211,
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 300s",
        &[cec_target("cec", sim, "region0", STATIC, &only(ALL))],
    );
    let body = poll_and_render(&cfg).await;
    let truth = sim_truth(&http(), &format!("http://{sim}")).await;
    assert!(assert_pool_view_is_the_truth(&body, &truth, CEC_UNTRUTHED) >= 30);
}
