//! The Sangfor SCP simulator: the janus API over HTTPS with both auth methods (AK/SK signatures
//! checked by recomputing them; RSA password login issuing tokens), the `{code, message, data}`
//! envelope and list paging, API versions up to a configurable newest one, the per-client-IP
//! limits with the one-minute ban, a seeded fleet whose numbers agree across APIs (or the vendor
//! document's examples as the data set), and fault switches.
//!
//! Control endpoints (not part of SCP): `GET /sim/stats`, `POST /sim/faults` (a JSON [`Faults`]),
//! `POST /sim/expire-tokens`, `POST /sim/credentials` (`{"password": ..., "secret_key": ...}`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::scp_auth;
use super::{Fault, FaultState, Faults, SlidingWindow, TokenStore, Truth};

/// The simulator's RSA-2048 test key (made for the simulator only; protects nothing).
pub const RSA_MODULUS_HEX: &str = "AA71BB1F8E12CA4963DCCA6629E549C728B8D61DF983D22EBF5A7C2730A399A6426203CA7B7DFD8FA8D2DFE449061AB1C3D2E58DCE5B1E564674616175546D2EDF5E3B5303B144737A72602899257775CF6D371C7F1C86327184848CA795EAB4AAE39A20E517CA2B7C4957EF6F8EEBAC71D4940286C5AD5F6593D7C83441DE70432219B282BFE463E7B6B75C3F19EB57D2E39A4881BB7FFD2E0FA9CF4B9992D0A271FB65C89B589F15BE3DE420A2266110B0E8067E483E5442D3560698CFF5027E4269E4281724C0C7129F57BA86F1D98EF20B4411A03178D810E2CBE80369B7FD8A574996375DD1C67F43EBEB527A9B8E82BEDF84FE362779BCB2DE1476D08D";
/// The private exponent of [`RSA_MODULUS_HEX`].
pub const RSA_PRIVATE_EXPONENT_HEX: &str = "c72a8ebc98bc92a105f5022d690a9d16cdb3bbc00e2f2cda09c35a404464346244a627117c4604fd383e24c4deefc184e7c02a470eeca101b2e25b9544dd3465093aeecdf40a9eca18397e86f22dd421f1453c3291f6047a308f1ae76dd98f3acb226766928058724e5e05e1abd57df8655e73a8f9b67a98dd27d052d64a685f2c91d69eef7897f4e6a716a2f807fb313312e7fa19d34299da26bfa31a783704a631e61f5c5c00027f504ecb74af3790585279660cf31a0da48d4f8a280b2ba8119124eccd8631a2392ae700e58f21873e9a845379eb9acd72a55efd0f3df0c789ec01932610bfc1217e59d1d5f7725f6779e684ce684e7d079fd5b752940ab";

/// Every janus API version the document uses, oldest first.
pub const VERSIONS: &[&str] = &["20180725", "20190725", "20200725", "20210725", "20220725"];

/// Which data the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// A seeded synthetic fleet, consistent across APIs.
    Fleet,
    /// The vendor document's example responses (`tests/fixtures/sangfor_scp/`).
    Examples,
}

/// Credentials, limits and size of the simulated platform.
#[derive(Clone, Debug)]
pub struct ScpSimConfig {
    pub seed: u64,
    pub dataset: Dataset,
    pub pools: usize,
    pub hosts: usize,
    pub vms: usize,
    pub access_key: String,
    pub secret_key: String,
    pub username: String,
    pub password: String,
    pub token_ttl: Duration,
    /// Newest janus API version served; newer paths answer 404 (an older SCP).
    pub max_version: &'static str,
    /// Per client IP: GETs, and other methods, per `window` (documented: 600 and 100 per minute).
    pub get_limit: usize,
    pub write_limit: usize,
    /// `/janus/public-key` per client IP per `window` (documented: 60); above it, 403.
    pub public_key_limit: usize,
    pub window: Duration,
    /// How long a client IP is banned after exceeding a limit ("about 1 minute").
    pub ban: Duration,
    /// Require the `aCMPAuthToken` cookie on every call (SCP older than 6.3.70).
    pub require_cookie: bool,
    /// The EIP pool list path served: `floatingipools` (the table) or `floatingippools`.
    pub eip_pool_list_path: &'static str,
    /// The one tenant login of the OpenStack API (Keystone v2): tenant, user, password.
    pub openstack_tenant: (String, String, String),
    pub faults: Faults,
}

impl Default for ScpSimConfig {
    fn default() -> Self {
        ScpSimConfig {
            seed: 7,
            dataset: Dataset::Fleet,
            pools: 2,
            hosts: 12,
            vms: 120,
            access_key: "e96a96326f2841ba8bdf2242f6cb832e".into(),
            secret_key: "68176b3ec9d64394bdfcbe124b3e6078".into(),
            username: "capacity-reader".into(),
            password: "demo-password".into(),
            token_ttl: Duration::from_secs(24 * 3600),
            max_version: "20220725",
            get_limit: 600,
            write_limit: 100,
            public_key_limit: 60,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(60),
            require_cookie: false,
            eip_pool_list_path: "floatingipools",
            openstack_tenant: (
                "ops".into(),
                "ops-reader".into(),
                "demo-tenant-password".into(),
            ),
            faults: Faults::default(),
        }
    }
}

/// The text of one vendor-example fixture (`tests/fixtures/sangfor_scp/NAME.json`).
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/sangfor_scp/", $name, ".json"))
    };
}

/// Everything the simulator serves, as the `data` of each endpoint.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub azs: Vec<Value>,
    pub az_details: BTreeMap<String, Value>,
    pub overview: Value,
    pub hosts: Vec<Value>,
    pub clusters: Vec<Value>,
    pub storages: Vec<Value>,
    pub servers: Vec<Value>,
    pub projects: Vec<Value>,
    pub quotas: Vec<Value>,
    pub eip_pools: Vec<Value>,
    pub eip_pool_details: BTreeMap<String, Value>,
    pub oss_accounts: Vec<Value>,
    pub volumes: Vec<Value>,
    /// The monitoring answer (`metric name → series`) per pool id.
    pub pool_metrics: BTreeMap<String, Value>,
    /// GPU hosts per pool id.
    pub gpus: BTreeMap<String, Vec<Value>>,
    pub alarms: Vec<Value>,
    pub licenses: Value,
    pub platform: Value,
    pub system_version: Value,
    /// EIPs (`/janus/20180725/floatingips`).
    pub floating_ips: Vec<Value>,
    /// The OpenStack API's flavors (`/openstack/compute/v2/flavors/detail`).
    pub flavors: Vec<Value>,
    /// What the fleet holds (empty for the vendor examples, whose totals nobody knows).
    pub truth: Truth,
}

fn uuid(rng: &mut fastrand::Rng) -> String {
    let h = |rng: &mut fastrand::Rng, n: usize| {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[rng.usize(..16)]))
            .collect::<String>()
    };
    format!(
        "{}-{}-{}-{}-{}",
        h(rng, 8),
        h(rng, 4),
        h(rng, 4),
        h(rng, 4),
        h(rng, 12)
    )
}

const MIB: f64 = 1_048_576.0;
/// The pseudo-pool of global quota items (document 004, §4.10).
const GLOBAL_AZ: &str = "10000000-0000-0000-0000-000000000000";

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

const TAG_HIGH: &str = "00000000-0000-0000-0000-000000000000";

