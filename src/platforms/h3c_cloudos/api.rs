//! CloudOS API: paths under the Kong gateway, the `X-Auth-Token` and the special headers
//! (`H3CloudOS-Core-Target`, `X-OpenStack-Ironic-API-Version`), the `{code, msg, data, total}`
//! error body, `limit`/`marker` paging of the server list, and the models headroom reads
//! (lenient: numbers as strings, both spellings the document uses).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::auth::CloudosToken;
use super::{CloudosTarget, SCOPE_API};
use crate::collect::{ErrorReason, PollError};
use crate::http::{error_summary, header, sensitive, ApiClient, ApiRequest};
use crate::json::{self, Bound, Cancel, Doc, Kind, Records};
use crate::lenient::{Num, Text};

/// `H3CloudOS-Core-Target`: which service a request is for (documented for `os-services`,
/// `os-hosts` and the bare-metal APIs).
pub const CORE_TARGET: &str = "h3cloudos-core-target";
/// The Ironic microversion the bare-metal APIs require.
pub const IRONIC_VERSION: &str = "1.34";

/// The GPU device list path: the document prints it without the gateway prefix that its
/// measures API has (spec §6.2 item 12); the prefixed form is tried first, the printed one on 404.
pub const GPU_PATHS: [&str; 2] = [
    "/os/compute/v1/v1/resource/instance_vgpu",
    "/v1/resource/instance_vgpu",
];

pub use crate::http::join_url as join;

/// Special headers of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No special header.
    Plain,
    /// `H3CloudOS-Core-Target: compute` (compute AZ services).
    Compute,
    /// `H3CloudOS-Core-Target: block_storage` (storage AZ services).
    BlockStorage,
    /// `H3CloudOS-Core-Target: bare_metal` and the Ironic API version.
    BareMetal,
}

/// The CloudOS API of one target, shared by its collectors.
#[derive(Debug)]
pub struct CloudosApi {
    endpoint: reqwest::Url,
    pub settings: CloudosTarget,
    client: Arc<ApiClient>,
    token: CloudosToken,
    /// Which of [`GPU_PATHS`] answered.
    gpu_path: Mutex<Option<&'static str>>,
}

impl CloudosApi {
    pub fn new(
        endpoint: reqwest::Url,
        settings: CloudosTarget,
        client: Arc<ApiClient>,
    ) -> CloudosApi {
        CloudosApi {
            endpoint,
            settings,
            client,
            token: CloudosToken::new(),
            gpu_path: Mutex::new(None),
        }
    }

    /// `/os/compute/v1/v2/{tenant_id}` + `rest`.
    pub fn nova(&self, rest: &str) -> String {
        format!("/os/compute/v1/v2/{}{rest}", self.settings.project_id)
    }

