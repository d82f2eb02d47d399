//! The command line (`run`, `once`, `check-config`, `demo`, `simulate`) and the daemon's life
//! cycle: start, SIGHUP reload, graceful shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{self, Config};
use crate::schedule::{self, Runtime};
use crate::server::{self, AppState, WebConfig, WebState};
use crate::sim;
use crate::store::{self, Store};
use crate::telemetry::SelfMetrics;

#[derive(Parser, Debug)]
#[command(
    name = "headroom",
    version = crate::telemetry::VERSION_LONG,
    about = "Capacity telemetry exporter for private clouds (Huawei ESM, ...)"
)]
pub struct Cli {
    /// Log level: error, warn, info, debug, trace (anything else is an error).
    #[arg(long, global = true, default_value = "info", env = "HEADROOM_LOG", value_parser = crate::logging::parse_level)]
    pub log_level: tracing::Level,
    /// Log format: text, logfmt or json.
    #[arg(long, global = true, default_value = "text", env = "HEADROOM_LOG_FORMAT", value_parser = crate::logging::parse_format)]
    pub log_format: crate::logging::LogFormat,
    /// Configuration file (for `run` when no subcommand is given).
    #[arg(long, env = "HEADROOM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon (the default).
    Run {
        #[arg(long, env = "HEADROOM_CONFIG")]
        config: PathBuf,
        /// Overrides server.listen (`host:port`, `ip:port` or `:port`).
        #[arg(long, visible_alias = "web.listen-address", value_parser = config::parse_listen)]
        listen: Option<SocketAddr>,
        /// Web configuration (TLS, basic auth; exporter-toolkit format); overrides
        /// server.web_config_file. Re-read on SIGHUP.
        #[arg(long = "web.config.file", env = "HEADROOM_WEB_CONFIG")]
        web_config: Option<PathBuf>,
    },
    /// Poll every enabled collector once and print the exposition; exit 1 if any failed.
    Once {
        #[arg(long, env = "HEADROOM_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file and its web configuration; print every problem with its
    /// field path; exit 1 if any.
    CheckConfig {
        #[arg(long, env = "HEADROOM_CONFIG")]
        config: PathBuf,
        /// Web configuration to check instead of server.web_config_file.
        #[arg(long = "web.config.file", env = "HEADROOM_WEB_CONFIG")]
        web_config: Option<PathBuf>,
    },
    /// Read a password from standard input and print its bcrypt hash, for `basic_auth_users`
    /// of the web configuration (as `htpasswd -nBC 10 "" | tr -d ':\n'` does).
    HashPassword {
        /// bcrypt cost (each step doubles the time of every check; 10 takes about 70 ms).
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
    /// Run the platform simulators on loopback and the exporter on 127.0.0.1:9740.
    Demo {
        #[arg(long, default_value = "127.0.0.1:9740")]
        listen: SocketAddr,
        /// Poll interval of every collector.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        interval: Duration,
        /// Share of each ESM pool's total allocated per hour, so the forecasts have a trend
        /// (0: a site that does not change).
        #[arg(long, default_value_t = 0.001)]
        growth_per_hour: f64,
        /// Web configuration for the demo's exporter (TLS, basic auth; exporter-toolkit format).
        #[arg(long = "web.config.file")]
        web_config: Option<PathBuf>,
    },
    /// Run one platform simulator.
    Simulate {
        /// Platform to simulate: huawei_esm, sangfor_scp, h3c_cloudos or cecstack.
        #[arg(long)]
        platform: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Seed of the synthetic site.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Hosts in the synthetic site (default: 24 for ESM, 12 for SCP).
        #[arg(long)]
        hosts: Option<usize>,
        /// SCP, CloudOS, CECSTACK: VMs (servers, instances) in the synthetic fleet.
        #[arg(long, default_value_t = 120)]
        vms: usize,
        /// SCP, CloudOS, CECSTACK: resource pools / availability zones in the synthetic fleet.
        #[arg(long, default_value_t = 2)]
        pools: usize,
        /// SCP: `fleet` (seeded, consistent across APIs) or `examples` (the vendor document's).
        #[arg(long, default_value = "fleet")]
        dataset: String,
        /// SCP: the newest janus API version served (e.g. 20180725 for an old site).
        #[arg(long, default_value = "20220725")]
        max_version: String,
        /// Lifetime of issued tokens.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        token_ttl: Duration,
        /// Limit per minute: ESM Tier-2 calls (default 60); SCP GETs per client IP (default 600).
        #[arg(long)]
        rate_limit: Option<usize>,
        /// Latency added to every data response, in milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Probability of a 500 answer.
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Probability of a 429 answer below the limit.
        #[arg(long, default_value_t = 0.0)]
        throttle_rate: f64,
        /// Probability of a body that is not JSON.
        #[arg(long, default_value_t = 0.0)]
        malformed_rate: f64,
        /// Probability of a JSON body cut in half.
        #[arg(long, default_value_t = 0.0)]
        truncate_rate: f64,
        /// Probability of a JSON body whose values are made hostile (numbers as strings, nulls,
        /// negative and huge numbers, keys missing, items repeated, deep nesting).
        #[arg(long, default_value_t = 0.0)]
        mutate_rate: f64,
        /// Serve HTTPS with a certificate made at start; its CA is written to this file (for a
        /// target's `tls.ca_file`). SCP is always served over HTTPS.
        #[arg(long)]
        tls_ca_out: Option<PathBuf>,
        /// Write the `targets:` entry that polls this simulator (the demo's) to this file, once
        /// it listens (for scripts such as `scripts/soak.sh` that run simulators apart from the
        /// exporter).
        #[arg(long)]
        target_out: Option<PathBuf>,
        /// ESM: share of each pool's vCPU and memory total allocated more every hour (the demo
        /// uses 0.001), so exhaustion forecasts have a trend.
        #[arg(long, default_value_t = 0.0)]
        growth_per_hour: f64,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Some(c) => c,
        None => match cli.config {
            Some(config) => Command::Run {
                config,
                listen: None,
                web_config: None,
            },
            None => {
                eprintln!("error: give --config FILE (or a subcommand; see --help)");
                return ExitCode::from(2);
            }
        },
    };
    let code = runtime.block_on(async move {
        match command {
            Command::Run {
                config,
                listen,
                web_config,
            } => run(&config, listen, web_config).await,
            Command::Once { config } => once(&config).await,
            Command::HashPassword { cost } => hash_password(cost),
            Command::CheckConfig { config, web_config } => {
                check_config(&config, web_config.as_deref())
            }
            Command::Demo {
                listen,
                interval,
                growth_per_hour,
                web_config,
            } => demo(listen, interval, growth_per_hour, web_config).await,
            Command::Simulate {
                platform,
                listen,
                seed,
                hosts,
                vms,
                pools,
                dataset,
                max_version,
                token_ttl,
                rate_limit,
                latency_ms,
                error_rate,
                throttle_rate,
                malformed_rate,
                truncate_rate,
                mutate_rate,
                tls_ca_out,
                target_out,
                growth_per_hour,
            } => {
                let outputs = SimOutputs {
                    tls_ca_out,
                    target_out,
                };
                let faults = sim::Faults {
                    latency_ms,
                    error_rate,
                    throttle_rate,
                    malformed_rate,
                    truncate_rate,
                    mutate_rate,
                    // A flood is switched on at run time (`POST /sim/faults`).
                    ..Default::default()
                };
                match platform.as_str() {
                    "huawei_esm" => {
                        let cfg = sim::huawei_esm::EsmSimConfig {
                            seed,
                            hosts: hosts.unwrap_or(24),
                            token_ttl,
                            capacity_limit_per_minute: rate_limit.unwrap_or(60),
                            faults,
                            growth_per_hour,
                            ..Default::default()
                        };
                        simulate(SimKind::Esm(cfg), listen, outputs).await
                    }
                    "sangfor_scp" => {
                        let dataset = match dataset.as_str() {
                            "fleet" => sim::sangfor_scp::Dataset::Fleet,
                            "examples" => sim::sangfor_scp::Dataset::Examples,
                            other => {
                                eprintln!(
                                    "error: unknown --dataset `{other}`; known: fleet, examples"
                                );
                                return ExitCode::from(2);
                            }
                        };
                        let Some(max_version) = sim::sangfor_scp::VERSIONS
                            .iter()
                            .find(|v| **v == max_version)
                        else {
                            eprintln!(
                                "error: unknown --max-version `{max_version}`; known: {}",
                                sim::sangfor_scp::VERSIONS.join(", ")
                            );
                            return ExitCode::from(2);
                        };
                        let cfg = sim::sangfor_scp::ScpSimConfig {
                            seed,
                            dataset,
                            hosts: hosts.unwrap_or(12),
                            vms,
                            pools,
                            max_version,
                            token_ttl,
                            get_limit: rate_limit.unwrap_or(600),
                            faults,
                            ..Default::default()
                        };
                        simulate(SimKind::Scp(cfg), listen, outputs).await
                    }
                    "h3c_cloudos" => {
                        let dataset = match dataset.as_str() {
                            "fleet" => sim::h3c_cloudos::Dataset::Fleet,
                            "examples" => sim::h3c_cloudos::Dataset::Examples,
                            other => {
                                eprintln!("error: unknown --dataset `{other}`; known: fleet, examples");
                                return ExitCode::from(2);
                            }
                        };
                        let cfg = sim::h3c_cloudos::CloudosSimConfig {
                            seed,
                            dataset,
                            azs: pools,
                            hosts: hosts.unwrap_or(8),
                            servers: vms,
                            token_ttl,
                            rate_limit_per_minute: rate_limit,
                            faults,
                            ..Default::default()
                        };
                        simulate(SimKind::Cloudos(cfg), listen, outputs).await
                    }
                    "cecstack" => {
                        let dataset = match dataset.as_str() {
                            "fleet" => sim::cecstack::Dataset::Fleet,
                            "examples" => sim::cecstack::Dataset::Examples,
                            other => {
                                eprintln!("error: unknown --dataset `{other}`; known: fleet, examples");
                                return ExitCode::from(2);
                            }
                        };
                        let cfg = sim::cecstack::CecSimConfig {
                            seed,
                            dataset,
                            pools,
                            hosts: hosts.unwrap_or(8),
                            instances: vms,
                            token_ttl,
                            faults,
                            ..Default::default()
                        };
                        simulate(SimKind::Cec(cfg), listen, outputs).await
                    }
                    other => {
                        eprintln!("error: unknown platform `{other}`; known: huawei_esm, sangfor_scp, h3c_cloudos, cecstack");
                        ExitCode::from(2)
                    }
                }
            }
        }
    });
    // A read still running on a blocking thread stops at its next check once its poll is
    // dropped (`json::off_runtime`); exit does not wait on it longer than this.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

fn print_problems(path: &Path, problems: &config::Problems) {
    eprintln!("{}: {} problem(s):", path.display(), problems.0.len());
    for p in &problems.0 {
        eprintln!("  error: {p}");
    }
}

fn check_config(path: &Path, web_override: Option<&Path>) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("  warning: {w}");
            }
            let collectors: usize = cfg.targets.iter().map(|t| t.collectors.len()).sum();
            let web_path = web_override.or(cfg.server.web_config_file.as_deref());
            let web = match web_path {
                None => None,
                Some(w) => match server::web_config::load(w) {
                    Ok(web) => Some((w, web)),
                    Err(problems) => {
                        print_problems(w, &problems);
                        return ExitCode::FAILURE;
                    }
                },
            };
            println!(
                "{}: OK ({} target(s), {} collector(s) enabled)",
                path.display(),
                cfg.targets.len(),
                collectors
            );
            if let Some((w, web)) = web {
                println!("{}: OK ({})", w.display(), web.summary());
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            print_problems(path, &problems);
            ExitCode::FAILURE
        }
    }
}