impl Fleet {
    /// The synthetic platform. Pool physical totals are the sums over the pool's hosts (CPU,
    /// memory, GPUs) and datastores (storage); every host's allocation is the sum over its VMs;
    /// the pool's quota view is what the quotas handed out, its `total` below that, as in the
    /// document's examples; tenant quota use is the tenant's VMs per pool; EIP pool counts are
    /// its EIPs. GPUs appear in both the pool detail and the GPU API. The truth is summed from
    /// the same hosts, VMs, datastores and cards as they are made.
    pub fn generate(cfg: &ScpSimConfig) -> Fleet {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let mut f = Fleet::default();
        let mut truth = Truth::default();
        let tenants: Vec<(String, String)> = ["finance", "retail", "research", "ops"]
            .iter()
            .map(|n| (format!("{:032x}", rng.u128(..)), n.to_string()))
            .collect();
        let pools = cfg.pools.max(1);
        let mut host_n = 0usize;
        // (pool index, host id, host name, cluster name, gpu cards)
        let mut all_hosts: Vec<(usize, String, String, u32)> = Vec::new();
        let mut pool_ids = Vec::new();
        for p in 0..pools {
            let az_id = uuid(&mut rng);
            let az_name = format!("pool-{}", p + 1);
            pool_ids.push((az_id.clone(), az_name.clone()));
            f.azs.push(json!({"id": az_id, "name": az_name, "status": "normal", "description": "", "type": "hci", "tag": "public", "version": "6.10.0"}));
            let hosts_here = cfg.hosts / pools + usize::from(p < cfg.hosts % pools);
            let clusters = 2.min(hosts_here.max(1));
            let (mut p_mhz, mut p_used_mhz, mut p_mem, mut p_mem_used, mut p_gpu, mut p_gpu_mem) =
                (0.0, 0.0, 0.0, 0.0, 0u32, 0.0);
            let mut p_store = (0.0, 0.0);
            for c in 0..clusters {
                let cluster_id = uuid(&mut rng);
                let cluster_name = format!("cluster-{}{}", p + 1, char::from(b'a' + c as u8));
                let in_cluster: Vec<usize> =
                    (0..hosts_here).filter(|i| i % clusters == c).collect();
                let (mut c_mhz, mut c_used, mut c_mem, mut c_mem_used) = (0.0, 0.0, 0.0, 0.0);
                for _ in &in_cluster {
                    host_n += 1;
                    let id = format!("host-{:012x}", rng.u64(..1 << 48));
                    let ip = format!("10.{}.{}.{}", p + 1, c + 1, host_n);
                    let sockets = 2u32;
                    let cores = 16u32;
                    let threads = cores * 2;
                    let per_thread_mhz = 2400.0;
                    let total_mhz = f64::from(threads * sockets) * per_thread_mhz;
                    let used_mhz = round2(total_mhz * (0.15 + rng.f64() * 0.5));
                    let mem_mb = 524_288.0;
                    let mem_used = round2(mem_mb * (0.3 + rng.f64() * 0.5));
                    let gpus = if host_n % 4 == 0 { 4u32 } else { 0 };
                    let disk_mb = 7_680_000.0;
                    c_mhz += total_mhz;
                    c_used += used_mhz;
                    c_mem += mem_mb;
                    c_mem_used += mem_used;
                    p_gpu += gpus;
                    p_gpu_mem += f64::from(gpus) * 16384.0;
                    f.hosts.push(json!({
                        "id": id, "name": ip, "ip": ip, "description": "", "type": "h", "status": if host_n % 11 == 0 { "offline" } else { "running" },
                        "az_id": az_id, "cluster_id": cluster_id, "cluster_name": cluster_name, "dh_id": "", "cluster_type": "hci", "serial_number": "",
                        "is_use_vs": 1, "alarm_count": 0, "reserves": {"memory_mb": 8192},
                        "cpu": {"used_mhz": used_mhz, "allocation_ratio": 3.0, "ratio": round2(used_mhz / total_mhz), "allocation_max": 0, "thread_per_socket": threads,
                                "cores_per_socket": cores, "socket_count": sockets, "total_mhz": total_mhz, "type": "Intel(R) Xeon(R) Gold 6330 CPU @ 2.40GHz", "core_count": cores * sockets},
                        "memory": {"total_mb": mem_mb, "allocation_ratio": 1.0, "allocation_max": 0.0, "used_mb": mem_used, "ratio": round2(mem_used / mem_mb)},
                        "storage": {"total_mb": disk_mb},
                        "gpu": {"total": gpus, "used": 0.0, "ratio": 0.0, "memory_total_mb": f64::from(gpus) * 16384.0, "memory_used_mb": 0.0, "memory_ratio": 0.0}
                    }));
                    all_hosts.push((p, id, ip, gpus));
                    // An offline host takes no instances: its capacity is unusable.
                    if host_n % 11 == 0 {
                        let at = [("az", az_name.as_str()), ("reason", "offline")];
                        truth.add("unusable", "cpu_hertz", &at, total_mhz * 1e6);
                        truth.add("unusable", "cpu_cores", &at, f64::from(cores * sockets));
                        truth.add("unusable", "cpu_threads", &at, f64::from(threads * sockets));
                        truth.add("unusable", "memory", &at, mem_mb * MIB);
                        continue;
                    }
                    let at = [("az", az_name.as_str())];
                    truth.add("capacity", "cpu_hertz", &at, total_mhz * 1e6);
                    truth.add("used", "cpu_hertz", &at, used_mhz * 1e6);
                    truth.add("capacity", "cpu_cores", &at, f64::from(cores * sockets));
                    truth.add("capacity", "cpu_threads", &at, f64::from(threads * sockets));
                    truth.add("capacity", "memory", &at, mem_mb * MIB);
                    truth.add("used", "memory", &at, mem_used * MIB);
                    truth.add("reserved", "memory", &at, 8192.0 * MIB);
                    // The site allocates 3 vCPUs per physical core, memory 1:1 less the reserve.
                    truth.add("allocatable", "vcpu", &at, f64::from(cores * sockets) * 3.0);
                    truth.add("allocatable", "memory", &at, (mem_mb - 8192.0) * MIB);
                }
                p_mhz += c_mhz;
                p_used_mhz += c_used;
                p_mem += c_mem;
                p_mem_used += c_mem_used;
                // One shared virtual-storage datastore per cluster, sized by its hosts.
                let ds_total = (in_cluster.len() as f64 * 6_000_000.0).round();
                let ds_used = (ds_total * (0.2 + rng.f64() * 0.5)).round();
                p_store.0 += ds_total;
                p_store.1 += ds_used;
                truth.add(
                    "capacity",
                    "storage",
                    &[
                        ("az", &az_name),
                        ("datastore", &format!("vs-{cluster_name}")),
                    ],
                    ds_total * MIB,
                );
                truth.add(
                    "used",
                    "storage",
                    &[
                        ("az", &az_name),
                        ("datastore", &format!("vs-{cluster_name}")),
                    ],
                    ds_used * MIB,
                );
                f.storages.push(json!({
                    "id": format!("{:08x}_vs_vol_rep2", rng.u32(..)), "name": format!("vs-{cluster_name}"), "description": "", "type": "vs", "status": "ok",
                    "storage_tag_id": TAG_HIGH, "storage_tag_name": "高性能存储", "az_id": az_id, "target": "", "total_mb": ds_total, "used_mb": ds_used,
                    "ratio": round2(ds_used / ds_total.max(1.0)), "read_bytpeps": 1000.0, "write_bytpeps": 2000.0, "max_read_bytpeps": 2.2e8, "max_write_bytpeps": 7.7e7,
                    "cluster_id": cluster_id, "cluster_name": cluster_name, "cluster_type": "hci", "shared": 1, "connected_hosts": in_cluster.len()
                }));
                f.clusters.push(json!({
                    "id": cluster_id, "name": cluster_name, "version": "6.10.0", "type": "hci", "description": "", "status": "normal", "az_id": az_id,
                    "project_ids": [], "authorize_mode": "platform", "controller_ip": "", "arch_type": "hci_x86", "ip": "",
                    "cpu": {"total_mhz": c_mhz, "used_mhz": round2(c_used), "ratio": round2(c_used / c_mhz.max(1.0))},
                    "memory": {"total_mb": c_mem, "used_mb": round2(c_mem_used), "ratio": round2(c_mem_used / c_mem.max(1.0))},
                    "storage": {"total_mb": ds_total, "used_mb": ds_used, "ratio": round2(ds_used / ds_total.max(1.0))}
                }));
            }
            // An untagged local datastore (unusable by VMs until tagged).
            truth.add(
                "capacity",
                "storage",
                &[("az", &az_name), ("datastore", &format!("local-{}", p + 1))],
                0.0,
            );
            f.storages.push(json!({"id": format!("local-{p}"), "name": format!("local-{}", p + 1), "type": "local", "status": "offline", "storage_tag_id": "",
                "az_id": az_id, "total_mb": 0, "used_mb": 0, "ratio": 0.0, "target": ""}));
            f.az_details.insert(az_id.clone(), json!({
                "id": az_id, "name": az_name, "status": "normal", "description": "", "type": "hci", "tag": "public", "version": "6.10.0",
                "physical_resources": [
                    {"name": "cpu", "unit": "mhz", "total": round2(p_mhz), "used": round2(p_used_mhz)},
                    {"name": "memory", "unit": "mb", "total": p_mem, "used": round2(p_mem_used)},
                    {"name": "storage", "unit": "mb", "total": p_store.0, "used": p_store.1},
                    {"name": "gpu", "unit": "张", "total": p_gpu, "used": 0.0},
                    {"name": "gpu_mem", "unit": "mb", "total": p_gpu_mem, "used": 0}
                ],
                "virtual_resources": []
            }));
        }

        // VMs, spread over the hosts and tenants; a few stopped, GPUs on GPU hosts, 2 DR placeholders.
        let mut gpu_used: HashMap<String, u32> = HashMap::new();
        // host id → (cores, MB) its VMs hold
        let mut host_held: HashMap<String, (f64, f64)> = HashMap::new();
        let mut per_pool_alloc: BTreeMap<usize, (f64, f64, f64, f64, f64)> = BTreeMap::new(); // cores, mem, storage, running cores, running mem
        let mut tenant_use: BTreeMap<(usize, usize), (f64, f64, f64, f64)> = BTreeMap::new(); // cores, mem, storage, count
        for n in 0..cfg.vms {
            if all_hosts.is_empty() {
                break;
            }
            let (p, host_id, host_name, gpus) = all_hosts[n % all_hosts.len()].clone();
            let (az_id, az_name) = pool_ids[p].clone();
            let t = (n / 3) % tenants.len();
            let cores = [1u32, 2, 4, 8][rng.usize(..4)];
            let mem_mb = f64::from([2u32, 4, 8, 16][rng.usize(..4)] * 1024);
            let disk_mb = f64::from([40u32, 100, 200][rng.usize(..3)] * 1024);
            let running = n % 7 != 0;
            let placeholder = n < 2;
            let with_gpu = gpus > 0
                && gpu_used.get(&host_id).copied().unwrap_or(0) < gpus
                && (n / all_hosts.len()) % 4 == 0;
            if with_gpu {
                *gpu_used.entry(host_id.clone()).or_insert(0) += 1;
            }
            f.servers.push(json!({
                "id": uuid(&mut rng), "name": format!("vm-{n:05}"), "type": "hci", "status": if running { "running" } else { "stopped" },
                "power_state": if running { "on" } else { "off" }, "is_stopped": i32::from(!running), "vmtype": if placeholder { "placeholder" } else { "vm" },
                "cores": cores, "sockets": 1, "cores_per_socket": cores, "mhz": f64::from(cores) * 2400.0, "memory_mb": mem_mb, "storage_mb": disk_mb,
                "disks": [{"id": "ide0", "size_mb": disk_mb, "preallocate": "off", "storage_id": "", "storage_tag_id": TAG_HIGH}],
                "gpu_status": {"graphics_count": u32::from(with_gpu), "graphics_ratio": 0.0, "graphics_mem_ratio": 0.0, "graphics_mem_total": if with_gpu { 16384.0 } else { 0.0 }, "graphics_mem_used": 0},
                "has_gpu": u32::from(with_gpu), "az_id": az_id, "az_name": az_name, "host_id": host_id, "host_name": host_name,
                "project_id": tenants[t].0, "project_name": tenants[t].1, "user_id": null, "user_name": "", "network_status": {"read_speed_bitsps": 0.0, "write_speed_bitsps": 0.0},
                "io_status": {"read_speed_bytpeps": 0.0, "write_speed_bytpeps": 0.0, "read_iops": 0.0, "write_iops": 0.0}
            }));
            if placeholder {
                continue;
            }
            let held = host_held.entry(host_id.clone()).or_insert((0.0, 0.0));
            held.0 += f64::from(cores);
            held.1 += mem_mb;
            let at = [("az", az_name.as_str())];
            truth.add("allocated", "vcpu", &at, f64::from(cores));
            truth.add("allocated", "memory", &at, mem_mb * MIB);
            truth.add("allocated", "instances", &at, 1.0);
            truth.add("allocated", "gpu", &at, f64::from(u32::from(with_gpu)));
            let e = per_pool_alloc.entry(p).or_default();
            e.0 += f64::from(cores);
            e.1 += mem_mb;
            e.2 += disk_mb;
            if running {
                e.3 += f64::from(cores);
                e.4 += mem_mb;
            }
            let u = tenant_use.entry((t, p)).or_default();
            u.0 += f64::from(cores);
            u.1 += mem_mb;
            u.2 += disk_mb;
            u.3 += 1.0;
        }
        // What the scheduler sees per host: 3 vCPUs per physical core, memory less the 8 GiB
        // reserve (ratio 1); offline hosts take nothing.
        for (h, (_, _, _, cards)) in f.hosts.iter().zip(&all_hosts) {
            let id = h["id"].as_str().unwrap_or_default();
            let (cores, mem) = host_held.get(id).copied().unwrap_or_default();
            // Its Tesla T4 cards, those a VM holds in use.
            let mut gpus = BTreeMap::new();
            if *cards > 0 {
                let used = gpu_used.get(id).copied().unwrap_or(0).min(*cards);
                gpus.insert("Tesla T4".to_string(), [f64::from(*cards), f64::from(used)]);
            }
            let az = pool_ids
                .iter()
                .find(|(pid, _)| h["az_id"] == pid.as_str())
                .map(|(_, name)| name.clone())
                .unwrap_or_default();
            truth.hosts.push(super::HostTruth {
                host: h["name"].as_str().unwrap_or_default().to_string(),
                at: [("az".to_string(), az)].into(),
                usable: h["status"] == "running",
                vcpu_allocatable: 32.0 * 3.0,
                vcpu_allocated: cores,
                memory_allocatable: (524_288.0 - 8192.0) * MIB,
                memory_allocated: mem * MIB,
                disk_allocatable: None,
                disk_allocated: None,
                disk_group: None,
                gpus,
            });
        }
        // The pools' quota view is what their VMs hold.
        for (p, (az_id, _)) in pool_ids.iter().enumerate() {
            let (cores, mem, storage, run_cores, run_mem) =
                per_pool_alloc.get(&p).copied().unwrap_or_default();
            let (store_total, store_used): (f64, f64) = f
                .storages
                .iter()
                .filter(|s| s["az_id"] == az_id.as_str() && s["storage_tag_id"] == TAG_HIGH)
                .fold((0.0, 0.0), |a, s| {
                    (
                        a.0 + s["total_mb"].as_f64().unwrap_or(0.0),
                        a.1 + s["used_mb"].as_f64().unwrap_or(0.0),
                    )
                });
            // As in the document's examples, the quota view's `total` has no meaning as
            // capacity: below what is allocated, and repeated for each policy of a tag.
            if let Some(d) = f.az_details.get_mut(az_id) {
                d["virtual_resources"] = json!([
                    {"provider": "hci", "namespace": "compute", "resource": "pool_cpu", "name": "CPU", "limit": -1, "allocated": cores, "total": 30.0, "occupied": run_cores, "unit": "核"},
                    {"provider": "hci", "namespace": "compute", "resource": "pool_memory", "name": "内存", "limit": -1, "allocated": mem, "total": 24576.0, "occupied": run_mem, "unit": "MB"},
                    {"name": "High Performance Storage (默认)", "limit": -1, "allocated": storage, "total": store_total, "occupied": store_used, "unit": "MB"},
                    {"name": "High Performance Storage (高可用)", "limit": -1, "allocated": 0, "total": store_total, "occupied": 0, "unit": "MB"}
                ]);
            }
        }
        // Host GPU use follows the VMs holding cards.
        for h in &mut f.hosts {
            let used = gpu_used
                .get(h["id"].as_str().unwrap_or(""))
                .copied()
                .unwrap_or(0);
            h["gpu"]["used"] = json!(f64::from(used));
            h["gpu"]["memory_used_mb"] = json!(f64::from(used) * 16384.0);
        }
        for (p, (az_id, az_name)) in pool_ids.iter().enumerate() {
            let hosts: Vec<Value> = all_hosts.iter().filter(|h| h.0 == p && h.3 > 0).map(|(_, id, ip, cards)| {
                let used = gpu_used.get(id).copied().unwrap_or(0);
                let at = [("az", az_name.as_str()), ("gpu_model", "Tesla T4")];
                truth.add("capacity", "gpu", &at, f64::from(*cards));
                truth.add("used", "gpu", &at, f64::from(used.min(*cards)));
                truth.add("capacity", "gpu_memory", &at, f64::from(*cards) * 16384.0 * MIB);
                truth.add("used", "gpu_memory", &at, f64::from(used.min(*cards)) * 16384.0 * MIB);
                truth.add("capacity", "vgpu", &at, f64::from(*cards));
                truth.add("allocated", "vgpu", &at, f64::from(used.min(*cards)));
                let graphics: Vec<Value> = (0..*cards).map(|c| json!({
                    "gpu_name": "Tesla T4", "support_slice": 1, "uuid": format!("{id}-gpu{c}"), "brand": "NVIDIA", "description": "1GPU, 16GB", "type": "T4", "name": "NVIDIA Tesla T4",
                    "gpucore": [{"status": 0, "core_id": format!("0000:8{c}:00.0"), "mem_total": 16384, "mem_used": if c < used { 16384 } else { 0 },
                                 "max_instances": 1, "used_instances": u32::from(c < used), "slice_type": "PASS_THROUGH", "server_list": []}]
                })).collect();
                json!({"graphics_detail": format!("NVIDIA Tesla T4 x {cards}"), "graphic_status": "normal", "host_ip": ip, "host_id": id,
                       "available_instance": cards - used, "driver_status": {"msg": "", "code": 0}, "graphics": graphics})
            }).collect();
            f.gpus.insert(az_id.clone(), hosts);
        }
        // Shared disks, and the pools' utilisation as the monitoring API reports it (percent).
        for (p, (az_id, _)) in pool_ids.iter().enumerate() {
            for v in 0..(3 + p) {
                let (tid, _) = &tenants[v % tenants.len()];
                f.volumes.push(json!({"id": uuid(&mut rng), "name": format!("share-{p}-{v}"), "description": "", "size": 100 * (v + 1), "volume_type": "sharedisk",
                    "status": if v == 0 { "deleted" } else { "available" }, "user_id": "", "project_id": tid, "az_id": az_id, "storage_id": "", "target_id": "", "disk_id": ""}));
            }
            if let Some(d) = f.az_details.get(az_id) {
                let pct = |name: &str| {
                    d["physical_resources"]
                        .as_array()
                        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
                        .map_or(0.0, |r| {
                            100.0 * r["used"].as_f64().unwrap_or(0.0)
                                / r["total"].as_f64().unwrap_or(1.0).max(1.0)
                        })
                };
                let series = |v: f64| json!({"datapoints": [["2026-11-23T10:00:00", v * 0.97], ["2026-11-23T10:05:00", v]], "unit": "%", "granularity": 300});
                f.pool_metrics.insert(az_id.clone(), json!({"cpu.util": series(pct("cpu")), "memory.util": series(pct("memory")), "disk.util": series(pct("storage"))}));
            }
        }
        // Quotas: per tenant and pool, in use = the tenant's VMs there; global EIP count per line.
        let line = "d7125278-486a-4692-bec5-87911c9ee866";
        let mut quota_limits = Truth::default();
        for (t, (tid, _)) in tenants.iter().enumerate() {
            for (p, (az_id, az_name)) in pool_ids.iter().enumerate() {
                let (cores, mem, storage, count) =
                    tenant_use.get(&(t, p)).copied().unwrap_or_default();
                for (resource, name, unit, ns, limit, used) in [
                    (
                        "cores",
                        "CPU",
                        "核",
                        "compute",
                        if t == 3 { -1.0 } else { 200.0 },
                        cores,
                    ),
                    ("ram", "内存", "MB", "compute", 409_600.0, mem),
                    ("vm_count", "云主机", "台", "compute", 100.0, count),
                    (
                        &*format!("storage_tag::{TAG_HIGH}"),
                        "高性能存储",
                        "MB",
                        "storage",
                        10_240_000.0,
                        storage,
                    ),
                ] {
                    f.quotas.push(json!({"id": format!("{:064x}", rng.u128(..)), "category": "pool", "provider": "hci", "namespace": ns, "resource": resource, "name": name,
                        "project_id": tid, "unit": unit, "separated_quotas": [{"az_id": az_id, "in_use": used, "reserved": 0, "allocation": 0}],
                        "az_quotas": [{"az_id": az_id, "hard_limit": limit}]}));
                    let (vocabulary, scale) = match resource {
                        "cores" => ("vcpu", 1.0),
                        "ram" => ("memory", MIB),
                        _ => ("", 0.0),
                    };
                    if !vocabulary.is_empty() && limit >= 0.0 {
                        quota_limits.add(
                            "quota_limit",
                            vocabulary,
                            &[("az", az_name.as_str())],
                            limit * scale,
                        );
                    }
                }
            }
        }
        // EIP pools and their EIPs (the count quota uses them too).
        let mut eips_of: Vec<u32> = vec![0; tenants.len()];
        for (i, (name, count)) in [("telecom-1", 253u32), ("mobile-1", 100)]
            .iter()
            .enumerate()
        {
            let id = uuid(&mut rng);
            let used = 20 + 7 * i as u32;
            let bound = used - 5;
            for k in 0..used {
                eips_of[k as usize % tenants.len()] += 1;
            }
            let pool = json!({"id": id, "name": name, "line_type_id": line, "description": "", "is_global": 1, "az_ids": [], "vlan": 0,
                "allocation_pools": [{"start": "100.64.0.1", "end": format!("100.64.0.{count}")}], "ip_count": count,
                "qos_downlink": 10_000_000, "qos_uplink": 10_000_000});
            // The pool's EIPs: `used` of them handed out, `bound` of those bound to a VM, each
            // with a 100 Mbps cap both ways.
            for k in 0..used {
                let (tid, _) = &tenants[k as usize % tenants.len()];
                let mut eip = json!({"id": uuid(&mut rng), "floating_ip": format!("100.64.{i}.{}", k + 1), "floatingip_pool_id": id, "project_id": tid,
                    "floating_port_id": uuid(&mut rng), "sharedbandwidth_id": "", "bandwidth": {"qos_uplink_kbps": 100_000, "qos_downlink_kbps": 100_000}});
                if k < bound {
                    eip["binding_info"] = json!({"router_id": "", "status": "active", "bind_type": "vm", "ip_address": format!("172.16.{i}.{}", k + 1),
                        "bind_id": "", "vpc_id": "", "port_id": "", "az_id": pool_ids[k as usize % pools].0});
                }
                f.floating_ips.push(eip);
            }
            let at = [("eip_pool", *name)];
            truth.add("capacity", "eip", &at, f64::from(*count));
            truth.add("allocated", "eip", &at, f64::from(used));
            truth.add("used", "eip", &at, f64::from(bound));
            for (direction, in_use) in [
                ("uplink", 123_000 + i as u64),
                ("downlink", 456_000 + i as u64),
            ] {
                let at = [("eip_pool", *name), ("direction", direction)];
                truth.add("capacity", "bandwidth", &at, 10_000_000.0 * 1000.0);
                truth.add(
                    "allocated",
                    "bandwidth",
                    &at,
                    f64::from(used) * 100_000.0 * 1000.0,
                );
                truth.add("used", "bandwidth", &at, in_use as f64 * 1000.0);
            }
            let mut detail = pool.clone();
            detail["ip_used"] = json!(used);
            detail["ip_bind"] = json!(bound);
            detail["allocated_bandwidth"] = json!(u64::from(used) * 100_000);
            detail["pool_in_kbps"] = json!(123_000 + i as u64);
            detail["pool_out_kbps"] = json!(456_000 + i as u64);
            f.eip_pools.push(pool);
            f.eip_pool_details.insert(id, detail);
        }
        for (t, (tid, _)) in tenants.iter().enumerate() {
            f.quotas.push(json!({"id": format!("{:064x}", rng.u128(..)), "category": "global", "provider": "hci", "namespace": "network", "resource": format!("eip_count::{line}"),
                "name": "弹性IP", "project_id": tid, "unit": "个", "separated_quotas": [{"az_id": GLOBAL_AZ, "in_use": eips_of[t], "reserved": 0, "allocation": 0}],
                "az_quotas": [{"az_id": GLOBAL_AZ, "hard_limit": 50}]}));
            let (quota_kb, used_kb, objects) = (
                104_857_600 * (t as u64 + 1),
                1_048_576 * (t as u64 + 3),
                1000 * (t as u64 + 1),
            );
            f.oss_accounts.push(json!({"id": uuid(&mut rng), "name": format!("oss-{}", tenants[t].1), "capacity_size": quota_kb,
                "used_capacity_size": used_kb, "object_count": objects, "location": "oss-dc-1", "user_id": "", "project_id": tid}));
            truth.add("allocated", "object_storage", &[], quota_kb as f64 * 1024.0);
            truth.add("used", "object_storage", &[], used_kb as f64 * 1024.0);
            truth.add("used", "objects", &[], objects as f64);
        }
        // Tenants and the pools they may use; a tenant with no pool, for the az_id filter.
        let az_entries: Vec<Value> = pool_ids
            .iter()
            .map(|(id, name)| json!({"az_id": id, "type": "hci", "az_name": name, "az_tag": "public", "dh_ids": []}))
            .collect();
        for (id, name) in &tenants {
            f.projects.push(json!({"id": id, "name": name, "user_name": name, "enabled": 1, "role_type": "tenant", "azs": az_entries, "dhs": []}));
        }
        f.projects.push(json!({"id": format!("{:032x}", rng.u128(..)), "name": "sandbox", "user_name": "sandbox", "enabled": 1, "role_type": "tenant", "azs": [], "dhs": []}));
        let (running, stopped) = f.servers.iter().fold((0, 0), |a, s| {
            if s["status"] == "running" {
                (a.0 + 1, a.1)
            } else {
                (a.0, a.1 + 1)
            }
        });
        let online = f.hosts.iter().filter(|h| h["status"] == "running").count();
        // The platform-wide summary: the pools' physical resources summed, under the names
        // §4.3.5 uses (`graphics_num`, `graphics_mem`), and their quota views.
        let mut physical: BTreeMap<String, (f64, f64, String)> = BTreeMap::new();
        let mut quota_view: BTreeMap<String, (f64, f64, String)> = BTreeMap::new();
        for d in f.az_details.values() {
            for r in d["physical_resources"].as_array().into_iter().flatten() {
                let name = match r["name"].as_str().unwrap_or("") {
                    "gpu" => "graphics_num",
                    "gpu_mem" => "graphics_mem",
                    other => other,
                };
                let e = physical.entry(name.to_string()).or_insert((
                    0.0,
                    0.0,
                    r["unit"].as_str().unwrap_or("").to_string(),
                ));
                e.0 += r["total"].as_f64().unwrap_or(0.0);
                e.1 += r["used"].as_f64().unwrap_or(0.0);
            }
            for r in d["virtual_resources"].as_array().into_iter().flatten() {
                let e = quota_view
                    .entry(r["name"].as_str().unwrap_or("").to_string())
                    .or_insert((0.0, 0.0, r["unit"].as_str().unwrap_or("").to_string()));
                e.0 += r["allocated"].as_f64().unwrap_or(0.0);
                e.1 += r["occupied"].as_f64().unwrap_or(0.0);
            }
        }
        let physical: Vec<Value> = physical
            .into_iter()
            .map(|(name, (total, used, unit))| json!({"name": name, "total": round2(total), "used": round2(used), "unit": unit}))
            .collect();
        let virtual_resources: Vec<Value> = quota_view
            .into_iter()
            .map(|(name, (allocated, occupied, unit))| json!({"name": name, "limit": -1, "total": 0, "allocated": allocated, "occupied": occupied, "unit": unit}))
            .collect();
        f.overview = json!({
            "virtual_resources": virtual_resources, "physical_resources": physical,
            "host": {"total": f.hosts.len(), "online_count": online, "offline_count": f.hosts.len() - online, "alarm_count": 1},
            "server": {"total": f.servers.len(), "running_count": running, "offline_count": stopped, "alarm_count": 0, "error_count": 0},
            "nfv": {"total": 2, "running_count": 2, "offline_count": 0, "error_count": 0},
            "az": {"total": pools, "online_count": pools, "offline_count": 0, "alarm_count": 0}
        });
        truth.quota_limits = quota_limits.figures;
        // The OpenStack API's flavor catalogue, named as SCP names the flavors it makes per VM
        // configuration; a disabled one is no size to count.
        for (cores, mem_mb, disk_gb, disabled) in [
            (2u32, 4096u32, 40u32, false),
            (4, 8192, 100, false),
            (8, 16384, 200, false),
            (16, 65536, 200, true),
        ] {
            let name = format!("{cores}Cores_{mem_mb}MB(ram)_{disk_gb}GB(disk)");
            f.flavors.push(json!({"links": [], "ram": mem_mb, "OS-FLV-DISABLED:disabled": disabled, "vcpus": cores, "swap": 0, "os-flavor-access:is_public": true,
                "rxtx_factor": 1, "OS-FLV-EXT-DATA:ephemeral": 0, "disk": disk_gb, "id": uuid(&mut rng), "name": name}));
            if !disabled {
                truth.flavors.push(super::FlavorTruth {
                    name,
                    vcpus: f64::from(cores),
                    memory: f64::from(mem_mb) * MIB,
                    disk: f64::from(disk_gb) * 1024.0 * MIB,
                    ..super::FlavorTruth::default()
                });
            }
        }
        f.truth = truth;
        for (i, level) in ["p1", "p2", "p2", "p3"].iter().enumerate() {
            let (az_id, az_name) = &pool_ids[i % pools];
            f.alarms.push(json!({"id": uuid(&mut rng), "status": if i == 1 { "ack" } else { "open" }, "level": level, "object_type": if i % 2 == 0 { "host" } else { "storage" },
                "object_id": "x", "object_name": "x", "az_id": az_id, "az_name": az_name, "description": "simulated alarm", "converge_count": 1, "start_time": "2026-11-20 10:00:00"}));
        }
        f.licenses = json!({"status": 0, "products": [
            {"name": "aSV", "activated": 1, "disable": 0, "software_time": {"name": "软件到期时间", "expire_timestamp": "1900000000", "remain_timestamp": 86_400 * 200}, "service_time": {}},
            {"name": "aSAN", "activated": 1, "disable": 0, "software_time": {"name": "软件到期时间", "expire_timestamp": "unlimited", "remain_timestamp": -1},
             "service_time": {"name": "服务到期时间", "expire_timestamp": "1800000000", "remain_timestamp": 86_400 * 30}}]});
        f.platform = json!({"version": "SCP6.10.0_B", "build_time": "2026-01-01 00:00:00", "manage_mode": "private_cloud", "access_scc": 0,
            "region_info": {"region_id": "RegionOne", "region_name": "sim-dc", "region_url": "", "parent_region": ""}, "dcluster_info": {"mode": "stand_alone"}});
        f.system_version =
            json!({"build_version": "SCP6.10.0_B-2026-01-01_00:00:00", "custom_version": []});
        f
    }

