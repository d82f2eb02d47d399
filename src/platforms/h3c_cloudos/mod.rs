//! H3C CloudOS (OpenStack behind a Kong gateway, default port 11000): its collectors, limit
//! scope, config keys, and how a target's collectors are built.
//!
//! Same inner shape as every platform: `auth` (Keystone token), `api` (paths, headers, paging,
//! models), `collect` (normalising into the metric vocabulary).

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

/// Every request of a target, the token included. The document gives no throughput, so the
/// default is the conservative 60/min per target; `budgets.api` changes it.
pub const SCOPE_API: &str = "api";

pub const LIMIT_SCOPES: &[LimitScope] = &[LimitScope {
    name: SCOPE_API,
    documented_per_minute: f64::INFINITY,
    default_cap_per_minute: Some(60.0),
    default_pause: Duration::from_secs(30),
    throttle_pauses_target: false,
    per_client_ip: false,
    description: "All CloudOS requests: no documented limit; 60/min by default",
}];

pub const HYPERVISORS: &str = "hypervisors";
pub const STORAGE_POOLS: &str = "storage_pools";
pub const VIRTUALIZATION_HOSTS: &str = "virtualization_hosts";
pub const BARE_METAL: &str = "bare_metal";
pub const QUOTAS: &str = "quotas";
pub const SERVERS: &str = "servers";
pub const FLAVOR_SLOTS: &str = "flavor_slots";
pub const GPUS: &str = "gpus";

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo { name: HYPERVISORS, default_interval: minutes(5), enabled_by_default: true,
        description: "Per host and per availability zone: vCPU, memory and local disk capacity, allocation and free; hosts by state (os-hypervisors; AZ from os-aggregates and the compute os-services)",
        exports: collect::HYPERVISORS_EXPORTS,
        min_requests: &[(SCOPE_API, 3)],
    },
    CollectorInfo { name: STORAGE_POOLS, default_interval: minutes(5), enabled_by_default: true,
        description: "Storage pools per AZ host: total, free, provisioned; shared pools counted once (hostpool)",
        exports: collect::STORAGE_POOLS_EXPORTS,
        min_requests: &[(SCOPE_API, 2)],
    },
    CollectorInfo { name: VIRTUALIZATION_HOSTS, default_interval: minutes(10), enabled_by_default: true,
        description: "CAS and VMware hosts: CPU topology and frequency, CPU/memory/disk utilisation; per ESXi host what its VMs hold and what it may allocate (computenode, crm, vrm; vms/detail?host= per ESXi host)",
        exports: collect::VIRTUALIZATION_HOSTS_EXPORTS,
        min_requests: &[(SCOPE_API, 2)],
    },
    CollectorInfo { name: BARE_METAL, default_interval: minutes(5), enabled_by_default: true,
        description: "Bare-metal nodes by provision state and maintenance; CPU, memory and disk of available nodes (Ironic via kinton)",
        exports: collect::BARE_METAL_EXPORTS,
        min_requests: &[(SCOPE_API, 1)],
    },
    CollectorInfo { name: QUOTAS, default_interval: minutes(10), enabled_by_default: true,
        description: "Project quota limits and usage: cores, RAM, instances, volume GB, floating IPs and every other counted resource (keystone/all-limits)",
        exports: collect::QUOTAS_EXPORTS,
        min_requests: &[(SCOPE_API, 2)],
    },
    CollectorInfo { name: SERVERS, default_interval: minutes(10), enabled_by_default: true,
        description: "Instances per AZ, flavor and project (servers/detail, limit/marker paging)",
        exports: collect::SERVERS_EXPORTS,
        min_requests: &[(SCOPE_API, 2)],
    },
    CollectorInfo { name: FLAVOR_SLOTS, default_interval: minutes(10), enabled_by_default: true,
        description: "How many more instances of each flavor and configured instance size fit per AZ, host by host, and after losing a host (flavors, os-hypervisors, os-aggregates, os-services; per ESXi host of a VMware cluster its VMs: computenode, clusters-hosts, hosts/detail, vms/detail)",
        exports: collect::FLAVOR_SLOTS_EXPORTS,
        min_requests: &[(SCOPE_API, 4)],
    },
    CollectorInfo { name: GPUS, default_interval: minutes(15), enabled_by_default: true,
        description: "GPU devices attached to GPU instances, per AZ, host and flavor (instance_vgpu; one call per GPU instance)",
        exports: collect::GPUS_EXPORTS,
        min_requests: &[(SCOPE_API, 2)],
    },
];

