//! CECSTACK collectors: which APIs each one calls, and how their answers become the capacity
//! model. What each series is filled from is declared beside its code (`*_EXPORTS`) and printed
//! in `METRICS.md`.
//!
//! Mapping decisions (the document's ambiguities, spec §4 and §6):
//! - Region capacity (§1.38) is the pool view at the region level: `allocatable` →
//!   allocatable, `usage` → used, `remain` → free, in the unit the payload states (`核`; `Gi`/
//!   `Mi`/`Ki` binary, `G`/`M`/`K` decimal bytes; anything else is dropped and counted). The
//!   document does not say whether `cpu.allocatable` counts vCPUs after overcommit or physical
//!   CPUs; it is read as vCPUs that may be allocated (the reading that never overstates what is
//!   free: were it physical, what may be allocated would be larger). The example's `remain` is
//!   not `allocatable − usage`: both are exported as reported, and
//!   `headroom_resource_free_discrepancy` shows the difference.
//! - vCPU overcommit is exported at every level it is configured (`level` = region, az, pool,
//!   flavor_type); a flavor type's ratio 0 means "not set" and is left out.
//! - Hosts carry no AZ: a host's pool (and the pool's AZ) come from `resource-pool/hosts` and
//!   `resource-pools`. GPUs per host: the cards listed in `gpuInfo.gpus` (or the count, where a
//!   site sends the schema's integer), in use = cards with `inUse`. Local disks: size × number;
//!   unused ones from `harddisks/nouse-list`, whose `diskSize` is bytes by the schema but GiB in
//!   the example: a value under 1 MiB is read as GiB.
//! - Instances: the VM `ram` is bytes in every example although the table says GiB; a value
//!   under 4096 is read as GiB (and logged). GPUs come from the flavor's `gpu` count, as `gpu` or
//!   `vgpu` by the flavor type's `deviceType`. Volumes are the attached `volumeSize` (GiB), each
//!   volume counted once. `softDeleted` VMs hold nothing and are skipped. vCPU and memory
//!   allocated are summed per region (the level of the region's capacity) and, per AZ, pool and
//!   flavor, into the service view `service="ecs"`; instances, GPUs and volumes per AZ and pool
//!   (split by flavor); per host and per tenant.
//! - Free slots per flavor and pool: the document gives no per-host or per-pool CPU capacity, so
//!   they cannot be computed (only the region total exists).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::time::Instant;
use tracing::warn;

use super::api::{
    AzHost, Base, Capacity, CapacityItem, CecApi, FlavorType, GlobalCpu, Instance, LocalDisks,
    Node, Paging, PoolHost, ResourcePool, VmCount,
};
use crate::catalog::{self, exports::Export, Resource};
use crate::collect::{Batch, BoxFuture, Collector, ErrorReason, PollContext, PollError};
use crate::lenient::{Num, Text};

const GIB: f64 = 1_073_741_824.0;

/// The factor to the base unit of a capacity `unit` string, and the base unit's name.
pub fn capacity_unit(unit: &str) -> Option<(f64, &'static str)> {
    Some(match unit.trim() {
        "核" | "cores" | "core" | "Core" => (1.0, "cores"),
        "Gi" | "GiB" => (GIB, "bytes"),
        "Mi" | "MiB" => (1_048_576.0, "bytes"),
        "Ki" | "KiB" => (1024.0, "bytes"),
        "Ti" | "TiB" => (GIB * 1024.0, "bytes"),
        "G" | "GB" => (1e9, "bytes"),
        "M" | "MB" => (1e6, "bytes"),
        "K" | "KB" => (1e3, "bytes"),
        _ => return None,
    })
}

const REGION: &[&str] = &["region"];

