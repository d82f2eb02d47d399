//! Every capacity-bearing example response of the CECSTACK document (the corrected fixtures of
//! spec §2 where the document's JSON is invalid) → the normalised series: values in base units,
//! and labels.

mod common;

use std::collections::BTreeMap;

use common::{assert_series, series};
use headroom::catalog;
use headroom::collect::Batch;
use headroom::json::{Bound, Cancel};
use headroom::platforms::cecstack::api::{self, *};
use headroom::platforms::cecstack::collect::*;
use serde_json::Value;

const GIB: f64 = 1_073_741_824.0;

fn body(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/cecstack/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `data` of a fixture, through the envelope check the client uses.
fn data(name: &str) -> Value {
    api::unwrap_envelope(name, 200, &body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn one<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn page<T: serde::de::DeserializeOwned>(name: &str, paging: Paging) -> Vec<T> {
    // Read as the client reads a page: envelope, list, record by record.
    let body = body(name);
    let data = api::envelope(name, 200, &body).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (list, _) = paging.list(data);
    let list = list.unwrap_or_else(|| panic!("{name}: no list"));
    let cancel = Cancel::default();
    let n = list.array_len(&cancel).unwrap_or(0);
    let parsed = list
        .records::<T>(name, Bound::Items(usize::MAX), &cancel, |d| d)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        (parsed.items.len(), parsed.dropped, n > 0),
        (n, 0, true),
        "{name}: every record parses"
    );
    parsed.items
}

#[test]
fn region_capacity_as_reported_and_its_disagreement() {
    let cap: Capacity = one("capacity");
    let mut b = Batch::new();
    normalise_capacity("region0", &cap, &mut b);
    let l =
        |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("region", "region0")];
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &l("vcpu", "vcpus"),
        64.0,
    );
    assert_series(&b, catalog::RESOURCE_USED.name, &l("vcpu", "vcpus"), 0.0);
    assert_series(&b, catalog::RESOURCE_FREE.name, &l("vcpu", "vcpus"), 64.0);
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATABLE.name,
        &l("memory", "bytes"),
        125.0 * GIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_USED.name,
        &l("memory", "bytes"),
        8.0 * GIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_FREE.name,
        &l("memory", "bytes"),
        125.0 * GIB,
    );
    // The example's remaining memory is not allocatable − used: reported, not hidden.
    assert_series(
        &b,
        catalog::RESOURCE_FREE_DISCREPANCY.name,
        &l("memory", "bytes"),
        8.0 * GIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_FREE_DISCREPANCY.name,
        &l("vcpu", "vcpus"),
        0.0,
    );
    let cap: Capacity = one("capacity_consistent");
    let mut b = Batch::new();
    normalise_capacity("region0", &cap, &mut b);
    assert_series(
        &b,
        catalog::RESOURCE_FREE_DISCREPANCY.name,
        &l("memory", "bytes"),
        0.0,
    );
    assert_series(&b, catalog::RESOURCE_USED.name, &l("vcpu", "vcpus"), 10.0);
}

#[test]
fn unknown_capacity_units_are_dropped_not_guessed() {
    let cap: Capacity = serde_json::from_value(
        serde_json::json!({"cpu": {"allocatable": 1, "usage": 0, "remain": 1, "unit": "颗"}}),
    )
    .unwrap_or_default();
    let mut b = Batch::new();
    normalise_capacity("r", &cap, &mut b);
    assert_eq!(
        b.samples()
            .iter()
            .filter(|s| s.labels.iter().any(|(_, v)| v == "vcpu"))
            .count(),
        0
    );
    assert_eq!(b.dropped(), 3);
    assert_eq!(capacity_unit("Gi"), Some((GIB, "bytes")));
    assert_eq!(capacity_unit("核"), Some((1.0, "cores")));
}

#[test]
fn vm_counts_by_state() {
    let vc: VmCount = one("vmcount");
    let mut b = Batch::new();
    normalise_vm_count(&vc, &mut b);
    for (state, n) in [
        ("total", 10.0),
        ("running", 5.0),
        ("stopped", 2.0),
        ("error", 0.0),
        ("other", 3.0),
    ] {
        assert_series(
            &b,
            catalog::PLATFORM_OBJECTS.name,
            &[("kind", "vm"), ("state", state)],
            n,
        );
    }
}