    /// The vendor document's examples, served as they are.
    pub fn examples() -> Fleet {
        let v = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
        let list = |text: &str| match v(text) {
            Value::Array(a) => a,
            other => vec![other],
        };
        let overview = v(fixture!("overview"));
        let d2018 = v(fixture!("az_detail_20180725"));
        let d2020 = v(fixture!("az_detail_20200725"));
        let mut f = Fleet::default();
        for d in [&d2018, &d2020] {
            let id = d["id"].as_str().unwrap_or("").to_string();
            f.azs.push(json!({"id": id, "name": d["name"], "status": d["status"], "description": "", "type": d["type"], "tag": d["tag"], "version": d["version"]}));
            f.az_details.insert(id, d.clone());
        }
        f.overview = overview["data"].clone();
        f.hosts = list(fixture!("hosts_20190725"));
        f.clusters = list(fixture!("clusters_20210725"));
        f.storages = list(fixture!("storages_20200725"));
        f.servers = list(fixture!("servers_20180725"));
        f.projects = list(fixture!("projects"));
        f.quotas = list(fixture!("quotas"));
        f.eip_pools = list(fixture!("eip_pools"));
        let detail = v(fixture!("eip_pool_detail"));
        for p in &f.eip_pools {
            let mut d = detail.clone();
            d["id"] = p["id"].clone();
            d["name"] = p["name"].clone();
            f.eip_pool_details
                .insert(p["id"].as_str().unwrap_or("").to_string(), d);
        }
        f.oss_accounts = list(fixture!("oss_accounts"));
        f.volumes = list(fixture!("volumes"));
        let metrics = v(fixture!("metrics_az"));
        for id in f.az_details.keys() {
            f.pool_metrics.insert(id.clone(), metrics.clone());
        }
        let gpus = list(fixture!("gpus"));
        if let Some(first) = f.azs.first().and_then(|a| a["id"].as_str()) {
            f.gpus.insert(first.to_string(), gpus);
        }
        f.alarms = list(fixture!("alarms_20190725"));
        f.licenses = v(fixture!("licenses"));
        f.platform = v(fixture!("platform"));
        f.system_version = v(fixture!("system_version"));
        f.flavors = v(fixture!("openstack_flavors"))["flavors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        f
    }
}

/// Counters the tests read through `/sim/stats`.
#[derive(Debug, Default)]
struct Counters {
    by_path: Mutex<BTreeMap<String, u64>>,
    gets: AtomicU64,
    throttled: AtomicU64,
    bans: AtomicU64,
    refused_while_banned: AtomicU64,
    public_key_refusals: AtomicU64,
    tokens_issued: AtomicU64,
    logins_failed: AtomicU64,
    unauthorized: AtomicU64,
    signatures_checked: AtomicU64,
}

impl super::SimControl for ScpSim {
    fn faults(&self) -> &FaultState {
        &self.faults
    }

