//! The platforms headroom knows, behind one interface: each lists its collectors and limit
//! scopes, parses its own config keys, and builds its collectors for a target. Adding a platform
//! adds a folder here and one arm to each `match`; it touches no other platform.

pub mod cecstack;
pub mod h3c_cloudos;
pub mod huawei_esm;
pub mod keystone;
pub mod nova;
pub mod sangfor_scp;

use std::sync::Arc;
use std::time::Duration;

use crate::budget::LimitScope;
use crate::catalog::exports::Export;
use crate::collect::Collector;
use crate::config::tree::{Ctx, Obj};
use crate::config::TargetConfig;
use crate::http::ApiClient;

/// The `platform:` value of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformKind {
    HuaweiEsm,
    SangforScp,
    H3cCloudos,
    Cecstack,
}

/// A collector a platform offers.
#[derive(Clone, Copy, Debug)]
pub struct CollectorInfo {
    pub name: &'static str,
    pub default_interval: Duration,
    pub enabled_by_default: bool,
    pub description: &'static str,
    /// The fewest requests one poll makes, per limit scope (more with paging or per-host
    /// calls); config validation warns when the enabled collectors need more than a budget.
    pub min_requests: &'static [(&'static str, u32)],
    /// What the collector exports and from which fields (beside the code that fills them).
    pub exports: &'static [Export],
}

/// Platform-specific settings of a target (auth and options).
#[derive(Clone, Debug, PartialEq)]
pub enum PlatformTarget {
    HuaweiEsm(huawei_esm::EsmTarget),
    SangforScp(sangfor_scp::ScpTarget),
    H3cCloudos(h3c_cloudos::CloudosTarget),
    Cecstack(cecstack::CecTarget),
}

/// Platform-specific options of one collector.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectorOptions {
    HuaweiEsm(huawei_esm::EsmCollectorOptions),
    SangforScp(sangfor_scp::ScpCollectorOptions),
    H3cCloudos(h3c_cloudos::CloudosCollectorOptions),
    Cecstack(cecstack::CecCollectorOptions),
}

impl PlatformKind {
    pub const ALL: [PlatformKind; 4] = [
        PlatformKind::HuaweiEsm,
        PlatformKind::SangforScp,
        PlatformKind::H3cCloudos,
        PlatformKind::Cecstack,
    ];

    pub fn parse(s: &str) -> Option<PlatformKind> {
        PlatformKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PlatformKind::HuaweiEsm => "huawei_esm",
            PlatformKind::SangforScp => "sangfor_scp",
            PlatformKind::H3cCloudos => "h3c_cloudos",
            PlatformKind::Cecstack => "cecstack",
        }
    }

    pub fn names() -> Vec<&'static str> {
        PlatformKind::ALL.iter().map(|k| k.as_str()).collect()
    }

    pub fn collectors(self) -> &'static [CollectorInfo] {
        match self {
            PlatformKind::HuaweiEsm => huawei_esm::COLLECTORS,
            PlatformKind::SangforScp => sangfor_scp::COLLECTORS,
            PlatformKind::H3cCloudos => h3c_cloudos::COLLECTORS,
            PlatformKind::Cecstack => cecstack::COLLECTORS,
        }
    }

    pub fn limit_scopes(self) -> &'static [LimitScope] {
        match self {
            PlatformKind::HuaweiEsm => huawei_esm::LIMIT_SCOPES,
            PlatformKind::SangforScp => sangfor_scp::LIMIT_SCOPES,
            PlatformKind::H3cCloudos => h3c_cloudos::LIMIT_SCOPES,
            PlatformKind::Cecstack => cecstack::LIMIT_SCOPES,
        }
    }
}

/// Reads a target's platform-specific keys (`auth` and options).
pub fn parse_target_settings(
    kind: PlatformKind,
    obj: &mut Obj,
    endpoint: Option<&reqwest::Url>,
    ctx: &mut Ctx,
) -> Option<PlatformTarget> {
    match kind {
        PlatformKind::HuaweiEsm => {
            huawei_esm::parse_target(obj, ctx).map(PlatformTarget::HuaweiEsm)
        }
        PlatformKind::SangforScp => {
            sangfor_scp::parse_target(obj, ctx).map(PlatformTarget::SangforScp)
        }
        PlatformKind::H3cCloudos => {
            h3c_cloudos::parse_target(obj, endpoint, ctx).map(PlatformTarget::H3cCloudos)
        }
        PlatformKind::Cecstack => cecstack::parse_target(obj, ctx).map(PlatformTarget::Cecstack),
    }
}

/// Reads a collector's platform-specific option keys.
pub fn parse_collector_options(
    kind: PlatformKind,
    collector: &str,
    obj: &mut Obj,
    ctx: &mut Ctx,
) -> CollectorOptions {
    match kind {
        PlatformKind::HuaweiEsm => {
            CollectorOptions::HuaweiEsm(huawei_esm::parse_collector_options(collector, obj, ctx))
        }
        PlatformKind::SangforScp => {
            CollectorOptions::SangforScp(sangfor_scp::parse_collector_options(collector, obj, ctx))
        }
        PlatformKind::H3cCloudos => {
            CollectorOptions::H3cCloudos(h3c_cloudos::parse_collector_options(collector, obj, ctx))
        }
        PlatformKind::Cecstack => {
            CollectorOptions::Cecstack(cecstack::parse_collector_options(collector, obj, ctx))
        }
    }
}

/// Builds the enabled collectors of a target, sharing one client (and so one token and one set of
/// budgets) between them.
pub fn build_collectors(
    target: &TargetConfig,
    client: Arc<ApiClient>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    match &target.settings {
        PlatformTarget::HuaweiEsm(settings) => huawei_esm::build(target, settings, client),
        PlatformTarget::SangforScp(settings) => sangfor_scp::build(target, settings, client),
        PlatformTarget::H3cCloudos(settings) => h3c_cloudos::build(target, settings, client),
        PlatformTarget::Cecstack(settings) => cecstack::build(target, settings, client),
    }
}

/// One collector per enabled collector of the target, made by `make` from its name and options
/// (`None` for options of another platform, which config parsing never produces).
pub(crate) fn each_collector(
    target: &TargetConfig,
    make: impl Fn(&'static str, &CollectorOptions) -> Option<Arc<dyn Collector>>,
) -> Vec<(&'static str, Arc<dyn Collector>)> {
    target
        .collectors
        .iter()
        .filter_map(|c| Some((c.name, make(c.name, &c.options)?)))
        .collect()
}

/// `METRICS.md`: the catalogue, then, per platform, every series each collector declares, with
/// the API field it comes from and its conversion.
pub fn metrics_markdown() -> String {
    let mut out = crate::catalog::markdown();
    out.push_str(
        "\n## Where each series comes from\n\n\
         Per platform and collector, as declared beside the code that fills the series. `labels` are\n\
         the labels a series may carry besides platform, target, resource, unit and service.\n",
    );
    for kind in PlatformKind::ALL {
        out.push_str(&format!(
            "\n### {}\n\n| family | resource | service | labels | collector | from | conversion |\n|---|---|---|---|---|---|---|\n",
            kind.as_str()
        ));
        for c in kind.collectors() {
            for e in c.exports {
                let cell = |s: &str| s.replace('|', "\\|");
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} | {} | {} |\n",
                    e.family.name,
                    e.resource
                        .map(|r| format!("`{}`", r.name()))
                        .unwrap_or_default(),
                    e.service.unwrap_or(""),
                    e.labels.join(", "),
                    c.name,
                    cell(e.source),
                    cell(e.conversion)
                ));
            }
        }
    }
    out
}
