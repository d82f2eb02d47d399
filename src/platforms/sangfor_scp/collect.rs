//! SCP collectors: which APIs each one calls, and how their answers become the capacity model.
//! What each series is filled from is declared beside its code (`*_EXPORTS`) and printed in
//! `METRICS.md`.
//!
//! Mapping decisions (the document's ambiguities, spec §5 and §7.6):
//! - Units: `mhz` → hertz (×10^6); `MB`/`mb` → bytes (×2^20: the document equates 1024 MB with
//!   1 GB); OSS `KB` → bytes (×2^10); `Kbps` → bits/s (×1000); `核` → cores; `张`/`个`/`台` →
//!   count. A unit the mapping does not know, or one that is not the resource's, drops the
//!   value (counted), never guessed.
//! - The pool view, one source per resource and family: CPU hertz, cores, threads, memory
//!   (capacity, used, reserved) and what may be allocated (vCPU, memory) summed from the
//!   running hosts (`az` = the pool's name); an offline host's capacity is
//!   `headroom_resource_unusable{reason="offline"}` (the states are `running` and `offline`,
//!   §4.3.17); storage per datastore (`storages`); GPUs, GPU memory and vGPUs per pool and model
//!   from the GPU API; vCPU, memory, GPUs and instances allocated summed from the VMs; EIPs and
//!   bandwidth per EIP pool; object storage per target.
//! - The pool detail's `physical_resources` are the same hardware the hosts, datastores and
//!   the GPU API count (and whether they include offline hosts is not documented): they are the
//!   service view `service="pool_summary"`. (`gpu`/`graphics_num` and
//!   `gpu_mem`/`graphics_mem` are the same thing under the two spellings.)
//! - `virtual_resources` is the pool's quota view ("该虚拟化资源是指SCP的配额资源"), the service
//!   view `service="quota_view"`: `allocated` → allocated, `occupied` → used, `limit` → limit
//!   (-1, unlimited, has no series). The document gives `total` no meaning as capacity, and its
//!   examples show it below what is allocated (30 vCPU beside 274; 24,576 MB beside 119,808):
//!   it is `headroom_service_total_reported`, as reported, never capacity or allocatable. A
//!   storage entry's name is `<tag> (<policy>)`: `storage_type` = the tag, `policy` = 默认 /
//!   高可用; every policy entry repeats the tag's `total`, reported once per tag.
//! - Hosts: `total_mhz`/`used_mhz`, `core_count`, sockets, threads (`thread_per_socket` ×
//!   sockets, 2019 on), memory, reserved memory (`reserves.memory_mb`, "reserved memory, MB"),
//!   the raw disk sum (`local_disk`, not datastore capacity), GPUs and the configured overcommit
//!   (`allocation_ratio` of vCPU and memory) go to the host view. What may be allocated is not
//!   defined by the document; headroom takes the reading that never overstates
//!   ([`host_allocatable`]: physical cores × the CPU ratio; memory less the reserve, × the
//!   memory ratio), per host and summed per pool over the running hosts; free slots count from
//!   it. `allocation_max` has no documented meaning and is not exported.
//! - Clusters go to the cluster view; datastores carry `storage_type` = tag name, tag id, or
//!   `untagged` (an untagged datastore cannot be used by VMs).
//! - VMs are summed per pool, per host and per tenant; their provisioned disks are the service
//!   view `service="ecs"` (VMs name no datastore, the level storage is counted at). DR
//!   placeholders (`vmtype="placeholder"`) hold no resources and are skipped. Per-VM series only
//!   with `per_vm: true`.
//! - Shared disks (`volumes`, the only volumes this API lists) are summed per pool as
//!   `service="evs"`; `size` is GB (×2^30), every status counted (the recycle bin still holds
//!   its storage).
//! - Pool utilisation comes from the monitoring API's newest datapoint, in percent (÷100), as
//!   `service="monitoring"` (capacity and used already give the pool's share).
//! - Quotas: `hard_limit` -1 (unlimited) gives no limit series; `in_use` is used. Known keys get
//!   the vocabulary's names (`cores` → vcpu, `ram` → memory, `storage_tag::<id>` → storage,
//!   `eip_count::<line>` → eip, `eip_bandwidth::<line>` → bandwidth, `nvidia_<m>_ram` →
//!   gpu_memory, `gpu_slice_count` → vgpu); other counted keys are `other` with the key in
//!   `quota_key`, keys in other units are dropped (counted). The global pseudo-pool
//!   `10000000-…` has no `az` label.
//! - EIP pools: `ip_count` → capacity, `ip_used` → allocated, `ip_bind` → used. Bandwidth per
//!   direction: `qos_uplink`/`qos_downlink` → capacity, `pool_in_kbps` (uplink) /
//!   `pool_out_kbps` (downlink) → used, and the pool's single `allocated_bandwidth` → allocated in
//!   both directions (EIP caps are symmetric in every example).
//! - Alarm levels are exported raw (`p1`/`p2`/`p3`, or the legacy words): the document gives the
//!   two opposite orders for records and policies (spec §7.7 item 46).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;

use super::api::{
    self, Alarm, Answer, Az, AzDetail, Cluster, EipPool, GpuHost, Host, LicenseSummary,
    MetricSeries, OssAccount, Overview, PlatformInfo, Project, Quota, ScpApi, Server, Storage,
    SystemVersion, Volume,
};
use super::ScpCollectorOptions;
use crate::catalog::{self, exports::Export, Resource, Unit};
use crate::collect::{Batch, BoxFuture, Collector, ErrorReason, PollContext, PollError};
use crate::lenient::Num;
use crate::placement::{self, DiskGroups, HostRoom, InstanceSize, Room};
use crate::platforms::nova::flavor_sizes;

const MIB: f64 = 1_048_576.0;
/// The global pseudo-pool of quota items that are not per pool.
pub const GLOBAL_AZ: &str = "10000000-0000-0000-0000-000000000000";

/// The factor from a platform unit to the base unit, and the base unit's name.
pub fn unit_scale(unit: &str) -> Option<(f64, &'static str)> {
    Some(match unit.trim().to_ascii_lowercase().as_str() {
        "mhz" => (1e6, "hertz"),
        "ghz" => (1e9, "hertz"),
        "b" | "byte" | "bytes" => (1.0, "bytes"),
        "kb" => (1024.0, "bytes"),
        "mb" => (MIB, "bytes"),
        "gb" => (MIB * 1024.0, "bytes"),
        "tb" => (MIB * 1_048_576.0, "bytes"),
        "kbps" => (1000.0, "bits_per_second"),
        "mbps" => (1e6, "bits_per_second"),
        "核" | "cores" | "core" => (1.0, "cores"),
        "张" | "个" | "台" | "条" | "" => (1.0, "count"),
        _ => return None,
    })
}

fn name_or<'a>(name: &'a str, id: &'a str) -> &'a str {
    if name.is_empty() {
        id
    } else {
        name
    }
}

/// The name of a pool (AZ) by id, or the id when the list does not have it.
fn pool_name<'a>(az_names: &'a BTreeMap<String, String>, id: &'a str) -> &'a str {
    az_names.get(id).map(String::as_str).unwrap_or(id)
}

/// Labels of the pool-summary and pool-view series of one pool.
const AZ: &[&str] = &["az"];

/// What an entry of a pool's `physical_resources` measures. `gpu`/`graphics_num` and
/// `gpu_mem`/`graphics_mem` are the same thing under the two spellings (§4.3.3 vs §4.3.5).
fn physical_kind(name: &str) -> Option<Resource> {
    Some(match name {
        "cpu" => Resource::CpuHertz,
        "memory" => Resource::Memory,
        "storage" => Resource::Storage,
        "gpu" | "graphics_num" => Resource::Gpu,
        "gpu_mem" | "graphics_mem" => Resource::GpuMemory,
        _ => return None,
    })
}

/// A unit string of a `physical_resources` or `virtual_resources` entry, checked against the unit
/// the resource is measured in: the factor to it, or `None` (the value is then dropped, counted).
fn scale_for(resource: Resource, unit: &str) -> Option<f64> {
    let (scale, base) = unit_scale(unit)?;
    let want = match resource.unit() {
        Unit::Vcpus | Unit::Cores | Unit::Threads => "cores",
        Unit::Count => "count",
        other => other.as_str(),
    };
    (base == want).then_some(scale)
}

/// `name (policy)` of a quota-view storage entry: the storage tag and the policy class
/// (`默认` default, `高可用` high availability), which repeat the same tag.
fn tag_and_policy(name: &str) -> (&str, &str) {
    match name
        .trim()
        .strip_suffix(')')
        .and_then(|n| n.rsplit_once(" ("))
    {
        Some((tag, policy)) => (tag.trim(), policy.trim()),
        None => (name.trim(), ""),
    }
}

/// The resource a quota-view entry is about, and its storage tag and policy.
fn quota_view_kind(r: &api::VirtualResource) -> Option<(Resource, &str, &str)> {
    let name = r.name.as_str();
    let unit = unit_scale(r.unit.as_str())?.1;
    Some(match (unit, r.resource.as_str(), name) {
        ("cores", _, _) => (Resource::Vcpu, "", ""),
        ("count", _, _) => (Resource::Gpu, "", ""),
        ("bytes", "pool_memory", _) | ("bytes", _, "内存" | "memory" | "Memory") => {
            (Resource::Memory, "", "")
        }
        ("bytes", _, "gpu_mem" | "graphics_mem") => (Resource::GpuMemory, "", ""),
        ("bytes", _, _) => {
            let (tag, policy) = tag_and_policy(name);
            (Resource::Storage, tag, policy)
        }
        _ => return None,
    })
}