    fn headers(
        &self,
        token: &crate::config::Secret,
        target: Target,
    ) -> Result<HeaderMap, PollError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(header("x-auth-token"), sensitive(token.expose())?);
        match target {
            Target::Plain => {}
            Target::Compute => {
                h.insert(
                    HeaderName::from_static(CORE_TARGET),
                    HeaderValue::from_static("compute"),
                );
            }
            Target::BlockStorage => {
                h.insert(
                    HeaderName::from_static(CORE_TARGET),
                    HeaderValue::from_static("block_storage"),
                );
            }
            Target::BareMetal => {
                h.insert(
                    HeaderName::from_static(CORE_TARGET),
                    HeaderValue::from_static("bare_metal"),
                );
                h.insert(
                    header("x-openstack-ironic-api-version"),
                    HeaderValue::from_static(IRONIC_VERSION),
                );
            }
        }
        Ok(h)
    }

    /// GETs one path: the payload of a 2xx answer (unwrapped from `{code, msg, data, total}`
    /// when wrapped) as a tree, `None` on 404. For small answers; lists go through
    /// [`CloudosApi::list`].
    pub async fn get(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        target: Target,
        deadline: Instant,
    ) -> Result<Option<Value>, PollError> {
        match self.get_body(api, path, query, target, deadline).await? {
            Some(body) => unwrap_body(api, &body).map(Some),
            None => Ok(None),
        }
    }

    /// The records under `key` of a list answer (`None` on 404), read item by item from the
    /// body off the runtime's threads; at most [`json::MAX_UNPAGED_ITEMS`].
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        target: Target,
        keys: &'static [&'static str],
        deadline: Instant,
    ) -> Result<Option<Records<T>>, PollError> {
        let Some(body) = self.get_body(api, path, query, target, deadline).await? else {
            return Ok(None);
        };
        json::off_runtime(api, body, move |b, cancel| {
            read_list(api, b, keys, json::MAX_UNPAGED_ITEMS, cancel)
        })
        .await
        .map(Some)
    }

    /// [`CloudosApi::list`] of a path that must exist.
    pub async fn list_required<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        path: &str,
        target: Target,
        keys: &'static [&'static str],
        deadline: Instant,
    ) -> Result<Records<T>, PollError> {
        self.list(api, path, &[], target, keys, deadline)
            .await?
            .ok_or_else(|| not_found(api, path))
    }

    /// GETs one path: the body of a 2xx answer (its envelope is for [`payload`] to check),
    /// `None` on 404. A 401 renews the token once; 403 is an `auth` error.
    pub async fn get_body(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        target: Target,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, PollError> {
        let url = join(&self.endpoint, path, query);
        for attempt in 0..2 {
            let token = self
                .token
                .get(&self.client, &self.settings, deadline)
                .await?;
            let req = ApiRequest {
                api,
                scope: SCOPE_API,
                method: Method::GET,
                url: url.clone(),
                headers: self.headers(&token, target)?,
                body: None,
            };
            let resp = self.client.send(&req, deadline).await?;
            match resp.status {
                // The envelope is checked where the body is read (off the runtime's threads).
                200..=299 => return Ok(Some(resp.body)),
                404 => return Ok(None),
                401 if attempt == 0 => {
                    self.token.invalidate(&token).await;
                    continue;
                }
                401 => return Err(PollError::new(ErrorReason::Auth, format!("{api}: token rejected (HTTP 401{}) right after a new login", error_summary(&resp.body)))),
                403 => {
                    return Err(PollError::new(
                        ErrorReason::Auth,
                        format!("{api}: access denied (HTTP 403{}); the user needs the cloud administrator role", error_summary(&resp.body)),
                    ))
                }
                other => return Err(PollError::new(ErrorReason::Http, format!("{api} answered HTTP {other}{}", error_summary(&resp.body)))),
            }
        }
        Err(PollError::new(
            ErrorReason::Auth,
            format!("{api}: token rejected twice"),
        ))
    }

    /// GETs a path that must exist.
    pub async fn get_required(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        target: Target,
        deadline: Instant,
    ) -> Result<Value, PollError> {
        self.get(api, path, query, target, deadline)
            .await?
            .ok_or_else(|| not_found(api, path))
    }

    /// Every server, following `marker` paging (`limit` per page); records that do not parse
    /// are counted. A list that needs more than `cloudos.max_pages` pages fails the poll.
    pub async fn servers(
        &self,
        deadline: Instant,
        mut each: impl FnMut(Server),
    ) -> Result<usize, PollError> {
        let limit = self.settings.page_size;
        let path = self.nova("/servers/detail");
        let mut marker: Option<String> = None;
        let mut dropped = 0;
        for _ in 0..self.settings.max_pages {
            let mut q = vec![("limit", limit.to_string())];
            if let Some(m) = &marker {
                q.push(("marker", m.clone()));
            }
            let Some(body) = self
                .get_body("servers", &path, &q, Target::Plain, deadline)
                .await?
            else {
                return Err(not_found("servers", &path));
            };
            let (page, n, last) = json::off_runtime("servers", body, move |b, cancel| {
                let doc = Doc::parse("servers", b)?;
                let list = list_in(payload("servers", doc)?, &["servers"]);
                let n = list.and_then(|l| l.array_len(cancel)).unwrap_or(0);
                crate::collect::check_page_len("servers", n, limit)?;
                let mut last = None;
                let mut page = Records::<Server>::new("servers");
                if let Some(l) = list {
                    l.each_item(cancel, |item| {
                        last = item.get("id");
                        page.add(item);
                    });
                }
                page.log_dropped();
                let last = last.and_then(|id| id.to::<String>().ok());
                Ok((page, n as u64, last))
            })
            .await?;
            dropped += page.dropped;
            page.items.into_iter().for_each(&mut each);
            match last {
                Some(id) if n >= limit && marker.as_deref() != Some(id.as_str()) => {
                    marker = Some(id)
                }
                _ => return Ok(dropped),
            }
        }
        Err(PollError::new(
            ErrorReason::PageLimit,
            format!("servers needs more than cloudos.max_pages ({}) pages of {limit}; raise cloudos.max_pages", self.settings.max_pages),
        ))
    }

    /// The GPU device ids of one server (an empty list for a server without GPUs).
    pub async fn gpu_devices(
        &self,
        server_id: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, PollError> {
        let known = *self.gpu_path.lock().unwrap_or_else(|e| e.into_inner());
        let candidates: Vec<&'static str> = match known {
            Some(p) => vec![p],
            None => GPU_PATHS.to_vec(),
        };
        for base in candidates {
            if let Some(v) = self
                .get(
                    "gpu_devices",
                    &format!("{base}/{server_id}"),
                    &[],
                    Target::Plain,
                    deadline,
                )
                .await?
            {
                *self.gpu_path.lock().unwrap_or_else(|e| e.into_inner()) = Some(base);
                return Ok(v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| Text::from_value(x).get().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default());
            }
        }
        Ok(Vec::new())
    }
}

