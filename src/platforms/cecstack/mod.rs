//! CECSTACK 5.2 (KubeVirt-based ECS): its collectors, limit scope, config keys, and how a
//! target's collectors are built.
//!
//! Same inner shape as every platform: `auth` (static headers or a Keystone token: the ECS
//! document defers authentication to a document we do not have), `api` (envelope, `x-regionid`,
//! the three paging schemes, models), `collect` (normalising into the metric vocabulary).

pub mod api;
pub mod auth;
pub mod collect;

use std::sync::Arc;
use std::time::Duration;

use crate::budget::LimitScope;
use crate::collect::Collector;
use crate::config::tree::{Ctx, Obj};
use crate::config::{Secret, TargetConfig};
use crate::http::ApiClient;
use crate::platforms::{CollectorInfo, CollectorOptions};

/// Every request of a target. No throughput is documented: 60/min by default (`budgets.api`).
pub const SCOPE_API: &str = "api";

pub const LIMIT_SCOPES: &[LimitScope] = &[LimitScope {
    name: SCOPE_API,
    documented_per_minute: f64::INFINITY,
    default_cap_per_minute: Some(60.0),
    default_pause: Duration::from_secs(30),
    throttle_pauses_target: false,
    per_client_ip: false,
    description: "All CECSTACK requests: no documented limit; 60/min by default",
}];

pub const CAPACITY: &str = "capacity";
pub const VM_COUNTS: &str = "vm_counts";
pub const OVERCOMMIT: &str = "overcommit";
pub const HOSTS: &str = "hosts";
pub const INSTANCES: &str = "instances";

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo { name: CAPACITY, default_interval: minutes(5), enabled_by_default: true,
        description: "Region CPU and memory: allocatable, used, remaining, and their disagreement (monitor/capacity)",
        exports: collect::CAPACITY_EXPORTS,
        min_requests: &[(SCOPE_API, 1)],
    },
    CollectorInfo { name: VM_COUNTS, default_interval: minutes(5), enabled_by_default: true,
        description: "Region VM counts by state (monitor/vmcount)",
        exports: collect::VM_COUNTS_EXPORTS,
        min_requests: &[(SCOPE_API, 1)],
    },
    CollectorInfo { name: OVERCOMMIT, default_interval: minutes(10), enabled_by_default: true,
        description: "CPU overcommit at region, AZ, resource pool and flavor-type level (global-config/cpu, resource-pools, flavortypes)",
        exports: collect::OVERCOMMIT_EXPORTS,
        min_requests: &[(SCOPE_API, 3)],
    },
    CollectorInfo { name: HOSTS, default_interval: minutes(5), enabled_by_default: true,
        description: "Host inventory: GPUs and GPUs in use by model, local disks and unused local disks, host → pool and AZ (nodes, resource-pools, resource-pool/hosts, harddisks/nouse-list; for hosts in no pool global-config/cpu and resource-pool/host-list per AZ)",
        exports: collect::HOSTS_EXPORTS,
        min_requests: &[(SCOPE_API, 4)],
    },
    CollectorInfo { name: INSTANCES, default_interval: minutes(5), enabled_by_default: true,
        description: "Instances summed per AZ, pool and flavor, per host and per tenant: count, vCPU, memory, GPUs, volumes (instances, all pages)",
        exports: collect::INSTANCES_EXPORTS,
        min_requests: &[(SCOPE_API, 1)],
    },
];

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum CecAuth {
    /// Headers sent as given (a token or cookie from the site's gateway).
    Headers(Vec<(String, Secret)>),
    /// A Keystone-style password token, sent in `header`.
    Password {
        token_url: reqwest::Url,
        username: String,
        password: Secret,
        domain: String,
        project: String,
        header: String,
        token_ttl: Duration,
    },
}

/// Settings of a CECSTACK target.
#[derive(Clone, Debug, PartialEq)]
pub struct CecTarget {
    /// The operator (OMP) host of the chapter-1 APIs (`{{omphost}}`); default: the endpoint.
    pub operator_endpoint: Option<reqwest::Url>,
    /// Sent as `x-regionid` (mandatory on every call).
    pub region_id: String,
    pub auth: CecAuth,
    pub page_size: u64,
    pub max_pages: u64,
}

