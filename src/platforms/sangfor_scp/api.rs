//! SCP janus API: request signing or token headers, the `{code, message, data}` envelope (an
//! error even on HTTP 200 when `code != 0`), list paging (`page_num` from 0, `page_size` ≤ 100,
//! `next_page_num` as a string), the API version chosen per endpoint family, and the models of
//! every answer headroom reads (lenient: both spellings of misspelled fields, numbers as strings).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use tracing::debug;

use super::auth::{self, SignInput};
use super::{ScpAuth, ScpTarget, SCOPE_GET};
use crate::collect::{ErrorReason, PollError};
use crate::config::Secret;
use crate::http::{error_summary, header, sensitive, ApiClient, ApiRequest};
use crate::json::{self, Bound, Cancel, Doc, Kind, Records};
use crate::lenient::{Num, Text};
use crate::token::TokenCache;

/// An endpoint family served under several janus versions, newest first (spec §1.1, §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family {
    pub name: &'static str,
    pub versions: &'static [&'static str],
}

pub const AZ_DETAIL: Family = Family {
    name: "azs_detail",
    versions: &["20200725", "20180725"],
};
pub const HOSTS: Family = Family {
    name: "hosts",
    versions: &["20190725", "20180725"],
};
pub const CLUSTERS: Family = Family {
    name: "clusters",
    versions: &["20210725", "20200725", "20190725", "20180725"],
};
pub const STORAGES: Family = Family {
    name: "storages",
    versions: &["20200725", "20190725", "20180725"],
};
pub const SERVERS: Family = Family {
    name: "servers",
    versions: &["20220725", "20210725", "20200725", "20190725", "20180725"],
};
pub const ALARMS: Family = Family {
    name: "alarms",
    versions: &["20190725", "20180725"],
};
/// The families probed and reported by the `platform` collector.
pub const FAMILIES: &[Family] = &[AZ_DETAIL, HOSTS, CLUSTERS, STORAGES, SERVERS, ALARMS];

/// The EIP pool list path as the request sample spells it, and the table's spelling tried on 404
/// (spec §7.4 item 21); the one that answers is remembered like an API version.
pub const EIP_POOL_LIST: Family = Family {
    name: "eip_pools",
    versions: &["floatingippools", "floatingipools"],
};

pub use crate::http::join_url as join;

/// What a call found.
#[derive(Debug)]
pub enum Answer {
    /// The envelope's `data` (or the whole body when there is no envelope).
    Data(Value),
    /// HTTP 404: the path (or this API version of it) does not exist on the site.
    NotFound,
}

/// The records of a list that parsed, and how many did not (logged, counted, never exported).
/// Pages are parsed as they arrive, so a 100,000-VM list never sits in memory as JSON.
#[derive(Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub dropped: usize,
}

/// The SCP API of one target, shared by its collectors.
#[derive(Debug)]
pub struct ScpApi {
    endpoint: reqwest::Url,
    pub settings: ScpTarget,
    client: Arc<ApiClient>,
    token: TokenCache,
    /// The OpenStack API's tenant token (`scp.openstack`), apart from the janus one.
    openstack_token: TokenCache,
    /// The value of the legacy `aCMPAuthToken` cookie ("any string; a UUID is recommended").
    cookie: Option<HeaderValue>,
    versions: Mutex<BTreeMap<&'static str, &'static str>>,
}

