//! The Huawei ESM simulator: the IAM token endpoint, every documented data path with its headers,
//! parameters, paging and error bodies, the 60 calls/min Tier-2 limit (429 above it), a seeded
//! synthetic site whose numbers agree across APIs, and fault switches.
//!
//! Control endpoints (not part of ESM): `GET /sim/stats`, `POST /sim/faults` (a JSON [`Faults`]),
//! `POST /sim/expire-tokens`, `POST /sim/credentials` (`{"password": ...}`), `POST`/`DELETE
//! /sim/pressure` (one pool filled to a share of its total, see [`Pressure`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Fault, FaultState, Faults, SlidingWindow, TokenStore, Truth};

/// Credentials and limits the simulator enforces, and the size of its site.
#[derive(Clone, Debug)]
pub struct EsmSimConfig {
    pub seed: u64,
    pub regions: usize,
    pub hosts: usize,
    pub username: String,
    pub password: String,
    pub domain: String,
    pub project: String,
    pub appcode: String,
    pub token_ttl: Duration,
    /// Tier-2 limit per AppCode: calls per `capacity_window` (documented: 60 per minute).
    pub capacity_limit_per_minute: usize,
    /// The window the Tier-2 limit is counted over (60 s; tests shorten it to run faster).
    pub capacity_window: Duration,
    /// `Retry-After` sent with a 429, in seconds.
    pub retry_after_secs: u64,
    /// Tier-1 limit per AppCode, calls per second (documented: 4000).
    pub metric_limit_per_second: usize,
    pub faults: Faults,
    /// When set, data calls must carry this `x-hcso-domainid` (HCS Online sites).
    pub require_domain_id: Option<String>,
    /// `offset_value` counts pages from this number (0 or 1) instead of records.
    pub offset_pages_from: Option<usize>,
    /// The `service_type` that selects DCC: `DCC` (the sample request) or `DCC_GENERATE` (the
    /// table); the other one is refused with 400 (spec A14).
    pub dcc_query_value: &'static str,
    /// Share of each pool's physical vCPU and memory total added to its allocation per hour
    /// since the simulator started (free shrinks to match, never below 0), so exhaustion
    /// forecasts have a trend to follow; 0 serves the generated site unchanged. The demo grows.
    pub growth_per_hour: f64,
}

impl Default for EsmSimConfig {
    fn default() -> Self {
        EsmSimConfig {
            seed: 42,
            regions: 2,
            hosts: 24,
            username: "capacity-reader".into(),
            password: "demo-password".into(),
            domain: "demo-domain".into(),
            project: "demo-project".into(),
            appcode: "demo-appcode".into(),
            token_ttl: Duration::from_secs(24 * 3600),
            capacity_limit_per_minute: 60,
            capacity_window: Duration::from_secs(60),
            retry_after_secs: 5,
            metric_limit_per_second: 4000,
            faults: Faults::default(),
            require_domain_id: None,
            offset_pages_from: None,
            dcc_query_value: "DCC",
            growth_per_hour: 0.0,
        }
    }
}

/// One simulated host.
#[derive(Clone, Debug)]
pub struct SimHost {
    pub id: String,
    pub name: String,
    pub region: String,
    pub az: String,
    pub zone_type: &'static str,
    pub model: &'static str,
    pub vcpus: u64,
    pub memory_gb: u64,
    pub status: &'static str,
    pub cpu_usage: f64,
    pub mem_usage: f64,
    pub disk_usage: f64,
}

/// The hosts of one (region, zone, server model): what the physical compute rows report.
#[derive(Clone, Debug)]
pub struct ComputeGroup {
    pub region: String,
    pub zone: &'static str,
    pub model: &'static str,
    /// Sums over the group's hosts.
    pub vcpus: f64,
    pub memory_gb: f64,
    /// Today's allocation and what the platform holds back.
    pub allocated_vcpus: f64,
    pub reserved_vcpus: f64,
    pub allocated_gb: f64,
    pub reserved_gb: f64,
}

/// One storage array: an AZ's block storage of one medium. The physical storage rows sum the
/// arrays per region; the EVS service rows report the same arrays per AZ (document 001's
/// examples repeat the same numbers in both).
#[derive(Clone, Debug)]
pub struct StorageArray {
    pub region: String,
    pub az: String,
    pub media: &'static str,
    pub gb: f64,
    pub allocated_gb: f64,
    pub used_gb: f64,
}

/// The synthetic site: hosts, capacity rows, alarms and tenant resources derived from one seed.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub hosts: Vec<SimHost>,
    pub switches: Vec<Value>,
    pub compute: Vec<ComputeGroup>,
    pub arrays: Vec<StorageArray>,
    /// The day the rows are dated (today's rows; yesterday's are served too).
    pub today_ms: i64,
    /// Rows per `service_type` query value.
    pub services: BTreeMap<&'static str, Vec<Value>>,
    pub cloud_alarms: Vec<Value>,
    pub hardware_alarms: Vec<Value>,
    /// Records per tenant resource type.
    pub tenant_resources: BTreeMap<String, Vec<Value>>,
    /// VMs of each flavor ECS says still fit, per (region, AZ, flavor) of its `KVM_POD` rows.
    pub ecs_free: BTreeMap<(String, String, String), u64>,
}

