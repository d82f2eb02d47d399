//! ESM collectors: which APIs each one calls, and how their rows become the metric vocabulary.
//!
//! Mapping decisions (the document's ambiguities, spec §5):
//! - `total` → capacity, `allocated` → allocated, `available` (what remains to allocate) →
//!   free, `used` → used, `used_ratio` (a 0-1 fraction in the examples) → utilization ratio.
//!   ESM's own `free` is a consumption-based remainder that agrees with neither `total − used` nor
//!   `available` in the examples; `used` and the ratio carry that view, so it is not exported.
//!   Capacity is exported as reported, never recomputed (the physical example's total is not
//!   allocated + available).
//! - "TB" is `terabyte_bytes` bytes (2^40 by default: the examples are GB/1024).
//! - `zone_type` (MANAGE, POD, KVM_POD, EIP_POD, ...) is the `pool` label: ESM has no pool id,
//!   and the zone is the resource pool the capacity belongs to.
//! - The `service` label comes from the `service_type` asked for, not from the answer, whose
//!   spelling varies (`ecs-vm`, `DeH`, `deh`, ...).
//! - Rows repeat per daily snapshot within the time window; the newest per series is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};

use super::api::{
    self, Alarm, CapacityRow, Device, ElbCluster, EsmApi, HostDetail, HostMetric, TenantResource,
};
use super::{EsmCollectorOptions, SCOPE_CAPACITY, SCOPE_METRIC, TENANT_RESOURCE_TYPES};
use crate::catalog;
use crate::collect::{Batch, BoxFuture, Collector, PollContext, PollError};
use crate::lenient::Num;

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

/// What a row measures: the `resource` and `unit` labels, the factor to base units, and the
/// label that carries the row's `metric_type`.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    resource: &'static str,
    unit: &'static str,
    scale: f64,
    subtype_label: Option<&'static str>,
}

fn measure(
    resource: &'static str,
    unit: &'static str,
    scale: f64,
    subtype_label: Option<&'static str>,
) -> Option<Measure> {
    Some(Measure {
        resource,
        unit,
        scale,
        subtype_label,
    })
}