#[test]
fn overcommit_at_every_level() {
    let global: GlobalCpu = one("global_cpu");
    let pools: Vec<ResourcePool> = page("resource_pools", Paging::A("resourcePools"));
    let types: Vec<FlavorType> = page("flavortypes", Paging::A("flavorTypes"));
    let mut b = Batch::new();
    normalise_overcommit("region0", &global, &pools, &types, &mut b);
    let base = |level: &'static str| {
        vec![
            ("resource", "vcpu"),
            ("unit", "ratio"),
            ("level", level),
            ("region", "region0"),
        ]
    };
    assert_series(
        &b,
        catalog::RESOURCE_OVERCOMMIT_RATIO.name,
        &base("region"),
        6.0,
    );
    let mut az = base("az");
    az.push(("az", "zone1"));
    assert_series(&b, catalog::RESOURCE_OVERCOMMIT_RATIO.name, &az, 1.0);
    let mut pool = base("pool");
    pool.extend([("az", "zone1"), ("pool", "资源池 1")]);
    assert_series(&b, catalog::RESOURCE_OVERCOMMIT_RATIO.name, &pool, 2.0);
    let mut ft = base("flavor_type");
    ft.push(("flavor", "init-1c1G"));
    assert_series(&b, catalog::RESOURCE_OVERCOMMIT_RATIO.name, &ft, 1.0);
    assert_eq!(b.len(), 4);
}

#[test]
fn hosts_disks_and_unused_disks() {
    let nodes: Vec<Node> = page("nodes", Paging::B);
    let rows: Vec<PoolHost> = page("pool_hosts", Paging::A("rpHosts"));
    let pools: Vec<ResourcePool> = page("resource_pools", Paging::A("resourcePools"));
    let map = host_pools(&rows, &pools);
    assert_eq!(
        map.get(&("ecs210".to_string(), "ecs210-worker1".to_string())),
        Some(&("资源池 1".to_string(), "zone1".to_string()))
    );
    let body = body("unused_disks");
    let unused = api::envelope("unused_disks", 200, &body)
        .and_then(|d| api::read_bare_list::<LocalDisks>("unused_disks", d, &Cancel::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((unused.items.len(), unused.dropped), (2, 0));
    let unused = unused.items;
    let mut b = Batch::new();
    normalise_hosts(&nodes, &map, &unused, &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("host", "ai-zs101-h02-8u"),
            ("resource", r),
            ("unit", u),
            ("cluster", "ecs474"),
        ]
    };
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("local_disk", "bytes"),
        4.0 * 1200243695616.0 + 1919313510400.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_CAPACITY.name,
        &l("local_disk_devices", "count"),
        5.0,
    );
    assert_series(
        &b,
        catalog::HOST_RESOURCE_FREE.name,
        &l("local_disk_devices", "count"),
        0.0,
    );
    assert_series(
        &b,
        catalog::HOST_INFO.name,
        &[
            ("host", "ai-zs101-h02-8u"),
            ("cluster", "ecs474"),
            ("address", "10.253.8.105"),
            ("device_type", "normal"),
            ("os", "amd64"),
        ],
        1.0,
    );
    // The example's unused disk size 9314 is GiB, not bytes: a 9314-byte disk does not exist.
    let mut b = Batch::new();
    let mut h03: Node = serde_json::from_value(serde_json::json!({"cell": "c", "name": "ai-zs101-h03-9u", "hardDiskList": [{"diskSize": 10000000000000u64, "diskNum": 1}]})).unwrap_or_default();
    h03.arch = headroom::lenient::Text(Some("amd64".into()));
    normalise_hosts(&[h03], &BTreeMap::new(), &unused, &mut b);
    assert_series(
        &b,
        catalog::HOST_RESOURCE_FREE.name,
        &[
            ("host", "ai-zs101-h03-9u"),
            ("resource", "local_disk"),
            ("unit", "bytes"),
            ("cluster", "c"),
        ],
        9314.0 * GIB,
    );
}

#[test]
fn gpus_per_host_and_per_pool_model() {
    let nodes: Vec<Node> = page("host_list", Paging::B);
    let map = BTreeMap::from([(
        ("cecstackdf".to_string(), "compute-gpu-1".to_string()),
        ("gpu-pool".to_string(), "zone1".to_string()),
    )]);
    let mut b = Batch::new();
    normalise_hosts(&nodes, &map, &[], &mut b);
    let l = [
        ("host", "compute-gpu-1"),
        ("resource", "gpu"),
        ("unit", "count"),
        ("cluster", "cecstackdf"),
        ("pool", "gpu-pool"),
        ("az", "zone1"),
    ];
    assert_series(&b, catalog::HOST_RESOURCE_CAPACITY.name, &l, 1.0);
    assert_series(&b, catalog::HOST_RESOURCE_USED.name, &l, 0.0);
    let p = [
        ("resource", "gpu"),
        ("unit", "count"),
        ("pool", "gpu-pool"),
        ("az", "zone1"),
        ("gpu_model", "NVIDIA Tesla T4"),
    ];
    assert_series(&b, catalog::RESOURCE_CAPACITY.name, &p, 1.0);
    assert_series(&b, catalog::RESOURCE_USED.name, &p, 0.0);
    assert_eq!(
        series(
            &b,
            catalog::HOST_RESOURCE_CAPACITY.name,
            &[
                ("host", "compute-1"),
                ("resource", "gpu"),
                ("unit", "count"),
                ("cluster", "cecstackdf")
            ]
        ),
        None,
        "no GPU series for a host without GPUs"
    );
}