/// `hash-password`: the first line of standard input, hashed with a fresh salt. The password is
/// never echoed or logged.
fn hash_password(cost: u32) -> ExitCode {
    use std::io::BufRead as _;
    if !(4..=server::basic_auth::MAX_COST).contains(&cost) {
        eprintln!(
            "error: --cost {cost}: headroom takes 4 to {}",
            server::basic_auth::MAX_COST
        );
        return ExitCode::from(2);
    }
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        eprintln!("error: cannot read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("error: the password is empty (give it on standard input)");
        return ExitCode::FAILURE;
    }
    if password.len() > 72 {
        eprintln!("error: bcrypt uses only the first 72 bytes of a password; give a shorter one");
        return ExitCode::FAILURE;
    }
    match bcrypt::hash(password, cost) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot hash: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The web configuration a daemon serves with: `--web.config.file`, else
/// `server.web_config_file`, else plain HTTP with no authentication.
fn load_web(cfg: &Config, web_override: Option<&Path>) -> Result<WebConfig, String> {
    match web_override.or(cfg.server.web_config_file.as_deref()) {
        None => Ok(WebConfig::default()),
        Some(path) => server::web_config::load(path)
            .map_err(|p| format!("{}: {}", path.display(), p.to_string().replace('\n', "; "))),
    }
}

async fn once(path: &Path) -> ExitCode {
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(p) => {
            print_problems(path, &p);
            return ExitCode::FAILURE;
        }
    };
    let store = Arc::new(Store::new());
    let metrics = Arc::new(SelfMetrics::new());
    let tasks = match schedule::one_shot_tasks(&cfg, &store, &metrics) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut handles = Vec::new();
    for t in tasks {
        handles.push(tokio::spawn(async move {
            (t.target.clone(), t.collector_name, t.poll_once().await)
        }));
    }
    let mut failed = false;
    for h in handles {
        match h.await {
            // Through the log, so a machine format stays one format.
            Ok((target, collector, Err(e))) => {
                failed = true;
                error!(target_name = %target, collector, reason = %e.reason, error = %e.message, "Collector failed; `once` exits 1.");
            }
            Ok(_) => {}
            Err(e) => {
                failed = true;
                error!(error = %e, "A poll task failed.");
            }
        }
    }
    let body = store.render(None, &metrics, SystemTime::now());
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(&body);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs the daemon until SIGTERM/SIGINT, reloading on SIGHUP.
/// The exit status of `run` on an invalid configuration (sysexits' `EX_CONFIG`): the systemd
/// unit does not restart on it (`RestartPreventExitStatus=78`), since a restart cannot mend it.
pub const EXIT_CONFIG: u8 = 78;

async fn run(
    path: &Path,
    listen_override: Option<SocketAddr>,
    web_override: Option<PathBuf>,
) -> ExitCode {
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(p) => {
            print_problems(path, &p);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = load_web(&cfg, web_override.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let listen = listen_override.unwrap_or(cfg.server.listen);
    let shutdown = CancellationToken::new();
    let daemon = match Daemon::start_with(cfg, listen, web_override, shutdown.clone()).await {
        Ok(d) => d,
        Err(e) => {
            error!(error = %e, "Cannot start.");
            return ExitCode::FAILURE;
        }
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let path = path.to_path_buf();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            error!("Cannot install signal handlers.");
            return ExitCode::FAILURE;
        };
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                    daemon.reload(&path);
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("Shutting down.");
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    daemon.stop().await;
    ExitCode::SUCCESS
}

/// A running exporter: pollers, store and server.
pub struct Daemon {
    pub runtime: Arc<Runtime>,
    pub store: Arc<Store>,
    pub metrics: Arc<SelfMetrics>,
    pub addr: SocketAddr,
    /// `server.listen` as the daemon started with it: a reload cannot move the listener.
    configured_listen: SocketAddr,
    /// The running listener's connection bound (a reload cannot change it).
    max_connections: usize,
    /// What `/sd` lists as this exporter's address (follows `server.external_address`).
    external: Arc<std::sync::RwLock<String>>,
    /// TLS, users and headers the server uses for new connections and requests.
    web: WebState,
    /// `--web.config.file`, which wins over `server.web_config_file` on every reload.
    web_override: Option<PathBuf>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Starts pollers and the server; `listen` may use port 0 (the bound address is in `addr`).
    pub async fn start(
        cfg: Config,
        listen: SocketAddr,
        shutdown: CancellationToken,
    ) -> Result<Daemon, String> {
        Daemon::start_with(cfg, listen, None, shutdown).await
    }

    /// As [`Daemon::start`], with a web configuration file that overrides the configuration's.
    pub async fn start_with(
        cfg: Config,
        listen: SocketAddr,
        web_override: Option<PathBuf>,
        shutdown: CancellationToken,
    ) -> Result<Daemon, String> {
        for w in &cfg.warnings {
            warn!("{w}");
        }
        let configured_listen = cfg.server.listen;
        let max_connections = cfg.server.max_connections;
        let web_config = load_web(&cfg, web_override.as_deref())?;
        info!(web = %web_config.summary(), "Web configuration loaded.");
        let web = WebState::new(web_config);
        let store = Arc::new(match &cfg.server.state_dir {
            Some(dir) => Store::with_state_dir(dir.clone()),
            None => Store::new(),
        });
        let metrics = Arc::new(SelfMetrics::new());
        let runtime = Arc::new(Runtime::new(Arc::clone(&store), Arc::clone(&metrics)));
        runtime.apply(&cfg)?;
        metrics.reload_successful.set(1);
        metrics
            .reload_timestamp
            .set(store::unix_seconds(SystemTime::now()));
        let listener = server::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        info!(address = %addr, targets = cfg.targets.len(), "Serving /metrics.");
        let external = Arc::new(std::sync::RwLock::new(external_address(&cfg, addr)));
        let state = AppState {
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
            external: Arc::clone(&external),
            web: web.clone(),
        };
        let server = tokio::spawn(server::serve(
            listener,
            state,
            shutdown.clone(),
            Duration::from_secs(5),
            cfg.server.max_connections,
        ));
        let sweeper = {
            let store = Arc::clone(&store);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => store.expire(SystemTime::now()),
                    }
                }
            })
        };
        Ok(Daemon {
            runtime,
            store,
            metrics,
            addr,
            configured_listen,
            max_connections,
            external,
            web,
            web_override,
            shutdown,
            server,
            sweeper,
        })
    }

    /// Re-reads the configuration and the web configuration; if either is bad, both running
    /// ones stay and the log says why. The listen address is not changed by a reload; TLS
    /// certificates, client authentication and users are, for new connections.
    pub fn reload(&self, path: &Path) -> bool {
        let result = config::load(path)
            .map_err(|p| p.to_string())
            .and_then(|cfg| {
                let web = load_web(&cfg, self.web_override.as_deref())?;
                for w in &cfg.warnings {
                    warn!("{w}");
                }
                if cfg.server.max_connections != self.max_connections {
                    warn!(running = self.max_connections, configured = cfg.server.max_connections,
                        "server.max_connections changed: a reload keeps the running listener's bound; restart headroom to change it.");
                }
                if cfg.server.listen != self.configured_listen {
                    warn!(running = %self.addr, configured = %cfg.server.listen,
                        "server.listen changed: a reload keeps the running listener; restart headroom to move it.");
                }
                self.runtime.apply(&cfg)?;
                *self.external.write().unwrap_or_else(|e| e.into_inner()) =
                    external_address(&cfg, self.addr);
                info!(web = %web.summary(), "Web configuration loaded.");
                self.web.replace(web);
                Ok(())
            });
        match result {
            Ok(()) => {
                info!(config = %path.display(), "Configuration reloaded.");
                self.metrics.reload_successful.set(1);
                self.metrics
                    .reload_timestamp
                    .set(store::unix_seconds(SystemTime::now()));
                true
            }
            Err(e) => {
                error!(config = %path.display(), error = %e.replace('\n', "; "), "Reload failed; keeping the running configuration.");
                self.metrics.reload_successful.set(0);
                false
            }
        }
    }

    /// Stops pollers and the server.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.runtime.shutdown(Duration::from_secs(5)).await;
        let _ = self.server.await;
        let _ = self.sweeper.await;
    }
}

