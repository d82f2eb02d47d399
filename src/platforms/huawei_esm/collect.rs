//! ESM collectors: which APIs each one calls, and how their rows become the capacity model.
//! What each series is filled from is declared beside its code (`*_EXPORTS`) and printed in
//! `METRICS.md`.
//!
//! Mapping decisions (the document's ambiguities, spec §5):
//! - The physical rows (4.1.1) are the pool view: vCPU and memory per region and zone, split by
//!   server model; storage per region and zone, split by medium. The cloud-service rows (4.1.2)
//!   describe the same hardware again (the EVS example repeats the physical storage example's
//!   numbers) or a service's own units: they are the service view, `service` = the
//!   `service_type` asked for (the answer's spelling varies: `ecs-vm`, `DeH`, `deh`, ...).
//! - `total` → capacity, `allocated` → allocated, `available` (what remains to allocate) →
//!   free, `used` → used, `used_ratio` (a 0-1 fraction in the examples) → utilization ratio
//!   (`unit="ratio"`). ESM's own `free` is a consumption-based remainder that agrees with neither
//!   `total − used` nor `available` in the examples; `used` and the ratio carry that view, so it
//!   is not exported. Capacity is exported as reported, never recomputed.
//! - "TB" is `terabyte_bytes` bytes (2^40 by default: the examples are GB/1024).
//! - `zone_type` (MANAGE, POD, KVM_POD, EIP_POD, ...) is the `pool` label: ESM has no pool id,
//!   and the zone is the resource pool the capacity belongs to.
//! - Host detail (document 000): `sockets × cores` are cores, times `threads` are threads (the
//!   example's 88 logical CPUs are 44 cores); memory module sizes (`32 GB`) are binary, disk sizes
//!   as the OS prints them (`10.7GB`, a 10 GiB disk) decimal.
//! - Rows repeat per daily snapshot within the time window; the newest per series is kept.
//! - Free slots: ECS counts per flavor how many more VMs fit (`available` of its rows); that is
//!   `headroom_flavor_free_slots{origin="platform"}`, floored. ESM gives no per-host allocation
//!   that headroom could count slots or N-1 from itself (document 000's `host/vms` `vm_list` is
//!   an unreadable OCR string), so configured `instance_sizes` get no slots on ESM.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::api::{
    self, Alarm, CapacityRow, Device, ElbCluster, EsmApi, HostDetail, HostMetric, TenantResource,
};
use super::{EsmCollectorOptions, SCOPE_CAPACITY, SCOPE_METRIC, TENANT_RESOURCE_TYPES};
use crate::catalog::{self, exports::Export, Resource};
use crate::collect::{Batch, BoxFuture, Collector, PollContext, PollError};
use crate::lenient::Num;
use crate::placement::Origin;

/// Capacity rows are daily snapshots; a 48 h window holds at least one in any time zone.
const CAPACITY_WINDOW: Duration = Duration::from_secs(48 * 3600);
/// The cloud-service alarm API rejects windows over two months.
const DEFAULT_ALARM_LOOKBACK: Duration = Duration::from_secs(60 * 86400);
const DEFAULT_METRIC_WINDOW: Duration = Duration::from_secs(15 * 60);
const DEFAULT_TENANT_WINDOW: Duration = Duration::from_secs(2 * 3600);
/// Per-host calls in flight at once (Tier-1 APIs answer in milliseconds; the budget, not this,
/// sets the rate).
const HOST_CALLS_IN_FLIGHT: usize = 8;

/// The ten cloud services of 4.1.2, with the `service_type` each is queried by.
pub const SERVICES: &[(&str, &str)] = &[
    ("ECS_VM", "ecs"),
    ("BMS", "bms"),
    ("EVS", "evs"),
    ("OBS", "obs"),
    ("EIP", "eip"),
    ("RDS", "rds"),
    ("DCC", "dcc"),
    ("DeH", "deh"),
    ("SFS", "sfs"),
    ("VPN", "vpn"),
];

/// What a row measures: the resource, the factor to its base unit, and the label that carries
/// the row's `metric_type`.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    resource: Resource,
    scale: f64,
    subtype_label: Option<&'static str>,
}

fn measure(resource: Resource, scale: f64, subtype_label: Option<&'static str>) -> Option<Measure> {
    Some(Measure {
        resource,
        scale,
        subtype_label,
    })
}

/// The measure of a cloud-service row; `None` for a `metric_type` the mapping does not know.
fn service_measure(service: &str, metric_type: &str, tb: f64) -> Option<Measure> {
    let mt = metric_type.to_ascii_lowercase();
    match service {
        "ecs" | "bms" | "rds" => measure(Resource::Instances, 1.0, Some("flavor")),
        "deh" => measure(Resource::Hosts, 1.0, Some("flavor")),
        "eip" => measure(Resource::Eip, 1.0, Some("eip_type")),
        "evs" => measure(Resource::Storage, tb, Some("storage_type")),
        "obs" => measure(Resource::ObjectStorage, tb, Some("storage_type")),
        "sfs" => measure(Resource::FileStorage, tb, Some("storage_type")),
        "vpn" if mt.contains("connection") => measure(Resource::VpnConnections, 1.0, None),
        "vpn" if mt.contains("gateway") => measure(Resource::VpnGateways, 1.0, None),
        "dcc" => {
            // The document's example is the description "Host/memory/vCPU": a row must name
            // exactly one of the three, or it is not exported (never guessed).
            let kinds = [
                (mt.contains("cpu"), measure(Resource::Vcpu, 1.0, None)),
                (mt.contains("mem"), measure(Resource::Memory, tb, None)),
                (mt.contains("host"), measure(Resource::Hosts, 1.0, None)),
            ];
            let mut hits = kinds.into_iter().filter(|(hit, _)| *hit);
            match (hits.next(), hits.next()) {
                (Some((_, m)), None) => m,
                _ => None,
            }
        }
        _ => None,
    }
}

