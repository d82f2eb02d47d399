//! CECSTACK collectors: which APIs each one calls, and how their answers become the metric
//! vocabulary.
//!
//! Mapping decisions (the document's ambiguities, spec §4 and §6):
//! - Region capacity: `allocatable` → allocatable, `usage` → used, `remain` → free, in the unit
//!   the payload states (`核` → cores; `Gi`/`Mi`/`Ki` binary, `G`/`M`/`K` decimal bytes; anything
//!   else is dropped and counted). The example's `remain` is not `allocatable − usage`: both are
//!   exported as reported, and `headroom_resource_free_discrepancy` shows the difference.
//! - CPU overcommit is exported at every level it is configured (`level` = region, az, pool,
//!   flavor_type); a flavor type's ratio 0 means "not set" and is left out.
//! - Hosts carry no AZ: a host's pool (and the pool's AZ) come from `resource-pool/hosts` and
//!   `resource-pools`. GPUs per host: the cards listed in `gpuInfo.gpus` (or the count, where a
//!   site sends the schema's integer), in use = cards with `inUse`. Local disks: size × number;
//!   unused ones from `harddisks/nouse-list`, whose `diskSize` is bytes by the schema but GiB in
//!   the example: a value under 1 MiB is read as GiB.
//! - Instances: the VM `ram` is bytes in every example although the table says GiB; a value
//!   under 4096 is read as GiB (and logged). GPUs come from the flavor's `gpu` count, as `gpu` or
//!   `vgpu` by the flavor type's `deviceType`. Volumes are the attached `volumeSize` (GiB), each
//!   volume counted once. `softDeleted` VMs hold nothing and are skipped. Sums are per AZ, pool
//!   and flavor (the finest level; `sum by (pool)` gives pools), per host and per tenant.
//! - Free slots per flavor and pool: the document gives no per-host or per-pool CPU capacity, so
//!   they cannot be computed (only the region total exists).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::time::Instant;
use tracing::warn;

use super::api::{
    self, Base, Capacity, CapacityItem, CecApi, FlavorType, GlobalCpu, Instance, LocalDisks, Node,
    Paging, PoolHost, ResourcePool, VmCount,
};
use crate::catalog;
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

/// Region CPU and memory; the disagreement between `remain` and `allocatable − usage`.
pub fn normalise_capacity(region: &str, cap: &Capacity, batch: &mut Batch) {
    for (resource, item) in [("cpu", &cap.cpu), ("memory", &cap.ram)] {
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
        let Some((scale, unit)) = capacity_unit(unit.as_str()) else {
            warn!(
                resource,
                unit = unit.as_str(),
                "Unknown capacity unit; the values are not exported."
            );
            batch.drop_values(3);
            continue;
        };
        let l = [
            ("service", "ecs"),
            ("resource", resource),
            ("unit", unit),
            ("region", region),
        ];
        batch.push_num(&catalog::RESOURCE_ALLOCATABLE, &l, allocatable, scale);
        batch.push_num(&catalog::RESOURCE_USED, &l, usage, scale);
        batch.push_num(&catalog::RESOURCE_FREE, &l, remain, scale);
        if let (Some(a), Some(u), Some(r)) = (allocatable.get(), usage.get(), remain.get()) {
            let d = r - (a - u);
            if d != 0.0 {
                warn!(
                    resource,
                    allocatable = a,
                    used = u,
                    remaining = r,
                    "The platform's remaining capacity is not allocatable − used."
                );
            }
            batch.push(&catalog::RESOURCE_FREE_DISCREPANCY, &l, d * scale);
        }
    }
}

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

/// CPU overcommit at each level it is configured.
pub fn normalise_overcommit(
    region: &str,
    global: &GlobalCpu,
    pools: &[ResourcePool],
    types: &[FlavorType],
    batch: &mut Batch,
) {
    let base = [("service", "ecs"), ("resource", "cpu"), ("unit", "ratio")];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        base.iter()
            .chain(extra)
            .map(|(k, v)| (*k, v.to_string()))
            .collect()
    };
    let push = |batch: &mut Batch, labels: Vec<(&'static str, String)>, n: &Num| {
        let l: Vec<(&'static str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        batch.push_num(&catalog::RESOURCE_OVERCOMMIT_RATIO, &l, n, 1.0);
    };
    push(
        batch,
        with(&[("level", "region"), ("region", region)]),
        &global.global_cpu_or,
    );
    for a in &global.az_cpu_configs {
        push(
            batch,
            with(&[("level", "az"), ("region", region), ("az", a.az.as_str())]),
            &a.az_cpu_or,
        );
    }
    for p in pools {
        let name = p.name.get().or(p.rp_id.get()).unwrap_or("");
        push(
            batch,
            with(&[
                ("level", "pool"),
                ("region", region),
                ("az", p.az.as_str()),
                ("pool", name),
            ]),
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
            with(&[
                ("level", "flavor_type"),
                ("region", region),
                ("az", t.az.as_str()),
                ("flavor", name),
            ]),
            &t.cpu_overscaling_ratio,
        );
    }
}

