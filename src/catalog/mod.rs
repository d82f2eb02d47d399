//! The single source of every metric family headroom exports: name, type, unit, help and labels,
//! the view each belongs to, and (in [`resource`]) the closed vocabulary of resources.
//!
//! Collectors, the store, the self-metrics and `METRICS.md` all read from here; a test regenerates
//! `METRICS.md` from [`markdown`] and fails when the committed file differs, and dashboards and rules
//! may only use names listed here.
//!
//! The capacity model (DESIGN §5) in one paragraph: `headroom_resource_*` is the **pool view**.
//! For each (target, resource) it has one scope level (the [`LEVEL_LABELS`] a series carries) and
//! each family one source, so a `sum` over any labels of one target and resource counts the
//! platform's hardware exactly once. Figures a cloud service, a quota view or a second API report
//! about the same hardware go to the **service view** (`headroom_service_*{service}`), per host to
//! the **host view**, per cluster to the **cluster view**; the views are never summed together.
//! [`BREAKDOWN_LABELS`] split one level's amount further (by server model, GPU model, flavor, ...)
//! and may differ between the families of one resource; rules sum them away before comparing
//! families. The platforms declare, per collector, which series it fills from which field
//! ([`exports`]), and a test holds every simulator's output to those declarations.

pub mod exports;
pub mod resource;

pub use resource::{Resource, Unit};

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

/// The view of the capacity model a family belongs to (DESIGN §5): families of different views
/// describe the same hardware and are never summed together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    /// `headroom_resource_*`: each (target, resource) once, at one level.
    Pool,
    /// `headroom_host_resource_*`: the same hardware per host.
    Host,
    /// `headroom_cluster_resource_*`: the same hardware per cluster (a drill-down level).
    Cluster,
    /// `headroom_service_*`: what a cloud service, a quota view or a second API reports.
    Service,
    /// Per tenant: quotas and what tenants hold.
    Tenant,
    /// Per instance (opt-in).
    Instance,
    /// Counts, inventory, alarms, freshness, versions.
    Inventory,
    /// About headroom itself.
    Exporter,
}

/// Whether a family's series name a [`Resource`], and which `unit` label they then carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measures {
    /// No `resource` label.
    Nothing,
    /// An amount of a resource: `unit` is the resource's unit.
    Amount,
    /// A ratio about a resource: `unit` is `ratio`.
    Ratio,
}

/// One metric family.
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Base unit of the value (`bytes`, `seconds`, `ratio`, `count`, ... or `unit label` where
    /// the `unit` label carries it).
    pub unit: &'static str,
    pub help: &'static str,
    /// Labels every series of the family carries.
    pub labels: &'static [&'static str],
    /// Labels a series carries where the platform's data has them.
    pub optional_labels: &'static [&'static str],
    pub source: Source,
    pub view: View,
    pub measures: Measures,
}

impl PartialEq for MetricDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// The labels that say where an amount is (its scope level). A (target, resource) of the pool
/// view uses one set of them in every family.
pub const LEVEL_LABELS: &[&str] = &[
    "region",
    "az",
    "pool",
    "cluster",
    "datastore",
    "eip_pool",
    "direction",
];
/// The labels that split one level's amount further; `sum without` them gives the level's.
pub const BREAKDOWN_LABELS: &[&str] = &[
    "server_model",
    "storage_type",
    "gpu_model",
    "flavor",
    "eip_type",
];
/// The level and breakdown labels, and any extra ones: the scope labels a family's series may
/// carry.
macro_rules! scope_labels {
    ($($extra:literal),*) => {
        &[
            "region", "az", "pool", "cluster", "datastore", "eip_pool", "direction",
            "server_model", "storage_type", "gpu_model", "flavor", "eip_type", $($extra),*
        ]
    };
}
const SCOPE_LABELS: &[&str] = scope_labels!();
/// The overcommit ratio also says at which level it is configured (`level`).
const RATIO_SCOPE_LABELS: &[&str] = scope_labels!("level");
/// Capacity left out of the pool view says why (`reason`).
const UNUSABLE_SCOPE_LABELS: &[&str] = scope_labels!("reason");
/// A service view series may also carry the storage policy of a quota-view entry.
const SERVICE_SCOPE_LABELS: &[&str] = scope_labels!("policy");
const RESOURCE_LABELS: &[&str] = &["platform", "target", "resource", "unit"];
const SERVICE_LABELS: &[&str] = &["platform", "target", "service", "resource", "unit"];
const HOST_RESOURCE_LABELS: &[&str] = &["platform", "target", "host", "resource", "unit"];
const HOST_SCOPE_LABELS: &[&str] = &["region", "az", "pool", "cluster"];
const CLUSTER_LABELS: &[&str] = &["platform", "target", "cluster", "resource", "unit"];
const CLUSTER_SCOPE_LABELS: &[&str] = &["region", "az", "pool"];
const QUOTA_LABELS: &[&str] = &["platform", "target", "tenant", "resource", "unit"];
const QUOTA_SCOPE_LABELS: &[&str] = &[
    "service",
    "region",
    "az",
    "storage_type",
    "gpu_model",
    "eip_type",
    "quota_key",
];
const CACHED: &str =
    "Cached from a background poll of the platform API, not fetched at scrape time.";

