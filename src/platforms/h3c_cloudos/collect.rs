//! CloudOS collectors: which APIs each one calls, and how their answers become the metric
//! vocabulary.
//!
//! Mapping decisions (the document's ambiguities, spec §4 and §6):
//! - Hypervisors are Nova's allocation view: `vcpus` (logical CPUs) → vcpu capacity,
//!   `vcpus_used` (vCPUs of the host's VMs) → allocated; `memory_mb`/`memory_mb_used`/
//!   `free_ram_mb` and `local_gb`/`local_gb_used`/`free_disk_gb` → capacity/allocated/free
//!   (MB ×2^20, GB ×2^30). Per AZ they are summed into `headroom_resource_*{service="ecs"}`
//!   (AZ from the host aggregates; Nova reports no free vCPUs, so none is exported).
//! - A CAS hypervisor is named `cvknode191(CVM10.1.1.1)`: the `host` label drops the manager
//!   part, so hypervisor and CAS host series of one host carry the same `host`.
//! - Storage pools (`hostpool?all=yes`) list a shared pool under every node of a cluster: a
//!   pool of type `fs` (shared) is counted once per (host pool, cluster, name, path), any other
//!   type once per node. `totalSize` → capacity, `freeSize` → free, `preAllocation`
//!   (provisioned, may exceed total) → allocated, all MB.
//! - CAS hosts: CPU hertz = `cpuCount` (logical CPUs) × `cpuFrequence` MHz; cores =
//!   sockets × cores per socket; `cpuRate`/`memRate`/`diskRate` are percent. VMware hosts:
//!   `numCpuCores` is the host's total cores and hertz = cores × `cpuMHz` (vSphere's
//!   definition); `overallCpuUsage`/`overallMemoryUsage` are not exported (the document's
//!   meaning contradicts its example, spec §6 item 32). A CAS host's memory capacity comes from
//!   the hypervisor list (the same host, not repeated); a VMware host's from `memorySize` (MB),
//!   since Nova's VMware driver reports a whole cluster as one hypervisor.
//! - Bare metal: counts by `provision_state` and maintenance; capacity per AZ sums every node,
//!   allocated the nodes with an instance, free the `available` nodes outside maintenance
//!   without an instance (Ironic's meaning; the document enumerates no states).
//! - Quotas: each `max<X>` limit beside its `total<X>Used` usage; -1 is unlimited (no limit
//!   series). RAM is MB and volume storage GB; the rest are counts. Keys the table below does not
//!   know keep a snake_case name of their own.
//! - Free flavor slots assume the configured allocation ratios (default 1.0: the API does not
//!   expose Nova's), skip hosts that are down or disabled, and are per flavor: slots of two
//!   flavors compete for the same hosts, so they must not be added up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::time::Instant;

use super::api::{
    self, host_azs, Aggregate, CasHost, CloudosApi, ComputeNode, Flavor, HostPool, Hypervisor,
    Node, Project, ProjectLimits, Server, ServiceHost, Target, VirtCluster, VmwareHost,
};
use super::CloudosCollectorOptions;
use crate::catalog;
use crate::collect::{Batch, BoxFuture, Collector, ErrorReason, PollContext, PollError};
use crate::lenient::{Num, Text};

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

fn az_of<'a>(host_az: &'a BTreeMap<String, String>, compute_host: &str) -> &'a str {
    host_az.get(compute_host).map(String::as_str).unwrap_or("")
}

