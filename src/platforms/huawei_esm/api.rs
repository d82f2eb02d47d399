//! ESM API models and requests: the documented paths, headers (token and AppCodes), time windows
//! and `offset_value`/`page_size` paging, with lenient parsing of every envelope the document
//! implies (`{total, list}`, with optional `code`/`msg`, or wrapped in `data`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::time::Instant;

use super::auth::EsmToken;
use super::{EsmTarget, OffsetMode};
use crate::collect::{ErrorReason, PollError};
use crate::http::{error_summary, header, sensitive, ApiClient, ApiRequest};
use crate::json::{self, Bound, Cancel, Doc, Kind};
use crate::lenient::{Num, Text};

pub const PATH_PHYSICAL_CAPACITY: &str = "/rest/dataapi/homs/open-api/v1/host-physical/capacity";
pub const PATH_SERVICE_CAPACITY: &str = "/rest/dataapi/homs/open-api/v1/CloudService/capacity";
pub const PATH_DEVICES: &str = "/rest/dataapi/homs/open-api/v1/DeviceAsset/info";
pub const PATH_CLOUD_SERVICE_ALARMS: &str = "/rest/dataapi/homs/open-api/v1/CloudServiceAlarm/info";
pub const PATH_HARDWARE_ALARMS: &str = "/rest/dataapi/homs/open-api/v1/DeviceAlarm/info";
pub const PATH_HOST_METRICS: &str = "/rest/dataapi/homs/open-api/v1/host/metricdata";
pub const PATH_TENANT_RESOURCES: &str = "/rest/dataapi/homs/open-api/v2/cloudresource/instancedata";
pub const PATH_ELB_CAPACITY: &str = "/rest/dataapi/homs/open-api/v1/network/capacity/elbv3";
pub const PATH_HOST_DETAILS: &str = "/rest/dataapi/homs/open-api/v1/host/detail";

/// One capacity row (4.1.1 and 4.1.2.x share the field set).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CapacityRow {
    pub service_type: Text,
    pub device_type: Text,
    pub metric_type: Text,
    pub resource_type: Text,
    pub zone_type: Text,
    pub region: Text,
    pub az_id: Text,
    pub total: Num,
    pub allocated: Num,
    pub available: Num,
    pub used: Num,
    pub free: Num,
    pub used_ratio: Num,
    pub timestamp: Num,
}

/// One physical device (4.1.4).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Device {
    pub device_id: Text,
    pub name: Text,
    pub device_type: Text,
    pub running_status: Text,
    pub model: Text,
    pub management_ip: Text,
    pub os: Text,
    pub region: Text,
}

/// The alarm fields headroom uses (4.1.5 and 4.1.6 share the schema).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Alarm {
    pub csn: Text,
    pub severity: Text,
    pub cleared: Text,
    pub region: Text,
}

/// One host metric record (4.1.7). The table names the value `metrics_value`, the examples `value`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostMetric {
    pub time_stamp: Num,
    pub monitor_item: Text,
    pub metrics_name: Text,
    pub data_item: Text,
    pub unit: Text,
    pub host_id: Text,
    pub region_id: Text,
    pub az_id: Text,
    #[serde(alias = "metrics_value")]
    pub value: Num,
}

/// One external tenant resource record (4.1.8; `domain_*`/`project_id` only in the 000 edition).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TenantResource {
    pub resource_id: Text,
    pub region_code: Text,
    pub az_code: Text,
    pub resource_spec_code: Text,
    pub cloud_service_type_code: Text,
    pub domain_id: Text,
    pub domain_name: Text,
    pub project_id: Text,
    pub enterprise_project_id: Text,
}

/// One ELBv3 cluster record (000 edition).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ElbCluster {
    pub region_id: Text,
    pub cluster_id: Text,
    pub cluster_name: Text,
    pub cluster_code: Text,
    pub lb_count: Num,
    pub lb_capacity: Num,
    pub l4_listener_count: Num,
    pub l4_listener_capacity: Num,
    pub l7_listener_count: Num,
    pub l7_listener_capacity: Num,
    pub l4_member_count: Num,
    pub l4_member_capacity: Num,
    pub l7_member_count: Num,
    pub l7_member_capacity: Num,
    pub time_stamp: Num,
}