/// The measure of a physical row (4.1.1): compute rows are vCPU or memory, storage rows are
/// storage media.
fn physical_measure(device_type: &str, metric_type: &str, tb: f64) -> Option<Measure> {
    let mt = metric_type.to_ascii_lowercase();
    if device_type.eq_ignore_ascii_case("EVS") {
        return measure(Resource::Storage, tb, Some("storage_type"));
    }
    if mt == "vcpu" || mt == "cpu" {
        measure(Resource::Vcpu, 1.0, Some("server_model"))
    } else if mt == "memory" {
        measure(Resource::Memory, tb, Some("server_model"))
    } else {
        None
    }
}

const PHYSICAL: &[&str] = &["region", "az", "pool", "server_model"];
const PHYSICAL_STORAGE: &[&str] = &["region", "az", "pool", "storage_type"];

pub const PHYSICAL_CAPACITY_EXPORTS: &[Export] = &[
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Vcpu, PHYSICAL, "GET /rest/capacity/v1/physical-capacity?device_type=ECS metric_type=vCpu total",
        "vCPUs, newest daily row per series; pool = zone_type, server_model = resource_type"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Vcpu, PHYSICAL, "physical-capacity vCpu allocated", "vCPUs"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Vcpu, PHYSICAL, "physical-capacity vCpu available",
        "vCPUs still allocatable (ESM's `free` is a consumption remainder that agrees with nothing and is not exported)"),
    Export::of(&catalog::RESOURCE_USED, Resource::Vcpu, PHYSICAL, "physical-capacity vCpu used", "vCPUs"),
    Export::of(&catalog::RESOURCE_UTILIZATION_RATIO, Resource::Vcpu, PHYSICAL, "physical-capacity vCpu used_ratio", "0-1 as reported"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Memory, PHYSICAL, "physical-capacity metric_type=memory total", "TB x terabyte_bytes (2^40: the examples are GB/1024)"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Memory, PHYSICAL, "physical-capacity memory allocated", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Memory, PHYSICAL, "physical-capacity memory available", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_USED, Resource::Memory, PHYSICAL, "physical-capacity memory used", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_UTILIZATION_RATIO, Resource::Memory, PHYSICAL, "physical-capacity memory used_ratio", "0-1 as reported"),
    Export::of(&catalog::RESOURCE_CAPACITY, Resource::Storage, PHYSICAL_STORAGE, "physical-capacity?device_type=EVS total",
        "TB x 2^40; storage_type = metric_type (the medium)"),
    Export::of(&catalog::RESOURCE_ALLOCATED, Resource::Storage, PHYSICAL_STORAGE, "physical-capacity EVS allocated", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_FREE, Resource::Storage, PHYSICAL_STORAGE, "physical-capacity EVS available", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_USED, Resource::Storage, PHYSICAL_STORAGE, "physical-capacity EVS used", "TB x 2^40"),
    Export::of(&catalog::RESOURCE_UTILIZATION_RATIO, Resource::Storage, PHYSICAL_STORAGE, "physical-capacity EVS used_ratio", "0-1 as reported"),
    Export::plain(&catalog::SOURCE_TIMESTAMP, &["collector", "service", "region"], "physical-capacity timestamp", "ms / 1000, newest per region"),
];

/// The five series of each kind of cloud-service row: total, allocated, available, used and
/// used_ratio, as one export list.
macro_rules! service_exports {
    ($(($service:literal, $resource:expr, $labels:expr, $conv:literal)),* $(,)?) => {
        &[
            $(
                Export::service(&catalog::SERVICE_CAPACITY, $service, $resource, $labels,
                    concat!("GET /rest/capacity/v1/service-capacity?service_type=<", $service, "> total"), $conv),
                Export::service(&catalog::SERVICE_ALLOCATED, $service, $resource, $labels, "service-capacity allocated", $conv),
                Export::service(&catalog::SERVICE_FREE, $service, $resource, $labels, "service-capacity available", $conv),
                Export::service(&catalog::SERVICE_USED, $service, $resource, $labels, "service-capacity used", $conv),
                Export::service(&catalog::SERVICE_UTILIZATION_RATIO, $service, $resource, $labels, "service-capacity used_ratio", "0-1 as reported"),
            )*
            Export::plain(&catalog::SOURCE_TIMESTAMP, &["collector", "service", "region"],
                "service-capacity timestamp", "ms / 1000, newest per service and region"),
            Export::plain(&catalog::FLAVOR_FREE_SLOTS, &["origin", "region", "az", "pool", "flavor"],
                "service-capacity?service_type=ecs available",
                "the VMs of the flavor ECS says still fit, floored (origin platform; the platform counts them, headroom has no host figures to count N-1 from)"),
        ]
    };
}
const FLAVORED: &[&str] = &["region", "az", "pool", "flavor"];
const TYPED: &[&str] = &["region", "az", "pool", "storage_type"];
const EIP_TYPED: &[&str] = &["region", "az", "pool", "eip_type"];
const PLACED: &[&str] = &["region", "az", "pool"];