/// Midnight UTC+8 of the day containing `t`, in epoch ms (ESM capacity rows are daily).
fn day_start_ms(t: SystemTime) -> i64 {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let local = secs + 8 * 3600;
    (local - local.rem_euclid(86400) - 8 * 3600) * 1000
}

fn s(v: impl ToString) -> Value {
    Value::String(v.to_string())
}

fn tb(gb: f64) -> Value {
    // The platform reports TB as GB/1024.
    s(gb / 1024.0)
}

impl Fleet {
    /// Generates the site. Totals are consistent: physical vCPU and memory per (region, zone,
    /// model) are the sums over its hosts; ECS instances allocated per AZ equal the ECS records
    /// of the tenant resource API in that AZ.
    pub fn generate(cfg: &EsmSimConfig, now: SystemTime) -> Fleet {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let regions: Vec<String> = (1..=cfg.regions.max(1))
            .map(|i| format!("cn-sim-{i}"))
            .collect();
        let today = day_start_ms(now);
        let mut hosts = Vec::new();
        for i in 0..cfg.hosts {
            let region = regions[i % regions.len()].clone();
            let az = format!(
                "{region}{}",
                if (i / regions.len()) % 2 == 0 {
                    'a'
                } else {
                    'b'
                }
            );
            let (model, vcpus, memory_gb) = if i % 3 == 0 {
                ("M6xLarge", 96, 768)
            } else {
                ("C6xLarge", 64, 256)
            };
            hosts.push(SimHost {
                id: format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    rng.u32(..),
                    rng.u16(..),
                    rng.u16(..4096),
                    rng.u16(..4096),
                    rng.u64(..1 << 48)
                ),
                name: format!("{region}-host-{i:04}"),
                region,
                az,
                zone_type: if i % 5 == 4 { "MANAGE" } else { "KVM_POD" },
                model,
                vcpus,
                memory_gb,
                status: if i % 11 == 10 { "fault" } else { "running" },
                cpu_usage: (rng.f64() * 80.0 + 5.0).round(),
                mem_usage: (rng.f64() * 70.0 + 20.0).round(),
                disk_usage: (rng.f64() * 60.0 + 10.0).round(),
            });
        }
        let switches = (0..regions.len() * 2)
            .map(|i| {
                json!({"device_id": format!("switch-{i}"), "name": format!("{}-tor-{i}", regions[i % regions.len()]), "device_type": "switch",
                       "running_status": "running", "model": "CE6881", "management_ip": format!("192.0.2.{}", 200 + i), "os": "VRP", "region": regions[i % regions.len()]})
            })
            .collect();

        // Physical compute: the hosts of each (region, zone, model), a share of them allocated.
        let mut groups: BTreeMap<(String, &str, &str), (u64, u64)> = BTreeMap::new();
        for h in &hosts {
            let e = groups
                .entry((h.region.clone(), h.zone_type, h.model))
                .or_insert((0, 0));
            e.0 += h.vcpus;
            e.1 += h.memory_gb;
        }
        let compute = groups
            .into_iter()
            .map(|((region, zone, model), (vcpus, mem_gb))| ComputeGroup {
                region,
                zone,
                model,
                vcpus: vcpus as f64,
                memory_gb: mem_gb as f64,
                allocated_vcpus: (vcpus as f64 * 0.55).round(),
                reserved_vcpus: (vcpus as f64 * 0.04).round(),
                allocated_gb: (mem_gb as f64 * 0.5).round(),
                reserved_gb: (mem_gb as f64 * 0.05).round(),
            })
            .collect();
        // Storage arrays per AZ and medium.
        let mut arrays = Vec::new();
        for (ri, region) in regions.iter().enumerate() {
            for az in [format!("{region}a"), format!("{region}b")] {
                for (media, gb) in [("SAS", 200_000.0 + ri as f64 * 25_600.0), ("SSD", 51_200.0)] {
                    let allocated_gb = (gb * (0.3 + rng.f64() * 0.6_f64)).round();
                    arrays.push(StorageArray {
                        region: region.clone(),
                        az: az.clone(),
                        media,
                        gb,
                        allocated_gb,
                        used_gb: (allocated_gb * 0.7).round(),
                    });
                }
            }
        }

