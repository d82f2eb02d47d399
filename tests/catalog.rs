//! `METRICS.md` is generated from the catalogue and the collectors' declarations; this fails when
//! they differ
//! (regenerate with `UPDATE_METRICS_MD=1 cargo test --test catalog`).

#[test]
fn metrics_md_matches_the_catalogue() {
    let path = format!("{}/METRICS.md", env!("CARGO_MANIFEST_DIR"));
    let want = headroom::platforms::metrics_markdown();
    if std::env::var_os("UPDATE_METRICS_MD").is_some() {
        std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "METRICS.md is out of date: run `UPDATE_METRICS_MD=1 cargo test --test catalog` and commit it");
}

#[test]
fn names_follow_prometheus_conventions() {
    let mut seen = std::collections::BTreeSet::new();
    for def in headroom::catalog::ALL {
        assert!(seen.insert(def.name), "duplicate {}", def.name);
        // The process families keep the name every Prometheus client library gives them.
        assert!(
            def.name.starts_with("headroom_") || def.name.starts_with("process_"),
            "{}",
            def.name
        );
        assert!(
            def.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            def.name
        );
        let counter = def.kind == headroom::catalog::Kind::Counter;
        assert_eq!(
            counter,
            def.name.ends_with("_total"),
            "{}: only counters end in _total",
            def.name
        );
        assert!(
            !def.labels.contains(&"type"),
            "{}: avoid `type` as a label",
            def.name
        );
        // Prometheus owns these: a family label `instance` would arrive as `exported_instance`.
        for owned in ["instance", "job"] {
            assert!(
                !def.labels.contains(&owned) && !def.optional_labels.contains(&owned),
                "{}: `{owned}` is Prometheus's label",
                def.name
            );
        }
    }
}