impl ScpApi {
    pub fn new(endpoint: reqwest::Url, settings: ScpTarget, client: Arc<ApiClient>) -> ScpApi {
        let cookie = settings.legacy_cookie.then(|| {
            let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
            HeaderValue::from_str(&format!("aCMPAuthToken={id}"))
                .unwrap_or(HeaderValue::from_static("aCMPAuthToken=headroom"))
        });
        ScpApi {
            endpoint,
            settings,
            client,
            token: TokenCache::new(),
            openstack_token: TokenCache::new(),
            cookie,
            versions: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn target(&self) -> &str {
        self.client.target()
    }

    /// The version chosen so far for each family that has been called.
    pub fn chosen_versions(&self) -> BTreeMap<&'static str, &'static str> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn chosen(&self, family: &Family) -> Option<&'static str> {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(family.name)
            .copied()
    }

    fn choose(&self, family: &Family, version: Option<&'static str>) {
        let mut v = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        match version {
            Some(version) => {
                if v.insert(family.name, version) != Some(version) {
                    debug!(
                        target_name = self.target(),
                        family = family.name,
                        version,
                        "Chose the API version."
                    );
                }
            }
            None => {
                v.remove(family.name);
            }
        }
    }

    async fn headers(
        &self,
        method: &Method,
        url: &reqwest::Url,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(HeaderMap, Option<Secret>), PollError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(c) = &self.cookie {
            h.insert(COOKIE, c.clone());
        }
        match &self.settings.auth {
            ScpAuth::AccessKey {
                access_key,
                secret_key,
                region,
                service,
            } => {
                let date = auth::amz_date(SystemTime::now());
                let input = SignInput {
                    method: method.as_str(),
                    path: url.path(),
                    body,
                    amz_date: &date,
                    access_key: access_key.expose(),
                    secret_key: secret_key.expose(),
                    region,
                    service,
                };
                h.insert(AUTHORIZATION, sensitive(&auth::authorization(&input))?);
                h.insert(header("x-amz-date"), sensitive(&date)?);
                Ok((h, None))
            }
            ScpAuth::Password { username, password } => {
                let token = self
                    .token
                    .get(&self.client, || {
                        auth::login(
                            &self.client,
                            &self.endpoint,
                            username,
                            password,
                            self.cookie.as_ref(),
                            deadline,
                        )
                    })
                    .await?;
                h.insert(
                    AUTHORIZATION,
                    sensitive(&format!("Token {}", token.expose()))?,
                );
                Ok((h, Some(token)))
            }
        }
    }

    /// GETs one path; the envelope's `data` as a tree (for small answers: lists go through
    /// [`ScpApi::list_each`]).
    pub async fn get(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Answer, PollError> {
        match self.get_body(api, path, query, deadline).await? {
            Some(body) => unwrap_envelope(api, &body).map(Answer::Data),
            None => Ok(Answer::NotFound),
        }
    }

    /// GETs one path: the body of a 2xx answer (its envelope is for [`envelope`] to check),
    /// `None` on 404. A 401 with a token renews it once; with AK/SK it is an `auth` error.
    async fn get_body(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, PollError> {
        let url = join(&self.endpoint, path, query);
        for attempt in 0..2 {
            let (headers, token) = self.headers(&Method::GET, &url, b"", deadline).await?;
            let req = ApiRequest {
                api,
                scope: SCOPE_GET,
                method: Method::GET,
                url: url.clone(),
                headers,
                body: None,
            };
            let resp = self.client.send(&req, deadline).await?;
            match resp.status {
                200..=299 => return Ok(Some(resp.body)),
                404 => return Ok(None),
                401 => match (&token, attempt) {
                    (Some(t), 0) => {
                        self.token.invalidate(t).await;
                        continue;
                    }
                    (Some(_), _) => {
                        return Err(PollError::new(ErrorReason::Auth, format!("{api}: token rejected (HTTP 401{}) right after a new login", error_summary(&resp.body))))
                    }
                    (None, _) => {
                        return Err(PollError::new(
                            ErrorReason::Auth,
                            format!(
                                "{api}: signature rejected (HTTP 401{}); check auth.access_key, auth.secret_key, auth.region and auth.service, and that this host's clock is right (signatures are valid for about 15 minutes)",
                                error_summary(&resp.body)
                            ),
                        ))
                    }
                },
                403 => {
                    return Err(PollError::new(
                        ErrorReason::Auth,
                        format!("{api}: access denied (HTTP 403{}); the account needs a super admin or sysadmin role (or a co-admin with read permission)", error_summary(&resp.body)),
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

    /// The flavor catalogue of the OpenStack API (`GET /openstack/compute/v2/flavors/detail`,
    /// §4.3.3.4), read with the tenant login of `scp.openstack`; `None` without one. Records
    /// that do not parse are counted. A 401 renews the token once.
    pub async fn openstack_flavors(
        &self,
        deadline: Instant,
    ) -> Result<Option<Listed<crate::platforms::nova::Flavor>>, PollError> {
        const API: &str = "openstack_flavors";
        let Some(tenant) = &self.settings.openstack else {
            return Ok(None);
        };
        let url = join(&self.endpoint, "/openstack/compute/v2/flavors/detail", &[]);
        for attempt in 0..2 {
            let token = self
                .openstack_token
                .get(&self.client, || {
                    auth::openstack_login(&self.client, &self.endpoint, tenant, deadline)
                })
                .await?;
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            headers.insert(header("x-auth-token"), sensitive(token.expose())?);
            let req = ApiRequest {
                api: API,
                scope: SCOPE_GET,
                method: Method::GET,
                url: url.clone(),
                headers,
                body: None,
            };
            let resp = self.client.send(&req, deadline).await?;
            match resp.status {
                200..=299 => {
                    let listed = json::off_runtime(API, resp.body, |b, cancel| {
                        let list = Doc::parse(API, b)?
                            .get("flavors")
                            .filter(|l| l.kind() == Kind::Array)
                            .ok_or_else(|| {
                                PollError::new(
                                    ErrorReason::Parse,
                                    format!("{API}: the answer has no `flavors` list"),
                                )
                            })?;
                        let r = list.records(API, Bound::Items(json::MAX_UNPAGED_ITEMS), cancel, |d| d)?;
                        Ok(Listed {
                            items: r.items,
                            dropped: r.dropped,
                        })
                    })
                    .await?;
                    return Ok(Some(listed));
                }
                401 if attempt == 0 => {
                    self.openstack_token.invalidate(&token).await;
                    continue;
                }
                401 | 403 => {
                    return Err(PollError::new(
                        ErrorReason::Auth,
                        format!("{API}: rejected (HTTP {}{}); check scp.openstack", resp.status, error_summary(&resp.body)),
                    ))
                }
                other => {
                    return Err(PollError::new(
                        ErrorReason::Http,
                        format!("{API} answered HTTP {other}{}; this SCP may not serve the OpenStack API (remove scp.openstack)", error_summary(&resp.body)),
                    ))
                }
            }
        }
        Err(PollError::new(
            ErrorReason::Auth,
            format!("{API}: token rejected twice"),
        ))
    }

    /// GETs one path that must exist.
    pub async fn get_data(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Value, PollError> {
        match self.get(api, path, query, deadline).await? {
            Answer::Data(v) => Ok(v),
            Answer::NotFound => Err(not_found(api, path)),
        }
    }

    /// Every item of a list path, following `next_page_num`; `None` when the path answers 404.
    /// A list that needs more than `scp.max_pages` pages fails the poll.
    pub async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Option<Listed<T>>, PollError> {
        let mut items = Vec::new();
        let dropped = self
            .list_each(api, path, query, deadline, |t| items.push(t))
            .await?;
        Ok(dropped.map(|dropped| Listed { items, dropped }))
    }

    /// Hands every record of a list path to `each` as its page arrives, so a large list is never
    /// held whole; returns how many records did not parse, or `None` when the path answers 404.
    pub async fn list_each<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
        mut each: impl FnMut(T),
    ) -> Result<Option<usize>, PollError> {
        let page_size = self.settings.page_size;
        let mut dropped = 0;
        let mut page_num: u64 = 0;
        let mut pages = 0u64;
        loop {
            if pages >= self.settings.max_pages {
                return Err(PollError::new(
                    ErrorReason::PageLimit,
                    format!("{api} needs more than scp.max_pages ({}) pages of {page_size}; raise scp.max_pages", self.settings.max_pages),
                ));
            }
            let mut q = query.to_vec();
            q.push(("page_num", page_num.to_string()));
            q.push(("page_size", page_size.to_string()));
            let body = match self.get_body(api, path, &q, deadline).await? {
                Some(b) => b,
                None if pages == 0 => return Ok(None),
                None => return Err(not_found(api, path)),
            };
            pages += 1;
            let page = json::off_runtime(api, body, move |b, cancel| {
                read_page::<T>(api, envelope(api, b)?, page_size, cancel)
            })
            .await?;
            let n = page.raw_len as u64;
            page.records.items.into_iter().for_each(&mut each);
            dropped += page.records.dropped;
            let Some(next) = page.next_page_num else {
                break;
            };
            // Guard against a server that announces a next page forever.
            let bound = page
                .total_size
                .map_or(u64::MAX, |t| t.div_ceil(page_size.max(1)) + 1);
            if n == 0 || next <= page_num || pages >= bound {
                break;
            }
            page_num = next;
        }
        Ok(Some(dropped))
    }

    /// A list path that must exist.
    pub async fn list_required<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        path: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Listed<T>, PollError> {
        match self.list(api, path, query, deadline).await? {
            Some(l) => Ok(l),
            None => Err(not_found(api, path)),
        }
    }

    /// Lists a versioned family at the newest version the site serves: the version chosen
    /// before, else each candidate newest first until one does not answer 404.
    pub async fn list_versioned<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        family: &Family,
        resource: &str,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<(Listed<T>, &'static str), PollError> {
        let mut items = Vec::new();
        let (dropped, version) = self
            .list_versioned_each(api, family, resource, query, deadline, |t| items.push(t))
            .await?;
        Ok((Listed { items, dropped }, version))
    }

    /// [`list_versioned`](Self::list_versioned), handing records to `each` page by page;
    /// returns how many did not parse and the version used.
    pub async fn list_versioned_each<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        family: &Family,
        resource: &str,
        query: &[(&str, String)],
        deadline: Instant,
        mut each: impl FnMut(T),
    ) -> Result<(usize, &'static str), PollError> {
        for version in self.candidates(family) {
            let path = format!("/janus/{version}/{resource}");
            // Nothing reaches `each` from a version that answers 404.
            if let Some(dropped) = self
                .list_each(api, &path, query, deadline, &mut each)
                .await?
            {
                self.choose(family, Some(version));
                return Ok((dropped, version));
            }
            self.choose(family, None);
        }
        Err(PollError::new(
            ErrorReason::Http,
            format!(
                "{api}: no API version of /janus/*/{resource} is served by this site (tried {})",
                family.versions.join(", ")
            ),
        ))
    }

    /// Lists the first of a family's alternative resource paths (under `/janus/20180725/`)
    /// that the site serves, remembering which.
    pub async fn list_alternatives<T: DeserializeOwned + Send + 'static>(
        &self,
        api: &'static str,
        family: &Family,
        deadline: Instant,
    ) -> Result<Option<Listed<T>>, PollError> {
        for resource in self.candidates(family) {
            if let Some(l) = self
                .list(api, &format!("/janus/20180725/{resource}"), &[], deadline)
                .await?
            {
                self.choose(family, Some(resource));
                return Ok(Some(l));
            }
        }
        self.choose(family, None);
        Ok(None)
    }

    /// GETs a versioned object path (e.g. one AZ) at the newest version the site serves.
    pub async fn get_versioned(
        &self,
        api: &'static str,
        family: &Family,
        resource: &str,
        deadline: Instant,
    ) -> Result<(Value, &'static str), PollError> {
        for version in self.candidates(family) {
            let path = format!("/janus/{version}/{resource}");
            if let Answer::Data(v) = self.get(api, &path, &[], deadline).await? {
                self.choose(family, Some(version));
                return Ok((v, version));
            }
            self.choose(family, None);
        }
        Err(PollError::new(
            ErrorReason::Http,
            format!(
                "{api}: no API version of /janus/*/{resource} is served by this site (tried {})",
                family.versions.join(", ")
            ),
        ))
    }

    /// Finds the newest version of a list family (whose resource path is its name) with a
    /// one-item request per candidate, without reading the list.
    pub async fn probe(
        &self,
        family: &Family,
        query: &[(&str, String)],
        deadline: Instant,
    ) -> Result<Option<&'static str>, PollError> {
        for version in self.candidates(family) {
            let path = format!("/janus/{version}/{}", family.name);
            // Answered and not an error: the answer itself is not read (a tree of a hostile
            // one once took 1.4 GB).
            if let Some(body) = self.get_body("probe", &path, query, deadline).await? {
                envelope("probe", &body)?;
                self.choose(family, Some(version));
                return Ok(Some(version));
            }
        }
        self.choose(family, None);
        Ok(None)
    }

    /// The chosen version first, then every version older than it, then (after a downgrade was
    /// undone by an upgrade) the newer ones.
    fn candidates(&self, family: &Family) -> Vec<&'static str> {
        match self.chosen(family) {
            None => family.versions.to_vec(),
            Some(c) => {
                let mut v = vec![c];
                v.extend(family.versions.iter().copied().filter(|x| *x != c));
                v
            }
        }
    }
}

fn not_found(api: &str, path: &str) -> PollError {
    PollError::new(ErrorReason::Http, format!("{api}: {path} answered 404; this SCP version may not have it (see the collector's minimum version in the README)"))
}

/// Whether an envelope `code` means success (0, "0", or absent).
pub fn code_ok(code: Option<&Value>) -> bool {
    match code {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.trim() == "0",
        Some(_) => false,
    }
}

/// [`envelope`]'s `data` as a tree.
pub fn unwrap_envelope(api: &str, body: &[u8]) -> Result<Value, PollError> {
    envelope(api, body)?.tree(api)
}

/// The `data` of a `{code, message, data}` envelope; `code != 0` is an error even on HTTP 200.
/// A body with neither `code` nor `data` is its own payload.
pub fn envelope<'a>(api: &str, body: &'a [u8]) -> Result<Doc<'a>, PollError> {
    let doc = Doc::parse(api, body)?;
    if doc.kind() != Kind::Object {
        return Err(PollError::new(
            ErrorReason::Parse,
            format!("{api} answered with JSON that is not an object"),
        ));
    }
    let ([code, message, data], _) = doc.fields(["code", "message", "data"]);
    let code_value = code.map(|c| c.value());
    if !code_ok(code_value.as_ref()) {
        let code = code_value.map(|c| c.to_string()).unwrap_or_default();
        let message = message.map(|m| m.value());
        let message: String = message
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(PollError::new(
            ErrorReason::Http,
            format!("{api} answered code {code}: {message}"),
        ));
    }
    if code.is_none() && data.is_none() {
        // No envelope at all: the body is the payload.
        return Ok(doc);
    }
    Ok(data.unwrap_or(Doc::null()))
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage<T> {
    pub records: Records<T>,
    /// Items on the page, parsed or not (paging counts them all).
    pub raw_len: usize,
    pub next_page_num: Option<u64>,
    pub total_size: Option<u64>,
}

/// Reads the list envelope inside `data`: `{total_size, page_num, page_size, next_page_num,
/// data: [...]}`; a bare list (e.g. `storages/tags`) is one page. `next_page_num` is a string
/// (`""` on the last page) or, on some endpoints, a number. A page of far more than
/// `page_size` items is refused before any is read.
pub fn read_page<T: DeserializeOwned>(
    api: &str,
    data: Doc<'_>,
    page_size: u64,
    cancel: &Cancel,
) -> Result<ListPage<T>, PollError> {
    let number = |d: Option<Doc<'_>>| {
        d.and_then(|d| d.to::<Num>().ok())
            .and_then(|n| n.get())
            .filter(|n| *n >= 0.0)
            .map(|n| n as u64)
    };
    let (list, next_page_num, total_size) = match data.kind() {
        Kind::Array => (Some(data), None, None),
        Kind::Null => (None, None, None),
        Kind::Object => {
            let ([list, next, total], _) = data.fields(["data", "next_page_num", "total_size"]);
            let list = match list {
                Some(l) if l.kind() == Kind::Array => Some(l),
                Some(l) if !l.is_null() => {
                    return Err(PollError::new(
                        ErrorReason::Parse,
                        format!("{api}: the list's `data` is not a list"),
                    ))
                }
                _ => None,
            };
            (list, number(next), number(total))
        }
        _ => {
            return Err(PollError::new(
                ErrorReason::Parse,
                format!("{api}: `data` is neither a list nor a list envelope"),
            ))
        }
    };
    let Some(list) = list else {
        return Ok(ListPage {
            records: Records::new(api),
            raw_len: 0,
            next_page_num,
            total_size,
        });
    };
    let records = list.records(api, Bound::Page(page_size), cancel, |d| d)?;
    Ok(ListPage {
        raw_len: records.raw_len(),
        records,
        next_page_num,
        total_size,
    })
}

/// One value as `T`, or a parse error naming the API.
pub fn parse_one<T: DeserializeOwned>(api: &str, v: Value) -> Result<T, PollError> {
    serde_json::from_value(v).map_err(|e| {
        PollError::new(
            ErrorReason::Parse,
            format!("{api} answered with an unexpected shape ({e})"),
        )
    })
}

// ---- models (spec §3); every field optional and lenient ----

/// A resource pool (AZ) in the list (§4.3.2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Az {
    pub id: Text,
    pub name: Text,
    pub status: Text,
    #[serde(rename = "type")]
    pub kind: Text,
    pub tag: Text,
    pub version: Text,
}

/// A resource pool's detail (§4.3.3/4.3.4).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AzDetail {
    pub id: Text,
    pub name: Text,
    pub status: Text,
    pub virtual_resources: Vec<VirtualResource>,
    pub physical_resources: Vec<PhysicalResource>,
}

/// One entry of the quota view (`virtual_resources`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VirtualResource {
    pub name: Text,
    /// `pool_cpu` / `pool_memory` in the 2020 version; absent for storage.
    pub resource: Text,
    pub limit: Num,
    pub total: Num,
    pub allocated: Num,
    pub occupied: Num,
    pub unit: Text,
}

