//! The streaming reader (`json.rs`: records typed item by item from the body, no tree) gives
//! the same records and the same dropped count as the tree reading it replaced (the body
//! parsed into `serde_json::Value`, the list found in the tree, each item converted), on every
//! platform's list fixtures with their lists made hostile 200 ways each (`sim::mutate`: numbers
//! as strings, nulls, wrong types, keys missing and added, items repeated and dropped, values
//! nested deep). The tree reading here is the oracle; it is not the collector's code.

use std::fmt::Debug;

use headroom::collect::PollError;
use headroom::json::{Cancel, Doc};
use headroom::platforms::{cecstack, h3c_cloudos, huawei_esm, sangfor_scp};
use serde::de::DeserializeOwned;
use serde_json::Value;

const ROUNDS: u64 = 200;

fn fixture(platform: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/{platform}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The tree reading: each item of `list` converted from the tree.
fn oracle<T: DeserializeOwned + Debug>(
    list: &Value,
    unwrap: fn(&Value) -> &Value,
) -> (String, usize) {
    let mut ok = Vec::new();
    let mut dropped = 0;
    for item in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        match serde_json::from_value::<T>(unwrap(item).clone()) {
            Ok(t) => ok.push(t),
            Err(_) => dropped += 1,
        }
    }
    (format!("{ok:?}"), dropped)
}

/// For `ROUNDS` seeds: the list at `list_at` in the fixture made hostile, the body written out,
/// read by `read` (the collector's reader) and by the oracle; both must agree.
fn check<T: DeserializeOwned + Debug>(
    platform: &str,
    name: &str,
    list_at: fn(&mut Value) -> &mut Value,
    unwrap: fn(&Value) -> &Value,
    read: impl Fn(&[u8]) -> Result<(Vec<T>, usize), PollError>,
) -> usize {
    let base = fixture(platform, name);
    let mut records = 0;
    for seed in 0..ROUNDS {
        let mut v = base.clone();
        let list = list_at(&mut v);
        assert!(list.is_array(), "{platform}/{name}: no list there");
        if seed > 0 {
            headroom::sim::mutate(list, &mut fastrand::Rng::with_seed(seed), 0);
        }
        if !list.is_array() {
            // The mutation replaced the list itself; the envelope tests cover that.
            continue;
        }
        let want = oracle::<T>(list, unwrap);
        let body = serde_json::to_vec(&v).unwrap_or_else(|e| panic!("{e}"));
        let (items, dropped) =
            read(&body).unwrap_or_else(|e| panic!("{platform}/{name} seed {seed}: {e}"));
        assert_eq!(
            (format!("{items:?}"), dropped),
            want,
            "{platform}/{name} seed {seed}"
        );
        records += items.len();
    }
    records
}

fn itself(v: &Value) -> &Value {
    v
}

fn cloudos<T: DeserializeOwned + Debug>(name: &str, key: &'static str) -> usize {
    check::<T>(
        "h3c_cloudos",
        name,
        match key {
            "hypervisors" => |v| &mut v["hypervisors"],
            "hostpool" => |v| &mut v["hostpool"],
            "all_limits" => |v| &mut v["all_limits"],
            "servers" => |v| &mut v["servers"],
            "vms" => |v| &mut v["vms"],
            "nodes" => |v| &mut v["nodes"],
            "flavors" => |v| &mut v["flavors"],
            _ => |v| &mut v["aggregates"],
        },
        itself,
        |body| {
            let r = h3c_cloudos::api::read_list::<T>(
                "t",
                body,
                &[key],
                usize::MAX,
                &Cancel::default(),
            )?;
            Ok((r.items, r.dropped))
        },
    )
}

#[test]
fn cloudos_lists_read_the_same_streamed_as_from_a_tree() {
    use h3c_cloudos::api::*;
    let mut n = 0;
    n += cloudos::<Hypervisor>("hypervisors", "hypervisors");
    n += cloudos::<HostPool>("hostpool", "hostpool");
    n += cloudos::<ProjectLimits>("all_limits", "all_limits");
    n += cloudos::<Server>("servers_detail", "servers");
    n += cloudos::<VmwareVm>("vmware_vms_detail", "vms");
    n += cloudos::<Node>("baremetal_nodes", "nodes");
    n += cloudos::<headroom::platforms::nova::Flavor>("flavors_detail", "flavors");
    n += cloudos::<Aggregate>("aggregates", "aggregates");
    assert!(n > 1000, "records compared: {n}");
}

