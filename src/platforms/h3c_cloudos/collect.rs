//! CloudOS collectors: which APIs each one calls, and how their answers become the capacity
//! model. What each series is filled from is declared beside its code (`*_EXPORTS`) and printed
//! in `METRICS.md`.
//!
//! Mapping decisions (the document's ambiguities, spec §4 and §6):
//! - Hypervisors are Nova's allocation view. Nova's `vcpus` is the host's logical CPUs:
//!   `cpu_threads` capacity; `vcpus_used` (the vCPUs of the host's instances) is `vcpu`
//!   allocated, and what may be allocated is threads × `cloudos.cpu_allocation_ratio` (the API
//!   does not expose Nova's ratio; the default 1.0 never overstates). `memory_mb`/
//!   `memory_mb_used`/`free_ram_mb` and `local_gb`/`local_gb_used`/`free_disk_gb` are memory
//!   and local disk capacity/allocated/free (MB ×2^20, GB ×2^30). Per AZ (from the host
//!   aggregates) they are the pool view.
//! - Nova's VMware driver reports a whole vCenter cluster as one hypervisor (type `VMware
//!   vCenter Server`): it is no host. Its figures go to the cluster view and count once in its
//!   AZ's pool view; its ESXi hosts are in the host view from `virtualization_hosts`; free
//!   flavor slots count it per ESXi host (the cluster's sums would overstate what fits on one
//!   host), from the VMs each host holds (`vms/detail?host=`, §1.13 #8: `numCpu`,
//!   `memorySizeMB`), templates left out, powered-off VMs kept (they keep their allocation).
//! - A CAS hypervisor is named `cvknode191(CVM10.1.1.1)`: the `host` label drops the manager
//!   part, so hypervisor and CAS host series of one host carry the same `host`.
//! - Storage pools (`hostpool?all=yes`), the pool view of storage per datastore, list a shared
//!   pool under every node of a cluster: a pool of type `fs` (shared) is counted once per (host
//!   pool, cluster, name, path), any other type once per node. `totalSize` → capacity,
//!   `freeSize` → free, `preAllocation` (provisioned, may exceed total) → allocated, all MB.
//! - CAS hosts: CPU hertz = `cpuCount` (logical CPUs) × `cpuFrequence` MHz; cores =
//!   sockets × cores per socket; `cpuRate`/`memRate`/`diskRate` are percent. A CAS host's threads
//!   and memory come from its hypervisor (not repeated). VMware hosts: `numCpuCores` is the
//!   host's total cores, hertz = cores × `cpuMHz` (vSphere's definition), threads and memory
//!   (`memorySize`, MB) are the host's own; `overallCpuUsage`/`overallMemoryUsage` are not
//!   exported (the document's meaning contradicts its example, spec §6 item 32).
//! - Bare metal is the service view `service="bms"` (nodes may also be Nova hypervisors): counts
//!   by `provision_state` and maintenance; capacity per AZ sums every node, allocated the nodes
//!   with an instance, free the `available` nodes outside maintenance without an instance
//!   (Ironic's meaning; the document enumerates no states); `properties.cpus` is threads.
//! - Quotas: each `max<X>` limit beside its `total<X>Used` usage; -1 is unlimited (no limit
//!   series). RAM is MB and volume storage GB; the rest are counts. Keys the table below does not
//!   know are `other`, the key in `quota_key`.
//! - Free flavor slots (`placement.rs` does the counting) assume the configured allocation
//!   ratios, skip hypervisors that are down or disabled and ESXi hosts in maintenance,
//!   disconnected or powered off, and are per flavor: slots of two flavors compete for the same
//!   hosts, so they must not be added up. The document's flavors carry no GPUs and its
//!   hypervisors no GPU inventory, so a configured size that needs GPUs fits nowhere (0, never a
//!   guess). An ESXi host's flavor disk goes to the cluster's datastores: the cluster's free
//!   `local_gb` caps the slots of all its hosts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::json::Records;
use tokio::time::Instant;

use super::api::{
    self, host_azs, Aggregate, CasHost, CloudosApi, ComputeNode, ComputeService, Flavor, HostPool,
    Hypervisor, Node, Project, ProjectLimits, Server, ServiceHost, Target, VirtCluster, VmwareHost,
    VmwareVm,
};
use super::CloudosCollectorOptions;
use crate::catalog::{self, exports::Export, Resource};
use crate::collect::{Batch, BoxFuture, Collector, ErrorReason, PollContext, PollError};
use crate::lenient::{Num, Text};
use crate::placement::{self, DiskGroups, HostRoom, InstanceSize, Room};

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

fn az_of<'a>(host_az: &'a BTreeMap<String, String>, compute_host: &str) -> &'a str {
    host_az.get(compute_host).map(String::as_str).unwrap_or("")
}

const AZ: &[&str] = &["az"];
const HV_HOST: &[&str] = &["host", "az"];
const HV_CLUSTER: &[&str] = &["cluster", "az"];

