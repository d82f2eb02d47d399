//! Free slots counted from a simulator's own host list and flavors, with the tests' own
//! arithmetic (not `headroom::placement`): per usable host the fewest of floor(free ÷ need),
//! summed per place, each shared disk group capped by its free disk; N-1 the worst over the
//! place's hosts of the others' slots, capped per resource by (the others' free − the lost
//! host's allocated) ÷ need (shared disk groups keep their VMs' disks).

use std::collections::BTreeMap;

use headroom::sim::{FlavorTruth, HostTruth, Truth};

/// Three configured instance sizes (target level, YAML at the target's indentation): one bound
/// by vCPU, one by memory, one by GPUs of a model; `sizes()` is the same for the truth's count.
pub const SIZES_YAML: &str = "    instance_sizes:\n      - {name: web.large, vcpus: 4, memory_gib: 8, disk_gib: 50, alert_below: 5}\n      - {name: mem.heavy, vcpus: 2, memory_gib: 96}\n      - {name: gpu.t4, vcpus: 8, memory_gib: 32, gpus: 1, gpu_model: Tesla T4}\n";

/// The SCP simulator's OpenStack-API tenant (target level): with it SCP counts the flavor
/// catalogue too.
pub const SCP_OPENSTACK_YAML: &str = "    scp:\n      openstack: {tenant: ops, username: ops-reader, password: demo-tenant-password}\n";

pub fn sizes() -> Vec<FlavorTruth> {
    const GIB: f64 = 1_073_741_824.0;
    vec![
        FlavorTruth {
            name: "web.large".into(),
            vcpus: 4.0,
            memory: 8.0 * GIB,
            disk: 50.0 * GIB,
            ..FlavorTruth::default()
        },
        FlavorTruth {
            name: "mem.heavy".into(),
            vcpus: 2.0,
            memory: 96.0 * GIB,
            disk: 0.0,
            ..FlavorTruth::default()
        },
        FlavorTruth {
            name: "gpu.t4".into(),
            vcpus: 8.0,
            memory: 32.0 * GIB,
            disk: 0.0,
            gpus: 1.0,
            gpu_model: Some("Tesla T4".into()),
        },
    ]
}

/// (free slots, slots after losing the costliest host) per (flavor, place labels).
pub type Slots = BTreeMap<(String, BTreeMap<String, String>), (f64, f64)>;

fn per_host(h: &HostTruth, f: &FlavorTruth) -> f64 {
    let room = |allocatable: f64, allocated: f64, need: f64| {
        if need <= 0.0 {
            f64::MAX
        } else {
            ((allocatable - allocated).max(0.0) / need).floor()
        }
    };
    let mut n = room(h.vcpu_allocatable, h.vcpu_allocated, f.vcpus).min(room(
        h.memory_allocatable,
        h.memory_allocated,
        f.memory,
    ));
    if let (Some(a), Some(u)) = (h.disk_allocatable, h.disk_allocated) {
        n = n.min(room(a, u, f.disk));
    }
    if f.gpus > 0.0 {
        // One instance's cards are of one model: the size's, else the model with most free.
        let free = h
            .gpus
            .iter()
            .filter(|(m, _)| f.gpu_model.as_ref().is_none_or(|want| want == *m))
            .map(|(_, [a, u])| (a - u).max(0.0))
            .fold(0.0, f64::max);
        n = n.min((free / f.gpus).floor());
    }
    n
}

/// A host's GPU cards a size may use: [free, allocated] of its model (of every model when it
/// names none).
fn gpu_cards(h: &HostTruth, f: &FlavorTruth) -> [f64; 2] {
    h.gpus
        .iter()
        .filter(|(m, _)| f.gpu_model.as_ref().is_none_or(|want| want == *m))
        .fold([0.0, 0.0], |[free, held], (_, [a, u])| {
            [free + (a - u).max(0.0), held + u]
        })
}

fn total(hosts: &[&HostTruth], f: &FlavorTruth, truth: &Truth) -> f64 {
    let mut sum = 0.0;
    let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
    for h in hosts {
        match (&h.disk_group, f.disk > 0.0) {
            (Some(g), true) => *groups.entry(g).or_default() += per_host(h, f),
            _ => sum += per_host(h, f),
        }
    }
    for (g, n) in groups {
        let cap = truth.disk_groups.get(g).map_or(0.0, |d| {
            ((d.allocatable - d.allocated).max(0.0) / f.disk).floor()
        });
        sum += n.min(cap);
    }
    sum
}