/// A gauge family of a platform (`$measures`: whether and how it names a resource).
macro_rules! measured {
    ($ident:ident, $name:literal, $view:ident, $measures:ident, $unit:literal, $labels:expr, $optional:expr, $help:literal) => {
        pub const $ident: MetricDef = MetricDef {
            name: $name,
            kind: Kind::Gauge,
            unit: $unit,
            help: concat!(
                $help,
                " Cached from a background poll of the platform API, not fetched at scrape time."
            ),
            labels: $labels,
            optional_labels: $optional,
            source: Source::Platform,
            view: View::$view,
            measures: Measures::$measures,
        };
    };
}
macro_rules! pool_family {
    ($ident:ident, $name:literal, $help:literal) => {
        measured!(
            $ident,
            $name,
            Pool,
            Amount,
            "unit label",
            RESOURCE_LABELS,
            SCOPE_LABELS,
            $help
        );
    };
}
macro_rules! service_family {
    ($ident:ident, $name:literal, $help:literal) => {
        measured!(
            $ident,
            $name,
            Service,
            Amount,
            "unit label",
            SERVICE_LABELS,
            SERVICE_SCOPE_LABELS,
            $help
        );
    };
}
macro_rules! host_family {
    ($ident:ident, $name:literal, $measures:ident, $help:literal) => {
        measured!(
            $ident,
            $name,
            Host,
            $measures,
            "unit label",
            HOST_RESOURCE_LABELS,
            HOST_SCOPE_LABELS,
            $help
        );
    };
}
macro_rules! cluster_family {
    ($ident:ident, $name:literal, $help:literal) => {
        measured!(
            $ident,
            $name,
            Cluster,
            Amount,
            "unit label",
            CLUSTER_LABELS,
            CLUSTER_SCOPE_LABELS,
            $help
        );
    };
}

pool_family!(
    RESOURCE_CAPACITY,
    "headroom_resource_capacity",
    "Pool view: raw amount of the resource that exists, in the base unit named by the unit label; each (target, resource) at one level, so sums count the hardware once."
);
pool_family!(
    RESOURCE_ALLOCATABLE,
    "headroom_resource_allocatable",
    "Pool view: amount that may be allocated (capacity x overcommit - reserved, or the platform's own figure)."
);
pool_family!(
    RESOURCE_ALLOCATED,
    "headroom_resource_allocated",
    "Pool view: amount allocated or provisioned to instances or tenants."
);
pool_family!(
    RESOURCE_USED,
    "headroom_resource_used",
    "Pool view: amount actually consumed, where the platform reports it."
);
pool_family!(
    RESOURCE_FREE,
    "headroom_resource_free",
    "Pool view: amount remaining for allocation, as the platform reports it."
);
pool_family!(
    RESOURCE_RESERVED,
    "headroom_resource_reserved",
    "Pool view: amount the platform holds back from allocation (e.g. memory reserved for the hypervisor)."
);
measured!(
    RESOURCE_UNUSABLE,
    "headroom_resource_unusable",
    Pool,
    Amount,
    "unit label",
    RESOURCE_LABELS,
    UNUSABLE_SCOPE_LABELS,
    "Pool view: capacity of hosts that cannot take instances (`reason`: offline, maintenance, disabled), left out of capacity, allocatable and free so that nothing vanishes silently; what their instances hold stays in allocated."
);
pool_family!(
    RESOURCE_FREE_DISCREPANCY,
    "headroom_resource_free_discrepancy",
    "Pool view: free as the platform reports it minus (allocatable - used); non-zero when the platform's own numbers disagree."
);
measured!(
    RESOURCE_OVERCOMMIT_RATIO,
    "headroom_resource_overcommit_ratio",
    Pool,
    Ratio,
    "ratio",
    RESOURCE_LABELS,
    RATIO_SCOPE_LABELS,
    "Pool view: configured overcommit (allocation) ratio; `level` says where it is set (the finest set one applies)."
);
measured!(
    RESOURCE_UTILIZATION_RATIO,
    "headroom_resource_utilization_ratio",
    Pool,
    Ratio,
    "ratio",
    RESOURCE_LABELS,
    SCOPE_LABELS,
    "Pool view: platform-reported utilisation, 0-1 (percentages are divided by 100)."
);

