//! The status page (`/`): the headroom of every target and pool at a glance, for an operator who
//! has no Grafana yet, and the collectors and rate budgets behind it. Server-rendered HTML with
//! no script and no external asset.
//!
//! Everything on it is read back from what `/metrics` serves (the pool, host and slot families
//! and the self-metrics), so the page and Prometheus can never disagree:
//! - fill bars per target and place (`region`/`az`/`pool`) for vCPU, memory, storage and GPUs:
//!   allocated (else used) over allocatable (else capacity), the breakdown and datastore labels
//!   summed away;
//! - free slots and N-1 slots of the configured instance sizes (`origin="config"`);
//! - N-1 status per place for vCPU and memory: the hosts' allocatable (memory: else capacity)
//!   less the largest host's, less what is allocated (the `pool:headroom_n_minus_one:margin`
//!   rule, counted the same way);
//! - the age of each target's oldest data, and the rate budgets as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use crate::store::SlotView;

/// The families the page reads (name prefixes).
pub const READS: &[&str] = &[
    "headroom_resource_",
    "headroom_host_resource_",
    "headroom_flavor_free_slots",
];

/// One exposition line: family name, labels, value.
type Line = (String, BTreeMap<String, String>, f64);

/// Parses one line of the text exposition; `None` for comments and anything unexpected.
fn parse_line(line: &str) -> Option<Line> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some((n.to_string(), BTreeMap::new(), v.trim().parse().ok()?));
        }
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.char_indices().peekable();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        if c == '}' {
            end = Some(i);
            break;
        }
        if c == ',' || c == ' ' {
            continue;
        }
        // key="value"
        let key_start = i;
        let mut key_end = i;
        for (j, k) in chars.by_ref() {
            if k == '=' {
                key_end = j;
                break;
            }
        }
        let key = rest[key_start..key_end].to_string();
        if chars.next().map(|(_, q)| q) != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, '"') => break,
                (_, other) => value.push(other),
            }
        }
        labels.insert(key, value);
    }
    let value = rest[end? + 1..].trim().split(' ').next()?.parse().ok()?;
    Some((name.to_string(), labels, value))
}

/// Where an amount is on the page: target, then the place labels it has.
type Place = (String, String);

fn place_of(labels: &BTreeMap<String, String>) -> Place {
    let target = labels.get("target").cloned().unwrap_or_default();
    let place: Vec<&str> = ["region", "az", "pool"]
        .iter()
        .filter_map(|k| labels.get(*k).map(String::as_str))
        .filter(|v| !v.is_empty())
        .collect();
    (target, place.join(" / "))
}

/// The resources the fill bars show, with how their amounts read.
const BARS: &[(&str, &str)] = &[
    ("vcpu", "vCPU"),
    ("memory", "memory"),
    ("storage", "storage"),
    ("gpu", "GPUs"),
];

