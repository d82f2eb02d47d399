//! SCP collectors: which APIs each one calls, and how their answers become the metric vocabulary.
//!
//! Mapping decisions (the document's ambiguities, spec §5 and §7.6):
//! - Units: `mhz` → hertz (×10^6); `MB`/`mb` → bytes (×2^20: the document equates 1024 MB with
//!   1 GB); OSS `KB` → bytes (×2^10); `Kbps` → bits/s (×1000); `核` → cores; `张`/`个`/`台` →
//!   count. A unit the mapping does not know drops the value (counted), never guessed.
//! - `physical_resources` of a resource pool (AZ) is the pool's physical capacity
//!   (`service="physical"`, `az` label = the pool's name). `gpu`/`graphics_num` and
//!   `gpu_mem`/`graphics_mem` are the same thing under the two spellings.
//! - `virtual_resources` is the pool's quota view (`service="quota"`): `allocated` → allocated,
//!   `occupied` → used, `total` → allocatable only when it is above 0 (the examples show 0.0 next
//!   to hundreds of allocated cores, i.e. "not reported"); `limit` → `headroom_resource_limit`,
//!   except -1 (unlimited, documented), which has no series. Storage entries carry the storage
//!   tag and policy in their display name, which becomes `storage_type`.
//! - Hosts: `total_mhz`/`used_mhz`, `core_count`, sockets and threads, memory, raw disk sum
//!   (`resource="disk"`, not datastore capacity), GPUs and the configured overcommit
//!   (`allocation_ratio`, per CPU and memory) go to the host families; the formula for
//!   allocatable vCPU is not documented, so none is computed. Cores are summed per pool into
//!   `headroom_resource_capacity{service="physical",resource="cpu",unit="cores"}`, which only hosts
//!   report. `allocation_max` and reserved memory have no documented meaning and are not exported.
//! - Clusters go to `headroom_cluster_resource_*` (a drill-down level), datastores to
//!   `headroom_resource_*{service="datastore"}` per datastore (`storage_type` = tag name, tag id,
//!   or `untagged`: an untagged datastore cannot be used by VMs).
//! - VMs are summed per pool (`service="ecs"`), per host (host families) and per tenant
//!   (`headroom_tenant_resource_allocated`, and counted in `headroom_tenant_resources`); DR
//!   placeholders (`vmtype="placeholder"`) hold no resources and are skipped. Per-VM series only
//!   with `per_vm: true`.
//! - Shared disks (`volumes`, the only volumes this API lists) are summed per pool as
//!   `service="evs"`; `size` is GB (×2^30), every status counted (the recycle bin still holds
//!   its storage).
//! - Pool utilisation comes from the monitoring API's newest datapoint, in percent (÷100).
//! - Quotas: `hard_limit` -1 (unlimited) gives no limit series; `in_use` is used. Known keys get
//!   the shared resource names (`cores` → vcpu, `ram` → memory, `storage_tag::<id>` → storage,
//!   `eip_count::<line>` → eip, `eip_bandwidth::<line>` → bandwidth, `nvidia_<m>_ram` →
//!   gpu_memory); others keep their key. The global pseudo-pool `10000000-…` has no `az` label.
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
use crate::catalog;
use crate::collect::{Batch, BoxFuture, Collector, ErrorReason, PollContext, PollError};
use crate::lenient::Num;

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

/// The physical resource kind of a `physical_resources` entry: (resource, expected base unit).
fn physical_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "cpu" => "cpu",
        "memory" => "memory",
        "storage" => "storage",
        "gpu" | "graphics_num" => "gpu",
        "gpu_mem" | "graphics_mem" => "gpu_memory",
        _ => return None,
    })
}

