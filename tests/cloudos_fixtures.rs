//! Every capacity-bearing example response of the H3C CloudOS document (spec §2, repaired where
//! the extraction says) → the normalised series: values in base units, and labels.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{assert_series, series};
use headroom::catalog;
use headroom::collect::Batch;
use headroom::platforms::h3c_cloudos::api::{self, *};
use headroom::platforms::h3c_cloudos::collect::*;
use serde_json::Value;

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/h3c_cloudos/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The records under `key` of a list answer, read as the client reads them.
fn read<T: serde::de::DeserializeOwned>(v: &Value, key: &'static str) -> (Vec<T>, usize) {
    let text = serde_json::to_vec(v).unwrap_or_else(|e| panic!("{e}"));
    let r = api::read_list::<T>("t", &text, &[key], usize::MAX, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    (r.items, r.dropped)
}

fn items<T: serde::de::DeserializeOwned>(name: &str, key: &'static str) -> Vec<T> {
    let v = fixture(name);
    let n = v.as_array().or(v[key].as_array()).map_or(0, Vec::len);
    let (parsed, dropped) = read::<T>(&v, key);
    assert_eq!(
        (parsed.len(), dropped),
        (n, 0),
        "{name}: every record parses"
    );
    assert!(n > 0, "{name}: the fixture has records under `{key}`");
    parsed
}

#[test]
fn hypervisors_per_host_and_per_az() {
    let hvs: Vec<Hypervisor> = items("hypervisors", "hypervisors");
    // The aggregate example names another host: map this one to an AZ to see the sums.
    let azs = BTreeMap::from([("compcas2tthx42erc".to_string(), "louis".to_string())]);
    let mut b = Batch::new();
    let ratios = Ratios {
        cpu: 4.0,
        ram: 1.0,
        disk: 1.0,
    };
    normalise_hypervisors(&hvs, &azs, ratios, &mut b);
    let h = |r: &'static str, u: &'static str| {
        [
            ("host", "cvknode-yanhao"),
            ("resource", r),
            ("unit", u),
            ("az", "louis"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &h("cpu_threads", "threads"),
        16.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATED.name,
        &h("vcpu", "vcpus"),
        6.0,
    );
    // Nova's vcpus are the host's logical CPUs; what may be allocated is them times the
    // configured ratio (the API does not expose Nova's).
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATABLE.name,
        &h("vcpu", "vcpus"),
        64.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &h("memory", "bytes"),
        257342.0 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATED.name,
        &h("memory", "bytes"),
        12800.0 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_FREE.name,
        &h("memory", "bytes"),
        244542.0 * MIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &h("local_disk", "bytes"),
        3375.0 * GIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATED.name,
        &h("local_disk", "bytes"),
        240.0 * GIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_FREE.name,
        &h("local_disk", "bytes"),
        3135.0 * GIB,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATED.name,
        &h("instances", "count"),
        6.0,
    );
    assert_eq!(
        series(&b, catalog::HOST_RESOURCE_FREE.name, &h("vcpu", "vcpus")),
        None,
        "Nova reports no free vCPUs"
    );
    let z = |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("az", "louis")];
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &z("cpu_threads", "threads"),
        16.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &z("vcpu", "vcpus"),
        64.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &z("memory", "bytes"),
        12800.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_FREE.name,
        &z("local_disk", "bytes"),
        3135.0 * GIB,
    );
    assert_series(
        &b,
        catalog::HOSTS.name,
        &[("state", "up"), ("az", "louis")],
        1.0,
    );
    assert_series(
        &b,
        catalog::HOST_INFO.name,
        &[
            ("host", "cvknode-yanhao"),
            ("host_id", "2"),
            ("state", "up"),
            ("az", "louis"),
            ("address", "10.101.37.23"),
            ("device_type", "QEMU"),
        ],
        1.0,
    );
}

#[test]
fn aggregates_map_compute_hosts_to_azs() {
    let aggregates: Vec<Aggregate> = items("aggregates", "aggregates");
    // The document's os-services example is the scheduler of the `internal` zone: no host.
    let services: Vec<ComputeService> = items("os_services", "services");
    assert_eq!(services.len(), 1);
    assert_eq!(
        host_azs(&aggregates, &services),
        BTreeMap::from([("compcas31qzy7d3rc".to_string(), "louis".to_string())])
    );
}