    fn truth(&self) -> Truth {
        self.fleet.truth.clone()
    }

    fn tokens(&self) -> &super::TokenStore {
        &self.tokens
    }
}

/// A running SCP simulator's state.
pub struct ScpSim {
    cfg: Mutex<ScpSimConfig>,
    fleet: Fleet,
    tokens: TokenStore,
    get_window: SlidingWindow,
    write_window: SlidingWindow,
    public_key_window: SlidingWindow,
    banned_until: Mutex<Option<Instant>>,
    faults: FaultState,
    counters: Counters,
}

impl ScpSim {
    pub fn new(cfg: ScpSimConfig) -> Arc<ScpSim> {
        let fleet = match cfg.dataset {
            Dataset::Fleet => Fleet::generate(&cfg),
            Dataset::Examples => Fleet::examples(),
        };
        Arc::new(ScpSim {
            get_window: SlidingWindow::new(cfg.get_limit, cfg.window),
            write_window: SlidingWindow::new(cfg.write_limit, cfg.window),
            public_key_window: SlidingWindow::new(cfg.public_key_limit, cfg.window),
            banned_until: Mutex::new(None),
            faults: FaultState::new(cfg.faults.clone(), cfg.seed ^ 0x5c9),
            fleet,
            tokens: TokenStore::default(),
            cfg: Mutex::new(cfg),
            counters: Counters::default(),
        })
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn cfg(&self) -> ScpSimConfig {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/sim/stats", get(stats))
            .merge(super::control_routes())
            .route("/sim/credentials", post(set_credentials))
            .fallback(janus)
            .with_state(Arc::clone(self))
    }

    /// `true` while the client IP is banned.
    fn banned(&self) -> bool {
        self.banned_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t > Instant::now())
    }