        // Cloud services per region and AZ.
        let mut services: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
        let mut ecs_allocated: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let mut ecs_free: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let azs: Vec<(String, String)> = regions
            .iter()
            .flat_map(|r| [(r.clone(), format!("{r}a")), (r.clone(), format!("{r}b"))])
            .collect();
        let row = |service_type: &str,
                   zone: &str,
                   region: &str,
                   az: &str,
                   metric: &str,
                   total: Value,
                   allocated: Value,
                   available: Value,
                   used: Value| {
            let mut v = json!({"service_type": service_type, "zone_type": zone, "region": region, "metric_type": metric, "resource_type": "",
                "total": total, "allocated": allocated, "available": available, "used": used, "free": "0", "used_ratio": "0",
                "resource_count": "0", "timestamp": s(today)});
            if !az.is_empty() {
                v["az_id"] = s(az);
                v["az_name"] = s(format!("AZ {}", &az[az.len() - 1..]));
                v["az_name_en"] = s(format!("AZ{}", &az[az.len() - 1..]));
            }
            v
        };
        for (region, az) in &azs {
            for flavor in ["c6.large.2", "c6.xlarge.2", "m6.2xlarge.8"] {
                let total = 20 + rng.u64(..40);
                let alloc = rng.u64(..=total.min(25));
                ecs_allocated.insert((region.clone(), az.clone(), flavor.to_string()), alloc);
                ecs_free.insert(
                    (region.clone(), az.clone(), flavor.to_string()),
                    total - alloc,
                );
                services.entry("ECS_VM").or_default().push(row(
                    "ecs-vm",
                    "KVM_POD",
                    region,
                    az,
                    flavor,
                    s(total),
                    s(alloc),
                    s(total - alloc),
                    s(alloc),
                ));
            }
            let bms_total = 4 + rng.u64(..4);
            let bms_alloc = rng.u64(..=bms_total);
            services.entry("BMS").or_default().push(row(
                "BMS",
                "POD",
                region,
                az,
                "physical.kd1ne.2xlarge",
                s(bms_total),
                s(bms_alloc),
                s(bms_total - bms_alloc),
                s(bms_alloc),
            ));
            let dcc_v = 512u64;
            let dcc_alloc = rng.u64(..=dcc_v);
            services.entry("DCC").or_default().push(row(
                "dcc",
                "DCC_POD",
                region,
                az,
                "vCPU",
                s(dcc_v),
                s(dcc_alloc),
                s(dcc_v - dcc_alloc),
                s(dcc_alloc),
            ));
            services.entry("DCC").or_default().push(row(
                "dcc",
                "DCC_POD",
                region,
                az,
                "memory",
                tb(2048.0),
                tb(1024.0),
                tb(1024.0),
                tb(512.0),
            ));
            services.entry("DCC").or_default().push(row(
                "dcc",
                "DCC_POD",
                region,
                az,
                "Host",
                s(8),
                s(5),
                s(3),
                s(5),
            ));
            let deh_total = 6u64;
            let deh_alloc = rng.u64(..=deh_total);
            services.entry("DeH").or_default().push(row(
                "deh",
                "DeH_POD",
                region,
                az,
                "s3",
                s(deh_total),
                s(deh_alloc),
                s(deh_total - deh_alloc),
                s(deh_alloc),
            ));
        }
        for region in &regions {
            let obs_gb = 1_048_576.0;
            services.entry("OBS").or_default().push(row(
                "OBS",
                "OBS_POD",
                region,
                "",
                "multi-AZ",
                tb(obs_gb),
                tb(obs_gb * 0.4),
                tb(obs_gb * 0.6),
                tb(obs_gb * 0.35),
            ));
            let eip_total = 490u64;
            let eip_alloc = 200 + rng.u64(..200);
            services.entry("EIP").or_default().push(row(
                "EIP",
                "EIP_POD",
                region,
                "",
                "5_bgp",
                s(eip_total),
                s(eip_alloc),
                s(eip_total - eip_alloc),
                s(eip_alloc),
            ));
            services.entry("RDS").or_default().push(row(
                "RDS",
                "RDS_POD",
                region,
                "",
                "dbtype:sqlServer",
                s(100),
                s(37),
                s(63),
                s(37),
            ));
            services.entry("SFS").or_default().push(row(
                "sfs",
                "SFS_POD",
                region,
                "",
                "null",
                tb(102_400.0),
                tb(40_960.0),
                tb(61_440.0),
                tb(30_000.0),
            ));
            services.entry("VPN").or_default().push(row(
                "VPN",
                "VPN_POD",
                region,
                "",
                "connection",
                s(200),
                s(12),
                s(188),
                s(12),
            ));
            services.entry("VPN").or_default().push(row(
                "VPN",
                "VPN_POD",
                region,
                "",
                "gateway",
                s(20),
                s(3),
                s(17),
                s(3),
            ));
        }

        // Alarms: a few active with each severity, some cleared.
        let alarm = |i: usize, sev: u8, cleared: bool, region: &str, host: &str| {
            json!({"csn": s(1000 + i), "alarm_name": "Simulated alarm", "alarm_id": s(40000 + i), "severity": s(sev), "cleared": if cleared {"1"} else {"0"},
                   "region": region, "meName": host, "acked": "0", "me_category": "ECS", "LogicalRegionId": region})
        };
        let mut cloud_alarms = Vec::new();
        let mut hardware_alarms = Vec::new();
        for (i, h) in hosts.iter().enumerate().take(12) {
            let sev = (i % 4) as u8 + 1;
            cloud_alarms.push(alarm(i, sev, i % 5 == 0, &h.region, &h.name));
            if h.status == "fault" || i % 4 == 1 {
                hardware_alarms.push(alarm(
                    100 + i,
                    if h.status == "fault" { 1 } else { 3 },
                    false,
                    &h.region,
                    &h.name,
                ));
            }
        }

