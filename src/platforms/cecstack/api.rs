//! CECSTACK ECS API: the operator and service base URLs, the mandatory `x-regionid`, the
//! `{requestId, code, message, data}` envelope (`code: "Success"`; errors are HTTP 400 with an
//! `ECS.*` code), the three paging schemes the document uses, and the models headroom reads
//! (lenient: numbers as strings, both spellings of drifting keys).

use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::auth::CecCredentials;
use super::{CecTarget, SCOPE_API};
use crate::collect::{ErrorReason, PollError};
use crate::http::{header, join_url, ApiClient, ApiRequest};
use crate::json::{self, Bound, Doc, Kind, Records};
use crate::lenient::{Num, Text};

/// Which host serves a path: the document's `{{omphost}}` (chapter 1, operations) or `{{host}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Operator,
    Service,
}

/// The three paging schemes (spec §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `pageSize`/`pageNumber` → `data.<key>` + `data.totalCount`.
    A(&'static str),
    /// `size`/`current` → `data.list` + `data.total`.
    B,
    /// `pageIndex`/`pageSize` → `data.<key>` + `data.count`.
    C(&'static str),
}

impl Paging {
    /// The query of page `n` (1-based, as every example sends it).
    pub fn query(self, n: u64, size: u64) -> [(&'static str, String); 2] {
        match self {
            Paging::A(_) => [
                ("pageSize", size.to_string()),
                ("pageNumber", n.to_string()),
            ],
            Paging::B => [("size", size.to_string()), ("current", n.to_string())],
            Paging::C(_) => [("pageIndex", n.to_string()), ("pageSize", size.to_string())],
        }
    }

    /// The list of one page's `data` (`None` when it has none, read as empty) and the total
    /// the page announces, found in one scan of `data`.
    pub fn list<'a>(self, data: Doc<'a>) -> (Option<Doc<'a>>, Option<u64>) {
        let (key, count) = match self {
            Paging::A(k) => (k, "totalCount"),
            Paging::B => ("list", "total"),
            Paging::C(k) => (k, "count"),
        };
        let ([list, total, hosts, total_count], _) =
            data.fields([key, count, "hosts", "totalCount"]);
        // §1.12's schema names the list `hosts` and its total `totalCount`, its example the
        // scheme-B `list`/`total`.
        let scheme_b = matches!(self, Paging::B);
        let total = total
            .or(if scheme_b { total_count } else { None })
            .and_then(|t| t.to::<Num>().ok())
            .and_then(|t| t.get())
            .filter(|t| *t >= 0.0)
            .map(|t| t as u64);
        let list = match list {
            None if scheme_b => hosts,
            other => other,
        };
        (list.filter(|l| l.kind() == Kind::Array), total)
    }
}

/// The CECSTACK API of one target, shared by its collectors.
#[derive(Debug)]
pub struct CecApi {
    endpoint: reqwest::Url,
    pub settings: CecTarget,
    client: Arc<ApiClient>,
    creds: CecCredentials,
}

impl CecApi {
    pub fn new(endpoint: reqwest::Url, settings: CecTarget, client: Arc<ApiClient>) -> CecApi {
        CecApi {
            endpoint,
            settings,
            client,
            creds: CecCredentials::new(),
        }
    }

    fn base(&self, base: Base) -> &reqwest::Url {
        match base {
            Base::Operator => self
                .settings
                .operator_endpoint
                .as_ref()
                .unwrap_or(&self.endpoint),
            Base::Service => &self.endpoint,
        }
    }

    /// GETs one path and returns the envelope's `data` as a tree: for small answers; lists go
    /// through [`CecApi::list_each`].
    pub async fn get(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Value, PollError> {
        let (status, body) = self.get_body(api, base, path, query, deadline).await?;
        unwrap_envelope(api, status, &body)
    }

    /// The records of a bare list in the envelope's `data` (e.g. `harddisks/nouse-list`), read
    /// item by item off the runtime's threads; at most [`json::MAX_UNPAGED_ITEMS`].
    pub async fn get_list<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        deadline: Instant,
    ) -> Result<Records<T>, PollError> {
        let (status, body) = self.get_body(api, base, path, &[], deadline).await?;
        json::off_runtime(api, body, move |b, cancel| {
            read_bare_list(api, envelope(api, status, b)?, cancel)
        })
        .await
    }

    /// GETs one path: the status and body of an answer that is not an authentication failure
    /// (its envelope is for [`envelope`] to check). A 401 with a token renews it once.
    async fn get_body(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), PollError> {
        let url = join_url(self.base(base), path, query);
        for attempt in 0..2 {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            headers.insert(
                header("x-regionid"),
                HeaderValue::from_str(&self.settings.region_id).map_err(|_| {
                    PollError::new(
                        ErrorReason::Http,
                        "region_id has characters not allowed in a header",
                    )
                })?,
            );
            let token = self
                .creds
                .apply(&self.client, &self.settings.auth, &mut headers, deadline)
                .await?;
            let req = ApiRequest {
                api,
                scope: SCOPE_API,
                method: Method::GET,
                url: url.clone(),
                headers,
                body: None,
            };
            let resp = self.client.send(&req, deadline).await?;
            // A stale token is a 401 at a gateway, or the ECS's own AuthFail (HTTP 400).
            let rejected = resp.status == 401
                || (resp.status == 400 && envelope_code(&resp.body).contains("AuthFail"));
            if let (true, Some(t), 0) = (rejected, &token, attempt) {
                self.creds.invalidate(t).await;
                continue;
            }
            if resp.status == 401 || resp.status == 403 {
                return Err(PollError::new(
                    ErrorReason::Auth,
                    format!(
                        "{api}: rejected (HTTP {}{}); check auth",
                        resp.status,
                        crate::http::error_summary(&resp.body)
                    ),
                ));
            }
            return Ok((resp.status, resp.body));
        }
        Err(PollError::new(
            ErrorReason::Auth,
            format!("{api}: token rejected twice"),
        ))
    }

    /// Every item of a paged list (records that do not parse are counted, not exported).
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        paging: Paging,
        deadline: Instant,
    ) -> Result<(Vec<T>, usize), PollError> {
        let mut out = Vec::new();
        let dropped = self
            .list_each(api, base, path, paging, deadline, |t| out.push(t))
            .await?;
        Ok((out, dropped))
    }

    /// Hands every item of a paged list to `each` as its page arrives (a large list is never
    /// held whole); returns how many records did not parse.
    pub async fn list_each<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        paging: Paging,
        deadline: Instant,
        each: impl FnMut(T),
    ) -> Result<usize, PollError> {
        self.list_each_where(api, base, path, &[], paging, deadline, each)
            .await
    }

    /// [`CecApi::list_each`] with a filter (`filter` is sent with every page's query).
    #[allow(clippy::too_many_arguments)]
    pub async fn list_each_where<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        base: Base,
        path: &str,
        filter: &[(&str, String)],
        paging: Paging,
        deadline: Instant,
        mut each: impl FnMut(T),
    ) -> Result<usize, PollError> {
        let size = self.settings.page_size;
        let mut dropped = 0;
        let mut seen = 0u64;
        for n in 1..=self.settings.max_pages {
            let mut q: Vec<(&str, String)> = filter.to_vec();
            q.extend(paging.query(n, size));
            let (status, body) = self.get_body(api, base, path, &q, deadline).await?;
            let (page, got, total) = json::off_runtime(api, body, move |b, cancel| {
                read_page::<T>(api, paging, envelope(api, status, b)?, size, cancel)
            })
            .await?;
            seen += got;
            page.items.into_iter().for_each(&mut each);
            dropped += page.dropped;
            if got < size || total.is_some_and(|t| seen >= t) {
                return Ok(dropped);
            }
        }
        Err(PollError::new(
            ErrorReason::PageLimit,
            format!("{api} needs more than cecstack.max_pages ({}) pages of {size}; raise cecstack.max_pages", self.settings.max_pages),
        ))
    }
}

