//! The single source of every metric family headroom exports: name, type, unit, help and labels.
//!
//! Collectors, the store, the self-metrics and `METRICS.md` all read from here; a test regenerates
//! `METRICS.md` from [`markdown`] and fails when the committed file differs, and dashboards and rules
//! may only use names listed here.

/// The Prometheus type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    /// The word used on the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// Where a family's values come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Filled by a collector from a platform's API; served from the last good snapshot.
    Platform,
    /// Filled by headroom about itself, live at scrape time.
    SelfMetric,
}

/// One metric family.
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Base unit of the value (`bytes`, `cores`, `seconds`, `ratio`, `count`, ... or `various`
    /// where a `unit` label carries it).
    pub unit: &'static str,
    pub help: &'static str,
    /// Labels every series of the family carries.
    pub labels: &'static [&'static str],
    /// Labels a series carries where the platform's data has them.
    pub optional_labels: &'static [&'static str],
    pub source: Source,
}

impl PartialEq for MetricDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// Scope labels a resource series may carry where the platform reports that dimension.
const SCOPE_LABELS: &[&str] = &[
    "region",
    "az",
    "pool",
    "cluster",
    "storage_type",
    "gpu_model",
    "flavor",
    "server_model",
    "eip_type",
    "eip_pool",
    "datastore",
    "direction",
    "level",
];
const RESOURCE_LABELS: &[&str] = &["platform", "target", "service", "resource", "unit"];
const HOST_RESOURCE_LABELS: &[&str] = &["platform", "target", "host", "resource", "unit"];
const HOST_SCOPE_LABELS: &[&str] = &["region", "az", "pool", "cluster"];
const CACHED: &str =
    "Cached from a background poll of the platform API, not fetched at scrape time.";

macro_rules! resource_family {
    ($ident:ident, $name:literal, $unit:literal, $help:literal) => {
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: Kind::Gauge,
            unit: $unit,
            help: concat!(
                $help,
                " Cached from a background poll of the platform API, not fetched at scrape time."
            ),
            labels: RESOURCE_LABELS,
            optional_labels: SCOPE_LABELS,
            source: Source::Platform,
        };
    };
}
macro_rules! host_family {
    ($ident:ident, $name:literal, $unit:literal, $help:literal) => {
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: Kind::Gauge,
            unit: $unit,
            help: concat!(
                $help,
                " Cached from a background poll of the platform API, not fetched at scrape time."
            ),
            labels: HOST_RESOURCE_LABELS,
            optional_labels: HOST_SCOPE_LABELS,
            source: Source::Platform,
        };
    };
}

resource_family!(
    RESOURCE_CAPACITY,
    "headroom_resource_capacity",
    "unit label",
    "Raw amount of the resource that exists, in the base unit named by the unit label."
);
resource_family!(
    RESOURCE_ALLOCATABLE,
    "headroom_resource_allocatable",
    "unit label",
    "Amount that may be allocated (capacity x overcommit - reserved) where the platform says."
);
resource_family!(
    RESOURCE_ALLOCATED,
    "headroom_resource_allocated",
    "unit label",
    "Amount allocated or provisioned to tenants or instances."
);
resource_family!(
    RESOURCE_USED,
    "headroom_resource_used",
    "unit label",
    "Amount actually consumed, where the platform reports it."
);
resource_family!(
    RESOURCE_FREE,
    "headroom_resource_free",
    "unit label",
    "Amount remaining for allocation, as the platform reports it."
);
resource_family!(
    RESOURCE_FREE_DISCREPANCY,
    "headroom_resource_free_discrepancy",
    "unit label",
    "Free as the platform reports it minus (allocatable - used): non-zero when the platform's own numbers disagree."
);
resource_family!(
    RESOURCE_LIMIT,
    "headroom_resource_limit",
    "unit label",
    "Upper limit the platform sets on allocation (e.g. a pool quota); an unlimited one has no series."
);
resource_family!(
    RESOURCE_OVERCOMMIT_RATIO,
    "headroom_resource_overcommit_ratio",
    "ratio",
    "Configured overcommit (allocation) ratio."
);
resource_family!(
    RESOURCE_UTILIZATION_RATIO,
    "headroom_resource_utilization_ratio",
    "ratio",
    "Platform-reported utilisation, 0-1 (percentages are divided by 100)."
);