fn amount(resource: &str, v: f64) -> String {
    let v = v + 0.0; // no "-0"
    match resource {
        "memory" | "storage" => format!("{:.1} GiB", v / 1_073_741_824.0),
        "vcpu" => format!("{v:.0} vCPUs"),
        _ => format!("{v:.0}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A host's figures of one resource: allocatable, capacity, allocated.
type HostFigures = (Option<f64>, Option<f64>, f64);

/// What the page needs of the exposition, summed per place.
#[derive(Default)]
struct Figures {
    /// (place, resource, family) → amount
    pool: BTreeMap<(Place, String, String), f64>,
    /// (place, resource) → per host (allocatable or capacity, allocated)
    hosts: BTreeMap<(Place, String), BTreeMap<String, HostFigures>>,
    /// (place, size) → (free, N-1)
    slots: BTreeMap<(Place, String), (Option<f64>, Option<f64>)>,
}

fn read(exposition: &str) -> Figures {
    let mut f = Figures::default();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("headroom_") else {
            continue;
        };
        if !(rest.starts_with("resource_")
            || rest.starts_with("host_resource_")
            || rest.starts_with("flavor_free_slots"))
        {
            continue;
        }
        let Some((name, labels, value)) = parse_line(line) else {
            continue;
        };
        let place = place_of(&labels);
        let resource = labels.get("resource").cloned().unwrap_or_default();
        if let Some(family) = name.strip_prefix("headroom_resource_") {
            if BARS.iter().any(|(r, _)| *r == resource) {
                *f.pool
                    .entry((place, resource, family.to_string()))
                    .or_insert(0.0) += value;
            }
        } else if let Some(family) = name.strip_prefix("headroom_host_resource_") {
            if resource != "vcpu" && resource != "memory" {
                continue;
            }
            let host = labels.get("host").cloned().unwrap_or_default();
            let e = f
                .hosts
                .entry((place, resource))
                .or_default()
                .entry(host)
                .or_insert((None, None, 0.0));
            match family {
                "allocatable" => e.0 = Some(value),
                "capacity" => e.1 = Some(value),
                "allocated" => e.2 += value,
                _ => {}
            }
        } else if labels.get("origin").map(String::as_str) == Some("config") {
            let size = labels.get("flavor").cloned().unwrap_or_default();
            let e = f.slots.entry((place, size)).or_insert((None, None));
            if name.ends_with("_n_minus_one") {
                e.1 = Some(value);
            } else {
                e.0 = Some(value);
            }
        }
    }
    f
}

/// The N-1 margin of one place and resource, or `None` where its hosts give no room figure.
fn n_minus_one(
    resource: &str,
    hosts: &BTreeMap<String, (Option<f64>, Option<f64>, f64)>,
) -> Option<f64> {
    let rooms: Vec<f64> = hosts
        .values()
        .filter_map(|(allocatable, capacity, _)| {
            allocatable.or(if resource == "memory" {
                *capacity
            } else {
                None
            })
        })
        .collect();
    if rooms.is_empty() {
        return None;
    }
    let allocated: f64 = hosts.values().map(|h| h.2).sum();
    Some(rooms.iter().sum::<f64>() - rooms.iter().copied().fold(0.0, f64::max) - allocated)
}

/// The headroom section: one table row per target and place.
fn headroom_section(exposition: &str, views: &[SlotView], now: SystemTime) -> String {
    let f = read(exposition);
    let mut places: Vec<Place> = f
        .pool
        .keys()
        .map(|(p, _, _)| p.clone())
        .chain(f.slots.keys().map(|(p, _)| p.clone()))
        .collect();
    places.sort();
    places.dedup();
    let mut out = String::from(
        "<table class=\"headroom\"><tr><th>target</th><th>place</th><th>vCPU</th><th>memory</th><th>storage</th><th>GPUs</th><th>free slots (N-1)</th><th>N-1</th><th>data age</th></tr>\n",
    );
    for place in &places {
        let (target, at) = place;
        let _ = write!(
            out,
            "<tr data-target=\"{}\" data-place=\"{}\"><td>{}</td><td>{}</td>",
            escape(target),
            escape(at),
            escape(target),
            escape(if at.is_empty() { "(whole target)" } else { at })
        );
        for (resource, _) in BARS {
            let get = |family: &str| {
                f.pool
                    .get(&(place.clone(), resource.to_string(), family.to_string()))
                    .copied()
            };
            let used = get("allocated").or_else(|| get("used"));
            let total = get("allocatable")
                .or_else(|| get("capacity"))
                .or_else(|| Some(get("allocated")? + get("free")?));
            match (used, total) {
                (Some(u), Some(t)) if t > 0.0 => {
                    let ratio = u / t;
                    let class = if ratio >= 0.9 {
                        "crit"
                    } else if ratio >= 0.8 {
                        "warn"
                    } else {
                        "ok"
                    };
                    let _ = write!(
                        out,
                        "<td class=\"fill\" data-resource=\"{resource}\"><div class=\"bar {class}\"><span style=\"width:{:.1}%\"></span></div><span class=\"fig\">{:.0} % · {} of {}</span></td>",
                        (ratio * 100.0).min(100.0),
                        ratio * 100.0,
                        amount(resource, u),
                        amount(resource, t)
                    );
                }
                _ => out.push_str("<td class=\"none\">–</td>"),
            }
        }
        let sizes: Vec<String> = f
            .slots
            .iter()
            .filter(|((p, _), _)| p == place)
            .map(|((_, size), (free, n1))| {
                let n =
                    |v: &Option<f64>| v.map_or("–".to_string(), |v| format!("{:.0}", v + 0.0));
                format!(
                    "<span class=\"slots\" data-size=\"{}\">{}: {} ({})</span>",
                    escape(size),
                    escape(size),
                    n(free),
                    n(n1)
                )
            })
            .collect();
        let _ = write!(out, "<td>{}</td>", sizes.join("<br>"));
        let status: Vec<String> = ["vcpu", "memory"]
            .iter()
            .filter_map(|r| {
                let margin = n_minus_one(r, f.hosts.get(&(place.clone(), r.to_string()))?)?;
                let (word, class) = if margin >= 0.0 {
                    ("OK", "ok")
                } else {
                    ("LOST", "crit")
                };
                Some(format!(
                    "<span class=\"n1 {class}\" data-resource=\"{r}\">{r} {word} ({})</span>",
                    amount(r, margin)
                ))
            })
            .collect();
        let _ = write!(out, "<td>{}</td>", status.join("<br>"));
        let oldest = views
            .iter()
            .filter(|v| &v.target == target)
            .filter_map(|v| now.duration_since(v.data_taken_at?).ok())
            .max();
        let _ = writeln!(
            out,
            "<td>{}</td></tr>",
            oldest.map_or("no data".to_string(), |d| humantime::format_duration(
                std::time::Duration::from_secs(d.as_secs())
            )
            .to_string())
        );
    }
    out.push_str("</table>\n");
    if places.is_empty() {
        out = "<p>No capacity data yet: the first polls are still running.</p>\n".to_string();
    }
    out
}

/// The rate budgets of every target and limit scope, from the self-metrics.
fn budget_section(self_metrics: &str) -> String {
    // (target, scope) → (requests/s, throttled, waited s)
    let mut rows: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
    for line in self_metrics.lines() {
        let Some((name, labels, value)) = parse_line(line) else {
            continue;
        };
        let i = match name.as_str() {
            "headroom_api_budget_requests_per_second" => 0,
            "headroom_api_throttled_total" => 1,
            "headroom_api_budget_wait_seconds_total" => 2,
            _ => continue,
        };
        let key = (
            labels.get("target").cloned().unwrap_or_default(),
            labels.get("scope").cloned().unwrap_or_default(),
        );
        rows.entry(key).or_default()[i] += value;
    }
    let mut out = String::from(
        "<table class=\"budgets\"><tr><th>target</th><th>limit scope</th><th>budget (requests/min)</th><th>throttled answers</th><th>waited for budget</th></tr>\n",
    );
    for ((target, scope), [rate, throttled, waited]) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{throttled:.0}</td><td>{waited:.1} s</td></tr>",
            escape(&target),
            escape(&scope),
            rate * 60.0
        );
    }
    out.push_str("</table>\n");
    out
}