/// One host detail record (000 edition; upper-case keys, CPU/MEMORY/DISK are JSON in strings).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "UPPERCASE")]
pub struct HostDetail {
    pub region_id: Text,
    pub host_id: Text,
    pub host_name: Text,
    pub cpu: serde_json::Value,
    pub memory: serde_json::Value,
    pub disk: serde_json::Value,
    pub az_code: Text,
    pub pod_code: Text,
    pub cluster_name: Text,
}

/// Items of all pages plus the count of items that did not parse.
#[derive(Debug)]
pub struct Fetched<T> {
    pub items: Vec<T>,
    pub dropped: usize,
}

/// The ESM API of one target: endpoint, settings, token and client, shared by its collectors.
#[derive(Debug)]
pub struct EsmApi {
    endpoint: reqwest::Url,
    pub settings: EsmTarget,
    client: Arc<ApiClient>,
    token: EsmToken,
}

/// Epoch milliseconds of a time.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `begin_time`/`end_time` for a window ending at `end`.
pub fn window(end: SystemTime, length: Duration) -> [(&'static str, String); 2] {
    let begin = end.checked_sub(length).unwrap_or(UNIX_EPOCH);
    [
        ("begin_time", epoch_ms(begin).to_string()),
        ("end_time", epoch_ms(end).to_string()),
    ]
}

impl EsmApi {
    pub fn new(endpoint: reqwest::Url, settings: EsmTarget, client: Arc<ApiClient>) -> EsmApi {
        EsmApi {
            endpoint,
            settings,
            client,
            token: EsmToken::new(),
        }
    }

    /// The target's name, for logs.
    pub fn target(&self) -> &str {
        self.client.target()
    }

    fn headers(&self, token: &crate::config::Secret) -> Result<HeaderMap, PollError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h.insert(header("x-auth-token"), sensitive(token.expose())?);
        h.insert(
            header("x-apig-appcode"),
            sensitive(self.settings.apig_appcode.expose())?,
        );
        h.insert(
            header("x-hcso-appcode"),
            sensitive(self.settings.hcso_appcode.expose())?,
        );
        if let Some(domain) = &self.settings.hcso_domain_id {
            h.insert(
                header("x-hcso-domainid"),
                HeaderValue::from_str(domain).map_err(|_| {
                    PollError::new(
                        ErrorReason::Auth,
                        "hcso_domain_id has characters not allowed in a header",
                    )
                })?,
            );
        }
        Ok(h)
    }

    /// GETs one path and returns the body of a 2xx answer. A 401 drops the token and tries once
    /// more with a new one; 403 and a second 401 are `auth` errors.
    pub async fn get(
        &self,
        api: &'static str,
        scope: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Vec<u8>, PollError> {
        let url = crate::http::join_url(&self.endpoint, path, query);
        for attempt in 0..2 {
            let token = self
                .token
                .get(&self.client, &self.settings, deadline)
                .await?;
            let req = ApiRequest {
                api,
                scope,
                method: Method::GET,
                url: url.clone(),
                headers: self.headers(&token)?,
                body: None,
            };
            let resp = self.client.send(&req, deadline).await?;
            match resp.status {
                200..=299 => return Ok(resp.body),
                401 if attempt == 0 => {
                    self.token.invalidate(&token).await;
                    continue;
                }
                401 => {
                    return Err(PollError::new(ErrorReason::Auth, format!("{api}: token rejected (HTTP 401{}) right after a refresh", error_summary(&resp.body))))
                }
                403 => {
                    return Err(PollError::new(
                        ErrorReason::Auth,
                        format!("{api}: access denied (HTTP 403{}); check the AppCodes and the user's permissions", error_summary(&resp.body)),
                    ))
                }
                other => return Err(PollError::new(ErrorReason::Http, format!("{api} answered HTTP {other}{}", error_summary(&resp.body))).with_status(other)),
            }
        }
        Err(PollError::new(
            ErrorReason::Auth,
            format!("{api}: token rejected twice"),
        ))
    }

    /// GETs every page of a paged query. The poll fails (publishing nothing) if any page fails or
    /// if more than `max_pages` pages would be needed.
    pub async fn fetch_all<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        scope: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Fetched<T>, PollError> {
        let page_size = self.settings.page_size;
        let mut items = Vec::new();
        let mut dropped = 0usize;
        let mut page_index = 0u64;
        let mut received = 0u64;
        loop {
            if page_index >= self.settings.max_pages {
                return Err(PollError::new(
                    ErrorReason::PageLimit,
                    format!("{api} needs more than esm.max_pages ({}) pages of {page_size}; raise esm.max_pages", self.settings.max_pages),
                ));
            }
            let offset = match self.settings.offset_mode {
                OffsetMode::Record => received,
                OffsetMode::Page0 => page_index,
                OffsetMode::Page1 => page_index + 1,
            };
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("page_size", page_size.to_string()));
            q.push(("offset_value", offset.to_string()));
            let body = self.get(api, scope, path, &q, deadline).await?;
            let page =
                json::off_runtime(api, body, move |b, cancel| read_page::<T>(api, b, cancel))
                    .await?;
            let n = page.raw_len as u64;
            received += n;
            dropped += page.dropped;
            items.extend(page.items);
            page_index += 1;
            let total_reached = page.total.is_some_and(|t| received >= t);
            if n == 0 || n < page_size || total_reached {
                break;
            }
        }
        Ok(Fetched { items, dropped })
    }
}