    fn ban(&self, ban: Duration) {
        *self.banned_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + ban);
        self.counters.bans.fetch_add(1, Ordering::Relaxed);
    }
}

fn envelope(status: StatusCode, code: i64, message: &str, data: Value) -> Response {
    (
        status,
        Json(json!({"message": message, "code": code, "data": data})),
    )
        .into_response()
}

fn ok(data: Value) -> Response {
    envelope(StatusCode::OK, 0, "", data)
}

fn unauthorized(sim: &ScpSim, why: &str) -> Response {
    sim.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
    envelope(StatusCode::UNAUTHORIZED, 401, why, json!({}))
}

async fn stats(State(sim): State<Arc<ScpSim>>) -> Json<Value> {
    let c = &sim.counters;
    let by_path = c.by_path.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Json(json!({
        "calls": by_path,
        "gets": c.gets.load(Ordering::Relaxed),
        "throttled": c.throttled.load(Ordering::Relaxed),
        "bans": c.bans.load(Ordering::Relaxed),
        "refused_while_banned": c.refused_while_banned.load(Ordering::Relaxed),
        "public_key_refusals": c.public_key_refusals.load(Ordering::Relaxed),
        "tokens_issued": c.tokens_issued.load(Ordering::Relaxed),
        "logins_failed": c.logins_failed.load(Ordering::Relaxed),
        "unauthorized": c.unauthorized.load(Ordering::Relaxed),
        "signatures_checked": c.signatures_checked.load(Ordering::Relaxed),
        "get_max_in_window": sim.get_window.max_in_window(),
        "write_max_in_window": sim.write_window.max_in_window(),
        "get_limit": sim.cfg().get_limit,
    }))
}