/// One entry of `physical_resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PhysicalResource {
    pub name: Text,
    pub total: Num,
    pub used: Num,
    pub unit: Text,
}

/// Platform overview (§4.3.5).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Overview {
    pub host: BTreeMap<String, Num>,
    pub server: BTreeMap<String, Num>,
    pub nfv: BTreeMap<String, Num>,
    pub az: BTreeMap<String, Num>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostCpu {
    pub allocation_ratio: Num,
    pub total_mhz: Num,
    pub used_mhz: Num,
    pub ratio: Num,
    pub socket_count: Num,
    pub cores_per_socket: Num,
    pub core_count: Num,
    /// Threads per socket (2019 version only).
    pub thread_per_socket: Num,
    #[serde(rename = "type")]
    pub model: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostMemory {
    pub allocation_ratio: Num,
    pub total_mb: Num,
    pub used_mb: Num,
    pub ratio: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HostGpu {
    pub total: Num,
    pub used: Num,
    pub memory_total_mb: Num,
    pub memory_used_mb: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TotalMb {
    pub total_mb: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Reserves {
    pub memory_mb: Num,
}

/// A physical host (§4.3.17).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Host {
    pub id: Text,
    pub name: Text,
    pub ip: Text,
    pub status: Text,
    pub az_id: Text,
    pub cluster_id: Text,
    pub cluster_name: Text,
    #[serde(rename = "type")]
    pub kind: Text,
    pub alarm_count: Num,
    pub reserves: Reserves,
    pub cpu: HostCpu,
    pub memory: HostMemory,
    pub storage: TotalMb,
    pub gpu: HostGpu,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsedTotalMhz {
    pub total_mhz: Num,
    pub used_mhz: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UsedTotalMb {
    pub total_mb: Num,
    pub used_mb: Num,
}

/// A cluster (§4.4.6).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Cluster {
    pub id: Text,
    pub name: Text,
    pub status: Text,
    #[serde(rename = "type")]
    pub kind: Text,
    pub az_id: Text,
    pub version: Text,
    pub cpu: UsedTotalMhz,
    pub memory: UsedTotalMb,
    pub storage: UsedTotalMb,
}

/// A datastore (§4.15.2). The 2019 table spells throughput `read_byteps`, the examples
/// `read_bytpeps`; headroom reads neither (capacity only).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Storage {
    pub id: Text,
    pub name: Text,
    #[serde(rename = "type")]
    pub kind: Text,
    pub status: Text,
    pub storage_tag_id: Text,
    pub storage_tag_name: Text,
    pub az_id: Text,
    pub cluster_name: Text,
    pub total_mb: Num,
    pub used_mb: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Disk {
    pub size_mb: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GpuStatus {
    pub graphics_count: Num,
    pub graphics_mem_total: Num,
}

/// A VM (§4.11.2.2); only the fields headroom aggregates.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    pub id: Text,
    pub name: Text,
    pub az_id: Text,
    pub az_name: Text,
    pub host_id: Text,
    pub host_name: Text,
    pub project_id: Text,
    pub project_name: Text,
    pub status: Text,
    pub power_state: Text,
    pub vmtype: Text,
    pub cores: Num,
    pub memory_mb: Num,
    pub storage_mb: Num,
    pub disks: Option<Vec<Disk>>,
    pub gpu_status: Option<GpuStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SeparatedQuota {
    pub az_id: Text,
    pub in_use: Num,
    pub reserved: Num,
    pub allocation: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AzQuota {
    pub az_id: Text,
    pub hard_limit: Num,
}

/// A quota item of one tenant (§4.10.2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Quota {
    pub category: Text,
    pub provider: Text,
    pub namespace: Text,
    pub resource: Text,
    pub name: Text,
    pub project_id: Text,
    pub unit: Text,
    pub separated_quotas: Vec<SeparatedQuota>,
    pub az_quotas: Vec<AzQuota>,
}

/// A tenant (§4.6.8.1).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Project {
    pub id: Text,
    pub name: Text,
}

/// An EIP pool's detail (§4.16.8.2); the list has the same fields minus the use counters.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EipPool {
    pub id: Text,
    pub name: Text,
    pub line_type_id: Text,
    pub ip_count: Num,
    pub ip_used: Num,
    pub ip_bind: Num,
    pub allocated_bandwidth: Num,
    pub qos_uplink: Num,
    pub qos_downlink: Num,
    pub pool_in_kbps: Num,
    pub pool_out_kbps: Num,
}

/// A shared disk (§4.17.2); `size` is in GB.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Volume {
    pub id: Text,
    pub status: Text,
    pub az_id: Text,
    pub project_id: Text,
    pub size: Num,
}

/// One monitoring series (§4.22): `[[time, value], ...]` and its unit.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MetricSeries {
    pub datapoints: Vec<Vec<Value>>,
    pub unit: Text,
}

impl MetricSeries {
    /// The newest datapoint that has a number.
    pub fn last_value(&self) -> Num {
        self.datapoints
            .iter()
            .rev()
            .filter_map(|p| p.get(1).map(Num::from_value))
            .find(|n| !matches!(n, Num::Absent))
            .unwrap_or(Num::Absent)
    }
}

/// An object storage account (§4.23).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OssAccount {
    pub id: Text,
    pub name: Text,
    pub capacity_size: Num,
    pub used_capacity_size: Num,
    pub object_count: Num,
    pub location: Text,
    pub project_id: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GpuCore {
    pub mem_used: Num,
    pub mem_total: Num,
    pub max_instances: Num,
    pub used_instances: Num,
    pub slice_type: Text,
}

/// One GPU card; the example spells its cores `gpubcore`, the table `gpucore`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Graphic {
    pub gpu_name: Text,
    pub name: Text,
    #[serde(rename = "type")]
    pub model: Text,
    pub brand: Text,
    pub uuid: Text,
    #[serde(alias = "gpubcore")]
    pub gpucore: Vec<GpuCore>,
}