#[test]
fn instances_summed_with_ram_in_bytes() {
    let vms: Vec<Instance> = page("instances", Paging::A("virtualMachines"));
    let mut b = Batch::new();
    normalise_instances("region0", &vms, &BTreeMap::new(), &mut b);
    let l = |r: &'static str, u: &'static str| {
        [
            ("resource", r),
            ("unit", u),
            ("az", "baselinex86-zone"),
            ("flavor", "自定义规格"),
        ]
    };
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &l("instances", "count"),
        1.0,
    );
    // vCPU and memory are in the pool view per region, the level of the region's capacity;
    // per AZ, pool and flavor they are the ECS service's drill-down.
    let region =
        |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("region", "region0")];
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &region("vcpu", "vcpus"),
        8.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &region("memory", "bytes"),
        32.0 * GIB,
    );
    let svc = |r: &'static str, u: &'static str| {
        [
            ("service", "ecs"),
            ("resource", r),
            ("unit", u),
            ("az", "baselinex86-zone"),
            ("flavor", "自定义规格"),
        ]
    };
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &svc("vcpu", "vcpus"),
        8.0,
    );
    assert_series(
        &b,
        catalog::SERVICE_ALLOCATED.name,
        &svc("memory", "bytes"),
        32.0 * GIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &[
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", "baselinex86-zone"),
        ],
        200.0 * GIB,
    );
    let h = [
        ("host", "x86b-compute-lvm-2new"),
        ("resource", "vcpu"),
        ("unit", "vcpus"),
        ("cluster", "clusterx86"),
        ("az", "baselinex86-zone"),
    ];
    assert_series(&b, catalog::HOST_RESOURCE_ALLOCATED.name, &h, 8.0);
    assert_series(
        &b,
        catalog::TENANT_RESOURCE_ALLOCATED.name,
        &[
            ("tenant", "cke_test"),
            ("service", "ecs"),
            ("resource", "memory"),
            ("unit", "bytes"),
            ("az", "baselinex86-zone"),
        ],
        32.0 * GIB,
    );
    assert_series(
        &b,
        catalog::TENANT_RESOURCES.name,
        &[
            ("tenant", "cke_test"),
            ("service", "ecs"),
            ("az", "baselinex86-zone"),
            ("flavor", "自定义规格"),
        ],
        1.0,
    );
    // The detail answer wraps the same VM in its envelope: one record, the same numbers.
    let detail: Instance = one("instance_detail");
    assert_eq!(
        (detail.v_cpus.get(), detail.ram.get()),
        (Some(8.0), Some(34359738368.0))
    );
}

#[test]
fn instance_ram_under_4096_is_read_as_gib_and_deleted_vms_hold_nothing() {
    let vms: Vec<Instance> = serde_json::from_value(serde_json::json!([
        {"ecsId": "a", "vCpus": "2", "ram": 4, "status": "Running", "az": "z", "flavorInfo": {"name": "f", "gpu": 2, "flavorType": {"deviceType": "vgpu"}}},
        {"ecsId": "b", "vCpus": 4, "ram": 8589934592u64, "status": "softDeleted", "az": "z", "flavorInfo": {"name": "f"}}
    ]))
    .unwrap_or_default();
    let mut b = Batch::new();
    normalise_instances("r", &vms, &BTreeMap::new(), &mut b);
    let l = |r: &'static str, u: &'static str| {
        [("resource", r), ("unit", u), ("az", "z"), ("flavor", "f")]
    };
    let region = |r: &'static str, u: &'static str| [("resource", r), ("unit", u), ("region", "r")];
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &region("memory", "bytes"),
        4.0 * GIB,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &region("vcpu", "vcpus"),
        2.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &l("vgpu", "count"),
        2.0,
    );
    assert_series(
        &b,
        catalog::RESOURCE_ALLOCATED.name,
        &l("instances", "count"),
        1.0,
    );
}
