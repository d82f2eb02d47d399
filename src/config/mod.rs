//! The configuration: loading the YAML file, `${ENV}` interpolation, `*_file` secrets, defaults
//! with per-target and per-collector overrides, and validation that reports every problem with
//! its field path. The platform modules read their own `auth` and option keys.

pub mod sizes;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tree::{Ctx, Obj};
pub use tree::{Problems, Secret};

use crate::platforms::{self, CollectorOptions, PlatformKind, PlatformTarget};

/// A fully validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub targets: Vec<TargetConfig>,
    /// Things that are allowed but probably not meant (printed by `check-config` and at start).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `host:port` Prometheus reaches this exporter at, as `/sd` lists it; `None`: the listen
    /// address, or this host's name and the port when listening on every address.
    pub external_address: Option<String>,
    /// The exporter-toolkit web configuration (TLS, basic auth, headers); `--web.config.file`
    /// overrides it. Read by `server::web_config`, not here (the server owns its format).
    pub web_config_file: Option<PathBuf>,
    /// Where each collector's last good snapshot is kept across restarts (`state.rs`); `None`:
    /// a restart starts empty.
    pub state_dir: Option<PathBuf>,
    /// Inbound connections open at once (`server.max_connections`); at the bound a new one
    /// takes the oldest one's place (`server::listener`).
    pub max_connections: usize,
}

/// `server.max_connections` when not set: a Prometheus server keeps one connection each, so
/// this is far more than an exporter needs, and far below the unit's `LimitNOFILE` (16384),
/// which also covers the pollers' connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// A listen address as exporters take it: `host:port`, `ip:port`, `[v6]:port`, or `:port` for
/// every IPv4 address. A host name is resolved (its first address).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Some(port) = t.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
            .map_err(|_| format!("`{t}`: `{port}` is not a port number"));
    }
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    let Some((host, port)) = t.rsplit_once(':') else {
        return Err(format!(
            "`{t}` is not an address such as 0.0.0.0:9740, :9740 or localhost:9740"
        ));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!(
            "`{t}` is not an address such as 0.0.0.0:9740, :9740 or localhost:9740"
        ));
    }
    use std::net::ToSocketAddrs as _;
    t.to_socket_addrs()
        .map_err(|e| format!("`{t}`: cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{t}`: `{host}` has no address"))
}

/// Settings of one target, with defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetConfig {
    pub name: String,
    pub platform: PlatformKind,
    pub endpoint: reqwest::Url,
    pub tls: TlsConfig,
    /// Per-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body_bytes: usize,
    /// Retries of a request after a timeout, 5xx or 429.
    pub retries: u32,
    /// How long a throttling answer without `Retry-After` pauses the scope (or the whole target,
    /// where the platform bans the client); `None`: the platform's documented default.
    pub throttle_pause: Option<Duration>,
    /// The longest pause a `Retry-After` may ask for (`max_retry_after`, default 5 min).
    pub max_retry_after: Duration,
    /// Requests per minute per limit scope: documented limit × utilisation, or the override.
    pub budgets: BTreeMap<&'static str, f64>,
    /// Enabled collectors only.
    pub collectors: Vec<CollectorConfig>,
    pub settings: PlatformTarget,
    /// The configured instance sizes to count free slots of (top level merged with the
    /// target's own, `sizes.rs`).
    pub instance_sizes: Vec<crate::placement::InstanceSize>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CollectorConfig {
    pub name: &'static str,
    pub interval: Duration,
    /// How long the last good snapshot is served after polls start failing.
    pub max_age: Duration,
    pub options: CollectorOptions,
}

/// Defaults that targets and collectors inherit.
struct Defaults {
    interval: Option<Duration>,
    timeout: Duration,
    connect_timeout: Duration,
    utilization: f64,
    max_body_bytes: usize,
    retries: u32,
    max_retry_after: Option<Duration>,
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:9740";

/// The longest pause a platform's `Retry-After` may impose by default: longer than any
/// documented ban (SCP: "about a minute"), short enough that a wrong header costs minutes.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The shortest poll interval accepted. No platform's data changes faster, and below it a
/// poller would spend its time skipping ticks.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The largest configuration file accepted (a large site's is tens of KiB).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Reads and validates a configuration file, with the process environment.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let cannot = |e: String| Problems(vec![format!("cannot read {}: {e}", path.display())]);
    let bytes = tree::read_bounded(path, MAX_CONFIG_BYTES).map_err(cannot)?;
    let text = String::from_utf8(bytes).map_err(|_| cannot("not UTF-8 text".into()))?;
    parse(&text, &|k| std::env::var(k).ok())
}