#[test]
fn a_host_in_no_aggregate_takes_its_compute_service_zone() {
    let aggregates: Vec<Aggregate> = items("aggregates", "aggregates");
    let services: Vec<ComputeService> = serde_json::from_value(serde_json::json!([
        {"binary": "nova-compute", "host": "compcas-default", "zone": "az-default"},
        // The aggregate's AZ wins over a service row that disagrees.
        {"binary": "nova-compute", "host": "compcas31qzy7d3rc", "zone": "nova"},
        {"binary": "nova-conductor", "host": "ctl-1", "zone": "az-default"},
        {"binary": "nova-compute", "host": "odd", "zone": "internal"},
    ]))
    .unwrap();
    assert_eq!(
        host_azs(&aggregates, &services),
        BTreeMap::from([
            ("compcas-default".to_string(), "az-default".to_string()),
            ("compcas31qzy7d3rc".to_string(), "louis".to_string()),
        ])
    );
}

#[test]
fn storage_pools_in_mb_and_a_shared_pool_counted_once() {
    let pools: Vec<HostPool> = items("hostpool", "hostpool");
    let mut b = Batch::new();
    let mut seen = BTreeSet::new();
    normalise_storage_pools(&pools, &mut seen, &mut b);
    let shared = [
        ("resource", "storage"),
        ("unit", "bytes"),
        ("datastore", "iscsishared"),
        ("storage_type", "fs"),
        ("pool", "hostpool01"),
        ("cluster", "cluster1-R3830G5"),
    ];
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &shared,
        10485760.0 * MIB,
    );
    assert_series(&b, catalog::RESOURCE_FREE.name, &shared, 4045126.0 * MIB);
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &shared,
        23861978.0 * MIB,
    );
    let local = [
        ("resource", "storage"),
        ("unit", "bytes"),
        ("datastore", "isopool@cvknode30.7"),
        ("storage_type", "dir"),
        ("pool", "hostpool01"),
        ("cluster", "cluster1-R3830G5"),
    ];
    assert_series(&b, catalog::RESOURCE_CAPACITY.name, &local, 1220146.0 * MIB);
    // The same answer for a second node of the cluster: the shared pool is not counted again,
    // the node's own pool is.
    let mut second = fixture("hostpool");
    second["hostpool"][0]["nodename"] = Value::from("cvknode30.8(CVM10.125.30.252)");
    let (more, _) = read::<HostPool>(&second, "hostpool");
    let before = b.len();
    normalise_storage_pools(&more, &mut seen, &mut b);
    assert_eq!(b.len() - before, 3, "only the second node's own pool");
    let shared_rows = b
        .samples()
        .iter()
        .filter(|s| {
            s.def.name == catalog::RESOURCE_CAPACITY.name
                && s.labels
                    .iter()
                    .any(|(k, v)| *k == "datastore" && v == "iscsishared")
        })
        .count();
    assert_eq!(shared_rows, 1);
}

