//! Huawei Enterprise Self-Service Management (ESM / HCS Online): its collectors, limit scopes,
//! config keys, and how a target's collectors are built.
//!
//! Same inner shape as every platform: `auth` (token), `api` (models, requests, paging),
//! `collect` (normalising responses into the metric vocabulary).

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

/// Limit scope of the Tier-2 APIs: 60 calls/min (physical and cloud-service capacity, device
/// details, both alarm APIs). The document does not say whether the limit is per API or per
/// caller, so all of them share one budget: the conservative reading (spec A3).
pub const SCOPE_CAPACITY: &str = "capacity_api";
/// Limit scope of the Tier-1 APIs (host metric data, external tenant resources and the optional
/// 000-only APIs): 4000 TPS documented; a capacity poller needs far less, so the default is a
/// self-imposed 20 requests/s.
pub const SCOPE_METRIC: &str = "metric_api";
/// The IAM token endpoint: no documented limit, so the conservative default of 60/min applies.
pub const SCOPE_IAM: &str = "iam";

pub const LIMIT_SCOPES: &[LimitScope] = &[
    LimitScope {
        name: SCOPE_CAPACITY,
        documented_per_minute: 60.0,
        default_cap_per_minute: None,
        default_pause: Duration::from_secs(10),
        throttle_pauses_target: false,
        per_client_ip: false,
        description: "Tier-2 ESM APIs (capacity, devices, alarms): 60 calls/min, shared",
    },
    LimitScope {
        name: SCOPE_METRIC,
        documented_per_minute: 240_000.0,
        default_cap_per_minute: Some(1200.0),
        default_pause: Duration::from_secs(5),
        throttle_pauses_target: false,
        per_client_ip: false,
        description: "Tier-1 ESM APIs (host metrics, tenant resources, ELB, host detail): 4000 TPS",
    },
    LimitScope {
        name: SCOPE_IAM,
        documented_per_minute: 60.0,
        default_cap_per_minute: None,
        default_pause: Duration::from_secs(10),
        throttle_pauses_target: false,
        per_client_ip: false,
        description: "IAM token endpoint: not documented, conservative 60/min",
    },
];

pub const PHYSICAL_CAPACITY: &str = "physical_capacity";
pub const SERVICE_CAPACITY: &str = "service_capacity";
pub const DEVICES: &str = "devices";
pub const CLOUD_SERVICE_ALARMS: &str = "cloud_service_alarms";
pub const HARDWARE_ALARMS: &str = "hardware_alarms";
pub const HOST_METRICS: &str = "host_metrics";
pub const TENANT_RESOURCES: &str = "tenant_resources";
pub const ELB_CAPACITY: &str = "elb_capacity";
pub const HOST_DETAILS: &str = "host_details";

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub const COLLECTORS: &[CollectorInfo] = &[
    CollectorInfo { name: PHYSICAL_CAPACITY, default_interval: minutes(5), enabled_by_default: true,
        description: "Physical compute (vCPU, memory) and storage capacity per region, zone and server model (4.1.1)",
        exports: collect::PHYSICAL_CAPACITY_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 2)],
    },
    CollectorInfo { name: SERVICE_CAPACITY, default_interval: minutes(5), enabled_by_default: true,
        description: "Capacity of the ten cloud services ECS, BMS, EVS, OBS, EIP, RDS, DCC, DeH, SFS, VPN (4.1.2)",
        exports: collect::SERVICE_CAPACITY_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 10)],
    },
    CollectorInfo { name: DEVICES, default_interval: minutes(30), enabled_by_default: true,
        description: "Physical device inventory: headroom_host_info and headroom_hosts (4.1.4)",
        exports: collect::DEVICES_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 1)],
    },
    CollectorInfo { name: CLOUD_SERVICE_ALARMS, default_interval: minutes(2), enabled_by_default: true,
        description: "Active cloud-service alarms by severity (4.1.5)",
        exports: collect::ALARMS_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 1)],
    },
    CollectorInfo { name: HARDWARE_ALARMS, default_interval: minutes(2), enabled_by_default: true,
        description: "Active hardware alarms by severity (4.1.6)",
        exports: collect::ALARMS_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 1)],
    },
    CollectorInfo { name: HOST_METRICS, default_interval: minutes(5), enabled_by_default: true,
        description: "Per-host CPU, memory and disk utilisation (4.1.7)",
        exports: collect::HOST_METRICS_EXPORTS,
        min_requests: &[(SCOPE_CAPACITY, 1), (SCOPE_METRIC, 1)],
    },
    CollectorInfo { name: TENANT_RESOURCES, default_interval: minutes(15), enabled_by_default: true,
        description: "Resources allocated per tenant, counted from external tenant resource records (4.1.8)",
        exports: collect::TENANT_RESOURCES_EXPORTS,
        min_requests: &[(SCOPE_METRIC, 14)],
    },
    CollectorInfo { name: ELB_CAPACITY, default_interval: minutes(5), enabled_by_default: false,
        description: "ELBv3 cluster capacity: load balancers, listeners, members (000 edition only)",
        exports: collect::ELB_CAPACITY_EXPORTS,
        min_requests: &[(SCOPE_METRIC, 1)],
    },
    CollectorInfo { name: HOST_DETAILS, default_interval: minutes(60), enabled_by_default: false,
        description: "Per-host hardware: logical CPUs, memory, disk, cluster (000 edition only)",
        exports: collect::HOST_DETAILS_EXPORTS,
        min_requests: &[(SCOPE_METRIC, 1)],
    },
];