/// The CSS of the page (inline: the page loads nothing else).
pub const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
tr.down{background:#fdd}tr.up{background:#efe}tr.wait{background:#ffd}\
.bar{width:10em;height:0.8em;background:#eee;border:1px solid #bbb}.bar span{display:block;height:100%}\
.bar.ok span{background:#4a4}.bar.warn span{background:#e90}.bar.crit span{background:#d22}\
.fig{font-size:85%}.n1.crit{color:#d22;font-weight:bold}.n1.ok{color:#272}";

/// The headroom and budget sections of the page.
pub fn sections(
    exposition: &str,
    self_metrics: &str,
    views: &[SlotView],
    now: SystemTime,
) -> (String, String) {
    (
        headroom_section(exposition, views, now),
        budget_section(self_metrics),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_escaped_values() {
        let (name, labels, value) =
            parse_line(r#"headroom_resource_capacity{target="a",az="x\"y",resource="vcpu"} 12.5"#)
                .unwrap_or_default();
        assert_eq!(name, "headroom_resource_capacity");
        assert_eq!(labels.get("az").map(String::as_str), Some("x\"y"));
        assert_eq!(value, 12.5);
        assert!(parse_line("# HELP x y").is_none());
        assert!(parse_line("headroom_x{a=\"b\" 1").is_none());
    }

    #[test]
    fn fill_slots_and_n_minus_one_per_place() {
        let exposition = r#"headroom_resource_allocatable{platform="p",target="t",resource="vcpu",unit="vcpus",az="A"} 200
headroom_resource_allocated{platform="p",target="t",resource="vcpu",unit="vcpus",az="A"} 150
headroom_resource_capacity{platform="p",target="t",resource="storage",unit="bytes",az="A",datastore="d1"} 1073741824
headroom_resource_capacity{platform="p",target="t",resource="storage",unit="bytes",az="A",datastore="d2"} 1073741824
headroom_resource_allocated{platform="p",target="t",resource="storage",unit="bytes",az="A",datastore="d1"} 1073741824
headroom_host_resource_allocatable{platform="p",target="t",host="h1",resource="vcpu",unit="vcpus",az="A"} 100
headroom_host_resource_allocatable{platform="p",target="t",host="h2",resource="vcpu",unit="vcpus",az="A"} 100
headroom_host_resource_allocated{platform="p",target="t",host="h1",resource="vcpu",unit="vcpus",az="A"} 90
headroom_host_resource_allocated{platform="p",target="t",host="h2",resource="vcpu",unit="vcpus",az="A"} 60
headroom_flavor_free_slots{platform="p",target="t",flavor="web",origin="config",az="A"} 12
headroom_flavor_free_slots_n_minus_one{platform="p",target="t",flavor="web",origin="config",az="A"} 3
headroom_flavor_free_slots{platform="p",target="t",flavor="cat",origin="catalog",az="A"} 99
"#;
        let html = headroom_section(exposition, &[], SystemTime::now());
        assert!(html.contains("75 % · 150 vCPUs of 200 vCPUs"), "{html}");
        // Two datastores summed: 1 of 2 GiB.
        assert!(html.contains("50 % · 1.0 GiB of 2.0 GiB"), "{html}");
        assert!(
            html.contains("web: 12 (3)") && !html.contains("cat:"),
            "{html}"
        );
        // 200 − 100 − 150 = −50: the pool cannot lose a host.
        assert!(html.contains("vcpu LOST (-50 vCPUs)"), "{html}");
    }
}