pub const HYPERVISORS_EXPORTS: &[Export] = &[
    Export::plain(&catalog::HOST_INFO, &["host", "host_id", "state", "az", "address", "device_type"],
        "GET /v2/{tenant}/os-hypervisors/detail", "host = hypervisor_hostname without the CAS manager part; a VMware cluster is no host"),
    Export::plain(&catalog::HOSTS, &["state", "az"], "os-hypervisors state/status", "disabled, else up/down; VMware clusters not counted"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::CpuThreads, AZ, "os-hypervisors vcpus",
        "Nova's vcpus is the host's logical CPUs; summed per AZ (host aggregates) over the hypervisors that are up and enabled, VMware clusters once"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::CpuThreads, &["az", "reason"], "os-hypervisors vcpus of hypervisors down (offline) or disabled (disabled)",
        "left out of capacity, allocatable and free"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::Memory, &["az", "reason"], "os-hypervisors memory_mb (down or disabled)", "MB x 2^20"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::LocalDisk, &["az", "reason"], "os-hypervisors local_gb (down or disabled)", "GB x 2^30"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Vcpu, AZ, "os-hypervisors vcpus_used", "vCPUs of the hosts' instances, summed per AZ"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Vcpu, AZ, "os-hypervisors vcpus x cloudos.cpu_allocation_ratio",
        "the API does not expose Nova's allocation ratio: the configured one (default 1.0, which never overstates)"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Memory, AZ, "os-hypervisors memory_mb", "MB x 2^20, summed per AZ"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Memory, AZ, "os-hypervisors memory_mb x cloudos.ram_allocation_ratio", "MB x 2^20, usable hypervisors"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::LocalDisk, AZ, "os-hypervisors local_gb x cloudos.disk_allocation_ratio", "GB x 2^30, usable hypervisors"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Memory, AZ, "os-hypervisors memory_mb_used", "MB x 2^20"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Memory, AZ, "os-hypervisors free_ram_mb", "MB x 2^20"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::LocalDisk, AZ, "os-hypervisors local_gb", "GB x 2^30"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::LocalDisk, AZ, "os-hypervisors local_gb_used", "GB x 2^30"),
    Export::of(&catalog::RESOURCE_FREE, Resource::LocalDisk, AZ, "os-hypervisors free_disk_gb", "GB x 2^30"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::CpuThreads, HV_HOST, "os-hypervisors vcpus", "logical CPUs"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vcpu, HV_HOST, "os-hypervisors vcpus_used", "vCPUs"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Vcpu, HV_HOST, "os-hypervisors vcpus x cloudos.cpu_allocation_ratio", "vCPUs; 0 on a hypervisor down or disabled"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Memory, HV_HOST, "os-hypervisors memory_mb x cloudos.ram_allocation_ratio", "MB x 2^20; 0 down or disabled"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::LocalDisk, HV_HOST, "os-hypervisors local_gb x cloudos.disk_allocation_ratio", "GB x 2^30; 0 down or disabled"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::Memory, HV_HOST, "os-hypervisors memory_mb", "MB x 2^20"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Memory, HV_HOST, "os-hypervisors memory_mb_used", "MB x 2^20"),
    Export::of(&catalog::HOST_RESOURCE_FREE, Resource::Memory, HV_HOST, "os-hypervisors free_ram_mb", "MB x 2^20"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::LocalDisk, HV_HOST, "os-hypervisors local_gb", "GB x 2^30"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::LocalDisk, HV_HOST, "os-hypervisors local_gb_used", "GB x 2^30"),
    Export::of(&catalog::HOST_RESOURCE_FREE, Resource::LocalDisk, HV_HOST, "os-hypervisors free_disk_gb", "GB x 2^30"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Instances, HV_HOST, "os-hypervisors running_vms", "instances"),
    Export::of(&catalog::CLUSTER_RESOURCE_CAPACITY, Resource::CpuThreads, HV_CLUSTER, "os-hypervisors vcpus of a VMware cluster hypervisor",
        "cluster = hypervisor_hostname; its ESXi hosts are in the host view (virtualization_hosts)"),
    Export::of(&catalog::CLUSTER_RESOURCE_ALLOCATED, Resource::Vcpu, HV_CLUSTER, "os-hypervisors vcpus_used (VMware cluster)", "vCPUs"),
    Export::of(&catalog::CLUSTER_RESOURCE_CAPACITY, Resource::Memory, HV_CLUSTER, "os-hypervisors memory_mb (VMware cluster)", "MB x 2^20"),
    Export::of(&catalog::CLUSTER_RESOURCE_ALLOCATED, Resource::Memory, HV_CLUSTER, "os-hypervisors memory_mb_used (VMware cluster)", "MB x 2^20"),
    Export::of(&catalog::CLUSTER_RESOURCE_FREE, Resource::Memory, HV_CLUSTER, "os-hypervisors free_ram_mb (VMware cluster)", "MB x 2^20"),
    Export::of(&catalog::CLUSTER_RESOURCE_CAPACITY, Resource::LocalDisk, HV_CLUSTER, "os-hypervisors local_gb (VMware cluster)", "GB x 2^30"),
    Export::of(&catalog::CLUSTER_RESOURCE_ALLOCATED, Resource::LocalDisk, HV_CLUSTER, "os-hypervisors local_gb_used (VMware cluster)", "GB x 2^30"),
    Export::of(&catalog::CLUSTER_RESOURCE_FREE, Resource::LocalDisk, HV_CLUSTER, "os-hypervisors free_disk_gb (VMware cluster)", "GB x 2^30"),
    Export::of(&catalog::CLUSTER_RESOURCE_ALLOCATED, Resource::Instances, HV_CLUSTER, "os-hypervisors running_vms (VMware cluster)", "instances"),
];

/// Why a hypervisor cannot take instances: its compute service is down (`offline`) or disabled
/// for scheduling (`disabled`); `None` when it can.
pub fn unusable_reason(h: &Hypervisor) -> Option<&'static str> {
    if h.state.as_str() == "down" {
        Some("offline")
    } else if h.status.as_str() == "disabled" {
        Some("disabled")
    } else {
        None
    }
}

