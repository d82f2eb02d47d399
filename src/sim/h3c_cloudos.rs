//! The H3C CloudOS simulator: the Keystone token endpoint, the documented gateway paths with
//! their special headers (a missing one gets the documented error body), `limit`/`marker`
//! paging of the server list, a seeded fleet consistent across APIs (hypervisor allocation is
//! the sum of its servers, quota usage the sum of a project's servers, shared storage pools
//! listed under every node as the real API does), the vendor examples as a data set, and fault
//! switches.
//!
//! Control endpoints (not part of CloudOS): `GET /sim/stats`, `POST /sim/faults` (a JSON
//! [`Faults`]), `POST /sim/expire-tokens`, `POST /sim/credentials` (`{"password": ...}`).

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

use super::{Fault, FaultState, Faults, SlidingWindow, TokenStore, Truth};

/// Which data the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// A seeded synthetic fleet, consistent across APIs.
    Fleet,
    /// The vendor document's example responses (`tests/fixtures/h3c_cloudos/`).
    Examples,
}

/// Credentials, limits and size of the simulated platform.
#[derive(Clone, Debug)]
pub struct CloudosSimConfig {
    pub seed: u64,
    pub dataset: Dataset,
    /// Availability zones, each one host aggregate and one CAS compute node.
    pub azs: usize,
    pub hosts: usize,
    pub servers: usize,
    pub username: String,
    pub password: String,
    pub domain: String,
    pub project: String,
    /// The admin project's id: the `{tenant_id}` of the compute paths.
    pub project_id: String,
    pub token_ttl: Duration,
    /// Requests per minute before a 429 (none documented; `None`: unlimited).
    pub rate_limit_per_minute: Option<usize>,
    pub faults: Faults,
}

impl Default for CloudosSimConfig {
    fn default() -> Self {
        CloudosSimConfig {
            seed: 11,
            dataset: Dataset::Fleet,
            azs: 2,
            hosts: 8,
            servers: 60,
            username: "admin".into(),
            password: "demo-password".into(),
            domain: "Default".into(),
            project: "admin".into(),
            project_id: "9052ae85792143ff955c35c52e8e41bd".into(),
            token_ttl: Duration::from_secs(3600),
            rate_limit_per_minute: None,
            faults: Faults::default(),
        }
    }
}

/// Everything the simulator serves.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub hypervisors: Vec<Value>,
    pub aggregates: Vec<Value>,
    /// `os-hosts` entries of the block-storage services.
    pub storage_hosts: Vec<Value>,
    /// `os-services` of the compute AZs (`H3CloudOS-Core-Target: compute`).
    pub compute_services: Vec<Value>,
    /// `hostpool` entries per AZ host name (`None` key: the answer for any name).
    pub hostpools: BTreeMap<String, Vec<Value>>,
    pub compute_nodes: Vec<Value>,
    /// `clusters-hosts` per compute node name.
    pub virt_clusters: BTreeMap<String, Value>,
    /// CAS `hostDetail` per (compute node, host id).
    pub cas_hosts: BTreeMap<(String, String), Value>,
    /// VMware `hosts/detail` per (compute node, cluster id).
    pub vmware_hosts: BTreeMap<(String, String), Value>,
    /// VMware `vms/detail?host=` per (compute node, cluster id, host morId).
    pub vmware_vms: BTreeMap<(String, String, String), Vec<Value>>,
    pub nodes: Vec<Value>,
    pub flavors: Vec<Value>,
    pub servers: Vec<Value>,
    pub all_limits: Vec<Value>,
    pub projects: Vec<Value>,
    /// GPU device ids per server id.
    pub gpus: BTreeMap<String, Vec<String>>,
    /// What the fleet holds (empty for the vendor examples).
    pub truth: Truth,
}

/// Nova's CPU allocation ratio on the simulated site (4:1). The API does not expose it; a
/// target set to `cloudos.cpu_allocation_ratio: 4.0` reports what the site may allocate.
pub const CPU_ALLOCATION_RATIO: f64 = 4.0;

/// One Nova hypervisor of the simulated fleet: a CAS host, or a whole VMware cluster.
struct SimHypervisor {
    az: usize,
    compute: String,
    hostname: String,
    vmware: bool,
    vcpus: u64,
    memory_mb: u64,
    disk_gb: u64,
}

/// The text of one vendor-example fixture (`tests/fixtures/h3c_cloudos/NAME.json`).
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/h3c_cloudos/", $name, ".json"))
    };
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

/// (name, vCPUs, RAM MB, disk GB); c4.large also has a 20 GB ephemeral disk, which Nova places
/// on the host beside the root disk (`EPHEMERAL_GB`).
const FLAVORS: &[(&str, u64, u64, u64)] = &[
    ("c1.small", 1, 2048, 40),
    ("c2.medium", 2, 4096, 60),
    ("c4.large", 4, 16384, 100),
    ("g4.gpu", 8, 32768, 200),
];