#[test]
fn cas_host_topology_and_utilisation() {
    let h: CasHost =
        serde_json::from_value(fixture("cas_host_detail")).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_cas_host("cluster1", &h, &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("host", "cvknode191"),
            ("resource", r),
            ("unit", u),
            ("cluster", "cluster1"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_cores", "cores"),
        8.0,
    );
    // Its threads come from the hypervisor list (Nova's vcpus), not again from CAS.
    assert_eq!(
        series(
            &b,
            catalog::HOST_RESOURCE_CAPACITY.name,
            &l("cpu_threads", "threads")
        ),
        None
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_sockets", "count"),
        2.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_hertz", "hertz"),
        16.0 * 2856.0 * 1e6,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_UTILIZATION_RATIO.name,
        &l("cpu_hertz", "ratio"),
        0.4807,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_UTILIZATION_RATIO.name,
        &l("memory", "ratio"),
        0.5219,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_UTILIZATION_RATIO.name,
        &l("local_disk", "ratio"),
        0.59,
    );
}

#[test]
fn vmware_host_topology_and_utilisation() {
    let hosts: Vec<VmwareHost> = items("vmware_hosts_detail", "hosts");
    let mut b = Batch::new();
    normalise_vmware_host("cloudos", &hosts[0], &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("host", "172.25.17.18"),
            ("resource", r),
            ("unit", u),
            ("cluster", "cloudos"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_cores", "cores"),
        4.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_threads", "threads"),
        40.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("cpu_hertz", "hertz"),
        4.0 * 2569.0 * 1e6,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_UTILIZATION_RATIO.name,
        &l("memory", "ratio"),
        0.5219,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("memory", "bytes"),
        257331.0 * MIB,
    );
    assert!(
        b.samples()
            .iter()
            .all(|s| !s.labels.iter().any(|(_, v)| v.contains("1449"))),
        "overallCpuUsage is not exported"
    );
}

#[test]
fn bare_metal_counts_and_allocated_capacity() {
    let nodes: Vec<Node> = items("baremetal_nodes", "nodes");
    let mut b = Batch::new();
    normalise_bare_metal(&nodes, &mut b);
    assert_series(
        &b,
        catalog::HOSTS.name,
        &[
            ("state", "active"),
            ("device_type", "bare_metal"),
            ("az", "iron1"),
            ("maintenance", "false"),
        ],
        1.0,
    );
    let l = |r: &'static str, u: &'static str| {
        [
            ("service", "bms"),
            ("resource", r),
            ("unit", u),
            ("az", "iron1"),
        ]
    };
    // The bare-metal service is the service view: its nodes may also be Nova hypervisors.
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &l("cpu_threads", "threads"),
        16.0,
    );
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &l("memory", "bytes"),
        262144.0 * MIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_CAPACITY.name,
        &l("local_disk", "bytes"),
        4462.0 * GIB,
    );
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &l("hosts", "count"),
        1.0,
    );
    assert_eq!(
        series(&b, catalog::SERVICE_FREE.name, &l("hosts", "count")),
        None,
        "the only node is in use"
    );
    // The node's IPMI password in `properties` is never read.
    assert!(b
        .samples()
        .iter()
        .all(|s| s.labels.iter().all(|(_, v)| v != "admin")));
}

#[test]
fn project_quotas_with_units_unlimited_and_unknown_keys() {
    let limits: Vec<ProjectLimits> = items("all_limits", "all_limits");
    let tenants = BTreeMap::from([(
        "9052ae85792143ff955c35c52e8e41bd".to_string(),
        "admin".to_string(),
    )]);
    let mut b = Batch::new();
    normalise_quotas(&limits, &tenants, &mut b);
    let q = |r: &'static str, u: &'static str, s: &'static str| {
        [
            ("tenant", "admin"),
            ("resource", r),
            ("unit", u),
            ("service", s),
        ]
    };
    assert_series(
        &b,
        catalog::QUOTA_LIMIT.name,
        &q("vcpu", "vcpus", "ecs"),
        100.0,
    );
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &q("vcpu", "vcpus", "ecs"),
        5.0,
    );
    assert_series(
        &b,
        catalog::QUOTA_LIMIT.name,
        &q("memory", "bytes", "ecs"),
        100.0 * MIB,
    );
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &q("storage", "bytes", "evs"),
        500.0 * GIB,
    );
    assert_series(
        &b,
        catalog::QUOTA_LIMIT.name,
        &q("eip", "count", "eip"),
        100.0,
    );
    assert_series(&b, catalog::QUOTA_USED.name, &q("eip", "count", "eip"), 2.0);
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &q("record_sets", "count", "dns"),
        2.0,
    );
    // 19 documented pairs in the example, each a limit and a usage.
    assert_eq!(b.len(), 19 * 2);

    let mut raw = fixture("all_limits");
    raw["all_limits"][0]["absolute"]["maxTotalCores"] = Value::from(-1);
    raw["all_limits"][0]["absolute"]["maxWidgets"] = Value::from(7);
    raw["all_limits"][0]["absolute"]["totalWidgetsUsed"] = Value::from(3);
    let (limits, _) = read::<ProjectLimits>(&raw, "all_limits");
    let mut b = Batch::new();
    normalise_quotas(&limits, &tenants, &mut b);
    assert_eq!(
        series(&b, catalog::QUOTA_LIMIT.name, &q("vcpu", "vcpus", "ecs")),
        None,
        "-1 is unlimited"
    );
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &q("vcpu", "vcpus", "ecs"),
        5.0,
    );
    assert_series(
        &b,
        catalog::QUOTA_LIMIT.name,
        &[
            ("tenant", "admin"),
            ("resource", "other"),
            ("unit", "count"),
            ("quota_key", "maxWidgets"),
        ],
        7.0,
    );
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &[
            ("tenant", "admin"),
            ("resource", "other"),
            ("unit", "count"),
            ("quota_key", "maxWidgets"),
        ],
        3.0,
    );
}