pub const RESOURCE_POOLS_EXPORTS: &[Export] = &[
    Export::service(&catalog::SERVICE_CAPACITY, "pool_summary", Resource::CpuHertz, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=cpu].total",
        "MHz x 10^6; the pool view sums the running hosts (hosts collector): whether this counts offline hosts is not documented"),
    Export::service(&catalog::SERVICE_USED, "pool_summary", Resource::CpuHertz, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=cpu].used", "MHz x 10^6"),
    Export::service(&catalog::SERVICE_CAPACITY, "pool_summary", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=memory].total", "MB x 2^20; the pool view sums the running hosts"),
    Export::service(&catalog::SERVICE_USED, "pool_summary", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=memory].used", "MB x 2^20"),
    Export::service(&catalog::SERVICE_CAPACITY, "pool_summary", Resource::Storage, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=storage].total",
        "MB x 2^20; the pool view counts storage per datastore (storages collector)"),
    Export::service(&catalog::SERVICE_USED, "pool_summary", Resource::Storage, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=storage].used", "MB x 2^20"),
    Export::service(&catalog::SERVICE_CAPACITY, "pool_summary", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=gpu|graphics_num].total",
        "cards; the pool view counts GPUs per model from the GPU API (gpus collector)"),
    Export::service(&catalog::SERVICE_USED, "pool_summary", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=gpu|graphics_num].used", "cards"),
    Export::service(&catalog::SERVICE_CAPACITY, "pool_summary", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=gpu_mem|graphics_mem].total", "MB x 2^20"),
    Export::service(&catalog::SERVICE_USED, "pool_summary", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} physical_resources[name=gpu_mem|graphics_mem].used", "MB x 2^20"),
    Export::service(&catalog::SERVICE_ALLOCATED, "quota_view", Resource::Vcpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=核].allocated",
        "as reported: what the pool's quotas have handed out (the VM sums are the pool view)"),
    Export::service(&catalog::SERVICE_USED, "quota_view", Resource::Vcpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=核].occupied", "as reported"),
    Export::service(&catalog::SERVICE_LIMIT, "quota_view", Resource::Vcpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=核].limit", "-1 (unlimited) has no series"),
    Export::service(&catalog::SERVICE_TOTAL_REPORTED, "quota_view", Resource::Vcpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=核].total",
        "as reported; the document gives it no meaning as capacity (its example: 30 next to 274 allocated), so it is never capacity or allocatable"),
    Export::service(&catalog::SERVICE_ALLOCATED, "quota_view", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[resource=pool_memory|name=内存].allocated", "MB x 2^20"),
    Export::service(&catalog::SERVICE_USED, "quota_view", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[resource=pool_memory|name=内存].occupied", "MB x 2^20"),
    Export::service(&catalog::SERVICE_LIMIT, "quota_view", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[resource=pool_memory|name=内存].limit", "MB x 2^20; -1 has no series"),
    Export::service(&catalog::SERVICE_TOTAL_REPORTED, "quota_view", Resource::Memory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[resource=pool_memory|name=内存].total",
        "MB x 2^20, as reported (example: 24,576 MB next to 119,808 allocated); never capacity"),
    Export::service(&catalog::SERVICE_ALLOCATED, "quota_view", Resource::Storage, &["az", "storage_type", "policy"],
        "GET /janus/{v}/azs/{id} virtual_resources[name=<tag> (<policy>)].allocated",
        "MB x 2^20; storage_type = the tag, policy = 默认 / 高可用 from the name"),
    Export::service(&catalog::SERVICE_USED, "quota_view", Resource::Storage, &["az", "storage_type", "policy"],
        "GET /janus/{v}/azs/{id} virtual_resources[name=<tag> (<policy>)].occupied", "MB x 2^20"),
    Export::service(&catalog::SERVICE_LIMIT, "quota_view", Resource::Storage, &["az", "storage_type", "policy"],
        "GET /janus/{v}/azs/{id} virtual_resources[name=<tag> (<policy>)].limit", "MB x 2^20; -1 has no series"),
    Export::service(&catalog::SERVICE_TOTAL_REPORTED, "quota_view", Resource::Storage, &["az", "storage_type"],
        "GET /janus/{v}/azs/{id} virtual_resources[name=<tag> (<policy>)].total",
        "MB x 2^20, as reported, once per tag: every policy entry of a tag repeats the tag's total"),
    Export::service(&catalog::SERVICE_ALLOCATED, "quota_view", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=张|个].allocated", "as reported"),
    Export::service(&catalog::SERVICE_USED, "quota_view", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=张|个].occupied", "as reported"),
    Export::service(&catalog::SERVICE_LIMIT, "quota_view", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=张|个].limit", "-1 has no series"),
    Export::service(&catalog::SERVICE_TOTAL_REPORTED, "quota_view", Resource::Gpu, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[unit=张|个].total", "as reported; never capacity"),
    Export::service(&catalog::SERVICE_ALLOCATED, "quota_view", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[name=gpu_mem].allocated", "MB x 2^20"),
    Export::service(&catalog::SERVICE_USED, "quota_view", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[name=gpu_mem].occupied", "MB x 2^20"),
    Export::service(&catalog::SERVICE_LIMIT, "quota_view", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[name=gpu_mem].limit", "MB x 2^20; -1 has no series"),
    Export::service(&catalog::SERVICE_TOTAL_REPORTED, "quota_view", Resource::GpuMemory, AZ,
        "GET /janus/{v}/azs/{id} virtual_resources[name=gpu_mem].total", "MB x 2^20, as reported; never capacity"),
];

/// A pool's physical capacity (the pool summary of the service view: the hosts, datastores and
/// GPU API count the same hardware finer) and its quota view.
pub fn normalise_pool(pool: &str, detail: &AzDetail, batch: &mut Batch) {
    for r in &detail.physical_resources {
        let Some(resource) = physical_kind(r.name.as_str()) else {
            batch.drop_value();
            continue;
        };
        let Some(scale) = scale_for(resource, r.unit.as_str()) else {
            batch.drop_value();
            continue;
        };
        let labels = [("service", "pool_summary"), ("az", pool)];
        batch.put_num(
            &catalog::SERVICE_CAPACITY,
            resource,
            &labels,
            &r.total,
            scale,
        );
        batch.put_num(&catalog::SERVICE_USED, resource, &labels, &r.used, scale);
    }
    // Every policy entry of a storage tag repeats the tag's `total`: reported once per tag.
    let mut totals: BTreeMap<(Resource, &str), f64> = BTreeMap::new();
    for r in &detail.virtual_resources {
        let (Some((resource, tag, policy)), Some((scale, _))) =
            (quota_view_kind(r), unit_scale(r.unit.as_str()))
        else {
            batch.drop_value();
            continue;
        };
        let labels = [
            ("service", "quota_view"),
            ("az", pool),
            ("storage_type", tag),
            ("policy", policy),
        ];
        batch.put_num(
            &catalog::SERVICE_ALLOCATED,
            resource,
            &labels,
            &r.allocated,
            scale,
        );
        batch.put_num(
            &catalog::SERVICE_USED,
            resource,
            &labels,
            &r.occupied,
            scale,
        );
        match r.limit {
            // -1: unlimited (documented); no series.
            Num::Value(v) if v < 0.0 => {}
            ref n => batch.put_num(&catalog::SERVICE_LIMIT, resource, &labels, n, scale),
        }
        match r.total {
            Num::Value(t) => {
                let e = totals.entry((resource, tag)).or_insert(t * scale);
                if *e != t * scale {
                    tracing::debug!(pool, tag, "Policy entries of one storage tag report different totals; the larger is kept.");
                    *e = e.max(t * scale);
                }
            }
            Num::Invalid => batch.drop_value(),
            Num::Absent => {}
        }
    }
    for ((resource, tag), total) in totals {
        let labels = [
            ("service", "quota_view"),
            ("az", pool),
            ("storage_type", tag),
        ];
        batch.put(&catalog::SERVICE_TOTAL_REPORTED, resource, &labels, total);
    }
}

const HOST: &[&str] = &["host", "az", "cluster"];

pub const HOSTS_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::HOST_INFO,
        &[
            "host",
            "host_id",
            "state",
            "az",
            "cluster",
            "address",
            "model",
            "device_type",
        ],
        "GET /janus/{v}/hosts",
        "host = name, else ip, else id; device_type hci for type h, else vmware",
    ),
    Export::plain(
        &catalog::HOSTS,
        &["state", "az"],
        "GET /janus/{v}/hosts status",
        "hosts counted per pool and status",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuHertz,
        HOST,
        "hosts cpu.total_mhz",
        "MHz x 10^6",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_USED,
        Resource::CpuHertz,
        HOST,
        "hosts cpu.used_mhz",
        "MHz x 10^6",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuCores,
        HOST,
        "hosts cpu.core_count",
        "cores",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuSockets,
        HOST,
        "hosts cpu.socket_count",
        "sockets",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuThreads,
        HOST,
        "hosts cpu.thread_per_socket x cpu.socket_count",
        "threads (2019 version on)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_OVERCOMMIT_RATIO,
        Resource::Vcpu,
        HOST,
        "hosts cpu.allocation_ratio",
        "超配比, as reported",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::Memory,
        HOST,
        "hosts memory.total_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_USED,
        Resource::Memory,
        HOST,
        "hosts memory.used_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_RESERVED,
        Resource::Memory,
        HOST,
        "hosts reserves.memory_mb",
        "MB x 2^20 (reserved memory, table 4.3.17)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_OVERCOMMIT_RATIO,
        Resource::Memory,
        HOST,
        "hosts memory.allocation_ratio",
        "as reported",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::LocalDisk,
        HOST,
        "hosts storage.total_mb",
        "MB x 2^20: the host's raw disks, not datastore capacity",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::Gpu,
        HOST,
        "hosts gpu.total",
        "cards",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_USED,
        Resource::Gpu,
        HOST,
        "hosts gpu.used",
        "cards",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::GpuMemory,
        HOST,
        "hosts gpu.memory_total_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_USED,
        Resource::GpuMemory,
        HOST,
        "hosts gpu.memory_used_mb",
        "MB x 2^20",
    ),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Vcpu, HOST, "hosts cpu.core_count x cpu.allocation_ratio",
        "physical cores x the overcommit (the document does not say whether the ratio multiplies cores or threads; cores never overstate); 0 on a host not running"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATABLE, Resource::Memory, HOST, "hosts (memory.total_mb - reserves.memory_mb) x memory.allocation_ratio",
        "MB x 2^20; the reserve is held back before the ratio (the smaller reading); 0 on a host not running"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::CpuHertz, AZ, "hosts cpu.total_mhz", "MHz x 10^6, summed per pool over the running hosts"),
    Export::of(&catalog::RESOURCE_USED, Resource::CpuHertz, AZ, "hosts cpu.used_mhz", "MHz x 10^6, running hosts"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::CpuCores, AZ, "hosts cpu.core_count", "summed per pool over the running hosts (no pool API reports cores)"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::CpuThreads, AZ, "hosts cpu.thread_per_socket x cpu.socket_count", "running hosts"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Memory, AZ, "hosts memory.total_mb", "MB x 2^20, running hosts"),
    Export::of(&catalog::RESOURCE_USED, Resource::Memory, AZ, "hosts memory.used_mb", "MB x 2^20, running hosts"),
    Export::of(&catalog::RESOURCE_RESERVED, Resource::Memory, AZ, "hosts reserves.memory_mb", "MB x 2^20, running hosts"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Vcpu, AZ, "hosts cpu.core_count x cpu.allocation_ratio", "running hosts"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Memory, AZ, "hosts (memory.total_mb - reserves.memory_mb) x memory.allocation_ratio", "MB x 2^20, running hosts"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::CpuHertz, &["az", "reason"], "hosts cpu.total_mhz of hosts not running",
        "status offline (or any but running) → reason offline; left out of capacity, allocatable and free"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::CpuCores, &["az", "reason"], "hosts cpu.core_count, not running", "cores"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::CpuThreads, &["az", "reason"], "hosts threads, not running", "threads"),
    Export::of(&catalog::RESOURCE_UNUSABLE, Resource::Memory, &["az", "reason"], "hosts memory.total_mb, not running", "MB x 2^20"),
];

/// Hosts: inventory, counts by state, per-host figures, and the per-pool sums of what only
/// hosts report (cores, threads, reserved memory).
pub fn normalise_hosts(hosts: &[Host], az_names: &BTreeMap<String, String>, batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
    // (pool, family, resource) of the running hosts; (pool, resource) of the others.
    let mut sums: BTreeMap<(String, &'static str, Resource), f64> = BTreeMap::new();
    let mut unusable: BTreeMap<(String, Resource), f64> = BTreeMap::new();
    for h in hosts {
        let host = name_or(h.name.as_str(), name_or(h.ip.as_str(), h.id.as_str()));
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let az = pool_name(az_names, h.az_id.as_str());
        let state = h.status.get().unwrap_or("unknown");
        let device_type = match h.kind.as_str() {
            "h" => "hci",
            "" => "",
            _ => "vmware",
        };
        batch.push(
            &catalog::HOST_INFO,
            &[
                ("host", host),
                ("host_id", h.id.as_str()),
                ("state", state),
                ("az", az),
                ("cluster", h.cluster_name.as_str()),
                ("address", h.ip.as_str()),
                ("model", h.cpu.model.as_str()),
                ("device_type", device_type),
            ],
            1.0,
        );
        *counts
            .entry((az.to_string(), state.to_string()))
            .or_insert(0.0) += 1.0;
        let l = [
            ("host", host),
            ("az", az),
            ("cluster", h.cluster_name.as_str()),
        ];
        // Only a running host takes instances (the document's states: running, offline).
        let running = state == "running";
        let threads = match (h.cpu.thread_per_socket.get(), h.cpu.socket_count.get()) {
            (Some(t), Some(s)) => Num::Value(t * s),
            _ => Num::Absent,
        };
        use catalog::{
            HOST_RESOURCE_ALLOCATABLE as ALLOC, HOST_RESOURCE_CAPACITY as CAP,
            HOST_RESOURCE_OVERCOMMIT_RATIO as OVER, HOST_RESOURCE_RESERVED as RES,
            HOST_RESOURCE_USED as USED,
        };
        // An offline host may allocate nothing (its figures stay for the drill-down).
        let (vcpus, memory) = if running {
            host_allocatable(h)
        } else {
            (Num::Value(0.0), Num::Value(0.0))
        };
        for (def, resource, num, scale) in [
            (&ALLOC, Resource::Vcpu, &vcpus, 1.0),
            (&ALLOC, Resource::Memory, &memory, 1.0),
            (&CAP, Resource::CpuHertz, &h.cpu.total_mhz, 1e6),
            (&USED, Resource::CpuHertz, &h.cpu.used_mhz, 1e6),
            (&CAP, Resource::CpuCores, &h.cpu.core_count, 1.0),
            (&CAP, Resource::CpuSockets, &h.cpu.socket_count, 1.0),
            (&CAP, Resource::CpuThreads, &threads, 1.0),
            (&OVER, Resource::Vcpu, &h.cpu.allocation_ratio, 1.0),
            (&CAP, Resource::Memory, &h.memory.total_mb, MIB),
            (&USED, Resource::Memory, &h.memory.used_mb, MIB),
            (&RES, Resource::Memory, &h.reserves.memory_mb, MIB),
            (&OVER, Resource::Memory, &h.memory.allocation_ratio, 1.0),
            (&CAP, Resource::LocalDisk, &h.storage.total_mb, MIB),
            (&CAP, Resource::Gpu, &h.gpu.total, 1.0),
            (&USED, Resource::Gpu, &h.gpu.used, 1.0),
            (&CAP, Resource::GpuMemory, &h.gpu.memory_total_mb, MIB),
            (&USED, Resource::GpuMemory, &h.gpu.memory_used_mb, MIB),
        ] {
            batch.put_num(def, resource, &l, num, scale);
            // The pool view sums what only the hosts report (GPUs come from the GPU API and
            // the local disks are no datastore).
            let summed = matches!(
                resource,
                Resource::CpuHertz
                    | Resource::CpuCores
                    | Resource::CpuThreads
                    | Resource::Memory
                    | Resource::Vcpu
            ) && def.name != OVER.name;
            let Some(v) = num.get().filter(|_| summed) else {
                continue;
            };
            if running {
                *sums
                    .entry((az.to_string(), def.name, resource))
                    .or_insert(0.0) += v * scale;
            } else if def.name == CAP.name {
                *unusable.entry((az.to_string(), resource)).or_insert(0.0) += v * scale;
            }
        }
    }
    for ((az, state), n) in counts {
        batch.push(&catalog::HOSTS, &[("state", &state), ("az", &az)], n);
    }
    for ((az, family, resource), n) in sums {
        let def = match family {
            f if f == catalog::HOST_RESOURCE_USED.name => &catalog::RESOURCE_USED,
            f if f == catalog::HOST_RESOURCE_RESERVED.name => &catalog::RESOURCE_RESERVED,
            f if f == catalog::HOST_RESOURCE_ALLOCATABLE.name => &catalog::RESOURCE_ALLOCATABLE,
            _ => &catalog::RESOURCE_CAPACITY,
        };
        batch.put(def, resource, &[("az", &az)], n);
    }
    for ((az, resource), n) in unusable {
        batch.put(
            &catalog::RESOURCE_UNUSABLE,
            resource,
            &[("az", &az), ("reason", "offline")],
            n,
        );
    }
}

/// What a host may allocate: vCPUs = physical cores × `cpu.allocation_ratio` ("超配比"; the
/// document does not say whether the ratio multiplies cores or threads: cores never overstate),
/// memory = (`memory.total_mb` − `reserves.memory_mb`) × `memory.allocation_ratio` in bytes (the
/// reserve held back before the ratio, the smaller of the two readings).
pub fn host_allocatable(h: &Host) -> (Num, Num) {
    let vcpus = match (h.cpu.core_count.get(), h.cpu.allocation_ratio.get()) {
        (Some(c), Some(r)) => Num::Value(c * r),
        _ => Num::Absent,
    };
    let memory = match (h.memory.total_mb.get(), h.memory.allocation_ratio.get()) {
        (Some(t), Some(r)) => {
            let reserved = h.reserves.memory_mb.get().unwrap_or(0.0);
            Num::Value((t - reserved).max(0.0) * r * MIB)
        }
        _ => Num::Absent,
    };
    (vcpus, memory)
}

const CLUSTER: &[&str] = &["cluster", "az"];

pub const CLUSTERS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::CLUSTER_RESOURCE_CAPACITY,
        Resource::CpuHertz,
        CLUSTER,
        "GET /janus/{v}/clusters cpu.total_mhz",
        "MHz x 10^6",
    ),
    Export::of(
        &catalog::CLUSTER_RESOURCE_USED,
        Resource::CpuHertz,
        CLUSTER,
        "clusters cpu.used_mhz",
        "MHz x 10^6",
    ),
    Export::of(
        &catalog::CLUSTER_RESOURCE_CAPACITY,
        Resource::Memory,
        CLUSTER,
        "clusters memory.total_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::CLUSTER_RESOURCE_USED,
        Resource::Memory,
        CLUSTER,
        "clusters memory.used_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::CLUSTER_RESOURCE_CAPACITY,
        Resource::Storage,
        CLUSTER,
        "clusters storage.total_mb",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::CLUSTER_RESOURCE_USED,
        Resource::Storage,
        CLUSTER,
        "clusters storage.used_mb",
        "MB x 2^20",
    ),
];

pub fn normalise_clusters(
    clusters: &[Cluster],
    az_names: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    use catalog::{CLUSTER_RESOURCE_CAPACITY as CAP, CLUSTER_RESOURCE_USED as USED};
    for c in clusters {
        let cluster = name_or(c.name.as_str(), c.id.as_str());
        if cluster.is_empty() {
            batch.drop_value();
            continue;
        }
        let az = pool_name(az_names, c.az_id.as_str());
        let l = [("cluster", cluster), ("az", az)];
        for (def, resource, num, scale) in [
            (&CAP, Resource::CpuHertz, &c.cpu.total_mhz, 1e6),
            (&USED, Resource::CpuHertz, &c.cpu.used_mhz, 1e6),
            (&CAP, Resource::Memory, &c.memory.total_mb, MIB),
            (&USED, Resource::Memory, &c.memory.used_mb, MIB),
            (&CAP, Resource::Storage, &c.storage.total_mb, MIB),
            (&USED, Resource::Storage, &c.storage.used_mb, MIB),
        ] {
            batch.put_num(def, resource, &l, num, scale);
        }
    }
}

/// The display name of a built-in storage tag, for versions whose answer has only the id.
fn builtin_tag(id: &str) -> Option<&'static str> {
    Some(match id {
        "00000000-0000-0000-0000-000000000000" => "高性能存储",
        "11111111-1111-1111-1111-111111111111" => "性能型存储",
        "22222222-2222-2222-2222-222222222222" => "容量型存储",
        _ => return None,
    })
}

const DATASTORE: &[&str] = &["datastore", "storage_type", "az", "cluster"];

pub const STORAGES_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Storage, DATASTORE, "GET /janus/{v}/storages total_mb",
        "MB x 2^20; storage_type = tag name, else built-in tag id, else `untagged` (unusable by VMs)"),
    Export::of(&catalog::RESOURCE_USED, Resource::Storage, DATASTORE, "storages used_mb", "MB x 2^20"),
];

