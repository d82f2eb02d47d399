//! Sangfor SCP (formerly aCMP): its collectors, limit scopes, config keys, and how a target's
//! collectors are built.
//!
//! Same inner shape as every platform: `auth` (AK/SK signature or password token), `api`
//! (envelope, paging, API versions, models), `collect` (normalising into the metric vocabulary).

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

/// GET requests: 600/min per client IP. The document counts "per API" without saying what an
/// API is (spec §7.2), so all of a target's GETs share one budget: the conservative reading.
pub const SCOPE_GET: &str = "get";
/// POST/PUT/DELETE: 100/min per client IP; headroom only POSTs the password login.
pub const SCOPE_WRITE: &str = "write";
/// `/janus/public-key`: 60/min per client IP (and 1000/min for all callers, answered with 403).
pub const SCOPE_PUBLIC_KEY: &str = "public_key";

/// A 429 bans the client IP for "about a minute": wait a little longer before any request.
const BAN_PAUSE: Duration = Duration::from_secs(65);

pub const LIMIT_SCOPES: &[LimitScope] = &[
    LimitScope {
        name: SCOPE_GET,
        documented_per_minute: 600.0,
        default_cap_per_minute: None,
        default_pause: BAN_PAUSE,
        throttle_pauses_target: true,
        per_client_ip: true,
        description: "SCP GET requests: 600/min per client IP, shared by all endpoints",
    },
    LimitScope {
        name: SCOPE_WRITE,
        documented_per_minute: 100.0,
        default_cap_per_minute: None,
        default_pause: BAN_PAUSE,
        throttle_pauses_target: true,
        per_client_ip: true,
        description: "SCP POST/PUT/DELETE requests (the password login): 100/min per client IP",
    },
    LimitScope {
        name: SCOPE_PUBLIC_KEY,
        documented_per_minute: 60.0,
        default_cap_per_minute: None,
        default_pause: BAN_PAUSE,
        throttle_pauses_target: true,
        per_client_ip: true,
        description: "SCP public-key endpoint (password login): 60/min per client IP",
    },
];