#[test]
fn usage_only_quota_answers_give_usage_only() {
    let limits: Vec<ProjectLimits> = items("all_limits_usage_only", "all_limits");
    let mut b = Batch::new();
    normalise_quotas(&limits, &BTreeMap::new(), &mut b);
    assert_eq!(
        b.samples()
            .iter()
            .filter(|s| s.def.name == catalog::QUOTA_LIMIT.name)
            .count(),
        0
    );
    assert_series(
        &b,
        catalog::QUOTA_USED.name,
        &[
            ("tenant", "eb80bac0ea3c456285e0bd74e79236ea"),
            ("resource", "instances"),
            ("unit", "count"),
            ("service", "ecs"),
        ],
        0.0,
    );
    assert_eq!(b.len(), 6);
}

#[test]
fn servers_per_az_flavor_and_tenant() {
    let servers: Vec<Server> = items("servers_detail", "servers");
    let flavors = BTreeMap::from([(
        "1304e367-70ca-42eb-bbff-4b95ba35478c".to_string(),
        "HP_4*16*60".to_string(),
    )]);
    let mut b = Batch::new();
    normalise_servers(&servers, &flavors, &BTreeMap::new(), &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &[
            ("resource", "instances"),
            ("unit", "count"),
            ("az", "cas"),
            ("flavor", "HP_4*16*60"),
        ],
        1.0,
    );
    assert_series(
        &b,
        catalog::TENANT_RESOURCES.name,
        &[
            ("tenant", "deddf9c0c4314a80b8495641b7eecdcd"),
            ("service", "ecs"),
            ("az", "cas"),
            ("flavor", "HP_4*16*60"),
        ],
        1.0,
    );
}

#[test]
fn flavors_parse_numbers_sent_as_strings_and_give_free_slots() {
    let flavors: Vec<Flavor> = items("flavors_detail", "flavors");
    assert_eq!(
        (
            flavors[0].vcpus.get(),
            flavors[0].ram.get(),
            flavors[0].disk.get()
        ),
        (Some(4.0), Some(16384.0), Some(60.0))
    );
    let hvs: Vec<Hypervisor> = items("hypervisors", "hypervisors");
    let azs = BTreeMap::from([("compcas2tthx42erc".to_string(), "louis".to_string())]);
    let one = Ratios {
        cpu: 1.0,
        ram: 1.0,
        disk: 1.0,
    };
    let b = slots(&flavors, &hvs, &azs, &[], one);
    // (16 - 6) / 4 vCPUs = 2 (memory would allow 14, disk 52).
    let hp = [
        ("flavor", "HP_4*16*60"),
        ("origin", "catalog"),
        ("az", "louis"),
    ];
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS.name, &hp, 2.0);
    // One host: nothing is left after losing it.
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS_N_MINUS_ONE.name, &hp, 0.0);
    let b = slots(&flavors, &hvs, &azs, &[], Ratios { cpu: 4.0, ..one });
    // (64 - 6) / 4 = 14.5 → 14; memory allows 14 too.
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS.name, &hp, 14.0);
}

