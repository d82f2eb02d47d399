//! Every capacity-bearing example response of the Sangfor SCP document (spec §3, repaired as the
//! extraction says) → the normalised series: values in base units, and labels.

mod common;

use headroom::json::{Bound, Cancel, Doc};

use std::collections::BTreeMap;

use common::{assert_series, series};
use headroom::catalog;
use headroom::collect::Batch;
use headroom::platforms::sangfor_scp::api::{self, *};
use headroom::platforms::sangfor_scp::collect::*;
use serde_json::Value;

const MIB: f64 = 1_048_576.0;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/sangfor_scp/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn items<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    // Read as the client reads a page's `data`: record by record.
    let text = serde_json::to_string(&fixture(name)).unwrap_or_else(|e| panic!("{e}"));
    let doc = Doc::parse(name, text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let page =
        api::read_page::<T>(name, doc, 1000, &Cancel::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (page.records.items.len(), page.records.dropped),
        (page.raw_len, 0),
        "{name}: every record parses"
    );
    page.records.items
}

/// The records of a list, read as the client reads them.
fn records<T: serde::de::DeserializeOwned>(list: &Value) -> (Vec<T>, usize) {
    let text = serde_json::to_string(list).unwrap_or_else(|e| panic!("{e}"));
    let r = Doc::parse("t", text.as_bytes())
        .and_then(|d| d.records::<T>("t", Bound::Items(usize::MAX), &Cancel::default(), |d| d))
        .unwrap_or_else(|e| panic!("{e}"));
    (r.items, r.dropped)
}

