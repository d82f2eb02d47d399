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
use crate::server::{self, AppState};
use crate::sim;
use crate::store::{self, Store};
use crate::telemetry::SelfMetrics;

#[derive(Parser, Debug)]
#[command(
    name = "headroom",
    version,
    about = "Capacity telemetry exporter for private clouds (Huawei ESM, ...)"
)]
pub struct Cli {
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, default_value = "info", env = "HEADROOM_LOG")]
    pub log_level: String,
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
        /// Overrides server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Poll every enabled collector once and print the exposition; exit 1 if any failed.
    Once {
        #[arg(long, env = "HEADROOM_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file; print every problem with its field path; exit 1 if any.
    CheckConfig {
        #[arg(long, env = "HEADROOM_CONFIG")]
        config: PathBuf,
    },
    /// Run the platform simulators on loopback and the exporter on 127.0.0.1:9740.
    Demo {
        #[arg(long, default_value = "127.0.0.1:9740")]
        listen: SocketAddr,
        /// Poll interval of every collector.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        interval: Duration,
    },
    /// Run one platform simulator.
    Simulate {
        /// Platform to simulate: huawei_esm.
        #[arg(long)]
        platform: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Seed of the synthetic site.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Hosts in the synthetic site.
        #[arg(long, default_value_t = 24)]
        hosts: usize,
        /// Lifetime of issued tokens.
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        token_ttl: Duration,
        /// Tier-2 limit, calls per minute.
        #[arg(long, default_value_t = 60)]
        rate_limit: usize,
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
        /// Serve HTTPS with a certificate made at start; its CA is written to this file (for a
        /// target's `tls.ca_file`).
        #[arg(long)]
        tls_ca_out: Option<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

fn init_logging(level: &str) {
    let level = level
        .parse::<tracing::Level>()
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        // Colour only on a terminal: the journal and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
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
            },
            None => {
                eprintln!("error: give --config FILE (or a subcommand; see --help)");
                return ExitCode::from(2);
            }
        },
    };
    runtime.block_on(async move {
        match command {
            Command::Run { config, listen } => run(&config, listen).await,
            Command::Once { config } => once(&config).await,
            Command::CheckConfig { config } => check_config(&config),
            Command::Demo { listen, interval } => demo(listen, interval).await,
            Command::Simulate {
                platform,
                listen,
                seed,
                hosts,
                token_ttl,
                rate_limit,
                latency_ms,
                error_rate,
                throttle_rate,
                malformed_rate,
                truncate_rate,
                tls_ca_out,
            } => {
                if platform != "huawei_esm" {
                    eprintln!("error: unknown platform `{platform}`; known: huawei_esm");
                    return ExitCode::from(2);
                }
                let cfg = sim::huawei_esm::EsmSimConfig {
                    seed,
                    hosts,
                    token_ttl,
                    capacity_limit_per_minute: rate_limit,
                    faults: sim::Faults {
                        latency_ms,
                        error_rate,
                        throttle_rate,
                        malformed_rate,
                        truncate_rate,
                    },
                    ..Default::default()
                };
                simulate(cfg, listen, tls_ca_out).await
            }
        }
    })
}

fn print_problems(path: &Path, problems: &config::Problems) {
    eprintln!("{}: {} problem(s):", path.display(), problems.0.len());
    for p in &problems.0 {
        eprintln!("  error: {p}");
    }
}