/// Hypervisors: inventory, counts by state, per-host (or per VMware cluster) allocation, and
/// per-AZ sums into the pool view (of the hypervisors that can take instances; the others'
/// capacity is `unusable`).
pub fn normalise_hypervisors(
    hvs: &[Hypervisor],
    host_az: &BTreeMap<String, String>,
    ratios: Ratios,
    batch: &mut Batch,
) {
    use catalog::{
        HOST_RESOURCE_ALLOCATABLE as H_ALLOCATABLE, HOST_RESOURCE_ALLOCATED as H_ALLOCATED,
        HOST_RESOURCE_CAPACITY as H_CAPACITY, HOST_RESOURCE_FREE as H_FREE,
    };
    let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, &'static str, Resource), f64> = BTreeMap::new();
    let mut excluded: BTreeMap<(String, &'static str, Resource), f64> = BTreeMap::new();
    for h in hvs {
        let host = h.host_name();
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let az = az_of(host_az, h.compute_host());
        let cluster = h.is_vmware_cluster();
        let state = if h.status.as_str() == "disabled" {
            "disabled"
        } else {
            h.state.get().unwrap_or("unknown")
        };
        if !cluster {
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
        }
        let unusable = unusable_reason(h);
        // What may be allocated: capacity × the configured ratio; nothing on a hypervisor that
        // takes no instances.
        let allocatable = |n: &Num, ratio: f64| match n.get() {
            Some(_) if unusable.is_some() => Num::Value(0.0),
            Some(v) => Num::Value(v * ratio),
            None => Num::Absent,
        };
        let (vcpu_room, memory_room, disk_room) = (
            allocatable(&h.vcpus, ratios.cpu),
            allocatable(&h.memory_mb, ratios.ram),
            allocatable(&h.local_gb, ratios.disk),
        );
        for (def, resource, num, scale) in [
            (&H_CAPACITY, Resource::CpuThreads, &h.vcpus, 1.0),
            (&H_ALLOCATED, Resource::Vcpu, &h.vcpus_used, 1.0),
            (&H_ALLOCATABLE, Resource::Vcpu, &vcpu_room, 1.0),
            (&H_CAPACITY, Resource::Memory, &h.memory_mb, MIB),
            (&H_ALLOCATABLE, Resource::Memory, &memory_room, MIB),
            (&H_ALLOCATED, Resource::Memory, &h.memory_mb_used, MIB),
            (&H_FREE, Resource::Memory, &h.free_ram_mb, MIB),
            (&H_CAPACITY, Resource::LocalDisk, &h.local_gb, GIB),
            (&H_ALLOCATABLE, Resource::LocalDisk, &disk_room, GIB),
            (&H_ALLOCATED, Resource::LocalDisk, &h.local_gb_used, GIB),
            (&H_FREE, Resource::LocalDisk, &h.free_disk_gb, GIB),
            (&H_ALLOCATED, Resource::Instances, &h.running_vms, 1.0),
        ] {
            if cluster {
                // The cluster view has no allocatable; the pool view sums it below.
                let cluster_def = match def.name {
                    n if n == H_CAPACITY.name => Some(&catalog::CLUSTER_RESOURCE_CAPACITY),
                    n if n == H_ALLOCATED.name => Some(&catalog::CLUSTER_RESOURCE_ALLOCATED),
                    n if n == H_FREE.name => Some(&catalog::CLUSTER_RESOURCE_FREE),
                    _ => None,
                };
                if let Some(d) = cluster_def {
                    batch.put_num(d, resource, &[("cluster", host), ("az", az)], num, scale);
                }
            } else {
                batch.put_num(def, resource, &[("host", host), ("az", az)], num, scale);
            }
            // Instances per AZ come from the server list, per flavor (one source only).
            if resource == Resource::Instances {
                continue;
            }
            let Some(v) = num.get() else { continue };
            // A host that cannot take instances adds its capacity to `unusable`, nothing to
            // allocatable or free; what its instances hold stays allocated.
            let family = match unusable {
                None => def.name,
                Some(_) if def.name == H_ALLOCATED.name => def.name,
                Some(reason) if def.name == H_CAPACITY.name => {
                    *excluded
                        .entry((az.to_string(), reason, resource))
                        .or_insert(0.0) += v * scale;
                    continue;
                }
                Some(_) => continue,
            };
            *sums
                .entry((az.to_string(), family, resource))
                .or_insert(0.0) += v * scale;
        }
    }
    for ((az, state), n) in counts {
        batch.push(&catalog::HOSTS, &[("state", &state), ("az", &az)], n);
    }
    for ((az, reason, resource), v) in excluded {
        batch.put(
            &catalog::RESOURCE_UNUSABLE,
            resource,
            &[("az", &az), ("reason", reason)],
            v,
        );
    }
    for ((az, family, resource), v) in sums {
        let def = match family {
            f if f == H_CAPACITY.name => &catalog::RESOURCE_CAPACITY,
            f if f == H_ALLOCATED.name => &catalog::RESOURCE_ALLOCATED,
            f if f == H_ALLOCATABLE.name => &catalog::RESOURCE_ALLOCATABLE,
            _ => &catalog::RESOURCE_FREE,
        };
        batch.put(def, resource, &[("az", &az)], v);
    }
}

const STORAGE_POOL: &[&str] = &["datastore", "storage_type", "pool", "cluster"];

pub const STORAGE_POOLS_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Storage, STORAGE_POOL, "GET /v2/{tenant}/hostpool/{host}?all=yes storagePools[].totalSize",
        "MB x 2^20; a shared pool (type fs) once per (host pool, cluster, name, path), others once per node; pool = host pool"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Storage, STORAGE_POOL, "hostpool storagePools[].freeSize", "MB x 2^20"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Storage, STORAGE_POOL, "hostpool storagePools[].preAllocation",
        "MB x 2^20: provisioned, may exceed the total"),
];

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
                ("datastore", datastore.as_str()),
                ("storage_type", p.kind.as_str()),
                ("pool", hp.hp_name.as_str()),
                ("cluster", hp.cluster_name.as_str()),
            ];
            let st = Resource::Storage;
            batch.put_num(&catalog::RESOURCE_CAPACITY, st, &labels, &p.total_size, MIB);
            batch.put_num(&catalog::RESOURCE_FREE, st, &labels, &p.free_size, MIB);
            batch.put_num(
                &catalog::RESOURCE_ALLOCATED,
                st,
                &labels,
                &p.pre_allocation,
                MIB,
            );
        }
    }
}

const VIRT_HOST: &[&str] = &["host", "cluster"];

pub const VIRTUALIZATION_HOSTS_EXPORTS: &[Export] = &[
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::CpuCores, VIRT_HOST, "CAS hostDetail cpuSockets x cpuCores; VMware hosts/detail numCpuCores", "cores"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::CpuSockets, VIRT_HOST, "CAS cpuSockets; VMware numCpuPkgs", "sockets"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::CpuThreads, VIRT_HOST, "VMware numCpuThreads",
        "threads (a CAS host's come from its hypervisor: Nova's vcpus, not repeated)"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::CpuHertz, VIRT_HOST, "CAS cpuCount x cpuFrequence; VMware numCpuCores x cpuMHz", "MHz x 10^6"),
    Export::of(&catalog::HOST_RESOURCE_UTILIZATION_RATIO, Resource::CpuHertz, VIRT_HOST, "CAS cpuRate; VMware cpuUsagePercent", "percent / 100"),
    Export::of(&catalog::HOST_RESOURCE_UTILIZATION_RATIO, Resource::Memory, VIRT_HOST, "CAS memRate; VMware memoryUsagePercent", "percent / 100"),
    Export::of(&catalog::HOST_RESOURCE_UTILIZATION_RATIO, Resource::LocalDisk, VIRT_HOST, "CAS diskRate", "percent / 100"),
    Export::of(&catalog::HOST_RESOURCE_CAPACITY, Resource::Memory, VIRT_HOST, "VMware memorySize",
        "MB x 2^20 (a CAS host's memory comes from its hypervisor; Nova reports a VMware cluster as one hypervisor)"),
    // An ESXi host's share of its cluster's allocation (Nova has only the cluster's), so that the
    // host view, and N-1 on top of it, subtracts what the VMware VMs hold.
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vcpu, VIRT_HOST, "VMware vms/detail?host= numCpu",
        "vCPUs of the host's VMs, templates left out, powered-off VMs kept (they keep their allocation)"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Memory, VIRT_HOST, "VMware vms/detail?host= memorySizeMB", "MB x 2^20, as vCPUs"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Vcpu, VIRT_HOST, "VMware numCpuThreads x cloudos.cpu_allocation_ratio",
        "0 on a host in maintenance, disconnected or powered off"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Memory, VIRT_HOST, "VMware memorySize x cloudos.ram_allocation_ratio", "MB x 2^20; 0 as vCPUs"),
];