fn one<T: serde::de::DeserializeOwned>(name: &str) -> T {
    api::parse_one(name, fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn az_names() -> BTreeMap<String, String> {
    items::<Az>("azs")
        .into_iter()
        .map(|a| (a.id.as_str().to_string(), a.name.as_str().to_string()))
        .collect()
}

#[test]
fn pool_detail_2018_physical_and_quota_view() {
    let d: AzDetail = one("az_detail_20180725");
    let mut b = Batch::new();
    normalise_pool("10.134.37.79", &d, &mut b);
    let p = |r: &'static str, u: &'static str| {
        [
            ("service", "pool_summary"),
            ("resource", r),
            ("unit", u),
            ("az", "10.134.37.79"),
        ]
    };
    // CPU hertz and memory are the pool summary too: the pool view sums the running hosts
    // (whether the pool detail counts offline hosts is not documented).
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &p("cpu_hertz", "hertz"),
        105355.97e6,
    );
    assert_series(
        &b,
        catalog::SERVICE_USED.name,
        &p("cpu_hertz", "hertz"),
        27743.74e6,
    );
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &p("memory", "bytes"),
        98304.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_USED.name,
        &p("memory", "bytes"),
        46717.49 * MIB,
    );
    // Storage and GPUs are the pool summary: datastores and the GPU API count them finer.
    let s = |r: &'static str, u: &'static str| {
        [
            ("service", "pool_summary"),
            ("resource", r),
            ("unit", u),
            ("az", "10.134.37.79"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &s("storage", "bytes"),
        3133440.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_USED.name,
        &s("storage", "bytes"),
        173357.0 * MIB,
    );
    assert_series(&b, catalog::SERVICE_CAPACITY.name, &s("gpu", "count"), 0.0);
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &s("gpu_memory", "bytes"),
        0.0,
    );
    assert!(
        b.samples()
            .iter()
            .all(|s| s.def.view != headroom::catalog::View::Pool
                || !s.labels.iter().any(|(_, v)| v == "storage" || v == "gpu")),
        "no pool-view storage or GPU from the pool detail"
    );
    // The quota view is the service view: `total` is reported as what it is, never capacity.
    let q = |r: &'static str, u: &'static str| {
        [
            ("service", "quota_view"),
            ("resource", r),
            ("unit", u),
            ("az", "10.134.37.79"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &q("vcpu", "vcpus"),
        274.0,
    );
    assert_series(&b, catalog::SERVICE_USED.name, &q("vcpu", "vcpus"), 89.0);
    assert_series(
        &b,
        catalog::SERVICE_TOTAL_REPORTED.name,
        &q("vcpu", "vcpus"),
        30.0,
    );
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &q("memory", "bytes"),
        288768.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_TOTAL_REPORTED.name,
        &q("memory", "bytes"),
        0.0,
    );
    assert!(
        b.samples()
            .iter()
            .all(|s| s.def.name != catalog::RESOURCE_ALLOCATABLE.name),
        "the quota view's total is no allocatable"
    );
    let policy = |tag: &'static str, policy: &'static str| {
        [
            ("service", "quota_view"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", "10.134.37.79"),
            ("storage_type", tag),
            ("policy", policy),
        ]
    };
    let local = policy("本地存储22222", "默认");
    assert_series(&b, catalog::SERVICE_ALLOCATED.name, &local, 1269760.0 * MIB);
    assert_series(&b, catalog::SERVICE_USED.name, &local, 409600.0 * MIB);
    let high = policy("High Performance Storage", "默认");
    assert_series(&b, catalog::SERVICE_ALLOCATED.name, &high, 465920.0 * MIB);
    // The tag's total repeats in both policy entries: reported once, without the policy.
    let total = |tag: &'static str| {
        [
            ("service", "quota_view"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", "10.134.37.79"),
            ("storage_type", tag),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_TOTAL_REPORTED.name,
        &total("High Performance Storage"),
        1044480.0 * MIB,
    );
    let tag_totals = b
        .samples()
        .iter()
        .filter(|s| s.def.name == catalog::SERVICE_TOTAL_REPORTED.name)
        .filter(|s| s.labels.contains(&("resource", "storage".to_string())))
        .count();
    assert_eq!(tag_totals, 6, "6 tags in 10 storage entries");
    assert_eq!(b.dropped(), 0);
    // 5 physical × 2 + 12 quota entries × 2 (allocated, used) + totals: 2 compute + 6 tags.
    assert_eq!(b.len(), 10 + 24 + 2 + 6);
}

#[test]
fn pool_detail_2020_uses_the_stable_resource_keys() {
    let d: AzDetail = one("az_detail_20200725");
    let mut b = Batch::new();
    normalise_pool("10.131.132.56", &d, &mut b);
    let q = |r: &'static str, u: &'static str| {
        [
            ("service", "quota_view"),
            ("resource", r),
            ("unit", u),
            ("az", "10.131.132.56"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &q("vcpu", "vcpus"),
        109.0,
    );
    assert_series(
        &b,
        catalog::SERVICE_TOTAL_REPORTED.name,
        &q("vcpu", "vcpus"),
        0.0,
    );
    // The document's own example: 119,808 MB allocated of a "total" of 24,576 MB. The total is
    // reported under its own name; nothing makes it a denominator.
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &q("memory", "bytes"),
        119808.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_TOTAL_REPORTED.name,
        &q("memory", "bytes"),
        24576.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_USED.name,
        &q("memory", "bytes"),
        20480.0 * MIB,
    );
    let p = [
        ("service", "pool_summary"),
        ("resource", "cpu_hertz"),
        ("unit", "hertz"),
        ("az", "10.131.132.56"),
    ];
    assert_series(&b, catalog::SERVICE_CAPACITY.name, &p, 62253.72e6);
}

#[test]
fn overview_counts_by_kind_and_state() {
    let env = fixture("overview");
    let o: Overview =
        api::parse_one("overview", env["data"].clone()).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_overview(&o, &mut b);
    assert_series(
        &b,
        catalog::PLATFORM_OBJECTS.name,
        &[("kind", "host"), ("state", "total")],
        2.0,
    );
    assert_series(
        &b,
        catalog::PLATFORM_OBJECTS.name,
        &[("kind", "host"), ("state", "alarm")],
        1.0,
    );
    assert_series(
        &b,
        catalog::PLATFORM_OBJECTS.name,
        &[("kind", "vm"), ("state", "running")],
        1.0,
    );
    assert_series(
        &b,
        catalog::PLATFORM_OBJECTS.name,
        &[("kind", "nfv"), ("state", "error")],
        0.0,
    );
    assert_series(
        &b,
        catalog::PLATFORM_OBJECTS.name,
        &[("kind", "az"), ("state", "online")],
        1.0,
    );
    assert_eq!(b.len(), 4 + 5 + 4 + 4);
}

#[test]
fn hosts_2018_per_host_and_per_pool_cores() {
    let hosts: Vec<Host> = items("hosts_20180725");
    let mut b = Batch::new();
    normalise_hosts(&hosts, &az_names(), &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("host", "10.132.16.6"),
            ("resource", r),
            ("unit", u),
            ("az", "AZ1612"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_hertz", "hertz"),
        26408.0e6,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_USED.name,
        &l("cpu_hertz", "hertz"),
        11883.6e6,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_cores", "cores"),
        4.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_sockets", "count"),
        1.0,
    );
    assert_eq!(
        series(
            &b,
            catalog::HOST_RESOURCE_CAPACITY.name,
            &l("cpu_threads", "threads")
        ),
        None,
        "2018 has no threads"
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_OVERCOMMIT_RATIO.name,
        &l("vcpu", "ratio"),
        2.5,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_OVERCOMMIT_RATIO.name,
        &l("memory", "ratio"),
        1.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("memory", "bytes"),
        32768.0 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_USED.name,
        &l("memory", "bytes"),
        17039.36 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("local_disk", "bytes"),
        4105435.9936523438 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("gpu", "count"),
        0.0,
    );
    assert_series(
        &b,
        catalog::HOSTS.name,
        &[("state", "running"), ("az", "AZ1612")],
        2.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &[
            ("resource", "cpu_cores"),
            ("unit", "cores"),
            ("az", "AZ1612"),
        ],
        8.0,
    );
    // Reserved memory (table 4.3.17 `reserves.memory_mb`), per host and summed per pool.
    let reserved = hosts
        .iter()
        .filter_map(|h| h.reserves.memory_mb.get())
        .sum::<f64>();
    assert!(reserved > 0.0, "the example reserves memory");
    assert_series(
        &b,
        catalog::RESOURCE_RESERVED.name,
        &[("resource", "memory"), ("unit", "bytes"), ("az", "AZ1612")],
        reserved * MIB,
    );
    // What may be allocated: 4 cores × 2.5 = 10 vCPUs per host; memory less the reserve, × 1.0.
    let host = |r: &'static str, u: &'static str| {
        [
            ("resource", r),
            ("unit", u),
            ("host", "10.132.16.6"),
            ("az", "AZ1612"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATABLE.name,
        &host("vcpu", "vcpus"),
        10.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATABLE.name,
        &host("memory", "bytes"),
        (32768.0 - 4096.0) * MIB,
    );
    let pool = |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("az", "AZ1612")];
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &pool("vcpu", "vcpus"),
        20.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &pool("memory", "bytes"),
        (2.0 * 32768.0 - 4096.0) * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &pool("memory", "bytes"),
        2.0 * 32768.0 * MIB,
    );
    assert!(
        !b.samples()
            .iter()
            .any(|s| s.def.name == catalog::RESOURCE_UNUSABLE.name),
        "both hosts run"
    );
    // The same hosts with one offline: its capacity is unusable, not capacity or allocatable.
    let mut hosts = hosts;
    hosts[1].status = headroom::lenient::Text(Some("offline".into()));
    let mut b = Batch::new();
    normalise_hosts(&hosts, &az_names(), &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &pool("memory", "bytes"),
        32768.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &pool("vcpu", "vcpus"),
        10.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_UNUSABLE.name,
        &[
            ("resource", "memory"),
            ("unit", "bytes"),
            ("az", "AZ1612"),
            ("reason", "offline"),
        ],
        32768.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_UNUSABLE.name,
        &[
            ("resource", "cpu_cores"),
            ("unit", "cores"),
            ("az", "AZ1612"),
            ("reason", "offline"),
        ],
        4.0,
    );
    assert_series(
        &b,
        catalog::HOST_INFO.name,
        &[
            ("host", "10.132.16.6"),
            ("host_id", "host-a0369f033a73"),
            ("state", "running"),
            ("az", "AZ1612"),
            ("address", "10.132.16.6"),
            ("model", "Intel(R) Xeon(R) CPU E3-1230 v3 @ 3.30GHz"),
            ("device_type", "hci"),
        ],
        1.0,
    );
}

#[test]
fn hosts_2019_threads_clusters_and_a_host_outside_any_pool() {
    let hosts: Vec<Host> = items("hosts_20190725");
    let mut b = Batch::new();
    normalise_hosts(&hosts, &az_names(), &mut b);
    let a = |r: &'static str, u: &'static str| {
        [
            ("host", "10.134.37.11"),
            ("resource", r),
            ("unit", u),
            ("az", "ba861c57-d981-4984-88e5-866f3b445b2f"),
            ("cluster", "10.134.37.12"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &a("cpu_threads", "threads"),
        40.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &a("cpu_cores", "cores"),
        20.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &a("memory", "bytes"),
        262144.0 * MIB,
    );
    // `az_id: ""`: no az label.
    let c = |r: &'static str, u: &'static str| {
        [
            ("host", "200.201.175.212"),
            ("resource", r),
            ("unit", u),
            ("cluster", "200.201.175.210"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &c("cpu_hertz", "hertz"),
        116001.76e6,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &[("resource", "cpu_cores"), ("unit", "cores")],
        20.0,
    );
}

#[test]
fn clusters_2021() {
    let clusters: Vec<Cluster> = items("clusters_20210725");
    let mut b = Batch::new();
    normalise_clusters(&clusters, &BTreeMap::new(), &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("cluster", "10.134.128.80"),
            ("resource", r),
            ("unit", u),
            ("az", "d1b77e39-c535-45f7-bccc-84a050718cc4"),
        ]
    };
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_CAPACITY.name,
        &l("cpu_hertz", "hertz"),
        287462.28e6,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_USED.name,
        &l("cpu_hertz", "hertz"),
        29710.45e6,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_CAPACITY.name,
        &l("memory", "bytes"),
        393216.0 * MIB,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_USED.name,
        &l("memory", "bytes"),
        105635.09 * MIB,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_CAPACITY.name,
        &l("storage", "bytes"),
        23543766.0 * MIB,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_USED.name,
        &l("storage", "bytes"),
        1535376.0 * MIB,
    );
    assert_eq!(b.len(), 6);
}

#[test]
fn storages_of_every_version_by_tag() {
    let names = az_names();
    let ds = |name: &'static str, tag: &'static str, az: &'static str| {
        vec![
            ("resource", "storage"),
            ("unit", "bytes"),
            ("datastore", name),
            ("storage_type", tag),
            ("az", az),
        ]
    };
    let mut b = Batch::new();
    normalise_storages(&items::<Storage>("storages_20180725"), &names, &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &ds("1605_local", "untagged", "AZ1612"),
        0.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &ds("test", "性能型存储", "AZ8224"),
        520192.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_USED.name,
        &ds("test", "性能型存储", "AZ8224"),
        1367.0 * MIB,
    );
    let mut b = Batch::new();
    normalise_storages(&items::<Storage>("storages_20190725"), &names, &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &ds(
            "虚拟存储卷1",
            "高性能存储",
            "466c3ea6-2537-4de1-b294-6fd96d8b89a4",
        ),
        15992070.0 * MIB,
    );
    let mut b = Batch::new();
    normalise_storages(&items::<Storage>("storages_20200725"), &names, &mut b);
    let mut l = ds(
        "虚拟存储卷1",
        "高性能存储",
        "466c3ea6-2537-4de1-b294-6fd96d8b89a4",
    );
    l.push(("cluster", "10.132.16.86"));
    assert_series(&b, catalog::RESOURCE_USED.name, &l, 11524259.0 * MIB);
}

#[test]
fn servers_are_summed_per_pool_host_and_tenant() {
    let servers: Vec<Server> = items("servers_20180725");
    let mut b = Batch::new();
    normalise_servers(&servers, false, &mut b);
    let p =
        |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("az", "10.134.48.24")];
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &p("instances", "count"),
        1.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &p("vcpu", "vcpus"),
        1.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &p("memory", "bytes"),
        2048.0 * MIB,
    );
    // Provisioned disks are the ECS service's figure: the pool view counts storage per
    // datastore, which VMs do not name.
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &[
            ("service", "ecs"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", "10.134.48.24"),
        ],
        2048.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &p("gpu", "count"),
        0.0,
    );
    let h = [
        ("host", "10.134.48.10"),
        ("resource", "vcpu"),
        ("unit", "vcpus"),
        ("az", "10.134.48.24"),
    ];
    assert_series(&b, catalog::HOST_RESOURCE_ALLOCATED.name, &h, 1.0);
    assert_series(
        &b,
        catalog::TENANT_RESOURCES.name,
        &[
            ("tenant", "admin"),
            ("service", "ecs"),
            ("az", "10.134.48.24"),
        ],
        1.0,
    );
    assert!(
        b.samples()
            .iter()
            .all(|s| s.def.name != catalog::INSTANCE_RESOURCE_ALLOCATED.name),
        "no per-VM series by default"
    );
    let mut b = Batch::new();
    normalise_servers(&servers, true, &mut b);
    assert_series(
        &b,
        catalog::INSTANCE_RESOURCE_ALLOCATED.name,
        &[
            ("vm", "Tiny-lxm0001"),
            ("vm_id", "ef2ec1d6-3710-4afe-880a-981c1aad3444"),
            ("resource", "memory"),
            ("unit", "bytes"),
            ("az", "10.134.48.24"),
            ("host", "10.134.48.10"),
            ("tenant", "admin"),
        ],
        2048.0 * MIB,
    );
}

#[test]
fn quotas_with_their_units_and_unknown_keys_kept() {
    let quotas: Vec<Quota> = items("quotas");
    let mut b = Batch::new();
    normalise_quotas(&quotas, &BTreeMap::new(), &BTreeMap::new(), &mut b);
    // A counted key the vocabulary has no name for: resource `other`, the key in `quota_key`.
    let l = [
        ("tenant", "0440d26b029a4d28b3af0914a7af471f"),
        ("resource", "other"),
        ("quota_key", "vMySQL_instance"),
        ("unit", "count"),
        ("service", "vmysql"),
        ("az", "5dc5dea5-075c-4dab-888f-26e7f5cf7c7a"),
    ];
    assert_series(&b, catalog::QUOTA_LIMIT.name, &l, 1.0);
    assert_series(&b, catalog::QUOTA_USED.name, &l, 0.0);
}

#[test]
fn quota_keys_map_to_the_shared_names_and_unlimited_has_no_limit() {
    let tag = "00000000-0000-0000-0000-000000000000";
    let raw = serde_json::json!([
        {"resource": "cores", "unit": "核", "namespace": "compute", "project_id": "p1",
         "separated_quotas": [{"az_id": "a1", "in_use": 12}], "az_quotas": [{"az_id": "a1", "hard_limit": -1}]},
        {"resource": format!("storage_tag::{tag}"), "unit": "MB", "namespace": "storage", "project_id": "p1",
         "separated_quotas": [{"az_id": "a1", "in_use": 1024}], "az_quotas": [{"az_id": "a1", "hard_limit": 2048}]},
        {"resource": "eip_bandwidth::line-1", "unit": "Kbps", "namespace": "network", "project_id": "p1",
         "separated_quotas": [{"az_id": GLOBAL_AZ, "in_use": 1000}], "az_quotas": [{"az_id": GLOBAL_AZ, "hard_limit": 5000}]}
    ]);
    let (quotas, _) = records::<Quota>(&raw);
    let tenants = BTreeMap::from([("p1".to_string(), "finance".to_string())]);
    let azs = BTreeMap::from([("a1".to_string(), "pool-1".to_string())]);
    let mut b = Batch::new();
    normalise_quotas(&quotas, &tenants, &azs, &mut b);
    let cores = [
        ("tenant", "finance"),
        ("resource", "vcpu"),
        ("unit", "vcpus"),
        ("service", "compute"),
        ("az", "pool-1"),
    ];
    assert_series(&b, catalog::QUOTA_USED.name, &cores, 12.0);
    assert_eq!(
        series(&b, catalog::QUOTA_LIMIT.name, &cores),
        None,
        "unlimited is not a number"
    );
    let st = [
        ("tenant", "finance"),
        ("resource", "storage"),
        ("unit", "bytes"),
        ("service", "storage"),
        ("az", "pool-1"),
        ("storage_type", "高性能存储"),
    ];
    assert_series(&b, catalog::QUOTA_LIMIT.name, &st, 2048.0 * MIB);
    let bw = [
        ("tenant", "finance"),
        ("resource", "bandwidth"),
        ("unit", "bits_per_second"),
        ("service", "network"),
        ("eip_type", "line-1"),
    ];
    assert_series(&b, catalog::QUOTA_LIMIT.name, &bw, 5_000_000.0);
    assert_series(&b, catalog::QUOTA_USED.name, &bw, 1_000_000.0);
}

#[test]
fn eip_pool_detail_ips_and_bandwidth() {
    let pool: EipPool = one("eip_pool_detail");
    let mut b = Batch::new();
    normalise_eip_pool(&pool, &mut b);
    let ips = [
        ("resource", "eip"),
        ("unit", "count"),
        ("eip_pool", "电信一区"),
    ];
    assert_series(&b, catalog::RESOURCE_CAPACITY.name, &ips, 253.0);
    assert_series(&b, catalog::RESOURCE_ALLOCATED.name, &ips, 0.0);
    assert_series(&b, catalog::RESOURCE_USED.name, &ips, 0.0);
    let up = [
        ("resource", "bandwidth"),
        ("unit", "bits_per_second"),
        ("eip_pool", "电信一区"),
        ("direction", "uplink"),
    ];
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &up,
        20_000_000.0 * 1000.0,
    );
    assert_series(&b, catalog::RESOURCE_USED.name, &up, 0.0);
    assert_eq!(b.len(), 3 + 2 * 3);
    // The list has no use counters: only the detail is a capacity source.
    let listed: Vec<EipPool> = items("eip_pools");
    assert_eq!(listed[0].ip_count.get(), Some(100.0));
    assert_eq!(listed[0].ip_used.get(), None);
}

#[test]
fn object_storage_accounts_summed_per_tenant() {
    let accounts: Vec<OssAccount> = items("oss_accounts");
    let mut b = Batch::new();
    normalise_oss(&accounts, &BTreeMap::new(), &mut b);
    let q = [
        ("tenant", "ab9b0d94949a495385b46899faa4e0e7"),
        ("resource", "object_storage"),
        ("unit", "bytes"),
        ("service", "obs"),
    ];
    // Two accounts of one tenant: 2 × 102400 KB.
    assert_series(&b, catalog::QUOTA_LIMIT.name, &q, 2.0 * 102400.0 * 1024.0);
    assert_series(&b, catalog::QUOTA_USED.name, &q, 0.0);
    assert_series(
        &b,
        catalog::RESOURCE_USED.name,
        &[("resource", "objects"), ("unit", "count")],
        7.0,
    );
}

#[test]
fn gpus_read_the_misspelled_core_list() {
    let hosts: Vec<GpuHost> = items("gpus");
    assert_eq!(hosts[0].graphics[0].gpucore.len(), 1, "`gpubcore` is read");
    let mut b = Batch::new();
    normalise_gpus("pool-1", &hosts, &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("resource", r),
            ("unit", u),
            ("az", "pool-1"),
            ("gpu_model", "Atlas 300VP"),
        ]
    };
    assert_series(&b, catalog::RESOURCE_CAPACITY.name, &l("gpu", "count"), 1.0);
    assert_series(&b, catalog::RESOURCE_USED.name, &l("gpu", "count"), 1.0);
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &l("gpu_memory", "bytes"),
        49152.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_USED.name,
        &l("gpu_memory", "bytes"),
        49152.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &l("vgpu", "count"),
        1.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &l("vgpu", "count"),
        1.0,
    );
}

#[test]
fn alarms_by_raw_level_both_versions() {
    let alarms: Vec<Alarm> = items("alarms_20190725");
    let mut b = Batch::new();
    normalise_alarms(&alarms, &BTreeMap::new(), &mut b);
    for level in ["p1", "p2"] {
        assert_series(
            &b,
            catalog::ALARMS_ACTIVE.name,
            &[
                ("source", "scp"),
                ("severity", level),
                ("az", "10.131.140.11"),
                ("object_type", "host"),
            ],
            1.0,
        );
    }
    let legacy: Vec<Alarm> = items("alarms_20180725");
    let mut b = Batch::new();
    normalise_alarms(
        &legacy,
        &BTreeMap::from([(
            "644e07b5-55b5-4f20-9fb7-22ee2fea7137".to_string(),
            "pool-x".to_string(),
        )]),
        &mut b,
    );
    assert_series(
        &b,
        catalog::ALARMS_ACTIVE.name,
        &[
            ("source", "scp"),
            ("severity", "informational"),
            ("az", "pool-x"),
            ("object_type", "host"),
        ],
        1.0,
    );
}

#[test]
fn licences_remaining_and_empty_service_time_skipped() {
    let s: LicenseSummary = one("licenses");
    let mut b = Batch::new();
    normalise_licenses(&s, &mut b);
    assert_series(
        &b,
        catalog::LICENSE_REMAINING.name,
        &[("product", "aHM"), ("kind", "software")],
        5831818.0,
    );
    assert_series(
        &b,
        catalog::LICENSE_REMAINING.name,
        &[("product", "NGAF"), ("kind", "service")],
        5831818.0,
    );
    assert_eq!(
        series(
            &b,
            catalog::LICENSE_REMAINING.name,
            &[("product", "aHM"), ("kind", "service")]
        ),
        None
    );
    assert_eq!(b.len(), 3);
}

#[test]
fn platform_identity_and_chosen_versions() {
    let v: SystemVersion = one("system_version");
    let p: PlatformInfo = one("platform");
    let versions = BTreeMap::from([("hosts", "20190725")]);
    let mut b = Batch::new();
    normalise_platform(Some(&v), Some(&p), &versions, &mut b);
    assert_series(
        &b,
        catalog::PLATFORM_INFO.name,
        &[
            ("version", "SCP6.8.0_B"),
            ("build", "SCP6.7.33_B-2022-06-07_19:45:13"),
            ("region", "本地数据中心"),
            ("mode", "private_cloud"),
        ],
        1.0,
    );
    assert_series(
        &b,
        catalog::API_VERSION_INFO.name,
        &[("api", "hosts"), ("version", "20190725")],
        1.0,
    );
}

#[test]
fn units_convert_explicitly_and_unknown_units_are_refused() {
    assert_eq!(unit_scale("mhz"), Some((1e6, "hertz")));
    assert_eq!(unit_scale("MB"), Some((MIB, "bytes")));
    assert_eq!(unit_scale("KB"), Some((1024.0, "bytes")));
    assert_eq!(unit_scale("Kbps"), Some((1000.0, "bits_per_second")));
    assert_eq!(unit_scale("核"), Some((1.0, "cores")));
    assert_eq!(unit_scale("张"), Some((1.0, "count")));
    assert_eq!(unit_scale("furlongs"), None);
    let d: AzDetail = api::parse_one("t", serde_json::json!({"physical_resources": [{"name": "cpu", "unit": "furlongs", "total": 1, "used": 1}]}))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_pool("p", &d, &mut b);
    assert_eq!(
        (b.len(), b.dropped()),
        (0, 1),
        "an unknown unit is dropped and counted, never guessed"
    );
}

#[test]
fn pool_limits_export_unless_unlimited() {
    let d: AzDetail = api::parse_one(
        "t",
        serde_json::json!({"virtual_resources": [
            {"name": "CPU", "limit": 400, "allocated": 274, "total": 0.0, "occupied": 89, "unit": "核"},
            {"name": "内存", "limit": -1, "allocated": 1024, "total": 0.0, "occupied": 512, "unit": "MB"}
        ]}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_pool("p", &d, &mut b);
    let q = |r: &'static str, u: &'static str| {
        [
            ("service", "quota_view"),
            ("resource", r),
            ("unit", u),
            ("az", "p"),
        ]
    };
    assert_series(&b, catalog::SERVICE_LIMIT.name, &q("vcpu", "vcpus"), 400.0);
    assert_eq!(
        series(&b, catalog::SERVICE_LIMIT.name, &q("memory", "bytes")),
        None,
        "-1 is unlimited"
    );
}

#[test]
fn shared_volumes_summed_per_pool_in_gigabytes() {
    let volumes: Vec<Volume> = items("volumes");
    let mut b = Batch::new();
    normalise_volumes(&volumes, &az_names(), &mut b);
    // Two shared disks of 1 GB in pool 1c13ef3e... ("AZ1612").
    let l = |r: &'static str, u: &'static str| {
        [
            ("service", "evs"),
            ("resource", r),
            ("unit", u),
            ("az", "AZ1612"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &l("storage", "bytes"),
        2.0 * 1024.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &l("volumes", "count"),
        2.0,
    );
    assert_eq!(b.len(), 2);
}

#[test]
fn pool_utilisation_is_the_newest_point_as_a_ratio() {
    let series: BTreeMap<String, MetricSeries> = one("metrics_az");
    let mut b = Batch::new();
    normalise_pool_utilization("pool-1", &series, &mut b);
    let l = |r: &'static str| {
        [
            ("service", "monitoring"),
            ("resource", r),
            ("unit", "ratio"),
            ("az", "pool-1"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_UTILIZATION_RATIO.name,
        &l("cpu_hertz"),
        50.29759119906204 / 100.0,
    );
    assert_series(
        &b,
        catalog::SERVICE_UTILIZATION_RATIO.name,
        &l("memory"),
        79.3979321365798 / 100.0,
    );
    assert_eq!(b.len(), 2, "the example has no disk.util");
}

#[test]
fn servers_are_summed_per_tenant_too() {
    let servers: Vec<Server> = items("servers_20180725");
    let mut b = Batch::new();
    normalise_servers(&servers, false, &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("tenant", "admin"),
            ("service", "ecs"),
            ("resource", r),
            ("unit", u),
            ("az", "10.134.48.24"),
        ]
    };
    assert_series(
        &b,
        catalog::TENANT_RESOURCE_ALLOCATED.name,
        &l("vcpu", "vcpus"),
        1.0,
    );
    assert_series(
        &b,
        catalog::TENANT_RESOURCE_ALLOCATED.name,
        &l("memory", "bytes"),
        2048.0 * MIB,
    );
    assert_series(
        &b,
        catalog::TENANT_RESOURCE_ALLOCATED.name,
        &l("storage", "bytes"),
        2048.0 * MIB,
    );
}

#[test]
fn the_openstack_flavor_example_is_one_size_of_its_cores_memory_and_disk() {
    let v = fixture("openstack_flavors");
    let (flavors, dropped) = records::<headroom::platforms::nova::Flavor>(&v["flavors"]);
    assert_eq!((flavors.len(), dropped), (1, 0));
    let mut b = Batch::new();
    let sizes = headroom::platforms::nova::flavor_sizes(&flavors, &mut b);
    assert_eq!(b.dropped(), 0);
    assert_eq!(sizes.len(), 1);
    let s = &sizes[0];
    assert_eq!(s.name, "1Cores_1024MB(ram)_80GB(disk)");
    assert_eq!(
        (s.vcpus, s.memory, s.disk),
        (1.0, 1024.0 * MIB, 80.0 * 1024.0 * MIB)
    );
    assert_eq!(s.origin, headroom::placement::Origin::Catalog);
}
