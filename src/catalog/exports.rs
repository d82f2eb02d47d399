//! What a collector declares it exports: for each kind of series, the family, the resource, the
//! labels, and the API field and conversion its values come from.
//!
//! Declarations stand beside the code that fills the series (each platform's `collect` module) and
//! are listed with the collector (`platforms::CollectorInfo::exports`). `METRICS.md` prints them
//! per platform, and tests hold them true: every series a collector produces matches one of its
//! declarations, and a resource of the pool view has one level on each platform.

use super::{MetricDef, Resource, View, BREAKDOWN_LABELS, LEVEL_LABELS};

/// One kind of series a collector exports.
#[derive(Debug)]
pub struct Export {
    pub family: &'static MetricDef,
    /// The resource, for families that measure one.
    pub resource: Option<Resource>,
    /// The `service` label, for the service view (and the tenant families that carry one).
    pub service: Option<&'static str>,
    /// Labels the series carry besides platform, target, resource, unit and service; a series
    /// leaves out those the platform's record does not have.
    pub labels: &'static [&'static str],
    /// The API and field the value comes from.
    pub source: &'static str,
    /// How the platform's value becomes the base unit (and any decision about its meaning).
    pub conversion: &'static str,
}

impl Export {
    /// A series of a family that measures `resource`.
    pub const fn of(
        family: &'static MetricDef,
        resource: Resource,
        labels: &'static [&'static str],
        source: &'static str,
        conversion: &'static str,
    ) -> Export {
        Export {
            family,
            resource: Some(resource),
            service: None,
            labels,
            source,
            conversion,
        }
    }

    /// A service-view series (or a tenant series with a `service` label).
    pub const fn service(
        family: &'static MetricDef,
        service: &'static str,
        resource: Resource,
        labels: &'static [&'static str],
        source: &'static str,
        conversion: &'static str,
    ) -> Export {
        Export {
            family,
            resource: Some(resource),
            service: Some(service),
            labels,
            source,
            conversion,
        }
    }

    /// A series of a family without a resource.
    pub const fn plain(
        family: &'static MetricDef,
        labels: &'static [&'static str],
        source: &'static str,
        conversion: &'static str,
    ) -> Export {
        Export {
            family,
            resource: None,
            service: None,
            labels,
            source,
            conversion,
        }
    }

    /// The scope level of the series: its labels that are [`LEVEL_LABELS`].
    pub fn level(&self) -> Vec<&'static str> {
        let mut l: Vec<&'static str> = self
            .labels
            .iter()
            .copied()
            .filter(|k| LEVEL_LABELS.contains(k))
            .collect();
        l.sort_unstable();
        l
    }

    /// Whether a series with these labels (all but platform and target) is one of this kind.
    pub fn matches(&self, def: &MetricDef, labels: &[(&str, &str)]) -> bool {
        if def.name != self.family.name {
            return false;
        }
        let get = |k: &str| labels.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        if get("resource") != self.resource.map(Resource::name) {
            return false;
        }
        if self.service.is_some() && get("service") != self.service {
            return false;
        }
        labels.iter().all(|(k, _)| match *k {
            "resource" | "unit" => self.resource.is_some(),
            "service" => self.service.is_some() || self.labels.contains(k),
            _ => self.labels.contains(k),
        })
    }

    /// Problems with the declaration itself: labels its family does not allow, a pool-view
    /// series without a resource.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let f = self.family;
        for l in self.labels {
            if !f.labels.contains(l) && !f.optional_labels.contains(l) {
                out.push(format!("{}: label `{l}` is not in the catalogue", f.name));
            }
        }
        let measures = f.measures != super::Measures::Nothing;
        if measures != self.resource.is_some() {
            out.push(format!(
                "{}: resource given where the family has none, or missing",
                f.name
            ));
        }
        if f.view == View::Service && self.service.is_none() {
            out.push(format!(
                "{}: a service-view series needs its service",
                f.name
            ));
        }
        if self.resource == Some(Resource::OtherQuota) && f.view != View::Tenant {
            out.push(format!("{}: `other` is for quota families only", f.name));
        }
        out
    }
}

/// Whether a label only splits a level's amount further.
pub fn is_breakdown(label: &str) -> bool {
    BREAKDOWN_LABELS.contains(&label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    const E: Export = Export::service(
        &catalog::SERVICE_ALLOCATED,
        "ecs",
        Resource::Storage,
        &["az"],
        "s",
        "c",
    );

    #[test]
    fn a_series_matches_only_its_family_resource_service_and_labels() {
        let ok = [
            ("service", "ecs"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("az", "a"),
        ];
        assert!(E.matches(&catalog::SERVICE_ALLOCATED, &ok));
        assert!(
            E.matches(&catalog::SERVICE_ALLOCATED, &ok[..3]),
            "a label may be absent"
        );
        assert!(!E.matches(&catalog::SERVICE_USED, &ok), "another family");
        let other = [
            ("service", "ecs"),
            ("resource", "memory"),
            ("unit", "bytes"),
        ];
        assert!(
            !E.matches(&catalog::SERVICE_ALLOCATED, &other),
            "another resource"
        );
        let svc = [
            ("service", "evs"),
            ("resource", "storage"),
            ("unit", "bytes"),
        ];
        assert!(
            !E.matches(&catalog::SERVICE_ALLOCATED, &svc),
            "another service"
        );
        let extra = [
            ("service", "ecs"),
            ("resource", "storage"),
            ("unit", "bytes"),
            ("pool", "p"),
        ];
        assert!(
            !E.matches(&catalog::SERVICE_ALLOCATED, &extra),
            "an undeclared label"
        );
        assert_eq!(E.level(), vec!["az"]);
    }

    #[test]
    fn declarations_are_checked_against_their_family() {
        let bad = Export::of(
            &catalog::RESOURCE_CAPACITY,
            Resource::Memory,
            &["tenant"],
            "s",
            "c",
        );
        assert_eq!(bad.problems().len(), 1);
        let no_service = Export::of(&catalog::SERVICE_CAPACITY, Resource::Memory, &[], "s", "c");
        assert_eq!(no_service.problems().len(), 1);
        let other = Export::of(
            &catalog::RESOURCE_CAPACITY,
            Resource::OtherQuota,
            &[],
            "s",
            "c",
        );
        assert_eq!(other.problems().len(), 1);
        assert!(E.problems().is_empty());
    }
}
