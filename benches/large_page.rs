//! Peak memory and time of reading one large list answer of many small items the way the
//! collectors read it (issue 13, finding F1: a page of 1M items, 11 MB, once peaked at 3.26 GB
//! parsed into a JSON tree). Prints the body size, what the reader did (the records made, or
//! the refusal of a list past its bound), the time, and the process's peak RSS (VmHWM) over
//! the baseline taken with the body already in memory. Target (issue 13): the whole read
//! ≤ 3 × the body + the idle baseline, i.e. peak over this baseline ≤ 2 × the body.
//!
//! `cargo bench --bench large_page -- N cloudos|cecstack|scp|esm [unbounded]`, one per
//! process (the peak is the process's). `unbounded` lifts the list's bound so that every item
//! is made into a record: what a site whose answers really are that long would cost.

use std::time::Instant;

use headroom::json::{Cancel, MAX_UNPAGED_ITEMS};
use headroom::platforms::{cecstack, h3c_cloudos, huawei_esm, sangfor_scp};

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
    let which = ["cecstack", "scp", "esm"]
        .into_iter()
        .find(|p| args.iter().any(|a| a == p))
        .unwrap_or("cloudos");
    let unbounded = args.iter().any(|a| a == "unbounded");
    let (head, tail): (&[u8], &[u8]) = match which {
        "cecstack" => (
            br#"{"code":"Success","data":{"totalCount":1,"rpHosts":["#,
            b"]}}",
        ),
        "scp" => (
            br#"{"code":0,"message":"","data":{"next_page_num":"","data":["#,
            b"]}}",
        ),
        "esm" => (br#"{"total":1,"list":["#, b"]}"),
        _ => (br#"{"hypervisors":["#, b"]}"),
    };
    let mut body = Vec::with_capacity(n * 9 + head.len() + tail.len());
    body.extend_from_slice(head);
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"id":1}"#);
    }
    body.extend_from_slice(tail);
    let baseline = vm_hwm_bytes();
    let t = Instant::now();
    let cancel = Cancel::default();
    // A page size so large the page bound passes, for `unbounded`.
    let page_size: u64 = if unbounded { n as u64 } else { 1000 };
    let max = if unbounded {
        usize::MAX
    } else {
        MAX_UNPAGED_ITEMS
    };
    let outcome = match which {
        "cecstack" => cecstack::api::envelope("bench", 200, &body).and_then(|d| {
            cecstack::api::read_page::<cecstack::api::PoolHost>(
                "bench",
                cecstack::api::Paging::A("rpHosts"),
                d,
                page_size,
                &cancel,
            )
            .map(|(r, _, _)| r.items.len())
        }),
        "scp" => sangfor_scp::api::envelope("bench", &body).and_then(|d| {
            sangfor_scp::api::read_page::<sangfor_scp::api::Host>("bench", d, page_size, &cancel)
                .map(|p| p.records.items.len())
        }),
        "esm" => huawei_esm::api::read_page::<huawei_esm::api::HostDetail>("bench", &body, &cancel)
            .map(|p| p.items.len()),
        _ => h3c_cloudos::api::read_list::<h3c_cloudos::api::Hypervisor>(
            "bench",
            &body,
            &["hypervisors"],
            max,
            &cancel,
        )
        .map(|r| r.items.len()),
    };
    let took = t.elapsed();
    let peak = vm_hwm_bytes().saturating_sub(baseline);
    let what = match outcome {
        Ok(records) => format!("{records} records"),
        Err(e) => format!("refused ({})", e.message),
    };
    println!(
        "{which}: {n} items, body {:.1} MB, {what} in {:.2} s, peak over baseline {:.1} MB ({:.2} x the body)",
        body.len() as f64 / 1e6,
        took.as_secs_f64(),
        peak as f64 / 1e6,
        peak as f64 / body.len() as f64
    );
}
