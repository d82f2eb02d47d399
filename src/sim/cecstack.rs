//! The CECSTACK simulator: the `/api/ecs/v1` paths with the `{requestId, code, message, data}`
//! envelope, `x-regionid` required (missing or wrong: `ECS.InvalidParameter`), the paging
//! schemes of the document (`pageSize`/`pageNumber`, `size`/`current`), credentials as a static
//! header or a Keystone-style token, a seeded fleet consistent across APIs (region capacity and
//! VM counts agree with the instances, GPUs in use with the GPU instances), the corrected vendor
//! examples as a data set, and fault switches.
//!
//! Control endpoints (not part of CECSTACK): `GET /sim/stats`, `POST /sim/faults`,
//! `POST /sim/expire-tokens`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Fault, FaultState, Faults, TokenStore, Truth};

/// Which data the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    Fleet,
    /// The corrected vendor examples (`tests/fixtures/cecstack/`).
    Examples,
}

#[derive(Clone, Debug)]
pub struct CecSimConfig {
    pub seed: u64,
    pub dataset: Dataset,
    pub pools: usize,
    pub hosts: usize,
    pub instances: usize,
    pub region_id: String,
    /// Accepted as `Authorization: Bearer <token>`.
    pub static_token: String,
    pub username: String,
    pub password: String,
    pub token_ttl: Duration,
    pub faults: Faults,
}

impl Default for CecSimConfig {
    fn default() -> Self {
        CecSimConfig {
            seed: 5,
            dataset: Dataset::Fleet,
            pools: 2,
            hosts: 8,
            instances: 80,
            region_id: "region0".into(),
            static_token: "demo-cec-token".into(),
            username: "admin".into(),
            password: "demo-password".into(),
            token_ttl: Duration::from_secs(3600),
            faults: Faults::default(),
        }
    }
}

/// Everything the simulator serves, as the `data` (or the list items) of each path.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub capacity: Value,
    pub vmcount: Value,
    pub global_cpu: Value,
    pub resource_pools: Vec<Value>,
    pub pool_hosts: Vec<Value>,
    /// `resource-pool/host-list` per `az`.
    pub host_list: BTreeMap<String, Vec<Value>>,
    pub nodes: Vec<Value>,
    pub unused_disks: Vec<Value>,
    pub flavor_types: Vec<Value>,
    pub instances: Vec<Value>,
    /// SSH key pairs: the one list paged by `pageIndex`/`pageSize` (scheme C).
    pub ssh_keys: Vec<Value>,
    /// What the fleet holds (empty for the vendor examples).
    pub truth: Truth,
}

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/cecstack/", $name, ".json"))
    };
}

const HOST_CORES: u64 = 64;
const TENANTS: [&str; 3] = ["finance", "retail", "research"];
const HOST_RAM_GIB: u64 = 256;