pub const PLATFORM: &str = "platform";
pub const OVERVIEW: &str = "overview";
pub const RESOURCE_POOLS: &str = "resource_pools";
pub const HOSTS: &str = "hosts";
pub const CLUSTERS: &str = "clusters";
pub const STORAGES: &str = "storages";
pub const VMS: &str = "vms";
pub const QUOTAS: &str = "quotas";
pub const EIP_POOLS: &str = "eip_pools";
pub const OBJECT_STORAGE: &str = "object_storage";
pub const GPUS: &str = "gpus";
pub const ALARMS: &str = "alarms";
pub const LICENSES: &str = "licenses";
pub const VOLUMES: &str = "volumes";
pub const POOL_UTILIZATION: &str = "pool_utilization";

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo { name: PLATFORM, default_interval: minutes(10), enabled_by_default: true,
        description: "Platform version and the janus API version chosen per endpoint family (§4.2.6, §4.3.14)",
        exports: collect::PLATFORM_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: OVERVIEW, default_interval: minutes(5), enabled_by_default: true,
        description: "Platform-wide counts of hosts, VMs, NFV devices and resource pools by state (§4.3.5)",
        exports: collect::OVERVIEW_EXPORTS,
        min_requests: &[(SCOPE_GET, 1)],
    },
    CollectorInfo { name: RESOURCE_POOLS, default_interval: minutes(5), enabled_by_default: true,
        description: "Per resource pool (AZ): physical CPU, memory, storage, GPU; the quota view of vCPU, memory, storage (§4.3.2-4.3.4)",
        exports: collect::RESOURCE_POOLS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: POOL_UTILIZATION, default_interval: minutes(5), enabled_by_default: true,
        description: "Per resource pool: CPU, memory and disk utilisation from the monitoring API (§4.22, SCP 6.8.80+)",
        exports: collect::POOL_UTILIZATION_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: HOSTS, default_interval: minutes(5), enabled_by_default: true,
        description: "Per host: CPU topology and MHz, overcommit ratios, memory, disks, GPUs; inventory and counts by state (§4.3.17)",
        exports: collect::HOSTS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: CLUSTERS, default_interval: minutes(5), enabled_by_default: true,
        description: "Per cluster: CPU, memory and storage capacity and use (§4.4.6)",
        exports: collect::CLUSTERS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: STORAGES, default_interval: minutes(5), enabled_by_default: true,
        description: "Per datastore: capacity and use, storage tag (§4.15)",
        exports: collect::STORAGES_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: VMS, default_interval: minutes(5), enabled_by_default: true,
        description: "VMs aggregated per pool, host and tenant: counts, vCPU, memory, provisioned storage, GPUs (§4.11.2.2); with instance_sizes or scp.openstack configured, also the hosts (§4.3.17) and the free slots of each size and catalogue flavor (OpenStack API §4.3.3.4), host by host, and after losing a host",
        exports: collect::VMS_EXPORTS,
        min_requests: &[(SCOPE_GET, 3)],
    },
    CollectorInfo { name: VOLUMES, default_interval: minutes(10), enabled_by_default: true,
        description: "Shared disks per pool: count and provisioned bytes (§4.17.2)",
        exports: collect::VOLUMES_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: QUOTAS, default_interval: minutes(10), enabled_by_default: true,
        description: "Tenant quota limits and use per resource and pool (§4.10.2)",
        exports: collect::QUOTAS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: EIP_POOLS, default_interval: minutes(5), enabled_by_default: true,
        description: "Elastic IP pools: IPs total, used and bound; bandwidth limit, allocated and in use (§4.16.8)",
        exports: collect::EIP_POOLS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: OBJECT_STORAGE, default_interval: minutes(10), enabled_by_default: true,
        description: "Object storage accounts: capacity quota, used bytes, objects (§4.23, SCP 6.7.33+)",
        exports: collect::OBJECT_STORAGE_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: GPUS, default_interval: minutes(5), enabled_by_default: true,
        description: "GPU cards per pool, host and model: memory, vGPU instances (§4.28, SCP 6.9.0+)",
        exports: collect::GPUS_EXPORTS,
        min_requests: &[(SCOPE_GET, 2)],
    },
    CollectorInfo { name: ALARMS, default_interval: minutes(2), enabled_by_default: true,
        description: "Active alarms by level, object type and pool (§4.21)",
        exports: collect::ALARMS_EXPORTS,
        min_requests: &[(SCOPE_GET, 1)],
    },
    CollectorInfo { name: LICENSES, default_interval: minutes(60), enabled_by_default: true,
        description: "Licence time remaining per product (§4.3.16)",
        exports: collect::LICENSES_EXPORTS,
        min_requests: &[(SCOPE_GET, 1)],
    },
];

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum ScpAuth {
    /// EC2 (AK/SK): every request is signed (the document's AWS4-HMAC-SHA256 variant).
    AccessKey {
        access_key: Secret,
        secret_key: Secret,
        region: String,
        service: String,
    },
    /// Password: RSA-encrypted with the platform's public key, exchanged for a 24 h token.
    Password { username: String, password: Secret },
}

/// Settings of an SCP target.
#[derive(Clone, Debug, PartialEq)]
pub struct ScpTarget {
    pub auth: ScpAuth,
    /// Send `Cookie: aCMPAuthToken=<random>` on every call (SCP older than 6.3.70 needs it).
    pub legacy_cookie: bool,
    /// Items per page (the API allows at most 100).
    pub page_size: u64,
    /// A query that needs more pages than this fails the poll instead of publishing part of it.
    pub max_pages: u64,
    /// A tenant login of the OpenStack API (`scp.openstack`): the flavor catalogue is only there
    /// (§4.3.3.4, tenant-scoped). Without it SCP counts the configured sizes only.
    pub openstack: Option<OpenStackTenant>,
}

/// A tenant of SCP's OpenStack API (Keystone v2 password login: "当前只支持以租户的身份认证",
/// only tenants can log in there).
#[derive(Clone, Debug, PartialEq)]
pub struct OpenStackTenant {
    pub tenant: String,
    pub username: String,
    pub password: Secret,
    /// At most this many flavors are counted (each adds two series per pool).
    pub max_flavors: usize,
}

/// Options of one SCP collector.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ScpCollectorOptions {
    /// `vms`: also export one series per VM and resource (off by default: cardinality).
    pub per_vm: bool,
}

