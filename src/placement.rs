//! How many more instances of a size fit, counted host by host, and how many are left after the
//! pool loses a host: the arithmetic every platform's free-slot collector shares.
//!
//! A platform turns its hosts into [`HostRoom`]s (what each usable host may still take, in base
//! units, and what it holds) and its flavors or the configured sizes into [`InstanceSize`]s;
//! [`put_slots`] writes `headroom_flavor_free_slots` and `headroom_flavor_free_slots_n_minus_one`
//! per place (the `region`/`az`/`pool` labels the hosts carry). The platform decides which hosts
//! are usable (offline, maintenance and scheduling-disabled hosts are left out before this) and
//! what "allocatable" means on it (capacity × overcommit − reserved); nothing here knows a
//! platform.
//!
//! Decisions, each chosen so that a figure never overstates what fits:
//! - An instance must fit on one host: per host the fewest of floor(free ÷ need) over the
//!   resources the size needs, summed over the place's hosts. Pool totals are never divided
//!   (fragments on many hosts do not make one instance).
//! - A size that needs GPUs fits only where one model has that many free (its `gpu_model`, or
//!   the model with the most free when the size names none).
//! - Hosts whose disk lives on shared storage name a [`HostRoom::disk_group`]: the slots of the
//!   group's hosts are capped by the group's free disk ÷ the size's disk.
//! - N-1: for every host L of the place, the host-by-host slots of the other hosts, but no more
//!   than their combined free room holds once L's allocations are re-placed on them (per
//!   resource: (Σ others' free − L's allocated) ÷ need); the figure is the worst L. A place of
//!   one host has none left. The cap is counted from totals because where L's instances would
//!   land is the scheduler's choice; the host-by-host part keeps fragments out.

use std::collections::BTreeMap;

use crate::catalog;
use crate::collect::Batch;

/// An instance size to count slots of: a flavor of the platform's catalogue, or one an operator
/// configured (`instance_sizes`).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSize {
    pub name: String,
    pub vcpus: f64,
    /// Bytes.
    pub memory: f64,
    /// Bytes of local (or datastore) disk; 0: not checked.
    pub disk: f64,
    pub gpus: f64,
    /// The GPU model the size needs (`gpu_model` label of the host view); `None`: any one model.
    pub gpu_model: Option<String>,
    /// Where the size comes from (the `origin` label).
    pub origin: Origin,
    /// Alert when fewer slots than this remain after N-1 (configured sizes only).
    pub alert_below: Option<f64>,
}

/// Where an [`InstanceSize`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The platform's flavor catalogue.
    Catalog,
    /// The configuration's `instance_sizes`.
    Config,
    /// Counted by the platform itself (ESM's per-flavor ECS capacity); no N-1 figure.
    Platform,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Catalog => "catalog",
            Origin::Config => "config",
            Origin::Platform => "platform",
        }
    }
}

/// What may be allocated on a host and what is, of one resource, in base units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Room {
    pub allocatable: f64,
    pub allocated: f64,
}

impl Room {
    pub fn new(allocatable: f64, allocated: f64) -> Room {
        Room {
            allocatable,
            allocated,
        }
    }

    /// What is left, never below 0 (an overcommitted host has no room, not negative room).
    pub fn free(self) -> f64 {
        (self.allocatable - self.allocated).max(0.0)
    }
}

/// One usable host as the slot count sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostRoom {
    pub host: String,
    /// The level labels the host's slots are summed at (`region`, `az`, `pool`), in that order.
    pub place: Vec<(&'static str, String)>,
    pub vcpu: Room,
    pub memory: Room,
    /// `None`: the host's disk is not checked (unknown, or shared: see `disk_group`).
    pub disk: Option<Room>,
    /// Shared storage the host's instances' disks go to; its free room is in the groups passed
    /// to [`put_slots`].
    pub disk_group: Option<String>,
    /// Per GPU model.
    pub gpus: BTreeMap<String, Room>,
}

/// Shared disk room by group name ([`HostRoom::disk_group`]).
pub type DiskGroups = BTreeMap<String, Room>;