impl Fleet {
    /// The synthetic region: pools of hosts (64 cores, 256 GiB, four local disks, two GPUs on
    /// every fourth host), instances on them. The region capacity is served in the reading
    /// headroom takes of the undocumented `allocatable` (vCPUs that may be allocated, after each
    /// pool's overcommit; usage the instances' vCPUs). The truth is summed from the same hosts
    /// and instances as they are made.
    pub fn generate(cfg: &CecSimConfig) -> Fleet {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let mut f = Fleet::default();
        let mut truth = Truth::default();
        const GIB: f64 = 1_073_741_824.0;
        let pools = cfg.pools.max(1);
        // (cell, host, pool name, AZ, gpu)
        let mut hosts: Vec<(String, String, String, String, bool)> = Vec::new();
        let mut vcpu_allocatable = 0u64;
        for p in 0..pools {
            let az = format!("AZ{p}");
            let rp_id = format!("rp-{:014x}", rng.u64(..1 << 56));
            let name = format!("pool-{}", p + 1);
            let cell = format!("cell{}", p + 1);
            let ratio = 2 + p as u64;
            let in_pool: Vec<usize> = (0..cfg.hosts).filter(|i| i % pools == p).collect();
            f.resource_pools.push(json!({"rpId": rp_id, "name": name, "az": az, "hostCnt": in_pool.len(), "ftCnt": 2, "cpuAllocationRatio": ratio,
                "createTime": "2024-07-13T11:25:07.525+08:00", "updateTime": "2024-07-13T11:25:07.525+08:00"}));
            for i in in_pool {
                let host = format!("compute-{}", i + 1);
                let gpu = i % 4 == 3;
                f.pool_hosts.push(json!({"name": host, "innerIp": format!("10.{p}.0.{}", i + 1), "archType": "amd64", "rpId": rp_id, "rpName": name, "cell": cell,
                    "addRpTime": "2024-07-13T14:42:50.749+08:00"}));
                hosts.push((cell.clone(), host, name.clone(), az.clone(), gpu));
                vcpu_allocatable += HOST_CORES * ratio;
            }
        }
        f.global_cpu = json!({"globalCpuOR": 4, "azCpuConfigs": (0..pools).map(|p| json!({"az": format!("AZ{p}"), "azCpuOR": 2 + p})).collect::<Vec<_>>()});
        f.flavor_types = vec![
            json!({"flavorTypeId": "flavortype-normal", "SpecCode": "ecs.spec.n", "name": "general", "archType": "x86", "az": "", "deviceType": "normal", "cpuOverscalingRatio": 0, "flavorCount": 3}),
            json!({"flavorTypeId": "flavortype-gpu", "SpecCode": "ecs.spec.g", "name": "gpu-t4", "archType": "x86", "az": "", "deviceType": "gpu", "GPUType": "10de1eb8", "cpuOverscalingRatio": 1, "flavorCount": 1}),
        ];
        // (name, vCPUs, GiB, GPUs)
        let flavors = [
            ("s1.small", 1u64, 2u64, 0u64),
            ("s2.medium", 2, 4, 0),
            ("s4.large", 4, 16, 0),
            ("g8.t4", 8, 32, 1),
        ];
        let mut gpu_used: HashMap<String, u64> = HashMap::new();
        let (mut running, mut stopped, mut error) = (0u64, 0u64, 0u64);
        let (mut vcpu_req, mut ram_used) = (0u64, 0u64);
        let region = cfg.region_id.as_str();
        for n in 0..cfg.instances {
            if hosts.is_empty() {
                break;
            }
            let (cell, host, pool, az, gpu_host) = hosts[n % hosts.len()].clone();
            let fl = if gpu_host && gpu_used.get(&host).copied().unwrap_or(0) < 2 {
                3
            } else {
                n % 3
            };
            let (fname, vcpus, gib, gpus) = flavors[fl];
            if gpus > 0 {
                *gpu_used.entry(host.clone()).or_insert(0) += gpus;
            }
            let status = match n % 17 {
                0 => "Stopped",
                5 => "errorUnschedulable",
                11 => "softDeleted",
                _ => "Running",
            };
            match status {
                "Running" => running += 1,
                "Stopped" => stopped += 1,
                "softDeleted" => {}
                _ => error += 1,
            }
            let volume_gib = 40 + 20 * (n % 3) as u64;
            if status != "softDeleted" {
                vcpu_req += vcpus;
                ram_used += gib;
                let at = [("az", az.as_str()), ("pool", pool.as_str())];
                truth.add("allocated", "instances", &at, 1.0);
                truth.add("allocated", "gpu", &at, gpus as f64);
                truth.add("allocated", "storage", &at, volume_gib as f64 * GIB);
                truth.add("allocated", "vcpu", &[("region", region)], vcpus as f64);
                truth.add(
                    "allocated",
                    "memory",
                    &[("region", region)],
                    gib as f64 * GIB,
                );
            }
            f.instances.push(json!({
                "ecsId": format!("ecs-{:014x}", rng.u64(..1 << 56)), "displayName": format!("vm-{n:05}"), "vCpus": vcpus,
                // Bytes, as every example sends it (the table says GiB).
                "ram": gib * 1_073_741_824, "status": status, "nodeName": host, "az": az, "cell": cell, "rpName": pool,
                "tenantId": format!("{}", 1_000 + n % 3), "tenantName": TENANTS[n % 3], "flavorId": format!("flavor-{fl}"),
                "flavorInfo": {"flavorId": format!("flavor-{fl}"), "name": fname, "cpu": vcpus, "ram": gib, "gpu": gpus,
                    "flavorType": {"deviceType": if gpus > 0 { "gpu" } else { "normal" }}},
                "blockDeviceMappings": [{"volumeUuid": format!("volume-{n}"), "volumeSize": volume_gib, "volumeType": "ssd"}],
                "vgpus": [], "hostGPUs": []
            }));
        }
        // A GPU host in no resource pool (taken out, or not yet assigned): only
        // `resource-pool/host-list?az=` says which AZ it is in. It holds no instances.
        let spare_az = format!("AZ{}", pools - 1);
        hosts.push((
            "cell1".into(),
            "compute-spare-1".into(),
            String::new(),
            spare_az,
            true,
        ));
        for (cell, host, pool, az, gpu) in &hosts {
            let cards = if *gpu { 2 } else { 0 };
            let used = gpu_used.get(host).copied().unwrap_or(0);
            // A host in no pool: pool "" (no `pool` label).
            let at = [("az", az.as_str()), ("pool", pool.as_str())];
            if cards > 0 {
                let model = [at[0], at[1], ("gpu_model", "NVIDIA Tesla T4")];
                truth.add("capacity", "gpu", &model, cards as f64);
                truth.add("used", "gpu", &model, used.min(cards) as f64);
                truth.add("free", "gpu", &model, cards.saturating_sub(used) as f64);
            }
            truth.add("capacity", "local_disk", &at, 4.0 * 1_200_243_695_616.0);
            truth.add("free", "local_disk", &at, 1_200_243_695_616.0);
            truth.add("capacity", "local_disk_devices", &at, 4.0);
            truth.add("free", "local_disk_devices", &at, 1.0);
            let gpus: Vec<Value> = (0..cards).map(|c| json!({"gpuType": "10de1eb8", "product": "NVIDIA Tesla T4", "mode": "passthrough", "vgpuDisplayName": "", "inUse": c < used})).collect();
            f.nodes.push(json!({"cell": cell, "name": host, "hostIp": format!("10.9.0.{}", f.nodes.len() + 1), "hostSlot": host, "arch": "amd64", "isGPUNode": *gpu,
                "gpuInfo": {"gpuType": if *gpu { "10de1eb8" } else { "" }, "product": if *gpu { "NVIDIA Tesla T4" } else { "" }, "mode": if *gpu { "passthrough" } else { "" }, "vgpuDisplayName": "",
                    "gpus": if *gpu { json!(gpus) } else { Value::Null }},
                "hardDiskList": [{"az": "AZ0", "cell": cell, "nodeName": host, "localDiskType": "HDD", "localDiskInterface": "SATA", "diskSize": 1_200_243_695_616u64, "diskNum": 4,
                    "orderKey": format!("{host}_HDD_SATA_1200243695616")}]}));
            f.host_list.entry(az.clone()).or_default().push(json!({"cell": cell, "name": host, "hostIp": format!("10.9.0.{}", f.nodes.len()), "arch": "amd64", "isGPUNode": *gpu,
                "gpuInfo": {"gpuType": if *gpu { "10de1eb8" } else { "" }, "product": if *gpu { "NVIDIA Tesla T4" } else { "" }, "mode": if *gpu { "passthrough" } else { "" }, "vgpuDisplayName": "", "gpus": Value::Null}}));
            f.unused_disks.push(json!({"az": "AZ0", "cell": cell, "nodeName": host, "localDiskType": "HDD", "localDiskInterface": "SATA", "diskSize": 1_200_243_695_616u64, "diskNum": 1}));
        }
        // The spare host is outside every pool: no part of what the region may allocate.
        let ram = (hosts.len() as u64 - 1) * HOST_RAM_GIB;
        // allocatable − usage = remain, as it should be.
        f.capacity = json!({"cpu": {"allocatable": vcpu_allocatable, "usage": vcpu_req, "remain": vcpu_allocatable.saturating_sub(vcpu_req), "unit": "核"},
                            "ram": {"allocatable": ram, "usage": ram_used, "remain": ram.saturating_sub(ram_used), "unit": "Gi"}});
        let at = [("region", region)];
        truth.add("allocatable", "vcpu", &at, vcpu_allocatable as f64);
        truth.add("used", "vcpu", &at, vcpu_req as f64);
        truth.add(
            "free",
            "vcpu",
            &at,
            vcpu_allocatable.saturating_sub(vcpu_req) as f64,
        );
        truth.add("allocatable", "memory", &at, ram as f64 * GIB);
        truth.add("used", "memory", &at, ram_used as f64 * GIB);
        truth.add(
            "free",
            "memory",
            &at,
            ram.saturating_sub(ram_used) as f64 * GIB,
        );
        f.truth = truth;
        f.ssh_keys = (0..23)
            .map(|k| json!({"keyPairId": format!("key-{k:04}"), "name": format!("key-{k}")}))
            .collect();
        f.vmcount = json!({"totalCount": running + stopped + error, "runningCount": running, "stoppedCount": stopped, "errorCount": error, "otherCount": 0});
        f
    }

