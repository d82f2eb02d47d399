//! The status page in a real browser: `headroom demo` (every simulator and the exporter), its
//! page loaded in headless Chromium (Debian's `chromium`; `./scripts/test.sh` installs it), and
//! the numbers the rendered page shows held to what the simulators hold: fill of vCPU and memory
//! per pool, free and N-1 slots of the configured sizes, the N-1 margins, the rate budgets.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::demo::{start_demo, truths};
use headroom::sim::{HostTruth, Truth};

const GIB: f64 = 1_073_741_824.0;

fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_string();
        }
    }
    panic!("no chromium: ./scripts/test.sh installs Debian's chromium");
}

/// The page as the browser renders it (its DOM after loading).
fn rendered(url: &str, profile: &std::path::Path) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("chromium: {e}"));
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The row of one target and place.
fn row<'a>(dom: &'a str, target: &str, place: &str) -> &'a str {
    let start = format!("<tr data-target=\"{target}\" data-place=\"{place}\">");
    let i = dom
        .find(&start)
        .unwrap_or_else(|| panic!("no row {target} {place}"));
    let rest = &dom[i..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// The text of the first element after `marker` in `html` (tags stripped).
fn text_after(html: &str, marker: &str) -> String {
    let i = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    let rest = &html[i + marker.len()..];
    let mut out = String::new();
    let mut in_tag = false; // the marker ends its tag
    for c in rest.chars() {
        match c {
            '<' if !in_tag && !out.is_empty() => break,
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn fill(allocated: f64, allocatable: f64, unit: fn(f64) -> String) -> String {
    format!(
        "{:.0} % · {} of {}",
        allocated / allocatable * 100.0,
        unit(allocated),
        unit(allocatable)
    )
}

fn vcpus(v: f64) -> String {
    format!("{v:.0} vCPUs")
}

fn gib(v: f64) -> String {
    format!("{:.1} GiB", v / GIB)
}

/// What the usable hosts of a place may allocate, less the largest, less all that is allocated.
fn margin(hosts: &[&HostTruth], of: fn(&HostTruth) -> (f64, f64)) -> f64 {
    let rooms: Vec<f64> = hosts.iter().filter(|h| h.usable).map(|h| of(h).0).collect();
    rooms.iter().sum::<f64>()
        - rooms.iter().copied().fold(0.0, f64::max)
        - hosts.iter().map(|h| of(h).1).sum::<f64>()
}

fn check_place(dom: &str, target: &str, az: &str, truth: &Truth, n_minus_one: bool) -> usize {
    let r = row(dom, target, az);
    let at = [("az", az)];
    let mut checked = 0;
    for (resource, unit) in [("vcpu", vcpus as fn(f64) -> String), ("memory", gib)] {
        let want = fill(
            truth.total("allocated", resource, &at),
            truth.total("allocatable", resource, &at),
            unit,
        );
        let got = text_after(r, &format!("data-resource=\"{resource}\">"));
        assert_eq!(got, want, "{target} {az} {resource}");
        checked += 1;
    }
    let slots = common::slots::truth_slots(truth, &common::slots::sizes());
    for size in common::slots::sizes() {
        let place = [("az".to_string(), az.to_string())].into();
        let (free, n1) = slots[&(size.name.clone(), place)];
        let got = text_after(r, &format!("data-size=\"{}\">", size.name));
        assert_eq!(
            got,
            format!("{}: {free:.0} ({n1:.0})", size.name),
            "{target} {az}"
        );
        checked += 1;
    }
    if n_minus_one {
        let hosts: Vec<&HostTruth> = truth
            .hosts
            .iter()
            .filter(|h| h.at.get("az").map(String::as_str) == Some(az))
            .collect();
        for (resource, of, unit) in [
            (
                "vcpu",
                (|h: &HostTruth| (h.vcpu_allocatable, h.vcpu_allocated))
                    as fn(&HostTruth) -> (f64, f64),
                vcpus as fn(f64) -> String,
            ),
            (
                "memory",
                |h| (h.memory_allocatable, h.memory_allocated),
                gib,
            ),
        ] {
            let m = margin(&hosts, of);
            let word = if m >= 0.0 { "OK" } else { "LOST" };
            let got = text_after(
                r,
                &format!(
                    "class=\"n1 {}\" data-resource=\"{resource}\">",
                    if m >= 0.0 { "ok" } else { "crit" }
                ),
            );
            assert_eq!(
                got,
                format!("{resource} {word} ({})", unit(m)),
                "{target} {az} N-1"
            );
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_headroom_the_simulators_hold() {
    let dir = std::env::temp_dir().join(format!("headroom-status-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (_demo, demo) = start_demo(&dir);
    let base = format!("http://{}", demo.exporter);
    headroom::http::install_crypto_provider();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's first polls did not finish"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let truths = truths(&demo).await;
    let dom = rendered(&format!("{base}/"), &dir.join("profile"));
    assert!(dom.contains("<h2>Headroom</h2>"), "{dom}");
    assert!(
        !dom.contains("http://") || !dom.contains("<script"),
        "no script"
    );
    let mut checked = 0;
    for az in ["pool-1", "pool-2"] {
        checked += check_place(&dom, "scp-demo", az, &truths["scp-demo"], true);
    }
    for az in ["az1", "az2"] {
        checked += check_place(&dom, "cloudos-demo", az, &truths["cloudos-demo"], false);
    }
    assert_eq!(checked, 2 * 7 + 2 * 5);
    // The rate budgets as a table: SCP's GET scope at 80 % of its documented 600/min.
    let budgets = &dom[dom
        .find("class=\"budgets\"")
        .unwrap_or_else(|| panic!("no budget table"))..];
    assert!(
        budgets.contains("<td>scp-demo</td><td>get</td><td>480.0</td>"),
        "{budgets}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