pub const CAPACITY_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Vcpu, REGION, "GET /api/ecs/v1/monitor/capacity data.cpu.allocatable",
        "unit 核; read as vCPUs that may be allocated (after overcommit): the reading that never overstates free capacity (spec N-2.1)"),
    Export::of(&catalog::RESOURCE_USED, Resource::Vcpu, REGION, "monitor/capacity data.cpu.usage", "as reported"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Vcpu, REGION, "monitor/capacity data.cpu.remain", "as reported"),
    Export::of(&catalog::RESOURCE_FREE_DISCREPANCY, Resource::Vcpu, REGION, "monitor/capacity cpu remain - (allocatable - usage)", "non-zero when the platform disagrees with itself"),
    Export::of(&catalog::RESOURCE_ALLOCATABLE, Resource::Memory, REGION, "monitor/capacity data.ram.allocatable",
        "in data.ram.unit: Gi/Mi/Ki binary, G/M/K decimal; any other unit is dropped, counted"),
    Export::of(&catalog::RESOURCE_USED, Resource::Memory, REGION, "monitor/capacity data.ram.usage", "as stated by the unit"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Memory, REGION, "monitor/capacity data.ram.remain", "as stated by the unit"),
    Export::of(&catalog::RESOURCE_FREE_DISCREPANCY, Resource::Memory, REGION, "monitor/capacity ram remain - (allocatable - usage)", "bytes"),
];

/// Region vCPU and memory; the disagreement between `remain` and `allocatable − usage`.
pub fn normalise_capacity(region: &str, cap: &Capacity, batch: &mut Batch) {
    for (resource, item) in [(Resource::Vcpu, &cap.cpu), (Resource::Memory, &cap.ram)] {
        let CapacityItem {
            allocatable,
            usage,
            remain,
            unit,
        } = item;
        // Nothing reported for this resource: nothing to export or drop.
        if [allocatable, usage, remain]
            .iter()
            .all(|n| matches!(n, Num::Absent))
        {
            continue;
        }
        let scale = match capacity_unit(unit.as_str()) {
            Some((scale, base))
                if base == resource.unit().as_str()
                    || (base == "cores" && resource == Resource::Vcpu) =>
            {
                scale
            }
            _ => {
                warn!(
                    resource = resource.name(),
                    unit = unit.as_str(),
                    "Unknown capacity unit; the values are not exported."
                );
                batch.drop_values(3);
                continue;
            }
        };
        let l = [("region", region)];
        batch.put_num(
            &catalog::RESOURCE_ALLOCATABLE,
            resource,
            &l,
            allocatable,
            scale,
        );
        batch.put_num(&catalog::RESOURCE_USED, resource, &l, usage, scale);
        batch.put_num(&catalog::RESOURCE_FREE, resource, &l, remain, scale);
        if let (Some(a), Some(u), Some(r)) = (allocatable.get(), usage.get(), remain.get()) {
            let d = r - (a - u);
            if d != 0.0 {
                warn!(
                    resource = resource.name(),
                    allocatable = a,
                    used = u,
                    remaining = r,
                    "The platform's remaining capacity is not allocatable − used."
                );
            }
            batch.put(&catalog::RESOURCE_FREE_DISCREPANCY, resource, &l, d * scale);
        }
    }
}

pub const VM_COUNTS_EXPORTS: &[Export] = &[Export::plain(
    &catalog::PLATFORM_OBJECTS,
    &["kind", "state"],
    "GET /api/ecs/v1/monitor/vmcount",
    "kind vm; state total, running, stopped, error, other as reported",
)];

pub fn normalise_vm_count(v: &VmCount, batch: &mut Batch) {
    for (state, n) in [
        ("total", &v.total_count),
        ("running", &v.running_count),
        ("stopped", &v.stopped_count),
        ("error", &v.error_count),
        ("other", &v.other_count),
    ] {
        batch.push_num(
            &catalog::PLATFORM_OBJECTS,
            &[("kind", "vm"), ("state", state)],
            n,
            1.0,
        );
    }
}

pub const OVERCOMMIT_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_OVERCOMMIT_RATIO, Resource::Vcpu, &["level", "region", "az", "pool", "flavor"],
        "GET global-config/cpu globalCpuOR, azCpuConfigs[].azCpuOR; resource-pools cpuAllocationRatio; flavortypes cpuOverscalingRatio",
        "vCPU per physical CPU, at each level it is set (level region, az, pool, flavor_type); a flavor type's 0 means not set and has no series"),
];

