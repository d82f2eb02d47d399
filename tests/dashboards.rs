//! The shipped Grafana dashboards: valid against Grafana's own dashboard schema, plus what the
//! schema cannot say: unique ids and uids, a layout without overlaps, a unit on every panel, the
//! datasource as a variable, the template variables users filter by, only catalogue or recorded
//! metric names, and JSON that matches its generator.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::prom::{self, unknown_names};
use serde_json::Value;

const PANEL_TYPES: &[&str] = &["timeseries", "bargauge", "table", "stat"];

fn dashboards() -> Vec<(PathBuf, Value)> {
    let files = prom::files_in("dashboards", ".json");
    assert!(files.len() >= 5, "{} dashboards", files.len());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, v)
        })
        .collect()
}

fn variables(d: &Value) -> Vec<&Value> {
    d["templating"]["list"]
        .as_array()
        .map(|v| v.iter().collect())
        .unwrap_or_default()
}

fn var_names(d: &Value) -> BTreeSet<&str> {
    variables(d)
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect()
}

#[test]
fn every_dashboard_has_the_structure_grafana_needs() {
    let mut uids = BTreeSet::new();
    for (path, d) in dashboards() {
        let name = path.display().to_string();
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(
            uid.starts_with("headroom-") && uid.len() <= 40,
            "{name}: uid {uid:?}"
        );
        assert!(uids.insert(uid.to_string()), "{name}: duplicate uid {uid}");
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            d["schemaVersion"].as_i64().is_some_and(|v| v >= 36),
            "{name}: schemaVersion"
        );
        assert!(
            d["time"]["from"].is_string() && d["time"]["to"].is_string(),
            "{name}: time"
        );
        assert!(d["annotations"]["list"].is_array(), "{name}: annotations");
        assert!(
            d["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "headroom")),
            "{name}: the headroom tag links the dashboards to each other"
        );
        let panels = d["panels"].as_array().cloned().unwrap_or_default();
        assert!(panels.len() >= 5, "{name}: {} panels", panels.len());
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        // Panels are grouped under rows: the first panel is a row, and there are several.
        assert_eq!(
            panels[0]["type"], "row",
            "{name}: the first panel is not a row"
        );
        let rows = panels.iter().filter(|p| p["type"] == "row").count();
        assert!(rows >= 2, "{name}: {rows} rows");
        for p in &panels {
            let title = p["title"].as_str().unwrap_or_default();
            let at = format!("{name}: panel {title:?}");
            assert!(!title.is_empty(), "{at}: title");
            if p["type"] == "row" {
                let id = p["id"].as_i64().unwrap_or_else(|| panic!("{at}: id"));
                assert!(ids.insert(id), "{at}: duplicate id {id}");
                let g = &p["gridPos"];
                assert_eq!(
                    (&g["x"], &g["w"], &g["h"]),
                    (
                        &serde_json::json!(0),
                        &serde_json::json!(24),
                        &serde_json::json!(1)
                    ),
                    "{at}: a row spans the width, one unit high"
                );
                let y = g["y"].as_i64().unwrap_or(-1);
                for cx in 0..24 {
                    assert!(cells.insert((cx, y)), "{at}: overlaps another panel");
                }
                assert_eq!(p["collapsed"], false, "{at}: collapsed rows hide panels");
                assert_eq!(p["panels"], serde_json::json!([]), "{at}: panels inside");
                continue;
            }
            assert!(
                p["description"].as_str().is_some_and(|t| !t.is_empty()),
                "{at}: description"
            );
            let id = p["id"].as_i64().unwrap_or_else(|| panic!("{at}: id"));
            assert!(ids.insert(id), "{at}: duplicate id {id}");
            let kind = p["type"].as_str().unwrap_or_default();
            assert!(PANEL_TYPES.contains(&kind), "{at}: type {kind:?}");
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_i64().unwrap_or(-1),
                g["y"].as_i64().unwrap_or(-1),
                g["w"].as_i64().unwrap_or(0),
                g["h"].as_i64().unwrap_or(0),
            );
            assert!(
                x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24,
                "{at}: gridPos {g}"
            );
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(cells.insert((cx, cy)), "{at}: overlaps another panel");
                }
            }
            assert_eq!(
                p["datasource"],
                serde_json::json!({"type": "prometheus", "uid": "${datasource}"}),
                "{at}: datasource must be the variable"
            );
            let unit = p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(!unit.is_empty(), "{at}: no unit");
            assert!(p["fieldConfig"]["overrides"].is_array(), "{at}: overrides");
            assert!(p["options"].is_object(), "{at}: options");
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            assert!(!targets.is_empty(), "{at}: no query");
            let mut refs = BTreeSet::new();
            for t in &targets {
                assert_eq!(t["datasource"], p["datasource"], "{at}: target datasource");
                let r = t["refId"].as_str().unwrap_or_default();
                assert!(
                    !r.is_empty() && refs.insert(r.to_string()),
                    "{at}: refId {r:?}"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{at}: empty expr"
                );
            }
        }
    }
}

#[test]
fn every_dashboard_validates_against_grafanas_own_schema() {
    let path = prom::repo().join("tests/fixtures/grafana/dashboard.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The checker itself rejects what it should.
    let bad = serde_json::json!({"schemaVersion": "42", "panels": [{"type": "stat", "gridPos": {"h": 1, "w": 1, "x": 0, "y": 0, "depth": 2}}], "links": [{}]});
    let problems = common::json_schema::violations(&schema, &bad);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("$.schemaVersion: expected type")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("property depth is not allowed")
                || p.contains("none of the allowed shapes")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("$.links[0]: required property")),
        "{problems:?}"
    );
    for (file, d) in dashboards() {
        let problems = common::json_schema::violations(&schema, &d);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            file.display(),
            problems.join("\n")
        );
    }
}