/// The address `/sd` lists for this exporter: `server.external_address`; else the bound address,
/// with this host's name in place of an unspecified IP (0.0.0.0 or ::), which no Prometheus
/// can scrape. Never the request's `Host` header, which a client chooses.
fn external_address(cfg: &Config, bound: SocketAddr) -> String {
    if let Some(a) = &cfg.server.external_address {
        return a.clone();
    }
    if bound.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        format!("{host}:{}", bound.port())
    } else {
        bound.to_string()
    }
}

/// Serves a simulator's router on `listen`, over HTTPS when `tls` is given; returns its address
/// and server task.
pub async fn serve_simulator(
    router: axum::Router,
    listen: SocketAddr,
    tls: Option<&sim::TlsIdentity>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = sim::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let handle = match tls {
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                error!(error = %e, "Simulator failed.");
            }
        }),
        Some(identity) => {
            let listener = sim::TlsListener::new(listener, identity);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    error!(error = %e, "Simulator failed.");
                }
            })
        }
    };
    Ok((addr, handle))
}

/// Starts the ESM simulator on `listen`, over HTTPS when `tls` is given; returns its address,
/// state and server task.
pub async fn start_esm_simulator(
    cfg: sim::huawei_esm::EsmSimConfig,
    listen: SocketAddr,
    tls: Option<&sim::TlsIdentity>,
) -> Result<
    (
        SocketAddr,
        Arc<sim::huawei_esm::EsmSim>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let simulator = sim::huawei_esm::EsmSim::new(cfg);
    let (addr, handle) = serve_simulator(simulator.router(), listen, tls).await?;
    Ok((addr, simulator, handle))
}