        // Tenant resources: one ECS record per allocated instance, spread over three tenants.
        let mut tenant_resources: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let tenants = ["tenant-alpha", "tenant-beta", "tenant-gamma"];
        let mut n = 0usize;
        for ((region, az, flavor), count) in &ecs_allocated {
            for _ in 0..*count {
                let tenant = tenants[n % tenants.len()];
                tenant_resources.entry("ECS".into()).or_default().push(json!({
                    "accumulate_factor_name": "Duration", "accumulate_factor_value": "3600", "az_code": az, "cloud_service_type_code": "hws.service.type.ec2",
                    "domain_id": format!("{tenant}-id"), "domain_name": tenant, "region_code": region, "resource_id": format!("vm-{n:06}"),
                    "resource_spec_code": flavor, "resource_type_code": "hws.resource.type.vm", "record_type": "20", "time_stamp": "20240409231657"}));
                n += 1;
            }
        }
        for (i, region) in regions.iter().enumerate() {
            for j in 0..(5 + i) {
                let tenant = tenants[j % tenants.len()];
                tenant_resources.entry("EIP".into()).or_default().push(json!({
                    "accumulate_factor_name": "Duration", "az_code": "", "cloud_service_type_code": "hws.service.type.vpc", "domain_name": tenant,
                    "region_code": region, "resource_id": format!("eip-{i}-{j}"), "resource_spec_code": "5_bgp", "time_stamp": "20240409231657"}));
            }
        }
        Fleet {
            hosts,
            switches,
            compute,
            arrays,
            today_ms: today,
            services,
            cloud_alarms,
            hardware_alarms,
            tenant_resources,
            ecs_free,
        }
    }

    /// The physical compute rows (4.1.1): one per group, metric and day; yesterday's allocation
    /// is lower, so "the newest row wins" is observable. `grown` and `pressure` change today's
    /// and yesterday's allocation alike.
    fn physical_compute_rows(&self, grown: f64, pressure: Option<&Pressure>) -> Vec<Value> {
        let mut rows = Vec::new();
        for g in &self.compute {
            for (day, factor) in [(self.today_ms - 86_400_000, 0.9), (self.today_ms, 1.0)] {
                let (alloc_v, alloc_m) = g.allocation(factor, grown, pressure);
                let used_v = (alloc_v * 0.6).round();
                rows.push(json!({"service_type": "ECS", "metric_type": "vCpu", "zone_type": g.zone, "region": g.region, "resource_type": g.model,
                    "total": s(g.vcpus), "allocated": s(alloc_v), "available": s(g.vcpus - alloc_v - g.reserved_vcpus),
                    "used": s(used_v), "free": s(g.vcpus - used_v), "used_ratio": s(used_v / g.vcpus),
                    "resource_count": s(0), "timestamp": s(day)}));
                rows.push(json!({"service_type": "ECS", "metric_type": "memory", "zone_type": g.zone, "region": g.region, "resource_type": g.model,
                    "total": tb(g.memory_gb), "allocated": tb(alloc_m), "available": tb(g.memory_gb - alloc_m - g.reserved_gb),
                    "used": "0", "free": tb(g.memory_gb), "used_ratio": "0", "resource_count": "0", "timestamp": s(day)}));
            }
        }
        rows
    }

    /// The physical storage rows: the arrays summed per region and medium, in the management
    /// zone, with no `total` (as the document's example).
    fn physical_storage_rows(&self) -> Vec<Value> {
        let mut sums: BTreeMap<(&str, &str), (f64, f64)> = BTreeMap::new();
        for a in &self.arrays {
            let e = sums.entry((a.region.as_str(), a.media)).or_default();
            e.0 += a.allocated_gb;
            e.1 += a.gb - a.allocated_gb;
        }
        sums.into_iter()
            .map(|((region, media), (allocated, available))| {
                json!({"device_type": "EVS", "metric_type": media, "resource_type": media, "zone_type": "MANAGE", "region": region,
                       "allocated": tb(allocated), "available": tb(available), "timestamp": s(self.today_ms)})
            })
            .collect()
    }

    /// The EVS service rows (4.1.2): the same arrays, per AZ.
    fn evs_rows(&self) -> Vec<Value> {
        self.arrays
            .iter()
            .map(|a| {
                let az_letter = &a.az[a.az.len() - 1..];
                json!({"service_type": "EVS", "zone_type": "POD", "region": a.region, "metric_type": a.media, "resource_type": "",
                    "total": tb(a.gb), "allocated": tb(a.allocated_gb), "available": tb(a.gb - a.allocated_gb), "used": tb(a.used_gb),
                    "free": "0", "used_ratio": s(a.used_gb / a.gb), "resource_count": "0", "timestamp": s(self.today_ms),
                    "az_id": a.az, "az_name": format!("AZ {az_letter}"), "az_name_en": format!("AZ{az_letter}")})
            })
            .collect()
    }

    /// What the site holds now, at the pool level (region and zone).
    pub fn truth(&self, grown: f64, pressure: Option<&Pressure>) -> Truth {
        const GIB: f64 = 1_073_741_824.0;
        let mut t = Truth::default();
        for g in &self.compute {
            let at = [("region", g.region.as_str()), ("pool", g.zone)];
            let (alloc_v, alloc_m) = g.allocation(1.0, grown, pressure);
            t.add("capacity", "vcpu", &at, g.vcpus);
            t.add("allocated", "vcpu", &at, alloc_v);
            t.add("free", "vcpu", &at, g.vcpus - alloc_v - g.reserved_vcpus);
            t.add("used", "vcpu", &at, (alloc_v * 0.6).round());
            t.add("capacity", "memory", &at, g.memory_gb * GIB);
            t.add("allocated", "memory", &at, alloc_m * GIB);
            t.add(
                "free",
                "memory",
                &at,
                (g.memory_gb - alloc_m - g.reserved_gb) * GIB,
            );
            t.add("used", "memory", &at, 0.0);
        }
        for a in &self.arrays {
            let at = [("region", a.region.as_str()), ("pool", "MANAGE")];
            t.add("allocated", "storage", &at, a.allocated_gb * GIB);
            t.add("free", "storage", &at, (a.gb - a.allocated_gb) * GIB);
        }
        // The host detail API (document 000): 2 sockets of vcpus / 4 cores, 2 threads each.
        for h in &self.hosts {
            let cluster = format!("{}-{}", h.region, h.model);
            let at = [("region", h.region.as_str()), ("cluster", cluster.as_str())];
            t.add("capacity", "cpu_cores", &at, (h.vcpus / 4 * 2) as f64);
            t.add("capacity", "cpu_threads", &at, (h.vcpus / 4 * 4) as f64);
        }
        for ((region, az, flavor), free) in &self.ecs_free {
            t.platform_slots.push(super::Figure {
                family: "free_slots".into(),
                resource: "instances".into(),
                at: [
                    ("region", region.as_str()),
                    ("az", az.as_str()),
                    ("pool", "KVM_POD"),
                    ("flavor", flavor.as_str()),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                value: *free as f64,
            });
        }
        t
    }

    fn devices(&self, device_type: Option<&str>) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        if device_type.is_none_or(|t| t.eq_ignore_ascii_case("server")) {
            out.extend(self.hosts.iter().map(|h| {
                json!({"device_id": h.id, "name": h.name, "device_type": "server", "running_status": h.status, "model": format!("2288H V5 {}", h.model),
                       "management_ip": "192.0.2.10", "os": "EulerOS", "region": h.region})
            }));
        }
        if device_type.is_none_or(|t| t.eq_ignore_ascii_case("switch")) {
            out.extend(self.switches.iter().cloned());
        }
        out
    }

    fn host_metrics(&self, host_id: &str, now_ms: i64) -> Vec<Value> {
        let Some(h) = self.hosts.iter().find(|h| h.id == host_id) else {
            return Vec::new();
        };
        let rec = |item: &str, name: &str, data: &str, unit: &str, value: f64, ts: i64| {
            json!({"time_stamp": s(ts), "monitor_item": item, "region_id": h.region, "az_name": "", "metrics_name": name, "operator": "AVG",
                   "host_id": h.id, "az_id": h.az, "unit": unit, "region_name": "", "data_item": data, "value": s(value)})
        };
        vec![
            rec(
                "cpu",
                "CPU usage",
                "usage",
                "%",
                h.cpu_usage - 3.0,
                now_ms - 300_000,
            ),
            rec(
                "cpu",
                "CPU usage",
                "usage",
                "%",
                h.cpu_usage,
                now_ms - 60_000,
            ),
            rec(
                "memory",
                "Memory usage",
                "usage",
                "%",
                h.mem_usage,
                now_ms - 60_000,
            ),
            rec(
                "disk",
                "Disk usage",
                "usage",
                "%",
                h.disk_usage,
                now_ms - 60_000,
            ),
            rec(
                "nic",
                "Bytes received by a NIC",
                "bytes_in",
                "B/s",
                123456.0,
                now_ms - 60_000,
            ),
        ]
    }
}