/// Hypervisors: inventory, counts by state, per-host allocation, and per-AZ sums.
pub fn normalise_hypervisors(
    hvs: &[Hypervisor],
    host_az: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, &'static str, &'static str, &'static str), f64> =
        BTreeMap::new();
    for h in hvs {
        let host = h.host_name();
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let az = az_of(host_az, h.compute_host());
        let state = if h.status.as_str() == "disabled" {
            "disabled"
        } else {
            h.state.get().unwrap_or("unknown")
        };
        batch.push(
            &catalog::HOST_INFO,
            &[
                ("host", host),
                ("host_id", h.id.as_str()),
                ("state", state),
                ("az", az),
                ("address", h.host_ip.as_str()),
                ("device_type", h.hypervisor_type.as_str()),
            ],
            1.0,
        );
        *counts
            .entry((az.to_string(), state.to_string()))
            .or_insert(0.0) += 1.0;
        let l = |resource: &'static str, unit: &'static str| {
            [
                ("host", host),
                ("resource", resource),
                ("unit", unit),
                ("az", az),
            ]
        };
        for (family, def, resource, unit, num, scale) in [
            (
                "capacity",
                &catalog::HOST_RESOURCE_CAPACITY,
                "vcpu",
                "cores",
                &h.vcpus,
                1.0,
            ),
            (
                "allocated",
                &catalog::HOST_RESOURCE_ALLOCATED,
                "vcpu",
                "cores",
                &h.vcpus_used,
                1.0,
            ),
            (
                "capacity",
                &catalog::HOST_RESOURCE_CAPACITY,
                "memory",
                "bytes",
                &h.memory_mb,
                MIB,
            ),
            (
                "allocated",
                &catalog::HOST_RESOURCE_ALLOCATED,
                "memory",
                "bytes",
                &h.memory_mb_used,
                MIB,
            ),
            (
                "free",
                &catalog::HOST_RESOURCE_FREE,
                "memory",
                "bytes",
                &h.free_ram_mb,
                MIB,
            ),
            (
                "capacity",
                &catalog::HOST_RESOURCE_CAPACITY,
                "disk",
                "bytes",
                &h.local_gb,
                GIB,
            ),
            (
                "allocated",
                &catalog::HOST_RESOURCE_ALLOCATED,
                "disk",
                "bytes",
                &h.local_gb_used,
                GIB,
            ),
            (
                "free",
                &catalog::HOST_RESOURCE_FREE,
                "disk",
                "bytes",
                &h.free_disk_gb,
                GIB,
            ),
            (
                "allocated",
                &catalog::HOST_RESOURCE_ALLOCATED,
                "instances",
                "count",
                &h.running_vms,
                1.0,
            ),
        ] {
            batch.push_num(def, &l(resource, unit), num, scale);
            // Instances per AZ come from the server list, per flavor (one level only).
            if resource == "instances" {
                continue;
            }
            if let Some(v) = num.get() {
                *sums
                    .entry((az.to_string(), family, resource, unit))
                    .or_insert(0.0) += v * scale;
            }
        }
    }
    for ((az, state), n) in counts {
        batch.push(&catalog::HOSTS, &[("state", &state), ("az", &az)], n);
    }
    for ((az, family, resource, unit), v) in sums {
        let def = match family {
            "capacity" => &catalog::RESOURCE_CAPACITY,
            "allocated" => &catalog::RESOURCE_ALLOCATED,
            _ => &catalog::RESOURCE_FREE,
        };
        batch.push(
            def,
            &[
                ("service", "ecs"),
                ("resource", resource),
                ("unit", unit),
                ("az", &az),
            ],
            v,
        );
    }
}

/// Storage pools of one AZ host, each counted once across the answers in `seen`.
pub fn normalise_storage_pools(pools: &[HostPool], seen: &mut BTreeSet<String>, batch: &mut Batch) {
    for hp in pools {
        for p in &hp.storage_pools {
            let name = p.name.as_str();
            if name.is_empty() {
                batch.drop_value();
                continue;
            }
            let shared = p.kind.as_str() == "fs";
            let node = if shared { "" } else { hp.nodename.as_str() };
            let key = format!(
                "{}\u{1f}{}\u{1f}{node}\u{1f}{name}\u{1f}{}",
                hp.hp_name.as_str(),
                hp.cluster_name.as_str(),
                p.path.as_str()
            );
            if !seen.insert(key) {
                continue;
            }
            // A node's own pool is named after the node as well: names repeat across nodes.
            let datastore = if node.is_empty() {
                name.to_string()
            } else {
                format!("{name}@{}", node.split('(').next().unwrap_or(node))
            };
            let labels = [
                ("service", "datastore"),
                ("resource", "storage"),
                ("unit", "bytes"),
                ("datastore", datastore.as_str()),
                ("storage_type", p.kind.as_str()),
                ("pool", hp.hp_name.as_str()),
                ("cluster", hp.cluster_name.as_str()),
            ];
            batch.push_num(&catalog::RESOURCE_CAPACITY, &labels, &p.total_size, MIB);
            batch.push_num(&catalog::RESOURCE_FREE, &labels, &p.free_size, MIB);
            batch.push_num(
                &catalog::RESOURCE_ALLOCATED,
                &labels,
                &p.pre_allocation,
                MIB,
            );
        }
    }
}