fn check_config(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("  warning: {w}");
            }
            let collectors: usize = cfg.targets.iter().map(|t| t.collectors.len()).sum();
            println!(
                "{}: OK ({} target(s), {} collector(s) enabled)",
                path.display(),
                cfg.targets.len(),
                collectors
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            print_problems(path, &problems);
            ExitCode::FAILURE
        }
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
            Ok((target, collector, Err(e))) => {
                failed = true;
                eprintln!("error: {target}/{collector}: {e}");
            }
            Ok(_) => {}
            Err(e) => {
                failed = true;
                eprintln!("error: a poll task failed: {e}");
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
async fn run(path: &Path, listen_override: Option<SocketAddr>) -> ExitCode {
    let cfg = match config::load(path) {
        Ok(c) => c,
        Err(p) => {
            print_problems(path, &p);
            return ExitCode::FAILURE;
        }
    };
    let listen = listen_override.unwrap_or(cfg.server.listen);
    let shutdown = CancellationToken::new();
    let daemon = match Daemon::start(cfg, listen, shutdown.clone()).await {
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
        for w in &cfg.warnings {
            warn!("{w}");
        }
        let store = Arc::new(Store::new());
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
        let state = AppState {
            store: Arc::clone(&store),
            metrics: Arc::clone(&metrics),
        };
        let server = tokio::spawn(server::serve(
            listener,
            state,
            shutdown.clone(),
            Duration::from_secs(5),
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
            shutdown,
            server,
            sweeper,
        })
    }

    /// Re-reads the configuration; a bad one keeps the running configuration and says why.
    /// The listen address is not changed by a reload.
    pub fn reload(&self, path: &Path) -> bool {
        let result = config::load(path)
            .map_err(|p| p.to_string())
            .and_then(|cfg| {
                for w in &cfg.warnings {
                    warn!("{w}");
                }
                self.runtime.apply(&cfg)
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
    let listener = sim::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let router = simulator.router();
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
    Ok((addr, simulator, handle))
}

async fn simulate(
    cfg: sim::huawei_esm::EsmSimConfig,
    listen: SocketAddr,
    tls_ca_out: Option<PathBuf>,
) -> ExitCode {
    let user = cfg.username.clone();
    let tls = match &tls_ca_out {
        None => None,
        Some(path) => match sim::TlsIdentity::generate().and_then(|id| {
            std::fs::write(path, &id.ca_pem)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }) {
            Ok(id) => Some(id),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    match start_esm_simulator(cfg, listen, tls.as_ref()).await {
        Ok((addr, _sim, handle)) => {
            println!("huawei_esm simulator on {scheme}://{addr}");
            println!("  token URL: {scheme}://{addr}/v3/auth/tokens (user {user}, see --help for the defaults)");
            println!("  stats:     {scheme}://{addr}/sim/stats");
            if let Some(path) = &tls_ca_out {
                println!("  CA file:   {}", path.display());
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

/// The configuration the demo runs: every collector of the simulated ESM site, including the
/// optional ones (the simulator serves them), at a short interval.
pub fn demo_config(esm: SocketAddr, listen: SocketAddr, interval: Duration) -> String {
    let i = humantime::format_duration(interval);
    format!(
        r#"server:
  listen: "{listen}"
defaults:
  interval: {i}
targets:
  - name: esm-demo
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

async fn demo(listen: SocketAddr, interval: Duration) -> ExitCode {
    let (esm, _sim, _handle) = match start_esm_simulator(
        Default::default(),
        "127.0.0.1:0".parse().unwrap_or(listen),
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
    let text = demo_config(esm, listen, interval);
    let cfg = match config::parse(&text, &|_| None) {
        Ok(c) => c,
        Err(p) => {
            eprintln!("error: the demo configuration is invalid:\n{p}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    let daemon = match Daemon::start(cfg, listen, shutdown).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("headroom demo");
    println!("  Huawei ESM simulator:  http://{esm}   (stats: http://{esm}/sim/stats)");
    println!("  metrics:               http://{}/metrics", daemon.addr);
    println!("  status page:           http://{}/", daemon.addr);
    println!(
        "  one target:            http://{}/probe?target=esm-demo",
        daemon.addr
    );
    println!(
        "Collectors poll every {}; press Ctrl-C to stop.",
        humantime::format_duration(interval)
    );
    let _ = tokio::signal::ctrl_c().await;
    daemon.stop().await;
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
