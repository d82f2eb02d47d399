//! Helpers for the tests of the Prometheus rules and Grafana dashboards: finding the Prometheus
//! tools, reading the shipped rule files, and the metric names a PromQL expression uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// Path of a tool from the Debian Prometheus packages: `$ENV_VAR`, then the folders
/// `scripts/test.sh` unpacks the packages into, then `PATH`.
pub fn tool(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    for dir in [
        "/opt/headroom-prometheus/usr/bin",
        "/opt/headroom-alertmanager/usr/bin",
    ] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// `PATH` with the folder of `promtool` first, for scripts that check what they install.
pub fn path_with_tools() -> std::ffi::OsString {
    let promtool = tool("promtool", "PROMTOOL");
    let mut dirs: Vec<PathBuf> = promtool
        .parent()
        .map(Path::to_path_buf)
        .into_iter()
        .collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap_or_default()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files of a repository folder whose names end in `suffix`, sorted; at least one.
pub fn files_in(folder: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = repo().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {suffix} files in {}", dir.display());
    files
}

/// The shipped rule files (`rules/headroom.*.yml`; the folder also holds an Alertmanager
/// example).
pub fn rule_files() -> Vec<PathBuf> {
    files_in("rules", ".yml")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("headroom."))
        })
        .collect()
}

pub fn load_yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{}: empty", path.display()))
}

/// One rule of a shipped file, with the group it is in.
#[derive(Debug, Clone)]
pub struct Rule {
    pub group: String,
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
    pub labels: Yaml,
    pub annotations: Yaml,
}

pub fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for file in rule_files() {
        let doc = load_yaml(&file);
        for g in doc["groups"].as_vec().cloned().unwrap_or_default() {
            let group = g["name"].as_str().unwrap_or_default().to_string();
            for r in g["rules"].as_vec().cloned().unwrap_or_default() {
                out.push(Rule {
                    group: group.clone(),
                    record: r["record"].as_str().map(str::to_string),
                    alert: r["alert"].as_str().map(str::to_string),
                    expr: r["expr"].as_str().unwrap_or_default().to_string(),
                    labels: r["labels"].clone(),
                    annotations: r["annotations"].clone(),
                });
            }
        }
    }
    out
}

/// Names the shipped rules record (read once per test process).
pub fn recorded_names() -> &'static BTreeSet<String> {
    static NAMES: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| rules().into_iter().filter_map(|r| r.record).collect())
}

/// The operator's threshold override series (rules/README.md, "Thresholds"): read by the shipped
/// rules, recorded by none of them.
pub const OVERRIDE_SERIES: &[&str] = &[
    "headroom:resource_threshold:warning",
    "headroom:resource_threshold:critical",
    "headroom:pool_threshold:warning",
    "headroom:pool_threshold:critical",
    "headroom:quota_threshold:warning",
];

/// Metric names an expression reads: identifiers outside label matchers and strings that are
/// `headroom_*` names or `level:metric:operation` recordings.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut depth_braces = 0usize;
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                // Skip a string literal (escapes included).
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
            }
            '{' => depth_braces += 1,
            '}' => depth_braces = depth_braces.saturating_sub(1),
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' || d == ':' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &expr[i..end];
                let recording = word.contains(':') && word.contains("headroom");
                if depth_braces == 0 && (word.starts_with("headroom_") || recording) {
                    names.insert(word.to_string());
                }
            }
            _ => {}
        }
    }
    names
}

/// Checks that every name an expression reads is in the catalogue (histogram series by their
/// family) or is recorded by the shipped rules or is an operator override; returns the problems.
pub fn unknown_names(expr: &str) -> Vec<String> {
    let catalogue: BTreeSet<&str> = headroom::catalog::ALL.iter().map(|d| d.name).collect();
    let recorded = recorded_names();
    metric_names(expr)
        .into_iter()
        .filter(|n| {
            if n.contains(':') {
                !recorded.contains(n) && !OVERRIDE_SERIES.contains(&n.as_str())
            } else {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| n.strip_suffix(s))
                    .filter(|f| catalogue.contains(f))
                    .unwrap_or(n);
                !catalogue.contains(family)
            }
        })
        .collect()
}