/// One page's records (each unwrapped from its own envelope where it has one), how many items
/// it held, and the total it announces. A page of far more than `size` items is refused
/// before any is read.
pub fn read_page<T: DeserializeOwned>(
    api: &str,
    paging: Paging,
    data: Doc<'_>,
    size: u64,
    cancel: &json::Cancel,
) -> Result<(Records<T>, u64, Option<u64>), PollError> {
    let (list, total) = paging.list(data);
    let Some(list) = list else {
        return Ok((Records::new(api), 0, total));
    };
    let page = list.records::<T>(api, Bound::Page(size), cancel, unwrap_item)?;
    let got = page.raw_len() as u64;
    Ok((page, got, total))
}

/// The envelope's `code` of a body, or "".
fn envelope_code(body: &[u8]) -> String {
    Doc::parse("", body)
        .ok()
        .and_then(|d| d.get("code"))
        .and_then(|c| c.to::<Text>().ok())
        .map(|c| c.as_str().to_string())
        .unwrap_or_default()
}

/// A list item: the document's instance example wraps each VM in its own envelope.
fn unwrap_item(item: Doc<'_>) -> Doc<'_> {
    match item.fields(["code", "data"]) {
        ([Some(_), Some(data)], _) => data,
        _ => item,
    }
}

/// The records of a `data` that is a bare list (`harddisks/nouse-list`); a `data` that is
/// neither a list nor null is one dropped value.
pub fn read_bare_list<T: DeserializeOwned>(
    api: &str,
    data: Doc<'_>,
    cancel: &json::Cancel,
) -> Result<Records<T>, PollError> {
    match data.kind() {
        Kind::Array => data.records(api, Bound::Items(json::MAX_UNPAGED_ITEMS), cancel, |d| d),
        Kind::Null => Ok(Records::new(api)),
        _ => {
            let mut out = Records::new(api);
            out.dropped = 1;
            Ok(out)
        }
    }
}

/// [`envelope`]'s `data` as a tree.
pub fn unwrap_envelope(api: &str, status: u16, body: &[u8]) -> Result<Value, PollError> {
    envelope(api, status, body)?.tree(api)
}

/// The `data` of a `{requestId, code, message, data}` answer; any `code` but `Success` (or a
/// status other than 2xx) is an error naming the code. Authentication codes are `auth`.
pub fn envelope<'a>(api: &str, status: u16, body: &'a [u8]) -> Result<Doc<'a>, PollError> {
    let parsed = Doc::parse(api, body).ok();
    let ([code_doc, message, data], _) = match parsed {
        Some(d) => d.fields(["code", "message", "data"]),
        None => ([None; 3], 0),
    };
    let code = code_doc
        .and_then(|c| c.to::<Text>().ok())
        .unwrap_or_default();
    let ok = (200..300).contains(&status) && code.as_str().eq_ignore_ascii_case("success");
    if ok {
        return Ok(data.unwrap_or(Doc::null()));
    }
    if parsed.is_none() {
        let reason = if (200..300).contains(&status) {
            ErrorReason::Parse
        } else {
            ErrorReason::Http
        };
        return Err(PollError::new(
            reason,
            format!("{api} answered HTTP {status} with a body that is not JSON"),
        ));
    }
    if (200..300).contains(&status) && code_doc.is_none() {
        return Err(PollError::new(
            ErrorReason::Parse,
            format!("{api} answered without the `code` of the envelope"),
        ));
    }
    let message: String = message
        .and_then(|m| m.to::<Text>().ok())
        .unwrap_or_default()
        .as_str()
        .chars()
        .take(200)
        .collect();
    let reason = if code.as_str().contains("AuthFail")
        || code.as_str().contains("OperationDenied.Identity")
    {
        ErrorReason::Auth
    } else {
        ErrorReason::Http
    };
    Err(PollError::new(
        reason,
        format!(
            "{api} answered HTTP {status}, code {}: {message}",
            code.as_str()
        ),
    ))
}