#[test]
fn gpu_devices_counted_per_az_flavor_and_host() {
    let devices: Vec<String> = serde_json::from_value(fixture("instance_vgpu")).unwrap_or_default();
    assert_eq!(devices.len(), 2);
    let servers: Vec<Server> = items("servers_detail", "servers");
    let mut b = Batch::new();
    normalise_gpus(&[(&servers[0], "g.gpu".to_string(), devices.len())], &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &[
            ("resource", "gpu"),
            ("unit", "count"),
            ("az", "cas"),
            ("flavor", "g.gpu"),
        ],
        2.0,
    );
    // The example's hypervisor name is null: the compute host stands in.
    assert_series(
        &b,
        catalog::HOST_RESOURCE_ALLOCATED.name,
        &[
            ("host", "compcas5mbw87y2rc"),
            ("resource", "gpu"),
            ("unit", "count"),
            ("az", "cas"),
        ],
        2.0,
    );
}

#[test]
fn compute_nodes_are_read_without_their_credentials() {
    let nodes: Vec<ComputeNode> = items("computenode", "computenodes");
    assert_eq!(nodes[0].host_name.as_str(), "host191");
    assert_eq!(nodes[0].vm_type.get(), Some(2.0));
    let kept = format!("{nodes:?}");
    for secret in ["rabbit://", "cloudos", "username"] {
        assert!(
            !kept.contains(secret),
            "only the fields read are kept: {kept}"
        );
    }
}