    pub fn examples() -> Fleet {
        let data = |text: &str| {
            serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|mut v| v.get_mut("data").map(Value::take))
                .unwrap_or(Value::Null)
        };
        let items = |text: &str, key: &str| {
            data(text)
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        Fleet {
            capacity: data(fixture!("capacity")),
            vmcount: data(fixture!("vmcount")),
            global_cpu: data(fixture!("global_cpu")),
            resource_pools: items(fixture!("resource_pools"), "resourcePools"),
            pool_hosts: items(fixture!("pool_hosts"), "rpHosts"),
            // The document's example request asks `?az=zone1`.
            host_list: BTreeMap::from([(
                "zone1".to_string(),
                items(fixture!("host_list"), "list"),
            )]),
            nodes: items(fixture!("nodes"), "list")
                .into_iter()
                .chain(items(fixture!("host_list"), "list"))
                .collect(),
            unused_disks: data(fixture!("unused_disks"))
                .as_array()
                .cloned()
                .unwrap_or_default(),
            flavor_types: items(fixture!("flavortypes"), "flavorTypes"),
            instances: items(fixture!("instances"), "virtualMachines"),
            ssh_keys: Vec::new(),
            truth: Truth::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    by_path: Mutex<BTreeMap<String, u64>>,
    missing_region: AtomicU64,
    auth_failures: AtomicU64,
    tokens_issued: AtomicU64,
}

pub struct CecSim {
    cfg: CecSimConfig,
    fleet: Fleet,
    tokens: TokenStore,
    faults: FaultState,
    counters: Counters,
}

impl super::SimControl for CecSim {
    fn faults(&self) -> &FaultState {
        &self.faults
    }

    fn truth(&self) -> Truth {
        self.fleet.truth.clone()
    }

    fn tokens(&self) -> &TokenStore {
        &self.tokens
    }
}

impl CecSim {
    pub fn new(cfg: CecSimConfig) -> Arc<CecSim> {
        let fleet = match cfg.dataset {
            Dataset::Fleet => Fleet::generate(&cfg),
            Dataset::Examples => Fleet::examples(),
        };
        Arc::new(CecSim {
            faults: FaultState::new(cfg.faults.clone(), cfg.seed ^ 0xcec),
            fleet,
            tokens: TokenStore::default(),
            cfg,
            counters: Counters::default(),
        })
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/v3/auth/tokens", post(token))
            .route("/sim/stats", get(stats))
            .merge(super::control_routes())
            .fallback(api)
            .with_state(Arc::clone(self))
    }
}

fn envelope(status: StatusCode, code: &str, message: &str, data: Value) -> Response {
    let id = format!("{:032x}", fastrand::u128(..));
    (
        status,
        Json(json!({"requestId": id, "code": code, "message": message, "data": data})),
    )
        .into_response()
}

async fn token(State(sim): State<Arc<CecSim>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let user = &v["auth"]["identity"]["password"]["user"];
    if user["name"] != sim.cfg.username.as_str() || user["password"] != sim.cfg.password.as_str() {
        sim.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "message": "The request you have made requires authentication."}}))).into_response();
    }
    let id = format!("cectok{:024x}", sim.faults.random() >> 32);
    sim.tokens.issue(id.clone(), sim.cfg.token_ttl);
    sim.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let expires =
        humantime::format_rfc3339_micros(SystemTime::now() + sim.cfg.token_ttl).to_string();
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({"token": {"expires_at": expires}})),
    )
        .into_response();
    if let Ok(h) = id.parse() {
        resp.headers_mut().insert("x-subject-token", h);
    }
    resp
}