/// Datastores: the pool view of storage (the finest level SCP reports it at).
pub fn normalise_storages(
    storages: &[Storage],
    az_names: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    for s in storages {
        let datastore = name_or(s.name.as_str(), s.id.as_str());
        if datastore.is_empty() {
            batch.drop_value();
            continue;
        }
        let tag = s
            .storage_tag_name
            .get()
            .or_else(|| {
                s.storage_tag_id
                    .get()
                    .map(|id| builtin_tag(id).unwrap_or(id))
            })
            .unwrap_or("untagged");
        let az = pool_name(az_names, s.az_id.as_str());
        let labels = [
            ("datastore", datastore),
            ("storage_type", tag),
            ("az", az),
            ("cluster", s.cluster_name.as_str()),
        ];
        batch.put_num(
            &catalog::RESOURCE_CAPACITY,
            Resource::Storage,
            &labels,
            &s.total_mb,
            MIB,
        );
        batch.put_num(
            &catalog::RESOURCE_USED,
            Resource::Storage,
            &labels,
            &s.used_mb,
            MIB,
        );
    }
}

/// One VM's allocation: vCPU, memory bytes, provisioned storage bytes, GPUs.
fn vm_allocation(s: &Server) -> [(Resource, Option<f64>); 4] {
    // `storage_mb` is the disk total; without it, the sum of the disks.
    let storage = s.storage_mb.get().or_else(|| {
        let disks = s.disks.as_ref()?;
        disks.iter().map(|d| d.size_mb.get()).sum::<Option<f64>>()
    });
    [
        (Resource::Vcpu, s.cores.get()),
        (Resource::Memory, s.memory_mb.get().map(|m| m * MIB)),
        (Resource::Storage, storage.map(|m| m * MIB)),
        (
            Resource::Gpu,
            s.gpu_status.as_ref().and_then(|g| g.graphics_count.get()),
        ),
    ]
}