service_family!(
    SERVICE_CAPACITY,
    "headroom_service_capacity",
    "Service view: capacity a cloud service or a second API reports; it describes hardware the pool view already counts, so never add the two."
);
service_family!(
    SERVICE_ALLOCATED,
    "headroom_service_allocated",
    "Service view: amount a cloud service, quota view or second API reports as allocated."
);
service_family!(
    SERVICE_USED,
    "headroom_service_used",
    "Service view: amount a cloud service, quota view or second API reports as consumed."
);
service_family!(
    SERVICE_FREE,
    "headroom_service_free",
    "Service view: amount a cloud service reports as still available to it."
);
service_family!(
    SERVICE_LIMIT,
    "headroom_service_limit",
    "Service view: upper limit a quota view sets on allocation; an unlimited one has no series."
);
service_family!(
    SERVICE_TOTAL_REPORTED,
    "headroom_service_total_reported",
    "Service view: a `total` the platform reports whose meaning as capacity its document does not define; shown as reported, never a denominator for capacity."
);
measured!(
    SERVICE_UTILIZATION_RATIO,
    "headroom_service_utilization_ratio",
    Service,
    Ratio,
    "ratio",
    SERVICE_LABELS,
    SERVICE_SCOPE_LABELS,
    "Service view: utilisation a cloud service or monitoring API reports, 0-1."
);

host_family!(
    HOST_RESOURCE_CAPACITY,
    "headroom_host_resource_capacity",
    Amount,
    "Host view: per-host raw amount of the resource, in the base unit named by the unit label."
);
host_family!(
    HOST_RESOURCE_ALLOCATABLE,
    "headroom_host_resource_allocatable",
    Amount,
    "Host view: per-host amount that may be allocated."
);
host_family!(
    HOST_RESOURCE_ALLOCATED,
    "headroom_host_resource_allocated",
    Amount,
    "Host view: per-host amount allocated to instances."
);
host_family!(
    HOST_RESOURCE_USED,
    "headroom_host_resource_used",
    Amount,
    "Host view: per-host amount actually consumed."
);
host_family!(
    HOST_RESOURCE_FREE,
    "headroom_host_resource_free",
    Amount,
    "Host view: per-host amount remaining, as the platform reports it."
);
host_family!(
    HOST_RESOURCE_RESERVED,
    "headroom_host_resource_reserved",
    Amount,
    "Host view: per-host amount held back from allocation (e.g. memory reserved for the hypervisor)."
);
host_family!(
    HOST_RESOURCE_OVERCOMMIT_RATIO,
    "headroom_host_resource_overcommit_ratio",
    Ratio,
    "Host view: per-host configured overcommit ratio."
);
host_family!(
    HOST_RESOURCE_UTILIZATION_RATIO,
    "headroom_host_resource_utilization_ratio",
    Ratio,
    "Host view: per-host platform-reported utilisation, 0-1 (percentages are divided by 100)."
);