host_family!(
    HOST_RESOURCE_CAPACITY,
    "headroom_host_resource_capacity",
    "unit label",
    "Per-host raw amount of the resource, in the base unit named by the unit label."
);
host_family!(
    HOST_RESOURCE_ALLOCATABLE,
    "headroom_host_resource_allocatable",
    "unit label",
    "Per-host amount that may be allocated."
);
host_family!(
    HOST_RESOURCE_ALLOCATED,
    "headroom_host_resource_allocated",
    "unit label",
    "Per-host amount allocated to instances."
);
host_family!(
    HOST_RESOURCE_USED,
    "headroom_host_resource_used",
    "unit label",
    "Per-host amount actually consumed."
);
host_family!(
    HOST_RESOURCE_FREE,
    "headroom_host_resource_free",
    "unit label",
    "Per-host amount remaining, as the platform reports it."
);
host_family!(
    HOST_RESOURCE_OVERCOMMIT_RATIO,
    "headroom_host_resource_overcommit_ratio",
    "ratio",
    "Per-host configured overcommit ratio."
);
host_family!(
    HOST_RESOURCE_UTILIZATION_RATIO,
    "headroom_host_resource_utilization_ratio",
    "ratio",
    "Per-host platform-reported utilisation, 0-1 (percentages are divided by 100)."
);

macro_rules! cluster_family {
    ($ident:ident, $name:literal, $help:literal) => {
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: Kind::Gauge,
            unit: "unit label",
            help: concat!(
                $help,
                " Cached from a background poll of the platform API, not fetched at scrape time."
            ),
            labels: &["platform", "target", "cluster", "resource", "unit"],
            optional_labels: &["region", "az"],
            source: Source::Platform,
        };
    };
}
cluster_family!(
    CLUSTER_RESOURCE_CAPACITY,
    "headroom_cluster_resource_capacity",
    "Per-cluster raw amount of the resource (a drill-down below the pool; not part of headroom_resource_*)."
);
cluster_family!(
    CLUSTER_RESOURCE_USED,
    "headroom_cluster_resource_used",
    "Per-cluster amount actually consumed."
);

pub const INSTANCE_RESOURCE_ALLOCATED: MetricDef = MetricDef {
    name: "headroom_instance_resource_allocated",
    kind: Kind::Gauge,
    unit: "unit label",
    help: "Per-instance (VM) allocation; exported only when a collector's per-instance option is on. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "instance", "instance_id", "resource", "unit"],
    optional_labels: &["az", "host", "tenant"],
    source: Source::Platform,
};

pub const QUOTA_LIMIT: MetricDef = MetricDef {
    name: "headroom_quota_limit",
    kind: Kind::Gauge,
    unit: "unit label",
    help: "Quota limit per tenant and resource; an unlimited quota has no series. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "tenant", "resource", "unit"],
    optional_labels: &["service", "region", "az", "storage_type", "gpu_model", "eip_type"],
    source: Source::Platform,
};
pub const QUOTA_USED: MetricDef = MetricDef {
    name: "headroom_quota_used",
    kind: Kind::Gauge,
    unit: "unit label",
    help: "Quota used per tenant and resource. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "tenant", "resource", "unit"],
    optional_labels: &["service", "region", "az", "storage_type", "gpu_model", "eip_type"],
    source: Source::Platform,
};
pub const TENANT_RESOURCES: MetricDef = MetricDef {
    name: "headroom_tenant_resources",
    kind: Kind::Gauge,
    unit: "count",
    help: "Resource instances allocated to a tenant, counted from the platform's tenant resource records. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "tenant", "service"],
    optional_labels: &["region", "az", "flavor"],
    source: Source::Platform,
};
pub const TENANT_RESOURCE_ALLOCATED: MetricDef = MetricDef {
    name: "headroom_tenant_resource_allocated",
    kind: Kind::Gauge,
    unit: "unit label",
    help: "Resources allocated to a tenant's instances, summed from the platform's instance list (independent of its quota bookkeeping). Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "tenant", "service", "resource", "unit"],
    optional_labels: &["region", "az"],
    source: Source::Platform,
};
pub const FLAVOR_FREE_SLOTS: MetricDef = MetricDef {
    name: "headroom_flavor_free_slots",
    kind: Kind::Gauge,
    unit: "count",
    help: "How many more instances of a flavor fit on the current hosts (per AZ), from each host's free vCPU, memory and disk; flavors compete for the same hosts, so do not add them up. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "flavor"],
    optional_labels: &["region", "az", "pool"],
    source: Source::Platform,
};
pub const HOST_INFO: MetricDef = MetricDef {
    name: "headroom_host_info",
    kind: Kind::Gauge,
    unit: "info",
    help: "Host or device inventory; always 1, the labels carry the metadata. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "host"],
    optional_labels: &["host_id", "device_type", "model", "os", "state", "region", "az", "pool", "cluster", "address"],
    source: Source::Platform,
};
pub const HOSTS: MetricDef = MetricDef {
    name: "headroom_hosts",
    kind: Kind::Gauge,
    unit: "count",
    help: "Number of hosts or devices by type and state. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "state"],
    optional_labels: &["device_type", "region", "az", "pool", "cluster", "maintenance"],
    source: Source::Platform,
};
pub const ALARMS_ACTIVE: MetricDef = MetricDef {
    name: "headroom_alarms_active",
    kind: Kind::Gauge,
    unit: "count",
    help: "Active (uncleared) alarms by severity. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "source", "severity"],
    optional_labels: &["region", "az", "object_type"],
    source: Source::Platform,
};
pub const SOURCE_TIMESTAMP: MetricDef = MetricDef {
    name: "headroom_source_timestamp_seconds",
    kind: Kind::Gauge,
    unit: "seconds",
    help: "Unix time at which the platform says the newest data of this collector was taken (ESM capacity is daily). Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "collector"],
    optional_labels: &["service", "region"],
    source: Source::Platform,
};