/// Validates configuration text; `env` resolves `${NAME}` references. A value taken from the
/// environment never appears in a problem or warning: `${NAME}` stands in its place (an
/// environment variable is where secrets live, and a wrong one is often echoed, e.g. as the
/// URL that does not parse).
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Problems> {
    let used = std::cell::RefCell::new(Vec::<(String, String)>::new());
    let recording = |name: &str| {
        let value = env(name);
        if let Some(v) = &value {
            used.borrow_mut().push((name.to_string(), v.clone()));
        }
        value
    };
    let hide = |text: String| {
        let mut out = text;
        for (name, value) in used.borrow().iter() {
            // Short values ("1", "on") would garble messages and are no secrets.
            if value.len() >= 4 {
                out = out.replace(value.as_str(), &format!("${{{name}}}"));
            }
        }
        out
    };
    match parse_with(text, &recording) {
        Ok(mut cfg) => {
            cfg.warnings = cfg.warnings.into_iter().map(hide).collect();
            Ok(cfg)
        }
        Err(p) => Err(Problems(p.0.into_iter().map(hide).collect())),
    }
}

fn parse_with(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, Problems> {
    let root = tree::parse_yaml(text).map_err(|e| Problems(vec![e]))?;
    let mut ctx = Ctx {
        problems: Problems::default(),
        warnings: Vec::new(),
        env,
    };
    let mut warnings = Vec::new();
    let mut top = Obj::new(Some(&root), "", &mut ctx);

    let mut server = top.obj("server", &mut ctx);
    let listen_raw = server
        .opt_str("listen", &mut ctx)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen = match parse_listen(&listen_raw) {
        Ok(a) => a,
        Err(e) => {
            ctx.problems.add("server.listen", e);
            // A placeholder: the config is rejected anyway.
            SocketAddr::from(([127, 0, 0, 1], 9740))
        }
    };
    let external_address = server.opt_str("external_address", &mut ctx);
    if let Some(a) = &external_address {
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            ctx.problems.add(
                "server.external_address",
                format!("`{a}` is not host:port (the address Prometheus scrapes this exporter at)"),
            );
        }
    }
    let web_config_file = server.opt_file("web_config_file", &mut ctx);
    let state_dir = server.opt_str("state_dir", &mut ctx).map(PathBuf::from);
    if let Some(d) = &state_dir {
        if !d.is_dir() {
            ctx.problems.add(
                "server.state_dir",
                format!(
                    "{} is not a directory (create it, or let systemd's StateDirectory= do it)",
                    d.display()
                ),
            );
        }
    }
    let max_connections = server
        .opt_u64("max_connections", 8..=16384, &mut ctx)
        .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize);
    server.finish(&mut ctx);

    let mut d = top.obj("defaults", &mut ctx);
    let defaults = Defaults {
        interval: d.opt_duration_at_least("interval", MIN_INTERVAL, &mut ctx),
        timeout: d
            .opt_duration("timeout", &mut ctx)
            .unwrap_or(Duration::from_secs(30)),
        connect_timeout: d
            .opt_duration("connect_timeout", &mut ctx)
            .unwrap_or(Duration::from_secs(5)),
        utilization: utilization(&mut d, &mut ctx).unwrap_or(0.8),
        max_body_bytes: d
            .opt_u64("max_body_bytes", 1024..=(1 << 34), &mut ctx)
            .unwrap_or(64 << 20) as usize,
        retries: d.opt_u64("retries", 0..=10, &mut ctx).unwrap_or(3) as u32,
        max_retry_after: d.opt_duration("max_retry_after", &mut ctx),
    };
    d.finish(&mut ctx);
    let top_sizes = sizes::parse(&mut top, "instance_sizes", &mut ctx);

    let mut targets = Vec::new();
    match top.raw("targets") {
        None => ctx
            .problems
            .add("targets", "missing (required): list at least one target"),
        Some(serde_json::Value::Array(items)) => {
            if items.is_empty() {
                ctx.problems
                    .add("targets", "is empty: list at least one target");
            }
            let mut names = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let path = format!("targets[{i}]");
                // Checked on the raw name, so a duplicate is reported even if the target has
                // other problems.
                if let Some(name) = item.get("name").and_then(|n| n.as_str()) {
                    if !names.insert(name.to_string()) {
                        ctx.problems.add(
                            &format!("{path}.name"),
                            format!("duplicate target name `{name}`"),
                        );
                    }
                }
                if let Some(t) =
                    parse_target(item, &path, &defaults, &top_sizes, &mut ctx, &mut warnings)
                {
                    targets.push(t);
                }
            }
        }
        Some(_) => ctx.problems.add("targets", "expected a list of targets"),
    }
    top.finish(&mut ctx);
    shared_limit_warnings(&targets, &mut warnings);
    warnings.append(&mut ctx.warnings);

    if ctx.problems.is_empty() {
        Ok(Config {
            server: ServerConfig {
                listen,
                external_address,
                web_config_file,
                state_dir,
                max_connections,
            },
            targets,
            warnings,
        })
    } else {
        Err(ctx.problems)
    }
}