const VM_HOST: &[&str] = &["host", "az"];

pub const VMS_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Vcpu, AZ, "GET /janus/{v}/servers cores", "summed per pool; DR placeholders (vmtype placeholder) skipped"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Memory, AZ, "servers memory_mb", "MB x 2^20, summed per pool"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Gpu, AZ, "servers gpu_status.graphics_count", "cards, summed per pool"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Instances, AZ, "servers", "VMs counted per pool"),
    Export::service(&catalog::SERVICE_ALLOCATED, "ecs", Resource::Storage, AZ, "servers storage_mb (else the sum of disks[].size_mb)",
        "MB x 2^20, summed per pool: provisioned disks; the pool view counts storage per datastore, which VMs do not name"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vcpu, VM_HOST, "servers cores", "summed per host"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Memory, VM_HOST, "servers memory_mb", "MB x 2^20, summed per host"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Storage, VM_HOST, "servers storage_mb", "MB x 2^20, summed per host"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Gpu, VM_HOST, "servers gpu_status.graphics_count", "summed per host"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Instances, VM_HOST, "servers", "VMs per host; host_id `cluster` (a stopped VM placed automatically) is on no host"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Vcpu, &["tenant", "az"], "servers cores", "summed per tenant and pool"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Memory, &["tenant", "az"], "servers memory_mb", "MB x 2^20"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Storage, &["tenant", "az"], "servers storage_mb", "MB x 2^20"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Gpu, &["tenant", "az"], "servers gpu_status.graphics_count", "cards"),
    Export::plain(&catalog::TENANT_RESOURCES, &["tenant", "service", "az"], "servers", "VMs per tenant and pool (service ecs)"),
    Export::of(&catalog::INSTANCE_RESOURCE_ALLOCATED, Resource::Vcpu, &["vm", "vm_id", "az", "host", "tenant"], "servers cores", "per VM (per_vm: true)"),
    Export::of(&catalog::INSTANCE_RESOURCE_ALLOCATED, Resource::Memory, &["vm", "vm_id", "az", "host", "tenant"], "servers memory_mb", "MB x 2^20"),
    Export::of(&catalog::INSTANCE_RESOURCE_ALLOCATED, Resource::Storage, &["vm", "vm_id", "az", "host", "tenant"], "servers storage_mb", "MB x 2^20"),
    Export::of(&catalog::INSTANCE_RESOURCE_ALLOCATED, Resource::Gpu, &["vm", "vm_id", "az", "host", "tenant"], "servers gpu_status.graphics_count", "cards"),
    // Free slots of the configured instance sizes (`slot_hosts`), when there are any.
    Export::plain(&catalog::FLAVOR_FREE_SLOTS, &["flavor", "origin", "az"],
        "GET /janus/{v}/hosts (cpu.core_count, cpu.allocation_ratio, memory.total_mb, reserves.memory_mb, memory.allocation_ratio, gpu.total, status) and the servers on each host",
        "configured instance_sizes (origin config) and the OpenStack API's enabled flavors (origin catalog: scp.openstack, GET /openstack/compute/v2/flavors/detail; disk not checked), per running host min(floor(free vCPU / size vCPU), floor(free memory / size memory), floor(free GPUs / size GPUs)), free vCPU = cores x ratio - VM cores, free memory = (total - reserved) x ratio - VM memory; summed per pool"),
    Export::plain(&catalog::FLAVOR_FREE_SLOTS_N_MINUS_ONE, &["flavor", "origin", "az"], "as headroom_flavor_free_slots",
        "the pool's slots without its costliest host, minus re-placing that host's VMs (placement.rs)"),
    Export::plain(&catalog::FLAVOR_SLOTS_ALERT_BELOW, &["flavor", "origin"], "instance_sizes[].alert_below", "configured sizes that set it"),
];

/// VM sums per pool, host and tenant, built one VM at a time: the VM list is folded page by
/// page and never held whole (100,000 VMs would otherwise sit in memory as records).
#[derive(Debug, Default)]
pub struct ServerSums {
    per_vm: bool,
    /// (pool, resource)
    per_pool: BTreeMap<(String, Resource), f64>,
    /// (host, pool, resource)
    per_host: BTreeMap<(String, String, Resource), f64>,
    /// (tenant, pool) → VMs
    per_tenant: BTreeMap<(String, String), f64>,
    /// (tenant, pool, resource)
    tenant_alloc: BTreeMap<(String, String, Resource), f64>,
    /// host id → (vCPUs, memory bytes, GPUs) its VMs hold, for the free-slot count.
    pub by_host_id: BTreeMap<String, [f64; 3]>,
}

impl ServerSums {
    pub fn new(per_vm: bool) -> ServerSums {
        ServerSums {
            per_vm,
            ..Default::default()
        }
    }

    /// Adds one VM (its per-VM series, when asked for, go straight to `batch`).
    pub fn add(&mut self, s: &Server, batch: &mut Batch) {
        if s.vmtype.as_str() == "placeholder" {
            return;
        }
        let az = name_or(s.az_name.as_str(), s.az_id.as_str()).to_string();
        // A stopped VM placed automatically reports host_id "cluster": it is on no host.
        let host = if s.host_id.as_str() == "cluster" {
            ""
        } else {
            name_or(s.host_name.as_str(), s.host_id.as_str())
        };
        let tenant = name_or(s.project_name.as_str(), s.project_id.as_str());
        *self
            .per_pool
            .entry((az.clone(), Resource::Instances))
            .or_insert(0.0) += 1.0;
        *self
            .per_tenant
            .entry((tenant.to_string(), az.clone()))
            .or_insert(0.0) += 1.0;
        if !host.is_empty() {
            *self
                .per_host
                .entry((host.to_string(), az.clone(), Resource::Instances))
                .or_insert(0.0) += 1.0;
        }
        for (resource, value) in vm_allocation(s) {
            let Some(v) = value else {
                if resource != Resource::Gpu {
                    batch.drop_value();
                }
                continue;
            };
            *self.per_pool.entry((az.clone(), resource)).or_insert(0.0) += v;
            *self
                .tenant_alloc
                .entry((tenant.to_string(), az.clone(), resource))
                .or_insert(0.0) += v;
            if !host.is_empty() {
                *self
                    .per_host
                    .entry((host.to_string(), az.clone(), resource))
                    .or_insert(0.0) += v;
                let slot = match resource {
                    Resource::Vcpu => Some(0),
                    Resource::Memory => Some(1),
                    Resource::Gpu => Some(2),
                    _ => None,
                };
                if let Some(i) = slot {
                    self.by_host_id
                        .entry(s.host_id.as_str().to_string())
                        .or_default()[i] += v;
                }
            }
            if self.per_vm {
                let name = name_or(s.name.as_str(), s.id.as_str());
                batch.put(
                    &catalog::INSTANCE_RESOURCE_ALLOCATED,
                    resource,
                    &[
                        ("vm", name),
                        ("vm_id", s.id.as_str()),
                        ("az", &az),
                        ("host", host),
                        ("tenant", tenant),
                    ],
                    v,
                );
            }
        }
    }