/// The ten services of 4.1.2 are the service view: each reports capacity that the physical
/// rows (the pool view) already count, or capacity of its own.
pub const SERVICE_CAPACITY_EXPORTS: &[Export] = service_exports![
    (
        "ecs",
        Resource::Instances,
        FLAVORED,
        "instances of the flavor (metric_type)"
    ),
    (
        "bms",
        Resource::Instances,
        FLAVORED,
        "bare-metal instances of the flavor"
    ),
    (
        "rds",
        Resource::Instances,
        FLAVORED,
        "database instances of the type"
    ),
    (
        "deh",
        Resource::Hosts,
        FLAVORED,
        "dedicated hosts of the flavor"
    ),
    (
        "eip",
        Resource::Eip,
        EIP_TYPED,
        "IPs of the line (metric_type)"
    ),
    (
        "evs",
        Resource::Storage,
        TYPED,
        "TB x 2^40; the same arrays the physical storage rows count"
    ),
    ("obs", Resource::ObjectStorage, TYPED, "TB x 2^40"),
    ("sfs", Resource::FileStorage, TYPED, "TB x 2^40"),
    (
        "vpn",
        Resource::VpnConnections,
        PLACED,
        "rows whose metric_type says connection"
    ),
    (
        "vpn",
        Resource::VpnGateways,
        PLACED,
        "rows whose metric_type says gateway"
    ),
    (
        "dcc",
        Resource::Vcpu,
        PLACED,
        "a row must name exactly one of vCPU, memory and host"
    ),
    ("dcc", Resource::Memory, PLACED, "TB x 2^40"),
    ("dcc", Resource::Hosts, PLACED, "hosts"),
];

