//! Bad configuration files: every problem is reported with its field path, and `check-config`
//! exits 1.

use std::process::Command;

const BAD: &str = r#"
server:
  listen: "not-an-address"
  max_connections: 2
defaults:
  intreval: 5m
  timeout: soon
  rate_limit_utilization: 1.5
instance_sizes:
  - {name: big, vcpus: 0, memory_gib: 4}
  - {name: big, vcpus: 2, memory_gib: lots, gpu_model: A100}
  - {vcpus: 2, memory_gib: 4, disk_gib: -1, colour: red}
targets:
  - name: esm-a
    platform: huawei_esm
    endpoint: ftp://esm.example.internal
    auth:
      token_url: https://iam.example.internal/v3/auth/tokens
      username: reader
      password: ${HEADROOM_TEST_UNSET_VARIABLE}
      domain: example
      apig_appcode: code
    collectors:
      physical_capacity: {interval: 10}
      no_such_collector: {}
    budgets: {capacity_api: -1, nope: 3}
  - name: esm-a
    platform: huawei_esm
    endpoint: https://esm.example.internal
    auth:
      token_url: https://iam.example.internal/v3/auth/tokens
      username: reader
      password: x
      password_file: /nonexistent
      domain: example
      project: p
      apig_appcode: code
  - name: other
    platform: vmware
    endpoint: https://x
"#;

#[test]
fn every_problem_is_reported_with_its_path() {
    let problems = headroom::config::parse(BAD, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("accepted"))
        .0;
    let text = problems.join("\n");
    for want in [
        "server.listen: `not-an-address` is not an address",
        "server.max_connections: expected a whole number from 8 to 16384, found 2",
        "defaults.intreval: unknown key (did you mean `interval`?)",
        "defaults.timeout: `soon` is not a duration",
        "defaults.rate_limit_utilization: must be above 0 and at most 1",
        "targets[0].endpoint: `ftp://esm.example.internal` must be an http:// or https:// URL",
        "targets[0].auth.password: environment variable HEADROOM_TEST_UNSET_VARIABLE is not set",
        "targets[0].auth.project: missing (required)",
        "targets[0].collectors.physical_capacity.interval: `10` is not a duration",
        "targets[0].collectors.no_such_collector: unknown collector",
        "targets[0].budgets.capacity_api: must be greater than 0",
        "targets[0].budgets.nope: unknown limit scope",
        "targets[1].name: duplicate target name `esm-a`",
        "targets[1].auth.password: give either `password` or `password_file`, not both",
        "targets[2].platform: unknown platform `vmware`",
        "instance_sizes[0].vcpus: must be above 0 and at most 4096, found 0",
        "instance_sizes[1].name: duplicate instance size `big`",
        "instance_sizes[1].memory_gib: expected a number, found a string",
        "instance_sizes[1].gpu_model: names a GPU model, but `gpus` is 0 or absent",
        "instance_sizes[2].name: missing (required)",
        "instance_sizes[2].disk_gib: must be at least 0 and at most 1048576, found -1",
        "instance_sizes[2].colour: unknown key",
    ] {
        assert!(text.contains(want), "missing: {want}\nall:\n{text}");
    }
}