/// Call counts the tests read through `/sim/stats`.
#[derive(Debug, Default)]
struct Counters {
    by_path: Mutex<BTreeMap<String, u64>>,
    throttled: AtomicU64,
    tokens_issued: AtomicU64,
    token_failures: AtomicU64,
    unauthorized: AtomicU64,
    /// When the last 429 was sent, and the shortest time any client waited after a 429 before
    /// its next call (shows whether `Retry-After` is honoured).
    last_429: Mutex<Option<Instant>>,
    min_gap_after_429_ms: Mutex<Option<u64>>,
}

impl super::SimControl for EsmSim {
    fn faults(&self) -> &FaultState {
        &self.faults
    }

    fn truth(&self) -> Truth {
        let pressure = self
            .pressure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.fleet.truth(self.grown(), pressure.as_ref())
    }

    fn tokens(&self) -> &super::TokenStore {
        &self.tokens
    }
}

/// A running ESM simulator's state.
pub struct EsmSim {
    cfg: Mutex<EsmSimConfig>,
    fleet: Fleet,
    tokens: TokenStore,
    capacity_window: SlidingWindow,
    metric_window: SlidingWindow,
    faults: FaultState,
    counters: Counters,
    pressure: Mutex<Option<Pressure>>,
    started: Instant,
}

/// The `/sim/pressure` control: serves one pool's physical vCPU and memory as allocated to
/// `allocated_ratio` of their totals (free shrinks to match), so alerting can be driven end to end
/// and brought back (`DELETE /sim/pressure`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pressure {
    /// Region of the pool; every region when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// The pool (`zone_type`), e.g. `KVM_POD`.
    pub pool: String,
    /// Allocated share of the total, 0 to 1.
    pub allocated_ratio: f64,
}