pub const PLATFORM_INFO: MetricDef = MetricDef {
    name: "headroom_platform_info",
    kind: Kind::Gauge,
    unit: "info",
    help: "The platform's own version and identity; always 1, the labels carry the metadata. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target"],
    optional_labels: &["version", "build", "region", "mode"],
    source: Source::Platform,
};
pub const API_VERSION_INFO: MetricDef = MetricDef {
    name: "headroom_api_version_info",
    kind: Kind::Gauge,
    unit: "info",
    help: "The API version headroom uses for an endpoint family (the newest the site serves); always 1. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "api", "version"],
    optional_labels: &[],
    source: Source::Platform,
};
pub const PLATFORM_OBJECTS: MetricDef = MetricDef {
    name: "headroom_platform_objects",
    kind: Kind::Gauge,
    unit: "count",
    help: "Platform-wide object counts as the platform's overview reports them, by kind (host, vm, nfv, az) and state (total, online, offline, running, error, alarm); states overlap, so do not sum them. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "kind", "state"],
    optional_labels: &[],
    source: Source::Platform,
};
pub const LICENSE_REMAINING: MetricDef = MetricDef {
    name: "headroom_license_remaining_seconds",
    kind: Kind::Gauge,
    unit: "seconds",
    help: "Time left on a licence (kind software or service) as the platform reports it; a perpetual licence has no series. Cached from a background poll of the platform API, not fetched at scrape time.",
    labels: &["platform", "target", "product", "kind"],
    optional_labels: &[],
    source: Source::Platform,
};

macro_rules! self_metric {
    ($ident:ident, $name:literal, $kind:expr, $unit:literal, $labels:expr, $help:literal) => {
        self_metric!($ident, $name, $kind, $unit, $labels, &[], $help);
    };
    ($ident:ident, $name:literal, $kind:expr, $unit:literal, $labels:expr, $optional:expr, $help:literal) => {
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: $kind,
            unit: $unit,
            help: $help,
            labels: $labels,
            optional_labels: $optional,
            source: Source::SelfMetric,
        };
    };
}
/// Live self-metrics about a target: the exposition adds the target's `platform` label (from
/// its configuration), so they filter by platform like everything else.
macro_rules! target_metric {
    ($ident:ident, $name:literal, $kind:expr, $unit:literal, $labels:expr, $help:literal) => {
        self_metric!($ident, $name, $kind, $unit, $labels, &["platform"], $help);
    };
}
const TC: &[&str] = &["target", "collector"];
/// The collector status families also name the platform, so a dashboard or alert can filter
/// exporter health by platform without a join.
const TCP: &[&str] = &["target", "collector", "platform"];
self_metric!(
    COLLECTOR_UP,
    "headroom_collector_up",
    Kind::Gauge,
    "boolean",
    TCP,
    "1 if the collector's last poll succeeded and its data is being served, else 0."
);
self_metric!(
    COLLECTOR_LAST_SUCCESS,
    "headroom_collector_last_success_timestamp_seconds",
    Kind::Gauge,
    "seconds",
    TCP,
    "Unix time of the collector's last successful poll (absent before the first)."
);
self_metric!(
    COLLECTOR_LAST_ATTEMPT,
    "headroom_collector_last_attempt_timestamp_seconds",
    Kind::Gauge,
    "seconds",
    TCP,
    "Unix time at which the collector's last poll finished, successful or not."
);
self_metric!(
    COLLECTOR_DURATION,
    "headroom_collector_duration_seconds",
    Kind::Gauge,
    "seconds",
    TCP,
    "Wall time the collector's last poll took, including waits for the rate budget."
);
self_metric!(
    COLLECTOR_SERIES,
    "headroom_collector_series",
    Kind::Gauge,
    "count",
    TCP,
    "Series in the snapshot the collector is serving."
);
self_metric!(COLLECTOR_DROPPED_VALUES, "headroom_collector_dropped_values", Kind::Gauge, "count", TCP,
    "Values the last successful poll could not parse or map and therefore did not export (see the log).");