/// The ephemeral disk (GB) of each flavor of [`FLAVORS`].
fn ephemeral_gb(name: &str) -> u64 {
    if name == "c4.large" {
        20
    } else {
        0
    }
}

impl Fleet {
    /// The synthetic platform: CAS hosts in each AZ and, in the first, a VMware cluster that
    /// Nova reports as one hypervisor (its figures the sums of its two ESXi hosts). The truth is
    /// summed from the same hosts, servers and storage pools as they are made.
    pub fn generate(cfg: &CloudosSimConfig) -> Fleet {
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let mut f = Fleet::default();
        let mut truth = Truth::default();
        const MIB: f64 = 1_048_576.0;
        const GIB: f64 = 1_073_741_824.0;
        let tenants: Vec<(String, String)> = ["finance", "retail", "research"]
            .iter()
            .map(|n| (format!("{:032x}", rng.u128(..)), n.to_string()))
            .collect();
        f.projects = tenants.iter().map(|(id, name)| json!({"id": id, "name": name, "enabled": true, "domain_id": "default", "parent_id": cfg.project_id, "type": "PUBLIC"})).collect();
        let flavor_ids: Vec<String> = FLAVORS.iter().map(|_| uuid(&mut rng)).collect();
        f.flavors = FLAVORS.iter().zip(&flavor_ids).map(|((name, vcpus, ram, disk), id)| {
            // Numbers as strings, as the document's example sends them.
            json!({"id": id, "name": name, "ram": ram.to_string(), "vcpus": vcpus.to_string(), "disk": disk.to_string(), "swap": "", "OS-FLV-DISABLED:disabled": false, "os-flavor-access:is_public": true, "rxtx_factor": "1.0", "OS-FLV-EXT-DATA:ephemeral": ephemeral_gb(name).to_string()})
        }).collect();
        let azs = cfg.azs.max(1);
        let mut hosts: Vec<SimHypervisor> = Vec::new();
        for a in 0..azs {
            let az = format!("az{}", a + 1);
            let compute = format!("compcas{}", a + 1);
            let cvm_ip = format!("10.{}.0.1", a + 1);
            let cluster = format!("cluster-{}", a + 1);
            let in_az: Vec<usize> = (0..cfg.hosts).filter(|i| i % azs == a).collect();
            let mut children = Vec::new();
            let mut pools = Vec::new();
            let shared_total = 10_485_760u64 * (in_az.len() as u64).max(1);
            let shared_free = shared_total / 2 + rng.u64(..shared_total / 4);
            for (k, i) in in_az.iter().enumerate() {
                let cvk = format!("cvknode{}", i + 1);
                children.push(json!({"name": cvk, "morId": (k + 1).to_string(), "type": "cas"}));
                hosts.push(SimHypervisor {
                    az: a,
                    compute: compute.clone(),
                    hostname: format!("{cvk}(CVM{cvm_ip})"),
                    vmware: false,
                    vcpus: 64,
                    memory_mb: 524_288,
                    disk_gb: 4000,
                });
                f.cas_hosts.insert((compute.clone(), (k + 1).to_string()), json!({
                    "name": cvk, "id": (k + 1).to_string(), "ip": format!("10.{}.1.{}", a + 1, k + 1), "mask": "255.255.255.0", "model": "UIS R390X G2", "vendor": "H3C",
                    "cpuCount": "64", "cpuModel": "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz", "cpuFrequence": "2000", "diskSize": "3251608", "memorySize": "524288", "status": "1",
                    "cpuSockets": "2", "cpuCores": "16", "serialNumber": "", "cpuRate": format!("{:.2}", 20.0 + rng.f64() * 50.0), "memRate": format!("{:.2}", 30.0 + rng.f64() * 40.0),
                    "vmNum": "0", "diskRate": format!("{:.1}", 10.0 + rng.f64() * 60.0), "localStorage": "3.10TB", "cpuSize": "2 * 16 * 2 核", "cpuHz": "2.00GHz"
                }));
                // The shared pool appears under every node of the cluster (the double-counting
                // trap); each node also has its own local pool.
                let hp = format!("hostpool{}", a + 1);
                if k == 0 {
                    let at = [("pool", hp.as_str()), ("datastore", "iscsishared")];
                    truth.add("capacity", "storage", &at, shared_total as f64 * MIB);
                    truth.add("free", "storage", &at, shared_free as f64 * MIB);
                    truth.add("allocated", "storage", &at, (shared_total * 2) as f64 * MIB);
                }
                let local = format!("local@{cvk}");
                let at = [("pool", hp.as_str()), ("datastore", local.as_str())];
                truth.add("capacity", "storage", &at, 1_220_146.0 * MIB);
                truth.add("free", "storage", &at, 1_000_000.0 * MIB);
                truth.add("allocated", "storage", &at, 500_000.0 * MIB);
                pools.push(json!({"clusterName": cluster, "hpName": hp, "nodename": format!("{cvk}(CVM{cvm_ip})"), "storagePools": [
                    {"status": 1, "preAllocation": shared_total * 2, "name": "iscsishared", "totalSize": shared_total, "path": "/vms/iscsishared", "type": "fs", "freeSize": shared_free},
                    {"status": 1, "preAllocation": 500_000, "name": "local", "totalSize": 1_220_146, "path": "/vms/local", "type": "dir", "freeSize": 1_000_000}
                ]}));
            }
            f.virt_clusters.insert(compute.clone(), json!({"clusters": [{"name": cluster, "morId": (a + 1).to_string(), "type": "cas", "subType": "cluster", "children": children}]}));
            f.compute_nodes.push(json!({"hostName": compute, "vmType": 2, "hostIp": cvm_ip, "userName": "admin", "password": "cas-secret-pw", "poolName": format!("hostpool{}", a + 1),
                "vxlanOverlayMode": 3, "storageZone": format!("cinder{}", a + 1), "clusterName": cluster, "clusterId": (a + 1).to_string(), "transport_URI": "rabbit://openstack:cas-secret-pw@rabbitmq", "allPass": "cas-secret-pw"}));
            // The first AZ also holds the VMware cluster's compute service.
            let members = if a == 0 {
                vec![compute.clone(), "vcenter1-compute".to_string()]
            } else {
                vec![compute.clone()]
            };
            for m in &members {
                f.compute_services.push(json!({"id": f.compute_services.len() + 20, "status": "enabled", "binary": "nova-compute", "zone": az, "state": "up", "updated_at": "2026-11-24T09:48:25.484Z", "host": m, "disabled_reason": ""}));
            }
            // The last AZ of several is the site's default AZ (`default_availability_zone`):
            // its hosts are in no AZ aggregate, only their compute services name the zone.
            if a + 1 < azs || azs == 1 {
                f.aggregates.push(json!({"availability_zone": az, "created_at": {}, "deleted": false, "deleted_at": {}, "hosts": members, "id": a + 1, "metadata": {"availability_zone": az}, "name": format!("{az}-agg"), "updated_at": {}}));
            }
            let storage_host = format!("cinder-{az}");
            f.storage_hosts
                .push(json!({"zone": az, "host_name": storage_host, "service": "cinder-volume"}));
            f.hostpools.insert(storage_host, pools);
        }
        f.storage_hosts.push(
            json!({"zone": "internal", "host_name": "cinder-scheduler", "service": "scheduler"}),
        );
        f.compute_services.push(json!({"id": 13, "status": "enabled", "binary": "nova-scheduler", "zone": "internal", "state": "up", "updated_at": "2026-11-24T09:48:25.484Z", "host": "nova-service", "disabled_reason": ""}));

        // The VMware cluster as Nova's VMware driver reports it: one hypervisor whose vCPUs,
        // memory and disk are its two ESXi hosts' (80 threads and 768 GiB each).
        hosts.push(SimHypervisor {
            az: 0,
            compute: "vcenter1-compute".into(),
            hostname: format!("domain-c7.{}", uuid(&mut rng)),
            vmware: true,
            vcpus: 2 * 80,
            memory_mb: 2 * 786_432,
            disk_gb: 8000,
        });

        // Servers on hosts, within each host's capacity at 4:1 CPU overcommit. A server on the
        // VMware cluster runs on one of its ESXi hosts, in turn.
        const ESX: [(&str, &str); 2] = [("esx-01", "host-11"), ("esx-02", "host-12")];
        let mut esx_used: [(u64, u64); 2] = [(0, 0); 2];
        let mut esx_turn = 0usize;
        let mut used: Vec<(u64, u64, u64, u64)> = vec![(0, 0, 0, 0); hosts.len()];
        let mut usage: BTreeMap<usize, (u64, u64, u64)> = BTreeMap::new();
        for n in 0..cfg.servers {
            if hosts.is_empty() {
                break;
            }
            let h = n % hosts.len();
            let fl = if n % 10 == 9 { 3 } else { n % 3 };
            let (name, vcpus, ram, disk) = FLAVORS[fl];
            let disk = disk + ephemeral_gb(name);
            let t = n % tenants.len();
            let hv = &hosts[h];
            let id = uuid(&mut rng);
            used[h].0 += vcpus;
            used[h].1 += ram;
            used[h].2 += disk;
            used[h].3 += 1;
            let u = usage.entry(t).or_default();
            u.0 += vcpus;
            u.1 += ram;
            u.2 += 1;
            let az = format!("az{}", hv.az + 1);
            let at = [("az", az.as_str())];
            truth.add("allocated", "vcpu", &at, vcpus as f64);
            truth.add("allocated", "memory", &at, ram as f64 * MIB);
            truth.add("allocated", "local_disk", &at, disk as f64 * GIB);
            truth.add("allocated", "instances", &at, 1.0);
            if fl == 3 {
                let cards = 1 + n % 2;
                truth.add("allocated", "gpu", &at, cards as f64);
                f.gpus
                    .insert(id.clone(), (0..cards).map(|_| uuid(&mut rng)).collect());
            }
            if hv.vmware {
                let e = esx_turn % ESX.len();
                esx_turn += 1;
                esx_used[e].0 += vcpus;
                esx_used[e].1 += ram;
                f.vmware_vms
                    .entry(("vcenter1".into(), "domain-c7".into(), ESX[e].1.into()))
                    .or_default()
                    .push(json!({"name": format!("vm-{n:05}"), "morId": format!("vm-{}", 600 + n), "hostName": ESX[e].0, "powerState": if n % 13 == 0 { "POWERED_OFF" } else { "POWERED_ON" },
                        "instanceUuid": id, "numCpu": vcpus, "memorySizeMB": ram, "memorySizeGB": ram / 1024, "totalCapacityGB": disk, "usedCapacityGB": disk / 3,
                        "targetHostMorID": ESX[e].1, "targetDataStoreMorID": "datastore-12", "template": false, "networks": [], "disks": []}));
            }
            f.servers.push(json!({"id": id, "name": format!("vm-{n:05}"), "status": if n % 13 == 0 { "SHUTOFF" } else { "ACTIVE" }, "tenant_id": tenants[t].0, "user_id": "u",
                "flavor": {"id": flavor_ids[fl], "links": []}, "image": {"id": "img"}, "OS-EXT-AZ:availability_zone": az,
                "OS-EXT-SRV-ATTR:host": hv.compute, "OS-EXT-SRV-ATTR:hypervisor_hostname": hv.hostname, "OS-EXT-STS:power_state": 1, "created": 1_504_948_592_000u64}));
        }
        for (i, hv) in hosts.iter().enumerate() {
            let (vcpus_used, ram_used, disk_used, vms) = used[i];
            let (vcpus, mem, disk) = (hv.vcpus, hv.memory_mb, hv.disk_gb);
            let az = format!("az{}", hv.az + 1);
            let at = [("az", az.as_str())];
            // The hypervisor at index 5 is disabled for scheduling: it takes no instances, so
            // its capacity is unusable and it adds nothing to what may be allocated or is free
            // (its instances still hold what they hold).
            let usable = i != 5;
            if usable {
                truth.add("capacity", "cpu_threads", &at, vcpus as f64);
                truth.add(
                    "allocatable",
                    "vcpu",
                    &at,
                    vcpus as f64 * CPU_ALLOCATION_RATIO,
                );
                truth.add("capacity", "memory", &at, mem as f64 * MIB);
                // Memory and disk are not overcommitted on the simulated site (1:1).
                truth.add("allocatable", "memory", &at, mem as f64 * MIB);
                truth.add("free", "memory", &at, (mem - ram_used) as f64 * MIB);
                truth.add("capacity", "local_disk", &at, disk as f64 * GIB);
                truth.add("allocatable", "local_disk", &at, disk as f64 * GIB);
                truth.add("free", "local_disk", &at, (disk - disk_used) as f64 * GIB);
            } else {
                let at = [("az", az.as_str()), ("reason", "disabled")];
                truth.add("unusable", "cpu_threads", &at, vcpus as f64);
                truth.add("unusable", "memory", &at, mem as f64 * MIB);
                truth.add("unusable", "local_disk", &at, disk as f64 * GIB);
            }
            let at: BTreeMap<String, String> = [("az".to_string(), az.clone())].into();
            if hv.vmware {
                truth.disk_groups.insert(
                    hv.hostname.clone(),
                    super::DiskGroupTruth {
                        allocatable: disk as f64 * GIB,
                        allocated: disk_used as f64 * GIB,
                    },
                );
                for (e, (name, _)) in ESX.iter().enumerate() {
                    truth.hosts.push(super::HostTruth {
                        host: name.to_string(),
                        at: at.clone(),
                        usable,
                        vcpu_allocatable: 80.0 * CPU_ALLOCATION_RATIO,
                        vcpu_allocated: esx_used[e].0 as f64,
                        memory_allocatable: 786_432.0 * MIB,
                        memory_allocated: esx_used[e].1 as f64 * MIB,
                        disk_allocatable: None,
                        disk_allocated: None,
                        disk_group: Some(hv.hostname.clone()),
                        gpus: BTreeMap::new(),
                    });
                }
            } else {
                truth.hosts.push(super::HostTruth {
                    host: hv.hostname.split("(CVM").next().unwrap_or("").to_string(),
                    at,
                    usable,
                    vcpu_allocatable: vcpus as f64 * CPU_ALLOCATION_RATIO,
                    vcpu_allocated: vcpus_used as f64,
                    memory_allocatable: mem as f64 * MIB,
                    memory_allocated: ram_used as f64 * MIB,
                    disk_allocatable: Some(disk as f64 * GIB),
                    disk_allocated: Some(disk_used as f64 * GIB),
                    disk_group: None,
                    gpus: BTreeMap::new(),
                });
            }
            let kind = if hv.vmware {
                "VMware vCenter Server"
            } else {
                "QEMU"
            };
            let ip = if hv.vmware {
                "10.9.0.1".to_string()
            } else {
                format!("10.{}.1.{}", hv.az + 1, i + 1)
            };
            f.hypervisors.push(json!({"status": if i == 5 { "disabled" } else { "enabled" }, "service": {"host": hv.compute, "disabled_reason": null, "id": (i + 10).to_string()},
                "state": "up", "id": (i + 1).to_string(), "hypervisor_hostname": hv.hostname, "vcpus_used": vcpus_used, "hypervisor_type": kind,
                "local_gb_used": disk_used, "vcpus": vcpus, "memory_mb_used": ram_used, "memory_mb": mem, "current_workload": 0, "host_ip": ip,
                "cpu_info": null, "running_vms": vms, "free_disk_gb": disk - disk_used, "hypervisor_version": 2007, "disk_available_least": null, "local_gb": disk, "free_ram_mb": mem - ram_used}));
            let cvk = hv.hostname.split("(CVM").next().unwrap_or("");
            if let Some(d) = f.cas_hosts.values_mut().find(|d| d["name"] == cvk) {
                d["vmNum"] = json!(vms.to_string());
            }
        }
        // A VMware compute node with one cluster of two hosts.
        f.compute_nodes.push(json!({"hostName": "vcenter1", "vmType": 1, "hostIp": "10.9.0.1", "userName": "administrator@vsphere.local", "password": "vc-secret-pw", "clusterName": "vmw-cluster"}));
        f.virt_clusters.insert("vcenter1".into(), json!({"clusters": [{"name": "vmw-cluster", "morId": "domain-c7", "type": "ClusterComputeResource",
            "children": [{"name": "esx-01", "morId": "host-11", "type": "HostSystem"}, {"name": "esx-02", "morId": "host-12", "type": "HostSystem"}]}]}));
        let esx = |name: &str, mor: &str, cpu: f64, mem: f64| {
            json!({"name": name, "morId": mor, "model": "R4900 G3", "vendor": "H3C", "cpuModel": "Intel(R) Xeon(R) Gold 6230",
            "numCpuThreads": 80, "cpuMHz": 2100, "numCpuPkgs": 2, "numCpuCores": 40, "cpuUsagePercent": cpu, "memorySize": 786432, "memoryUsagePercent": mem, "numVms": 12,
            "nicCount": 4, "uptime": 976733, "powerState": "POWERED_ON", "inMaintenanceMode": false, "connectionState": "CONNECTED", "overallCpuUsage": 1449, "overallMemoryUsage": 39456, "vmRefs": []})
        };
        f.vmware_hosts.insert(("vcenter1".into(), "domain-c7".into()), json!({"hosts": [esx("esx-01", "host-11", 31.5, 44.0), esx("esx-02", "host-12", 12.25, 61.5)]}));
        // A template on the first ESXi host: registered, but no instance (it holds nothing).
        f.vmware_vms
            .entry(("vcenter1".into(), "domain-c7".into(), "host-11".into()))
            .or_default()
            .push(json!({"name": "tpl-centos7", "morId": "vm-99", "hostName": "esx-01", "powerState": "POWERED_OFF", "numCpu": 16, "memorySizeMB": 65536, "template": true, "networks": [], "disks": []}));
        truth.flavors = FLAVORS
            .iter()
            .map(|(name, vcpus, ram, disk)| super::FlavorTruth {
                name: name.to_string(),
                vcpus: *vcpus as f64,
                memory: *ram as f64 * MIB,
                disk: (*disk + ephemeral_gb(name)) as f64 * GIB,
                gpus: 0.0,
                gpu_model: None,
            })
            .collect();

        // Bare metal: one of each interesting state.
        for (k, (state, maintenance, with_instance)) in [
            ("active", false, true),
            ("available", false, false),
            ("available", false, false),
            ("available", true, false),
            ("manageable", false, false),
            ("deploy failed", false, false),
        ]
        .iter()
        .enumerate()
        {
            f.nodes.push(json!({"uuid": uuid(&mut rng), "name": format!("bm-{k}"), "provision_state": state, "power_state": if *with_instance { "power on" } else { "power off" },
                "maintenance": maintenance, "instance_uuid": if *with_instance { json!(uuid(&mut rng)) } else { json!(null) }, "driver": "pxe_ipmitool",
                "driver_info": {"ipmi_address": "172.25.16.228", "ipmi_username": "admin", "ipmi_password": "******"},
                "properties": {"cpus": "32", "memory_mb": "262144", "local_gb": "4462", "availabilityZone": "bm1", "cpu_arch": "x86_64", "password": "ipmi-secret-pw"}}));
        }

        // Quotas: usage is what each project's servers hold; one project has unlimited cores.
        // Keystone quotas are per project, not per AZ: their sum is the target's promise.
        let mut limits = Truth::default();
        for t in 0..tenants.len() {
            if t != 2 {
                limits.add("quota_limit", "vcpu", &[], 400.0);
            }
            limits.add("quota_limit", "memory", &[], 819_200.0 * MIB);
        }
        truth.quota_limits = limits.figures;
        for (t, (id, _)) in tenants.iter().enumerate() {
            let (cores, ram, count) = usage.get(&t).copied().unwrap_or_default();
            f.all_limits.push(json!({"rate": [], "absolute": {"projectId": id,
                "maxTotalCores": if t == 2 { -1 } else { 400 }, "totalCoresUsed": cores, "maxTotalRAMSize": 819_200, "totalRAMUsed": ram,
                "maxTotalInstances": 200, "totalInstancesUsed": count, "maxTotalVolumeGigabytes": 10000, "totalGigabytesUsed": 500 * (t + 1),
                "maxTotalVolumes": 100, "totalVolumesUsed": 2 + t, "maxTotalSnapshots": 100, "totalSnapshotsUsed": t, "maxTotalBackups": 100, "totalBackupsUsed": 0,
                "maxTotalFloatingIps": 20, "totalFloatingIpsUsed": 3 + t, "maxNetworks": 10, "totalNetworksUsed": 2, "maxSubnets": 20, "totalSubnetsUsed": 4,
                "maxLoadbalancers": 5, "totalLoadbalancersUsed": 1, "maxVpc": 5, "totalVpcUsed": 1,
                "network_addresses": [{"cidr": "10.200.0.0/16", "ip_pools": [{"start_ip": "10.200.0.1", "end_ip": "10.200.255.254"}]}]}}));
        }
        f.truth = truth;
        f
    }