/// What an ESXi host's VMs are given: (vCPUs, memory bytes). Templates hold nothing; VMs that
/// are powered off keep their allocation.
pub fn esx_allocated(vms: &[VmwareVm]) -> (f64, f64) {
    vms.iter()
        .filter(|v| !truthy(&v.template))
        .fold((0.0, 0.0), |(c, m), v| {
            (
                c + v.num_cpu.get().unwrap_or(0.0),
                m + v.memory_size_mb.get().unwrap_or(0.0) * MIB,
            )
        })
}

/// An ESXi host's allocation and what it may allocate (its own threads and memory at the
/// target's ratios; 0 where it takes no instances).
pub fn normalise_esx_allocation(cluster: &str, e: &EsxHost, r: Ratios, batch: &mut Batch) {
    let host = e.host.name.as_str();
    if host.is_empty() {
        return;
    }
    let l = [("host", host), ("cluster", cluster)];
    let (cpus, ram) = esx_allocated(&e.vms);
    batch.put(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vcpu, &l, cpus);
    batch.put(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Memory, &l, ram);
    let usable = if esx_usable(&e.host) { 1.0 } else { 0.0 };
    if let Some(threads) = e.host.num_cpu_threads.get() {
        batch.put(
            &catalog::HOST_RESOURCE_ALLOCATABLE,
            Resource::Vcpu,
            &l,
            usable * threads * r.cpu,
        );
    }
    if let Some(mb) = e.host.memory_size.get() {
        batch.put(
            &catalog::HOST_RESOURCE_ALLOCATABLE,
            Resource::Memory,
            &l,
            usable * mb * MIB * r.ram,
        );
    }
}

/// One CAS host's topology and utilisation.
pub fn normalise_cas_host(cluster: &str, h: &CasHost, batch: &mut Batch) {
    let host = h.name.as_str();
    if host.is_empty() {
        batch.drop_value();
        return;
    }
    let l = [("host", host), ("cluster", cluster)];
    use catalog::{HOST_RESOURCE_CAPACITY as CAP, HOST_RESOURCE_UTILIZATION_RATIO as UTIL};
    if let (Some(s), Some(c)) = (h.cpu_sockets.get(), h.cpu_cores.get()) {
        batch.put(&CAP, Resource::CpuCores, &l, s * c);
    }
    batch.put_num(&CAP, Resource::CpuSockets, &l, &h.cpu_sockets, 1.0);
    if let (Some(n), Some(mhz)) = (h.cpu_count.get(), h.cpu_frequence.get()) {
        batch.put(&CAP, Resource::CpuHertz, &l, n * mhz * 1e6);
    }
    batch.put_num(&UTIL, Resource::CpuHertz, &l, &h.cpu_rate, 0.01);
    batch.put_num(&UTIL, Resource::Memory, &l, &h.mem_rate, 0.01);
    batch.put_num(&UTIL, Resource::LocalDisk, &l, &h.disk_rate, 0.01);
}

/// One VMware host's topology and utilisation.
pub fn normalise_vmware_host(cluster: &str, h: &VmwareHost, batch: &mut Batch) {
    let host = h.name.as_str();
    if host.is_empty() {
        batch.drop_value();
        return;
    }
    let l = [("host", host), ("cluster", cluster)];
    use catalog::{HOST_RESOURCE_CAPACITY as CAP, HOST_RESOURCE_UTILIZATION_RATIO as UTIL};
    batch.put_num(&CAP, Resource::CpuCores, &l, &h.num_cpu_cores, 1.0);
    batch.put_num(&CAP, Resource::CpuSockets, &l, &h.num_cpu_pkgs, 1.0);
    batch.put_num(&CAP, Resource::CpuThreads, &l, &h.num_cpu_threads, 1.0);
    if let (Some(n), Some(mhz)) = (h.num_cpu_cores.get(), h.cpu_mhz.get()) {
        batch.put(&CAP, Resource::CpuHertz, &l, n * mhz * 1e6);
    }
    batch.put_num(&UTIL, Resource::CpuHertz, &l, &h.cpu_usage_percent, 0.01);
    batch.put_num(&UTIL, Resource::Memory, &l, &h.memory_usage_percent, 0.01);
    // Nova's VMware driver reports a whole cluster as one hypervisor: per-host memory is here.
    batch.put_num(&CAP, Resource::Memory, &l, &h.memory_size, MIB);
}

fn truthy(t: &Text) -> bool {
    matches!(t.as_str(), "true" | "True" | "1")
}

const BMS: &[&str] = &["az"];

pub const BARE_METAL_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::HOSTS,
        &["state", "device_type", "az", "maintenance"],
        "GET /v1/nodes/detail provision_state, maintenance",
        "nodes counted per AZ, provision state and maintenance (device_type bare_metal)",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "bms",
        Resource::Hosts,
        BMS,
        "nodes/detail",
        "every node, per AZ",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "bms",
        Resource::Hosts,
        BMS,
        "nodes/detail instance_uuid",
        "nodes with an instance",
    ),
    Export::service(
        &catalog::SERVICE_FREE,
        "bms",
        Resource::Hosts,
        BMS,
        "nodes/detail provision_state, maintenance",
        "available nodes outside maintenance without an instance (Ironic's meaning)",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "bms",
        Resource::CpuThreads,
        BMS,
        "nodes/detail properties.cpus",
        "Ironic's cpus: logical CPUs",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "bms",
        Resource::CpuThreads,
        BMS,
        "properties.cpus of nodes with an instance",
        "logical CPUs",
    ),
    Export::service(
        &catalog::SERVICE_FREE,
        "bms",
        Resource::CpuThreads,
        BMS,
        "properties.cpus of free nodes",
        "logical CPUs",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "bms",
        Resource::Memory,
        BMS,
        "properties.memory_mb",
        "MB x 2^20",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "bms",
        Resource::Memory,
        BMS,
        "properties.memory_mb of nodes with an instance",
        "MB x 2^20",
    ),
    Export::service(
        &catalog::SERVICE_FREE,
        "bms",
        Resource::Memory,
        BMS,
        "properties.memory_mb of free nodes",
        "MB x 2^20",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "bms",
        Resource::LocalDisk,
        BMS,
        "properties.local_gb",
        "GB x 2^30",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "bms",
        Resource::LocalDisk,
        BMS,
        "properties.local_gb of nodes with an instance",
        "GB x 2^30",
    ),
    Export::service(
        &catalog::SERVICE_FREE,
        "bms",
        Resource::LocalDisk,
        BMS,
        "properties.local_gb of free nodes",
        "GB x 2^30",
    ),
];