/// An owned label set.
type Labels = Vec<(&'static str, String)>;

/// Newest data timestamp (epoch ms) per region, for `headroom_source_timestamp_seconds`.
pub type SourceTimes = BTreeMap<String, f64>;

/// Normalises capacity rows into `headroom_resource_*`; `physical_device_type` is the
/// `device_type` asked for (physical rows) or `None` (cloud-service rows). Returns the newest
/// data timestamp per region, which the caller exports once per poll with
/// [`push_source_times`].
pub fn normalise_capacity(
    collector: &str,
    service: &str,
    physical_device_type: Option<&str>,
    rows: &[CapacityRow],
    tb: f64,
    batch: &mut Batch,
) -> SourceTimes {
    // Newest row per series key.
    let mut newest: BTreeMap<(Resource, Labels), (f64, &CapacityRow, Measure)> = BTreeMap::new();
    for row in rows {
        let metric_type = row.metric_type.as_str();
        let m = match physical_device_type {
            Some(asked) => {
                let dt = row.device_type.get().unwrap_or(asked);
                physical_measure(dt, metric_type, tb)
            }
            None => service_measure(service, metric_type, tb),
        };
        let Some(m) = m else {
            batch.drop_value();
            tracing::debug!(
                collector,
                service,
                metric_type,
                "No mapping for this metric_type; row not exported."
            );
            continue;
        };
        let physical = physical_device_type.is_some();
        let mut labels: Vec<(&'static str, String)> = vec![
            ("region", row.region.as_str().to_string()),
            ("az", row.az_id.as_str().to_string()),
            ("pool", row.zone_type.as_str().to_ascii_uppercase()),
        ];
        if !physical {
            labels.insert(0, ("service", service.to_string()));
        }
        if let Some(l) = m.subtype_label {
            let v = if l == "server_model" {
                row.resource_type.as_str()
            } else {
                metric_type
            };
            labels.push((l, v.to_string()));
        }
        let ts = row.timestamp.get().unwrap_or(0.0);
        let key = (m.resource, labels);
        match newest.get(&key) {
            Some((t, _, _)) if *t >= ts => {}
            _ => {
                newest.insert(key, (ts, row, m));
            }
        }
    }
    // Physical rows are the pool view; cloud-service rows describe the same hardware again.
    let defs = if physical_device_type.is_some() {
        [
            &catalog::RESOURCE_CAPACITY,
            &catalog::RESOURCE_ALLOCATED,
            &catalog::RESOURCE_FREE,
            &catalog::RESOURCE_USED,
            &catalog::RESOURCE_UTILIZATION_RATIO,
        ]
    } else {
        [
            &catalog::SERVICE_CAPACITY,
            &catalog::SERVICE_ALLOCATED,
            &catalog::SERVICE_FREE,
            &catalog::SERVICE_USED,
            &catalog::SERVICE_UTILIZATION_RATIO,
        ]
    };
    let mut timestamps = SourceTimes::new();
    for ((resource, labels), (ts, row, m)) in &newest {
        let refs: Vec<(&'static str, &str)> =
            labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for (def, num) in defs
            .iter()
            .zip([&row.total, &row.allocated, &row.available, &row.used])
        {
            batch.put_num(def, *resource, &refs, num, m.scale);
        }
        // ECS computes per flavor how many more VMs fit ("available: How many VMs still
        // remain", 4.1.2.1): the platform's own free slots, beside those headroom counts. The
        // examples send fractions (13.06640625): a part of a VM does not fit, so it is floored.
        if physical_device_type.is_none() && service == "ecs" && *resource == Resource::Instances {
            if let Some(free) = row.available.get() {
                let mut slot_labels: Vec<(&'static str, &str)> =
                    vec![("origin", Origin::Platform.as_str())];
                slot_labels.extend(refs.iter().filter(|(k, _)| *k != "service"));
                batch.push(
                    &catalog::FLAVOR_FREE_SLOTS,
                    &slot_labels,
                    free.floor().max(0.0),
                );
            }
        }
        match row.used_ratio {
            Num::Value(r) if (0.0..=1.0).contains(&r) => batch.put(defs[4], *resource, &refs, r),
            Num::Value(_) | Num::Invalid => batch.drop_value(),
            Num::Absent => {}
        }
        if *ts > 0.0 {
            let region = row.region.as_str().to_string();
            let e = timestamps.entry(region).or_insert(0.0);
            *e = e.max(*ts);
        }
    }
    timestamps
}

/// Exports the newest data time per region of one service.
pub fn push_source_times(collector: &str, service: &str, times: SourceTimes, batch: &mut Batch) {
    for (region, ts) in times {
        batch.push(
            &catalog::SOURCE_TIMESTAMP,
            &[
                ("collector", collector),
                ("service", service),
                ("region", &region),
            ],
            ts / 1000.0,
        );
    }
}

pub const DEVICES_EXPORTS: &[Export] = &[
    Export::plain(
        &catalog::HOST_INFO,
        &[
            "host",
            "host_id",
            "device_type",
            "model",
            "os",
            "state",
            "region",
            "address",
        ],
        "GET /rest/inventory/v1/devices",
        "host = name, else device_id; duplicates of (name, id) once",
    ),
    Export::plain(
        &catalog::HOSTS,
        &["device_type", "state", "region"],
        "devices running_status",
        "devices counted per type, state and region",
    ),
];

pub const ALARMS_EXPORTS: &[Export] = &[Export::plain(
    &catalog::ALARMS_ACTIVE,
    &["source", "severity", "region"],
    "GET alarm APIs (4.1.5 cloud service, 4.1.6 hardware) with cleared=0",
    "uncleared alarms once per csn; severity 1-4 = critical, major, minor, warning; every region with alarms gets all four",
)];

pub const TENANT_RESOURCES_EXPORTS: &[Export] = &[Export::plain(
    &catalog::TENANT_RESOURCES,
    &["tenant", "service", "region", "az", "flavor"],
    "GET /rest/tenant-resource/v1/tenant-resources/{type}",
    "distinct resource_id per tenant (domain name, else ids), service = the type, region, AZ and spec",
)];

/// Normalises the device list into `headroom_host_info` and `headroom_hosts`.
pub fn normalise_devices(devices: &[Device], batch: &mut Batch) {
    let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for d in devices {
        let host = d.name.get().or(d.device_id.get()).unwrap_or("");
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let id = d.device_id.as_str();
        if !seen.insert((host.to_string(), id.to_string())) {
            continue;
        }
        let state = d.running_status.get().unwrap_or("unknown").to_string();
        batch.push(
            &catalog::HOST_INFO,
            &[
                ("host", host),
                ("host_id", id),
                ("device_type", d.device_type.as_str()),
                ("model", d.model.as_str()),
                ("os", d.os.as_str()),
                ("state", &state),
                ("region", d.region.as_str()),
                ("address", d.management_ip.as_str()),
            ],
            1.0,
        );
        *counts
            .entry((
                d.device_type.as_str().to_string(),
                state,
                d.region.as_str().to_string(),
            ))
            .or_insert(0) += 1;
    }
    for ((device_type, state, region), n) in counts {
        batch.push(
            &catalog::HOSTS,
            &[
                ("device_type", &device_type),
                ("state", &state),
                ("region", &region),
            ],
            n as f64,
        );
    }
}

/// The severity name of an ESM alarm severity (1 critical … 4 warning; spec A21).
pub fn severity_name(raw: &str) -> &'static str {
    match raw.trim() {
        "1" => "critical",
        "2" => "major",
        "3" => "minor",
        "4" => "warning",
        _ => "unknown",
    }
}

/// Counts uncleared alarms by region and severity into `headroom_alarms_active`. With no alarm at
/// all, the four severities are exported as 0 so dashboards and alerts see a value.
pub fn normalise_alarms(source: &str, alarms: &[Alarm], batch: &mut Batch) {
    let mut counts: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for a in alarms {
        if a.cleared.as_str() == "1" {
            continue;
        }
        if let Some(csn) = a.csn.get() {
            if !seen.insert(csn.to_string()) {
                continue;
            }
        }
        *counts
            .entry((
                a.region.as_str().to_string(),
                severity_name(a.severity.as_str()),
            ))
            .or_insert(0) += 1;
    }
    if counts.is_empty() {
        for sev in ["critical", "major", "minor", "warning"] {
            batch.push(
                &catalog::ALARMS_ACTIVE,
                &[("source", source), ("severity", sev)],
                0.0,
            );
        }
        return;
    }
    // Every region that has alarms gets all four severities, so `sum by (severity)` is complete.
    let regions: BTreeSet<String> = counts.keys().map(|(r, _)| r.clone()).collect();
    for region in &regions {
        for sev in ["critical", "major", "minor", "warning", "unknown"] {
            let n = counts.get(&(region.clone(), sev)).copied();
            if n.is_none() && sev == "unknown" {
                continue;
            }
            batch.push(
                &catalog::ALARMS_ACTIVE,
                &[("source", source), ("severity", sev), ("region", region)],
                n.unwrap_or(0) as f64,
            );
        }
    }
}

/// What a host metric record measures, from its `monitor_item`, `metrics_name` and `data_item`:
/// CPU, memory or disk usage. Other metrics (I/O, NIC, load) are not capacity and are skipped.
fn host_metric_resource(m: &HostMetric) -> Option<Resource> {
    let text = format!(
        "{} {} {}",
        m.monitor_item.as_str(),
        m.metrics_name.as_str(),
        m.data_item.as_str()
    )
    .to_ascii_lowercase();
    let usage = text.contains("usage") || text.contains("util");
    if !usage || text.contains("i/o") || text.contains("io ") || text.contains("nic") {
        return None;
    }
    if text.contains("cpu") {
        Some(Resource::CpuHertz)
    } else if text.contains("mem") {
        Some(Resource::Memory)
    } else if text.contains("disk") {
        Some(Resource::LocalDisk)
    } else {
        None
    }
}

pub const HOST_METRICS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        Resource::CpuHertz,
        &["host", "region", "az"],
        "GET /rest/performance/v1/host-metrics?host_id= CPU usage records, newest",
        "percent / 100 (a value above 1 is a percentage)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        Resource::Memory,
        &["host", "region", "az"],
        "host-metrics memory usage",
        "percent / 100",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
        Resource::LocalDisk,
        &["host", "region", "az"],
        "host-metrics disk usage",
        "percent / 100",
    ),
];

