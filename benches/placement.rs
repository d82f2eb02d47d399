//! Benchmark of the free-slot count (`placement::put_slots`): 10,000 hosts in one place and 20
//! instance sizes, free and N-1 slots; the count is linear in the hosts (a quadratic N-1 took
//! ~10^9 fits here). Target: well under a second per poll. Run with `cargo bench --bench placement`.

use std::time::Instant;

use headroom::collect::Batch;
use headroom::placement::{put_slots, DiskGroups, HostRoom, InstanceSize, Origin, Room};

const GIB: f64 = 1_073_741_824.0;

fn main() {
    let mut rng = fastrand::Rng::with_seed(7);
    let hosts: Vec<HostRoom> = (0..10_000)
        .map(|i| HostRoom {
            host: format!("host-{i}"),
            place: vec![("az", "az1".to_string())],
            vcpu: Room::new(256.0, rng.f64() * 256.0),
            memory: Room::new(512.0 * GIB, rng.f64() * 512.0 * GIB),
            disk: Some(Room::new(4000.0 * GIB, rng.f64() * 4000.0 * GIB)),
            ..HostRoom::default()
        })
        .collect();
    let sizes: Vec<InstanceSize> = (0..20)
        .map(|i| InstanceSize {
            name: format!("size-{i}"),
            vcpus: f64::from(1 + i % 8),
            memory: f64::from(2 + 2 * i) * GIB,
            disk: f64::from(40 + 10 * i) * GIB,
            gpus: 0.0,
            gpu_model: None,
            origin: Origin::Config,
            alert_below: None,
        })
        .collect();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let mut batch = Batch::new();
        put_slots(&hosts, &sizes, &DiskGroups::new(), &mut batch);
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(batch.len(), 2 * sizes.len());
    }
    println!(
        "free and N-1 slots, 10000 hosts x 20 sizes: {:.1} ms (best of 5)",
        best * 1e3
    );
}