/// Nova's VMware driver reports a whole vCenter cluster as one hypervisor: it is no host (no
/// inventory, no host series, no free slots computed over the cluster's sums), its figures go to
/// the cluster view, and the AZ counts it once.
#[test]
fn a_vmware_cluster_hypervisor_is_a_cluster_not_a_host() {
    let raw = serde_json::json!({"hypervisors": [
        {"id": "1", "hypervisor_hostname": "cvk1(CVM10.0.0.1)", "hypervisor_type": "QEMU", "state": "up", "status": "enabled",
         "service": {"host": "compcas1"}, "vcpus": 64, "vcpus_used": 10, "memory_mb": 1024, "memory_mb_used": 512, "free_ram_mb": 512,
         "local_gb": 100, "local_gb_used": 10, "free_disk_gb": 90, "running_vms": 3},
        {"id": "2", "hypervisor_hostname": "domain-c7.4f1c", "hypervisor_type": "VMware vCenter Server", "state": "up", "status": "enabled",
         "service": {"host": "vcenter1-compute"}, "vcpus": 160, "vcpus_used": 40, "memory_mb": 4096, "memory_mb_used": 1024, "free_ram_mb": 3072,
         "local_gb": 800, "local_gb_used": 80, "free_disk_gb": 720, "running_vms": 9}
    ]});
    let (hvs, _) = read::<Hypervisor>(&raw, "hypervisors");
    assert!(hvs[1].is_vmware_cluster() && !hvs[0].is_vmware_cluster());
    let azs = BTreeMap::from([
        ("compcas1".to_string(), "az1".to_string()),
        ("vcenter1-compute".to_string(), "az1".to_string()),
    ]);
    let one = Ratios {
        cpu: 1.0,
        ram: 1.0,
        disk: 1.0,
    };
    let mut b = Batch::new();
    normalise_hypervisors(&hvs, &azs, one, &mut b);
    let host_memory: f64 = b
        .samples()
        .iter()
        .filter(|s| s.def.name == catalog::HOST_RESOURCE_CAPACITY.name)
        .filter(|s| s.labels.contains(&("resource", "memory".to_string())))
        .map(|s| s.value)
        .sum();
    assert_eq!(host_memory, 1024.0 * MIB, "only the CAS host is a host");
    assert!(!b
        .samples()
        .iter()
        .any(|s| s.def.name == catalog::HOST_INFO.name
            && s.labels.iter().any(|(_, v)| v.starts_with("domain-c7"))));
    assert_series(
        &b,
        catalog::HOSTS.name,
        &[("state", "up"), ("az", "az1")],
        1.0,
    );
    let cluster = |r: &'static str, u: &'static str| {
        [
            ("resource", r),
            ("unit", u),
            ("cluster", "domain-c7.4f1c"),
            ("az", "az1"),
        ]
    };
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_CAPACITY.name,
        &cluster("memory", "bytes"),
        4096.0 * MIB,
    );
    assert_series(
        &b,
        catalog::CLUSTER_RESOURCE_ALLOCATED.name,
        &cluster("vcpu", "vcpus"),
        40.0,
    );
    // The AZ: the host and the cluster, each once.
    let az = |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("az", "az1")];
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &az("memory", "bytes"),
        5120.0 * MIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_CAPACITY.name,
        &az("cpu_threads", "threads"),
        224.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &az("vcpu", "vcpus"),
        50.0,
    );
    // Free slots: a 2-vCPU, 256 MB flavor fits 2 more times on the CAS host (its memory); the
    // cluster's sums would claim 12 more, which no single ESXi host may hold.
    let flavors: Vec<Flavor> = serde_json::from_value(
        serde_json::json!([{"id": "f", "name": "small", "vcpus": 2, "ram": 256, "disk": 0}]),
    )
    .unwrap_or_default();
    let small = [("flavor", "small"), ("origin", "catalog"), ("az", "az1")];
    let b = slots(&flavors, &hvs, &azs, &[], one);
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS.name, &small, 2.0);
    // With its ESXi host read (the document's hosts/detail and vms/detail examples: 40 threads,
    // 257331 MB, one VM of 1 vCPU and 8192 MB), the host holds (40 - 1) / 2 = 19 more (memory
    // would allow 973): 21 in the AZ. Losing the ESXi host leaves the CAS host, whose 512 MB
    // free cannot take the lost host's 8192 MB VM: 0.
    let host: VmwareHost =
        serde_json::from_value(fixture("vmware_hosts_detail")["hosts"][0].clone())
            .unwrap_or_default();
    let vms: Vec<VmwareVm> = items("vmware_vms_detail", "vms");
    assert_eq!(
        (vms[0].num_cpu.get(), vms[0].memory_size_mb.get()),
        (Some(1.0), Some(8192.0))
    );
    let esx = [EsxHost {
        cluster: "domain-c7".into(),
        host,
        vms,
    }];
    let b = slots(&flavors, &hvs, &azs, &esx, one);
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS.name, &small, 21.0);
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS_N_MINUS_ONE.name, &small, 0.0);
    // A flavor with disk: the ESXi host's share is capped by the cluster's free datastore room
    // (800 - 80 GB = 720 GB → 7 of 100 GB); the CAS host's own disk allows 90 / 100 = 0.
    let disky: Vec<Flavor> = serde_json::from_value(
        serde_json::json!([{"id": "d", "name": "disky", "vcpus": 1, "ram": 256, "disk": 100}]),
    )
    .unwrap_or_default();
    let b = slots(&disky, &hvs, &azs, &esx, one);
    // The disk a flavor needs on the host: root, ephemeral (GB) and swap (MB).
    let extra: Vec<Flavor> = serde_json::from_value(serde_json::json!([
        {"id": "e", "name": "e", "vcpus": "1", "ram": "256", "disk": "60", "OS-FLV-EXT-DATA:ephemeral": "20", "swap": "1024"}
    ]))
    .unwrap_or_default();
    let sizes = flavor_sizes(&extra, &mut Batch::new());
    assert_eq!(sizes[0].disk, 81.0 * 1_073_741_824.0);
    assert_series(
        &b,
        catalog::FLAVOR_FREE_SLOTS.name,
        &[("flavor", "disky"), ("origin", "catalog"), ("az", "az1")],
        7.0,
    );
    // In maintenance, the ESXi host takes nothing.
    let mut esx = esx;
    esx[0].host.in_maintenance_mode = headroom::lenient::Text(Some("true".into()));
    let b = slots(&flavors, &hvs, &azs, &esx, one);
    assert_series(&b, catalog::FLAVOR_FREE_SLOTS.name, &small, 2.0);
}

/// The flavor-slot collector's arithmetic on parsed answers: the catalogue's sizes, the usable
/// hosts, and the counting `placement.rs` does.
fn slots(
    flavors: &[Flavor],
    hvs: &[Hypervisor],
    azs: &BTreeMap<String, String>,
    esx: &[EsxHost],
    r: Ratios,
) -> Batch {
    let mut b = Batch::new();
    let sizes = flavor_sizes(flavors, &mut b);
    let (rooms, groups) = slot_hosts(hvs, azs, esx, r);
    headroom::placement::put_slots(&rooms, &sizes, &groups, &mut b);
    b
}