cluster_family!(
    CLUSTER_RESOURCE_CAPACITY,
    "headroom_cluster_resource_capacity",
    "Cluster view: per-cluster raw amount of the resource (a drill-down below the pool; the pool view already counts it)."
);
cluster_family!(
    CLUSTER_RESOURCE_ALLOCATED,
    "headroom_cluster_resource_allocated",
    "Cluster view: per-cluster amount allocated to instances."
);
cluster_family!(
    CLUSTER_RESOURCE_USED,
    "headroom_cluster_resource_used",
    "Cluster view: per-cluster amount actually consumed."
);
cluster_family!(
    CLUSTER_RESOURCE_FREE,
    "headroom_cluster_resource_free",
    "Cluster view: per-cluster amount remaining, as the platform reports it."
);

measured!(
    INSTANCE_RESOURCE_ALLOCATED,
    "headroom_instance_resource_allocated",
    Instance,
    Amount,
    "unit label",
    &[
        "platform",
        "target",
        "vm",
        "vm_id",
        "resource",
        "unit"
    ],
    &["az", "host", "tenant"],
    "Per-VM allocation (`vm` and `vm_id`: Prometheus owns `instance`); exported only when a collector's per-VM option is on."
);
measured!(
    QUOTA_LIMIT,
    "headroom_quota_limit",
    Tenant,
    Amount,
    "unit label",
    QUOTA_LABELS,
    QUOTA_SCOPE_LABELS,
    "Quota limit per tenant and resource; an unlimited quota has no series."
);
measured!(
    QUOTA_USED,
    "headroom_quota_used",
    Tenant,
    Amount,
    "unit label",
    QUOTA_LABELS,
    QUOTA_SCOPE_LABELS,
    "Quota used per tenant and resource."
);
measured!(
    TENANT_RESOURCE_ALLOCATED,
    "headroom_tenant_resource_allocated",
    Tenant,
    Amount,
    "unit label",
    &["platform", "target", "tenant", "service", "resource", "unit"],
    &["region", "az"],
    "Resources allocated to a tenant's instances, summed from the platform's instance list (independent of its quota bookkeeping)."
);