/// Options of one CECSTACK collector (none yet).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CecCollectorOptions {}

pub(crate) fn parse_target(t: &mut Obj, ctx: &mut Ctx) -> Option<CecTarget> {
    let operator_endpoint = t.opt_url("operator_endpoint", ctx);
    let region_id = t.str("region_id", ctx);
    let mut a = t.obj("auth", ctx);
    let path = a.path().to_string();
    let auth = if a.has("headers") || a.has("header_files") {
        let mut headers = a.opt_string_map("headers", ctx).unwrap_or_default();
        // `header_files: {Name: /path}`: the value read from a file (systemd credentials).
        for (name, file) in a.opt_string_map("header_files", ctx).unwrap_or_default() {
            match std::fs::read_to_string(&file) {
                Ok(v) if !v.trim().is_empty() => {
                    headers.push((name, v.trim_end_matches(['\n', '\r']).to_string()))
                }
                Ok(_) => ctx.problems.add(
                    &format!("{path}.header_files.{name}"),
                    format!("secret file {file} is empty"),
                ),
                Err(e) => ctx.problems.add(
                    &format!("{path}.header_files.{name}"),
                    format!("cannot read secret file {file}: {e}"),
                ),
            }
        }
        if headers.is_empty() {
            ctx.problems
                .add(&format!("{path}.headers"), "must name at least one header");
        }
        for (name, _) in &headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                ctx.problems.add(
                    &format!("{path}.headers.{name}"),
                    "is not a valid HTTP header name",
                );
            }
        }
        for k in ["token_url", "username", "password", "password_file"] {
            if a.has(k) {
                ctx.problems.add(
                    &format!("{path}.{k}"),
                    "give either `headers` or a password login, not both",
                );
                let _ = a.raw(k);
            }
        }
        Some(CecAuth::Headers(
            headers
                .into_iter()
                .map(|(k, v)| (k, Secret::new(v)))
                .collect(),
        ))
    } else if a.has("username") || a.has("token_url") {
        let token_url = a.url("token_url", ctx);
        let username = a.str("username", ctx);
        let password = a.secret("password", "password_file", true, ctx);
        let domain = a.opt_str("domain", ctx).unwrap_or_else(|| "Default".into());
        let project = a.opt_str("project", ctx).unwrap_or_else(|| "admin".into());
        let header = a
            .opt_str("token_header", ctx)
            .unwrap_or_else(|| "X-Auth-Token".into());
        let token_ttl = a
            .opt_duration("token_ttl", ctx)
            .unwrap_or(Duration::from_secs(3600));
        match (token_url, username, password) {
            (Some(token_url), Some(username), Some(password)) => Some(CecAuth::Password {
                token_url,
                username,
                password,
                domain,
                project,
                header,
                token_ttl,
            }),
            _ => None,
        }
    } else {
        ctx.problems.add(&path, "missing credentials: give `headers` (e.g. {Authorization: ${CEC_TOKEN}}) or token_url, username and password");
        None
    };
    a.finish(ctx);
    let mut c = t.obj("cecstack", ctx);
    let page_size = c.opt_u64("page_size", 1..=1000, ctx).unwrap_or(100);
    let max_pages = c.opt_u64("max_pages", 1..=100_000, ctx).unwrap_or(1000);
    c.finish(ctx);
    Some(CecTarget {
        operator_endpoint,
        region_id: region_id?,
        auth: auth?,
        page_size,
        max_pages,
    })
}

pub(crate) fn parse_collector_options(
    _collector: &str,
    _c: &mut Obj,
    _ctx: &mut Ctx,
) -> CecCollectorOptions {
    CecCollectorOptions::default()
}

/// Builds the enabled collectors of a CECSTACK target around one shared API client.
pub(crate) fn build(
    target: &TargetConfig,
    settings: &CecTarget,
    client: Arc<ApiClient>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    let api = Arc::new(api::CecApi::new(
        target.endpoint.clone(),
        settings.clone(),
        client,
    ));
    super::each_collector(target, |name, options| match options {
        CollectorOptions::Cecstack(_) => {
            Some(Arc::new(collect::CecCollector::new(name, Arc::clone(&api))) as Arc<dyn Collector>)
        }
        _ => None,
    })
}