    /// The sums, as series.
    pub fn finish(self, batch: &mut Batch) {
        for ((az, resource), v) in self.per_pool {
            if resource == Resource::Storage {
                batch.put(
                    &catalog::SERVICE_ALLOCATED,
                    resource,
                    &[("service", "ecs"), ("az", &az)],
                    v,
                );
            } else {
                batch.put(&catalog::RESOURCE_ALLOCATED, resource, &[("az", &az)], v);
            }
        }
        for ((host, az, resource), v) in self.per_host {
            batch.put(
                &catalog::HOST_RESOURCE_ALLOCATED,
                resource,
                &[("host", &host), ("az", &az)],
                v,
            );
        }
        for ((tenant, az, resource), v) in self.tenant_alloc {
            batch.put(
                &catalog::TENANT_RESOURCE_ALLOCATED,
                resource,
                &[("tenant", &tenant), ("service", "ecs"), ("az", &az)],
                v,
            );
        }
        for ((tenant, az), n) in self.per_tenant {
            batch.push(
                &catalog::TENANT_RESOURCES,
                &[("tenant", &tenant), ("service", "ecs"), ("az", &az)],
                n,
            );
        }
    }
}

/// The running hosts as the slot count sees them. What may be allocated: [`host_allocatable`];
/// GPUs per model from the GPU API (cards, and cards with a core in use), read when a size
/// needs GPUs; without it, `gpu.total` of no model (a size that names a model then fits on no
/// host). What is allocated: the host's VMs (GPUs: the cards in use). A host that
/// is not `running` (`offline`) takes nothing; disk is not checked (VM disks go to shared
/// datastores the host list does not name).
pub fn slot_hosts(
    hosts: &[Host],
    az_names: &BTreeMap<String, String>,
    held: &BTreeMap<String, [f64; 3]>,
    gpus: &BTreeMap<String, BTreeMap<String, Room>>,
) -> Vec<HostRoom> {
    let mut out = Vec::new();
    for h in hosts {
        if h.status.as_str() != "running" {
            continue;
        }
        let (Num::Value(vcpu_room), Num::Value(memory_room)) = host_allocatable(h) else {
            continue;
        };
        let [vcpus, memory, held_gpus] = held.get(h.id.as_str()).copied().unwrap_or_default();
        let az = az_names
            .get(h.az_id.as_str())
            .cloned()
            .unwrap_or_else(|| h.az_id.as_str().to_string());
        // GPUs per model from the GPU API where it was read; else the host list's cards, of no
        // model.
        let gpu_room = match gpus.get(h.id.as_str()) {
            Some(models) => models.clone(),
            None => h
                .gpu
                .total
                .get()
                .filter(|t| *t > 0.0)
                .map(|total| BTreeMap::from([(String::new(), Room::new(total, held_gpus))]))
                .unwrap_or_default(),
        };
        out.push(HostRoom {
            host: name_or(h.name.as_str(), h.id.as_str()).to_string(),
            place: vec![("az", az)],
            vcpu: Room::new(vcpu_room, vcpus),
            memory: Room::new(memory_room, memory),
            disk: None,
            disk_group: None,
            gpus: gpu_room,
        });
    }
    out
}

/// VMs summed per pool, host and tenant; per VM when asked.
pub fn normalise_servers(servers: &[Server], per_vm: bool, batch: &mut Batch) {
    let mut sums = ServerSums::new(per_vm);
    for s in servers {
        sums.add(s, batch);
    }
    sums.finish(batch);
}

pub const VOLUMES_EXPORTS: &[Export] = &[
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "evs",
        Resource::Storage,
        AZ,
        "GET /janus/20180725/volumes size",
        "GB x 2^30, summed per pool; every status (the recycle bin still holds storage)",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "evs",
        Resource::Volumes,
        AZ,
        "volumes",
        "shared disks counted per pool",
    ),
];

/// Shared disks summed per pool: provisioned bytes and count.
pub fn normalise_volumes(
    volumes: &[Volume],
    az_names: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    let mut per_pool: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for v in volumes {
        let az = az_names
            .get(v.az_id.as_str())
            .cloned()
            .unwrap_or_else(|| v.az_id.as_str().to_string());
        let e = per_pool.entry(az).or_default();
        e.1 += 1.0;
        match v.size {
            Num::Value(gb) => e.0 += gb * 1024.0 * MIB,
            Num::Invalid => batch.drop_value(),
            Num::Absent => {}
        }
    }
    for (az, (bytes, count)) in per_pool {
        let l = [("service", "evs"), ("az", az.as_str())];
        batch.put(&catalog::SERVICE_ALLOCATED, Resource::Storage, &l, bytes);
        batch.put(&catalog::SERVICE_ALLOCATED, Resource::Volumes, &l, count);
    }
}

pub const POOL_UTILIZATION_EXPORTS: &[Export] = &[
    Export::service(
        &catalog::SERVICE_UTILIZATION_RATIO,
        "monitoring",
        Resource::CpuHertz,
        AZ,
        "GET /janus/20180725/metrics/{az_id}?object_type=az cpu.util, newest datapoint",
        "percent / 100",
    ),
    Export::service(
        &catalog::SERVICE_UTILIZATION_RATIO,
        "monitoring",
        Resource::Memory,
        AZ,
        "metrics memory.util",
        "percent / 100",
    ),
    Export::service(
        &catalog::SERVICE_UTILIZATION_RATIO,
        "monitoring",
        Resource::Storage,
        AZ,
        "metrics disk.util",
        "percent / 100",
    ),
];

/// A pool's utilisation from its monitoring series (`cpu.util`, `memory.util`, `disk.util`).
pub fn normalise_pool_utilization(
    pool: &str,
    series: &BTreeMap<String, MetricSeries>,
    batch: &mut Batch,
) {
    for (metric, resource) in [
        ("cpu.util", Resource::CpuHertz),
        ("memory.util", Resource::Memory),
        ("disk.util", Resource::Storage),
    ] {
        let Some(s) = series.get(metric) else {
            continue;
        };
        // Percent by the document (`unit: "%"`); anything else is not guessed.
        if !matches!(s.unit.as_str(), "%" | "") {
            batch.drop_value();
            continue;
        }
        batch.put_num(
            &catalog::SERVICE_UTILIZATION_RATIO,
            resource,
            &[("service", "monitoring"), ("az", pool)],
            &s.last_value(),
            0.01,
        );
    }
}