fn floor_div(free: f64, need: f64) -> f64 {
    if need > 0.0 {
        // `+ 0.0` turns a -0 into 0.
        (free / need).floor().max(0.0) + 0.0
    } else {
        f64::INFINITY
    }
}

/// How many instances of `size` fit on `h` alone (its own resources; a shared disk group caps
/// the group's sum separately).
pub fn fit(h: &HostRoom, size: &InstanceSize) -> f64 {
    let mut n = floor_div(h.vcpu.free(), size.vcpus).min(floor_div(h.memory.free(), size.memory));
    if size.disk > 0.0 {
        if let Some(d) = h.disk {
            n = n.min(floor_div(d.free(), size.disk));
        }
    }
    if size.gpus > 0.0 {
        let free = match &size.gpu_model {
            Some(m) => h.gpus.get(m).map_or(0.0, |r| r.free()),
            None => h.gpus.values().map(|r| r.free()).fold(0.0, f64::max),
        };
        n = n.min(floor_div(free, size.gpus));
    }
    if n.is_finite() {
        n
    } else {
        // A size that needs nothing is no size: config validation refuses it.
        0.0
    }
}

/// The free GPUs of `h` a size may use (its model, or every model when it names none).
fn gpu_room(h: &HostRoom, size: &InstanceSize, of: fn(Room) -> f64) -> f64 {
    match &size.gpu_model {
        Some(m) => h.gpus.get(m).map_or(0.0, |r| of(*r)),
        None => h.gpus.values().map(|r| of(*r)).sum(),
    }
}

/// The free slots and the N-1 slots of `size` in one place.
///
/// N-1 for host L: the other hosts' slots (a disk group capped by its room), but no more than
/// the place's room holds once L's instances are re-placed, counted from totals per resource:
/// (the others' free − L's allocated) ÷ need. An upper bound (fragments ignored) capping the
/// host-by-host count. A shared disk group's VM disks stay on the group when a host is lost; a
/// host's own disk must be found again. Linear in the hosts: every "without L" figure is the
/// place's total less L's part (the tests hold it to the quadratic definition).
pub fn place_slots(hosts: &[&HostRoom], size: &InstanceSize, groups: &DiskGroups) -> (f64, f64) {
    let disk_checked = size.disk > 0.0;
    let fits: Vec<f64> = hosts.iter().map(|h| fit(h, size)).collect();
    fn group_of(h: &HostRoom, disk_checked: bool) -> Option<&str> {
        if disk_checked {
            h.disk_group.as_deref()
        } else {
            None
        }
    }
    let cap = |g: &str| floor_div(groups.get(g).map_or(0.0, |r| r.free()), size.disk);
    // Slots: hosts on their own disk, and per disk group the members' sum.
    let mut own = 0.0;
    let mut grouped: BTreeMap<&str, f64> = BTreeMap::new();
    for (h, n) in hosts.iter().zip(&fits) {
        match group_of(h, disk_checked) {
            Some(g) => *grouped.entry(g).or_insert(0.0) += n,
            None => own += n,
        }
    }
    let all = own + grouped.iter().map(|(g, n)| n.min(cap(g))).sum::<f64>();
    // Room totals of the place, for the bound after a loss.
    let vcpu_free: f64 = hosts.iter().map(|h| h.vcpu.free()).sum();
    let memory_free: f64 = hosts.iter().map(|h| h.memory.free()).sum();
    let own_disk_free: f64 = hosts.iter().map(|h| h.disk.map_or(0.0, Room::free)).sum();
    let disk_known = hosts
        .iter()
        .any(|h| h.disk.is_some() || h.disk_group.is_some());
    let gpu_free: f64 = hosts.iter().map(|h| gpu_room(h, size, Room::free)).sum();
    // Shared disk room, counted once per group, and how many hosts share each.
    let mut sharing: BTreeMap<&str, usize> = BTreeMap::new();
    for h in hosts {
        if let Some(g) = &h.disk_group {
            *sharing.entry(g.as_str()).or_insert(0) += 1;
        }
    }
    let group_free = |g: &str| groups.get(g).map_or(0.0, |r| r.free());
    let shared_free: f64 = sharing.keys().map(|g| group_free(g)).sum();
    let room = |free: f64, taken: f64, need: f64| floor_div((free - taken).max(0.0), need);
    let mut worst = f64::INFINITY;
    for (h, fit_l) in hosts.iter().zip(&fits) {
        let others = match group_of(h, disk_checked) {
            Some(g) => {
                let n = grouped.get(g).copied().unwrap_or(0.0);
                all - n.min(cap(g)) + (n - fit_l).min(cap(g))
            }
            None => all - fit_l,
        };
        let mut bound = room(vcpu_free - h.vcpu.free(), h.vcpu.allocated, size.vcpus).min(room(
            memory_free - h.memory.free(),
            h.memory.allocated,
            size.memory,
        ));
        if disk_checked && disk_known {
            let mut disk = own_disk_free - h.disk.map_or(0.0, Room::free) + shared_free;
            // A group whose only host is the one lost leaves with it.
            if let Some(g) = h.disk_group.as_deref() {
                if sharing.get(g) == Some(&1) {
                    disk -= group_free(g);
                }
            }
            bound = bound.min(room(disk, h.disk.map_or(0.0, |d| d.allocated), size.disk));
        }
        if size.gpus > 0.0 {
            bound = bound.min(room(
                gpu_free - gpu_room(h, size, Room::free),
                gpu_room(h, size, |r| r.allocated),
                size.gpus,
            ));
        }
        let n = others.min(bound);
        worst = worst.min(if n.is_finite() { n } else { 0.0 });
    }
    (all, if worst.is_finite() { worst + 0.0 } else { 0.0 })
}