    /// The vendor document's examples, served as they are.
    pub fn examples() -> Fleet {
        let v = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
        let key = |text: &str, k: &str| {
            v(text)
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut f = Fleet {
            hypervisors: key(fixture!("hypervisors"), "hypervisors"),
            aggregates: key(fixture!("aggregates"), "aggregates"),
            storage_hosts: key(fixture!("os_hosts"), "services"),
            compute_services: key(fixture!("os_services"), "services"),
            compute_nodes: v(fixture!("computenode"))
                .as_array()
                .cloned()
                .unwrap_or_default(),
            nodes: key(fixture!("baremetal_nodes"), "nodes"),
            flavors: key(fixture!("flavors_detail"), "flavors"),
            servers: key(fixture!("servers_detail"), "servers"),
            all_limits: key(fixture!("all_limits"), "all_limits"),
            projects: key(fixture!("projects"), "projects"),
            ..Default::default()
        };
        f.hostpools
            .insert(String::new(), key(fixture!("hostpool"), "hostpool"));
        f.virt_clusters
            .insert("host191".into(), v(fixture!("cas_clusters_hosts")));
        f.cas_hosts.insert(
            ("host191".into(), "1".into()),
            v(fixture!("cas_host_detail")),
        );
        let gpus: Vec<String> = v(fixture!("instance_vgpu"))
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for s in &f.servers {
            if let Some(id) = s["id"].as_str() {
                f.gpus.insert(id.to_string(), gpus.clone());
            }
        }
        f
    }
}

#[derive(Debug, Default)]
struct Counters {
    by_path: Mutex<BTreeMap<String, u64>>,
    tokens_issued: AtomicU64,
    token_failures: AtomicU64,
    unauthorized: AtomicU64,
    missing_headers: AtomicU64,
    throttled: AtomicU64,
}

impl super::SimControl for CloudosSim {
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

/// A running CloudOS simulator's state.
pub struct CloudosSim {
    cfg: Mutex<CloudosSimConfig>,
    fleet: Fleet,
    tokens: TokenStore,
    window: Option<SlidingWindow>,
    faults: FaultState,
    counters: Counters,
}

impl CloudosSim {
    pub fn new(cfg: CloudosSimConfig) -> Arc<CloudosSim> {
        let fleet = match cfg.dataset {
            Dataset::Fleet => Fleet::generate(&cfg),
            Dataset::Examples => Fleet::examples(),
        };
        Arc::new(CloudosSim {
            window: cfg
                .rate_limit_per_minute
                .map(|n| SlidingWindow::new(n, Duration::from_secs(60))),
            faults: FaultState::new(cfg.faults.clone(), cfg.seed ^ 0xc10d),
            fleet,
            tokens: TokenStore::default(),
            cfg: Mutex::new(cfg),
            counters: Counters::default(),
        })
    }

    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    fn cfg(&self) -> CloudosSimConfig {
        self.cfg.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/os/kinton/v1/v3/auth/tokens", post(token))
            .route("/sim/stats", get(stats))
            .merge(super::control_routes())
            .route("/sim/credentials", post(set_credentials))
            .fallback(data)
            .with_state(Arc::clone(self))
    }
}

/// The documented error body.
fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({"code": status.as_u16().to_string(), "msg": msg, "data": null, "total": 0})),
    )
        .into_response()
}

