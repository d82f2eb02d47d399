//! ESM end to end over real HTTP against the simulator: a full poll, budgets, token expiry, wrong
//! credentials, and every injected fault.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use headroom::collect::ErrorReason;
use headroom::sim::huawei_esm::EsmSimConfig;
use headroom::telemetry::SelfMetrics;

fn only(collector: &str) -> String {
    let all = [
        "physical_capacity",
        "service_capacity",
        "devices",
        "cloud_service_alarms",
        "hardware_alarms",
        "host_metrics",
        "tenant_resources",
    ];
    let mut s = String::from("    collectors:\n");
    for c in all {
        s.push_str(&format!("      {c}: {{enabled: {}}}\n", c == collector));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_poll_serves_every_family_and_passes_promtool() {
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let text = headroom::cli::demo_config(
        &[headroom::cli::esm_demo_target(sim)],
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        Duration::from_secs(3600),
    );
    let cfg = headroom::config::parse(&text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    let daemon = headroom::cli::Daemon::start(
        cfg,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        Default::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let base = format!("http://{}", daemon.addr);
    let client = http();
    let mut ready = false;
    for _ in 0..300 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "not ready within 30 s");
    let resp = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = resp.text().await.unwrap_or_default();
    for family in [
        "headroom_resource_capacity",
        "headroom_resource_allocated",
        "headroom_resource_free",
        "headroom_resource_used",
        "headroom_resource_utilization_ratio",
        "headroom_host_resource_utilization_ratio",
        "headroom_host_resource_capacity",
        "headroom_tenant_resources",
        "headroom_host_info",
        "headroom_hosts",
        "headroom_alarms_active",
        "headroom_source_timestamp_seconds",
        "headroom_collector_up",
        "headroom_api_requests_total",
        "headroom_build_info",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} missing from /metrics"
        );
    }
    for line in body
        .lines()
        .filter(|l| l.starts_with("headroom_collector_up{"))
    {
        assert!(line.ends_with(" 1"), "{line}");
    }
    // Physical vCPU of a pool and model equals the sum of its simulated hosts.
    let fleet = _sim_fleet(sim).await;
    let want: u64 = fleet
        .iter()
        .filter(|h| h.0 == "cn-sim-1" && h.1 == "KVM_POD" && h.2 == "C6xLarge")
        .map(|h| h.3)
        .sum();
    let got = series_value(
        &body,
        r#"headroom_resource_capacity{platform="huawei_esm",target="esm-demo",resource="vcpu",unit="vcpus",region="cn-sim-1",pool="KVM_POD",server_model="C6xLarge"}"#,
    );
    assert_eq!(got, Some(want as f64));
    // The whole pool view is what the simulated site holds: vCPU and memory per region and
    // zone, storage per region, cores and threads per cluster.
    let truth = sim_truth(&client, &format!("http://{sim}")).await;
    assert!(assert_pool_view_is_the_truth(&body, &truth, ESM_UNTRUTHED) >= 20);
    // ECS's own count of the VMs of each flavor that still fit, per AZ.
    assert_eq!(
        common::slots::assert_platform_slots_are_the_truth(&body, &truth),
        2 * 2 * 3
    );
    // The EVS service reports the same arrays as the physical storage rows: the two views
    // agree, and the pool view counts them once.
    let evs_allocated = sum_where(
        &body,
        "headroom_service_allocated",
        &[("service", "evs"), ("resource", "storage")],
    );
    assert_eq!(evs_allocated, truth.total("allocated", "storage", &[]));
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_allocated",
            &[("resource", "storage")]
        ),
        evs_allocated
    );
    promtool_check_metrics(body.as_bytes());
    assert_labels_in_catalogue(&body);

    // gzip when asked; the probe serves one target; the status page lists the collectors.
    let gz = client
        .get(format!("{base}/metrics"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        gz.headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let probe = client
        .get(format!("{base}/probe?target=esm-demo"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(probe.status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/probe?target=nope"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0),
        404
    );
    let sd: serde_json::Value =
        serde_json::from_str(&get_text(&format!("{base}/sd")).await).unwrap_or_default();
    assert_eq!(sd[0]["labels"]["__param_target"], "esm-demo", "{sd}");
    assert_eq!(sd[0]["labels"]["__metrics_path__"], "/probe", "{sd}");
    assert_eq!(sd[0]["targets"][0], daemon.addr.to_string(), "{sd}");
    let page = get_text(&format!("{base}/")).await;
    for c in [
        "physical_capacity",
        "service_capacity",
        "tenant_resources",
        "capacity_api",
    ] {
        assert!(page.contains(c), "status page lacks {c}");
    }
    assert!(
        !page.contains("demo-password")
            && !body.contains("demo-password")
            && !body.contains("demo-appcode")
    );
    daemon.stop().await;
}

/// Pool-view figures the simulator has no truth for, and why.
const ESM_UNTRUTHED: &[(&str, &str, &str)] = &[];

/// (region, zone, model, vcpus) of the default simulated fleet.
async fn _sim_fleet(_sim: std::net::SocketAddr) -> Vec<(String, &'static str, &'static str, u64)> {
    let f = headroom::sim::huawei_esm::Fleet::generate(&EsmSimConfig::default(), SystemTime::now());
    f.hosts
        .iter()
        .map(|h| (h.region.clone(), h.zone_type, h.model, h.vcpus))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_larger_than_one_window_stays_within_the_limit() {
    // 20 calls per 2 s window on the simulator; the budget is 5/s (at most 11 per window: the
    // margin covers scheduling jitter on a loaded test machine). One page per row makes the
    // service-capacity poll need about 60 calls: three windows' allowance.
    let (sim, _) = esm_sim(EsmSimConfig {
        capacity_limit_per_minute: 20,
        capacity_window: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let extra = format!(
        "    esm: {{page_size: 1}}\n    budgets: {{capacity_api: 300}}\n{}",
        only("service_capacity")
    );
    let cfg = config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let (_store, metrics, tasks) = one_shot(&cfg);
    let series = tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(series > 0);
    let stats = sim_stats(sim).await;
    assert!(
        stats["capacity_calls"].as_u64().unwrap_or(0) > 40,
        "{stats}"
    );
    assert_eq!(stats["throttled"], 0, "{stats}");
    assert!(
        stats["capacity_max_in_window"].as_u64().unwrap_or(99) <= 20,
        "{stats}"
    );
    assert_eq!(
        SelfMetrics::counter_value(&metrics.api_throttled, &["esm", "capacity_api"]),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_above_the_limit_is_throttled_paused_and_counted() {
    let (sim, _) = esm_sim(EsmSimConfig {
        capacity_limit_per_minute: 10,
        capacity_window: Duration::from_secs(1),
        retry_after_secs: 1,
        ..Default::default()
    })
    .await;
    let extra = format!(
        "    esm: {{page_size: 1}}\n    budgets: {{capacity_api: 6000}}\n{}",
        only("service_capacity")
    );
    let cfg = config(
        "  interval: 120s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("above the documented limit")),
        "{:?}",
        cfg.warnings
    );
    let (_store, metrics, tasks) = one_shot(&cfg);
    let result = tasks[0].poll_once().await;
    let stats = sim_stats(sim).await;
    let throttled = SelfMetrics::counter_value(&metrics.api_throttled, &["esm", "capacity_api"]);
    assert!(throttled > 0, "no 429 counted: {stats}");
    assert_eq!(
        throttled,
        stats["throttled"].as_u64().unwrap_or(0),
        "every 429 is counted"
    );
    // Honoured: after every 429 the next call came only after Retry-After (1 s).
    let gap = stats["min_gap_after_429_ms"].as_u64().unwrap_or(0);
    assert!(gap >= 950, "a call came {gap} ms after a 429: {stats}");
    // The poll either completed within its retries or reports `throttled`.
    if let Err(e) = &result {
        assert_eq!(e.reason, ErrorReason::Throttled, "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_poll_is_refreshed_once() {
    let (sim, _) = esm_sim(EsmSimConfig {
        faults: headroom::sim::Faults {
            latency_ms: 30,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let extra = format!(
        "    esm: {{page_size: 1}}\n    budgets: {{capacity_api: 6000}}\n{}",
        only("service_capacity")
    );
    let cfg = config(
        "  interval: 120s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let (_store, metrics, mut tasks) = one_shot(&cfg);
    let task = tasks.remove(0);
    let poll = tokio::spawn(async move { task.poll_once().await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    http()
        .post(format!("http://{sim}/sim/expire-tokens"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = poll.await.unwrap_or_else(|e| panic!("{e}"));
    let stats = sim_stats(sim).await;
    assert!(result.is_ok(), "{result:?} {stats}");
    assert_eq!(stats["tokens_issued"], 2, "{stats}");
    assert_eq!(stats["unauthorized"], 1, "{stats}");
    assert_eq!(
        SelfMetrics::counter_value(&metrics.token_refreshes, &["esm", "success"]),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_only_that_target_with_auth() {
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let cfg = config(
        "  interval: 60s",
        &[
            esm_target("good", sim, "demo-password", &only("physical_capacity")),
            esm_target("bad", sim, "wrong-password", &only("physical_capacity")),
        ],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    for t in &tasks {
        let r = t.poll_once().await;
        match t.target.as_str() {
            "good" => assert!(r.is_ok(), "{r:?}"),
            _ => {
                let e = r
                    .err()
                    .unwrap_or_else(|| panic!("the bad target succeeded"));
                assert_eq!(e.reason, ErrorReason::Auth);
                assert!(!e.message.contains("wrong-password"), "{}", e.message);
            }
        }
    }
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    assert_eq!(
        series_value(
            &body,
            r#"headroom_collector_up{target="good",collector="physical_capacity",platform="huawei_esm"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        series_value(
            &body,
            r#"headroom_collector_up{target="bad",collector="physical_capacity",platform="huawei_esm"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        series_value(
            &body,
            r#"headroom_collector_errors_total{collector="physical_capacity",reason="auth",target="bad",platform="huawei_esm"}"#
        ),
        Some(1.0)
    );
    assert!(!body.contains("wrong-password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_reports_its_reason_keeps_then_drops_the_last_good_data() {
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let extra = format!(
        "    timeout: 1s\n    retries: 0\n{}",
        only("physical_capacity")
    );
    // The simulator's 429 asks for a 5 s pause: the interval leaves room for it.
    let cfg = config(
        "  interval: 30s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let task = &tasks[0];
    // The 60/min simulator limit is real: the polls are spaced by the budget itself.
    let capacity_line =
        r#"headroom_resource_capacity{platform="huawei_esm",target="esm",resource="vcpu""#;
    assert_each_fault_keeps_then_drops(task, &store, &metrics, capacity_line, |f| {
        set_faults(sim, f)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_appcode_is_an_auth_error() {
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let target = esm_target("esm", sim, "demo-password", &only("devices"))
        .replace("apig_appcode: demo-appcode", "apig_appcode: other-code");
    let cfg = config("  interval: 60s", &[target]);
    let (_s, _m, tasks) = one_shot(&cfg);
    let err = tasks[0]
        .poll_once()
        .await
        .err()
        .unwrap_or_else(|| panic!("succeeded"));
    assert_eq!(err.reason, ErrorReason::Auth);
    assert!(err.message.contains("403"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_renewed_before_it_expires() {
    // Tokens live 3 s here; headroom renews a tenth of the lifetime early, so the second poll
    // gets a new token without ever being refused.
    let (sim, _) = esm_sim(EsmSimConfig {
        token_ttl: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &only("devices"))],
    );
    let (_s, _m, tasks) = one_shot(&cfg);
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(2800)).await;
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    let stats = sim_stats(sim).await;
    assert_eq!(stats["tokens_issued"], 2, "{stats}");
    assert_eq!(
        stats["unauthorized"], 0,
        "the token was renewed before the platform refused it: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_allocation_agrees_with_service_capacity() {
    // The simulated site is consistent across APIs: ECS instances counted per tenant from the
    // tenant resource records add up to the ECS instances the capacity API says are allocated.
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let mut extra = only("service_capacity");
    extra = extra.replace(
        "tenant_resources: {enabled: false}",
        "tenant_resources: {enabled: true, resource_types: [ECS]}",
    );
    let cfg = config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    for t in &tasks {
        t.poll_once()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
    }
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    let sum = |prefix: &str| -> f64 {
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let allocated = sum(
        r#"headroom_service_allocated{platform="huawei_esm",target="esm",service="ecs",resource="instances""#,
    );
    let by_tenant = sum_where(&body, "headroom_tenant_resources", &[("service", "ecs")]);
    assert!(allocated > 0.0);
    assert_eq!(allocated, by_tenant, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_size_cap_fails_without_retrying() {
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let extra = format!("    max_body_bytes: 2048\n{}", only("devices"));
    let cfg = config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let (_s, metrics, tasks) = one_shot(&cfg);
    let err = tasks[0]
        .poll_once()
        .await
        .err()
        .unwrap_or_else(|| panic!("a 2 KiB cap let the device list through"));
    assert_eq!(err.reason, ErrorReason::Http);
    assert!(err.message.contains("max_body_bytes"), "{}", err.message);
    assert_eq!(
        SelfMetrics::counter_value(&metrics.api_retries, &["esm", "devices"]),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcc_is_asked_again_as_dcc_generate_when_dcc_is_refused() {
    let (sim, _) = esm_sim(EsmSimConfig {
        dcc_query_value: "DCC_GENERATE",
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 60s",
        &[esm_target(
            "esm",
            sim,
            "demo-password",
            &only("service_capacity"),
        )],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    assert!(
        body.contains(r#"service="dcc",resource="vcpu",unit="vcpus""#),
        "DCC rows missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hcso_domain_id_header_is_sent_when_configured() {
    let (sim, _) = esm_sim(EsmSimConfig {
        require_domain_id: Some("domain-0042".into()),
        ..Default::default()
    })
    .await;
    let without = esm_target("esm", sim, "demo-password", &only("devices"));
    let with = without.replace(
        "      apig_appcode: demo-appcode\n",
        "      apig_appcode: demo-appcode\n      hcso_domain_id: domain-0042\n",
    );
    let (_s, _m, t) = one_shot(&config("  interval: 60s", &[without]));
    assert_eq!(
        t[0].poll_once().await.err().map(|e| e.reason),
        Some(ErrorReason::Auth)
    );
    let (_s, _m, t) = one_shot(&config("  interval: 60s", &[with]));
    assert!(t[0].poll_once().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_numbered_offsets_read_every_record_once() {
    // A site whose offset_value counts pages from 1, read 5 records a page.
    let (sim, s) = esm_sim(EsmSimConfig {
        offset_pages_from: Some(1),
        ..Default::default()
    })
    .await;
    let extra = format!(
        "    esm: {{offset_mode: page1, page_size: 5}}\n{}",
        only("devices")
    );
    let (store, metrics, t) = one_shot(&config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    ));
    t[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    let body =
        String::from_utf8(store.render(None, &metrics, SystemTime::now())).unwrap_or_default();
    let infos = body
        .lines()
        .filter(|l| l.starts_with("headroom_host_info{"))
        .count();
    assert_eq!(infos, s.fleet().hosts.len() + s.fleet().switches.len());
}

/// One target polling only `physical_capacity` of an ESM simulator, rendered after each poll.
struct PhysicalCapacity {
    store: std::sync::Arc<headroom::store::Store>,
    metrics: std::sync::Arc<SelfMetrics>,
    tasks: Vec<headroom::schedule::PollTask>,
}

impl PhysicalCapacity {
    fn new(sim: std::net::SocketAddr) -> PhysicalCapacity {
        let cfg = config(
            "  interval: 60s",
            &[esm_target(
                "esm",
                sim,
                "demo-password",
                &only("physical_capacity"),
            )],
        );
        let (store, metrics, tasks) = one_shot(&cfg);
        PhysicalCapacity {
            store,
            metrics,
            tasks,
        }
    }

    async fn poll(&self) -> String {
        for t in &self.tasks {
            t.poll_once()
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
        }
        render(&self.store, &self.metrics)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pressure_control_fills_one_pool_and_releases_it() {
    // `/sim/pressure` is what the alerting end-to-end test drives: one pool's physical vCPU and
    // memory allocated to a chosen share of their totals, other pools untouched, then released.
    let (sim, _) = esm_sim(EsmSimConfig::default()).await;
    let physical = PhysicalCapacity::new(sim);
    let poll = || physical.poll();
    let ratio = |body: &str, region: &str, pool: &str, resource: &str| {
        let want = [("region", region), ("pool", pool), ("resource", resource)];
        sum_where(body, "headroom_resource_allocated", &want)
            / sum_where(body, "headroom_resource_capacity", &want)
    };
    let before = poll().await;
    let other_before = ratio(&before, "cn-sim-1", "MANAGE", "memory");
    assert!(ratio(&before, "cn-sim-1", "KVM_POD", "memory") < 0.6);

    let client = http();
    let url = format!("http://{sim}/sim/pressure");
    let resp = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"region": "cn-sim-1", "pool": "KVM_POD", "allocated_ratio": 0.95}"#)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 204);
    let pressed = poll().await;
    for resource in ["memory", "vcpu"] {
        let r = ratio(&pressed, "cn-sim-1", "KVM_POD", resource);
        assert!((r - 0.95).abs() < 0.01, "{resource}: {r}");
    }
    assert_eq!(
        ratio(&pressed, "cn-sim-1", "MANAGE", "memory"),
        other_before
    );
    assert!(ratio(&pressed, "cn-sim-2", "KVM_POD", "memory") < 0.6);
    // Free shrank with it: never negative, and below 5 % of the total.
    let want = [
        ("region", "cn-sim-1"),
        ("pool", "KVM_POD"),
        ("resource", "memory"),
    ];
    let free = sum_where(&pressed, "headroom_resource_free", &want);
    assert!(free >= 0.0 && free < 0.05 * sum_where(&pressed, "headroom_resource_capacity", &want));
    // And it is still what the simulated site holds.
    let mut truth = sim_truth(&client, &format!("http://{sim}")).await;
    truth
        .figures
        .retain(|f| ["vcpu", "memory", "storage"].contains(&f.resource.as_str()));
    assert!(assert_pool_view_is_the_truth(&pressed, &truth, ESM_UNTRUTHED) > 0);

    let bad = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"pool": "KVM_POD", "allocated_ratio": 1.5}"#)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status(), 400);

    let resp = client
        .delete(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 204);
    let released = poll().await;
    assert_eq!(
        ratio(&released, "cn-sim-1", "KVM_POD", "memory"),
        ratio(&before, "cn-sim-1", "KVM_POD", "memory")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_site_allocates_more_over_time_and_never_past_its_total() {
    // The demo's growth gives the exhaustion forecasts a trend: allocation rises with time, free
    // falls by as much, and neither crosses the pool's total less its reserve.
    let (sim, _) = esm_sim(EsmSimConfig {
        growth_per_hour: 360.0, // 10 % of the total per second
        ..Default::default()
    })
    .await;
    let physical = PhysicalCapacity::new(sim);
    let poll = || physical.poll();
    let want = [
        ("region", "cn-sim-1"),
        ("pool", "KVM_POD"),
        ("resource", "memory"),
    ];
    let first = poll().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = poll().await;
    let (a1, a2) = (
        sum_where(&first, "headroom_resource_allocated", &want),
        sum_where(&second, "headroom_resource_allocated", &want),
    );
    let (f1, f2) = (
        sum_where(&first, "headroom_resource_free", &want),
        sum_where(&second, "headroom_resource_free", &want),
    );
    assert!(a2 > a1, "allocated {a1} -> {a2}");
    assert!(f2 < f1, "free {f1} -> {f2}");
    assert!(
        ((a2 - a1) - (f1 - f2)).abs() < 1e-6 * a2,
        "free falls by what allocation gains"
    );
    // Pools start about half allocated: 6 s more at 10 %/s fills every one, and growth stops at
    // the total less its reserve, with free at 0.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let full = poll().await;
    let capacity = sum_where(&full, "headroom_resource_capacity", &want);
    let allocated = sum_where(&full, "headroom_resource_allocated", &want);
    assert_eq!(sum_where(&full, "headroom_resource_free", &want), 0.0);
    assert!(
        allocated <= capacity && allocated >= 0.9 * capacity,
        "{allocated} of {capacity}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_view_is_the_truth_on_a_second_seed() {
    let (sim, _) = esm_sim(EsmSimConfig {
        seed: 20261201,
        regions: 3,
        hosts: 41,
        ..Default::default()
    })
    .await;
    let mut extra = only("physical_capacity").replace(
        "service_capacity: {enabled: false}",
        "service_capacity: {enabled: true}",
    );
    extra.push_str("      host_details: {enabled: true}\n");
    let cfg = config(
        "  interval: 60s",
        &[esm_target("esm", sim, "demo-password", &extra)],
    );
    let body = poll_and_render(&cfg).await;
    let truth = sim_truth(&http(), &format!("http://{sim}")).await;
    assert!(assert_pool_view_is_the_truth(&body, &truth, ESM_UNTRUTHED) >= 40);
    assert!(common::slots::assert_platform_slots_are_the_truth(&body, &truth) >= 12);
}