async fn stats(State(sim): State<Arc<CecSim>>) -> Json<Value> {
    let c = &sim.counters;
    Json(json!({
        "calls": *c.by_path.lock().unwrap_or_else(|e| e.into_inner()),
        "missing_region": c.missing_region.load(Ordering::Relaxed),
        "auth_failures": c.auth_failures.load(Ordering::Relaxed),
        "tokens_issued": c.tokens_issued.load(Ordering::Relaxed),
    }))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A page of `items`: `pageSize`/`pageNumber` (1-based; 0 is the first page too).
fn page_a(items: &[Value], key: &str, q: &HashMap<String, String>) -> Value {
    let size: usize = q
        .get("pageSize")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let number: usize = q
        .get("pageNumber")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunk: Vec<&Value> = items.iter().skip((number - 1) * size).take(size).collect();
    json!({key: chunk, "totalCount": items.len()})
}

/// A page of `items`: `pageIndex` (1-based) / `pageSize`, both mandatory (scheme C).
fn page_c(items: &[Value], key: &str, q: &HashMap<String, String>) -> Option<Value> {
    let size: usize = q.get("pageSize")?.parse().ok()?;
    let index: usize = q.get("pageIndex")?.parse().ok()?;
    let chunk: Vec<&Value> = items
        .iter()
        .skip(index.max(1).saturating_sub(1) * size.max(1))
        .take(size.max(1))
        .collect();
    Some(json!({key: chunk, "count": items.len()}))
}

/// A page of `items`: `size`/`current` (1-based), the `nodes` shape.
fn page_b(items: &[Value], q: &HashMap<String, String>) -> Value {
    let size: usize = q
        .get("size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .max(1);
    let current: usize = q
        .get("current")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let chunk: Vec<&Value> = items.iter().skip((current - 1) * size).take(size).collect();
    json!({"size": size, "current": current, "total": items.len(), "list": chunk})
}

async fn api(
    State(sim): State<Arc<CecSim>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let path = uri.path().to_string();
    *sim.counters
        .by_path
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_insert(0) += 1;
    let bearer = header(&headers, "authorization")
        .strip_prefix("Bearer ")
        .is_some_and(|t| t == sim.cfg.static_token);
    let token = sim.tokens.valid(header(&headers, "x-auth-token"));
    if !bearer && !token {
        sim.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return envelope(
            StatusCode::BAD_REQUEST,
            "ECS.OperationDenied.AuthFail",
            "鉴权入参异常，请检查参数",
            Value::Null,
        );
    }
    if header(&headers, "x-regionid") != sim.cfg.region_id {
        sim.counters.missing_region.fetch_add(1, Ordering::Relaxed);
        return envelope(
            StatusCode::BAD_REQUEST,
            "ECS.InvalidParameter",
            "参数错误: x-regionid",
            Value::Null,
        );
    }
    let fault = sim.faults.next().await;
    match fault {
        Fault::Error => {
            return envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ECS.OperationFailed.GetAllNode",
                "获取节点信息失败",
                Value::Null,
            )
        }
        Fault::Throttle => {
            return envelope(
                StatusCode::TOO_MANY_REQUESTS,
                "Throttled",
                "Too Many Requests",
                Value::Null,
            )
        }
        _ => {}
    }
    let f = &sim.fleet;
    let data = match path.strip_prefix("/api/ecs/v1").unwrap_or("") {
        "/monitor/capacity" => f.capacity.clone(),
        "/monitor/vmcount" => f.vmcount.clone(),
        "/global-config/cpu" => f.global_cpu.clone(),
        "/resource-pools" => page_a(&f.resource_pools, "resourcePools", &q),
        "/resource-pool/hosts" => page_a(&f.pool_hosts, "rpHosts", &q),
        "/nodes" => page_b(&f.nodes, &q),
        "/resource-pool/host-list" => {
            let az = q.get("az").map(String::as_str).unwrap_or("");
            let all: Vec<Value> = match az {
                "" => f.host_list.values().flatten().cloned().collect(),
                az => f.host_list.get(az).cloned().unwrap_or_default(),
            };
            page_b(&all, &q)
        }
        "/harddisks/nouse-list" => json!(f.unused_disks),
        "/flavortypes" => {
            // Both paging parameters are mandatory here (spec §2.12).
            if !q.contains_key("pageSize") || !q.contains_key("pageNumber") {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "ECS.InvalidParameter",
                    "参数错误: pageSize, pageNumber",
                    Value::Null,
                );
            }
            page_a(&f.flavor_types, "flavorTypes", &q)
        }
        "/instances" => page_a(&f.instances, "virtualMachines", &q),
        "/ssh-key" => match page_c(&f.ssh_keys, "SSHKeys", &q) {
            Some(v) => v,
            None => {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "ECS.InvalidParameter",
                    "参数错误: pageIndex, pageSize",
                    Value::Null,
                )
            }
        },
        _ => {
            return envelope(
                StatusCode::BAD_REQUEST,
                "ECS.InvalidParameter",
                "参数错误",
                Value::Null,
            )
        }
    };
    let body = json!({"requestId": format!("{:032x}", fastrand::u128(..)), "code": "Success", "message": "调用成功", "data": data}).to_string();
    (
        [("content-type", "application/json")],
        fault.mangle(body.into_bytes()),
    )
        .into_response()
}