async fn set_credentials(State(sim): State<Arc<ScpSim>>, Json(v): Json<Value>) -> Response {
    let mut cfg = sim.cfg.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = v.get("password").and_then(Value::as_str) {
        cfg.password = p.to_string();
    }
    if let Some(k) = v.get("secret_key").and_then(Value::as_str) {
        cfg.secret_key = k.to_string();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The versions the document lists for a resource (first path segment after the version).
fn served_versions(resource: &str, rest: &[&str]) -> &'static [&'static str] {
    match (resource, rest.len()) {
        ("azs", 1) => &["20180725", "20200725"],
        ("hosts", 0) => &["20180725", "20190725"],
        ("clusters", 0) => &["20180725", "20190725", "20200725", "20210725"],
        ("storages", 0) => &["20180725", "20190725", "20200725"],
        ("servers", 0) => &["20180725", "20190725", "20200725", "20210725", "20220725"],
        ("alarms", 0) => &["20180725", "20190725"],
        _ => &["20180725"],
    }
}

/// A list answer: the items of the requested page in the list envelope.
fn page(items: &[Value], q: &HashMap<String, String>) -> Response {
    page_where(items, q, None)
}

/// A list answer over the items whose `key` equals the query's value of `key`, when given.
fn page_where(items: &[Value], q: &HashMap<String, String>, key: Option<&str>) -> Response {
    let wanted = key.and_then(|k| Some((k, q.get(k)?.as_str())));
    let keep = |i: &&Value| wanted.is_none_or(|(k, v)| i[k].as_str() == Some(v));
    let page_num: usize = q.get("page_num").and_then(|v| v.parse().ok()).unwrap_or(0);
    let page_size: usize = q
        .get("page_size")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    if page_size == 0 || page_size > 100 {
        return envelope(
            StatusCode::BAD_REQUEST,
            400,
            "page_size must be between 1 and 100",
            json!({}),
        );
    }
    let start = page_num.saturating_mul(page_size);
    let chunk: Vec<Value> = items
        .iter()
        .filter(keep)
        .skip(start)
        .take(page_size)
        .cloned()
        .collect();
    let total = if wanted.is_some() {
        items.iter().filter(keep).count()
    } else {
        items.len()
    };
    let next = if start + page_size < total {
        (page_num + 1).to_string()
    } else {
        String::new()
    };
    ok(
        json!({"total_size": total, "page_num": page_num, "page_size": page_size, "next_page_num": next, "data": chunk}),
    )
}

/// `/projects`: filtered by `az_id` (the tenants associated with that pool) when given.
fn projects(items: &[Value], q: &HashMap<String, String>) -> Response {
    match q.get("az_id") {
        Some(az) => {
            let kept: Vec<Value> = items
                .iter()
                .filter(|p| {
                    p["azs"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|e| e["az_id"].as_str() == Some(az.as_str())))
                })
                .cloned()
                .collect();
            page(&kept, q)
        }
        None => page(items, q),
    }
}