/// The resource of a quota key and the scope label it carries; `None` for a key the
/// vocabulary has no name for.
fn quota_resource(key: &str) -> Option<(Resource, Option<(&'static str, String)>)> {
    if let Some(tag) = key.strip_prefix("storage_tag::") {
        let tag = tag.trim();
        return Some((
            Resource::Storage,
            Some(("storage_type", builtin_tag(tag).unwrap_or(tag).to_string())),
        ));
    }
    if let Some(line) = key.strip_prefix("eip_count::") {
        return Some((Resource::Eip, Some(("eip_type", line.trim().to_string()))));
    }
    if let Some(line) = key.strip_prefix("eip_bandwidth::") {
        return Some((
            Resource::Bandwidth,
            Some(("eip_type", line.trim().to_string())),
        ));
    }
    if let Some(model) = key
        .strip_prefix("nvidia_")
        .and_then(|m| m.strip_suffix("_ram"))
    {
        return Some((Resource::GpuMemory, Some(("gpu_model", model.to_string()))));
    }
    Some((
        match key {
            "cores" => Resource::Vcpu,
            "ram" => Resource::Memory,
            "vm_count" => Resource::Instances,
            "gpu_slice_count" => Resource::Vgpu,
            _ => return None,
        },
        None,
    ))
}

const QUOTA: &[&str] = &[
    "tenant",
    "service",
    "az",
    "storage_type",
    "eip_type",
    "gpu_model",
    "quota_key",
];

pub const QUOTAS_EXPORTS: &[Export] = &[
    Export::of(&catalog::QUOTA_LIMIT, Resource::Vcpu, QUOTA, "GET /janus/20180725/quotas resource=cores az_quotas[].hard_limit", "-1 (unlimited) has no series; service = namespace"),
    Export::of(&catalog::QUOTA_USED, Resource::Vcpu, QUOTA, "quotas resource=cores separated_quotas[].in_use", "cores; the global pool 10000000-… has no az"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Memory, QUOTA, "quotas resource=ram hard_limit", "MB x 2^20"),
    Export::of(&catalog::QUOTA_USED, Resource::Memory, QUOTA, "quotas resource=ram in_use", "MB x 2^20"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Instances, QUOTA, "quotas resource=vm_count hard_limit", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Instances, QUOTA, "quotas resource=vm_count in_use", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Vgpu, QUOTA, "quotas resource=gpu_slice_count hard_limit", "count"),
    Export::of(&catalog::QUOTA_USED, Resource::Vgpu, QUOTA, "quotas resource=gpu_slice_count in_use", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Storage, QUOTA, "quotas resource=storage_tag::<id> hard_limit", "MB x 2^20; storage_type = tag"),
    Export::of(&catalog::QUOTA_USED, Resource::Storage, QUOTA, "quotas resource=storage_tag::<id> in_use", "MB x 2^20"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Eip, QUOTA, "quotas resource=eip_count::<line> hard_limit", "count; eip_type = line"),
    Export::of(&catalog::QUOTA_USED, Resource::Eip, QUOTA, "quotas resource=eip_count::<line> in_use", "count"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::Bandwidth, QUOTA, "quotas resource=eip_bandwidth::<line> hard_limit", "unit as stated (Mbps x 10^6)"),
    Export::of(&catalog::QUOTA_USED, Resource::Bandwidth, QUOTA, "quotas resource=eip_bandwidth::<line> in_use", "unit as stated"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::GpuMemory, QUOTA, "quotas resource=nvidia_<model>_ram hard_limit", "MB x 2^20; gpu_model = model"),
    Export::of(&catalog::QUOTA_USED, Resource::GpuMemory, QUOTA, "quotas resource=nvidia_<model>_ram in_use", "MB x 2^20"),
    Export::of(&catalog::QUOTA_LIMIT, Resource::OtherQuota, QUOTA, "quotas resource=<any other key> hard_limit",
        "counted keys only (unit 台/个/张/条); quota_key = the key; keys in other units are dropped, counted"),
    Export::of(&catalog::QUOTA_USED, Resource::OtherQuota, QUOTA, "quotas resource=<any other key> in_use", "counted keys only"),
];

/// Quota limits and use per tenant, resource and pool.
pub fn normalise_quotas(
    quotas: &[Quota],
    tenants: &BTreeMap<String, String>,
    az_names: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    for q in quotas {
        let key = q.resource.as_str();
        if key.is_empty() || q.project_id.as_str().is_empty() {
            batch.drop_value();
            continue;
        }
        let Some((scale, unit)) = unit_scale(q.unit.as_str()) else {
            batch.drop_value();
            continue;
        };
        let tenant = tenants
            .get(q.project_id.as_str())
            .map(String::as_str)
            .unwrap_or(q.project_id.as_str());
        let (resource, scope, quota_key) = match quota_resource(key) {
            Some((r, scope)) => (r, scope, ""),
            None if unit == "count" => (Resource::OtherQuota, None, key),
            None => {
                tracing::debug!(key, unit, "A quota key the vocabulary does not name, in a unit other than a count; not exported.");
                batch.drop_value();
                continue;
            }
        };
        if scale_for(resource, q.unit.as_str()).is_none() {
            batch.drop_value();
            continue;
        }
        let (scope_key, scope_value) = scope.unwrap_or(("storage_type", String::new()));
        let az_label = |az_id: &str| -> String {
            if az_id == GLOBAL_AZ {
                String::new()
            } else {
                az_names
                    .get(az_id)
                    .cloned()
                    .unwrap_or_else(|| az_id.to_string())
            }
        };
        for l in &q.az_quotas {
            let az = az_label(l.az_id.as_str());
            let labels = [
                ("tenant", tenant),
                ("service", q.namespace.as_str()),
                ("az", &az),
                (scope_key, &scope_value),
                ("quota_key", quota_key),
            ];
            match l.hard_limit {
                // -1: unlimited, documented; no series.
                Num::Value(v) if v < 0.0 => {}
                ref n => batch.put_num(&catalog::QUOTA_LIMIT, resource, &labels, n, scale),
            }
        }
        for u in &q.separated_quotas {
            let az = az_label(u.az_id.as_str());
            let labels = [
                ("tenant", tenant),
                ("service", q.namespace.as_str()),
                ("az", &az),
                (scope_key, &scope_value),
                ("quota_key", quota_key),
            ];
            batch.put_num(&catalog::QUOTA_USED, resource, &labels, &u.in_use, scale);
        }
    }
}

const EIP: &[&str] = &["eip_pool"];
const BANDWIDTH: &[&str] = &["eip_pool", "direction"];

pub const EIP_POOLS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::Eip,
        EIP,
        "GET /janus/20180725/floatingippools/{id} ip_count",
        "IPs",
    ),
    Export::of(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Eip,
        EIP,
        "floatingippools/{id} ip_used",
        "IPs handed out",
    ),
    Export::of(
        &catalog::RESOURCE_USED,
        Resource::Eip,
        EIP,
        "floatingippools/{id} ip_bind",
        "IPs bound to an instance",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::Bandwidth,
        BANDWIDTH,
        "floatingippools/{id} qos_uplink / qos_downlink",
        "Kbps x 1000",
    ),
    Export::of(
        &catalog::RESOURCE_USED,
        Resource::Bandwidth,
        BANDWIDTH,
        "floatingippools/{id} pool_in_kbps (uplink) / pool_out_kbps (downlink)",
        "Kbps x 1000",
    ),
    Export::of(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Bandwidth,
        BANDWIDTH,
        "floatingippools/{id} allocated_bandwidth",
        "Kbps x 1000, the same in both directions (EIP caps are symmetric in every example)",
    ),
];

pub fn normalise_eip_pool(pool: &EipPool, batch: &mut Batch) {
    let name = name_or(pool.name.as_str(), pool.id.as_str());
    let ips = [("eip_pool", name)];
    batch.put_num(
        &catalog::RESOURCE_CAPACITY,
        Resource::Eip,
        &ips,
        &pool.ip_count,
        1.0,
    );
    batch.put_num(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Eip,
        &ips,
        &pool.ip_used,
        1.0,
    );
    batch.put_num(
        &catalog::RESOURCE_USED,
        Resource::Eip,
        &ips,
        &pool.ip_bind,
        1.0,
    );
    for (direction, cap, used) in [
        ("uplink", &pool.qos_uplink, &pool.pool_in_kbps),
        ("downlink", &pool.qos_downlink, &pool.pool_out_kbps),
    ] {
        let l = [("eip_pool", name), ("direction", direction)];
        let bw = Resource::Bandwidth;
        batch.put_num(&catalog::RESOURCE_CAPACITY, bw, &l, cap, 1000.0);
        batch.put_num(&catalog::RESOURCE_USED, bw, &l, used, 1000.0);
        batch.put_num(
            &catalog::RESOURCE_ALLOCATED,
            bw,
            &l,
            &pool.allocated_bandwidth,
            1000.0,
        );
    }
}

pub const OBJECT_STORAGE_EXPORTS: &[Export] = &[
    Export::of(&catalog::QUOTA_LIMIT, Resource::ObjectStorage, &["tenant", "service"], "GET /janus/20180725/oss-accounts capacity_size",
        "KB x 2^10, the tenant's accounts summed (service obs)"),
    Export::of(&catalog::QUOTA_USED, Resource::ObjectStorage, &["tenant", "service"], "oss-accounts used_capacity_size", "KB x 2^10"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::ObjectStorage, &[], "oss-accounts capacity_size",
        "KB x 2^10, every account summed: what the accounts' quotas promise (no API states the object store's size)"),
    Export::of(&catalog::RESOURCE_USED, Resource::ObjectStorage, &[], "oss-accounts used_capacity_size", "KB x 2^10, summed"),
    Export::of(&catalog::RESOURCE_USED, Resource::Objects, &[], "oss-accounts object_count", "summed"),
];

/// Object storage: per tenant quota (accounts summed), and the target's totals.
pub fn normalise_oss(
    accounts: &[OssAccount],
    tenants: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    let mut per_tenant: BTreeMap<String, (Option<f64>, Option<f64>)> = BTreeMap::new();
    let (mut capacity, mut used, mut objects) = (None::<f64>, None::<f64>, None::<f64>);
    let add = |acc: &mut Option<f64>, n: &Num| {
        if let Some(v) = n.get() {
            *acc = Some(acc.unwrap_or(0.0) + v);
        }
    };
    for a in accounts {
        for n in [&a.capacity_size, &a.used_capacity_size, &a.object_count] {
            if n.is_invalid() {
                batch.drop_value();
            }
        }
        let tenant = tenants
            .get(a.project_id.as_str())
            .map(String::as_str)
            .unwrap_or(a.project_id.as_str());
        let e = per_tenant.entry(tenant.to_string()).or_default();
        add(&mut e.0, &a.capacity_size);
        add(&mut e.1, &a.used_capacity_size);
        add(&mut capacity, &a.capacity_size);
        add(&mut used, &a.used_capacity_size);
        add(&mut objects, &a.object_count);
    }
    let os = Resource::ObjectStorage;
    for (tenant, (limit, in_use)) in per_tenant {
        let labels = [("tenant", tenant.as_str()), ("service", "obs")];
        if let Some(l) = limit {
            batch.put(&catalog::QUOTA_LIMIT, os, &labels, l * 1024.0);
        }
        if let Some(u) = in_use {
            batch.put(&catalog::QUOTA_USED, os, &labels, u * 1024.0);
        }
    }
    if let Some(c) = capacity {
        batch.put(&catalog::RESOURCE_ALLOCATED, os, &[], c * 1024.0);
    }
    if let Some(u) = used {
        batch.put(&catalog::RESOURCE_USED, os, &[], u * 1024.0);
    }
    if let Some(o) = objects {
        batch.put(&catalog::RESOURCE_USED, Resource::Objects, &[], o);
    }
}

const GPU: &[&str] = &["az", "gpu_model"];

pub const GPUS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::Gpu,
        GPU,
        "GET /janus/20180725/accelerators/azs/{id}/gpu graphics[]",
        "cards counted per pool and model (gpu_name, else name, else type)",
    ),
    Export::of(
        &catalog::RESOURCE_USED,
        Resource::Gpu,
        GPU,
        "accelerators graphics[].gpucore[].used_instances",
        "cards with at least one instance on them",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::GpuMemory,
        GPU,
        "accelerators graphics[].gpucore[].mem_total",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::RESOURCE_USED,
        Resource::GpuMemory,
        GPU,
        "accelerators graphics[].gpucore[].mem_used",
        "MB x 2^20",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::Vgpu,
        GPU,
        "accelerators graphics[].gpucore[].max_instances",
        "instance slots",
    ),
    Export::of(
        &catalog::RESOURCE_ALLOCATED,
        Resource::Vgpu,
        GPU,
        "accelerators graphics[].gpucore[].used_instances",
        "instances",
    ),
];

/// GPUs of one pool, summed per model: the pool view of GPUs (the pool detail reports them
/// without the model, as the pool summary).
/// The model a GPU of the GPU API is (`gpu_name`, else `name`, else `model`; `unknown`).
fn gpu_model_of(g: &api::Graphic) -> String {
    let model = name_or(
        g.gpu_name.as_str(),
        name_or(g.name.as_str(), g.model.as_str()),
    );
    if model.is_empty() {
        "unknown".into()
    } else {
        model.to_string()
    }
}