/// `offset_value` semantics, which the document does not state (spec A17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetMode {
    /// `offset_value` counts records: 0, 1000, 2000, ...
    Record,
    /// `offset_value` counts pages from 0: 0, 1, 2, ...
    Page0,
    /// `offset_value` counts pages from 1: 1, 2, 3, ...
    Page1,
}

/// Settings of an ESM target.
#[derive(Clone, Debug, PartialEq)]
pub struct EsmTarget {
    pub token_url: reqwest::Url,
    pub username: String,
    pub password: Secret,
    pub domain: String,
    pub project: String,
    pub apig_appcode: Secret,
    pub hcso_appcode: Secret,
    pub hcso_domain_id: Option<String>,
    /// Bytes in the platform's "TB": 2^40 by default (its examples are GB/1024).
    pub terabyte_bytes: f64,
    pub page_size: u64,
    pub offset_mode: OffsetMode,
    /// A poll that would need more pages than this from one query fails instead of publishing
    /// part of the data.
    pub max_pages: u64,
}

/// Options of one ESM collector.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EsmCollectorOptions {
    /// `service_capacity`: the `service_type` value sent for DCC (spec A14); unset: `DCC`, then
    /// `DCC_GENERATE` if the site refuses it.
    pub dcc_service_type: Option<String>,
    /// Alarm collectors: how far back to look for uncleared alarms (≤ 60 days).
    pub lookback: Option<Duration>,
    /// `host_metrics`: hosts to query; default: the servers in the device list.
    pub host_ids: Option<Vec<String>>,
    /// `host_metrics`, `tenant_resources`: the time window of records to read.
    pub window: Option<Duration>,
    /// `tenant_resources`: resource types to query.
    pub resource_types: Option<Vec<String>>,
    /// `elb_capacity`: API path (000 prints two).
    pub path: Option<String>,
}

pub const TENANT_RESOURCE_TYPES: &[&str] = &[
    "ECS",
    "EVS",
    "EIP",
    "OBS",
    "BMS",
    "ELB",
    "VPN",
    "DCS",
    "DMS",
    "RDS",
    "GAUSS",
    "MODEL_ARTS_INF",
    "MODEL_ARTS_TRAIN",
    "MODEL_ARTS_MAOS",
];