self_metric!(
    COLLECTOR_INTERVAL,
    "headroom_collector_interval_seconds",
    Kind::Gauge,
    "seconds",
    TCP,
    "Configured poll interval of the collector (data older than 3 intervals is stale; a poll longer than one interval means its budget is too small)."
);
target_metric!(
    COLLECTOR_ERRORS,
    "headroom_collector_errors_total",
    Kind::Counter,
    "count",
    &["target", "collector", "reason"],
    "Failed polls by reason: timeout, auth, throttled, http, parse, budget."
);
target_metric!(
    COLLECTOR_SKIPPED,
    "headroom_collector_skipped_total",
    Kind::Counter,
    "count",
    TC,
    "Scheduled polls skipped because the previous poll of the collector was still running."
);
target_metric!(
    API_REQUESTS,
    "headroom_api_requests_total",
    Kind::Counter,
    "count",
    &["target", "api", "code"],
    "Requests sent to platform APIs by API and HTTP status (code=\"error\" when no response came)."
);
target_metric!(
    API_REQUEST_DURATION,
    "headroom_api_request_duration_seconds",
    Kind::Histogram,
    "seconds",
    &["target", "api"],
    "Duration of platform API requests, from send to the end of the body."
);
target_metric!(
    API_BUDGET,
    "headroom_api_budget_requests_per_second",
    Kind::Gauge,
    "requests per second",
    &["target", "scope"],
    "Rate budget configured for a limit scope (documented limit x utilisation)."
);
target_metric!(
    API_BUDGET_WAIT,
    "headroom_api_budget_wait_seconds_total",
    Kind::Counter,
    "seconds",
    &["target", "scope"],
    "Time requests spent waiting for the rate budget of a limit scope."
);
target_metric!(
    API_THROTTLED,
    "headroom_api_throttled_total",
    Kind::Counter,
    "count",
    &["target", "scope"],
    "Throttling answers (HTTP 429) received from a limit scope; each pauses the scope."
);
target_metric!(
    API_RETRIES,
    "headroom_api_retries_total",
    Kind::Counter,
    "count",
    &["target", "api"],
    "Requests sent again after a timeout, a 5xx or a 429."
);
target_metric!(
    AUTH_TOKEN_REFRESHES,
    "headroom_auth_token_refreshes_total",
    Kind::Counter,
    "count",
    &["target", "result"],
    "Authentication token requests by result (success, failure)."
);
target_metric!(
    TARGET_TLS_INSECURE,
    "headroom_target_tls_insecure",
    Kind::Gauge,
    "boolean",
    &["target"],
    "1 if TLS certificate verification is turned off for the target."
);
self_metric!(
    CONFIG_RELOAD_SUCCESSFUL,
    "headroom_config_last_reload_successful",
    Kind::Gauge,
    "boolean",
    &[],
    "1 if the last configuration load or reload succeeded."
);
self_metric!(
    CONFIG_RELOAD_TIMESTAMP,
    "headroom_config_last_reload_success_timestamp_seconds",
    Kind::Gauge,
    "seconds",
    &[],
    "Unix time of the last successful configuration load or reload."
);
self_metric!(
    BUILD_INFO,
    "headroom_build_info",
    Kind::Gauge,
    "info",
    &["version"],
    "Build information; always 1."
);