#[test]
fn no_datasource_uid_is_hard_coded() {
    fn walk(v: &Value, path: &str, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(ds) = m.get("datasource") {
                    if ds.is_object() && ds["uid"] != "${datasource}" {
                        found.push(format!("{path}: {ds}"));
                    }
                }
                for (k, x) in m {
                    walk(x, &format!("{path}.{k}"), found);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}[{i}]"), found);
                }
            }
            _ => {}
        }
    }
    for (path, d) in dashboards() {
        let mut found = Vec::new();
        walk(&d, "", &mut found);
        assert!(found.is_empty(), "{}: {found:?}", path.display());
        let ds = variables(&d)
            .into_iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{}: no datasource variable", path.display()));
        assert_eq!(ds["type"], "datasource");
        assert_eq!(ds["query"], "prometheus");
    }
}

#[test]
fn every_dashboard_filters_by_job_platform_and_target_and_capacity_ones_by_region_az_and_pool() {
    for (path, d) in dashboards() {
        let names = var_names(&d);
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let mut want = vec!["datasource", "job", "platform", "target"];
        if [
            "headroom-overview.json",
            "headroom-pools.json",
            "headroom-gpu.json",
        ]
        .contains(&file)
        {
            want.extend(["region", "az", "pool"]);
        }
        for w in want {
            assert!(names.contains(w), "{file}: no ${w} variable");
        }
        // Every variable is used by some query (else it filters nothing).
        let text = d["panels"].to_string();
        for v in variables(&d) {
            let n = v["name"].as_str().unwrap_or_default();
            if n != "datasource" {
                assert!(
                    text.contains(&format!("${n}")),
                    "{file}: ${n} is used by no panel"
                );
                assert!(
                    v["allValue"] == ".*" && v["includeAll"] == true,
                    "{file}: ${n} needs All = .*"
                );
            }
        }
    }
}

#[test]
fn every_metric_name_is_in_the_catalogue_or_recorded_by_the_rules() {
    let mut problems = Vec::new();
    for (path, d) in dashboards() {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let mut exprs: Vec<String> = Vec::new();
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            for t in p["targets"].as_array().cloned().unwrap_or_default() {
                exprs.push(t["expr"].as_str().unwrap_or_default().to_string());
            }
        }
        for v in variables(&d) {
            if let (Some("query"), Some(q)) = (v["type"].as_str(), v["query"].as_str()) {
                exprs.push(q.to_string());
            }
        }
        for e in exprs {
            assert!(
                !common::prom::metric_names(&e).is_empty() || e.contains("__name__"),
                "{file}: reads no metric: {e}"
            );
            for n in unknown_names(&e) {
                problems.push(format!("{file}: {n}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_json_is_what_the_generator_writes() {
    let out = std::process::Command::new("python3")
        .arg(prom::repo().join("dashboards/generate.py"))
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3: {e}"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every panel query of a dashboard, with its legend, as (where, expr, legend).
fn panel_queries(d: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().cloned().unwrap_or_default() {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            out.push((
                format!(
                    "{} {}",
                    p["title"].as_str().unwrap_or_default(),
                    t["refId"].as_str().unwrap_or_default()
                ),
                t["expr"].as_str().unwrap_or_default().to_string(),
                t["legendFormat"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

#[test]
fn every_query_filters_by_job_and_capacity_queries_count_each_replica_once() {
    for (path, d) in dashboards() {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        for (at, expr, _) in panel_queries(&d) {
            assert!(
                expr.contains(r#"job=~"$job""#),
                "{file} {at}: no $job filter"
            );
            if file == "headroom-exporter.json" {
                // The exporter's own series are per replica (each polls on its own).
                continue;
            }
            // Every series a capacity query reads is taken once whoever scraped it: two
            // replicas of headroom, or two jobs scraping one, would otherwise double each sum.
            let bytes = expr.as_bytes();
            let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
            let mut i = 0;
            let mut selectors = 0;
            while let Some(off) = expr[i..].find('{') {
                let end = i + off;
                let mut start = end;
                while start > 0 && is_name(bytes[start - 1]) {
                    start -= 1;
                }
                let name = &expr[start..end];
                if name.contains("headroom_") {
                    selectors += 1;
                    let before = expr[..start].trim_end();
                    assert!(
                        before.ends_with("without (job, instance) ("),
                        "{file} {at}: {name} is read without dropping job and instance, so \
                         replicas add up: {expr}"
                    );
                }
                i = end + 1;
            }
            assert!(selectors > 0, "{file} {at}: no selector found in {expr}");
        }
    }
}

#[test]
fn legends_separate_their_labels_and_every_place_label_is_made_by_the_query() {
    for (path, d) in dashboards() {
        let file = path.display().to_string();
        for (at, expr, legend) in panel_queries(&d) {
            // Two labels side by side run together ("cn-north-1az1"): each needs a separator,
            // unless the second is a place label that brings its own (" / az1").
            for (i, _) in legend.match_indices("}}{{") {
                assert!(
                    legend[i + 4..].starts_with('_'),
                    "{file} {at}: labels run together in {legend:?}"
                );
            }
            let mut rest = legend.as_str();
            while let Some(open) = rest.find("{{_") {
                let tail = &rest[open + 3..];
                let label = tail.split("}}").next().unwrap_or_default();
                let made = format!(r#""_{label}", " / $1", "{label}", "(.+)")"#);
                assert!(
                    expr.contains(&made),
                    "{file} {at}: the legend uses _{label}, which the query does not make"
                );
                rest = tail;
            }
        }
    }
}