async fn token(State(sim): State<Arc<CloudosSim>>, body: Bytes) -> Response {
    let cfg = sim.cfg();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let user = &v["auth"]["identity"]["password"]["user"];
    let ok = user["name"] == cfg.username.as_str()
        && user["password"] == cfg.password.as_str()
        && user["domain"]["name"] == cfg.domain.as_str()
        && v["auth"]["scope"]["project"]["name"] == cfg.project.as_str();
    if !ok {
        sim.counters.token_failures.fetch_add(1, Ordering::Relaxed);
        return error(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        );
    }
    let id = format!("gAAAAcloudos{:020x}", sim.faults.random() >> 48);
    sim.tokens.issue(id.clone(), cfg.token_ttl);
    sim.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let expires = humantime::format_rfc3339_micros(SystemTime::now() + cfg.token_ttl).to_string();
    let mut resp = (
        StatusCode::CREATED,
        Json(json!({"token": {"expires_at": expires, "methods": ["password"]}})),
    )
        .into_response();
    if let Ok(h) = id.parse() {
        resp.headers_mut().insert("x-subject-token", h);
    }
    resp
}

async fn stats(State(sim): State<Arc<CloudosSim>>) -> Json<Value> {
    let c = &sim.counters;
    Json(json!({
        "calls": *c.by_path.lock().unwrap_or_else(|e| e.into_inner()),
        "tokens_issued": c.tokens_issued.load(Ordering::Relaxed),
        "token_failures": c.token_failures.load(Ordering::Relaxed),
        "unauthorized": c.unauthorized.load(Ordering::Relaxed),
        "missing_headers": c.missing_headers.load(Ordering::Relaxed),
        "throttled": c.throttled.load(Ordering::Relaxed),
        "max_in_window": sim.window.as_ref().map(SlidingWindow::max_in_window),
    }))
}