/// A pool's physical and quota-view capacity.
pub fn normalise_pool(pool: &str, detail: &AzDetail, batch: &mut Batch) {
    for r in &detail.physical_resources {
        let (Some(resource), Some((scale, unit))) =
            (physical_kind(r.name.as_str()), unit_scale(r.unit.as_str()))
        else {
            batch.drop_value();
            continue;
        };
        let labels = [
            ("service", "physical"),
            ("resource", resource),
            ("unit", unit),
            ("az", pool),
        ];
        batch.push_num(&catalog::RESOURCE_CAPACITY, &labels, &r.total, scale);
        batch.push_num(&catalog::RESOURCE_USED, &labels, &r.used, scale);
    }
    for r in &detail.virtual_resources {
        let name = r.name.as_str();
        let Some((scale, unit)) = unit_scale(r.unit.as_str()) else {
            batch.drop_value();
            continue;
        };
        let key = r.resource.as_str();
        let (resource, storage_type) = match (unit, key, name) {
            ("cores", _, _) => ("vcpu", ""),
            ("count", _, _) => ("gpu", ""),
            ("bytes", "pool_memory", _) | ("bytes", _, "内存" | "memory" | "Memory") => {
                ("memory", "")
            }
            ("bytes", _, "gpu_mem" | "graphics_mem") => ("gpu_memory", ""),
            ("bytes", _, _) => ("storage", name),
            _ => {
                batch.drop_value();
                continue;
            }
        };
        let labels = [
            ("service", "quota"),
            ("resource", resource),
            ("unit", unit),
            ("az", pool),
            ("storage_type", storage_type),
        ];
        batch.push_num(&catalog::RESOURCE_ALLOCATED, &labels, &r.allocated, scale);
        batch.push_num(&catalog::RESOURCE_USED, &labels, &r.occupied, scale);
        match r.limit {
            // -1: unlimited (documented); no series.
            Num::Value(v) if v < 0.0 => {}
            ref n => batch.push_num(&catalog::RESOURCE_LIMIT, &labels, n, scale),
        }
        if r.total.get().is_some_and(|t| t > 0.0) {
            batch.push_num(&catalog::RESOURCE_ALLOCATABLE, &labels, &r.total, scale);
        }
    }
}

/// Hosts: inventory, counts by state, per-host figures, and per-pool core sums.
pub fn normalise_hosts(hosts: &[Host], az_names: &BTreeMap<String, String>, batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut cores: BTreeMap<String, f64> = BTreeMap::new();
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
        let cluster = h.cluster_name.as_str();
        let l = |resource: &'static str, unit: &'static str| {
            [
                ("host", host),
                ("resource", resource),
                ("unit", unit),
                ("az", az),
                ("cluster", cluster),
            ]
        };
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("cpu", "hertz"),
            &h.cpu.total_mhz,
            1e6,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_USED,
            &l("cpu", "hertz"),
            &h.cpu.used_mhz,
            1e6,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("cpu", "cores"),
            &h.cpu.core_count,
            1.0,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("cpu_sockets", "count"),
            &h.cpu.socket_count,
            1.0,
        );
        if let (Some(t), Some(s)) = (h.cpu.thread_per_socket.get(), h.cpu.socket_count.get()) {
            batch.push(
                &catalog::HOST_RESOURCE_CAPACITY,
                &l("cpu_threads", "count"),
                t * s,
            );
        }
        batch.push_num(
            &catalog::HOST_RESOURCE_OVERCOMMIT_RATIO,
            &l("cpu", "ratio"),
            &h.cpu.allocation_ratio,
            1.0,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("memory", "bytes"),
            &h.memory.total_mb,
            MIB,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_USED,
            &l("memory", "bytes"),
            &h.memory.used_mb,
            MIB,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_OVERCOMMIT_RATIO,
            &l("memory", "ratio"),
            &h.memory.allocation_ratio,
            1.0,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("disk", "bytes"),
            &h.storage.total_mb,
            MIB,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("gpu", "count"),
            &h.gpu.total,
            1.0,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_USED,
            &l("gpu", "count"),
            &h.gpu.used,
            1.0,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_CAPACITY,
            &l("gpu_memory", "bytes"),
            &h.gpu.memory_total_mb,
            MIB,
        );
        batch.push_num(
            &catalog::HOST_RESOURCE_USED,
            &l("gpu_memory", "bytes"),
            &h.gpu.memory_used_mb,
            MIB,
        );
        if let Some(c) = h.cpu.core_count.get() {
            *cores.entry(az.to_string()).or_insert(0.0) += c;
        }
    }
    for ((az, state), n) in counts {
        batch.push(&catalog::HOSTS, &[("state", &state), ("az", &az)], n);
    }
    for (az, n) in cores {
        batch.push(
            &catalog::RESOURCE_CAPACITY,
            &[
                ("service", "physical"),
                ("resource", "cpu"),
                ("unit", "cores"),
                ("az", &az),
            ],
            n,
        );
    }
}