/// One CAS host's topology and utilisation.
pub fn normalise_cas_host(cluster: &str, h: &CasHost, batch: &mut Batch) {
    let host = h.name.as_str();
    if host.is_empty() {
        batch.drop_value();
        return;
    }
    let l = |resource: &'static str, unit: &'static str| {
        [
            ("host", host),
            ("resource", resource),
            ("unit", unit),
            ("cluster", cluster),
        ]
    };
    if let (Some(s), Some(c)) = (h.cpu_sockets.get(), h.cpu_cores.get()) {
        batch.push(&catalog::HOST_RESOURCE_CAPACITY, &l("cpu", "cores"), s * c);
    }
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("cpu_sockets", "count"),
        &h.cpu_sockets,
        1.0,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("cpu_threads", "count"),
        &h.cpu_count,
        1.0,
    );
    if let (Some(n), Some(mhz)) = (h.cpu_count.get(), h.cpu_frequence.get()) {
        batch.push(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("cpu", "hertz"),
            n * mhz * 1e6,
        );
    }
    batch.push_num(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        &l("cpu", "ratio"),
        &h.cpu_rate,
        0.01,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        &l("memory", "ratio"),
        &h.mem_rate,
        0.01,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        &l("disk", "ratio"),
        &h.disk_rate,
        0.01,
    );
}

/// One VMware host's topology and utilisation.
pub fn normalise_vmware_host(cluster: &str, h: &VmwareHost, batch: &mut Batch) {
    let host = h.name.as_str();
    if host.is_empty() {
        batch.drop_value();
        return;
    }
    let l = |resource: &'static str, unit: &'static str| {
        [
            ("host", host),
            ("resource", resource),
            ("unit", unit),
            ("cluster", cluster),
        ]
    };
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("cpu", "cores"),
        &h.num_cpu_cores,
        1.0,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("cpu_sockets", "count"),
        &h.num_cpu_pkgs,
        1.0,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("cpu_threads", "count"),
        &h.num_cpu_threads,
        1.0,
    );
    if let (Some(n), Some(mhz)) = (h.num_cpu_cores.get(), h.cpu_mhz.get()) {
        batch.push(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("cpu", "hertz"),
            n * mhz * 1e6,
        );
    }
    batch.push_num(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        &l("cpu", "ratio"),
        &h.cpu_usage_percent,
        0.01,
    );
    batch.push_num(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        &l("memory", "ratio"),
        &h.memory_usage_percent,
        0.01,
    );
    // Nova's VMware driver reports a whole cluster as one hypervisor: per-host memory is here.
    batch.push_num(
        &catalog::HOST_RESOURCE_CAPACITY,
        &l("memory", "bytes"),
        &h.memory_size,
        MIB,
    );
}

fn truthy(t: &Text) -> bool {
    matches!(t.as_str(), "true" | "True" | "1")
}

/// Bare-metal nodes: counts by state and maintenance; capacity, allocated and free per AZ.
pub fn normalise_bare_metal(nodes: &[Node], batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String, &'static str), f64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, &'static str, &'static str, &'static str), f64> =
        BTreeMap::new();
    for n in nodes {
        let az = n.properties.availability_zone.as_str().to_string();
        let state = n.provision_state.get().unwrap_or("unknown").to_string();
        let maintenance = truthy(&n.maintenance);
        *counts
            .entry((
                az.clone(),
                state.clone(),
                if maintenance { "true" } else { "false" },
            ))
            .or_insert(0.0) += 1.0;
        let allocated = n.instance_uuid.get().is_some();
        let free = state == "available" && !maintenance && !allocated;
        let mut add = |family: &'static str,
                       resource: &'static str,
                       unit: &'static str,
                       num: &Num,
                       scale: f64| match num {
            Num::Value(v) => {
                *sums
                    .entry((az.clone(), family, resource, unit))
                    .or_insert(0.0) += v * scale
            }
            Num::Invalid => batch.drop_value(),
            Num::Absent => {}
        };
        let one = Num::Value(1.0);
        for (family, on) in [("capacity", true), ("allocated", allocated), ("free", free)] {
            if on {
                add(family, "nodes", "count", &one, 1.0);
                add(family, "cpu", "cores", &n.properties.cpus, 1.0);
                add(family, "memory", "bytes", &n.properties.memory_mb, MIB);
                add(family, "disk", "bytes", &n.properties.local_gb, GIB);
            }
        }
    }
    for ((az, state, maintenance), n) in counts {
        batch.push(
            &catalog::HOSTS,
            &[
                ("state", &state),
                ("device_type", "bare_metal"),
                ("az", &az),
                ("maintenance", maintenance),
            ],
            n,
        );
    }
    for ((az, family, resource, unit), v) in sums {
        let def = match family {
            "capacity" => &catalog::RESOURCE_CAPACITY,
            "allocated" => &catalog::RESOURCE_ALLOCATED,
            _ => &catalog::RESOURCE_FREE,
        };
        batch.push(
            def,
            &[
                ("service", "bms"),
                ("resource", resource),
                ("unit", unit),
                ("az", &az),
            ],
            v,
        );
    }
}