/// An SCP page: the fixture (a page's `data`) inside the `{code, message, data}` envelope.
fn scp_list(v: &mut Value) -> &mut Value {
    if v.get("code").is_none() {
        *v = serde_json::json!({"code": 0, "message": "", "data": v.take()});
    }
    if v["data"].is_array() {
        &mut v["data"]
    } else {
        &mut v["data"]["data"]
    }
}

fn scp<T: DeserializeOwned + Debug>(name: &str) -> usize {
    check::<T>("sangfor_scp", name, scp_list, itself, |body| {
        let data = sangfor_scp::api::envelope("t", body)?;
        let p = sangfor_scp::api::read_page::<T>("t", data, 1000, &Cancel::default())?;
        Ok((p.records.items, p.records.dropped))
    })
}

#[test]
fn scp_lists_read_the_same_streamed_as_from_a_tree() {
    use sangfor_scp::api::*;
    let mut n = 0;
    n += scp::<Host>("hosts_20190725");
    n += scp::<Host>("hosts_20180725");
    n += scp::<Server>("servers_20180725");
    n += scp::<Storage>("storages_20200725");
    n += scp::<Quota>("quotas");
    n += scp::<Volume>("volumes");
    n += scp::<EipPool>("eip_pools");
    n += scp::<Cluster>("clusters_20210725");
    assert!(n > 1000, "records compared: {n}");
}

/// A list item of CECSTACK may sit in its own envelope (the instance example).
fn cec_item(v: &Value) -> &Value {
    match v {
        Value::Object(m) if m.contains_key("code") && m.contains_key("data") => &v["data"],
        other => other,
    }
}

fn cec<T: DeserializeOwned + Debug>(
    name: &str,
    paging: cecstack::api::Paging,
    list_at: fn(&mut Value) -> &mut Value,
) -> usize {
    check::<T>("cecstack", name, list_at, cec_item, move |body| {
        let data = cecstack::api::envelope("t", 200, body)?;
        let (r, _, _) = cecstack::api::read_page::<T>("t", paging, data, 1000, &Cancel::default())?;
        Ok((r.items, r.dropped))
    })
}

#[test]
fn cecstack_lists_read_the_same_streamed_as_from_a_tree() {
    use cecstack::api::*;
    let mut n = 0;
    n += cec::<PoolHost>("pool_hosts", Paging::A("rpHosts"), |v| {
        &mut v["data"]["rpHosts"]
    });
    n += cec::<ResourcePool>("resource_pools", Paging::A("resourcePools"), |v| {
        &mut v["data"]["resourcePools"]
    });
    n += cec::<Instance>("instances", Paging::A("virtualMachines"), |v| {
        &mut v["data"]["virtualMachines"]
    });
    n += cec::<FlavorType>("flavortypes", Paging::A("flavorTypes"), |v| {
        &mut v["data"]["flavorTypes"]
    });
    assert!(n > 500, "records compared: {n}");
}

fn esm<T: DeserializeOwned + Debug>(name: &str) -> usize {
    check::<T>(
        "huawei_esm",
        name,
        |v| match v.get("data").is_some_and(Value::is_object) && v.get("list").is_none() {
            true => &mut v["data"]["list"],
            false => &mut v["list"],
        },
        itself,
        |body| {
            let p = huawei_esm::api::read_page::<T>("t", body, &Cancel::default())?;
            Ok((p.items, p.dropped))
        },
    )
}

#[test]
fn esm_lists_read_the_same_streamed_as_from_a_tree() {
    use huawei_esm::api::*;
    let mut n = 0;
    n += esm::<CapacityRow>("service_capacity_ecs_vm");
    n += esm::<CapacityRow>("physical_capacity_compute");
    n += esm::<Device>("devices");
    n += esm::<HostMetric>("host_metrics_000");
    n += esm::<TenantResource>("tenant_resources_000");
    assert!(n > 500, "records compared: {n}");
}

#[test]
fn a_doc_is_the_body_it_was_made_from() {
    let body = br#"{"a": [1, 2]}"#;
    let d = Doc::parse("t", body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.text().as_bytes(), body);
}