async fn set_credentials(State(sim): State<Arc<CloudosSim>>, Json(v): Json<Value>) -> Response {
    if let Some(p) = v.get("password").and_then(Value::as_str) {
        sim.cfg.lock().unwrap_or_else(|e| e.into_inner()).password = p.to_string();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Every gateway path: limit, token, headers, faults, then the data.
async fn data(
    State(sim): State<Arc<CloudosSim>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let cfg = sim.cfg();
    let path = uri.path().to_string();
    if let Some(w) = &sim.window {
        if !w.admit() {
            sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
    }
    *sim.counters
        .by_path
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(path.clone())
        .or_insert(0) += 1;
    let valid = sim.tokens.valid(header(&headers, "x-auth-token"));
    if !valid {
        sim.counters.unauthorized.fetch_add(1, Ordering::Relaxed);
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let fault = sim.faults.next().await;
    match fault {
        Fault::Error => return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Fault::Throttle => {
            sim.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        _ => {}
    }
    let (status, body) = match route(&sim, &cfg, &path, &q, &headers) {
        Ok(v) => (StatusCode::OK, v),
        Err((status, msg)) => return error(status, &msg),
    };
    let bytes = fault.mangle(body.to_string().into_bytes());
    (status, [("content-type", "application/json")], bytes).into_response()
}

/// An error answer of `route`: the status and the documented body's message.
fn fail(status: StatusCode, msg: &str) -> (StatusCode, String) {
    (status, msg.to_string())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The Ironic API version the document's bare-metal requests send (§1.10).
const DOCUMENTED_IRONIC_VERSION: &str = "1.34";

fn route(
    sim: &CloudosSim,
    cfg: &CloudosSimConfig,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Value, (StatusCode, String)> {
    let f = &sim.fleet;
    let h = |name: &str| header(headers, name).to_string();
    let missing = |what: &str| {
        sim.counters.missing_headers.fetch_add(1, Ordering::Relaxed);
        Err(fail(
            StatusCode::BAD_REQUEST,
            &format!("missing or wrong header {what}"),
        ))
    };
    if let Some(rest) = path.strip_prefix("/os/compute/v1/v2/") {
        let (tenant, rest) = rest.split_once('/').unwrap_or((rest, ""));
        if tenant != cfg.project_id {
            return Err(fail(StatusCode::NOT_FOUND, "tenant not found"));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            ["os-hypervisors", "detail"] => Ok(json!({"hypervisors": f.hypervisors})),
            ["os-aggregates"] => Ok(json!({"aggregates": f.aggregates})),
            ["os-hosts"] | ["os-services"] => match h("h3cloudos-core-target").as_str() {
                "block_storage" => Ok(json!({"services": f.storage_hosts})),
                "compute" if parts[0] == "os-services" => {
                    Ok(json!({"services": f.compute_services}))
                }
                "compute" => Ok(
                    json!({"services": f.compute_services.iter().map(|s| json!({"zone": s["zone"], "host_name": s["host"], "service": if s["binary"] == "nova-compute" { "compute" } else { "scheduler" }})).collect::<Vec<_>>()}),
                ),
                _ => missing("H3CloudOS-Core-Target"),
            },
            ["hostpool", name] => match f.hostpools.get(*name).or_else(|| f.hostpools.get("")) {
                Some(p) => Ok(json!({"hostpool": p})),
                None => Err(fail(StatusCode::NOT_FOUND, "host not found")),
            },
            ["flavors", "detail"] => Ok(json!({"flavors": f.flavors})),
            ["servers", "detail"] => {
                // Nova keyset paging: the page after `marker`, `limit` long.
                let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(1000);
                let start = match q.get("marker") {
                    Some(m) => match f.servers.iter().position(|s| s["id"] == m.as_str()) {
                        Some(i) => i + 1,
                        None => return Err(fail(StatusCode::BAD_REQUEST, "marker not found")),
                    },
                    None => 0,
                };
                Ok(json!({"servers": f.servers.iter().skip(start).take(limit).collect::<Vec<_>>()}))
            }
            _ => Err(fail(StatusCode::NOT_FOUND, "not found")),
        };
    }
    if path == "/os/compute/v1/h3cloudos/computenode" {
        return Ok(json!(f.compute_nodes));
    }
    if let Some(rest) = path.strip_prefix("/os/compute/v1/cloudos/") {
        let parts: Vec<&str> = rest.split('/').collect();
        return match parts.as_slice() {
            [_kind, tenant, _, ..] if *tenant != cfg.project_id => {
                Err(fail(StatusCode::NOT_FOUND, "tenant not found"))
            }
            ["crm" | "vrm", _, node, "clusters-hosts"] => f
                .virt_clusters
                .get(*node)
                .cloned()
                .ok_or_else(|| fail(StatusCode::NOT_FOUND, "compute node not found")),
            ["crm", _, node, "hostDetail", id] => f
                .cas_hosts
                .get(&(node.to_string(), id.to_string()))
                .cloned()
                .ok_or_else(|| fail(StatusCode::NOT_FOUND, "host not found")),
            ["vrm", _, node, "clusters", id, "vms", "detail"] => {
                let Some(host) = q.get("host") else {
                    return Err(fail(StatusCode::BAD_REQUEST, "host is mandatory"));
                };
                Ok(
                    json!({"vms": f.vmware_vms.get(&(node.to_string(), id.to_string(), host.clone())).cloned().unwrap_or_default()}),
                )
            }
            ["vrm", _, node, "clusters", id, "hosts", "detail"] => f
                .vmware_hosts
                .get(&(node.to_string(), id.to_string()))
                .cloned()
                .ok_or_else(|| fail(StatusCode::NOT_FOUND, "cluster not found")),
            _ => Err(fail(StatusCode::NOT_FOUND, "not found")),
        };
    }
    if let Some(id) = path.strip_prefix("/os/compute/v1/v1/resource/instance_vgpu/") {
        return Ok(json!(f.gpus.get(id).cloned().unwrap_or_default()));
    }
    match path {
        "/os/kinton/v1/v1/nodes/detail" => {
            if h("h3cloudos-core-target") != "bare_metal"
                || h("x-openstack-ironic-api-version") != DOCUMENTED_IRONIC_VERSION
            {
                return missing(
                    "H3CloudOS-Core-Target: bare_metal / X-OpenStack-Ironic-API-Version",
                );
            }
            Ok(json!({"nodes": f.nodes}))
        }
        "/os/kinton/v1/keystone/all-limits" => Ok(json!({"all_limits": f.all_limits})),
        "/os/kinton/v1/v3/projects" => {
            Ok(json!({"links": {"self": "", "previous": "", "next": ""}, "projects": f.projects}))
        }
        _ => Err(fail(StatusCode::NOT_FOUND, "not found")),
    }
}
