//! Sangfor SCP end to end over real HTTPS against the simulator: full polls with each auth
//! method, numbers that agree across APIs, the per-IP limit and its ban, version fallback, token
//! renewal, wrong credentials, and every injected fault.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use common::*;
use headroom::collect::ErrorReason;
use headroom::schedule::PollTask;
use headroom::sim::sangfor_scp::ScpSimConfig;
use headroom::telemetry::SelfMetrics;
use serde_json::Value;

const ALL: &[&str] = &[
    "platform",
    "overview",
    "resource_pools",
    "hosts",
    "clusters",
    "storages",
    "vms",
    "quotas",
    "eip_pools",
    "object_storage",
    "gpus",
    "alarms",
    "licenses",
    "volumes",
    "pool_utilization",
];

fn only(collectors: &[&str]) -> String {
    enable_only(ALL, collectors)
}

async fn poll_all(tasks: &[PollTask]) {
    for t in tasks {
        t.poll_once()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
    }
}

fn fleet_cores_by_pool(sim: &headroom::sim::sangfor_scp::ScpSim) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for s in &sim.fleet().servers {
        if s["vmtype"] != "placeholder" {
            *m.entry(s["az_name"].as_str().unwrap_or("").to_string())
                .or_insert(0.0) += s["cores"].as_f64().unwrap_or(0.0);
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_poll_with_access_keys_agrees_across_apis_and_passes_promtool() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let cfg = config(
        "  interval: 300s",
        &[scp_target(
            "scp",
            &scp,
            None,
            &format!(
                "{}{}",
                common::slots::SIZES_YAML,
                common::slots::SCP_OPENSTACK_YAML
            ),
        )],
    );
    assert_eq!(
        cfg.targets[0].collectors.len(),
        ALL.len(),
        "all collectors on by default"
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    poll_all(&tasks).await;
    let body = render(&store, &metrics);
    promtool_check_metrics(body.as_bytes());
    assert_labels_in_catalogue(&body);
    for (labels, v) in family_series(&body, "headroom_collector_dropped_values") {
        assert_eq!(v, 0.0, "{labels:?} dropped values");
    }
    let stats = scp_stats(&scp).await;
    assert_eq!(stats["bans"], 0, "{stats}");
    assert_eq!(stats["unauthorized"], 0, "{stats}");
    assert!(
        stats["signatures_checked"].as_u64().unwrap_or(0) >= ALL.len() as u64,
        "{stats}"
    );

    // The pool view is what the simulated site holds, per pool and per target: CPU hertz,
    // cores, threads, memory (capacity, used, reserved, allocated), storage per datastore,
    // GPUs (cards, memory, vGPUs), instances, EIPs, bandwidth and object storage.
    let truth = sim_truth(&https_insecure(), &format!("https://{}", scp.addr)).await;
    let compared = assert_pool_view_is_the_truth(&body, &truth, &[]);
    assert!(compared >= 40, "{compared} figures compared");
    // Free and N-1 slots of the three configured sizes and the three enabled flavors of the
    // OpenStack API's catalogue (its disabled one is no size) in each of the 2 pools.
    assert_eq!(
        common::slots::assert_slots_are_the_truth(&body, &truth, &common::slots::sizes()),
        (3 + 3) * 2 * 2
    );
    assert_eq!(
        family_series(&body, "headroom_flavor_free_slots")
            .iter()
            .filter(|(l, _)| l.get("origin").map(String::as_str) == Some("catalog"))
            .count(),
        3 * 2
    );
    assert_eq!(
        stats["tokens_issued"], 1,
        "one OpenStack-API token: {stats}"
    );
    // Plausible as well as equal: the pools are far from full, so losing a host leaves most of
    // the slots (a disk bound where SCP reports no disk once made these 0 on both sides).
    for (labels, v) in family_series(&body, "headroom_flavor_free_slots_n_minus_one") {
        // The GPU size has a card or two to spare per pool: losing its host may take them all.
        if labels["flavor"] == "gpu.t4" {
            continue;
        }
        let free = sum_where(
            &body,
            "headroom_flavor_free_slots",
            &[("flavor", &labels["flavor"]), ("az", &labels["az"])],
        );
        assert!(v > 0.5 * free && v < free, "{labels:?}: {v} of {free}");
    }
    // The GPU size fits where a Tesla T4 is free (from the GPU API's cards in use).
    assert!(
        sum_where(&body, "headroom_flavor_free_slots", &[("flavor", "gpu.t4")]) >= 1.0,
        "{body}"
    );
    // Each pool's GPUs are counted once although both the pool detail and the GPU API report
    // them (the pool detail's go to the pool summary of the service view).
    for (pool, cores) in fleet_cores_by_pool(&scp.sim) {
        let p = pool.as_str();
        let cards = truth.total("capacity", "gpu", &[("az", p)]);
        assert!(cards > 0.0, "{p} has GPUs");
        assert_eq!(
            sum_where(
                &body,
                "headroom_resource_capacity",
                &[("resource", "gpu"), ("az", p)]
            ),
            cards,
            "{p}: GPU cards"
        );
        assert_eq!(
            sum_where(
                &body,
                "headroom_service_capacity",
                &[("service", "pool_summary"), ("resource", "gpu"), ("az", p)]
            ),
            cards,
            "{p}: the pool detail reports the same cards"
        );
        // The quota view is the service view, its `total` below what it allocated.
        let quota_view = sum_where(
            &body,
            "headroom_service_allocated",
            &[("service", "quota_view"), ("resource", "vcpu"), ("az", p)],
        );
        let stated = sum_where(
            &body,
            "headroom_service_total_reported",
            &[("service", "quota_view"), ("resource", "vcpu"), ("az", p)],
        );
        assert!(
            quota_view > stated,
            "{p}: the quota view allocates {quota_view} of a stated {stated}"
        );
        // Hosts, tenants and quotas agree with the pool view's VM sums.
        for (family, labels) in [
            (
                "headroom_host_resource_allocated",
                vec![("resource", "vcpu"), ("az", p)],
            ),
            (
                "headroom_tenant_resource_allocated",
                vec![("resource", "vcpu"), ("az", p)],
            ),
            ("headroom_quota_used", vec![("resource", "vcpu"), ("az", p)]),
        ] {
            assert_eq!(sum_where(&body, family, &labels), cores, "{p}: {family}");
        }
        // Host cores and memory sum to the pool's, usable or not.
        for resource in ["cpu_cores", "memory"] {
            assert_eq!(
                sum_where(
                    &body,
                    "headroom_host_resource_capacity",
                    &[("resource", resource), ("az", p)]
                ),
                truth.total("capacity", resource, &[("az", p)])
                    + truth.total("unusable", resource, &[("az", p)]),
                "{p}: host {resource} capacity"
            );
        }
        // Shared disks: count per pool as served.
        let fleet = scp.sim.fleet();
        let served = fleet
            .volumes
            .iter()
            .filter(|v| {
                fleet
                    .azs
                    .iter()
                    .any(|a| a["id"] == v["az_id"] && a["name"] == p)
            })
            .count();
        assert!(served > 0);
        assert_eq!(
            sum_where(
                &body,
                "headroom_service_allocated",
                &[("service", "evs"), ("resource", "volumes"), ("az", p)]
            ),
            served as f64
        );
    }
    // EIP pools: allocated = the pool's EIPs; tenant EIP quota use sums to the same.
    let eips = sum_where(&body, "headroom_resource_allocated", &[("resource", "eip")]);
    let quota = sum_where(&body, "headroom_quota_used", &[("resource", "eip")]);
    assert!(eips > 0.0 && eips == quota, "EIPs {eips} vs quota {quota}");
    // The newest versions the simulator serves were chosen, and the EIP list spelling is remembered.
    for (api, version) in [
        ("hosts", "20190725"),
        ("servers", "20220725"),
        ("clusters", "20210725"),
        ("storages", "20200725"),
        ("azs_detail", "20200725"),
        ("alarms", "20190725"),
    ] {
        assert_eq!(
            sum_where(
                &body,
                "headroom_api_version_info",
                &[("api", api), ("version", version)]
            ),
            1.0,
            "{api}"
        );
    }
    let list404 = |stats: &Value| {
        stats["calls"]["/janus/20180725/floatingippools"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = list404(&stats);
    for t in tasks.iter().filter(|t| t.collector_name == "eip_pools") {
        t.poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        list404(&scp_stats(&scp).await),
        before,
        "the 404ing spelling is not asked again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_poll_with_the_password_logs_in_once_for_all_collectors() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let auth = "      username: capacity-reader\n      password: demo-password\n";
    let cfg = config(
        "  interval: 300s",
        &[scp_target("scp", &scp, Some(auth), "")],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    // All at once: the login is single-flight.
    let results = futures_util::future::join_all(tasks.iter().map(|t| t.poll_once())).await;
    for (t, r) in tasks.iter().zip(&results) {
        assert!(r.is_ok(), "{}: {r:?}", t.collector_name);
    }
    let stats = scp_stats(&scp).await;
    assert_eq!(stats["tokens_issued"], 1, "{stats}");
    assert_eq!(stats["calls"]["/janus/authenticate"], 1, "{stats}");
    assert_eq!(stats["signatures_checked"], 0, "{stats}");
    let body = render(&store, &metrics);
    assert!(
        sum_where(&body, "headroom_collector_up", &[]) == ALL.len() as f64,
        "{body}"
    );
    assert_eq!(
        SelfMetrics::counter_value(&metrics.token_refreshes, &["scp", "success"]),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed_once() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let auth = "      username: capacity-reader\n      password: demo-password\n";
    let cfg = config(
        "  interval: 300s",
        &[scp_target("scp", &scp, Some(auth), &only(&["hosts"]))],
    );
    let (_store, _metrics, tasks) = one_shot(&cfg);
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    scp_post(&scp, "/sim/expire-tokens", "{}").await;
    tasks[0].poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    let stats = scp_stats(&scp).await;
    assert_eq!(
        (
            stats["tokens_issued"].as_u64(),
            stats["unauthorized"].as_u64()
        ),
        (Some(2), Some(1)),
        "{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_and_wrong_passwords_are_auth_errors() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let wrong_sk = "      access_key: e96a96326f2841ba8bdf2242f6cb832e\n      secret_key: 00000000000000000000000000000000\n";
    let wrong_password = "      username: capacity-reader\n      password: nope\n";
    let right = "      access_key: e96a96326f2841ba8bdf2242f6cb832e\n      secret_key: 68176b3ec9d64394bdfcbe124b3e6078\n      region: cn-east-1\n      service: dsp-api\n";
    let cfg = config(
        "  interval: 300s",
        &[
            scp_target("sk", &scp, Some(wrong_sk), &only(&["overview"])),
            scp_target("password", &scp, Some(wrong_password), &only(&["overview"])),
            // Any region/service works when client and scope agree (the server derives them).
            scp_target("scope", &scp, Some(right), &only(&["overview"])),
        ],
    );
    let (_store, metrics, tasks) = one_shot(&cfg);
    for t in &tasks {
        let r = t.poll_once().await;
        match t.target.as_str() {
            "scope" => assert!(r.is_ok(), "{r:?}"),
            name => {
                let e = r.err().unwrap_or_else(|| panic!("{name} succeeded"));
                assert_eq!(e.reason, ErrorReason::Auth, "{name}: {e}");
                assert!(
                    !e.message.contains("0000000000000000") && !e.message.contains("nope"),
                    "no secret in: {e}"
                );
            }
        }
    }
    let stats = scp_stats(&scp).await;
    assert_eq!(stats["logins_failed"], 1, "{stats}");
    assert_eq!(
        SelfMetrics::counter_value(&metrics.token_refreshes, &["password", "failure"]),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flavor_catalogue_needs_its_own_tenant_login_renewed_once_and_kept_secret() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let openstack = |password: &str| {
        format!(
            "{}    scp:\n      openstack: {{tenant: ops, username: ops-reader, password: {password}}}\n",
            only(&["vms"])
        )
    };
    let cfg = config(
        "  interval: 300s",
        &[
            scp_target("right", &scp, None, &openstack("demo-tenant-password")),
            scp_target("wrong", &scp, None, &openstack("tenant-nope-secret")),
        ],
    );
    let (store, metrics, tasks) = one_shot(&cfg);
    let right = &tasks[0];
    right.poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    // A token the API stops accepting is renewed once, within the same poll.
    scp_post(&scp, "/sim/expire-tokens", "{}").await;
    right.poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    let stats = scp_stats(&scp).await;
    assert_eq!(
        (
            stats["tokens_issued"].as_u64(),
            stats["unauthorized"].as_u64(),
            stats["calls"]["/openstack/compute/v2/flavors/detail"].as_u64()
        ),
        (Some(2), Some(1), Some(3)),
        "{stats}"
    );
    let body = render(&store, &metrics);
    // The catalogue's three enabled flavors (the disabled 16-core one is no size) in 2 pools.
    let catalog: Vec<String> = family_series(&body, "headroom_flavor_free_slots")
        .into_iter()
        .filter(|(l, _)| l["origin"] == "catalog")
        .map(|(l, _)| l["flavor"].clone())
        .collect();
    assert_eq!(catalog.len(), 6, "{catalog:?}");
    assert!(catalog
        .iter()
        .any(|f| f == "4Cores_8192MB(ram)_100GB(disk)"));
    assert!(!catalog.iter().any(|f| f.starts_with("16Cores")));
    // A wrong tenant password fails the collector as an auth error that names the keys to
    // check, and the password appears nowhere.
    let e = tasks[1]
        .poll_once()
        .await
        .err()
        .unwrap_or_else(|| panic!("a wrong tenant password succeeded"));
    assert_eq!(e.reason, ErrorReason::Auth, "{e}");
    assert!(e.message.contains("scp.openstack"), "{e}");
    assert!(!e.message.contains("tenant-nope-secret"), "{e}");
    assert!(!render(&store, &metrics).contains("tenant-nope-secret"));
}

#[test]
fn check_config_reports_an_incomplete_openstack_login() {
    let text = "targets:\n  - name: a\n    platform: sangfor_scp\n    endpoint: https://127.0.0.1\n    auth: {access_key: x, secret_key: y}\n    scp:\n      openstack: {tenant: ops, passwd: z, max_flavors: 5000}\n";
    let problems = headroom::config::parse(text, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("must fail"))
        .to_string();
    for want in [
        "targets[0].scp.openstack.username",
        "targets[0].scp.openstack.password",
        "targets[0].scp.openstack.passwd",
        "targets[0].scp.openstack.max_flavors",
    ] {
        assert!(problems.contains(want), "missing `{want}` in:\n{problems}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_site_is_polled_at_the_oldest_api_version() {
    let scp = scp_sim(ScpSimConfig {
        max_version: "20180725",
        ..Default::default()
    })
    .await;
    let cfg = config("  interval: 300s", &[scp_target("scp", &scp, None, "")]);
    let (store, metrics, tasks) = one_shot(&cfg);
    poll_all(&tasks).await;
    // Run the platform collector again: by then every family has been chosen by its collector.
    for t in tasks.iter().filter(|t| t.collector_name == "platform") {
        t.poll_once().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let body = render(&store, &metrics);
    let versions = family_series(&body, "headroom_api_version_info");
    assert_eq!(versions.len(), 6, "{versions:?}");
    assert!(
        versions.iter().all(|(l, _)| l["version"] == "20180725"),
        "{versions:?}"
    );
    let stats = scp_stats(&scp).await;
    // After the first 404s, the chosen version is used directly.
    assert_eq!(stats["calls"]["/janus/20220725/servers"], 1, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_needing_more_gets_than_a_window_allows_completes_without_a_ban() {
    // 600 GETs per minute, scaled to 20 per 2 s so the test runs in seconds.
    let scp = scp_sim(ScpSimConfig {
        vms: 2500,
        get_limit: 20,
        window: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 300s",
        &[scp_target(
            "scp",
            &scp,
            None,
            &format!("    budgets: {{get: 480}}\n{}", only(&["vms", "hosts"])),
        )],
    );
    let (_store, _metrics, tasks) = one_shot(&cfg);
    poll_all(&tasks).await;
    let stats = scp_stats(&scp).await;
    assert!(
        stats["gets"].as_u64().unwrap_or(0) > 20,
        "needs more than one window: {stats}"
    );
    assert_eq!(stats["bans"], 0, "{stats}");
    assert!(
        stats["get_max_in_window"].as_u64().unwrap_or(99) <= 17,
        "at most 16 + 1 in any 2 s: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_above_the_limit_is_banned_pauses_the_target_and_recovers() {
    let scp = scp_sim(ScpSimConfig {
        vms: 2500,
        get_limit: 20,
        window: Duration::from_secs(2),
        ban: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let extra = format!(
        "    budgets: {{get: 6000}}\n    throttle_pause: 3s\n{}",
        only(&["vms"])
    );
    let cfg = config("  interval: 300s", &[scp_target("scp", &scp, None, &extra)]);
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("above the documented limit")),
        "{:?}",
        cfg.warnings
    );
    let (_store, metrics, tasks) = one_shot(&cfg);
    tasks[0]
        .poll_once()
        .await
        .unwrap_or_else(|e| panic!("recovers after the ban: {e}"));
    let stats = scp_stats(&scp).await;
    assert!(stats["bans"].as_u64().unwrap_or(0) >= 1, "{stats}");
    let counted = SelfMetrics::counter_value(&metrics.api_throttled, &["scp", "get"]);
    assert_eq!(
        counted,
        stats["throttled"].as_u64().unwrap_or(0),
        "every 429 is counted: {stats}"
    );
    // The whole target waited out each ban: nothing was sent while banned.
    assert_eq!(stats["refused_while_banned"], 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_cookie_is_sent_when_configured() {
    let scp = scp_sim(ScpSimConfig {
        require_cookie: true,
        ..Default::default()
    })
    .await;
    let d = ScpSimConfig::default();
    let with = format!(
        "      access_key: {}\n      secret_key: {}\n      legacy_cookie: true\n",
        d.access_key, d.secret_key
    );
    let cfg = config(
        "  interval: 300s",
        &[
            scp_target("plain", &scp, None, &only(&["overview"])),
            scp_target("cookie", &scp, Some(&with), &only(&["overview"])),
        ],
    );
    let (_s, _m, tasks) = one_shot(&cfg);
    for t in &tasks {
        let r = t.poll_once().await;
        match t.target.as_str() {
            "cookie" => assert!(r.is_ok(), "{r:?}"),
            _ => assert_eq!(r.err().map(|e| e.reason), Some(ErrorReason::Auth)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_reports_its_reason_keeps_then_drops_the_last_good_data() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let extra = format!(
        "    timeout: 1s\n    retries: 0\n    throttle_pause: 1s\n{}",
        only(&["resource_pools"])
    );
    let cfg = config("  interval: 30s", &[scp_target("scp", &scp, None, &extra)]);
    let (store, metrics, tasks) = one_shot(&cfg);
    let task = &tasks[0];
    let line = r#"headroom_service_capacity{platform="sangfor_scp",target="scp",service="pool_summary",resource="cpu_hertz""#;
    assert_each_fault_keeps_then_drops(task, &store, &metrics, line, |f| {
        scp_post(&scp, "/sim/faults", f)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_examples_served_over_https_give_the_documented_values() {
    let scp = scp_sim(ScpSimConfig {
        dataset: headroom::sim::sangfor_scp::Dataset::Examples,
        ..Default::default()
    })
    .await;
    let cfg = config("  interval: 300s", &[scp_target("scp", &scp, None, "")]);
    let (store, metrics, tasks) = one_shot(&cfg);
    poll_all(&tasks).await;
    let body = render(&store, &metrics);
    promtool_check_metrics(body.as_bytes());
    // AZ detail example (§4.3.3): 105355.97 MHz of CPU in pool "10.134.37.79" (the pool
    // summary; the pool view sums the running hosts).
    assert_eq!(
        sum_where(
            &body,
            "headroom_service_capacity",
            &[
                ("service", "pool_summary"),
                ("resource", "cpu_hertz"),
                ("unit", "hertz"),
                ("az", "10.134.37.79")
            ]
        ),
        105355.97e6
    );
    // Host example (§4.3.17, 2019): 95788.28 MHz.
    assert_eq!(
        sum_where(
            &body,
            "headroom_host_resource_capacity",
            &[
                ("host", "10.134.37.11"),
                ("resource", "cpu_hertz"),
                ("unit", "hertz")
            ]
        ),
        95788.28e6
    );
    // The quota view's `total` (§4.3.4 example: 24,576 MB beside 119,808 allocated) is served
    // under its own name and is nowhere capacity or allocatable.
    assert_eq!(
        sum_where(
            &body,
            "headroom_service_total_reported",
            &[
                ("service", "quota_view"),
                ("resource", "memory"),
                ("az", "10.131.132.56")
            ]
        ),
        24576.0 * 1_048_576.0
    );
    // What may be allocated comes from the hosts (cores × ratio; memory less the reserve), never
    // from the quota view's total.
    let allocatable = family_series(&body, "headroom_resource_allocatable");
    assert!(!allocatable.is_empty());
    assert!(
        allocatable
            .iter()
            .all(|(_, v)| *v != 24576.0 * 1_048_576.0 && *v != 30.0),
        "{allocatable:?}"
    );
    assert_eq!(
        sum_where(
            &body,
            "headroom_host_resource_allocatable",
            &[("host", "10.134.37.11"), ("resource", "vcpu")]
        ),
        20.0 * 2.5,
        "the 2019 host example: 20 cores at 2.5"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_auth_mistakes_with_paths() {
    let text = "targets:\n  - name: a\n    platform: sangfor_scp\n    endpoint: https://127.0.0.1\n    auth: {access_key: x, username: y}\n  - name: b\n    platform: sangfor_scp\n    endpoint: https://127.0.0.1\n    auth: {access_key: x}\n    scp: {page_size: 500}\n";
    let problems = headroom::config::parse(text, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("must fail"))
        .to_string();
    for want in [
        "targets[0].auth: give either access_key/secret_key or username/password",
        "targets[1].auth.secret_key",
        "targets[1].scp.page_size",
    ] {
        assert!(problems.contains(want), "missing `{want}` in:\n{problems}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_rejects_stale_mismatched_and_wrong_signatures() {
    use headroom::platforms::sangfor_scp::auth::{amz_date, authorization, SignInput};
    let scp = scp_sim(ScpSimConfig::default()).await;
    let d = ScpSimConfig::default();
    let client = https_insecure();
    let path = "/janus/20180725/overview";
    let send = |date: String, signed_date: String, signed_path: &'static str, sk: String| {
        let client = client.clone();
        let url = format!("https://{}{path}", scp.addr);
        let (ak, region, service) = (d.access_key.clone(), "cn-south-1", "open-api");
        async move {
            let auth = authorization(&SignInput {
                method: "GET",
                path: signed_path,
                body: b"",
                amz_date: &signed_date,
                access_key: &ak,
                secret_key: &sk,
                region,
                service,
            });
            client
                .get(url)
                .header("authorization", auth)
                .header("x-amz-date", date)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let now = amz_date(SystemTime::now());
    let stale = amz_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let sk = d.secret_key.clone();
    assert_eq!(
        send(now.clone(), now.clone(), path, sk.clone()).await,
        200,
        "a good signature"
    );
    assert_eq!(
        send(stale.clone(), stale, path, sk.clone()).await,
        401,
        "older than 15 min"
    );
    let other_day = amz_date(SystemTime::now() - Duration::from_secs(2 * 86400));
    assert_eq!(
        send(now.clone(), other_day, path, sk.clone()).await,
        401,
        "X-Amz-Date outside the credential's date"
    );
    assert_eq!(
        send(now.clone(), now.clone(), "/janus/20180725/azs", sk).await,
        401,
        "signed for another path"
    );
    assert_eq!(
        send(now.clone(), now, path, "0".repeat(32)).await,
        401,
        "wrong secret key"
    );
    // Query strings are not signed (the document's variant): a filter does not break the signature.
    let date = amz_date(SystemTime::now());
    let auth = authorization(&SignInput {
        method: "GET",
        path: "/janus/20180725/hosts",
        body: b"",
        amz_date: &date,
        access_key: &d.access_key,
        secret_key: &d.secret_key,
        region: "cn-south-1",
        service: "open-api",
    });
    let status = client
        .get(format!(
            "https://{}/janus/20180725/hosts?page_num=0&page_size=5",
            scp.addr
        ))
        .header("authorization", auth)
        .header("x-amz-date", date)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_public_key_endpoint_is_reported_as_throttled() {
    // One public-key call per minute: the second target's login finds the endpoint blocked (403).
    let scp = scp_sim(ScpSimConfig {
        public_key_limit: 1,
        ..Default::default()
    })
    .await;
    let auth = "      username: capacity-reader\n      password: demo-password\n";
    let cfg = config(
        "  interval: 300s",
        &[
            scp_target("first", &scp, Some(auth), &only(&["overview"])),
            scp_target("second", &scp, Some(auth), &only(&["overview"])),
        ],
    );
    let (_s, _m, tasks) = one_shot(&cfg);
    assert!(tasks[0].poll_once().await.is_ok());
    let e = tasks[1]
        .poll_once()
        .await
        .err()
        .unwrap_or_else(|| panic!("the second login must be refused"));
    assert_eq!(e.reason, ErrorReason::Throttled, "{e}");
    assert_eq!(scp_stats(&scp).await["public_key_refusals"], 1);
}

/// A request signed the way another client does, sent to the simulator.
async fn signed_get(scp: &Scp, path: &str, headers: &[(String, String)]) -> u16 {
    let mut req = https_insecure().get(format!("https://{}{path}", scp.addr));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The headers `aws-sigv4` (an independent SigV4 implementation) signs a GET with: every header
/// the request carries except `host`, so `cookie;x-amz-date` when a cookie is sent.
fn sigv4_headers(path: &str, cookie: Option<&str>, secret: &str) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let cfg = ScpSimConfig::default();
    let identity =
        aws_credential_types::Credentials::new(&cfg.access_key, secret, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(vec![std::borrow::Cow::Borrowed("host")]);
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("cn-south-1")
        .name("open-api")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    let url = format!("https://127.0.0.1{path}");
    let given: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        given.iter().copied(),
        SignableBody::Bytes(b""),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (instructions, _) = sign(request, &params)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_parts();
    let mut out: Vec<(String, String)> = instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(c) = cookie {
        out.push(("cookie".into(), c.into()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_checks_a_signature_with_the_clients_own_header_list() {
    use headroom::platforms::sangfor_scp::auth::{
        amz_date, signature_listing, SignInput, DOCUMENT_SIGNED_HEADERS,
    };
    let scp = scp_sim(ScpSimConfig::default()).await;
    let cfg = ScpSimConfig::default();
    let path = "/janus/20180725/azs";
    // `x-amz-date` alone, as the open-source client proven on SCP 6.11.2 signs (and headroom).
    let headers = sigv4_headers(path, None, &cfg.secret_key);
    assert!(
        headers
            .iter()
            .any(|(_, v)| v.contains("SignedHeaders=x-amz-date,")),
        "{headers:?}"
    );
    assert_eq!(signed_get(&scp, path, &headers).await, 200);
    // `cookie;x-amz-date`, as the document's Python sample signs: the cookie is checked too.
    let headers = sigv4_headers(path, Some("aCMPAuthToken=0123abcd"), &cfg.secret_key);
    assert!(
        headers
            .iter()
            .any(|(_, v)| v.contains("SignedHeaders=cookie;x-amz-date,")),
        "{headers:?}"
    );
    assert_eq!(signed_get(&scp, path, &headers).await, 200);
    let mut tampered = headers.clone();
    for (k, v) in &mut tampered {
        if k == "cookie" {
            *v = "aCMPAuthToken=ffff".into();
        }
    }
    assert_eq!(
        signed_get(&scp, path, &tampered).await,
        401,
        "a signed header was changed"
    );
    // The document's own `path;x-amz-date` (no `path` header exists: it adds nothing).
    let date = amz_date(SystemTime::now());
    let input = SignInput {
        method: "GET",
        path,
        body: b"",
        amz_date: &date,
        access_key: &cfg.access_key,
        secret_key: &cfg.secret_key,
        region: "cn-south-1",
        service: "open-api",
    };
    let auth = |list: &str, signature: &str| {
        vec![
            ("x-amz-date".to_string(), date.clone()),
            (
                "authorization".to_string(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{}/cn-south-1/open-api/aws4_request, SignedHeaders={list}, Signature={signature}",
                    cfg.access_key,
                    &date[..8]
                ),
            ),
        ]
    };
    let doc = signature_listing(&input, DOCUMENT_SIGNED_HEADERS);
    assert_eq!(
        signed_get(&scp, path, &auth(DOCUMENT_SIGNED_HEADERS, &doc)).await,
        200
    );
    // The list is part of what is signed: the same signature under another list is refused.
    assert_eq!(signed_get(&scp, path, &auth("x-amz-date", &doc)).await, 401);
    // `host` may not be signed; a wrong key fails.
    assert_eq!(
        signed_get(&scp, path, &auth("host;x-amz-date", &doc)).await,
        401
    );
    let wrong = sigv4_headers(path, None, "not-the-secret");
    assert_eq!(signed_get(&scp, path, &wrong).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_serves_what_a_real_client_asks_for() {
    let scp = scp_sim(ScpSimConfig::default()).await;
    let cfg = ScpSimConfig::default();
    let get = |path: &'static str| {
        let headers = sigv4_headers(path, None, &cfg.secret_key);
        let addr = scp.addr;
        async move {
            let mut req = https_insecure().get(format!("https://{addr}{path}"));
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let body = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .text()
                .await
                .unwrap_or_default();
            serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
        }
    };
    // The platform overview sums the pools' physical resources (§4.3.5 names).
    let overview = get("/janus/20180725/overview").await;
    let physical = overview["data"]["physical_resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = physical.iter().filter_map(|r| r["name"].as_str()).collect();
    for want in ["cpu", "memory", "storage", "graphics_num", "graphics_mem"] {
        assert!(names.contains(&want), "{names:?}");
    }
    let truth = sim_truth(&https_insecure(), &format!("https://{}", scp.addr)).await;
    let mem = physical
        .iter()
        .find(|r| r["name"] == "memory")
        .map(|r| r["total"].as_f64().unwrap_or(0.0))
        .unwrap_or(0.0);
    assert_eq!(
        mem * 1_048_576.0,
        truth.total("capacity", "memory", &[]) + truth.total("unusable", "memory", &[]),
        "every host's memory, running or offline"
    );
    // EIPs are listed; bound ones carry binding_info.
    let eips = get("/janus/20180725/floatingips").await;
    let list = eips["data"]["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        list.len() as f64,
        truth.total("allocated", "eip", &[]).min(100.0)
    );
    assert!(list.iter().any(|e| e.get("binding_info").is_some()));
    assert!(list.iter().any(|e| e.get("binding_info").is_none()));
    // `projects?az_id=` keeps the tenants associated with that pool only.
    let all = get("/janus/20180725/projects").await["data"]["total_size"]
        .as_u64()
        .unwrap_or(0);
    let az = scp.sim.fleet().azs[0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let path: &'static str =
        Box::leak(format!("/janus/20180725/projects?az_id={az}").into_boxed_str());
    let headers = sigv4_headers("/janus/20180725/projects", None, &cfg.secret_key);
    let mut req = https_insecure().get(format!("https://{}{path}", scp.addr));
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let body: Value = serde_json::from_str(
        &req.send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let in_pool = body["data"]["total_size"].as_u64().unwrap_or(0);
    assert!(
        in_pool > 0 && in_pool < all,
        "{in_pool} of {all} tenants in the pool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_view_is_the_truth_on_a_second_seed() {
    let scp = scp_sim(ScpSimConfig {
        seed: 20261201,
        pools: 3,
        hosts: 17,
        vms: 333,
        ..Default::default()
    })
    .await;
    let cfg = config(
        "  interval: 300s",
        &[scp_target(
            "scp",
            &scp,
            None,
            &format!(
                "{}{}",
                common::slots::SIZES_YAML,
                common::slots::SCP_OPENSTACK_YAML
            ),
        )],
    );
    let body = poll_and_render(&cfg).await;
    let truth = sim_truth(&https_insecure(), &format!("https://{}", scp.addr)).await;
    assert!(assert_pool_view_is_the_truth(&body, &truth, &[]) >= 60);
    // The configured sizes' and the catalogue's free and N-1 slots in each of the 3 pools, from
    // the running hosts and the VMs on each.
    assert_eq!(
        common::slots::assert_slots_are_the_truth(&body, &truth, &common::slots::sizes()),
        (3 + 3) * 3 * 2
    );
}