/// Known quota limits: (limit key, usage key, resource, unit, scale, service).
const QUOTA_KEYS: &[(&str, &str, &str, &str, f64, &str)] = &[
    (
        "maxTotalCores",
        "totalCoresUsed",
        "vcpu",
        "cores",
        1.0,
        "ecs",
    ),
    (
        "maxTotalRAMSize",
        "totalRAMUsed",
        "memory",
        "bytes",
        MIB,
        "ecs",
    ),
    (
        "maxTotalInstances",
        "totalInstancesUsed",
        "instances",
        "count",
        1.0,
        "ecs",
    ),
    (
        "maxComputeExtendVirtualSnaps",
        "totalComputeExtendVirtualSnaps",
        "virtual_snapshots",
        "count",
        1.0,
        "ecs",
    ),
    (
        "maxComputeExtendAutoVirtualSnaps",
        "totalComputeExtendAutoVirtualSnaps",
        "auto_virtual_snapshots",
        "count",
        1.0,
        "ecs",
    ),
    (
        "maxTotalVolumeGigabytes",
        "totalGigabytesUsed",
        "storage",
        "bytes",
        GIB,
        "evs",
    ),
    (
        "maxTotalVolumes",
        "totalVolumesUsed",
        "volumes",
        "count",
        1.0,
        "evs",
    ),
    (
        "maxTotalSnapshots",
        "totalSnapshotsUsed",
        "snapshots",
        "count",
        1.0,
        "evs",
    ),
    (
        "maxTotalBackups",
        "totalBackupsUsed",
        "backups",
        "count",
        1.0,
        "evs",
    ),
    (
        "maxTotalFloatingIps",
        "totalFloatingIpsUsed",
        "eip",
        "count",
        1.0,
        "eip",
    ),
    (
        "maxNetworks",
        "totalNetworksUsed",
        "networks",
        "count",
        1.0,
        "vpc",
    ),
    (
        "maxSubnets",
        "totalSubnetsUsed",
        "subnets",
        "count",
        1.0,
        "vpc",
    ),
    ("maxVnic", "totalVnicUsed", "vnics", "count", 1.0, "vpc"),
    ("maxVpc", "totalVpcUsed", "vpcs", "count", 1.0, "vpc"),
    (
        "maxSecurityGroups",
        "totalSecurityGroupsUsed",
        "security_groups",
        "count",
        1.0,
        "vpc",
    ),
    (
        "maxFirewalls",
        "totalFirewallsUsed",
        "firewalls",
        "count",
        1.0,
        "vpc",
    ),
    (
        "maxLoadbalancers",
        "totalLoadbalancersUsed",
        "load_balancers",
        "count",
        1.0,
        "elb",
    ),
    (
        "maxListeners",
        "totalListenersUsed",
        "listeners",
        "count",
        1.0,
        "elb",
    ),
    (
        "maxVpnServices",
        "totalVpnServicesUsed",
        "vpn_services",
        "count",
        1.0,
        "vpn",
    ),
    (
        "maxPrivateZone",
        "totalPrivateZoneUsed",
        "private_zones",
        "count",
        1.0,
        "dns",
    ),
    (
        "maxRecordSet",
        "totalRecordSetUsed",
        "record_sets",
        "count",
        1.0,
        "dns",
    ),
];