/// vCPU overcommit at each level it is configured.
pub fn normalise_overcommit(
    region: &str,
    global: &GlobalCpu,
    pools: &[ResourcePool],
    types: &[FlavorType],
    batch: &mut Batch,
) {
    let push = |batch: &mut Batch, labels: &[(&'static str, &str)], n: &Num| {
        batch.put_num(
            &catalog::RESOURCE_OVERCOMMIT_RATIO,
            Resource::Vcpu,
            labels,
            n,
            1.0,
        );
    };
    push(
        batch,
        &[("level", "region"), ("region", region)],
        &global.global_cpu_or,
    );
    for a in &global.az_cpu_configs {
        push(
            batch,
            &[("level", "az"), ("region", region), ("az", a.az.as_str())],
            &a.az_cpu_or,
        );
    }
    for p in pools {
        let name = p.name.get().or(p.rp_id.get()).unwrap_or("");
        push(
            batch,
            &[
                ("level", "pool"),
                ("region", region),
                ("az", p.az.as_str()),
                ("pool", name),
            ],
            &p.cpu_allocation_ratio,
        );
    }
    for t in types {
        // 0: not set on the flavor type (the VM's ratio then comes from its pool or AZ).
        if t.cpu_overscaling_ratio.get().is_some_and(|r| r <= 0.0) {
            continue;
        }
        let name = t.name.get().or(t.flavor_type_id.get()).unwrap_or("");
        push(
            batch,
            &[
                ("level", "flavor_type"),
                ("region", region),
                ("az", t.az.as_str()),
                ("flavor", name),
            ],
            &t.cpu_overscaling_ratio,
        );
    }
}

/// Where each host sits: (cell, host) → (pool name, AZ).
/// (cell, host) → (pool, AZ) of every host the region places; pool "" for a host in no pool.
pub type HostPlaces = BTreeMap<(String, String), (String, String)>;

pub fn host_pools(rows: &[PoolHost], pools: &[ResourcePool]) -> HostPlaces {
    let az_of: BTreeMap<&str, &str> = pools
        .iter()
        .filter_map(|p| Some((p.rp_id.get()?, p.az.as_str())))
        .collect();
    rows.iter()
        .filter_map(|r| {
            let pool = r.rp_name.get().or(r.rp_id.get())?.to_string();
            let az = az_of
                .get(r.rp_id.as_str())
                .copied()
                .unwrap_or("")
                .to_string();
            Some((
                (r.cell.as_str().to_string(), r.name.get()?.to_string()),
                (pool, az),
            ))
        })
        .collect()
}

fn truthy(t: &Text) -> bool {
    t.as_str().eq_ignore_ascii_case("true") || t.as_str() == "1"
}

/// Cards of a host and how many are in use.
fn gpu_cards(n: &Node) -> (f64, f64, String) {
    let g = &n.gpu_info;
    let (cards, used) = match &g.gpus {
        serde_json::Value::Array(a) => {
            let used = a
                .iter()
                .filter(|c| {
                    c.get("inUse")
                        .map(Text::from_value)
                        .is_some_and(|t| truthy(&t))
                })
                .count();
            (a.len() as f64, used as f64)
        }
        other => (Num::from_value(other).get().unwrap_or(0.0), 0.0),
    };
    let model = g
        .product
        .get()
        .or(g.gpu_type.get())
        .unwrap_or("")
        .to_string();
    (cards, used, model)
}

/// Bytes of a local-disk row: size × number; a size under 1 MiB is GiB (spec §2.10).
fn disk_bytes(d: &LocalDisks) -> Option<(f64, f64)> {
    let size = d.disk_size.get()?;
    let size = if size < 1_048_576.0 { size * GIB } else { size };
    let n = d.disk_num.get().unwrap_or(1.0);
    Some((size * n, n))
}

const NODE: &[&str] = &["host", "cluster", "pool", "az"];
const POOL: &[&str] = &["pool", "az"];

pub const HOSTS_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::HOST_INFO,
        &[
            "host",
            "cluster",
            "address",
            "pool",
            "az",
            "device_type",
            "model",
            "os",
        ],
        "GET /api/ecs/v1/nodes; pool and AZ from resource-pool/hosts and resource-pools; a host in no pool: pool \"\", AZ from resource-pool/host-list?az=",
        "cluster = the cell; device_type gpu or normal",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::Gpu,
        NODE,
        "nodes gpuInfo.gpus",
        "cards listed (or the schema's integer)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_USED,
        Resource::Gpu,
        NODE,
        "nodes gpuInfo.gpus[].inUse",
        "cards in use",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::LocalDisk,
        NODE,
        "nodes hardDiskList[].diskSize x diskNum",
        "bytes by the schema; a size under 1 MiB is GiB (the example)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_FREE,
        Resource::LocalDisk,
        NODE,
        "harddisks/nouse-list diskSize x diskNum",
        "unused local disks",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::LocalDiskDevices,
        NODE,
        "nodes hardDiskList[].diskNum",
        "disks",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_FREE,
        Resource::LocalDiskDevices,
        NODE,
        "harddisks/nouse-list diskNum",
        "unused disks",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::Gpu,
        &["pool", "az", "gpu_model"],
        "nodes gpuInfo.gpus",
        "cards summed per pool and model (gpuInfo.product, else gpuType)",
    ),
    Export::of(
        &catalog::RESOURCE_USED,
        Resource::Gpu,
        &["pool", "az", "gpu_model"],
        "nodes gpuInfo.gpus[].inUse",
        "summed per pool and model",
    ),
    Export::of(
        &catalog::RESOURCE_FREE,
        Resource::Gpu,
        &["pool", "az", "gpu_model"],
        "nodes gpuInfo.gpus[].inUse",
        "cards not in use, summed per pool and model",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::LocalDisk,
        POOL,
        "nodes hardDiskList",
        "summed per pool",
    ),
    Export::of(
        &catalog::RESOURCE_FREE,
        Resource::LocalDisk,
        POOL,
        "harddisks/nouse-list",
        "summed per pool",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::LocalDiskDevices,
        POOL,
        "nodes hardDiskList[].diskNum",
        "summed per pool",
    ),
    Export::of(
        &catalog::RESOURCE_FREE,
        Resource::LocalDiskDevices,
        POOL,
        "harddisks/nouse-list diskNum",
        "summed per pool",
    ),
];