pub(crate) fn parse_target(t: &mut Obj, ctx: &mut Ctx) -> Option<EsmTarget> {
    let mut a = t.obj("auth", ctx);
    let token_url = a.url("token_url", ctx);
    let username = a.str("username", ctx);
    let password = a.secret("password", "password_file", true, ctx);
    let domain = a.str("domain", ctx);
    let project = a.str("project", ctx);
    let apig_appcode = a.secret("apig_appcode", "apig_appcode_file", true, ctx);
    // The document does not say whether the two AppCodes differ (spec A5): the same by default.
    let hcso_appcode = a
        .secret("hcso_appcode", "hcso_appcode_file", false, ctx)
        .or_else(|| apig_appcode.clone());
    let hcso_domain_id = a.opt_str("hcso_domain_id", ctx);
    a.finish(ctx);

    let mut e = t.obj("esm", ctx);
    let terabyte_bytes = e
        .opt_f64("terabyte_bytes", ctx)
        .unwrap_or(1_099_511_627_776.0);
    if terabyte_bytes != 1_099_511_627_776.0 && terabyte_bytes != 1e12 {
        ctx.problems.add(
            &e.key_path("terabyte_bytes"),
            "must be 1099511627776 (binary, the default) or 1000000000000 (decimal)",
        );
    }
    let page_size = e.opt_u64("page_size", 1..=1000, ctx).unwrap_or(1000);
    let offset_mode = match e.opt_str("offset_mode", ctx).as_deref() {
        None | Some("record") => OffsetMode::Record,
        Some("page0") => OffsetMode::Page0,
        Some("page1") => OffsetMode::Page1,
        Some(other) => {
            ctx.problems.add(
                &e.key_path("offset_mode"),
                format!("`{other}` is not one of record, page0, page1"),
            );
            OffsetMode::Record
        }
    };
    let max_pages = e.opt_u64("max_pages", 1..=100_000, ctx).unwrap_or(1000);
    e.finish(ctx);

    Some(EsmTarget {
        token_url: token_url?,
        username: username?,
        password: password?,
        domain: domain?,
        project: project?,
        apig_appcode: apig_appcode?,
        hcso_appcode: hcso_appcode?,
        hcso_domain_id,
        terabyte_bytes,
        page_size,
        offset_mode,
        max_pages,
    })
}

pub(crate) fn parse_collector_options(
    collector: &str,
    c: &mut Obj,
    ctx: &mut Ctx,
) -> EsmCollectorOptions {
    let mut o = EsmCollectorOptions::default();
    match collector {
        SERVICE_CAPACITY => o.dcc_service_type = c.opt_str("dcc_service_type", ctx),
        CLOUD_SERVICE_ALARMS | HARDWARE_ALARMS => {
            let path = c.key_path("lookback");
            o.lookback = c.opt_duration("lookback", ctx);
            if o.lookback
                .is_some_and(|d| d > Duration::from_secs(60 * 86400))
            {
                ctx.problems.add(
                    &path,
                    "must be at most 60d (the API rejects windows over two months)",
                );
            }
        }
        HOST_METRICS => {
            o.host_ids = c.opt_str_list("host_ids", ctx);
            o.window = c.opt_duration("window", ctx);
        }
        TENANT_RESOURCES => {
            o.window = c.opt_duration("window", ctx);
            let path = c.key_path("resource_types");
            o.resource_types = c.opt_str_list("resource_types", ctx);
            for t in o.resource_types.iter().flatten() {
                if !TENANT_RESOURCE_TYPES.contains(&t.as_str()) {
                    ctx.problems.add(
                        &path,
                        format!(
                            "unknown resource type `{t}`; known: {}",
                            TENANT_RESOURCE_TYPES.join(", ")
                        ),
                    );
                }
            }
        }
        ELB_CAPACITY | HOST_DETAILS => o.path = c.opt_str("path", ctx),
        _ => {}
    }
    o
}

/// Builds the enabled collectors of an ESM target around one shared API client and token.
pub(crate) fn build(
    target: &TargetConfig,
    settings: &EsmTarget,
    client: Arc<ApiClient>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    let api = Arc::new(api::EsmApi::new(
        target.endpoint.clone(),
        settings.clone(),
        client,
    ));
    super::each_collector(target, |name, options| match options {
        CollectorOptions::HuaweiEsm(o) => Some(Arc::new(collect::EsmCollector::new(
            name,
            Arc::clone(&api),
            o.clone(),
        )) as Arc<dyn Collector>),
        _ => None,
    })
}