/// A gauge family of a platform that names no resource.
macro_rules! plain {
    ($ident:ident, $name:literal, $view:ident, $unit:literal, $labels:expr, $optional:expr, $help:literal) => {
        measured!($ident, $name, $view, Nothing, $unit, $labels, $optional, $help);
    };
}
plain!(
    TENANT_RESOURCES,
    "headroom_tenant_resources",
    Tenant,
    "count",
    &["platform", "target", "tenant", "service"],
    &["region", "az", "flavor"],
    "Resource instances allocated to a tenant, counted from the platform's tenant resource records."
);
plain!(
    FLAVOR_FREE_SLOTS,
    "headroom_flavor_free_slots",
    Pool,
    "count",
    &["platform", "target", "flavor", "origin"],
    &["region", "az", "pool"],
    "How many more instances of a flavor (`origin` catalog) or configured instance size (`origin` config) fit on the usable hosts of a place, counted host by host from each host's free vCPU, memory, disk and GPUs against what it may allocate; sizes compete for the same hosts, so do not add them up."
);
plain!(
    FLAVOR_FREE_SLOTS_N_MINUS_ONE,
    "headroom_flavor_free_slots_n_minus_one",
    Pool,
    "count",
    &["platform", "target", "flavor", "origin"],
    &["region", "az", "pool"],
    "Free slots of the size left after the place loses the host whose loss costs most: the other hosts' slots minus those re-placing the lost host's allocations takes; 0 for a place of one host."
);
plain!(
    FLAVOR_SLOTS_ALERT_BELOW,
    "headroom_flavor_slots_alert_below",
    Pool,
    "count",
    &["platform", "target", "flavor", "origin"],
    &[],
    "The configured instance size's `alert_below`: HeadroomFlavorSlotsLow fires when fewer N-1 slots than this remain in a place."
);
plain!(
    HOST_INFO,
    "headroom_host_info",
    Inventory,
    "info",
    &["platform", "target", "host"],
    &[
        "host_id",
        "device_type",
        "model",
        "os",
        "state",
        "region",
        "az",
        "pool",
        "cluster",
        "address"
    ],
    "Host or device inventory; always 1, the labels carry the metadata."
);
plain!(
    HOSTS,
    "headroom_hosts",
    Inventory,
    "count",
    &["platform", "target", "state"],
    &[
        "device_type",
        "region",
        "az",
        "pool",
        "cluster",
        "maintenance"
    ],
    "Number of hosts or devices by type and state."
);
plain!(
    ALARMS_ACTIVE,
    "headroom_alarms_active",
    Inventory,
    "count",
    &["platform", "target", "source", "severity"],
    &["region", "az", "object_type"],
    "Active (uncleared) alarms by severity."
);
plain!(
    SOURCE_TIMESTAMP,
    "headroom_source_timestamp_seconds",
    Inventory,
    "seconds",
    &["platform", "target", "collector"],
    &["service", "region"],
    "Unix time at which the platform says the newest data of this collector was taken (ESM capacity is daily)."
);
plain!(
    PLATFORM_INFO,
    "headroom_platform_info",
    Inventory,
    "info",
    &["platform", "target"],
    &["version", "build", "region", "mode"],
    "The platform's own version and identity; always 1, the labels carry the metadata."
);
plain!(
    API_VERSION_INFO,
    "headroom_api_version_info",
    Inventory,
    "info",
    &["platform", "target", "api", "version"],
    &[],
    "The API version headroom uses for an endpoint family (the newest the site serves); always 1."
);
plain!(
    PLATFORM_OBJECTS,
    "headroom_platform_objects",
    Inventory,
    "count",
    &["platform", "target", "kind", "state"],
    &[],
    "Platform-wide object counts as the platform's overview reports them, by kind (host, vm, nfv, az) and state (total, online, offline, running, error, alarm); states overlap, so do not sum them."
);
plain!(
    LICENSE_REMAINING,
    "headroom_license_remaining_seconds",
    Inventory,
    "seconds",
    &["platform", "target", "product", "kind"],
    &[],
    "Time left on a licence (kind software or service) as the platform reports it; a perpetual licence has no series."
);

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
            view: View::Exporter,
            measures: Measures::Nothing,
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
    "Failed polls by reason: timeout, auth, throttled, http, parse, budget, page_limit, tls, internal."
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
    &["version", "revision", "rustc", "os", "arch"],
    "Build information: version, git revision, compiler version, target OS and architecture; always 1."
);
self_metric!(
    PROCESS_CPU_SECONDS,
    "process_cpu_seconds_total",
    Kind::Counter,
    "seconds",
    &[],
    "User and system CPU time the process has used (from /proc, the client libraries' convention)."
);
self_metric!(
    PROCESS_RESIDENT_MEMORY,
    "process_resident_memory_bytes",
    Kind::Gauge,
    "bytes",
    &[],
    "Resident memory of the process."
);
self_metric!(
    PROCESS_VIRTUAL_MEMORY,
    "process_virtual_memory_bytes",
    Kind::Gauge,
    "bytes",
    &[],
    "Virtual memory size of the process."
);
self_metric!(
    PROCESS_START_TIME,
    "process_start_time_seconds",
    Kind::Gauge,
    "seconds",
    &[],
    "Unix time the process started."
);
self_metric!(
    PROCESS_OPEN_FDS,
    "process_open_fds",
    Kind::Gauge,
    "count",
    &[],
    "Open file descriptors."
);
self_metric!(
    PROCESS_MAX_FDS,
    "process_max_fds",
    Kind::Gauge,
    "count",
    &[],
    "Limit on open file descriptors (the soft limit)."
);