/// (resource, family, pool, AZ, GPU model) of a per-pool sum.
type SumKey = (Resource, u8, String, String, String);
const CAPACITY: u8 = 0;
const USED: u8 = 1;
const FREE: u8 = 2;

/// Hosts: inventory, GPUs and local disks per host, and their per-pool sums.
pub fn normalise_hosts(
    nodes: &[Node],
    pools: &HostPlaces,
    unused: &[LocalDisks],
    batch: &mut Batch,
) {
    let mut unused_by_host: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for d in unused {
        match disk_bytes(d) {
            Some((bytes, n)) => {
                let e = unused_by_host.entry(d.node_name.as_str()).or_default();
                e.0 += bytes;
                e.1 += n;
            }
            None => batch.drop_value(),
        }
    }
    let mut sums: BTreeMap<SumKey, f64> = BTreeMap::new();
    for n in nodes {
        let host = n.name.as_str();
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let cell = n.cell.as_str();
        let (pool, az) = pools
            .get(&(cell.to_string(), host.to_string()))
            .cloned()
            .unwrap_or_default();
        let (cards, used, model) = gpu_cards(n);
        let gpu_node = truthy(&n.is_gpu_node) || cards > 0.0;
        batch.push(
            &catalog::HOST_INFO,
            &[
                ("host", host),
                ("cluster", cell),
                ("address", n.host_ip.as_str()),
                ("pool", &pool),
                ("az", &az),
                ("device_type", if gpu_node { "gpu" } else { "normal" }),
                ("model", &model),
                ("os", n.arch.as_str()),
            ],
            1.0,
        );
        let l = [
            ("host", host),
            ("cluster", cell),
            ("pool", pool.as_str()),
            ("az", az.as_str()),
        ];
        let mut add = |resource: Resource, family: u8, model: &str, v: f64| {
            *sums
                .entry((
                    resource,
                    family,
                    pool.clone(),
                    az.clone(),
                    model.to_string(),
                ))
                .or_default() += v;
        };
        if gpu_node {
            batch.put(&catalog::HOST_RESOURCE_CAPACITY, Resource::Gpu, &l, cards);
            batch.put(&catalog::HOST_RESOURCE_USED, Resource::Gpu, &l, used);
            add(Resource::Gpu, CAPACITY, &model, cards);
            add(Resource::Gpu, USED, &model, used);
            // The cards not in use are what is free: the pool view states it, so a place whose
            // cards no instance holds (a host in no pool) is not lost where capacity − allocated
            // finds no allocation to subtract.
            add(Resource::Gpu, FREE, &model, (cards - used).max(0.0));
        }
        let (mut bytes, mut count) = (0.0, 0.0);
        for d in &n.hard_disk_list {
            match disk_bytes(d) {
                Some((b, c)) => {
                    bytes += b;
                    count += c;
                }
                None => batch.drop_value(),
            }
        }
        if !n.hard_disk_list.is_empty() {
            let (free_bytes, free_count) = unused_by_host.get(host).copied().unwrap_or_default();
            for (def, family, resource, v) in [
                (
                    &catalog::HOST_RESOURCE_CAPACITY,
                    CAPACITY,
                    Resource::LocalDisk,
                    bytes,
                ),
                (
                    &catalog::HOST_RESOURCE_CAPACITY,
                    CAPACITY,
                    Resource::LocalDiskDevices,
                    count,
                ),
                (
                    &catalog::HOST_RESOURCE_FREE,
                    FREE,
                    Resource::LocalDisk,
                    free_bytes,
                ),
                (
                    &catalog::HOST_RESOURCE_FREE,
                    FREE,
                    Resource::LocalDiskDevices,
                    free_count,
                ),
            ] {
                batch.put(def, resource, &l, v);
                add(resource, family, "", v);
            }
        }
    }
    for ((resource, family, pool, az, model), v) in sums {
        let def = match family {
            CAPACITY => &catalog::RESOURCE_CAPACITY,
            USED => &catalog::RESOURCE_USED,
            _ => &catalog::RESOURCE_FREE,
        };
        batch.put(
            def,
            resource,
            &[("pool", &pool), ("az", &az), ("gpu_model", &model)],
            v,
        );
    }
}

