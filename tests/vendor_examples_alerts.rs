//! The vendor documents' example datasets, polled and run through the shipped rules by promtool:
//! the capacity alerts that fire are exactly the ones the documents' numbers call for, each on a
//! denominator that is capacity. Before the capacity model, SCP's quota view (document 004, its
//! `total` of 30 vCPU beside 274 allocated) fired a critical alert at 913 %, and ESM's service
//! rows (document 001) were alerted on as if they were the pool's hardware.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::*;
use headroom::collect::Batch;

/// The series lines of the platform families in an exposition (self-metrics left out).
fn platform_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            headroom::catalog::by_name(name)
                .is_some_and(|d| d.source == headroom::catalog::Source::Platform)
        })
        .map(str::to_string)
        .collect()
}

/// A batch as exposition lines of one target.
fn lines_of(platform: &str, target: &str, batch: &Batch) -> Vec<String> {
    batch
        .samples()
        .iter()
        .map(|s| {
            let mut labels = format!("platform=\"{platform}\",target=\"{target}\"");
            for (k, v) in &s.labels {
                labels.push_str(&format!(
                    ",{k}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            format!("{}{{{labels}}} {}", s.def.name, s.value)
        })
        .collect()
}

/// ESM's examples (the simulator has no example data set): every capacity example of document
/// 001 through the collector's normalisation.
fn esm_examples() -> Vec<String> {
    use headroom::platforms::huawei_esm::api::{parse_page, CapacityRow};
    use headroom::platforms::huawei_esm::collect::normalise_capacity;
    let rows = |name: &str| {
        let path = format!(
            "{}/tests/fixtures/huawei_esm/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse_page::<CapacityRow>(name, &bytes)
            .unwrap_or_else(|e| panic!("{e}"))
            .items
    };
    let tb = 1_099_511_627_776.0;
    let mut b = Batch::new();
    normalise_capacity(
        "physical_capacity",
        "physical",
        Some("ECS"),
        &rows("physical_capacity_compute.json"),
        tb,
        &mut b,
    );
    normalise_capacity(
        "physical_capacity",
        "physical",
        Some("EVS"),
        &rows("physical_capacity_storage.json"),
        tb,
        &mut b,
    );
    for (file, service) in [
        ("service_capacity_ecs_vm.json", "ecs"),
        ("service_capacity_bms.json", "bms"),
        ("service_capacity_evs.json", "evs"),
        ("service_capacity_obs.json", "obs"),
        ("service_capacity_eip.json", "eip"),
        ("service_capacity_rds.json", "rds"),
        ("service_capacity_deh.json", "deh"),
        ("service_capacity_sfs.json", "sfs"),
        ("service_capacity_vpn.json", "vpn"),
        ("service_capacity_eip_000.json", "eip"),
        ("service_capacity_bms_000.json", "bms"),
    ] {
        normalise_capacity("service_capacity", service, None, &rows(file), tb, &mut b);
    }
    lines_of("huawei_esm", "esm-examples", &b)
}

async fn poll(cfg: &headroom::config::Config) -> Vec<String> {
    platform_lines(&poll_and_render(cfg).await)
}

/// `name{labels} value` → a promtool input series of that value for an hour.
fn input_series(line: &str) -> Option<String> {
    let (series, value) = line.rsplit_once(' ')?;
    let v: f64 = value.parse().ok()?;
    v.is_finite().then(|| {
        format!(
            "      - series: '{}'\n        values: '{}x60'\n",
            series.replace('\'', "''"),
            v
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_examples_fire_only_the_alerts_their_numbers_call_for() {
    use headroom::sim::{cecstack, h3c_cloudos, sangfor_scp};
    let mut lines = esm_examples();
    let scp = scp_sim(sangfor_scp::ScpSimConfig {
        dataset: sangfor_scp::Dataset::Examples,
        ..Default::default()
    })
    .await;
    lines.extend(
        poll(&config(
            "  interval: 300s",
            &[scp_target("scp-examples", &scp, None, "")],
        ))
        .await,
    );
    let (cos, _) = cloudos_sim(h3c_cloudos::CloudosSimConfig {
        dataset: h3c_cloudos::Dataset::Examples,
        ..Default::default()
    })
    .await;
    let extra = "    budgets: {api: 6000}\n    cloudos: {storage_hosts: [cvknode30]}\n";
    lines.extend(
        poll(&config(
            "  interval: 300s",
            &[cloudos_target(
                "cloudos-examples",
                cos,
                "demo-password",
                extra,
            )],
        ))
        .await,
    );
    let (cec, _) = cec_sim(cecstack::CecSimConfig {
        dataset: cecstack::Dataset::Examples,
        ..Default::default()
    })
    .await;
    let auth = "      headers: {Authorization: \"Bearer demo-cec-token\"}\n";
    lines.extend(
        poll(&config(
            "  interval: 300s",
            &[cec_target(
                "cec-examples",
                cec,
                "region0",
                auth,
                "    budgets: {api: 6000}\n",
            )],
        ))
        .await,
    );
    let targets: BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l.split("target=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(targets.len(), 4, "{targets:?}");

    // What the documents' numbers call for, all critical (above 90 %):
    // - SCP §4.28: the one Atlas 300VP card has its one instance and all 49,152 MB of its memory
    //   in use (the GPU example sits in the first example pool, 10.134.37.79);
    // - CloudOS §1.13 hostpool: the shared pool `iscsishared` has 23,861,978 MB provisioned of a
    //   10,485,760 MB total (227.6 %), the node pool `isopool` 1,718,732 MB of 1,220,146 (140.9 %; thin
    //   provisioning: allocated over real capacity).
    // Not the SCP quota view (its `total` is no capacity), not ESM's service rows (the service
    // view), nothing below 90 % or 80 %.
    let alert = |labels: &[(&str, &str)], summary: String, description: String| {
        let mut out = String::from("          - exp_labels:\n              severity: critical\n");
        for (k, v) in labels {
            out.push_str(&format!("              {k}: \"{v}\"\n"));
        }
        out.push_str(&format!(
            "            exp_annotations:\n              summary: \"{summary}\"\n              description: \"{description}\"\n              runbook_url: \"file:///usr/share/doc/headroom/rules/README.md#headroomcapacityhigh\"\n"
        ));
        out
    };
    let scp_gpu = |resource: &str, basis: &str| {
        alert(
            &[("platform", "sangfor_scp"), ("target", "scp-examples"), ("resource", resource), ("unit", "ratio"), ("az", "10.134.37.79"), ("basis", basis)],
            format!("{resource} {basis} at 100% in scp-examples/10.134.37.79"),
            format!("The {resource} {basis} share of sangfor_scp target scp-examples (region -, AZ 10.134.37.79, pool -, cluster -) is 100%, above its critical threshold."),
        )
    };
    let cloudos = |datastore: &str, share: &str| {
        alert(
            &[
                ("platform", "h3c_cloudos"),
                ("target", "cloudos-examples"),
                ("resource", "storage"),
                ("unit", "ratio"),
                ("pool", "hostpool01"),
                ("cluster", "cluster1-R3830G5"),
                ("datastore", datastore),
                ("basis", "allocated"),
            ],
            format!("storage allocated at {share} in cloudos-examples/hostpool01/cluster1-R3830G5/{datastore}"),
            format!("The storage allocated share of h3c_cloudos target cloudos-examples (region -, AZ -, pool hostpool01, cluster cluster1-R3830G5) is {share}, above its critical threshold."),
        )
    };
    let expected = [
        scp_gpu("gpu", "used"),
        scp_gpu("gpu_memory", "used"),
        scp_gpu("vgpu", "allocated"),
        cloudos("iscsishared", "227.6%"),
        cloudos("isopool@cvknode30.7", "140.9%"),
    ];
    let dir = std::env::temp_dir().join(format!("headroom-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let rules: Vec<String> = prom::rule_files()
        .iter()
        .map(|p| format!("  - {}\n", p.display()))
        .collect();
    let mut test = format!(
        "rule_files:\n{}evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
        rules.concat()
    );
    for l in &lines {
        test.push_str(&input_series(l).unwrap_or_default());
    }
    test.push_str("    alert_rule_test:\n      - eval_time: 50m\n        alertname: HeadroomCapacityHigh\n        exp_alerts:\n");
    test.push_str(&expected.concat());
    let file = dir.join("examples.test.yml");
    std::fs::write(&file, &test).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(prom::tool("promtool", "PROMTOOL"))
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool (./scripts/test.sh installs it): {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