/// Checks the request's credentials: an AK/SK signature or a token.
fn authenticate(
    sim: &ScpSim,
    cfg: &ScpSimConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), &'static str> {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if cfg.require_cookie && !h("cookie").contains("aCMPAuthToken=") {
        return Err("missing aCMPAuthToken cookie");
    }
    let authorization = h("authorization");
    if let Some(token) = authorization.strip_prefix("Token ") {
        let valid = sim.tokens.valid(token.trim());
        return if valid {
            Ok(())
        } else {
            Err("token invalid or expired")
        };
    }
    let Some(p) = scp_auth::parse(authorization) else {
        return Err("missing or malformed Authorization");
    };
    sim.counters
        .signatures_checked
        .fetch_add(1, Ordering::Relaxed);
    let date = h("x-amz-date");
    if p.access_key != cfg.access_key || !date.starts_with(&p.date) {
        return Err("signature does not match");
    }
    // The signature is valid for about 15 minutes either way.
    let when = humantime::parse_rfc3339(&format!(
        "{}-{}-{}T{}:{}:{}Z",
        date.get(0..4).unwrap_or(""),
        date.get(4..6).unwrap_or(""),
        date.get(6..8).unwrap_or(""),
        date.get(9..11).unwrap_or(""),
        date.get(11..13).unwrap_or(""),
        date.get(13..15).unwrap_or("")
    ));
    let fresh = when.ok().is_some_and(|t| {
        let now = SystemTime::now();
        let skew = now
            .duration_since(t)
            .or_else(|_| t.duration_since(now))
            .unwrap_or(Duration::MAX);
        skew <= Duration::from_secs(15 * 60)
    });
    if !fresh {
        return Err("request expired");
    }
    let expected = scp_auth::expected(method.as_str(), path, headers, body, &p, &cfg.secret_key)?;
    if expected != p.signature {
        return Err("signature does not match");
    }
    Ok(())
}