/// Bare-metal nodes: counts by state and maintenance; the bare-metal service's capacity,
/// allocated and free per AZ (service view: nodes that may also be Nova hypervisors).
pub fn normalise_bare_metal(nodes: &[Node], batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String, &'static str), f64> = BTreeMap::new();
    let mut sums: BTreeMap<(String, u8, Resource), f64> = BTreeMap::new();
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
        let mut add = |family: u8, resource: Resource, num: &Num, scale: f64| match num {
            Num::Value(v) => {
                *sums.entry((az.clone(), family, resource)).or_insert(0.0) += v * scale
            }
            Num::Invalid => batch.drop_value(),
            Num::Absent => {}
        };
        let one = Num::Value(1.0);
        for (family, on) in [(0, true), (1, allocated), (2, free)] {
            if on {
                add(family, Resource::Hosts, &one, 1.0);
                add(family, Resource::CpuThreads, &n.properties.cpus, 1.0);
                add(family, Resource::Memory, &n.properties.memory_mb, MIB);
                add(family, Resource::LocalDisk, &n.properties.local_gb, GIB);
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
    for ((az, family, resource), v) in sums {
        let def = match family {
            0 => &catalog::SERVICE_CAPACITY,
            1 => &catalog::SERVICE_ALLOCATED,
            _ => &catalog::SERVICE_FREE,
        };
        batch.put(def, resource, &[("service", "bms"), ("az", &az)], v);
    }
}

/// Known quota limits: (limit key, usage key, resource, scale, service).
const QUOTA_KEYS: &[(&str, &str, Resource, f64, &str)] = &[
    (
        "maxTotalCores",
        "totalCoresUsed",
        Resource::Vcpu,
        1.0,
        "ecs",
    ),
    (
        "maxTotalRAMSize",
        "totalRAMUsed",
        Resource::Memory,
        MIB,
        "ecs",
    ),
    (
        "maxTotalInstances",
        "totalInstancesUsed",
        Resource::Instances,
        1.0,
        "ecs",
    ),
    (
        "maxComputeExtendVirtualSnaps",
        "totalComputeExtendVirtualSnaps",
        Resource::VirtualSnapshots,
        1.0,
        "ecs",
    ),
    (
        "maxComputeExtendAutoVirtualSnaps",
        "totalComputeExtendAutoVirtualSnaps",
        Resource::AutoVirtualSnapshots,
        1.0,
        "ecs",
    ),
    (
        "maxTotalVolumeGigabytes",
        "totalGigabytesUsed",
        Resource::Storage,
        GIB,
        "evs",
    ),
    (
        "maxTotalVolumes",
        "totalVolumesUsed",
        Resource::Volumes,
        1.0,
        "evs",
    ),
    (
        "maxTotalSnapshots",
        "totalSnapshotsUsed",
        Resource::Snapshots,
        1.0,
        "evs",
    ),
    (
        "maxTotalBackups",
        "totalBackupsUsed",
        Resource::Backups,
        1.0,
        "evs",
    ),
    (
        "maxTotalFloatingIps",
        "totalFloatingIpsUsed",
        Resource::Eip,
        1.0,
        "eip",
    ),
    (
        "maxNetworks",
        "totalNetworksUsed",
        Resource::Networks,
        1.0,
        "vpc",
    ),
    (
        "maxSubnets",
        "totalSubnetsUsed",
        Resource::Subnets,
        1.0,
        "vpc",
    ),
    ("maxVnic", "totalVnicUsed", Resource::Vnics, 1.0, "vpc"),
    ("maxVpc", "totalVpcUsed", Resource::Vpcs, 1.0, "vpc"),
    (
        "maxSecurityGroups",
        "totalSecurityGroupsUsed",
        Resource::SecurityGroups,
        1.0,
        "vpc",
    ),
    (
        "maxFirewalls",
        "totalFirewallsUsed",
        Resource::Firewalls,
        1.0,
        "vpc",
    ),
    (
        "maxLoadbalancers",
        "totalLoadbalancersUsed",
        Resource::LoadBalancers,
        1.0,
        "elb",
    ),
    (
        "maxListeners",
        "totalListenersUsed",
        Resource::Listeners,
        1.0,
        "elb",
    ),
    (
        "maxVpnServices",
        "totalVpnServicesUsed",
        Resource::VpnServices,
        1.0,
        "vpn",
    ),
    (
        "maxPrivateZone",
        "totalPrivateZoneUsed",
        Resource::PrivateZones,
        1.0,
        "dns",
    ),
    (
        "maxRecordSet",
        "totalRecordSetUsed",
        Resource::RecordSets,
        1.0,
        "dns",
    ),
];

const QUOTA: &[&str] = &["tenant", "service", "quota_key"];

pub const QUOTAS_EXPORTS: &[Export] = &[
    Export::of(&catalog::QUOTA_LIMIT, Resource::Vcpu, QUOTA, "GET /os/kinton/v1/keystone/all-limits absolute.maxTotalCores",
        "-1 (unlimited) has no series; every key of the table in collect.rs maps the same way (max<X> limit, total<X>Used use)"),
    Export::of(&catalog::QUOTA_USED, Resource::Vcpu, QUOTA, "all-limits absolute.totalCoresUsed", "vCPUs"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Memory, QUOTA, "all-limits maxTotalRAMSize", "MB x 2^20"),
    Export::of(&catalog::QUOTA_USED, Resource::Memory, QUOTA, "all-limits totalRAMUsed", "MB x 2^20"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Storage, QUOTA, "all-limits maxTotalVolumeGigabytes", "GB x 2^30"),
    Export::of(&catalog::QUOTA_USED, Resource::Storage, QUOTA, "all-limits totalGigabytesUsed", "GB x 2^30"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Instances, QUOTA, "all-limits maxTotalInstances", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Instances, QUOTA, "all-limits totalInstancesUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::VirtualSnapshots, QUOTA, "all-limits maxComputeExtendVirtualSnaps", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::VirtualSnapshots, QUOTA, "all-limits totalComputeExtendVirtualSnaps", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::AutoVirtualSnapshots, QUOTA, "all-limits maxComputeExtendAutoVirtualSnaps", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::AutoVirtualSnapshots, QUOTA, "all-limits totalComputeExtendAutoVirtualSnaps", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Volumes, QUOTA, "all-limits maxTotalVolumes", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Volumes, QUOTA, "all-limits totalVolumesUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Snapshots, QUOTA, "all-limits maxTotalSnapshots", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Snapshots, QUOTA, "all-limits totalSnapshotsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Backups, QUOTA, "all-limits maxTotalBackups", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Backups, QUOTA, "all-limits totalBackupsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Eip, QUOTA, "all-limits maxTotalFloatingIps", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Eip, QUOTA, "all-limits totalFloatingIpsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Networks, QUOTA, "all-limits maxNetworks", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Networks, QUOTA, "all-limits totalNetworksUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Subnets, QUOTA, "all-limits maxSubnets", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Subnets, QUOTA, "all-limits totalSubnetsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Vnics, QUOTA, "all-limits maxVnic", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Vnics, QUOTA, "all-limits totalVnicUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Vpcs, QUOTA, "all-limits maxVpc", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Vpcs, QUOTA, "all-limits totalVpcUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::SecurityGroups, QUOTA, "all-limits maxSecurityGroups", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::SecurityGroups, QUOTA, "all-limits totalSecurityGroupsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Firewalls, QUOTA, "all-limits maxFirewalls", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Firewalls, QUOTA, "all-limits totalFirewallsUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::LoadBalancers, QUOTA, "all-limits maxLoadbalancers", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::LoadBalancers, QUOTA, "all-limits totalLoadbalancersUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Listeners, QUOTA, "all-limits maxListeners", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Listeners, QUOTA, "all-limits totalListenersUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::VpnServices, QUOTA, "all-limits maxVpnServices", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::VpnServices, QUOTA, "all-limits totalVpnServicesUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::PrivateZones, QUOTA, "all-limits maxPrivateZone", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::PrivateZones, QUOTA, "all-limits totalPrivateZoneUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::RecordSets, QUOTA, "all-limits maxRecordSet", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::RecordSets, QUOTA, "all-limits totalRecordSetUsed", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::OtherQuota, QUOTA, "all-limits max<X> not in the table", "count; quota_key = max<X>"),
    Export::of(&catalog::QUOTA_USED, Resource::OtherQuota, QUOTA, "all-limits total<X>Used beside an unknown max<X>", "count"),
];

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
        let emit = |limit_key: &str,
                    used_key: &str,
                    resource: Resource,
                    scale: f64,
                    service: &str,
                    quota_key: &str,
                    batch: &mut Batch| {
            let labels = [
                ("tenant", tenant.as_str()),
                ("service", service),
                ("quota_key", quota_key),
            ];
            if let Some(v) = a.get(limit_key) {
                match Num::from_value(v) {
                    Num::Value(x) if x < 0.0 => {}
                    n => batch.put_num(&catalog::QUOTA_LIMIT, resource, &labels, &n, scale),
                }
            }
            if let Some(v) = a.get(used_key) {
                let n = Num::from_value(v);
                batch.put_num(&catalog::QUOTA_USED, resource, &labels, &n, scale);
            }
        };
        for (limit, used, resource, scale, service) in QUOTA_KEYS {
            done.insert(*limit);
            done.insert(*used);
            emit(limit, used, *resource, *scale, service, "", batch);
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
            emit(key, &used, Resource::OtherQuota, 1.0, "", key, batch);
        }
    }
}

pub const SERVERS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Instances,
        &["az", "flavor"],
        "GET /v2/{tenant}/servers/detail (limit/marker paging)",
        "instances counted per AZ and flavor (flavor name from flavors/detail)",
    ),
    Export::plain(
        &catalog::TENANT_RESOURCES,
        &["tenant", "service", "az", "flavor"],
        "servers/detail tenant_id",
        "instances per tenant, AZ and flavor (service ecs)",
    ),
];

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
        batch.put(
            &catalog::RESOURCE_ALLOCATED,
            Resource::Instances,
            &[("az", &az), ("flavor", &flavor)],
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

/// Allocation ratios for the free-slot arithmetic and allocatable vCPUs.
#[derive(Debug, Clone, Copy)]
pub struct Ratios {
    pub cpu: f64,
    pub ram: f64,
    pub disk: f64,
}

pub const FLAVOR_SLOTS_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::FLAVOR_FREE_SLOTS,
        &["flavor", "origin", "az"],
        "GET flavors/detail, os-hypervisors/detail, os-aggregates, os-services; for VMware clusters computenode, vrm clusters-hosts, hosts/detail and vms/detail?host= per ESXi host",
        "per usable host min(floor(free vCPU / flavor vCPU), floor(free RAM / flavor RAM), floor(free disk / flavor disk)), free = capacity x configured ratio - allocated, summed per AZ; a VMware cluster counted per ESXi host (its VMs' numCpu and memorySizeMB), the cluster's datastore disk capping the sum; configured instance_sizes too (origin config)",
    ),
    Export::plain(
        &catalog::FLAVOR_FREE_SLOTS_N_MINUS_ONE,
        &["flavor", "origin", "az"],
        "as headroom_flavor_free_slots",
        "the AZ's slots without its costliest host, minus re-placing that host's allocations (placement.rs)",
    ),
    Export::plain(
        &catalog::FLAVOR_SLOTS_ALERT_BELOW,
        &["flavor", "origin"],
        "instance_sizes[].alert_below",
        "configured sizes that set it",
    ),
];

