//! The capacity model holds on every platform: each collector's declarations are valid, a
//! resource has one scope level in the pool view of each platform, and every series every
//! simulator's data produces (its seeded fleet and the vendor examples) is one its collector
//! declares, with the resource's own unit.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use common::*;
use headroom::catalog::{self, Measures, Resource, View};
use headroom::collect::PollContext;
use headroom::platforms::PlatformKind;

#[test]
fn every_declaration_is_valid() {
    for kind in PlatformKind::ALL {
        for c in kind.collectors() {
            assert!(
                !c.exports.is_empty(),
                "{}/{} declares nothing",
                kind.as_str(),
                c.name
            );
            for e in c.exports {
                let problems = e.problems();
                assert!(
                    problems.is_empty(),
                    "{}/{}: {problems:?}",
                    kind.as_str(),
                    c.name
                );
                assert!(!e.source.is_empty() && !e.conversion.is_empty());
            }
        }
    }
}

#[test]
fn a_resource_has_one_level_in_the_pool_view_of_each_platform() {
    for kind in PlatformKind::ALL {
        let mut levels: BTreeMap<Resource, BTreeSet<Vec<&str>>> = BTreeMap::new();
        for c in kind.collectors() {
            for e in c.exports {
                // Overcommit ratios say at which level they are set (`level`); they are never
                // summed.
                if e.family.view != View::Pool
                    || e.family.name == catalog::RESOURCE_OVERCOMMIT_RATIO.name
                {
                    continue;
                }
                if let Some(r) = e.resource {
                    levels.entry(r).or_default().insert(e.level());
                }
            }
        }
        for (resource, found) in levels {
            assert_eq!(
                found.len(),
                1,
                "{}: {} has the pool-view levels {found:?}",
                kind.as_str(),
                resource.name()
            );
        }
    }
}

/// Polls every collector of the config's one target directly and checks each sample against the
/// collector's declarations; returns the number of samples checked.
async fn check_collectors(cfg: &headroom::config::Config) -> usize {
    let (_store, _metrics, tasks) = one_shot(cfg);
    let kind = cfg.targets[0].platform;
    let mut checked = 0;
    for t in &tasks {
        let info = kind
            .collectors()
            .iter()
            .find(|c| c.name == t.collector_name)
            .unwrap_or_else(|| {
                panic!(
                    "{} is not a collector of {}",
                    t.collector_name,
                    kind.as_str()
                )
            });
        let ctx = PollContext {
            deadline: tokio::time::Instant::now() + t.interval,
            started: SystemTime::now(),
        };
        let batch = t
            .collector
            .poll(&ctx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.collector_name));
        for s in batch.samples() {
            let labels: Vec<(&str, &str)> =
                s.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert!(
                info.exports.iter().any(|e| e.matches(s.def, &labels)),
                "{}/{}: {}{labels:?} is not declared",
                kind.as_str(),
                t.collector_name,
                s.def.name
            );
            let get = |k: &str| labels.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
            if s.def.measures != Measures::Nothing {
                let resource = get("resource").and_then(Resource::parse);
                let resource = resource.unwrap_or_else(|| {
                    panic!(
                        "{}: {labels:?}: not a resource of the vocabulary",
                        s.def.name
                    )
                });
                let unit = if s.def.measures == Measures::Ratio {
                    "ratio"
                } else {
                    resource.unit().as_str()
                };
                assert_eq!(get("unit"), Some(unit), "{}{labels:?}", s.def.name);
            }
            if s.def.name.ends_with("_ratio") {
                assert_eq!(get("unit"), Some("ratio"), "{}{labels:?}", s.def.name);
            }
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_of_every_simulator_is_declared() {
    use headroom::sim::{cecstack, h3c_cloudos, huawei_esm, sangfor_scp};
    let mut checked = BTreeMap::new();

    let (esm, _) = esm_sim(huawei_esm::EsmSimConfig::default()).await;
    let target = headroom::cli::esm_demo_target(esm);
    checked.insert(
        "huawei_esm",
        check_collectors(&config("  interval: 300s", &[target])).await,
    );

    for dataset in [sangfor_scp::Dataset::Fleet, sangfor_scp::Dataset::Examples] {
        let scp = scp_sim(sangfor_scp::ScpSimConfig {
            dataset,
            ..Default::default()
        })
        .await;
        let target = scp_target(
            "scp",
            &scp,
            None,
            "    collectors:\n      vms: {per_vm: true}\n",
        );
        *checked.entry("sangfor_scp").or_insert(0) +=
            check_collectors(&config("  interval: 300s", &[target])).await;
    }

    for (dataset, extra) in [
        (h3c_cloudos::Dataset::Fleet, "    budgets: {api: 6000}\n"),
        (
            h3c_cloudos::Dataset::Examples,
            "    budgets: {api: 6000}\n    cloudos: {storage_hosts: [cvknode30]}\n",
        ),
    ] {
        let (cos, _) = cloudos_sim(h3c_cloudos::CloudosSimConfig {
            dataset,
            ..Default::default()
        })
        .await;
        let target = cloudos_target("cos", cos, "demo-password", extra);
        *checked.entry("h3c_cloudos").or_insert(0) +=
            check_collectors(&config("  interval: 300s", &[target])).await;
    }

    for dataset in [cecstack::Dataset::Fleet, cecstack::Dataset::Examples] {
        let (cec, _) = cec_sim(cecstack::CecSimConfig {
            dataset,
            ..Default::default()
        })
        .await;
        let target = cec_target(
            "cec",
            cec,
            "region0",
            "      headers: {Authorization: \"Bearer demo-cec-token\"}\n",
            "    budgets: {api: 6000}\n",
        );
        *checked.entry("cecstack").or_insert(0) +=
            check_collectors(&config("  interval: 300s", &[target])).await;
    }
    for (platform, n) in &checked {
        assert!(*n > 50, "{platform}: only {n} series checked");
    }
}