/// Starts the SCP simulator on `listen` over HTTPS (SCP is HTTPS only); returns its address,
/// state and server task.
pub async fn start_scp_simulator(
    cfg: sim::sangfor_scp::ScpSimConfig,
    listen: SocketAddr,
    tls: &sim::TlsIdentity,
) -> Result<
    (
        SocketAddr,
        Arc<sim::sangfor_scp::ScpSim>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let simulator = sim::sangfor_scp::ScpSim::new(cfg);
    let (addr, handle) = serve_simulator(simulator.router(), listen, Some(tls)).await?;
    Ok((addr, simulator, handle))
}

/// Starts the CloudOS simulator on `listen` (HTTP, as the document shows the gateway; HTTPS
/// when `tls` is given); returns its address, state and server task.
pub async fn start_cloudos_simulator(
    cfg: sim::h3c_cloudos::CloudosSimConfig,
    listen: SocketAddr,
    tls: Option<&sim::TlsIdentity>,
) -> Result<
    (
        SocketAddr,
        Arc<sim::h3c_cloudos::CloudosSim>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let simulator = sim::h3c_cloudos::CloudosSim::new(cfg);
    let (addr, handle) = serve_simulator(simulator.router(), listen, tls).await?;
    Ok((addr, simulator, handle))
}