/// The place's room after losing `lost`, in instances of `f`, from the totals.
fn room_after_loss(hosts: &[&HostTruth], lost: usize, f: &FlavorTruth, truth: &Truth) -> f64 {
    let l = hosts[lost];
    let (mut vcpu, mut memory, mut disk) = (0.0, 0.0, 0.0);
    let mut groups = std::collections::BTreeSet::new();
    for (i, h) in hosts.iter().enumerate() {
        if i == lost {
            continue;
        }
        vcpu += (h.vcpu_allocatable - h.vcpu_allocated).max(0.0);
        memory += (h.memory_allocatable - h.memory_allocated).max(0.0);
        if let (Some(a), Some(u)) = (h.disk_allocatable, h.disk_allocated) {
            disk += (a - u).max(0.0);
        }
        if let Some(g) = &h.disk_group {
            groups.insert(g.clone());
        }
    }
    for g in groups {
        if let Some(d) = truth.disk_groups.get(&g) {
            disk += (d.allocatable - d.allocated).max(0.0);
        }
    }
    let units = |room: f64, taken: f64, need: f64| {
        if need > 0.0 {
            ((room - taken).max(0.0) / need).floor()
        } else {
            f64::MAX
        }
    };
    let mut n =
        units(vcpu, l.vcpu_allocated, f.vcpus).min(units(memory, l.memory_allocated, f.memory));
    if f.gpus > 0.0 {
        let free: f64 = hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != lost)
            .map(|(_, h)| gpu_cards(h, f)[0])
            .sum();
        n = n.min(units(free, gpu_cards(l, f)[1], f.gpus));
    }
    // Where no host reports disk room, disk bounds nothing.
    if hosts
        .iter()
        .any(|h| h.disk_allocatable.is_some() || h.disk_group.is_some())
    {
        n = n.min(units(disk, l.disk_allocated.unwrap_or(0.0), f.disk));
    }
    n
}

/// The slots of every flavor of the truth and of `extra` sizes, per place of the usable hosts.
pub fn truth_slots(truth: &Truth, extra: &[FlavorTruth]) -> Slots {
    let mut places: BTreeMap<BTreeMap<String, String>, Vec<&HostTruth>> = BTreeMap::new();
    for h in truth.hosts.iter().filter(|h| h.usable) {
        places.entry(h.at.clone()).or_default().push(h);
    }
    let mut out = Slots::new();
    for f in truth.flavors.iter().chain(extra) {
        for (at, hosts) in &places {
            let free = total(hosts, f, truth);
            let mut worst = f64::MAX;
            for i in 0..hosts.len() {
                let others: Vec<&HostTruth> = hosts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, h)| *h)
                    .collect();
                worst =
                    worst.min(total(&others, f, truth).min(room_after_loss(hosts, i, f, truth)));
            }
            let worst = if hosts.len() < 2 { 0.0 } else { worst };
            out.insert((f.name.clone(), at.clone()), (free, worst));
        }
    }
    out
}

/// Every exported free and N-1 slot figure equals the truth's, and the truth's all exist;
/// returns how many were compared.
pub fn assert_slots_are_the_truth(body: &str, truth: &Truth, extra: &[FlavorTruth]) -> usize {
    let want = truth_slots(truth, extra);
    assert!(!want.is_empty(), "the simulator gave no hosts or flavors");
    let got = |family: &str| {
        super::family_series(body, family)
            .into_iter()
            .map(|(mut l, v)| {
                let flavor = l.remove("flavor").unwrap_or_default();
                l.remove("origin");
                ((flavor, l), v)
            })
            .collect::<BTreeMap<_, _>>()
    };
    let free = got("headroom_flavor_free_slots");
    let n1 = got("headroom_flavor_free_slots_n_minus_one");
    for (key, (f, n)) in &want {
        assert_eq!(free.get(key), Some(f), "free slots of {key:?}");
        assert_eq!(n1.get(key), Some(n), "N-1 slots of {key:?}");
    }
    assert_eq!(
        free.len(),
        want.len(),
        "no slot figure the truth has not: {free:?}"
    );
    want.len() * 2
}

/// Every slot figure the platform counts itself (`origin="platform"`) equals the truth's, and
/// there are no others; returns how many were compared.
pub fn assert_platform_slots_are_the_truth(body: &str, truth: &Truth) -> usize {
    assert!(
        !truth.platform_slots.is_empty(),
        "the simulator counts no slots"
    );
    let got: BTreeMap<BTreeMap<String, String>, f64> =
        super::family_series(body, "headroom_flavor_free_slots")
            .into_iter()
            .filter(|(l, _)| l.get("origin").map(String::as_str) == Some("platform"))
            .map(|(mut l, v)| {
                l.remove("origin");
                (l, v)
            })
            .collect();
    for f in &truth.platform_slots {
        assert_eq!(
            got.get(&f.at),
            Some(&f.value),
            "platform slots at {:?}",
            f.at
        );
    }
    assert_eq!(got.len(), truth.platform_slots.len(), "no others: {got:?}");
    got.len()
}