/// Per host id, its GPU cards per model: (cards, cards in use), from the GPU API.
pub fn gpu_rooms(hosts: &[GpuHost]) -> BTreeMap<String, BTreeMap<String, Room>> {
    let mut out: BTreeMap<String, BTreeMap<String, Room>> = BTreeMap::new();
    for h in hosts {
        let Some(id) = h.host_id.get() else { continue };
        for g in &h.graphics {
            let in_use = g
                .gpucore
                .iter()
                .any(|c| c.used_instances.get().is_some_and(|n| n > 0.0));
            let r = out
                .entry(id.to_string())
                .or_default()
                .entry(gpu_model_of(g))
                .or_default();
            r.allocatable += 1.0;
            if in_use {
                r.allocated += 1.0;
            }
        }
    }
    out
}

pub fn normalise_gpus(pool: &str, hosts: &[GpuHost], batch: &mut Batch) {
    #[derive(Default)]
    struct Sums {
        cards: f64,
        cards_in_use: f64,
        mem_total: f64,
        mem_used: f64,
        max_instances: f64,
        used_instances: f64,
    }
    let mut per_model: BTreeMap<String, Sums> = BTreeMap::new();
    for h in hosts {
        for g in &h.graphics {
            let s = per_model.entry(gpu_model_of(g)).or_default();
            s.cards += 1.0;
            let mut in_use = false;
            for c in &g.gpucore {
                in_use |= c.used_instances.get().is_some_and(|n| n > 0.0);
                for (acc, n, scale) in [
                    (&mut s.mem_total, &c.mem_total, MIB),
                    (&mut s.mem_used, &c.mem_used, MIB),
                    (&mut s.max_instances, &c.max_instances, 1.0),
                    (&mut s.used_instances, &c.used_instances, 1.0),
                ] {
                    match n {
                        Num::Value(v) => *acc += v * scale,
                        Num::Invalid => batch.drop_value(),
                        Num::Absent => {}
                    }
                }
            }
            if in_use {
                s.cards_in_use += 1.0;
            }
        }
    }
    for (model, s) in per_model {
        let l = [("az", pool), ("gpu_model", model.as_str())];
        batch.put(&catalog::RESOURCE_CAPACITY, Resource::Gpu, &l, s.cards);
        batch.put(&catalog::RESOURCE_USED, Resource::Gpu, &l, s.cards_in_use);
        batch.put(
            &catalog::RESOURCE_CAPACITY,
            Resource::GpuMemory,
            &l,
            s.mem_total,
        );
        batch.put(&catalog::RESOURCE_USED, Resource::GpuMemory, &l, s.mem_used);
        batch.put(
            &catalog::RESOURCE_CAPACITY,
            Resource::Vgpu,
            &l,
            s.max_instances,
        );
        batch.put(
            &catalog::RESOURCE_ALLOCATED,
            Resource::Vgpu,
            &l,
            s.used_instances,
        );
    }
}

pub const ALARMS_EXPORTS: &[Export] = &[Export::plain(
    &catalog::ALARMS_ACTIVE,
    &["source", "severity", "az", "object_type"],
    "GET /janus/{v}/alarms",
    "open and acknowledged alarms counted by raw level (p1/p2/p3 or the legacy words), pool and object type",
)];

pub const LICENSES_EXPORTS: &[Export] = &[Export::plain(
    &catalog::LICENSE_REMAINING,
    &["product", "kind"],
    "GET /janus/20180725/licenses/summary products[].software_time/service_time.remain_timestamp",
    "seconds; -1 (perpetual) has no series",
)];

pub const OVERVIEW_EXPORTS: &[Export] = &[Export::plain(
    &catalog::PLATFORM_OBJECTS,
    &["kind", "state"],
    "GET /janus/20180725/overview host/server/nfv/az",
    "as reported, per kind and state (`_count` dropped)",
)];

pub const PLATFORM_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::PLATFORM_INFO,
        &["version", "build", "region", "mode"],
        "GET /janus/20180725/platform, /janus/20180725/system/version",
        "labels as reported",
    ),
    Export::plain(
        &catalog::API_VERSION_INFO,
        &["api", "version"],
        "the newest version each endpoint family answers",
        "always 1",
    ),
];

/// Active alarms counted by raw level, pool and object type. Closed ones (legacy list) are skipped.
pub fn normalise_alarms(alarms: &[Alarm], az_names: &BTreeMap<String, String>, batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for a in alarms {
        if a.status.as_str() == "close" {
            continue;
        }
        let az = a.az_name.get().map(str::to_string).unwrap_or_else(|| {
            az_names
                .get(a.az_id.as_str())
                .cloned()
                .unwrap_or_else(|| a.az_id.as_str().to_string())
        });
        let level = a.level.get().unwrap_or("unknown").to_string();
        *counts
            .entry((level, az, a.object_type.as_str().to_string()))
            .or_insert(0.0) += 1.0;
    }
    for ((severity, az, object_type), n) in counts {
        batch.push(
            &catalog::ALARMS_ACTIVE,
            &[
                ("source", "scp"),
                ("severity", &severity),
                ("az", &az),
                ("object_type", &object_type),
            ],
            n,
        );
    }
}

pub fn normalise_licenses(summary: &LicenseSummary, batch: &mut Batch) {
    for p in &summary.products {
        let product = p.name.as_str();
        if product.is_empty() {
            batch.drop_value();
            continue;
        }
        for (kind, t) in [("software", &p.software_time), ("service", &p.service_time)] {
            match t.remain_timestamp {
                // -1: perpetual (documented), no series.
                Num::Value(v) if v < 0.0 => {}
                ref n => batch.push_num(
                    &catalog::LICENSE_REMAINING,
                    &[("product", product), ("kind", kind)],
                    n,
                    1.0,
                ),
            }
        }
    }
}

pub fn normalise_overview(o: &Overview, batch: &mut Batch) {
    for (kind, counts) in [
        ("host", &o.host),
        ("vm", &o.server),
        ("nfv", &o.nfv),
        ("az", &o.az),
    ] {
        for (key, n) in counts {
            let state = key.strip_suffix("_count").unwrap_or(key);
            batch.push_num(
                &catalog::PLATFORM_OBJECTS,
                &[("kind", kind), ("state", state)],
                n,
                1.0,
            );
        }
    }
}

pub fn normalise_platform(
    version: Option<&SystemVersion>,
    platform: Option<&PlatformInfo>,
    versions: &BTreeMap<&'static str, &'static str>,
    batch: &mut Batch,
) {
    let (v, mode, region) = match platform {
        Some(p) => (
            p.version.as_str(),
            p.manage_mode.as_str(),
            name_or(
                p.region_info.region_name.as_str(),
                p.region_info.region_id.as_str(),
            ),
        ),
        None => ("", "", ""),
    };
    let build = version.map(|b| b.build_version.as_str()).unwrap_or("");
    batch.push(
        &catalog::PLATFORM_INFO,
        &[
            ("version", v),
            ("build", build),
            ("region", region),
            ("mode", mode),
        ],
        1.0,
    );
    let probed = |f: &str| api::FAMILIES.iter().any(|p| p.name == f);
    for (family, version) in versions.iter().filter(|(f, _)| probed(f)) {
        batch.push(
            &catalog::API_VERSION_INFO,
            &[("api", family), ("version", version)],
            1.0,
        );
    }
}

/// One SCP collector; `name` selects which APIs it polls.
pub struct ScpCollector {
    name: &'static str,
    api: Arc<ScpApi>,
    options: ScpCollectorOptions,
    /// The target's configured `instance_sizes`: the `vms` collector counts their free slots.
    instance_sizes: Vec<InstanceSize>,
}

impl ScpCollector {
    pub fn new(
        name: &'static str,
        api: Arc<ScpApi>,
        options: ScpCollectorOptions,
        instance_sizes: Vec<InstanceSize>,
    ) -> ScpCollector {
        ScpCollector {
            name,
            api,
            options,
            instance_sizes,
        }
    }

    async fn azs(&self, deadline: Instant) -> Result<api::Listed<Az>, PollError> {
        self.api
            .list_required("azs", "/janus/20180725/azs", &[], deadline)
            .await
    }

    async fn az_names(&self, deadline: Instant) -> Result<BTreeMap<String, String>, PollError> {
        Ok(self
            .azs(deadline)
            .await?
            .items
            .into_iter()
            .filter_map(|a| {
                Some((
                    a.id.get()?.to_string(),
                    a.name.get().or(a.id.get())?.to_string(),
                ))
            })
            .collect())
    }

    async fn tenant_names(&self, deadline: Instant) -> Result<BTreeMap<String, String>, PollError> {
        let projects: api::Listed<Project> = self
            .api
            .list_required("projects", "/janus/20180725/projects", &[], deadline)
            .await?;
        Ok(projects
            .items
            .into_iter()
            .filter_map(|p| {
                Some((
                    p.id.get()?.to_string(),
                    p.name.get().or(p.id.get())?.to_string(),
                ))
            })
            .collect())
    }