pub fn not_found(api: &str, path: &str) -> PollError {
    PollError::new(
        ErrorReason::Http,
        format!("{api}: {path} answered 404; this CloudOS may not have it"),
    )
}

/// A 2xx body's payload as a tree (see [`payload`]).
pub fn unwrap_body(api: &str, body: &[u8]) -> Result<Value, PollError> {
    payload(api, Doc::parse(api, body)?)?.tree(api)
}

/// A 2xx body's payload: the body itself (Nova, Ironic, CloudOS), or `data` when it is wrapped
/// in `{code, msg, data, total}`, where a `code` other than empty, "0" or "200" is an error.
pub fn payload<'a>(api: &str, doc: Doc<'a>) -> Result<Doc<'a>, PollError> {
    let ([code, msg, data], fields) = doc.fields(["code", "msg", "data"]);
    let (Some(code), Some(msg), Some(data)) = (code, msg, data) else {
        return Ok(doc);
    };
    if fields > 4 {
        return Ok(doc);
    }
    let code = code.to::<Text>().unwrap_or_default();
    if code.get().is_some_and(|c| c != "0" && c != "200") {
        let msg = msg.to::<Text>().unwrap_or_default();
        let msg: String = msg.as_str().chars().take(200).collect();
        return Err(PollError::new(
            ErrorReason::Http,
            format!("{api} answered code {}: {msg}", code.as_str()),
        ));
    }
    Ok(data)
}

/// The list in a payload: the payload itself when it is a list, else the first of `keys` that
/// holds one; `None` when there is none (read as an empty list).
pub fn list_in<'a>(payload: Doc<'a>, keys: &[&str]) -> Option<Doc<'a>> {
    if payload.kind() == Kind::Array {
        return Some(payload);
    }
    keys.iter()
        .filter_map(|k| payload.get(k))
        .find(|d| d.kind() == Kind::Array)
}

/// The typed records of a list answer's body: the payload when it is a list, else the lists
/// under each of `keys`, one after the other; at most `max` per list. Records that do not
/// parse are counted.
pub fn read_list<T: DeserializeOwned>(
    api: &str,
    body: &[u8],
    keys: &[&str],
    max: usize,
    cancel: &Cancel,
) -> Result<Records<T>, PollError> {
    let payload = payload(api, Doc::parse(api, body)?)?;
    if payload.kind() == Kind::Array {
        return payload.records(api, Bound::Items(max), cancel, |d| d);
    }
    let mut out = Records::new(api);
    for key in keys {
        if let Some(list) = payload.get(key).filter(|l| l.kind() == Kind::Array) {
            let more = list.records::<T>(api, Bound::Items(max), cancel, |d| d)?;
            out.items.extend(more.items);
            out.dropped += more.dropped;
        }
    }
    Ok(out)
}

// ---- models (spec §2) ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HypervisorService {
    pub host: Text,
}

/// A hypervisor (`os-hypervisors/detail`): allocation-based capacity per host.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Hypervisor {
    pub id: Text,
    pub hypervisor_hostname: Text,
    pub hypervisor_type: Text,
    pub host_ip: Text,
    pub state: Text,
    pub status: Text,
    pub service: HypervisorService,
    pub vcpus: Num,
    pub vcpus_used: Num,
    pub memory_mb: Num,
    pub memory_mb_used: Num,
    pub free_ram_mb: Num,
    pub local_gb: Num,
    pub local_gb_used: Num,
    pub free_disk_gb: Num,
    pub running_vms: Num,
}