/// One ESXi host of a VMware cluster hypervisor, with the VMs placed on it.
#[derive(Debug)]
pub struct EsxHost {
    /// The cluster's `morId` (`domain-c7`): the part of the cluster hypervisor's
    /// `hypervisor_hostname` before the first dot.
    pub cluster: String,
    pub host: VmwareHost,
    pub vms: Vec<VmwareVm>,
}

/// The cluster `morId` a VMware cluster hypervisor stands for (`domain-c7.<vCenter uuid>`).
pub fn vmware_cluster_id(hv: &Hypervisor) -> &str {
    let name = hv.hypervisor_hostname.as_str();
    name.split('.').next().unwrap_or(name)
}

/// Whether an ESXi host takes new instances: not in maintenance, and connected and powered on
/// where it says so.
fn esx_usable(h: &VmwareHost) -> bool {
    let says = |t: &Text, want: &str| t.get().is_none_or(|v| v.eq_ignore_ascii_case(want));
    !truthy(&h.in_maintenance_mode)
        && says(&h.connection_state, "CONNECTED")
        && says(&h.power_state, "POWERED_ON")
}

pub use crate::platforms::nova::flavor_sizes;

/// The usable hosts as the slot count sees them, and the VMware clusters' datastore room.
/// CAS (and other non-VMware) hypervisors are hosts; a hypervisor that is down or disabled is
/// left out. A VMware cluster hypervisor is no host: its usable ESXi hosts are, each with the
/// cluster's ratios applied to its own threads and memory, and what its VMs are given as
/// allocated; their disks share the cluster's datastores (Nova's `local_gb` of the cluster).
/// A cluster whose ESXi hosts could not be read counts nothing (its sums would overstate).
pub fn slot_hosts(
    hvs: &[Hypervisor],
    host_az: &BTreeMap<String, String>,
    esx: &[EsxHost],
    r: Ratios,
) -> (Vec<HostRoom>, DiskGroups) {
    let mut rooms = Vec::new();
    let mut groups = DiskGroups::new();
    for h in hvs {
        if unusable_reason(h).is_some() {
            continue;
        }
        let az = az_of(host_az, h.compute_host()).to_string();
        let room = |total: &Num, used: &Num, ratio: f64, scale: f64| {
            Some(Room::new(
                total.get()? * ratio * scale,
                used.get().unwrap_or(0.0) * scale,
            ))
        };
        let disk = room(&h.local_gb, &h.local_gb_used, r.disk, GIB);
        if h.is_vmware_cluster() {
            let cluster = vmware_cluster_id(h);
            let group = h.hypervisor_hostname.as_str().to_string();
            if let Some(d) = disk {
                groups.insert(group.clone(), d);
            }
            for e in esx
                .iter()
                .filter(|e| e.cluster == cluster && esx_usable(&e.host))
            {
                let (Some(threads), Some(mem)) =
                    (e.host.num_cpu_threads.get(), e.host.memory_size.get())
                else {
                    continue;
                };
                let (cpus, ram) = esx_allocated(&e.vms);
                rooms.push(HostRoom {
                    host: e.host.name.as_str().to_string(),
                    place: vec![("az", az.clone())],
                    vcpu: Room::new(threads * r.cpu, cpus),
                    memory: Room::new(mem * r.ram * MIB, ram),
                    disk: None,
                    disk_group: Some(group.clone()),
                    gpus: BTreeMap::new(),
                });
            }
            continue;
        }
        let (Some(vcpu), Some(memory)) = (
            room(&h.vcpus, &h.vcpus_used, r.cpu, 1.0),
            room(&h.memory_mb, &h.memory_mb_used, r.ram, MIB),
        ) else {
            continue;
        };
        rooms.push(HostRoom {
            host: h.host_name().to_string(),
            place: vec![("az", az)],
            vcpu,
            memory,
            disk,
            disk_group: None,
            gpus: BTreeMap::new(),
        });
    }
    (rooms, groups)
}