/// Writes the free and N-1 slots of every size per place of `hosts`, and the alert threshold of
/// each configured size that has one.
pub fn put_slots(
    hosts: &[HostRoom],
    sizes: &[InstanceSize],
    groups: &DiskGroups,
    batch: &mut Batch,
) {
    let mut places: BTreeMap<&[(&'static str, String)], Vec<&HostRoom>> = BTreeMap::new();
    for h in hosts {
        places.entry(h.place.as_slice()).or_default().push(h);
    }
    for size in sizes {
        for (place, members) in &places {
            let (free, n_minus_one) = place_slots(members, size, groups);
            let mut labels: Vec<(&'static str, &str)> =
                vec![("flavor", &size.name), ("origin", size.origin.as_str())];
            labels.extend(place.iter().map(|(k, v)| (*k, v.as_str())));
            batch.push(&catalog::FLAVOR_FREE_SLOTS, &labels, free);
            batch.push(
                &catalog::FLAVOR_FREE_SLOTS_N_MINUS_ONE,
                &labels,
                n_minus_one,
            );
        }
        if let Some(t) = size.alert_below {
            batch.push(
                &catalog::FLAVOR_SLOTS_ALERT_BELOW,
                &[("flavor", &size.name), ("origin", size.origin.as_str())],
                t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many instances of `size` the place's room holds after losing host `lost`, counted from
    /// the place's totals: per resource, the other hosts' free room less what the lost host's
    /// instances take when they are re-placed, over the size's need. An upper bound (fragments are
    /// ignored), which caps the host-by-host count of the other hosts. A shared disk group's VM
    /// disks stay on the group when a host is lost; a host's own disk must be found again.
    fn reference_after_loss_bound(
        hosts: &[&HostRoom],
        size: &InstanceSize,
        groups: &DiskGroups,
        lost: usize,
    ) -> f64 {
        let others = || {
            hosts
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != lost)
                .map(|(_, h)| *h)
        };
        let l = hosts[lost];
        let room = |free: f64, taken: f64, need: f64| floor_div((free - taken).max(0.0), need);
        let mut n = room(
            others().map(|h| h.vcpu.free()).sum(),
            l.vcpu.allocated,
            size.vcpus,
        )
        .min(room(
            others().map(|h| h.memory.free()).sum(),
            l.memory.allocated,
            size.memory,
        ));
        // Disk bounds the place only where its hosts' disk is known (a platform that reports no
        // disk room checks none, as `fit` does).
        let disk_known = hosts
            .iter()
            .any(|h| h.disk.is_some() || h.disk_group.is_some());
        if size.disk > 0.0 && disk_known {
            let own: f64 = others().filter_map(|h| h.disk.map(Room::free)).sum();
            let mut shared: BTreeMap<&str, f64> = BTreeMap::new();
            for h in others() {
                if let Some(g) = &h.disk_group {
                    shared.insert(g, groups.get(g).map_or(0.0, |r| r.free()));
                }
            }
            let taken = l.disk.map_or(0.0, |d| d.allocated);
            n = n.min(room(own + shared.values().sum::<f64>(), taken, size.disk));
        }
        if size.gpus > 0.0 {
            let free: f64 = others().map(|h| gpu_room(h, size, Room::free)).sum();
            n = n.min(room(free, gpu_room(l, size, |r| r.allocated), size.gpus));
        }
        if n.is_finite() {
            n
        } else {
            0.0
        }
    }

    /// Slots of `size` on `hosts` (one place), with `skip` left out; each disk group capped.
    fn reference_slots_without(
        hosts: &[&HostRoom],
        size: &InstanceSize,
        groups: &DiskGroups,
        skip: Option<usize>,
    ) -> f64 {
        let mut own = 0.0;
        let mut grouped: BTreeMap<&str, f64> = BTreeMap::new();
        for (i, h) in hosts.iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            let n = fit(h, size);
            match (&h.disk_group, size.disk > 0.0) {
                (Some(g), true) => *grouped.entry(g.as_str()).or_insert(0.0) += n,
                _ => own += n,
            }
        }
        let capped: f64 = grouped
            .into_iter()
            .map(|(g, n)| {
                let room = groups.get(g).map_or(0.0, |r| r.free());
                n.min(floor_div(room, size.disk))
            })
            .sum();
        own + capped
    }

    /// The N-1 definition written out quadratically: every host lost in turn, the others counted anew.
    fn reference_place_slots(
        hosts: &[&HostRoom],
        size: &InstanceSize,
        groups: &DiskGroups,
    ) -> (f64, f64) {
        let all = reference_slots_without(hosts, size, groups, None);
        let worst = (0..hosts.len())
            .map(|l| {
                reference_slots_without(hosts, size, groups, Some(l))
                    .min(reference_after_loss_bound(hosts, size, groups, l))
            })
            .fold(f64::INFINITY, f64::min);
        (all, if worst.is_finite() { worst } else { 0.0 })
    }

    const GIB: f64 = 1_073_741_824.0;

    fn size(vcpus: f64, memory_gib: f64) -> InstanceSize {
        InstanceSize {
            name: "m".into(),
            vcpus,
            memory: memory_gib * GIB,
            disk: 0.0,
            gpus: 0.0,
            gpu_model: None,
            origin: Origin::Config,
            alert_below: None,
        }
    }

    fn host(name: &str, vcpu: (f64, f64), mem_gib: (f64, f64)) -> HostRoom {
        HostRoom {
            host: name.into(),
            place: vec![("az", "az1".into())],
            vcpu: Room::new(vcpu.0, vcpu.1),
            memory: Room::new(mem_gib.0 * GIB, mem_gib.1 * GIB),
            ..HostRoom::default()
        }
    }

    #[test]
    fn the_linear_count_equals_the_quadratic_definition_on_random_places() {
        let mut rng = fastrand::Rng::with_seed(20261201);
        let groups = DiskGroups::from([
            ("g1".to_string(), Room::new(900.0 * GIB, 300.0 * GIB)),
            ("g2".to_string(), Room::new(200.0 * GIB, 190.0 * GIB)),
        ]);
        for round in 0..400 {
            let n = rng.usize(1..9);
            let hosts: Vec<HostRoom> = (0..n)
                .map(|i| {
                    let mut h = host(
                        &format!("h{i}"),
                        (64.0, rng.f64() * 80.0),
                        (256.0, rng.f64() * 260.0),
                    );
                    match rng.usize(..3) {
                        0 => h.disk = Some(Room::new(2000.0 * GIB, rng.f64() * 2100.0 * GIB)),
                        1 => h.disk_group = Some(["g1", "g2"][rng.usize(..2)].to_string()),
                        _ => {}
                    }
                    if rng.bool() {
                        h.gpus
                            .insert("T4".into(), Room::new(4.0, rng.usize(..5) as f64));
                    }
                    h
                })
                .collect();
            let refs: Vec<&HostRoom> = hosts.iter().collect();
            let mut s = size(rng.usize(1..9) as f64, rng.usize(1..65) as f64);
            if rng.bool() {
                s.disk = rng.usize(10..200) as f64 * GIB;
            }
            if rng.usize(..4) == 0 {
                s.gpus = 1.0;
            }
            assert_eq!(
                place_slots(&refs, &s, &groups),
                reference_place_slots(&refs, &s, &groups),
                "round {round}: {hosts:?} {s:?}"
            );
        }
    }

    #[test]
    fn fragments_on_two_hosts_do_not_make_one_instance() {
        // 3 free vCPUs on each host: a 4-vCPU size fits nowhere, although 6 are free in all.
        let hosts = [
            host("a", (8.0, 5.0), (64.0, 0.0)),
            host("b", (8.0, 5.0), (64.0, 0.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        assert_eq!(
            place_slots(&refs, &size(4.0, 1.0), &DiskGroups::new()).0,
            0.0
        );
        assert_eq!(
            place_slots(&refs, &size(1.0, 1.0), &DiskGroups::new()).0,
            6.0
        );
    }

    #[test]
    fn the_scarcest_resource_decides_per_host() {
        // a: 16 vCPUs free, 8 GiB free → 2 of 4 GiB; b: 2 vCPUs free, 64 GiB → 1 of 2 vCPUs.
        let hosts = [
            host("a", (32.0, 16.0), (64.0, 56.0)),
            host("b", (8.0, 6.0), (64.0, 0.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        assert_eq!(
            place_slots(&refs, &size(2.0, 4.0), &DiskGroups::new()).0,
            3.0
        );
    }

    #[test]
    fn n_minus_one_takes_the_worst_host() {
        // Three hosts of 16 vCPUs; a holds 8, b 4, c nothing. Size: 2 vCPUs, memory plenty.
        // Free slots 4 + 6 + 8 = 18. Losing a: the others hold 14, but their 28 free vCPUs less
        // a's 8 leave room for 10; losing b: 12, capped at (8 + 16 − 4) / 2 = 10; losing c: 10.
        let hosts = [
            host("a", (16.0, 8.0), (256.0, 0.0)),
            host("b", (16.0, 4.0), (256.0, 0.0)),
            host("c", (16.0, 0.0), (256.0, 0.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        assert_eq!(
            place_slots(&refs, &size(2.0, 1.0), &DiskGroups::new()),
            (18.0, 10.0)
        );
        // One host alone survives nothing.
        assert_eq!(
            place_slots(&refs[..1], &size(2.0, 1.0), &DiskGroups::new()),
            (4.0, 0.0)
        );
    }

    #[test]
    fn n_minus_one_is_capped_by_the_room_left_after_re_placing_the_lost_host() {
        // Two hosts, 64 vCPUs and 512 GiB each, holding 40 vCPUs and 40 GiB. A 2-vCPU, 96 GiB
        // size fits 4 per host by memory. Losing one: the other's 4 slots, but re-placing the
        // lost host's 40 vCPUs takes more than the 24 the other has free: none left.
        let hosts = [
            host("a", (64.0, 40.0), (512.0, 40.0)),
            host("b", (64.0, 40.0), (512.0, 40.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        assert_eq!(
            place_slots(&refs, &size(2.0, 96.0), &DiskGroups::new()),
            (8.0, 0.0)
        );
        // Holding 10 vCPUs each instead: 54 free on the other, 44 after re-placing; memory
        // 472 − 40 = 432 GiB → 4; the other host alone also holds 4.
        let hosts = [
            host("a", (64.0, 10.0), (512.0, 40.0)),
            host("b", (64.0, 10.0), (512.0, 40.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        assert_eq!(
            place_slots(&refs, &size(2.0, 96.0), &DiskGroups::new()),
            (8.0, 4.0)
        );
    }

    #[test]
    fn a_size_with_disk_is_not_bounded_by_disk_where_no_host_reports_it() {
        let hosts = [
            host("a", (64.0, 0.0), (512.0, 0.0)),
            host("b", (64.0, 0.0), (512.0, 0.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        let mut s = size(4.0, 8.0);
        s.disk = 50.0 * GIB;
        assert_eq!(place_slots(&refs, &s, &DiskGroups::new()), (32.0, 16.0));
    }

    #[test]
    fn an_overcommitted_host_has_no_room_and_evacuation_is_never_negative() {
        let hosts = [
            host("a", (16.0, 20.0), (64.0, 0.0)),
            host("b", (16.0, 0.0), (64.0, 0.0)),
        ];
        let refs: Vec<&HostRoom> = hosts.iter().collect();
        // a: 0 slots; b: 16. Losing a: 16 − 20 → 0. Losing b: 0 − 0 = 0.
        assert_eq!(
            place_slots(&refs, &size(1.0, 1.0), &DiskGroups::new()),
            (16.0, 0.0)
        );
    }

    #[test]
    fn gpu_sizes_fit_only_on_their_model() {
        let mut a = host("a", (64.0, 0.0), (512.0, 0.0));
        a.gpus.insert("A100".into(), Room::new(4.0, 1.0));
        a.gpus.insert("T4".into(), Room::new(8.0, 0.0));
        let mut s = size(8.0, 32.0);
        s.gpus = 2.0;
        s.gpu_model = Some("A100".into());
        assert_eq!(fit(&a, &s), 1.0);
        s.gpu_model = Some("V100".into());
        assert_eq!(fit(&a, &s), 0.0);
        // No model named: the model with the most free (T4, 8 → 4), vCPU allows 8.
        s.gpu_model = None;
        assert_eq!(fit(&a, &s), 4.0);
    }

    #[test]
    fn a_shared_disk_group_caps_its_hosts() {
        let mut a = host("esx-1", (80.0, 0.0), (768.0, 0.0));
        a.disk_group = Some("cluster".into());
        let mut b = a.clone();
        b.host = "esx-2".into();
        let mut s = size(2.0, 4.0);
        s.disk = 100.0 * GIB;
        let groups =
            DiskGroups::from([("cluster".to_string(), Room::new(1000.0 * GIB, 250.0 * GIB))]);
        let refs = [&a, &b];
        // vCPU alone: 40 + 40; the datastore holds 7 more 100 GiB disks.
        assert_eq!(place_slots(&refs, &s, &groups).0, 7.0);
        // A size without disk is not capped.
        s.disk = 0.0;
        assert_eq!(place_slots(&refs, &s, &groups).0, 80.0);
    }

    #[test]
    fn slots_are_written_per_place_with_the_origin() {
        let mut b2 = host("b", (8.0, 0.0), (64.0, 0.0));
        b2.place = vec![("az", "az2".into())];
        let hosts = [host("a", (8.0, 0.0), (64.0, 0.0)), b2];
        let mut s = size(2.0, 1.0);
        s.alert_below = Some(3.0);
        let mut batch = Batch::new();
        put_slots(&hosts, &[s], &DiskGroups::new(), &mut batch);
        let got = |name: &str, az: Option<&str>| {
            batch
                .samples()
                .iter()
                .find(|x| {
                    x.def.name == name
                        && x.labels
                            .iter()
                            .any(|(k, v)| *k == "origin" && v == "config")
                        && x.labels
                            .iter()
                            .find(|(k, _)| *k == "az")
                            .map(|(_, v)| v.as_str())
                            == az
                })
                .map(|x| x.value)
        };
        assert_eq!(got("headroom_flavor_free_slots", Some("az1")), Some(4.0));
        assert_eq!(got("headroom_flavor_free_slots", Some("az2")), Some(4.0));
        assert_eq!(
            got("headroom_flavor_free_slots_n_minus_one", Some("az1")),
            Some(0.0)
        );
        assert_eq!(got("headroom_flavor_slots_alert_below", None), Some(3.0));
    }
}