impl Hypervisor {
    /// The host's name: the CAS form `cvknode191(CVM10.1.1.1)` without the manager part, so
    /// hypervisor and CAS host series carry the same `host` label.
    pub fn host_name(&self) -> &str {
        let full = self
            .hypervisor_hostname
            .get()
            .or(self.service.host.get())
            .unwrap_or("");
        match full.split_once("(CVM") {
            Some((host, _)) if !host.is_empty() => host,
            _ => full,
        }
    }

    /// The nova compute host (what aggregates list).
    pub fn compute_host(&self) -> &str {
        self.service.host.as_str()
    }

    /// Whether this hypervisor is a whole VMware cluster: Nova's VMware driver reports one
    /// hypervisor per vCenter cluster (type `VMware vCenter Server`, hostname
    /// `domain-c7.<vCenter uuid>`), its figures the sums of the cluster's ESXi hosts.
    pub fn is_vmware_cluster(&self) -> bool {
        let t = self.hypervisor_type.as_str().to_ascii_lowercase();
        t.contains("vmware") || t.contains("vcenter")
    }
}

/// A host aggregate: the AZ of the compute hosts it lists (`availability_zone`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Aggregate {
    pub name: Text,
    pub availability_zone: Text,
    pub hosts: Vec<Text>,
}

/// One compute service of `os-services` (`H3CloudOS-Core-Target: compute`, 1.7 #6): `zone` is
/// the AZ its host is in, also for a host in no AZ aggregate (Nova's default AZ).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ComputeService {
    pub binary: Text,
    pub host: Text,
    pub zone: Text,
}

/// The AZ of each nova compute host. A host aggregate's AZ is Nova's own mapping; a host in no
/// AZ aggregate is in the site's default AZ (`default_availability_zone`), which only its
/// compute service's `zone` names. Without it such a host's capacity would count in no AZ.
/// Services of the `internal` zone (scheduler, conductor) are no compute hosts.
pub fn host_azs(aggregates: &[Aggregate], services: &[ComputeService]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for s in services {
        let (Some(host), Some(zone)) = (s.host.get(), s.zone.get()) else {
            continue;
        };
        let compute = s.binary.get().is_none_or(|b| b == "nova-compute");
        if compute && zone != "internal" {
            m.insert(host.to_string(), zone.to_string());
        }
    }
    for a in aggregates {
        let Some(az) = a.availability_zone.get() else {
            continue;
        };
        for h in &a.hosts {
            if let Some(h) = h.get() {
                m.insert(h.to_string(), az.to_string());
            }
        }
    }
    m
}

/// One entry of `os-hosts` (the document's top-level key is `services`, Nova's `hosts`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceHost {
    pub zone: Text,
    pub host_name: Text,
    pub service: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StoragePool {
    pub name: Text,
    pub path: Text,
    #[serde(rename = "type")]
    pub kind: Text,
    pub status: Num,
    #[serde(rename = "totalSize")]
    pub total_size: Num,
    #[serde(rename = "freeSize")]
    pub free_size: Num,
    #[serde(rename = "preAllocation")]
    pub pre_allocation: Num,
}

/// One `hostpool` entry: a cluster (and, with `all=yes`, a node) and its storage pools.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostPool {
    #[serde(rename = "clusterName")]
    pub cluster_name: Text,
    #[serde(rename = "hpName")]
    pub hp_name: Text,
    pub nodename: Text,
    #[serde(rename = "storagePools")]
    pub storage_pools: Vec<StoragePool>,
}

/// A virtualization manager (`computenode`). Its body also carries management passwords:
/// only these fields are read, and the body is never logged.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ComputeNode {
    #[serde(rename = "hostName")]
    pub host_name: Text,
    /// 1 VMware, 2 CAS, 3 HP.
    #[serde(rename = "vmType")]
    pub vm_type: Num,
    #[serde(rename = "clusterName")]
    pub cluster_name: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClusterChild {
    pub name: Text,
    #[serde(rename = "morId")]
    pub mor_id: Text,
}

/// A CAS/VMware cluster (or CAS host pool) and its hosts.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VirtCluster {
    pub name: Text,
    #[serde(rename = "morId")]
    pub mor_id: Text,
    #[serde(rename = "subType")]
    pub sub_type: Text,
    pub children: Vec<ClusterChild>,
}

