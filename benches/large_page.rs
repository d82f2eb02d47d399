//! Peak memory of parsing one large list page of many small items (issue finding F1: a page of
//! 1M items, 11 MB, once peaked at 3.26 GB). Parses a CloudOS `os-hypervisors` answer and a
//! CECSTACK scheme-A page of N items the way the collectors do (body → envelope → list →
//! typed records) and prints the body size, the time and the process's peak RSS (VmHWM) over
//! the idle baseline. Target (issue 13): peak ≤ 3 × the body + the baseline.
//! Run with `cargo bench --bench large_page -- 1000000 cloudos|cecstack` (one per process: the
//! peak is the process's).

use std::time::Instant;

fn vm_hwm_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let which = if args.iter().any(|a| a == "cecstack") {
        "cecstack"
    } else {
        "cloudos"
    };
    let mut body = Vec::with_capacity(n * 12);
    match which {
        "cecstack" => {
            body.extend_from_slice(br#"{"code":"Success","data":{"totalCount":1,"rpHosts":["#)
        }
        _ => body.extend_from_slice(br#"{"hypervisors":["#),
    }
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"id":1}"#);
    }
    body.extend_from_slice(if which == "cecstack" { b"]}}" } else { b"]}" });
    let baseline = vm_hwm_bytes();
    let t = Instant::now();
    let records = match which {
        "cecstack" => {
            let mut data = headroom::platforms::cecstack::api::unwrap_envelope("bench", 200, &body)
                .unwrap_or_default();
            let (items, _) =
                headroom::platforms::cecstack::api::Paging::A("rpHosts").items(&mut data);
            let (rows, _) = headroom::lenient::parse_items::<
                headroom::platforms::cecstack::api::PoolHost,
            >("bench", items);
            rows.len()
        }
        _ => {
            let mut v = headroom::platforms::h3c_cloudos::api::unwrap_body("bench", &body)
                .unwrap_or_default();
            let items = headroom::platforms::h3c_cloudos::api::list(&mut v, "hypervisors");
            let (rows, _) = headroom::lenient::parse_items::<
                headroom::platforms::h3c_cloudos::api::Hypervisor,
            >("bench", items);
            rows.len()
        }
    };
    let took = t.elapsed();
    let peak = vm_hwm_bytes().saturating_sub(baseline);
    println!(
        "{which}: {n} items, body {:.1} MB, {records} records in {:.2} s, peak over baseline {:.0} MB ({:.1} x the body)",
        body.len() as f64 / 1e6,
        took.as_secs_f64(),
        peak as f64 / 1e6,
        peak as f64 / body.len() as f64
    );
}
