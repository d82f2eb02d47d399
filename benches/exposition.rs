//! Benchmark of the scrape path at 1,000,000 series: encoding snapshots, rendering `/metrics`
//! from them, and gzip, against the time a plain memory copy and a loopback TCP transfer of the
//! same bytes take (the design's target: render within 1.5x of loopback). Also the memory the
//! encoded snapshots hold. Run with `cargo bench --bench exposition`.

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime};

use headroom::catalog;
use headroom::collect::Batch;
use headroom::store::{Snapshot, Store};
use headroom::telemetry::SelfMetrics;

const SNAPSHOTS: usize = 100;
const SERIES_PER_SNAPSHOT: usize = 10_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn batch(snapshot: usize) -> Batch {
    let families = [
        &catalog::RESOURCE_CAPACITY,
        &catalog::RESOURCE_ALLOCATED,
        &catalog::RESOURCE_FREE,
        &catalog::RESOURCE_USED,
    ];
    let mut b = Batch::new();
    for i in 0..SERIES_PER_SNAPSHOT {
        let def = families[i % families.len()];
        let host = format!("host-{snapshot:03}-{:05}", i / families.len());
        let region = format!("region-{}", i % 3);
        let az = format!("{region}{}", ['a', 'b'][i % 2]);
        b.put(
            def,
            catalog::Resource::Vcpu,
            &[
                ("region", &region),
                ("az", &az),
                ("pool", "KVM_POD"),
                ("flavor", &host),
            ],
            (i * 7) as f64 + 0.25,
        );
    }
    b
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("exposition bench: run with `cargo bench --bench exposition`");
        return;
    }
    let rss_before = rss_bytes();
    let store = Store::new();
    let metrics = SelfMetrics::new();
    let now = SystemTime::now();
    let t = Instant::now();
    for s in 0..SNAPSHOTS {
        let target = format!("target-{s:03}");
        store.register(
            &target,
            "bench",
            "bench",
            Duration::from_secs(300),
            Duration::from_secs(900),
        );
        let (snap, _) = Snapshot::encode("bench", &target, batch(s), now);
        store.publish(&target, "bench", snap, 0, Duration::ZERO);
    }
    let encode = t.elapsed();
    let rss_after = rss_bytes();

    let body = store.render(None, &metrics, now);
    let renders: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let b = store.render(None, &metrics, now);
            std::hint::black_box(&b);
            t.elapsed()
        })
        .collect();
    let render = median(renders);

    let copies: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let mut v = Vec::with_capacity(body.len());
            v.extend_from_slice(&body);
            std::hint::black_box(&v);
            t.elapsed()
        })
        .collect();
    let copy = median(copies);

    // Loopback: the same bytes through a TCP socket on 127.0.0.1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let reader = std::thread::spawn(move || {
        let mut times = Vec::new();
        for _ in 0..5 {
            let (mut s, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
            let mut sink = vec![0u8; 1 << 20];
            while s.read(&mut sink).unwrap_or(0) > 0 {}
            times.push(());
        }
    });
    let loops: Vec<Duration> = (0..5)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
            let t = Instant::now();
            s.write_all(&body).unwrap_or_else(|e| panic!("{e}"));
            drop(s);
            t.elapsed()
        })
        .collect();
    let _ = reader.join();
    let loopback = median(loops);

    let t = Instant::now();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&body).unwrap_or_else(|e| panic!("{e}"));
    let gz = enc.finish().unwrap_or_default();
    let gzip = t.elapsed();

    let mb = body.len() as f64 / 1e6;
    println!("series                 {}", SNAPSHOTS * SERIES_PER_SNAPSHOT);
    println!("exposition bytes       {:.1} MB", mb);
    println!(
        "encode (publish)       {:.0} ms",
        encode.as_secs_f64() * 1e3
    );
    println!(
        "render /metrics        {:.0} ms ({:.2} GB/s)",
        render.as_secs_f64() * 1e3,
        mb / 1e3 / render.as_secs_f64()
    );
    println!("memory copy            {:.0} ms", copy.as_secs_f64() * 1e3);
    println!(
        "loopback TCP transfer  {:.0} ms ({:.2} GB/s)",
        loopback.as_secs_f64() * 1e3,
        mb / 1e3 / loopback.as_secs_f64()
    );
    println!(
        "render / loopback      {:.2}x (target <= 1.5x)",
        render.as_secs_f64() / loopback.as_secs_f64()
    );
    println!(
        "gzip (fast)            {:.0} ms -> {:.1} MB",
        gzip.as_secs_f64() * 1e3,
        gz.len() as f64 / 1e6
    );
    println!(
        "RSS held by snapshots  {:.1} MB ({:.2}x the encoded size)",
        (rss_after.saturating_sub(rss_before)) as f64 / 1e6,
        (rss_after.saturating_sub(rss_before)) as f64 / body.len() as f64
    );
}