/// A CAS host (`hostDetail`); every field is a string.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CasHost {
    pub name: Text,
    pub id: Text,
    pub ip: Text,
    pub model: Text,
    pub cpu_count: Num,
    pub cpu_model: Text,
    /// MHz (the document's spelling).
    #[serde(alias = "cpuFrequency")]
    pub cpu_frequence: Num,
    pub disk_size: Num,
    pub memory_size: Num,
    pub status: Text,
    pub cpu_sockets: Num,
    pub cpu_cores: Num,
    pub cpu_rate: Num,
    pub mem_rate: Num,
    pub vm_num: Num,
    pub disk_rate: Num,
}

/// A VMware host (`hosts/detail`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VmwareHost {
    pub name: Text,
    pub mor_id: Text,
    pub model: Text,
    pub cpu_model: Text,
    pub num_cpu_threads: Num,
    #[serde(rename = "cpuMHz")]
    pub cpu_mhz: Num,
    pub num_cpu_pkgs: Num,
    pub num_cpu_cores: Num,
    pub cpu_usage_percent: Num,
    pub memory_size: Num,
    pub memory_usage_percent: Num,
    pub num_vms: Num,
    pub power_state: Text,
    pub connection_state: Text,
    pub in_maintenance_mode: Text,
}

/// A VM of one ESXi host (`vrm .../clusters/{cluster}/vms/detail?host={host}`, document 003
/// §1.13 #8): what it is given of the host.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VmwareVm {
    pub name: Text,
    pub mor_id: Text,
    pub num_cpu: Num,
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: Num,
    pub power_state: Text,
    pub template: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeProperties {
    pub cpus: Num,
    pub memory_mb: Num,
    pub local_gb: Num,
    #[serde(rename = "availabilityZone")]
    pub availability_zone: Text,
    pub cpu_arch: Text,
}

/// A bare-metal node (Ironic).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    pub uuid: Text,
    pub name: Text,
    pub provision_state: Text,
    pub power_state: Text,
    pub maintenance: Text,
    pub instance_uuid: Text,
    pub properties: NodeProperties,
}

/// One project's `absolute` limits: `max*` limits beside `total*Used` usage, by name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProjectLimits {
    pub absolute: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Project {
    pub id: Text,
    pub name: Text,
}

/// A flavor (`flavors/detail`): Nova's record, shared with SCP's OpenStack API.
pub use crate::platforms::nova::Flavor;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdRef {
    pub id: Text,
}

/// A server (`servers/detail`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    pub id: Text,
    pub name: Text,
    pub status: Text,
    pub tenant_id: Text,
    pub flavor: IdRef,
    #[serde(rename = "OS-EXT-AZ:availability_zone")]
    pub availability_zone: Text,
    #[serde(rename = "OS-EXT-SRV-ATTR:host")]
    pub host: Text,
    #[serde(rename = "OS-EXT-SRV-ATTR:hypervisor_hostname")]
    pub hypervisor_hostname: Text,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_bodies_are_raw_or_unwrapped_and_error_codes_fail() {
        assert_eq!(
            unwrap_body("t", br#"{"hypervisors":[]}"#).ok(),
            Some(json!({"hypervisors": []}))
        );
        assert_eq!(
            unwrap_body("t", br#"{"code":"0","msg":"","data":[1],"total":1}"#).ok(),
            Some(json!([1]))
        );
        let e = unwrap_body(
            "t",
            br#"{"code":"5001","msg":"boom","data":null,"total":0}"#,
        )
        .err();
        assert!(e.is_some_and(|e| e.message.contains("5001") && e.message.contains("boom")));
        assert!(unwrap_body("t", b"<html>").is_err());
    }

    #[test]
    fn cas_hypervisor_names_lose_their_manager_suffix() {
        let h: Hypervisor = serde_json::from_value(json!({"hypervisor_hostname": "cvknode191(CVM10.125.26.11)", "service": {"host": "compcas"}}))
            .unwrap_or_default();
        assert_eq!(h.host_name(), "cvknode191");
        assert_eq!(h.compute_host(), "compcas");
        let v: Hypervisor =
            serde_json::from_value(json!({"hypervisor_hostname": "esx-01"})).unwrap_or_default();
        assert_eq!(v.host_name(), "esx-01");
    }
}