/// The measure of a cloud-service row; `None` for a `metric_type` the mapping does not know.
fn service_measure(service: &str, metric_type: &str, tb: f64) -> Option<Measure> {
    let mt = metric_type.to_ascii_lowercase();
    match service {
        "ecs" | "bms" | "rds" => measure("instances", "count", 1.0, Some("flavor")),
        "deh" => measure("hosts", "count", 1.0, Some("flavor")),
        "eip" => measure("eip", "count", 1.0, Some("eip_type")),
        "evs" | "obs" | "sfs" => measure("storage", "bytes", tb, Some("storage_type")),
        "vpn" if mt.contains("connection") => measure("vpn_connections", "count", 1.0, None),
        "vpn" if mt.contains("gateway") => measure("vpn_gateways", "count", 1.0, None),
        "dcc" => {
            // The document's example is the description "Host/memory/vCPU": a row must name
            // exactly one of the three, or it is not exported (never guessed).
            let kinds = [
                (mt.contains("cpu"), measure("vcpu", "cores", 1.0, None)),
                (mt.contains("mem"), measure("memory", "bytes", tb, None)),
                (mt.contains("host"), measure("hosts", "count", 1.0, None)),
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
        return measure("storage", "bytes", tb, Some("storage_type"));
    }
    if mt == "vcpu" || mt == "cpu" {
        measure("vcpu", "cores", 1.0, Some("server_model"))
    } else if mt == "memory" {
        measure("memory", "bytes", tb, Some("server_model"))
    } else {
        None
    }
}

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
    let mut newest: BTreeMap<Labels, (f64, &CapacityRow, Measure)> = BTreeMap::new();
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
        let mut labels: Vec<(&'static str, String)> = vec![
            ("service", service.to_string()),
            ("resource", m.resource.to_string()),
            ("unit", m.unit.to_string()),
            ("region", row.region.as_str().to_string()),
            ("az", row.az_id.as_str().to_string()),
            ("pool", row.zone_type.as_str().to_ascii_uppercase()),
        ];
        if let Some(l) = m.subtype_label {
            let v = if l == "server_model" {
                row.resource_type.as_str()
            } else {
                metric_type
            };
            labels.push((l, v.to_string()));
        }
        let ts = row.timestamp.get().unwrap_or(0.0);
        match newest.get(&labels) {
            Some((t, _, _)) if *t >= ts => {}
            _ => {
                newest.insert(labels, (ts, row, m));
            }
        }
    }
    let mut timestamps = SourceTimes::new();
    for (labels, (ts, row, m)) in &newest {
        let refs: Vec<(&'static str, &str)> =
            labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let scaled = [
            (&catalog::RESOURCE_CAPACITY, &row.total),
            (&catalog::RESOURCE_ALLOCATED, &row.allocated),
            (&catalog::RESOURCE_FREE, &row.available),
            (&catalog::RESOURCE_USED, &row.used),
        ];
        for (def, num) in scaled {
            batch.push_num(def, &refs, num, m.scale);
        }
        match row.used_ratio {
            Num::Value(r) if (0.0..=1.0).contains(&r) => {
                batch.push(&catalog::RESOURCE_UTILIZATION_RATIO, &refs, r)
            }
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
fn host_metric_resource(m: &HostMetric) -> Option<&'static str> {
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
        Some("cpu")
    } else if text.contains("mem") {
        Some("memory")
    } else if text.contains("disk") {
        Some("storage")
    } else {
        None
    }
}

/// Normalises host metric records into `headroom_host_resource_utilization_ratio`, newest per
/// host and resource; percentages (`unit` `%`) are divided by 100.
pub fn normalise_host_metrics(records: &[HostMetric], batch: &mut Batch) {
    let mut newest: BTreeMap<(String, &'static str), (f64, &HostMetric)> = BTreeMap::new();
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
        batch.push(
            &catalog::HOST_RESOURCE_UTILIZATION_RATIO,
            &[
                ("host", &host),
                ("resource", resource),
                ("unit", "ratio"),
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

/// Normalises ELBv3 cluster records: counts → allocated, capacities → capacity, per cluster.
pub fn normalise_elb(records: &[ElbCluster], batch: &mut Batch) {
    for r in records {
        let cluster = r
            .cluster_code
            .get()
            .or(r.cluster_name.get())
            .or(r.cluster_id.get())
            .unwrap_or("");
        let pairs = [
            ("loadbalancers", &r.lb_count, &r.lb_capacity),
            (
                "l4_listeners",
                &r.l4_listener_count,
                &r.l4_listener_capacity,
            ),
            (
                "l7_listeners",
                &r.l7_listener_count,
                &r.l7_listener_capacity,
            ),
            ("l4_members", &r.l4_member_count, &r.l4_member_capacity),
            ("l7_members", &r.l7_member_count, &r.l7_member_capacity),
        ];
        for (resource, count, capacity) in pairs {
            let labels = [
                ("service", "elb"),
                ("resource", resource),
                ("unit", "count"),
                ("region", r.region_id.as_str()),
                ("cluster", cluster),
            ];
            batch.push_num(&catalog::RESOURCE_ALLOCATED, &labels, count, 1.0);
            batch.push_num(&catalog::RESOURCE_CAPACITY, &labels, capacity, 1.0);
        }
    }
}

/// A JSON-in-string field of host detail: a string holding JSON, or JSON already.
fn embedded_json(v: &serde_json::Value) -> Option<serde_json::Value> {
    match v {
        serde_json::Value::String(s) => serde_json::from_str(s).ok(),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// Parses a size such as `32 GB` or `599.0GB` into bytes (binary units, as the platform's).
pub fn parse_size(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let value: f64 = t[..split].trim().parse().ok()?;
    let factor = match t[split..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "KB" | "K" | "KIB" => 1024.0,
        "MB" | "M" | "MIB" => 1024f64.powi(2),
        "GB" | "G" | "GIB" => 1024f64.powi(3),
        "TB" | "T" | "TIB" => 1024f64.powi(4),
        _ => return None,
    };
    Some(value * factor)
}

/// Normalises host detail records: logical CPUs, memory and disk per host, and the per-cluster
/// sum of logical CPUs (physical `cpu` is reported nowhere else).
pub fn normalise_host_details(records: &[HostDetail], batch: &mut Batch) {
    let mut cluster_cpus: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in records {
        let host = r.host_name.get().or(r.host_id.get()).unwrap_or("");
        if host.is_empty() {
            batch.drop_value();
            continue;
        }
        let base = [
            ("host", host),
            ("region", r.region_id.as_str()),
            ("az", r.az_code.as_str()),
            ("cluster", r.cluster_name.as_str()),
        ];
        let with = |resource: &'static str, unit: &'static str| -> Vec<(&'static str, &str)> {
            let mut l = base.to_vec();
            l.insert(1, ("resource", resource));
            l.insert(2, ("unit", unit));
            l
        };
        let cpus = embedded_json(&r.cpu).and_then(|v| {
            let items = v.as_array()?.clone();
            let mut total = 0.0;
            for cpu in items {
                let n = |k: &str| cpu.get(k).map(Num::from_value).and_then(|x| x.get());
                total += n("sockets")? * n("cores")? * n("threads").unwrap_or(1.0);
            }
            Some(total)
        });
        match cpus {
            Some(c) => {
                batch.push(&catalog::HOST_RESOURCE_CAPACITY, &with("cpu", "cores"), c);
                *cluster_cpus
                    .entry((
                        r.region_id.as_str().to_string(),
                        r.cluster_name.as_str().to_string(),
                    ))
                    .or_insert(0.0) += c;
            }
            None => batch.drop_value(),
        }
        let sum_sizes = |v: &serde_json::Value, key: &str| -> Option<f64> {
            let items = embedded_json(v)?;
            let mut total = 0.0;
            for item in items.as_array()? {
                let s = item.get(key)?.as_str()?;
                // Disks read "/dev/sda:599.0GB".
                let size = s.rsplit(':').next()?;
                total += parse_size(size)?;
            }
            Some(total)
        };
        match sum_sizes(&r.memory, "size") {
            Some(b) => batch.push(
                &catalog::HOST_RESOURCE_CAPACITY,
                &with("memory", "bytes"),
                b,
            ),
            None => batch.drop_value(),
        }
        match sum_sizes(&r.disk, "disk") {
            Some(b) => batch.push(
                &catalog::HOST_RESOURCE_CAPACITY,
                &with("storage", "bytes"),
                b,
            ),
            None => batch.drop_value(),
        }
    }
    for ((region, cluster), cpus) in cluster_cpus {
        batch.push(
            &catalog::RESOURCE_CAPACITY,
            &[
                ("service", "physical"),
                ("resource", "cpu"),
                ("unit", "cores"),
                ("region", &region),
                ("cluster", &cluster),
            ],
            cpus,
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
                                && e.message.contains("HTTP 400") =>
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