pub fn normalise_clusters(
    clusters: &[Cluster],
    az_names: &BTreeMap<String, String>,
    batch: &mut Batch,
) {
    for c in clusters {
        let cluster = name_or(c.name.as_str(), c.id.as_str());
        if cluster.is_empty() {
            batch.drop_value();
            continue;
        }
        let az = pool_name(az_names, c.az_id.as_str());
        let l = |resource: &'static str, unit: &'static str| {
            [
                ("cluster", cluster),
                ("resource", resource),
                ("unit", unit),
                ("az", az),
            ]
        };
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_CAPACITY,
            &l("cpu", "hertz"),
            &c.cpu.total_mhz,
            1e6,
        );
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_USED,
            &l("cpu", "hertz"),
            &c.cpu.used_mhz,
            1e6,
        );
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_CAPACITY,
            &l("memory", "bytes"),
            &c.memory.total_mb,
            MIB,
        );
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_USED,
            &l("memory", "bytes"),
            &c.memory.used_mb,
            MIB,
        );
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_CAPACITY,
            &l("storage", "bytes"),
            &c.storage.total_mb,
            MIB,
        );
        batch.push_num(
            &catalog::CLUSTER_RESOURCE_USED,
            &l("storage", "bytes"),
            &c.storage.used_mb,
            MIB,
        );
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
            ("service", "datastore"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("datastore", datastore),
            ("storage_type", tag),
            ("az", az),
            ("cluster", s.cluster_name.as_str()),
        ];
        batch.push_num(&catalog::RESOURCE_CAPACITY, &labels, &s.total_mb, MIB);
        batch.push_num(&catalog::RESOURCE_USED, &labels, &s.used_mb, MIB);
    }
}

/// One VM's allocation: vCPU, memory bytes, provisioned storage bytes, GPUs.
fn vm_allocation(s: &Server) -> [(&'static str, &'static str, Option<f64>); 4] {
    // `storage_mb` is the disk total; without it, the sum of the disks.
    let storage = s.storage_mb.get().or_else(|| {
        let disks = s.disks.as_ref()?;
        disks.iter().map(|d| d.size_mb.get()).sum::<Option<f64>>()
    });
    [
        ("vcpu", "cores", s.cores.get()),
        ("memory", "bytes", s.memory_mb.get().map(|m| m * MIB)),
        ("storage", "bytes", storage.map(|m| m * MIB)),
        (
            "gpu",
            "count",
            s.gpu_status.as_ref().and_then(|g| g.graphics_count.get()),
        ),
    ]
}