// ---- models (spec §2) ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CapacityItem {
    pub allocatable: Num,
    pub usage: Num,
    pub remain: Num,
    pub unit: Text,
}

/// Region CPU and memory (`monitor/capacity`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Capacity {
    pub cpu: CapacityItem,
    pub ram: CapacityItem,
}

/// Region VM counts (`monitor/vmcount`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VmCount {
    pub total_count: Num,
    pub running_count: Num,
    pub stopped_count: Num,
    pub error_count: Num,
    pub other_count: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AzCpuConfig {
    pub az: Text,
    #[serde(rename = "azCpuOR")]
    pub az_cpu_or: Num,
}

/// Region and per-AZ CPU overcommit (`global-config/cpu`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GlobalCpu {
    #[serde(rename = "globalCpuOR")]
    pub global_cpu_or: Num,
    #[serde(rename = "azCpuConfigs")]
    pub az_cpu_configs: Vec<AzCpuConfig>,
}

/// A resource pool; the document's tables spell the id `rpld`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourcePool {
    #[serde(alias = "rpld")]
    pub rp_id: Text,
    pub name: Text,
    pub az: Text,
    pub host_cnt: Num,
    pub cpu_allocation_ratio: Num,
}

/// A host → pool row (`resource-pool/hosts`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PoolHost {
    pub name: Text,
    pub cell: Text,
    #[serde(alias = "rpld")]
    pub rp_id: Text,
    pub rp_name: Text,
}

/// A host of one AZ (`resource-pool/host-list?az=`, §1.12): the only host → AZ mapping for a
/// host in no resource pool.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AzHost {
    pub name: Text,
    pub cell: Text,
}

/// A flavor type; the examples spell keys both ways (`GPUType`/`gpuType`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FlavorType {
    pub flavor_type_id: Text,
    pub name: Text,
    pub az: Text,
    pub device_type: Text,
    pub cpu_overscaling_ratio: Num,
    #[serde(alias = "rpld")]
    pub rp_id: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Gpu {
    pub product: Text,
    pub in_use: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GpuInfo {
    pub gpu_type: Text,
    pub product: Text,
    pub mode: Text,
    /// A list of cards in the examples, a count in the schema (spec §2.6).
    pub gpus: Value,
}

/// One row of local disks of a host (same shape in `nodes` and `harddisks/nouse-list`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LocalDisks {
    pub az: Text,
    pub cell: Text,
    pub node_name: Text,
    pub local_disk_type: Text,
    pub local_disk_interface: Text,
    pub disk_size: Num,
    pub disk_num: Num,
}