/// One parsed page.
#[derive(Debug)]
pub struct ParsedPage<T> {
    pub items: Vec<T>,
    /// Items in the page, parsed or not (paging counts them all).
    pub raw_len: usize,
    pub dropped: usize,
    /// The record count the page announces, when it is a number.
    pub total: Option<u64>,
}

/// Parses one page body: `{total, list}`, optionally with `code`/`msg`, or inside `data`.
/// An item that does not have the expected shape is dropped and counted, not fatal.
pub fn parse_page<T: DeserializeOwned>(api: &str, body: &[u8]) -> Result<ParsedPage<T>, PollError> {
    read_page(api, body, &Cancel::default())
}

/// [`parse_page`], read item by item from the body (no tree), stopping when `cancel` is set.
pub fn read_page<T: DeserializeOwned>(
    api: &str,
    body: &[u8],
    cancel: &Cancel,
) -> Result<ParsedPage<T>, PollError> {
    let doc = Doc::parse(api, body)?;
    // The page is inside `data` when `data` is an object and there is no `list` beside it.
    let inner = match doc.fields(["data", "list"]) {
        ([Some(data), None], _) if data.kind() == Kind::Object => data,
        _ => doc,
    };
    let unexpected = |what: &str| {
        PollError::new(
            ErrorReason::Parse,
            format!("{api} answered with an unexpected envelope ({what})"),
        )
    };
    if inner.kind() != Kind::Object {
        return Err(unexpected("not an object"));
    }
    let ([total, list, code, msg], _) = inner.fields(["total", "list", "code", "msg"]);
    let text = |d: Option<Doc<'_>>| d.and_then(|d| d.to::<Text>().ok()).unwrap_or_default();
    let list = match list {
        Some(l) if l.kind() == Kind::Array => l,
        Some(l) if !l.is_null() => return Err(unexpected("`list` is not a list")),
        _ => {
            let (code, msg) = (text(code), text(msg));
            let detail = match (code.get(), msg.get()) {
                (Some(c), Some(m)) => format!(" (code {c}: {m})"),
                (Some(c), None) => format!(" (code {c})"),
                _ => String::new(),
            };
            return Err(PollError::new(
                ErrorReason::Parse,
                format!("{api} answered without a `list`{detail}"),
            ));
        }
    };
    // The most records a page may hold is `esm.page_size`, at most 1000 (spec §1.6).
    let records = list.records::<T>(api, Bound::Page(1000), cancel, |d| d)?;
    let raw_len = records.raw_len();
    let total = total
        .and_then(|t| t.to::<Num>().ok())
        .and_then(|t| t.get())
        .filter(|t| *t >= 0.0)
        .map(|t| t as u64);
    Ok(ParsedPage {
        items: records.items,
        raw_len,
        dropped: records.dropped,
        total,
    })
}