/// `FooBarBaz` → `foo_bar_baz`.
fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Project quotas: limit and usage per resource; unlimited (-1) has no limit series.
pub fn normalise_quotas(
    limits: &[ProjectLimits],
    tenants: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    for p in limits {
        let a = &p.absolute;
        let Some(project) = a
            .get("projectId")
            .map(Text::from_value)
            .and_then(|t| t.get().map(str::to_string))
        else {
            batch.drop_value();
            continue;
        };
        let tenant = tenants.get(&project).cloned().unwrap_or(project);
        let mut done = BTreeSet::new();
        let emit = |limit_key: Option<&str>,
                    used_key: &str,
                    resource: String,
                    unit: &str,
                    scale: f64,
                    service: &str,
                    batch: &mut Batch| {
            let labels = [
                ("tenant", tenant.as_str()),
                ("resource", resource.as_str()),
                ("unit", unit),
                ("service", service),
            ];
            if let Some(v) = limit_key.and_then(|k| a.get(k)) {
                match Num::from_value(v) {
                    Num::Value(x) if x < 0.0 => {}
                    n => batch.push_num(&catalog::QUOTA_LIMIT, &labels, &n, scale),
                }
            }
            if let Some(v) = a.get(used_key) {
                batch.push_num(&catalog::QUOTA_USED, &labels, &Num::from_value(v), scale);
            }
        };
        for (limit, used, resource, unit, scale, service) in QUOTA_KEYS {
            done.insert(*limit);
            done.insert(*used);
            emit(
                Some(limit),
                used,
                resource.to_string(),
                unit,
                *scale,
                service,
                batch,
            );
        }
        // Counted resources the table does not know: `max<X>` beside `total<X>Used`.
        for key in a.keys() {
            let Some(x) = key.strip_prefix("max") else {
                continue;
            };
            if done.contains(key.as_str())
                || !a.get(key).is_some_and(|v| v.is_number() || v.is_string())
            {
                continue;
            }
            let x = x.strip_prefix("Total").unwrap_or(x);
            let used = format!("total{x}Used");
            emit(Some(key.as_str()), &used, snake(x), "count", 1.0, "", batch);
        }
    }
}

/// Instances per AZ and flavor, and per tenant.
pub fn normalise_servers(
    servers: &[Server],
    flavors: &BTreeMap<String, String>,
    tenants: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    let mut per_az: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut per_tenant: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for s in servers {
        let az = s.availability_zone.as_str().to_string();
        let flavor = flavors
            .get(s.flavor.id.as_str())
            .cloned()
            .unwrap_or_else(|| s.flavor.id.as_str().to_string());
        let tenant = tenants
            .get(s.tenant_id.as_str())
            .cloned()
            .unwrap_or_else(|| s.tenant_id.as_str().to_string());
        *per_az.entry((az.clone(), flavor.clone())).or_insert(0.0) += 1.0;
        *per_tenant.entry((tenant, az, flavor)).or_insert(0.0) += 1.0;
    }
    for ((az, flavor), n) in per_az {
        batch.push(
            &catalog::RESOURCE_ALLOCATED,
            &[
                ("service", "ecs"),
                ("resource", "instances"),
                ("unit", "count"),
                ("az", &az),
                ("flavor", &flavor),
            ],
            n,
        );
    }
    for ((tenant, az, flavor), n) in per_tenant {
        batch.push(
            &catalog::TENANT_RESOURCES,
            &[
                ("tenant", &tenant),
                ("service", "ecs"),
                ("az", &az),
                ("flavor", &flavor),
            ],
            n,
        );
    }
}

/// Allocation ratios for the free-slot arithmetic.
#[derive(Debug, Clone, Copy)]
pub struct Ratios {
    pub cpu: f64,
    pub ram: f64,
    pub disk: f64,
}