/// (AZ, pool, flavor, resource)
type AzKey = (String, String, String, Resource);
/// (host, cell, pool, AZ, resource)
type HostKey = (String, String, String, String, Resource);

const FLAVOR_POOL: &[&str] = &["az", "pool", "flavor"];
const VM_HOST: &[&str] = &["host", "cluster", "pool", "az"];

pub const INSTANCES_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Vcpu, REGION, "GET /api/ecs/v1/instances vCpus",
        "summed per region (the level of the region's capacity); softDeleted VMs skipped"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Memory, REGION, "instances ram",
        "bytes in every example although the table says GiB: a value under 4096 is read as GiB (logged); summed per region"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Instances, FLAVOR_POOL, "instances", "VMs per AZ, pool (rpName, else the host's) and flavor"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Gpu, FLAVOR_POOL, "instances flavorInfo.gpu (flavor type deviceType not vgpu)", "cards"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Vgpu, FLAVOR_POOL, "instances flavorInfo.gpu (deviceType vgpu), else vgpus[]", "vGPUs"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Storage, POOL, "instances blockDeviceMappings[].volumeSize", "GiB x 2^30, each volume once"),
    Export::service(&catalog::SERVICE_ALLOCATED, "ecs", Resource::Vcpu, FLAVOR_POOL, "instances vCpus", "per AZ, pool and flavor (a drill-down; the pool view is per region)"),
    Export::service(&catalog::SERVICE_ALLOCATED, "ecs", Resource::Memory, FLAVOR_POOL, "instances ram", "bytes, per AZ, pool and flavor"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vcpu, VM_HOST, "instances vCpus by nodeName", "per host"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Memory, VM_HOST, "instances ram by nodeName", "bytes"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Instances, VM_HOST, "instances by nodeName", "VMs"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Gpu, VM_HOST, "instances flavorInfo.gpu by nodeName", "cards"),
    Export::of(&catalog::HOST_RESOURCE_ALLOCATED, Resource::Vgpu, VM_HOST, "instances vGPUs by nodeName", "vGPUs"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Vcpu, &["tenant", "az"], "instances vCpus by tenantName", "per tenant and AZ"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Memory, &["tenant", "az"], "instances ram by tenantName", "bytes"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Gpu, &["tenant", "az"], "instances GPUs by tenantName", "cards"),
    Export::service(&catalog::TENANT_RESOURCE_ALLOCATED, "ecs", Resource::Vgpu, &["tenant", "az"], "instances vGPUs by tenantName", "vGPUs"),
    Export::plain(&catalog::TENANT_RESOURCES, &["tenant", "service", "az", "flavor"], "instances by tenantName", "VMs per tenant, AZ and flavor (service ecs)"),
];