/// Normalises host metric records into `headroom_host_resource_utilization_ratio`, newest per
/// host and resource; percentages (`unit` `%`) are divided by 100.
pub fn normalise_host_metrics(records: &[HostMetric], batch: &mut Batch) {
    let mut newest: BTreeMap<(String, Resource), (f64, &HostMetric)> = BTreeMap::new();
    for r in records {
        let Some(resource) = host_metric_resource(r) else {
            continue;
        };
        let host = r.host_id.as_str().to_string();
        let ts = r.time_stamp.get().unwrap_or(0.0);
        match newest.get(&(host.clone(), resource)) {
            Some((t, _)) if *t >= ts => {}
            _ => {
                newest.insert((host, resource), (ts, r));
            }
        }
    }
    for ((host, resource), (_, r)) in newest {
        let Some(v) = r.value.get() else {
            batch.drop_value();
            continue;
        };
        let percent = r.unit.as_str().contains('%') || v > 1.0;
        let ratio = if percent { v / 100.0 } else { v };
        if !(0.0..=1.0).contains(&ratio) {
            batch.drop_value();
            continue;
        }
        batch.put(
            &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
            resource,
            &[
                ("host", &host),
                ("region", r.region_id.as_str()),
                ("az", r.az_id.as_str()),
            ],
            ratio,
        );
    }
}

/// The tenant a record belongs to: domain name, else domain id, project id or enterprise project.
fn tenant_of(r: &TenantResource) -> &str {
    r.domain_name
        .get()
        .or(r.domain_id.get())
        .or(r.project_id.get())
        .or(r.enterprise_project_id.get())
        .unwrap_or("unknown")
}

/// Counts distinct resources per tenant, service, region, AZ and spec into
/// `headroom_tenant_resources`.
pub fn normalise_tenant_resources(
    resource_type: &str,
    records: &[TenantResource],
    batch: &mut Batch,
) {
    let service = resource_type.to_ascii_lowercase();
    let mut ids: HashMap<(String, String, String, String), BTreeSet<&str>> = HashMap::new();
    for r in records {
        let Some(id) = r.resource_id.get() else {
            batch.drop_value();
            continue;
        };
        let key = (
            tenant_of(r).to_string(),
            r.region_code.as_str().to_string(),
            r.az_code.as_str().to_string(),
            r.resource_spec_code.as_str().to_string(),
        );
        ids.entry(key).or_default().insert(id);
    }
    let mut sorted: Vec<_> = ids.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for ((tenant, region, az, flavor), set) in sorted {
        batch.push(
            &catalog::TENANT_RESOURCES,
            &[
                ("tenant", &tenant),
                ("service", &service),
                ("region", &region),
                ("az", &az),
                ("flavor", &flavor),
            ],
            set.len() as f64,
        );
    }
}

const ELB: &[&str] = &["region", "cluster"];