impl Pressure {
    fn presses(&self, g: &ComputeGroup) -> bool {
        g.zone == self.pool && self.region.as_deref().is_none_or(|r| g.region == r)
    }
}

/// An allocation moved by `f(total, allocated)`, kept within what is not reserved.
fn moved(
    total: f64,
    allocated: f64,
    reserved: f64,
    whole: bool,
    f: impl Fn(f64, f64) -> f64,
) -> f64 {
    let new = f(total, allocated).clamp(0.0, (total - reserved).max(0.0));
    if whole {
        new.round()
    } else {
        new
    }
}

impl ComputeGroup {
    /// (vCPUs, GB) allocated on a day whose allocation is `factor` of today's, after `grown`
    /// (a share of the total added per hour of running) and any pressure on the group.
    fn allocation(&self, factor: f64, grown: f64, pressure: Option<&Pressure>) -> (f64, f64) {
        let mut v = (self.allocated_vcpus * factor).round();
        let mut m = (self.allocated_gb * factor).round();
        if grown > 0.0 {
            v = moved(self.vcpus, v, self.reserved_vcpus, true, |t, a| {
                a + t * grown
            });
            m = moved(self.memory_gb, m, self.reserved_gb, false, |t, a| {
                a + t * grown
            });
        }
        if let Some(p) = pressure.filter(|p| p.presses(self)) {
            v = moved(self.vcpus, v, self.reserved_vcpus, true, |t, _| {
                t * p.allocated_ratio
            });
            m = moved(self.memory_gb, m, self.reserved_gb, false, |t, _| {
                t * p.allocated_ratio
            });
        }
        (v, m)
    }
}