/// The GPUs of one host in a pool (§4.28).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GpuHost {
    pub host_id: Text,
    pub host_ip: Text,
    pub available_instance: Num,
    pub graphics: Vec<Graphic>,
}

/// An alarm record (2019: active alarms; 2018: the legacy list).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Alarm {
    pub level: Text,
    pub status: Text,
    pub object_type: Text,
    pub az_id: Text,
    pub az_name: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LicenseTime {
    pub expire_timestamp: Text,
    pub remain_timestamp: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LicenseProduct {
    pub name: Text,
    pub activated: Num,
    pub software_time: LicenseTime,
    pub service_time: LicenseTime,
}

/// The licence summary (§4.3.16).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LicenseSummary {
    pub products: Vec<LicenseProduct>,
}

/// `/system/version` (§4.2.6).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SystemVersion {
    pub build_version: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegionInfo {
    pub region_id: Text,
    pub region_name: Text,
}

/// `/platform` (§4.3.14).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlatformInfo {
    pub version: Text,
    pub manage_mode: Text,
    pub region_info: RegionInfo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_code_is_checked_even_on_success() {
        let ok = unwrap_envelope("t", br#"{"message":"","code":0,"data":{"a":1}}"#);
        assert_eq!(ok.ok(), Some(json!({"a": 1})));
        let err = unwrap_envelope("t", br#"{"message":"no permission","code":1001,"data":{}}"#)
            .err()
            .unwrap_or_else(|| panic!("code 1001 must fail"));
        assert_eq!(err.reason, ErrorReason::Http);
        assert!(
            err.message.contains("1001") && err.message.contains("no permission"),
            "{}",
            err.message
        );
        assert!(unwrap_envelope("t", b"<html>").is_err());
        assert_eq!(
            unwrap_envelope("t", br#"{"code":"0","data":[1]}"#).ok(),
            Some(json!([1]))
        );
    }

    #[test]
    fn list_pages_read_both_next_page_spellings() {
        let page = |text: &str| {
            let doc = Doc::parse("t", text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            read_page::<Value>("t", doc, 100, &Cancel::default())
        };
        let p = page(r#"{"total_size": 250, "page_num": 0, "page_size": 100, "next_page_num": "1", "data": [1, 2]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.records.items.len(), p.next_page_num, p.total_size),
            (2, Some(1), Some(250))
        );
        let p = page(r#"{"next_page_num": "", "data": []}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.next_page_num, None);
        let p = page(r#"{"next_page_num": 2, "data": [1]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.next_page_num, Some(2));
        let p = page("[1, 2, 3]").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.records.items.len(), p.next_page_num), (3, None));
        assert!(page(r#"{"data": 5}"#).is_err());
        let big = format!("[{}]", vec!["1"; 10_001].join(","));
        assert!(
            page(&big).is_err(),
            "a page past ten times its size is refused"
        );
    }

    #[test]
    fn join_keeps_a_path_prefix_and_encodes_the_query() {
        let base = reqwest::Url::parse("https://10.0.0.1/scp/").unwrap_or_else(|e| panic!("{e}"));
        let u = join(&base, "/janus/20180725/hosts", &[("az_id", "a b".into())]);
        assert_eq!(
            u.as_str(),
            "https://10.0.0.1/scp/janus/20180725/hosts?az_id=a+b"
        );
    }
}