/// Targets of one platform on one host share a limit counted per client IP: their budgets add
/// up at the platform, so a sum above the documented limit is warned about.
fn shared_limit_warnings(targets: &[TargetConfig], warnings: &mut Vec<String>) {
    // (platform, host, scope) → the targets' (name, requests per minute).
    type Key = (PlatformKind, String, &'static str);
    let mut groups: BTreeMap<Key, Vec<(&str, f64)>> = BTreeMap::new();
    for t in targets {
        let host = t.endpoint.host_str().unwrap_or("").to_string();
        // Scopes the enabled collectors poll through (the rare login requests do not count).
        let polled = |scope: &str| {
            t.collectors.iter().any(|c| {
                t.platform
                    .collectors()
                    .iter()
                    .filter(|i| i.name == c.name)
                    .any(|i| i.min_requests.iter().any(|(s, _)| *s == scope))
            })
        };
        for scope in t
            .platform
            .limit_scopes()
            .iter()
            .filter(|s| s.per_client_ip && polled(s.name))
        {
            let rate = t.budgets.get(scope.name).copied().unwrap_or(0.0);
            groups
                .entry((t.platform, host.clone(), scope.name))
                .or_default()
                .push((&t.name, rate));
        }
    }
    for ((platform, host, scope), members) in groups {
        let total: f64 = members.iter().map(|(_, r)| r).sum();
        let documented = platform
            .limit_scopes()
            .iter()
            .find(|s| s.name == scope)
            .map_or(f64::INFINITY, |s| s.documented_per_minute);
        if members.len() > 1 && total > documented {
            let names: Vec<&str> = members.iter().map(|(n, _)| *n).collect();
            warnings.push(format!(
                "targets {} all poll {host}, whose `{scope}` limit ({documented}/min) counts per client IP: their budgets add up to {total}/min; lower budgets.{scope} so the sum stays below the limit",
                names.join(", ")
            ));
        }
    }
}

fn utilization(obj: &mut Obj, ctx: &mut Ctx) -> Option<f64> {
    let path = obj.key_path("rate_limit_utilization");
    let u = obj.opt_f64("rate_limit_utilization", ctx)?;
    if !(u > 0.0 && u <= 1.0) {
        ctx.problems.add(
            &path,
            format!("must be above 0 and at most 1 (a share of the documented limit), found {u}"),
        );
        return None;
    }
    Some(u)
}

fn parse_target(
    value: &serde_json::Value,
    path: &str,
    defaults: &Defaults,
    top_sizes: &[crate::placement::InstanceSize],
    ctx: &mut Ctx,
    warnings: &mut Vec<String>,
) -> Option<TargetConfig> {
    let mut t = Obj::new(Some(value), path, ctx);
    let name = t.str("name", ctx);
    if let Some(n) = &name {
        if !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            ctx.problems.add(
                &t.key_path("name"),
                format!("`{n}` may contain only letters, digits, '-', '_' and '.'"),
            );
        }
    }
    let platform = t
        .str("platform", ctx)
        .and_then(|p| match PlatformKind::parse(&p) {
            Some(k) => Some(k),
            None => {
                ctx.problems.add(
                    &t.key_path("platform"),
                    format!(
                        "unknown platform `{p}`; known: {}",
                        PlatformKind::names().join(", ")
                    ),
                );
                None
            }
        });
    let endpoint = t.url("endpoint", ctx);

    let mut tls_obj = t.obj("tls", ctx);
    let tls = TlsConfig {
        ca_file: tls_obj.opt_file("ca_file", ctx),
        insecure_skip_verify: tls_obj
            .opt_bool("insecure_skip_verify", ctx)
            .unwrap_or(false),
    };
    if tls.insecure_skip_verify && tls.ca_file.is_some() {
        ctx.problems.add(
            tls_obj.path(),
            "give either `ca_file` or `insecure_skip_verify`, not both",
        );
    }
    tls_obj.finish(ctx);

    let timeout = t.opt_duration("timeout", ctx).unwrap_or(defaults.timeout);
    let connect_timeout = t
        .opt_duration("connect_timeout", ctx)
        .unwrap_or(defaults.connect_timeout);
    let target_interval = t
        .opt_duration_at_least("interval", MIN_INTERVAL, ctx)
        .or(defaults.interval);
    let util = utilization(&mut t, ctx).unwrap_or(defaults.utilization);
    let max_body_bytes = t
        .opt_u64("max_body_bytes", 1024..=(1 << 34), ctx)
        .map_or(defaults.max_body_bytes, |v| v as usize);
    let retries = t
        .opt_u64("retries", 0..=10, ctx)
        .map_or(defaults.retries, |v| v as u32);
    let throttle_pause = t.opt_duration("throttle_pause", ctx);
    let max_retry_after = t
        .opt_duration("max_retry_after", ctx)
        .or(defaults.max_retry_after)
        .unwrap_or(DEFAULT_MAX_RETRY_AFTER);
    let instance_sizes = sizes::merge(top_sizes, sizes::parse(&mut t, "instance_sizes", ctx));

    // Budgets: documented limit × utilisation, unless overridden per scope.
    let mut budgets = BTreeMap::new();
    let mut budget_obj = t.obj("budgets", ctx);
    if let Some(kind) = platform {
        for scope in kind.limit_scopes() {
            let documented = scope.documented_per_minute;
            let mut per_minute = scope
                .default_cap_per_minute
                .unwrap_or(documented * util)
                .min(documented * util);
            let key_path = budget_obj.key_path(scope.name);
            if let Some(v) = budget_obj.opt_f64(scope.name, ctx) {
                if v <= 0.0 {
                    ctx.problems
                        .add(&key_path, "must be greater than 0 (requests per minute)");
                } else {
                    if v > documented {
                        warnings.push(format!(
                            "{key_path}: {v} requests/min is above the documented limit of {documented}/min; expect throttling"
                        ));
                    }
                    per_minute = v;
                }
            }
            budgets.insert(scope.name, per_minute);
        }
        let known: Vec<&str> = kind.limit_scopes().iter().map(|s| s.name).collect();
        for key in budget_obj.keys() {
            if !known.contains(&key) {
                ctx.problems.add(
                    &budget_obj.key_path(key),
                    format!(
                        "unknown limit scope; {} has: {}",
                        kind.as_str(),
                        known.join(", ")
                    ),
                );
            }
        }
    } else {
        // Unknown platform: already reported; its other keys cannot be checked.
        return None;
    }
    drop(budget_obj);

    let kind = platform?;
    let mut collectors = Vec::new();
    let mut coll_obj = t.obj("collectors", ctx);
    let known: Vec<&str> = kind.collectors().iter().map(|c| c.name).collect();
    for key in coll_obj.keys() {
        if !known.contains(&key) {
            ctx.problems.add(
                &coll_obj.key_path(key),
                format!(
                    "unknown collector; {} has: {}",
                    kind.as_str(),
                    known.join(", ")
                ),
            );
        }
    }
    for info in kind.collectors() {
        let mut c = coll_obj.obj(info.name, ctx);
        let enabled = c
            .opt_bool("enabled", ctx)
            .unwrap_or(info.enabled_by_default);
        let interval = c
            .opt_duration_at_least("interval", MIN_INTERVAL, ctx)
            .or(target_interval)
            .unwrap_or(info.default_interval);
        let max_age = c.opt_duration("max_age", ctx).unwrap_or(interval * 3);
        if max_age < interval {
            ctx.problems.add(
                &c.key_path("max_age"),
                "must be at least the interval, or the data would vanish between polls",
            );
        }
        let options = platforms::parse_collector_options(kind, info.name, &mut c, ctx);
        c.finish(ctx);
        if enabled {
            collectors.push(CollectorConfig {
                name: info.name,
                interval,
                max_age,
                options,
            });
        }
    }
    // Keys were checked above against the platform's list; don't report them twice.
    drop(coll_obj);

    // Warn when the enabled collectors cannot fit a budget at their intervals: their polls
    // would fail with reason `budget` (the requests are a lower bound: pages add more).
    for (scope, budget) in &budgets {
        let demand: f64 = collectors
            .iter()
            .filter_map(|c| {
                let info = kind.collectors().iter().find(|i| i.name == c.name)?;
                let n = info.min_requests.iter().find(|(s, _)| s == scope)?.1;
                Some(f64::from(n) * 60.0 / c.interval.as_secs_f64())
            })
            .sum();
        if demand > *budget {
            warnings.push(format!(
                "{path}: the enabled collectors need at least {demand:.1} `{scope}` requests/min at their intervals, \
                 above the budget of {budget:.1}/min; their polls will fail with reason `budget`: lengthen the intervals"
            ));
        }
    }

    let settings = platforms::parse_target_settings(kind, &mut t, endpoint.as_ref(), ctx);
    t.finish(ctx);

    if tls.insecure_skip_verify {
        warnings.push(format!(
            "{path}.tls.insecure_skip_verify: TLS certificate verification is OFF for target `{}`",
            name.as_deref().unwrap_or("?")
        ));
    }
    Some(TargetConfig {
        name: name?,
        platform: kind,
        endpoint: endpoint?,
        tls,
        timeout,
        connect_timeout,
        max_body_bytes,
        retries,
        throttle_pause,
        max_retry_after,
        budgets,
        collectors,
        settings: settings?,
        instance_sizes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_secrets() {
        let text = r#"
targets:
  - name: esm
    platform: huawei_esm
    endpoint: https://esm.example.internal
    auth:
      token_url: https://iam.example.internal/v3/auth/tokens
      username: reader
      password: "${PW}"
      domain: example
      project: example-region
      apig_appcode: "${CODE}"
"#;
        let env = |k: &str| match k {
            "PW" => Some("pa55-word-value".to_string()),
            "CODE" => Some("appcode-value".to_string()),
            _ => None,
        };
        let cfg = parse(text, &env).unwrap_or_else(|p| panic!("{p}"));
        let dump = format!("{cfg:?}");
        assert!(!dump.contains("pa55-word-value"), "{dump}");
        assert!(!dump.contains("appcode-value"), "{dump}");
    }
}

#[cfg(test)]
mod listen_tests {
    use super::parse_listen;

    #[test]
    fn listen_addresses_as_exporters_take_them() {
        assert_eq!(
            parse_listen(":9740").map(|a| a.to_string()),
            Ok("0.0.0.0:9740".into())
        );
        assert_eq!(
            parse_listen("127.0.0.1:1").map(|a| a.to_string()),
            Ok("127.0.0.1:1".into())
        );
        assert_eq!(
            parse_listen("[::1]:9740").map(|a| a.to_string()),
            Ok("[::1]:9740".into())
        );
        assert!(parse_listen("localhost:9740").is_ok_and(|a| a.ip().is_loopback()));
        for bad in [":", ":x", "9740", "host:", ":99999"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
    }
}