/// How many more instances of each flavor fit per AZ: per host the fewest of free vCPU, memory
/// and disk over the flavor's, summed over the AZ's hosts that are up and enabled.
pub fn normalise_flavor_slots(
    flavors: &[Flavor],
    hvs: &[Hypervisor],
    host_az: &BTreeMap<String, String>,
    r: Ratios,
    batch: &mut Batch,
) {
    let mut slots: BTreeMap<(String, String), f64> = BTreeMap::new();
    for f in flavors {
        if truthy(&f.disabled) {
            continue;
        }
        let (Some(vcpus), Some(ram)) = (
            f.vcpus.get().filter(|v| *v > 0.0),
            f.ram.get().filter(|v| *v > 0.0),
        ) else {
            batch.drop_value();
            continue;
        };
        let disk = f.disk.get().unwrap_or(0.0);
        let name = if f.name.as_str().is_empty() {
            f.id.as_str()
        } else {
            f.name.as_str()
        };
        for h in hvs {
            if h.state.as_str() == "down" || h.status.as_str() == "disabled" {
                continue;
            }
            let (Some(cpus), Some(cpus_used), Some(mem), Some(mem_used)) = (
                h.vcpus.get(),
                h.vcpus_used.get(),
                h.memory_mb.get(),
                h.memory_mb_used.get(),
            ) else {
                continue;
            };
            let mut fit = ((cpus * r.cpu - cpus_used) / vcpus)
                .floor()
                .min(((mem * r.ram - mem_used) / ram).floor());
            if disk > 0.0 {
                if let (Some(d), Some(d_used)) = (h.local_gb.get(), h.local_gb_used.get()) {
                    fit = fit.min(((d * r.disk - d_used) / disk).floor());
                }
            }
            let az = az_of(host_az, h.compute_host()).to_string();
            *slots.entry((az, name.to_string())).or_insert(0.0) += fit.max(0.0);
        }
    }
    for ((az, flavor), n) in slots {
        batch.push(
            &catalog::FLAVOR_FREE_SLOTS,
            &[("flavor", &flavor), ("az", &az)],
            n,
        );
    }
}

/// GPU devices of GPU instances, per AZ and flavor, and per host.
pub fn normalise_gpus(devices: &[(&Server, String, usize)], batch: &mut Batch) {
    let mut per_az: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut per_host: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (s, flavor, n) in devices {
        let az = s.availability_zone.as_str().to_string();
        *per_az.entry((az.clone(), flavor.clone())).or_insert(0.0) += *n as f64;
        let host = s.hypervisor_hostname.get().or(s.host.get()).unwrap_or("");
        let host = host.split("(CVM").next().unwrap_or(host);
        if !host.is_empty() {
            *per_host.entry((host.to_string(), az)).or_insert(0.0) += *n as f64;
        }
    }
    for ((az, flavor), n) in per_az {
        batch.push(
            &catalog::RESOURCE_ALLOCATED,
            &[
                ("service", "ecs"),
                ("resource", "gpu"),
                ("unit", "count"),
                ("az", &az),
                ("flavor", &flavor),
            ],
            n,
        );
    }
    for ((host, az), n) in per_host {
        batch.push(
            &catalog::HOST_RESOURCE_ALLOCATED,
            &[
                ("host", &host),
                ("resource", "gpu"),
                ("unit", "count"),
                ("az", &az),
            ],
            n,
        );
    }
}

/// One CloudOS collector; `name` selects which APIs it polls.
pub struct CloudosCollector {
    name: &'static str,
    api: Arc<CloudosApi>,
    options: CloudosCollectorOptions,
}

fn parse<T: serde::de::DeserializeOwned>(
    api_name: &str,
    v: &Value,
    key: &str,
    batch: &mut Batch,
) -> Vec<T> {
    let (items, dropped) = api::parse_items::<T>(api_name, api::list(v, key));
    batch.drop_values(dropped);
    items
}

impl CloudosCollector {
    pub fn new(
        name: &'static str,
        api: Arc<CloudosApi>,
        options: CloudosCollectorOptions,
    ) -> CloudosCollector {
        CloudosCollector { name, api, options }
    }