/// Starts the CECSTACK simulator on `listen` (HTTPS when `tls` is given); returns its address,
/// state and server task.
pub async fn start_cecstack_simulator(
    cfg: sim::cecstack::CecSimConfig,
    listen: SocketAddr,
    tls: Option<&sim::TlsIdentity>,
) -> Result<
    (
        SocketAddr,
        Arc<sim::cecstack::CecSim>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let simulator = sim::cecstack::CecSim::new(cfg);
    let (addr, handle) = serve_simulator(simulator.router(), listen, tls).await?;
    Ok((addr, simulator, handle))
}

/// The simulator `headroom simulate` runs.
enum SimKind {
    Esm(sim::huawei_esm::EsmSimConfig),
    Scp(sim::sangfor_scp::ScpSimConfig),
    Cloudos(sim::h3c_cloudos::CloudosSimConfig),
    Cec(sim::cecstack::CecSimConfig),
}

impl SimKind {
    fn platform(&self) -> &'static str {
        match self {
            SimKind::Esm(_) => "huawei_esm",
            SimKind::Scp(_) => "sangfor_scp",
            SimKind::Cloudos(_) => "h3c_cloudos",
            SimKind::Cec(_) => "cecstack",
        }
    }
}

/// Files `headroom simulate` writes once it listens.
struct SimOutputs {
    tls_ca_out: Option<PathBuf>,
    target_out: Option<PathBuf>,
}