/// Settings of a CloudOS target.
#[derive(Clone, Debug, PartialEq)]
pub struct CloudosTarget {
    pub token_url: reqwest::Url,
    pub username: String,
    pub password: Secret,
    pub domain: String,
    pub project: String,
    /// The `{tenant_id}` of the compute paths (the admin project's id).
    pub project_id: String,
    /// Token lifetime when the token answer has none.
    pub token_ttl: Duration,
    /// Host names whose storage pools to read; default: discovered from the storage services.
    pub storage_hosts: Option<Vec<String>>,
    /// `limit` of the servers list pages.
    pub page_size: u64,
    pub max_pages: u64,
    /// Overcommit used for free flavor slots (the API does not expose the configured one).
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
}

/// Options of one CloudOS collector.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CloudosCollectorOptions {
    /// `gpus`: a flavor whose name contains this (case-insensitive) marks a GPU instance.
    pub gpu_flavor_match: Option<String>,
}

/// The token URL when none is configured: Keystone v3 behind the kinton route, by analogy with
/// the documented `/os/kinton/v1/v3/projects` (the document has no login API).
pub const DEFAULT_TOKEN_PATH: &str = "/os/kinton/v1/v3/auth/tokens";

pub(crate) fn parse_target(
    t: &mut Obj,
    endpoint: Option<&reqwest::Url>,
    ctx: &mut Ctx,
) -> Option<CloudosTarget> {
    let mut a = t.obj("auth", ctx);
    let token_url = a
        .opt_url("token_url", ctx)
        .or_else(|| Some(api::join(endpoint?, DEFAULT_TOKEN_PATH, &[])));
    let username = a.str("username", ctx);
    let password = a.secret("password", "password_file", true, ctx);
    let domain = a.opt_str("domain", ctx).unwrap_or_else(|| "Default".into());
    let project = a.opt_str("project", ctx).unwrap_or_else(|| "admin".into());
    let project_id = a.str("project_id", ctx);
    let token_ttl = a
        .opt_duration("token_ttl", ctx)
        .unwrap_or(Duration::from_secs(3600));
    a.finish(ctx);

    let mut c = t.obj("cloudos", ctx);
    let storage_hosts = c.opt_str_list("storage_hosts", ctx);
    let page_size = c.opt_u64("page_size", 1..=1000, ctx).unwrap_or(500);
    let max_pages = c.opt_u64("max_pages", 1..=100_000, ctx).unwrap_or(1000);
    let mut ratio = |key: &'static str, ctx: &mut Ctx| {
        let path = c.key_path(key);
        let v = c.opt_f64(key, ctx).unwrap_or(1.0);
        if !(v > 0.0 && v <= 100.0) {
            ctx.problems.add(&path, "must be above 0 and at most 100");
        }
        v
    };
    let cpu_allocation_ratio = ratio("cpu_allocation_ratio", ctx);
    let ram_allocation_ratio = ratio("ram_allocation_ratio", ctx);
    let disk_allocation_ratio = ratio("disk_allocation_ratio", ctx);
    c.finish(ctx);
    Some(CloudosTarget {
        token_url: token_url?,
        username: username?,
        password: password?,
        domain,
        project,
        project_id: project_id?,
        token_ttl,
        storage_hosts,
        page_size,
        max_pages,
        cpu_allocation_ratio,
        ram_allocation_ratio,
        disk_allocation_ratio,
    })
}

pub(crate) fn parse_collector_options(
    collector: &str,
    c: &mut Obj,
    ctx: &mut Ctx,
) -> CloudosCollectorOptions {
    let mut o = CloudosCollectorOptions::default();
    if collector == GPUS {
        o.gpu_flavor_match = c.opt_str("gpu_flavor_match", ctx);
    }
    o
}

/// Builds the enabled collectors of a CloudOS target around one shared API client and token.
pub(crate) fn build(
    target: &TargetConfig,
    settings: &CloudosTarget,
    client: Arc<ApiClient>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    let api = Arc::new(api::CloudosApi::new(
        target.endpoint.clone(),
        settings.clone(),
        client,
    ));
    super::each_collector(target, |name, options| match options {
        CollectorOptions::H3cCloudos(o) => Some(Arc::new(collect::CloudosCollector::new(
            name,
            Arc::clone(&api),
            o.clone(),
            target.instance_sizes.clone(),
        )) as Arc<dyn Collector>),
        _ => None,
    })
}