/// Where each host sits: (cell, host) → (pool name, AZ).
pub fn host_pools(
    rows: &[PoolHost],
    pools: &[ResourcePool],
) -> BTreeMap<(String, String), (String, String)> {
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

/// (service, resource, unit, family, pool, AZ, GPU model) of a per-pool sum.
type SumKey = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
    String,
    String,
);

/// Hosts: inventory, GPUs and local disks per host, and their per-pool sums.
pub fn normalise_hosts(
    nodes: &[Node],
    pools: &BTreeMap<(String, String), (String, String)>,
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
    // (service, resource, unit, family, pool, az, model) → sum
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
        let l = |resource: &'static str, unit: &'static str| {
            [
                ("host", host),
                ("resource", resource),
                ("unit", unit),
                ("cluster", cell),
                ("pool", pool.as_str()),
                ("az", az.as_str()),
            ]
        };
        if gpu_node {
            batch.push(&catalog::HOST_RESOURCE_CAPACITY, &l("gpu", "count"), cards);
            batch.push(&catalog::HOST_RESOURCE_USED, &l("gpu", "count"), used);
            *sums
                .entry((
                    "gpu",
                    "gpu",
                    "count",
                    "capacity",
                    pool.clone(),
                    az.clone(),
                    model.clone(),
                ))
                .or_default() += cards;
            *sums
                .entry((
                    "gpu",
                    "gpu",
                    "count",
                    "used",
                    pool.clone(),
                    az.clone(),
                    model.clone(),
                ))
                .or_default() += used;
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
            batch.push(
                &catalog::HOST_RESOURCE_CAPACITY,
                &l("local_disk", "bytes"),
                bytes,
            );
            batch.push(
                &catalog::HOST_RESOURCE_CAPACITY,
                &l("local_disks", "count"),
                count,
            );
            batch.push(
                &catalog::HOST_RESOURCE_FREE,
                &l("local_disk", "bytes"),
                free_bytes,
            );
            batch.push(
                &catalog::HOST_RESOURCE_FREE,
                &l("local_disks", "count"),
                free_count,
            );
            for (resource, unit, family, v) in [
                ("local_disk", "bytes", "capacity", bytes),
                ("local_disks", "count", "capacity", count),
                ("local_disk", "bytes", "free", free_bytes),
                ("local_disks", "count", "free", free_count),
            ] {
                *sums
                    .entry((
                        "physical",
                        resource,
                        unit,
                        family,
                        pool.clone(),
                        az.clone(),
                        String::new(),
                    ))
                    .or_default() += v;
            }
        }
    }
    for ((service, resource, unit, family, pool, az, model), v) in sums {
        let def = match family {
            "capacity" => &catalog::RESOURCE_CAPACITY,
            "used" => &catalog::RESOURCE_USED,
            _ => &catalog::RESOURCE_FREE,
        };
        batch.push(
            def,
            &[
                ("service", service),
                ("resource", resource),
                ("unit", unit),
                ("pool", &pool),
                ("az", &az),
                ("gpu_model", &model),
            ],
            v,
        );
    }
}

/// (AZ, pool, flavor, resource, unit)
type AzKey = (String, String, String, &'static str, &'static str);
/// (host, cell, pool, AZ, resource, unit)
type HostKey = (String, String, String, String, &'static str, &'static str);

/// Instance sums per AZ, pool and flavor, per host, and per tenant, built one VM at a time:
/// the instance list is folded page by page, never held whole.
#[derive(Debug, Default)]
pub struct InstanceSums {
    per_az: BTreeMap<AzKey, f64>,
    per_host: BTreeMap<HostKey, f64>,
    per_tenant: BTreeMap<(String, String, &'static str, &'static str), f64>,
    tenant_count: BTreeMap<(String, String, String), f64>,
    evs: BTreeMap<(String, String), f64>,
    volumes_seen: BTreeSet<String>,
    gib_ram: usize,
}