/// Instance sums per AZ, pool and flavor, per host, and per tenant, built one VM at a time:
/// the instance list is folded page by page, never held whole.
#[derive(Debug, Default)]
pub struct InstanceSums {
    per_az: BTreeMap<AzKey, f64>,
    per_host: BTreeMap<HostKey, f64>,
    per_tenant: BTreeMap<(String, String, Resource), f64>,
    tenant_count: BTreeMap<(String, String, String), f64>,
    evs: BTreeMap<(String, String), f64>,
    volumes_seen: BTreeSet<String>,
    gib_ram: usize,
}

/// Instances summed per AZ, pool and flavor, per host, and per tenant.
pub fn normalise_instances(region: &str, vms: &[Instance], pools: &HostPlaces, batch: &mut Batch) {
    let mut sums = InstanceSums::default();
    for vm in vms {
        sums.add(vm, pools, batch);
    }
    sums.finish(region, batch);
}

impl InstanceSums {
    /// Adds one VM (a value that does not parse is counted in `batch`).
    pub fn add(&mut self, vm: &Instance, pools: &HostPlaces, batch: &mut Batch) {
        let InstanceSums {
            per_az,
            per_host,
            per_tenant,
            tenant_count,
            evs,
            volumes_seen,
            gib_ram,
        } = self;
        if vm.status.as_str().eq_ignore_ascii_case("softDeleted") {
            return;
        }
        let host = vm.node_name.as_str().to_string();
        let cell = vm.cell.as_str().to_string();
        let (map_pool, map_az) = pools
            .get(&(cell.clone(), host.clone()))
            .cloned()
            .unwrap_or_default();
        let pool = vm.rp_name.get().map(str::to_string).unwrap_or(map_pool);
        let az = vm.az.get().map(str::to_string).unwrap_or(map_az);
        let flavor = vm
            .flavor_info
            .name
            .get()
            .or(vm.flavor_id.get())
            .unwrap_or("")
            .to_string();
        let tenant = vm
            .tenant_name
            .get()
            .or(vm.tenant_id.get())
            .unwrap_or("")
            .to_string();
        let ram = vm.ram.get().map(|r| {
            if r < 4096.0 {
                *gib_ram += 1;
                r * GIB
            } else {
                r
            }
        });
        let gpu_kind = if vm
            .flavor_info
            .flavor_type
            .device_type
            .as_str()
            .eq_ignore_ascii_case("vgpu")
        {
            Resource::Vgpu
        } else {
            Resource::Gpu
        };
        let gpus = vm
            .flavor_info
            .gpu
            .get()
            .or_else(|| vm.vgpus.as_array().map(|a| a.len() as f64));
        let mut add = |resource: Resource, v: f64| {
            *per_az
                .entry((az.clone(), pool.clone(), flavor.clone(), resource))
                .or_default() += v;
            if !host.is_empty() {
                *per_host
                    .entry((
                        host.clone(),
                        cell.clone(),
                        pool.clone(),
                        az.clone(),
                        resource,
                    ))
                    .or_default() += v;
            }
            if resource != Resource::Instances {
                *per_tenant
                    .entry((tenant.clone(), az.clone(), resource))
                    .or_default() += v;
            }
        };
        add(Resource::Instances, 1.0);
        match vm.v_cpus.get() {
            Some(c) => add(Resource::Vcpu, c),
            None => batch.drop_value(),
        }
        match ram {
            Some(r) => add(Resource::Memory, r),
            None => batch.drop_value(),
        }
        if let Some(g) = gpus.filter(|g| *g > 0.0) {
            add(gpu_kind, g);
        }
        *tenant_count
            .entry((tenant.clone(), az.clone(), flavor.clone()))
            .or_default() += 1.0;
        for d in &vm.block_device_mappings {
            let first = d
                .volume_uuid
                .get()
                .is_none_or(|u| volumes_seen.insert(u.to_string()));
            if let (true, Some(gb)) = (first, d.volume_size.get()) {
                *evs.entry((az.clone(), pool.clone())).or_default() += gb * GIB;
            }
        }
    }