    /// The records of a list family at the newest version the site serves (the family's name
    /// is its path); records that do not parse are counted in `batch`.
    async fn family<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        family: &api::Family,
        batch: &mut Batch,
        deadline: Instant,
    ) -> Result<Vec<T>, PollError> {
        let (listed, _) = self
            .api
            .list_versioned::<T>(family.name, family, family.name, &[], deadline)
            .await?;
        batch.drop_values(listed.dropped);
        Ok(listed.items)
    }

    /// Optional object endpoints (newer SCP versions only): `None` on 404.
    async fn optional<T: serde::de::DeserializeOwned>(
        &self,
        api: &'static str,
        path: &str,
        deadline: Instant,
    ) -> Result<Option<T>, PollError> {
        match self.api.get(api, path, &[], deadline).await? {
            Answer::Data(v) => api::parse_one(api, v).map(Some),
            Answer::NotFound => Ok(None),
        }
    }

    async fn run(&self, ctx: &PollContext) -> Result<Batch, PollError> {
        let d = ctx.deadline;
        let api = &self.api;
        let mut batch = Batch::new();
        match self.name {
            super::PLATFORM => {
                let version: Option<SystemVersion> = self
                    .optional("system_version", "/janus/20180725/system/version", d)
                    .await?;
                let platform: Option<PlatformInfo> = self
                    .optional("platform", "/janus/20180725/platform", d)
                    .await?;
                self.probe_versions(d).await?;
                normalise_platform(
                    version.as_ref(),
                    platform.as_ref(),
                    &api.chosen_versions(),
                    &mut batch,
                );
            }
            super::OVERVIEW => {
                let v = api
                    .get_data("overview", "/janus/20180725/overview", &[], d)
                    .await?;
                normalise_overview(&api::parse_one::<Overview>("overview", v)?, &mut batch);
            }
            super::RESOURCE_POOLS => {
                let azs = self.azs(d).await?;
                batch.drop_values(azs.dropped);
                for az in azs.items {
                    let Some(id) = az.id.get() else {
                        batch.drop_value();
                        continue;
                    };
                    let (v, _) = api
                        .get_versioned("az_detail", &api::AZ_DETAIL, &format!("azs/{id}"), d)
                        .await?;
                    let detail: AzDetail = api::parse_one("az_detail", v)?;
                    normalise_pool(name_or(az.name.as_str(), id), &detail, &mut batch);
                }
            }
            super::HOSTS => {
                let names = self.az_names(d).await?;
                let hosts: Vec<Host> = self.family(&api::HOSTS, &mut batch, d).await?;
                normalise_hosts(&hosts, &names, &mut batch);
            }
            super::CLUSTERS => {
                let names = self.az_names(d).await?;
                let clusters: Vec<Cluster> = self.family(&api::CLUSTERS, &mut batch, d).await?;
                normalise_clusters(&clusters, &names, &mut batch);
            }
            super::STORAGES => {
                let names = self.az_names(d).await?;
                let storages: Vec<Storage> = self.family(&api::STORAGES, &mut batch, d).await?;
                normalise_storages(&storages, &names, &mut batch);
            }
            super::VMS => {
                let mut sums = ServerSums::new(self.options.per_vm);
                let (dropped, _) = api
                    .list_versioned_each::<Server>(
                        api::SERVERS.name,
                        &api::SERVERS,
                        api::SERVERS.name,
                        &[],
                        d,
                        |s| sums.add(&s, &mut batch),
                    )
                    .await?;
                batch.drop_values(dropped);
                // Free slots need each host's room beside what its VMs hold (the VM list is the
                // expensive part, read once for both); only when there are sizes to count: the
                // configured ones and the OpenStack API's flavors (`scp.openstack`).
                let mut sizes = self.instance_sizes.clone();
                if let Some(listed) = api.openstack_flavors(d).await? {
                    batch.drop_values(listed.dropped);
                    let mut catalog = flavor_sizes(&listed.items, &mut batch);
                    let max = api.settings.openstack.as_ref().map_or(0, |o| o.max_flavors);
                    if catalog.len() > max {
                        // The smallest sizes are kept: the ones most likely still to fit.
                        catalog.sort_by(|a, b| {
                            (a.vcpus, a.memory)
                                .partial_cmp(&(b.vcpus, b.memory))
                                .unwrap_or(std::cmp::Ordering::Equal)
                        });
                        batch.drop_values(catalog.len() - max);
                        catalog.truncate(max);
                    }
                    sizes.extend(catalog);
                }
                if !sizes.is_empty() {
                    let names = self.az_names(d).await?;
                    let hosts: Vec<Host> = self.family(&api::HOSTS, &mut batch, d).await?;
                    // A size that needs GPUs needs their models: one GPU API call per HCI pool.
                    let mut gpus = BTreeMap::new();
                    if sizes.iter().any(|s| s.gpus > 0.0) {
                        for az in self.azs(d).await?.items {
                            let Some(id) = az.id.get() else { continue };
                            if az.kind.get().is_some_and(|k| k != "hci") {
                                continue;
                            }
                            let path = format!("/janus/20180725/accelerators/azs/{id}/gpu");
                            if let Some(listed) = api.list::<GpuHost>("gpus", &path, &[], d).await?
                            {
                                batch.drop_values(listed.dropped);
                                gpus.extend(gpu_rooms(&listed.items));
                            }
                        }
                    }
                    let rooms = slot_hosts(&hosts, &names, &sums.by_host_id, &gpus);
                    placement::put_slots(&rooms, &sizes, &DiskGroups::new(), &mut batch);
                }
                sums.finish(&mut batch);
            }
            super::VOLUMES => {
                let names = self.az_names(d).await?;
                let volumes: api::Listed<Volume> = api
                    .list_required("volumes", "/janus/20180725/volumes", &[], d)
                    .await?;
                batch.drop_values(volumes.dropped);
                normalise_volumes(&volumes.items, &names, &mut batch);
            }
            super::POOL_UTILIZATION => {
                let azs = self.azs(d).await?;
                batch.drop_values(azs.dropped);
                for az in azs.items {
                    let Some(id) = az.id.get() else {
                        batch.drop_value();
                        continue;
                    };
                    let query = [
                        ("object_type", "az".to_string()),
                        ("metric_names", "cpu.util,memory.util,disk.util".to_string()),
                        ("timegap", "600".to_string()),
                    ];
                    let path = format!("/janus/20180725/metrics/{id}");
                    let v = match api.get("pool_metrics", &path, &query, d).await? {
                        Answer::Data(v) => v,
                        Answer::NotFound => {
                            return Err(PollError::new(ErrorReason::Http, "pool_metrics: the monitoring API is not served for pools (SCP 6.8.80+ needed); disable the collector"))
                        }
                    };
                    let series: BTreeMap<String, MetricSeries> = api::parse_one("pool_metrics", v)?;
                    normalise_pool_utilization(name_or(az.name.as_str(), id), &series, &mut batch);
                }
            }
            super::QUOTAS => {
                let names = self.az_names(d).await?;
                let tenants = self.tenant_names(d).await?;
                let quotas: api::Listed<Quota> = api
                    .list_required("quotas", "/janus/20180725/quotas", &[], d)
                    .await?;
                batch.drop_values(quotas.dropped);
                normalise_quotas(&quotas.items, &tenants, &names, &mut batch);
            }
            super::EIP_POOLS => {
                let pools: api::Listed<EipPool> = api.list_alternatives("eip_pools", &api::EIP_POOL_LIST, d).await?.ok_or_else(|| {
                    PollError::new(
                        ErrorReason::Http,
                        "eip_pools: neither floatingippools nor floatingipools is served (SCP 6.3.70+ needed)",
                    )
                })?;
                batch.drop_values(pools.dropped);
                for p in pools.items {
                    let Some(id) = p.id.get() else {
                        batch.drop_value();
                        continue;
                    };
                    let v = api
                        .get_data(
                            "eip_pool",
                            &format!("/janus/20180725/floatingippools/{id}"),
                            &[],
                            d,
                        )
                        .await?;
                    normalise_eip_pool(&api::parse_one::<EipPool>("eip_pool", v)?, &mut batch);
                }
            }
            super::OBJECT_STORAGE => {
                let tenants = self.tenant_names(d).await?;
                let accounts: api::Listed<OssAccount> = api
                    .list_required("oss_accounts", "/janus/20180725/oss-accounts", &[], d)
                    .await?;
                batch.drop_values(accounts.dropped);
                normalise_oss(&accounts.items, &tenants, &mut batch);
            }
            super::GPUS => {
                for az in self.azs(d).await?.items {
                    let Some(id) = az.id.get() else { continue };
                    // GPUs exist in HCI pools only (§4.28).
                    if az.kind.get().is_some_and(|k| k != "hci") {
                        continue;
                    }
                    let path = format!("/janus/20180725/accelerators/azs/{id}/gpu");
                    let Some(hosts) = api.list::<GpuHost>("gpus", &path, &[], d).await? else {
                        return Err(PollError::new(ErrorReason::Http, "gpus: the GPU API is not served (SCP 6.9.0+ needed); disable the collector"));
                    };
                    batch.drop_values(hosts.dropped);
                    normalise_gpus(name_or(az.name.as_str(), id), &hosts.items, &mut batch);
                }
            }
            super::ALARMS => {
                let names = self.az_names(d).await?;
                let alarms: Vec<Alarm> = self.family(&api::ALARMS, &mut batch, d).await?;
                normalise_alarms(&alarms, &names, &mut batch);
            }
            super::LICENSES => {
                let v = api
                    .get_data("licenses", "/janus/20180725/licenses/summary", &[], d)
                    .await?;
                normalise_licenses(
                    &api::parse_one::<LicenseSummary>("licenses", v)?,
                    &mut batch,
                );
            }
            other => {
                return Err(PollError::new(
                    ErrorReason::Parse,
                    format!("unknown SCP collector {other}"),
                ))
            }
        }
        Ok(batch)
    }

    /// Resolves the API version of every family not used yet, with one-item requests.
    async fn probe_versions(&self, d: Instant) -> Result<(), PollError> {
        let known = self.api.chosen_versions();
        for family in api::FAMILIES {
            if known.contains_key(family.name) {
                continue;
            }
            if family.name == api::AZ_DETAIL.name {
                let first = self
                    .azs(d)
                    .await?
                    .items
                    .into_iter()
                    .find_map(|a| a.id.get().map(str::to_string));
                if let Some(id) = first {
                    let probed = self
                        .api
                        .get_versioned("az_detail", family, &format!("azs/{id}"), d)
                        .await;
                    // A site without the pool detail API (older than 6.3.70) is not a failure
                    // of this collector: the family is then simply not reported.
                    match probed {
                        Err(e) if e.reason != ErrorReason::Http => return Err(e),
                        _ => {}
                    }
                }
                continue;
            }
            let one = [
                ("page_num", "0".to_string()),
                ("page_size", "1".to_string()),
            ];
            self.api.probe(family, &one, d).await?;
        }
        Ok(())
    }
}

impl Collector for ScpCollector {
    fn poll<'a>(&'a self, ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
        Box::pin(self.run(ctx))
    }
}