/// Every family, in the order `/metrics` and `METRICS.md` list them.
pub const ALL: &[&MetricDef] = &[
    &RESOURCE_CAPACITY,
    &RESOURCE_ALLOCATABLE,
    &RESOURCE_ALLOCATED,
    &RESOURCE_USED,
    &RESOURCE_FREE,
    &RESOURCE_FREE_DISCREPANCY,
    &RESOURCE_LIMIT,
    &RESOURCE_OVERCOMMIT_RATIO,
    &RESOURCE_UTILIZATION_RATIO,
    &HOST_RESOURCE_CAPACITY,
    &HOST_RESOURCE_ALLOCATABLE,
    &HOST_RESOURCE_ALLOCATED,
    &HOST_RESOURCE_USED,
    &HOST_RESOURCE_FREE,
    &HOST_RESOURCE_OVERCOMMIT_RATIO,
    &HOST_RESOURCE_UTILIZATION_RATIO,
    &CLUSTER_RESOURCE_CAPACITY,
    &CLUSTER_RESOURCE_USED,
    &INSTANCE_RESOURCE_ALLOCATED,
    &QUOTA_LIMIT,
    &QUOTA_USED,
    &TENANT_RESOURCES,
    &TENANT_RESOURCE_ALLOCATED,
    &FLAVOR_FREE_SLOTS,
    &HOST_INFO,
    &HOSTS,
    &ALARMS_ACTIVE,
    &SOURCE_TIMESTAMP,
    &PLATFORM_INFO,
    &API_VERSION_INFO,
    &PLATFORM_OBJECTS,
    &LICENSE_REMAINING,
    &COLLECTOR_UP,
    &COLLECTOR_LAST_SUCCESS,
    &COLLECTOR_LAST_ATTEMPT,
    &COLLECTOR_DURATION,
    &COLLECTOR_SERIES,
    &COLLECTOR_DROPPED_VALUES,
    &COLLECTOR_INTERVAL,
    &COLLECTOR_ERRORS,
    &COLLECTOR_SKIPPED,
    &API_REQUESTS,
    &API_REQUEST_DURATION,
    &API_BUDGET,
    &API_BUDGET_WAIT,
    &API_THROTTLED,
    &API_RETRIES,
    &AUTH_TOKEN_REFRESHES,
    &TARGET_TLS_INSECURE,
    &CONFIG_RELOAD_SUCCESSFUL,
    &CONFIG_RELOAD_TIMESTAMP,
    &BUILD_INFO,
];

/// Index of a platform family in [`ALL`]; snapshots key their encoded lines by it.
pub fn index_of(def: &MetricDef) -> usize {
    ALL.iter()
        .position(|d| d.name == def.name)
        .unwrap_or_else(|| panic!("{} is missing from catalog::ALL", def.name))
}

/// Looks a family up by name.
pub fn by_name(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().copied().find(|d| d.name == name)
}

/// The text of `METRICS.md`, generated from [`ALL`].
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metrics\n\n\
         Generated from `src/catalog.rs` (the single source of metric names); a test fails when this\n\
         file and the catalogue differ. Regenerate with `UPDATE_METRICS_MD=1 cargo test --test catalog`.\n\n\
         Values are in base units (bytes, cores, hertz, seconds, counts, ratios 0-1); where a family says\n\
         `unit label`, the `unit` label names the unit of each series. Platform families are served from\n\
         the last good snapshot of a background poll (see `CACHED` below); self-metrics are live.\n\n",
    );
    for (title, source) in [
        (
            "Capacity and inventory (from platform APIs)",
            Source::Platform,
        ),
        ("Self-metrics (about headroom itself)", Source::SelfMetric),
    ] {
        out.push_str(&format!("## {title}\n\n| name | type | unit | labels | optional labels | help |\n|---|---|---|---|---|---|\n"));
        for def in ALL.iter().filter(|d| d.source == source) {
            let help = def.help.replace(CACHED, "CACHED.").replace('|', "\\|");
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} |\n",
                def.name,
                def.kind.as_str(),
                def.unit,
                def.labels.join(", "),
                def.optional_labels.join(", "),
                help
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!("CACHED: \"{CACHED}\"\n"));
    out
}