pub const GPUS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Gpu,
        &["az", "flavor"],
        "GET .../servers/{id}/instance_vgpu of instances whose flavor matches gpu_flavor_match",
        "GPU devices counted per AZ and flavor",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_ALLOCATED,
        Resource::Gpu,
        &["host", "az"],
        "instance_vgpu, the instance's hypervisor_hostname",
        "devices per host",
    ),
];

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
        batch.put(
            &catalog::RESOURCE_ALLOCATED,
            Resource::Gpu,
            &[("az", &az), ("flavor", &flavor)],
            n,
        );
    }
    for ((host, az), n) in per_host {
        batch.put(
            &catalog::HOST_RESOURCE_ALLOCATED,
            Resource::Gpu,
            &[("host", &host), ("az", &az)],
            n,
        );
    }
}

/// One CloudOS collector; `name` selects which APIs it polls.
pub struct CloudosCollector {
    name: &'static str,
    api: Arc<CloudosApi>,
    options: CloudosCollectorOptions,
    /// The target's configured `instance_sizes` (free slots are counted for them too).
    instance_sizes: Vec<InstanceSize>,
}

/// A list's records; those that did not parse are dropped values of the batch.
fn keep<T>(records: Records<T>, batch: &mut Batch) -> Vec<T> {
    batch.drop_values(records.dropped);
    records.items
}

impl CloudosCollector {
    pub fn new(
        name: &'static str,
        api: Arc<CloudosApi>,
        options: CloudosCollectorOptions,
        instance_sizes: Vec<InstanceSize>,
    ) -> CloudosCollector {
        CloudosCollector {
            name,
            api,
            options,
            instance_sizes,
        }
    }

    /// The allocation ratios configured for the target.
    fn ratios(&self) -> Ratios {
        let s = &self.api.settings;
        Ratios {
            cpu: s.cpu_allocation_ratio,
            ram: s.ram_allocation_ratio,
            disk: s.disk_allocation_ratio,
        }
    }