pub const ELB_CAPACITY_EXPORTS: &[Export] = &[
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "elb",
        Resource::LoadBalancers,
        ELB,
        "ELBv3 capacity (document 000) lb_count",
        "per cluster (cluster_code, else name, else id)",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "elb",
        Resource::LoadBalancers,
        ELB,
        "ELBv3 lb_capacity",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "elb",
        Resource::L4Listeners,
        ELB,
        "ELBv3 l4_listener_count",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "elb",
        Resource::L4Listeners,
        ELB,
        "ELBv3 l4_listener_capacity",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "elb",
        Resource::L7Listeners,
        ELB,
        "ELBv3 l7_listener_count",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "elb",
        Resource::L7Listeners,
        ELB,
        "ELBv3 l7_listener_capacity",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "elb",
        Resource::L4Members,
        ELB,
        "ELBv3 l4_member_count",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "elb",
        Resource::L4Members,
        ELB,
        "ELBv3 l4_member_capacity",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_ALLOCATED,
        "elb",
        Resource::L7Members,
        ELB,
        "ELBv3 l7_member_count",
        "count",
    ),
    Export::service(
        &catalog::SERVICE_CAPACITY,
        "elb",
        Resource::L7Members,
        ELB,
        "ELBv3 l7_member_capacity",
        "count",
    ),
];

/// Normalises ELBv3 cluster records: counts → allocated, capacities → capacity, per cluster
/// (service view: load balancers are a cloud service's own capacity).
pub fn normalise_elb(records: &[ElbCluster], batch: &mut Batch) {
    for r in records {
        let cluster = r
            .cluster_code
            .get()
            .or(r.cluster_name.get())
            .or(r.cluster_id.get())
            .unwrap_or("");
        let pairs = [
            (Resource::LoadBalancers, &r.lb_count, &r.lb_capacity),
            (
                Resource::L4Listeners,
                &r.l4_listener_count,
                &r.l4_listener_capacity,
            ),
            (
                Resource::L7Listeners,
                &r.l7_listener_count,
                &r.l7_listener_capacity,
            ),
            (
                Resource::L4Members,
                &r.l4_member_count,
                &r.l4_member_capacity,
            ),
            (
                Resource::L7Members,
                &r.l7_member_count,
                &r.l7_member_capacity,
            ),
        ];
        for (resource, count, capacity) in pairs {
            let labels = [
                ("service", "elb"),
                ("region", r.region_id.as_str()),
                ("cluster", cluster),
            ];
            batch.put_num(&catalog::SERVICE_ALLOCATED, resource, &labels, count, 1.0);
            batch.put_num(&catalog::SERVICE_CAPACITY, resource, &labels, capacity, 1.0);
        }
    }
}

/// A JSON-in-string field of host detail: a string holding JSON, or JSON already.
fn embedded_json(v: &serde_json::Value) -> Option<serde_json::Value> {
    match v {
        serde_json::Value::String(s) => {
            serde_json::from_slice(crate::json::small("host_details", s.as_bytes()).ok()?).ok()
        }
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// How a printed size's `KB`/`MB`/`GB`/`TB` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeUnits {
    /// Powers of 1024: memory modules (`32 GB` is a 32 GiB DIMM).
    Binary,
    /// Powers of 1000: disks as the operating system prints them (`10.7GB` is a 10 GiB disk).
    Decimal,
}

/// Parses a size such as `32 GB` or `599.0GB` into bytes; `KiB`/`MiB`/`GiB`/`TiB` are always
/// binary.
pub fn parse_size(text: &str, units: SizeUnits) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let value: f64 = t[..split].trim().parse().ok()?;
    let base: f64 = match units {
        SizeUnits::Binary => 1024.0,
        SizeUnits::Decimal => 1000.0,
    };
    let factor = match t[split..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" | "K" => base,
        "MB" | "M" => base.powi(2),
        "GB" | "G" => base.powi(3),
        "TB" | "T" => base.powi(4),
        "KIB" => 1024.0,
        "MIB" => 1024f64.powi(2),
        "GIB" => 1024f64.powi(3),
        "TIB" => 1024f64.powi(4),
        _ => return None,
    };
    Some(value * factor)
}

const DETAIL_HOST: &[&str] = &["host", "region", "az", "cluster"];
const DETAIL_CLUSTER: &[&str] = &["region", "cluster"];

pub const HOST_DETAILS_EXPORTS: &[Export] = &[
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuCores,
        DETAIL_HOST,
        "host detail (document 000) CPU[].sockets x cores",
        "cores",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::CpuThreads,
        DETAIL_HOST,
        "host detail CPU[].sockets x cores x threads",
        "threads (the example's 2 x 22 x 2 = 88 logical CPUs are 44 cores)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::Memory,
        DETAIL_HOST,
        "host detail MEMORY[].size",
        "sizes such as `32 GB` are binary (DIMMs)",
    ),
    Export::of(
        &catalog::HOST_RESOURCE_CAPACITY,
        Resource::LocalDisk,
        DETAIL_HOST,
        "host detail DISK[].disk `/dev/sda:599.0GB`",
        "decimal: the OS prints disks in powers of 1000 (`10.7GB` is a 10 GiB disk)",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::CpuCores,
        DETAIL_CLUSTER,
        "host detail CPU[].sockets x cores",
        "summed per region and cluster",
    ),
    Export::of(
        &catalog::RESOURCE_CAPACITY,
        Resource::CpuThreads,
        DETAIL_CLUSTER,
        "host detail CPU[].sockets x cores x threads",
        "summed per region and cluster",
    ),
];