async fn simulate(kind: SimKind, listen: SocketAddr, outputs: SimOutputs) -> ExitCode {
    let SimOutputs {
        tls_ca_out,
        target_out,
    } = outputs;
    let platform = kind.platform();
    if target_out.is_some() && tls_ca_out.is_some() && platform != "sangfor_scp" {
        eprintln!("error: --target-out writes a plain-HTTP target; leave out --tls-ca-out");
        return ExitCode::from(2);
    }
    let needs_tls = tls_ca_out.is_some() || matches!(kind, SimKind::Scp(_));
    let tls = if needs_tls {
        match sim::TlsIdentity::generate().and_then(|id| {
            if let Some(path) = &tls_ca_out {
                std::fs::write(path, &id.ca_pem)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Ok(id)
        }) {
            Ok(id) => Some(id),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let started = match (kind, &tls) {
        (SimKind::Esm(cfg), _) => {
            let user = cfg.username.clone();
            start_esm_simulator(cfg, listen, tls.as_ref()).await.map(|(addr, _sim, handle)| {
                println!("huawei_esm simulator on {scheme}://{addr}");
                println!("  token URL: {scheme}://{addr}/v3/auth/tokens (user {user}, see --help for the defaults)");
                (addr, handle)
            })
        }
        (SimKind::Scp(cfg), Some(identity)) => {
            let (ak, user) = (cfg.access_key.clone(), cfg.username.clone());
            start_scp_simulator(cfg, listen, identity).await.map(|(addr, _sim, handle)| {
                println!("sangfor_scp simulator on https://{addr}");
                println!("  AK/SK: access key {ak} (secret: see ScpSimConfig); password login: user {user}");
                (addr, handle)
            })
        }
        (SimKind::Scp(_), None) => Err("the SCP simulator needs TLS".to_string()),
        (SimKind::Cec(cfg), _) => {
            let (token, region) = (cfg.static_token.clone(), cfg.region_id.clone());
            start_cecstack_simulator(cfg, listen, tls.as_ref()).await.map(|(addr, _sim, handle)| {
                println!("cecstack simulator on {scheme}://{addr}");
                println!("  auth: headers {{Authorization: \"Bearer {token}\"}} (or a token from {scheme}://{addr}/v3/auth/tokens); region_id: {region}");
                (addr, handle)
            })
        }
        (SimKind::Cloudos(cfg), _) => {
            let (user, project_id) = (cfg.username.clone(), cfg.project_id.clone());
            start_cloudos_simulator(cfg, listen, tls.as_ref()).await.map(|(addr, _sim, handle)| {
                println!("h3c_cloudos simulator on {scheme}://{addr}");
                println!("  token URL: {scheme}://{addr}{} (user {user}); auth.project_id: {project_id}", crate::platforms::h3c_cloudos::DEFAULT_TOKEN_PATH);
                (addr, handle)
            })
        }
    };
    match started {
        Ok((addr, handle)) => {
            println!("  stats:     {scheme}://{addr}/sim/stats");
            if let Some(path) = &target_out {
                let target = match platform {
                    "huawei_esm" => esm_demo_target(addr),
                    "h3c_cloudos" => cloudos_demo_target(addr),
                    "cecstack" => cecstack_demo_target(addr),
                    _ => match &tls_ca_out {
                        Some(ca) => scp_demo_target(addr, ca),
                        None => {
                            eprintln!("error: --target-out for SCP needs --tls-ca-out (the target pins the CA)");
                            return ExitCode::from(2);
                        }
                    },
                };
                if let Err(e) = std::fs::write(path, target) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            match &tls_ca_out {
                Some(path) => println!("  CA file:   {}", path.display()),
                None if tls.is_some() => {
                    println!("  (certificate not verifiable: give --tls-ca-out FILE to pin it)")
                }
                None => {}
            }
            tokio::select! { _ = handle => {}, _ = tokio::signal::ctrl_c() => {} };
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's ESM target: every collector of the simulated site, including the optional ones.
pub fn esm_demo_target(esm: SocketAddr) -> String {
    format!(
        r#"  - name: esm-demo
    platform: huawei_esm
    endpoint: http://{esm}
    auth:
      token_url: http://{esm}/v3/auth/tokens
      username: capacity-reader
      password: demo-password
      domain: demo-domain
      project: demo-project
      apig_appcode: demo-appcode
    collectors:
      elb_capacity: {{enabled: true}}
      host_details: {{enabled: true}}
"#
    )
}

/// The demo's CloudOS target: the Keystone token at the default path, the admin project.
pub fn cloudos_demo_target(cloudos: SocketAddr) -> String {
    let d = sim::h3c_cloudos::CloudosSimConfig::default();
    format!(
        r#"  - name: cloudos-demo
    platform: h3c_cloudos
    endpoint: http://{cloudos}
    auth:
      username: {}
      password: {}
      project_id: {}
    # The simulator has no limit; the default 60/min would not fit every collector in 30 s.
    budgets: {{api: 600}}
    # The simulated Nova allocates 4 vCPUs per thread (its API does not expose the ratio).
    cloudos: {{cpu_allocation_ratio: 4.0}}
"#,
        d.username, d.password, d.project_id
    )
}

/// The demo's CECSTACK target: the gateway token as a static header (the ECS document defers
/// authentication to another document), one base URL for both host kinds.
pub fn cecstack_demo_target(cec: SocketAddr) -> String {
    let d = sim::cecstack::CecSimConfig::default();
    format!(
        r#"  - name: cec-demo
    platform: cecstack
    endpoint: http://{cec}
    region_id: {}
    auth:
      headers: {{Authorization: "Bearer {}"}}
"#,
        d.region_id, d.static_token
    )
}

/// The demo's SCP target: AK/SK signatures (the vendor's recommendation), the simulator's
/// certificate pinned through `ca_file` (what the README recommends over turning checks off),
/// and the OpenStack API's tenant login, so the flavor catalogue is counted too.
pub fn scp_demo_target(scp: SocketAddr, ca_file: &Path) -> String {
    let d = sim::sangfor_scp::ScpSimConfig::default();
    format!(
        r#"  - name: scp-demo
    platform: sangfor_scp
    endpoint: https://{scp}
    auth:
      access_key: {}
      secret_key: {}
    tls:
      ca_file: {}
    scp:
      openstack: {{tenant: {}, username: {}, password: {}}}
"#,
        d.access_key,
        d.secret_key,
        ca_file.display(),
        d.openstack_tenant.0,
        d.openstack_tenant.1,
        d.openstack_tenant.2,
    )
}

/// The configuration the demo runs: the given targets (YAML list items) at a short interval.
pub fn demo_config(targets: &[String], listen: SocketAddr, interval: Duration) -> String {
    let i = humantime::format_duration(interval);
    format!(
        "server:\n  listen: \"{listen}\"\ndefaults:\n  interval: {i}\n{DEMO_INSTANCE_SIZES}targets:\n{}",
        targets.concat()
    )
}

/// The instance sizes the demo counts free slots of: one bound by vCPU, one by memory, one by
/// GPUs of a model (the end-to-end test counts the same ones from the simulators' hosts).
pub const DEMO_INSTANCE_SIZES: &str = "instance_sizes:
  - {name: web.large, vcpus: 4, memory_gib: 8, disk_gib: 50, alert_below: 5}
  - {name: mem.heavy, vcpus: 2, memory_gib: 96}
  - {name: gpu.t4, vcpus: 8, memory_gib: 32, gpus: 1, gpu_model: Tesla T4}
";

async fn demo(
    listen: SocketAddr,
    interval: Duration,
    growth_per_hour: f64,
    web_config: Option<PathBuf>,
) -> ExitCode {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap_or(listen);
    let (esm, _esm_sim, _esm_task) =
        // The demo's ESM pools fill slowly (0.1 % of their total per hour, about 20 days from
        // half full to full), so the exhaustion forecasts have a trend to show.
        match start_esm_simulator(
            sim::huawei_esm::EsmSimConfig {
                growth_per_hour,
                ..Default::default()
            },
            loopback,
            None,
        )
        .await
        {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    // SCP is HTTPS only: the simulator's CA goes to a file the demo target pins.
    let ca_file =
        std::env::temp_dir().join(format!("headroom-demo-{}-scp-ca.pem", std::process::id()));
    let scp = match sim::TlsIdentity::generate().and_then(|id| {
        std::fs::write(&ca_file, &id.ca_pem)
            .map_err(|e| format!("cannot write {}: {e}", ca_file.display()))?;
        Ok(id)
    }) {
        Ok(identity) => start_scp_simulator(Default::default(), loopback, &identity).await,
        Err(e) => Err(e),
    };
    let (scp, _scp_sim, _scp_task) = match scp {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (cloudos, _cloudos_sim, _cloudos_task) =
        match start_cloudos_simulator(Default::default(), loopback, None).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    let (cec, _cec_sim, _cec_task) =
        match start_cecstack_simulator(Default::default(), loopback, None).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    let text = demo_config(
        &[
            esm_demo_target(esm),
            scp_demo_target(scp, &ca_file),
            cloudos_demo_target(cloudos),
            cecstack_demo_target(cec),
        ],
        listen,
        interval,
    );
    let cfg = match config::parse(&text, &|_| None) {
        Ok(c) => c,
        Err(p) => {
            eprintln!("error: the demo configuration is invalid:\n{p}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let daemon = match Daemon::start_with(cfg, listen, web_config, shutdown).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("headroom demo");
    println!("  Huawei ESM simulator:  http://{esm}   (stats: http://{esm}/sim/stats)");
    println!(
        "  Sangfor SCP simulator: https://{scp}  (stats: https://{scp}/sim/stats, CA: {})",
        ca_file.display()
    );
    println!("  H3C CloudOS simulator: http://{cloudos}   (stats: http://{cloudos}/sim/stats)");
    println!("  CECSTACK simulator:    http://{cec}   (stats: http://{cec}/sim/stats)");
    let scheme = if daemon.web.current().tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "  metrics:               {scheme}://{}/metrics",
        daemon.addr
    );
    println!("  status page:           {scheme}://{}/", daemon.addr);
    println!(
        "  one target:            {scheme}://{}/probe?target=scp-demo",
        daemon.addr
    );
    println!(
        "Collectors poll every {}; press Ctrl-C to stop.",
        humantime::format_duration(interval)
    );
    println!(
        "To see alerts fire (rules/), fill one ESM pool to 95 % and release it:\n  \
         curl -X POST http://{esm}/sim/pressure -H 'content-type: application/json' \
         -d '{{\"region\": \"cn-sim-1\", \"pool\": \"KVM_POD\", \"allocated_ratio\": 0.95}}'\n  \
         curl -X DELETE http://{esm}/sim/pressure"
    );
    let _ = tokio::signal::ctrl_c().await;
    daemon.stop().await;
    let _ = std::fs::remove_file(&ca_file);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