pub(crate) fn parse_target(t: &mut Obj, ctx: &mut Ctx) -> Option<ScpTarget> {
    let mut a = t.obj("auth", ctx);
    let by_key = [
        "access_key",
        "access_key_file",
        "secret_key",
        "secret_key_file",
    ]
    .iter()
    .any(|k| a.has(k));
    let by_password = ["username", "password", "password_file"]
        .iter()
        .any(|k| a.has(k));
    let path = a.path().to_string();
    let auth = match (by_key, by_password) {
        (true, true) => {
            ctx.problems.add(
                &path,
                "give either access_key/secret_key or username/password, not both",
            );
            // Mark the keys as read so they are not reported again as unknown.
            for k in [
                "access_key",
                "access_key_file",
                "secret_key",
                "secret_key_file",
                "username",
                "password",
                "password_file",
                "region",
                "service",
            ] {
                let _ = a.raw(k);
            }
            None
        }
        (false, false) => {
            ctx.problems.add(
                &path,
                "missing credentials: give access_key and secret_key (recommended by the vendor) or username and password",
            );
            None
        }
        (true, false) => {
            let access_key = a.secret("access_key", "access_key_file", true, ctx);
            let secret_key = a.secret("secret_key", "secret_key_file", true, ctx);
            // The walkthrough's values; the document never says which the server checks.
            let region = a
                .opt_str("region", ctx)
                .unwrap_or_else(|| "cn-south-1".into());
            let service = a
                .opt_str("service", ctx)
                .unwrap_or_else(|| "open-api".into());
            match (access_key, secret_key) {
                (Some(access_key), Some(secret_key)) => Some(ScpAuth::AccessKey {
                    access_key,
                    secret_key,
                    region,
                    service,
                }),
                _ => None,
            }
        }
        (false, true) => {
            let username = a.str("username", ctx);
            let password = a.secret("password", "password_file", true, ctx);
            match (username, password) {
                (Some(username), Some(password)) => Some(ScpAuth::Password { username, password }),
                _ => None,
            }
        }
    };
    let legacy_cookie = a.opt_bool("legacy_cookie", ctx).unwrap_or(false);
    a.finish(ctx);

    let mut s = t.obj("scp", ctx);
    let page_size = s.opt_u64("page_size", 1..=100, ctx).unwrap_or(100);
    let max_pages = s.opt_u64("max_pages", 1..=100_000, ctx).unwrap_or(1000);
    let openstack = if s.has("openstack") {
        let mut o = s.obj("openstack", ctx);
        let tenant = o.str("tenant", ctx);
        let username = o.str("username", ctx);
        let password = o.secret("password", "password_file", true, ctx);
        let max_flavors = o.opt_u64("max_flavors", 1..=1000, ctx).unwrap_or(200) as usize;
        o.finish(ctx);
        match (tenant, username, password) {
            (Some(tenant), Some(username), Some(password)) => Some(OpenStackTenant {
                tenant,
                username,
                password,
                max_flavors,
            }),
            _ => None,
        }
    } else {
        None
    };
    s.finish(ctx);
    Some(ScpTarget {
        auth: auth?,
        legacy_cookie,
        page_size,
        max_pages,
        openstack,
    })
}

pub(crate) fn parse_collector_options(
    collector: &str,
    c: &mut Obj,
    ctx: &mut Ctx,
) -> ScpCollectorOptions {
    let mut o = ScpCollectorOptions::default();
    if collector == VMS {
        o.per_vm = c.opt_bool("per_vm", ctx).unwrap_or(false);
    }
    o
}

/// Builds the enabled collectors of an SCP target around one shared API client and token.
pub(crate) fn build(
    target: &TargetConfig,
    settings: &ScpTarget,
    client: Arc<ApiClient>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    let api = Arc::new(api::ScpApi::new(
        target.endpoint.clone(),
        settings.clone(),
        client,
    ));
    super::each_collector(target, |name, options| match options {
        CollectorOptions::SangforScp(o) => Some(Arc::new(collect::ScpCollector::new(
            name,
            Arc::clone(&api),
            o.clone(),
            target.instance_sizes.clone(),
        )) as Arc<dyn Collector>),
        _ => None,
    })
}