/// Normalises host detail records: cores, threads, memory and disk per host, and the
/// per-cluster sums of cores and threads (reported nowhere else).
pub fn normalise_host_details(records: &[HostDetail], batch: &mut Batch) {
    let mut cluster_sums: BTreeMap<(String, String, Resource), f64> = BTreeMap::new();
    for r in records {
        let host = r.host_name.get().or(r.host_id.get()).unwrap_or("");
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let labels = [
            ("host", host),
            ("region", r.region_id.as_str()),
            ("az", r.az_code.as_str()),
            ("cluster", r.cluster_name.as_str()),
        ];
        let cpus = embedded_json(&r.cpu).and_then(|v| {
            let items = v.as_array()?.clone();
            let (mut cores, mut threads) = (0.0, 0.0);
            for cpu in items {
                let n = |k: &str| cpu.get(k).map(Num::from_value).and_then(|x| x.get());
                let c = n("sockets")? * n("cores")?;
                cores += c;
                threads += c * n("threads").unwrap_or(1.0);
            }
            Some((cores, threads))
        });
        match cpus {
            Some((cores, threads)) => {
                for (resource, v) in [(Resource::CpuCores, cores), (Resource::CpuThreads, threads)]
                {
                    batch.put(&catalog::HOST_RESOURCE_CAPACITY, resource, &labels, v);
                    *cluster_sums
                        .entry((
                            r.region_id.as_str().to_string(),
                            r.cluster_name.as_str().to_string(),
                            resource,
                        ))
                        .or_insert(0.0) += v;
                }
            }
            None => batch.drop_value(),
        }
        let sum_sizes = |v: &serde_json::Value, key: &str, units: SizeUnits| -> Option<f64> {
            let items = embedded_json(v)?;
            let mut total = 0.0;
            for item in items.as_array()? {
                let s = item.get(key)?.as_str()?;
                // Disks read "/dev/sda:599.0GB".
                let size = s.rsplit(':').next()?;
                total += parse_size(size, units)?;
            }
            Some(total)
        };
        for (resource, field, key, units) in [
            (Resource::Memory, &r.memory, "size", SizeUnits::Binary),
            (Resource::LocalDisk, &r.disk, "disk", SizeUnits::Decimal),
        ] {
            match sum_sizes(field, key, units) {
                Some(b) => batch.put(&catalog::HOST_RESOURCE_CAPACITY, resource, &labels, b),
                None => batch.drop_value(),
            }
        }
    }
    for ((region, cluster, resource), v) in cluster_sums {
        batch.put(
            &catalog::RESOURCE_CAPACITY,
            resource,
            &[("region", &region), ("cluster", &cluster)],
            v,
        );
    }
}

/// One ESM collector; `name` selects which APIs it polls.
pub struct EsmCollector {
    name: &'static str,
    api: Arc<EsmApi>,
    options: EsmCollectorOptions,
}

impl EsmCollector {
    pub fn new(name: &'static str, api: Arc<EsmApi>, options: EsmCollectorOptions) -> EsmCollector {
        EsmCollector { name, api, options }
    }