impl EsmSim {
    pub fn new(cfg: EsmSimConfig) -> Arc<EsmSim> {
        let fleet = Fleet::generate(&cfg, SystemTime::now());
        Arc::new(EsmSim {
            capacity_window: SlidingWindow::new(cfg.capacity_limit_per_minute, cfg.capacity_window),
            metric_window: SlidingWindow::new(cfg.metric_limit_per_second, Duration::from_secs(1)),
            faults: FaultState::new(cfg.faults.clone(), cfg.seed ^ 0x5eed),
            fleet,
            tokens: TokenStore::default(),
            cfg: Mutex::new(cfg),
            counters: Counters::default(),
            pressure: Mutex::new(None),
            started: Instant::now(),
        })
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn cfg(&self) -> EsmSimConfig {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The share of each total allocated since start by `--growth-per-hour`.
    fn grown(&self) -> f64 {
        self.cfg().growth_per_hour * self.started.elapsed().as_secs_f64() / 3600.0
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v3/auth/tokens", post(token))
            .route("/sim/stats", get(stats))
            .merge(super::control_routes())
            .route("/sim/credentials", post(set_credentials))
            .route("/sim/pressure", post(set_pressure).delete(clear_pressure))
            .fallback(data)
            .with_state(Arc::clone(self))
    }
}

/// `POST /sim/pressure` with a JSON [`Pressure`].
async fn set_pressure(State(sim): State<Arc<EsmSim>>, Json(p): Json<Pressure>) -> Response {
    if !(0.0..=1.0).contains(&p.allocated_ratio) {
        return error(
            StatusCode::BAD_REQUEST,
            "SIM.0001",
            "allocated_ratio must be between 0 and 1",
        );
    }
    *sim.pressure.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /sim/pressure`: the pool is served as generated again.
async fn clear_pressure(State(sim): State<Arc<EsmSim>>) -> StatusCode {
    *sim.pressure.lock().unwrap_or_else(|e| e.into_inner()) = None;
    StatusCode::NO_CONTENT
}

fn error(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, Json(json!({"error_code": code, "error_msg": msg}))).into_response()
}

async fn token(State(sim): State<Arc<EsmSim>>, body: Bytes) -> Response {
    let cfg = sim.cfg();
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "IAM.0001",
            "The format of message is error",
        );
    };
    let user = &v["auth"]["identity"]["password"]["user"];
    let ok = v["auth"]["identity"]["methods"][0] == "password"
        && user["name"] == cfg.username.as_str()
        && user["password"] == cfg.password.as_str()
        && user["domain"]["name"] == cfg.domain.as_str()
        && v["auth"]["scope"]["project"]["name"] == cfg.project.as_str();
    if !ok {
        sim.counters.token_failures.fetch_add(1, Ordering::Relaxed);
        return error(
            StatusCode::UNAUTHORIZED,
            "IAM.0002",
            "The username or password is wrong.",
        );
    }
    let value = format!("MIIsim{:016x}", sim.faults.random() as u64);
    sim.tokens.issue(value.clone(), cfg.token_ttl);
    sim.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let expires = humantime::format_rfc3339_micros(SystemTime::now() + cfg.token_ttl).to_string();
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({"token": {"expires_at": expires, "methods": ["password"]}})),
    )
        .into_response();
    if let Ok(h) = value.parse() {
        resp.headers_mut().insert("x-subject-token", h);
    }
    resp
}

async fn stats(State(sim): State<Arc<EsmSim>>) -> Json<Value> {
    let by_path = sim
        .counters
        .by_path
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Json(json!({
        "calls": by_path,
        "capacity_calls": by_path.iter().filter(|(p, _)| is_capacity_path(p)).map(|(_, n)| n).sum::<u64>(),
        "throttled": sim.counters.throttled.load(Ordering::Relaxed),
        "tokens_issued": sim.counters.tokens_issued.load(Ordering::Relaxed),
        "token_failures": sim.counters.token_failures.load(Ordering::Relaxed),
        "unauthorized": sim.counters.unauthorized.load(Ordering::Relaxed),
        "capacity_max_in_window": sim.capacity_window.max_in_window(),
        "min_gap_after_429_ms": *sim.counters.min_gap_after_429_ms.lock().unwrap_or_else(|e| e.into_inner()),
        "capacity_limit_per_minute": sim.cfg().capacity_limit_per_minute,
    }))
}

async fn set_credentials(State(sim): State<Arc<EsmSim>>, Json(v): Json<Value>) -> Response {
    if let Some(p) = v.get("password").and_then(Value::as_str) {
        sim.cfg.lock().unwrap_or_else(|e| e.into_inner()).password = p.to_string();
    }
    StatusCode::NO_CONTENT.into_response()
}

fn is_capacity_path(path: &str) -> bool {
    [
        "/host-physical/capacity",
        "/CloudService/capacity",
        "/DeviceAsset/info",
        "/CloudServiceAlarm/info",
        "/DeviceAlarm/info",
        "/cloudAuditlog",
    ]
    .iter()
    .any(|p| path.ends_with(p))
}

fn param<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str)
}

/// Every data path: headers, limits, parameters, faults, then the page.
async fn data(
    State(sim): State<Arc<EsmSim>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_string();
    let cfg = sim.cfg();
    const PREFIX: &str = "/rest/dataapi/homs/open-api/";
    let Some(api) = path.strip_prefix(PREFIX) else {
        return error(
            StatusCode::NOT_FOUND,
            "APIGW.0101",
            "The API does not exist or has not been published in the environment.",
        );
    };
    let known = [
        "v1/host-physical/capacity",
        "v1/CloudService/capacity",
        "v1/DeviceAsset/info",
        "v1/CloudServiceAlarm/info",
        "v1/DeviceAlarm/info",
        "v1/host/metricdata",
        "v1/network/capacity/elbv3",
        "v1/host/detail",
    ];
    let tenant_type = api.strip_prefix("v2/cloudresource/instancedata/");
    if !known.contains(&api) && tenant_type.is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "APIGW.0101",
            "The REST API was not found.",
        );
    }
    // AppCodes: both headers, matched case-insensitively by the HTTP layer.
    let code = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("");
    if code("x-apig-appcode") != cfg.appcode || code("x-hcso-appcode") != cfg.appcode {
        return error(
            StatusCode::FORBIDDEN,
            "APIGW.0106",
            "Authentication failed.",
        );
    }
    if let Some(domain) = &cfg.require_domain_id {
        if code("x-hcso-domainid") != domain {
            return error(
                StatusCode::FORBIDDEN,
                "APIGW.0106",
                "Authentication failed: x-hcso-domainid.",
            );
        }
    }
    let token = code("x-auth-token");
    let valid = sim.tokens.valid(token);
    if !valid {
        sim.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        return error(
            StatusCode::UNAUTHORIZED,
            "APIGW.0301",
            "Token authentication failed.",
        );
    }
    if let Some(t) = sim
        .counters
        .last_429
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        let gap = t.elapsed().as_millis() as u64;
        let mut min = sim
            .counters
            .min_gap_after_429_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *min = Some(min.map_or(gap, |m| m.min(gap)));
    }
    let throttle = |sim: &EsmSim| {
        sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
        *sim.counters
            .last_429
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "APIGW.0308",
            "The throttling threshold has been reached.",
        );
        r.headers_mut().insert(
            "retry-after",
            axum::http::HeaderValue::from(cfg.retry_after_secs),
        );
        r
    };
    let capacity = is_capacity_path(&path);
    let window = if capacity {
        &sim.capacity_window
    } else {
        &sim.metric_window
    };
    if !window.admit() {
        return throttle(&sim);
    }
    *sim.counters
        .by_path
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_insert(0) += 1;

    // Mandatory parameters (Tier-2 APIs require paging; all but devices require the window).
    let needs_window = !api.ends_with("DeviceAsset/info") && !api.ends_with("elbv3");
    let mut missing = Vec::new();
    for p in ["page_size", "offset_value"] {
        if capacity && param(&q, p).is_none() {
            missing.push(p);
        }
    }
    for p in ["begin_time", "end_time"] {
        if needs_window && param(&q, p).and_then(|v| v.parse::<i64>().ok()).is_none() {
            missing.push(p);
        }
    }
    if api == "v1/host/metricdata" && param(&q, "host_id").is_none() {
        missing.push("host_id");
    }
    if !missing.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "AS.0001",
            &format!("Parameter error: {} required.", missing.join(", ")),
        );
    }
    let page_size: usize = param(&q, "page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    if !(1..=1000).contains(&page_size) {
        return error(
            StatusCode::BAD_REQUEST,
            "AS.0001",
            "Parameter error: page_size must be 1-1000.",
        );
    }
    let offset_raw: usize = param(&q, "offset_value")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let offset = match cfg.offset_pages_from {
        Some(first) => offset_raw.saturating_sub(first) * page_size,
        None => offset_raw,
    };

    let fault = sim.faults.next().await;
    match fault {
        Fault::Error => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ESM.5000",
                "Internal application error. ServiceException is reported by default.",
            )
        }
        Fault::Throttle => return throttle(&sim),
        _ => {}
    }

    let f = &sim.fleet;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let in_window = |v: &Value| -> bool {
        let ts = v
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<i64>().ok());
        let (b, e) = (
            param(&q, "begin_time").and_then(|v| v.parse::<i64>().ok()),
            param(&q, "end_time").and_then(|v| v.parse::<i64>().ok()),
        );
        match (ts, b, e) {
            (Some(t), Some(b), Some(e)) => t >= b && t <= e,
            _ => true,
        }
    };
    let rows: Vec<Value> = match api {
        "v1/host-physical/capacity" => {
            let dt = param(&q, "device_type").unwrap_or("");
            let mut all = Vec::new();
            if dt.is_empty() || dt.eq_ignore_ascii_case("ECS") {
                let pressure = sim
                    .pressure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                all.extend(f.physical_compute_rows(sim.grown(), pressure.as_ref()));
            }
            if dt.is_empty() || dt.eq_ignore_ascii_case("EVS") {
                all.extend(f.physical_storage_rows());
            }
            all.into_iter().filter(|v| in_window(v)).collect()
        }
        "v1/CloudService/capacity" => {
            let st = param(&q, "service_type").unwrap_or("");
            let key = match st {
                s if s.eq_ignore_ascii_case("DCC") || s.eq_ignore_ascii_case("DCC_GENERATE") => {
                    if !s.eq_ignore_ascii_case(cfg.dcc_query_value) {
                        return error(StatusCode::BAD_REQUEST, "AS.0001", "Parameter error: unknown service_type.");
                    }
                    "DCC"
                }
                s => s,
            };
            if key.eq_ignore_ascii_case("EVS") {
                f.evs_rows().into_iter().filter(|v| in_window(v)).collect()
            } else { match f.services.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                Some((_, rows)) => rows.iter().filter(|v| in_window(v)).cloned().collect(),
                None if st.is_empty() => f.services.values().flatten().cloned().collect(),
                None => return error(StatusCode::BAD_REQUEST, "AS.0001", "Parameter error: unknown service_type."),
            } }
        }
        "v1/DeviceAsset/info" => f.devices(param(&q, "device_type")),
        "v1/CloudServiceAlarm/info" | "v1/DeviceAlarm/info" => {
            let src = if api.starts_with("v1/Cloud") { &f.cloud_alarms } else { &f.hardware_alarms };
            let cleared = param(&q, "cleared");
            src.iter().filter(|a| cleared.is_none_or(|c| a["cleared"] == c)).cloned().collect()
        }
        "v1/host/metricdata" => f.host_metrics(param(&q, "host_id").unwrap_or(""), now_ms),
        "v1/network/capacity/elbv3" => f
            .hosts
            .iter()
            .map(|h| h.region.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|r| json!({"region_id": r, "type": "ELBv3", "cluster_code": format!("elbv3-{r}-01"), "lb_count": "164", "lb_capacity": "8000",
                "l4_listener_count": "319", "l4_listener_capacity": "10000", "l7_listener_count": "82", "l7_listener_capacity": "5000",
                "l4_member_count": "", "l4_member_capacity": "30000", "l7_member_count": "182", "l7_member_capacity": "20000", "time_stamp": s(now_ms)}))
            .collect(),
        "v1/host/detail" => f
            .hosts
            .iter()
            .map(|h| {
                let cpu = json!([{"cores": (h.vcpus / 4).to_string(), "threads": "2", "sockets": "2", "model": "Intel(R) Xeon(R) Gold 6161"}]).to_string();
                let mem = json!((0..h.memory_gb / 32).map(|_| json!({"size": "32 GB", "type": "DDR4"})).collect::<Vec<_>>()).to_string();
                json!({"REGION_ID": h.region, "HOST_ID": h.id, "HOST_NAME": h.name, "CPU": cpu, "MEMORY": mem,
                       "DISK": "[{\"disk\":\"/dev/sda:599.0GB\"},{\"disk\":\"/dev/sdb:1598.0GB\"}]", "AZ_CODE": h.az, "POD_CODE": h.zone_type, "CLUSTER_NAME": format!("{}-{}", h.region, h.model)})
            })
            .collect(),
        _ => f.tenant_resources.get(tenant_type.unwrap_or("")).cloned().unwrap_or_default(),
    };
    let total = rows.len();
    let page: Vec<Value> = rows.into_iter().skip(offset).take(page_size).collect();
    let body = json!({"total": total, "list": page}).to_string();
    let body = fault.mangle(body.into_bytes());
    ([("content-type", "application/json;charset=UTF8")], body).into_response()
}