#[test]
fn check_config_exits_1_and_prints_each_problem() {
    let dir = std::env::temp_dir().join(format!("headroom-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("bad.yaml");
    std::fs::write(&path, BAD).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: targets[1].name: duplicate target name"),
        "{stderr}"
    );
    assert!(
        stderr.lines().filter(|l| l.contains("error: ")).count() >= 14,
        "{stderr}"
    );
    let good = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.yaml"),
        ])
        .env("HCSO_PASSWORD", "p")
        .env("HCSO_APPCODE", "c")
        .env("SCP_ACCESS_KEY", "ak")
        .env("SCP_SECRET_KEY", "sk")
        .env("CLOUDOS_PASSWORD", "pw")
        .env("CEC_TOKEN", "t")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collectors_that_cannot_fit_their_budget_are_warned_about() {
    let sim: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap_or_else(|e| panic!("{e}"));
    let ca = std::env::temp_dir().join(format!("headroom-test-{}-ca.pem", std::process::id()));
    std::fs::write(&ca, "").unwrap_or_else(|e| panic!("{e}"));
    let demo = headroom::cli::demo_config(
        &[
            headroom::cli::esm_demo_target(sim),
            headroom::cli::scp_demo_target(sim, &ca),
            headroom::cli::cloudos_demo_target(sim),
            headroom::cli::cecstack_demo_target(sim),
        ],
        "127.0.0.1:9740".parse().unwrap_or_else(|e| panic!("{e}")),
        std::time::Duration::from_secs(30),
    );
    let cfg = headroom::config::parse(&demo, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    assert!(
        cfg.warnings.is_empty(),
        "the demo must fit its budgets: {:?}",
        cfg.warnings
    );
    // 16 capacity_api requests every 10 s = 96/min, above the default 48/min.
    let fast = demo.replace("interval: 30s", "interval: 10s");
    let cfg = headroom::config::parse(&fast, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    let w = cfg.warnings.join("\n");
    assert!(
        w.contains("need at least 96.0 `capacity_api` requests/min")
            && w.contains("budget of 48.0/min"),
        "{w}"
    );
}

#[test]
fn targets_sharing_a_per_ip_limit_are_warned_about() {
    let target = |name: &str, host: &str, get: u32| {
        format!("  - name: {name}\n    platform: sangfor_scp\n    endpoint: https://{host}\n    auth: {{access_key: a, secret_key: b}}\n    budgets: {{get: {get}}}\n")
    };
    let parse = |targets: &[String]| {
        headroom::config::parse(&format!("targets:\n{}", targets.concat()), &|_| None)
            .unwrap_or_else(|p| panic!("{p}"))
            .warnings
            .join("\n")
    };
    let w = parse(&[
        target("a", "scp.example", 480),
        target("b", "scp.example:443", 480),
    ]);
    assert!(
        w.contains("targets a, b all poll scp.example") && w.contains("960/min"),
        "{w}"
    );
    assert_eq!(
        parse(&[
            target("a", "scp.example", 300),
            target("b", "scp.example", 300)
        ]),
        "",
        "600 fits"
    );
    assert_eq!(
        parse(&[
            target("a", "scp-1.example", 480),
            target("b", "scp-2.example", 480)
        ]),
        ""
    );
}

#[test]
fn cecstack_header_values_can_come_from_files() {
    let dir = std::env::temp_dir().join(format!("headroom-cec-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("token");
    std::fs::write(&file, "Bearer from-a-file\n").unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "targets:\n  - name: c\n    platform: cecstack\n    endpoint: https://127.0.0.1\n    region_id: r\n    auth: {{header_files: {{Authorization: {}}}}}\n",
        file.display()
    );
    let cfg = headroom::config::parse(&text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    let headroom::platforms::PlatformTarget::Cecstack(t) = &cfg.targets[0].settings else {
        panic!("not cecstack")
    };
    let headroom::platforms::cecstack::CecAuth::Headers(h) = &t.auth else {
        panic!("not headers")
    };
    assert_eq!(
        (h[0].0.as_str(), h[0].1.expose()),
        ("Authorization", "Bearer from-a-file")
    );
    assert!(
        !format!("{cfg:?}").contains("from-a-file"),
        "the value is a redacted secret"
    );
    let missing = text.replace(&file.display().to_string(), "/nonexistent/token");
    let p = headroom::config::parse(&missing, &|_| None)
        .err()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(
        p.contains("targets[0].auth.header_files.Authorization: cannot read secret file"),
        "{p}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An interval below the floor once passed: a 1 ns poller spent its time skipping ticks.
#[test]
fn an_interval_below_one_second_is_refused_at_every_level() {
    let text = r#"
defaults:
  interval: 1ns
targets:
  - name: esm
    platform: huawei_esm
    endpoint: https://esm.example.internal
    interval: 500ms
    auth: {token_url: https://iam.example.internal/v3/auth/tokens, username: r, password: x, domain: d, project: p, apig_appcode: c}
    collectors:
      physical_capacity: {interval: 999ms}
      service_capacity: {interval: 1s}
"#;
    let problems = headroom::config::parse(text, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("accepted"))
        .0
        .join("\n");
    for want in [
        "defaults.interval: 1ns is below the floor of 1s",
        "targets[0].interval: 500ms is below the floor of 1s",
        "targets[0].collectors.physical_capacity.interval: 999ms is below the floor of 1s",
    ] {
        assert!(problems.contains(want), "missing `{want}` in:\n{problems}");
    }
    assert!(!problems.contains("service_capacity"), "{problems}");
}

/// Nested aliases once expanded without bound: a 284-byte file became 1.12 GB.
#[test]
fn yaml_aliases_that_expand_past_the_bound_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
        let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
        bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    assert!(bomb.len() < 600, "{}", bomb.len());
    let problems = headroom::config::parse(&bomb, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("accepted"))
        .to_string();
    assert!(
        problems.contains("expands to more than 100000 values"),
        "{problems}"
    );
    // A few aliases that stay small are fine.
    let ok = "defaults: &d {interval: 5m}\ntargets: []\nx: *d\n";
    let problems = headroom::config::parse(ok, &|_| None)
        .err()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(!problems.contains("expands"), "{problems}");
    let deep = format!("targets: {}{}\n", "[".repeat(100), "]".repeat(100));
    let problems = headroom::config::parse(&deep, &|_| None)
        .err()
        .unwrap_or_else(|| panic!("accepted"))
        .to_string();
    assert!(
        problems.contains("nests mappings and lists 101 deep"),
        "{problems}"
    );
}

/// A value from the environment once appeared in check-config's messages (a secret put in the
/// wrong field was printed).
#[test]
fn a_value_from_the_environment_is_never_echoed() {
    let text = "targets:\n  - name: a\n    platform: huawei_esm\n    endpoint: ${HEADROOM_T_ENDPOINT}\n    auth: {token_url: https://iam.example/v3/auth/tokens, username: r, password: x, domain: d, project: p, apig_appcode: c}\n";
    let env = |k: &str| (k == "HEADROOM_T_ENDPOINT").then(|| "s3cr3t-not-a-url".to_string());
    let problems = headroom::config::parse(text, &env)
        .err()
        .unwrap_or_else(|| panic!("accepted"))
        .to_string();
    assert!(!problems.contains("s3cr3t"), "{problems}");
    assert!(
        problems.contains("targets[0].endpoint: `${HEADROOM_T_ENDPOINT}`"),
        "{problems}"
    );
}

/// A trailing space in a secret file was once kept silently, failing the login for no visible
/// reason.
#[test]
fn a_secret_file_ending_in_spaces_is_trimmed_with_a_warning() {
    let dir = std::env::temp_dir().join(format!("headroom-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("password");
    std::fs::write(&file, "pass word \t\n").unwrap_or_else(|e| panic!("{e}"));
    let text = format!("targets:\n  - name: a\n    platform: huawei_esm\n    endpoint: https://esm.example\n    auth: {{token_url: https://iam.example/v3/auth/tokens, username: r, password_file: {}, domain: d, project: p, apig_appcode: c}}\n", file.display());
    let cfg = headroom::config::parse(&text, &|_| None).unwrap_or_else(|p| panic!("{p}"));
    assert!(
        cfg.warnings
            .iter()
            .any(|w| w.contains("targets[0].auth.password_file")
                && w.contains("ends with spaces or tabs")),
        "{:?}",
        cfg.warnings
    );
    match &cfg.targets[0].settings {
        headroom::platforms::PlatformTarget::HuaweiEsm(t) => {
            assert_eq!(t.password.expose(), "pass word");
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
