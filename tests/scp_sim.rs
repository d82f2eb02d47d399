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
    let cfg = config("  interval: 300s", &[scp_target("scp", &scp, None, "")]);
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

    for (pool, cores) in fleet_cores_by_pool(&scp.sim) {
        let p = pool.as_str();
        // Physical CPU of a pool = the sum over its hosts.
        let pool_hz = sum_where(
            &body,
            "headroom_resource_capacity",
            &[
                ("service", "physical"),
                ("resource", "cpu"),
                ("unit", "hertz"),
                ("az", p),
            ],
        );
        let host_hz = sum_where(
            &body,
            "headroom_host_resource_capacity",
            &[("resource", "cpu"), ("unit", "hertz"), ("az", p)],
        );
        assert!(
            pool_hz > 0.0 && (pool_hz - host_hz).abs() < 1.0,
            "{p}: pool {pool_hz} Hz, hosts {host_hz} Hz"
        );
        let pool_mem = sum_where(
            &body,
            "headroom_resource_capacity",
            &[("service", "physical"), ("resource", "memory"), ("az", p)],
        );
        let host_mem = sum_where(
            &body,
            "headroom_host_resource_capacity",
            &[("resource", "memory"), ("az", p)],
        );
        assert_eq!(pool_mem, host_mem, "{p}: memory");
        // VMs: the sum of their vCPU = the pool's allocation in the quota view = the hosts'
        // allocations = the tenants' quota use.
        let ecs = sum_where(
            &body,
            "headroom_resource_allocated",
            &[("service", "ecs"), ("resource", "vcpu"), ("az", p)],
        );
        let quota_view = sum_where(
            &body,
            "headroom_resource_allocated",
            &[("service", "quota"), ("resource", "vcpu"), ("az", p)],
        );
        let hosts = sum_where(
            &body,
            "headroom_host_resource_allocated",
            &[("resource", "vcpu"), ("az", p)],
        );
        let tenants = sum_where(
            &body,
            "headroom_quota_used",
            &[("resource", "vcpu"), ("az", p)],
        );
        assert_eq!(
            (ecs, quota_view, hosts, tenants),
            (cores, cores, cores, cores),
            "{p}: vCPU"
        );
        // GPU cards: the pool's physical count = the GPU list = the hosts.
        let phys = sum_where(
            &body,
            "headroom_resource_capacity",
            &[("service", "physical"), ("resource", "gpu"), ("az", p)],
        );
        let listed = sum_where(
            &body,
            "headroom_resource_capacity",
            &[("service", "gpu"), ("resource", "gpu"), ("az", p)],
        );
        let host_gpus = sum_where(
            &body,
            "headroom_host_resource_capacity",
            &[("resource", "gpu"), ("az", p)],
        );
        assert!(
            phys > 0.0 && phys == listed && phys == host_gpus,
            "{p}: GPUs {phys} {listed} {host_gpus}"
        );
    }
    for (pool, cores) in fleet_cores_by_pool(&scp.sim) {
        let p = pool.as_str();
        // Tenants' VM sums = the pool's.
        let tenants = sum_where(
            &body,
            "headroom_tenant_resource_allocated",
            &[("resource", "vcpu"), ("az", p)],
        );
        assert_eq!(tenants, cores, "{p}: tenants' vCPU");
        // Utilisation from the monitoring API agrees with the pool's used/capacity.
        let used = sum_where(
            &body,
            "headroom_resource_used",
            &[("service", "physical"), ("resource", "cpu"), ("az", p)],
        );
        let cap = sum_where(
            &body,
            "headroom_resource_capacity",
            &[
                ("service", "physical"),
                ("resource", "cpu"),
                ("unit", "hertz"),
                ("az", p),
            ],
        );
        let ratio = sum_where(
            &body,
            "headroom_resource_utilization_ratio",
            &[("resource", "cpu"), ("az", p)],
        );
        assert!(
            (ratio - used / cap).abs() < 1e-9,
            "{p}: {ratio} vs {}",
            used / cap
        );
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
                "headroom_resource_allocated",
                &[("service", "evs"), ("resource", "volumes"), ("az", p)]
            ),
            served as f64
        );
    }
    // EIP pools: allocated = the pool's EIPs; tenant EIP quota use sums to the same.
    let eips = sum_where(
        &body,
        "headroom_resource_allocated",
        &[("service", "eip"), ("resource", "eip")],
    );
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
    let line = r#"headroom_resource_capacity{platform="sangfor_scp",target="scp",service="physical",resource="cpu""#;
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
    // AZ detail example (§4.3.3): 105355.97 MHz of CPU in pool "10.134.37.79".
    assert_eq!(
        sum_where(
            &body,
            "headroom_resource_capacity",
            &[
                ("service", "physical"),
                ("resource", "cpu"),
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
                ("resource", "cpu"),
                ("unit", "hertz")
            ]
        ),
        95788.28e6
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
