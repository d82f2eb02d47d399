//! The module layering of ARCHITECTURE.md, checked on the source: which top-level module of
//! `src/` names which (`crate::x`, outside `#[cfg(test)]` modules, which may cross layers to
//! test one against another), no edge from the forbidden list, and no import circle beyond the
//! one still to be taken apart (issue 14), so that none can be added or grown unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Edges that must never exist: the model and the server know no platform, no platform knows
/// the simulators, the server or the command line, and nothing in the library imports `cli`.
const FORBIDDEN: &[(&str, &str)] = &[
    ("store", "platforms"),
    ("server", "platforms"),
    ("server", "sim"),
    ("catalog", "platforms"),
    ("collect", "platforms"),
    ("placement", "platforms"),
    ("platforms", "sim"),
    ("platforms", "server"),
    ("platforms", "cli"),
    ("platforms", "schedule"),
    ("sim", "platforms"),
    ("sim", "server"),
    ("json", "platforms"),
    ("lenient", "platforms"),
    ("config", "server"),
    ("config", "schedule"),
    ("store", "server"),
    ("schedule", "server"),
    ("schedule", "cli"),
    ("server", "cli"),
    ("config", "cli"),
];

/// The one import circle left, to be taken apart by issue 14 (`config` parses the platforms'
/// settings, and the platforms use `config`'s readers and `Secret`). It may shrink (then
/// shrink this list with it) but not grow.
const KNOWN_CIRCLE: &[&str] = &["config", "http", "platforms", "token"];

/// The code of a file outside its `#[cfg(test)]` modules (each file's tests are one module at
/// its end).
fn product_code(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    }
}

fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module → the top-level modules its product code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 30,
        "found {} files under {}",
        files.len(),
        src.display()
    );
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap_or(&file);
        let from = top_module(rel);
        if from == "main" || from == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
        let code = product_code(&text);
        let entry = edges.entry(from.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() && name != from {
                entry.insert(name);
            }
        }
    }
    edges
}

/// The modules on some circle: those that reach themselves.
fn on_circles(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = edges.get(from).into_iter().flatten().cloned().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
        seen
    };
    edges
        .keys()
        .filter(|m| reaches(m).contains(*m))
        .cloned()
        .collect()
}

#[test]
fn no_forbidden_edge() {
    let edges = graph();
    let found: Vec<String> = FORBIDDEN
        .iter()
        .filter(|(a, b)| edges.get(*a).is_some_and(|to| to.contains(*b)))
        .map(|(a, b)| format!("{a} → {b}"))
        .collect();
    assert!(
        found.is_empty(),
        "forbidden imports: {found:?}\ngraph: {edges:#?}"
    );
}

#[test]
fn no_import_circle_but_the_known_one() {
    let edges = graph();
    let circles = on_circles(&edges);
    let known: BTreeSet<String> = KNOWN_CIRCLE.iter().map(|s| s.to_string()).collect();
    let added: Vec<&String> = circles.difference(&known).collect();
    assert!(
        added.is_empty(),
        "modules newly on an import circle: {added:?}\ngraph: {edges:#?}"
    );
    let gone: Vec<&String> = known.difference(&circles).collect();
    assert!(
        gone.is_empty(),
        "{gone:?} no longer on a circle: take them out of KNOWN_CIRCLE"
    );
}

#[test]
fn the_checker_sees_a_circle_and_a_forbidden_edge() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        on_circles(&g),
        BTreeSet::from(["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        product_code("use crate::x;\n#[cfg(test)]\nmod tests { use crate::y; }"),
        "use crate::x;\n"
    );
}