    async fn run(&self, ctx: &PollContext) -> Result<Batch, PollError> {
        let api = &self.api;
        let tb = api.settings.terabyte_bytes;
        let mut batch = Batch::new();
        let d = ctx.deadline;
        match self.name {
            super::PHYSICAL_CAPACITY => {
                // Compute and storage are asked for separately so every row's kind is known even
                // when it lacks `device_type` (the compute example does).
                let mut times = SourceTimes::new();
                for device_type in ["ECS", "EVS"] {
                    let mut q = api::window(ctx.started, CAPACITY_WINDOW).to_vec();
                    q.push(("device_type", device_type.to_string()));
                    let rows = api
                        .fetch_all::<CapacityRow>(
                            "physical_capacity",
                            SCOPE_CAPACITY,
                            api::PATH_PHYSICAL_CAPACITY,
                            &q,
                            d,
                        )
                        .await?;
                    batch.drop_values(rows.dropped);
                    for (region, ts) in normalise_capacity(
                        self.name,
                        "physical",
                        Some(device_type),
                        &rows.items,
                        tb,
                        &mut batch,
                    ) {
                        let e = times.entry(region).or_insert(0.0);
                        *e = e.max(ts);
                    }
                }
                push_source_times(self.name, "physical", times, &mut batch);
            }
            super::SERVICE_CAPACITY => {
                for (query_type, service) in SERVICES {
                    let configured = match *service {
                        "dcc" => self.options.dcc_service_type.as_deref(),
                        _ => None,
                    };
                    let fetch = |query_type: String| {
                        let mut q = api::window(ctx.started, CAPACITY_WINDOW).to_vec();
                        q.push(("service_type", query_type));
                        async move {
                            api.fetch_all::<CapacityRow>(
                                "service_capacity",
                                SCOPE_CAPACITY,
                                api::PATH_SERVICE_CAPACITY,
                                &q,
                                d,
                            )
                            .await
                        }
                    };
                    let rows = match fetch(configured.unwrap_or(query_type).to_string()).await {
                        // The document names DCC both `DCC` (sample request) and `DCC_GENERATE`
                        // (table); unless configured, a 400 for one is answered with the other.
                        Err(e)
                            if *service == "dcc"
                                && configured.is_none()
                                && e.status == Some(400) =>
                        {
                            tracing::info!(
                                target_name = api.target(),
                                "DCC refused service_type=DCC; asking with DCC_GENERATE."
                            );
                            fetch("DCC_GENERATE".to_string()).await?
                        }
                        other => other?,
                    };
                    batch.drop_values(rows.dropped);
                    let times =
                        normalise_capacity(self.name, service, None, &rows.items, tb, &mut batch);
                    push_source_times(self.name, service, times, &mut batch);
                }
            }
            super::DEVICES => {
                let devices = api
                    .fetch_all::<Device>("devices", SCOPE_CAPACITY, api::PATH_DEVICES, &[], d)
                    .await?;
                batch.drop_values(devices.dropped);
                normalise_devices(&devices.items, &mut batch);
            }
            super::CLOUD_SERVICE_ALARMS | super::HARDWARE_ALARMS => {
                let (path, source) = if self.name == super::HARDWARE_ALARMS {
                    (api::PATH_HARDWARE_ALARMS, "hardware")
                } else {
                    (api::PATH_CLOUD_SERVICE_ALARMS, "cloud_service")
                };
                let mut q = api::window(
                    ctx.started,
                    self.options.lookback.unwrap_or(DEFAULT_ALARM_LOOKBACK),
                )
                .to_vec();
                q.push(("cleared", "0".to_string()));
                let alarms = api
                    .fetch_all::<Alarm>(self.name, SCOPE_CAPACITY, path, &q, d)
                    .await?;
                batch.drop_values(alarms.dropped);
                normalise_alarms(source, &alarms.items, &mut batch);
            }
            super::HOST_METRICS => {
                let host_ids = match &self.options.host_ids {
                    Some(ids) => ids.clone(),
                    None => {
                        // The servers of the device list; the device API is in the 60/min scope.
                        let q = [("device_type", "server".to_string())];
                        let devices = api
                            .fetch_all::<Device>(
                                "devices",
                                SCOPE_CAPACITY,
                                api::PATH_DEVICES,
                                &q,
                                d,
                            )
                            .await?;
                        let mut ids: Vec<String> = devices
                            .items
                            .iter()
                            .filter_map(|x| x.device_id.get().map(str::to_string))
                            .collect();
                        ids.sort();
                        ids.dedup();
                        ids
                    }
                };
                // One call per host: several in flight, so the poll runs at the budget's rate
                // rather than at one round trip per host. The budget still spaces every call.
                let window_len = self.options.window.unwrap_or(DEFAULT_METRIC_WINDOW);
                let results: Vec<Result<api::Fetched<HostMetric>, PollError>> =
                    stream::iter(host_ids)
                        .map(|host| {
                            let mut q = api::window(ctx.started, window_len).to_vec();
                            q.push(("host_id", host));
                            async move {
                                api.fetch_all::<HostMetric>(
                                    "host_metrics",
                                    SCOPE_METRIC,
                                    api::PATH_HOST_METRICS,
                                    &q,
                                    d,
                                )
                                .await
                            }
                        })
                        .buffer_unordered(HOST_CALLS_IN_FLIGHT)
                        .collect()
                        .await;
                let mut records = Vec::new();
                for r in results {
                    let r = r?;
                    batch.drop_values(r.dropped);
                    records.extend(r.items);
                }
                normalise_host_metrics(&records, &mut batch);
            }
            super::TENANT_RESOURCES => {
                let default: Vec<String> = TENANT_RESOURCE_TYPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                for rt in self.options.resource_types.as_ref().unwrap_or(&default) {
                    let q = api::window(
                        ctx.started,
                        self.options.window.unwrap_or(DEFAULT_TENANT_WINDOW),
                    )
                    .to_vec();
                    let path = format!("{}/{rt}", api::PATH_TENANT_RESOURCES);
                    let r = api
                        .fetch_all::<TenantResource>("tenant_resources", SCOPE_METRIC, &path, &q, d)
                        .await?;
                    batch.drop_values(r.dropped);
                    normalise_tenant_resources(rt, &r.items, &mut batch);
                }
            }
            super::ELB_CAPACITY => {
                let path = self
                    .options
                    .path
                    .as_deref()
                    .unwrap_or(api::PATH_ELB_CAPACITY);
                let r = api
                    .fetch_all::<ElbCluster>("elb_capacity", SCOPE_METRIC, path, &[], d)
                    .await?;
                batch.drop_values(r.dropped);
                normalise_elb(&r.items, &mut batch);
            }
            super::HOST_DETAILS => {
                let path = self
                    .options
                    .path
                    .as_deref()
                    .unwrap_or(api::PATH_HOST_DETAILS);
                let q = api::window(ctx.started, Duration::from_secs(86400));
                let r = api
                    .fetch_all::<HostDetail>("host_details", SCOPE_METRIC, path, &q, d)
                    .await?;
                batch.drop_values(r.dropped);
                normalise_host_details(&r.items, &mut batch);
            }
            other => {
                return Err(PollError::new(
                    crate::collect::ErrorReason::Parse,
                    format!("unknown ESM collector {other}"),
                ))
            }
        }
        Ok(batch)
    }
}

impl Collector for EsmCollector {
    fn poll<'a>(&'a self, ctx: &'a PollContext) -> BoxFuture<'a, Result<Batch, PollError>> {
        Box::pin(self.run(ctx))
    }
}
