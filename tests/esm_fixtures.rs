//! Every capacity-bearing example response of the ESM vendor document gives the expected
//! normalised series: values, units and labels.

mod common;

use common::assert_series;
use headroom::collect::Batch;
use headroom::platforms::huawei_esm::api::{
    parse_page, Alarm, CapacityRow, Device, ElbCluster, HostMetric, TenantResource,
};
use headroom::platforms::huawei_esm::collect::{
    self as esm, normalise_capacity, push_source_times,
};

const TB: f64 = 1_099_511_627_776.0;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/huawei_esm/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn rows<T: serde::de::DeserializeOwned>(name: &str) -> Vec<T> {
    parse_page::<T>(name, &fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .items
}

fn count(batch: &Batch, family: &str) -> usize {
    batch
        .samples()
        .iter()
        .filter(|s| s.def.name == family)
        .count()
}

fn service(name: &str, svc: &str) -> Batch {
    let mut b = Batch::new();
    let t = normalise_capacity(
        "service_capacity",
        svc,
        None,
        &rows::<CapacityRow>(name),
        TB,
        &mut b,
    );
    push_source_times("service_capacity", svc, t, &mut b);
    b
}

#[test]
fn physical_storage_example() {
    let mut b = Batch::new();
    let t = normalise_capacity(
        "physical_capacity",
        "physical",
        Some("EVS"),
        &rows::<CapacityRow>("physical_capacity_storage.json"),
        TB,
        &mut b,
    );
    push_source_times("physical_capacity", "physical", t, &mut b);
    let l = |region| {
        [
            ("resource", "storage"),
            ("unit", "bytes"),
            ("region", region),
            ("pool", "MANAGE"),
            ("storage_type", "SAS"),
        ]
    };
    assert_series(
        &b,
        "headroom_resource_allocated",
        &l("cn-central-229"),
        112.2265625 * TB,
    );
    assert_series(
        &b,
        "headroom_resource_free",
        &l("cn-central-229"),
        94.5693359375 * TB,
    );
    assert_series(
        &b,
        "headroom_resource_allocated",
        &l("cn-east-264"),
        173.3232421875 * TB,
    );
    assert_series(
        &b,
        "headroom_resource_free",
        &l("cn-east-264"),
        102.4052734375 * TB,
    );
    // The storage rows have no `total`: capacity is not invented.
    assert_eq!(count(&b, "headroom_resource_capacity"), 0);
    assert_series(
        &b,
        "headroom_source_timestamp_seconds",
        &[
            ("collector", "physical_capacity"),
            ("service", "physical"),
            ("region", "cn-east-264"),
        ],
        1649692800.0,
    );
    assert_eq!(b.dropped(), 0);
}

#[test]
fn physical_compute_example() {
    let mut b = Batch::new();
    normalise_capacity(
        "physical_capacity",
        "physical",
        Some("ECS"),
        &rows::<CapacityRow>("physical_capacity_compute.json"),
        TB,
        &mut b,
    );
    let mem = [
        ("resource", "memory"),
        ("unit", "bytes"),
        ("region", "cn-east-264"),
        ("pool", "KVM_POD"),
        ("server_model", "C6xLarge"),
    ];
    assert_series(&b, "headroom_resource_capacity", &mem, 44.072265625 * TB);
    assert_series(&b, "headroom_resource_allocated", &mem, 15.2578125 * TB);
    assert_series(&b, "headroom_resource_free", &mem, 26.486328125 * TB);
    assert_series(&b, "headroom_resource_used", &mem, 0.0);
    // Every ratio family carries unit="ratio", whatever the resource's unit.
    let ratio: Vec<(&str, &str)> = mem
        .iter()
        .map(|&(k, v)| if k == "unit" { (k, "ratio") } else { (k, v) })
        .collect();
    assert_series(&b, "headroom_resource_utilization_ratio", &ratio, 0.0);
    let cpu = [
        ("resource", "vcpu"),
        ("unit", "vcpus"),
        ("region", "cn-east-264"),
        ("pool", "KVM_POD"),
        ("server_model", "M6xLarge"),
    ];
    assert_series(&b, "headroom_resource_capacity", &cpu, 10792.0);
    assert_series(&b, "headroom_resource_allocated", &cpu, 4964.0);
    assert_series(&b, "headroom_resource_free", &cpu, 5408.0);
    // 44.072265625 "TB" is 45130 GB: the binary reading.
    assert_eq!(44.072265625 * 1024.0, 45130.0);
}

#[test]
fn ecs_vm_example() {
    let b = service("service_capacity_ecs_vm.json", "ecs");
    let l = [
        ("service", "ecs"),
        ("resource", "instances"),
        ("unit", "count"),
        ("region", "cn-north-213"),
        ("az", "cn-north-213a"),
        ("pool", "MANAGE"),
        ("flavor", "xxx/C6 flavor"),
    ];
    assert_series(&b, "headroom_service_capacity", &l, 238.96484375);
    assert_series(&b, "headroom_service_allocated", &l, 225.8984375);
    assert_series(&b, "headroom_service_free", &l, 13.06640625);
    assert_series(&b, "headroom_service_used", &l, 74.2802734375);
    let mut ratio = l;
    ratio[2] = ("unit", "ratio");
    assert_series(
        &b,
        "headroom_service_utilization_ratio",
        &ratio,
        0.40409390589222816,
    );
    assert_series(
        &b,
        "headroom_source_timestamp_seconds",
        &[
            ("collector", "service_capacity"),
            ("service", "ecs"),
            ("region", "cn-north-213"),
        ],
        1756742400.0,
    );
    // ECS's own free slots of the flavor: 13.07 VMs "still remain", so 13 fit.
    assert_series(
        &b,
        "headroom_flavor_free_slots",
        &[
            ("origin", "platform"),
            ("region", "cn-north-213"),
            ("az", "cn-north-213a"),
            ("pool", "MANAGE"),
            ("flavor", "xxx/C6 flavor"),
        ],
        13.0,
    );
    assert_eq!(b.len(), 7);
}

#[test]
fn storage_services_examples_are_in_bytes() {
    for (file, svc, resource, subtype) in [
        ("service_capacity_evs.json", "evs", "storage", Some("SAS")),
        (
            "service_capacity_obs.json",
            "obs",
            "object_storage",
            Some("a"),
        ),
        ("service_capacity_sfs.json", "sfs", "file_storage", None),
    ] {
        let b = service(file, svc);
        let mut l = vec![
            ("service", svc),
            ("resource", resource),
            ("unit", "bytes"),
            ("region", "cn-north-213"),
            ("az", "cn-north-213a"),
            ("pool", "MANAGE"),
        ];
        // SFS sends metric_type "null": no storage_type label.
        if let Some(s) = subtype {
            l.push(("storage_type", s));
        }
        assert_series(&b, "headroom_service_capacity", &l, 238.96484375 * TB);
        assert_series(&b, "headroom_service_allocated", &l, 225.8984375 * TB);
        assert_series(&b, "headroom_service_free", &l, 13.06640625 * TB);
        assert_series(&b, "headroom_service_used", &l, 74.2802734375 * TB);
    }
}

#[test]
fn counted_services_examples() {
    for (file, svc, resource, label, value) in [
        (
            "service_capacity_bms.json",
            "bms",
            "instances",
            "flavor",
            "physical.kd1ne.2xlarge",
        ),
        (
            "service_capacity_eip.json",
            "eip",
            "eip",
            "eip_type",
            "5_bgp",
        ),
        (
            "service_capacity_rds.json",
            "rds",
            "instances",
            "flavor",
            "dbtype:sqlServer/nosqlServer",
        ),
        (
            "service_capacity_deh.json",
            "deh",
            "hosts",
            "flavor",
            "DeH flavor type: s3/l5",
        ),
    ] {
        let b = service(file, svc);
        let pool = b
            .samples()
            .iter()
            .find_map(|s| {
                s.labels
                    .iter()
                    .find(|(k, _)| *k == "pool")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_default();
        let l = [
            ("service", svc),
            ("resource", resource),
            ("unit", "count"),
            ("region", "cn-north-213"),
            ("az", "cn-north-213a"),
            ("pool", pool.as_str()),
            (label, value),
        ];
        assert_series(&b, "headroom_service_capacity", &l, 238.96484375);
        assert_series(&b, "headroom_service_allocated", &l, 225.8984375);
        assert_series(&b, "headroom_service_free", &l, 13.06640625);
    }
}

#[test]
fn realistic_000_examples() {
    let b = service("service_capacity_eip_000.json", "eip");
    let l = [
        ("service", "eip"),
        ("resource", "eip"),
        ("unit", "count"),
        ("region", "cn-east-264"),
        ("pool", "EIP_POD"),
        ("eip_type", "5_bgp"),
    ];
    assert_series(&b, "headroom_service_capacity", &l, 490.0);
    assert_series(&b, "headroom_service_allocated", &l, 358.0);
    assert_series(&b, "headroom_service_free", &l, 132.0);
    let b = service("service_capacity_bms_000.json", "bms");
    let l = [
        ("service", "bms"),
        ("resource", "instances"),
        ("unit", "count"),
        ("region", "cn-east-264"),
        ("pool", "POD"),
        ("flavor", "physical.kd1ne.2xlarge"),
    ];
    assert_series(&b, "headroom_service_capacity", &l, 4.0);
    assert_series(&b, "headroom_service_free", &l, 4.0);
    assert_series(&b, "headroom_service_allocated", &l, 0.0);
}

#[test]
fn dcc_placeholder_metric_type_is_not_guessed() {
    // "Host/memory/vCPU" names all three kinds: nothing is exported, the row is counted as dropped.
    let b = service("service_capacity_dcc.json", "dcc");
    assert_eq!(count(&b, "headroom_service_capacity"), 0);
    assert_eq!(b.dropped(), 1);
}

#[test]
fn vpn_example() {
    let b = service("service_capacity_vpn.json", "vpn");
    let gw = [
        ("service", "vpn"),
        ("resource", "vpn_gateways"),
        ("unit", "count"),
        ("region", "cn-east-264"),
        ("pool", "VPN_POD"),
    ];
    assert_series(&b, "headroom_service_capacity", &gw, 5.0);
    assert_series(&b, "headroom_service_free", &gw, 5.0);
    assert_series(&b, "headroom_service_allocated", &gw, 0.0);
    let conn = [
        ("service", "vpn"),
        ("resource", "vpn_connections"),
        ("unit", "count"),
        ("region", "cn-east-264"),
        ("pool", "VPN_POD"),
    ];
    assert_series(&b, "headroom_service_capacity", &conn, 0.0);
    assert_series(
        &b,
        "headroom_source_timestamp_seconds",
        &[
            ("collector", "service_capacity"),
            ("service", "vpn"),
            ("region", "cn-east-264"),
        ],
        1650211200.0,
    );
}

#[test]
fn device_example() {
    let mut b = Batch::new();
    esm::normalise_devices(&rows::<Device>("devices.json"), &mut b);
    assert_series(
        &b,
        "headroom_host_info",
        &[
            ("host", "Device name"),
            ("host_id", "Physical device ID"),
            ("device_type", "Device type"),
            ("model", "Device specifications"),
            ("os", "Operating system of a device"),
            ("state", "running status"),
            ("region", "cn-north-1"),
            ("address", "IP address of the device management port"),
        ],
        1.0,
    );
    assert_series(
        &b,
        "headroom_hosts",
        &[
            ("device_type", "Device type"),
            ("state", "running status"),
            ("region", "cn-north-1"),
        ],
        1.0,
    );
}

#[test]
fn alarm_examples_have_an_unknown_severity() {
    // The examples carry description text as severity; it is counted as `unknown`, and the four
    // named severities are exported as 0 for the region.
    for (file, source) in [
        ("cloud_service_alarms.json", "cloud_service"),
        ("hardware_alarms.json", "hardware"),
    ] {
        let mut b = Batch::new();
        esm::normalise_alarms(source, &rows::<Alarm>(file), &mut b);
        assert_series(
            &b,
            "headroom_alarms_active",
            &[
                ("source", source),
                ("severity", "unknown"),
                ("region", "Region name"),
            ],
            1.0,
        );
        assert_series(
            &b,
            "headroom_alarms_active",
            &[
                ("source", source),
                ("severity", "critical"),
                ("region", "Region name"),
            ],
            0.0,
        );
    }
    assert_eq!(esm::severity_name("1"), "critical");
    assert_eq!(esm::severity_name("4"), "warning");
}

#[test]
fn host_metric_examples() {
    let mut b = Batch::new();
    esm::normalise_host_metrics(&rows::<HostMetric>("host_metrics_000.json"), &mut b);
    assert_series(
        &b,
        "headroom_host_resource_utilization_ratio",
        &[
            ("host", "00700188-9859-xxx8-8889-71axxx4565"),
            ("resource", "memory"),
            ("unit", "ratio"),
            ("region", "cn-north-xx"),
        ],
        0.7981,
    );
    // The 001 example is placeholder text: nothing is exported, nothing fails.
    let mut b = Batch::new();
    esm::normalise_host_metrics(&rows::<HostMetric>("host_metrics_placeholder.json"), &mut b);
    assert!(b.is_empty());
}

#[test]
fn tenant_resource_examples() {
    let mut b = Batch::new();
    esm::normalise_tenant_resources(
        "ECS",
        &rows::<TenantResource>("tenant_resources_000.json"),
        &mut b,
    );
    assert_series(
        &b,
        "headroom_tenant_resources",
        &[
            ("tenant", "op_svc_dbss_e9f3e8381583492191a9d0c4ba725333"),
            ("service", "ecs"),
            ("region", "cn-north-213"),
            ("az", "cn-north-213a"),
            ("flavor", "ks1.xlarge.2.linux"),
        ],
        1.0,
    );
    let placeholder =
        parse_page::<TenantResource>("t", &fixture("tenant_resources_placeholder.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    // `total` is the placeholder "Total number": unknown, so paging relies on the page length.
    assert_eq!(placeholder.total, None);
    assert_eq!(placeholder.raw_len, 1);
}

#[test]
fn elb_example_000() {
    let mut b = Batch::new();
    esm::normalise_elb(&rows::<ElbCluster>("elb_capacity_000.json"), &mut b);
    let l = |r| {
        [
            ("service", "elb"),
            ("resource", r),
            ("unit", "count"),
            ("region", "cn-north-7"),
            ("cluster", "elbv3-cluster01-az1"),
        ]
    };
    assert_series(
        &b,
        "headroom_service_capacity",
        &l("load_balancers"),
        8000.0,
    );
    assert_series(
        &b,
        "headroom_service_allocated",
        &l("load_balancers"),
        164.0,
    );
    assert_series(&b, "headroom_service_capacity", &l("l4_members"), 30000.0);
    // l4_member_count is "": no allocated series.
    assert!(!b
        .samples()
        .iter()
        .any(|s| s.def.name == "headroom_service_allocated"
            && s.labels.iter().any(|(_, v)| v == "l4_members")));
    assert_series(&b, "headroom_service_allocated", &l("l7_listeners"), 82.0);
}

#[test]
fn host_detail_example_000() {
    // The document prints the embedded JSON unescaped; this is the same record as a real server
    // must send it (JSON in strings).
    let body = serde_json::json!({"total": 1, "list": [{
        "REGION_ID": "cn-north-7", "HOST_ID": "dea41fb4-2583-45d7-a4b1-22d8d27c5024", "HOST_NAME": "ecs_4-CXXX034",
        "CPU": "[{\"cores\":\"22\",\"model\":\"Intel(R) Xeon(R) Gold 6161 CPU @ 2.20GHz\",\"threads\":\"2\",\"sockets\":\"2\"}]",
        "MEMORY": serde_json::to_string(&vec![serde_json::json!({"size": "32 GB", "type": "DDR4"}); 10]).unwrap_or_default(),
        "DISK": "[{\"disk\":\"/dev/sda:599.0GB\"},{\"disk\":\"/dev/sdb:1598.0GB\"},{\"disk\":\"/dev/sdc:10.7GB\"}]",
        "AZ_CODE": "1", "POD_CODE": "1", "CLUSTER_NAME": "ecs"}]})
    .to_string();
    let recs = parse_page::<headroom::platforms::huawei_esm::api::HostDetail>(
        "host_details",
        body.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .items;
    let mut b = Batch::new();
    esm::normalise_host_details(&recs, &mut b);
    let l = |r, u| {
        [
            ("host", "ecs_4-CXXX034"),
            ("resource", r),
            ("unit", u),
            ("region", "cn-north-7"),
            ("az", "1"),
            ("cluster", "ecs"),
        ]
    };
    // 2 sockets x 22 cores x 2 threads: 44 cores, 88 logical CPUs.
    assert_series(
        &b,
        "headroom_host_resource_capacity",
        &l("cpu_cores", "cores"),
        44.0,
    );
    assert_series(
        &b,
        "headroom_host_resource_capacity",
        &l("cpu_threads", "threads"),
        88.0,
    );
    // DIMMs are binary: 10 x 32 GiB.
    assert_series(
        &b,
        "headroom_host_resource_capacity",
        &l("memory", "bytes"),
        320.0 * 1024f64.powi(3),
    );
    // Disks as the OS prints them are decimal: `10.7GB` is a 10 GiB disk, not 10.7 GiB.
    assert_series(
        &b,
        "headroom_host_resource_capacity",
        &l("local_disk", "bytes"),
        (599.0 + 1598.0 + 10.7) * 1e9,
    );
    let cluster = |r, u| {
        [
            ("resource", r),
            ("unit", u),
            ("region", "cn-north-7"),
            ("cluster", "ecs"),
        ]
    };
    assert_series(
        &b,
        "headroom_resource_capacity",
        &cluster("cpu_cores", "cores"),
        44.0,
    );
    assert_series(
        &b,
        "headroom_resource_capacity",
        &cluster("cpu_threads", "threads"),
        88.0,
    );
}

#[test]
fn sizes_are_binary_for_memory_and_decimal_for_disks() {
    use headroom::platforms::huawei_esm::collect::{parse_size, SizeUnits};
    assert_eq!(
        parse_size("32 GB", SizeUnits::Binary),
        Some(32.0 * 1024f64.powi(3))
    );
    assert_eq!(parse_size("10.7GB", SizeUnits::Decimal), Some(10.7e9));
    assert_eq!(
        parse_size("1 GiB", SizeUnits::Decimal),
        Some(1024f64.powi(3))
    );
    assert_eq!(parse_size("2 furlongs", SizeUnits::Decimal), None);
}

#[test]
fn lenient_envelopes_and_values() {
    // Numbers as numbers, "null" values, a `data` wrapper with code/msg, unknown fields.
    let body = br#"{"code":"0","msg":"ok","data":{"total":1,"list":[{"service_type":"EVS","metric_type":"SSD","region":"r1","az_id":"r1a",
        "zone_type":"pod","total":2,"allocated":"null","available":"","used":1.5,"used_ratio":"abc","timestamp":1650211200000,"extra":"x"}]}}"#;
    let page = parse_page::<CapacityRow>("t", body).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_capacity("service_capacity", "evs", None, &page.items, TB, &mut b);
    let l = [
        ("service", "evs"),
        ("resource", "storage"),
        ("unit", "bytes"),
        ("region", "r1"),
        ("az", "r1a"),
        ("pool", "POD"),
        ("storage_type", "SSD"),
    ];
    assert_series(&b, "headroom_service_capacity", &l, 2.0 * TB);
    assert_series(&b, "headroom_service_used", &l, 1.5 * TB);
    assert_eq!(
        count(&b, "headroom_service_allocated"),
        0,
        "\"null\" is absent, never 0"
    );
    assert_eq!(
        count(&b, "headroom_service_free"),
        0,
        "\"\" is absent, never 0"
    );
    assert_eq!(b.dropped(), 1, "the unparseable used_ratio is counted");
    // An error envelope without a list is a parse error naming the code.
    let err = parse_page::<CapacityRow>("t", br#"{"code":"ESM.1001","msg":"bad"}"#)
        .err()
        .map(|e| e.message)
        .unwrap_or_default();
    assert!(err.contains("ESM.1001"), "{err}");
    assert!(parse_page::<CapacityRow>("t", b"<html>").is_err());
}

#[test]
fn newest_daily_snapshot_wins() {
    let body = br#"{"total":2,"list":[
        {"metric_type":"SAS","region":"r","zone_type":"POD","total":"1","allocated":"1","available":"0","timestamp":"1650211200000"},
        {"metric_type":"SAS","region":"r","zone_type":"POD","total":"2","allocated":"1","available":"1","timestamp":"1650297600000"}]}"#;
    let page = parse_page::<CapacityRow>("t", body).unwrap_or_else(|e| panic!("{e}"));
    let mut b = Batch::new();
    normalise_capacity("service_capacity", "evs", None, &page.items, 1.0, &mut b);
    let l = [
        ("service", "evs"),
        ("resource", "storage"),
        ("unit", "bytes"),
        ("region", "r"),
        ("pool", "POD"),
        ("storage_type", "SAS"),
    ];
    assert_series(&b, "headroom_service_capacity", &l, 2.0);
}