    async fn hypervisors(
        &self,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<Vec<Hypervisor>, PollError> {
        Ok(keep(
            self.api
                .list_required(
                    "hypervisors",
                    &self.api.nova("/os-hypervisors/detail"),
                    Target::Plain,
                    &["hypervisors"],
                    d,
                )
                .await?,
            batch,
        ))
    }

    async fn host_azs(
        &self,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<BTreeMap<String, String>, PollError> {
        let aggregates: Vec<Aggregate> = keep(
            self.api
                .list_required(
                    "aggregates",
                    &self.api.nova("/os-aggregates"),
                    Target::Plain,
                    &["aggregates"],
                    d,
                )
                .await?,
            batch,
        );
        let services: Vec<ComputeService> = keep(
            self.api
                .list_required(
                    "compute_services",
                    &self.api.nova("/os-services"),
                    Target::Compute,
                    &["services"],
                    d,
                )
                .await?,
            batch,
        );
        Ok(host_azs(&aggregates, &services))
    }

    async fn flavors(&self, d: Instant, batch: &mut Batch) -> Result<Vec<Flavor>, PollError> {
        Ok(keep(
            self.api
                .list_required(
                    "flavors",
                    &self.api.nova("/flavors/detail"),
                    Target::Plain,
                    &["flavors"],
                    d,
                )
                .await?,
            batch,
        ))
    }

    async fn tenant_names(&self, d: Instant) -> Result<BTreeMap<String, String>, PollError> {
        let projects = self
            .api
            .list_required::<Project>(
                "projects",
                "/os/kinton/v1/v3/projects",
                Target::Plain,
                &["projects"],
                d,
            )
            .await?
            .items;
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
        let hosts = self
            .api
            .list_required::<ServiceHost>(
                "storage_hosts",
                &self.api.nova("/os-hosts"),
                Target::BlockStorage,
                &["services", "hosts"],
                d,
            )
            .await?
            .items;
        let names: BTreeSet<String> = hosts
            .into_iter()
            .filter(|h| h.zone.as_str() != "internal")
            .filter_map(|h| h.host_name.get().map(str::to_string))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// The clusters of every CAS (`crm`) or VMware (`vrm`) compute node (1.15 #1 `computenode`,
    /// 1.13 `clusters-hosts`), each with its kind and the path base of its node; `only` keeps
    /// the nodes of one kind.
    async fn virt_clusters(
        &self,
        only: Option<&'static str>,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<Vec<(&'static str, String, VirtCluster)>, PollError> {
        let api = &self.api;
        let nodes: Vec<ComputeNode> = keep(
            api.list_required(
                "computenode",
                "/os/compute/v1/h3cloudos/computenode",
                Target::Plain,
                &["computenodes"],
                d,
            )
            .await?,
            batch,
        );
        let mut out = Vec::new();
        for node in nodes {
            let Some(name) = node.host_name.get() else {
                continue;
            };
            let kind = match node.vm_type.get() {
                Some(2.0) => "crm",
                Some(1.0) => "vrm",
                _ => continue,
            };
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            let base = format!(
                "/os/compute/v1/cloudos/{kind}/{}/{name}",
                api.settings.project_id
            );
            let clusters: Vec<VirtCluster> = keep(
                api.list_required(
                    "clusters_hosts",
                    &format!("{base}/clusters-hosts"),
                    Target::Plain,
                    &["clusters"],
                    d,
                )
                .await?,
                batch,
            );
            out.extend(clusters.into_iter().map(|c| (kind, base.clone(), c)));
        }
        Ok(out)
    }

    /// The ESXi hosts of one VMware cluster (1.13 #6 `hosts/detail`).
    async fn vmware_hosts(
        &self,
        base: &str,
        cluster_id: &str,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<Vec<VmwareHost>, PollError> {
        Ok(keep(
            self.api
                .list_required(
                    "vmware_hosts",
                    &format!("{base}/clusters/{cluster_id}/hosts/detail"),
                    Target::Plain,
                    &["hosts"],
                    d,
                )
                .await?,
            batch,
        ))
    }

    /// Every ESXi host of the VMware compute nodes, with its VMs (one `vms/detail?host=` call
    /// per host: the only per-host allocation the document gives for VMware, §1.13 #8).
    async fn esx_hosts(&self, d: Instant, batch: &mut Batch) -> Result<Vec<EsxHost>, PollError> {
        let mut out = Vec::new();
        for (_, base, c) in self.virt_clusters(Some("vrm"), d, batch).await? {
            let Some(id) = c.mor_id.get() else { continue };
            out.extend(self.esx_cluster(&base, id, d, batch).await?);
        }
        Ok(out)
    }

    /// The ESXi hosts of one VMware cluster, each with the VMs on it (§1.13 #6, #8).
    async fn esx_cluster(
        &self,
        base: &str,
        id: &str,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<Vec<EsxHost>, PollError> {
        let mut out = Vec::new();
        for host in self.vmware_hosts(base, id, d, batch).await? {
            let Some(mor) = host.mor_id.get().map(str::to_string) else {
                batch.drop_value();
                continue;
            };
            let path = format!("{base}/clusters/{id}/vms/detail");
            let vms: Vec<VmwareVm> = match self
                .api
                .list(
                    "vmware_vms",
                    &path,
                    &[("host", mor)],
                    Target::Plain,
                    &["vms"],
                    d,
                )
                .await?
            {
                Some(r) => keep(r, batch),
                None => return Err(api::not_found("vmware_vms", &path)),
            };
            out.push(EsxHost {
                cluster: id.to_string(),
                host,
                vms,
            });
        }
        Ok(out)
    }

    async fn run(&self, ctx: &PollContext) -> Result<Batch, PollError> {
        let d = ctx.deadline;
        let api = &self.api;
        let mut batch = Batch::new();
        match self.name {
            super::HYPERVISORS => {
                let azs = self.host_azs(d, &mut batch).await?;
                let hvs = self.hypervisors(d, &mut batch).await?;
                normalise_hypervisors(&hvs, &azs, self.ratios(), &mut batch);
            }
            super::STORAGE_POOLS => {
                let mut seen = BTreeSet::new();
                for host in self.storage_hosts(d).await? {
                    let path = api.nova(&format!("/hostpool/{host}"));
                    let Some(pools) = api
                        .list::<HostPool>(
                            "hostpool",
                            &path,
                            &[("all", "yes".to_string())],
                            Target::Plain,
                            &["hostpool"],
                            d,
                        )
                        .await?
                    else {
                        return Err(PollError::new(ErrorReason::Http, format!("hostpool: no storage pools for host `{host}` (404); set cloudos.storage_hosts to the AZ host names")));
                    };
                    let pools = keep(pools, &mut batch);
                    normalise_storage_pools(&pools, &mut seen, &mut batch);
                }
            }
            super::VIRTUALIZATION_HOSTS => {
                for (kind, base, c) in self.virt_clusters(None, d, &mut batch).await? {
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
                        for e in &self.esx_cluster(&base, id, d, &mut batch).await? {
                            normalise_vmware_host(cluster, &e.host, &mut batch);
                            normalise_esx_allocation(cluster, e, self.ratios(), &mut batch);
                        }
                    }
                }
            }
            super::BARE_METAL => {
                let nodes: Vec<Node> = keep(
                    api.list_required(
                        "baremetal_nodes",
                        "/os/kinton/v1/v1/nodes/detail",
                        Target::BareMetal,
                        &["nodes"],
                        d,
                    )
                    .await?,
                    &mut batch,
                );
                normalise_bare_metal(&nodes, &mut batch);
            }
            super::QUOTAS => {
                let tenants = self.tenant_names(d).await?;
                let limits: Vec<ProjectLimits> = keep(
                    api.list_required(
                        "all_limits",
                        "/os/kinton/v1/keystone/all-limits",
                        Target::Plain,
                        &["all_limits"],
                        d,
                    )
                    .await?,
                    &mut batch,
                );
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
                let mut sizes = flavor_sizes(&self.flavors(d, &mut batch).await?, &mut batch);
                sizes.extend(self.instance_sizes.iter().cloned());
                let esx = if hvs.iter().any(Hypervisor::is_vmware_cluster) {
                    self.esx_hosts(d, &mut batch).await?
                } else {
                    Vec::new()
                };
                let (rooms, groups) = slot_hosts(&hvs, &azs, &esx, self.ratios());
                placement::put_slots(&rooms, &sizes, &groups, &mut batch);
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