/// A host (`nodes`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Node {
    pub cell: Text,
    pub name: Text,
    pub host_ip: Text,
    pub arch: Text,
    #[serde(rename = "isGPUNode", alias = "isGpuNode")]
    pub is_gpu_node: Text,
    pub gpu_info: GpuInfo,
    pub hard_disk_list: Vec<LocalDisks>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceFlavorType {
    pub device_type: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceFlavor {
    pub name: Text,
    pub gpu: Num,
    pub flavor_type: InstanceFlavorType,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BlockDevice {
    pub volume_uuid: Text,
    pub volume_size: Num,
}

/// A VM (`instances`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Instance {
    pub ecs_id: Text,
    pub display_name: Text,
    pub v_cpus: Num,
    /// Bytes in every example, though the table says GiB (spec §4.3).
    pub ram: Num,
    pub status: Text,
    pub node_name: Text,
    pub az: Text,
    pub cell: Text,
    #[serde(alias = "rpld")]
    pub rp_id: Text,
    pub rp_name: Text,
    pub tenant_id: Text,
    pub tenant_name: Text,
    pub flavor_id: Text,
    pub flavor_info: InstanceFlavor,
    pub block_device_mappings: Vec<BlockDevice>,
    pub vgpus: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_envelope_and_its_error_codes() {
        assert_eq!(
            unwrap_envelope(
                "t",
                200,
                br#"{"requestId":"x","code":"Success","message":"ok","data":{"a":1}}"#
            )
            .ok(),
            Some(json!({"a": 1}))
        );
        let e = unwrap_envelope("t", 400, br#"{"requestId":"x","code":"ECS.OperationDenied.AuthFail","message":"bad","data":null}"#).err();
        assert_eq!(e.map(|e| e.reason), Some(ErrorReason::Auth));
        let e = unwrap_envelope(
            "t",
            200,
            br#"{"code":"ECS.OperationFailed.GetClusterCapacity","message":"boom","data":null}"#,
        )
        .err();
        assert!(e.is_some_and(
            |e| e.reason == ErrorReason::Http && e.message.contains("GetClusterCapacity")
        ));
        assert_eq!(
            unwrap_envelope("t", 200, b"<html>").err().map(|e| e.reason),
            Some(ErrorReason::Parse)
        );
    }

    #[test]
    fn three_paging_schemes() {
        assert_eq!(
            Paging::A("flavors").query(2, 50)[1],
            ("pageNumber", "2".to_string())
        );
        assert_eq!(Paging::B.query(1, 10)[1], ("current", "1".to_string()));
        assert_eq!(
            Paging::C("SSHKeys").query(3, 20)[0],
            ("pageIndex", "3".to_string())
        );
        let doc = |t: &'static str| Doc::parse("t", t.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let len = |l: Option<Doc<'_>>| {
            l.and_then(|l| l.array_len(&Default::default()))
                .unwrap_or(0)
        };
        let (items, total) =
            Paging::A("resourcePools").list(doc(r#"{"resourcePools": [1, 2], "totalCount": 5}"#));
        assert_eq!((len(items), total), (2, Some(5)));
        let (items, total) = Paging::B.list(doc(
            r#"{"size": 10, "current": 0, "total": 2, "list": [1]}"#,
        ));
        assert_eq!((len(items), total), (1, Some(2)));
        // §1.12's schema: `hosts` and `totalCount` in place of the example's `list`/`total`.
        let (items, total) = Paging::B.list(doc(r#"{"hosts": [1, 2], "totalCount": 4}"#));
        assert_eq!((len(items), total), (2, Some(4)));
        let (items, _) = Paging::A("rpHosts").list(doc(r#"{"hosts": [1, 2]}"#));
        assert!(items.is_none());
        let (items, total) =
            Paging::C("records").list(doc(r#"{"records": [1, 2, 3], "count": "3"}"#));
        assert_eq!((len(items), total), (3, Some(3)));
    }

    #[test]
    fn list_items_wrapped_in_an_envelope_are_unwrapped() {
        let text = |t: &str| {
            let d = Doc::parse("t", t.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            unwrap_item(d).value()
        };
        assert_eq!(
            text(r#"{"requestId": "r", "code": "Success", "data": {"ecsId": "e"}}"#),
            json!({"ecsId": "e"})
        );
        assert_eq!(text(r#"{"ecsId": "e"}"#), json!({"ecsId": "e"}));
    }
}