/// VM sums per pool, host and tenant, built one VM at a time: the VM list is folded page by
/// page and never held whole (100,000 VMs would otherwise sit in memory as records).
#[derive(Debug, Default)]
pub struct ServerSums {
    per_vm: bool,
    /// (pool, resource, unit)
    per_pool: BTreeMap<(String, &'static str, &'static str), f64>,
    /// (host, pool, resource, unit)
    per_host: BTreeMap<(String, String, &'static str, &'static str), f64>,
    /// (tenant, pool) → VMs
    per_tenant: BTreeMap<(String, String), f64>,
    /// (tenant, pool, resource, unit)
    tenant_alloc: BTreeMap<(String, String, &'static str, &'static str), f64>,
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
            .entry((az.clone(), "instances", "count"))
            .or_insert(0.0) += 1.0;
        *self
            .per_tenant
            .entry((tenant.to_string(), az.clone()))
            .or_insert(0.0) += 1.0;
        if !host.is_empty() {
            *self
                .per_host
                .entry((host.to_string(), az.clone(), "instances", "count"))
                .or_insert(0.0) += 1.0;
        }
        for (resource, unit, value) in vm_allocation(s) {
            let Some(v) = value else {
                if resource != "gpu" {
                    batch.drop_value();
                }
                continue;
            };
            *self
                .per_pool
                .entry((az.clone(), resource, unit))
                .or_insert(0.0) += v;
            *self
                .tenant_alloc
                .entry((tenant.to_string(), az.clone(), resource, unit))
                .or_insert(0.0) += v;
            if !host.is_empty() {
                *self
                    .per_host
                    .entry((host.to_string(), az.clone(), resource, unit))
                    .or_insert(0.0) += v;
            }
            if self.per_vm {
                let name = name_or(s.name.as_str(), s.id.as_str());
                batch.push(
                    &catalog::INSTANCE_RESOURCE_ALLOCATED,
                    &[
                        ("instance", name),
                        ("instance_id", s.id.as_str()),
                        ("resource", resource),
                        ("unit", unit),
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
        for ((az, resource, unit), v) in self.per_pool {
            batch.push(
                &catalog::RESOURCE_ALLOCATED,
                &[
                    ("service", "ecs"),
                    ("resource", resource),
                    ("unit", unit),
                    ("az", &az),
                ],
                v,
            );
        }
        for ((host, az, resource, unit), v) in self.per_host {
            batch.push(
                &catalog::HOST_RESOURCE_ALLOCATED,
                &[
                    ("host", &host),
                    ("resource", resource),
                    ("unit", unit),
                    ("az", &az),
                ],
                v,
            );
        }
        for ((tenant, az, resource, unit), v) in self.tenant_alloc {
            batch.push(
                &catalog::TENANT_RESOURCE_ALLOCATED,
                &[
                    ("tenant", &tenant),
                    ("service", "ecs"),
                    ("resource", resource),
                    ("unit", unit),
                    ("az", &az),
                ],
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

/// VMs summed per pool, host and tenant; per VM when asked.
pub fn normalise_servers(servers: &[Server], per_vm: bool, batch: &mut Batch) {
    let mut sums = ServerSums::new(per_vm);
    for s in servers {
        sums.add(s, batch);
    }
    sums.finish(batch);
}

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
        let storage = [
            ("service", "evs"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", az.as_str()),
        ];
        batch.push(&catalog::RESOURCE_ALLOCATED, &storage, bytes);
        let volumes = [
            ("service", "evs"),
            ("resource", "volumes"),
            ("unit", "count"),
            ("az", az.as_str()),
        ];
        batch.push(&catalog::RESOURCE_ALLOCATED, &volumes, count);
    }
}

/// A pool's utilisation from its monitoring series (`cpu.util`, `memory.util`, `disk.util`).
pub fn normalise_pool_utilization(
    pool: &str,
    series: &BTreeMap<String, MetricSeries>,
    batch: &mut Batch,
) {
    for (metric, resource) in [
        ("cpu.util", "cpu"),
        ("memory.util", "memory"),
        ("disk.util", "storage"),
    ] {
        let Some(s) = series.get(metric) else {
            continue;
        };
        // Percent by the document (`unit: "%"`); anything else is not guessed.
        if !matches!(s.unit.as_str(), "%" | "") {
            batch.drop_value();
            continue;
        }
        let labels = [
            ("service", "physical"),
            ("resource", resource),
            ("unit", "ratio"),
            ("az", pool),
        ];
        batch.push_num(
            &catalog::RESOURCE_UTILIZATION_RATIO,
            &labels,
            &s.last_value(),
            0.01,
        );
    }
}

/// The shared resource name of a quota key, and the scope label it carries.
fn quota_resource(key: &str) -> (String, Option<(&'static str, String)>) {
    if let Some(tag) = key.strip_prefix("storage_tag::") {
        let tag = tag.trim();
        return (
            "storage".into(),
            Some(("storage_type", builtin_tag(tag).unwrap_or(tag).to_string())),
        );
    }
    if let Some(line) = key.strip_prefix("eip_count::") {
        return ("eip".into(), Some(("eip_type", line.trim().to_string())));
    }
    if let Some(line) = key.strip_prefix("eip_bandwidth::") {
        return (
            "bandwidth".into(),
            Some(("eip_type", line.trim().to_string())),
        );
    }
    if let Some(model) = key
        .strip_prefix("nvidia_")
        .and_then(|m| m.strip_suffix("_ram"))
    {
        return ("gpu_memory".into(), Some(("gpu_model", model.to_string())));
    }
    let shared = match key {
        "cores" => "vcpu",
        "ram" => "memory",
        "vm_count" => "instances",
        "gpu_slice_count" => "vgpu",
        other => other,
    };
    (shared.to_string(), None)
}

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
        let (resource, scope) = quota_resource(key);
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
                ("resource", resource.as_str()),
                ("unit", unit),
                ("service", q.namespace.as_str()),
                ("az", &az),
                (scope_key, &scope_value),
            ];
            match l.hard_limit {
                // -1: unlimited, documented; no series.
                Num::Value(v) if v < 0.0 => {}
                ref n => batch.push_num(&catalog::QUOTA_LIMIT, &labels, n, scale),
            }
        }
        for u in &q.separated_quotas {
            let az = az_label(u.az_id.as_str());
            let labels = [
                ("tenant", tenant),
                ("resource", resource.as_str()),
                ("unit", unit),
                ("service", q.namespace.as_str()),
                ("az", &az),
                (scope_key, &scope_value),
            ];
            batch.push_num(&catalog::QUOTA_USED, &labels, &u.in_use, scale);
        }
    }
}

pub fn normalise_eip_pool(pool: &EipPool, batch: &mut Batch) {
    let name = name_or(pool.name.as_str(), pool.id.as_str());
    let ips = [
        ("service", "eip"),
        ("resource", "eip"),
        ("unit", "count"),
        ("eip_pool", name),
    ];
    batch.push_num(&catalog::RESOURCE_CAPACITY, &ips, &pool.ip_count, 1.0);
    batch.push_num(&catalog::RESOURCE_ALLOCATED, &ips, &pool.ip_used, 1.0);
    batch.push_num(&catalog::RESOURCE_USED, &ips, &pool.ip_bind, 1.0);
    for (direction, cap, used) in [
        ("uplink", &pool.qos_uplink, &pool.pool_in_kbps),
        ("downlink", &pool.qos_downlink, &pool.pool_out_kbps),
    ] {
        let l = [
            ("service", "eip"),
            ("resource", "bandwidth"),
            ("unit", "bits_per_second"),
            ("eip_pool", name),
            ("direction", direction),
        ];
        batch.push_num(&catalog::RESOURCE_CAPACITY, &l, cap, 1000.0);
        batch.push_num(&catalog::RESOURCE_USED, &l, used, 1000.0);
        batch.push_num(
            &catalog::RESOURCE_ALLOCATED,
            &l,
            &pool.allocated_bandwidth,
            1000.0,
        );
    }
}

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
    for (tenant, (limit, in_use)) in per_tenant {
        let labels = [
            ("tenant", tenant.as_str()),
            ("resource", "object_storage"),
            ("unit", "bytes"),
            ("service", "obs"),
        ];
        if let Some(l) = limit {
            batch.push(&catalog::QUOTA_LIMIT, &labels, l * 1024.0);
        }
        if let Some(u) = in_use {
            batch.push(&catalog::QUOTA_USED, &labels, u * 1024.0);
        }
    }
    let l = [
        ("service", "obs"),
        ("resource", "storage"),
        ("unit", "bytes"),
    ];
    if let Some(c) = capacity {
        batch.push(&catalog::RESOURCE_ALLOCATED, &l, c * 1024.0);
    }
    if let Some(u) = used {
        batch.push(&catalog::RESOURCE_USED, &l, u * 1024.0);
    }
    if let Some(o) = objects {
        batch.push(
            &catalog::RESOURCE_USED,
            &[
                ("service", "obs"),
                ("resource", "objects"),
                ("unit", "count"),
            ],
            o,
        );
    }
}

/// GPUs of one pool, summed per model.
pub fn normalise_gpus(pool: &str, hosts: &[GpuHost], batch: &mut Batch) {
    #[derive(Default)]
    struct Sums {
        cards: f64,
        mem_total: f64,
        mem_used: f64,
        max_instances: f64,
        used_instances: f64,
    }
    let mut per_model: BTreeMap<String, Sums> = BTreeMap::new();
    for h in hosts {
        for g in &h.graphics {
            let model = name_or(
                g.gpu_name.as_str(),
                name_or(g.name.as_str(), g.model.as_str()),
            );
            let s = per_model
                .entry(if model.is_empty() {
                    "unknown".into()
                } else {
                    model.to_string()
                })
                .or_default();
            s.cards += 1.0;
            for c in &g.gpucore {
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
        }
    }
    for (model, s) in per_model {
        let l = |resource: &'static str, unit: &'static str| {
            [
                ("service", "gpu"),
                ("resource", resource),
                ("unit", unit),
                ("az", pool),
                ("gpu_model", model.as_str()),
            ]
        };
        batch.push(&catalog::RESOURCE_CAPACITY, &l("gpu", "count"), s.cards);
        batch.push(
            &catalog::RESOURCE_CAPACITY,
            &l("gpu_memory", "bytes"),
            s.mem_total,
        );
        batch.push(
            &catalog::RESOURCE_USED,
            &l("gpu_memory", "bytes"),
            s.mem_used,
        );
        batch.push(
            &catalog::RESOURCE_CAPACITY,
            &l("vgpu", "count"),
            s.max_instances,
        );
        batch.push(
            &catalog::RESOURCE_ALLOCATED,
            &l("vgpu", "count"),
            s.used_instances,
        );
    }
}

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
}

impl ScpCollector {
    pub fn new(name: &'static str, api: Arc<ScpApi>, options: ScpCollectorOptions) -> ScpCollector {
        ScpCollector { name, api, options }
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
    async fn family<T: serde::de::DeserializeOwned>(
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