    async fn hypervisors(
        &self,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<Vec<Hypervisor>, PollError> {
        let v = self
            .api
            .get_required(
                "hypervisors",
                &self.api.nova("/os-hypervisors/detail"),
                &[],
                Target::Plain,
                d,
            )
            .await?;
        Ok(parse(self.name, &v, "hypervisors", batch))
    }

    async fn host_azs(
        &self,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<BTreeMap<String, String>, PollError> {
        let v = self
            .api
            .get_required(
                "aggregates",
                &self.api.nova("/os-aggregates"),
                &[],
                Target::Plain,
                d,
            )
            .await?;
        let aggregates: Vec<Aggregate> = parse(self.name, &v, "aggregates", batch);
        Ok(host_azs(&aggregates))
    }

    async fn flavors(&self, d: Instant, batch: &mut Batch) -> Result<Vec<Flavor>, PollError> {
        let v = self
            .api
            .get_required(
                "flavors",
                &self.api.nova("/flavors/detail"),
                &[],
                Target::Plain,
                d,
            )
            .await?;
        Ok(parse(self.name, &v, "flavors", batch))
    }

    async fn tenant_names(&self, d: Instant) -> Result<BTreeMap<String, String>, PollError> {
        let v = self
            .api
            .get_required(
                "projects",
                "/os/kinton/v1/v3/projects",
                &[],
                Target::Plain,
                d,
            )
            .await?;
        let (projects, _) = api::parse_items::<Project>("projects", api::list(&v, "projects"));
        Ok(projects
            .into_iter()
            .filter_map(|p| {
                Some((
                    p.id.get()?.to_string(),
                    p.name.get().or(p.id.get())?.to_string(),
                ))
            })
            .collect())
    }

    /// The AZ host names whose storage pools to read: configured, or every non-internal host of
    /// the block-storage services.
    async fn storage_hosts(&self, d: Instant) -> Result<Vec<String>, PollError> {
        if let Some(h) = &self.api.settings.storage_hosts {
            return Ok(h.clone());
        }
        let v = self
            .api
            .get_required(
                "storage_hosts",
                &self.api.nova("/os-hosts"),
                &[],
                Target::BlockStorage,
                d,
            )
            .await?;
        let mut items = api::list(&v, "services");
        items.extend(api::list(&v, "hosts"));
        let (hosts, _) = api::parse_items::<ServiceHost>("storage_hosts", items);
        let names: BTreeSet<String> = hosts
            .into_iter()
            .filter(|h| h.zone.as_str() != "internal")
            .filter_map(|h| h.host_name.get().map(str::to_string))
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn run(&self, ctx: &PollContext) -> Result<Batch, PollError> {
        let d = ctx.deadline;
        let api = &self.api;
        let s = &api.settings;
        let mut batch = Batch::new();
        match self.name {
            super::HYPERVISORS => {
                let azs = self.host_azs(d, &mut batch).await?;
                let hvs = self.hypervisors(d, &mut batch).await?;
                normalise_hypervisors(&hvs, &azs, &mut batch);
            }
            super::STORAGE_POOLS => {
                let mut seen = BTreeSet::new();
                for host in self.storage_hosts(d).await? {
                    let path = api.nova(&format!("/hostpool/{host}"));
                    let Some(v) = api
                        .get(
                            "hostpool",
                            &path,
                            &[("all", "yes".to_string())],
                            Target::Plain,
                            d,
                        )
                        .await?
                    else {
                        return Err(PollError::new(ErrorReason::Http, format!("hostpool: no storage pools for host `{host}` (404); set cloudos.storage_hosts to the AZ host names")));
                    };
                    let pools: Vec<HostPool> = parse(self.name, &v, "hostpool", &mut batch);
                    normalise_storage_pools(&pools, &mut seen, &mut batch);
                }
            }
            super::VIRTUALIZATION_HOSTS => {
                let v = api
                    .get_required(
                        "computenode",
                        "/os/compute/v1/h3cloudos/computenode",
                        &[],
                        Target::Plain,
                        d,
                    )
                    .await?;
                let nodes: Vec<ComputeNode> = parse(self.name, &v, "computenodes", &mut batch);
                for node in nodes {
                    let Some(name) = node.host_name.get() else {
                        continue;
                    };
                    let kind = match node.vm_type.get() {
                        Some(2.0) => "crm",
                        Some(1.0) => "vrm",
                        _ => continue,
                    };
                    let base = format!("/os/compute/v1/cloudos/{kind}/{}/{name}", s.project_id);
                    let v = api
                        .get_required(
                            "clusters_hosts",
                            &format!("{base}/clusters-hosts"),
                            &[],
                            Target::Plain,
                            d,
                        )
                        .await?;
                    let clusters: Vec<VirtCluster> = parse(self.name, &v, "clusters", &mut batch);
                    for c in clusters {
                        let cluster = c.name.as_str();
                        if kind == "crm" {
                            for h in &c.children {
                                let Some(id) = h.mor_id.get() else { continue };
                                let v = api
                                    .get_required(
                                        "cas_host",
                                        &format!("{base}/hostDetail/{id}"),
                                        &[],
                                        Target::Plain,
                                        d,
                                    )
                                    .await?;
                                let host: CasHost = serde_json::from_value(v).map_err(|e| {
                                    PollError::new(
                                        ErrorReason::Parse,
                                        format!("cas_host: unexpected shape ({e})"),
                                    )
                                })?;
                                normalise_cas_host(cluster, &host, &mut batch);
                            }
                        } else if let Some(id) = c.mor_id.get() {
                            let v = api
                                .get_required(
                                    "vmware_hosts",
                                    &format!("{base}/clusters/{id}/hosts/detail"),
                                    &[],
                                    Target::Plain,
                                    d,
                                )
                                .await?;
                            let hosts: Vec<VmwareHost> = parse(self.name, &v, "hosts", &mut batch);
                            for h in &hosts {
                                normalise_vmware_host(cluster, h, &mut batch);
                            }
                        }
                    }
                }
            }
            super::BARE_METAL => {
                let v = api
                    .get_required(
                        "baremetal_nodes",
                        "/os/kinton/v1/v1/nodes/detail",
                        &[],
                        Target::BareMetal,
                        d,
                    )
                    .await?;
                let nodes: Vec<Node> = parse(self.name, &v, "nodes", &mut batch);
                normalise_bare_metal(&nodes, &mut batch);
            }
            super::QUOTAS => {
                let tenants = self.tenant_names(d).await?;
                let v = api
                    .get_required(
                        "all_limits",
                        "/os/kinton/v1/keystone/all-limits",
                        &[],
                        Target::Plain,
                        d,
                    )
                    .await?;
                let limits: Vec<ProjectLimits> = parse(self.name, &v, "all_limits", &mut batch);
                normalise_quotas(&limits, &tenants, &mut batch);
            }
            super::SERVERS => {
                let tenants = self.tenant_names(d).await?;
                let flavors: BTreeMap<String, String> = self
                    .flavors(d, &mut batch)
                    .await?
                    .into_iter()
                    .filter_map(|f| {
                        Some((
                            f.id.get()?.to_string(),
                            f.name.get().or(f.id.get())?.to_string(),
                        ))
                    })
                    .collect();
                let mut servers = Vec::new();
                let dropped = api.servers(d, |s| servers.push(s)).await?;
                batch.drop_values(dropped);
                normalise_servers(&servers, &flavors, &tenants, &mut batch);
            }
            super::FLAVOR_SLOTS => {
                let azs = self.host_azs(d, &mut batch).await?;
                let hvs = self.hypervisors(d, &mut batch).await?;
                let flavors = self.flavors(d, &mut batch).await?;
                let r = Ratios {
                    cpu: s.cpu_allocation_ratio,
                    ram: s.ram_allocation_ratio,
                    disk: s.disk_allocation_ratio,
                };
                normalise_flavor_slots(&flavors, &hvs, &azs, r, &mut batch);
            }
            super::GPUS => {
                let pattern = self
                    .options
                    .gpu_flavor_match
                    .as_deref()
                    .unwrap_or("gpu")
                    .to_lowercase();
                let gpu_flavors: BTreeMap<String, String> = self
                    .flavors(d, &mut batch)
                    .await?
                    .into_iter()
                    .filter(|f| f.name.as_str().to_lowercase().contains(&pattern))
                    .filter_map(|f| Some((f.id.get()?.to_string(), f.name.get()?.to_string())))
                    .collect();
                let mut servers = Vec::new();
                let dropped = api
                    .servers(d, |s| {
                        if gpu_flavors.contains_key(s.flavor.id.as_str()) {
                            servers.push(s);
                        }
                    })
                    .await?;
                batch.drop_values(dropped);
                let mut devices = Vec::new();
                for sv in &servers {
                    let Some(id) = sv.id.get() else { continue };
                    let n = api.gpu_devices(id, d).await?.len();
                    let flavor = gpu_flavors
                        .get(sv.flavor.id.as_str())
                        .cloned()
                        .unwrap_or_default();
                    devices.push((sv, flavor, n));
                }
                normalise_gpus(&devices, &mut batch);
            }
            other => {
                return Err(PollError::new(
                    ErrorReason::Parse,
                    format!("unknown CloudOS collector {other}"),
                ))
            }
        }
        Ok(batch)
    }
}

impl Collector for CloudosCollector {
    fn poll<'a>(&'a self, ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
        Box::pin(self.run(ctx))
    }
}