/// Every family, in the order `/metrics` and `METRICS.md` list them.
pub const ALL: &[&MetricDef] = &[
    &RESOURCE_CAPACITY,
    &RESOURCE_ALLOCATABLE,
    &RESOURCE_ALLOCATED,
    &RESOURCE_USED,
    &RESOURCE_FREE,
    &RESOURCE_RESERVED,
    &RESOURCE_UNUSABLE,
    &RESOURCE_FREE_DISCREPANCY,
    &RESOURCE_OVERCOMMIT_RATIO,
    &RESOURCE_UTILIZATION_RATIO,
    &SERVICE_CAPACITY,
    &SERVICE_ALLOCATED,
    &SERVICE_USED,
    &SERVICE_FREE,
    &SERVICE_LIMIT,
    &SERVICE_TOTAL_REPORTED,
    &SERVICE_UTILIZATION_RATIO,
    &HOST_RESOURCE_CAPACITY,
    &HOST_RESOURCE_ALLOCATABLE,
    &HOST_RESOURCE_ALLOCATED,
    &HOST_RESOURCE_USED,
    &HOST_RESOURCE_FREE,
    &HOST_RESOURCE_RESERVED,
    &HOST_RESOURCE_OVERCOMMIT_RATIO,
    &HOST_RESOURCE_UTILIZATION_RATIO,
    &CLUSTER_RESOURCE_CAPACITY,
    &CLUSTER_RESOURCE_ALLOCATED,
    &CLUSTER_RESOURCE_USED,
    &CLUSTER_RESOURCE_FREE,
    &INSTANCE_RESOURCE_ALLOCATED,
    &QUOTA_LIMIT,
    &QUOTA_USED,
    &TENANT_RESOURCES,
    &TENANT_RESOURCE_ALLOCATED,
    &FLAVOR_FREE_SLOTS,
    &FLAVOR_FREE_SLOTS_N_MINUS_ONE,
    &FLAVOR_SLOTS_ALERT_BELOW,
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
    &PROCESS_CPU_SECONDS,
    &PROCESS_RESIDENT_MEMORY,
    &PROCESS_VIRTUAL_MEMORY,
    &PROCESS_START_TIME,
    &PROCESS_OPEN_FDS,
    &PROCESS_MAX_FDS,
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

/// The first part of `METRICS.md`: the model, the vocabulary and every family, generated from
/// [`Resource::ALL`] and [`ALL`]; `platforms::metrics_markdown` adds where each series comes
/// from on each platform.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Metrics\n\n\
         Generated from `src/catalog/` (the families and the resource vocabulary) and from what each\n\
         collector declares beside its code (`src/platforms/<platform>/collect.rs`); a test fails when\n\
         this file differs. Regenerate with `UPDATE_METRICS_MD=1 cargo test --test catalog`.\n\n\
         Values are in base units (bytes, hertz, seconds, counts, ratios 0-1); where a family says\n\
         `unit label`, the `unit` label names the unit of each series. Platform families are served from\n\
         the last good snapshot of a background poll (see `CACHED` below); self-metrics are live.\n\n\
         ## The capacity model\n\n\
         | view | families | a `sum` over one target and resource is |\n|---|---|---|\n\
         | pool | `headroom_resource_*` | the platform's hardware or pool, exactly once: each (target, resource) has one scope level and each family one source |\n\
         | service | `headroom_service_*{service}` | what one cloud service, quota view or second API reports: meaningful per service only, never added to the pool view |\n\
         | host | `headroom_host_resource_*{host}` | the same hardware per host (drill-down) |\n\
         | cluster | `headroom_cluster_resource_*{cluster}` | the same hardware per cluster (drill-down) |\n\
         | tenant | `headroom_quota_*`, `headroom_tenant_*` | per tenant |\n\n\
         Level labels (where an amount is): `region`, `az`, `pool`, `cluster`, `datastore`, `eip_pool`,\n\
         `direction`. Breakdown labels (a split of one level's amount, which may differ between the\n\
         families of one resource; rules sum them away): `server_model`, `storage_type`, `gpu_model`,\n\
         `flavor`, `eip_type`. `capacity` is what exists, `allocatable` what may be allocated, `allocated`\n\
         what is promised to instances or tenants, `used` what is consumed, `free` what the platform says\n\
         remains, `reserved` what it holds back.\n\n\
         ## Resources\n\n\
         Every `resource` label value has one meaning and one `unit` on every platform (ratio families\n\
         carry `unit=\"ratio\"`).\n\n| resource | unit | meaning |\n|---|---|---|\n",
    );
    for r in Resource::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            r.name(),
            r.unit().as_str(),
            r.meaning().replace('|', "\\|")
        ));
    }
    out.push('\n');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_labels_are_the_level_and_breakdown_labels() {
        let both: Vec<&str> = LEVEL_LABELS
            .iter()
            .chain(BREAKDOWN_LABELS)
            .copied()
            .collect();
        assert_eq!(SCOPE_LABELS, both.as_slice());
        assert_eq!(RATIO_SCOPE_LABELS.last(), Some(&"level"));
        assert_eq!(SERVICE_SCOPE_LABELS.last(), Some(&"policy"));
    }
}