    /// The sums, as series; vCPU and memory go to the pool view per `region`, the level of the
    /// region's capacity, and per AZ, pool and flavor to the service view.
    pub fn finish(self, region: &str, batch: &mut Batch) {
        let InstanceSums {
            per_az,
            per_host,
            per_tenant,
            tenant_count,
            evs,
            gib_ram,
            ..
        } = self;
        if gib_ram > 0 {
            warn!(
                instances = gib_ram,
                "Instance `ram` values under 4096 were read as GiB, not bytes."
            );
        }
        let mut per_region: BTreeMap<Resource, f64> = BTreeMap::new();
        for ((az, pool, flavor, resource), v) in per_az {
            let l = [
                ("az", az.as_str()),
                ("pool", pool.as_str()),
                ("flavor", flavor.as_str()),
            ];
            if matches!(resource, Resource::Vcpu | Resource::Memory) {
                *per_region.entry(resource).or_default() += v;
                let service = [("service", "ecs"), l[0], l[1], l[2]];
                batch.put(&catalog::SERVICE_ALLOCATED, resource, &service, v);
            } else {
                batch.put(&catalog::RESOURCE_ALLOCATED, resource, &l, v);
            }
        }
        for (resource, v) in per_region {
            batch.put(
                &catalog::RESOURCE_ALLOCATED,
                resource,
                &[("region", region)],
                v,
            );
        }
        for ((az, pool), v) in evs {
            batch.put(
                &catalog::RESOURCE_ALLOCATED,
                Resource::Storage,
                &[("az", &az), ("pool", &pool)],
                v,
            );
        }
        for ((host, cell, pool, az, resource), v) in per_host {
            batch.put(
                &catalog::HOST_RESOURCE_ALLOCATED,
                resource,
                &[
                    ("host", &host),
                    ("cluster", &cell),
                    ("pool", &pool),
                    ("az", &az),
                ],
                v,
            );
        }
        for ((tenant, az, resource), v) in per_tenant {
            batch.put(
                &catalog::TENANT_RESOURCE_ALLOCATED,
                resource,
                &[("tenant", &tenant), ("service", "ecs"), ("az", &az)],
                v,
            );
        }
        for ((tenant, az, flavor), n) in tenant_count {
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
}

/// An object answer as `T`, or a parse error naming the API.
fn parse_data<T: serde::de::DeserializeOwned>(
    api: &str,
    v: serde_json::Value,
) -> Result<T, PollError> {
    serde_json::from_value(v).map_err(|e| {
        PollError::new(
            ErrorReason::Parse,
            format!("{api} answered with an unexpected shape ({e})"),
        )
    })
}

/// One CECSTACK collector; `name` selects which APIs it polls.
pub struct CecCollector {
    name: &'static str,
    api: Arc<CecApi>,
}

const P: &str = "/api/ecs/v1";

impl CecCollector {
    pub fn new(name: &'static str, api: Arc<CecApi>) -> CecCollector {
        CecCollector { name, api }
    }

    async fn pools(&self, d: Instant, batch: &mut Batch) -> Result<Vec<ResourcePool>, PollError> {
        let (pools, dropped) = self
            .api
            .list(
                "resource_pools",
                Base::Operator,
                &format!("{P}/resource-pools"),
                Paging::A("resourcePools"),
                d,
            )
            .await?;
        batch.drop_values(dropped);
        Ok(pools)
    }

    async fn host_pools(
        &self,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<(HostPlaces, Vec<ResourcePool>), PollError> {
        let pools = self.pools(d, batch).await?;
        let (rows, dropped) = self
            .api
            .list::<PoolHost>(
                "pool_hosts",
                Base::Operator,
                &format!("{P}/resource-pool/hosts"),
                Paging::A("rpHosts"),
                d,
            )
            .await?;
        batch.drop_values(dropped);
        Ok((host_pools(&rows, &pools), pools))
    }

    /// The region's and each AZ's CPU overcommit (§1.35), which also names the AZs.
    async fn global_cpu(&self, d: Instant) -> Result<GlobalCpu, PollError> {
        let v = self
            .api
            .get(
                "global_cpu",
                Base::Operator,
                &format!("{P}/global-config/cpu"),
                &[],
                d,
            )
            .await?;
        parse_data("global_cpu", v)
    }

    /// Gives each host in no resource pool its AZ (pool ""): §1.12 `resource-pool/host-list?az=`
    /// per AZ the region names (its pools, its AZ CPU ratios, its hosts' local disks). Only
    /// read when some host is in no pool, so a region whose hosts are all pooled pays nothing.
    /// Without it an unpooled host's GPUs and disks would count in no AZ.
    async fn place_unpooled(
        &self,
        nodes: &[Node],
        pools: &[ResourcePool],
        map: &mut HostPlaces,
        d: Instant,
        batch: &mut Batch,
    ) -> Result<(), PollError> {
        let key = |cell: &Text, name: &Text| (cell.as_str().to_string(), name.as_str().to_string());
        if nodes
            .iter()
            .all(|n| map.contains_key(&key(&n.cell, &n.name)))
        {
            return Ok(());
        }
        let api = &self.api;
        let global = self.global_cpu(d).await?;
        let azs: BTreeSet<String> = pools
            .iter()
            .map(|p| p.az.as_str())
            .chain(global.az_cpu_configs.iter().map(|c| c.az.as_str()))
            .chain(
                nodes
                    .iter()
                    .flat_map(|n| n.hard_disk_list.iter().map(|d| d.az.as_str())),
            )
            .filter(|az| !az.is_empty())
            .map(str::to_string)
            .collect();
        for az in azs {
            let mut listed = Vec::new();
            let dropped = api
                .list_each_where::<AzHost>(
                    "host_list",
                    Base::Operator,
                    &format!("{P}/resource-pool/host-list"),
                    &[("az", az.clone())],
                    Paging::B,
                    d,
                    |h| listed.push(h),
                )
                .await?;
            batch.drop_values(dropped);
            for h in listed {
                map.entry(key(&h.cell, &h.name))
                    .or_insert_with(|| (String::new(), az.clone()));
            }
        }
        Ok(())
    }

    async fn run(&self, ctx: &PollContext) -> Result<Batch, PollError> {
        let d = ctx.deadline;
        let api = &self.api;
        let region = api.settings.region_id.as_str();
        let mut batch = Batch::new();
        match self.name {
            super::CAPACITY => {
                let v = api
                    .get(
                        "capacity",
                        Base::Operator,
                        &format!("{P}/monitor/capacity"),
                        &[],
                        d,
                    )
                    .await?;
                let cap: Capacity = parse_data("capacity", v)?;
                normalise_capacity(region, &cap, &mut batch);
            }
            super::VM_COUNTS => {
                let v = api
                    .get(
                        "vm_count",
                        Base::Operator,
                        &format!("{P}/monitor/vmcount"),
                        &[],
                        d,
                    )
                    .await?;
                let vc: VmCount = parse_data("vm_count", v)?;
                normalise_vm_count(&vc, &mut batch);
            }
            super::OVERCOMMIT => {
                let global = self.global_cpu(d).await?;
                let pools = self.pools(d, &mut batch).await?;
                let (types, dropped) = api
                    .list::<FlavorType>(
                        "flavor_types",
                        Base::Operator,
                        &format!("{P}/flavortypes"),
                        Paging::A("flavorTypes"),
                        d,
                    )
                    .await?;
                batch.drop_values(dropped);
                normalise_overcommit(region, &global, &pools, &types, &mut batch);
            }
            super::HOSTS => {
                let (mut map, pools) = self.host_pools(d, &mut batch).await?;
                let (nodes, dropped) = api
                    .list::<Node>("nodes", Base::Operator, &format!("{P}/nodes"), Paging::B, d)
                    .await?;
                batch.drop_values(dropped);
                self.place_unpooled(&nodes, &pools, &mut map, d, &mut batch)
                    .await?;
                let unused = api
                    .get_list::<LocalDisks>(
                        "unused_disks",
                        Base::Operator,
                        &format!("{P}/harddisks/nouse-list"),
                        d,
                    )
                    .await?;
                batch.drop_values(unused.dropped);
                let unused = unused.items;
                normalise_hosts(&nodes, &map, &unused, &mut batch);
            }
            super::INSTANCES => {
                let (map, _) = self.host_pools(d, &mut batch).await?;
                let mut sums = InstanceSums::default();
                let mut bad = Batch::new();
                let dropped = api
                    .list_each::<Instance>(
                        "instances",
                        Base::Service,
                        &format!("{P}/instances"),
                        Paging::A("virtualMachines"),
                        d,
                        |vm| sums.add(&vm, &map, &mut bad),
                    )
                    .await?;
                batch.drop_values(dropped + bad.dropped());
                sums.finish(region, &mut batch);
            }
            other => {
                return Err(PollError::new(
                    ErrorReason::Parse,
                    format!("unknown CECSTACK collector {other}"),
                ))
            }
        }
        Ok(batch)
    }
}

impl Collector for CecCollector {
    fn poll<'a>(&'a self, ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
        Box::pin(self.run(ctx))
    }
}