/// Every janus path: limits and ban, auth, faults, then the data.
async fn janus(
    State(sim): State<Arc<ScpSim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let cfg = sim.cfg();
    let path = uri.path().to_string();
    if sim.banned() {
        sim.counters
            .refused_while_banned
            .fetch_add(1, Ordering::Relaxed);
        sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
        return envelope(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "Too Many Requests",
            json!({}),
        );
    }
    if path == "/janus/public-key" || path == "/janus/v2/public-key" {
        if !sim.public_key_window.admit() {
            sim.counters
                .public_key_refusals
                .fetch_add(1, Ordering::Relaxed);
            return envelope(StatusCode::FORBIDDEN, 403, "Forbidden", json!({}));
        }
        return ok(json!({"public_key": format!("{RSA_MODULUS_HEX}\n")}));
    }
    let window = if method == Method::GET {
        &sim.get_window
    } else {
        &sim.write_window
    };
    if !window.admit() {
        sim.ban(cfg.ban);
        sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
        return envelope(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            "Too Many Requests",
            json!({}),
        );
    }
    if method == Method::GET {
        sim.counters.gets.fetch_add(1, Ordering::Relaxed);
    }
    *sim.counters
        .by_path
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_insert(0) += 1;
    if path == "/janus/authenticate" && method == Method::POST {
        return login(&sim, &cfg, &body);
    }
    if let Some(rest) = path.strip_prefix("/openstack/") {
        return openstack(&sim, &cfg, &method, rest, &headers, &body);
    }
    if let Err(why) = authenticate(&sim, &cfg, &method, &path, &headers, &body) {
        return unauthorized(&sim, why);
    }
    let fault = sim.faults.next().await;
    match fault {
        Fault::Error => {
            return envelope(
                StatusCode::INTERNAL_SERVER_ERROR,
                500,
                "Internal Server Error",
                json!({}),
            )
        }
        Fault::Throttle => {
            sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return envelope(
                StatusCode::TOO_MANY_REQUESTS,
                429,
                "Too Many Requests",
                json!({}),
            );
        }
        _ => {}
    }
    let (parts, body) = route(&sim.fleet, &cfg, &path, &q).into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    (parts, fault.mangle(bytes.to_vec())).into_response()
}

fn not_found() -> Response {
    envelope(StatusCode::NOT_FOUND, 404, "Not Found", json!({}))
}

fn route(f: &Fleet, cfg: &ScpSimConfig, path: &str, q: &HashMap<String, String>) -> Response {
    let Some(rest) = path.strip_prefix("/janus/") else {
        return not_found();
    };
    let mut parts = rest.split('/');
    let version = parts.next().unwrap_or("");
    let resource = parts.next().unwrap_or("");
    let tail: Vec<&str> = parts.collect();
    if !served_versions(resource, &tail).contains(&version) || version > cfg.max_version {
        return not_found();
    }
    match (resource, tail.as_slice()) {
        ("system", ["version"]) => ok(f.system_version.clone()),
        ("platform", []) => ok(f.platform.clone()),
        ("overview", []) => ok(f.overview.clone()),
        ("azs", []) => page(&f.azs, q),
        ("azs", [id]) => f
            .az_details
            .get(*id)
            .map_or_else(not_found, |d| ok(d.clone())),
        ("hosts", []) => page_where(&f.hosts, q, Some("az_id")),
        ("clusters", []) => page_where(&f.clusters, q, Some("az_id")),
        ("storages", []) => page_where(&f.storages, q, Some("az_id")),
        ("servers", []) => page_where(&f.servers, q, Some("az_id")),
        ("projects", []) => projects(&f.projects, q),
        ("floatingips", []) => page_where(&f.floating_ips, q, Some("floatingip_pool_id")),
        ("quotas", []) => page(&f.quotas, q),
        ("oss-accounts", []) => page(&f.oss_accounts, q),
        ("volumes", []) => page_where(&f.volumes, q, Some("az_id")),
        ("metrics", [id]) if q.get("object_type").map(String::as_str) == Some("az") => f
            .pool_metrics
            .get(*id)
            .map_or_else(not_found, |m| ok(m.clone())),
        ("alarms", []) => page(&f.alarms, q),
        ("licenses", ["summary"]) => ok(f.licenses.clone()),
        ("floatingipools" | "floatingippools", []) if resource == cfg.eip_pool_list_path => {
            page(&f.eip_pools, q)
        }
        ("floatingippools", [id]) => f
            .eip_pool_details
            .get(*id)
            .map_or_else(not_found, |d| ok(d.clone())),
        ("accelerators", ["azs", id, "gpu"]) => {
            page(f.gpus.get(*id).map(Vec::as_slice).unwrap_or(&[]), q)
        }
        _ => not_found(),
    }
}

/// `POST /janus/authenticate`: decrypts the password with the test key and issues a token.
fn login(sim: &ScpSim, cfg: &ScpSimConfig, body: &[u8]) -> Response {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let creds = &v["auth"]["passwordCredentials"];
    let password = creds["password"]
        .as_str()
        .and_then(|c| scp_auth::decrypt_password(RSA_MODULUS_HEX, RSA_PRIVATE_EXPONENT_HEX, c));
    let ok_login = creds["username"] == cfg.username.as_str()
        && password.as_deref() == Some(cfg.password.as_bytes());
    if !ok_login {
        sim.counters.logins_failed.fetch_add(1, Ordering::Relaxed);
        return envelope(
            StatusCode::UNAUTHORIZED,
            401,
            "username or password error",
            json!({}),
        );
    }
    // A recognisable prefix lets tests prove a token never reaches a log.
    let id = format!("scptok{:026x}", sim.faults.random() >> 24);
    sim.tokens.issue(id.clone(), cfg.token_ttl);
    sim.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now();
    let at = |t: SystemTime| humantime::format_rfc3339_micros(t).to_string();
    ok(
        json!({"access": {"token": {"issued_at": at(now), "expires": at(now + cfg.token_ttl), "id": id,
        "tenant": {"id": "admin", "enabled": true, "name": "admin"}, "audit_ids": []},
        "user": {"username": cfg.username, "roles_links": [], "name": cfg.username, "roles": [{"name": "admin"}], "id": "u1"}}}),
    )
}

/// The OpenStack API's pieces headroom reads: the Keystone v2 tenant login and Nova's flavor
/// list. Its answers are OpenStack's own (no janus envelope); its requests count in the same
/// per-IP windows as janus's.
fn openstack(
    sim: &ScpSim,
    cfg: &ScpSimConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let unauthorized = |m: &str| {
        sim.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": m, "code": 401, "title": "Unauthorized"}})),
        )
            .into_response()
    };
    match (method, path) {
        (&Method::POST, "identity/v2.0/tokens") => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let (tenant, user, password) = &cfg.openstack_tenant;
            let a = &v["auth"];
            let ok_login = a["tenantName"] == tenant.as_str()
                && a["passwordCredentials"]["username"] == user.as_str()
                && a["passwordCredentials"]["password"] == password.as_str();
            if !ok_login {
                sim.counters.logins_failed.fetch_add(1, Ordering::Relaxed);
                return unauthorized("The request you have made requires authentication.");
            }
            let id = format!("ostok{:027x}", sim.faults.random() >> 16);
            // The document's example: a token for an hour.
            let ttl = Duration::from_secs(3600).min(cfg.token_ttl);
            sim.tokens.issue(id.clone(), ttl);
            sim.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
            let now = SystemTime::now();
            let at = |t: SystemTime| humantime::format_rfc3339_micros(t).to_string();
            Json(json!({"access": {"token": {"issued_at": at(now), "expires": at(now + ttl), "id": id},
                "tenant": {"enabled": true, "description": "", "name": tenant, "id": "05fdace24e26440a8974fcfff5293157"}}}))
            .into_response()
        }
        (&Method::GET, "compute/v2/flavors/detail") => {
            let token = headers
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !token.starts_with("ostok") || !sim.tokens.valid(token) {
                return unauthorized("The request you have made requires authentication.");
            }
            Json(json!({"flavors": sim.fleet.flavors})).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({"itemNotFound": {"message": "not found", "code": 404}})),
        )
            .into_response(),
    }
}