/// Instances summed per AZ, pool and flavor, per host, and per tenant.
pub fn normalise_instances(
    vms: &[Instance],
    pools: &BTreeMap<(String, String), (String, String)>,
    batch: &mut Batch,
) {
    let mut sums = InstanceSums::default();
    for vm in vms {
        sums.add(vm, pools, batch);
    }
    sums.finish(batch);
}

impl InstanceSums {
    /// Adds one VM (a value that does not parse is counted in `batch`).
    pub fn add(
        &mut self,
        vm: &Instance,
        pools: &BTreeMap<(String, String), (String, String)>,
        batch: &mut Batch,
    ) {
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
            "vgpu"
        } else {
            "gpu"
        };
        let gpus = vm
            .flavor_info
            .gpu
            .get()
            .or_else(|| vm.vgpus.as_array().map(|a| a.len() as f64));
        let mut add = |resource: &'static str, unit: &'static str, v: f64| {
            *per_az
                .entry((az.clone(), pool.clone(), flavor.clone(), resource, unit))
                .or_default() += v;
            if !host.is_empty() {
                *per_host
                    .entry((
                        host.clone(),
                        cell.clone(),
                        pool.clone(),
                        az.clone(),
                        resource,
                        unit,
                    ))
                    .or_default() += v;
            }
            if resource != "instances" {
                *per_tenant
                    .entry((tenant.clone(), az.clone(), resource, unit))
                    .or_default() += v;
            }
        };
        add("instances", "count", 1.0);
        match vm.v_cpus.get() {
            Some(c) => add("vcpu", "cores", c),
            None => batch.drop_value(),
        }
        match ram {
            Some(r) => add("memory", "bytes", r),
            None => batch.drop_value(),
        }
        if let Some(g) = gpus.filter(|g| *g > 0.0) {
            add(gpu_kind, "count", g);
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

    /// The sums, as series.
    pub fn finish(self, batch: &mut Batch) {
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
        for ((az, pool, flavor, resource, unit), v) in per_az {
            batch.push(
                &catalog::RESOURCE_ALLOCATED,
                &[
                    ("service", "ecs"),
                    ("resource", resource),
                    ("unit", unit),
                    ("az", &az),
                    ("pool", &pool),
                    ("flavor", &flavor),
                ],
                v,
            );
        }
        for ((az, pool), v) in evs {
            batch.push(
                &catalog::RESOURCE_ALLOCATED,
                &[
                    ("service", "evs"),
                    ("resource", "storage"),
                    ("unit", "bytes"),
                    ("az", &az),
                    ("pool", &pool),
                ],
                v,
            );
        }
        for ((host, cell, pool, az, resource, unit), v) in per_host {
            batch.push(
                &catalog::HOST_RESOURCE_ALLOCATED,
                &[
                    ("host", &host),
                    ("resource", resource),
                    ("unit", unit),
                    ("cluster", &cell),
                    ("pool", &pool),
                    ("az", &az),
                ],
                v,
            );
        }
        for ((tenant, az, resource, unit), v) in per_tenant {
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
    ) -> Result<BTreeMap<(String, String), (String, String)>, PollError> {
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
        Ok(host_pools(&rows, &pools))
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
                let v = api
                    .get(
                        "global_cpu",
                        Base::Operator,
                        &format!("{P}/global-config/cpu"),
                        &[],
                        d,
                    )
                    .await?;
                let global: GlobalCpu = parse_data("global_cpu", v)?;
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
                let map = self.host_pools(d, &mut batch).await?;
                let (nodes, dropped) = api
                    .list::<Node>("nodes", Base::Operator, &format!("{P}/nodes"), Paging::B, d)
                    .await?;
                batch.drop_values(dropped);
                let v = api
                    .get(
                        "unused_disks",
                        Base::Operator,
                        &format!("{P}/harddisks/nouse-list"),
                        &[],
                        d,
                    )
                    .await?;
                let (unused, dropped) = api::parse_unused(v);
                batch.drop_values(dropped);
                normalise_hosts(&nodes, &map, &unused, &mut batch);
            }
            super::INSTANCES => {
                let map = self.host_pools(d, &mut batch).await?;
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
                sums.finish(&mut batch);
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
